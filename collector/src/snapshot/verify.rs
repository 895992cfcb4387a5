//! Offline verification of an exported snapshot, as an auditor runs it: the minisign signature and
//! its trusted comment, the document's canonical form and structure, the chain to the previous
//! snapshot, and every embedded agent signature against the host's embedded key history.
//!
//! It needs no data directory and no store: only the files and the published public key.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ed25519_dalek::VerifyingKey;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::document::{trusted_comment, FORMAT, NO_PREVIOUS};
use super::jcs::canonical;
use super::minisign::{self, key_id_text, MinisignError};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VerifyError {
    #[error("minisign: {0}")]
    Signature(#[from] MinisignError),
    #[error("the document is not JSON: {0}")]
    NotJson(String),
    #[error("the document is not in RFC 8785 canonical form")]
    NotCanonical,
    #[error("the document is malformed: {0}")]
    Structure(String),
    #[error("the trusted comment does not match the document: {0:?}")]
    CommentMismatch(String),
    #[error("chain broken: {0}")]
    Chain(String),
    #[error("agent signature of host {host} on report ({epoch}, {seq}) does not verify against its key history")]
    AgentSignature {
        host: String,
        epoch: String,
        seq: String,
    },
}

/// What was checked, for the auditor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub org: String,
    pub seq: u64,
    pub trusted_comment: String,
    pub hosts: usize,
    pub agent_signatures: usize,
    /// `None` when no previous snapshot was given (and this one is not the first).
    pub chain_checked: Option<bool>,
}

impl Verified {
    pub fn render(&self) -> String {
        let chain = match self.chain_checked {
            Some(true) => "ok (first snapshot of the organisation)".to_owned(),
            Some(false) => format!("ok (follows snapshot {})", self.seq.saturating_sub(1)),
            None => {
                "not checked: give --previous to check the link to the previous snapshot".to_owned()
            }
        };
        format!(
            "signature: ok\ntrusted comment: {}\ndocument: canonical, organisation {}, sequence {}, {} hosts\nagent signatures: {} verified against the key histories\nchain: {chain}\n",
            self.trusted_comment, self.org, self.seq, self.hosts, self.agent_signatures
        )
    }
}

fn field<'a>(v: &'a Value, name: &str) -> Result<&'a Value, VerifyError> {
    v.get(name)
        .ok_or_else(|| VerifyError::Structure(format!("missing field {name:?}")))
}

pub(super) fn text<'a>(v: &'a Value, name: &str) -> Result<&'a str, VerifyError> {
    field(v, name)?
        .as_str()
        .ok_or_else(|| VerifyError::Structure(format!("field {name:?} is not a string")))
}

pub(super) fn list<'a>(v: &'a Value, name: &str) -> Result<&'a Vec<Value>, VerifyError> {
    field(v, name)?
        .as_array()
        .ok_or_else(|| VerifyError::Structure(format!("field {name:?} is not an array")))
}

fn number(v: &Value, name: &str) -> Result<u64, VerifyError> {
    text(v, name)?
        .parse()
        .map_err(|_| VerifyError::Structure(format!("field {name:?} is not a decimal integer")))
}

