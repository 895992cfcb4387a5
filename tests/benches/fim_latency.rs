//! File-integrity change-to-collector latency (DESIGN §6 "File integrity, live": a change visible at
//! the collector within 2 s, p99): a real agent and a real collector (release builds) on 127.0.0.1,
//! the agent watching a tree made here with its default debounce; a stream of file changes spaced
//! apart, each timed from the write to the moment the collector's findings (`vigie-collector
//! findings`, FIM-002's count of unexplained changes) include it; then isolated changes, one at a
//! time. Prints p50, p99 and the worst, and how long one findings read takes (the resolution).
//!
//! Build the binaries first, then run:
//! `cargo build --release -p vigie-agent -p vigie-collector && cargo bench -p vigie-tests --bench fim_latency`.
//! Knobs (environment): `VIGIE_BENCH_CHANGES` (200), `VIGIE_BENCH_SPACING_MS` (50),
//! `VIGIE_BENCH_ISOLATED` (20).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A release binary next to this benchmark (`target/release/NAME`).
fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let path = exe.parent().and_then(Path::parent).unwrap().join(name);
    assert!(
        path.exists(),
        "{} is missing: `cargo build --release -p vigie-agent -p vigie-collector` first",
        path.display()
    );
    path
}

#[track_caller]
fn ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

