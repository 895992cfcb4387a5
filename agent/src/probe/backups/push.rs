//! Push records: `vigie-agent backup-done` (called by a backup job, agent running or not) writes one
//! small JSON file per call into `STATE/spool/incoming/`; the backups probe reads the newest ones.
//!
//! The directory may be writable by a `vigie-push` group, so every record is hostile input: a
//! regular file only (no symlink is followed, which would let a local user make the agent read a
//! file it can read and they cannot), at most `MAX_RECORD_BYTES`, strict JSON, a declared job, a
//! sanitized and truncated message, and a time taken from the file's mtime, never later than now.
//! Bad records are ignored and named in `Backups.problems`. Not here: the command-line parsing.

use std::fs::{self, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::config::valid_name;
use super::{sanitize, MAX_MESSAGE_CHARS};
use crate::probe::fsutil;

/// Under the state directory.
pub const INCOMING_DIR: &str = "spool/incoming";
/// A real record is about 200 bytes; the message is cut at 1 KiB before writing.
pub const MAX_RECORD_BYTES: u64 = 4096;
/// Directory entries looked at per cycle: a flood is reported, not read.
const MAX_ENTRIES: usize = 4096;
const MAX_PROBLEMS: usize = 20;
const SUFFIX: &str = ".json";

/// What a run reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Started,
    Ok,
    Failed,
}

/// What the run was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    #[default]
    Backup,
    IntegrityCheck,
    RestoreTest,
}

/// The file format, version 1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    pub v: u32,
    pub job: String,
    #[serde(default)]
    pub kind: Kind,
    pub status: Status,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<u64>,
}

/// A record read back, with its time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub record: Record,
    pub at_ms: i64,
    pub path: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error("job name {0:?} is not valid (letters, digits, '.', '_', '-')")]
    BadJob(String),
    #[error("writing push record in {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Writes `record` into `state_dir/spool/incoming/` the durable way: created exclusively under a
/// dot-name the reader skips, fsynced, renamed, directory fsynced. Returns the final path.
pub fn write(state_dir: &Path, mut record: Record, now_ms: i64) -> Result<PathBuf, PushError> {
    if !valid_name(&record.job) {
        return Err(PushError::BadJob(record.job));
    }
    record.v = 1;
    record.message = sanitize(&record.message, MAX_MESSAGE_CHARS);
    let dir = state_dir.join(INCOMING_DIR);
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| PushError::Io { path, source }
    };
    fs::create_dir_all(&dir).map_err(io(&dir))?;
    let body = serde_json::to_vec(&record).map_err(|e| PushError::Io {
        path: dir.clone(),
        source: e.into(),
    })?;
    let unique = format!(
        "{now_ms}-{}-{:016x}",
        std::process::id(),
        rand::random::<u64>()
    );
    let tmp = dir.join(format!(".{unique}.tmp"));
    let dest = dir.join(format!("{unique}{SUFFIX}"));
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o640)
        .open(&tmp)
        .map_err(io(&tmp))?;
    f.write_all(&body)
        .and_then(|()| f.sync_all())
        .map_err(io(&tmp))?;
    drop(f);
    fs::rename(&tmp, &dest).map_err(io(&dest))?;
    fs::File::open(&dir)
        .and_then(|d| d.sync_all())
        .map_err(io(&dir))?;
    Ok(dest)
}

/// Reads every acceptable record in `dir` for the `declared` jobs; problems name the bad ones.
pub fn read(
    dir: &Path,
    declared: &[&str],
    now_ms: i64,
    problems: &mut Vec<String>,
) -> Vec<Received> {
    let mut out = Vec::new();
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return out,
        Err(e) => {
            problems.push(format!("push records: reading {}: {e}", dir.display()));
            return out;
        }
    };
    if let Ok(meta) = fs::metadata(dir) {
        if meta.permissions().mode() & 0o002 != 0 {
            problems.push(format!("push records: {} is world-writable", dir.display()));
        }
    }
    let mut bad: Vec<String> = Vec::new();
    for (i, entry) in rd.enumerate() {
        if i >= MAX_ENTRIES {
            bad.push(format!(
                "more than {MAX_ENTRIES} entries; the rest were not read"
            ));
            break;
        }
        let Ok(entry) = entry else { continue };
        let name = entry.file_name();
        let shown = sanitize(&name.to_string_lossy(), 80);
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        match read_one(&entry.path(), declared, now_ms) {
            Ok(r) => out.push(r),
            Err(why) => bad.push(format!("{shown}: {why}")),
        }
    }
    let extra = bad.len().saturating_sub(MAX_PROBLEMS);
    problems.extend(
        bad.into_iter()
            .take(MAX_PROBLEMS)
            .map(|b| format!("push record ignored: {b}")),
    );
    if extra > 0 {
        problems.push(format!("push records: {extra} more ignored"));
    }
    out
}

