//! Maintenance windows (`vigie-collector maintenance add|list|revoke`): an administrator declares on
//! the collector, never the host, that work is planned on an organisation's hosts (or on one group
//! of them, `host group`) from one instant to another, why and under whose responsibility. Each act
//! is an audit entry (hash chain, `store/audit.rs`) and judges the organisation's hosts again.
//!
//! The evaluator gets, per host, the windows that concern it (`HostFacts::maintenance`); FIM-002
//! tags a change whose time falls inside one and grades the failure low, it never excuses it
//! (docs/fim-maintenance.md). The change's time is what counts, not the evaluation's: a window that
//! ended keeps explaining the changes made during it. A window is declared before the work (one hour
//! of slack); a change already made is accepted with a waiver, on the record, not by a window
//! declared after the fact.

use rand::RngCore;
use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::admin::{fmt_time, AdminError, Request};
use crate::store::{AuditEntry, Store, StoreError};

/// Longest window: a week of work is already a project, not a maintenance.
pub const MAX_DURATION_MS: i64 = 7 * 86_400_000;
/// How far in the past a window may start (it is declared before the work, give or take this).
pub const MAX_BACKDATE_MS: i64 = 3_600_000;
/// How far ahead a window may be planned.
pub const MAX_AHEAD_MS: i64 = 366 * 86_400_000;
/// Windows that ended longer ago than this are not given to the evaluator (FIM-002 judges at most
/// the collector's 7 days of events).
const LOOKBACK_MS: i64 = 8 * 86_400_000;
const MAX_TEXT_CHARS: usize = 200;

/// One window as the store keeps it (`maintenance` tree, org 0x00 id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaintenanceRecord {
    /// `m-` and 16 hex digits.
    pub id: String,
    pub org: String,
    /// Only the hosts of this group (`host group`); every host of the organisation when `None`.
    pub group: Option<String>,
    pub from_ms: i64,
    /// First instant no longer covered.
    pub until_ms: i64,
    pub reason: String,
    /// The person responsible for the work.
    pub owner: String,
    pub created_at_ms: i64,
    /// The admin actor who declared it (`uid:N`).
    pub created_by: String,
    /// Ended before `until_ms`: when, by which actor, why.
    pub revoked: Option<MaintenanceRevocation>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaintenanceRevocation {
    pub at_ms: i64,
    pub by: String,
    pub reason: String,
}

impl MaintenanceRecord {
    /// First instant no longer covered: the declared end, or the revocation when it came earlier
    /// (a window revoked before it started covers nothing).
    pub fn end_ms(&self) -> i64 {
        self.revoked
            .as_ref()
            .map_or(self.until_ms, |r| r.at_ms.min(self.until_ms))
    }

    /// Whether the window concerns a host in `groups`.
    pub fn applies_to(&self, groups: &[String]) -> bool {
        self.group
            .as_ref()
            .is_none_or(|g| groups.iter().any(|h| h == g))
    }

    /// `planned`, `in-force`, `ended` or `revoked`, at `now_ms`.
    pub fn state(&self, now_ms: i64) -> &'static str {
        if self.revoked.is_some() {
            "revoked"
        } else if now_ms < self.from_ms {
            "planned"
        } else if now_ms < self.until_ms {
            "in-force"
        } else {
            "ended"
        }
    }

    fn scope(&self) -> String {
        match &self.group {
            Some(g) => format!("group {g}"),
            None => "every host".to_owned(),
        }
    }

    /// As the evaluator takes it.
    pub fn to_window(&self) -> vigie_policies::MaintenanceWindow {
        vigie_policies::MaintenanceWindow {
            id: self.id.clone(),
            reason: self.reason.clone(),
            owner: self.owner.clone(),
            from_ms: self.from_ms,
            until_ms: self.end_ms(),
        }
    }
}

