//! `vigie-agent backup-verify --job NAME`: a real restore test of a restic or borg job. From the
//! newest restore point it draws a bounded random sample of regular files whose source is unchanged
//! since (size and mtime), restores exactly those into a private 0700 directory, compares them byte
//! for byte (SHA-256) with the source, removes the directory whatever happens, and records the
//! result (`record.rs`) for the backups probe to report as `BackupJob.restore_test`.
//!
//! It needs what a restore needs: the job's decryption secret (its password source) and read access
//! to the sources. It writes nothing outside its temporary directory but the record: restic runs
//! with `--no-lock --no-cache`, borg with `--bypass-lock` and its `BORG_BASE_DIR` inside the
//! temporary directory. A test that cannot restore (wrong password, damaged repository, tool
//! failure or timeout) is a failed test, recorded as such. Not here: the command line.

mod listing;
pub mod record;

use std::io::Read;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::command;
use super::config::{Job, Settings, Tool};
use super::{borg, restic, sanitize, BackupsConfig, JobError};
use crate::probe::ConfigError;
use listing::{Entry, Listing};

pub use record::{Record as RestoreTestRecord, RESTORE_TESTS_DIR};

/// Default number of files compared.
pub const DEFAULT_SAMPLE: usize = 20;
/// Default byte budget of the files restored.
pub const DEFAULT_MAX_BYTES: u64 = 256 * 1024 * 1024;
/// The sample is bounded, and so is the command line that names it.
pub const MAX_SAMPLE: usize = 1000;

/// What to test.
#[derive(Debug, Clone)]
pub struct Options {
    pub job: String,
    pub state_dir: PathBuf,
    pub sample: usize,
    pub max_bytes: u64,
}

/// Why no test could be made or recorded at all.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("{0}")]
    Config(#[from] ConfigError),
    #[error("job {0:?} is not declared in probes.backups.jobs")]
    UnknownJob(String),
    #[error("job {job}: backup-verify supports restic and borg jobs, not {tool}")]
    Unsupported { job: String, tool: &'static str },
    #[error("--sample {0} is outside 1..={MAX_SAMPLE}")]
    BadSample(usize),
    #[error("creating the private temporary directory in {path}: {source}")]
    TempDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Record(#[from] record::RecordError),
}

/// A finished test.
#[derive(Debug)]
pub struct Outcome {
    pub record: RestoreTestRecord,
    /// `None` when nothing could be compared (no record is written: no evidence either way).
    pub path: Option<PathBuf>,
    /// One French line for people.
    pub summary_fr: String,
}

/// The private directory of one test, removed on drop (error, timeout, cancellation included).
struct TempDir(PathBuf);

impl TempDir {
    fn create(base: &Path) -> Result<TempDir, VerifyError> {
        let path = base.join(format!("vigie-verify-{:016x}", rand::random::<u64>()));
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&path)
            .map_err(|source| VerifyError::TempDir {
                path: base.to_path_buf(),
                source,
            })?;
        Ok(TempDir(path))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        remove_all(&self.0);
    }
}

/// `remove_dir_all` that first makes restored read-only directories writable (needed when not root).
fn remove_all(dir: &Path) {
    fn open_up(dir: &Path) {
        let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
        if let Ok(rd) = std::fs::read_dir(dir) {
            for e in rd.flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    open_up(&e.path());
                }
            }
        }
    }
    if std::fs::remove_dir_all(dir).is_err() {
        open_up(dir);
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// Runs the test and records it. `now_ms` dates the record.
pub async fn verify(
    cfg: &BackupsConfig,
    opts: &Options,
    now_ms: i64,
) -> Result<Outcome, VerifyError> {
    if !(1..=MAX_SAMPLE).contains(&opts.sample) {
        return Err(VerifyError::BadSample(opts.sample));
    }
    let s = cfg.settings()?;
    let job = s
        .jobs
        .iter()
        .find(|j| j.name == opts.job)
        .ok_or_else(|| VerifyError::UnknownJob(opts.job.clone()))?;
    if !matches!(job.tool, Tool::Restic | Tool::Borg) {
        return Err(VerifyError::Unsupported {
            job: job.name.clone(),
            tool: job.tool.as_str(),
        });
    }
    let base = if opts.state_dir.is_dir() {
        let b = opts.state_dir.join("backups");
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&b)
            .map_err(|source| VerifyError::TempDir {
                path: b.clone(),
                source,
            })?;
        b
    } else {
        std::env::temp_dir()
    };
    let tmp = TempDir::create(&base)?;
    let result = test(job, &s, &tmp.0, opts).await;
    drop(tmp);
    let mut rec = RestoreTestRecord {
        v: 1,
        job: job.name.clone(),
        at_ms: now_ms,
        ok: false,
        snapshot_id: String::new(),
        files_compared: 0,
        files_differing: 0,
        files_skipped: 0,
        message: String::new(),
        last_ok_ms: match record::read(&opts.state_dir, &job.name, now_ms) {
            Ok(Some(prev)) if prev.ok => prev.at_ms,
            Ok(Some(prev)) => prev.last_ok_ms,
            _ => 0,
        },
    };
    match result {
        Ok(t) => {
            rec.snapshot_id = t.snapshot_id;
            rec.files_compared = t.compared;
            rec.files_differing = t.differing.len() as u64;
            rec.files_skipped = t.skipped;
            if rec.files_compared == 0 {
                let summary_fr = format!(
                    "test de restauration impossible pour « {} » : aucun fichier inchangé depuis le point {} à comparer ({} modifié(s) depuis)",
                    job.name, rec.snapshot_id, rec.files_skipped
                );
                rec.message = "no unchanged regular file to compare".into();
                return Ok(Outcome {
                    record: rec,
                    path: None,
                    summary_fr,
                });
            }
            rec.ok = t.differing.is_empty();
            rec.message = if rec.ok {
                format!(
                    "{} files restored and identical ({} skipped: changed since)",
                    rec.files_compared, rec.files_skipped
                )
            } else {
                let names: Vec<String> = t
                    .differing
                    .iter()
                    .take(5)
                    .map(|p| sanitize(&p.display().to_string(), 120))
                    .collect();
                format!(
                    "{} of {} files differ: {}",
                    rec.files_differing,
                    rec.files_compared,
                    names.join(", ")
                )
            };
        }
        Err(e) => {
            tracing::warn!(job = %job.name, code = e.code(), error = %e, "Restore test failed.");
            rec.message = format!("{}: {e}", e.code());
        }
    }
    if rec.ok {
        rec.last_ok_ms = rec.at_ms;
    }
    let path = record::write(&opts.state_dir, rec.clone())?;
    let summary_fr = if rec.ok {
        format!(
            "test de restauration réussi pour « {} » : {} fichier(s) restauré(s) depuis {} identiques à la source ({} ignoré(s), modifiés depuis)",
            job.name, rec.files_compared, rec.snapshot_id, rec.files_skipped
        )
    } else if rec.files_compared > 0 {
        format!(
            "test de restauration en échec pour « {} » : {} fichier(s) différent(s) sur {} ({})",
            job.name, rec.files_differing, rec.files_compared, rec.snapshot_id
        )
    } else {
        format!(
            "test de restauration en échec pour « {} » : {}",
            job.name,
            sanitize(&rec.message, 300)
        )
    };
    Ok(Outcome {
        record: rec,
        path: Some(path),
        summary_fr,
    })
}

