//! `vigie-collector serve`: the two gRPC ports behind our own TLS accept loops, the admin socket, the
//! derivation worker and the periodic re-evaluation, with graceful shutdown.

pub mod enroll;
pub mod ingest;
pub mod ratelimit;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::codegen::http;
use tonic::transport::Server;
use vigie_proto::limits::{MAX_ENROLL_MESSAGE_BYTES, MAX_GRPC_MESSAGE_BYTES};
use vigie_proto::v1::enrollment_server::EnrollmentServer;
use vigie_proto::v1::ingest_server::IngestServer;
use vigie_proto::v1::Report;

use crate::clock::Clock;
use crate::config::Settings;
use crate::derive;
use crate::pki::Ca;
use crate::store::{AuditEntry, Candidate, SecurityEvent, Store};
use crate::tls::{self, AcceptLimits, PeerInfo};

/// Derivation jobs waiting at most; beyond, hosts are marked dirty instead.
const DERIVE_QUEUE: usize = 4096;

/// Everything the services share.
#[derive(Debug)]
pub struct Ctx {
    pub settings: Settings,
    pub store: Arc<dyn Store>,
    pub ca: Ca,
    pub clock: Arc<dyn Clock>,
    pub enroll_per_address: ratelimit::RateLimiter,
    pub enroll_per_org: ratelimit::RateLimiter,
    /// Requests to the HTTPS ping routes per peer address.
    pub ping_per_address: ratelimit::RateLimiter,
    derive_tx: mpsc::Sender<derive::Job>,
    /// Hosts whose derivation job did not fit in the queue; the periodic pass re-derives them from
    /// their stored reports. Bounded by the number of hosts.
    pub dirty: std::sync::Mutex<std::collections::HashSet<String>>,
    /// The bound ingest port, told to agents at enrollment.
    pub ingest_port: u16,
    /// Test hook: `VIGIE_FAILPOINT=ingest-after-store` aborts the process after a batch is durably
    /// stored and before it is acknowledged, to prove that the agent's resend is harmless.
    pub abort_after_store: bool,
}

impl std::fmt::Debug for dyn Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Store")
    }
}

impl Ctx {
    pub fn cert_validity(&self) -> Duration {
        Duration::from_secs(u64::from(self.settings.agent_cert_validity_days) * 86_400)
    }

    /// Logs an internal error in full and returns a generic status (details stay out of replies).
    pub fn internal(&self, what: &str, error: &dyn std::fmt::Display) -> tonic::Status {
        tracing::error!(error = %error, "Internal error while {what}.");
        tonic::Status::internal("internal error")
    }

    /// The organisation a token belongs to, if the token exists.
    pub async fn token_org(
        &self,
        hash: &[u8; 32],
    ) -> Result<Option<String>, crate::store::StoreError> {
        Ok(self.store.token(hash).await?.map(|t| t.org))
    }

    pub async fn audit(&self, actor: &str, action: &str, org: Option<&str>, detail: &str) {
        let entry = AuditEntry {
            at_ms: self.clock.now_ms(),
            actor: actor.into(),
            action: action.into(),
            org: org.map(Into::into),
            detail: detail.into(),
        };
        if let Err(error) = self.store.append_audit(entry).await {
            tracing::error!(%error, action, "Could not append to the audit trail.");
        }
    }

    /// Records a security event for a host (kept with its findings) and logs it with the peer.
    pub async fn security_event(
        &self,
        host_id: &str,
        peer: &str,
        at_ms: i64,
        kind: &str,
        detail: &str,
    ) {
        tracing::warn!(target: "security", peer = %peer, host = %host_id, kind, detail, "Security event.");
        let event = SecurityEvent {
            host_id: host_id.into(),
            at_ms,
            kind: kind.into(),
            detail: detail.into(),
        };
        if let Err(error) = self.store.add_security_event(event).await {
            tracing::error!(%error, host = %host_id, kind, "Could not record a security event.");
        }
        self.queue(derive::Job::Reevaluate(host_id.to_owned()));
    }

