//! Human-readable renderings of a **verified** snapshot document (issue 8): an HTML page and a PDF
//! report in French, and a CSV table of findings. They are views, never the record: the signed JSON
//! stays as it was, and the caller verifies it (`verify::verify`) before building a [`Report`].
//!
//! [`Report`] is the one model the three renderers share: summary counts, per-measure status,
//! waivers in force (what, who, until when), per-host detail with the evidence each finding rests
//! on, and the remediation of every check that fails somewhere. Host-provided text (host names,
//! finding details) is hostile: each renderer escapes or neutralises it for its own format.
//!
//! Not here: English reports (the document carries `title_en` and `remediation_en` for later).

pub mod csv;
pub mod html;
pub mod pdf;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::verify::{list, text, Verified, VerifyError};

/// French label of a finding outcome.
pub fn outcome_fr(outcome: &str) -> &'static str {
    match outcome {
        "pass" => "Conforme",
        "fail" => "Non conforme",
        "waived" => "Dérogation",
        "stale" => "Preuve périmée",
        "unknown" => "Sans preuve",
        "error" => "Erreur de collecte",
        "not_applicable" => "Sans objet",
        _ => "Inconnu",
    }
}

/// Display order of outcomes: what needs attention first.
fn outcome_rank(outcome: &str) -> u8 {
    match outcome {
        "fail" => 0,
        "waived" => 1,
        "error" => 2,
        "stale" => 3,
        "unknown" => 4,
        "pass" => 5,
        "not_applicable" => 6,
        _ => 7,
    }
}

/// French label of a severity.
pub fn severity_fr(severity: &str) -> &'static str {
    match severity {
        "critical" => "critique",
        "high" => "élevée",
        "medium" => "moyenne",
        "low" => "faible",
        "info" => "information",
        _ => "non précisée",
    }
}

/// French label of a measure's coverage status (`rollup`).
pub fn measure_status_fr(status: &str) -> &'static str {
    match status {
        "checked" => "Vérifiée par les preuves",
        "partly" => "Partiellement vérifiée",
        "needs_attestation" => "Attestation humaine requise",
        _ => "Inconnu",
    }
}

/// `28/11/2026 17:05` in Europe/Paris, from a document time; the text itself when it does not parse.
pub fn time_fr(rfc3339: &str) -> String {
    let parsed = humantime::parse_rfc3339(rfc3339).ok().and_then(|t| {
        let ms = t.duration_since(std::time::UNIX_EPOCH).ok()?.as_millis();
        let ts = jiff::Timestamp::from_millisecond(i64::try_from(ms).ok()?).ok()?;
        let tz = jiff::tz::TimeZone::get("Europe/Paris").ok()?;
        Some(ts.to_zoned(tz).strftime("%d/%m/%Y %H:%M").to_string())
    });
    parsed.unwrap_or_else(|| rfc3339.to_owned())
}

/// When a waiver stops applying, in Paris time: `31/12/2099 inclus` for an expiry at midnight (what
/// `--until 2099-12-31` records: the end of that day), `28/11/2026 17:05` otherwise.
pub fn until_fr(rfc3339: &str) -> String {
    let parsed = humantime::parse_rfc3339(rfc3339).ok().and_then(|t| {
        let ms = t.duration_since(std::time::UNIX_EPOCH).ok()?.as_millis();
        let ts = jiff::Timestamp::from_millisecond(i64::try_from(ms).ok()?).ok()?;
        let tz = jiff::tz::TimeZone::get("Europe/Paris").ok()?;
        let zoned = ts.to_zoned(tz);
        if zoned.time() == jiff::civil::Time::midnight() {
            let day = zoned.date().yesterday().ok()?;
            Some(format!("{} inclus", day.strftime("%d/%m/%Y")))
        } else {
            Some(zoned.strftime("%d/%m/%Y %H:%M").to_string())
        }
    });
    parsed.unwrap_or_else(|| rfc3339.to_owned())
}

/// Host-provided text made safe to lay out: control characters become spaces, length is bounded.
pub fn clean(s: &str) -> String {
    const MAX_CHARS: usize = 2000;
    let mut out: String = s
        .chars()
        .take(MAX_CHARS)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if s.chars().count() > MAX_CHARS {
        out.push('…');
    }
    out
}

