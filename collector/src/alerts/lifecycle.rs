//! The alert lifecycle as pure functions over the working set of active alerts: no store, no clock,
//! no sink. `engine` feeds it the findings and the time, then commits what it changed.
//!
//! - [`reconcile`]: a failing (or stale) finding with no active alert opens one; a passing one
//!   resolves its alert; an outcome that decides nothing (`unknown`, `error`, no finding) changes
//!   nothing. At most one active alert per (organisation, subject, check): that is the deduplication.
//! - [`emissions`]: notices wait `group_wait` so that every alert of the same check in the same
//!   organisation opened (or resolved) meanwhile goes out in one grouped message; reminders of open,
//!   unacknowledged alerts fall due on their cadence and are grouped the same way.
//! - [`acknowledge`]: a person takes the alert; reminders stop.
//!
//! An alert opened and resolved inside its grouping window is never notified (a flap), and one that
//! fails again before its resolution went out simply stays open.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::alerts::sink::NotificationKind;
use crate::store::{AlertAck, AlertEvent, AlertRecord, AlertState, PendingNotice};

/// History lines kept per alert (the first, its opening, is always kept).
pub const MAX_HISTORY: usize = 200;

/// One finding (or internal condition) as the lifecycle sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    pub org: String,
    pub subject: String,
    pub hostname: String,
    pub check_id: String,
    pub domain: String,
    pub severity: String,
    pub title_fr: String,
    /// `pass`, `fail`, `stale`, `unknown`, `error`, `not_applicable` or `waived`.
    pub outcome: String,
    pub detail: String,
    pub evidence: Vec<(u64, u64)>,
}

/// What an outcome means for an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Judgement {
    Failing,
    Passing,
    /// Decides nothing: the alert (if any) stays as it is.
    Indeterminate,
}

pub fn judge(outcome: &str) -> Judgement {
    match outcome {
        "fail" | "stale" => Judgement::Failing,
        "pass" | "waived" | "not_applicable" => Judgement::Passing,
        _ => Judgement::Indeterminate,
    }
}

/// The history line of a severity rise; the next reminder says so.
pub const ESCALATED: &str = "escalated";

/// Severities in order (unknown strings rank lowest).
pub fn severity_rank(severity: &str) -> u8 {
    match severity {
        "critical" => 3,
        "high" => 2,
        "medium" => 1,
        _ => 0,
    }
}

/// Whether the alert's severity rose since it was last notified or reminded.
pub fn escalated_since_notice(alert: &AlertRecord) -> bool {
    alert
        .history
        .iter()
        .rev()
        .find(|e| matches!(e.what.as_str(), ESCALATED | "notified" | "reminded"))
        .is_some_and(|e| e.what == ESCALATED)
}

/// Appends to an alert's history, keeping the first line and the newest ones.
pub fn push_history(history: &mut Vec<AlertEvent>, event: AlertEvent) {
    history.push(event);
    if history.len() > MAX_HISTORY {
        let excess = history.len() - MAX_HISTORY;
        history.drain(1..=excess);
    }
}

fn note(alert: &mut AlertRecord, at_ms: i64, what: &str, detail: String) {
    alert.updated_at_ms = at_ms;
    push_history(
        &mut alert.history,
        AlertEvent {
            at_ms,
            what: what.to_owned(),
            detail,
        },
    );
}

/// The active alerts, indexed by (organisation, subject, check).
#[derive(Debug, Default)]
pub struct WorkingSet {
    pub alerts: Vec<AlertRecord>,
    index: HashMap<(String, String, String), usize>,
    /// Indexes of alerts changed since the set was built.
    changed: HashSet<usize>,
}

impl WorkingSet {
    pub fn new(alerts: Vec<AlertRecord>) -> WorkingSet {
        let mut set = WorkingSet::default();
        for a in alerts {
            set.insert(a);
        }
        set.changed.clear();
        set
    }

