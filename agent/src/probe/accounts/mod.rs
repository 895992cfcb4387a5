//! The accounts probe (`accounts.local`): every account of /etc/passwd with the facts derived from
//! /etc/shadow (password state, hash scheme, ageing, expiry), its administrative groups, what
//! sudoers grants it, its last login (lastlog, wtmp, wtmpdb, lastlog2), plus the sudoers rules and `Defaults`
//! themselves and every line that could not be parsed.
//!
//! **Invariant:** no password hash, salt or other part of a hash field leaves this module: the
//! parsers reduce the field to `PasswordFacts` on the line they read it from, and problems name a
//! file and a line, never their content. The logins of contractor accounts (and of no other
//! account, DESIGN decision 15) come from the journal and auth.log (`logins`). Not here: PAM and
//! password policy (`auth`), sshd settings (`ssh`), and any judgement.

mod authorized_keys;
mod cursor;
mod group;
mod lastlog;
mod logindb;
mod logins;
mod passwd;
mod shadow;
mod sudoers;

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use vigie_proto::v1::domain_state::State;
use vigie_proto::v1::{
    principal, Account, Accounts, AccountsProblem, Domain, Principal, PrivilegedGroup, SudoDefault,
    SudoRule,
};

use super::fsutil::{read_bounded, resolve_in_root, unix_path};
use super::{ConfigError, Probe, ProbeCx, ProbeError};

const PROBE_ID: &str = "accounts.local";
/// passwd, group and shadow of a host with thousands of accounts stay far below this.
const MAX_DB_BYTES: u64 = 8 * 1024 * 1024;
/// Longest line of any text file read here; longer lines are reported and skipped.
const MAX_LINE_BYTES: usize = 64 * 1024;
/// Accounts reported; a bigger passwd is cut with a warning.
const MAX_ACCOUNTS: usize = 20_000;
const MAX_PROBLEMS: usize = 200;
const MAX_WARNINGS: usize = 50;
/// Longest host text carried as written (names, sudoers text).
const MAX_TEXT_CHARS: usize = 200;
/// The administrative groups of Debian (sudo, adm), RHEL (wheel) and old Ubuntu (admin).
const PRIVILEGED_GROUPS: &[&str] = &["sudo", "wheel", "adm", "admin"];
/// Shells that refuse an interactive login.
const NO_LOGIN_SHELLS: &[&str] = &["nologin", "false", "sync", "shutdown", "halt"];
const DAY_MS: i64 = 86_400_000;

/// `[probes.accounts]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct AccountsConfig {
    /// Whether the accounts probe runs.
    pub enabled: bool,
    /// User names of contractor accounts (HYG 3): flagged in evidence, their authorized keys read.
    pub contractors: Vec<String>,
    /// Groups whose members (listed or by primary group) are contractors, e.g. `prestataires`.
    pub contractor_groups: Vec<String>,
    /// Days of sshd logs read for contractor logins (1 to 366).
    pub login_window_days: u32,
    /// A journal file read instead of the system journal (tests, copies of a journal).
    pub journal_file: Option<PathBuf>,
    /// A journal directory read instead of the system journal (`journalctl --directory`).
    pub journal_dir: Option<PathBuf>,
}

impl Default for AccountsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            contractors: Vec::new(),
            contractor_groups: Vec::new(),
            login_window_days: 30,
            journal_file: None,
            journal_dir: None,
        }
    }
}

