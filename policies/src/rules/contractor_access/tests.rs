//! Tests of ACC-003 through the evaluator: contractor accounts with the SSH settings and PAM rules
//! that do (or do not) hold them to a source and a time window.

use vigie_proto::v1::{
    domain_state::State, principal, AccessRule, Account, Accounts, AuthPolicy, AuthorizedKey,
    Domain, PamRule, PamStack, Principal, SshMatchBlock, SshServer, TimeRule,
};

use crate::testing::{check, Case, DAY_MS, MINUTE_MS, NOW};
use crate::Profile;

fn contractor(name: &str, uid: u32, from: &[&str]) -> Account {
    Account {
        principal: Some(Principal {
            id: Some(principal::Id::Uid(uid)),
            name: name.to_owned(),
        }),
        contractor: true,
        expires_ms: NOW + 30 * DAY_MS,
        groups: vec!["prestataires".to_owned()],
        authorized_keys: from
            .iter()
            .map(|f| AuthorizedKey {
                key_type: "ssh-ed25519".to_owned(),
                fingerprint_sha256: "SHA256:x".to_owned(),
                from: (*f).to_owned(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

fn accounts(list: Vec<Account>) -> Accounts {
    Accounts {
        accounts: list,
        shadow_read: true,
        ..Default::default()
    }
}

fn ssh(extra: &[(&str, &str)], blocks: Vec<SshMatchBlock>) -> SshServer {
    let mut settings: std::collections::HashMap<String, String> = [
        ("usepam", "yes"),
        ("pubkeyauthentication", "yes"),
        ("passwordauthentication", "no"),
        ("kbdinteractiveauthentication", "no"),
        ("authenticationmethods", "any"),
        ("allowgroups", "ssh-users prestataires"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    for (k, v) in extra {
        settings.insert((*k).to_owned(), (*v).to_owned());
    }
    SshServer {
        installed: true,
        settings,
        match_blocks: blocks,
        ..Default::default()
    }
}

fn block(criteria: &str, settings: &[(&str, &str)]) -> SshMatchBlock {
    SshMatchBlock {
        criteria: criteria.to_owned(),
        settings: settings
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        ..Default::default()
    }
}

fn pam(modules: &[&str]) -> PamStack {
    PamStack {
        name: "sshd".to_owned(),
        present: true,
        rules: modules
            .iter()
            .enumerate()
            .map(|(i, m)| PamRule {
                file: "/etc/pam.d/sshd".to_owned(),
                line: u32::try_from(i + 1).unwrap(),
                r#type: "account".to_owned(),
                control: "required".to_owned(),
                module: format!("{m}.so"),
                ..Default::default()
            })
            .collect(),
        truncated: false,
    }
}

/// pam_access and pam_time in sshd's stack; access.conf denies the contractors outside
/// 192.0.2.0/24, time.conf keeps them to office hours.
fn restricting_auth() -> AuthPolicy {
    AuthPolicy {
        stacks: vec![pam(&["pam_nologin", "pam_access", "pam_time"])],
        access_rules: vec![
            AccessRule {
                permission: "+".to_owned(),
                users: "root".to_owned(),
                origins: "LOCAL".to_owned(),
                file: "/etc/security/access.conf".to_owned(),
                line: 3,
            },
            AccessRule {
                permission: "-".to_owned(),
                users: "(prestataires)".to_owned(),
                origins: "ALL EXCEPT 192.0.2.0/24".to_owned(),
                file: "/etc/security/access.conf".to_owned(),
                line: 4,
            },
        ],
        time_rules: vec![TimeRule {
            services: "sshd".to_owned(),
            ttys: "*".to_owned(),
            users: "presta-dupont|presta-martin".to_owned(),
            times: "Wk0800-1800".to_owned(),
            file: "/etc/security/time.conf".to_owned(),
            line: 2,
        }],
        ..Default::default()
    }
}

fn case(a: Accounts, s: Option<SshServer>, auth: Option<AuthPolicy>) -> Case {
    let mut c = Case::new().state(Domain::Accounts, 10 * MINUTE_MS, Some(State::Accounts(a)));
    if let Some(s) = s {
        c = c.state(Domain::SshServer, 10 * MINUTE_MS, Some(State::SshServer(s)));
    }
    if let Some(auth) = auth {
        c = c.state(
            Domain::AuthPolicy,
            10 * MINUTE_MS,
            Some(State::AuthPolicy(auth)),
        );
    }
    c
}

#[test]
fn no_contractor_and_closed_accounts() {
    check(
        &case(accounts(vec![]), Some(ssh(&[], vec![])), None),
        "ACC-003",
        "not_applicable: aucun compte prestataire déclaré [1.1 1.2]",
    );
    let mut gone = contractor("presta-dupont", 1001, &[]);
    gone.expires_ms = NOW - DAY_MS;
    check(
        &case(accounts(vec![gone]), Some(ssh(&[], vec![])), None),
        "ACC-003",
        "pass: 1 compte prestataire fermé(s) (expiré(s)) [1.1 1.2]",
    );
}

#[test]
fn unrestricted_contractor_fails_for_each_gap() {
    let c = case(
        accounts(vec![contractor("presta-martin", 1003, &[""])]),
        Some(ssh(&[], vec![])),
        Some(AuthPolicy::default()),
    );
    check(
        &c,
        "ACC-003",
        "fail/high: accès prestataire non restreint : presta-martin : joignable depuis n'importe quelle adresse (essai 203.0.113.200), aucune plage horaire imposée (pam_time) [1.1 1.2 1.3]",
    );
    check(
        &c.profile(Profile::Minimal),
        "ACC-003",
        "fail/high: accès prestataire non restreint : presta-martin : joignable depuis n'importe quelle adresse (essai 203.0.113.200) [1.1 1.2 1.3]",
    );
}

#[test]
fn pam_access_and_pam_time_restrict() {
    check(
        &case(
            accounts(vec![contractor("presta-dupont", 1001, &[""])]),
            Some(ssh(&[], vec![])),
            Some(restricting_auth()),
        ),
        "ACC-003",
        "pass: restreint : presta-dupont (source : pam_access (/etc/security/access.conf:4) ; horaires : pam_time Wk0800-1800 (/etc/security/time.conf:2)) [1.1 1.2 1.3]",
    );
    // Without UsePAM, PAM decides nothing.
    check(
        &case(
            accounts(vec![contractor("presta-dupont", 1001, &[""])]),
            Some(ssh(&[("usepam", "no")], vec![])),
            Some(restricting_auth()),
        ),
        "ACC-003",
        "fail/high: accès prestataire non restreint : presta-dupont : joignable depuis n'importe quelle adresse (essai 203.0.113.200), aucune plage horaire imposée (pam_time) [1.1 1.2 1.3]",
    );
}

#[test]
fn sshd_restrictions() {
    let mut time_only = restricting_auth();
    time_only.access_rules.clear();
    // Every key limited by from=, and no password: sshd offers nothing from elsewhere.
    check(
        &case(
            accounts(vec![contractor("presta-dupont", 1001, &["192.0.2.0/24"])]),
            Some(ssh(&[], vec![])),
            Some(time_only.clone()),
        ),
        "ACC-003",
        "pass: restreint : presta-dupont (source : clés SSH limitées par from= sans autre méthode ; horaires : pam_time Wk0800-1800 (/etc/security/time.conf:2)) [1.1 1.2 1.3]",
    );
    // The same keys, but a password is accepted: not restricted.
    check(
        &case(
            accounts(vec![contractor("presta-dupont", 1001, &["192.0.2.0/24"])]),
            Some(ssh(&[("passwordauthentication", "yes")], vec![])),
            Some(time_only.clone()),
        ),
        "ACC-003",
        "fail/high: accès prestataire non restreint : presta-dupont : joignable depuis n'importe quelle adresse (essai 203.0.113.200) [1.1 1.2 1.3]",
    );
    // A Match block limiting the group to its network with AllowUsers.
    let allow = vec![block(
        "Group prestataires",
        &[("allowusers", "*@192.0.2.0/24")],
    )];
    check(
        &case(
            accounts(vec![contractor("presta-dupont", 1001, &[""])]),
            Some(ssh(&[], allow)),
            Some(time_only.clone()),
        ),
        "ACC-003",
        "pass: restreint : presta-dupont (source : sshd (AllowUsers *@192.0.2.0/24) ; horaires : pam_time Wk0800-1800 (/etc/security/time.conf:2)) [1.1 1.2 1.3]",
    );
    // A Match block turning every method off outside the network.
    let off = vec![block(
        "Group prestataires Address *,!192.0.2.0/24",
        &[
            ("pubkeyauthentication", "no"),
            ("passwordauthentication", "no"),
            ("kbdinteractiveauthentication", "no"),
        ],
    )];
    check(
        &case(
            accounts(vec![contractor("presta-dupont", 1001, &[""])]),
            Some(ssh(&[], off)),
            Some(time_only),
        )
        .profile(Profile::Minimal),
        "ACC-003",
        "pass: restreint : presta-dupont (source : sshd n'offre aucune méthode d'authentification (bloc « Match Group prestataires Address *,!192.0.2.0/24 ») ; horaires : pam_time Wk0800-1800 (/etc/security/time.conf:2)) [1.1 1.2 1.3]",
    );
}

#[test]
fn the_probe_address_avoids_every_named_network() {
    // The organisation's own sources and the host's rules name 203.0.113.0/24 and 198.51.100.*:
    // the connection is tried from the next documentation range.
    let c = case(
        accounts(vec![contractor("presta-martin", 1003, &["198.51.100.*"])]),
        Some(ssh(&[("passwordauthentication", "yes")], vec![])),
        Some(AuthPolicy::default()),
    )
    .facts(|f| {
        f.contractor_policy = Some(crate::ContractorPolicy {
            windows: vec![],
            time_zone: "Europe/Paris".to_owned(),
            sources: vec!["203.0.113.0/24".to_owned()],
        })
    })
    .profile(Profile::Minimal);
    check(
        &c,
        "ACC-003",
        "fail/high: accès prestataire non restreint : presta-martin : joignable depuis n'importe quelle adresse (essai 192.0.2.200) [1.1 1.2 1.3]",
    );
}

#[test]
fn missing_related_evidence_is_unknown_never_pass() {
    check(
        &case(
            accounts(vec![contractor("presta-dupont", 1001, &[""])]),
            None,
            Some(restricting_auth()),
        ),
        "ACC-003",
        "unknown: accès des prestataires non vérifiable : aucun relevé du serveur SSH reçu [1.1 1.2]",
    );
    // PAM rules unknown: what sshd shows cannot be called unrestricted.
    check(
        &case(
            accounts(vec![contractor("presta-dupont", 1001, &[""])]),
            Some(ssh(&[], vec![])),
            None,
        ),
        "ACC-003",
        "unknown: restriction par pam_access/pam_time non vérifiable pour presta-dupont : aucun relevé de la politique d'authentification reçu [1.1 1.2]",
    );
    // Stale SSH evidence counts as none.
    let stale = Case::new()
        .state(
            Domain::Accounts,
            10 * MINUTE_MS,
            Some(State::Accounts(accounts(vec![contractor(
                "presta-dupont",
                1001,
                &[""],
            )]))),
        )
        .state(
            Domain::SshServer,
            3 * DAY_MS,
            Some(State::SshServer(ssh(&[], vec![]))),
        );
    check(
        &stale,
        "ACC-003",
        "unknown: accès des prestataires non vérifiable : relevé du serveur SSH trop ancien (reçu il y a 3 j, seuil 2 j) [1.1 1.2]",
    );
    // No sshd: no remote access to restrict.
    check(
        &case(
            accounts(vec![contractor("presta-dupont", 1001, &[""])]),
            Some(SshServer::default()),
            None,
        ),
        "ACC-003",
        "pass: aucun serveur SSH : pas d'accès distant pour 1 compte prestataire [1.1 1.2]",
    );
}
