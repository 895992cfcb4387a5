//! Proxmox task ids (UPIDs), as Proxmox VE and Proxmox Backup Server write them in their task lists
//! and use them as task-log file names:
//! - PVE: `UPID:node:PID:PSTART:STARTTIME:type:id:user:` (hex fields; PVE::Tools `upid_decode`);
//!   its log is `TASKDIR/<last hex digit of STARTTIME>/<UPID>`.
//! - PBS: `UPID:node:PID:PSTART:TASKID:STARTTIME:type:id:authid:` (proxmox-schema `upid.rs`), the id
//!   systemd-escaped (`store1:vm/100` → `store1\x3avm-100`); its log is
//!   `TASKDIR/<PSTART & 0xFF as %02X>/<UPID>`.
//!
//! A UPID read from a file is hostile: it names a file, so one holding `/`, a NUL, whitespace or a
//! control character is refused, as is anything not matching Proxmox's own pattern. Not here: task
//! statuses and logs (`tasklog.rs`).

use std::path::{Path, PathBuf};

/// Longest UPID accepted (PBS caps its schema at 128; PVE ids are short).
const MAX_UPID_CHARS: usize = 256;

/// Which product wrote a UPID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavour {
    Pve,
    Pbs,
}

/// A parsed task id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upid {
    /// The UPID exactly as written (the log file's name).
    pub text: String,
    pub flavour: Flavour,
    pub node: String,
    pub pstart: u64,
    /// Task start, UTC milliseconds.
    pub start_ms: i64,
    pub worker_type: String,
    /// Unescaped (PBS) worker id, e.g. `store1:vm/100`; empty for a PVE vzdump of several guests.
    pub worker_id: String,
}

fn hex(field: &str, min: usize, max: usize) -> Option<u64> {
    ((min..=max).contains(&field.len()) && field.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| u64::from_str_radix(field, 16).ok())
        .flatten()
}

fn node_ok(node: &str) -> bool {
    !node.is_empty()
        && node.len() <= 63
        && node.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !node.starts_with('-')
        && !node.ends_with('-')
}

