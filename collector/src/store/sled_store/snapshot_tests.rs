//! Tests of the store layout: snapshot metadata in sled, documents as files outside it (format 3:
//! `last_snapshot` and listing read no document, damage and swaps detected, strays removed, backups
//! carry the documents), and findings kept per host.

use std::os::unix::fs::PermissionsExt;

use sha2::{Digest, Sha256};

use super::snapshot_files::{self, DOCUMENTS_DIR, SNAPSHOT_DOCUMENTS};
use super::*;

fn snapshot(org: &str, seq: u64, document: &str) -> SnapshotRecord {
    SnapshotRecord {
        id: SnapshotRecord::id_of(org, seq),
        org: org.into(),
        seq,
        created_at_ms: 1_000 * seq as i64,
        sha256: hex::encode(Sha256::digest(document.as_bytes())),
        document: document.into(),
        minisig: format!("untrusted comment: {seq}\n"),
        scheduled: seq > 1,
    }
}

async fn store_with_orgs(dir: &tempfile::TempDir) -> SledStore {
    let store = SledStore::open(&dir.path().join("store"), 8 << 20).unwrap();
    for id in ["mairie", "mairie-b"] {
        store
            .add_org(Org {
                id: id.into(),
                name: id.into(),
                created_at_ms: 1,
            })
            .await
            .unwrap();
    }
    store
}

/// The document files of the store in `dir`, by name.
fn document_files(dir: &tempfile::TempDir) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir.path().join("store").join(DOCUMENTS_DIR))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
}

#[tokio::test]
async fn last_snapshot_and_listing_read_no_document() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with_orgs(&dir).await;
    assert_eq!(store.last_snapshot("mairie").await.unwrap(), None);
    let records: Vec<SnapshotRecord> = (1..=3)
        .map(|seq| snapshot("mairie", seq, &format!("{{\"n\":\"{seq}\"}}")))
        .collect();
    for r in &records {
        store.add_snapshot(r.clone()).await.unwrap();
    }
    // Another organisation whose id starts with this one's is not mixed in.
    store
        .add_snapshot(snapshot("mairie-b", 1, "{}"))
        .await
        .unwrap();
    assert_eq!(
        store.last_snapshot("mairie").await.unwrap(),
        Some(records[2].meta())
    );
    assert_eq!(
        store
            .last_snapshot("mairie-b")
            .await
            .unwrap()
            .map(|m| m.seq),
        Some(1)
    );
    assert_eq!(
        store.snapshot_metas("mairie").await.unwrap(),
        records.iter().map(SnapshotRecord::meta).collect::<Vec<_>>()
    );
    assert_eq!(store.snapshots("mairie").await.unwrap(), records);
    assert_eq!(
        store.snapshot("mairie-2").await.unwrap().as_ref(),
        Some(&records[1])
    );
    assert_eq!(store.snapshot("mairie-9").await.unwrap(), None);

    // Listing, chaining and retention still work with every document gone: they never read one.
    for file in document_files(&dir) {
        std::fs::remove_file(file).unwrap();
    }
    assert_eq!(store.snapshot_metas("mairie").await.unwrap().len(), 3);
    assert_eq!(
        store.last_snapshot("mairie").await.unwrap().map(|m| m.seq),
        Some(3)
    );
    assert_eq!(
        store.remove_snapshot("mairie-1").await.unwrap(),
        records[0].meta()
    );
    assert!(matches!(
        store.remove_snapshot("mairie-3").await,
        Err(StoreError::SnapshotIsNewest(_))
    ));
    assert!(matches!(
        store.remove_snapshot("mairie-1").await,
        Err(StoreError::NoSuchSnapshot(_))
    ));
    // A document missing under its metadata is reported, not served as empty.
    assert!(matches!(
        store.snapshot("mairie-2").await,
        Err(StoreError::Corrupt { .. })
    ));
    assert!(matches!(
        store.add_snapshot(snapshot("mairie", 3, "{}")).await,
        Err(StoreError::SnapshotOutOfOrder { expected: 4, .. })
    ));
}

