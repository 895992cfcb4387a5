//! The shared harness: real binaries in their own temporary directories on 127.0.0.1 with ports the
//! OS picks, killed on drop, so every test runs in parallel with the others.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Path of a workspace binary built next to this test binary (`target/debug/NAME`).
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(Path::parent).unwrap();
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --workspace --bins` first",
        path.display()
    );
    path
}

/// Runs a command to completion and returns its output, failing the test with stderr when it fails.
#[track_caller]
pub fn ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

pub fn run(cmd: &mut Command) -> Output {
    cmd.output().unwrap()
}

/// Polls `f` until it returns `Some` or `timeout` passes.
#[track_caller]
pub fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A collector child process with its data directory.
pub struct Collector {
    pub dir: PathBuf,
    pub child: Option<Child>,
    pub ingest: String,
    pub enroll: String,
    /// The HTTPS (ping) listener's address.
    pub https: String,
    pub log: Arc<Mutex<String>>,
}

impl Collector {
    /// `init` in `root/collector` with OS-chosen ports, then `serve`.
    pub fn start(root: &Path) -> Collector {
        let mut c = Collector::init(root);
        c.serve(&[]);
        c
    }

    /// `init` only, so that a test can change `collector.toml` before `serve`.
    pub fn init(root: &Path) -> Collector {
        let dir = root.join("collector");
        ok(Command::new(bin("vigie-collector"))
            .args(["init", "--data-dir"])
            .arg(&dir)
            .args([
                "--listen",
                "127.0.0.1:0",
                "--enroll-listen",
                "127.0.0.1:0",
                "--https-listen",
                "127.0.0.1:0",
                "--san",
                "localhost",
                "--san",
                "127.0.0.1",
            ]));
        Collector {
            dir,
            child: None,
            ingest: String::new(),
            enroll: String::new(),
            https: String::new(),
            log: Default::default(),
        }
    }

    /// Replaces `key = …` in `collector.toml`.
    pub fn set_config(&self, key: &str, value: &str) {
        let path = self.dir.join("collector.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        let mut found = false;
        let out: Vec<String> = text
            .lines()
            .map(|l| {
                if l.split('=').next().map(str::trim) == Some(key) {
                    found = true;
                    format!("{key} = {value}")
                } else {
                    l.to_owned()
                }
            })
            .collect();
        assert!(found, "{key} not in collector.toml");
        std::fs::write(&path, out.join("\n") + "\n").unwrap();
    }

    /// (Re)starts `serve`; the config's port 0 means new ports at each start.
    pub fn serve(&mut self, env: &[(&str, &str)]) {
        let mut cmd = Command::new(bin("vigie-collector"));
        cmd.args(["serve", "--data-dir"])
            .arg(&self.dir)
            .env("VIGIE_LOG", "info");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let log = self.log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                log.lock().unwrap().push_str(&(line + "\n"));
            }
        });
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        // `serve` prints the ingest and enrollment addresses, then the HTTPS one when configured
        // (old configurations have none, so the third line is optional).
        for _ in 0..3 {
            line.clear();
            stdout.read_line(&mut line).unwrap();
            let addr = line.rsplit(' ').next().unwrap().trim().to_owned();
            if line.starts_with("ingest") {
                self.ingest = addr;
            } else if line.starts_with("enrollment") {
                self.enroll = addr;
            } else if line.starts_with("https") {
                self.https = addr;
            }
            if line.starts_with("enrollment") && !self.dir.join("https.crt").exists() {
                break;
            }
        }
        assert!(
            !self.ingest.is_empty() && !self.enroll.is_empty(),
            "collector did not start: {}",
            self.log()
        );
        std::thread::spawn(move || for _ in stdout.lines() {});
        self.child = Some(child);
        wait_for("the admin socket", Duration::from_secs(10), || {
            self.dir.join("admin.sock").exists().then_some(())
        });
    }

    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_file(self.dir.join("admin.sock"));
    }

    /// SIGTERM and wait: the graceful path.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill").arg(c.id().to_string()).status();
            let _ = c.wait();
        }
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    pub fn admin(&self, args: &[&str]) -> Output {
        let (group, rest) = args.split_at(
            if ["org", "token", "host", "ping", "waiver"].contains(&args[0]) {
                2
            } else {
                1
            },
        );
        run(Command::new(bin("vigie-collector"))
            .args(group)
            .arg("--data-dir")
            .arg(&self.dir)
            .args(rest))
    }

    #[track_caller]
    pub fn admin_ok(&self, args: &[&str]) -> String {
        let out = self.admin(args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    pub fn fingerprint(&self) -> String {
        ok(Command::new(bin("vigie-collector"))
            .arg("ca-fingerprint")
            .arg("--data-dir")
            .arg(&self.dir))
        .trim()
        .to_owned()
    }

    pub fn token(&self, org: &str, ttl: &str) -> String {
        self.admin_ok(&["token", "create", "--org", org, "--ttl", ttl])
            .trim()
            .to_owned()
    }

    /// Findings as JSON values.
    pub fn findings(&self, org: Option<&str>) -> Vec<serde_json::Value> {
        let mut args = vec!["findings", "--format", "json"];
        if let Some(o) = org {
            args.extend(["--org", o]);
        }
        serde_json::from_str(&self.admin_ok(&args)).unwrap()
    }

    /// Reports in the store (all hosts): `rebuild` recomputes derived state from them and says how
    /// many there are.
    pub fn stored_reports(&self) -> usize {
        let out = self.admin_ok(&["rebuild"]);
        out.split_whitespace().find_map(|w| w.parse().ok()).unwrap()
    }

    /// The ingest URL as an agent dials it.
    pub fn ingest_url(&self) -> String {
        format!(
            "https://localhost:{}",
            self.ingest.rsplit(':').next().unwrap()
        )
    }

    pub fn enroll_url(&self) -> String {
        format!(
            "https://localhost:{}",
            self.enroll.rsplit(':').next().unwrap()
        )
    }

    /// Waits until a security log line mentions `needle`.
    #[track_caller]
    pub fn wait_log(&self, needle: &str) -> String {
        wait_for(
            &format!("log line {needle:?}"),
            Duration::from_secs(15),
            || {
                self.log()
                    .lines()
                    .find(|l| l.contains(needle))
                    .map(str::to_owned)
            },
        )
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.kill();
    }
}

/// An agent with its state directory and config.
pub struct Agent {
    pub state: PathBuf,
    pub config: PathBuf,
    pub child: Option<Child>,
}

impl Agent {
    pub fn new(root: &Path, name: &str, interval_secs: u64, heartbeat_secs: u64) -> Agent {
        let state = root.join(name);
        let config = root.join(format!("{name}.toml"));
        std::fs::write(
            &config,
            // File integrity is off here: its baseline, realtime watches and digest reports would add
            // reports at their own pace to tests that count them. `tests/it/fim.rs` turns it on.
            format!("interval_secs = {interval_secs}\nheartbeat_secs = {heartbeat_secs}\nmax_backoff_secs = 1\nrole = \"server\"\n\n[probes.fim]\nenabled = false\n"),
        )
        .unwrap();
        Agent {
            state,
            config,
            child: None,
        }
    }

    pub fn enroll_cmd(&self, c: &Collector, token_file: &Path) -> Command {
        let mut cmd = Command::new(bin("vigie-agent"));
        cmd.arg("--config")
            .arg(&self.config)
            .args(["enroll", "--state-dir"])
            .arg(&self.state);
        cmd.args([
            "--collector",
            &c.enroll_url(),
            "--ca-fingerprint",
            &c.fingerprint(),
        ]);
        cmd.arg("--token-file").arg(token_file);
        cmd
    }

    #[track_caller]
    pub fn enroll(&self, c: &Collector, token: &str) {
        let file = self.state.with_extension("token");
        std::fs::write(&file, token).unwrap();
        ok(&mut self.enroll_cmd(c, &file));
    }

    pub fn start(&mut self) {
        let child = Command::new(bin("vigie-agent"))
            .arg("--config")
            .arg(&self.config)
            .args(["run", "--state-dir"])
            .arg(&self.state)
            .env("VIGIE_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
    }

    /// `start`, with the agent's own log written to `log`, so that a test can show it on failure.
    pub fn start_logged(&mut self, log: &Path) {
        let child = Command::new(bin("vigie-agent"))
            .arg("--config")
            .arg(&self.config)
            .args(["run", "--state-dir"])
            .arg(&self.state)
            .env("VIGIE_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .unwrap();
        self.child = Some(child);
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill").arg(c.id().to_string()).status();
            let _ = c.wait();
        }
    }

    pub fn spool_len(&self) -> usize {
        std::fs::read_dir(self.state.join("spool"))
            .map(|rd| {
                rd.flatten()
                    .filter(|e| e.file_name().to_string_lossy().ends_with(".report"))
                    .count()
            })
            .unwrap_or(0)
    }

    /// Points the agent at another ingest URL (its enrollment record says where to ship), e.g. after
    /// the collector restarted on new ports.
    pub fn set_collector(&self, url: &str) {
        let path = self.state.join("enrollment.json");
        let mut v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        v["collector"] = url.into();
        std::fs::write(&path, serde_json::to_vec(&v).unwrap()).unwrap();
    }

    pub fn host_id(&self) -> String {
        let v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(self.state.join("enrollment.json")).unwrap())
                .unwrap();
        v["host_id"].as_str().unwrap().to_owned()
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
