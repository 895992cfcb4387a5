//! The agent's TLS client: ring only, TLS 1.3 only. At enrollment the collector's chain is checked
//! against the `sha256:` pin of its CA **before** anything is sent (DESIGN decision 8); afterwards the
//! stored CA is the only trust anchor. The channel does its own TLS in a tonic connector, so tonic's
//! TLS features (and their aws-lc-rs default) stay out of the tree.

use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::TokioIo;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tonic::transport::{Channel, Endpoint, Uri};

/// Errors setting up or opening a connection.
#[derive(Debug, thiserror::Error)]
pub enum TlsClientError {
    #[error("collector URL {0:?} must look like https://HOST:PORT")]
    BadUrl(String),
    #[error("tls configuration: {0}")]
    Rustls(#[from] rustls::Error),
    #[error("connecting to {url}: {source}")]
    Connect {
        url: String,
        #[source]
        source: tonic::transport::Error,
    },
}

pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A collector address split from `https://host:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub host: String,
    pub port: u16,
}

impl Target {
    pub fn parse(url: &str) -> Result<Target, TlsClientError> {
        let bad = || TlsClientError::BadUrl(url.to_owned());
        let rest = url
            .strip_prefix("https://")
            .ok_or_else(bad)?
            .trim_end_matches('/');
        let (host, port) = rest.rsplit_once(':').ok_or_else(bad)?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() || host.contains('/') {
            return Err(bad());
        }
        Ok(Target {
            host: host.to_owned(),
            port: port.parse().map_err(|_| bad())?,
        })
    }
}

/// Verifies the server chain against a CA whose SubjectPublicKeyInfo must match the pin.
#[derive(Debug)]
struct PinnedVerifier {
    pin: String,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for PinnedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let ca = intermediates.iter().find(|c| {
            vigie_proto::pin::spki_fingerprint(c)
                .is_ok_and(|fp| vigie_proto::pin::pins_equal(&fp, &self.pin))
        });
        let Some(ca) = ca else {
            tracing::warn!(target: "security", "Collector certificate chain does not match the CA pin.");
            return Err(rustls::Error::General(
                "collector CA does not match the pinned fingerprint".into(),
            ));
        };
        let mut roots = RootCertStore::empty();
        roots.add(ca.clone().into_owned())?;
        let inner =
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), self.provider.clone())
                .build()
                .map_err(|e| rustls::Error::General(e.to_string()))?;
        inner.verify_server_cert(end_entity, &[], server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(rustls::Error::General("TLS 1.2 is not accepted".into()))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

fn builder() -> Result<rustls::ConfigBuilder<ClientConfig, rustls::WantsVerifier>, TlsClientError> {
    Ok(ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?)
}

/// For enrollment: no client certificate, the chain checked against the pin.
pub fn enroll_config(pin: &str) -> Result<ClientConfig, TlsClientError> {
    let verifier = Arc::new(PinnedVerifier {
        pin: pin.to_owned(),
        provider: provider(),
    });
    let mut cfg = builder()?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    cfg.alpn_protocols = vec![b"h2".to_vec()];
    Ok(cfg)
}

/// For ingest: the stored CA as the only root, and the agent's certificate and key.
pub fn ingest_config(
    ca_der: &[u8],
    cert_der: &[u8],
    key: PrivateKeyDer<'static>,
) -> Result<ClientConfig, TlsClientError> {
    let mut roots = RootCertStore::empty();
    roots.add(CertificateDer::from(ca_der.to_vec()))?;
    let mut cfg = builder()?
        .with_root_certificates(roots)
        .with_client_auth_cert(vec![CertificateDer::from(cert_der.to_vec())], key)?;
    cfg.alpn_protocols = vec![b"h2".to_vec()];
    Ok(cfg)
}

/// Opens a gRPC channel over our own TLS. Every resolved address is tried in turn, since `localhost`
/// may resolve to `::1` first while the collector listens on 127.0.0.1.
pub async fn connect(
    url: &str,
    config: ClientConfig,
    timeout: Duration,
) -> Result<Channel, TlsClientError> {
    let target = Target::parse(url)?;
    let connector = TlsConnector::from(Arc::new(config));
    let t = target.clone();
    let service = tower::service_fn(move |_: Uri| {
        let (connector, t) = (connector.clone(), t.clone());
        async move {
            let mut last = std::io::Error::new(std::io::ErrorKind::NotFound, "no address resolved");
            let mut tcp = None;
            for addr in tokio::net::lookup_host((t.host.as_str(), t.port)).await? {
                match TcpStream::connect(addr).await {
                    Ok(s) => {
                        tcp = Some(s);
                        break;
                    }
                    Err(e) => last = e,
                }
            }
            let tcp = tcp.ok_or(last)?;
            let _ = tcp.set_nodelay(true);
            let name = ServerName::try_from(t.host.clone())
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
            let tls = connector.connect(name, tcp).await?;
            Ok::<_, std::io::Error>(TokioIo::new(tls))
        }
    });
    // The scheme is http because TLS happens in the connector above, not in tonic.
    let endpoint =
        Endpoint::from_shared(format!("http://{}:{}", bracket(&target.host), target.port))
            .map_err(|source| TlsClientError::Connect {
                url: url.to_owned(),
                source,
            })?
            .connect_timeout(timeout)
            .timeout(timeout)
            .http2_keep_alive_interval(Duration::from_secs(60))
            .keep_alive_while_idle(false);
    endpoint
        .connect_with_connector(service)
        .await
        .map_err(|source| TlsClientError::Connect {
            url: url.to_owned(),
            source,
        })
}

fn bracket(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            Target::parse("https://localhost:7444").unwrap(),
            Target {
                host: "localhost".into(),
                port: 7444
            }
        );
        assert_eq!(
            Target::parse("https://[::1]:7/").unwrap(),
            Target {
                host: "::1".into(),
                port: 7
            }
        );
        for bad in [
            "http://x:1",
            "https://x",
            "https://:1",
            "https://x:y",
            "https://a/b:1",
        ] {
            assert!(Target::parse(bad).is_err(), "{bad}");
        }
    }
}
