//! Backups end to end through a running collector: real restic and borg repositories backed up by
//! the test, agents (`vigie-agent run`) declaring them, a serving collector judging what they ship.
//! Each repository is then broken in turn (a failed run pushed with `backup-done`, a stale last
//! success, a backup running right now and a stale lock, a wrong password, a deleted repository, a
//! damaged repository) and the findings BKP-001/BKP-002 are followed through every change. Also:
//! an HTTPS ping job that starts and never finishes goes down after its grace, and `check` prints a
//! readable summary of one restic job and a running clamd.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::harness::{bin, ok, wait_for, Agent, Collector};

const PASSWORD: &str = "correct horse battery staple";
/// A phase waits this long for the collector's findings to follow a change on the host.
const PHASE: Duration = Duration::from_secs(90);

fn tool(program: &str, pw: &Path, base: &Path) -> Command {
    let mut c = Command::new(program);
    c.env("RESTIC_PASSWORD_FILE", pw)
        .env("BORG_PASSCOMMAND", format!("cat {}", pw.display()))
        .env("BORG_BASE_DIR", base)
        .env("LC_ALL", "C")
        .stdin(Stdio::null());
    c
}

/// A source tree and a password file in `dir`.
fn sources(dir: &Path) -> (PathBuf, PathBuf) {
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
    (src, pw)
}

/// An agent probing every 2 s with only the inventory and backups probes, and `jobs`.
fn agent(root: &Path, name: &str, jobs: &str) -> Agent {
    let a = Agent::new(root, name, 2, 3600);
    let mut cfg = std::fs::read_to_string(&a.config).unwrap();
    for probe in ["patches", "auth", "ssh", "accounts", "antivirus"] {
        cfg.push_str(&format!("[probes.{probe}]\nenabled = false\n"));
    }
    cfg.push_str(jobs);
    std::fs::write(&a.config, cfg).unwrap();
    a
}

/// A finding of `host`: (outcome, detail, evidence), the evidence naming the report judged.
fn finding(c: &Collector, host: &str, check: &str) -> Option<(String, String, String)> {
    c.findings(Some("mairie")).into_iter().find_map(|f| {
        (f["host_id"] == host && f["check_id"] == check).then(|| {
            (
                f["outcome"].as_str().unwrap_or_default().to_owned(),
                f["detail"].as_str().unwrap_or_default().to_owned(),
                f["evidence"].to_string(),
            )
        })
    })
}

