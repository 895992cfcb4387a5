//! Idle session limits (ACC-007, BP-028 R32): the shell's `TMOUT` from the login shell files,
//! systemd-logind's `StopIdleSessionSec`, and, where a display manager is installed, the GNOME
//! screen lock from the system dconf databases. Facts only, with the `file:line` each value comes
//! from; the collector decides what is short enough.
//!
//! Reading order and precedence follow the programs: bash reads /etc/profile (which sources
//! /etc/profile.d/*.sh) then /etc/bash.bashrc (Debian) or /etc/bashrc (RHEL), so the last
//! assignment wins unless an earlier one made TMOUT read-only; logind reads logind.conf then the
//! drop-ins of /usr/lib and /etc (same name: /etc wins) in name order, last value wins; dconf
//! keyfiles of `/etc/dconf/db/*.d/` are compiled in name order, the later file winning. Shell
//! conditions (`if`) are not evaluated: an assignment anywhere counts. Not here: per-user files.

use std::collections::BTreeMap;

use vigie_proto::v1::SessionLock;

use super::files::Reader;

const PROFILE_DIR: &str = "/etc/profile.d";
const LOGIND_CONF: &str = "/etc/systemd/logind.conf";
const LOGIND_DIRS: &[&str] = &[
    "/usr/lib/systemd/logind.conf.d",
    "/etc/systemd/logind.conf.d",
];
const DCONF_DB: &str = "/etc/dconf/db";
/// Display managers whose presence means graphical sessions (Debian and RHEL paths).
const DISPLAY_MANAGERS: &[&str] = &[
    "/usr/sbin/gdm3",
    "/usr/sbin/gdm",
    "/usr/sbin/lightdm",
    "/usr/bin/sddm",
];
const IDLE_DELAY: &str = "/org/gnome/desktop/session/idle-delay";
const LOCK_ENABLED: &str = "/org/gnome/desktop/screensaver/lock-enabled";
const LOCK_DELAY: &str = "/org/gnome/desktop/screensaver/lock-delay";

/// Gathers every idle-session fact under the reader's root.
pub(crate) fn gather(reader: &mut Reader<'_>) -> SessionLock {
    let mut out = SessionLock::default();
    shell(reader, &mut out);
    logind(reader, &mut out);
    out.graphical = DISPLAY_MANAGERS.iter().any(|p| reader.exists(p))
        || reader
            .lines("/etc/X11/default-display-manager")
            .is_some_and(|l| l.iter().any(|(_, t)| !t.trim().is_empty()));
    gnome(reader, &mut out);
    out
}

fn shell(reader: &mut Reader<'_>, out: &mut SessionLock) {
    let mut files = vec!["/etc/profile".to_owned()];
    files.extend(
        reader
            .dir_entries(PROFILE_DIR)
            .into_iter()
            .filter(|n| n.ends_with(".sh"))
            .map(|n| format!("{PROFILE_DIR}/{n}")),
    );
    files.push("/etc/bash.bashrc".to_owned());
    files.push("/etc/bashrc".to_owned());
    for file in files {
        let Some(lines) = reader.lines(&file) else {
            continue;
        };
        for (number, text) in &lines {
            for statement in statements(text) {
                let Some(found) = tmout_statement(statement) else {
                    continue;
                };
                let place = format!("{file}:{number}");
                if let Some(value) = found.value {
                    if out.tmout_readonly {
                        // bash refuses to assign a read-only variable: the earlier value stays.
                        continue;
                    }
                    match value {
                        Some(secs) => {
                            out.tmout_secs = Some(secs);
                            out.tmout_source = place.clone();
                            out.origins.push(format!("TMOUT={secs} ({place})"));
                        }
                        None => reader.problem(format!(
                            "{place}: TMOUT is not a number of seconds, ignored"
                        )),
                    }
                }
                if found.readonly && !out.tmout_readonly {
                    out.tmout_readonly = true;
                    out.origins.push(format!("readonly TMOUT ({place})"));
                }
            }
        }
    }
}

