//! Tests of the store format 2 layout: snapshot metadata apart from sealed raw documents
//! (`last_snapshot`, listing without documents, damage detected) and findings kept per host.

use super::archive::SNAPSHOT_DOCUMENTS;
use super::*;

fn snapshot(org: &str, seq: u64, document: &str) -> SnapshotRecord {
    SnapshotRecord {
        id: SnapshotRecord::id_of(org, seq),
        org: org.into(),
        seq,
        created_at_ms: 1_000 * seq as i64,
        sha256: format!("{seq:064x}"),
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
    let documents = store.inner.db.open_tree(SNAPSHOT_DOCUMENTS).unwrap();
    documents.clear().unwrap();
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
async fn a_flipped_byte_in_a_stored_document_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with_orgs(&dir).await;
    let document = "{\"hosts\":[],\"org\":\"mairie\"}".repeat(1000);
    store
        .add_snapshot(snapshot("mairie", 1, &document))
        .await
        .unwrap();
    let documents = store.inner.db.open_tree(SNAPSHOT_DOCUMENTS).unwrap();
    let (key, value) = documents.iter().next().unwrap().unwrap();
    // Stored raw after the frame (version byte, SHA-256): the bytes themselves, not JSON text.
    assert_eq!(&value[33..], document.as_bytes());
    for at in [0, 1, 33, 33 + document.len() / 2, value.len() - 1] {
        let mut bad = value.to_vec();
        bad[at] ^= 0x20;
        documents.insert(&key, bad).unwrap();
        let err = store.snapshot("mairie-1").await.unwrap_err();
        assert!(
            matches!(&err, StoreError::Corrupt { key, .. } if key.starts_with(SNAPSHOT_DOCUMENTS)),
            "byte {at}: {err}"
        );
    }
    // A document moved under another snapshot's key is refused too.
    documents.insert(&key, value.clone()).unwrap();
    store
        .add_snapshot(snapshot("mairie", 2, "{}"))
        .await
        .unwrap();
    let (key2, _) = documents.iter().nth(1).unwrap().unwrap();
    documents.insert(&key2, value).unwrap();
    assert!(matches!(
        store.snapshot("mairie-2").await,
        Err(StoreError::Corrupt { .. })
    ));
    assert_eq!(
        store.snapshot("mairie-1").await.unwrap().unwrap().document,
        document
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
                host_id: id.clone(),
                hostname: format!("pc-{i}"),
                check_id: format!("CHK-{c:03}"),
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
