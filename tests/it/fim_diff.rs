//! File-integrity content diffs end to end: a real agent watching a host tree made by the test, with
//! `diff_paths` allowlisting two files, and a real collector. A change of an allowlisted file reaches
//! `host fim-events` as a unified diff with the password value masked; a change of a file outside
//! the allowlist carries no diff; a change of the password alone says so without showing it; and no
//! secret value is found anywhere in the agent's state or the collector's data directory. A glob
//! covering /etc/shadow is refused by the configuration check.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::harness::{bin, run, wait_for, Agent, Collector};

const PHASE: Duration = Duration::from_secs(120);

/// Every file under `dir` whose bytes contain `needle`.
fn files_containing(dir: &Path, needle: &[u8]) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if fs::read(&p).is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle)) {
                found.push(p.display().to_string());
            }
        }
    }
    found
}

/// The block of `host fim-events` output for the newest event of `path` (its line and the
/// indented lines after it).
fn block<'a>(out: &'a str, path: &str) -> Option<Vec<&'a str>> {
    let lines: Vec<&str> = out.lines().collect();
    let start = lines
        .iter()
        .rposition(|l| !l.starts_with("    ") && l.split(' ').nth(2) == Some(path))?;
    let mut b = vec![lines[start]];
    b.extend(
        lines[start + 1..]
            .iter()
            .take_while(|l| l.starts_with("    ")),
    );
    Some(b)
}

#[test]
fn allowlisted_files_come_with_a_masked_diff_and_others_without() {
    let tmp = tempfile::tempdir().unwrap();
    let host = tmp.path().join("host");
    for d in ["etc/ssh", "var/lib/dpkg/info", "var/lib/dpkg/updates"] {
        fs::create_dir_all(host.join(d)).unwrap();
    }
    fs::write(
        host.join("etc/ssh/sshd_config"),
        "PermitRootLogin no\nPasswordAuthentication no\n",
    )
    .unwrap();
    fs::write(
        host.join("etc/nslcd.conf"),
        "uri ldaps://ldap.mairie.local/\nbindpw Old-S3cret-Bind\n",
    )
    .unwrap();
    fs::write(host.join("etc/motd"), "Bienvenue\n").unwrap();
    fs::write(host.join("var/lib/dpkg/status"), "").unwrap();
    let mut c = Collector::start(tmp.path());
    c.admin_ok(&["org", "add", "mairie", "--name", "Mairie"]);
    let mut a = Agent::new(tmp.path(), "a", 2, 2);
    let config = |diff_paths: &str| {
        format!(
            "interval_secs = 2\nheartbeat_secs = 2\nmax_backoff_secs = 1\nrole = \"server\"\n\
             [probes.patches]\nenabled = false\n[probes.backups]\nenabled = false\n\
             [probes.fim]\nroot = \"{}\"\ndebounce_ms = 50\ndiff_paths = {diff_paths}\n\
             [[probes.fim.paths]]\npath = \"/etc\"\n",
            host.display()
        )
    };
    // A glob that covers /etc/shadow is refused, naming the key.
    fs::write(&a.config, config(r#"["/etc/*"]"#)).unwrap();
    let out = run(Command::new(bin("vigie-agent"))
        .arg("--config")
        .arg(&a.config)
        .args(["check", "--state-dir"])
        .arg(tmp.path().join("unused")));
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        said.contains("probes.fim.diff_paths") && said.contains("/etc/shadow"),
        "{said}"
    );

    fs::write(
        &a.config,
        config(r#"["/etc/ssh/sshd_config", "/etc/nslcd.*"]"#),
    )
    .unwrap();
    a.enroll(&c, &c.token("mairie", "1h"));
    let host_id = a.host_id();
    let log = a.state.with_extension("log");
    a.start_logged(&log);
    let events = || c.admin_ok(&["host", "fim-events", &host_id]);
    // The first baseline is complete once FIM-001 passes (the copies are made right after it).
    wait_for("the first baseline", PHASE, || {
        c.findings(Some("mairie"))
            .into_iter()
            .any(|f| f["check_id"] == "FIM-001" && f["outcome"] == "pass")
            .then_some(())
    });

    fs::write(
        host.join("etc/ssh/sshd_config"),
        "PermitRootLogin yes\nPasswordAuthentication no\n",
    )
    .unwrap();
    fs::write(
        host.join("etc/nslcd.conf"),
        "uri ldaps://ldap.mairie.local/\nbase dc=mairie,dc=local\nbindpw New-S3cret-Bind\n",
    )
    .unwrap();
    fs::write(host.join("etc/motd"), "Bienvenue à la mairie\n").unwrap();
    let out = wait_for("the three events at the collector", PHASE, || {
        let out = events();
        ["/etc/ssh/sshd_config", "/etc/nslcd.conf", "/etc/motd"]
            .iter()
            .all(|p| block(&out, p).is_some())
            .then_some(out)
    });
    eprintln!("host fim-events:\n{out}");
    let sshd = block(&out, "/etc/ssh/sshd_config").unwrap();
    assert!(sshd[0].contains(" modified "), "{out}");
    assert!(sshd.contains(&"    | -PermitRootLogin no"), "{out}");
    assert!(sshd.contains(&"    | +PermitRootLogin yes"), "{out}");
    assert!(sshd.contains(&"    |  PasswordAuthentication no"), "{out}");
    let nslcd = block(&out, "/etc/nslcd.conf").unwrap();
    assert!(nslcd.contains(&"    | +base dc=mairie,dc=local"), "{out}");
    assert!(nslcd.contains(&"    |  bindpw «masqué»"), "{out}");
    let motd = block(&out, "/etc/motd").unwrap();
    assert_eq!(
        motd.len(),
        1,
        "no diff for a file outside the allowlist: {out}"
    );
    assert!(!out.contains("S3cret"), "{out}");

    // The password alone changes: the event says only masked values moved, and shows nothing.
    fs::write(
        host.join("etc/nslcd.conf"),
        "uri ldaps://ldap.mairie.local/\nbase dc=mairie,dc=local\nbindpw Third-S3cret-Bind\n",
    )
    .unwrap();
    let out = wait_for("the password-only change", PHASE, || {
        let out = events();
        block(&out, "/etc/nslcd.conf")
            .is_some_and(|b| b.contains(&"    (no diff: masked-only)"))
            .then_some(out)
    });
    assert!(!out.contains("S3cret"), "{out}");

    a.stop();
    c.stop();
    for secret in ["Old-S3cret-Bind", "New-S3cret-Bind", "Third-S3cret-Bind"] {
        for dir in [&a.state, &tmp.path().join("collector")] {
            let found = files_containing(dir, secret.as_bytes());
            assert!(found.is_empty(), "{secret} stored in {found:?}");
        }
    }
    assert!(
        !files_containing(&a.state, "«masqué»".as_bytes()).is_empty(),
        "the agent keeps its redacted copies in its store"
    );
}
