//! The collector's TLS front (DESIGN decision 6): rustls with ring only, TLS 1.3 only, and our own accept
//! loop with a handshake timeout and a cap on concurrent handshakes, feeding tonic's
//! `serve_with_incoming`. A refused handshake is a `security` log line with the peer address.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Semaphore};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

/// Errors building a TLS configuration.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("tls configuration: {0}")]
    Rustls(#[from] rustls::Error),
    #[error("client verifier: {0}")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
}

/// The only crypto provider Vigie uses.
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Installs ring as the process-wide default provider (harmless if already installed).
pub fn install_default_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Server configuration. With `client_ca`, a client certificate chaining to it is required.
pub fn server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    client_ca: Option<&CertificateDer<'static>>,
) -> Result<ServerConfig, TlsError> {
    let provider = provider();
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])?;
    let mut config = match client_ca {
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            roots.add(ca.clone())?;
            let verifier =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider).build()?;
            builder
                .with_client_cert_verifier(verifier)
                .with_single_cert(chain, key)?
        }
        None => builder.with_no_client_auth().with_single_cert(chain, key)?,
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(config)
}

/// Who is on the other end of one accepted connection; tonic puts it in each request's extensions.
#[derive(Debug, Clone)]
pub struct PeerInfo {
    pub addr: SocketAddr,
    /// The client's end-entity certificate (DER), on the ingest port.
    pub client_cert: Option<Arc<Vec<u8>>>,
}

/// An accepted TLS connection.
pub struct TlsConn {
    inner: TlsStream<TcpStream>,
    info: PeerInfo,
}

impl TlsConn {
    /// Who is on the other end.
    pub fn peer(&self) -> &PeerInfo {
        &self.info
    }
}

impl tonic::transport::server::Connected for TlsConn {
    type ConnectInfo = PeerInfo;
    fn connect_info(&self) -> PeerInfo {
        self.info.clone()
    }
}

impl AsyncRead for TlsConn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsConn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// Limits of the accept loop.
#[derive(Debug, Clone, Copy)]
pub struct AcceptLimits {
    pub handshake_timeout: Duration,
    pub max_concurrent_handshakes: usize,
}

impl Default for AcceptLimits {
    fn default() -> Self {
        Self {
            handshake_timeout: Duration::from_secs(10),
            max_concurrent_handshakes: 256,
        }
    }
}

/// Accepts TCP connections, runs TLS handshakes under the limits, and yields established
/// connections on the returned channel until `shutdown` fires.
pub fn accept_loop(
    port_name: &'static str,
    listener: TcpListener,
    config: Arc<ServerConfig>,
    limits: AcceptLimits,
    shutdown: CancellationToken,
) -> mpsc::Receiver<Result<TlsConn, std::io::Error>> {
    let (tx, rx) = mpsc::channel(64);
    let acceptor = TlsAcceptor::from(config);
    let handshakes = Arc::new(Semaphore::new(limits.max_concurrent_handshakes));
    tokio::spawn(async move {
        loop {
            let (tcp, addr) = tokio::select! {
                _ = shutdown.cancelled() => break,
                accepted = listener.accept() => match accepted {
                    Ok(pair) => pair,
                    Err(error) => {
                        tracing::warn!(port = port_name, %error, "Accept failed.");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            let Ok(permit) = handshakes.clone().try_acquire_owned() else {
                tracing::warn!(
                    target: "security", port = port_name, peer = %addr,
                    "Refused a connection: too many TLS handshakes in progress."
                );
                drop(tcp);
                continue;
            };
            let _ = tcp.set_nodelay(true);
            let acceptor = acceptor.clone();
            let tx = tx.clone();
            tokio::spawn(async move {
                let result =
                    tokio::time::timeout(limits.handshake_timeout, acceptor.accept(tcp)).await;
                drop(permit);
                let stream = match result {
                    Ok(Ok(stream)) => stream,
                    Ok(Err(error)) => {
                        tracing::warn!(
                            target: "security", port = port_name, peer = %addr, %error,
                            "TLS handshake refused."
                        );
                        return;
                    }
                    Err(_) => {
                        tracing::warn!(
                            target: "security", port = port_name, peer = %addr,
                            "TLS handshake timed out."
                        );
                        return;
                    }
                };
                let client_cert = stream
                    .get_ref()
                    .1
                    .peer_certificates()
                    .and_then(|c| c.first())
                    .map(|c| Arc::new(c.as_ref().to_vec()));
                let info = PeerInfo { addr, client_cert };
                let _ = tx
                    .send(Ok(TlsConn {
                        inner: stream,
                        info,
                    }))
                    .await;
            });
        }
    });
    rx
}
