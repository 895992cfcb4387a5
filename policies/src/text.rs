//! French wording helpers for finding details: durations, dates, plurals and the neutralising of
//! host-supplied text. Pure functions over milliseconds; no clock, no locale database.

/// Milliseconds in a second, a minute, an hour and a day.
pub(crate) const SECOND_MS: i64 = 1_000;
pub(crate) const MINUTE_MS: i64 = 60 * SECOND_MS;
pub(crate) const HOUR_MS: i64 = 60 * MINUTE_MS;
pub(crate) const DAY_MS: i64 = 24 * HOUR_MS;

/// Longest host-supplied string copied into a detail (package name, probe message), in characters.
const MAX_HOST_TEXT_CHARS: usize = 120;

/// A duration in the short French form a sysadmin reads at a glance: `12 j`, `1 j 4 h`, `2 h 5 min`,
/// `45 min`, `30 s`. Two units at most, the second only where it still matters. Negative durations
/// (a host clock ahead of the collector's) read as zero.
pub(crate) fn duration_fr(ms: i64) -> String {
    let ms = ms.max(0);
    let days = ms / DAY_MS;
    let hours = (ms % DAY_MS) / HOUR_MS;
    let minutes = (ms % HOUR_MS) / MINUTE_MS;
    let seconds = (ms % MINUTE_MS) / SECOND_MS;
    match (days, hours, minutes) {
        (d, h, _) if d >= 3 || (d > 0 && h == 0) => format!("{d} j"),
        (d, h, _) if d > 0 => format!("{d} j {h} h"),
        (_, h, 0) if h > 0 => format!("{h} h"),
        (_, h, m) if h > 0 => format!("{h} h {m} min"),
        (_, _, m) if m > 0 => format!("{m} min"),
        _ => format!("{seconds} s"),
    }
}

/// A UTC date as French administrations write it: `30/06/2027`.
pub(crate) fn date_fr(ms: i64) -> String {
    let (y, m, d) = civil_from_days(ms.div_euclid(DAY_MS));
    format!("{d:02}/{m:02}/{y:04}")
}

/// Proleptic Gregorian (year, month, day) of a count of days since 1970-01-01.
///
/// Howard Hinnant's `civil_from_days`: exact for every `i64` day count we can meet, and small enough
/// that pulling in `chrono` or `time` for one date format would not pay for itself.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// `count` followed by the singular or plural form: `1 mise à jour`, `3 mises à jour`. French
/// takes the singular for 0 as well as 1.
pub(crate) fn plural(count: usize, singular: &str, plural: &str) -> String {
    if count <= 1 {
        format!("{count} {singular}")
    } else {
        format!("{count} {plural}")
    }
}

/// Host-supplied text made safe to place in a detail: control characters (CR, LF, escape
/// sequences...) become `?` and the length is capped. Escaping for HTML, e-mail or syslog stays the
/// job of each output (DESIGN decision 5); this only keeps a detail one short line.
pub(crate) fn host_text(raw: &str) -> String {
    let mut out: String = raw
        .chars()
        .take(MAX_HOST_TEXT_CHARS)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if raw.chars().nth(MAX_HOST_TEXT_CHARS).is_some() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(actual: String, expect: &str) {
        assert_eq!(actual, expect);
    }

    #[test]
    fn durations() {
        check(duration_fr(-5 * DAY_MS), "0 s");
        check(duration_fr(0), "0 s");
        check(duration_fr(59 * SECOND_MS), "59 s");
        check(duration_fr(15 * MINUTE_MS + 59 * SECOND_MS), "15 min");
        check(duration_fr(2 * HOUR_MS), "2 h");
        check(duration_fr(2 * HOUR_MS + 5 * MINUTE_MS), "2 h 5 min");
        check(duration_fr(DAY_MS), "1 j");
        check(duration_fr(DAY_MS + 4 * HOUR_MS), "1 j 4 h");
        check(duration_fr(12 * DAY_MS + 23 * HOUR_MS), "12 j");
    }

    #[test]
    fn dates() {
        check(date_fr(0), "01/01/1970");
        check(date_fr(-1), "31/12/1969");
        // 2024-02-29 is day 19782; 2027-06-30 is day 20999.
        check(date_fr(19_782 * DAY_MS + 5 * HOUR_MS), "29/02/2024");
        check(date_fr(20_999 * DAY_MS), "30/06/2027");
    }

    #[test]
    fn plurals_and_host_text() {
        check(plural(1, "mise à jour", "mises à jour"), "1 mise à jour");
        check(plural(0, "mise à jour", "mises à jour"), "0 mise à jour");
        check(plural(2, "mise à jour", "mises à jour"), "2 mises à jour");
        check(host_text("open\nssl\u{1b}[31m"), "open?ssl?[31m");
        check(
            host_text(&"é".repeat(200)),
            format!("{}…", "é".repeat(120)).as_str(),
        );
    }
}
