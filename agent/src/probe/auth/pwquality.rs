//! Password-quality settings as libpwquality and pam_pwquality (or the older pam_cracklib) apply
//! them. Semantics follow libpwquality 1.4 (`src/settings.c`, as shipped in Debian 12 and RHEL 9):
//! the `*.conf` files of `/etc/security/pwquality.conf.d` are read first, in `strcmp` order, then
//! `/etc/security/pwquality.conf`; each `name = value` line overwrites the value, so the last one
//! read wins; the first unknown or invalid setting stops the reading (the rest of that file and
//! every later file are not applied); a line over 1023 bytes makes the file malformed. pam_pwquality
//! then applies its own arguments, which override every file. `minlen` below 6 reads as 6 and
//! `minclass` above 4 as 4, as in `pwquality_set_int_value`. Not here: which PAM line is used.

use std::collections::BTreeMap;

use vigie_proto::v1::PasswordQuality;

use super::files::Lines;

/// libpwquality's `PWQSETTINGS_MAX_LINELEN`.
const MAX_CONF_LINE: usize = 1023;
pub(crate) const CONF: &str = "/etc/security/pwquality.conf";
pub(crate) const CONF_DIR: &str = "/etc/security/pwquality.conf.d";

/// The effective settings and where the non-default ones came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Settings {
    pub(crate) values: BTreeMap<&'static str, i64>,
    pub(crate) origins: BTreeMap<&'static str, String>,
}

/// Integer settings with their libpwquality 1.4 defaults.
const INT_DEFAULTS: &[(&str, i64)] = &[
    ("difok", 1),
    ("minlen", 8),
    ("dcredit", 0),
    ("ucredit", 0),
    ("lcredit", 0),
    ("ocredit", 0),
    ("minclass", 0),
    ("maxrepeat", 0),
    ("maxclassrepeat", 0),
    ("maxsequence", 0),
    ("gecoscheck", 0),
    ("dictcheck", 1),
    ("usercheck", 1),
    ("usersubstr", 0),
    ("enforcing", 1),
    ("retry", 1),
];
/// Flags set by their mere presence.
const FLAGS: &[&str] = &["enforce_for_root", "local_users_only"];
/// String settings: accepted, not carried (a word list is not a policy number).
const STRINGS: &[&str] = &["badwords", "dictpath"];

impl Settings {
    /// libpwquality's defaults.
    pub(crate) fn pwquality() -> Self {
        let mut values: BTreeMap<&'static str, i64> = INT_DEFAULTS.iter().copied().collect();
        for flag in FLAGS {
            values.insert(flag, 0);
        }
        Settings {
            values,
            origins: BTreeMap::new(),
        }
    }

    /// pam_cracklib's defaults: Linux-PAM's older module, with credits on, a 9-character base and
    /// no configuration file; it always checks the dictionary.
    pub(crate) fn cracklib() -> Self {
        let mut s = Settings::pwquality();
        for (k, v) in [
            ("difok", 5),
            ("minlen", 9),
            ("dcredit", 1),
            ("ucredit", 1),
            ("lcredit", 1),
            ("ocredit", 1),
            ("usercheck", 0),
        ] {
            s.values.insert(k, v);
        }
        s
    }

    pub(crate) fn get(&self, key: &str) -> i64 {
        self.values.get(key).copied().unwrap_or(0)
    }

    /// Sets one setting as `set_name_value` does; `Err` names why libpwquality would refuse it.
    pub(crate) fn set(&mut self, name: &str, value: &str, origin: &str) -> Result<(), String> {
        let value = value.trim();
        if let Some(key) = FLAGS.iter().find(|f| **f == name) {
            self.values.insert(key, 1);
            self.origins.insert(key, origin.to_owned());
            return Ok(());
        }
        if STRINGS.contains(&name) {
            return Ok(());
        }
        let Some((key, _)) = INT_DEFAULTS.iter().find(|(k, _)| *k == name) else {
            return Err(format!("unknown setting {:?}", super::pam::clip(name)));
        };
        let Ok(mut v) = value.parse::<i64>() else {
            return Err(format!(
                "{name}: {:?} is not an integer",
                super::pam::clip(value)
            ));
        };
        if *key == "minlen" {
            v = v.max(6);
        }
        if *key == "minclass" {
            v = v.min(4);
        }
        self.values.insert(key, v);
        self.origins.insert(key, origin.to_owned());
        Ok(())
    }

