//! The evaluator: one host's evidence, a catalogue, a profile, waivers and the time in, findings
//! out. It frames every rule the same way (applicability, unknown, stale, error, waiver) so rules
//! stay small; it does no I/O and reads no clock.

use vigie_proto::v1::{domain_state::State, Domain};

use crate::catalogue::{Catalogue, Check};
use crate::evidence::{DomainEvidence, HostEvidence};
use crate::rules::Verdict;
use crate::text::{duration_fr, host_text};
use crate::vocabulary::{Outcome, Profile, Role, Severity};
use crate::waiver::{self, Waiver};

/// The verdict of one check on one host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The check, e.g. `PAT-001`.
    pub check_id: String,
    /// One of the seven outcomes of DESIGN decision 19.
    pub outcome: Outcome,
    /// The check's severity, or the grade the rule gave a failure (PAT-001 high or critical).
    pub severity: Severity,
    /// The check's French title.
    pub title_fr: String,
    /// The check's English title.
    pub title_en: String,
    /// One short French line saying why, with the figures, e.g. "3 mises à jour de sécurité en
    /// attente, la plus ancienne (openssl) depuis 12 j (seuil 7 j)". Host-supplied text in it has
    /// its control characters replaced, but is not escaped for any output format.
    pub detail: String,
    /// `(epoch, seq)` of the reports the verdict rests on; empty for verdicts on collector facts.
    pub evidence: Vec<(u64, u64)>,
}

/// Judges every check of `catalogue` on `host` with the thresholds of `profile` at `now_ms`
/// (collector time, UTC milliseconds). Returns one finding per check, sorted by check id.
pub fn evaluate(
    catalogue: &Catalogue,
    profile: Profile,
    host: &HostEvidence,
    waivers: &[Waiver],
    now_ms: i64,
) -> Vec<Finding> {
    let mut findings: Vec<Finding> = catalogue
        .checks()
        .iter()
        .map(|check| {
            let (verdict, evidence) = judge(check, profile, host, now_ms);
            let (outcome, severity, detail) = match verdict {
                Framed::Rule(Verdict::Pass(d)) => (Outcome::Pass, None, d),
                Framed::Rule(Verdict::Fail { severity, detail }) => {
                    match waiver::find(waivers, check.id(), &host.facts.host_id, now_ms) {
                        Some(w) => (
                            Outcome::Waived,
                            severity,
                            format!("{} ; constat : {detail}", w.describe()),
                        ),
                        None => (Outcome::Fail, severity, detail),
                    }
                }
                Framed::Rule(Verdict::Unknown(d)) => (Outcome::Unknown, None, d),
                Framed::Rule(Verdict::Error(d)) => (Outcome::Error, None, d),
                Framed::Other(outcome, d) => (outcome, None, d),
            };
            Finding {
                check_id: check.id().to_owned(),
                outcome,
                severity: severity.unwrap_or(check.severity()),
                title_fr: check.title_fr().to_owned(),
                title_en: check.title_en().to_owned(),
                detail,
                evidence,
            }
        })
        .collect();
    findings.sort_by(|a, b| a.check_id.cmp(&b.check_id));
    findings
}

/// A rule's verdict, or an outcome decided before the rule could run.
enum Framed {
    Rule(Verdict),
    Other(Outcome, String),
}

/// Decides one check. The order is deliberate: applicability first (a check that does not concern
/// the host says so even with no evidence), then missing evidence, then staleness (old evidence
/// decides nothing, not even that a probe is still failing), then the probe's own error, and only
/// then the rule.
fn judge(
    check: &Check,
    profile: Profile,
    host: &HostEvidence,
    now_ms: i64,
) -> (Framed, Vec<(u64, u64)>) {
    if let Some((role, from)) = host.role() {
        if !check.applies_to().roles.contains(&role) {
            let detail = format!("sans objet pour un hôte de rôle « {} »", role_fr(role));
            return (
                Framed::Other(Outcome::NotApplicable, detail),
                from.into_iter().collect(),
            );
        }
    }
    if let Some((family, from)) = host.os_family() {
        if !check.applies_to().os_families.contains(&family) {
            let detail = format!("sans objet pour un système de la famille {family}");
            return (Framed::Other(Outcome::NotApplicable, detail), vec![from]);
        }
    }
    let rule = check.rule(profile);
    let Some(domain) = check.rule_kind().evidence_domain() else {
        return (
            Framed::Rule(rule.judge(&host.facts, None, now_ms)),
            Vec::new(),
        );
    };
    let Some(evidence) = host.latest(domain) else {
        let detail = format!("aucun relevé {} reçu de cet hôte", domain_fr(domain));
        return (Framed::Other(Outcome::Unknown, detail), Vec::new());
    };
    let refs = vec![evidence.evidence_ref];
    let age = now_ms.saturating_sub(evidence.received_at_ms);
    if let Some(stale_after) = rule.stale_after_ms.filter(|limit| age > *limit) {
        let mut detail = format!(
            "dernier relevé {} reçu il y a {} (seuil {})",
            domain_fr(domain),
            duration_fr(age),
            duration_fr(stale_after)
        );
        if let Some(State::Error(e)) = &evidence.state.state {
            detail.push_str(&format!(
                " ; il signalait une erreur {}",
                host_text(&e.code)
            ));
        }
        return (Framed::Other(Outcome::Stale, detail), refs);
    }
    let framed = match &evidence.state.state {
        Some(State::Error(e)) => {
            Framed::Other(Outcome::Error, probe_error(evidence, &e.code, &e.message))
        }
        None => Framed::Other(
            Outcome::Error,
            "relevé vide : aucun état transmis".to_owned(),
        ),
        Some(state) => Framed::Rule(rule.judge(&host.facts, Some(state), now_ms)),
    };
    (framed, refs)
}

fn probe_error(evidence: &DomainEvidence, code: &str, message: &str) -> String {
    let probe = match evidence.state.probe_id.trim() {
        "" => String::new(),
        id => format!(" {}", host_text(id)),
    };
    format!(
        "échec de la sonde{probe} : {} : {}",
        host_text(code),
        host_text(message)
    )
}

fn role_fr(role: Role) -> &'static str {
    match role {
        Role::Server => "serveur",
        Role::Workstation => "poste de travail",
        Role::Laptop => "portable",
    }
}

fn domain_fr(domain: Domain) -> &'static str {
    match domain {
        Domain::Patches => "des mises à jour",
        Domain::Inventory => "d'inventaire",
        Domain::Backups => "des sauvegardes",
        Domain::Antivirus => "de l'antivirus",
        Domain::AuthPolicy => "de la politique d'authentification",
        Domain::Accounts => "des comptes",
        Domain::FileIntegrity => "d'intégrité des fichiers",
        Domain::Unspecified => "de domaine inconnu",
    }
}
