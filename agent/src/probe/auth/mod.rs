//! The password and authentication policy probe (`auth.pam`, domain `AUTH_POLICY`): the PAM
//! stacks really in use (Debian `common-*` through `passwd`, `login`, `sshd`; RHEL `system-auth`
//! and `password-auth`), the password quality pam_pwquality enforces after its arguments override
//! pwquality.conf, password history, the pam_unix hash, pam_faillock lockout after its arguments
//! override faillock.conf, every `nullok`, unknown modules, login.defs ageing and hash method, the
//! pam_access and pam_time rule files, and idle session limits (TMOUT, logind, GNOME lock).
//!
//! Every file is read under `ProbeCx::root` with bounded reads; a missing file is an absent fact,
//! a malformed one a problem string in the evidence, never a probe error. No password, hash or
//! secret-looking argument value is ever carried. Not here: /etc/shadow, sudoers and accounts (the
//! accounts probe), sshd settings (the SSH probe), and any judgement (the collector's rules).

mod access;
mod faillock;
mod files;
mod logindefs;
mod pam;
mod pwquality;
mod session;

use std::collections::BTreeSet;
use std::path::Path;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use vigie_proto::v1::domain_state::State;
use vigie_proto::v1::{
    AuthPolicy, Domain, LoginDefs, PamLocation, PamRule, PamStack, PasswordQuality, Source,
};

use super::{ConfigError, Probe, ProbeCx, ProbeError};
use files::Reader;
use pam::{module_name, Expander};

const PROBE_ID: &str = "auth.pam";

/// Services whose stacks are examined, in this order. `passwd` changes passwords; `login` and
/// `sshd` are the interactive entry points; the shared files are read directly too, because a host
/// may wire them into services not listed here.
const SERVICES: &[&str] = &[
    "passwd",
    "login",
    "sshd",
    "su",
    "sudo",
    "other",
    "common-auth",
    "common-password",
    "system-auth",
    "password-auth",
];
/// Where the password-change stack is, in order of preference.
const PASSWORD_STACKS: &[&str] = &["passwd", "common-password", "system-auth"];
/// Interactive entry points whose auth phase must lock out; the shared files stand in when
/// neither service file exists.
const LOGIN_STACKS: &[&str] = &["login", "sshd"];
const SHARED_AUTH_STACKS: &[&str] = &["common-auth", "system-auth", "password-auth"];
/// pam_unix's hash options (`man pam_unix`).
const HASHES: &[&str] = &[
    "md5",
    "bigcrypt",
    "sha256",
    "sha512",
    "blowfish",
    "gost_yescrypt",
    "yescrypt",
];
/// pam_pwhistory's default `remember`.
const PWHISTORY_DEFAULT_REMEMBER: u32 = 10;
const PWHISTORY_CONF: &str = "/etc/security/pwhistory.conf";
/// Modules the agent knows (Linux-PAM's own and the common third-party ones); others are
/// recorded as unknown.
const KNOWN_MODULES: &[&str] = &[
    "pam_access",
    "pam_cap",
    "pam_cracklib",
    "pam_debug",
    "pam_deny",
    "pam_echo",
    "pam_env",
    "pam_exec",
    "pam_faildelay",
    "pam_faillock",
    "pam_filter",
    "pam_fprintd",
    "pam_ftp",
    "pam_gnome_keyring",
    "pam_group",
    "pam_issue",
    "pam_keyinit",
    "pam_krb5",
    "pam_kwallet5",
    "pam_lastlog",
    "pam_lastlog2",
    "pam_ldap",
    "pam_limits",
    "pam_listfile",
    "pam_localuser",
    "pam_loginuid",
    "pam_mail",
    "pam_mkhomedir",
    "pam_motd",
    "pam_mount",
    "pam_namespace",
    "pam_nologin",
    "pam_oddjob_mkhomedir",
    "pam_passwdqc",
    "pam_permit",
    "pam_pwhistory",
    "pam_pwquality",
    "pam_rhosts",
    "pam_rootok",
    "pam_securetty",
    "pam_selinux",
    "pam_sepermit",
    "pam_setquota",
    "pam_shells",
    "pam_sss",
    "pam_stress",
    "pam_succeed_if",
    "pam_systemd",
    "pam_systemd_home",
    "pam_tally",
    "pam_tally2",
    "pam_time",
    "pam_timestamp",
    "pam_tty_audit",
    "pam_u2f",
    "pam_umask",
    "pam_unix",
    "pam_userdb",
    "pam_usertype",
    "pam_warn",
    "pam_wheel",
    "pam_winbind",
    "pam_wtmpdb",
    "pam_xauth",
    "pam_google_authenticator",
    "pam_oath",
    "pam_yubico",
    "pam_pkcs11",
    "pam_ecryptfs",
    "pam_ssh_agent_auth",
    "pam_fscrypt",
];

