//! Time in the organisation's zone (DESIGN decision 16): reminder cadences, the daily digest's hour,
//! local dates and times in messages. jiff with its bundled tz database does the calendar work, so a
//! "1d" cadence is the same local time the next day (23 or 25 hours across a daylight-saving change)
//! and a digest at 08:00 stays at 08:00 local all year. An hour that does not exist on a spring-
//! forward day falls on the first instant after the gap.

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::Timestamp;

use super::config::Cadence;

fn zoned(ms: i64, tz: &TimeZone) -> Option<jiff::Zoned> {
    Timestamp::from_millisecond(ms)
        .ok()
        .map(|t| t.to_zoned(tz.clone()))
}

/// `ms` plus the cadence, in `tz`; `None` if the result falls outside jiff's range.
pub fn add_cadence(ms: i64, cadence: Cadence, tz: &TimeZone) -> Option<i64> {
    zoned(ms, tz)?
        .checked_add(cadence.0)
        .ok()
        .map(|z| z.timestamp().as_millisecond())
}

/// The local date of `ms` in `tz`, `YYYY-MM-DD`.
pub fn local_date(ms: i64, tz: &TimeZone) -> String {
    zoned(ms, tz)
        .map(|z| z.date().to_string())
        .unwrap_or_default()
}

/// `28/11/2026 17:05` in `tz`, as French readers expect.
pub fn local_time(ms: i64, tz: &TimeZone) -> String {
    zoned(ms, tz)
        .map(|z| z.strftime("%d/%m/%Y %H:%M").to_string())
        .unwrap_or_default()
}

/// RFC 3339 in UTC with milliseconds, for JSON.
pub fn rfc3339(ms: i64) -> String {
    Timestamp::from_millisecond(ms)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

/// What to do about an organisation's daily digest at some instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DigestDue {
    /// Not yet (or already sent today).
    No,
    /// The first time this organisation is seen: remember `date` as done without sending, so that
    /// installing the collector does not send a digest at once; the next one comes at the hour.
    Init { date: String },
    /// Send the digest of local date `date`.
    Send { date: String },
}

/// The digest decision at `now_ms` for an organisation in `tz` whose digest hour is `hour` and
/// whose newest digest was for local date `last` (`YYYY-MM-DD`).
pub fn digest_due(now_ms: i64, tz: &TimeZone, hour: i8, last: Option<&str>) -> DigestDue {
    let Some(now) = zoned(now_ms, tz) else {
        return DigestDue::No;
    };
    let today = now.date();
    let Ok(at) = today.at(hour, 0, 0, 0).to_zoned(tz.clone()) else {
        return DigestDue::No;
    };
    let reached = now >= at;
    let Some(last) = last else {
        let date = if reached {
            today
        } else {
            today.yesterday().unwrap_or(today)
        };
        return DigestDue::Init {
            date: date.to_string(),
        };
    };
    let done = last.parse::<Date>().is_ok_and(|d| d >= today);
    if reached && !done {
        DigestDue::Send {
            date: today.to_string(),
        }
    } else {
        DigestDue::No
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::config::parse_cadence;

    fn ms(s: &str) -> i64 {
        s.parse::<Timestamp>().unwrap().as_millisecond()
    }

    fn paris() -> TimeZone {
        TimeZone::get("Europe/Paris").unwrap()
    }

    #[test]
    fn a_day_is_a_calendar_day_across_dst() {
        let day = parse_cadence("1d").unwrap().unwrap();
        let four_hours = parse_cadence("4h").unwrap().unwrap();
        // Spring forward in Paris: Sunday 29 March 2026, 02:00 → 03:00.
        let sat = ms("2026-03-28T08:00:00Z"); // 09:00 CET
        let sun = add_cadence(sat, day, &paris()).unwrap();
        assert_eq!(sun - sat, 23 * 3_600_000);
        assert_eq!(local_time(sun, &paris()), "29/03/2026 09:00");
        // Fall back: Sunday 25 October 2026, 03:00 → 02:00.
        let sat = ms("2026-10-24T07:00:00Z"); // 09:00 CEST
        let sun = add_cadence(sat, day, &paris()).unwrap();
        assert_eq!(sun - sat, 25 * 3_600_000);
        assert_eq!(local_time(sun, &paris()), "25/10/2026 09:00");
        // Hours are exact.
        assert_eq!(
            add_cadence(sat, four_hours, &paris()).unwrap() - sat,
            4 * 3_600_000
        );
        // UTC has no DST.
        assert_eq!(
            add_cadence(sat, day, &TimeZone::UTC).unwrap() - sat,
            86_400_000
        );
    }

    #[test]
    fn digest_hour_in_local_time_across_dst() {
        let tz = paris();
        let check = |now: &str, last: Option<&str>, expect: DigestDue| {
            assert_eq!(digest_due(ms(now), &tz, 8, last), expect, "{now}");
        };
        // First sight: remember, do not send.
        check(
            "2026-03-27T12:00:00Z",
            None,
            DigestDue::Init {
                date: "2026-03-27".into(),
            },
        );
        check(
            "2026-03-27T05:00:00Z",
            None,
            DigestDue::Init {
                date: "2026-03-26".into(),
            },
        );
        // Before DST: 08:00 CET is 07:00 UTC.
        check("2026-03-28T06:59:59Z", Some("2026-03-27"), DigestDue::No);
        check(
            "2026-03-28T07:00:00Z",
            Some("2026-03-27"),
            DigestDue::Send {
                date: "2026-03-28".into(),
            },
        );
        check("2026-03-28T07:00:01Z", Some("2026-03-28"), DigestDue::No);
        // The day DST starts: 08:00 CEST is 06:00 UTC.
        check("2026-03-29T05:59:59Z", Some("2026-03-28"), DigestDue::No);
        check(
            "2026-03-29T06:00:00Z",
            Some("2026-03-28"),
            DigestDue::Send {
                date: "2026-03-29".into(),
            },
        );
        // Autumn: 08:00 CET again is 07:00 UTC on 25 October.
        check("2026-10-25T06:30:00Z", Some("2026-10-24"), DigestDue::No);
        check(
            "2026-10-25T07:00:00Z",
            Some("2026-10-24"),
            DigestDue::Send {
                date: "2026-10-25".into(),
            },
        );
        // A digest hour inside the spring gap (02:00) falls at 03:00 CEST.
        assert_eq!(
            digest_due(ms("2026-03-29T00:59:00Z"), &tz, 2, Some("2026-03-28")),
            DigestDue::No
        );
        assert_eq!(
            digest_due(ms("2026-03-29T01:00:00Z"), &tz, 2, Some("2026-03-28")),
            DigestDue::Send {
                date: "2026-03-29".into()
            }
        );
        // Down for days: one digest, for today.
        check(
            "2026-04-10T09:00:00Z",
            Some("2026-04-02"),
            DigestDue::Send {
                date: "2026-04-10".into(),
            },
        );
    }
}
