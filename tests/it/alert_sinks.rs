//! The webhook and syslog alert sinks against real receivers: an HTTPS server in the test (hyper on
//! 127.0.0.1, certificate from a CA the test makes) and a real rsyslog (imudp, imtcp, gtls) writing
//! what it parsed to a file. Host-supplied text carries HTML, CR/LF, mentions and syslog
//! metacharacters; every receiver must get it inert and intact.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use vigie_collector::alerts::sink::{Notification, NotificationKind, Sink, SinkError};
use vigie_collector::alerts::sinks::{
    AddressPolicy, EgressConfig, SyslogConfig, SyslogSink, WebhookConfig, WebhookSink,
};
use vigie_policies::Severity;

use crate::harness::wait_for;

// ---------------------------------------------------------------- shared

/// A host name as a hostile agent would report it.
const HOSTILE_HOST: &str = "srv-<b>01</b>\r\nX-Injected: 1\"] \\ [vigie@1 a=\"b\"]";
const HOSTILE_ORG: &str = "mairie \"de\" ]Test[ \\";

fn hostile(key: &str, kind: NotificationKind) -> Notification {
    Notification {
        key: key.to_owned(),
        org: HOSTILE_ORG.to_owned(),
        kind,
        severity: Severity::Critical,
        subject: format!("Sauvegarde en échec sur {HOSTILE_HOST}"),
        text: format!(
            "Hôte : {HOSTILE_HOST}\n@channel <!here> [clic](http://evil.example) `x`\n\x1b[31mfin"
        ),
        html: None,
        event: json!({
            "key": key,
            "kind": "opened",
            "org": HOSTILE_ORG,
            "check": {"id": "backup.daily"},
            // Last, because rsyslog's mmpstrucdata keeps the last of repeated parameters.
            "hosts": ["poste-2", HOSTILE_HOST],
        }),
        occurred_at: SystemTime::UNIX_EPOCH + Duration::from_micros(1_790_000_000_250_000),
    }
}

fn allow_loopback() -> AddressPolicy {
    AddressPolicy::from_config(&EgressConfig {
        allow_private_cidrs: vec!["127.0.0.1/32".into(), "::1/128".into()],
    })
    .unwrap()
}

fn ring() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A CA made for the test, a server certificate for 127.0.0.1 and localhost, and a client
/// certificate, all as PEM files in `dir`.
struct Pki {
    ca: PathBuf,
    server_cert: PathBuf,
    server_key: PathBuf,
    client_cert: PathBuf,
    client_key: PathBuf,
}

fn pki(dir: &Path) -> Pki {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Vigie test CA");
    ca_params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
    ];
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
    let leaf = |names: Vec<String>, usage: rcgen::ExtendedKeyUsagePurpose, stem: &str| {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(names).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, stem);
        params.extended_key_usages = vec![usage];
        params.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
        let cert = params.signed_by(&key, &ca).unwrap();
        let (c, k) = (
            dir.join(format!("{stem}.pem")),
            dir.join(format!("{stem}.key")),
        );
        std::fs::write(&c, cert.pem()).unwrap();
        std::fs::write(&k, key.serialize_pem()).unwrap();
        (c, k)
    };
    let (server_cert, server_key) = leaf(
        vec!["127.0.0.1".into(), "localhost".into()],
        rcgen::ExtendedKeyUsagePurpose::ServerAuth,
        "server",
    );
    let (client_cert, client_key) = leaf(
        vec!["vigie-collector.test".into()],
        rcgen::ExtendedKeyUsagePurpose::ClientAuth,
        "client",
    );
    let ca_path = dir.join("ca.pem");
    std::fs::write(&ca_path, ca.pem()).unwrap();
    Pki {
        ca: ca_path,
        server_cert,
        server_key,
        client_cert,
        client_key,
    }
}

fn kind_of(r: &Result<(), SinkError>) -> &'static str {
    match r {
        Ok(()) => "ok",
        Err(SinkError::Transient(_)) => "transient",
        Err(SinkError::Permanent(_)) => "permanent",
    }
}

// ---------------------------------------------------------------- webhook

#[derive(Debug)]
struct Received {
    path: String,
    headers: hyper::HeaderMap,
    body: Vec<u8>,
}

#[derive(Clone, Copy)]
enum Behaviour {
    Status(u16),
    Redirect,
    Hang,
}

/// An HTTPS receiver on 127.0.0.1 that records every request and answers as told.
struct Receiver {
    addr: SocketAddr,
    requests: mpsc::UnboundedReceiver<Received>,
    connections: Arc<AtomicUsize>,
}

