//! Signed, chained compliance snapshots (DESIGN decision 21): `create` gathers an organisation's
//! hosts, findings (judged at creation time, with the waivers then in force), the signed headers they
//! rest on, key histories, waivers and the audit head into one RFC 8785 document, signs it with the
//! snapshot key in minisign format and stores both; `export`, `list` and `diff` read them back;
//! `verify` (in [`verify`]) needs only the exported files and the public key.
//!
//! Renderings for people (HTML, PDF, CSV, in French) are in [`report`]; scheduled snapshots with
//! retention in [`schedule`].

pub mod diff;
pub mod document;
#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod gather_tests;
pub mod jcs;
pub mod key;
pub mod minisign;
pub mod report;
pub mod rollup;
pub mod schedule;
pub mod verify;

use std::collections::BTreeMap;
use std::path::Path;

use futures_util::{StreamExt, TryStreamExt};
use sha2::{Digest, Sha256};
use vigie_policies::{Catalogue, Profile};
use vigie_proto::v1::SignedReport;
use vigie_proto::Message;

use crate::store::{AuditEntry, SnapshotRecord, Store, StoreError};
use document::{EmbeddedReport, HostInput, Inputs, NO_PREVIOUS};

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
    #[error("a thread gathering the snapshot's hosts failed")]
    GatherThread,
    #[error("stored report ({epoch}, {seq}) of host {host} does not decode")]
    Report { host: String, epoch: u64, seq: u64 },
}

static CREATING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Creates, signs and stores the next snapshot of `org`; returns its record. `scheduled` marks the
/// ones the schedule makes, which its retention may later remove.
pub async fn create(
    store: &dyn Store,
    data_dir: &Path,
    org_id: &str,
    profile: Profile,
    actor: &str,
    now_ms: i64,
    scheduled: bool,
) -> Result<SnapshotRecord, SnapshotError> {
    create_timed(store, data_dir, org_id, profile, actor, now_ms, scheduled)
        .await
        .map(|(record, _)| record)
}

/// Where the time of one `create` went, in milliseconds (for the log line and the benchmark).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Phases {
    /// Reading and judging every host, and fetching the reports its findings rest on.
    pub gather_ms: u128,
    /// Building the canonical document.
    pub canonical_ms: u128,
    /// SHA-256 and the minisign signature.
    pub sign_ms: u128,
    /// Storing it durably and appending the audit record.
    pub store_ms: u128,
}