#[tokio::test]
async fn documents_are_private_files_outside_sled_removed_with_their_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with_orgs(&dir).await;
    let document = "{\"hosts\":[],\"org\":\"mairie\"}".repeat(10_000);
    for seq in 1..=2 {
        store
            .add_snapshot(snapshot("mairie", seq, &document))
            .await
            .unwrap();
    }
    // No sled tree holds a document, and nothing of that size went into sled's files.
    assert!(!store
        .inner
        .db
        .tree_names()
        .iter()
        .any(|n| n.as_ref() == SNAPSHOT_DOCUMENTS.as_bytes()));
    let files = document_files(&dir);
    assert_eq!(files.len(), 2);
    for file in &files {
        // The file is the document itself, readable by the collector only.
        assert_eq!(std::fs::read(file).unwrap(), document.as_bytes());
        let mode = std::fs::metadata(file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{}", file.display());
    }
    let docs_dir = dir.path().join("store").join(DOCUMENTS_DIR);
    let mode = std::fs::metadata(&docs_dir).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700);
    store.remove_snapshot("mairie-1").await.unwrap();
    assert_eq!(document_files(&dir), files[1..]);

    // What a crash can leave (a temporary file, a document whose metadata never landed) is removed
    // when the store opens; named documents stay.
    std::fs::write(docs_dir.join(".tmp-x.json"), "partial").unwrap();
    std::fs::copy(&files[1], &files[0]).unwrap();
    drop(store);
    let store = SledStore::open(&dir.path().join("store"), 8 << 20).unwrap();
    assert_eq!(document_files(&dir), files[1..]);
    assert_eq!(
        store.snapshot("mairie-2").await.unwrap().unwrap().document,
        document
    );
}

#[tokio::test]
async fn a_flipped_byte_in_a_stored_document_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with_orgs(&dir).await;
    let document = "{\"hosts\":[],\"org\":\"mairie\"}".repeat(1000);
    store
        .add_snapshot(snapshot("mairie", 1, &document))
        .await
        .unwrap();
    let file = document_files(&dir).remove(0);
    let value = std::fs::read(&file).unwrap();
    for at in [0, 1, document.len() / 2, value.len() - 1] {
        let mut bad = value.clone();
        bad[at] ^= 0x20;
        std::fs::write(&file, bad).unwrap();
        let err = store.snapshot("mairie-1").await.unwrap_err();
        assert!(
            matches!(&err, StoreError::Corrupt { key, .. } if key.starts_with(SNAPSHOT_DOCUMENTS)),
            "byte {at}: {err}"
        );
    }
    // A document moved under another snapshot's name is refused too.
    std::fs::write(&file, &value).unwrap();
    store
        .add_snapshot(snapshot("mairie", 2, "{}"))
        .await
        .unwrap();
    let second = document_files(&dir).remove(1);
    std::fs::copy(&file, &second).unwrap();
    assert!(matches!(
        store.snapshot("mairie-2").await,
        Err(StoreError::Corrupt { .. })
    ));
    assert_eq!(
        store.snapshot("mairie-1").await.unwrap().unwrap().document,
        document
    );
    // A backup refuses to carry the swapped document rather than seal it as good.
    let err = store.export(dir.path().join("export")).await.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
}

