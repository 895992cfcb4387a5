//! Notifications rendered once, in French, when a transition is committed: a one-line subject, plain
//! text, simple HTML and the JSON `event` document (schema in `docs/alerts.md`).
//!
//! Host-supplied text (host names, finding details quoting evidence, backup messages) is hostile
//! (DESIGN decision 5): control and bidirectional characters are removed everywhere (one line in the
//! subject and in list items), it is HTML-escaped in the HTML part, and lengths are bounded. The
//! check's title, references and remedy come from the catalogue in `policies/`.

use jiff::tz::TimeZone;
use serde_json::{json, Value};
use vigie_policies::{Catalogue, Severity};

use super::schedule::{local_time, rfc3339};
use super::sink::{Notification, NotificationKind};
use super::sinks::text::{ellipsize, multi_line, one_line};
use crate::store::{AlertRecord, AlertState, NotificationRecord};

/// Version tag of the JSON event document.
pub const EVENT_SCHEMA: &str = "vigie.alert.v1";
/// Hosts listed in a text or HTML message; the rest are counted.
const MAX_LISTED: usize = 50;
/// Hosts carried in the JSON event.
const MAX_EVENT_HOSTS: usize = 500;
/// Longest finding detail shown.
const MAX_DETAIL: usize = 1000;
/// Longest host name shown.
const MAX_NAME: usize = 200;

/// The pseudo-check of a failing sink.
pub const SINK_CHECK: &str = "ALR-001";

/// The pseudo-check of an agent whose full outbox dropped reports.
pub const DROP_CHECK: &str = "ALR-002";

/// What a message says about the check.
#[derive(Debug, Clone)]
pub struct CheckInfo {
    pub id: String,
    pub domain: String,
    pub title_fr: String,
    pub references: Vec<String>,
    pub remediation_fr: String,
}

impl CheckInfo {
    /// From the catalogue, or the alerting's own pseudo-check, or the alert's own fields.
    pub fn lookup(catalogue: &Catalogue, alert: &AlertRecord) -> CheckInfo {
        if let Some(c) = catalogue.get(&alert.check_id) {
            return CheckInfo {
                id: c.id().to_owned(),
                domain: c.domain().as_str().to_owned(),
                title_fr: c.title_fr().to_owned(),
                references: c.references().to_vec(),
                remediation_fr: c.remediation_fr().trim().to_owned(),
            };
        }
        if alert.check_id == SINK_CHECK {
            return CheckInfo {
                id: SINK_CHECK.into(),
                domain: "alerts".into(),
                title_fr: "Canal d'alerte en échec".into(),
                references: vec!["HYG 40".into()],
                remediation_fr: "Les notifications de ce canal restent en file d'attente et seront \
                    envoyées dès qu'il fonctionnera de nouveau. Vérifier le serveur (SMTP, webhook, \
                    syslog), le réseau et les secrets configurés ; `vigie-collector alerts sinks` \
                    montre la dernière erreur et `vigie-collector alerts test` essaie chaque canal."
                    .into(),
            };
        }
        if alert.check_id == DROP_CHECK {
            return CheckInfo {
                id: DROP_CHECK.into(),
                domain: "agent".into(),
                title_fr: "Rapports perdus par l'agent".into(),
                references: vec!["HYG 38".into(), "Vigie D12".into()],
                remediation_fr: "La file d'envoi de l'agent était pleine : il a supprimé ses plus \
                    anciens rapports, dont les preuves sont perdues. Vérifier que l'hôte joint le \
                    collecteur (pare-feu, proxy, certificat : `vigie-agent doctor`) et, si les \
                    coupures sont longues, augmenter `outbox_max_reports` dans la configuration de \
                    l'agent. L'alerte se résout seule 24 h après la dernière perte."
                    .into(),
            };
        }
        CheckInfo {
            id: alert.check_id.clone(),
            domain: alert.domain.clone(),
            title_fr: alert.title_fr.clone(),
            references: Vec::new(),
            remediation_fr: String::new(),
        }
    }
}

/// `<`, `>`, `&`, `"` and `'` escaped; control characters removed.
pub fn html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in multi_line(s).chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\n' => out.push_str("<br>"),
            c => out.push(c),
        }
    }
    out
}

fn severity_fr(s: &str) -> &'static str {
    match s {
        "critical" => "critique",
        "high" => "élevée",
        "medium" => "moyenne",
        _ => "faible",
    }
}

