//! Bounded, root-relative reads shared by the auth parsers: a file is read through
//! `fsutil::resolve_in_root` with a size cap, decoded as lossy UTF-8 (non-UTF-8 bytes never stop
//! a parse), split into numbered lines with overlong lines dropped, and every file read or problem
//! met is recorded for the evidence. A missing file is an absent fact, not a problem. Not here:
//! any parsing of what the lines mean.

use std::collections::BTreeSet;
use std::io::ErrorKind;
use std::path::Path;

use crate::probe::fsutil::{read_bounded, resolve_in_root};

/// Configuration files of this domain are a few KiB; anything past this is cut and reported.
pub(crate) const MAX_FILE_BYTES: u64 = 1024 * 1024;
/// Longest line kept; a longer one is skipped and reported (PAM's own limit is far lower).
pub(crate) const MAX_LINE_BYTES: usize = 64 * 1024;
/// Problems kept in the evidence; a hostile tree cannot grow a report without bound.
const MAX_PROBLEMS: usize = 100;

/// One line of a file: its 1-based number and its text.
pub(crate) type Lines = Vec<(u32, String)>;

/// Reads files under one root and remembers what it read and what went wrong.
#[derive(Debug)]
pub(crate) struct Reader<'a> {
    root: &'a Path,
    /// Host paths read successfully, e.g. `/etc/login.defs`.
    pub(crate) sources: BTreeSet<String>,
    pub(crate) problems: Vec<String>,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(root: &'a Path) -> Self {
        Reader {
            root,
            sources: BTreeSet::new(),
            problems: Vec::new(),
        }
    }

    /// Records a problem, up to `MAX_PROBLEMS`.
    pub(crate) fn problem(&mut self, message: String) {
        if self.problems.len() < MAX_PROBLEMS {
            self.problems.push(message);
        }
    }

    /// The lines of the host file `abs`; `None` when it does not exist or cannot be read (the
    /// latter is recorded as a problem).
    pub(crate) fn lines(&mut self, abs: &str) -> Option<Lines> {
        let path = resolve_in_root(self.root, abs);
        let bytes = match read_bounded(&path, MAX_FILE_BYTES.saturating_add(1)) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == ErrorKind::NotFound => return None,
            Err(e) => {
                self.problem(format!("reading {abs}: {e}"));
                return None;
            }
        };
        self.sources.insert(abs.to_owned());
        let mut bytes = bytes;
        if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > MAX_FILE_BYTES {
            self.problem(format!(
                "{abs}: larger than {MAX_FILE_BYTES} bytes, the rest was ignored"
            ));
            bytes.truncate(usize::try_from(MAX_FILE_BYTES).unwrap_or(usize::MAX));
        }
        Some(split_lines(abs, &bytes, &mut |m| self.problem(m)))
    }

    /// Whether the host path `abs` exists (a file, a directory, or a link staying in the root).
    pub(crate) fn exists(&self, abs: &str) -> bool {
        resolve_in_root(self.root, abs).exists()
    }

    /// Names of the entries of the host directory `abs`, sorted bytewise (as `scandir` with
    /// `strcmp` sorts them); empty when it does not exist.
    pub(crate) fn dir_entries(&mut self, abs: &str) -> Vec<String> {
        let path = resolve_in_root(self.root, abs);
        let entries = match std::fs::read_dir(&path) {
            Ok(entries) => entries,
            Err(e) if e.kind() == ErrorKind::NotFound => return Vec::new(),
            Err(e) => {
                self.problem(format!("listing {abs}: {e}"));
                return Vec::new();
            }
        };
        let mut names: Vec<String> = entries
            .filter_map(Result::ok)
            .take(1000)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

/// Splits `bytes` into numbered lines; lines longer than `MAX_LINE_BYTES` are reported through
/// `problem` and skipped.
pub(crate) fn split_lines(name: &str, bytes: &[u8], problem: &mut dyn FnMut(String)) -> Lines {
    let mut out = Vec::new();
    for (index, raw) in bytes.split(|b| *b == b'\n').enumerate() {
        let number = u32::try_from(index.saturating_add(1)).unwrap_or(u32::MAX);
        if raw.len() > MAX_LINE_BYTES {
            problem(format!(
                "{name}:{number}: line longer than {MAX_LINE_BYTES} bytes, ignored"
            ));
            continue;
        }
        let text = String::from_utf8_lossy(raw);
        out.push((number, text.trim_end_matches('\r').to_owned()));
    }
    out
}

/// Lines of `text`, for tests and callers holding text already.
#[cfg(test)]
pub(crate) fn text_lines(text: &str) -> Lines {
    split_lines("test", text.as_bytes(), &mut |_| {})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(bytes: &[u8], expect_lines: &[(u32, &str)], expect_problems: usize) {
        let mut problems = Vec::new();
        let lines = split_lines("f", bytes, &mut |m| problems.push(m));
        let got: Vec<(u32, &str)> = lines.iter().map(|(n, l)| (*n, l.as_str())).collect();
        assert_eq!(got, expect_lines);
        assert_eq!(problems.len(), expect_problems, "{problems:?}");
    }

    #[test]
    fn lines_are_bounded_and_lossy() {
        check(b"a\r\nb\n", &[(1, "a"), (2, "b"), (3, "")], 0);
        check(b"cl\xe9=1\n", &[(1, "cl\u{fffd}=1"), (2, "")], 0);
        let mut long = vec![b'x'; MAX_LINE_BYTES + 1];
        long.extend_from_slice(b"\nok");
        check(&long, &[(2, "ok")], 1);
    }

    #[test]
    fn reader_caps_size_and_ignores_missing_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("etc")).unwrap();
        // A 10 MB single line: cut at the size cap, then skipped as overlong, never a crash.
        std::fs::write(dir.path().join("etc/big"), vec![b'a'; 10 * 1024 * 1024]).unwrap();
        let mut r = Reader::new(dir.path());
        assert_eq!(r.lines("/etc/missing"), None);
        assert!(r.problems.is_empty());
        assert_eq!(r.lines("/etc/big"), Some(Vec::new()));
        assert_eq!(r.problems.len(), 2, "{:?}", r.problems);
        assert!(r.sources.contains("/etc/big"));
    }
}
