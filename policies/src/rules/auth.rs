//! Rules over the `AuthPolicy` evidence: PWD-001 (length and character classes pam_pwquality
//! really enforces), PWD-002 (dictionary, user-name and history checks), PWD-003 (pam_faillock
//! lockout), PWD-004 (no counter-productive forced expiry by default) and PWD-006 (hash scheme).
//! The agent reports effective values (PAM arguments already applied over pwquality.conf and
//! faillock.conf); the arithmetic of credits and classes happens here, so it is judged once, the
//! same way for every host. Not here: empty passwords and privileged-account expiry (PWD-005,
//! PWD-007, over the accounts evidence), and the framing every check shares (`evaluate.rs`).

use vigie_proto::v1::{AuthPolicy, PasswordQuality};

use super::{RuleKind, Verdict};
use crate::text::{duration_fr, host_text, DAY_MS, SECOND_MS};
use crate::thresholds::ThresholdReader;
use crate::vocabulary::Severity;

/// libpwquality's floor for `minlen` (`PWQ_BASE_MIN_LENGTH`).
const BASE_MIN_LENGTH: i64 = 6;
/// `PASS_MAX_DAYS` at or above this means "never" (shadow's own convention is 99999).
const NEVER_DAYS: i64 = 99_999;
/// Hash schemes accepted for new passwords: yescrypt (memory-hard, ANSSI 2021 R29) and SHA-512
/// crypt (checklist PWD-006).
const STRONG_HASHES: &[&str] = &["yescrypt", "gost_yescrypt", "sha512"];

/// One auth rule with one profile's thresholds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AuthRule {
    /// `auth.password_quality`: the effective minimum length and required classes meet one of two
    /// accepted combinations (CNIL 2022-100 case 1: 12 + 4 classes or 14 + 3); under
    /// `recommended_length` a pass becomes a low-severity fail, the checklist's "warn".
    Quality {
        primary: (u64, u64),
        alternative: (u64, u64),
        recommended_length: u64,
    },
    /// `auth.password_checks`: dictionary and user-name checks on, history at least this long.
    Checks { min_remember: u64 },
    /// `auth.lockout`: pam_faillock in every interactive auth stack, deny 1..=max, failures
    /// counted over at least `min_interval_ms`, locked at least `min_unlock_ms` (0 = manual unlock).
    Lockout {
        max_deny: u64,
        min_interval_ms: i64,
        min_unlock_ms: i64,
    },
    /// `auth.password_expiry`: a default forced expiry shorter than this fails.
    Expiry { min_forced_ms: i64 },
    /// `auth.hash_method`: login.defs and pam_unix hash with yescrypt or SHA-512.
    Hash,
}

impl AuthRule {
    pub(crate) fn read(kind: RuleKind, r: &mut ThresholdReader<'_>) -> AuthRule {
        match kind {
            RuleKind::AuthPasswordQuality => {
                let primary = (r.number("min_length_chars"), r.number("min_classes_count"));
                let alternative = (
                    r.number("alt_min_length_chars"),
                    r.number("alt_min_classes_count"),
                );
                r.require(
                    primary.1 <= 4,
                    "min_classes_count",
                    "at most 4 classes exist",
                );
                r.require(
                    alternative.1 <= 4,
                    "alt_min_classes_count",
                    "at most 4 classes exist",
                );
                AuthRule::Quality {
                    primary,
                    alternative,
                    recommended_length: r.number("recommended_length_chars"),
                }
            }
            RuleKind::AuthPasswordChecks => AuthRule::Checks {
                min_remember: r.number("min_remember_count"),
            },
            RuleKind::AuthLockout => {
                let max_deny = r.number("max_deny_count");
                r.require(max_deny >= 1, "max_deny_count", "must be at least 1");
                AuthRule::Lockout {
                    max_deny,
                    min_interval_ms: r.duration_ms("min_fail_interval_secs"),
                    min_unlock_ms: r.duration_ms("min_unlock_time_secs"),
                }
            }
            RuleKind::AuthPasswordExpiry => AuthRule::Expiry {
                min_forced_ms: r.duration_ms("min_forced_expiry_days"),
            },
            _ => AuthRule::Hash,
        }
    }

