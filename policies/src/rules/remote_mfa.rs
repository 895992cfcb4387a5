//! ACC-008 (HYG 13, 32; "VPN + 2FA"): remote access over SSH needs more than a password. Every kind
//! of connection the sshd configuration distinguishes (global settings, each Match block on top of
//! them) must accept only keys, require two methods (`AuthenticationMethods publickey,password`),
//! or route keyboard-interactive through a PAM stack with a one-time-code or security-key module
//! (pam_oath, pam_google_authenticator, pam_u2f, pam_yubico...) that cannot be skipped. Reads the
//! SSH server settings and, for keyboard-interactive, sshd's PAM stack (`related.rs`).
//!
//! The VPN half of the checklist row cannot be observed: it comes from the organisation's
//! `vpn-mfa` attestation (`HostFacts::attestations`, recorded by `vigie-collector attest set`).
//! The two halves combine as "MFA on all remote access" demands: an SSH failure fails the check
//! whatever the VPN; an SSH error or unknown stays so; otherwise (SSH passes, or no sshd) the check
//! passes only with an attestation in force, and is `unknown` without one (expired or absent).

use vigie_proto::v1::{AuthPolicy, SshServer};

use super::Verdict;
use crate::attestation::{self, VPN_MFA};
use crate::evidence::HostFacts;
use crate::related::Related;
use crate::text::{date_fr, host_text};

/// PAM modules that add a second factor (one-time codes, security keys, push).
const SECOND_FACTOR_MODULES: &[&str] = &[
    "pam_oath",
    "pam_google_authenticator",
    "pam_u2f",
    "pam_yubico",
    "pam_duo",
    "pam_privacyidea",
];

/// `ssh.remote_access_mfa`; no threshold but staleness.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RemoteMfa;

impl RemoteMfa {
    /// Both halves: SSH from the evidence, VPN from the organisation's attestation.
    pub(crate) fn judge(
        &self,
        s: &SshServer,
        facts: &HostFacts,
        related: &Related<'_>,
        now_ms: i64,
    ) -> Verdict {
        let vpn = match attestation::find(&facts.attestations, VPN_MFA, now_ms) {
            Some(a) => Ok(format!(
                "VPN : double facteur attesté par {} jusqu'au {}",
                host_text(&a.by),
                date_fr(a.expires_at_ms)
            )),
            None => Err(
                "VPN : double facteur non attesté (vigie-collector attest set --measure vpn-mfa)"
                    .to_owned(),
            ),
        };
        match (self.judge_ssh(s, related), vpn) {
            (Verdict::Fail { severity, detail }, vpn) => Verdict::Fail {
                severity,
                detail: format!("{detail} ; {}", vpn.unwrap_or_else(|e| e)),
            },
            (Verdict::Error(e), _) => Verdict::Error(e),
            (Verdict::Unknown(u), vpn) => {
                Verdict::Unknown(format!("{u} ; {}", vpn.unwrap_or_else(|e| e)))
            }
            (Verdict::Pass(p) | Verdict::NotApplicable(p), Ok(v)) => {
                Verdict::Pass(format!("{p} ; {v}"))
            }
            (Verdict::Pass(p) | Verdict::NotApplicable(p), Err(v)) => {
                Verdict::Unknown(format!("{p} ; {v}"))
            }
        }
    }

