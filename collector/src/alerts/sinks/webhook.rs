//! The webhook sink: one HTTPS POST of JSON per delivery attempt (plain HTTP only when the sink's
//! configuration says so), to an address the operator's policy allows, with connect and total
//! deadlines. 2xx is delivered; 408, 429, 5xx and network failures are transient; anything else
//! (redirects included, which are not followed) is permanent.
//!
//! Every request carries `Idempotency-Key` (the notification key): a receiver that deduplicates on it
//! turns the dispatcher's at-least-once delivery into exactly-once. Error messages name the host,
//! never the URL path, which for chat webhooks is the secret.

mod http;
mod payload;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, HOST, USER_AGENT};
use hyper::{Request, StatusCode, Uri};
use rustls_pki_types::ServerName;
use serde::{Deserialize, Serialize};
use tokio_rustls::TlsConnector;

use self::http::{Reply, Target};
use super::address::AddressPolicy;
use super::text::{ellipsize, one_line};
use super::tls::{client_config, TlsFiles};
use super::ConfigError;
use crate::alerts::sink::{Notification, Sink, SinkError};

pub use self::http::MAX_REPLY_BYTES;
pub use self::payload::MAX_CHAT_TEXT_BYTES;

/// What the request body looks like.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WebhookFormat {
    /// The notification's event document as is (schema in `docs/alerts.md`).
    #[default]
    Vigie,
    /// Slack incoming webhook: `{"text": ...}` with Slack's escaping.
    Slack,
    /// Mattermost incoming webhook: `{"text": ...}` in escaped Markdown.
    Mattermost,
    /// Microsoft Teams (Workflows or connector): an Adaptive Card.
    Teams,
}

/// A webhook sink as written in `collector.toml` (inside a sink whose `kind = "webhook"`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Receiver URL, `https://...` (or `http://...` with `allow_http`). No user:password part.
    pub url: String,
    /// `vigie` (default), `slack`, `mattermost` or `teams`.
    #[serde(default)]
    pub format: WebhookFormat,
    /// Accept an `http://` URL: the alert then crosses the network in clear. Default false.
    #[serde(default)]
    pub allow_http: bool,
    /// Extra CA certificates (PEM) trusted for this receiver, besides the system store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// Value of an `Authorization` header to send (e.g. `Bearer ...`), if the receiver wants one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization: Option<String>,
    /// Deadline for the name lookup, each TCP connection and the TLS handshake (1 to 60 s).
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_secs: u32,
    /// Deadline for the whole attempt, reply included (1 to 300 s).
    #[serde(default = "default_timeout")]
    pub timeout_secs: u32,
}

fn default_connect_timeout() -> u32 {
    5
}
fn default_timeout() -> u32 {
    15
}

/// A webhook ready to deliver.
pub struct WebhookSink {
    name: String,
    format: WebhookFormat,
    target: Target,
    policy: AddressPolicy,
    authorization: Option<HeaderValue>,
    connect_timeout: Duration,
    timeout: Duration,
}

impl std::fmt::Debug for WebhookSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookSink")
            .field("name", &self.name)
            .field("format", &self.format)
            .field("host", &self.target.host)
            .field("port", &self.target.port)
            .finish_non_exhaustive()
    }
}

fn secs(key: &'static str, value: u32, max: u32) -> Result<Duration, ConfigError> {
    if value == 0 || value > max {
        return Err(ConfigError::new(
            key,
            format!("must be between 1 and {max}"),
        ));
    }
    Ok(Duration::from_secs(u64::from(value)))
}

