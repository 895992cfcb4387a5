//! Alerts end to end against a real SMTP server (Debian's aiosmtpd on 127.0.0.1, STARTTLS or
//! implicit TLS with a certificate made by the test, AUTH): the lifecycle from real findings (ping
//! jobs, a silent enrolled host), grouping, reminders across a daylight-saving change, the daily
//! digest, acknowledgements on the audit trail, an SMTP server that refuses, times out or is down and
//! comes back (delivered later, exactly once, surviving a restart), a failing sink announced on the
//! organisation's other sink, hostile host names and backup messages delivered inert, and `serve`
//! with `alerts list|ack|test|sinks` and a crash (`kill -9`) that loses and duplicates nothing.
//!
//! In-process tests drive the collector's library with a manual clock; the last one runs the binary.

use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use vigie_collector::alerts::config::AlertSettings;
use vigie_collector::alerts::dispatch::{build_sinks, Worker};
use vigie_collector::alerts::email::{EmailConfig, EmailSink, EmailTls};
use vigie_collector::alerts::engine::Engine;
use vigie_collector::clock::{Clock, ManualClock};
use vigie_collector::store::sled_store::SledStore;
use vigie_collector::store::{AlertState, Org, PingJob, PingKind, Store};
use vigie_policies::{Catalogue, Profile};

use crate::harness::{bin, ok, wait_for, Collector};

const SERVER_PY: &str = include_str!("alerts/smtp_server.py");
const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;

// -- a real SMTP server --------------------------------------------------------------------------

pub(crate) struct Pki {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

fn pki(dir: &Path) -> Pki {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Vigie alerts test CA");
    ca_params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
    ];
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params =
        rcgen::CertificateParams::new(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let cert = params.signed_by(&key, &ca).unwrap();
    let p = Pki {
        ca: dir.join("smtp-ca.pem"),
        cert: dir.join("smtp.pem"),
        key: dir.join("smtp.key"),
    };
    std::fs::write(&p.ca, ca.pem()).unwrap();
    std::fs::write(&p.cert, cert.pem()).unwrap();
    std::fs::write(&p.key, key.serialize_pem()).unwrap();
    p
}

pub(crate) struct Smtp {
    dir: PathBuf,
    args: Vec<String>,
    child: Option<Child>,
    pub(crate) port: u16,
}

/// One message as the server received it.
#[derive(Debug, Clone)]
pub(crate) struct Mail {
    pub(crate) json: Value,
    pub(crate) raw: String,
}

impl Mail {
    pub(crate) fn subject(&self) -> &str {
        self.json["subject"].as_str().unwrap()
    }
    pub(crate) fn text(&self) -> &str {
        self.json["text"].as_str().unwrap()
    }
    pub(crate) fn html(&self) -> &str {
        self.json["html"].as_str().unwrap()
    }
    fn key(&self) -> &str {
        self.json["key"].as_str().unwrap()
    }
    /// The header block, raw.
    pub(crate) fn headers(&self) -> &str {
        self.raw.split("\r\n\r\n").next().unwrap()
    }
}

impl Smtp {
    /// `tls`: none, starttls or implicit; `auth`: user and password the server requires.
    pub(crate) fn start(
        root: &Path,
        name: &str,
        tls: &str,
        auth: Option<(&str, &str)>,
        pki: Option<&Pki>,
    ) -> Smtp {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let script = root.join("smtp_server.py");
        std::fs::write(&script, SERVER_PY).unwrap();
        let mut args = vec![
            script.display().to_string(),
            "--dir".into(),
            dir.display().to_string(),
            "--tls".into(),
            tls.into(),
        ];
        if let Some(p) = pki {
            args.extend([
                "--cert".into(),
                p.cert.display().to_string(),
                "--key".into(),
                p.key.display().to_string(),
            ]);
        }
        if let Some((u, pw)) = auth {
            args.extend(["--user".into(), u.into(), "--password".into(), pw.into()]);
        }
        let mut s = Smtp {
            dir,
            args,
            child: None,
            port: 0,
        };
        s.spawn();
        s
    }

