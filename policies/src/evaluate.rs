//! The evaluator: one host's evidence, a catalogue, a profile, waivers and the time in, findings
//! out. It frames every rule the same way (applicability, unknown, stale, error, waiver) so rules
//! stay small; it does no I/O and reads no clock.

use vigie_proto::v1::{domain_state::State, Domain};

use crate::catalogue::{Catalogue, Check};
use crate::evidence::{DomainEvidence, HostEvidence};
use crate::related::Related;
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
                Framed::Rule(Verdict::NotApplicable(d)) => (Outcome::NotApplicable, None, d),
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
    let role = host.role().map(|(role, _)| role);
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
            Framed::Rule(rule.judge(&host.facts, role, None, &Related::default(), now_ms)),
            Vec::new(),
        );
    };
    let Some(evidence) = host.latest(domain) else {
        let detail = format!("aucun relevé {} reçu de cet hôte", domain_fr(domain));
        return (Framed::Other(Outcome::Unknown, detail), Vec::new());
    };
    let mut refs = vec![evidence.evidence_ref];
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
        Some(state) => {
            // Other domains the rule reads (`related.rs`), framed the same way and cited too.
            let kind = check.rule_kind();
            let (related, more) =
                Related::gather(host, kind.related_domains(), rule.stale_after_ms, now_ms);
            refs.extend(more.into_iter().filter(|r| *r != evidence.evidence_ref));
            Framed::Rule(rule.judge(&host.facts, role, Some(state), &related, now_ms))
        }
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

pub(crate) fn domain_fr(domain: Domain) -> &'static str {
    match domain {
        Domain::Patches => "des mises à jour",
        Domain::Inventory => "d'inventaire",
        Domain::Backups => "des sauvegardes",
        Domain::Antivirus => "de l'antivirus",
        Domain::AuthPolicy => "de la politique d'authentification",
        Domain::Accounts => "des comptes",
        Domain::FileIntegrity => "d'intégrité des fichiers",
        Domain::SshServer => "du serveur SSH",
        Domain::Unspecified => "de domaine inconnu",
    }
}

#[cfg(test)]
mod tests {
    use vigie_proto::v1::{domain_state::State, Domain, Inventory};

    use crate::testing::{check, healthy_patches, pending, Case, DAY_MS, HOUR_MS, MINUTE_MS, NOW};
    use crate::{evaluate, Catalogue, Outcome, Profile};

    /// Patches that fail PAT-001 (openssl pending 12 days), fresh.
    fn failing() -> Case {
        let mut p = healthy_patches();
        p.pending = vec![pending("openssl", true, Some(12 * DAY_MS))];
        Case::new().patches(p)
    }

    const FAILING: &str =
        "1 mise à jour de sécurité en attente, la plus ancienne (openssl) depuis 12 j (seuil 7 j)";

    #[test]
    fn no_evidence_is_unknown_never_pass() {
        for id in ["PAT-001", "PAT-002", "PAT-003", "PAT-004"] {
            check(
                &Case::new(),
                id,
                "unknown: aucun relevé des mises à jour reçu de cet hôte",
            );
        }
        // Evidence of another domain does not count.
        check(
            &Case::new().inventory("server", "debian"),
            "PAT-001",
            "unknown: aucun relevé des mises à jour reçu de cet hôte",
        );
    }