    /// The SSH half alone.
    fn judge_ssh(&self, s: &SshServer, related: &Related<'_>) -> Verdict {
        if !s.installed {
            return Verdict::NotApplicable(
                "aucun serveur SSH : pas d'accès distant relevé sur cet hôte".to_owned(),
            );
        }
        if s.settings.is_empty() {
            return Verdict::Unknown(
                "sshd installé, mais aucun fichier sshd_config n'a pu être lu".to_owned(),
            );
        }
        let auth = related.auth();
        let usepam = s.settings.get("usepam").is_some_and(|v| v == "yes");
        let otp = match &auth {
            Ok(a) if usepam => second_factor_module(a),
            _ => None,
        };
        let mut contexts: Vec<(String, Option<&std::collections::HashMap<String, String>>)> =
            vec![(String::new(), None)];
        contexts.extend(s.match_blocks.iter().map(|b| {
            (
                format!(" (bloc « Match {} »)", host_text(&b.criteria)),
                Some(&b.settings),
            )
        }));
        let mut failures = Vec::new();
        let mut needs_pam = Vec::new();
        let mut kinds = Vec::new();
        for (label, block) in &contexts {
            let get = |k: &str| {
                block
                    .and_then(|b| b.get(k))
                    .or_else(|| s.settings.get(k))
                    .map_or("", String::as_str)
            };
            let keys = [
                "authenticationmethods",
                "passwordauthentication",
                "kbdinteractiveauthentication",
                "pubkeyauthentication",
            ];
            if block.is_some_and(|b| !keys.iter().any(|k| b.contains_key(*k))) {
                continue;
            }
            let methods: Vec<&str> = get("authenticationmethods").split_whitespace().collect();
            let lists: Vec<Vec<&str>> = if methods.is_empty() || methods.contains(&"any") {
                let mut offered = Vec::new();
                if get("pubkeyauthentication") == "yes" {
                    offered.push(vec!["publickey"]);
                }
                if get("passwordauthentication") == "yes" {
                    offered.push(vec!["password"]);
                }
                if get("kbdinteractiveauthentication") == "yes" {
                    offered.push(vec!["keyboard-interactive"]);
                }
                offered
            } else {
                methods
                    .iter()
                    .map(|l| {
                        l.split(',')
                            .map(|m| m.split(':').next().unwrap_or(m))
                            .collect()
                    })
                    .collect()
            };
            for list in &lists {
                let distinct: std::collections::BTreeSet<&str> = list.iter().copied().collect();
                if distinct.len() >= 2 {
                    kinds.push(format!("{}{label}", host_text(&list.join(","))));
                } else if list.as_slice() == ["publickey"] {
                    kinds.push(format!("clé seule{label}"));
                } else if list.as_slice() == ["keyboard-interactive"] {
                    match (&auth, &otp) {
                        (_, Some(m)) => kinds.push(format!("keyboard-interactive + {m}{label}")),
                        (Err(why), None) if usepam => needs_pam.push(why.clone()),
                        _ => failures.push(format!(
                            "keyboard-interactive sans second facteur PAM{label}"
                        )),
                    }
                } else {
                    failures.push(format!(
                        "{} seul accepté{label}",
                        host_text(&list.join(","))
                    ));
                }
            }
        }
        if !failures.is_empty() {
            return Verdict::fail(format!(
                "accès SSH possible avec un seul facteur : {}",
                failures.join(" ; ")
            ));
        }
        if let Some(why) = needs_pam.first() {
            return Verdict::Unknown(format!(
                "keyboard-interactive accepté, second facteur PAM non vérifiable : {why}"
            ));
        }
        kinds.dedup();
        if kinds.is_empty() {
            return Verdict::Pass("sshd n'offre aucune méthode d'authentification".to_owned());
        }
        Verdict::Pass(format!("accès SSH : {}", kinds.join(", ")))
    }
}