struct Kill(Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `init` then `serve` a collector in `dir`; returns it and its ingest and enrollment ports.
fn collector(dir: &Path) -> (Kill, String, String) {
    ok(Command::new(bin("vigie-collector"))
        .args(["init", "--data-dir"])
        .arg(dir)
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
    let mut child = Command::new(bin("vigie-collector"))
        .args(["serve", "--data-dir"])
        .arg(dir)
        .env("VIGIE_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let (mut ingest, mut enroll) = (String::new(), String::new());
    let mut line = String::new();
    while ingest.is_empty() || enroll.is_empty() {
        line.clear();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "collector did not start"
        );
        let port = line.rsplit(':').next().unwrap().trim().to_owned();
        if line.starts_with("ingest") {
            ingest = port;
        } else if line.starts_with("enrollment") {
            enroll = port;
        }
    }
    std::thread::spawn(move || for _ in out.lines() {});
    let start = Instant::now();
    while !dir.join("admin.sock").exists() {
        assert!(start.elapsed() < Duration::from_secs(20), "no admin socket");
        std::thread::sleep(Duration::from_millis(50));
    }
    (Kill(child), ingest, enroll)
}

fn admin(dir: &Path, group: &[&str], rest: &[&str]) -> String {
    ok(Command::new(bin("vigie-collector"))
        .args(group)
        .arg("--data-dir")
        .arg(dir)
        .args(rest))
}

/// FIM-002's outcome and detail for the one host, as the collector's findings say now.
fn fim_002(dir: &Path) -> Option<(String, String)> {
    let json = admin(dir, &["findings"], &["--format", "json", "--org", "mairie"]);
    let v: Vec<serde_json::Value> = serde_json::from_str(&json).unwrap();
    v.into_iter().find(|f| f["check_id"] == "FIM-002").map(|f| {
        (
            f["outcome"].as_str().unwrap_or_default().to_owned(),
            f["detail"].as_str().unwrap_or_default().to_owned(),
        )
    })
}

/// Unexplained changes the collector counts ("N modifications non expliquées…"; 0 on a pass).
fn unexplained(dir: &Path) -> u64 {
    match fim_002(dir) {
        Some((o, d)) if o == "fail" => d
            .split(' ')
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0),
        _ => 0,
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

fn summary(name: &str, mut v: Vec<Duration>) {
    v.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{name}: n={} p50={:.0} ms p99={:.0} ms max={:.0} ms min={:.0} ms",
        v.len(),
        ms(percentile(&v, 0.50)),
        ms(percentile(&v, 0.99)),
        ms(*v.last().unwrap()),
        ms(v[0]),
    );
}

fn main() {
    let changes = env("VIGIE_BENCH_CHANGES", 200) as usize;
    let spacing = Duration::from_millis(env("VIGIE_BENCH_SPACING_MS", 50));
    let isolated = env("VIGIE_BENCH_ISOLATED", 20) as usize;
    let tmp = tempfile::tempdir().unwrap();
    let top = tmp.path();
    let host = top.join("host");
    let watched = host.join("etc/app");
    fs::create_dir_all(&watched).unwrap();
    for d in ["usr/bin", "usr/sbin", "boot", "var/lib/dpkg"] {
        fs::create_dir_all(host.join(d)).unwrap();
    }
    fs::write(host.join("var/lib/dpkg/status"), "").unwrap();
    ok(Command::new("touch")
        .args(["-d", "1 hour ago"])
        .arg(host.join("var/lib/dpkg/status")));
    let total = changes + isolated;
    for i in 0..total {
        fs::write(watched.join(format!("f{i:04}")), "before").unwrap();
    }
    let cdir = top.join("collector");
    let (_c, ingest, enroll) = collector(&cdir);
    admin(&cdir, &["org", "add"], &["mairie", "--name", "Mairie"]);
    let token = admin(
        &cdir,
        &["token", "create"],
        &["--org", "mairie", "--ttl", "1h"],
    );
    let fingerprint = admin(&cdir, &["ca-fingerprint"], &[]);
    let state = top.join("agent");
    let config = top.join("agent.toml");
    let mut toml = format!(
        "interval_secs = 5\nheartbeat_secs = 5\nmax_backoff_secs = 1\nrole = \"server\"\n\
         [probes.patches]\nenabled = false\n[probes.backups]\nenabled = false\n\
         [probes.fim]\nroot = \"{}\"\n",
        host.display()
    );
    for p in ["/etc", "/usr/bin", "/usr/sbin", "/boot"] {
        toml.push_str(&format!("[[probes.fim.paths]]\npath = \"{p}\"\n"));
    }
    fs::write(&config, toml).unwrap();
    let token_file = top.join("token");
    fs::write(&token_file, token.trim()).unwrap();
    ok(Command::new(bin("vigie-agent"))
        .arg("--config")
        .arg(&config)
        .args(["enroll", "--state-dir"])
        .arg(&state)
        .args([
            "--collector",
            &format!("https://localhost:{enroll}"),
            "--ca-fingerprint",
            fingerprint.trim(),
        ])
        .arg("--token-file")
        .arg(&token_file));
    let _ = ingest;
    let _agent = Kill(
        Command::new(bin("vigie-agent"))
            .arg("--config")
            .arg(&config)
            .args(["run", "--state-dir"])
            .arg(&state)
            .env("VIGIE_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    // Ready: first baseline done and FIM-002 judged (a pass: nothing changed yet).
    let start = Instant::now();
    while !matches!(fim_002(&cdir), Some((o, _)) if o == "pass") {
        assert!(start.elapsed() < Duration::from_secs(180), "never ready");
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_secs(2));

    // A stream: change i written at i × spacing; a poller notes when the count reaches i + 1.
    let (tx, rx) = mpsc::channel::<Instant>();
    let dir = watched.clone();
    let writer = std::thread::spawn(move || {
        let t0 = Instant::now();
        for i in 0..changes {
            let due = t0 + spacing * i as u32;
            if let Some(w) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(w);
            }
            let at = Instant::now();
            fs::write(dir.join(format!("f{i:04}")), format!("after {i}")).unwrap();
            tx.send(at).unwrap();
        }
    });
    let mut written: Vec<Instant> = Vec::new();
    let mut seen: Vec<Duration> = Vec::new();
    let mut polls = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(120) + spacing * changes as u32;
    while seen.len() < changes {
        assert!(
            Instant::now() < deadline,
            "only {} of {changes} seen",
            seen.len()
        );
        let p0 = Instant::now();
        let n = unexplained(&cdir) as usize;
        let p1 = Instant::now();
        polls.push(p1 - p0);
        written.extend(rx.try_iter());
        while seen.len() < n.min(written.len()) {
            seen.push(p1 - written[seen.len()]);
        }
    }
    writer.join().unwrap();
    let stream = seen;

    // Isolated changes: one at a time, each timed alone.
    let mut alone = Vec::new();
    for i in changes..total {
        std::thread::sleep(Duration::from_millis(500));
        let before = unexplained(&cdir);
        let at = Instant::now();
        fs::write(watched.join(format!("f{i:04}")), format!("after {i}")).unwrap();
        loop {
            let n = unexplained(&cdir);
            if n > before {
                alone.push(at.elapsed());
                break;
            }
            assert!(
                at.elapsed() < Duration::from_secs(60),
                "change {i} never seen"
            );
        }
    }

    let load = fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "cores={} loadavg={}",
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        load.trim()
    );
    summary(
        &format!(
            "stream of {changes} changes every {} ms",
            spacing.as_millis()
        ),
        stream,
    );
    summary(&format!("{isolated} isolated changes"), alone);
    summary("one findings read (resolution)", polls);
}
