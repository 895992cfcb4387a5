//! The collector's certificate authority (DESIGN decision 7): an Ed25519 CA that signs agent
//! certificates from its own records — nothing from the request but the public key — and the gRPC
//! server certificate (serverAuth only).

use std::time::Duration;

use rand::RngCore;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PublicKeyData, SanType, SerialNumber, SignatureAlgorithm,
    PKCS_ED25519,
};
use rustls_pki_types::CertificateDer;
use time::OffsetDateTime;

/// Errors of certificate work.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("certificate generation: {0}")]
    Rcgen(#[from] rcgen::Error),
    #[error("time {0} ms is out of range")]
    Time(i64),
    #[error("invalid subject alternative name {0:?}")]
    BadName(String),
}

/// An issued certificate and the facts the store records about it.
#[derive(Debug, Clone)]
pub struct Issued {
    pub der: Vec<u8>,
    pub serial_hex: String,
    pub not_after_ms: i64,
}

/// The CA: its certificate and signing key.
pub struct Ca {
    cert_der: Vec<u8>,
    issuer: Issuer<'static, KeyPair>,
}

impl std::fmt::Debug for Ca {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ca").finish_non_exhaustive()
    }
}

/// A raw Ed25519 public key as rcgen wants it: the only thing taken from an enrollment request.
struct RawEd25519<'a>(&'a [u8; 32]);

impl PublicKeyData for RawEd25519<'_> {
    fn der_bytes(&self) -> &[u8] {
        self.0
    }
    fn algorithm(&self) -> &'static SignatureAlgorithm {
        &PKCS_ED25519
    }
}

fn at(ms: i64) -> Result<OffsetDateTime, PkiError> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .map_err(|_| PkiError::Time(ms))
}

fn random_serial() -> (SerialNumber, String) {
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    // Positive INTEGER: clear the top bit.
    bytes[0] &= 0x7f;
    (SerialNumber::from_slice(&bytes), hex::encode(bytes))
}

fn dn(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "Vigie");
    dn.push(DnType::CommonName, common_name);
    dn
}

/// PEM of a fresh Ed25519 key (PKCS#8).
pub fn new_ed25519_key() -> Result<KeyPair, PkiError> {
    Ok(KeyPair::generate_for(&PKCS_ED25519)?)
}

impl Ca {
    /// Creates a new CA valid for `validity` from `now_ms`; returns it with its key's PEM.
    pub fn generate(
        common_name: &str,
        now_ms: i64,
        validity: Duration,
    ) -> Result<(Ca, String), PkiError> {
        let key = new_ed25519_key()?;
        let key_pem = key.serialize_pem();
        let mut params = CertificateParams::default();
        params.distinguished_name = dn(common_name);
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.not_before = at(now_ms - 3_600_000)?;
        params.not_after = at(now_ms + validity.as_millis() as i64)?;
        params.serial_number = Some(random_serial().0);
        let cert = params.self_signed(&key)?;
        let cert_der = cert.der().to_vec();
        Ok((
            Ca {
                cert_der,
                issuer: Issuer::new(params, key),
            },
            key_pem,
        ))
    }

    /// Loads a CA from its certificate (DER) and key (PEM).
    pub fn load(cert_der: Vec<u8>, key_pem: &str) -> Result<Ca, PkiError> {
        let key = KeyPair::from_pem(key_pem)?;
        let issuer = Issuer::from_ca_cert_der(&CertificateDer::from(cert_der.as_slice()), key)?;
        Ok(Ca { cert_der, issuer })
    }

    pub fn cert_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// An agent certificate for `host_id` and `public_key`: URI SAN `urn:vigie:host:<id>`, clientAuth
    /// only, a random serial, valid `validity` from `now_ms` (backdated a minute for clock skew).
    pub fn issue_agent(
        &self,
        host_id: &str,
        public_key: &[u8; 32],
        now_ms: i64,
        validity: Duration,
    ) -> Result<Issued, PkiError> {
        let uri = format!("{}{host_id}", vigie_proto::pin::HOST_URI_PREFIX);
        let mut params = CertificateParams::default();
        params.distinguished_name = dn(&format!("vigie-host {host_id}"));
        params.subject_alt_names = vec![SanType::URI(
            uri.clone().try_into().map_err(|_| PkiError::BadName(uri))?,
        )];
        self.sign_leaf(
            params,
            ExtendedKeyUsagePurpose::ClientAuth,
            &RawEd25519(public_key),
            now_ms,
            validity,
        )
    }

