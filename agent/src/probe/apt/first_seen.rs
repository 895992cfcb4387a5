//! First-seen dates of pending updates, keyed by (package, candidate version, security), kept in
//! `state_dir/patches-first-seen.json`: apt stores no publication date, so "pending for how long"
//! is the agent's own memory. Written atomically (temp file, fsync, rename, directory fsync); in
//! read-only mode the stored dates are used when readable and nothing is written. Not here:
//! deciding how old is too old (the policies).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::probe::fsutil::read_bounded;

pub const FILE_NAME: &str = "patches-first-seen.json";
const MAX_STATE_BYTES: u64 = 16 * 1024 * 1024;
const FORMAT_VERSION: u32 = 1;

#[derive(Debug, Serialize, Deserialize)]
struct StateFile {
    version: u32,
    entries: Vec<Entry>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Entry {
    package: String,
    candidate: String,
    security: bool,
    first_seen_ms: i64,
}

/// `(package, candidate version, security)`.
pub type Key = (String, String, bool);

/// Returns the first-seen date of every key (stored, else `now_ms`), and, when `state_dir` is
/// `Some`, stores exactly the current keys (updates no longer pending are forgotten).
pub fn resolve(
    state_dir: Option<&Path>,
    read_dir: Option<&Path>,
    keys: &[Key],
    now_ms: i64,
    warnings: &mut Vec<String>,
) -> Vec<i64> {
    let stored = read_dir.map(|d| load(d, warnings)).unwrap_or_default();
    let dates: Vec<i64> = keys
        .iter()
        .map(|k| {
            stored
                .get(k)
                .copied()
                .filter(|&t| t <= now_ms)
                .unwrap_or(now_ms)
        })
        .collect();
    let unchanged = stored.len() == keys.len()
        && keys
            .iter()
            .zip(&dates)
            .all(|(k, d)| stored.get(k) == Some(d));
    // Rewriting an identical file every cycle would only wear the disk with fsyncs.
    if let Some(dir) = state_dir.filter(|_| !unchanged) {
        let entries = keys
            .iter()
            .zip(&dates)
            .map(|((package, candidate, security), &first_seen_ms)| Entry {
                package: package.clone(),
                candidate: candidate.clone(),
                security: *security,
                first_seen_ms,
            })
            .collect();
        let file = StateFile {
            version: FORMAT_VERSION,
            entries,
        };
        if let Err(e) = store(dir, &file) {
            warnings.push(format!("writing {}: {e}", dir.join(FILE_NAME).display()));
        }
    }
    dates
}

fn load(dir: &Path, warnings: &mut Vec<String>) -> BTreeMap<Key, i64> {
    let path = dir.join(FILE_NAME);
    let bytes = match read_bounded(&path, MAX_STATE_BYTES) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return BTreeMap::new(),
        Err(e) => {
            warnings.push(format!(
                "reading {}: {e}; first-seen dates restart now",
                path.display()
            ));
            return BTreeMap::new();
        }
    };
    match serde_json::from_slice::<StateFile>(&bytes) {
        Ok(file) if file.version == FORMAT_VERSION => file
            .entries
            .into_iter()
            .map(|e| ((e.package, e.candidate, e.security), e.first_seen_ms))
            .collect(),
        Ok(file) => {
            warnings.push(format!(
                "{}: unknown format version {}; first-seen dates restart now",
                path.display(),
                file.version
            ));
            BTreeMap::new()
        }
        Err(e) => {
            warnings.push(format!(
                "parsing {}: {e}; first-seen dates restart now",
                path.display()
            ));
            BTreeMap::new()
        }
    }
}

fn store(dir: &Path, file: &StateFile) -> std::io::Result<()> {
    let bytes = serde_json::to_vec(file).map_err(std::io::Error::other)?;
    let tmp = dir.join(format!("{FILE_NAME}.tmp.{}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, dir.join(FILE_NAME))?;
        std::fs::File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(p: &str, v: &str, s: bool) -> Key {
        (p.to_owned(), v.to_owned(), s)
    }

    #[track_caller]
    fn check(dir: Option<&Path>, write: bool, keys: &[Key], now: i64, expect: &[i64]) {
        let mut w = Vec::new();
        let state = if write { dir } else { None };
        assert_eq!(resolve(state, dir, keys, now, &mut w), expect);
        assert!(w.is_empty(), "{w:?}");
    }

    #[test]
    fn dates_persist_and_reset_with_the_candidate() {
        let dir = tempfile::tempdir().unwrap();
        let d = Some(dir.path());
        let a1 = key("openssl", "3.0.1", true);
        let b = key("tzdata", "2025b", false);
        check(d, true, &[a1.clone(), b.clone()], 1000, &[1000, 1000]);
        check(d, true, &[a1.clone(), b.clone()], 2000, &[1000, 1000]);
        // A new candidate version is a new pending update; `tzdata` was installed and is forgotten.
        let a2 = key("openssl", "3.0.2", true);
        check(d, true, std::slice::from_ref(&a2), 3000, &[3000]);
        check(d, true, &[a2.clone(), b.clone()], 4000, &[3000, 4000]);
        // Read-only mode uses the stored dates and writes nothing.
        check(
            d,
            false,
            &[a2.clone(), key("x", "1", false)],
            5000,
            &[3000, 5000],
        );
        check(d, true, &[a2, key("x", "1", false)], 6000, &[3000, 6000]);
        check(None, false, &[a1], 7000, &[7000]);
        let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1);
    }

    #[test]
    fn corrupt_state_restarts_with_a_warning() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE_NAME), b"{not json\0").unwrap();
        let mut w = Vec::new();
        let got = resolve(
            Some(dir.path()),
            Some(dir.path()),
            &[key("a", "1", false)],
            9,
            &mut w,
        );
        assert_eq!(got, [9]);
        assert_eq!(w.len(), 1);
        check(Some(dir.path()), true, &[key("a", "1", false)], 10, &[9]);
    }
}
