//! Proxmox jobs, read from the task lists and task logs the product keeps on the host itself, with
//! no credentials and no network (reference/evidence-sources.md §1.4):
//! - `vzdump` (on a Proxmox VE node): every `vzdump` task of the node (`/var/log/pve/tasks`), i.e.
//!   its scheduled backup jobs and manual backups; a job that backed up some guests but not others
//!   ended with `job errors` and is a failed run, whose message names the guests that failed;
//! - `pbs` (on a Proxmox Backup Server): the `backup` tasks of one datastore (optionally one backup
//!   group such as `vm/100`) in `/var/log/proxmox-backup/tasks`, and its `verify`/`verificationjob`
//!   tasks as integrity checks.
//!
//! The task lists (`active`, `index`, `archive`, and the uncompressed previous `archive.1`/`index.1`)
//! are read from their end, bounded. When they hold no finished run of the job (PBS just rotated its
//! archive into a compressed file), the task logs themselves are scanned, bounded too. Times are the
//! tasks' own (hex epoch seconds in the UPID and list, RFC 3339 in PBS logs): UTC, no zone to guess.
//! `WARNINGS: n` is a success with a problem; `unknown` (killed, power loss) is a failure. A task
//! listed as active with no end is a run in progress (the collector's grace turns one that never
//! ends into "down"). Not here: the UPID format (`upid.rs`), the line formats (`tasklog.rs`).

mod tasklog;
mod upid;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use vigie_proto::v1::BackupJob;

use super::config::{Job, Tool};
use super::tail::{self, Follow};
use super::{sanitize, JobError, MAX_MESSAGE_CHARS};
use crate::probe::fsutil;
use tasklog::{Ended, Entry};

/// Default task directory of Proxmox VE.
pub const PVE_TASK_DIR: &str = "/var/log/pve/tasks";
/// Default task directory of Proxmox Backup Server.
pub const PBS_TASK_DIR: &str = "/var/log/proxmox-backup/tasks";
/// The task lists read, newest first (the order only matters for the problems' order).
const LISTS: &[&str] = &["active", "index", "archive", "index.1", "archive.1"];
/// Each task list is read from its end, at most this much: thousands of tasks.
const MAX_LIST_BYTES: u64 = 1024 * 1024;
/// A task log is read from its end, at most this much (a vzdump of hundreds of guests).
const MAX_LOG_BYTES: u64 = 1024 * 1024;
/// Task-log file names looked at when the lists have nothing, over all subdirectories.
const MAX_SCANNED_LOGS: usize = 50_000;
/// Newest task logs whose status is read in that scan.
const MAX_SCANNED_READS: usize = 16;

/// The task types that are this job's runs, and those that are its integrity checks.
fn types(tool: Tool) -> (&'static [&'static str], &'static [&'static str]) {
    match tool {
        Tool::Pbs => (&["backup"], &["verify", "verificationjob"]),
        _ => (&["vzdump"], &[]),
    }
}

/// Whether a task of `worker_id` belongs to the job: PBS tasks of its datastore (and group).
fn mine(job: &Job, worker_id: &str) -> bool {
    let Some(store) = job.datastore.as_deref() else {
        return true;
    };
    let Some(rest) = worker_id.strip_prefix(store) else {
        return false;
    };
    match (rest, job.backup_group.as_deref()) {
        ("", None) => true,
        (r, None) => r.starts_with(':'),
        (r, Some(group)) => r
            .strip_prefix(':')
            .is_some_and(|g| g == group || g.starts_with(&format!("{group}/"))),
    }
}

/// The job's task directory as a path under `root`.
fn task_dir(job: &Job, root: &Path) -> (PathBuf, String) {
    let declared = job.task_dir.clone().unwrap_or_else(|| {
        PathBuf::from(if job.tool == Tool::Pbs {
            PBS_TASK_DIR
        } else {
            PVE_TASK_DIR
        })
    });
    let shown = declared.display().to_string();
    (fsutil::resolve_in_root(root, &shown), shown)
}

