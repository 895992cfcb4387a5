//! Native parser of sshd_config, following OpenSSH's `servconf.c` (9.2) where it matters for the
//! checks: keywords case-insensitive, `keyword value`, `keyword=value` or `keyword = value`,
//! double-quoted arguments, `#` comments; the first value obtained wins (except the accumulating
//! keywords of `keywords.rs`); `Include` globs, relative to /etc/ssh, expanded in sorted order and
//! read in place, an Include inside a Match block applying within it, and a Match inside an
//! included file ending with that file (`servconf.c` saves and restores `*activep` around each
//! included file); `Match` blocks running to the next Match or to the end of the file.
//!
//! Match blocks are recorded as data, not evaluated: the global settings are those of a
//! connection no block selects, and each block lists what it changes. `Match all` is the one
//! exception, since sshd applies it to every connection, global pass included.
//!
//! Every file is read under `ProbeCx::root`, bounded; bytes that are not UTF-8 are replaced, never
//! fatal; Include loops and nesting deeper than sshd's limit are reported, not followed. Not here:
//! defaults and algorithm lists (`effective.rs`), host keys (`keys.rs`).

use std::collections::BTreeMap;
use std::path::Path;

use vigie_proto::v1::ssh_config_problem::Kind;

use super::glob;
use super::keywords;
use crate::probe::fsutil::{read_bounded, resolve_in_root};

/// sshd_config files are a few kilobytes; one past this is cut and reported.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;
/// Longest line considered; sshd has no limit, but no real option needs more.
pub const MAX_LINE_BYTES: usize = 64 * 1024;
/// `SERVCONF_MAX_DEPTH` in `servconf.c`.
pub const MAX_DEPTH: usize = 16;
/// Files read in one parse, against pathological globs.
pub const MAX_FILES: usize = 256;
/// sshd's configuration directory, the base of relative Include paths (`SSHDIR`).
pub const SSHDIR: &str = "/etc/ssh";

/// A problem met while parsing, with the host path of its file and its 1-based line (0: the file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub kind: Kind,
    pub file: String,
    pub line: u32,
    pub message: String,
}

/// One Match block: its criteria, where it starts and what it sets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MatchBlock {
    pub criteria: String,
    pub file: String,
    pub line: u32,
    pub settings: BTreeMap<String, String>,
}

/// What a parse found. Settings are normalised values (see `normalise`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parsed {
    pub global: BTreeMap<String, String>,
    pub blocks: Vec<MatchBlock>,
    pub files_read: Vec<String>,
    pub problems: Vec<Problem>,
}

/// Where the lines being read put their settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Global,
    Block(usize),
}

struct Parser<'a> {
    root: &'a Path,
    out: Parsed,
    /// Files being read, outermost first: an Include of one of them is a loop.
    stack: Vec<String>,
}

/// Parses the configuration whose main file is `main` (a host path such as
/// `/etc/ssh/sshd_config`) under `root`. Returns `None` when the main file does not exist.
pub fn parse(root: &Path, main: &str) -> Option<Parsed> {
    let path = resolve_in_root(root, main);
    if !path.exists() {
        return None;
    }
    let mut p = Parser {
        root,
        out: Parsed::default(),
        stack: Vec::new(),
    };
    let mut target = Target::Global;
    p.file(main, &mut target, None, 0);
    Some(p.out)
}

