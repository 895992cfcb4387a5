//! Where the contractor-login reader stopped, so that each login is sent once (ACC-004): the
//! journal's `__CURSOR` of the last sshd entry read, and for each syslog file (auth.log, secure)
//! its device, inode and the offset after the last complete line. Kept in
//! `state_dir/contractor-logins.json`, written atomically (temp file, fsync, rename, directory
//! fsync) and only once the report carrying the logins is in the outbox (`Probe::spooled`), so
//! that a crash in between re-sends rather than loses; the collector ignores a login it already
//! holds.
//!
//! Syslog files rotate: when the inode under the name changed, the old file is looked for under
//! `NAME.1` (logrotate renames it; Debian's `delaycompress` leaves it uncompressed) by its inode,
//! and read from the saved offset, then the new file from its start. A file shorter than the saved
//! offset, or whose first line changed, with the same inode was truncated or replaced in place
//! (`copytruncate`, inode reuse) and is read from its start.
//! Not here: parsing lines (`logins`).

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::probe::fsutil::{read_bounded, resolve_in_root};

pub const FILE_NAME: &str = "contractor-logins.json";
const FORMAT_VERSION: u32 = 1;
const MAX_STATE_BYTES: u64 = 64 * 1024;

/// The reader's position in every source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginCursor {
    version: u32,
    /// `__CURSOR` of the last sshd journal entry read.
    pub journal: Option<String>,
    /// Host path (`/var/log/auth.log`) → position.
    pub files: BTreeMap<String, FilePos>,
}

/// A position in one syslog file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilePos {
    pub dev: u64,
    pub ino: u64,
    /// Bytes read, always at a line boundary.
    pub offset: u64,
    /// SHA-256 (hex) of the file's first line when it was read: a file truncated in place and
    /// written again past the old offset (`copytruncate`) keeps its inode but not its first line.
    #[serde(default)]
    pub head: String,
}

impl Default for LoginCursor {
    /// Nothing read yet.
    fn default() -> Self {
        LoginCursor {
            version: FORMAT_VERSION,
            journal: None,
            files: BTreeMap::new(),
        }
    }
}

/// The stored cursor; `None` when there is none yet (first run: read the whole window). An
/// unreadable or foreign file is reported and treated as none.
pub fn load(state_dir: &Path, warnings: &mut Vec<String>) -> Option<LoginCursor> {
    let path = state_dir.join(FILE_NAME);
    let bytes = match read_bounded(&path, MAX_STATE_BYTES) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => {
            warnings.push(format!(
                "reading {FILE_NAME}: {e}; contractor logins of the whole window are read again"
            ));
            return None;
        }
    };
    match serde_json::from_slice::<LoginCursor>(&bytes) {
        Ok(c) if c.version == FORMAT_VERSION => Some(c),
        Ok(c) => {
            warnings.push(format!(
                "{FILE_NAME}: unknown format version {}; contractor logins of the whole window are read again",
                c.version
            ));
            None
        }
        Err(_) => {
            warnings.push(format!(
                "{FILE_NAME}: not a cursor file; contractor logins of the whole window are read again"
            ));
            None
        }
    }
}

