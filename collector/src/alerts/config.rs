//! The `[alerts]` section of `collector.toml`: grouping, cadences, digest hour and time zones, retry
//! policy, the operator's egress policy, and the sinks of each organisation (`[[alerts.sink]]`) with
//! their routing by severity and domain. Parsed strictly, then validated as a whole: every problem
//! names its key (`alerts.sink[2].smtp_port`). Secrets are never written here, only paths to them.
//!
//! A sink is one flat table: the common keys (`name`, `org`, `kind`, `min_severity`, `domains`,
//! `digest`) and the keys of its kind (`email`: `alerts::email::EmailConfig`; `webhook` and
//! `syslog`: the configurations in `alerts::sinks`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use vigie_policies::Severity;

use super::email::EmailConfig;
use super::sinks::{EgressConfig, SyslogConfig, WebhookConfig};

/// `[alerts]` as written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAlerts {
    /// Seconds a new alert (or resolution) waits for others of the same check in the same
    /// organisation, so that fifty hosts failing at once make one message.
    #[serde(default = "default_group_wait")]
    pub group_wait_secs: u32,
    /// IANA zone of organisations that declare none (here or in their contractor policy).
    #[serde(default = "default_time_zone")]
    pub time_zone: String,
    /// Local hour (0–23) of the daily digest.
    #[serde(default = "default_digest_hour")]
    pub digest_hour: u32,
    /// Re-notification cadence of an open, unacknowledged alert per severity: `30m`, `4h`, `1d`,
    /// `1w`… (days and weeks are calendar days in the organisation's zone), or `never`.
    #[serde(default = "default_remind_critical")]
    pub remind_critical: String,
    #[serde(default = "default_remind_high")]
    pub remind_high: String,
    #[serde(default = "default_remind_medium")]
    pub remind_medium: String,
    #[serde(default = "default_remind_low")]
    pub remind_low: String,
    /// First retry delay of a failed delivery; doubles up to `retry_max_secs`, with jitter.
    #[serde(default = "default_retry_initial")]
    pub retry_initial_secs: u32,
    #[serde(default = "default_retry_max")]
    pub retry_max_secs: u32,
    /// A notification still undelivered after this long is abandoned (and counted).
    #[serde(default = "default_give_up")]
    pub give_up_after_hours: u32,
    /// Consecutive failures after which a sink is itself an alert on the organisation's other sinks.
    #[serde(default = "default_sink_failure_threshold")]
    pub sink_failure_threshold: u32,
    /// Resolved alerts are kept this long, then removed.
    #[serde(default = "default_retention")]
    pub retention_days: u32,
    /// The operator's egress policy for webhook and syslog sinks.
    #[serde(default)]
    pub egress: EgressConfig,
    /// Per-organisation settings.
    #[serde(default)]
    pub org: Vec<RawOrgAlerts>,
    /// The sinks.
    #[serde(default)]
    pub sink: Vec<RawSink>,
}

/// `[[alerts.org]]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOrgAlerts {
    pub id: String,
    /// IANA zone; default the organisation's contractor-policy zone, else `alerts.time_zone`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest_hour: Option<u32>,
}

/// One `[[alerts.sink]]` table, kept whole until validation splits it by kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RawSink(pub toml::Table);

// A TOML table holds floats, hence no derived `Eq`; equality of configurations is only used by tests.
impl Eq for RawSink {}

fn default_group_wait() -> u32 {
    60
}
fn default_time_zone() -> String {
    "Europe/Paris".into()
}
fn default_digest_hour() -> u32 {
    8
}
fn default_remind_critical() -> String {
    "4h".into()
}
fn default_remind_high() -> String {
    "1d".into()
}
fn default_remind_medium() -> String {
    "1w".into()
}
fn default_remind_low() -> String {
    "never".into()
}
fn default_retry_initial() -> u32 {
    30
}
fn default_retry_max() -> u32 {
    3600
}
fn default_give_up() -> u32 {
    72
}
fn default_sink_failure_threshold() -> u32 {
    3
}
fn default_retention() -> u32 {
    365
}