    #[test]
    fn probe_error_is_error_with_code_and_message() {
        let case = Case::new().probe_error(
            Domain::Patches,
            MINUTE_MS,
            "AG0101",
            "apt-get -s a expiré après 60 s",
        );
        check(
            &case,
            "PAT-001",
            "error: échec de la sonde patches : AG0101 : apt-get -s a expiré après 60 s [1.1]",
        );
        check(
            &case,
            "PAT-004",
            "error: échec de la sonde patches : AG0101 : apt-get -s a expiré après 60 s [1.1]",
        );
        // A newer good state replaces the error, and the other way round.
        let fixed = case
            .clone()
            .state(Domain::Patches, 0, Some(State::Patches(healthy_patches())));
        check(
            &fixed,
            "PAT-001",
            "pass: aucune mise à jour en attente [1.2]",
        );
        let fixed_then_broken = Case::new()
            .state(
                Domain::Patches,
                2 * HOUR_MS,
                Some(State::Patches(healthy_patches())),
            )
            .probe_error(Domain::Patches, HOUR_MS, "AG0102", "dpkg verrouillé");
        check(
            &fixed_then_broken,
            "PAT-001",
            "error: échec de la sonde patches : AG0102 : dpkg verrouillé [1.2]",
        );
    }

    #[test]
    fn malformed_evidence_is_error() {
        check(
            &Case::new().state(Domain::Patches, MINUTE_MS, None),
            "PAT-002",
            "error: relevé vide : aucun état transmis [1.1]",
        );
        let mismatched = Case::new().state(
            Domain::Patches,
            MINUTE_MS,
            Some(State::Inventory(Inventory::default())),
        );
        check(
            &mismatched,
            "PAT-002",
            "error: relevé incohérent : son contenu ne correspond pas à son domaine [1.1]",
        );
    }

    #[test]
    fn stale_is_measured_from_receive_time_and_never_passes() {
        let received = |age: i64| {
            Case::new().state(
                Domain::Patches,
                age,
                Some(State::Patches(healthy_patches())),
            )
        };
        check(
            &received(DAY_MS),
            "PAT-001",
            "pass: aucune mise à jour en attente [1.1]",
        );
        check(
            &received(DAY_MS + 1),
            "PAT-001",
            "stale: dernier relevé des mises à jour reçu il y a 1 j (seuil 1 j) [1.1]",
        );
        // Staleness ignores the host's own collection time: an agent with a clock in the future
        // cannot keep old evidence fresh.
        let mut forged = received(3 * DAY_MS);
        forged.host.domains[0].state.collected_at_ms = NOW + DAY_MS;
        check(
            &forged,
            "PAT-002",
            "stale: dernier relevé des mises à jour reçu il y a 3 j (seuil 1 j) [1.1]",
        );
        // Profiles carry their own stale threshold.
        check(
            &received(7 * HOUR_MS).profile(Profile::Strict),
            "PAT-003",
            "stale: dernier relevé des mises à jour reçu il y a 7 h (seuil 6 h) [1.1]",
        );
        check(
            &received(7 * HOUR_MS).profile(Profile::Standard),
            "PAT-003",
            "pass: aucun redémarrage requis [1.1]",
        );
        // Old evidence decides nothing, not even that the probe still fails.
        let old_error = Case::new().probe_error(Domain::Patches, 2 * DAY_MS, "AG0101", "apt");
        check(&old_error, "PAT-001", "stale: dernier relevé des mises à jour reçu il y a 2 j (seuil 1 j) ; il signalait une erreur AG0101 [1.1]");
        // A failing state that is stale is stale, not fail, and cannot be waived.
        let mut old_failure = failing().waiver("PAT-001", None, NOW + DAY_MS);
        old_failure.host.domains[0].received_at_ms = NOW - 2 * DAY_MS;
        check(
            &old_failure,
            "PAT-001",
            "stale: dernier relevé des mises à jour reçu il y a 2 j (seuil 1 j) [1.1]",
        );
    }

    #[test]
    fn newest_receive_time_wins_whatever_the_order() {
        let mut old = healthy_patches();
        old.pending = vec![pending("openssl", true, Some(12 * DAY_MS))];
        let newer_last = Case::new()
            .state(
                Domain::Patches,
                2 * HOUR_MS,
                Some(State::Patches(old.clone())),
            )
            .state(
                Domain::Patches,
                HOUR_MS,
                Some(State::Patches(healthy_patches())),
            );
        check(
            &newer_last,
            "PAT-001",
            "pass: aucune mise à jour en attente [1.2]",
        );
        let newer_first = Case::new()
            .state(
                Domain::Patches,
                HOUR_MS,
                Some(State::Patches(healthy_patches())),
            )
            .state(Domain::Patches, 2 * HOUR_MS, Some(State::Patches(old)));
        check(
            &newer_first,
            "PAT-001",
            "pass: aucune mise à jour en attente [1.1]",
        );
    }

