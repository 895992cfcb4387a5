//! Noise control with the package manager's own checksums: a change whose new content matches
//! dpkg's MD5 for that path (`info/*.md5sums`, and `Conffiles:` in `status` for configuration files)
//! is "package-verified", with the package and its version; a change made while dpkg was busy (its
//! lock held, or its database written moments ago) that does not match is "unverified", never
//! excused; any other change carries no tag.
//!
//! The index is built on demand, rebuilt when dpkg's database moves, and dropped when unused for a
//! minute, so an idle agent holds none of it. Busy is read from `/proc/locks` (dpkg takes POSIX locks
//! on `lock` and `lock-frontend`), never by taking the lock.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use md5::{Digest, Md5};

use super::events::Attribution;
use super::record::FileType;
use super::scan::Change;

/// Unused index lifetime.
const IDLE_DROP: Duration = Duration::from_secs(60);

#[derive(Debug)]
struct Index {
    stamp: (Option<SystemTime>, Option<SystemTime>),
    /// Hash of the logical path → (package index, MD5).
    files: HashMap<u64, (u32, [u8; 16])>,
    /// (package, version).
    packages: Vec<(String, String)>,
}

/// dpkg's database under the probe root.
#[derive(Debug)]
pub struct Dpkg {
    admin: PathBuf,
    grace: Duration,
    index: Option<Index>,
    used: Instant,
}

impl Dpkg {
    /// `admin` is the physical path of dpkg's admin directory (`ROOT/var/lib/dpkg`).
    pub fn new(admin: PathBuf, grace: Duration) -> Dpkg {
        Dpkg {
            admin,
            grace,
            index: None,
            used: Instant::now(),
        }
    }

    /// Whether dpkg is at work: its lock is held, or its status file was written within the grace.
    pub fn busy(&self) -> bool {
        if let Ok(m) = std::fs::metadata(self.admin.join("status")) {
            if let Ok(age) = m.modified().and_then(|t| {
                SystemTime::now()
                    .duration_since(t)
                    .map_err(std::io::Error::other)
            }) {
                if age <= self.grace {
                    return true;
                }
            }
        }
        let inodes: Vec<u64> = ["lock", "lock-frontend"]
            .iter()
            .filter_map(|n| std::fs::metadata(self.admin.join(n)).ok())
            .map(|m| m.ino())
            .collect();
        if inodes.is_empty() {
            return false;
        }
        let Ok(text) = std::fs::read_to_string("/proc/locks") else {
            return false;
        };
        locks_hold(&text, &inodes)
    }

    /// Explains one change: `busy` is whether dpkg was at work when it was seen; `phys` is where
    /// the changed path lives now.
    pub fn attribute(&mut self, c: &Change, phys: &Path, busy: bool) -> Attribution {
        let unverified = || Attribution {
            tag: if busy {
                "unverified".to_owned()
            } else {
                String::new()
            },
            ..Attribution::default()
        };
        let Some(new) = &c.new else {
            return unverified();
        };
        if new.ftype != FileType::File || new.sha256.is_none() {
            return unverified();
        }
        self.used = Instant::now();
        self.refresh();
        let Some(index) = &self.index else {
            return unverified();
        };
        let Some(&(pkg, want)) = lookup(index, &c.path) else {
            return unverified();
        };
        match md5_of(phys) {
            Some(got) if got == want => {
                let (package, version) = index
                    .packages
                    .get(pkg as usize)
                    .cloned()
                    .unwrap_or_default();
                Attribution {
                    tag: "package-verified".to_owned(),
                    package,
                    version,
                }
            }
            _ => unverified(),
        }
    }

    /// Drops the index after a minute without use.
    /// Drops the index when unused for a minute; says whether it did.
    pub fn release_if_idle(&mut self) -> bool {
        let idle = self.index.is_some() && self.used.elapsed() >= IDLE_DROP;
        if idle {
            self.index = None;
        }
        idle
    }