    fn spawn(&mut self) {
        let _ = std::fs::remove_file(self.dir.join("port"));
        let child = Command::new("/usr/bin/python3")
            .args(&self.args)
            .args(["--port", &self.port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3-aiosmtpd is installed (scripts/test installs it)");
        self.child = Some(child);
        let port_file = self.dir.join("port");
        self.port = wait_for("the SMTP server's port", Duration::from_secs(20), || {
            std::fs::read_to_string(&port_file)
                .ok()
                .and_then(|p| p.trim().parse().ok())
        });
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Back on the same port.
    fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    fn set_mode(&self, mode: &str) {
        std::fs::write(self.dir.join("mode"), mode).unwrap();
    }

    pub(crate) fn mails(&self) -> Vec<Mail> {
        let mut names: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        names.sort();
        names
            .into_iter()
            .map(|p| Mail {
                json: serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap(),
                raw: String::from_utf8_lossy(&std::fs::read(p.with_extension("eml")).unwrap())
                    .into_owned(),
            })
            .collect()
    }

    #[track_caller]
    pub(crate) fn wait_mails(&self, n: usize) -> Vec<Mail> {
        wait_for(&format!("{n} mails"), Duration::from_secs(40), || {
            let m = self.mails();
            (m.len() >= n).then_some(m)
        })
    }
}

impl Drop for Smtp {
    fn drop(&mut self) {
        self.stop();
    }
}

// -- in-process helpers --------------------------------------------------------------------------

/// `[alerts]` and its sinks validated through the collector's own configuration loader.
fn alert_settings(dir: &Path, alerts: &str) -> AlertSettings {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join("collector.toml"),
        format!(
            "version = 1\nlisten = \"127.0.0.1:0\"\nenroll_listen = \"127.0.0.1:0\"\nserver_names = [\"localhost\"]\n{alerts}"
        ),
    )
    .unwrap();
    vigie_collector::config::load(dir).unwrap().alerts
}

pub(crate) fn email_sink_toml(name: &str, port: u16, tls: &str, extra: &str) -> String {
    format!(
        "[[alerts.sink]]\nname = \"{name}\"\norg = \"mairie\"\nkind = \"email\"\nsmtp_host = \"127.0.0.1\"\nsmtp_port = {port}\ntls = \"{tls}\"\nfrom = \"Vigie <vigie@mairie.example>\"\nto = [\"dsi@mairie.example\"]\ntimeout_secs = 5\n{extra}\n"
    )
}

struct Bench {
    store: Arc<SledStore>,
    clock: Arc<ManualClock>,
    engine: Engine,
    catalogue: Catalogue,
}

impl Bench {
    async fn new(store_dir: &Path, settings: AlertSettings, now: i64) -> Bench {
        let store = Arc::new(SledStore::open(store_dir, 8 << 20).unwrap());
        if store.org("mairie").await.unwrap().is_none() {
            store
                .add_org(Org {
                    id: "mairie".into(),
                    name: "Mairie de Test".into(),
                    created_at_ms: now,
                })
                .await
                .unwrap();
        }
        Bench {
            store,
            clock: Arc::new(ManualClock(now.into())),
            engine: Engine::new(settings).unwrap(),
            catalogue: Catalogue::builtin().unwrap(),
        }
    }

    fn now(&self) -> i64 {
        self.clock.now_ms()
    }

    fn set(&self, ms: i64) {
        self.clock.0.store(ms, Ordering::SeqCst);
    }

    /// Re-evaluates the ping jobs and runs one engine step with reconciliation.
    async fn step(&self) -> vigie_collector::alerts::engine::StepSummary {
        vigie_collector::ping::evaluate_all(
            self.store.as_ref(),
            &self.catalogue,
            Profile::Standard,
            self.now(),
        )
        .await
        .unwrap();
        self.engine
            .step(self.store.as_ref(), self.now(), true)
            .await
            .unwrap()
    }

    fn workers(&self) -> Vec<Worker> {
        build_sinks(&self.engine.settings)
            .unwrap()
            .into_iter()
            .map(|(spec, sink)| Worker {
                spec,
                sink,
                store: self.store.clone(),
                clock: self.clock.clone(),
                retry: self.engine.settings.retry,
                abort_after_send: false,
            })
            .collect()
    }

    async fn deliver(&self) {
        for w in self.workers() {
            w.round().await.unwrap();
        }
    }

    async fn add_job(&self, name: &str) -> [u8; 32] {
        let secret = [name.len() as u8; 32];
        let mut hash = [0u8; 32];
        hash.copy_from_slice(&secret);
        hash[0] = name
            .bytes()
            .fold(0u8, |a, b| a.wrapping_mul(31).wrapping_add(b));
        self.store
            .add_ping_job(PingJob {
                org: "mairie".into(),
                name: name.into(),
                secret_hash: hash,
                period_secs: 86_400,
                grace_secs: 7_200,
                site: String::new(),
                offline: false,
                created_at_ms: self.now(),
                last_start_ms: 0,
                last_success_ms: 0,
                last_failure_ms: 0,
                last_failure_message: String::new(),
            })
            .await
            .unwrap();
        hash
    }

    async fn ping(&self, hash: &[u8; 32], kind: PingKind, message: &str) {
        let message = vigie_collector::ping::sanitize_message(message.as_bytes());
        self.store
            .record_ping(hash, kind, self.now(), &message)
            .await
            .unwrap()
            .unwrap();
    }
}

fn ms(rfc3339: &str) -> i64 {
    rfc3339.parse::<jiff::Timestamp>().unwrap().as_millisecond()
}

// -- tests ---------------------------------------------------------------------------------------

/// A backup stops succeeding → one e-mail (STARTTLS, AUTH) with host, check, ANSSI reference,
/// evidence and remedy; reminders follow the organisation's calendar across the spring DST change;
/// an acknowledgement stops them and is on the audit trail; success → one resolution; the daily
/// digest comes at 08:00 local time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_failure_mail_reminders_across_dst_ack_resolution_and_digest() {
    let root = tempfile::tempdir().unwrap();
    let pki = pki(root.path());
    let smtp = Smtp::start(
        root.path(),
        "smtp",
        "starttls",
        Some(("vigie", "s3cret pw")),
        Some(&pki),
    );
    let pw = root.path().join("smtp.password");
    std::fs::write(&pw, "s3cret pw\n").unwrap();
    std::fs::set_permissions(&pw, std::fs::Permissions::from_mode(0o600)).unwrap();
    let extra = format!(
        "min_severity = \"critical\"\nusername = \"vigie\"\npassword_file = \"{}\"\nca_file = \"{}\"\n",
        pw.display(),
        pki.ca.display()
    );
    let settings = alert_settings(
        &root.path().join("conf"),
        &format!(
            "[alerts]\ngroup_wait_secs = 60\nremind_critical = \"1d\"\ndigest_hour = 8\n{}",
            email_sink_toml("courriel", smtp.port, "starttls", &extra)
        ),
    );
    // Friday 27 March 2026, 09:00 in Paris (CET, UTC+1); DST starts on Sunday the 29th.
    let b = Bench::new(
        &root.path().join("store"),
        settings,
        ms("2026-03-27T08:00:00Z"),
    )
    .await;
    let nas = b.add_job("nas").await;
    b.ping(&nas, PingKind::Success, "").await;
    b.step().await;
    assert!(b.store.alerts(None).await.unwrap().is_empty());

    // The backup fails, with a message full of HTML and line breaks.
    b.set(b.now() + HOUR);
    b.ping(
        &nas,
        PingKind::Failure,
        "disque plein <b>/srv</b>\r\nX-Injected: 1",
    )
    .await;
    let s = b.step().await;
    assert_eq!(s.opened, 2, "BKP-001 and BKP-002 fail");
    b.deliver().await;
    assert!(smtp.mails().is_empty(), "still inside the grouping window");
    b.set(b.now() + MINUTE);
    let s = b.step().await;
    assert_eq!(
        (s.notifications, s.outbox_entries),
        (2, 1),
        "BKP-002 is below min_severity"
    );
    b.deliver().await;
    let mails = smtp.wait_mails(1);
    let m = &mails[0];
    assert_eq!(m.json["tls"], true);
    assert_eq!(m.json["authenticated"], true);
    assert_eq!(
        m.subject(),
        "[Vigie][CRITIQUE] ping:nas : Sauvegarde réussie dans les délais (BKP-001) en échec"
    );
    for needle in [
        "Contrôle : BKP-001 — Sauvegarde réussie dans les délais",
        "Références ANSSI : HYG 14, HYG 37",
        "- ping:nas : en échec depuis le 27/03/2026 10:00 (Europe/Paris)",
        "dernier passage en échec",
        "Preuves : rapports 0/",
        "Que faire :",
        "vigie-collector alerts ack a-",
    ] {
        assert!(m.text().contains(needle), "{needle:?} not in {}", m.text());
    }
    assert!(!m.text().contains("\r\nX-Injected"), "{}", m.text());
    assert!(
        m.html().contains("dernier passage en échec"),
        "{}",
        m.html()
    );
    assert!(!m.headers().contains("X-Injected"), "{}", m.headers());
    assert!(m.json["message_id"]
        .as_str()
        .unwrap()
        .starts_with(&format!("<{}@mairie.example>", m.key())));

    // Reminders: "1d" is the same local time the next day, 23 hours across the DST change.
    let alert = b
        .store
        .alerts(Some("mairie"))
        .await
        .unwrap()
        .into_iter()
        .find(|a| a.check_id == "BKP-001")
        .unwrap();
    let first_reminder = alert.next_reminder_ms.unwrap();
    assert_eq!(
        first_reminder,
        ms("2026-03-28T09:01:00Z"),
        "Saturday 10:01 CET"
    );
    b.set(first_reminder);
    b.step().await;
    b.deliver().await;
    let second = b
        .store
        .alerts(Some("mairie"))
        .await
        .unwrap()
        .into_iter()
        .find(|a| a.id == alert.id)
        .unwrap()
        .next_reminder_ms
        .unwrap();
    assert_eq!(second - first_reminder, 23 * HOUR, "Sunday 10:01 CEST");
    // That step is also past Saturday's digest hour: the reminder, then Saturday's digest.
    let mails = smtp.wait_mails(3);
    assert!(
        mails[1]
            .subject()
            .starts_with("[Vigie][CRITIQUE] Rappel : ping:nas"),
        "{}",
        mails[1].subject()
    );
    assert_ne!(mails[1].key(), mails[0].key());
    assert_eq!(mails[2].key(), "digest-mairie-2026-03-28");

    // The digest of Sunday the 29th comes at 08:00 CEST = 06:00 UTC (the mark was set on the first
    // step: installing sends nothing at once).
    b.set(ms("2026-03-29T05:59:00Z"));
    assert_eq!(b.step().await.digests, 0);
    b.set(ms("2026-03-29T06:00:00Z"));
    assert_eq!(b.step().await.digests, 1);
    b.deliver().await;
    let mails = smtp.wait_mails(4);
    let digest = &mails[3];
    assert!(
        digest
            .subject()
            .starts_with("[Vigie] Résumé quotidien du 29/03/2026 — mairie : 2 alertes ouvertes"),
        "{}",
        digest.subject()
    );
    assert!(digest.text().contains("BKP-001") && digest.text().contains("BKP-002"));
    assert_eq!(digest.key(), "digest-mairie-2026-03-29");
    assert_eq!(b.step().await.digests, 0, "once a day");

    // Acknowledged: on the audit trail, a notice, and no more reminders.
    let acked = b
        .engine
        .acknowledge(
            b.store.as_ref(),
            b.now(),
            &alert.id,
            "uid:0",
            "technicien prévenu",
        )
        .await
        .unwrap();
    assert_eq!(acked.len(), 1);
    let trail = b.store.audit_trail().await.unwrap();
    let last = &trail.last().unwrap().entry;
    assert_eq!(
        (last.action.as_str(), last.actor.as_str()),
        ("alert.ack", "uid:0")
    );
    assert!(last.detail.contains("technicien prévenu") && last.detail.contains(&alert.id));
    vigie_collector::store::audit::verify_audit_chain(&trail).unwrap();
    b.deliver().await;
    let mails = smtp.wait_mails(5);
    assert!(
        mails[4]
            .subject()
            .starts_with("[Vigie] Acquittée : ping:nas"),
        "{}",
        mails[4].subject()
    );
    b.set(second + HOUR);
    b.step().await;
    b.deliver().await;
    assert_eq!(smtp.mails().len(), 5, "no reminder once acknowledged");

    // Success again → one resolution after the grouping window.
    b.ping(&nas, PingKind::Success, "").await;
    let s = b.step().await;
    assert_eq!(s.resolved, 2);
    b.set(b.now() + MINUTE);
    b.step().await;
    b.deliver().await;
    let mails = smtp.wait_mails(6);
    assert!(
        mails[5].subject().starts_with("[Vigie] Résolue : ping:nas"),
        "{}",
        mails[5].subject()
    );
    b.set(b.now() + HOUR);
    b.step().await;
    b.deliver().await;
    assert_eq!(smtp.mails().len(), 6);
    let states: Vec<AlertState> = b
        .store
        .alerts(None)
        .await
        .unwrap()
        .iter()
        .map(|a| a.state)
        .collect();
    assert_eq!(states, [AlertState::Resolved, AlertState::Resolved]);
}

/// An SMTP server that answers 451, then 554, then is down, then hangs: the notification stays in
/// the durable outbox (across a reopen of the store), backs off, the failing sink becomes an alert on
/// the organisation's other sink, and once the server is back the message is delivered exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_outage_and_timeout_queue_durably_then_deliver_exactly_once() {
    let root = tempfile::tempdir().unwrap();
    let pki = pki(root.path());
    let mut main = Smtp::start(root.path(), "main", "implicit", None, Some(&pki));
    let spare = Smtp::start(root.path(), "spare", "none", None, None);
    let conf = format!(
        "[alerts]\ngroup_wait_secs = 0\nretry_initial_secs = 10\nretry_max_secs = 60\nsink_failure_threshold = 3\n{}{}",
        email_sink_toml("courriel", main.port, "implicit", &format!("ca_file = \"{}\"\n", pki.ca.display())),
        email_sink_toml("secours", spare.port, "none", "domains = [\"alerts\"]\n"),
    );
    let settings = alert_settings(&root.path().join("conf"), &conf);
    let store_dir = root.path().join("store");
    let t0 = ms("2026-11-20T10:00:00Z");
    let key;
    {
        let b = Bench::new(&store_dir, settings.clone(), t0).await;
        let job = b.add_job("veeam").await;
        b.ping(&job, PingKind::Failure, "VSS error").await;
        b.step().await;
        let entries = b.store.outbox("courriel").await.unwrap();
        assert_eq!(entries.len(), 2, "BKP-001 and BKP-002");
        assert!(
            b.store.outbox("secours").await.unwrap().is_empty(),
            "routed by domain"
        );
        key = entries[0].notification.key.clone();

        main.set_mode("tempfail");
        b.deliver().await;
        let e = b.store.outbox("courriel").await.unwrap();
        assert_eq!(
            (e[0].attempts, e[1].attempts),
            (1, 0),
            "a 4xx ends the round"
        );
        assert!(e[0].last_error.contains("451"), "{}", e[0].last_error);
        assert!((5_000..=10_000).contains(&(e[0].next_attempt_ms - t0)));
        // The sink is down until that retry is due: nothing at all is attempted meanwhile.
        b.deliver().await;
        let e = b.store.outbox("courriel").await.unwrap();
        assert_eq!((e[0].attempts, e[1].attempts), (1, 0));
    }
    // The collector restarts: the queue is still there.
    let b = Bench::new(&store_dir, settings, t0 + 11_000).await;
    main.set_mode("reject");
    b.deliver().await;
    let e = b.store.outbox("courriel").await.unwrap();
    assert_eq!(
        (e[0].attempts, e[1].attempts),
        (2, 1),
        "a 5xx does not hold back the others"
    );
    assert!(
        e[0].last_error.starts_with("permanent failure") && e[0].last_error.contains("554"),
        "{}",
        e[0].last_error
    );

