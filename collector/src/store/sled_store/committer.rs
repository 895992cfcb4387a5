//! The single writer of the sled store, with group commit (DESIGN decision 12).
//!
//! One dedicated thread receives write jobs, applies every job already queued (up to
//! [`MAX_GROUP`]), then makes the group durable with ONE `flush()` plus an fsync of every file under
//! the store directory and of the directories themselves, and only then answers the jobs. Because
//! it is the only writer, a job's check-then-write is race-free. While a group is being fsynced the
//! next jobs queue up, so batching grows with load without any added delay at low load.
//!
//! If making a group durable fails, the thread answers that group with the error and stops: after a
//! failed fsync the kernel may have dropped dirty pages, so later fsyncs prove nothing
//! ("fsyncgate"). Every later write then fails with `CommitterGone` and the operator must restart.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::sync::mpsc;

use super::Inner;
use crate::store::StoreError;

/// Most jobs applied before one flush + fsync.
pub(super) const MAX_GROUP: usize = 1024;
/// Jobs that may wait for the committer before writers are slowed down.
pub(super) const QUEUE: usize = 4096;

/// What a job does once the group's durability is known.
pub(super) type Reply = Box<dyn FnOnce(Result<(), Durability>) + Send>;
/// A write job: applies itself and returns how to answer.
pub(super) type Job = Box<dyn FnOnce(&Inner) -> Reply + Send>;

/// Why a group could not be made durable (cloneable so every job of the group gets it).
#[derive(Debug, Clone)]
pub(super) struct Durability {
    path: String,
    kind: io::ErrorKind,
    message: String,
}

impl Durability {
    fn new(path: &Path, err: &io::Error) -> Self {
        Durability {
            path: path.display().to_string(),
            kind: err.kind(),
            message: err.to_string(),
        }
    }
    pub(super) fn into_error(self) -> StoreError {
        StoreError::Io {
            path: self.path,
            source: io::Error::new(self.kind, self.message),
        }
    }
}

/// Counters exposed for tests and metrics.
#[derive(Debug, Default)]
pub(super) struct Counters {
    pub jobs: AtomicU64,
    pub commits: AtomicU64,
}

/// Snapshot of the committer's counters: `commits` (flush + fsync rounds) ≤ `jobs` (writes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommitStats {
    pub jobs: u64,
    pub commits: u64,
}

impl Counters {
    pub(super) fn snapshot(&self) -> CommitStats {
        CommitStats {
            jobs: self.jobs.load(Ordering::Relaxed),
            commits: self.commits.load(Ordering::Relaxed),
        }
    }
}

/// The committer thread's body; returns when every sender is gone or durability failed.
pub(super) fn run(inner: Arc<Inner>, mut jobs: mpsc::Receiver<Job>, mut syncer: Syncer) {
    while let Some(first) = jobs.blocking_recv() {
        let mut replies = vec![first(&inner)];
        while replies.len() < MAX_GROUP {
            match jobs.try_recv() {
                Ok(job) => replies.push(job(&inner)),
                Err(_) => break,
            }
        }
        let durable = make_durable(&inner, &mut syncer);
        inner
            .counters
            .jobs
            .fetch_add(replies.len() as u64, Ordering::Relaxed);
        inner.counters.commits.fetch_add(1, Ordering::Relaxed);
        let failed = durable.is_err();
        if let Err(err) = &durable {
            tracing::error!(
                path = %err.path,
                error = %err.message,
                "Store could not be made durable; refusing further writes until restart."
            );
        }
        for reply in replies {
            reply(durable.clone());
        }
        if failed {
            break;
        }
    }
    tracing::debug!(dir = %inner.dir.display(), "Store committer stopped.");
}

/// `flush()`, then fsync every file and directory under the store directory, then the directory.
fn make_durable(inner: &Inner, syncer: &mut Syncer) -> Result<(), Durability> {
    if let Err(err) = inner.db.flush() {
        let err = match err {
            sled::Error::Io(io) => io,
            other => io::Error::other(other.to_string()),
        };
        return Err(Durability::new(&inner.dir, &err));
    }
    syncer.sync_tree(&inner.dir)
}

/// Fsyncs a sled directory. sled writes each blob (`blobs/<lsn>`, a value too large for the log)
/// once, with `create_new`, and never fsyncs it; a blob is fsynced again only while its length
/// changes, so that thousands of old blobs do not cost one fsync each per commit. Everything else
/// (`conf`, `db`, `snap.*`, the directories) is fsynced every time.
#[derive(Debug, Default)]
pub(super) struct Syncer {
    /// Blob path → length when it was last fsynced (the length read *before* that fsync).
    blobs: HashMap<PathBuf, u64>,
}

impl Syncer {
    /// Fsyncs every regular file below `dir`, each subdirectory, and `dir` itself last. A file
    /// that vanished meanwhile (an old snapshot or blob sled removed) is skipped. Files are opened
    /// read-only: fsync on Linux does not need write access.
    pub(super) fn sync_tree(&mut self, dir: &Path) -> Result<(), Durability> {
        let is_blob_dir = dir.file_name().is_some_and(|n| n == "blobs");
        let mut seen = Vec::new();
        let entries = std::fs::read_dir(dir).map_err(|e| Durability::new(dir, &e))?;
        for entry in entries {
            let entry = entry.map_err(|e| Durability::new(dir, &e))?;
            let path = entry.path();
            let meta = match entry.metadata() {
                Ok(m) => m,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(Durability::new(&path, &e)),
            };
            if meta.is_dir() {
                // Snapshot document files are fsynced once, when written (`snapshot_files`).
                if entry.file_name() == super::snapshot_files::DOCUMENTS_DIR {
                    continue;
                }
                self.sync_tree(&path)?;
            } else if meta.is_file() {
                if is_blob_dir {
                    if self.blobs.get(&path) != Some(&meta.len()) {
                        sync_path(&path)?;
                        self.blobs.insert(path.clone(), meta.len());
                    }
                    seen.push(path);
                } else {
                    sync_path(&path)?;
                }
            }
        }
        if is_blob_dir {
            let seen: HashSet<PathBuf> = seen.into_iter().collect();
            self.blobs.retain(|p, _| seen.contains(p));
        }
        sync_path(dir)
    }
}

/// Opens `path` (file or directory) and fsyncs it; a vanished path is fine.
pub(super) fn sync_path(path: &Path) -> Result<(), Durability> {
    match File::open(path).and_then(|f| f.sync_all()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Durability::new(path, &e)),
    }
}
