//! File-integrity records in sled (derived state, see `crate::fim`): one tree opened on demand,
//! `fim_derived`, keyed host 0x00 name, values in the store's checked codec.

use super::codec::{decode, encode, Bytes};
use super::Inner;
use crate::store::StoreError;

const TREE: &str = "fim_derived";

fn tree(inner: &Inner) -> Result<sled::Tree, StoreError> {
    Ok(inner.db.open_tree(TREE)?)
}

fn key(host: &str, name: &str) -> Vec<u8> {
    let mut k = host.as_bytes().to_vec();
    k.push(0);
    k.extend_from_slice(name.as_bytes());
    k
}

pub(super) fn put(
    inner: &Inner,
    host: &str,
    records: Vec<(String, Option<Vec<u8>>)>,
) -> Result<(), StoreError> {
    let t = tree(inner)?;
    let mut batch = sled::Batch::default();
    for (name, value) in records {
        let k = key(host, &name);
        match value {
            Some(v) => batch.insert(k.clone(), encode(TREE, &k, &Bytes(v))?),
            None => batch.remove(k),
        }
    }
    t.apply_batch(batch)?;
    Ok(())
}

pub(super) fn get(inner: &Inner, host: &str, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
    let k = key(host, name);
    match tree(inner)?.get(&k)? {
        Some(v) => Ok(Some(decode::<Bytes>(TREE, &k, &v)?.0)),
        None => Ok(None),
    }
}

pub(super) fn clear(inner: &Inner) -> Result<(), StoreError> {
    tree(inner)?.clear()?;
    Ok(())
}
