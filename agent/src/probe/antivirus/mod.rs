//! The antivirus probe (`antivirus.clamav`): which engines are installed, whether their daemon
//! answers, how old their signatures are, whether on-access scanning is on and what they detected
//! recently. Every engine sits behind `AvEngine`; ClamAV is the only one built (`clamav.rs`), and
//! Microsoft Defender or another engine is one more `AvEngine` in `engines()`, with no change to the
//! probe framework or the evidence format.
//!
//! Nothing here is fatal: an unreadable file or a silent daemon becomes a problem line and false or
//! zero facts in the engine's evidence, so the state is always reported. A host with no engine at
//! all reports an empty `engines` list (AV-001 judges it). Files are read under `ProbeCx::root`; the
//! daemon is contacted only on the live host. Not here: scanning, updating, or judging.

mod clamav;
mod clamd;
pub mod cvd;
mod detections;
mod freshclam;
mod timetext;

use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use vigie_proto::v1::domain_state::State;
use vigie_proto::v1::{Antivirus, AntivirusEngine, Domain};

use super::{ConfigError, Probe, ProbeCx, ProbeError};

pub use cvd::{parse_header as parse_cvd_header, CvdError, CvdHeader};

const PROBE_ID: &str = "antivirus.clamav";
/// Time the file reads may take on top of the socket deadlines.
const FILES_BUDGET: Duration = Duration::from_secs(30);

/// `[probes.antivirus]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct AntivirusConfig {
    /// Whether the antivirus probe runs.
    pub enabled: bool,
    /// clamd's configuration file (host path, read under the root): socket, databases, log,
    /// on-access settings.
    pub clamd_conf: PathBuf,
    /// freshclam's configuration file: its log and database directory.
    pub freshclam_conf: PathBuf,
    /// Signature database directory; when unset, clamd.conf's `DatabaseDirectory`, then freshclam's,
    /// then `/var/lib/clamav`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_dir: Option<PathBuf>,
    /// freshclam's log; when unset, freshclam.conf's `UpdateLogFile`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub freshclam_log: Option<PathBuf>,
    /// Deadline of each exchange with clamd (connect, request, answer), 1 to 60 seconds. A socket
    /// that accepts but never answers costs this much, twice (PING, VERSION) at most.
    pub socket_timeout_secs: u64,
    /// Detections older than this many days are not reported (1 to 366).
    pub detection_window_days: u64,
    /// Most detections reported per engine (1 to 1000); the rest are counted.
    pub max_detections: u32,
}

impl Default for AntivirusConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            clamd_conf: PathBuf::from("/etc/clamav/clamd.conf"),
            freshclam_conf: PathBuf::from("/etc/clamav/freshclam.conf"),
            database_dir: None,
            freshclam_log: None,
            socket_timeout_secs: 3,
            detection_window_days: 30,
            max_detections: 50,
        }
    }
}

