//! Proxmox task lists and task logs, as PVE and PBS write them (proxmox-rest-server
//! `worker_task.rs`, PVE::RESTEnvironment):
//! - a task list (`active`, `index`, `archive`) has one task per line: `<UPID>` while it runs,
//!   `<UPID> <ENDTIME as %08X> <status>` once it ended, the status being `OK`, `WARNINGS: <n>`,
//!   `unknown` (ended without saying how: killed, power loss) or an error message;
//! - a task log ends with `TASK OK`, `TASK WARNINGS: <n>` or `TASK ERROR: <message>`; PBS prefixes
//!   every line with its RFC 3339 time (`2026-11-28T02:00:16+01:00: TASK OK`), PVE does not. vzdump
//!   logs one `ERROR: Backup of VM <id> failed - <why>` per guest that failed, among `Starting
//!   Backup of …` lines.
//!
//! Everything here is host data: lines are bounded, malformed ones are counted, never trusted.
//! Not here: finding the files, choosing the tasks (`mod.rs`).

use super::super::{sanitize, timefmt};
use super::upid::{self, Upid};

/// Longest task-list line considered; real ones are under 300 bytes.
const MAX_LINE_CHARS: usize = 4096;
/// Error lines kept from one task log.
const MAX_ERRORS: usize = 3;
/// Length each kept error line is cut to.
const MAX_ERROR_CHARS: usize = 300;

/// How a task ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    Ok,
    Warnings(u64),
    /// Ended without a status (`unknown`): killed, crashed, power loss.
    Unknown,
    Error(String),
}

impl Ended {
    /// `OK`, `WARNINGS: 2`, `unknown` or the error message, as the task lists write it.
    pub fn parse(status: &str) -> Option<Ended> {
        let status = status.trim();
        Some(if status == "OK" {
            Ended::Ok
        } else if status == "unknown" {
            Ended::Unknown
        } else if let Some(n) = status.strip_prefix("WARNINGS: ") {
            Ended::Warnings(n.trim().parse().ok()?)
        } else if status.is_empty() {
            return None;
        } else {
            let message = status.strip_prefix("ERROR: ").unwrap_or(status);
            Ended::Error(sanitize(message, MAX_ERROR_CHARS))
        })
    }

    /// A backup that ended this way wrote its restore points.
    pub fn succeeded(&self) -> bool {
        matches!(self, Ended::Ok | Ended::Warnings(_))
    }
}

/// One task of a task list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub upid: Upid,
    /// End (UTC ms) and status; `None` while it runs.
    pub end: Option<(i64, Ended)>,
}

/// A task list's tasks, and how many of its lines were not tasks.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct TaskList {
    pub entries: Vec<Entry>,
    pub bad_lines: usize,
}

/// Parses a task list (any of `active`, `index`, `archive`).
pub fn parse_list(text: &str) -> TaskList {
    let mut list = TaskList::default();
    for line in text.lines() {
        if line.trim().is_empty() {
            continue;
        }
        match parse_line(line) {
            Some(e) => list.entries.push(e),
            None => list.bad_lines += 1,
        }
    }
    list
}

fn parse_line(line: &str) -> Option<Entry> {
    if line.chars().count() > MAX_LINE_CHARS {
        return None;
    }
    let mut parts = line.splitn(3, ' ');
    let upid = upid::parse(parts.next()?)?;
    let end = match (parts.next(), parts.next()) {
        (None, _) => None,
        (Some(hex), Some(status)) => {
            if hex.len() != 8 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return None;
            }
            let secs = i64::from_str_radix(hex, 16).ok()?;
            Some((secs.saturating_mul(1000), Ended::parse(status)?))
        }
        (Some(_), None) => return None,
    };
    Some(Entry { upid, end })
}

/// What a task's own log says.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct LogFacts {
    /// The final `TASK …` line, with its time when the line carries one (PBS).
    pub ended: Option<(Option<i64>, Ended)>,
    /// The first error lines: vzdump's per-guest verdicts (`ERROR: Backup of … failed - …`) first,
    /// then any other `ERROR:` line. Sanitized, cut.
    pub errors: Vec<String>,
    /// vzdump: guests started and guests failed in the part of the log read.
    pub guests_started: u64,
    pub guests_failed: u64,
}

/// The message of a log line: after PBS's `<RFC 3339 time>: ` prefix when there is one.
fn message(line: &str) -> (Option<i64>, &str) {
    if let Some((head, rest)) = line.split_once(": ") {
        if let Some(t) = timefmt::rfc3339_ms(head) {
            return (Some(t), rest);
        }
    }
    (None, line)
}

