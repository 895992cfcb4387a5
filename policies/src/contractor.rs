//! An organisation's contractor policy (ACC-004): the time windows in which contractors may log in,
//! in the organisation's IANA time zone, and the networks they may come from.
//!
//! Windows are computed with a time-zone-aware calendar (DESIGN decision 16): a login's UTC instant
//! is converted to the zone's civil time with the bundled tz database (no I/O), so a window such as
//! `mon-fri 08:00-18:00 Europe/Paris` follows the daylight-saving changes. Spelling: days are
//! English or French three-letter names (`mon`…`sun`, `lun`…`dim`), single, ranges (`mon-fri`,
//! wrapping ranges such as `sat-mon` allowed) or comma lists; the times are `HH:MM` with the end after
//! the start (`24:00` allowed); a window crossing midnight is written as two windows.

use std::net::IpAddr;

/// What an organisation declares, as the admin wrote it; checked by [`ContractorPolicy::compile`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContractorPolicy {
    /// e.g. `mon-fri 08:00-18:00`; empty: any time.
    pub windows: Vec<String>,
    /// IANA zone name, e.g. `Europe/Paris`.
    pub time_zone: String,
    /// CIDRs (or single addresses), e.g. `192.0.2.0/24`; empty: any source.
    pub sources: Vec<String>,
}

/// Why a policy is not usable; the text names the offending entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("window {0:?}: expected `DAYS HH:MM-HH:MM`, e.g. `mon-fri 08:00-18:00`")]
    Window(String),
    #[error("time zone {0:?} is not an IANA zone name")]
    TimeZone(String),
    #[error("source {0:?} is not an address or CIDR")]
    Source(String),
    #[error("a contractor policy needs at least one window or one source")]
    Empty,
}

/// A policy ready to judge logins.
#[derive(Debug, Clone)]
pub struct CompiledPolicy {
    windows: Vec<Window>,
    zone: jiff::tz::TimeZone,
    zone_name: String,
    sources: Vec<(IpAddr, u8)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Window {
    /// Bit 0 = Monday … bit 6 = Sunday.
    days: u8,
    start_min: u16,
    end_min: u16,
}

/// A login judged against a policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginVerdict {
    pub in_window: bool,
    pub from_allowed_source: bool,
    /// e.g. `lun. 30/03/2026 09:30`.
    pub local_time: String,
}

const DAYS_EN: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const DAYS_FR: [&str; 7] = ["lun", "mar", "mer", "jeu", "ven", "sam", "dim"];

impl ContractorPolicy {
    /// Parses every entry; all problems are returned.
    pub fn compile(&self) -> Result<CompiledPolicy, Vec<PolicyError>> {
        let mut problems = Vec::new();
        if self.windows.is_empty() && self.sources.is_empty() {
            problems.push(PolicyError::Empty);
        }
        let windows: Vec<Window> = self
            .windows
            .iter()
            .filter_map(|w| {
                parse_window(w)
                    .ok_or_else(|| problems.push(PolicyError::Window(w.clone())))
                    .ok()
            })
            .collect();
        let sources: Vec<(IpAddr, u8)> = self
            .sources
            .iter()
            .filter_map(|s| {
                parse_cidr(s)
                    .ok_or_else(|| problems.push(PolicyError::Source(s.clone())))
                    .ok()
            })
            .collect();
        let zone = match jiff::tz::TimeZone::get(self.time_zone.trim()) {
            Ok(z) if !self.time_zone.trim().is_empty() => Some(z),
            _ => {
                problems.push(PolicyError::TimeZone(self.time_zone.clone()));
                None
            }
        };
        match zone {
            Some(zone) if problems.is_empty() => Ok(CompiledPolicy {
                windows,
                zone,
                zone_name: self.time_zone.trim().to_owned(),
                sources,
            }),
            _ => Err(problems),
        }
    }
}

impl CompiledPolicy {
    /// The zone's name, as declared.
    pub fn zone_name(&self) -> &str {
        &self.zone_name
    }

