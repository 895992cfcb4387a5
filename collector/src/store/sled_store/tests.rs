//! Tests of the sled store: admission rules, enrollment, scoping, durability, integrity.

use std::sync::Arc;

use super::*;
use crate::store::audit::verify_audit_chain;
use crate::store::{Admission, RedeemRefusal, Revocation, TokenUse};

const CACHE: u64 = 8 * 1024 * 1024;

fn open(dir: &tempfile::TempDir) -> SledStore {
    SledStore::open(&dir.path().join("store"), CACHE).unwrap()
}

fn org(id: &str) -> Org {
    Org {
        id: id.into(),
        name: format!("Mairie {id}"),
        created_at_ms: 1,
    }
}

fn token(hash: u8, org: &str, expires_at_ms: i64) -> TokenRecord {
    TokenRecord {
        hash: [hash; 32],
        org: org.into(),
        created_at_ms: 1,
        expires_at_ms,
        redeemed_by: None,
    }
}

fn redemption(hash: u8, key: u8, host: &str, now_ms: i64) -> Redemption {
    Redemption {
        token_hash: [hash; 32],
        public_key: [key; 32],
        hostname: format!("pc-{host}"),
        agent_version: "0.1.0".into(),
        peer_address: "192.0.2.1:5000".into(),
        now_ms,
        new_host_id: host.into(),
    }
}

/// A store with organisations `a` and `b` and host `h` (org `a`, key 1) enrolled.
async fn fixture(dir: &tempfile::TempDir) -> SledStore {
    let store = open(dir);
    store.add_org(org("a")).await.unwrap();
    store.add_org(org("b")).await.unwrap();
    store.add_token(token(1, "a", 1_000)).await.unwrap();
    let out = store.redeem_token(redemption(1, 1, "h", 10)).await.unwrap();
    assert!(matches!(out, RedeemOutcome::Enrolled { retry: false, .. }));
    store
}

fn cand(epoch: u64, seq: u64, digest: u8) -> Candidate {
    Candidate {
        epoch,
        seq,
        digest: [digest; 32],
        received_at_ms: (epoch * 1000 + seq) as i64,
        created_at_ms: (epoch * 1000 + seq) as i64 - 5,
        signed: vec![digest; 3],
    }
}

const A: u64 = 0xA;
const B: u64 = 0xB;
const C: u64 = 0xC;

/// Admits `batches` in turn on a fresh host; checks each batch's admissions and `epoch_returned`.
#[track_caller]
fn check_admit(batches: &[&[(u64, u64, u8)]], expect: &[(&[Admission], bool)]) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let store = fixture(&dir).await;
        let mut got = Vec::new();
        for batch in batches {
            let cands = batch.iter().map(|&(e, s, d)| cand(e, s, d)).collect();
            let admitted = store.admit("h", cands).await.unwrap();
            got.push((admitted.admissions, admitted.epoch_returned));
        }
        let expect: Vec<_> = expect.iter().map(|(a, r)| (a.to_vec(), *r)).collect();
        assert_eq!(got, expect, "batches {batches:?}");
    });
}

