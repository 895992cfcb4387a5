//! The sled store's side of backups: every tree written raw to an export file from the committer
//! thread (so no write lands in between: one consistent point), then the snapshot documents (files,
//! see `snapshot_files`) as the table `snapshot_documents` of sealed values, as format 2 exported
//! them; and a fresh store filled from an export, flushed and fsynced before anything opens it.

use std::fs::OpenOptions;
use std::io::{BufWriter, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use super::archive::{snapshot_meta_table, SNAPSHOT_META};
use super::codec::decode;
use super::snapshot_files::{self, SNAPSHOT_DOCUMENTS};
use super::{committer, io_error, Inner};
use crate::store::export::{self, ExportStats, ExportWriter, Item};
use crate::store::SnapshotMeta;
use crate::store::StoreError;

/// Writes every tree of `inner` to a new file `path` (0600), fsynced. Runs on the committer thread.
pub(super) fn export_to(inner: &Inner, path: &Path) -> Result<ExportStats, StoreError> {
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| io_error(path, e))?;
    let io = |e| io_error(path, e);
    let mut w = ExportWriter::new(BufWriter::new(file)).map_err(io)?;
    let mut names = inner.db.tree_names();
    names.sort();
    for name in names {
        // Only a format-2 leftover (a damaged document the migration kept) can be named so.
        if name.as_ref() == SNAPSHOT_DOCUMENTS.as_bytes() {
            continue;
        }
        let tree = inner.db.open_tree(&name)?;
        w.table(&name).map_err(io)?;
        for item in tree.iter() {
            let (key, value) = item?;
            w.pair(&key, &value).map_err(io)?;
        }
    }
    // Each document checked against its metadata's SHA-256 first: a backup never launders one.
    let metas = snapshot_meta_table(&inner.db)?;
    let mut documents = false;
    for item in metas.tree.iter() {
        let (key, value) = item?;
        let meta: SnapshotMeta = decode(SNAPSHOT_META, &key, &value)?;
        let document =
            snapshot_files::read(&inner.dir, &key, &meta)?.ok_or_else(|| StoreError::Corrupt {
                key: super::codec::key_name(SNAPSHOT_DOCUMENTS, &key),
                reason: "the snapshot's document is missing".into(),
            })?;
        if !documents {
            w.table(SNAPSHOT_DOCUMENTS.as_bytes()).map_err(io)?;
            documents = true;
        }
        w.pair(&key, &snapshot_files::export_value(&key, &document))
            .map_err(io)?;
    }
    let (buf, stats) = w.finish().map_err(io)?;
    let file = buf
        .into_inner()
        .map_err(|e| io_error(path, e.into_error()))?;
    file.sync_all().map_err(io)?;
    Ok(stats)
}

/// Creates the store `dir` (which must not exist) from an export, durably.
pub fn import_new(dir: &Path, input: impl Read) -> Result<ExportStats, StoreError> {
    if dir.exists() {
        return Err(io_error(
            dir,
            std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "a store is already there; restore only into a new directory",
            ),
        ));
    }
    let db = sled::Config::new().path(dir).flush_every_ms(None).open()?;
    // `None` inside the documents table: its pairs become files, not sled values.
    let mut tree: Option<Option<sled::Tree>> = None;
    let stats = export::read(input, |item| {
        match item {
            Item::Table(name) if name == SNAPSHOT_DOCUMENTS.as_bytes() => tree = Some(None),
            Item::Table(name) => {
                tree = Some(Some(db.open_tree(name).map_err(std::io::Error::other)?));
            }
            Item::Pair(key, value) => match tree.as_ref() {
                Some(Some(t)) => {
                    t.insert(key, value).map_err(std::io::Error::other)?;
                }
                Some(None) => snapshot_files::import(dir, &key, &value)
                    .map_err(|e| std::io::Error::other(e.to_string()))?,
                None => return Err(std::io::Error::other("pair outside a table")),
            },
        }
        Ok(())
    })
    .map_err(|e| io_error(dir, e))?;
    db.flush()?;
    drop(tree);
    drop(db);
    let mut syncer = committer::Syncer::default();
    syncer
        .sync_tree(dir)
        .map_err(committer::Durability::into_error)?;
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        committer::sync_path(parent).map_err(committer::Durability::into_error)?;
    }
    Ok(stats)
}