impl AccountsConfig {
    /// Validates the settings and builds the probe.
    pub fn build(&self) -> Result<Box<dyn Probe>, ConfigError> {
        for (key, names) in [
            ("contractors", &self.contractors),
            ("contractor_groups", &self.contractor_groups),
        ] {
            if let Some(bad) = names.iter().find(|n| !valid_name(n)) {
                return Err(ConfigError::Invalid {
                    probe: "accounts",
                    key,
                    reason: format!("{bad:?} is not a user or group name"),
                });
            }
        }
        if !(1..=366).contains(&self.login_window_days) {
            return Err(ConfigError::Invalid {
                probe: "accounts",
                key: "login_window_days",
                reason: format!("{} is not between 1 and 366", self.login_window_days),
            });
        }
        for (key, path) in [
            ("journal_file", &self.journal_file),
            ("journal_dir", &self.journal_dir),
        ] {
            if path.as_ref().is_some_and(|p| !p.is_absolute()) {
                return Err(ConfigError::Invalid {
                    probe: "accounts",
                    key,
                    reason: "must be an absolute path".to_owned(),
                });
            }
        }
        Ok(Box::new(AccountsProbe {
            cfg: self.clone(),
            pending: std::sync::Mutex::new(None),
        }))
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 256
        && !name
            .chars()
            .any(|c| c == ':' || c == ',' || c.is_whitespace() || c.is_control())
}

struct AccountsProbe {
    cfg: AccountsConfig,
    /// The login cursor of the last cycle (its `now_ms`), stored once its report is spooled.
    pending: std::sync::Mutex<Option<(i64, cursor::LoginCursor)>>,
}

#[async_trait]
impl Probe for AccountsProbe {
    fn id(&self) -> &'static str {
        PROBE_ID
    }

    fn domain(&self) -> Domain {
        Domain::Accounts
    }

    async fn collect(&self, cx: &ProbeCx) -> Result<State, ProbeError> {
        let cx = cx.clone();
        let cfg = self.cfg.clone();
        // With a state directory (`run`), logins are read from where the last spooled report
        // stopped, so each is sent once; `check` reads the whole window and stores nothing.
        let mut cursor_warnings = Vec::new();
        let saved = match (&cx.state_dir, has_contractors(&cfg)) {
            (Some(dir), true) => Some(cursor::load(dir, &mut cursor_warnings).unwrap_or_default()),
            _ => None,
        };
        // The journal is read only when contractors are declared: nobody else's logins are needed.
        let since_ms = login_since_ms(&cx, &cfg);
        let args = |after: Option<&str>| {
            logins::journal_args(
                &cx.root,
                cx.is_live_root(),
                cfg.journal_file.as_deref(),
                cfg.journal_dir.as_deref(),
                since_ms,
                after,
            )
            .filter(|_| has_contractors(&cfg))
        };
        let after = saved.as_ref().and_then(|c| c.journal.clone());
        let program = logins::journalctl_program();
        let mut journal = match args(after.as_deref()) {
            Some(a) => Some(logins::run_journalctl(&program, &a, cx.command_timeout).await),
            None => None,
        };
        // A cursor journalctl refuses (journal replaced, file damaged): read the window again
        // rather than never again; the collector ignores logins it already holds.
        if after.is_some() && matches!(journal, Some(Err(_))) {
            if let (Some(Err(e)), Some(a)) = (&journal, args(None)) {
                cursor_warnings.push(format!(
                    "reading the journal after the stored cursor: {e}; the whole window is read again"
                ));
                journal = Some(logins::run_journalctl(&program, &a, cx.command_timeout).await);
            }
        }
        let now_ms = cx.now_ms;
        let (mut accounts, next) =
            tokio::task::spawn_blocking(move || observe_with(&cx, &cfg, journal, saved.as_ref()))
                .await
                .map_err(|e| ProbeError::Cancelled {
                    probe: PROBE_ID.to_owned(),
                    message: e.to_string(),
                })??;
        accounts.warnings.extend(cursor_warnings);
        if let Ok(mut pending) = self.pending.lock() {
            *pending = next.map(|c| (now_ms, c));
        }
        Ok(State::Accounts(accounts))
    }

