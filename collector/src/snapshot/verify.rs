//! Offline verification of an exported snapshot, as an auditor runs it: the minisign signature and
//! its trusted comment, the document's canonical form and structure, the chain to the previous
//! snapshot, and every embedded agent signature against the key that the host's embedded key
//! history says was valid when the collector received that report.
//!
//! Ping jobs (backups of machines with no agent) carry no agent signature: their evidence is the
//! receive times of pings, marked unsigned in the document. They are checked for consistency (each
//! finding names a ping the job records) and are tamper-evident through the snapshot's own
//! signature only, which the summary says.
//!
//! It needs no data directory and no store: only the files and the published public key.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ed25519_dalek::VerifyingKey;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::document::{trusted_comment, FORMAT, NO_PREVIOUS, PING_PROVENANCE};
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
    #[error("report ({epoch}, {seq}) of host {host} was received at {at}, when the host had no valid key (before its enrollment or after its revocation)")]
    NoKeyAt {
        host: String,
        epoch: String,
        seq: String,
        at: String,
    },
    #[error("agent signature of host {host} on report ({epoch}, {seq}) does not verify against the key the host held when the report was received")]
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
    /// Ping jobs, and the unsigned pings they record.
    pub ping_jobs: usize,
    pub unsigned_pings: usize,
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
            "signature: ok\ntrusted comment: {}\ndocument: canonical, organisation {}, sequence {}, {} hosts\nagent signatures: {} verified against the key histories\nping jobs: {}, with {} pings unsigned (received by the collector over HTTPS, covered by the snapshot signature only)\nchain: {chain}\n",
            self.trusted_comment,
            self.org,
            self.seq,
            self.hosts,
            self.agent_signatures,
            self.ping_jobs,
            self.unsigned_pings
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