#[test]
fn admission_rules() {
    use Admission::*;
    // Stored, then already stored, equivocation, stale (not stored, at or below the mark 3).
    check_admit(
        &[
            &[(A, 1, 1), (A, 3, 3)],
            &[(A, 3, 3), (A, 3, 9), (A, 2, 7), (A, 0, 7)],
        ],
        &[
            (&[Stored, Stored], false),
            (
                &[
                    AlreadyStored,
                    Equivocation,
                    Stale { high_water_mark: 3 },
                    Stale { high_water_mark: 3 },
                ],
                false,
            ),
        ],
    );
    // Gaps are allowed; the high-water mark is the greatest stored seq.
    check_admit(
        &[
            &[(A, 1, 1), (A, 5, 5)],
            &[(A, 3, 3), (A, 9, 9)],
            &[(A, 8, 8)],
        ],
        &[
            (&[Stored, Stored], false),
            (&[Stale { high_water_mark: 5 }, Stored], false),
            (&[Stale { high_water_mark: 9 }], false),
        ],
    );
    // Within one batch, later candidates see earlier ones.
    check_admit(
        &[&[(A, 1, 1), (A, 1, 1), (A, 1, 2), (A, 0, 3)]],
        &[(
            &[
                Stored,
                AlreadyStored,
                Equivocation,
                Stale { high_water_mark: 1 },
            ],
            false,
        )],
    );
    // A new epoch starts from any seq; high-water marks are per epoch.
    check_admit(
        &[&[(A, 5, 1)], &[(B, 0, 2), (B, 1, 3)]],
        &[(&[Stored], false), (&[Stored, Stored], false)],
    );
    // A, B, A returns to epoch A (across batches and within one); A, B, C does not.
    check_admit(
        &[&[(A, 1, 1)], &[(B, 1, 2)], &[(A, 2, 3)]],
        &[(&[Stored], false), (&[Stored], false), (&[Stored], true)],
    );
    check_admit(
        &[&[(A, 1, 1), (B, 1, 2), (A, 2, 3)]],
        &[(&[Stored, Stored, Stored], true)],
    );
    check_admit(
        &[&[(A, 1, 1)], &[(B, 1, 2)], &[(C, 1, 3)]],
        &[(&[Stored], false), (&[Stored], false), (&[Stored], false)],
    );
    // A resend of an old epoch's report (ack lost) is not a return; nor is a refused one.
    check_admit(
        &[
            &[(A, 1, 1)],
            &[(B, 1, 2)],
            &[(A, 1, 1), (A, 1, 5), (A, 0, 5)],
        ],
        &[
            (&[Stored], false),
            (&[Stored], false),
            (
                &[AlreadyStored, Equivocation, Stale { high_water_mark: 1 }],
                false,
            ),
        ],
    );
}

#[tokio::test]
async fn admission_updates_host_and_keeps_arrival_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = fixture(&dir).await;
    let batch = vec![cand(B, 7, 1), cand(A, 3, 2), cand(A, 9, 3), cand(A, 9, 4)];
    store.admit("h", batch).await.unwrap();
    store
        .admit("h", vec![cand(A, 10, 5), cand(A, 4, 6)])
        .await
        .unwrap();
    let order: Vec<_> = store
        .reports("h")
        .await
        .unwrap()
        .iter()
        .map(|r| (r.epoch, r.seq, r.digest[0]))
        .collect();
    assert_eq!(order, vec![(B, 7, 1), (A, 3, 2), (A, 9, 3), (A, 10, 5)]);
    // The current epoch is the last stored one; last seen is the greatest receive time.
    let host = store.host("h").await.unwrap().unwrap();
    assert_eq!(
        (host.current_epoch, host.last_seen_ms),
        (A, (B * 1000 + 7) as i64)
    );
    // Clock skew is taken from the newest received report (signed 5 ms before receipt).
    assert_eq!(host.clock_skew_ms, 5);
    let reports = store.reports("h").await.unwrap();
    assert_eq!(
        reports[0],
        StoredReport {
            host_id: "h".into(),
            epoch: B,
            seq: 7,
            digest: [1; 32],
            received_at_ms: (B * 1000 + 7) as i64,
            signed: vec![1; 3]
        }
    );
    assert!(
        matches!(store.admit("nobody", vec![cand(A, 1, 1)]).await, Err(StoreError::NoSuchHost(h)) if h == "nobody")
    );
    assert!(store.reports("nobody").await.unwrap().is_empty());
}

