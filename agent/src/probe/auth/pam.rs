//! PAM stack files (`/etc/pam.d/<service>`, pam.conf(5) syntax): one line per module with a type
//! (optionally `-`-prefixed), a control (keyword or `[value=action ...]`, which may hold spaces),
//! a module path and arguments (`[...]` keeps spaces, `\]` escapes); `#` starts a comment
//! anywhere and a trailing `\` continues the line. `@include FILE` (Debian) pulls in every line of
//! FILE; `include` and `substack` controls pull in the lines of their own type. Stacks are
//! expanded into the flat list of rules PAM evaluates, with loops and depth bounded as in
//! Linux-PAM (16 levels). Not here: what a module's arguments mean (see the sibling parsers).

use std::collections::BTreeMap;

use vigie_proto::v1::{PamRule, PamStack};

use super::files::{Lines, Reader};

/// Linux-PAM's own include depth limit (`PAM_SUBSTACK_MAX_LEVEL`).
const MAX_DEPTH: usize = 16;
/// Rules kept per expanded stack.
const MAX_RULES: usize = 512;
/// Argument values whose name suggests a secret are never carried.
const SECRET_MARKERS: &[&str] = &["pass", "pw", "secret", "token", "key", "cred", "pin"];
/// Argument names containing a marker above that are known not to hold a secret.
const NOT_SECRET: &[&str] = &["authtok_type", "use_first_pass", "try_first_pass"];

/// One parsed line of a PAM file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Entry {
    /// A module line.
    Rule(PamRule),
    /// `@include FILE` (`kind` None: every type) or `TYPE include|substack FILE`.
    Include {
        line: u32,
        kind: Option<String>,
        target: String,
    },
}

const TYPES: &[&str] = &["auth", "account", "password", "session"];

/// Parses the lines of the PAM file `file` (a host path, for locations). Malformed lines are
/// reported through `problem` and skipped, as PAM itself skips them with a log line.
pub(crate) fn parse(file: &str, lines: &Lines, problem: &mut dyn FnMut(String)) -> Vec<Entry> {
    let mut out = Vec::new();
    let mut pending = String::new();
    let mut start = 0;
    for (number, text) in lines {
        if pending.is_empty() {
            start = *number;
        }
        let text = match text.find('#') {
            Some(at) => text.get(..at).unwrap_or_default(),
            None => text.as_str(),
        };
        if let Some(cont) = text.strip_suffix('\\') {
            pending.push_str(cont);
            pending.push(' ');
            continue;
        }
        pending.push_str(text);
        let logical = std::mem::take(&mut pending);
        if let Some(entry) = parse_line(file, start, &logical, problem) {
            out.push(entry);
        }
    }
    if !pending.trim().is_empty() {
        if let Some(entry) = parse_line(file, start, &pending, problem) {
            out.push(entry);
        }
    }
    out
}

fn parse_line(file: &str, line: u32, text: &str, problem: &mut dyn FnMut(String)) -> Option<Entry> {
    let tokens = tokenize(text);
    let mut it = tokens.into_iter();
    let first = it.next()?;
    if first == "@include" {
        let Some(target) = it.next() else {
            problem(format!("{file}:{line}: @include without a file name"));
            return None;
        };
        return Some(Entry::Include {
            line,
            kind: None,
            target,
        });
    }
    let (skip_if_missing, kind) = match first.strip_prefix('-') {
        Some(rest) => (true, rest.to_ascii_lowercase()),
        None => (false, first.to_ascii_lowercase()),
    };
    if !TYPES.contains(&kind.as_str()) {
        problem(format!(
            "{file}:{line}: unknown PAM type {:?}, line ignored",
            clip(&first)
        ));
        return None;
    }
    let Some(control) = it.next() else {
        problem(format!("{file}:{line}: no control, line ignored"));
        return None;
    };
    let Some(module) = it.next() else {
        problem(format!("{file}:{line}: no module, line ignored"));
        return None;
    };
    let lower = control.to_ascii_lowercase();
    if lower == "include" || lower == "substack" {
        return Some(Entry::Include {
            line,
            kind: Some(kind),
            target: module,
        });
    }
    Some(Entry::Rule(PamRule {
        file: file.to_owned(),
        line,
        r#type: kind,
        control,
        module,
        args: it.map(|a| redact(&a)).collect(),
        skip_if_missing,
    }))
}

/// Splits on whitespace, keeping `[...]` (with `\]` escapes) as one token.
fn tokenize(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let Some(&c) = chars.peek() else { break };
        let mut token = String::new();
        if c == '[' {
            while let Some(c) = chars.next() {
                if c == '\\' && chars.peek() == Some(&']') {
                    token.push(']');
                    chars.next();
                    continue;
                }
                token.push(c);
                if c == ']' {
                    break;
                }
            }
            // Anything glued after the closing bracket belongs to the same token.
        }
        while let Some(&c) = chars.peek() {
            if c.is_whitespace() {
                break;
            }
            token.push(c);
            chars.next();
        }
        out.push(token);
    }
    out
}

