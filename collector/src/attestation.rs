//! Organisation attestations (`vigie-collector attest set|list|revoke`): an administrator records
//! that a measure no agent can observe holds for the whole organisation (today `vpn-mfa`, the VPN
//! half of ACC-008), who vouches for it and until when. Each change is an audit entry (hash chain,
//! `store/audit.rs`) and judges the organisation's hosts again; an attestation expires by itself
//! (it is simply not passed to the evaluator after `expires_at_ms`) and can be revoked earlier.

use serde::{Deserialize, Serialize};

use crate::admin::{fmt_time, AdminError, Request};
use crate::store::{AuditEntry, Store, StoreError};

/// Longest validity of one attestation: it is to be renewed after the yearly review (MAC).
pub const MAX_VALIDITY_MS: i64 = 400 * 86_400_000;
const MAX_TEXT_CHARS: usize = 500;

/// One attestation as the store keeps it; the latest per `(org, measure)` replaces the previous.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttestationRecord {
    pub org: String,
    /// One of `vigie_policies::ATTESTATION_MEASURES`.
    pub measure: String,
    /// The person who vouches for the measure (as the admin typed it).
    pub by: String,
    pub note: String,
    pub set_at_ms: i64,
    /// The admin actor who recorded it (`uid:N`).
    pub set_by: String,
    /// From this instant on the attestation no longer holds.
    pub expires_at_ms: i64,
    /// Revoked before its expiry: when, by which actor, why.
    pub revoked: Option<Revocation>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revocation {
    pub at_ms: i64,
    pub by: String,
    pub reason: String,
}

impl AttestationRecord {
    /// Not revoked and not yet expired at `now_ms`.
    pub fn in_force(&self, now_ms: i64) -> bool {
        self.revoked.is_none() && now_ms < self.expires_at_ms
    }

    fn state(&self, now_ms: i64) -> &'static str {
        match (&self.revoked, self.in_force(now_ms)) {
            (Some(_), _) => "revoked",
            (None, true) => "in-force",
            (None, false) => "expired",
        }
    }
}

/// The attestations of `org` in force at `now_ms`, as the evaluator takes them.
pub async fn in_force(
    store: &dyn Store,
    org: &str,
    now_ms: i64,
) -> Result<Vec<vigie_policies::Attestation>, StoreError> {
    Ok(store
        .attestations(org)
        .await?
        .into_iter()
        .filter(|a| a.in_force(now_ms))
        .map(|a| vigie_policies::Attestation {
            measure: a.measure,
            by: a.by,
            note: a.note,
            expires_at_ms: a.expires_at_ms,
        })
        .collect())
}

fn check_text(field: &str, value: &str) -> Result<(), AdminError> {
    let n = value.trim().chars().count();
    if n == 0 || n > MAX_TEXT_CHARS || value.chars().any(char::is_control) {
        return Err(AdminError::Invalid(format!(
            "--{field}: 1 to {MAX_TEXT_CHARS} characters, no control character"
        )));
    }
    Ok(())
}

fn check_measure(measure: &str) -> Result<(), AdminError> {
    if vigie_policies::ATTESTATION_MEASURES.contains(&measure) {
        return Ok(());
    }
    Err(AdminError::Invalid(format!(
        "--measure {measure:?}: expected one of {}",
        vigie_policies::ATTESTATION_MEASURES.join(", ")
    )))
}

/// Runs `AttestSet`, `AttestList` and `AttestRevoke`; other requests are refused.
pub async fn execute(
    store: &dyn Store,
    profile: vigie_policies::Profile,
    actor: &str,
    now: i64,
    req: Request,
) -> Result<String, AdminError> {
    let audit = |action: &str, org: &str, detail: String| AuditEntry {
        at_ms: now,
        actor: actor.to_owned(),
        action: action.to_owned(),
        org: Some(org.to_owned()),
        detail,
    };
    match req {
        Request::AttestSet {
            org,
            measure,
            by,
            note,
            until_ms,
        } => {
            check_measure(&measure)?;
            check_text("by", &by)?;
            check_text("note", &note)?;
            if until_ms <= now {
                return Err(AdminError::Invalid(format!(
                    "--until {} is already past",
                    fmt_time(until_ms)
                )));
            }
            if until_ms - now > MAX_VALIDITY_MS {
                return Err(AdminError::Invalid(format!(
                    "--until {}: an attestation lasts 400 days at most, renew it after the yearly review",
                    fmt_time(until_ms)
                )));
            }
            let record = AttestationRecord {
                org: org.clone(),
                measure: measure.clone(),
                by: by.clone(),
                note: note.clone(),
                set_at_ms: now,
                set_by: actor.to_owned(),
                expires_at_ms: until_ms,
                revoked: None,
            };
            store.set_attestation(record).await?;
            let detail = format!(
                "{measure} attested by {by} until {}: {note}",
                fmt_time(until_ms)
            );
            store
                .append_audit(audit("attest.set", &org, detail.clone()))
                .await?;
            let hosts = crate::derive::reevaluate_org(store, profile, &org, now).await?;
            Ok(format!(
                "{org}: {detail}; findings of {hosts} host(s) judged again\n"
            ))
        }
        Request::AttestRevoke {
            org,
            measure,
            reason,
        } => {
            check_measure(&measure)?;
            check_text("reason", &reason)?;
            let current = store
                .attestations(&org)
                .await?
                .into_iter()
                .find(|a| a.measure == measure && a.in_force(now));
            let Some(mut record) = current else {
                return Err(AdminError::Invalid(format!(
                    "{org} has no {measure} attestation in force"
                )));
            };
            record.revoked = Some(Revocation {
                at_ms: now,
                by: actor.to_owned(),
                reason: reason.clone(),
            });
            store.set_attestation(record).await?;
            let detail = format!("{measure} revoked: {reason}");
            store
                .append_audit(audit("attest.revoke", &org, detail.clone()))
                .await?;
            let hosts = crate::derive::reevaluate_org(store, profile, &org, now).await?;
            Ok(format!(
                "{org}: {detail}; findings of {hosts} host(s) judged again\n"
            ))
        }
        Request::AttestList { org } => {
            if store.org(&org).await?.is_none() {
                return Err(StoreError::NoSuchOrg(org).into());
            }
            let mut out = String::new();
            for a in store.attestations(&org).await? {
                out.push_str(&format!(
                    "{}\t{}\tby {}\tuntil {}\tset {} by {}\t{}",
                    a.measure,
                    a.state(now),
                    a.by,
                    fmt_time(a.expires_at_ms),
                    fmt_time(a.set_at_ms),
                    a.set_by,
                    a.note
                ));
                if let Some(r) = &a.revoked {
                    out.push_str(&format!(
                        "\trevoked {} by {}: {}",
                        fmt_time(r.at_ms),
                        r.by,
                        r.reason
                    ));
                }
                out.push('\n');
            }
            Ok(out)
        }
        _ => Err(AdminError::Invalid("not an attestation request".to_owned())),
    }
}