#[tokio::test]
async fn redeem_token_outcomes() {
    let dir = tempfile::tempdir().unwrap();
    let store = fixture(&dir).await; // token 1 (org a) redeemed by key 1 as host h, at 10.
    store.add_token(token(2, "b", 1_000)).await.unwrap();
    store.add_token(token(3, "a", 100)).await.unwrap();

    let refused = |r| RedeemOutcome::Refused(r);
    // Expected: Ok((host id, retry)) or the refusal.
    type Expect = Result<(&'static str, bool), RedeemOutcome>;
    let cases: Vec<(Redemption, Expect)> = vec![
        // Same key retries once and gets the same host, whatever new id it proposes.
        (redemption(1, 1, "other", 20), Ok(("h", true))),
        (
            redemption(1, 1, "other", 30),
            Err(refused(RedeemRefusal::AlreadyUsed)),
        ),
        // Another key on a used token.
        (
            redemption(1, 9, "x", 40),
            Err(refused(RedeemRefusal::AlreadyUsed)),
        ),
        (
            redemption(3, 9, "x", 100),
            Err(refused(RedeemRefusal::Expired)),
        ),
        (
            redemption(7, 9, "x", 40),
            Err(refused(RedeemRefusal::UnknownToken)),
        ),
        // Key 1 is enrolled through token 1 (org a): token 2 (org b) refuses it.
        (
            redemption(2, 1, "x", 40),
            Err(refused(RedeemRefusal::KeyAlreadyEnrolled)),
        ),
        (redemption(2, 2, "h2", 50), Ok(("h2", false))),
    ];
    for (req, expect) in cases {
        let got = store.redeem_token(req.clone()).await.unwrap();
        match (got, expect) {
            (RedeemOutcome::Enrolled { host, retry }, Ok((id, want_retry))) => {
                assert_eq!((host.id.as_str(), retry), (id, want_retry), "{req:?}");
                assert_eq!(host.current_key, req.public_key);
            }
            (got, Err(want)) => assert_eq!(got, want, "{req:?}"),
            (got, want) => panic!("{req:?}: got {got:?}, want {want:?}"),
        }
    }
    let h2 = store.host("h2").await.unwrap().unwrap();
    assert_eq!(
        (
            h2.org.as_str(),
            h2.hostname.as_str(),
            h2.enrolled_at_ms,
            h2.enrolled_from.as_str()
        ),
        ("b", "pc-h2", 50, "192.0.2.1:5000")
    );
    assert_eq!(store.host("x").await.unwrap(), None);
    assert_eq!(store.host("other").await.unwrap(), None);
    let used = store
        .tokens("a")
        .await
        .unwrap()
        .into_iter()
        .find(|t| t.hash == [1; 32])
        .unwrap();
    assert_eq!(
        used.redeemed_by,
        Some(TokenUse {
            public_key: [1; 32],
            host_id: "h".into(),
            at_ms: 10,
            retry_spent: true
        })
    );
    // Redemption writes no key event: the enrollment service records it with the certificate.
    assert!(store.key_history("h2").await.unwrap().is_empty());
}

#[tokio::test]
async fn orgs_and_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let store = fixture(&dir).await;
    assert!(matches!(store.add_org(org("a")).await, Err(StoreError::OrgExists(o)) if o == "a"));
    assert!(
        matches!(store.add_token(token(5, "zz", 1)).await, Err(StoreError::NoSuchOrg(o)) if o == "zz")
    );
    assert_eq!(store.org("b").await.unwrap(), Some(org("b")));
    assert_eq!(store.orgs().await.unwrap(), vec![org("a"), org("b")]);
    // Re-adding a redeemed token must not reset it.
    assert!(store.add_token(token(1, "a", 1_000)).await.is_err());
}

