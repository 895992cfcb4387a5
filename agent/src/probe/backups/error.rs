//! Why one backup job has no evidence (`BackupJob.error`): each variant names the job and the object
//! involved and has a stable `AG02xx` code. One job's error never fails the probe or another job.
//! Messages never carry a secret: repositories are shown redacted, stderr is cut and sanitized.

use std::path::PathBuf;

/// A job whose evidence could not be read.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("job {job}: {tool} not found at {path}")]
    ToolMissing {
        job: String,
        tool: &'static str,
        path: PathBuf,
    },
    #[error("job {job}: wrong password for repository {repository} (or no key found)")]
    WrongPassword { job: String, repository: String },
    #[error("job {job}: repository {repository} does not exist or is unreachable")]
    RepositoryMissing { job: String, repository: String },
    #[error("job {job}: repository {repository} is locked")]
    Locked { job: String, repository: String },
    #[error("job {job}: {tool} failed ({status}): {stderr}")]
    ToolFailed {
        job: String,
        tool: &'static str,
        status: String,
        stderr: String,
    },
    #[error("job {job}: {tool} did not finish within {secs} s and was killed")]
    ToolTimeout {
        job: String,
        tool: &'static str,
        secs: u64,
    },
    #[error("job {job}: unexpected {tool} output: {reason}")]
    Output {
        job: String,
        tool: &'static str,
        reason: String,
    },
    #[error("job {job}: reading {path}: {source}")]
    Read {
        job: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("job {job}: starting {tool}: {source}")]
    Spawn {
        job: String,
        tool: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("job {job}: {reason}")]
    Unsupported { job: String, reason: String },
    #[error("job {job}: repository {repository} is not encrypted (borg refuses an unknown unencrypted repository)")]
    Unencrypted { job: String, repository: String },
    #[error("job {job}: repository {repository} is damaged, run `{tool} check`: {detail}")]
    Damaged {
        job: String,
        tool: &'static str,
        repository: String,
        detail: String,
    },
    #[error("job {job}: no borg key file for repository {repository} in {} (keyfile mode: set borg_keys_dir to the backup user's keys directory)", keys_dir.display())]
    KeyFileMissing {
        job: String,
        repository: String,
        keys_dir: PathBuf,
    },
}

impl JobError {
    /// Stable code, carried in `v1::ProbeError.code`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::ToolMissing { .. } => "AG0201",
            Self::WrongPassword { .. } => "AG0202",
            Self::RepositoryMissing { .. } => "AG0203",
            Self::Locked { .. } => "AG0204",
            Self::ToolFailed { .. } => "AG0205",
            Self::ToolTimeout { .. } => "AG0206",
            Self::Output { .. } => "AG0207",
            Self::Read { .. } => "AG0208",
            Self::Spawn { .. } => "AG0209",
            Self::Unsupported { .. } => "AG0210",
            Self::Unencrypted { .. } => "AG0211",
            Self::KeyFileMissing { .. } => "AG0212",
            Self::Damaged { .. } => "AG0213",
        }
    }

    pub fn to_wire(&self) -> vigie_proto::v1::ProbeError {
        vigie_proto::v1::ProbeError {
            code: self.code().to_owned(),
            message: super::sanitize(&self.to_string(), super::MAX_MESSAGE_CHARS),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(err: JobError, code: &str, message: &str) {
        let wire = err.to_wire();
        assert_eq!(wire.code, code);
        assert_eq!(wire.message, message);
    }

    #[test]
    fn codes_and_messages_are_stable() {
        check(
            JobError::WrongPassword {
                job: "nas".into(),
                repository: "/srv/restic".into(),
            },
            "AG0202",
            "job nas: wrong password for repository /srv/restic (or no key found)",
        );
        check(
            JobError::ToolFailed {
                job: "b".into(),
                tool: "borg",
                status: "exit status: 2".into(),
                stderr: "line\u{1b}[31m".into(),
            },
            "AG0205",
            "job b: borg failed (exit status: 2): line?[31m",
        );
    }
}
