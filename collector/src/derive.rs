//! Derived state, off the acknowledgement path: the latest state per host and domain, then the
//! findings of the pure evaluator. Everything here can be rebuilt from the stored reports
//! ([`rebuild`]), which is how a test proves that nothing derived is load-bearing.

use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use vigie_policies::{Catalogue, DomainEvidence, HostEvidence, HostFacts, Profile};
use vigie_proto::v1::{DomainState, Report, SignedReport};
use vigie_proto::Message;

use crate::server::Ctx;
use crate::store::{Candidate, FindingRecord, HostRecord, LatestDomain, Store, StoreError};

/// Work for the derivation worker.
#[derive(Debug)]
pub enum Job {
    /// Reports just stored for a host, with their decoded bodies.
    Apply(String, Vec<(Candidate, Report)>),
    /// Re-run the evaluator for one host (a security event changed its facts).
    Reevaluate(String),
    /// Re-run the evaluator everywhere (time moves: silent hosts, stale evidence).
    ReevaluateAll,
}

/// Runs jobs until shutdown; errors are logged, never fatal (derived state can always be rebuilt).
pub async fn worker(ctx: Arc<Ctx>, mut rx: mpsc::Receiver<Job>, stop: CancellationToken) {
    let catalogue = match Catalogue::builtin() {
        Ok(c) => c,
        Err(error) => {
            tracing::error!(%error, "The built-in check catalogue does not load; no findings will be produced.");
            return;
        }
    };
    loop {
        let job = tokio::select! {
            _ = stop.cancelled() => break,
            job = rx.recv() => match job { Some(j) => j, None => break },
        };
        let now = ctx.clock.now_ms();
        let result = match job {
            Job::Apply(host, reports) => apply(ctx.store.as_ref(), &host, &reports)
                .await
                .map(|()| vec![host]),
            Job::Reevaluate(host) => Ok(vec![host]),
            Job::ReevaluateAll => {
                let dirty: Vec<String> = ctx
                    .dirty
                    .lock()
                    .map(|mut d| d.drain().collect())
                    .unwrap_or_default();
                for host in dirty {
                    if let Err(error) = rederive_host(ctx.store.as_ref(), &host).await {
                        tracing::error!(%error, host = %host, "Re-deriving a host failed.");
                    }
                }
                // Ping jobs have no reports: time alone moves them from up to late to down.
                if let Err(error) = crate::ping::evaluate_all(
                    ctx.store.as_ref(),
                    &catalogue,
                    ctx.settings.profile,
                    now,
                )
                .await
                {
                    tracing::error!(%error, "Evaluating ping jobs failed.");
                }
                ctx.store
                    .hosts(None)
                    .await
                    .map(|hs| hs.into_iter().map(|h| h.id).collect())
            }
        };
        let hosts = match result {
            Ok(h) => h,
            Err(error) => {
                tracing::error!(%error, "Derivation failed.");
                continue;
            }
        };
        for host in hosts {
            if let Err(error) = evaluate_host(
                ctx.store.as_ref(),
                &catalogue,
                ctx.settings.profile,
                &host,
                now,
            )
            .await
            {
                tracing::error!(%error, host = %host, "Evaluation failed.");
            }
        }
    }
}

/// Folds reports into the latest state per domain: a newer receive time replaces an older one.
/// Chunked states (`chunk_count > 1`) are not assembled yet and are skipped.
pub async fn apply(
    store: &dyn Store,
    host_id: &str,
    reports: &[(Candidate, Report)],
) -> Result<(), StoreError> {
    let mut existing = store.latest(host_id).await?;
    for (cand, report) in reports {
        for state in &report.domains {
            if state.chunk_count > 1 {
                continue;
            }
            let newer = existing
                .iter()
                .find(|l| l.domain == state.domain)
                .is_none_or(|l| {
                    (l.received_at_ms, l.epoch, l.seq)
                        <= (cand.received_at_ms, cand.epoch, cand.seq)
                });
            if newer {
                let latest = LatestDomain {
                    domain: state.domain,
                    received_at_ms: cand.received_at_ms,
                    epoch: cand.epoch,
                    seq: cand.seq,
                    state: state.encode_to_vec(),
                };
                store.put_latest(host_id, latest.clone()).await?;
                existing.retain(|l| l.domain != state.domain);
                existing.push(latest);
            }
        }
    }
    Ok(())
}

