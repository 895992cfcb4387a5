//! Ownership and mode checks of the local files both binaries trust at start (configuration, keys,
//! state, spool and data directories): a path that another user could write, or that belongs to
//! neither root nor the running user, is refused with its name, the reason and the command that fixes
//! it. The one place of this crate that reads the file system (`stat` only, nothing is changed).

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// What a path must satisfy, besides belonging to root or to the running user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// Configuration files and the directories Vigie writes: no write access for group or others.
    NotWritable,
    /// Key files: no access at all for group or others (0600 or stricter).
    Private,
    /// A drop directory shared with a group on purpose (the agent's `spool/incoming`, mode 2770 for
    /// `vigie-push`): group-writable is allowed, world-writable is not.
    NotWorldWritable,
    /// The directory holding a configuration file: as `NotWritable`, except that a sticky directory
    /// (such as /tmp) is accepted, since there nobody can replace a file they do not own.
    Parent,
}

/// Why a path is refused. Each variant names the path; `fix()` gives the command that repairs it.
#[derive(Debug, thiserror::Error)]
pub enum PermError {
    #[error("{path}: {source}", path = path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is writable by {who} (mode {mode:04o}); anyone there could change what Vigie trusts: run `{fix}`", path = path.display(), who = if *mode & 0o002 != 0 { "every user" } else { "its group" }, fix = fix_writable(path))]
    Writable { path: PathBuf, mode: u32 },
    #[error("{path} is a key readable or writable by group or others (mode {mode:04o}): run `chmod 600 {path}`", path = path.display())]
    Readable { path: PathBuf, mode: u32 },
    #[error("{path} belongs to uid {owner}, which is neither root nor the user running Vigie (uid {running}): run `chown {running} {path}` (or `chown root`)", path = path.display())]
    Owner {
        path: PathBuf,
        owner: u32,
        running: u32,
    },
}

fn fix_writable(path: &Path) -> String {
    format!("chmod go-w {}", path.display())
}

impl PermError {
    /// The path concerned.
    pub fn path(&self) -> &Path {
        match self {
            PermError::Io { path, .. }
            | PermError::Writable { path, .. }
            | PermError::Readable { path, .. }
            | PermError::Owner { path, .. } => path,
        }
    }

    /// The shell command that fixes it, when there is one.
    pub fn fix(&self) -> Option<String> {
        match self {
            PermError::Io { .. } => None,
            PermError::Writable { path, .. } => Some(fix_writable(path)),
            PermError::Readable { path, .. } => Some(format!("chmod 600 {}", path.display())),
            PermError::Owner { path, running, .. } => {
                Some(format!("chown {running} {}", path.display()))
            }
        }
    }
}

/// The effective uid of this process, from `/proc/self/status` (the owner of `/proc/self` is root
/// when the process is not dumpable, which capabilities can cause).
pub fn effective_uid() -> Result<u32, PermError> {
    let path = Path::new("/proc/self/status");
    let text = fs::read_to_string(path).map_err(|source| PermError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    text.lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|rest| rest.split_whitespace().nth(1))
        .and_then(|euid| euid.parse().ok())
        .ok_or_else(|| PermError::Io {
            path: path.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, "no Uid: line"),
        })
}

/// Checks one path (following symlinks) against `rule` for a process running as `running_uid`.
/// A missing path is an error; use [`check_existing`] for paths that may not exist yet.
pub fn check(path: &Path, rule: Rule, running_uid: u32) -> Result<(), PermError> {
    let meta = fs::metadata(path).map_err(|source| PermError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    judge(
        path,
        meta.uid(),
        meta.permissions().mode(),
        rule,
        running_uid,
    )
}

/// As [`check`], but a path that does not exist passes.
pub fn check_existing(path: &Path, rule: Rule, running_uid: u32) -> Result<(), PermError> {
    match check(path, rule, running_uid) {
        Err(PermError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            Ok(())
        }
        other => other,
    }
}

/// Every unsafe path found, one per line: why a binary refuses to start.
#[derive(Debug, thiserror::Error)]
#[error("refusing to start: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
pub struct UnsafePaths(pub Vec<PermError>);

/// Checks `paths` (missing ones pass: whoever needs them says so) for the running user.
pub fn refuse_unsafe(paths: &[(PathBuf, Rule)]) -> Result<(), UnsafePaths> {
    let uid = effective_uid().map_err(|e| UnsafePaths(vec![e]))?;
    let problems = check_all(paths, uid);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(UnsafePaths(problems))
    }
}

/// Checks every `(path, rule)` and returns every problem, not only the first.
pub fn check_all(paths: &[(PathBuf, Rule)], running_uid: u32) -> Vec<PermError> {
    paths
        .iter()
        .filter_map(|(p, r)| check_existing(p, *r, running_uid).err())
        .collect()
}

/// The decision, on the facts of one `stat`.
pub fn judge(
    path: &Path,
    owner: u32,
    mode: u32,
    rule: Rule,
    running_uid: u32,
) -> Result<(), PermError> {
    if owner != 0 && owner != running_uid {
        return Err(PermError::Owner {
            path: path.to_path_buf(),
            owner,
            running: running_uid,
        });
    }
    let perm = mode & 0o7777;
    let refused = match rule {
        Rule::Private => {
            if perm & 0o077 != 0 {
                return Err(PermError::Readable {
                    path: path.to_path_buf(),
                    mode: perm,
                });
            }
            false
        }
        Rule::NotWritable => perm & 0o022 != 0,
        Rule::NotWorldWritable => perm & 0o002 != 0,
        Rule::Parent => perm & 0o022 != 0 && perm & 0o1000 == 0,
    };
    if refused {
        return Err(PermError::Writable {
            path: path.to_path_buf(),
            mode: perm,
        });
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn p() -> &'static Path {
        Path::new("/etc/vigie/agent.toml")
    }

    #[test]
    fn modes_and_owners() {
        assert!(judge(p(), 0, 0o644, Rule::NotWritable, 999).is_ok());
        assert!(judge(p(), 999, 0o600, Rule::Private, 999).is_ok());
        assert!(matches!(
            judge(p(), 0, 0o664, Rule::NotWritable, 999),
            Err(PermError::Writable { mode: 0o664, .. })
        ));
        assert!(judge(p(), 0, 0o646, Rule::NotWritable, 999)
            .unwrap_err()
            .to_string()
            .contains("every user"));
        assert!(matches!(
            judge(p(), 0, 0o640, Rule::Private, 0),
            Err(PermError::Readable { .. })
        ));
        assert!(judge(p(), 0, 0o2770, Rule::NotWorldWritable, 0).is_ok());
        assert!(judge(p(), 0, 0o2777, Rule::NotWorldWritable, 0).is_err());
        assert!(judge(p(), 0, 0o1777, Rule::Parent, 0).is_ok());
        assert!(judge(p(), 0, 0o777, Rule::Parent, 0).is_err());
        let err = judge(p(), 1234, 0o644, Rule::NotWritable, 999).unwrap_err();
        assert!(matches!(err, PermError::Owner { owner: 1234, .. }));
        assert_eq!(
            err.fix().as_deref(),
            Some("chown 999 /etc/vigie/agent.toml")
        );
        assert!(err.to_string().contains("/etc/vigie/agent.toml"), "{err}");
    }

    #[test]
    fn effective_uid_reads_proc() {
        let uid = effective_uid().unwrap();
        let owner = fs::metadata("/proc/self/status").unwrap().uid();
        assert_eq!(uid, owner);
    }
}
