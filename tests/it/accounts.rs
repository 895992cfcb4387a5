//! The accounts slice end to end: fixture roots judged by the real binaries (`vigie-agent check
//! --root`, then `vigie-collector evaluate`), and the proof that no password hash or salt from
//! shadow ever appears in what the agent prints, logs or sends, nor in what the collector stores.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::harness::{bin, run, wait_for, Agent, Collector};

const CHECKS: &[&str] = &[
    "ACC-001", "ACC-002", "ACC-003", "ACC-004", "ACC-005", "ACC-006", "PWD-005", "PWD-007",
    "SVC-003",
];
/// The organisation's contractor policy given to `evaluate` (ACC-003's named sources, ACC-004).
const POLICY: &[&str] = &[
    "--contractor-window",
    "mon-sun 08:00-18:00",
    "--tz",
    "Europe/Paris",
    "--source",
    "192.0.2.0/24",
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

/// `YYYY-MM-DDTHH:MM:SS+00:00` of a Unix time (rsyslog's RFC 3339 format in auth.log).
fn rfc3339(secs: i64) -> String {
    let out = Command::new("date")
        .args(["-u", "-d", &format!("@{secs}"), "+%Y-%m-%dT%H:%M:%S+00:00"])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// A copy of the fixture root with a lastlog written relative to now: `(uid, days ago)`. For the
/// hardened root, passwords are also dated 30 days ago and the contractor's account and key expire
/// in 30 days, since committed dates would age. Each root with a contractor gets an auth.log with
/// one of their logins three days ago: at noon UTC from the maintenance network (hardened), at
/// 03:00 UTC from elsewhere (weak).
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
                if !f[7].is_empty() {
                    f[7] = (today + 30).to_string();
                }
                f.join(":") + "\n"
            })
            .collect();
        std::fs::write(root.join("etc/shadow"), fresh).unwrap();
        let keys = root.join("home/presta-dupont/.ssh/authorized_keys");
        let text = std::fs::read_to_string(&keys).unwrap();
        let expiry = rfc3339((today + 30) * DAY_SECS)[..10].replace('-', "");
        std::fs::write(&keys, text.replace("20260101", &expiry)).unwrap();
    }
    let day = (today_of(now) - 3) * DAY_SECS;
    let line = match name {
        "hardened" => Some((day + 12 * 3600, "presta-dupont", "192.0.2.10")),
        "weak" => Some((day + 3 * 3600, "presta-martin", "203.0.113.7")),
        _ => None,
    };
    if let Some((at, who, from)) = line {
        std::fs::write(
            root.join("var/log/auth.log"),
            format!(
                "{} mairie-srv1 sshd[812]: Accepted publickey for {who} from {from} port 51234 ssh2: ED25519 SHA256:x\n",
                rfc3339(at)
            ),
        )
        .unwrap();
    }
    dir
}

fn today_of(now: i64) -> i64 {
    now / DAY_SECS
}

