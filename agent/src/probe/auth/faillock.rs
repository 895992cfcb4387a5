//! pam_faillock settings as the module applies them (Linux-PAM 1.5, `modules/pam_faillock`):
//! defaults `deny=3`, `fail_interval=900`, `unlock_time=600`; `/etc/security/faillock.conf` (or
//! the file named by `conf=`) is read first, then the module's arguments override it. `name =
//! value` lines, `#` comments, flags by their bare name; `unlock_time` and `root_unlock_time`
//! accept `never` (read as 0: manual unlock). An unknown option or a bad number is logged by the
//! module and ignored, and so it is here (as a problem). Not here: finding the PAM lines.

use std::collections::BTreeMap;

use vigie_proto::v1::Lockout;

use super::files::Lines;

pub(crate) const CONF: &str = "/etc/security/faillock.conf";

/// Largest interval pam_faillock accepts (`MAX_TIME_INTERVAL`, one week).
const MAX_TIME_INTERVAL: i64 = 604_800;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Settings {
    values: BTreeMap<&'static str, i64>,
    origins: BTreeMap<&'static str, String>,
}

const FLAGS: &[&str] = &[
    "audit",
    "silent",
    "no_log_info",
    "local_users_only",
    "nodelay",
    "even_deny_root",
];
const STRINGS: &[&str] = &["dir", "admin_group"];
/// Arguments that select the module's mode or are handled elsewhere.
const MODES: &[&str] = &["preauth", "authfail", "authsucc", "conf", "debug"];

impl Default for Settings {
    fn default() -> Self {
        let mut values = BTreeMap::new();
        values.insert("deny", 3);
        values.insert("fail_interval", 900);
        values.insert("unlock_time", 600);
        for f in FLAGS {
            values.insert(*f, 0);
        }
        Settings {
            values,
            origins: BTreeMap::new(),
        }
    }
}

impl Settings {
    fn get(&self, key: &str) -> Option<i64> {
        self.values.get(key).copied()
    }

    /// Sets one option; `Err` says why the module would ignore it.
    pub(crate) fn set(&mut self, name: &str, value: &str, origin: &str) -> Result<(), String> {
        let value = value.trim();
        if let Some(flag) = FLAGS.iter().find(|f| **f == name) {
            self.values.insert(flag, 1);
            self.origins.insert(flag, origin.to_owned());
            return Ok(());
        }
        if STRINGS.contains(&name) || MODES.contains(&name) {
            return Ok(());
        }
        let key: &'static str = match name {
            "deny" => "deny",
            "fail_interval" => "fail_interval",
            "unlock_time" => "unlock_time",
            "root_unlock_time" => "root_unlock_time",
            _ => return Err(format!("unknown option {:?}", super::pam::clip(name))),
        };
        let parsed = if key != "deny" && value == "never" {
            Some(0)
        } else {
            value.parse::<i64>().ok().filter(|v| *v >= 0)
        };
        let Some(mut v) = parsed else {
            return Err(format!("{name}: bad value {:?}", super::pam::clip(value)));
        };
        if key != "deny" {
            v = v.min(MAX_TIME_INTERVAL);
        }
        self.values.insert(key, v);
        self.origins.insert(key, origin.to_owned());
        Ok(())
    }

    /// Applies `faillock.conf`; bad lines are returned as problems and skipped.
    pub(crate) fn apply_file(&mut self, file: &str, lines: &Lines) -> Vec<String> {
        let mut problems = Vec::new();
        for (number, text) in lines {
            let text = match text.find('#') {
                Some(at) => text.get(..at).unwrap_or_default(),
                None => text.as_str(),
            };
            let text = text.trim();
            if text.is_empty() {
                continue;
            }
            let (name, value) = match text.split_once('=') {
                Some((n, v)) => (n.trim(), v.trim()),
                None => (text, ""),
            };
            let origin = format!("{file}:{number}");
            if let Err(e) = self.set(name, value, &origin) {
                problems.push(format!("{origin}: {e}: ignored by pam_faillock"));
            }
        }
        problems
    }

    /// Applies one PAM line's arguments.
    pub(crate) fn apply_args(&mut self, args: &[String], origin: &str) -> Vec<String> {
        let mut problems = Vec::new();
        for arg in args {
            let (name, value) = arg.split_once('=').unwrap_or((arg.as_str(), ""));
            if let Err(e) = self.set(name, value, origin) {
                problems.push(format!("{origin}: {e}: ignored by pam_faillock"));
            }
        }
        problems
    }

    /// The wire form; `enabled`, `module`, the stack lists and `location` are the caller's.
    pub(crate) fn to_wire(&self) -> Lockout {
        let u = |k: &str| self.get(k).and_then(|v| u32::try_from(v).ok()).unwrap_or(0);
        let unlock = u("unlock_time");
        Lockout {
            deny: u("deny"),
            fail_interval_secs: u("fail_interval"),
            unlock_time_secs: unlock,
            even_deny_root: u("even_deny_root") != 0,
            // Without its own setting, root's unlock time is the general one.
            root_unlock_time_secs: self
                .get("root_unlock_time")
                .and_then(|v| u32::try_from(v).ok())
                .unwrap_or(unlock),
            origins: self
                .origins
                .iter()
                .map(|(k, o)| format!("{k}={} ({o})", self.get(k).unwrap_or(0)))
                .collect(),
            ..Lockout::default()
        }
    }
}