async fn handle(
    req: Request<Incoming>,
    tx: mpsc::UnboundedSender<Received>,
    behaviour: Behaviour,
    addr: SocketAddr,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = req.into_parts();
    let body = body.collect().await.unwrap().to_bytes().to_vec();
    let _ = tx.send(Received {
        path: parts.uri.to_string(),
        headers: parts.headers,
        body,
    });
    let reply = |status: u16| Response::builder().status(status);
    Ok(match behaviour {
        Behaviour::Status(s) => reply(s).body(Full::from(format!("status {s}\n"))).unwrap(),
        Behaviour::Redirect => reply(302)
            .header("location", format!("https://{addr}/elsewhere"))
            .body(Full::from("moved"))
            .unwrap(),
        Behaviour::Hang => std::future::pending().await,
    })
}

async fn https_receiver(pki: &Pki, behaviour: Behaviour) -> Receiver {
    let chain = CertificateDer::pem_file_iter(&pki.server_cert)
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(&pki.server_key).unwrap();
    let mut config = rustls::ServerConfig::builder_with_provider(ring())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    let connections = Arc::new(AtomicUsize::new(0));
    let counted = connections.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            counted.fetch_add(1, Ordering::SeqCst);
            let (acceptor, tx) = (acceptor.clone(), tx.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service =
                    hyper::service::service_fn(move |req| handle(req, tx.clone(), behaviour, addr));
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    Receiver {
        addr,
        requests: rx,
        connections,
    }
}

fn webhook(url: &str, format: &str, ca: Option<&Path>, timeouts: (u32, u32)) -> WebhookConfig {
    let mut cfg = json!({
        "url": url,
        "format": format,
        "connect_timeout_secs": timeouts.0,
        "timeout_secs": timeouts.1,
    });
    if let Some(ca) = ca {
        cfg["ca_file"] = json!(ca);
    }
    serde_json::from_value(cfg).unwrap()
}

async fn next_request(receiver: &mut Receiver) -> Received {
    tokio::time::timeout(Duration::from_secs(5), receiver.requests.recv())
        .await
        .expect("no request received")
        .unwrap()
}

#[tokio::test]
async fn webhook_delivers_every_format_over_https_with_hostile_text_inert() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path());
    let mut receiver = https_receiver(&pki, Behaviour::Status(200)).await;
    let n = hostile("alert-42/opened-1", NotificationKind::Opened);
    let port = receiver.addr.port();

    for format in ["vigie", "slack", "mattermost", "teams"] {
        let url = format!("https://127.0.0.1:{port}/hook/{format}?token=s3cret");
        let cfg = webhook(&url, format, Some(&pki.ca), (5, 10));
        let sink = WebhookSink::from_config(format, &cfg, &allow_loopback()).unwrap();
        sink.deliver(&n).await.unwrap();
        let got = next_request(&mut receiver).await;
        assert_eq!(got.path, format!("/hook/{format}?token=s3cret"));
        let header = |name: &str| got.headers.get(name).unwrap().to_str().unwrap().to_owned();
        assert_eq!(header("content-type"), "application/json");
        assert_eq!(header("idempotency-key"), "alert-42/opened-1");
        assert_eq!(header("host"), format!("127.0.0.1:{port}"));
        assert!(header("user-agent").starts_with("vigie-collector/"));
        let body: Value = serde_json::from_slice(&got.body).unwrap();
        match format {
            "vigie" => assert_eq!(body, n.event),
            "slack" => {
                let text = body["text"].as_str().unwrap();
                assert!(
                    text.contains("srv-&lt;b&gt;01&lt;/b&gt; X-Injected: 1"),
                    "{text}"
                );
                assert!(text.contains("&lt;!here&gt;"), "{text}");
                assert!(!text.contains('<') && !text.contains('\r') && !text.contains('\x1b'));
            }
            "mattermost" => {
                let text = body["text"].as_str().unwrap();
                assert!(!text.contains("@channel"), "{text}");
                assert!(text.contains(r"\[clic\]\(http://evil.example\)"), "{text}");
                assert!(!text.contains('\r') && !text.contains('\x1b'));
            }
            "teams" => {
                let card = &body["attachments"][0]["content"];
                assert_eq!(
                    body["attachments"][0]["contentType"],
                    "application/vnd.microsoft.card.adaptive"
                );
                assert_eq!(card["type"], "AdaptiveCard");
                let blocks = card["body"].as_array().unwrap();
                assert!(blocks.iter().all(|b| b["type"] == "RichTextBlock"));
                assert_eq!(
                    blocks[0]["inlines"][0]["text"],
                    "Sauvegarde en échec sur srv-<b>01</b> X-Injected: 1\"] \\ [vigie@1 a=\"b\"]"
                );
            }
            _ => unreachable!(),
        }
    }

    // A name that resolves to ::1 and 127.0.0.1: every address is checked, each is tried in turn
    // (the receiver listens on 127.0.0.1 only).
    let url = format!("https://localhost:{port}/hook/by-name");
    let sink = WebhookSink::from_config(
        "by-name",
        &webhook(&url, "vigie", Some(&pki.ca), (5, 10)),
        &allow_loopback(),
    )
    .unwrap();
    sink.deliver(&n).await.unwrap();
    assert_eq!(next_request(&mut receiver).await.path, "/hook/by-name");

    // Without the test CA the certificate is not trusted: a failure that may heal, so transient.
    let untrusted = WebhookSink::from_config(
        "untrusted",
        &webhook(&url, "vigie", None, (5, 10)),
        &allow_loopback(),
    )
    .unwrap();
    let r = untrusted.deliver(&n).await;
    assert_eq!(kind_of(&r), "transient", "{r:?}");
}

