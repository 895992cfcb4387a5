//! Every refusal of DESIGN decisions 6–10, each proven by what the caller sees (a failed handshake, a
//! gRPC status or a refused acknowledgement) and by a `security` line carrying the peer address in the
//! collector's log — and, after the refusals, a real enrolled agent is still served.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream as StdTcp};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ed25519_dalek::{Signer, SigningKey};
use hyper_util::rt::TokioIo;
use rand::RngCore;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::runtime::Runtime;
use tokio_rustls::TlsConnector;
use tonic::transport::{Channel, Endpoint};
use vigie_agent::identity::{self, Identity};
use vigie_agent::tlsclient;
use vigie_proto::envelope::{seal, seal_report, signed_message, HeaderFields, ENROLL_CONTEXT};
use vigie_proto::v1::ack::{Reason, Status as AckStatus};
use vigie_proto::v1::enrollment_client::EnrollmentClient;
use vigie_proto::v1::ingest_client::IngestClient;
use vigie_proto::v1::{Ack, EnrollRequest, EnrollResponse, Report, SignedReport, SubmitRequest};

use crate::harness::{bin, wait_for, Agent, Collector};

// -- helpers ------------------------------------------------------------------------------------

fn rt() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn ring() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn now_ms() -> i64 {
    vigie_agent::now_ms()
}

fn port(addr: &str) -> u16 {
    addr.rsplit(':').next().unwrap().parse().unwrap()
}

/// Waits for a `security` line naming `peer` exactly (the field `peer=ADDR`, or `(peer ADDR)` in the
/// detail of a security event) and containing every one of `needles`.
#[track_caller]
fn security_line(c: &Collector, peer: &str, needles: &[&str]) -> String {
    let field = format!("peer={peer}");
    wait_for(
        &format!("a security line with {field} and {needles:?}\n{}", c.log()),
        Duration::from_secs(15),
        || {
            c.log()
                .lines()
                .find(|l| {
                    l.contains(" security: ")
                        && needles.iter().all(|n| l.contains(n))
                        && (l.split_whitespace().any(|w| w == field)
                            || l.contains(&format!("(peer {peer})")))
                })
                .map(str::to_owned)
        },
    )
}

fn count(c: &Collector, needle: &str) -> usize {
    c.log().lines().filter(|l| l.contains(needle)).count()
}

/// Waits until the log holds at least `n` lines with `needle`.
#[track_caller]
fn wait_count(c: &Collector, needle: &str, n: usize) {
    wait_for(
        &format!("{n} log lines with {needle:?}\n{}", c.log()),
        Duration::from_secs(15),
        || (count(c, needle) >= n).then_some(()),
    );
}

fn outcome(c: &Collector, host: &str, check: &str) -> Option<String> {
    c.findings(None)
        .iter()
        .find(|f| f["host_id"] == host && f["check_id"] == check)
        .map(|f| f["outcome"].as_str().unwrap_or_default().to_owned())
}

/// A raw enrollment with the key and token we choose.
fn enroll_raw(
    rt: &Runtime,
    c: &Collector,
    pin: &str,
    key: &SigningKey,
    token: &str,
) -> Result<EnrollResponse, tonic::Status> {
    rt.block_on(async {
        let channel = tlsclient::connect(
            &c.enroll_url(),
            tlsclient::enroll_config(pin).unwrap(),
            Duration::from_secs(10),
        )
        .await
        .unwrap();
        let public_key = key.verifying_key().to_bytes();
        let proof = key.sign(&signed_message(
            ENROLL_CONTEXT,
            &[token.as_bytes(), &public_key],
        ));
        EnrollmentClient::new(channel)
            .enroll(EnrollRequest {
                token: token.to_owned(),
                public_key: public_key.to_vec(),
                proof: proof.to_bytes().to_vec(),
                hostname: "raw-client".into(),
                agent_version: "test".into(),
            })
            .await
            .map(tonic::Response::into_inner)
    })
}

