//! Transport limits of DESIGN decision 6 and certificate renewal (decision 7): a silent client is
//! dropped at the handshake timeout, handshakes beyond the cap are refused at once, each with a
//! `security` line carrying the peer; renewal issues a new certificate that keeps ingest working.

use std::io::Read;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::harness::{Agent, Collector};

#[test]
fn silent_clients_time_out_and_handshakes_beyond_the_cap_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let mut c = Collector::init(tmp.path());
    c.set_config("handshake_timeout_secs", "1");
    c.set_config("max_concurrent_handshakes", "2");
    c.serve(&[]);
    // Two silent connections occupy both handshake slots...
    let mut silent: Vec<TcpStream> = (0..2)
        .map(|_| TcpStream::connect(&c.ingest).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    // ...so a third is refused at once.
    let mut third = TcpStream::connect(&c.ingest).unwrap();
    third
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let start = Instant::now();
    let mut buf = [0u8; 16];
    assert_eq!(
        third.read(&mut buf).unwrap_or(0),
        0,
        "the third connection must be closed"
    );
    assert!(
        start.elapsed() < Duration::from_millis(900),
        "refused at once, not at the timeout"
    );
    let peer = third.local_addr().unwrap().to_string();
    c.wait_log(&format!(
        "too many TLS handshakes in progress. port=\"ingest\" peer={peer}"
    ));
    // The silent ones are dropped when the handshake timeout passes.
    for s in &mut silent {
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let start = Instant::now();
        assert_eq!(s.read(&mut buf).unwrap_or(0), 0);
        assert!(start.elapsed() < Duration::from_secs(4));
        let peer = s.local_addr().unwrap().to_string();
        c.wait_log(&format!(
            "TLS handshake timed out. port=\"ingest\" peer={peer}"
        ));
    }
}

#[test]
fn renewal_issues_a_new_certificate_recorded_in_the_key_history() {
    let tmp = tempfile::tempdir().unwrap();
    let c = Collector::start(tmp.path());
    c.admin_ok(&["org", "add", "mairie", "--name", "Mairie"]);
    let a = Agent::new(tmp.path(), "a", 3600, 3600);
    a.enroll(&c, &c.token("mairie", "1h"));
    let host = a.host_id();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let before = vigie_agent::identity::load(&a.state).unwrap();
    let renewed = rt
        .block_on(vigie_agent::enroll::renew(&a.state, &before))
        .unwrap();
    assert_ne!(renewed.cert_der, before.cert_der);
    assert_eq!(vigie_proto::pin::host_id(&renewed.cert_der).unwrap(), host);
    // The renewed identity is what the state directory now holds.
    assert_eq!(
        vigie_agent::identity::load(&a.state).unwrap().cert_der,
        renewed.cert_der
    );
    let history: serde_json::Value =
        serde_json::from_str(&c.admin_ok(&["host", "history", &host])).unwrap();
    let kinds: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_object().unwrap().keys().next().unwrap().as_str())
        .collect();
    assert_eq!(kinds, ["Enrolled", "Renewed"]);
    // And reports still go through with the renewed certificate.
    let mut a = a;
    a.start();
    crate::harness::wait_for("a stored report", Duration::from_secs(60), || {
        let out = c.admin_ok(&["host", "show", &host]);
        (!out.contains("\"last_seen_ms\": 0")).then_some(())
    });
}