/// `name=value` arguments whose name suggests a secret keep their name only.
fn redact(arg: &str) -> String {
    let Some((name, _)) = arg.split_once('=') else {
        return clip(arg);
    };
    let lower = name.to_ascii_lowercase();
    if !NOT_SECRET.contains(&lower.as_str()) && SECRET_MARKERS.iter().any(|m| lower.contains(m)) {
        return format!("{}=<redacted>", clip(name));
    }
    clip(arg)
}

/// Host text carried in evidence is bounded.
pub(crate) fn clip(text: &str) -> String {
    const MAX_CHARS: usize = 256;
    if text.chars().count() <= MAX_CHARS {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(MAX_CHARS).collect();
    out.push('…');
    out
}

/// The module's base name without `.so`, e.g. `pam_unix` for `/lib/security/pam_unix.so`.
pub(crate) fn module_name(module: &str) -> &str {
    let base = module.rsplit('/').next().unwrap_or(module);
    base.strip_suffix(".so").unwrap_or(base)
}

/// Host path of an include target: absolute as written, else under `/etc/pam.d`.
fn target_path(target: &str) -> String {
    if target.starts_with('/') {
        target.to_owned()
    } else {
        format!("/etc/pam.d/{target}")
    }
}

/// Expands PAM services, caching each file's parse so that shared includes are read once.
#[derive(Debug, Default)]
pub(crate) struct Expander {
    cache: BTreeMap<String, Option<Vec<Entry>>>,
}

impl Expander {
    /// The stack of `/etc/pam.d/<service>`, includes expanded; `present` is false (and rules empty)
    /// when the file does not exist.
    pub(crate) fn stack(&mut self, reader: &mut Reader<'_>, service: &str) -> PamStack {
        let path = target_path(service);
        let mut stack = PamStack {
            name: service.to_owned(),
            ..PamStack::default()
        };
        if self.entries(reader, &path).is_none() {
            return stack;
        }
        stack.present = true;
        let mut chain = Vec::new();
        self.expand(reader, &path, None, &mut chain, &mut stack);
        stack
    }

    fn entries(&mut self, reader: &mut Reader<'_>, path: &str) -> Option<Vec<Entry>> {
        if let Some(cached) = self.cache.get(path) {
            return cached.clone();
        }
        let parsed = reader.lines(path).map(|lines| {
            let mut problems = Vec::new();
            let entries = parse(path, &lines, &mut |m| problems.push(m));
            problems.into_iter().for_each(|m| reader.problem(m));
            entries
        });
        self.cache.insert(path.to_owned(), parsed.clone());
        parsed
    }

    fn expand(
        &mut self,
        reader: &mut Reader<'_>,
        path: &str,
        only: Option<&str>,
        chain: &mut Vec<String>,
        stack: &mut PamStack,
    ) {
        let Some(entries) = self.entries(reader, path) else {
            let from = chain
                .last()
                .map_or(String::new(), |c| format!(" (from {c})"));
            reader.problem(format!("{path}: included but missing{from}"));
            return;
        };
        chain.push(path.to_owned());
        for entry in entries {
            match entry {
                Entry::Rule(rule) => {
                    if only.is_some_and(|t| t != rule.r#type) {
                        continue;
                    }
                    if stack.rules.len() >= MAX_RULES {
                        stack.truncated = true;
                        break;
                    }
                    stack.rules.push(rule);
                }
                Entry::Include { line, kind, target } => {
                    // An `@include` inside a typed include keeps the outer filter.
                    let filter = match (only, kind.as_deref()) {
                        (Some(outer), Some(inner)) if outer != inner => continue,
                        (Some(outer), _) => Some(outer.to_owned()),
                        (None, inner) => inner.map(str::to_owned),
                    };
                    let next = target_path(&target);
                    if chain.contains(&next) {
                        reader.problem(format!("{path}:{line}: include loop through {next}"));
                    } else if chain.len() >= MAX_DEPTH {
                        reader.problem(format!(
                            "{path}:{line}: includes nested deeper than {MAX_DEPTH}"
                        ));
                    } else {
                        self.expand(reader, &next, filter.as_deref(), chain, stack);
                    }
                }
            }
        }
        chain.pop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::auth::files::text_lines;

    /// Renders parsed entries one per line: `L<n> [-]type control module args` or `L<n> include
    /// type target`, then the problems.
    #[track_caller]
    fn check(text: &str, expect: &str) {
        let mut problems = Vec::new();
        let entries = parse("/etc/pam.d/x", &text_lines(text), &mut |m| problems.push(m));
        let mut out: Vec<String> = entries
            .iter()
            .map(|e| match e {
                Entry::Rule(r) => format!(
                    "L{} {}{} {} {} {}",
                    r.line,
                    if r.skip_if_missing { "-" } else { "" },
                    r.r#type,
                    r.control,
                    r.module,
                    r.args.join("|")
                ),
                Entry::Include { line, kind, target } => {
                    format!(
                        "L{line} include {} {target}",
                        kind.as_deref().unwrap_or("*")
                    )
                }
            })
            .collect();
        out.extend(problems);
        assert_eq!(out.join("\n"), expect);
    }

    #[test]
    fn parses_real_lines() {
        check(
            "# comment\nauth\t[success=1 default=ignore]\tpam_unix.so nullok\nauth\trequisite\t\t\tpam_deny.so\n",
            "L2 auth [success=1 default=ignore] pam_unix.so nullok\nL3 auth requisite pam_deny.so ",
        );
        check(
            "@include common-auth\naccount include system-auth\npassword substack system-auth\n",
            "L1 include * common-auth\nL2 include account system-auth\nL3 include password system-auth",
        );
        check(
            "-session optional pam_systemd.so\nAUTH Required pam_env.so # trailing comment\n",
            "L1 -session optional pam_systemd.so \nL2 auth Required pam_env.so ",
        );
        check(
            "session [success=ok ignore=ignore module_unknown=ignore default=bad] pam_selinux.so close\n",
            "L1 session [success=ok ignore=ignore module_unknown=ignore default=bad] pam_selinux.so close",
        );
        check(
            "auth required pam_exec.so [quiet arg\\] x] seteuid\n",
            "L1 auth required pam_exec.so [quiet arg] x]|seteuid",
        );
        check(
            "password requisite pam_pwquality.so \\\n  retry=3 minlen=12\n",
            "L1 password requisite pam_pwquality.so retry=3|minlen=12",
        );
    }

    #[test]
    fn malformed_lines_are_reported_not_fatal() {
        check(
            "garbage here now\nauth\nauth required\n@include\n\u{fffd}\u{fffd} x y\nauth required pam_ok.so\n",
            "L6 auth required pam_ok.so \n/etc/pam.d/x:1: unknown PAM type \"garbage\", line ignored\n/etc/pam.d/x:2: no control, line ignored\n/etc/pam.d/x:3: no module, line ignored\n/etc/pam.d/x:4: @include without a file name\n/etc/pam.d/x:5: unknown PAM type \"\u{fffd}\u{fffd}\", line ignored",
        );
        check(
            "auth required pam_ldap.so bindpw=hunter2 ldap_password=x authtok_type=UNIX try_first_pass\n",
            "L1 auth required pam_ldap.so bindpw=<redacted>|ldap_password=<redacted>|authtok_type=UNIX|try_first_pass",
        );
    }

    #[track_caller]
    fn check_stack(files: &[(&str, &str)], service: &str, expect: &str) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("etc/pam.d")).unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join("etc/pam.d").join(name), text).unwrap();
        }
        let mut reader = Reader::new(dir.path());
        let stack = Expander::default().stack(&mut reader, service);
        let mut out: Vec<String> = stack
            .rules
            .iter()
            .map(|r| {
                format!(
                    "{}:{} {} {}",
                    r.file,
                    r.line,
                    r.r#type,
                    module_name(&r.module)
                )
            })
            .collect();
        out.push(format!(
            "present={} truncated={}",
            stack.present, stack.truncated
        ));
        out.extend(reader.problems);
        assert_eq!(out.join("\n"), expect);
    }

    #[test]
    fn stacks_expand_includes_with_type_filters() {
        let common = "auth required pam_faillock.so preauth\nauth sufficient pam_unix.so\npassword requisite pam_pwquality.so\n";
        check_stack(
            &[
                ("system-auth", common),
                ("sshd", "auth substack system-auth\npassword include system-auth\naccount required pam_nologin.so\n"),
            ],
            "sshd",
            "/etc/pam.d/system-auth:1 auth pam_faillock\n/etc/pam.d/system-auth:2 auth pam_unix\n/etc/pam.d/system-auth:3 password pam_pwquality\n/etc/pam.d/sshd:3 account pam_nologin\npresent=true truncated=false",
        );
        check_stack(
            &[
                ("passwd", "@include common-password\n"),
                ("common-password", "password required pam_unix.so\n"),
            ],
            "passwd",
            "/etc/pam.d/common-password:1 password pam_unix\npresent=true truncated=false",
        );
        check_stack(&[], "passwd", "present=false truncated=false");
        check_stack(
            &[("a", "@include b\n@include missing\n"), ("b", "@include a\nauth required pam_b.so\n")],
            "a",
            "/etc/pam.d/b:2 auth pam_b\npresent=true truncated=false\n/etc/pam.d/b:1: include loop through /etc/pam.d/a\n/etc/pam.d/missing: included but missing (from /etc/pam.d/a)",
        );
        let many = "auth optional pam_x.so\n".repeat(600);
        let dir_files = [("big", many.as_str())];
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("etc/pam.d")).unwrap();
        std::fs::write(dir.path().join("etc/pam.d/big"), dir_files[0].1).unwrap();
        let mut reader = Reader::new(dir.path());
        let stack = Expander::default().stack(&mut reader, "big");
        assert_eq!((stack.rules.len(), stack.truncated), (MAX_RULES, true));
    }
}
