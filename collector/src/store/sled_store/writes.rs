//! The store's write operations. They run only on the committer thread, the single writer, so a
//! check followed by a write cannot race another write; writes touching several trees go through one
//! sled transaction so that a crash never leaves half of them.

use std::collections::HashMap;

use sled::transaction::{TransactionError, Transactional};

use super::codec::{
    encode, epoch_prefix, findings_prefix, id_prefix, key_name, report_key, with_u64, Bytes,
};
use super::Inner;
use crate::store::audit::{chain_hash, GENESIS};
use crate::store::{
    Admission, Admitted, AuditEntry, AuditRecord, Candidate, FindingRecord, HostRecord, KeyEvent,
    RedeemOutcome, RedeemRefusal, Redemption, Revocation, StoreError, StoredReport, TokenRecord,
    TokenUse,
};
use crate::store::{PingJob, PingKind};

pub(super) fn tx_error(err: TransactionError<StoreError>) -> StoreError {
    match err {
        TransactionError::Abort(e) => e,
        TransactionError::Storage(e) => StoreError::Sled(e),
    }
}

/// A record that must not be overwritten already exists. `StoreError` has no variant for this (it
/// only happens on a caller bug or a 128/256-bit collision), so it is reported as an I/O refusal.
fn already_exists(tree: &str, key: &[u8], what: &str) -> StoreError {
    StoreError::Io {
        path: key_name(tree, key),
        source: std::io::Error::new(std::io::ErrorKind::AlreadyExists, what.to_owned()),
    }
}

pub(super) fn add_org(inner: &Inner, org: &crate::store::Org) -> Result<(), StoreError> {
    let key = org.id.as_bytes();
    if inner.orgs.tree.contains_key(key)? {
        return Err(StoreError::OrgExists(org.id.clone()));
    }
    inner.orgs.put(key, org)
}

pub(super) fn add_token(inner: &Inner, token: &TokenRecord) -> Result<(), StoreError> {
    if !inner.orgs.tree.contains_key(token.org.as_bytes())? {
        return Err(StoreError::NoSuchOrg(token.org.clone()));
    }
    match inner.tokens.get::<TokenRecord>(&token.hash)? {
        Some(existing) if existing == *token => Ok(()),
        Some(_) => Err(already_exists(
            inner.tokens.name,
            &token.hash,
            "another token has this hash",
        )),
        None => inner.tokens.put(&token.hash, token),
    }
}

pub(super) fn redeem(inner: &Inner, req: &Redemption) -> Result<RedeemOutcome, StoreError> {
    let refused = |why| Ok(RedeemOutcome::Refused(why));
    let Some(token) = inner.tokens.get::<TokenRecord>(&req.token_hash)? else {
        return refused(RedeemRefusal::UnknownToken);
    };
    if req.now_ms >= token.expires_at_ms {
        return refused(RedeemRefusal::Expired);
    }
    if let Some(Bytes(owner)) = inner.host_keys.get::<Bytes>(&req.public_key)? {
        let through_this_token = token
            .redeemed_by
            .as_ref()
            .is_some_and(|u| u.public_key == req.public_key && u.host_id.as_bytes() == owner);
        if !through_this_token {
            return refused(RedeemRefusal::KeyAlreadyEnrolled);
        }
    }
    match &token.redeemed_by {
        None => enroll(inner, req, token),
        Some(used) if used.public_key == req.public_key && !used.retry_spent => {
            let host = inner
                .hosts
                .get::<HostRecord>(used.host_id.as_bytes())?
                .ok_or_else(|| StoreError::Corrupt {
                    key: key_name(inner.tokens.name, &req.token_hash),
                    reason: format!("redeemed for host {:?}, which is missing", used.host_id),
                })?;
            let mut token = token.clone();
            if let Some(used) = token.redeemed_by.as_mut() {
                used.retry_spent = true;
            }
            inner.tokens.put(&req.token_hash, &token)?;
            Ok(RedeemOutcome::Enrolled { host, retry: true })
        }
        Some(_) => refused(RedeemRefusal::AlreadyUsed),
    }
}