fn config(dir: &Path, role: &str) -> PathBuf {
    let path = dir.join("agent.toml");
    std::fs::write(
        &path,
        format!("role = \"{role}\"\n\n[probes.accounts]\ncontractor_groups = [\"prestataires\"]\n"),
    )
    .unwrap();
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
        .args(["--format", "json"])
        .args(POLICY));
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
                "ACC-002 not_applicable",
                "ACC-003 not_applicable",
                "ACC-004 not_applicable",
                "ACC-005 pass",
                "ACC-006 not_applicable",
                "PWD-005 fail",
                // Stock Debian passes `nullok` to pam_unix in common-auth.
                "PWD-007 fail",
                "SVC-003 pass",
            ],
        ),
        (
            "hardened",
            "workstation",
            &[(1000, 3), (1001, 1), (1002, 3)],
            &[
                "ACC-001 pass",
                "ACC-002 pass",
                "ACC-003 pass",
                "ACC-004 pass",
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
                "ACC-002 fail",
                "ACC-003 fail",
                "ACC-004 fail",
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
        let detail = |id: &str| {
            findings.iter().find(|f| f["check_id"] == id).unwrap()["detail"]
                .as_str()
                .unwrap()
                .to_owned()
        };
        let severity = |id: &str| {
            findings.iter().find(|f| f["check_id"] == id).unwrap()["severity"]
                .as_str()
                .unwrap()
                .to_owned()
        };
        if *name == "debian12-stock" {
            // nullok alone (no empty password) is a latent hole: high, not critical.
            assert_eq!(
                detail("PWD-007"),
                "nullok dans PAM (mot de passe vide accepté) : /etc/pam.d/common-auth:17"
            );
            assert_eq!(severity("PWD-007"), "high");
        }
        if *name == "hardened" {
            assert_eq!(
                detail("ACC-003"),
                "restreint : presta-dupont (source : clés SSH limitées par from= sans autre \
                 méthode, pam_access (/etc/security/access.conf:4) ; horaires : pam_time \
                 Wk0800-1800 (/etc/security/time.conf:2))"
            );
            assert!(
                detail("ACC-004").starts_with("1 connexion de prestataire, 0 échec ; toutes dans"),
                "{findings:#?}"
            );
        }
        if *name == "weak" {
            assert!(detail("PWD-007").contains(
                "nullok dans PAM (mot de passe vide accepté) : /etc/pam.d/common-password:4, /etc/pam.d/common-auth:3"
            ));
            assert_eq!(
                detail("ACC-002"),
                "expiration absente ou au-delà de 90 j : presta-martin (uid 1008, sans date \
                 d'expiration), presta-martin (uid 1008, 1 clé SSH sans expiry-time)"
            );
            assert_eq!(
                detail("ACC-003"),
                "accès prestataire non restreint : presta-martin : joignable depuis n'importe \
                 quelle adresse (essai 203.0.113.200), aucune plage horaire imposée (pam_time)"
            );
            assert!(
                detail("ACC-004").contains("depuis 203.0.113.7 : hors plage, source non déclarée"),
                "{findings:#?}"
            );
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

/// Runs `sqlite3 DB SQL` (the sqlite3 shell, as an administrator would) and asserts success.
fn sqlite3(db: &Path, sql: &str) {
    std::fs::create_dir_all(db.parent().unwrap()).unwrap();
    let out = run(Command::new("sqlite3").arg(db).arg(sql));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Debian 13: logins recorded only in wtmpdb and lastlog2 count. The lastlog of the stock root
/// says `mairie` (uid 1000) last logged in 200 days ago, so ACC-005 fails; wtmpdb records a
/// session 2 days ago, so it passes. The databases are made by the sqlite3 shell with the tables
/// wtmpdb's `lib/sqlite.c` and util-linux's liblastlog2 create (wtmpdb itself is not packaged for
/// Debian 12, where the tests run). Then a locked wtmpdb: a warning, the other sources still read.
#[test]
fn wtmpdb_and_lastlog2_logins_count_for_idle_accounts() {
    let dir = prepare("debian12-stock", &[(0, 20), (1000, 200)]);
    let root = dir.path().join("root");
    let cfg = config(dir.path(), "server");
    let acc005 = |json: &str| {
        let (outcomes, findings) = evaluate(dir.path(), json);
        assert!(
            outcomes.contains(&"ACC-005 pass".to_owned())
                || outcomes.contains(&"ACC-005 fail".to_owned()),
            "{outcomes:?}"
        );
        let f = findings
            .iter()
            .find(|f| f["check_id"] == "ACC-005")
            .unwrap();
        format!("{} {}", f["outcome"].as_str().unwrap(), f["detail"])
    };
    let before = check_root(&root, &cfg);
    let judged = acc005(&before.json);
    assert!(judged.starts_with("fail"), "{judged}");
    assert!(judged.contains("mairie (uid 1000"), "{judged}");

    let now = now_secs();
    let wtmp = root.join("var/lib/wtmpdb/wtmp.db");
    sqlite3(
        &wtmp,
        &format!(
            "CREATE TABLE IF NOT EXISTS wtmp(ID INTEGER PRIMARY KEY, Type INTEGER, User TEXT NOT NULL, Login INTEGER, Logout INTEGER, TTY TEXT, RemoteHost TEXT, Service TEXT) STRICT;\
             INSERT INTO wtmp (Type,User,Login,TTY,RemoteHost,Service) VALUES\
             (1,'reboot',{boot},'~','6.12.48+deb13-amd64',NULL),\
             (3,'mairie',{recent},'pts/0','198.51.100.77','sshd'),\
             (3,'mairie',{old},'pts/0','198.51.100.77','sshd');",
            boot = (now - DAY_SECS) * 1_000_000,
            recent = (now - 2 * DAY_SECS) * 1_000_000 + 123_456,
            old = (now - 300 * DAY_SECS) * 1_000_000,
        ),
    );
    let lastlog2 = root.join("var/lib/lastlog/lastlog2.db");
    sqlite3(
        &lastlog2,
        &format!(
            "CREATE TABLE IF NOT EXISTS Lastlog2(Name TEXT PRIMARY KEY, Time INTEGER, TTY TEXT, RemoteHost TEXT, Service TEXT);\
             REPLACE INTO Lastlog2 VALUES('root',{root_login},'tty1',NULL,'login');\
             REPLACE INTO Lastlog2 VALUES(CAST(X'FF00FE' AS TEXT),{root_login},NULL,NULL,NULL);\
             REPLACE INTO Lastlog2 VALUES('mairie','garbage',NULL,NULL,NULL);",
            root_login = now - 5 * DAY_SECS,
        ),
    );
    let wtmp_bytes = std::fs::read(&wtmp).unwrap();
    let after = check_root(&root, &cfg);
    let ev: serde_json::Value = serde_json::from_str(&after.json).unwrap();
    let accounts = find_accounts(&ev);
    assert_eq!(
        accounts["lastLoginSource"], "lastlog+wtmpdb+lastlog2",
        "{accounts}"
    );
    let last = |name: &str| {
        accounts["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["principal"]["name"] == name)
            .map(|a| match &a["lastLoginMs"] {
                serde_json::Value::String(s) => s.parse::<i64>().unwrap(),
                serde_json::Value::Number(n) => n.as_i64().unwrap(),
                other => panic!("lastLoginMs {other} in {a}"),
            })
            .unwrap()
    };
    let day_ms = |secs: i64| secs / DAY_SECS * DAY_SECS * 1000;
    assert_eq!(last("mairie"), day_ms(now - 2 * DAY_SECS));
    assert_eq!(last("root"), day_ms(now - 5 * DAY_SECS));
    let warnings = accounts["warnings"].to_string();
    assert!(
        warnings.contains("/var/lib/lastlog/lastlog2.db: 2 rows with an unusable user or time"),
        "{warnings}"
    );
    let judged = acc005(&after.json);
    assert!(judged.starts_with("pass"), "{judged}");
    // Nothing but times leaves: no remote host, TTY or service from the databases.
    for leaked in ["198.51.100.77", "6.12.48+deb13"] {
        assert!(!after.json.contains(leaked), "{leaked} left the host");
    }
    // Read-only: the database is byte for byte the same, no journal or WAL was left.
    assert_eq!(std::fs::read(&wtmp).unwrap(), wtmp_bytes);
    let mut names: Vec<String> = std::fs::read_dir(wtmp.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["wtmp.db"]);

    // A writer holds wtmpdb: the check finishes promptly with a warning naming the database, and
    // the other sources are still read.
    let mut writer = std::process::Command::new("sqlite3")
        .arg(&wtmp)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let stdin = writer.stdin.as_mut().unwrap();
        stdin
            .write_all(b"BEGIN EXCLUSIVE;\nSELECT 'locked';\n")
            .unwrap();
        stdin.flush().unwrap();
    }
    {
        use std::io::Read;
        let mut buf = [0u8; 7];
        writer
            .stdout
            .as_mut()
            .unwrap()
            .read_exact(&mut buf)
            .unwrap();
        assert_eq!(&buf, b"locked\n");
    }
    let started = std::time::Instant::now();
    let locked = check_root(&root, &cfg);
    let elapsed = started.elapsed();
    drop(writer.stdin.take());
    writer.wait().unwrap();
    assert!(elapsed < Duration::from_secs(30), "{elapsed:?}");
    let ev: serde_json::Value = serde_json::from_str(&locked.json).unwrap();
    let accounts = find_accounts(&ev);
    assert_eq!(accounts["lastLoginSource"], "lastlog+lastlog2");
    assert!(
        accounts["warnings"]
            .to_string()
            .contains("reading /var/lib/wtmpdb/wtmp.db: locked by a writer"),
        "{}",
        accounts["warnings"]
    );
}

/// The accounts state inside `check --json`'s evidence, wherever the encoding nests it.
fn find_accounts(v: &serde_json::Value) -> serde_json::Value {
    if v.get("lastLoginSource").is_some() {
        return v.clone();
    }
    let children: Vec<&serde_json::Value> = match v {
        serde_json::Value::Object(m) => m.values().collect(),
        serde_json::Value::Array(a) => a.iter().collect(),
        _ => Vec::new(),
    };
    for c in children {
        let found = find_accounts(c);
        if !found.is_null() {
            return found;
        }
    }
    serde_json::Value::Null
}
