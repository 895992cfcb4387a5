//! The time texts ClamAV writes, turned into UTC milliseconds: the C `ctime` form of its logs and of
//! clamd's VERSION answer (`Thu Nov 28 08:16:02 2024`), and the CVD header's own form
//! (`14 Jul 2021 14-29 -0400`). Pure and total: any other input is `None`. Not here: reading files.
//!
//! `ctime` texts carry no offset: ClamAV writes the host's local time. They are read as UTC, which is
//! off by the host's offset (one or two hours in France); every threshold using them is counted in
//! hours or days, and the CVD epoch, which is exact, is preferred wherever it exists.

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const DAY_MS: i64 = 86_400_000;

/// `Thu Nov 28 08:16:02 2024` (the weekday is ignored, extra spaces tolerated) read as UTC.
pub fn ctime_ms(text: &str) -> Option<i64> {
    let mut it = text.split_whitespace();
    let _weekday = it.next()?;
    let month = month_number(it.next()?)?;
    let day: i64 = it.next()?.parse().ok()?;
    let mut clock = it.next()?.split(':');
    let year: i64 = it.next()?.parse().ok()?;
    if it.next().is_some() {
        return None;
    }
    let h: i64 = clock.next()?.parse().ok()?;
    let m: i64 = clock.next()?.parse().ok()?;
    let s: i64 = clock.next()?.parse().ok()?;
    if clock.next().is_some() {
        return None;
    }
    utc_ms(year, month, day, h, m, s)
}

/// `14 Jul 2021 14-29 -0400`: the CVD header's build time text, with its offset applied.
pub fn cvd_time_ms(text: &str) -> Option<i64> {
    let mut it = text.split_whitespace();
    let day: i64 = it.next()?.parse().ok()?;
    let month = month_number(it.next()?)?;
    let year: i64 = it.next()?.parse().ok()?;
    let (h, m) = it.next()?.split_once('-')?;
    let (h, m): (i64, i64) = (h.parse().ok()?, m.parse().ok()?);
    let offset_min = match it.next() {
        None => 0,
        Some(tz) => offset_minutes(tz)?,
    };
    if it.next().is_some() {
        return None;
    }
    let local = utc_ms(year, month, day, h, m, 0)?;
    local.checked_sub(offset_min.checked_mul(60_000)?)
}

/// `-0400` → -240; `+0130` → 90.
fn offset_minutes(tz: &str) -> Option<i64> {
    let (sign, digits) = match tz.as_bytes().first()? {
        b'+' => (1, tz.get(1..)?),
        b'-' => (-1, tz.get(1..)?),
        _ => return None,
    };
    if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let hh: i64 = digits.get(0..2)?.parse().ok()?;
    let mm: i64 = digits.get(2..4)?.parse().ok()?;
    (hh <= 14 && mm < 60).then_some(sign * (hh * 60 + mm))
}

fn month_number(name: &str) -> Option<i64> {
    let pos = MONTHS.iter().position(|m| m.eq_ignore_ascii_case(name))?;
    i64::try_from(pos).ok().map(|p| p + 1)
}

/// UTC milliseconds of a civil date and time, or `None` when a field is out of range.
fn utc_ms(year: i64, month: i64, day: i64, h: i64, m: i64, s: i64) -> Option<i64> {
    let valid = (1970..=9999).contains(&year)
        && (1..=12).contains(&month)
        && (1..=31).contains(&day)
        && (0..24).contains(&h)
        && (0..60).contains(&m)
        && (0..=60).contains(&s);
    if !valid {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some(days * DAY_MS + ((h * 60 + m) * 60 + s) * 1000)
}

/// `2024-11-28 08:16 UTC`, for human summaries.
pub fn utc_text(ms: i64) -> String {
    let days = ms.div_euclid(DAY_MS);
    let minutes = ms.rem_euclid(DAY_MS) / 60_000;
    // Howard Hinnant's `civil_from_days`.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        minutes / 60,
        minutes % 60
    )
}

/// Howard Hinnant's `days_from_civil`: days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(actual: Option<i64>, expect: Option<i64>) {
        assert_eq!(actual, expect);
    }

    #[test]
    fn ctime_texts() {
        // 2024-11-28T08:16:02Z
        check(
            ctime_ms("Thu Nov 28 08:16:02 2024"),
            Some(1_732_781_762_000),
        );
        check(
            ctime_ms("Sun Jan  5 00:00:00 2025"),
            Some(1_736_035_200_000),
        );
        check(ctime_ms("Thu Nov 28 08:16:02"), None);
        check(ctime_ms("Thu Foo 28 08:16:02 2024"), None);
        check(ctime_ms("Thu Nov 28 25:16:02 2024"), None);
        check(ctime_ms("Thu Nov 28 08:16:02 2024 extra"), None);
        check(ctime_ms(""), None);
        assert_eq!(utc_text(1_732_781_762_000), "2024-11-28 08:16 UTC");
        assert_eq!(utc_text(0), "1970-01-01 00:00 UTC");
    }

    #[test]
    fn cvd_time_texts() {
        // 14 Jul 2021 14:29 at -0400 is 18:29 UTC.
        check(
            cvd_time_ms("14 Jul 2021 14-29 -0400"),
            Some(1_626_287_340_000),
        );
        check(
            cvd_time_ms("14 Jul 2021 18-29 +0000"),
            Some(1_626_287_340_000),
        );
        check(cvd_time_ms("14 Jul 2021 18-29"), Some(1_626_287_340_000));
        check(cvd_time_ms("14 Jul 2021 14:29 -0400"), None);
        check(cvd_time_ms("14 Jul 2021 14-29 EDT"), None);
        check(cvd_time_ms("14 Jul 2021 14-29 -99999"), None);
        check(cvd_time_ms("32 Jul 2021 14-29 -0400"), None);
    }
}
