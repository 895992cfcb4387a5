//! File integrity under bad input and failure, end to end with a real agent and collector: symlink
//! loops recorded as links and never followed; permissions that change under the scanner (files and
//! directories becoming unreadable, during the first baseline and after); the agent's state on a full
//! disk (a small tmpfs) and its recovery when space returns; an exhausted inotify watch limit (a user
//! namespace with its own `max_inotify_watches`) covered by the rescan; and an event kept by the outbox
//! across a `kill -9` between spooling and the collector's acknowledgement.

use crate::fim_host;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use vigie_agent::fim::record::{display_path, path_of, FileType, Record};

use crate::harness::{bin, ok, Agent, Collector};

/// Long enough for a first baseline, a probe cycle and a derivation on a loaded 2-core machine.
const PHASE: Duration = Duration::from_secs(120);

struct Fx {
    _tmp: tempfile::TempDir,
    top: PathBuf,
    host: PathBuf,
    c: Collector,
    a: Agent,
    host_id: String,
}

/// A host tree (/etc, /usr/bin, /usr/sbin, /boot), a collector, and an agent (probes every 2 s)
/// watching the tree plus `paths` (extra `[[probes.fim.paths]]`). `prepare` runs on the test's top
/// directory before enrollment (e.g. to mount the agent's state directory).
fn fixture(extra: &str, paths: &[&str], prepare: impl FnOnce(&Path)) -> Fx {
    let tmp = tempfile::tempdir().unwrap();
    let top = tmp.path().to_path_buf();
    let host = fim_host::host_tree(&top, &[7u8; 10_000]);
    prepare(&top);
    let c = Collector::start(&top);
    c.admin_ok(&["org", "add", "mairie", "--name", "Mairie"]);
    let a = Agent::new(&top, "a", 2, 2);
    fs::write(&a.config, fim_host::agent_config(&host, 2, extra, paths)).unwrap();
    a.enroll(&c, &c.token("mairie", "1h"));
    let host_id = a.host_id();
    Fx {
        _tmp: tmp,
        top,
        host,
        c,
        a,
        host_id,
    }
}

impl Fx {
    fn log(&self) -> PathBuf {
        self.top.join("agent.log")
    }

    fn start(&mut self) {
        let log = self.log();
        self.a.start_logged(&log);
    }

    /// Starts the agent through `wrapper` (a command line run before the agent's own).
    fn start_via(&mut self, wrapper: &[&str], agent: &Path) {
        let mut cmd = Command::new(wrapper[0]);
        cmd.args(&wrapper[1..])
            .arg(agent)
            .arg("--config")
            .arg(&self.a.config)
            .args(["run", "--state-dir"])
            .arg(&self.a.state)
            .env("VIGIE_LOG", "info")
            .stdout(Stdio::null())
            .stderr(fs::File::create(self.log()).unwrap());
        self.a.child = Some(cmd.spawn().unwrap());
    }

