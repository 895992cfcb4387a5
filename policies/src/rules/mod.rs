//! The rules a check may name: one explicit, ordered registry (`RuleKind::ALL`), the typed
//! parameters each takes from its thresholds, and the verdict a rule returns. The rule bodies live
//! in one file per domain; the framing every check shares (applicability, unknown, stale, error,
//! waivers) lives in `evaluate.rs`, so a rule only ever sees fresh, well-formed evidence.

mod accounts;
mod agent;
mod antivirus;
mod auth;
mod backups;
mod contractor_access;
mod fim;
mod patches;
mod remote_mfa;
mod session;
mod ssh;
mod sshd_match;

use vigie_proto::v1::{domain_state::State, Domain};

use crate::evidence::HostFacts;
use crate::related::Related;
use crate::thresholds::{ThresholdReader, Thresholds};
use crate::vocabulary::{CheckDomain, Profile, Role, Severity};

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
    SshRootLogin,
    SshPasswordAuth,
    SshAuthLimits,
    SshAccessRestrictions,
    SshCrypto,
    SshRemoteAccessMfa,
    AccountsPrivilegedPasswordAge,
    AccountsEmptyOrDefaultPasswords,
    AccountsUid0AndAdministrators,
    AccountsIdle,
    AccountsWorkstationAdministrators,
    AccountsSudoersHygiene,
    AccountsContractorExpiry,
    AccountsContractorLogins,
    AccountsContractorRestrictions,
    AuthPasswordQuality,
    AuthPasswordChecks,
    AuthLockout,
    AuthPasswordExpiry,
    AuthHashMethod,
    AuthSessionTimeout,
    AntivirusEngineRunning,
    AntivirusSignatureAge,
    AntivirusOnAccess,
    AntivirusDetections,
    BackupsLastSuccess,
    BackupsFailedRuns,
    BackupsDistinctPlaces,
    BackupsOfflineCopy,
    BackupsRestoreTest,
    BackupsProtection,
    FimBaseline,
    FimChanges,
    FimTamper,
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
        RuleKind::SshRootLogin,
        RuleKind::SshPasswordAuth,
        RuleKind::SshAuthLimits,
        RuleKind::SshAccessRestrictions,
        RuleKind::SshCrypto,
        RuleKind::SshRemoteAccessMfa,
        RuleKind::AccountsPrivilegedPasswordAge,
        RuleKind::AccountsEmptyOrDefaultPasswords,
        RuleKind::AccountsUid0AndAdministrators,
        RuleKind::AccountsIdle,
        RuleKind::AccountsWorkstationAdministrators,
        RuleKind::AccountsSudoersHygiene,
        RuleKind::AccountsContractorExpiry,
        RuleKind::AccountsContractorLogins,
        RuleKind::AccountsContractorRestrictions,
        RuleKind::AuthPasswordQuality,
        RuleKind::AuthPasswordChecks,
        RuleKind::AuthLockout,
        RuleKind::AuthPasswordExpiry,
        RuleKind::AuthHashMethod,
        RuleKind::AuthSessionTimeout,
        RuleKind::AntivirusEngineRunning,
        RuleKind::AntivirusSignatureAge,
        RuleKind::AntivirusOnAccess,
        RuleKind::AntivirusDetections,
        RuleKind::BackupsLastSuccess,
        RuleKind::BackupsFailedRuns,
        RuleKind::BackupsDistinctPlaces,
        RuleKind::BackupsOfflineCopy,
        RuleKind::BackupsRestoreTest,
        RuleKind::BackupsProtection,
        RuleKind::FimBaseline,
        RuleKind::FimChanges,
        RuleKind::FimTamper,
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
            RuleKind::SshRootLogin => "ssh.root_login",
            RuleKind::SshPasswordAuth => "ssh.password_authentication",
            RuleKind::SshAuthLimits => "ssh.authentication_limits",
            RuleKind::SshAccessRestrictions => "ssh.access_restrictions",
            RuleKind::SshCrypto => "ssh.host_keys_and_algorithms",
            RuleKind::SshRemoteAccessMfa => "ssh.remote_access_mfa",
            RuleKind::AccountsPrivilegedPasswordAge => "accounts.privileged_password_age",
            RuleKind::AccountsEmptyOrDefaultPasswords => "accounts.empty_or_default_passwords",
            RuleKind::AccountsUid0AndAdministrators => "accounts.uid0_and_administrators",
            RuleKind::AccountsIdle => "accounts.idle",
            RuleKind::AccountsWorkstationAdministrators => "accounts.workstation_administrators",
            RuleKind::AccountsSudoersHygiene => "accounts.sudoers_hygiene",
            RuleKind::AccountsContractorExpiry => "accounts.contractor_expiry",
            RuleKind::AccountsContractorLogins => "accounts.contractor_logins",
            RuleKind::AccountsContractorRestrictions => "accounts.contractor_restrictions",
            RuleKind::AuthPasswordQuality => "auth.password_quality",
            RuleKind::AuthPasswordChecks => "auth.password_checks",
            RuleKind::AuthLockout => "auth.lockout",
            RuleKind::AuthPasswordExpiry => "auth.password_expiry",
            RuleKind::AuthHashMethod => "auth.hash_method",
            RuleKind::AuthSessionTimeout => "auth.session_timeout",
            RuleKind::AntivirusEngineRunning => "antivirus.engine_running",
            RuleKind::AntivirusSignatureAge => "antivirus.signature_age",
            RuleKind::AntivirusOnAccess => "antivirus.on_access",
            RuleKind::AntivirusDetections => "antivirus.detections",
            RuleKind::BackupsLastSuccess => "backups.last_success",
            RuleKind::BackupsFailedRuns => "backups.failed_runs",
            RuleKind::BackupsDistinctPlaces => "backups.distinct_places",
            RuleKind::BackupsOfflineCopy => "backups.offline_copy",
            RuleKind::BackupsRestoreTest => "backups.restore_test",
            RuleKind::BackupsProtection => "backups.protection",
            RuleKind::FimBaseline => "fim.baseline",
            RuleKind::FimChanges => "fim.changes",
            RuleKind::FimTamper => "fim.tamper",
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
            RuleKind::SshRootLogin
            | RuleKind::SshPasswordAuth
            | RuleKind::SshAuthLimits
            | RuleKind::SshAccessRestrictions
            | RuleKind::SshCrypto
            | RuleKind::SshRemoteAccessMfa => CheckDomain::Ssh,
            RuleKind::AccountsPrivilegedPasswordAge
            | RuleKind::AccountsEmptyOrDefaultPasswords
            | RuleKind::AccountsUid0AndAdministrators
            | RuleKind::AccountsIdle
            | RuleKind::AccountsWorkstationAdministrators
            | RuleKind::AccountsSudoersHygiene
            | RuleKind::AccountsContractorExpiry
            | RuleKind::AccountsContractorLogins
            | RuleKind::AccountsContractorRestrictions => CheckDomain::Accounts,
            RuleKind::AuthPasswordQuality
            | RuleKind::AuthPasswordChecks
            | RuleKind::AuthLockout
            | RuleKind::AuthPasswordExpiry
            | RuleKind::AuthHashMethod
            | RuleKind::AuthSessionTimeout => CheckDomain::Auth,
            RuleKind::AntivirusEngineRunning
            | RuleKind::AntivirusSignatureAge
            | RuleKind::AntivirusOnAccess
            | RuleKind::AntivirusDetections => CheckDomain::Antivirus,
            RuleKind::BackupsLastSuccess
            | RuleKind::BackupsFailedRuns
            | RuleKind::BackupsDistinctPlaces
            | RuleKind::BackupsOfflineCopy
            | RuleKind::BackupsRestoreTest
            | RuleKind::BackupsProtection => CheckDomain::Backups,
            RuleKind::FimBaseline | RuleKind::FimChanges | RuleKind::FimTamper => CheckDomain::Fim,
        }
    }

    /// The evidence domain the rule judges, or `None` for rules over the collector's own facts.
    pub(crate) fn evidence_domain(self) -> Option<Domain> {
        match self.domain() {
            CheckDomain::Patches => Some(Domain::Patches),
            CheckDomain::Agent => None,
            CheckDomain::Ssh => Some(Domain::SshServer),
            CheckDomain::Accounts => Some(Domain::Accounts),
            CheckDomain::Auth => Some(Domain::AuthPolicy),
            CheckDomain::Antivirus => Some(Domain::Antivirus),
            CheckDomain::Backups => Some(Domain::Backups),
            CheckDomain::Fim => Some(Domain::FileIntegrity),
        }
    }

    /// Other evidence domains the rule reads besides its own, framed by the evaluator like its own
    /// (`related.rs`); empty for most rules.
    pub(crate) fn related_domains(self) -> &'static [Domain] {
        match self {
            RuleKind::AccountsEmptyOrDefaultPasswords | RuleKind::SshRemoteAccessMfa => {
                &[Domain::AuthPolicy]
            }
            RuleKind::AccountsContractorRestrictions => &[Domain::SshServer, Domain::AuthPolicy],
            _ => &[],
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
            RuleKind::SshRootLogin
            | RuleKind::SshPasswordAuth
            | RuleKind::SshAuthLimits
            | RuleKind::SshAccessRestrictions
            | RuleKind::SshCrypto => Params::Ssh(ssh::SshRule::read(self, &mut r)),
            RuleKind::SshRemoteAccessMfa => Params::RemoteMfa(remote_mfa::RemoteMfa),
            RuleKind::AccountsContractorRestrictions => {
                Params::ContractorAccess(contractor_access::ContractorAccess::read(&mut r))
            }
            RuleKind::AuthSessionTimeout => {
                Params::SessionTimeout(session::SessionTimeout::read(&mut r))
            }
            RuleKind::AccountsPrivilegedPasswordAge
            | RuleKind::AccountsEmptyOrDefaultPasswords
            | RuleKind::AccountsUid0AndAdministrators
            | RuleKind::AccountsIdle
            | RuleKind::AccountsWorkstationAdministrators
            | RuleKind::AccountsSudoersHygiene
            | RuleKind::AccountsContractorExpiry
            | RuleKind::AccountsContractorLogins => {
                Params::Accounts(accounts::AccountsRule::read(self, &mut r))
            }
            RuleKind::AuthPasswordQuality
            | RuleKind::AuthPasswordChecks
            | RuleKind::AuthLockout
            | RuleKind::AuthPasswordExpiry
            | RuleKind::AuthHashMethod => Params::Auth(auth::AuthRule::read(self, &mut r)),
            RuleKind::AntivirusEngineRunning => {
                Params::AvEngineRunning(antivirus::EngineRunning::read(&mut r))
            }
            RuleKind::AntivirusSignatureAge => {
                Params::AvSignatureAge(antivirus::SignatureAge::read(&mut r))
            }
            RuleKind::AntivirusOnAccess => Params::AvOnAccess(antivirus::OnAccess::read(&mut r)),
            RuleKind::AntivirusDetections => {
                Params::AvDetections(antivirus::Detections::read(&mut r))
            }
            RuleKind::BackupsLastSuccess
            | RuleKind::BackupsFailedRuns
            | RuleKind::BackupsDistinctPlaces
            | RuleKind::BackupsOfflineCopy
            | RuleKind::BackupsRestoreTest
            | RuleKind::BackupsProtection => {
                Params::Backups(backups::BackupsRule::read(self, &mut r))
            }
            RuleKind::FimBaseline => Params::FimBaseline(fim::Baseline::read(&mut r)),
            RuleKind::FimChanges => Params::FimChanges(fim::Changes::read(&mut r)),
            RuleKind::FimTamper => Params::FimTamper(fim::Tamper::read(&mut r)),
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
    Ssh(ssh::SshRule),
    RemoteMfa(remote_mfa::RemoteMfa),
    Accounts(accounts::AccountsRule),
    ContractorAccess(contractor_access::ContractorAccess),
    SessionTimeout(session::SessionTimeout),
    Auth(auth::AuthRule),
    AvEngineRunning(antivirus::EngineRunning),
    Backups(backups::BackupsRule),
    AvSignatureAge(antivirus::SignatureAge),
    AvOnAccess(antivirus::OnAccess),
    AvDetections(antivirus::Detections),
    FimBaseline(fim::Baseline),
    FimChanges(fim::Changes),
    FimTamper(fim::Tamper),
}

