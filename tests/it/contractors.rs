//! Contractor access end to end (ACC-004, DESIGN decision 15): a real journal file built with
//! `systemd-journal-remote` from export format, holding the logins of a declared contractor and of an
//! ordinary user; the real agent reads it (`vigie-agent check --json --root`, `journal_file` in its
//! config) and must report the contractor's logins with source, method and key fingerprint, and
//! nothing at all about the other user; `vigie-collector evaluate`, given the organisation's policy
//! on its command line (an offline file has no organisation), then fails ACC-004 for the login
//! outside the window.
//!
//! The end-to-end run through a real collector is not used here: `vigie-agent run` observes the real
//! host's root, where no contractor exists; `evaluate` judges the very JSON the agent printed.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::harness::{bin, run};

const DAY_SECS: i64 = 86_400;
const FP: &str = "SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s";
const CONTRACTOR_IP: &str = "203.0.113.7";
const ALICE_IP: &str = "198.51.100.23";

fn now_secs() -> i64 {
    // Test code may read the clock: the journal entries are dated relative to it.
    #[allow(clippy::disallowed_methods)]
    let now = std::time::SystemTime::now();
    now.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

fn journal_remote() -> Option<PathBuf> {
    [
        "/lib/systemd/systemd-journal-remote",
        "/usr/lib/systemd/systemd-journal-remote",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
}

/// One journal entry in export format (`journalctl -o export`).
fn entry(realtime_secs: i64, seq: u64, message: &str, ident: &str, comm: &str) -> String {
    format!(
        "__REALTIME_TIMESTAMP={}\n__MONOTONIC_TIMESTAMP={}\n_BOOT_ID=0123456789abcdef0123456789abcdef\n\
         _HOSTNAME=mairie-srv1\nMESSAGE={message}\nSYSLOG_IDENTIFIER={ident}\n_COMM={comm}\n_PID=812\n\
         _SYSTEMD_UNIT=ssh.service\n\n",
        realtime_secs * 1_000_000,
        seq * 1000,
    )
}

fn build_journal(dir: &Path, export: &str) -> PathBuf {
    let tool = journal_remote().expect(
        "systemd-journal-remote is missing: apt-get install -y systemd-journal-remote (scripts/test does)",
    );
    let out = dir.join("sshd.journal");
    let mut child = Command::new(tool)
        .arg(format!("--output={}", out.display()))
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(export.as_bytes())
        .unwrap();
    let done = child.wait_with_output().unwrap();
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    out
}

fn write(root: &Path, file: &str, bytes: &[u8]) {
    let path = root.join(file);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn contractor_logins_reach_the_evidence_and_no_one_elses_do() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let now = now_secs();
    let today = now / DAY_SECS;
    write(
        &root,
        "etc/passwd",
        b"root:x:0:0:root:/root:/bin/bash\n\
          alice:x:1000:1000:Alice:/home/alice:/bin/bash\n\
          presta-dupont:x:1001:1001:Prestataire:/home/presta-dupont:/bin/bash\n",
    );
    write(
        &root,
        "etc/group",
        b"root:x:0:\nalice:x:1000:\npresta-dupont:x:1001:\n",
    );
    write(
        &root,
        "etc/shadow",
        format!(
            "root:!:{d}:0:99999:7:::\nalice:!:{d}:0:99999:7:::\npresta-dupont:!:{d}:0:99999:7::{e}:\n",
            d = today - 10,
            e = today + 30
        )
        .as_bytes(),
    );
    write(
        &root,
        "home/presta-dupont/.ssh/authorized_keys",
        format!(
            "expiry-time=\"{}\" ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl presta\n",
            "20991231"
        )
        .as_bytes(),
    );
    // Three days ago, at 03:00 UTC (04:00 or 05:00 in Paris: outside any office window) and 12:00
    // UTC (13:00 or 14:00: inside 08:00-18:00 whatever the season).
    let day = (today - 3) * DAY_SECS;
    let (night, noon) = (day + 3 * 3600, day + 12 * 3600);
    let export = [
        entry(
            night,
            1,
            &format!("Accepted publickey for presta-dupont from {CONTRACTOR_IP} port 51234 ssh2: ED25519 {FP}"),
            "sshd",
            "sshd-session",
        ),
        entry(
            noon,
            2,
            &format!("Accepted publickey for presta-dupont from {CONTRACTOR_IP} port 51300 ssh2: ED25519 {FP}"),
            "sshd-session",
            "sshd-session",
        ),
        entry(
            noon + 60,
            3,
            &format!("Accepted password for alice from {ALICE_IP} port 40000 ssh2"),
            "sshd",
            "sshd",
        ),
        entry(
            noon + 120,
            4,
            &format!("Failed password for alice from {ALICE_IP} port 40001 ssh2"),
            "sshd",
            "sshd",
        ),
        entry(noon + 180, 5, "pam_unix(cron:session): session opened for user alice", "CRON", "cron"),
    ]
    .concat();
    let journal = build_journal(dir.path(), &export);
    // An auth.log too (rsyslog's RFC 3339 format), with one more line of each.
    let stamp = |secs: i64| {
        let out = Command::new("date")
            .args([
                "-u",
                "-d",
                &format!("@{secs}"),
                "+%Y-%m-%dT%H:%M:%S.000000+00:00",
            ])
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };
    write(
        &root,
        "var/log/auth.log",
        format!(
            "{} mairie-srv1 sshd[900]: Failed publickey for presta-dupont from {CONTRACTOR_IP} port 1 ssh2: ED25519 {FP}\n\
             {} mairie-srv1 sshd[901]: Accepted password for alice from {ALICE_IP} port 2 ssh2\n",
            stamp(noon + 600),
            stamp(noon + 700),
        )
        .as_bytes(),
    );
    let config = dir.path().join("agent.toml");
    std::fs::write(
        &config,
        format!(
            "role = \"server\"\n\n[probes.accounts]\ncontractors = [\"presta-dupont\"]\njournal_file = \"{}\"\n",
            journal.display()
        ),
    )
    .unwrap();

    let out = run(Command::new(bin("vigie-agent"))
        .arg("--config")
        .arg(&config)
        .args(["check", "--json", "--root"])
        .arg(&root));
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    let json = String::from_utf8(out.stdout).unwrap();

    // The contractor's logins are there, with source, method and fingerprint.
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    let accounts = report["domains"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|d| d.get("accounts"))
        .unwrap_or_else(|| panic!("no accounts evidence in {json}"));
    let logins = accounts["contractorLogins"].as_array().unwrap();
    assert_eq!(logins.len(), 3, "{logins:#?}");
    let first = &logins[0];
    assert_eq!(first["principal"]["name"], "presta-dupont");
    assert_eq!(first["principal"]["uid"], 1001);
    // proto3 JSON leaves out `false`: the failed attempt has no `success`.
    assert!(first.get("success").is_none(), "{logins:#?}");
    assert_eq!(first["method"], "publickey");
    let accepted: Vec<&serde_json::Value> = logins
        .iter()
        .filter(|l| l["success"] == serde_json::Value::Bool(true))
        .collect();
    assert_eq!(accepted.len(), 2);
    for l in &accepted {
        assert_eq!(l["sourceAddress"], CONTRACTOR_IP);
        assert_eq!(l["method"], "publickey");
        assert_eq!(l["keyFingerprint"], FP);
    }
    assert_eq!(accepted[0]["atMs"], (noon * 1000).to_string());
    assert_eq!(accepted[1]["atMs"], (night * 1000).to_string());
    assert_eq!(accounts["contractorLoginSources"], "journal+auth.log");

    // Nothing about alice's logins: neither her address nor any login of hers. Her account is
    // listed (every account of passwd is), so the name appears once, in `accounts`, never in logins.
    for text in [&json, &stderr] {
        assert!(!text.contains(ALICE_IP), "alice's source leaked:\n{text}");
    }
    let logins_text = accounts["contractorLogins"].to_string();
    assert!(!logins_text.contains("alice"), "{logins_text}");
    assert_eq!(
        json.matches("alice").count(),
        1,
        "alice appears beyond her account:\n{json}"
    );

    // The collector judges it with the organisation's policy: the night login fails ACC-004.
    let evidence = dir.path().join("evidence.json");
    std::fs::write(&evidence, &json).unwrap();
    let judged = run(Command::new(bin("vigie-collector"))
        .arg("evaluate")
        .arg("--evidence")
        .arg(&evidence)
        .args(["--format", "json"])
        .args(["--contractor-window", "mon-sun 08:00-18:00"])
        .args(["--tz", "Europe/Paris", "--source", "203.0.113.0/24"]));
    assert!(
        judged.status.success(),
        "{}",
        String::from_utf8_lossy(&judged.stderr)
    );
    let findings: Vec<serde_json::Value> = serde_json::from_slice(&judged.stdout).unwrap();
    let acc004 = findings
        .iter()
        .find(|f| f["check_id"] == "ACC-004")
        .unwrap();
    assert_eq!(acc004["outcome"], "fail", "{acc004:#}");
    let detail = acc004["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("1 connexion hors politique : presta-dupont le "),
        "{detail}"
    );
    assert!(
        detail.contains("(Europe/Paris) depuis 203.0.113.7 : hors plage"),
        "{detail}"
    );
    let acc002 = findings
        .iter()
        .find(|f| f["check_id"] == "ACC-002")
        .unwrap();
    // The account expires in 30 days, but its key only in 2099.
    assert_eq!(acc002["outcome"], "fail", "{acc002:#}");
    assert!(acc002["detail"]
        .as_str()
        .unwrap()
        .ends_with("presta-dupont (uid 1001, 1 clé SSH expirant au-delà de 90 j)"));
    assert!(!String::from_utf8_lossy(&judged.stdout).contains(ALICE_IP));

    // With no policy, ACC-004 cannot judge: unknown, never pass.
    let judged = run(Command::new(bin("vigie-collector"))
        .arg("evaluate")
        .arg("--evidence")
        .arg(&evidence)
        .args(["--format", "json"]));
    let findings: Vec<serde_json::Value> = serde_json::from_slice(&judged.stdout).unwrap();
    let acc004 = findings
        .iter()
        .find(|f| f["check_id"] == "ACC-004")
        .unwrap();
    assert_eq!(acc004["outcome"], "unknown", "{acc004:#}");
}
