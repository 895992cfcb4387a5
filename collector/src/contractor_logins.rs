//! Contractor logins at the collector (ACC-004). The agent sends each login once (it keeps a
//! cursor in the journal and in auth.log), so a report's `Accounts.contractor_logins` holds only
//! the logins new since the previous report; the collector keeps them in a per-host ledger, and
//! the evaluator sees the ledger's logins in place of the report's own.
//!
//! The ledger is derived state: it lives in the latest-state tree under a domain number no report
//! uses ([`LEDGER_DOMAIN`]), so `rebuild` clears it and re-folds it from the stored reports in
//! order. Folding is idempotent (a login already held is not added twice, whichever report and
//! source it came from: the journal and auth.log often both hold it), kept for [`RETENTION_MS`]
//! after the newest report, and bounded. It survives an accounts probe error, which replaces the
//! latest ACCOUNTS state but not the ledger.

use serde::{Deserialize, Serialize};
use vigie_policies::HostEvidence;
use vigie_proto::v1::domain_state::State;
use vigie_proto::v1::{Domain, DomainState, Login};
use vigie_proto::Message;

use crate::store::{Candidate, LatestDomain};

/// Not a wire domain: the key of the ledger among a host's latest states.
pub const LEDGER_DOMAIN: i32 = 1_000 + Domain::Accounts as i32;
/// Logins older than this (before the newest report's receive time) leave the ledger. ACC-004
/// looks back at most this far.
pub const RETENTION_MS: i64 = 90 * 86_400_000;
/// Most logins kept per host, most recent first.
const MAX_KEPT: usize = 2_000;

#[derive(Debug, Default, Serialize, Deserialize)]
struct Ledger {
    /// Encoded `Login`s, hex, most recent first.
    logins: Vec<String>,
    newest_received_ms: i64,
}

fn decode(latest: Option<&LatestDomain>) -> Ledger {
    latest
        .and_then(|l| serde_json::from_slice(&l.state).ok())
        .unwrap_or_default()
}

fn logins(ledger: &Ledger) -> Vec<Login> {
    ledger
        .logins
        .iter()
        .filter_map(|h| hex::decode(h).ok())
        .filter_map(|b| Login::decode(b.as_slice()).ok())
        .collect()
}

/// Two records of one login: same account, second, source, method, outcome and key.
fn key(l: &Login) -> (String, i64, String, String, bool, String) {
    (
        l.principal
            .as_ref()
            .map_or(String::new(), |p| format!("{:?}", p.id)),
        l.at_ms.div_euclid(1000),
        l.source_address.clone(),
        l.method.clone(),
        l.success,
        l.key_fingerprint.clone(),
    )
}

/// The ledger after `state` (received with `cand`) is folded in, or `None` when it does not change.
pub fn fold(
    current: Option<&LatestDomain>,
    cand: &Candidate,
    state: &DomainState,
) -> Option<LatestDomain> {
    let Some(State::Accounts(accounts)) = &state.state else {
        return None;
    };
    if state.domain != Domain::Accounts as i32 || accounts.contractor_logins.is_empty() {
        return None;
    }
    let ledger = decode(current);
    let mut all = logins(&ledger);
    let before: Vec<_> = all.iter().map(key).collect();
    let mut seen: std::collections::BTreeSet<_> = before.iter().cloned().collect();
    for l in &accounts.contractor_logins {
        if seen.insert(key(l)) {
            all.push(l.clone());
        }
    }
    let newest = ledger.newest_received_ms.max(cand.received_at_ms);
    let horizon = newest.saturating_sub(RETENTION_MS);
    all.retain(|l| l.at_ms >= horizon);
    all.sort_by_key(|l| std::cmp::Reverse(l.at_ms));
    all.truncate(MAX_KEPT);
    if all.iter().map(key).collect::<Vec<_>>() == before && newest == ledger.newest_received_ms {
        return None;
    }
    let next = Ledger {
        logins: all.iter().map(|l| hex::encode(l.encode_to_vec())).collect(),
        newest_received_ms: newest,
    };
    Some(LatestDomain {
        domain: LEDGER_DOMAIN,
        received_at_ms: newest,
        epoch: cand.epoch,
        seq: cand.seq,
        state: serde_json::to_vec(&next).unwrap_or_default(),
    })
}

