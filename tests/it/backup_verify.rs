//! `vigie-agent backup-verify` against the real restic and borg: a passing restore test recorded
//! and reported (`check --json`, BKP-005 in `vigie-collector evaluate`), a source changed since the
//! backup skipped rather than counted as different, and a damaged repository or a wrong password
//! giving a failed test; every time the temporary directory is gone and nothing was written
//! outside it but the record.

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

use crate::harness::{bin, ok, run};

const PASSWORD: &str = "correct horse battery staple";

fn tool(program: &str, pw: &Path, base: &Path) -> Command {
    let mut c = Command::new(program);
    c.env("RESTIC_PASSWORD_FILE", pw)
        .env("BORG_PASSCOMMAND", format!("cat {}", pw.display()))
        .env("BORG_BASE_DIR", base)
        .env("LC_ALL", "C")
        .stdin(Stdio::null());
    c
}

/// Every path under `dir` with its size, mtime and mode (what a stray write would change).
fn listing(dir: &Path) -> BTreeMap<PathBuf, (u64, i64, i64, u32)> {
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let m = std::fs::symlink_metadata(e.path()).unwrap();
            let rel = e.path().strip_prefix(dir).unwrap().to_path_buf();
            let mtime = if m.is_dir() { 0 } else { m.mtime() };
            let nsec = if m.is_dir() { 0 } else { m.mtime_nsec() };
            out.insert(
                rel,
                (if m.is_dir() { 0 } else { m.len() }, mtime, nsec, m.mode()),
            );
            if m.is_dir() {
                todo.push(e.path());
            }
        }
    }
    out
}

struct Setup {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    src: PathBuf,
    state: PathBuf,
    restic: PathBuf,
    cfg: PathBuf,
    /// The same config plus a borg job with the wrong password.
    with_wrong: String,
}

fn setup() -> Setup {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let src = dir.join("src");
    std::fs::create_dir_all(src.join("sub/deep")).unwrap();
    std::fs::write(
        src.join("deliberations.txt"),
        "conseil municipal\n".repeat(100),
    )
    .unwrap();
    std::fs::write(src.join("sub/etat-civil.csv"), "a;b;c\n".repeat(50)).unwrap();
    std::fs::write(src.join("sub/deep/budget.ods"), vec![7u8; 70_000]).unwrap();
    std::fs::write(src.join("vide"), "").unwrap();
    std::os::unix::fs::symlink("deliberations.txt", src.join("lien")).unwrap();
    let pw = dir.join("backup.pw");
    std::fs::write(&pw, format!("{PASSWORD}\n")).unwrap();
    std::fs::set_permissions(&pw, std::fs::Permissions::from_mode(0o600)).unwrap();
    let wrong = dir.join("wrong.pw");
    std::fs::write(&wrong, "not it\n").unwrap();
    let base = dir.join("borg-home");
    let restic = dir.join("restic-repo");
    let borg = dir.join("borg-repo");
    ok(tool("restic", &pw, &base)
        .args(["init", "-q", "-r"])
        .arg(&restic));
    ok(tool("restic", &pw, &base)
        .arg("-r")
        .arg(&restic)
        .args(["backup", "-q"])
        .arg(&src));
    ok(tool("borg", &pw, &base)
        .args(["init", "-e", "repokey-blake2"])
        .arg(&borg));
    ok(tool("borg", &pw, &base)
        .arg("create")
        .arg(format!("{}::lundi", borg.display()))
        .arg(&src));
    let state = dir.join("state");
    std::fs::create_dir(&state).unwrap();
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o700)).unwrap();
    let job = |name: &str, t: &str, repo: &Path, pw: &Path| {
        format!(
            "[[probes.backups.jobs]]\nname = \"{name}\"\ntool = \"{t}\"\nrepository = \"{}\"\npassword_file = \"{}\"\nexpected_period = \"1d\"\n",
            repo.display(),
            pw.display()
        )
    };
    let cfg = dir.join("agent.toml");
    let head = "[probes.patches]\nenabled = false\n[probes.antivirus]\nenabled = false\n";
    let jobs = format!(
        "{head}{}{}",
        job("r", "restic", &restic, &pw),
        job("b", "borg", &borg, &pw)
    );
    std::fs::write(&cfg, &jobs).unwrap();
    let with_wrong = format!("{jobs}{}", job("b-wrong", "borg", &borg, &wrong));
    Setup {
        _tmp: tmp,
        dir,
        src,
        state,
        restic,
        cfg,
        with_wrong,
    }
}

fn verify(s: &Setup, job: &str) -> Output {
    run(Command::new(bin("vigie-agent"))
        .arg("--config")
        .arg(&s.cfg)
        .args([
            "backup-verify",
            "--job",
            job,
            "--sample",
            "10",
            "--state-dir",
        ])
        .arg(&s.state)
        .env("TMPDIR", s.dir.join("no-such-tmp")))
}

