//! The SSH slice end to end: the real agent reads each fixture root (`check --root DIR --json`),
//! the real collector judges the evidence offline (`evaluate`), and the SSH outcomes are those the
//! fixtures were written for: a stock Debian 12, a hardened host, a weak host, and a host with no
//! sshd at all.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::{bin, ok};

fn root(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/roots")
        .join(name)
}

/// The agent's evidence for `root`, and the SSH findings under `profile` as
/// `(check id, outcome, detail)`.
fn judge(root: &Path, profile: &str) -> (serde_json::Value, Vec<(String, String, String)>) {
    let tmp = tempfile::tempdir().unwrap();
    let json = ok(Command::new(bin("vigie-agent"))
        .args(["check", "--json", "--root"])
        .arg(root));
    let evidence: serde_json::Value = serde_json::from_str(&json).unwrap();
    let file = tmp.path().join("evidence.json");
    std::fs::write(&file, &json).unwrap();
    let out = ok(Command::new(bin("vigie-collector"))
        .args([
            "evaluate",
            "--format",
            "json",
            "--profile",
            profile,
            // ACC-008's VPN half, attested as `attest set` would (tests/it/attestations.rs).
            "--attest",
            "vpn-mfa",
            "--evidence",
        ])
        .arg(&file));
    let findings: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    let ssh = findings
        .iter()
        // ACC-008 (remote access MFA) is judged on the same SSH evidence; it sorts first.
        .filter(|f| {
            let id = f["check_id"].as_str().unwrap();
            id.starts_with("SSH-") || id == "ACC-008"
        })
        .map(|f| {
            let s = |k: &str| f[k].as_str().unwrap().to_owned();
            // ACC-008 ends with its VPN half, attested here; the SSH half is what is compared.
            let detail = match s("detail").split_once(" ; VPN : ") {
                Some((ssh, vpn)) => {
                    assert!(
                        vpn.starts_with("double facteur attesté par évaluation hors ligne"),
                        "{vpn}"
                    );
                    ssh.to_owned()
                }
                None => s("detail"),
            };
            (s("check_id"), s("outcome"), detail)
        })
        .collect();
    let ssh_state = evidence["domains"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["domain"] == "SSH_SERVER")
        .unwrap_or_else(|| panic!("no SSH_SERVER domain in {json}"))["sshServer"]
        .clone();
    (ssh_state, ssh)
}

#[track_caller]
fn outcomes(findings: &[(String, String, String)], expect: [&str; 6]) {
    let got: Vec<&str> = findings.iter().map(|(_, o, _)| o.as_str()).collect();
    assert_eq!(got, expect, "{findings:#?}");
}

fn detail<'a>(findings: &'a [(String, String, String)], id: &str) -> &'a str {
    &findings.iter().find(|(i, _, _)| i == id).unwrap().2
}

#[test]
fn stock_debian_12_passes_minimal_and_fails_standard_for_known_reasons() {
    let (state, minimal) = judge(&root("debian12-stock"), "minimal");
    assert_eq!(state["installed"], true);
    assert_eq!(state["settings"]["permitrootlogin"], "prohibit-password");
    assert_eq!(state["settings"]["kbdinteractiveauthentication"], "no");
    // A foreign root never runs sshd -T: it would read this machine, not the tree.
    assert_eq!(state["crossCheck"]["status"], "NOT_RUN");
    outcomes(&minimal, ["fail", "pass", "pass", "pass", "fail", "pass"]);
    // sshd's default PasswordAuthentication yes: a password alone opens a session.
    assert_eq!(
        detail(&minimal, "ACC-008"),
        "accès SSH possible avec un seul facteur : password seul accepté"
    );
    assert_eq!(
        detail(&minimal, "SSH-004"),
        "accès trop ouvert : X11Forwarding yes"
    );

    let (_, standard) = judge(&root("debian12-stock"), "standard");
    outcomes(&standard, ["fail", "fail", "fail", "fail", "fail", "fail"]);
    assert_eq!(
        detail(&standard, "SSH-001"),
        "connexion directe de root autorisée : PermitRootLogin prohibit-password"
    );
    assert_eq!(
        detail(&standard, "SSH-005"),
        "MAC faibles : hmac-sha1-etm@openssh.com, hmac-sha1"
    );
}

#[test]
fn hardened_host_passes_every_ssh_check_even_strict() {
    for profile in ["standard", "strict"] {
        let (state, findings) = judge(&root("hardened"), profile);
        outcomes(&findings, ["pass"; 6]);
        assert_eq!(
            detail(&findings, "ACC-008"),
            "accès SSH : clé seule, publickey,keyboard-interactive (bloc « Match Group prestataires Address 192.0.2.0/24 »)"
        );
        let blocks = state["matchBlocks"].as_array().unwrap();
        assert_eq!(blocks.len(), 1);
        assert_eq!(
            blocks[0]["criteria"],
            "Group prestataires Address 192.0.2.0/24"
        );
        assert_eq!(
            blocks[0]["settings"]["authenticationmethods"],
            "publickey,keyboard-interactive"
        );
        assert_eq!(state["files_read"], serde_json::Value::Null);
        assert_eq!(state["filesRead"].as_array().unwrap().len(), 3);
    }
}

#[test]
fn weak_host_fails_every_ssh_check_for_its_reason() {
    let (state, findings) = judge(&root("weak"), "standard");
    outcomes(&findings, ["fail"; 6]);
    assert_eq!(
        detail(&findings, "ACC-008"),
        "accès SSH possible avec un seul facteur : password seul accepté ; keyboard-interactive \
         sans second facteur PAM ; password seul accepté (bloc « Match User backup ») ; \
         keyboard-interactive sans second facteur PAM (bloc « Match User backup »)"
    );
    assert_eq!(
        detail(&findings, "SSH-001"),
        "connexion directe de root autorisée : PermitRootLogin yes ; PermitRootLogin yes (bloc « Match User backup »)"
    );
    assert!(
        detail(&findings, "SSH-002")
            .starts_with("authentification par mot de passe ouverte : PermitEmptyPasswords yes"),
        "{findings:?}"
    );
    assert_eq!(
        detail(&findings, "SSH-003"),
        "limites trop larges : MaxAuthTries 10 (seuil 3) ; LoginGraceTime 300 s (seuil 1 min)"
    );
    assert!(detail(&findings, "SSH-005").starts_with("clé d'hôte DSA (1024 bits) ; clé d'hôte RSA de 1024 bits (minimum 2048) ; chiffrements faibles : aes128-cbc, 3des-cbc"));
    // The drop-in came after the main file's values: first value wins, as in sshd.
    assert_eq!(state["settings"]["passwordauthentication"], "yes");
    // The named Include that does not exist is reported with its file and line.
    let problems = state["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0]["kind"], "MISSING_INCLUDE");
    assert_eq!(problems[0]["line"], 24);
}

#[test]
fn host_without_sshd_is_not_applicable() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(tmp.path().join("etc")).unwrap();
    let (state, findings) = judge(tmp.path(), "standard");
    assert_eq!(state["installed"], serde_json::Value::Null, "{state}");
    // ACC-008 first: no SSH, so remote access is the VPN alone, attested here (`--attest`).
    outcomes(
        &findings,
        [
            "pass",
            "not_applicable",
            "not_applicable",
            "not_applicable",
            "not_applicable",
            "not_applicable",
        ],
    );
    assert_eq!(
        detail(&findings, "SSH-001"),
        "aucun serveur SSH (sshd) installé"
    );
}
