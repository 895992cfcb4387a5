//! ACC-003: every open contractor account is restricted by source (it cannot log in over SSH from
//! an address no rule names) and, where the profile asks, by time (pam_time). Reads the accounts
//! evidence (contractor accounts, their groups and `from=` keys) with the SSH server's settings
//! and the PAM rules of the authentication policy (`related.rs`).
//!
//! "Restricted by source" is decided by asking what sshd and PAM would do with a connection of the
//! contractor from an address that no rule of the host (Match Address, AllowUsers `@host`, `from=`,
//! access.conf) nor the organisation's declared sources names: refused by AllowUsers/AllowGroups/
//! DenyUsers/DenyGroups, left with no usable authentication method (a Match block turning them
//! off, every key limited by `from=` and no password), or denied by pam_access in sshd's stack.
//! "Restricted by time" means a pam_time rule for sshd that selects the account, in sshd's stack.
//! An account already expired is closed and needs neither. Not here: the logins themselves
//! (ACC-004), expiry (ACC-002).

use std::net::IpAddr;

use vigie_proto::v1::{Account, Accounts, AuthPolicy, PamRule, SshServer};

use super::sshd_match::{
    addr_list, in_network, parse_cidr, pattern, refused_by_lists, Conn, Effective,
};
use super::Verdict;
use crate::evidence::HostFacts;
use crate::related::Related;
use crate::text::host_text;
use crate::thresholds::ThresholdReader;

/// Addresses tried as "an address no rule names", in order: documentation, shared and private
/// ranges first, so that no real host is named in a finding.
const PROBE_ADDRESSES: &[&str] = &[
    "203.0.113.200",
    "198.51.100.200",
    "192.0.2.200",
    "100.64.200.200",
    "198.18.200.200",
    "10.200.200.200",
    "172.31.200.200",
    "192.168.200.200",
];
const ACCESS_CONF: &str = "/etc/security/access.conf";
const ACCESS_DIR: &str = "/etc/security/access.d/";
const TIME_CONF: &str = "/etc/security/time.conf";
/// Accounts named in a detail before the rest is counted.
const MAX_NAMED: usize = 4;

/// `accounts.contractor_restrictions` with one profile's thresholds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ContractorAccess {
    /// Whether a time restriction (pam_time) is required besides the source restriction.
    require_time: bool,
}

impl ContractorAccess {
    pub(crate) fn read(r: &mut ThresholdReader<'_>) -> Self {
        ContractorAccess {
            require_time: r.flag("require_time_restriction_flag"),
        }
    }

