//! The comparison at the heart of file integrity: a walk in key order merged with the baseline in
//! the same order. A path only the walk has is created, one only the baseline has is removed, one
//! both have is compared (`lstat` facts first; content re-hashed only when they moved, or always on a
//! full re-hash). The baseline is updated as it goes and the changes are handed over in batches.
//!
//! The same code builds the first baseline (no events), rescans everything, re-hashes everything,
//! and checks the path of a realtime change (a scope). Full passes checkpoint their position so that
//! a restart resumes where they stopped.

use std::ops::Bound;
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use super::hash::{hash_at, Hashed, BUF_BYTES};
use super::record::{key_of, key_within, path_of, FileType, Record};
use super::store::{meta, Store, StoreError};
use super::walk::{name_of, Cover, Item, Walker};

/// Items looked at together (one store batch; at full speed, hashed on the pool while the next
/// window is walked).
const WINDOW: usize = 4096;
/// Directories a window may open: with two windows in flight, the pass holds at most about twice
/// this many descriptors (a service's default soft limit is 1,024).
const WINDOW_DIRS: u64 = 128;
/// Work handed to one hashing thread at once, in bytes to read.
const JOB_BYTES: u64 = 4 << 20;
/// What a file costs at least, in bytes' worth (opening it, two `fstat`s, closing it).
const FILE_COST: u64 = 16 << 10;
/// How often a full pass records its position.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(2);

/// What kind of pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Building the first baseline: everything is recorded, nothing is an event.
    First,
    /// Compare `lstat` facts; re-hash only what moved.
    Rescan,
    /// Re-hash every file.
    Full,
}

/// What part of the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Everything watched, optionally resuming after a checkpoint key.
    All { after: Option<Vec<u8>> },
    /// One path and what is watched below it.
    Path(Vec<u8>),
}

/// One difference between the baseline and the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub path: Vec<u8>,
    /// Baseline entry before; `None` when created.
    pub old: Option<Record>,
    /// Entry now; `None` when removed.
    pub new: Option<Record>,
    /// Removed from the baseline because the configuration no longer watches it (not a change of
    /// the file itself; reported so that the collector's digests stay explained).
    pub unwatched: bool,
}

/// Figures of one pass.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    pub entries: u64,
    pub hashed: u64,
    pub bytes: u64,
    pub unreadable: u64,
    pub changes: u64,
    /// The pass ran to its end (false: stopped; a full pass resumes from its checkpoint).
    pub complete: bool,
}

/// Runs passes over one store.
pub struct Scanner<'a> {
    pub store: &'a Store,
    pub cover: &'a Cover,
    /// Hashing threads (1 when polite).
    pub threads: usize,
    pub stop: &'a AtomicBool,
}

/// Where one pass stands: its figures, its position and the changes not handed over yet.
struct Progress {
    st: Stats,
    /// The last directory that could not be listed or looked at: what the baseline has below it is
    /// kept.
    skip: Option<Vec<u8>>,
    changes: Vec<Change>,
    /// Key of the last entry stored.
    prev: Option<Vec<u8>>,
    scope_key: Option<Vec<u8>>,
    last_checkpoint: Instant,
    /// At full speed, the thread that applies the store batches (`None`: this thread does).
    writer: Option<mpsc::SyncSender<Write>>,
}

/// Work for the store-writing thread.
enum Write {
    /// A window's batch, and the position to record once it is written.
    Batch(sled::Batch, Option<Vec<u8>>),
    /// Answer once everything before is written.
    Settle(mpsc::Sender<()>),
}

/// A window walked, whose files are being hashed.
struct InFlight {
    window: Arc<Vec<Item>>,
    olds: Vec<Option<Record>>,
    todo: Vec<usize>,
    pending: Pending,
}

