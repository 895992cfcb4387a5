//! What a borg job leaves beside the repository, readable without its passphrase:
//! - borgmatic's check stamps (borgmatic >= 1.7): `CHECKS/<repository id>/<check>`, whose mtime is
//!   the end of the last such check. `repository`, `archives` and `data` are integrity checks,
//!   `extract` is a restore test (borgmatic extracts the newest archive to nowhere). From 1.8 a
//!   check may be a directory of per-filter stamps: its newest file counts.
//! - borg's security directory (`SECURITY/<repository id>/manifest-timestamp`): the manifest time
//!   of the newest write that user's borg made or saw (UTC, no zone).
//!
//! The repository id comes from `borg list --json` or, when borg cannot read the repository (no
//! passphrase, unreachable), from the security directory itself: each `<id>/location` holds the
//! repository's location as borg canonicalised it. Not here: running borg.

use std::path::Path;

use serde::Deserialize;

use super::timefmt;
use crate::probe::fsutil;

/// Entries looked at in a per-filter stamp directory, or in a security directory.
const MAX_STAMPS: usize = 256;
/// A `location` file holds one URL or path.
const MAX_LOCATION_BYTES: u64 = 4096;

#[derive(Debug, Deserialize)]
struct RawList {
    #[serde(default)]
    repository: Option<RawRepository>,
}

#[derive(Debug, Deserialize)]
struct RawRepository {
    #[serde(default)]
    id: String,
}

/// The repository id of `borg list --json`, when it is a plain hex id (it names a directory).
pub fn repository_id(list_json: &[u8]) -> Option<String> {
    let raw: RawList = serde_json::from_slice(list_json).ok()?;
    let id = raw.repository?.id;
    let ok = !id.is_empty() && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_hexdigit());
    ok.then_some(id)
}

/// The newest mtime of a stamp: a file, or the newest file of a stamp directory.
fn stamp_ms(path: &Path) -> Option<i64> {
    let meta = std::fs::symlink_metadata(path).ok()?;
    if meta.is_file() {
        return fsutil::mtime_ms(&meta);
    }
    if !meta.is_dir() {
        return None;
    }
    std::fs::read_dir(path)
        .ok()?
        .take(MAX_STAMPS)
        .flatten()
        .filter_map(|e| {
            let m = std::fs::symlink_metadata(e.path()).ok()?;
            m.is_file().then(|| fsutil::mtime_ms(&m)).flatten()
        })
        .max()
}

/// borgmatic's last integrity check and last extract check of repository `id`.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Checks {
    pub integrity_ms: Option<i64>,
    pub extract_ms: Option<i64>,
}

pub fn borgmatic_checks(checks_dir: &Path, id: &str) -> Checks {
    let dir = checks_dir.join(id);
    Checks {
        integrity_ms: ["repository", "archives", "data"]
            .iter()
            .filter_map(|c| stamp_ms(&dir.join(c)))
            .max(),
        extract_ms: stamp_ms(&dir.join("extract")),
    }
}

/// The newest `manifest-timestamp` of the ids whose `location` in `security_dir` is `repository`
/// (trailing slashes aside). Several ids share a location when a repository was re-created in
/// place; the newest write is the current repository's, since creating it wrote a manifest.
pub fn manifest_timestamp_by_location(security_dir: &Path, repository: &str) -> Option<i64> {
    let want = repository.trim().trim_end_matches('/');
    if want.is_empty() {
        return None;
    }
    let mut newest = None;
    for entry in std::fs::read_dir(security_dir)
        .ok()?
        .take(MAX_STAMPS)
        .flatten()
    {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.is_empty() || name.len() > 128 || !name.bytes().all(|b| b.is_ascii_hexdigit()) {
            continue;
        }
        let Ok(bytes) = fsutil::read_bounded(&entry.path().join("location"), MAX_LOCATION_BYTES)
        else {
            continue;
        };
        if String::from_utf8_lossy(&bytes).trim().trim_end_matches('/') == want {
            newest = newest.max(manifest_timestamp(security_dir, &name));
        }
    }
    newest
}

/// `SECURITY/<id>/manifest-timestamp` as UTC milliseconds.
pub fn manifest_timestamp(security_dir: &Path, id: &str) -> Option<i64> {
    let path = security_dir.join(id).join("manifest-timestamp");
    let bytes = fsutil::read_bounded(&path, 128).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    timefmt::naive_ms(text.trim(), 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "8f879120121f360401baad685a819d893c854272a34c6b98efacf230cf505c82";

    fn touch(path: &Path, at_ms: i64) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, "").unwrap();
        let f = std::fs::File::options().append(true).open(path).unwrap();
        f.set_modified(
            std::time::UNIX_EPOCH + std::time::Duration::from_millis(u64::try_from(at_ms).unwrap()),
        )
        .unwrap();
    }

    #[track_caller]
    fn check(stamps: &[(&str, i64)], expect: Checks) {
        let dir = tempfile::tempdir().unwrap();
        for (name, at) in stamps {
            touch(&dir.path().join(ID).join(name), *at);
        }
        assert_eq!(borgmatic_checks(dir.path(), ID), expect);
    }

    #[test]
    fn borgmatic_stamps() {
        check(&[], Checks::default());
        check(
            &[("repository", 1_000), ("archives", 3_000), ("data", 2_000)],
            Checks {
                integrity_ms: Some(3_000),
                extract_ms: None,
            },
        );
        // borgmatic 1.8: per-filter stamps under `archives/`; an unknown check is ignored.
        check(
            &[
                ("archives/0a1b", 5_000),
                ("archives/2c3d", 7_000),
                ("extract", 9_000),
                ("spot", 11_000),
            ],
            Checks {
                integrity_ms: Some(7_000),
                extract_ms: Some(9_000),
            },
        );
    }

    #[test]
    fn repository_id_and_manifest_timestamp() {
        assert!(repository_id(include_bytes!("fixtures/borg-1.2-list.json")).is_some());
        assert_eq!(repository_id(br#"{"repository":{"id":"../x"}}"#), None);
        assert_eq!(repository_id(b"{}"), None);
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(ID)).unwrap();
        std::fs::write(
            dir.path().join(ID).join("manifest-timestamp"),
            include_str!("fixtures/borg-manifest-timestamp"),
        )
        .unwrap();
        assert_eq!(manifest_timestamp(dir.path(), ID), Some(1_795_883_063_040));
        assert_eq!(manifest_timestamp(dir.path(), "ffff"), None);
        std::fs::write(dir.path().join(ID).join("location"), "/srv/borg\n").unwrap();
        let by_location = |repo: &str| manifest_timestamp_by_location(dir.path(), repo);
        assert_eq!(by_location("/srv/borg/"), Some(1_795_883_063_040));
        assert_eq!(by_location("/srv/other"), None);
        assert_eq!(by_location(""), None);
        // A repository re-created in place: two ids, the newest write counts.
        std::fs::create_dir_all(dir.path().join("abcd")).unwrap();
        std::fs::write(dir.path().join("abcd/location"), "/srv/borg").unwrap();
        std::fs::write(
            dir.path().join("abcd/manifest-timestamp"),
            "2026-11-29T01:00:00.000000",
        )
        .unwrap();
        assert_eq!(by_location("/srv/borg"), Some(1_795_914_000_000));
        // A non-hex entry is never read (its name would be joined to a path).
        std::fs::create_dir_all(dir.path().join("..x")).unwrap();
        assert_eq!(
            manifest_timestamp_by_location(&dir.path().join("missing"), "/srv/borg"),
            None
        );
    }
}
