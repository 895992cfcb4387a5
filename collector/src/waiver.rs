//! Waiver admin acts (`waiver add|list|revoke`, DESIGN decision 18): validated here, stored through
//! the [`Store`], each one recorded in the audit trail. The evaluator applies the waivers in force
//! (`derive::host_findings`); an expired waiver stops applying by itself at the next evaluation.
//!
//! `--until` takes a date (the waiver lasts to the end of that day in Europe/Paris, the time zone of
//! the municipalities Vigie serves) or an RFC 3339 instant.

use rand::RngCore;
use time::format_description::well_known::Rfc3339;
use time::{Date, Month, OffsetDateTime, Weekday};

use crate::store::{AuditEntry, Store, StoreError, WaiverRecord, WaiverRevocation};

#[derive(Debug, thiserror::Error)]
pub enum WaiverError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("--until {0:?}: expected a date (YYYY-MM-DD) or an RFC 3339 time")]
    Until(String),
    #[error("--until {0:?} is already past")]
    Past(String),
    #[error("check {0:?} is not in the catalogue")]
    NoSuchCheck(String),
    #[error("host {host:?} is not a host of organisation {org:?}")]
    ForeignHost { host: String, org: String },
    #[error("give --host or --group, not both")]
    HostAndGroup,
    #[error("group {0:?}: 1 to 64 letters, digits, `-`, `_` or `.`")]
    GroupName(String),
    #[error("{field}: 1 to 500 characters, no control characters")]
    Text { field: &'static str },
}

/// What `waiver add` asks for.
#[derive(Debug, Clone)]
pub struct NewWaiver {
    pub org: String,
    pub check_id: String,
    pub host_id: Option<String>,
    /// Every host in this group (`host group`); exclusive with `host_id`.
    pub group: Option<String>,
    pub reason: String,
    pub owner: String,
    pub expires_at_ms: i64,
}

/// A group name: 1 to 64 ASCII letters, digits, `-`, `_` or `.` (it appears in tables and reports).
pub fn check_group_name(name: &str) -> Result<(), WaiverError> {
    let ok = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(WaiverError::GroupName(name.to_owned()))
    }
}

/// The last Sunday of `month` in `year`.
fn last_sunday(year: i32, month: Month) -> Option<Date> {
    let next = match month {
        Month::December => Date::from_calendar_date(year.checked_add(1)?, Month::January, 1),
        m => Date::from_calendar_date(year, m.next(), 1),
    }
    .ok()?;
    let mut day = next.previous_day()?;
    while day.weekday() != Weekday::Sunday {
        day = day.previous_day()?;
    }
    Some(day)
}

/// UTC offset in hours of Europe/Paris at local midnight starting `date`. Summer time runs from the
/// last Sunday of March to the last Sunday of October (EU rule since 1996), switching at 01:00 UTC,
/// i.e. never at midnight: on both switch days midnight still has the previous offset.
fn paris_offset_at_midnight(date: Date) -> Option<i64> {
    let start = last_sunday(date.year(), Month::March)?;
    let end = last_sunday(date.year(), Month::October)?;
    Some(if date > start && date <= end { 2 } else { 1 })
}

/// Milliseconds since the epoch of `--until`: the end of a day in Europe/Paris, or an RFC 3339 time.
pub fn parse_until(text: &str) -> Result<i64, WaiverError> {
    let bad = || WaiverError::Until(text.to_owned());
    let t = text.trim();
    let parts: Vec<&str> = t.split('-').collect();
    if let [y, m, d] = parts.as_slice() {
        if y.len() == 4 && m.len() == 2 && d.len() == 2 {
            let year: i32 = y.parse().map_err(|_| bad())?;
            let month: u8 = m.parse().map_err(|_| bad())?;
            let day: u8 = d.parse().map_err(|_| bad())?;
            let month = Month::try_from(month).map_err(|_| bad())?;
            let date = Date::from_calendar_date(year, month, day).map_err(|_| bad())?;
            let next = date.next_day().ok_or_else(bad)?;
            let offset = paris_offset_at_midnight(next).ok_or_else(bad)?;
            let midnight_utc_ms = next.midnight().assume_utc().unix_timestamp() * 1000;
            return Ok(midnight_utc_ms - offset * 3_600_000);
        }
    }
    let at = OffsetDateTime::parse(t, &Rfc3339).map_err(|_| bad())?;
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).map_err(|_| bad())
}

fn check_text(field: &'static str, value: &str) -> Result<(), WaiverError> {
    let n = value.trim().chars().count();
    if n == 0 || n > 500 || value.chars().any(char::is_control) {
        return Err(WaiverError::Text { field });
    }
    Ok(())
}