impl Scanner<'_> {
    /// Runs one pass. With `checkpoint`, records its position under that kind as it goes (full
    /// passes), and clears it at the end. With more than one thread, files are hashed on a pool of
    /// `threads` threads while this one walks the next window and stores the last.
    pub fn run(
        &self,
        scope: Scope,
        mode: Mode,
        checkpoint: Option<&str>,
        on_changes: &mut dyn FnMut(Vec<Change>) -> Result<(), StoreError>,
    ) -> Result<Stats, StoreError> {
        if self.threads <= 1 {
            let mut hasher = Hasher::Inline(vec![0u8; BUF_BYTES]);
            return self.run_with(&mut hasher, None, scope, mode, checkpoint, on_changes);
        }
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Mutex::new(queue);
        std::thread::scope(|s| {
            let mut spawned = 0;
            for _ in 0..self.threads {
                let worker = std::thread::Builder::new()
                    .name("fim-hash".to_owned())
                    .spawn_scoped(s, || hash_worker(&queue, self.stop));
                if worker.is_ok() {
                    spawned += 1;
                }
            }
            let mut hasher = if spawned == 0 {
                Hasher::Inline(vec![0u8; BUF_BYTES])
            } else {
                Hasher::Pool {
                    jobs,
                    buf: Vec::new(),
                }
            };
            // Store batches are applied on their own thread, while this one walks.
            let (writes, to_write) = mpsc::sync_channel::<Write>(2);
            let store = self.store;
            let writer = std::thread::Builder::new()
                .name("fim-store".to_owned())
                .spawn_scoped(s, move || write_batches(store, checkpoint, to_write));
            let writes = writer.is_ok().then_some(writes);
            let r = self.run_with(&mut hasher, writes, scope, mode, checkpoint, on_changes);
            // The queues close: the threads finish what they hold and end.
            drop(hasher);
            let written = match writer {
                Ok(h) => h.join().unwrap_or_else(|_| {
                    Err(self.store.err()(sled::Error::ReportableBug(
                        "file-integrity store writer ended".to_owned(),
                    )))
                }),
                Err(_) => Ok(()),
            };
            // The writer's own error explains a pass that stopped because it was gone.
            written.and(r)
        })
    }

    fn run_with(
        &self,
        hasher: &mut Hasher,
        writer: Option<mpsc::SyncSender<Write>>,
        scope: Scope,
        mode: Mode,
        checkpoint: Option<&str>,
        on_changes: &mut dyn FnMut(Vec<Change>) -> Result<(), StoreError>,
    ) -> Result<Stats, StoreError> {
        let (mut walker, scope_key, prev) = match &scope {
            Scope::All { after } => (Walker::full(self.cover, after.clone()), None, after.clone()),
            Scope::Path(p) => (Walker::scope(self.cover, p), Some(key_of(p)), None),
        };
        let mut p = Progress {
            st: Stats::default(),
            skip: None,
            changes: Vec::new(),
            prev,
            scope_key,
            last_checkpoint: Instant::now(),
            writer,
        };
        let mut in_flight: Option<InFlight> = None;
        loop {
            if self.stop.load(Ordering::Relaxed) {
                return self.stopped(p, mode, checkpoint, on_changes);
            }
            // At full speed, the next window is walked and handed to the hashing threads before the
            // previous one is stored, so that both go on at once; on one thread, one after the other.
            let window = next_window(&mut walker);
            let empty = window.is_empty();
            let next = if empty {
                None
            } else {
                Some(self.start(hasher, window, mode)?)
            };
            let ready = match hasher {
                Hasher::Pool { .. } => std::mem::replace(&mut in_flight, next),
                Hasher::Inline(_) => next,
            };
            if let Some(f) = ready {
                let hashed = hasher.finish(&f, self.stop);
                if self.stop.load(Ordering::Relaxed) {
                    return self.stopped(p, mode, checkpoint, on_changes);
                }
                let window = Arc::unwrap_or_clone(f.window);
                self.store_window(&mut p, window, f.olds, hashed, mode, checkpoint, on_changes)?;
            }
            if empty && in_flight.is_none() {
                break;
            }
        }
        let mut removals = Vec::new();
        if mode != Mode::First {
            self.drain(
                p.prev.as_deref(),
                p.scope_key.as_deref(),
                None,
                p.skip.as_deref(),
                &mut p.changes,
                &mut removals,
            )?;
        }
        // Events first, then the baseline (see `store_window`).
        self.flush_changes(&mut p.changes, mode, on_changes)?;
        self.settle(&p)?;
        for k in removals {
            self.store.remove(&k)?;
        }
        if checkpoint.is_some() {
            self.store.del_meta(meta::CHECKPOINT)?;
            self.store.del_meta(meta::CHECKPOINT_KIND)?;
        }
        p.st.complete = true;
        Ok(p.st)
    }

    /// Ends a stopped pass: what was stored stays, the changes found so far are handed over and the
    /// position is recorded for the next start.
    fn stopped(
        &self,
        mut p: Progress,
        mode: Mode,
        checkpoint: Option<&str>,
        on_changes: &mut dyn FnMut(Vec<Change>) -> Result<(), StoreError>,
    ) -> Result<Stats, StoreError> {
        self.flush_changes(&mut p.changes, mode, on_changes)?;
        self.settle(&p)?;
        if let (Some(kind), Some(at)) = (checkpoint, &p.prev) {
            record_checkpoint(self.store, kind, at)?;
        }
        Ok(p.st)
    }

    /// Waits until every batch handed to the writer is written.
    fn settle(&self, p: &Progress) -> Result<(), StoreError> {
        let Some(writes) = &p.writer else {
            return Ok(());
        };
        let (ack, acked) = mpsc::channel();
        if writes.send(Write::Settle(ack)).is_ok() && acked.recv().is_ok() {
            return Ok(());
        }
        Err(writer_gone(self.store))
    }

    /// Looks a window up in the baseline and starts hashing the files that need it.
    fn start(
        &self,
        hasher: &mut Hasher,
        window: Vec<Item>,
        mode: Mode,
    ) -> Result<InFlight, StoreError> {
        // The first baseline starts empty: nothing to look up or to find removed.
        let olds: Vec<Option<Record>> = if mode == Mode::First {
            vec![None; window.len()]
        } else {
            window
                .iter()
                .map(|i| self.store.get(&key_of(i.path())))
                .collect::<Result<_, _>>()?
        };
        let todo: Vec<usize> = window
            .iter()
            .zip(&olds)
            .enumerate()
            .filter_map(|(i, (item, old))| match item {
                Item::Entry { rec, .. } if needs_hash(old.as_ref(), rec, mode) => Some(i),
                _ => None,
            })
            .collect();
        let window = Arc::new(window);
        let pending = hasher.start(&window, &todo);
        Ok(InFlight {
            window,
            olds,
            todo,
            pending,
        })
    }

    /// Merges a hashed window into the baseline (one sled batch) and collects its changes.
    #[allow(clippy::too_many_arguments)]
    fn store_window(
        &self,
        p: &mut Progress,
        window: Vec<Item>,
        olds: Vec<Option<Record>>,
        hashed: Vec<Option<Hashed>>,
        mode: Mode,
        checkpoint: Option<&str>,
        on_changes: &mut dyn FnMut(Vec<Change>) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        let mut removals = Vec::new();
        for ((item, old), hashed) in window.into_iter().zip(olds).zip(hashed) {
            let key = key_of(item.path());
            if mode != Mode::First {
                self.drain(
                    p.prev.as_deref(),
                    p.scope_key.as_deref(),
                    Some(&key),
                    p.skip.as_deref(),
                    &mut p.changes,
                    &mut removals,
                )?;
                for k in removals.drain(..) {
                    batch.remove(k);
                }
            }
            match item {
                Item::Entry { path, rec, .. } => {
                    let new = match hashed {
                        Some(Hashed::Gone) => None,
                        Some(Hashed::Done { rec, bytes }) => {
                            p.st.hashed += 1;
                            p.st.bytes += bytes;
                            Some(rec)
                        }
                        None => Some(carry_over(old.as_ref(), rec)),
                    };
                    match new {
                        None => {
                            if old.is_some() {
                                batch.remove(key.as_slice());
                                p.changes.push(Change {
                                    path,
                                    old,
                                    new: None,
                                    unwatched: false,
                                });
                            }
                        }
                        Some(new) => {
                            p.st.entries += 1;
                            if new.error.is_some() {
                                p.st.unreadable += 1;
                            }
                            if old.as_ref() != Some(&new) {
                                batch.insert(key.as_slice(), new.encode());
                                let worth = match &old {
                                    None => true,
                                    Some(o) => !o.changed_fields(&new).is_empty(),
                                };
                                if worth {
                                    p.changes.push(Change {
                                        path,
                                        old,
                                        new: Some(new),
                                        unwatched: false,
                                    });
                                }
                            }
                        }
                    }
                }
                Item::Unlisted { .. } => p.skip = Some(key.clone()),
                Item::Unstatable { path, error } => {
                    p.skip = Some(key.clone());
                    p.st.entries += 1;
                    p.st.unreadable += 1;
                    if old.is_none() {
                        let rec = Record {
                            ftype: FileType::Unknown,
                            mode: 0,
                            uid: 0,
                            gid: 0,
                            size: 0,
                            mtime_ns: 0,
                            ctime_ns: 0,
                            ino: 0,
                            sha256: None,
                            link: None,
                            error: Some(format!("cannot stat: {error}")),
                        };
                        batch.insert(key.as_slice(), rec.encode());
                        p.changes.push(Change {
                            path,
                            old: None,
                            new: Some(rec),
                            unwatched: false,
                        });
                    }
                }
            }
            p.prev = Some(key);
        }
        // The window's changes become pending events before its baseline is written: a crash in
        // between leaves the old baseline, so the next scan finds the same changes again (merged
        // per path), instead of a new baseline with no event.
        self.flush_changes(&mut p.changes, mode, on_changes)?;
        let mark = match (checkpoint, &p.prev) {
            (Some(_), Some(at)) if p.last_checkpoint.elapsed() >= CHECKPOINT_EVERY => {
                p.last_checkpoint = Instant::now();
                Some(at.clone())
            }
            _ => None,
        };
        match &p.writer {
            Some(writes) => writes
                .send(Write::Batch(batch, mark))
                .map_err(|_| writer_gone(self.store)),
            None => apply(self.store, checkpoint, batch, mark),
        }
    }

    fn flush_changes(
        &self,
        changes: &mut Vec<Change>,
        mode: Mode,
        on_changes: &mut dyn FnMut(Vec<Change>) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let batch = std::mem::take(changes);
        if mode == Mode::First || batch.is_empty() {
            return Ok(());
        }
        on_changes(batch)
    }

    /// Baseline entries strictly between `prev` and `until` (within the scope) are gone from the
    /// tree: removed, unless under a directory that could not be listed; those no longer watched
    /// are marked `unwatched` (a configuration change is not a file change).
    fn drain(
        &self,
        prev: Option<&[u8]>,
        scope: Option<&[u8]>,
        until: Option<&[u8]>,
        skip: Option<&[u8]>,
        changes: &mut Vec<Change>,
        removals: &mut Vec<Vec<u8>>,
    ) -> Result<(), StoreError> {
        let lower = match (prev, scope) {
            (Some(p), _) => Bound::Excluded(p.to_vec()),
            (None, Some(s)) => Bound::Included(s.to_vec()),
            (None, None) => Bound::Unbounded,
        };
        let upper = match until {
            Some(u) => Bound::Excluded(u.to_vec()),
            None => Bound::Unbounded,
        };
        if let (Bound::Excluded(l), Bound::Excluded(u)) = (&lower, &upper) {
            if l >= u {
                return Ok(());
            }
        }
        let mut gone = Vec::new();
        for kv in self.store.baseline.range::<Vec<u8>, _>((lower, upper)) {
            let (k, v) = kv.map_err(self.store.err())?;
            if let Some(s) = scope {
                if !key_within(&k, s) {
                    if k.as_ref() > s {
                        break;
                    }
                    continue;
                }
            }
            if skip.is_some_and(|s| key_within(&k, s) && k.as_ref() != s) {
                continue;
            }
            gone.push((k.to_vec(), Record::decode(&v)));
        }
        for (k, old) in gone {
            let path = path_of(&k);
            let unwatched = !self.cover.covered(&path);
            changes.push(Change {
                path,
                old,
                new: None,
                unwatched,
            });
            removals.push(k);
        }
        Ok(())
    }
}

