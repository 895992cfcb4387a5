//! Snapshot documents as files (store format 3): each signed document (about 100 MB for 10,000
//! hosts) lives in `snapshot-documents/` inside the store directory, never in sled, so it neither
//! fills sled's page cache and log nor makes sled rewrite it; its metadata record in sled
//! (`snapshot_meta`) keeps its SHA-256, checked at every read, so a damaged or swapped file is
//! never served. A file is written before its metadata (temporary file, fsync, rename, directory
//! fsync) and removed after the metadata's removal is durable, so a crash leaves at worst a file
//! nobody names, removed at the next open. Backups carry the documents as format 2 did: the export
//! table `snapshot_documents` (key → sealed document), read back here into files.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::codec::{key_name, seal, unseal};
use super::committer;
use crate::store::{SnapshotMeta, StoreError};

/// The documents' directory, inside the store directory; the committer does not fsync it at every
/// commit (each file is durable once written).
pub(super) const DOCUMENTS_DIR: &str = "snapshot-documents";
/// The export table that carries the documents (and format 2's sled tree of the same name).
pub(super) const SNAPSHOT_DOCUMENTS: &str = "snapshot_documents";
const SUFFIX: &str = ".json";
const TEMP_PREFIX: &str = ".tmp-";

fn io_err(path: &Path, e: io::Error) -> StoreError {
    super::io_error(path, e)
}

/// The directory of `store_dir`'s documents.
pub(super) fn dir(store_dir: &Path) -> PathBuf {
    store_dir.join(DOCUMENTS_DIR)
}

/// The file of the document stored under `key` (org 0x00 seq(BE)): the key in hex, so no org id
/// can name a path.
fn file_name(key: &[u8]) -> String {
    format!("{}{SUFFIX}", hex::encode(key))
}

/// The key a document file name stands for; `None` for anything else.
fn key_of(name: &str) -> Option<Vec<u8>> {
    hex::decode(name.strip_suffix(SUFFIX)?).ok()
}

/// Writes `document` as the file for `key`, durably: temporary file (0600), fsync, rename over any
/// earlier file of the same key (left by a crash), fsync of the directory.
pub(super) fn write(store_dir: &Path, key: &[u8], document: &[u8]) -> Result<(), StoreError> {
    let dir = dir(store_dir);
    match fs::DirBuilder::new().mode(0o700).create(&dir) {
        Ok(()) => committer::sync_path(store_dir).map_err(committer::Durability::into_error)?,
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(io_err(&dir, e)),
    }
    let name = file_name(key);
    let temp = dir.join(format!("{TEMP_PREFIX}{name}"));
    let path = dir.join(&name);
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&temp)
        .map_err(|e| io_err(&temp, e))?;
    file.write_all(document)
        .and_then(|()| file.sync_all())
        .map_err(|e| io_err(&temp, e))?;
    drop(file);
    fs::rename(&temp, &path).map_err(|e| io_err(&path, e))?;
    committer::sync_path(&dir).map_err(committer::Durability::into_error)
}

/// The document of `meta`, stored under `key`, checked against the SHA-256 its metadata keeps.
/// `Ok(None)` when the file is absent (the caller decides whether that is corruption).
pub(super) fn read(
    store_dir: &Path,
    key: &[u8],
    meta: &SnapshotMeta,
) -> Result<Option<Vec<u8>>, StoreError> {
    let path = dir(store_dir).join(file_name(key));
    let mut file = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err(&path, e)),
    };
    let len = file.metadata().map_or(0, |m| m.len());
    let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    file.read_to_end(&mut bytes).map_err(|e| io_err(&path, e))?;
    if hex::encode(Sha256::digest(&bytes)) != meta.sha256 {
        return Err(StoreError::Corrupt {
            key: key_name(SNAPSHOT_DOCUMENTS, key),
            reason: format!(
                "the document file {} does not match its SHA-256",
                path.display()
            ),
        });
    }
    Ok(Some(bytes))
}

/// Removes the file for `key` (absent is fine) and makes the removal durable.
pub(super) fn remove(store_dir: &Path, key: &[u8]) -> Result<(), StoreError> {
    let dir = dir(store_dir);
    let path = dir.join(file_name(key));
    match fs::remove_file(&path) {
        Ok(()) => committer::sync_path(&dir).map_err(committer::Durability::into_error),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_err(&path, e)),
    }
}

/// Removes what a crash left: temporary files and documents no metadata names (`named` says
/// whether sled holds metadata for a key).
pub(super) fn remove_strays(
    store_dir: &Path,
    named: impl Fn(&[u8]) -> Result<bool, StoreError>,
) -> Result<(), StoreError> {
    let dir = dir(store_dir);
    let entries = match fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_err(&dir, e)),
    };
    let mut removed = 0usize;
    for entry in entries {
        let entry = entry.map_err(|e| io_err(&dir, e))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let stray = name.starts_with(TEMP_PREFIX)
            || match key_of(&name) {
                Some(key) => !named(&key)?,
                None => false,
            };
        if stray {
            fs::remove_file(entry.path()).map_err(|e| io_err(&entry.path(), e))?;
            removed += 1;
        }
    }
    if removed > 0 {
        committer::sync_path(&dir).map_err(committer::Durability::into_error)?;
        tracing::warn!(removed, dir = %dir.display(), "Unnamed snapshot document files left by a crash were removed.");
    }
    Ok(())
}

/// The export value for a document: sealed with its key, as format 2 stored it in sled.
pub(super) fn export_value(key: &[u8], document: &[u8]) -> Vec<u8> {
    seal(key, document)
}

/// Writes the document an export (or format 2's sled tree) holds as `value` under `key`, after
/// checking its seal.
pub(super) fn import(store_dir: &Path, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
    write(store_dir, key, unseal(SNAPSHOT_DOCUMENTS, key, value)?)
}
