//! File integrity end to end: a real agent watching a host tree made by the test (under
//! `[probes.fim] root`), a real collector judging FIM-001 to FIM-003. A change reaches the collector
//! and raises FIM-002; a burst coalesces while the collector is away without losing a path or pushing
//! other evidence out; a burst of 100,000 changes overflows inotify's queue and the rescan reports every
//! final state and the overflow; a package installed with dpkg into the tree is package-verified and
//! the same file altered by hand is not; a baseline rewritten while the agent is stopped is caught by
//! the collector's digests (FIM-003).

use crate::fim_host;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::harness::{bin, ok, Agent, Collector};

/// Long enough for a first baseline, a probe cycle and a derivation on a loaded 2-core machine.
const PHASE: Duration = Duration::from_secs(120);

struct Setup {
    _tmp: tempfile::TempDir,
    host: PathBuf,
    c: Collector,
    a: Agent,
    host_id: String,
}

/// A host tree with /etc, /usr/bin, /usr/sbin and /boot, a collector, and an agent watching the
/// tree (probes every `interval` seconds; patches and backups off to keep cycles short).
fn setup(extra: &str, interval: u64) -> Setup {
    let tmp = tempfile::tempdir().unwrap();
    let host = fim_host::host_tree(tmp.path(), &[7u8; 100_000]);
    let c = Collector::start(tmp.path());
    c.admin_ok(&["org", "add", "mairie", "--name", "Mairie"]);
    let a = Agent::new(tmp.path(), "a", interval, interval);
    let fim_extra = format!("dpkg_busy_grace_secs = 120\n{extra}");
    fs::write(
        &a.config,
        fim_host::agent_config(&host, interval, &fim_extra, &[]),
    )
    .unwrap();
    a.enroll(&c, &c.token("mairie", "1h"));
    let host_id = a.host_id();
    Setup {
        _tmp: tmp,
        host,
        c,
        a,
        host_id,
    }
}

impl Setup {
    fn start(&mut self) {
        let log = self.a.state.with_extension("log");
        self.a.start_logged(&log);
    }

    fn finding(&self, check: &str) -> Option<(String, String)> {
        self.c.findings(Some("mairie")).into_iter().find_map(|f| {
            (f["host_id"] == self.host_id.as_str() && f["check_id"] == check).then(|| {
                (
                    f["outcome"].as_str().unwrap_or_default().to_owned(),
                    f["detail"].as_str().unwrap_or_default().to_owned(),
                )
            })
        })
    }

    /// Waits until `check` satisfies `accept`; on timeout shows what the collector, the agent's
    /// status and the agent's log say.
    #[track_caller]
    fn wait(&self, check: &str, accept: impl Fn(&str, &str) -> bool) -> String {
        self.wait_for(check, PHASE, accept)
    }