/// Evaluates one host from its derived state and stores its findings.
pub async fn evaluate_host(
    store: &dyn Store,
    catalogue: &Catalogue,
    profile: Profile,
    host_id: &str,
    now_ms: i64,
) -> Result<(), StoreError> {
    match host_findings(store, catalogue, profile, host_id, now_ms).await? {
        Some(findings) => store.put_findings(host_id, findings).await,
        None => Ok(()),
    }
}

/// The findings of one host at `now_ms`, with the waivers of its organisation in force then (they
/// expire by themselves: an expired waiver is simply not passed to the evaluator); `None` when the
/// host does not exist. Stores nothing, so a snapshot can judge under another profile.
pub async fn host_findings(
    store: &dyn Store,
    catalogue: &Catalogue,
    profile: Profile,
    host_id: &str,
    now_ms: i64,
) -> Result<Option<Vec<FindingRecord>>, StoreError> {
    let Some(host) = store.host(host_id).await? else {
        return Ok(None);
    };
    let latest = store.latest(host_id).await?;
    let events = store.security_events(host_id).await?;
    let policy = store.contractor_policy(&host.org).await?;
    let evidence = host_evidence(&host, &latest, &events, policy.map(|p| p.to_policy()));
    let waivers: Vec<vigie_policies::Waiver> = store
        .waivers(&host.org)
        .await?
        .iter()
        .filter(|w| w.in_force(now_ms))
        .map(crate::store::WaiverRecord::to_policy)
        .collect();
    Ok(Some(
        vigie_policies::evaluate(catalogue, profile, &evidence, &waivers, now_ms)
            .into_iter()
            .map(|f| FindingRecord::from_finding(&host.org, &host.id, &host.hostname, f, now_ms))
            .collect(),
    ))
}

fn host_evidence(
    host: &HostRecord,
    latest: &[LatestDomain],
    events: &[crate::store::SecurityEvent],
    contractor_policy: Option<vigie_policies::ContractorPolicy>,
) -> HostEvidence {
    let domains = latest
        .iter()
        .filter_map(|l| {
            DomainState::decode(l.state.as_slice())
                .ok()
                .map(|state| DomainEvidence {
                    received_at_ms: l.received_at_ms,
                    state,
                    evidence_ref: (l.epoch, l.seq),
                })
        })
        .collect();
    HostEvidence {
        facts: HostFacts {
            host_id: host.id.clone(),
            hostname: host.hostname.clone(),
            role: None,
            last_seen_ms: (host.last_seen_ms > 0).then_some(host.last_seen_ms),
            cloned_identity: events.iter().any(|e| e.kind == "cloned_identity"),
            equivocation: events.iter().any(|e| e.kind == "equivocation"),
            contractor_policy,
        },
        domains,
    }
}

/// Decodes every stored report of a host, in stored order, for re-derivation.
async fn stored_bodies(
    store: &dyn Store,
    host_id: &str,
) -> Result<Vec<(Candidate, Report)>, StoreError> {
    let mut batch = Vec::new();
    for stored in store.reports(host_id).await? {
        let Ok(signed) = SignedReport::decode(stored.signed.as_slice()) else {
            return Err(StoreError::Corrupt {
                key: format!("report {} {} {}", host_id, stored.epoch, stored.seq),
                reason: "stored envelope does not decode".into(),
            });
        };
        let Ok(body) = vigie_proto::envelope::decode_body(&signed.body) else {
            continue;
        };
        batch.push((
            Candidate {
                epoch: stored.epoch,
                seq: stored.seq,
                digest: stored.digest,
                received_at_ms: stored.received_at_ms,
                created_at_ms: 0,
                signed: Vec::new(),
            },
            body,
        ));
    }
    Ok(batch)
}