/// Puts the ledger's logins in the host's newest accounts state, for the evaluator.
pub fn inject(evidence: &mut HostEvidence, ledger: Option<&LatestDomain>) {
    let Some(ledger) = ledger else {
        return;
    };
    let held = logins(&decode(Some(ledger)));
    let newest = evidence
        .domains
        .iter_mut()
        .filter(|e| e.state.domain == Domain::Accounts as i32)
        .max_by_key(|e| e.received_at_ms);
    if let Some(e) = newest {
        if let Some(State::Accounts(a)) = &mut e.state.state {
            a.contractor_logins = held;
        }
    }
}

#[cfg(test)]
mod tests {
    use vigie_proto::v1::{principal, Accounts, Principal};

    use super::*;

    fn login(at_ms: i64, port_source: &str) -> Login {
        Login {
            principal: Some(Principal {
                id: Some(principal::Id::Uid(1001)),
                name: "presta".to_owned(),
            }),
            at_ms,
            source_address: port_source.to_owned(),
            method: "publickey".to_owned(),
            key_fingerprint: "SHA256:k".to_owned(),
            success: true,
        }
    }

    fn state(list: Vec<Login>) -> DomainState {
        DomainState {
            domain: Domain::Accounts as i32,
            state: Some(State::Accounts(Accounts {
                contractor_logins: list,
                ..Default::default()
            })),
            ..Default::default()
        }
    }

    fn cand(seq: u64, received_at_ms: i64) -> Candidate {
        Candidate {
            epoch: 1,
            seq,
            digest: [0; 32],
            received_at_ms,
            created_at_ms: 0,
            signed: Vec::new(),
        }
    }

    const DAY: i64 = 86_400_000;
    const T: i64 = 1_800_000_000_000;

    #[test]
    fn logins_accumulate_once_and_expire() {
        let a = fold(None, &cand(1, T), &state(vec![login(T - DAY, "192.0.2.1")])).unwrap();
        // The same login again (resent, or read from auth.log to the second): held once.
        let same = fold(
            Some(&a),
            &cand(2, T + 1),
            &state(vec![login(T - DAY + 400, "192.0.2.1")]),
        )
        .unwrap();
        assert_eq!(logins(&decode(Some(&same))).len(), 1);
        assert!(fold(
            Some(&same),
            &cand(2, T + 1),
            &state(vec![login(T - DAY, "192.0.2.1")])
        )
        .is_none());
        // No logins, or another domain: nothing to fold.
        assert!(fold(Some(&a), &cand(2, T), &state(vec![])).is_none());
        let b = fold(
            Some(&a),
            &cand(3, T + DAY),
            &state(vec![login(T, "192.0.2.2")]),
        )
        .unwrap();
        let held: Vec<String> = logins(&decode(Some(&b)))
            .iter()
            .map(|l| l.source_address.clone())
            .collect();
        assert_eq!(held, ["192.0.2.2", "192.0.2.1"]);
        // 90 days after, the first one leaves.
        let c = fold(
            Some(&b),
            &cand(4, T + 90 * DAY),
            &state(vec![login(T + 89 * DAY, "192.0.2.3")]),
        )
        .unwrap();
        let held: Vec<String> = logins(&decode(Some(&c)))
            .iter()
            .map(|l| l.source_address.clone())
            .collect();
        assert_eq!(held, ["192.0.2.3", "192.0.2.2"]);
        // An older report arriving late still adds its logins.
        let d = fold(
            Some(&c),
            &cand(2, T + DAY / 2),
            &state(vec![login(T + 10 * DAY, "192.0.2.4")]),
        )
        .unwrap();
        assert_eq!(logins(&decode(Some(&d))).len(), 3);
    }
}