fn outcome_fr(o: &str) -> &'static str {
    match o {
        "stale" => "preuves périmées",
        _ => "en échec",
    }
}

fn name(a: &AlertRecord) -> String {
    let n = if a.hostname.trim().is_empty() {
        &a.subject
    } else {
        &a.hostname
    };
    ellipsize(&one_line(n), MAX_NAME)
}

fn detail(a: &AlertRecord) -> String {
    ellipsize(&one_line(&a.detail), MAX_DETAIL)
}

fn max_severity(alerts: &[AlertRecord]) -> String {
    alerts
        .iter()
        .filter_map(|a| a.severity.parse::<Severity>().ok())
        .max()
        .unwrap_or(Severity::Low)
        .as_str()
        .to_owned()
}

/// The JSON of one alert inside an event (hostile strings are JSON-escaped by serde).
fn alert_json(a: &AlertRecord) -> Value {
    json!({
        "alert_id": a.id,
        "host_id": a.subject,
        "name": one_line(&a.hostname),
        "state": a.state.as_str(),
        "outcome": a.outcome,
        "severity": a.severity,
        "detail": one_line(&a.detail),
        "opened_at": rfc3339(a.opened_at_ms),
        "resolved_at": a.resolved_at_ms.map(rfc3339),
        "evidence": a.evidence.iter().map(|(e, s)| json!({"epoch": e.to_string(), "seq": s.to_string()})).collect::<Vec<_>>(),
        "ack": a.ack.as_ref().map(|k| json!({"by": k.by, "at": rfc3339(k.at_ms), "comment": one_line(&k.comment)})),
    })
}

