//! The signed-report envelope of DESIGN decision 9: build a header, sign `vigie-report-v1\0 || header`,
//! and verify it with `verify_strict` on the other side.
//!
//! The header is signed as encoded bytes and travels as those bytes, so the verifier never re-encodes
//! anything. The same Ed25519 key also serves for TLS client authentication; the context prefix keeps the
//! two kinds of signature apart. Nothing here reads a clock: times are arguments.

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use prost::Message;
use sha2::{Digest, Sha256};

use crate::limits::{MAX_HEADER_BYTES, MAX_HOST_ID_BYTES, MAX_REPORT_BODY_BYTES, SIGNATURE_BYTES};
use crate::v1::{Report, ReportHeader, SignedReport};

/// Domain-separation prefix of report signatures.
pub const REPORT_CONTEXT: &[u8] = b"vigie-report-v1\0";
/// Domain-separation prefix of the proof of possession sent at enrollment.
pub const ENROLL_CONTEXT: &[u8] = b"vigie-enroll-v1\0";
/// Domain-separation prefix of the proof of possession sent at renewal.
pub const RENEW_CONTEXT: &[u8] = b"vigie-renew-v1\0";

/// Why an envelope was refused. Variants map one-to-one onto `Ack.Reason`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EnvelopeError {
    #[error("report body of {0} bytes exceeds the limit")]
    BodyTooLarge(usize),
    #[error("report header of {0} bytes exceeds the limit")]
    HeaderTooLarge(usize),
    #[error("report header does not decode: {0}")]
    MalformedHeader(String),
    #[error("report body does not decode: {0}")]
    MalformedBody(String),
    #[error("signature is {0} bytes, not 64")]
    SignatureLength(usize),
    #[error("signature does not verify")]
    BadSignature,
    #[error("body digest does not match the signed header")]
    DigestMismatch,
}

/// What the agent fills in; the body digest is computed by [`seal`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderFields {
    pub host_id: String,
    pub epoch: u64,
    pub seq: u64,
    pub created_at_ms: i64,
}

/// Signs `body` (an encoded `Report`) under `fields`.
pub fn seal(key: &SigningKey, fields: &HeaderFields, body: Vec<u8>) -> SignedReport {
    let header = ReportHeader {
        host_id: fields.host_id.clone(),
        epoch: fields.epoch,
        seq: fields.seq,
        created_at_ms: fields.created_at_ms,
        body_sha256: Sha256::digest(&body).to_vec(),
    }
    .encode_to_vec();
    let signature = key.sign(&signed_message(REPORT_CONTEXT, &[&header]));
    SignedReport {
        header,
        signature: signature.to_bytes().to_vec(),
        body,
    }
}

/// Decodes the header with bounds, without checking the signature: the collector needs the host id and
/// sequence to find the key and to answer, but must trust nothing in it until [`verify`] passes.
pub fn decode_header(report: &SignedReport) -> Result<ReportHeader, EnvelopeError> {
    if report.header.len() > MAX_HEADER_BYTES {
        return Err(EnvelopeError::HeaderTooLarge(report.header.len()));
    }
    let header = ReportHeader::decode(report.header.as_slice())
        .map_err(|e| EnvelopeError::MalformedHeader(e.to_string()))?;
    if header.host_id.len() > MAX_HOST_ID_BYTES || header.body_sha256.len() != 32 {
        return Err(EnvelopeError::MalformedHeader(
            "host id or digest of the wrong size".into(),
        ));
    }
    Ok(header)
}

/// Checks sizes, the strict Ed25519 signature and the body digest; returns the decoded header.
pub fn verify(report: &SignedReport, key: &VerifyingKey) -> Result<ReportHeader, EnvelopeError> {
    if report.body.len() > MAX_REPORT_BODY_BYTES {
        return Err(EnvelopeError::BodyTooLarge(report.body.len()));
    }
    let header = decode_header(report)?;
    let sig: [u8; SIGNATURE_BYTES] = report
        .signature
        .as_slice()
        .try_into()
        .map_err(|_| EnvelopeError::SignatureLength(report.signature.len()))?;
    key.verify_strict(
        &signed_message(REPORT_CONTEXT, &[&report.header]),
        &Signature::from_bytes(&sig),
    )
    .map_err(|_| EnvelopeError::BadSignature)?;
    if Sha256::digest(&report.body).as_slice() != header.body_sha256.as_slice() {
        return Err(EnvelopeError::DigestMismatch);
    }
    Ok(header)
}

/// Verifies a signed header on its own, as a compliance snapshot carries it (DESIGN decision 9):
/// bounds, then the strict signature over `vigie-report-v1\0 || header`. The body is not needed:
/// the header binds it through its SHA-256.
pub fn verify_header(
    header: &[u8],
    signature: &[u8],
    key: &VerifyingKey,
) -> Result<ReportHeader, EnvelopeError> {
    let report = SignedReport {
        header: header.to_vec(),
        signature: Vec::new(),
        body: Vec::new(),
    };
    let decoded = decode_header(&report)?;
    let sig: [u8; SIGNATURE_BYTES] = signature
        .try_into()
        .map_err(|_| EnvelopeError::SignatureLength(signature.len()))?;
    key.verify_strict(
        &signed_message(REPORT_CONTEXT, &[header]),
        &Signature::from_bytes(&sig),
    )
    .map_err(|_| EnvelopeError::BadSignature)?;
    Ok(decoded)
}