/// Applies a window's batch, then records `mark` as the position of the pass (`kind`).
fn apply(
    store: &Store,
    kind: Option<&str>,
    batch: sled::Batch,
    mark: Option<Vec<u8>>,
) -> Result<(), StoreError> {
    store.baseline.apply_batch(batch).map_err(store.err())?;
    if let (Some(kind), Some(at)) = (kind, mark) {
        record_checkpoint(store, kind, &at)?;
    }
    Ok(())
}

fn record_checkpoint(store: &Store, kind: &str, at: &[u8]) -> Result<(), StoreError> {
    store.set_meta(meta::CHECKPOINT, at)?;
    store.set_meta(meta::CHECKPOINT_KIND, kind.as_bytes())?;
    store.flush()
}

/// The store-writing thread: applies batches in order until the queue closes or a write fails.
fn write_batches(
    store: &Store,
    kind: Option<&str>,
    writes: mpsc::Receiver<Write>,
) -> Result<(), StoreError> {
    for w in writes {
        match w {
            Write::Batch(batch, mark) => apply(store, kind, batch, mark)?,
            Write::Settle(ack) => {
                let _ = ack.send(());
            }
        }
    }
    Ok(())
}

/// The error of a pass whose writer thread has ended (its own error is returned instead).
fn writer_gone(store: &Store) -> StoreError {
    store.err()(sled::Error::ReportableBug(
        "file-integrity store writer ended".to_owned(),
    ))
}

