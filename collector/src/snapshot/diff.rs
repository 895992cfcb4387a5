//! `snapshot diff A B`: what changed between two snapshots of an organisation, as plain text:
//! findings that got better or worse, hosts and ping jobs (backups of machines with no agent, shown
//! by their pseudo-host `ping:<name>`) that appeared or went away, and hosts whose keys changed.

use std::collections::BTreeMap;

use serde_json::Value;

use super::verify::{list, optional_list, text, VerifyError};

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

/// A document's ping jobs by pseudo-host id, named by that id (they have no key).
fn ping_jobs(doc: &Value) -> Result<BTreeMap<&str, Host<'_>>, VerifyError> {
    let mut out = BTreeMap::new();
    for j in optional_list(doc, "ping_jobs")? {
        let mut findings = BTreeMap::new();
        for f in list(j, "findings")? {
            findings.insert(text(f, "check_id")?, text(f, "outcome")?);
        }
        let id = text(j, "id")?;
        out.insert(
            id,
            Host {
                name: id,
                findings,
                keys: Vec::new(),
                revoked: false,
            },
        );
    }
    Ok(out)
}

/// Better, worse and otherwise changed findings from `before` to `after`, as lines.
#[derive(Default)]
struct Changes {
    better: Vec<String>,
    worse: Vec<String>,
    changed: Vec<String>,
}

impl Changes {
    fn compare(&mut self, before: &Host<'_>, after: &Host<'_>) {
        for (check, outcome) in &after.findings {
            let old = before.findings.get(check).copied().unwrap_or("absent");
            if old == *outcome {
                continue;
            }
            let line = format!("  {} {check}: {old} -> {outcome}", after.name);
            match rank(outcome).cmp(&rank(old)) {
                std::cmp::Ordering::Greater => self.better.push(line),
                std::cmp::Ordering::Less => self.worse.push(line),
                std::cmp::Ordering::Equal => self.changed.push(line),
            }
        }
    }
}

/// The differences from `a` to `b` (two parsed snapshot documents).
pub fn diff(a: &Value, b: &Value) -> Result<String, VerifyError> {
    let (ha, hb) = (hosts(a)?, hosts(b)?);
    let mut changes = Changes::default();
    let mut new_hosts = Vec::new();
    let mut keys = Vec::new();
    for (id, host) in &hb {
        let Some(before) = ha.get(id) else {
            new_hosts.push(format!("  {} ({id})", host.name));
            continue;
        };
        changes.compare(before, host);
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
    let (ja, jb) = (ping_jobs(a)?, ping_jobs(b)?);
    let mut new_jobs = Vec::new();
    for (id, job) in &jb {
        match ja.get(id) {
            Some(before) => changes.compare(before, job),
            None => new_jobs.push(format!("  {id}")),
        }
    }
    let gone_jobs: Vec<String> = ja
        .keys()
        .filter(|id| !jb.contains_key(*id))
        .map(|id| format!("  {id}"))
        .collect();
    let mut out = format!(
        "snapshot diff {} {} -> {} {}\n",
        text(a.get("organisation").unwrap_or(&Value::Null), "id").unwrap_or("?"),
        text(a, "sequence")?,
        text(b.get("organisation").unwrap_or(&Value::Null), "id").unwrap_or("?"),
        text(b, "sequence")?,
    );
    for (title, lines) in [
        ("better", changes.better),
        ("worse", changes.worse),
        ("changed", changes.changed),
        ("new hosts", new_hosts),
        ("gone hosts", gone),
        ("new ping jobs", new_jobs),
        ("gone ping jobs", gone_jobs),
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
            "snapshot diff o 1 -> o 2\nbetter: 1\n  h1.local PAT-001: fail -> pass\nworse: 1\n  h1.local BKP-001: waived -> fail\nchanged: 0\nnew hosts: 1\n  h3.local (h3)\ngone hosts: 1\n  h2.local (h2)\nnew ping jobs: 0\ngone ping jobs: 0\nchanged keys: 1\n  h1.local: 1 -> 2 keys in history\n"
        );
    }

    fn job(name: &str, findings: &[(&str, &str)]) -> Value {
        json!({
            "id": format!("ping:{name}"), "name": name,
            "findings": findings.iter().map(|(c, o)| json!({"check_id": c, "outcome": o})).collect::<Vec<_>>(),
        })
    }

    #[test]
    fn ping_jobs_get_better_worse_new_and_gone() {
        let mut a = doc("1", json!([]));
        a["ping_jobs"] = json!([
            job("nas", &[("BKP-001", "pass"), ("BKP-002", "pass")]),
            job("veeam", &[("BKP-001", "unknown")]),
            job("old", &[]),
        ]);
        let mut b = doc("2", json!([]));
        b["ping_jobs"] = json!([
            job("nas", &[("BKP-001", "fail"), ("BKP-002", "fail")]),
            job("veeam", &[("BKP-001", "pass")]),
            job("firewall", &[]),
        ]);
        assert_eq!(
            diff(&a, &b).unwrap(),
            "snapshot diff o 1 -> o 2\nbetter: 1\n  ping:veeam BKP-001: unknown -> pass\nworse: 2\n  ping:nas BKP-001: pass -> fail\n  ping:nas BKP-002: pass -> fail\nchanged: 0\nnew hosts: 0\ngone hosts: 0\nnew ping jobs: 1\n  ping:firewall\ngone ping jobs: 1\n  ping:old\nchanged keys: 0\n"
        );
        // A document from before ping jobs (no key at all) compares with one that has them.
        let plain = doc("1", json!([]));
        assert!(diff(&plain, &b).unwrap().contains("new ping jobs: 3\n"));
    }
}
