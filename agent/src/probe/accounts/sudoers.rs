//! Reader and parser of `sudoers(5)`: `/etc/sudoers` and what it includes (`#include`,
//! `@include`, `#includedir`, `@includedir`), the `Defaults` entries, the aliases and every user
//! specification, reduced to the facts BP-028 R38–R44 ask about (ALL, NOPASSWD, `!`, `*`, runas).
//!
//! The grammar is followed far enough to find those facts, not to re-implement sudo: host lists
//! and option values are carried as written, never evaluated. A line sudo would refuse is a
//! problem with its file and line, and reading goes on. Not here: matching rules to accounts
//! (see `mod.rs`) and any judgement.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::{cap, lines, LineProblem};
use crate::probe::fsutil::{read_bounded, resolve_in_root};

/// Largest sudoers file read; sudoers files are a few KiB.
const MAX_FILE_BYTES: u64 = 1024 * 1024;
/// Files read through includes, the main file included.
const MAX_FILES: usize = 256;
/// Nesting of includes, as sudo's own limit keeps loops finite.
const MAX_DEPTH: usize = 16;
/// Nesting of aliases when expanding them.
const MAX_ALIAS_DEPTH: usize = 16;

/// Tags that may precede a command and stay in force for the rest of the list.
const TAGS: &[&str] = &[
    "NOPASSWD",
    "PASSWD",
    "NOEXEC",
    "EXEC",
    "SETENV",
    "NOSETENV",
    "LOG_INPUT",
    "NOLOG_INPUT",
    "LOG_OUTPUT",
    "NOLOG_OUTPUT",
    "MAIL",
    "NOMAIL",
    "FOLLOW",
    "NOFOLLOW",
    "INTERCEPT",
    "NOINTERCEPT",
];
/// Options written `KEY=value` before a command.
const OPTIONS: &[&str] = &[
    "TIMEOUT",
    "CWD",
    "CHROOT",
    "ROLE",
    "TYPE",
    "APPARMOR_PROFILE",
    "NOTBEFORE",
    "NOTAFTER",
    "PRIVS",
    "LIMITPRIVS",
];

/// A problem in a named sudoers file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileProblem {
    /// Host path, e.g. `/etc/sudoers.d/admins`.
    pub file: PathBuf,
    pub problem: LineProblem,
}

/// One `Defaults` setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefaultEntry {
    pub file: PathBuf,
    pub line: u32,
    pub scope: String,
    pub setting: String,
}

/// One user specification with its commands analysed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleFacts {
    pub file: PathBuf,
    pub line: u32,
    pub who: String,
    pub who_expanded: Vec<String>,
    pub runas: String,
    pub rule: String,
    pub nopasswd: bool,
    pub all_commands: bool,
    pub nopasswd_all: bool,
    pub negation: bool,
    pub wildcard: bool,
}

/// Everything read from sudoers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sudoers {
    pub rules: Vec<RuleFacts>,
    pub defaults: Vec<DefaultEntry>,
    pub problems: Vec<FileProblem>,
}

/// A command as written in a list, with the tag state in force.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Cmd {
    text: String,
    nopasswd: bool,
}

/// A user specification before alias expansion.
#[derive(Debug, Clone, PartialEq, Eq)]
struct RawRule {
    file: PathBuf,
    line: u32,
    who: String,
    runas: String,
    rule: String,
    cmds: Vec<Cmd>,
}

/// What parsing one file yields.
#[derive(Debug, Default)]
struct Parsed {
    includes: Vec<(u32, String, bool)>,
    rules: Vec<RawRule>,
    defaults: Vec<DefaultEntry>,
    user_aliases: BTreeMap<String, Vec<String>>,
    cmnd_aliases: BTreeMap<String, Vec<String>>,
    problems: Vec<LineProblem>,
}

