//! Scheduled snapshots (issue 8): `[[snapshot_schedule]]` tables of `collector.toml` name an
//! organisation, how often (`daily`, `weekly`, `monthly` or a duration such as `30s`) and how many
//! scheduled snapshots to keep. `serve` runs [`run`], which makes each one that is due and then
//! removes the organisation's oldest *scheduled* snapshots beyond `keep`.
//!
//! - Calendar periods are those of Europe/Paris (the municipalities' time): a `monthly` schedule
//!   makes one snapshot per calendar month, at the first tick of the month, or at start-up when the
//!   month has none yet. A duration schedule makes one when the newest scheduled one is that old.
//! - Only scheduled snapshots count and only they are pruned: a snapshot made by hand for an audit
//!   is never removed by retention, and never postpones the schedule.
//! - The organisation's newest snapshot is never removed (the store refuses): the next one chains
//!   to it. Removing older ones leaves each remaining snapshot verifiable with its own predecessor
//!   when that is still kept; the audit trail records every signature and every removal.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;
use vigie_policies::Profile;

use crate::clock::Clock;
use crate::store::{AuditEntry, Store};

/// Actor recorded in the audit trail for what the schedule does.
pub const ACTOR: &str = "system:schedule";

/// One `[[snapshot_schedule]]` table as written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSchedule {
    /// Organisation id.
    pub org: String,
    /// `daily`, `weekly`, `monthly`, or a duration (`12h`, `30s`; at least 1 s).
    pub every: String,
    /// Scheduled snapshots kept (at least 1); older scheduled ones are removed.
    pub keep: u32,
    /// Profile to judge under; the collector's `profile` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Every {
    Daily,
    Weekly,
    Monthly,
    Interval(Duration),
}

/// A validated schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    pub org: String,
    pub every: Every,
    pub keep: u32,
    pub profile: Option<Profile>,
}

impl RawSchedule {
    /// Checks one table; the error says what is wrong with which field.
    pub fn validate(&self) -> Result<Schedule, String> {
        let every = match self.every.trim() {
            "daily" => Every::Daily,
            "weekly" => Every::Weekly,
            "monthly" => Every::Monthly,
            other => {
                let d = humantime::parse_duration(other).map_err(|_| {
                    format!(
                        "org {:?}: every = {other:?}: expected daily, weekly, monthly or a duration",
                        self.org
                    )
                })?;
                if d < Duration::from_secs(1) {
                    return Err(format!("org {:?}: every must be at least 1s", self.org));
                }
                Every::Interval(d)
            }
        };
        if self.keep == 0 {
            return Err(format!("org {:?}: keep must be at least 1", self.org));
        }
        if self.org.trim().is_empty() {
            return Err("org must not be empty".into());
        }
        let profile = self
            .profile
            .as_deref()
            .map(str::parse::<Profile>)
            .transpose()
            .map_err(|e| format!("org {:?}: profile: {e}", self.org))?;
        Ok(Schedule {
            org: self.org.clone(),
            every,
            keep: self.keep,
            profile,
        })
    }
}

/// The calendar period of `ms` in Europe/Paris, as a number that changes when the period does.
fn period(every: Every, ms: i64) -> Option<i64> {
    let tz = jiff::tz::TimeZone::get("Europe/Paris").ok()?;
    let zoned = jiff::Timestamp::from_millisecond(ms).ok()?.to_zoned(tz);
    let date = zoned.date();
    Some(match every {
        Every::Daily => i64::from(date.year()) * 1000 + i64::from(date.day_of_year()),
        Every::Weekly => {
            let week = date.iso_week_date();
            i64::from(week.year()) * 100 + i64::from(week.week())
        }
        Every::Monthly => i64::from(date.year()) * 100 + i64::from(date.month()),
        Every::Interval(_) => return None,
    })
}

/// Whether a scheduled snapshot is due at `now_ms`, the newest scheduled one being `last_ms`.
pub fn due(every: Every, last_ms: Option<i64>, now_ms: i64) -> bool {
    let Some(last) = last_ms else {
        return true;
    };
    match every {
        Every::Interval(d) => {
            let ms = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
            now_ms.saturating_sub(last) >= ms
        }
        calendar => match (period(calendar, last), period(calendar, now_ms)) {
            (Some(a), Some(b)) => b > a,
            // The time zone data is bundled, so this does not happen; never snapshot in a loop.
            _ => false,
        },
    }
}

/// How often the task looks: often enough for the shortest duration, at most once a minute.
fn tick(schedules: &[Schedule]) -> Duration {
    schedules
        .iter()
        .map(|s| match s.every {
            Every::Interval(d) => d / 2,
            _ => Duration::from_secs(60),
        })
        .min()
        .unwrap_or(Duration::from_secs(60))
        .clamp(Duration::from_millis(500), Duration::from_secs(60))
}

/// Makes the snapshots due at `now_ms` and applies retention; returns the ids made. Errors of one
/// organisation are logged and do not stop the others.
pub async fn run_once(
    store: &dyn Store,
    data_dir: &std::path::Path,
    schedules: &[Schedule],
    default_profile: Profile,
    now_ms: i64,
) -> Vec<String> {
    let mut made = Vec::new();
    for s in schedules {
        match run_one(store, data_dir, s, default_profile, now_ms).await {
            Ok(Some(id)) => made.push(id),
            Ok(None) => {}
            Err(error) => {
                tracing::error!(org = %s.org, %error, "Scheduled snapshot failed; will retry.");
            }
        }
    }
    made
}