struct Tested {
    snapshot_id: String,
    compared: u64,
    differing: Vec<PathBuf>,
    skipped: u64,
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| (*a).to_owned()).collect()
}

fn output_error(job: &Job, tool: &'static str, reason: &str) -> JobError {
    JobError::Output {
        job: job.name.clone(),
        tool,
        reason: reason.to_owned(),
    }
}

/// Lists, samples, restores and compares; every tool failure is the test's failure.
async fn test(job: &Job, s: &Settings, tmp: &Path, opts: &Options) -> Result<Tested, JobError> {
    let repo = job.repository.clone().unwrap_or_default();
    let target = tmp.join("restore");
    let home = tmp.join("home");
    for d in [&target, &home] {
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(d)
            .map_err(|source| JobError::Read {
                job: job.name.clone(),
                path: d.clone(),
                source,
            })?;
    }
    let (listing, env): (Listing, Vec<(String, String)>) = match job.tool {
        Tool::Restic => {
            let mut env = restic::env(job);
            env.push(("HOME".into(), home.display().to_string()));
            env.push(("XDG_CACHE_HOME".into(), home.display().to_string()));
            let args = strings(&[
                "-r",
                &repo,
                "ls",
                "--json",
                "--no-lock",
                "--no-cache",
                "latest",
            ]);
            let out = command::run(&job.name, "restic", &s.restic, &args, &env, s.timeout).await?;
            if out.code != Some(0) {
                return Err(restic::classify(job, None, &out));
            }
            (listing::parse_restic(&out.stdout), env)
        }
        _ => {
            let env = borg::env(job, &home)?;
            let args = strings(&["list", "--json", "--bypass-lock", &repo]);
            let out = command::run(&job.name, "borg", &s.borg, &args, &env, s.timeout).await?;
            if !matches!(out.code, Some(0 | 1)) {
                return Err(borg::classify(job, &out));
            }
            let repo_list =
                borg::parse(&out.stdout, 0).map_err(|r| output_error(job, "borg", &r))?;
            let Some(newest) = repo_list.newest else {
                return Err(output_error(job, "borg", "the repository has no archive"));
            };
            let args = strings(&[
                "list",
                "--json-lines",
                "--bypass-lock",
                &format!("{repo}::{}", newest.name),
            ]);
            let out = command::run(&job.name, "borg", &s.borg, &args, &env, s.timeout).await?;
            if !matches!(out.code, Some(0 | 1)) {
                return Err(borg::classify(job, &out));
            }
            (listing::parse_borg(&out.stdout, &newest.name), env)
        }
    };
    if listing.snapshot_id.is_empty() {
        return Err(output_error(job, "restic", "no snapshot in the repository"));
    }
    let snapshot_id = listing.snapshot_id.clone();
    let sample = listing::sample(listing.files, opts.sample, opts.max_bytes);
    let mut tested = Tested {
        snapshot_id: snapshot_id.clone(),
        compared: 0,
        differing: Vec::new(),
        skipped: sample.changed,
    };
    if sample.files.is_empty() {
        return Ok(tested);
    }
    let out = match job.tool {
        Tool::Restic => {
            let mut args = strings(&["-r", &repo, "restore", &snapshot_id, "--target"]);
            args.push(target.display().to_string());
            args.extend(strings(&["--no-lock", "--no-cache"]));
            for e in &sample.files {
                args.push("--include".into());
                args.push(e.stored.clone());
            }
            let out = command::run(&job.name, "restic", &s.restic, &args, &env, s.timeout).await?;
            if out.code != Some(0) {
                return Err(restic::classify(job, None, &out));
            }
            out
        }
        _ => {
            let mut args = strings(&[
                "extract",
                "--bypass-lock",
                &format!("{repo}::{snapshot_id}"),
            ]);
            args.extend(sample.files.iter().map(|e| format!("pp:{}", e.stored)));
            let out = command::run_in(
                &job.name,
                "borg",
                &s.borg,
                &args,
                &env,
                s.timeout,
                Some(&target),
            )
            .await?;
            if !matches!(out.code, Some(0 | 1)) {
                return Err(borg::classify(job, &out));
            }
            out
        }
    };
    drop(out);
    let (name, files) = (job.name.clone(), sample.files);
    let target2 = target.clone();
    let compared = tokio::task::spawn_blocking(move || compare_all(&files, &target2))
        .await
        .map_err(|e| JobError::Unsupported {
            job: name,
            reason: format!("comparison task: {e}"),
        })?;
    tested.compared = compared.compared;
    tested.differing = compared.differing;
    tested.skipped += compared.changed;
    Ok(tested)
}

