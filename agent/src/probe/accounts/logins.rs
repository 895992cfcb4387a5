//! Contractor logins (HYG 3, 26; ACC-004): sshd's `Accepted`/`Failed` lines read from the journal
//! (`journalctl -o json`) and, where they exist, from /var/log/auth.log and /var/log/secure.
//!
//! **Invariant (DESIGN decision 15):** user names, times and source addresses are personal data.
//! Every line is parsed in memory, but only the logins of accounts flagged as contractors are kept;
//! nothing about any other account (not even a count) leaves this module, and warnings name files
//! and line shapes, never content.
//!
//! sshd's message (OpenSSH `auth.c`) is `<Accepted|Failed> <method>[/<sub>] for [invalid user ]<user>
//! from <addr> port <port> ssh2[: <info>]`, where the info of a public key is `<TYPE> SHA256:<fp>`.
//! The user name comes from the client and may itself contain ` from `: the line is therefore read
//! from its right end, where sshd's own words are. The process is `sshd` up to OpenSSH 9.7 and
//! `sshd-session` from 9.8; both are matched.
//!
//! Times: the journal's `__REALTIME_TIMESTAMP` is exact (UTC µs). An RFC 3339 syslog timestamp
//! (rsyslog's default on Debian 12) carries its offset. A traditional one (`Mar 30 09:30:00`) has
//! neither year nor zone: we attach the host's zone (the root's /etc/localtime, UTC when unreadable,
//! with a warning) and the year that puts it at most one day after the probe's clock.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use vigie_proto::v1::{principal, Login, Principal};

use super::super::command::{RunError, Tool};
use super::super::fsutil::resolve_in_root;
use super::cursor::{self, FilePos};

/// Most logins reported, most recent first; the rest is counted in `contractor_logins_omitted`.
pub const MAX_LOGINS: usize = 500;
/// Output of journalctl read at most; the rest is ignored with a warning.
const MAX_JOURNAL_BYTES: u64 = 64 * 1024 * 1024;
/// Tail of auth.log/secure read at most.
const MAX_LOG_BYTES: u64 = 32 * 1024 * 1024;
/// Longest journal or syslog line considered; sshd's lines are far shorter.
const MAX_LINE_BYTES: usize = 64 * 1024;
/// Longest user name, method, address or fingerprint kept.
const MAX_FIELD_CHARS: usize = 128;
const MAX_STDERR_BYTES: u64 = 4096;
const DAY_MS: i64 = 86_400_000;
/// The syslog identifiers and process names of sshd.
const SSHD_NAMES: &[&str] = &["sshd", "sshd-session"];

/// One sshd authentication line, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshdAuth {
    pub success: bool,
    pub method: String,
    /// As sent by the client: raw bytes.
    pub user: Vec<u8>,
    /// `invalid user`: the name is not an account of the host.
    pub invalid_user: bool,
    pub address: String,
    pub port: u16,
    /// `SHA256:…` of a public key, empty otherwise.
    pub fingerprint: String,
    pub key_type: String,
}

/// A parsed line with its time (UTC ms).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub at_ms: i64,
    pub auth: SshdAuth,
}

/// Where logins were read, where reading stopped, and what went wrong (never quoting content).
#[derive(Debug, Default)]
pub struct Gathered {
    pub events: Vec<Event>,
    pub sources: Vec<&'static str>,
    pub warnings: Vec<String>,
    /// `__CURSOR` of the last journal entry read, when any was.
    pub journal_cursor: Option<String>,
    /// Position reached in each syslog file read.
    pub positions: BTreeMap<String, FilePos>,
}