impl Default for RawAlerts {
    fn default() -> Self {
        RawAlerts {
            group_wait_secs: default_group_wait(),
            time_zone: default_time_zone(),
            digest_hour: default_digest_hour(),
            remind_critical: default_remind_critical(),
            remind_high: default_remind_high(),
            remind_medium: default_remind_medium(),
            remind_low: default_remind_low(),
            retry_initial_secs: default_retry_initial(),
            retry_max_secs: default_retry_max(),
            give_up_after_hours: default_give_up(),
            sink_failure_threshold: default_sink_failure_threshold(),
            retention_days: default_retention(),
            egress: EgressConfig::default(),
            org: Vec::new(),
            sink: Vec::new(),
        }
    }
}

/// A re-notification cadence: exact for hours and minutes, calendar days in the organisation's zone
/// for days and weeks (so "1d" is 23 or 25 hours across a daylight-saving change).
#[derive(Debug, Clone, Copy)]
pub struct Cadence(pub jiff::Span);

/// Validated `[alerts]`.
#[derive(Debug, Clone)]
pub struct AlertSettings {
    pub group_wait_ms: i64,
    pub default_time_zone: jiff::tz::TimeZone,
    pub digest_hour: i8,
    pub orgs: BTreeMap<String, OrgAlertSettings>,
    /// Indexed by severity: low, medium, high, critical.
    pub remind: [Option<Cadence>; 4],
    pub retry: RetryPolicy,
    pub sink_failure_threshold: u32,
    pub retention_ms: i64,
    pub egress: EgressConfig,
    pub sinks: Vec<SinkSpec>,
}

#[derive(Debug, Clone, Default)]
pub struct OrgAlertSettings {
    pub time_zone: Option<jiff::tz::TimeZone>,
    pub digest_hour: Option<i8>,
}

/// Delivery retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub initial_ms: i64,
    pub max_ms: i64,
    pub give_up_ms: i64,
}

/// One sink, validated.
#[derive(Debug, Clone)]
pub struct SinkSpec {
    /// Unique across the file.
    pub name: String,
    /// Organisation id, or `*` for an operator sink that receives every organisation's alerts.
    pub org: String,
    pub min_severity: Severity,
    /// Catalogue domains routed here (`backups`, `agent`, `alerts`…); empty: all.
    pub domains: Vec<String>,
    /// Receives the daily digest.
    pub digest: bool,
    pub kind: SinkKind,
}

#[derive(Debug, Clone)]
pub enum SinkKind {
    Email(EmailConfig),
    Webhook(WebhookConfig),
    Syslog(SyslogConfig),
}

impl SinkKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            SinkKind::Email(_) => "email",
            SinkKind::Webhook(_) => "webhook",
            SinkKind::Syslog(_) => "syslog",
        }
    }
}

impl SinkSpec {
    /// Whether a notification of `org`, `severity` and `domain` goes to this sink.
    pub fn routes(&self, org: &str, severity: Severity, domain: &str) -> bool {
        (self.org == "*" || self.org == org)
            && severity >= self.min_severity
            && (self.domains.is_empty() || self.domains.iter().any(|d| d == domain))
    }
}

impl Default for AlertSettings {
    fn default() -> Self {
        // The defaults validate; fall back to UTC rather than fail if the bundle lacked Paris.
        match RawAlerts::default().validate() {
            Ok(s) => s,
            Err(_) => AlertSettings {
                group_wait_ms: 60_000,
                default_time_zone: jiff::tz::TimeZone::UTC,
                digest_hour: 8,
                orgs: BTreeMap::new(),
                remind: [None; 4],
                retry: RetryPolicy {
                    initial_ms: 30_000,
                    max_ms: 3_600_000,
                    give_up_ms: 72 * 3_600_000,
                },
                sink_failure_threshold: 3,
                retention_ms: 365 * 86_400_000,
                egress: EgressConfig::default(),
                sinks: Vec::new(),
            },
        }
    }
}

