//! The shipped examples stay true: the example agent and collector configurations parse with the
//! real parsers, so the documentation of every option cannot drift from the code.

use std::path::Path;

fn packaging(file: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../packaging")
        .join(file)
}

#[test]
fn example_agent_config_parses_and_builds_every_probe() {
    let cfg =
        vigie_agent::config::AgentConfig::load(Some(&packaging("agent.toml.example"))).unwrap();
    let probes = vigie_agent::probe::all_probes(&cfg.probes).unwrap();
    assert!(probes.len() >= 7, "{} probes", probes.len());
}

#[test]
fn example_collector_config_validates() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        packaging("collector.toml.example"),
        dir.path().join("collector.toml"),
    )
    .unwrap();
    let settings = vigie_collector::config::load(dir.path()).unwrap();
    assert_eq!(settings.agent_cert_validity_days, 60);
}

/// Exposure scores from `systemd-analyze security --offline=true` (shown 0–10, compared ×10), with the
/// ceiling each unit must stay under. Printed, so a test run records them.
#[test]
fn systemd_units_stay_hardened() {
    for (unit, ceiling) in [
        ("vigie-agent-prober.service", "15"),
        ("vigie-agent-shipper.service", "15"),
        ("vigie-collector.service", "15"),
    ] {
        let out = std::process::Command::new("systemd-analyze")
            .args([
                "security",
                "--offline=true",
                &format!("--threshold={ceiling}"),
            ])
            .arg(packaging(unit))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{unit} exposure above {ceiling}:\n{text}"
        );
        let score = text
            .lines()
            .find(|l| l.contains("Overall exposure level"))
            .unwrap_or_else(|| panic!("{text}"));
        eprintln!("{score}");
    }
}

/// The settings `vigie-agent-prober.service` or `vigie-agent-shipper.service` holds for `key`.
fn unit_values(unit: &str, key: &str) -> Vec<String> {
    std::fs::read_to_string(packaging(unit))
        .unwrap()
        .lines()
        .filter_map(|l| l.strip_prefix(&format!("{key}=")))
        .map(str::to_owned)
        .collect()
}

/// DESIGN decision 4: the prober reads with CAP_DAC_READ_SEARCH and has no network and no
/// open_by_handle_at; the shipper has no capability; the collector is unprivileged and notifies.
#[test]
fn the_split_units_hold_what_the_design_says() {
    let prober = "vigie-agent-prober.service";
    assert_eq!(
        unit_values(prober, "CapabilityBoundingSet"),
        ["CAP_DAC_READ_SEARCH"]
    );
    assert_eq!(
        unit_values(prober, "AmbientCapabilities"),
        ["CAP_DAC_READ_SEARCH"]
    );
    assert_eq!(unit_values(prober, "PrivateNetwork"), ["yes"]);
    assert_eq!(unit_values(prober, "RestrictAddressFamilies"), ["AF_UNIX"]);
    assert!(unit_values(prober, "SystemCallFilter")
        .iter()
        .any(|v| v.starts_with('~')
            && v.split_whitespace()
                .any(|s| s.trim_start_matches('~') == "open_by_handle_at")));
    assert!(unit_values(prober, "ExecStart")[0].contains("run --probe-only"));

    let shipper = "vigie-agent-shipper.service";
    assert_eq!(unit_values(shipper, "CapabilityBoundingSet"), [""]);
    assert_eq!(unit_values(shipper, "AmbientCapabilities"), [""]);
    assert!(unit_values(shipper, "ExecStart")[0].contains("run --ship-only"));
    for unit in [prober, shipper] {
        assert_eq!(unit_values(unit, "User"), ["vigie"]);
        assert_eq!(
            unit_values(unit, "ReadWritePaths"),
            ["/var/lib/vigie-agent"]
        );
        assert_eq!(unit_values(unit, "NoNewPrivileges"), ["yes"]);
        assert_eq!(unit_values(unit, "ProtectSystem"), ["strict"]);
    }

    let collector = "vigie-collector.service";
    assert_eq!(unit_values(collector, "Type"), ["notify"]);
    assert_eq!(unit_values(collector, "User"), ["vigie-collector"]);
    assert_eq!(unit_values(collector, "CapabilityBoundingSet"), [""]);
    assert_eq!(
        unit_values(collector, "StateDirectory"),
        ["vigie-collector"]
    );
    for key in ["NoNewPrivileges", "PrivateTmp"] {
        assert_eq!(unit_values(collector, key), ["yes"], "{key}");
    }
    assert_eq!(unit_values(collector, "ProtectHome"), ["yes"]);
}

/// `Type=notify`: `serve` sends READY=1 to $NOTIFY_SOCKET once it listens, STOPPING=1 at the end.
#[test]
fn collector_notifies_systemd_when_ready() {
    use std::os::unix::net::UnixDatagram;
    let tmp = tempfile::tempdir().unwrap();
    let sock_path = tmp.path().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    let mut c = crate::harness::Collector::init(tmp.path());
    c.serve(&[("NOTIFY_SOCKET", sock_path.to_str().unwrap())]);
    let mut buf = [0u8; 256];
    let n = sock.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"READY=1");
    c.stop();
    let n = sock.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"STOPPING=1");
}
