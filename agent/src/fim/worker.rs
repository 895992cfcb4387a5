//! The file-integrity thread: owns the store, builds (or resumes) the first baseline politely, then
//! waits for realtime changes (debounced) and runs the rescan and the full re-hash on their
//! schedules; hands events to the outbox as room allows; syncs the baseline's digests to the
//! collector; writes the status file the `fim.status` probe reports.
//!
//! It is a plain thread, not a tokio task: hashing and walking block, and a long pass must not
//! hold a runtime worker. It stops at the next check of its stop flag (a pass is checkpointed).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::RecvTimeoutError;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rand::RngCore;
use vigie_proto::limits::MAX_REPORT_BODY_BYTES;
use vigie_proto::v1::domain_state::State;
use vigie_proto::v1::file_integrity::Part;
use vigie_proto::v1::{
    BaselineStatus, DigestSync, DirectoryDigest, Domain, DomainState, FileIntegrity, FimNotice,
    Report, WatchedPath,
};
use vigie_proto::Message;

use super::config::{FimConfig, Watch};
use super::dpkg::Dpkg;
use super::events::{self, RateLimit};
use super::merkle;
use super::realtime::{Realtime, Signal, WatchError};
use super::record::{key_of, key_within, path_of, wire_path, Record};
use super::scan::{Mode, Scanner, Scope, Stats};
use super::sink::Sink;
use super::store::{meta, Notice, Store, StoreError};
use super::walk::Cover;
use crate::probe::ConfigError;

/// Realtime signals queued before the watcher drops them (and the worker rescans).
/// The bounded channel allocates every slot up front (40 B each), and this memory stays resident
/// while the agent idles; a burst beyond it costs one rescan.
const QUEUE_CAPACITY: usize = 4_096;
/// Distinct changed paths gathered in one batch before a full rescan is cheaper.
const MAX_BATCH_PATHS: usize = 20_000;
/// Longest a debounced batch keeps gathering under a steady stream of changes: well under the 2-s
/// change-to-collector budget (DESIGN §6), which a stream of changes closer than the debounce
/// would otherwise spend waiting here alone.
const MAX_BATCH_WAIT: Duration = Duration::from_millis(500);
/// Longest wait before looking at the stop flag and the schedules again.
const TICK: Duration = Duration::from_millis(250);
/// How often the status file is rewritten when nothing changed.
const STATUS_EVERY: Duration = Duration::from_secs(30);
/// Encoded size a FIM report body aims to stay under (the cap is `MAX_REPORT_BODY_BYTES`).
const REPORT_BUDGET: usize = MAX_REPORT_BODY_BYTES * 3 / 4;
/// Notices kept for the status.
const STATUS_NOTICES: usize = 10;
/// First pause before reopening the store after an error, and the longest.
const RETRY_FIRST: Duration = Duration::from_secs(1);
const RETRY_MAX: Duration = Duration::from_secs(60);

/// The status file the probe reads (an encoded `FileIntegrity`, part STATUS).
pub const STATUS_FILE: &str = "status.pb";

#[derive(Debug, thiserror::Error)]
pub enum FimError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("starting the file-integrity thread: {0}")]
    Thread(std::io::Error),
}