#[tokio::test]
async fn reads_are_scoped_by_organisation() {
    let dir = tempfile::tempdir().unwrap();
    let store = fixture(&dir).await;
    store.add_token(token(2, "b", 1_000)).await.unwrap();
    store.add_token(token(4, "b", 1_000)).await.unwrap();
    store
        .redeem_token(redemption(2, 2, "hb", 10))
        .await
        .unwrap();
    let finding = |org: &str, host: &str, check: &str| FindingRecord {
        org: org.into(),
        host_id: host.into(),
        hostname: host.into(),
        check_id: check.into(),
        outcome: "fail".into(),
        severity: "high".into(),
        title_fr: "t".into(),
        title_en: "t".into(),
        detail: String::new(),
        evaluated_at_ms: 1,
        evidence: vec![(A, 1)],
    };
    store
        .put_findings(
            "h",
            vec![finding("a", "h", "BKP-001"), finding("a", "h", "AGT-001")],
        )
        .await
        .unwrap();
    store
        .put_findings("hb", vec![finding("b", "hb", "BKP-001")])
        .await
        .unwrap();

    let ids = |hosts: Vec<HostRecord>| hosts.into_iter().map(|h| h.id).collect::<Vec<_>>();
    assert_eq!(ids(store.hosts(Some("a")).await.unwrap()), ["h"]);
    assert_eq!(ids(store.hosts(Some("b")).await.unwrap()), ["hb"]);
    assert_eq!(ids(store.hosts(None).await.unwrap()), ["h", "hb"]);
    let hashes = |t: Vec<TokenRecord>| t.into_iter().map(|t| t.hash[0]).collect::<Vec<_>>();
    assert_eq!(hashes(store.tokens("a").await.unwrap()), [1]);
    assert_eq!(hashes(store.tokens("b").await.unwrap()), [2, 4]);

    let checks = |f: Vec<FindingRecord>| {
        f.into_iter()
            .map(|f| format!("{}/{}", f.host_id, f.check_id))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        checks(store.findings(Some("a"), None).await.unwrap()),
        ["h/BKP-001", "h/AGT-001"]
    );
    assert_eq!(
        checks(store.findings(Some("b"), None).await.unwrap()),
        ["hb/BKP-001"]
    );
    assert_eq!(
        checks(store.findings(Some("b"), Some("h")).await.unwrap()),
        Vec::<String>::new()
    );
    assert_eq!(
        checks(store.findings(None, Some("hb")).await.unwrap()),
        ["hb/BKP-001"]
    );
    assert_eq!(checks(store.findings(None, None).await.unwrap()).len(), 3);

    // put_findings replaces; clear_derived drops findings and latest states.
    store
        .put_findings("h", vec![finding("a", "h", "PWD-001")])
        .await
        .unwrap();
    assert_eq!(
        checks(store.findings(Some("a"), Some("h")).await.unwrap()),
        ["h/PWD-001"]
    );
    assert!(matches!(
        store.put_findings("nobody", vec![]).await,
        Err(StoreError::NoSuchHost(_))
    ));
    let latest = |domain, seq| LatestDomain {
        domain,
        received_at_ms: 1,
        epoch: A,
        seq,
        state: vec![1, 2],
    };
    store.put_latest("h", latest(2, 1)).await.unwrap();
    store.put_latest("h", latest(1, 1)).await.unwrap();
    store.put_latest("h", latest(2, 5)).await.unwrap();
    assert_eq!(
        store.latest("h").await.unwrap(),
        vec![latest(1, 1), latest(2, 5)]
    );
    store.clear_derived().await.unwrap();
    assert!(store.latest("h").await.unwrap().is_empty());
    assert!(store.findings(None, None).await.unwrap().is_empty());
    assert_eq!(store.hosts(None).await.unwrap().len(), 2);
}

#[tokio::test]
async fn key_history_and_revocation() {
    let dir = tempfile::tempdir().unwrap();
    let store = fixture(&dir).await;
    let renewed = KeyEvent::Renewed {
        at_ms: 20,
        public_key: [7; 32],
        cert_serial: "0a1b".into(),
        not_after_ms: 99,
    };
    let revoked = KeyEvent::Revoked {
        at_ms: 30,
        reason: "stolen laptop".into(),
    };
    store.record_key_event("h", renewed.clone()).await.unwrap();
    let host = store.host("h").await.unwrap().unwrap();
    assert_eq!(
        (
            host.current_key,
            host.cert_serial.as_str(),
            host.cert_not_after_ms,
            host.revoked.is_none()
        ),
        ([7; 32], "0a1b", 99, true)
    );
    store.record_key_event("h", revoked.clone()).await.unwrap();
    let host = store.host("h").await.unwrap().unwrap();
    assert_eq!(
        host.revoked,
        Some(Revocation {
            at_ms: 30,
            reason: "stolen laptop".into()
        })
    );
    assert_eq!(host.current_key, [7; 32]);
    let history = store.key_history("h").await.unwrap();
    // Redemption writes no key event; the history holds exactly what was recorded, in order.
    assert_eq!(history, [renewed, revoked]);
    assert!(matches!(
        store
            .record_key_event(
                "nobody",
                KeyEvent::Revoked {
                    at_ms: 1,
                    reason: String::new()
                }
            )
            .await,
        Err(StoreError::NoSuchHost(_))
    ));
    // The renewed key now belongs to h: another token cannot enroll it.
    store.add_token(token(2, "b", 1_000)).await.unwrap();
    assert_eq!(
        store.redeem_token(redemption(2, 7, "x", 40)).await.unwrap(),
        RedeemOutcome::Refused(RedeemRefusal::KeyAlreadyEnrolled)
    );
}