impl Rule {
    /// Judges the host. `state` is the newest evidence of the rule's domain, already known to be
    /// fresh and not a probe error; `None` for rules that read no evidence. `role` is the host's
    /// role as the evaluator resolved it (collector record, else inventory), for rules whose demand
    /// depends on it and the profile together (AV-001, AV-003). `related` holds the other domains
    /// the rule reads (`RuleKind::related_domains`), each fresh or with the reason it is not.
    pub(crate) fn judge(
        &self,
        facts: &HostFacts,
        role: Option<Role>,
        state: Option<&State>,
        related: &Related<'_>,
        now_ms: i64,
    ) -> Verdict {
        let antivirus = match state {
            Some(State::Antivirus(a)) => Some(a),
            _ => None,
        };
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
            (Params::Ssh(p), _) => match state {
                Some(State::SshServer(s)) => p.judge(s),
                _ => Verdict::malformed(),
            },
            (Params::Accounts(p), _) => match state {
                Some(State::Accounts(s)) => p.judge(s, facts, related, now_ms),
                _ => Verdict::malformed(),
            },
            (Params::ContractorAccess(p), _) => match state {
                Some(State::Accounts(s)) => p.judge(s, facts, related, now_ms),
                _ => Verdict::malformed(),
            },
            (Params::RemoteMfa(p), _) => match state {
                Some(State::SshServer(s)) => p.judge(s, facts, related, now_ms),
                _ => Verdict::malformed(),
            },
            (Params::SessionTimeout(p), _) => match state {
                Some(State::AuthPolicy(s)) => p.judge(s),
                _ => Verdict::malformed(),
            },
            (Params::Auth(p), _) => match state {
                Some(State::AuthPolicy(s)) => p.judge(s),
                _ => Verdict::malformed(),
            },
            (Params::AvEngineRunning(p), _) => {
                antivirus.map_or_else(Verdict::malformed, |s| p.judge(s, role))
            }
            (Params::AvSignatureAge(p), _) => {
                antivirus.map_or_else(Verdict::malformed, |s| p.judge(s, now_ms))
            }
            (Params::AvOnAccess(p), _) => {
                antivirus.map_or_else(Verdict::malformed, |s| p.judge(s, role))
            }
            (Params::AvDetections(p), _) => {
                antivirus.map_or_else(Verdict::malformed, |s| p.judge(s, now_ms))
            }
            (Params::Backups(p), _) => match state {
                Some(State::Backups(s)) => p.judge(s, role, now_ms),
                _ => Verdict::malformed(),
            },
            (Params::FimBaseline(p), _) => match state {
                Some(State::FileIntegrity(s)) => p.judge(s, now_ms),
                _ => Verdict::malformed(),
            },
            (Params::FimChanges(p), _) => match state {
                Some(State::FileIntegrity(s)) => p.judge(s, &facts.maintenance, now_ms),
                _ => Verdict::malformed(),
            },
            (Params::FimTamper(p), _) => match state {
                Some(State::FileIntegrity(s)) => p.judge(s, now_ms),
                _ => Verdict::malformed(),
            },
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
    /// The evidence shows the check does not concern the host (no SSH server installed).
    NotApplicable(String),
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
