//! Waivers: an organisation's recorded decision to accept a failing check for a while, with a
//! reason, an owner and an expiry (DESIGN decision 18). A waiver only ever turns a `fail` into
//! `waived`; it cannot hide missing, stale or erroneous evidence.

use crate::text::{date_fr, host_text};

/// An accepted failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiver {
    /// The check waived, e.g. `PAT-003`.
    pub check_id: String,
    /// The host waived, or `None` for every host of the organisation.
    pub host_id: Option<String>,
    /// Why the failure is accepted.
    pub reason: String,
    /// Who accepted it.
    pub owner: String,
    /// When the waiver stops applying (collector time, UTC milliseconds); from that instant on it is
    /// ignored.
    pub expires_at_ms: i64,
}

impl Waiver {
    /// Whether this waiver covers `check_id` on `host_id` at `now_ms`.
    pub fn covers(&self, check_id: &str, host_id: &str, now_ms: i64) -> bool {
        self.check_id == check_id
            && self.host_id.as_deref().is_none_or(|h| h == host_id)
            && now_ms < self.expires_at_ms
    }

    /// The French sentence a waived finding starts with.
    pub(crate) fn describe(&self) -> String {
        format!(
            "dérogation jusqu'au {} accordée par {} ({})",
            date_fr(self.expires_at_ms),
            host_text(&self.owner),
            host_text(&self.reason)
        )
    }
}

/// The waiver that applies, if several do: the one that lasts longest, a host-specific one before
/// an organisation-wide one at equal expiry, so the detail names the most durable decision.
pub(crate) fn find<'a>(
    waivers: &'a [Waiver],
    check_id: &str,
    host_id: &str,
    now_ms: i64,
) -> Option<&'a Waiver> {
    waivers
        .iter()
        .filter(|w| w.covers(check_id, host_id, now_ms))
        .max_by_key(|w| (w.expires_at_ms, w.host_id.is_some()))
}