impl Parser<'_> {
    fn problem(&mut self, kind: Kind, file: &str, line: u32, message: String) {
        self.out.problems.push(Problem {
            kind,
            file: file.to_owned(),
            line,
            message,
        });
    }

    /// Reads one file with `target` as the current block; `outer` is the criteria of the block
    /// the Include sits in, ANDed into any Match of this file.
    fn file(&mut self, host_path: &str, target: &mut Target, outer: Option<&str>, depth: usize) {
        if self.out.files_read.len() >= MAX_FILES {
            let msg = format!("more than {MAX_FILES} configuration files, the rest is ignored");
            self.problem(Kind::DepthLimit, host_path, 0, msg);
            return;
        }
        let bytes = match read_bounded(&resolve_in_root(self.root, host_path), MAX_FILE_BYTES + 1) {
            Ok(b) => b,
            Err(e) => {
                self.problem(Kind::Unreadable, host_path, 0, format!("reading: {e}"));
                return;
            }
        };
        self.out.files_read.push(host_path.to_owned());
        let truncated = bytes.len() as u64 > MAX_FILE_BYTES;
        let kept = bytes.get(..MAX_FILE_BYTES as usize).unwrap_or(&bytes);
        let mut lines: Vec<&[u8]> = kept.split(|b| *b == b'\n').collect();
        if truncated {
            // The last line is cut in the middle: ignore it rather than read half a value.
            lines.pop();
            let msg = format!("file longer than {MAX_FILE_BYTES} bytes, the rest is ignored");
            self.problem(Kind::Truncated, host_path, 0, msg);
        }
        self.stack.push(host_path.to_owned());
        for (index, raw) in lines.into_iter().enumerate() {
            let line = u32::try_from(index + 1).unwrap_or(u32::MAX);
            if raw.len() > MAX_LINE_BYTES {
                let msg = format!("line longer than {MAX_LINE_BYTES} bytes ignored");
                self.problem(Kind::Truncated, host_path, line, msg);
                continue;
            }
            let text = String::from_utf8_lossy(raw);
            self.line(host_path, line, &text, target, outer, depth);
        }
        self.stack.pop();
    }

    fn line(
        &mut self,
        file: &str,
        line: u32,
        text: &str,
        target: &mut Target,
        outer: Option<&str>,
        depth: usize,
    ) {
        let text = text.trim_end_matches('\r').trim();
        if text.is_empty() || text.starts_with('#') {
            return;
        }
        let (keyword, rest) = split_keyword(text);
        let lower = keyword.to_ascii_lowercase();
        if !keywords::is_known(&lower) {
            let msg = format!("unknown keyword {keyword:?}: sshd refuses to start");
            self.problem(Kind::UnknownKeyword, file, line, msg);
            return;
        }
        if *target != Target::Global && !keywords::allowed_in_match(&lower) {
            let msg = format!("{keyword} is not allowed inside a Match block");
            self.problem(Kind::NotAllowedInMatch, file, line, msg);
            return;
        }
        if lower == "match" {
            *target = self.start_match(file, line, rest.trim(), outer);
            return;
        }
        let args = match split_args(rest) {
            Ok(args) => args,
            Err(msg) => {
                self.problem(Kind::BadValue, file, line, format!("{keyword}: {msg}"));
                return;
            }
        };
        if lower == "include" {
            self.include(file, line, &args, target, outer, depth);
            return;
        }
        if keywords::is_ignored(&lower) {
            return;
        }
        let key = keywords::canonical(&lower);
        let value = match normalise(key, &args) {
            Ok(v) => v,
            Err(msg) => {
                self.problem(Kind::BadValue, file, line, format!("{keyword}: {msg}"));
                return;
            }
        };
        let map = match *target {
            Target::Global => &mut self.out.global,
            Target::Block(i) => match self.out.blocks.get_mut(i) {
                Some(block) => &mut block.settings,
                None => return,
            },
        };
        set(map, key, value);
    }

    fn start_match(
        &mut self,
        file: &str,
        line: u32,
        criteria: &str,
        outer: Option<&str>,
    ) -> Target {
        if criteria.is_empty() {
            let msg = "Match without criteria: sshd refuses to start".to_owned();
            self.problem(Kind::BadValue, file, line, msg);
        }
        if criteria.eq_ignore_ascii_case("all") && outer.is_none() {
            return Target::Global;
        }
        let criteria = match outer {
            Some(o) => format!("{o} {criteria}"),
            None => criteria.to_owned(),
        };
        self.out.blocks.push(MatchBlock {
            criteria,
            file: file.to_owned(),
            line,
            settings: BTreeMap::new(),
        });
        Target::Block(self.out.blocks.len().saturating_sub(1))
    }

    fn include(
        &mut self,
        file: &str,
        line: u32,
        args: &[String],
        target: &mut Target,
        outer: Option<&str>,
        depth: usize,
    ) {
        if args.is_empty() {
            let msg = "Include without a file name: sshd refuses to start".to_owned();
            self.problem(Kind::BadValue, file, line, msg);
        }
        for arg in args {
            let pattern = if arg.starts_with('/') || arg.starts_with('~') {
                arg.clone()
            } else {
                format!("{SSHDIR}/{arg}")
            };
            let matches = glob::expand(self.root, &pattern);
            // A pattern such as `sshd_config.d/*.conf` matching nothing is the normal state of a
            // stock host (sshd logs it at debug level); a named file that is missing is reported.
            if matches.is_empty() && !pattern.contains(['*', '?', '[']) {
                let msg = format!("Include {pattern}: no such file");
                self.problem(Kind::MissingInclude, file, line, msg);
            }
            for included in matches {
                if self.stack.contains(&included) {
                    let msg = format!("Include loop: {included} is already being read");
                    self.problem(Kind::IncludeLoop, file, line, msg);
                    continue;
                }
                if depth + 1 > MAX_DEPTH {
                    let msg =
                        format!("Includes nested deeper than {MAX_DEPTH}: {included} ignored");
                    self.problem(Kind::DepthLimit, file, line, msg);
                    continue;
                }
                // A Match in the included file ends with it: sshd restores the includer's state.
                let saved = *target;
                let criteria = match saved {
                    Target::Global => outer.map(str::to_owned),
                    Target::Block(i) => self.out.blocks.get(i).map(|b| b.criteria.clone()),
                };
                let mut inner = saved;
                self.file(&included, &mut inner, criteria.as_deref(), depth + 1);
                *target = saved;
            }
        }
    }
}

