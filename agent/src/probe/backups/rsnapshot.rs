//! rsnapshot jobs: the end of rsnapshot's own log (`logfile` in rsnapshot.conf). Each run logs
//! `[28/Nov/2026:03:00:01] /usr/bin/rsnapshot daily: started`, then `... completed successfully`,
//! `... completed, but with some warnings` (a restore point was written; rsync warned), or
//! `ERROR: ...` lines and `... completed, but with some errors` (a failure).
//!
//! rsnapshot logs local wall-clock time without a zone. As for apt's logs, the log's mtime is when
//! its last line was written, so (last line − mtime), rounded to a quarter hour, is the host's UTC
//! offset; when they are too far apart the times are read as UTC and the job says so. Not here: the
//! rsnapshot configuration (intervals, destinations are declared in the agent config).

use std::path::Path;

use vigie_proto::v1::BackupJob;

use super::config::Job;
use super::tail::{self, Follow};
use super::{sanitize, JobError, MAX_MESSAGE_CHARS};
use crate::probe::fsutil;

/// Only the end of the log is read: a run writes a handful of lines.
const MAX_TAIL_BYTES: u64 = 1024 * 1024;
const QUARTER_HOUR_MS: i64 = 15 * 60 * 1000;
const MAX_UTC_OFFSET_MS: i64 = 14 * 3600 * 1000;

/// What the log says, times still local (as if UTC).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Log {
    pub last_start: Option<i64>,
    pub last_success: Option<i64>,
    /// The newest success ended with warnings.
    pub success_warned: bool,
    pub last_failure: Option<(i64, String)>,
    /// Time of the newest dated line, for the offset.
    pub last_line: Option<i64>,
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `28/Nov/2026:03:00:01` as milliseconds, read as UTC.
fn stamp_ms(text: &str) -> Option<i64> {
    let (date, time) = text.split_once(':')?;
    let mut d = date.split('/');
    let (day, mon, year) = (d.next()?, d.next()?, d.next()?);
    let month = MONTHS.iter().position(|m| *m == mon)? + 1;
    let iso = format!("{year}-{month:02}-{day:0>2}T{time}");
    super::timefmt::naive_ms(&iso, 0)
}

/// Parses log text; lines that are not rsnapshot's are skipped.
pub fn parse(text: &str) -> Log {
    let mut log = Log::default();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix('[') else {
            continue;
        };
        let Some((stamp, rest)) = rest.split_once("] ") else {
            continue;
        };
        let Some(at) = stamp_ms(stamp) else { continue };
        log.last_line = log.last_line.max(Some(at));
        // `/usr/bin/rsnapshot daily: what`; the program path has no `: `.
        let Some((_who, what)) = rest.split_once(": ") else {
            continue;
        };
        let what = what.trim();
        if what == "started" {
            log.last_start = log.last_start.max(Some(at));
        } else if what == "completed successfully" || what == "completed, but with some warnings" {
            if log.last_success.is_none_or(|s| at >= s) {
                log.last_success = Some(at);
                log.success_warned = what.ends_with("warnings");
            }
        } else if what.starts_with("ERROR:") || what == "completed, but with some errors" {
            let newer = log.last_failure.as_ref().is_none_or(|(t, _)| at > *t);
            // The first ERROR line of a run says what went wrong; the closing line says less.
            let keep_message = log
                .last_failure
                .as_ref()
                .is_some_and(|(t, m)| *t == at && m.starts_with("ERROR:"));
            if newer || (!keep_message && what.starts_with("ERROR:")) {
                log.last_failure = Some((at, sanitize(what, MAX_MESSAGE_CHARS)));
            }
        }
    }
    log
}

/// The local-to-UTC shift (ms to subtract) from the newest line and the file's mtime.
pub fn offset_ms(last_line: i64, mtime_ms: i64) -> Option<i64> {
    let raw = last_line.saturating_sub(mtime_ms);
    let rounded = (raw + raw.signum() * QUARTER_HOUR_MS / 2) / QUARTER_HOUR_MS;
    Some(rounded * QUARTER_HOUR_MS).filter(|o| o.abs() <= MAX_UTC_OFFSET_MS)
}

