//! `/etc/login.defs` (shadow-utils): `NAME value` lines, `#` comment lines, the value being the
//! first word after the name with surrounding double quotes removed; a name given twice keeps its
//! last value, as shadow's `getdef.c` overwrites on each line. Only the settings Vigie judges are
//! kept: password ageing, the hash method of shadow's own tools, and the default umask. Not here:
//! the per-account ageing of `/etc/shadow` (the accounts probe).

use vigie_proto::v1::LoginDefs;

use super::files::Lines;

pub(crate) const PATH: &str = "/etc/login.defs";

/// Parses the lines of login.defs; numeric values that do not parse are returned as problems and
/// left unset.
pub(crate) fn parse(lines: &Lines, problem: &mut dyn FnMut(String)) -> LoginDefs {
    let mut out = LoginDefs {
        present: true,
        ..LoginDefs::default()
    };
    for (number, text) in lines {
        let text = text.trim();
        if text.is_empty() || text.starts_with('#') {
            continue;
        }
        let mut words = text.split_whitespace();
        let (Some(name), value) = (words.next(), words.next().unwrap_or_default()) else {
            continue;
        };
        let value = value.trim_matches('"');
        let mut number_of = |v: &str| match v.parse::<i64>() {
            Ok(n) => Some(n),
            Err(_) => {
                problem(format!(
                    "{PATH}:{number}: {name}: {:?} is not a number, ignored",
                    super::pam::clip(v)
                ));
                None
            }
        };
        match name {
            "PASS_MAX_DAYS" => out.pass_max_days = number_of(value),
            "PASS_MIN_DAYS" => out.pass_min_days = number_of(value),
            "PASS_WARN_AGE" => out.pass_warn_age = number_of(value),
            "ENCRYPT_METHOD" => out.encrypt_method = super::pam::clip(value),
            "UMASK" => out.umask = super::pam::clip(value),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::auth::files::text_lines;

    #[track_caller]
    fn check(text: &str, expect: &str) {
        let mut problems = Vec::new();
        let d = parse(&text_lines(text), &mut |m| problems.push(m));
        let mut out = format!(
            "max={:?} min={:?} warn={:?} method={:?} umask={:?}",
            d.pass_max_days, d.pass_min_days, d.pass_warn_age, d.encrypt_method, d.umask
        );
        for p in problems {
            out.push_str(&format!("\n{p}"));
        }
        assert_eq!(out, expect);
    }

    #[test]
    fn parses_debian_defaults_and_odd_input() {
        check(
            "#\n# PASS_MAX_DAYS 1\nUMASK\t\t022\nPASS_MAX_DAYS\t99999\nPASS_MIN_DAYS\t0\nPASS_WARN_AGE\t7\nENCRYPT_METHOD SHA512\n",
            "max=Some(99999) min=Some(0) warn=Some(7) method=\"SHA512\" umask=\"022\"",
        );
        check(
            "PASS_MAX_DAYS 60\nPASS_MAX_DAYS 90\nENCRYPT_METHOD \"YESCRYPT\" trailing\n",
            "max=Some(90) min=None warn=None method=\"YESCRYPT\" umask=\"\"",
        );
        check(
            "PASS_MAX_DAYS lots\nPASS_MIN_DAYS\n\u{fffd}\u{fffd} 3\n",
            "max=None min=None warn=None method=\"\" umask=\"\"\n/etc/login.defs:1: PASS_MAX_DAYS: \"lots\" is not a number, ignored\n/etc/login.defs:2: PASS_MIN_DAYS: \"\" is not a number, ignored",
        );
        check("", "max=None min=None warn=None method=\"\" umask=\"\"");
    }
}
