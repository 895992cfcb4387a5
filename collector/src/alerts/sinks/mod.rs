//! The network sinks that are not e-mail: a JSON webhook (Vigie's own document, or a Mattermost,
//! Slack or Teams template) and syslog RFC 5424 over UDP, TCP or TLS.
//!
//! Each sink is built once from its configuration (`from_config`, errors naming the key) and then
//! makes one delivery attempt per call, within its own deadlines, classifying a failure as transient
//! or permanent. Retries, the durable queue and routing belong to the dispatcher, not here.
//! Both sinks reach addresses through [`address::AddressPolicy`]: the operator decides which private
//! ranges an organisation's sink may reach.

pub mod address;
pub mod syslog;
pub mod text;
pub mod tls;
pub mod webhook;

pub use address::{AddressPolicy, EgressConfig};
pub use syslog::{SyslogConfig, SyslogSink};
pub use webhook::{WebhookConfig, WebhookFormat, WebhookSink};

/// A sink configuration that cannot work, naming the key (relative to the sink's table).
#[derive(Debug, thiserror::Error)]
#[error("key `{key}`: {message}")]
pub struct ConfigError {
    /// The configuration key at fault, e.g. `url` or `allow_private_cidrs`.
    pub key: &'static str,
    pub message: String,
}

impl ConfigError {
    pub(crate) fn new(key: &'static str, message: impl Into<String>) -> ConfigError {
        ConfigError {
            key,
            message: message.into(),
        }
    }
}
