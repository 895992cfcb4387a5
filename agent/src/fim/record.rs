//! One baseline entry: what the agent knows of a path (type, mode, owner, size, times, inode, SHA-256
//! of every byte, symlink target, or why it could not be read), its compact binary encoding in the
//! store, the store key of a path, the fields two entries differ in, and the entry's digest for the
//! Merkle tree.
//!
//! Keys are the path's bytes with every `/` turned into a NUL byte (which no Unix name contains), so
//! that the store's byte order is the order of a depth-first walk with sorted children: a directory,
//! then everything under it, then its next sibling. Scans, resumes and digests all rely on that.

use std::fs::Metadata;
use std::os::unix::fs::{FileTypeExt, MetadataExt};

use sha2::{Digest, Sha256};
use vigie_proto::v1::{self, principal, FileMeta, Principal};

/// The kind of a file, as `lstat` sees it (symlinks are never followed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileType {
    File,
    Dir,
    Symlink,
    Fifo,
    Socket,
    CharDevice,
    BlockDevice,
    Unknown,
}

impl FileType {
    fn code(self) -> u8 {
        match self {
            FileType::File => 0,
            FileType::Dir => 1,
            FileType::Symlink => 2,
            FileType::Fifo => 3,
            FileType::Socket => 4,
            FileType::CharDevice => 5,
            FileType::BlockDevice => 6,
            FileType::Unknown => 7,
        }
    }

    fn from_code(c: u8) -> Option<FileType> {
        Some(match c {
            0 => FileType::File,
            1 => FileType::Dir,
            2 => FileType::Symlink,
            3 => FileType::Fifo,
            4 => FileType::Socket,
            5 => FileType::CharDevice,
            6 => FileType::BlockDevice,
            7 => FileType::Unknown,
            _ => return None,
        })
    }

    /// The evidence's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            FileType::File => "file",
            FileType::Dir => "directory",
            FileType::Symlink => "symlink",
            FileType::Fifo => "fifo",
            FileType::Socket => "socket",
            FileType::CharDevice => "char-device",
            FileType::BlockDevice => "block-device",
            FileType::Unknown => "unknown",
        }
    }
}

/// What the baseline holds for one path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub ftype: FileType,
    /// Permission bits only (`st_mode & 0o7777`); the type is `ftype`.
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    pub mtime_ns: i64,
    pub ctime_ns: i64,
    pub ino: u64,
    /// SHA-256 of every byte, for regular files that could be read whole and stable.
    pub sha256: Option<[u8; 32]>,
    /// Symlink target, as bytes.
    pub link: Option<Vec<u8>>,
    /// Why the content (or a directory's listing) could not be read; the entry is kept all the same.
    pub error: Option<String>,
}

const VERSION: u8 = 1;
const HAS_HASH: u8 = 1;
const HAS_LINK: u8 = 2;
const HAS_ERROR: u8 = 4;

impl Record {
    /// The entry for `lstat` metadata, before any content is read.
    pub fn from_meta(m: &Metadata) -> Record {
        let ft = m.file_type();
        let ftype = if ft.is_file() {
            FileType::File
        } else if ft.is_dir() {
            FileType::Dir
        } else if ft.is_symlink() {
            FileType::Symlink
        } else if ft.is_fifo() {
            FileType::Fifo
        } else if ft.is_socket() {
            FileType::Socket
        } else if ft.is_char_device() {
            FileType::CharDevice
        } else if ft.is_block_device() {
            FileType::BlockDevice
        } else {
            FileType::Unknown
        };
        Record {
            ftype,
            mode: m.mode() & 0o7777,
            uid: m.uid(),
            gid: m.gid(),
            size: m.size(),
            mtime_ns: m
                .mtime()
                .saturating_mul(1_000_000_000)
                .saturating_add(m.mtime_nsec()),
            ctime_ns: m
                .ctime()
                .saturating_mul(1_000_000_000)
                .saturating_add(m.ctime_nsec()),
            ino: m.ino(),
            sha256: None,
            link: None,
            error: None,
        }
    }

    /// Same `lstat` facts: when true and the entry has a hash, the content is taken as unchanged
    /// (a rescan re-hashes only what this says changed; the full re-hash re-reads everything).
    pub fn same_stat(&self, other: &Record) -> bool {
        self.ftype == other.ftype
            && self.mode == other.mode
            && self.uid == other.uid
            && self.gid == other.gid
            && self.size == other.size
            && self.mtime_ns == other.mtime_ns
            && self.ctime_ns == other.ctime_ns
            && self.ino == other.ino
    }

