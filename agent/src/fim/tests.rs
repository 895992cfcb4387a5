//! Tests of the whole monitor thread on real files: realtime events of every kind, coalescing while
//! the outbox is full, restart with changes made while stopped, and digest syncs.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use vigie_proto::v1::domain_state::State;
use vigie_proto::v1::file_event::Kind;
use vigie_proto::v1::file_integrity::Part;
use vigie_proto::v1::{FileEvent, FileIntegrity, Report};
use vigie_proto::Message;

use super::sink::Sink;
use super::{spawn, FimConfig, WatchPath, STATUS_FILE};

#[derive(Clone, Default)]
struct Shared(Arc<Mutex<(Vec<Report>, usize)>>);

impl Sink for Shared {
    fn room(&mut self) -> usize {
        self.0.lock().unwrap().1
    }
    fn send(&mut self, report: Report, _now: i64) -> Result<(), String> {
        let mut g = self.0.lock().unwrap();
        g.0.push(report);
        g.1 = g.1.saturating_sub(1);
        Ok(())
    }
}

impl Shared {
    fn open(&self, room: usize) {
        self.0.lock().unwrap().1 = room;
    }
    fn states(&self) -> Vec<FileIntegrity> {
        self.0
            .lock()
            .unwrap()
            .0
            .iter()
            .flat_map(|r| r.domains.iter())
            .filter_map(|d| match &d.state {
                Some(State::FileIntegrity(f)) => Some(f.clone()),
                _ => None,
            })
            .collect()
    }
    fn events(&self) -> Vec<FileEvent> {
        self.states()
            .into_iter()
            .filter(|f| f.part == Part::Events as i32)
            .flat_map(|f| f.events)
            .collect()
    }
}

fn cfg(root: &Path) -> FimConfig {
    FimConfig {
        paths: vec![WatchPath {
            path: "/etc".into(),
            recursive: true,
            exclude: vec![],
        }],
        root: root.to_path_buf(),
        debounce_ms: 50,
        max_events_per_path_per_hour: 3600,
        ..FimConfig::default()
    }
}

fn status(state: &Path) -> Option<FileIntegrity> {
    let b = fs::read(state.join("fim").join(STATUS_FILE)).ok()?;
    FileIntegrity::decode(b.as_slice()).ok()
}