fn parse_target(cfg: &WebhookConfig) -> Result<Target, ConfigError> {
    let bad = |m: &str| ConfigError::new("url", m.to_owned());
    let uri: Uri = cfg
        .url
        .parse()
        .map_err(|e| ConfigError::new("url", format!("not a URL: {e}")))?;
    let https = match uri.scheme_str().map(str::to_ascii_lowercase).as_deref() {
        Some("https") => true,
        Some("http") if cfg.allow_http => false,
        Some("http") => return Err(bad("http:// is refused unless allow_http = true")),
        _ => return Err(bad("must start with https://")),
    };
    let authority = uri.authority().ok_or_else(|| bad("has no host"))?;
    if authority.as_str().contains('@') {
        return Err(bad(
            "must not carry a user name or password (use `authorization`)",
        ));
    }
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let name = ServerName::try_from(host.clone())
        .map_err(|_| bad("host is neither a DNS name nor an IP address"))?;
    let tls = if https {
        let mut config = client_config(TlsFiles {
            ca_file: cfg.ca_file.as_deref(),
            ..TlsFiles::default()
        })?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Some((TlsConnector::from(Arc::new(config)), name))
    } else if cfg.ca_file.is_some() {
        return Err(ConfigError::new("ca_file", "set for an http:// URL"));
    } else {
        None
    };
    Ok(Target {
        host,
        port: uri.port_u16().unwrap_or(if https { 443 } else { 80 }),
        authority: authority.as_str().to_owned(),
        path_and_query: uri
            .path_and_query()
            .map_or_else(|| "/".to_owned(), |p| p.as_str().to_owned()),
        tls,
    })
}

impl WebhookSink {
    /// Checks `cfg` and prepares its TLS settings. `policy` is the operator's, not the
    /// organisation's: it decides which special-purpose addresses the URL may reach.
    pub fn from_config(
        name: impl Into<String>,
        cfg: &WebhookConfig,
        policy: &AddressPolicy,
    ) -> Result<WebhookSink, ConfigError> {
        let connect_timeout = secs("connect_timeout_secs", cfg.connect_timeout_secs, 60)?;
        let timeout = secs("timeout_secs", cfg.timeout_secs, 300)?;
        if connect_timeout > timeout {
            return Err(ConfigError::new(
                "connect_timeout_secs",
                "must not exceed timeout_secs",
            ));
        }
        let authorization = cfg
            .authorization
            .as_deref()
            .map(|v| {
                let mut value = HeaderValue::from_str(v).map_err(|_| {
                    ConfigError::new("authorization", "must be visible ASCII on one line")
                })?;
                value.set_sensitive(true);
                Ok(value)
            })
            .transpose()?;
        Ok(WebhookSink {
            name: name.into(),
            format: cfg.format,
            target: parse_target(cfg)?,
            policy: policy.clone(),
            authorization,
            connect_timeout,
            timeout,
        })
    }

    fn request(&self, n: &Notification) -> Result<Request<Full<Bytes>>, SinkError> {
        let body = payload::render(self.format, n)?;
        let key = HeaderValue::from_str(&n.key).map_err(|_| {
            SinkError::Permanent("the notification key is not a valid header value".into())
        })?;
        let mut builder = Request::post(self.target.path_and_query.as_str())
            .header(HOST, self.target.authority.as_str())
            .header(CONTENT_TYPE, "application/json")
            .header(
                USER_AGENT,
                concat!("vigie-collector/", env!("CARGO_PKG_VERSION")),
            )
            .header("idempotency-key", key);
        if let Some(auth) = &self.authorization {
            builder = builder.header(AUTHORIZATION, auth.clone());
        }
        builder
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| SinkError::Permanent(format!("building the request: {e}")))
    }
}

/// The verdict on a receiver's answer.
fn classify(host: &str, reply: Reply) -> Result<(), SinkError> {
    let status = reply.status;
    if status.is_success() {
        return Ok(());
    }
    let said = ellipsize(&one_line(&String::from_utf8_lossy(&reply.body)), 200);
    let message = format!("{host} answered HTTP {}: {said}", status.as_u16());
    if status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
        || status.is_server_error()
    {
        Err(SinkError::Transient(message))
    } else if status.is_redirection() {
        Err(SinkError::Permanent(format!(
            "{message} (redirects are not followed: configure the final URL)"
        )))
    } else {
        Err(SinkError::Permanent(message))
    }
}

#[async_trait::async_trait]
impl Sink for WebhookSink {
    fn name(&self) -> &str {
        &self.name
    }