    fn refresh(&mut self) {
        let stamp = (
            std::fs::metadata(self.admin.join("info"))
                .and_then(|m| m.modified())
                .ok(),
            std::fs::metadata(self.admin.join("status"))
                .and_then(|m| m.modified())
                .ok(),
        );
        if self.index.as_ref().is_some_and(|i| i.stamp == stamp) {
            return;
        }
        self.index = Some(build_index(&self.admin, stamp));
    }
}

fn path_hash(p: &[u8]) -> u64 {
    let mut h = DefaultHasher::new();
    p.hash(&mut h);
    h.finish()
}

/// Looks a logical path up, trying the merged-/usr alias (`/bin/x` ↔ `/usr/bin/x`) too.
fn lookup<'a>(index: &'a Index, path: &[u8]) -> Option<&'a (u32, [u8; 16])> {
    if let Some(v) = index.files.get(&path_hash(path)) {
        return Some(v);
    }
    let alias = match path.strip_prefix(b"/usr") {
        Some(rest) if rest.starts_with(b"/") => rest.to_vec(),
        _ => [b"/usr".as_slice(), path].concat(),
    };
    index.files.get(&path_hash(&alias))
}

fn build_index(admin: &Path, stamp: (Option<SystemTime>, Option<SystemTime>)) -> Index {
    let mut packages: Vec<(String, String)> = Vec::new();
    let mut by_name: HashMap<String, u32> = HashMap::new();
    let mut files: HashMap<u64, (u32, [u8; 16])> = HashMap::new();
    // status: versions, and the conffiles' checksums.
    if let Ok(f) = std::fs::File::open(admin.join("status")) {
        let mut name = String::new();
        let mut version = String::new();
        let mut installed = false;
        let mut conffiles: Vec<(Vec<u8>, [u8; 16])> = Vec::new();
        let mut in_conffiles = false;
        let mut finish = |name: &mut String,
                          version: &mut String,
                          installed: &mut bool,
                          conffiles: &mut Vec<(Vec<u8>, [u8; 16])>| {
            if !name.is_empty() && *installed {
                let idx = packages.len() as u32;
                packages.push((name.clone(), version.clone()));
                by_name.entry(name.clone()).or_insert(idx);
                for (p, m) in conffiles.drain(..) {
                    files.insert(path_hash(&p), (idx, m));
                }
            }
            name.clear();
            version.clear();
            *installed = false;
            conffiles.clear();
        };
        for line in BufReader::new(f).split(b'\n').map_while(Result::ok) {
            if line.is_empty() {
                finish(&mut name, &mut version, &mut installed, &mut conffiles);
                in_conffiles = false;
                continue;
            }
            if line.starts_with(b" ") {
                if in_conffiles {
                    if let Some(c) = parse_conffile(&line) {
                        conffiles.push(c);
                    }
                }
                continue;
            }
            in_conffiles = false;
            let text = String::from_utf8_lossy(&line);
            if let Some(v) = text.strip_prefix("Package:") {
                name = v.trim().to_owned();
            } else if let Some(v) = text.strip_prefix("Version:") {
                version = v.trim().to_owned();
            } else if let Some(v) = text.strip_prefix("Status:") {
                let v = v.trim();
                installed = !(v.ends_with("not-installed") || v.ends_with("config-files"));
            } else if text.starts_with("Conffiles:") {
                in_conffiles = true;
            }
        }
        finish(&mut name, &mut version, &mut installed, &mut conffiles);
    }
    // info/<package>[:<arch>].md5sums
    if let Ok(rd) = std::fs::read_dir(admin.join("info")) {
        for e in rd.flatten() {
            let fname = e.file_name();
            let fname = fname.to_string_lossy();
            let Some(stem) = fname.strip_suffix(".md5sums") else {
                continue;
            };
            let pkg = stem.split(':').next().unwrap_or(stem);
            let idx = match by_name.get(pkg) {
                Some(&i) => i,
                None => {
                    let i = packages.len() as u32;
                    packages.push((pkg.to_owned(), String::new()));
                    by_name.insert(pkg.to_owned(), i);
                    i
                }
            };
            let Ok(f) = std::fs::File::open(e.path()) else {
                continue;
            };
            for line in BufReader::new(f).split(b'\n').map_while(Result::ok) {
                let Some(hex) = line.get(..32) else { continue };
                let Some(rest) = line.get(32..) else { continue };
                let rel = rest.strip_prefix(b"  ").unwrap_or(rest);
                let Some(md5) = parse_md5(hex) else { continue };
                let mut logical = Vec::with_capacity(rel.len() + 1);
                logical.push(b'/');
                logical.extend_from_slice(rel.strip_prefix(b"/").unwrap_or(rel));
                // A conffile's checksum (status) is the one dpkg keeps current; keep it.
                files.entry(path_hash(&logical)).or_insert((idx, md5));
            }
        }
    }
    Index {
        stamp,
        files,
        packages,
    }
}