/// [`create`], also saying where the time went.
pub async fn create_timed(
    store: &dyn Store,
    data_dir: &Path,
    org_id: &str,
    profile: Profile,
    actor: &str,
    now_ms: i64,
    scheduled: bool,
) -> Result<(SnapshotRecord, Phases), SnapshotError> {
    // One snapshot at a time in this process: the admin socket and the schedule both create them,
    // and two concurrent ones would compute the same sequence number (the store refuses the second,
    // so this is about not failing, not about the chain). Another process cannot hold the store.
    let _one_at_a_time = CREATING.lock().await;
    // The key first: a snapshot that cannot be signed is not worth gathering.
    let signing_key = key::load(data_dir)?;
    let key_id = minisign::key_id_text(&minisign::key_id(&signing_key.verifying_key()));
    let org = store
        .org(org_id)
        .await?
        .ok_or_else(|| StoreError::NoSuchOrg(org_id.to_owned()))?;
    let catalogue = Catalogue::builtin().map_err(|e| SnapshotError::Catalogue(e.to_string()))?;

    // The document's time is `now_ms`; these clocks are for the log line and `Phases` only.
    let t0 = std::time::Instant::now();
    let mut phases = Phases::default();
    let context = crate::derive::OrgContext::load(store, org_id, now_ms).await?;
    let hosts = gather_all(
        store,
        &catalogue,
        profile,
        &context,
        store.hosts(Some(org_id)).await?,
        now_ms,
    )
    .await?;
    phases.gather_ms = t0.elapsed().as_millis();
    let waivers: Vec<_> = store
        .waivers(org_id)
        .await?
        .into_iter()
        .filter(|w| w.in_force(now_ms))
        .collect();
    let maintenance = store.maintenance_windows(org_id).await?;
    let ping_jobs = gather_ping_jobs(store, &catalogue, profile, org_id, now_ms).await?;
    let previous = store.last_snapshot(org_id).await?;
    let seq = previous.as_ref().map_or(1, |p| p.seq.saturating_add(1));
    let previous_sha256 = previous
        .as_ref()
        .map_or_else(|| NO_PREVIOUS.to_owned(), |p| p.sha256.clone());
    let audit_head = store.audit_trail().await?.pop().map(|r| (r.index, r.hash));
    let profile_name = profile.to_string();
    let t = std::time::Instant::now();
    let bytes = document::canonical(&Inputs {
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
        maintenance: &maintenance,
        ping_jobs: &ping_jobs,
    })?;
    phases.canonical_ms = t.elapsed().as_millis();
    let t = std::time::Instant::now();
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
    phases.sign_ms = t.elapsed().as_millis();
    let t = std::time::Instant::now();
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
        scheduled,
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
    phases.store_ms = t.elapsed().as_millis();
    tracing::info!(target: "security", org = %org_id, snapshot = %record.id, sha256 = %sha256, key_id = %key_id, hosts = hosts.len(), bytes = record.document.len(), gather_ms = phases.gather_ms, canonical_ms = phases.canonical_ms, sign_ms = phases.sign_ms, store_ms = phases.store_ms, total_ms = t0.elapsed().as_millis(), "Snapshot signed.");
    Ok((record, phases))
}

/// Gathers every host in order. Judging a host is CPU work done inside the gathering future, so on
/// a multi-threaded runtime with several cores the hosts are split into [`GATHER_THREADS`]
/// contiguous parts, each gathered on its own scoped thread that drives the runtime's handle and
/// reads the store in place (`inline_reads`: no hand-off to the blocking pool per read, thousands
/// of them); more threads than cores, so that a read waiting on the disk does not idle a core.
/// Elsewhere (a current-thread runtime, one core) they are gathered on this task.
async fn gather_all(
    store: &dyn Store,
    catalogue: &Catalogue,
    profile: Profile,
    context: &crate::derive::OrgContext,
    hosts: Vec<crate::store::HostRecord>,
    now_ms: i64,
) -> Result<Vec<HostInput>, SnapshotError> {
    let handle = tokio::runtime::Handle::current();
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let workers = GATHER_THREADS;
    if cores < 2
        || hosts.len() < 2 * GATHER_CONCURRENCY
        || handle.runtime_flavor() != tokio::runtime::RuntimeFlavor::MultiThread
    {
        return gather_part(store, catalogue, profile, context, hosts, now_ms).await;
    }
    let part_len = hosts.len().div_ceil(workers);
    let mut parts = Vec::with_capacity(workers);
    let mut rest = hosts;
    while rest.len() > part_len {
        let tail = rest.split_off(part_len);
        parts.push(rest);
        rest = tail;
    }
    parts.push(rest);
    // `block_in_place` lets this worker thread wait without stalling the runtime's other tasks.
    tokio::task::block_in_place(|| {
        std::thread::scope(|scope| {
            let running: Vec<_> = parts
                .into_iter()
                .map(|part| {
                    let handle = handle.clone();
                    // A plain thread that only drives this future: its store reads run in place
                    // instead of one hand-off to the blocking pool each.
                    scope.spawn(move || {
                        crate::store::inline_reads::with_inline_reads(|| {
                            handle.block_on(gather_part(
                                store, catalogue, profile, context, part, now_ms,
                            ))
                        })
                    })
                })
                .collect();
            let mut all = Vec::new();
            for worker in running {
                let part = worker.join().map_err(|_| SnapshotError::GatherThread)??;
                all.extend(part);
            }
            Ok(all)
        })
    })
}

