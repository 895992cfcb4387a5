//! `vigie-agent run`: probes on a jittered schedule, a heartbeat, every report signed and spooled
//! before it is sent, the shipper, and certificate renewal before expiry. The agent never listens.
//! `--probe-only` and `--ship-only` run the two halves as separate processes sharing the spool.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use tokio::sync::{Mutex, Notify};
use tokio_util::sync::CancellationToken;
use vigie_proto::limits::MAX_GRPC_MESSAGE_BYTES;
use vigie_proto::v1::ingest_client::IngestClient;
use vigie_proto::v1::Report;
use vigie_proto::Message;

use crate::config::AgentConfig;
use crate::identity::{self, Identity};
use crate::probe::{self, Probe, ProbeCx};
use crate::ship::{self, Outbox, Sequencer};
use crate::spool::{Spool, SPOOL_DIR};
use crate::{enroll, now_ms, tlsclient};

/// The prober's own spool under `STATE/spool/`: reports it collected, not yet signed, which the
/// shipper signs and moves to the outbox (split mode, DESIGN decision 4).
pub const PROBED_DIR: &str = "probed";

/// How often the shipper looks for reports the prober left in `spool/probed`.
const PROBED_POLL: Duration = Duration::from_secs(1);

/// Which half of the agent this process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Probes, signing and shipping in one process.
    All,
    /// Probes and heartbeats only, into `STATE/spool/probed`: needs read access to the host, no
    /// network and no key (the prober unit: `CAP_DAC_READ_SEARCH`, `PrivateNetwork=yes`).
    ProbeOnly,
    /// Signs what the prober left, ships the outbox and renews the certificate: needs the key and
    /// the network, no capability (the shipper unit).
    ShipOnly,
}

/// Where produced reports go.
enum Sink {
    /// Signed and spooled at once, then the shipper is woken.
    Outbox(Arc<Outbox>, Arc<Notify>),
    /// Encoded, unsigned, into the prober's spool (shared with the file-integrity thread).
    Probed(Arc<std::sync::Mutex<Spool>>),
}

impl Sink {
    async fn put(&mut self, report: Report) -> Result<(), crate::spool::SpoolError> {
        match self {
            Sink::Outbox(outbox, wake) => {
                let r = outbox.enqueue(report, now_ms()).await;
                wake.notify_one();
                r
            }
            Sink::Probed(spool) => spool
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(&report.encode_to_vec())
                .map(|_| ()),
        }
    }
}

/// Runs until `stop` fires: everything in one process.
pub async fn run(
    state_dir: &Path,
    cfg: AgentConfig,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    run_mode(state_dir, cfg, Mode::All, stop).await
}

/// Runs one half (or both) of the agent until `stop` fires.
pub async fn run_mode(
    state_dir: &Path,
    cfg: AgentConfig,
    mode: Mode,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    if mode == Mode::ProbeOnly {
        let spool = Spool::open_at(
            state_dir.join(SPOOL_DIR).join(PROBED_DIR),
            cfg.outbox_max_reports,
        )?;
        tracing::info!("Prober running (no network, no key): reports go to the shipper's spool.");
        let spool = Arc::new(std::sync::Mutex::new(spool));
        return produce(state_dir, &cfg, Sink::Probed(spool), stop).await;
    }
    let id = identity::load(state_dir)?;
    let spool = Spool::open(state_dir, cfg.outbox_max_reports)?;
    let outbox = Arc::new(Outbox {
        key: id.key.clone(),
        state: Mutex::new((Sequencer::new(id.enrollment.host_id.clone()), spool)),
    });
    let wake = Arc::new(Notify::new());
    tracing::info!(host = %id.enrollment.host_id, collector = %id.enrollment.collector, ?mode, "Agent running.");

    let shipper = tokio::spawn(ship_loop(
        state_dir.to_path_buf(),
        id,
        outbox.clone(),
        wake.clone(),
        cfg.clone(),
        stop.clone(),
    ));
    match mode {
        Mode::ShipOnly => {
            seal_probed(state_dir, &cfg, &outbox, &wake, stop).await?;
        }
        _ => produce(state_dir, &cfg, Sink::Outbox(outbox, wake), stop).await?,
    }
    let _ = shipper.await;
    Ok(())
}

