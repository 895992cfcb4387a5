//! Delivery: one worker per sink drains that sink's durable outbox in order, one attempt at a time,
//! and records each result with the sink's health counters in one store write.
//!
//! At-least-once: an entry is removed only after the sink acknowledged it; a crash between the
//! acknowledgement and the record sends it again with the same idempotency key, which receivers
//! deduplicate on (the e-mail's `Message-ID`, the webhook's `Idempotency-Key`, syslog's MSGID).
//! A failure is retried with exponential backoff and jitter; a transient one ends the round (the
//! sink is down: the next entries would fail too), a permanent one does not hold back the others.
//! Past the retry horizon an entry is abandoned and counted. Failures are logged, counted in the
//! sink's health record (`alerts sinks`), and become an alert on the organisation's other sinks once
//! they reach the threshold (`engine`).

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use tokio_util::sync::CancellationToken;

use super::config::{AlertSettings, RetryPolicy, SinkKind, SinkSpec};
use super::email::EmailSink;
use super::engine::ALERTS_LOCK;
use super::render::to_notification;
use super::sink::{Sink, SinkError};
use super::sinks::{AddressPolicy, SyslogSink, WebhookSink};
use crate::clock::Clock;
use crate::store::{Delivery, DeliveryResult, OutboxEntry, Store};

/// How often an idle worker looks at its outbox (entries queued by another task or the admin
/// socket are picked up within this).
const POLL: Duration = Duration::from_secs(1);

/// The delay before attempt `attempts + 1`: `initial × 2^attempts`, capped, then "equal jitter"
/// (half fixed, half random) so that sinks coming back are not hit by every collector at once.
pub fn backoff_ms(attempts: u32, retry: &RetryPolicy, jitter: f64) -> i64 {
    let factor = 2f64.powi(i32::try_from(attempts.min(40)).unwrap_or(40));
    let delay = ((retry.initial_ms as f64) * factor).min(retry.max_ms as f64);
    let half = delay / 2.0;
    (half + half * jitter.clamp(0.0, 1.0)) as i64
}

/// Every configured sink, ready to deliver.
pub type Sinks = Vec<(SinkSpec, Arc<dyn Sink>)>;
/// Configuration problems as (key, message).
pub type Problems = Vec<(String, String)>;

