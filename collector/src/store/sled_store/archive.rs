//! Waivers, snapshots and host groups in sled: three trees opened on demand (`waivers`: id →
//! record; `snapshots`: org 0x00 seq(BE) → record; `host_groups`: host id → record), so the rest
//! of the store's layout is untouched.
//! Writes run on the committer thread like every other write.

use super::codec::{id_prefix, key_name, report_key, with_u64, Record};
use super::{Inner, Table};
use crate::store::{
    HostGroups, HostRecord, SnapshotRecord, StoreError, StoredReport, WaiverRecord,
    WaiverRevocation,
};

super::codec::json_record!(WaiverRecord, SnapshotRecord, HostGroups);

pub(super) fn waivers_table(inner: &Inner) -> Result<Table, StoreError> {
    Ok(Table {
        name: "waivers",
        tree: inner.db.open_tree("waivers")?,
    })
}

pub(super) fn snapshots_table(inner: &Inner) -> Result<Table, StoreError> {
    Ok(Table {
        name: "snapshots",
        tree: inner.db.open_tree("snapshots")?,
    })
}

pub(super) fn add_waiver(inner: &Inner, waiver: &WaiverRecord) -> Result<(), StoreError> {
    if !inner.orgs.tree.contains_key(waiver.org.as_bytes())? {
        return Err(StoreError::NoSuchOrg(waiver.org.clone()));
    }
    let table = waivers_table(inner)?;
    if table.tree.contains_key(waiver.id.as_bytes())? {
        return Err(StoreError::Corrupt {
            key: key_name(table.name, waiver.id.as_bytes()),
            reason: "a waiver with this id already exists".into(),
        });
    }
    table.put(waiver.id.as_bytes(), waiver)
}

pub(super) fn waivers(inner: &Inner, org: &str) -> Result<Vec<WaiverRecord>, StoreError> {
    let all: Vec<WaiverRecord> = waivers_table(inner)?.scan(&[])?;
    Ok(all.into_iter().filter(|w| w.org == org).collect())
}

pub(super) fn revoke_waiver(
    inner: &Inner,
    id: &str,
    revocation: WaiverRevocation,
) -> Result<WaiverRecord, StoreError> {
    let table = waivers_table(inner)?;
    let Some(mut waiver) = table.get::<WaiverRecord>(id.as_bytes())? else {
        return Err(StoreError::NoSuchWaiver(id.to_owned()));
    };
    if waiver.revoked.is_some() {
        return Err(StoreError::NoSuchWaiver(id.to_owned()));
    }
    waiver.revoked = Some(revocation);
    table.put(id.as_bytes(), &waiver)?;
    Ok(waiver)
}

pub(super) fn add_snapshot(inner: &Inner, snapshot: &SnapshotRecord) -> Result<(), StoreError> {
    if !inner.orgs.tree.contains_key(snapshot.org.as_bytes())? {
        return Err(StoreError::NoSuchOrg(snapshot.org.clone()));
    }
    let table = snapshots_table(inner)?;
    let prefix = id_prefix(&snapshot.org);
    let expected = table.last_u64(&prefix)?.unwrap_or(0).saturating_add(1);
    if snapshot.seq != expected {
        return Err(StoreError::SnapshotOutOfOrder {
            org: snapshot.org.clone(),
            seq: snapshot.seq,
            expected,
        });
    }
    table.put(&with_u64(prefix, snapshot.seq), snapshot)
}

pub(super) fn snapshots(inner: &Inner, org: &str) -> Result<Vec<SnapshotRecord>, StoreError> {
    let all: Vec<SnapshotRecord> = snapshots_table(inner)?.scan(&id_prefix(org))?;
    Ok(all.into_iter().filter(|s| s.org == org).collect())
}

pub(super) fn snapshot(inner: &Inner, id: &str) -> Result<Option<SnapshotRecord>, StoreError> {
    let Some((org, seq)) = SnapshotRecord::parse_id(id) else {
        return Ok(None);
    };
    let record: Option<SnapshotRecord> =
        snapshots_table(inner)?.get(&with_u64(id_prefix(org), seq))?;
    Ok(record.filter(|s| s.org == org && s.seq == seq))
}

pub(super) fn remove_snapshot(inner: &Inner, id: &str) -> Result<SnapshotRecord, StoreError> {
    let Some((org, seq)) = SnapshotRecord::parse_id(id) else {
        return Err(StoreError::NoSuchSnapshot(id.to_owned()));
    };
    let table = snapshots_table(inner)?;
    let prefix = id_prefix(org);
    let key = with_u64(prefix.clone(), seq);
    let Some(record) = table
        .get::<SnapshotRecord>(&key)?
        .filter(|s| s.org == org && s.seq == seq)
    else {
        return Err(StoreError::NoSuchSnapshot(id.to_owned()));
    };
    if table.last_u64(&prefix)? == Some(seq) {
        return Err(StoreError::SnapshotIsNewest(id.to_owned()));
    }
    table.tree.remove(key)?;
    Ok(record)
}

fn host_groups_table(inner: &Inner) -> Result<Table, StoreError> {
    Ok(Table {
        name: "host_groups",
        tree: inner.db.open_tree("host_groups")?,
    })
}

pub(super) fn host_groups(inner: &Inner, host_id: &str) -> Result<Vec<String>, StoreError> {
    let record: Option<HostGroups> = host_groups_table(inner)?.get(host_id.as_bytes())?;
    Ok(record
        .filter(|r| r.host_id == host_id)
        .map(|r| r.groups)
        .unwrap_or_default())
}

pub(super) fn set_host_groups(
    inner: &Inner,
    host_id: &str,
    mut groups: Vec<String>,
) -> Result<(), StoreError> {
    let Some(host) = inner.hosts.get::<HostRecord>(host_id.as_bytes())? else {
        return Err(StoreError::NoSuchHost(host_id.to_owned()));
    };
    groups.sort();
    groups.dedup();
    let table = host_groups_table(inner)?;
    if groups.is_empty() {
        table.tree.remove(host_id.as_bytes())?;
        return Ok(());
    }
    let record = HostGroups {
        host_id: host.id,
        org: host.org,
        groups,
    };
    table.put(host_id.as_bytes(), &record)
}

/// One stored report by its key; a record found there for another host or sequence is corrupt.
pub(super) fn report(
    inner: &Inner,
    host_id: &str,
    epoch: u64,
    seq: u64,
) -> Result<Option<StoredReport>, StoreError> {
    let key = report_key(host_id, epoch, seq);
    let Some(report) = inner.reports.get::<StoredReport>(&key)? else {
        return Ok(None);
    };
    if report.host_id != host_id || report.epoch != epoch || report.seq != seq {
        return Err(StoreError::Corrupt {
            key: key_name(inner.reports.name, &key),
            reason: format!(
                "holds report ({}, {}) of host {:?}",
                report.epoch, report.seq, report.host_id
            ),
        });
    }
    Ok(Some(report))
}
