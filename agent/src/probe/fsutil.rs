//! File helpers shared by probes: resolving a host path under `ProbeCx::root` (symlinks included,
//! so a mounted tree's absolute symlinks do not lead back into the running host), bounded reads,
//! mtimes in UTC milliseconds and the wire form of a path. Not here: anything that writes.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};
use std::time::UNIX_EPOCH;

use vigie_proto::v1;

/// Symlinks followed while resolving one path, as in the kernel's own limit.
const MAX_SYMLINK_HOPS: usize = 40;

/// Where the host path `abs` (e.g. `/etc/os-release`) lives under `root`.
///
/// Under `/` this is `abs` itself. Under another root, symlinks are resolved by hand as a chroot
/// would resolve them: an absolute target restarts from `root`, and `..` never climbs above it.
/// Joining alone would follow `/etc/os-release -> /usr/lib/os-release` into the running host.
pub fn resolve_in_root(root: &Path, abs: &str) -> PathBuf {
    if root == Path::new("/") {
        return PathBuf::from(abs);
    }
    let mut todo: VecDeque<OsString> = components(Path::new(abs)).into();
    let mut done: Vec<OsString> = Vec::new();
    let mut hops = 0;
    while let Some(name) = todo.pop_front() {
        if name == ".." {
            done.pop();
            continue;
        }
        let candidate = join_all(root, &done).join(&name);
        let is_link = std::fs::symlink_metadata(&candidate)
            .map(|m| m.file_type().is_symlink())
            .unwrap_or(false);
        if is_link && hops < MAX_SYMLINK_HOPS {
            if let Ok(target) = std::fs::read_link(&candidate) {
                hops += 1;
                if target.is_absolute() {
                    done.clear();
                }
                for part in components(&target).into_iter().rev() {
                    todo.push_front(part);
                }
                continue;
            }
        }
        done.push(name);
    }
    join_all(root, &done)
}

fn components(path: &Path) -> Vec<OsString> {
    path.components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_os_string()),
            Component::ParentDir => Some(OsString::from("..")),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => None,
        })
        .collect()
}

fn join_all(root: &Path, parts: &[OsString]) -> PathBuf {
    let mut path = root.to_path_buf();
    for part in parts {
        path.push(part);
    }
    path
}

/// Reads at most `max` bytes of `path`; a longer file is cut there (callers parse line by line).
pub fn read_bounded(path: &Path, max: u64) -> std::io::Result<Vec<u8>> {
    let file = std::fs::File::open(path)?;
    let mut buf = Vec::new();
    file.take(max).read_to_end(&mut buf)?;
    Ok(buf)
}

/// Modification time of `meta` in UTC milliseconds; `None` before 1970 or when unsupported.
pub fn mtime_ms(meta: &std::fs::Metadata) -> Option<i64> {
    let since = meta.modified().ok()?.duration_since(UNIX_EPOCH).ok()?;
    i64::try_from(since.as_millis()).ok()
}

/// The wire form of a Unix path: its raw bytes, whatever their encoding.
pub fn unix_path(path: &Path) -> v1::Path {
    v1::Path {
        encoding: v1::path::Encoding::UnixBytes as i32,
        raw: path.as_os_str().as_bytes().to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;
    use std::os::unix::fs::symlink;

    #[track_caller]
    fn check_resolve(root: &Path, abs: &str, expect: &Path) {
        assert_eq!(resolve_in_root(root, abs), expect);
    }

    #[test]
    fn resolution_stays_under_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::create_dir_all(root.join("usr/lib")).unwrap();
        symlink("/usr/lib/os-release", root.join("etc/os-release")).unwrap();
        symlink("../../../../../../usr/lib/x", root.join("etc/escape")).unwrap();
        symlink("loop", root.join("etc/loop")).unwrap();
        check_resolve(root, "/etc/os-release", &root.join("usr/lib/os-release"));
        check_resolve(root, "/etc/escape", &root.join("usr/lib/x"));
        check_resolve(root, "/../../etc/hostname", &root.join("etc/hostname"));
        // A symlink loop ends after MAX_SYMLINK_HOPS at the loop itself, and reading it fails.
        check_resolve(root, "/etc/loop", &root.join("etc/loop"));
        check_resolve(
            Path::new("/"),
            "/etc/os-release",
            Path::new("/etc/os-release"),
        );
    }

    #[test]
    fn non_utf8_paths_keep_their_bytes() {
        let raw: &[u8] = b"/media/cl\xe9 USB";
        let path = Path::new(OsStr::from_bytes(raw));
        let wire = unix_path(path);
        assert_eq!(wire.raw, raw);
        assert_eq!(wire.encoding, v1::path::Encoding::UnixBytes as i32);
    }
}
