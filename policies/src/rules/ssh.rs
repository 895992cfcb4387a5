//! Rules over the `SshServer` evidence: SSH-001 (root login), SSH-002 (passwords), SSH-003
//! (authentication attempts and grace time), SSH-004 (allowlist, environment, forwarding) and
//! SSH-005 (host keys and algorithms). A host without sshd makes them not applicable.
//!
//! Settings are judged for every connection the configuration distinguishes: the global settings
//! and each Match block on top of them, so a block that re-opens root login for one address fails
//! the check and is named in the detail. Not here: the framing every check shares (`evaluate.rs`).

use std::collections::HashMap;

use vigie_proto::v1::SshServer;

use super::{RuleKind, Verdict};
use crate::text::{duration_fr, host_text, plural, SECOND_MS};
use crate::thresholds::ThresholdReader;

/// Items named in a detail before the rest is counted.
const MAX_NAMED: usize = 4;

/// One SSH rule with one profile's thresholds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SshRule {
    /// `ssh.root_login`: `no` always passes, `yes` always fails; the two key-only forms pass when
    /// the profile's flag tolerates them.
    RootLogin {
        allow_prohibit_password: bool,
        allow_forced_commands_only: bool,
    },
    /// `ssh.password_authentication`: empty passwords always fail; passwords (or
    /// keyboard-interactive) pass only as a second factor after a key, unless tolerated.
    PasswordAuth { allow_password: bool },
    /// `ssh.authentication_limits`: MaxAuthTries and LoginGraceTime at most these.
    AuthLimits {
        max_auth_tries: u64,
        max_login_grace_ms: i64,
    },
    /// `ssh.access_restrictions`: PermitUserEnvironment no always; allowlist and forwarding per
    /// profile.
    Access {
        require_allowlist: bool,
        forbid_tcp_forwarding: bool,
        forbid_x11_forwarding: bool,
    },
    /// `ssh.host_keys_and_algorithms`: no DSA, RSA and ECDSA sizes, no CBC/3DES/arcfour ciphers,
    /// no MD5 or truncated MACs (SHA-1 MACs per profile), no SHA-1 key exchange.
    Crypto {
        min_rsa_bits: u64,
        min_ecdsa_bits: u64,
        forbid_sha1_macs: bool,
    },
}

impl SshRule {
    pub(crate) fn read(kind: RuleKind, r: &mut ThresholdReader<'_>) -> SshRule {
        match kind {
            RuleKind::SshRootLogin => SshRule::RootLogin {
                allow_prohibit_password: r.flag("allow_prohibit_password_flag"),
                allow_forced_commands_only: r.flag("allow_forced_commands_only_flag"),
            },
            RuleKind::SshPasswordAuth => SshRule::PasswordAuth {
                allow_password: r.flag("allow_password_flag"),
            },
            RuleKind::SshAuthLimits => SshRule::AuthLimits {
                max_auth_tries: r.number("max_auth_tries_count"),
                max_login_grace_ms: r.duration_ms("max_login_grace_secs"),
            },
            RuleKind::SshAccessRestrictions => SshRule::Access {
                require_allowlist: r.flag("require_allowlist_flag"),
                forbid_tcp_forwarding: r.flag("forbid_tcp_forwarding_flag"),
                forbid_x11_forwarding: r.flag("forbid_x11_forwarding_flag"),
            },
            _ => {
                let min_rsa_bits = r.number("min_rsa_bits");
                r.require(
                    min_rsa_bits >= 1024,
                    "min_rsa_bits",
                    "must be at least 1024",
                );
                SshRule::Crypto {
                    min_rsa_bits,
                    min_ecdsa_bits: r.number("min_ecdsa_bits"),
                    forbid_sha1_macs: r.flag("forbid_sha1_macs_flag"),
                }
            }
        }
    }