    main.stop();
    b.set(t0 + 60_000);
    b.deliver().await;
    let health = b.store.sink_health().await.unwrap();
    let h = health.iter().find(|h| h.sink == "courriel").unwrap();
    assert!(h.consecutive_failures >= 3, "{h:?}");
    assert_eq!(h.delivered, 0);
    assert!(main.mails().is_empty());

    // The failing sink is itself an alert, told on the other sink only.
    let s = b.step().await;
    assert_eq!(s.opened, 1);
    b.deliver().await;
    let told = spare.wait_mails(1);
    assert!(
        told[0]
            .subject()
            .contains("canal courriel (email) : Canal d'alerte en échec (ALR-001) en échec"),
        "{}",
        told[0].subject()
    );
    assert!(
        told[0].text().contains("dernière erreur"),
        "{}",
        told[0].text()
    );
    assert!(
        !b.store
            .outbox("courriel")
            .await
            .unwrap()
            .iter()
            .any(|e| e.notification.subject.contains("ALR-001")),
        "never queued on the failing sink itself"
    );

    // A server that accepts and never answers: the attempt times out (transient).
    let hang = TcpListener::bind("127.0.0.1:0").unwrap();
    let hang_port = hang.local_addr().unwrap().port();
    let held = std::thread::spawn(move || {
        let mut conns = Vec::new();
        for c in hang.incoming().take(1) {
            conns.push(c);
        }
        std::thread::sleep(Duration::from_secs(8));
    });
    let cfg = EmailConfig {
        smtp_host: "127.0.0.1".into(),
        smtp_port: Some(hang_port),
        tls: EmailTls::None,
        tls_server_name: None,
        ca_file: None,
        username: None,
        password_file: None,
        from: "vigie@mairie.example".into(),
        to: vec!["dsi@mairie.example".into()],
        hello_name: None,
        timeout_secs: 2,
    };
    let hanging = Worker {
        sink: Arc::new(EmailSink::from_config("courriel", &cfg).unwrap()),
        ..b.workers()
            .into_iter()
            .find(|w| w.spec.name == "courriel")
            .unwrap()
    };
    b.set(t0 + 10 * 60_000);
    let started = std::time::Instant::now();
    hanging.round().await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(6));
    let e = b.store.outbox("courriel").await.unwrap();
    assert!(
        e[0].last_error.starts_with("temporary failure"),
        "{}",
        e[0].last_error
    );
    held.join().unwrap();

