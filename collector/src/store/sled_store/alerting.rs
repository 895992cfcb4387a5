//! Alerts in sled: five trees opened on demand, so the rest of the store's layout is untouched.
//!
//! - `alerts`: alert id → `AlertRecord` (resolved ones included);
//! - `alerts_active`: org 0x00 subject 0x00 check → alert id, for the alerts still in the lifecycle;
//! - `alert_outbox`: sink 0x00 seq(BE) → `OutboxEntry`;
//! - `alert_sinks`: sink name → `SinkHealth`;
//! - `alert_digests`: org → `DigestMark`.
//!
//! Every write runs on the committer thread (the single writer) inside one sled transaction over the
//! trees it touches, so a transition and its outbox entries (and an acknowledgement and its audit
//! record) are durable together or not at all.

use sled::transaction::{ConflictableTransactionError, Transactional};

use super::codec::{decode, encode, id_prefix, key_name, with_u64, Bytes, Record};
use super::{Inner, Table};
use crate::store::audit::{chain_hash, GENESIS};
use crate::store::{
    AlertCommit, AlertEvent, AlertRecord, AuditEntry, AuditRecord, Delivery, DeliveryResult,
    DigestMark, OutboxEntry, SinkHealth, StoreError,
};

super::codec::json_record!(AlertRecord, OutboxEntry, SinkHealth, DigestMark);

pub(super) struct Trees {
    alerts: Table,
    active: Table,
    outbox: Table,
    sinks: Table,
    digests: Table,
}

pub(super) fn trees(inner: &Inner) -> Result<Trees, StoreError> {
    let open = |name: &'static str| -> Result<Table, StoreError> {
        Ok(Table {
            name,
            tree: inner.db.open_tree(name)?,
        })
    };
    Ok(Trees {
        alerts: open("alerts")?,
        active: open("alerts_active")?,
        outbox: open("alert_outbox")?,
        sinks: open("alert_sinks")?,
        digests: open("alert_digests")?,
    })
}

fn active_key(alert: &AlertRecord) -> Vec<u8> {
    let mut key = id_prefix(&alert.org);
    key.extend_from_slice(&id_prefix(&alert.subject));
    key.extend_from_slice(alert.check_id.as_bytes());
    key
}

fn abort(e: StoreError) -> ConflictableTransactionError<StoreError> {
    ConflictableTransactionError::Abort(e)
}

fn tx_error(err: sled::transaction::TransactionError<StoreError>) -> StoreError {
    match err {
        sled::transaction::TransactionError::Abort(e) => e,
        sled::transaction::TransactionError::Storage(e) => StoreError::Sled(e),
    }
}

pub(super) fn alerts(inner: &Inner, org: Option<&str>) -> Result<Vec<AlertRecord>, StoreError> {
    let all: Vec<AlertRecord> = trees(inner)?.alerts.scan(&[])?;
    Ok(all
        .into_iter()
        .filter(|a| org.is_none_or(|o| o == a.org))
        .collect())
}

pub(super) fn active_alerts(inner: &Inner) -> Result<Vec<AlertRecord>, StoreError> {
    let t = trees(inner)?;
    let ids: Vec<Bytes> = t.active.scan(&[])?;
    let mut out = Vec::with_capacity(ids.len());
    for Bytes(id) in ids {
        match t.alerts.get::<AlertRecord>(&id)? {
            Some(a) => out.push(a),
            None => {
                return Err(StoreError::Corrupt {
                    key: key_name(t.active.name, &id),
                    reason: "indexed alert is missing".into(),
                })
            }
        }
    }
    Ok(out)
}

/// The audit record that appending `entry` after `prev` (or after the stored trail's last record,
/// when `prev` is `None`) would write. The stored trail is read outside the transaction: this runs on
/// the committer thread, the only writer, so the trail cannot move meanwhile.
fn next_audit(
    inner: &Inner,
    prev: Option<&AuditRecord>,
    entry: AuditEntry,
) -> Result<AuditRecord, StoreError> {
    let stored;
    let prev = match prev {
        Some(p) => Some(p),
        None => match inner.audit.tree.last()? {
            None => None,
            Some((key, value)) => {
                stored = decode::<AuditRecord>(inner.audit.name, &key, &value)?;
                Some(&stored)
            }
        },
    };
    let (index, prev_hash) = match prev {
        None => (0, GENESIS.to_owned()),
        Some(last) => {
            let index = last
                .index
                .checked_add(1)
                .ok_or_else(|| StoreError::Corrupt {
                    key: key_name(inner.audit.name, &last.index.to_be_bytes()),
                    reason: "audit index overflow".into(),
                })?;
            (index, last.hash.clone())
        }
    };
    let hash = chain_hash(&prev_hash, &entry);
    Ok(AuditRecord {
        index,
        entry,
        prev_hash,
        hash,
    })
}