/// The file named by a `conf=` argument, if any.
pub(crate) fn conf_arg(args: &[String]) -> Option<&str> {
    args.iter().find_map(|a| a.strip_prefix("conf="))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::auth::files::text_lines;

    #[track_caller]
    fn check(conf: &str, args: &[&str], expect: &str) {
        let mut s = Settings::default();
        let mut problems = s.apply_file("c", &text_lines(conf));
        let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        problems.extend(s.apply_args(&args, "pam"));
        let w = s.to_wire();
        let mut out = format!(
            "deny={} interval={} unlock={} root={} even_deny_root={} {:?}",
            w.deny,
            w.fail_interval_secs,
            w.unlock_time_secs,
            w.root_unlock_time_secs,
            w.even_deny_root,
            w.origins
        );
        for p in problems {
            out.push_str(&format!("\n{p}"));
        }
        assert_eq!(out, expect);
    }

    #[test]
    fn defaults_conf_and_argument_overrides() {
        check(
            "",
            &[],
            "deny=3 interval=900 unlock=600 root=600 even_deny_root=false []",
        );
        check(
            "# deny = 3\ndeny = 5\nunlock_time = never\neven_deny_root\nroot_unlock_time = 60\n",
            &[],
            "deny=5 interval=900 unlock=0 root=60 even_deny_root=true [\"deny=5 (c:2)\", \"even_deny_root=1 (c:4)\", \"root_unlock_time=60 (c:5)\", \"unlock_time=0 (c:3)\"]",
        );
        check(
            "deny = 5\nfail_interval = 900\n",
            &["authfail", "audit", "deny=20", "unlock_time=99999999"],
            "deny=20 interval=900 unlock=604800 root=604800 even_deny_root=false [\"audit=1 (pam)\", \"deny=20 (pam)\", \"fail_interval=900 (c:2)\", \"unlock_time=604800 (pam)\"]",
        );
    }

    #[test]
    fn bad_lines_are_ignored_like_the_module_does() {
        check(
            "deny = many\nfrob = 1\ndeny=-1\ndeny = 4\n\u{fffd}\n",
            &["unlock_time=soon"],
            "deny=4 interval=900 unlock=600 root=600 even_deny_root=false [\"deny=4 (c:4)\"]\nc:1: deny: bad value \"many\": ignored by pam_faillock\nc:2: unknown option \"frob\": ignored by pam_faillock\nc:3: deny: bad value \"-1\": ignored by pam_faillock\nc:5: unknown option \"\u{fffd}\": ignored by pam_faillock\npam: unlock_time: bad value \"soon\": ignored by pam_faillock",
        );
        assert_eq!(
            conf_arg(&["authfail".into(), "conf=/etc/x.conf".into()]),
            Some("/etc/x.conf")
        );
    }
}