    // Back up: delivered, once each, in order.
    main.restart();
    main.set_mode("accept");
    b.set(t0 + 60 * 60_000);
    b.deliver().await;
    b.set(t0 + 120 * 60_000);
    b.deliver().await;
    let mails = main.wait_mails(2);
    assert_eq!(mails[0].key(), key);
    let keys: std::collections::HashSet<&str> = mails.iter().map(Mail::key).collect();
    assert_eq!(keys.len(), mails.len(), "no duplicate");
    assert!(b.store.outbox("courriel").await.unwrap().is_empty());
    let h = b
        .store
        .sink_health()
        .await
        .unwrap()
        .into_iter()
        .find(|h| h.sink == "courriel")
        .unwrap();
    assert_eq!((h.delivered, h.consecutive_failures), (2, 0));
    // The sink works again: its alert resolves, and the other sink is told.
    b.step().await;
    b.deliver().await;
    let told = spare.wait_mails(2);
    assert!(
        told[1]
            .subject()
            .starts_with("[Vigie] Résolue : canal courriel"),
        "{}",
        told[1].subject()
    );
    assert_eq!(main.mails().len(), 2);
}

/// A silent host (the dead man's switch, AGT-001 from the real evaluator) with a hostile
/// self-declared name, and a backup message full of HTML, CR/LF and syslog metacharacters: the
/// e-mails carry them as inert text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_host_with_a_hostile_name_arrives_inert() {
    use vigie_proto::envelope::{report_digest, seal_report, HeaderFields};
    use vigie_proto::v1::{domain_state::State, Domain, DomainState, Inventory, Report};
    use vigie_proto::Message;

    let root = tempfile::tempdir().unwrap();
    let smtp = Smtp::start(root.path(), "smtp", "none", None, None);
    let settings = alert_settings(
        &root.path().join("conf"),
        &format!(
            "[alerts]\ngroup_wait_secs = 0\n{}",
            email_sink_toml("courriel", smtp.port, "none", "min_severity = \"high\"\n")
        ),
    );
    let t0 = ms("2026-11-20T10:00:00Z");
    let b = Bench::new(&root.path().join("store"), settings, t0).await;
    let hostile = "srv<script>alert(1)</script>\r\nBcc: victim@evil.example\u{202e}[x]";
    b.store
        .add_token(vigie_collector::store::TokenRecord {
            hash: [7; 32],
            org: "mairie".into(),
            created_at_ms: t0,
            expires_at_ms: t0 + HOUR,
            redeemed_by: None,
        })
        .await
        .unwrap();
    let key = ed25519_dalek::SigningKey::from_bytes(&[5; 32]);
    b.store
        .redeem_token(vigie_collector::store::Redemption {
            token_hash: [7; 32],
            public_key: key.verifying_key().to_bytes(),
            hostname: hostile.into(),
            agent_version: "test".into(),
            peer_address: "127.0.0.1:1".into(),
            now_ms: t0,
            new_host_id: "h-1".into(),
        })
        .await
        .unwrap();
    let report = Report {
        format_version: 1,
        domains: vec![DomainState {
            domain: Domain::Inventory as i32,
            state: Some(State::Inventory(Inventory {
                hostname: hostile.into(),
                ..Default::default()
            })),
            ..Default::default()
        }],
        ..Default::default()
    };
    let signed = seal_report(
        &key,
        &HeaderFields {
            host_id: "h-1".into(),
            epoch: 1,
            seq: 1,
            created_at_ms: t0,
        },
        &report,
    );
    b.store
        .admit(
            "h-1",
            vec![vigie_collector::store::Candidate {
                epoch: 1,
                seq: 1,
                digest: report_digest(&signed),
                received_at_ms: t0,
                created_at_ms: t0,
                signed: signed.encode_to_vec(),
            }],
        )
        .await
        .unwrap();
    let job = b.add_job("nas;<x>").await;
    b.ping(
        &job,
        PingKind::Failure,
        "échec <img src=x onerror=alert(1)>\r\n<14>1 - evil [x=\"]\"] ]\u{0}\u{1b}[2J",
    )
    .await;

    // Ten minutes: still reporting as far as AGT-001 is concerned.
    b.set(t0 + 10 * MINUTE);
    vigie_collector::derive::evaluate_host(
        b.store.as_ref(),
        &b.catalogue,
        Profile::Standard,
        "h-1",
        b.now(),
    )
    .await
    .unwrap();
    b.step().await;
    b.deliver().await;
    let first = smtp.wait_mails(1);
    assert!(first.iter().all(|m| !m.subject().contains("AGT-001")));
    // Sixteen minutes of silence: AGT-001 fails → one alert e-mail.
    b.set(t0 + 16 * MINUTE);
    vigie_collector::derive::evaluate_host(
        b.store.as_ref(),
        &b.catalogue,
        Profile::Standard,
        "h-1",
        b.now(),
    )
    .await
    .unwrap();
    b.step().await;
    b.deliver().await;
    b.step().await;
    b.deliver().await;
    let mails = smtp.wait_mails(first.len() + 1);
    let silent: Vec<&Mail> = mails
        .iter()
        .filter(|m| m.subject().contains("AGT-001"))
        .collect();
    assert_eq!(silent.len(), 1, "one alert for the silent host");
    let m = silent[0];
    assert_eq!(
        m.subject(),
        "[Vigie][ÉLEVÉE] srv<script>alert(1)</script> Bcc: victim@evil.example [x] : Hôte silencieux (AGT-001) en échec"
    );
    assert!(
        m.text().contains("aucun rapport depuis 16 min"),
        "{}",
        m.text()
    );
    for mail in &mails {
        let h = mail.headers();
        assert!(!h.contains("\r\nBcc:") && !h.contains("\nBcc:"), "{h}");
        assert_eq!(mail.json["rcpt"], serde_json::json!(["dsi@mairie.example"]));
        assert!(
            !mail.raw.contains('\u{1b}')
                && !mail.raw.contains('\u{202e}')
                && !mail.raw.contains('\0')
        );
        let html = mail.html();
        assert!(
            !html.contains("<script") && !html.contains("<img"),
            "{html}"
        );
        // CR only as part of the CRLF line ends of the transport: no lone CR from host text.
        assert!(!mail.text().replace("\r\n", "\n").contains('\r'));
    }
    let backup = mails
        .iter()
        .find(|m| m.subject().contains("BKP-002"))
        .unwrap();
    assert!(
        backup
            .html()
            .contains("échec &lt;img src=x onerror=alert(1)&gt;"),
        "{}",
        backup.html()
    );
    assert!(
        backup.text().contains("<14>1 - evil [x=\"]\"] ]"),
        "{}",
        backup.text()
    );
    assert!(
        m.html()
            .contains("srv&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{}",
        m.html()
    );

    // The agent then says its full outbox dropped reports (recorded at ingest as a security event):
    // lost evidence is an alert too, and it resolves by itself a day after the last loss.
    let before = smtp.mails().len();
    b.store
        .add_security_event(vigie_collector::store::SecurityEvent {
            host_id: "h-1".into(),
            at_ms: b.now(),
            kind: vigie_collector::alerts::engine::OUTBOX_DROPPED.into(),
            detail: "3 reports dropped from the agent's full outbox".into(),
        })
        .await
        .unwrap();
    b.step().await;
    b.deliver().await;
    let mails = smtp.wait_mails(before + 1);
    let dropped = mails.last().unwrap();
    assert!(
        dropped
            .subject()
            .ends_with(": Rapports perdus par l'agent (ALR-002) en échec"),
        "{}",
        dropped.subject()
    );
    assert!(
        dropped.text().contains("3 reports dropped"),
        "{}",
        dropped.text()
    );
    assert!(
        dropped.text().contains("outbox_max_reports"),
        "{}",
        dropped.text()
    );
    b.set(b.now() + 25 * HOUR);
    b.step().await;
    b.deliver().await;
    let mails = smtp.wait_mails(before + 2);
    assert!(
        mails[before + 1..]
            .iter()
            .any(|m| m.subject().starts_with("[Vigie] Résolue : srv")
                && m.subject().contains("ALR-002")),
        "{:?}",
        mails.iter().map(Mail::subject).collect::<Vec<_>>()
    );
}

