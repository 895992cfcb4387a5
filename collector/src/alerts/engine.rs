//! One step of the alerting, against the store: read the findings (and the sinks' health), run the
//! lifecycle, render what is due, route it to the organisation's sinks and commit the alerts, their
//! outbox entries and the digest marks in one atomic write. Acknowledgements go through here too.
//!
//! Every read-modify-write of alerts (a step, an acknowledgement, a delivery's history line) holds
//! [`ALERTS_LOCK`]: the admin socket and the dispatcher run in the same process as the engine, and
//! without a server the command line owns the store alone, so a process-wide lock is enough.

use jiff::tz::TimeZone;
use rand::RngCore;
use std::collections::{BTreeMap, HashMap, HashSet};
use vigie_policies::{Catalogue, Severity};

use super::config::{AlertSettings, SinkSpec};
use super::lifecycle::{self, Emission, Observation, WorkingSet};
use super::render::{self, CheckInfo, DigestContent, SINK_CHECK};
use super::schedule::{self, DigestDue};
use super::sink::NotificationKind;
use crate::store::{
    AlertCommit, AlertRecord, AlertState, AuditEntry, DigestMark, NotificationRecord, OutboxEntry,
    Store, StoreError,
};

/// Security-event kind recorded at ingest when an agent reports reports dropped from its outbox.
pub const OUTBOX_DROPPED: &str = "outbox_dropped";
/// How long a drop keeps its alert (ALR-002) open: it is an event, told once by the agent.
const DROP_WINDOW_MS: i64 = 24 * 3_600_000;

/// Serialises every read-modify-write of alerts in this process.
pub static ALERTS_LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Errors of the alerting outside the store's.
#[derive(Debug, thiserror::Error)]
pub enum AlertError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("no active alert or group {0:?}")]
    NoSuchAlert(String),
    #[error(transparent)]
    Ack(#[from] lifecycle::AckError),
    #[error("the check catalogue does not load: {0}")]
    Catalogue(String),
}

/// A random id: `prefix-` and 16 hex digits.
pub fn new_id(prefix: &str) -> String {
    let mut bytes = [0u8; 8];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("{prefix}-{}", hex::encode(bytes))
}

/// What a step did, for logs and tests.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct StepSummary {
    pub opened: usize,
    pub resolved: usize,
    /// Notifications emitted (each may go to several sinks).
    pub notifications: usize,
    pub outbox_entries: usize,
    pub digests: usize,
}

/// The alerting's settings and the catalogue; the store and the time are arguments.
pub struct Engine {
    pub settings: AlertSettings,
    catalogue: Catalogue,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").finish_non_exhaustive()
    }
}

impl Engine {
    pub fn new(settings: AlertSettings) -> Result<Engine, AlertError> {
        let catalogue = Catalogue::builtin().map_err(|e| AlertError::Catalogue(e.to_string()))?;
        Ok(Engine {
            settings,
            catalogue,
        })
    }

    /// The sinks a notification goes to. A failing sink's own alert never goes to that sink.
    pub fn route(
        &self,
        org: &str,
        severity: &str,
        domain: &str,
        subjects: &[&str],
    ) -> Vec<&SinkSpec> {
        let severity = severity.parse().unwrap_or(Severity::Low);
        self.settings
            .sinks
            .iter()
            .filter(|s| s.routes(org, severity, domain))
            .filter(|s| {
                !subjects
                    .iter()
                    .any(|subj| subj.strip_prefix("sink:") == Some(s.name.as_str()))
            })
            .collect()
    }

    /// The organisation's zone: `[[alerts.org]]`, else its contractor policy's, else the default.
    pub async fn zone(&self, store: &dyn Store, org: &str) -> TimeZone {
        if let Some(tz) = self
            .settings
            .orgs
            .get(org)
            .and_then(|o| o.time_zone.clone())
        {
            return tz;
        }
        if let Ok(Some(policy)) = store.contractor_policy(org).await {
            if let Ok(tz) = TimeZone::get(policy.time_zone.trim()) {
                return tz;
            }
        }
        self.settings.default_time_zone.clone()
    }

    fn digest_hour(&self, org: &str) -> i8 {
        self.settings
            .orgs
            .get(org)
            .and_then(|o| o.digest_hour)
            .unwrap_or(self.settings.digest_hour)
    }

    fn reminder_at(&self, alert: &AlertRecord, now_ms: i64, tz: &TimeZone) -> Option<i64> {
        let i = usize::from(crate::alerts::lifecycle::severity_rank(&alert.severity));
        let cadence = (*self.settings.remind.get(i)?)?;
        schedule::add_cadence(now_ms, cadence, tz)
    }

