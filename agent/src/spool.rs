//! The outbox (DESIGN decision 12): one file per signed report in `STATE/spool/`, created exclusively,
//! fsynced, renamed into place and the directory fsynced; deleted only after the collector's
//! acknowledgement. File names carry a creation index, so the order survives restarts. The outbox is
//! bounded: the oldest reports are dropped first and the count is reported as evidence.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

pub const SPOOL_DIR: &str = "spool";
const TMP_DIR: &str = "tmp";
const DROPPED_FILE: &str = "dropped";
const SUFFIX: &str = ".report";

#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SpoolError + '_ {
    move |source| SpoolError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// One spooled report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub index: u64,
    pub path: PathBuf,
}

#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    next_index: u64,
    max_reports: usize,
}

impl Spool {
    /// Opens (creating if needed) the spool under `state_dir`.
    pub fn open(state_dir: &Path, max_reports: usize) -> Result<Spool, SpoolError> {
        Spool::open_at(state_dir.join(SPOOL_DIR), max_reports)
    }

    /// Opens (creating if needed) a spool in `dir` itself, e.g. the prober's `spool/probed`.
    pub fn open_at(dir: PathBuf, max_reports: usize) -> Result<Spool, SpoolError> {
        let tmp = dir.join(TMP_DIR);
        fs::create_dir_all(&tmp).map_err(io(&tmp))?;
        // Leftovers of a crash between create and rename are incomplete by definition.
        if let Ok(rd) = fs::read_dir(&tmp) {
            for e in rd.flatten() {
                let _ = fs::remove_file(e.path());
            }
        }
        Spool::attach(dir, max_reports)
    }

    /// Opens a spool that another process writes (the shipper's view of the prober's
    /// `spool/probed`): unlike `open_at`, it leaves that writer's temporary files alone.
    pub fn attach(dir: PathBuf, max_reports: usize) -> Result<Spool, SpoolError> {
        let tmp = dir.join(TMP_DIR);
        fs::create_dir_all(&tmp).map_err(io(&tmp))?;
        let mut spool = Spool {
            dir,
            next_index: 1,
            max_reports: max_reports.max(1),
        };
        spool.next_index = spool.list()?.last().map_or(1, |e| e.index + 1);
        Ok(spool)
    }

    /// Entries in creation order.
    pub fn list(&self) -> Result<Vec<Entry>, SpoolError> {
        let mut out = Vec::new();
        for e in fs::read_dir(&self.dir).map_err(io(&self.dir))? {
            let e = e.map_err(io(&self.dir))?;
            let name = e.file_name();
            let Some(name) = name.to_str() else { continue };
            let Some(stem) = name.strip_suffix(SUFFIX) else {
                continue;
            };
            let Ok(index) = stem.parse::<u64>() else {
                continue;
            };
            out.push(Entry {
                index,
                path: e.path(),
            });
        }
        out.sort_by_key(|e| e.index);
        Ok(out)
    }

    /// Durably adds one report; drops the oldest ones beyond the bound (counted in `dropped`).
    pub fn push(&mut self, bytes: &[u8]) -> Result<Entry, SpoolError> {
        let index = self.next_index;
        self.next_index += 1;
        let name = format!("{index:020}{SUFFIX}");
        let tmp = self.dir.join(TMP_DIR).join(&name);
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io(&tmp))?;
        f.write_all(bytes).map_err(io(&tmp))?;
        f.sync_all().map_err(io(&tmp))?;
        let path = self.dir.join(&name);
        fs::rename(&tmp, &path).map_err(io(&path))?;
        self.sync_dir()?;
        let entries = self.list()?;
        if entries.len() > self.max_reports {
            let excess = entries.len() - self.max_reports;
            for old in entries.iter().take(excess) {
                fs::remove_file(&old.path).map_err(io(&old.path))?;
            }
            self.add_dropped(excess as u64)?;
            self.sync_dir()?;
        }
        Ok(Entry { index, path })
    }

    pub fn read(&self, entry: &Entry) -> Result<Vec<u8>, SpoolError> {
        fs::read(&entry.path).map_err(io(&entry.path))
    }

    /// Deletes an acknowledged report.
    pub fn remove(&self, entry: &Entry) -> Result<(), SpoolError> {
        match fs::remove_file(&entry.path) {
            Ok(()) => self.sync_dir(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(SpoolError::Io {
                path: entry.path.clone(),
                source: e,
            }),
        }
    }

    /// Reports dropped from a full outbox and not yet told to the collector.
    pub fn dropped(&self) -> u64 {
        fs::read_to_string(self.dir.join(DROPPED_FILE))
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0)
    }

    /// Forgets `n` dropped reports once a report carrying that count was acknowledged.
    pub fn acknowledge_dropped(&self, n: u64) -> Result<(), SpoolError> {
        self.write_dropped(self.dropped().saturating_sub(n))
    }

    fn add_dropped(&self, n: u64) -> Result<(), SpoolError> {
        self.write_dropped(self.dropped().saturating_add(n))
    }

    fn write_dropped(&self, n: u64) -> Result<(), SpoolError> {
        let path = self.dir.join(DROPPED_FILE);
        crate::identity::write_atomic(&path, n.to_string().as_bytes(), 0o600).map_err(|e| {
            SpoolError::Io {
                path,
                source: std::io::Error::other(e.to_string()),
            }
        })
    }

    fn sync_dir(&self) -> Result<(), SpoolError> {
        fs::File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(io(&self.dir))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_survives_reopen_and_bound_drops_oldest() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Spool::open(dir.path(), 3).unwrap();
        for i in 0..3u8 {
            s.push(&[i]).unwrap();
        }
        let mut s = Spool::open(dir.path(), 3).unwrap();
        s.push(&[3]).unwrap();
        let got: Vec<Vec<u8>> = s
            .list()
            .unwrap()
            .iter()
            .map(|e| s.read(e).unwrap())
            .collect();
        assert_eq!(got, vec![vec![1], vec![2], vec![3]]);
        assert_eq!(s.dropped(), 1);
        s.acknowledge_dropped(1).unwrap();
        assert_eq!(s.dropped(), 0);
        let first = s.list().unwrap().remove(0);
        s.remove(&first).unwrap();
        s.remove(&first).unwrap();
        assert_eq!(s.list().unwrap().len(), 2);
    }
}