#[tokio::test]
async fn audit_trail_is_a_hash_chain() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let entry = |action: &str| AuditEntry {
        at_ms: 5,
        actor: "uid:0".into(),
        action: action.into(),
        org: Some("a".into()),
        detail: String::new(),
    };
    let mut heads = Vec::new();
    for action in ["token.create", "host.revoke", "waiver.add"] {
        heads.push(store.append_audit(entry(action)).await.unwrap());
    }
    let trail = store.audit_trail().await.unwrap();
    assert_eq!(
        trail.iter().map(|r| r.hash.clone()).collect::<Vec<_>>(),
        heads
    );
    assert_eq!(trail[0].prev_hash, crate::store::audit::GENESIS);
    assert_eq!(trail[2].prev_hash, heads[1]);
    assert_eq!(verify_audit_chain(&trail), Ok(()));
    let mut tampered = trail.clone();
    tampered[1].entry.action = "nothing".into();
    assert!(verify_audit_chain(&tampered).is_err());
    // The chain continues across a reopen.
    drop(store);
    let store = open(&dir);
    store.append_audit(entry("snapshot.sign")).await.unwrap();
    let trail = store.audit_trail().await.unwrap();
    assert_eq!(
        (trail.len(), trail[3].prev_hash.as_str()),
        (4, heads[2].as_str())
    );
    assert_eq!(verify_audit_chain(&trail), Ok(()));
}

#[tokio::test]
async fn security_events_per_host_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let ev = |host: &str, at_ms| SecurityEvent {
        host_id: host.into(),
        at_ms,
        kind: "equivocation".into(),
        detail: String::new(),
    };
    for e in [ev("h", 3), ev("g", 1), ev("h", 1), ev("h", 2)] {
        store.add_security_event(e).await.unwrap();
    }
    assert_eq!(
        store.security_events("h").await.unwrap(),
        vec![ev("h", 3), ev("h", 1), ev("h", 2)]
    );
    assert_eq!(store.security_events("g").await.unwrap(), vec![ev("g", 1)]);
}

#[tokio::test]
async fn data_survives_close_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let store = fixture(&dir).await;
    // The second report is large enough for sled to put it in its own blob file.
    let big = Candidate {
        signed: vec![0x5a; 700_000],
        ..cand(A, 2, 2)
    };
    store.admit("h", vec![cand(A, 1, 1), big]).await.unwrap();
    let blobs = std::fs::read_dir(dir.path().join("store/blobs"))
        .unwrap()
        .count();
    assert!(blobs > 0, "expected a blob file");
    store
        .append_audit(AuditEntry {
            at_ms: 1,
            actor: "system".into(),
            action: "start".into(),
            org: None,
            detail: String::new(),
        })
        .await
        .unwrap();
    let before = (
        store.reports("h").await.unwrap(),
        store.hosts(None).await.unwrap(),
        store.tokens("a").await.unwrap(),
    );
    drop(store);
    let store = open(&dir);
    let after = (
        store.reports("h").await.unwrap(),
        store.hosts(None).await.unwrap(),
        store.tokens("a").await.unwrap(),
    );
    assert_eq!(before, after);
    assert_eq!(store.audit_trail().await.unwrap().len(), 1);
    // Admission state (high-water marks, arrival counter) carries over.
    let admitted = store
        .admit("h", vec![cand(A, 2, 2), cand(A, 1, 9), cand(A, 3, 3)])
        .await
        .unwrap();
    assert_eq!(
        admitted.admissions,
        [
            Admission::AlreadyStored,
            Admission::Equivocation,
            Admission::Stored
        ]
    );
    assert_eq!(
        store
            .reports("h")
            .await
            .unwrap()
            .iter()
            .map(|r| r.seq)
            .collect::<Vec<_>>(),
        [1, 2, 3]
    );
}