/// The next window of the walk: `WINDOW` items, or fewer when it has opened `WINDOW_DIRS`
/// directories meanwhile (each entry holds its directory's handle until the window is stored).
fn next_window(walker: &mut Walker<'_>) -> Vec<Item> {
    let dirs = walker.dirs_opened();
    let mut window = Vec::new();
    while window.len() < WINDOW && walker.dirs_opened() - dirs < WINDOW_DIRS {
        match walker.next() {
            Some(i) => window.push(i),
            None => break,
        }
    }
    window
}

/// Hashes item `i` of a window, if it is an entry.
fn hash_item(window: &[Item], i: usize, buf: &mut [u8]) -> Option<(usize, Hashed)> {
    match window.get(i)? {
        Item::Entry { path, rec, dir } => Some((i, hash_at(dir.as_fd(), name_of(path), rec, buf))),
        _ => None,
    }
}

/// Files of one window for one hashing thread.
struct Job {
    window: Arc<Vec<Item>>,
    todo: Vec<usize>,
    done: mpsc::Sender<Vec<(usize, Hashed)>>,
}

/// Where content is hashed: on the calling thread (one core, the polite mode), or on a pool.
enum Hasher {
    Inline(Vec<u8>),
    Pool {
        jobs: mpsc::Sender<Job>,
        /// For what the pool did not hash (it cannot end early, but nothing is left unhashed).
        buf: Vec<u8>,
    },
}