    pub(crate) fn judge(
        &self,
        s: &Accounts,
        facts: &HostFacts,
        related: &Related<'_>,
        now_ms: i64,
    ) -> Verdict {
        let contractors: Vec<&Account> = s.accounts.iter().filter(|a| a.contractor).collect();
        if contractors.is_empty() {
            return Verdict::NotApplicable("aucun compte prestataire déclaré".to_owned());
        }
        let open: Vec<&Account> = contractors
            .iter()
            .copied()
            .filter(|a| a.expires_ms <= 0 || a.expires_ms > now_ms)
            .collect();
        if open.is_empty() {
            return Verdict::Pass(format!("{} fermé(s) (expiré(s))", count(contractors.len())));
        }
        let ssh = match related.ssh() {
            Ok(ssh) => ssh,
            Err(why) => {
                return Verdict::Unknown(format!("accès des prestataires non vérifiable : {why}"))
            }
        };
        if !ssh.installed {
            return Verdict::Pass(format!(
                "aucun serveur SSH : pas d'accès distant pour {}",
                count(open.len())
            ));
        }
        let auth = related.auth();
        let Some(probe) = probe_address(s, ssh, auth.as_ref().ok().copied(), facts) else {
            return Verdict::Unknown(
                "toutes les adresses d'essai sont nommées par une règle : restriction par source non vérifiable"
                    .to_owned(),
            );
        };
        let mut ok = Vec::new();
        let mut problems = Vec::new();
        let mut undecided = Vec::new();
        for a in &open {
            let name = a.principal.as_ref().map_or("", |p| p.name.as_str());
            let conn = Conn {
                user: name,
                groups: &a.groups,
                addr: probe,
            };
            let eff = Effective::of(ssh, &conn);
            let usepam = ssh.settings.get("usepam").is_some_and(|v| v == "yes");
            // Every mechanism that refuses the connection is named, not just the first.
            let mut source: Vec<String> = sshd_refuses(&eff, &conn, a).into_iter().collect();
            let mut time = None;
            if let (Ok(auth), true) = (&auth, usepam) {
                source.extend(pam_access_denies(auth, &conn));
                time = pam_time_applies(auth, &conn);
            }
            let who = host_text(name);
            let missing_source = source.is_empty();
            let missing_time = self.require_time && time.is_none();
            if (missing_source || missing_time) && auth.is_err() && usepam {
                undecided.push(who);
                continue;
            }
            let mut gaps = Vec::new();
            if missing_source {
                gaps.push(format!(
                    "joignable depuis n'importe quelle adresse (essai {probe})"
                ));
            }
            if missing_time {
                gaps.push("aucune plage horaire imposée (pam_time)".to_owned());
            }
            if gaps.is_empty() {
                let mut how = vec![format!("source : {}", source.join(", "))];
                if let Some(t) = time {
                    how.push(format!("horaires : {t}"));
                }
                ok.push(format!("{who} ({})", how.join(" ; ")));
            } else {
                problems.push(format!("{who} : {}", gaps.join(", ")));
            }
        }
        if !problems.is_empty() {
            return Verdict::fail(format!(
                "accès prestataire non restreint : {}",
                list(&problems)
            ));
        }
        if !undecided.is_empty() {
            let why = auth.as_ref().err().cloned().unwrap_or_default();
            return Verdict::Unknown(format!(
                "restriction par pam_access/pam_time non vérifiable pour {} : {why}",
                list(&undecided)
            ));
        }
        Verdict::Pass(format!("restreint : {}", list(&ok)))
    }
}

fn count(n: usize) -> String {
    crate::text::plural(n, "compte prestataire", "comptes prestataires")
}

fn list(items: &[String]) -> String {
    let named: Vec<&str> = items.iter().take(MAX_NAMED).map(String::as_str).collect();
    let rest = items.len().saturating_sub(MAX_NAMED);
    if rest > 0 {
        format!(
            "{} et {}",
            named.join(" ; "),
            crate::text::plural(rest, "autre", "autres")
        )
    } else {
        named.join(" ; ")
    }
}

/// Every address-like word a rule of the host or the organisation names.
fn named_networks(
    s: &Accounts,
    ssh: &SshServer,
    auth: Option<&AuthPolicy>,
    facts: &HostFacts,
) -> Vec<String> {
    let mut words: Vec<String> = Vec::new();
    let mut add = |text: &str| {
        for w in text.split([',', ' ', '\t']) {
            let w = w.trim().trim_start_matches('!');
            let w = w.rsplit('@').next().unwrap_or(w);
            if !w.is_empty() {
                words.push(w.to_owned());
            }
        }
    };
    for b in &ssh.match_blocks {
        add(&b.criteria);
        for key in ["allowusers", "denyusers"] {
            if let Some(v) = b.settings.get(key) {
                add(v);
            }
        }
    }
    for key in ["allowusers", "denyusers"] {
        if let Some(v) = ssh.settings.get(key) {
            add(v);
        }
    }
    for a in s.accounts.iter().filter(|a| a.contractor) {
        for k in &a.authorized_keys {
            add(&k.from);
        }
    }
    if let Some(auth) = auth {
        for r in &auth.access_rules {
            add(&r.origins);
        }
    }
    if let Some(p) = &facts.contractor_policy {
        for source in &p.sources {
            add(source);
        }
    }
    words
}