/// The running monitor.
#[derive(Debug)]
pub struct FimHandle {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl FimHandle {
    /// Asks the thread to stop and waits for it (a pass in progress checkpoints first).
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for FimHandle {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Opens the store and starts the thread.
pub fn spawn(
    cfg: &FimConfig,
    state_dir: &Path,
    sink: Box<dyn Sink>,
) -> Result<FimHandle, FimError> {
    let watches = cfg.compile()?;
    let store = Store::open(state_dir)?;
    let stop = Arc::new(AtomicBool::new(false));
    let worker = Worker::new(
        cfg,
        watches,
        state_dir,
        store,
        Kept {
            sink,
            stop: stop.clone(),
            rt: None,
            recent_notices: Vec::new(),
        },
    );
    let state_dir = state_dir.to_path_buf();
    let thread = std::thread::Builder::new()
        .name("vigie-fim".into())
        .spawn(move || supervise(worker, &state_dir))
        .map_err(FimError::Thread)?;
    Ok(FimHandle {
        stop,
        thread: Some(thread),
    })
}

/// What outlives a store error: the outbox, the stop flag, the watcher and the recent notices.
struct Kept {
    sink: Box<dyn Sink>,
    stop: Arc<AtomicBool>,
    rt: Option<Realtime>,
    recent_notices: Vec<FimNotice>,
}

/// What the worker asks of [`supervise`] when it returns without a store error.
enum Next {
    /// Stopped: the thread ends.
    Stop,
    /// A long pass (first baseline, full re-hash) is complete: close the store, open it again and
    /// carry on watching, after a rescan when `rescan` (see [`reopen`]).
    Reopen { rescan: bool },
}

/// Runs the worker; on a store error (a full disk, an I/O error), says so in the status, closes the
/// store and opens it again with a growing pause until it works, then carries on from the store's
/// own state (a first baseline resumes at its checkpoint; a rescan finds what changed meanwhile).
/// The incident is recorded as a notice once the store takes writes again, so the collector hears it.
fn supervise(mut worker: Worker, state_dir: &Path) {
    let mut pause = RETRY_FIRST;
    // `Some(rescan)` once the store was reopened after a long pass: watching goes on from there.
    let mut resume: Option<bool> = None;
    loop {
        let outcome = match resume.take() {
            None => worker.run(),
            Some(rescan) => worker.resume(rescan),
        };
        let error = match outcome {
            Ok(Next::Stop) => return,
            Ok(Next::Reopen { rescan }) => {
                worker = match reopen(worker, state_dir) {
                    Some(w) => w,
                    None => return,
                };
                resume = Some(rescan);
                continue;
            }
            Err(e) => e.to_string(),
        };
        tracing::error!(%error, "File integrity monitoring hit a store error; it reopens its store and resumes.");
        // Kept for the status written once the store is back (reading a failed store can block).
        worker.notice("store-error", &error);
        let since = crate::now_ms();
        let (cfg, watches) = (worker.cfg.clone(), worker.watches.clone());
        // sled locks its files: the old handle must be gone before the store opens again. Closing
        // it flushes, which may wait on the failed disk: that happens aside, and the reopening
        // below retries (and says so) until the lock is free.
        let (kept, old) = worker.into_kept();
        if let Err(e) = std::thread::Builder::new()
            .name("vigie-fim-close".into())
            .spawn(move || drop(old))
        {
            tracing::warn!(error = %e, "Could not close the file-integrity store aside.");
        }
        let store = loop {
            if !pause_unless_stopped(&kept.stop, pause) {
                return;
            }
            pause = (pause * 2).min(RETRY_MAX);
            match Store::open(state_dir) {
                Ok(s) => break s,
                Err(e) => {
                    tracing::warn!(error = %e, "The file-integrity store cannot be opened yet.")
                }
            }
        };
        worker = Worker::new(&cfg, watches, state_dir, store, kept);
        worker.notice(
            "store-error",
            &format!(
                "{error}; the store was unusable for {} s, changes meanwhile are found by the rescan",
                (crate::now_ms() - since) / 1000
            ),
        );
    }
}

/// Closes the store and opens it again once a long pass is complete. sled keeps what such a pass
/// wrote (cached nodes, page and segment bookkeeping) scattered through the heap, where freeing
/// the garbage around it returns little; a fresh handle reads back only what is used. Measured
/// at idle after the first baseline of the default paths: 16.2 → 15.0 MB resident on average
/// (runs vary by ±0.6 MB). Returns `None` if stopped while the store would not open again.
fn reopen(mut worker: Worker, state_dir: &Path) -> Option<Worker> {
    // sled locks its files: every handle, the trees of the redacted copies included, must be gone
    // before the store opens again. Dropping the last one flushes.
    worker.texts = None;
    drop(worker.store);
    crate::memory::release_free();
    let mut pause = RETRY_FIRST;
    loop {
        match Store::open(state_dir) {
            Ok(store) => {
                worker.store = store;
                return Some(worker);
            }
            Err(e) => {
                tracing::warn!(error = %e, "The file-integrity store cannot be opened again yet.")
            }
        }
        if !pause_unless_stopped(&worker.stop, pause) {
            return None;
        }
        pause = (pause * 2).min(RETRY_MAX);
    }
}

/// Sleeps `pause` in ticks; false as soon as the stop flag is up.
fn pause_unless_stopped(stop: &AtomicBool, pause: Duration) -> bool {
    let deadline = Instant::now() + pause;
    while Instant::now() < deadline && !stop.load(Ordering::Relaxed) {
        std::thread::sleep(TICK);
    }
    !stop.load(Ordering::Relaxed)
}

fn phys_under(root: &Path, abs: &Path) -> PathBuf {
    if root == Path::new("/") {
        abs.to_path_buf()
    } else {
        root.join(abs.strip_prefix("/").unwrap_or(abs))
    }
}

struct Worker {
    cfg: FimConfig,
    watches: Vec<Watch>,
    dir: PathBuf,
    store: Store,
    sink: Box<dyn Sink>,
    stop: Arc<AtomicBool>,
    rt: Option<Realtime>,
    watch_limit: bool,
    watched: Vec<WatchedPath>,
    recent_notices: Vec<FimNotice>,
    limit: RateLimit,
    dpkg: Dpkg,
    status_dirty: bool,
    status_written: Option<Instant>,
    sync_requested: bool,
    hashed_last_scan: u64,
    /// The watched set, expanded at the last whole pass or watch setup (patterns re-read then).
    cover: Option<Cover>,
    /// Whether dpkg was busy, as last looked at, and when.
    busy: Option<(Instant, bool)>,
    /// The outbox refused the last FIM report (said once per incident, as a notice).
    outbox_failing: bool,
    /// Redacted copies of the files `diff_paths` allowlists (`None`: no diffs).
    texts: Option<super::diff::Texts>,
}

impl Worker {
    fn new(
        cfg: &FimConfig,
        watches: Vec<Watch>,
        state_dir: &Path,
        store: Store,
        kept: Kept,
    ) -> Worker {
        Worker {
            dpkg: Dpkg::new(
                phys_under(&cfg.root, &cfg.dpkg_admin_dir),
                Duration::from_secs(cfg.dpkg_busy_grace_secs),
            ),
            limit: RateLimit::new(cfg.max_events_per_path_per_hour),
            cfg: cfg.clone(),
            watches,
            dir: state_dir.join("fim"),
            store,
            sink: kept.sink,
            stop: kept.stop,
            rt: kept.rt,
            watch_limit: false,
            watched: Vec::new(),
            recent_notices: kept.recent_notices,
            status_dirty: true,
            status_written: None,
            sync_requested: true,
            hashed_last_scan: 0,
            cover: None,
            busy: None,
            outbox_failing: false,
            texts: None,
        }
    }

    /// Takes apart the worker: what outlives a store error, and the failed store.
    fn into_kept(self) -> (Kept, Store) {
        (
            Kept {
                sink: self.sink,
                stop: self.stop,
                rt: self.rt,
                recent_notices: self.recent_notices,
            },
            self.store,
        )
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    fn run(&mut self) -> Result<Next, StoreError> {
        self.texts = super::diff::Texts::open(&self.cfg, &self.store)?;
        if self.store.meta_str(meta::BASELINE_ID).is_none() {
            let mut id = [0u8; 16];
            rand::rngs::OsRng.fill_bytes(&mut id);
            self.store
                .set_meta(meta::BASELINE_ID, hex::encode(id).as_bytes())?;
        }
        if self.cfg.realtime {
            match Realtime::start(QUEUE_CAPACITY) {
                Ok(rt) => self.rt = Some(rt),
                Err(e) => self.notice(
                    "watch-error",
                    &format!("realtime watching unavailable: {e}"),
                ),
            }
        }
        self.setup_watches();
        self.write_status();
        let complete = if self.store.meta_str(meta::STATE).as_deref() != Some("complete") {
            self.first_baseline()?
        } else if self.store.meta_str(meta::CHECKPOINT_KIND).as_deref() == Some("full") {
            let after = self.store.meta_bytes(meta::CHECKPOINT);
            self.full_pass(after)?
        } else {
            return self.watch(true);
        };
        if !complete {
            self.write_status();
            return Ok(Next::Stop);
        }
        Ok(Next::Reopen { rescan: true })
    }

    /// Carries on with a reopened store (see [`reopen`]).
    fn resume(&mut self, rescan: bool) -> Result<Next, StoreError> {
        self.texts = super::diff::Texts::open(&self.cfg, &self.store)?;
        self.watch(rescan)
    }

    /// Realtime changes and the rescan and full re-hash schedules, until stopped or until a full
    /// re-hash is complete. `rescan` first catches up with whatever changed while the agent was
    /// stopped, or during a long pass.
    fn watch(&mut self, rescan: bool) -> Result<Next, StoreError> {
        if rescan {
            self.drain_signals();
            self.rescan()?;
        }
        while !self.stopped() {
            self.send_pending()?;
            self.maybe_sync()?;
            if self.dpkg.release_if_idle() {
                crate::memory::release_free();
            }
            let since = self.status_written.map(|t| t.elapsed());
            if since.is_none_or(|t| t >= STATUS_EVERY)
                || (self.status_dirty && since.is_none_or(|t| t >= Duration::from_secs(1)))
            {
                self.write_status();
            }
            let now = crate::now_ms();
            let next_rescan = self
                .store
                .meta_i64(meta::LAST_RESCAN_MS)
                .saturating_add(secs_ms(self.cfg.rescan_interval_secs));
            let next_full = self
                .store
                .meta_i64(meta::LAST_FULL_MS)
                .saturating_add(secs_ms(self.cfg.full_rehash_interval_secs));
            if now >= next_full {
                if self.full_pass(None)? {
                    return Ok(Next::Reopen { rescan: false });
                }
                continue;
            }
            if now >= next_rescan {
                self.rescan()?;
                continue;
            }
            let wait = Duration::from_millis(
                u64::try_from(next_rescan.min(next_full).saturating_sub(now)).unwrap_or(0),
            )
            .min(TICK);
            self.wait_and_process(wait)?;
        }
        self.store.flush()?;
        self.write_status();
        Ok(Next::Stop)
    }

    fn notice(&mut self, kind: &str, detail: &str) {
        let n = Notice {
            at_ms: crate::now_ms(),
            kind: kind.to_owned(),
            detail: detail.to_owned(),
        };
        if let Err(error) = self.store.add_notice(&n) {
            tracing::warn!(%error, "Could not record a file-integrity notice.");
        }
        tracing::warn!(kind, detail, "File integrity notice.");
        self.recent_notices.push(FimNotice {
            at_ms: n.at_ms,
            kind: n.kind,
            detail: n.detail,
        });
        if self.recent_notices.len() > STATUS_NOTICES {
            self.recent_notices.remove(0);
        }
        self.status_dirty = true;
    }

    fn cover(&self) -> Cover {
        Cover::new(&self.cfg.root, &self.watches)
    }

    /// dpkg's state, looked at no more than once a second.
    fn dpkg_busy(&mut self) -> bool {
        match self.busy {
            Some((at, b)) if at.elapsed() < Duration::from_secs(1) => b,
            _ => {
                let b = self.dpkg.busy();
                self.busy = Some((Instant::now(), b));
                b
            }
        }
    }

    /// (Re)adds the realtime watches and recomputes what the status says of each watched path.
    fn setup_watches(&mut self) {
        self.cover = Some(self.cover());
        let cover = self.cover();
        let mut watched = Vec::new();
        let mut limit_hit = None;
        let mut errors = Vec::new();
        if let Some(rt) = &mut self.rt {
            rt.unwatch_all();
        }
        for (path, recursive) in cover.roots() {
            let phys = cover.phys(path);
            let meta = std::fs::symlink_metadata(&phys);
            let mut state = match &meta {
                Ok(_) => "scanned",
                Err(_) => "missing",
            };
            let mut error = String::new();
            if let Some(rt) = &mut self.rt {
                let (target, rec) = match &meta {
                    Ok(m) if m.is_dir() => (phys.clone(), recursive),
                    _ => (nearest_existing_parent(&phys), false),
                };
                if limit_hit.is_some() {
                    // Past the limit, every add fails the same way.
                } else {
                    match rt.watch(&target, rec) {
                        Ok(skipped) => {
                            if meta.is_ok() {
                                state = "watched";
                            }
                            if !skipped.is_empty() {
                                error = format!(
                                    "not watched, left to the rescan: {}",
                                    skipped.join("; ")
                                );
                                errors.push(format!(
                                    "{}: {error}",
                                    super::record::display_path(path)
                                ));
                            }
                        }
                        Err(WatchError::Limit(e)) => {
                            limit_hit = Some(e);
                        }
                        Err(WatchError::Missing) => {}
                        Err(WatchError::Other(e)) => {
                            error = e.clone();
                            errors.push(format!("{}: {e}", super::record::display_path(path)));
                        }
                    }
                }
            }
            let key = key_of(path);
            let entries = self
                .store
                .baseline
                .range(key.clone()..)
                .keys()
                .flatten()
                .take_while(|k| key_within(k, &key))
                .count() as u64;
            watched.push(WatchedPath {
                path: Some(wire_path(path)),
                recursive,
                state: state.to_owned(),
                error,
                entries,
            });
        }
        // Patterns that match nothing yet.
        for (i, w) in self.watches.iter().enumerate() {
            if w.pattern && cover.count_from(i) == 0 {
                watched.push(WatchedPath {
                    path: Some(wire_path(&w.path)),
                    recursive: w.recursive,
                    state: "missing".to_owned(),
                    error: String::new(),
                    entries: 0,
                });
            }
        }
        self.watched = watched;
        if let Some(e) = limit_hit {
            if !self.watch_limit {
                self.notice(
                    "watch-limit",
                    &format!(
                        "inotify watch limit reached ({e}); the rescan covers what is not watched"
                    ),
                );
            }
            self.watch_limit = true;
            let _ = self.store.set_meta_i64(meta::WATCH_LIMIT, 1);
        }
        for e in errors {
            self.notice("watch-error", &e);
        }
        self.status_dirty = true;
    }

    /// Builds the first baseline, or resumes it. Returns false when stopped before the end.
    fn first_baseline(&mut self) -> Result<bool, StoreError> {
        self.store.set_meta(meta::STATE, b"building")?;
        if self.store.meta_i64(meta::STARTED_MS) == 0 {
            self.store.set_meta_i64(meta::STARTED_MS, crate::now_ms())?;
        }
        let after = match self.store.meta_str(meta::CHECKPOINT_KIND).as_deref() {
            Some("first") => self.store.meta_bytes(meta::CHECKPOINT),
            _ => None,
        };
        if let Some(a) = &after {
            let n = self.store.add_meta_i64(meta::RESUMED, 1)?;
            self.notice(
                "baseline-resumed",
                &format!(
                    "first baseline resumed after {} (restart {n})",
                    super::record::display_path(&path_of(a))
                ),
            );
        }
        self.write_status();
        let st = self.pass(Scope::All { after }, Mode::First, Some("first"))?;
        if !st.complete {
            return Ok(false);
        }
        let now = crate::now_ms();
        self.store.set_meta(meta::STATE, b"complete")?;
        self.store.set_meta_i64(meta::COMPLETED_MS, now)?;
        self.store.set_meta_i64(meta::LAST_FULL_MS, now)?;
        self.store.set_meta_i64(meta::LAST_RESCAN_MS, now)?;
        self.after_pass()?;
        self.sync_requested = true;
        Ok(true)
    }

    fn full_pass(&mut self, after: Option<Vec<u8>>) -> Result<bool, StoreError> {
        let st = self.pass(Scope::All { after }, Mode::Full, Some("full"))?;
        if !st.complete {
            return Ok(false);
        }
        let now = crate::now_ms();
        self.store.set_meta_i64(meta::LAST_FULL_MS, now)?;
        self.store.set_meta_i64(meta::LAST_RESCAN_MS, now)?;
        self.after_pass()?;
        self.sync_requested = true;
        Ok(true)
    }

    fn rescan(&mut self) -> Result<(), StoreError> {
        let st = self.pass(Scope::All { after: None }, Mode::Rescan, None)?;
        if st.complete {
            self.store
                .set_meta_i64(meta::LAST_RESCAN_MS, crate::now_ms())?;
            self.after_pass()?;
        }
        Ok(())
    }

    /// Counts unreadable entries and refreshes the per-path status after a whole pass.
    fn after_pass(&mut self) -> Result<(), StoreError> {
        let mut unreadable = 0i64;
        for v in self.store.baseline.iter().values() {
            let v = v.map_err(self.store.err())?;
            if Record::decode(&v).is_some_and(|r| r.error.is_some()) {
                unreadable += 1;
            }
        }
        self.store.set_meta_i64(meta::UNREADABLE, unreadable)?;
        self.store.flush()?;
        if let (Some(t), Some(cover)) = (&self.texts, &self.cover) {
            t.sync(&self.store, cover)?;
        }
        self.setup_watches_status_only();
        Ok(())
    }

    /// Refreshes the entry counts of the status without touching the watches.
    fn setup_watches_status_only(&mut self) {
        for w in &mut self.watched {
            let Some(p) = &w.path else { continue };
            let key = key_of(&p.raw);
            w.entries = self
                .store
                .baseline
                .range(key.clone()..)
                .keys()
                .flatten()
                .take_while(|k| key_within(k, &key))
                .count() as u64;
        }
        self.status_dirty = true;
    }

    /// One pass of the scanner, politely when it is a long one.
    fn pass(
        &mut self,
        scope: Scope,
        mode: Mode,
        checkpoint: Option<&str>,
    ) -> Result<Stats, StoreError> {
        let long = matches!(mode, Mode::First | Mode::Full);
        let whole = matches!(scope, Scope::All { .. });
        let polite = long && !self.cfg.full_speed;
        if polite {
            super::prio::idle_io(true);
        }
        let threads = if long && self.cfg.full_speed {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            1
        };
        let cover = match self.cover.take() {
            Some(c) if !whole => c,
            _ => self.cover(),
        };
        let busy = self.dpkg_busy();
        let now = crate::now_ms();
        let store = &self.store;
        let dpkg = &mut self.dpkg;
        let texts = self.texts.as_ref();
        let scanner = Scanner {
            store,
            cover: &cover,
            threads,
            stop: &self.stop,
        };
        // A whole pass recounts the unreadable entries at its end; a path's pass adjusts the count.
        let mut unreadable = 0i64;
        let result = scanner.run(scope, mode, checkpoint, &mut |changes| {
            for c in &changes {
                let err =
                    |r: &Option<Record>| i64::from(r.as_ref().is_some_and(|r| r.error.is_some()));
                unreadable += err(&c.new) - err(&c.old);
            }
            if let Some(t) = texts {
                t.on_changes(store, &cover, &changes)?;
            }
            events::add_changes(store, changes, now, &mut |c| {
                dpkg.attribute(c, &cover.phys(&c.path), busy)
            })
        });
        if polite {
            super::prio::idle_io(false);
        }
        self.cover = Some(cover);
        let st = result?;
        if !whole && unreadable != 0 {
            let n = self
                .store
                .meta_i64(meta::UNREADABLE)
                .saturating_add(unreadable);
            self.store.set_meta_i64(meta::UNREADABLE, n.max(0))?;
        }
        if mode != Mode::First || st.complete {
            self.store
                .add_meta_i64(meta::BYTES_HASHED, st.bytes as i64)?;
        }
        if whole {
            self.hashed_last_scan = st.hashed;
            // sled's copy-on-write nodes of a whole pass are free now (crate::memory).
            crate::memory::release_free();
        }
        self.status_dirty = true;
        Ok(st)
    }

    fn drain_signals(&mut self) {
        if let Some(rt) = &self.rt {
            while rt.rx.try_recv().is_ok() {}
            rt.take_dropped();
        }
    }

    /// Waits up to `wait` for realtime changes, gathers a debounced batch and compares it.
    fn wait_and_process(&mut self, wait: Duration) -> Result<(), StoreError> {
        let Some(rt) = &self.rt else {
            std::thread::sleep(wait);
            return Ok(());
        };
        let first = match rt.rx.recv_timeout(wait) {
            Ok(s) => s,
            Err(RecvTimeoutError::Timeout) => {
                if rt.take_dropped() {
                    return self.overflowed("the agent's queue of changes was full");
                }
                return Ok(());
            }
            Err(RecvTimeoutError::Disconnected) => {
                self.rt = None;
                self.notice(
                    "watch-error",
                    "the realtime watcher stopped; rescans continue",
                );
                return Ok(());
            }
        };
        let cover = self.cover();
        let mut paths: BTreeSet<Vec<u8>> = BTreeSet::new();
        let mut overflow: Option<&str> = None;
        let mut limit: Option<String> = None;
        let mut errors: Vec<String> = Vec::new();
        let mut adopt: Vec<PathBuf> = Vec::new();
        let debounce = Duration::from_millis(self.cfg.debounce_ms);
        let started = Instant::now();
        let mut next = Some(first);
        while let Some(s) = next.take() {
            match s {
                Signal::Path(p) => {
                    if rt.wants(&p) {
                        adopt.push(p.clone());
                    }
                    if let Some(l) = cover.logical(&p) {
                        if cover.relevant(&l) {
                            paths.insert(key_of(&l));
                        }
                    }
                }
                Signal::Overflow => {
                    overflow = Some("the kernel's inotify queue overflowed (IN_Q_OVERFLOW)")
                }
                Signal::WatchLimit(e) => limit = Some(e),
                Signal::Error(e) => errors.push(e),
            }
            if paths.len() > MAX_BATCH_PATHS {
                overflow = overflow.or(Some("more changes at once than one batch holds"));
            }
            if started.elapsed() >= MAX_BATCH_WAIT.max(debounce) {
                break;
            }
            next = rt.rx.recv_timeout(debounce).ok();
        }
        if rt.take_dropped() {
            overflow = overflow.or(Some("the agent's queue of changes was full"));
        }
        if let Some(rt) = &mut self.rt {
            for p in adopt {
                match rt.adopt(&p) {
                    Ok(skipped) => errors.extend(skipped),
                    Err(WatchError::Limit(e)) => limit = Some(e),
                    Err(WatchError::Missing) => {}
                    Err(WatchError::Other(e)) => errors.push(e),
                }
            }
        }
        if let Some(e) = limit {
            if !self.watch_limit {
                self.notice(
                    "watch-limit",
                    &format!(
                        "inotify watch limit reached ({e}); the rescan covers what is not watched"
                    ),
                );
            }
            self.watch_limit = true;
            self.store.set_meta_i64(meta::WATCH_LIMIT, 1)?;
        }
        for e in errors.into_iter().take(5) {
            self.notice("watch-error", &e);
        }
        if let Some(why) = overflow {
            return self.overflowed(why);
        }
        self.process_paths(&cover, paths)
    }

    /// A lost event: count it, say it, rescan everything.
    fn overflowed(&mut self, why: &str) -> Result<(), StoreError> {
        let n = self.store.add_meta_i64(meta::OVERFLOWS, 1)?;
        self.notice(
            "queue-overflow",
            &format!("{why}: rescanning every watched path (overflow {n})"),
        );
        self.drain_signals();
        self.rescan()?;
        self.notice("rescan", "rescan after the overflow finished");
        Ok(())
    }

    fn process_paths(&mut self, cover: &Cover, keys: BTreeSet<Vec<u8>>) -> Result<(), StoreError> {
        let mut last: Option<Vec<u8>> = None;
        let mut rewatch: Vec<Vec<u8>> = Vec::new();
        for k in keys {
            if self.stopped() {
                break;
            }
            if last.as_deref().is_some_and(|l| key_within(&k, l)) {
                continue;
            }
            let path = path_of(&k);
            if !cover.covered(&path) || cover.roots().any(|(r, _)| r == path.as_slice()) {
                // Above or at a watched path: it may have appeared, gone or been replaced.
                rewatch.push(path.clone());
            }
            self.pass(Scope::Path(path), Mode::Rescan, None)?;
            last = Some(k);
        }
        if !rewatch.is_empty() && self.rt.is_some() {
            self.setup_watches();
            // What appeared between the scan and the new watch.
            for p in rewatch {
                self.pass(Scope::Path(p), Mode::Rescan, None)?;
            }
        }
        Ok(())
    }

    /// Hands pending events (and notices) to the outbox while it has room.
    fn send_pending(&mut self) -> Result<(), StoreError> {
        let mut max = self.cfg.max_events_per_report;
        loop {
            let notices = self.store.notices();
            if self.store.pending.is_empty() && notices.is_empty() {
                return Ok(());
            }
            if self.sink.room() == 0 {
                return Ok(());
            }
            let now = crate::now_ms();
            let (mut evs, keys, newly_held) =
                events::take_batch(&self.store, max, &mut self.limit, now)?;
            if let Some(t) = &self.texts {
                t.attach(&self.store, &mut evs)?;
            }
            if newly_held > 0 {
                self.store
                    .add_meta_i64(meta::RATE_LIMITED, newly_held as i64)?;
            }
            if evs.is_empty() && notices.is_empty() {
                return Ok(());
            }
            let fi = FileIntegrity {
                part: Part::Events as i32,
                events: evs,
                notices: notices
                    .iter()
                    .map(|(_, n)| FimNotice {
                        at_ms: n.at_ms,
                        kind: n.kind.clone(),
                        detail: n.detail.clone(),
                    })
                    .collect(),
                ..self.counters()
            };
            let report = report("fim.events", fi, now, None);
            if report.encoded_len() > REPORT_BUDGET && max > 1 {
                max /= 2;
                continue;
            }
            match self.sink.send(report, now) {
                Ok(()) => {
                    self.outbox_failing = false;
                    events::forget(&self.store, &keys)?;
                    if let Some(t) = &self.texts {
                        t.forget(&self.store, &keys)?;
                    }
                    let ids: Vec<sled::IVec> = notices.into_iter().map(|(k, _)| k).collect();
                    self.store.drop_notices(&ids)?;
                    self.status_dirty = true;
                }
                Err(error) => {
                    tracing::warn!(%error, "Could not put file-integrity events in the outbox; they stay pending.");
                    if !self.outbox_failing {
                        self.outbox_failing = true;
                        let n = self.store.pending.len();
                        self.notice(
                            "outbox-error",
                            &format!(
                                "{error}; {n} changes kept pending until the outbox takes them"
                            ),
                        );
                    }
                    return Ok(());
                }
            }
        }
    }

    /// Counters every FIM state carries.
    fn counters(&self) -> FileIntegrity {
        FileIntegrity {
            overflows: self.store.meta_i64(meta::OVERFLOWS).max(0) as u64,
            watch_limit_reached: self.watch_limit,
            last_full_scan_ms: self.store.meta_i64(meta::LAST_FULL_MS),
            last_rescan_ms: self.store.meta_i64(meta::LAST_RESCAN_MS),
            events_coalesced: self.store.meta_i64(meta::COALESCED).max(0) as u64,
            events_rate_limited: self.store.meta_i64(meta::RATE_LIMITED).max(0) as u64,
            pending_events: self.store.pending.len() as u64,
            ..FileIntegrity::default()
        }
    }

    /// Sends the baseline's digests when due, once every pending event is in the outbox (so that
    /// the collector has seen every change the digests reflect).
    fn maybe_sync(&mut self) -> Result<(), StoreError> {
        if self.store.meta_str(meta::STATE).as_deref() != Some("complete")
            || !self.store.pending.is_empty()
        {
            return Ok(());
        }
        let now = crate::now_ms();
        let last = self.store.meta_i64(meta::LAST_SYNC_MS);
        let due = self.sync_requested
            || last == 0
            || now.saturating_sub(last) >= secs_ms(self.cfg.digest_sync_interval_secs);
        if !due || self.sink.room() == 0 {
            return Ok(());
        }
        let (dirs, top, entries) = merkle::digests(&self.store)?;
        let mut id = [0u8; 8];
        rand::rngs::OsRng.fill_bytes(&mut id);
        let sync_id = hex::encode(id);
        let sync = DigestSync {
            sync_id: sync_id.clone(),
            root_sha256: top.to_vec(),
            directories: dirs.len() as u64,
            entries,
            baseline_id: self.store.meta_str(meta::BASELINE_ID).unwrap_or_default(),
        };
        let mut chunks: Vec<Vec<DirectoryDigest>> = vec![Vec::new()];
        let mut size = 0usize;
        for d in dirs {
            let dd = DirectoryDigest {
                directory: Some(wire_path(&d.path)),
                sha256: d.sha256.to_vec(),
                entries: d.entries,
            };
            let n = dd.encoded_len() + 8;
            if size + n > REPORT_BUDGET / 2 {
                chunks.push(Vec::new());
                size = 0;
            }
            size += n;
            if let Some(c) = chunks.last_mut() {
                c.push(dd);
            }
        }
        let count = chunks.len() as u32;
        for (i, chunk) in chunks.into_iter().enumerate() {
            let fi = FileIntegrity {
                part: Part::Digests as i32,
                baseline_digests: chunk,
                digest_sync: Some(sync.clone()),
                ..self.counters()
            };
            let r = report("fim.digests", fi, now, Some((&sync_id, i as u32, count)));
            if let Err(error) = self.sink.send(r, now) {
                tracing::warn!(%error, "Could not put the baseline digests in the outbox; will retry.");
                return Ok(());
            }
        }
        self.store.set_meta_i64(meta::LAST_SYNC_MS, now)?;
        self.store.set_meta(meta::ROOT_DIGEST, &top)?;
        self.sync_requested = false;
        self.status_dirty = true;
        Ok(())
    }

    /// Writes the status file the `fim.status` probe reports.
    fn write_status(&mut self) {
        let state = self
            .store
            .meta_str(meta::STATE)
            .unwrap_or_else(|| "absent".into());
        let fi = FileIntegrity {
            part: Part::Status as i32,
            watched: self.watched.clone(),
            baseline: Some(BaselineStatus {
                state,
                entries: self.store.baseline.len() as u64,
                unreadable: self.store.meta_i64(meta::UNREADABLE).max(0) as u64,
                bytes_hashed: self.store.meta_i64(meta::BYTES_HASHED).max(0) as u64,
                started_ms: self.store.meta_i64(meta::STARTED_MS),
                completed_ms: self.store.meta_i64(meta::COMPLETED_MS),
                root_sha256: self.store.meta_bytes(meta::ROOT_DIGEST).unwrap_or_default(),
                baseline_id: self.store.meta_str(meta::BASELINE_ID).unwrap_or_default(),
                resumed: self
                    .store
                    .meta_i64(meta::RESUMED)
                    .clamp(0, i64::from(u32::MAX)) as u32,
            }),
            realtime: self.rt.is_some(),
            notices: self.recent_notices.clone(),
            files_hashed_last_scan: self.hashed_last_scan,
            ..self.counters()
        };
        let path = self.dir.join(STATUS_FILE);
        if let Err(error) = crate::identity::write_atomic(&path, &fi.encode_to_vec(), 0o600) {
            tracing::warn!(%error, "Could not write the file-integrity status.");
        }
        self.status_written = Some(Instant::now());
        self.status_dirty = false;
    }
}

fn secs_ms(s: u64) -> i64 {
    i64::try_from(s.saturating_mul(1000)).unwrap_or(i64::MAX)
}

fn nearest_existing_parent(p: &Path) -> PathBuf {
    let mut cur = p.parent();
    while let Some(c) = cur {
        if c.is_dir() {
            return c.to_path_buf();
        }
        cur = c.parent();
    }
    PathBuf::from("/")
}

/// A report carrying one FIM state.
pub fn report(
    probe: &str,
    fi: FileIntegrity,
    now_ms: i64,
    chunk: Option<(&str, u32, u32)>,
) -> Report {
    let (state_id, chunk_index, chunk_count) = match chunk {
        Some((id, i, n)) => (id.to_owned(), i, n),
        None => (String::new(), 0, 0),
    };
    Report {
        format_version: vigie_proto::EVIDENCE_FORMAT_VERSION,
        agent_version: env!("CARGO_PKG_VERSION").into(),
        collected_at_ms: now_ms,
        domains: vec![DomainState {
            domain: Domain::FileIntegrity as i32,
            probe_id: probe.to_owned(),
            collected_at_ms: now_ms,
            state_id,
            chunk_index,
            chunk_count,
            state: Some(State::FileIntegrity(fi)),
        }],
        ..Default::default()
    }
}
