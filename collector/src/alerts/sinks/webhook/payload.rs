//! The JSON bodies a webhook sends: Vigie's own event document, or a message for a Slack, Mattermost
//! or Microsoft Teams incoming webhook.
//!
//! JSON escaping is serde's; what remains is each chat's own markup, through which host-supplied
//! text could mention everyone, forge links or hide words. Slack: `&`, `<`, `>` escaped as its
//! documentation requires (its `<!channel>` and `<url|label>` sequences need them). Mattermost:
//! Markdown punctuation backslash-escaped and `@` followed by a word joiner, so that `@channel`
//! notifies nobody. Teams: an Adaptive Card made of `TextRun`s, which Teams renders without Markdown.

use serde_json::{json, Value};

use super::WebhookFormat;
use crate::alerts::sink::{Notification, NotificationKind, SinkError};
use crate::alerts::sinks::text::{ellipsize, multi_line, one_line};

/// Chat messages are cut to this many bytes of text: Mattermost's default post limit is 16,383
/// characters and a Teams card must stay under 28 KB.
pub const MAX_CHAT_TEXT_BYTES: usize = 12_000;

/// The request body for `format`.
pub fn render(format: WebhookFormat, n: &Notification) -> Result<Vec<u8>, SinkError> {
    let value = match format {
        WebhookFormat::Vigie => return to_vec(&n.event),
        WebhookFormat::Slack => json!({ "text": slack_text(n) }),
        WebhookFormat::Mattermost => json!({ "text": mattermost_text(n) }),
        WebhookFormat::Teams => teams_card(n),
    };
    to_vec(&value)
}

fn to_vec(value: &Value) -> Result<Vec<u8>, SinkError> {
    serde_json::to_vec(value).map_err(|e| SinkError::Permanent(format!("encoding JSON: {e}")))
}

fn subject(n: &Notification) -> String {
    ellipsize(&one_line(&n.subject), 500)
}

fn body_text(n: &Notification) -> String {
    ellipsize(multi_line(&n.text).trim(), MAX_CHAT_TEXT_BYTES)
}

fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn slack_text(n: &Notification) -> String {
    format!(
        "*{}*\n{}",
        slack_escape(&subject(n)),
        slack_escape(&body_text(n))
    )
}

fn mattermost_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 8);
    for c in s.chars() {
        match c {
            '@' => out.push_str("@\u{2060}"),
            '\n' => out.push_str("  \n"),
            c if c.is_ascii_punctuation() && c != '.' && c != ',' && c != ':' && c != '/' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

fn mattermost_text(n: &Notification) -> String {
    format!(
        "**{}**\n\n{}",
        mattermost_escape(&subject(n)),
        mattermost_escape(&body_text(n))
    )
}

fn text_run(text: impl Into<String>) -> Value {
    json!({ "type": "TextRun", "text": text.into() })
}

fn rich_block(inlines: Vec<Value>) -> Value {
    json!({ "type": "RichTextBlock", "inlines": inlines })
}

/// An Adaptive Card (1.4) in the message envelope that Teams Workflows and connectors accept.
fn teams_card(n: &Notification) -> Value {
    let colour = match n.kind {
        NotificationKind::Resolved => "Good",
        NotificationKind::Opened | NotificationKind::Reminder => "Attention",
        _ => "Default",
    };
    let mut body = vec![rich_block(vec![json!({
        "type": "TextRun",
        "text": subject(n),
        "weight": "Bolder",
        "size": "Medium",
        "color": colour,
    })])];
    body.extend(
        body_text(n)
            .split('\n')
            .filter(|line| !line.trim().is_empty())
            .take(200)
            .map(|line| rich_block(vec![text_run(line)])),
    );
    body.push(rich_block(vec![text_run(format!(
        "Organisation : {} · gravité : {} · clé : {}",
        ellipsize(&one_line(&n.org), 200),
        n.severity.as_str(),
        ellipsize(&one_line(&n.key), 200),
    ))]));
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "msteams": { "width": "Full" },
                "body": body,
            },
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::SystemTime;
    use vigie_policies::Severity;

    fn notification() -> Notification {
        Notification {
            key: "k-1".into(),
            org: "mairie".into(),
            kind: NotificationKind::Opened,
            severity: Severity::High,
            subject: "Sauvegarde <b>@channel</b>\r\nX-Injected: 1".into(),
            text: "Hôte <!channel> & [clic](http://evil.example)\nligne 2 `code`".into(),
            html: None,
            event: json!({"key": "k-1", "kind": "opened"}),
            occurred_at: SystemTime::UNIX_EPOCH,
        }
    }

    fn text_of(body: &[u8]) -> String {
        let v: Value = serde_json::from_slice(body).unwrap();
        v["text"].as_str().unwrap().to_owned()
    }

    #[test]
    fn vigie_is_the_event_as_is() {
        let n = notification();
        let body = render(WebhookFormat::Vigie, &n).unwrap();
        assert_eq!(serde_json::from_slice::<Value>(&body).unwrap(), n.event);
    }

    #[test]
    fn slack_neutralises_its_control_sequences() {
        let text = text_of(&render(WebhookFormat::Slack, &notification()).unwrap());
        assert_eq!(
            text,
            "*Sauvegarde &lt;b&gt;@channel&lt;/b&gt; X-Injected: 1*\n\
             Hôte &lt;!channel&gt; &amp; [clic](http://evil.example)\nligne 2 `code`"
        );
    }

    #[test]
    fn mattermost_neutralises_markdown_and_mentions() {
        let text = text_of(&render(WebhookFormat::Mattermost, &notification()).unwrap());
        assert!(!text.contains("@channel"), "{text}");
        assert!(text.contains("@\u{2060}channel"));
        assert!(text.contains(r"\[clic\]\(http://evil.example\)"), "{text}");
        assert!(text.contains(r"\`code\`"));
        assert!(!text.contains('\r'));
    }

    #[test]
    fn teams_is_an_adaptive_card_of_plain_text_runs() {
        let body = render(WebhookFormat::Teams, &notification()).unwrap();
        let v: Value = serde_json::from_slice(&body).unwrap();
        let card = &v["attachments"][0]["content"];
        assert_eq!(card["type"], "AdaptiveCard");
        let blocks = card["body"].as_array().unwrap();
        assert!(blocks.iter().all(|b| b["type"] == "RichTextBlock"));
        assert_eq!(
            blocks[0]["inlines"][0]["text"],
            "Sauvegarde <b>@channel</b> X-Injected: 1"
        );
        assert_eq!(blocks.len(), 4);
    }

    #[test]
    fn long_texts_are_cut() {
        let mut n = notification();
        n.text = "é".repeat(20_000);
        let text = text_of(&render(WebhookFormat::Slack, &n).unwrap());
        assert!(text.len() < MAX_CHAT_TEXT_BYTES + 600);
        assert!(text.ends_with('…'));
    }
}
