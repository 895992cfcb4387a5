//! Realtime changes through inotify (the `notify` crate), turned into signals for the worker: a path
//! that changed, a queue overflow (the kernel's `IN_Q_OVERFLOW`, or our own bounded queue full), an
//! exhausted watch limit. Overflows and watch-limit errors make the worker rescan and are reported
//! as evidence; nothing is silently lost. Reads (`IN_OPEN`, `IN_ACCESS`) are ignored.

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
        })
    }

    /// Watches `phys` (recursively or not).
    pub fn watch(&mut self, phys: &Path, recursive: bool) -> Result<(), WatchError> {
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
                _ => WatchError::Other(e.to_string()),
            }),
        }
    }

    /// Removes every watch.
    pub fn unwatch_all(&mut self) {
        for p in std::mem::take(&mut self.watched) {
            let _ = self.watcher.unwatch(&p);
        }
    }

    /// Whether signals were dropped because the queue was full, since the last call.
    pub fn take_dropped(&self) -> bool {
        self.dropped.swap(false, Ordering::Relaxed)
    }
}