/// Among an organisation's windows, those that concern a host in `groups` and may still cover a
/// change FIM-002 judges at `now_ms`; windows revoked before they started are left out.
pub fn for_host(
    all: &[MaintenanceRecord],
    groups: &[String],
    now_ms: i64,
) -> Vec<vigie_policies::MaintenanceWindow> {
    all.iter()
        .filter(|w| w.applies_to(groups))
        .filter(|w| w.end_ms() > w.from_ms && w.end_ms() > now_ms.saturating_sub(LOOKBACK_MS))
        .map(MaintenanceRecord::to_window)
        .collect()
}

/// Milliseconds since the epoch of an RFC 3339 instant (`--from`, `--until`).
pub fn parse_instant(flag: &str, text: &str) -> Result<i64, AdminError> {
    let bad = || {
        AdminError::Invalid(format!(
            "--{flag} {text:?}: expected an RFC 3339 time such as 2026-12-05T08:00:00+01:00"
        ))
    };
    let at = OffsetDateTime::parse(text.trim(), &Rfc3339).map_err(|_| bad())?;
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).map_err(|_| bad())
}

fn check_text(field: &str, value: &str) -> Result<(), AdminError> {
    let n = value.trim().chars().count();
    if n == 0 || n > MAX_TEXT_CHARS || value.chars().any(char::is_control) {
        return Err(AdminError::Invalid(format!(
            "--{field}: 1 to {MAX_TEXT_CHARS} characters, no control character"
        )));
    }
    Ok(())
}

/// Every rule a new window must follow, in the order an admin would fix them.
fn check_times(from_ms: i64, until_ms: i64, now_ms: i64) -> Result<(), AdminError> {
    if until_ms <= from_ms {
        return Err(AdminError::Invalid(format!(
            "--until {} must be after --from {}",
            fmt_time(until_ms),
            fmt_time(from_ms)
        )));
    }
    if until_ms - from_ms > MAX_DURATION_MS {
        return Err(AdminError::Invalid(format!(
            "a maintenance window lasts 7 days at most ({} to {} is longer)",
            fmt_time(from_ms),
            fmt_time(until_ms)
        )));
    }
    if from_ms < now_ms.saturating_sub(MAX_BACKDATE_MS) {
        return Err(AdminError::Invalid(format!(
            "--from {} is more than an hour ago: declare a window before the work; a change already made is accepted with a waiver (`waiver add --check FIM-002`)",
            fmt_time(from_ms)
        )));
    }
    if from_ms > now_ms.saturating_add(MAX_AHEAD_MS) {
        return Err(AdminError::Invalid(format!(
            "--from {} is more than a year ahead",
            fmt_time(from_ms)
        )));
    }
    if until_ms <= now_ms {
        return Err(AdminError::Invalid(format!(
            "--until {} is already past",
            fmt_time(until_ms)
        )));
    }
    Ok(())
}

