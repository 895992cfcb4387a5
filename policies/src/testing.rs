//! Test support shared by the inline test modules: a fixed clock, builders for host evidence and
//! the one `check` function every verdict test goes through. Compiled for tests only.

use vigie_proto::v1::{
    domain_state::State, Domain, DomainState, Inventory, Patches, PendingUpdate, ProbeError,
};

use crate::{
    evaluate, Catalogue, DomainEvidence, HostEvidence, HostFacts, Outcome, Profile, Waiver,
};

pub(crate) use crate::text::{DAY_MS, HOUR_MS, MINUTE_MS, SECOND_MS};

/// The collector's "now" in every test: 2027-01-15T08:00:00Z.
pub(crate) const NOW: i64 = 1_800_000_000_000;

/// One evaluation to run: a profile, a host and waivers.
#[derive(Debug, Clone)]
pub(crate) struct Case {
    pub(crate) profile: Profile,
    pub(crate) host: HostEvidence,
    pub(crate) waivers: Vec<Waiver>,
    seq: u64,
}

impl Case {
    /// A host `h1`, standard profile, last seen a minute ago, no evidence.
    pub(crate) fn new() -> Case {
        let facts = HostFacts {
            host_id: "h1".to_owned(),
            hostname: "mairie-srv1".to_owned(),
            role: None,
            last_seen_ms: Some(NOW - MINUTE_MS),
            cloned_identity: false,
            equivocation: false,
            contractor_policy: None,
            attestations: Vec::new(),
            maintenance: Vec::new(),
        };
        Case {
            profile: Profile::Standard,
            host: HostEvidence {
                facts,
                domains: Vec::new(),
            },
            waivers: Vec::new(),
            seq: 0,
        }
    }

    pub(crate) fn profile(mut self, profile: Profile) -> Case {
        self.profile = profile;
        self
    }

    pub(crate) fn facts(mut self, edit: impl FnOnce(&mut HostFacts)) -> Case {
        edit(&mut self.host.facts);
        self
    }

    /// Adds a domain state received `age_ms` before `NOW`, as report `(1, seq)`.
    pub(crate) fn state(mut self, domain: Domain, age_ms: i64, state: Option<State>) -> Case {
        self.seq += 1;
        self.host.domains.push(DomainEvidence {
            received_at_ms: NOW - age_ms,
            state: DomainState {
                domain: domain as i32,
                probe_id: domain.as_str_name().to_lowercase(),
                collected_at_ms: NOW - age_ms,
                state,
                ..Default::default()
            },
            evidence_ref: (1, self.seq),
        });
        self
    }

    /// Adds fresh patch evidence (received 10 minutes ago).
    pub(crate) fn patches(self, patches: Patches) -> Case {
        self.state(
            Domain::Patches,
            10 * MINUTE_MS,
            Some(State::Patches(patches)),
        )
    }

    /// Adds a probe error for `domain`, received `age_ms` ago.
    pub(crate) fn probe_error(
        self,
        domain: Domain,
        age_ms: i64,
        code: &str,
        message: &str,
    ) -> Case {
        let error = ProbeError {
            code: code.to_owned(),
            message: message.to_owned(),
        };
        self.state(domain, age_ms, Some(State::Error(error)))
    }

    /// Adds an inventory with this role and `os_id`.
    pub(crate) fn inventory(self, role: &str, os_id: &str) -> Case {
        let inventory = Inventory {
            role: role.to_owned(),
            os_id: os_id.to_owned(),
            ..Default::default()
        };
        self.state(
            Domain::Inventory,
            HOUR_MS,
            Some(State::Inventory(inventory)),
        )
    }

    pub(crate) fn waiver(
        mut self,
        check_id: &str,
        host_id: Option<&str>,
        expires_at_ms: i64,
    ) -> Case {
        self.waivers.push(Waiver {
            check_id: check_id.to_owned(),
            host_id: host_id.map(str::to_owned),
            reason: "migration prévue".to_owned(),
            owner: "dsi@mairie.fr".to_owned(),
            expires_at_ms,
        });
        self
    }
}

/// Patches with everything healthy: nothing pending, automatic updates on, metadata refreshed an
/// hour ago, no reboot, a release supported for two more years.
pub(crate) fn healthy_patches() -> Patches {
    Patches {
        manager: "apt".to_owned(),
        last_metadata_refresh_ms: NOW - HOUR_MS,
        automatic_updates_enabled: true,
        os_release_known: true,
        os_end_of_life_ms: NOW + 730 * DAY_MS,
        ..Default::default()
    }
}

/// A pending update of `package`, first seen `age_ms` ago (`None`: never dated).
pub(crate) fn pending(package: &str, security: bool, age_ms: Option<i64>) -> PendingUpdate {
    PendingUpdate {
        package: package.to_owned(),
        security,
        first_seen_ms: age_ms.map_or(0, |a| NOW - a),
        ..Default::default()
    }
}

/// Runs the evaluation with the builtin catalogue and compares the finding of `check_id`, rendered
/// as `outcome[/severity]: detail [refs]`, with `expect`. The severity is shown for `fail` and
/// `waived` only, where it matters; evidence refs are shown when there are any.
#[track_caller]
pub(crate) fn check(case: &Case, check_id: &str, expect: &str) {
    check_at(case, check_id, expect, NOW);
}

/// `check` with the collector's clock at `now_ms` instead of `NOW` (rules over dated events, such
/// as logins across a daylight-saving change).
#[track_caller]
pub(crate) fn check_at(case: &Case, check_id: &str, expect: &str, now_ms: i64) {
    let catalogue = Catalogue::builtin().unwrap();
    let findings = evaluate(&catalogue, case.profile, &case.host, &case.waivers, now_ms);
    assert_eq!(findings.len(), catalogue.checks().len());
    let finding = findings.iter().find(|f| f.check_id == check_id).unwrap();
    let severity = match finding.outcome {
        Outcome::Fail | Outcome::Waived => format!("/{}", finding.severity),
        _ => String::new(),
    };
    let refs = if finding.evidence.is_empty() {
        String::new()
    } else {
        let refs: Vec<String> = finding
            .evidence
            .iter()
            .map(|(e, s)| format!("{e}.{s}"))
            .collect();
        format!(" [{}]", refs.join(" "))
    };
    let actual = format!("{}{severity}: {}{refs}", finding.outcome, finding.detail);
    assert_eq!(actual, expect, "finding {check_id}");
}
