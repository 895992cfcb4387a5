//! The collector's data directory: what `init` writes (CA, server certificate, snapshot-signing key,
//! config) and what `serve` loads, refusing key files that anyone but their owner can read.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::config::{self, RawConfig, Settings};
use crate::pki::{self, Ca};

pub const CA_CERT: &str = "ca.crt";
pub const CA_KEY: &str = "ca.key";
pub const SERVER_CERT: &str = "server.crt";
pub const SERVER_KEY: &str = "server.key";
pub const SNAPSHOT_KEY: &str = "snapshot.key";
pub const SNAPSHOT_PUB: &str = "snapshot.pub";
/// The HTTPS listener's own ECDSA P-256 certificate and key (see `https.rs`).
pub const HTTPS_CERT: &str = "https.crt";
pub const HTTPS_KEY: &str = "https.key";
pub const STORE_DIR: &str = "store";
pub const ADMIN_SOCKET: &str = "admin.sock";

/// Errors of the data directory, each naming the file.
#[derive(Debug, thiserror::Error)]
pub enum DataDirError {
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
    #[error("{path} already holds a Vigie collector; refusing to overwrite it")]
    AlreadyInitialised { path: PathBuf },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("configuration: {0}")]
    Config(String),
    #[error("certificates: {0}")]
    Pki(#[from] pki::PkiError),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> DataDirError + '_ {
    move |source| DataDirError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes a new file readable only by its owner, fsyncs it, and refuses to replace an existing one.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<(), DataDirError> {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io(path))?;
    f.write_all(bytes).map_err(io(path))?;
    f.sync_all().map_err(io(path))
}

fn write_public(path: &Path, bytes: &[u8]) -> Result<(), DataDirError> {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(path)
        .map_err(io(path))?;
    f.write_all(bytes).map_err(io(path))?;
    f.sync_all().map_err(io(path))
}

/// Reads a key file after checking that only its owner may read or write it.
pub fn read_private(path: &Path) -> Result<String, DataDirError> {
    let meta = fs::metadata(path).map_err(io(path))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(DataDirError::Permissions {
            path: path.to_path_buf(),
            mode,
        });
    }
    fs::read_to_string(path).map_err(io(path))
}

