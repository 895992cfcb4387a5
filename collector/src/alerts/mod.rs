//! Alerts: the lifecycle driven by finding transitions, their durable queue, and the sinks that deliver them.
//!
//! - `config`: the `[alerts]` section (grouping, cadences, digest, retries, sinks and routing);
//! - `lifecycle`: the pure state machine (open, remind, acknowledge, resolve, group);
//! - `schedule`: time in the organisation's zone (cadences, digest hour);
//! - `render`: French subject, text, HTML and the JSON event, hostile text neutralised;
//! - `engine`: one step against the store (findings → transitions → outbox, atomically), digests,
//!   acknowledgements;
//! - `dispatch`: one delivery worker per sink, backoff with jitter, health counters;
//! - `service`: the tasks inside `serve`; `admin`: `alerts list|ack|test|sinks`;
//! - `sink`: the contract every sink implements; `email`: SMTP; `sinks`: webhook and syslog.

pub mod admin;
pub mod config;
pub mod dispatch;
pub mod email;
pub mod engine;
pub mod lifecycle;
pub mod render;
pub mod schedule;
pub mod service;
pub mod sink;
pub mod sinks;

use sink::NotificationKind;

/// The stable spelling of a notification kind (as in the JSON event's `kind`).
pub fn kind_str(kind: NotificationKind) -> &'static str {
    match kind {
        NotificationKind::Opened => "opened",
        NotificationKind::Reminder => "reminder",
        NotificationKind::Acknowledged => "acknowledged",
        NotificationKind::Resolved => "resolved",
        NotificationKind::Digest => "digest",
        NotificationKind::Test => "test",
    }
}
