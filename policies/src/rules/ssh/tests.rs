//! Verdicts of SSH-001 to SSH-005 per profile, through the builtin catalogue and the shared
//! `check` function, on evidence built here.

use std::collections::HashMap;

use vigie_proto::v1::{domain_state::State, Domain, HostKey, SshMatchBlock, SshServer};

use crate::testing::{check, Case, MINUTE_MS};
use crate::Profile;

fn map(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn key(t: &str, bits: u32) -> HostKey {
    HostKey {
        key_type: t.to_owned(),
        bits,
        in_use: true,
        ..Default::default()
    }
}

/// A hardened sshd: every check passes under every profile.
fn hardened() -> SshServer {
    SshServer {
        installed: true,
        settings: map(&[
            ("permitrootlogin", "no"),
            ("passwordauthentication", "no"),
            ("kbdinteractiveauthentication", "no"),
            ("permitemptypasswords", "no"),
            ("authenticationmethods", "any"),
            ("maxauthtries", "2"),
            ("logingracetime", "30"),
            ("allowgroups", "ssh-users"),
            ("permituserenvironment", "no"),
            ("allowtcpforwarding", "no"),
            ("x11forwarding", "no"),
            ("disableforwarding", "no"),
            ("ciphers", "chacha20-poly1305@openssh.com,aes256-ctr"),
            ("macs", "hmac-sha2-512-etm@openssh.com"),
            ("kexalgorithms", "curve25519-sha256"),
        ]),
        host_keys: vec![key("ssh-ed25519", 256), key("ssh-rsa", 4096)],
        ..Default::default()
    }
}

fn ssh(edit: impl FnOnce(&mut SshServer)) -> Case {
    let mut s = hardened();
    edit(&mut s);
    Case::new().state(Domain::SshServer, 10 * MINUTE_MS, Some(State::SshServer(s)))
}

fn set(s: &mut SshServer, pairs: &[(&str, &str)]) {
    s.settings.extend(map(pairs));
}

fn block(s: &mut SshServer, criteria: &str, pairs: &[(&str, &str)]) {
    s.match_blocks.push(SshMatchBlock {
        criteria: criteria.to_owned(),
        settings: map(pairs),
        ..Default::default()
    });
}

#[track_caller]
fn profiles(case: &Case, id: &str, expect: [&str; 3]) {
    for (profile, e) in [Profile::Minimal, Profile::Standard, Profile::Strict]
        .into_iter()
        .zip(expect)
    {
        check(&case.clone().profile(profile), id, &format!("{e} [1.1]"));
    }
}

#[test]
fn not_installed_is_not_applicable_and_no_config_is_unknown() {
    let absent = ssh(|s| *s = SshServer::default());
    for id in ["SSH-001", "SSH-002", "SSH-003", "SSH-004", "SSH-005"] {
        check(
            &absent,
            id,
            "not_applicable: aucun serveur SSH (sshd) installé [1.1]",
        );
    }
    let no_config = ssh(|s| {
        *s = SshServer {
            installed: true,
            ..Default::default()
        }
    });
    check(
        &no_config,
        "SSH-003",
        "unknown: sshd installé, mais aucun fichier sshd_config n'a pu être lu [1.1]",
    );
    check(
        &Case::new(),
        "SSH-001",
        "unknown: aucun relevé du serveur SSH reçu de cet hôte",
    );
}

#[test]
fn ssh_001_root_login_per_profile() {
    profiles(&ssh(|_| {}), "SSH-001", ["pass: PermitRootLogin no"; 3]);
    profiles(
        &ssh(|s| set(s, &[("permitrootlogin", "prohibit-password")])),
        "SSH-001",
        [
            "pass: PermitRootLogin prohibit-password",
            "fail/high: connexion directe de root autorisée : PermitRootLogin prohibit-password",
            "fail/high: connexion directe de root autorisée : PermitRootLogin prohibit-password",
        ],
    );
    profiles(
        &ssh(|s| set(s, &[("permitrootlogin", "forced-commands-only")])),
        "SSH-001",
        [
            "pass: PermitRootLogin forced-commands-only",
            "pass: PermitRootLogin forced-commands-only",
            "fail/high: connexion directe de root autorisée : PermitRootLogin forced-commands-only",
        ],
    );
    // A Match block re-opening root login fails, and is named.
    profiles(
        &ssh(|s| block(s, "Address 10.0.0.0/8", &[("permitrootlogin", "yes")])),
        "SSH-001",
        ["fail/high: connexion directe de root autorisée : PermitRootLogin yes (bloc « Match Address 10.0.0.0/8 »)"; 3],
    );
}

#[test]
fn ssh_002_passwords_mfa_and_empty() {
    profiles(
        &ssh(|_| {}),
        "SSH-002",
        ["pass: authentification par mot de passe désactivée"; 3],
    );
    let debian = ssh(|s| set(s, &[("passwordauthentication", "yes")]));
    profiles(
        &debian,
        "SSH-002",
        [
            "pass: mots de passe acceptés (tolérés par ce profil), mots de passe vides refusés",
            "fail/high: authentification par mot de passe ouverte : PasswordAuthentication yes sans clé exigée",
            "fail/high: authentification par mot de passe ouverte : PasswordAuthentication yes sans clé exigée",
        ],
    );
    // Keyboard-interactive after a key: a second factor, accepted everywhere.
    let mfa = ssh(|s| {
        set(
            s,
            &[
                ("kbdinteractiveauthentication", "yes"),
                (
                    "authenticationmethods",
                    "publickey,keyboard-interactive:pam publickey,password",
                ),
            ],
        )
    });
    profiles(&mfa, "SSH-002", ["pass: mot de passe seulement en second facteur après une clé (AuthenticationMethods), mots de passe vides refusés"; 3]);
    // One method list without a key is enough to open passwords alone.
    let half = ssh(|s| {
        set(
            s,
            &[
                ("kbdinteractiveauthentication", "yes"),
                (
                    "authenticationmethods",
                    "publickey,keyboard-interactive keyboard-interactive",
                ),
            ],
        )
    });
    check(
        &half,
        "SSH-002",
        "fail/high: authentification par mot de passe ouverte : KbdInteractiveAuthentication yes sans clé exigée [1.1]",
    );
    profiles(
        &ssh(|s| {
            set(s, &[("permitemptypasswords", "yes")]);
            block(s, "User kiosk", &[("passwordauthentication", "yes")]);
        }),
        "SSH-002",
        [
            "fail/high: authentification par mot de passe ouverte : PermitEmptyPasswords yes",
            "fail/high: authentification par mot de passe ouverte : PermitEmptyPasswords yes ; PasswordAuthentication yes sans clé exigée (bloc « Match User kiosk »)",
            "fail/high: authentification par mot de passe ouverte : PermitEmptyPasswords yes ; PasswordAuthentication yes sans clé exigée (bloc « Match User kiosk »)",
        ],
    );
}

#[test]
fn ssh_003_limits_per_profile() {
    profiles(
        &ssh(|_| {}),
        "SSH-003",
        ["pass: MaxAuthTries 2, LoginGraceTime 30 s"; 3],
    );
    profiles(
        &ssh(|s| set(s, &[("maxauthtries", "6"), ("logingracetime", "120")])),
        "SSH-003",
        [
            "pass: MaxAuthTries 6, LoginGraceTime 120 s",
            "fail/medium: limites trop larges : MaxAuthTries 6 (seuil 3) ; LoginGraceTime 120 s (seuil 1 min)",
            "fail/medium: limites trop larges : MaxAuthTries 6 (seuil 2) ; LoginGraceTime 120 s (seuil 30 s)",
        ],
    );
    // LoginGraceTime 0 is "no limit"; a Match block may raise MaxAuthTries.
    check(
        &ssh(|s| {
            set(s, &[("logingracetime", "0")]);
            block(s, "User svc", &[("maxauthtries", "10")]);
        })
        .profile(Profile::Minimal),
        "SSH-003",
        "fail/medium: limites trop larges : MaxAuthTries 10 (seuil 6) (bloc « Match User svc ») ; LoginGraceTime 0 s (seuil 2 min) [1.1]",
    );
}

#[test]
fn ssh_004_access_per_profile() {
    profiles(
        &ssh(|_| {}),
        "SSH-004",
        [
            "pass: PermitUserEnvironment no, X11 interdit",
            "pass: PermitUserEnvironment no, liste d'accès définie, redirection TCP interdite, X11 interdit",
            "pass: PermitUserEnvironment no, liste d'accès définie, redirection TCP interdite, X11 interdit",
        ],
    );
    let debian = ssh(|s| {
        s.settings.remove("allowgroups");
        set(
            s,
            &[("allowtcpforwarding", "yes"), ("x11forwarding", "yes")],
        );
    });
    profiles(
        &debian,
        "SSH-004",
        [
            "fail/medium: accès trop ouvert : X11Forwarding yes",
            "fail/medium: accès trop ouvert : ni AllowUsers ni AllowGroups ; AllowTcpForwarding yes ; X11Forwarding yes",
            "fail/medium: accès trop ouvert : ni AllowUsers ni AllowGroups ; AllowTcpForwarding yes ; X11Forwarding yes",
        ],
    );
    // DisableForwarding covers both; a block re-opening TCP forwarding fails.
    check(
        &ssh(|s| {
            set(s, &[("allowtcpforwarding", "yes"), ("disableforwarding", "yes"), ("permituserenvironment", "LANG,TZ")]);
            block(s, "Group dev", &[("disableforwarding", "no")]);
        }),
        "SSH-004",
        "fail/medium: accès trop ouvert : PermitUserEnvironment LANG,TZ ; AllowTcpForwarding yes (bloc « Match Group dev ») [1.1]",
    );
}

#[test]
fn ssh_005_keys_and_algorithms_per_profile() {
    profiles(
        &ssh(|_| {}),
        "SSH-005",
        ["pass: clés d'hôte ssh-ed25519 256, ssh-rsa 4096 ; aucun algorithme faible"; 3],
    );
    let rsa_2048 = ssh(|s| {
        s.host_keys = vec![key("ssh-rsa", 2048), key("ecdsa-sha2-nistp256", 256)];
        set(s, &[("macs", "hmac-sha2-256-etm@openssh.com,hmac-sha1")]);
    });
    profiles(
        &rsa_2048,
        "SSH-005",
        [
            "pass: clés d'hôte ssh-rsa 2048, ecdsa-sha2-nistp256 256 ; aucun algorithme faible",
            "fail/medium: MAC faibles : hmac-sha1",
            "fail/medium: clé d'hôte RSA de 2048 bits (minimum 3072) ; MAC faibles : hmac-sha1",
        ],
    );
    let weak = ssh(|s| {
        s.host_keys = vec![key("ssh-dss", 1024), key("ssh-rsa", 1024)];
        let mut unused = key("ssh-dss", 1024);
        unused.in_use = false;
        s.host_keys.push(unused);
        set(
            s,
            &[
                ("ciphers", "aes128-ctr,aes128-cbc,3des-cbc"),
                ("macs", "hmac-md5,hmac-sha2-256"),
                (
                    "kexalgorithms",
                    "curve25519-sha256,diffie-hellman-group1-sha1",
                ),
            ],
        );
    });
    check(
        &weak.profile(Profile::Minimal),
        "SSH-005",
        "fail/medium: clé d'hôte DSA (1024 bits) ; clé d'hôte RSA de 1024 bits (minimum 2048) ; chiffrements faibles : aes128-cbc, 3des-cbc ; MAC faibles : hmac-md5 et 1 autre [1.1]",
    );
    let broken = ssh(|s| {
        s.host_keys = vec![HostKey {
            key_type: "ssh-rsa".to_owned(),
            in_use: true,
            error: "key blob truncated".to_owned(),
            ..Default::default()
        }]
    });
    check(
        &broken,
        "SSH-005",
        "unknown: clé d'hôte illisible : ssh-rsa [1.1]",
    );
}