/// `[probes.auth]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// Whether the password and authentication policy probe runs.
    pub enabled: bool,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self { enabled: true }
    }
}

impl AuthConfig {
    /// Builds the probe; nothing to validate yet.
    pub fn build(&self) -> Result<Box<dyn Probe>, ConfigError> {
        Ok(Box::new(AuthProbe))
    }
}

struct AuthProbe;

#[async_trait]
impl Probe for AuthProbe {
    fn id(&self) -> &'static str {
        PROBE_ID
    }

    fn domain(&self) -> Domain {
        Domain::AuthPolicy
    }

    async fn collect(&self, cx: &ProbeCx) -> Result<State, ProbeError> {
        let root = cx.root.clone();
        // File reads block; keep them off the async workers.
        tokio::task::spawn_blocking(move || State::AuthPolicy(gather(&root)))
            .await
            .map_err(|e| ProbeError::Cancelled {
                probe: PROBE_ID.to_owned(),
                message: e.to_string(),
            })
    }
}

/// Reads everything under `root` into the domain's state. Total: never fails.
pub fn gather(root: &Path) -> AuthPolicy {
    let mut reader = Reader::new(root);
    let login_defs = match reader.lines(logindefs::PATH) {
        Some(lines) => {
            let mut problems = Vec::new();
            let defs = logindefs::parse(&lines, &mut |m| problems.push(m));
            problems.into_iter().for_each(|m| reader.problem(m));
            defs
        }
        None => LoginDefs::default(),
    };
    let mut expander = Expander::default();
    let stacks: Vec<PamStack> = SERVICES
        .iter()
        .map(|s| expander.stack(&mut reader, s))
        .filter(|s| s.present)
        .collect();
    let find = |names: &[&str]| -> Option<&PamStack> {
        names
            .iter()
            .find_map(|n| stacks.iter().find(|s| s.name == *n))
    };
    let mut policy = AuthPolicy {
        max_password_age_days: login_defs.pass_max_days,
        pam_stacks: stacks.iter().map(|s| s.name.clone()).collect(),
        ..AuthPolicy::default()
    };
    if let Some(stack) = find(PASSWORD_STACKS) {
        policy.quality = Some(quality(&mut reader, stack));
        let (remember, module) = history(&mut reader, stack);
        policy.password_history = remember;
        policy.password_history_module = module;
        policy.hash_method = pam_unix_hash(stack);
    }
    let login: Vec<&PamStack> = LOGIN_STACKS
        .iter()
        .filter_map(|n| stacks.iter().find(|s| s.name == *n))
        .collect();
    let auth_stacks = if login.is_empty() {
        find(SHARED_AUTH_STACKS).into_iter().collect()
    } else {
        login
    };
    if !auth_stacks.is_empty() {
        policy.lockout = Some(lockout(&mut reader, &auth_stacks));
    }
    let (nullok, unknown) = scan(&stacks);
    policy.nullok_in_pam = !nullok.is_empty();
    policy.nullok = nullok;
    policy.unknown_modules = unknown;
    for stack in &stacks {
        for rule in stack.rules.iter().filter(|r| is_tally(r)) {
            reader.problem(format!(
                "{}:{}: {} is not interpreted (removed from Linux-PAM 1.5, use pam_faillock)",
                rule.file,
                rule.line,
                module_name(&rule.module)
            ));
        }
    }
    policy.access_rules = access::access_rules(&mut reader, &stacks);
    policy.time_rules = access::time_rules(&mut reader, &stacks);
    policy.session_lock = Some(session::gather(&mut reader));
    policy.login_defs = Some(login_defs);
    policy.stacks = stacks;
    policy.sources = reader
        .sources
        .iter()
        .map(|p| Source {
            kind: "file".to_owned(),
            locator: p.clone(),
        })
        .collect();
    policy.problems = std::mem::take(&mut reader.problems);
    policy
}