#[tokio::test]
async fn corrupt_value_is_reported_not_served() {
    let dir = tempfile::tempdir().unwrap();
    let store = fixture(&dir).await;
    store.admit("h", vec![cand(A, 1, 1)]).await.unwrap();
    drop(store);
    {
        let db = sled::Config::new()
            .path(dir.path().join("store"))
            .open()
            .unwrap();
        let reports = db.open_tree("reports").unwrap();
        let (key, value) = reports.first().unwrap().unwrap();
        let mut bad = value.to_vec();
        *bad.last_mut().unwrap() ^= 0x40;
        reports.insert(key, bad).unwrap();
        let hosts = db.open_tree("hosts").unwrap();
        let value = hosts.get("h").unwrap().unwrap();
        let mut bad = value.to_vec();
        bad[40] ^= 0x01;
        hosts.insert("h", bad).unwrap();
        db.flush().unwrap();
    }
    let store = open(&dir);
    match store.reports("h").await {
        Err(StoreError::Corrupt { key, reason }) => {
            assert!(key.starts_with("reports/h\\x00"), "{key}");
            assert_eq!(reason, "checksum mismatch");
        }
        other => panic!("expected corruption, got {other:?}"),
    }
    assert!(
        matches!(store.host("h").await, Err(StoreError::Corrupt { key, .. }) if key == "hosts/h")
    );
    assert!(matches!(
        store.admit("h", vec![cand(A, 2, 2)]).await,
        Err(StoreError::Corrupt { .. })
    ));
    assert!(matches!(
        store.hosts(None).await,
        Err(StoreError::Corrupt { .. })
    ));
}

#[tokio::test]
async fn leftover_snapshot_refuses_to_open() {
    let dir = tempfile::tempdir().unwrap();
    drop(open(&dir));
    std::fs::write(
        dir.path().join("store/snap.0000000000001234.generating"),
        b"torn",
    )
    .unwrap();
    let err = SledStore::open(&dir.path().join("store"), CACHE).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("snap.0000000000001234.generating")
            && text.contains("unfinished sled snapshot"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_admits_share_commits() {
    const HOSTS: usize = 8;
    const PER_HOST: u64 = 40;
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(open(&dir));
    store.add_org(org("a")).await.unwrap();
    for i in 0..HOSTS {
        let t = u8::try_from(i).unwrap() + 1;
        store.add_token(token(t, "a", 1_000)).await.unwrap();
        store
            .redeem_token(redemption(t, t, &format!("h{i}"), 1))
            .await
            .unwrap();
    }
    let before = store.commit_stats();
    let started = std::time::Instant::now();
    let mut tasks = Vec::new();
    for i in 0..HOSTS {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            for seq in 1..=PER_HOST {
                let admitted = store
                    .admit(&format!("h{i}"), vec![cand(A, seq, 1)])
                    .await
                    .unwrap();
                assert_eq!(admitted.admissions, [Admission::Stored]);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let elapsed = started.elapsed();
    let after = store.commit_stats();
    let (jobs, commits) = (after.jobs - before.jobs, after.commits - before.commits);
    let writes = HOSTS as u64 * PER_HOST;
    eprintln!(
        "{writes} durable admits in {elapsed:?} ({:.0}/s), {commits} flush+fsync rounds",
        writes as f64 / elapsed.as_secs_f64()
    );
    assert_eq!(jobs, writes);
    assert!(commits < writes, "{commits} commits for {writes} writes");
    drop(Arc::try_unwrap(store).unwrap());
    let store = open(&dir);
    for i in 0..HOSTS {
        let seqs: Vec<u64> = store
            .reports(&format!("h{i}"))
            .await
            .unwrap()
            .iter()
            .map(|r| r.seq)
            .collect();
        assert_eq!(seqs, (1..=PER_HOST).collect::<Vec<_>>());
    }
}
