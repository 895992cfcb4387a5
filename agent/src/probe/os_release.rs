//! Native parser of `os-release(5)` (`ROOT/etc/os-release`, else `ROOT/usr/lib/os-release`):
//! shell-style `KEY=value` lines with optional quotes. Shared by the inventory probe and the
//! patches probe's end-of-life lookup. Not here: any other distribution detection.

use std::collections::BTreeMap;
use std::path::Path;

use super::fsutil::{read_bounded, resolve_in_root};

/// os-release files are a few hundred bytes; anything past this is not one.
const MAX_OS_RELEASE_BYTES: u64 = 64 * 1024;

/// The fields Vigie uses; empty when absent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OsRelease {
    pub id: String,
    pub version_id: String,
    pub pretty_name: String,
    pub version_codename: String,
}

/// Reads the os-release of the tree under `root`. `None` when neither file is readable.
pub fn read(root: &Path) -> Option<OsRelease> {
    ["/etc/os-release", "/usr/lib/os-release"]
        .iter()
        .find_map(|p| read_bounded(&resolve_in_root(root, p), MAX_OS_RELEASE_BYTES).ok())
        .map(|bytes| parse(&String::from_utf8_lossy(&bytes)))
}

/// Parses os-release text. Total: unknown keys and malformed lines are ignored.
pub fn parse(text: &str) -> OsRelease {
    let mut map = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some((key, value)) = line.split_once('=') {
            map.insert(key.trim(), unquote(value.trim()));
        }
    }
    let mut get = |k: &str| map.remove(k).unwrap_or_default();
    let mut os = OsRelease {
        id: get("ID"),
        version_id: get("VERSION_ID"),
        pretty_name: get("PRETTY_NAME"),
        version_codename: get("VERSION_CODENAME"),
    };
    if os.version_codename.is_empty() {
        // Ubuntu also sets UBUNTU_CODENAME; older Debian images set neither.
        os.version_codename = get("UBUNTU_CODENAME");
    }
    os
}

/// Removes one level of shell quoting: `"..."` with backslash escapes, or `'...'` literally.
fn unquote(value: &str) -> String {
    if let Some(inner) = value.strip_prefix('\'') {
        return inner.strip_suffix('\'').unwrap_or(inner).to_owned();
    }
    let Some(inner) = value.strip_prefix('"') else {
        return value.to_owned();
    };
    let inner = inner.strip_suffix('"').unwrap_or(inner);
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(next) = chars.next() {
                out.push(next);
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(text: &str, expect: (&str, &str, &str, &str)) {
        let os = parse(text);
        assert_eq!(
            (
                os.id.as_str(),
                os.version_id.as_str(),
                os.pretty_name.as_str(),
                os.version_codename.as_str()
            ),
            expect
        );
    }

    #[test]
    fn parses_real_files() {
        check(
            "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\nID=debian\n",
            ("debian", "12", "Debian GNU/Linux 12 (bookworm)", "bookworm"),
        );
        check(
            "NAME=\"Ubuntu\"\nVERSION_ID=\"22.04\"\nID=ubuntu\nPRETTY_NAME=\"Ubuntu 22.04.4 LTS\"\nUBUNTU_CODENAME=jammy\n",
            ("ubuntu", "22.04", "Ubuntu 22.04.4 LTS", "jammy"),
        );
        check(
            "# comment\nID='weird'\nPRETTY_NAME=\"a \\\"quoted\\\" name\nbroken line\n\0\0",
            ("weird", "", "a \"quoted\" name", ""),
        );
        check("", ("", "", "", ""));
    }
}
