//! The roll-up per ANSSI hygiene measure (`HYG n`) and per BP-028 recommendation (`BP-028 Rn (L)`)
//! for the measures the catalogue's checks reference.
//!
//! A measure's status says how much of it machine evidence covers in this snapshot, not whether it is
//! met (the counts say that): `checked` when every applicable finding of its checks was judged (pass,
//! fail or waived), `partly` when some were judged and others lack evidence (stale, unknown, error),
//! `needs_attestation` when none were judged, so a person must attest it. Not-applicable findings are
//! left out. Measures no check references are absent: they are all a person's to attest.

use std::collections::BTreeMap;

use serde_json::{json, Value};
use vigie_policies::Catalogue;

use crate::store::FindingRecord;

/// Whether a reference names a hygiene measure or a BP-028 recommendation.
fn is_measure(reference: &str) -> bool {
    reference.starts_with("HYG ") || reference.starts_with("BP-028 ")
}

#[derive(Default)]
struct Tally {
    checks: Vec<String>,
    pass: u64,
    fail: u64,
    waived: u64,
    no_evidence: u64,
}

/// The roll-up as snapshot JSON: one object per measure, sorted by reference.
pub fn rollup<'a>(
    catalogue: &Catalogue,
    findings: impl IntoIterator<Item = &'a FindingRecord>,
) -> Value {
    let mut measures: BTreeMap<String, Tally> = BTreeMap::new();
    let mut by_check: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for check in catalogue.checks() {
        for reference in check.references().iter().filter(|r| is_measure(r)) {
            measures
                .entry(reference.clone())
                .or_default()
                .checks
                .push(check.id().to_owned());
            by_check.entry(check.id()).or_default().push(reference);
        }
    }
    for finding in findings {
        for reference in by_check
            .get(finding.check_id.as_str())
            .into_iter()
            .flatten()
        {
            let Some(tally) = measures.get_mut(*reference) else {
                continue;
            };
            match finding.outcome.as_str() {
                "pass" => tally.pass += 1,
                "fail" => tally.fail += 1,
                "waived" => tally.waived += 1,
                "not_applicable" => {}
                _ => tally.no_evidence += 1,
            }
        }
    }
    Value::Array(
        measures
            .into_iter()
            .map(|(reference, t)| {
                let judged = t.pass + t.fail + t.waived;
                let status = match (judged, t.no_evidence) {
                    (0, _) => "needs_attestation",
                    (_, 0) => "checked",
                    _ => "partly",
                };
                json!({
                    "measure": reference,
                    "status": status,
                    "checks": t.checks,
                    "pass": t.pass.to_string(),
                    "fail": t.fail.to_string(),
                    "waived": t.waived.to_string(),
                    "no_evidence": t.no_evidence.to_string(),
                })
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(check: &str, outcome: &str) -> FindingRecord {
        FindingRecord {
            org: "o".into(),
            host_id: "h".into(),
            hostname: "h".into(),
            check_id: check.into(),
            outcome: outcome.into(),
            severity: "high".into(),
            title_fr: String::new(),
            title_en: String::new(),
            detail: String::new(),
            evaluated_at_ms: 0,
            evidence: Vec::new(),
        }
    }

    #[test]
    fn statuses_follow_the_evidence() {
        let catalogue = Catalogue::builtin().unwrap();
        let hyg14: Vec<&str> = catalogue
            .checks()
            .iter()
            .filter(|c| c.references().iter().any(|r| r == "HYG 14"))
            .map(|c| c.id())
            .collect();
        assert!(hyg14.len() >= 2, "{hyg14:?}");
        let status = |findings: &[FindingRecord]| {
            let out = rollup(&catalogue, findings);
            let m = out
                .as_array()
                .unwrap()
                .iter()
                .find(|m| m["measure"] == "HYG 14")
                .unwrap()
                .clone();
            (
                m["status"].as_str().unwrap().to_owned(),
                m["fail"].as_str().unwrap().to_owned(),
            )
        };
        assert_eq!(status(&[]), ("needs_attestation".into(), "0".into()));
        let all: Vec<_> = hyg14.iter().map(|c| finding(c, "fail")).collect();
        assert_eq!(status(&all), ("checked".into(), hyg14.len().to_string()));
        let mut some = all.clone();
        some[0].outcome = "stale".into();
        assert_eq!(status(&some).0, "partly");
    }
}