impl AntivirusConfig {
    /// Validates the settings and builds the probe.
    pub fn build(&self) -> Result<Box<dyn Probe>, ConfigError> {
        let invalid = |key: &'static str, reason: String| ConfigError::Invalid {
            probe: "antivirus",
            key,
            reason,
        };
        if !(1..=60).contains(&self.socket_timeout_secs) {
            let reason = format!("{} is outside 1..=60", self.socket_timeout_secs);
            return Err(invalid("socket_timeout_secs", reason));
        }
        if !(1..=366).contains(&self.detection_window_days) {
            let reason = format!("{} is outside 1..=366", self.detection_window_days);
            return Err(invalid("detection_window_days", reason));
        }
        if !(1..=1000).contains(&self.max_detections) {
            let reason = format!("{} is outside 1..=1000", self.max_detections);
            return Err(invalid("max_detections", reason));
        }
        let paths = [
            ("clamd_conf", Some(&self.clamd_conf)),
            ("freshclam_conf", Some(&self.freshclam_conf)),
            ("database_dir", self.database_dir.as_ref()),
            ("freshclam_log", self.freshclam_log.as_ref()),
        ];
        for (key, path) in paths {
            if let Some(path) = path.filter(|p| !p.is_absolute()) {
                return Err(invalid(
                    key,
                    format!("{} is not an absolute path", path.display()),
                ));
            }
        }
        let clamav = clamav::ClamAv {
            clamd_conf: self.clamd_conf.clone(),
            freshclam_conf: self.freshclam_conf.clone(),
            database_dir: self.database_dir.clone(),
            freshclam_log: self.freshclam_log.clone(),
            socket_timeout: Duration::from_secs(self.socket_timeout_secs),
            window_ms: i64::try_from(self.detection_window_days)
                .unwrap_or(366)
                .saturating_mul(86_400_000),
            max_detections: usize::try_from(self.max_detections).unwrap_or(50),
        };
        let socket_timeout = Duration::from_secs(self.socket_timeout_secs);
        Ok(Box::new(AntivirusProbe {
            engines: vec![Box::new(clamav)],
            // PING and VERSION, each under its own deadline, then the files.
            timeout: socket_timeout
                .saturating_mul(2)
                .saturating_add(FILES_BUDGET),
        }))
    }
}

/// One antivirus product the probe knows how to observe. The seam for Defender and others: an
/// implementation reads what its product leaves on the host and fills an `AntivirusEngine`, putting
/// every non-fatal problem in `problems`.
#[async_trait]
pub(crate) trait AvEngine: Send + Sync {
    /// The product name carried in the evidence, e.g. `clamav`.
    fn product(&self) -> &'static str;
    /// The engine's state, or `None` when no part of it is installed on this host.
    async fn observe(&self, cx: &ProbeCx) -> Result<Option<AntivirusEngine>, ProbeError>;
}

struct AntivirusProbe {
    engines: Vec<Box<dyn AvEngine>>,
    timeout: Duration,
}

#[async_trait]
impl Probe for AntivirusProbe {
    fn id(&self) -> &'static str {
        PROBE_ID
    }

    fn domain(&self) -> Domain {
        Domain::Antivirus
    }

    fn timeout(&self, _cx: &ProbeCx) -> Duration {
        self.timeout
    }

    async fn collect(&self, cx: &ProbeCx) -> Result<State, ProbeError> {
        let mut engines = Vec::new();
        for engine in &self.engines {
            if let Some(found) = engine.observe(cx).await? {
                engines.push(found);
            }
        }
        Ok(State::Antivirus(Antivirus { engines }))
    }
}

/// The one-line French summary `vigie-agent check` prints for the antivirus domain.
pub fn summary_fr(av: &Antivirus) -> String {
    if av.engines.is_empty() {
        return "aucun antivirus détecté".to_owned();
    }
    let lines: Vec<String> = av
        .engines
        .iter()
        .map(|e| {
            let daemon = match (e.running_checked, e.running) {
                (false, _) => "démon non interrogé",
                (true, true) => "démon actif",
                (true, false) => "démon injoignable",
            };
            let version = match e.engine_version.as_str() {
                "" => String::new(),
                v => format!(" {v}"),
            };
            let signatures = match e.signature_built_ms {
                0 => "date des signatures inconnue".to_owned(),
                built => format!(
                    "signatures {} construites le {}",
                    e.signature_version,
                    timetext::utc_text(built)
                ),
            };
            let on_access = if e.on_access.as_ref().is_some_and(|o| o.enabled) {
                "oui"
            } else {
                "non"
            };
            format!(
                "{}{version}: {daemon}; {signatures}; analyse à l'accès: {on_access}; {} détection(s) récente(s)",
                e.product,
                e.detections.len() + e.detections_omitted as usize
            )
        })
        .collect();
    lines.join(" | ")
}

/// `Cancelled` for a blocking task that was lost.
fn cancelled(e: &tokio::task::JoinError) -> ProbeError {
    ProbeError::Cancelled {
        probe: PROBE_ID.to_owned(),
        message: e.to_string(),
    }
}

#[cfg(test)]
mod tests;