    #[track_caller]
    fn assert_alive(&mut self) {
        let child = self.a.child.as_mut().expect("agent started");
        if let Some(st) = child.try_wait().unwrap() {
            panic!(
                "the agent exited ({st}):\n{}",
                fs::read_to_string(self.log()).unwrap_or_default()
            );
        }
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

    #[track_caller]
    fn wait(&self, check: &str, accept: impl Fn(&str, &str) -> bool) -> String {
        let start = Instant::now();
        loop {
            if let Some((o, d)) = self.finding(check) {
                if accept(&o, &d) {
                    return d;
                }
            }
            if start.elapsed() > PHASE {
                panic!(
                    "timed out waiting for {check}: the collector says {:?}\nagent status:\n{}\nagent log:\n{}",
                    self.finding(check),
                    self.status(),
                    fs::read_to_string(self.log()).unwrap_or_default(),
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The agent's FIM status file, as `check --json --state-dir` reports it.
    fn status(&self) -> serde_json::Value {
        let out = Command::new(bin("vigie-agent"))
            .arg("--config")
            .arg(&self.a.config)
            .args(["check", "--json", "--state-dir"])
            .arg(&self.a.state)
            .output()
            .unwrap();
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(&out.stdout) else {
            return serde_json::Value::Null;
        };
        v["domains"]
            .as_array()
            .and_then(|d| d.iter().find(|d| d["domain"] == "FILE_INTEGRITY"))
            .map(|d| d["fileIntegrity"].clone())
            .unwrap_or_default()
    }

    #[track_caller]
    fn wait_status(&self, what: &str, accept: impl Fn(&serde_json::Value) -> bool) {
        let start = Instant::now();
        loop {
            let st = self.status();
            if accept(&st) {
                return;
            }
            assert!(
                start.elapsed() < PHASE,
                "timed out waiting for {what}: {st}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn ready(&self) {
        self.wait("FIM-001", |o, _| o == "pass");
        self.wait("FIM-002", |o, _| o == "pass");
    }

    /// The agent's baseline (the agent must be stopped): logical path → record.
    fn baseline(&self) -> Vec<(String, Record)> {
        let store = vigie_agent::fim::store::Store::open(&self.a.state).unwrap();
        store
            .baseline
            .iter()
            .map(|kv| {
                let (k, v) = kv.unwrap();
                (display_path(&path_of(&k)), Record::decode(&v).unwrap())
            })
            .collect()
    }
}

fn symlink(target: &str, at: &Path) {
    std::os::unix::fs::symlink(target, at).unwrap();
}

#[test]
fn symlink_loops_are_recorded_as_links_and_never_followed() {
    let mut s = fixture("", &[], |_| {});
    let etc = s.host.join("etc");
    fs::create_dir_all(etc.join("sub/deep")).unwrap();
    symlink("b", &etc.join("a"));
    symlink("a", &etc.join("b"));
    symlink("self", &etc.join("self"));
    symlink("..", &etc.join("sub/up"));
    symlink(etc.to_str().unwrap(), &etc.join("sub/top"));
    symlink("../../sub", &etc.join("sub/deep/x"));
    s.start();
    s.ready();
    // Realtime: a new loop appears, a loop's target changes.
    symlink("c", &etc.join("c"));
    symlink("../..", &etc.join("sub/up.new"));
    fs::rename(etc.join("sub/up.new"), etc.join("sub/up")).unwrap();
    let d = s.wait("FIM-002", |o, d| {
        o == "fail" && d.contains("/etc/c") && d.contains("/etc/sub/up")
    });
    assert!(d.contains("/etc/c (créé)"), "{d}");
    assert!(
        d.contains("/etc/sub/up (taille, date, cible du lien"),
        "{d}"
    );
    s.assert_alive();
    s.a.stop();
    let base = s.baseline();
    let paths: Vec<&str> = base.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(
        paths,
        vec![
            "/boot",
            "/boot/vmlinuz",
            "/etc",
            "/etc/a",
            "/etc/b",
            "/etc/c",
            "/etc/passwd",
            "/etc/self",
            "/etc/ssh",
            "/etc/ssh/sshd_config",
            "/etc/sub",
            "/etc/sub/deep",
            "/etc/sub/deep/x",
            "/etc/sub/top",
            "/etc/sub/up",
            "/usr/bin",
            "/usr/bin/tool",
            "/usr/sbin",
            "/usr/sbin/daemon",
        ],
        "nothing below a link is in the baseline"
    );
    let link = |p: &str| {
        let (_, r) = base.iter().find(|(q, _)| q == p).unwrap();
        assert_eq!(r.ftype, FileType::Symlink, "{p}: {r:?}");
        assert!(r.error.is_none() && r.sha256.is_none(), "{p}: {r:?}");
        String::from_utf8(r.link.clone().unwrap()).unwrap()
    };
    assert_eq!(link("/etc/a"), "b");
    assert_eq!(link("/etc/b"), "a");
    assert_eq!(link("/etc/self"), "self");
    assert_eq!(link("/etc/c"), "c");
    assert_eq!(link("/etc/sub/up"), "../..");
    assert_eq!(link("/etc/sub/top"), etc.to_str().unwrap());
    assert_eq!(link("/etc/sub/deep/x"), "../../sub");
}

const UID: &str = "64126";

/// The agent's binary, copied where the unprivileged uid can run it; its state directory handed to
/// that uid.
fn unprivileged(s: &Fx) -> PathBuf {
    fs::set_permissions(&s.top, fs::Permissions::from_mode(0o755)).unwrap();
    ok(Command::new("chown")
        .args(["-R", &format!("{UID}:{UID}")])
        .arg(&s.a.state));
    let agent = s.top.join("vigie-agent");
    fs::copy(bin("vigie-agent"), &agent).unwrap();
    agent
}

fn setpriv() -> Vec<&'static str> {
    vec![
        "setpriv",
        "--reuid",
        UID,
        "--regid",
        UID,
        "--clear-groups",
        "--inh-caps=-all",
        "--bounding-set=-all",
        "--",
    ]
}

fn chmod(p: &Path, mode: u32) {
    fs::set_permissions(p, fs::Permissions::from_mode(mode)).unwrap();
}

/// Pending events in a status (proto3 JSON leaves a zero out); `u64::MAX` when there is no status.
fn pending(st: &serde_json::Value) -> u64 {
    if st["baseline"].is_null() {
        return u64::MAX;
    }
    st["pendingEvents"].as_str().unwrap_or("0").parse().unwrap()
}

fn unreadable(st: &serde_json::Value) -> u64 {
    st["baseline"]["unreadable"]
        .as_str()
        .unwrap_or("0")
        .parse()
        .unwrap()
}

#[test]
fn permissions_changing_under_the_scanner_give_error_entries_not_gaps() {
    let mut s = fixture("", &[], |_| {});
    let etc = s.host.join("etc");
    fs::create_dir_all(etc.join("dir")).unwrap();
    fs::write(etc.join("dir/f1"), "one").unwrap();
    fs::write(etc.join("dir/f2"), "two").unwrap();
    fs::write(etc.join("secret"), "s").unwrap();
    // Enough files for the first baseline to take a while; some become unreadable while it runs.
    let many = etc.join("many");
    fs::create_dir_all(&many).unwrap();
    for i in 0..20_000 {
        fs::write(many.join(format!("f{i:05}")), format!("{i}")).unwrap();
    }
    let agent = unprivileged(&s);
    s.start_via(&setpriv(), &agent);
    let start = Instant::now();
    while !s.a.state.join("fim/status.pb").exists() {
        assert!(start.elapsed() < PHASE, "no FIM status");
        std::thread::sleep(Duration::from_millis(20));
    }
    // From the end backwards, so that the walk meets them in every state: before, between its lstat
    // and its read, after.
    for i in (0..20_000).rev().step_by(100) {
        chmod(&many.join(format!("f{i:05}")), 0o000);
        std::thread::sleep(Duration::from_millis(5));
    }
    // The rescan after the first baseline reports the modes that changed behind the walk: FIM-002
    // may fail already, so only FIM-001 says the baseline is done.
    s.wait("FIM-001", |o, _| o == "pass");
    // Whatever the timing, the final state is 200 unreadable files, each recorded with its error.
    s.wait_status("200 unreadable entries, nothing pending", |st| {
        unreadable(st) == 200 && pending(st) == 0
    });
    s.assert_alive();
    std::thread::sleep(Duration::from_secs(5));
    let reported = |d: &str| {
        d.split(' ')
            .next()
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let before = s.finding("FIM-002").map(|(_, d)| reported(&d)).unwrap_or(0);
    // After the baseline: a file and a directory become unreadable (a mode change each), and the
    // directory's entries, which can no longer be listed, are not reported deleted.
    chmod(&etc.join("secret"), 0o000);
    chmod(&etc.join("dir"), 0o700);
    let d = s.wait("FIM-002", |o, d| {
        o == "fail" && d.contains("/etc/secret") && d.contains("/etc/dir ")
    });
    assert!(d.contains("/etc/secret (droits, lisibilité)"), "{d}");
    assert!(d.contains("/etc/dir (droits, lisibilité)"), "{d}");
    s.wait_status("202 unreadable entries", |st| unreadable(st) == 202);
    std::thread::sleep(Duration::from_secs(3));
    let (_, d) = s.finding("FIM-002").unwrap();
    let after = reported(&d);
    assert!(after >= before + 2, "{before} then {d}");
    // A restart rescans everything: still no deletion below the unlistable directory.
    s.a.stop();
    s.start_via(&setpriv(), &agent);
    std::thread::sleep(Duration::from_secs(5));
    s.wait("FIM-001", |o, _| o == "pass");
    let (_, d) = s.finding("FIM-002").unwrap();
    assert_eq!(
        reported(&d),
        after,
        "no deletion below the unlistable directory: {d}"
    );
    assert!(!d.contains("supprimé"), "{d}");
    // Readable again: the content is hashed again and the entries below are back without change.
    chmod(&etc.join("dir"), 0o755);
    chmod(&etc.join("secret"), 0o644);
    s.wait_status("no unreadable entries but the 200", |st| {
        unreadable(st) == 200
    });
    s.assert_alive();
    s.a.stop();
    let base = s.baseline();
    let rec = |p: &str| base.iter().find(|(q, _)| q == p).unwrap().1.clone();
    assert!(rec("/etc/dir/f1").sha256.is_some() && rec("/etc/dir/f1").error.is_none());
    assert!(rec("/etc/secret").sha256.is_some() && rec("/etc/secret").error.is_none());
    let r = rec("/etc/many/f19999");
    assert_eq!(
        (r.mode, r.error.as_deref()),
        (0, Some("permission denied")),
        "{r:?}"
    );
}

/// A tmpfs of `size` at `dir`, unmounted on drop.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Option<Tmpfs> {
        fs::create_dir_all(dir).unwrap();
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(dir)
            .output()
            .unwrap();
        if !out.status.success() {
            eprintln!(
                "SKIPPED: cannot mount a tmpfs here ({}); the full-disk test needs one",
                String::from_utf8_lossy(&out.stderr).trim()
            );
            return None;
        }
        Some(Tmpfs(dir.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Fills the file system holding `path` until writes fail.
fn fill(path: &Path) {
    use std::io::Write;
    let mut f = fs::File::create(path).unwrap();
    let chunk = vec![0u8; 64 * 1024];
    while f.write_all(&chunk).is_ok() {}
    while f.write_all(&chunk[..512]).is_ok() {}
    let _ = f.sync_all();
}

#[test]
fn a_full_disk_under_the_agents_state_is_reported_and_recovered_from() {
    let mut mounted = None;
    let mut s = fixture("", &[], |top| {
        mounted = Tmpfs::mount(&top.join("a"), "32m");
    });
    let Some(_tmpfs) = mounted else { return };
    s.start();
    s.ready();
    let filler = s.a.state.join("filler");
    fill(&filler);
    // Changes while the agent can write neither its outbox nor, past the pages it holds, its store.
    fs::write(
        s.host.join("etc/passwd"),
        "root:x:0:0::/root:/bin/sh\nx:x:0:0::/:/bin/sh\n",
    )
    .unwrap();
    let flood = s.host.join("etc/flood");
    fs::create_dir_all(&flood).unwrap();
    for i in 0..3000 {
        fs::write(flood.join(format!("f{i:04}")), format!("{i}")).unwrap();
    }
    std::thread::sleep(Duration::from_secs(6));
    fs::write(
        s.host.join("usr/sbin/daemon"),
        "#!/bin/sh\nexec nc -l 4444\n",
    )
    .unwrap();
    std::thread::sleep(Duration::from_secs(4));
    s.assert_alive();
    let log = fs::read_to_string(s.log()).unwrap();
    assert!(log.contains("No space left on device"), "{log}");
    // Space returns: every change arrives, and so does the incident.
    fs::remove_file(&filler).unwrap();
    let d = s.wait("FIM-002", |o, d| o == "fail" && d.starts_with("3003 "));
    assert!(d.contains("/usr/sbin/daemon (contenu"), "{d}");
    s.assert_alive();
    s.wait_status("nothing pending", |st| pending(st) == 0);
    let st = s.status();
    let notices = st["notices"].to_string();
    // Which write failed first (the store's or the outbox's) depends on timing; either is said.
    assert!(
        (notices.contains("store-error") || notices.contains("outbox-error"))
            && notices.contains("No space left on device"),
        "{st}"
    );
    eprintln!("notices after the full disk: {notices}");
    // The monitor is live again: a new change arrives.
    fs::write(s.host.join("boot/vmlinuz"), "kernel 2").unwrap();
    s.wait("FIM-002", |_, d| d.contains("/boot/vmlinuz"));
}

#[test]
fn an_exhausted_watch_limit_is_reported_and_the_rescan_covers_what_is_not_watched() {
    // /var/www (watched last) has subdirectories; the limit lets the required paths and /var/www
    // itself be watched, not what is below it.
    let mut s = fixture("rescan_interval_secs = 60\n", &["/var/www"], |_| {});
    let www = s.host.join("var/www");
    for d in ["a", "b", "c"] {
        fs::create_dir_all(www.join(d)).unwrap();
        fs::write(www.join(d).join("page.html"), d).unwrap();
    }
    // /boot, /etc, /etc/ssh, /usr/bin, /usr/sbin, /var/www.
    let limit = 6;
    let script = format!("echo {limit} > /proc/sys/user/max_inotify_watches && exec \"$0\" \"$@\"");
    let probe = Command::new("unshare")
        .args(["-U", "-r", "sh", "-c", &script, "true"])
        .output()
        .unwrap();
    if !probe.status.success() {
        eprintln!(
            "SKIPPED: no user namespace with its own inotify limit here ({})",
            String::from_utf8_lossy(&probe.stderr).trim()
        );
        return;
    }
    let agent = bin("vigie-agent");
    s.start_via(&["unshare", "-U", "-r", "sh", "-c", &script], &agent);
    s.ready();
    s.wait_status("the watch limit in the status", |st| {
        st["watchLimitReached"] == true
    });
    let st = s.status();
    assert!(st["notices"].to_string().contains("watch-limit"), "{st}");
    let state = |p: &str| {
        st["watched"]
            .as_array()
            .unwrap()
            .iter()
            .find(|w| w["path"]["raw"] == base64_of(p))
            .map(|w| w["state"].as_str().unwrap().to_owned())
            .unwrap_or_else(|| panic!("{p} in {st}"))
    };
    assert_eq!(state("/etc"), "watched", "{st}");
    assert_eq!(state("/var/www"), "scanned", "{st}");
    // A watched directory still reports at once; one below the limit waits for the rescan.
    let t0 = Instant::now();
    fs::write(www.join("b/page.html"), "defaced").unwrap();
    fs::write(s.host.join("etc/passwd"), "root:x:0:0::/root:/bin/sh\n").unwrap();
    s.wait("FIM-002", |_, d| d.contains("/etc/passwd"));
    let d = s.wait("FIM-002", |_, d| d.contains("/var/www/b/page.html"));
    assert!(d.contains("/var/www/b/page.html (contenu"), "{d}");
    eprintln!("unwatched change reported after {:?}", t0.elapsed());
    s.assert_alive();
}

fn base64_of(p: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(p)
}

#[test]
fn an_event_in_the_outbox_survives_kill_9_before_the_acknowledgement() {
    let mut s = fixture("", &[], |_| {});
    s.start();
    s.ready();
    // No collector: nothing is acknowledged.
    s.c.kill();
    // A name no other evidence carries, to find the event in the outbox.
    fs::write(s.host.join("etc/vigie-kill9-marker"), "x").unwrap();
    let spool = s.a.state.join("spool");
    let in_spool = || {
        fs::read_dir(&spool).unwrap().flatten().any(|e| {
            e.file_name().to_string_lossy().ends_with(".report")
                && fs::read(e.path())
                    .unwrap_or_default()
                    .windows(b"/etc/vigie-kill9-marker".len())
                    .any(|w| w == b"/etc/vigie-kill9-marker")
        })
    };
    let start = Instant::now();
    while !in_spool() {
        assert!(
            start.elapsed() < PHASE,
            "the event never reached the outbox"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    s.wait_status("no pending event", |st| pending(st) == 0);
    // SIGKILL: no shutdown path runs.
    let mut child = s.a.child.take().unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    // The agent comes back without file integrity: only its outbox can deliver the event.
    let cfg = fs::read_to_string(&s.a.config).unwrap();
    fs::write(
        &s.a.config,
        cfg.replace("[probes.fim]\n", "[probes.fim]\nenabled = false\n"),
    )
    .unwrap();
    s.c.serve(&[]);
    s.a.set_collector(&s.c.ingest_url());
    s.start();
    let d = s.wait("FIM-002", |o, d| {
        o == "fail" && d.contains("/etc/vigie-kill9-marker")
    });
    assert!(d.contains("/etc/vigie-kill9-marker (créé)"), "{d}");
}
