//! The e-mail sink: one SMTP submission per delivery attempt with lettre, over STARTTLS (required,
//! never opportunistic), implicit TLS (SMTPS) or, for a relay on the same machine only, no TLS;
//! rustls with the ring provider; AUTH PLAIN or LOGIN with a password read from a file at start.
//!
//! The message is plain text plus a simple HTML alternative, both rendered beforehand (`render`).
//! Headers carry nothing from hosts unescaped: the subject was made one line without control
//! characters and lettre encodes it (RFC 2047); `Message-ID` is built from the idempotency key, so a
//! retried delivery carries the same identifier and mail systems can drop the duplicate; the key is
//! also in `X-Vigie-Key`. Replies 4xx and network failures are transient, 5xx and TLS or
//! configuration failures permanent.

use std::path::{Path, PathBuf};
use std::time::Duration;

use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{Certificate, CertificateStore, Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::{Deserialize, Serialize};

use super::sink::{Notification, Sink, SinkError};
use super::sinks::ConfigError;

/// How the connection to the SMTP server is protected.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EmailTls {
    /// Plain connection upgraded with STARTTLS, which is required (default port 587).
    #[default]
    Starttls,
    /// TLS from the first byte, SMTPS (default port 465).
    Implicit,
    /// No TLS at all (default port 25): only for a relay on the loopback address, and never with a
    /// password.
    None,
}

/// An e-mail sink as written in `collector.toml` (inside a sink whose `kind = "email"`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailConfig {
    /// SMTP server name or address.
    pub smtp_host: String,
    /// Default 587 (STARTTLS), 465 (implicit TLS) or 25 (none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smtp_port: Option<u16>,
    /// `starttls` (default), `implicit` or `none`.
    #[serde(default)]
    pub tls: EmailTls,
    /// The name the server's certificate must carry; default `smtp_host`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_server_name: Option<String>,
    /// Extra CA certificates (PEM) trusted for this server, besides the system store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// SMTP AUTH user; with `password_file`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// File holding the SMTP password (one line); must not be readable by others.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_file: Option<PathBuf>,
    /// Sender address, e.g. `Vigie <vigie@mairie.example>`.
    pub from: String,
    /// Recipients.
    pub to: Vec<String>,
    /// Name given in EHLO; default `localhost`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hello_name: Option<String>,
    /// Deadline of the whole submission (1 to 300 s).
    #[serde(default = "default_timeout")]
    pub timeout_secs: u32,
}

fn default_timeout() -> u32 {
    30
}

/// An e-mail destination ready to deliver.
pub struct EmailSink {
    name: String,
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    to: Vec<Mailbox>,
    /// Right-hand side of `Message-ID`: the sender's domain.
    id_domain: String,
    timeout: Duration,
    server: String,
}

impl std::fmt::Debug for EmailSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmailSink")
            .field("name", &self.name)
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

/// Reads a one-line secret from a file that others cannot read.
fn read_password(path: &Path) -> Result<String, ConfigError> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path)
        .map_err(|e| ConfigError::new("password_file", format!("{}: {e}", path.display())))?;
    if meta.permissions().mode() & 0o007 != 0 {
        return Err(ConfigError::new(
            "password_file",
            format!(
                "{}: readable or writable by others (mode {:o}); chmod o-rwx it",
                path.display(),
                meta.permissions().mode() & 0o777
            ),
        ));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::new("password_file", format!("{}: {e}", path.display())))?;
    let password = text.trim_end_matches(['\r', '\n']).to_owned();
    if password.is_empty() || password.contains(['\r', '\n']) {
        return Err(ConfigError::new(
            "password_file",
            format!("{}: must hold the password on one line", path.display()),
        ));
    }
    Ok(password)
}

fn mailbox(key: &'static str, text: &str) -> Result<Mailbox, ConfigError> {
    text.parse::<Mailbox>()
        .map_err(|e| ConfigError::new(key, format!("{text:?}: {e}")))
}