fn wait(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < end {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("timed out waiting for {what}");
}

fn complete(state: &Path) -> bool {
    status(state)
        .and_then(|s| s.baseline)
        .is_some_and(|b| b.state == "complete")
}

/// The final state per path, as a collector would fold the events.
fn by_path(evs: &[FileEvent]) -> BTreeMap<Vec<u8>, (i32, Vec<String>)> {
    let mut m = BTreeMap::new();
    for e in evs {
        m.insert(
            e.path.as_ref().unwrap().raw.clone(),
            (e.kind, e.changed.clone()),
        );
    }
    m
}

struct Tree {
    _t: tempfile::TempDir,
    root: PathBuf,
    state: PathBuf,
}

fn tree(files: usize) -> Tree {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("root");
    let state = t.path().join("state");
    fs::create_dir_all(root.join("etc/d")).unwrap();
    fs::create_dir_all(&state).unwrap();
    for i in 0..files {
        fs::write(root.join(format!("etc/d/f{i}")), format!("{i}")).unwrap();
    }
    Tree { _t: t, root, state }
}

#[test]
fn realtime_reports_every_kind_of_change() {
    let t = tree(20);
    let sink = Shared::default();
    sink.open(1000);
    let h = spawn(&cfg(&t.root), &t.state, Box::new(sink.clone())).unwrap();
    wait("the first baseline", 30, || complete(&t.state));
    // The first sync of digests goes out once the baseline is complete.
    wait("a digest sync", 10, || {
        sink.states().iter().any(|f| f.part == Part::Digests as i32)
    });
    let digests = sink
        .states()
        .into_iter()
        .find(|f| f.part == Part::Digests as i32)
        .unwrap();
    assert_eq!(digests.digest_sync.as_ref().unwrap().entries, 22);
    assert_eq!(digests.baseline_digests.len(), 2);
    std::thread::sleep(Duration::from_millis(300));
    let e = t.root.join("etc");
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::PermissionsExt;
    fs::write(e.join("d/f1"), "changed").unwrap();
    fs::set_permissions(e.join("d/f2"), fs::Permissions::from_mode(0o600)).unwrap();
    fs::remove_file(e.join("d/f3")).unwrap();
    fs::rename(e.join("d/f4"), e.join("d/f4.moved")).unwrap();
    fs::write(e.join("new"), "n").unwrap();
    fs::remove_file(e.join("d/f5")).unwrap();
    std::os::unix::fs::symlink("/etc/shadow", e.join("d/f5")).unwrap();
    fs::write(e.join(std::ffi::OsStr::from_bytes(b"caf\xe9")), "x").unwrap();
    let want: Vec<&[u8]> = vec![
        b"/etc/d/f1",
        b"/etc/d/f2",
        b"/etc/d/f3",
        b"/etc/d/f4.moved",
        b"/etc/new",
        b"/etc/d/f5",
        b"/etc/caf\xe9",
    ];
    wait("every event", 20, || {
        let m = by_path(&sink.events());
        want.iter().all(|p| m.contains_key(*p))
    });
    let m = by_path(&sink.events());
    assert_eq!(m[&b"/etc/d/f1"[..]].0, Kind::Modified as i32);
    assert!(m[&b"/etc/d/f1"[..]].1.contains(&"content".to_owned()));
    assert_eq!(
        m[&b"/etc/d/f2"[..]],
        (Kind::Metadata as i32, vec!["mode".to_owned()])
    );
    assert_eq!(m[&b"/etc/d/f3"[..]].0, Kind::Removed as i32);
    assert_eq!(m[&b"/etc/new"[..]].0, Kind::Created as i32);
    assert_eq!(m[&b"/etc/d/f5"[..]].0, Kind::Modified as i32);
    assert!(m[&b"/etc/d/f5"[..]].1.contains(&"type".to_owned()));
    assert_eq!(m[&b"/etc/caf\xe9"[..]].0, Kind::Created as i32);
    let renamed = sink
        .events()
        .into_iter()
        .find(|e| e.path.as_ref().unwrap().raw == b"/etc/d/f4.moved")
        .unwrap();
    if renamed.kind == Kind::Renamed as i32 {
        assert_eq!(renamed.from_path.unwrap().raw, b"/etc/d/f4");
    } else {
        // The two halves of a rename came in different batches: both are still reported.
        assert_eq!(renamed.kind, Kind::Created as i32);
        assert!(m.contains_key(&b"/etc/d/f4"[..]));
    }
    h.stop();
}

#[test]
fn a_full_outbox_makes_changes_wait_and_coalesce_per_path() {
    let t = tree(0);
    let sink = Shared::default();
    let h = spawn(&cfg(&t.root), &t.state, Box::new(sink.clone())).unwrap();
    wait("the first baseline", 30, || complete(&t.state));
    // The outbox is full: 10,000 files written twice, 100 created then removed.
    for round in 0..2 {
        for i in 0..10_000 {
            fs::write(t.root.join(format!("etc/d/b{i:05}")), format!("{round}")).unwrap();
        }
    }
    for i in 0..100 {
        fs::write(t.root.join(format!("etc/tmp{i}")), "x").unwrap();
    }
    for i in 0..100 {
        fs::remove_file(t.root.join(format!("etc/tmp{i}"))).unwrap();
    }
    wait("the changes to be pending", 60, || {
        status(&t.state).is_some_and(|s| s.pending_events == 10_000)
    });
    assert!(sink.events().is_empty());
    sink.open(1000);
    wait("every event", 60, || sink.events().len() >= 10_000);
    std::thread::sleep(Duration::from_millis(500));
    let evs = sink.events();
    assert_eq!(evs.len(), 10_000, "one event per path, nothing more");
    assert!(evs.iter().all(|e| e.kind == Kind::Created as i32));
    // Reports stay within the cap.
    for r in &sink.0.lock().unwrap().0 {
        assert!(r.encoded_len() <= vigie_proto::limits::MAX_REPORT_BODY_BYTES);
    }
    // Each path's event carries its final content.
    let want: Vec<u8> = <sha2::Sha256 as sha2::Digest>::digest(b"1").to_vec();
    assert!(evs.iter().all(|e| e.sha256 == want));
    h.stop();
}

#[test]
fn changes_made_while_stopped_are_found_at_restart_and_the_baseline_is_kept() {
    let t = tree(50);
    let sink = Shared::default();
    sink.open(1000);
    let h = spawn(&cfg(&t.root), &t.state, Box::new(sink.clone())).unwrap();
    wait("the first baseline", 30, || complete(&t.state));
    let id = status(&t.state).unwrap().baseline.unwrap().baseline_id;
    h.stop();
    fs::write(t.root.join("etc/d/f7"), "changed while stopped").unwrap();
    fs::remove_file(t.root.join("etc/d/f8")).unwrap();
    let sink2 = Shared::default();
    sink2.open(1000);
    let h = spawn(&cfg(&t.root), &t.state, Box::new(sink2.clone())).unwrap();
    wait("events after restart", 20, || sink2.events().len() >= 2);
    let m = by_path(&sink2.events());
    assert_eq!(m[&b"/etc/d/f7"[..]].0, Kind::Modified as i32);
    assert_eq!(m[&b"/etc/d/f8"[..]].0, Kind::Removed as i32);
    assert_eq!(m.len(), 2);
    assert_eq!(status(&t.state).unwrap().baseline.unwrap().baseline_id, id);
    h.stop();
}

#[test]
fn a_watched_path_that_does_not_exist_yet_is_picked_up() {
    let t = tree(0);
    let sink = Shared::default();
    sink.open(1000);
    let mut c = cfg(&t.root);
    c.paths.push(WatchPath {
        path: "/srv/later".into(),
        recursive: true,
        exclude: vec![],
    });
    let h = spawn(&c, &t.state, Box::new(sink.clone())).unwrap();
    wait("the first baseline", 30, || complete(&t.state));
    let s = status(&t.state).unwrap();
    let later = s
        .watched
        .iter()
        .find(|w| w.path.as_ref().unwrap().raw == b"/srv/later")
        .unwrap();
    assert_eq!(later.state, "missing");
    fs::create_dir_all(t.root.join("srv/later")).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    fs::write(t.root.join("srv/later/x"), "x").unwrap();
    wait("the new path's events", 20, || {
        by_path(&sink.events()).contains_key(&b"/srv/later/x"[..])
    });
    wait("the new path watched", 10, || {
        status(&t.state).is_some_and(|s| {
            s.watched
                .iter()
                .any(|w| w.path.as_ref().unwrap().raw == b"/srv/later" && w.state == "watched")
        })
    });
    h.stop();
}

#[test]
fn a_due_full_rehash_reopens_the_store_and_watching_goes_on() {
    let t = tree(20);
    let sink = Shared::default();
    sink.open(1000);
    let h = spawn(&cfg(&t.root), &t.state, Box::new(sink.clone())).unwrap();
    wait("the first baseline", 30, || complete(&t.state));
    h.stop();
    // As far as the store knows, the last full re-hash is long past: the next one is due at once.
    {
        let store = super::store::Store::open(&t.state).unwrap();
        store
            .set_meta_i64(super::store::meta::LAST_FULL_MS, 1)
            .unwrap();
        store.flush().unwrap();
    }
    let sink2 = Shared::default();
    sink2.open(1000);
    let h = spawn(&cfg(&t.root), &t.state, Box::new(sink2.clone())).unwrap();
    wait("the full re-hash", 30, || {
        status(&t.state).is_some_and(|s| s.last_full_scan_ms > 1)
    });
    // The store was closed and opened again after the re-hash; the watcher still reports.
    std::thread::sleep(Duration::from_millis(500));
    fs::write(t.root.join("etc/d/f3"), "changed after the re-hash").unwrap();
    wait("the change", 20, || {
        by_path(&sink2.events()).contains_key(&b"/etc/d/f3"[..])
    });
    assert_eq!(
        by_path(&sink2.events())[&b"/etc/d/f3"[..]].0,
        Kind::Modified as i32
    );
    h.stop();
}
