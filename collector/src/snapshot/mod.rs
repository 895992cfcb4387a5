//! Signed, chained compliance snapshots (DESIGN decision 21): `create` gathers an organisation's
//! hosts, findings (judged at creation time, with the waivers then in force), the signed headers they
//! rest on, key histories, waivers and the audit head into one RFC 8785 document, signs it with the
//! snapshot key in minisign format and stores both; `export`, `list` and `diff` read them back;
//! `verify` (in [`verify`]) needs only the exported files and the public key.
//!
//! Not here yet: HTML, PDF and CSV exports, scheduled snapshots with retention, ping-job pseudo-hosts.

pub mod diff;
pub mod document;
pub mod jcs;
pub mod key;
pub mod minisign;
pub mod rollup;
pub mod verify;

use std::collections::BTreeMap;
use std::path::Path;

use sha2::{Digest, Sha256};
use vigie_policies::{Catalogue, Profile};
use vigie_proto::v1::SignedReport;
use vigie_proto::Message;

use crate::store::{AuditEntry, SnapshotRecord, Store, StoreError};
use document::{HostInput, Inputs, NO_PREVIOUS};

#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Key(#[from] key::KeyError),
    #[error(transparent)]
    Document(#[from] document::DocumentError),
    #[error("canonical JSON: {0}")]
    Jcs(#[from] jcs::JcsError),
    #[error("signing: {0}")]
    Sign(#[from] minisign::MinisignError),
    #[error("stored snapshot {id}: {source}")]
    Stored {
        id: String,
        #[source]
        source: verify::VerifyError,
    },
    #[error("the check catalogue does not load: {0}")]
    Catalogue(String),
    #[error("stored report ({epoch}, {seq}) of host {host} does not decode")]
    Report { host: String, epoch: u64, seq: u64 },
}

/// Creates, signs and stores the next snapshot of `org`; returns its record.
pub async fn create(
    store: &dyn Store,
    data_dir: &Path,
    org_id: &str,
    profile: Profile,
    actor: &str,
    now_ms: i64,
) -> Result<SnapshotRecord, SnapshotError> {
    // The key first: a snapshot that cannot be signed is not worth gathering.
    let signing_key = key::load(data_dir)?;
    let key_id = minisign::key_id_text(&minisign::key_id(&signing_key.verifying_key()));
    let org = store
        .org(org_id)
        .await?
        .ok_or_else(|| StoreError::NoSuchOrg(org_id.to_owned()))?;
    let catalogue = Catalogue::builtin().map_err(|e| SnapshotError::Catalogue(e.to_string()))?;

    let mut hosts = Vec::new();
    for host in store.hosts(Some(org_id)).await? {
        let findings = crate::derive::host_findings(store, &catalogue, profile, &host.id, now_ms)
            .await?
            .unwrap_or_default();
        let mut reports = BTreeMap::new();
        for stored in store.reports(&host.id).await? {
            let wanted = findings
                .iter()
                .any(|f| f.evidence.contains(&(stored.epoch, stored.seq)));
            if !wanted {
                continue;
            }
            let signed = SignedReport::decode(stored.signed.as_slice()).map_err(|_| {
                SnapshotError::Report {
                    host: host.id.clone(),
                    epoch: stored.epoch,
                    seq: stored.seq,
                }
            })?;
            reports.insert(
                (stored.epoch, stored.seq),
                (signed.header, signed.signature),
            );
        }
        hosts.push(HostInput {
            key_history: store.key_history(&host.id).await?,
            host,
            findings,
            reports,
        });
    }
    let waivers: Vec<_> = store
        .waivers(org_id)
        .await?
        .into_iter()
        .filter(|w| w.in_force(now_ms))
        .collect();
    let previous = store.snapshots(org_id).await?.pop();
    let seq = previous.as_ref().map_or(1, |p| p.seq.saturating_add(1));
    let previous_sha256 = previous
        .as_ref()
        .map_or_else(|| NO_PREVIOUS.to_owned(), |p| p.sha256.clone());
    let audit_head = store.audit_trail().await?.pop().map(|r| (r.index, r.hash));
    let profile_name = profile.to_string();
    let value = document::build(&Inputs {
        org: &org,
        seq,
        created_at_ms: now_ms,
        profile: &profile_name,
        catalogue: &catalogue,
        previous_sha256: &previous_sha256,
        audit_head,
        key_id: &key_id,
        hosts: &hosts,
        waivers: &waivers,
    })?;
    let bytes = jcs::canonical(&value)?;
    let sha256 = hex::encode(Sha256::digest(&bytes));
    let at = document::time_text(now_ms);
    let comment = document::trusted_comment(org_id, seq, &at, &previous_sha256, &key_id);
    let minisig = minisign::sign(
        &signing_key,
        &bytes,
        &format!("signature from vigie-collector snapshot key {key_id}"),
        &comment,
    )?;
    drop(signing_key);
    let record = SnapshotRecord {
        id: SnapshotRecord::id_of(org_id, seq),
        org: org_id.to_owned(),
        seq,
        created_at_ms: now_ms,
        sha256: sha256.clone(),
        // `canonical` writes a `String`'s bytes, so this never fails; refuse rather than guess.
        document: String::from_utf8(bytes)
            .map_err(|_| SnapshotError::Catalogue("canonical document is not UTF-8".into()))?,
        minisig,
    };
    store.add_snapshot(record.clone()).await?;
    store
        .append_audit(AuditEntry {
            at_ms: now_ms,
            actor: actor.to_owned(),
            action: "snapshot.sign".into(),
            org: Some(org_id.to_owned()),
            detail: format!("{}: sha256 {sha256}, key {key_id}", record.id),
        })
        .await?;
    tracing::info!(target: "security", org = %org_id, snapshot = %record.id, sha256 = %sha256, key_id = %key_id, "Snapshot signed.");
    Ok(record)
}

/// The list of an organisation's snapshots as a table.
pub async fn list(store: &dyn Store, org: &str) -> Result<String, SnapshotError> {
    let rows: Vec<[String; 4]> = store
        .snapshots(org)
        .await?
        .into_iter()
        .map(|s| {
            [
                s.id,
                s.seq.to_string(),
                crate::admin::fmt_time(s.created_at_ms),
                s.sha256,
            ]
        })
        .collect();
    Ok(crate::admin::table(
        &["ID", "SEQ", "CREATED", "SHA-256"],
        &rows,
    ))
}

/// One stored snapshot; `NoSuchSnapshot` when absent.
pub async fn get(store: &dyn Store, id: &str) -> Result<SnapshotRecord, SnapshotError> {
    Ok(store
        .snapshot(id)
        .await?
        .ok_or_else(|| StoreError::NoSuchSnapshot(id.to_owned()))?)
}

/// The diff of two stored snapshots.
pub async fn diff_stored(store: &dyn Store, a: &str, b: &str) -> Result<String, SnapshotError> {
    let parse = |r: &SnapshotRecord| {
        verify::parse_canonical(r.document.as_bytes()).map_err(|source| SnapshotError::Stored {
            id: r.id.clone(),
            source,
        })
    };
    let (ra, rb) = (get(store, a).await?, get(store, b).await?);
    diff::diff(&parse(&ra)?, &parse(&rb)?).map_err(|source| SnapshotError::Stored {
        id: rb.id.clone(),
        source,
    })
}