/// Parses sshd's message. `None` for any other message (or a malformed one).
pub fn parse_sshd(msg: &[u8]) -> Option<SshdAuth> {
    let (success, rest) = if let Some(r) = msg.strip_prefix(b"Accepted ") {
        (true, r)
    } else if let Some(r) = msg.strip_prefix(b"Failed ") {
        (false, r)
    } else {
        return None;
    };
    let sp = rest.iter().position(|b| *b == b' ')?;
    let method = std::str::from_utf8(rest.get(..sp)?).ok()?;
    if method.is_empty()
        || !method
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-/@.".contains(&b))
    {
        return None;
    }
    let rest = rest.get(sp + 1..)?.strip_prefix(b"for ")?;
    // The right end: ` from <addr> port <port> ssh2[: <info>]`, found from the last ` from `.
    let from = rfind(rest, b" from ")?;
    let user = rest.get(..from)?;
    let tail = std::str::from_utf8(rest.get(from + 6..)?).ok()?;
    let mut words = tail.splitn(4, ' ');
    let address = words.next()?;
    if words.next()? != "port" {
        return None;
    }
    let port: u16 = words.next()?.parse().ok()?;
    let proto_info = words.next()?;
    let (proto, info) = match proto_info.split_once(": ") {
        Some((p, i)) => (p, i),
        None => (proto_info, ""),
    };
    if proto != "ssh2" || !valid_address(address) {
        return None;
    }
    let (invalid_user, user) = match user.strip_prefix(b"invalid user ") {
        Some(u) => (true, u),
        None => (false, user),
    };
    let (key_type, fingerprint) = match info.split_once(' ') {
        Some((t, f)) if f.starts_with("SHA256:") || f.starts_with("MD5:") => {
            (clean(t), clean(f.split(' ').next().unwrap_or_default()))
        }
        _ => (String::new(), String::new()),
    };
    Some(SshdAuth {
        success,
        method: clean(method),
        user: user.to_vec(),
        invalid_user,
        address: address.to_owned(),
        port,
        fingerprint,
        key_type,
    })
}

fn rfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).rposition(|w| w == needle)
}

/// An IPv4/IPv6 address (sshd writes the numeric form), or `UNKNOWN`.
fn valid_address(s: &str) -> bool {
    s.parse::<std::net::IpAddr>().is_ok() || s == "UNKNOWN"
}

/// Host text made safe to carry: no control characters, capped.
fn clean(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_control())
        .take(MAX_FIELD_CHARS)
        .collect()
}

/// One line of `journalctl -o json`: its time and the message, when it is sshd's.
pub fn parse_journal_line(line: &[u8]) -> Option<(i64, Vec<u8>)> {
    let value: serde_json::Value = serde_json::from_slice(line).ok()?;
    let obj = value.as_object()?;
    let is_sshd = ["SYSLOG_IDENTIFIER", "_COMM"].iter().any(|k| {
        obj.get(*k)
            .and_then(serde_json::Value::as_str)
            .is_some_and(|v| SSHD_NAMES.contains(&v))
    });
    if !is_sshd {
        return None;
    }
    let micros: i64 = obj.get("__REALTIME_TIMESTAMP")?.as_str()?.parse().ok()?;
    let message = match obj.get("MESSAGE")? {
        serde_json::Value::String(s) => s.as_bytes().to_vec(),
        // journalctl writes a message that is not UTF-8 as an array of bytes.
        serde_json::Value::Array(a) => a
            .iter()
            .map(|b| b.as_u64().and_then(|b| u8::try_from(b).ok()))
            .collect::<Option<Vec<u8>>>()?,
        _ => return None,
    };
    Some((micros.div_euclid(1000), message))
}

/// How a syslog file's traditional timestamps are completed.
pub struct SyslogClock {
    pub zone: jiff::tz::TimeZone,
    pub now_ms: i64,
}