/// Fills `out` for a `vzdump` or `pbs` job.
pub fn collect(job: &Job, root: &Path, now_ms: i64, out: &mut BackupJob) -> Result<(), JobError> {
    let (dir, shown) = task_dir(job, root);
    let meta = std::fs::metadata(&dir).map_err(|source| JobError::Read {
        job: job.name.clone(),
        path: PathBuf::from(&shown),
        source,
    })?;
    if !meta.is_dir() {
        return Err(JobError::Read {
            job: job.name.clone(),
            path: PathBuf::from(&shown),
            source: std::io::Error::other("not a directory"),
        });
    }
    let (runs, checks) = types(job.tool);
    // Every task of ours, by UPID: a task may be in `active` (ended, not yet moved) and `archive`.
    let mut tasks: BTreeMap<String, Entry> = BTreeMap::new();
    let mut read_lists = Vec::new();
    for name in LISTS {
        let path = dir.join(name);
        let text = match tail::read_tail(&path, MAX_LIST_BYTES, Follow::Never) {
            Ok((text, _)) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => {
                out.problems
                    .push(sanitize(&format!("{shown}/{name}: {e}"), MAX_MESSAGE_CHARS));
                continue;
            }
        };
        read_lists.push(*name);
        let list = tasklog::parse_list(&text);
        if list.bad_lines > 0 {
            out.problems.push(format!(
                "{}/{name}: {} line(s) are not tasks and were ignored",
                sanitize(&shown, 200),
                list.bad_lines
            ));
        }
        for e in list.entries {
            let wanted = runs.contains(&e.upid.worker_type.as_str())
                || checks.contains(&e.upid.worker_type.as_str());
            if !wanted || !mine(job, &e.upid.worker_id) {
                continue;
            }
            let known = tasks.get(&e.upid.text).is_some_and(|k| k.end.is_some());
            if !known {
                tasks.insert(e.upid.text.clone(), e);
            }
        }
    }
    let finished_run = |t: &Entry| t.end.is_some() && runs.contains(&t.upid.worker_type.as_str());
    let mut facts = Vec::new();
    if !tasks.values().any(finished_run) {
        let scanned = scan_logs(job, &dir, runs, checks);
        if !scanned.is_empty() {
            out.problems.push(format!(
                "{}: no finished run in the task lists (rotated?); read from the task logs",
                sanitize(&shown, 200)
            ));
        }
        for e in scanned {
            tasks.entry(e.upid.text.clone()).or_insert(e);
        }
    }
    if read_lists.is_empty() && tasks.is_empty() {
        return Err(JobError::Read {
            job: job.name.clone(),
            path: PathBuf::from(format!("{shown}/active")),
            source: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no task list (active, index, archive) and no task log",
            ),
        });
    }
    let runs_of = |finished: bool| {
        tasks.values().filter(move |t| {
            runs.contains(&t.upid.worker_type.as_str()) && t.end.is_some() == finished
        })
    };
    let newest = |pred: &dyn Fn(&Ended) -> bool| {
        runs_of(true)
            .filter_map(|t| t.end.as_ref().map(|(at, e)| (*at, e, t)))
            .filter(|(_, e, _)| pred(e))
            .max_by_key(|(at, _, t)| (*at, t.upid.start_ms))
    };
    if let Some((at, ended, t)) = newest(&Ended::succeeded) {
        out.last_success_ms = at.min(now_ms);
        out.duration_ms = u64::try_from(at.saturating_sub(t.upid.start_ms)).unwrap_or(0);
        out.duration_known = true;
        facts.extend(["last_success_ms", "duration_ms"]);
        if let Ended::Warnings(n) = ended {
            out.problems.push(format!(
                "the newest successful run ended with {n} warning(s) (task log {})",
                sanitize(
                    &t.upid.log_path(Path::new(&shown)).display().to_string(),
                    300
                )
            ));
        }
    }
    if let Some((at, ended, t)) = newest(&|e| !e.succeeded()) {
        out.last_failure_ms = at.min(now_ms);
        out.last_failure_message = failure_message(ended, &t.upid, &dir);
        facts.extend(["last_failure_ms", "last_failure_message"]);
    }
    let starts = tasks
        .values()
        .filter(|t| runs.contains(&t.upid.worker_type.as_str()))
        .map(|t| t.upid.start_ms);
    if let Some(start) = starts.max() {
        out.last_start_ms = start.min(now_ms);
        facts.push("last_start_ms");
    }
    // Running: listed with no end, started after the newest end (an older one left in `active` by
    // a crash is not "running" once a newer run ended).
    let newest_end = out.last_success_ms.max(out.last_failure_ms);
    if runs_of(false).any(|t| t.upid.start_ms > newest_end) {
        out.running = true;
        facts.push("running");
    }
    let verified = tasks
        .values()
        .filter(|t| checks.contains(&t.upid.worker_type.as_str()))
        .filter_map(|t| t.end.as_ref().map(|(at, e)| (*at, e)))
        .max_by_key(|(at, _)| *at);
    match verified {
        Some((at, e)) if e.succeeded() => {
            out.last_integrity_check_ms = at.min(now_ms);
            facts.push("last_integrity_check_ms");
        }
        Some((_, Ended::Error(m))) => out
            .problems
            .push(format!("the newest verification failed: {m}")),
        Some(_) => out
            .problems
            .push("the newest verification ended without a status".to_owned()),
        None => {}
    }
    let locator = format!("{shown}/{{{}}}", LISTS.join(","));
    super::add_source(out, "file", &locator, &facts);
    Ok(())
}

