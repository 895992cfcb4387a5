//! The end of a file that grows by appending (a restic status file, rsnapshot's log, Proxmox task
//! lists and task logs): at most `max` bytes from the end, starting at a line boundary, with the
//! file's metadata. Memory stays bounded whatever the file holds, a 10 MB line included: a line cut
//! by the bound is dropped, never half-read. Not here: what the lines mean.

use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// `O_NOFOLLOW | O_NONBLOCK` (Linux values): a symlink fails to open instead of being followed, a
/// FIFO cannot stall the probe.
const NOFOLLOW_NONBLOCK: i32 = 0o400000 | 0o4000;

/// Whether a symlink is followed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Follow {
    /// A path from the agent config: a symlink the operator set up is followed.
    Declared,
    /// A path built from file contents (a task id): never through a symlink.
    Never,
}

/// The tail of `path` as text (lossy UTF-8), from the first line start within the last `max`
/// bytes, and the file's metadata. Only regular files are read.
pub fn read_tail(
    path: &Path,
    max: u64,
    follow: Follow,
) -> std::io::Result<(String, std::fs::Metadata)> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    if follow == Follow::Never {
        options.custom_flags(NOFOLLOW_NONBLOCK);
    }
    let mut f = options.open(path)?;
    let meta = f.metadata()?;
    if !meta.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    let len = meta.len();
    let cut = len > max;
    if cut {
        f.seek(SeekFrom::Start(len - max))?;
    }
    let mut buf = Vec::new();
    f.take(max).read_to_end(&mut buf)?;
    let text = String::from_utf8_lossy(&buf);
    let text = if cut {
        text.split_once('\n')
            .map(|(_, rest)| rest.to_owned())
            .unwrap_or_default()
    } else {
        text.into_owned()
    };
    Ok((text, meta))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tails_start_at_a_line_and_stay_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        std::fs::write(&path, "first line\nsecond\nthird\n").unwrap();
        let (text, meta) = read_tail(&path, 1024, Follow::Never).unwrap();
        assert_eq!(
            (text.as_str(), meta.len()),
            ("first line\nsecond\nthird\n", 24)
        );
        let (text, _) = read_tail(&path, 10, Follow::Never).unwrap();
        assert_eq!(text, "third\n");
        // One huge line last: nothing whole fits, nothing is returned, memory stays at the bound.
        let mut big = b"ok line\n".to_vec();
        big.extend(std::iter::repeat_n(b'x', 10 * 1024 * 1024));
        std::fs::write(&path, &big).unwrap();
        let (text, _) = read_tail(&path, 4096, Follow::Never).unwrap();
        assert_eq!(text, "");
        // Symlinks: followed for declared paths only; directories are refused.
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&path, &link).unwrap();
        assert!(read_tail(&link, 10, Follow::Never).is_err());
        assert!(read_tail(&link, 10, Follow::Declared).is_ok());
        assert!(read_tail(dir.path(), 10, Follow::Declared).is_err());
    }
}