    fn spooled(&self, cx: &ProbeCx) {
        let Some(dir) = &cx.state_dir else {
            return;
        };
        let next = match self.pending.lock() {
            Ok(mut p) => p.take(),
            Err(_) => None,
        };
        if let Some((at, c)) = next.filter(|(at, _)| *at == cx.now_ms) {
            if let Err(error) = cursor::store(dir, &c) {
                tracing::warn!(probe = PROBE_ID, %error, at, "Could not store the contractor login cursor; logins may be sent again.");
            }
        }
    }
}

/// A problem on one line (0: the whole file). The message describes a shape, never quotes content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineProblem {
    pub line: u32,
    pub message: String,
}

impl LineProblem {
    fn new(line: u32, message: impl Into<String>) -> Self {
        Self {
            line,
            message: message.into(),
        }
    }
}

/// Numbered lines (from 1) without their `\n`/`\r\n`; lines over `MAX_LINE_BYTES` are reported and
/// left out.
fn lines<'a>(bytes: &'a [u8], problems: &mut Vec<LineProblem>) -> Vec<(u32, &'a [u8])> {
    let mut out = Vec::new();
    for (i, line) in bytes.split(|b| *b == b'\n').enumerate() {
        let no = u32::try_from(i + 1).unwrap_or(u32::MAX);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.len() > MAX_LINE_BYTES {
            problems.push(LineProblem::new(
                no,
                format!("line longer than {MAX_LINE_BYTES} bytes, ignored"),
            ));
            continue;
        }
        out.push((no, line));
    }
    out
}

/// Host text capped to `MAX_TEXT_CHARS` characters.
fn cap(s: &str) -> String {
    s.chars().take(MAX_TEXT_CHARS).collect()
}

/// A name as shown: lossy UTF-8, capped. Matching always uses the raw bytes.
fn show(name: &[u8]) -> String {
    cap(&String::from_utf8_lossy(name))
}

struct Files {
    problems: Vec<AccountsProblem>,
    warnings: Vec<String>,
}

impl Files {
    fn problems(&mut self, file: &str, found: Vec<LineProblem>) {
        self.problems
            .extend(found.into_iter().map(|p| AccountsProblem {
                file: Some(unix_path(Path::new(file))),
                line: p.line,
                message: p.message,
            }));
    }

    /// Reads a database file; `None` (with a warning) when it cannot be read.
    fn read(&mut self, root: &Path, file: &str) -> Option<Vec<u8>> {
        match read_bounded(&resolve_in_root(root, file), MAX_DB_BYTES) {
            Ok(bytes) => {
                if u64::try_from(bytes.len()).unwrap_or(u64::MAX) >= MAX_DB_BYTES {
                    self.warnings
                        .push(format!("{file} larger than 8 MiB: the rest is ignored"));
                }
                Some(bytes)
            }
            Err(e) => {
                self.warnings.push(format!("reading {file}: {e}"));
                None
            }
        }
    }
}

/// Why /etc/passwd gave nothing to report.
#[derive(Debug, thiserror::Error)]
enum PasswdError {
    #[error("no valid account line ({malformed} malformed lines, AG0160)")]
    NoAccount { malformed: usize },
}

fn has_contractors(cfg: &AccountsConfig) -> bool {
    !cfg.contractors.is_empty() || !cfg.contractor_groups.is_empty()
}

fn login_since_ms(cx: &ProbeCx, cfg: &AccountsConfig) -> i64 {
    cx.now_ms
        .saturating_sub(i64::from(cfg.login_window_days).saturating_mul(DAY_MS))
}

#[cfg(test)]
fn observe(cx: &ProbeCx, cfg: &AccountsConfig) -> Result<Accounts, ProbeError> {
    observe_with(cx, cfg, None, None).map(|(a, _)| a)
}