/// Runs `MaintenanceAdd`, `MaintenanceList` and `MaintenanceRevoke`; other requests are refused.
pub async fn execute(
    store: &dyn Store,
    profile: vigie_policies::Profile,
    actor: &str,
    now: i64,
    req: Request,
) -> Result<String, AdminError> {
    let audit = |action: &str, org: &str, detail: String| AuditEntry {
        at_ms: now,
        actor: actor.to_owned(),
        action: action.to_owned(),
        org: Some(org.to_owned()),
        detail,
    };
    match req {
        Request::MaintenanceAdd {
            org,
            group,
            from_ms,
            until_ms,
            reason,
            owner,
        } => {
            check_text("reason", &reason)?;
            check_text("owner", &owner)?;
            if let Some(g) = &group {
                crate::waiver::check_group_name(g)
                    .map_err(|e| AdminError::Invalid(format!("--group: {e}")))?;
            }
            check_times(from_ms, until_ms, now)?;
            if store.org(&org).await?.is_none() {
                return Err(StoreError::NoSuchOrg(org).into());
            }
            let mut id = [0u8; 8];
            rand::rngs::OsRng.fill_bytes(&mut id);
            let record = MaintenanceRecord {
                id: format!("m-{}", hex::encode(id)),
                org: org.clone(),
                group,
                from_ms,
                until_ms,
                reason: reason.trim().to_owned(),
                owner: owner.trim().to_owned(),
                created_at_ms: now,
                created_by: actor.to_owned(),
                revoked: None,
            };
            store.put_maintenance(record.clone()).await?;
            let detail = format!(
                "{}: {} from {} until {}, owner {}: {}",
                record.id,
                record.scope(),
                fmt_time(from_ms),
                fmt_time(until_ms),
                record.owner,
                record.reason
            );
            store
                .append_audit(audit("maintenance.add", &org, detail.clone()))
                .await?;
            let hosts = crate::derive::reevaluate_org(store, profile, &org, now).await?;
            Ok(format!(
                "{org}: maintenance {detail}; findings of {hosts} host(s) judged again\n"
            ))
        }
        Request::MaintenanceRevoke { id, reason } => {
            check_text("reason", &reason)?;
            let Some(mut record) = store.maintenance_window(&id).await? else {
                return Err(AdminError::Invalid(format!("no maintenance window {id:?}")));
            };
            match record.state(now) {
                "revoked" => {
                    return Err(AdminError::Invalid(format!("{id} is already revoked")));
                }
                "ended" => {
                    return Err(AdminError::Invalid(format!(
                        "{id} already ended at {}",
                        fmt_time(record.until_ms)
                    )));
                }
                _ => {}
            }
            record.revoked = Some(MaintenanceRevocation {
                at_ms: now,
                by: actor.to_owned(),
                reason: reason.trim().to_owned(),
            });
            store.put_maintenance(record.clone()).await?;
            let detail = format!("{id}: {}", reason.trim());
            store
                .append_audit(audit("maintenance.revoke", &record.org, detail.clone()))
                .await?;
            let hosts = crate::derive::reevaluate_org(store, profile, &record.org, now).await?;
            Ok(format!(
                "{}: maintenance {detail}; ends now; findings of {hosts} host(s) judged again\n",
                record.org
            ))
        }
        Request::MaintenanceList { org } => {
            if store.org(&org).await?.is_none() {
                return Err(StoreError::NoSuchOrg(org).into());
            }
            let mut windows = store.maintenance_windows(&org).await?;
            windows.sort_by(|a, b| (a.from_ms, &a.id).cmp(&(b.from_ms, &b.id)));
            let mut out = String::new();
            for w in windows {
                out.push_str(&format!(
                    "{}\t{}\t{}\t{} .. {}\towner {}\tdeclared {} by {}\t{}",
                    w.id,
                    w.state(now),
                    w.scope(),
                    fmt_time(w.from_ms),
                    fmt_time(w.until_ms),
                    w.owner,
                    fmt_time(w.created_at_ms),
                    w.created_by,
                    w.reason
                ));
                if let Some(r) = &w.revoked {
                    out.push_str(&format!(
                        "\trevoked {} by {}: {}",
                        fmt_time(r.at_ms),
                        r.by,
                        r.reason
                    ));
                }
                out.push('\n');
            }
            Ok(out)
        }
        _ => Err(AdminError::Invalid(
            "not a maintenance window request".to_owned(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sled_store::SledStore;
    use crate::store::Org;

    const NOW: i64 = 1_800_000_000_000;
    const H: i64 = 3_600_000;

    fn add(org: &str, group: Option<&str>, from_ms: i64, until_ms: i64) -> Request {
        Request::MaintenanceAdd {
            org: org.into(),
            group: group.map(Into::into),
            from_ms,
            until_ms,
            reason: "mise à jour de samba".into(),
            owner: "J. Martin".into(),
        }
    }

    async fn run(store: &SledStore, now: i64, req: Request) -> Result<String, String> {
        execute(store, vigie_policies::Profile::Standard, "uid:0", now, req)
            .await
            .map_err(|e| e.to_string())
    }

    #[test]
    fn instants_are_rfc3339_only() {
        assert_eq!(
            parse_instant("from", "2027-01-15T08:00:00+01:00").unwrap(),
            1_799_996_400_000
        );
        for bad in ["2027-01-15", "demain", "2027-01-15 08:00"] {
            let e = parse_instant("until", bad).unwrap_err().to_string();
            assert!(e.starts_with("--until "), "{e}");
        }
    }

    #[test]
    fn a_window_is_scoped_ended_by_revocation_and_kept_while_it_can_matter() {
        let mut w = MaintenanceRecord {
            id: "m-1".into(),
            org: "mairie".into(),
            group: Some("serveurs".into()),
            from_ms: NOW,
            until_ms: NOW + 2 * H,
            reason: "r".into(),
            owner: "o".into(),
            created_at_ms: NOW - H,
            created_by: "uid:0".into(),
            revoked: None,
        };
        assert!(w.applies_to(&["serveurs".to_owned()]));
        assert!(!w.applies_to(&["postes".to_owned()]));
        assert_eq!(w.state(NOW - 1), "planned");
        assert_eq!(w.state(NOW), "in-force");
        assert_eq!(w.state(NOW + 2 * H), "ended");
        let groups = ["serveurs".to_owned()];
        // An ended window still reaches the evaluator for a week or so: the change's time counts.
        assert_eq!(
            for_host(std::slice::from_ref(&w), &groups, NOW + 7 * 86_400_000).len(),
            1
        );
        assert!(for_host(std::slice::from_ref(&w), &groups, NOW + 9 * 86_400_000).is_empty());
        assert!(for_host(std::slice::from_ref(&w), &[], NOW).is_empty());
        // Revoked an hour in: it covers that hour only.
        w.revoked = Some(MaintenanceRevocation {
            at_ms: NOW + H,
            by: "uid:0".into(),
            reason: "fini".into(),
        });
        assert_eq!(w.state(NOW), "revoked");
        assert_eq!(
            for_host(std::slice::from_ref(&w), &groups, NOW)[0].until_ms,
            NOW + H
        );
        // Revoked before it started: it covers nothing and is left out.
        w.revoked = Some(MaintenanceRevocation {
            at_ms: NOW - 1,
            by: "uid:0".into(),
            reason: "annulée".into(),
        });
        assert!(for_host(std::slice::from_ref(&w), &groups, NOW).is_empty());
        // Without a group it concerns every host of the organisation.
        w.group = None;
        w.revoked = None;
        assert!(w.applies_to(&[]));
    }

    #[tokio::test]
    async fn windows_are_validated_audited_listed_and_revoked() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path(), 8 << 20).unwrap();
        store
            .add_org(Org {
                id: "mairie".into(),
                name: "Mairie".into(),
                created_at_ms: 0,
            })
            .await
            .unwrap();
        // Refusals, each saying what to fix.
        let refusals = [
            (
                add("mairie", None, NOW + H, NOW + H),
                "must be after --from",
            ),
            (
                add("mairie", None, NOW, NOW + 8 * 86_400_000),
                "7 days at most",
            ),
            (
                add("mairie", None, NOW - 2 * H, NOW + H),
                "more than an hour ago",
            ),
            (add("mairie", None, NOW - H + 1, NOW - 1), "already past"),
            (
                add(
                    "mairie",
                    None,
                    NOW + 400 * 86_400_000,
                    NOW + 401 * 86_400_000,
                ),
                "a year ahead",
            ),
            (add("mairie", Some("a b"), NOW, NOW + H), "--group"),
            (add("nowhere", None, NOW, NOW + H), "nowhere"),
            (
                Request::MaintenanceAdd {
                    org: "mairie".into(),
                    group: None,
                    from_ms: NOW,
                    until_ms: NOW + H,
                    reason: "  ".into(),
                    owner: "J. Martin".into(),
                },
                "--reason: 1 to 200 characters",
            ),
            (
                Request::MaintenanceAdd {
                    org: "mairie".into(),
                    group: None,
                    from_ms: NOW,
                    until_ms: NOW + H,
                    reason: "x".repeat(201),
                    owner: "J. Martin".into(),
                },
                "--reason: 1 to 200 characters",
            ),
            (
                Request::MaintenanceAdd {
                    org: "mairie".into(),
                    group: None,
                    from_ms: NOW,
                    until_ms: NOW + H,
                    reason: "r".into(),
                    owner: "a\nb".into(),
                },
                "--owner",
            ),
        ];
        for (req, expected) in refusals {
            let e = run(&store, NOW, req.clone()).await.unwrap_err();
            assert!(e.contains(expected), "{req:?}: {e}");
        }
        assert!(store
            .maintenance_windows("mairie")
            .await
            .unwrap()
            .is_empty());
        assert!(store.audit_trail().await.unwrap().is_empty());

        // One with a little slack in the past, one for a group.
        let out = run(&store, NOW, add("mairie", None, NOW - H, NOW + 2 * H))
            .await
            .unwrap();
        assert!(out.contains("every host from"), "{out}");
        run(
            &store,
            NOW,
            add("mairie", Some("serveurs"), NOW + H, NOW + 3 * H),
        )
        .await
        .unwrap();
        let mut windows = store.maintenance_windows("mairie").await.unwrap();
        windows.sort_by_key(|w| w.from_ms);
        assert_eq!(windows.len(), 2);
        assert!(windows[0].id.starts_with("m-") && windows[0].id.len() == 18);
        assert_eq!(windows[0].reason, "mise à jour de samba");
        assert_eq!(windows[0].created_by, "uid:0");
        let list = run(
            &store,
            NOW,
            Request::MaintenanceList {
                org: "mairie".into(),
            },
        )
        .await
        .unwrap();
        let lines: Vec<&str> = list.lines().collect();
        assert_eq!(lines.len(), 2, "{list}");
        assert!(lines[0].contains("\tin-force\tevery host\t"), "{list}");
        assert!(lines[1].contains("\tplanned\tgroup serveurs\t"), "{list}");

        // Revocation ends the window now; twice is refused, so is an unknown id.
        let id = windows[0].id.clone();
        run(
            &store,
            NOW + H,
            Request::MaintenanceRevoke {
                id: id.clone(),
                reason: "terminé".into(),
            },
        )
        .await
        .unwrap();
        let revoked = store.maintenance_window(&id).await.unwrap().unwrap();
        assert_eq!(revoked.end_ms(), NOW + H);
        for (req_id, expected) in [
            (id.as_str(), "already revoked"),
            ("m-0", "no maintenance window"),
        ] {
            let e = run(
                &store,
                NOW + H,
                Request::MaintenanceRevoke {
                    id: req_id.into(),
                    reason: "encore".into(),
                },
            )
            .await
            .unwrap_err();
            assert!(e.contains(expected), "{e}");
        }
        // An ended window cannot be revoked: that would change nothing but the record.
        let e = run(
            &store,
            NOW + 4 * H,
            Request::MaintenanceRevoke {
                id: windows[1].id.clone(),
                reason: "trop tard".into(),
            },
        )
        .await
        .unwrap_err();
        assert!(e.contains("already ended"), "{e}");

        // Every act is in the hash-chained audit trail, scoped to the organisation.
        let trail = store.audit_trail().await.unwrap();
        let actions: Vec<&str> = trail.iter().map(|r| r.entry.action.as_str()).collect();
        assert_eq!(
            actions,
            ["maintenance.add", "maintenance.add", "maintenance.revoke"]
        );
        assert!(trail
            .iter()
            .all(|r| r.entry.org.as_deref() == Some("mairie")));
        assert!(trail[0]
            .entry
            .detail
            .contains("owner J. Martin: mise à jour de samba"));
        assert_eq!(trail[2].entry.detail, format!("{id}: terminé"));
        crate::store::audit::verify_audit_chain(&trail).unwrap();
    }
}
