//! Certificate facts both sides agree on: the `sha256:` pin of a CA's SubjectPublicKeyInfo
//! (DESIGN decision 8) and the host identity carried in an agent certificate's URI SAN (decision 7).

use sha2::{Digest, Sha256};
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

/// URI SAN prefix of agent certificates.
pub const HOST_URI_PREFIX: &str = "urn:vigie:host:";

/// Errors reading a certificate.
#[derive(Debug, thiserror::Error)]
pub enum PinError {
    #[error("certificate does not parse: {0}")]
    Parse(String),
    #[error("certificate carries no `urn:vigie:host:` URI SAN")]
    NoHostId,
    #[error("certificate carries more than one `urn:vigie:host:` URI SAN")]
    SeveralHostIds,
}

fn parse(der: &[u8]) -> Result<X509Certificate<'_>, PinError> {
    let (rest, cert) =
        X509Certificate::from_der(der).map_err(|e| PinError::Parse(e.to_string()))?;
    if !rest.is_empty() {
        return Err(PinError::Parse(
            "trailing bytes after the certificate".into(),
        ));
    }
    Ok(cert)
}

/// `sha256:<hex>` of the certificate's DER SubjectPublicKeyInfo.
pub fn spki_fingerprint(cert_der: &[u8]) -> Result<String, PinError> {
    let cert = parse(cert_der)?;
    Ok(format!(
        "sha256:{}",
        hex::encode(Sha256::digest(cert.public_key().raw))
    ))
}

/// The host id of an agent certificate (its single `urn:vigie:host:<id>` URI SAN).
pub fn host_id(cert_der: &[u8]) -> Result<String, PinError> {
    let cert = parse(cert_der)?;
    let mut found = None;
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            if let GeneralName::URI(uri) = name {
                if let Some(id) = uri.strip_prefix(HOST_URI_PREFIX) {
                    if found.is_some() {
                        return Err(PinError::SeveralHostIds);
                    }
                    found = Some(id.to_owned());
                }
            }
        }
    }
    found.ok_or(PinError::NoHostId)
}

/// Compares two pins in constant time with respect to their contents.
pub fn pins_equal(a: &str, b: &str) -> bool {
    let (a, b) = (a.trim().to_ascii_lowercase(), b.trim().to_ascii_lowercase());
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}
