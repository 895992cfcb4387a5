//! Patch facts read from files, not from apt-get: last successful metadata refresh, last upgrade
//! (apt history and dpkg logs) and the reboot-required flag. Every unreadable file becomes a
//! warning, never an error. Not here: automatic-update settings (`auto.rs`).

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use vigie_proto::v1::Source;

use crate::probe::fsutil::{mtime_ms, read_bounded, resolve_in_root};

const STAMP: &str = "/var/lib/apt/periodic/update-success-stamp";
const LISTS: &str = "/var/lib/apt/lists";
const HISTORY: &str = "/var/log/apt/history.log";
const DPKG_LOG: &str = "/var/log/dpkg.log";
const REBOOT: &str = "/run/reboot-required";
const REBOOT_PKGS: &str = "/run/reboot-required.pkgs";
/// Logs are read from their end, where the newest entries are.
const MAX_LOG_TAIL_BYTES: u64 = 8 * 1024 * 1024;
const MAX_REBOOT_PACKAGES: usize = 500;
const QUARTER_HOUR_MS: i64 = 15 * 60 * 1000;
const MAX_UTC_OFFSET_MS: i64 = 14 * 60 * 60 * 1000;

fn file_source(locator: &str) -> Source {
    Source {
        kind: "file".to_owned(),
        locator: locator.to_owned(),
    }
}

/// Last successful metadata refresh: the update-success-stamp's mtime, else the newest mtime of
/// the `*_InRelease`/`*_Release` files in the lists. `(0, None)` when neither exists.
pub fn metadata_refresh(root: &Path, warnings: &mut Vec<String>) -> (i64, Option<Source>) {
    match std::fs::metadata(resolve_in_root(root, STAMP)) {
        Ok(meta) if meta.is_file() => {
            if let Some(ms) = mtime_ms(&meta) {
                return (ms, Some(file_source(STAMP)));
            }
        }
        Ok(_) => warnings.push(format!("{STAMP} is not a regular file")),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => warnings.push(format!("reading {STAMP}: {e}")),
    }
    let entries = match std::fs::read_dir(resolve_in_root(root, LISTS)) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            warnings.push(format!(
                "no apt lists in {LISTS}: apt-get update never ran?"
            ));
            return (0, None);
        }
        Err(e) => {
            warnings.push(format!("reading {LISTS}: {e}"));
            return (0, None);
        }
    };
    let newest = entries
        .filter_map(Result::ok)
        .filter(|e| {
            let name = e.file_name();
            let name = name.as_encoded_bytes();
            name.ends_with(b"_InRelease") || name.ends_with(b"_Release")
        })
        .filter_map(|e| {
            let meta = e.metadata().ok().filter(|m| m.is_file())?;
            Some((mtime_ms(&meta)?, e.file_name()))
        })
        .max();
    match newest {
        Some((ms, name)) => {
            let locator = format!("{LISTS}/{}", name.to_string_lossy());
            (ms, Some(file_source(&locator)))
        }
        None => {
            warnings.push(format!(
                "no *_InRelease or *_Release file in {LISTS}: package metadata never refreshed?"
            ));
            (0, None)
        }
    }
}

/// Newest completed install or upgrade per apt's history and dpkg's log, UTC ms; 0 when unknown.
pub fn last_upgrade(root: &Path, warnings: &mut Vec<String>) -> i64 {
    let history = read_log(root, HISTORY, warnings).and_then(|(text, mtime)| {
        let (newest, last) = scan_history(&text);
        to_utc(newest?, last, mtime, HISTORY, warnings)
    });
    let dpkg = read_log(root, DPKG_LOG, warnings).and_then(|(text, mtime)| {
        let (newest, last) = scan_dpkg_log(&text);
        to_utc(newest?, last, mtime, DPKG_LOG, warnings)
    });
    history.max(dpkg).unwrap_or(0)
}

/// The tail of a log and its mtime; `None` (with a warning unless absent) when unreadable.
fn read_log(root: &Path, abs: &str, warnings: &mut Vec<String>) -> Option<(String, Option<i64>)> {
    let read = || -> std::io::Result<(String, Option<i64>)> {
        let mut file = std::fs::File::open(resolve_in_root(root, abs))?;
        let meta = file.metadata()?;
        if meta.len() > MAX_LOG_TAIL_BYTES {
            file.seek(SeekFrom::Start(meta.len() - MAX_LOG_TAIL_BYTES))?;
        }
        let mut buf = Vec::new();
        file.take(MAX_LOG_TAIL_BYTES).read_to_end(&mut buf)?;
        Ok((String::from_utf8_lossy(&buf).into_owned(), mtime_ms(&meta)))
    };
    match read() {
        Ok(v) => Some(v),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            warnings.push(format!("reading {abs}: {e}"));
            None
        }
    }
}

/// (newest `End-Date` of a stanza that installed or upgraded, last `End-Date` of any stanza), both
/// as local wall-clock time read as if it were UTC.
fn scan_history(text: &str) -> (Option<i64>, Option<i64>) {
    let (mut changed, mut newest, mut last) = (false, None, None);
    for line in text.lines() {
        if line.starts_with("Start-Date:") {
            changed = false;
        } else if line.starts_with("Install:") || line.starts_with("Upgrade:") {
            changed = true;
        } else if let Some(rest) = line.strip_prefix("End-Date:") {
            let mut parts = rest.split_whitespace();
            let Some(at) = naive_ms(parts.next(), parts.next()) else {
                continue;
            };
            last = Some(at);
            if changed {
                newest = newest.max(Some(at));
            }
        }
    }
    (newest, last)
}

