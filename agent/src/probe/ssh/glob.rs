//! The `glob(3)` subset sshd's Include needs, evaluated under `ProbeCx::root`: `*`, `?` and
//! bracket expressions in any path component, hidden files matched only by a pattern that starts
//! with a dot, results sorted by byte order (sshd calls `glob(arg, 0, ...)`, which sorts). A
//! pattern without wildcards yields the path only if it exists, as glob does. Not here: brace or
//! tilde expansion, which sshd does not ask of glob either.

use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::probe::fsutil::resolve_in_root;

/// Entries listed per directory, against a directory of millions of files.
const MAX_ENTRIES: usize = 4096;

/// Host paths (e.g. `/etc/ssh/sshd_config.d/10-x.conf`) matching the absolute `pattern`, sorted.
pub fn expand(root: &Path, pattern: &str) -> Vec<String> {
    let mut found = vec![String::new()];
    for part in pattern.split('/').filter(|p| !p.is_empty()) {
        let mut next = Vec::new();
        for prefix in &found {
            if !has_wildcard(part) {
                next.push(format!("{prefix}/{part}"));
                continue;
            }
            let dir = if prefix.is_empty() {
                "/"
            } else {
                prefix.as_str()
            };
            let Ok(entries) = std::fs::read_dir(resolve_in_root(root, dir)) else {
                continue;
            };
            let mut names: Vec<Vec<u8>> = entries
                .take(MAX_ENTRIES)
                .filter_map(Result::ok)
                .map(|e| e.file_name().as_bytes().to_vec())
                .filter(|n| fnmatch(part.as_bytes(), n))
                .collect();
            names.sort();
            for name in names {
                next.push(format!("{prefix}/{}", String::from_utf8_lossy(&name)));
            }
        }
        found = next;
    }
    let mut found: Vec<String> = found
        .into_iter()
        .filter(|p| !p.is_empty())
        .filter(|p| resolve_in_root(root, p).exists())
        .collect();
    found.sort();
    found
}

fn has_wildcard(part: &str) -> bool {
    part.contains(['*', '?', '['])
}

/// Whether `name` matches the shell pattern `pat` (one path component).
pub fn fnmatch(pat: &[u8], name: &[u8]) -> bool {
    if name.first() == Some(&b'.') && pat.first() != Some(&b'.') {
        return false;
    }
    matches(pat, name)
}

fn matches(pat: &[u8], name: &[u8]) -> bool {
    match pat.split_first() {
        None => name.is_empty(),
        Some((b'*', rest)) => {
            (0..=name.len()).any(|i| name.get(i..).is_some_and(|n| matches(rest, n)))
        }
        Some((b'?', rest)) => name.split_first().is_some_and(|(_, n)| matches(rest, n)),
        Some((b'[', rest)) => match (bracket(rest), name.split_first()) {
            (Some((set_matches, after)), Some((c, n))) => set_matches(*c) && matches(after, n),
            // An unclosed bracket is a literal `[`.
            (None, Some((b'[', n))) => matches(rest, n),
            _ => false,
        },
        Some((p, rest)) => name
            .split_first()
            .is_some_and(|(c, n)| c == p && matches(rest, n)),
    }
}

/// Parses a bracket expression after its `[`: a predicate and the rest of the pattern.
#[allow(clippy::type_complexity)]
fn bracket(pat: &[u8]) -> Option<(Box<dyn Fn(u8) -> bool + '_>, &[u8])> {
    let (negate, body) = match pat.first() {
        Some(b'!' | b'^') => (true, pat.get(1..)?),
        _ => (false, pat),
    };
    // A `]` right after the opening bracket is a member, not the end.
    let close = body
        .iter()
        .enumerate()
        .skip(1)
        .find(|(_, c)| **c == b']')
        .map(|(i, _)| i)?;
    let set = body.get(..close)?;
    let after = body.get(close + 1..)?;
    let pred = move |c: u8| {
        let mut i = 0;
        let mut hit = false;
        while let Some(&lo) = set.get(i) {
            if set.get(i + 1) == Some(&b'-') && set.get(i + 2).is_some_and(|hi| *hi != b']') {
                let hi = set.get(i + 2).copied().unwrap_or(lo);
                hit |= lo <= c && c <= hi;
                i += 3;
            } else {
                hit |= lo == c;
                i += 1;
            }
        }
        hit != negate
    };
    Some((Box::new(pred), after))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(pat: &str, name: &str, expect: bool) {
        assert_eq!(
            fnmatch(pat.as_bytes(), name.as_bytes()),
            expect,
            "{pat} vs {name}"
        );
    }

    #[test]
    fn patterns() {
        check("*.conf", "10-a.conf", true);
        check("*.conf", "10-a.conf.bak", false);
        check("*.conf", ".hidden.conf", false);
        check(".*.conf", ".hidden.conf", true);
        check("?0-*", "10-x", true);
        check("[0-4]*", "3x", true);
        check("[!0-4]*", "3x", false);
        check("[]a]", "]", true);
        check("[ab", "[ab", true);
        check("a", "a", true);
        check("", "", true);
    }
}
