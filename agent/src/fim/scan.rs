//! The comparison at the heart of file integrity: a walk in key order merged with the baseline in
//! the same order. A path only the walk has is created, one only the baseline has is removed, one
//! both have is compared (`lstat` facts first; content re-hashed only when they moved, or always on a
//! full re-hash). The baseline is updated as it goes and the changes are handed over in batches.
//!
//! The same code builds the first baseline (no events), rescans everything, re-hashes everything,
//! and checks the path of a realtime change (a scope). Full passes checkpoint their position so that
//! a restart resumes where they stopped.

use std::ops::Bound;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::hash::{hash_file, Hashed, BUF_BYTES};
use super::record::{key_of, key_within, path_of, FileType, Record};
use super::store::{meta, Store, StoreError};
use super::walk::{Cover, Item, Walker};

/// Items looked at together (their hashes computed in parallel at full speed).
const WINDOW: usize = 4096;
/// Changes handed over at once.
const CHANGE_BATCH: usize = 1000;
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

impl Scanner<'_> {
    /// Runs one pass. With `checkpoint`, records its position under that kind as it goes (full
    /// passes), and clears it at the end.
    pub fn run(
        &self,
        scope: Scope,
        mode: Mode,
        checkpoint: Option<&str>,
        on_changes: &mut dyn FnMut(Vec<Change>) -> Result<(), StoreError>,
    ) -> Result<Stats, StoreError> {
        let (mut walker, scope_key, mut prev) = match &scope {
            Scope::All { after } => (Walker::full(self.cover, after.clone()), None, after.clone()),
            Scope::Path(p) => (Walker::scope(self.cover, p), Some(key_of(p)), None),
        };
        let mut st = Stats::default();
        let mut skip: Option<Vec<u8>> = None;
        let mut changes: Vec<Change> = Vec::new();
        let mut bufs: Vec<Vec<u8>> = (0..self.threads.max(1))
            .map(|_| vec![0u8; BUF_BYTES])
            .collect();
        let mut last_checkpoint = Instant::now();
        loop {
            if self.stop.load(Ordering::Relaxed) {
                self.flush_changes(&mut changes, mode, on_changes)?;
                if let (Some(kind), Some(p)) = (checkpoint, &prev) {
                    self.store.set_meta(meta::CHECKPOINT, p)?;
                    self.store
                        .set_meta(meta::CHECKPOINT_KIND, kind.as_bytes())?;
                    self.store.flush()?;
                }
                return Ok(st);
            }
            let window: Vec<Item> = walker.by_ref().take(WINDOW).collect();
            if window.is_empty() {
                break;
            }
            // The first baseline starts empty: nothing to look up or to find removed.
            let olds: Vec<Option<Record>> = if mode == Mode::First {
                vec![None; window.len()]
            } else {
                window
                    .iter()
                    .map(|i| self.store.get(&key_of(i.path())))
                    .collect::<Result<_, _>>()?
            };
            let mut batch = sled::Batch::default();
            let hashed = self.hash_window(&window, &olds, mode, &mut bufs);
            for ((item, old), hashed) in window.into_iter().zip(olds).zip(hashed) {
                let key = key_of(item.path());
                if mode != Mode::First {
                    self.drain(
                        prev.as_deref(),
                        scope_key.as_deref(),
                        Some(&key),
                        skip.as_deref(),
                        &mut changes,
                    )?;
                }
                match item {
                    Item::Entry { path, rec } => {
                        let new = match hashed {
                            Some(Hashed::Gone) => None,
                            Some(Hashed::Done { rec, bytes }) => {
                                st.hashed += 1;
                                st.bytes += bytes;
                                Some(rec)
                            }
                            None => Some(carry_over(old.as_ref(), rec)),
                        };
                        match new {
                            None => {
                                if old.is_some() {
                                    batch.remove(key.as_slice());
                                    changes.push(Change {
                                        path,
                                        old,
                                        new: None,
                                        unwatched: false,
                                    });
                                }
                            }
                            Some(new) => {
                                st.entries += 1;
                                if new.error.is_some() {
                                    st.unreadable += 1;
                                }
                                if old.as_ref() != Some(&new) {
                                    batch.insert(key.as_slice(), new.encode());
                                    let worth = match &old {
                                        None => true,
                                        Some(o) => !o.changed_fields(&new).is_empty(),
                                    };
                                    if worth {
                                        changes.push(Change {
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
                    Item::Unlisted { .. } => skip = Some(key.clone()),
                    Item::Unstatable { path, error } => {
                        skip = Some(key.clone());
                        st.entries += 1;
                        st.unreadable += 1;
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
                            changes.push(Change {
                                path,
                                old: None,
                                new: Some(rec),
                                unwatched: false,
                            });
                        }
                    }
                }
                prev = Some(key);
                if changes.len() >= CHANGE_BATCH {
                    self.flush_changes(&mut changes, mode, on_changes)?;
                }
            }
            self.store
                .baseline
                .apply_batch(batch)
                .map_err(self.store.err())?;
            if let (Some(kind), Some(p)) = (checkpoint, &prev) {
                if last_checkpoint.elapsed() >= CHECKPOINT_EVERY {
                    self.store.set_meta(meta::CHECKPOINT, p)?;
                    self.store
                        .set_meta(meta::CHECKPOINT_KIND, kind.as_bytes())?;
                    self.store.flush()?;
                    last_checkpoint = Instant::now();
                }
            }
        }
        if mode != Mode::First {
            self.drain(
                prev.as_deref(),
                scope_key.as_deref(),
                None,
                skip.as_deref(),
                &mut changes,
            )?;
        }
        self.flush_changes(&mut changes, mode, on_changes)?;
        if checkpoint.is_some() {
            self.store.del_meta(meta::CHECKPOINT)?;
            self.store.del_meta(meta::CHECKPOINT_KIND)?;
        }
        st.complete = true;
        Ok(st)
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
            self.store.remove(&k)?;
            let path = path_of(&k);
            let unwatched = !self.cover.covered(&path);
            changes.push(Change {
                path,
                old,
                new: None,
                unwatched,
            });
        }
        Ok(())
    }

    /// Hashes the files of a window that need it, on `threads` threads.
    fn hash_window(
        &self,
        window: &[Item],
        olds: &[Option<Record>],
        mode: Mode,
        bufs: &mut [Vec<u8>],
    ) -> Vec<Option<Hashed>> {
        let jobs: Vec<usize> = window
            .iter()
            .zip(olds)
            .enumerate()
            .filter_map(|(i, (item, old))| match item {
                Item::Entry { rec, .. } if needs_hash(old.as_ref(), rec, mode) => Some(i),
                _ => None,
            })
            .collect();
        let mut out: Vec<Option<Hashed>> = vec![None; window.len()];
        let hash_one = |i: usize, buf: &mut Vec<u8>| -> Option<(usize, Hashed)> {
            match window.get(i)? {
                Item::Entry { path, rec } => Some((i, hash_file(&self.cover.phys(path), rec, buf))),
                _ => None,
            }
        };
        if bufs.len() <= 1 || jobs.len() < 2 {
            if let Some(buf) = bufs.first_mut() {
                for &i in &jobs {
                    if let Some((i, h)) = hash_one(i, buf) {
                        if let Some(slot) = out.get_mut(i) {
                            *slot = Some(h);
                        }
                    }
                }
            }
            return out;
        }
        let n = bufs.len();
        let results: Vec<Vec<(usize, Hashed)>> = std::thread::scope(|s| {
            let handles: Vec<_> = bufs
                .iter_mut()
                .enumerate()
                .map(|(t, buf)| {
                    let mine: Vec<usize> = jobs.iter().copied().skip(t).step_by(n).collect();
                    let hash_one = &hash_one;
                    s.spawn(move || {
                        mine.into_iter()
                            .filter_map(|i| hash_one(i, buf))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_default())
                .collect()
        });
        for (i, h) in results.into_iter().flatten() {
            if let Some(slot) = out.get_mut(i) {
                *slot = Some(h);
            }
        }
        out
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