/// Reads `/etc/sudoers` under `root` and every file it includes. `Ok(None)` when the main file
/// does not exist (sudo not installed); `Err` when it exists but cannot be read.
pub fn read(root: &Path) -> std::io::Result<Option<Sudoers>> {
    let main = PathBuf::from("/etc/sudoers");
    let bytes = match read_bounded(&resolve_in_root(root, "/etc/sudoers"), MAX_FILE_BYTES) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut walk = Walk {
        root,
        seen: BTreeSet::new(),
        out: Parsed::default(),
        problems: Vec::new(),
    };
    walk.file(&main, &bytes, 0);
    Ok(Some(walk.finish()))
}

/// Parses sudoers text given as one file, includes ignored: for tests and fuzzing.
#[cfg(test)]
pub fn parse_one(file: &Path, bytes: &[u8]) -> Sudoers {
    let mut walk = Walk {
        root: Path::new("/nonexistent"),
        seen: BTreeSet::new(),
        out: Parsed::default(),
        problems: Vec::new(),
    };
    walk.seen.insert(file.to_path_buf());
    let parsed = parse_text(file, bytes);
    walk.absorb(file, parsed);
    walk.finish()
}

struct Walk<'a> {
    root: &'a Path,
    seen: BTreeSet<PathBuf>,
    out: Parsed,
    problems: Vec<FileProblem>,
}

impl Walk<'_> {
    fn file(&mut self, path: &Path, bytes: &[u8], depth: usize) {
        self.seen.insert(path.to_path_buf());
        let mut parsed = parse_text(path, bytes);
        if u64::try_from(bytes.len()).unwrap_or(u64::MAX) >= MAX_FILE_BYTES {
            parsed.problems.push(LineProblem::new(
                0,
                "file larger than 1 MiB, the rest is ignored",
            ));
        }
        let includes = std::mem::take(&mut parsed.includes);
        self.absorb(path, parsed);
        let dir = path.parent().unwrap_or(Path::new("/")).to_path_buf();
        for (line, target, is_dir) in includes {
            let target = dir.join(target);
            if is_dir {
                self.dir(path, line, &target, depth);
            } else {
                self.include(path, line, &target, depth);
            }
        }
    }

    fn absorb(&mut self, path: &Path, parsed: Parsed) {
        self.problems
            .extend(parsed.problems.into_iter().map(|problem| FileProblem {
                file: path.to_path_buf(),
                problem,
            }));
        self.out.rules.extend(parsed.rules);
        self.out.defaults.extend(parsed.defaults);
        self.out.user_aliases.extend(parsed.user_aliases);
        self.out.cmnd_aliases.extend(parsed.cmnd_aliases);
    }

    fn problem(&mut self, file: &Path, line: u32, message: &str) {
        self.problems.push(FileProblem {
            file: file.to_path_buf(),
            problem: LineProblem::new(line, message),
        });
    }

    fn include(&mut self, from: &Path, line: u32, target: &Path, depth: usize) {
        if depth >= MAX_DEPTH || self.seen.len() >= MAX_FILES {
            self.problem(from, line, "includes nested too deeply or too many files");
            return;
        }
        if self.seen.contains(target) {
            self.problem(from, line, "file included twice (include loop?)");
            return;
        }
        let on_disk = resolve_in_root(self.root, &target.to_string_lossy());
        match read_bounded(&on_disk, MAX_FILE_BYTES) {
            Ok(bytes) => self.file(target, &bytes, depth + 1),
            Err(e) => {
                let message = format!("included file {} unreadable: {e}", target.display());
                self.problem(from, line, &message);
            }
        }
    }

    /// Files of an include directory in lexical order, skipping names with a `.` or ending with
    /// `~`, as sudo does (editor backups, package manager leftovers).
    fn dir(&mut self, from: &Path, line: u32, target: &Path, depth: usize) {
        let on_disk = resolve_in_root(self.root, &target.to_string_lossy());
        let Ok(entries) = std::fs::read_dir(&on_disk) else {
            return;
        };
        let mut names: Vec<_> = entries
            .flatten()
            .filter(|e| e.file_type().map(|t| t.is_file()).unwrap_or(false))
            .map(|e| e.file_name())
            .filter(|n| {
                let n = n.to_string_lossy();
                !n.contains('.') && !n.ends_with('~')
            })
            .collect();
        names.sort();
        for name in names {
            self.include(from, line, &target.join(name), depth);
        }
    }

    fn finish(self) -> Sudoers {
        let Walk {
            out, mut problems, ..
        } = self;
        let no_auth = out
            .defaults
            .iter()
            .any(|d| d.scope.is_empty() && d.setting == "!authenticate");
        let rules = out
            .rules
            .iter()
            .map(|r| analyse(r, &out.user_aliases, &out.cmnd_aliases, no_auth))
            .collect();
        problems.truncate(200);
        Sudoers {
            rules,
            defaults: out.defaults,
            problems,
        }
    }
}

