//! Which paths are watched (`Cover`) and the walk over them, in store-key order (`Walker`): a
//! depth-first walk with sorted children that never follows a symlink, lists only directories that
//! are watched recursively (or are a watched directory itself), and only peeks at the named children
//! of the directories above the watched paths. A scan can start anywhere (a realtime change's path)
//! and can resume after a checkpoint key.
//!
//! The walk reports what it could not see rather than skipping it: a directory it could not list
//! (`Unlisted`, so that the scan keeps what the baseline knows below it) and a path it could not
//! `lstat` (`Unstatable`).
//!
//! Every directory is opened once (`O_DIRECTORY | O_NOFOLLOW`) and its children are looked at
//! relative to that handle (`fstatat`, `readlinkat`, and the hashing `openat`), never by full path.

use std::collections::{BTreeSet, VecDeque};
use std::ffi::OsStr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use globset::GlobBuilder;
use rustix::fs::{
    fstat, openat, readlinkat, statat, AtFlags, FileType as RawType, Mode as FsMode, OFlags,
    RawDir, Stat, CWD,
};
use rustix::io::Errno;

use super::config::Watch;
use super::record::{key_of, key_within, FileType, Record};

/// A concrete watched path (patterns expanded).
#[derive(Debug, Clone)]
struct Concrete {
    path: Vec<u8>,
    key: Vec<u8>,
    recursive: bool,
    /// Index of the configured watch it comes from (its excludes).
    watch: usize,
}

/// The watched set, for one scan.
#[derive(Debug)]
pub struct Cover {
    root: PathBuf,
    watches: Vec<Watch>,
    concrete: Vec<Concrete>,
}

impl Cover {
    /// Expands the configured watches under `root` (patterns are matched against what exists now).
    pub fn new(root: &Path, watches: &[Watch]) -> Cover {
        let mut concrete = Vec::new();
        for (i, w) in watches.iter().enumerate() {
            let paths = if w.pattern {
                expand(root, &w.path)
            } else {
                vec![w.path.clone()]
            };
            for path in paths {
                concrete.push(Concrete {
                    key: key_of(&path),
                    path,
                    recursive: w.recursive,
                    watch: i,
                });
            }
        }
        concrete.sort_by(|a, b| a.key.cmp(&b.key).then(a.watch.cmp(&b.watch)));
        Cover {
            root: root.to_path_buf(),
            watches: watches.to_vec(),
            concrete,
        }
    }

    /// The concrete watched paths, in key order: (logical path, recursive).
    pub fn roots(&self) -> impl Iterator<Item = (&[u8], bool)> {
        self.concrete
            .iter()
            .map(|c| (c.path.as_slice(), c.recursive))
    }

    /// How many concrete paths the configured watch `i` expanded to.
    pub fn count_from(&self, i: usize) -> usize {
        self.concrete.iter().filter(|c| c.watch == i).count()
    }

    /// Where a logical path lives on this machine.
    pub fn phys(&self, logical: &[u8]) -> PathBuf {
        let rel = logical.strip_prefix(b"/").unwrap_or(logical);
        self.root.join(OsStr::from_bytes(rel))
    }

    /// The logical path of a physical one under the root, if it is under it.
    pub fn logical(&self, phys: &Path) -> Option<Vec<u8>> {
        let rel = phys.strip_prefix(&self.root).ok()?;
        let mut out = Vec::with_capacity(rel.as_os_str().len() + 1);
        out.push(b'/');
        out.extend_from_slice(rel.as_os_str().as_bytes());
        super::config::normalise(&out)
    }

    /// Whether `path`, or a directory above it below the watched path, is excluded.
    fn excluded(&self, c: &Concrete, path: &[u8]) -> bool {
        let Some(w) = self.watches.get(c.watch) else {
            return false;
        };
        if w.exclude.is_empty() {
            return false;
        }
        let mut p = path;
        loop {
            if w.exclude.is_match(Path::new(OsStr::from_bytes(p))) {
                return true;
            }
            if p.len() <= c.path.len() {
                return false;
            }
            match p.iter().rposition(|&b| b == b'/') {
                Some(i) if i > 0 => p = p.get(..i).unwrap_or_default(),
                _ => return false,
            }
        }
    }