    pub(crate) fn judge(&self, s: &AuthPolicy) -> Verdict {
        match self {
            AuthRule::Quality {
                primary,
                alternative,
                recommended_length,
            } => quality(s, *primary, *alternative, *recommended_length),
            AuthRule::Checks { min_remember } => checks(s, *min_remember),
            AuthRule::Lockout {
                max_deny,
                min_interval_ms,
                min_unlock_ms,
            } => lockout(s, *max_deny, *min_interval_ms, *min_unlock_ms),
            AuthRule::Expiry { min_forced_ms } => expiry(s, *min_forced_ms),
            AuthRule::Hash => hash(s),
        }
    }
}

fn no_password_stack() -> Verdict {
    Verdict::Unknown(
        "aucune pile PAM de changement de mot de passe trouvée (passwd, common-password, system-auth)"
            .to_owned(),
    )
}

/// The shortest password the settings accept: `minlen` less every positive credit (each class
/// present may count as up to that many extra characters), never under libpwquality's floor.
fn effective_length(q: &PasswordQuality) -> i64 {
    let credits: i64 = [q.dcredit, q.ucredit, q.lcredit, q.ocredit]
        .iter()
        .map(|c| i64::from((*c).max(0)))
        .sum();
    (i64::from(q.minlen) - credits).max(BASE_MIN_LENGTH)
}

/// Classes a password must contain: `minclass`, or the classes with a negative credit (each
/// demands at least one character of its class), whichever is more.
fn required_classes(q: &PasswordQuality) -> u64 {
    let negative = [q.dcredit, q.ucredit, q.lcredit, q.ocredit]
        .iter()
        .filter(|c| **c < 0)
        .count();
    u64::from(q.minclass).max(u64::try_from(negative).unwrap_or(4))
}

fn where_(q: &PasswordQuality) -> String {
    format!("{}, pile {}", host_text(&q.module), host_text(&q.stack))
}

fn quality(s: &AuthPolicy, primary: (u64, u64), alt: (u64, u64), recommended: u64) -> Verdict {
    let Some(q) = &s.quality else {
        return no_password_stack();
    };
    if q.module.is_empty() {
        return Verdict::fail(format!(
            "aucun module de qualité (pam_pwquality) dans la pile {} : longueur et complexité des mots de passe non contrôlées",
            host_text(&q.stack)
        ));
    }
    if !q.interpreted {
        return Verdict::Unknown(format!(
            "{} : réglages non interprétés par l'agent",
            where_(q)
        ));
    }
    let length = effective_length(q);
    let classes = required_classes(q);
    let credits = if i64::from(q.minlen) != length && i64::from(q.minlen) > BASE_MIN_LENGTH {
        format!(" (minlen {} diminué des crédits positifs)", q.minlen)
    } else {
        String::new()
    };
    let detail = format!(
        "au moins {length} caractères{credits} et {classes} classes exigés ({})",
        where_(q)
    );
    if !q.enforced {
        let why = if q.enforcing {
            format!("contrôle « {} » non bloquant", host_text(&q.control))
        } else {
            "enforcing = 0 : simple avertissement".to_owned()
        };
        return Verdict::fail(format!("{detail}, mais {why}"));
    }
    let meets =
        |(len, cls): (u64, u64)| u64::try_from(length).unwrap_or(0) >= len && classes >= cls;
    if !meets(primary) && !meets(alt) {
        return Verdict::fail(format!(
            "{detail} ; exigé : {} caractères et {} classes, ou {} caractères et {} classes",
            primary.0, primary.1, alt.0, alt.1
        ));
    }
    if u64::try_from(length).unwrap_or(0) < recommended {
        return Verdict::fail_as(
            Severity::Low,
            format!("{detail} : conforme, mais sous les {recommended} caractères recommandés"),
        );
    }
    Verdict::Pass(detail)
}