#[tokio::test]
async fn webhook_statuses_are_transient_or_permanent_and_redirects_are_not_followed() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path());
    let n = hostile("alert-1/opened-1", NotificationKind::Opened);
    for (behaviour, expect) in [
        (Behaviour::Status(500), "transient"),
        (Behaviour::Status(503), "transient"),
        (Behaviour::Status(429), "transient"),
        (Behaviour::Status(408), "transient"),
        (Behaviour::Status(404), "permanent"),
        (Behaviour::Status(401), "permanent"),
        (Behaviour::Status(204), "ok"),
        (Behaviour::Redirect, "permanent"),
    ] {
        let mut receiver = https_receiver(&pki, behaviour).await;
        let url = format!("https://127.0.0.1:{}/hook", receiver.addr.port());
        let sink = WebhookSink::from_config(
            "w",
            &webhook(&url, "vigie", Some(&pki.ca), (5, 10)),
            &allow_loopback(),
        )
        .unwrap();
        let r = sink.deliver(&n).await;
        assert_eq!(kind_of(&r), expect, "{r:?}");
        assert_eq!(next_request(&mut receiver).await.path, "/hook");
        // One attempt, one request: no retry inside the sink, no redirect followed.
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(receiver.requests.try_recv().is_err());
        assert_eq!(receiver.connections.load(Ordering::SeqCst), 1);
        if let Err(SinkError::Transient(m) | SinkError::Permanent(m)) = &r {
            assert!(m.contains("127.0.0.1") && !m.contains("/hook"), "{m}");
        }
    }
}

#[tokio::test]
async fn webhook_hanging_server_is_transient_within_the_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path());
    let mut receiver = https_receiver(&pki, Behaviour::Hang).await;
    let url = format!("https://127.0.0.1:{}/hook", receiver.addr.port());
    let sink = WebhookSink::from_config(
        "w",
        &webhook(&url, "vigie", Some(&pki.ca), (1, 2)),
        &allow_loopback(),
    )
    .unwrap();
    let start = Instant::now();
    let r = sink.deliver(&hostile("k", NotificationKind::Opened)).await;
    let took = start.elapsed();
    assert_eq!(kind_of(&r), "transient", "{r:?}");
    assert!(
        took >= Duration::from_millis(1900) && took < Duration::from_secs(6),
        "{took:?}"
    );
    next_request(&mut receiver).await;

    // A server that accepts TCP and never speaks TLS: bounded by the connect deadline.
    let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "https://127.0.0.1:{}/hook",
        silent.local_addr().unwrap().port()
    );
    let sink = WebhookSink::from_config(
        "w",
        &webhook(&url, "vigie", Some(&pki.ca), (1, 5)),
        &allow_loopback(),
    )
    .unwrap();
    let start = Instant::now();
    let r = sink.deliver(&hostile("k", NotificationKind::Opened)).await;
    assert_eq!(kind_of(&r), "transient", "{r:?}");
    assert!(
        start.elapsed() < Duration::from_secs(4),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn webhook_to_loopback_without_the_allowlist_is_permanent_and_never_connects() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let n = hostile("k", NotificationKind::Test);
    for url in [
        format!("https://127.0.0.1:{port}/hook"),
        format!("https://localhost:{port}/hook"),
        format!("https://[::ffff:127.0.0.1]:{port}/hook"),
    ] {
        let sink = WebhookSink::from_config(
            "w",
            &webhook(&url, "vigie", None, (5, 10)),
            &AddressPolicy::public_only(),
        )
        .unwrap();
        match sink.deliver(&n).await {
            Err(SinkError::Permanent(m)) => assert!(m.contains("allow_private_cidrs"), "{m}"),
            other => panic!("{url}: {other:?}"),
        }
    }
    // Allowing another loopback address does not open this one.
    let narrow = AddressPolicy::from_config(&EgressConfig {
        allow_private_cidrs: vec!["127.0.0.2/32".into()],
    })
    .unwrap();
    let sink = WebhookSink::from_config(
        "w",
        &webhook(
            &format!("https://127.0.0.1:{port}/"),
            "vigie",
            None,
            (5, 10),
        ),
        &narrow,
    )
    .unwrap();
    assert_eq!(kind_of(&sink.deliver(&n).await), "permanent");
    let accepted = tokio::time::timeout(Duration::from_millis(300), listener.accept()).await;
    assert!(accepted.is_err(), "a connection was made: {accepted:?}");
}

// ---------------------------------------------------------------- syslog

/// A real rsyslogd in the foreground, with its own configuration, port and output file.
struct Rsyslog {
    child: Child,
    dir: PathBuf,
    tcp_port: u16,
    udp_port: Option<u16>,
}

