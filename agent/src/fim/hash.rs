//! SHA-256 of every byte of a regular file, streamed, whatever its size: opened relative to its
//! directory's handle without following a symlink and without blocking on a FIFO swapped in, checked
//! (`fstat` on the open file) to be a regular file and the inode the walk saw, and re-read when it
//! changed while being read (a file growing while hashed). A file that keeps changing or cannot be
//! read is recorded with its error, never skipped.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustix::fs::{fstat, openat, Mode as FsMode, OFlags};
use rustix::io::Errno;
use sha2::{Digest, Sha256};

use super::record::{FileType, Record};
use super::walk::{io_text, record_of, stat_at};

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

/// Hashes the regular file `name` in the directory `dir`, which the walk saw as `seen`.
pub fn hash_at(dir: BorrowedFd<'_>, name: &[u8], seen: &Record, buf: &mut [u8]) -> Hashed {
    let mut seen = seen.clone();
    let mut last_error = String::new();
    for _ in 0..ATTEMPTS {
        if seen.ftype != FileType::File {
            return Hashed::Done {
                rec: seen,
                bytes: 0,
            };
        }
        let flags =
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NOCTTY | OFlags::NONBLOCK | OFlags::CLOEXEC;
        let fd = match openat(dir, name, flags, FsMode::empty()) {
            Ok(f) => f,
            Err(Errno::NOENT) => return Hashed::Gone,
            Err(e @ (Errno::ACCESS | Errno::PERM)) => {
                let mut rec = seen;
                rec.error = Some(io_text(&e.into()));
                return Hashed::Done { rec, bytes: 0 };
            }
            Err(e) => {
                // ELOOP: it became a symlink; anything else: look again.
                last_error = io_text(&e.into());
                match stat_at(dir, name) {
                    Ok(r) => {
                        seen = r;
                        continue;
                    }
                    Err(_) => return Hashed::Gone,
                }
            }
        };
        // What was opened is a regular file, the inode the walk saw (not one swapped in since); its
        // `fstat` now is the reference the content must still match after reading.
        let before = match fstat(&fd) {
            Ok(st) => record_of(&st),
            Err(e) => {
                last_error = io_text(&e.into());
                continue;
            }
        };
        if before.ftype != FileType::File || before.ino != seen.ino {
            last_error = "replaced while being read".to_owned();
            seen = before;
            continue;
        }
        let read = read_all(&fd, buf, before.size);
        let after = match fstat(&fd) {
            Ok(st) => record_of(&st),
            Err(e) => {
                last_error = io_text(&e.into());
                continue;
            }
        };
        let (digest, bytes) = match read {
            Ok(d) => d,
            Err(e) => {
                let mut rec = after;
                rec.error = Some(format!("read error: {}", io_text(&e.into())));
                return Hashed::Done { rec, bytes: 0 };
            }
        };
        // The same size and times after reading as before: a write moves mtime, a chmod or a
        // rename moves ctime.
        let stable = after.ftype == FileType::File
            && after.ino == before.ino
            && after.size == before.size
            && after.size == bytes
            && after.mtime_ns == before.mtime_ns
            && after.ctime_ns == before.ctime_ns;
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

/// Reads to the end, or to `expect` bytes (the size `fstat` gave), whichever comes first, and at
/// most one buffer past it: a file that grew meanwhile is caught by the second `fstat` (and one that
/// never ends, a device swapped in, cannot hold the read), and small files cost one `read`.
fn read_all(fd: &OwnedFd, buf: &mut [u8], expect: u64) -> Result<([u8; 32], u64), Errno> {
    let mut h = Sha256::new();
    let mut total = 0u64;
    let mut reads = 0u32;
    loop {
        if total >= expect && (expect > 0 || reads > 0) {
            break;
        }
        let n = match rustix::io::read(fd.as_fd(), &mut *buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(Errno::INTR) => continue,
            Err(e) => return Err(e),
        };
        reads += 1;
        h.update(buf.get(..n).unwrap_or_default());
        total += n as u64;
    }
    Ok((h.finalize().into(), total))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::{File, OpenOptions};
    use std::io::Write;
    use std::os::unix::ffi::OsStrExt;
    use std::path::Path;

    fn seen(p: &Path) -> Record {
        Record::from_meta(&std::fs::symlink_metadata(p).unwrap())
    }

    /// Hashes `p` through a handle on its directory, as the scan does.
    fn hash_file(p: &Path, seen: &Record, buf: &mut [u8]) -> Hashed {
        let dir = File::open(p.parent().unwrap()).unwrap();
        hash_at(dir.as_fd(), p.file_name().unwrap().as_bytes(), seen, buf)
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