/// The notification about `alerts` (one check, one organisation) for a transition of `kind`.
#[allow(clippy::too_many_arguments)]
pub fn alerts_notification(
    key: &str,
    kind: NotificationKind,
    org: &str,
    group: &str,
    alerts: &[AlertRecord],
    check: &CheckInfo,
    tz: &TimeZone,
    now_ms: i64,
) -> NotificationRecord {
    let severity = max_severity(alerts);
    let n = alerts.len();
    let first = alerts.first();
    let who = match (n, first) {
        (1, Some(a)) => name(a),
        _ => format!("{n} hôtes"),
    };
    let stale = alerts.iter().all(|a| a.outcome == "stale");
    let state_fr = if stale {
        "preuves périmées"
    } else {
        "en échec"
    };
    let title = one_line(&check.title_fr);
    let sev = severity_fr(&severity).to_uppercase();
    let subject = match kind {
        NotificationKind::Opened => {
            format!("[Vigie][{sev}] {who} : {title} ({}) {state_fr}", check.id)
        }
        NotificationKind::Reminder => format!(
            "[Vigie][{sev}] Rappel : {who} : {title} ({}) toujours {state_fr}",
            check.id
        ),
        NotificationKind::Acknowledged => {
            format!("[Vigie] Acquittée : {who} : {title} ({})", check.id)
        }
        NotificationKind::Resolved => {
            format!(
                "[Vigie] Résolue : {who} : {title} ({}) de nouveau conforme",
                check.id
            )
        }
        NotificationKind::Digest | NotificationKind::Test => format!("[Vigie] {title}"),
    };
    let lead = match kind {
        NotificationKind::Opened => format!("Nouvelle alerte : {title} — {state_fr}."),
        NotificationKind::Reminder
            if alerts
                .iter()
                .any(crate::alerts::lifecycle::escalated_since_notice) =>
        {
            format!(
                "Aggravation : cette alerte est toujours ouverte et sa gravité est maintenant {}.",
                severity_fr(&severity)
            )
        }
        NotificationKind::Reminder => {
            "Rappel : cette alerte est toujours ouverte et personne ne l'a acquittée.".to_owned()
        }
        NotificationKind::Acknowledged => "Cette alerte a été acquittée.".to_owned(),
        NotificationKind::Resolved => "Le contrôle est de nouveau conforme.".to_owned(),
        NotificationKind::Digest | NotificationKind::Test => String::new(),
    };
    let zone = tz.iana_name().unwrap_or("UTC").to_owned();

    // Plain text.
    let mut text = String::new();
    text.push_str(&format!("{lead}\n\n"));
    text.push_str(&format!("Organisation : {}\n", one_line(org)));
    text.push_str(&format!("Contrôle : {} — {title}\n", check.id));
    text.push_str(&format!("Gravité : {}\n", severity_fr(&severity)));
    if !check.references.is_empty() {
        text.push_str(&format!(
            "Références ANSSI : {}\n",
            one_line(&check.references.join(", "))
        ));
    }
    text.push_str(&format!("\nHôtes concernés ({n}) :\n"));
    for a in alerts.iter().take(MAX_LISTED) {
        text.push_str(&format!(
            "- {} : {} depuis le {} ({zone})\n  Constat : {}\n",
            name(a),
            if a.state == AlertState::Resolved {
                "résolue, ouverte"
            } else {
                outcome_fr(&a.outcome)
            },
            local_time(a.opened_at_ms, tz),
            detail(a)
        ));
        if let Some(r) = a.resolved_at_ms {
            text.push_str(&format!("  Résolue le {}\n", local_time(r, tz)));
        }
        if !a.evidence.is_empty() {
            let refs: Vec<String> = a.evidence.iter().map(|(e, s)| format!("{e}/{s}")).collect();
            text.push_str(&format!("  Preuves : rapports {}\n", refs.join(", ")));
        }
        if let Some(k) = &a.ack {
            text.push_str(&format!(
                "  Acquittée par {} le {} : {}\n",
                one_line(&k.by),
                local_time(k.at_ms, tz),
                ellipsize(&one_line(&k.comment), MAX_DETAIL)
            ));
        }
    }
    if n > MAX_LISTED {
        text.push_str(&format!("- … et {} autres\n", n - MAX_LISTED));
    }
    if !check.remediation_fr.is_empty() && kind != NotificationKind::Resolved {
        text.push_str(&format!(
            "\nQue faire :\n{}\n",
            multi_line(&check.remediation_fr)
        ));
    }
    let ids = match (n, first) {
        (1, Some(a)) => a.id.clone(),
        _ => group.to_owned(),
    };
    if matches!(kind, NotificationKind::Opened | NotificationKind::Reminder) {
        text.push_str(&format!(
            "\nAcquitter : vigie-collector alerts ack {ids} --comment \"…\"\n"
        ));
    }
    text.push_str(&format!("\nRéférence : {ids} — message {key}\n"));

    // HTML.
    let mut h = String::new();
    h.push_str("<!DOCTYPE html><html lang=\"fr\"><head><meta charset=\"utf-8\"><title>");
    h.push_str(&html(&subject));
    h.push_str("</title></head><body>");
    h.push_str(&format!("<p><strong>{}</strong></p>", html(&lead)));
    h.push_str("<table>");
    for (k, v) in [
        ("Organisation", org.to_owned()),
        ("Contrôle", format!("{} — {}", check.id, check.title_fr)),
        ("Gravité", severity_fr(&severity).to_owned()),
        ("Références ANSSI", check.references.join(", ")),
    ] {
        h.push_str(&format!(
            "<tr><th align=\"left\">{}</th><td>{}</td></tr>",
            html(k),
            html(&one_line(&v))
        ));
    }
    h.push_str("</table>");
    h.push_str(&format!("<h3>Hôtes concernés ({n})</h3><ul>"));
    for a in alerts.iter().take(MAX_LISTED) {
        h.push_str(&format!(
            "<li><strong>{}</strong> — {} depuis le {} ({})<br>Constat : {}",
            html(&name(a)),
            html(outcome_fr(&a.outcome)),
            html(&local_time(a.opened_at_ms, tz)),
            html(&zone),
            html(&detail(a))
        ));
        if let Some(k) = &a.ack {
            h.push_str(&format!(
                "<br>Acquittée par {} : {}",
                html(&k.by),
                html(&ellipsize(&one_line(&k.comment), MAX_DETAIL))
            ));
        }
        h.push_str("</li>");
    }
    if n > MAX_LISTED {
        h.push_str(&format!("<li>… et {} autres</li>", n - MAX_LISTED));
    }
    h.push_str("</ul>");
    if !check.remediation_fr.is_empty() && kind != NotificationKind::Resolved {
        h.push_str(&format!(
            "<h3>Que faire</h3><p>{}</p>",
            html(&check.remediation_fr)
        ));
    }
    h.push_str(&format!(
        "<p><small>Référence : {} — message {}</small></p></body></html>",
        html(&ids),
        html(key)
    ));

    let hosts: Vec<Value> = alerts
        .iter()
        .take(MAX_EVENT_HOSTS)
        .map(alert_json)
        .collect();
    let event = json!({
        "schema": EVENT_SCHEMA,
        "key": key,
        "kind": super::kind_str(kind),
        "org": org,
        "occurred_at": rfc3339(now_ms),
        "severity": severity,
        "group": group,
        "count": n,
        "check": {
            "id": check.id,
            "domain": check.domain,
            "title_fr": check.title_fr,
            "references": check.references,
            "remediation_fr": check.remediation_fr,
        },
        "hosts": hosts,
    });
    NotificationRecord {
        key: key.to_owned(),
        org: org.to_owned(),
        kind,
        severity,
        subject: ellipsize(&one_line(&subject), 250),
        text,
        html: Some(h),
        event: event.to_string(),
        occurred_at_ms: now_ms,
        alert_ids: alerts.iter().map(|a| a.id.clone()).collect(),
    }
}

