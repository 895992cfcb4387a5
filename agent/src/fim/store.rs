//! The file-integrity store: its own sled database in `STATE/fim/db` (cache capped), apart from
//! every other agent file. Trees: `baseline` (key → [`Record`]), `pending` (key → events not yet in
//! the outbox, one per path), `notices` (time-ordered incidents not yet reported) and `meta`
//! (baseline id and state, scan checkpoint, schedules, counters); `diff.rs` adds the redacted
//! copies of allowlisted files.

use std::path::{Path, PathBuf};

use super::record::Record;

/// sled's page cache for this store; the baseline itself can be much larger on disk.
const CACHE_BYTES: u64 = 4 * 1024 * 1024;
/// Notices kept before the oldest are dropped (they are counted in the status anyway).
const MAX_NOTICES: usize = 200;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("file-integrity store {path}: {source}")]
    Sled {
        path: PathBuf,
        #[source]
        source: sled::Error,
    },
    #[error("file-integrity store {path}: corrupt entry {what}")]
    Corrupt { path: PathBuf, what: String },
}

/// Keys of the `meta` tree.
pub mod meta {
    pub const BASELINE_ID: &str = "baseline_id";
    /// `building` or `complete`.
    pub const STATE: &str = "state";
    /// Key of the last entry a full pass recorded; present while a pass is unfinished.
    pub const CHECKPOINT: &str = "checkpoint";
    /// `first` or `full`: what the checkpoint belongs to.
    pub const CHECKPOINT_KIND: &str = "checkpoint_kind";
    pub const STARTED_MS: &str = "started_ms";
    pub const COMPLETED_MS: &str = "completed_ms";
    pub const LAST_RESCAN_MS: &str = "last_rescan_ms";
    pub const LAST_FULL_MS: &str = "last_full_ms";
    pub const LAST_SYNC_MS: &str = "last_sync_ms";
    pub const ROOT_DIGEST: &str = "root_digest";
    pub const RESUMED: &str = "resumed";
    pub const OVERFLOWS: &str = "overflows";
    pub const COALESCED: &str = "coalesced";
    pub const RATE_LIMITED: &str = "rate_limited";
    pub const UNREADABLE: &str = "unreadable";
    pub const BYTES_HASHED: &str = "bytes_hashed";
    pub const HASHED_LAST_SCAN: &str = "hashed_last_scan";
    pub const WATCH_LIMIT: &str = "watch_limit";
}

/// A notice: an incident worth telling the collector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub at_ms: i64,
    pub kind: String,
    pub detail: String,
}

/// The open store.
pub struct Store {
    path: PathBuf,
    db: sled::Db,
    pub baseline: sled::Tree,
    pub pending: sled::Tree,
    notices: sled::Tree,
    meta: sled::Tree,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

impl Store {
    /// Opens (creating) the store under `state_dir/fim/db`.
    pub fn open(state_dir: &Path) -> Result<Store, StoreError> {
        let path = state_dir.join("fim").join("db");
        let err = |source| StoreError::Sled {
            path: path.clone(),
            source,
        };
        remove_unfinished_snapshots(&path);
        let db = sled::Config::new()
            .path(&path)
            .cache_capacity(CACHE_BYTES)
            .mode(sled::Mode::LowSpace)
            .flush_every_ms(Some(1000))
            .open()
            .map_err(err)?;
        let baseline = db.open_tree("baseline").map_err(err)?;
        let pending = db.open_tree("pending").map_err(err)?;
        let notices = db.open_tree("notices").map_err(err)?;
        let meta = db.open_tree("meta").map_err(err)?;
        Ok(Store {
            path,
            db,
            baseline,
            pending,
            notices,
            meta,
        })
    }

    /// Another tree of the same database (`texts` and `texts_reported`: the redacted copies of
    /// `diff.rs`).
    pub fn tree(&self, name: &str) -> Result<sled::Tree, StoreError> {
        self.db.open_tree(name).map_err(self.err())
    }

    pub fn err(&self) -> impl Fn(sled::Error) -> StoreError + '_ {
        move |source| StoreError::Sled {
            path: self.path.clone(),
            source,
        }
    }

