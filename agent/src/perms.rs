//! The paths the agent trusts and the rule each must follow (`vigie_proto::perms`): its
//! configuration and the directory holding it, the state directory, the key and the spool. `run`
//! refuses to start when one is writable by another user or belongs to the wrong one; every command
//! that reads the configuration refuses an unsafe one (it can name commands the agent runs, e.g. a
//! backup job's `password_command`); `doctor` reports them all.

use std::path::{Path, PathBuf};

use vigie_proto::perms::Rule;
pub use vigie_proto::perms::{refuse_unsafe, UnsafePaths};

use crate::identity::KEY_FILE;
use crate::probe::backups::INCOMING_DIR;
use crate::spool::SPOOL_DIR;

/// The configuration file and its directory.
pub fn config_paths(config: &Path) -> Vec<(PathBuf, Rule)> {
    let mut out = vec![(config.to_path_buf(), Rule::NotWritable)];
    if let Some(parent) = config.parent().filter(|p| !p.as_os_str().is_empty()) {
        out.push((parent.to_path_buf(), Rule::Parent));
    }
    out
}

/// The state directory, the key and the spool (with its group drop box for `backup-done`).
pub fn state_paths(state_dir: &Path) -> Vec<(PathBuf, Rule)> {
    let spool = state_dir.join(SPOOL_DIR);
    vec![
        (state_dir.to_path_buf(), Rule::NotWritable),
        (state_dir.join(KEY_FILE), Rule::Private),
        (spool.clone(), Rule::NotWritable),
        (spool.join(crate::run::PROBED_DIR), Rule::NotWritable),
        (state_dir.join(INCOMING_DIR), Rule::NotWorldWritable),
    ]
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn a_group_writable_spool_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let spool = dir.path().join("spool");
        std::fs::create_dir(&spool).unwrap();
        assert!(refuse_unsafe(&state_paths(dir.path())).is_ok());
        std::fs::set_permissions(&spool, std::fs::Permissions::from_mode(0o770)).unwrap();
        let err = refuse_unsafe(&state_paths(dir.path())).unwrap_err();
        assert_eq!(err.0.len(), 1);
        assert!(
            err.to_string().contains(&spool.display().to_string()),
            "{err}"
        );
        assert!(err.to_string().contains("its group"), "{err}");
    }
}
