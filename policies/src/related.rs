//! Evidence of other domains that a rule reads besides its own (PWD-007 reads the PAM stacks for
//! `nullok`, ACC-003 the sshd settings and the pam_access/pam_time rules, ACC-008 the sshd PAM
//! stack). The evaluator frames these states the way it frames the rule's own domain: each one is
//! usable only when present, fresh by the check's stale threshold and not a probe error; otherwise
//! the rule gets the French reason, and decides whether it can still conclude (a failure found in
//! its own evidence stands; a pass that needed the other domain becomes `unknown`).
//!
//! Why here and not in the agent: the facts already live in the domain whose probe reads them, and
//! copying them into another domain would make two probes parse the same files and could let the
//! two copies disagree. Reading across domains keeps one fact in one place, and every report a
//! finding rests on is cited in it.

use vigie_proto::v1::{domain_state::State, AuthPolicy, Domain, SshServer};

use crate::evaluate::domain_fr;
use crate::evidence::HostEvidence;
use crate::text::{duration_fr, host_text};

/// The states of the related domains of one check on one host.
#[derive(Debug, Default)]
pub(crate) struct Related<'a> {
    items: Vec<(Domain, Result<&'a State, String>)>,
}

impl<'a> Related<'a> {
    /// Frames each domain of `domains` for `host` at `now_ms`; returns them with the evidence refs
    /// of every state looked at (fresh or not), for the finding to cite.
    pub(crate) fn gather(
        host: &'a HostEvidence,
        domains: &[Domain],
        stale_after_ms: Option<i64>,
        now_ms: i64,
    ) -> (Related<'a>, Vec<(u64, u64)>) {
        let mut refs = Vec::new();
        let items = domains
            .iter()
            .map(|domain| {
                let Some(evidence) = host.latest(*domain) else {
                    return (
                        *domain,
                        Err(format!("aucun relevé {} reçu", domain_fr(*domain))),
                    );
                };
                refs.push(evidence.evidence_ref);
                let age = now_ms.saturating_sub(evidence.received_at_ms);
                if let Some(limit) = stale_after_ms.filter(|l| age > *l) {
                    return (
                        *domain,
                        Err(format!(
                            "relevé {} trop ancien (reçu il y a {}, seuil {})",
                            domain_fr(*domain),
                            duration_fr(age),
                            duration_fr(limit)
                        )),
                    );
                }
                let state = match &evidence.state.state {
                    Some(State::Error(e)) => Err(format!(
                        "relevé {} en erreur ({})",
                        domain_fr(*domain),
                        host_text(&e.code)
                    )),
                    None => Err(format!("relevé {} vide", domain_fr(*domain))),
                    Some(state) => Ok(state),
                };
                (*domain, state)
            })
            .collect();
        (Related { items }, refs)
    }

    fn get(&self, domain: Domain) -> Result<&'a State, String> {
        self.items.iter().find(|(d, _)| *d == domain).map_or_else(
            || Err(format!("relevé {} non consulté", domain_fr(domain))),
            |(_, s)| s.clone(),
        )
    }

    /// The host's fresh password and authentication policy, or why it cannot be used.
    pub(crate) fn auth(&self) -> Result<&'a AuthPolicy, String> {
        match self.get(Domain::AuthPolicy)? {
            State::AuthPolicy(a) => Ok(a),
            _ => Err("relevé de la politique d'authentification incohérent".to_owned()),
        }
    }

    /// The host's fresh SSH server settings, or why they cannot be used.
    pub(crate) fn ssh(&self) -> Result<&'a SshServer, String> {
        match self.get(Domain::SshServer)? {
            State::SshServer(s) => Ok(s),
            _ => Err("relevé du serveur SSH incohérent".to_owned()),
        }
    }
}