/// `journal`: journalctl's output, or why it failed; `None` when it was not run. `saved`: where
/// the last spooled report stopped reading logins (`None`: read the whole window, keep no cursor).
/// Returns the state and, with `saved`, the cursor after this read.
fn observe_with(
    cx: &ProbeCx,
    cfg: &AccountsConfig,
    journal: Option<Result<Vec<u8>, String>>,
    saved: Option<&cursor::LoginCursor>,
) -> Result<(Accounts, Option<cursor::LoginCursor>), ProbeError> {
    let root = cx.root.as_path();
    let mut files = Files {
        problems: Vec::new(),
        warnings: Vec::new(),
    };
    let passwd_path = resolve_in_root(root, "/etc/passwd");
    let bytes = read_bounded(&passwd_path, MAX_DB_BYTES).map_err(|source| ProbeError::Read {
        path: PathBuf::from("/etc/passwd"),
        source,
    })?;
    let mut found = Vec::new();
    let mut users = passwd::parse(&bytes, &mut found);
    if users.is_empty() {
        return Err(ProbeError::Read {
            path: PathBuf::from("/etc/passwd"),
            source: std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                PasswdError::NoAccount {
                    malformed: found.len(),
                },
            ),
        });
    }
    files.problems("/etc/passwd", found);
    if users.len() > MAX_ACCOUNTS {
        files.warnings.push(format!(
            "more than {MAX_ACCOUNTS} accounts: the rest is ignored"
        ));
        users.truncate(MAX_ACCOUNTS);
    }

    let groups = match files.read(root, "/etc/group") {
        Some(b) => {
            let mut found = Vec::new();
            let g = group::parse(&b, &mut found);
            files.problems("/etc/group", found);
            g
        }
        None => Vec::new(),
    };
    let shadow = files.read(root, "/etc/shadow").map(|b| {
        let mut found = Vec::new();
        let s = shadow::parse(&b, &mut found);
        files.problems("/etc/shadow", found);
        s
    });
    let defs = login_defs(root);
    let sudo = match sudoers::read(root) {
        Ok(s) => s,
        Err(e) => {
            files.warnings.push(format!("reading /etc/sudoers: {e}"));
            None
        }
    };
    let uids: Vec<u32> = users.iter().map(|u| u.uid).collect();
    let (last, last_source) = last_logins(root, &uids, &users, &mut files.warnings);

    // Group memberships of every account: listed, and by primary group.
    let by_name: BTreeMap<&[u8], &passwd::PasswdEntry> =
        users.iter().map(|u| (u.name.as_slice(), u)).collect();
    let mut member_of: BTreeMap<&[u8], Vec<(String, u32)>> = BTreeMap::new();
    for u in &users {
        let mut own: Vec<(String, u32)> = groups
            .iter()
            .filter(|g| g.gid == u.gid || g.members.contains(&u.name))
            .map(|g| (show(&g.name), g.gid))
            .collect();
        if !own.iter().any(|(_, gid)| *gid == u.gid) {
            own.push((String::new(), u.gid));
        }
        member_of.insert(u.name.as_slice(), own);
    }
    let shadow_by_name: BTreeMap<&[u8], &shadow::ShadowEntry> = shadow
        .iter()
        .flatten()
        .map(|s| (s.name.as_slice(), s))
        .collect();
    let contractor_groups: BTreeSet<&str> =
        cfg.contractor_groups.iter().map(String::as_str).collect();

    let mut accounts = Vec::with_capacity(users.len());
    let mut contractor_uids: BTreeMap<Vec<u8>, u32> = BTreeMap::new();
    for u in &users {
        let name = show(&u.name);
        let own = member_of
            .get(u.name.as_slice())
            .cloned()
            .unwrap_or_default();
        let privileged: Vec<String> = own
            .iter()
            .filter(|(g, _)| PRIVILEGED_GROUPS.contains(&g.as_str()))
            .map(|(g, _)| g.clone())
            .collect();
        let contractor = cfg.contractors.iter().any(|c| c.as_bytes() == u.name)
            || own
                .iter()
                .any(|(g, _)| contractor_groups.contains(g.as_str()));
        let mut account = Account {
            principal: Some(Principal {
                id: Some(principal::Id::Uid(u.uid)),
                name: name.clone(),
            }),
            shell: Some(unix_path(Path::new(OsStr::from_bytes(&u.shell)))),
            gid: u.gid,
            login_shell: is_login_shell(&u.shell),
            system: u.uid <= defs.sys_uid_max || u.uid > defs.uid_max,
            privileged_groups: privileged,
            contractor,
            last_login_ms: last.get(&u.uid).map_or(0, |secs| {
                secs.saturating_mul(1000).div_euclid(DAY_MS) * DAY_MS
            }),
            min_days: -1,
            max_days: -1,
            warn_days: -1,
            inactive_days: -1,
            ..Default::default()
        };
        match (
            shadow.is_some(),
            shadow_by_name.get(u.name.as_slice()),
            u.inline_password,
        ) {
            // libc reads passwd's own field when it is not `x`: shadow is then irrelevant.
            (_, _, Some(facts)) => {
                account.password_state = facts.state.as_str().to_owned();
                account.hash_scheme = facts.scheme.to_owned();
            }
            (true, Some(s), None) => fill_shadow(&mut account, s),
            (true, None, None) => account.password_state = "absent".to_owned(),
            (false, _, None) => account.password_state = "unknown".to_owned(),
        }
        if let Some(s) = &sudo {
            let granting: Vec<&sudoers::RuleFacts> = s
                .rules
                .iter()
                .filter(|r| sudoers::grants(&r.who_expanded, &name, u.uid, &own))
                .collect();
            account.sudo = !granting.is_empty();
            account.sudo_nopasswd_all = granting.iter().any(|r| r.nopasswd_all);
        }
        if contractor {
            contractor_uids.insert(u.name.clone(), u.uid);
            // Group names only for contractors: ACC-003 matches them against sshd `Match Group`,
            // pam_access and pam_time; nobody else's memberships are needed.
            account.groups = own
                .iter()
                .filter(|(g, _)| !g.is_empty())
                .map(|(g, _)| g.clone())
                .collect();
            account.authorized_keys =
                authorized_keys::read(root, &u.home, &mut files.warnings, &name);
        }
        accounts.push(account);
    }

    let privileged_groups = groups
        .iter()
        .filter(|g| PRIVILEGED_GROUPS.contains(&show(&g.name).as_str()))
        .map(|g| {
            let mut members: Vec<Principal> = g
                .members
                .iter()
                .map(|m| Principal {
                    id: by_name.get(m.as_slice()).map(|u| principal::Id::Uid(u.uid)),
                    name: show(m),
                })
                .collect();
            for u in users.iter().filter(|u| u.gid == g.gid) {
                if !g.members.contains(&u.name) {
                    members.push(Principal {
                        id: Some(principal::Id::Uid(u.uid)),
                        name: show(&u.name),
                    });
                }
            }
            PrivilegedGroup {
                group: Some(Principal {
                    id: Some(principal::Id::Gid(g.gid)),
                    name: show(&g.name),
                }),
                members,
            }
        })
        .collect();

    let (sudo_rules, sudo_defaults) = match &sudo {
        Some(s) => {
            for p in &s.problems {
                files.problems.push(AccountsProblem {
                    file: Some(unix_path(&p.file)),
                    line: p.problem.line,
                    message: p.problem.message.clone(),
                });
            }
            (
                s.rules.iter().map(wire_rule).collect(),
                s.defaults
                    .iter()
                    .map(|d| SudoDefault {
                        file: Some(unix_path(&d.file)),
                        line: d.line,
                        scope: d.scope.clone(),
                        setting: d.setting.clone(),
                    })
                    .collect(),
            )
        }
        None => (Vec::new(), Vec::new()),
    };
    let mut next_cursor = None;
    let (contractor_logins, contractor_logins_omitted, login_sources) = if contractor_uids
        .is_empty()
    {
        (Vec::new(), 0, String::new())
    } else {
        let since_ms = login_since_ms(cx, cfg);
        let mut gathered = logins::Gathered::default();
        match journal {
            Some(Ok(bytes)) => logins::read_journal_output(&bytes, since_ms, &mut gathered),
            Some(Err(e)) => gathered.warnings.push(format!("reading the journal: {e}")),
            None => {}
        }
        let positions = saved.map(|c| c.files.clone()).unwrap_or_default();
        logins::read_syslog_files(root, cx.now_ms, since_ms, &positions, &mut gathered);
        files.warnings.append(&mut gathered.warnings);
        if let Some(saved) = saved {
            let mut next = saved.clone();
            if let Some(c) = gathered.journal_cursor.take() {
                next.journal = Some(c);
            }
            next.files.extend(std::mem::take(&mut gathered.positions));
            next_cursor = Some(next);
        }
        let (l, omitted) = logins::select(gathered.events, &contractor_uids, logins::MAX_LOGINS);
        let sources = if gathered.sources.is_empty() {
            "none".to_owned()
        } else {
            gathered.sources.join("+")
        };
        (l, omitted, sources)
    };
    files.problems.truncate(MAX_PROBLEMS);
    files.warnings.truncate(MAX_WARNINGS);
    Ok((
        Accounts {
            accounts,
            contractor_logins,
            contractor_logins_omitted,
            contractor_login_sources: login_sources,
            sudo_rules,
            privileged_groups,
            sudo_defaults,
            problems: files.problems,
            warnings: files.warnings,
            last_login_source: last_source,
            sys_uid_max: defs.sys_uid_max,
            shadow_read: shadow.is_some(),
            sudoers_read: sudo.is_some(),
        },
        next_cursor,
    ))
}

