//! `vigie-collector evaluate`: judges a `vigie-agent check --json` document offline, with no server
//! and no store — the way to audit a mounted disk image and the way support reproduces a verdict.

use vigie_policies::{
    Catalogue, ContractorPolicy, DomainEvidence, HostEvidence, HostFacts, Profile,
};
use vigie_proto::v1::{domain_state::State, Report};

use crate::store::FindingRecord;

#[derive(Debug, thiserror::Error)]
pub enum EvaluateError {
    #[error(transparent)]
    Json(#[from] vigie_proto::json::JsonError),
    #[error("check catalogue: {0}")]
    Catalogue(String),
}

/// Evaluates a report as if it had been received when it was collected, at time `now_ms`.
/// `contractor_policy` stands for the organisation's (ACC-004), which an offline file has not, and
/// `attestations` for its attestations (ACC-008's VPN half).
pub fn findings(
    report: &Report,
    profile: Profile,
    contractor_policy: Option<ContractorPolicy>,
    attestations: Vec<vigie_policies::Attestation>,
    now_ms: i64,
) -> Result<Vec<FindingRecord>, EvaluateError> {
    let catalogue = Catalogue::builtin().map_err(|e| EvaluateError::Catalogue(e.to_string()))?;
    let hostname = report
        .domains
        .iter()
        .find_map(|d| match &d.state {
            Some(State::Inventory(inv)) => Some(inv.hostname.clone()),
            _ => None,
        })
        .unwrap_or_default();
    let received = |d: &vigie_proto::v1::DomainState| {
        if d.collected_at_ms > 0 {
            d.collected_at_ms
        } else {
            report.collected_at_ms
        }
    };
    let evidence = HostEvidence {
        facts: HostFacts {
            host_id: String::new(),
            hostname: hostname.clone(),
            role: None,
            last_seen_ms: Some(report.collected_at_ms),
            cloned_identity: false,
            equivocation: false,
            contractor_policy,
            attestations,
            maintenance: Vec::new(),
        },
        domains: report
            .domains
            .iter()
            .map(|d| DomainEvidence {
                received_at_ms: received(d),
                state: d.clone(),
                evidence_ref: (0, 0),
            })
            .collect(),
    };
    Ok(
        vigie_policies::evaluate(&catalogue, profile, &evidence, &[], now_ms)
            .into_iter()
            .map(|f| FindingRecord::from_finding("-", "", &hostname, f, now_ms))
            .collect(),
    )
}

/// Parses the JSON text and renders the findings as a table or JSON.
pub fn offline(
    text: &str,
    profile: Profile,
    contractor_policy: Option<ContractorPolicy>,
    attestations: Vec<vigie_policies::Attestation>,
    now_ms: i64,
    json: bool,
) -> Result<String, EvaluateError> {
    let report = vigie_proto::json::report_from_json(text)?;
    Ok(crate::admin::render_findings(
        &findings(&report, profile, contractor_policy, attestations, now_ms)?,
        json,
    ))
}
