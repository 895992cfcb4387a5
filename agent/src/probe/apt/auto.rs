//! Whether automatic (unattended) security updates are on: `APT::Periodic::Unattended-Upgrade`
//! and `APT::Periodic::Enable` from `ROOT/etc/apt/apt.conf.d/*` then `ROOT/etc/apt/apt.conf`, read
//! in apt's order (last assignment wins), and the `unattended-upgrades` package installed per
//! `ROOT/var/lib/dpkg/status`. Not here: whether the systemd timers that trigger it are enabled.

use std::path::Path;

use vigie_proto::v1::Source;

use crate::probe::fsutil::{read_bounded, resolve_in_root};

const CONF_DIR: &str = "/etc/apt/apt.conf.d";
const CONF_MAIN: &str = "/etc/apt/apt.conf";
const DPKG_STATUS: &str = "/var/lib/dpkg/status";
const MAX_CONF_BYTES: u64 = 1024 * 1024;
const MAX_CONF_FILES: usize = 1000;
const MAX_STATUS_BYTES: u64 = 128 * 1024 * 1024;
const KEY_UNATTENDED: &str = "apt::periodic::unattended-upgrade";
const KEY_ENABLE: &str = "apt::periodic::enable";

/// The last value of a key, and the file that set it.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Setting {
    value: Option<String>,
    file: String,
}

/// `(enabled, source)`. Enabled means: unattended-upgrades installed, periodic runs not disabled,
/// and `Unattended-Upgrade` set to a non-zero interval.
pub fn automatic_updates(root: &Path, warnings: &mut Vec<String>) -> (bool, Option<Source>) {
    let mut unattended = Setting::default();
    let mut enable = Setting::default();
    for file in conf_files(root, warnings) {
        match read_bounded(&resolve_in_root(root, &file), MAX_CONF_BYTES) {
            Ok(bytes) => {
                for (key, value) in assignments(&String::from_utf8_lossy(&bytes)) {
                    let slot = match key.as_str() {
                        KEY_UNATTENDED => &mut unattended,
                        KEY_ENABLE => &mut enable,
                        _ => continue,
                    };
                    *slot = Setting {
                        value,
                        file: file.clone(),
                    };
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && file == CONF_MAIN => {}
            Err(e) => warnings.push(format!("reading {file}: {e}")),
        }
    }
    let installed = package_installed(root, "unattended-upgrades", warnings);
    let configured = unattended.value.as_deref().is_some_and(interval_on)
        && enable.value.as_deref().is_none_or(interval_on);
    if configured && !installed {
        warnings.push(format!(
            "APT::Periodic::Unattended-Upgrade is set in {} but unattended-upgrades is not installed",
            unattended.file
        ));
    }
    let source = if !installed {
        Some(file_source(DPKG_STATUS))
    } else if enable.value.as_deref().is_some_and(|v| !interval_on(v)) {
        Some(file_source(&enable.file))
    } else if unattended.value.is_some() {
        Some(file_source(&unattended.file))
    } else {
        None
    };
    (configured && installed, source)
}

fn file_source(locator: &str) -> Source {
    Source {
        kind: "file".to_owned(),
        locator: locator.to_owned(),
    }
}

/// apt's periodic values are intervals: `0` off, a number (of days, or with an s/m/h/d suffix)
/// or `always` on.
fn interval_on(value: &str) -> bool {
    let v = value.trim();
    if v.eq_ignore_ascii_case("always") {
        return true;
    }
    let digits: String = v.chars().take_while(char::is_ascii_digit).collect();
    digits.parse::<u64>().is_ok_and(|n| n > 0)
}

/// The files apt reads, in its order: the parts directory sorted by name, skipping names apt
/// skips (characters outside `[A-Za-z0-9_.-]`, an extension other than `.conf`), then apt.conf.
fn conf_files(root: &Path, warnings: &mut Vec<String>) -> Vec<String> {
    let mut names: Vec<String> = match std::fs::read_dir(resolve_in_root(root, CONF_DIR)) {
        Ok(entries) => entries
            .filter_map(Result::ok)
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| apt_reads(n))
            .take(MAX_CONF_FILES)
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => {
            warnings.push(format!("reading {CONF_DIR}: {e}"));
            Vec::new()
        }
    };
    names.sort();
    let mut files: Vec<String> = names.iter().map(|n| format!("{CONF_DIR}/{n}")).collect();
    files.push(CONF_MAIN.to_owned());
    files
}

fn apt_reads(name: &str) -> bool {
    let valid = !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    valid && (!name.contains('.') || name.ends_with(".conf"))
}

#[derive(Debug, PartialEq)]
enum Tok {
    Word(String),
    Open,
    Close,
    End,
}

/// Every `key value;` of an apt config text, keys fully scoped and lower-cased (apt's keys are
/// case-insensitive); `#clear key;` yields `(key, None)`. Total on any input.
fn assignments(text: &str) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    let mut scope: Vec<String> = Vec::new();
    let mut pending: Vec<String> = Vec::new();
    for tok in tokens(text) {
        match tok {
            Tok::Word(w) => pending.push(w),
            Tok::Open => {
                scope.push(pending.first().cloned().unwrap_or_default());
                pending.clear();
            }
            Tok::Close => {
                scope.pop();
                pending.clear();
            }
            Tok::End => {
                let full = |k: &str| {
                    let mut parts: Vec<&str> = scope.iter().map(String::as_str).collect();
                    parts.push(k);
                    parts.join("::").to_ascii_lowercase()
                };
                match pending.as_slice() {
                    [clear, key] if clear == "#clear" => out.push((full(key), None)),
                    [key, value] => out.push((full(key), Some(value.clone()))),
                    _ => {}
                }
                pending.clear();
            }
        }
    }
    out
}

