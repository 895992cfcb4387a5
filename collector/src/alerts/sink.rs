//! The contract between the alert dispatcher and each sink: what a sink is given and how it fails.
//!
//! A sink makes one delivery attempt with its own deadlines and says whether a retry may help; the
//! dispatcher owns the durable queue, the retries with backoff and the bookkeeping of failures.

use std::time::SystemTime;

use vigie_policies::Severity;

/// Why a notification is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotificationKind {
    /// A finding (or a group of findings) went from passing to failing or stale.
    Opened,
    /// Still open after the severity's re-notification cadence.
    Reminder,
    /// A person acknowledged the alert.
    Acknowledged,
    /// The finding passes again.
    Resolved,
    /// The organisation's daily digest.
    Digest,
    /// `alerts test`: proves a sink works.
    Test,
}

/// One message, already rendered, for one organisation.
///
/// Every text field was built from hostile host data: `subject` is one line with control characters
/// removed, `text` has control characters other than newline removed, `html` is escaped. A sink must
/// still escape for its own format (syslog structured data, JSON is produced by serde).
#[derive(Clone, Debug)]
pub struct Notification {
    /// Stable for one transition of one alert (or one digest): receivers deduplicate on it, which is
    /// what turns at-least-once delivery into exactly-once where the sink allows.
    pub key: String,
    pub org: String,
    pub kind: NotificationKind,
    pub severity: Severity,
    pub subject: String,
    pub text: String,
    pub html: Option<String>,
    /// The documented JSON document for webhooks (schema in `docs/alerts-webhook.md`).
    pub event: serde_json::Value,
    pub occurred_at: SystemTime,
}

/// What went wrong with one delivery attempt.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// Worth retrying later: timeout, connection refused, 5xx, 4xx temporary SMTP reply.
    #[error("temporary failure: {0}")]
    Transient(String),
    /// Retrying cannot help until the configuration changes: authentication refused, address refused
    /// by policy, 4xx HTTP other than 408/429, permanent SMTP reply.
    #[error("permanent failure: {0}")]
    Permanent(String),
}

/// A destination for notifications.
#[async_trait::async_trait]
pub trait Sink: Send + Sync {
    /// The sink's name as configured, for logs, metrics and `alerts test`.
    fn name(&self) -> &str;
    /// One delivery attempt, bounded in time by the sink itself.
    async fn deliver(&self, notification: &Notification) -> Result<(), SinkError>;
}