fn checks(s: &AuthPolicy, min_remember: u64) -> Verdict {
    let Some(q) = &s.quality else {
        return no_password_stack();
    };
    let mut missing = Vec::new();
    if q.module.is_empty() {
        missing.push(
            "aucun module de qualité : ni dictionnaire ni nom d'utilisateur vérifiés".to_owned(),
        );
    } else {
        if !q.dictcheck {
            missing.push("dictcheck désactivé".to_owned());
        }
        if !q.usercheck {
            missing.push("usercheck désactivé".to_owned());
        }
    }
    let remember = u64::from(s.password_history);
    if remember < min_remember {
        missing.push(if remember == 0 {
            format!("aucun historique des mots de passe (au moins {min_remember} exigés)")
        } else {
            format!("historique de {remember} mots de passe (au moins {min_remember} exigés)")
        });
    }
    if missing.is_empty() {
        Verdict::Pass(format!(
            "dictionnaire et nom d'utilisateur vérifiés, {remember} anciens mots de passe refusés ({})",
            host_text(&s.password_history_module)
        ))
    } else {
        Verdict::fail(missing.join(" ; "))
    }
}

fn secs(v: u32) -> String {
    duration_fr(i64::from(v).saturating_mul(SECOND_MS))
}

fn lockout(s: &AuthPolicy, max_deny: u64, min_interval_ms: i64, min_unlock_ms: i64) -> Verdict {
    let Some(l) = &s.lockout else {
        return Verdict::Unknown(
            "aucune pile PAM d'authentification trouvée (login, sshd, common-auth, system-auth)"
                .to_owned(),
        );
    };
    let names = |v: &[String]| {
        v.iter()
            .map(|n| host_text(n))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !l.enabled {
        return Verdict::fail(if l.stacks_with.is_empty() {
            format!(
                "pam_faillock absent de la phase auth ({}) : aucun verrouillage après des échecs",
                names(&l.stacks_without)
            )
        } else {
            format!(
                "pam_faillock absent de {} (présent dans {})",
                names(&l.stacks_without),
                names(&l.stacks_with)
            )
        });
    }
    let unlock = if l.unlock_time_secs == 0 {
        "déverrouillage manuel".to_owned()
    } else {
        format!("verrouillage {}", secs(l.unlock_time_secs))
    };
    let summary = format!(
        "{} échecs en {}, {unlock}",
        l.deny,
        secs(l.fail_interval_secs)
    );
    let mut wrong = Vec::new();
    if l.deny == 0 {
        wrong.push("deny = 0 désactive le verrouillage".to_owned());
    } else if u64::from(l.deny) > max_deny {
        wrong.push(format!("deny {} au-delà de {max_deny}", l.deny));
    }
    if i64::from(l.fail_interval_secs).saturating_mul(SECOND_MS) < min_interval_ms {
        wrong.push(format!(
            "fail_interval sous {}",
            duration_fr(min_interval_ms)
        ));
    }
    if l.unlock_time_secs != 0
        && i64::from(l.unlock_time_secs).saturating_mul(SECOND_MS) < min_unlock_ms
    {
        wrong.push(format!("unlock_time sous {}", duration_fr(min_unlock_ms)));
    }
    if wrong.is_empty() {
        Verdict::Pass(format!("verrouillage après {summary}"))
    } else {
        Verdict::fail(format!(
            "verrouillage après {summary} : {}",
            wrong.join(", ")
        ))
    }
}

fn expiry(s: &AuthPolicy, min_forced_ms: i64) -> Verdict {
    let days = s
        .login_defs
        .as_ref()
        .and_then(|d| d.pass_max_days)
        .or(s.max_password_age_days);
    match days {
        None => Verdict::Pass(
            "PASS_MAX_DAYS non défini : pas d'expiration forcée par défaut".to_owned(),
        ),
        Some(d) if !(0..NEVER_DAYS).contains(&d) => Verdict::Pass(format!(
            "PASS_MAX_DAYS {d} : pas d'expiration forcée par défaut"
        )),
        Some(d) if d.saturating_mul(DAY_MS) < min_forced_ms => Verdict::fail(format!(
            "PASS_MAX_DAYS {d} : changement forcé tous les {d} jours pour les nouveaux comptes (seuil {})",
            duration_fr(min_forced_ms)
        )),
        Some(d) => Verdict::Pass(format!(
            "PASS_MAX_DAYS {d}, au-delà de {}",
            duration_fr(min_forced_ms)
        )),
    }
}

fn hash(s: &AuthPolicy) -> Verdict {
    let defs = s.login_defs.clone().unwrap_or_default();
    let method = defs.encrypt_method.to_ascii_lowercase();
    let mut weak = Vec::new();
    if !defs.present {
        weak.push("/etc/login.defs absent".to_owned());
    } else if method.is_empty() {
        weak.push(
            "ENCRYPT_METHOD absent de login.defs (les outils shadow chiffrent alors en DES)"
                .to_owned(),
        );
    } else if !STRONG_HASHES.contains(&method.as_str()) {
        weak.push(format!(
            "ENCRYPT_METHOD {}",
            host_text(&defs.encrypt_method)
        ));
    }
    // pam_unix without a hash option follows ENCRYPT_METHOD (Linux-PAM 1.4 and later).
    let pam = if s.hash_method.is_empty() {
        None
    } else {
        Some(s.hash_method.to_ascii_lowercase())
    };
    if let Some(p) = &pam {
        if !STRONG_HASHES.contains(&p.as_str()) {
            weak.push(format!("pam_unix {}", host_text(p)));
        }
    }
    let used = match &pam {
        Some(p) => format!("pam_unix {}", host_text(p)),
        None => "pam_unix sans option".to_owned(),
    };
    if weak.is_empty() {
        Verdict::Pass(format!(
            "ENCRYPT_METHOD {}, {used}",
            host_text(&defs.encrypt_method)
        ))
    } else {
        Verdict::fail(format!(
            "schéma de hachage faible : {} (yescrypt ou SHA-512 attendus)",
            weak.join(", ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use vigie_proto::v1::{
        domain_state::State, AuthPolicy, Domain, Lockout, LoginDefs, PasswordQuality,
    };

    use crate::testing::{check, Case, MINUTE_MS};
    use crate::Profile;

    /// A policy that passes every auth check in every profile.
    fn hardened() -> AuthPolicy {
        AuthPolicy {
            quality: Some(PasswordQuality {
                module: "pam_pwquality".to_owned(),
                stack: "passwd".to_owned(),
                control: "requisite".to_owned(),
                minlen: 15,
                minclass: 4,
                dictcheck: true,
                usercheck: true,
                enforcing: true,
                enforced: true,
                interpreted: true,
                ..Default::default()
            }),
            lockout: Some(Lockout {
                enabled: true,
                module: "pam_faillock".to_owned(),
                deny: 5,
                fail_interval_secs: 900,
                unlock_time_secs: 900,
                stacks_with: vec!["login".to_owned(), "sshd".to_owned()],
                ..Default::default()
            }),
            password_history: 5,
            password_history_module: "pam_pwhistory".to_owned(),
            hash_method: "yescrypt".to_owned(),
            login_defs: Some(LoginDefs {
                present: true,
                pass_max_days: Some(99_999),
                encrypt_method: "YESCRYPT".to_owned(),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn with(edit: impl FnOnce(&mut AuthPolicy)) -> Case {
        let mut p = hardened();
        edit(&mut p);
        Case::new().state(
            Domain::AuthPolicy,
            10 * MINUTE_MS,
            Some(State::AuthPolicy(p)),
        )
    }

    fn q(edit: impl FnOnce(&mut PasswordQuality)) -> Case {
        with(|p| {
            if let Some(q) = p.quality.as_mut() {
                edit(q);
            }
        })
    }

    fn lock(edit: impl FnOnce(&mut Lockout)) -> Case {
        with(|p| {
            if let Some(l) = p.lockout.as_mut() {
                edit(l);
            }
        })
    }

    #[test]
    fn hardened_passes_everything_in_every_profile() {
        for profile in [Profile::Minimal, Profile::Standard, Profile::Strict] {
            let case = with(|_| {}).profile(profile);
            for id in ["PWD-001", "PWD-002", "PWD-003", "PWD-004", "PWD-006"] {
                let catalogue = crate::Catalogue::builtin().unwrap();
                let findings =
                    crate::evaluate(&catalogue, profile, &case.host, &[], crate::testing::NOW);
                let f = findings.iter().find(|f| f.check_id == id).unwrap();
                assert_eq!(
                    f.outcome,
                    crate::Outcome::Pass,
                    "{id} {profile}: {}",
                    f.detail
                );
            }
        }
    }

    #[test]
    fn pwd_001_length_and_classes() {
        check(
            &with(|_| {}),
            "PWD-001",
            "pass: au moins 15 caractères et 4 classes exigés (pam_pwquality, pile passwd) [1.1]",
        );
        // CNIL case 1, first form: 12 + 4 classes (negative credits demand the classes).
        let cnil12 = q(|q| {
            q.minlen = 12;
            q.minclass = 0;
            (q.dcredit, q.ucredit, q.lcredit, q.ocredit) = (-1, -1, -1, -1);
        });
        check(
            &cnil12.clone().profile(Profile::Minimal),
            "PWD-001",
            "pass: au moins 12 caractères et 4 classes exigés (pam_pwquality, pile passwd) [1.1]",
        );
        check(&cnil12.clone(), "PWD-001", "fail/low: au moins 12 caractères et 4 classes exigés (pam_pwquality, pile passwd) : conforme, mais sous les 15 caractères recommandés [1.1]");
        check(&cnil12.profile(Profile::Strict), "PWD-001", "fail/high: au moins 12 caractères et 4 classes exigés (pam_pwquality, pile passwd) ; exigé : 15 caractères et 4 classes, ou 20 caractères et 3 classes [1.1]");
        // Second form: 14 + 3 classes; 13 + 3 fails.
        check(
            &q(|q| {
                q.minlen = 14;
                q.minclass = 3;
            })
            .profile(Profile::Minimal),
            "PWD-001",
            "pass: au moins 14 caractères et 3 classes exigés (pam_pwquality, pile passwd) [1.1]",
        );
        check(&q(|q| { q.minlen = 13; q.minclass = 3; }), "PWD-001", "fail/high: au moins 13 caractères et 3 classes exigés (pam_pwquality, pile passwd) ; exigé : 12 caractères et 4 classes, ou 14 caractères et 3 classes [1.1]");
        // Positive credits shorten the password actually accepted.
        check(&q(|q| { q.minlen = 15; q.dcredit = 1; q.ocredit = 2; }), "PWD-001", "fail/low: au moins 12 caractères (minlen 15 diminué des crédits positifs) et 4 classes exigés (pam_pwquality, pile passwd) : conforme, mais sous les 15 caractères recommandés [1.1]");
        check(&q(|q| q.module.clear()), "PWD-001", "fail/high: aucun module de qualité (pam_pwquality) dans la pile passwd : longueur et complexité des mots de passe non contrôlées [1.1]");
        check(&q(|q| { q.enforced = false; q.control = "optional".to_owned(); }), "PWD-001", "fail/high: au moins 15 caractères et 4 classes exigés (pam_pwquality, pile passwd), mais contrôle « optional » non bloquant [1.1]");
        check(&q(|q| { q.enforced = false; q.enforcing = false; }), "PWD-001", "fail/high: au moins 15 caractères et 4 classes exigés (pam_pwquality, pile passwd), mais enforcing = 0 : simple avertissement [1.1]");
        check(
            &q(|q| {
                q.module = "pam_passwdqc".to_owned();
                q.interpreted = false;
            }),
            "PWD-001",
            "unknown: pam_passwdqc, pile passwd : réglages non interprétés par l'agent [1.1]",
        );
        check(&with(|p| p.quality = None), "PWD-001", "unknown: aucune pile PAM de changement de mot de passe trouvée (passwd, common-password, system-auth) [1.1]");
    }

    #[test]
    fn pwd_002_dictionary_user_history() {
        check(&with(|_| {}), "PWD-002", "pass: dictionnaire et nom d'utilisateur vérifiés, 5 anciens mots de passe refusés (pam_pwhistory) [1.1]");
        check(
            &q(|q| q.dictcheck = false),
            "PWD-002",
            "fail/medium: dictcheck désactivé [1.1]",
        );
        check(&with(|p| { p.password_history = 0; if let Some(q) = p.quality.as_mut() { q.usercheck = false; } }), "PWD-002", "fail/medium: usercheck désactivé ; aucun historique des mots de passe (au moins 2 exigés) [1.1]");
        check(&with(|p| p.password_history = 2), "PWD-002", "pass: dictionnaire et nom d'utilisateur vérifiés, 2 anciens mots de passe refusés (pam_pwhistory) [1.1]");
        check(
            &with(|p| p.password_history = 2).profile(Profile::Strict),
            "PWD-002",
            "fail/medium: historique de 2 mots de passe (au moins 5 exigés) [1.1]",
        );
        check(&q(|q| q.module.clear()), "PWD-002", "fail/medium: aucun module de qualité : ni dictionnaire ni nom d'utilisateur vérifiés [1.1]");
    }

    #[test]
    fn pwd_003_lockout() {
        check(
            &with(|_| {}),
            "PWD-003",
            "pass: verrouillage après 5 échecs en 15 min, verrouillage 15 min [1.1]",
        );
        check(&lock(|l| { l.enabled = false; l.stacks_with.clear(); l.stacks_without = vec!["login".into(), "sshd".into()]; }), "PWD-003", "fail/high: pam_faillock absent de la phase auth (login, sshd) : aucun verrouillage après des échecs [1.1]");
        check(
            &lock(|l| {
                l.enabled = false;
                l.stacks_with = vec!["login".into()];
                l.stacks_without = vec!["sshd".into()];
            }),
            "PWD-003",
            "fail/high: pam_faillock absent de sshd (présent dans login) [1.1]",
        );
        check(&lock(|l| { l.deny = 50; l.fail_interval_secs = 60; l.unlock_time_secs = 5; }), "PWD-003", "fail/high: verrouillage après 50 échecs en 1 min, verrouillage 5 s : deny 50 au-delà de 10, fail_interval sous 15 min, unlock_time sous 1 min [1.1]");
        check(&lock(|l| l.deny = 0), "PWD-003", "fail/high: verrouillage après 0 échecs en 15 min, verrouillage 15 min : deny = 0 désactive le verrouillage [1.1]");
        check(
            &lock(|l| l.unlock_time_secs = 0),
            "PWD-003",
            "pass: verrouillage après 5 échecs en 15 min, déverrouillage manuel [1.1]",
        );
        check(&lock(|l| l.unlock_time_secs = 600).profile(Profile::Strict), "PWD-003", "fail/high: verrouillage après 5 échecs en 15 min, verrouillage 10 min : unlock_time sous 15 min [1.1]");
        check(&lock(|l| l.deny = 8).profile(Profile::Strict), "PWD-003", "fail/high: verrouillage après 8 échecs en 15 min, verrouillage 15 min : deny 8 au-delà de 5 [1.1]");
        check(
            &lock(|l| {
                l.deny = 10;
                l.fail_interval_secs = 300;
            })
            .profile(Profile::Minimal),
            "PWD-003",
            "pass: verrouillage après 10 échecs en 5 min, verrouillage 15 min [1.1]",
        );
        check(&with(|p| p.lockout = None), "PWD-003", "unknown: aucune pile PAM d'authentification trouvée (login, sshd, common-auth, system-auth) [1.1]");
    }

    #[test]
    fn pwd_004_forced_expiry() {
        let max = |d: Option<i64>| {
            with(move |p| {
                if let Some(l) = p.login_defs.as_mut() {
                    l.pass_max_days = d;
                }
            })
        };
        check(
            &with(|_| {}),
            "PWD-004",
            "pass: PASS_MAX_DAYS 99999 : pas d'expiration forcée par défaut [1.1]",
        );
        check(
            &max(None),
            "PWD-004",
            "pass: PASS_MAX_DAYS non défini : pas d'expiration forcée par défaut [1.1]",
        );
        check(
            &max(Some(-1)),
            "PWD-004",
            "pass: PASS_MAX_DAYS -1 : pas d'expiration forcée par défaut [1.1]",
        );
        check(&max(Some(30)), "PWD-004", "fail/low: PASS_MAX_DAYS 30 : changement forcé tous les 30 jours pour les nouveaux comptes (seuil 90 j) [1.1]");
        check(
            &max(Some(90)),
            "PWD-004",
            "pass: PASS_MAX_DAYS 90, au-delà de 90 j [1.1]",
        );
        check(
            &max(Some(60)).profile(Profile::Minimal),
            "PWD-004",
            "pass: PASS_MAX_DAYS 60, au-delà de 30 j [1.1]",
        );
        check(&max(Some(180)).profile(Profile::Strict), "PWD-004", "fail/low: PASS_MAX_DAYS 180 : changement forcé tous les 180 jours pour les nouveaux comptes (seuil 365 j) [1.1]");
        check(&max(Some(0)), "PWD-004", "fail/low: PASS_MAX_DAYS 0 : changement forcé tous les 0 jours pour les nouveaux comptes (seuil 90 j) [1.1]");
    }

    #[test]
    fn pwd_006_hash_scheme() {
        check(
            &with(|_| {}),
            "PWD-006",
            "pass: ENCRYPT_METHOD YESCRYPT, pam_unix yescrypt [1.1]",
        );
        check(
            &with(|p| {
                p.hash_method.clear();
                if let Some(d) = p.login_defs.as_mut() {
                    d.encrypt_method = "SHA512".into();
                }
            }),
            "PWD-006",
            "pass: ENCRYPT_METHOD SHA512, pam_unix sans option [1.1]",
        );
        check(&with(|p| { p.hash_method = "md5".into(); if let Some(d) = p.login_defs.as_mut() { d.encrypt_method = "MD5".into(); } }), "PWD-006", "fail/high: schéma de hachage faible : ENCRYPT_METHOD MD5, pam_unix md5 (yescrypt ou SHA-512 attendus) [1.1]");
        check(&with(|p| if let Some(d) = p.login_defs.as_mut() { d.encrypt_method.clear(); }), "PWD-006", "fail/high: schéma de hachage faible : ENCRYPT_METHOD absent de login.defs (les outils shadow chiffrent alors en DES) (yescrypt ou SHA-512 attendus) [1.1]");
        check(&with(|p| p.login_defs = None), "PWD-006", "fail/high: schéma de hachage faible : /etc/login.defs absent (yescrypt ou SHA-512 attendus) [1.1]");
        check(&with(|p| { p.hash_method = "sha256\r\nX".into(); }), "PWD-006", "fail/high: schéma de hachage faible : pam_unix sha256??x (yescrypt ou SHA-512 attendus) [1.1]");
    }
}