impl EmailSink {
    /// Checks `cfg`, reads the password and the extra CA file, and prepares the transport.
    pub fn from_config(
        name: impl Into<String>,
        cfg: &EmailConfig,
    ) -> Result<EmailSink, ConfigError> {
        let host = cfg.smtp_host.trim();
        if host.is_empty() {
            return Err(ConfigError::new("smtp_host", "must not be empty"));
        }
        if cfg.timeout_secs == 0 || cfg.timeout_secs > 300 {
            return Err(ConfigError::new(
                "timeout_secs",
                "must be between 1 and 300",
            ));
        }
        let from = mailbox("from", &cfg.from)?;
        if cfg.to.is_empty() {
            return Err(ConfigError::new("to", "at least one recipient is needed"));
        }
        let to = cfg
            .to
            .iter()
            .map(|t| mailbox("to", t))
            .collect::<Result<Vec<_>, _>>()?;
        let port = cfg.smtp_port.unwrap_or(match cfg.tls {
            EmailTls::Starttls => 587,
            EmailTls::Implicit => 465,
            EmailTls::None => 25,
        });
        let tls = match cfg.tls {
            EmailTls::None => {
                let loopback = host == "localhost"
                    || host
                        .parse::<std::net::IpAddr>()
                        .is_ok_and(|ip| ip.is_loopback());
                if !loopback {
                    return Err(ConfigError::new(
                        "tls",
                        "\"none\" is only allowed for a relay on the loopback address",
                    ));
                }
                if cfg.username.is_some() || cfg.password_file.is_some() {
                    return Err(ConfigError::new(
                        "tls",
                        "a password is never sent without TLS",
                    ));
                }
                Tls::None
            }
            mode => {
                let server_name = cfg
                    .tls_server_name
                    .clone()
                    .unwrap_or_else(|| host.to_owned());
                let mut params = TlsParameters::builder(server_name)
                    .certificate_store(CertificateStore::Default);
                if let Some(path) = &cfg.ca_file {
                    let pem = std::fs::read(path).map_err(|e| {
                        ConfigError::new("ca_file", format!("{}: {e}", path.display()))
                    })?;
                    let cert = Certificate::from_pem(&pem).map_err(|e| {
                        ConfigError::new("ca_file", format!("{}: {e}", path.display()))
                    })?;
                    params = params.add_root_certificate(cert);
                }
                let params = params
                    .build_rustls()
                    .map_err(|e| ConfigError::new("ca_file", e.to_string()))?;
                if mode == EmailTls::Implicit {
                    Tls::Wrapper(params)
                } else {
                    Tls::Required(params)
                }
            }
        };
        let timeout = Duration::from_secs(u64::from(cfg.timeout_secs));
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(port)
            .tls(tls)
            .timeout(Some(timeout))
            .hello_name(ClientId::Domain(
                cfg.hello_name.clone().unwrap_or_else(|| "localhost".into()),
            ));
        match (&cfg.username, &cfg.password_file) {
            (Some(user), Some(path)) => {
                let password = read_password(path)?;
                builder = builder
                    .credentials(Credentials::new(user.clone(), password))
                    .authentication(vec![Mechanism::Plain, Mechanism::Login]);
            }
            (None, None) => {}
            (Some(_), None) => {
                return Err(ConfigError::new("password_file", "needed with `username`"))
            }
            (None, Some(_)) => {
                return Err(ConfigError::new("username", "needed with `password_file`"))
            }
        }
        let id_domain = from
            .email
            .domain()
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-'))
            .collect::<String>();
        Ok(EmailSink {
            name: name.into(),
            transport: builder.build(),
            from,
            to,
            id_domain: if id_domain.is_empty() {
                "vigie.invalid".into()
            } else {
                id_domain
            },
            timeout,
            server: format!("{host}:{port}"),
        })
    }

    /// The message for `n`, as it is submitted.
    pub fn message(&self, n: &Notification) -> Result<Message, SinkError> {
        // The key is ours (`n-…`, `digest-…`), but it goes into headers: keep it to a safe alphabet.
        let key: String = n
            .key
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
            .collect();
        let subject = super::sinks::text::one_line(&n.subject);
        let mut builder = Message::builder()
            .from(self.from.clone())
            .subject(subject)
            .date(n.occurred_at)
            .message_id(Some(format!("<{key}@{}>", self.id_domain)));
        if let Ok(header) = HeaderName::new_from_ascii("X-Vigie-Key".to_owned()) {
            builder = builder.raw_header(HeaderValue::new(header, key.clone()));
        }
        for to in &self.to {
            builder = builder.to(to.clone());
        }
        let text = super::sinks::text::multi_line(&n.text);
        let built = match &n.html {
            Some(html) => builder.multipart(MultiPart::alternative_plain_html(text, html.clone())),
            None => builder.singlepart(SinglePart::plain(text)),
        };
        built.map_err(|e| SinkError::Permanent(format!("building the message: {e}")))
    }
}