    fn insert(&mut self, alert: AlertRecord) -> usize {
        let key = (
            alert.org.clone(),
            alert.subject.clone(),
            alert.check_id.clone(),
        );
        let i = self.alerts.len();
        self.alerts.push(alert);
        self.index.insert(key, i);
        self.changed.insert(i);
        i
    }

    fn find(&self, org: &str, subject: &str, check: &str) -> Option<usize> {
        self.index
            .get(&(org.to_owned(), subject.to_owned(), check.to_owned()))
            .copied()
    }

    pub fn get_mut(&mut self, id: &str) -> Option<&mut AlertRecord> {
        let i = self.alerts.iter().position(|a| a.id == id)?;
        self.changed.insert(i);
        self.alerts.get_mut(i)
    }

    /// The alerts changed since the set was built (to be committed).
    pub fn changed(&self) -> Vec<AlertRecord> {
        let mut idx: Vec<usize> = self.changed.iter().copied().collect();
        idx.sort_unstable();
        idx.into_iter()
            .filter_map(|i| self.alerts.get(i).cloned())
            .collect()
    }
}

/// Applies the newest observations. `gone` lists (organisation, subject) pairs that no longer
/// exist (revoked host, removed ping job or sink): their alerts resolve. Returns how many alerts
/// were opened and resolved.
pub fn reconcile(
    set: &mut WorkingSet,
    observations: &[Observation],
    gone: &HashSet<(String, String)>,
    now_ms: i64,
    mut new_id: impl FnMut() -> String,
) -> (usize, usize) {
    let (mut opened, mut resolved) = (0, 0);
    for o in observations {
        let existing = set.find(&o.org, &o.subject, &o.check_id);
        match (judge(&o.outcome), existing) {
            (Judgement::Failing, None) => {
                let mut alert = AlertRecord {
                    id: new_id(),
                    org: o.org.clone(),
                    subject: o.subject.clone(),
                    hostname: o.hostname.clone(),
                    check_id: o.check_id.clone(),
                    domain: o.domain.clone(),
                    severity: o.severity.clone(),
                    title_fr: o.title_fr.clone(),
                    outcome: o.outcome.clone(),
                    detail: o.detail.clone(),
                    evidence: o.evidence.clone(),
                    state: AlertState::Open,
                    opened_at_ms: now_ms,
                    updated_at_ms: now_ms,
                    resolved_at_ms: None,
                    ack: None,
                    pending: Some(PendingNotice::Opened),
                    pending_since_ms: now_ms,
                    opening_notified: false,
                    next_reminder_ms: None,
                    reminders: 0,
                    group: None,
                    history: Vec::new(),
                };
                note(
                    &mut alert,
                    now_ms,
                    "opened",
                    format!("{}: {}", o.outcome, o.detail),
                );
                set.insert(alert);
                opened += 1;
            }
            (Judgement::Failing, Some(i)) => {
                let Some(alert) = set.alerts.get_mut(i) else {
                    continue;
                };
                let mut changed = false;
                if alert.state == AlertState::Resolved {
                    // It failed again before its resolution was notified: it never stopped, as far
                    // as anyone was told.
                    alert.state = if alert.ack.is_some() {
                        AlertState::Acked
                    } else {
                        AlertState::Open
                    };
                    alert.resolved_at_ms = None;
                    alert.pending = None;
                    note(
                        alert,
                        now_ms,
                        "reopened",
                        format!("{}: {}", o.outcome, o.detail),
                    );
                    changed = true;
                }
                if severity_rank(&o.severity) > severity_rank(&alert.severity)
                    && alert.opening_notified
                    && alert.state != AlertState::Resolved
                {
                    // Worse than what people were told: tell them now, even if someone took it at
                    // the lower severity (the acknowledgement is lifted, and kept in the history).
                    if let Some(ack) = alert.ack.take() {
                        note(
                            alert,
                            now_ms,
                            "ack-lifted",
                            format!("acquittée par {} à la gravité {}", ack.by, alert.severity),
                        );
                    }
                    alert.state = AlertState::Open;
                    alert.next_reminder_ms = Some(now_ms);
                    note(
                        alert,
                        now_ms,
                        ESCALATED,
                        format!("gravité {} → {}", alert.severity, o.severity),
                    );
                    changed = true;
                }
                if alert.detail != o.detail
                    || alert.outcome != o.outcome
                    || alert.severity != o.severity
                    || alert.hostname != o.hostname
                    || alert.evidence != o.evidence
                {
                    alert.detail = o.detail.clone();
                    alert.outcome = o.outcome.clone();
                    alert.severity = o.severity.clone();
                    alert.hostname = o.hostname.clone();
                    alert.evidence = o.evidence.clone();
                    alert.updated_at_ms = now_ms;
                    changed = true;
                }
                if changed {
                    set.changed.insert(i);
                }
            }
            (Judgement::Passing, Some(i)) => {
                if resolve(set, i, now_ms, &format!("{}: {}", o.outcome, o.detail)) {
                    resolved += 1;
                }
            }
            (Judgement::Passing, None) | (Judgement::Indeterminate, _) => {}
        }
    }
    let gone_idx: Vec<usize> = set
        .alerts
        .iter()
        .enumerate()
        .filter(|(_, a)| {
            a.state != AlertState::Resolved && gone.contains(&(a.org.clone(), a.subject.clone()))
        })
        .map(|(i, _)| i)
        .collect();
    for i in gone_idx {
        if resolve(
            set,
            i,
            now_ms,
            "le sujet n'existe plus (hôte révoqué, tâche ou canal retiré)",
        ) {
            resolved += 1;
        }
    }
    (opened, resolved)
}

