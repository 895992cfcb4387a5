//! Rules over the collector's own facts about an agent: AGT-001 (silent host, the dead man's
//! switch of DESIGN decision 12), AGT-002 (cloned identity) and AGT-003 (equivocation), both from
//! DESIGN decision 10. They read no evidence domain, so they are never stale or in error.

use super::Verdict;
use crate::evidence::HostFacts;
use crate::text::duration_fr;
use crate::thresholds::ThresholdReader;

const NEVER_SEEN: &str = "aucun rapport reçu de cet hôte";

/// `agent.silent`: no report received for more than `silent_after_secs` fails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Silent {
    silent_after_ms: i64,
}

impl Silent {
    pub(crate) fn read(r: &mut ThresholdReader<'_>) -> Self {
        Silent {
            silent_after_ms: r.positive_duration_ms("silent_after_secs"),
        }
    }

    pub(crate) fn judge(&self, facts: &HostFacts, now_ms: i64) -> Verdict {
        let Some(last) = facts.last_seen_ms else {
            return Verdict::Unknown(NEVER_SEEN.to_owned());
        };
        let age = now_ms.saturating_sub(last);
        if age > self.silent_after_ms {
            let limit = duration_fr(self.silent_after_ms);
            Verdict::fail(format!(
                "aucun rapport depuis {} (seuil {limit})",
                duration_fr(age)
            ))
        } else {
            Verdict::Pass(format!("dernier rapport il y a {}", duration_fr(age)))
        }
    }
}

/// `agent.cloned_identity`: the collector saw two epochs alternate for this host's key.
pub(crate) fn cloned_identity(facts: &HostFacts) -> Verdict {
    if facts.cloned_identity {
        Verdict::fail(
            "deux instances alternent sous cette identité d'agent (machine clonée, restaurée ou clé copiée)"
                .to_owned(),
        )
    } else if facts.last_seen_ms.is_none() {
        Verdict::Unknown(NEVER_SEEN.to_owned())
    } else {
        Verdict::Pass("une seule instance connue pour cette identité".to_owned())
    }
}

/// `agent.equivocation`: the collector saw two different reports signed for one (epoch, seq).
pub(crate) fn equivocation(facts: &HostFacts) -> Verdict {
    if facts.equivocation {
        Verdict::fail("deux rapports différents signés pour le même numéro de séquence".to_owned())
    } else if facts.last_seen_ms.is_none() {
        Verdict::Unknown(NEVER_SEEN.to_owned())
    } else {
        Verdict::Pass("aucun rapport contradictoire".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::{check, Case, MINUTE_MS, NOW, SECOND_MS};
    use crate::Profile;

    fn last_seen(ago: Option<i64>) -> Case {
        Case::new().facts(|f| f.last_seen_ms = ago.map(|a| NOW - a))
    }

    #[test]
    fn agt_001_silent() {
        check(
            &last_seen(None),
            "AGT-001",
            "unknown: aucun rapport reçu de cet hôte",
        );
        check(
            &last_seen(Some(3 * MINUTE_MS)),
            "AGT-001",
            "pass: dernier rapport il y a 3 min",
        );
        check(
            &last_seen(Some(15 * MINUTE_MS)),
            "AGT-001",
            "pass: dernier rapport il y a 15 min",
        );
        check(
            &last_seen(Some(15 * MINUTE_MS + 1)),
            "AGT-001",
            "fail/high: aucun rapport depuis 15 min (seuil 15 min)",
        );
        check(
            &last_seen(Some(2 * 60 * MINUTE_MS + 5 * MINUTE_MS + 30 * SECOND_MS)),
            "AGT-001",
            "fail/high: aucun rapport depuis 2 h 5 min (seuil 15 min)",
        );
        let half_hour = last_seen(Some(30 * MINUTE_MS));
        check(
            &half_hour.clone().profile(Profile::Minimal),
            "AGT-001",
            "pass: dernier rapport il y a 30 min",
        );
        check(
            &half_hour.profile(Profile::Strict),
            "AGT-001",
            "fail/high: aucun rapport depuis 30 min (seuil 10 min)",
        );
        // Workstations go quiet every night: the check is for servers (and hosts of unknown role).
        check(
            &last_seen(Some(10 * 60 * MINUTE_MS))
                .facts(|f| f.role = Some("workstation".to_owned())),
            "AGT-001",
            "not_applicable: sans objet pour un hôte de rôle « poste de travail »",
        );
    }

    #[test]
    fn agt_002_cloned_identity_and_agt_003_equivocation() {
        let cloned = |c: bool, seen: bool| {
            last_seen(seen.then_some(MINUTE_MS)).facts(|f| {
                f.cloned_identity = c;
                f.equivocation = c;
            })
        };
        check(
            &cloned(true, true),
            "AGT-002",
            "fail/critical: deux instances alternent sous cette identité d'agent (machine clonée, restaurée ou clé copiée)",
        );
        check(&cloned(true, false), "AGT-002", "fail/critical: deux instances alternent sous cette identité d'agent (machine clonée, restaurée ou clé copiée)");
        check(
            &cloned(false, true),
            "AGT-002",
            "pass: une seule instance connue pour cette identité",
        );
        check(
            &cloned(false, false),
            "AGT-002",
            "unknown: aucun rapport reçu de cet hôte",
        );
        check(
            &cloned(true, true),
            "AGT-003",
            "fail/critical: deux rapports différents signés pour le même numéro de séquence",
        );
        check(
            &cloned(false, true),
            "AGT-003",
            "pass: aucun rapport contradictoire",
        );
        check(
            &cloned(false, false),
            "AGT-003",
            "unknown: aucun rapport reçu de cet hôte",
        );
        // A security signal cannot be waived away for a laptop by its role either.
        check(
            &cloned(true, true).facts(|f| f.role = Some("laptop".to_owned())),
            "AGT-003",
            "fail/critical: deux rapports différents signés pour le même numéro de séquence",
        );
    }
}