/// A TLS connection to `127.0.0.1:port` made by hand, so that we know our own address (the peer the
/// collector logs), wrapped in a gRPC channel that uses that one connection.
async fn channel_on(port: u16, config: ClientConfig) -> std::io::Result<(Channel, SocketAddr)> {
    let tcp = TcpStream::connect(("127.0.0.1", port)).await?;
    let local = tcp.local_addr()?;
    let tls = TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await?;
    let mut once = Some(tls);
    let connector = tower::service_fn(move |_| {
        let stream = once.take();
        async move {
            stream
                .map(TokioIo::new)
                .ok_or_else(|| std::io::Error::other("this test channel has one connection"))
        }
    });
    let channel = Endpoint::from_shared(format!("http://localhost:{port}"))
        .unwrap()
        .timeout(Duration::from_secs(20))
        .connect_with_connector(connector)
        .await
        .map_err(std::io::Error::other)?;
    Ok((channel, local))
}

fn ingest_config(id: &Identity) -> ClientConfig {
    tlsclient::ingest_config(&id.ca_der, &id.cert_der, id.tls_key().unwrap()).unwrap()
}

/// An ingest client with the identity of an enrolled agent.
fn ingest(rt: &Runtime, c: &Collector, id: &Identity) -> (IngestClient<Channel>, SocketAddr) {
    let (ch, local) = rt
        .block_on(channel_on(port(&c.ingest), ingest_config(id)))
        .unwrap();
    (IngestClient::new(ch), local)
}

fn submit(
    rt: &Runtime,
    client: &mut IngestClient<Channel>,
    reports: Vec<SignedReport>,
) -> Result<Vec<Ack>, tonic::Status> {
    rt.block_on(client.submit(SubmitRequest { reports }))
        .map(|r| r.into_inner().acks)
}

#[track_caller]
fn submit_one(rt: &Runtime, client: &mut IngestClient<Channel>, report: SignedReport) -> Ack {
    let mut acks = submit(rt, client, vec![report]).unwrap();
    assert_eq!(acks.len(), 1);
    acks.remove(0)
}

fn body(marker: i64) -> Report {
    Report {
        format_version: 1,
        agent_version: "test".into(),
        collected_at_ms: marker,
        heartbeat: true,
        ..Default::default()
    }
}

fn fields(id: &Identity, epoch: u64, seq: u64) -> HeaderFields {
    HeaderFields {
        host_id: id.enrollment.host_id.clone(),
        epoch,
        seq,
        created_at_ms: now_ms(),
    }
}

fn signed(id: &Identity, epoch: u64, seq: u64) -> SignedReport {
    seal_report(&id.key, &fields(id, epoch, seq), &body(now_ms()))
}

fn epoch() -> u64 {
    rand::rngs::OsRng.next_u64() | 1
}

#[track_caller]
fn assert_ack(ack: &Ack, status: AckStatus, reason: Reason) {
    assert_eq!(
        (ack.status, ack.reason),
        (status as i32, reason as i32),
        "{ack:?}"
    );
}

/// A real enrolled agent's report is still stored: the collector keeps serving the others.
#[track_caller]
fn still_serves(rt: &Runtime, c: &Collector, id: &Identity) {
    let (mut client, _) = ingest(rt, c, id);
    let ack = submit_one(rt, &mut client, signed(id, epoch(), 1));
    assert_ack(&ack, AckStatus::Stored, Reason::Unspecified);
}

/// An agent enrolled with the CLI, its identity loaded from its state directory.
fn enrolled(c: &Collector, root: &std::path::Path, name: &str, org: &str) -> (Agent, Identity) {
    let a = Agent::new(root, name, 3600, 3600);
    a.enroll(c, &c.token(org, "1h"));
    let id = identity::load(&a.state).unwrap();
    (a, id)
}