/// A failed run's message: the status, and for vzdump the guests that failed, from its task log.
fn failure_message(ended: &Ended, upid: &upid::Upid, dir: &Path) -> String {
    let status = match ended {
        Ended::Error(m) => m.clone(),
        _ => "the task ended without a status (killed, crash or power loss)".to_owned(),
    };
    let Ok((text, _)) = tail::read_tail(&upid.log_path(dir), MAX_LOG_BYTES, Follow::Never) else {
        return status;
    };
    let facts = tasklog::parse_log(&text);
    let mut message = status;
    if facts.guests_failed > 0 {
        message.push_str(&format!(
            " ({} of {} guest(s) failed)",
            facts.guests_failed, facts.guests_started
        ));
    }
    if let Some(first) = facts.errors.first() {
        if !message.contains(first.as_str()) {
            message.push_str(": ");
            message.push_str(first);
        }
    }
    sanitize(&message, MAX_MESSAGE_CHARS)
}

/// When the lists have no finished run: the task logs of the job's types, newest first, with the
/// status their last line gives (PBS: the line's time; PVE: the file's mtime). Bounded.
fn scan_logs(job: &Job, dir: &Path, runs: &[&str], checks: &[&str]) -> Vec<Entry> {
    let Ok(subdirs) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut seen = 0usize;
    let mut found: Vec<upid::Upid> = Vec::new();
    for sub in subdirs.flatten() {
        let name = sub.file_name();
        let name = name.to_string_lossy();
        let is_task_subdir = (1..=2).contains(&name.len())
            && name.bytes().all(|b| b.is_ascii_hexdigit())
            && sub.file_type().is_ok_and(|t| t.is_dir());
        if !is_task_subdir {
            continue;
        }
        let Ok(files) = std::fs::read_dir(sub.path()) else {
            continue;
        };
        for f in files.flatten() {
            seen += 1;
            if seen > MAX_SCANNED_LOGS {
                break;
            }
            let Some(u) = upid::parse(&f.file_name().to_string_lossy()) else {
                continue;
            };
            let t = u.worker_type.as_str();
            if (runs.contains(&t) || checks.contains(&t)) && mine(job, &u.worker_id) {
                found.push(u);
            }
        }
    }
    found.sort_by_key(|u| std::cmp::Reverse(u.start_ms));
    found
        .into_iter()
        .take(MAX_SCANNED_READS)
        .filter_map(|u| {
            let (text, meta) =
                tail::read_tail(&u.log_path(dir), MAX_LOG_BYTES, Follow::Never).ok()?;
            let (at, ended) = tasklog::parse_log(&text).ended?;
            let at = at.or_else(|| fsutil::mtime_ms(&meta))?;
            Some(Entry {
                upid: u,
                end: Some((at, ended)),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests;