/// Waits until `check` on `host` satisfies `accept`, judged on a report newer than `after` (the
/// evidence of an earlier finding) when given. On timeout, fails with what the collector holds,
/// what the agent would report now and the agent's log: the three places a diagnosis starts.
#[track_caller]
fn wait_finding(
    c: &Collector,
    a: &Agent,
    host: &str,
    check: &str,
    after: Option<&str>,
    accept: impl Fn(&str, &str) -> bool,
) -> (String, String, String) {
    let start = std::time::Instant::now();
    loop {
        if let Some(f) = finding(c, host, check) {
            if after.is_none_or(|e| e != f.2) && accept(&f.0, &f.1) {
                return f;
            }
        }
        if start.elapsed() > PHASE {
            let now = finding(c, host, check);
            let evidence = Command::new(bin("vigie-agent"))
                .arg("--config")
                .arg(&a.config)
                .args(["check", "--json", "--state-dir"])
                .arg(&a.state)
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default();
            let log = std::fs::read_to_string(a.state.with_extension("log")).unwrap_or_default();
            panic!(
                "timed out waiting for {check} on {host}: the collector says {now:?}\n\
                 agent config:\n{}\nagent evidence now:\n{evidence}\nagent log:\n{log}\ncollector log:\n{}",
                std::fs::read_to_string(&a.config).unwrap_or_default(),
                c.log()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn collector(root: &Path) -> Collector {
    let mut c = Collector::init(root);
    c.set_config("reevaluate_interval_secs", "1");
    c.serve(&[]);
    c.admin_ok(&["org", "add", "mairie", "--name", "Mairie de Test"]);
    c
}

fn start(c: &Collector, a: &mut Agent) -> String {
    a.enroll(c, &c.token("mairie", "1h"));
    a.start_logged(&a.state.with_extension("log"));
    a.host_id()
}

/// A restic backup that stays running (it reads stdin, which the test holds open), holding its lock.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn restic_job_findings_follow_failures_locks_wrong_password_and_deletion() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (src, pw) = sources(dir);
    let repo = dir.join("restic-repo");
    let home = dir.join("restic-home");
    ok(tool("restic", &pw, &home)
        .args(["init", "-q", "-r"])
        .arg(&repo));
    let backup = || {
        ok(tool("restic", &pw, &home)
            .arg("-r")
            .arg(&repo)
            .args(["backup", "-q", "--no-cache"])
            .arg(&src))
    };
    backup();
    backup();
    let c = collector(dir);
    let mut a = agent(
        dir,
        "restic-agent",
        &format!(
            "[[probes.backups.jobs]]\nname = \"restic-mairie\"\ntool = \"restic\"\nrepository = \"{}\"\npassword_file = \"{}\"\nexpected_period = \"1d\"\ngrace = \"2h\"\n\
             [[probes.backups.jobs.destinations]]\nname = \"nas\"\nkind = \"nas_lan\"\nlocator = \"{}\"\nsite = \"mairie\"\n",
            repo.display(),
            pw.display(),
            repo.display()
        ),
    );
    let host = start(&c, &mut a);

    // A real repository with two snapshots: BKP-001 and BKP-002 pass, BKP-006 counts the points.
    let (_, d, _) = wait_finding(&c, &a, &host, "BKP-001", None, |o, _| o == "pass");
    assert!(
        d.starts_with("« restic-mairie » : à jour : dernière réussite il y a"),
        "{d}"
    );
    let (o, d, _) = wait_finding(&c, &a, &host, "BKP-002", None, |o, _| o != "unknown");
    assert_eq!(o, "pass", "{d}");
    let (o, d, _) = wait_finding(&c, &a, &host, "BKP-006", None, |_, _| true);
    assert_eq!(o, "fail");
    assert!(
        d.contains("2 points de restauration (minimum 30)") && d.contains("chiffrée"),
        "{d}"
    );

    // The backup script reports a failed run: down at once, and the message reaches the finding.
    ok(Command::new(bin("vigie-agent"))
        .args(["backup-done", "--state-dir"])
        .arg(&a.state)
        .args([
            "--job",
            "restic-mairie",
            "--status",
            "failed",
            "--message",
            "disque plein sur le NAS",
        ]));
    let (_, d, _) = wait_finding(&c, &a, &host, "BKP-001", None, |o, _| o == "fail");
    assert!(d.contains("en panne : dernier passage en échec"), "{d}");
    let (_, d, _) = wait_finding(&c, &a, &host, "BKP-002", None, |o, _| o == "fail");
    assert!(d.contains("disque plein sur le NAS"), "{d}");

    // A new real backup after the failure: up again, the failure is history.
    std::thread::sleep(Duration::from_millis(1100));
    backup();
    wait_finding(&c, &a, &host, "BKP-001", None, |o, _| o == "pass");
    let (_, d, _) = wait_finding(&c, &a, &host, "BKP-002", None, |o, _| o == "pass");
    assert!(d.contains("suivi d'une réussite"), "{d}");

    // A backup running right now holds restic's lock: the probe reads with --no-lock and the
    // job stays up, judged on reports made while the lock is held...
    let mut running = Running(
        tool("restic", &pw, &home)
            .arg("-r")
            .arg(&repo)
            .args([
                "backup",
                "--no-cache",
                "--stdin",
                "--stdin-filename",
                "pipe",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let locks = repo.join("locks");
    wait_for("restic's lock", Duration::from_secs(30), || {
        (std::fs::read_dir(&locks).ok()?.count() > 0).then_some(())
    });
    let (_, _, seen) = finding(&c, &host, "BKP-001").unwrap();
    let (_, _, seen) = wait_finding(&c, &a, &host, "BKP-001", Some(&seen), |o, _| o == "pass");
    wait_finding(&c, &a, &host, "BKP-001", Some(&seen), |o, _| o == "pass");
    // ...and once it is killed, its lock is stale: still up.
    running.0.kill().unwrap();
    running.0.wait().unwrap();
    assert!(
        std::fs::read_dir(&locks).unwrap().count() > 0,
        "no stale lock left"
    );
    let (_, _, seen) = finding(&c, &host, "BKP-001").unwrap();
    let (_, _, seen) = wait_finding(&c, &a, &host, "BKP-001", Some(&seen), |o, _| o == "pass");
    wait_finding(&c, &a, &host, "BKP-001", Some(&seen), |o, _| o == "pass");

    // The password file now holds a wrong password: the job is unreadable, said precisely; an
    // unreadable job is `error`, never `pass`.
    std::fs::write(&pw, "not the password\n").unwrap();
    let (_, d, _) = wait_finding(&c, &a, &host, "BKP-001", None, |o, _| o == "error");
    assert!(d.contains("AG0202") && d.contains("wrong password"), "{d}");
    assert!(!d.contains(PASSWORD));

    // The right password again, and the repository deleted.
    std::fs::write(&pw, format!("{PASSWORD}\n")).unwrap();
    wait_finding(&c, &a, &host, "BKP-001", None, |o, _| o == "pass");
    std::fs::remove_dir_all(&repo).unwrap();
    let (_, d, _) = wait_finding(&c, &a, &host, "BKP-001", None, |o, d| {
        o == "error" && d.contains("AG0203")
    });
    assert!(d.contains("does not exist or is unreachable"), "{d}");
    a.stop();
}

#[test]
fn borg_job_findings_follow_a_stale_success_a_new_archive_and_a_damaged_repository() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (src, pw) = sources(dir);
    let repo = dir.join("borg-repo");
    let home = dir.join("borg-home");
    ok(tool("borg", &pw, &home)
        .args(["init", "-e", "repokey-blake2"])
        .arg(&repo));
    // The only archive is three days old (borg records the time it is given, in UTC).
    let old = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(72);
    ok(tool("borg", &pw, &home)
        .arg("create")
        .args([
            "--timestamp",
            &old.strftime("%Y-%m-%dT%H:%M:%S").to_string(),
        ])
        .arg(format!("{}::lundi", repo.display()))
        .arg(&src));
    let c = collector(dir);
    let mut a = agent(
        dir,
        "borg-agent",
        &format!(
            "[[probes.backups.jobs]]\nname = \"borg-usb\"\ntool = \"borg\"\nrepository = \"{}\"\npassword_command = [\"/bin/cat\", \"{}\"]\nborg_security_dir = \"{}\"\n",
            repo.display(),
            pw.display(),
            home.join(".config/borg/security").display()
        ),
    );
    let host = start(&c, &mut a);

    // Stale last success: down, with its age.
    let (_, d, _) = wait_finding(&c, &a, &host, "BKP-001", None, |o, _| o == "fail");
    assert!(
        d.contains("en panne : dernière réussite il y a 3 j")
            && d.contains("(période 1 j, grâce 2 h)"),
        "{d}"
    );
    // A new archive: up.
    ok(tool("borg", &pw, &home)
        .arg("create")
        .arg(format!("{}::mardi", repo.display()))
        .arg(&src));
    let (_, d, _) = wait_finding(&c, &a, &host, "BKP-001", None, |o, _| o == "pass");
    assert!(d.contains("« borg-usb » : à jour"), "{d}");
    // Another host's stale exclusive lock: --bypass-lock keeps the job readable.
    let lock = repo.join("lock.exclusive");
    std::fs::create_dir(&lock).unwrap();
    std::fs::write(lock.join("other-host@123456789.4242-0"), "").unwrap();
    let (_, _, seen) = finding(&c, &host, "BKP-001").unwrap();
    let (_, _, seen) = wait_finding(&c, &a, &host, "BKP-001", Some(&seen), |o, _| o == "pass");
    wait_finding(&c, &a, &host, "BKP-001", Some(&seen), |o, _| o == "pass");
    std::fs::remove_dir_all(&lock).unwrap();

    // Damaged segments: the job is in error, naming the damage and what to run. The security
    // directory saw a recent write, which proves nothing: error, not pass and not fail.
    for seg in std::fs::read_dir(repo.join("data/0")).unwrap().flatten() {
        let mut bytes = std::fs::read(seg.path()).unwrap();
        for b in bytes.iter_mut().skip(40).take(200) {
            *b ^= 0x5a;
        }
        std::fs::write(seg.path(), bytes).unwrap();
    }
    let (_, d, _) = wait_finding(&c, &a, &host, "BKP-001", None, |o, _| o == "error");
    assert!(
        d.contains("AG0213") && d.contains("run `borg check`"),
        "{d}"
    );
    a.stop();
}

#[test]
fn https_ping_started_and_never_finished_goes_down_after_its_grace() {
    let tmp = tempfile::tempdir().unwrap();
    let c = collector(tmp.path());
    let url = c.admin_ok(&[
        "ping",
        "add",
        "--org",
        "mairie",
        "--name",
        "nas-synology",
        "--period",
        "1d",
        "--grace",
        "5s",
    ]);
    let path = format!("/ping/{}", url.trim().split("/ping/").nth(1).unwrap());
    let port = c.https.rsplit(':').next().unwrap().to_owned();
    let curl = |suffix: &str| {
        let out = Command::new("curl")
            .args(["-fsS", "--max-time", "10", "--cacert"])
            .arg(c.dir.join("https.crt"))
            .args(["--resolve", &format!("localhost:{port}:127.0.0.1")])
            .arg(format!("https://localhost:{port}{path}{suffix}"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let host = "ping:nas-synology";
    let wait = |accept: &dyn Fn(&str, &str) -> bool| {
        wait_for(&format!("BKP-001 of {host}"), PHASE, || {
            finding(&c, host, "BKP-001").filter(|(o, d, _)| accept(o, d))
        })
    };
    curl("");
    wait(&|o, _| o == "pass");
    // The job starts and never reports again: up within its grace, down after it (a hung job).
    let started = std::time::Instant::now();
    curl("/start");
    let (_, d, _) = wait(&|o, _| o == "fail");
    assert!(
        started.elapsed() >= Duration::from_secs(5),
        "down before the grace was over: {d}"
    );
    assert!(
        d.contains("en panne : démarrée il y a") && d.contains("sans réussite depuis"),
        "{d}"
    );
}

#[test]
fn check_prints_a_readable_summary_of_a_restic_job_and_a_running_clamd() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (src, pw) = sources(dir);
    let repo = dir.join("restic-repo");
    let home = dir.join("restic-home");
    ok(tool("restic", &pw, &home)
        .args(["init", "-q", "-r"])
        .arg(&repo));
    ok(tool("restic", &pw, &home)
        .arg("-r")
        .arg(&repo)
        .args(["backup", "-q", "--no-cache"])
        .arg(&src));
    // clamd with a one-signature database made here (it refuses test-made CVD files).
    std::fs::create_dir(dir.join("db")).unwrap();
    std::fs::write(
        dir.join("db/vigie.hdb"),
        "44d88612fea8a8f36de82e1278abb02f:68:Vigie.Test.Sample\n",
    )
    .unwrap();
    let socket = dir.join("clamd.sock");
    let conf = dir.join("clamd.conf");
    std::fs::write(
        &conf,
        format!(
            "Foreground yes\nLocalSocket {}\nDatabaseDirectory {d}/db\nTemporaryDirectory {d}\nBytecode no\n",
            socket.display(),
            d = dir.display()
        ),
    )
    .unwrap();
    struct Clamd(Child);
    impl Drop for Clamd {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _clamd = Clamd(
        Command::new("/usr/sbin/clamd")
            .arg("--config-file")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("clamd is installed (scripts/test installs clamav-daemon)"),
    );
    wait_for("clamd's socket", Duration::from_secs(120), || {
        std::os::unix::net::UnixStream::connect(&socket)
            .ok()
            .map(|_| ())
    });
    let cfg = dir.join("agent.toml");
    std::fs::write(
        &cfg,
        format!(
            "role = \"server\"\n[probes.patches]\nenabled = false\n\
             [probes.antivirus]\nclamd_conf = \"{}\"\nfreshclam_conf = \"{}\"\nsocket_timeout_secs = 3\n\
             [[probes.backups.jobs]]\nname = \"restic-mairie\"\ntool = \"restic\"\nrepository = \"{}\"\npassword_file = \"{}\"\n",
            conf.display(),
            dir.join("freshclam.conf").display(),
            repo.display(),
            pw.display()
        ),
    )
    .unwrap();
    let text = ok(Command::new(bin("vigie-agent"))
        .arg("--config")
        .arg(&cfg)
        .arg("check"));
    let line = |domain: &str| {
        text.lines()
            .find(|l| l.starts_with(domain))
            .unwrap_or_else(|| panic!("no {domain} line in:\n{text}"))
            .to_owned()
    };
    let backups = line("BACKUPS");
    assert!(
        backups.contains("1 tâche(s) de sauvegarde, 0 en erreur, 0 en échec")
            && backups.contains("restic-mairie (restic 0.14.0) : dernière réussite 20")
            && backups.contains("UTC, 1 point(s) de restauration"),
        "{backups}"
    );
    let av = line("ANTIVIRUS");
    assert!(av.contains("clamav 1."), "{av}");
    assert!(!text.contains(PASSWORD));
}
