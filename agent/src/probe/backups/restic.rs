//! restic jobs: `restic -r REPO snapshots --json --no-lock --no-cache` with the job's own password
//! source (`RESTIC_PASSWORD_FILE` or `RESTIC_PASSWORD_COMMAND`), plus the status file where the job
//! keeps its `restic backup --json` output. `--no-lock` because a read-only user cannot take restic's
//! lock (and a stale lock must not blind us); `--no-cache` because the cache would be written under
//! the agent's home, outside its state directory.
//!
//! Per version: snapshots made by restic >= 0.17 carry a `summary` (start, end, sizes), older ones
//! only their start `time`, so size and duration stay unknown rather than 0. restic >= 0.17 exits
//! 10 (no repository), 11 (lock) and 12 (wrong password, >= 0.17.1); 0.14 exits 1 for all of them,
//! and only its (C-locale) stderr tells them apart.

use std::path::Path;

use serde::Deserialize;
use vigie_proto::v1::backup_job::Encryption;
use vigie_proto::v1::BackupJob;

use super::command::{self, Output};
use super::config::{Job, Secret, Settings};
use super::tail::{self, Follow};
use super::toolout::{self, stderr_excerpt, version_word, Points};
use super::{redact, sanitize, timefmt, JobError, MAX_MESSAGE_CHARS};
use crate::probe::fsutil;

/// The status file is read from its end: the summary is its last line.
const MAX_STATUS_BYTES: u64 = 1024 * 1024;
/// What restic says of repository files it cannot decrypt or parse.
const DAMAGE: &[&str] = &[
    // restic 0.14 panics on a config file it cannot decrypt; the trace names where.
    "restic.LoadConfig(",
    "invalid data returned",
    "ciphertext verification failed",
    "decrypting blob",
];
/// Damaged snapshots named in the job's problems at most.
const MAX_DAMAGED_SNAPSHOTS: usize = 5;

/// restic lists the snapshots it can read and exits 0 even when others are damaged; it only says
/// so on stderr (`could not load snapshot 1a2b3c4d: load <snapshot/1a2b3c4d5e>: invalid data
/// returned`). Each such line is a problem of the job: restore points are missing.
pub fn damaged_snapshots(stderr: &str, repository: Option<&str>) -> Vec<String> {
    stderr
        .lines()
        .filter(|l| l.contains("could not load snapshot"))
        .take(MAX_DAMAGED_SNAPSHOTS)
        .map(|l| {
            format!(
                "restic could not read a snapshot (repository damaged? run `restic check`): {}",
                stderr_excerpt(l, repository)
            )
        })
        .collect()
}

#[derive(Debug, Deserialize)]
struct RawSnapshot {
    #[serde(default)]
    time: String,
    #[serde(default)]
    id: String,
    #[serde(default)]
    summary: Option<RawSummary>,
}

#[derive(Debug, Deserialize)]
struct RawSummary {
    #[serde(default)]
    backup_start: Option<String>,
    #[serde(default)]
    backup_end: Option<String>,
    #[serde(default)]
    total_files_processed: Option<u64>,
    #[serde(default)]
    total_bytes_processed: Option<u64>,
}

/// What `snapshots --json` says.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Snapshots {
    pub count: u64,
    pub newest: Option<Snapshot>,
    pub problems: Vec<String>,
}

/// The newest snapshot.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub id: String,
    pub start_ms: i64,
    /// From `summary` (restic >= 0.17 snapshots only).
    pub end_ms: Option<i64>,
    pub files: Option<u64>,
    pub bytes: Option<u64>,
}

/// Parses the JSON array `restic snapshots --json` prints (any version).
pub fn parse_snapshots(out: &[u8]) -> Result<Snapshots, String> {
    let raw: Vec<RawSnapshot> = serde_json::from_slice(out)
        .map_err(|e| format!("snapshots --json is not a snapshot list: {e}"))?;
    let mut points: Points<Snapshot> = Points::default();
    for s in raw {
        let Some(time_ms) = timefmt::rfc3339_ms(&s.time) else {
            points.undated(|| {
                format!(
                    "snapshot {}: time {:?} is not RFC 3339",
                    sanitize(&s.id, 64),
                    sanitize(&s.time, 64)
                )
            });
            continue;
        };
        points.add(time_ms, || {
            let summary = s.summary.as_ref();
            Snapshot {
                id: sanitize(&s.id, 64),
                start_ms: summary
                    .and_then(|m| m.backup_start.as_deref())
                    .and_then(timefmt::rfc3339_ms)
                    .unwrap_or(time_ms),
                end_ms: summary
                    .and_then(|m| m.backup_end.as_deref())
                    .and_then(timefmt::rfc3339_ms),
                files: summary.and_then(|m| m.total_files_processed),
                bytes: summary.and_then(|m| m.total_bytes_processed),
            }
        });
    }
    Ok(Snapshots {
        count: points.count,
        newest: points.newest.map(|(_, n)| n),
        problems: points.problems,
    })
}