    /// The findings as observations, plus the failing sinks, and the subjects that are gone.
    async fn observe(
        &self,
        store: &dyn Store,
        now: i64,
        active: &[AlertRecord],
    ) -> Result<(Vec<Observation>, HashSet<(String, String)>), StoreError> {
        let mut observations: Vec<Observation> = store
            .findings(None, None)
            .await?
            .into_iter()
            .map(|f| Observation {
                domain: self
                    .catalogue
                    .get(&f.check_id)
                    .map(|c| c.domain().as_str().to_owned())
                    .unwrap_or_default(),
                org: f.org.into(),
                subject: f.host_id.into(),
                hostname: f.hostname.into(),
                check_id: f.check_id.into(),
                severity: f.severity.into(),
                title_fr: f.title_fr.into(),
                outcome: f.outcome.into(),
                detail: f.detail,
                evidence: f.evidence,
            })
            .collect();
        let health: HashMap<String, crate::store::SinkHealth> = store
            .sink_health()
            .await?
            .into_iter()
            .map(|h| (h.sink.clone(), h))
            .collect();
        for spec in &self.settings.sinks {
            if spec.org == "*" {
                continue;
            }
            let Some(h) = health.get(&spec.name) else {
                continue;
            };
            let failing = h.consecutive_failures >= self.settings.sink_failure_threshold;
            observations.push(Observation {
                org: spec.org.clone(),
                subject: format!("sink:{}", spec.name),
                hostname: format!("canal {} ({})", spec.name, spec.kind.as_str()),
                check_id: SINK_CHECK.into(),
                domain: "alerts".into(),
                severity: "high".into(),
                title_fr: "Canal d'alerte en échec".into(),
                outcome: if failing { "fail" } else { "pass" }.into(),
                detail: if failing {
                    format!(
                        "{} échecs consécutifs ; dernière erreur : {}",
                        h.consecutive_failures, h.last_error
                    )
                } else {
                    "le canal fonctionne".into()
                },
                evidence: Vec::new(),
            });
        }
        // Dead man's switch for lost evidence: an agent whose full outbox dropped reports.
        // FIXME: one read per host per reconciliation; an AGT check in the catalogue reading a host
        // fact would scale better.
        for host in store.hosts(None).await? {
            if host.revoked.is_some() || host.last_seen_ms == 0 {
                continue;
            }
            let drops: Vec<crate::store::SecurityEvent> = store
                .security_events(&host.id)
                .await?
                .into_iter()
                .filter(|e| e.kind == OUTBOX_DROPPED && e.at_ms >= now - DROP_WINDOW_MS)
                .collect();
            observations.push(Observation {
                org: host.org.clone(),
                subject: host.id.clone(),
                hostname: host.hostname.clone(),
                check_id: render::DROP_CHECK.into(),
                domain: "agent".into(),
                severity: "high".into(),
                title_fr: "Rapports perdus par l'agent".into(),
                outcome: if drops.is_empty() { "pass" } else { "fail" }.into(),
                detail: match drops.last() {
                    Some(e) => e.detail.clone(),
                    None => "aucun rapport perdu ces dernières 24 h".into(),
                },
                evidence: Vec::new(),
            });
        }
        // Subjects of active alerts that no longer exist resolve.
        let mut gone = HashSet::new();
        let subjects: HashSet<(String, String)> = active
            .iter()
            .filter(|a| a.state != AlertState::Resolved)
            .map(|a| (a.org.clone(), a.subject.clone()))
            .collect();
        if !subjects.is_empty() {
            let hosts: HashMap<String, bool> = store
                .hosts(None)
                .await?
                .into_iter()
                .map(|h| (h.id, h.revoked.is_none()))
                .collect();
            let jobs: HashSet<(String, String)> = store
                .ping_jobs(None)
                .await?
                .into_iter()
                .map(|j| (j.org.clone(), j.pseudo_host()))
                .collect();
            for (org, subject) in subjects {
                let exists = if let Some(name) = subject.strip_prefix("sink:") {
                    self.settings
                        .sinks
                        .iter()
                        .any(|s| s.name == name && s.org == org)
                } else if subject.starts_with("ping:") {
                    jobs.contains(&(org.clone(), subject.clone()))
                } else {
                    hosts.get(&subject).copied().unwrap_or(false)
                };
                if !exists {
                    gone.insert((org, subject));
                }
            }
        }
        Ok((observations, gone))
    }

