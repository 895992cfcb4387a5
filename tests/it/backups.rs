//! The backups probe against the real tools of Debian 12 (restic 0.14, borg 1.2): real repositories
//! made in a temporary directory, real backups, then `vigie-agent check --json`; then the same
//! repositories broken (wrong password, deleted repository, stale locks, a garbage status file),
//! push records from `vigie-agent backup-done` (hostile ones included), and a run as an unprivileged
//! user with only CAP_DAC_READ_SEARCH (DESIGN decision 4).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::harness::{bin, ok, run, wait_for};

const PASSWORD: &str = "correct horse battery staple";

/// A small tree, a password file, a restic and a borg repository with real backups in them.
struct Repos {
    dir: PathBuf,
    pw: PathBuf,
    restic: PathBuf,
    borg: PathBuf,
    status: PathBuf,
}

fn tool(program: &str, pw: &Path, base: &Path) -> Command {
    let mut c = Command::new(program);
    c.env("RESTIC_PASSWORD_FILE", pw)
        .env("BORG_PASSCOMMAND", format!("cat {}", pw.display()))
        .env("BORG_BASE_DIR", base)
        .env("LC_ALL", "C")
        .stdin(Stdio::null());
    c
}

fn make_repos(dir: &Path) -> Repos {
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let src = dir.join("src");
    std::fs::create_dir_all(src.join("sub")).unwrap();
    std::fs::write(
        src.join("deliberations.txt"),
        "conseil municipal\n".repeat(100),
    )
    .unwrap();
    std::fs::write(src.join("sub/etat-civil.csv"), "a;b;c\n".repeat(50)).unwrap();
    let pw = dir.join("backup.pw");
    std::fs::write(&pw, format!("{PASSWORD}\n")).unwrap();
    std::fs::set_permissions(&pw, std::fs::Permissions::from_mode(0o600)).unwrap();
    let base = dir.join("borg-home");
    let restic = dir.join("restic-repo");
    let borg = dir.join("borg-repo");
    let status = dir.join("restic-status.jsonl");
    ok(tool("restic", &pw, &base)
        .args(["init", "-q", "-r"])
        .arg(&restic));
    let out = ok(tool("restic", &pw, &base)
        .arg("-r")
        .arg(&restic)
        .args(["backup", "--json"])
        .arg(&src));
    std::fs::write(&status, out).unwrap();
    ok(tool("restic", &pw, &base)
        .arg("-r")
        .arg(&restic)
        .args(["backup", "-q"])
        .arg(&src));
    ok(tool("borg", &pw, &base)
        .args(["init", "-e", "repokey-blake2"])
        .arg(&borg));
    for name in ["lundi", "mardi", "mercredi"] {
        ok(tool("borg", &pw, &base)
            .arg("create")
            .arg(format!("{}::{name}", borg.display()))
            .arg(&src));
    }
    Repos {
        dir: dir.to_path_buf(),
        pw,
        restic,
        borg,
        status,
    }
}

/// An agent config with the given `[[probes.backups.jobs]]` entries; slow unrelated probes off.
fn config(dir: &Path, jobs: &str) -> PathBuf {
    let path = dir.join("agent.toml");
    std::fs::write(
        &path,
        format!("[probes.patches]\nenabled = false\n[probes.antivirus]\nenabled = false\n{jobs}"),
    )
    .unwrap();
    path
}

fn restic_job(name: &str, repo: &Path, pw: &Path, extra: &str) -> String {
    format!(
        "[[probes.backups.jobs]]\nname = \"{name}\"\ntool = \"restic\"\nrepository = \"{}\"\npassword_file = \"{}\"\nexpected_period = \"1d\"\ngrace = \"2h\"\n{extra}",
        repo.display(),
        pw.display()
    )
}

fn borg_job(name: &str, repo: &Path, pw: &Path) -> String {
    format!(
        "[[probes.backups.jobs]]\nname = \"{name}\"\ntool = \"borg\"\nrepository = \"{}\"\npassword_command = [\"/bin/cat\", \"{}\"]\n\
         [[probes.backups.jobs.destinations]]\nname = \"usb\"\nkind = \"removable\"\nlocator = \"{}\"\nsite = \"mairie\"\noffline = true\n",
        repo.display(),
        pw.display(),
        repo.display()
    )
}