/// Domains a sink may name in `domains`.
pub const DOMAINS: &[&str] = &[
    "patches",
    "agent",
    "ssh",
    "accounts",
    "auth",
    "antivirus",
    "backups",
    "fim",
    "alerts",
];

/// Parses `4h`, `1d`, `2w`, `30m` (or `never`).
pub fn parse_cadence(text: &str) -> Result<Option<Cadence>, String> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("never") {
        return Ok(None);
    }
    let span: jiff::Span = text
        .parse()
        .map_err(|e| format!("{text:?} is not a duration such as 30m, 4h, 1d or 1w ({e})"))?;
    if span.get_years() != 0 || span.get_months() != 0 {
        return Err(format!(
            "{text:?}: months and years are not cadences; use days or weeks"
        ));
    }
    // Compare with days as 24 h: the bound only guards against a flood of reminders.
    let approx = span
        .total((
            jiff::Unit::Minute,
            jiff::SpanRelativeTo::days_are_24_hours(),
        ))
        .unwrap_or(0.0);
    if approx < 10.0 {
        return Err(format!("{text:?}: a cadence is at least 10 minutes"));
    }
    Ok(Some(Cadence(span)))
}

impl RawAlerts {
    /// Validates everything; returns every problem as (key, message).
    pub fn validate(self) -> Result<AlertSettings, Vec<(String, String)>> {
        let mut errors: Vec<(String, String)> = Vec::new();
        let mut bad = |key: String, message: String| errors.push((key, message));
        if self.group_wait_secs > 3600 {
            bad(
                "alerts.group_wait_secs".into(),
                "must be at most 3600".into(),
            );
        }
        let default_time_zone = match jiff::tz::TimeZone::get(self.time_zone.trim()) {
            Ok(tz) => tz,
            Err(e) => {
                bad("alerts.time_zone".into(), e.to_string());
                jiff::tz::TimeZone::UTC
            }
        };
        let hour = |key: String, h: u32, bad: &mut dyn FnMut(String, String)| -> i8 {
            match i8::try_from(h) {
                Ok(h) if h < 24 => h,
                _ => {
                    bad(key, "must be an hour between 0 and 23".into());
                    0
                }
            }
        };
        let digest_hour = hour("alerts.digest_hour".into(), self.digest_hour, &mut bad);
        let mut remind = [None; 4];
        for (i, (key, text)) in [
            ("alerts.remind_low", &self.remind_low),
            ("alerts.remind_medium", &self.remind_medium),
            ("alerts.remind_high", &self.remind_high),
            ("alerts.remind_critical", &self.remind_critical),
        ]
        .into_iter()
        .enumerate()
        {
            match parse_cadence(text) {
                Ok(c) => {
                    if let Some(slot) = remind.get_mut(i) {
                        *slot = c;
                    }
                }
                Err(m) => bad(key.into(), m),
            }
        }
        if self.retry_initial_secs == 0 {
            bad(
                "alerts.retry_initial_secs".into(),
                "must be at least 1".into(),
            );
        }
        if self.retry_max_secs < self.retry_initial_secs {
            bad(
                "alerts.retry_max_secs".into(),
                "must be at least retry_initial_secs".into(),
            );
        }
        if self.give_up_after_hours == 0 {
            bad(
                "alerts.give_up_after_hours".into(),
                "must be at least 1".into(),
            );
        }
        if self.sink_failure_threshold == 0 {
            bad(
                "alerts.sink_failure_threshold".into(),
                "must be at least 1".into(),
            );
        }
        if self.retention_days == 0 {
            bad("alerts.retention_days".into(), "must be at least 1".into());
        }
        if let Err(e) = super::sinks::AddressPolicy::from_config(&self.egress) {
            bad(format!("alerts.egress.{}", e.key), e.message);
        }
        let mut orgs = BTreeMap::new();
        for (i, o) in self.org.iter().enumerate() {
            let key = |k: &str| format!("alerts.org[{i}].{k}");
            let time_zone = o.time_zone.as_deref().and_then(|tz| {
                jiff::tz::TimeZone::get(tz.trim())
                    .map_err(|e| bad(key("time_zone"), e.to_string()))
                    .ok()
            });
            let digest_hour = o.digest_hour.map(|h| hour(key("digest_hour"), h, &mut bad));
            if orgs
                .insert(
                    o.id.clone(),
                    OrgAlertSettings {
                        time_zone,
                        digest_hour,
                    },
                )
                .is_some()
            {
                bad(key("id"), format!("organisation {:?} appears twice", o.id));
            }
        }
        let mut sinks: Vec<SinkSpec> = Vec::new();
        for (i, raw) in self.sink.into_iter().enumerate() {
            match sink_spec(raw.0) {
                Ok(spec) => {
                    if sinks.iter().any(|s| s.name == spec.name) {
                        bad(
                            format!("alerts.sink[{i}].name"),
                            format!("sink {:?} appears twice", spec.name),
                        );
                    }
                    sinks.push(spec);
                }
                Err(problems) => {
                    for (k, m) in problems {
                        bad(format!("alerts.sink[{i}].{k}"), m);
                    }
                }
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let secs_ms = |s: u32| i64::from(s) * 1000;
        Ok(AlertSettings {
            group_wait_ms: secs_ms(self.group_wait_secs),
            default_time_zone,
            digest_hour,
            orgs,
            remind,
            retry: RetryPolicy {
                initial_ms: secs_ms(self.retry_initial_secs),
                max_ms: secs_ms(self.retry_max_secs),
                give_up_ms: i64::from(self.give_up_after_hours) * 3_600_000,
            },
            sink_failure_threshold: self.sink_failure_threshold,
            retention_ms: i64::from(self.retention_days) * 86_400_000,
            egress: self.egress,
            sinks,
        })
    }
}

/// Splits one sink table into its common keys and its kind's configuration.
fn sink_spec(mut table: toml::Table) -> Result<SinkSpec, Vec<(String, String)>> {
    let mut errors = Vec::new();
    let take_str =
        |table: &mut toml::Table, key: &str, errors: &mut Vec<(String, String)>| match table
            .remove(key)
        {
            None => {
                errors.push((key.to_owned(), "missing".into()));
                String::new()
            }
            Some(toml::Value::String(s)) => s,
            Some(_) => {
                errors.push((key.to_owned(), "must be a string".into()));
                String::new()
            }
        };
    let name = take_str(&mut table, "name", &mut errors);
    let org = take_str(&mut table, "org", &mut errors);
    let kind = take_str(&mut table, "kind", &mut errors);
    if !name.is_empty()
        && (name.len() > 64
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        errors.push((
            "name".into(),
            "use 1 to 64 letters, digits, '-', '_' or '.'".into(),
        ));
    }
    let min_severity = match table.remove("min_severity") {
        None => Severity::Low,
        Some(toml::Value::String(s)) => s.parse().unwrap_or_else(|e| {
            errors.push(("min_severity".into(), format!("{e}")));
            Severity::Low
        }),
        Some(_) => {
            errors.push(("min_severity".into(), "must be a string".into()));
            Severity::Low
        }
    };
    let domains = match table.remove("domains") {
        None => Vec::new(),
        Some(toml::Value::Array(items)) => items
            .into_iter()
            .filter_map(|v| match v {
                toml::Value::String(s) if DOMAINS.contains(&s.as_str()) => Some(s),
                other => {
                    errors.push((
                        "domains".into(),
                        format!("{other} is not one of {}", DOMAINS.join(", ")),
                    ));
                    None
                }
            })
            .collect(),
        Some(_) => {
            errors.push(("domains".into(), "must be an array of strings".into()));
            Vec::new()
        }
    };
    let digest = match table.remove("digest") {
        None => kind == "email",
        Some(toml::Value::Boolean(b)) => b,
        Some(_) => {
            errors.push(("digest".into(), "must be true or false".into()));
            false
        }
    };
    let rest = toml::Value::Table(table);
    let kind = match kind.as_str() {
        "email" => rest
            .try_into::<EmailConfig>()
            .map(SinkKind::Email)
            .map_err(|e| errors.push((key_of(&e), e.message().to_owned())))
            .ok(),
        "webhook" => rest
            .try_into::<WebhookConfig>()
            .map(SinkKind::Webhook)
            .map_err(|e| errors.push((key_of(&e), e.message().to_owned())))
            .ok(),
        "syslog" => rest
            .try_into::<SyslogConfig>()
            .map(SinkKind::Syslog)
            .map_err(|e| errors.push((key_of(&e), e.message().to_owned())))
            .ok(),
        "" => None,
        other => {
            errors.push((
                "kind".into(),
                format!("{other:?} is not one of email, webhook, syslog"),
            ));
            None
        }
    };
    match kind {
        Some(kind) if errors.is_empty() => Ok(SinkSpec {
            name,
            org,
            min_severity,
            domains,
            digest,
            kind,
        }),
        _ => Err(errors),
    }
}

/// The key a deserialisation error is about, when serde says (`unknown field `x``, `missing field
/// `x``); `kind` otherwise.
fn key_of(e: &toml::de::Error) -> String {
    let m = e.message();
    m.split('`')
        .nth(1)
        .filter(|k| !k.is_empty() && k.len() < 64)
        .map(str::to_owned)
        .unwrap_or_else(|| "kind".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(text: &str, expect: &[&str]) -> Option<AlertSettings> {
        #[derive(Deserialize)]
        struct Wrap {
            alerts: RawAlerts,
        }
        let w: Wrap = toml::from_str(text).unwrap();
        match w.alerts.validate() {
            Ok(s) => {
                assert!(expect.is_empty(), "expected {expect:?}");
                Some(s)
            }
            Err(errors) => {
                let all: Vec<String> = errors.iter().map(|(k, m)| format!("{k}: {m}")).collect();
                assert!(!expect.is_empty(), "unexpected {all:?}");
                for e in expect {
                    assert!(all.iter().any(|m| m.contains(e)), "{e:?} not in {all:?}");
                }
                None
            }
        }
    }

    const MAIL: &str = r#"
[[alerts.sink]]
name = "courriel"
org = "mairie"
kind = "email"
min_severity = "high"
domains = ["backups"]
smtp_host = "smtp.example.fr"
from = "vigie@example.fr"
to = ["dsi@example.fr"]
"#;

    #[test]
    fn sinks_and_cadences() {
        let s = check(&format!("[alerts]\n{MAIL}"), &[]).unwrap();
        assert_eq!(s.sinks.len(), 1);
        let sink = &s.sinks[0];
        assert!(sink.digest);
        assert!(sink.routes("mairie", Severity::Critical, "backups"));
        assert!(!sink.routes("mairie", Severity::Medium, "backups"));
        assert!(!sink.routes("mairie", Severity::Critical, "patches"));
        assert!(!sink.routes("autre", Severity::Critical, "backups"));
        assert!(s.remind[0].is_none() && s.remind[3].is_some());

        check(
            &format!("[alerts]\nremind_high = \"1y\"\ntime_zone = \"Mars/Olympus\"\ndigest_hour = 24\n{MAIL}"),
            &["alerts.remind_high", "alerts.time_zone", "alerts.digest_hour"],
        );
        check(
            &format!("[alerts]\n{}", MAIL.replace("smtp_host", "smtp_hots")),
            &["alerts.sink[0].smtp_hots: unknown field"],
        );
        check(
            &format!("[alerts]\n{}", MAIL.replace("\"email\"", "\"pigeon\"")),
            &["alerts.sink[0].kind"],
        );
        check(
            &format!("[alerts]\n{MAIL}{MAIL}"),
            &["alerts.sink[1].name: sink \"courriel\" appears twice"],
        );
        check(
            &format!(
                "[alerts]\n{}",
                MAIL.replace("[\"backups\"]", "[\"cuisine\"]")
            ),
            &["alerts.sink[0].domains"],
        );
        assert!(parse_cadence("5m").is_err());
        assert!(parse_cadence("never").unwrap().is_none());
        assert!(parse_cadence("2d").unwrap().is_some());
    }
}