/// What a TLS client sees when it tries to speak: `Ok(true)` if the server answered with data,
/// `Ok(false)`/`Err` if the connection was refused during or right after the handshake.
async fn tls_attempt(port: u16, config: ClientConfig) -> (SocketAddr, std::io::Result<bool>) {
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let local = tcp.local_addr().unwrap();
    let result = async {
        let mut tls = TlsConnector::from(Arc::new(config))
            .connect(ServerName::try_from("localhost").unwrap(), tcp)
            .await?;
        tls.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").await?;
        tls.flush().await?;
        let mut buf = [0u8; 64];
        let n = tokio::time::timeout(Duration::from_secs(10), tls.read(&mut buf))
            .await
            .map_err(std::io::Error::other)??;
        Ok(n > 0)
    }
    .await;
    (local, result)
}

fn collector_roots(ca_der: &[u8]) -> RootCertStore {
    let mut roots = RootCertStore::empty();
    roots.add(CertificateDer::from(ca_der.to_vec())).unwrap();
    roots
}

/// A CA of our own and a client certificate it signed, shaped like an agent's.
fn foreign_client_cert(host_id: &str) -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.subject_alt_names = vec![rcgen::SanType::URI(
        format!("urn:vigie:host:{host_id}").try_into().unwrap(),
    )];
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    let cert = params.signed_by(&key, &ca).unwrap();
    (
        cert.der().clone(),
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
    )
}

/// Random bytes on a raw TCP connection: the collector must close it.
fn garbage(addr: &str) -> SocketAddr {
    let mut tcp = StdTcp::connect(addr).unwrap();
    let local = tcp.local_addr().unwrap();
    let mut bytes = vec![0u8; 4096];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    // Never a plausible TLS record header.
    bytes[0] = 0x47;
    let _ = tcp.write_all(&bytes);
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut sink = Vec::new();
    match tcp.read_to_end(&mut sink) {
        Ok(_) => {}
        Err(e) => assert!(
            matches!(
                e.kind(),
                std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe
            ),
            "the collector did not close a garbage connection: {e}"
        ),
    }
    local
}

// -- enrollment ---------------------------------------------------------------------------------

