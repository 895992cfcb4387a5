//! One RFC 5424 syslog message for one notification:
//! `<PRI>1 TIMESTAMP HOSTNAME vigie - MSGID [SD-ID org=".." key=".." ...] BOM MSG`.
//!
//! PRI is the configured facility and a severity mapped from the notification; TIMESTAMP is the
//! notification's time in UTC with microseconds; MSGID is the notification kind. The structured
//! data carries the organisation, key, kind, severity, check and hosts, each value stripped of
//! control characters, cut, then escaped (`"`, `\`, `]`) as RFC 5424 §6.3.3 requires. MSG is the
//! subject and text on one line. The whole message never exceeds the configured maximum: hosts that
//! do not fit are counted (`host_count`) but left out, and MSG is cut last. Not here: framing.

use std::fmt::Write as _;
use std::time::SystemTime;

use vigie_policies::Severity;

use crate::alerts::sink::{Notification, NotificationKind};
use crate::alerts::sinks::text::{event_check, event_hosts, one_line, truncate};

/// Longest value (in bytes, before escaping) of the organisation, key and check parameters.
pub const MAX_PARAM_BYTES: usize = 128;
/// Longest host name kept in a `host` parameter (a DNS name's maximum).
pub const MAX_HOST_BYTES: usize = 253;
/// Bytes kept free for MSG when adding hosts to the structured data.
const MSG_RESERVE: usize = 160;

const BOM: &str = "\u{feff}";

/// The syslog severity (RFC 5424 table 2) for a notification.
pub fn severity_code(kind: NotificationKind, severity: Severity) -> u8 {
    match kind {
        NotificationKind::Opened | NotificationKind::Reminder => match severity {
            Severity::Critical => 2, // critical
            Severity::High => 3,     // error
            Severity::Medium => 4,   // warning
            Severity::Low => 5,      // notice
        },
        NotificationKind::Resolved => 5,
        NotificationKind::Acknowledged | NotificationKind::Digest | NotificationKind::Test => 6,
    }
}

/// MSGID: the notification kind, as in the webhook document.
pub fn msgid(kind: NotificationKind) -> &'static str {
    match kind {
        NotificationKind::Opened => "opened",
        NotificationKind::Reminder => "reminder",
        NotificationKind::Acknowledged => "acknowledged",
        NotificationKind::Resolved => "resolved",
        NotificationKind::Digest => "digest",
        NotificationKind::Test => "test",
    }
}

/// RFC 3339 in UTC with microseconds (RFC 5424 allows at most six fraction digits), or the
/// NILVALUE for a time outside years 0 to 9999.
pub fn timestamp(at: SystemTime) -> String {
    let nanos = match at.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => i128::try_from(d.as_nanos()).unwrap_or(i128::MAX),
        Err(e) => i128::try_from(e.duration().as_nanos()).map_or(i128::MIN, |n| -n),
    };
    match time::OffsetDateTime::from_unix_timestamp_nanos(nanos) {
        Ok(t) if (0..=9999).contains(&t.year()) => format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            t.microsecond()
        ),
        _ => "-".to_owned(),
    }
}

/// An SD-NAME (RFC 5424 §6.3.3): 1 to 32 printable US-ASCII characters other than `=`, space,
/// `]` and `"`. An SD-ID may also be `name@number` (a private enterprise number).
pub fn is_sd_name(s: &str) -> bool {
    (1..=32).contains(&s.len())
        && s.bytes()
            .all(|b| (33..=126).contains(&b) && !matches!(b, b'=' | b']' | b'"'))
}

