//! Realtime changes through inotify (the `notify` crate), turned into signals for the worker: a path
//! that changed, a queue overflow (the kernel's `IN_Q_OVERFLOW`, or our own bounded queue full), an
//! exhausted watch limit. Overflows and watch-limit errors make the worker rescan and are reported
//! as evidence; nothing is silently lost. Reads (`IN_OPEN`, `IN_ACCESS`) are ignored.
//!
//! `notify` gives up on a whole recursive watch when one directory in it cannot be watched (one the
//! agent may not read, e.g. a root-only `0700` directory under `/etc`). Such a tree is then watched
//! piecewise: each directory on the way to the bad one on its own, every other subtree recursively,
//! the bad one left to the rescan and named; directories later created in a piecewise-watched one
//! are adopted as they appear.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::Arc;

use notify::event::{EventKind, Flag};
use notify::{Config, INotifyWatcher, RecursiveMode, Watcher};

/// What the watcher saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signal {
    /// Something changed at this physical path.
    Path(PathBuf),
    /// The kernel's event queue overflowed: events were lost.
    Overflow,
    /// The watch limit is exhausted: some directories are not watched.
    WatchLimit(String),
    /// Another watcher error.
    Error(String),
}

/// Why a watch could not be added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchError {
    Limit(String),
    Missing,
    Other(String),
}

/// The running watcher and the worker's end of its queue.
pub struct Realtime {
    watcher: INotifyWatcher,
    pub rx: Receiver<Signal>,
    dropped: Arc<AtomicBool>,
    watched: Vec<PathBuf>,
    /// Directories watched on their own where a recursive watch was wanted.
    piecewise: HashSet<PathBuf>,
}

impl std::fmt::Debug for Realtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Realtime")
            .field("watched", &self.watched)
            .finish()
    }
}

fn push(tx: &SyncSender<Signal>, dropped: &AtomicBool, s: Signal) {
    match tx.try_send(s) {
        Ok(()) => {}
        Err(TrySendError::Full(_)) => dropped.store(true, Ordering::Relaxed),
        Err(TrySendError::Disconnected(_)) => {}
    }
}

impl Realtime {
    /// Starts a watcher whose queue holds `capacity` signals; past that, signals are dropped and
    /// [`Realtime::take_dropped`] says so (the worker then rescans, as for a kernel overflow).
    pub fn start(capacity: usize) -> Result<Realtime, String> {
        let (tx, rx) = sync_channel(capacity.max(1));
        let dropped = Arc::new(AtomicBool::new(false));
        let d = dropped.clone();
        let handler = move |res: notify::Result<notify::Event>| match res {
            Ok(ev) => {
                if ev.need_rescan() || ev.flag() == Some(Flag::Rescan) {
                    push(&tx, &d, Signal::Overflow);
                }
                if matches!(ev.kind, EventKind::Access(_)) {
                    return;
                }
                for p in ev.paths {
                    push(&tx, &d, Signal::Path(p));
                }
            }
            Err(e) => {
                let s = match e.kind {
                    notify::ErrorKind::MaxFilesWatch => Signal::WatchLimit(e.to_string()),
                    _ => Signal::Error(e.to_string()),
                };
                push(&tx, &d, s);
            }
        };
        let watcher = INotifyWatcher::new(handler, Config::default().with_follow_symlinks(false))
            .map_err(|e| e.to_string())?;
        Ok(Realtime {
            watcher,
            rx,
            dropped,
            watched: Vec::new(),
            piecewise: HashSet::new(),
        })
    }

    /// Watches `phys` (recursively or not). Returns the directories below it that could not be
    /// watched (with why), which only the rescan covers.
    pub fn watch(&mut self, phys: &Path, recursive: bool) -> Result<Vec<String>, WatchError> {
        let mut skipped = Vec::new();
        match self.watch_one(phys, recursive) {
            Err(WatchError::Other(_)) if recursive && is_dir(phys) => {
                self.piecewise_tree(phys, &mut skipped)?;
            }
            other => other?,
        }
        Ok(skipped)
    }

