//! The antivirus probe end to end against a real clamd (Debian's clamav-daemon) started by the test
//! with its own configuration and a one-signature `.hdb` database in a temporary directory, then
//! `vigie-collector evaluate` on the agent's `check --json`; and against a socket that accepts but
//! never answers, which must cost the probe its deadline and nothing else.

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{bin, ok, wait_for};

/// clamd as a child process, killed on drop.
struct Clamd(Child);

impl Drop for Clamd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// An agent config pointing the antivirus probe at `clamd_conf`, for a workstation.
fn agent_config(dir: &Path, clamd_conf: &Path) -> PathBuf {
    let path = dir.join("agent.toml");
    let text = format!(
        "version = 1\nrole = \"workstation\"\n\n[probes.patches]\nenabled = false\n\n[probes.antivirus]\nclamd_conf = \"{}\"\nfreshclam_conf = \"{}\"\nsocket_timeout_secs = 3\n",
        clamd_conf.display(),
        dir.join("freshclam.conf").display()
    );
    std::fs::write(&path, text).unwrap();
    path
}

fn check_json(config: &Path) -> serde_json::Value {
    let json = ok(Command::new(bin("vigie-agent"))
        .arg("--config")
        .arg(config)
        .args(["check", "--json"]));
    serde_json::from_str(&json).unwrap()
}

fn antivirus(v: &serde_json::Value) -> serde_json::Value {
    v["domains"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["domain"] == "ANTIVIRUS")
        .unwrap_or_else(|| panic!("no antivirus domain in {v}"))
        .clone()
}