fn location(rule: &PamRule, stack: &str) -> PamLocation {
    PamLocation {
        file: rule.file.clone(),
        line: rule.line,
        module: rule.module.clone(),
        stack: stack.to_owned(),
    }
}

fn password_rules(stack: &PamStack) -> impl Iterator<Item = &PamRule> {
    stack.rules.iter().filter(|r| r.r#type == "password")
}

/// Whether a failure of this line fails the stack: `required`, `requisite`, or a bracket control
/// whose failure actions include `bad` or `die`. `sufficient` and `optional` lines only advise.
fn control_is_fatal(control: &str) -> bool {
    let lower = control.to_ascii_lowercase();
    match lower.as_str() {
        "required" | "requisite" => true,
        "sufficient" | "optional" => false,
        _ => lower
            .trim_start_matches('[')
            .trim_end_matches(']')
            .split_whitespace()
            .filter_map(|pair| pair.split_once('='))
            .any(|(value, action)| value != "success" && (action == "bad" || action == "die")),
    }
}

fn quality(reader: &mut Reader<'_>, stack: &PamStack) -> PasswordQuality {
    let found = password_rules(stack).find(|r| {
        matches!(
            module_name(&r.module),
            "pam_pwquality" | "pam_cracklib" | "pam_passwdqc"
        )
    });
    let Some(rule) = found else {
        return PasswordQuality {
            stack: stack.name.clone(),
            ..PasswordQuality::default()
        };
    };
    let name = module_name(&rule.module).to_owned();
    let origin = format!("{}:{}", rule.file, rule.line);
    let mut q = match name.as_str() {
        "pam_pwquality" => {
            let mut s = pwquality::Settings::pwquality();
            let mut files: Vec<String> =
                pwquality::drop_in_names(&reader.dir_entries(pwquality::CONF_DIR))
                    .iter()
                    .map(|n| format!("{}/{n}", pwquality::CONF_DIR))
                    .collect();
            files.push(pwquality::CONF.to_owned());
            for file in files {
                let Some(lines) = reader.lines(&file) else {
                    continue;
                };
                if let Err(e) = s.apply_file(&file, &lines) {
                    reader.problem(e);
                    break;
                }
            }
            for p in s.apply_args(&rule.args, &origin, false) {
                reader.problem(p);
            }
            s.to_wire()
        }
        "pam_cracklib" => {
            let mut s = pwquality::Settings::cracklib();
            let _ = s.apply_args(&rule.args, &origin, true);
            s.to_wire()
        }
        _ => {
            reader.problem(format!(
                "{origin}: {name} settings are not interpreted by the agent"
            ));
            PasswordQuality::default()
        }
    };
    q.module = name;
    q.location = Some(location(rule, &stack.name));
    q.control = rule.control.clone();
    q.stack = stack.name.clone();
    q.enforced = q.interpreted && q.enforcing && control_is_fatal(&rule.control);
    q
}

/// The larger `remember` of pam_pwhistory (defaults to 10, pwhistory.conf then arguments) and
/// pam_unix, with the module that gives it.
fn history(reader: &mut Reader<'_>, stack: &PamStack) -> (u32, String) {
    let mut best = (0, String::new());
    for rule in password_rules(stack) {
        let remember = match module_name(&rule.module) {
            "pam_pwhistory" => {
                let mut value = PWHISTORY_DEFAULT_REMEMBER;
                if let Some(lines) = reader.lines(PWHISTORY_CONF) {
                    value = conf_value(&lines, "remember").unwrap_or(value);
                }
                arg_value(&rule.args, "remember").unwrap_or(value)
            }
            "pam_unix" => arg_value(&rule.args, "remember").unwrap_or(0),
            _ => continue,
        };
        if remember > best.0 {
            best = (remember, module_name(&rule.module).to_owned());
        }
    }
    best
}

fn arg_value(args: &[String], key: &str) -> Option<u32> {
    args.iter()
        .filter_map(|a| a.split_once('='))
        .filter(|(k, _)| *k == key)
        .filter_map(|(_, v)| v.parse().ok())
        .next_back()
}

fn conf_value(lines: &files::Lines, key: &str) -> Option<u32> {
    lines
        .iter()
        .map(|(_, l)| l.split('#').next().unwrap_or_default())
        .filter_map(|l| l.split_once('='))
        .filter(|(k, _)| k.trim() == key)
        .filter_map(|(_, v)| v.trim().parse().ok())
        .next_back()
}

/// The last hash option given to pam_unix in the password phase, or empty.
fn pam_unix_hash(stack: &PamStack) -> String {
    password_rules(stack)
        .filter(|r| module_name(&r.module) == "pam_unix")
        .flat_map(|r| r.args.iter())
        .filter(|a| HASHES.contains(&a.as_str()))
        .last()
        .cloned()
        .unwrap_or_default()
}

fn lockout(reader: &mut Reader<'_>, stacks: &[&PamStack]) -> vigie_proto::v1::Lockout {
    let mut with = Vec::new();
    let mut without = Vec::new();
    let mut first: Option<(&PamRule, &str)> = None;
    for stack in stacks {
        let authfail = stack.rules.iter().find(|r| {
            r.r#type == "auth"
                && module_name(&r.module) == "pam_faillock"
                && r.args.iter().any(|a| a == "authfail")
        });
        match authfail {
            Some(rule) => {
                with.push(stack.name.clone());
                first = first.or(Some((rule, &stack.name)));
            }
            None => without.push(stack.name.clone()),
        }
    }
    let mut settings = faillock::Settings::default();
    let conf = first
        .and_then(|(r, _)| faillock::conf_arg(&r.args))
        .unwrap_or(faillock::CONF)
        .to_owned();
    // Read even when no stack uses it, so that the evidence shows what it would set.
    if let Some(lines) = reader.lines(&conf) {
        for p in settings.apply_file(&conf, &lines) {
            reader.problem(p);
        }
    }
    if let Some((rule, _)) = first {
        for p in settings.apply_args(&rule.args, &format!("{}:{}", rule.file, rule.line)) {
            reader.problem(p);
        }
    }
    let mut l = settings.to_wire();
    l.enabled = !with.is_empty() && without.is_empty();
    l.module = if first.is_some() {
        "pam_faillock".to_owned()
    } else {
        String::new()
    };
    l.location = first.map(|(r, s)| location(r, s));
    l.stacks_with = with;
    l.stacks_without = without;
    l
}

fn is_tally(rule: &PamRule) -> bool {
    matches!(module_name(&rule.module), "pam_tally" | "pam_tally2")
}

/// Every `nullok` given to pam_unix and every unknown module, each place once.
fn scan(stacks: &[PamStack]) -> (Vec<PamLocation>, Vec<PamLocation>) {
    let mut seen_nullok = BTreeSet::new();
    let mut seen_unknown = BTreeSet::new();
    let mut nullok = Vec::new();
    let mut unknown = Vec::new();
    for stack in stacks {
        for rule in &stack.rules {
            let name = module_name(&rule.module);
            let key = (rule.file.clone(), rule.line);
            if name == "pam_unix"
                && rule
                    .args
                    .iter()
                    .any(|a| a == "nullok" || a == "nullok_secure")
                && seen_nullok.insert(key.clone())
            {
                nullok.push(location(rule, &stack.name));
            }
            if !KNOWN_MODULES.contains(&name) && seen_unknown.insert(key) {
                unknown.push(location(rule, &stack.name));
            }
        }
    }
    (nullok, unknown)
}

#[cfg(test)]
mod tests;