    /// Whether the baseline should hold `path`.
    pub fn covered(&self, path: &[u8]) -> bool {
        let key = key_of(path);
        self.concrete.iter().any(|c| {
            let inside = key == c.key
                || (c.recursive && key_within(&key, &c.key))
                || (!c.recursive && parent_key(&key) == Some(c.key.as_slice()));
            inside && !self.excluded(c, path)
        })
    }

    /// Whether the walk lists `dir`'s entries.
    fn need_list(&self, dir: &[u8]) -> bool {
        let key = key_of(dir);
        self.concrete.iter().any(|c| {
            (c.recursive && key_within(&key, &c.key) && !self.excluded(c, dir))
                || (!c.recursive && key == c.key)
        })
    }

    /// Names of `dir`'s children that lead to a watched path below it.
    fn hints(&self, dir: &[u8]) -> Vec<Vec<u8>> {
        let key = key_of(dir);
        let mut out = BTreeSet::new();
        for c in &self.concrete {
            if c.key.len() > key.len() && key_within(&c.key, &key) {
                let rest = c.key.get(key.len() + 1..).unwrap_or_default();
                let name = rest.split(|&b| b == 0).next().unwrap_or_default();
                if !name.is_empty() {
                    out.insert(name.to_vec());
                }
            }
        }
        out.into_iter().collect()
    }

    /// Whether anything at or below `path` is watched (a realtime change there matters).
    pub fn relevant(&self, path: &[u8]) -> bool {
        let key = key_of(path);
        self.covered(path)
            || self
                .concrete
                .iter()
                .any(|c| key_within(&c.key, &key) || key_within(&key, &c.key))
    }
}

fn parent_key(key: &[u8]) -> Option<&[u8]> {
    let i = key.iter().rposition(|&b| b == 0)?;
    key.get(..i)
}

/// Expands glob components (`/home/*/.ssh/authorized_keys`) against the tree under `root`.
fn expand(root: &Path, pattern: &[u8]) -> Vec<Vec<u8>> {
    let mut prefixes: Vec<Vec<u8>> = vec![Vec::new()];
    let comps: Vec<&[u8]> = pattern
        .split(|&b| b == b'/')
        .filter(|c| !c.is_empty())
        .collect();
    for comp in comps {
        let is_glob = comp.iter().any(|b| matches!(b, b'*' | b'?' | b'['));
        let mut next = Vec::new();
        for p in &prefixes {
            if !is_glob {
                let mut q = p.clone();
                q.push(b'/');
                q.extend_from_slice(comp);
                next.push(q);
                continue;
            }
            let Ok(glob) = GlobBuilder::new(&String::from_utf8_lossy(comp))
                .literal_separator(true)
                .build()
            else {
                continue;
            };
            let m = glob.compile_matcher();
            let dir = root.join(OsStr::from_bytes(p.strip_prefix(b"/").unwrap_or(p)));
            let Ok(rd) = std::fs::read_dir(&dir) else {
                continue;
            };
            let mut names: Vec<Vec<u8>> = rd
                .flatten()
                .map(|e| e.file_name().as_bytes().to_vec())
                .filter(|n| !n.starts_with(b".") || comp.starts_with(b"."))
                .filter(|n| m.is_match(Path::new(OsStr::from_bytes(n))))
                .collect();
            names.sort();
            for n in names {
                let mut q = p.clone();
                q.push(b'/');
                q.extend_from_slice(&n);
                next.push(q);
            }
        }
        prefixes = next;
    }
    prefixes.retain(|p| !p.is_empty());
    prefixes
}

/// An open directory: the walk lists it, `fstatat`s and `readlinkat`s its children, and the hashing
/// `openat`s its files through this handle, so no path is looked up from the root again and a
/// directory swapped for a symlink after it was opened cannot redirect what is read below it.
pub type DirFd = Arc<OwnedFd>;