    async fn deliver(&self, notification: &Notification) -> Result<(), SinkError> {
        let request = self.request(notification)?;
        let attempt = http::post(&self.target, &self.policy, self.connect_timeout, request);
        match tokio::time::timeout(self.timeout, attempt).await {
            Ok(reply) => classify(&self.target.host, reply?),
            Err(_) => Err(SinkError::Transient(format!(
                "{} gave no complete answer within {} s",
                self.target.host,
                self.timeout.as_secs()
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(url: &str) -> WebhookConfig {
        toml::from_str(&format!("url = {url:?}")).unwrap()
    }

    #[track_caller]
    fn refused(cfg: &WebhookConfig, key: &str) {
        let err = WebhookSink::from_config("w", cfg, &AddressPolicy::public_only()).unwrap_err();
        assert_eq!(err.key, key, "{err}");
    }

    #[test]
    fn urls_are_checked_when_the_sink_is_built() {
        let ok = WebhookSink::from_config(
            "w",
            &config("https://hooks.example.org/services/T0/B0/secret?x=1"),
            &AddressPolicy::public_only(),
        )
        .unwrap();
        assert_eq!(ok.target.port, 443);
        assert_eq!(ok.target.path_and_query, "/services/T0/B0/secret?x=1");
        assert!(!format!("{ok:?}").contains("secret"));
        let v6 = WebhookSink::from_config(
            "w",
            &config("https://[2a01:e0a::1]:8443/h"),
            &AddressPolicy::public_only(),
        )
        .unwrap();
        assert_eq!(
            (v6.target.host.as_str(), v6.target.port),
            ("2a01:e0a::1", 8443)
        );

        refused(&config("http://hooks.example.org/x"), "url");
        refused(&config("ftp://hooks.example.org/x"), "url");
        refused(&config("https://user:pw@hooks.example.org/x"), "url");
        refused(&config("/relative"), "url");
        refused(&config("not a url"), "url");
        let mut plain = config("http://hooks.example.org/x");
        plain.allow_http = true;
        assert!(WebhookSink::from_config("w", &plain, &AddressPolicy::public_only()).is_ok());
        plain.ca_file = Some("/nonexistent".into());
        refused(&plain, "ca_file");
        let mut c = config("https://hooks.example.org/x");
        c.ca_file = Some("/nonexistent/ca.pem".into());
        refused(&c, "ca_file");
        let mut c = config("https://hooks.example.org/x");
        c.timeout_secs = 0;
        refused(&c, "timeout_secs");
        c.timeout_secs = 3;
        c.connect_timeout_secs = 4;
        refused(&c, "connect_timeout_secs");
        let mut c = config("https://hooks.example.org/x");
        c.authorization = Some("Bearer a\r\nX-Evil: 1".into());
        refused(&c, "authorization");
    }

    #[test]
    fn unknown_keys_and_formats_are_refused() {
        assert!(
            toml::from_str::<WebhookConfig>("url = \"https://a.example\"\nretries = 3").is_err()
        );
        assert!(
            toml::from_str::<WebhookConfig>("url = \"https://a.example\"\nformat = \"irc\"")
                .is_err()
        );
        let c: WebhookConfig =
            toml::from_str("url = \"https://a.example\"\nformat = \"teams\"").unwrap();
        assert_eq!(c.format, WebhookFormat::Teams);
    }

    #[track_caller]
    fn verdict(status: u16) -> &'static str {
        let reply = Reply {
            status: StatusCode::from_u16(status).unwrap(),
            body: b"nope\r\n".to_vec(),
        };
        match classify("h", reply) {
            Ok(()) => "ok",
            Err(SinkError::Transient(_)) => "transient",
            Err(SinkError::Permanent(_)) => "permanent",
        }
    }

    #[test]
    fn statuses_are_classified() {
        for (status, expect) in [
            (200, "ok"),
            (202, "ok"),
            (204, "ok"),
            (301, "permanent"),
            (307, "permanent"),
            (400, "permanent"),
            (401, "permanent"),
            (404, "permanent"),
            (408, "transient"),
            (410, "permanent"),
            (429, "transient"),
            (500, "transient"),
            (502, "transient"),
            (503, "transient"),
        ] {
            assert_eq!(verdict(status), expect, "{status}");
        }
    }
}