/// `check --json` with `cfg`, as `cmd` (the real binary by default), returning the backup jobs by
/// name and the probe-level problems.
fn check_with(
    mut cmd: Command,
    cfg: &Path,
    state: Option<&Path>,
) -> (Vec<Value>, Vec<String>, String) {
    cmd.arg("--config").arg(cfg).args(["check", "--json"]);
    if let Some(s) = state {
        cmd.arg("--state-dir").arg(s);
    }
    let out = run(&mut cmd);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_str(&stdout).unwrap();
    let d = v["domains"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["domain"] == "BACKUPS")
        .unwrap()
        .clone();
    assert_eq!(d["probeId"], "backups.jobs", "{d}");
    let b = &d["backups"];
    let jobs = b["jobs"].as_array().cloned().unwrap_or_default();
    let problems = b["problems"]
        .as_array()
        .map(|p| p.iter().map(|s| s.as_str().unwrap().to_owned()).collect())
        .unwrap_or_default();
    (jobs, problems, stdout)
}

fn check(cfg: &Path, state: Option<&Path>) -> (Vec<Value>, Vec<String>, String) {
    check_with(Command::new(bin("vigie-agent")), cfg, state)
}

fn job<'a>(jobs: &'a [Value], name: &str) -> &'a Value {
    jobs.iter()
        .find(|j| j["name"] == name)
        .unwrap_or_else(|| panic!("no job {name} in {jobs:?}"))
}

/// proto3 JSON: 64-bit integers are strings, defaults are omitted.
fn int(v: &Value) -> i64 {
    v.as_str().map_or(0, |s| s.parse().unwrap())
}

fn now_ms() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

#[track_caller]
fn assert_recent(ms: i64) {
    let age = now_ms() - ms;
    assert!(
        (0..600_000).contains(&age),
        "timestamp {ms} is {age} ms old"
    );
}

