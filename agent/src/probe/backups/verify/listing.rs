//! What a restore point holds, as `restic ls --json SNAP` and `borg list --json-lines REPO::ARCHIVE`
//! print it: the regular files with their size and mtime, and the restore point's id. Then the
//! sample: files whose live source is unchanged since the backup (same size, same mtime to the
//! millisecond, still a regular file), drawn at random within a count and a byte budget.
//!
//! Paths are kept only when they can be named back to the tool without a pattern surprise: no
//! control characters, no `..`, and for restic none of the glob characters `*?[\` (its `--include`
//! takes patterns). Not here: running the tools or comparing contents.

use std::path::PathBuf;

use rand::seq::SliceRandom;
use serde::Deserialize;

use super::super::{sanitize, timefmt};
use crate::probe::fsutil;

/// How many candidates are looked at (lstat) per file wanted, at most.
const TRIES_PER_FILE: usize = 50;

/// A regular file of a restore point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// As the tool names it: absolute for restic, relative to `/` for borg.
    pub stored: String,
    /// The live source file.
    pub source: PathBuf,
    pub size: u64,
    pub mtime_ms: i64,
}

/// The regular files of one restore point.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Listing {
    pub snapshot_id: String,
    pub files: Vec<Entry>,
    /// Regular files left out because their path cannot be named safely.
    pub unsafe_paths: u64,
}

#[derive(Debug, Deserialize)]
struct ResticLine {
    #[serde(default)]
    struct_type: String,
    #[serde(default)]
    id: String,
    #[serde(default, rename = "type")]
    kind: String,
    #[serde(default)]
    path: String,
    #[serde(default)]
    size: u64,
    #[serde(default)]
    mtime: String,
}

#[derive(Debug, Deserialize)]
struct BorgLine {
    #[serde(default, rename = "type")]
    kind: String,
    #[serde(default)]
    path: String,
    #[serde(default)]
    size: u64,
    #[serde(default)]
    mtime: String,
}

fn plain(path: &str) -> bool {
    !path.is_empty()
        && path.len() <= 4096
        && !path.chars().any(char::is_control)
        && !path.split('/').any(|c| c == "..")
}

/// `restic ls --json SNAP` (0.14 to 0.17): a snapshot line, then one node per line.
pub fn parse_restic(out: &[u8]) -> Listing {
    let mut listing = Listing::default();
    for line in out.split(|b| *b == b'\n') {
        let Ok(l) = serde_json::from_slice::<ResticLine>(line) else {
            continue;
        };
        if l.struct_type == "snapshot" {
            listing.snapshot_id = sanitize(&l.id, 64);
            continue;
        }
        if l.struct_type != "node" || l.kind != "file" {
            continue;
        }
        let Some(mtime_ms) = timefmt::rfc3339_ms(&l.mtime) else {
            continue;
        };
        if !plain(&l.path) || !l.path.starts_with('/') || l.path.contains(['*', '?', '[', '\\']) {
            listing.unsafe_paths += 1;
            continue;
        }
        listing.files.push(Entry {
            source: PathBuf::from(&l.path),
            stored: l.path,
            size: l.size,
            mtime_ms,
        });
    }
    listing
}

/// `borg list --json-lines REPO::ARCHIVE` (1.2 and 1.4), printed under `TZ=UTC`.
pub fn parse_borg(out: &[u8], archive: &str) -> Listing {
    let mut listing = Listing {
        snapshot_id: sanitize(archive, 128),
        ..Listing::default()
    };
    for line in out.split(|b| *b == b'\n') {
        let Ok(l) = serde_json::from_slice::<BorgLine>(line) else {
            continue;
        };
        if l.kind != "-" {
            continue;
        }
        let Some(mtime_ms) = timefmt::naive_ms(&l.mtime, 0) else {
            continue;
        };
        if !plain(&l.path) || l.path.starts_with('/') {
            listing.unsafe_paths += 1;
            continue;
        }
        listing.files.push(Entry {
            source: PathBuf::from(format!("/{}", l.path)),
            stored: l.path,
            size: l.size,
            mtime_ms,
        });
    }
    listing
}

