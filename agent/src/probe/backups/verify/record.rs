//! Restore-test records: `vigie-agent backup-verify` writes one JSON file per job,
//! `STATE/backups/restore-tests/JOB.json`, replaced atomically at each test (exclusive create under
//! a dot-name, fsync, rename, directory fsync); the backups probe reads them back as
//! `BackupJob.restore_test` with source `backup-verify`.
//!
//! Unlike the push records, this directory is the agent's own (not group-writable), but a record is
//! still read as untrusted input: regular file only, no symlink followed, bounded, strict JSON, its
//! time never later than now, its message sanitized. Not here: running the test.

use std::fs::{self, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use vigie_proto::v1::BackupRestoreTest;

use super::super::config::valid_name;
use super::super::{sanitize, MAX_MESSAGE_CHARS};

/// Under the state directory.
pub const RESTORE_TESTS_DIR: &str = "backups/restore-tests";
/// `BackupRestoreTest.source` of these records.
pub const SOURCE: &str = "backup-verify";
const MAX_RECORD_BYTES: u64 = 8192;
const O_NOFOLLOW_NONBLOCK: i32 = 0o400000 | 0o4000;

/// The file format, version 1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    pub v: u32,
    pub job: String,
    pub at_ms: i64,
    pub ok: bool,
    #[serde(default)]
    pub snapshot_id: String,
    #[serde(default)]
    pub files_compared: u64,
    #[serde(default)]
    pub files_differing: u64,
    /// Sampled files passed over because their source changed since the restore point.
    #[serde(default)]
    pub files_skipped: u64,
    #[serde(default)]
    pub message: String,
    /// Time of the newest passing test of this job, this one or an earlier one (a failed test
    /// replaces the file but must not erase the last success); 0 when none.
    #[serde(default)]
    pub last_ok_ms: i64,
}

impl Record {
    pub fn to_wire(&self) -> BackupRestoreTest {
        BackupRestoreTest {
            at_ms: self.at_ms,
            ok: self.ok,
            snapshot_id: sanitize(&self.snapshot_id, 128),
            files_compared: self.files_compared,
            files_differing: self.files_differing,
            message: sanitize(&self.message, MAX_MESSAGE_CHARS),
            source: SOURCE.to_owned(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("job name {0:?} is not valid (letters, digits, '.', '_', '-')")]
    BadJob(String),
    #[error("writing restore-test record in {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Writes `record` as `state_dir/backups/restore-tests/JOB.json` the durable way.
pub fn write(state_dir: &Path, mut record: Record) -> Result<PathBuf, RecordError> {
    if !valid_name(&record.job) {
        return Err(RecordError::BadJob(record.job));
    }
    record.v = 1;
    record.message = sanitize(&record.message, MAX_MESSAGE_CHARS);
    let dir = state_dir.join(RESTORE_TESTS_DIR);
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| RecordError::Io { path, source }
    };
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o750)
        .create(&dir)
        .map_err(io(&dir))?;
    let body = serde_json::to_vec(&record).map_err(|e| RecordError::Io {
        path: dir.clone(),
        source: e.into(),
    })?;
    let tmp = dir.join(format!(
        ".{}.{:016x}.tmp",
        record.job,
        rand::random::<u64>()
    ));
    let dest = dir.join(format!("{}.json", record.job));
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o640)
        .open(&tmp)
        .map_err(io(&tmp))?;
    let written = f.write_all(&body).and_then(|()| f.sync_all());
    drop(f);
    if let Err(e) = written.and_then(|()| fs::rename(&tmp, &dest)) {
        let _ = fs::remove_file(&tmp);
        return Err(io(&dest)(e));
    }
    fs::File::open(&dir)
        .and_then(|d| d.sync_all())
        .map_err(io(&dir))?;
    Ok(dest)
}

