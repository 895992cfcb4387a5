//! Rules over the `Accounts` evidence: PWD-005 (age of privileged passwords), PWD-007 (empty
//! passwords, default accounts), ACC-001 (uid 0 and administrators), ACC-005 (idle accounts),
//! ACC-006 (administrators of workstations), SVC-003 (sudoers hygiene, BP-028 R38–R44), ACC-002
//! (expiry of contractor accounts and keys) and ACC-004 (contractor logins against the
//! organisation's windows and sources).
//! Each reads its thresholds once at load and judges fresh evidence; no framing here.

use vigie_proto::v1::{principal, Account, Accounts};

use crate::evidence::HostFacts;
use crate::related::Related;
use crate::vocabulary::Severity;

use super::{RuleKind, Verdict};
use crate::text::{date_fr, duration_fr, host_text, plural};
use crate::thresholds::ThresholdReader;

/// Accounts named in a detail before the rest is counted.
const MAX_NAMED: usize = 5;
/// Groups whose members administer the host through sudo (Debian, RHEL, old Ubuntu).
const SUDO_GROUPS: &[&str] = &["sudo", "wheel", "admin"];
/// Accounts that images and appliances ship with and attackers try first (HYG 12).
const DEFAULT_ACCOUNTS: &[&str] = &[
    "pi",
    "ubuntu",
    "admin",
    "administrator",
    "test",
    "guest",
    "user",
    "demo",
    "debian",
    "centos",
    "ec2-user",
    "oracle",
    "support",
    "default",
];
/// `nullok` places named in a detail before the rest is counted.
const MAX_NULLOK: usize = 3;

/// One accounts rule with its thresholds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AccountsRule {
    /// `accounts.privileged_password_age`.
    PrivilegedPasswordAge { max_age_ms: i64 },
    /// `accounts.empty_or_default_passwords`.
    EmptyOrDefaultPasswords,
    /// `accounts.uid0_and_administrators`.
    Uid0AndAdministrators,
    /// `accounts.idle`.
    Idle { idle_after_ms: i64 },
    /// `accounts.workstation_administrators`.
    WorkstationAdministrators { max_members: u64 },
    /// `accounts.sudoers_hygiene`.
    SudoersHygiene,
    /// `accounts.contractor_expiry`.
    ContractorExpiry { max_ahead_ms: i64 },
    /// `accounts.contractor_logins`: the logins of the last `lookback_ms`.
    ContractorLogins { lookback_ms: i64 },
}

impl AccountsRule {
    pub(crate) fn read(kind: RuleKind, r: &mut ThresholdReader<'_>) -> Self {
        match kind {
            RuleKind::AccountsPrivilegedPasswordAge => AccountsRule::PrivilegedPasswordAge {
                max_age_ms: r.duration_ms("max_age_days"),
            },
            RuleKind::AccountsIdle => AccountsRule::Idle {
                idle_after_ms: r.duration_ms("idle_after_days"),
            },
            RuleKind::AccountsWorkstationAdministrators => {
                AccountsRule::WorkstationAdministrators {
                    max_members: r.number("max_administrators_count"),
                }
            }
            RuleKind::AccountsUid0AndAdministrators => AccountsRule::Uid0AndAdministrators,
            RuleKind::AccountsSudoersHygiene => AccountsRule::SudoersHygiene,
            RuleKind::AccountsContractorExpiry => AccountsRule::ContractorExpiry {
                max_ahead_ms: r.duration_ms("max_expiry_ahead_days"),
            },
            RuleKind::AccountsContractorLogins => {
                let lookback_ms = r.duration_ms("lookback_days");
                // The collector keeps contractor logins 90 days (`contractor_logins::RETENTION_MS`).
                r.require(
                    lookback_ms > 0 && lookback_ms <= 90 * crate::text::DAY_MS,
                    "lookback_days",
                    "must be between 1 and 90",
                );
                AccountsRule::ContractorLogins { lookback_ms }
            }
            _ => AccountsRule::EmptyOrDefaultPasswords,
        }
    }

    pub(crate) fn judge(
        &self,
        s: &Accounts,
        facts: &HostFacts,
        related: &Related<'_>,
        now_ms: i64,
    ) -> Verdict {
        match self {
            AccountsRule::PrivilegedPasswordAge { max_age_ms } => {
                privileged_password_age(s, *max_age_ms, now_ms)
            }
            AccountsRule::EmptyOrDefaultPasswords => empty_or_default(s, related, now_ms),
            AccountsRule::Uid0AndAdministrators => uid0_and_administrators(s),
            AccountsRule::Idle { idle_after_ms } => idle(s, *idle_after_ms, now_ms),
            AccountsRule::WorkstationAdministrators { max_members } => {
                workstation_administrators(s, *max_members, now_ms)
            }
            AccountsRule::SudoersHygiene => sudoers_hygiene(s),
            AccountsRule::ContractorExpiry { max_ahead_ms } => {
                contractor_expiry(s, *max_ahead_ms, now_ms)
            }
            AccountsRule::ContractorLogins { lookback_ms } => {
                contractor_logins(s, facts, now_ms.saturating_sub(*lookback_ms))
            }
        }
    }
}