    pub(crate) fn judge(&self, s: &SshServer) -> Verdict {
        if !s.installed {
            return Verdict::NotApplicable("aucun serveur SSH (sshd) installé".to_owned());
        }
        if s.settings.is_empty() {
            return Verdict::Unknown(
                "sshd installé, mais aucun fichier sshd_config n'a pu être lu".to_owned(),
            );
        }
        match self {
            SshRule::RootLogin {
                allow_prohibit_password,
                allow_forced_commands_only,
            } => {
                let ok = |v: &str| {
                    v == "no"
                        || (v == "prohibit-password" && *allow_prohibit_password)
                        || (v == "forced-commands-only" && *allow_forced_commands_only)
                };
                judge_each(
                    s,
                    "PermitRootLogin",
                    "connexion directe de root autorisée",
                    |c| {
                        let v = c.get("permitrootlogin");
                        let decides = c.decides(&["permitrootlogin"]);
                        (decides && !ok(v)).then(|| format!("PermitRootLogin {v}"))
                    },
                )
            }
            SshRule::PasswordAuth { allow_password } => judge_password(s, *allow_password),
            SshRule::AuthLimits {
                max_auth_tries,
                max_login_grace_ms,
            } => judge_limits(s, *max_auth_tries, *max_login_grace_ms),
            SshRule::Access {
                require_allowlist,
                forbid_tcp_forwarding,
                forbid_x11_forwarding,
            } => judge_access(
                s,
                *require_allowlist,
                *forbid_tcp_forwarding,
                *forbid_x11_forwarding,
            ),
            SshRule::Crypto {
                min_rsa_bits,
                min_ecdsa_bits,
                forbid_sha1_macs,
            } => judge_crypto(s, *min_rsa_bits, *min_ecdsa_bits, *forbid_sha1_macs),
        }
    }
}

/// The settings one kind of connection gets: a Match block's own, else the global ones.
struct Context<'a> {
    global: &'a HashMap<String, String>,
    block: Option<(&'a str, &'a HashMap<String, String>)>,
}

impl<'a> Context<'a> {
    fn get(&self, key: &str) -> &'a str {
        self.block
            .and_then(|(_, b)| b.get(key))
            .or_else(|| self.global.get(key))
            .map_or("", String::as_str)
    }

    /// Whether this context is where one of `keys` is decided: always for the global settings,
    /// and for a block only when it sets one of them itself. A block that inherits a failing
    /// global value is not reported a second time.
    fn decides(&self, keys: &[&str]) -> bool {
        match self.block {
            None => true,
            Some((_, b)) => keys.iter().any(|k| b.contains_key(*k)),
        }
    }

    /// ` (bloc « Match User x »)` for a block, nothing for the global settings.
    fn label(&self) -> String {
        match self.block {
            Some((criteria, _)) => format!(" (bloc « Match {} »)", host_text(criteria)),
            None => String::new(),
        }
    }
}

fn contexts(s: &SshServer) -> Vec<Context<'_>> {
    let mut all = vec![Context {
        global: &s.settings,
        block: None,
    }];
    all.extend(s.match_blocks.iter().map(|b| Context {
        global: &s.settings,
        block: Some((b.criteria.as_str(), &b.settings)),
    }));
    all
}

