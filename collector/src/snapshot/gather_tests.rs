//! Tests of the snapshot's gathering: on a multi-threaded runtime the hosts are split over threads
//! that read the store in place, and the result is what one task gathering them in order finds.

use super::*;
use crate::store::sled_store::SledStore;
use crate::store::{Org, Redemption, TokenRecord};

const NOW: i64 = 1_790_000_000_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn threads_reading_in_place_gather_what_one_task_does_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(&dir.path().join("store"), 8 << 20).unwrap();
    store
        .add_org(Org {
            id: "mairie".into(),
            name: "Mairie".into(),
            created_at_ms: NOW,
        })
        .await
        .unwrap();
    // More hosts than the threaded path needs, not a multiple of the thread count.
    let n = 2 * GATHER_CONCURRENCY + GATHER_THREADS + 3;
    for i in 0..n {
        let mut hash = [0u8; 32];
        hash[..8].copy_from_slice(&(i as u64).to_be_bytes());
        store
            .add_token(TokenRecord {
                hash,
                org: "mairie".into(),
                created_at_ms: NOW,
                expires_at_ms: NOW + 60_000,
                redeemed_by: None,
            })
            .await
            .unwrap();
        store
            .redeem_token(Redemption {
                token_hash: hash,
                public_key: hash,
                hostname: format!("poste-{i:03}"),
                agent_version: "0".into(),
                peer_address: "192.0.2.1:1".into(),
                now_ms: NOW,
                new_host_id: format!("h{i:03}"),
            })
            .await
            .unwrap();
    }
    let catalogue = Catalogue::builtin().unwrap();
    let context = crate::derive::OrgContext::load(&store, "mairie", NOW)
        .await
        .unwrap();
    let hosts = store.hosts(Some("mairie")).await.unwrap();
    assert_eq!(hosts.len(), n);
    let threaded = gather_all(
        &store,
        &catalogue,
        Profile::Standard,
        &context,
        hosts.clone(),
        NOW,
    )
    .await
    .unwrap();
    let one_task = gather_part(&store, &catalogue, Profile::Standard, &context, hosts, NOW)
        .await
        .unwrap();
    assert_eq!(threaded.len(), n);
    assert!(threaded.iter().all(|h| !h.findings.is_empty()));
    assert_eq!(format!("{threaded:?}"), format!("{one_task:?}"));
    // The mark does not leak to this runtime thread.
    assert!(!crate::store::inline_reads::reads_inline());
}
