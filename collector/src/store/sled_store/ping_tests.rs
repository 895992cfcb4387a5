//! Tests of the sled store's ping jobs: organisation scoping, secrets looked up by hash only,
//! signals that only move forward, removal with findings, durability across a reopen.

use super::*;

const CACHE: u64 = 8 * 1024 * 1024;

fn open(dir: &tempfile::TempDir) -> SledStore {
    SledStore::open(&dir.path().join("store"), CACHE).unwrap()
}

fn job(org: &str, name: &str, secret: u8) -> PingJob {
    PingJob {
        org: org.into(),
        name: name.into(),
        secret_hash: [secret; 32],
        period_secs: 86_400,
        grace_secs: 7_200,
        site: "mairie".into(),
        offline: false,
        created_at_ms: 1,
        last_start_ms: 0,
        last_success_ms: 0,
        last_failure_ms: 0,
        last_failure_message: String::new(),
    }
}

async fn with_orgs(store: &SledStore) {
    for id in ["a", "b"] {
        store
            .add_org(Org {
                id: id.into(),
                name: id.into(),
                created_at_ms: 1,
            })
            .await
            .unwrap();
    }
}

fn names(jobs: &[PingJob]) -> Vec<String> {
    jobs.iter()
        .map(|j| format!("{}/{}", j.org, j.name))
        .collect()
}

#[tokio::test]
async fn ping_jobs_are_scoped_by_organisation() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    with_orgs(&store).await;
    store.add_ping_job(job("a", "nas", 1)).await.unwrap();
    store.add_ping_job(job("b", "nas", 2)).await.unwrap();
    store.add_ping_job(job("a", "veeam", 3)).await.unwrap();
    assert!(matches!(
        store.add_ping_job(job("a", "nas", 4)).await,
        Err(StoreError::PingJobExists { .. })
    ));
    assert!(matches!(
        store.add_ping_job(job("nope", "nas", 5)).await,
        Err(StoreError::NoSuchOrg(_))
    ));
    // Another job cannot take a secret already in use.
    assert!(store.add_ping_job(job("b", "other", 1)).await.is_err());
    assert_eq!(
        names(&store.ping_jobs(Some("a")).await.unwrap()),
        ["a/nas", "a/veeam"]
    );
    assert_eq!(names(&store.ping_jobs(Some("b")).await.unwrap()), ["b/nas"]);
    assert_eq!(store.ping_jobs(None).await.unwrap().len(), 3);

    // A secret reaches its own job only.
    let got = store
        .record_ping(&[2; 32], PingKind::Success, 100, "")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((got.org.as_str(), got.last_success_ms), ("b", 100));
    let a_nas = &store.ping_jobs(Some("a")).await.unwrap()[0];
    assert_eq!(a_nas.last_success_ms, 0);
    assert!(store
        .record_ping(&[9; 32], PingKind::Success, 100, "")
        .await
        .unwrap()
        .is_none());

    // Removing one organisation's job leaves the other's, and takes its findings along.
    let finding = FindingRecord {
        org: "a".into(),
        host_id: "ping:nas".into(),
        hostname: "ping:nas".into(),
        check_id: "BKP-001".into(),
        outcome: "pass".into(),
        severity: "critical".into(),
        title_fr: "t".into(),
        title_en: "t".into(),
        detail: "d".into(),
        evaluated_at_ms: 1,
        evidence: vec![],
    };
    store
        .put_ping_findings("a", "ping:nas", vec![finding])
        .await
        .unwrap();
    assert_eq!(store.findings(Some("a"), None).await.unwrap().len(), 1);
    assert!(store.findings(Some("b"), None).await.unwrap().is_empty());
    store.remove_ping_job("a", "nas").await.unwrap();
    assert!(store.findings(Some("a"), None).await.unwrap().is_empty());
    assert!(matches!(
        store.remove_ping_job("a", "nas").await,
        Err(StoreError::NoSuchPingJob { .. })
    ));
    assert!(store
        .record_ping(&[1; 32], PingKind::Success, 200, "")
        .await
        .unwrap()
        .is_none());
    assert_eq!(
        names(&store.ping_jobs(None).await.unwrap()),
        ["a/veeam", "b/nas"]
    );
}

#[tokio::test]
async fn signals_move_forward_and_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    with_orgs(&store).await;
    store.add_ping_job(job("a", "nas", 1)).await.unwrap();
    let hash = [1; 32];
    store
        .record_ping(&hash, PingKind::Start, 10, "")
        .await
        .unwrap();
    store
        .record_ping(&hash, PingKind::Success, 20, "")
        .await
        .unwrap();
    store
        .record_ping(&hash, PingKind::Failure, 30, "disk full")
        .await
        .unwrap();
    // An older signal arriving late changes nothing.
    store
        .record_ping(&hash, PingKind::Success, 15, "")
        .await
        .unwrap();
    store
        .record_ping(&hash, PingKind::Failure, 25, "older")
        .await
        .unwrap();
    drop(store);
    let store = open(&dir);
    let jobs = store.ping_jobs(Some("a")).await.unwrap();
    let j = &jobs[0];
    assert_eq!(
        (j.last_start_ms, j.last_success_ms, j.last_failure_ms),
        (10, 20, 30)
    );
    assert_eq!(j.last_failure_message, "disk full");
    assert_eq!(j.last_signal_ms(), 30);
    assert_eq!(j.pseudo_host(), "ping:nas");
}
