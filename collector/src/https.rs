//! The collector's HTTPS listener (DESIGN decision 6), for backup pings now and web pages later:
//! its own ECDSA P-256 certificate (browsers refuse Ed25519 server certificates), TLS 1.3 only with
//! ring, our own accept loop (`tls::accept_loop`: handshake timeout, cap on handshakes, a `security`
//! line per refused handshake), then a small HTTP/1.1 router (axum) with the ping routes.
//!
//! The certificate `init` writes is self-signed for the configured server names: a job's `curl
//! --cacert https.crt` pins exactly it, and nothing it could sign is trusted anywhere else. An
//! operator who wants a certificate from their own CA replaces `https.crt`/`https.key` (same names,
//! key 0600). Not here: what a ping means (`ping.rs`) and its storage (`store`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose, SanType, PKCS_ECDSA_P256_SHA256,
};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::ping::{self, MAX_BODY_BYTES, MAX_SECRET_LEN};
use crate::pki::PkiError;
use crate::server::Ctx;
use crate::store::PingKind;
use crate::tls::{self, AcceptLimits, TlsConn};

/// A self-signed ECDSA P-256 certificate for `names` (DNS names or IP addresses), serverAuth only,
/// valid `validity` from `now_ms` (backdated a minute for clock skew). Returns (certificate PEM,
/// PKCS#8 key PEM).
pub fn self_signed_p256(
    names: &[String],
    now_ms: i64,
    validity: Duration,
) -> Result<(String, String), PkiError> {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "Vigie");
    dn.push(
        DnType::CommonName,
        names
            .first()
            .map(String::as_str)
            .unwrap_or("vigie-collector"),
    );
    params.distinguished_name = dn;
    params.subject_alt_names = names
        .iter()
        .map(|n| match n.parse::<std::net::IpAddr>() {
            Ok(ip) => Ok(SanType::IpAddress(ip)),
            Err(_) => n
                .clone()
                .try_into()
                .map(SanType::DnsName)
                .map_err(|_| PkiError::BadName(n.clone())),
        })
        .collect::<Result<_, _>>()?;
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let not_after_ms =
        now_ms.saturating_add(i64::try_from(validity.as_millis()).unwrap_or(i64::MAX));
    let at = |ms: i64| {
        time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
            .map_err(|_| PkiError::Time(ms))
    };
    params.not_before = at(now_ms - 60_000)?;
    params.not_after = at(not_after_ms)?;
    let cert = params.self_signed(&key)?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// Established TLS connections from the accept loop, as axum's listener.