fn record(s: &Setup, job: &str) -> Value {
    let p = s
        .state
        .join("backups/restore-tests")
        .join(format!("{job}.json"));
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

/// The state directory holds the records and their directories, and no temporary directory.
#[track_caller]
fn assert_only_records(s: &Setup, jobs: &[&str]) {
    let mut want: Vec<PathBuf> = vec!["backups".into(), "backups/restore-tests".into()];
    want.extend(
        jobs.iter()
            .map(|j| PathBuf::from(format!("backups/restore-tests/{j}.json"))),
    );
    want.sort();
    let got: Vec<PathBuf> = listing(&s.state).into_keys().collect();
    assert_eq!(got, want);
}

#[track_caller]
fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn check_json(s: &Setup) -> Value {
    let out = ok(Command::new(bin("vigie-agent"))
        .arg("--config")
        .arg(&s.cfg)
        .args(["check", "--json", "--state-dir"])
        .arg(&s.state));
    serde_json::from_str(&out).unwrap()
}

fn job<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["domains"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["domain"] == "BACKUPS")
        .unwrap()["backups"]["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["name"] == name)
        .unwrap()
}

/// `(outcome, detail)` of BKP-005 as `vigie-collector evaluate` judges `report`.
fn bkp_005(dir: &Path, report: &Value) -> (String, String) {
    let file = dir.join("evidence.json");
    std::fs::write(&file, report.to_string()).unwrap();
    let out = ok(Command::new(bin("vigie-collector"))
        .arg("evaluate")
        .arg("--evidence")
        .arg(&file)
        .args(["--format", "json"]));
    let findings: Vec<Value> = serde_json::from_str(&out).unwrap();
    let f = findings
        .iter()
        .find(|f| f["check_id"] == "BKP-005")
        .unwrap();
    (
        f["outcome"].as_str().unwrap().to_owned(),
        f["detail"].as_str().unwrap_or_default().to_owned(),
    )
}

#[test]
fn restore_tests_pass_skip_changed_sources_and_fail_on_damage() {
    let s = setup();
    let src_before = listing(&s.src);

    // A passing test per tool, recorded, reported and judged.
    for name in ["r", "b"] {
        let out = verify(&s, name);
        assert!(
            out.status.success(),
            "{name}: {} {}",
            stdout(&out),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            stdout(&out).starts_with(&format!(
                "test de restauration réussi pour « {name} » : 4 fichier(s)"
            )),
            "{}",
            stdout(&out)
        );
        let r = record(&s, name);
        assert_eq!(
            (&r["ok"], &r["files_compared"], &r["files_differing"]),
            (&Value::Bool(true), &Value::from(4), &Value::from(0)),
            "{r}"
        );
        assert!(!r["snapshot_id"].as_str().unwrap().is_empty());
    }
    assert_only_records(&s, &["b", "r"]);
    assert_eq!(listing(&s.src), src_before, "the sources were not touched");
    let report = check_json(&s);
    for name in ["r", "b"] {
        let j = job(&report, name);
        assert_eq!(j["restoreTest"]["ok"], true, "{j}");
        assert_eq!(j["restoreTest"]["source"], "backup-verify", "{j}");
        assert!(j["lastRestoreTestMs"].as_str().is_some(), "{j}");
    }
    let (outcome, detail) = bkp_005(&s.dir, &report);
    assert_eq!(outcome, "pass", "{detail}");

    // A source changed after the snapshot is skipped, never counted as different.
    std::fs::write(s.src.join("sub/etat-civil.csv"), "modifié\n").unwrap();
    let src_before = listing(&s.src);
    let out = verify(&s, "r");
    assert!(out.status.success(), "{}", stdout(&out));
    let r = record(&s, "r");
    assert_eq!(
        (
            &r["files_compared"],
            &r["files_differing"],
            &r["files_skipped"]
        ),
        (&Value::from(3), &Value::from(0), &Value::from(1)),
        "{r}"
    );
    assert_eq!(listing(&s.src), src_before);

    // A wrong password: a failed test, recorded.
    let jobs = std::fs::read_to_string(&s.cfg).unwrap();
    std::fs::write(&s.cfg, &s.with_wrong).unwrap();
    let out = verify(&s, "b-wrong");
    std::fs::write(&s.cfg, jobs).unwrap();
    assert!(!out.status.success(), "{}", stdout(&out));
    assert!(
        stdout(&out).starts_with("test de restauration en échec pour « b-wrong » : AG0202"),
        "{}",
        stdout(&out)
    );
    let r = record(&s, "b-wrong");
    assert_eq!(r["ok"], false, "{r}");
    assert!(!r.to_string().contains(PASSWORD));

    // Damaged repository data: every pack file cut in half.
    for e in walk(&s.restic.join("data")) {
        let len = std::fs::metadata(&e).unwrap().len();
        std::fs::set_permissions(&e, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::File::options()
            .write(true)
            .open(&e)
            .unwrap()
            .set_len(len / 2)
            .unwrap();
    }
    let out = verify(&s, "r");
    assert!(!out.status.success(), "{}", stdout(&out));
    assert!(
        stdout(&out).starts_with("test de restauration en échec pour « r »"),
        "{}",
        stdout(&out)
    );
    assert_eq!(record(&s, "r")["ok"], false);
    assert_only_records(&s, &["b", "b-wrong", "r"]);
    assert_eq!(listing(&s.src), src_before);
    let report = check_json(&s);
    let j = job(&report, "r");
    assert_eq!(j["restoreTest"]["ok"], serde_json::Value::Null, "{j}");
    assert!(
        j["lastRestoreTestMs"].as_str().is_some(),
        "the older success stays known: {j}"
    );
    let (outcome, detail) = bkp_005(&s.dir, &report);
    assert!(outcome.starts_with("fail"), "{outcome}: {detail}");
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files.extend(walk(&p));
        } else {
            files.push(p);
        }
    }
    files
}