/// Records `value` for `key` in `map`: the first value wins, except for accumulating keywords.
fn set(map: &mut BTreeMap<String, String>, key: &str, value: String) {
    match map.get_mut(key) {
        None => {
            map.insert(key.to_owned(), value);
        }
        Some(existing) if keywords::accumulates(key) => {
            if key == "subsystem" {
                let name = value.split(' ').next().unwrap_or_default();
                let defined = existing
                    .split(',')
                    .any(|s| s.split(' ').next() == Some(name));
                if !defined {
                    existing.push(',');
                    existing.push_str(&value);
                }
            } else {
                existing.push(' ');
                existing.push_str(&value);
            }
        }
        Some(_) => {}
    }
}

/// Splits `keyword rest`, where the separator is whitespace, `=`, or both (`keyword = value`).
fn split_keyword(text: &str) -> (&str, &str) {
    let end = text
        .find(|c: char| c.is_whitespace() || c == '=')
        .unwrap_or(text.len());
    let (keyword, rest) = text.split_at(end);
    let rest = rest.trim_start();
    let rest = rest.strip_prefix('=').unwrap_or(rest);
    (keyword, rest.trim_start())
}

/// Splits arguments as sshd's `argv_split` does: whitespace-separated, double or single quotes
/// group (and are removed), backslash escapes a quote, backslash or space, and a word starting
/// with `#` ends the line.
pub fn split_args(rest: &str) -> Result<Vec<String>, String> {
    let mut args = Vec::new();
    let mut chars = rest.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        match chars.peek() {
            None | Some('#') => break,
            Some(_) => {}
        }
        let mut word = String::new();
        let mut quote: Option<char> = None;
        while let Some(&c) = chars.peek() {
            match (c, quote) {
                ('\\', _) => {
                    chars.next();
                    match chars.next() {
                        Some(n @ ('\\' | '"' | '\'' | ' ')) => word.push(n),
                        Some(n) => {
                            word.push('\\');
                            word.push(n);
                        }
                        None => word.push('\\'),
                    }
                    continue;
                }
                (q @ ('"' | '\''), None) => quote = Some(q),
                (q, Some(open)) if q == open => quote = None,
                (w, None) if w.is_whitespace() => break,
                _ => word.push(c),
            }
            chars.next();
        }
        if quote.is_some() {
            return Err("unterminated quoted argument".to_owned());
        }
        args.push(word);
    }
    Ok(args)
}

/// The value of `key` from its arguments, as `sshd -T` would print it, or why sshd refuses it.
/// Keywords the checks do not read are kept as written, arguments joined by one space.
pub fn normalise(key: &str, args: &[String]) -> Result<String, String> {
    let Some(first) = args.first() else {
        return Err("missing argument".to_owned());
    };
    let lower = first.to_ascii_lowercase();
    let one_of = |accepted: &[&str]| -> Result<String, String> {
        if accepted.contains(&lower.as_str()) {
            Ok(lower.clone())
        } else {
            Err(format!(
                "bad value {first:?}, expected one of: {}",
                accepted.join(", ")
            ))
        }
    };
    match key {
        "passwordauthentication"
        | "permitemptypasswords"
        | "kbdinteractiveauthentication"
        | "x11forwarding"
        | "pubkeyauthentication"
        | "usepam"
        | "disableforwarding"
        | "strictmodes"
        | "hostbasedauthentication"
        | "ignorerhosts"
        | "allowagentforwarding"
        | "gssapiauthentication"
        | "kerberosauthentication"
        | "printmotd"
        | "printlastlog"
        | "permittty"
        | "permituserrc" => one_of(&["yes", "no"]),
        "permitrootlogin" => match lower.as_str() {
            "without-password" => Ok("prohibit-password".to_owned()),
            _ => one_of(&["yes", "no", "prohibit-password", "forced-commands-only"]),
        },
        "allowtcpforwarding" | "allowstreamlocalforwarding" => match lower.as_str() {
            "all" => Ok("yes".to_owned()),
            _ => one_of(&["yes", "no", "local", "remote"]),
        },
        // yes, no, or a pattern list of the variables users may set.
        "permituserenvironment" => match lower.as_str() {
            "yes" | "no" => Ok(lower),
            _ => Ok(first.clone()),
        },
        "maxauthtries" | "maxsessions" | "clientalivecountmax" => first
            .parse::<u32>()
            .map(|n| n.to_string())
            .map_err(|_| format!("bad integer {first:?}")),
        "logingracetime" | "clientaliveinterval" => parse_time(first)
            .map(|s| s.to_string())
            .ok_or_else(|| format!("bad time {first:?}")),
        _ => Ok(args.join(" ")),
    }
}

/// sshd's time format (`convtime`): a number of seconds, or number+unit groups such as `1h30m`
/// (s, m, h, d, w, case-insensitive).
pub fn parse_time(text: &str) -> Option<u64> {
    if text.is_empty() {
        return None;
    }
    let mut total: u64 = 0;
    let mut digits = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let n: u64 = digits.parse().ok()?;
        digits.clear();
        let unit = match c.to_ascii_lowercase() {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            'w' => 604_800,
            _ => return None,
        };
        total = total.checked_add(n.checked_mul(unit)?)?;
    }
    if !digits.is_empty() {
        total = total.checked_add(digits.parse().ok()?)?;
    }
    i32::try_from(total).ok()?;
    Some(total)
}