    #[test]
    fn applicability_by_role_and_os() {
        let silent = Case::new().facts(|f| f.last_seen_ms = Some(NOW - DAY_MS));
        check(
            &silent,
            "AGT-001",
            "fail/high: aucun rapport depuis 1 j (seuil 15 min)",
        );
        check(
            &silent.clone().facts(|f| f.role = Some("laptop".to_owned())),
            "AGT-001",
            "not_applicable: sans objet pour un hôte de rôle « portable »",
        );
        // The role comes from the inventory when the collector has none, and the finding cites it.
        check(
            &silent.clone().inventory("workstation", "debian"),
            "AGT-001",
            "not_applicable: sans objet pour un hôte de rôle « poste de travail » [1.1]",
        );
        check(
            &silent.clone().inventory("server", "debian"),
            "AGT-001",
            "fail/high: aucun rapport depuis 1 j (seuil 15 min)",
        );
        // The collector's record wins over the inventory.
        check(
            &silent
                .clone()
                .facts(|f| f.role = Some("server".to_owned()))
                .inventory("workstation", "debian"),
            "AGT-001",
            "fail/high: aucun rapport depuis 1 j (seuil 15 min)",
        );
        // An unknown role opts out of nothing.
        check(
            &silent
                .clone()
                .facts(|f| f.role = Some("appliance".to_owned())),
            "AGT-001",
            "fail/high: aucun rapport depuis 1 j (seuil 15 min)",
        );
        // Not applicable wins even with no evidence: there is nothing to collect.
        check(
            &Case::new().inventory("server", "windows"),
            "PAT-001",
            "not_applicable: sans objet pour un système de la famille windows [1.1]",
        );
        check(
            &Case::new().inventory("server", "windows"),
            "AGT-003",
            "pass: aucun rapport contradictoire",
        );
    }

    #[test]
    fn waivers_turn_only_unexpired_matching_fails_into_waived() {
        let waived = "waived/high: dérogation jusqu'au 16/01/2027 accordée par dsi@mairie.fr (migration prévue) ; constat : ";
        check(
            &failing().waiver("PAT-001", Some("h1"), NOW + DAY_MS),
            "PAT-001",
            &format!("{waived}{FAILING} [1.1]"),
        );
        check(
            &failing().waiver("PAT-001", None, NOW + DAY_MS),
            "PAT-001",
            &format!("{waived}{FAILING} [1.1]"),
        );
        // Expiry is exclusive: at the expiry instant the waiver no longer applies.
        check(&failing().waiver("PAT-001", None, NOW + 1), "PAT-001", &format!("{}{FAILING} [1.1]", "waived/high: dérogation jusqu'au 15/01/2027 accordée par dsi@mairie.fr (migration prévue) ; constat : "));
        check(
            &failing().waiver("PAT-001", None, NOW),
            "PAT-001",
            &format!("fail/high: {FAILING} [1.1]"),
        );
        check(
            &failing().waiver("PAT-001", None, NOW - DAY_MS),
            "PAT-001",
            &format!("fail/high: {FAILING} [1.1]"),
        );
        // Another host, another check.
        check(
            &failing().waiver("PAT-001", Some("h2"), NOW + DAY_MS),
            "PAT-001",
            &format!("fail/high: {FAILING} [1.1]"),
        );
        check(
            &failing().waiver("PAT-002", None, NOW + DAY_MS),
            "PAT-001",
            &format!("fail/high: {FAILING} [1.1]"),
        );
        // A waiver does not touch a pass, nor hide an unknown.
        check(
            &Case::new()
                .patches(healthy_patches())
                .waiver("PAT-001", None, NOW + DAY_MS),
            "PAT-001",
            "pass: aucune mise à jour en attente [1.1]",
        );
        check(
            &Case::new().waiver("PAT-001", None, NOW + DAY_MS),
            "PAT-001",
            "unknown: aucun relevé des mises à jour reçu de cet hôte",
        );
        // Of several, the longest-lasting one is named.
        let two = failing().waiver("PAT-001", None, NOW + DAY_MS).waiver(
            "PAT-001",
            Some("h1"),
            NOW + 10 * DAY_MS,
        );
        check(&two, "PAT-001", &format!("{}{FAILING} [1.1]", "waived/high: dérogation jusqu'au 25/01/2027 accordée par dsi@mairie.fr (migration prévue) ; constat : "));
    }