/// Records a waiver and its audit entry; returns the new waiver.
pub async fn add(
    store: &dyn Store,
    actor: &str,
    now_ms: i64,
    new: NewWaiver,
) -> Result<WaiverRecord, WaiverError> {
    check_text("reason", &new.reason)?;
    check_text("owner", &new.owner)?;
    if new.expires_at_ms <= now_ms {
        return Err(WaiverError::Past(crate::admin::fmt_time(new.expires_at_ms)));
    }
    let catalogue = vigie_policies::Catalogue::builtin()
        .map_err(|_| WaiverError::NoSuchCheck(new.check_id.clone()))?;
    if catalogue.get(&new.check_id).is_none() {
        return Err(WaiverError::NoSuchCheck(new.check_id));
    }
    if store.org(&new.org).await?.is_none() {
        return Err(StoreError::NoSuchOrg(new.org).into());
    }
    if new.host_id.is_some() && new.group.is_some() {
        return Err(WaiverError::HostAndGroup);
    }
    if let Some(group) = &new.group {
        check_group_name(group)?;
    }
    if let Some(host) = &new.host_id {
        // A ping job (a backup with no agent) is waived through its pseudo-host `ping:<name>`.
        let belongs = match host.strip_prefix("ping:") {
            Some(name) => store
                .ping_jobs(Some(&new.org))
                .await?
                .iter()
                .any(|job| job.name == name),
            None => store.host(host).await?.is_some_and(|h| h.org == new.org),
        };
        if !belongs {
            return Err(WaiverError::ForeignHost {
                host: host.clone(),
                org: new.org,
            });
        }
    }
    let mut id = [0u8; 8];
    rand::rngs::OsRng.fill_bytes(&mut id);
    let record = WaiverRecord {
        id: format!("w-{}", hex::encode(id)),
        org: new.org,
        check_id: new.check_id,
        host_id: new.host_id,
        group: new.group,
        reason: new.reason.trim().to_owned(),
        owner: new.owner.trim().to_owned(),
        created_at_ms: now_ms,
        created_by: actor.to_owned(),
        expires_at_ms: new.expires_at_ms,
        revoked: None,
    };
    store.add_waiver(record.clone()).await?;
    store
        .append_audit(AuditEntry {
            at_ms: now_ms,
            actor: actor.to_owned(),
            action: "waiver.add".into(),
            org: Some(record.org.clone()),
            detail: format!(
                "{}: {} on {} until {}, owner {}: {}",
                record.id,
                record.check_id,
                match record.scope().as_str() {
                    "*" => "every host".to_owned(),
                    scope => scope.to_owned(),
                },
                crate::admin::fmt_time(record.expires_at_ms),
                record.owner,
                record.reason
            ),
        })
        .await?;
    Ok(record)
}

/// Revokes a waiver and records it in the audit trail.
pub async fn revoke(
    store: &dyn Store,
    actor: &str,
    now_ms: i64,
    id: &str,
    reason: &str,
) -> Result<WaiverRecord, WaiverError> {
    check_text("reason", reason)?;
    let record = store
        .revoke_waiver(
            id,
            WaiverRevocation {
                at_ms: now_ms,
                by: actor.to_owned(),
                reason: reason.trim().to_owned(),
            },
        )
        .await?;
    store
        .append_audit(AuditEntry {
            at_ms: now_ms,
            actor: actor.to_owned(),
            action: "waiver.revoke".into(),
            org: Some(record.org.clone()),
            detail: format!("{id}: {}", reason.trim()),
        })
        .await?;
    Ok(record)
}

/// Adds `host` to `group` (or removes it), records it in the audit trail, and returns the host's
/// groups afterwards. Groups are assigned by an admin only: a host that could declare its own
/// groups could put itself under another host's waivers.
pub async fn set_host_group(
    store: &dyn Store,
    actor: &str,
    now_ms: i64,
    host_id: &str,
    group: &str,
    remove: bool,
) -> Result<Vec<String>, WaiverError> {
    check_group_name(group)?;
    let host = store
        .host(host_id)
        .await?
        .ok_or_else(|| StoreError::NoSuchHost(host_id.to_owned()))?;
    let mut groups = store.host_groups(host_id).await?;
    groups.retain(|g| g != group);
    if !remove {
        groups.push(group.to_owned());
    }
    groups.sort();
    store.set_host_groups(host_id, groups.clone()).await?;
    store
        .append_audit(AuditEntry {
            at_ms: now_ms,
            actor: actor.to_owned(),
            action: if remove {
                "host.group.remove"
            } else {
                "host.group.add"
            }
            .into(),
            org: Some(host.org),
            detail: format!("{host_id}: {group}"),
        })
        .await?;
    Ok(groups)
}

/// An organisation's waivers as a table, with their state at `now_ms`.
pub async fn list(store: &dyn Store, org: &str, now_ms: i64) -> Result<String, WaiverError> {
    let rows: Vec<[String; 7]> = store
        .waivers(org)
        .await?
        .into_iter()
        .map(|w| {
            let state = match (&w.revoked, w.in_force(now_ms)) {
                (Some(_), _) => "revoked",
                (None, true) => "in force",
                (None, false) => "expired",
            };
            let scope = w.scope();
            [
                w.id,
                w.check_id,
                scope,
                w.owner,
                crate::admin::fmt_time(w.expires_at_ms),
                state.to_owned(),
                w.reason,
            ]
        })
        .collect();
    Ok(crate::admin::table(
        &["ID", "CHECK", "HOST", "OWNER", "UNTIL", "STATE", "REASON"],
        &rows,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(text: &str, expect: &str) {
        let ms = parse_until(text).unwrap();
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms as u64);
        assert_eq!(humantime::format_rfc3339_seconds(t).to_string(), expect);
    }

    #[test]
    fn until_is_the_end_of_a_paris_day_or_an_instant() {
        check("2026-12-31", "2026-12-31T23:00:00Z");
        check("2026-07-14", "2026-07-14T22:00:00Z");
        // 2026: summer time from Sunday 29 March to Sunday 25 October.
        check("2026-03-28", "2026-03-28T23:00:00Z");
        check("2026-03-29", "2026-03-29T22:00:00Z");
        check("2026-10-24", "2026-10-24T22:00:00Z");
        check("2026-10-25", "2026-10-25T23:00:00Z");
        check("2027-03-27", "2027-03-27T23:00:00Z");
        check("2026-11-28T17:05:00+01:00", "2026-11-28T16:05:00Z");
        check("2026-11-28T16:05:00Z", "2026-11-28T16:05:00Z");
        for bad in ["2026-02-30", "28/11/2026", "tomorrow", "2026-13-01", ""] {
            assert!(parse_until(bad).is_err(), "{bad}");
        }
    }
}