/// The first probe address that no named network or address pattern covers.
fn probe_address(
    s: &Accounts,
    ssh: &SshServer,
    auth: Option<&AuthPolicy>,
    facts: &HostFacts,
) -> Option<IpAddr> {
    let named = named_networks(s, ssh, auth, facts);
    PROBE_ADDRESSES
        .iter()
        .filter_map(|a| a.parse::<IpAddr>().ok())
        .find(|addr| {
            let text = addr.to_string();
            !named.iter().any(|w| match parse_cidr(w) {
                Some((net, len)) => in_network(*addr, net, len),
                // A pattern with digits (`192.0.2.*`) or a prefix (`192.168.`) names networks;
                // a bare `*` or a word such as `ALL` names none.
                None => {
                    w.chars().any(|c| c.is_ascii_digit())
                        && (pattern(&text, w) || (w.ends_with('.') && text.starts_with(w.as_str())))
                }
            })
        })
}

/// How sshd itself refuses the connection, if it does.
fn sshd_refuses(eff: &Effective<'_>, conn: &Conn<'_>, account: &Account) -> Option<String> {
    if let Some(list) = refused_by_lists(eff, conn) {
        return Some(format!("sshd ({})", host_text(&list)));
    }
    let keys_usable = eff.yes("pubkeyauthentication")
        && (account.authorized_keys.is_empty()
            || account.authorized_keys.iter().any(|k| {
                k.from.is_empty()
                    || addr_list(conn.addr, &k.from) == 1
                    || super::sshd_match::pattern_list(&conn.addr.to_string(), &k.from) == 1
            }));
    let password = eff.yes("passwordauthentication");
    let kbd = eff.yes("kbdinteractiveauthentication");
    let usable = |m: &str| match m.split(':').next().unwrap_or_default() {
        "publickey" => keys_usable,
        "password" => password,
        "keyboard-interactive" => kbd,
        // Host-based, GSSAPI: not judged here, assumed usable.
        _ => true,
    };
    let (methods, _) = eff.get("authenticationmethods");
    let lists: Vec<&str> = methods.split_whitespace().collect();
    let possible = if lists.is_empty() || lists.contains(&"any") {
        keys_usable || password || kbd
    } else {
        lists.iter().any(|l| l.split(',').all(usable))
    };
    if possible {
        return None;
    }
    let keys_limited = !account.authorized_keys.is_empty()
        && account.authorized_keys.iter().all(|k| !k.from.is_empty());
    let origin = [
        "pubkeyauthentication",
        "passwordauthentication",
        "kbdinteractiveauthentication",
    ]
    .iter()
    .find_map(|k| eff.get(k).1)
    .map(|c| format!(" (bloc « Match {} »)", host_text(c)))
    .unwrap_or_default();
    Some(if keys_limited && eff.yes("pubkeyauthentication") {
        format!("clés SSH limitées par from= sans autre méthode{origin}")
    } else {
        format!("sshd n'offre aucune méthode d'authentification{origin}")
    })
}

/// Whether a PAM control makes the module's refusal fatal.
fn fatal(control: &str) -> bool {
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

fn module(rule: &PamRule) -> &str {
    let base = rule.module.rsplit('/').next().unwrap_or(&rule.module);
    base.strip_suffix(".so").unwrap_or(base)
}

/// The fatal account-phase lines of `name` in sshd's PAM stack.
fn sshd_lines<'a>(auth: &'a AuthPolicy, name: &str) -> Vec<&'a PamRule> {
    auth.stacks
        .iter()
        .filter(|s| s.name == "sshd")
        .flat_map(|s| &s.rules)
        .filter(|r| (r.r#type == "account" || r.r#type == "auth") && module(r) == name)
        .filter(|r| fatal(&r.control))
        .collect()
}

fn arg<'a>(rule: &'a PamRule, key: &str) -> Option<&'a str> {
    rule.args
        .iter()
        .filter_map(|a| a.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v)
}