    /// Applies one configuration file; stops at the first refused line, returning its problem.
    pub(crate) fn apply_file(&mut self, file: &str, lines: &Lines) -> Result<(), String> {
        for (number, text) in lines {
            if text.len() > MAX_CONF_LINE {
                return Err(format!(
                    "{file}:{number}: line longer than {MAX_CONF_LINE} bytes: libpwquality stops reading here"
                ));
            }
            let text = match text.find('#') {
                Some(at) => text.get(..at).unwrap_or_default(),
                None => text.as_str(),
            };
            let text = text.trim();
            if text.is_empty() {
                continue;
            }
            let (name, value) = match text.find(|c: char| c == '=' || c.is_whitespace()) {
                Some(at) => {
                    let (n, rest) = text.split_at(at);
                    let rest = rest.trim_start();
                    (n, rest.strip_prefix('=').unwrap_or(rest))
                }
                None => (text, ""),
            };
            let origin = format!("{file}:{number}");
            self.set(name, value, &origin)
                .map_err(|e| format!("{file}:{number}: {e}: libpwquality stops reading here"))?;
        }
        Ok(())
    }

    /// Applies the module's arguments (they override the files). Arguments the module handles
    /// itself are skipped; unknown ones are returned as problems, the module logs and ignores them.
    pub(crate) fn apply_args(
        &mut self,
        args: &[String],
        origin: &str,
        cracklib: bool,
    ) -> Vec<String> {
        let mut problems = Vec::new();
        for arg in args {
            let (name, value) = arg.split_once('=').unwrap_or((arg.as_str(), ""));
            match name {
                "debug" | "use_authtok" | "use_first_pass" | "try_first_pass" | "authtok_type"
                | "type" | "difignore" | "conf" => {}
                "reject_username" => {
                    self.values.insert("usercheck", 1);
                    self.origins.insert("usercheck", origin.to_owned());
                }
                _ => {
                    if let Err(e) = self.set(name, value, origin) {
                        if !cracklib {
                            problems.push(format!("{origin}: {e}: ignored by the module"));
                        }
                    }
                }
            }
        }
        problems
    }

    /// The wire form; `module`, `location`, `control`, `stack` and `enforced` are the caller's.
    pub(crate) fn to_wire(&self) -> PasswordQuality {
        let u = |k: &str| u32::try_from(self.get(k).max(0)).unwrap_or(u32::MAX);
        let i = |k: &str| i32::try_from(self.get(k)).unwrap_or(0);
        PasswordQuality {
            minlen: u("minlen"),
            minclass: u("minclass"),
            dcredit: i("dcredit"),
            ucredit: i("ucredit"),
            lcredit: i("lcredit"),
            ocredit: i("ocredit"),
            dictcheck: self.get("dictcheck") != 0,
            usercheck: self.get("usercheck") != 0,
            enforcing: self.get("enforcing") != 0,
            enforce_for_root: self.get("enforce_for_root") != 0,
            retry: u("retry"),
            difok: u("difok"),
            maxrepeat: u("maxrepeat"),
            maxclassrepeat: u("maxclassrepeat"),
            maxsequence: u("maxsequence"),
            gecoscheck: self.get("gecoscheck") != 0,
            origins: self
                .origins
                .iter()
                .map(|(k, o)| format!("{k}={} ({o})", self.get(k)))
                .collect(),
            interpreted: true,
            ..PasswordQuality::default()
        }
    }
}