    /// Judges one login: `at_ms` UTC, `source` as sshd wrote it.
    pub fn judge(&self, at_ms: i64, source: &str) -> LoginVerdict {
        let zoned = jiff::Timestamp::from_millisecond(at_ms)
            .ok()
            .map(|t| t.to_zoned(self.zone.clone()));
        let in_window = self.windows.is_empty()
            || zoned.as_ref().is_some_and(|z| {
                let day = z.weekday().to_monday_zero_offset();
                let minute = u16::try_from(i32::from(z.hour()) * 60 + i32::from(z.minute()))
                    .unwrap_or(u16::MAX);
                self.windows.iter().any(|w| {
                    w.days & (1 << day) != 0 && w.start_min <= minute && minute < w.end_min
                })
            });
        let addr = source.trim().parse::<IpAddr>().ok().map(canonical);
        let from_allowed_source = self.sources.is_empty()
            || addr.is_some_and(|a| {
                self.sources
                    .iter()
                    .any(|(net, len)| contains(*net, *len, a))
            });
        let local_time = zoned.map_or_else(
            || "date invalide".to_owned(),
            |z| {
                let day = DAYS_FR
                    .get(usize::try_from(z.weekday().to_monday_zero_offset()).unwrap_or(0))
                    .copied()
                    .unwrap_or("?");
                format!(
                    "{day}. {:02}/{:02}/{} {:02}:{:02}",
                    z.day(),
                    z.month(),
                    z.year(),
                    z.hour(),
                    z.minute()
                )
            },
        );
        LoginVerdict {
            in_window,
            from_allowed_source,
            local_time,
        }
    }
}

fn day_index(s: &str) -> Option<u8> {
    let s = s.trim().to_ascii_lowercase();
    let i = DAYS_EN
        .iter()
        .position(|d| *d == s)
        .or_else(|| DAYS_FR.iter().position(|d| *d == s))?;
    u8::try_from(i).ok()
}

fn parse_window(spec: &str) -> Option<Window> {
    let mut parts = spec.split_whitespace();
    let days_spec = parts.next()?;
    let times = parts.next()?;
    if parts.next().is_some() {
        return None;
    }
    let mut days = 0u8;
    for item in days_spec.split(',') {
        match item.split_once('-') {
            Some((a, b)) => {
                let (mut a, b) = (day_index(a)?, day_index(b)?);
                loop {
                    days |= 1 << a;
                    if a == b {
                        break;
                    }
                    a = (a + 1) % 7;
                }
            }
            None => days |= 1 << day_index(item)?,
        }
    }
    let (start, end) = times.split_once('-')?;
    let (start_min, end_min) = (parse_hhmm(start)?, parse_hhmm(end)?);
    (start_min < end_min).then_some(Window {
        days,
        start_min,
        end_min,
    })
}

fn parse_hhmm(s: &str) -> Option<u16> {
    let (h, m) = s.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
    let total = h * 60 + m;
    (m < 60 && total <= 24 * 60).then_some(total)
}

/// IPv4-mapped IPv6 addresses (`::ffff:192.0.2.1`, as sshd may log them) compare as IPv4.
fn canonical(a: IpAddr) -> IpAddr {
    match a {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(a, IpAddr::V4),
        v4 => v4,
    }
}

fn parse_cidr(s: &str) -> Option<(IpAddr, u8)> {
    let s = s.trim();
    let (addr, len) = match s.split_once('/') {
        Some((a, l)) => (canonical(a.parse().ok()?), Some(l.parse::<u8>().ok()?)),
        None => (canonical(s.parse().ok()?), None),
    };
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let len = len.unwrap_or(max);
    (len <= max).then_some((addr, len))
}

