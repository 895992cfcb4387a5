//! Contractor access end to end (ACC-004, DESIGN decision 15): a real journal file built with
//! `systemd-journal-remote` from export format, holding the logins of a declared contractor and of an
//! ordinary user; the real agent reads it (`vigie-agent check --json --root`, `journal_file` in its
//! config) and must report the contractor's logins with source, method and key fingerprint, and
//! nothing at all about the other user; `vigie-collector evaluate`, given the organisation's policy
//! on its command line (an offline file has no organisation), then fails ACC-004 for the login
//! outside the window.
//!
//! The second test runs the real `vigie-agent run` against a real collector: the live root's
//! `nobody` account is declared a contractor (every Debian has it; no account is created on the
//! test machine) and `root` is the other account. Each login reaches the collector in exactly one
//! report (the agent's cursor survives a restart), the collector keeps them (ACC-004 still counts
//! the first ones after reports that carry none), setting the organisation's policy judges the
//! host again without a new report, and root's login appears in nothing the collector stores.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use vigie_collector::store::Store as _;

use crate::harness::{bin, run, wait_for, Agent, Collector};

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

/// The ACC-004 finding of `host`, once `ready` accepts it.
fn acc004(
    c: &Collector,
    host: &str,
    ready: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    wait_for("the ACC-004 finding", Duration::from_secs(90), || {
        c.findings(None)
            .into_iter()
            .find(|f| f["host_id"] == host && f["check_id"] == "ACC-004" && ready(f))
    })
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        match entry.file_type() {
            Ok(t) if t.is_dir() => files_under(&path, out),
            Ok(t) if t.is_file() => out.push(path),
            _ => {}
        }
    }
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[test]
fn contractor_logins_reach_the_collector_once_and_the_policy_judges_them() {
    let tmp = tempfile::tempdir().unwrap();
    let now = now_secs();
    let day = (now / DAY_SECS - 3) * DAY_SECS;
    let (night, noon) = (day + 3 * 3600, day + 12 * 3600);
    let journal = build_journal(
        tmp.path(),
        &[
            entry(
                night,
                1,
                &format!("Accepted publickey for nobody from {CONTRACTOR_IP} port 51234 ssh2: ED25519 {FP}"),
                "sshd",
                "sshd-session",
            ),
            entry(
                noon,
                2,
                &format!("Accepted publickey for nobody from {CONTRACTOR_IP} port 51300 ssh2: ED25519 {FP}"),
                "sshd",
                "sshd-session",
            ),
            entry(noon + 60, 3, &format!("Accepted password for root from {ALICE_IP} port 40000 ssh2"), "sshd", "sshd"),
        ]
        .concat(),
    );
    let mut c = Collector::start(tmp.path());
    c.admin_ok(&["org", "add", "mairie-a", "--name", "Mairie A"]);
    let mut a = Agent::new(tmp.path(), "a", 3600, 3600);
    let mut config = std::fs::read_to_string(&a.config).unwrap();
    config.push_str(&format!(
        "\n[probes.accounts]\ncontractors = [\"nobody\"]\njournal_file = \"{}\"\n\n[probes.patches]\nenabled = false\n",
        journal.display()
    ));
    std::fs::write(&a.config, config).unwrap();
    a.enroll(&c, &c.token("mairie-a", "1h"));
    a.start_logged(&tmp.path().join("agent.log"));
    let host = a.host_id();

    // No policy yet: the logins are there, unjudged.
    let first = acc004(&c, &host, |f| {
        f["detail"].as_str().unwrap_or("").contains("2 connexions")
    });
    assert_eq!(first["outcome"], "unknown", "{first:#}");

    // The policy is set: the host is judged again at once, on the same report.
    let out = c.admin_ok(&[
        "org",
        "contractor-policy",
        "mairie-a",
        "--window",
        "mon-sun 08:00-18:00",
        "--tz",
        "Europe/Paris",
        "--source",
        "203.0.113.0/24",
    ]);
    assert!(out.contains("judged again"), "{out}");
    let judged = acc004(&c, &host, |f| f["outcome"] == "fail");
    assert_eq!(
        judged["evidence"], first["evidence"],
        "judged on another report: {judged:#}"
    );
    let detail = judged["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("1 connexion hors politique : nobody le ")
            && detail.contains("hors plage"),
        "{detail}"
    );

    // Restart: the new login only is sent; the collector still holds the first two.
    a.stop();
    std::thread::sleep(Duration::from_millis(200));
    let later = noon + 3600;
    let more = entry(
        later,
        4,
        &format!(
            "Accepted publickey for nobody from {CONTRACTOR_IP} port 52000 ssh2: ED25519 {FP}"
        ),
        "sshd",
        "sshd-session",
    );
    append_journal(&journal, &more);
    a.start_logged(&tmp.path().join("agent2.log"));
    let after = acc004(&c, &host, |f| {
        f["detail"]
            .as_str()
            .unwrap_or("")
            .contains("3 connexions de prestataires")
    });
    assert_eq!(after["outcome"], "fail", "{after:#}");
    a.stop();
    let log = c.log();
    c.stop();

    // What the collector stored, report by report: each contractor login in exactly one.
    let store =
        vigie_collector::store::sled_store::SledStore::open(&c.dir.join("store"), 8 << 20).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let reports = rt.block_on(store.reports(&host)).unwrap();
    let mut seen: Vec<i64> = Vec::new();
    for stored in &reports {
        let signed = <vigie_proto::v1::SignedReport as vigie_proto::Message>::decode(
            stored.signed.as_slice(),
        )
        .unwrap();
        let body = vigie_proto::envelope::decode_body(&signed.body).unwrap();
        for d in &body.domains {
            if let Some(vigie_proto::v1::domain_state::State::Accounts(acc)) = &d.state {
                seen.extend(acc.contractor_logins.iter().map(|l| l.at_ms / 1000));
                assert!(acc
                    .contractor_logins
                    .iter()
                    .all(|l| l.principal.as_ref().unwrap().name == "nobody"));
            }
        }
        assert!(!contains(&signed.body, ALICE_IP), "root's login was sent");
    }
    seen.sort_unstable();
    assert_eq!(
        seen,
        [night, noon, later],
        "each login once, in {} reports",
        reports.len()
    );
    // And nowhere else: not in any file of the collector or of the agent, nor in the logs.
    let mut files = Vec::new();
    files_under(&c.dir, &mut files);
    files_under(&a.state, &mut files);
    let mut found_contractor = false;
    for file in files {
        let bytes = std::fs::read(&file).unwrap_or_default();
        assert!(
            !contains(&bytes, ALICE_IP),
            "{} holds root's login",
            file.display()
        );
        found_contractor |= contains(&bytes, CONTRACTOR_IP);
    }
    assert!(found_contractor, "the search must be able to find a login");
    for log in [
        log,
        std::fs::read_to_string(tmp.path().join("agent.log")).unwrap(),
    ] {
        assert!(!log.contains(ALICE_IP), "{log}");
    }
    // The cursor the agent keeps names no one.
    let cursor = std::fs::read_to_string(a.state.join("contractor-logins.json")).unwrap();
    assert!(cursor.contains("\"journal\":\"s="), "{cursor}");
    assert!(
        !cursor.contains("nobody") && !cursor.contains(CONTRACTOR_IP),
        "{cursor}"
    );
}

/// Appends export-format entries to an existing journal file, as journald would keep writing.
fn append_journal(journal: &Path, export: &str) {
    let tool = journal_remote().unwrap();
    let mut child = Command::new(tool)
        .arg(format!("--output={}", journal.display()))
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(export.as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success());
}