fn enroll(
    inner: &Inner,
    req: &Redemption,
    mut token: TokenRecord,
) -> Result<RedeemOutcome, StoreError> {
    let host_key = req.new_host_id.as_bytes();
    if inner.hosts.tree.contains_key(host_key)? {
        return Err(already_exists(
            inner.hosts.name,
            host_key,
            "host id already in use",
        ));
    }
    let host = HostRecord {
        id: req.new_host_id.clone(),
        org: token.org.clone(),
        hostname: req.hostname.clone(),
        agent_version: req.agent_version.clone(),
        enrolled_at_ms: req.now_ms,
        enrolled_from: req.peer_address.clone(),
        current_key: req.public_key,
        // The certificate is issued after the redemption; its serial and expiry arrive with the
        // next key event (see the report to the lead: `Redemption` does not carry them).
        cert_serial: String::new(),
        cert_not_after_ms: 0,
        revoked: None,
        last_seen_ms: 0,
        current_epoch: 0,
        clock_skew_ms: 0,
    };
    token.redeemed_by = Some(TokenUse {
        public_key: req.public_key,
        host_id: req.new_host_id.clone(),
        at_ms: req.now_ms,
        retry_spent: false,
    });
    let token_value = encode(inner.tokens.name, &req.token_hash, &token)?;
    let host_value = encode(inner.hosts.name, host_key, &host)?;
    let owner = Bytes(host_key.to_vec());
    let owner_value = encode(inner.host_keys.name, &req.public_key, &owner)?;
    // No key event here: the caller records `Enrolled` with the certificate it issues.
    (&inner.tokens.tree, &inner.hosts.tree, &inner.host_keys.tree)
        .transaction(|(tokens, hosts, keys)| {
            tokens.insert(&req.token_hash[..], token_value.as_slice())?;
            hosts.insert(host_key, host_value.as_slice())?;
            keys.insert(&req.public_key[..], owner_value.as_slice())?;
            Ok(())
        })
        .map_err(tx_error)?;
    Ok(RedeemOutcome::Enrolled { host, retry: false })
}

pub(super) fn record_key_event(
    inner: &Inner,
    host_id: &str,
    event: &KeyEvent,
) -> Result<(), StoreError> {
    let host_key = host_id.as_bytes();
    let mut host = inner
        .hosts
        .get::<HostRecord>(host_key)?
        .ok_or_else(|| StoreError::NoSuchHost(host_id.to_owned()))?;
    let mut new_key = None;
    match event {
        KeyEvent::Enrolled {
            public_key,
            cert_serial,
            not_after_ms,
            ..
        }
        | KeyEvent::Renewed {
            public_key,
            cert_serial,
            not_after_ms,
            ..
        } => {
            host.current_key = *public_key;
            host.cert_serial.clone_from(cert_serial);
            host.cert_not_after_ms = *not_after_ms;
            new_key = Some(*public_key);
        }
        KeyEvent::Revoked { at_ms, reason } => {
            host.revoked = Some(Revocation {
                at_ms: *at_ms,
                reason: reason.clone(),
            });
        }
    }
    let prefix = id_prefix(host_id);
    let history_key = with_u64(prefix.clone(), inner.key_history.next_counter(&prefix)?);
    let event_value = encode(inner.key_history.name, &history_key, event)?;
    let host_value = encode(inner.hosts.name, host_key, &host)?;
    let owner_value = match &new_key {
        Some(k) => Some(encode(inner.host_keys.name, k, &Bytes(host_key.to_vec()))?),
        None => None,
    };
    (
        &inner.hosts.tree,
        &inner.key_history.tree,
        &inner.host_keys.tree,
    )
        .transaction(|(hosts, history, keys)| {
            hosts.insert(host_key, host_value.as_slice())?;
            history.insert(history_key.as_slice(), event_value.as_slice())?;
            if let (Some(k), Some(v)) = (&new_key, &owner_value) {
                keys.insert(&k[..], v.as_slice())?;
            }
            Ok(())
        })
        .map_err(tx_error)
}

/// One admitted report's writes: its record and its place in the host's arrival order.
struct ReportWrite {
    key: Vec<u8>,
    value: Vec<u8>,
    index_key: Vec<u8>,
    index_value: Vec<u8>,
}

