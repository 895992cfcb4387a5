//! `vigie-agent run`: probes on a jittered schedule, a heartbeat, every report signed and spooled
//! before it is sent, the shipper, and certificate renewal before expiry. The agent never listens.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use tokio::sync::{Mutex, Notify};
use tokio_util::sync::CancellationToken;
use vigie_proto::limits::MAX_GRPC_MESSAGE_BYTES;
use vigie_proto::v1::ingest_client::IngestClient;
use vigie_proto::v1::Report;

use crate::config::AgentConfig;
use crate::identity::{self, Identity};
use crate::probe::{self, Probe, ProbeCx};
use crate::ship::{self, Outbox, Sequencer};
use crate::spool::Spool;
use crate::{enroll, now_ms, tlsclient};

/// Runs until `stop` fires.
pub async fn run(
    state_dir: &Path,
    cfg: AgentConfig,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    let id = identity::load(state_dir)?;
    let probes: Vec<Arc<dyn Probe>> = probe::all_probes(&cfg.probes)?
        .into_iter()
        .map(Arc::from)
        .collect();
    let spool = Spool::open(state_dir, cfg.outbox_max_reports)?;
    let outbox = Arc::new(Outbox {
        key: id.key.clone(),
        state: Mutex::new((Sequencer::new(id.enrollment.host_id.clone()), spool)),
    });
    let wake = Arc::new(Notify::new());
    tracing::info!(host = %id.enrollment.host_id, collector = %id.enrollment.collector, "Agent running.");

    let shipper = tokio::spawn(ship_loop(
        state_dir.to_path_buf(),
        id,
        outbox.clone(),
        wake.clone(),
        cfg.clone(),
        stop.clone(),
    ));

    let cx_base = ProbeCx {
        root: "/".into(),
        state_dir: Some(state_dir.to_path_buf()),
        now_ms: 0,
        role: cfg.role.clone(),
        command_timeout: Duration::from_secs(120),
    };
    let mut next_probe = tokio::time::Instant::now();
    let mut next_heartbeat = tokio::time::Instant::now() + Duration::from_secs(cfg.heartbeat_secs);
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep_until(next_probe) => {
                let cx = ProbeCx { now_ms: now_ms(), ..cx_base.clone() };
                let domains = probe::run_all(&probes, &cx).await;
                let report = Report {
                    format_version: vigie_proto::EVIDENCE_FORMAT_VERSION,
                    agent_version: env!("CARGO_PKG_VERSION").into(),
                    collected_at_ms: cx.now_ms,
                    domains,
                    ..Default::default()
                };
                if let Err(error) = outbox.enqueue(report, now_ms()).await {
                    tracing::error!(%error, "Could not write a report to the outbox.");
                }
                wake.notify_one();
                next_probe = tokio::time::Instant::now() + jittered(cfg.interval_secs);
            }
            _ = tokio::time::sleep_until(next_heartbeat) => {
                let report = Report {
                    format_version: vigie_proto::EVIDENCE_FORMAT_VERSION,
                    agent_version: env!("CARGO_PKG_VERSION").into(),
                    collected_at_ms: now_ms(),
                    heartbeat: true,
                    ..Default::default()
                };
                if let Err(error) = outbox.enqueue(report, now_ms()).await {
                    tracing::error!(%error, "Could not write a heartbeat to the outbox.");
                }
                wake.notify_one();
                next_heartbeat = tokio::time::Instant::now() + jittered(cfg.heartbeat_secs);
            }
        }
    }
    let _ = shipper.await;
    Ok(())
}

/// `secs` ± 10 %.
fn jittered(secs: u64) -> Duration {
    let ms = secs.saturating_mul(1000);
    let spread = ms / 10;
    Duration::from_millis(
        rand::rngs::OsRng.gen_range(ms.saturating_sub(spread)..=ms.saturating_add(spread)),
    )
}

async fn ship_loop(
    state_dir: std::path::PathBuf,
    mut id: Identity,
    outbox: Arc<Outbox>,
    wake: Arc<Notify>,
    cfg: AgentConfig,
    stop: CancellationToken,
) {
    let mut client: Option<IngestClient<tonic::transport::Channel>> = None;
    let mut attempt: u32 = 0;
    let cap = Duration::from_secs(cfg.max_backoff_secs.max(1));
    loop {
        if stop.is_cancelled() {
            break;
        }
        // Renew when two thirds of the validity are gone (certificates last 30–90 days).
        let remaining = id.enrollment.not_after_ms - now_ms();
        if remaining < 20 * 86_400_000 {
            match enroll::renew(&state_dir, &id).await {
                Ok(renewed) => {
                    tracing::info!(
                        not_after_ms = renewed.enrollment.not_after_ms,
                        "Certificate renewed."
                    );
                    id = renewed;
                    client = None;
                }
                Err(error) => tracing::warn!(%error, "Certificate renewal failed; will retry."),
            }
        }
        if client.is_none() {
            client = match connect(&id).await {
                Ok(c) => Some(c),
                Err(error) => {
                    tracing::warn!(%error, "Collector unreachable.");
                    None
                }
            };
        }
        let outcome = match client.as_mut() {
            Some(c) => ship::deliver_once(&outbox, c, now_ms())
                .await
                .map_err(|s| s.to_string()),
            None => Err("not connected".to_owned()),
        };
        let pause = match outcome {
            Ok(d) if d.acknowledged > 0 || d.resynced || d.refused > 0 => {
                attempt = 0;
                continue;
            }
            Ok(_) => {
                attempt = 0;
                None
            }
            Err(error) => {
                tracing::debug!(%error, "Delivery failed.");
                client = None;
                attempt = attempt.saturating_add(1);
                Some(ship::backoff(attempt, Duration::from_millis(500), cap))
            }
        };
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = wake.notified(), if pause.is_none() => {}
            _ = tokio::time::sleep(pause.unwrap_or(Duration::from_secs(3600))) => {}
        }
    }
}

async fn connect(id: &Identity) -> Result<IngestClient<tonic::transport::Channel>, anyhow::Error> {
    let config = tlsclient::ingest_config(&id.ca_der, &id.cert_der, id.tls_key()?)?;
    let channel =
        tlsclient::connect(&id.enrollment.collector, config, Duration::from_secs(20)).await?;
    Ok(IngestClient::new(channel)
        .max_decoding_message_size(MAX_GRPC_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_GRPC_MESSAGE_BYTES))
}