enum Listen {
    /// imtcp (plain) and imudp.
    Plain,
    /// imtcp with the gtls driver; `x509/certvalid` demands a client certificate from the CA.
    Tls { auth_mode: &'static str },
}

fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn udp_bound(port: u16) -> bool {
    let table = std::fs::read_to_string("/proc/net/udp").unwrap_or_default();
    let needle = format!("0100007F:{port:04X}");
    table
        .lines()
        .any(|l| l.split_whitespace().nth(1) == Some(needle.as_str()))
}

impl Rsyslog {
    fn start(dir: &Path, listen: Listen, pki: &Pki) -> Rsyslog {
        let work = dir.join("work");
        std::fs::create_dir_all(&work).unwrap();
        let d = dir.display();
        let (global_tls, imtcp, udp_port) = match listen {
            Listen::Plain => {
                let port = free_udp_port();
                (
                    String::new(),
                    format!(
                        "module(load=\"imtcp\")\nmodule(load=\"imudp\")\n\
                         input(type=\"imudp\" address=\"127.0.0.1\" port=\"{port}\")\n"
                    ),
                    Some(port),
                )
            }
            Listen::Tls { auth_mode } => (
                format!(
                    " defaultNetstreamDriver=\"gtls\" defaultNetstreamDriverCAFile=\"{}\" \
                     defaultNetstreamDriverCertFile=\"{}\" defaultNetstreamDriverKeyFile=\"{}\"",
                    pki.ca.display(),
                    pki.server_cert.display(),
                    pki.server_key.display()
                ),
                format!(
                    "module(load=\"imtcp\" streamDriver.name=\"gtls\" streamDriver.mode=\"1\" \
                     streamDriver.authMode=\"{auth_mode}\")\n"
                ),
                None,
            ),
        };
        let conf = format!(
            "global(workDirectory=\"{d}/work\" maxMessageSize=\"64k\"{global_tls})\n\
             module(load=\"mmpstrucdata\")\n\
             {imtcp}\
             input(type=\"imtcp\" address=\"127.0.0.1\" port=\"0\" listenPortFileName=\"{d}/tcp.port\")\n\
             template(name=\"vigie_json\" type=\"string\" string=\"%jsonmesg%\\n\")\n\
             if $app-name == \"vigie\" then {{\n\
               action(type=\"mmpstrucdata\")\n\
               action(type=\"omfile\" file=\"{d}/out.jsonl\" template=\"vigie_json\")\n\
               stop\n\
             }}\n\
             action(type=\"omfile\" file=\"{d}/other.log\")\n"
        );
        let conf_path = dir.join("rsyslog.conf");
        std::fs::write(&conf_path, conf).unwrap();
        // Debian installs it in /usr/sbin, which a non-login PATH may lack.
        let rsyslogd = ["/usr/sbin/rsyslogd", "/sbin/rsyslogd"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .unwrap_or("rsyslogd");
        let child = Command::new(rsyslogd)
            .arg("-n")
            .arg("-f")
            .arg(&conf_path)
            .arg("-i")
            .arg(dir.join("rsyslogd.pid"))
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(dir.join("stdout.log")).unwrap())
            .stderr(std::fs::File::create(dir.join("stderr.log")).unwrap())
            .spawn()
            .expect("rsyslogd (Debian packages rsyslog, rsyslog-gnutls)");
        let mut server = Rsyslog {
            child,
            dir: dir.to_owned(),
            tcp_port: 0,
            udp_port,
        };
        server.tcp_port = wait_for("rsyslog's TCP port", Duration::from_secs(20), || {
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("rsyslogd exited with {status}: {}", server.logs());
            }
            std::fs::read_to_string(dir.join("tcp.port"))
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .filter(|p: &u16| *p != 0)
        });
        if let Some(port) = udp_port {
            wait_for("rsyslog's UDP port", Duration::from_secs(20), || {
                udp_bound(port).then_some(())
            });
        }
        server
    }