/// ACC-002: every enabled contractor account expires, at most `max_ahead_ms` from now, and so does
/// each of its authorized keys (`expiry-time=`). An account already expired passes: it is closed.
fn contractor_expiry(s: &Accounts, max_ahead_ms: i64, now_ms: i64) -> Verdict {
    let contractors: Vec<&Account> = s.accounts.iter().filter(|a| a.contractor).collect();
    if contractors.is_empty() {
        return Verdict::NotApplicable("aucun compte prestataire déclaré".to_owned());
    }
    if !s.shadow_read {
        return Verdict::Unknown(
            "/etc/shadow illisible par l'agent : expiration des comptes prestataires inconnue"
                .to_owned(),
        );
    }
    let limit = now_ms.saturating_add(max_ahead_ms);
    let days = duration_fr(max_ahead_ms);
    let mut problems = Vec::new();
    let mut open = 0usize;
    for a in &contractors {
        if a.expires_ms > 0 && a.expires_ms <= now_ms {
            continue;
        }
        open += 1;
        if a.expires_ms <= 0 {
            problems.push(label(a, "sans date d'expiration"));
        } else if a.expires_ms > limit {
            problems.push(label(a, &format!("expire le {}", date_fr(a.expires_ms))));
        }
        let keys_without = a
            .authorized_keys
            .iter()
            .filter(|k| k.expires_ms <= 0)
            .count();
        let keys_late = a
            .authorized_keys
            .iter()
            .filter(|k| k.expires_ms > limit)
            .count();
        if keys_without > 0 {
            problems.push(label(
                a,
                &format!(
                    "{} sans expiry-time",
                    plural(keys_without, "clé SSH", "clés SSH")
                ),
            ));
        }
        if keys_late > 0 {
            problems.push(label(
                a,
                &format!(
                    "{} expirant au-delà de {days}",
                    plural(keys_late, "clé SSH", "clés SSH")
                ),
            ));
        }
    }
    if problems.is_empty() {
        Verdict::Pass(format!(
            "{} ouvert(s) sur {}, expiration à moins de {days} pour chacun et ses clés",
            plural(open, "compte prestataire", "comptes prestataires"),
            contractors.len()
        ))
    } else {
        Verdict::fail(format!(
            "expiration absente ou au-delà de {days} : {}",
            list(&problems)
        ))
    }
}

/// ACC-004: every contractor login reported since `since_ms` (the collector keeps each one the
/// agent sent, once), judged against the organisation's windows and sources. With no policy
/// declared the check is `unknown`, not `pass`: nothing says whether the logins were expected, and
/// a green result would hide that the policy is missing.
fn contractor_logins(s: &Accounts, facts: &HostFacts, since_ms: i64) -> Verdict {
    if !s.accounts.iter().any(|a| a.contractor) {
        return Verdict::NotApplicable("aucun compte prestataire déclaré".to_owned());
    }
    if s.contractor_login_sources == "none" {
        return Verdict::Unknown(
            "aucun journal sshd lisible (journal, auth.log, secure) : connexions des prestataires inconnues"
                .to_owned(),
        );
    }
    let recent: Vec<_> = s
        .contractor_logins
        .iter()
        .filter(|l| l.at_ms >= since_ms)
        .collect();
    let accepted: Vec<_> = recent.iter().copied().filter(|l| l.success).collect();
    let failed = recent.len() - accepted.len();
    let omitted = if s.contractor_logins_omitted > 0 {
        format!(" (+{} non transmises)", s.contractor_logins_omitted)
    } else {
        String::new()
    };
    let summary = format!(
        "{}{omitted}, {}",
        plural(
            accepted.len(),
            "connexion de prestataire",
            "connexions de prestataires"
        ),
        plural(failed, "échec", "échecs")
    );
    let Some(policy) = &facts.contractor_policy else {
        return Verdict::Unknown(format!(
            "aucune plage déclarée pour l'organisation (vigie-collector org contractor-policy) ; {summary}"
        ));
    };
    let compiled = match policy.compile() {
        Ok(c) => c,
        Err(errors) => {
            let text: Vec<String> = errors.iter().map(|e| host_text(&e.to_string())).collect();
            return Verdict::Error(format!(
                "politique prestataires invalide : {}",
                text.join(" ; ")
            ));
        }
    };
    let mut outside = Vec::new();
    for l in &accepted {
        let v = compiled.judge(l.at_ms, &l.source_address);
        let mut why = Vec::new();
        if !v.in_window {
            why.push("hors plage");
        }
        if !v.from_allowed_source {
            why.push("source non déclarée");
        }
        if !why.is_empty() {
            let who = host_text(l.principal.as_ref().map_or("", |p| p.name.as_str()));
            outside.push(format!(
                "{who} le {} ({}) depuis {} : {}",
                v.local_time,
                compiled.zone_name(),
                host_text(&l.source_address),
                why.join(", ")
            ));
        }
    }
    if outside.is_empty() {
        Verdict::Pass(format!(
            "{summary} ; toutes dans les plages et depuis les sources déclarées"
        ))
    } else {
        Verdict::fail(format!(
            "{} hors politique : {} ; {summary}",
            plural(outside.len(), "connexion", "connexions"),
            list(&outside)
        ))
    }
}

fn uid(a: &Account) -> Option<u32> {
    match a.principal.as_ref().and_then(|p| p.id.as_ref()) {
        Some(principal::Id::Uid(u)) => Some(*u),
        _ => None,
    }
}

fn name(a: &Account) -> String {
    host_text(a.principal.as_ref().map_or("", |p| p.name.as_str()))
}

/// `name (uid N)`, or `name (uid N, extra)`.
fn label(a: &Account, extra: &str) -> String {
    let uid = uid(a).map_or("?".to_owned(), |u| u.to_string());
    if extra.is_empty() {
        format!("{} (uid {uid})", name(a))
    } else {
        format!("{} (uid {uid}, {extra})", name(a))
    }
}

/// `a, b, c et 2 autres`.
fn list(items: &[String]) -> String {
    let named: Vec<&str> = items.iter().take(MAX_NAMED).map(String::as_str).collect();
    let rest = items.len().saturating_sub(MAX_NAMED);
    if rest > 0 {
        format!(
            "{} et {}",
            named.join(", "),
            plural(rest, "autre", "autres")
        )
    } else {
        named.join(", ")
    }
}