/// Builds every configured sink; errors name the sink's key (`alerts.sink[2].password_file`).
pub fn build_sinks(settings: &AlertSettings) -> Result<Sinks, Problems> {
    let policy = AddressPolicy::from_config(&settings.egress)
        .map_err(|e| vec![(format!("alerts.egress.{}", e.key), e.message.clone())])?;
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for (i, spec) in settings.sinks.iter().enumerate() {
        let built: Result<Arc<dyn Sink>, super::sinks::ConfigError> = match &spec.kind {
            SinkKind::Email(cfg) => {
                EmailSink::from_config(&spec.name, cfg).map(|s| Arc::new(s) as _)
            }
            SinkKind::Webhook(cfg) => {
                WebhookSink::from_config(&spec.name, cfg, &policy).map(|s| Arc::new(s) as _)
            }
            SinkKind::Syslog(cfg) => {
                SyslogSink::from_config(&spec.name, cfg, &policy).map(|s| Arc::new(s) as _)
            }
        };
        match built {
            Ok(sink) => out.push((spec.clone(), sink)),
            Err(e) => errors.push((format!("alerts.sink[{i}].{}", e.key), e.message)),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// One sink's delivery loop.
pub struct Worker {
    pub spec: SinkSpec,
    pub sink: Arc<dyn Sink>,
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub retry: RetryPolicy,
    /// Test hook (`VIGIE_FAILPOINT=alert-after-send`): abort the process after a sink acknowledged
    /// and before the delivery is recorded, to prove that the resend carries the same key.
    pub abort_after_send: bool,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("sink", &self.spec.name)
            .finish_non_exhaustive()
    }
}

impl Worker {
    /// Runs until `stop`; an attempt in progress finishes (each sink bounds its own attempts).
    pub async fn run(self, stop: CancellationToken) {
        loop {
            if let Err(error) = self.round().await {
                tracing::error!(sink = %self.spec.name, %error, "Alert outbox unreadable; retrying.");
            }
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tokio::time::sleep(POLL) => {}
            }
        }
    }

    /// One pass over the outbox; returns after a transient failure or when nothing is due.
    pub async fn round(&self) -> Result<(), crate::store::StoreError> {
        let entries = self.store.outbox(&self.spec.name).await?;
        // After a transient failure the sink itself is down: nothing is tried before that entry's
        // next attempt, so a dead server is not hit once per queued entry.
        let now = self.clock.now_ms();
        if entries
            .iter()
            .any(|e| e.attempts > 0 && !e.last_permanent && e.next_attempt_ms > now)
        {
            return Ok(());
        }
        for e in entries {
            let now = self.clock.now_ms();
            if e.next_attempt_ms > now {
                continue;
            }
            let n = to_notification(&e.notification);
            let result = self.sink.deliver(&n).await;
            if result.is_ok() && self.abort_after_send {
                tracing::error!(sink = %self.spec.name, key = %n.key, "Failpoint: aborting after a delivery.");
                std::process::abort();
            }
            let at = self.clock.now_ms();
            let (record, stop_round) = self.outcome(&e, result, at);
            let _guard = ALERTS_LOCK.lock().await;
            self.store.record_delivery(record).await?;
            if stop_round {
                break;
            }
        }
        Ok(())
    }

    fn outcome(&self, e: &OutboxEntry, result: Result<(), SinkError>, at: i64) -> (Delivery, bool) {
        let name = &self.spec.name;
        let (result, stop) = match result {
            Ok(()) => {
                tracing::info!(sink = %name, key = %e.notification.key, kind = super::kind_str(e.notification.kind), "Alert delivered.");
                (DeliveryResult::Delivered, false)
            }
            Err(err) => {
                let permanent = matches!(err, SinkError::Permanent(_));
                let error = err.to_string();
                if at.saturating_sub(e.created_at_ms) >= self.retry.give_up_ms {
                    tracing::error!(sink = %name, key = %e.notification.key, attempts = e.attempts + 1, %error, "Alert delivery abandoned after the retry horizon.");
                    (DeliveryResult::Abandoned { error }, !permanent)
                } else {
                    let delay =
                        backoff_ms(e.attempts, &self.retry, rand::thread_rng().gen::<f64>());
                    tracing::warn!(sink = %name, key = %e.notification.key, attempts = e.attempts + 1, retry_in_ms = delay, %error, "Alert delivery failed; will retry.");
                    (
                        DeliveryResult::Retry {
                            error,
                            next_attempt_ms: at.saturating_add(delay),
                            permanent,
                        },
                        !permanent,
                    )
                }
            }
        };
        (
            Delivery {
                sink: name.clone(),
                sink_org: self.spec.org.clone(),
                seq: e.seq,
                at_ms: at,
                result,
            },
            stop,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_caps_and_jitters() {
        let r = RetryPolicy {
            initial_ms: 1000,
            max_ms: 60_000,
            give_up_ms: 1,
        };
        assert_eq!(backoff_ms(0, &r, 1.0), 1000);
        assert_eq!(backoff_ms(0, &r, 0.0), 500);
        assert_eq!(backoff_ms(3, &r, 1.0), 8000);
        assert_eq!(backoff_ms(10, &r, 1.0), 60_000);
        assert_eq!(backoff_ms(u32::MAX, &r, 0.5), 45_000);
        for j in [0.0, 0.3, 0.99] {
            let d = backoff_ms(2, &r, j);
            assert!((2000..=4000).contains(&d), "{d}");
        }
    }
}