    #[track_caller]
    fn wait_for(
        &self,
        check: &str,
        limit: Duration,
        accept: impl Fn(&str, &str) -> bool,
    ) -> String {
        let start = Instant::now();
        loop {
            if let Some((o, d)) = self.finding(check) {
                if accept(&o, &d) {
                    return d;
                }
            }
            if start.elapsed() > limit {
                let status = Command::new(bin("vigie-agent"))
                    .arg("--config")
                    .arg(&self.a.config)
                    .args(["check", "--state-dir"])
                    .arg(&self.a.state)
                    .output()
                    .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                    .unwrap_or_default();
                panic!(
                    "timed out waiting for {check}: the collector says {:?}\nagent status:\n{status}\nagent log:\n{}\ncollector log:\n{}",
                    self.finding(check),
                    fs::read_to_string(self.a.state.with_extension("log")).unwrap_or_default(),
                    self.c.log()
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The agent's own status file, as `check --json --state-dir` reports it.
    fn status(&self) -> serde_json::Value {
        let json = ok(Command::new(bin("vigie-agent"))
            .arg("--config")
            .arg(&self.a.config)
            .args(["check", "--json", "--state-dir"])
            .arg(&self.a.state));
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        v["domains"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["domain"] == "FILE_INTEGRITY")
            .unwrap()["fileIntegrity"]
            .clone()
    }

    /// Waits for the first baseline and the collector's first digests.
    fn ready(&self) {
        self.wait("FIM-001", |o, _| o == "pass");
        self.wait("FIM-003", |o, d| {
            o == "pass" && d.contains("premières empreintes")
        });
        self.wait("FIM-002", |o, _| o == "pass");
    }
}

#[test]
fn a_change_reaches_the_collector_and_raises_fim_002() {
    let mut s = setup("", 2);
    s.start();
    s.ready();
    let t0 = Instant::now();
    fs::write(
        s.host.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/bash\nevil:x:0:0::/:/bin/sh\n",
    )
    .unwrap();
    let d = s.wait("FIM-002", |o, d| o == "fail" && d.contains("/etc/passwd"));
    eprintln!("change to finding: {:?}", t0.elapsed());
    assert!(
        d.contains("non expliquée") && d.contains("/etc/passwd (contenu, taille, date)"),
        "{d}"
    );
    // A mode change, a removal and a non-UTF-8 name, each reported for what it is.
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(
        s.host.join("usr/sbin/daemon"),
        fs::Permissions::from_mode(0o4755),
    )
    .unwrap();
    fs::remove_file(s.host.join("boot/vmlinuz")).unwrap();
    fs::write(
        s.host
            .join("etc")
            .join(std::ffi::OsStr::from_bytes(b"caf\xe9")),
        "x",
    )
    .unwrap();
    let d = s.wait("FIM-002", |_, d| {
        ["/usr/sbin/daemon", "/boot/vmlinuz", "/etc/caf"]
            .iter()
            .all(|p| d.contains(p))
    });
    for part in [
        "/usr/sbin/daemon (droits)",
        "/boot/vmlinuz (supprimé)",
        "/etc/caf\\xe9 (créé)",
    ] {
        assert!(d.contains(part), "{part} in {d}");
    }
    // The digests sent since still match: every change came with its event.
    s.a.stop();
    s.start();
    s.wait("FIM-003", |o, d| o == "pass" && d.contains("conformes"));
}

#[test]
fn a_rewritten_baseline_is_caught_by_the_collectors_digests() {
    let mut s = setup("", 2);
    s.start();
    s.ready();
    s.a.stop();
    // The attacker replaces a binary and rewrites the agent's baseline entry to match, while the
    // agent is stopped: the agent itself sees nothing.
    let tool = s.host.join("usr/bin/tool");
    fs::write(&tool, b"#!/bin/sh\nexec /bin/sh\n").unwrap();
    {
        use sha2::Digest;
        use vigie_agent::fim::record::{key_of, Record};
        let store = vigie_agent::fim::store::Store::open(&s.a.state).unwrap();
        let mut rec = Record::from_meta(&fs::symlink_metadata(&tool).unwrap());
        rec.sha256 = Some(sha2::Sha256::digest(fs::read(&tool).unwrap()).into());
        store.put(&key_of(b"/usr/bin/tool"), &rec).unwrap();
        store.flush().unwrap();
    }
    s.start();
    let d = s.wait("FIM-003", |o, _| o == "fail");
    assert!(
        d.starts_with("la base de référence de l'hôte a changé sans événement correspondant")
            && d.contains("/usr/bin"),
        "{d}"
    );
    // No event was sent for it: only the digests tell.
    let (_, changes) = s.finding("FIM-002").unwrap();
    assert!(!changes.contains("/usr/bin/tool"), "{changes}");
}

#[test]
fn a_package_installed_with_dpkg_is_verified_and_a_hand_edit_is_not() {
    let mut s = setup("", 2);
    // A small package built by the test.
    let pkg = s.host.parent().unwrap().join("pkg");
    fs::create_dir_all(pkg.join("DEBIAN")).unwrap();
    fs::create_dir_all(pkg.join("usr/bin")).unwrap();
    fs::write(
        pkg.join("DEBIAN/control"),
        "Package: vigie-hello\nVersion: 1.2-3\nArchitecture: all\nMaintainer: Test <t@example.invalid>\nDescription: test package\n",
    )
    .unwrap();
    fs::write(pkg.join("usr/bin/vigie-hello"), "#!/bin/sh\necho bonjour\n").unwrap();
    let deb = s.host.parent().unwrap().join("vigie-hello.deb");
    ok(Command::new("dpkg-deb")
        .args(["--root-owner-group", "-b"])
        .arg(&pkg)
        .arg(&deb));
    s.start();
    s.ready();
    let root = format!("--root={}", s.host.display());
    let log = format!(
        "--log={}",
        s.host.parent().unwrap().join("dpkg.log").display()
    );
    ok(Command::new("dpkg")
        .args([root.as_str(), "--force-not-root", log.as_str(), "-i"])
        .arg(&deb)
        .env("LC_ALL", "C"));
    let d = s.wait("FIM-002", |o, d| {
        o == "pass" && d.contains("vérifiée par les paquets")
    });
    assert!(d.contains("1 modification vérifiée par les paquets"), "{d}");
    // The same file altered by hand, moments after dpkg ran: not excused.
    fs::write(
        s.host.join("usr/bin/vigie-hello"),
        "#!/bin/sh\nexec nc -l 4444\n",
    )
    .unwrap();
    let d = s.wait("FIM-002", |o, _| o == "fail");
    assert!(
        d.contains("/usr/bin/vigie-hello (contenu, taille, date, pendant une activité des paquets sans correspondance)"),
        "{d}"
    );
}

/// Renames into the watched tree: one event per path, whatever the batching.
fn burst(dir: &Path, staging: &Path, n: usize) {
    fs::create_dir_all(dir).unwrap();
    fs::create_dir_all(staging).unwrap();
    for i in 0..n {
        let tmp = staging.join(format!("f{i:06}"));
        fs::write(&tmp, format!("{i}")).unwrap();
        fs::rename(&tmp, dir.join(format!("f{i:06}"))).unwrap();
    }
}

#[test]
fn a_burst_while_the_collector_is_away_loses_no_path_and_pushes_nothing_out() {
    let mut s = setup("", 1);
    s.start();
    s.ready();
    s.c.stop();
    // 10,000 new files while the collector cannot acknowledge anything.
    burst(
        &s.host.join("etc/burst"),
        &s.host.parent().unwrap().join("staging"),
        10_000,
    );
    let start = Instant::now();
    loop {
        let st = s.status();
        let pending = st["pendingEvents"]
            .as_str()
            .unwrap_or("0")
            .parse::<u64>()
            .unwrap();
        if pending > 0 && pending <= 10_000 {
            break;
        }
        assert!(start.elapsed() < PHASE, "no pending events: {st}");
        std::thread::sleep(Duration::from_millis(200));
    }
    // Probe cycles go on meanwhile (one a second); the outbox keeps them all.
    std::thread::sleep(Duration::from_secs(3));
    // The collector comes back on new ports: the agent restarts to learn them, its pending changes
    // kept in its store.
    s.a.stop();
    s.c.serve(&[]);
    s.a.set_collector(&s.c.ingest_url());
    s.start();
    let d = s.wait("FIM-002", |_, d| {
        d.starts_with("10001 ") || d.starts_with("10000 ")
    });
    assert!(d.starts_with("10001 modifications non expliquées"), "{d}");
    // (10,000 files and their new directory.) Nothing was dropped from the outbox.
    let dropped = fs::read_to_string(s.a.state.join("spool/dropped")).unwrap_or_default();
    assert!(matches!(dropped.trim(), "" | "0"), "{dropped}");
    let start = Instant::now();
    while s.status()["pendingEvents"].as_str().unwrap_or("0") != "0" {
        assert!(start.elapsed() < PHASE, "{}", s.status());
        std::thread::sleep(Duration::from_millis(200));
    }
    // Other evidence got through: the status of the cycles after the burst is judged.
    s.wait("FIM-001", |o, _| o == "pass");
    s.wait("SSH-001", |o, _| o != "unknown");
}

#[test]
fn a_burst_of_100000_changes_overflows_and_the_rescan_reports_every_final_state() {
    let mut s = setup("", 2);
    s.start();
    s.ready();
    let dir = s.host.join("usr/bin/many");
    fs::create_dir_all(&dir).unwrap();
    for i in 0..100_000 {
        fs::write(dir.join(format!("f{i:06}")), b"x").unwrap();
    }
    // Every path's final state arrives, and the overflow itself is reported.
    let d = s.wait_for("FIM-002", Duration::from_secs(600), |_, d| {
        d.starts_with("100001 modifications")
    });
    assert!(d.contains("débordement"), "{d}");
    let st = s.status();
    let overflows: u64 = st["overflows"].as_str().unwrap_or("0").parse().unwrap();
    assert!(overflows >= 1, "{st}");
    let notices = st["notices"].to_string();
    assert!(notices.contains("queue-overflow"), "{notices}");
}

const UID: &str = "64125";

/// setpriv as an unprivileged uid, with CAP_DAC_READ_SEARCH (the prober's one capability) or none.
fn as_agent_user(dac_read_search: bool) -> Command {
    let mut cmd = Command::new("setpriv");
    cmd.args(["--reuid", UID, "--regid", UID, "--clear-groups"]);
    if dac_read_search {
        cmd.args([
            "--inh-caps=-all,+dac_read_search",
            "--ambient-caps=+dac_read_search",
            "--bounding-set=-all,+dac_read_search",
        ]);
    } else {
        cmd.args(["--inh-caps=-all", "--bounding-set=-all"]);
    }
    cmd.arg("--");
    cmd
}

/// Hands the agent's state directory (and the copy of its binary) to the unprivileged uid, and adds
/// root-only files to the host tree.
fn unprivileged(s: &Setup) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let top = s.host.parent().unwrap();
    fs::set_permissions(top, fs::Permissions::from_mode(0o755)).unwrap();
    fs::write(
        s.host.join("etc/shadow"),
        "root:$y$j9T$secret:19000:0:99999:7:::\n",
    )
    .unwrap();
    fs::set_permissions(s.host.join("etc/shadow"), fs::Permissions::from_mode(0o600)).unwrap();
    fs::create_dir_all(s.host.join("etc/private")).unwrap();
    fs::write(s.host.join("etc/private/key"), "k").unwrap();
    fs::set_permissions(
        s.host.join("etc/private"),
        fs::Permissions::from_mode(0o700),
    )
    .unwrap();
    let uid: u32 = UID.parse().unwrap();
    let out = Command::new("chown")
        .args(["-R", &format!("{uid}:{uid}")])
        .arg(&s.a.state)
        .status()
        .unwrap();
    assert!(out.success());
    let agent = top.join("vigie-agent");
    fs::copy(bin("vigie-agent"), &agent).unwrap();
    agent
}

fn spawn_logged(mut cmd: Command, log: &Path) -> std::process::Child {
    cmd.env("VIGIE_LOG", "info")
        .stdout(std::process::Stdio::null())
        .stderr(fs::File::create(log).unwrap())
        .spawn()
        .unwrap()
}

#[test]
fn without_read_capability_unreadable_files_are_recorded_not_skipped() {
    let mut s = setup("", 2);
    let agent = unprivileged(&s);
    let mut cmd = as_agent_user(false);
    cmd.arg(&agent)
        .arg("--config")
        .arg(&s.a.config)
        .args(["run", "--state-dir"])
        .arg(&s.a.state);
    s.a.child = Some(spawn_logged(cmd, &s.a.state.with_extension("log")));
    // /etc/shadow's content and /etc/private's entries cannot be read: both are in the baseline
    // with their error, and said.
    let d = s.wait("FIM-001", |o, _| o == "pass");
    assert!(d.contains("dont 2 illisibles"), "{d}");
    let st = s.status();
    assert_eq!(st["baseline"]["unreadable"], "2", "{st}");
}

#[test]
fn the_split_prober_watches_with_its_capability_and_the_shipper_delivers() {
    let mut s = setup("", 2);
    let agent = unprivileged(&s);
    let top = s.host.parent().unwrap().to_path_buf();
    let mut p = as_agent_user(true);
    p.arg(&agent)
        .arg("--config")
        .arg(&s.a.config)
        .args(["run", "--probe-only", "--state-dir"])
        .arg(&s.a.state);
    let mut sh = as_agent_user(false);
    sh.arg(&agent)
        .arg("--config")
        .arg(&s.a.config)
        .args(["run", "--ship-only", "--state-dir"])
        .arg(&s.a.state);
    let mut prober = spawn_logged(p, &top.join("prober.log"));
    s.a.child = Some(spawn_logged(sh, &s.a.state.with_extension("log")));
    s.ready();
    let (_, d) = s.finding("FIM-001").unwrap();
    assert!(
        !d.contains("illisible"),
        "the prober reads what it audits: {d}"
    );
    fs::write(s.host.join("etc/shadow"), "root:*:19000:0:99999:7:::\n").unwrap();
    let d = s.wait("FIM-002", |o, d| o == "fail" && d.contains("/etc/shadow"));
    assert!(d.contains("/etc/shadow (contenu"), "{d}");
    let _ = prober.kill();
    let _ = prober.wait();
}
