//! The accounts slice end to end: fixture roots judged by the real binaries (`vigie-agent check
//! --root`, then `vigie-collector evaluate`), and the proof that no password hash or salt from
//! shadow ever appears in what the agent prints, logs or sends, nor in what the collector stores.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::harness::{bin, run, wait_for, Agent, Collector};

const CHECKS: &[&str] = &[
    "ACC-001", "ACC-005", "ACC-006", "PWD-005", "PWD-007", "SVC-003",
];
const DAY_SECS: i64 = 86_400;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/roots")
        .join(name)
}

fn now_secs() -> i64 {
    // Test code may read the clock: the fixtures' login records are written relative to it.
    #[allow(clippy::disallowed_methods)]
    let now = std::time::SystemTime::now();
    now.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

/// A copy of the fixture root with a lastlog written relative to now: `(uid, days ago)`. For the
/// hardened root, passwords are also dated 30 days ago, since a committed date would age.
fn prepare(name: &str, logins: &[(u32, i64)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    assert!(Command::new("cp")
        .arg("-a")
        .arg(fixture(name))
        .arg(&root)
        .status()
        .unwrap()
        .success());
    let now = now_secs();
    let max = logins.iter().map(|(u, _)| *u).max().unwrap_or(0) as usize;
    let mut lastlog = vec![0u8; (max + 1) * 292];
    for (uid, days) in logins {
        let at = *uid as usize * 292;
        let t = (now - days * DAY_SECS) as i32;
        lastlog[at..at + 4].copy_from_slice(&t.to_le_bytes());
        lastlog[at + 4..at + 9].copy_from_slice(b"pts/0");
    }
    std::fs::create_dir_all(root.join("var/log")).unwrap();
    std::fs::write(root.join("var/log/lastlog"), lastlog).unwrap();
    if name == "hardened" {
        let today = now / DAY_SECS;
        let shadow = std::fs::read(root.join("etc/shadow")).unwrap();
        let text = String::from_utf8(shadow).unwrap();
        let fresh: String = text
            .lines()
            .map(|l| {
                let mut f: Vec<String> = l.split(':').map(str::to_owned).collect();
                f[2] = (today - 30).to_string();
                f.join(":") + "\n"
            })
            .collect();
        std::fs::write(root.join("etc/shadow"), fresh).unwrap();
    }
    dir
}

fn config(dir: &Path, role: &str) -> PathBuf {
    let path = dir.join("agent.toml");
    std::fs::write(&path, format!("role = \"{role}\"\n")).unwrap();
    path
}

struct Checked {
    json: String,
    text: String,
    stderr: String,
}

fn check_root(root: &Path, config: &Path) -> Checked {
    let out = run(Command::new(bin("vigie-agent"))
        .arg("--config")
        .arg(config)
        .args(["check", "--json", "--root"])
        .arg(root));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = run(Command::new(bin("vigie-agent"))
        .arg("--config")
        .arg(config)
        .args(["check", "--root"])
        .arg(root));
    Checked {
        json: String::from_utf8(out.stdout).unwrap(),
        text: String::from_utf8_lossy(&text.stdout).into_owned(),
        stderr: format!(
            "{}{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&text.stderr)
        ),
    }
}

/// `CHECK outcome` for the accounts checks, as `vigie-collector evaluate` judges the JSON.
fn evaluate(dir: &Path, json: &str) -> (Vec<String>, Vec<serde_json::Value>) {
    let file = dir.join("evidence.json");
    std::fs::write(&file, json).unwrap();
    let out = run(Command::new(bin("vigie-collector"))
        .arg("evaluate")
        .arg("--evidence")
        .arg(&file)
        .args(["--format", "json"]));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let findings: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    let mine: Vec<serde_json::Value> = findings
        .into_iter()
        .filter(|f| CHECKS.contains(&f["check_id"].as_str().unwrap()))
        .collect();
    let outcomes = mine
        .iter()
        .map(|f| {
            format!(
                "{} {}",
                f["check_id"].as_str().unwrap(),
                f["outcome"].as_str().unwrap()
            )
        })
        .collect();
    (outcomes, mine)
}

/// Every hash of the shadow files under `roots`, with its salt and its hash part.
fn secrets_of(shadows: &[Vec<u8>]) -> Vec<String> {
    let mut out = Vec::new();
    for bytes in shadows {
        for line in String::from_utf8_lossy(bytes).lines() {
            let Some(field) = line.split(':').nth(1) else {
                continue;
            };
            let field = field.trim_start_matches(['!', '*']);
            if !field.starts_with('$') {
                continue;
            }
            out.push(field.to_owned());
            let parts: Vec<&str> = field.split('$').filter(|p| !p.is_empty()).collect();
            // $id$[params$]salt$hash: the last two parts are the salt and the hash.
            if parts.len() >= 3 {
                out.push(parts[parts.len() - 2].to_owned());
                out.push(parts[parts.len() - 1].to_owned());
            }
        }
    }
    out.retain(|s| s.len() >= 8);
    out
}

#[track_caller]
fn assert_no_secret(secrets: &[String], what: &str, haystack: &[u8]) {
    for s in secrets {
        assert!(
            !haystack.windows(s.len()).any(|w| w == s.as_bytes()),
            "a shadow secret ({}…) appears in {what}",
            &s[..4]
        );
    }
}

/// Fixture root, role, `(uid, days since last login)`, expected outcomes.
type Case = (
    &'static str,
    &'static str,
    &'static [(u32, i64)],
    &'static [&'static str],
);

#[test]
fn fixture_roots_are_judged_as_expected() {
    let cases: &[Case] = &[
        (
            "debian12-stock",
            "server",
            &[(0, 20), (1000, 1)],
            &[
                "ACC-001 pass",
                "ACC-005 pass",
                "ACC-006 not_applicable",
                "PWD-005 fail",
                "PWD-007 pass",
                "SVC-003 pass",
            ],
        ),
        (
            "hardened",
            "workstation",
            &[(1000, 3), (1001, 1)],
            &[
                "ACC-001 pass",
                "ACC-005 pass",
                "ACC-006 pass",
                "PWD-005 pass",
                "PWD-007 pass",
                "SVC-003 pass",
            ],
        ),
        (
            "weak",
            "workstation",
            &[
                (0, 1),
                (1000, 2),
                (1001, 5),
                (1002, 5),
                (1003, 200),
                (1004, 3),
                (1005, 1),
                (1006, 4),
                (1007, 6),
            ],
            &[
                "ACC-001 fail",
                "ACC-005 fail",
                "ACC-006 fail",
                "PWD-005 fail",
                "PWD-007 fail",
                "SVC-003 fail",
            ],
        ),
    ];
    for (name, role, logins, expect) in cases {
        let dir = prepare(name, logins);
        let checked = check_root(&dir.path().join("root"), &config(dir.path(), role));
        let (outcomes, findings) = evaluate(dir.path(), &checked.json);
        assert_eq!(&outcomes, expect, "{name}: {findings:#?}");
        if *name == "weak" {
            let detail = |id: &str| {
                findings.iter().find(|f| f["check_id"] == id).unwrap()["detail"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            };
            assert!(
                detail("ACC-001").contains("uid 0 aussi pour toor"),
                "{findings:#?}"
            );
            assert!(
                detail("PWD-007").contains("guest (uid 1002)")
                    && detail("PWD-007").contains("pi (uid 1001)")
            );
            assert!(
                detail("ACC-005").contains("ancien (uid 1003, dernière connexion il y a 200 j)")
            );
            assert!(detail("ACC-006").contains("NOPASSWD: ALL) pour deploy"));
            let svc = detail("SVC-003");
            for needle in [
                "NOPASSWD: ALL pour deploy",
                "négation",
                "use_pty, env_reset",
                "/etc/sudoers.d/99-oubli:1",
            ] {
                assert!(svc.contains(needle), "{needle}: {svc}");
            }
            // The non-UTF-8 name is carried lossily, its uid exactly.
            let v: serde_json::Value = serde_json::from_str(&checked.json).unwrap();
            let accounts = v["domains"]
                .as_array()
                .unwrap()
                .iter()
                .find(|d| d["domain"] == "ACCOUNTS")
                .unwrap();
            let clement = accounts["accounts"]["accounts"]
                .as_array()
                .unwrap()
                .iter()
                .find(|a| a["principal"]["uid"] == 1007)
                .unwrap();
            assert_eq!(clement["principal"]["name"], "cl\u{fffd}ment");
        }
    }
}

#[test]
fn no_hash_in_check_output_logs_or_probe_errors() {
    let mut shadows = Vec::new();
    for name in ["debian12-stock", "hardened", "weak"] {
        shadows.push(std::fs::read(fixture(name).join("etc/shadow")).unwrap());
    }
    let secrets = secrets_of(&shadows);
    assert!(
        secrets.len() > 30,
        "the fixtures must hold real-looking hashes"
    );
    for name in ["debian12-stock", "hardened", "weak"] {
        let dir = prepare(name, &[(1000, 1)]);
        let checked = check_root(&dir.path().join("root"), &config(dir.path(), "server"));
        assert!(checked.json.contains("\"hashScheme\""), "{}", checked.json);
        assert_no_secret(&secrets, "check --json", checked.json.as_bytes());
        assert_no_secret(&secrets, "check", checked.text.as_bytes());
        assert_no_secret(&secrets, "the agent's stderr", checked.stderr.as_bytes());
    }
    // A root whose passwd holds nothing but hashes: the probe fails, and says so without them.
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir_all(root.join("etc")).unwrap();
    let weak = String::from_utf8_lossy(&shadows[2]).into_owned();
    let hashes: Vec<&str> = weak
        .lines()
        .filter_map(|l| l.split(':').nth(1))
        .filter(|h| h.starts_with('$'))
        .collect();
    std::fs::write(
        root.join("etc/passwd"),
        format!("root:{}\n{}\n", hashes[0], hashes[1]),
    )
    .unwrap();
    std::fs::write(root.join("etc/shadow"), format!("root:{}\n", hashes[2])).unwrap();
    let checked = check_root(&root, &config(dir.path(), "server"));
    let v: serde_json::Value = serde_json::from_str(&checked.json).unwrap();
    let accounts = v["domains"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["domain"] == "ACCOUNTS")
        .unwrap();
    assert_eq!(
        accounts["error"]["message"],
        "reading /etc/passwd: no valid account line (2 malformed lines, AG0160)",
        "{accounts}"
    );
    assert!(checked.stderr.contains("AG0160"), "{}", checked.stderr);
    assert_no_secret(
        &secrets,
        "check --json of a failing probe",
        checked.json.as_bytes(),
    );
    assert_no_secret(
        &secrets,
        "check of a failing probe",
        checked.text.as_bytes(),
    );
    assert_no_secret(
        &secrets,
        "stderr of a failing probe",
        checked.stderr.as_bytes(),
    );
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if entry.file_type().unwrap().is_dir() {
            files_under(&path, out);
        } else if entry.file_type().unwrap().is_file() {
            out.push(path);
        }
    }
}

#[test]
fn no_hash_of_this_machine_reaches_the_collector() {
    // The agent's `run` reads the real `/`: the secrets are this machine's own shadow hashes
    // (tests run as root), plus the fixtures' for good measure.
    let mut shadows = vec![std::fs::read("/etc/shadow").unwrap_or_default()];
    shadows.push(std::fs::read(fixture("weak").join("etc/shadow")).unwrap());
    let secrets = secrets_of(&shadows);
    let tmp = tempfile::tempdir().unwrap();
    let c = Collector::start(tmp.path());
    c.admin_ok(&["org", "add", "mairie-a", "--name", "Mairie A"]);
    let mut a = Agent::new(tmp.path(), "a", 3600, 3600);
    a.enroll(&c, &c.token("mairie-a", "1h"));
    a.start();
    let host = a.host_id();
    let findings = wait_for("account findings", Duration::from_secs(60), || {
        let all = c.findings(None);
        all.iter()
            .any(|f| {
                f["host_id"] == host.as_str()
                    && f["check_id"] == "ACC-001"
                    && f["outcome"] != "unknown"
            })
            .then_some(all)
    });
    let acc = findings
        .iter()
        .find(|f| f["host_id"] == host.as_str() && f["check_id"] == "ACC-001")
        .unwrap();
    assert_ne!(acc["outcome"], "error", "{acc}");
    a.stop();
    let findings_json = serde_json::to_string(&findings).unwrap();
    assert_no_secret(
        &secrets,
        "the collector's findings",
        findings_json.as_bytes(),
    );
    let shown = run(Command::new(bin("vigie-collector"))
        .args(["host", "show", "--data-dir"])
        .arg(&c.dir)
        .arg(&host));
    assert!(
        shown.status.success(),
        "{}",
        String::from_utf8_lossy(&shown.stderr)
    );
    assert_no_secret(&secrets, "host show", &shown.stdout);
    assert_no_secret(&secrets, "the collector's log", c.log().as_bytes());
    let mut files = Vec::new();
    files_under(&c.dir, &mut files);
    files_under(&a.state, &mut files);
    assert!(!files.is_empty());
    for file in files {
        let bytes = std::fs::read(&file).unwrap_or_default();
        assert_no_secret(&secrets, &file.display().to_string(), &bytes);
    }
}