/// `serve` end to end: findings from real HTTPS pings, a backup that fails → one e-mail, succeeds
/// again → one resolution; 50 backups failing at once → one grouped e-mail; `alerts list`, `ack` of
/// the group (audit trail), `test`, `sinks`; then the SMTP server refuses, the collector is killed
/// with SIGKILL, the server comes back, and the queued alert is delivered exactly once.
#[test]
fn serve_groups_acks_tests_and_survives_a_crash_exactly_once() {
    let root = tempfile::tempdir().unwrap();
    let pki = pki(root.path());
    let smtp = Smtp::start(
        root.path(),
        "smtp",
        "starttls",
        Some(("vigie", "pw")),
        Some(&pki),
    );
    let pw = root.path().join("smtp.password");
    std::fs::write(&pw, "pw\n").unwrap();
    std::fs::set_permissions(&pw, std::fs::Permissions::from_mode(0o600)).unwrap();
    let mut c = Collector::init(root.path());
    c.set_config("reevaluate_interval_secs", "1");
    let mut toml = std::fs::read_to_string(c.dir.join("collector.toml")).unwrap();
    toml.push_str(&format!(
        "\n[alerts]\ngroup_wait_secs = 6\nretry_initial_secs = 1\nretry_max_secs = 2\n{}",
        email_sink_toml(
            "courriel",
            smtp.port,
            "starttls",
            &format!(
                "min_severity = \"critical\"\ndigest = false\nusername = \"vigie\"\npassword_file = \"{}\"\nca_file = \"{}\"\n",
                pw.display(),
                pki.ca.display()
            )
        )
    ));
    std::fs::write(c.dir.join("collector.toml"), toml).unwrap();
    c.serve(&[]);
    c.admin_ok(&["org", "add", "mairie", "--name", "Mairie de Test"]);
    let alerts = |args: &[&str]| -> String {
        let (sub, rest) = args.split_at(1);
        ok(Command::new(bin("vigie-collector"))
            .arg("alerts")
            .args(sub)
            .arg("--data-dir")
            .arg(&c.dir)
            .args(rest))
    };
    let port = c.https.rsplit(':').next().unwrap().to_owned();
    let curl = |path: &str, fail: bool| {
        let mut cmd = Command::new("curl");
        cmd.args(["-sS", "--max-time", "10", "--cacert"])
            .arg(c.dir.join("https.crt"))
            .args(["--resolve", &format!("localhost:{port}:127.0.0.1")]);
        if fail {
            cmd.args(["--data-binary", "disque plein"]);
        }
        let url = format!(
            "https://localhost:{port}{path}{}",
            if fail { "/fail" } else { "" }
        );
        assert_eq!(ok(cmd.arg(url)), "OK\n");
    };
    let add_job = |name: &str| -> String {
        let url = c.admin_ok(&[
            "ping", "add", "--org", "mairie", "--name", name, "--period", "1d",
        ]);
        format!("/ping/{}", url.trim().split("/ping/").nth(1).unwrap())
    };

    // One backup: fails → one e-mail; succeeds again → one resolution.
    let nas = add_job("nas");
    curl(&nas, false);
    curl(&nas, true);
    let mails = smtp.wait_mails(1);
    assert!(
        mails[0]
            .subject()
            .contains("ping:nas : Sauvegarde réussie dans les délais (BKP-001) en échec"),
        "{}",
        mails[0].subject()
    );
    curl(&nas, false);
    let mails = smtp.wait_mails(2);
    assert!(
        mails[1].subject().starts_with("[Vigie] Résolue : ping:nas"),
        "{}",
        mails[1].subject()
    );

    // Fifty backups fail at once → one grouped e-mail.
    let jobs: Vec<String> = (0..50).map(|i| add_job(&format!("poste-{i:02}"))).collect();
    std::thread::scope(|s| {
        for j in &jobs {
            s.spawn(|| curl(j, true));
        }
    });
    let mails = smtp.wait_mails(3);
    assert!(
        mails[2].subject().starts_with(
            "[Vigie][CRITIQUE] 50 hôtes : Sauvegarde réussie dans les délais (BKP-001)"
        ),
        "{}",
        mails[2].subject()
    );
    assert!(
        mails[2].text().contains("Hôtes concernés (50)"),
        "{}",
        mails[2].text()
    );
    std::thread::sleep(Duration::from_secs(6));
    assert_eq!(smtp.mails().len(), 3, "one message, not fifty");

    let open = alerts(&["list", "--org", "mairie", "--state", "open", "--json"]);
    let open: Vec<Value> = serde_json::from_str(&open).unwrap();
    let critical: Vec<&Value> = open.iter().filter(|a| a["check_id"] == "BKP-001").collect();
    assert_eq!(critical.len(), 50);
    let group = critical[0]["group"].as_str().unwrap().to_owned();
    assert!(critical.iter().all(|a| a["group"] == group.as_str()));
    let table = alerts(&["list", "--org", "mairie", "--state", "open"]);
    assert!(
        table.starts_with("ID") && table.contains("poste-07"),
        "{table}"
    );

    // Acknowledge the group: one notice, every alert acked.
    let out = alerts(&[
        "ack",
        &group,
        "--comment",
        "serveur de sauvegarde en panne, technicien prévenu",
    ]);
    assert_eq!(out.lines().count(), 50, "{out}");
    let mails = smtp.wait_mails(4);
    assert!(
        mails[3]
            .subject()
            .starts_with("[Vigie] Acquittée : 50 hôtes"),
        "{}",
        mails[3].subject()
    );
    let acked: Vec<Value> =
        serde_json::from_str(&alerts(&["list", "--state", "acked", "--json"])).unwrap();
    assert_eq!(acked.len(), 50);
    assert!(acked[0]["ack"]["by"].as_str().unwrap().starts_with("uid:"));

    // `alerts test` goes through every sink of the organisation and says how it went.
    let out = alerts(&["test", "--org", "mairie"]);
    assert_eq!(out, "courriel\temail\tok\n");
    let mails = smtp.wait_mails(5);
    assert!(mails[4]
        .subject()
        .starts_with("[Vigie] Message de test — canal « courriel »"));
    let sinks = alerts(&["sinks"]);
    assert!(
        sinks
            .lines()
            .nth(1)
            .unwrap()
            .starts_with("courriel  mairie  4 "),
        "{sinks}"
    );

    // The server refuses for a while; the collector dies; the server comes back; the collector
    // restarts: the alert queued before the crash arrives exactly once.
    smtp.set_mode("tempfail");
    curl(&nas, true);
    wait_for("a failed attempt", Duration::from_secs(30), || {
        let s = alerts(&["sinks"]);
        let row = s
            .lines()
            .nth(1)
            .unwrap()
            .split_whitespace()
            .collect::<Vec<_>>();
        (row[3] != "0" && row[6] == "1").then_some(())
    });
    c.kill();
    smtp.set_mode("accept");
    c.serve(&[]);
    let mails = smtp.wait_mails(6);
    assert!(
        mails[5]
            .subject()
            .contains("ping:nas : Sauvegarde réussie dans les délais (BKP-001) en échec"),
        "{}",
        mails[5].subject()
    );
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(smtp.mails().len(), 6, "delivered once");
    let keys: std::collections::HashSet<String> =
        smtp.mails().iter().map(|m| m.key().to_owned()).collect();
    assert_eq!(keys.len(), 6);

    // The audit trail holds the 50 acknowledgements, chained.
    c.stop();
    let store = SledStore::open(&c.dir.join(vigie_collector::datadir::STORE_DIR), 8 << 20).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let trail = rt.block_on(store.audit_trail()).unwrap();
    vigie_collector::store::audit::verify_audit_chain(&trail).unwrap();
    let acks = trail
        .iter()
        .filter(|r| r.entry.action == "alert.ack")
        .count();
    assert_eq!(acks, 50);
}

