//! The agent's configuration file (TOML, owned by root): schedule, outbox bound, role and probe
//! settings. Parsed strictly; errors name the file and the key. Absent file → defaults.

use std::path::Path;

use serde::Deserialize;

use crate::probe::ProbesConfig;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {message}")]
    Parse { path: String, message: String },
    #[error("{path}: key `{key}`: {message}")]
    Invalid {
        path: String,
        key: &'static str,
        message: String,
    },
    #[error("{path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// `agent.toml`, version 1.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AgentConfig {
    pub version: u32,
    /// Seconds between full probe cycles (jittered by ±10 %).
    pub interval_secs: u64,
    /// Seconds between heartbeats.
    pub heartbeat_secs: u64,
    /// Most reports kept in the outbox; the oldest are dropped first, and counted.
    pub outbox_max_reports: usize,
    /// `server`, `workstation` or `laptop`.
    pub role: Option<String>,
    /// Seconds of the longest backoff between delivery attempts.
    pub max_backoff_secs: u64,
    pub probes: ProbesConfig,
}

impl Default for AgentConfig {
    fn default() -> Self {
        AgentConfig {
            version: 1,
            interval_secs: 300,
            heartbeat_secs: 60,
            outbox_max_reports: 10_000,
            role: None,
            max_backoff_secs: 300,
            probes: ProbesConfig::default(),
        }
    }
}

impl AgentConfig {
    pub fn load(path: Option<&Path>) -> Result<AgentConfig, ConfigError> {
        let Some(path) = path else {
            return Ok(AgentConfig::default());
        };
        let p = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: p.clone(),
            source,
        })?;
        let cfg: AgentConfig = toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: p.clone(),
            message: e.to_string(),
        })?;
        let bad = |key, message: &str| ConfigError::Invalid {
            path: p.clone(),
            key,
            message: message.into(),
        };
        if cfg.version != 1 {
            return Err(bad("version", "only version 1 exists"));
        }
        if cfg.interval_secs == 0 {
            return Err(bad("interval_secs", "must be at least 1"));
        }
        if cfg.heartbeat_secs == 0 {
            return Err(bad("heartbeat_secs", "must be at least 1"));
        }
        if let Some(role) = &cfg.role {
            if !["server", "workstation", "laptop"].contains(&role.as_str()) {
                return Err(bad("role", "must be server, workstation or laptop"));
            }
        }
        Ok(cfg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_file_and_key() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("agent.toml");
        std::fs::write(&p, "role = \"toaster\"\n").unwrap();
        let e = AgentConfig::load(Some(&p)).unwrap_err().to_string();
        assert!(e.contains("agent.toml") && e.contains("`role`"), "{e}");
        std::fs::write(&p, "colour = 1\n").unwrap();
        let e = AgentConfig::load(Some(&p)).unwrap_err().to_string();
        assert!(e.contains("agent.toml") && e.contains("colour"), "{e}");
        std::fs::write(&p, "interval_secs = 5\n").unwrap();
        assert_eq!(AgentConfig::load(Some(&p)).unwrap().interval_secs, 5);
    }
}
