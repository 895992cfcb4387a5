//! What the evaluator is given about one host: facts the collector knows itself (last report, cloned
//! identity, equivocation) and the newest evidence per domain with its receive time. Plain data
//! built by the collector or the CLI; nothing here reads a store.

use vigie_proto::v1::{domain_state::State, Domain, DomainState};

use crate::attestation::Attestation;
use crate::contractor::ContractorPolicy;
use crate::maintenance::MaintenanceWindow;
use crate::vocabulary::{OsFamily, Role};

/// Facts about a host that come from the collector's own records, not from the host's reports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostFacts {
    /// The host's enrolled id (`urn:vigie:host:<uuid>` without the prefix).
    pub host_id: String,
    /// Hostname as enrolled, for display only.
    pub hostname: String,
    /// `server`, `workstation` or `laptop`, when the collector knows it; when absent or not one of
    /// those, the newest inventory's `role` is used.
    pub role: Option<String>,
    /// Collector receive time of the newest report (heartbeats included); `None` if never seen.
    pub last_seen_ms: Option<i64>,
    /// Two epochs alternate for this host's key (DESIGN decision 10).
    pub cloned_identity: bool,
    /// A report was signed twice for one (epoch, seq) with different bodies (DESIGN decision 10).
    pub equivocation: bool,
    /// The contractor policy of the host's organisation (ACC-004), when it declared one.
    pub contractor_policy: Option<ContractorPolicy>,
    /// The organisation's attestations in force (`vigie-collector attest`), e.g. VPN MFA for
    /// ACC-008; an expired one is ignored by the rules even if passed.
    pub attestations: Vec<Attestation>,
    /// The maintenance windows declared for this host (its organisation's, and its groups'), ended
    /// ones included as long as changes made during them may still be judged (FIM-002).
    pub maintenance: Vec<MaintenanceWindow>,
}

/// One domain state as stored by the collector.
#[derive(Debug, Clone, PartialEq)]
pub struct DomainEvidence {
    /// Collector receive time of the report that carried this state (DESIGN decision 16): staleness
    /// is measured from here, never from the host's own clock.
    pub received_at_ms: i64,
    /// The domain's whole state, chunks already reassembled by the collector.
    pub state: DomainState,
    /// `(epoch, seq)` of the signed report it came from, so a finding names what it rests on.
    pub evidence_ref: (u64, u64),
}

/// Everything the evaluator may look at for one host.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HostEvidence {
    /// Collector-side facts.
    pub facts: HostFacts,
    /// Domain states, in any order; for a domain given several times the newest receive time wins.
    pub domains: Vec<DomainEvidence>,
}

impl HostEvidence {
    /// The newest evidence for `domain` by collector receive time. Ties keep the one given last, so
    /// a caller that lists states in arrival order gets the latest arrival.
    pub fn latest(&self, domain: Domain) -> Option<&DomainEvidence> {
        self.domains
            .iter()
            .filter(|e| e.state.domain() == domain)
            .max_by_key(|e| e.received_at_ms)
    }

    /// The host's role: the collector's record first, then the newest inventory. A spelling that is
    /// not a known role counts as no role at all, so that a host cannot opt out of every check by
    /// declaring itself, say, `appliance`: checks then apply as to a host of unknown role.
    pub(crate) fn role(&self) -> Option<(Role, Option<(u64, u64)>)> {
        let recorded = self
            .facts
            .role
            .as_deref()
            .and_then(|r| r.trim().parse().ok());
        if let Some(role) = recorded {
            return Some((role, None));
        }
        let evidence = self.latest(Domain::Inventory)?;
        match &evidence.state.state {
            Some(State::Inventory(inv)) => inv
                .role
                .trim()
                .parse()
                .ok()
                .map(|r| (r, Some(evidence.evidence_ref))),
            _ => None,
        }
    }

    /// The host's OS family from the newest inventory, with the evidence it rests on.
    pub(crate) fn os_family(&self) -> Option<(OsFamily, (u64, u64))> {
        let evidence = self.latest(Domain::Inventory)?;
        match &evidence.state.state {
            Some(State::Inventory(inv)) => {
                OsFamily::from_os_id(&inv.os_id).map(|f| (f, evidence.evidence_ref))
            }
            _ => None,
        }
    }
}