/// Decodes a verified body with bounds.
pub fn decode_body(body: &[u8]) -> Result<Report, EnvelopeError> {
    if body.len() > MAX_REPORT_BODY_BYTES {
        return Err(EnvelopeError::BodyTooLarge(body.len()));
    }
    Report::decode(body).map_err(|e| EnvelopeError::MalformedBody(e.to_string()))
}

/// The identity of one signed report's content: SHA-256 of its header bytes (which bind the body).
/// Two different reports under the same (epoch, seq) have different digests: that is equivocation.
pub fn report_digest(report: &SignedReport) -> [u8; 32] {
    Sha256::digest(&report.header).into()
}

/// `context || part0 || part1 ...`: what enrollment and renewal proofs sign.
pub fn signed_message(context: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut msg = Vec::with_capacity(context.len() + parts.iter().map(|p| p.len()).sum::<usize>());
    msg.extend_from_slice(context);
    for p in parts {
        msg.extend_from_slice(p);
    }
    msg
}

/// Verifies a proof of possession (`context || parts`) made by `public_key` itself; refuses weak keys.
pub fn verify_proof(
    context: &[u8],
    parts: &[&[u8]],
    public_key: &[u8],
    proof: &[u8],
) -> Result<VerifyingKey, EnvelopeError> {
    let pk: [u8; 32] = public_key
        .try_into()
        .map_err(|_| EnvelopeError::BadSignature)?;
    let key = VerifyingKey::from_bytes(&pk).map_err(|_| EnvelopeError::BadSignature)?;
    if key.is_weak() {
        return Err(EnvelopeError::BadSignature);
    }
    let sig: [u8; SIGNATURE_BYTES] = proof
        .try_into()
        .map_err(|_| EnvelopeError::SignatureLength(proof.len()))?;
    key.verify_strict(
        &signed_message(context, parts),
        &Signature::from_bytes(&sig),
    )
    .map_err(|_| EnvelopeError::BadSignature)?;
    Ok(key)
}

/// Encodes and seals a report body in one step.
pub fn seal_report(key: &SigningKey, fields: &HeaderFields, report: &Report) -> SignedReport {
    seal(key, fields, report.encode_to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SigningKey {
        SigningKey::generate(&mut rand::rngs::OsRng)
    }

    fn fields() -> HeaderFields {
        HeaderFields {
            host_id: "h-1".into(),
            epoch: 7,
            seq: 1,
            created_at_ms: 1_000,
        }
    }

    #[test]
    fn seal_then_verify() {
        let k = key();
        let r = seal_report(
            &k,
            &fields(),
            &Report {
                format_version: 1,
                ..Default::default()
            },
        );
        let h = verify(&r, &k.verifying_key()).unwrap();
        assert_eq!((h.host_id.as_str(), h.epoch, h.seq), ("h-1", 7, 1));
        assert_eq!(decode_body(&r.body).unwrap().format_version, 1);
    }

    #[test]
    fn header_alone_verifies_and_tampering_is_caught() {
        let k = key();
        let r = seal_report(&k, &fields(), &Report::default());
        let h = verify_header(&r.header, &r.signature, &k.verifying_key()).unwrap();
        assert_eq!((h.host_id.as_str(), h.epoch, h.seq), ("h-1", 7, 1));
        let mut sig = r.signature.clone();
        sig[0] ^= 1;
        assert_eq!(
            verify_header(&r.header, &sig, &k.verifying_key()),
            Err(EnvelopeError::BadSignature)
        );
        assert_eq!(
            verify_header(&r.header, &r.signature, &key().verifying_key()),
            Err(EnvelopeError::BadSignature)
        );
        assert_eq!(
            verify_header(&r.header, &sig[..10], &k.verifying_key()),
            Err(EnvelopeError::SignatureLength(10))
        );
    }

    #[test]
    fn tampering_is_detected() {
        let k = key();
        let r = seal(&k, &fields(), b"body".to_vec());
        let mut body = r.clone();
        body.body = b"bodz".to_vec();
        assert_eq!(
            verify(&body, &k.verifying_key()),
            Err(EnvelopeError::DigestMismatch)
        );
        let mut header = r.clone();
        if let Some(b) = header.header.last_mut() {
            *b ^= 1;
        }
        assert!(verify(&header, &k.verifying_key()).is_err());
        assert_eq!(
            verify(&r, &key().verifying_key()),
            Err(EnvelopeError::BadSignature)
        );
        let mut short = r;
        short.signature.truncate(10);
        assert_eq!(
            verify(&short, &k.verifying_key()),
            Err(EnvelopeError::SignatureLength(10))
        );
    }

    #[test]
    fn context_separates_report_and_proof_signatures() {
        let k = key();
        let r = seal(&k, &fields(), Vec::new());
        // A report signature must not pass as an enrollment proof over the same bytes.
        let pk = k.verifying_key().to_bytes();
        assert!(verify_proof(ENROLL_CONTEXT, &[&r.header], &pk, &r.signature).is_err());
        assert!(verify_proof(REPORT_CONTEXT, &[&r.header], &pk, &r.signature).is_ok());
    }

    #[test]
    fn oversized_parts_are_refused_before_any_work() {
        let k = key();
        let mut r = seal(&k, &fields(), Vec::new());
        r.body = vec![0; MAX_REPORT_BODY_BYTES + 1];
        assert!(matches!(
            verify(&r, &k.verifying_key()),
            Err(EnvelopeError::BodyTooLarge(_))
        ));
        r.header = vec![0; MAX_HEADER_BYTES + 1];
        assert!(matches!(
            decode_header(&r),
            Err(EnvelopeError::HeaderTooLarge(_))
        ));
    }
}