fn fill_shadow(account: &mut Account, s: &shadow::ShadowEntry) {
    let days = |d: Option<u32>| d.map_or(-1, |d| i32::try_from(d).unwrap_or(i32::MAX));
    account.password_state = s.password.state.as_str().to_owned();
    account.hash_scheme = s.password.scheme.to_owned();
    account.password_changed_ms = match s.last_change_days {
        Some(d) if d > 0 => i64::from(d) * DAY_MS,
        _ => 0,
    };
    account.password_change_forced = s.last_change_days == Some(0);
    account.min_days = days(s.min_days);
    account.max_days = days(s.max_days);
    account.warn_days = days(s.warn_days);
    account.inactive_days = days(s.inactive_days);
    // Day 0 means "expired since 1970"; 1 ms keeps it apart from "no expiry".
    account.expires_ms = s.expire_days.map_or(0, |d| (i64::from(d) * DAY_MS).max(1));
}

fn wire_rule(r: &sudoers::RuleFacts) -> SudoRule {
    SudoRule {
        file: Some(unix_path(&r.file)),
        who: r.who.clone(),
        rule: r.rule.clone(),
        nopasswd: r.nopasswd,
        all_commands: r.all_commands,
        negation: r.negation,
        line: r.line,
        runas: r.runas.clone(),
        wildcard: r.wildcard,
        nopasswd_all: r.nopasswd_all,
        who_expanded: r.who_expanded.clone(),
    }
}