fn contains(net: IpAddr, len: u8, a: IpAddr) -> bool {
    let (n, x, bits): (u128, u128, u32) = match (net, a) {
        (IpAddr::V4(n), IpAddr::V4(x)) => (u32::from(n).into(), u32::from(x).into(), 32),
        (IpAddr::V6(n), IpAddr::V6(x)) => (u128::from(n), u128::from(x), 128),
        _ => return false,
    };
    let len = u32::from(len);
    if len == 0 {
        return true;
    }
    let shift = bits - len;
    (n >> shift) == (x >> shift)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(windows: &[&str], sources: &[&str]) -> CompiledPolicy {
        ContractorPolicy {
            windows: windows.iter().map(|s| s.to_string()).collect(),
            time_zone: "Europe/Paris".to_owned(),
            sources: sources.iter().map(|s| s.to_string()).collect(),
        }
        .compile()
        .unwrap()
    }

    fn utc(s: &str) -> i64 {
        s.parse::<jiff::Timestamp>().unwrap().as_millisecond()
    }

    #[track_caller]
    fn check(p: &CompiledPolicy, at: &str, inside: bool, local: &str) {
        let v = p.judge(utc(at), "192.0.2.1");
        assert_eq!(
            (v.in_window, v.local_time.as_str()),
            (inside, local),
            "{at}"
        );
    }

    #[test]
    fn windows_across_the_2026_daylight_saving_changes() {
        let p = policy(&["mon-fri 08:00-18:00"], &[]);
        // Summer time starts on 29 March 2026: Paris is UTC+2 on the 30th, UTC+1 on the 27th.
        check(&p, "2026-03-30T07:30:00Z", true, "lun. 30/03/2026 09:30");
        check(&p, "2026-03-27T07:30:00Z", true, "ven. 27/03/2026 08:30");
        check(&p, "2026-03-30T06:30:00Z", true, "lun. 30/03/2026 08:30");
        check(&p, "2026-03-27T06:30:00Z", false, "ven. 27/03/2026 07:30");
        // Winter time returns on 25 October 2026: 16:30 UTC is 18:30 on Friday 23rd, 17:30 on
        // Monday 26th.
        check(&p, "2026-10-23T16:30:00Z", false, "ven. 23/10/2026 18:30");
        check(&p, "2026-10-26T16:30:00Z", true, "lun. 26/10/2026 17:30");
        // The weekend, in Paris time: Friday 23:30 UTC is already Saturday.
        check(&p, "2026-03-27T23:30:00Z", false, "sam. 28/03/2026 00:30");
        // The end is excluded.
        check(&p, "2026-03-30T16:00:00Z", false, "lun. 30/03/2026 18:00");
    }

    #[test]
    fn window_spelling() {
        assert_eq!(
            parse_window("lun-ven 08:00-18:00"),
            parse_window("mon-fri 08:00-18:00")
        );
        assert_eq!(
            parse_window("sat-mon 00:00-24:00").unwrap().days,
            0b110_0001
        );
        assert_eq!(parse_window("mon,wed 08:00-12:00").unwrap().days, 0b101);
        for bad in [
            "",
            "mon",
            "mon 18:00-08:00",
            "xyz 08:00-18:00",
            "mon 8:00-18:00",
            "mon 08:00-24:01",
            "mon 08:60-09:00",
            "mon 08:00-18:00 extra",
        ] {
            assert_eq!(parse_window(bad), None, "{bad}");
        }
    }

    #[test]
    fn sources() {
        let p = policy(&[], &["192.0.2.0/24", "2001:db8::/32", "198.51.100.7"]);
        let ok = |s: &str| p.judge(0, s).from_allowed_source;
        assert!(ok("192.0.2.200"));
        assert!(ok("::ffff:192.0.2.1"));
        assert!(ok("2001:db8:1::5"));
        assert!(ok("198.51.100.7"));
        assert!(!ok("198.51.100.8"));
        assert!(!ok("203.0.113.7"));
        assert!(!ok("UNKNOWN"));
        assert!(!ok("<script>"));
    }

    #[test]
    fn compile_reports_every_problem() {
        let errs = ContractorPolicy {
            windows: vec!["bad".into()],
            time_zone: "Mars/Olympus".into(),
            sources: vec!["10.0.0.0/33".into()],
        }
        .compile()
        .unwrap_err();
        assert_eq!(errs.len(), 3, "{errs:?}");
        let errs = ContractorPolicy {
            time_zone: "UTC".into(),
            ..Default::default()
        }
        .compile()
        .unwrap_err();
        assert_eq!(errs, [PolicyError::Empty]);
    }
}