    fn logs(&self) -> String {
        ["stderr.log", "stdout.log", "other.log"]
            .iter()
            .map(|f| std::fs::read_to_string(self.dir.join(f)).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn messages(&self) -> Vec<Value> {
        std::fs::read_to_string(self.dir.join("out.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }

    /// The message whose key parameter is `key`, once rsyslog has written it.
    fn wait_message(&self, key: &str) -> Value {
        wait_for(
            &format!("message {key} in rsyslog's output"),
            Duration::from_secs(15),
            || {
                self.messages()
                    .into_iter()
                    .find(|m| m["structured-data"].as_str().unwrap_or("").contains(key))
            },
        )
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Rsyslog {
    fn drop(&mut self) {
        self.stop();
    }
}

fn syslog(transport: &str, port: u16, extra: Value) -> SyslogConfig {
    let mut cfg = json!({
        "transport": transport,
        "host": "127.0.0.1",
        "port": port,
        "hostname": "collecteur-test",
        "connect_timeout_secs": 2,
        "timeout_secs": 5,
    });
    if let (Some(cfg), Some(extra)) = (cfg.as_object_mut(), extra.as_object()) {
        cfg.extend(extra.clone());
    }
    serde_json::from_value(cfg).unwrap()
}

/// What rsyslog parsed must be what the notification said, once cleaned of control characters.
#[track_caller]
fn check_received(m: &Value, key: &str) {
    assert_eq!(m["app-name"], "vigie", "{m}");
    assert_eq!(m["hostname"], "collecteur-test");
    assert_eq!(m["msgid"], "opened");
    assert_eq!(m["procid"], "-");
    // local0 (16) * 8 + critical (2).
    assert_eq!(m["pri"], "130", "{m}");
    assert_eq!(m["protocol-version"], "1");
    let reported = m["timereported"].as_str().unwrap();
    assert!(reported.starts_with("2026-09-21T14:13:20.25"), "{reported}");
    // mmpstrucdata parsed the structured data back: every escaped value came through intact.
    let sd = &m["$!"]["rfc5424-sd"]["vigie@32473"];
    assert_eq!(sd["org"], HOSTILE_ORG, "{m}");
    assert_eq!(sd["key"], key);
    assert_eq!(sd["check"], "backup.daily");
    assert_eq!(sd["severity"], "critical");
    assert_eq!(sd["kind"], "opened");
    assert_eq!(sd["host_count"], "2");
    assert_eq!(
        sd["host"], "srv-<b>01</b> X-Injected: 1\"] \\ [vigie@1 a=\"b\"]",
        "{m}"
    );
    let raw_sd = m["structured-data"].as_str().unwrap();
    assert!(
        raw_sd.contains(r#"host="srv-<b>01</b> X-Injected: 1\"\] \\ [vigie@1 a=\"b\"\]""#),
        "{raw_sd}"
    );
    assert!(raw_sd.contains(r#"host="poste-2""#), "{raw_sd}");
    let msg = m["msg"].as_str().unwrap();
    assert!(
        msg.contains("Sauvegarde en échec sur srv-<b>01</b> X-Injected: 1"),
        "{msg}"
    );
    assert!(!msg.contains(['\r', '\n', '\x1b']), "{msg}");
}

#[tokio::test]
async fn syslog_udp_and_tcp_reach_rsyslog_with_structured_data_intact() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path());
    let server = Rsyslog::start(dir.path(), Listen::Plain, &pki);
    let udp_port = server.udp_port.unwrap();

    let tcp = SyslogSink::from_config(
        "tcp",
        &syslog("tcp", server.tcp_port, json!({})),
        &allow_loopback(),
    )
    .unwrap();
    tcp.deliver(&hostile("alert-7/opened-tcp", NotificationKind::Opened))
        .await
        .unwrap();
    check_received(
        &server.wait_message("alert-7/opened-tcp"),
        "alert-7/opened-tcp",
    );

    let udp = SyslogSink::from_config(
        "udp",
        &syslog("udp", udp_port, json!({})),
        &allow_loopback(),
    )
    .unwrap();
    udp.deliver(&hostile("alert-7/opened-udp", NotificationKind::Opened))
        .await
        .unwrap();
    check_received(
        &server.wait_message("alert-7/opened-udp"),
        "alert-7/opened-udp",
    );

    // Fifty hosts and a long text: cut to the configured maximum, still parsed.
    let mut big = hostile("alert-8/opened-big", NotificationKind::Opened);
    big.event["hosts"] = json!((0..50)
        .map(|i| format!("poste-{i:02}.mairie.example"))
        .collect::<Vec<_>>());
    big.text = "é".repeat(4000);
    let small = SyslogSink::from_config(
        "tcp-small",
        &syslog("tcp", server.tcp_port, json!({"max_message_bytes": 2048})),
        &allow_loopback(),
    )
    .unwrap();
    assert!(small.format(&big).len() <= 2048);
    small.deliver(&big).await.unwrap();
    let m = server.wait_message("alert-8/opened-big");
    assert!(m["rawmsg"].as_str().unwrap().len() <= 2048);
    assert_eq!(m["$!"]["rfc5424-sd"]["vigie@32473"]["host_count"], "50");
}

#[tokio::test]
async fn syslog_tls_reaches_rsyslog_gtls_and_checks_certificates() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path());
    let server = Rsyslog::start(
        &dir.path().join("anon"),
        Listen::Tls { auth_mode: "anon" },
        &pki,
    );
    let ca = json!({"ca_file": pki.ca});

    let tls = SyslogSink::from_config(
        "tls",
        &syslog("tls", server.tcp_port, ca.clone()),
        &allow_loopback(),
    )
    .unwrap();
    tls.deliver(&hostile("alert-9/opened-tls", NotificationKind::Opened))
        .await
        .unwrap();
    check_received(
        &server.wait_message("alert-9/opened-tls"),
        "alert-9/opened-tls",
    );

    // The server certificate must chain to a trusted CA and carry the expected name.
    let untrusted = SyslogSink::from_config(
        "untrusted",
        &syslog("tls", server.tcp_port, json!({})),
        &allow_loopback(),
    )
    .unwrap();
    let r = untrusted
        .deliver(&hostile("alert-9/untrusted", NotificationKind::Opened))
        .await;
    assert_eq!(kind_of(&r), "transient", "{r:?}");
    let wrong_name = SyslogSink::from_config(
        "wrong-name",
        &syslog(
            "tls",
            server.tcp_port,
            json!({"ca_file": pki.ca, "server_name": "siem.example"}),
        ),
        &allow_loopback(),
    )
    .unwrap();
    let r = wrong_name
        .deliver(&hostile("alert-9/wrong-name", NotificationKind::Opened))
        .await;
    assert_eq!(kind_of(&r), "transient", "{r:?}");
    assert!(server.messages().iter().all(|m| !m["structured-data"]
        .as_str()
        .unwrap_or("")
        .contains("alert-9/untrusted")
        && !m["structured-data"]
            .as_str()
            .unwrap_or("")
            .contains("alert-9/wrong-name")));
}

#[tokio::test]
async fn syslog_mutual_tls_sends_the_client_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path());
    let server = Rsyslog::start(
        &dir.path().join("mtls"),
        Listen::Tls {
            auth_mode: "x509/certvalid",
        },
        &pki,
    );
    let with_cert = SyslogSink::from_config(
        "mtls",
        &syslog(
            "tls",
            server.tcp_port,
            json!({
                "ca_file": pki.ca,
                "client_cert_file": pki.client_cert,
                "client_key_file": pki.client_key,
            }),
        ),
        &allow_loopback(),
    )
    .unwrap();
    with_cert
        .deliver(&hostile("alert-10/opened-mtls", NotificationKind::Opened))
        .await
        .unwrap();
    check_received(
        &server.wait_message("alert-10/opened-mtls"),
        "alert-10/opened-mtls",
    );

    // Without a client certificate the server refuses after the handshake (TLS 1.3): the sink
    // must notice from the server's answer, not report a delivery.
    let without = SyslogSink::from_config(
        "no-cert",
        &syslog("tls", server.tcp_port, json!({"ca_file": pki.ca})),
        &allow_loopback(),
    )
    .unwrap();
    let r = without
        .deliver(&hostile("alert-10/no-cert", NotificationKind::Opened))
        .await;
    assert_eq!(kind_of(&r), "transient", "{r:?}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(server.messages().iter().all(|m| !m["structured-data"]
        .as_str()
        .unwrap_or("")
        .contains("alert-10/no-cert")));
}

#[tokio::test]
async fn syslog_server_gone_is_transient() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path());
    let mut server = Rsyslog::start(dir.path(), Listen::Plain, &pki);
    let (tcp_port, udp_port) = (server.tcp_port, server.udp_port.unwrap());
    let tcp = SyslogSink::from_config(
        "tcp",
        &syslog("tcp", tcp_port, json!({})),
        &allow_loopback(),
    )
    .unwrap();
    let udp = SyslogSink::from_config(
        "udp",
        &syslog("udp", udp_port, json!({})),
        &allow_loopback(),
    )
    .unwrap();
    let tls = SyslogSink::from_config(
        "tls",
        &syslog("tls", tcp_port, json!({"ca_file": pki.ca})),
        &allow_loopback(),
    )
    .unwrap();
    tcp.deliver(&hostile("alert-11/before", NotificationKind::Opened))
        .await
        .unwrap();
    server.wait_message("alert-11/before");

    server.stop();
    let n = hostile("alert-11/after", NotificationKind::Opened);
    for (sink, name) in [(&tcp, "tcp"), (&tls, "tls"), (&udp, "udp")] {
        let start = Instant::now();
        let r = sink.deliver(&n).await;
        // UDP: only because loopback answers "port unreachable"; across a network a lost
        // datagram goes unnoticed (documented).
        assert_eq!(kind_of(&r), "transient", "{name}: {r:?}");
        assert!(
            start.elapsed() < Duration::from_secs(4),
            "{name}: {:?}",
            start.elapsed()
        );
    }
}

#[tokio::test]
async fn syslog_to_loopback_without_the_allowlist_is_permanent() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    for transport in ["tcp", "udp", "tls"] {
        let sink = SyslogSink::from_config(
            transport,
            &syslog(transport, port, json!({})),
            &AddressPolicy::public_only(),
        )
        .unwrap();
        let r = sink.deliver(&hostile("k", NotificationKind::Test)).await;
        assert_eq!(kind_of(&r), "permanent", "{transport}: {r:?}");
    }
    let accepted = tokio::time::timeout(Duration::from_millis(300), listener.accept()).await;
    assert!(accepted.is_err(), "a connection was made: {accepted:?}");
}