pub(super) fn commit(inner: &Inner, commit: AlertCommit) -> Result<(), StoreError> {
    let t = trees(inner)?;
    // Everything is encoded before the transaction so that the closure only inserts.
    let mut alert_writes = Vec::new();
    for alert in &commit.alerts {
        let key = alert.id.as_bytes().to_vec();
        let value = encode(t.alerts.name, &key, alert)?;
        let index_key = active_key(alert);
        let index_value = alert
            .is_active()
            .then(|| encode(t.active.name, &index_key, &Bytes(key.clone())))
            .transpose()?;
        alert_writes.push((key, value, index_key, index_value));
    }
    let mut outbox_writes = Vec::new();
    let mut next_seq = std::collections::HashMap::<String, u64>::new();
    for mut entry in commit.outbox {
        let prefix = id_prefix(&entry.sink);
        let seq = match next_seq.get(&entry.sink) {
            Some(n) => *n,
            None => t.outbox.next_counter(&prefix)?,
        };
        next_seq.insert(entry.sink.clone(), seq.saturating_add(1));
        entry.seq = seq;
        let key = with_u64(prefix, seq);
        let value = encode(t.outbox.name, &key, &entry)?;
        outbox_writes.push((key, value));
    }
    let mut digest_writes = Vec::new();
    for mark in &commit.digests {
        let key = mark.org.as_bytes().to_vec();
        let value = encode(t.digests.name, &key, mark)?;
        digest_writes.push((key, value));
    }
    // Several audit entries chain on each other.
    let mut audit_writes: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    let mut prev: Option<AuditRecord> = None;
    for entry in commit.audit {
        let record = next_audit(inner, prev.as_ref(), entry)?;
        let key = record.index.to_be_bytes().to_vec();
        audit_writes.push((key.clone(), encode(inner.audit.name, &key, &record)?));
        prev = Some(record);
    }
    (
        &t.alerts.tree,
        &t.active.tree,
        &t.outbox.tree,
        &t.digests.tree,
        &inner.audit.tree,
    )
        .transaction(|(alerts, active, outbox, digests, audit)| {
            for (key, value, index_key, index_value) in &alert_writes {
                alerts.insert(key.as_slice(), value.as_slice())?;
                match index_value {
                    Some(v) => {
                        active.insert(index_key.as_slice(), v.as_slice())?;
                    }
                    None => {
                        // Only drop the index entry if it still points at this alert.
                        if let Some(current) = active.get(index_key.as_slice())? {
                            let Bytes(id) = decode::<Bytes>(t.active.name, index_key, &current)
                                .map_err(abort)?;
                            if id == *key {
                                active.remove(index_key.as_slice())?;
                            }
                        }
                    }
                }
            }
            for (key, value) in &outbox_writes {
                outbox.insert(key.as_slice(), value.as_slice())?;
            }
            for (key, value) in &digest_writes {
                digests.insert(key.as_slice(), value.as_slice())?;
            }
            for (key, value) in &audit_writes {
                audit.insert(key.as_slice(), value.as_slice())?;
            }
            Ok(())
        })
        .map_err(tx_error)
}

pub(super) fn outbox(inner: &Inner, sink: &str) -> Result<Vec<OutboxEntry>, StoreError> {
    let all: Vec<OutboxEntry> = trees(inner)?.outbox.scan(&id_prefix(sink))?;
    Ok(all.into_iter().filter(|e| e.sink == sink).collect())
}

pub(super) fn all_outbox(inner: &Inner) -> Result<Vec<OutboxEntry>, StoreError> {
    trees(inner)?.outbox.scan(&[])
}