/// Logical lines (continuations joined) with comments removed, each with its first line number.
fn logical_lines(bytes: &[u8], problems: &mut Vec<LineProblem>) -> Vec<(u32, String)> {
    let mut out: Vec<(u32, String)> = Vec::new();
    let mut pending: Option<(u32, String)> = None;
    for (line_no, raw) in lines(bytes, problems) {
        let text = String::from_utf8_lossy(raw);
        let (start, mut acc) = pending.take().unwrap_or((line_no, String::new()));
        let trimmed = text.trim_end();
        if let Some(head) = trimmed.strip_suffix('\\') {
            acc.push_str(head);
            acc.push(' ');
            pending = Some((start, acc));
        } else {
            acc.push_str(trimmed);
            out.push((start, acc));
        }
    }
    if let Some(p) = pending {
        out.push(p);
    }
    out
}

/// Removes a comment: `#` outside quotes, unless it starts a `#uid`/`%#gid` or is escaped.
fn strip_comment(line: &str) -> &str {
    let mut quoted = false;
    let mut escaped = false;
    let mut prev = ' ';
    for (i, c) in line.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == '"' {
            quoted = !quoted;
        } else if c == '#' && !quoted {
            let next_digit = line
                .get(i + 1..)
                .and_then(|r| r.chars().next())
                .is_some_and(|n| n.is_ascii_digit());
            let id_position = prev.is_whitespace() || ",(!=:%".contains(prev);
            if !(next_digit && id_position) {
                return line.get(..i).unwrap_or(line);
            }
        }
        prev = c;
    }
    line
}

/// Splits at `sep` outside quotes and parentheses, honouring backslash escapes.
fn split_top(s: &str, sep: char) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut quoted, mut escaped, mut start) = (0i32, false, false, 0);
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' => escaped = true,
            '"' => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted => depth -= 1,
            c if c == sep && !quoted && depth <= 0 => {
                out.push(s.get(start..i).unwrap_or_default());
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    out.push(s.get(start..).unwrap_or_default());
    out
}

/// Splits a spec at the `:` that start another `NAME = ...` (an alias definition or another host
/// list), leaving the `:` of tags such as `NOPASSWD:` alone.
fn split_specs(s: &str) -> Vec<&str> {
    let parts = split_top(s, ':');
    let mut out: Vec<&str> = Vec::new();
    let mut start = 0usize;
    let mut offset = 0usize;
    for (i, part) in parts.iter().enumerate() {
        if i > 0 && starts_new_spec(part) {
            out.push(s.get(start..offset.saturating_sub(1)).unwrap_or_default());
            start = offset;
        }
        offset += part.len() + 1;
    }
    out.push(s.get(start..).unwrap_or_default());
    out
}

fn starts_new_spec(part: &str) -> bool {
    let t = part.trim_start();
    let word_len = t
        .find(|c: char| !(c.is_ascii_alphanumeric() || "_.,!+-%#@".contains(c)))
        .unwrap_or(t.len());
    let (word, rest) = t.split_at(word_len);
    let rest = rest.trim_start();
    !word.is_empty() && rest.starts_with('=') && !rest.starts_with("==") && !OPTIONS.contains(&word)
}

