//! Waivers, snapshots and host groups in sled: trees opened on demand (`waivers`: id → record;
//! `snapshot_meta`: org 0x00 seq(BE) → `SnapshotMeta`, whose document is a file
//! ([`snapshot_files`](super::snapshot_files)); `host_groups`: host id → record).
//! Listing, chaining and retention read only the small metadata records.
//! Writes run on the committer thread like every other write.

use super::codec::{decode, id_prefix, key_name, report_key, trailing_u64, with_u64, Record};
use super::snapshot_files;
use super::{Inner, Table};
use crate::store::{
    HostGroups, HostRecord, SnapshotMeta, SnapshotRecord, StoreError, StoredReport, WaiverRecord,
    WaiverRevocation,
};

// `SnapshotRecord` (document inside) is store format 1's; read only by the migration now.
super::codec::json_record!(WaiverRecord, SnapshotRecord, SnapshotMeta, HostGroups);

pub(super) fn waivers_table(inner: &Inner) -> Result<Table, StoreError> {
    Ok(Table {
        name: "waivers",
        tree: inner.db.open_tree("waivers")?,
    })
}

/// org 0x00 seq(BE) → `SnapshotMeta`.
pub(super) const SNAPSHOT_META: &str = "snapshot_meta";

pub(super) fn snapshot_meta_table(db: &sled::Db) -> Result<Table, StoreError> {
    Ok(Table {
        name: SNAPSHOT_META,
        tree: db.open_tree(SNAPSHOT_META)?,
    })
}

/// Writes a snapshot's document file, then its metadata under `key` (the committer makes that
/// durable). Also used by the migrations.
pub(super) fn put_snapshot(
    store_dir: &std::path::Path,
    metas: &Table,
    key: &[u8],
    meta: &SnapshotMeta,
    document: &[u8],
) -> Result<(), StoreError> {
    snapshot_files::write(store_dir, key, document)?;
    metas.put(key, meta)
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
    let metas = snapshot_meta_table(&inner.db)?;
    let prefix = id_prefix(&snapshot.org);
    let expected = metas.last_u64(&prefix)?.unwrap_or(0).saturating_add(1);
    if snapshot.seq != expected {
        return Err(StoreError::SnapshotOutOfOrder {
            org: snapshot.org.clone(),
            seq: snapshot.seq,
            expected,
        });
    }
    put_snapshot(
        &inner.dir,
        &metas,
        &with_u64(prefix, snapshot.seq),
        &snapshot.meta(),
        snapshot.document.as_bytes(),
    )
}

pub(super) fn snapshot_metas(inner: &Inner, org: &str) -> Result<Vec<SnapshotMeta>, StoreError> {
    let all: Vec<SnapshotMeta> = snapshot_meta_table(&inner.db)?.scan(&id_prefix(org))?;
    Ok(all.into_iter().filter(|s| s.org == org).collect())
}

pub(super) fn last_snapshot(inner: &Inner, org: &str) -> Result<Option<SnapshotMeta>, StoreError> {
    let table = snapshot_meta_table(&inner.db)?;
    let Some(item) = table.tree.scan_prefix(id_prefix(org)).next_back() else {
        return Ok(None);
    };
    let (key, value) = item?;
    let meta: SnapshotMeta = decode(table.name, &key, &value)?;
    if meta.org != org || trailing_u64(table.name, &key)? != meta.seq {
        return Err(StoreError::Corrupt {
            key: key_name(table.name, &key),
            reason: format!("holds snapshot {:?}", meta.id),
        });
    }
    Ok(Some(meta))
}

/// The document stored with `meta` under `key`; `None` when its file is gone because the snapshot
/// was removed meanwhile (retention), corruption when its metadata is still there.
fn document(
    inner: &Inner,
    key: &[u8],
    meta: SnapshotMeta,
) -> Result<Option<SnapshotRecord>, StoreError> {
    let corrupt = |reason: &str| StoreError::Corrupt {
        key: key_name(snapshot_files::SNAPSHOT_DOCUMENTS, key),
        reason: reason.to_owned(),
    };
    let Some(bytes) = snapshot_files::read(&inner.dir, key, &meta)? else {
        if snapshot_meta_table(&inner.db)?.tree.contains_key(key)? {
            return Err(corrupt("the snapshot's document is missing"));
        }
        return Ok(None);
    };
    let document = String::from_utf8(bytes).map_err(|_| corrupt("the document is not UTF-8"))?;
    Ok(Some(SnapshotRecord::from_meta(meta, document)))
}

pub(super) fn snapshots(inner: &Inner, org: &str) -> Result<Vec<SnapshotRecord>, StoreError> {
    let mut all = Vec::new();
    for meta in snapshot_metas(inner, org)? {
        all.extend(document(inner, &with_u64(id_prefix(org), meta.seq), meta)?);
    }
    Ok(all)
}

pub(super) fn snapshot(inner: &Inner, id: &str) -> Result<Option<SnapshotRecord>, StoreError> {
    let Some((org, seq)) = SnapshotRecord::parse_id(id) else {
        return Ok(None);
    };
    let key = with_u64(id_prefix(org), seq);
    let meta: Option<SnapshotMeta> = snapshot_meta_table(&inner.db)?.get(&key)?;
    match meta.filter(|s| s.org == org && s.seq == seq) {
        Some(meta) => document(inner, &key, meta),
        None => Ok(None),
    }
}

/// Removes a snapshot's metadata and returns it with its key; the caller removes the document file
/// once that removal is durable, so a crash never leaves metadata without its document.
pub(super) fn remove_snapshot(
    inner: &Inner,
    id: &str,
) -> Result<(SnapshotMeta, Vec<u8>), StoreError> {
    let Some((org, seq)) = SnapshotRecord::parse_id(id) else {
        return Err(StoreError::NoSuchSnapshot(id.to_owned()));
    };
    let metas = snapshot_meta_table(&inner.db)?;
    let prefix = id_prefix(org);
    let key = with_u64(prefix.clone(), seq);
    let Some(meta) = metas
        .get::<SnapshotMeta>(&key)?
        .filter(|s| s.org == org && s.seq == seq)
    else {
        return Err(StoreError::NoSuchSnapshot(id.to_owned()));
    };
    if metas.last_u64(&prefix)? == Some(seq) {
        return Err(StoreError::SnapshotIsNewest(id.to_owned()));
    }
    metas.tree.remove(key.as_slice())?;
    Ok((meta, key))
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
