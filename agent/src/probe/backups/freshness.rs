//! freshness jobs: the newest mtime of any file or directory under the declared paths, for tools
//! that leave no better trace (a dump directory, a NAS mount). A bounded walk that never follows a
//! symlink; mtimes later than now are capped and said. It proves that something was written, not
//! that a backup succeeded: the evidence says so by its source.

use std::path::Path;

use vigie_proto::v1::BackupJob;

use super::config::Job;
use super::{sanitize, JobError, MAX_MESSAGE_CHARS};
use crate::probe::fsutil;

/// Entries looked at per job; a larger tree is reported as partially walked.
const MAX_ENTRIES: usize = 100_000;
const MAX_DEPTH: usize = 32;

/// The newest mtime under `path`, the number of entries seen, and whether the walk was cut short.
pub fn newest_mtime(path: &Path) -> std::io::Result<(Option<i64>, usize, bool)> {
    let meta = std::fs::symlink_metadata(path)?;
    let mut newest = fsutil::mtime_ms(&meta);
    let mut seen = 1usize;
    let mut stack = Vec::new();
    if meta.is_dir() {
        stack.push((path.to_path_buf(), 0usize));
    }
    while let Some((dir, depth)) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in rd.flatten() {
            if seen >= MAX_ENTRIES {
                return Ok((newest, seen, true));
            }
            seen += 1;
            let Ok(m) = entry.metadata() else { continue };
            newest = newest.max(fsutil::mtime_ms(&m));
            if m.is_dir() && depth + 1 < MAX_DEPTH {
                stack.push((entry.path(), depth + 1));
            }
        }
    }
    Ok((newest, seen, false))
}

/// Fills `out` for a freshness job, paths resolved under `root`.
pub fn collect(job: &Job, root: &Path, now_ms: i64, out: &mut BackupJob) -> Result<(), JobError> {
    let mut newest: Option<i64> = None;
    let mut first_err = None;
    for p in &job.paths {
        let abs = p.to_string_lossy();
        let real = fsutil::resolve_in_root(root, &abs);
        match newest_mtime(&real) {
            Ok((n, seen, cut)) => {
                if cut {
                    out.problems.push(sanitize(
                        &format!("{abs}: walk stopped after {seen} entries"),
                        MAX_MESSAGE_CHARS,
                    ));
                }
                newest = newest.max(n);
                super::add_source(out, "walk", &abs, &["last_success_ms"]);
            }
            Err(e) => {
                out.problems
                    .push(sanitize(&format!("{abs}: {e}"), MAX_MESSAGE_CHARS));
                first_err.get_or_insert((real, e));
            }
        }
    }
    if newest.is_none() {
        if let Some((path, source)) = first_err {
            return Err(JobError::Read {
                job: job.name.clone(),
                path,
                source,
            });
        }
    }
    if let Some(n) = newest {
        if n > now_ms {
            out.problems
                .push("newest mtime is in the future; capped at now".to_owned());
        }
        out.last_success_ms = n.min(now_ms);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, SystemTime};

    fn touch(path: &Path, secs: u64) {
        let f = std::fs::File::options()
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .unwrap();
        f.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
            .unwrap();
    }

    #[track_caller]
    fn check(path: &Path, expect: Option<i64>) {
        assert_eq!(newest_mtime(path).unwrap().0, expect);
    }

    #[test]
    fn newest_wins_and_symlinks_are_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("dumps");
        std::fs::create_dir_all(d.join("a/b")).unwrap();
        touch(&d.join("a/b/old.sql"), 1_000);
        touch(&d.join("a/new.sql"), 2_000);
        let outside = dir.path().join("outside");
        touch(&outside, 9_000);
        std::os::unix::fs::symlink(&outside, d.join("link")).unwrap();
        for p in [d.join("a/b"), d.join("a"), d.clone()] {
            let f = std::fs::File::open(&p).unwrap();
            f.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(500))
                .unwrap();
        }
        // The symlink's own mtime is now-ish; its target's 9_000 is never seen.
        let (n, seen, cut) = newest_mtime(&d.join("a")).unwrap();
        assert_eq!((n, seen, cut), (Some(2_000_000), 4, false));
        check(&d.join("a/b/old.sql"), Some(1_000_000));
        assert!(newest_mtime(&dir.path().join("missing")).is_err());
    }
}