/// Resolves alert `i` unless it already is; returns whether it changed.
fn resolve(set: &mut WorkingSet, i: usize, now_ms: i64, detail: &str) -> bool {
    let Some(alert) = set.alerts.get_mut(i) else {
        return false;
    };
    if alert.state == AlertState::Resolved {
        return false;
    }
    alert.state = AlertState::Resolved;
    alert.resolved_at_ms = Some(now_ms);
    alert.next_reminder_ms = None;
    if alert.opening_notified {
        alert.pending = Some(PendingNotice::Resolved);
        alert.pending_since_ms = now_ms;
        note(alert, now_ms, "resolved", detail.to_owned());
    } else {
        // Opened and resolved within the grouping window: nobody was told, nobody needs to be.
        alert.pending = None;
        note(
            alert,
            now_ms,
            "resolved",
            format!("{detail} (avant toute notification)"),
        );
    }
    set.changed.insert(i);
    true
}

/// A notification to send about a group of alerts (one check, one organisation).
#[derive(Debug, Clone)]
pub struct Emission {
    pub kind: NotificationKind,
    pub org: String,
    pub check_id: String,
    /// `g-…`: the group of an opening (reused by its reminders and resolution when they match it).
    pub group: String,
    /// The alerts, as they are after the emission.
    pub alerts: Vec<AlertRecord>,
}

