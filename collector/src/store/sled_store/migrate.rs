//! The moves from store formats 1 and 2 to 3 (`backup::store_format`), run by `SledStore::open`
//! before anything reads the store: findings kept as one record per host instead of one per finding
//! (format 1's tree `findings` → `host_findings`), snapshot documents kept apart from a small
//! metadata record (format 1's tree `snapshots` → `snapshot_meta` + a document), and those documents
//! kept as files outside sled (format 2's tree `snapshot_documents` → `snapshot-documents/`, see
//! `snapshot_files`).
//!
//! Each step writes the new records and only then drops the old tree, and writing a record twice
//! changes nothing, so a step interrupted by a crash simply runs again at the next open. The
//! caller flushes and fsyncs the store afterwards. A format-1 record that fails its checksum is
//! never silently lost: a damaged finding is skipped (findings are derived; `rebuild` recreates
//! them), a damaged snapshot leaves the old tree in place, logged at every open.

use sled::IVec;

use std::path::Path;

use super::archive::{put_snapshot, snapshot_meta_table};
use super::codec::{decode, encode, HostFindings};
use super::snapshot_files::{self, SNAPSHOT_DOCUMENTS};
use crate::store::{FindingRecord, SnapshotRecord, StoreError};

/// Format 2's findings tree: org 0x00 host 0x00 → `HostFindings`.
pub(super) const FINDINGS: &str = "host_findings";
/// Format 1's findings tree: org 0x00 host 0x00 n(BE) → one JSON `FindingRecord`.
const OLD_FINDINGS: &str = "findings";
/// Format 1's snapshots tree: org 0x00 seq(BE) → JSON `SnapshotRecord`, document inside.
const OLD_SNAPSHOTS: &str = "snapshots";

/// Moves whatever format-1 or format-2 trees `db` (in `dir`) still holds to the format-3 layout,
/// then removes the document files a crash left unnamed.
pub(super) fn run(db: &sled::Db, dir: &Path) -> Result<(), StoreError> {
    let names = db.tree_names();
    let has = |name: &str| names.iter().any(|n| n.as_ref() == name.as_bytes());
    if has(OLD_FINDINGS) {
        findings(db)?;
    }
    if has(OLD_SNAPSHOTS) {
        snapshots(db, dir)?;
    }
    if has(SNAPSHOT_DOCUMENTS) {
        documents(db, dir)?;
    }
    let metas = snapshot_meta_table(db)?;
    snapshot_files::remove_strays(dir, |key| Ok(metas.tree.contains_key(key)?))
}

fn findings(db: &sled::Db) -> Result<(), StoreError> {
    let old = db.open_tree(OLD_FINDINGS)?;
    let new = db.open_tree(FINDINGS)?;
    let (mut hosts, mut skipped) = (0usize, 0usize);
    let mut current: Option<(Vec<u8>, Vec<FindingRecord>)> = None;
    let flush = |entry: Option<(Vec<u8>, Vec<FindingRecord>)>| -> Result<(), StoreError> {
        if let Some((key, findings)) = entry {
            new.insert(
                key.as_slice(),
                encode(FINDINGS, &key, &HostFindings(findings))?,
            )?;
        }
        Ok(())
    };
    for item in old.iter() {
        let (key, value): (IVec, IVec) = item?;
        // Format 1 keys end with the finding's number: the host's key is what comes before.
        let Some(host_key) = key.len().checked_sub(8).and_then(|n| key.get(..n)) else {
            skipped += 1;
            continue;
        };
        let finding = match decode::<FindingRecord>(OLD_FINDINGS, &key, &value) {
            Ok(f) => f,
            Err(error) => {
                tracing::warn!(%error, "A damaged finding was left out while migrating the store; `rebuild` recreates findings.");
                skipped += 1;
                continue;
            }
        };
        match &mut current {
            Some((k, list)) if k.as_slice() == host_key => list.push(finding),
            _ => {
                flush(current.take())?;
                hosts += 1;
                current = Some((host_key.to_vec(), vec![finding]));
            }
        }
    }
    flush(current)?;
    db.drop_tree(OLD_FINDINGS)?;
    tracing::info!(
        hosts,
        skipped,
        "Store migrated: findings kept as one record per host."
    );
    Ok(())
}

fn snapshots(db: &sled::Db, dir: &Path) -> Result<(), StoreError> {
    let old = db.open_tree(OLD_SNAPSHOTS)?;
    let metas = snapshot_meta_table(db)?;
    let (mut moved, mut damaged) = (0usize, 0usize);
    for item in old.iter() {
        let (key, value): (IVec, IVec) = item?;
        match decode::<SnapshotRecord>(OLD_SNAPSHOTS, &key, &value) {
            Ok(record) => {
                put_snapshot(
                    dir,
                    &metas,
                    &key,
                    &record.meta(),
                    record.document.as_bytes(),
                )?;
                moved += 1;
            }
            Err(error) => {
                tracing::error!(%error, "A damaged snapshot cannot be migrated; the old tree is kept.");
                damaged += 1;
            }
        }
    }
    if damaged == 0 {
        db.drop_tree(OLD_SNAPSHOTS)?;
    }
    tracing::info!(
        moved,
        damaged,
        "Store migrated: snapshot documents kept apart from their metadata."
    );
    Ok(())
}

