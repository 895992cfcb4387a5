//! Both binaries refuse to start on a configuration, key, state, spool or data directory that another
//! user could write or that belongs to neither root nor the running user, naming the path and why
//! (issue 7). Real files, real modes, real ownership (the tests run as root and chown to another uid).

use std::os::unix::fs::{chown, PermissionsExt};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{bin, run, Agent, Collector};

const STRANGER: u32 = 4242;

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Runs `cmd` for at most `wait`: `Err(stderr)` when it exited with a failure, `Ok(())` when it
/// was still running (then killed) or exited successfully.
fn starts(cmd: &mut Command, wait: Duration) -> Result<(), String> {
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while start.elapsed() < wait {
        if let Some(status) = child.try_wait().unwrap() {
            let out = child.wait_with_output().unwrap();
            let err = String::from_utf8_lossy(&out.stderr).into_owned();
            return if status.success() { Ok(()) } else { Err(err) };
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    Ok(())
}

fn agent_run(a: &Agent) -> Command {
    agent_run_with(a, &a.config)
}

fn agent_run_with(a: &Agent, config: &Path) -> Command {
    let mut cmd = Command::new(bin("vigie-agent"));
    cmd.arg("--config")
        .arg(config)
        .args(["run", "--state-dir"])
        .arg(&a.state);
    cmd
}

#[track_caller]
fn refused(cmd: &mut Command, path: &Path, why: &str) {
    let err = starts(cmd, Duration::from_secs(10)).expect_err("started despite an unsafe path");
    assert!(
        err.contains(&path.display().to_string()) && err.contains(why),
        "expected {} and {why:?} in: {err}",
        path.display()
    );
}

#[test]
fn agent_refuses_unsafe_config_state_key_and_spool() {
    let tmp = tempfile::tempdir().unwrap();
    let c = Collector::start(tmp.path());
    c.admin_ok(&["org", "add", "mairie", "--name", "Mairie"]);
    let mut a = Agent::new(tmp.path(), "agent", 3600, 3600);
    a.enroll(&c, &c.token("mairie", "1h"));
    // A first run makes the spool.
    starts(&mut agent_run(&a), Duration::from_secs(2)).unwrap();
    let spool = a.state.join("spool");
    let key = a.state.join("agent.key");
    assert!(spool.is_dir());

    chmod(&a.config, 0o666);
    refused(&mut agent_run(&a), &a.config, "writable by every user");
    // Any command that reads the configuration refuses it: it can name commands the agent runs.
    refused(
        Command::new(bin("vigie-agent"))
            .arg("--config")
            .arg(&a.config)
            .arg("check"),
        &a.config,
        "chmod go-w",
    );
    chmod(&a.config, 0o644);

    chown(&a.config, Some(STRANGER), None).unwrap();
    refused(&mut agent_run(&a), &a.config, "belongs to uid 4242");
    chown(&a.config, Some(0), None).unwrap();

    // The directory holding the configuration: replacing the file is as good as writing it.
    let conf_dir = tmp.path().join("etc");
    std::fs::create_dir(&conf_dir).unwrap();
    let moved = conf_dir.join("agent.toml");
    std::fs::copy(&a.config, &moved).unwrap();
    chmod(&conf_dir, 0o777);
    refused(
        &mut agent_run_with(&a, &moved),
        &conf_dir,
        "writable by every user",
    );
    // A sticky directory (like /tmp) is fine: nobody can replace a file they do not own there.
    chmod(&conf_dir, 0o1777);
    starts(&mut agent_run_with(&a, &moved), Duration::from_secs(2)).unwrap();

    chmod(&a.state, 0o770);
    refused(&mut agent_run(&a), &a.state, "writable by its group");
    chmod(&a.state, 0o700);

    chmod(&spool, 0o757);
    refused(&mut agent_run(&a), &spool, "writable by every user");
    chmod(&spool, 0o700);

    chown(&spool, Some(STRANGER), Some(STRANGER)).unwrap();
    refused(&mut agent_run(&a), &spool, "belongs to uid 4242");
    chown(&spool, Some(0), Some(0)).unwrap();

    chmod(&key, 0o640);
    refused(&mut agent_run(&a), &key, "chmod 600");
    chmod(&key, 0o600);

    // The push drop box may be group-writable (vigie-push), never world-writable.
    let incoming = spool.join("incoming");
    std::fs::create_dir_all(&incoming).unwrap();
    chmod(&incoming, 0o2770);
    starts(&mut agent_run(&a), Duration::from_secs(2)).unwrap();
    chmod(&incoming, 0o777);
    refused(&mut agent_run(&a), &incoming, "writable by every user");
    chmod(&incoming, 0o2770);

    // Several problems at once are all named.
    chmod(&a.state, 0o777);
    chmod(&spool, 0o775);
    let err = starts(&mut agent_run(&a), Duration::from_secs(10)).unwrap_err();
    assert!(err.contains("refusing to start"), "{err}");
    for p in [&a.state, &spool] {
        assert!(
            err.contains(&format!("{} is writable", p.display())),
            "{err}"
        );
    }
    chmod(&a.state, 0o700);
    chmod(&spool, 0o700);

    // Everything repaired: the agent runs and delivers.
    a.start();
    crate::harness::wait_for("a report", Duration::from_secs(30), || {
        (c.stored_reports() > 0).then_some(())
    });
}

#[test]
fn collector_refuses_unsafe_data_dir_config_store_and_keys() {
    let tmp = tempfile::tempdir().unwrap();
    let mut c = Collector::init(tmp.path());
    c.serve(&[]);
    c.stop();
    let serve = |c: &Collector| {
        let mut cmd = Command::new(bin("vigie-collector"));
        cmd.args(["serve", "--data-dir"]).arg(&c.dir);
        cmd
    };
    let config = c.dir.join("collector.toml");
    let store = c.dir.join("store");

    chmod(&c.dir, 0o775);
    refused(&mut serve(&c), &c.dir, "writable by its group");
    chmod(&c.dir, 0o700);

    chmod(&config, 0o646);
    refused(&mut serve(&c), &config, "writable by every user");
    chmod(&config, 0o644);

    chown(&config, Some(STRANGER), None).unwrap();
    refused(&mut serve(&c), &config, "belongs to uid 4242");
    chown(&config, Some(0), None).unwrap();

    chown(&store, Some(STRANGER), None).unwrap();
    refused(
        &mut serve(&c),
        &store,
        "neither root nor the user running Vigie",
    );
    chown(&store, Some(0), None).unwrap();

    for key in ["ca.key", "server.key", "snapshot.key", "https.key"] {
        let path = c.dir.join(key);
        chmod(&path, 0o644);
        refused(&mut serve(&c), &path, "chmod 600");
        chmod(&path, 0o600);
    }

    // Repaired: it serves again.
    c.serve(&[]);
    let out = run(Command::new(bin("vigie-collector"))
        .args(["org", "list", "--data-dir"])
        .arg(&c.dir));
    assert!(out.status.success());
}
