//! Maintenance windows as the evaluator sees them: an administrator of the organisation declared on
//! the collector (never the host) that work is planned on its hosts, or on one group of them, from
//! one instant to another, why and under whose responsibility. FIM-002 tags a change whose time falls
//! inside a window and grades the failure low; it never turns the change into a pass (the rule is
//! written down in docs/fim-maintenance.md).

/// One window in force for a host, as the collector passes it in `HostFacts::maintenance`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaintenanceWindow {
    /// `m-` and 16 hex digits, as `maintenance list` shows it.
    pub id: String,
    pub reason: String,
    /// The person responsible for the work (as the admin typed it).
    pub owner: String,
    /// First instant covered (UTC milliseconds).
    pub from_ms: i64,
    /// First instant no longer covered: the declared end, or the revocation when it came earlier.
    pub until_ms: i64,
}

impl MaintenanceWindow {
    /// Whether a change seen at `at_ms` falls inside the window.
    pub fn covers(&self, at_ms: i64) -> bool {
        self.from_ms <= at_ms && at_ms < self.until_ms
    }
}

/// The window covering `at_ms` among `all`, the one that started first (ties: the smaller id).
pub(crate) fn covering(all: &[MaintenanceWindow], at_ms: i64) -> Option<&MaintenanceWindow> {
    all.iter()
        .filter(|w| w.covers(at_ms))
        .min_by(|a, b| (a.from_ms, &a.id).cmp(&(b.from_ms, &b.id)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(id: &str, from_ms: i64, until_ms: i64) -> MaintenanceWindow {
        MaintenanceWindow {
            id: id.into(),
            reason: "r".into(),
            owner: "o".into(),
            from_ms,
            until_ms,
        }
    }

    #[test]
    fn start_is_inclusive_end_exclusive_and_the_earliest_wins() {
        let all = [w("m-b", 10, 20), w("m-a", 15, 30)];
        assert_eq!(covering(&all, 9), None);
        assert_eq!(covering(&all, 10).map(|w| w.id.as_str()), Some("m-b"));
        assert_eq!(covering(&all, 19).map(|w| w.id.as_str()), Some("m-b"));
        assert_eq!(covering(&all, 20).map(|w| w.id.as_str()), Some("m-a"));
        assert_eq!(covering(&all, 30), None);
        let tie = [w("m-z", 10, 20), w("m-y", 10, 20)];
        assert_eq!(covering(&tie, 12).map(|w| w.id.as_str()), Some("m-y"));
    }
}