/// What a daily digest reports.
#[derive(Debug, Default)]
pub struct DigestContent {
    /// Open or acknowledged now.
    pub open: Vec<AlertRecord>,
    /// Opened since the previous digest.
    pub opened: Vec<AlertRecord>,
    /// Acknowledged since the previous digest.
    pub acknowledged: Vec<AlertRecord>,
    /// Resolved since the previous digest.
    pub resolved: Vec<AlertRecord>,
}

fn digest_section(
    text: &mut String,
    h: &mut String,
    title: &str,
    alerts: &[AlertRecord],
    tz: &TimeZone,
) {
    text.push_str(&format!("\n{title} ({}) :\n", alerts.len()));
    h.push_str(&format!("<h3>{} ({})</h3>", html(title), alerts.len()));
    if alerts.is_empty() {
        text.push_str("- aucune\n");
        h.push_str("<p>aucune</p>");
        return;
    }
    h.push_str("<ul>");
    for a in alerts.iter().take(MAX_LISTED) {
        let line = format!(
            "{} — {} {} ({}), ouverte le {} — {}",
            name(a),
            a.check_id,
            one_line(&a.title_fr),
            severity_fr(&a.severity),
            local_time(a.opened_at_ms, tz),
            detail(a)
        );
        text.push_str(&format!("- {line}\n"));
        h.push_str(&format!("<li>{}</li>", html(&line)));
    }
    if alerts.len() > MAX_LISTED {
        text.push_str(&format!("- … et {} autres\n", alerts.len() - MAX_LISTED));
        h.push_str(&format!(
            "<li>… et {} autres</li>",
            alerts.len() - MAX_LISTED
        ));
    }
    h.push_str("</ul>");
}

/// An organisation's daily digest for local date `date`.
pub fn digest_notification(
    key: &str,
    org: &str,
    date: &str,
    content: &DigestContent,
    tz: &TimeZone,
    now_ms: i64,
) -> NotificationRecord {
    let open = content.open.len();
    let subject = format!(
        "[Vigie] Résumé quotidien du {} — {} : {}",
        date_fr(date),
        one_line(org),
        match open {
            0 => "aucune alerte ouverte".to_owned(),
            1 => "1 alerte ouverte".to_owned(),
            n => format!("{n} alertes ouvertes"),
        }
    );
    let mut text = format!(
        "Résumé quotidien de l'organisation {} ({}).\n",
        one_line(org),
        tz.iana_name().unwrap_or("UTC")
    );
    let mut h = format!(
        "<!DOCTYPE html><html lang=\"fr\"><head><meta charset=\"utf-8\"><title>{}</title></head><body><p>{}</p>",
        html(&subject),
        html(&text)
    );
    if open == 0
        && content.opened.is_empty()
        && content.acknowledged.is_empty()
        && content.resolved.is_empty()
    {
        text.push_str("\nRien à signaler : aucune alerte ouverte, aucun changement.\n");
        h.push_str("<p>Rien à signaler : aucune alerte ouverte, aucun changement.</p>");
    }
    digest_section(&mut text, &mut h, "Alertes ouvertes", &content.open, tz);
    digest_section(
        &mut text,
        &mut h,
        "Nouvelles depuis le dernier résumé",
        &content.opened,
        tz,
    );
    digest_section(
        &mut text,
        &mut h,
        "Acquittées depuis le dernier résumé",
        &content.acknowledged,
        tz,
    );
    digest_section(
        &mut text,
        &mut h,
        "Résolues depuis le dernier résumé",
        &content.resolved,
        tz,
    );
    text.push_str(&format!("\nRéférence : {key}\n"));
    h.push_str(&format!(
        "<p><small>Référence : {}</small></p></body></html>",
        html(key)
    ));
    let list = |v: &[AlertRecord]| {
        v.iter()
            .take(MAX_EVENT_HOSTS)
            .map(alert_json)
            .collect::<Vec<_>>()
    };
    let severity = max_severity(&content.open);
    let event = json!({
        "schema": EVENT_SCHEMA,
        "key": key,
        "kind": "digest",
        "org": org,
        "occurred_at": rfc3339(now_ms),
        "severity": severity,
        "local_date": date,
        "open": list(&content.open),
        "opened": list(&content.opened),
        "acknowledged": list(&content.acknowledged),
        "resolved": list(&content.resolved),
    });
    NotificationRecord {
        key: key.to_owned(),
        org: org.to_owned(),
        kind: NotificationKind::Digest,
        severity,
        subject,
        text,
        html: Some(h),
        event: event.to_string(),
        occurred_at_ms: now_ms,
        alert_ids: Vec::new(),
    }
}