async fn run_one(
    store: &dyn Store,
    data_dir: &std::path::Path,
    s: &Schedule,
    default_profile: Profile,
    now_ms: i64,
) -> Result<Option<String>, super::SnapshotError> {
    let scheduled: Vec<_> = store
        .snapshot_metas(&s.org)
        .await?
        .into_iter()
        .filter(|r| r.scheduled)
        .collect();
    if !due(s.every, scheduled.last().map(|r| r.created_at_ms), now_ms) {
        return Ok(None);
    }
    let profile = s.profile.unwrap_or(default_profile);
    let record = super::create(store, data_dir, &s.org, profile, ACTOR, now_ms, true).await?;
    tracing::info!(org = %s.org, snapshot = %record.id, "Scheduled snapshot made.");
    // Retention: the `keep` newest scheduled snapshots, the new one included.
    let keep = usize::try_from(s.keep).unwrap_or(usize::MAX);
    let excess = (scheduled.len() + 1).saturating_sub(keep);
    for old in scheduled.iter().take(excess) {
        store.remove_snapshot(&old.id).await?;
        store
            .append_audit(AuditEntry {
                at_ms: now_ms,
                actor: ACTOR.to_owned(),
                action: "snapshot.prune".into(),
                org: Some(s.org.clone()),
                detail: format!("{}: sha256 {}, keep {}", old.id, old.sha256, s.keep),
            })
            .await?;
        tracing::info!(target: "security", org = %s.org, snapshot = %old.id, "Scheduled snapshot removed by retention.");
    }
    Ok(Some(record.id))
}

/// The schedule task of `serve`: runs until `stop`.
pub async fn run(
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    data_dir: PathBuf,
    schedules: Vec<Schedule>,
    default_profile: Profile,
    stop: CancellationToken,
) {
    if schedules.is_empty() {
        return;
    }
    let mut every = tokio::time::interval(tick(&schedules));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = every.tick() => {}
        }
        run_once(
            store.as_ref(),
            &data_dir,
            &schedules,
            default_profile,
            clock.now_ms(),
        )
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(text: &str) -> i64 {
        let t = humantime::parse_rfc3339(text).unwrap();
        t.duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
    }

    #[track_caller]
    fn check(every: Every, last: Option<&str>, now: &str, expect: bool) {
        assert_eq!(
            due(every, last.map(ms), ms(now)),
            expect,
            "{every:?} {last:?} {now}"
        );
    }

    #[test]
    fn due_by_paris_calendar_or_by_duration() {
        check(Every::Monthly, None, "2026-11-28T10:00:00Z", true);
        check(
            Every::Monthly,
            Some("2026-11-01T00:00:00Z"),
            "2026-11-30T22:59:00Z",
            false,
        );
        // 30 November 23:00 UTC is 1 December 00:00 in Paris.
        check(
            Every::Monthly,
            Some("2026-11-01T00:00:00Z"),
            "2026-11-30T23:00:00Z",
            true,
        );
        check(
            Every::Monthly,
            Some("2026-12-15T00:00:00Z"),
            "2027-01-01T00:00:00Z",
            true,
        );
        check(
            Every::Daily,
            Some("2026-11-28T10:00:00Z"),
            "2026-11-28T22:59:59Z",
            false,
        );
        check(
            Every::Daily,
            Some("2026-11-28T10:00:00Z"),
            "2026-11-28T23:00:00Z",
            true,
        );
        // ISO weeks: Sunday 29 November and Monday 30 November 2026 are in different weeks.
        check(
            Every::Weekly,
            Some("2026-11-29T12:00:00Z"),
            "2026-11-29T22:00:00Z",
            false,
        );
        check(
            Every::Weekly,
            Some("2026-11-29T12:00:00Z"),
            "2026-11-29T23:00:00Z",
            true,
        );
        let two = Every::Interval(Duration::from_secs(2));
        check(
            two,
            Some("2026-11-28T10:00:00Z"),
            "2026-11-28T10:00:01Z",
            false,
        );
        check(
            two,
            Some("2026-11-28T10:00:00Z"),
            "2026-11-28T10:00:02Z",
            true,
        );
    }

    #[test]
    fn tables_are_validated() {
        let raw = |every: &str, keep: u32| RawSchedule {
            org: "mairie".into(),
            every: every.into(),
            keep,
            profile: None,
        };
        assert_eq!(raw("monthly", 12).validate().unwrap().every, Every::Monthly);
        assert_eq!(
            raw("90s", 1).validate().unwrap().every,
            Every::Interval(Duration::from_secs(90))
        );
        assert!(raw("fortnightly", 1).validate().is_err());
        assert!(raw("100ms", 1).validate().is_err());
        assert!(raw("daily", 0).validate().is_err());
        let mut bad_profile = raw("daily", 1);
        bad_profile.profile = Some("lax".into());
        assert!(bad_profile.validate().is_err());
    }
}