/// The `.conf` files of the drop-in directory, in the order libpwquality reads them: names that
/// end exactly in `.conf`, sorted bytewise.
pub(crate) fn drop_in_names(names: &[String]) -> Vec<String> {
    let mut out: Vec<String> = names
        .iter()
        .filter(|n| n.ends_with(".conf"))
        .cloned()
        .collect();
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::auth::files::text_lines;

    /// Applies the files in order (stopping like libpwquality), then the arguments, and renders
    /// the settings that differ from the defaults plus the problems.
    #[track_caller]
    fn check(files: &[&str], args: &[&str], expect: &str) {
        let mut s = Settings::pwquality();
        let mut problems = Vec::new();
        for (n, text) in files.iter().enumerate() {
            if let Err(e) = s.apply_file(&format!("f{n}"), &text_lines(text)) {
                problems.push(e);
                break;
            }
        }
        let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        problems.extend(s.apply_args(&args, "pam", false));
        let defaults = Settings::pwquality();
        let mut out: Vec<String> = s
            .values
            .iter()
            .filter(|(k, v)| defaults.values.get(*k) != Some(v))
            .map(|(k, v)| format!("{k}={v}@{}", s.origins.get(k).map_or("?", String::as_str)))
            .collect();
        out.extend(problems);
        assert_eq!(out.join(" "), expect);
    }

    #[test]
    fn files_then_arguments_last_wins() {
        check(&[""], &[], "");
        check(
            &["# comment\nminlen = 14\n  dcredit=-1 # inline\nminlen=15\nenforce_for_root\n"],
            &[],
            "dcredit=-1@f0:3 enforce_for_root=1@f0:5 minlen=15@f0:4",
        );
        // Drop-ins first, main file last: the main file wins; PAM arguments win over both.
        check(&["minlen = 10", "minlen = 12"], &[], "minlen=12@f1:1");
        check(
            &["minlen = 15\nminclass = 4"],
            &["retry=3", "minlen=9", "use_authtok", "enforce_for_root"],
            "enforce_for_root=1@pam minclass=4@f0:2 minlen=9@pam retry=3@pam",
        );
        check(
            &["minlen 16\nminclass   =   9"],
            &[],
            "minclass=4@f0:2 minlen=16@f0:1",
        );
        check(&["minlen = 2"], &[], "minlen=6@f0:1");
    }

    #[test]
    fn refused_settings_stop_the_reading() {
        check(
            &["minlen = 14\nbogus = 1\nminclass = 4", "dcredit = -1"],
            &[],
            "minlen=14@f0:1 f0:2: unknown setting \"bogus\": libpwquality stops reading here",
        );
        check(
            &["minlen = twelve\nminclass = 4"],
            &[],
            "f0:1: minlen: \"twelve\" is not an integer: libpwquality stops reading here",
        );
        let long = format!("minlen = 14\n# {}\nminclass = 4", "x".repeat(2000));
        check(
            &[&long],
            &[],
            "minlen=14@f0:1 f0:2: line longer than 1023 bytes: libpwquality stops reading here",
        );
        check(
            &["minlen = 14"],
            &["frobnicate=1", "dcredit=x"],
            "minlen=14@f0:1 pam: unknown setting \"frobnicate\": ignored by the module pam: dcredit: \"x\" is not an integer: ignored by the module",
        );
        check(&["minlen = 14\n\u{fffd}\u{fffd}"], &[], "minlen=14@f0:1 f0:2: unknown setting \"\u{fffd}\u{fffd}\": libpwquality stops reading here");
    }

    #[test]
    fn drop_ins_are_sorted_conf_files_only() {
        let names: Vec<String> = ["b.conf", "a.conf", "c.conf.bak", "README", "10.conf"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        assert_eq!(drop_in_names(&names), ["10.conf", "a.conf", "b.conf"]);
    }

    #[test]
    fn cracklib_keeps_its_own_defaults() {
        let mut s = Settings::cracklib();
        let problems = s.apply_args(
            &[
                "minlen=14".to_owned(),
                "reject_username".to_owned(),
                "nonsense".to_owned(),
            ],
            "pam",
            true,
        );
        assert!(problems.is_empty());
        let w = s.to_wire();
        assert_eq!(
            (w.minlen, w.dcredit, w.usercheck, w.dictcheck),
            (14, 1, true, true)
        );
    }
}
