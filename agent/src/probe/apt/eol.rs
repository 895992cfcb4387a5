//! End of life of Debian and Ubuntu releases, from a small table compiled into the agent and keyed
//! by os-release `ID` and `VERSION_ID`. Not here: any other OS, or how close to EOL is a problem.
//!
//! Source: Debian's and Ubuntu's own `distro-info-data` (`/usr/share/distro-info/debian.csv`,
//! `ubuntu.csv`, package version 0.58+deb12u6 as installed on Debian 12), cross-checked with
//! <https://wiki.debian.org/LTS> and <https://wiki.ubuntu.com/Releases>. Table as of 2026-11-01;
//! future dates are announced dates and may move: update the table with each agent release.

use crate::probe::apt::host::days_from_civil;

/// A calendar date, (year, month, day).
type Ymd = (i64, i64, i64);

/// One release: (`ID`, `VERSION_ID`, end of regular security support, end of free support).
/// For Debian the second date is the end of LTS, which still ships security updates through the
/// same archive for the main architectures; for Ubuntu it is the end of standard support (ESM
/// needs a Pro subscription, so it is not counted).
const TABLE: &[(&str, &str, Ymd, Ymd)] = &[
    ("debian", "10", (2022, 9, 10), (2024, 6, 30)),
    ("debian", "11", (2024, 8, 14), (2026, 8, 31)),
    ("debian", "12", (2026, 7, 11), (2028, 6, 30)),
    ("debian", "13", (2028, 8, 9), (2030, 6, 30)),
    ("ubuntu", "20.04", (2025, 5, 29), (2025, 5, 29)),
    ("ubuntu", "22.04", (2027, 6, 1), (2027, 6, 1)),
    ("ubuntu", "24.04", (2029, 5, 31), (2029, 5, 31)),
];

/// Support dates of one release, UTC milliseconds at midnight of the day support ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Support {
    pub security_end_ms: i64,
    pub end_of_life_ms: i64,
}

/// The support dates of (`ID`, `VERSION_ID`), or `None` when the table does not know the release.
pub fn lookup(os_id: &str, version_id: &str) -> Option<Support> {
    let to_ms = |(y, m, d): (i64, i64, i64)| days_from_civil(y, m, d) * 86_400_000;
    TABLE
        .iter()
        .find(|(id, v, _, _)| *id == os_id && *v == version_id)
        .map(|&(_, _, sec, eol)| Support {
            security_end_ms: to_ms(sec),
            end_of_life_ms: to_ms(eol),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(id: &str, version: &str, expect_eol_day: Option<i64>) {
        let got = lookup(id, version).map(|s| s.end_of_life_ms / 86_400_000);
        assert_eq!(got, expect_eol_day);
    }

    #[test]
    fn table_lookups() {
        check("debian", "12", Some(days_from_civil(2028, 6, 30)));
        check("debian", "10", Some(days_from_civil(2024, 6, 30)));
        check("ubuntu", "22.04", Some(days_from_civil(2027, 6, 1)));
        check("ubuntu", "22.10", None);
        check("debian", "", None);
        check("fedora", "40", None);
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(
            lookup("debian", "12").unwrap().security_end_ms,
            days_from_civil(2026, 7, 11) * 86_400_000
        );
    }
}
