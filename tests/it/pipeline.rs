//! The pipeline end to end: enrollment, signed reports, the outbox across outages, findings per
//! organisation, the offline `check --json` → `evaluate` path, and probes under reduced privileges.

use std::process::Command;
use std::time::Duration;

use crate::harness::{bin, ok, run, wait_for, Agent, Collector};

fn outcomes(findings: &[serde_json::Value], host: &str) -> Vec<(String, String)> {
    findings
        .iter()
        .filter(|f| f["host_id"] == host)
        .map(|f| {
            (
                f["check_id"].as_str().unwrap().to_owned(),
                f["outcome"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn two_agents_in_two_organisations_report_and_findings_are_per_organisation() {
    let tmp = tempfile::tempdir().unwrap();
    let c = Collector::start(tmp.path());
    c.admin_ok(&["org", "add", "mairie-a", "--name", "Mairie A"]);
    c.admin_ok(&["org", "add", "mairie-b", "--name", "Mairie B"]);
    let mut a = Agent::new(tmp.path(), "a", 3600, 3600);
    let mut b = Agent::new(tmp.path(), "b", 3600, 3600);
    a.enroll(&c, &c.token("mairie-a", "1h"));
    b.enroll(&c, &c.token("mairie-b", "1h"));
    a.start();
    b.start();
    let (ha, hb) = (a.host_id(), b.host_id());
    wait_for("findings of both hosts", Duration::from_secs(60), || {
        let all = c.findings(None);
        let done = |h: &str| {
            outcomes(&all, h)
                .iter()
                .any(|(id, o)| id == "PAT-001" && o != "unknown")
        };
        (done(&ha) && done(&hb)).then_some(())
    });
    let fa = c.findings(Some("mairie-a"));
    assert!(!fa.is_empty());
    assert!(
        fa.iter()
            .all(|f| f["org"] == "mairie-a" && f["host_id"] == ha.as_str()),
        "{fa:?}"
    );
    let fb = c.findings(Some("mairie-b"));
    assert!(
        fb.iter()
            .all(|f| f["org"] == "mairie-b" && f["host_id"] == hb.as_str()),
        "{fb:?}"
    );
    let hosts = c.admin_ok(&["host", "list", "--org", "mairie-a"]);
    assert!(hosts.contains(&ha) && !hosts.contains(&hb), "{hosts}");
    // The table format is what the sysadmin reads.
    let table = c.admin_ok(&["findings", "--org", "mairie-b"]);
    assert!(
        table.contains("PAT-001") && table.contains("AGT-001"),
        "{table}"
    );
}

#[test]
fn outbox_survives_collector_outage_and_agent_restarts_and_delivers_exactly_once() {
    let tmp = tempfile::tempdir().unwrap();
    let mut c = Collector::start(tmp.path());
    c.admin_ok(&["org", "add", "mairie", "--name", "Mairie"]);
    let mut a = Agent::new(tmp.path(), "a", 3600, 1);
    a.enroll(&c, &c.token("mairie", "1h"));
    c.stop();
    // Two agent lives while the collector is down: reports pile up in the outbox.
    a.start();
    wait_for("reports in the outbox", Duration::from_secs(30), || {
        (a.spool_len() >= 3).then_some(())
    });
    a.stop();
    a.start();
    let before = a.spool_len();
    wait_for("more reports", Duration::from_secs(30), || {
        (a.spool_len() >= before + 2).then_some(())
    });
    a.stop();
    let pending = a.spool_len();
    assert_eq!(c.stored_reports(), 0);
    // The collector comes back on the same ports as the agent knows them.
    c.serve(&[]);
    a.set_collector(&c.ingest_url());
    std::fs::write(
        &a.config,
        "interval_secs = 3600\nheartbeat_secs = 3600\nmax_backoff_secs = 1\n[probes.fim]\nenabled = false\n",
    )
    .unwrap();
    a.start();
    // Every pending report, plus the one probe cycle of the last start, stored once.
    wait_for("every report stored", Duration::from_secs(60), || {
        (c.stored_reports() == pending + 1 && a.spool_len() == 0).then_some(())
    });
    a.stop();
    c.stop();
    assert_eq!(c.stored_reports(), pending + 1);
}

#[test]
fn check_json_on_this_machine_then_offline_evaluate() {
    let tmp = tempfile::tempdir().unwrap();
    let json = ok(Command::new(bin("vigie-agent")).args(["check", "--json"]));
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["formatVersion"], 1);
    let domains = v["domains"].as_array().unwrap();
    assert!(
        domains
            .iter()
            .any(|d| d["inventory"]["hostname"].is_string()),
        "{json}"
    );
    assert!(
        domains.iter().any(|d| d["patches"]["manager"] == "apt"),
        "{json}"
    );
    // 64-bit integers are strings in the public format.
    assert!(v["collectedAtMs"].is_string());
    let file = tmp.path().join("ev.json");
    std::fs::write(&file, &json).unwrap();
    let table = ok(Command::new(bin("vigie-collector"))
        .arg("evaluate")
        .arg("--evidence")
        .arg(&file));
    for id in ["PAT-001", "PAT-002", "PAT-003", "PAT-004"] {
        assert!(table.contains(id), "{table}");
    }
    let out = ok(Command::new(bin("vigie-collector"))
        .arg("evaluate")
        .arg("--evidence")
        .arg(&file)
        .args(["--format", "json"]));
    let findings: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    let pat4 = findings
        .iter()
        .find(|f| f["check_id"] == "PAT-004")
        .unwrap();
    assert_ne!(pat4["outcome"], "unknown", "{pat4}");
    // Malformed evidence: a clear error naming the file, no crash.
    std::fs::write(&file, "{\"formatVersion\": \"x\"").unwrap();
    let out = run(Command::new(bin("vigie-collector"))
        .arg("evaluate")
        .arg("--evidence")
        .arg(&file));
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("ev.json"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn probes_run_as_an_unprivileged_user_with_only_cap_dac_read_search() {
    // DESIGN decision 4: user `nobody` with CAP_DAC_READ_SEARCH only, via setpriv (util-linux).
    // The binary is copied to a world-traversable directory so that the test does not depend on the
    // modes of the directories above the checkout.
    let tmp = tempfile::tempdir().unwrap();
    std::fs::set_permissions(
        tmp.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let agent = tmp.path().join("vigie-agent");
    std::fs::copy(bin("vigie-agent"), &agent).unwrap();
    let out = run(Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all,+dac_read_search",
            "--ambient-caps=+dac_read_search",
            "--bounding-set=-all,+dac_read_search",
            "--",
        ])
        .arg(&agent)
        .args(["check", "--json"])
        .current_dir(tmp.path()));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let domains = v["domains"].as_array().unwrap();
    assert!(domains.iter().any(|d| d["inventory"].is_object()));
    let patches = domains.iter().find(|d| d["domain"] == "PATCHES").unwrap();
    assert!(patches["patches"]["manager"] == "apt", "{patches}");
}
