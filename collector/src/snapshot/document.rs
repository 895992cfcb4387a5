//! The snapshot document of DESIGN decision 21, built as a JSON value from what the store holds and
//! then canonicalised (`jcs`). Pure: the caller gathers the inputs and supplies the time.
//!
//! Shape (`format` = `vigie-snapshot-v1`; every id, hash, time and integer is a string):
//! `organisation`, `sequence`, `created_at`, `profile`, `catalogue_version`, `previous_sha256`
//! (64 zeros for the first), `audit_head`, `signing_key_id`, `hosts` (each with `enrollment`,
//! `key_history` and `findings`, each finding with the `evidence` it rests on: epoch, seq, and the
//! agent's signed header and signature in base64), `waivers` (those in force) and `measures`.

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde_json::{json, Value};
use vigie_policies::Catalogue;

use crate::store::{FindingRecord, HostRecord, KeyEvent, Org, WaiverRecord};

pub const FORMAT: &str = "vigie-snapshot-v1";
/// `previous_sha256` of an organisation's first snapshot.
pub const NO_PREVIOUS: &str = crate::store::audit::GENESIS;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DocumentError {
    #[error(
        "finding {check} of host {host} rests on report ({epoch}, {seq}), which is not stored"
    )]
    MissingReport {
        host: String,
        check: String,
        epoch: u64,
        seq: u64,
    },
}

/// One host and what the snapshot says about it.
#[derive(Debug, Clone)]
pub struct HostInput {
    pub host: HostRecord,
    pub key_history: Vec<KeyEvent>,
    pub findings: Vec<FindingRecord>,
    /// (epoch, seq) → (signed header bytes, signature) of the stored reports.
    pub reports: BTreeMap<(u64, u64), (Vec<u8>, Vec<u8>)>,
}

/// Everything a snapshot is made of.
#[derive(Debug)]
pub struct Inputs<'a> {
    pub org: &'a Org,
    pub seq: u64,
    pub created_at_ms: i64,
    pub profile: &'a str,
    pub catalogue: &'a Catalogue,
    pub previous_sha256: &'a str,
    /// Index and hash of the newest audit record, `None` when the trail is empty.
    pub audit_head: Option<(u64, String)>,
    pub key_id: &'a str,
    pub hosts: &'a [HostInput],
    pub waivers: &'a [WaiverRecord],
}

/// RFC 3339 UTC with milliseconds; times before 1970 are clamped to the epoch.
pub fn time_text(ms: i64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0).unsigned_abs());
    humantime::format_rfc3339_millis(t).to_string()
}

/// The document as a JSON value (not yet canonical bytes).
pub fn build(inputs: &Inputs<'_>) -> Result<Value, DocumentError> {
    let hosts = inputs
        .hosts
        .iter()
        .map(host_json)
        .collect::<Result<Vec<_>, _>>()?;
    let audit_head = match &inputs.audit_head {
        Some((index, hash)) => json!({"index": index.to_string(), "hash": hash}),
        None => Value::Null,
    };
    Ok(json!({
        "format": FORMAT,
        "organisation": {"id": inputs.org.id, "name": inputs.org.name},
        "sequence": inputs.seq.to_string(),
        "created_at": time_text(inputs.created_at_ms),
        "profile": inputs.profile,
        "catalogue_version": inputs.catalogue.version(),
        "previous_sha256": inputs.previous_sha256,
        "audit_head": audit_head,
        "signing_key_id": inputs.key_id,
        "hosts": hosts,
        "waivers": inputs.waivers.iter().map(waiver_json).collect::<Vec<_>>(),
        "measures": super::rollup::rollup(
            inputs.catalogue,
            inputs.hosts.iter().flat_map(|h| &h.findings),
        ),
    }))
}

fn host_json(input: &HostInput) -> Result<Value, DocumentError> {
    let h = &input.host;
    let findings = input
        .findings
        .iter()
        .map(|f| finding_json(input, f))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(json!({
        "id": h.id,
        "hostname": h.hostname,
        "enrollment": {
            "enrolled_at": time_text(h.enrolled_at_ms),
            "enrolled_from": h.enrolled_from,
            "hostname": h.hostname,
            "agent_version": h.agent_version,
        },
        "current_key": hex::encode(h.current_key),
        "revoked": h.revoked.as_ref().map(|r| json!({"at": time_text(r.at_ms), "reason": r.reason})),
        "last_seen": if h.last_seen_ms > 0 { Value::from(time_text(h.last_seen_ms)) } else { Value::Null },
        "key_history": input.key_history.iter().map(key_event_json).collect::<Vec<_>>(),
        "findings": findings,
    }))
}

fn key_event_json(event: &KeyEvent) -> Value {
    match event {
        KeyEvent::Enrolled {
            at_ms,
            public_key,
            cert_serial,
            not_after_ms,
        }
        | KeyEvent::Renewed {
            at_ms,
            public_key,
            cert_serial,
            not_after_ms,
        } => json!({
            "event": if matches!(event, KeyEvent::Enrolled { .. }) { "enrolled" } else { "renewed" },
            "at": time_text(*at_ms),
            "public_key": hex::encode(public_key),
            "cert_serial": cert_serial,
            "not_after": time_text(*not_after_ms),
        }),
        KeyEvent::Revoked { at_ms, reason } => json!({
            "event": "revoked",
            "at": time_text(*at_ms),
            "reason": reason,
        }),
    }
}

fn finding_json(host: &HostInput, f: &FindingRecord) -> Result<Value, DocumentError> {
    let evidence =
        f.evidence
            .iter()
            .map(|&(epoch, seq)| {
                let (header, signature) = host.reports.get(&(epoch, seq)).ok_or_else(|| {
                    DocumentError::MissingReport {
                        host: host.host.id.clone(),
                        check: f.check_id.clone(),
                        epoch,
                        seq,
                    }
                })?;
                Ok(json!({
                    "epoch": epoch.to_string(),
                    "seq": seq.to_string(),
                    "header": B64.encode(header),
                    "signature": B64.encode(signature),
                }))
            })
            .collect::<Result<Vec<_>, DocumentError>>()?;
    Ok(json!({
        "check_id": f.check_id,
        "outcome": f.outcome,
        "severity": f.severity,
        "title_fr": f.title_fr,
        "title_en": f.title_en,
        "detail": f.detail,
        "evaluated_at": time_text(f.evaluated_at_ms),
        "evidence": evidence,
    }))
}

fn waiver_json(w: &WaiverRecord) -> Value {
    json!({
        "id": w.id,
        "check_id": w.check_id,
        "host_id": w.host_id,
        "reason": w.reason,
        "owner": w.owner,
        "created_at": time_text(w.created_at_ms),
        "created_by": w.created_by,
        "expires_at": time_text(w.expires_at_ms),
    })
}

/// The trusted comment of a snapshot's signature: what `minisign -V` shows, signed.
pub fn trusted_comment(org: &str, seq: u64, at: &str, previous: &str, key_id: &str) -> String {
    format!("vigie-snapshot org={org} seq={seq} at={at} prev={previous} key={key_id}")
}
