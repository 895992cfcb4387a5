//! SHA-256 of every byte of a regular file, streamed, whatever its size: opened without following a
//! symlink and without blocking on a FIFO swapped in, checked to be the inode the walk saw, and
//! re-read when it changed while being read (a file growing while hashed). A file that keeps changing
//! or cannot be read is recorded with its error, never skipped.

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use rustix::fs::OFlags;
use sha2::{Digest, Sha256};

use super::record::{FileType, Record};
use super::walk::io_text;

/// Reads per file before giving up on a file that keeps changing.
const ATTEMPTS: usize = 3;
/// Read buffer size.
pub const BUF_BYTES: usize = 256 * 1024;

/// What hashing found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hashed {
    /// The entry, with its hash or with the error that prevented one.
    Done { rec: Record, bytes: u64 },
    /// The path no longer exists.
    Gone,
}

/// Hashes the regular file at `phys`, which the walk saw as `seen`.
pub fn hash_file(phys: &Path, seen: &Record, buf: &mut [u8]) -> Hashed {
    let mut seen = seen.clone();
    let mut last_error = String::new();
    for _ in 0..ATTEMPTS {
        if seen.ftype != FileType::File {
            return Hashed::Done {
                rec: seen,
                bytes: 0,
            };
        }
        let flags = (OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC).bits();
        let mut f = match OpenOptions::new()
            .read(true)
            .custom_flags(flags as i32)
            .open(phys)
        {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Hashed::Gone,
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                let mut rec = seen;
                rec.error = Some(io_text(&e));
                return Hashed::Done { rec, bytes: 0 };
            }
            Err(e) => {
                // ELOOP: it became a symlink; anything else: look again.
                last_error = io_text(&e);
                match restat(phys) {
                    Some(r) => {
                        seen = r;
                        continue;
                    }
                    None => return Hashed::Gone,
                }
            }
        };
        // One `fstat`, after reading: the content is what the walk's `lstat` described only if the
        // same inode still has the same size and times (a write moves mtime, a chmod or a rename
        // moves ctime).
        let read = read_all(&mut f, buf, seen.size);
        let after = match f.metadata() {
            Ok(m) => Record::from_meta(&m),
            Err(e) => {
                last_error = io_text(&e);
                continue;
            }
        };
        let (digest, bytes) = match read {
            Ok(d) => d,
            Err(e) => {
                let mut rec = after;
                rec.error = Some(format!("read error: {}", io_text(&e)));
                return Hashed::Done { rec, bytes: 0 };
            }
        };
        let stable = after.ftype == FileType::File
            && after.ino == seen.ino
            && after.size == seen.size
            && after.size == bytes
            && after.mtime_ns == seen.mtime_ns
            && after.ctime_ns == seen.ctime_ns;
        if stable {
            let mut rec = after;
            rec.sha256 = Some(digest);
            return Hashed::Done { rec, bytes };
        }
        last_error = "content changed while being read".to_owned();
        seen = after;
    }
    let mut rec = seen;
    rec.sha256 = None;
    rec.error = Some(if last_error.is_empty() {
        "content changed while being read".to_owned()
    } else {
        last_error
    });
    Hashed::Done { rec, bytes: 0 }
}

fn restat(phys: &Path) -> Option<Record> {
    let m = std::fs::symlink_metadata(phys).ok()?;
    let mut r = Record::from_meta(&m);
    if r.ftype == FileType::Symlink {
        r.link = std::fs::read_link(phys)
            .ok()
            .map(|t| std::os::unix::ffi::OsStrExt::as_bytes(t.as_os_str()).to_vec());
    }
    Some(r)
}

/// Reads to the end, or to `expect` bytes (the size `fstat` gave): a file that grew meanwhile is
/// caught by the second `fstat`, and small files cost one `read` instead of two.
fn read_all(f: &mut File, buf: &mut [u8], expect: u64) -> std::io::Result<([u8; 32], u64)> {
    let mut h = Sha256::new();
    let mut total = 0u64;
    loop {
        if total >= expect && expect > 0 {
            break;
        }
        let n = match f.read(buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        h.update(buf.get(..n).unwrap_or_default());
        total += n as u64;
    }
    Ok((h.finalize().into(), total))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn seen(p: &Path) -> Record {
        Record::from_meta(&std::fs::symlink_metadata(p).unwrap())
    }

    #[test]
    fn hashes_every_byte_of_large_files() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("big");
        let mut f = File::create(&p).unwrap();
        // 3 buffers and a bit: more than one read, nothing partial.
        let chunk: Vec<u8> = (0..BUF_BYTES).map(|i| (i % 251) as u8).collect();
        let mut expect = Sha256::new();
        for _ in 0..3 {
            f.write_all(&chunk).unwrap();
            expect.update(&chunk);
        }
        f.write_all(b"tail").unwrap();
        expect.update(b"tail");
        drop(f);
        let mut buf = vec![0; BUF_BYTES];
        let Hashed::Done { rec, bytes } = hash_file(&p, &seen(&p), &mut buf) else {
            panic!("gone")
        };
        assert_eq!(bytes, 3 * BUF_BYTES as u64 + 4);
        assert_eq!(rec.sha256, Some(expect.finalize().into()));
        assert_eq!(rec.error, None);
    }

    #[test]
    fn vanished_replaced_and_fifo_files() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("f");
        std::fs::write(&p, "a").unwrap();
        let s = seen(&p);
        std::fs::remove_file(&p).unwrap();
        let mut buf = vec![0; 1024];
        assert_eq!(hash_file(&p, &s, &mut buf), Hashed::Gone);
        // Replaced by a symlink after the walk: recorded as the symlink, not followed.
        std::fs::write(t.path().join("target"), "secret").unwrap();
        std::os::unix::fs::symlink(t.path().join("target"), &p).unwrap();
        let Hashed::Done { rec, .. } = hash_file(&p, &s, &mut buf) else {
            panic!()
        };
        assert_eq!(rec.ftype, FileType::Symlink);
        assert_eq!(rec.sha256, None);
        // Replaced by a FIFO: never blocks.
        std::fs::remove_file(&p).unwrap();
        let st = std::process::Command::new("mkfifo")
            .arg(&p)
            .status()
            .unwrap();
        assert!(st.success());
        let Hashed::Done { rec, .. } = hash_file(&p, &s, &mut buf) else {
            panic!()
        };
        assert_eq!(rec.ftype, FileType::Fifo);
    }

    #[test]
    fn a_file_growing_while_hashed_is_never_recorded_with_a_partial_hash() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("log");
        std::fs::write(&p, vec![b'x'; 4 * BUF_BYTES]).unwrap();
        let s = seen(&p);
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let writer = {
            let p = p.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut f = OpenOptions::new().append(true).open(&p).unwrap();
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    f.write_all(b"more\n").unwrap();
                }
            })
        };
        let mut buf = vec![0; 4096];
        let Hashed::Done { rec, bytes } = hash_file(&p, &s, &mut buf) else {
            panic!()
        };
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        writer.join().unwrap();
        // Either a stable read of the whole file (the writer paused) or an error, never a hash of
        // part of what the metadata describes.
        match rec.sha256 {
            Some(_) => assert_eq!(bytes, rec.size),
            None => assert_eq!(
                rec.error.as_deref(),
                Some("content changed while being read")
            ),
        }
    }
}
