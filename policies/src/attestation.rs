//! Organisation-level attestations: what an administrator of the organisation declares about a
//! measure no agent can observe (e.g. the VPN requires a second factor), who declared it, and
//! until when it holds. The collector records them (`vigie-collector attest`) and passes those in
//! force to the evaluator in `HostFacts::attestations`; an expired one counts as absent.

/// The VPN requires a second factor (ACC-008's VPN half), or the organisation offers no remote
/// access by VPN at all.
pub const VPN_MFA: &str = "vpn-mfa";

/// Every measure an attestation may name.
pub const MEASURES: &[&str] = &[VPN_MFA];

/// One attestation as the evaluator sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attestation {
    /// One of [`MEASURES`].
    pub measure: String,
    /// The person who attests (name as typed by the admin).
    pub by: String,
    /// Free text: what was checked, which VPN, which factor.
    pub note: String,
    /// From this instant on the attestation no longer holds.
    pub expires_at_ms: i64,
}

impl Attestation {
    /// Holds at `now_ms`.
    pub fn in_force(&self, now_ms: i64) -> bool {
        now_ms < self.expires_at_ms
    }
}

/// The attestation of `measure` among `all` in force at `now_ms`, the one lasting longest.
pub(crate) fn find<'a>(
    all: &'a [Attestation],
    measure: &str,
    now_ms: i64,
) -> Option<&'a Attestation> {
    all.iter()
        .filter(|a| a.measure == measure && a.in_force(now_ms))
        .max_by_key(|a| a.expires_at_ms)
}
