//! The collector's configuration file, `collector.toml` in the data directory: parsed strictly (unknown
//! keys refused), then validated as a whole so that every problem is reported with its key and file.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Name of the configuration file inside the data directory.
pub const CONFIG_FILE: &str = "collector.toml";

/// Errors reading the configuration; each names the file and, where it can, the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{path}: key `{key}`: {message}")]
    Invalid {
        path: PathBuf,
        key: &'static str,
        message: String,
    },
    /// A key built at run time, e.g. `alerts.sink[2].smtp_port`.
    #[error("{path}: key `{key}`: {message}")]
    InvalidKey {
        path: PathBuf,
        key: String,
        message: String,
    },
}

/// The file as written (version 1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// Format version of this file; only 1 exists.
    pub version: u32,
    /// Ingest port (mutual TLS).
    pub listen: String,
    /// Enrollment port (server-authenticated TLS).
    pub enroll_listen: String,
    /// DNS names or IP addresses in the server certificate.
    pub server_names: Vec<String>,
    /// Check profile: minimal, standard or strict.
    #[serde(default = "default_profile")]
    pub profile: String,
    /// sled page-cache cap, in bytes.
    #[serde(default = "default_cache")]
    pub cache_capacity_bytes: u64,
    /// Validity of agent certificates, in days (30 to 90).
    #[serde(default = "default_validity")]
    pub agent_cert_validity_days: u32,
    /// Reports dated further in the future than this are refused.
    #[serde(default = "default_skew")]
    pub max_clock_skew_secs: u32,
    #[serde(default = "default_handshake_timeout")]
    pub handshake_timeout_secs: u32,
    #[serde(default = "default_max_handshakes")]
    pub max_concurrent_handshakes: u32,
    /// Enrollment attempts allowed per minute from one address.
    #[serde(default = "default_rate_addr")]
    pub enroll_rate_per_minute_per_address: u32,
    /// Enrollment attempts allowed per minute for one organisation.
    #[serde(default = "default_rate_org")]
    pub enroll_rate_per_minute_per_org: u32,
    /// HTTPS listener for backup pings (ECDSA P-256 certificate `https.crt`). Absent in
    /// configurations written before it existed: no HTTPS listener then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub https_listen: Option<String>,
    /// Ping requests allowed per minute from one address (unknown secrets included).
    #[serde(default = "default_rate_ping")]
    pub ping_rate_per_minute_per_address: u32,
    /// Seconds between two periodic re-evaluations of every host and ping job (silent hosts,
    /// stale evidence, late backups are functions of time).
    #[serde(default = "default_reevaluate")]
    pub reevaluate_interval_secs: u32,
    /// Scheduled snapshots, one `[[snapshot_schedule]]` table per organisation (issue 8).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub snapshot_schedule: Vec<crate::snapshot::schedule::RawSchedule>,
    /// Alerts: grouping, cadences, daily digest, sinks and their routing (`alerts::config`).
    /// Absent: alerts are still tracked, and sent nowhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alerts: Option<crate::alerts::config::RawAlerts>,
}

fn default_profile() -> String {
    "standard".into()
}
fn default_cache() -> u64 {
    64 * 1024 * 1024
}
fn default_validity() -> u32 {
    60
}
fn default_skew() -> u32 {
    300
}
fn default_handshake_timeout() -> u32 {
    10
}
fn default_max_handshakes() -> u32 {
    256
}
fn default_rate_addr() -> u32 {
    30
}
fn default_rate_org() -> u32 {
    300
}
fn default_rate_ping() -> u32 {
    60
}
fn default_reevaluate() -> u32 {
    30
}