/// DESIGN decision 10, per candidate in order, against the stored reports plus those admitted
/// earlier in the same batch. `epoch_returned` is raised when a candidate is *stored* in an epoch
/// other than the host's current one that already holds reports: a new report in an epoch the host
/// had left means two live agents; a mere resend of an old report does not.
pub(super) fn admit(
    inner: &Inner,
    host_id: &str,
    batch: Vec<Candidate>,
) -> Result<Admitted, StoreError> {
    let host_key = host_id.as_bytes();
    let mut host = inner
        .hosts
        .get::<HostRecord>(host_key)?
        .ok_or_else(|| StoreError::NoSuchHost(host_id.to_owned()))?;
    let mut batch_digests: HashMap<(u64, u64), [u8; 32]> = HashMap::new();
    let mut batch_hwm: HashMap<u64, u64> = HashMap::new();
    let index_prefix = id_prefix(host_id);
    let mut next_index = inner.report_index.next_counter(&index_prefix)?;
    let mut writes = Vec::new();
    let mut admissions = Vec::with_capacity(batch.len());
    let mut epoch_returned = false;

    for c in batch {
        let key = report_key(host_id, c.epoch, c.seq);
        let existing = match batch_digests.get(&(c.epoch, c.seq)) {
            Some(digest) => Some(*digest),
            None => inner.reports.get::<StoredReport>(&key)?.map(|r| r.digest),
        };
        let stored_hwm = inner.reports.last_u64(&epoch_prefix(host_id, c.epoch))?;
        let hwm = stored_hwm.max(batch_hwm.get(&c.epoch).copied());
        let admission = match (existing, hwm) {
            (Some(d), _) if d == c.digest => Admission::AlreadyStored,
            (Some(_), _) => Admission::Equivocation,
            (None, Some(h)) if c.seq <= h => Admission::Stale { high_water_mark: h },
            (None, _) => Admission::Stored,
        };
        admissions.push(admission);
        if admission != Admission::Stored {
            continue;
        }
        if c.epoch != host.current_epoch && hwm.is_some() {
            epoch_returned = true;
        }
        host.current_epoch = c.epoch;
        if c.received_at_ms >= host.last_seen_ms {
            host.clock_skew_ms = c.received_at_ms.saturating_sub(c.created_at_ms);
        }
        host.last_seen_ms = host.last_seen_ms.max(c.received_at_ms);
        batch_digests.insert((c.epoch, c.seq), c.digest);
        let h = batch_hwm.entry(c.epoch).or_insert(c.seq);
        *h = (*h).max(c.seq);

        let report = StoredReport {
            host_id: host_id.to_owned(),
            epoch: c.epoch,
            seq: c.seq,
            digest: c.digest,
            received_at_ms: c.received_at_ms,
            signed: c.signed,
        };
        let value = encode(inner.reports.name, &key, &report)?;
        let index_key = with_u64(index_prefix.clone(), next_index);
        next_index = next_index
            .checked_add(1)
            .ok_or_else(|| StoreError::Corrupt {
                key: key_name(inner.report_index.name, &index_key),
                reason: "report counter overflow".into(),
            })?;
        let index_value = encode(inner.report_index.name, &index_key, &Bytes(key.clone()))?;
        writes.push(ReportWrite {
            key,
            value,
            index_key,
            index_value,
        });
    }

    if !writes.is_empty() {
        let host_value = encode(inner.hosts.name, host_key, &host)?;
        (
            &inner.reports.tree,
            &inner.report_index.tree,
            &inner.hosts.tree,
        )
            .transaction(|(reports, index, hosts)| {
                for w in &writes {
                    reports.insert(w.key.as_slice(), w.value.as_slice())?;
                    index.insert(w.index_key.as_slice(), w.index_value.as_slice())?;
                }
                hosts.insert(host_key, host_value.as_slice())?;
                Ok(())
            })
            .map_err(tx_error)?;
    }
    Ok(Admitted {
        admissions,
        epoch_returned,
    })
}

pub(super) fn put_findings(
    inner: &Inner,
    host_id: &str,
    findings: Vec<FindingRecord>,
) -> Result<(), StoreError> {
    let host = inner
        .hosts
        .get::<HostRecord>(host_id.as_bytes())?
        .ok_or_else(|| StoreError::NoSuchHost(host_id.to_owned()))?;
    let prefix = findings_prefix(&host.org, host_id);
    replace_findings(inner, &prefix, findings)
}

/// Replaces the findings stored under `key` (one host's, or one ping job's pseudo-host's): one
/// record holding them all, none when there are none.
pub(super) fn replace_findings(
    inner: &Inner,
    key: &[u8],
    findings: Vec<FindingRecord>,
) -> Result<(), StoreError> {
    if findings.is_empty() {
        inner.findings.tree.remove(key)?;
        return Ok(());
    }
    inner
        .findings
        .put(key, &super::codec::HostFindings(findings))
}

pub(super) fn add_security_event(
    inner: &Inner,
    event: &crate::store::SecurityEvent,
) -> Result<(), StoreError> {
    let prefix = id_prefix(&event.host_id);
    let key = with_u64(prefix.clone(), inner.security_events.next_counter(&prefix)?);
    inner.security_events.put(&key, event)
}

pub(super) fn append_audit(inner: &Inner, entry: AuditEntry) -> Result<String, StoreError> {
    let (index, prev_hash) = match inner.audit.tree.last()? {
        None => (0, GENESIS.to_owned()),
        Some((key, value)) => {
            let last: AuditRecord = super::codec::decode(inner.audit.name, &key, &value)?;
            let index = last
                .index
                .checked_add(1)
                .ok_or_else(|| StoreError::Corrupt {
                    key: key_name(inner.audit.name, &key),
                    reason: "audit index overflow".into(),
                })?;
            (index, last.hash)
        }
    };
    let hash = chain_hash(&prev_hash, &entry);
    let record = AuditRecord {
        index,
        entry,
        prev_hash,
        hash: hash.clone(),
    };
    inner.audit.put(&index.to_be_bytes(), &record)?;
    Ok(hash)
}