/// The record of `job` under `state_dir`, if any; a bad one is a problem, never a test result.
pub fn read(state_dir: &Path, job: &str, now_ms: i64) -> Result<Option<Record>, String> {
    if !valid_name(job) {
        return Ok(None);
    }
    let path = state_dir
        .join(RESTORE_TESTS_DIR)
        .join(format!("{job}.json"));
    let f = match OpenOptions::new()
        .read(true)
        .custom_flags(O_NOFOLLOW_NONBLOCK)
        .open(&path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("restore-test record {job}.json: cannot open: {e}")),
    };
    let meta = f
        .metadata()
        .map_err(|e| format!("restore-test record {job}.json: cannot stat: {e}"))?;
    if !meta.is_file() {
        return Err(format!(
            "restore-test record {job}.json: not a regular file"
        ));
    }
    let mut buf = Vec::new();
    f.take(MAX_RECORD_BYTES + 1)
        .read_to_end(&mut buf)
        .map_err(|e| format!("restore-test record {job}.json: cannot read: {e}"))?;
    if buf.len() as u64 > MAX_RECORD_BYTES {
        return Err(format!(
            "restore-test record {job}.json: more than {MAX_RECORD_BYTES} bytes"
        ));
    }
    let mut r: Record = serde_json::from_slice(&buf)
        .map_err(|_| format!("restore-test record {job}.json: not a valid record"))?;
    if r.v != 1 || r.job != job || r.at_ms <= 0 {
        return Err(format!(
            "restore-test record {job}.json: wrong version, job or time"
        ));
    }
    r.at_ms = r.at_ms.min(now_ms);
    r.last_ok_ms = r.last_ok_ms.clamp(0, r.at_ms);
    r.message = sanitize(&r.message, MAX_MESSAGE_CHARS);
    Ok(Some(r))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(job: &str, ok: bool, at_ms: i64) -> Record {
        Record {
            v: 1,
            job: job.into(),
            at_ms,
            ok,
            snapshot_id: "abc".into(),
            files_compared: 3,
            files_differing: u64::from(!ok),
            files_skipped: 1,
            message: "m\u{1b}".into(),
            last_ok_ms: 0,
        }
    }

    #[track_caller]
    fn check(body: &[u8], expect: Result<Option<(bool, i64, &str)>, &str>) {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join(RESTORE_TESTS_DIR);
        fs::create_dir_all(&d).unwrap();
        fs::write(d.join("nightly.json"), body).unwrap();
        let got = read(dir.path(), "nightly", 1_000);
        let got = match &got {
            Ok(Some(r)) => Ok(Some((r.ok, r.at_ms, r.message.as_str()))),
            Ok(None) => Ok(None),
            Err(e) => Err(e.as_str()),
        };
        assert_eq!(got, expect);
    }

    #[test]
    fn records_round_trip_and_hostile_ones_are_problems() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            write(dir.path(), rec("../x", true, 1)),
            Err(RecordError::BadJob(_))
        ));
        write(dir.path(), rec("nightly", false, 5)).unwrap();
        let p = write(dir.path(), rec("nightly", true, 7)).unwrap();
        assert!(p.ends_with("backups/restore-tests/nightly.json"));
        let left = fs::read_dir(p.parent().unwrap()).unwrap().count();
        assert_eq!(left, 1, "no temporary file left");
        let r = read(dir.path(), "nightly", 1_000).unwrap().unwrap();
        assert_eq!((r.ok, r.at_ms, r.message.as_str()), (true, 7, "m?"));
        assert_eq!(read(dir.path(), "other", 1_000), Ok(None));
        let w = r.to_wire();
        assert_eq!((w.source.as_str(), w.files_compared), (SOURCE, 3));

        check(
            br#"{"v":1,"job":"nightly","at_ms":5000,"ok":true}"#,
            Ok(Some((true, 1_000, ""))),
        );
        check(
            br#"{"v":1,"job":"other","at_ms":5,"ok":true}"#,
            Err("restore-test record nightly.json: wrong version, job or time"),
        );
        check(
            br#"{"v":1,"job":"nightly","at_ms":5,"ok":true,"x":1}"#,
            Err("restore-test record nightly.json: not a valid record"),
        );
        check(
            &vec![b' '; 9000],
            Err("restore-test record nightly.json: more than 8192 bytes"),
        );
    }
}
