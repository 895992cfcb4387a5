//! Keys of a contractor's `~/.ssh/authorized_keys`: type, SHA-256 fingerprint (as `ssh-keygen -l`
//! prints it) and the `expiry-time=` option (HYG 3: contractor access ends). Read for declared
//! contractor accounts only. Not here: `AuthorizedKeysFile` from sshd_config (the ssh probe's
//! business; the default path is used), nor key strength.

use std::path::Path;

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use base64::Engine;
use sha2::{Digest, Sha256};
use vigie_proto::v1::AuthorizedKey;

use super::lines;
use crate::probe::fsutil::{read_bounded, resolve_in_root};

const MAX_FILE_BYTES: u64 = 256 * 1024;
const MAX_KEYS: usize = 100;
/// Longest `from=` pattern list kept.
const MAX_FROM_CHARS: usize = 1024;

/// Reads `HOME/.ssh/authorized_keys` under `root`; a missing file is no key, another failure a
/// warning naming the account.
pub fn read(root: &Path, home: &[u8], warnings: &mut Vec<String>, who: &str) -> Vec<AuthorizedKey> {
    let mut path = home.to_vec();
    path.extend_from_slice(b"/.ssh/authorized_keys");
    let path = String::from_utf8_lossy(&path).into_owned();
    let on_disk = resolve_in_root(root, &path);
    match read_bounded(&on_disk, MAX_FILE_BYTES) {
        Ok(bytes) => parse(&bytes),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => {
            warnings.push(format!("reading the authorized keys of {who}: {e}"));
            Vec::new()
        }
    }
}

/// Parses authorized_keys text; lines that are not keys are skipped.
pub fn parse(bytes: &[u8]) -> Vec<AuthorizedKey> {
    let mut out = Vec::new();
    let mut ignored = Vec::new();
    for (line, raw) in lines(bytes, &mut ignored) {
        let text = String::from_utf8_lossy(raw);
        let text = text.trim();
        if text.is_empty() || text.starts_with('#') {
            continue;
        }
        let (options, rest) = if is_key_type(text.split_whitespace().next().unwrap_or_default()) {
            ("", text)
        } else {
            split_options(text)
        };
        let mut words = rest.split_whitespace();
        let (Some(key_type), Some(blob)) = (words.next(), words.next()) else {
            continue;
        };
        let Ok(decoded) = STANDARD.decode(blob) else {
            continue;
        };
        out.push(AuthorizedKey {
            key_type: key_type.chars().take(64).collect(),
            fingerprint_sha256: format!(
                "SHA256:{}",
                STANDARD_NO_PAD.encode(Sha256::digest(&decoded))
            ),
            expires_ms: expiry(options),
            line,
            from: option_value(options, "from")
                .map(|v| v.trim_matches('"').chars().take(MAX_FROM_CHARS).collect())
                .unwrap_or_default(),
        });
        if out.len() >= MAX_KEYS {
            break;
        }
    }
    out
}

fn is_key_type(word: &str) -> bool {
    word.starts_with("ssh-") || word.starts_with("ecdsa-") || word.starts_with("sk-")
}

/// Splits the options field (up to the first blank outside quotes) from the rest.
fn split_options(text: &str) -> (&str, &str) {
    let mut quoted = false;
    for (i, c) in text.char_indices() {
        match c {
            '"' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => {
                return (
                    text.get(..i).unwrap_or_default(),
                    text.get(i..).unwrap_or_default(),
                );
            }
            _ => {}
        }
    }
    (text, "")
}

/// `expiry-time="YYYYMMDD[HHMM[SS]][Z]"` in UTC milliseconds; 0 when absent or unreadable. sshd
/// reads a time without `Z` in the host's zone; the agent reads it as UTC (at most a day early or
/// late, which does not change a verdict counted in days).
fn expiry(options: &str) -> i64 {
    let Some(value) = option_value(options, "expiry-time") else {
        return 0;
    };
    let digits: String = value
        .trim_matches('"')
        .trim_end_matches(['Z', 'z'])
        .to_owned();
    if !digits.chars().all(|c| c.is_ascii_digit()) || ![8, 12, 14].contains(&digits.len()) {
        return 0;
    }
    let num = |a: usize, b: usize| {
        digits
            .get(a..b)
            .and_then(|s| s.parse::<i64>().ok())
            .unwrap_or(0)
    };
    let (y, m, d) = (num(0, 4), num(4, 6), num(6, 8));
    let (hh, mm, ss) = (num(8, 10), num(10, 12), num(12, 14));
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return 0;
    }
    ((days_from_civil(y, m, d) * 24 + hh) * 60 + mm) * 60_000 + ss * 1000
}

/// The value of the first option `name=` (quotes kept), options being split at the commas outside
/// quotes (`from="192.0.2.0/24,10.0.0.1"` is one option). Names are case-insensitive, as in sshd.
fn option_value<'a>(options: &'a str, name: &str) -> Option<&'a str> {
    let mut quoted = false;
    let mut start = 0;
    let mut parts = Vec::new();
    for (i, c) in options.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                parts.push(options.get(start..i).unwrap_or_default());
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(options.get(start..).unwrap_or_default());
    parts.into_iter().find_map(|o| {
        let (key, value) = o.trim().split_once('=')?;
        key.eq_ignore_ascii_case(name).then_some(value)
    })
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(input: &str, expect: &str) {
        let got: Vec<String> = parse(input.as_bytes())
            .iter()
            .map(|k| {
                format!(
                    "{}:{} {} {} {:?}",
                    k.line, k.key_type, k.fingerprint_sha256, k.expires_ms, k.from
                )
            })
            .collect();
        assert_eq!(got.join("\n"), expect);
    }

    #[test]
    fn keys_and_expiry() {
        // Fingerprint checked against `ssh-keygen -lf` for this key.
        let key = "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";
        check(
            &format!(
                "# comment\nssh-ed25519 {key} alice@poste\n\
                 expiry-time=\"20270131\",from=\"192.0.2.0/24\" ssh-ed25519 {key} presta\n\
                 restrict,expiry-time=\"202701311230Z\" ssh-ed25519 {key}\nnot a key\n\
                 FROM=\"10.0.0.1,192.0.2.*\",Expiry-Time=\"20270131\" ssh-ed25519 {key}\n"
            ),
            "2:ssh-ed25519 SHA256:+DiY3wvvV6TuJJhbpZisF/zLDA0zPMSvHdkr4UvCOqU 0 \"\"\n\
             3:ssh-ed25519 SHA256:+DiY3wvvV6TuJJhbpZisF/zLDA0zPMSvHdkr4UvCOqU 1801353600000 \"192.0.2.0/24\"\n\
             4:ssh-ed25519 SHA256:+DiY3wvvV6TuJJhbpZisF/zLDA0zPMSvHdkr4UvCOqU 1801398600000 \"\"\n\
             6:ssh-ed25519 SHA256:+DiY3wvvV6TuJJhbpZisF/zLDA0zPMSvHdkr4UvCOqU 1801353600000 \"10.0.0.1,192.0.2.*\"",
        );
    }
}