    /// Durably writes everything so far.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.db.flush().map(|_| ()).map_err(self.err())
    }

    pub fn get(&self, key: &[u8]) -> Result<Option<Record>, StoreError> {
        match self.baseline.get(key).map_err(self.err())? {
            None => Ok(None),
            Some(v) => Record::decode(&v)
                .map(Some)
                .ok_or_else(|| StoreError::Corrupt {
                    path: self.path.clone(),
                    what: super::record::display_path(&super::record::path_of(key)),
                }),
        }
    }

    pub fn put(&self, key: &[u8], rec: &Record) -> Result<(), StoreError> {
        self.baseline
            .insert(key, rec.encode())
            .map(|_| ())
            .map_err(self.err())
    }

    pub fn remove(&self, key: &[u8]) -> Result<(), StoreError> {
        self.baseline.remove(key).map(|_| ()).map_err(self.err())
    }

    pub fn meta_str(&self, k: &str) -> Option<String> {
        self.meta
            .get(k)
            .ok()
            .flatten()
            .map(|v| String::from_utf8_lossy(&v).into_owned())
    }

    pub fn meta_bytes(&self, k: &str) -> Option<Vec<u8>> {
        self.meta.get(k).ok().flatten().map(|v| v.to_vec())
    }

    pub fn meta_i64(&self, k: &str) -> i64 {
        self.meta
            .get(k)
            .ok()
            .flatten()
            .and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
            .map_or(0, i64::from_le_bytes)
    }

    pub fn set_meta(&self, k: &str, v: &[u8]) -> Result<(), StoreError> {
        self.meta.insert(k, v).map(|_| ()).map_err(self.err())
    }

    pub fn set_meta_i64(&self, k: &str, v: i64) -> Result<(), StoreError> {
        self.set_meta(k, &v.to_le_bytes())
    }

    pub fn add_meta_i64(&self, k: &str, by: i64) -> Result<i64, StoreError> {
        let v = self.meta_i64(k).saturating_add(by);
        self.set_meta_i64(k, v)?;
        Ok(v)
    }

    pub fn del_meta(&self, k: &str) -> Result<(), StoreError> {
        self.meta.remove(k).map(|_| ()).map_err(self.err())
    }

    /// Records an incident to report.
    pub fn add_notice(&self, n: &Notice) -> Result<(), StoreError> {
        let id = self.db.generate_id().map_err(self.err())?;
        let mut v = Vec::new();
        v.extend_from_slice(&n.at_ms.to_le_bytes());
        v.extend_from_slice(&(n.kind.len() as u32).to_le_bytes());
        v.extend_from_slice(n.kind.as_bytes());
        v.extend_from_slice(n.detail.as_bytes());
        self.notices
            .insert(id.to_be_bytes(), v)
            .map_err(self.err())?;
        while self.notices.len() > MAX_NOTICES {
            match self.notices.pop_min().map_err(self.err())? {
                Some(_) => {}
                None => break,
            }
        }
        Ok(())
    }

    /// Notices not yet reported, oldest first, with their ids.
    pub fn notices(&self) -> Vec<(sled::IVec, Notice)> {
        self.notices
            .iter()
            .flatten()
            .filter_map(|(k, v)| {
                let at = i64::from_le_bytes(v.get(..8)?.try_into().ok()?);
                let klen = u32::from_le_bytes(v.get(8..12)?.try_into().ok()?) as usize;
                let kind = String::from_utf8_lossy(v.get(12..12 + klen)?).into_owned();
                let detail = String::from_utf8_lossy(v.get(12 + klen..)?).into_owned();
                Some((
                    k,
                    Notice {
                        at_ms: at,
                        kind,
                        detail,
                    },
                ))
            })
            .collect()
    }

    pub fn drop_notices(&self, ids: &[sled::IVec]) -> Result<(), StoreError> {
        for id in ids {
            self.notices.remove(id).map_err(self.err())?;
        }
        Ok(())
    }
}

/// Removes the snapshot files sled left half-written. sled writes `snap.LSN.generating` and renames
/// it once complete, but counts a leftover (a full disk, a crash) as a snapshot at start-up: when
/// it is the newest, the store refuses to open again, "corrupted", for good. Every open after the
/// first writes a snapshot, so a full disk while the store is reopened leaves one.
fn remove_unfinished_snapshots(path: &Path) {
    let Ok(entries) = std::fs::read_dir(path) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with("snap.") && name.ends_with(".generating") {
            if let Err(error) = std::fs::remove_file(entry.path()) {
                tracing::warn!(%error, file = %entry.path().display(), "Could not remove an unfinished sled snapshot.");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Store;

    #[test]
    fn an_unfinished_snapshot_does_not_lock_the_store_out() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            store.set_meta("k", b"v").unwrap();
            store.flush().unwrap();
        }
        // Reopened once: sled writes a snapshot. Then one left half-written, newest of all.
        drop(Store::open(dir.path()).unwrap());
        let db = dir.path().join("fim").join("db");
        std::fs::write(db.join("snap.FFFFFFFFFFFFFFF0.generating"), b"").unwrap();
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.meta_str("k").as_deref(), Some("v"));
    }
}