fn parse_text(file: &Path, bytes: &[u8]) -> Parsed {
    let mut p = Parsed::default();
    for (line, text) in logical_lines(bytes, &mut p.problems) {
        let trimmed = text.trim();
        if let Some((is_dir, target)) = directive(trimmed) {
            match unquote(target) {
                Some(t) => p.includes.push((line, t, is_dir)),
                None => p
                    .problems
                    .push(LineProblem::new(line, "include without a path")),
            }
            continue;
        }
        let body = strip_comment(trimmed).trim();
        if body.is_empty() {
            continue;
        }
        let first = body.split_whitespace().next().unwrap_or_default();
        if first.starts_with("Defaults") {
            defaults(file, line, body, &mut p);
        } else if let Some(kind) = [
            "User_Alias",
            "Runas_Alias",
            "Host_Alias",
            "Cmnd_Alias",
            "Cmd_Alias",
        ]
        .iter()
        .find(|k| first == **k)
        {
            aliases(
                line,
                kind,
                body.get(first.len()..).unwrap_or_default(),
                &mut p,
            );
        } else {
            user_spec(file, line, body, &mut p);
        }
    }
    p
}

/// `#include`, `@include`, `#includedir`, `@includedir` and their argument.
fn directive(line: &str) -> Option<(bool, &str)> {
    for (word, is_dir) in [
        ("#includedir", true),
        ("@includedir", true),
        ("#include", false),
        ("@include", false),
    ] {
        if let Some(rest) = line.strip_prefix(word) {
            if rest.starts_with(char::is_whitespace) {
                return Some((is_dir, rest.trim()));
            }
        }
    }
    None
}

fn unquote(s: &str) -> Option<String> {
    let s = s.trim();
    let s = s
        .strip_prefix('"')
        .and_then(|r| r.strip_suffix('"'))
        .unwrap_or(s);
    (!s.is_empty()).then(|| s.replace("\\ ", " "))
}

fn defaults(file: &Path, line: u32, body: &str, p: &mut Parsed) {
    let first_len = body.find(char::is_whitespace).unwrap_or(body.len());
    let (head, rest) = body.split_at(first_len);
    let scope = head.strip_prefix("Defaults").unwrap_or_default();
    if !(scope.is_empty() || scope.starts_with(['@', ':', '!', '>'])) {
        p.problems.push(LineProblem::new(
            line,
            "unknown Defaults binding, expected @ : ! or >",
        ));
        return;
    }
    let settings: Vec<&str> = split_top(rest, ',')
        .into_iter()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if settings.is_empty() {
        p.problems
            .push(LineProblem::new(line, "Defaults without a setting"));
        return;
    }
    for setting in settings {
        let setting: String = setting.split_whitespace().collect::<Vec<_>>().join(" ");
        p.defaults.push(DefaultEntry {
            file: file.to_path_buf(),
            line,
            scope: cap(scope),
            setting: cap(&setting
                .replace(" = ", "=")
                .replace("= ", "=")
                .replace(" =", "=")),
        });
    }
}

fn is_alias_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_uppercase())
        && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

fn aliases(line: u32, kind: &str, rest: &str, p: &mut Parsed) {
    for def in split_specs(rest) {
        let Some((name, members)) = def.split_once('=') else {
            p.problems
                .push(LineProblem::new(line, "alias definition without `=`"));
            continue;
        };
        let name = name.trim();
        if !is_alias_name(name) || name == "ALL" {
            p.problems.push(LineProblem::new(
                line,
                "alias name must be capital letters, digits and `_`",
            ));
            continue;
        }
        let members: Vec<String> = split_top(members, ',')
            .into_iter()
            .map(|m| m.trim().to_owned())
            .filter(|m| !m.is_empty())
            .collect();
        if members.is_empty() {
            p.problems
                .push(LineProblem::new(line, "alias with no member"));
            continue;
        }
        match kind {
            "User_Alias" => {
                p.user_aliases.insert(name.to_owned(), members);
            }
            "Cmnd_Alias" | "Cmd_Alias" => {
                p.cmnd_aliases.insert(name.to_owned(), members);
            }
            _ => {}
        }
    }
}