/// (major, minor) of a version string.
fn major_minor(v: &str) -> Option<(u64, u64)> {
    let mut it = v.split('.');
    Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
}

/// Why `snapshots` failed, from its exit code and stderr, per version.
pub fn classify(job: &Job, version: Option<&str>, out: &Output) -> JobError {
    let repository = redact(job.repository.as_deref().unwrap_or_default());
    let name = job.name.clone();
    let modern = version.and_then(major_minor).is_some_and(|v| v >= (0, 17));
    let err = out.stderr.as_str();
    match out.code {
        Some(10) if modern => {
            return JobError::RepositoryMissing {
                job: name,
                repository,
            }
        }
        Some(11) if modern => {
            return JobError::Locked {
                job: name,
                repository,
            }
        }
        Some(12) if modern => {
            return JobError::WrongPassword {
                job: name,
                repository,
            }
        }
        _ => {}
    }
    if err.contains("wrong password") {
        JobError::WrongPassword {
            job: name,
            repository,
        }
    } else if err.contains("Is there a repository at the following location?")
        || err.contains("repository does not exist")
        || err.contains("unable to open config file")
    {
        JobError::RepositoryMissing {
            job: name,
            repository,
        }
    } else if err.contains("repository is already locked") || err.contains("unable to create lock")
    {
        JobError::Locked {
            job: name,
            repository,
        }
    } else if let Some(detail) = toolout::damage(err, DAMAGE, job.repository.as_deref()) {
        JobError::Damaged {
            job: name,
            tool: "restic",
            repository,
            detail,
        }
    } else {
        JobError::ToolFailed {
            job: name,
            tool: "restic",
            status: out.status.clone(),
            stderr: stderr_excerpt(err, job.repository.as_deref()),
        }
    }
}

/// The last `summary` or `exit_error` line of a status file.
#[derive(Debug, PartialEq)]
pub enum StatusLine {
    Summary {
        snapshot_id: String,
        files: Option<u64>,
        bytes: Option<u64>,
        duration_secs: Option<f64>,
        start_ms: Option<i64>,
        end_ms: Option<i64>,
    },
    ExitError {
        code: i64,
        message: String,
    },
}

#[derive(Debug, Deserialize)]
struct RawLine {
    message_type: String,
    #[serde(default)]
    snapshot_id: Option<String>,
    #[serde(default)]
    total_files_processed: Option<u64>,
    #[serde(default)]
    total_bytes_processed: Option<u64>,
    #[serde(default)]
    total_duration: Option<f64>,
    #[serde(default)]
    backup_start: Option<String>,
    #[serde(default)]
    backup_end: Option<String>,
    #[serde(default)]
    code: Option<i64>,
    #[serde(default)]
    message: Option<String>,
}

/// The newest `summary`/`exit_error` line of `restic backup --json` output; other lines (status,
/// verbose, garbage) are skipped.
pub fn parse_status(text: &str) -> Option<StatusLine> {
    text.lines().rev().find_map(|line| {
        let raw: RawLine = serde_json::from_str(line.trim()).ok()?;
        match raw.message_type.as_str() {
            "summary" => Some(StatusLine::Summary {
                snapshot_id: sanitize(raw.snapshot_id.as_deref().unwrap_or_default(), 64),
                files: raw.total_files_processed,
                bytes: raw.total_bytes_processed,
                duration_secs: raw.total_duration.filter(|d| d.is_finite() && *d >= 0.0),
                start_ms: raw.backup_start.as_deref().and_then(timefmt::rfc3339_ms),
                end_ms: raw.backup_end.as_deref().and_then(timefmt::rfc3339_ms),
            }),
            "exit_error" => Some(StatusLine::ExitError {
                code: raw.code.unwrap_or(-1),
                message: sanitize(
                    raw.message.as_deref().unwrap_or_default(),
                    MAX_MESSAGE_CHARS,
                ),
            }),
            _ => None,
        }
    })
}