    #[test]
    fn one_finding_per_check_sorted_with_titles() {
        let catalogue = Catalogue::builtin().unwrap();
        let case = failing();
        let findings = evaluate(&catalogue, Profile::Standard, &case.host, &[], NOW);
        let ids: Vec<&str> = findings.iter().map(|f| f.check_id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "ACC-001", "ACC-002", "ACC-003", "ACC-004", "ACC-005", "ACC-006", "ACC-007",
                "ACC-008", "AGT-001", "AGT-002", "AGT-003", "AV-001", "AV-002", "AV-003", "AV-004",
                "BKP-001", "BKP-002", "BKP-003", "BKP-004", "BKP-005", "BKP-006", "FIM-001",
                "FIM-002", "FIM-003", "PAT-001", "PAT-002", "PAT-003", "PAT-004", "PWD-001",
                "PWD-002", "PWD-003", "PWD-004", "PWD-005", "PWD-006", "PWD-007", "SSH-001",
                "SSH-002", "SSH-003", "SSH-004", "SSH-005", "SVC-003"
            ]
        );
        let outcomes: Vec<Outcome> = findings.iter().map(|f| f.outcome).collect();
        assert_eq!(
            outcomes,
            [
                // No account, auth or SSH evidence in this case (ACC-001 to ACC-008).
                Outcome::Unknown,
                Outcome::Unknown,
                Outcome::Unknown,
                Outcome::Unknown,
                Outcome::Unknown,
                Outcome::Unknown,
                Outcome::Unknown,
                Outcome::Unknown,
                Outcome::Pass,
                Outcome::Pass,
                Outcome::Pass,
                // No antivirus evidence in this case.
                Outcome::Unknown,
                Outcome::Unknown,
                Outcome::Unknown,
                Outcome::Unknown,
                // No backup evidence in this case.
                Outcome::Unknown,
                Outcome::Unknown,
                Outcome::Unknown,
                Outcome::Unknown,
                Outcome::Unknown,
                Outcome::Unknown,
                // No file-integrity evidence in this case.
                Outcome::Unknown,
                Outcome::Unknown,
                Outcome::Unknown,
                Outcome::Fail,
                Outcome::Pass,
                Outcome::Pass,
                Outcome::Pass,
                // No auth, account or SSH evidence in this case.
                Outcome::Unknown,
                Outcome::Unknown,
                Outcome::Unknown,
                Outcome::Unknown,
                Outcome::Unknown,
                Outcome::Unknown,
                Outcome::Unknown,
                Outcome::Unknown,
                Outcome::Unknown,
                Outcome::Unknown,
                Outcome::Unknown,
                Outcome::Unknown,
                Outcome::Unknown
            ]
        );
        for f in &findings {
            let check = catalogue.get(&f.check_id).unwrap();
            assert_eq!(f.title_fr, check.title_fr());
            assert_eq!(f.title_en, check.title_en());
        }
    }
}