fn user_spec(file: &Path, line: u32, body: &str, p: &mut Parsed) {
    let specs = split_specs(body);
    let mut specs = specs.into_iter();
    let Some((lhs, first_cmds)) = specs.next().and_then(|s| s.split_once('=')) else {
        p.problems.push(LineProblem::new(
            line,
            "syntax error: expected `users hosts = commands`",
        ));
        return;
    };
    let normalised = lhs.split(',').map(str::trim).collect::<Vec<_>>().join(",");
    let words: Vec<&str> = normalised.split_whitespace().collect();
    let [who, _hosts] = words.as_slice() else {
        p.problems.push(LineProblem::new(
            line,
            "syntax error: expected a user list and a host list before `=`",
        ));
        return;
    };
    let mut lists = vec![first_cmds];
    for more in specs {
        match more.split_once('=') {
            Some((_host, cmds)) => lists.push(cmds),
            None => p.problems.push(LineProblem::new(
                line,
                "syntax error: host list without `=`",
            )),
        }
    }
    let mut cmds = Vec::new();
    let mut runas = String::new();
    for list in &lists {
        match commands(list, &mut runas) {
            Ok(c) => cmds.extend(c),
            Err(message) => {
                p.problems.push(LineProblem::new(line, message));
                return;
            }
        }
    }
    let rule = lists
        .iter()
        .map(|l| l.trim())
        .collect::<Vec<_>>()
        .join(" : ");
    p.rules.push(RawRule {
        file: file.to_path_buf(),
        line,
        who: cap(who),
        runas: cap(&runas),
        rule: cap(&rule),
        cmds,
    });
}

/// The commands of one list, with runas and tags carried from one command to the next.
fn commands(list: &str, runas: &mut String) -> Result<Vec<Cmd>, &'static str> {
    let mut out = Vec::new();
    let mut nopasswd = false;
    for spec in split_top(list, ',') {
        let mut rest = spec.trim();
        if rest.starts_with('(') {
            let Some(end) = rest.find(')') else {
                return Err("syntax error: unbalanced parenthesis in runas");
            };
            if runas.is_empty() {
                *runas = rest.get(..=end).unwrap_or_default().to_owned();
            }
            rest = rest.get(end + 1..).unwrap_or_default().trim_start();
        }
        loop {
            let word_len = rest
                .find(|c: char| !(c.is_ascii_uppercase() || c == '_'))
                .unwrap_or(rest.len());
            let (word, after) = rest.split_at(word_len);
            if TAGS.contains(&word) && after.starts_with(':') {
                match word {
                    "NOPASSWD" => nopasswd = true,
                    "PASSWD" => nopasswd = false,
                    _ => {}
                }
                rest = after.get(1..).unwrap_or_default().trim_start();
            } else if OPTIONS.contains(&word) && after.starts_with('=') {
                let end = after.find(char::is_whitespace).unwrap_or(after.len());
                rest = after.get(end..).unwrap_or_default().trim_start();
            } else {
                break;
            }
        }
        if rest.is_empty() {
            return Err("syntax error: empty command");
        }
        if rest.starts_with('(') {
            return Err("syntax error: runas list in the wrong place");
        }
        out.push(Cmd {
            text: rest.to_owned(),
            nopasswd,
        });
    }
    Ok(out)
}

