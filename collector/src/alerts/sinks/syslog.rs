//! The syslog sink: RFC 5424 messages for an existing SIEM, over UDP, TCP or TLS, one connection
//! (or datagram) per delivery attempt, to an address the operator's policy allows.
//!
//! A server that is gone (refused or timed-out connection, failed TLS handshake) is a transient
//! failure on TCP and TLS. UDP cannot detect loss: a datagram is "sent" unless the host answers
//! "port unreachable" within a moment; choose TCP or TLS when alerts must arrive. Not here: the
//! message format (`message`) and the framing on the wire (`transport`).

mod message;
mod transport;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::ServerName;
use serde::{Deserialize, Serialize};
use tokio_rustls::TlsConnector;

use self::message::{is_sd_name, Framer};
use self::transport::Transport;
use super::address::AddressPolicy;
use super::tls::{client_config, TlsFiles};
use super::ConfigError;
use crate::alerts::sink::{Notification, Sink, SinkError};

pub use self::message::{escape_value, severity_code, timestamp};
pub use self::transport::{DRAIN_WAIT, UDP_REFUSAL_WAIT};

/// The SD-ID of Vigie's structured data: 32473 is the private enterprise number RFC 5612 reserves
/// for documentation; an operator with its own number sets `sd_id`.
pub const DEFAULT_SD_ID: &str = "vigie@32473";

/// How messages travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyslogTransport {
    /// RFC 5426, default port 514. Loss goes unnoticed.
    Udp,
    /// RFC 6587 octet counting, default port 514.
    Tcp,
    /// RFC 5425, default port 6514.
    Tls,
}

/// Syslog facilities (RFC 5424 table 1) by their usual names.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Facility {
    Kern,
    User,
    Mail,
    Daemon,
    Auth,
    Syslog,
    Lpr,
    News,
    Uucp,
    Cron,
    Authpriv,
    Ftp,
    Ntp,
    Audit,
    Alert,
    Clock,
    #[default]
    Local0,
    Local1,
    Local2,
    Local3,
    Local4,
    Local5,
    Local6,
    Local7,
}

impl Facility {
    /// The facility's code (0 to 23): its position in RFC 5424 table 1, which the enum follows.
    pub fn code(self) -> u8 {
        self as u8
    }
}

/// A syslog sink as written in `collector.toml` (inside a sink whose `kind = "syslog"`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyslogConfig {
    /// `udp`, `tcp` or `tls`.
    pub transport: SyslogTransport,
    /// Server name or IP address.
    pub host: String,
    /// Server port; default 514 (UDP, TCP) or 6514 (TLS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// Facility of every message; default `local0`.
    #[serde(default)]
    pub facility: Facility,
    /// HOSTNAME field; default this machine's host name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// SD-ID of the structured data element; default `vigie@32473`.
    #[serde(default = "default_sd_id")]
    pub sd_id: String,
    /// Longest message in bytes, framing excluded (2048 to 65000); default 2048 over UDP (RFC 5426),
    /// 8192 over TCP and TLS (RFC 5425).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_message_bytes: Option<u32>,
    /// TLS: extra CA certificates (PEM) trusted besides the system store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// TLS: the name the server certificate must carry; default `host`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
    /// TLS: client certificate chain (PEM), for servers that authenticate their clients.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_cert_file: Option<PathBuf>,
    /// TLS: the client certificate's private key (PEM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_key_file: Option<PathBuf>,
    /// Deadline for the name lookup, the TCP connection and the TLS handshake (1 to 60 s).
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_secs: u32,
    /// Deadline for the whole attempt (1 to 300 s).
    #[serde(default = "default_timeout")]
    pub timeout_secs: u32,
}

fn default_sd_id() -> String {
    DEFAULT_SD_ID.to_owned()
}
fn default_connect_timeout() -> u32 {
    5
}
fn default_timeout() -> u32 {
    10
}

/// A syslog destination ready to deliver.
pub struct SyslogSink {
    name: String,
    host: String,
    port: u16,
    transport: Transport,
    framer: Framer,
    policy: AddressPolicy,
    connect_timeout: Duration,
    timeout: Duration,
}