/// Writes the cursor atomically.
pub fn store(state_dir: &Path, cursor: &LoginCursor) -> std::io::Result<()> {
    let bytes = serde_json::to_vec(cursor).map_err(std::io::Error::other)?;
    let tmp = state_dir.join(format!("{FILE_NAME}.tmp.{}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, state_dir.join(FILE_NAME))?;
        std::fs::File::open(state_dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// What was read of one syslog file since the saved position.
#[derive(Debug, Default)]
pub struct NewLines {
    /// Complete lines only, older first (the rotated file's rest, then the current file).
    pub bytes: Vec<u8>,
    /// Where to start next time; `None` when the file does not exist.
    pub next: Option<FilePos>,
    pub warnings: Vec<String>,
}

/// Reads what was appended to the host file `file` (under `root`) since `saved`, following a
/// rotation; with no saved position, the last `max` bytes. At most `max` bytes are read from each
/// file: a larger gap is skipped from its start, with a warning.
pub fn read_new(
    root: &Path,
    file: &str,
    saved: Option<FilePos>,
    max: u64,
) -> std::io::Result<NewLines> {
    let path = resolve_in_root(root, file);
    let mut out = NewLines::default();
    let mut f = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e),
    };
    let meta = f.metadata()?;
    let (dev, ino, len) = (meta.dev(), meta.ino(), meta.len());
    let head = first_line_hash(&mut f)?;
    let same_head = |p: &FilePos| p.head.is_empty() || p.head == head;
    let start = match &saved {
        Some(p) if p.dev == dev && p.ino == ino && p.offset <= len && same_head(p) => p.offset,
        Some(p) if p.dev == dev && p.ino == ino => {
            out.warnings.push(format!(
                "{file} was truncated or replaced in place; read again from its start"
            ));
            0
        }
        Some(p) => {
            // Rotated: the old inode is now NAME.1, with what was written after our offset.
            let rotated = resolve_in_root(root, &format!("{file}.1"));
            match std::fs::File::open(&rotated) {
                Ok(mut old)
                    if old
                        .metadata()
                        .is_ok_and(|m| m.dev() == p.dev && m.ino() == p.ino) =>
                {
                    let old_len = old.metadata()?.len();
                    let (bytes, _) = read_span(&mut old, p.offset.min(old_len), old_len, max, file, &mut out.warnings)?;
                    // The rotated file is complete: a last line without newline still counts.
                    out.bytes.extend_from_slice(&bytes);
                    if !out.bytes.is_empty() && !out.bytes.ends_with(b"\n") {
                        out.bytes.push(b'\n');
                    }
                }
                _ => out.warnings.push(format!(
                    "{file} was rotated and its previous file was not found uncompressed as {file}.1: logins written there after the last read are not seen"
                )),
            }
            0
        }
        None => len.saturating_sub(max),
    };
    let (bytes, end) = read_span(&mut f, start, len, max, file, &mut out.warnings)?;
    // Keep only complete lines: a line being written is read next time.
    let complete = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |p| p + 1);
    let mut first = bytes.get(..complete).unwrap_or_default();
    if saved.is_none() && start > 0 {
        // Started mid-file: drop the partial first line.
        let cut = first
            .iter()
            .position(|b| *b == b'\n')
            .map_or(first.len(), |p| p + 1);
        first = first.get(cut..).unwrap_or_default();
    }
    out.bytes.extend_from_slice(first);
    let incomplete = u64::try_from(bytes.len().saturating_sub(complete)).unwrap_or(0);
    out.next = Some(FilePos {
        dev,
        ino,
        offset: end.saturating_sub(incomplete),
        head,
    });
    Ok(out)
}

/// SHA-256 (hex) of the first complete line of `f` (its first 4 KiB when longer); empty when the
/// file holds no complete line yet.
fn first_line_hash(f: &mut std::fs::File) -> std::io::Result<String> {
    use sha2::{Digest, Sha256};
    const MAX: u64 = 4096;
    f.seek(SeekFrom::Start(0))?;
    let mut buf = Vec::new();
    Read::by_ref(f).take(MAX).read_to_end(&mut buf)?;
    let line = match buf.iter().position(|b| *b == b'\n') {
        Some(p) => buf.get(..=p).unwrap_or_default(),
        None if u64::try_from(buf.len()).unwrap_or(0) >= MAX => buf.as_slice(),
        None => return Ok(String::new()),
    };
    Ok(hex::encode(Sha256::digest(line)))
}

/// Reads `[start, len)` of `f`, at most `max` bytes: when the span is longer, its beginning is
/// skipped (with a warning) and the last `max` bytes are read from a line boundary. Returns the
/// bytes and the file offset right after the last byte read.
fn read_span(
    f: &mut std::fs::File,
    start: u64,
    len: u64,
    max: u64,
    file: &str,
    warnings: &mut Vec<String>,
) -> std::io::Result<(Vec<u8>, u64)> {
    let mut from = start;
    let skipped = len.saturating_sub(start) > max;
    if skipped {
        from = len - max;
        warnings.push(format!(
            "{file}: {} bytes written since the last read, only the last {max} are read",
            len - start
        ));
    }
    f.seek(SeekFrom::Start(from))?;
    let mut buf = Vec::new();
    f.take(len.saturating_sub(from)).read_to_end(&mut buf)?;
    let end = from.saturating_add(u64::try_from(buf.len()).unwrap_or(0));
    if skipped {
        let cut = buf
            .iter()
            .position(|b| *b == b'\n')
            .map_or(buf.len(), |p| p + 1);
        buf.drain(..cut);
    }
    Ok((buf, end))
}