#[test]
fn enrollment_refusals_each_logged_with_the_peer_while_other_agents_are_served() {
    let tmp = tempfile::tempdir().unwrap();
    let c = Collector::start(tmp.path());
    c.admin_ok(&["org", "add", "org-a", "--name", "A"]);
    c.admin_ok(&["org", "add", "org-b", "--name", "B"]);
    // Created first so that it has expired by the time we use it, without a long sleep.
    let expiring = c.token("org-a", "1s");
    let expiring_made = Instant::now();
    let pin = c.fingerprint();
    let rt = rt();
    let refused = "Enrollment refused.";

    // A token, redeemed once; its reply "lost": the same key and token succeed once more.
    let token = c.token("org-a", "1h");
    let k1 = SigningKey::generate(&mut rand::rngs::OsRng);
    let first = enroll_raw(&rt, &c, &pin, &k1, &token).unwrap();
    assert_eq!(first.org_id, "org-a");
    let retry = enroll_raw(&rt, &c, &pin, &k1, &token).unwrap();
    assert_eq!(retry.host_id, first.host_id);
    security_line(
        &c,
        "127.0.0.1",
        &["Agent enrolled.", &first.host_id, "retry=true"],
    );
    // A third time: refused.
    let third = enroll_raw(&rt, &c, &pin, &k1, &token).unwrap_err();
    assert_eq!(third.code(), tonic::Code::PermissionDenied, "{third:?}");
    security_line(&c, "127.0.0.1", &[refused, "AlreadyUsed"]);

    // The same token with another key: refused.
    let k2 = SigningKey::generate(&mut rand::rngs::OsRng);
    let reused = enroll_raw(&rt, &c, &pin, &k2, &token).unwrap_err();
    assert_eq!(reused.code(), tonic::Code::PermissionDenied, "{reused:?}");
    wait_count(&c, "AlreadyUsed", 2);

    // A key enrolled through org A presented with org B's token: refused, and B's token is intact.
    let token_b = c.token("org-b", "1h");
    let cross = enroll_raw(&rt, &c, &pin, &k1, &token_b).unwrap_err();
    assert_eq!(cross.code(), tonic::Code::PermissionDenied, "{cross:?}");
    security_line(&c, "127.0.0.1", &[refused, "KeyAlreadyEnrolled"]);
    assert!(
        !c.admin_ok(&["host", "list", "--org", "org-b"])
            .contains(&first.host_id),
        "the key crossed into org B"
    );

    // An expired token.
    std::thread::sleep(Duration::from_secs(2).saturating_sub(expiring_made.elapsed()));
    let k3 = SigningKey::generate(&mut rand::rngs::OsRng);
    let expired = enroll_raw(&rt, &c, &pin, &k3, &expiring).unwrap_err();
    assert_eq!(expired.code(), tonic::Code::PermissionDenied, "{expired:?}");
    security_line(&c, "127.0.0.1", &[refused, "Expired"]);

    // A wrong CA pin: the agent refuses before sending anything, so the token stays unredeemed.
    let enrolled_before = count(&c, "Agent enrolled.");
    let a = Agent::new(tmp.path(), "a", 3600, 3600);
    let token_file = tmp.path().join("a.token");
    std::fs::write(&token_file, &token_b).unwrap();
    let wrong_pin = format!("sha256:{}", "ab".repeat(32));
    let out = Command::new(bin("vigie-agent"))
        .arg("--config")
        .arg(&a.config)
        .args(["enroll", "--state-dir"])
        .arg(&a.state)
        .args([
            "--collector",
            &c.enroll_url(),
            "--ca-fingerprint",
            &wrong_pin,
        ])
        .arg("--token-file")
        .arg(&token_file)
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "enrollment with a wrong pin succeeded"
    );
    // The collector sees the aborted handshake, never a request.
    c.wait_log("TLS handshake refused.");
    assert_eq!(count(&c, "Agent enrolled."), enrolled_before, "{}", c.log());
    assert!(!a.state.join("enrollment.json").exists());
    // The same token with the right pin then works: it never left the host.
    a.enroll(&c, &token_b);
    let id = identity::load(&a.state).unwrap();
    assert_eq!(id.enrollment.org_id, "org-b");
    still_serves(&rt, &c, &id);

    // An enrollment flood from one address: refused once over the per-address budget (30/minute).
    // The window may roll over once during the flood, hence up to two budgets of attempts.
    let flood_key = SigningKey::generate(&mut rand::rngs::OsRng);
    let mut exhausted = None;
    for i in 0..70 {
        let status = enroll_raw(&rt, &c, &pin, &flood_key, "vigie_enr_flood").unwrap_err();
        if status.code() == tonic::Code::ResourceExhausted {
            exhausted = Some(i);
            break;
        }
        assert_eq!(status.code(), tonic::Code::PermissionDenied, "{status:?}");
    }
    assert!(exhausted.is_some(), "no rate limit after 70 enrollments");
    security_line(
        &c,
        "127.0.0.1",
        &["Enrollment rate limit reached for this address."],
    );
    // Ingest is untouched by the enrollment flood.
    still_serves(&rt, &c, &id);
}

// -- ingest: the TLS level and authentication ---------------------------------------------------