    /// The gRPC server certificate: serverAuth only, for the given DNS names or IP addresses.
    pub fn issue_server(
        &self,
        key: &KeyPair,
        names: &[String],
        now_ms: i64,
        validity: Duration,
    ) -> Result<Issued, PkiError> {
        let mut params = CertificateParams::default();
        params.distinguished_name = dn(names
            .first()
            .map(String::as_str)
            .unwrap_or("vigie-collector"));
        params.subject_alt_names = names
            .iter()
            .map(|n| match n.parse::<std::net::IpAddr>() {
                Ok(ip) => Ok(SanType::IpAddress(ip)),
                Err(_) => n
                    .clone()
                    .try_into()
                    .map(SanType::DnsName)
                    .map_err(|_| PkiError::BadName(n.clone())),
            })
            .collect::<Result<_, _>>()?;
        self.sign_leaf(
            params,
            ExtendedKeyUsagePurpose::ServerAuth,
            key,
            now_ms,
            validity,
        )
    }

    /// Signs an end-entity certificate: not a CA, digitalSignature, the one extended key usage given,
    /// a random serial, valid `validity` from `now_ms` (backdated a minute for clock skew).
    fn sign_leaf(
        &self,
        mut params: CertificateParams,
        usage: ExtendedKeyUsagePurpose,
        public_key: &impl PublicKeyData,
        now_ms: i64,
        validity: Duration,
    ) -> Result<Issued, PkiError> {
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![usage];
        params.use_authority_key_identifier_extension = true;
        let not_after_ms =
            now_ms.saturating_add(i64::try_from(validity.as_millis()).unwrap_or(i64::MAX));
        params.not_before = at(now_ms - 60_000)?;
        params.not_after = at(not_after_ms)?;
        let (serial, serial_hex) = random_serial();
        params.serial_number = Some(serial);
        let cert = params.signed_by(public_key, &self.issuer)?;
        Ok(Issued {
            der: cert.der().to_vec(),
            serial_hex,
            not_after_ms,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use x509_parser::prelude::{FromDer, X509Certificate};

    const DAY: Duration = Duration::from_secs(86_400);

    #[test]
    fn agent_certificate_carries_only_what_the_ca_decides() {
        let (ca, key_pem) = Ca::generate("test CA", 1_700_000_000_000, DAY * 3650).unwrap();
        let ca = Ca::load(ca.cert_der().to_vec(), &key_pem).unwrap();
        let pk = [7u8; 32];
        let issued = ca
            .issue_agent("0b5e", &pk, 1_700_000_000_000, DAY * 60)
            .unwrap();
        assert_eq!(vigie_proto::pin::host_id(&issued.der).unwrap(), "0b5e");
        let (_, cert) = X509Certificate::from_der(&issued.der).unwrap();
        let eku = cert.extended_key_usage().unwrap().unwrap().value;
        assert!(eku.client_auth && !eku.server_auth);
        assert_eq!(cert.public_key().subject_public_key.data.as_ref(), &pk);
        assert_eq!(issued.serial_hex.len(), 32);
        assert_eq!(
            cert.validity().not_after.timestamp() * 1000,
            1_700_000_000_000 + 60 * 86_400_000
        );
    }

    #[test]
    fn server_certificate_is_server_auth_only() {
        let (ca, _) = Ca::generate("test CA", 0, DAY).unwrap();
        let key = new_ed25519_key().unwrap();
        let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
        let issued = ca.issue_server(&key, &names, 0, DAY).unwrap();
        let (_, cert) = X509Certificate::from_der(&issued.der).unwrap();
        let eku = cert.extended_key_usage().unwrap().unwrap().value;
        assert!(eku.server_auth && !eku.client_auth);
        assert!(vigie_proto::pin::host_id(&issued.der).is_err());
    }
}