/// An array the document leaves out when empty (`maintenance`, `ping_jobs`).
pub(super) fn optional_list<'a>(v: &'a Value, name: &str) -> Result<&'a [Value], VerifyError> {
    match v.get(name) {
        None => Ok(&[]),
        Some(_) => list(v, name).map(Vec::as_slice),
    }
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
    let ping_jobs = optional_list(&doc, "ping_jobs")?;
    let mut unsigned_pings = 0;
    for job in ping_jobs {
        unsigned_pings += verify_ping_job(job)?;
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
        ping_jobs: ping_jobs.len(),
        unsigned_pings,
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

/// Milliseconds since the epoch of an RFC 3339 time written by `document::time_text`.
fn time_ms(v: &Value, name: &str) -> Result<i64, VerifyError> {
    let t = humantime::parse_rfc3339(text(v, name)?)
        .map_err(|_| VerifyError::Structure(format!("field {name:?} is not an RFC 3339 time")))?;
    t.duration_since(std::time::UNIX_EPOCH)
        .ok()
        .and_then(|d| i64::try_from(d.as_millis()).ok())
        .ok_or_else(|| VerifyError::Structure(format!("field {name:?} is out of range")))
}

/// One event of a host's embedded key history: from `at_ms` on, `key` is the host's key (`None`
/// after a revocation).
struct KeyPeriod {
    at_ms: i64,
    key: Option<VerifyingKey>,
}

/// The host's key history as periods, in the order recorded (which is time order).
fn key_periods(host: &Value) -> Result<Vec<KeyPeriod>, VerifyError> {
    let mut periods = Vec::new();
    for event in list(host, "key_history")? {
        let at_ms = time_ms(event, "at")?;
        let key = match text(event, "event")? {
            "enrolled" | "renewed" => {
                let bytes: [u8; 32] = hex::decode(text(event, "public_key")?)
                    .ok()
                    .and_then(|b| b.try_into().ok())
                    .ok_or_else(|| {
                        VerifyError::Structure("a key in a key history is not 32 hex bytes".into())
                    })?;
                Some(VerifyingKey::from_bytes(&bytes).map_err(|_| {
                    VerifyError::Structure("a key in a key history is invalid".into())
                })?)
            }
            "revoked" => None,
            other => {
                return Err(VerifyError::Structure(format!(
                    "unknown key event {other:?}"
                )))
            }
        };
        if periods.last().is_some_and(|p: &KeyPeriod| p.at_ms > at_ms) {
            return Err(VerifyError::Structure(
                "a key history is not in time order".into(),
            ));
        }
        periods.push(KeyPeriod { at_ms, key });
    }
    Ok(periods)
}

/// The key the collector held for the host at `at_ms`: the one of the newest enrollment or renewal
/// at or before that time, unless a revocation came between. The collector accepts a report only
/// under the host's current key (`server::ingest`), so a report's receive time fixes its key.
fn key_at(periods: &[KeyPeriod], at_ms: i64) -> Option<&VerifyingKey> {
    periods
        .iter()
        .take_while(|p| p.at_ms <= at_ms)
        .last()
        .and_then(|p| p.key.as_ref())
}

/// Verifies every embedded report of one host and that each finding's evidence names one of them;
/// returns how many agent signatures were checked.
fn verify_host(host: &Value) -> Result<usize, VerifyError> {
    let host_id = text(host, "id")?;
    let periods = key_periods(host)?;
    let mut verified = std::collections::BTreeSet::new();
    for report in list(host, "reports")? {
        let (epoch, seq) = (text(report, "epoch")?, text(report, "seq")?);
        let refused = || VerifyError::AgentSignature {
            host: host_id.to_owned(),
            epoch: epoch.to_owned(),
            seq: seq.to_owned(),
        };
        let header = B64.decode(text(report, "header")?).map_err(|_| refused())?;
        let signature = B64
            .decode(text(report, "signature")?)
            .map_err(|_| refused())?;
        let received_at_ms = time_ms(report, "received_at")?;
        let key = key_at(&periods, received_at_ms).ok_or_else(|| VerifyError::NoKeyAt {
            host: host_id.to_owned(),
            epoch: epoch.to_owned(),
            seq: seq.to_owned(),
            at: text(report, "received_at").unwrap_or_default().to_owned(),
        })?;
        let decoded = vigie_proto::envelope::verify_header(&header, &signature, key)
            .map_err(|_| refused())?;
        // The signature must be over this host's report under this (epoch, seq), not another.
        if decoded.host_id != host_id
            || decoded.epoch.to_string() != epoch
            || decoded.seq.to_string() != seq
        {
            return Err(refused());
        }
        if !verified.insert((epoch, seq)) {
            return Err(VerifyError::Structure(format!(
                "host {host_id} embeds report ({epoch}, {seq}) twice"
            )));
        }
    }
    for finding in list(host, "findings")? {
        for evidence in list(finding, "evidence")? {
            let (epoch, seq) = (text(evidence, "epoch")?, text(evidence, "seq")?);
            if !verified.contains(&(epoch, seq)) {
                return Err(VerifyError::Structure(format!(
                    "a finding of host {host_id} rests on report ({epoch}, {seq}), which is not embedded"
                )));
            }
        }
    }
    Ok(verified.len())
}

/// Checks one ping job: it says its evidence is unsigned, its id is its pseudo-host, its pings are
/// well formed, and each finding names one of them; returns how many pings it records. There is no
/// agent signature to check.
fn verify_ping_job(job: &Value) -> Result<usize, VerifyError> {
    let name = text(job, "name")?;
    if text(job, "id")? != format!("ping:{name}") {
        return Err(VerifyError::Structure(format!(
            "ping job {name:?} is not filed under its pseudo-host"
        )));
    }
    if text(job, "provenance")? != PING_PROVENANCE {
        return Err(VerifyError::Structure(format!(
            "ping job {name:?} does not say that its evidence is unsigned"
        )));
    }
    number(job, "period_secs")?;
    number(job, "grace_secs")?;
    time_ms(job, "created_at")?;
    let mut pings = std::collections::BTreeMap::new();
    for ping in list(job, "pings")? {
        let kind = text(ping, "kind")?;
        if !matches!(kind, "start" | "success" | "failure") {
            return Err(VerifyError::Structure(format!(
                "ping job {name:?} records a ping of unknown kind {kind:?}"
            )));
        }
        time_ms(ping, "received_at")?;
        if pings.insert(kind, text(ping, "received_at")?).is_some() {
            return Err(VerifyError::Structure(format!(
                "ping job {name:?} records more than the newest {kind} ping"
            )));
        }
    }
    for finding in list(job, "findings")? {
        for evidence in list(finding, "evidence")? {
            let (kind, at) = (text(evidence, "kind")?, text(evidence, "received_at")?);
            if pings.get(kind) != Some(&at) {
                return Err(VerifyError::Structure(format!(
                    "a finding of ping job {name:?} rests on a {kind} ping received at {at}, which the job does not record"
                )));
            }
        }
    }
    Ok(pings.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;
    use serde_json::json;
    use vigie_proto::envelope::{seal, HeaderFields};

    use crate::snapshot::document::time_text;

    const T0: i64 = 1_790_000_000_000;
    const HOUR: i64 = 3_600_000;

    fn key(n: u8) -> SigningKey {
        SigningKey::from_bytes(&[n; 32])
    }

    fn event(kind: &str, at_ms: i64, k: Option<&SigningKey>) -> Value {
        let mut e = json!({"event": kind, "at": time_text(at_ms)});
        if let Some(k) = k {
            e["public_key"] = json!(hex::encode(k.verifying_key().as_bytes()));
        }
        e
    }

    /// A host whose one finding rests on report (1, 7) signed by `signer`, received at `received`.
    fn host(history: Vec<Value>, signer: &SigningKey, received: i64) -> Value {
        let fields = HeaderFields {
            host_id: "h1".into(),
            epoch: 1,
            seq: 7,
            created_at_ms: received - 1_000,
        };
        let report = seal(signer, &fields, b"body".to_vec());
        json!({
            "id": "h1",
            "key_history": history,
            "reports": [{
                "epoch": "1", "seq": "7", "received_at": time_text(received),
                "header": B64.encode(&report.header), "signature": B64.encode(&report.signature),
            }],
            "findings": [{"evidence": [{"epoch": "1", "seq": "7"}]}],
        })
    }

    /// Enrolled with key 1 at T0, renewed to key 2 at T0 + 10 h, revoked at T0 + 20 h.
    fn history() -> Vec<Value> {
        vec![
            event("enrolled", T0, Some(&key(1))),
            event("renewed", T0 + 10 * HOUR, Some(&key(2))),
            event("revoked", T0 + 20 * HOUR, None),
        ]
    }

    #[track_caller]
    fn check(signer: u8, received: i64, expect: &str) {
        let got = match verify_host(&host(history(), &key(signer), received)) {
            Ok(n) => format!("ok {n}"),
            Err(VerifyError::AgentSignature { .. }) => "wrong key".into(),
            Err(VerifyError::NoKeyAt { .. }) => "no key".into(),
            Err(e) => e.to_string(),
        };
        assert_eq!(
            got,
            expect,
            "signer {signer}, received at T0 + {} ms",
            received - T0
        );
    }

    #[test]
    fn each_report_needs_the_key_valid_when_it_was_received() {
        check(1, T0 + HOUR, "ok 1");
        check(1, T0, "ok 1");
        check(2, T0 + 11 * HOUR, "ok 1");
        check(2, T0 + 10 * HOUR, "ok 1");
        // A report from before the renewal signed by the new key, and one from after it signed
        // by the old key: both keys are in the history, but neither was valid then.
        check(2, T0 + HOUR, "wrong key");
        check(1, T0 + 11 * HOUR, "wrong key");
        check(1, T0 + 10 * HOUR, "wrong key");
        // Before enrollment or after revocation no key was valid at all.
        check(1, T0 - 1, "no key");
        check(2, T0 + 20 * HOUR, "no key");
        check(3, T0 + HOUR, "wrong key");
    }

    #[test]
    fn evidence_must_name_an_embedded_report() {
        let mut h = host(history(), &key(1), T0 + HOUR);
        h["findings"][0]["evidence"][0]["seq"] = json!("8");
        let err = verify_host(&h).unwrap_err();
        assert!(err.to_string().contains("not embedded"), "{err}");
    }

    fn ping_job() -> Value {
        json!({
            "id": "ping:nas", "name": "nas", "provenance": PING_PROVENANCE,
            "period_secs": "86400", "grace_secs": "7200", "created_at": time_text(T0),
            "pings": [
                {"kind": "success", "received_at": time_text(T0 + HOUR)},
                {"kind": "failure", "received_at": time_text(T0 + 2 * HOUR), "message": "x"},
            ],
            "findings": [{"evidence": [{"kind": "failure", "received_at": time_text(T0 + 2 * HOUR)}]}],
        })
    }

    #[test]
    fn a_ping_job_needs_no_signature_but_must_say_so_and_hold_together() {
        assert_eq!(verify_ping_job(&ping_job()), Ok(2));
        let refused = |edit: &dyn Fn(&mut Value), expect: &str| {
            let mut j = ping_job();
            edit(&mut j);
            let err = verify_ping_job(&j).unwrap_err().to_string();
            assert!(err.contains(expect), "{err}");
        };
        refused(
            &|j| j["provenance"] = json!("signed by the agent"),
            "does not say that its evidence is unsigned",
        );
        refused(
            &|j| j["findings"][0]["evidence"][0]["received_at"] = json!(time_text(T0)),
            "which the job does not record",
        );
        refused(
            &|j| j["findings"][0]["evidence"][0]["kind"] = json!("success"),
            "which the job does not record",
        );
        refused(&|j| j["id"] = json!("h1"), "pseudo-host");
        refused(
            &|j| j["pings"][1]["kind"] = json!("success"),
            "more than the newest success ping",
        );
    }

    #[test]
    fn a_key_history_out_of_time_order_is_malformed() {
        let mut h = history();
        h.swap(0, 1);
        let err = verify_host(&host(h, &key(1), T0 + HOUR)).unwrap_err();
        assert!(matches!(err, VerifyError::Structure(_)), "{err}");
    }
}