fn is_login_shell(shell: &[u8]) -> bool {
    let base = shell.rsplit(|b| *b == b'/').next().unwrap_or_default();
    !NO_LOGIN_SHELLS.iter().any(|s| s.as_bytes() == base)
}

/// The uid ranges of login.defs(5).
struct LoginDefs {
    sys_uid_max: u32,
    uid_max: u32,
}

fn login_defs(root: &Path) -> LoginDefs {
    let mut defs = LoginDefs {
        sys_uid_max: 999,
        uid_max: 60_000,
    };
    let Ok(bytes) = read_bounded(&resolve_in_root(root, "/etc/login.defs"), 1024 * 1024) else {
        return defs;
    };
    let mut ignored = Vec::new();
    for (_, line) in lines(&bytes, &mut ignored) {
        let text = String::from_utf8_lossy(line);
        let mut words = text.split_whitespace();
        let (Some(key), Some(value)) = (words.next(), words.next()) else {
            continue;
        };
        let Ok(value) = value.parse::<u32>() else {
            continue;
        };
        match key {
            "SYS_UID_MAX" => defs.sys_uid_max = value,
            "UID_MAX" => defs.uid_max = value,
            _ => {}
        }
    }
    defs
}

/// wtmpdb's default database (`wtmpdb --help`, pam_wtmpdb's `database=` default).
const WTMPDB_PATH: &str = "/var/lib/wtmpdb/wtmp.db";
/// liblastlog2's default database (util-linux).
const LASTLOG2_PATH: &str = "/var/lib/lastlog/lastlog2.db";