/// The renderings of `snapshot export` besides the signed JSON itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Html,
    Pdf,
    Csv,
}

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("the snapshot does not verify, so it is not rendered: {0}")]
    Verify(#[from] VerifyError),
    #[error(transparent)]
    Pdf(#[from] pdf::PdfError),
}

/// Verifies `document` with its signature against the public key file, then renders it. The PDF
/// needs DejaVu Sans from `font_dir`; the fonts are loaded before anything else is done with them.
pub fn render_verified(
    document: &[u8],
    minisig: &str,
    public_key: &str,
    format: Format,
    font_dir: &std::path::Path,
) -> Result<Vec<u8>, ReportError> {
    let verified = super::verify::verify(document, minisig, public_key, None)?;
    let doc = super::verify::parse_canonical(document)?;
    let sha256 = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(document));
    let report = Report::build(&doc, &verified, &sha256)?;
    Ok(match format {
        Format::Html => html::render(&report).into_bytes(),
        Format::Csv => csv::render(&report).into_bytes(),
        Format::Pdf => pdf::render(&report, &pdf::Fonts::load(font_dir)?)?,
    })
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeasureRow {
    pub measure: String,
    pub status: String,
    pub checks: String,
    pub pass: String,
    pub fail: String,
    pub waived: String,
    pub no_evidence: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaiverRow {
    pub check_id: String,
    pub check_title: String,
    /// `tous les postes`, `groupe X` or a host name.
    pub scope: String,
    pub reason: String,
    pub owner: String,
    pub created_by: String,
    pub created_at: String,
    pub expires_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FindingRow {
    pub check_id: String,
    pub title: String,
    pub severity: String,
    /// The raw outcome (`fail`, …) and its French label.
    pub outcome: String,
    pub outcome_fr: String,
    pub detail: String,
    /// `owner, jusqu'au DATE` when waived.
    pub waiver: Option<String>,
    /// One line per report the finding rests on.
    pub evidence: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostSection {
    pub hostname: String,
    pub id: String,
    pub groups: Vec<String>,
    pub enrolled_at: String,
    pub last_seen: String,
    pub revoked: Option<String>,
    pub key: String,
    pub findings: Vec<FindingRow>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remediation {
    pub check_id: String,
    pub title: String,
    pub references: String,
    pub text: String,
    /// Host names where the check fails.
    pub hosts: Vec<String>,
}

/// What every rendering shows, built from a verified document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub org_id: String,
    pub org_name: String,
    pub seq: String,
    pub created_at: String,
    pub profile: String,
    pub catalogue_version: String,
    pub sha256: String,
    pub key_id: String,
    pub trusted_comment: String,
    pub previous_sha256: String,
    /// `index hash` of the audit trail head.
    pub audit_head: String,
    pub agent_signatures: usize,
    /// (French outcome label, count) in display order, zeros left out.
    pub counts: Vec<(String, u64)>,
    pub host_count: usize,
    pub measures: Vec<MeasureRow>,
    pub waivers: Vec<WaiverRow>,
    pub hosts: Vec<HostSection>,
    pub remediations: Vec<Remediation>,
}

struct CheckInfo {
    title: String,
    references: String,
    remediation: String,
}

fn checks(doc: &Value) -> Result<BTreeMap<String, CheckInfo>, VerifyError> {
    let mut out = BTreeMap::new();
    for c in list(doc, "checks")? {
        let references = list(c, "references")?
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(", ");
        out.insert(
            text(c, "id")?.to_owned(),
            CheckInfo {
                title: text(c, "title_fr")?.to_owned(),
                references,
                remediation: text(c, "remediation_fr")?.to_owned(),
            },
        );
    }
    Ok(out)
}

fn opt_text<'a>(v: &'a Value, name: &str) -> Option<&'a str> {
    v.get(name).and_then(Value::as_str)
}

/// The waiver in force that covers `check` on a host, as the evaluator picks it: the longest-lasting,
/// a host's own before a group's or the organisation's.
fn waiver_for<'a>(
    waivers: &'a [Value],
    check: &str,
    host_id: &str,
    groups: &[String],
) -> Option<&'a Value> {
    waivers
        .iter()
        .filter(|w| opt_text(w, "check_id") == Some(check))
        .filter(|w| match (opt_text(w, "host_id"), opt_text(w, "group")) {
            (Some(h), _) => h == host_id,
            (None, Some(g)) => groups.iter().any(|x| x == g),
            (None, None) => true,
        })
        .max_by_key(|w| {
            (
                opt_text(w, "expires_at").unwrap_or_default().to_owned(),
                opt_text(w, "host_id").is_some(),
            )
        })
}