/// Transient or permanent, from what lettre says.
fn classify(server: &str, e: &lettre::transport::smtp::Error) -> SinkError {
    let text = format!("{server}: {e}");
    if e.is_permanent() || e.is_tls() {
        SinkError::Permanent(text)
    } else {
        SinkError::Transient(text)
    }
}

#[async_trait::async_trait]
impl Sink for EmailSink {
    fn name(&self) -> &str {
        &self.name
    }

    async fn deliver(&self, notification: &Notification) -> Result<(), SinkError> {
        let message = self.message(notification)?;
        match tokio::time::timeout(self.timeout, self.transport.send(message)).await {
            Err(_) => Err(SinkError::Transient(format!(
                "{}: no answer within {} s",
                self.server,
                self.timeout.as_secs()
            ))),
            Ok(Err(e)) => Err(classify(&self.server, &e)),
            Ok(Ok(_)) => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::sink::NotificationKind;
    use vigie_policies::Severity;

    fn config() -> EmailConfig {
        EmailConfig {
            smtp_host: "127.0.0.1".into(),
            smtp_port: Some(2525),
            tls: EmailTls::None,
            tls_server_name: None,
            ca_file: None,
            username: None,
            password_file: None,
            from: "Vigie <vigie@mairie.example>".into(),
            to: vec!["dsi@mairie.example".into()],
            hello_name: None,
            timeout_secs: 5,
        }
    }

    #[test]
    fn hostile_subjects_stay_one_encoded_header() {
        let sink = EmailSink::from_config("m", &config()).unwrap();
        let n = Notification {
            key: "n-0123\r\nBcc: x@evil".into(),
            org: "o".into(),
            kind: NotificationKind::Opened,
            severity: Severity::High,
            subject: "[Vigie] srv\r\nBcc: victim@evil.example <script>".into(),
            text: "ligne 1\r\nligne 2\u{1b}[31m".into(),
            html: Some("<p>&lt;b&gt;</p>".into()),
            event: serde_json::json!({}),
            occurred_at: std::time::UNIX_EPOCH,
        };
        let raw = String::from_utf8(sink.message(&n).unwrap().formatted()).unwrap();
        let headers = raw.split("\r\n\r\n").next().unwrap();
        assert!(!headers.contains("\r\nBcc:"), "{headers}");
        assert!(
            headers.contains("Message-ID: <n-0123Bccxevil@mairie.example>"),
            "{headers}"
        );
        assert!(
            headers.contains("Subject: [Vigie] srv Bcc: victim@evil.example <script>"),
            "{headers}"
        );
        assert!(!raw.contains('\u{1b}'));
    }

    #[test]
    fn bad_configs_name_their_key() {
        let mut c = config();
        c.smtp_host = "smtp.example.fr".into();
        assert_eq!(EmailSink::from_config("m", &c).unwrap_err().key, "tls");
        let mut c = config();
        c.username = Some("u".into());
        assert_eq!(EmailSink::from_config("m", &c).unwrap_err().key, "tls");
        let mut c = config();
        c.to.clear();
        assert_eq!(EmailSink::from_config("m", &c).unwrap_err().key, "to");
        let mut c = config();
        c.from = "not an address".into();
        assert_eq!(EmailSink::from_config("m", &c).unwrap_err().key, "from");
        let dir = tempfile::tempdir().unwrap();
        let pw = dir.path().join("pw");
        std::fs::write(&pw, "secret\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&pw, std::fs::Permissions::from_mode(0o644)).unwrap();
        let mut c = config();
        c.tls = EmailTls::Starttls;
        c.username = Some("u".into());
        c.password_file = Some(pw.clone());
        assert_eq!(
            EmailSink::from_config("m", &c).unwrap_err().key,
            "password_file"
        );
        std::fs::set_permissions(&pw, std::fs::Permissions::from_mode(0o600)).unwrap();
        EmailSink::from_config("m", &c).unwrap();
    }
}