/// A sink whose configuration cannot work stops `serve` with the key and the file named.
#[test]
fn a_bad_sink_is_refused_at_start_naming_key_and_file() {
    let root = tempfile::tempdir().unwrap();
    let c = Collector::init(root.path());
    let mut toml = std::fs::read_to_string(c.dir.join("collector.toml")).unwrap();
    toml.push_str(&format!(
        "\n[alerts]\n{}",
        email_sink_toml(
            "courriel",
            25,
            "starttls",
            "username = \"u\"\npassword_file = \"/nonexistent/pw\"\n"
        )
    ));
    std::fs::write(c.dir.join("collector.toml"), toml).unwrap();
    let out = Command::new(bin("vigie-collector"))
        .args(["serve", "--data-dir"])
        .arg(&c.dir)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("collector.toml") && err.contains("alerts.sink[0].password_file"),
        "{err}"
    );
}

/// The shipped example's `[alerts]` section is what the parser understands.
#[test]
fn the_example_configuration_declares_an_email_sink() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../packaging/collector.toml.example"),
        dir.path().join("collector.toml"),
    )
    .unwrap();
    let alerts = vigie_collector::config::load(dir.path()).unwrap().alerts;
    let mail = alerts
        .sinks
        .iter()
        .find(|s| s.name == "courriel-dsi")
        .unwrap();
    assert_eq!(
        (mail.org.as_str(), mail.kind.as_str(), mail.digest),
        ("mairie-exemple", "email", true)
    );
    assert_eq!(alerts.group_wait_ms, 60_000);
    assert_eq!(alerts.orgs["mairie-exemple"].digest_hour, Some(7));
}