    /// Renders `kind` about `alerts` and queues it for every routed sink.
    fn queue(&self, commit: &mut AlertCommit, e: &Emission, tz: &TimeZone, now_ms: i64) -> usize {
        let (kind, org, group, alerts) = (e.kind, e.org.as_str(), e.group.as_str(), &e.alerts);
        let Some(first) = alerts.first() else {
            return 0;
        };
        let check = CheckInfo::lookup(&self.catalogue, first);
        let key = new_id("n");
        let record =
            render::alerts_notification(&key, kind, org, group, alerts, &check, tz, now_ms);
        let subjects: Vec<&str> = alerts.iter().map(|a| a.subject.as_str()).collect();
        let sinks = self.route(org, &record.severity, &check.domain, &subjects);
        if sinks.is_empty() {
            tracing::debug!(org, check = %check.id, "No sink routes this alert.");
        }
        let n = sinks.len();
        for sink in sinks {
            commit
                .outbox
                .push(entry(&sink.name, record.clone(), now_ms));
        }
        n
    }

    /// One step at the engine's clock. `reconcile`: also read the findings (costly on a large
    /// fleet, so the service does it at the re-evaluation interval, and emissions every second).
    pub async fn step(
        &self,
        store: &dyn Store,
        now: i64,
        reconcile: bool,
    ) -> Result<StepSummary, StoreError> {
        let _guard = ALERTS_LOCK.lock().await;
        let mut summary = StepSummary::default();
        let active = store.active_alerts().await?;
        let mut zones: BTreeMap<String, TimeZone> = BTreeMap::new();
        let mut set = WorkingSet::new(active);
        if reconcile {
            let (observations, gone) = self.observe(store, now, &set.alerts).await?;
            let (o, r) = lifecycle::reconcile(&mut set, &observations, &gone, now, || new_id("a"));
            summary.opened = o;
            summary.resolved = r;
        }
        for a in &set.alerts {
            if !zones.contains_key(&a.org) {
                let tz = self.zone(store, &a.org).await;
                zones.insert(a.org.clone(), tz);
            }
        }
        let emitted = lifecycle::emissions(
            &mut set,
            now,
            self.settings.group_wait_ms,
            |a, t| {
                let tz = zones.get(&a.org).cloned().unwrap_or(TimeZone::UTC);
                self.reminder_at(a, t, &tz)
            },
            || new_id("g"),
        );
        let mut commit = AlertCommit::default();
        for e in &emitted {
            let tz = zones.get(&e.org).cloned().unwrap_or(TimeZone::UTC);
            summary.outbox_entries += self.queue(&mut commit, e, &tz, now);
            summary.notifications += 1;
        }
        commit.alerts = set.changed();
        summary.digests = self.digests(store, &mut commit, now).await?;
        summary.outbox_entries += commit
            .outbox
            .iter()
            .filter(|e| e.notification.kind == NotificationKind::Digest)
            .count();
        if !commit.is_empty() {
            store.commit_alerts(commit).await?;
        }
        if summary.opened + summary.resolved + summary.notifications + summary.digests > 0 {
            tracing::info!(
                opened = summary.opened,
                resolved = summary.resolved,
                notifications = summary.notifications,
                outbox = summary.outbox_entries,
                digests = summary.digests,
                "Alerts updated."
            );
        }
        Ok(summary)
    }

    /// Daily digests due now, added to `commit`; returns how many were emitted.
    async fn digests(
        &self,
        store: &dyn Store,
        commit: &mut AlertCommit,
        now: i64,
    ) -> Result<usize, StoreError> {
        let marks: HashMap<String, DigestMark> = store
            .digest_marks()
            .await?
            .into_iter()
            .map(|m| (m.org.clone(), m))
            .collect();
        let mut sent = 0;
        for org in store.orgs().await? {
            let tz = self.zone(store, &org.id).await;
            let last = marks.get(&org.id);
            match schedule::digest_due(
                now,
                &tz,
                self.digest_hour(&org.id),
                last.map(|m| m.local_date.as_str()),
            ) {
                DigestDue::No => {}
                DigestDue::Init { date } => commit.digests.push(DigestMark {
                    org: org.id.clone(),
                    local_date: date,
                    at_ms: now,
                }),
                DigestDue::Send { date } => {
                    let since = last.map_or(now - 86_400_000, |m| m.at_ms);
                    let content = self.digest_content(store, &org.id, since, commit).await?;
                    let key = format!("digest-{}-{date}", org.id);
                    let record =
                        render::digest_notification(&key, &org.id, &date, &content, &tz, now);
                    for sink in self
                        .settings
                        .sinks
                        .iter()
                        .filter(|s| s.digest && (s.org == "*" || s.org == org.id))
                    {
                        commit.outbox.push(entry(&sink.name, record.clone(), now));
                    }
                    commit.digests.push(DigestMark {
                        org: org.id.clone(),
                        local_date: date,
                        at_ms: now,
                    });
                    sent += 1;
                }
            }
        }
        Ok(sent)
    }

