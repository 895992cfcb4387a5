//! Derived state, off the acknowledgement path: the latest state per host and domain, then the
//! findings of the pure evaluator. Everything here can be rebuilt from the stored reports
//! ([`rebuild`]), which is how a test proves that nothing derived is load-bearing.

use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use vigie_policies::{Catalogue, DomainEvidence, HostEvidence, HostFacts, Profile};
use vigie_proto::v1::{Domain, DomainState, Report, SignedReport};
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
    // File integrity has parts (status, events, digests) that do not replace one another.
    crate::fim::fold(store, host_id, reports).await?;
    for (cand, report) in reports {
        for state in &report.domains {
            if state.chunk_count > 1 || state.domain == Domain::FileIntegrity as i32 {
                continue;
            }
            // Contractor logins are sent once each: they accumulate in their own ledger.
            let ledger = existing
                .iter()
                .find(|l| l.domain == crate::contractor_logins::LEDGER_DOMAIN);
            if let Some(next) = crate::contractor_logins::fold(ledger, cand, state) {
                store.put_latest(host_id, next.clone()).await?;
                existing.retain(|l| l.domain != next.domain);
                existing.push(next);
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

/// Judges every host of `org` at once and stores their findings (a setting of the organisation
/// that findings depend on changed: its contractor policy); returns how many hosts.
pub async fn reevaluate_org(
    store: &dyn Store,
    profile: Profile,
    org: &str,
    now_ms: i64,
) -> Result<usize, StoreError> {
    let catalogue = Catalogue::builtin().map_err(|e| StoreError::Corrupt {
        key: "catalogue".into(),
        reason: e.to_string(),
    })?;
    let hosts = store.hosts(Some(org)).await?;
    for host in &hosts {
        evaluate_host(store, &catalogue, profile, &host.id, now_ms).await?;
    }
    Ok(hosts.len())
}

/// Queues every host of `org` in the running server's derivation worker, behind the jobs already
/// there: a judgement that started with the organisation's old settings is followed by one with
/// the new. Hosts that do not fit in the queue are marked dirty for the periodic pass.
pub async fn queue_org(ctx: &Ctx, org: &str) -> Result<usize, StoreError> {
    let hosts = ctx.store.hosts(Some(org)).await?;
    for host in &hosts {
        ctx.reevaluate(&host.id);
    }
    Ok(hosts.len())
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
    let org = OrgContext::load(store, &host.org, now_ms).await?;
    let groups = store.host_groups(host_id).await?;
    judge_host(store, catalogue, profile, &host, &groups, &org, now_ms)
        .await
        .map(Some)
}

/// What judging any host of one organisation at one instant needs from the organisation: read
/// once when many hosts are judged together (a snapshot), instead of once per host.
#[derive(Debug, Clone)]
pub struct OrgContext {
    contractor_policy: Option<vigie_policies::ContractorPolicy>,
    /// In force at the instant it was loaded for (ACC-008's VPN half); expired ones are left out.
    attestations: Vec<vigie_policies::Attestation>,
    waivers: Vec<crate::store::WaiverRecord>,
    /// Every maintenance window of the organisation; each host gets those of its scope (FIM-002).
    maintenance: Vec<crate::maintenance::MaintenanceRecord>,
}

impl OrgContext {
    /// The context of organisation `org` at `now_ms`.
    pub async fn load(store: &dyn Store, org: &str, now_ms: i64) -> Result<OrgContext, StoreError> {
        Ok(OrgContext {
            contractor_policy: store.contractor_policy(org).await?.map(|p| p.to_policy()),
            attestations: crate::attestation::in_force(store, org, now_ms).await?,
            waivers: store.waivers(org).await?,
            maintenance: store.maintenance_windows(org).await?,
        })
    }
}

/// The findings of `host`, whose groups are `groups`, at `now_ms`, in the context `org` of its
/// organisation loaded for the same instant (see [`host_findings`]).
pub async fn judge_host(
    store: &dyn Store,
    catalogue: &Catalogue,
    profile: Profile,
    host: &HostRecord,
    groups: &[String],
    org: &OrgContext,
    now_ms: i64,
) -> Result<Vec<FindingRecord>, StoreError> {
    let latest = store.latest(&host.id).await?;
    let events = store.security_events(&host.id).await?;
    let mut evidence = host_evidence(host, &latest, &events, org.contractor_policy.clone());
    evidence.facts.attestations = org.attestations.clone();
    evidence.facts.maintenance = crate::maintenance::for_host(&org.maintenance, groups, now_ms);
    evidence
        .domains
        .extend(crate::fim::evidence(store, &host.id, now_ms).await?);
    // Group waivers become waivers of this host when it is in the group (`WaiverRecord::for_host`).
    let waivers: Vec<vigie_policies::Waiver> = org
        .waivers
        .iter()
        .filter_map(|w| w.for_host(&host.id, groups, now_ms))
        .collect();
    Ok(
        vigie_policies::evaluate(catalogue, profile, &evidence, &waivers, now_ms)
            .into_iter()
            .map(|f| FindingRecord::from_finding(&host.org, &host.id, &host.hostname, f, now_ms))
            .collect(),
    )
}

fn host_evidence(
    host: &HostRecord,
    latest: &[LatestDomain],
    events: &[crate::store::SecurityEvent],
    contractor_policy: Option<vigie_policies::ContractorPolicy>,
) -> HostEvidence {
    let ledger = latest
        .iter()
        .find(|l| l.domain == crate::contractor_logins::LEDGER_DOMAIN);
    let domains = latest
        .iter()
        .filter(|l| l.domain != crate::contractor_logins::LEDGER_DOMAIN)
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
    let mut evidence = HostEvidence {
        facts: HostFacts {
            host_id: host.id.clone(),
            hostname: host.hostname.clone(),
            role: None,
            last_seen_ms: (host.last_seen_ms > 0).then_some(host.last_seen_ms),
            cloned_identity: events.iter().any(|e| e.kind == "cloned_identity"),
            equivocation: events.iter().any(|e| e.kind == "equivocation"),
            contractor_policy,
            attestations: Vec::new(),
            maintenance: Vec::new(),
        },
        domains,
    };
    crate::contractor_logins::inject(&mut evidence, ledger);
    evidence
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
        let (_dir, store) = enrolled().await;
        let key = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
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

    /// A host `h` of organisation `o`, enrolled.
    async fn enrolled() -> (tempfile::TempDir, SledStore) {
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
        (dir, store)
    }

    /// 2026-11-25T12:00:00Z, a Wednesday.
    const NOON: i64 = 1_795_608_000_000;
    const HOUR: i64 = 3_600_000;

    /// An accounts report with one contractor and the given logins (UTC ms, source).
    fn accounts_report(logins: &[(i64, &str)]) -> (Candidate, Report) {
        use vigie_proto::v1::{principal, Account, Accounts, Login, Principal};
        let who = Principal {
            id: Some(principal::Id::Uid(1001)),
            name: "presta".into(),
        };
        let state = Accounts {
            accounts: vec![Account {
                principal: Some(who.clone()),
                contractor: true,
                ..Default::default()
            }],
            contractor_logins: logins
                .iter()
                .map(|(at, from)| Login {
                    principal: Some(who.clone()),
                    at_ms: *at,
                    source_address: (*from).into(),
                    method: "publickey".into(),
                    success: true,
                    ..Default::default()
                })
                .collect(),
            contractor_login_sources: "journal".into(),
            shadow_read: true,
            ..Default::default()
        };
        (
            Candidate {
                epoch: 1,
                seq: 0,
                digest: [0; 32],
                received_at_ms: 0,
                created_at_ms: 0,
                signed: vec![],
            },
            Report {
                format_version: 1,
                domains: vec![DomainState {
                    domain: Domain::Accounts as i32,
                    state: Some(State::Accounts(state)),
                    ..Default::default()
                }],
                ..Default::default()
            },
        )
    }

    fn at(mut r: (Candidate, Report), seq: u64, received_at_ms: i64) -> (Candidate, Report) {
        r.0.seq = seq;
        r.0.received_at_ms = received_at_ms;
        r
    }

    async fn acc004(store: &SledStore, now: i64) -> (String, String) {
        let catalogue = Catalogue::builtin().unwrap();
        evaluate_host(store, &catalogue, Profile::Standard, "h", now)
            .await
            .unwrap();
        let f = store
            .findings(None, Some("h"))
            .await
            .unwrap()
            .into_iter()
            .find(|f| f.check_id == "ACC-004")
            .unwrap();
        (f.outcome.to_string(), f.detail)
    }

    /// Each login comes once; the collector keeps them across reports (and across an accounts
    /// probe error), and `rebuild` gets the same ledger back from the stored reports.
    #[tokio::test]
    async fn contractor_logins_accumulate_across_reports() {
        let (_dir, store) = enrolled().await;
        store
            .set_contractor_policy(crate::store::ContractorPolicyRecord {
                org: "o".into(),
                windows: vec!["mon-sun 08:00-18:00".into()],
                time_zone: "Europe/Paris".into(),
                sources: vec!["192.0.2.0/24".into()],
                set_at_ms: 0,
            })
            .await
            .unwrap();
        let night = NOON - 10 * HOUR;
        apply(
            &store,
            "h",
            &[at(accounts_report(&[(night, "192.0.2.7")]), 1, NOON)],
        )
        .await
        .unwrap();
        let (outcome, detail) = acc004(&store, NOON).await;
        assert_eq!(outcome, "fail", "{detail}");
        // The next report has no login: the night one still counts.
        apply(&store, "h", &[at(accounts_report(&[]), 2, NOON + HOUR)])
            .await
            .unwrap();
        let (outcome, detail) = acc004(&store, NOON + HOUR).await;
        assert_eq!(outcome, "fail", "{detail}");
        assert!(detail.contains("1 connexion de prestataire"), "{detail}");
        // An accounts probe error, then a good report with a new daytime login.
        let mut broken = accounts_report(&[]);
        broken.1.domains[0].state = Some(State::Error(vigie_proto::v1::ProbeError {
            code: "AG0160".into(),
            message: "x".into(),
        }));
        apply(&store, "h", &[at(broken, 3, NOON + 2 * HOUR)])
            .await
            .unwrap();
        apply(
            &store,
            "h",
            &[at(
                accounts_report(&[(NOON + 2 * HOUR, "192.0.2.8")]),
                4,
                NOON + 3 * HOUR,
            )],
        )
        .await
        .unwrap();
        let (outcome, detail) = acc004(&store, NOON + 3 * HOUR).await;
        assert_eq!(outcome, "fail", "{detail}");
        assert!(detail.contains("2 connexions de prestataires"), "{detail}");
        // Applying everything again (re-derivation) changes nothing.
        let again = [
            at(accounts_report(&[(night, "192.0.2.7")]), 1, NOON),
            at(
                accounts_report(&[(NOON + 2 * HOUR, "192.0.2.8")]),
                4,
                NOON + 3 * HOUR,
            ),
        ];
        apply(&store, "h", &again).await.unwrap();
        assert_eq!(acc004(&store, NOON + 3 * HOUR).await.1, detail);
        // `rebuild` folds the same ledger from the stored reports (none are stored in this test:
        // the ledger is derived, so it goes with the rest).
        store.clear_derived().await.unwrap();
        assert!(store.latest("h").await.unwrap().is_empty());
    }

    /// Changing an organisation's contractor policy judges its hosts again at once, without a
    /// report (direct mode; inside a server the worker is queued too, see tests/it/contractors.rs).
    #[tokio::test]
    async fn a_contractor_policy_change_judges_the_hosts_again() {
        let (_dir, store) = enrolled().await;
        apply(
            &store,
            "h",
            &[at(
                accounts_report(&[(NOON - 10 * HOUR, "192.0.2.7")]),
                1,
                NOON,
            )],
        )
        .await
        .unwrap();
        let (outcome, _) = acc004(&store, NOON).await;
        assert_eq!(outcome, "unknown");
        let clock = crate::clock::ManualClock(std::sync::atomic::AtomicI64::new(NOON + HOUR));
        let out = crate::admin::execute(
            &store,
            &clock,
            Profile::Standard,
            "uid:0",
            crate::admin::Request::OrgContractorPolicy {
                org: "o".into(),
                windows: vec!["mon-fri 08:00-18:00".into()],
                time_zone: "Europe/Paris".into(),
                sources: vec![],
            },
        )
        .await
        .unwrap();
        assert!(
            out.ends_with("findings of 1 host(s) judged again\n"),
            "{out}"
        );
        let f = store
            .findings(None, Some("h"))
            .await
            .unwrap()
            .into_iter()
            .find(|f| f.check_id == "ACC-004")
            .unwrap();
        assert_eq!(f.outcome.to_string(), "fail", "{}", f.detail);
        assert!(
            f.detail.contains("mer. 25/11/2026 03:00 (Europe/Paris)"),
            "{}",
            f.detail
        );
    }
}