/// pam_access's `list_match`: tokens up to `EXCEPT` are alternatives; a match is cancelled when
/// the exception list (itself a list, recursively) matches.
fn list_match(tokens: &[&str], hit: &dyn Fn(&str) -> bool) -> bool {
    for (i, t) in tokens.iter().enumerate() {
        if t.eq_ignore_ascii_case("EXCEPT") {
            return false;
        }
        if hit(t) {
            return match tokens
                .iter()
                .skip(i)
                .position(|t| t.eq_ignore_ascii_case("EXCEPT"))
            {
                None => true,
                Some(j) => !list_match(tokens.get(i + j + 1..).unwrap_or_default(), hit),
            };
        }
    }
    false
}

fn tokens(text: &str) -> Vec<&str> {
    text.split([',', ' ', '\t'])
        .filter(|t| !t.is_empty())
        .collect()
}

/// Where pam_access in sshd's stack denies the connection (`file:line`), if it does.
fn pam_access_denies(auth: &AuthPolicy, conn: &Conn<'_>) -> Option<String> {
    let text = conn.addr.to_string();
    for line in sshd_lines(auth, "pam_access") {
        let file = arg(line, "accessfile");
        let from_file = |f: &str| match file {
            Some(named) => f == named,
            None => f == ACCESS_CONF || f.starts_with(ACCESS_DIR),
        };
        let user_hit = |t: &str| {
            if t.eq_ignore_ascii_case("ALL") {
                return true;
            }
            if let Some(g) = t.strip_prefix('(').and_then(|g| g.strip_suffix(')')) {
                return conn.groups.iter().any(|x| x == g);
            }
            // Without `nodefgroup`, a plain word is a user name or else a group name.
            t == conn.user
                || (!line.args.iter().any(|a| a == "nodefgroup")
                    && conn.groups.iter().any(|g| g == t))
        };
        let origin_hit = |t: &str| {
            if t.eq_ignore_ascii_case("ALL") {
                return true;
            }
            if let Some((net, len)) = parse_cidr(t) {
                return in_network(conn.addr, net, len);
            }
            (t.ends_with('.') && text.starts_with(t)) || t == text
        };
        let decided = auth
            .access_rules
            .iter()
            .filter(|r| from_file(&r.file))
            .find(|r| {
                list_match(&tokens(&r.users), &user_hit)
                    && list_match(&tokens(&r.origins), &origin_hit)
            });
        if let Some(rule) = decided.filter(|r| r.permission == "-") {
            return Some(format!(
                "pam_access ({}:{})",
                host_text(&rule.file),
                rule.line
            ));
        }
    }
    None
}

/// The pam_time rule that limits the account's sshd logins in time, if sshd's stack runs pam_time.
fn pam_time_applies(auth: &AuthPolicy, conn: &Conn<'_>) -> Option<String> {
    for line in sshd_lines(auth, "pam_time") {
        let file = arg(line, "conffile").unwrap_or(TIME_CONF);
        let word_hit = |field: &str, wanted: &dyn Fn(&str) -> bool| {
            field
                .split(['|', '&'])
                .map(str::trim)
                .filter(|t| !t.starts_with('!'))
                .any(|t| t == "*" || wanted(t))
        };
        let rule = auth.time_rules.iter().filter(|r| r.file == file).find(|r| {
            word_hit(&r.services, &|t| pattern("sshd", t))
                && word_hit(&r.users, &|t| {
                    pattern(conn.user, t)
                        || t.strip_prefix('%')
                            .is_some_and(|g| conn.groups.iter().any(|x| x == g))
                })
                && !r.times.is_empty()
                && !r.times.eq_ignore_ascii_case("Al0000-2400")
        });
        if let Some(r) = rule {
            return Some(format!(
                "pam_time {} ({}:{})",
                host_text(&r.times),
                host_text(&r.file),
                r.line
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests;
