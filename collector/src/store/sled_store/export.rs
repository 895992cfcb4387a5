//! The sled store's side of backups: every tree written raw to an export file from the committer
//! thread (so no write lands in between: one consistent point), and a fresh store filled from an
//! export, flushed and fsynced before anything opens it.

use std::fs::OpenOptions;
use std::io::{BufWriter, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use super::{committer, io_error, Inner};
use crate::store::export::{self, ExportStats, ExportWriter, Item};
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
        let tree = inner.db.open_tree(&name)?;
        w.table(&name).map_err(io)?;
        for item in tree.iter() {
            let (key, value) = item?;
            w.pair(&key, &value).map_err(io)?;
        }
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
    let mut tree: Option<sled::Tree> = None;
    let stats = export::read(input, |item| {
        match item {
            Item::Table(name) => tree = Some(db.open_tree(name).map_err(std::io::Error::other)?),
            Item::Pair(key, value) => {
                let t = tree
                    .as_ref()
                    .ok_or_else(|| std::io::Error::other("pair outside a table"))?;
                t.insert(key, value).map_err(std::io::Error::other)?;
            }
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