/// The notices due at `now_ms`, applied to the working set. `next_reminder` gives an alert's next
/// reminder time from now (`None`: its severity is never re-notified).
pub fn emissions(
    set: &mut WorkingSet,
    now_ms: i64,
    group_wait_ms: i64,
    next_reminder: impl Fn(&AlertRecord, i64) -> Option<i64>,
    mut new_group: impl FnMut() -> String,
) -> Vec<Emission> {
    // (kind, org, check) → alert indexes, in a stable order.
    let mut groups: BTreeMap<(u8, String, String), Vec<usize>> = BTreeMap::new();
    for (i, a) in set.alerts.iter().enumerate() {
        let kind = match a.pending {
            Some(PendingNotice::Opened) => 0,
            Some(PendingNotice::Resolved) => 2,
            None if a.state == AlertState::Open
                && a.opening_notified
                && a.next_reminder_ms.is_some_and(|t| t <= now_ms) =>
            {
                1
            }
            None => continue,
        };
        groups
            .entry((kind, a.org.clone(), a.check_id.clone()))
            .or_default()
            .push(i);
    }
    let mut out = Vec::new();
    for ((kind, org, check_id), idx) in groups {
        if kind != 1 {
            let oldest = idx
                .iter()
                .filter_map(|&i| set.alerts.get(i))
                .map(|a| a.pending_since_ms)
                .min()
                .unwrap_or(now_ms);
            if oldest.saturating_add(group_wait_ms) > now_ms {
                continue;
            }
        }
        let (notice, what) = match kind {
            0 => (NotificationKind::Opened, "notified"),
            1 => (NotificationKind::Reminder, "reminded"),
            _ => (NotificationKind::Resolved, "notified"),
        };
        // An opening starts a group; a reminder or resolution of alerts that all share one keeps it.
        let shared = idx
            .iter()
            .filter_map(|&i| set.alerts.get(i).and_then(|a| a.group.clone()))
            .collect::<HashSet<_>>();
        let group = match (kind, shared.len(), shared.into_iter().next()) {
            (1 | 2, 1, Some(g)) => g,
            _ => new_group(),
        };
        let n = idx.len();
        let mut alerts = Vec::with_capacity(n);
        for &i in &idx {
            let next = set.alerts.get(i).and_then(|a| next_reminder(a, now_ms));
            let Some(a) = set.alerts.get_mut(i) else {
                continue;
            };
            match kind {
                0 => {
                    a.pending = None;
                    a.opening_notified = true;
                    a.group = Some(group.clone());
                    a.next_reminder_ms = if a.state == AlertState::Open {
                        next
                    } else {
                        None
                    };
                }
                1 => {
                    a.reminders = a.reminders.saturating_add(1);
                    a.next_reminder_ms = next;
                }
                _ => a.pending = None,
            }
            let detail = if n > 1 {
                format!(
                    "{} (groupe {group}, {n} alertes)",
                    crate::alerts::kind_str(notice)
                )
            } else {
                crate::alerts::kind_str(notice).to_owned()
            };
            note(a, now_ms, what, detail);
            set.changed.insert(i);
            alerts.push(a.clone());
        }
        out.push(Emission {
            kind: notice,
            org,
            check_id,
            group,
            alerts,
        });
    }
    out
}

/// Why an acknowledgement was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AckError {
    #[error("alert {0} is already resolved")]
    Resolved(String),
    #[error("alert {0} is already acknowledged")]
    Already(String),
    #[error("a comment is required (why, and who follows it up)")]
    NoComment,
}

