//! Runs an external tool the one safe way, for every probe that has to (DESIGN decision 20):
//! `LC_ALL=C`, stdin closed, stdout and stderr read at the same time and bounded (the rest is drained
//! so that the tool never blocks on a full pipe), and a deadline after which the tool and everything
//! it started are killed. On request the environment holds nothing but what the caller gives (backup
//! tools: no stray `RESTIC_PASSWORD` or `BORG_*` of the agent's own environment leaks in).
//!
//! The tool runs in its own process group, so that on timeout a password command, a `sh` wrapper or
//! an ssh connection it started dies with it instead of surviving, one more each cycle.
//! A non-zero exit is an [`Output`], not an error: each tool gives its exit codes its own meaning.
//! Not here: what the output means, or how a failure is worded for people (each probe's own errors).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};

/// PATH of a tool run with a clean environment (its own children: ssh, a password helper).
pub const SAFE_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// Default bound of stdout: far beyond any output the probes parse.
pub const DEFAULT_MAX_STDOUT: u64 = 32 * 1024 * 1024;
/// Default bound of stderr: diagnostics only.
pub const DEFAULT_MAX_STDERR: u64 = 64 * 1024;

/// Why a tool gave no output at all.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{} not found", path.display())]
    NotFound { path: PathBuf },
    #[error("starting {}: {source}", path.display())]
    Spawn {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} did not finish within {} ms and was killed", path.display(), after.as_millis())]
    Timeout { path: PathBuf, after: Duration },
    #[error("waiting for {}: {source}", path.display())]
    Wait {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// What a finished tool printed, and how it ended.
#[derive(Debug)]
pub struct Output {
    pub status: ExitStatus,
    /// At most the stdout bound.
    pub stdout: Vec<u8>,
    /// More was printed on stdout than the bound; `stdout` is its beginning.
    pub stdout_cut: bool,
    /// At most the stderr bound.
    pub stderr: Vec<u8>,
}

impl Output {
    /// Exit code; `None` when killed by a signal.
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

/// One run of a tool, described before it starts.
#[derive(Debug, Clone)]
pub struct Tool {
    program: PathBuf,
    args: Vec<OsString>,
    clean_env: bool,
    vars: Vec<(OsString, OsString)>,
    removed: Vec<OsString>,
    cwd: Option<PathBuf>,
    max_stdout: u64,
    max_stderr: u64,
}

impl Tool {
    /// `program` with the agent's environment, `LC_ALL=C` and the default bounds.
    pub fn new(program: &Path) -> Tool {
        Tool {
            program: program.to_path_buf(),
            args: Vec::new(),
            clean_env: false,
            vars: Vec::new(),
            removed: Vec::new(),
            cwd: None,
            max_stdout: DEFAULT_MAX_STDOUT,
            max_stderr: DEFAULT_MAX_STDERR,
        }
    }

    pub fn args<I, S>(mut self, args: I) -> Tool
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Starts from an empty environment: only `PATH` ([`SAFE_PATH`]), `LC_ALL=C` and the variables
    /// given with [`Tool::env`].
    pub fn clean_env(mut self) -> Tool {
        self.clean_env = true;
        self
    }

    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Tool {
        self.vars.push((key.into(), value.into()));
        self
    }

    /// Removes a variable of the agent's environment (e.g. `LANGUAGE`, which overrides `LC_ALL`
    /// for gettext messages).
    pub fn env_remove(mut self, key: impl Into<OsString>) -> Tool {
        self.removed.push(key.into());
        self
    }

    pub fn current_dir(mut self, dir: &Path) -> Tool {
        self.cwd = Some(dir.to_path_buf());
        self
    }

    pub fn max_stdout(mut self, bytes: u64) -> Tool {
        self.max_stdout = bytes;
        self
    }

    pub fn max_stderr(mut self, bytes: u64) -> Tool {
        self.max_stderr = bytes;
        self
    }

    /// Runs the tool to its end, or kills it (and its process group) after `timeout`.
    pub async fn run(self, timeout: Duration) -> Result<Output, RunError> {
        let mut cmd = tokio::process::Command::new(&self.program);
        cmd.args(&self.args);
        if self.clean_env {
            cmd.env_clear().env("PATH", SAFE_PATH);
        }
        for key in &self.removed {
            cmd.env_remove(key);
        }
        for (k, v) in &self.vars {
            cmd.env(k, v);
        }
        // Last, so that no caller's variable changes it.
        cmd.env("LC_ALL", "C");
        if let Some(dir) = &self.cwd {
            cmd.current_dir(dir);
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        let path = self.program.clone();
        let mut child = cmd.spawn().map_err(|source| match source.kind() {
            std::io::ErrorKind::NotFound => RunError::NotFound { path: path.clone() },
            _ => RunError::Spawn {
                path: path.clone(),
                source,
            },
        })?;
        let group = child.id();
        let mut stdout = child.stdout.take();
        let mut stderr = child.stderr.take();
        let all = async {
            tokio::join!(
                read_bounded(stdout.as_mut(), self.max_stdout),
                read_bounded(stderr.as_mut(), self.max_stderr),
                child.wait()
            )
        };
        let Ok(((out, stdout_cut), (err, _), status)) = tokio::time::timeout(timeout, all).await
        else {
            kill_group(group);
            let _ = child.start_kill();
            let _ = child.wait().await;
            return Err(RunError::Timeout {
                path,
                after: timeout,
            });
        };
        let status = status.map_err(|source| RunError::Wait {
            path: path.clone(),
            source,
        })?;
        Ok(Output {
            status,
            stdout: out,
            stdout_cut,
            stderr: err,
        })
    }
}

/// Reads at most `max` bytes, then drains the rest; says whether anything was left over.
async fn read_bounded<R: AsyncRead + Unpin>(pipe: Option<&mut R>, max: u64) -> (Vec<u8>, bool) {
    let mut buf = Vec::new();
    let Some(pipe) = pipe else {
        return (buf, false);
    };
    let _ = (&mut *pipe).take(max).read_to_end(&mut buf).await;
    let rest = tokio::io::copy(pipe, &mut tokio::io::sink())
        .await
        .unwrap_or(0);
    (buf, rest > 0)
}

/// SIGKILL to the tool's process group (its pid, since it was started with `process_group(0)`).
/// The group leader is not reaped yet, so the id cannot have been reused.
fn kill_group(pid: Option<u32>) {
    let pid = pid
        .and_then(|p| i32::try_from(p).ok())
        .filter(|p| *p > 1)
        .and_then(rustix::process::Pid::from_raw);
    if let Some(pid) = pid {
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    #[tokio::test]
    async fn clean_environment_has_only_what_is_given() {
        let out = Tool::new(Path::new("/usr/bin/env"))
            .clean_env()
            .env("A", "1")
            .run(Duration::from_secs(5))
            .await
            .unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        let mut vars: Vec<&str> = text.lines().collect();
        vars.sort_unstable();
        assert_eq!(vars, ["A=1", "LC_ALL=C", &format!("PATH={SAFE_PATH}")]);
        // Inherited environment: LC_ALL forced, removed variables gone.
        let out = Tool::new(Path::new("/usr/bin/env"))
            .env_remove("HOME")
            .run(Duration::from_secs(5))
            .await
            .unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(text.lines().any(|l| l == "LC_ALL=C"), "{text}");
        assert!(!text.lines().any(|l| l.starts_with("HOME=")), "{text}");
    }

    #[tokio::test]
    async fn output_is_bounded_and_exit_codes_are_not_errors() {
        let dir = tempfile::tempdir().unwrap();
        let noisy = script(
            dir.path(),
            "noisy",
            "head -c 300000 /dev/zero; head -c 200000 /dev/zero >&2; exit 3",
        );
        let out = Tool::new(&noisy)
            .max_stdout(1000)
            .max_stderr(10)
            .run(Duration::from_secs(10))
            .await
            .unwrap();
        assert_eq!(out.code(), Some(3));
        assert_eq!((out.stdout.len(), out.stdout_cut), (1000, true));
        assert_eq!(out.stderr.len(), 10);
        let out = Tool::new(Path::new("/bin/echo"))
            .args(["x"])
            .current_dir(dir.path())
            .run(Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(
            (out.stdout.as_slice(), out.stdout_cut),
            (&b"x\n"[..], false)
        );
    }

    #[tokio::test]
    async fn missing_tool_and_timeout_kill_the_whole_group() {
        let err = Tool::new(Path::new("/nonexistent/tool"))
            .run(Duration::from_secs(5))
            .await
            .unwrap_err();
        assert!(matches!(err, RunError::NotFound { .. }), "{err}");
        // A wrapper whose child holds the pipes and writes its pid: on timeout both must die.
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("grandchild.pid");
        let wrapper = script(
            dir.path(),
            "wrapper",
            &format!("sleep 60 &\necho $! > {}\nwait", pidfile.display()),
        );
        let start = std::time::Instant::now();
        let err = Tool::new(&wrapper)
            .run(Duration::from_millis(500))
            .await
            .unwrap_err();
        assert!(matches!(err, RunError::Timeout { .. }), "{err}");
        assert!(err.to_string().contains("within 500 ms"), "{err}");
        assert!(start.elapsed() < Duration::from_secs(10));
        let pid = std::fs::read_to_string(&pidfile).unwrap();
        let proc_dir = PathBuf::from(format!("/proc/{}", pid.trim()));
        // Killed and reaped by init: gone within a moment.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while proc_dir.exists() && std::time::Instant::now() < deadline {
            let state = std::fs::read_to_string(proc_dir.join("stat")).unwrap_or_default();
            if state.contains(") Z ") {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let state = std::fs::read_to_string(proc_dir.join("stat")).unwrap_or_default();
        assert!(
            state.is_empty() || state.contains(") Z "),
            "the grandchild survived: {state}"
        );
    }
}
