//! The minisign format, prehashed (`ED`) mode only, so that the stock `minisign -V` tool verifies
//! snapshots offline (DESIGN decision 21; reference/snapshots-web-postgres.md §1.1–1.2).
//!
//! - Public key file: `untrusted comment: …` then base64(`Ed` ‖ key id (8) ‖ Ed25519 key (32)).
//! - Signature file: `untrusted comment: …`, base64(`ED` ‖ key id ‖ Ed25519(BLAKE2b-512(file))),
//!   `trusted comment: …`, base64(Ed25519(signature ‖ trusted comment)).
//!
//! The legacy `Ed` mode (a signature over the file itself) is refused when verifying: the snapshot
//! key signs nothing but prehashed snapshots. Signing and verifying live here; key loading does not.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use blake2::{Blake2b512, Digest};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};

const PK_ALG: &[u8; 2] = b"Ed";
const SIG_ALG_PREHASHED: &[u8; 2] = b"ED";
const UNTRUSTED: &str = "untrusted comment: ";
const TRUSTED: &str = "trusted comment: ";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MinisignError {
    #[error("public key file: {0}")]
    PublicKey(&'static str),
    #[error("signature file: {0}")]
    SignatureFile(&'static str),
    #[error("signature made with key {found}, not with key {expected}")]
    KeyMismatch { found: String, expected: String },
    #[error("signature verification failed (the file was altered or signed by another key)")]
    BadSignature,
    #[error("trusted comment signature verification failed (the trusted comment was altered)")]
    BadCommentSignature,
    #[error("a trusted comment must be one line")]
    CommentNotOneLine,
}

/// 8 bytes that name the key: the first 8 bytes of BLAKE2b-512 of the public key.
pub fn key_id(public: &VerifyingKey) -> [u8; 8] {
    let digest = Blake2b512::digest(public.as_bytes());
    let mut id = [0u8; 8];
    for (out, byte) in id.iter_mut().zip(digest.iter()) {
        *out = *byte;
    }
    id
}

/// The key id as minisign prints it: the 8 bytes read as a little-endian integer, upper-case hex.
pub fn key_id_text(id: &[u8; 8]) -> String {
    format!("{:016X}", u64::from_le_bytes(*id))
}

/// The public key file that `minisign -V -p FILE` reads.
pub fn public_key_file(public: &VerifyingKey) -> String {
    let id = key_id(public);
    let mut raw = Vec::with_capacity(42);
    raw.extend_from_slice(PK_ALG);
    raw.extend_from_slice(&id);
    raw.extend_from_slice(public.as_bytes());
    format!(
        "{UNTRUSTED}minisign public key {}\n{}\n",
        key_id_text(&id),
        B64.encode(raw)
    )
}

/// Reads a public key file (or its bare base64 line): key id and key.
pub fn parse_public_key(text: &str) -> Result<([u8; 8], VerifyingKey), MinisignError> {
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with(UNTRUSTED.trim_end()))
        .ok_or(MinisignError::PublicKey("no key line"))?;
    let raw = B64
        .decode(line)
        .map_err(|_| MinisignError::PublicKey("key line is not base64"))?;
    let (alg, rest) = raw
        .split_at_checked(2)
        .ok_or(MinisignError::PublicKey("too short"))?;
    if alg != PK_ALG {
        return Err(MinisignError::PublicKey("not an Ed25519 minisign key"));
    }
    let (id, key) = rest
        .split_at_checked(8)
        .ok_or(MinisignError::PublicKey("too short"))?;
    let id: [u8; 8] = id
        .try_into()
        .map_err(|_| MinisignError::PublicKey("too short"))?;
    let key: [u8; 32] = key
        .try_into()
        .map_err(|_| MinisignError::PublicKey("key is not 32 bytes"))?;
    let key = VerifyingKey::from_bytes(&key)
        .map_err(|_| MinisignError::PublicKey("invalid Ed25519 key"))?;
    Ok((id, key))
}

/// Signs `data` in prehashed mode; returns the whole `.minisig` file.
pub fn sign(
    key: &SigningKey,
    data: &[u8],
    untrusted_comment: &str,
    trusted_comment: &str,
) -> Result<String, MinisignError> {
    if trusted_comment.contains(['\n', '\r']) || untrusted_comment.contains(['\n', '\r']) {
        return Err(MinisignError::CommentNotOneLine);
    }
    let id = key_id(&key.verifying_key());
    let signature = key.sign(&Blake2b512::digest(data));
    let mut line2 = Vec::with_capacity(74);
    line2.extend_from_slice(SIG_ALG_PREHASHED);
    line2.extend_from_slice(&id);
    line2.extend_from_slice(&signature.to_bytes());
    let mut global_message = signature.to_bytes().to_vec();
    global_message.extend_from_slice(trusted_comment.as_bytes());
    let global = key.sign(&global_message);
    Ok(format!(
        "{UNTRUSTED}{untrusted_comment}\n{}\n{TRUSTED}{trusted_comment}\n{}\n",
        B64.encode(line2),
        B64.encode(global.to_bytes())
    ))
}

/// Verifies a `.minisig` file over `data` with `public` (whose id is `expected_id`); returns the
/// verified trusted comment.
pub fn verify(
    expected_id: &[u8; 8],
    public: &VerifyingKey,
    data: &[u8],
    minisig: &str,
) -> Result<String, MinisignError> {
    let mut lines = minisig.lines();
    let bad = MinisignError::SignatureFile;
    let untrusted = lines.next().ok_or(bad("empty"))?;
    if !untrusted.starts_with(UNTRUSTED) {
        return Err(bad("first line is not an untrusted comment"));
    }
    let raw = B64
        .decode(lines.next().ok_or(bad("no signature line"))?.trim())
        .map_err(|_| bad("signature line is not base64"))?;
    let comment = lines
        .next()
        .and_then(|l| l.strip_prefix(TRUSTED))
        .ok_or(bad("no trusted comment line"))?;
    let global = B64
        .decode(
            lines
                .next()
                .ok_or(bad("no trusted comment signature"))?
                .trim(),
        )
        .map_err(|_| bad("trusted comment signature is not base64"))?;

    let (alg, rest) = raw.split_at_checked(2).ok_or(bad("signature too short"))?;
    if alg != SIG_ALG_PREHASHED {
        return Err(bad("not a prehashed (ED) signature"));
    }
    let (id, sig) = rest.split_at_checked(8).ok_or(bad("signature too short"))?;
    if id != expected_id {
        return Err(MinisignError::KeyMismatch {
            found: id.try_into().map(|id| key_id_text(&id)).unwrap_or_default(),
            expected: key_id_text(expected_id),
        });
    }
    let sig: [u8; 64] = sig
        .try_into()
        .map_err(|_| bad("signature is not 64 bytes"))?;
    public
        .verify_strict(&Blake2b512::digest(data), &Signature::from_bytes(&sig))
        .map_err(|_| MinisignError::BadSignature)?;
    let global: [u8; 64] = global
        .as_slice()
        .try_into()
        .map_err(|_| bad("trusted comment signature is not 64 bytes"))?;
    let mut global_message = sig.to_vec();
    global_message.extend_from_slice(comment.as_bytes());
    public
        .verify_strict(&global_message, &Signature::from_bytes(&global))
        .map_err(|_| MinisignError::BadCommentSignature)?;
    Ok(comment.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SigningKey {
        SigningKey::from_bytes(&[7u8; 32])
    }

    #[track_caller]
    fn check(tamper: impl Fn(&mut Vec<u8>, &mut String), expect: Result<&str, MinisignError>) {
        let key = key();
        let mut data = b"{\"a\":\"b\"}".to_vec();
        let mut sig = sign(&key, &data, "vigie snapshot", "org=o seq=1").unwrap();
        tamper(&mut data, &mut sig);
        let public = key.verifying_key();
        let got = verify(&key_id(&public), &public, &data, &sig);
        assert_eq!(got, expect.map(str::to_owned));
    }

    #[test]
    fn round_trip_and_tampering() {
        check(|_, _| {}, Ok("org=o seq=1"));
        check(|d, _| d.push(b' '), Err(MinisignError::BadSignature));
        check(|d, _| d[2] ^= 1, Err(MinisignError::BadSignature));
        check(
            |_, s| *s = s.replace("seq=1", "seq=2"),
            Err(MinisignError::BadCommentSignature),
        );
        check(
            |_, s| *s = s.replace("untrusted comment: vigie", "untrusted comment: edited"),
            Ok("org=o seq=1"),
        );
        check(
            |_, s| s.truncate(30),
            Err(MinisignError::SignatureFile("no signature line")),
        );
    }

    #[test]
    fn legacy_mode_and_other_keys_are_refused() {
        let key = key();
        let public = key.verifying_key();
        let data = b"x";
        let sig = sign(&key, data, "u", "t").unwrap();
        let mut lines: Vec<String> = sig.lines().map(str::to_owned).collect();
        let mut raw = B64.decode(&lines[1]).unwrap();
        raw[1] = b'd';
        lines[1] = B64.encode(&raw);
        let legacy = lines.join("\n");
        assert_eq!(
            verify(&key_id(&public), &public, data, &legacy),
            Err(MinisignError::SignatureFile(
                "not a prehashed (ED) signature"
            ))
        );
        let other = SigningKey::from_bytes(&[8u8; 32]).verifying_key();
        assert!(matches!(
            verify(&key_id(&other), &other, data, &sig),
            Err(MinisignError::KeyMismatch { .. })
        ));
        assert_eq!(
            sign(&key, data, "u", "a\nb"),
            Err(MinisignError::CommentNotOneLine)
        );
    }

    #[test]
    fn public_key_file_round_trips() {
        let public = key().verifying_key();
        let file = public_key_file(&public);
        assert!(file.starts_with("untrusted comment: minisign public key "));
        assert_eq!(parse_public_key(&file), Ok((key_id(&public), public)));
        assert_eq!(
            parse_public_key("untrusted comment: x\nRWQA\n"),
            Err(MinisignError::PublicKey("too short"))
        );
    }
}