    /// What an organisation's digest reports since `since_ms`, counting this step's changes.
    async fn digest_content(
        &self,
        store: &dyn Store,
        org: &str,
        since_ms: i64,
        commit: &AlertCommit,
    ) -> Result<DigestContent, StoreError> {
        let mut by_id: BTreeMap<String, AlertRecord> = store
            .alerts(Some(org))
            .await?
            .into_iter()
            .map(|a| (a.id.clone(), a))
            .collect();
        for a in commit.alerts.iter().filter(|a| a.org == org) {
            by_id.insert(a.id.clone(), a.clone());
        }
        let mut content = DigestContent::default();
        let mut all: Vec<AlertRecord> = by_id.into_values().collect();
        all.sort_by(|a, b| (&a.severity, a.opened_at_ms).cmp(&(&b.severity, b.opened_at_ms)));
        for a in all {
            if a.state != AlertState::Resolved {
                content.open.push(a.clone());
            }
            if a.opened_at_ms >= since_ms {
                content.opened.push(a.clone());
            }
            if a.ack.as_ref().is_some_and(|k| k.at_ms >= since_ms) {
                content.acknowledged.push(a.clone());
            }
            if a.resolved_at_ms.is_some_and(|r| r >= since_ms) {
                content.resolved.push(a);
            }
        }
        Ok(content)
    }

    /// Acknowledges one alert, or every open alert of a group (`g-…`), on the record: the audit
    /// trail gets the act in the same commit, and the organisation's sinks are told.
    pub async fn acknowledge(
        &self,
        store: &dyn Store,
        now: i64,
        id: &str,
        actor: &str,
        comment: &str,
    ) -> Result<Vec<AlertRecord>, AlertError> {
        let _guard = ALERTS_LOCK.lock().await;
        let mut set = WorkingSet::new(store.active_alerts().await?);
        let targets: Vec<String> = set
            .alerts
            .iter()
            .filter(|a| {
                a.id == id || (a.group.as_deref() == Some(id) && a.state == AlertState::Open)
            })
            .map(|a| a.id.clone())
            .collect();
        if targets.is_empty() {
            // A resolved alert is no longer active: say so rather than "unknown".
            if let Some(a) = store.alerts(None).await?.into_iter().find(|a| a.id == id) {
                return Err(lifecycle::AckError::Resolved(a.id).into());
            }
            return Err(AlertError::NoSuchAlert(id.to_owned()));
        }
        let mut acked = Vec::new();
        for t in &targets {
            if let Some(a) = set.get_mut(t) {
                lifecycle::acknowledge(a, actor, comment, now)?;
                acked.push(a.clone());
            }
        }
        let mut commit = AlertCommit {
            alerts: set.changed(),
            ..AlertCommit::default()
        };
        // One notice per (organisation, check) among the alerts whose opening went out.
        let mut groups: BTreeMap<(String, String), Vec<AlertRecord>> = BTreeMap::new();
        for a in acked.iter().filter(|a| a.opening_notified) {
            groups
                .entry((a.org.clone(), a.check_id.clone()))
                .or_default()
                .push(a.clone());
        }
        for ((org, check_id), alerts) in groups {
            let tz = self.zone(store, &org).await;
            let group = alerts
                .first()
                .and_then(|a| a.group.clone())
                .unwrap_or_else(|| id.to_owned());
            let notice = Emission {
                kind: NotificationKind::Acknowledged,
                org,
                check_id,
                group,
                alerts,
            };
            self.queue(&mut commit, &notice, &tz, now);
        }
        for a in &acked {
            commit.audit.push(AuditEntry {
                at_ms: now,
                actor: actor.to_owned(),
                action: "alert.ack".into(),
                org: Some(a.org.clone()),
                detail: format!(
                    "{} {} on {}: {}",
                    a.id,
                    a.check_id,
                    a.subject,
                    comment.trim()
                ),
            });
        }
        store.commit_alerts(commit).await?;
        tracing::info!(target: "security", actor, alert = id, count = acked.len(), "Alert acknowledged.");
        Ok(acked)
    }
}

/// A new outbox entry for `sink`, due now.
pub fn entry(sink: &str, notification: NotificationRecord, now_ms: i64) -> OutboxEntry {
    OutboxEntry {
        seq: 0,
        sink: sink.to_owned(),
        notification,
        created_at_ms: now_ms,
        attempts: 0,
        next_attempt_ms: now_ms,
        last_error: String::new(),
        last_permanent: false,
    }
}