const MONTHS: &[&str] = &[
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// One auth.log/secure line: its time and the message, when it is sshd's.
pub fn parse_syslog_line(line: &[u8], clock: &SyslogClock) -> Option<(i64, Vec<u8>)> {
    let text = line;
    // RFC 3339 (`2026-03-30T09:30:00.123456+02:00 host prog[pid]: msg`) or traditional
    // (`Mar 30 09:30:00 host prog[pid]: msg`, the day padded with a space).
    let (at_ms, rest) = if text.first().is_some_and(u8::is_ascii_digit) {
        let sp = text.iter().position(|b| *b == b' ')?;
        let stamp = std::str::from_utf8(text.get(..sp)?).ok()?;
        let ts: jiff::Timestamp = stamp.parse().ok()?;
        (ts.as_millisecond(), text.get(sp + 1..)?)
    } else {
        let head = std::str::from_utf8(text.get(..15)?).ok()?;
        let month = MONTHS.iter().position(|m| head.get(..3) == Some(*m))?;
        let day: i8 = head.get(4..6)?.trim().parse().ok()?;
        let mut hms = head.get(7..15)?.split(':');
        let h: i8 = hms.next()?.parse().ok()?;
        let m: i8 = hms.next()?.parse().ok()?;
        let s: i8 = hms.next()?.parse().ok()?;
        let now = jiff::Timestamp::from_millisecond(clock.now_ms).ok()?;
        let year = now.to_zoned(clock.zone.clone()).year();
        let month = i8::try_from(month + 1).ok()?;
        let at = |y: i16| -> Option<i64> {
            let dt = jiff::civil::DateTime::new(y, month, day, h, m, s, 0).ok()?;
            Some(
                dt.to_zoned(clock.zone.clone())
                    .ok()?
                    .timestamp()
                    .as_millisecond(),
            )
        };
        let this_year = at(year)?;
        let at_ms = if this_year > clock.now_ms.saturating_add(DAY_MS) {
            at(year - 1)?
        } else {
            this_year
        };
        (at_ms, text.get(16..)?)
    };
    // `host prog[pid]: message`
    let sp = rest.iter().position(|b| *b == b' ')?;
    let rest = rest.get(sp + 1..)?;
    let colon = find(rest, b": ")?;
    let tag = rest.get(..colon)?;
    let prog = tag.split(|b| *b == b'[').next()?;
    if !SSHD_NAMES.iter().any(|n| n.as_bytes() == prog) {
        return None;
    }
    Some((at_ms, rest.get(colon + 2..)?.to_vec()))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Calls `each` for every line of `bytes` not longer than `MAX_LINE_BYTES`; returns how many longer
/// lines were skipped.
fn for_lines(bytes: &[u8], mut each: impl FnMut(&[u8])) -> usize {
    let mut long = 0;
    for line in bytes.split(|b| *b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.len() > MAX_LINE_BYTES {
            long += 1;
            continue;
        }
        if !line.is_empty() {
            each(line);
        }
    }
    long
}

/// The `__CURSOR` of one line of `journalctl -o json` (always printed, whatever
/// `--output-fields` says).
pub fn journal_cursor(line: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(line).ok()?;
    let cursor = value.get("__CURSOR")?.as_str()?;
    // A cursor is `s=…;i=…;b=…;m=…;t=…;x=…`: short, printable.
    (cursor.len() <= 512 && cursor.bytes().all(|b| b.is_ascii_graphic())).then(|| cursor.to_owned())
}

/// Parses journalctl's output into `out`, and records the cursor of its last entry.
pub fn read_journal_output(bytes: &[u8], since_ms: i64, out: &mut Gathered) {
    let mut last_cursor = None;
    let long = for_lines(bytes, |line| {
        if let Some(c) = journal_cursor(line) {
            last_cursor = Some(c);
        }
        if let Some((at_ms, msg)) = parse_journal_line(line) {
            if let Some(auth) = parse_sshd(&msg) {
                if at_ms >= since_ms {
                    out.events.push(Event { at_ms, auth });
                }
            }
        }
    });
    if long > 0 {
        out.warnings.push(format!(
            "journal: {long} entries longer than {MAX_LINE_BYTES} bytes ignored"
        ));
    }
    if u64::try_from(bytes.len()).unwrap_or(u64::MAX) >= MAX_JOURNAL_BYTES {
        out.warnings.push(
            "journal: output larger than 64 MiB, the rest is read at the next cycle".to_owned(),
        );
    }
    if last_cursor.is_some() {
        out.journal_cursor = last_cursor;
    }
    out.sources.push("journal");
}

/// Reads /var/log/auth.log and /var/log/secure under `root`, where they exist: from the position
/// in `saved` (following a rotation), else their last `MAX_LOG_BYTES`.
pub fn read_syslog_files(
    root: &Path,
    now_ms: i64,
    since_ms: i64,
    saved: &BTreeMap<String, FilePos>,
    out: &mut Gathered,
) {
    let zone = host_zone(root, &mut out.warnings);
    let clock = SyslogClock { zone, now_ms };
    for file in ["/var/log/auth.log", "/var/log/secure"] {
        let read = match cursor::read_new(root, file, saved.get(file).cloned(), MAX_LOG_BYTES) {
            Ok(r) => r,
            Err(e) => {
                out.warnings.push(format!("reading {file}: {e}"));
                continue;
            }
        };
        out.warnings.extend(read.warnings);
        let Some(next) = read.next else {
            continue;
        };
        out.positions.insert(file.to_owned(), next);
        let bytes = read.bytes;
        let long = for_lines(&bytes, |line| {
            if let Some((at_ms, msg)) = parse_syslog_line(line, &clock) {
                if let Some(auth) = parse_sshd(&msg) {
                    if at_ms >= since_ms {
                        out.events.push(Event { at_ms, auth });
                    }
                }
            }
        });
        if long > 0 {
            out.warnings.push(format!(
                "{file}: {long} lines longer than {MAX_LINE_BYTES} bytes ignored"
            ));
        }
        out.sources.push(if file.ends_with("secure") {
            "secure"
        } else {
            "auth.log"
        });
    }
}

/// The host's zone from the root's /etc/localtime (TZif); UTC with a warning when unreadable.
fn host_zone(root: &Path, warnings: &mut Vec<String>) -> jiff::tz::TimeZone {
    let path = resolve_in_root(root, "/etc/localtime");
    match super::super::fsutil::read_bounded(&path, 1024 * 1024) {
        Ok(bytes) => match jiff::tz::TimeZone::tzif("localtime", &bytes) {
            Ok(tz) => tz,
            Err(_) => {
                warnings
                    .push("/etc/localtime is not a TZif file: syslog times read as UTC".to_owned());
                jiff::tz::TimeZone::UTC
            }
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => jiff::tz::TimeZone::UTC,
        Err(e) => {
            warnings.push(format!(
                "reading /etc/localtime: {e}; syslog times read as UTC"
            ));
            jiff::tz::TimeZone::UTC
        }
    }
}

/// The journalctl invocation: `journal_file`/`journal_dir` when configured (tests, offline trees),
/// else the system journal on the live host, else the root's /var/log/journal when it exists.
pub fn journal_args(
    root: &Path,
    live: bool,
    journal_file: Option<&Path>,
    journal_dir: Option<&Path>,
    since_ms: i64,
    after_cursor: Option<&str>,
) -> Option<Vec<OsString>> {
    let mut args: Vec<OsString> = Vec::new();
    if let Some(f) = journal_file {
        args.push("--file".into());
        args.push(f.as_os_str().to_owned());
    } else if let Some(d) = journal_dir {
        args.push("--directory".into());
        args.push(d.as_os_str().to_owned());
    } else if !live {
        let d = resolve_in_root(root, "/var/log/journal");
        if !d.is_dir() {
            return None;
        }
        args.push("--directory".into());
        args.push(d.into_os_string());
    }
    for a in [
        "-o",
        "json",
        "--no-pager",
        "--all",
        "--output-fields=MESSAGE,SYSLOG_IDENTIFIER,_COMM",
    ] {
        args.push(a.into());
    }
    // journalctl takes one starting point: where the last read stopped, else the window.
    match after_cursor {
        Some(c) => args.push(format!("--after-cursor={c}").into()),
        None => args.push(format!("--since=@{}", since_ms.div_euclid(1000)).into()),
    }
    // Same-field matches are ORed, `+` ORs the two groups.
    for (i, field) in ["SYSLOG_IDENTIFIER", "_COMM"].iter().enumerate() {
        if i > 0 {
            args.push("+".into());
        }
        for n in SSHD_NAMES {
            args.push(format!("{field}={n}").into());
        }
    }
    Some(args)
}

/// Runs journalctl the agent's one way (`probe::command`: `LC_ALL=C`, stdin closed, bounded
/// output, killed with its process group after `timeout`).
pub async fn run_journalctl(
    program: &Path,
    args: &[OsString],
    timeout: Duration,
) -> Result<Vec<u8>, String> {
    let out = Tool::new(program)
        .args(args.iter().cloned())
        .env("SYSTEMD_COLORS", "0")
        .env_remove("LANGUAGE")
        .max_stdout(MAX_JOURNAL_BYTES)
        .max_stderr(MAX_STDERR_BYTES)
        .run(timeout)
        .await
        .map_err(|e| match e {
            RunError::Timeout { .. } => {
                format!("journalctl did not finish within {} s", timeout.as_secs())
            }
            other => other.to_string(),
        })?;
    // Exit 1 with no entry is journalctl's "nothing matched" on some versions.
    if !out.status.success() && !out.stdout.is_empty() {
        return Ok(out.stdout);
    }
    if !out.status.success() {
        let text = out.stderr_text();
        let reason: String = clean(text.trim()).chars().take(200).collect();
        return Err(format!("journalctl failed ({}): {reason}", out.status));
    }
    Ok(out.stdout)
}

/// Keeps the logins of contractor accounts only (`contractors`: name → uid), most recent first,
/// without duplicates (the journal and auth.log often hold the same line), at most `max`; returns
/// them with the number left out.
pub fn select(
    events: Vec<Event>,
    contractors: &BTreeMap<Vec<u8>, u32>,
    max: usize,
) -> (Vec<Login>, u32) {
    let mut seen = BTreeSet::new();
    let mut logins: Vec<Login> = Vec::new();
    for e in events {
        // An `invalid user` does not exist on the host, so it is no declared contractor account.
        if e.auth.invalid_user {
            continue;
        }
        let Some(uid) = contractors.get(&e.auth.user) else {
            continue;
        };
        let key = (
            *uid,
            e.at_ms.div_euclid(1000),
            e.auth.address.clone(),
            e.auth.port,
            e.auth.success,
            e.auth.method.clone(),
        );
        if !seen.insert(key) {
            continue;
        }
        logins.push(Login {
            principal: Some(Principal {
                id: Some(principal::Id::Uid(*uid)),
                name: clean(&String::from_utf8_lossy(&e.auth.user)),
            }),
            at_ms: e.at_ms,
            source_address: e.auth.address,
            method: e.auth.method,
            key_fingerprint: e.auth.fingerprint,
            success: e.auth.success,
        });
    }
    logins.sort_by_key(|l| std::cmp::Reverse(l.at_ms));
    let omitted = u32::try_from(logins.len().saturating_sub(max)).unwrap_or(u32::MAX);
    logins.truncate(max);
    (logins, omitted)
}

/// Where journalctl is, on the live host.
pub fn journalctl_program() -> PathBuf {
    ["/usr/bin/journalctl", "/bin/journalctl"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from("journalctl"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FP: &str = "SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s";

    #[track_caller]
    fn check(line: &[u8], expect: Option<(&str, &[u8], bool, &str, &str)>) {
        let got = parse_sshd(line).map(|a| {
            (
                a.method.clone(),
                a.user.clone(),
                a.success,
                a.address.clone(),
                a.fingerprint.clone(),
            )
        });
        let expect =
            expect.map(|(m, u, s, a, f)| (m.to_owned(), u.to_vec(), s, a.to_owned(), f.to_owned()));
        assert_eq!(got, expect, "{}", String::from_utf8_lossy(line));
    }

    #[test]
    fn sshd_lines() {
        check(
            format!("Accepted publickey for presta-dupont from 203.0.113.7 port 51234 ssh2: ED25519 {FP}").as_bytes(),
            Some(("publickey", b"presta-dupont", true, "203.0.113.7", FP)),
        );
        check(
            b"Accepted password for bob from 2001:db8::1 port 22 ssh2",
            Some(("password", b"bob", true, "2001:db8::1", "")),
        );
        check(
            b"Failed password for invalid user admin from 198.51.100.2 port 4000 ssh2",
            Some(("password", b"admin", false, "198.51.100.2", "")),
        );
        check(
            b"Accepted keyboard-interactive/pam for bob from 192.0.2.1 port 1 ssh2",
            Some(("keyboard-interactive/pam", b"bob", true, "192.0.2.1", "")),
        );
        // Other sshd lines.
        check(b"Invalid user admin from 198.51.100.2 port 4000", None);
        check(b"Connection closed by 192.0.2.1 port 22 [preauth]", None);
        check(b"Accepted publickey for bob from nowhere port 1 ssh2", None);
        check(
            b"Accepted publickey for bob from 192.0.2.1 port 99999 ssh2",
            None,
        );
        check(b"", None);
    }

    #[test]
    fn hostile_user_names_are_read_from_the_right() {
        // A client can send any user name; sshd writes it as is (minus control characters).
        check(
            b"Failed password for invalid user x from 6.6.6.6 port 1 ssh2 from 192.0.2.9 port 7 ssh2",
            Some(("password", b"x from 6.6.6.6 port 1 ssh2", false, "192.0.2.9", "")),
        );
        let a = parse_sshd(
            b"Failed none for invalid user x from 6.6.6.6 port 1 ssh2 from 192.0.2.9 port 7 ssh2",
        )
        .unwrap();
        assert!(a.invalid_user);
        check(
            b"Accepted password for cl\xe9ment from 192.0.2.1 port 1 ssh2",
            Some(("password", b"cl\xe9ment", true, "192.0.2.1", "")),
        );
        // A fingerprint with control characters is cleaned.
        let a = parse_sshd(
            b"Accepted publickey for a from 192.0.2.1 port 1 ssh2: RSA SHA256:ab\x1b[31mc",
        )
        .unwrap();
        assert_eq!(a.fingerprint, "SHA256:ab[31mc");
    }

    #[test]
    fn journal_lines() {
        let line = format!(
            r#"{{"__REALTIME_TIMESTAMP":"1774855800123456","MESSAGE":"Accepted publickey for p from 192.0.2.1 port 1 ssh2: ED25519 {FP}","SYSLOG_IDENTIFIER":"sshd","_COMM":"sshd-session"}}"#
        );
        let (at, msg) = parse_journal_line(line.as_bytes()).unwrap();
        assert_eq!(at, 1_774_855_800_123);
        assert!(msg.starts_with(b"Accepted publickey for p "));
        // sshd-session as the only name (OpenSSH ≥ 9.8).
        let line = r#"{"__REALTIME_TIMESTAMP":"1000","MESSAGE":"x","_COMM":"sshd-session"}"#;
        assert_eq!(
            parse_journal_line(line.as_bytes()),
            Some((1, b"x".to_vec()))
        );
        // Not UTF-8: journalctl writes an array of bytes.
        let line =
            r#"{"__REALTIME_TIMESTAMP":"1000","MESSAGE":[65,233,66],"SYSLOG_IDENTIFIER":"sshd"}"#;
        assert_eq!(
            parse_journal_line(line.as_bytes()),
            Some((1, vec![65, 233, 66]))
        );
        // Not sshd, no time, not JSON.
        let line =
            r#"{"__REALTIME_TIMESTAMP":"1000","MESSAGE":"Accepted","SYSLOG_IDENTIFIER":"cron"}"#;
        assert_eq!(parse_journal_line(line.as_bytes()), None);
        assert_eq!(
            parse_journal_line(br#"{"MESSAGE":"x","_COMM":"sshd"}"#),
            None
        );
        assert_eq!(parse_journal_line(b"\xff\xfe{"), None);
    }

    #[test]
    fn ten_megabyte_lines_are_skipped_and_counted() {
        let mut bytes = vec![b'a'; 10 * 1024 * 1024];
        bytes.push(b'\n');
        bytes.extend_from_slice(
            br#"{"__REALTIME_TIMESTAMP":"2000000","MESSAGE":"Accepted password for p from 192.0.2.1 port 1 ssh2","_COMM":"sshd"}"#,
        );
        let mut out = Gathered::default();
        read_journal_output(&bytes, 0, &mut out);
        assert_eq!(out.events.len(), 1);
        assert_eq!(out.events[0].at_ms, 2000);
        assert_eq!(out.warnings.len(), 1, "{:?}", out.warnings);
        assert!(!out.warnings[0].contains("aaaa"));
    }

    fn paris() -> jiff::tz::TimeZone {
        jiff::tz::TimeZone::get("Europe/Paris").unwrap()
    }

    #[test]
    fn syslog_lines() {
        // 2026-11-28T16:00:00Z.
        let clock = SyslogClock {
            zone: paris(),
            now_ms: 1_795_881_600_000,
        };
        let (at, msg) = parse_syslog_line(
            b"2026-03-30T09:30:00.000000+02:00 web1 sshd[812]: Accepted password for p from 192.0.2.1 port 1 ssh2",
            &clock,
        )
        .unwrap();
        assert_eq!(at, 1_774_855_800_000);
        assert!(msg.starts_with(b"Accepted password"));
        // Traditional: Paris summer time, this year.
        let (at, _) = parse_syslog_line(
            b"Mar 30 09:30:00 web1 sshd-session[812]: Accepted password for p from 192.0.2.1 port 1 ssh2",
            &clock,
        )
        .unwrap();
        assert_eq!(at, 1_774_855_800_000);
        // A December date seen in November is last year's.
        let (at, _) = parse_syslog_line(b"Dec  1 00:00:00 h sshd[1]: x", &clock).unwrap();
        assert!(at < clock.now_ms);
        assert_eq!(
            parse_syslog_line(b"Mar 30 09:30:00 h cron[1]: x", &clock),
            None
        );
        assert_eq!(parse_syslog_line(b"garbage", &clock), None);
        assert_eq!(parse_syslog_line(b"\xff\xfe\xfd", &clock), None);
    }

    #[test]
    fn only_contractors_are_selected() {
        let ev = |at_ms, user: &str, invalid| Event {
            at_ms,
            auth: SshdAuth {
                success: true,
                method: "publickey".into(),
                user: user.as_bytes().to_vec(),
                invalid_user: invalid,
                address: "192.0.2.1".into(),
                port: 1,
                fingerprint: FP.into(),
                key_type: "ED25519".into(),
            },
        };
        let contractors = BTreeMap::from([(b"presta".to_vec(), 1001)]);
        let events = vec![
            ev(1000, "presta", false),
            ev(3000, "alice", false),
            ev(2000, "presta", false),
            ev(2000, "presta", false),
            ev(4000, "presta", true),
        ];
        let (logins, omitted) = select(events.clone(), &contractors, 10);
        assert_eq!(omitted, 0);
        let times: Vec<i64> = logins.iter().map(|l| l.at_ms).collect();
        assert_eq!(times, [2000, 1000]);
        assert!(logins
            .iter()
            .all(|l| l.principal.as_ref().unwrap().name == "presta"));
        let (logins, omitted) = select(events, &contractors, 1);
        assert_eq!((logins.len(), omitted), (1, 1));
        assert_eq!(logins[0].at_ms, 2000);
    }

    #[tokio::test]
    async fn journalctl_failures_are_reasons() {
        let err = run_journalctl(Path::new("/bin/false"), &[], Duration::from_secs(5))
            .await
            .unwrap_err();
        assert_eq!(err, "journalctl failed (exit status: 1): ");
        let err = run_journalctl(
            Path::new("/nonexistent/journalctl"),
            &[],
            Duration::from_secs(5),
        )
        .await
        .unwrap_err();
        assert_eq!(err, "/nonexistent/journalctl not found");
        let err = run_journalctl(
            Path::new("/bin/sleep"),
            &["30".into()],
            Duration::from_secs(1),
        )
        .await
        .unwrap_err();
        assert_eq!(err, "journalctl did not finish within 1 s");
    }

    #[test]
    fn journal_arguments() {
        let args = journal_args(
            Path::new("/"),
            true,
            Some(Path::new("/t/x.journal")),
            None,
            86_400_000,
            Some("s=1;i=2"),
        )
        .unwrap();
        let args: Vec<String> = args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(args[..2], ["--file", "/t/x.journal"]);
        assert!(args.contains(&"_COMM=sshd-session".to_owned()));
        assert!(args.contains(&"--after-cursor=s=1;i=2".to_owned()));
        assert!(!args.iter().any(|a| a.starts_with("--since")));
        let args = journal_args(Path::new("/"), true, None, None, 86_400_000, None).unwrap();
        assert!(args.contains(&"--since=@86400".into()));
        // A mounted tree with no journal: nothing to run.
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(journal_args(dir.path(), false, None, None, 0, None), None);
    }
}