/// (newest `install`/`upgrade` action, last line's time) of a dpkg log, in local wall-clock time.
fn scan_dpkg_log(text: &str) -> (Option<i64>, Option<i64>) {
    let (mut newest, mut last) = (None, None);
    for line in text.lines() {
        let mut parts = line.split_whitespace();
        let Some(at) = naive_ms(parts.next(), parts.next()) else {
            continue;
        };
        last = Some(at);
        if matches!(parts.next(), Some("install" | "upgrade")) {
            newest = newest.max(Some(at));
        }
    }
    (newest, last)
}

/// apt and dpkg log local wall-clock time without a zone. The log's mtime is when its last line
/// was written, so (last line − mtime), rounded to a quarter hour, is the host's UTC offset then.
/// Reading the zone database instead would need a tz parser and still miss a changed TZ variable.
fn to_utc(
    newest: i64,
    last: Option<i64>,
    mtime: Option<i64>,
    abs: &str,
    warnings: &mut Vec<String>,
) -> Option<i64> {
    let offset = match (last, mtime) {
        (Some(last), Some(mtime)) => {
            let raw = last.saturating_sub(mtime);
            let rounded = (raw + raw.signum() * QUARTER_HOUR_MS / 2) / QUARTER_HOUR_MS;
            Some(rounded * QUARTER_HOUR_MS).filter(|o| o.abs() <= MAX_UTC_OFFSET_MS)
        }
        _ => None,
    };
    match offset {
        Some(offset) => Some(newest - offset),
        None => {
            warnings.push(format!(
                "{abs}: its times could not be placed in UTC (mtime far from the last entry); read as UTC"
            ));
            Some(newest)
        }
    }
}

/// `YYYY-MM-DD` and `HH:MM:SS` as milliseconds since the epoch, reading them as UTC.
pub fn naive_ms(date: Option<&str>, time: Option<&str>) -> Option<i64> {
    let mut d = date?.splitn(3, '-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let mut t = time?.splitn(3, ':').map(|p| p.parse::<i64>().ok());
    let (hh, mm, ss) = (t.next()??, t.next()??, t.next()??);
    if !(1970..=9999).contains(&y)
        || !(1..=12).contains(&m)
        || !(1..=31).contains(&day)
        || !(0..24).contains(&hh)
        || !(0..60).contains(&mm)
        || !(0..61).contains(&ss)
    {
        return None;
    }
    Some(((days_from_civil(y, m, day) * 24 + hh) * 60 + mm) * 60_000 + ss * 1000)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Reboot flag, when it appeared, and the packages that asked for it.
pub fn reboot_required(root: &Path, warnings: &mut Vec<String>) -> (bool, i64, Vec<String>) {
    let since = match std::fs::metadata(resolve_in_root(root, REBOOT)) {
        Ok(meta) => mtime_ms(&meta).unwrap_or(0),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return (false, 0, Vec::new()),
        Err(e) => {
            warnings.push(format!("reading {REBOOT}: {e}"));
            return (false, 0, Vec::new());
        }
    };
    let mut packages: Vec<String> = Vec::new();
    match read_bounded(&resolve_in_root(root, REBOOT_PKGS), 64 * 1024) {
        Ok(bytes) => {
            for line in String::from_utf8_lossy(&bytes).lines() {
                let name = line.trim();
                let plausible = !name.is_empty()
                    && name.len() <= 256
                    && name.chars().all(|c| c.is_ascii_graphic());
                if plausible && !packages.iter().any(|p| p == name) {
                    packages.push(name.to_owned());
                }
                if packages.len() >= MAX_REBOOT_PACKAGES {
                    break;
                }
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => warnings.push(format!("reading {REBOOT_PKGS}: {e}")),
    }
    (true, since, packages)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check_history(text: &str, expect: (Option<&str>, Option<&str>)) {
        let to =
            |s: Option<&str>| s.and_then(|s| naive_ms(s.split(' ').next(), s.split(' ').nth(1)));
        assert_eq!(scan_history(text), (to(expect.0), to(expect.1)));
    }

    #[test]
    fn history_keeps_newest_install_or_upgrade() {
        let text = "Start-Date: 2025-03-01  10:00:00\nCommandline: apt-get upgrade\nUpgrade: a:amd64 (1, 2)\nEnd-Date: 2025-03-01  10:01:00\n\n\
                    Start-Date: 2025-03-02  09:00:00\nRemove: b:amd64 (1)\nEnd-Date: 2025-03-02  09:00:05\n\ngarbage\0\nEnd-Date: nope\n";
        check_history(
            text,
            (Some("2025-03-01 10:01:00"), Some("2025-03-02 09:00:05")),
        );
        check_history("", (None, None));
    }

    #[test]
    fn dates_and_offsets() {
        assert_eq!(naive_ms(Some("1970-01-01"), Some("00:00:01")), Some(1000));
        assert_eq!(
            naive_ms(Some("2024-02-29"), Some("12:00:00")),
            Some(1_709_208_000_000)
        );
        assert_eq!(naive_ms(Some("2024-13-01"), Some("12:00:00")), None);
        assert_eq!(naive_ms(Some("x"), None), None);
        let mut w = Vec::new();
        // Paris in summer: local 12:00:30 written at 10:00:00 UTC.
        let local = naive_ms(Some("2025-07-01"), Some("12:00:30")).unwrap();
        let utc = naive_ms(Some("2025-07-01"), Some("10:00:00")).unwrap();
        assert_eq!(
            to_utc(local, Some(local), Some(utc), "x", &mut w),
            Some(local - 2 * 3_600_000)
        );
        assert!(w.is_empty());
        assert_eq!(
            to_utc(local, Some(local), Some(0), "x", &mut w),
            Some(local)
        );
        assert_eq!(w.len(), 1);
    }
}