fn tokens(text: &str) -> Vec<Tok> {
    let mut toks = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {}
            '{' => toks.push(Tok::Open),
            '}' => toks.push(Tok::Close),
            ';' => toks.push(Tok::End),
            '"' => toks.push(Tok::Word(
                chars.by_ref().take_while(|&c| c != '"').collect(),
            )),
            '/' if chars.peek() == Some(&'/') => {
                chars.by_ref().take_while(|&c| c != '\n').for_each(drop);
            }
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                let mut prev = ' ';
                for c in chars.by_ref() {
                    if prev == '*' && c == '/' {
                        break;
                    }
                    prev = c;
                }
            }
            _ => {
                let mut word = String::from(c);
                while let Some(&n) = chars.peek() {
                    if n.is_whitespace() || matches!(n, '{' | '}' | ';' | '"') {
                        break;
                    }
                    word.push(n);
                    chars.next();
                }
                // `#` starts a comment unless it is a directive such as `#clear` or `#include`.
                if word.starts_with('#') && word != "#clear" && word != "#include" {
                    chars.by_ref().take_while(|&c| c != '\n').for_each(drop);
                } else {
                    toks.push(Tok::Word(word));
                }
            }
        }
    }
    toks
}

/// Whether dpkg's status database says `package` is installed (`Status: install ok installed`).
pub fn package_installed(root: &Path, package: &str, warnings: &mut Vec<String>) -> bool {
    let bytes = match read_bounded(&resolve_in_root(root, DPKG_STATUS), MAX_STATUS_BYTES) {
        Ok(b) => b,
        Err(e) => {
            warnings.push(format!("reading {DPKG_STATUS}: {e}"));
            return false;
        }
    };
    let text = String::from_utf8_lossy(&bytes);
    let mut current = false;
    for line in text.lines() {
        if line.is_empty() {
            current = false;
        } else if let Some(name) = line.strip_prefix("Package:") {
            current = name.trim() == package;
        } else if let Some(status) = line.strip_prefix("Status:") {
            if current && status.split_whitespace().nth(2) == Some("installed") {
                return true;
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(text: &str, expect: &[(&str, Option<&str>)]) {
        let got = assignments(text);
        let got: Vec<(&str, Option<&str>)> = got
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_deref()))
            .collect();
        assert_eq!(got, expect);
    }

    #[test]
    fn apt_config_syntax() {
        check(
            "APT::Periodic::Update-Package-Lists \"1\";\nAPT::Periodic::Unattended-Upgrade \"1\";\n",
            &[
                ("apt::periodic::update-package-lists", Some("1")),
                ("apt::periodic::unattended-upgrade", Some("1")),
            ],
        );
        check(
            "// Mise à jour automatique désactivée\n# commentaire \"1\";\n/* bloc\n APT::Periodic::Enable \"1\"; */\nAPT { Periodic { Unattended-Upgrade \"0\"; }; };\n#clear APT::Periodic::Enable;\n",
            &[
                ("apt::periodic::unattended-upgrade", Some("0")),
                ("apt::periodic::enable", None),
            ],
        );
        check("Unattended-Upgrade::Allowed-Origins { \"${distro_id}:${distro_codename}-security\"; };", &[]);
        check("\"\0{{{;;}}}}\" /* never closed", &[]);
    }

    #[test]
    fn names_and_intervals() {
        for (name, reads) in [
            ("20auto-upgrades", true),
            ("50unattended-upgrades.conf", true),
            ("20auto-upgrades.dpkg-old", false),
            ("20auto-upgrades~", false),
            ("99local.bak", false),
        ] {
            assert_eq!(apt_reads(name), reads, "{name}");
        }
        for (v, on) in [
            ("1", true),
            ("7", true),
            ("0", false),
            ("always", true),
            ("1d", true),
            ("", false),
        ] {
            assert_eq!(interval_on(v), on, "{v}");
        }
    }
}