/// Expands aliases and reduces the commands to facts.
fn analyse(
    r: &RawRule,
    users: &BTreeMap<String, Vec<String>>,
    cmnds: &BTreeMap<String, Vec<String>>,
    no_auth: bool,
) -> RuleFacts {
    let mut facts = RuleFacts {
        file: r.file.clone(),
        line: r.line,
        who: r.who.clone(),
        who_expanded: Vec::new(),
        runas: r.runas.clone(),
        rule: r.rule.clone(),
        nopasswd: false,
        all_commands: false,
        nopasswd_all: false,
        negation: false,
        wildcard: false,
    };
    for item in r.who.split(',') {
        expand(item, false, users, 0, &mut facts.who_expanded);
    }
    facts.who_expanded.truncate(100);
    for cmd in &r.cmds {
        let nopasswd = cmd.nopasswd || no_auth;
        let mut leaves = Vec::new();
        expand(&cmd.text, false, cmnds, 0, &mut leaves);
        for leaf in leaves {
            let negated = leaf.starts_with('!');
            let text = leaf.trim_start_matches('!');
            facts.negation |= negated;
            facts.wildcard |= text.contains('*');
            facts.nopasswd |= nopasswd && !negated;
            if text == "ALL" && !negated {
                facts.all_commands = true;
                facts.nopasswd_all |= nopasswd;
            }
        }
    }
    facts
}

/// Expands one list item through `aliases`, prefixing `!` to what a negated item expands to.
fn expand(
    item: &str,
    negated: bool,
    aliases: &BTreeMap<String, Vec<String>>,
    depth: usize,
    out: &mut Vec<String>,
) {
    let item = item.trim();
    let bangs = item.len() - item.trim_start_matches('!').len();
    let negated = negated ^ (bangs % 2 == 1);
    let bare = item.trim_start_matches('!').trim();
    let first = bare.split_whitespace().next().unwrap_or_default();
    match aliases.get(first) {
        Some(members) if depth < MAX_ALIAS_DEPTH && first == bare => {
            for m in members {
                expand(m, negated, aliases, depth + 1, out);
            }
        }
        _ => out.push(if negated {
            format!("!{bare}")
        } else {
            bare.to_owned()
        }),
    }
}