/// Last login (Unix seconds) per uid, from lastlog, wtmp, wtmpdb and lastlog2 (the newest of
/// them), and the names of the sources read, joined by `+`.
fn last_logins(
    root: &Path,
    uids: &[u32],
    users: &[passwd::PasswdEntry],
    warnings: &mut Vec<String>,
) -> (BTreeMap<u32, i64>, String) {
    let mut out: BTreeMap<u32, i64> = BTreeMap::new();
    let mut sources = Vec::new();
    match lastlog::read_lastlog(&resolve_in_root(root, "/var/log/lastlog"), uids) {
        Ok((times, truncated)) => {
            sources.push("lastlog");
            if truncated > 0 {
                warnings.push(format!(
                    "/var/log/lastlog: {truncated} records cut short by the end of the file"
                ));
            }
            out.extend(times);
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => warnings.push(format!("reading /var/log/lastlog: {e}")),
    }
    match lastlog::read_wtmp(&resolve_in_root(root, "/var/log/wtmp")) {
        Ok(times) => {
            sources.push("wtmp");
            for u in users {
                if let Some(t) = times.get(&u.name) {
                    let at = out.entry(u.uid).or_insert(0);
                    *at = (*at).max(*t);
                }
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => warnings.push(format!("reading /var/log/wtmp: {e}")),
    }
    // Debian 13 and later: pam_wtmpdb and pam_lastlog2 write SQLite databases instead.
    type DbReader = fn(&Path) -> Result<logindb::DbLogins, logindb::LoginDbError>;
    let dbs: [(&str, &str, DbReader); 2] = [
        ("wtmpdb", WTMPDB_PATH, logindb::read_wtmpdb),
        ("lastlog2", LASTLOG2_PATH, logindb::read_lastlog2),
    ];
    for (name, db, read) in dbs {
        let path = resolve_in_root(root, db);
        if !path.is_file() {
            if path.exists() {
                warnings.push(format!("reading {db}: not a regular file"));
            }
            continue;
        }
        match read(&path) {
            Ok(got) => {
                sources.push(name);
                if got.skipped > 0 {
                    warnings.push(format!(
                        "{db}: {} rows with an unusable user or time, ignored",
                        got.skipped
                    ));
                }
                if got.truncated {
                    warnings.push(format!(
                        "{db}: more rows than read ({} users at most), the rest is ignored",
                        logindb::MAX_USERS
                    ));
                }
                // Newest wins across every source.
                for u in users {
                    if let Some(t) = got.last.get(&u.name) {
                        let at = out.entry(u.uid).or_insert(0);
                        *at = (*at).max(*t);
                    }
                }
            }
            Err(e) => warnings.push(format!("reading {db}: {e}")),
        }
    }
    let source = if sources.is_empty() {
        "none".to_owned()
    } else {
        sources.join("+")
    };
    (out, source)
}

#[cfg(test)]
mod cursor_tests;
#[cfg(test)]
mod tests;