/// Key of a ping job: its organisation, 0x00, its name.
fn ping_key(org: &str, name: &str) -> Vec<u8> {
    let mut key = id_prefix(org);
    key.extend_from_slice(name.as_bytes());
    key
}

pub(super) fn add_ping_job(inner: &Inner, job: &PingJob) -> Result<(), StoreError> {
    if !inner.orgs.tree.contains_key(job.org.as_bytes())? {
        return Err(StoreError::NoSuchOrg(job.org.clone()));
    }
    let key = ping_key(&job.org, &job.name);
    if inner.ping_jobs.tree.contains_key(&key)? {
        return Err(StoreError::PingJobExists {
            org: job.org.clone(),
            name: job.name.clone(),
        });
    }
    if inner.ping_secrets.tree.contains_key(job.secret_hash)? {
        return Err(already_exists(
            inner.ping_secrets.name,
            &job.secret_hash,
            "another ping job has this secret",
        ));
    }
    let job_value = encode(inner.ping_jobs.name, &key, job)?;
    let secret_value = encode(
        inner.ping_secrets.name,
        &job.secret_hash,
        &Bytes(key.clone()),
    )?;
    (&inner.ping_jobs.tree, &inner.ping_secrets.tree)
        .transaction(|(jobs, secrets)| {
            jobs.insert(key.as_slice(), job_value.as_slice())?;
            secrets.insert(&job.secret_hash[..], secret_value.as_slice())?;
            Ok(())
        })
        .map_err(tx_error)
}

pub(super) fn remove_ping_job(inner: &Inner, org: &str, name: &str) -> Result<PingJob, StoreError> {
    let key = ping_key(org, name);
    let job = inner
        .ping_jobs
        .get::<PingJob>(&key)?
        .ok_or_else(|| StoreError::NoSuchPingJob {
            org: org.to_owned(),
            name: name.to_owned(),
        })?;
    let findings = findings_prefix(org, &job.pseudo_host());
    (
        &inner.ping_jobs.tree,
        &inner.ping_secrets.tree,
        &inner.findings.tree,
    )
        .transaction(|(jobs, secrets, found)| {
            jobs.remove(key.as_slice())?;
            secrets.remove(&job.secret_hash[..])?;
            found.remove(findings.as_slice())?;
            Ok(())
        })
        .map_err(tx_error)?;
    Ok(job)
}

/// Moves one of the job's "newest signal" times forward; a signal older than the one recorded (two
/// requests racing) changes nothing, so the record only ever moves forward in time.
pub(super) fn record_ping(
    inner: &Inner,
    secret_hash: &[u8; 32],
    kind: PingKind,
    at_ms: i64,
    message: &str,
) -> Result<Option<PingJob>, StoreError> {
    let Some(Bytes(key)) = inner.ping_secrets.get::<Bytes>(secret_hash)? else {
        return Ok(None);
    };
    let mut job = inner
        .ping_jobs
        .get::<PingJob>(&key)?
        .ok_or_else(|| StoreError::Corrupt {
            key: key_name(inner.ping_secrets.name, secret_hash),
            reason: "names a ping job that is missing".into(),
        })?;
    match kind {
        PingKind::Start => job.last_start_ms = job.last_start_ms.max(at_ms),
        PingKind::Success => job.last_success_ms = job.last_success_ms.max(at_ms),
        PingKind::Failure if at_ms >= job.last_failure_ms => {
            job.last_failure_ms = at_ms;
            job.last_failure_message = message.to_owned();
        }
        PingKind::Failure => {}
    }
    inner.ping_jobs.put(&key, &job)?;
    Ok(Some(job))
}

/// The tree of contractor policies (org → record), opened on demand like the archive's trees.
fn contractor_policies(inner: &Inner) -> Result<super::Table, StoreError> {
    Ok(super::Table {
        name: "contractor_policies",
        tree: inner.db.open_tree("contractor_policies")?,
    })
}

pub(super) fn set_contractor_policy(
    inner: &Inner,
    policy: &crate::store::ContractorPolicyRecord,
) -> Result<(), StoreError> {
    if !inner.orgs.tree.contains_key(policy.org.as_bytes())? {
        return Err(StoreError::NoSuchOrg(policy.org.clone()));
    }
    contractor_policies(inner)?.put(policy.org.as_bytes(), policy)
}

pub(super) fn contractor_policy(
    inner: &Inner,
    org: &str,
) -> Result<Option<crate::store::ContractorPolicyRecord>, StoreError> {
    contractor_policies(inner)?.get(org.as_bytes())
}
