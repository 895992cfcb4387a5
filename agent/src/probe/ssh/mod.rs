//! The SSH server probe (`ssh.server`, domain `SSH_SERVER`): sshd's effective settings parsed
//! natively from /etc/ssh/sshd_config and what it includes, its Match blocks as data, its host
//! keys' types and sizes, the problems met, and an `sshd -T` cross-check where it can run.
//!
//! The native parse is the evidence; `sshd -T` only confirms it, because it needs root-readable
//! host keys and /run/sshd, which the agent's user lacks (DESIGN decision 4). Not here: judging
//! the settings (the collector's SSH-001 to SSH-005), reading the SSH client config, logins.

mod config;
mod crosscheck;
mod effective;
mod glob;
mod keys;
mod keywords;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use vigie_proto::v1::domain_state::State;
use vigie_proto::v1::ssh_cross_check::Status;
use vigie_proto::v1::{Domain, HostKey, SshConfigProblem, SshMatchBlock, SshServer};

use super::fsutil::{resolve_in_root, unix_path};
use super::{ConfigError, Probe, ProbeCx, ProbeError};

const PROBE_ID: &str = "ssh.server";
const MAIN_CONFIG: &str = "/etc/ssh/sshd_config";
/// `sshd -T` answers in milliseconds; a hung one must not hold the probe.
const CROSSCHECK_TIMEOUT: Duration = Duration::from_secs(10);
/// Problems reported, against a file made of millions of bad lines.
const MAX_PROBLEMS: usize = 100;

/// `[probes.ssh]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct SshConfig {
    /// Whether the SSH server probe runs.
    pub enabled: bool,
    /// Absolute path of sshd on the observed host; its presence says sshd is installed, and on
    /// the live host it runs the `sshd -T` cross-check.
    pub sshd_path: PathBuf,
}

impl Default for SshConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            sshd_path: PathBuf::from("/usr/sbin/sshd"),
        }
    }
}

impl SshConfig {
    /// Validates the settings and builds the probe.
    pub fn build(&self) -> Result<Box<dyn Probe>, ConfigError> {
        if !self.sshd_path.is_absolute() {
            return Err(ConfigError::Invalid {
                probe: "ssh",
                key: "sshd_path",
                reason: format!("{} is not an absolute path", self.sshd_path.display()),
            });
        }
        Ok(Box::new(SshProbe {
            sshd: self.sshd_path.clone(),
        }))
    }
}

struct SshProbe {
    sshd: PathBuf,
}

#[async_trait]
impl Probe for SshProbe {
    fn id(&self) -> &'static str {
        PROBE_ID
    }

    fn domain(&self) -> Domain {
        Domain::SshServer
    }

    fn timeout(&self, cx: &ProbeCx) -> Duration {
        cx.command_timeout
            .max(CROSSCHECK_TIMEOUT + Duration::from_secs(5))
    }

    async fn collect(&self, cx: &ProbeCx) -> Result<State, ProbeError> {
        let root = cx.root.clone();
        let sshd = self.sshd.clone();
        // File reads block; keep them off the async workers.
        let mut server = tokio::task::spawn_blocking(move || gather(&root, &sshd))
            .await
            .map_err(|e| ProbeError::Cancelled {
                probe: PROBE_ID.to_owned(),
                message: e.to_string(),
            })?;
        if server.installed {
            server.cross_check = Some(cross_check(cx, &self.sshd, &server).await);
        }
        Ok(State::SshServer(server))
    }
}

/// Everything but the cross-check, from the tree under `root`.
pub fn gather(root: &Path, sshd: &Path) -> SshServer {
    let binary = resolve_in_root(root, &sshd.to_string_lossy()).is_file();
    let Some(parsed) = config::parse(root, MAIN_CONFIG) else {
        return SshServer {
            installed: binary,
            ..SshServer::default()
        };
    };
    let mut settings = parsed.global;
    let defaulted_keys = effective::complete(&mut settings);
    let host_keys = host_keys(root, settings.get("hostkey"));
    let wire = |p: &str| unix_path(Path::new(p));
    SshServer {
        installed: true,
        settings: settings.into_iter().collect(),
        host_keys,
        match_blocks: parsed
            .blocks
            .into_iter()
            .map(|b| SshMatchBlock {
                criteria: b.criteria,
                file: Some(wire(&b.file)),
                line: b.line,
                settings: b.settings.into_iter().collect(),
            })
            .collect(),
        files_read: parsed.files_read.iter().map(|f| wire(f)).collect(),
        problems: parsed
            .problems
            .into_iter()
            .take(MAX_PROBLEMS)
            .map(|p| SshConfigProblem {
                kind: p.kind as i32,
                file: Some(wire(&p.file)),
                line: p.line,
                message: p.message,
            })
            .collect(),
        defaulted_keys,
        cross_check: None,
    }
}

/// Host keys from their `.pub` files; `configured` is the HostKey value (space-separated paths).
fn host_keys(root: &Path, configured: Option<&String>) -> Vec<HostKey> {
    let in_use: BTreeSet<String> = match configured {
        Some(list) => list.split(' ').map(str::to_owned).collect(),
        None => keywords::DEFAULT_HOST_KEYS
            .iter()
            .map(|s| (*s).to_owned())
            .collect(),
    };
    let in_use_list: Vec<String> = in_use.iter().cloned().collect();
    keys::candidates(root, &in_use_list)
        .into_iter()
        .map(|path| {
            let info = keys::read(root, &path);
            let private = path.strip_suffix(".pub").unwrap_or(&path);
            HostKey {
                key_type: info.key_type,
                bits: info.bits,
                fingerprint_sha256: info.fingerprint,
                in_use: in_use.contains(private),
                path: Some(unix_path(Path::new(&path))),
                error: info.error,
            }
        })
        .collect()
}

async fn cross_check(
    cx: &ProbeCx,
    sshd: &Path,
    server: &SshServer,
) -> vigie_proto::v1::SshCrossCheck {
    if !cx.is_live_root() {
        return crosscheck::not_compared(
            Status::NotRun,
            "foreign root: sshd -T reads the live host",
        );
    }
    if !sshd.is_file() {
        return crosscheck::not_compared(Status::NotRun, format!("{} not found", sshd.display()));
    }
    let args: Vec<String> = crosscheck::ARGS.iter().map(|s| (*s).to_owned()).collect();
    match crosscheck::run(sshd, &args, CROSSCHECK_TIMEOUT).await {
        Ok(dump) => {
            let native = server.settings.clone().into_iter().collect();
            let changed: Vec<&str> = server
                .match_blocks
                .iter()
                .flat_map(|b| b.settings.keys().map(String::as_str))
                .collect();
            crosscheck::compare(&native, &dump, &changed)
        }
        Err(reason) => crosscheck::not_compared(Status::Failed, reason),
    }
}

#[cfg(test)]
mod tests;
