//! Maintenance windows in sled: one tree opened on demand (`maintenance`: org 0x00 id → record,
//! JSON), so the rest of the store's layout is untouched. Writes run on the committer thread like
//! every other write; a revocation rewrites the record, the audit trail keeps the history.

use super::codec::Record;
use super::{Inner, Table};
use crate::maintenance::MaintenanceRecord;
use crate::store::StoreError;

impl Record for MaintenanceRecord {
    fn to_payload(&self) -> Result<Vec<u8>, String> {
        serde_json::to_vec(self).map_err(|e| e.to_string())
    }
    fn from_payload(payload: &[u8]) -> Result<Self, String> {
        serde_json::from_slice(payload).map_err(|e| e.to_string())
    }
}

fn table(inner: &Inner) -> Result<Table, StoreError> {
    Ok(Table {
        name: "maintenance",
        tree: inner.db.open_tree("maintenance")?,
    })
}

fn prefix(org: &str) -> Vec<u8> {
    let mut key = org.as_bytes().to_vec();
    key.push(0);
    key
}

pub(super) fn put(inner: &Inner, window: &MaintenanceRecord) -> Result<(), StoreError> {
    if !inner.orgs.tree.contains_key(window.org.as_bytes())? {
        return Err(StoreError::NoSuchOrg(window.org.clone()));
    }
    let mut key = prefix(&window.org);
    key.extend_from_slice(window.id.as_bytes());
    table(inner)?.put(&key, window)
}

pub(super) fn of_org(inner: &Inner, org: &str) -> Result<Vec<MaintenanceRecord>, StoreError> {
    // The decoded record's organisation is checked too (an org id is a slug without 0x00).
    Ok(table(inner)?
        .scan::<MaintenanceRecord>(&prefix(org))?
        .into_iter()
        .filter(|w| w.org == org)
        .collect())
}

/// The window with this id, whatever its organisation (ids are random and unique).
pub(super) fn by_id(inner: &Inner, id: &str) -> Result<Option<MaintenanceRecord>, StoreError> {
    Ok(table(inner)?
        .scan::<MaintenanceRecord>(&[])?
        .into_iter()
        .find(|w| w.id == id))
}