pub(super) fn record_delivery(inner: &Inner, delivery: Delivery) -> Result<(), StoreError> {
    let t = trees(inner)?;
    let key = with_u64(id_prefix(&delivery.sink), delivery.seq);
    let Some(mut entry) = t.outbox.get::<OutboxEntry>(&key)? else {
        // Already recorded (a retry of this call after a lost answer): nothing to do.
        return Ok(());
    };
    let mut health = t
        .sinks
        .get::<SinkHealth>(delivery.sink.as_bytes())?
        .unwrap_or_else(|| SinkHealth {
            sink: delivery.sink.clone(),
            ..SinkHealth::default()
        });
    health.org = delivery.sink_org.clone();
    let at = delivery.at_ms;
    let (entry_value, history): (Option<Vec<u8>>, Option<AlertEvent>) = match &delivery.result {
        DeliveryResult::Delivered => {
            health.delivered = health.delivered.saturating_add(1);
            health.consecutive_failures = 0;
            health.last_success_ms = at;
            let what = AlertEvent {
                at_ms: at,
                what: "delivered".into(),
                detail: format!(
                    "{} via {} ({})",
                    crate::alerts::kind_str(entry.notification.kind),
                    delivery.sink,
                    entry.notification.key
                ),
            };
            (None, Some(what))
        }
        DeliveryResult::Retry {
            error,
            next_attempt_ms,
            permanent,
        } => {
            health.failures = health.failures.saturating_add(1);
            health.consecutive_failures = health.consecutive_failures.saturating_add(1);
            health.last_failure_ms = at;
            health.last_error = error.clone();
            entry.attempts = entry.attempts.saturating_add(1);
            entry.next_attempt_ms = *next_attempt_ms;
            entry.last_error = error.clone();
            entry.last_permanent = *permanent;
            (Some(encode(t.outbox.name, &key, &entry)?), None)
        }
        DeliveryResult::Abandoned { error } => {
            health.failures = health.failures.saturating_add(1);
            health.consecutive_failures = health.consecutive_failures.saturating_add(1);
            health.abandoned = health.abandoned.saturating_add(1);
            health.last_failure_ms = at;
            health.last_error = error.clone();
            let what = AlertEvent {
                at_ms: at,
                what: "abandoned".into(),
                detail: format!(
                    "{} via {} after {} attempts: {error}",
                    crate::alerts::kind_str(entry.notification.kind),
                    delivery.sink,
                    entry.attempts.saturating_add(1)
                ),
            };
            (None, Some(what))
        }
    };
    let mut alert_writes = Vec::new();
    if let Some(event) = history {
        for id in &entry.notification.alert_ids {
            if let Some(mut alert) = t.alerts.get::<AlertRecord>(id.as_bytes())? {
                crate::alerts::lifecycle::push_history(&mut alert.history, event.clone());
                alert_writes.push((
                    id.as_bytes().to_vec(),
                    encode(t.alerts.name, id.as_bytes(), &alert)?,
                ));
            }
        }
    }
    let sink_key = delivery.sink.as_bytes().to_vec();
    let health_value = encode(t.sinks.name, &sink_key, &health)?;
    (&t.outbox.tree, &t.sinks.tree, &t.alerts.tree)
        .transaction(|(outbox, sinks, alerts)| {
            match &entry_value {
                Some(v) => {
                    outbox.insert(key.as_slice(), v.as_slice())?;
                }
                None => {
                    outbox.remove(key.as_slice())?;
                }
            }
            sinks.insert(sink_key.as_slice(), health_value.as_slice())?;
            for (k, v) in &alert_writes {
                alerts.insert(k.as_slice(), v.as_slice())?;
            }
            Ok(())
        })
        .map_err(tx_error)
}

pub(super) fn sink_health(inner: &Inner) -> Result<Vec<SinkHealth>, StoreError> {
    trees(inner)?.sinks.scan(&[])
}

pub(super) fn digest_marks(inner: &Inner) -> Result<Vec<DigestMark>, StoreError> {
    trees(inner)?.digests.scan(&[])
}

/// Removes resolved alerts whose resolution is older than `before_ms` (retention).
pub(super) fn prune_alerts(inner: &Inner, before_ms: i64) -> Result<usize, StoreError> {
    let t = trees(inner)?;
    let all: Vec<AlertRecord> = t.alerts.scan(&[])?;
    let mut batch = sled::Batch::default();
    let mut n = 0;
    for a in all {
        if !a.is_active() && a.resolved_at_ms.is_some_and(|r| r < before_ms) {
            batch.remove(a.id.as_bytes());
            n += 1;
        }
    }
    t.alerts.tree.apply_batch(batch)?;
    Ok(n)
}