#[derive(Debug, Default)]
struct Compared {
    compared: u64,
    differing: Vec<PathBuf>,
    changed: u64,
}

fn sha256(path: &Path, limit: u64) -> Option<[u8; 32]> {
    let f = std::fs::OpenOptions::new().read(true).open(path).ok()?;
    let mut r = f.take(limit.saturating_add(1));
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = r.read(&mut buf).ok()?;
        if n == 0 {
            break;
        }
        h.update(buf.get(..n)?);
    }
    Some(h.finalize().into())
}

/// Compares each restored file under `target` with its live source; a source that changed while
/// it was read is skipped, a restored file missing or different is a difference.
fn compare_all(files: &[Entry], target: &Path) -> Compared {
    let mut c = Compared::default();
    for e in files {
        let restored = target.join(e.stored.trim_start_matches('/'));
        let restored_ok = std::fs::symlink_metadata(&restored).is_ok_and(|m| m.is_file());
        let want = if restored_ok {
            sha256(&restored, e.size)
        } else {
            None
        };
        let have = sha256(&e.source, e.size);
        if !listing::unchanged(e) {
            c.changed += 1;
            continue;
        }
        c.compared += 1;
        if want.is_none() || want != have {
            c.differing.push(e.source.clone());
        }
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compare_counts_differences_missing_and_changed_files() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        let target = dir.path().join("t");
        std::fs::create_dir_all(&src).unwrap();
        let mut files = Vec::new();
        for (name, body, restored) in [
            ("same", "abc", Some("abc")),
            ("diff", "abc", Some("abd")),
            ("gone", "abc", None),
        ] {
            let p = src.join(name);
            std::fs::write(&p, body).unwrap();
            let m = std::fs::metadata(&p).unwrap();
            let stored = p.display().to_string();
            if let Some(r) = restored {
                let t = target.join(stored.trim_start_matches('/'));
                std::fs::create_dir_all(t.parent().unwrap()).unwrap();
                std::fs::write(t, r).unwrap();
            }
            files.push(Entry {
                stored,
                source: p,
                size: m.len(),
                mtime_ms: crate::probe::fsutil::mtime_ms(&m).unwrap(),
            });
        }
        let mut changed = files[0].clone();
        changed.size = 99;
        files.push(changed);
        let c = compare_all(&files, &target);
        assert_eq!((c.compared, c.differing.len(), c.changed), (3, 2, 1));
    }

    #[test]
    fn temp_dir_is_private_and_removed_even_when_read_only_inside() {
        let base = tempfile::tempdir().unwrap();
        let path = {
            let t = TempDir::create(base.path()).unwrap();
            let mode = std::fs::metadata(&t.0).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o700);
            let ro = t.0.join("ro");
            std::fs::create_dir(&ro).unwrap();
            std::fs::write(ro.join("f"), "x").unwrap();
            std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o500)).unwrap();
            t.0.clone()
        };
        assert!(!path.exists());
    }
}
