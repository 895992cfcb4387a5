//! `doctor` on real set-ups, healthy and broken (issue 7): wrong permissions, an expired
//! certificate, an unreachable collector, a revoked host, a stopped collector; in English, and in
//! French when the locale says so.

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Output};
use std::time::Duration;

use crate::harness::{bin, run, wait_for, Agent, Collector};

/// `vigie-agent doctor` with the given locale (`C` for English).
fn agent_doctor(a: &Agent, lang: &str) -> (bool, String) {
    let out = run(Command::new(bin("vigie-agent"))
        .arg("--config")
        .arg(&a.config)
        .args(["doctor", "--timeout-secs", "5", "--state-dir"])
        .arg(&a.state)
        .env_remove("LC_MESSAGES")
        .env_remove("LANG")
        .env("LC_ALL", lang));
    text(out)
}

fn collector_doctor(c: &Collector, lang: &str) -> (bool, String) {
    let out = run(Command::new(bin("vigie-collector"))
        .args(["doctor", "--data-dir"])
        .arg(&c.dir)
        .env_remove("LC_ALL")
        .env_remove("LC_MESSAGES")
        .env("LANG", lang));
    text(out)
}

fn text(out: Output) -> (bool, String) {
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[track_caller]
fn has(text: &str, needles: &[&str]) {
    for n in needles {
        assert!(text.contains(n), "{n:?} not in:\n{text}");
    }
}

fn enrolled(tmp: &std::path::Path) -> (Collector, Agent) {
    let c = Collector::start(tmp);
    c.admin_ok(&["org", "add", "mairie", "--name", "Mairie"]);
    let a = Agent::new(tmp, "agent", 3600, 3600);
    a.enroll(&c, &c.token("mairie", "1h"));
    (c, a)
}

#[test]
fn agent_doctor_healthy_then_broken_permissions_and_unreachable_collector() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut c, a) = enrolled(tmp.path());

    let (ok, out) = agent_doctor(&a, "C");
    assert!(ok, "{out}");
    has(
        &out,
        &[
            "[OK] config:",
            "[OK] permissions:",
            "[OK] identity: enrolled as host",
            "[OK] certificate:",
            "accepts this host",
            "[OK] clock: this host's clock is",
            "] disk: /",
            "0 problem(s)",
        ],
    );

    // Wrong permissions, in French.
    std::fs::set_permissions(&a.config, std::fs::Permissions::from_mode(0o666)).unwrap();
    std::fs::set_permissions(&a.state, std::fs::Permissions::from_mode(0o775)).unwrap();
    let (ok, out) = agent_doctor(&a, "fr_FR.UTF-8");
    assert!(!ok);
    has(
        &out,
        &[
            "[ÉCHEC] permissions:",
            &format!(
                "{} est modifiable par tous les utilisateurs",
                a.config.display()
            ),
            &format!("correction: chmod go-w {}", a.config.display()),
            &format!("{} est modifiable par son groupe", a.state.display()),
            "2 problème(s)",
            "des problèmes ont été trouvés",
        ],
    );
    std::fs::set_permissions(&a.config, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::set_permissions(&a.state, std::fs::Permissions::from_mode(0o700)).unwrap();

    // Unreachable collector, in English and in French.
    c.kill();
    let (ok, out) = agent_doctor(&a, "C");
    assert!(!ok);
    has(
        &out,
        &[
            "[FAIL] collector:",
            "unreachable",
            "fix: check that the collector runs",
        ],
    );
    let (_, out) = agent_doctor(&a, "fr_BE");
    has(
        &out,
        &[
            "[ÉCHEC] collector:",
            "injoignable",
            "correction: vérifier que le collecteur tourne",
        ],
    );
}

#[test]
fn agent_doctor_names_an_expired_certificate_and_a_revoked_host() {
    let tmp = tempfile::tempdir().unwrap();
    let (c, a) = enrolled(tmp.path());
    let host = a.host_id();

    // Revoked: the collector refuses the certificate.
    c.admin_ok(&["host", "revoke", &host, "--reason", "stolen laptop"]);
    let (ok, out) = agent_doctor(&a, "C");
    assert!(!ok);
    has(
        &out,
        &["[FAIL] collector:", "refuses this host's certificate"],
    );

    // Expired: a certificate for the same key, issued by the same CA, that ended in 2021.
    let ca_key =
        rcgen::KeyPair::from_pem(&std::fs::read_to_string(c.dir.join("ca.key")).unwrap()).unwrap();
    let ca_der = std::fs::read(a.state.join("ca.crt.der")).unwrap();
    let issuer =
        rcgen::Issuer::from_ca_cert_der(&rustls_pki_types::CertificateDer::from(ca_der), ca_key)
            .unwrap();
    let agent_key =
        rcgen::KeyPair::from_pem(&std::fs::read_to_string(a.state.join("agent.key")).unwrap())
            .unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.subject_alt_names = vec![rcgen::SanType::URI(
        format!("urn:vigie:host:{host}").try_into().unwrap(),
    )];
    params.not_before = rcgen::date_time_ymd(2020, 1, 1);
    params.not_after = rcgen::date_time_ymd(2021, 1, 1);
    let cert = params.signed_by(&agent_key, &issuer).unwrap();
    std::fs::write(a.state.join("agent.crt.der"), cert.der()).unwrap();
    let (ok, out) = agent_doctor(&a, "C");
    assert!(!ok);
    has(
        &out,
        &[
            "[FAIL] certificate:",
            "agent.crt.der expired on",
            "2021",
            "fix: the collector no longer accepts this host",
        ],
    );
    let (_, out) = agent_doctor(&a, "fr_FR.UTF-8");
    has(&out, &["agent.crt.der a expiré le"]);
}

#[test]
fn agent_doctor_on_an_unenrolled_host_says_how_to_enroll() {
    let tmp = tempfile::tempdir().unwrap();
    let a = Agent::new(tmp.path(), "agent", 3600, 3600);
    let (ok, out) = agent_doctor(&a, "C");
    assert!(!ok);
    has(
        &out,
        &[
            "[FAIL] identity: this agent is not enrolled",
            "fix: vigie-agent enroll",
        ],
    );
    // A configuration error is reported, not a crash.
    std::fs::write(&a.config, "interval_secs = \"often\"\n").unwrap();
    let (ok, out) = agent_doctor(&a, "C");
    assert!(!ok);
    has(&out, &["[FAIL] config:", "interval_secs"]);
}

#[test]
fn collector_doctor_running_stopped_and_leaky_key() {
    let tmp = tempfile::tempdir().unwrap();
    let mut c = Collector::start(tmp.path());
    let (ok, out) = collector_doctor(&c, "en_US.UTF-8");
    assert!(ok, "{out}");
    has(
        &out,
        &[
            "[OK] config:",
            "[OK] permissions:",
            "[OK] keys:",
            "ca.crt valid until",
            "server.crt valid until",
            "[OK] store: store format 3",
            "[OK] server: the collector is running",
            "] disk: /",
        ],
    );

    c.stop();
    wait_for("the socket to go", Duration::from_secs(10), || {
        (!c.dir.join("admin.sock").exists()).then_some(())
    });
    std::fs::set_permissions(
        c.dir.join("server.key"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let (ok, out) = collector_doctor(&c, "fr_FR.UTF-8");
    assert!(!ok);
    has(
        &out,
        &[
            "[ÉCHEC] server: le collecteur ne tourne pas",
            "correction: systemctl start vigie-collector",
            "server.key est une clé lisible par le groupe ou les autres",
            &format!(
                "correction: chmod 600 {}",
                c.dir.join("server.key").display()
            ),
        ],
    );
}