/// Hashes of a window: done, or coming from `jobs` jobs.
enum Pending {
    Done(Vec<(usize, Hashed)>),
    Coming {
        results: mpsc::Receiver<Vec<(usize, Hashed)>>,
        jobs: usize,
    },
}

impl Hasher {
    fn start(&mut self, window: &Arc<Vec<Item>>, todo: &[usize]) -> Pending {
        match self {
            Hasher::Inline(buf) => Pending::Done(
                todo.iter()
                    .filter_map(|&i| hash_item(window, i, buf))
                    .collect(),
            ),
            Hasher::Pool { jobs, .. } => {
                let (done, results) = mpsc::channel();
                let mut sent = 0;
                for part in split(window, todo) {
                    let job = Job {
                        window: window.clone(),
                        todo: part,
                        done: done.clone(),
                    };
                    if jobs.send(job).is_ok() {
                        sent += 1;
                    }
                }
                Pending::Coming {
                    results,
                    jobs: sent,
                }
            }
        }
    }

    /// The hashes of a window, one slot per item (`None`: not to be hashed). Once `stop` is set, what
    /// the pool skipped stays missing: the window is not stored.
    fn finish(&mut self, f: &InFlight, stop: &AtomicBool) -> Vec<Option<Hashed>> {
        let mut out: Vec<Option<Hashed>> = vec![None; f.window.len()];
        let got: Vec<(usize, Hashed)> = match &f.pending {
            Pending::Done(r) => r.clone(),
            Pending::Coming { results, jobs } => (0..*jobs)
                .map_while(|_| results.recv().ok())
                .flatten()
                .collect(),
        };
        for (i, h) in got {
            if let Some(slot) = out.get_mut(i) {
                *slot = Some(h);
            }
        }
        if stop.load(Ordering::Relaxed) {
            return out;
        }
        if let Hasher::Pool { buf, .. } = self {
            for &i in &f.todo {
                if out.get(i).is_some_and(Option::is_none) {
                    if buf.is_empty() {
                        buf.resize(BUF_BYTES, 0);
                    }
                    if let (Some((_, h)), Some(slot)) =
                        (hash_item(&f.window, i, buf), out.get_mut(i))
                    {
                        *slot = Some(h);
                    }
                }
            }
        }
        out
    }
}

/// Splits a window's files into jobs of about `JOB_BYTES` (a file costs at least `FILE_COST`),
/// so that the threads share the work evenly.
fn split(window: &[Item], todo: &[usize]) -> Vec<Vec<usize>> {
    let mut parts = Vec::new();
    let mut part = Vec::new();
    let mut cost = 0u64;
    for &i in todo {
        let size = match window.get(i) {
            Some(Item::Entry { rec, .. }) => rec.size,
            _ => 0,
        };
        part.push(i);
        cost = cost.saturating_add(size.max(FILE_COST));
        if cost >= JOB_BYTES {
            parts.push(std::mem::take(&mut part));
            cost = 0;
        }
    }
    if !part.is_empty() {
        parts.push(part);
    }
    parts
}

/// One hashing thread: takes jobs until the queue closes.
fn hash_worker(queue: &Mutex<mpsc::Receiver<Job>>, stop: &AtomicBool) {
    let mut buf = vec![0u8; BUF_BYTES];
    loop {
        let job = match queue.lock() {
            Ok(q) => q.recv(),
            Err(_) => return,
        };
        let Ok(Job { window, todo, done }) = job else {
            return;
        };
        let mut out = Vec::with_capacity(todo.len());
        for i in todo {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            if let Some(h) = hash_item(&window, i, &mut buf) {
                out.push(h);
            }
        }
        // The window goes back whole to the thread that stores it.
        drop(window);
        let _ = done.send(out);
    }
}