/// Fills `out` for an rsnapshot job from the end of its log.
pub fn collect(job: &Job, root: &Path, now_ms: i64, out: &mut BackupJob) -> Result<(), JobError> {
    let Some(log_file) = &job.log_file else {
        return Ok(());
    };
    let path = fsutil::resolve_in_root(root, &log_file.to_string_lossy());
    let read_err = |source| JobError::Read {
        job: job.name.clone(),
        path: log_file.clone(),
        source,
    };
    let (text, meta) =
        tail::read_tail(&path, MAX_TAIL_BYTES, Follow::Declared).map_err(read_err)?;
    let log = parse(&text);
    let shift = match (log.last_line, fsutil::mtime_ms(&meta)) {
        (Some(last), Some(mtime)) => offset_ms(last, mtime),
        (None, _) => Some(0),
        _ => None,
    };
    let shift = shift.unwrap_or_else(|| {
        out.problems.push(format!(
            "{}: its times could not be placed in UTC (mtime far from the last entry); read as UTC",
            sanitize(&log_file.display().to_string(), 200)
        ));
        0
    });
    let utc = |t: i64| t.saturating_sub(shift).min(now_ms);
    let mut facts = Vec::new();
    if let Some(t) = log.last_start {
        out.last_start_ms = utc(t);
        facts.push("last_start_ms");
    }
    if let Some(t) = log.last_success {
        out.last_success_ms = utc(t);
        facts.push("last_success_ms");
        if log.success_warned {
            out.problems
                .push("the newest rsnapshot run completed with warnings".to_owned());
        }
    }
    if let Some((t, message)) = log.last_failure {
        out.last_failure_ms = utc(t);
        out.last_failure_message = message;
        facts.extend(["last_failure_ms", "last_failure_message"]);
    }
    super::add_source(out, "file", &log_file.display().to_string(), &facts);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-11-28T03:00:01 read as UTC.
    const T0: i64 = 1_795_834_801_000;

    #[track_caller]
    fn check(text: &str, expect: Log) {
        assert_eq!(parse(text), expect);
    }

    #[test]
    fn rsnapshot_logs() {
        check(
            include_str!("fixtures/rsnapshot-success.log"),
            Log {
                last_start: Some(T0 + 86_400_000),
                last_success: Some(T0 + 86_400_000 + 764_000),
                success_warned: false,
                last_failure: None,
                last_line: Some(T0 + 86_400_000 + 764_000),
            },
        );
        check(
            include_str!("fixtures/rsnapshot-warning.log"),
            Log {
                last_start: Some(T0),
                last_success: Some(T0 + 764_000),
                success_warned: true,
                last_failure: None,
                last_line: Some(T0 + 764_000),
            },
        );
        check(
            include_str!("fixtures/rsnapshot-error.log"),
            Log {
                last_start: Some(T0 + 86_400_000),
                last_success: Some(T0 + 764_000),
                success_warned: false,
                last_failure: Some((
                    T0 + 86_400_000 + 1000,
                    "ERROR: /usr/bin/rsync returned 255 while processing root@mairie-srv:/etc/"
                        .to_owned(),
                )),
                last_line: Some(T0 + 86_400_000 + 1000),
            },
        );
        check("", Log::default());
        check(
            "[32/Foo/2026:03:00:01] x: started\ngarbage\n",
            Log::default(),
        );
    }

    #[test]
    fn offsets_round_to_a_quarter_hour() {
        assert_eq!(offset_ms(T0, T0 - 3_600_000 + 2_000), Some(3_600_000));
        assert_eq!(offset_ms(T0, T0 + 5_000), Some(0));
        assert_eq!(offset_ms(T0, T0 - 86_400_000), None);
    }

    #[test]
    fn collect_places_times_in_utc_with_the_mtime() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("rsnapshot.log");
        std::fs::write(&log, include_str!("fixtures/rsnapshot-warning.log")).unwrap();
        // Written at 03:12:45 local = 02:12:45 UTC: the host is at UTC+1.
        let f = std::fs::File::options().append(true).open(&log).unwrap();
        let mtime = std::time::UNIX_EPOCH
            + std::time::Duration::from_millis(u64::try_from(T0 + 764_000 - 3_600_000).unwrap());
        f.set_modified(mtime).unwrap();
        let cfg: super::super::config::BackupsConfig = toml::from_str(&format!(
            "[[jobs]]\nname = \"r\"\ntool = \"rsnapshot\"\nlog_file = \"{}\"\n",
            log.display()
        ))
        .unwrap();
        let s = cfg.settings().unwrap();
        let mut out = BackupJob::default();
        collect(&s.jobs[0], Path::new("/"), i64::MAX, &mut out).unwrap();
        assert_eq!(out.last_success_ms, T0 + 764_000 - 3_600_000);
        assert_eq!(out.last_start_ms, T0 - 3_600_000);
        assert_eq!(
            out.problems,
            ["the newest rsnapshot run completed with warnings"]
        );
    }
}
