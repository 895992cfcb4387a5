//! Errors of the probe layer: `ProbeError` (a probe could not observe; becomes error evidence
//! with a stable `AG01xx` code) and `ConfigError` (the `[probes]` config section is invalid,
//! refused at start-up). Not here: errors of config loading, spooling or shipping.

use std::path::PathBuf;

/// Why a probe produced no state. Each variant has a stable code (`code()`), greppable in docs and
/// logs; the Display text is what the sysadmin reads next to the failed check.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// The package tool is absent: a normal case on a host that is not Debian or Ubuntu.
    #[error("apt-get not found: not a Debian/Ubuntu host? (looked for {path})")]
    AptGetMissing { path: PathBuf },
    /// The tool could not be started.
    #[error("starting {tool}: {source}")]
    Spawn {
        tool: String,
        #[source]
        source: std::io::Error,
    },
    /// The tool ran and failed; `stderr` is its (bounded) error output.
    #[error("{tool} failed ({status}): {stderr}")]
    ToolFailed {
        tool: String,
        status: String,
        stderr: String,
    },
    /// The tool ran past its timeout and was killed.
    #[error("{tool} did not finish within {secs} s and was killed")]
    ToolTimeout { tool: String, secs: u64 },
    /// A file the probe cannot do without was unreadable.
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The probe as a whole ran past the runner's deadline.
    #[error("probe {probe} did not finish within {millis} ms")]
    Timeout { probe: String, millis: u128 },
    /// The probe panicked; the panic was caught at the task boundary.
    #[error("probe {probe} panicked: {message}")]
    Panicked { probe: String, message: String },
    /// The probe's task was cancelled or its blocking worker was lost.
    #[error("probe {probe} was cancelled: {message}")]
    Cancelled { probe: String, message: String },
}

impl ProbeError {
    /// Stable code of this error, carried in `v1::ProbeError.code`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::AptGetMissing { .. } => "AG0101",
            Self::Spawn { .. } => "AG0102",
            Self::ToolFailed { .. } => "AG0103",
            Self::ToolTimeout { .. } => "AG0104",
            Self::Read { .. } => "AG0105",
            Self::Timeout { .. } => "AG0106",
            Self::Panicked { .. } => "AG0107",
            Self::Cancelled { .. } => "AG0108",
        }
    }

    /// The wire form of this error.
    pub fn to_wire(&self) -> vigie_proto::v1::ProbeError {
        vigie_proto::v1::ProbeError {
            code: self.code().to_owned(),
            message: self.to_string(),
        }
    }
}

/// An invalid `[probes]` setting, named by its key path.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("probes.{probe}.{key}: {reason} (AG0150)")]
    Invalid {
        probe: &'static str,
        key: &'static str,
        reason: String,
    },
    /// The same, for a key whose path is built at run time, e.g. `probes.backups.jobs[2].repository`.
    #[error("{key}: {reason} (AG0150)")]
    InvalidKey { key: String, reason: String },
}

impl ConfigError {
    /// Stable code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Invalid { .. } | Self::InvalidKey { .. } => "AG0150",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(err: ProbeError, code: &str, message: &str) {
        assert_eq!(err.code(), code);
        let wire = err.to_wire();
        assert_eq!(wire.code, code);
        assert_eq!(wire.message, message);
    }

    #[test]
    fn codes_and_messages_are_stable() {
        check(
            ProbeError::AptGetMissing {
                path: "/usr/bin/apt-get".into(),
            },
            "AG0101",
            "apt-get not found: not a Debian/Ubuntu host? (looked for /usr/bin/apt-get)",
        );
        check(
            ProbeError::ToolTimeout {
                tool: "apt-get".into(),
                secs: 3,
            },
            "AG0104",
            "apt-get did not finish within 3 s and was killed",
        );
    }
}