/// systemd's unit-name unescaping, as PBS escapes worker ids: `-` is `/`, `\xNN` is that byte.
/// `None` on a malformed escape or a result that is not UTF-8.
pub fn unescape(id: &str) -> Option<String> {
    let bytes = id.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'-' => {
                out.push(b'/');
                i += 1;
            }
            b'\\' => {
                if bytes.get(i + 1) != Some(&b'x') {
                    return None;
                }
                let pair = std::str::from_utf8(bytes.get(i + 2..i + 4)?).ok()?;
                out.push(u8::from_str_radix(pair, 16).ok()?);
                i += 4;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// Parses a UPID; `None` for anything that is not one, or that could not safely name a file.
pub fn parse(text: &str) -> Option<Upid> {
    if text.len() > MAX_UPID_CHARS
        || text
            .chars()
            .any(|c| c == '/' || c.is_whitespace() || c.is_control())
        || !text.ends_with(':')
    {
        return None;
    }
    let fields: Vec<&str> = text.strip_prefix("UPID:")?.split(':').collect();
    // The trailing `:` leaves an empty last field.
    let (flavour, node, pstart, start, wtype, wid, user) = match fields.as_slice() {
        [node, pid, pstart, start, wtype, wid, user, ""] => {
            hex(pid, 8, 8)?;
            (Flavour::Pve, node, pstart, start, wtype, wid, user)
        }
        [node, pid, pstart, task_id, start, wtype, wid, user, ""] => {
            hex(pid, 8, 8)?;
            hex(task_id, 8, 16)?;
            (Flavour::Pbs, node, pstart, start, wtype, wid, user)
        }
        _ => return None,
    };
    if !node_ok(node) || wtype.is_empty() || user.is_empty() {
        return None;
    }
    let pstart = hex(pstart, 8, 9)?;
    let start_secs = i64::try_from(hex(start, 8, 8)?).ok()?;
    let worker_id = match flavour {
        Flavour::Pve => (*wid).to_owned(),
        Flavour::Pbs => unescape(wid)?,
    };
    Some(Upid {
        text: text.to_owned(),
        flavour,
        node: (*node).to_owned(),
        pstart,
        start_ms: start_secs.saturating_mul(1000),
        worker_type: (*wtype).to_owned(),
        worker_id,
    })
}

impl Upid {
    /// Where this task's log is under `task_dir`.
    pub fn log_path(&self, task_dir: &Path) -> PathBuf {
        let subdir = match self.flavour {
            Flavour::Pve => {
                // The last hex digit of STARTTIME as written (`upid_decode`: substr($5, 7, 8)).
                let start_hex = self.text.split(':').nth(4).unwrap_or_default();
                start_hex
                    .chars()
                    .last()
                    .map(String::from)
                    .unwrap_or_default()
            }
            Flavour::Pbs => format!("{:02X}", self.pstart & 0xFF),
        };
        task_dir.join(subdir).join(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(text: &str, expect: Option<(Flavour, i64, &str, &str, &str)>) {
        let got = parse(text);
        let got = got.as_ref().map(|u| {
            (
                u.flavour,
                u.start_ms,
                u.worker_type.as_str(),
                u.worker_id.as_str(),
                u.log_path(Path::new("/t")).display().to_string(),
            )
        });
        let expect = expect.map(|(f, s, t, i, p)| (f, s, t, i, p.to_owned()));
        assert_eq!(got, expect, "{text}");
    }

    #[test]
    fn pve_and_pbs_upids() {
        check(
            "UPID:pve1:000B1C07:03C4D2E5:6B078492:vzdump::root@pam:",
            Some((
                Flavour::Pve,
                1_795_654_802_000,
                "vzdump",
                "",
                "/t/2/UPID:pve1:000B1C07:03C4D2E5:6B078492:vzdump::root@pam:",
            )),
        );
        check(
            "UPID:pve1:000B5A11:03C8A7F0:6B07E700:qmstart:100:root@pam:",
            Some((
                Flavour::Pve,
                1_795_680_000_000,
                "qmstart",
                "100",
                "/t/0/UPID:pve1:000B5A11:03C8A7F0:6B07E700:qmstart:100:root@pam:",
            )),
        );
        check(
            "UPID:pbs-mairie:000004D2:0001A2F3:00000057:6B0A2792:backup:store1\\x3avm-100:pve-sync@pbs!pve1:",
            Some((
                Flavour::Pbs,
                1_795_827_602_000,
                "backup",
                "store1:vm/100",
                "/t/F3/UPID:pbs-mairie:000004D2:0001A2F3:00000057:6B0A2792:backup:store1\\x3avm-100:pve-sync@pbs!pve1:",
            )),
        );
        check(
            "UPID:pbs-mairie:000004D2:0001A2F3:0000005A:6B0A51C0:verificationjob:store1\\x3av\\x2d3f2a1b9c\\x2d1a2b:root@pam:",
            Some((
                Flavour::Pbs,
                1_795_838_400_000,
                "verificationjob",
                "store1:v-3f2a1b9c-1a2b",
                "/t/F3/UPID:pbs-mairie:000004D2:0001A2F3:0000005A:6B0A51C0:verificationjob:store1\\x3av\\x2d3f2a1b9c\\x2d1a2b:root@pam:",
            )),
        );
    }

    #[test]
    fn hostile_or_malformed_upids_are_refused() {
        for bad in [
            "",
            "UPID:",
            "not a upid",
            // A `/` would let the file name climb out of the task directory.
            "UPID:pve1:000B1C07:03C4D2E5:6B078492:vzdump:../../../etc/shadow:root@pam:",
            "UPID:pve1:000B1C07:03C4D2E5:6B078492:vzdump::root@pam",
            "UPID:pve1:000B1C07:03C4D2E5:6B07849:vzdump::root@pam:",
            "UPID:pve1:0000XYZ7:03C4D2E5:6B078492:vzdump::root@pam:",
            "UPID:-pve:000B1C07:03C4D2E5:6B078492:vzdump::root@pam:",
            "UPID:pve1:000B1C07:03C4D2E5:6B078492:vzdump:: :",
            "UPID:pve1:000B1C07:03C4D2E5:6B078492:vzdump::root\u{1b}@pam:",
            "UPID:pbs:000004D2:0001A2F3:00000057:6B0A2792:backup:bad\\q:root@pam:",
            "UPID:pbs:000004D2:0001A2F3:00000057:6B0A2792:backup:bad\\x:root@pam:",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
        assert_eq!(parse(&format!("UPID:{}", "a".repeat(300))), None);
        assert_eq!(unescape("a-b\\x2dc\\x3ad").as_deref(), Some("a/b-c:d"));
    }
}