#[test]
fn ingest_refuses_foreign_missing_revoked_and_tls12_clients_and_garbage_while_serving_others() {
    let tmp = tempfile::tempdir().unwrap();
    let c = Collector::start(tmp.path());
    c.admin_ok(&["org", "add", "mairie", "--name", "Mairie"]);
    let (_a, id) = enrolled(&c, tmp.path(), "a", "mairie");
    let (_r, revoked) = enrolled(&c, tmp.path(), "r", "mairie");
    let rt = rt();
    let ingest_port = port(&c.ingest);
    let refused = "TLS handshake refused.";

    // A certificate from another CA, even one naming an enrolled host.
    let (cert, key) = foreign_client_cert(&id.enrollment.host_id);
    let cfg = ClientConfig::builder_with_provider(ring())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(collector_roots(&id.ca_der))
        .with_client_auth_cert(vec![cert], key)
        .unwrap();
    let (peer, result) = rt.block_on(tls_attempt(ingest_port, cfg));
    assert!(
        !matches!(result, Ok(true)),
        "a foreign certificate was served"
    );
    security_line(&c, &peer.to_string(), &[refused]);

    // No client certificate at all.
    let cfg = ClientConfig::builder_with_provider(ring())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(collector_roots(&id.ca_der))
        .with_no_client_auth();
    let (peer, result) = rt.block_on(tls_attempt(ingest_port, cfg));
    assert!(
        !matches!(result, Ok(true)),
        "a client without certificate was served"
    );
    security_line(&c, &peer.to_string(), &[refused]);

    // A TLS 1.2-only client with a valid identity: the handshake itself fails.
    let cfg = ClientConfig::builder_with_provider(ring())
        .with_protocol_versions(&[&rustls::version::TLS12])
        .unwrap()
        .with_root_certificates(collector_roots(&id.ca_der))
        .with_client_auth_cert(
            vec![CertificateDer::from(id.cert_der.clone())],
            id.tls_key().unwrap(),
        )
        .unwrap();
    let (peer, result) = rt.block_on(tls_attempt(ingest_port, cfg));
    assert!(result.is_err(), "a TLS 1.2 handshake succeeded: {result:?}");
    security_line(&c, &peer.to_string(), &[refused]);

    // Garbage bytes on each port: connection closed, logged with the peer.
    for (addr, name) in [(&c.ingest, "ingest"), (&c.enroll, "enroll")] {
        let peer = garbage(addr);
        security_line(&c, &peer.to_string(), &[refused, name]);
    }

    // A revoked host: its valid certificate now gets UNAUTHENTICATED on the next RPC.
    let (mut client, peer) = ingest(&rt, &c, &revoked);
    let ack = submit_one(&rt, &mut client, signed(&revoked, epoch(), 1));
    assert_ack(&ack, AckStatus::Stored, Reason::Unspecified);
    c.admin_ok(&[
        "host",
        "revoke",
        &revoked.enrollment.host_id,
        "--reason",
        "test",
    ]);
    // Same connection as before the revocation: revocation is checked on every RPC.
    let status = submit(&rt, &mut client, vec![signed(&revoked, epoch(), 1)]).unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unauthenticated, "{status:?}");
    security_line(&c, &peer.to_string(), &["Ingest refused.", "revoked"]);

    // Through all of this, the valid agent is served.
    still_serves(&rt, &c, &id);
}

// -- ingest: signed reports and replay ----------------------------------------------------------

