//! The rules a check may name: one explicit, ordered registry (`RuleKind::ALL`), the typed
//! parameters each takes from its thresholds, and the verdict a rule returns. The rule bodies live
//! in one file per domain; the framing every check shares (applicability, unknown, stale, error,
//! waivers) lives in `evaluate.rs`, so a rule only ever sees fresh, well-formed evidence.

mod agent;
mod patches;

use vigie_proto::v1::{domain_state::State, Domain};

use crate::evidence::HostFacts;
use crate::thresholds::{ThresholdReader, Thresholds};
use crate::vocabulary::{CheckDomain, Profile, Severity};

/// The name of a rule implemented here, as a check's `rule` key spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RuleKind {
    SecurityPendingAge,
    AutomaticUpdates,
    RebootPending,
    OsEndOfLife,
    AgentSilent,
    AgentClonedIdentity,
    AgentEquivocation,
}

impl RuleKind {
    /// Every rule, in catalogue order.
    pub(crate) const ALL: &'static [RuleKind] = &[
        RuleKind::SecurityPendingAge,
        RuleKind::AutomaticUpdates,
        RuleKind::RebootPending,
        RuleKind::OsEndOfLife,
        RuleKind::AgentSilent,
        RuleKind::AgentClonedIdentity,
        RuleKind::AgentEquivocation,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            RuleKind::SecurityPendingAge => "patches.security_pending_age",
            RuleKind::AutomaticUpdates => "patches.automatic_updates",
            RuleKind::RebootPending => "patches.reboot_pending",
            RuleKind::OsEndOfLife => "patches.os_end_of_life",
            RuleKind::AgentSilent => "agent.silent",
            RuleKind::AgentClonedIdentity => "agent.cloned_identity",
            RuleKind::AgentEquivocation => "agent.equivocation",
        }
    }

    pub(crate) fn from_name(name: &str) -> Option<RuleKind> {
        RuleKind::ALL.iter().copied().find(|k| k.name() == name)
    }

    /// The catalogue domain a check using this rule must declare.
    pub(crate) fn domain(self) -> CheckDomain {
        match self {
            RuleKind::SecurityPendingAge
            | RuleKind::AutomaticUpdates
            | RuleKind::RebootPending
            | RuleKind::OsEndOfLife => CheckDomain::Patches,
            RuleKind::AgentSilent | RuleKind::AgentClonedIdentity | RuleKind::AgentEquivocation => {
                CheckDomain::Agent
            }
        }
    }

    /// The evidence domain the rule judges, or `None` for rules over the collector's own facts.
    pub(crate) fn evidence_domain(self) -> Option<Domain> {
        match self.domain() {
            CheckDomain::Patches => Some(Domain::Patches),
            CheckDomain::Agent => None,
        }
    }

    /// Reads the thresholds of one profile into typed parameters; every problem is returned with its
    /// key path.
    pub(crate) fn compile(
        self,
        profile: Profile,
        thresholds: &Thresholds,
    ) -> Result<Rule, Vec<(String, String)>> {
        let mut r = ThresholdReader::new(profile, self.name(), thresholds);
        let stale_after_ms = self
            .evidence_domain()
            .map(|_| r.positive_duration_ms("stale_after_secs"));
        let params = match self {
            RuleKind::SecurityPendingAge => {
                Params::SecurityPendingAge(patches::PendingAge::read(&mut r))
            }
            RuleKind::AutomaticUpdates => {
                Params::AutomaticUpdates(patches::AutomaticUpdates::read(&mut r))
            }
            RuleKind::RebootPending => Params::RebootPending(patches::RebootPending::read(&mut r)),
            RuleKind::OsEndOfLife => Params::OsEndOfLife(patches::EndOfLife::read(&mut r)),
            RuleKind::AgentSilent => Params::AgentSilent(agent::Silent::read(&mut r)),
            RuleKind::AgentClonedIdentity => Params::AgentClonedIdentity,
            RuleKind::AgentEquivocation => Params::AgentEquivocation,
        };
        let problems = r.finish();
        if problems.is_empty() {
            Ok(Rule {
                stale_after_ms,
                params,
            })
        } else {
            Err(problems)
        }
    }
}

/// A rule with one profile's thresholds, ready to judge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rule {
    /// Evidence received longer ago than this is stale; `None` for rules that read no evidence.
    pub(crate) stale_after_ms: Option<i64>,
    params: Params,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Params {
    SecurityPendingAge(patches::PendingAge),
    AutomaticUpdates(patches::AutomaticUpdates),
    RebootPending(patches::RebootPending),
    OsEndOfLife(patches::EndOfLife),
    AgentSilent(agent::Silent),
    AgentClonedIdentity,
    AgentEquivocation,
}

impl Rule {
    /// Judges the host. `state` is the newest evidence of the rule's domain, already known to be
    /// fresh and not a probe error; `None` for rules that read no evidence.
    pub(crate) fn judge(&self, facts: &HostFacts, state: Option<&State>, now_ms: i64) -> Verdict {
        let patches = match state {
            Some(State::Patches(p)) => Some(p),
            _ => None,
        };
        match (&self.params, patches) {
            (Params::SecurityPendingAge(p), Some(s)) => p.judge(s, now_ms),
            (Params::AutomaticUpdates(p), Some(s)) => p.judge(s, now_ms),
            (Params::RebootPending(p), Some(s)) => p.judge(s, now_ms),
            (Params::OsEndOfLife(p), Some(s)) => p.judge(s, now_ms),
            (Params::AgentSilent(p), _) => p.judge(facts, now_ms),
            (Params::AgentClonedIdentity, _) => agent::cloned_identity(facts),
            (Params::AgentEquivocation, _) => agent::equivocation(facts),
            // The domain field and the state inside disagree: a malformed report, not a verdict.
            (_, None) => Verdict::malformed(),
        }
    }
}

/// What a rule concludes about fresh, well-formed evidence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// The threshold is met.
    Pass(String),
    /// The threshold is not met; `severity` overrides the check's own when the rule grades
    /// failures (PAT-001 is high after 7 days and critical after 30).
    Fail {
        severity: Option<Severity>,
        detail: String,
    },
    /// The evidence cannot decide (e.g. a reboot required since an unknown date).
    Unknown(String),
    /// The evidence contradicts itself.
    Error(String),
}

impl Verdict {
    fn fail(detail: String) -> Verdict {
        Verdict::Fail {
            severity: None,
            detail,
        }
    }

    fn fail_as(severity: Severity, detail: String) -> Verdict {
        Verdict::Fail {
            severity: Some(severity),
            detail,
        }
    }

    fn malformed() -> Verdict {
        Verdict::Error("relevé incohérent : son contenu ne correspond pas à son domaine".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_names_are_unique_and_round_trip() {
        for kind in RuleKind::ALL {
            assert_eq!(RuleKind::from_name(kind.name()), Some(*kind));
            assert!(
                kind.name().starts_with(kind.domain().as_str()),
                "{}",
                kind.name()
            );
        }
        assert_eq!(RuleKind::from_name("patches.nope"), None);
    }
}
