//! The rule files of pam_access (`access.conf`: `permission : users : origins`) and pam_time
//! (`time.conf`: `services;ttys;users;times`), carried as written with their file and line so
//! that the collector can tell whether a contractor is restricted by source and by time (ACC-003).
//! Which files: those named by an `accessfile=`/`conffile=` argument of a stack read, else the
//! modules' defaults (`/etc/security/access.conf` then `access.d/*.conf`, `/etc/security/time.conf`).
//!
//! Parsing follows Linux-PAM 1.5: for access.conf the permission and the user list end at the first
//! two `:` (field separator), the origins are the rest of the line (IPv6 addresses keep their
//! colons); for time.conf a trailing `\` continues a line and the four fields are split at `;`.
//! Malformed lines are problems, never fatal. Not here: matching users or origins (the collector).

use vigie_proto::v1::{AccessRule, PamStack, TimeRule};

use super::files::{Lines, Reader};
use super::pam::{clip, module_name};

pub(crate) const ACCESS_CONF: &str = "/etc/security/access.conf";
const ACCESS_DIR: &str = "/etc/security/access.d";
pub(crate) const TIME_CONF: &str = "/etc/security/time.conf";
/// Rules kept per kind; a longer file is cut with a problem.
const MAX_RULES: usize = 500;

/// Every access.conf rule of the files the stacks' pam_access lines read, in evaluation order.
pub(crate) fn access_rules(reader: &mut Reader<'_>, stacks: &[PamStack]) -> Vec<AccessRule> {
    let mut files: Vec<String> = Vec::new();
    let mut defaults = stacks.is_empty();
    for rule in stacks
        .iter()
        .flat_map(|s| &s.rules)
        .filter(|r| module_name(&r.module) == "pam_access")
    {
        match arg(&rule.args, "accessfile") {
            Some(f) if !files.contains(&f) => files.push(f),
            Some(_) => {}
            None => defaults = true,
        }
    }
    // No pam_access line at all: the default files are still read, so that the evidence shows a
    // rule file that is written but not wired into any stack.
    if defaults || files.is_empty() {
        let mut default_files = vec![ACCESS_CONF.to_owned()];
        default_files.extend(
            reader
                .dir_entries(ACCESS_DIR)
                .into_iter()
                .filter(|n| n.ends_with(".conf"))
                .map(|n| format!("{ACCESS_DIR}/{n}")),
        );
        for f in default_files {
            if !files.contains(&f) {
                files.push(f);
            }
        }
    }
    let mut out = Vec::new();
    for file in files {
        let Some(lines) = reader.lines(&file) else {
            continue;
        };
        let mut problems = Vec::new();
        out.extend(parse_access(&file, &lines, &mut |m| problems.push(m)));
        problems.into_iter().for_each(|m| reader.problem(m));
    }
    if out.len() > MAX_RULES {
        reader.problem(format!(
            "pam_access: more than {MAX_RULES} rules, the rest was ignored"
        ));
        out.truncate(MAX_RULES);
    }
    out
}

/// Every time.conf rule of the files the stacks' pam_time lines read.
pub(crate) fn time_rules(reader: &mut Reader<'_>, stacks: &[PamStack]) -> Vec<TimeRule> {
    let mut files: Vec<String> = stacks
        .iter()
        .flat_map(|s| &s.rules)
        .filter(|r| module_name(&r.module) == "pam_time")
        .filter_map(|r| arg(&r.args, "conffile"))
        .collect();
    files.dedup();
    if files.is_empty() {
        files.push(TIME_CONF.to_owned());
    }
    let mut out = Vec::new();
    for file in files {
        let Some(lines) = reader.lines(&file) else {
            continue;
        };
        let mut problems = Vec::new();
        out.extend(parse_time(&file, &lines, &mut |m| problems.push(m)));
        problems.into_iter().for_each(|m| reader.problem(m));
    }
    if out.len() > MAX_RULES {
        reader.problem(format!(
            "pam_time: more than {MAX_RULES} rules, the rest was ignored"
        ));
        out.truncate(MAX_RULES);
    }
    out
}

fn arg(args: &[String], key: &str) -> Option<String> {
    args.iter()
        .filter_map(|a| a.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v.to_owned())
        .filter(|v| v.starts_with('/'))
}