struct TlsListener {
    rx: mpsc::Receiver<Result<TlsConn, std::io::Error>>,
    local: SocketAddr,
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsConn;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (TlsConn, SocketAddr) {
        loop {
            match self.rx.recv().await {
                Some(Ok(conn)) => {
                    let addr = conn.peer().addr;
                    return (conn, addr);
                }
                Some(Err(_)) => continue,
                // The accept loop stopped (shutdown): wait for axum's graceful shutdown to end us.
                None => std::future::pending::<()>().await,
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        Ok(self.local)
    }
}

/// The peer address of a request, as our listener saw it.
#[derive(Debug, Clone, Copy)]
struct Peer(SocketAddr);

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, TlsListener>> for Peer {
    fn connect_info(stream: axum::serve::IncomingStream<'_, TlsListener>) -> Peer {
        Peer(*stream.remote_addr())
    }
}

/// Starts the HTTPS listener on `listener` with `chain`/`key`; returns the serving task.
pub fn start(
    ctx: Arc<Ctx>,
    listener: TcpListener,
    config: rustls::ServerConfig,
    limits: AcceptLimits,
    shutdown: CancellationToken,
) -> std::io::Result<tokio::task::JoinHandle<()>> {
    let local = listener.local_addr()?;
    let mut config = config;
    // HTTP/1.1 only: curl and browsers offer h2 first, and this router speaks HTTP/1.1.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let rx = tls::accept_loop(
        "https",
        listener,
        Arc::new(config),
        limits,
        shutdown.clone(),
    );
    let app = router(ctx);
    Ok(tokio::spawn(async move {
        let served = axum::serve(
            TlsListener { rx, local },
            app.into_make_service_with_connect_info::<Peer>(),
        )
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await;
        if let Err(error) = served {
            tracing::error!(port = "https", %error, "HTTPS server stopped.");
        }
    }))
}

/// The routes: `GET|POST /ping/<secret>` (success), `/ping/<secret>/start`, `/ping/<secret>/fail`
/// (the body, at most 10 KiB, is the failure message). Anything else is 404.
pub fn router(ctx: Arc<Ctx>) -> Router {
    Router::new()
        .route("/ping/{secret}", get(success).post(success))
        .route("/ping/{secret}/start", get(start_signal).post(start_signal))
        .route("/ping/{secret}/fail", get(fail).post(fail))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(ctx)
}

type Reply = (StatusCode, &'static str);

async fn success(
    State(ctx): State<Arc<Ctx>>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    Path(secret): Path<String>,
) -> Reply {
    signal(&ctx, peer, &secret, PingKind::Success, &[]).await
}

async fn start_signal(
    State(ctx): State<Arc<Ctx>>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    Path(secret): Path<String>,
) -> Reply {
    signal(&ctx, peer, &secret, PingKind::Start, &[]).await
}

async fn fail(
    State(ctx): State<Arc<Ctx>>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    Path(secret): Path<String>,
    body: Bytes,
) -> Reply {
    signal(&ctx, peer, &secret, PingKind::Failure, &body).await
}

async fn not_found(ConnectInfo(Peer(peer)): ConnectInfo<Peer>) -> Reply {
    tracing::warn!(target: "security", port = "https", peer = %peer, "HTTPS request for an unknown path refused.");
    (StatusCode::NOT_FOUND, "not found\n")
}

/// Rate limit per address, then the lookup by the secret's hash. Refusals are a status plus a
/// `security` line with the peer; the secret itself never reaches a log.
async fn signal(ctx: &Ctx, peer: SocketAddr, secret: &str, kind: PingKind, body: &[u8]) -> Reply {
    let now = ctx.clock.now_ms();
    let ip = peer.ip().to_string();
    if !ctx.ping_per_address.allow(&ip, now) {
        tracing::warn!(target: "security", port = "https", peer = %peer, "Ping rate limit reached for this address.");
        return (StatusCode::TOO_MANY_REQUESTS, "too many requests\n");
    }
    if secret.len() > MAX_SECRET_LEN || !secret.starts_with(ping::SECRET_PREFIX) {
        tracing::warn!(target: "security", port = "https", peer = %peer, "Ping with a malformed secret refused.");
        return (StatusCode::NOT_FOUND, "not found\n");
    }
    let message = ping::sanitize_message(body);
    match ctx
        .store
        .record_ping(&ping::secret_hash(secret), kind, now, &message)
        .await
    {
        Ok(Some(job)) => {
            tracing::info!(org = %job.org, job = %job.name, kind = ?kind, peer = %peer, "Ping recorded.");
            (StatusCode::OK, "OK\n")
        }
        Ok(None) => {
            tracing::warn!(target: "security", port = "https", peer = %peer, "Ping with an unknown secret refused.");
            (StatusCode::NOT_FOUND, "not found\n")
        }
        Err(error) => {
            tracing::error!(%error, peer = %peer, "Internal error while recording a ping.");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error\n")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_is_p256_for_the_names() {
        let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
        let (cert, key) =
            self_signed_p256(&names, 1_800_000_000_000, Duration::from_secs(86_400)).unwrap();
        assert!(cert.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(key.contains("PRIVATE KEY"));
        let pair = KeyPair::from_pem(&key).unwrap();
        assert!(pair.is_compatible(&PKCS_ECDSA_P256_SHA256));
    }
}
