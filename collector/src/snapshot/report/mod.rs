//! Human-readable renderings of a **verified** snapshot document (issue 8): an HTML page and a PDF
//! report in French, and a CSV table of findings. They are views, never the record: the signed JSON
//! stays as it was, and the caller verifies it (`verify::verify`) before building a [`Report`].
//!
//! [`Report`] is the one model the three renderers share: summary counts, per-measure status,
//! waivers in force (what, who, until when), the maintenance windows findings name (and which
//! findings), per-host detail with the evidence each finding rests on, the backups of machines with
//! no agent (ping jobs, whose evidence is unsigned pings), and the remediation of every check that
//! fails somewhere. Host-provided text (host names, finding details, ping messages) is hostile:
//! each renderer escapes or neutralises it for its own format.
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
    /// The maintenance windows the finding names, each as [`MaintenanceRow::label`].
    pub maintenance: Vec<String>,
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

/// A ping job: a backup of a machine with no agent that signals the collector over HTTPS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PingJobSection {
    pub name: String,
    /// The pseudo-host, `ping:<name>`.
    pub id: String,
    /// Period, grace, declared site and offline copy, in French.
    pub declared: String,
    pub created_at: String,
    /// The newest ping of each kind: `réussite reçue le …`.
    pub pings: Vec<String>,
    pub findings: Vec<FindingRow>,
}

/// What every ping job's evidence is, said once in each rendering.
pub const PING_PROVENANCE_FR: &str = "Preuves non signées : les signaux sont reçus par le collecteur en HTTPS, sans agent et donc sans signature d'agent ; seule la signature de l'instantané les protège.";

/// A maintenance window that a finding names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaintenanceRow {
    pub id: String,
    /// `toute l'organisation` or `groupe X`.
    pub scope: String,
    pub reason: String,
    pub owner: String,
    pub from: String,
    pub until: String,
    /// `uid:0 le …`.
    pub created: String,
    /// `non révoquée`, or `révoquée le … par … : motif`.
    pub state: String,
    /// `poste — contrôle` of each finding that names it.
    pub findings: Vec<String>,
}

impl MaintenanceRow {
    /// One line saying everything about the window, for a finding that names it.
    pub fn label(&self) -> String {
        format!(
            "{} : {} ({}), du {} au {}, {}",
            self.id, self.reason, self.owner, self.from, self.until, self.state
        )
    }
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
    pub maintenance: Vec<MaintenanceRow>,
    pub hosts: Vec<HostSection>,
    pub ping_jobs: Vec<PingJobSection>,
    /// How many pings the ping jobs record, none of them signed.
    pub unsigned_pings: usize,
    pub remediations: Vec<Remediation>,
}

/// `1 j`, `2 h 30 min`, `45 s`: a declared duration in seconds, in French.
pub fn duration_fr(secs: u64) -> String {
    let parts: Vec<String> = [(86_400, "j"), (3_600, "h"), (60, "min"), (1, "s")]
        .into_iter()
        .scan(secs, |rest, (unit, name)| {
            let n = *rest / unit;
            *rest %= unit;
            Some((n > 0).then(|| format!("{n} {name}")))
        })
        .flatten()
        .collect();
    if parts.is_empty() {
        "0 s".to_owned()
    } else {
        parts.join(" ")
    }
}

/// French label of a ping's kind, as received.
fn ping_kind_fr(kind: &str) -> &'static str {
    match kind {
        "start" => "début",
        "success" => "réussite",
        "failure" => "échec",
        _ => "signal inconnu",
    }
}

fn maintenance_rows(doc: &Value) -> Result<Vec<MaintenanceRow>, VerifyError> {
    super::verify::optional_list(doc, "maintenance")?
        .iter()
        .map(|w| {
            let state = match w.get("revoked").filter(|r| !r.is_null()) {
                Some(r) => format!(
                    "révoquée le {} par {} : {}",
                    time_fr(opt_text(r, "at").unwrap_or_default()),
                    clean(opt_text(r, "by").unwrap_or_default()),
                    clean(opt_text(r, "reason").unwrap_or_default())
                ),
                None => "non révoquée".to_owned(),
            };
            Ok(MaintenanceRow {
                id: clean(text(w, "id")?),
                scope: opt_text(w, "group").map_or_else(
                    || "toute l'organisation".to_owned(),
                    |g| format!("groupe {}", clean(g)),
                ),
                reason: clean(text(w, "reason")?),
                owner: clean(text(w, "owner")?),
                from: time_fr(text(w, "from")?),
                until: time_fr(text(w, "until")?),
                created: format!(
                    "{} le {}",
                    clean(text(w, "created_by")?),
                    time_fr(text(w, "created_at")?)
                ),
                state,
                findings: Vec::new(),
            })
        })
        .collect()
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

/// What the findings of hosts and ping jobs add up to, and the rows they make.
struct Tally<'a> {
    titles: &'a dyn Fn(&str) -> String,
    /// The document's maintenance windows; each collects the findings that name it.
    maintenance: Vec<MaintenanceRow>,
    counts: BTreeMap<String, u64>,
    /// Check id → names of the hosts and ping jobs where it fails.
    failing: BTreeMap<String, BTreeSet<String>>,
}