    fn watch_one(&mut self, phys: &Path, recursive: bool) -> Result<(), WatchError> {
        let mode = if recursive {
            RecursiveMode::Recursive
        } else {
            RecursiveMode::NonRecursive
        };
        match self.watcher.watch(phys, mode) {
            Ok(()) => {
                self.watched.push(phys.to_path_buf());
                Ok(())
            }
            Err(e) => Err(match e.kind {
                notify::ErrorKind::MaxFilesWatch => {
                    // Keep what was added: the rescan covers the rest.
                    self.watched.push(phys.to_path_buf());
                    WatchError::Limit(e.to_string())
                }
                notify::ErrorKind::PathNotFound => WatchError::Missing,
                notify::ErrorKind::Io(ref io) if io.kind() == std::io::ErrorKind::NotFound => {
                    WatchError::Missing
                }
                _ => {
                    // A recursive watch that failed half-way keeps what it added: drop it whole.
                    let _ = self.watcher.unwatch(phys);
                    WatchError::Other(e.to_string())
                }
            }),
        }
    }

    /// Watches `dir` on its own and each subdirectory recursively, going down piecewise into a
    /// subdirectory whose recursive watch fails.
    fn piecewise_tree(&mut self, dir: &Path, skipped: &mut Vec<String>) -> Result<(), WatchError> {
        match self.watch_one(dir, false) {
            Ok(()) => {}
            Err(WatchError::Other(e)) => {
                skipped.push(format!("{}: {e}", dir.display()));
                return Ok(());
            }
            Err(WatchError::Missing) => return Ok(()),
            Err(e) => return Err(e),
        }
        self.piecewise.insert(dir.to_path_buf());
        let entries = match std::fs::read_dir(dir) {
            Ok(rd) => rd,
            Err(e) => {
                skipped.push(format!("{}: {e}", dir.display()));
                return Ok(());
            }
        };
        let mut subdirs: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| is_dir(p))
            .collect();
        subdirs.sort();
        for sub in subdirs {
            self.adopt_dir(&sub, skipped)?;
        }
        Ok(())
    }

    fn adopt_dir(&mut self, dir: &Path, skipped: &mut Vec<String>) -> Result<(), WatchError> {
        match self.watch_one(dir, true) {
            Ok(()) | Err(WatchError::Missing) => Ok(()),
            Err(WatchError::Other(_)) => self.piecewise_tree(dir, skipped),
            Err(e) => Err(e),
        }
    }

    /// Whether `phys` may be a directory created in a piecewise-watched one (which no recursive
    /// watch picks up by itself).
    pub fn wants(&self, phys: &Path) -> bool {
        phys.parent().is_some_and(|p| self.piecewise.contains(p))
    }

    /// Watches a directory that appeared in a piecewise-watched one. Returns what could not be
    /// watched, as [`Realtime::watch`].
    pub fn adopt(&mut self, phys: &Path) -> Result<Vec<String>, WatchError> {
        let mut skipped = Vec::new();
        if self.wants(phys) && is_dir(phys) && !self.watched.iter().any(|w| w == phys) {
            self.adopt_dir(phys, &mut skipped)?;
        }
        Ok(skipped)
    }

    /// Removes every watch.
    pub fn unwatch_all(&mut self) {
        for p in std::mem::take(&mut self.watched) {
            let _ = self.watcher.unwatch(&p);
        }
        self.piecewise.clear();
    }

    /// Whether signals were dropped because the queue was full, since the last call.
    pub fn take_dropped(&self) -> bool {
        self.dropped.swap(false, Ordering::Relaxed)
    }
}

/// A directory, not a symlink to one.
fn is_dir(p: &Path) -> bool {
    std::fs::symlink_metadata(p).is_ok_and(|m| m.is_dir())
}