    /// Asks the derivation worker to judge a host again, after the jobs already queued (a setting
    /// of its organisation changed); marked dirty when the queue is full.
    pub fn reevaluate(&self, host_id: &str) {
        self.queue(derive::Job::Reevaluate(host_id.to_owned()));
    }

    /// Hands freshly stored reports to the derivation worker (after the acknowledgement path).
    pub fn derive_after_ack(&self, host_id: &str, reports: Vec<(Candidate, Report)>) {
        self.queue(derive::Job::Apply(host_id.to_owned(), reports));
    }

    /// Queues derivation work without ever blocking or growing without bound: when the queue is
    /// full, the host is marked dirty and re-derived from its stored reports by the periodic pass.
    fn queue(&self, job: derive::Job) {
        if let Err(mpsc::error::TrySendError::Full(job)) = self.derive_tx.try_send(job) {
            let host = match job {
                derive::Job::Apply(h, _) | derive::Job::Reevaluate(h) => h,
                derive::Job::ReevaluateAll => return,
            };
            if let Ok(mut dirty) = self.dirty.lock() {
                dirty.insert(host);
            }
        }
    }
}

/// The peer information our accept loop attached to a request.
pub fn peer<T>(request: &tonic::Request<T>) -> Option<&PeerInfo> {
    request.extensions().get::<PeerInfo>()
}

/// Addresses the server actually bound (useful when the config says port 0).
#[derive(Debug, Clone, Copy)]
pub struct Bound {
    pub ingest: SocketAddr,
    pub enroll: SocketAddr,
    /// The HTTPS (ping) listener, when configured.
    pub https: Option<SocketAddr>,
}