    /// The fields `new` differs in from `self`, in a fixed order. `ctime` alone is not a change
    /// worth an event (it moves with any metadata write and with link counts); it only triggers a
    /// re-hash.
    pub fn changed_fields(&self, new: &Record) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.ftype != new.ftype {
            out.push("type");
        }
        if self.ftype == FileType::File && new.ftype == FileType::File {
            match (&self.sha256, &new.sha256) {
                (Some(a), Some(b)) if a != b => out.push("content"),
                _ => {}
            }
        }
        if self.size != new.size && self.ftype != FileType::Dir {
            out.push("size");
        }
        if self.mode != new.mode {
            out.push("mode");
        }
        if self.uid != new.uid {
            out.push("uid");
        }
        if self.gid != new.gid {
            out.push("gid");
        }
        if self.mtime_ns != new.mtime_ns && self.ftype != FileType::Dir {
            out.push("mtime");
        }
        if self.link != new.link {
            out.push("link_target");
        }
        if self.ino != new.ino {
            out.push("inode");
        }
        if self.error.is_some() != new.error.is_some() {
            out.push("readable");
        }
        out
    }

    /// Digest of what an event would report (type, mode, owner, size, mtime, content, target,
    /// readability), for the Merkle tree. Inode and ctime are left out: an event reports an inode
    /// change, but a digest over it would change on restores and copies that change nothing else.
    /// A directory's size and mtime move with its entries, which have digests of their own.
    pub fn entry_digest(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update([VERSION, self.ftype.code()]);
        h.update(self.mode.to_le_bytes());
        h.update(self.uid.to_le_bytes());
        h.update(self.gid.to_le_bytes());
        if self.ftype != FileType::Dir {
            h.update(self.size.to_le_bytes());
            h.update(self.mtime_ns.to_le_bytes());
        }
        match &self.sha256 {
            Some(d) => {
                h.update([1]);
                h.update(d);
            }
            None => h.update([0]),
        }
        match &self.link {
            Some(l) => {
                h.update([1]);
                h.update((l.len() as u64).to_le_bytes());
                h.update(l);
            }
            None => h.update([0]),
        }
        h.update([u8::from(self.error.is_some())]);
        h.finalize().into()
    }

    /// Compact binary form for the store.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(96);
        out.push(VERSION);
        out.push(self.ftype.code());
        let mut flags = 0u8;
        if self.sha256.is_some() {
            flags |= HAS_HASH;
        }
        if self.link.is_some() {
            flags |= HAS_LINK;
        }
        if self.error.is_some() {
            flags |= HAS_ERROR;
        }
        out.push(flags);
        out.extend_from_slice(&self.mode.to_le_bytes());
        out.extend_from_slice(&self.uid.to_le_bytes());
        out.extend_from_slice(&self.gid.to_le_bytes());
        out.extend_from_slice(&self.size.to_le_bytes());
        out.extend_from_slice(&self.mtime_ns.to_le_bytes());
        out.extend_from_slice(&self.ctime_ns.to_le_bytes());
        out.extend_from_slice(&self.ino.to_le_bytes());
        if let Some(d) = &self.sha256 {
            out.extend_from_slice(d);
        }
        if let Some(l) = &self.link {
            put_bytes(&mut out, l);
        }
        if let Some(e) = &self.error {
            put_bytes(&mut out, e.as_bytes());
        }
        out
    }

    /// Reads [`Record::encode`]'s output; `None` when it is not one (a corrupt store entry).
    pub fn decode(b: &[u8]) -> Option<Record> {
        let mut r = Reader(b);
        if r.u8()? != VERSION {
            return None;
        }
        let ftype = FileType::from_code(r.u8()?)?;
        let flags = r.u8()?;
        let mode = r.u32()?;
        let uid = r.u32()?;
        let gid = r.u32()?;
        let size = r.u64()?;
        let mtime_ns = r.u64()? as i64;
        let ctime_ns = r.u64()? as i64;
        let ino = r.u64()?;
        let sha256 = if flags & HAS_HASH != 0 {
            Some(r.array32()?)
        } else {
            None
        };
        let link = if flags & HAS_LINK != 0 {
            Some(r.bytes()?.to_vec())
        } else {
            None
        };
        let error = if flags & HAS_ERROR != 0 {
            Some(String::from_utf8_lossy(r.bytes()?).into_owned())
        } else {
            None
        };
        Some(Record {
            ftype,
            mode,
            uid,
            gid,
            size,
            mtime_ns,
            ctime_ns,
            ino,
            sha256,
            link,
            error,
        })
    }

    /// The evidence form.
    pub fn to_proto(&self) -> FileMeta {
        FileMeta {
            size: self.size,
            mtime_ms: self.mtime_ns.div_euclid(1_000_000),
            ctime_ms: self.ctime_ns.div_euclid(1_000_000),
            inode: self.ino,
            mode: self.mode,
            owner: Some(Principal {
                id: Some(principal::Id::Uid(self.uid)),
                name: String::new(),
            }),
            group: Some(Principal {
                id: Some(principal::Id::Gid(self.gid)),
                name: String::new(),
            }),
            link_target: self.link.as_deref().map(wire_path),
            file_type: self.ftype.as_str().to_owned(),
            error: self.error.clone().unwrap_or_default(),
        }
    }
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    let len = u32::try_from(b.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(b.get(..len as usize).unwrap_or(b));
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Some(head)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1)?.first().copied()
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn array32(&mut self) -> Option<[u8; 32]> {
        self.take(32)?.try_into().ok()
    }
    fn bytes(&mut self) -> Option<&'a [u8]> {
        let n = self.u32()? as usize;
        self.take(n)
    }
}

