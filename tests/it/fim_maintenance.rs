//! Maintenance windows end to end: a real agent watching a host tree made by the test, a real
//! collector. An admin declares a window for the organisation; a file changed inside it is still a
//! FIM-002 failure, graded low and named with the window (id, reason, owner); a change after the
//! window ended is a plain failure at the check's severity. The acts are in the audit trail, whose
//! chain verifies, and a snapshot carries the window its finding names.

use crate::fim_host;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use vigie_collector::snapshot::document::time_text;

use crate::harness::{bin, run, Agent, Collector};

/// Long enough for a first baseline, a probe cycle and a derivation on a loaded 2-core machine.
const PHASE: Duration = Duration::from_secs(120);
/// How long the declared window lasts from the moment it is added: room for the agent to see the
/// change on a loaded machine, short enough to wait for its end.
const WINDOW: Duration = Duration::from_secs(40);

fn now_ms() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

/// `vigie-collector ARGS[0] ARGS[1] --data-dir D ARGS[2..]` (two-word subcommands).
fn collector(c: &Collector, args: &[&str]) -> Output {
    run(Command::new(bin("vigie-collector"))
        .args(&args[..2])
        .arg("--data-dir")
        .arg(c.dir.as_path())
        .args(&args[2..]))
}

#[track_caller]
fn collector_ok(c: &Collector, args: &[&str]) -> String {
    let out = collector(c, args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[track_caller]
fn collector_err(c: &Collector, args: &[&str]) -> String {
    let out = collector(c, args);
    assert!(!out.status.success(), "{args:?} succeeded");
    String::from_utf8(out.stderr).unwrap()
}

/// A host tree with /etc, /usr/bin, /usr/sbin and /boot, a collector with organisation `mairie`,
/// and an enrolled agent watching the tree every 2 s (patches and backups off).
fn setup(tmp: &Path) -> (PathBuf, Collector, Agent) {
    let host = fim_host::host_tree(tmp, b"#!/bin/sh\n");
    fs::write(host.join("etc/smb.conf"), "[global]\nworkgroup = MAIRIE\n").unwrap();
    let c = Collector::start(tmp);
    c.admin_ok(&["org", "add", "mairie", "--name", "Mairie"]);
    let a = Agent::new(tmp, "a", 2, 2);
    fs::write(&a.config, fim_host::agent_config(&host, 2, "", &[])).unwrap();
    a.enroll(&c, &c.token("mairie", "1h"));
    (host, c, a)
}

/// The host's finding of `check` once `accept(outcome, severity, detail)` holds.
#[track_caller]
fn wait(
    c: &Collector,
    a: &Agent,
    host_id: &str,
    check: &str,
    accept: impl Fn(&str, &str, &str) -> bool,
) -> (String, String, String) {
    let start = Instant::now();
    let mut last = None;
    loop {
        let found = c.findings(Some("mairie")).into_iter().find_map(|f| {
            (f["host_id"] == host_id && f["check_id"] == check).then(|| {
                let s = |k: &str| f[k].as_str().unwrap_or_default().to_owned();
                (s("outcome"), s("severity"), s("detail"))
            })
        });
        if let Some((o, s, d)) = &found {
            if accept(o, s, d) {
                return (o.clone(), s.clone(), d.clone());
            }
        }
        last = found.or(last);
        assert!(
            start.elapsed() < PHASE,
            "timed out waiting for {check}: the collector says {last:?}\nagent log:\n{}\ncollector log:\n{}",
            fs::read_to_string(a.state.with_extension("log")).unwrap_or_default(),
            c.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_change_inside_a_window_is_named_with_it_and_one_after_is_a_plain_failure() {
    let tmp = tempfile::tempdir().unwrap();
    let (host, c, mut a) = setup(tmp.path());
    let host_id = a.host_id();
    a.start_logged(&a.state.with_extension("log"));
    wait(&c, &a, &host_id, "FIM-001", |o, _, _| o == "pass");
    wait(&c, &a, &host_id, "FIM-002", |o, _, _| o == "pass");

    // Refusals name what to fix.
    let t = now_ms();
    let e = collector_err(
        &c,
        &[
            "maintenance",
            "add",
            "--org",
            "mairie",
            "--from",
            &time_text(t + 60_000),
            "--until",
            &time_text(t),
            "--reason",
            "x",
            "--owner",
            "y",
        ],
    );
    assert!(e.contains("must be after --from"), "{e}");
    let e = collector_err(
        &c,
        &[
            "maintenance",
            "add",
            "--org",
            "mairie",
            "--from",
            "demain",
            "--until",
            &time_text(t),
            "--reason",
            "x",
            "--owner",
            "y",
        ],
    );
    assert!(
        e.contains("--from \"demain\": expected an RFC 3339 time"),
        "{e}"
    );
    let e = collector_err(
        &c,
        &[
            "maintenance",
            "add",
            "--org",
            "mairie",
            "--from",
            &time_text(t),
            "--until",
            &time_text(t + 60_000),
            "--reason",
            "",
            "--owner",
            "y",
        ],
    );
    assert!(e.contains("--reason: 1 to 200 characters"), "{e}");

    // A window for another group does not concern this host; one for the organisation does.
    collector_ok(
        &c,
        &[
            "maintenance",
            "add",
            "--org",
            "mairie",
            "--group",
            "postes",
            "--from",
            &time_text(t - 60_000),
            "--until",
            &time_text(t + 3_600_000),
            "--reason",
            "postes de l'accueil",
            "--owner",
            "A. Durand",
        ],
    );
    let start = now_ms();
    let until = start + i64::try_from(WINDOW.as_millis()).unwrap();
    let out = collector_ok(
        &c,
        &[
            "maintenance",
            "add",
            "--org",
            "mairie",
            "--from",
            &time_text(start - 60_000),
            "--until",
            &time_text(until),
            "--reason",
            "mise à jour de samba",
            "--owner",
            "J. Martin",
        ],
    );
    let id = out
        .split_whitespace()
        .find(|w| w.starts_with("m-"))
        .unwrap()
        .trim_end_matches(':')
        .to_owned();
    let list = collector_ok(&c, &["maintenance", "list", "--org", "mairie"]);
    assert!(
        list.lines()
            .any(|l| l.starts_with(&format!("{id}\tin-force\tevery host\t"))),
        "{list}"
    );

    // Inside the window: still a failure, graded low, named with the window.
    fs::write(
        host.join("etc/smb.conf"),
        "[global]\nworkgroup = MAIRIE\nserver min protocol = SMB3\n",
    )
    .unwrap();
    let (_, severity, detail) = wait(&c, &a, &host_id, "FIM-002", |o, _, d| {
        o == "fail" && d.contains("/etc/smb.conf")
    });
    assert!(
        now_ms() < until + 30_000,
        "the agent took too long to see the change"
    );
    assert_eq!(severity, "low", "{detail}");
    assert!(
        detail.contains(&format!(
            "/etc/smb.conf (contenu, taille, date, pendant la maintenance {id} (mise à jour de samba, J. Martin))"
        )) && detail.contains(" pendant une maintenance déclarée : "),
        "{detail}"
    );
    assert!(!detail.contains("postes de l'accueil"), "{detail}");

    // After the window: a plain failure at the check's severity; the earlier change keeps its
    // window (the change's time counts, not the evaluation's).
    while now_ms() <= until + 1_000 {
        std::thread::sleep(Duration::from_millis(200));
    }
    fs::write(
        host.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/bash\nevil:x:0:0::/:/bin/sh\n",
    )
    .unwrap();
    let (_, severity, detail) = wait(&c, &a, &host_id, "FIM-002", |o, _, d| {
        o == "fail" && d.contains("/etc/passwd")
    });
    assert_eq!(severity, "high", "{detail}");
    assert!(
        detail.contains(" pendant une maintenance déclarée) : /etc/passwd (contenu, taille, date), /etc/smb.conf (")
            && detail.contains(&format!("pendant la maintenance {id} (")),
        "{detail}"
    );

    // A planned window revoked: on the record like the rest.
    let later = now_ms() + 86_400_000;
    let out = collector_ok(
        &c,
        &[
            "maintenance",
            "add",
            "--org",
            "mairie",
            "--from",
            &time_text(later),
            "--until",
            &time_text(later + 3_600_000),
            "--reason",
            "migration",
            "--owner",
            "J. Martin",
        ],
    );
    let planned = out
        .split_whitespace()
        .find(|w| w.starts_with("m-"))
        .unwrap()
        .trim_end_matches(':')
        .to_owned();
    collector_ok(
        &c,
        &["maintenance", "revoke", &planned, "--reason", "reportée"],
    );
    let e = collector_err(
        &c,
        &["maintenance", "revoke", &planned, "--reason", "encore"],
    );
    assert!(e.contains("already revoked"), "{e}");
    let list = collector_ok(&c, &["maintenance", "list", "--org", "mairie"]);
    assert!(
        list.lines()
            .any(|l| l.starts_with(&format!("{id}\tended\t"))),
        "{list}"
    );
    assert!(
        list.lines()
            .any(|l| l.starts_with(&format!("{planned}\trevoked\t")) && l.contains("reportée")),
        "{list}"
    );

    // The audit trail holds every act and its chain verifies.
    let audit = collector_ok(&c, &["audit", "list", "--org", "mairie"]);
    let count = |action: &str| audit.lines().filter(|l| l.contains(action)).count();
    assert_eq!(count("maintenance.add"), 3, "{audit}");
    assert_eq!(count("maintenance.revoke"), 1, "{audit}");
    assert!(
        audit.contains(&format!("{id}: every host from"))
            && audit.contains("owner J. Martin: mise à jour de samba"),
        "{audit}"
    );
    let verified = collector_ok(&c, &["audit", "verify"]);
    assert!(verified.starts_with("audit trail: ok"), "{verified}");

    // A snapshot carries the window its FIM-002 finding names, and only that one.
    let snap = collector_ok(&c, &["snapshot", "create", "--org", "mairie"]);
    let out = tmp.path().join("snap.json");
    collector_ok(
        &c,
        &[
            "snapshot",
            "export",
            snap.trim(),
            "--format",
            "json",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    let doc: serde_json::Value = serde_json::from_slice(&fs::read(&out).unwrap()).unwrap();
    let windows = doc["maintenance"].as_array().unwrap();
    assert_eq!(windows.len(), 1, "{windows:?}");
    assert_eq!(windows[0]["id"], id.as_str());
    assert_eq!(windows[0]["owner"], "J. Martin");
    assert_eq!(windows[0]["reason"], "mise à jour de samba");
    assert_eq!(windows[0]["until"], time_text(until).as_str());
    a.stop();
}
