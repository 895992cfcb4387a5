//! Alerts as the store keeps them (issue 6): each alert with its history, the per-sink outbox of
//! notifications waiting for delivery, each sink's health counters and each organisation's last daily
//! digest. Plain records, scoped by organisation; the lifecycle that writes them is in
//! `crate::alerts`.
//!
//! A transition and the outbox entries it causes are written in one [`AlertCommit`], atomically: after
//! a crash either both exist or neither does, so a transition is never lost and never notified twice
//! under two different keys.

use serde::{Deserialize, Serialize};

use super::AuditEntry;
use crate::alerts::sink::NotificationKind;

/// Where an alert stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertState {
    /// Failing (or stale), nobody has acknowledged it.
    Open,
    /// Still failing; a person acknowledged it, so reminders stop.
    Acked,
    /// The finding passes again (or its subject is gone).
    Resolved,
}

impl AlertState {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Open => "open",
            AlertState::Acked => "acked",
            AlertState::Resolved => "resolved",
        }
    }
}

/// A notification decided but not yet emitted: it waits for the grouping window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PendingNotice {
    Opened,
    Resolved,
}

/// Who acknowledged an alert, when, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertAck {
    pub at_ms: i64,
    /// The admin actor (`uid:N`), as in the audit trail.
    pub by: String,
    pub comment: String,
}

/// One line of an alert's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertEvent {
    pub at_ms: i64,
    /// e.g. `opened`, `notified`, `delivered`, `acknowledged`, `resolved`.
    pub what: String,
    pub detail: String,
}

/// One alert: one failing check on one subject (host, ping job or sink) of one organisation. At most
/// one alert per (organisation, subject, check) is active at a time: that is the deduplication.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertRecord {
    /// `a-` followed by 16 hex digits.
    pub id: String,
    pub org: String,
    /// Host id, `ping:<job>` or `sink:<name>`.
    pub subject: String,
    /// The host's self-declared name (hostile text), or the subject when there is none.
    pub hostname: String,
    pub check_id: String,
    /// Catalogue domain (`backups`, `agent`, …) or `alerts` for a failing sink.
    pub domain: String,
    /// `low`, `medium`, `high` or `critical`: the finding's, possibly graded by its rule.
    pub severity: String,
    pub title_fr: String,
    /// The newest failing outcome (`fail` or `stale`).
    pub outcome: String,
    /// The newest finding detail (hostile text: it quotes evidence).
    pub detail: String,
    /// (epoch, seq) of the reports the newest finding rests on.
    pub evidence: Vec<(u64, u64)>,
    pub state: AlertState,
    pub opened_at_ms: i64,
    pub updated_at_ms: i64,
    pub resolved_at_ms: Option<i64>,
    pub ack: Option<AlertAck>,
    /// A notification waiting for the end of its grouping window.
    pub pending: Option<PendingNotice>,
    pub pending_since_ms: i64,
    /// The opening was notified (so a resolution must be notified too).
    pub opening_notified: bool,
    /// When the next reminder is due while the alert stays open and unacknowledged.
    pub next_reminder_ms: Option<i64>,
    pub reminders: u32,
    /// The notification group the opening went out in (`g-…`); `alerts ack` accepts it.
    pub group: Option<String>,
    /// Oldest first, bounded (see `crate::alerts::lifecycle::MAX_HISTORY`).
    pub history: Vec<AlertEvent>,
}

impl AlertRecord {
    /// Still part of the lifecycle's working set: not resolved, or resolved with its resolution
    /// notice not yet emitted.
    pub fn is_active(&self) -> bool {
        self.state != AlertState::Resolved || self.pending.is_some()
    }
}

/// A rendered notification as queued: the fields of `crate::alerts::sink::Notification`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationRecord {
    /// The idempotency key, the same for every sink and every retry.
    pub key: String,
    pub org: String,
    pub kind: NotificationKind,
    pub severity: String,
    pub subject: String,
    pub text: String,
    pub html: Option<String>,
    /// The JSON `event` document, as text.
    pub event: String,
    pub occurred_at_ms: i64,
    /// The alerts it is about (empty for digests and tests), for their history.
    pub alert_ids: Vec<String>,
}

/// One notification waiting for one sink.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxEntry {
    /// Assigned by the store when the entry is committed (0 before); increasing per sink.
    pub seq: u64,
    pub sink: String,
    pub notification: NotificationRecord,
    pub created_at_ms: i64,
    pub attempts: u32,
    /// Not before this time (backoff).
    pub next_attempt_ms: i64,
    pub last_error: String,
    /// The last failure was permanent (a transient one means the sink itself is down).
    #[serde(default)]
    pub last_permanent: bool,
}

/// Delivery counters of one sink, kept across restarts (`alerts sinks`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SinkHealth {
    pub sink: String,
    pub org: String,
    pub delivered: u64,
    pub failures: u64,
    pub consecutive_failures: u32,
    /// Entries given up after the retry horizon.
    pub abandoned: u64,
    pub last_success_ms: i64,
    pub last_failure_ms: i64,
    pub last_error: String,
}

/// The newest daily digest of an organisation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DigestMark {
    pub org: String,
    /// Local date (`YYYY-MM-DD` in the organisation's zone) of the newest digest.
    pub local_date: String,
    pub at_ms: i64,
}

/// One atomic step of the alert lifecycle.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlertCommit {
    /// Alerts created or changed; the active index follows [`AlertRecord::is_active`].
    pub alerts: Vec<AlertRecord>,
    /// New outbox entries (their `seq` is assigned by the store).
    pub outbox: Vec<OutboxEntry>,
    pub digests: Vec<DigestMark>,
    /// Appended to the audit trail in the same commit (acknowledgements).
    pub audit: Vec<AuditEntry>,
}

impl AlertCommit {
    pub fn is_empty(&self) -> bool {
        self.alerts.is_empty()
            && self.outbox.is_empty()
            && self.digests.is_empty()
            && self.audit.is_empty()
    }
}

/// What became of one delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryResult {
    /// The sink acknowledged: the entry is removed and the alerts' history says so.
    Delivered,
    /// Failed; try again at `next_attempt_ms`.
    Retry {
        error: String,
        next_attempt_ms: i64,
        permanent: bool,
    },
    /// Failed past the retry horizon: the entry is removed and counted as abandoned.
    Abandoned { error: String },
}

/// One delivery attempt's outcome for `Store::record_delivery`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub sink: String,
    /// The sink's organisation (`*` for an operator-wide sink), for its health record.
    pub sink_org: String,
    pub seq: u64,
    pub at_ms: i64,
    pub result: DeliveryResult,
}