/// The wire form of a Unix path.
pub fn wire_path(p: &[u8]) -> v1::Path {
    v1::Path {
        encoding: v1::path::Encoding::UnixBytes as i32,
        raw: p.to_vec(),
    }
}

/// Store key of a logical path (`/etc/passwd` → `\0etc\0passwd`).
pub fn key_of(path: &[u8]) -> Vec<u8> {
    path.iter()
        .map(|&b| if b == b'/' { 0 } else { b })
        .collect()
}

/// Logical path of a store key.
pub fn path_of(key: &[u8]) -> Vec<u8> {
    key.iter().map(|&b| if b == 0 { b'/' } else { b }).collect()
}

/// Whether `key` is `dir` itself or lies under it.
pub fn key_within(key: &[u8], dir: &[u8]) -> bool {
    key == dir || (key.starts_with(dir) && key.get(dir.len()) == Some(&0))
}

/// A path for people: valid UTF-8 as is, other bytes as `\xNN`.
pub fn display_path(p: &[u8]) -> String {
    let mut out = String::with_capacity(p.len());
    for chunk in p.utf8_chunks() {
        out.push_str(chunk.valid());
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Record {
        Record {
            ftype: FileType::File,
            mode: 0o644,
            uid: 0,
            gid: 0,
            size: 12,
            mtime_ns: 1_700_000_000_123_456_789,
            ctime_ns: -5,
            ino: 42,
            sha256: Some([7; 32]),
            link: None,
            error: None,
        }
    }

    #[test]
    fn encoding_round_trips_and_refuses_garbage() {
        let mut r = sample();
        assert_eq!(Record::decode(&r.encode()), Some(r.clone()));
        r.sha256 = None;
        r.link = Some(b"/tmp/\xff".to_vec());
        r.error = Some("permission denied".into());
        r.ftype = FileType::Symlink;
        assert_eq!(Record::decode(&r.encode()), Some(r.clone()));
        let enc = r.encode();
        for n in 0..enc.len() {
            assert_eq!(Record::decode(&enc[..n]), None, "{n}");
        }
        assert_eq!(Record::decode(&[9, 0, 0]), None);
    }

    #[test]
    fn keys_sort_like_a_depth_first_walk() {
        let mut paths: Vec<&[u8]> = vec![b"/a/b-x", b"/a/b/c", b"/a/b", b"/a", b"/a/b0", b"/a\xff"];
        paths.sort_by_key(|p| key_of(p));
        assert_eq!(
            paths,
            vec![
                &b"/a"[..],
                b"/a/b",
                b"/a/b/c",
                b"/a/b-x",
                b"/a/b0",
                b"/a\xff"
            ]
        );
        assert_eq!(path_of(&key_of(b"/etc/pa\xffss")), b"/etc/pa\xffss");
        assert!(key_within(&key_of(b"/a/b/c"), &key_of(b"/a/b")));
        assert!(!key_within(&key_of(b"/a/b-x"), &key_of(b"/a/b")));
        assert_eq!(display_path(b"/etc/caf\xc3\xa9\xff"), "/etc/café\\xff");
    }

    #[test]
    fn changed_fields_name_what_differs() {
        let a = sample();
        let mut b = a.clone();
        b.ctime_ns += 1;
        assert!(a.changed_fields(&b).is_empty());
        assert!(!a.same_stat(&b));
        b.mode = 0o600;
        b.sha256 = Some([8; 32]);
        b.size = 13;
        assert_eq!(a.changed_fields(&b), vec!["content", "size", "mode"]);
        assert_ne!(a.entry_digest(), b.entry_digest());
        let mut c = a.clone();
        c.ino = 1;
        assert_eq!(a.changed_fields(&c), vec!["inode"]);
        assert_eq!(a.entry_digest(), c.entry_digest());
    }
}