/// Whether the content must be read: a file not known before, whose `lstat` facts moved, with no
/// hash yet, or any file on a full re-hash.
fn needs_hash(old: Option<&Record>, seen: &Record, mode: Mode) -> bool {
    if seen.ftype != FileType::File {
        return false;
    }
    match (mode, old) {
        (Mode::Full, _) | (_, None) => true,
        (_, Some(o)) => !o.same_stat(seen) || (o.sha256.is_none() && o.error.is_none()),
    }
}

/// The entry for a path whose content was not re-read: the walk's facts with the baseline's hash
/// (or its read error) carried over.
fn carry_over(old: Option<&Record>, mut seen: Record) -> Record {
    if let Some(o) = old {
        if seen.ftype == FileType::File && o.ftype == FileType::File {
            seen.sha256 = o.sha256;
            if seen.error.is_none() {
                seen.error.clone_from(&o.error);
            }
        }
    }
    seen
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fim::config::{FimConfig, WatchPath};
    use crate::fim::record::display_path;
    use std::fs;

    struct T {
        _dir: tempfile::TempDir,
        root: std::path::PathBuf,
        state: std::path::PathBuf,
        cfg: FimConfig,
    }

    fn setup() -> T {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let state = dir.path().join("state");
        fs::create_dir_all(root.join("etc/sub")).unwrap();
        fs::write(root.join("etc/passwd"), "root:x:0:0\n").unwrap();
        fs::write(root.join("etc/sub/a.conf"), "a=1\n").unwrap();
        let cfg = FimConfig {
            paths: vec![WatchPath {
                path: "/etc".into(),
                recursive: true,
                exclude: vec!["**/*.swp".into()],
            }],
            root: root.clone(),
            ..FimConfig::default()
        };
        T {
            _dir: dir,
            root,
            state,
            cfg,
        }
    }

    fn pass(t: &T, store: &Store, scope: Scope, mode: Mode, threads: usize) -> Vec<String> {
        let cover = Cover::new(&t.root, &t.cfg.compile().unwrap());
        let stop = AtomicBool::new(false);
        let s = Scanner {
            store,
            cover: &cover,
            threads,
            stop: &stop,
        };
        let mut got = Vec::new();
        let st = s
            .run(scope, mode, None, &mut |cs| {
                for c in cs {
                    let what = match (&c.old, &c.new) {
                        (None, Some(_)) => "created".to_owned(),
                        (Some(_), None) => "removed".to_owned(),
                        (Some(o), Some(n)) => o.changed_fields(n).join("+"),
                        (None, None) => "?".to_owned(),
                    };
                    got.push(format!("{} {what}", display_path(&c.path)));
                }
                Ok(())
            })
            .unwrap();
        assert!(st.complete);
        got
    }

    fn all() -> Scope {
        Scope::All { after: None }
    }

    /// A pass whose hand-over of changes fails, as a crash between finding and recording them would.
    fn failing_pass(t: &T, store: &Store, threads: usize) {
        let cover = Cover::new(&t.root, &t.cfg.compile().unwrap());
        let stop = AtomicBool::new(false);
        let s = Scanner {
            store,
            cover: &cover,
            threads,
            stop: &stop,
        };
        let r = s.run(all(), Mode::Rescan, None, &mut |_| {
            Err(StoreError::Corrupt {
                path: "test".into(),
                what: "lost".into(),
            })
        });
        assert!(r.is_err());
    }

    #[test]
    fn a_change_not_yet_pending_leaves_the_baseline_as_it_was() {
        for threads in [1, 3] {
            let t = setup();
            let store = Store::open(&t.state).unwrap();
            pass(&t, &store, all(), Mode::First, threads);
            fs::write(t.root.join("etc/passwd"), "root:x:0:0\nevil:x:0:0\n").unwrap();
            fs::remove_file(t.root.join("etc/sub/a.conf")).unwrap();
            failing_pass(&t, &store, threads);
            let mut got = pass(&t, &store, all(), Mode::Rescan, threads);
            got.sort();
            assert_eq!(
                got,
                ["/etc/passwd content+size+mtime", "/etc/sub/a.conf removed"],
                "threads {threads}"
            );
        }
    }

    #[test]
    fn first_baseline_then_rescan_reports_each_kind_of_change() {
        let t = setup();
        let store = Store::open(&t.state).unwrap();
        assert!(pass(&t, &store, all(), Mode::First, 1).is_empty());
        assert_eq!(store.baseline.len(), 4);
        let rec = store.get(&key_of(b"/etc/passwd")).unwrap().unwrap();
        let expect: [u8; 32] = <sha2::Sha256 as sha2::Digest>::digest(b"root:x:0:0\n").into();
        assert_eq!(rec.sha256, Some(expect));
        assert!(pass(&t, &store, all(), Mode::Rescan, 1).is_empty());

        use std::os::unix::fs::PermissionsExt;
        let r = &t.root;
        fs::write(r.join("etc/passwd"), "root:x:0:0\nevil:x:0:0\n").unwrap();
        fs::set_permissions(r.join("etc/sub/a.conf"), fs::Permissions::from_mode(0o666)).unwrap();
        fs::write(r.join("etc/new"), "n").unwrap();
        fs::write(r.join("etc/x.swp"), "ignored").unwrap();
        fs::write(r.join("etc/sub/gone"), "g").unwrap();
        let mut got = pass(&t, &store, all(), Mode::Rescan, 1);
        got.sort();
        assert_eq!(
            got,
            vec![
                "/etc/new created",
                "/etc/passwd content+size+mtime",
                "/etc/sub/a.conf mode",
                "/etc/sub/gone created",
            ]
        );
        fs::remove_file(r.join("etc/sub/gone")).unwrap();
        fs::remove_file(r.join("etc/new")).unwrap();
        std::os::unix::fs::symlink("/etc/shadow", r.join("etc/new")).unwrap();
        let mut got = pass(&t, &store, all(), Mode::Rescan, 1);
        got.sort();
        assert_eq!(got.len(), 2, "{got:?}");
        // The inode may be reused by the symlink; type and target always change.
        assert!(
            got[0].starts_with("/etc/new type+size+mode+mtime+link_target"),
            "{got:?}"
        );
        assert_eq!(got[1], "/etc/sub/gone removed");
        // Removing a whole directory removes everything under it.
        fs::remove_dir_all(r.join("etc/sub")).unwrap();
        let got = pass(&t, &store, all(), Mode::Rescan, 1);
        assert_eq!(got, vec!["/etc/sub removed", "/etc/sub/a.conf removed"]);
    }

    #[test]
    fn content_changed_behind_unchanged_metadata_needs_the_full_rehash() {
        let t = setup();
        let store = Store::open(&t.state).unwrap();
        pass(&t, &store, all(), Mode::First, 1);
        let p = t.root.join("etc/passwd");
        let before = fs::symlink_metadata(&p).unwrap();
        // Same size, same inode; the baseline is made to believe the old stat (ctime cannot be set
        // back, so rewrite the stored entry's ctime and mtime to the new ones after the write).
        fs::write(&p, "ROOT:x:0:0\n").unwrap();
        let after = fs::symlink_metadata(&p).unwrap();
        assert_eq!(before.len(), after.len());
        let key = key_of(b"/etc/passwd");
        let mut rec = store.get(&key).unwrap().unwrap();
        let now = Record::from_meta(&after);
        rec.mtime_ns = now.mtime_ns;
        rec.ctime_ns = now.ctime_ns;
        store.put(&key, &rec).unwrap();
        assert!(pass(&t, &store, all(), Mode::Rescan, 1).is_empty());
        assert_eq!(
            pass(&t, &store, all(), Mode::Full, 2),
            vec!["/etc/passwd content"]
        );
    }

    #[test]
    fn scopes_see_only_their_subtree_and_non_utf8_names_work() {
        let t = setup();
        let store = Store::open(&t.state).unwrap();
        pass(&t, &store, all(), Mode::First, 1);
        use std::os::unix::ffi::OsStrExt;
        let odd = t.root.join(std::ffi::OsStr::from_bytes(b"etc/sub/caf\xe9"));
        fs::write(&odd, "latin-1 name").unwrap();
        fs::write(t.root.join("etc/outside"), "not in scope").unwrap();
        let got = pass(
            &t,
            &store,
            Scope::Path(b"/etc/sub".to_vec()),
            Mode::Rescan,
            1,
        );
        assert_eq!(got, vec!["/etc/sub/caf\\xe9 created"]);
        let got = pass(
            &t,
            &store,
            Scope::Path(b"/etc/sub/caf\xe9".to_vec()),
            Mode::Rescan,
            1,
        );
        assert!(got.is_empty());
        fs::remove_file(&odd).unwrap();
        let got = pass(
            &t,
            &store,
            Scope::Path(b"/etc/sub/caf\xe9".to_vec()),
            Mode::Rescan,
            1,
        );
        assert_eq!(got, vec!["/etc/sub/caf\\xe9 removed"]);
        let got = pass(&t, &store, all(), Mode::Rescan, 1);
        assert_eq!(got, vec!["/etc/outside created"]);
    }

    #[test]
    fn the_pool_and_the_store_thread_build_the_same_baseline_as_one_thread() {
        let t = setup();
        // More directories than a window may open, more files than a window holds, files larger
        // than a read buffer, a symlink, an empty file.
        for d in 0..300 {
            let dir = t.root.join(format!("etc/d{d:03}"));
            fs::create_dir_all(&dir).unwrap();
            for f in 0..20 {
                fs::write(
                    dir.join(format!("f{f}")),
                    format!("{d}/{f}\n").repeat(f * 7),
                )
                .unwrap();
            }
        }
        let big: Vec<u8> = (0..3 * BUF_BYTES + 5).map(|i| (i % 253) as u8).collect();
        fs::write(t.root.join("etc/big"), &big).unwrap();
        std::os::unix::fs::symlink("/etc/shadow", t.root.join("etc/link")).unwrap();
        let cover = Cover::new(&t.root, &t.cfg.compile().unwrap());
        let dump = |store: &Store| -> Vec<(Vec<u8>, Vec<u8>)> {
            store
                .baseline
                .iter()
                .map(|kv| {
                    let (k, v) = kv.unwrap();
                    (k.to_vec(), v.to_vec())
                })
                .collect()
        };
        let mut runs = Vec::new();
        for threads in [1, 3] {
            let state = tempfile::tempdir().unwrap();
            let store = Store::open(state.path()).unwrap();
            let stop = AtomicBool::new(false);
            let s = Scanner {
                store: &store,
                cover: &cover,
                threads,
                stop: &stop,
            };
            let st = s
                .run(all(), Mode::First, Some("first"), &mut |_| Ok(()))
                .unwrap();
            assert!(st.complete);
            assert_eq!(st.hashed, 300 * 20 + 3);
            assert!(store.meta_bytes(meta::CHECKPOINT).is_none());
            runs.push(dump(&store));
        }
        assert_eq!(runs[0].len(), 4 + 300 + 300 * 20 + 2);
        assert_eq!(runs[0], runs[1]);
        let rec = Record::decode(
            &runs[1]
                .iter()
                .find(|(k, _)| *k == key_of(b"/etc/big"))
                .unwrap()
                .1,
        )
        .unwrap();
        let expect: [u8; 32] = <sha2::Sha256 as sha2::Digest>::digest(&big).into();
        assert_eq!(rec.sha256, Some(expect));
    }

    #[test]
    fn a_stopped_first_baseline_resumes_from_its_checkpoint() {
        let t = setup();
        for i in 0..10_000 {
            fs::write(t.root.join(format!("etc/sub/f{i:05}")), format!("{i}")).unwrap();
        }
        let cover = Cover::new(&t.root, &t.cfg.compile().unwrap());
        {
            let store = Store::open(&t.state).unwrap();
            let stop = AtomicBool::new(false);
            let s = Scanner {
                store: &store,
                cover: &cover,
                threads: 1,
                stop: &stop,
            };
            // Stop after the first window through the change callback's absence: flip the flag
            // from another thread once some entries are in.
            std::thread::scope(|sc| {
                sc.spawn(|| {
                    while store.baseline.len() < 1000 {
                        std::thread::yield_now();
                    }
                    stop.store(true, Ordering::Relaxed);
                });
                let st = s
                    .run(
                        Scope::All { after: None },
                        Mode::First,
                        Some("first"),
                        &mut |_| Ok(()),
                    )
                    .unwrap();
                assert!(!st.complete);
            });
            assert!(store.meta_bytes(meta::CHECKPOINT).is_some());
        }
        // Reopen (a restart) and resume.
        let store = Store::open(&t.state).unwrap();
        let after = store.meta_bytes(meta::CHECKPOINT);
        let done_before = store.baseline.len();
        assert!((WINDOW..10_004).contains(&done_before), "{done_before}");
        let stop = AtomicBool::new(false);
        let s = Scanner {
            store: &store,
            cover: &cover,
            threads: 1,
            stop: &stop,
        };
        let st = s
            .run(
                Scope::All { after },
                Mode::First,
                Some("first"),
                &mut |_| Ok(()),
            )
            .unwrap();
        assert!(st.complete);
        assert_eq!(store.baseline.len(), 10_004);
        assert!((st.entries as usize) < 10_004);
        assert!(store.meta_bytes(meta::CHECKPOINT).is_none());
        assert!(pass(&t, &store, all(), Mode::Rescan, 1).is_empty());
    }
}
