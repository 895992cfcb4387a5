//! The admin requests of waivers and snapshots, executed for `admin::execute` (locally or inside a
//! running server). Kept apart so that `admin.rs` only routes them.

use std::path::PathBuf;

use serde::Serialize;
use vigie_policies::Profile;

use crate::admin::{AdminError, Request};
use crate::store::Store;

/// What `snapshot export` receives: the document and its signature, for the client to write.
#[derive(Debug, Serialize, serde::Deserialize)]
pub struct Exported {
    pub id: String,
    pub document: String,
    pub minisig: String,
}

fn invalid(e: impl std::fmt::Display) -> AdminError {
    AdminError::Invalid(e.to_string())
}

/// Re-judges the hosts of `org` at once, so that `findings` shows a new or revoked waiver without
/// waiting for the periodic pass.
async fn reevaluate_org(
    store: &dyn Store,
    org: &str,
    profile: Profile,
    now_ms: i64,
) -> Result<(), AdminError> {
    let catalogue = vigie_policies::Catalogue::builtin().map_err(invalid)?;
    for host in store.hosts(Some(org)).await? {
        crate::derive::evaluate_host(store, &catalogue, profile, &host.id, now_ms).await?;
    }
    Ok(())
}

/// Executes one waiver or snapshot request; other requests are refused.
pub async fn execute(
    store: &dyn Store,
    profile: Profile,
    actor: &str,
    now_ms: i64,
    req: Request,
) -> Result<String, AdminError> {
    match req {
        Request::WaiverAdd {
            org,
            check,
            host,
            reason,
            owner,
            until_ms,
            group,
        } => {
            let new = crate::waiver::NewWaiver {
                org,
                check_id: check,
                host_id: host,
                group,
                reason,
                owner,
                expires_at_ms: until_ms,
            };
            let w = crate::waiver::add(store, actor, now_ms, new)
                .await
                .map_err(invalid)?;
            reevaluate_org(store, &w.org, profile, now_ms).await?;
            Ok(format!("{}\n", w.id))
        }
        Request::WaiverList { org } => crate::waiver::list(store, &org, now_ms)
            .await
            .map_err(invalid),
        Request::WaiverRevoke { id, reason } => {
            let w = crate::waiver::revoke(store, actor, now_ms, &id, &reason)
                .await
                .map_err(invalid)?;
            reevaluate_org(store, &w.org, profile, now_ms).await?;
            Ok(format!("waiver {id} revoked\n"))
        }
        Request::SnapshotCreate {
            org,
            profile: chosen,
            data_dir,
        } => {
            let profile = match chosen {
                Some(p) => p.parse().map_err(|e| invalid(format!("--profile: {e}")))?,
                None => profile,
            };
            let record = crate::snapshot::create(
                store,
                &PathBuf::from(data_dir),
                &org,
                profile,
                actor,
                now_ms,
                false,
            )
            .await
            .map_err(invalid)?;
            Ok(format!("{}\n", record.id))
        }
        Request::SnapshotList { org } => crate::snapshot::list(store, &org).await.map_err(invalid),
        Request::SnapshotExport { id } => {
            let r = crate::snapshot::get(store, &id).await.map_err(invalid)?;
            serde_json::to_string(&Exported {
                id: r.id,
                document: r.document,
                minisig: r.minisig,
            })
            .map_err(invalid)
        }
        Request::SnapshotDiff { a, b } => crate::snapshot::diff_stored(store, &a, &b)
            .await
            .map_err(invalid),
        Request::HostGroup {
            host,
            group,
            remove,
        } => {
            let groups = crate::waiver::set_host_group(store, actor, now_ms, &host, &group, remove)
                .await
                .map_err(invalid)?;
            let org = store.host(&host).await?.map(|h| h.org).unwrap_or_default();
            reevaluate_org(store, &org, profile, now_ms).await?;
            Ok(format!("{host}: {}\n", groups.join(" ")))
        }
        Request::AuditList { org, json } => {
            let trail = store.audit_trail().await?;
            Ok(crate::store::audit::render(&trail, org.as_deref(), json))
        }
        Request::AuditVerify => {
            let trail = store.audit_trail().await?;
            crate::store::audit::verify_audit_chain(&trail)
                .map_err(|e| invalid(format!("audit trail broken: {e}")))?;
            Ok(match trail.last() {
                Some(head) => format!(
                    "audit trail: ok, {} records, head {} {}\n",
                    trail.len(),
                    head.index,
                    head.hash
                ),
                None => "audit trail: ok, empty\n".to_owned(),
            })
        }
        other => Err(invalid(format!(
            "not a waiver, snapshot, group or audit request: {other:?}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datadir::{self, InitOptions};
    use crate::store::audit::verify_audit_chain;
    use crate::store::sled_store::SledStore;
    use crate::store::Org;

    const NOW: i64 = 1_790_000_000_000;

    fn req_add(until_ms: i64) -> Request {
        Request::WaiverAdd {
            org: "mairie".into(),
            check: "PAT-001".into(),
            host: None,
            reason: "migration prévue".into(),
            owner: "dsi@mairie.fr".into(),
            until_ms,
            group: None,
        }
    }

    #[tokio::test]
    async fn waivers_and_snapshots_are_durable_chained_and_on_the_record() {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("data");
        let opts = InitOptions {
            listen: "127.0.0.1:0".into(),
            enroll_listen: "127.0.0.1:0".into(),
            https_listen: "127.0.0.1:0".into(),
            server_names: vec!["localhost".into()],
        };
        datadir::init(&data, &opts, NOW).unwrap();
        let store_dir = tmp.path().join("store");
        let data_dir = data.to_string_lossy().into_owned();
        let profile = Profile::Standard;
        {
            let store = SledStore::open(&store_dir, 1 << 20).unwrap();
            store
                .add_org(Org {
                    id: "mairie".into(),
                    name: "Mairie".into(),
                    created_at_ms: NOW,
                })
                .await
                .unwrap();
            // Past expiries and unknown checks are refused; a good waiver is stored.
            assert!(execute(&store, profile, "uid:0", NOW, req_add(NOW))
                .await
                .is_err());
            let id = execute(&store, profile, "uid:0", NOW, req_add(NOW + 60_000))
                .await
                .unwrap();
            let id = id.trim().to_owned();
            let create = || Request::SnapshotCreate {
                org: "mairie".into(),
                profile: None,
                data_dir: data_dir.clone(),
            };
            let first = execute(&store, profile, "uid:0", NOW + 1, create())
                .await
                .unwrap();
            assert_eq!(first, "mairie-1\n");
            let revoke = Request::WaiverRevoke {
                id: id.clone(),
                reason: "done".into(),
            };
            execute(&store, profile, "uid:0", NOW + 2, revoke.clone())
                .await
                .unwrap();
            assert!(execute(&store, profile, "uid:0", NOW + 3, revoke)
                .await
                .is_err());
            let second = execute(&store, profile, "uid:0", NOW + 4, create())
                .await
                .unwrap();
            assert_eq!(second, "mairie-2\n");
        }
        // Reopened: everything is still there, and the trail is a valid chain.
        let store = SledStore::open(&store_dir, 1 << 20).unwrap();
        let waivers = store.waivers("mairie").await.unwrap();
        assert_eq!(waivers.len(), 1);
        assert!(waivers[0].revoked.is_some());
        let snaps = store.snapshots("mairie").await.unwrap();
        assert_eq!(snaps.iter().map(|s| s.seq).collect::<Vec<_>>(), [1, 2]);
        let doc1 = crate::snapshot::verify::parse_canonical(snaps[0].document.as_bytes()).unwrap();
        let doc2 = crate::snapshot::verify::parse_canonical(snaps[1].document.as_bytes()).unwrap();
        assert_eq!(doc1["waivers"][0]["owner"], "dsi@mairie.fr");
        assert_eq!(doc2["waivers"], serde_json::json!([]));
        assert_eq!(doc2["previous_sha256"], snaps[0].sha256.as_str());
        let public = crate::snapshot::key::public(&data).unwrap();
        let pubfile = crate::snapshot::minisign::public_key_file(&public);
        let verified = crate::snapshot::verify::verify(
            snaps[1].document.as_bytes(),
            &snaps[1].minisig,
            &pubfile,
            Some(snaps[0].document.as_bytes()),
        )
        .unwrap();
        assert_eq!((verified.seq, verified.chain_checked), (2, Some(false)));
        let trail = store.audit_trail().await.unwrap();
        verify_audit_chain(&trail).unwrap();
        let actions: Vec<&str> = trail.iter().map(|r| r.entry.action.as_str()).collect();
        assert_eq!(
            actions,
            [
                "waiver.add",
                "snapshot.sign",
                "waiver.revoke",
                "snapshot.sign"
            ]
        );
        // The second snapshot carries the head of the trail as it was before its own signature.
        assert_eq!(doc2["audit_head"]["hash"], trail[2].hash.as_str());
        // A snapshot out of order is refused by the store.
        let mut again = snaps[1].clone();
        again.seq = 5;
        assert!(matches!(
            store.add_snapshot(again).await,
            Err(crate::store::StoreError::SnapshotOutOfOrder { expected: 3, .. })
        ));
    }
}
