//! The agent's identity in its state directory: the Ed25519 key (0600, used both for TLS client
//! authentication and, under its own context, for report signatures), the certificate, the pinned CA,
//! and the enrollment facts. Key files readable by anyone else are refused.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use ed25519_dalek::SigningKey;
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use serde::{Deserialize, Serialize};

pub const KEY_FILE: &str = "agent.key";
pub const CERT_FILE: &str = "agent.crt.der";
pub const CA_FILE: &str = "ca.crt.der";
pub const ENROLLMENT_FILE: &str = "enrollment.json";

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{path} is readable or writable by group or others (mode {mode:o}); run `chmod 600 {path}`"
    )]
    Permissions { path: PathBuf, mode: u32 },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("this agent is not enrolled: {path} is missing; run `vigie-agent enroll` first")]
    NotEnrolled { path: PathBuf },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> IdentityError + '_ {
    move |source| IdentityError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Facts recorded at enrollment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Enrollment {
    pub host_id: String,
    pub org_id: String,
    /// Ingest URL, `https://HOST:PORT`.
    pub collector: String,
    pub ca_fingerprint: String,
    pub not_after_ms: i64,
}

/// Everything needed to sign and ship.
#[derive(Debug, Clone)]
pub struct Identity {
    pub key: SigningKey,
    pub cert_der: Vec<u8>,
    pub ca_der: Vec<u8>,
    pub enrollment: Enrollment,
}

impl Identity {
    pub fn tls_key(&self) -> Result<PrivateKeyDer<'static>, IdentityError> {
        let der = self
            .key
            .to_pkcs8_der()
            .map_err(|e| IdentityError::Invalid {
                path: PathBuf::from(KEY_FILE),
                message: e.to_string(),
            })?;
        Ok(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
            der.as_bytes().to_vec(),
        )))
    }
}

/// Writes `bytes` to `path` atomically (temporary file, fsync, rename, directory fsync) with `mode`.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), IdentityError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = path.with_extension("tmp");
    let _ = fs::remove_file(&tmp);
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .map_err(io(&tmp))?;
    f.write_all(bytes).map_err(io(&tmp))?;
    f.sync_all().map_err(io(&tmp))?;
    fs::rename(&tmp, path).map_err(io(path))?;
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(dir))
}

/// Creates the state directory (0700) if needed. An existing one keeps its mode: the package makes
/// it 0710 `vigie:vigie-push` so that backup jobs reach `spool/incoming`, and `run` refuses one that
/// others could write (`perms`).
pub fn ensure_state_dir(dir: &Path) -> Result<(), IdentityError> {
    if dir.is_dir() {
        return Ok(());
    }
    fs::create_dir_all(dir).map_err(io(dir))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(io(dir))
}

pub fn save_key(dir: &Path, key: &SigningKey) -> Result<(), IdentityError> {
    let path = dir.join(KEY_FILE);
    let pem = key
        .to_pkcs8_pem(Default::default())
        .map_err(|e| IdentityError::Invalid {
            path: path.clone(),
            message: e.to_string(),
        })?;
    write_atomic(&path, pem.as_bytes(), 0o600)
}

pub fn save(dir: &Path, id: &Identity) -> Result<(), IdentityError> {
    save_key(dir, &id.key)?;
    write_atomic(&dir.join(CERT_FILE), &id.cert_der, 0o644)?;
    write_atomic(&dir.join(CA_FILE), &id.ca_der, 0o644)?;
    let json = serde_json::to_vec_pretty(&id.enrollment).map_err(|e| IdentityError::Invalid {
        path: dir.join(ENROLLMENT_FILE),
        message: e.to_string(),
    })?;
    write_atomic(&dir.join(ENROLLMENT_FILE), &json, 0o644)
}

pub fn load(dir: &Path) -> Result<Identity, IdentityError> {
    let enrollment_path = dir.join(ENROLLMENT_FILE);
    if !enrollment_path.exists() {
        return Err(IdentityError::NotEnrolled {
            path: enrollment_path,
        });
    }
    let enrollment: Enrollment =
        serde_json::from_slice(&fs::read(&enrollment_path).map_err(io(&enrollment_path))?)
            .map_err(|e| IdentityError::Invalid {
                path: enrollment_path.clone(),
                message: e.to_string(),
            })?;
    let key_path = dir.join(KEY_FILE);
    let key = load_key_only(dir)?.ok_or_else(|| IdentityError::Io {
        path: key_path,
        source: std::io::Error::from(std::io::ErrorKind::NotFound),
    })?;
    let cert_path = dir.join(CERT_FILE);
    let ca_path = dir.join(CA_FILE);
    let ca_der = fs::read(&ca_path).map_err(io(&ca_path))?;
    // The stored CA must still match the pin given at enrollment.
    let fp = vigie_proto::pin::spki_fingerprint(&ca_der).map_err(|e| IdentityError::Invalid {
        path: ca_path.clone(),
        message: e.to_string(),
    })?;
    if !vigie_proto::pin::pins_equal(&fp, &enrollment.ca_fingerprint) {
        return Err(IdentityError::Invalid {
            path: ca_path,
            message: "CA no longer matches the enrollment pin".into(),
        });
    }
    Ok(Identity {
        key,
        cert_der: fs::read(&cert_path).map_err(io(&cert_path))?,
        ca_der,
        enrollment,
    })
}

/// The key alone, if one exists (an enrollment whose reply was lost left it behind).
pub fn load_key_only(dir: &Path) -> Result<Option<SigningKey>, IdentityError> {
    let key_path = dir.join(KEY_FILE);
    if !key_path.exists() {
        return Ok(None);
    }
    let mode = fs::metadata(&key_path)
        .map_err(io(&key_path))?
        .permissions()
        .mode()
        & 0o777;
    if mode & 0o077 != 0 {
        return Err(IdentityError::Permissions {
            path: key_path,
            mode,
        });
    }
    let pem = fs::read_to_string(&key_path).map_err(io(&key_path))?;
    SigningKey::from_pkcs8_pem(&pem)
        .map(Some)
        .map_err(|e| IdentityError::Invalid {
            path: key_path.clone(),
            message: e.to_string(),
        })
}
