//! What restic and borg print that is read the same way for both: the version word of
//! `restic version` / `borg --version`, the excerpt of stderr shown in an error, and the fold of a
//! restore-point list (snapshots, archives) into a count, the newest point and bounded problems.
//! Not here: each tool's JSON shapes and exit codes (`restic.rs`, `borg.rs`).

use super::{redact, sanitize};

/// Problems kept about malformed restore points of one list.
const MAX_POINT_PROBLEMS: usize = 5;

/// The second word of a version line (`restic 0.14.0 compiled with…`, `borg 1.2.4`), when it looks
/// like a version.
pub fn version_word(out: &str) -> Option<String> {
    let v = out.split_whitespace().nth(1)?;
    let ok = v.len() <= 32
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+'));
    ok.then(|| v.to_owned())
}

/// When a tool crashed, the one line that says why: a Go panic (`panic: …`, restic) or the
/// exception that ends a Python traceback (borg). The lines after it are not kept: borg prints the
/// offending file content there (a repository `config` holds the encrypted key).
pub fn crash_line(stderr: &str) -> Option<&str> {
    if let Some(p) = stderr.lines().find(|l| l.starts_with("panic: ")) {
        return Some(p.trim());
    }
    let mut in_traceback = false;
    for line in stderr.lines() {
        if line.starts_with("Traceback (most recent call last):") {
            in_traceback = true;
        } else if in_traceback && !line.starts_with([' ', '\t']) && !line.trim().is_empty() {
            return Some(line.trim());
        }
    }
    None
}

/// The first stderr line holding one of `markers` (what a tool says of a damaged repository), cut,
/// redacted and sanitized; the crash line when there is one (the marker may sit in a traceback).
pub fn damage(stderr: &str, markers: &[&str], repository: Option<&str>) -> Option<String> {
    let line = stderr
        .lines()
        .find(|l| markers.iter().any(|m| l.contains(m)))?;
    let line = crash_line(stderr).unwrap_or(line.trim());
    Some(sanitize(&stderr_excerpt(line, repository), 200))
}

/// The lines of stderr worth showing, bounded, with the raw repository (which may carry a URL
/// password) replaced by its redacted form: the crash line when the tool crashed, else the first
/// lines.
pub fn stderr_excerpt(stderr: &str, repository: Option<&str>) -> String {
    let lines: Vec<&str> = match crash_line(stderr) {
        Some(line) => vec![line],
        None => stderr
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .take(4)
            .collect(),
    };
    let mut text = if lines.is_empty() {
        "no diagnostic on stderr".to_owned()
    } else {
        lines.join(" | ")
    };
    if let Some(repo) = repository.filter(|r| !r.is_empty()) {
        text = text.replace(repo, &redact(repo));
    }
    sanitize(&text, 400)
}

/// A restore-point list folded as it is read: how many points, the newest one, and what was wrong
/// with the points that could not be dated.
#[derive(Debug, PartialEq, Eq)]
pub struct Points<T> {
    pub count: u64,
    /// The newest point and its time (UTC ms).
    pub newest: Option<(i64, T)>,
    pub problems: Vec<String>,
}

impl<T> Default for Points<T> {
    fn default() -> Self {
        Points {
            count: 0,
            newest: None,
            problems: Vec::new(),
        }
    }
}

impl<T> Points<T> {
    /// Counts a point dated `at_ms`; `make` builds it only when it is the newest so far. Equal
    /// times: the later entry wins, as both tools list in creation order.
    pub fn add(&mut self, at_ms: i64, make: impl FnOnce() -> T) {
        self.count += 1;
        if self.newest.as_ref().is_some_and(|(t, _)| *t > at_ms) {
            return;
        }
        self.newest = Some((at_ms, make()));
    }

    /// A point that could not be dated: not counted, said (a few at most).
    pub fn undated(&mut self, problem: impl FnOnce() -> String) {
        if self.problems.len() < MAX_POINT_PROBLEMS {
            self.problems.push(problem());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        for (text, want) in [
            (
                "restic 0.14.0 compiled with go1.19.8 on linux/amd64",
                Some("0.14.0"),
            ),
            (
                "restic 0.17.3 compiled with go1.23.1 on linux/amd64",
                Some("0.17.3"),
            ),
            ("borg 1.2.4\n", Some("1.2.4")),
            ("borg 1.4.0+deb13u1", Some("1.4.0+deb13u1")),
            ("borg", None),
            ("garbage", None),
            ("", None),
            ("borg 1.2\u{1b}[31m", None),
        ] {
            assert_eq!(version_word(text).as_deref(), want, "{text:?}");
        }
    }

    #[test]
    fn stderr_is_cut_redacted_and_sanitized() {
        assert_eq!(stderr_excerpt("", None), "no diagnostic on stderr");
        assert_eq!(
            stderr_excerpt(
                "\nFatal: rest:https://u:pw@h/r: refused\n2\n3\n4\n5\n",
                Some("rest:https://u:pw@h/r")
            ),
            "Fatal: rest:https://u:***@h/r: refused | 2 | 3 | 4"
        );
        assert_eq!(stderr_excerpt("a\u{1b}[2J", None), "a?[2J");
        // Crashes: the panic or the exception line, never what follows it.
        let go = "panic: runtime error: slice bounds out of range [16:5]\n\ngoroutine 1 [running]:\nmain.main()\n";
        assert_eq!(
            stderr_excerpt(go, None),
            "panic: runtime error: slice bounds out of range [16:5]"
        );
        let python = "Local Exception\nTraceback (most recent call last):\n  File \"/usr/lib/python3/dist-packages/borg/archiver.py\", line 5213, in main\n    exit_code = archiver.run(args)\nconfigparser.MissingSectionHeaderError: File contains no section headers.\nfile: '/srv/borg/config', line: 1\n'key = c2VjcmV0\\n'\n";
        assert_eq!(
            stderr_excerpt(python, None),
            "configparser.MissingSectionHeaderError: File contains no section headers."
        );
    }

    #[test]
    fn points_keep_the_newest_and_bound_problems() {
        let mut p = Points::default();
        p.add(10, || "a");
        p.add(30, || "b");
        p.add(20, || "c");
        p.add(30, || "d");
        for i in 0..9 {
            p.undated(|| format!("bad {i}"));
        }
        assert_eq!(p.count, 4);
        assert_eq!(p.newest, Some((30, "d")));
        assert_eq!(p.problems.len(), MAX_POINT_PROBLEMS);
    }
}