/// What the walk found at one path.
#[derive(Debug, Clone)]
pub enum Item {
    /// A watched path and its `lstat` (symlink target read; content not hashed yet), with the handle
    /// of the directory it is in (its name is the path's last component).
    Entry {
        path: Vec<u8>,
        rec: Record,
        dir: DirFd,
    },
    /// A watched directory whose entries could not be listed: keep what the baseline knows below it.
    Unlisted { path: Vec<u8> },
    /// A watched path that could not be `lstat`ed: keep what the baseline knows of it and below.
    Unstatable { path: Vec<u8>, error: String },
}

impl Item {
    pub fn path(&self) -> &[u8] {
        match self {
            Item::Entry { path, .. } | Item::Unlisted { path } | Item::Unstatable { path, .. } => {
                path
            }
        }
    }
}

/// The last component of a logical path (its name in its directory).
pub fn name_of(path: &[u8]) -> &[u8] {
    match path.iter().rposition(|&b| b == b'/') {
        Some(i) => path.get(i + 1..).unwrap_or_default(),
        None => path,
    }
}

/// The entry for what `fstatat`/`fstat` returned (the same facts as [`Record::from_meta`]).
// The `stat` field types differ between architectures (`c_long` here, `i64` there).
#[allow(clippy::unnecessary_cast)]
pub fn record_of(st: &Stat) -> Record {
    let ftype = match RawType::from_raw_mode(st.st_mode as u32) {
        RawType::RegularFile => FileType::File,
        RawType::Directory => FileType::Dir,
        RawType::Symlink => FileType::Symlink,
        RawType::Fifo => FileType::Fifo,
        RawType::Socket => FileType::Socket,
        RawType::CharacterDevice => FileType::CharDevice,
        RawType::BlockDevice => FileType::BlockDevice,
        _ => FileType::Unknown,
    };
    Record {
        ftype,
        mode: (st.st_mode as u32) & 0o7777,
        uid: st.st_uid as u32,
        gid: st.st_gid as u32,
        size: st.st_size as u64,
        mtime_ns: (st.st_mtime as i64)
            .saturating_mul(1_000_000_000)
            .saturating_add(st.st_mtime_nsec as i64),
        ctime_ns: (st.st_ctime as i64)
            .saturating_mul(1_000_000_000)
            .saturating_add(st.st_ctime_nsec as i64),
        ino: st.st_ino as u64,
        sha256: None,
        link: None,
        error: None,
    }
}

/// `lstat` of `name` in `dir`, with the symlink target read.
pub fn stat_at(dir: BorrowedFd<'_>, name: &[u8]) -> std::io::Result<Record> {
    let st = statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)?;
    let mut rec = record_of(&st);
    if rec.ftype == FileType::Symlink {
        match readlinkat(dir, name, Vec::new()) {
            Ok(t) => rec.link = Some(t.into_bytes()),
            Err(e) => rec.error = Some(io_text(&e.into())),
        }
    }
    Ok(rec)
}

/// Opens directory `name` in `dir` without following a symlink: readable to list it, or only as a
/// handle to reach what is below (`O_PATH`, which needs no read permission).
fn open_dir(dir: BorrowedFd<'_>, name: &[u8], list: bool) -> std::io::Result<OwnedFd> {
    let how = if list { OFlags::RDONLY } else { OFlags::PATH };
    let fd = openat(
        dir,
        name,
        how | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        FsMode::empty(),
    )?;
    Ok(fd)
}

/// Opens the directory `path` (logical) from the root, one component at a time, never following a
/// symlink. `Ok(None)`: it is not there (or not a directory).
fn open_chain(root: BorrowedFd<'_>, path: &[u8]) -> std::io::Result<Option<OwnedFd>> {
    let mut cur: Option<OwnedFd> = None;
    for comp in path.split(|&b| b == b'/').filter(|c| !c.is_empty()) {
        let at = match &cur {
            Some(fd) => fd.as_fd(),
            None => root,
        };
        match open_dir(at, comp, false) {
            Ok(fd) => cur = Some(fd),
            Err(e) if gone(&e) => return Ok(None),
            Err(e) => return Err(e),
        }
    }
    match cur {
        Some(fd) => Ok(Some(fd)),
        None => open_dir(root, b".", false).map(Some),
    }
}