impl Tally<'_> {
    /// The row of finding `f` of `owner` (a host name or a ping job's pseudo-host), counted.
    fn row(
        &mut self,
        f: &Value,
        owner: &str,
        waiver: Option<String>,
        evidence: Vec<String>,
    ) -> Result<FindingRow, VerifyError> {
        let check_id = text(f, "check_id")?.to_owned();
        let outcome = text(f, "outcome")?.to_owned();
        let raw_detail = text(f, "detail")?;
        *self.counts.entry(outcome.clone()).or_default() += 1;
        if outcome == "fail" {
            self.failing
                .entry(check_id.clone())
                .or_default()
                .insert(owner.to_owned());
        }
        // A finding names a window by its id in its detail (`maintenance.rs`), as the document
        // chose which windows to carry.
        let mut maintenance = Vec::new();
        for w in &mut self.maintenance {
            if raw_detail.contains(w.id.as_str()) {
                w.findings.push(format!("{owner} — {check_id}"));
                maintenance.push(w.label());
            }
        }
        Ok(FindingRow {
            title: (self.titles)(&check_id),
            severity: severity_fr(text(f, "severity")?).to_owned(),
            outcome_fr: outcome_fr(&outcome).to_owned(),
            detail: clean(raw_detail),
            check_id,
            outcome,
            waiver,
            maintenance,
            evidence,
        })
    }
}

fn sort_findings(findings: &mut [FindingRow]) {
    findings.sort_by(|a, b| {
        (outcome_rank(&a.outcome), &a.check_id).cmp(&(outcome_rank(&b.outcome), &b.check_id))
    });
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
        let mut tally = Tally {
            titles: &title_of,
            maintenance: maintenance_rows(doc)?,
            counts: BTreeMap::new(),
            failing: BTreeMap::new(),
        };
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
                let check_id = text(f, "check_id")?;
                let waiver = (text(f, "outcome")? == "waived")
                    .then(|| waiver_for(waivers, check_id, &id, &groups))
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
                findings.push(tally.row(f, &hostname, waiver, evidence)?);
            }
            sort_findings(&mut findings);
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
        let mut ping_jobs = Vec::new();
        let mut unsigned_pings = 0;
        for j in super::verify::optional_list(doc, "ping_jobs")? {
            let id = text(j, "id")?.to_owned();
            let pings = list(j, "pings")?;
            unsigned_pings += pings.len();
            let pings: Vec<String> = pings
                .iter()
                .map(|p| {
                    let kind = opt_text(p, "kind").unwrap_or_default();
                    let received = if kind == "success" { "reçue" } else { "reçu" };
                    let mut line = format!(
                        "{} {received} le {}",
                        ping_kind_fr(kind),
                        time_fr(opt_text(p, "received_at").unwrap_or_default())
                    );
                    if let Some(m) = opt_text(p, "message").filter(|m| !m.is_empty()) {
                        line.push_str(&format!(" : « {} »", clean(m)));
                    }
                    line
                })
                .collect();
            let mut findings = Vec::new();
            for f in list(j, "findings")? {
                let evidence = list(f, "evidence")?
                    .iter()
                    .map(|e| {
                        format!(
                            "signal HTTPS non signé ({}), reçu par le collecteur le {}",
                            ping_kind_fr(opt_text(e, "kind").unwrap_or_default()),
                            time_fr(opt_text(e, "received_at").unwrap_or_default())
                        )
                    })
                    .collect();
                findings.push(tally.row(f, &id, None, evidence)?);
            }
            sort_findings(&mut findings);
            let mut declared = format!(
                "période {}, grâce {}",
                duration_fr(text(j, "period_secs")?.parse().unwrap_or_default()),
                duration_fr(text(j, "grace_secs")?.parse().unwrap_or_default())
            );
            let site = text(j, "site")?;
            if !site.is_empty() {
                declared.push_str(&format!(", copie sur le site « {} »", clean(site)));
            }
            if j.get("offline").and_then(Value::as_bool) == Some(true) {
                declared.push_str(", copie hors ligne");
            }
            ping_jobs.push(PingJobSection {
                name: clean(text(j, "name")?),
                declared,
                created_at: time_fr(text(j, "created_at")?),
                pings,
                findings,
                id,
            });
        }
        let Tally {
            counts,
            failing,
            maintenance,
            ..
        } = tally;
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
            maintenance,
            hosts,
            ping_jobs,
            unsigned_pings,
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
            "Instantané signé le {} (heure de Paris) pour l'organisation « {} » ({}) : {} poste(s), {} sauvegarde(s) sans agent, {} constat(s), profil « {} », catalogue de contrôles {}. Les mesures d'hygiène de l'ANSSI que Vigie ne peut pas vérifier par des preuves machine demandent une attestation humaine.",
            self.created_at,
            self.org_name,
            self.org_id,
            self.host_count,
            self.ping_jobs.len(),
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
            (
                "Sauvegardes sans agent".into(),
                format!(
                    "{} tâche(s), {} signal(aux) HTTPS non signé(s), reçus par le collecteur et protégés par la seule signature de l'instantané",
                    self.ping_jobs.len(),
                    self.unsigned_pings
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
    fn declared_durations_read_in_french() {
        assert_eq!(duration_fr(86_400), "1 j");
        assert_eq!(duration_fr(7_200), "2 h");
        assert_eq!(duration_fr(9_000), "2 h 30 min");
        assert_eq!(duration_fr(2), "2 s");
        assert_eq!(duration_fr(0), "0 s");
    }

    #[test]
    fn host_text_loses_control_characters_and_is_bounded() {
        assert_eq!(clean("a\u{1b}[31mb\nc"), "a [31mb c");
        let long = "x".repeat(5000);
        assert_eq!(clean(&long).chars().count(), 2001);
    }
}