#[test]
fn real_restic_and_borg_give_per_job_evidence_and_failures_stay_per_job() {
    let tmp = tempfile::tempdir().unwrap();
    let r = make_repos(tmp.path());
    let wrong = r.dir.join("wrong.pw");
    std::fs::write(&wrong, "not the password\n").unwrap();
    let gone = r.dir.join("deleted-repo");
    ok(tool("restic", &r.pw, &r.dir.join("bh"))
        .args(["init", "-q", "-r"])
        .arg(&gone));
    std::fs::remove_dir_all(&gone).unwrap();
    let garbage_status = r.dir.join("garbage-status.jsonl");
    std::fs::write(
        &garbage_status,
        "\u{0}\u{1}not json at all\n{\"message_type\":\n",
    )
    .unwrap();
    let jobs = [
        restic_job(
            "restic-nas",
            &r.restic,
            &r.pw,
            &format!(
                "status_file = \"{}\"\n[[probes.backups.jobs.destinations]]\nname = \"nas\"\nkind = \"nas_lan\"\nlocator = \"{}\"\nsite = \"mairie\"\n\
                 [[probes.backups.jobs.destinations]]\nname = \"cloud\"\nkind = \"object_storage\"\nlocator = \"s3:https://u:secret@s3.example/b\"\nsite = \"cloud\"\nimmutable = true\n",
                r.status.display(),
                r.restic.display()
            ),
        ),
        borg_job("borg-usb", &r.borg, &r.pw),
        restic_job("restic-wrong-pw", &r.restic, &wrong, ""),
        borg_job("borg-wrong-pw", &r.borg, &wrong),
        restic_job("restic-gone", &gone, &r.pw, ""),
        borg_job("borg-gone", &gone, &r.pw),
        restic_job("restic-garbage-status", &r.restic, &r.pw, &format!("status_file = \"{}\"\n", garbage_status.display())),
    ]
    .concat();
    let cfg = config(&r.dir, &jobs);
    let (jobs, problems, text) = check(&cfg, None);
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(jobs.len(), 7);
    assert!(
        !text.contains(PASSWORD) && !text.contains("secret@"),
        "a secret leaked: {text}"
    );

    // restic 0.14: two snapshots, encrypted, the last run's size and duration from the status file
    // (0.14 snapshots carry no summary).
    let j = job(&jobs, "restic-nas");
    assert!(j.get("error").is_none(), "{j}");
    assert_eq!(j["tool"], "restic");
    assert_eq!(j["toolVersion"], "0.14.0");
    assert_eq!(int(&j["restorePoints"]), 2);
    assert_eq!(j["restorePointsKnown"], true);
    assert_eq!(j["encryption"], "ENCRYPTED");
    assert_eq!(j["lastOutcome"], "SUCCESS");
    assert_recent(int(&j["lastSuccessMs"]));
    assert_eq!(int(&j["expectedPeriodSecs"]), 86_400);
    assert_eq!(int(&j["graceSecs"]), 7_200);
    let dests = j["destinations"].as_array().unwrap();
    assert_eq!(dests[0]["observed"], true);
    assert_eq!(int(&dests[0]["lastSuccessMs"]), int(&j["lastSuccessMs"]));
    assert_eq!(dests[1]["observed"], Value::Null, "declared only: {j}");
    assert_eq!(dests[1]["locator"], "s3:https://u:***@s3.example/b");
    assert_eq!(dests[1]["immutable"], true);
    let sources: Vec<&str> = j["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["source"]["kind"].as_str().unwrap())
        .collect();
    assert_eq!(sources, ["file", "cmd"], "{j}");

    // borg 1.2: three archives, repokey, size and end from `info --last 1`, dates in UTC.
    let j = job(&jobs, "borg-usb");
    assert!(j.get("error").is_none(), "{j}");
    assert_eq!(j["toolVersion"], "1.2.4");
    assert_eq!(int(&j["restorePoints"]), 3);
    assert_eq!(j["encryption"], "ENCRYPTED");
    assert_eq!(j["encryptionMode"], "repokey-blake2");
    assert_eq!(j["lastSnapshotId"], "mercredi");
    assert_eq!(j["sizeKnown"], true);
    assert_eq!(int(&j["sizeBytes"]), 18 * 100 + 6 * 50);
    assert_eq!(int(&j["files"]), 2);
    assert_recent(int(&j["lastSuccessMs"]));
    assert_eq!(j["destinations"][0]["offline"], true);
    assert_eq!(j["destinations"][0]["observed"], true);

    // restic 0.14 has no exit code 12: stderr tells the wrong password apart.
    for (name, code, needle) in [
        ("restic-wrong-pw", "AG0202", "wrong password"),
        ("borg-wrong-pw", "AG0202", "wrong password"),
        ("restic-gone", "AG0203", "does not exist"),
        ("borg-gone", "AG0203", "does not exist"),
    ] {
        let j = job(&jobs, name);
        assert_eq!(j["error"]["code"], code, "{j}");
        let msg = j["error"]["message"].as_str().unwrap();
        assert!(
            msg.contains(needle) && msg.contains(&format!("job {name}")),
            "{msg}"
        );
        assert!(j.get("lastSuccessMs").is_none(), "{j}");
    }
    let j = job(&jobs, "restic-garbage-status");
    assert!(j.get("error").is_none(), "{j}");
    assert_eq!(int(&j["restorePoints"]), 2);
    let p = j["problems"][0].as_str().unwrap();
    assert!(
        p.contains("no restic `summary` or `exit_error` line"),
        "{p}"
    );
    // check mode wrote nothing next to the repositories and left no borg home behind.
    assert!(!r.dir.join("backups").exists());
}

#[test]
fn stale_locks_do_not_blind_the_probe() {
    let tmp = tempfile::tempdir().unwrap();
    let r = make_repos(tmp.path());
    // restic: a real lock left by a backup killed with SIGKILL.
    let mut child = tool("restic", &r.pw, &r.dir.join("bh"))
        .arg("-r")
        .arg(&r.restic)
        .args(["backup", "--stdin", "--stdin-filename", "pipe"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let locks = r.restic.join("locks");
    wait_for("restic's lock", Duration::from_secs(20), || {
        (std::fs::read_dir(&locks).ok()?.count() > 0).then_some(())
    });
    child.kill().unwrap();
    child.wait().unwrap();
    // borg: an exclusive lock of another host, which blocks borg without --bypass-lock.
    let lock = r.borg.join("lock.exclusive");
    std::fs::create_dir(&lock).unwrap();
    std::fs::write(lock.join("other-host@123456789.4242-0"), "").unwrap();
    let out = run(tool("borg", &r.pw, &r.dir.join("bh"))
        .args(["list", "--lock-wait", "1"])
        .arg(&r.borg));
    assert!(
        !out.status.success(),
        "the hand-made borg lock does not block"
    );
    let cfg = config(
        &r.dir,
        &[
            borg_job("borg", &r.borg, &r.pw),
            restic_job("restic", &r.restic, &r.pw, ""),
        ]
        .concat(),
    );
    let (jobs, _, _) = check(&cfg, None);
    for name in ["borg", "restic"] {
        let j = job(&jobs, name);
        assert!(j.get("error").is_none(), "{j}");
        assert_recent(int(&j["lastSuccessMs"]));
    }
    // Both locks are still there: the probe neither took nor removed any.
    assert!(std::fs::read_dir(&locks).unwrap().count() > 0);
    assert!(lock.exists());
}

#[test]
fn push_records_are_picked_up_and_hostile_ones_ignored() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let done = |args: &[&str]| {
        ok(Command::new(bin("vigie-agent"))
            .args(["backup-done", "--state-dir"])
            .arg(&state)
            .args(args))
    };
    let cfg = config(
        tmp.path(),
        "[[probes.backups.jobs]]\nname = \"nas-rsync\"\ntool = \"push\"\nexpected_period = \"1d\"\n",
    );
    done(&["--job", "nas-rsync", "--status", "ok", "--size", "123456"]);
    let (jobs, problems, _) = check(&cfg, Some(&state));
    assert!(problems.is_empty(), "{problems:?}");
    let j = job(&jobs, "nas-rsync");
    assert_eq!(j["lastOutcome"], "SUCCESS", "{j}");
    assert_eq!(int(&j["sizeBytes"]), 123_456);
    let success = int(&j["lastSuccessMs"]);
    assert_recent(success);

    // Failure with a message carrying a terminal escape and a newline: kept, neutralised.
    std::thread::sleep(Duration::from_millis(20));
    done(&[
        "--job",
        "nas-rsync",
        "--status",
        "failed",
        "--message",
        "rsync: No space left\n\u{1b}[2J",
    ]);
    // Hostile records from a local user who can write the directory.
    let incoming = state.join("spool/incoming");
    std::fs::write(incoming.join("huge.json"), vec![b'{'; 100_000]).unwrap();
    std::fs::write(incoming.join("bad.json"), "{\"v\":1,\"job\":").unwrap();
    std::fs::write(
        incoming.join("undeclared.json"),
        r#"{"v":1,"job":"ghost","status":"ok"}"#,
    )
    .unwrap();
    std::os::unix::fs::symlink("/etc/shadow", incoming.join("shadow.json")).unwrap();
    let (jobs, mut problems, _) = check(&cfg, Some(&state));
    let j = job(&jobs, "nas-rsync");
    assert_eq!(j["lastOutcome"], "FAILURE", "{j}");
    assert_eq!(int(&j["lastSuccessMs"]), success);
    assert!(int(&j["lastFailureMs"]) >= success);
    assert_eq!(j["lastFailureMessage"], "rsync: No space left??[2J");
    problems.sort();
    assert_eq!(problems.len(), 4, "{problems:?}");
    assert!(
        problems[0].starts_with("push record ignored: bad.json: not a valid push record"),
        "{problems:?}"
    );
    assert!(
        problems[1].contains("huge.json: 100000 bytes, more than 4096"),
        "{problems:?}"
    );
    assert!(
        problems[2].contains("shadow.json: cannot open"),
        "{problems:?}"
    );
    assert!(
        problems[3].contains("job \"ghost\" is not declared"),
        "{problems:?}"
    );
    // check is read-only: every record is still there.
    assert_eq!(std::fs::read_dir(&incoming).unwrap().count(), 6);
    // An undeclared or malformed job name is refused by the command itself.
    let out = run(Command::new(bin("vigie-agent"))
        .args(["backup-done", "--state-dir"])
        .arg(&state)
        .args(["--job", "../../etc", "--status", "ok"]));
    assert!(!out.status.success());
}

#[test]
fn restic_and_borg_jobs_work_as_an_unprivileged_user_with_cap_dac_read_search() {
    let tmp = tempfile::tempdir().unwrap();
    let r = make_repos(tmp.path());
    // Root-only repositories and password: only CAP_DAC_READ_SEARCH lets `nobody` read them.
    for p in [&r.restic, &r.borg] {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    let agent = r.dir.join("vigie-agent");
    std::fs::copy(bin("vigie-agent"), &agent).unwrap();
    let cfg = config(
        &r.dir,
        &[
            borg_job("borg", &r.borg, &r.pw),
            restic_job("restic", &r.restic, &r.pw, ""),
        ]
        .concat(),
    );
    let mut cmd = Command::new("setpriv");
    cmd.args([
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        "--inh-caps=-all,+dac_read_search",
        "--ambient-caps=+dac_read_search",
        "--bounding-set=-all,+dac_read_search",
        "--",
    ])
    .arg(&agent)
    .env("TMPDIR", "/tmp")
    .current_dir(&r.dir);
    let (jobs, _, _) = check_with(cmd, &cfg, None);
    for name in ["borg", "restic"] {
        let j = job(&jobs, name);
        assert!(j.get("error").is_none(), "{j}");
        assert_eq!(j["encryption"], "ENCRYPTED");
        assert_recent(int(&j["lastSuccessMs"]));
    }
    assert_eq!(int(&job(&jobs, "borg")["restorePoints"]), 3);
    assert_eq!(int(&job(&jobs, "restic")["restorePoints"]), 2);
}

#[test]
fn borg_keyfile_repository_needs_the_users_keys_dir_and_the_security_dir_dates_writes() {
    let tmp = tempfile::tempdir().unwrap();
    let r = make_repos(tmp.path());
    // A keyfile repository: its key lives in the backup user's home, not in the repository.
    let home = r.dir.join("borg-home");
    let keyfile = r.dir.join("borg-keyfile");
    ok(tool("borg", &r.pw, &home)
        .args(["init", "-e", "keyfile-blake2"])
        .arg(&keyfile));
    ok(tool("borg", &r.pw, &home)
        .arg("create")
        .arg(format!("{}::jeudi", keyfile.display()))
        .arg(r.dir.join("src")));
    let keys = home.join(".config/borg/keys");
    let security = home.join(".config/borg/security");
    let missing_keys = r.dir.join("no-such-keys-dir");
    let wrong = r.dir.join("wrong.pw");
    std::fs::write(&wrong, "not the password\n").unwrap();
    let borg_with = |name: &str, repo: &Path, pw: &Path, extra: &str| {
        format!(
            "[[probes.backups.jobs]]\nname = \"{name}\"\ntool = \"borg\"\nrepository = \"{}\"\npassword_file = \"{}\"\n{extra}",
            repo.display(),
            pw.display()
        )
    };
    let sec = format!("borg_security_dir = \"{}\"\n", security.display());
    let cfg = config(
        &r.dir,
        &[
            borg_with(
                "keyfile",
                &keyfile,
                &r.pw,
                &format!("borg_keys_dir = \"{}\"\n{sec}", keys.display()),
            ),
            borg_with("keyfile-no-keys-dir", &keyfile, &r.pw, ""),
            borg_with(
                "keyfile-missing-keys-dir",
                &keyfile,
                &r.pw,
                &format!("borg_keys_dir = \"{}\"\n", missing_keys.display()),
            ),
            borg_with("repokey-wrong-pw", &r.borg, &wrong, &sec),
        ]
        .concat(),
    );
    let (jobs, _, text) = check(&cfg, None);
    assert!(!text.contains(PASSWORD), "a secret leaked");

    let j = job(&jobs, "keyfile");
    assert!(j.get("error").is_none(), "{j}");
    assert_eq!(j["encryptionMode"], "keyfile-blake2");
    assert_eq!(int(&j["restorePoints"]), 1);
    assert_eq!(j["lastSnapshotId"], "jeudi");
    // The security directory's manifest-timestamp: the create just made.
    let written = int(&j["lastRepositoryWriteMs"]);
    assert_recent(written);
    assert!(
        (written - int(&j["lastSuccessMs"])).abs() < 60_000,
        "{written} vs {j}"
    );

    // Without the keys directory borg looks in its own (private) home and finds no key: said so.
    let j = job(&jobs, "keyfile-no-keys-dir");
    assert_eq!(j["error"]["code"], "AG0212", "{j}");
    let msg = j["error"]["message"].as_str().unwrap();
    assert!(msg.contains("set borg_keys_dir"), "{msg}");
    // A declared keys directory that does not exist is refused before borg would create it.
    let j = job(&jobs, "keyfile-missing-keys-dir");
    assert_eq!(j["error"]["code"], "AG0208", "{j}");
    assert!(!missing_keys.exists(), "borg created the keys directory");

    // Wrong password: no archive can be read, but the security directory (found by the
    // repository's location) still dates the last write, without any secret.
    let j = job(&jobs, "repokey-wrong-pw");
    assert_eq!(j["error"]["code"], "AG0202", "{j}");
    assert_recent(int(&j["lastRepositoryWriteMs"]));
    let sources = j["sources"].to_string();
    assert!(
        sources.contains("lastRepositoryWriteMs") || sources.contains("last_repository_write_ms"),
        "{sources}"
    );
}

/// The example configuration documents every kind of job commented out: uncommented, each must be
/// a valid job, so that the documentation cannot drift from the parser.
#[test]
fn example_backup_jobs_are_valid_once_uncommented() {
    let example = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../packaging/agent.toml.example"),
    )
    .unwrap();
    let section = &example[example.find("[probes.backups]").unwrap()..];
    let text: String = section
        .lines()
        .map(|l| match l.strip_prefix('#') {
            Some(rest) if rest.starts_with(|c: char| c.is_ascii_alphabetic() || c == '[') => rest,
            _ => l,
        })
        .map(|l| format!("{l}\n"))
        .collect();
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("agent.toml");
    std::fs::write(&path, &text).unwrap();
    let cfg = vigie_agent::config::AgentConfig::load(Some(&path)).unwrap();
    vigie_agent::probe::all_probes(&cfg.probes).unwrap();
    let tools: std::collections::BTreeSet<&str> = cfg
        .probes
        .backups
        .jobs
        .iter()
        .map(|j| j.tool.as_str())
        .collect();
    assert_eq!(
        tools.into_iter().collect::<Vec<_>>(),
        [
            "borg",
            "freshness",
            "pbs",
            "push",
            "restic",
            "rsnapshot",
            "systemd",
            "vzdump"
        ],
        "{text}"
    );
}

#[test]
fn damaged_restic_repositories_are_said_so() {
    let tmp = tempfile::tempdir().unwrap();
    let r = make_repos(tmp.path());
    // One of the two snapshot files damaged: restic lists the other and exits 0; the job says
    // a restore point is unreadable.
    let damaged = r.dir.join("restic-damaged");
    copy_tree(&r.restic, &damaged);
    let snap = std::fs::read_dir(damaged.join("snapshots"))
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .path();
    let mut bytes = std::fs::read(&snap).unwrap();
    for b in bytes.iter_mut().skip(20).take(40) {
        *b ^= 0x5a;
    }
    std::fs::write(&snap, bytes).unwrap();
    // The config file damaged: restic 0.14 cannot open the repository at all.
    let broken = r.dir.join("restic-broken-config");
    copy_tree(&r.restic, &broken);
    std::fs::write(broken.join("config"), "junk\n").unwrap();
    let cfg = config(
        &r.dir,
        &[
            restic_job("damaged-snapshot", &damaged, &r.pw, ""),
            restic_job("damaged-config", &broken, &r.pw, ""),
        ]
        .concat(),
    );
    let (jobs, _, _) = check(&cfg, None);
    let j = job(&jobs, "damaged-snapshot");
    assert!(j.get("error").is_none(), "{j}");
    assert_eq!(int(&j["restorePoints"]), 1);
    let p = j["problems"][0].as_str().unwrap();
    assert!(
        p.starts_with("restic could not read a snapshot (repository damaged? run `restic check`)"),
        "{p}"
    );
    let j = job(&jobs, "damaged-config");
    assert_eq!(j["error"]["code"], "AG0213", "{j}");
    let msg = j["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("is damaged, run `restic check`: panic:"),
        "{msg}"
    );
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), &dest).unwrap();
        }
    }
}