impl Report {
    /// Builds the model of a document that `verified` says was verified; `sha256` is the hex
    /// SHA-256 of the exact signed bytes.
    pub fn build(doc: &Value, verified: &Verified, sha256: &str) -> Result<Report, VerifyError> {
        let checks = checks(doc)?;
        let title_of = |id: &str| checks.get(id).map(|c| c.title.clone()).unwrap_or_default();
        let org = doc
            .get("organisation")
            .ok_or_else(|| VerifyError::Structure("missing organisation".into()))?;
        let waivers = list(doc, "waivers")?;
        let mut counts: BTreeMap<String, u64> = BTreeMap::new();
        let mut failing: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut names: BTreeMap<String, String> = BTreeMap::new();
        let mut hosts = Vec::new();
        for h in list(doc, "hosts")? {
            let id = text(h, "id")?.to_owned();
            let hostname = clean(text(h, "hostname")?);
            names.insert(id.clone(), hostname.clone());
            let groups: Vec<String> = list(h, "groups")?
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect();
            let received: BTreeMap<(&str, &str), &str> = list(h, "reports")?
                .iter()
                .filter_map(|r| {
                    Some((
                        (opt_text(r, "epoch")?, opt_text(r, "seq")?),
                        opt_text(r, "received_at")?,
                    ))
                })
                .collect();
            let mut findings = Vec::new();
            for f in list(h, "findings")? {
                let check_id = text(f, "check_id")?.to_owned();
                let outcome = text(f, "outcome")?.to_owned();
                *counts.entry(outcome.clone()).or_default() += 1;
                if outcome == "fail" {
                    failing
                        .entry(check_id.clone())
                        .or_default()
                        .insert(hostname.clone());
                }
                let waiver = (outcome == "waived")
                    .then(|| waiver_for(waivers, &check_id, &id, &groups))
                    .flatten()
                    .map(|w| {
                        format!(
                            "{}, jusqu'au {}",
                            clean(opt_text(w, "owner").unwrap_or_default()),
                            until_fr(opt_text(w, "expires_at").unwrap_or_default())
                        )
                    });
                let evidence = list(f, "evidence")?
                    .iter()
                    .filter_map(|e| {
                        let (epoch, seq) = (opt_text(e, "epoch")?, opt_text(e, "seq")?);
                        let at = received
                            .get(&(epoch, seq))
                            .map_or_else(String::new, |t| format!(", reçu le {}", time_fr(t)));
                        Some(format!("rapport signé {epoch}/{seq}{at}"))
                    })
                    .collect();
                findings.push(FindingRow {
                    title: title_of(&check_id),
                    severity: severity_fr(text(f, "severity")?).to_owned(),
                    outcome_fr: outcome_fr(&outcome).to_owned(),
                    detail: clean(text(f, "detail")?),
                    check_id,
                    outcome,
                    waiver,
                    evidence,
                });
            }
            findings.sort_by(|a, b| {
                (outcome_rank(&a.outcome), &a.check_id)
                    .cmp(&(outcome_rank(&b.outcome), &b.check_id))
            });
            let enrollment = h.get("enrollment").unwrap_or(&Value::Null);
            hosts.push(HostSection {
                hostname,
                groups,
                enrolled_at: opt_text(enrollment, "enrolled_at")
                    .map(time_fr)
                    .unwrap_or_default(),
                last_seen: opt_text(h, "last_seen").map_or_else(|| "jamais".to_owned(), time_fr),
                revoked: h.get("revoked").filter(|r| !r.is_null()).map(|r| {
                    format!(
                        "révoqué le {} : {}",
                        time_fr(opt_text(r, "at").unwrap_or_default()),
                        clean(opt_text(r, "reason").unwrap_or_default())
                    )
                }),
                key: opt_text(h, "current_key").unwrap_or_default().to_owned(),
                id,
                findings,
            });
        }
        hosts.sort_by(|a, b| (&a.hostname, &a.id).cmp(&(&b.hostname, &b.id)));
        let mut counts: Vec<(String, u64)> = counts.into_iter().collect();
        counts.sort_by_key(|(o, _)| outcome_rank(o));
        let measures = list(doc, "measures")?
            .iter()
            .map(|m| {
                Ok(MeasureRow {
                    measure: text(m, "measure")?.to_owned(),
                    status: measure_status_fr(text(m, "status")?).to_owned(),
                    checks: match list(m, "checks")?
                        .iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(", ")
                    {
                        none if none.is_empty() => "aucun contrôle automatique".to_owned(),
                        some => some,
                    },
                    pass: text(m, "pass")?.to_owned(),
                    fail: text(m, "fail")?.to_owned(),
                    waived: text(m, "waived")?.to_owned(),
                    no_evidence: text(m, "no_evidence")?.to_owned(),
                })
            })
            .collect::<Result<Vec<_>, VerifyError>>()?;
        let waivers = waivers
            .iter()
            .map(|w| {
                let check_id = text(w, "check_id")?.to_owned();
                let scope = match (opt_text(w, "host_id"), opt_text(w, "group")) {
                    (Some(h), _) => names.get(h).cloned().unwrap_or_else(|| h.to_owned()),
                    (None, Some(g)) => format!("groupe {}", clean(g)),
                    (None, None) => "tous les postes".to_owned(),
                };
                Ok(WaiverRow {
                    check_title: title_of(&check_id),
                    check_id,
                    scope,
                    reason: clean(text(w, "reason")?),
                    owner: clean(text(w, "owner")?),
                    created_by: clean(text(w, "created_by")?),
                    created_at: time_fr(text(w, "created_at")?),
                    expires_at: until_fr(text(w, "expires_at")?),
                })
            })
            .collect::<Result<Vec<_>, VerifyError>>()?;
        let remediations = failing
            .into_iter()
            .map(|(check_id, hosts)| {
                let info = checks.get(&check_id);
                Remediation {
                    title: info.map(|c| c.title.clone()).unwrap_or_default(),
                    references: info.map(|c| c.references.clone()).unwrap_or_default(),
                    text: info.map(|c| c.remediation.clone()).unwrap_or_default(),
                    check_id,
                    hosts: hosts.into_iter().collect(),
                }
            })
            .collect();
        let audit_head = match doc.get("audit_head") {
            Some(head @ Value::Object(_)) => {
                format!(
                    "n° {} — {}",
                    opt_text(head, "index").unwrap_or_default(),
                    opt_text(head, "hash").unwrap_or_default()
                )
            }
            _ => "journal vide".to_owned(),
        };
        Ok(Report {
            org_id: verified.org.clone(),
            org_name: clean(opt_text(org, "name").unwrap_or_default()),
            seq: verified.seq.to_string(),
            created_at: time_fr(text(doc, "created_at")?),
            profile: text(doc, "profile")?.to_owned(),
            catalogue_version: text(doc, "catalogue_version")?.to_owned(),
            sha256: sha256.to_owned(),
            key_id: text(doc, "signing_key_id")?.to_owned(),
            trusted_comment: verified.trusted_comment.clone(),
            previous_sha256: text(doc, "previous_sha256")?.to_owned(),
            audit_head,
            agent_signatures: verified.agent_signatures,
            counts: counts
                .into_iter()
                .map(|(o, n)| (outcome_fr(&o).to_owned(), n))
                .collect(),
            host_count: hosts.len(),
            measures,
            waivers,
            hosts,
            remediations,
        })
    }

