//! The public `check --json` format (DESIGN decision 22): a `vigie.v1.Report` in the proto3 JSON
//! mapping, 64-bit integers as strings, bytes as base64. `evaluate` and support tools read it back.

use crate::v1::Report;

/// Errors reading a `check --json` document.
#[derive(Debug, thiserror::Error)]
pub enum JsonError {
    #[error("evidence JSON is not a vigie.v1.Report: {0}")]
    Decode(#[from] serde_json::Error),
    #[error("evidence format version {found} is newer than this build understands ({supported})")]
    UnsupportedVersion { found: u32, supported: u32 },
}

/// Renders a report in the public JSON format, pretty-printed.
pub fn report_to_json(report: &Report) -> Result<String, serde_json::Error> {
    serde_json::to_string_pretty(report)
}

/// Parses a report from the public JSON format and checks its version.
pub fn report_from_json(text: &str) -> Result<Report, JsonError> {
    let report: Report = serde_json::from_str(text)?;
    if report.format_version > crate::EVIDENCE_FORMAT_VERSION {
        return Err(JsonError::UnsupportedVersion {
            found: report.format_version,
            supported: crate::EVIDENCE_FORMAT_VERSION,
        });
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::v1::{domain_state::State, DomainState, Inventory};

    #[test]
    fn sixty_four_bit_integers_are_strings_and_round_trip() {
        let report = Report {
            format_version: 1,
            collected_at_ms: 1_700_000_000_123,
            domains: vec![DomainState {
                domain: crate::v1::Domain::Inventory as i32,
                state: Some(State::Inventory(Inventory {
                    hostname: "mairie".into(),
                    memory_total_bytes: u64::MAX,
                    ..Default::default()
                })),
                ..Default::default()
            }],
            ..Default::default()
        };
        let text = report_to_json(&report).unwrap();
        assert!(
            text.contains("\"collectedAtMs\": \"1700000000123\""),
            "{text}"
        );
        assert!(text.contains("\"18446744073709551615\""), "{text}");
        assert_eq!(report_from_json(&text).unwrap(), report);
    }

    #[test]
    fn newer_format_is_refused_with_both_versions() {
        let err = report_from_json(r#"{"formatVersion": 99}"#).unwrap_err();
        assert!(err.to_string().contains("99"), "{err}");
    }
}