#[test]
fn report_refusals_replay_rules_and_size_limits_while_serving_others() {
    let tmp = tempfile::tempdir().unwrap();
    let c = Collector::start(tmp.path());
    c.admin_ok(&["org", "add", "mairie", "--name", "Mairie"]);
    let (_a, id) = enrolled(&c, tmp.path(), "a", "mairie");
    let (_b, other) = enrolled(&c, tmp.path(), "b", "mairie");
    let host = id.enrollment.host_id.clone();
    let rt = rt();
    let (mut client, peer) = ingest(&rt, &c, &id);
    let peer = peer.to_string();

    // A report claiming another host (even a real one), signed with this host's key.
    let mut f = fields(&id, epoch(), 1);
    f.host_id = other.enrollment.host_id.clone();
    let ack = submit_one(&rt, &mut client, seal_report(&id.key, &f, &body(1)));
    assert_ack(&ack, AckStatus::Refused, Reason::HostMismatch);
    security_line(&c, &peer, &["Report for another host refused."]);

    // Signed with another key.
    let stranger = SigningKey::generate(&mut rand::rngs::OsRng);
    let ack = submit_one(
        &rt,
        &mut client,
        seal_report(&stranger, &fields(&id, epoch(), 1), &body(2)),
    );
    assert_ack(&ack, AckStatus::Refused, Reason::BadSignature);
    security_line(&c, &peer, &["Report refused.", "signature does not verify"]);

    // Dated an hour in the future.
    let mut f = fields(&id, epoch(), 1);
    f.created_at_ms = now_ms() + 3_600_000;
    let ack = submit_one(&rt, &mut client, seal_report(&id.key, &f, &body(3)));
    assert_ack(&ack, AckStatus::Refused, Reason::FutureDated);
    security_line(&c, &peer, &["Report dated in the future refused."]);

    // A body over 1 MiB.
    let big = seal(
        &id.key,
        &fields(&id, epoch(), 1),
        vec![0u8; vigie_proto::limits::MAX_REPORT_BODY_BYTES + 1],
    );
    let ack = submit_one(&rt, &mut client, big);
    assert_ack(&ack, AckStatus::Refused, Reason::TooLarge);
    security_line(&c, &peer, &["Report refused.", "exceeds the limit"]);

    // A replayed report: acknowledged as already stored, stored once.
    let e = epoch();
    let report = signed(&id, e, 1);
    let ack = submit_one(&rt, &mut client, report.clone());
    assert_ack(&ack, AckStatus::Stored, Reason::Unspecified);
    let ack = submit_one(&rt, &mut client, report);
    assert_ack(&ack, AckStatus::AlreadyStored, Reason::Unspecified);

    // A stale sequence: seq 3 after seq 5 of the same epoch.
    let ack = submit_one(&rt, &mut client, signed(&id, e, 5));
    assert_ack(&ack, AckStatus::Stored, Reason::Unspecified);
    let ack = submit_one(&rt, &mut client, signed(&id, e, 3));
    assert_ack(&ack, AckStatus::Refused, Reason::StaleSequence);
    assert_eq!(ack.high_water_mark, 5, "{ack:?}");
    security_line(&c, &peer, &["Stale sequence refused.", "high_water_mark=5"]);
    // Nothing duplicated, nothing stale stored: seq 1 and seq 5 of this epoch only.
    let stored = c.stored_reports();
    assert_eq!(stored, 2, "reports stored for the host");

    // Equivocation: the same (epoch, seq) signed over another body.
    let e2 = epoch();
    let ack = submit_one(
        &rt,
        &mut client,
        seal_report(&id.key, &fields(&id, e2, 1), &body(10)),
    );
    assert_ack(&ack, AckStatus::Stored, Reason::Unspecified);
    let ack = submit_one(
        &rt,
        &mut client,
        seal_report(&id.key, &fields(&id, e2, 1), &body(11)),
    );
    assert_ack(&ack, AckStatus::Refused, Reason::Equivocation);
    // The security event carries the peer in its detail: `(peer ADDR)`.
    security_line(&c, &peer, &["Security event.", "equivocation"]);

    // A gRPC message over 8 MiB: a gRPC error status, and the collector keeps serving.
    let chunk = vec![0u8; 1024 * 1024];
    let huge: Vec<SignedReport> = (1..=9)
        .map(|s| seal(&id.key, &fields(&id, e2, 100 + s), chunk.clone()))
        .collect();
    let status = submit(&rt, &mut client, huge).unwrap_err();
    assert!(
        matches!(
            status.code(),
            tonic::Code::OutOfRange | tonic::Code::ResourceExhausted
        ),
        "{status:?}"
    );
    security_line(&c, &peer, &["gRPC message over the size limit refused."]);
    still_serves(&rt, &c, &other);
    still_serves(&rt, &c, &id);

    // The collector re-evaluates on the security event: AGT-003 fails for this host.
    wait_for("AGT-003 fail", Duration::from_secs(40), || {
        (outcome(&c, &host, "AGT-003").as_deref() == Some("fail")).then_some(())
    });
    assert_ne!(
        outcome(&c, &other.enrollment.host_id, "AGT-003").as_deref(),
        Some("fail")
    );
}

// -- cloned identity and a restored VM ----------------------------------------------------------

/// Copies a state directory with its modes (the key must stay 0600).
fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    let _ = std::fs::remove_dir_all(to);
    let st = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(st.success());
}

