//! Runs a backup tool the one safe way: empty environment but the variables given (so no stray
//! `RESTIC_PASSWORD` or `BORG_*` of the agent's own environment leaks in), `LC_ALL=C`, `TZ=UTC`,
//! stdin closed, output bounded, killed on timeout. A non-zero exit is returned, not an error: each
//! tool gives exit codes its own meaning. Not here: what the output means.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::process::Command;

use super::JobError;

/// `restic snapshots --json` prints about 600 bytes per snapshot; 32 MiB is far beyond any repository.
const MAX_STDOUT_BYTES: u64 = 32 * 1024 * 1024;
const MAX_STDERR_BYTES: u64 = 64 * 1024;
/// PATH of the tools' own children (password commands are absolute anyway).
const SAFE_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

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
    let mut cmd = Command::new(program);
    if let Some(dir) = cwd {
        cmd.current_dir(dir);
    }
    cmd.args(args)
        .env_clear()
        .env("PATH", SAFE_PATH)
        .env("LC_ALL", "C")
        .env("TZ", "UTC")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => JobError::ToolMissing {
            job: job.to_owned(),
            tool,
            path: program.to_path_buf(),
        },
        _ => JobError::Spawn {
            job: job.to_owned(),
            tool,
            source,
        },
    })?;
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    let read_out = async {
        let mut buf = Vec::new();
        if let Some(out) = stdout.as_mut() {
            let _ = out.take(MAX_STDOUT_BYTES).read_to_end(&mut buf).await;
            // Drain the rest so that the tool is never blocked on a full pipe.
            let _ = tokio::io::copy(out, &mut tokio::io::sink()).await;
        }
        buf
    };
    let read_err = async {
        let mut buf = Vec::new();
        if let Some(err) = stderr.as_mut() {
            let _ = err.take(MAX_STDERR_BYTES).read_to_end(&mut buf).await;
            let _ = tokio::io::copy(err, &mut tokio::io::sink()).await;
        }
        buf
    };
    let all = async { tokio::join!(read_out, read_err, child.wait()) };
    let Ok((out, err, status)) = tokio::time::timeout(timeout, all).await else {
        let _ = child.start_kill();
        let _ = child.wait().await;
        return Err(JobError::ToolTimeout {
            job: job.to_owned(),
            tool,
            secs: timeout.as_secs(),
        });
    };
    let status = status.map_err(|source| JobError::Spawn {
        job: job.to_owned(),
        tool,
        source,
    })?;
    Ok(Output {
        code: status.code(),
        status: status.to_string(),
        stdout: out,
        stderr: String::from_utf8_lossy(&err).into_owned(),
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