/// A running server.
#[derive(Debug)]
pub struct Running {
    pub bound: Bound,
    pub ctx: Arc<Ctx>,
    shutdown: CancellationToken,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Running {
    /// Stops accepting, lets in-flight RPCs finish, and waits for the tasks.
    pub async fn shutdown(self) {
        self.shutdown.cancel();
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

/// Starts both gRPC ports, the derivation worker and the re-evaluation ticker.
pub async fn start(
    loaded: crate::datadir::Loaded,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<Running> {
    tls::install_default_provider();
    let settings = loaded.settings.clone();
    let shutdown = CancellationToken::new();
    let (derive_tx, derive_rx) = mpsc::channel(DERIVE_QUEUE);
    let ingest_listener = TcpListener::bind(settings.listen).await?;
    let enroll_listener = TcpListener::bind(settings.enroll_listen).await?;
    let https_listener = match (settings.https_listen, &loaded.https) {
        (Some(addr), Some(_)) => Some(TcpListener::bind(addr).await?),
        _ => None,
    };
    let bound = Bound {
        ingest: ingest_listener.local_addr()?,
        enroll: enroll_listener.local_addr()?,
        https: https_listener
            .as_ref()
            .map(TcpListener::local_addr)
            .transpose()?,
    };
    let ctx = Arc::new(Ctx {
        enroll_per_address: ratelimit::RateLimiter::new(
            settings.enroll_rate_per_minute_per_address,
        ),
        enroll_per_org: ratelimit::RateLimiter::new(settings.enroll_rate_per_minute_per_org),
        ping_per_address: ratelimit::RateLimiter::new(settings.ping_rate_per_minute_per_address),
        settings: settings.clone(),
        store: store.clone(),
        ca: loaded.ca,
        clock: clock.clone(),
        derive_tx: derive_tx.clone(),
        dirty: Default::default(),
        ingest_port: bound.ingest.port(),
        abort_after_store: std::env::var("VIGIE_FAILPOINT")
            .is_ok_and(|v| v == "ingest-after-store"),
    });
    let limits = AcceptLimits {
        handshake_timeout: Duration::from_secs(u64::from(settings.handshake_timeout_secs)),
        max_concurrent_handshakes: settings.max_concurrent_handshakes as usize,
    };
    let ingest_cfg = Arc::new(tls::server_config(
        loaded.server_chain.clone(),
        loaded.server_key.clone_key(),
        Some(&loaded.ca_cert),
    )?);
    let enroll_cfg = Arc::new(tls::server_config(
        loaded.server_chain,
        loaded.server_key,
        None,
    )?);

    let mut tasks = Vec::new();
    if let (Some(listener), Some((chain, key))) = (https_listener, loaded.https) {
        let config = tls::server_config(chain, key, None)?;
        tasks.push(crate::https::start(
            ctx.clone(),
            listener,
            config,
            limits,
            shutdown.clone(),
        )?);
    }
    let ingest_rx = tls::accept_loop(
        "ingest",
        ingest_listener,
        ingest_cfg,
        limits,
        shutdown.clone(),
    );
    let enroll_rx = tls::accept_loop(
        "enroll",
        enroll_listener,
        enroll_cfg,
        limits,
        shutdown.clone(),
    );

    let ingest_svc = LogRefusals {
        port: "ingest",
        inner: IngestServer::new(ingest::IngestService { ctx: ctx.clone() })
            .max_decoding_message_size(MAX_GRPC_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_GRPC_MESSAGE_BYTES),
    };
    let enroll_svc = LogRefusals {
        port: "enroll",
        inner: EnrollmentServer::new(enroll::EnrollmentService { ctx: ctx.clone() })
            .max_decoding_message_size(MAX_ENROLL_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_GRPC_MESSAGE_BYTES),
    };

    for (name, rx, router) in [
        ("ingest", ingest_rx, grpc_builder().add_service(ingest_svc)),
        ("enroll", enroll_rx, grpc_builder().add_service(enroll_svc)),
    ] {
        let stop = shutdown.clone();
        tasks.push(tokio::spawn(async move {
            let result = router
                .serve_with_incoming_shutdown(ReceiverStream::new(rx), stop.cancelled_owned())
                .await;
            if let Err(error) = result {
                tracing::error!(port = name, %error, "gRPC server stopped.");
            }
        }));
    }
    tasks.push(tokio::spawn(derive::worker(
        ctx.clone(),
        derive_rx,
        shutdown.clone(),
    )));
    let ticker_ctx = ctx.clone();
    let stop = shutdown.clone();
    tasks.push(tokio::spawn(async move {
        let secs = u64::from(ticker_ctx.settings.reevaluate_interval_secs);
        let mut every = tokio::time::interval(Duration::from_secs(secs));
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = every.tick() => { let _ = ticker_ctx.derive_tx.try_send(derive::Job::ReevaluateAll); }
            }
        }
    }));
    Ok(Running {
        bound,
        ctx,
        shutdown,
        tasks,
    })
}

/// Logs, as a `security` line with the peer, the refusals tonic makes before our handlers run: a
/// message over the size limit is answered `OUT_OF_RANGE` by tonic's decoder (DESIGN decision 6: every
/// application-level refusal is a gRPC status plus a `security` log line). Our handlers never answer
/// `OUT_OF_RANGE` themselves, so nothing is logged twice.
#[derive(Debug, Clone)]
struct LogRefusals<S> {
    port: &'static str,
    inner: S,
}

impl<S: tonic::server::NamedService> tonic::server::NamedService for LogRefusals<S> {
    const NAME: &'static str = S::NAME;
}

impl<S, B, R> tower::Service<http::Request<B>> for LogRefusals<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Self::Response, Self::Error>> + Send>,
    >;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let peer = request
            .extensions()
            .get::<PeerInfo>()
            .map(|p| p.addr.to_string())
            .unwrap_or_default();
        let port = self.port;
        let future = self.inner.call(request);
        Box::pin(async move {
            let response = future.await?;
            let code = response
                .headers()
                .get("grpc-status")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<i32>().ok());
            if code == Some(tonic::Code::OutOfRange as i32) {
                tracing::warn!(target: "security", port, peer = %peer, "gRPC message over the size limit refused.");
            }
            Ok(response)
        })
    }
}

fn grpc_builder() -> Server {
    Server::builder()
        .max_concurrent_streams(Some(32))
        .http2_keepalive_interval(Some(Duration::from_secs(60)))
        .http2_keepalive_timeout(Some(Duration::from_secs(20)))
        .http2_max_pending_accept_reset_streams(Some(20))
        .timeout(Duration::from_secs(60))
}
