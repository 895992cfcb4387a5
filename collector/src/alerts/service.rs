//! The alerting inside `vigie-collector serve`: the engine's loop (emissions every second, findings
//! read at the re-evaluation interval, retention hourly) and one delivery worker per sink, all
//! stopped by one cancellation token.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::config::AlertSettings;
use super::dispatch::{build_sinks, Worker};
use super::engine::{AlertError, Engine};
use crate::clock::Clock;
use crate::store::Store;

/// The running alerting.
#[derive(Debug)]
pub struct AlertService {
    stop: CancellationToken,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// Why the alerting could not start: a sink whose configuration cannot work (each problem names its
/// key), or the catalogue.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{}", .0.iter().map(|(k, m)| format!("key `{k}`: {m}")).collect::<Vec<_>>().join("; "))]
    Sinks(Vec<(String, String)>),
    #[error(transparent)]
    Engine(#[from] AlertError),
}

impl AlertService {
    /// Builds the sinks (reading their secrets) and starts the tasks. `reconcile_every` is the
    /// re-evaluation interval: findings change no faster than that.
    pub fn start(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        settings: AlertSettings,
        reconcile_every: Duration,
    ) -> Result<AlertService, StartError> {
        let sinks = build_sinks(&settings).map_err(StartError::Sinks)?;
        let retry = settings.retry;
        let retention_ms = settings.retention_ms;
        let engine = Engine::new(settings)?;
        let stop = CancellationToken::new();
        let abort_after_send =
            std::env::var("VIGIE_FAILPOINT").is_ok_and(|v| v == "alert-after-send");
        let mut tasks = Vec::new();
        for (spec, sink) in sinks {
            tracing::info!(sink = %spec.name, org = %spec.org, kind = spec.kind.as_str(), "Alert sink ready.");
            let worker = Worker {
                spec,
                sink,
                store: store.clone(),
                clock: clock.clone(),
                retry,
                abort_after_send,
            };
            tasks.push(tokio::spawn(worker.run(stop.clone())));
        }
        let token = stop.clone();
        let (store, clock) = (store.clone(), clock.clone());
        tasks.push(tokio::spawn(async move {
            let reconcile_ticks = reconcile_every.as_secs().max(1);
            let mut tick: u64 = 0;
            let mut every = tokio::time::interval(Duration::from_secs(1));
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = token.cancelled() => break,
                    _ = every.tick() => {}
                }
                let reconcile = tick.is_multiple_of(reconcile_ticks);
                if let Err(error) = engine.step(store.as_ref(), clock.now_ms(), reconcile).await {
                    tracing::error!(%error, "Alert step failed; retrying at the next tick.");
                }
                if tick % 3600 == 1800 {
                    let before = clock.now_ms().saturating_sub(retention_ms);
                    match store.prune_alerts(before).await {
                        Ok(0) => {}
                        Ok(n) => tracing::info!(removed = n, "Old resolved alerts removed."),
                        Err(error) => tracing::error!(%error, "Pruning resolved alerts failed."),
                    }
                }
                tick = tick.wrapping_add(1);
            }
        }));
        Ok(AlertService { stop, tasks })
    }

    /// Stops the loop and the workers (an attempt in progress finishes) and waits for them.
    pub async fn shutdown(self) {
        self.stop.cancel();
        for t in self.tasks {
            let _ = t.await;
        }
    }
}
