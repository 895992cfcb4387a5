//! The store format stamp: `store-format` in the data directory says which layout of the store
//! wrote it. `serve`, the admin commands and `restore` read it before opening the store: an older
//! stamp is upgraded (migrations go here when a layout changes), a newer one is refused, so an
//! older binary never reads, or silently rewrites, a store it does not understand.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// The store layout this binary reads and writes. 2: findings kept as one record per host and
/// snapshot documents apart from their metadata. 3: snapshot documents kept as files beside sled
/// (`snapshot-documents/` in the store directory), not in it. The moves from 1 and 2 run when the
/// store opens (`store::sled_store`'s `migrate`, which needs the open database); the stamp is what
/// keeps a binary that reads only an older format away from a migrated store.
pub const STORE_FORMAT: u32 = 3;
/// The stamp's file name in the data directory.
pub const STAMP_FILE: &str = "store-format";
const PREFIX: &str = "vigie-store-format ";

#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error("{path}: {source}", path = path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not a store format stamp", path = path.display())]
    Invalid { path: PathBuf },
    #[error("the store in {dir} has format {found}, newer than this vigie-collector reads ({STORE_FORMAT}): refusing to downgrade it; install the newer vigie-collector again, or restore a backup made by this version", dir = dir.display())]
    Newer { dir: PathBuf, found: u32 },
}

/// The stamp of `data_dir`: `None` when absent (a store from before stamps, or none yet).
pub fn read(data_dir: &Path) -> Result<Option<u32>, FormatError> {
    let path = data_dir.join(STAMP_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => text
            .trim()
            .strip_prefix(PREFIX)
            .and_then(|n| n.parse().ok())
            .map(Some)
            .ok_or(FormatError::Invalid { path }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(FormatError::Io { path, source }),
    }
}

/// Refuses a newer store; stamps an older or unstamped one with this format (after migrating it,
/// when a migration exists). Call before opening the store.
pub fn check_and_stamp(data_dir: &Path) -> Result<(), FormatError> {
    match read(data_dir)? {
        Some(found) if found > STORE_FORMAT => Err(FormatError::Newer {
            dir: data_dir.to_path_buf(),
            found,
        }),
        Some(found) if found == STORE_FORMAT => Ok(()),
        // From format 1 (or no stamp): the layout itself is migrated when the store opens.
        _ => write(data_dir, STORE_FORMAT),
    }
}

/// Writes the stamp atomically (temporary file, fsync, rename, directory fsync).
pub fn write(data_dir: &Path, format: u32) -> Result<(), FormatError> {
    let path = data_dir.join(STAMP_FILE);
    let tmp = data_dir.join(format!(".{STAMP_FILE}.tmp"));
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| FormatError::Io { path, source }
    };
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(&tmp)
        .map_err(io(&tmp))?;
    f.write_all(format!("{PREFIX}{format}\n").as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(io(&tmp))?;
    std::fs::rename(&tmp, &path).map_err(io(&path))?;
    std::fs::File::open(data_dir)
        .and_then(|d| d.sync_all())
        .map_err(io(data_dir))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn stamps_and_refuses_newer() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read(dir.path()).unwrap(), None);
        check_and_stamp(dir.path()).unwrap();
        assert_eq!(read(dir.path()).unwrap(), Some(STORE_FORMAT));
        write(dir.path(), STORE_FORMAT + 1).unwrap();
        let err = check_and_stamp(dir.path()).unwrap_err();
        assert!(err.to_string().contains("refusing to downgrade"), "{err}");
        assert_eq!(
            read(dir.path()).unwrap(),
            Some(STORE_FORMAT + 1),
            "left as it was"
        );
        std::fs::write(dir.path().join(STAMP_FILE), "garbage").unwrap();
        assert!(matches!(
            check_and_stamp(dir.path()),
            Err(FormatError::Invalid { .. })
        ));
    }
}
