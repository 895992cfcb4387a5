//! The plaintext inside an encrypted backup: a manifest, then the data directory's files (with their
//! modes), then the store export, each as a named, sized entry. Names are relative paths checked on
//! the way in and out, so a crafted backup cannot write outside the directory it is restored into.
//!
//! ```text
//! "vigie-collector-backup 1\n" | u32 len | manifest (JSON)
//! entry*: u16 name len | name | u32 mode | u64 len | bytes
//! u16 0 (the end)
//! ```

use std::io::{self, Read, Write};
use std::path::{Component, Path};

use serde::{Deserialize, Serialize};

use crate::store::export::ExportStats;

const MAGIC: &[u8] = b"vigie-collector-backup 1\n";
const MAX_MANIFEST: u32 = 1024 * 1024;
/// The entry holding the store export; always the last one.
pub const STORE_ENTRY: &str = "store.export";

/// What a backup says about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub created_at_ms: i64,
    pub collector_version: String,
    /// The store format stamp of the backed-up store.
    pub store_format: u32,
    pub store: ExportStats,
    /// Every file entry but the store, in order.
    pub files: Vec<String>,
}

fn bad(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("backup: {message}"))
}

/// A relative path of normal components only (no `..`, no root, no `.`), UTF-8.
pub fn safe_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() < 1024
        && Path::new(name)
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
}

pub fn write_manifest<W: Write>(out: &mut W, m: &Manifest) -> io::Result<()> {
    let json = serde_json::to_vec(m).map_err(io::Error::other)?;
    out.write_all(MAGIC)?;
    out.write_all(
        &u32::try_from(json.len())
            .map_err(io::Error::other)?
            .to_be_bytes(),
    )?;
    out.write_all(&json)
}

/// Starts an entry of `len` bytes; the caller then writes exactly `len` bytes.
pub fn write_entry_header<W: Write>(
    out: &mut W,
    name: &str,
    mode: u32,
    len: u64,
) -> io::Result<()> {
    if !safe_name(name) {
        return Err(bad(format!("unsafe entry name {name:?}")));
    }
    out.write_all(
        &u16::try_from(name.len())
            .map_err(io::Error::other)?
            .to_be_bytes(),
    )?;
    out.write_all(name.as_bytes())?;
    out.write_all(&mode.to_be_bytes())?;
    out.write_all(&len.to_be_bytes())
}

pub fn write_end<W: Write>(out: &mut W) -> io::Result<()> {
    out.write_all(&0u16.to_be_bytes())
}

pub fn read_manifest<R: Read>(input: &mut R) -> io::Result<Manifest> {
    let mut magic = vec![0u8; MAGIC.len()];
    input.read_exact(&mut magic)?;
    if magic != MAGIC {
        return Err(bad(
            "not a collector backup, or one from a newer version".into()
        ));
    }
    let mut len = [0u8; 4];
    input.read_exact(&mut len)?;
    let len = u32::from_be_bytes(len);
    if len > MAX_MANIFEST {
        return Err(bad("manifest too large".into()));
    }
    let mut json = Vec::new();
    input.take(u64::from(len)).read_to_end(&mut json)?;
    serde_json::from_slice(&json).map_err(|e| bad(format!("manifest: {e}")))
}

/// An entry's header; `None` at the end.
#[derive(Debug, PartialEq, Eq)]
pub struct EntryHeader {
    pub name: String,
    pub mode: u32,
    pub len: u64,
}

pub fn read_entry_header<R: Read>(input: &mut R) -> io::Result<Option<EntryHeader>> {
    let mut n = [0u8; 2];
    input.read_exact(&mut n)?;
    let n = u16::from_be_bytes(n);
    if n == 0 {
        return Ok(None);
    }
    let mut name = vec![0u8; usize::from(n)];
    input.read_exact(&mut name)?;
    let name = String::from_utf8(name).map_err(|_| bad("entry name is not UTF-8".into()))?;
    if !safe_name(&name) {
        return Err(bad(format!("unsafe entry name {name:?}")));
    }
    let mut mode = [0u8; 4];
    input.read_exact(&mut mode)?;
    let mut len = [0u8; 8];
    input.read_exact(&mut len)?;
    Ok(Some(EntryHeader {
        name,
        mode: u32::from_be_bytes(mode) & 0o777,
        len: u64::from_be_bytes(len),
    }))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn names_that_could_escape_are_refused() {
        for ok in ["ca.key", "alerts/outbox.json"] {
            assert!(safe_name(ok), "{ok}");
        }
        for bad in ["", "../etc/passwd", "/etc/shadow", "a/../../b", "./x"] {
            assert!(!safe_name(bad), "{bad}");
        }
        let mut out = Vec::new();
        assert!(write_entry_header(&mut out, "../x", 0o600, 1).is_err());
        // A forged entry is refused on the way in as well.
        let mut forged = Vec::new();
        forged.extend_from_slice(&5u16.to_be_bytes());
        forged.extend_from_slice(b"../ca");
        forged.extend_from_slice(&[0; 12]);
        assert!(read_entry_header(&mut forged.as_slice()).is_err());
    }
}
