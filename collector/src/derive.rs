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
pub async fn worker(ctx: Arc<Ctx>, mut rx: mpsc::UnboundedReceiver<Job>, stop: CancellationToken) {
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
            Job::ReevaluateAll => ctx
                .store
                .hosts(None)
                .await
                .map(|hs| hs.into_iter().map(|h| h.id).collect()),
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
    let Some(host) = store.host(host_id).await? else {
        return Ok(());
    };
    let latest = store.latest(host_id).await?;
    let events = store.security_events(host_id).await?;
    let evidence = host_evidence(&host, &latest, &events);
    let findings = vigie_policies::evaluate(catalogue, profile, &evidence, &[], now_ms)
        .into_iter()
        .map(|f| FindingRecord {
            org: host.org.clone(),
            host_id: host.id.clone(),
            hostname: host.hostname.clone(),
            check_id: f.check_id.to_string(),
            outcome: f.outcome.as_str().to_owned(),
            severity: f.severity.to_string(),
            title_fr: f.title_fr.to_string(),
            title_en: f.title_en.to_string(),
            detail: f.detail,
            evaluated_at_ms: now_ms,
            evidence: f.evidence,
        })
        .collect();
    store.put_findings(host_id, findings).await
}

fn host_evidence(
    host: &HostRecord,
    latest: &[LatestDomain],
    events: &[crate::store::SecurityEvent],
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
        },
        domains,
    }
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
        let mut batch = Vec::new();
        for stored in store.reports(&host.id).await? {
            let Ok(signed) = SignedReport::decode(stored.signed.as_slice()) else {
                return Err(StoreError::Corrupt {
                    key: format!("report {} {} {}", host.id, stored.epoch, stored.seq),
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
                    signed: Vec::new(),
                },
                body,
            ));
            count += 1;
        }
        apply(store, &host.id, &batch).await?;
        evaluate_host(store, catalogue, profile, &host.id, now_ms).await?;
    }
    Ok(count)
}