/// `vigie-collector evaluate` on `v`: `(check id, outcome, detail)` of the AV checks.
fn evaluate(dir: &Path, v: &serde_json::Value) -> Vec<(String, String, String)> {
    let file = dir.join("evidence.json");
    std::fs::write(&file, v.to_string()).unwrap();
    let out = ok(Command::new(bin("vigie-collector"))
        .arg("evaluate")
        .arg("--evidence")
        .arg(&file)
        .args(["--format", "json"]));
    let findings: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    findings
        .iter()
        .filter(|f| f["check_id"].as_str().unwrap().starts_with("AV-"))
        .map(|f| {
            (
                f["check_id"].as_str().unwrap().to_owned(),
                f["outcome"].as_str().unwrap().to_owned(),
                f["detail"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

fn outcome<'a>(findings: &'a [(String, String, String)], id: &str) -> &'a (String, String, String) {
    findings.iter().find(|f| f.0 == id).unwrap()
}

/// Sends one `z` command to clamd and returns its answer.
fn clamd_command(socket: &Path, command: &str) -> String {
    let mut s = UnixStream::connect(socket).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(format!("z{command}\0").as_bytes()).unwrap();
    let mut answer = Vec::new();
    s.read_to_end(&mut answer).unwrap();
    String::from_utf8_lossy(&answer)
        .trim_end_matches('\0')
        .to_owned()
}

#[test]
fn real_clamd_is_seen_running_and_its_detection_reported() {
    assert!(
        Path::new("/usr/sbin/clamd").exists(),
        "clamd is missing: install clamav-daemon (scripts/test does)"
    );
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::create_dir(dir.join("db")).unwrap();
    // A file and a signature for it: `md5:size:name` in an .hdb database (clamd refuses test-made CVDs).
    let sample = dir.join("sample.bin");
    std::fs::write(
        &sample,
        b"vigie antivirus integration sample, not malware\n",
    )
    .unwrap();
    let md5 = ok(Command::new("md5sum").arg(&sample));
    let md5 = md5.split_whitespace().next().unwrap();
    let size = std::fs::metadata(&sample).unwrap().len();
    std::fs::write(
        dir.join("db/vigie.hdb"),
        format!("{md5}:{size}:Vigie.Test.Sample\n"),
    )
    .unwrap();
    let socket = dir.join("clamd.sock");
    let conf = dir.join("clamd.conf");
    std::fs::write(
        &conf,
        format!(
            "Foreground yes\nLocalSocket {sock}\nDatabaseDirectory {d}/db\nLogFile {d}/clamd.log\nLogTime yes\nTemporaryDirectory {d}\nBytecode no\n",
            sock = socket.display(),
            d = dir.display()
        ),
    )
    .unwrap();
    let _clamd = Clamd(
        Command::new("/usr/sbin/clamd")
            .arg("--config-file")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for("clamd's socket", Duration::from_secs(120), || {
        UnixStream::connect(&socket).ok().map(|_| ())
    });
    assert_eq!(clamd_command(&socket, "PING"), "PONG");
    let scanned = clamd_command(&socket, &format!("SCAN {}", sample.display()));
    assert!(scanned.ends_with("FOUND"), "{scanned}");

    let config = agent_config(dir, &conf);
    let v = check_json(&config);
    let av = antivirus(&v);
    assert_eq!(av["probeId"], "antivirus.clamav", "{av}");
    let engine = &av["antivirus"]["engines"][0];
    assert_eq!(engine["product"], "clamav", "{engine}");
    assert_eq!(engine["running"], true, "{engine}");
    assert_eq!(engine["runningChecked"], true, "{engine}");
    assert_eq!(engine["daemon"]["pingAnswered"], true, "{engine}");
    assert!(
        engine["daemon"]["versionText"]
            .as_str()
            .unwrap()
            .starts_with("ClamAV 1."),
        "{engine}"
    );
    assert!(
        engine["engineVersion"].as_str().unwrap().starts_with("1."),
        "{engine}"
    );
    assert_eq!(engine["databases"][0]["format"], "hdb", "{engine}");
    let detection = &engine["detections"][0];
    assert!(
        detection["signature"]
            .as_str()
            .unwrap()
            .starts_with("Vigie.Test.Sample"),
        "{engine}"
    );
    // The human summary names the engine too.
    let text = ok(Command::new(bin("vigie-agent"))
        .arg("--config")
        .arg(&config)
        .arg("check"));
    assert!(text.contains("clamav 1."), "{text}");

    let findings = evaluate(dir, &v);
    assert_eq!(outcome(&findings, "AV-001").1, "pass", "{findings:?}");
    // No CVD header and no freshclam: the signature age cannot be known, and is not called fresh.
    assert_eq!(outcome(&findings, "AV-002").1, "unknown", "{findings:?}");
    assert_eq!(outcome(&findings, "AV-003").1, "fail", "{findings:?}");
    let av4 = outcome(&findings, "AV-004");
    assert_eq!(av4.1, "fail", "{findings:?}");
    assert!(av4.2.contains("Vigie.Test.Sample"), "{findings:?}");
}

#[test]
fn a_socket_that_never_answers_costs_the_deadline_and_nothing_else() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let socket = dir.join("silent.sock");
    let listener = UnixListener::bind(&socket).unwrap();
    // Accept every connection and hold it open without a byte of answer.
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            held.push(stream);
        }
    });
    let conf = dir.join("clamd.conf");
    std::fs::write(
        &conf,
        format!(
            "LocalSocket {}\nDatabaseDirectory {}\n",
            socket.display(),
            dir.join("db").display()
        ),
    )
    .unwrap();
    let config = agent_config(dir, &conf);
    let start = Instant::now();
    let v = check_json(&config);
    let elapsed = start.elapsed();
    assert!(elapsed < Duration::from_secs(20), "{elapsed:?}");
    let av = antivirus(&v);
    let engine = &av["antivirus"]["engines"][0];
    // proto3 JSON leaves false out.
    assert!(!engine["running"].as_bool().unwrap_or(false), "{engine}");
    assert_eq!(engine["runningChecked"], true, "{engine}");
    let error = engine["daemon"]["error"].as_str().unwrap();
    assert!(error.contains("did not answer within 3000 ms"), "{error}");
    // The other probes still reported.
    let domains = v["domains"].as_array().unwrap();
    assert!(domains
        .iter()
        .any(|d| d["inventory"]["hostname"].is_string()));
    let findings = evaluate(dir, &v);
    let av1 = outcome(&findings, "AV-001");
    assert_eq!(av1.1, "fail", "{findings:?}");
    assert!(av1.2.contains("ne répond pas"), "{findings:?}");
}