/// Gathers `hosts` in order, [`GATHER_CONCURRENCY`] at a time.
async fn gather_part(
    store: &dyn Store,
    catalogue: &Catalogue,
    profile: Profile,
    context: &crate::derive::OrgContext,
    hosts: Vec<crate::store::HostRecord>,
    now_ms: i64,
) -> Result<Vec<HostInput>, SnapshotError> {
    // Each host is a handful of store reads; overlapping them keeps a 10,000-host snapshot within
    // its budget (DESIGN §6). Order is kept.
    futures_util::stream::iter(hosts)
        .map(|host| gather_host(store, catalogue, profile, context, host, now_ms))
        .buffered(GATHER_CONCURRENCY)
        .try_collect()
        .await
}

/// How many threads gather hosts during `create` (on more than one core).
const GATHER_THREADS: usize = 8;

/// How many hosts `create` gathers at once.
const GATHER_CONCURRENCY: usize = 32;

/// One host as the snapshot embeds it: its findings at `now_ms` (its organisation's waivers,
/// attestations and contractor policy read once for all hosts, in `context`), the stored reports
/// they rest on, its key history and its groups.
async fn gather_host(
    store: &dyn Store,
    catalogue: &Catalogue,
    profile: Profile,
    context: &crate::derive::OrgContext,
    host: crate::store::HostRecord,
    now_ms: i64,
) -> Result<HostInput, SnapshotError> {
    let groups = store.host_groups(&host.id).await?;
    let findings =
        crate::derive::judge_host(store, catalogue, profile, &host, &groups, context, now_ms)
            .await?;
    // Only the reports the findings rest on, fetched by key: a host keeps months of reports.
    let wanted: std::collections::BTreeSet<(u64, u64)> = findings
        .iter()
        .flat_map(|f| f.evidence.iter().copied())
        .collect();
    let mut reports = BTreeMap::new();
    for (epoch, seq) in wanted {
        let Some(stored) = store.report(&host.id, epoch, seq).await? else {
            // Left out here; `document` then names the finding whose evidence is missing.
            continue;
        };
        let bad = || SnapshotError::Report {
            host: host.id.clone(),
            epoch,
            seq,
        };
        let signed = SignedReport::decode(stored.signed.as_slice()).map_err(|_| bad())?;
        reports.insert(
            (epoch, seq),
            EmbeddedReport {
                header: signed.header,
                signature: signed.signature,
                received_at_ms: stored.received_at_ms,
            },
        );
    }
    Ok(HostInput {
        key_history: store.key_history(&host.id).await?,
        groups,
        host,
        findings,
        reports,
    })
}

/// The organisation's ping jobs (backups of machines with no agent), each judged at `now_ms` with
/// the waivers then in force, as the periodic pass judges it (`ping::findings`).
async fn gather_ping_jobs(
    store: &dyn Store,
    catalogue: &Catalogue,
    profile: Profile,
    org_id: &str,
    now_ms: i64,
) -> Result<Vec<document::PingJobInput>, SnapshotError> {
    let waivers = store.waivers(org_id).await?;
    Ok(store
        .ping_jobs(Some(org_id))
        .await?
        .into_iter()
        .map(|job| document::PingJobInput {
            findings: crate::ping::findings(catalogue, profile, &job, &waivers, now_ms),
            job,
        })
        .collect())
}

/// The list of an organisation's snapshots as a table.
pub async fn list(store: &dyn Store, org: &str) -> Result<String, SnapshotError> {
    let rows: Vec<[String; 5]> = store
        .snapshot_metas(org)
        .await?
        .into_iter()
        .map(|s| {
            [
                s.id,
                s.seq.to_string(),
                crate::admin::fmt_time(s.created_at_ms),
                if s.scheduled { "scheduled" } else { "manual" }.to_owned(),
                s.sha256,
            ]
        })
        .collect();
    Ok(crate::admin::table(
        &["ID", "SEQ", "CREATED", "KIND", "SHA-256"],
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