/// `2026-11-28` → `28/11/2026`.
fn date_fr(date: &str) -> String {
    let parts: Vec<&str> = date.split('-').collect();
    match parts.as_slice() {
        [y, m, d] => format!("{d}/{m}/{y}"),
        _ => date.to_owned(),
    }
}

/// The message of `alerts test` for one sink.
pub fn test_notification(key: &str, org: &str, sink: &str, now_ms: i64) -> NotificationRecord {
    let subject = format!("[Vigie] Message de test — canal « {} »", one_line(sink));
    let text = format!(
        "Ceci est un message de test de Vigie pour l'organisation {}, envoyé par le canal « {} ».\n\
         S'il vous parvient, ce canal fonctionne.\n\nRéférence : {key}\n",
        one_line(org),
        one_line(sink)
    );
    let h = format!(
        "<!DOCTYPE html><html lang=\"fr\"><head><meta charset=\"utf-8\"><title>{}</title></head><body><p>{}</p></body></html>",
        html(&subject),
        html(&text)
    );
    let event = json!({
        "schema": EVENT_SCHEMA,
        "key": key,
        "kind": "test",
        "org": org,
        "occurred_at": rfc3339(now_ms),
        "severity": "low",
        "sink": sink,
    });
    NotificationRecord {
        key: key.to_owned(),
        org: org.to_owned(),
        kind: NotificationKind::Test,
        severity: "low".into(),
        subject,
        text,
        html: Some(h),
        event: event.to_string(),
        occurred_at_ms: now_ms,
        alert_ids: Vec::new(),
    }
}

