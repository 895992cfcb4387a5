//! How backup tools are run: through the shared runner (`probe/command.rs`: `LC_ALL=C`, stdin
//! closed, output bounded, the process group killed on timeout) with an environment holding nothing
//! but the job's own variables (so no stray `RESTIC_PASSWORD` or `BORG_*` of the agent's environment
//! leaks in) and `TZ=UTC`; failures to run become this job's [`JobError`]. A non-zero exit is
//! returned, not an error: each tool gives exit codes its own meaning. Not here: what the output means.

use std::path::Path;
use std::time::Duration;

use super::JobError;
use crate::probe::command::{RunError, Tool};

/// `restic snapshots --json` prints about 600 bytes per snapshot; 32 MiB is far beyond any repository.
const MAX_STDOUT_BYTES: u64 = 32 * 1024 * 1024;
const MAX_STDERR_BYTES: u64 = 64 * 1024;

/// What a finished tool printed, and how it ended.
#[derive(Debug)]
pub struct Output {
    /// Exit code; `None` when killed by a signal.
    pub code: Option<i32>,
    pub status: String,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

/// Runs `program args` for `job` with exactly `env` (plus `LC_ALL=C`, `TZ=UTC`, `PATH`).
///
/// `TZ=UTC` matters beyond tidiness: borg and systemctl print local times with no zone, and under
/// UTC their "local" time is UTC, which is exact even in the hour a daylight-saving change repeats.
pub async fn run(
    job: &str,
    tool: &'static str,
    program: &Path,
    args: &[String],
    env: &[(String, String)],
    timeout: Duration,
) -> Result<Output, JobError> {
    run_in(job, tool, program, args, env, timeout, None).await
}

/// [`run`] with the working directory `cwd` (`borg extract` writes into its working directory).
pub async fn run_in(
    job: &str,
    tool: &'static str,
    program: &Path,
    args: &[String],
    env: &[(String, String)],
    timeout: Duration,
    cwd: Option<&Path>,
) -> Result<Output, JobError> {
    let mut cmd = Tool::new(program)
        .args(args)
        .clean_env()
        .env("TZ", "UTC")
        .max_stdout(MAX_STDOUT_BYTES)
        .max_stderr(MAX_STDERR_BYTES);
    for (k, v) in env {
        cmd = cmd.env(k, v);
    }
    if let Some(dir) = cwd {
        cmd = cmd.current_dir(dir);
    }
    let out = cmd.run(timeout).await.map_err(|e| match e {
        RunError::NotFound { path } => JobError::ToolMissing {
            job: job.to_owned(),
            tool,
            path,
        },
        RunError::Timeout { after, .. } => JobError::ToolTimeout {
            job: job.to_owned(),
            tool,
            secs: after.as_secs(),
        },
        RunError::Spawn { source, .. } | RunError::Wait { source, .. } => JobError::Spawn {
            job: job.to_owned(),
            tool,
            source,
        },
    })?;
    Ok(Output {
        code: out.code(),
        status: out.status.to_string(),
        stderr: out.stderr_text(),
        stdout: out.stdout,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn environment_is_clean_and_timeouts_kill() {
        let env = vec![("A".to_owned(), "1".to_owned())];
        let out = run(
            "j",
            "env",
            Path::new("/usr/bin/env"),
            &[],
            &env,
            Duration::from_secs(5),
        )
        .await
        .unwrap();
        let mut text = String::from_utf8(out.stdout).unwrap();
        text = text
            .lines()
            .filter(|l| !l.starts_with("PATH="))
            .collect::<Vec<_>>()
            .join(",");
        assert_eq!(text, "A=1,LC_ALL=C,TZ=UTC");
        let err = run(
            "j",
            "restic",
            Path::new("/nonexistent/restic"),
            &[],
            &[],
            Duration::from_secs(5),
        )
        .await
        .unwrap_err();
        assert_eq!(err.code(), "AG0201");
        let args = vec!["30".to_owned()];
        let err = run(
            "j",
            "sleep",
            Path::new("/bin/sleep"),
            &args,
            &[],
            Duration::from_millis(200),
        )
        .await
        .unwrap_err();
        assert_eq!(err.code(), "AG0206", "{err}");
    }
}