    /// The report's title.
    pub fn title(&self) -> String {
        format!(
            "Instantané de conformité n° {} — {}",
            self.seq,
            if self.org_name.is_empty() {
                &self.org_id
            } else {
                &self.org_name
            }
        )
    }

    /// The opening paragraph of the summary.
    pub fn summary(&self) -> String {
        let total: u64 = self.counts.iter().map(|(_, n)| n).sum();
        format!(
            "Instantané signé le {} (heure de Paris) pour l'organisation « {} » ({}) : {} poste(s), {} constat(s), profil « {} », catalogue de contrôles {}. Les mesures d'hygiène de l'ANSSI que Vigie ne peut pas vérifier par des preuves machine demandent une attestation humaine.",
            self.created_at,
            self.org_name,
            self.org_id,
            self.host_count,
            total,
            self.profile,
            self.catalogue_version
        )
    }

    /// What the verification established, in French.
    pub fn integrity(&self) -> Vec<(String, String)> {
        vec![
            (
                "Vérification".into(),
                format!(
                    "signature de l'instantané et {} signature(s) d'agents vérifiées avant la mise en forme de ce rapport",
                    self.agent_signatures
                ),
            ),
            ("Empreinte SHA-256 du document signé".into(), self.sha256.clone()),
            ("Clé de signature (minisign)".into(), self.key_id.clone()),
            ("Commentaire de confiance signé".into(), self.trusted_comment.clone()),
            ("Instantané précédent (SHA-256)".into(), self.previous_sha256.clone()),
            ("Tête du journal d'administration".into(), self.audit_head.clone()),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_shown_in_paris() {
        assert_eq!(time_fr("2026-11-28T16:05:00.000Z"), "28/11/2026 17:05");
        assert_eq!(time_fr("2026-07-14T10:00:00.000Z"), "14/07/2026 12:00");
        assert_eq!(time_fr("not a time"), "not a time");
        // `--until 2026-12-31` ends at midnight Paris time, 23:00 UTC.
        assert_eq!(until_fr("2026-12-31T23:00:00.000Z"), "31/12/2026 inclus");
        assert_eq!(until_fr("2026-07-14T22:00:00.000Z"), "14/07/2026 inclus");
        assert_eq!(until_fr("2026-11-28T16:05:00.000Z"), "28/11/2026 17:05");
    }

    #[test]
    fn host_text_loses_control_characters_and_is_bounded() {
        assert_eq!(clean("a\u{1b}[31mb\nc"), "a [31mb c");
        let long = "x".repeat(5000);
        assert_eq!(clean(&long).chars().count(), 2001);
    }
}