/// Not past its expiry date (shadow field 8).
fn enabled(a: &Account, now_ms: i64) -> bool {
    a.expires_ms <= 0 || a.expires_ms > now_ms
}

/// uid 0, granted something by sudoers, or member of a sudo group.
fn administrator(a: &Account) -> bool {
    uid(a) == Some(0)
        || a.sudo
        || a.privileged_groups
            .iter()
            .any(|g| SUDO_GROUPS.contains(&g.as_str()))
}

fn privileged_password_age(s: &Accounts, max_age_ms: i64, now_ms: i64) -> Verdict {
    if !s.shadow_read {
        return Verdict::Unknown(
            "/etc/shadow illisible par l'agent : âge des mots de passe inconnu".to_owned(),
        );
    }
    let admins: Vec<&Account> = s
        .accounts
        .iter()
        .filter(|a| administrator(a) && a.password_state == "set" && enabled(a, now_ms))
        .collect();
    if admins.is_empty() {
        return Verdict::Pass("aucun compte privilégié n'a de mot de passe utilisable".to_owned());
    }
    let limit = duration_fr(max_age_ms);
    let mut old = Vec::new();
    let mut undated = Vec::new();
    let mut oldest = 0;
    for a in &admins {
        if a.password_change_forced {
            continue;
        }
        if a.password_changed_ms <= 0 {
            undated.push(label(a, ""));
            continue;
        }
        let age = now_ms.saturating_sub(a.password_changed_ms);
        oldest = oldest.max(age);
        if age > max_age_ms {
            old.push(label(a, &format!("changé il y a {}", duration_fr(age))));
        }
    }
    let count = plural(admins.len(), "compte privilégié", "comptes privilégiés");
    if !old.is_empty() {
        Verdict::fail(format!(
            "{} sur {count} avec un mot de passe de plus de {limit} : {}",
            old.len(),
            list(&old)
        ))
    } else if !undated.is_empty() {
        Verdict::Unknown(format!(
            "{count} ; date de changement inconnue pour {}",
            list(&undated)
        ))
    } else {
        Verdict::Pass(format!(
            "{count}, mot de passe le plus ancien changé il y a {} (seuil {limit})",
            duration_fr(oldest)
        ))
    }
}

/// PWD-007: no enabled account with an empty password or a default account with a password
/// (shadow, from the accounts evidence), and no `nullok` in the PAM stacks (from the
/// authentication policy evidence). `nullok` alone, with no empty password today, is a latent
/// hole graded high rather than critical; when the PAM evidence is missing, a host that would
/// otherwise pass is `unknown`.
fn empty_or_default(s: &Accounts, related: &Related<'_>, now_ms: i64) -> Verdict {
    let live: Vec<&Account> = s.accounts.iter().filter(|a| enabled(a, now_ms)).collect();
    let empty: Vec<String> = live
        .iter()
        .filter(|a| a.password_state == "empty")
        .map(|a| label(a, ""))
        .collect();
    let defaults: Vec<String> = live
        .iter()
        .filter(|a| {
            a.password_state == "set"
                && DEFAULT_ACCOUNTS.contains(&a.principal.as_ref().map_or("", |p| p.name.as_str()))
        })
        .map(|a| label(a, ""))
        .collect();
    let nullok: Result<Vec<String>, String> = related.auth().map(|a| {
        let mut places: Vec<String> = a
            .nullok
            .iter()
            .map(|l| host_text(&format!("{}:{}", l.file, l.line)))
            .collect();
        if places.is_empty() && a.nullok_in_pam {
            places.push("emplacement non précisé".to_owned());
        }
        places
    });
    let mut issues = Vec::new();
    if !empty.is_empty() {
        issues.push(format!("mot de passe vide : {}", list(&empty)));
    }
    if !defaults.is_empty() {
        issues.push(format!(
            "compte par défaut actif avec mot de passe : {}",
            list(&defaults)
        ));
    }
    if let Ok(places) = &nullok {
        if !places.is_empty() {
            let named: Vec<&str> = places.iter().take(MAX_NULLOK).map(String::as_str).collect();
            let rest = places.len().saturating_sub(MAX_NULLOK);
            let more = if rest > 0 {
                format!(" et {}", plural(rest, "autre", "autres"))
            } else {
                String::new()
            };
            issues.push(format!(
                "nullok dans PAM (mot de passe vide accepté) : {}{more}",
                named.join(", ")
            ));
        }
    }
    if !issues.is_empty() {
        if let Err(why) = &nullok {
            issues.push(format!("nullok non vérifiable : {why}"));
        }
        let detail = issues.join(" ; ");
        return if empty.is_empty() && defaults.is_empty() {
            Verdict::fail_as(Severity::High, detail)
        } else {
            Verdict::fail(detail)
        };
    }
    if !s.shadow_read && live.iter().any(|a| a.password_state == "unknown") {
        return Verdict::Unknown(
            "/etc/shadow illisible par l'agent : mots de passe vides non vérifiables".to_owned(),
        );
    }
    match nullok {
        Err(why) => Verdict::Unknown(format!(
            "aucun mot de passe vide ni compte par défaut actif ; nullok non vérifiable : {why}"
        )),
        Ok(_) => Verdict::Pass(
            "aucun mot de passe vide, aucun compte par défaut actif, pas de nullok dans PAM"
                .to_owned(),
        ),
    }
}

