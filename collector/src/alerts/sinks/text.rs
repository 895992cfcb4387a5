//! Text hygiene shared by the sinks: control characters removed, lengths cut on character boundaries,
//! and the few fields (hosts, check) that sinks read from the notification's event document.
//!
//! The notification's text was already cleaned by the renderer; sinks clean again because each
//! format has its own dangerous characters and the contract must not rest on one layer.

/// Unicode controls that reorder text when displayed (bidirectional embeddings, overrides and
/// isolates): text made of them can read differently from what it is.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}')
}

fn is_stripped(c: char) -> bool {
    c.is_control() || is_bidi_control(c)
}

/// `s` on one line: every run of control characters (newlines included) becomes one space, and
/// leading and trailing spaces are trimmed.
pub fn one_line(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut pending_space = false;
    for c in s.chars() {
        if is_stripped(c) {
            pending_space = true;
            continue;
        }
        if pending_space && !out.is_empty() {
            out.push(' ');
        }
        pending_space = false;
        out.push(c);
    }
    out.trim_end().to_owned()
}

/// `s` without control characters except newlines (CR LF and lone CR become LF).
pub fn multi_line(s: &str) -> String {
    let normalised = s.replace("\r\n", "\n").replace('\r', "\n");
    normalised
        .chars()
        .filter(|&c| c == '\n' || !is_stripped(c))
        .collect()
}

/// The longest prefix of `s` of at most `max_bytes` bytes that ends on a character boundary.
pub fn truncate(s: &str, max_bytes: usize) -> &str {
    if s.len() <= max_bytes {
        return s;
    }
    let mut end = max_bytes;
    while end > 0 && !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or("")
}

/// `s` cut to at most `max_bytes` bytes, ending with "…" when something was cut.
pub fn ellipsize(s: &str, max_bytes: usize) -> String {
    const MARK: &str = "…";
    if s.len() <= max_bytes {
        return s.to_owned();
    }
    let mut out = truncate(s, max_bytes.saturating_sub(MARK.len())).to_owned();
    if out.len() + MARK.len() <= max_bytes {
        out.push_str(MARK);
    }
    out
}

/// The host names a notification concerns, read from its event document: `hosts` (an array of
/// strings, or of objects with a `name` or `host` string) or a single `host` (same shapes).
pub fn event_hosts(event: &serde_json::Value) -> Vec<String> {
    fn name(v: &serde_json::Value) -> Option<String> {
        match v {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Object(o) => ["name", "host", "hostname"]
                .iter()
                .find_map(|k| o.get(*k).and_then(|n| n.as_str()).map(str::to_owned)),
            _ => None,
        }
    }
    match (event.get("hosts"), event.get("host")) {
        (Some(serde_json::Value::Array(all)), _) => all.iter().filter_map(name).collect(),
        (_, Some(one)) => name(one).into_iter().collect(),
        _ => Vec::new(),
    }
}

/// The check a notification concerns, read from its event document: `check_id`, or `check` as a
/// string or an object with an `id` string.
pub fn event_check(event: &serde_json::Value) -> Option<String> {
    if let Some(id) = event.get("check_id").and_then(|v| v.as_str()) {
        return Some(id.to_owned());
    }
    match event.get("check")? {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Object(o) => o.get("id").and_then(|v| v.as_str()).map(str::to_owned),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn controls_are_removed() {
        assert_eq!(
            one_line("a\r\nb\t\x00c\u{7f}  \u{9b}d\u{202e}e\n"),
            "a b c    d e"
        );
        assert_eq!(one_line("\n\nx"), "x");
        assert_eq!(multi_line("a\r\nb\rc\x1b[31md\u{2066}"), "a\nb\nc[31md");
    }

    #[test]
    fn cuts_fall_on_character_boundaries() {
        assert_eq!(truncate("été", 1), "");
        assert_eq!(truncate("été", 2), "é");
        assert_eq!(truncate("été", 10), "été");
        assert_eq!(ellipsize("abcdef", 6), "abcdef");
        assert_eq!(ellipsize("abcdefg", 6), "abc…");
        assert!(ellipsize("ééééé", 5).len() <= 5);
    }

    #[test]
    fn hosts_and_check_come_from_the_event() {
        let e = json!({"hosts": ["a", {"name": "b"}, 3], "check": {"id": "backup.daily"}});
        assert_eq!(event_hosts(&e), ["a", "b"]);
        assert_eq!(event_check(&e).as_deref(), Some("backup.daily"));
        let e = json!({"host": {"hostname": "mairie-01"}, "check_id": "av.signatures"});
        assert_eq!(event_hosts(&e), ["mairie-01"]);
        assert_eq!(event_check(&e).as_deref(), Some("av.signatures"));
        assert!(event_hosts(&json!({})).is_empty());
        assert_eq!(event_check(&json!({"check": 1})), None);
    }
}