pub(super) fn env(job: &Job) -> Vec<(String, String)> {
    match &job.secret {
        Some(Secret::File(f)) => vec![("RESTIC_PASSWORD_FILE".into(), f.display().to_string())],
        Some(Secret::Command(argv)) => vec![("RESTIC_PASSWORD_COMMAND".into(), argv.join(" "))],
        None => Vec::new(),
    }
}

/// Fills `out` for a restic job.
pub async fn collect(
    job: &Job,
    s: &Settings,
    now_ms: i64,
    out: &mut BackupJob,
) -> Result<(), JobError> {
    let version = command::run(
        &job.name,
        "restic",
        &s.restic,
        &["version".to_owned()],
        &[],
        s.timeout,
    )
    .await?;
    let version = version_word(&String::from_utf8_lossy(&version.stdout));
    out.tool_version = version.clone().unwrap_or_default();
    // The status file first: it dates failures, which the snapshot list never shows, even when the
    // repository is unreachable now.
    if let Some(path) = &job.status_file {
        read_status(path, now_ms, out);
    }
    let repo = job.repository.clone().unwrap_or_default();
    let args: Vec<String> = [
        "-r",
        &repo,
        "snapshots",
        "--json",
        "--no-lock",
        "--no-cache",
    ]
    .iter()
    .map(|a| (*a).to_owned())
    .collect();
    let res = command::run(&job.name, "restic", &s.restic, &args, &env(job), s.timeout).await?;
    if res.code != Some(0) {
        return Err(classify(job, version.as_deref(), &res));
    }
    let snaps = parse_snapshots(&res.stdout).map_err(|reason| JobError::Output {
        job: job.name.clone(),
        tool: "restic",
        reason,
    })?;
    out.problems.extend(snaps.problems);
    out.problems
        .extend(damaged_snapshots(&res.stderr, job.repository.as_deref()));
    out.encryption = Encryption::Encrypted as i32;
    out.encryption_mode = "repository".to_owned();
    out.restore_points = snaps.count;
    out.restore_points_known = true;
    let mut facts = vec!["restore_points", "encryption"];
    if let Some(n) = snaps.newest {
        let success = n.end_ms.unwrap_or(n.start_ms).min(now_ms);
        if success >= out.last_success_ms {
            out.last_success_ms = success;
            out.last_snapshot_id = n.id.clone();
            facts.extend(["last_success_ms", "last_snapshot_id"]);
            if let (Some(end), true) = (n.end_ms, n.bytes.is_some()) {
                out.duration_ms = u64::try_from(end.saturating_sub(n.start_ms)).unwrap_or(0);
                out.duration_known = true;
                out.size_bytes = n.bytes.unwrap_or(0);
                out.files = n.files.unwrap_or(0);
                out.size_known = true;
                facts.extend(["size_bytes", "duration_ms", "files"]);
            }
            if out.last_start_ms < n.start_ms {
                out.last_start_ms = n.start_ms;
            }
        }
    }
    super::add_source(out, "cmd", "restic snapshots --json --no-lock", &facts);
    Ok(())
}