/// Format 2's documents (sealed values of the tree `snapshot_documents`) written as files; a value
/// whose seal fails keeps the tree in place, logged at every open. A value no metadata names (a
/// removal format 2 never finished) is dropped.
fn documents(db: &sled::Db, dir: &Path) -> Result<(), StoreError> {
    let old = db.open_tree(SNAPSHOT_DOCUMENTS)?;
    let metas = snapshot_meta_table(db)?;
    let (mut moved, mut damaged) = (0usize, 0usize);
    for item in old.iter() {
        let (key, value): (IVec, IVec) = item?;
        if !metas.tree.contains_key(&key)? {
            continue;
        }
        match snapshot_files::import(dir, &key, &value) {
            Ok(()) => moved += 1,
            Err(error @ StoreError::Corrupt { .. }) => {
                tracing::error!(%error, "A damaged snapshot document cannot be migrated; the old tree is kept.");
                damaged += 1;
            }
            Err(error) => return Err(error),
        }
    }
    if damaged == 0 {
        db.drop_tree(SNAPSHOT_DOCUMENTS)?;
    }
    tracing::info!(
        moved,
        damaged,
        "Store migrated: snapshot documents kept as files outside sled."
    );
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::super::archive::SNAPSHOT_META;
    use super::super::codec::{findings_prefix, id_prefix, seal, with_u64};
    use super::super::SledStore;
    use super::*;
    use crate::store::{Org, Store};

    fn finding(org: &str, host: &str, check: &str) -> FindingRecord {
        FindingRecord {
            org: org.into(),
            host_id: host.into(),
            hostname: format!("{host}.mairie.local").into(),
            check_id: check.into(),
            outcome: "fail".into(),
            severity: "high".into(),
            title_fr: "Titre".into(),
            title_en: "Title".into(),
            detail: "détail".into(),
            evaluated_at_ms: 5,
            evidence: vec![(1, 2)],
        }
    }

    fn snapshot(org: &str, seq: u64) -> SnapshotRecord {
        use sha2::Digest;
        let document = format!("{{\"seq\":\"{seq}\",\"é\":\"\\\"\"}}");
        SnapshotRecord {
            id: SnapshotRecord::id_of(org, seq),
            org: org.into(),
            seq,
            created_at_ms: 10 * seq as i64,
            sha256: hex::encode(sha2::Sha256::digest(document.as_bytes())),
            document,
            minisig: format!("untrusted comment: {seq}\n"),
            scheduled: seq.is_multiple_of(2),
        }
    }

    /// Writes a store exactly as format 1 did: one JSON record per finding, JSON snapshot records
    /// with their document inside, plus one damaged finding.
    fn format_1_store(dir: &std::path::Path) -> (Vec<FindingRecord>, Vec<SnapshotRecord>) {
        let db = sled::Config::new().path(dir).open().unwrap();
        let orgs = db.open_tree("orgs").unwrap();
        let org = Org {
            id: "mairie".into(),
            name: "Mairie".into(),
            created_at_ms: 1,
        };
        orgs.insert("mairie", encode("orgs", b"mairie", &org).unwrap())
            .unwrap();
        let old = db.open_tree(OLD_FINDINGS).unwrap();
        let mut findings = Vec::new();
        for (host, checks) in [("h1", 3u64), ("h2", 2), ("ping:backup", 1)] {
            for n in 0..checks {
                let f = finding("mairie", host, &format!("CHK-{n:03}"));
                let key = with_u64(findings_prefix("mairie", host), n);
                old.insert(key.as_slice(), encode(OLD_FINDINGS, &key, &f).unwrap())
                    .unwrap();
                findings.push(f);
            }
        }
        let damaged = with_u64(findings_prefix("mairie", "h3"), 0);
        let mut value = encode(OLD_FINDINGS, &damaged, &finding("mairie", "h3", "X")).unwrap();
        value[40] ^= 1;
        old.insert(damaged, value).unwrap();
        let snaps = db.open_tree(OLD_SNAPSHOTS).unwrap();
        let records: Vec<SnapshotRecord> = (1..=3).map(|seq| snapshot("mairie", seq)).collect();
        for r in &records {
            let key = with_u64(id_prefix("mairie"), r.seq);
            snaps
                .insert(key.as_slice(), encode(OLD_SNAPSHOTS, &key, r).unwrap())
                .unwrap();
        }
        db.flush().unwrap();
        (findings, records)
    }

    #[tokio::test]
    async fn a_format_1_store_is_migrated_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let (findings, records) = format_1_store(dir.path());
        for _ in 0..2 {
            // The second open finds nothing left to migrate and reads the same.
            let store = SledStore::open(dir.path(), 1 << 20).unwrap();
            let names = store.inner.db.tree_names();
            for old in [OLD_FINDINGS, OLD_SNAPSHOTS] {
                assert!(!names.iter().any(|n| n.as_ref() == old.as_bytes()), "{old}");
            }
            assert_eq!(
                store.findings(Some("mairie"), None).await.unwrap(),
                findings,
                "every finding, in order, the damaged one left out"
            );
            assert_eq!(
                store.findings(None, Some("h2")).await.unwrap().len(),
                0,
                "h2 is not a host record: nothing is found through it"
            );
            assert_eq!(
                store.findings(Some("mairie"), Some("h2")).await.unwrap(),
                findings[3..5]
            );
            assert_eq!(store.snapshots("mairie").await.unwrap(), records);
            assert_eq!(
                store.last_snapshot("mairie").await.unwrap(),
                Some(records[2].meta())
            );
            assert_eq!(
                store.snapshot("mairie-2").await.unwrap().as_ref(),
                Some(&records[1])
            );
        }
    }

    #[test]
    fn a_damaged_format_1_snapshot_keeps_the_old_tree() {
        let dir = tempfile::tempdir().unwrap();
        format_1_store(dir.path());
        {
            let db = sled::Config::new().path(dir.path()).open().unwrap();
            let snaps = db.open_tree(OLD_SNAPSHOTS).unwrap();
            let key = with_u64(id_prefix("mairie"), 2);
            let mut value = snaps.get(&key).unwrap().unwrap().to_vec();
            value[50] ^= 1;
            snaps.insert(key, value).unwrap();
            db.flush().unwrap();
        }
        let store = SledStore::open(dir.path(), 1 << 20).unwrap();
        assert!(store
            .inner
            .db
            .tree_names()
            .iter()
            .any(|n| n.as_ref() == OLD_SNAPSHOTS.as_bytes()));
    }

    /// A store as format 2 left it: snapshot metadata plus sealed documents in the sled tree
    /// `snapshot_documents` (and one document no metadata names). Opening it writes the documents
    /// as files and drops the tree; a second open changes nothing.
    #[tokio::test]
    async fn format_2_documents_become_files_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let records: Vec<SnapshotRecord> = (1..=2).map(|seq| snapshot("mairie", seq)).collect();
        {
            let db = sled::Config::new().path(dir.path()).open().unwrap();
            let metas = db.open_tree(SNAPSHOT_META).unwrap();
            let documents = db.open_tree(SNAPSHOT_DOCUMENTS).unwrap();
            for r in &records {
                let key = with_u64(id_prefix("mairie"), r.seq);
                metas
                    .insert(
                        key.as_slice(),
                        encode(SNAPSHOT_META, &key, &r.meta()).unwrap(),
                    )
                    .unwrap();
                documents
                    .insert(key.as_slice(), seal(&key, r.document.as_bytes()))
                    .unwrap();
            }
            let unnamed = with_u64(id_prefix("mairie"), 9);
            documents
                .insert(unnamed.as_slice(), seal(&unnamed, b"{}"))
                .unwrap();
            db.flush().unwrap();
        }
        for _ in 0..2 {
            let store = SledStore::open(dir.path(), 1 << 20).unwrap();
            assert!(!store
                .inner
                .db
                .tree_names()
                .iter()
                .any(|n| n.as_ref() == SNAPSHOT_DOCUMENTS.as_bytes()));
            assert_eq!(store.snapshots("mairie").await.unwrap(), records);
            assert_eq!(
                std::fs::read_dir(snapshot_files::dir(dir.path()))
                    .unwrap()
                    .count(),
                2
            );
        }
    }

    #[test]
    fn a_damaged_format_2_document_keeps_the_old_tree() {
        let dir = tempfile::tempdir().unwrap();
        let r = snapshot("mairie", 1);
        let key = with_u64(id_prefix("mairie"), 1);
        {
            let db = sled::Config::new().path(dir.path()).open().unwrap();
            db.open_tree(SNAPSHOT_META)
                .unwrap()
                .insert(
                    key.as_slice(),
                    encode(SNAPSHOT_META, &key, &r.meta()).unwrap(),
                )
                .unwrap();
            let mut value = seal(&key, r.document.as_bytes());
            value[40] ^= 1;
            db.open_tree(SNAPSHOT_DOCUMENTS)
                .unwrap()
                .insert(key.as_slice(), value)
                .unwrap();
            db.flush().unwrap();
        }
        let store = SledStore::open(dir.path(), 1 << 20).unwrap();
        assert!(store
            .inner
            .db
            .tree_names()
            .iter()
            .any(|n| n.as_ref() == SNAPSHOT_DOCUMENTS.as_bytes()));
    }
}
