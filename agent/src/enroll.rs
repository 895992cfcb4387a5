//! `vigie-agent enroll`: generates the Ed25519 key, checks the collector against the CA pin before
//! the token leaves the host, and stores key, certificate and CA in the state directory.
//! Also the renewal call, made by `run` well before the certificate expires.

use std::path::Path;
use std::time::Duration;

use ed25519_dalek::{Signer, SigningKey};
use vigie_proto::envelope::{signed_message, ENROLL_CONTEXT, RENEW_CONTEXT};
use vigie_proto::limits::MAX_GRPC_MESSAGE_BYTES;
use vigie_proto::v1::enrollment_client::EnrollmentClient;
use vigie_proto::v1::ingest_client::IngestClient;
use vigie_proto::v1::{EnrollRequest, RenewRequest};

use crate::identity::{self, Enrollment, Identity};
use crate::tlsclient::{self, Target};

#[derive(Debug, thiserror::Error)]
pub enum EnrollError {
    #[error(transparent)]
    Tls(#[from] tlsclient::TlsClientError),
    #[error(transparent)]
    Identity(#[from] identity::IdentityError),
    #[error("the collector refused: {0}")]
    Refused(String),
    #[error("the collector's answer is invalid: {0}")]
    BadAnswer(String),
    #[error("the token is empty or malformed")]
    BadToken,
}

/// Enrolls against `enroll_url` with `token`, pinning the CA to `pin`; writes the identity to `state_dir`.
pub async fn enroll(
    state_dir: &Path,
    enroll_url: &str,
    token: &str,
    pin: &str,
    hostname: &str,
) -> Result<Identity, EnrollError> {
    let token = token.trim();
    if token.is_empty() || token.len() > 128 || token.chars().any(|c| c.is_whitespace()) {
        return Err(EnrollError::BadToken);
    }
    let target = Target::parse(enroll_url)?;
    identity::ensure_state_dir(state_dir)?;
    // A key that survives a lost reply lets the retry succeed once more for the same key.
    let key = match identity::load_key_only(state_dir)? {
        Some(k) => k,
        None => {
            let k = SigningKey::generate(&mut rand::rngs::OsRng);
            identity::save_key(state_dir, &k)?;
            k
        }
    };
    let public_key = key.verifying_key().to_bytes();
    let proof = key.sign(&signed_message(
        ENROLL_CONTEXT,
        &[token.as_bytes(), &public_key],
    ));
    // The pin is checked inside the TLS handshake, before this request is written.
    let channel = tlsclient::connect(
        enroll_url,
        tlsclient::enroll_config(pin)?,
        Duration::from_secs(20),
    )
    .await?;
    let mut client =
        EnrollmentClient::new(channel).max_decoding_message_size(MAX_GRPC_MESSAGE_BYTES);
    let reply = client
        .enroll(EnrollRequest {
            token: token.to_owned(),
            public_key: public_key.to_vec(),
            proof: proof.to_bytes().to_vec(),
            hostname: hostname.to_owned(),
            agent_version: env!("CARGO_PKG_VERSION").to_owned(),
        })
        .await
        .map_err(|s| EnrollError::Refused(format!("{}: {}", s.code(), s.message())))?
        .into_inner();
    let fp = vigie_proto::pin::spki_fingerprint(&reply.ca_certificate_der)
        .map_err(|e| EnrollError::BadAnswer(e.to_string()))?;
    if !vigie_proto::pin::pins_equal(&fp, pin) {
        return Err(EnrollError::BadAnswer(
            "returned CA does not match the pin".into(),
        ));
    }
    let cert_host = vigie_proto::pin::host_id(&reply.certificate_der)
        .map_err(|e| EnrollError::BadAnswer(e.to_string()))?;
    if cert_host != reply.host_id {
        return Err(EnrollError::BadAnswer(
            "certificate names another host".into(),
        ));
    }
    let port = u16::try_from(reply.ingest_port)
        .map_err(|_| EnrollError::BadAnswer("ingest port".into()))?;
    let host = if target.host.contains(':') {
        format!("[{}]", target.host)
    } else {
        target.host.clone()
    };
    let id = Identity {
        key,
        cert_der: reply.certificate_der,
        ca_der: reply.ca_certificate_der,
        enrollment: Enrollment {
            host_id: reply.host_id,
            org_id: reply.org_id,
            collector: format!("https://{host}:{port}"),
            ca_fingerprint: fp,
            not_after_ms: reply.not_after_ms,
        },
    };
    identity::save(state_dir, &id)?;
    Ok(id)
}

/// Asks for a new certificate for the same key (rotation would orphan reports already signed in the
/// outbox; it comes with the key-history work). Saves and returns the renewed identity.
pub async fn renew(state_dir: &Path, id: &Identity) -> Result<Identity, EnrollError> {
    let config = tlsclient::ingest_config(&id.ca_der, &id.cert_der, id.tls_key()?)?;
    let channel =
        tlsclient::connect(&id.enrollment.collector, config, Duration::from_secs(20)).await?;
    let public_key = id.key.verifying_key().to_bytes();
    let proof = id.key.sign(&signed_message(
        RENEW_CONTEXT,
        &[id.enrollment.host_id.as_bytes(), &public_key],
    ));
    let reply = IngestClient::new(channel)
        .renew(RenewRequest {
            public_key: public_key.to_vec(),
            proof: proof.to_bytes().to_vec(),
        })
        .await
        .map_err(|s| EnrollError::Refused(format!("{}: {}", s.code(), s.message())))?
        .into_inner();
    let mut renewed = id.clone();
    renewed.cert_der = reply.certificate_der;
    renewed.enrollment.not_after_ms = reply.not_after_ms;
    identity::save(state_dir, &renewed)?;
    Ok(renewed)
}
