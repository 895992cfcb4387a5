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

/// Exposure scores from `systemd-analyze security --offline=true` (shown 0–10, compared ×10), with the ceiling
/// each unit must stay under; the agent's is higher because it reads the whole host and dials out.
#[test]
fn systemd_units_stay_hardened() {
    for (unit, ceiling) in [
        ("vigie-agent.service", "25"),
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
        assert!(text.contains("Overall exposure level"), "{text}");
    }
}
