//! Runs `apt-get -s dist-upgrade` through the shared runner (`probe/command.rs`: `LC_ALL=C`, stdin
//! closed, output bounded, killed on timeout) with `LANGUAGE` and `APT_CONFIG` removed, no lock taken
//! and no cache written. Not here: understanding the output (`parse.rs`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::probe::command::{RunError, Tool};
use crate::probe::ProbeError;

/// A real host prints about 200 bytes per pending package; 32 MiB is far beyond any of them.
const MAX_STDOUT_BYTES: u64 = 32 * 1024 * 1024;
const MAX_STDERR_BYTES: u64 = 64 * 1024;
/// Diagnostics kept from stderr, each cut to `MAX_DIAGNOSTIC_CHARS`.
const MAX_DIAGNOSTICS: usize = 8;
const MAX_DIAGNOSTIC_CHARS: usize = 300;

/// What a successful simulation printed.
#[derive(Debug, Default)]
pub struct Simulation {
    pub stdout: String,
    /// apt's own `W:`/`E:` lines (C locale), for `Patches.warnings`.
    pub diagnostics: Vec<String>,
}

/// The arguments, apart from the program. Under a foreign root apt-get reads that tree's sources,
/// preferences, lists and dpkg status through `Dir`; the caches are disabled so that nothing is
/// ever written, under the tree or on the host.
pub fn args(root: &Path, live: bool) -> Vec<String> {
    let mut args: Vec<String> = [
        "-s",
        "-o",
        "Debug::NoLocking=1",
        "-o",
        "Dir::Cache::pkgcache=",
        "-o",
        "Dir::Cache::srcpkgcache=",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    if !live {
        let status: PathBuf = root.join("var/lib/dpkg/status");
        args.push("-o".to_owned());
        args.push(format!("Dir={}", root.display()));
        args.push("-o".to_owned());
        args.push(format!("Dir::State::status={}", status.display()));
    }
    args.push("dist-upgrade".to_owned());
    args
}

/// Runs the simulation with `apt_get` and returns its output, or why it gave none.
pub async fn simulate(
    apt_get: &Path,
    root: &Path,
    live: bool,
    timeout: Duration,
) -> Result<Simulation, ProbeError> {
    let tool = "apt-get".to_owned();
    let out = Tool::new(apt_get)
        .args(args(root, live))
        .env_remove("LANGUAGE")
        .env_remove("APT_CONFIG")
        .max_stdout(MAX_STDOUT_BYTES)
        .max_stderr(MAX_STDERR_BYTES)
        .run(timeout)
        .await
        .map_err(|e| match e {
            RunError::NotFound { path } => ProbeError::AptGetMissing { path },
            RunError::Timeout { after, .. } => ProbeError::ToolTimeout {
                tool: tool.clone(),
                secs: after.as_secs(),
            },
            RunError::Spawn { source, .. } | RunError::Wait { source, .. } => ProbeError::Spawn {
                tool: tool.clone(),
                source,
            },
        })?;
    let diagnostics = diagnostics(&out.stderr_text());
    if !out.status.success() {
        let stderr = if diagnostics.is_empty() {
            "no diagnostic on stderr".to_owned()
        } else {
            diagnostics.join(" | ")
        };
        return Err(ProbeError::ToolFailed {
            tool,
            status: out.status.to_string(),
            stderr,
        });
    }
    Ok(Simulation {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        diagnostics,
    })
}

/// apt's `E:`/`W:` lines, bounded; its `N:` notices and prose are dropped.
fn diagnostics(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("E:") || l.starts_with("W:"))
        .take(MAX_DIAGNOSTICS)
        .map(|l| l.chars().take(MAX_DIAGNOSTIC_CHARS).collect())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(root: &str, live: bool, expect_tail: &[&str]) {
        let args = args(Path::new(root), live);
        let tail: Vec<&str> = args.iter().skip(7).map(String::as_str).collect();
        assert_eq!(tail, expect_tail);
    }

    #[test]
    fn foreign_root_goes_through_dir() {
        check("/", true, &["dist-upgrade"]);
        check(
            "/mnt/img",
            false,
            &[
                "-o",
                "Dir=/mnt/img",
                "-o",
                "Dir::State::status=/mnt/img/var/lib/dpkg/status",
                "dist-upgrade",
            ],
        );
    }

    #[test]
    fn diagnostics_are_bounded() {
        let text = format!("N: note\nW: {}\nE: broken\n", "x".repeat(1000));
        let d = diagnostics(&text);
        assert_eq!(d.len(), 2);
        assert_eq!(d[0].chars().count(), MAX_DIAGNOSTIC_CHARS);
        assert_eq!(d[1], "E: broken");
    }

    #[tokio::test]
    async fn missing_tool_and_timeout_are_errors() {
        let err = simulate(
            Path::new("/nonexistent/apt-get"),
            Path::new("/"),
            true,
            Duration::from_secs(5),
        )
        .await
        .unwrap_err();
        assert_eq!(err.code(), "AG0101");
        // A stand-in that ignores its arguments and hangs: the timeout must kill it.
        let dir = tempfile::tempdir().unwrap();
        let fake = dir.path().join("apt-get");
        std::fs::write(&fake, "#!/bin/sh\nexec sleep 30\n").unwrap();
        std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let err = simulate(&fake, Path::new("/"), true, Duration::from_millis(300))
            .await
            .unwrap_err();
        assert_eq!(err.code(), "AG0104", "{err}");
    }
}
