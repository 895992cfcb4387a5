//! The snapshot-signing key: read only from its own file in the data directory, which must be a
//! regular file readable and writable by its owner alone (0600). The key is never logged and never
//! formatted: `SigningKey` leaves this module only to sign.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use ed25519_dalek::pkcs8::DecodePrivateKey;
use ed25519_dalek::{SigningKey, VerifyingKey};

use crate::datadir::SNAPSHOT_KEY;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("snapshot key {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("snapshot key {path} is not a regular file")]
    NotAFile { path: PathBuf },
    #[error("snapshot key {path} has mode {mode:o}: only its owner may read it (chmod 600)")]
    Permissions { path: PathBuf, mode: u32 },
    #[error("snapshot key {path} is not an Ed25519 PKCS#8 PEM key")]
    Format { path: PathBuf },
}

/// Loads the signing key of the data directory `data_dir`.
pub fn load(data_dir: &Path) -> Result<SigningKey, KeyError> {
    let path = data_dir.join(SNAPSHOT_KEY);
    let io = |source| KeyError::Io {
        path: path.clone(),
        source,
    };
    // `symlink_metadata`: a symbolic link is refused rather than followed to wherever it points.
    let meta = std::fs::symlink_metadata(&path).map_err(io)?;
    if !meta.file_type().is_file() {
        return Err(KeyError::NotAFile { path });
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(KeyError::Permissions { path, mode });
    }
    let text = std::fs::read_to_string(&path).map_err(io)?;
    SigningKey::from_pkcs8_pem(&text).map_err(|_| KeyError::Format { path })
}

/// The public half of the data directory's snapshot key.
pub fn public(data_dir: &Path) -> Result<VerifyingKey, KeyError> {
    load(data_dir).map(|k| k.verifying_key())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_a_readable_key_and_loads_a_private_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(SNAPSHOT_KEY);
        let pem = crate::pki::new_ed25519_key().unwrap().serialize_pem();
        std::fs::write(&path, pem).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        assert!(matches!(
            load(dir.path()),
            Err(KeyError::Permissions { mode: 0o640, .. })
        ));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(load(dir.path()).is_ok());
        std::fs::write(&path, "garbage").unwrap();
        assert!(matches!(load(dir.path()), Err(KeyError::Format { .. })));
    }
}