// ---------------------------------------------------------------- every sink, through `serve`

/// A backup message as a hostile backup script would send it with its `/fail` ping.
const HOSTILE_MESSAGE: &[u8] =
    b"echec <script>alert(1)</script>\r\nBcc: x@evil.example\r\n<14>1 - evil [x=\"]\"] \\ ]\0\x1b[2J fin";

/// The same alert through a running collector to a real SMTP server (aiosmtpd), a real HTTPS
/// webhook receiver (loopback allowed by `[alerts.egress]`) and a real rsyslog: the hostile backup
/// message arrives inert everywhere — no injected header or recipient, HTML escaped, JSON that
/// parses back to the text, RFC 5424 structured data that rsyslog's mmpstrucdata parses back, no
/// control characters.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alert_with_a_hostile_host_name_and_backup_message_is_inert_on_every_sink_through_serve() {
    use crate::alerts::{email_sink_toml, Smtp};
    use crate::harness::{ok, Agent, Collector};

    let root = tempfile::tempdir().unwrap();
    let pki = pki(root.path());
    let smtp = Smtp::start(root.path(), "smtp", "none", None, None);
    let syslog_dir = root.path().join("syslog");
    std::fs::create_dir_all(&syslog_dir).unwrap();
    let rsyslog = Rsyslog::start(&syslog_dir, Listen::Plain, &pki);
    let mut receiver = https_receiver(&pki, Behaviour::Status(200)).await;

    let mut c = Collector::init(root.path());
    c.set_config("reevaluate_interval_secs", "1");
    let mut toml = std::fs::read_to_string(c.dir.join("collector.toml")).unwrap();
    toml.push_str(&format!(
        "\n[alerts]\ngroup_wait_secs = 0\nretry_initial_secs = 1\nretry_max_secs = 2\n\
         [alerts.egress]\nallow_private_cidrs = [\"127.0.0.1/32\"]\n{}\
         [[alerts.sink]]\nname = \"crochet\"\norg = \"mairie\"\nkind = \"webhook\"\n\
         url = \"https://localhost:{}/hook\"\nca_file = \"{}\"\n\
         [[alerts.sink]]\nname = \"siem\"\norg = \"mairie\"\nkind = \"syslog\"\ntransport = \"tcp\"\n\
         host = \"127.0.0.1\"\nport = {}\nhostname = \"collecteur-test\"\n",
        email_sink_toml("courriel", smtp.port, "none", "digest = false\n"),
        receiver.addr.port(),
        pki.ca.display(),
        rsyslog.tcp_port,
    ));
    std::fs::write(c.dir.join("collector.toml"), toml).unwrap();
    c.serve(&[]);
    c.admin_ok(&["org", "add", "mairie", "--name", "Mairie de Test"]);
    let url = c.admin_ok(&[
        "ping", "add", "--org", "mairie", "--name", "nas", "--period", "1d",
    ]);
    let path = format!("/ping/{}", url.trim().split("/ping/").nth(1).unwrap());
    let port = c.https.rsplit(':').next().unwrap().to_owned();
    let body = root.path().join("message.bin");
    std::fs::write(&body, HOSTILE_MESSAGE).unwrap();
    let out = ok(Command::new("curl")
        .args(["-sS", "--max-time", "10", "--cacert"])
        .arg(c.dir.join("https.crt"))
        .args(["--resolve", &format!("localhost:{port}:127.0.0.1")])
        .arg("--data-binary")
        .arg(format!("@{}", body.display()))
        .arg(format!("https://localhost:{port}{path}/fail")));
    assert_eq!(out, "OK\n");

    // E-mail: the BKP-002 alert carries the message, escaped in HTML, one line in the headers.
    let mail = wait_for("the BKP-002 e-mail", Duration::from_secs(60), || {
        smtp.mails()
            .into_iter()
            .find(|m| m.subject().contains("BKP-002"))
    });
    let h = mail.headers();
    assert!(!h.contains("\nBcc:") && !h.contains("x@evil"), "{h}");
    assert_eq!(mail.json["rcpt"], json!(["dsi@mairie.example"]));
    assert!(!mail.raw.contains(['\0', '\u{1b}']), "{}", mail.raw);
    assert!(
        mail.html()
            .contains("echec &lt;script&gt;alert(1)&lt;/script&gt;"),
        "{}",
        mail.html()
    );
    assert!(!mail.html().contains("<script"), "{}", mail.html());
    let text = mail.text().replace("\r\n", "\n");
    assert!(!text.contains(['\r', '\0', '\u{1b}']), "{text}");
    assert!(text.contains("<14>1 - evil [x=\"]\"] \\ ]"), "{text}");
    for m in smtp.mails() {
        assert_eq!(m.json["rcpt"], json!(["dsi@mairie.example"]), "{}", m.raw);
    }

    // Webhook: JSON that parses, the text inside as data, no raw control character.
    let hook = loop {
        let r = tokio::time::timeout(Duration::from_secs(60), receiver.requests.recv())
            .await
            .expect("no BKP-002 webhook")
            .unwrap();
        if String::from_utf8_lossy(&r.body).contains("BKP-002") {
            break r;
        }
    };
    assert_eq!(hook.path, "/hook");
    assert!(hook.headers.contains_key("idempotency-key"));
    assert!(
        !hook.body.iter().any(|b| *b < 0x20),
        "raw control byte in JSON"
    );
    let event: Value = serde_json::from_slice(&hook.body).unwrap();
    let flat = event.to_string();
    assert!(flat.contains("<script>alert(1)</script>"), "{flat}");
    assert!(
        !flat.contains("\\u0000") && !flat.contains("\\u001b"),
        "{flat}"
    );
    assert_eq!(event["org"], "mairie", "{flat}");

    // Syslog: rsyslog parsed the structured data back; the message has no control character.
    let m = wait_for(
        "the BKP-002 syslog message",
        Duration::from_secs(60),
        || {
            rsyslog.messages().into_iter().find(|m| {
                m["structured-data"]
                    .as_str()
                    .unwrap_or("")
                    .contains("BKP-002")
            })
        },
    );
    assert_eq!(m["app-name"], "vigie", "{m}");
    let sd = &m["$!"]["rfc5424-sd"]["vigie@32473"];
    assert_eq!(sd["check"], "BKP-002", "{m}");
    assert_eq!(sd["org"], "mairie", "{m}");
    let raw = m["rawmsg"].as_str().unwrap();
    assert!(!raw.contains(['\r', '\n', '\0', '\u{1b}']), "{raw}");

    // A real agent enrolled under a hostile self-declared name: its alerts reach every sink inert.
    let mut agent = Agent::new(root.path(), "agent", 3600, 3600);
    let token = c.token("mairie", "1h");
    vigie_agent::enroll::enroll(
        &agent.state,
        &c.enroll_url(),
        &token,
        &c.fingerprint(),
        HOSTILE_HOSTNAME,
    )
    .await
    .unwrap();
    agent.start();
    let mail = wait_for(
        "an e-mail about the agent",
        Duration::from_secs(120),
        || {
            smtp.mails()
                .into_iter()
                .find(|m| m.subject().contains("srv<script>"))
        },
    );
    let h = mail.headers();
    // The name may sit in the Subject (folded continuation lines start with a space), never as a
    // header of its own.
    assert!(
        h.split("\r\n")
            .all(|l| !l.to_ascii_lowercase().starts_with("bcc")),
        "{h}"
    );
    assert_eq!(h.matches("\r\nSubject:").count(), 1, "{h}");
    assert_eq!(mail.json["rcpt"], json!(["dsi@mairie.example"]));
    assert!(!mail.subject().contains(['\r', '\n', '\0', '\u{1b}']));
    assert!(!mail.raw.contains(['\0', '\u{1b}']), "{}", mail.raw);
    assert!(
        mail.html()
            .contains("srv&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{}",
        mail.html()
    );
    assert!(!mail.html().contains("<script"), "{}", mail.html());
    let hook = loop {
        let r = tokio::time::timeout(Duration::from_secs(60), receiver.requests.recv())
            .await
            .expect("no webhook about the agent")
            .unwrap();
        if String::from_utf8_lossy(&r.body).contains("srv<script>") {
            break r;
        }
    };
    assert!(
        !hook.body.iter().any(|b| *b < 0x20),
        "raw control byte in JSON"
    );
    let event: Value = serde_json::from_slice(&hook.body).unwrap();
    let flat = event.to_string();
    assert!(
        !flat.contains("\\u0000") && !flat.contains("\\u001b"),
        "{flat}"
    );
    assert!(!flat.contains("\\r\\nBcc"), "{flat}");
    let m = wait_for(
        "a syslog message about the agent",
        Duration::from_secs(60),
        || {
            rsyslog.messages().into_iter().find(|m| {
                m["$!"]["rfc5424-sd"]["vigie@32473"]["host"]
                    .as_str()
                    .is_some_and(|h| h.contains("srv<script>"))
            })
        },
    );
    let host = m["$!"]["rfc5424-sd"]["vigie@32473"]["host"]
        .as_str()
        .unwrap();
    assert!(
        host.starts_with("srv<script>alert(1)</script>")
            && host.contains("Bcc: y@evil.example\"] \\ [x=\"1\"]"),
        "{m}"
    );
    assert!(!host.contains(['\r', '\n', '\0', '\u{1b}']), "{m}");
    let raw = m["rawmsg"].as_str().unwrap();
    assert!(!raw.contains(['\r', '\n', '\0', '\u{1b}']), "{raw}");
    assert!(raw.contains(r#"\"\] \\ [x=\"1\"\]"#), "{raw}");
    agent.stop();
    c.stop();
}

/// A self-declared host name as a hostile agent would send it at enrollment.
const HOSTILE_HOSTNAME: &str =
    "srv<script>alert(1)</script>\r\nBcc: y@evil.example\"] \\ [x=\"1\"]\0\u{1b}[2J";
