//! Collector backup and restore, end to end (issue 7): an encrypted backup taken while the server
//! runs, restored into a fresh data directory, served from there, and the enrolled agent delivering
//! to it without enrolling again; a wrong passphrase, a tampered file and a store format newer than
//! the binary are refused.

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use vigie_collector::backup::{archive, crypt, store_format};

use crate::harness::{bin, run, wait_for, Agent, Collector};

const PASSPHRASE: &str = "correct horse battery staple";

fn passphrase_file(dir: &Path) -> PathBuf {
    let p = dir.join("passphrase");
    std::fs::write(&p, format!("{PASSPHRASE}\n")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    p
}

fn collector_cmd(args: &[&str]) -> Command {
    let mut cmd = Command::new(bin("vigie-collector"));
    cmd.args(args);
    cmd
}

fn backup(data: &Path, out: &Path, pass: &Path) -> std::process::Output {
    run(collector_cmd(&["backup", "--data-dir"])
        .arg(data)
        .arg("--out")
        .arg(out)
        .arg("--passphrase-file")
        .arg(pass))
}

fn restore(input: &Path, data: &Path, pass: &Path) -> std::process::Output {
    run(collector_cmd(&["restore", "--in"])
        .arg(input)
        .arg("--data-dir")
        .arg(data)
        .arg("--passphrase-file")
        .arg(pass))
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A harness collector for an existing data directory.
fn collector_at(dir: PathBuf) -> Collector {
    Collector {
        dir,
        child: None,
        ingest: String::new(),
        enroll: String::new(),
        https: String::new(),
        log: Default::default(),
    }
}

#[test]
fn backup_restored_elsewhere_and_the_agent_reports_without_enrolling_again() {
    let tmp = tempfile::tempdir().unwrap();
    let pass = passphrase_file(tmp.path());
    let mut c = Collector::start(tmp.path());
    c.admin_ok(&["org", "add", "mairie", "--name", "Mairie de Test"]);
    let mut a = Agent::new(tmp.path(), "agent", 3600, 1);
    a.enroll(&c, &c.token("mairie", "1h"));
    let host = a.host_id();
    let key_before = std::fs::read(a.state.join("agent.key")).unwrap();
    let cert_before = std::fs::read(a.state.join("agent.crt.der")).unwrap();
    a.start();
    wait_for("reports", Duration::from_secs(30), || {
        (c.stored_reports() >= 2).then_some(())
    });
    let fingerprint = c.fingerprint();

    // Online: the running server exports its store.
    let file = tmp.path().join("collector.vgb");
    let out = backup(&c.dir, &file, &pass);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("exported by the running server"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // Nothing readable without the passphrase: no key, no host id, no organisation name.
    let raw = std::fs::read(&file).unwrap();
    for needle in ["PRIVATE KEY", host.as_str(), "Mairie de Test", "mairie"] {
        assert!(
            !raw.windows(needle.len()).any(|w| w == needle.as_bytes()),
            "{needle} in clear in the backup"
        );
    }
    // The temporary export does not stay in the data directory, and the audit trail records it.
    assert!(!std::fs::read_dir(&c.dir).unwrap().flatten().any(|e| e
        .file_name()
        .to_string_lossy()
        .starts_with("backup-export-")));
    // A backup is never overwritten.
    assert!(!backup(&c.dir, &file, &pass).status.success());

    a.stop();
    c.stop();
    let stored_at_backup = {
        let mut old = collector_at(c.dir.clone());
        // Offline count of what the old store holds now (at least what the backup holds).
        let n = old.stored_reports();
        old.child = None;
        n
    };
    assert!(stored_at_backup >= 2);

    // A wrong passphrase restores nothing.
    let restored = tmp.path().join("restored");
    let wrong = tmp.path().join("wrong");
    std::fs::write(&wrong, "not the passphrase at all\n").unwrap();
    std::fs::set_permissions(&wrong, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = restore(&file, &restored, &wrong);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("wrong passphrase"),
        "{}",
        stderr(&out)
    );
    assert!(!restored.exists());

    // "Another machine": a fresh directory, served from there.
    let out = restore(&file, &restored, &pass);
    assert!(out.status.success(), "{}", stderr(&out));
    for key in ["ca.key", "server.key", "snapshot.key", "https.key"] {
        assert_eq!(
            std::fs::metadata(restored.join(key))
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o600,
            "{key}"
        );
    }
    assert_eq!(
        store_format::read(&restored).unwrap(),
        Some(store_format::STORE_FORMAT)
    );
    // Restoring twice into the same place is refused.
    assert!(!restore(&file, &restored, &pass).status.success());

    let mut r = collector_at(restored);
    r.serve(&[]);
    assert_eq!(r.fingerprint(), fingerprint, "same CA");
    let hosts = r.admin_ok(&["host", "list"]);
    assert!(hosts.contains(&host), "{hosts}");
    let before = r.stored_reports();
    assert!(
        before >= 2,
        "the restored store holds the reports: {before}"
    );

    // The agent, unchanged but for the collector's new port, delivers to the restored collector.
    a.set_collector(&r.ingest_url());
    a.start();
    wait_for(
        "a report at the restored collector",
        Duration::from_secs(30),
        || (r.stored_reports() > before).then_some(()),
    );
    a.stop();
    assert_eq!(
        std::fs::read(a.state.join("agent.key")).unwrap(),
        key_before
    );
    assert_eq!(
        std::fs::read(a.state.join("agent.crt.der")).unwrap(),
        cert_before,
        "no new enrollment, no new certificate"
    );
    assert_eq!(a.host_id(), host);
}

/// Decrypts a backup, lets `edit` change its manifest, and encrypts it again.
fn rewrite_manifest(file: &Path, out: &Path, edit: impl FnOnce(&mut archive::Manifest)) {
    let mut r =
        crypt::DecryptReader::new(std::fs::File::open(file).unwrap(), PASSPHRASE.as_bytes())
            .unwrap();
    let mut manifest = archive::read_manifest(&mut r).unwrap();
    let mut rest = Vec::new();
    r.read_to_end(&mut rest).unwrap();
    edit(&mut manifest);
    let mut w =
        crypt::EncryptWriter::new(std::fs::File::create(out).unwrap(), PASSPHRASE.as_bytes())
            .unwrap();
    archive::write_manifest(&mut w, &manifest).unwrap();
    w.write_all(&rest).unwrap();
    w.finish().unwrap();
}

#[test]
fn newer_store_formats_and_tampered_backups_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let pass = passphrase_file(tmp.path());
    let mut c = Collector::start(tmp.path());
    c.admin_ok(&["org", "add", "mairie", "--name", "Mairie"]);
    c.stop();
    assert_eq!(
        store_format::read(&c.dir).unwrap(),
        Some(store_format::STORE_FORMAT),
        "serve stamps the store"
    );

    // Offline backup: no server, the store is opened directly.
    let file = tmp.path().join("offline.vgb");
    let out = backup(&c.dir, &file, &pass);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains("running server"));

    // A short passphrase is refused for a new backup.
    let short = tmp.path().join("short");
    std::fs::write(&short, "tooshort\n").unwrap();
    std::fs::set_permissions(&short, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = backup(&c.dir, &tmp.path().join("x.vgb"), &short);
    assert!(
        stderr(&out).contains("at least 12 characters"),
        "{}",
        stderr(&out)
    );
    // A passphrase file others can read is refused.
    std::fs::set_permissions(&pass, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = backup(&c.dir, &tmp.path().join("y.vgb"), &pass);
    assert!(stderr(&out).contains("chmod 600"), "{}", stderr(&out));
    std::fs::set_permissions(&pass, std::fs::Permissions::from_mode(0o600)).unwrap();

    // One flipped byte anywhere: refused, nothing left behind.
    let mut bytes = std::fs::read(&file).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    let tampered = tmp.path().join("tampered.vgb");
    std::fs::write(&tampered, &bytes).unwrap();
    let target = tmp.path().join("t");
    let out = restore(&tampered, &target, &pass);
    assert!(!out.status.success());
    assert!(!target.exists(), "nothing half-restored");

    // A backup of a newer store format is refused by this (older) binary.
    let newer = tmp.path().join("newer.vgb");
    rewrite_manifest(&file, &newer, |m| {
        m.store_format = store_format::STORE_FORMAT + 1
    });
    let out = restore(&newer, &target, &pass);
    assert!(
        stderr(&out).contains("refusing to downgrade"),
        "{}",
        stderr(&out)
    );
    assert!(!target.exists());

    // A data directory stamped by a newer collector: serve and the admin commands refuse it, and
    // leave the stamp alone.
    store_format::write(&c.dir, store_format::STORE_FORMAT + 1).unwrap();
    let out = run(collector_cmd(&["serve", "--data-dir"]).arg(&c.dir));
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("refusing to downgrade"),
        "{}",
        stderr(&out)
    );
    let out = c.admin(&["org", "list"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("refusing to downgrade"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        store_format::read(&c.dir).unwrap(),
        Some(store_format::STORE_FORMAT + 1)
    );
    // doctor names it too.
    let out = run(collector_cmd(&["doctor", "--data-dir"]).arg(&c.dir));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("newer than this binary reads"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // The untampered offline backup restores and serves.
    let out = restore(&file, &target, &pass);
    assert!(out.status.success(), "{}", stderr(&out));
    let mut r = collector_at(target);
    r.serve(&[]);
    assert!(r.admin_ok(&["org", "list"]).contains("mairie"));
}