/// Errors that mean "nothing there to look at": vanished, or a component is not a directory (a
/// symlink, never followed).
fn gone(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::NotFound
        || matches!(e.raw_os_error(), Some(c) if c == Errno::NOTDIR.raw_os_error() || c == Errno::LOOP.raw_os_error())
}

struct Frame {
    dir: Vec<u8>,
    fd: DirFd,
    children: Vec<Vec<u8>>,
    next: usize,
}

/// Bytes for `getdents64`: a name is at most 255 bytes, so this never has to grow.
const DIRENT_BUF: usize = 32 * 1024;

/// The walk, as an iterator of [`Item`]s in key order.
pub struct Walker<'a> {
    cover: &'a Cover,
    stack: Vec<Frame>,
    after: Option<Vec<u8>>,
    out: VecDeque<Item>,
    dirent: Vec<u8>,
    opened: u64,
}

impl<'a> Walker<'a> {
    fn new(cover: &'a Cover, after: Option<Vec<u8>>) -> Walker<'a> {
        Walker {
            cover,
            stack: Vec::new(),
            after,
            out: VecDeque::new(),
            dirent: Vec::new(),
            opened: 0,
        }
    }

    /// The root of the tree (`/` on a host), as a handle.
    fn open_root(&mut self) -> std::io::Result<OwnedFd> {
        self.opened += 1;
        let fd = openat(
            CWD,
            self.cover.root.as_path(),
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            FsMode::empty(),
        )?;
        Ok(fd)
    }

    /// Walks every watched path; with `after`, only what comes after that key (a resume).
    pub fn full(cover: &'a Cover, after: Option<Vec<u8>>) -> Walker<'a> {
        let mut w = Walker::new(cover, after);
        let children = cover.hints(b"");
        match w.open_root() {
            Ok(fd) => w.stack.push(Frame {
                dir: Vec::new(),
                fd: Arc::new(fd),
                children,
                next: 0,
            }),
            Err(e) if gone(&e) => {}
            Err(e) => {
                for name in children {
                    let mut path = b"/".to_vec();
                    path.extend_from_slice(&name);
                    w.cant_stat(path, &e);
                }
            }
        }
        w
    }

    /// Walks `path` and, for a directory, what is watched below it.
    pub fn scope(cover: &'a Cover, path: &[u8]) -> Walker<'a> {
        let mut w = Walker::new(cover, None);
        let parent = match path.iter().rposition(|&b| b == b'/') {
            Some(i) => path.get(..i).unwrap_or_default(),
            None => b"",
        };
        let opened = w
            .open_root()
            .and_then(|root| open_chain(root.as_fd(), parent));
        match opened {
            Ok(Some(fd)) => {
                w.opened += 1;
                w.visit(&Arc::new(fd), path.to_vec());
            }
            Err(e) if !gone(&e) => w.cant_stat(path.to_vec(), &e),
            _ => {}
        }
        w
    }

    /// Directories opened so far: each open one costs a descriptor for as long as an entry in it is
    /// alive, so the scan bounds how many it holds at once with this.
    pub fn dirs_opened(&self) -> u64 {
        self.opened
    }

    fn cant_stat(&mut self, path: Vec<u8>, e: &std::io::Error) {
        if self.cover.covered(&path) && self.resume_filter(&key_of(&path)).0 {
            self.out.push_back(Item::Unstatable {
                path,
                error: io_text(e),
            });
        }
    }

    /// `(emit, descend)` for a key, given the resume point.
    fn resume_filter(&self, key: &[u8]) -> (bool, bool) {
        match &self.after {
            None => (true, true),
            Some(a) if key > a.as_slice() => (true, true),
            Some(a) if key == a.as_slice() || key_within(a, key) => (false, true),
            Some(_) => (false, false),
        }
    }

    fn visit(&mut self, parent: &DirFd, path: Vec<u8>) {
        let key = key_of(&path);
        let (emit, descend) = self.resume_filter(&key);
        if !emit && !descend {
            return;
        }
        let covered = self.cover.covered(&path);
        let name = name_of(&path);
        let mut rec = match stat_at(parent.as_fd(), name) {
            Ok(r) => r,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
            Err(e) => {
                if covered && emit {
                    self.out.push_back(Item::Unstatable {
                        path,
                        error: io_text(&e),
                    });
                }
                return;
            }
        };
        let mut frame = None;
        let mut unlisted = false;
        if rec.ftype == FileType::Dir && descend {
            let listing = self.cover.need_list(&path);
            let hints = if listing {
                Vec::new()
            } else {
                self.cover.hints(&path)
            };
            if listing || !hints.is_empty() {
                self.opened += 1;
                match open_dir(parent.as_fd(), name, listing) {
                    Ok(fd) => {
                        // The directory opened is the one described (it may have been swapped
                        // since the `lstat`).
                        if let Ok(st) = fstat(&fd) {
                            let now = record_of(&st);
                            if now.ino != rec.ino {
                                rec = now;
                            }
                        }
                        let children = if listing {
                            match list(fd.as_fd(), &mut self.dirent) {
                                Ok(c) => Some(c),
                                Err(e) => {
                                    rec.error = Some(format!("cannot list: {}", io_text(&e)));
                                    unlisted = true;
                                    let hints = self.cover.hints(&path);
                                    (!hints.is_empty()).then_some(hints)
                                }
                            }
                        } else {
                            Some(hints)
                        };
                        frame = children.map(|c| (Arc::new(fd), c));
                    }
                    Err(e) => {
                        if listing {
                            rec.error = Some(format!("cannot list: {}", io_text(&e)));
                            unlisted = true;
                        }
                        // Still walk towards watched paths below, if any (search permission
                        // without read permission).
                        let hints = self.cover.hints(&path);
                        if !hints.is_empty() {
                            if let Ok(fd) = open_dir(parent.as_fd(), name, false) {
                                frame = Some((Arc::new(fd), hints));
                            }
                        }
                    }
                }
            }
        }
        if covered && emit {
            self.out.push_back(Item::Entry {
                path: path.clone(),
                rec,
                dir: parent.clone(),
            });
            if unlisted {
                self.out.push_back(Item::Unlisted { path: path.clone() });
            }
        }
        if let Some((fd, children)) = frame {
            self.stack.push(Frame {
                dir: path,
                fd,
                children,
                next: 0,
            });
        }
    }
}

impl Iterator for Walker<'_> {
    type Item = Item;

    fn next(&mut self) -> Option<Item> {
        loop {
            if let Some(i) = self.out.pop_front() {
                return Some(i);
            }
            let top = self.stack.last_mut()?;
            let Some(name) = top.children.get(top.next) else {
                self.stack.pop();
                continue;
            };
            top.next += 1;
            let mut path = Vec::with_capacity(top.dir.len() + 1 + name.len());
            path.extend_from_slice(&top.dir);
            path.push(b'/');
            path.extend_from_slice(name);
            let fd = top.fd.clone();
            self.visit(&fd, path);
        }
    }
}

/// The names in an open directory, sorted (`.` and `..` left out).
fn list(dir: BorrowedFd<'_>, buf: &mut Vec<u8>) -> std::io::Result<Vec<Vec<u8>>> {
    if buf.capacity() < DIRENT_BUF {
        buf.reserve(DIRENT_BUF);
    }
    let mut names = Vec::new();
    let mut it = RawDir::new(dir, buf.spare_capacity_mut());
    while let Some(e) = it.next() {
        let e = e?;
        let n = e.file_name().to_bytes();
        if n != b"." && n != b".." {
            names.push(n.to_vec());
        }
    }
    names.sort_unstable();
    Ok(names)
}

/// An I/O error for people, without the "(os error N)" noise.
pub fn io_text(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
        std::io::ErrorKind::NotFound => "not found".to_owned(),
        _ => {
            let s = e.to_string();
            match s.find(" (os error") {
                Some(i) => s.get(..i).unwrap_or(&s).to_owned(),
                None => s,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fim::config::{FimConfig, WatchPath};
    use std::fs;

    fn cover(root: &Path, watches: &[(&str, bool, &[&str])]) -> Cover {
        let cfg = FimConfig {
            paths: watches
                .iter()
                .map(|(p, r, ex)| WatchPath {
                    path: p.into(),
                    recursive: *r,
                    exclude: ex.iter().map(|s| (*s).to_owned()).collect(),
                })
                .collect(),
            ..FimConfig::default()
        };
        Cover::new(root, &cfg.compile().unwrap())
    }

    fn paths(w: Walker<'_>) -> Vec<String> {
        w.map(|i| match i {
            Item::Entry { path, rec, .. } => format!(
                "{}{}",
                super::super::record::display_path(&path),
                if rec.ftype == FileType::Dir { "/" } else { "" }
            ),
            Item::Unlisted { path } => format!("unlisted {}", String::from_utf8_lossy(&path)),
            Item::Unstatable { path, error } => {
                format!("unstatable {} {error}", String::from_utf8_lossy(&path))
            }
        })
        .collect()
    }

    #[test]
    fn walks_in_key_order_with_excludes_patterns_and_resume() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        for d in [
            "etc/a",
            "etc/a-b",
            "etc/skip",
            "home/u1/.ssh",
            "home/u2",
            "usr/bin",
        ] {
            fs::create_dir_all(r.join(d)).unwrap();
        }
        for f in [
            "etc/a/x",
            "etc/a-b/y",
            "etc/skip/z",
            "etc/top.swp",
            "home/u1/.ssh/authorized_keys",
            "home/u1/.ssh/other",
            "usr/bin/ls",
            "usr/bin/sub-not-listed",
        ] {
            fs::write(r.join(f), f).unwrap();
        }
        fs::write(r.join(OsStr::from_bytes(b"etc/caf\xff")), "x").unwrap();
        std::os::unix::fs::symlink("/nowhere", r.join("etc/link")).unwrap();
        let c = cover(
            r,
            &[
                ("/etc", true, &["/etc/skip", "**/*.swp"]),
                ("/home/*/.ssh/authorized_keys", false, &[]),
                ("/usr/bin/ls", false, &[]),
            ],
        );
        let all = paths(Walker::full(&c, None));
        assert_eq!(
            all,
            vec![
                "/etc/",
                "/etc/a/",
                "/etc/a/x",
                "/etc/a-b/",
                "/etc/a-b/y",
                "/etc/caf\\xff",
                "/etc/link",
                "/home/u1/.ssh/authorized_keys",
                "/usr/bin/ls"
            ]
        );
        // Resume after /etc/a: its subtree still comes, nothing before it does.
        let resumed = paths(Walker::full(&c, Some(key_of(b"/etc/a"))));
        assert_eq!(resumed.first().map(String::as_str), Some("/etc/a/x"));
        assert_eq!(resumed.len(), all.len() - 2);
        // Resume after a key whose subtree is done skips it whole.
        let resumed = paths(Walker::full(&c, Some(key_of(b"/etc/a/x"))));
        assert_eq!(resumed.first().map(String::as_str), Some("/etc/a-b/"));
        // A scope walk.
        assert_eq!(
            paths(Walker::scope(&c, b"/etc/a")),
            vec!["/etc/a/", "/etc/a/x"]
        );
        assert!(paths(Walker::scope(&c, b"/etc/skip")).is_empty());
        assert!(paths(Walker::scope(&c, b"/etc/missing")).is_empty());
        assert!(c.covered(b"/etc/new"));
        assert!(!c.covered(b"/etc/skip/z"));
        assert!(!c.covered(b"/usr/bin/sub-not-listed"));
        assert!(c.relevant(b"/home/u1"));
        assert!(!c.relevant(b"/srv"));
    }

    #[test]
    fn unlistable_directories_are_reported() {
        if rustix::process::geteuid().is_root() {
            // root reads everything; the permission case is covered by the integration tests
            // under `setpriv`.
            return;
        }
        let t = tempfile::tempdir().unwrap();
        fs::create_dir_all(t.path().join("etc/locked")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(
            t.path().join("etc/locked"),
            fs::Permissions::from_mode(0o000),
        )
        .unwrap();
        let c = cover(t.path(), &[("/etc", true, &[])]);
        let got = paths(Walker::full(&c, None));
        assert_eq!(got, vec!["/etc/", "/etc/locked/", "unlisted /etc/locked"]);
    }
}