/// Validated settings.
#[derive(Debug, Clone)]
pub struct Settings {
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    pub enroll_listen: SocketAddr,
    pub server_names: Vec<String>,
    pub profile: vigie_policies::Profile,
    pub cache_capacity_bytes: u64,
    pub agent_cert_validity_days: u32,
    pub max_clock_skew_ms: i64,
    pub handshake_timeout_secs: u32,
    pub max_concurrent_handshakes: u32,
    pub enroll_rate_per_minute_per_address: u32,
    pub enroll_rate_per_minute_per_org: u32,
    pub https_listen: Option<SocketAddr>,
    pub ping_rate_per_minute_per_address: u32,
    pub reevaluate_interval_secs: u32,
    pub snapshot_schedules: Vec<crate::snapshot::schedule::Schedule>,
    pub alerts: crate::alerts::config::AlertSettings,
}

impl RawConfig {
    pub fn new(listen: String, enroll_listen: String, server_names: Vec<String>) -> Self {
        RawConfig {
            version: 1,
            listen,
            enroll_listen,
            server_names,
            profile: default_profile(),
            cache_capacity_bytes: default_cache(),
            agent_cert_validity_days: default_validity(),
            max_clock_skew_secs: default_skew(),
            handshake_timeout_secs: default_handshake_timeout(),
            max_concurrent_handshakes: default_max_handshakes(),
            enroll_rate_per_minute_per_address: default_rate_addr(),
            enroll_rate_per_minute_per_org: default_rate_org(),
            https_listen: None,
            ping_rate_per_minute_per_address: default_rate_ping(),
            reevaluate_interval_secs: default_reevaluate(),
            snapshot_schedule: Vec::new(),
            alerts: None,
        }
    }

    /// Validates every key; returns all problems, not just the first.
    pub fn validate(self, data_dir: &Path) -> Result<Settings, Vec<ConfigError>> {
        let path = data_dir.join(CONFIG_FILE);
        let mut errors = Vec::new();
        let mut bad = |key: &'static str, message: String| {
            errors.push(ConfigError::Invalid {
                path: path.clone(),
                key,
                message,
            })
        };
        if self.version != 1 {
            bad(
                "version",
                format!("unsupported version {}, expected 1", self.version),
            );
        }
        let listen = self
            .listen
            .parse::<SocketAddr>()
            .map_err(|e| bad("listen", e.to_string()))
            .ok();
        let enroll = self
            .enroll_listen
            .parse::<SocketAddr>()
            .map_err(|e| bad("enroll_listen", e.to_string()))
            .ok();
        if self.server_names.is_empty() {
            bad(
                "server_names",
                "at least one name is needed for the server certificate".into(),
            );
        }
        let profile = self
            .profile
            .parse::<vigie_policies::Profile>()
            .map_err(|e| bad("profile", e.to_string()))
            .ok();
        if !(30..=90).contains(&self.agent_cert_validity_days) {
            bad(
                "agent_cert_validity_days",
                "must be between 30 and 90".into(),
            );
        }
        if self.cache_capacity_bytes < 1024 * 1024 {
            bad("cache_capacity_bytes", "must be at least 1 MiB".into());
        }
        if self.max_concurrent_handshakes == 0 {
            bad("max_concurrent_handshakes", "must be at least 1".into());
        }
        if self.handshake_timeout_secs == 0 {
            bad("handshake_timeout_secs", "must be at least 1".into());
        }
        let https_listen = match &self.https_listen {
            None => None,
            Some(text) => text
                .parse::<SocketAddr>()
                .map_err(|e| bad("https_listen", e.to_string()))
                .ok(),
        };
        if !(1..=3600).contains(&self.reevaluate_interval_secs) {
            bad(
                "reevaluate_interval_secs",
                "must be between 1 and 3600".into(),
            );
        }
        if self.ping_rate_per_minute_per_address == 0 {
            bad(
                "ping_rate_per_minute_per_address",
                "must be at least 1".into(),
            );
        }
        let mut snapshot_schedules = Vec::new();
        for raw in &self.snapshot_schedule {
            match raw.validate() {
                Ok(s)
                    if snapshot_schedules
                        .iter()
                        .any(|o: &crate::snapshot::schedule::Schedule| o.org == s.org) =>
                {
                    bad(
                        "snapshot_schedule",
                        format!("org {:?} is scheduled twice", s.org),
                    );
                }
                Ok(s) => snapshot_schedules.push(s),
                Err(message) => bad("snapshot_schedule", message),
            }
        }
        let alerts = match self.alerts.clone().unwrap_or_default().validate() {
            Ok(a) => Some(a),
            Err(problems) => {
                for (key, message) in problems {
                    errors.push(ConfigError::InvalidKey {
                        path: path.clone(),
                        key,
                        message,
                    });
                }
                None
            }
        };
        match (listen, enroll, profile, alerts) {
            (Some(listen), Some(enroll_listen), Some(profile), Some(alerts))
                if errors.is_empty() =>
            {
                Ok(Settings {
                    data_dir: data_dir.to_path_buf(),
                    listen,
                    enroll_listen,
                    server_names: self.server_names,
                    profile,
                    cache_capacity_bytes: self.cache_capacity_bytes,
                    agent_cert_validity_days: self.agent_cert_validity_days,
                    max_clock_skew_ms: i64::from(self.max_clock_skew_secs) * 1000,
                    handshake_timeout_secs: self.handshake_timeout_secs,
                    max_concurrent_handshakes: self.max_concurrent_handshakes,
                    enroll_rate_per_minute_per_address: self.enroll_rate_per_minute_per_address,
                    enroll_rate_per_minute_per_org: self.enroll_rate_per_minute_per_org,
                    https_listen,
                    ping_rate_per_minute_per_address: self.ping_rate_per_minute_per_address,
                    reevaluate_interval_secs: self.reevaluate_interval_secs,
                    snapshot_schedules,
                    alerts,
                })
            }
            _ => Err(errors),
        }
    }
}

