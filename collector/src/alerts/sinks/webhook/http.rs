//! One HTTP/1.1 POST on a connection we open ourselves: resolve and check the host (address policy),
//! connect to a checked address, TLS when the URL is https, send, read a capped reply.
//!
//! hyper's pooled client is not used on purpose: it resolves names itself, which would reopen the
//! DNS-rebinding window between the policy check and the connection, and it would keep connections
//! around between alerts that are minutes apart. Redirects are never followed (hyper's connection
//! API does not follow them; a 3xx comes back to the caller as a status).

use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::TlsConnector;

use crate::alerts::sink::SinkError;
use crate::alerts::sinks::address::{connect_tcp, AddressPolicy};

/// At most this much of a reply body is read (for the error message); the rest is dropped.
pub const MAX_REPLY_BYTES: usize = 64 * 1024;

/// Where a webhook goes, parsed and checked once from its URL.
pub struct Target {
    /// Host as written in the URL (IPv6 literals without brackets), for resolution and messages.
    pub host: String,
    pub port: u16,
    /// `Host` header value (the URL's authority).
    pub authority: String,
    /// Origin-form request target (`/path?query`).
    pub path_and_query: String,
    /// TLS settings and the name the certificate must carry; `None` for plain HTTP.
    pub tls: Option<(TlsConnector, ServerName<'static>)>,
}

/// What the receiver answered.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    /// The first [`MAX_REPLY_BYTES`] bytes of the body at most.
    pub body: Vec<u8>,
}

/// Aborts the task driving the connection when the exchange ends, however it ends.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Sends `request` (its URI already origin-form, its headers set) to `target`. The caller bounds the
/// whole exchange in time; `connect_timeout` bounds the lookup and each connection attempt.
pub async fn post(
    target: &Target,
    policy: &AddressPolicy,
    connect_timeout: Duration,
    request: Request<Full<Bytes>>,
) -> Result<Reply, SinkError> {
    let addrs = policy
        .resolve(&target.host, target.port, connect_timeout)
        .await?;
    let tcp = connect_tcp(&addrs, connect_timeout).await?;
    match &target.tls {
        None => exchange(tcp, request, &target.host).await,
        Some((connector, name)) => {
            let tls = tokio::time::timeout(connect_timeout, connector.connect(name.clone(), tcp))
                .await
                .map_err(|_| {
                    SinkError::Transient(format!("TLS handshake with {}: timed out", target.host))
                })?
                .map_err(|e| {
                    SinkError::Transient(format!("TLS handshake with {}: {e}", target.host))
                })?;
            exchange(tls, request, &target.host).await
        }
    }
}

async fn exchange<S>(io: S, request: Request<Full<Bytes>>, host: &str) -> Result<Reply, SinkError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let network = |what: &str, e: hyper::Error| SinkError::Transient(format!("{what} {host}: {e}"));
    let (mut sender, conn) = hyper::client::conn::http1::Builder::new()
        .max_buf_size(MAX_REPLY_BYTES)
        .handshake(TokioIo::new(io))
        .await
        .map_err(|e| network("opening HTTP with", e))?;
    let _driver = AbortOnDrop(tokio::spawn(async move {
        if let Err(error) = conn.await {
            tracing::debug!(%error, "Webhook connection ended with an error.");
        }
    }));
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| network("sending to", e))?;
    let status = response.status();
    let mut body = response.into_body();
    let mut read = Vec::new();
    while read.len() < MAX_REPLY_BYTES {
        match body.frame().await {
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    let room = MAX_REPLY_BYTES - read.len();
                    read.extend_from_slice(data.get(..room.min(data.len())).unwrap_or(&[]));
                }
            }
            // A body cut short does not change what the status said.
            Some(Err(_)) | None => break,
        }
    }
    Ok(Reply { status, body: read })
}