/// A person takes the alert: reminders stop; its resolution will still be notified.
pub fn acknowledge(
    alert: &mut AlertRecord,
    by: &str,
    comment: &str,
    now_ms: i64,
) -> Result<(), AckError> {
    let comment = comment.trim();
    if comment.is_empty() {
        return Err(AckError::NoComment);
    }
    match alert.state {
        AlertState::Resolved => return Err(AckError::Resolved(alert.id.clone())),
        AlertState::Acked => return Err(AckError::Already(alert.id.clone())),
        AlertState::Open => {}
    }
    alert.state = AlertState::Acked;
    alert.next_reminder_ms = None;
    alert.ack = Some(AlertAck {
        at_ms: now_ms,
        by: by.to_owned(),
        comment: comment.to_owned(),
    });
    note(alert, now_ms, "acknowledged", format!("{by}: {comment}"));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(subject: &str, check: &str, outcome: &str) -> Observation {
        Observation {
            org: "mairie".into(),
            subject: subject.into(),
            hostname: format!("{subject}.local"),
            check_id: check.into(),
            domain: "backups".into(),
            severity: "critical".into(),
            title_fr: "Sauvegarde".into(),
            outcome: outcome.into(),
            detail: format!("{outcome} detail"),
            evidence: vec![(1, 2)],
        }
    }

    struct Ids(u32);
    impl Ids {
        fn next(&mut self, p: &str) -> String {
            self.0 += 1;
            format!("{p}-{}", self.0)
        }
    }

    const WAIT: i64 = 60_000;
    const DAY: i64 = 86_400_000;

    fn emit(set: &mut WorkingSet, now: i64, ids: &mut Ids) -> Vec<(NotificationKind, usize)> {
        emissions(set, now, WAIT, |_, t| Some(t + DAY), || ids.next("g"))
            .into_iter()
            .map(|e| (e.kind, e.alerts.len()))
            .collect()
    }

    #[test]
    fn fifty_hosts_one_message_then_one_resolution() {
        let mut set = WorkingSet::new(vec![]);
        let mut ids = Ids(0);
        let none = HashSet::new();
        let failing: Vec<Observation> = (0..50)
            .map(|i| obs(&format!("h{i}"), "BKP-001", "fail"))
            .collect();
        assert_eq!(
            reconcile(&mut set, &failing, &none, 0, || ids.next("a")),
            (50, 0)
        );
        // The same observations again: deduplicated.
        assert_eq!(
            reconcile(&mut set, &failing, &none, 1000, || ids.next("a")),
            (0, 0)
        );
        assert_eq!(set.alerts.len(), 50);
        assert!(
            emit(&mut set, WAIT - 1, &mut ids).is_empty(),
            "still grouping"
        );
        assert_eq!(
            emit(&mut set, WAIT, &mut ids),
            [(NotificationKind::Opened, 50)]
        );
        assert!(emit(&mut set, WAIT + 1, &mut ids).is_empty(), "sent once");
        // All 50 pass again → one resolution.
        let passing: Vec<Observation> = (0..50)
            .map(|i| obs(&format!("h{i}"), "BKP-001", "pass"))
            .collect();
        assert_eq!(
            reconcile(&mut set, &passing, &none, 2 * WAIT, || ids.next("a")),
            (0, 50)
        );
        assert_eq!(
            emit(&mut set, 3 * WAIT, &mut ids),
            [(NotificationKind::Resolved, 50)]
        );
        assert!(set.alerts.iter().all(|a| !a.is_active()));
        let group = set.alerts[0].group.clone().unwrap();
        assert!(group.starts_with("g-"));
        assert!(set.alerts.iter().all(|a| a.group.as_ref() == Some(&group)));
    }

    #[test]
    fn flaps_and_indeterminate_outcomes() {
        let mut set = WorkingSet::new(vec![]);
        let mut ids = Ids(0);
        let none = HashSet::new();
        reconcile(&mut set, &[obs("h", "AV-001", "stale")], &none, 0, || {
            ids.next("a")
        });
        // Unknown and error decide nothing.
        reconcile(
            &mut set,
            &[obs("h", "AV-001", "unknown")],
            &none,
            10,
            || ids.next("a"),
        );
        reconcile(&mut set, &[obs("h", "AV-001", "error")], &none, 20, || {
            ids.next("a")
        });
        assert_eq!(set.alerts[0].state, AlertState::Open);
        // Passes within the window: resolved silently.
        reconcile(&mut set, &[obs("h", "AV-001", "pass")], &none, 30, || {
            ids.next("a")
        });
        assert!(emit(&mut set, WAIT * 2, &mut ids).is_empty());
        assert!(!set.alerts[0].is_active());
        // Notified, resolved, failing again before the resolution went out: stays open, no notice.
        let mut set = WorkingSet::new(vec![]);
        reconcile(&mut set, &[obs("h", "AV-001", "fail")], &none, 0, || {
            ids.next("a")
        });
        assert_eq!(emit(&mut set, WAIT, &mut ids).len(), 1);
        reconcile(
            &mut set,
            &[obs("h", "AV-001", "pass")],
            &none,
            WAIT + 1,
            || ids.next("a"),
        );
        reconcile(
            &mut set,
            &[obs("h", "AV-001", "fail")],
            &none,
            WAIT + 2,
            || ids.next("a"),
        );
        assert_eq!(set.alerts[0].state, AlertState::Open);
        assert!(emit(&mut set, WAIT * 3, &mut ids).is_empty());
    }

    #[test]
    fn reminders_ack_and_gone_subjects() {
        let mut set = WorkingSet::new(vec![]);
        let mut ids = Ids(0);
        let none = HashSet::new();
        reconcile(&mut set, &[obs("h", "BKP-001", "fail")], &none, 0, || {
            ids.next("a")
        });
        emit(&mut set, WAIT, &mut ids);
        assert_eq!(set.alerts[0].next_reminder_ms, Some(WAIT + DAY));
        assert!(emit(&mut set, WAIT + DAY - 1, &mut ids).is_empty());
        assert_eq!(
            emit(&mut set, WAIT + DAY, &mut ids),
            [(NotificationKind::Reminder, 1)]
        );
        let id = set.alerts[0].id.clone();
        let a = set.get_mut(&id).unwrap();
        assert_eq!(acknowledge(a, "uid:0", " ", 5), Err(AckError::NoComment));
        acknowledge(a, "uid:0", "je m'en occupe", 5).unwrap();
        assert!(acknowledge(a, "uid:0", "encore", 6).is_err());
        assert!(
            emit(&mut set, 10 * DAY, &mut ids).is_empty(),
            "no reminder once acked"
        );
        let gone: HashSet<_> = [("mairie".to_owned(), "h".to_owned())].into();
        assert_eq!(
            reconcile(&mut set, &[], &gone, 11 * DAY, || ids.next("a")),
            (0, 1)
        );
        assert_eq!(
            emit(&mut set, 12 * DAY, &mut ids),
            [(NotificationKind::Resolved, 1)]
        );
        let history: Vec<&str> = set.alerts[0]
            .history
            .iter()
            .map(|e| e.what.as_str())
            .collect();
        assert_eq!(
            history,
            [
                "opened",
                "notified",
                "reminded",
                "acknowledged",
                "resolved",
                "notified"
            ]
        );
    }

    #[test]
    fn a_severity_rise_is_told_at_once_even_when_acknowledged() {
        let mut set = WorkingSet::new(vec![]);
        let mut ids = Ids(0);
        let none = HashSet::new();
        let at = |severity: &str| Observation {
            severity: severity.into(),
            ..obs("h", "FIM-002", "fail")
        };
        reconcile(&mut set, &[at("low")], &none, 0, || ids.next("a"));
        assert_eq!(
            emit(&mut set, WAIT, &mut ids),
            [(NotificationKind::Opened, 1)]
        );
        let id = set.alerts[0].id.clone();
        acknowledge(set.get_mut(&id).unwrap(), "uid:0", "vu", WAIT + 1).unwrap();
        // Same or lower severity: nothing new to say.
        reconcile(&mut set, &[at("low")], &none, WAIT + 2, || ids.next("a"));
        assert!(emit(&mut set, WAIT + 3, &mut ids).is_empty());
        assert!(!escalated_since_notice(&set.alerts[0]));
        // Higher: the acknowledgement is lifted and a notice goes out now, saying so.
        reconcile(&mut set, &[at("high")], &none, WAIT + 4, || ids.next("a"));
        assert_eq!(set.alerts[0].state, AlertState::Open);
        assert!(set.alerts[0].ack.is_none());
        assert!(escalated_since_notice(&set.alerts[0]));
        assert_eq!(
            emit(&mut set, WAIT + 4, &mut ids),
            [(NotificationKind::Reminder, 1)]
        );
        assert!(!escalated_since_notice(&set.alerts[0]));
        assert_eq!(set.alerts[0].severity, "high");
        // Back down and up again within the same severity: no further notice.
        reconcile(&mut set, &[at("high")], &none, WAIT + 5, || ids.next("a"));
        assert!(emit(&mut set, WAIT + 6, &mut ids).is_empty());
    }

    #[test]
    fn history_is_bounded_and_keeps_the_opening() {
        let mut h = vec![AlertEvent {
            at_ms: 0,
            what: "opened".into(),
            detail: String::new(),
        }];
        for i in 1..500 {
            push_history(
                &mut h,
                AlertEvent {
                    at_ms: i,
                    what: "x".into(),
                    detail: String::new(),
                },
            );
        }
        assert_eq!(h.len(), MAX_HISTORY);
        assert_eq!(h[0].what, "opened");
        assert_eq!(h.last().unwrap().at_ms, 499);
    }
}