/// Whether `who_expanded` grants the account: sudo lets the last matching item decide, so a
/// negated item after a positive one excludes.
pub fn grants(who_expanded: &[String], name: &str, uid: u32, groups: &[(String, u32)]) -> bool {
    let mut result = None;
    for item in who_expanded {
        let negated = item.starts_with('!');
        let bare = item.trim_start_matches('!');
        let hit = match bare {
            "ALL" => true,
            _ if bare.starts_with("%#") => {
                let gid = bare.get(2..).and_then(|g| g.parse::<u32>().ok());
                groups.iter().any(|(_, g)| Some(*g) == gid)
            }
            _ if bare.starts_with('%') => {
                let group = bare.trim_start_matches(['%', ':']);
                groups.iter().any(|(n, _)| n == group)
            }
            _ if bare.starts_with('#') => {
                bare.get(1..).and_then(|u| u.parse::<u32>().ok()) == Some(uid)
            }
            _ => bare == name,
        };
        if hit {
            result = Some(!negated);
        }
    }
    result == Some(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(s: &Sudoers) -> String {
        let mut out = Vec::new();
        for d in &s.defaults {
            out.push(format!(
                "default {}:{} [{}] {}",
                d.file.display(),
                d.line,
                d.scope,
                d.setting
            ));
        }
        for r in &s.rules {
            let mut flags = Vec::new();
            for (on, name) in [
                (r.all_commands, "all"),
                (r.nopasswd, "nopasswd"),
                (r.nopasswd_all, "nopasswd_all"),
                (r.negation, "negation"),
                (r.wildcard, "wildcard"),
            ] {
                if on {
                    flags.push(name);
                }
            }
            out.push(format!(
                "rule {}:{} who={} [{}] runas={} {{{}}} {}",
                r.file.display(),
                r.line,
                r.who,
                r.who_expanded.join(","),
                r.runas,
                r.rule,
                flags.join(" ")
            ));
        }
        for p in &s.problems {
            out.push(format!(
                "problem {}:{} {}",
                p.file.display(),
                p.problem.line,
                p.problem.message
            ));
        }
        out.join("\n")
    }

    #[track_caller]
    fn check(input: &str, expect: &str) {
        let s = parse_one(Path::new("/etc/sudoers"), input.as_bytes());
        assert_eq!(render(&s), expect);
    }

    #[test]
    fn debian_stock() {
        check(
            "#\n# This file MUST be edited with the 'visudo' command as root.\n\
             Defaults\tenv_reset\nDefaults\tmail_badpass\n\
             Defaults\tsecure_path=\"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\"\n\
             Defaults\tuse_pty\n\
             # User privilege specification\nroot\tALL=(ALL:ALL) ALL\n\
             %sudo\tALL=(ALL:ALL) ALL\n\
             # See sudoers(5) for more information on \"@include\" directives:\n",
            "default /etc/sudoers:3 [] env_reset\n\
             default /etc/sudoers:4 [] mail_badpass\n\
             default /etc/sudoers:5 [] secure_path=\"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\"\n\
             default /etc/sudoers:6 [] use_pty\n\
             rule /etc/sudoers:8 who=root [root] runas=(ALL:ALL) {(ALL:ALL) ALL} all\n\
             rule /etc/sudoers:9 who=%sudo [%sudo] runas=(ALL:ALL) {(ALL:ALL) ALL} all",
        );
    }

    #[test]
    fn tags_aliases_negations() {
        check(
            "User_Alias ADMINS = alice, bob : OPS = carol\n\
             Cmnd_Alias SHELLS = /bin/sh, /bin/bash\n\
             Cmnd_Alias EVERYTHING = ALL\n\
             ADMINS ALL = (root) NOPASSWD: EVERYTHING\n\
             OPS, dave ALL = ALL, !SHELLS, !/usr/bin/su\n\
             %helpdesk ALL = /usr/bin/systemctl restart *, NOPASSWD: /usr/bin/apt-get update\n\
             deploy ALL=(ALL) NOPASSWD:ALL\n\
             eve host1 = PASSWD: /bin/ls : host2 = NOPASSWD: ALL\n\
             Defaults:ADMINS !requiretty, timestamp_timeout = 5\n\
             #1000 ALL = CWD=/tmp /usr/bin/id # trailing comment\n",
            "default /etc/sudoers:9 [:ADMINS] !requiretty\n\
             default /etc/sudoers:9 [:ADMINS] timestamp_timeout=5\n\
             rule /etc/sudoers:4 who=ADMINS [alice,bob] runas=(root) {(root) NOPASSWD: EVERYTHING} all nopasswd nopasswd_all\n\
             rule /etc/sudoers:5 who=OPS,dave [carol,dave] runas= {ALL, !SHELLS, !/usr/bin/su} all negation\n\
             rule /etc/sudoers:6 who=%helpdesk [%helpdesk] runas= {/usr/bin/systemctl restart *, NOPASSWD: /usr/bin/apt-get update} nopasswd wildcard\n\
             rule /etc/sudoers:7 who=deploy [deploy] runas=(ALL) {(ALL) NOPASSWD:ALL} all nopasswd nopasswd_all\n\
             rule /etc/sudoers:8 who=eve [eve] runas= {PASSWD: /bin/ls : NOPASSWD: ALL} all nopasswd nopasswd_all\n\
             rule /etc/sudoers:10 who=#1000 [#1000] runas= {CWD=/tmp /usr/bin/id} ",
        );
        // `Defaults !authenticate` makes every rule password-less.
        check(
            "Defaults !authenticate\nbob ALL = ALL\n",
            "default /etc/sudoers:1 [] !authenticate\nrule /etc/sudoers:2 who=bob [bob] runas= {ALL} all nopasswd nopasswd_all",
        );
        // Continuation lines join; the rule keeps its first line number.
        check(
            "alice ALL = /bin/ls, \\\n   /bin/cat\n",
            "rule /etc/sudoers:1 who=alice [alice] runas= {/bin/ls,     /bin/cat} ",
        );
    }

    #[test]
    fn syntax_errors_are_located_not_quoted() {
        check(
            "alice ALL /bin/ls\n\
             bob ALL = (root /bin/ls\n\
             carol dave ALL = ALL\n\
             Defaults\n\
             Defaultsx foo\n\
             Cmnd_Alias lower = /bin/ls\n\
             frank ALL = NOPASSWD:\n\
             ok ALL = ALL\n",
            "rule /etc/sudoers:8 who=ok [ok] runas= {ALL} all\n\
             problem /etc/sudoers:1 syntax error: expected `users hosts = commands`\n\
             problem /etc/sudoers:2 syntax error: unbalanced parenthesis in runas\n\
             problem /etc/sudoers:3 syntax error: expected a user list and a host list before `=`\n\
             problem /etc/sudoers:4 Defaults without a setting\n\
             problem /etc/sudoers:5 unknown Defaults binding, expected @ : ! or >\n\
             problem /etc/sudoers:6 alias name must be capital letters, digits and `_`\n\
             problem /etc/sudoers:7 syntax error: empty command",
        );
        // A 10 MB line is refused by the line reader, and the next line is still read.
        let long = format!("{}\nok ALL = ALL\n", "x".repeat(10 * 1024 * 1024));
        check(
            &long,
            "rule /etc/sudoers:2 who=ok [ok] runas= {ALL} all\nproblem /etc/sudoers:1 line longer than 65536 bytes, ignored",
        );
    }

    #[test]
    fn includes_are_followed_under_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("etc/sudoers.d")).unwrap();
        std::fs::write(
            root.join("etc/sudoers"),
            "Defaults use_pty\n@includedir /etc/sudoers.d\n#include extra\n@include /etc/missing\n",
        )
        .unwrap();
        std::fs::write(root.join("etc/sudoers.d/10-admins"), "alice ALL = ALL\n").unwrap();
        std::fs::write(root.join("etc/sudoers.d/20-old~"), "mallory ALL = ALL\n").unwrap();
        std::fs::write(root.join("etc/sudoers.d/README.txt"), "mallory ALL = ALL\n").unwrap();
        std::fs::write(
            root.join("etc/sudoers.d/30-loop"),
            "#include /etc/sudoers\n",
        )
        .unwrap();
        std::fs::write(root.join("etc/extra"), "bob ALL = NOPASSWD: ALL\n").unwrap();
        let s = read(root).unwrap().unwrap();
        assert_eq!(
            render(&s),
            "default /etc/sudoers:1 [] use_pty\n\
             rule /etc/sudoers.d/10-admins:1 who=alice [alice] runas= {ALL} all\n\
             rule /etc/extra:1 who=bob [bob] runas= {NOPASSWD: ALL} all nopasswd nopasswd_all\n\
             problem /etc/sudoers.d/30-loop:1 file included twice (include loop?)\n\
             problem /etc/sudoers:4 included file /etc/missing unreadable: No such file or directory (os error 2)"
        );
        let empty = tempfile::tempdir().unwrap();
        assert_eq!(read(empty.path()).unwrap(), None);
    }

    #[test]
    fn grants_follow_the_last_match() {
        let groups = vec![("sudo".to_owned(), 27u32)];
        let who = |items: &[&str]| items.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(grants(&who(&["%sudo"]), "alice", 1000, &groups));
        assert!(grants(&who(&["%#27"]), "alice", 1000, &groups));
        assert!(grants(&who(&["#1000"]), "alice", 1000, &groups));
        assert!(grants(&who(&["ALL"]), "alice", 1000, &[]));
        assert!(!grants(&who(&["ALL", "!alice"]), "alice", 1000, &[]));
        assert!(!grants(&who(&["bob"]), "alice", 1000, &groups));
    }
}