#[tokio::test]
async fn an_export_carries_the_documents_into_the_restored_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with_orgs(&dir).await;
    let records: Vec<SnapshotRecord> = (1..=3)
        .map(|seq| snapshot("mairie", seq, &format!("{{\"n\":\"{seq}\"}}").repeat(100)))
        .collect();
    for r in &records {
        store.add_snapshot(r.clone()).await.unwrap();
    }
    let path = dir.path().join("export");
    let exported = store.export(path.clone()).await.unwrap();
    drop(store);
    // The export holds them as format 2's table did: key → sealed document.
    let mut tables = Vec::new();
    let mut documents = Vec::new();
    crate::store::export::read(std::fs::File::open(&path).unwrap(), |item| {
        match item {
            crate::store::export::Item::Table(name) => tables.push(name),
            crate::store::export::Item::Pair(key, value)
                if tables.last().map(Vec::as_slice) == Some(SNAPSHOT_DOCUMENTS.as_bytes()) =>
            {
                documents.push(
                    super::codec::unseal(SNAPSHOT_DOCUMENTS, &key, &value)
                        .unwrap()
                        .to_vec(),
                );
            }
            crate::store::export::Item::Pair(..) => {}
        }
        Ok(())
    })
    .unwrap();
    assert_eq!(
        documents,
        records
            .iter()
            .map(|r| r.document.as_bytes().to_vec())
            .collect::<Vec<_>>()
    );
    let restored = dir.path().join("restored");
    let imported = import_new(&restored, std::fs::File::open(&path).unwrap()).unwrap();
    assert_eq!(imported, exported);
    let store = SledStore::open(&restored, 8 << 20).unwrap();
    assert_eq!(store.snapshots("mairie").await.unwrap(), records);
    assert_eq!(
        std::fs::read_dir(snapshot_files::dir(&restored))
            .unwrap()
            .count(),
        3
    );
}

#[tokio::test]
async fn findings_of_many_hosts_are_read_whole_and_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with_orgs(&dir).await;
    // More hosts than a read decodes on one thread.
    let n = super::FINDINGS_PARALLEL_FROM * 2 + 7;
    let mut expected = Vec::new();
    for i in 0..n {
        let id = format!("h{i:05}");
        let mut hash = [0u8; 32];
        hash[..8].copy_from_slice(&(i as u64).to_be_bytes());
        store
            .add_token(TokenRecord {
                hash,
                org: "mairie".into(),
                created_at_ms: 1,
                expires_at_ms: 10,
                redeemed_by: None,
            })
            .await
            .unwrap();
        let mut key = [0u8; 32];
        key[..8].copy_from_slice(&(i as u64).to_be_bytes());
        store
            .redeem_token(Redemption {
                token_hash: hash,
                public_key: key,
                hostname: format!("pc-{i}"),
                agent_version: "0".into(),
                peer_address: "192.0.2.1:1".into(),
                now_ms: 2,
                new_host_id: id.clone(),
            })
            .await
            .unwrap();
        let findings: Vec<FindingRecord> = (0..(i % 4))
            .map(|c| FindingRecord {
                org: "mairie".into(),
                host_id: id.as_str().into(),
                hostname: format!("pc-{i}").into(),
                check_id: format!("CHK-{c:03}").into(),
                outcome: "fail".into(),
                severity: "high".into(),
                title_fr: "é".into(),
                title_en: "e".into(),
                detail: "d".repeat(i % 50),
                evaluated_at_ms: i as i64,
                evidence: vec![(1, i as u64)],
            })
            .collect();
        expected.extend(findings.clone());
        store.put_findings(&id, findings).await.unwrap();
    }
    assert_eq!(
        store.findings(Some("mairie"), None).await.unwrap(),
        expected
    );
    assert_eq!(store.findings(None, None).await.unwrap(), expected);
    assert!(store
        .findings(Some("mairie-b"), None)
        .await
        .unwrap()
        .is_empty());
    let one: Vec<FindingRecord> = expected
        .iter()
        .filter(|f| f.host_id == "h00003")
        .cloned()
        .collect();
    assert_eq!(one.len(), 3);
    assert_eq!(store.findings(None, Some("h00003")).await.unwrap(), one);
    // No findings: no record at all.
    store.put_findings("h00003", vec![]).await.unwrap();
    assert!(store
        .findings(Some("mairie"), Some("h00003"))
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        store.inner.findings.tree.len(),
        expected
            .iter()
            .map(|f| &f.host_id)
            .collect::<std::collections::BTreeSet<_>>()
            .len()
            - 1
    );
}