/// The dead man's switch through `serve`: an enrolled agent reports, then stops; once the
/// collector's clock is past AGT-001's threshold (900 s under the standard profile) exactly one
/// alert e-mail arrives; the agent restarts → exactly one resolution. The collector runs under
/// libfaketime (Debian `libfaketime`, LD_PRELOAD, realtime clock only: tokio's monotonic timers
/// are untouched) whose offset the test moves through a file — no test hook in the collector.
#[test]
fn alert_once_when_a_host_goes_silent_through_serve_and_resolution_when_it_reports() {
    use crate::harness::Agent;
    const LIBFAKETIME: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";
    assert!(
        Path::new(LIBFAKETIME).exists(),
        "libfaketime is installed (scripts/test installs it)"
    );
    let root = tempfile::tempdir().unwrap();
    let smtp = Smtp::start(root.path(), "smtp", "none", None, None);
    let mut c = Collector::init(root.path());
    c.set_config("reevaluate_interval_secs", "1");
    let mut toml = std::fs::read_to_string(c.dir.join("collector.toml")).unwrap();
    toml.push_str(&format!(
        "\n[alerts]\ngroup_wait_secs = 0\nretry_initial_secs = 1\nretry_max_secs = 2\n{}",
        email_sink_toml(
            "courriel",
            smtp.port,
            "none",
            "min_severity = \"high\"\ndigest = false\n"
        )
    ));
    std::fs::write(c.dir.join("collector.toml"), toml).unwrap();
    let offset = root.path().join("faketime");
    std::fs::write(&offset, "+0\n").unwrap();
    let offset_path = offset.display().to_string();
    c.serve(&[
        ("LD_PRELOAD", LIBFAKETIME),
        ("FAKETIME_TIMESTAMP_FILE", &offset_path),
        ("FAKETIME_NO_CACHE", "1"),
        ("FAKETIME_DONT_FAKE_MONOTONIC", "1"),
        ("NO_FAKE_STAT", "1"),
    ]);
    c.admin_ok(&["org", "add", "mairie", "--name", "Mairie de Test"]);
    let mut agent = Agent::new(root.path(), "agent", 3600, 3600);
    agent.enroll(&c, &c.token("mairie", "1h"));
    agent.start();
    let host = agent.host_id();
    let agt001 = |c: &Collector| -> Option<String> {
        c.findings(Some("mairie")).into_iter().find_map(|f| {
            (f["host_id"] == host.as_str() && f["check_id"] == "AGT-001")
                .then(|| f["outcome"].as_str().unwrap_or("").to_owned())
        })
    };
    wait_for("AGT-001 passing", Duration::from_secs(60), || {
        (agt001(&c).as_deref() == Some("pass")).then_some(())
    });
    agent.stop();
    let silent_mails = || -> Vec<Mail> {
        smtp.mails()
            .into_iter()
            .filter(|m| m.subject().contains("AGT-001"))
            .collect()
    };
    assert!(silent_mails().is_empty());

    // Twenty minutes of silence on the collector's clock.
    std::fs::write(&offset, "+1200\n").unwrap();
    let mails = wait_for("the silent-host e-mail", Duration::from_secs(60), || {
        let m = silent_mails();
        (!m.is_empty()).then_some(m)
    });
    assert!(
        mails[0]
            .subject()
            .ends_with(": Hôte silencieux (AGT-001) en échec"),
        "{}",
        mails[0].subject()
    );
    assert!(
        mails[0].text().contains("aucun rapport depuis 20 min"),
        "{}",
        mails[0].text()
    );
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(
        silent_mails().len(),
        1,
        "one alert, not one per re-evaluation"
    );

    // The agent comes back: its report lands on the collector's (later) clock → one resolution.
    agent.start();
    let mails = wait_for("the resolution e-mail", Duration::from_secs(60), || {
        let m = silent_mails();
        (m.len() >= 2).then_some(m)
    });
    assert!(
        mails[1].subject().starts_with("[Vigie] Résolue : "),
        "{}",
        mails[1].subject()
    );
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(silent_mails().len(), 2, "one alert and one resolution");
    agent.stop();
    c.stop();
}