impl std::fmt::Debug for SyslogSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyslogSink")
            .field("name", &self.name)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("framer", &self.framer)
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

/// `name@number`: an SD-ID that is not IANA's (RFC 5424 §6.3.2).
fn is_vendor_sd_id(s: &str) -> bool {
    is_sd_name(s)
        && s.split_once('@').is_some_and(|(name, number)| {
            !name.is_empty()
                && !number.is_empty()
                && number.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        })
}

fn is_hostname_field(s: &str) -> bool {
    (1..=255).contains(&s.len()) && s.bytes().all(|b| (33..=126).contains(&b))
}

/// This machine's host name, or the NILVALUE when it cannot be read or is not printable ASCII.
fn local_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .ok()
        .filter(|s| is_hostname_field(s))
        .unwrap_or_else(|| "-".to_owned())
}

fn transport(cfg: &SyslogConfig) -> Result<Transport, ConfigError> {
    let tls_only = [
        ("ca_file", cfg.ca_file.is_some()),
        ("server_name", cfg.server_name.is_some()),
        ("client_cert_file", cfg.client_cert_file.is_some()),
        ("client_key_file", cfg.client_key_file.is_some()),
    ];
    match cfg.transport {
        SyslogTransport::Udp | SyslogTransport::Tcp => {
            if let Some((key, _)) = tls_only.iter().find(|(_, set)| *set) {
                return Err(ConfigError::new(
                    key,
                    "only meaningful with transport = \"tls\"",
                ));
            }
            Ok(if cfg.transport == SyslogTransport::Udp {
                Transport::Udp
            } else {
                Transport::Tcp
            })
        }
        SyslogTransport::Tls => {
            let config = client_config(TlsFiles {
                ca_file: cfg.ca_file.as_deref(),
                client_cert_file: cfg.client_cert_file.as_deref(),
                client_key_file: cfg.client_key_file.as_deref(),
            })?;
            let (key, name) = match &cfg.server_name {
                Some(name) => ("server_name", name.clone()),
                None => ("host", cfg.host.clone()),
            };
            let name = ServerName::try_from(name)
                .map_err(|_| ConfigError::new(key, "neither a DNS name nor an IP address"))?;
            Ok(Transport::Tls(TlsConnector::from(Arc::new(config)), name))
        }
    }
}

impl SyslogSink {
    /// Checks `cfg` and prepares its TLS settings. `policy` is the operator's: a SIEM on a private
    /// network must be in its `allow_private_cidrs`.
    pub fn from_config(
        name: impl Into<String>,
        cfg: &SyslogConfig,
        policy: &AddressPolicy,
    ) -> Result<SyslogSink, ConfigError> {
        let connect_timeout = secs("connect_timeout_secs", cfg.connect_timeout_secs, 60)?;
        let timeout = secs("timeout_secs", cfg.timeout_secs, 300)?;
        if connect_timeout > timeout {
            return Err(ConfigError::new(
                "connect_timeout_secs",
                "must not exceed timeout_secs",
            ));
        }
        let host = cfg
            .host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        if ServerName::try_from(host.clone()).is_err() {
            return Err(ConfigError::new(
                "host",
                "neither a DNS name nor an IP address",
            ));
        }
        let hostname = match &cfg.hostname {
            Some(h) if is_hostname_field(h) => h.clone(),
            Some(_) => {
                return Err(ConfigError::new(
                    "hostname",
                    "must be 1 to 255 printable ASCII characters without spaces",
                ))
            }
            None => local_hostname(),
        };
        if !is_vendor_sd_id(&cfg.sd_id) {
            return Err(ConfigError::new(
                "sd_id",
                "must be NAME@ENTERPRISE-NUMBER (names without @ are reserved for IANA), \
                 at most 32 printable characters, e.g. vigie@32473",
            ));
        }
        let default_max = match cfg.transport {
            SyslogTransport::Udp => 2048,
            SyslogTransport::Tcp | SyslogTransport::Tls => 8192,
        };
        let max = cfg.max_message_bytes.unwrap_or(default_max);
        if !(2048..=65_000).contains(&max) {
            return Err(ConfigError::new(
                "max_message_bytes",
                "must be between 2048 and 65000",
            ));
        }
        let port = cfg.port.unwrap_or(match cfg.transport {
            SyslogTransport::Tls => 6514,
            _ => 514,
        });
        if port == 0 {
            return Err(ConfigError::new("port", "must not be 0"));
        }
        Ok(SyslogSink {
            name: name.into(),
            host,
            port,
            transport: transport(cfg)?,
            framer: Framer {
                facility: cfg.facility.code(),
                hostname,
                sd_id: cfg.sd_id.clone(),
                max_bytes: usize::try_from(max).unwrap_or(2048),
            },
            policy: policy.clone(),
            connect_timeout,
            timeout,
        })
    }