/// Reads the status file: the last run's result, size and duration. Unreadable or garbage is a
/// problem of the job, not an error: the repository may still answer.
fn read_status(path: &Path, now_ms: i64, out: &mut BackupJob) {
    let shown = path.display();
    let (text, mtime) = match tail::read_tail(path, MAX_STATUS_BYTES, Follow::Declared) {
        Ok((text, meta)) => (text, fsutil::mtime_ms(&meta)),
        Err(e) => {
            out.problems.push(sanitize(
                &format!("status file {shown}: {e}"),
                MAX_MESSAGE_CHARS,
            ));
            return;
        }
    };
    let at = mtime.unwrap_or(now_ms).min(now_ms);
    let locator = format!("{shown}");
    match parse_status(&text) {
        None => out.problems.push(sanitize(
            &format!("status file {shown}: no restic `summary` or `exit_error` line"),
            MAX_MESSAGE_CHARS,
        )),
        Some(StatusLine::ExitError { code, message }) => {
            out.last_failure_ms = at;
            out.last_failure_message = format!("restic exit {code}: {message}");
            super::add_source(
                out,
                "file",
                &locator,
                &["last_failure_ms", "last_failure_message"],
            );
        }
        Some(StatusLine::Summary {
            snapshot_id,
            files,
            bytes,
            duration_secs,
            start_ms,
            end_ms,
        }) => {
            let end = end_ms.unwrap_or(at).min(now_ms);
            let duration_ms = match (start_ms, duration_secs) {
                (Some(s), _) => u64::try_from(end.saturating_sub(s)).ok(),
                (None, Some(d)) => Some((d * 1000.0) as u64),
                (None, None) => None,
            };
            out.last_success_ms = end;
            out.last_snapshot_id = snapshot_id;
            out.last_start_ms = start_ms.unwrap_or_else(|| {
                end.saturating_sub(i64::try_from(duration_ms.unwrap_or(0)).unwrap_or(0))
            });
            let mut facts = vec!["last_success_ms", "last_start_ms", "last_snapshot_id"];
            if let Some(b) = bytes {
                out.size_bytes = b;
                out.files = files.unwrap_or(0);
                out.size_known = true;
                facts.extend(["size_bytes", "files"]);
            }
            if let Some(d) = duration_ms {
                out.duration_ms = d;
                out.duration_known = true;
                facts.push("duration_ms");
            }
            super::add_source(out, "file", &locator, &facts);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The newest snapshot as (id, start, end, bytes).
    type Newest<'a> = Option<(&'a str, i64, Option<i64>, Option<u64>)>;

    #[track_caller]
    fn check(input: &[u8], expect: Result<(u64, Newest<'_>), &str>) {
        let got = parse_snapshots(input).map(|s| {
            (
                s.count,
                s.newest.map(|n| (n.id, n.start_ms, n.end_ms, n.bytes)),
            )
        });
        match (got, expect) {
            (Ok((count, newest)), Ok((want_count, want))) => {
                assert_eq!(count, want_count);
                let newest = newest
                    .as_ref()
                    .map(|(id, s, e, b)| (id.as_str(), *s, *e, *b));
                assert_eq!(newest, want);
            }
            (Err(e), Err(want)) => assert!(e.contains(want), "{e}"),
            (got, want) => panic!("got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn snapshots_per_version() {
        // restic 0.14 (Debian 12): no summary, so no end, size or duration.
        check(
            include_bytes!("fixtures/restic-0.14-snapshots.json"),
            Ok((
                1,
                Some((
                    "33b47cb4118d64e1a1e85f9b9eb4d35b31f1da4121a61ead381255d08d20df65",
                    1_795_881_895_024,
                    None,
                    None,
                )),
            )),
        );
        // restic 0.17: the newest of three (order in the list does not matter), with its summary.
        check(
            include_bytes!("fixtures/restic-0.17-snapshots.json"),
            Ok((
                3,
                Some((
                    "0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9",
                    1_795_741_202_000,
                    Some(1_795_741_382_000),
                    Some(53_687_095_296),
                )),
            )),
        );
        check(b"[]", Ok((0, None)));
        check(b"", Err("not a snapshot list"));
        check(b"{\"time\": 1}", Err("not a snapshot list"));
        check(&[0xff; 4096], Err("not a snapshot list"));
        // A snapshot with a bad time is a problem, not a crash, and is not counted.
        let snaps = parse_snapshots(br#"[{"time":"yesterday","id":"x\u001b"}]"#).unwrap();
        assert_eq!(snaps.count, 0);
        assert_eq!(
            snaps.problems,
            ["snapshot x?: time \"yesterday\" is not RFC 3339"]
        );
        // A huge list parses, bounded by the command's output cap.
        let big = format!(
            "[{}]",
            vec![r#"{"time":"2026-01-01T00:00:00Z","id":"a"}"#; 20_000].join(",")
        );
        check(
            big.as_bytes(),
            Ok((20_000, Some(("a", 1_767_225_600_000, None, None)))),
        );
    }

    #[track_caller]
    fn check_status(text: &str, expect: Option<StatusLine>) {
        assert_eq!(parse_status(text), expect);
    }

    #[test]
    fn status_file_lines() {
        check_status(
            include_str!("fixtures/restic-0.14-backup-status.jsonl"),
            Some(StatusLine::Summary {
                snapshot_id: "33b47cb4".into(),
                files: Some(2),
                bytes: Some(12),
                duration_secs: Some(0.235779036),
                start_ms: None,
                end_ms: None,
            }),
        );
        check_status(
            include_str!("fixtures/restic-0.17-backup-status.jsonl"),
            Some(StatusLine::Summary {
                snapshot_id: "0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9"
                    .into(),
                files: Some(40_229),
                bytes: Some(53_687_095_296),
                duration_secs: Some(180.25),
                start_ms: Some(1_795_741_202_000),
                end_ms: Some(1_795_741_382_250),
            }),
        );
        check_status(
            include_str!("fixtures/restic-0.17-backup-exit-error.jsonl"),
            Some(StatusLine::ExitError {
                code: 1,
                message: "Fatal: unable to save snapshot: sftp: \"no space left on device\"".into(),
            }),
        );
        check_status("garbage\n\u{0}\u{0}{not json\n", None);
        check_status("", None);
    }

    fn job(repo: &str) -> Job {
        Job {
            name: "nas".into(),
            tool: super::super::config::Tool::Restic,
            repository: Some(repo.into()),
            secret: None,
            expected_period_secs: 0,
            grace_secs: 0,
            destinations: Vec::new(),
            status_file: None,
            paths: Vec::new(),
            unit: None,
            borg_security_dir: None,
            borg_keys_dir: None,
            borgmatic_checks_dir: None,
            log_file: None,
            task_dir: None,
            datastore: None,
            backup_group: None,
        }
    }

    #[track_caller]
    fn check_classify(version: &str, code: i32, stderr: &str, expect: &str) {
        let out = Output {
            code: Some(code),
            status: format!("exit status: {code}"),
            stdout: Vec::new(),
            stderr: stderr.into(),
        };
        let err = classify(&job("rest:https://u:hunter2@h/r"), Some(version), &out);
        assert_eq!(format!("{} {err}", err.code()), expect);
    }

    #[test]
    fn failures_per_version() {
        check_classify("0.14.0", 1, "Fatal: wrong password or no key found\n",
            "AG0202 job nas: wrong password for repository rest:https://u:***@h/r (or no key found)");
        check_classify("0.14.0", 1, "Fatal: unable to open config file: stat /x/config: no such file or directory\nIs there a repository at the following location?\n/x\n",
            "AG0203 job nas: repository rest:https://u:***@h/r does not exist or is unreachable");
        check_classify(
            "0.17.3",
            10,
            "",
            "AG0203 job nas: repository rest:https://u:***@h/r does not exist or is unreachable",
        );
        check_classify(
            "0.17.3",
            11,
            "",
            "AG0204 job nas: repository rest:https://u:***@h/r is locked",
        );
        check_classify("0.17.3", 12, "", "AG0202 job nas: wrong password for repository rest:https://u:***@h/r (or no key found)");
        // 0.14 has no code 12: it stays a plain failure, with the repository redacted in stderr.
        check_classify("0.14.0", 12, "Fatal: rest:https://u:hunter2@h/r: connection refused\n",
            "AG0205 job nas: restic failed (exit status: 12): Fatal: rest:https://u:***@h/r: connection refused");
        // A damaged repository, and a crash: the one line that matters.
        check_classify("0.14.0", 1, "Fatal: load <index/99be291708>: invalid data returned\n",
            "AG0213 job nas: repository rest:https://u:***@h/r is damaged, run `restic check`: Fatal: load <index/99be291708>: invalid data returned");
        check_classify("0.14.0", 2, "panic: runtime error: slice bounds out of range [16:5]\n\ngoroutine 1 [running]:\n",
            "AG0205 job nas: restic failed (exit status: 2): panic: runtime error: slice bounds out of range [16:5]");
        assert_eq!(
            damaged_snapshots("could not load snapshot b229ec92: load <snapshot/b229ec920e>: invalid data returned\n", None),
            ["restic could not read a snapshot (repository damaged? run `restic check`): could not load snapshot b229ec92: load <snapshot/b229ec920e>: invalid data returned"]
        );
    }
}