/// One shell statement that touches TMOUT: an assignment (a number, or `None` when the value is
/// not one) and whether it makes it read-only.
struct Tmout {
    value: Option<Option<u32>>,
    readonly: bool,
}

/// Splits a line at `;`, `&&` and `||` outside quotes, after dropping a `#` comment.
fn statements(line: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut quote: Option<char> = None;
    let mut start = 0;
    let bytes = line.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let c = char::from(*bytes.get(i).unwrap_or(&0));
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '#') if i == 0 || bytes.get(i - 1).is_some_and(u8::is_ascii_whitespace) => {
                out.push(line.get(start..i).unwrap_or_default());
                return out;
            }
            (None, ';') => {
                out.push(line.get(start..i).unwrap_or_default());
                start = i + 1;
            }
            (None, '&' | '|') if bytes.get(i + 1) == bytes.get(i) => {
                out.push(line.get(start..i).unwrap_or_default());
                start = i + 2;
                i += 1;
            }
            _ => {}
        }
        i += 1;
    }
    out.push(line.get(start..).unwrap_or_default());
    out
}

fn tmout_statement(statement: &str) -> Option<Tmout> {
    let mut words = statement.split_whitespace().peekable();
    // Leading keywords of compound commands: `then TMOUT=600`, `do`, `else`.
    while words
        .peek()
        .is_some_and(|w| matches!(*w, "then" | "do" | "else" | "{"))
    {
        words.next();
    }
    let first = words.next()?;
    let (readonly, rest): (bool, Vec<&str>) = match first {
        "readonly" => (true, words.collect()),
        "declare" | "typeset" | "local" => {
            let mut ro = false;
            let mut rest = Vec::new();
            for w in words {
                match w.strip_prefix('-') {
                    Some(flags) if rest.is_empty() => ro |= flags.contains('r'),
                    _ => rest.push(w),
                }
            }
            (ro, rest)
        }
        "export" => (false, words.collect()),
        other => (false, vec![other]),
    };
    let mut found = None;
    for w in rest {
        let (name, value) = match w.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (w, None),
        };
        if name != "TMOUT" {
            continue;
        }
        let value = value.map(|v| {
            v.trim_matches(|c| c == '"' || c == '\'')
                .parse::<u32>()
                .ok()
        });
        found = Some(Tmout { value, readonly });
    }
    found
}

fn logind(reader: &mut Reader<'_>, out: &mut SessionLock) {
    // Drop-ins by name, /etc masking /usr/lib for the same name.
    let mut dropins: BTreeMap<String, String> = BTreeMap::new();
    for dir in LOGIND_DIRS {
        for name in reader.dir_entries(dir) {
            if name.ends_with(".conf") {
                dropins.insert(name.clone(), format!("{dir}/{name}"));
            }
        }
    }
    let mut files = vec![LOGIND_CONF.to_owned()];
    files.extend(dropins.into_values());
    let mut value: Option<(Option<u32>, String)> = None;
    for file in files {
        let Some(lines) = reader.lines(&file) else {
            continue;
        };
        let mut in_login = false;
        for (number, text) in &lines {
            let text = text.trim();
            if text.starts_with('#') || text.starts_with(';') || text.is_empty() {
                continue;
            }
            if text.starts_with('[') {
                in_login = text == "[Login]";
                continue;
            }
            let Some((key, v)) = text.split_once('=') else {
                continue;
            };
            if in_login && key.trim() == "StopIdleSessionSec" {
                let place = format!("{file}:{number}");
                match timespan_secs(v.trim()) {
                    Some(secs) => value = Some((secs, place)),
                    None => reader.problem(format!(
                        "{place}: StopIdleSessionSec is not a time span, ignored"
                    )),
                }
            }
        }
    }
    if let Some((secs, place)) = value {
        out.origins.push(format!(
            "StopIdleSessionSec={} ({place})",
            secs.map_or("infinity".to_owned(), |s| s.to_string())
        ));
        // `infinity` or 0 turn the limit off.
        if let Some(secs) = secs.filter(|s| *s > 0) {
            out.stop_idle_session_secs = Some(secs);
            out.stop_idle_session_source = place;
        }
    }
}

