//! The audit trail's hash chain (DESIGN decision 17), shared by every store implementation.
//!
//! Record `n` has `hash = hex(SHA-256(prev_hash || canonical(entry)))`, where `prev_hash` is the
//! previous record's `hash` as 64 lowercase hex ASCII bytes ([`GENESIS`] for record 0) and
//! `canonical(entry)` is the JSON object below, keys sorted, no whitespace, the 64-bit integer as a
//! string (as in decision 21), strings escaped by serde_json:
//! `{"action":"…","actor":"…","at_ms":"…","detail":"…","org":"…"|null}`.
//! It is written by hand so that no serde feature (e.g. `preserve_order`) can change a hash.

use sha2::{Digest, Sha256};

use super::{AuditEntry, AuditRecord};

/// `prev_hash` of the first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The canonical encoding of an entry that the chain hashes.
pub fn canonical_entry(entry: &AuditEntry) -> String {
    let org = match &entry.org {
        Some(org) => json_string(org),
        None => "null".to_owned(),
    };
    format!(
        "{{\"action\":{},\"actor\":{},\"at_ms\":\"{}\",\"detail\":{},\"org\":{}}}",
        json_string(&entry.action),
        json_string(&entry.actor),
        entry.at_ms,
        json_string(&entry.detail),
        org
    )
}

/// `hex(SHA-256(prev_hash || canonical(entry)))`.
pub fn chain_hash(prev_hash: &str, entry: &AuditEntry) -> String {
    let mut hasher = Sha256::new();
    hasher.update(prev_hash.as_bytes());
    hasher.update(canonical_entry(entry).as_bytes());
    hex::encode(hasher.finalize())
}

/// Checks a whole trail from its genesis: indexes 0, 1, 2…, each `prev_hash` equal to the previous
/// record's `hash`, and each `hash` recomputed from its entry. The error names the first bad record.
pub fn verify_audit_chain(records: &[AuditRecord]) -> Result<(), String> {
    let mut prev = GENESIS.to_owned();
    for (expected_index, record) in (0u64..).zip(records) {
        if record.index != expected_index {
            return Err(format!(
                "audit record {} found where record {expected_index} was expected",
                record.index
            ));
        }
        if record.prev_hash != prev {
            return Err(format!(
                "audit record {expected_index} does not link to the previous record"
            ));
        }
        let hash = chain_hash(&prev, &record.entry);
        if record.hash != hash {
            return Err(format!(
                "audit record {expected_index} does not match its hash (entry altered)"
            ));
        }
        prev = hash;
    }
    Ok(())
}

/// The trail (or one organisation's records of it) as a table or as JSON lines, oldest first. The
/// chain covers every organisation's records together, so a filtered listing shows each record's
/// own index and hash, which `audit verify` checks against the whole trail.
pub fn render(records: &[AuditRecord], org: Option<&str>, json: bool) -> String {
    let selected = records
        .iter()
        .filter(|r| org.is_none_or(|o| r.entry.org.as_deref() == Some(o)));
    if json {
        return selected
            .filter_map(|r| serde_json::to_string(r).ok())
            .map(|line| line + "\n")
            .collect();
    }
    let rows: Vec<[String; 6]> = selected
        .map(|r| {
            [
                r.index.to_string(),
                crate::admin::fmt_time(r.entry.at_ms),
                r.entry.actor.clone(),
                r.entry.action.clone(),
                r.entry.org.clone().unwrap_or_else(|| "-".into()),
                // Details may hold admin-typed text: keep each record on one line.
                r.entry.detail.escape_debug().to_string(),
            ]
        })
        .collect();
    crate::admin::table(&["INDEX", "AT", "ACTOR", "ACTION", "ORG", "DETAIL"], &rows)
}

fn json_string(s: &str) -> String {
    // Serialising a &str cannot fail; fall back to an escaped debug form rather than panic.
    serde_json::to_string(s).unwrap_or_else(|_| format!("{s:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(action: &str, org: Option<&str>) -> AuditEntry {
        AuditEntry {
            at_ms: 1_700_000_000_000,
            actor: "uid:0".into(),
            action: action.into(),
            org: org.map(str::to_owned),
            detail: "line \"one\"\n".into(),
        }
    }

    fn chain(entries: &[AuditEntry]) -> Vec<AuditRecord> {
        let mut prev = GENESIS.to_owned();
        let mut out = Vec::new();
        for (index, entry) in (0u64..).zip(entries) {
            let hash = chain_hash(&prev, entry);
            out.push(AuditRecord {
                index,
                entry: entry.clone(),
                prev_hash: prev,
                hash: hash.clone(),
            });
            prev = hash;
        }
        out
    }

    #[test]
    fn canonical_form_is_stable() {
        assert_eq!(
            canonical_entry(&entry("token.create", Some("mairie-test"))),
            r#"{"action":"token.create","actor":"uid:0","at_ms":"1700000000000","detail":"line \"one\"\n","org":"mairie-test"}"#
        );
        assert_eq!(
            canonical_entry(&entry("x", None)),
            r#"{"action":"x","actor":"uid:0","at_ms":"1700000000000","detail":"line \"one\"\n","org":null}"#
        );
    }

    #[track_caller]
    fn check(tamper: impl Fn(&mut Vec<AuditRecord>), expect: Result<(), &str>) {
        let mut records = chain(&[entry("a", None), entry("b", Some("o")), entry("c", None)]);
        tamper(&mut records);
        assert_eq!(verify_audit_chain(&records), expect.map_err(str::to_owned));
    }

    #[test]
    fn verification() {
        check(|_| {}, Ok(()));
        check(|r| r.truncate(0), Ok(()));
        check(
            |r| r[1].entry.detail = "edited".into(),
            Err("audit record 1 does not match its hash (entry altered)"),
        );
        check(
            |r| r[0].prev_hash = "ab".repeat(32),
            Err("audit record 0 does not link to the previous record"),
        );
        check(
            |r| drop(r.remove(1)),
            Err("audit record 2 found where record 1 was expected"),
        );
        check(
            |r| {
                // Rewriting a record and its hash still breaks the next link.
                r[1].entry.detail = "edited".into();
                r[1].hash = chain_hash(&r[1].prev_hash, &r[1].entry);
            },
            Err("audit record 2 does not link to the previous record"),
        );
    }
}