/// access.conf lines: `+`/`-`, users, origins.
pub(crate) fn parse_access(
    file: &str,
    lines: &Lines,
    problem: &mut dyn FnMut(String),
) -> Vec<AccessRule> {
    let mut out = Vec::new();
    for (number, text) in lines {
        let text = text.trim();
        if text.is_empty() || text.starts_with('#') {
            continue;
        }
        let mut fields = text.splitn(3, ':');
        let (Some(perm), Some(users), Some(origins)) =
            (fields.next(), fields.next(), fields.next())
        else {
            problem(format!(
                "{file}:{number}: expected `permission : users : origins`, line ignored"
            ));
            continue;
        };
        let perm = perm.trim();
        if perm != "+" && perm != "-" {
            problem(format!(
                "{file}:{number}: permission must be `+` or `-`, line ignored"
            ));
            continue;
        }
        out.push(AccessRule {
            permission: perm.to_owned(),
            users: clip(users.trim()),
            origins: clip(origins.trim()),
            file: file.to_owned(),
            line: *number,
        });
    }
    out
}

/// time.conf lines: `services;ttys;users;times`, `\` continuing a line.
pub(crate) fn parse_time(
    file: &str,
    lines: &Lines,
    problem: &mut dyn FnMut(String),
) -> Vec<TimeRule> {
    let mut out = Vec::new();
    let mut pending = String::new();
    let mut start = 0;
    for (number, text) in lines {
        let text = text.split('#').next().unwrap_or_default();
        if pending.is_empty() {
            start = *number;
        }
        if let Some(cont) = text.trim_end().strip_suffix('\\') {
            pending.push_str(cont);
            pending.push(' ');
            continue;
        }
        pending.push_str(text);
        let logical = std::mem::take(&mut pending);
        if logical.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = logical.split(';').map(str::trim).collect();
        let [services, ttys, users, times] = fields.as_slice() else {
            problem(format!(
                "{file}:{start}: expected `services;ttys;users;times`, line ignored"
            ));
            continue;
        };
        out.push(TimeRule {
            services: clip(services),
            ttys: clip(ttys),
            users: clip(users),
            times: clip(times),
            file: file.to_owned(),
            line: start,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::auth::files::text_lines;

    #[test]
    fn access_lines_keep_ipv6_origins_and_report_bad_lines() {
        let mut problems = Vec::new();
        let rules = parse_access(
            "/etc/security/access.conf",
            &text_lines(
                "# comment\n+ : root : LOCAL\n-:(prestataires) EXCEPT root:ALL EXCEPT 192.0.2.0/24 2001:db8::/32\n\
                 garbage\n* : x : y\n",
            ),
            &mut |m| problems.push(m),
        );
        let got: Vec<String> = rules
            .iter()
            .map(|r| {
                format!(
                    "{}:{} {}|{}|{}",
                    r.file, r.line, r.permission, r.users, r.origins
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                "/etc/security/access.conf:2 +|root|LOCAL",
                "/etc/security/access.conf:3 -|(prestataires) EXCEPT root|ALL EXCEPT 192.0.2.0/24 2001:db8::/32"
            ]
        );
        assert_eq!(
            problems,
            [
                "/etc/security/access.conf:4: expected `permission : users : origins`, line ignored",
                "/etc/security/access.conf:5: permission must be `+` or `-`, line ignored"
            ]
        );
    }

    #[test]
    fn time_lines_with_continuations() {
        let mut problems = Vec::new();
        let rules = parse_time(
            "/etc/security/time.conf",
            &text_lines(
                "#services;ttys;users;times\nsshd;*;presta-dupont|presta-martin;\\\n  Wk0800-1800 # office\nlogin;tty*;x\n",
            ),
            &mut |m| problems.push(m),
        );
        assert_eq!(rules.len(), 1);
        let r = &rules[0];
        assert_eq!(
            (
                r.line,
                r.services.as_str(),
                r.users.as_str(),
                r.times.as_str()
            ),
            (2, "sshd", "presta-dupont|presta-martin", "Wk0800-1800")
        );
        assert_eq!(
            problems,
            ["/etc/security/time.conf:4: expected `services;ttys;users;times`, line ignored"]
        );
    }
}
