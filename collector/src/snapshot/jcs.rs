//! RFC 8785 JSON Canonicalization Scheme (JCS) for the values a snapshot holds.
//!
//! Written by hand rather than taken from a crate because the snapshot emits only strings, small
//! integers, booleans, null, arrays and objects, and the one hard part of JCS, ECMAScript number
//! formatting of doubles, is exactly what the schema avoids (every id, hash and 64-bit integer is a
//! string, DESIGN decision 21). An integer beyond ±2^53, or any fraction, is refused instead of being
//! silently rounded, which is the pitfall observed with general-purpose JCS crates.
//!
//! Rules applied: object members sorted by the UTF-16 code units of their names; no whitespace;
//! strings escaped as ECMAScript `JSON.stringify` does (`\"`, `\\`, `\b`, `\f`, `\n`, `\r`, `\t`,
//! other controls as `\u00xx` in lower case, everything else, non-ASCII included, as is).

use serde_json::Value;

/// The largest integer a double holds exactly.
const MAX_SAFE: u64 = (1 << 53) - 1;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JcsError {
    #[error("number {0} is not an integer of at most 2^53 - 1 in magnitude: store it as a string")]
    Number(String),
}

/// The canonical bytes of `value`.
pub fn canonical(value: &Value) -> Result<Vec<u8>, JcsError> {
    let mut out = String::new();
    write_value(value, &mut out)?;
    Ok(out.into_bytes())
}

fn write_value(value: &Value, out: &mut String) -> Result<(), JcsError> {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            let text = if let Some(u) = n.as_u64().filter(|u| *u <= MAX_SAFE) {
                u.to_string()
            } else if let Some(i) = n.as_i64().filter(|i| i.unsigned_abs() <= MAX_SAFE) {
                i.to_string()
            } else {
                return Err(JcsError::Number(n.to_string()));
            };
            out.push_str(&text);
        }
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(item, out)?;
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut members: Vec<(&String, &Value)> = map.iter().collect();
            members.sort_by(|(a, _), (b, _)| a.encode_utf16().cmp(b.encode_utf16()));
            out.push('{');
            for (i, (name, member)) in members.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(name, out);
                out.push(':');
                write_value(member, out)?;
            }
            out.push('}');
        }
    }
    Ok(())
}

fn write_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[track_caller]
    fn check(value: Value, expect: &str) {
        let bytes = canonical(&value).unwrap();
        assert_eq!(String::from_utf8(bytes).unwrap(), expect);
    }

    #[test]
    fn sorts_by_utf16_and_drops_whitespace() {
        // RFC 8785 §3.2.3's example: the supplementary-plane character sorts before U+FB33 in
        // UTF-16 (a surrogate, 0xD83D) although it sorts after it in UTF-8 and in code points.
        check(
            json!({"\u{20ac}": "Euro", "\r": "CR", "\u{fb33}": "Hebrew", "1": "One",
                   "\u{1f600}": "Smiley", "\u{80}": "Ctl", "\u{f6}": "Latin"}),
            "{\"\\r\":\"CR\",\"1\":\"One\",\"\u{80}\":\"Ctl\",\"\u{f6}\":\"Latin\",\
             \"\u{20ac}\":\"Euro\",\"\u{1f600}\":\"Smiley\",\"\u{fb33}\":\"Hebrew\"}",
        );
        check(
            json!({"b": [1, true, null, {"z": -5, "a": "x"}], "a": {}}),
            r#"{"a":{},"b":[1,true,null,{"a":"x","z":-5}]}"#,
        );
    }

    #[test]
    fn escapes_like_ecmascript() {
        check(
            json!("quote \" backslash \\ nl \n tab \t bs \u{8} ff \u{c} cr \r nul \u{0} us \u{1f} del \u{7f} é € 😀 \u{2028}"),
            "\"quote \\\" backslash \\\\ nl \\n tab \\t bs \\b ff \\f cr \\r nul \\u0000 us \\u001f del \u{7f} é € 😀 \u{2028}\"",
        );
        check(json!("/"), "\"/\"");
    }

    #[test]
    fn integers_only_within_double_precision() {
        check(
            json!([0, -1, 9_007_199_254_740_991_u64]),
            "[0,-1,9007199254740991]",
        );
        assert_eq!(
            canonical(&json!(9_007_199_254_740_993_u64)),
            Err(JcsError::Number("9007199254740993".into()))
        );
        assert_eq!(
            canonical(&json!(u64::MAX)).map(|_| ()),
            Err(JcsError::Number(u64::MAX.to_string()))
        );
        assert_eq!(canonical(&json!(1.5)), Err(JcsError::Number("1.5".into())));
    }

    #[test]
    fn parsing_then_canonicalising_is_idempotent() {
        let text = r#"{ "b" : "é\u00e9\/", "a" : [ 1 , 2 ] }"#;
        let once = canonical(&serde_json::from_str(text).unwrap()).unwrap();
        let twice = canonical(&serde_json::from_slice(&once).unwrap()).unwrap();
        assert_eq!(once, twice);
        assert_eq!(String::from_utf8(once).unwrap(), r#"{"a":[1,2],"b":"éé/"}"#);
    }
}