/// Brings one host's latest states up to date with everything stored for it (after derivation jobs
/// were shed under load). Idempotent: applying a report twice changes nothing.
pub async fn rederive_host(store: &dyn Store, host_id: &str) -> Result<(), StoreError> {
    let batch = stored_bodies(store, host_id).await?;
    apply(store, host_id, &batch).await
}

/// Drops all derived state and recomputes it from the stored reports, in stored order.
pub async fn rebuild(
    store: &dyn Store,
    catalogue: &Catalogue,
    profile: Profile,
    now_ms: i64,
) -> Result<usize, StoreError> {
    store.clear_derived().await?;
    let mut count = 0;
    for host in store.hosts(None).await? {
        let batch = stored_bodies(store, &host.id).await?;
        count += batch.len();
        apply(store, &host.id, &batch).await?;
        evaluate_host(store, catalogue, profile, &host.id, now_ms).await?;
    }
    crate::ping::evaluate_all(store, catalogue, profile, now_ms).await?;
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sled_store::SledStore;
    use crate::store::{Org, RedeemOutcome, Redemption, TokenRecord};
    use vigie_proto::envelope::{seal_report, HeaderFields};
    use vigie_proto::v1::{domain_state::State, Domain, Inventory};

    fn report(hostname: &str) -> Report {
        Report {
            format_version: 1,
            domains: vec![DomainState {
                domain: Domain::Inventory as i32,
                state: Some(State::Inventory(Inventory {
                    hostname: hostname.into(),
                    ..Default::default()
                })),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    /// Derivation jobs shed under load are healed from the stored reports, idempotently, and the
    /// newest stored state wins whatever was derived before.
    #[tokio::test]
    async fn rederive_heals_shed_jobs_and_is_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path(), 8 << 20).unwrap();
        store
            .add_org(Org {
                id: "o".into(),
                name: "O".into(),
                created_at_ms: 0,
            })
            .await
            .unwrap();
        store
            .add_token(TokenRecord {
                hash: [1; 32],
                org: "o".into(),
                created_at_ms: 0,
                expires_at_ms: 10,
                redeemed_by: None,
            })
            .await
            .unwrap();
        let key = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
        let out = store
            .redeem_token(Redemption {
                token_hash: [1; 32],
                public_key: key.verifying_key().to_bytes(),
                hostname: "h".into(),
                agent_version: "t".into(),
                peer_address: "p".into(),
                now_ms: 1,
                new_host_id: "h".into(),
            })
            .await
            .unwrap();
        assert!(matches!(out, RedeemOutcome::Enrolled { .. }));
        let mut candidates = Vec::new();
        for (seq, name) in [(1, "old"), (2, "new")] {
            let fields = HeaderFields {
                host_id: "h".into(),
                epoch: 5,
                seq,
                created_at_ms: 1,
            };
            let signed = seal_report(&key, &fields, &report(name));
            candidates.push(Candidate {
                epoch: 5,
                seq,
                digest: vigie_proto::envelope::report_digest(&signed),
                received_at_ms: 100 + seq as i64,
                created_at_ms: 1,
                signed: signed.encode_to_vec(),
            });
        }
        store.admit("h", candidates).await.unwrap();
        // Only the first report's job got through before the queue filled up.
        let first = vec![(
            Candidate {
                epoch: 5,
                seq: 1,
                digest: [0; 32],
                received_at_ms: 101,
                created_at_ms: 1,
                signed: vec![],
            },
            report("old"),
        )];
        apply(&store, "h", &first).await.unwrap();
        for _ in 0..2 {
            rederive_host(&store, "h").await.unwrap();
            let latest = store.latest("h").await.unwrap();
            assert_eq!(latest.len(), 1);
            assert_eq!((latest[0].epoch, latest[0].seq), (5, 2));
            let state = DomainState::decode(latest[0].state.as_slice()).unwrap();
            assert!(matches!(state.state, Some(State::Inventory(ref i)) if i.hostname == "new"));
        }
    }
}