/// ` /etc/foo.conf 0123…ef [obsolete]` → (path, MD5).
fn parse_conffile(line: &[u8]) -> Option<(Vec<u8>, [u8; 16])> {
    let line = line.strip_prefix(b" ")?;
    let mut parts: Vec<&[u8]> = line.rsplitn(3, |&b| b == b' ').collect();
    parts.reverse();
    let (path, md5) = match parts.as_slice() {
        [p, m] => (*p, *m),
        [a, b, c] if *c == b"obsolete" || *c == b"remove-on-upgrade" => (*a, *b),
        [a, b, c] => {
            let mut p = a.to_vec();
            p.push(b' ');
            p.extend_from_slice(b);
            return Some((p, parse_md5(c)?));
        }
        _ => return None,
    };
    Some((path.to_vec(), parse_md5(md5)?))
}

fn parse_md5(hex_text: &[u8]) -> Option<[u8; 16]> {
    let v = hex::decode(hex_text).ok()?;
    v.try_into().ok()
}

fn md5_of(phys: &Path) -> Option<[u8; 16]> {
    let mut f = std::fs::File::open(phys).ok()?;
    let mut h = Md5::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = f.read(&mut buf).ok()?;
        if n == 0 {
            break;
        }
        h.update(buf.get(..n)?);
    }
    Some(h.finalize().into())
}

/// Whether `/proc/locks` shows a lock on one of these inodes. Lines look like
/// `1: POSIX  ADVISORY  WRITE 1234 08:01:5678 0 EOF` (device in hex, inode in decimal).
fn locks_hold(text: &str, inodes: &[u64]) -> bool {
    text.lines().any(|l| {
        l.split_whitespace().any(|field| {
            let mut it = field.rsplitn(2, ':');
            let ino = it.next().and_then(|i| i.parse::<u64>().ok());
            let dev = it.next();
            matches!((ino, dev), (Some(i), Some(d)) if d.contains(':') && inodes.contains(&i))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_locks_lines_are_read() {
        let text = "1: POSIX  ADVISORY  WRITE 4242 00:2a:1234567 0 EOF\n2: FLOCK  ADVISORY  WRITE 1 fd:01:99 0 EOF\n";
        assert!(locks_hold(text, &[1234567]));
        assert!(locks_hold(text, &[99]));
        assert!(!locks_hold(text, &[4242]));
        assert!(!locks_hold(text, &[0]));
    }

    #[test]
    fn conffile_lines_are_read() {
        let m = "0123456789abcdef0123456789abcdef";
        assert_eq!(
            parse_conffile(format!(" /etc/a.conf {m}").as_bytes())
                .unwrap()
                .0,
            b"/etc/a.conf"
        );
        assert_eq!(
            parse_conffile(format!(" /etc/b {m} obsolete").as_bytes())
                .unwrap()
                .0,
            b"/etc/b"
        );
        assert_eq!(
            parse_conffile(format!(" /etc/with space {m}").as_bytes())
                .unwrap()
                .0,
            b"/etc/with space"
        );
        assert!(parse_conffile(b" /etc/x nothex").is_none());
    }
}
