//! The Debian/Ubuntu patches probe (`patches.apt`): pending and security updates from
//! `LC_ALL=C apt-get -s dist-upgrade` (DESIGN decision 20: apt itself resolves pinning, backports
//! and phasing, no home-made version comparison), each with its first-seen date, plus what files
//! say: last metadata refresh, last upgrade, reboot required, automatic updates, OS end of life.
//!
//! apt-get missing or failing is a `ProbeError`; any other unreadable input is a warning in
//! `Patches.warnings` and the rest is still reported. Not here: dnf or Windows Update (later
//! probes), and any judgement of the numbers.

mod auto;
mod command;
pub mod eol;
mod first_seen;
mod host;
mod parse;
#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use vigie_proto::v1::domain_state::State;
use vigie_proto::v1::{Domain, Patches, PendingUpdate};

use super::{os_release, ConfigError, Probe, ProbeCx, ProbeError};

pub use parse::{is_security_origin, parse_simulation, SimulatedUpgrade};

const PROBE_ID: &str = "patches.apt";
/// Time the file reads after apt-get may take, on top of apt-get's own timeout.
const FILES_BUDGET: Duration = Duration::from_secs(30);
const MAX_WARNINGS: usize = 50;

/// `[probes.patches]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct PatchesConfig {
    /// Whether the patches probe runs.
    pub enabled: bool,
    /// Absolute path of the apt-get binary of the host running the agent.
    pub apt_get_path: PathBuf,
    /// apt-get is killed after this many seconds (1 to 3600).
    pub timeout_secs: u64,
    /// Not a config key: where a read-only run (`check`, whose `ProbeCx::state_dir` is `None`) reads
    /// first-seen dates, normally the agent's state directory. Set by the CLI; `None` means
    /// pending updates are dated "now".
    #[serde(skip)]
    pub first_seen_read_dir: Option<PathBuf>,
}

impl Default for PatchesConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            apt_get_path: PathBuf::from("/usr/bin/apt-get"),
            timeout_secs: 120,
            first_seen_read_dir: None,
        }
    }
}

impl PatchesConfig {
    /// Validates the settings and builds the probe.
    pub fn build(&self) -> Result<Box<dyn Probe>, ConfigError> {
        if !(1..=3600).contains(&self.timeout_secs) {
            return Err(ConfigError::Invalid {
                probe: "patches",
                key: "timeout_secs",
                reason: format!("{} is outside 1..=3600", self.timeout_secs),
            });
        }
        if !self.apt_get_path.is_absolute() {
            return Err(ConfigError::Invalid {
                probe: "patches",
                key: "apt_get_path",
                reason: format!("{} is not an absolute path", self.apt_get_path.display()),
            });
        }
        Ok(Box::new(AptProbe {
            apt_get: self.apt_get_path.clone(),
            timeout: Duration::from_secs(self.timeout_secs),
            first_seen_read_dir: self.first_seen_read_dir.clone(),
        }))
    }
}

struct AptProbe {
    apt_get: PathBuf,
    timeout: Duration,
    first_seen_read_dir: Option<PathBuf>,
}

#[async_trait]
impl Probe for AptProbe {
    fn id(&self) -> &'static str {
        PROBE_ID
    }

    fn domain(&self) -> Domain {
        Domain::Patches
    }

    fn timeout(&self, _cx: &ProbeCx) -> Duration {
        self.timeout.saturating_add(FILES_BUDGET)
    }

    async fn collect(&self, cx: &ProbeCx) -> Result<State, ProbeError> {
        let live = cx.is_live_root();
        let mut warnings = Vec::new();
        if !live {
            // apt-get reads its configuration files before its command-line options, so `-o Dir`
            // redirects sources, preferences, lists and dpkg status to the tree, but the running
            // host's apt.conf.d still applies. Say so rather than pretend.
            warnings.push(format!(
                "apt-get simulated against {} with -o Dir; apt.conf.d settings of the host running the check still apply",
                cx.root.display()
            ));
        }
        let sim = command::simulate(&self.apt_get, &cx.root, live, self.timeout).await?;
        warnings.extend(sim.diagnostics);
        let upgrades = parse_simulation(&sim.stdout);
        let cx = cx.clone();
        let read_dir = cx
            .state_dir
            .clone()
            .or_else(|| self.first_seen_read_dir.clone());
        tokio::task::spawn_blocking(move || {
            State::Patches(from_files(&cx, read_dir, upgrades, warnings))
        })
        .await
        .map_err(|e| ProbeError::Cancelled {
            probe: PROBE_ID.to_owned(),
            message: e.to_string(),
        })
    }
}

/// Everything but the simulation: first-seen dates and the facts read from files.
fn from_files(
    cx: &ProbeCx,
    read_dir: Option<PathBuf>,
    upgrades: Vec<SimulatedUpgrade>,
    mut warnings: Vec<String>,
) -> Patches {
    let keys: Vec<first_seen::Key> = upgrades
        .iter()
        .map(|u| (u.package.clone(), u.candidate_version.clone(), u.security))
        .collect();
    let dates = first_seen::resolve(
        cx.state_dir.as_deref(),
        read_dir.as_deref(),
        &keys,
        cx.now_ms,
        &mut warnings,
    );
    let pending = upgrades
        .into_iter()
        .zip(dates)
        .map(|(u, first_seen_ms)| PendingUpdate {
            origins: u
                .origins
                .iter()
                .map(|o| match u.arch.as_str() {
                    "" => o.clone(),
                    arch => format!("{o} [{arch}]"),
                })
                .collect(),
            package: u.package,
            installed_version: u.installed_version.unwrap_or_default(),
            candidate_version: u.candidate_version,
            security: u.security,
            first_seen_ms,
        })
        .collect();
    let (refresh_ms, refresh_source) = host::metadata_refresh(&cx.root, &mut warnings);
    let last_upgrade_ms = host::last_upgrade(&cx.root, &mut warnings);
    let (reboot, reboot_since, reboot_pkgs) = host::reboot_required(&cx.root, &mut warnings);
    let (auto_on, auto_source) = auto::automatic_updates(&cx.root, &mut warnings);
    let support = match os_release::read(&cx.root) {
        Some(os) => eol::lookup(&os.id, &os.version_id),
        None => {
            warnings.push("reading /etc/os-release and /usr/lib/os-release failed".to_owned());
            None
        }
    };
    warnings.truncate(MAX_WARNINGS);
    Patches {
        manager: "apt".to_owned(),
        pending,
        last_metadata_refresh_ms: refresh_ms,
        last_metadata_refresh_source: refresh_source,
        last_upgrade_ms,
        reboot_required: reboot,
        reboot_required_since_ms: reboot_since,
        reboot_required_packages: reboot_pkgs,
        automatic_updates_enabled: auto_on,
        automatic_updates_source: auto_source,
        os_end_of_life_ms: support.map_or(0, |s| s.end_of_life_ms),
        os_release_known: support.is_some(),
        warnings,
    }
}