/// `sudo : alice, bob ; adm : syslog ; sudoers : %sudo, deploy`.
fn administrators_summary(s: &Accounts) -> String {
    let mut parts = Vec::new();
    for g in &s.privileged_groups {
        let members: Vec<String> = g.members.iter().map(|m| host_text(&m.name)).collect();
        let group = host_text(g.group.as_ref().map_or("", |p| p.name.as_str()));
        if members.is_empty() {
            parts.push(format!("{group} : aucun membre"));
        } else {
            parts.push(format!("{group} : {}", list(&members)));
        }
    }
    let mut grantees: Vec<String> = Vec::new();
    for r in &s.sudo_rules {
        for who in &r.who_expanded {
            let who = host_text(who);
            if who != "root" && !grantees.contains(&who) {
                grantees.push(who);
            }
        }
    }
    if !grantees.is_empty() {
        parts.push(format!("sudoers : {}", list(&grantees)));
    }
    if parts.is_empty() {
        "aucun groupe d'administration".to_owned()
    } else {
        parts.join(" ; ")
    }
}

fn uid0_and_administrators(s: &Accounts) -> Verdict {
    let others: Vec<String> = s
        .accounts
        .iter()
        .filter(|a| {
            uid(a) == Some(0) && a.principal.as_ref().map_or("", |p| p.name.as_str()) != "root"
        })
        .map(name)
        .collect();
    let summary = administrators_summary(s);
    if others.is_empty() {
        Verdict::Pass(format!("seul root a l'uid 0 ; {summary}"))
    } else {
        Verdict::fail(format!("uid 0 aussi pour {} ; {summary}", list(&others)))
    }
}

fn idle(s: &Accounts, idle_after_ms: i64, now_ms: i64) -> Verdict {
    if s.last_login_source == "none" || s.last_login_source.is_empty() {
        return Verdict::Unknown(
            "aucun journal de connexions lisible (lastlog, wtmp) : inactivité inconnue".to_owned(),
        );
    }
    let humans: Vec<&Account> = s
        .accounts
        .iter()
        .filter(|a| !a.system && a.login_shell && enabled(a, now_ms))
        .collect();
    let limit = duration_fr(idle_after_ms);
    let mut idle = Vec::new();
    for a in &humans {
        if a.last_login_ms > 0 {
            let age = now_ms.saturating_sub(a.last_login_ms);
            if age > idle_after_ms {
                idle.push(label(
                    a,
                    &format!("dernière connexion il y a {}", duration_fr(age)),
                ));
            }
        } else if a.password_changed_ms <= 0
            || now_ms.saturating_sub(a.password_changed_ms) > idle_after_ms
        {
            idle.push(label(a, "jamais connecté"));
        }
    }
    let count = plural(
        humans.len(),
        "compte utilisateur actif",
        "comptes utilisateurs actifs",
    );
    if idle.is_empty() {
        Verdict::Pass(format!("{count}, tous utilisés dans les {limit}"))
    } else {
        Verdict::fail(format!(
            "{} sur {count} inutilisé(s) depuis plus de {limit} : {}",
            idle.len(),
            list(&idle)
        ))
    }
}

fn workstation_administrators(s: &Accounts, max_members: u64, now_ms: i64) -> Verdict {
    let admins: Vec<&Account> = s
        .accounts
        .iter()
        .filter(|a| uid(a) != Some(0) && administrator(a) && enabled(a, now_ms))
        .collect();
    let names: Vec<String> = admins.iter().map(|a| name(a)).collect();
    let nopasswd: Vec<String> = admins
        .iter()
        .filter(|a| a.sudo_nopasswd_all)
        .map(|a| name(a))
        .collect();
    let count = u64::try_from(admins.len()).unwrap_or(u64::MAX);
    let who = if names.is_empty() {
        "aucun administrateur en dehors de root".to_owned()
    } else {
        format!(
            "{} : {}",
            plural(admins.len(), "administrateur", "administrateurs"),
            list(&names)
        )
    };
    let mut issues = Vec::new();
    if count > max_members {
        issues.push(format!("{who} (seuil {max_members})"));
    }
    if !nopasswd.is_empty() {
        issues.push(format!(
            "sudo sans mot de passe (NOPASSWD: ALL) pour {}",
            list(&nopasswd)
        ));
    }
    if issues.is_empty() {
        Verdict::Pass(format!("{who} (seuil {max_members})"))
    } else {
        Verdict::fail(issues.join(" ; "))
    }
}

fn place(file: Option<&vigie_proto::v1::Path>, line: u32) -> String {
    let file = file.map_or(String::new(), |p| {
        String::from_utf8_lossy(&p.raw).into_owned()
    });
    host_text(&format!("{file}:{line}"))
}

fn sudoers_hygiene(s: &Accounts) -> Verdict {
    if !s.sudoers_read {
        return Verdict::Pass("sudo n'est pas installé (pas de /etc/sudoers)".to_owned());
    }
    let mut issues = Vec::new();
    let at = |pred: &dyn Fn(&vigie_proto::v1::SudoRule) -> bool| -> Vec<String> {
        s.sudo_rules
            .iter()
            .filter(|r| pred(r))
            .map(|r| format!("{} ({})", host_text(&r.who), place(r.file.as_ref(), r.line)))
            .collect()
    };
    let nopasswd_all = at(&|r| r.nopasswd_all);
    if !nopasswd_all.is_empty() {
        issues.push(format!("NOPASSWD: ALL pour {}", list(&nopasswd_all)));
    }
    let negations = at(&|r| r.negation);
    if !negations.is_empty() {
        issues.push(format!(
            "négation « ! » dans les commandes de {}",
            list(&negations)
        ));
    }
    let wildcards = at(&|r| r.wildcard);
    if !wildcards.is_empty() {
        issues.push(format!(
            "joker « * » dans les commandes de {}",
            list(&wildcards)
        ));
    }
    let global = |setting: &str| {
        let mut on = false;
        for d in s.sudo_defaults.iter().filter(|d| d.scope.is_empty()) {
            if d.setting == setting {
                on = true;
            } else if d.setting.strip_prefix('!') == Some(setting) {
                on = false;
            }
        }
        on
    };
    let missing: Vec<String> = ["use_pty", "env_reset"]
        .iter()
        .filter(|d| !global(d))
        .map(|d| (*d).to_owned())
        .collect();
    if !missing.is_empty() {
        issues.push(format!("Defaults absent(s) : {}", missing.join(", ")));
    }
    let errors: Vec<String> = s
        .problems
        .iter()
        .filter(|p| {
            // Every other problem comes from sudoers or a file it includes.
            p.file.as_ref().is_some_and(|f| {
                !matches!(
                    f.raw.as_slice(),
                    b"/etc/passwd" | b"/etc/group" | b"/etc/shadow"
                )
            })
        })
        .map(|p| place(p.file.as_ref(), p.line))
        .collect();
    if !errors.is_empty() {
        issues.push(format!(
            "sudoers illisible par sudo (erreur de syntaxe : {})",
            list(&errors)
        ));
    }
    if issues.is_empty() {
        Verdict::Pass(format!(
            "Defaults use_pty et env_reset présents ; ni NOPASSWD: ALL, ni négation, ni joker ({})",
            plural(s.sudo_rules.len(), "règle", "règles")
        ))
    } else {
        Verdict::fail(issues.join(" ; "))
    }
}