/// The second-factor module sshd's PAM auth phase cannot skip, if any.
fn second_factor_module(auth: &AuthPolicy) -> Option<String> {
    auth.stacks
        .iter()
        .filter(|s| s.name == "sshd")
        .flat_map(|s| &s.rules)
        .filter(|r| r.r#type == "auth")
        .filter(|r| {
            let c = r.control.to_ascii_lowercase();
            c == "required" || c == "requisite"
        })
        .find_map(|r| {
            let base = r.module.rsplit('/').next().unwrap_or(&r.module);
            let name = base.strip_suffix(".so").unwrap_or(base);
            SECOND_FACTOR_MODULES
                .contains(&name)
                .then(|| host_text(name))
        })
}

#[cfg(test)]
mod tests {
    use vigie_proto::v1::{
        domain_state::State, AuthPolicy, Domain, PamRule, PamStack, SshMatchBlock, SshServer,
    };

    use crate::testing::{check, Case, MINUTE_MS, NOW};
    use crate::Attestation;

    const DAY_MS: i64 = 86_400_000;

    fn ssh(settings: &[(&str, &str)], blocks: Vec<SshMatchBlock>) -> SshServer {
        let mut all: std::collections::HashMap<String, String> = [
            ("usepam", "yes"),
            ("pubkeyauthentication", "yes"),
            ("passwordauthentication", "yes"),
            ("kbdinteractiveauthentication", "no"),
            ("authenticationmethods", "any"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        for (k, v) in settings {
            all.insert((*k).to_owned(), (*v).to_owned());
        }
        SshServer {
            installed: true,
            settings: all,
            match_blocks: blocks,
            ..Default::default()
        }
    }

    fn otp(control: &str) -> AuthPolicy {
        AuthPolicy {
            stacks: vec![PamStack {
                name: "sshd".to_owned(),
                present: true,
                rules: vec![PamRule {
                    r#type: "auth".to_owned(),
                    control: control.to_owned(),
                    module: "pam_oath.so".to_owned(),
                    ..Default::default()
                }],
                truncated: false,
            }],
            ..Default::default()
        }
    }

    /// The organisation's VPN attestation, in force until 100 days after `NOW`.
    fn vpn() -> Attestation {
        Attestation {
            measure: "vpn-mfa".to_owned(),
            by: "M. Durand (DGS)".to_owned(),
            note: "OpenVPN + TOTP".to_owned(),
            expires_at_ms: NOW + 100 * DAY_MS,
        }
    }

    /// An SSH state (and sshd's PAM stack), the organisation having attested VPN MFA.
    fn case(s: SshServer, auth: Option<AuthPolicy>) -> Case {
        let c = Case::new().facts(|f| f.attestations = vec![vpn()]).state(
            Domain::SshServer,
            10 * MINUTE_MS,
            Some(State::SshServer(s)),
        );
        match auth {
            Some(a) => c.state(
                Domain::AuthPolicy,
                10 * MINUTE_MS,
                Some(State::AuthPolicy(a)),
            ),
            None => c,
        }
    }

    #[test]
    fn keys_or_two_factors() {
        check(
            &case(ssh(&[], vec![]), None),
            "ACC-008",
            "fail/high: accès SSH possible avec un seul facteur : password seul accepté ; VPN : double facteur attesté par M. Durand (DGS) jusqu'au 25/04/2027 [1.1]",
        );
        check(
            &case(ssh(&[("passwordauthentication", "no")], vec![]), None),
            "ACC-008",
            "pass: accès SSH : clé seule ; VPN : double facteur attesté par M. Durand (DGS) jusqu'au 25/04/2027 [1.1]",
        );
        check(
            &case(
                ssh(
                    &[(
                        "authenticationmethods",
                        "publickey,password publickey,keyboard-interactive:pam",
                    )],
                    vec![],
                ),
                None,
            ),
            "ACC-008",
            "pass: accès SSH : publickey,password, publickey,keyboard-interactive ; VPN : double facteur attesté par M. Durand (DGS) jusqu'au 25/04/2027 [1.1]",
        );
        // A Match block re-opening passwords is named.
        let blocks = vec![SshMatchBlock {
            criteria: "Address 10.0.0.0/8".to_owned(),
            settings: [("passwordauthentication".to_owned(), "yes".to_owned())].into(),
            ..Default::default()
        }];
        check(
            &case(ssh(&[("passwordauthentication", "no")], blocks), None),
            "ACC-008",
            "fail/high: accès SSH possible avec un seul facteur : password seul accepté (bloc « Match Address 10.0.0.0/8 ») ; VPN : double facteur attesté par M. Durand (DGS) jusqu'au 25/04/2027 [1.1]",
        );
        check(
            &case(Default::default(), None),
            "ACC-008",
            "pass: aucun serveur SSH : pas d'accès distant relevé sur cet hôte ; VPN : double facteur attesté par M. Durand (DGS) jusqu'au 25/04/2027 [1.1]",
        );
    }

    #[test]
    fn one_time_codes_through_pam() {
        let kbd = [
            ("passwordauthentication", "no"),
            ("kbdinteractiveauthentication", "yes"),
            ("pubkeyauthentication", "no"),
        ];
        check(
            &case(ssh(&kbd, vec![]), Some(otp("required"))),
            "ACC-008",
            "pass: accès SSH : keyboard-interactive + pam_oath ; VPN : double facteur attesté par M. Durand (DGS) jusqu'au 25/04/2027 [1.1 1.2]",
        );
        check(
            &case(ssh(&kbd, vec![]), Some(otp("sufficient"))),
            "ACC-008",
            "fail/high: accès SSH possible avec un seul facteur : keyboard-interactive sans second facteur PAM ; VPN : double facteur attesté par M. Durand (DGS) jusqu'au 25/04/2027 [1.1 1.2]",
        );
        check(
            &case(ssh(&kbd, vec![]), None),
            "ACC-008",
            "unknown: keyboard-interactive accepté, second facteur PAM non vérifiable : aucun relevé de la politique d'authentification reçu ; VPN : double facteur attesté par M. Durand (DGS) jusqu'au 25/04/2027 [1.1]",
        );
    }

    /// The VPN half: absent, expired or revoked (not passed) attestation → unknown when SSH is
    /// fine; an SSH failure fails whatever the VPN; without sshd the VPN alone decides.
    #[test]
    fn vpn_half_comes_from_the_attestation() {
        let keys = ssh(&[("passwordauthentication", "no")], vec![]);
        let none = |c: Case| c.facts(|f| f.attestations.clear());
        check(
            &none(case(keys.clone(), None)),
            "ACC-008",
            "unknown: accès SSH : clé seule ; VPN : double facteur non attesté (vigie-collector attest set --measure vpn-mfa) [1.1]",
        );
        let expired = case(keys.clone(), None).facts(|f| f.attestations[0].expires_at_ms = NOW);
        check(
            &expired,
            "ACC-008",
            "unknown: accès SSH : clé seule ; VPN : double facteur non attesté (vigie-collector attest set --measure vpn-mfa) [1.1]",
        );
        // Another measure does not count.
        let other = case(keys, None).facts(|f| f.attestations[0].measure = "other".to_owned());
        check(
            &other,
            "ACC-008",
            "unknown: accès SSH : clé seule ; VPN : double facteur non attesté (vigie-collector attest set --measure vpn-mfa) [1.1]",
        );
        check(
            &none(case(ssh(&[], vec![]), None)),
            "ACC-008",
            "fail/high: accès SSH possible avec un seul facteur : password seul accepté ; VPN : double facteur non attesté (vigie-collector attest set --measure vpn-mfa) [1.1]",
        );
        check(
            &none(case(Default::default(), None)),
            "ACC-008",
            "unknown: aucun serveur SSH : pas d'accès distant relevé sur cet hôte ; VPN : double facteur non attesté (vigie-collector attest set --measure vpn-mfa) [1.1]",
        );
    }
}
