//! Per-directory digests of the baseline, a Merkle tree the collector keeps so that a host cannot
//! quietly rewrite its own truth (FIM-003): a directory's digest is SHA-256 over its entries in
//! order (name, entry digest), where a subdirectory's entry digest covers its own directory digest.
//! Entries whose parent is not in the baseline (the watched paths themselves) hang under the top,
//! whose digest stands for the whole baseline.
//!
//! One pass over the store in key order (a depth-first walk), with a stack of open directories.

use sha2::{Digest, Sha256};

use super::record::{key_within, path_of, FileType, Record};
use super::store::{Store, StoreError};

/// One directory's digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirDigest {
    /// Logical path.
    pub path: Vec<u8>,
    pub sha256: [u8; 32],
    pub entries: u64,
}

struct Frame {
    key: Vec<u8>,
    own: [u8; 32],
    hasher: Sha256,
    entries: u64,
}

/// The directories' digests in path order, the top digest, and the number of entries.
pub fn digests(store: &Store) -> Result<(Vec<DirDigest>, [u8; 32], u64), StoreError> {
    let mut out = Vec::new();
    let mut top = Sha256::new();
    let mut top_entries = 0u64;
    let mut stack: Vec<Frame> = Vec::new();
    let mut count = 0u64;
    for kv in store.baseline.iter() {
        let (k, v) = kv.map_err(store.err())?;
        let Some(rec) = Record::decode(&v) else {
            continue;
        };
        count += 1;
        while let Some(f) = stack.last() {
            if key_within(&k, &f.key) {
                break;
            }
            close(&mut stack, &mut top, &mut top_entries, &mut out);
        }
        let own = rec.entry_digest();
        if rec.ftype == FileType::Dir {
            stack.push(Frame {
                key: k.to_vec(),
                own,
                hasher: Sha256::new(),
                entries: 0,
            });
        } else {
            feed(&mut stack, &mut top, &mut top_entries, &k, &own);
        }
    }
    while !stack.is_empty() {
        close(&mut stack, &mut top, &mut top_entries, &mut out);
    }
    let mut h = top;
    h.update(top_entries.to_le_bytes());
    out.sort_by_key(|d| super::record::key_of(&d.path));
    Ok((out, h.finalize().into(), count))
}

fn close(
    stack: &mut Vec<Frame>,
    top: &mut Sha256,
    top_entries: &mut u64,
    out: &mut Vec<DirDigest>,
) {
    let Some(f) = stack.pop() else { return };
    let mut h = f.hasher;
    h.update(f.entries.to_le_bytes());
    let dir: [u8; 32] = h.finalize().into();
    out.push(DirDigest {
        path: path_of(&f.key),
        sha256: dir,
        entries: f.entries,
    });
    let mut e = Sha256::new();
    e.update(f.own);
    e.update(dir);
    let entry: [u8; 32] = e.finalize().into();
    feed(stack, top, top_entries, &f.key, &entry);
}

/// Adds an entry to the innermost open directory holding it, or to the top.
fn feed(
    stack: &mut [Frame],
    top: &mut Sha256,
    top_entries: &mut u64,
    key: &[u8],
    digest: &[u8; 32],
) {
    let (hasher, entries, name) = match stack.last_mut() {
        Some(f) => {
            let name = key.get(f.key.len() + 1..).unwrap_or_default();
            (&mut f.hasher, &mut f.entries, name)
        }
        None => (top, top_entries, key),
    };
    hasher.update((name.len() as u32).to_le_bytes());
    hasher.update(name);
    hasher.update(digest);
    *entries += 1;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fim::record::key_of;

    fn rec(ftype: FileType, content: u8) -> Record {
        Record {
            ftype,
            mode: 0o644,
            uid: 0,
            gid: 0,
            size: 1,
            mtime_ns: 1,
            ctime_ns: 1,
            ino: 1,
            sha256: (ftype == FileType::File).then_some([content; 32]),
            link: None,
            error: None,
        }
    }

    #[test]
    fn a_change_moves_its_directory_and_every_ancestor_only() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        for (p, t) in [
            ("/etc", FileType::Dir),
            ("/etc/a", FileType::Dir),
            ("/etc/a/x", FileType::File),
            ("/etc/b", FileType::Dir),
            ("/etc/b/y", FileType::File),
            ("/home/u/.ssh/authorized_keys", FileType::File),
        ] {
            store.put(&key_of(p.as_bytes()), &rec(t, 1)).unwrap();
        }
        let (before, top1, n) = digests(&store).unwrap();
        assert_eq!(n, 6);
        let names: Vec<&[u8]> = before.iter().map(|d| d.path.as_slice()).collect();
        assert_eq!(names, vec![&b"/etc"[..], b"/etc/a", b"/etc/b"]);
        assert_eq!(before[0].entries, 2);
        store
            .put(&key_of(b"/etc/a/x"), &rec(FileType::File, 2))
            .unwrap();
        let (after, top2, _) = digests(&store).unwrap();
        assert_ne!(top1, top2);
        let moved: Vec<&[u8]> = before
            .iter()
            .zip(&after)
            .filter(|(a, b)| a.sha256 != b.sha256)
            .map(|(a, _)| a.path.as_slice())
            .collect();
        assert_eq!(moved, vec![&b"/etc"[..], b"/etc/a"]);
        // A file outside any baseline directory moves the top only.
        store
            .put(
                &key_of(b"/home/u/.ssh/authorized_keys"),
                &rec(FileType::File, 3),
            )
            .unwrap();
        let (again, top3, _) = digests(&store).unwrap();
        assert_eq!(again, after);
        assert_ne!(top3, top2);
    }
}