    /// The message this sink would send for `n` (framing excluded).
    pub fn format(&self, n: &Notification) -> Vec<u8> {
        self.framer.format(n)
    }
}

#[async_trait::async_trait]
impl Sink for SyslogSink {
    fn name(&self) -> &str {
        &self.name
    }

    async fn deliver(&self, notification: &Notification) -> Result<(), SinkError> {
        let message = self.framer.format(notification);
        let attempt = async {
            let addrs = self
                .policy
                .resolve(&self.host, self.port, self.connect_timeout)
                .await?;
            transport::send(&self.transport, &addrs, self.connect_timeout, &message).await
        };
        match tokio::time::timeout(self.timeout, attempt).await {
            Ok(result) => result,
            Err(_) => Err(SinkError::Transient(format!(
                "syslog server {}:{} did not take the message within {} s",
                self.host,
                self.port,
                self.timeout.as_secs()
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(extra: &str) -> SyslogConfig {
        toml::from_str(&format!(
            "transport = \"tcp\"\nhost = \"siem.example\"\n{extra}"
        ))
        .unwrap()
    }

    #[track_caller]
    fn refused(cfg: &SyslogConfig, key: &str) {
        let err = SyslogSink::from_config("s", cfg, &AddressPolicy::public_only()).unwrap_err();
        assert_eq!(err.key, key, "{err}");
    }

    #[test]
    fn facilities_have_their_rfc_codes() {
        assert_eq!(Facility::Kern.code(), 0);
        assert_eq!(Facility::Authpriv.code(), 10);
        assert_eq!(Facility::Clock.code(), 15);
        assert_eq!(Facility::Local0.code(), 16);
        assert_eq!(Facility::Local7.code(), 23);
    }

    #[test]
    fn configurations_are_checked() {
        let ok = SyslogSink::from_config("s", &config(""), &AddressPolicy::public_only()).unwrap();
        assert_eq!(
            (ok.port, ok.framer.max_bytes, ok.framer.facility),
            (514, 8192, 16)
        );
        let tls: SyslogConfig =
            toml::from_str("transport = \"tls\"\nhost = \"siem.example\"\nfacility = \"auth\"")
                .unwrap();
        let tls = SyslogSink::from_config("s", &tls, &AddressPolicy::public_only()).unwrap();
        assert_eq!((tls.port, tls.framer.facility), (6514, 4));

        refused(&config("hostname = \"a b\""), "hostname");
        refused(&config("sd_id = \"vigie\""), "sd_id");
        refused(&config("sd_id = \"vi=gie@1\""), "sd_id");
        refused(&config("sd_id = \"vigie@x\""), "sd_id");
        refused(&config("max_message_bytes = 100"), "max_message_bytes");
        refused(&config("ca_file = \"/x.pem\""), "ca_file");
        refused(&config("timeout_secs = 0"), "timeout_secs");
        refused(&config("port = 0"), "port");
        let mut bad_host = config("");
        bad_host.host = "bad host".into();
        refused(&bad_host, "host");
        assert!(toml::from_str::<SyslogConfig>(
            "transport = \"tcp\"\nhost = \"a\"\nfacility = \"local9\""
        )
        .is_err());
        assert!(
            toml::from_str::<SyslogConfig>("transport = \"tcp\"\nhost = \"a\"\nretry = 1").is_err()
        );
        assert!(toml::from_str::<SyslogConfig>("transport = \"relp\"\nhost = \"a\"").is_err());
    }
}