#[cfg(test)]
mod tests {
    use vigie_proto::v1::{
        domain_state::State, principal, Account, Accounts, AccountsProblem, Domain, Principal,
        PrivilegedGroup, SudoDefault, SudoRule,
    };

    use crate::testing::{check, check_at, Case, DAY_MS, MINUTE_MS, NOW};
    use crate::Profile;

    fn account(name: &str, uid: u32) -> Account {
        Account {
            principal: Some(Principal {
                id: Some(principal::Id::Uid(uid)),
                name: name.to_owned(),
            }),
            password_state: "set".to_owned(),
            hash_scheme: "yescrypt".to_owned(),
            password_changed_ms: NOW - 30 * DAY_MS,
            last_login_ms: NOW - 2 * DAY_MS,
            login_shell: true,
            system: uid < 1000,
            min_days: -1,
            max_days: -1,
            warn_days: -1,
            inactive_days: -1,
            ..Default::default()
        }
    }

    fn path(p: &str) -> Option<vigie_proto::v1::Path> {
        Some(vigie_proto::v1::Path {
            encoding: 1,
            raw: p.as_bytes().to_vec(),
        })
    }

    /// A hardened host: root locked, one administrator in sudo, sudoers with the R39 defaults.
    fn healthy() -> Accounts {
        let mut root = account("root", 0);
        root.password_state = "locked".to_owned();
        let mut admin = account("adminmairie", 1000);
        admin.privileged_groups = vec!["sudo".to_owned()];
        admin.sudo = true;
        let mut daemon = account("daemon", 1);
        daemon.login_shell = false;
        daemon.password_state = "locked".to_owned();
        daemon.last_login_ms = 0;
        Accounts {
            accounts: vec![root, daemon, admin],
            sudo_rules: vec![SudoRule {
                file: path("/etc/sudoers"),
                line: 12,
                who: "%sudo".to_owned(),
                who_expanded: vec!["%sudo".to_owned()],
                runas: "(ALL:ALL)".to_owned(),
                rule: "(ALL:ALL) ALL".to_owned(),
                all_commands: true,
                ..Default::default()
            }],
            privileged_groups: vec![PrivilegedGroup {
                group: Some(Principal {
                    id: Some(principal::Id::Gid(27)),
                    name: "sudo".to_owned(),
                }),
                members: vec![Principal {
                    id: Some(principal::Id::Uid(1000)),
                    name: "adminmairie".to_owned(),
                }],
            }],
            sudo_defaults: ["env_reset", "use_pty"]
                .iter()
                .map(|s| SudoDefault {
                    file: path("/etc/sudoers"),
                    line: 1,
                    scope: String::new(),
                    setting: (*s).to_owned(),
                })
                .collect(),
            last_login_source: "lastlog+wtmp".to_owned(),
            sys_uid_max: 999,
            shadow_read: true,
            sudoers_read: true,
            ..Default::default()
        }
    }

    fn with(edit: impl FnOnce(&mut Accounts)) -> Case {
        let mut a = healthy();
        edit(&mut a);
        Case::new().state(Domain::Accounts, 10 * MINUTE_MS, Some(State::Accounts(a)))
    }