/// Whether the live file is the one the restore point holds: a regular file (not followed if a
/// symlink) of the same size and mtime.
pub fn unchanged(e: &Entry) -> bool {
    match std::fs::symlink_metadata(&e.source) {
        Ok(m) => m.is_file() && m.len() == e.size && fsutil::mtime_ms(&m) == Some(e.mtime_ms),
        Err(_) => false,
    }
}

/// What was drawn, and how many candidates were passed over because they changed since.
#[derive(Debug, Default)]
pub struct Sample {
    pub files: Vec<Entry>,
    pub changed: u64,
}

/// Up to `count` unchanged files of at most `max_bytes` in total, in random order.
pub fn sample(mut files: Vec<Entry>, count: usize, max_bytes: u64) -> Sample {
    files.retain(|e| e.size <= max_bytes);
    files.shuffle(&mut rand::thread_rng());
    let mut out = Sample::default();
    let mut budget = max_bytes;
    for e in files.into_iter().take(count.saturating_mul(TRIES_PER_FILE)) {
        if out.files.len() >= count {
            break;
        }
        if e.size > budget {
            continue;
        }
        if !unchanged(&e) {
            out.changed += 1;
            continue;
        }
        budget -= e.size;
        out.files.push(e);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(listing: Listing, id: &str, expect: &[(&str, &str, u64, i64)], unsafe_paths: u64) {
        assert_eq!(listing.snapshot_id, id);
        let got: Vec<(String, String, u64, i64)> = listing
            .files
            .iter()
            .map(|e| {
                (
                    e.stored.clone(),
                    e.source.display().to_string(),
                    e.size,
                    e.mtime_ms,
                )
            })
            .collect();
        let want: Vec<(String, String, u64, i64)> = expect
            .iter()
            .map(|(a, b, c, d)| ((*a).to_owned(), (*b).to_owned(), *c, *d))
            .collect();
        assert_eq!(got, want);
        assert_eq!(listing.unsafe_paths, unsafe_paths);
    }

    #[test]
    fn restic_and_borg_listings() {
        check(
            parse_restic(include_bytes!("../fixtures/restic-0.14-ls.jsonl")),
            "c62e56a9c747b68dad58f9562cc0a0460f277acc0458ab1c3919b79e9ba175f7",
            &[(
                "/tmp/bvx/src/a.txt",
                "/tmp/bvx/src/a.txt",
                6,
                1_795_883_058_095,
            )],
            1,
        );
        check(
            parse_borg(include_bytes!("../fixtures/borg-1.2-list.jsonl"), "one"),
            "one",
            &[(
                "tmp/bvx/src/sub/b",
                "/tmp/bvx/src/sub/b",
                2,
                1_795_883_058_075,
            )],
            1,
        );
        check(parse_restic(b"garbage\n{"), "", &[], 0);
    }

    #[test]
    fn sample_skips_changed_files_and_keeps_the_budget() {
        let dir = tempfile::tempdir().unwrap();
        let mut files = Vec::new();
        for (name, body) in [("a", "1234"), ("b", "12345678"), ("c", "12")] {
            let p = dir.path().join(name);
            std::fs::write(&p, body).unwrap();
            let m = std::fs::metadata(&p).unwrap();
            files.push(Entry {
                stored: p.display().to_string(),
                source: p,
                size: m.len(),
                mtime_ms: fsutil::mtime_ms(&m).unwrap(),
            });
        }
        let mut changed = files.clone();
        if let Some(c) = changed.get_mut(2) {
            c.size = 3;
        }
        let s = sample(changed, 10, 100);
        assert_eq!((s.files.len(), s.changed), (2, 1));
        let s = sample(files.clone(), 10, 7);
        assert!(s.files.iter().map(|e| e.size).sum::<u64>() <= 7, "{s:?}");
        assert!(!s.files.iter().any(|e| e.size == 8));
        assert_eq!(sample(files, 1, 100).files.len(), 1);
    }
}