/// Parses (the tail of) a task log.
pub fn parse_log(text: &str) -> LogFacts {
    let mut facts = LogFacts::default();
    let mut verdicts = Vec::new();
    let mut others = Vec::new();
    for line in text.lines() {
        let (at, msg) = message(line.trim_end());
        if let Some(status) = msg.strip_prefix("TASK ") {
            if let Some(ended) = Ended::parse(status) {
                facts.ended = Some((at, ended));
            }
            continue;
        }
        if msg.starts_with("INFO: Starting Backup of ") {
            facts.guests_started += 1;
        }
        if let Some(err) = msg.strip_prefix("ERROR: ") {
            let kept = sanitize(err.trim(), MAX_ERROR_CHARS);
            if err.starts_with("Backup of ") && err.contains(" failed - ") {
                facts.guests_failed += 1;
                verdicts.push(kept);
            } else {
                others.push(kept);
            }
        }
    }
    facts.errors = verdicts
        .into_iter()
        .chain(others)
        .take(MAX_ERRORS)
        .collect();
    facts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        assert_eq!(Ended::parse("OK"), Some(Ended::Ok));
        assert_eq!(Ended::parse("WARNINGS: 2"), Some(Ended::Warnings(2)));
        assert_eq!(Ended::parse("WARNINGS: x"), None);
        assert_eq!(Ended::parse("unknown"), Some(Ended::Unknown));
        assert_eq!(
            Ended::parse("ERROR: job errors"),
            Some(Ended::Error("job errors".into()))
        );
        assert_eq!(
            Ended::parse("job errors\u{1b}[2J"),
            Some(Ended::Error("job errors?[2J".into()))
        );
        assert_eq!(Ended::parse(""), None);
    }

    #[test]
    fn pve_index_and_active() {
        let index = parse_list(include_str!("../fixtures/proxmox/pve-index"));
        assert_eq!(index.bad_lines, 2, "{index:?}");
        let got: Vec<(&str, Option<(i64, Ended)>)> = index
            .entries
            .iter()
            .map(|e| (e.upid.worker_type.as_str(), e.end.clone()))
            .collect();
        assert_eq!(
            got,
            [
                (
                    "vzdump",
                    Some((
                        1_795_568_579_000,
                        Ended::Error(
                            "could not activate storage 'nas-mairie': storage 'nas-mairie' is not online"
                                .into()
                        )
                    ))
                ),
                ("vzdump", Some((1_795_655_560_000, Ended::Ok))),
                ("qmstart", Some((1_795_680_003_000, Ended::Ok))),
                (
                    "vzdump",
                    Some((1_795_742_050_000, Ended::Error("job errors".into())))
                ),
                (
                    "vncproxy",
                    Some((
                        1_795_772_400_000,
                        Ended::Error("Failed to run vncproxy.".into())
                    ))
                ),
                ("vzdump", Some((1_795_828_385_000, Ended::Warnings(1)))),
            ]
        );
        let active = parse_list(include_str!("../fixtures/proxmox/pve-active"));
        assert_eq!(active.bad_lines, 0);
        assert_eq!(active.entries.len(), 2);
        assert_eq!(active.entries[0].end, None);
        assert_eq!(active.entries[0].upid.start_ms, 1_795_914_003_000);
    }

    #[test]
    fn pve_vzdump_logs() {
        let ok = parse_log(include_str!("../fixtures/proxmox/pve-vzdump-ok.log"));
        assert_eq!(ok.ended, Some((None, Ended::Ok)));
        assert_eq!((ok.guests_started, ok.guests_failed), (2, 0));
        assert!(ok.errors.is_empty());
        let partial = parse_log(include_str!("../fixtures/proxmox/pve-vzdump-partial.log"));
        assert_eq!(
            partial.ended,
            Some((None, Ended::Error("job errors".into())))
        );
        assert_eq!((partial.guests_started, partial.guests_failed), (3, 1));
        assert_eq!(
            partial.errors[0],
            "Backup of VM 101 failed - VM 101 qmp command 'backup' failed - got timeout"
        );
        assert_eq!(partial.errors.len(), 3);
        let offline = parse_log(include_str!(
            "../fixtures/proxmox/pve-vzdump-storage-offline.log"
        ));
        assert_eq!(
            offline.ended,
            Some((
                None,
                Ended::Error(
                    "could not activate storage 'nas-mairie': storage 'nas-mairie' is not online"
                        .into()
                )
            ))
        );
        let warned = parse_log(include_str!("../fixtures/proxmox/pve-vzdump-warnings.log"));
        assert_eq!(warned.ended, Some((None, Ended::Warnings(1))));
    }

    #[test]
    fn pbs_logs_carry_their_time() {
        let ok = parse_log(include_str!("../fixtures/proxmox/pbs-backup-ok.log"));
        assert_eq!(ok.ended, Some((Some(1_795_827_616_000), Ended::Ok)));
        let failed = parse_log(include_str!("../fixtures/proxmox/pbs-backup-failed.log"));
        assert_eq!(
            failed.ended,
            Some((
                Some(1_795_741_411_000),
                Ended::Error("backup ended but finished flag is not set.".into())
            ))
        );
        // A running task's log has no TASK line; garbage has nothing at all.
        assert_eq!(
            parse_log("2026-11-28T02:00:02+01:00: starting new backup\n").ended,
            None
        );
        assert_eq!(parse_log("\u{0}\u{1}garbage\nTASK \n").ended, None);
    }
}