/// A PARAM-VALUE: control characters removed, cut to `max` bytes, then `"`, `\` and `]` escaped.
pub fn escape_value(raw: &str, max: usize) -> String {
    let clean = one_line(raw);
    let cut = truncate(&clean, max);
    let mut out = String::with_capacity(cut.len() + 8);
    for c in cut.chars() {
        if matches!(c, '"' | '\\' | ']') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The parts of the message that come from configuration, checked once.
#[derive(Debug, Clone)]
pub struct Framer {
    /// Facility code (0 to 23).
    pub facility: u8,
    /// HOSTNAME field: printable US-ASCII, or `-`.
    pub hostname: String,
    /// SD-ID of Vigie's structured data element.
    pub sd_id: String,
    /// Maximum length of the whole message in bytes (framing excluded).
    pub max_bytes: usize,
}

impl Framer {
    /// The message for `n`, at most `max_bytes` long.
    pub fn format(&self, n: &Notification) -> Vec<u8> {
        let pri = self.facility * 8 + severity_code(n.kind, n.severity);
        let head = format!(
            "<{pri}>1 {} {} vigie - {} ",
            timestamp(n.occurred_at),
            self.hostname,
            msgid(n.kind)
        );
        let mut sd = format!("[{}", self.sd_id);
        let mut param = |name: &str, value: &str, max: usize| {
            let _ = write!(sd, " {name}=\"{}\"", escape_value(value, max));
        };
        param("org", &n.org, MAX_PARAM_BYTES);
        param("key", &n.key, MAX_PARAM_BYTES);
        param("kind", msgid(n.kind), MAX_PARAM_BYTES);
        param("severity", n.severity.as_str(), MAX_PARAM_BYTES);
        if let Some(check) = event_check(&n.event) {
            param("check", &check, MAX_PARAM_BYTES);
        }
        let hosts = event_hosts(&n.event);
        if !hosts.is_empty() {
            param("host_count", &hosts.len().to_string(), MAX_PARAM_BYTES);
        }
        for host in &hosts {
            let p = format!(" host=\"{}\"", escape_value(host, MAX_HOST_BYTES));
            if head.len() + sd.len() + p.len() + 1 + MSG_RESERVE > self.max_bytes {
                break;
            }
            sd.push_str(&p);
        }
        sd.push(']');
        if head.len() + sd.len() > self.max_bytes {
            // Only with a maximum below what `from_config` accepts; stay within it all the same.
            sd = "-".to_owned();
        }
        let mut out = head;
        out.push_str(&sd);
        let text = one_line(&format!("{} | {}", n.subject, n.text));
        let room = self.max_bytes.saturating_sub(out.len() + 1 + BOM.len());
        if room > 0 && !text.is_empty() {
            out.push(' ');
            out.push_str(BOM);
            out.push_str(truncate(&text, room));
        }
        let mut bytes = out.into_bytes();
        bytes.truncate(self.max_bytes);
        bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::time::Duration;

    fn framer(max: usize) -> Framer {
        Framer {
            facility: 16,
            hostname: "collecteur".into(),
            sd_id: "vigie@32473".into(),
            max_bytes: max,
        }
    }

    fn notification() -> Notification {
        Notification {
            key: "alert-7/opened-1".into(),
            org: "Mairie \"de\" [Test]\\".into(),
            kind: NotificationKind::Opened,
            severity: Severity::High,
            subject: "Sauvegarde en échec".into(),
            text: "ligne 1\nligne 2\r\n\x00fin".into(),
            html: None,
            event: json!({"check": {"id": "backup.daily"}, "hosts": ["srv-1", "a]\"b\\c\nd"]}),
            occurred_at: SystemTime::UNIX_EPOCH + Duration::from_micros(1_790_000_000_123_456),
        }
    }

    #[test]
    fn the_message_follows_rfc_5424() {
        let msg = String::from_utf8(framer(2048).format(&notification())).unwrap();
        assert_eq!(
            msg,
            "<131>1 2026-09-21T14:13:20.123456Z collecteur vigie - opened \
             [vigie@32473 org=\"Mairie \\\"de\\\" [Test\\]\\\\\" key=\"alert-7/opened-1\" \
             kind=\"opened\" severity=\"high\" check=\"backup.daily\" host_count=\"2\" \
             host=\"srv-1\" host=\"a\\]\\\"b\\\\c d\"] \u{feff}Sauvegarde en échec | ligne 1 ligne 2 fin"
        );
    }

    #[test]
    fn severities_map_to_syslog_levels() {
        assert_eq!(
            severity_code(NotificationKind::Opened, Severity::Critical),
            2
        );
        assert_eq!(severity_code(NotificationKind::Reminder, Severity::Low), 5);
        assert_eq!(
            severity_code(NotificationKind::Resolved, Severity::Critical),
            5
        );
        assert_eq!(severity_code(NotificationKind::Test, Severity::High), 6);
    }

    #[test]
    fn the_maximum_length_is_respected() {
        let mut n = notification();
        n.text = "é".repeat(5000);
        n.event = json!({"hosts": (0..500).map(|i| format!("poste-{i:03}.mairie.example")).collect::<Vec<_>>()});
        for max in [480, 1024, 2048, 8192] {
            let bytes = framer(max).format(&n);
            assert!(bytes.len() <= max, "{max}: {}", bytes.len());
            let text = String::from_utf8(bytes).unwrap();
            assert!(text.contains("host_count=\"500\""), "{max}");
            assert!(text.contains("] \u{feff}"), "{max}");
        }
        let text = String::from_utf8(framer(8192).format(&n)).unwrap();
        let hosts = text.matches(" host=").count();
        assert!(hosts > 100 && hosts < 500, "{hosts}");
    }

    #[test]
    fn names_and_times_are_checked() {
        assert!(is_sd_name("vigie@32473"));
        for param in [
            "org",
            "key",
            "kind",
            "severity",
            "check",
            "host_count",
            "host",
        ] {
            assert!(is_sd_name(param), "{param}");
        }
        for bad in ["", "a b", "a=b", "a]", "a\"", "é", &"x".repeat(33)] {
            assert!(!is_sd_name(bad), "{bad}");
        }
        assert_eq!(
            timestamp(SystemTime::UNIX_EPOCH),
            "1970-01-01T00:00:00.000000Z"
        );
    }
}
