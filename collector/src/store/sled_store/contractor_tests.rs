//! Tests of contractor policies (ACC-004): stored durably per organisation through the `Store`
//! trait, set by the admin command with validation and an audit-trail entry.

use std::sync::atomic::AtomicI64;

use super::*;
use crate::admin::{execute, AdminError, Request};
use crate::clock::ManualClock;

fn open(dir: &tempfile::TempDir) -> SledStore {
    SledStore::open(&dir.path().join("store"), 8 * 1024 * 1024).unwrap()
}

fn request(org: &str, window: &str, tz: &str) -> Request {
    Request::OrgContractorPolicy {
        org: org.into(),
        windows: vec![window.into()],
        time_zone: tz.into(),
        sources: vec!["192.0.2.0/24".into()],
    }
}

#[tokio::test]
async fn contractor_policy_is_validated_stored_durably_and_audited() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock(AtomicI64::new(1_000));
    {
        let store = open(&dir);
        store
            .add_org(Org {
                id: "mairie".into(),
                name: "Mairie".into(),
                created_at_ms: 1,
            })
            .await
            .unwrap();
        assert_eq!(store.contractor_policy("mairie").await.unwrap(), None);
        let profile = vigie_policies::Profile::Standard;
        // Refused before anything is written: a bad window, an unknown zone, an unknown org.
        for (req, expect) in [
            (
                request("mairie", "mon-fri 18:00-08:00", "Europe/Paris"),
                "window",
            ),
            (
                request("mairie", "mon-fri 08:00-18:00", "Europe/Pariss"),
                "time zone",
            ),
        ] {
            match execute(&store, &clock, profile, "uid:0", req).await {
                Err(AdminError::Invalid(text)) => assert!(text.contains(expect), "{text}"),
                other => panic!("{other:?}"),
            }
        }
        assert!(matches!(
            execute(
                &store,
                &clock,
                profile,
                "uid:0",
                request("autre", "lun-ven 08:00-18:00", "Europe/Paris")
            )
            .await,
            Err(AdminError::Store(StoreError::NoSuchOrg(_)))
        ));
        assert_eq!(store.contractor_policy("mairie").await.unwrap(), None);
        let out = execute(
            &store,
            &clock,
            profile,
            "uid:0",
            request("mairie", "lun-ven 08:00-18:00", "Europe/Paris"),
        )
        .await
        .unwrap();
        assert_eq!(out, "contractor policy of mairie: windows [lun-ven 08:00-18:00] Europe/Paris; sources [192.0.2.0/24]; findings of 0 host(s) judged again\n");
        let trail = store.audit_trail().await.unwrap();
        let last = trail.last().unwrap();
        assert_eq!(last.entry.action, "org.contractor_policy");
        assert_eq!(last.entry.org.as_deref(), Some("mairie"));
    }
    // Reopened: the policy is still there.
    let store = open(&dir);
    let stored = store.contractor_policy("mairie").await.unwrap().unwrap();
    assert_eq!(stored.windows, ["lun-ven 08:00-18:00"]);
    assert_eq!(stored.set_at_ms, 1_000);
    assert!(stored.to_policy().compile().is_ok());
    assert_eq!(store.contractor_policy("autre").await.unwrap(), None);
}
