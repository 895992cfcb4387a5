//! HTTPS pings for backup jobs with no agent, end to end: a real collector, real `curl` against its
//! ECDSA listener, findings through the admin command. Success → BKP-001 pass; silence past period
//! and grace → down; `/fail` → BKP-002 fail with the message; an unknown secret → 404 and a security
//! line with the peer; a TLS 1.2 client refused at the handshake.

use std::process::Command;
use std::time::Duration;

use crate::harness::{wait_for, Collector};

/// `curl` against the collector's HTTPS port, pinning its certificate; returns (exit code, HTTP
/// status and body).
fn curl(c: &Collector, path: &str, extra: &[&str]) -> (i32, String) {
    let port = c.https.rsplit(':').next().unwrap();
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10", "--cacert"])
        .arg(c.dir.join("https.crt"))
        .args(["--resolve", &format!("localhost:{port}:127.0.0.1")])
        .args(["-w", "%{http_code}"])
        .args(extra)
        .arg(format!("https://localhost:{port}{path}"))
        .output()
        .expect("curl is installed (scripts/test installs it)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    (out.status.code().unwrap_or(-1), text)
}

/// The path of a ping URL printed by `ping add`.
fn path_of(url: &str) -> String {
    let url = url.trim();
    assert!(url.starts_with("https://localhost:"), "{url}");
    format!("/ping/{}", url.split("/ping/").nth(1).unwrap())
}

/// The (outcome, detail) of `check` on the pseudo-host `host`, once `accept` holds.
#[track_caller]
fn wait_finding(
    c: &Collector,
    host: &str,
    check: &str,
    accept: impl Fn(&str, &str) -> bool,
) -> String {
    wait_for(
        &format!("{check} on {host}"),
        Duration::from_secs(30),
        || {
            c.findings(Some("mairie")).into_iter().find_map(|f| {
                let outcome = f["outcome"].as_str().unwrap().to_owned();
                let detail = f["detail"].as_str().unwrap().to_owned();
                (f["host_id"] == host && f["check_id"] == check && accept(&outcome, &detail))
                    .then(|| format!("{outcome}: {detail}"))
            })
        },
    )
}

#[test]
fn https_ping_drives_the_dead_mans_switch() {
    let root = tempfile::tempdir().unwrap();
    let mut c = Collector::init(root.path());
    c.set_config("reevaluate_interval_secs", "1");
    c.serve(&[]);
    assert!(!c.https.is_empty(), "no https line: {}", c.log());
    c.admin_ok(&["org", "add", "mairie", "--name", "Mairie de Test"]);
    let nas = path_of(&c.admin_ok(&[
        "ping", "add", "--org", "mairie", "--name", "nas", "--period", "1d", "--grace", "2h",
        "--site", "mairie",
    ]));
    let veeam = path_of(&c.admin_ok(&[
        "ping", "add", "--org", "mairie", "--name", "veeam", "--period", "2s", "--grace", "1s",
    ]));

    // Success → BKP-001 pass.
    assert_eq!(curl(&c, &nas, &[]), (0, "OK\n200".to_owned()));
    let found = wait_finding(&c, "ping:nas", "BKP-001", |o, _| o == "pass");
    assert!(found.contains("« nas » : à jour"), "{found}");
    // Only BKP-001 and BKP-002 judge a ping job.
    let checks: Vec<String> = c
        .findings(Some("mairie"))
        .into_iter()
        .filter(|f| f["host_id"] == "ping:nas")
        .map(|f| f["check_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(checks, ["BKP-001", "BKP-002"]);

    // A short job pinged once, then nothing: down after period + grace, within the periodic pass.
    assert_eq!(curl(&c, &veeam, &["-X", "POST"]).0, 0);
    let down = wait_finding(&c, "ping:veeam", "BKP-001", |o, d| {
        o == "fail" && d.contains("en panne : dernière réussite")
    });
    assert!(down.contains("(période 2 s, grâce 1 s)"), "{down}");

    // A waiver on the job's pseudo-host applies at the next periodic pass; a job that does not
    // exist in the organisation cannot be waived.
    let waive = |host: &str| {
        c.admin(&[
            "waiver",
            "add",
            "--org",
            "mairie",
            "--check",
            "BKP-001",
            "--host",
            host,
            "--reason",
            "poste retiré",
            "--owner",
            "dgs@mairie.fr",
            "--until",
            "2099-12-31",
        ])
    };
    let refused = waive("ping:fantome");
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("ping:fantome"),
        "{refused:?}"
    );
    assert!(waive("ping:veeam").status.success());
    wait_finding(&c, "ping:veeam", "BKP-001", |o, _| o == "waived");

    // `/fail` with a hostile message → BKP-002 fail with the message, neutralised.
    let (code, body) = curl(
        &c,
        &format!("{nas}/fail"),
        &["--data-binary", "disk full\r\nInjected: 1"],
    );
    assert_eq!((code, body.as_str()), (0, "OK\n200"));
    let failed = wait_finding(&c, "ping:nas", "BKP-002", |o, _| o == "fail");
    assert!(failed.contains("disk full??Injected: 1"), "{failed}");
    wait_finding(&c, "ping:nas", "BKP-001", |o, d| {
        o == "fail" && d.contains("dernier passage en échec")
    });
    let list = c.admin_ok(&["ping", "list", "--org", "mairie"]);
    assert!(
        list.contains("nas") && list.contains("disk full??Injected: 1"),
        "{list}"
    );
    assert!(
        !list.contains("vigie_png_"),
        "the secret is never shown again: {list}"
    );

    // An unknown secret: 404 and a security line carrying the peer.
    let unknown = format!("/ping/vigie_png_{}", "0".repeat(64));
    assert_eq!(curl(&c, &unknown, &[]), (0, "not found\n404".to_owned()));
    let line = c.wait_log("Ping with an unknown secret refused.");
    assert!(
        line.contains("security") && line.contains("peer=127.0.0.1:"),
        "{line}"
    );

    // TLS 1.2 is refused at the handshake, and said so.
    let (code, _) = curl(&c, &nas, &["--tlsv1.2", "--tls-max", "1.2"]);
    assert_ne!(code, 0);
    let line = c.wait_log("TLS handshake refused.");
    assert!(
        line.contains("port=\"https\"") || line.contains("port=https"),
        "{line}"
    );

    // Removing a job removes its findings; the audit trail has the admin acts.
    c.admin_ok(&["ping", "remove", "--org", "mairie", "--name", "veeam"]);
    assert!(!c
        .findings(Some("mairie"))
        .iter()
        .any(|f| f["host_id"] == "ping:veeam"));
    assert_eq!(curl(&c, &veeam, &[]).1, "not found\n404");
}