/// A systemd time span in seconds (`900`, `15min`, `1h 30min`, `infinity`); `Some(None)` for
/// infinity, `None` when it does not parse. Sub-second parts round down.
pub(crate) fn timespan_secs(text: &str) -> Option<Option<u32>> {
    if text == "infinity" {
        return Some(None);
    }
    let mut total: u64 = 0;
    let mut rest = text.trim();
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let number: u64 = rest.get(..digits)?.parse().ok()?;
        rest = rest.get(digits..)?.trim_start();
        let unit_len = rest
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(rest.len());
        let unit = rest.get(..unit_len)?;
        rest = rest.get(unit_len..)?.trim_start();
        let millis: u64 = match unit {
            "" | "s" | "sec" | "second" | "seconds" => 1000,
            "ms" | "msec" => 1,
            "us" | "usec" => 0,
            "m" | "min" | "minute" | "minutes" => 60_000,
            "h" | "hr" | "hour" | "hours" => 3_600_000,
            "d" | "day" | "days" => 86_400_000,
            "w" | "week" | "weeks" => 604_800_000,
            _ => return None,
        };
        total = total.checked_add(number.checked_mul(millis)?)?;
    }
    Some(Some(u32::try_from(total / 1000).unwrap_or(u32::MAX)))
}

fn gnome(reader: &mut Reader<'_>, out: &mut SessionLock) {
    let mut values: BTreeMap<&'static str, (String, String)> = BTreeMap::new();
    let mut locked: Vec<String> = Vec::new();
    for db in reader.dir_entries(DCONF_DB) {
        if !db.ends_with(".d") {
            continue;
        }
        let dir = format!("{DCONF_DB}/{db}");
        for name in reader.dir_entries(&dir) {
            if name == "locks" {
                continue;
            }
            let file = format!("{dir}/{name}");
            let Some(lines) = reader.lines(&file) else {
                continue;
            };
            let mut section = String::new();
            for (number, text) in &lines {
                let text = text.trim();
                if let Some(s) = text.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
                    section = s.trim_matches('/').to_owned();
                    continue;
                }
                let Some((key, value)) = text.split_once('=') else {
                    continue;
                };
                let path = format!("/{section}/{}", key.trim());
                for wanted in [IDLE_DELAY, LOCK_ENABLED, LOCK_DELAY] {
                    if path == wanted {
                        values.insert(
                            wanted,
                            (value.trim().to_owned(), format!("{file}:{number}")),
                        );
                    }
                }
            }
        }
        let locks = format!("{dir}/locks");
        for name in reader.dir_entries(&locks) {
            if let Some(lines) = reader.lines(&format!("{locks}/{name}")) {
                locked.extend(lines.into_iter().map(|(_, t)| t.trim().to_owned()));
            }
        }
    }
    // GVariant text: `uint32 900`, `900`, `true`.
    let number = |v: &str| v.trim_start_matches("uint32").trim().parse::<u32>().ok();
    for (key, (value, place)) in &values {
        out.origins.push(format!("{key}={value} ({place})"));
        match *key {
            IDLE_DELAY => out.gnome_idle_delay_secs = number(value),
            LOCK_DELAY => out.gnome_lock_delay_secs = number(value),
            _ => out.gnome_lock_enabled = value.parse::<bool>().ok(),
        }
    }
    out.gnome_locked = [IDLE_DELAY, LOCK_ENABLED]
        .iter()
        .all(|k| locked.iter().any(|l| l == k));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (path, content) in files {
            let full = dir.path().join(path);
            std::fs::create_dir_all(full.parent().unwrap()).unwrap();
            std::fs::write(full, content).unwrap();
        }
        dir
    }

    fn summary(files: &[(&str, &str)]) -> String {
        let dir = tree(files);
        let mut reader = Reader::new(dir.path());
        let s = gather(&mut reader);
        format!(
            "tmout={:?} ro={} at={:?} logind={:?} graphical={} gnome={:?}/{:?}/{:?} locked={} problems={:?}",
            s.tmout_secs,
            s.tmout_readonly,
            s.tmout_source,
            s.stop_idle_session_secs,
            s.graphical,
            s.gnome_idle_delay_secs,
            s.gnome_lock_enabled,
            s.gnome_lock_delay_secs,
            s.gnome_locked,
            reader.problems
        )
    }

    #[test]
    fn tmout_forms_and_read_only() {
        assert_eq!(
            summary(&[
                ("etc/profile", "export PATH\nif [ \"$UID\" -ge 1000 ]; then TMOUT=1200; fi\n"),
                ("etc/profile.d/50-tmout.sh", "declare -rx TMOUT=600 # ANSSI\n"),
                ("etc/bash.bashrc", "TMOUT=0\n"),
            ]),
            "tmout=Some(600) ro=true at=\"/etc/profile.d/50-tmout.sh:1\" logind=None graphical=false gnome=None/None/None locked=false problems=[]"
        );
        assert_eq!(
            summary(&[
                ("etc/profile.d/a.sh", "readonly TMOUT='900'; export TMOUT\n"),
            ]),
            "tmout=Some(900) ro=true at=\"/etc/profile.d/a.sh:1\" logind=None graphical=false gnome=None/None/None locked=false problems=[]"
        );
        // Without read-only, the last assignment wins; a comment is not an assignment.
        assert_eq!(
            summary(&[
                ("etc/profile.d/a.sh", "TMOUT=600\n# TMOUT=60\n"),
                ("etc/bash.bashrc", "export TMOUT=$X\nTMOUT=3600\n"),
            ]),
            "tmout=Some(3600) ro=false at=\"/etc/bash.bashrc:2\" logind=None graphical=false gnome=None/None/None locked=false problems=[\"/etc/bash.bashrc:1: TMOUT is not a number of seconds, ignored\"]"
        );
    }

    #[test]
    fn logind_drop_ins_and_time_spans() {
        assert_eq!(
            summary(&[
                ("etc/systemd/logind.conf", "[Login]\nStopIdleSessionSec=infinity\n"),
                ("usr/lib/systemd/logind.conf.d/10-a.conf", "[Login]\nStopIdleSessionSec=1h\n"),
                ("etc/systemd/logind.conf.d/20-b.conf", "[Login]\nStopIdleSessionSec=10min 30s\n"),
            ]),
            "tmout=None ro=false at=\"\" logind=Some(630) graphical=false gnome=None/None/None locked=false problems=[]"
        );
        assert_eq!(timespan_secs("900"), Some(Some(900)));
        assert_eq!(timespan_secs("1h30min"), Some(Some(5400)));
        assert_eq!(timespan_secs("infinity"), Some(None));
        assert_eq!(timespan_secs("soon"), None);
        assert_eq!(timespan_secs(""), None);
        assert_eq!(timespan_secs("99999999999999999999"), None);
    }

    #[test]
    fn gnome_lock_from_dconf() {
        assert_eq!(
            summary(&[
                ("usr/sbin/gdm3", ""),
                (
                    "etc/dconf/db/local.d/00-screensaver",
                    "[org/gnome/desktop/session]\nidle-delay=uint32 600\n\n[org/gnome/desktop/screensaver]\nlock-enabled=true\nlock-delay=uint32 0\n",
                ),
                (
                    "etc/dconf/db/local.d/locks/screensaver",
                    "/org/gnome/desktop/session/idle-delay\n/org/gnome/desktop/screensaver/lock-enabled\n",
                ),
            ]),
            "tmout=None ro=false at=\"\" logind=None graphical=true gnome=Some(600)/Some(true)/Some(0) locked=true problems=[]"
        );
    }
}
