//! Organisation attestations end to end (ACC-008's VPN half): the real `vigie-agent run` reports this
//! machine's SSH state to a real collector, whose ACC-008 finding says the VPN half is not attested;
//! `vigie-collector attest set` through the admin socket records the attestation, which appears in
//! `attest list` and in the audit trail (whose chain still verifies), and judges the host again at
//! once, without a new report; `attest revoke` takes it back. Bad input is refused.

use std::process::Command;
use std::time::Duration;

use crate::harness::{bin, run, wait_for, Agent, Collector};

const NOT_ATTESTED: &str = "VPN : double facteur non attesté";

/// `vigie-collector attest ARGS[0] --data-dir D ARGS[1..]`.
fn attest(c: &Collector, args: &[&str]) -> std::process::Output {
    let mut all = vec!["attest"];
    all.extend(args);
    command(c, &all)
}

/// `vigie-collector ARGS[0] ARGS[1] --data-dir D ARGS[2..]` (two-word subcommands).
fn command(c: &Collector, args: &[&str]) -> std::process::Output {
    run(Command::new(bin("vigie-collector"))
        .args(&args[..2])
        .arg("--data-dir")
        .arg(c.dir.as_path())
        .args(&args[2..]))
}

#[track_caller]
fn admin_ok(c: &Collector, args: &[&str]) -> String {
    let out = command(c, args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[track_caller]
fn attest_ok(c: &Collector, args: &[&str]) -> String {
    let out = attest(c, args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The ACC-008 finding of `host` once `pred` holds.
fn acc008(
    c: &Collector,
    host: &str,
    pred: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    wait_for("the ACC-008 finding", Duration::from_secs(90), || {
        c.findings(None)
            .into_iter()
            .find(|f| f["check_id"] == "ACC-008" && f["host_id"] == host && pred(f))
    })
}

#[test]
fn vpn_attestation_judges_the_hosts_again_and_is_audited() {
    let tmp = tempfile::tempdir().unwrap();
    let mut c = Collector::start(tmp.path());
    c.admin_ok(&["org", "add", "mairie-a", "--name", "Mairie A"]);
    let mut a = Agent::new(tmp.path(), "a", 3600, 3600);
    let mut config = std::fs::read_to_string(&a.config).unwrap();
    config.push_str("\n[probes.patches]\nenabled = false\n");
    std::fs::write(&a.config, config).unwrap();
    a.enroll(&c, &c.token("mairie-a", "1h"));
    a.start_logged(&tmp.path().join("agent.log"));
    let host = a.host_id();

    // Whatever this machine's sshd says, the VPN half is not attested yet.
    let before = acc008(&c, &host, |f| {
        f["detail"].as_str().unwrap_or("").contains(NOT_ATTESTED)
    });
    assert_ne!(before["outcome"], "pass", "{before:#}");

    // An RFC 3339 time 30 days ahead (the date form is parsed as for waivers).
    #[allow(clippy::disallowed_methods)]
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let until = String::from_utf8(
        Command::new("date")
            .args([
                "-u",
                "-d",
                &format!("@{}", now + 30 * 86_400),
                "+%Y-%m-%dT%H:%M:%SZ",
            ])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap()
    .trim()
    .to_owned();
    let until = until.as_str();

    // Refused: unknown measure, past date, more than 400 days, unknown organisation, empty name.
    for (args, why) in [
        (
            vec![
                "set",
                "--org",
                "mairie-a",
                "--measure",
                "wifi",
                "--by",
                "X",
                "--until",
                "2099-01-01",
                "--note",
                "n",
            ],
            "expected one of vpn-mfa",
        ),
        (
            vec![
                "set",
                "--org",
                "mairie-a",
                "--measure",
                "vpn-mfa",
                "--by",
                "X",
                "--until",
                "2020-01-01",
                "--note",
                "n",
            ],
            "already past",
        ),
        (
            vec![
                "set",
                "--org",
                "mairie-a",
                "--measure",
                "vpn-mfa",
                "--by",
                "X",
                "--until",
                "2099-01-01",
                "--note",
                "n",
            ],
            "400 days at most",
        ),
        (
            vec![
                "set",
                "--org",
                "nowhere",
                "--measure",
                "vpn-mfa",
                "--by",
                "X",
                "--until",
                until,
                "--note",
                "n",
            ],
            "nowhere",
        ),
        (
            vec![
                "set",
                "--org",
                "mairie-a",
                "--measure",
                "vpn-mfa",
                "--by",
                " ",
                "--until",
                until,
                "--note",
                "n",
            ],
            "--by: 1 to 500 characters",
        ),
        (
            vec![
                "revoke",
                "--org",
                "mairie-a",
                "--measure",
                "vpn-mfa",
                "--reason",
                "r",
            ],
            "no vpn-mfa attestation in force",
        ),
    ] {
        let out = attest(&c, &args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} was accepted");
        assert!(stderr.contains(why), "{args:?}: {stderr}");
    }

    // Set, until 30 days from now.
    let out = attest_ok(
        &c,
        &[
            "set",
            "--org",
            "mairie-a",
            "--measure",
            "vpn-mfa",
            "--by",
            "Mme Martin (DGS)",
            "--until",
            until,
            "--note",
            "OpenVPN avec TOTP, vérifié le jour même",
        ],
    );
    assert!(out.contains("findings of 1 host(s) judged again"), "{out}");
    let after = acc008(&c, &host, |f| {
        f["detail"]
            .as_str()
            .unwrap_or("")
            .contains("attesté par Mme Martin (DGS) jusqu'au")
    });
    assert_eq!(
        after["evidence"], before["evidence"],
        "judged on another report"
    );
    // The SSH half decides alone when it fails; otherwise the attestation makes it pass.
    if before["outcome"] == "fail" {
        assert_eq!(after["outcome"], "fail", "{after:#}");
    } else {
        assert_eq!(after["outcome"], "pass", "{after:#}");
    }

    let list = attest_ok(&c, &["list", "--org", "mairie-a"]);
    assert!(
        list.starts_with("vpn-mfa\tin-force\tby Mme Martin (DGS)\tuntil "),
        "{list}"
    );

    // Revoke: back to not attested, at once.
    let out = attest_ok(
        &c,
        &[
            "revoke",
            "--org",
            "mairie-a",
            "--measure",
            "vpn-mfa",
            "--reason",
            "VPN remplacé",
        ],
    );
    assert!(out.contains("judged again"), "{out}");
    let revoked = acc008(&c, &host, |f| {
        f["detail"].as_str().unwrap_or("").contains(NOT_ATTESTED)
    });
    assert_eq!(revoked["outcome"], before["outcome"]);
    let list = attest_ok(&c, &["list", "--org", "mairie-a"]);
    assert!(
        list.contains("\trevoked ") && list.contains("VPN remplacé"),
        "{list}"
    );

    // Both changes are in the admin audit trail, and the chain verifies.
    let audit = admin_ok(&c, &["audit", "list", "--org", "mairie-a"]);
    assert!(audit.contains("attest.set"), "{audit}");
    assert!(
        audit.contains("vpn-mfa attested by Mme Martin (DGS)"),
        "{audit}"
    );
    assert!(audit.contains("attest.revoke"), "{audit}");
    admin_ok(&c, &["audit", "verify"]);

    a.stop();
    c.stop();
}