/// Applies `bad` to every context; passes with the global `key` value when none is bad.
fn judge_each(
    s: &SshServer,
    key: &str,
    what: &str,
    bad: impl Fn(&Context<'_>) -> Option<String>,
) -> Verdict {
    let failures: Vec<String> = contexts(s)
        .iter()
        .filter_map(|c| bad(c).map(|d| format!("{}{}", host_text(&d), c.label())))
        .collect();
    if failures.is_empty() {
        let global = s
            .settings
            .get(&key.to_ascii_lowercase())
            .map_or("", String::as_str);
        Verdict::Pass(format!("{key} {}", host_text(global)))
    } else {
        Verdict::fail(format!("{what} : {}", list(&failures)))
    }
}

/// `a, b, c, d et 2 autres`.
fn list(items: &[String]) -> String {
    let named: Vec<&str> = items.iter().take(MAX_NAMED).map(String::as_str).collect();
    let rest = items.len().saturating_sub(MAX_NAMED);
    if rest == 0 {
        named.join(" ; ")
    } else {
        format!(
            "{} et {}",
            named.join(" ; "),
            plural(rest, "autre", "autres")
        )
    }
}

/// Every AuthenticationMethods list requires a public key: a password is then a second factor.
fn key_required(methods: &str) -> bool {
    let lists: Vec<&str> = methods.split_whitespace().collect();
    !lists.is_empty()
        && !lists.contains(&"any")
        && lists.iter().all(|l| {
            l.split(',')
                .any(|m| m.split(':').next() == Some("publickey"))
        })
}

fn judge_password(s: &SshServer, allow_password: bool) -> Verdict {
    let mut failures = Vec::new();
    let mut second_factor = false;
    let mut tolerated = false;
    for c in contexts(s) {
        if c.decides(&["permitemptypasswords"]) && c.get("permitemptypasswords") == "yes" {
            failures.push(format!("PermitEmptyPasswords yes{}", c.label()));
        }
        let password = c.get("passwordauthentication") == "yes";
        let kbd = c.get("kbdinteractiveauthentication") == "yes";
        let keys = [
            "passwordauthentication",
            "kbdinteractiveauthentication",
            "authenticationmethods",
        ];
        if (!password && !kbd) || !c.decides(&keys) {
            continue;
        }
        if key_required(c.get("authenticationmethods")) {
            second_factor = true;
            continue;
        }
        let how = match (password, kbd) {
            (true, true) => "PasswordAuthentication yes, KbdInteractiveAuthentication yes",
            (true, false) => "PasswordAuthentication yes",
            _ => "KbdInteractiveAuthentication yes",
        };
        if allow_password {
            tolerated = true;
        } else {
            failures.push(format!("{how} sans clé exigée{}", c.label()));
        }
    }
    if !failures.is_empty() {
        return Verdict::fail(format!(
            "authentification par mot de passe ouverte : {}",
            list(&failures)
        ));
    }
    Verdict::Pass(
        match (tolerated, second_factor) {
            (true, _) => "mots de passe acceptés (tolérés par ce profil), mots de passe vides refusés",
            (false, true) => "mot de passe seulement en second facteur après une clé (AuthenticationMethods), mots de passe vides refusés",
            (false, false) => "authentification par mot de passe désactivée",
        }
        .to_owned(),
    )
}

fn judge_limits(s: &SshServer, max_tries: u64, max_grace_ms: i64) -> Verdict {
    let mut failures = Vec::new();
    for c in contexts(s) {
        let tries = c.get("maxauthtries");
        match tries.parse::<u64>() {
            _ if !c.decides(&["maxauthtries"]) => {}
            Ok(n) if n <= max_tries => {}
            _ => failures.push(format!(
                "MaxAuthTries {} (seuil {max_tries}){}",
                host_text(tries),
                c.label()
            )),
        }
    }
    let grace = s.settings.get("logingracetime").map_or("", String::as_str);
    let grace_ms = grace
        .parse::<i64>()
        .ok()
        .map(|secs| secs.saturating_mul(SECOND_MS));
    // LoginGraceTime 0 means no limit at all.
    match grace_ms {
        Some(ms) if ms > 0 && ms <= max_grace_ms => {}
        _ => failures.push(format!(
            "LoginGraceTime {} s (seuil {})",
            host_text(grace),
            duration_fr(max_grace_ms)
        )),
    }
    if failures.is_empty() {
        Verdict::Pass(format!(
            "MaxAuthTries {}, LoginGraceTime {} s",
            host_text(s.settings.get("maxauthtries").map_or("", String::as_str)),
            host_text(grace)
        ))
    } else {
        Verdict::fail(format!("limites trop larges : {}", list(&failures)))
    }
}

fn judge_access(s: &SshServer, allowlist: bool, no_tcp: bool, no_x11: bool) -> Verdict {
    let mut failures = Vec::new();
    let has = |k: &str| s.settings.get(k).is_some_and(|v| !v.trim().is_empty());
    if allowlist && !has("allowusers") && !has("allowgroups") {
        failures.push("ni AllowUsers ni AllowGroups".to_owned());
    }
    let env = s
        .settings
        .get("permituserenvironment")
        .map_or("", String::as_str);
    if env != "no" {
        failures.push(format!("PermitUserEnvironment {}", host_text(env)));
    }
    for c in contexts(s) {
        let all_off = c.get("disableforwarding") == "yes";
        let tcp = c.get("allowtcpforwarding");
        let decides_tcp = c.decides(&["allowtcpforwarding", "disableforwarding"]);
        if no_tcp && decides_tcp && !all_off && tcp != "no" {
            failures.push(format!(
                "AllowTcpForwarding {}{}",
                host_text(tcp),
                c.label()
            ));
        }
        let x11 = c.get("x11forwarding");
        let decides_x11 = c.decides(&["x11forwarding", "disableforwarding"]);
        if no_x11 && decides_x11 && !all_off && x11 != "no" {
            failures.push(format!("X11Forwarding {}{}", host_text(x11), c.label()));
        }
    }
    if failures.is_empty() {
        let mut done = vec!["PermitUserEnvironment no"];
        if allowlist {
            done.push("liste d'accès définie");
        }
        if no_tcp {
            done.push("redirection TCP interdite");
        }
        if no_x11 {
            done.push("X11 interdit");
        }
        Verdict::Pass(done.join(", "))
    } else {
        Verdict::fail(format!("accès trop ouvert : {}", list(&failures)))
    }
}

fn judge_crypto(s: &SshServer, min_rsa: u64, min_ecdsa: u64, no_sha1_macs: bool) -> Verdict {
    let mut failures = Vec::new();
    let mut unreadable = Vec::new();
    let in_use: Vec<_> = s.host_keys.iter().filter(|k| k.in_use).collect();
    for k in &in_use {
        let bits = u64::from(k.bits);
        let t = k.key_type.as_str();
        if !k.error.is_empty() {
            unreadable.push(host_text(t));
        } else if t == "ssh-dss" {
            failures.push(format!("clé d'hôte DSA ({bits} bits)"));
        } else if t == "ssh-rsa" && bits < min_rsa {
            failures.push(format!("clé d'hôte RSA de {bits} bits (minimum {min_rsa})"));
        } else if t.contains("ecdsa") && bits < min_ecdsa {
            failures.push(format!(
                "clé d'hôte ECDSA de {bits} bits (minimum {min_ecdsa})"
            ));
        }
    }
    let weak = |key: &str, is_weak: &dyn Fn(&str) -> bool| -> Option<String> {
        let list = s.settings.get(key).map_or("", String::as_str);
        let bad: Vec<&str> = list.split(',').filter(|a| is_weak(a)).collect();
        (!bad.is_empty()).then(|| host_text(&bad.join(", ")))
    };
    let weak_cipher = |a: &str| {
        ["cbc", "3des", "arcfour", "blowfish", "cast128", "rijndael"]
            .iter()
            .any(|w| a.contains(w))
    };
    let weak_mac =
        |a: &str| a.contains("md5") || a.contains("-96") || (no_sha1_macs && a.contains("sha1"));
    let weak_kex = |a: &str| a.contains("sha1");
    if let Some(b) = weak("ciphers", &weak_cipher) {
        failures.push(format!("chiffrements faibles : {b}"));
    }
    if let Some(b) = weak("macs", &weak_mac) {
        failures.push(format!("MAC faibles : {b}"));
    }
    if let Some(b) = weak("kexalgorithms", &weak_kex) {
        failures.push(format!("échanges de clés faibles : {b}"));
    }
    if !failures.is_empty() {
        return Verdict::fail(list(&failures));
    }
    if !unreadable.is_empty() {
        return Verdict::Unknown(format!("clé d'hôte illisible : {}", unreadable.join(", ")));
    }
    if in_use.is_empty() {
        return Verdict::Unknown("aucune clé d'hôte utilisée par sshd n'a été lue".to_owned());
    }
    let keys: Vec<String> = in_use
        .iter()
        .map(|k| format!("{} {}", host_text(&k.key_type), k.bits))
        .collect();
    Verdict::Pass(format!(
        "clés d'hôte {} ; aucun algorithme faible",
        keys.join(", ")
    ))
}

#[cfg(test)]
mod tests;