fn read_one(path: &Path, declared: &[&str], now_ms: i64) -> Result<Received, String> {
    if !path.to_string_lossy().ends_with(SUFFIX) {
        return Err("not a .json record".into());
    }
    // O_NOFOLLOW: a symlink fails to open instead of being followed; O_NONBLOCK: a FIFO cannot
    // stall the probe.
    let f = OpenOptions::new()
        .read(true)
        .custom_flags(libc_flags())
        .open(path)
        .map_err(|e| format!("cannot open: {}", e.kind()))?;
    let meta = f
        .metadata()
        .map_err(|e| format!("cannot stat: {}", e.kind()))?;
    if !meta.is_file() {
        return Err("not a regular file".into());
    }
    if meta.len() > MAX_RECORD_BYTES {
        return Err(format!(
            "{} bytes, more than {MAX_RECORD_BYTES}",
            meta.len()
        ));
    }
    let mut buf = Vec::new();
    f.take(MAX_RECORD_BYTES)
        .read_to_end(&mut buf)
        .map_err(|e| format!("cannot read: {}", e.kind()))?;
    let mut record: Record =
        serde_json::from_slice(&buf).map_err(|_| "not a valid push record".to_owned())?;
    if record.v != 1 {
        return Err(format!("unknown record version {}", record.v));
    }
    if !declared.contains(&record.job.as_str()) {
        let job = if valid_name(&record.job) {
            record.job.clone()
        } else {
            sanitize(&record.job, 64)
        };
        return Err(format!(
            "job {job:?} is not declared in probes.backups.jobs"
        ));
    }
    record.message = sanitize(&record.message, MAX_MESSAGE_CHARS);
    let at_ms = fsutil::mtime_ms(&meta).unwrap_or(now_ms).min(now_ms);
    Ok(Received {
        record,
        at_ms,
        path: path.to_path_buf(),
    })
}

/// `O_NOFOLLOW | O_NONBLOCK` on Linux (the values of every Linux architecture but alpha, sparc and
/// parisc, which Vigie does not target).
fn libc_flags() -> i32 {
    const O_NONBLOCK: i32 = 0o4000;
    const O_NOFOLLOW: i32 = 0o400000;
    O_NONBLOCK | O_NOFOLLOW
}

/// The records that a newer one of the same job, kind and status makes useless.
pub fn superseded(records: &[Received]) -> Vec<&Path> {
    records
        .iter()
        .filter(|r| {
            records.iter().any(|o| {
                o.record.job == r.record.job
                    && o.record.kind == r.record.kind
                    && o.record.status == r.record.status
                    && (o.at_ms, &o.path) > (r.at_ms, &r.path)
            })
        })
        .map(|r| r.path.as_path())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(job: &str, status: Status, message: &str) -> Record {
        Record {
            v: 1,
            job: job.into(),
            kind: Kind::Backup,
            status,
            message: message.into(),
            size_bytes: None,
        }
    }

    #[track_caller]
    fn check(files: &[(&str, &[u8])], expect: &[&str], expect_problems: &[&str]) {
        let dir = tempfile::tempdir().unwrap();
        for (name, body) in files {
            fs::write(dir.path().join(name), body).unwrap();
        }
        let mut problems = Vec::new();
        let mut got: Vec<String> = read(dir.path(), &["nightly"], i64::MAX, &mut problems)
            .into_iter()
            .map(|r| {
                format!(
                    "{} {:?} {}",
                    r.record.job, r.record.status, r.record.message
                )
            })
            .collect();
        got.sort();
        problems.sort();
        assert_eq!(got, expect);
        assert_eq!(problems, expect_problems);
    }

    #[test]
    fn hostile_records_are_ignored_and_named() {
        let huge = vec![b' '; 10_000];
        check(
            &[
                (
                    "1.json",
                    br#"{"v":1,"job":"nightly","status":"ok","message":"fine\u001b[2J"}"#,
                ),
                ("2.json", br#"{"v":1,"job":"other","status":"ok"}"#),
                ("3.json", b"{not json"),
                ("4.json", &huge),
                (
                    "5.json",
                    br#"{"v":1,"job":"nightly","status":"ok","extra":1}"#,
                ),
                ("6.txt", b"{}"),
                (".7.tmp", b"partial"),
                ("8.json", br#"{"v":2,"job":"nightly","status":"ok"}"#),
            ],
            &["nightly Ok fine?[2J"],
            &[
                "push record ignored: 2.json: job \"other\" is not declared in probes.backups.jobs",
                "push record ignored: 3.json: not a valid push record",
                "push record ignored: 4.json: 10000 bytes, more than 4096",
                "push record ignored: 5.json: not a valid push record",
                "push record ignored: 6.txt: not a .json record",
                "push record ignored: 8.json: unknown record version 2",
            ],
        );
        check(&[], &[], &[]);
    }

    #[test]
    fn symlinks_are_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("secret");
        fs::write(&target, br#"{"v":1,"job":"nightly","status":"ok"}"#).unwrap();
        let inc = dir.path().join("in");
        fs::create_dir(&inc).unwrap();
        std::os::unix::fs::symlink(&target, inc.join("l.json")).unwrap();
        let mut problems = Vec::new();
        assert!(read(&inc, &["nightly"], 0, &mut problems).is_empty());
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].starts_with("push record ignored: l.json: cannot open"),
            "{problems:?}"
        );
    }

    #[test]
    fn write_then_read_then_prune() {
        let dir = tempfile::tempdir().unwrap();
        let long = "é".repeat(5000);
        assert!(matches!(
            write(dir.path(), rec("../x", Status::Ok, ""), 1),
            Err(PushError::BadJob(_))
        ));
        write(dir.path(), rec("nightly", Status::Ok, ""), 1).unwrap();
        write(dir.path(), rec("nightly", Status::Ok, "second"), 2).unwrap();
        write(dir.path(), rec("nightly", Status::Failed, &long), 3).unwrap();
        let mut problems = Vec::new();
        let got = read(
            &dir.path().join(INCOMING_DIR),
            &["nightly"],
            i64::MAX,
            &mut problems,
        );
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(got.len(), 3);
        assert!(got
            .iter()
            .all(|r| r.record.message.chars().count() <= MAX_MESSAGE_CHARS));
        // The two ok records share a second-resolution mtime at worst: exactly one is superseded.
        assert_eq!(superseded(&got).len(), 1);
    }
}