/// Reads and validates `collector.toml` of a data directory.
pub fn load(data_dir: &Path) -> Result<Settings, Vec<ConfigError>> {
    let path = data_dir.join(CONFIG_FILE);
    let text = std::fs::read_to_string(&path).map_err(|source| {
        vec![ConfigError::Read {
            path: path.clone(),
            source,
        }]
    })?;
    let raw: RawConfig = toml::from_str(&text).map_err(|e| {
        vec![ConfigError::Parse {
            path: path.clone(),
            message: e.to_string(),
        }]
    })?;
    raw.validate(data_dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(text: &str, expect: &[&str]) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(CONFIG_FILE), text).unwrap();
        match load(dir.path()) {
            Ok(_) => assert!(expect.is_empty(), "expected errors {expect:?}"),
            Err(errors) => {
                let all: Vec<String> = errors.iter().map(ToString::to_string).collect();
                for e in expect {
                    assert!(all.iter().any(|m| m.contains(e)), "{e:?} not in {all:?}");
                }
                assert!(all.iter().all(|m| m.contains("collector.toml")), "{all:?}");
            }
        }
    }

    #[test]
    fn good_and_bad_configs() {
        let good = "version = 1\nlisten = \"127.0.0.1:7443\"\nenroll_listen = \"127.0.0.1:7444\"\nserver_names = [\"localhost\"]\n";
        check(good, &[]);
        check(&good.replace("7443", "x"), &["`listen`"]);
        check(
            &format!("{good}profile = \"lax\"\nagent_cert_validity_days = 400\n"),
            &["`profile`", "`agent_cert_validity_days`"],
        );
        check(&format!("{good}colour = 1\n"), &["unknown field `colour`"]);
        check(
            &format!("{good}https_listen = \"127.0.0.1:7445\"\nreevaluate_interval_secs = 1\n"),
            &[],
        );
        check(
            &format!("{good}https_listen = \"here\"\nreevaluate_interval_secs = 0\n"),
            &["`https_listen`", "`reevaluate_interval_secs`"],
        );
        check(
            &format!(
                "{good}[[snapshot_schedule]]\norg = \"mairie\"\nevery = \"monthly\"\nkeep = 12\n"
            ),
            &[],
        );
        check(
            &format!(
                "{good}[[snapshot_schedule]]\norg = \"mairie\"\nevery = \"often\"\nkeep = 0\n"
            ),
            &["`snapshot_schedule`"],
        );
        check("version = ", &["collector.toml"]);
    }
}
