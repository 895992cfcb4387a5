//! The few date formats backup tools print, turned into UTC milliseconds: RFC 3339 with an offset
//! (restic), a zone-less `YYYY-MM-DDTHH:MM:SS[.ffffff]` (borg, printed under `TZ=UTC`), and
//! systemd's `Www YYYY-MM-DD HH:MM:SS ZONE` (only `UTC`, which `TZ=UTC` makes systemctl print).
//! Pure functions; anything unexpected is `None`, never a guess. Not here: the clock.

/// Days from 1970-01-01 to the given proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn num(s: &str) -> Option<i64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// `YYYY-MM-DD` and `HH:MM:SS[.fraction]` as milliseconds, as if in UTC.
fn date_time_ms(date: &str, time: &str) -> Option<i64> {
    let mut d = date.split('-');
    let (y, mo, da) = (num(d.next()?)?, num(d.next()?)?, num(d.next()?)?);
    if d.next().is_some()
        || !(1970..=9999).contains(&y)
        || !(1..=12).contains(&mo)
        || !(1..=31).contains(&da)
    {
        return None;
    }
    let (hms, frac) = match time.split_once('.') {
        Some((hms, frac)) => (hms, Some(frac)),
        None => (time, None),
    };
    let mut t = hms.split(':');
    let (h, mi, s) = (num(t.next()?)?, num(t.next()?)?, num(t.next()?)?);
    if t.next().is_some() || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let millis = match frac {
        None => 0,
        Some(f) => {
            if f.is_empty() || f.len() > 9 || !f.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let first3: String = f.chars().chain(std::iter::repeat('0')).take(3).collect();
            num(&first3)?
        }
    };
    let days = days_from_civil(y, mo, da);
    Some(((days * 86_400 + h * 3600 + mi * 60 + s) * 1000) + millis)
}

/// RFC 3339 as restic prints it: `2026-11-28T03:00:01.123456789+01:00` or `...Z`.
pub fn rfc3339_ms(text: &str) -> Option<i64> {
    let (date, rest) = text.split_once('T').or_else(|| text.split_once(' '))?;
    let (time, offset_secs) =
        if let Some(t) = rest.strip_suffix('Z').or_else(|| rest.strip_suffix('z')) {
            (t, 0)
        } else {
            let pos = rest.rfind(['+', '-'])?;
            let (t, off) = rest.split_at(pos);
            let sign = if off.starts_with('-') { -1 } else { 1 };
            let (oh, om) = off.get(1..)?.split_once(':')?;
            let (oh, om) = (num(oh)?, num(om)?);
            if oh > 23 || om > 59 {
                return None;
            }
            (t, sign * (oh * 3600 + om * 60))
        };
    Some(date_time_ms(date, time)? - offset_secs * 1000)
}

/// A zone-less local time (`2026-11-28T03:00:01.123456`) whose offset from UTC is `offset_secs`.
pub fn naive_ms(text: &str, offset_secs: i64) -> Option<i64> {
    let (date, time) = text.split_once('T')?;
    Some(date_time_ms(date, time)? - offset_secs * 1000)
}

/// systemd's timestamp `Sat 2026-11-28 03:00:01 UTC`; empty or `n/a` is `None`.
pub fn systemd_ms(text: &str) -> Option<i64> {
    let mut words = text.split_whitespace();
    let (_weekday, date, time, zone) = (words.next()?, words.next()?, words.next()?, words.next()?);
    if words.next().is_some() || !matches!(zone, "UTC" | "GMT") {
        return None;
    }
    date_time_ms(date, time)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(got: Option<i64>, expect: Option<i64>) {
        assert_eq!(got, expect);
    }

    #[test]
    fn formats() {
        check(rfc3339_ms("1970-01-01T00:00:00Z"), Some(0));
        check(
            rfc3339_ms("2026-11-28T03:00:01.5+01:00"),
            Some(1_795_831_201_500),
        );
        check(
            rfc3339_ms("2026-11-28T02:00:01.500999999Z"),
            Some(1_795_831_201_500),
        );
        check(
            rfc3339_ms("2024-02-29T12:00:00-05:30"),
            Some(1_709_227_800_000),
        );
        check(rfc3339_ms("2026-13-01T00:00:00Z"), None);
        check(rfc3339_ms("garbage"), None);
        check(rfc3339_ms("2026-11-28T03:00:01"), None);
        check(
            naive_ms("2026-11-28T02:00:01.500000", 0),
            Some(1_795_831_201_500),
        );
        check(
            naive_ms("2026-11-28T03:00:01", 3600),
            Some(1_795_831_201_000),
        );
        check(naive_ms("2026-11-28 03:00:01", 0), None);
        check(
            systemd_ms("Sat 2026-11-28 02:00:01 UTC"),
            Some(1_795_831_201_000),
        );
        check(systemd_ms("Sat 2026-11-28 03:00:01 CET"), None);
        check(systemd_ms(""), None);
        check(systemd_ms("n/a"), None);
    }
}