/// `check --json` on a Proxmox VE task directory laid out as PVE writes it (recorded vzdump logs,
/// UPIDs dated relative to now), then `vigie-collector evaluate`: a partial vzdump is a failed run
/// naming the guest that failed, and a vzdump in `active` is a run in progress.
#[test]
fn proxmox_vzdump_task_logs_are_judged() {
    let tmp = tempfile::tempdir().unwrap();
    let tasks = tmp.path().join("pve-tasks");
    std::fs::create_dir_all(&tasks).unwrap();
    let fixtures =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../agent/src/probe/backups/fixtures/proxmox");
    let now = now_ms() / 1000;
    let upid = |pid: u32, start: i64| {
        format!("UPID:pve1:{pid:08X}:03C4D2E5:{start:08X}:vzdump::root@pam:")
    };
    let put_log = |u: &str, fixture: &str| {
        let start_hex = u.split(':').nth(4).unwrap();
        let sub = tasks.join(&start_hex[7..]);
        std::fs::create_dir_all(&sub).unwrap();
        std::fs::copy(fixtures.join(fixture), sub.join(u)).unwrap();
    };
    let ok = upid(0x1c07, now - 25 * 3600);
    let partial = upid(0x2d44, now - 3600);
    put_log(&ok, "pve-vzdump-ok.log");
    put_log(&partial, "pve-vzdump-partial.log");
    std::fs::write(
        tasks.join("index"),
        format!(
            "{ok} {:08X} OK\n{partial} {:08X} job errors\n",
            now - 25 * 3600 + 758,
            now - 3600 + 849
        ),
    )
    .unwrap();
    let cfg = config(
        tmp.path(),
        &format!(
            "[[probes.backups.jobs]]\nname = \"pve\"\ntool = \"vzdump\"\ntask_dir = \"{}\"\nexpected_period = \"1d\"\n",
            tasks.display()
        ),
    );
    let (jobs, _, json) = check(&cfg, None);
    let j = job(&jobs, "pve");
    assert!(j.get("error").is_none(), "{j}");
    assert_eq!(j["lastOutcome"], "FAILURE", "{j}");
    assert_eq!(int(&j["lastSuccessMs"]), (now - 25 * 3600 + 758) * 1000);
    assert_eq!(
        j["lastFailureMessage"],
        "job errors (1 of 3 guest(s) failed): Backup of VM 101 failed - VM 101 qmp command 'backup' failed - got timeout"
    );
    let evidence = tmp.path().join("ev.json");
    std::fs::write(&evidence, &json).unwrap();
    let out = ok_cmd(&evidence);
    let findings: Vec<Value> = serde_json::from_str(&out).unwrap();
    let detail = |id: &str| {
        let f = findings.iter().find(|f| f["check_id"] == id).unwrap();
        format!(
            "{}: {}",
            f["outcome"].as_str().unwrap(),
            f["detail"].as_str().unwrap()
        )
    };
    assert!(
        detail("BKP-001").starts_with("fail: « pve » : en panne : dernier passage en échec"),
        "{}",
        detail("BKP-001")
    );
    assert!(
        detail("BKP-002").contains("Backup of VM 101 failed"),
        "{}",
        detail("BKP-002")
    );

    // The next night's run is in progress: listed in `active` with no end.
    let running = upid(0x3e90, now - 300);
    std::fs::write(tasks.join("active"), format!("{running}\n")).unwrap();
    let (jobs, _, _) = check(&cfg, None);
    let j = job(&jobs, "pve");
    assert_eq!(j["running"], true, "{j}");
    assert_eq!(j["lastOutcome"], "RUNNING", "{j}");
    assert_eq!(int(&j["lastStartMs"]), (now - 300) * 1000);
}

/// `vigie-collector evaluate --format json` on an evidence file.
fn ok_cmd(evidence: &Path) -> String {
    ok(Command::new(bin("vigie-collector"))
        .arg("evaluate")
        .arg("--evidence")
        .arg(evidence)
        .args(["--format", "json"]))
}
