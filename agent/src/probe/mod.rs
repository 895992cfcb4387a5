//! The agent's probe layer: the `Probe` trait, the context every probe reads, the probe config
//! section, the one ordered registry of compiled-in probes, and the runner that turns every
//! outcome (success, error, timeout, panic) into a `DomainState`.
//!
//! Not here: scheduling, signing, spooling and shipping (the rest of the agent), and any judgement
//! of the evidence (the collector's policies). Probes only observe: they never write outside
//! `ProbeCx::state_dir` and write nothing at all when it is `None`.

pub mod accounts;
pub mod antivirus;
pub mod apt;
pub mod auth;
pub mod backups;
pub mod command;
mod error;
mod fsutil;
pub mod inventory;
pub mod os_release;
mod runner;
pub mod ssh;

use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use vigie_proto::v1::domain_state::State;
use vigie_proto::v1::Domain;

pub use accounts::AccountsConfig;
pub use antivirus::AntivirusConfig;
pub use apt::{parse_simulation, PatchesConfig, SimulatedUpgrade};
pub use auth::AuthConfig;
pub use backups::BackupsConfig;
pub use error::{ConfigError, ProbeError};
pub use fsutil::unix_path;
pub use inventory::InventoryConfig;
pub use runner::run_all;
pub use ssh::SshConfig;

/// What a probe may know about the cycle it runs in. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ProbeCx {
    /// `/` normally. `check --root DIR` evaluates a mounted tree: every file a probe reads is
    /// resolved under this root (absolute symlinks included), and tools run against it only when
    /// they support a foreign root.
    pub root: PathBuf,
    /// Where a probe may keep small state files (first-seen dates). `None` is read-only mode
    /// (`check`): probes may read their state but never write it.
    pub state_dir: Option<PathBuf>,
    /// Agent clock for this cycle, UTC milliseconds. Probes never read the clock themselves.
    pub now_ms: i64,
    /// Role declared in the agent config: server, workstation or laptop.
    pub role: Option<String>,
    /// Default budget of a probe (and of the tools it runs) when the probe sets none itself.
    pub command_timeout: Duration,
}

impl ProbeCx {
    /// Whether the probes observe the running host (root is `/`) rather than a mounted tree.
    pub fn is_live_root(&self) -> bool {
        self.root == std::path::Path::new("/")
    }
}

/// One compiled-in check of the host. Implementations are cheap, stateless between cycles (state
/// lives in files under `ProbeCx::state_dir`) and safe to run concurrently with other probes.
#[async_trait]
pub trait Probe: Send + Sync {
    /// Stable identifier, e.g. `patches.apt`; it names the probe in evidence and logs.
    fn id(&self) -> &'static str;
    /// The evidence domain this probe fills.
    fn domain(&self) -> Domain;
    /// How long the runner lets `collect` run before it gives up on it. Probes that run a tool
    /// with their own, configured timeout return something slightly longer, so that their own,
    /// more precise error wins.
    fn timeout(&self, cx: &ProbeCx) -> Duration {
        cx.command_timeout
    }
    /// Observes the host once and returns the domain's whole current state (DESIGN decision 11).
    async fn collect(&self, cx: &ProbeCx) -> Result<State, ProbeError>;
    /// Called once the report carrying this cycle's state (`cx` is the cycle's context) is durably
    /// in the spool, for probes whose state in it is not an error. A probe that sends each event
    /// once (contractor logins) moves its cursor here, so that a crash before the spool write
    /// re-sends rather than loses. Default: nothing.
    fn spooled(&self, _cx: &ProbeCx) {}
}

/// The `[probes]` section of the agent config. Every probe is enabled by default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProbesConfig {
    /// Host inventory (OS, kernel, CPU, memory, disks, machine id).
    pub inventory: InventoryConfig,
    /// Pending updates, security updates, refresh and reboot state, automatic updates, OS end of life.
    pub patches: PatchesConfig,
    /// Password and authentication policy: PAM stacks, pwquality, faillock, login.defs.
    pub auth: AuthConfig,
    /// SSH server: effective sshd settings, Match blocks, host keys, `sshd -T` cross-check.
    pub ssh: SshConfig,
    /// Accounts: shadow facts (never a hash), uid 0, admin groups, sudoers, last logins, contractors.
    pub accounts: AccountsConfig,
    /// Antivirus: ClamAV engine and daemon, signature age, freshclam, on-access, detections.
    pub antivirus: AntivirusConfig,
    /// Backup jobs: restic, borg, push records, systemd units, freshness of paths.
    pub backups: BackupsConfig,
    /// File integrity: watched paths, baseline, realtime, rescans (the monitor runs beside the
    /// probes; its `fim.status` probe reports its state with each cycle).
    pub fim: crate::fim::FimConfig,
}

