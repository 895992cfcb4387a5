//! `snapshot diff A B`: what changed between two snapshots of an organisation, as plain text:
//! findings that got better or worse, hosts that appeared or went away, and hosts whose keys changed.

use std::collections::BTreeMap;

use serde_json::Value;

use super::verify::{list, text, VerifyError};

/// How good an outcome is; a higher rank is better.
fn rank(outcome: &str) -> u8 {
    match outcome {
        "pass" | "not_applicable" => 3,
        "waived" => 2,
        "stale" | "unknown" | "error" => 1,
        _ => 0,
    }
}

struct Host<'a> {
    name: &'a str,
    findings: BTreeMap<&'a str, &'a str>,
    keys: Vec<&'a str>,
    revoked: bool,
}

fn hosts(doc: &Value) -> Result<BTreeMap<&str, Host<'_>>, VerifyError> {
    let mut out = BTreeMap::new();
    for h in list(doc, "hosts")? {
        let mut findings = BTreeMap::new();
        for f in list(h, "findings")? {
            findings.insert(text(f, "check_id")?, text(f, "outcome")?);
        }
        let keys = list(h, "key_history")?
            .iter()
            .filter_map(|e| e.get("public_key").and_then(Value::as_str))
            .collect();
        out.insert(
            text(h, "id")?,
            Host {
                name: text(h, "hostname")?,
                findings,
                keys,
                revoked: h.get("revoked").is_some_and(|r| !r.is_null()),
            },
        );
    }
    Ok(out)
}

/// The differences from `a` to `b` (two parsed snapshot documents).
pub fn diff(a: &Value, b: &Value) -> Result<String, VerifyError> {
    let (ha, hb) = (hosts(a)?, hosts(b)?);
    let (mut better, mut worse, mut changed) = (Vec::new(), Vec::new(), Vec::new());
    let mut new_hosts = Vec::new();
    let mut keys = Vec::new();
    for (id, host) in &hb {
        let Some(before) = ha.get(id) else {
            new_hosts.push(format!("  {} ({id})", host.name));
            continue;
        };
        for (check, outcome) in &host.findings {
            let old = before.findings.get(check).copied().unwrap_or("absent");
            if old == *outcome {
                continue;
            }
            let line = format!("  {} {check}: {old} -> {outcome}", host.name);
            match rank(outcome).cmp(&rank(old)) {
                std::cmp::Ordering::Greater => better.push(line),
                std::cmp::Ordering::Less => worse.push(line),
                std::cmp::Ordering::Equal => changed.push(line),
            }
        }
        if before.keys != host.keys || before.revoked != host.revoked {
            let state = if host.revoked { ", revoked" } else { "" };
            keys.push(format!(
                "  {}: {} -> {} keys in history{state}",
                host.name,
                before.keys.len(),
                host.keys.len()
            ));
        }
    }
    let gone: Vec<String> = ha
        .iter()
        .filter(|(id, _)| !hb.contains_key(*id))
        .map(|(id, h)| format!("  {} ({id})", h.name))
        .collect();
    let mut out = format!(
        "snapshot diff {} {} -> {} {}\n",
        text(a.get("organisation").unwrap_or(&Value::Null), "id").unwrap_or("?"),
        text(a, "sequence")?,
        text(b.get("organisation").unwrap_or(&Value::Null), "id").unwrap_or("?"),
        text(b, "sequence")?,
    );
    for (title, lines) in [
        ("better", better),
        ("worse", worse),
        ("changed", changed),
        ("new hosts", new_hosts),
        ("gone hosts", gone),
        ("changed keys", keys),
    ] {
        out.push_str(&format!("{title}: {}\n", lines.len()));
        for line in lines {
            out.push_str(&line);
            out.push('\n');
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc(seq: &str, hosts: Value) -> Value {
        json!({"organisation": {"id": "o"}, "sequence": seq, "hosts": hosts})
    }

    fn host(id: &str, findings: &[(&str, &str)], keys: &[&str]) -> Value {
        json!({
            "id": id, "hostname": format!("{id}.local"), "revoked": null,
            "findings": findings.iter().map(|(c, o)| json!({"check_id": c, "outcome": o})).collect::<Vec<_>>(),
            "key_history": keys.iter().map(|k| json!({"public_key": k})).collect::<Vec<_>>(),
        })
    }

    #[test]
    fn better_worse_new_gone_and_keys() {
        let a = doc(
            "1",
            json!([
                host("h1", &[("PAT-001", "fail"), ("BKP-001", "waived")], &["k1"]),
                host("h2", &[], &["k2"]),
            ]),
        );
        let b = doc(
            "2",
            json!([
                host(
                    "h1",
                    &[("PAT-001", "pass"), ("BKP-001", "fail")],
                    &["k1", "k3"]
                ),
                host("h3", &[], &["k4"]),
            ]),
        );
        assert_eq!(
            diff(&a, &b).unwrap(),
            "snapshot diff o 1 -> o 2\nbetter: 1\n  h1.local PAT-001: fail -> pass\nworse: 1\n  h1.local BKP-001: waived -> fail\nchanged: 0\nnew hosts: 1\n  h3.local (h3)\ngone hosts: 1\n  h2.local (h2)\nchanged keys: 1\n  h1.local: 1 -> 2 keys in history\n"
        );
    }
}