fn pem(label: &str, der: &[u8]) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// Decodes the first PEM block labelled `label`.
pub fn pem_decode(path: &Path, text: &str, label: &str) -> Result<Vec<u8>, DataDirError> {
    use base64::Engine;
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let body = text
        .split_once(&begin)
        .and_then(|(_, rest)| rest.split_once(&end))
        .map(|(body, _)| body.split_whitespace().collect::<String>())
        .ok_or_else(|| DataDirError::Invalid {
            path: path.to_path_buf(),
            message: format!("no {label} PEM block"),
        })?;
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .map_err(|e| DataDirError::Invalid {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
}

/// What `init` is told.
#[derive(Debug, Clone)]
pub struct InitOptions {
    pub listen: String,
    pub enroll_listen: String,
    /// HTTPS listener for backup pings.
    pub https_listen: String,
    pub server_names: Vec<String>,
}

/// Creates a data directory: CA, server certificate, snapshot-signing key (each key 0600) and config.
pub fn init(dir: &Path, opts: &InitOptions, now_ms: i64) -> Result<(), DataDirError> {
    let mut raw = RawConfig::new(
        opts.listen.clone(),
        opts.enroll_listen.clone(),
        opts.server_names.clone(),
    );
    raw.https_listen = Some(opts.https_listen.clone());
    // Validate before writing anything, so a typo leaves no half-made directory.
    raw.clone().validate(dir).map_err(|errs| {
        DataDirError::Config(
            errs.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; "),
        )
    })?;
    if dir.join(config::CONFIG_FILE).exists() || dir.join(CA_KEY).exists() {
        return Err(DataDirError::AlreadyInitialised {
            path: dir.to_path_buf(),
        });
    }
    fs::create_dir_all(dir).map_err(io(dir))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(io(dir))?;

    let ten_years = Duration::from_secs(3650 * 86_400);
    let (ca, ca_key_pem) = Ca::generate("Vigie collector CA", now_ms, ten_years)?;
    write_private(&dir.join(CA_KEY), ca_key_pem.as_bytes())?;
    write_public(
        &dir.join(CA_CERT),
        pem("CERTIFICATE", ca.cert_der()).as_bytes(),
    )?;

    let server_key = pki::new_ed25519_key()?;
    let server = ca.issue_server(&server_key, &opts.server_names, now_ms, ten_years / 5)?;
    write_private(&dir.join(SERVER_KEY), server_key.serialize_pem().as_bytes())?;
    write_public(
        &dir.join(SERVER_CERT),
        pem("CERTIFICATE", &server.der).as_bytes(),
    )?;

    // The HTTPS listener gets its own ECDSA P-256 certificate, self-signed: browsers refuse Ed25519,
    // and a ping job pins exactly this certificate with `curl --cacert https.crt`.
    let (https_cert, https_key) =
        crate::https::self_signed_p256(&opts.server_names, now_ms, ten_years / 5)?;
    write_private(&dir.join(HTTPS_KEY), https_key.as_bytes())?;
    write_public(&dir.join(HTTPS_CERT), https_cert.as_bytes())?;

    // The snapshot-signing key lives apart from the CA key (DESIGN decision 21).
    let snapshot_key = pki::new_ed25519_key()?;
    write_private(
        &dir.join(SNAPSHOT_KEY),
        snapshot_key.serialize_pem().as_bytes(),
    )?;
    write_public(
        &dir.join(SNAPSHOT_PUB),
        snapshot_key.public_key_pem().as_bytes(),
    )?;

    let text = toml::to_string_pretty(&raw)
        .map_err(|e| DataDirError::Config(format!("serialising the configuration: {e}")))?;
    let header = "# Vigie collector configuration. Every key is documented in packaging/collector.toml.example.\n";
    write_public(
        &dir.join(config::CONFIG_FILE),
        format!("{header}{text}").as_bytes(),
    )?;
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(dir))?;
    Ok(())
}

/// Everything `serve` needs from the data directory.
#[derive(Debug)]
pub struct Loaded {
    pub settings: Settings,
    pub ca: Ca,
    pub ca_cert: CertificateDer<'static>,
    pub server_chain: Vec<CertificateDer<'static>>,
    pub server_key: PrivateKeyDer<'static>,
    /// The HTTPS certificate and key, when `https_listen` is configured.
    pub https: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
}

pub fn load_settings(dir: &Path) -> Result<Settings, DataDirError> {
    config::load(dir).map_err(|errs| {
        DataDirError::Config(
            errs.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; "),
        )
    })
}

/// Reads the CA certificate (DER).
pub fn ca_cert_der(dir: &Path) -> Result<Vec<u8>, DataDirError> {
    let path = dir.join(CA_CERT);
    let text = fs::read_to_string(&path).map_err(io(&path))?;
    pem_decode(&path, &text, "CERTIFICATE")
}

/// Loads settings, CA and server identity, checking key-file permissions.
pub fn load(dir: &Path) -> Result<Loaded, DataDirError> {
    let settings = load_settings(dir)?;
    let ca_der = ca_cert_der(dir)?;
    let ca_key = read_private(&dir.join(CA_KEY))?;
    // The snapshot key is not used by `serve` yet, but a leaky one must stop the server all the same.
    read_private(&dir.join(SNAPSHOT_KEY))?;
    let ca = Ca::load(ca_der.clone(), &ca_key)?;
    let server_path = dir.join(SERVER_CERT);
    let server_text = fs::read_to_string(&server_path).map_err(io(&server_path))?;
    let server_der = pem_decode(&server_path, &server_text, "CERTIFICATE")?;
    let key_path = dir.join(SERVER_KEY);
    let key_text = read_private(&key_path)?;
    let key_der = pem_decode(&key_path, &key_text, "PRIVATE KEY")?;
    let https = match settings.https_listen {
        None => None,
        Some(_) => {
            let cert_path = dir.join(HTTPS_CERT);
            let cert_text = fs::read_to_string(&cert_path).map_err(io(&cert_path))?;
            let cert_der = pem_decode(&cert_path, &cert_text, "CERTIFICATE")?;
            let key_path = dir.join(HTTPS_KEY);
            let key_text = read_private(&key_path)?;
            let key_der = pem_decode(&key_path, &key_text, "PRIVATE KEY")?;
            Some((
                vec![CertificateDer::from(cert_der)],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key_der)),
            ))
        }
    };
    Ok(Loaded {
        settings,
        ca,
        ca_cert: CertificateDer::from(ca_der.clone()),
        server_chain: vec![
            CertificateDer::from(server_der),
            CertificateDer::from(ca_der),
        ],
        server_key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key_der)),
        https,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> InitOptions {
        InitOptions {
            listen: "127.0.0.1:0".into(),
            enroll_listen: "127.0.0.1:0".into(),
            https_listen: "127.0.0.1:0".into(),
            server_names: vec!["localhost".into()],
        }
    }

    #[test]
    fn init_then_load_and_keys_are_private() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("data");
        init(&d, &opts(), 1_700_000_000_000).unwrap();
        for key in [CA_KEY, SERVER_KEY, SNAPSHOT_KEY, HTTPS_KEY] {
            let mode = fs::metadata(d.join(key)).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{key}");
        }
        load(&d).unwrap();
        assert!(matches!(
            init(&d, &opts(), 0),
            Err(DataDirError::AlreadyInitialised { .. })
        ));
        fs::set_permissions(d.join(CA_KEY), fs::Permissions::from_mode(0o640)).unwrap();
        let err = load(&d).unwrap_err();
        assert!(matches!(err, DataDirError::Permissions { .. }), "{err}");
        assert!(err.to_string().contains("ca.key"), "{err}");
    }

    #[test]
    fn bad_init_options_write_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("data");
        let mut o = opts();
        o.listen = "nowhere".into();
        let err = init(&d, &o, 0).unwrap_err();
        assert!(err.to_string().contains("`listen`"), "{err}");
        assert!(!d.exists());
    }
}