/// The registry: every compiled-in probe, in the order they run and report. Disabled probes are
/// left out. Add a probe here, deliberately, and nowhere else (style rule 5).
pub fn all_probes(cfg: &ProbesConfig) -> Result<Vec<Box<dyn Probe>>, ConfigError> {
    let mut probes: Vec<Box<dyn Probe>> = Vec::new();
    // Inventory first: it identifies the host and its OS, which every other domain is read against.
    if cfg.inventory.enabled {
        probes.push(cfg.inventory.build()?);
    }
    // Patches: runs apt-get, the slowest probe; the runner starts all probes at once anyway.
    if cfg.patches.enabled {
        probes.push(cfg.patches.build()?);
    }
    // Password and authentication policy: files only, fast.
    if cfg.auth.enabled {
        probes.push(cfg.auth.build()?);
    }
    // SSH server: files only, plus `sshd -T` as a cross-check on the live host.
    if cfg.ssh.enabled {
        probes.push(cfg.ssh.build()?);
    }
    // Accounts: files only (passwd, group, shadow, sudoers, lastlog, wtmp).
    if cfg.accounts.enabled {
        probes.push(cfg.accounts.build()?);
    }
    // Antivirus: files, plus clamd's socket on the live host (a few seconds at most).
    if cfg.antivirus.enabled {
        probes.push(cfg.antivirus.build()?);
    }
    // Backups: one tool run or two per declared job, jobs concurrently; nothing without jobs.
    if cfg.backups.enabled {
        probes.push(cfg.backups.build()?);
    }
    // File integrity: reads the monitor's status file only; the monitor itself runs in `run`.
    if cfg.fim.enabled {
        probes.push(cfg.fim.build()?);
    }
    Ok(probes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[track_caller]
    fn check(toml_text: &str, expect_ids: &[&str]) {
        let cfg: ProbesConfig = toml::from_str(toml_text).unwrap();
        let ids: Vec<&str> = all_probes(&cfg).unwrap().iter().map(|p| p.id()).collect();
        assert_eq!(ids, expect_ids);
    }

    #[test]
    fn registry_follows_config() {
        check(
            "",
            &[
                "inventory.sysinfo",
                "patches.apt",
                "auth.pam",
                "ssh.server",
                "accounts.local",
                "antivirus.clamav",
                "backups.jobs",
                "fim.status",
            ],
        );
        check(
            "[patches]\nenabled = false\n",
            &[
                "inventory.sysinfo",
                "auth.pam",
                "ssh.server",
                "accounts.local",
                "antivirus.clamav",
                "backups.jobs",
                "fim.status",
            ],
        );
        check(
            "[inventory]\nenabled = false\n",
            &[
                "patches.apt",
                "auth.pam",
                "ssh.server",
                "accounts.local",
                "antivirus.clamav",
                "backups.jobs",
                "fim.status",
            ],
        );
        check(
            "[auth]\nenabled = false\n",
            &[
                "inventory.sysinfo",
                "patches.apt",
                "ssh.server",
                "accounts.local",
                "antivirus.clamav",
                "backups.jobs",
                "fim.status",
            ],
        );
        check(
            "[ssh]\nenabled = false\n",
            &[
                "inventory.sysinfo",
                "patches.apt",
                "auth.pam",
                "accounts.local",
                "antivirus.clamav",
                "backups.jobs",
                "fim.status",
            ],
        );
        check(
            "[accounts]\nenabled = false\n",
            &[
                "inventory.sysinfo",
                "patches.apt",
                "auth.pam",
                "ssh.server",
                "antivirus.clamav",
                "backups.jobs",
                "fim.status",
            ],
        );
        check(
            "[antivirus]\nenabled = false\n",
            &[
                "inventory.sysinfo",
                "patches.apt",
                "auth.pam",
                "ssh.server",
                "accounts.local",
                "backups.jobs",
                "fim.status",
            ],
        );
    }

    #[test]
    fn registry_ids_are_unique_and_default_config_round_trips() {
        let cfg = ProbesConfig::default();
        let probes = all_probes(&cfg).unwrap();
        let ids: BTreeSet<&str> = probes.iter().map(|p| p.id()).collect();
        assert_eq!(ids.len(), probes.len());
        let text = toml::to_string(&cfg).unwrap();
        let back: ProbesConfig = toml::from_str(&text).unwrap();
        assert_eq!(back, cfg);
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused() {
        assert!(toml::from_str::<ProbesConfig>("[patches]\nfoo = 1\n").is_err());
        let cfg: ProbesConfig = toml::from_str("[patches]\ntimeout_secs = 0\n").unwrap();
        let err = all_probes(&cfg).err().unwrap();
        assert!(
            err.to_string().contains("probes.patches.timeout_secs"),
            "{err}"
        );
        let cfg: ProbesConfig = toml::from_str("[patches]\napt_get_path = \"apt-get\"\n").unwrap();
        assert!(all_probes(&cfg).is_err());
    }
}