/// The sink's view of a queued record.
pub fn to_notification(r: &NotificationRecord) -> Notification {
    Notification {
        key: r.key.clone(),
        org: r.org.clone(),
        kind: r.kind,
        severity: r.severity.parse().unwrap_or(Severity::Low),
        subject: r.subject.clone(),
        text: r.text.clone(),
        html: r.html.clone(),
        event: serde_json::from_str(&r.event).unwrap_or(Value::Null),
        occurred_at: std::time::UNIX_EPOCH
            + std::time::Duration::from_millis(r.occurred_at_ms.max(0).unsigned_abs()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::AlertState;

    fn alert(hostname: &str, detail: &str) -> AlertRecord {
        AlertRecord {
            id: "a-1".into(),
            org: "mairie".into(),
            subject: "h-1".into(),
            hostname: hostname.into(),
            check_id: "BKP-001".into(),
            domain: "backups".into(),
            severity: "critical".into(),
            title_fr: "Sauvegarde".into(),
            outcome: "fail".into(),
            detail: detail.into(),
            evidence: vec![(7, 42)],
            state: AlertState::Open,
            opened_at_ms: 1_790_000_000_000,
            updated_at_ms: 0,
            resolved_at_ms: None,
            ack: None,
            pending: None,
            pending_since_ms: 0,
            opening_notified: true,
            next_reminder_ms: None,
            reminders: 0,
            group: None,
            history: vec![],
        }
    }

    #[test]
    fn hostile_text_is_inert_everywhere() {
        let catalogue = Catalogue::builtin().unwrap();
        let a = alert(
            "srv<script>alert(1)</script>\r\nBcc: x@evil\u{202e}",
            "échec : \"disk full\"\r\n<img src=x onerror=y>\u{1b}[31m & co",
        );
        let check = CheckInfo::lookup(&catalogue, &a);
        let tz = TimeZone::get("Europe/Paris").unwrap();
        let n = alerts_notification(
            "n-1",
            NotificationKind::Opened,
            "mairie",
            "g-1",
            &[a],
            &check,
            &tz,
            1_790_000_000_000,
        );
        assert!(
            !n.subject.contains(['\r', '\n', '\u{202e}']),
            "{}",
            n.subject
        );
        assert!(
            n.subject.starts_with("[Vigie][CRITIQUE] srv<script>"),
            "{}",
            n.subject
        );
        assert!(n
            .subject
            .contains("Sauvegarde réussie dans les délais (BKP-001) en échec"));
        assert!(!n.text.contains(['\r', '\u{1b}', '\u{202e}']));
        assert!(
            n.text.contains("Bcc: x@evil"),
            "kept as inert text on the host line"
        );
        assert!(n.text.contains("Références ANSSI : HYG 14"), "{}", n.text);
        assert!(n.text.contains("Que faire :"));
        let html = n.html.unwrap();
        assert!(
            !html.contains("<script>") && !html.contains("<img"),
            "{html}"
        );
        assert!(
            html.contains("srv&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{html}"
        );
        assert!(html.contains("&quot;disk full&quot;") && html.contains("&amp; co"));
        let event: Value = serde_json::from_str(&n.event).unwrap();
        assert_eq!(
            event["hosts"][0]["name"],
            "srv<script>alert(1)</script> Bcc: x@evil"
        );
        assert_eq!(event["check"]["id"], "BKP-001");
        assert_eq!(event["hosts"][0]["evidence"][0]["seq"], "42");
        let back = to_notification(&NotificationRecord {
            event: n.event.clone(),
            ..NotificationRecord {
                key: "k".into(),
                org: "o".into(),
                kind: NotificationKind::Opened,
                severity: "critical".into(),
                subject: String::new(),
                text: String::new(),
                html: None,
                event: String::new(),
                occurred_at_ms: 5,
                alert_ids: vec![],
            }
        });
        assert_eq!(back.severity, Severity::Critical);
        assert_eq!(back.event["kind"], "opened");
    }

    #[test]
    fn a_reminder_after_a_severity_rise_says_so() {
        let catalogue = Catalogue::builtin().unwrap();
        let tz = TimeZone::get("Europe/Paris").unwrap();
        let mut a = alert("srv", "modifié");
        let reminder = |a: &AlertRecord| {
            let check = CheckInfo::lookup(&catalogue, a);
            alerts_notification(
                "n-3",
                NotificationKind::Reminder,
                "mairie",
                "g-1",
                std::slice::from_ref(a),
                &check,
                &tz,
                1,
            )
            .text
        };
        assert!(reminder(&a).starts_with("Rappel :"));
        a.history.push(crate::store::AlertEvent {
            at_ms: 1,
            what: crate::alerts::lifecycle::ESCALATED.into(),
            detail: "gravité medium → critical".into(),
        });
        let text = reminder(&a);
        assert!(
            text.starts_with("Aggravation :") && text.contains("critique"),
            "{text}"
        );
    }

    #[test]
    fn groups_list_a_bounded_number_of_hosts() {
        let catalogue = Catalogue::builtin().unwrap();
        let alerts: Vec<AlertRecord> = (0..60)
            .map(|i| {
                let mut a = alert(&format!("h{i}"), "en retard");
                a.id = format!("a-{i}");
                a
            })
            .collect();
        let check = CheckInfo::lookup(&catalogue, &alerts[0]);
        let n = alerts_notification(
            "n-2",
            NotificationKind::Opened,
            "mairie",
            "g-9",
            &alerts,
            &check,
            &TimeZone::UTC,
            0,
        );
        assert!(n.subject.contains("60 hôtes"), "{}", n.subject);
        assert!(n.text.contains("… et 10 autres"));
        assert!(n.text.contains("alerts ack g-9"));
        assert_eq!(n.alert_ids.len(), 60);
    }
}
