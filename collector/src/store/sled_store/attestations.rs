//! Organisation attestations in sled: one tree opened on demand (`attestations`: org 0x00 measure
//! → record, JSON), so the rest of the store's layout is untouched. Writes run on the committer
//! thread like every other write.

use super::codec::Record;
use super::{Inner, Table};
use crate::attestation::AttestationRecord;
use crate::store::StoreError;

impl Record for AttestationRecord {
    fn to_payload(&self) -> Result<Vec<u8>, String> {
        serde_json::to_vec(self).map_err(|e| e.to_string())
    }
    fn from_payload(payload: &[u8]) -> Result<Self, String> {
        serde_json::from_slice(payload).map_err(|e| e.to_string())
    }
}

fn table(inner: &Inner) -> Result<Table, StoreError> {
    Ok(Table {
        name: "attestations",
        tree: inner.db.open_tree("attestations")?,
    })
}

fn prefix(org: &str) -> Vec<u8> {
    let mut key = org.as_bytes().to_vec();
    key.push(0);
    key
}

pub(super) fn set(inner: &Inner, attestation: &AttestationRecord) -> Result<(), StoreError> {
    if !inner.orgs.tree.contains_key(attestation.org.as_bytes())? {
        return Err(StoreError::NoSuchOrg(attestation.org.clone()));
    }
    let mut key = prefix(&attestation.org);
    key.extend_from_slice(attestation.measure.as_bytes());
    table(inner)?.put(&key, attestation)
}

pub(super) fn of_org(inner: &Inner, org: &str) -> Result<Vec<AttestationRecord>, StoreError> {
    table(inner)?.scan(&prefix(org))
}