fn is_hex64(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Parses a document and checks that it is exactly its canonical form.
pub fn parse_canonical(bytes: &[u8]) -> Result<Value, VerifyError> {
    let doc: Value =
        serde_json::from_slice(bytes).map_err(|e| VerifyError::NotJson(e.to_string()))?;
    if canonical(&doc).map_err(|e| VerifyError::Structure(e.to_string()))? != bytes {
        return Err(VerifyError::NotCanonical);
    }
    if text(&doc, "format")? != FORMAT {
        return Err(VerifyError::Structure(format!("format is not {FORMAT}")));
    }
    Ok(doc)
}

/// Verifies `document` with its `.minisig` text against the public key file `public_key`, and the
/// chain to `previous` (the previous snapshot's document bytes) when given.
pub fn verify(
    document: &[u8],
    minisig: &str,
    public_key: &str,
    previous: Option<&[u8]>,
) -> Result<Verified, VerifyError> {
    let (key_id, key) = minisign::parse_public_key(public_key)?;
    let comment = minisign::verify(&key_id, &key, document, minisig)?;
    let doc = parse_canonical(document)?;

    let org = text(field(&doc, "organisation")?, "id")?.to_owned();
    let seq = number(&doc, "sequence")?;
    let at = text(&doc, "created_at")?;
    let prev = text(&doc, "previous_sha256")?;
    if seq == 0 || !is_hex64(prev) {
        return Err(VerifyError::Structure(
            "bad sequence or previous_sha256".into(),
        ));
    }
    if text(&doc, "signing_key_id")? != key_id_text(&key_id) {
        return Err(VerifyError::Structure(
            "signing_key_id is not the signing key's id".into(),
        ));
    }
    let expected = trusted_comment(&org, seq, at, prev, &key_id_text(&key_id));
    if comment != expected {
        return Err(VerifyError::CommentMismatch(comment));
    }
    list(&doc, "waivers")?;
    list(&doc, "measures")?;

    let hosts = list(&doc, "hosts")?;
    let mut agent_signatures = 0;
    for host in hosts {
        agent_signatures += verify_host(host)?;
    }

    let chain_checked = match previous {
        Some(previous) => {
            check_chain(&org, seq, prev, previous)?;
            Some(false)
        }
        None if seq == 1 => {
            if prev != NO_PREVIOUS {
                return Err(VerifyError::Chain(
                    "the first snapshot names a previous one".into(),
                ));
            }
            Some(true)
        }
        None => None,
    };
    Ok(Verified {
        org,
        seq,
        trusted_comment: comment,
        hosts: hosts.len(),
        agent_signatures,
        chain_checked,
    })
}

fn check_chain(org: &str, seq: u64, prev_hash: &str, previous: &[u8]) -> Result<(), VerifyError> {
    let actual = hex::encode(Sha256::digest(previous));
    if actual != prev_hash {
        return Err(VerifyError::Chain(format!(
            "previous_sha256 is {prev_hash}, the previous file's SHA-256 is {actual}"
        )));
    }
    let prev = parse_canonical(previous)
        .map_err(|e| VerifyError::Chain(format!("previous snapshot: {e}")))?;
    let prev_org = text(field(&prev, "organisation")?, "id")?;
    let prev_seq = number(&prev, "sequence")?;
    if prev_org != org || prev_seq.checked_add(1) != Some(seq) {
        return Err(VerifyError::Chain(format!(
            "snapshot {org} {seq} cannot follow snapshot {prev_org} {prev_seq}"
        )));
    }
    Ok(())
}

/// Every key the host ever held, from its embedded key history.
fn host_keys(host: &Value) -> Result<Vec<VerifyingKey>, VerifyError> {
    let mut keys = Vec::new();
    for event in list(host, "key_history")? {
        if let Some(hex_key) = event.get("public_key").and_then(Value::as_str) {
            let bytes: [u8; 32] = hex::decode(hex_key)
                .ok()
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| {
                    VerifyError::Structure("a key in a key history is not 32 hex bytes".into())
                })?;
            let key = VerifyingKey::from_bytes(&bytes)
                .map_err(|_| VerifyError::Structure("a key in a key history is invalid".into()))?;
            keys.push(key);
        }
    }
    Ok(keys)
}

/// Verifies the evidence of every finding of one host; returns how many signatures were checked.
fn verify_host(host: &Value) -> Result<usize, VerifyError> {
    let host_id = text(host, "id")?;
    let keys = host_keys(host)?;
    let mut checked = 0;
    for finding in list(host, "findings")? {
        for evidence in list(finding, "evidence")? {
            let (epoch, seq) = (text(evidence, "epoch")?, text(evidence, "seq")?);
            let refused = || VerifyError::AgentSignature {
                host: host_id.to_owned(),
                epoch: epoch.to_owned(),
                seq: seq.to_owned(),
            };
            let header = B64
                .decode(text(evidence, "header")?)
                .map_err(|_| refused())?;
            let signature = B64
                .decode(text(evidence, "signature")?)
                .map_err(|_| refused())?;
            let decoded = keys
                .iter()
                .find_map(|k| vigie_proto::envelope::verify_header(&header, &signature, k).ok())
                .ok_or_else(refused)?;
            // The signature must be over this host's report under this (epoch, seq), not another.
            if decoded.host_id != host_id
                || decoded.epoch.to_string() != epoch
                || decoded.seq.to_string() != seq
            {
                return Err(refused());
            }
            checked += 1;
        }
    }
    Ok(checked)
}