    fn find<'a>(a: &'a mut Accounts, name: &str) -> &'a mut Account {
        a.accounts
            .iter_mut()
            .find(|x| x.principal.as_ref().unwrap().name == name)
            .unwrap()
    }

    #[test]
    fn pwd_005_privileged_password_age() {
        check(&with(|_| {}), "PWD-005", "pass: 1 compte privilégié, mot de passe le plus ancien changé il y a 30 j (seuil 365 j) [1.1]");
        let old = |days: i64| {
            with(move |a| {
                let root = find(a, "root");
                root.password_state = "set".to_owned();
                root.password_changed_ms = NOW - days * DAY_MS;
            })
        };
        check(&old(365), "PWD-005", "pass: 2 comptes privilégiés, mot de passe le plus ancien changé il y a 365 j (seuil 365 j) [1.1]");
        check(&old(400), "PWD-005", "fail/medium: 1 sur 2 comptes privilégiés avec un mot de passe de plus de 365 j : root (uid 0, changé il y a 400 j) [1.1]");
        check(&old(400).profile(Profile::Minimal), "PWD-005", "pass: 2 comptes privilégiés, mot de passe le plus ancien changé il y a 400 j (seuil 1095 j) [1.1]");
        check(&old(200).profile(Profile::Strict), "PWD-005", "fail/medium: 1 sur 2 comptes privilégiés avec un mot de passe de plus de 180 j : root (uid 0, changé il y a 200 j) [1.1]");
        check(
            &with(|a| find(a, "adminmairie").password_changed_ms = 0),
            "PWD-005",
            "unknown: 1 compte privilégié ; date de changement inconnue pour adminmairie (uid 1000) [1.1]",
        );
        check(
            &with(|a| {
                let adm = find(a, "adminmairie");
                adm.password_changed_ms = 0;
                adm.password_change_forced = true;
            }),
            "PWD-005",
            "pass: 1 compte privilégié, mot de passe le plus ancien changé il y a 0 s (seuil 365 j) [1.1]",
        );
        check(
            &with(|a| a.shadow_read = false),
            "PWD-005",
            "unknown: /etc/shadow illisible par l'agent : âge des mots de passe inconnu [1.1]",
        );
    }

    #[test]
    fn pwd_007_empty_and_default() {
        const NO_AUTH: &str =
            "nullok non vérifiable : aucun relevé de la politique d'authentification reçu";
        let auth = |nullok: &[(&str, u32)]| {
            State::AuthPolicy(vigie_proto::v1::AuthPolicy {
                nullok_in_pam: !nullok.is_empty(),
                nullok: nullok
                    .iter()
                    .map(|(f, l)| vigie_proto::v1::PamLocation {
                        file: (*f).to_owned(),
                        line: *l,
                        module: "pam_unix.so".to_owned(),
                        stack: "login".to_owned(),
                    })
                    .collect(),
                ..Default::default()
            })
        };
        check(
            &with(|_| {}).state(Domain::AuthPolicy, MINUTE_MS, Some(auth(&[]))),
            "PWD-007",
            "pass: aucun mot de passe vide, aucun compte par défaut actif, pas de nullok dans PAM [1.1 1.2]",
        );
        check(
            &with(|_| {}),
            "PWD-007",
            &format!(
                "unknown: aucun mot de passe vide ni compte par défaut actif ; {NO_AUTH} [1.1]"
            ),
        );
        // nullok alone: latent, graded high.
        check(
            &with(|_| {}).state(
                Domain::AuthPolicy,
                MINUTE_MS,
                Some(auth(&[
                    ("/etc/pam.d/common-auth", 17),
                    ("/etc/pam.d/common-password", 4),
                    ("/etc/pam.d/su", 2),
                    ("/etc/pam.d/x\n", 9),
                ])),
            ),
            "PWD-007",
            "fail/high: nullok dans PAM (mot de passe vide accepté) : /etc/pam.d/common-auth:17, /etc/pam.d/common-password:4, /etc/pam.d/su:2 et 1 autre [1.1 1.2]",
        );
        let empty = with(|a| {
            let mut guest = account("guest", 1001);
            guest.password_state = "empty".to_owned();
            a.accounts.push(guest);
            a.accounts.push(account("pi", 1002));
            let mut expired = account("test", 1003);
            expired.expires_ms = NOW - DAY_MS;
            a.accounts.push(expired);
        });
        check(
            &empty,
            "PWD-007",
            &format!("fail/critical: mot de passe vide : guest (uid 1001) ; compte par défaut actif avec mot de passe : pi (uid 1002) ; {NO_AUTH} [1.1]"),
        );
        check(
            &empty.clone().state(
                Domain::AuthPolicy,
                MINUTE_MS,
                Some(auth(&[("/etc/pam.d/common-auth", 17)])),
            ),
            "PWD-007",
            "fail/critical: mot de passe vide : guest (uid 1001) ; compte par défaut actif avec mot de passe : pi (uid 1002) ; nullok dans PAM (mot de passe vide accepté) : /etc/pam.d/common-auth:17 [1.1 1.2]",
        );
        // A failed auth probe is named, not taken for "no nullok".
        check(
            &with(|_| {}).probe_error(Domain::AuthPolicy, MINUTE_MS, "AG0001", "boom"),
            "PWD-007",
            "unknown: aucun mot de passe vide ni compte par défaut actif ; nullok non vérifiable : relevé de la politique d'authentification en erreur (AG0001) [1.1 1.2]",
        );
        check(
            &with(|a| {
                a.shadow_read = false;
                for x in &mut a.accounts {
                    x.password_state = "unknown".to_owned();
                }
            }),
            "PWD-007",
            "unknown: /etc/shadow illisible par l'agent : mots de passe vides non vérifiables [1.1]",
        );
    }

    #[test]
    fn acc_001_uid0_and_administrators() {
        check(
            &with(|_| {}),
            "ACC-001",
            "pass: seul root a l'uid 0 ; sudo : adminmairie ; sudoers : %sudo [1.1]",
        );
        check(
            &with(|a| a.accounts.push(account("toor\r\n", 0))),
            "ACC-001",
            "fail/critical: uid 0 aussi pour toor?? ; sudo : adminmairie ; sudoers : %sudo [1.1]",
        );
    }

    #[test]
    fn acc_005_idle() {
        check(
            &with(|_| {}),
            "ACC-005",
            "pass: 1 compte utilisateur actif, tous utilisés dans les 90 j [1.1]",
        );
        let idle = with(|a| {
            find(a, "adminmairie").last_login_ms = NOW - 100 * DAY_MS;
            let mut never = account("stagiaire", 1005);
            never.last_login_ms = 0;
            never.password_changed_ms = NOW - 200 * DAY_MS;
            a.accounts.push(never);
            let mut fresh = account("nouveau", 1006);
            fresh.last_login_ms = 0;
            a.accounts.push(fresh);
            let mut locked_out = account("parti", 1007);
            locked_out.last_login_ms = NOW - 900 * DAY_MS;
            locked_out.login_shell = false;
            a.accounts.push(locked_out);
        });
        check(&idle, "ACC-005", "fail/medium: 2 sur 3 comptes utilisateurs actifs inutilisé(s) depuis plus de 90 j : adminmairie (uid 1000, dernière connexion il y a 100 j), stagiaire (uid 1005, jamais connecté) [1.1]");
        check(&idle.clone().profile(Profile::Minimal), "ACC-005", "fail/medium: 1 sur 3 comptes utilisateurs actifs inutilisé(s) depuis plus de 180 j : stagiaire (uid 1005, jamais connecté) [1.1]");
        check(&with(|a| a.last_login_source = "none".to_owned()), "ACC-005", "unknown: aucun journal de connexions lisible (lastlog, wtmp) : inactivité inconnue [1.1]");
    }

    #[test]
    fn acc_006_workstation_administrators() {
        let ws = |c: Case| c.inventory("workstation", "debian");
        check(
            &ws(with(|_| {})),
            "ACC-006",
            "pass: 1 administrateur : adminmairie (seuil 2) [1.1]",
        );
        let many = with(|a| {
            for (n, u) in [("b", 1001), ("c", 1002)] {
                let mut x = account(n, u);
                x.privileged_groups = vec!["sudo".to_owned()];
                a.accounts.push(x);
            }
        });
        check(
            &ws(many.clone()),
            "ACC-006",
            "fail/high: 3 administrateurs : adminmairie, b, c (seuil 2) [1.1]",
        );
        check(
            &ws(many.profile(Profile::Minimal)),
            "ACC-006",
            "pass: 3 administrateurs : adminmairie, b, c (seuil 3) [1.1]",
        );
        check(
            &ws(with(|a| find(a, "adminmairie").sudo_nopasswd_all = true))
                .profile(Profile::Minimal),
            "ACC-006",
            "fail/high: sudo sans mot de passe (NOPASSWD: ALL) pour adminmairie [1.1]",
        );
        check(
            &with(|_| {}).inventory("server", "debian"),
            "ACC-006",
            "not_applicable: sans objet pour un hôte de rôle « serveur » [1.2]",
        );
    }

    #[test]
    fn svc_003_sudoers_hygiene() {
        check(&with(|_| {}), "SVC-003", "pass: Defaults use_pty et env_reset présents ; ni NOPASSWD: ALL, ni négation, ni joker (1 règle) [1.1]");
        check(
            &with(|a| {
                a.sudo_defaults.retain(|d| d.setting != "use_pty");
                a.sudo_defaults.push(SudoDefault { setting: "!env_reset".to_owned(), ..Default::default() });
                a.sudo_rules.push(SudoRule {
                    file: path("/etc/sudoers.d/deploy"),
                    line: 1,
                    who: "deploy".to_owned(),
                    nopasswd_all: true,
                    ..Default::default()
                });
                a.sudo_rules.push(SudoRule {
                    file: path("/etc/sudoers"),
                    line: 20,
                    who: "%helpdesk".to_owned(),
                    negation: true,
                    wildcard: true,
                    ..Default::default()
                });
                a.problems.push(AccountsProblem {
                    file: path("/etc/sudoers.d/broken"),
                    line: 3,
                    message: "syntax error: expected `users hosts = commands`".to_owned(),
                });
                a.problems.push(AccountsProblem {
                    file: path("/etc/shadow"),
                    line: 3,
                    message: "expected 9 colon-separated fields, found 3".to_owned(),
                });
            }),
            "SVC-003",
            "fail/medium: NOPASSWD: ALL pour deploy (/etc/sudoers.d/deploy:1) ; négation « ! » dans les commandes de %helpdesk (/etc/sudoers:20) ; joker « * » dans les commandes de %helpdesk (/etc/sudoers:20) ; Defaults absent(s) : use_pty, env_reset ; sudoers illisible par sudo (erreur de syntaxe : /etc/sudoers.d/broken:3) [1.1]",
        );
        check(
            &with(|a| a.sudoers_read = false),
            "SVC-003",
            "pass: sudo n'est pas installé (pas de /etc/sudoers) [1.1]",
        );
    }

    fn contractor(a: &mut Accounts, expires_ms: i64, key_expires: &[i64]) {
        let mut c = account("presta-dupont", 1001);
        c.contractor = true;
        c.expires_ms = expires_ms;
        c.authorized_keys = key_expires
            .iter()
            .enumerate()
            .map(|(i, e)| vigie_proto::v1::AuthorizedKey {
                key_type: "ssh-ed25519".to_owned(),
                fingerprint_sha256: "SHA256:x".to_owned(),
                expires_ms: *e,
                line: u32::try_from(i + 1).unwrap(),
                ..Default::default()
            })
            .collect();
        a.accounts.push(c);
        a.contractor_login_sources = "journal".to_owned();
    }

    #[test]
    fn acc_002_contractor_expiry() {
        check(
            &with(|_| {}),
            "ACC-002",
            "not_applicable: aucun compte prestataire déclaré [1.1]",
        );
        let ok = NOW + 30 * DAY_MS;
        check(
            &with(|a| contractor(a, ok, &[ok])),
            "ACC-002",
            "pass: 1 compte prestataire ouvert(s) sur 1, expiration à moins de 90 j pour chacun et ses clés [1.1]",
        );
        check(
            &with(|a| contractor(a, 0, &[ok, 0, NOW + 200 * DAY_MS])),
            "ACC-002",
            "fail/high: expiration absente ou au-delà de 90 j : presta-dupont (uid 1001, sans date d'expiration), presta-dupont (uid 1001, 1 clé SSH sans expiry-time), presta-dupont (uid 1001, 1 clé SSH expirant au-delà de 90 j) [1.1]",
        );
        check(
            &with(|a| contractor(a, NOW + 120 * DAY_MS, &[ok])),
            "ACC-002",
            "fail/high: expiration absente ou au-delà de 90 j : presta-dupont (uid 1001, expire le 15/05/2027) [1.1]",
        );
        check(
            &with(|a| contractor(a, NOW + 120 * DAY_MS, &[ok])).profile(Profile::Minimal),
            "ACC-002",
            "pass: 1 compte prestataire ouvert(s) sur 1, expiration à moins de 180 j pour chacun et ses clés [1.1]",
        );
        // Already expired: closed, not a problem.
        check(
            &with(|a| contractor(a, NOW - DAY_MS, &[])),
            "ACC-002",
            "pass: 0 compte prestataire ouvert(s) sur 1, expiration à moins de 90 j pour chacun et ses clés [1.1]",
        );
        check(
            &with(|a| {
                contractor(a, ok, &[ok]);
                a.shadow_read = false;
            }),
            "ACC-002",
            "unknown: /etc/shadow illisible par l'agent : expiration des comptes prestataires inconnue [1.1]",
        );
    }

    fn login(name: &str, utc: &str, source: &str, success: bool) -> vigie_proto::v1::Login {
        vigie_proto::v1::Login {
            principal: Some(Principal {
                id: Some(principal::Id::Uid(1001)),
                name: name.to_owned(),
            }),
            at_ms: utc.parse::<jiff::Timestamp>().unwrap().as_millisecond(),
            source_address: source.to_owned(),
            method: "publickey".to_owned(),
            key_fingerprint: "SHA256:x".to_owned(),
            success,
        }
    }

    fn paris_office() -> crate::ContractorPolicy {
        crate::ContractorPolicy {
            windows: vec!["lun-ven 08:00-18:00".to_owned()],
            time_zone: "Europe/Paris".to_owned(),
            sources: vec!["192.0.2.0/24".to_owned()],
        }
    }

    fn logins(list: Vec<vigie_proto::v1::Login>) -> Case {
        with(|a| {
            contractor(a, NOW + DAY_MS, &[]);
            a.contractor_logins = list;
        })
        .facts(|f| f.contractor_policy = Some(paris_office()))
    }

    #[test]
    fn acc_004_contractor_logins() {
        let april = "2026-04-05T00:00:00Z"
            .parse::<jiff::Timestamp>()
            .unwrap()
            .as_millisecond();
        let november = "2026-11-01T00:00:00Z"
            .parse::<jiff::Timestamp>()
            .unwrap()
            .as_millisecond();
        check(
            &with(|_| {}),
            "ACC-004",
            "not_applicable: aucun compte prestataire déclaré [1.1]",
        );
        // Across the spring change (29 March 2026): 07:30 UTC is 09:30 on the 30th and 08:30 on
        // the 27th, both inside; 06:30 UTC is 08:30 on the 30th (inside), 07:30 on the 27th (not).
        let spring = logins(vec![
            login("presta-dupont", "2026-03-30T07:30:00Z", "192.0.2.7", true),
            login("presta-dupont", "2026-03-27T07:30:00Z", "192.0.2.7", true),
            login("presta-dupont", "2026-03-30T06:30:00Z", "192.0.2.7", true),
            login(
                "presta-dupont",
                "2026-03-29T06:30:00Z",
                "203.0.113.9",
                false,
            ),
        ]);
        check_at(
            &spring,
            "ACC-004",
            "pass: 3 connexions de prestataires, 1 échec ; toutes dans les plages et depuis les sources déclarées [1.1]",
            april,
        );
        check_at(
            &logins(vec![login("presta-dupont", "2026-03-27T06:30:00Z", "192.0.2.7", true)]),
            "ACC-004",
            "fail/high: 1 connexion hors politique : presta-dupont le ven. 27/03/2026 07:30 (Europe/Paris) depuis 192.0.2.7 : hors plage ; 1 connexion de prestataire, 0 échec [1.1]",
            april,
        );
        // Across the autumn change (25 October 2026), and a hostile name.
        check_at(
            &logins(vec![
                login("presta\r\nx", "2026-10-26T10:00:00Z", "203.0.113.7", true),
                login("presta-dupont", "2026-10-26T16:30:00Z", "192.0.2.7", true),
                login("presta-dupont", "2026-10-23T16:30:00Z", "192.0.2.7", true),
            ]),
            "ACC-004",
            "fail/high: 2 connexions hors politique : presta??x le lun. 26/10/2026 11:00 (Europe/Paris) depuis 203.0.113.7 : source non déclarée, presta-dupont le ven. 23/10/2026 18:30 (Europe/Paris) depuis 192.0.2.7 : hors plage ; 3 connexions de prestataires, 0 échec [1.1]",
            november,
        );
        // Logins older than the lookback (30 days) no longer count.
        check(
            &logins(vec![login("presta-dupont", "2026-03-27T06:30:00Z", "192.0.2.7", true)]),
            "ACC-004",
            "pass: 0 connexion de prestataire, 0 échec ; toutes dans les plages et depuis les sources déclarées [1.1]",
        );
        check_at(
            &logins(vec![login("presta-dupont", "2026-03-27T06:30:00Z", "192.0.2.7", true)])
                .facts(|f| f.contractor_policy = None),
            "ACC-004",
            "unknown: aucune plage déclarée pour l'organisation (vigie-collector org contractor-policy) ; 1 connexion de prestataire, 0 échec [1.1]",
            april,
        );
        check(
            &logins(vec![]).facts(|f| {
                f.contractor_policy = Some(crate::ContractorPolicy {
                    time_zone: "Nowhere/Land".to_owned(),
                    ..paris_office()
                })
            }),
            "ACC-004",
            "error: politique prestataires invalide : time zone \"Nowhere/Land\" is not an IANA zone name [1.1]",
        );
        check(
            &with(|a| {
                contractor(a, NOW + DAY_MS, &[]);
                a.contractor_login_sources = "none".to_owned();
            }),
            "ACC-004",
            "unknown: aucun journal sshd lisible (journal, auth.log, secure) : connexions des prestataires inconnues [1.1]",
        );
    }
}
