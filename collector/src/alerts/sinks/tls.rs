//! TLS client configuration for outgoing sinks (webhooks over HTTPS, syslog over TLS): rustls with
//! ring only, the system's trust roots plus an optional CA file, an optional client certificate.
//!
//! TLS 1.2 is accepted here although the collector's own listeners speak only TLS 1.3 (DESIGN
//! decision 6): these peers are third-party receivers and SIEMs that we do not choose, and rustls
//! offers only forward-secret AEAD suites in 1.2. Not here: the collector's server side (`crate::tls`).

use std::path::Path;
use std::sync::OnceLock;

use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use super::ConfigError;

/// The system trust store (Debian's ca-certificates), read once per process.
fn system_roots() -> &'static [CertificateDer<'static>] {
    static ROOTS: OnceLock<Vec<CertificateDer<'static>>> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let found = rustls_native_certs::load_native_certs();
        for error in &found.errors {
            tracing::warn!(%error, "Some system trust roots could not be read.");
        }
        found.certs
    })
}

fn read_pem(key: &'static str, path: &Path) -> Result<Vec<u8>, ConfigError> {
    std::fs::read(path)
        .map_err(|e| ConfigError::new(key, format!("reading {}: {e}", path.display())))
}

fn certificates(
    key: &'static str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
    let pem = read_pem(key, path)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ConfigError::new(key, format!("{}: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(ConfigError::new(
            key,
            format!("{}: no PEM certificate found", path.display()),
        ));
    }
    Ok(certs)
}

/// Where a sink's TLS settings come from, as paths from its configuration.
#[derive(Debug, Clone, Copy, Default)]
pub struct TlsFiles<'a> {
    /// Extra trusted CA certificates (PEM), in addition to the system store.
    pub ca_file: Option<&'a Path>,
    /// Client certificate chain and key (PEM), for receivers that require mutual TLS.
    pub client_cert_file: Option<&'a Path>,
    pub client_key_file: Option<&'a Path>,
}

/// A client configuration trusting the system roots and `files.ca_file`, TLS 1.2 or 1.3, ring.
pub fn client_config(files: TlsFiles<'_>) -> Result<ClientConfig, ConfigError> {
    let mut roots = RootCertStore::empty();
    let (_, ignored) = roots.add_parsable_certificates(system_roots().iter().cloned());
    if ignored > 0 {
        tracing::debug!(
            ignored,
            "System trust roots that rustls cannot use were skipped."
        );
    }
    if let Some(path) = files.ca_file {
        for cert in certificates("ca_file", path)? {
            roots
                .add(cert)
                .map_err(|e| ConfigError::new("ca_file", format!("{}: {e}", path.display())))?;
        }
    }
    if roots.is_empty() {
        return Err(ConfigError::new(
            "ca_file",
            "no system trust roots were found and no ca_file is set",
        ));
    }
    let builder = ClientConfig::builder_with_provider(crate::tls::provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| ConfigError::new("ca_file", e.to_string()))?
        .with_root_certificates(roots);
    match (files.client_cert_file, files.client_key_file) {
        (None, None) => Ok(builder.with_no_client_auth()),
        (Some(cert), Some(key)) => {
            let chain = certificates("client_cert_file", cert)?;
            let pem = read_pem("client_key_file", key)?;
            let private = PrivateKeyDer::from_pem_slice(&pem).map_err(|e| {
                ConfigError::new("client_key_file", format!("{}: {e}", key.display()))
            })?;
            builder
                .with_client_auth_cert(chain, private)
                .map_err(|e| ConfigError::new("client_key_file", e.to_string()))
        }
        (Some(_), None) => Err(ConfigError::new(
            "client_key_file",
            "client_cert_file is set but client_key_file is not",
        )),
        (None, Some(_)) => Err(ConfigError::new(
            "client_cert_file",
            "client_key_file is set but client_cert_file is not",
        )),
    }
}