/// The probe and heartbeat schedule.
async fn produce(
    state_dir: &Path,
    cfg: &AgentConfig,
    mut sink: Sink,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    let probes: Vec<Arc<dyn Probe>> = probe::all_probes(&cfg.probes)?
        .into_iter()
        .map(Arc::from)
        .collect();
    let cx_base = ProbeCx {
        root: "/".into(),
        state_dir: Some(state_dir.to_path_buf()),
        now_ms: 0,
        role: cfg.role.clone(),
        command_timeout: Duration::from_secs(120),
    };
    let fim = start_fim(state_dir, cfg, &sink);
    let mut next_probe = tokio::time::Instant::now();
    let mut next_heartbeat = tokio::time::Instant::now() + Duration::from_secs(cfg.heartbeat_secs);
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep_until(next_probe) => {
                let cx = ProbeCx { now_ms: now_ms(), ..cx_base.clone() };
                let domains = probe::run_all(&probes, &cx).await;
                // One state per probe, in registry order; errors keep no cursor moving.
                let succeeded: Vec<bool> = domains
                    .iter()
                    .map(|d| !matches!(d.state, Some(vigie_proto::v1::domain_state::State::Error(_))))
                    .collect();
                let report = Report {
                    format_version: vigie_proto::EVIDENCE_FORMAT_VERSION,
                    agent_version: env!("CARGO_PKG_VERSION").into(),
                    collected_at_ms: cx.now_ms,
                    domains,
                    ..Default::default()
                };
                match sink.put(report).await {
                    Ok(()) => probes
                        .iter()
                        .zip(succeeded)
                        .filter(|(_, ok)| *ok)
                        .for_each(|(p, _)| p.spooled(&cx)),
                    Err(error) => tracing::error!(%error, "Could not write a report to the outbox."),
                }
                // The cycle's buffers (SQLite, tool output, the report) are free now.
                crate::memory::release_free();
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
                if let Err(error) = sink.put(report).await {
                    tracing::error!(%error, "Could not write a heartbeat to the outbox.");
                }
                next_heartbeat = tokio::time::Instant::now() + jittered(cfg.heartbeat_secs);
            }
        }
    }
    if let Some(fim) = fim {
        let _ = tokio::task::spawn_blocking(move || fim.stop()).await;
    }
    Ok(())
}

/// Starts file integrity monitoring beside the probes: its events go to the outbox (or, in the split
/// prober mode, to the prober's spool) as they come.
fn start_fim(state_dir: &Path, cfg: &AgentConfig, sink: &Sink) -> Option<crate::fim::FimHandle> {
    if !cfg.probes.fim.enabled {
        return None;
    }
    let max = cfg.probes.fim.max_reports_in_outbox;
    let out: Box<dyn crate::fim::sink::Sink> = match sink {
        Sink::Outbox(outbox, wake) => Box::new(crate::fim::sink::OutboxSink::new(
            outbox.clone(),
            wake.clone(),
            tokio::runtime::Handle::current(),
            max,
        )),
        Sink::Probed(spool) => Box::new(crate::fim::sink::SpoolSink::new(spool.clone(), max)),
    };
    match crate::fim::spawn(&cfg.probes.fim, state_dir, out) {
        Ok(h) => Some(h),
        Err(error) => {
            tracing::error!(%error, "File integrity monitoring could not start.");
            None
        }
    }
}

/// The shipper's half of the split: signs, in order, what the prober left in `spool/probed`, moves
/// it to the outbox and wakes the delivery loop. The signed copy is written before the unsigned
/// one is removed, so a crash between the two sends one report twice (harmless: reports are
/// convergent state), never none.
async fn seal_probed(
    state_dir: &Path,
    cfg: &AgentConfig,
    outbox: &Outbox,
    wake: &Notify,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    let probed = Spool::attach(
        state_dir.join(SPOOL_DIR).join(PROBED_DIR),
        cfg.outbox_max_reports,
    )?;
    loop {
        let mut moved = 0usize;
        for entry in probed.list()? {
            let bytes = probed.read(&entry)?;
            let report = match (bytes.len() <= MAX_GRPC_MESSAGE_BYTES)
                .then(|| Report::decode(bytes.as_slice()))
            {
                Some(Ok(report)) => report,
                _ => {
                    tracing::error!(path = %entry.path.display(), "Dropping an unreadable report left by the prober.");
                    probed.remove(&entry)?;
                    continue;
                }
            };
            outbox.enqueue(report, now_ms()).await?;
            probed.remove(&entry)?;
            moved += 1;
        }
        if moved > 0 {
            wake.notify_one();
        }
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep(PROBED_POLL) => {}
        }
    }
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
