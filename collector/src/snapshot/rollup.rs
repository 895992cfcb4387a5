//! The roll-up per ANSSI hygiene measure (`HYG n`) and per BP-028 recommendation (`BP-028 Rn (L)`)
//! for the measures the catalogue's checks reference.
//!
//! A measure's status says how much of it machine evidence covers in this snapshot, not whether it is
//! met (the counts say that): `checked` when every applicable finding of its checks was judged (pass,
//! fail or waived), `partly` when some were judged and others lack evidence (stale, unknown, error),
//! `needs_attestation` when none were judged, so a person must attest it. Not-applicable findings are
//! left out. All 42 hygiene measures are listed, those no check references with no checks and
//! `needs_attestation`; BP-028 recommendations are listed when a check references them.

use std::collections::BTreeMap;

use serde::Serialize;
use vigie_policies::Catalogue;

use crate::store::FindingRecord;

/// The ANSSI hygiene guide (2017) has 42 measures, `HYG 1` to `HYG 42`.
const HYGIENE_MEASURES: u32 = 42;

/// Sort key of a measure: hygiene measures first, by number, then BP-028 recommendations by number.
fn order(reference: &str) -> (u8, u32, String) {
    let number = |rest: &str| {
        rest.trim_start_matches('R')
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or(u32::MAX)
    };
    match (
        reference.strip_prefix("HYG "),
        reference.strip_prefix("BP-028 "),
    ) {
        (Some(rest), _) => (0, number(rest), reference.to_owned()),
        (None, Some(rest)) => (1, number(rest), reference.to_owned()),
        _ => (2, u32::MAX, reference.to_owned()),
    }
}

/// Whether a reference names a hygiene measure or a BP-028 recommendation.
fn is_measure(reference: &str) -> bool {
    reference.starts_with("HYG ") || reference.starts_with("BP-028 ")
}

/// One measure of the roll-up as the snapshot carries it (fields in canonical order).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Measure {
    pub checks: Vec<String>,
    pub fail: String,
    pub measure: String,
    pub no_evidence: String,
    pub pass: String,
    pub status: &'static str,
    pub waived: String,
}

#[derive(Default)]
struct Tally {
    checks: Vec<String>,
    pass: u64,
    fail: u64,
    waived: u64,
    no_evidence: u64,
}

/// The roll-up: one entry per measure, hygiene measures by number, then BP-028 recommendations.
pub fn rollup<'a>(
    catalogue: &Catalogue,
    findings: impl IntoIterator<Item = &'a FindingRecord>,
) -> Vec<Measure> {
    let mut measures: BTreeMap<String, Tally> = (1..=HYGIENE_MEASURES)
        .map(|n| (format!("HYG {n}"), Tally::default()))
        .collect();
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
    let mut measures: Vec<(String, Tally)> = measures.into_iter().collect();
    measures.sort_by_cached_key(|(reference, _)| order(reference));
    measures
        .into_iter()
        .map(|(reference, t)| {
            let judged = t.pass + t.fail + t.waived;
            let status = match (judged, t.no_evidence) {
                (0, _) => "needs_attestation",
                (_, 0) => "checked",
                _ => "partly",
            };
            Measure {
                checks: t.checks,
                fail: t.fail.to_string(),
                measure: reference,
                no_evidence: t.no_evidence.to_string(),
                pass: t.pass.to_string(),
                status,
                waived: t.waived.to_string(),
            }
        })
        .collect()
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
            title_fr: "".into(),
            title_en: "".into(),
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
            let m = out.into_iter().find(|m| m.measure == "HYG 14").unwrap();
            (m.status.to_owned(), m.fail)
        };
        assert_eq!(status(&[]), ("needs_attestation".into(), "0".into()));
        // Every hygiene measure is listed, in numeric order, then the BP-028 recommendations.
        let all = rollup(&catalogue, &[]);
        let names: Vec<&str> = all.iter().map(|m| m.measure.as_str()).collect();
        assert_eq!(names.iter().filter(|n| n.starts_with("HYG ")).count(), 42);
        assert_eq!(&names[..3], ["HYG 1", "HYG 2", "HYG 3"]);
        assert_eq!(names[41], "HYG 42");
        assert!(names[42].starts_with("BP-028 R"), "{names:?}");
        let unreferenced = all.iter().find(|m| m.checks.is_empty()).unwrap();
        assert_eq!(unreferenced.status, "needs_attestation");
        let all: Vec<_> = hyg14.iter().map(|c| finding(c, "fail")).collect();
        assert_eq!(status(&all), ("checked".into(), hyg14.len().to_string()));
        let mut some = all.clone();
        some[0].outcome = "stale".into();
        assert_eq!(status(&some).0, "partly");
    }
}