#[test]
fn a_cloned_identity_is_flagged_while_other_agents_are_served() {
    let tmp = tempfile::tempdir().unwrap();
    let c = Collector::start(tmp.path());
    c.admin_ok(&["org", "add", "mairie", "--name", "Mairie"]);
    let mut a = Agent::new(tmp.path(), "a", 3600, 1);
    a.enroll(&c, &c.token("mairie", "1h"));
    let host = a.host_id();
    let mut clone = Agent::new(tmp.path(), "clone", 3600, 1);
    copy_dir(&a.state, &clone.state);
    let (_b, other) = enrolled(&c, tmp.path(), "b", "mairie");
    a.start();
    clone.start();
    wait_for("AGT-002 fail", Duration::from_secs(60), || {
        (outcome(&c, &host, "AGT-002").as_deref() == Some("fail")).then_some(())
    });
    let line = wait_for("the cloned-identity event", Duration::from_secs(15), || {
        c.log()
            .lines()
            .find(|l| l.contains(" security: ") && l.contains("cloned_identity"))
            .map(str::to_owned)
    });
    assert!(line.contains("(peer 127.0.0.1:"), "{line}");
    a.stop();
    clone.stop();
    let rt = rt();
    still_serves(&rt, &c, &other);
    assert_ne!(
        outcome(&c, &other.enrollment.host_id, "AGT-002").as_deref(),
        Some("fail")
    );
}

#[test]
fn a_restored_vm_resyncs_by_itself_without_equivocation() {
    let tmp = tempfile::tempdir().unwrap();
    let c = Collector::start(tmp.path());
    c.admin_ok(&["org", "add", "mairie", "--name", "Mairie"]);
    let mut a = Agent::new(tmp.path(), "a", 3600, 1);
    a.enroll(&c, &c.token("mairie", "1h"));
    let host = a.host_id();
    let ingest_url = format!("https://localhost:{}", port(&c.ingest));
    let stored = || c.stored_reports();

    // First life: some reports delivered.
    a.start();
    wait_for("first reports stored", Duration::from_secs(30), || {
        (stored() >= 2).then_some(())
    });
    a.stop();
    // Then a spell without the network, so that the snapshot holds an undelivered outbox.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_url = format!("https://localhost:{}", dead.local_addr().unwrap().port());
    drop(dead);
    a.set_collector(&dead_url);
    a.start();
    wait_for("an outbox to build up", Duration::from_secs(30), || {
        (a.spool_len() >= 2).then_some(())
    });
    a.stop();
    a.set_collector(&ingest_url);
    let snapshot = tmp.path().join("snapshot");
    copy_dir(&a.state, &snapshot);
    let in_snapshot = a.spool_len();

    // Second life: the outbox is delivered and more reports follow; then the VM is rolled back.
    let before = stored();
    a.start();
    wait_for(
        "second-life reports stored",
        Duration::from_secs(30),
        || (stored() >= before + in_snapshot + 2).then_some(()),
    );
    a.stop();
    copy_dir(&snapshot, &a.state);
    assert_eq!(a.spool_len(), in_snapshot);

    // Third life from the snapshot: its stale outbox (already delivered) and new reports all go
    // through, the outbox empties, and nothing looks like equivocation.
    let before = stored();
    a.start();
    wait_for(
        "the restored outbox delivered",
        Duration::from_secs(30),
        || (a.spool_len() == 0 && stored() >= before + 2).then_some(()),
    );
    a.stop();
    assert!(
        !c.log().contains("equivocation"),
        "a restored VM was taken for an equivocating one\n{}",
        c.log()
    );
    wait_for("findings of the host", Duration::from_secs(40), || {
        outcome(&c, &host, "AGT-003")
    });
    assert_ne!(outcome(&c, &host, "AGT-003").as_deref(), Some("fail"));
    // Lives follow one another, never alternate: not a cloned identity either.
    assert_ne!(outcome(&c, &host, "AGT-002").as_deref(), Some("fail"));
}
