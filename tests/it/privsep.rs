//! The agent's privilege split (DESIGN decision 4, issue 7), run as the units run it: the prober as
//! an unprivileged uid with only CAP_DAC_READ_SEARCH in a network namespace of its own (it cannot
//! reach anything), the shipper as the same uid with no capability at all; they share the spool and
//! together deliver to a real collector. The units' own settings are checked in `packaging`.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::harness::{bin, run, wait_for, Agent, Collector};

const UID: &str = "64123";

fn prober_creds(cmd: &mut Command) -> &mut Command {
    cmd.args([
        "--reuid",
        UID,
        "--regid",
        UID,
        "--clear-groups",
        "--inh-caps=-all,+dac_read_search",
        "--ambient-caps=+dac_read_search",
        "--bounding-set=-all,+dac_read_search",
        "--",
    ])
}

fn shipper_creds(cmd: &mut Command) -> &mut Command {
    cmd.args([
        "--reuid",
        UID,
        "--regid",
        UID,
        "--clear-groups",
        "--inh-caps=-all",
        "--bounding-set=-all",
        "--",
    ])
}

/// The prober: its own network namespace (`unshare --net`: only a down loopback), then setpriv.
fn prober(agent: &Path, a: &Agent, args: &[&str]) -> Command {
    let mut cmd = Command::new("unshare");
    cmd.args(["--net", "--", "setpriv"]);
    prober_creds(&mut cmd)
        .arg(agent)
        .arg("--config")
        .arg(&a.config);
    cmd.args(args).arg("--state-dir").arg(&a.state);
    cmd
}

fn shipper(agent: &Path, a: &Agent, args: &[&str]) -> Command {
    let mut cmd = Command::new("setpriv");
    shipper_creds(&mut cmd)
        .arg(agent)
        .arg("--config")
        .arg(&a.config);
    cmd.args(args).arg("--state-dir").arg(&a.state);
    cmd
}

fn spawn(cmd: &mut Command) -> Child {
    cmd.env("VIGIE_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn status_field(pid: u32, field: &str) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix(field).map(|v| v.trim().to_owned()))
        .unwrap()
}

#[test]
fn prober_without_network_and_shipper_without_capability_deliver_together() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let c = Collector::start(tmp.path());
    c.admin_ok(&["org", "add", "mairie", "--name", "Mairie"]);
    let a = Agent::new(tmp.path(), "agent", 3600, 1);
    a.enroll(&c, &c.token("mairie", "1h"));
    // The state directory belongs to the agent's uid, as /var/lib/vigie-agent to `vigie`.
    let uid: u32 = UID.parse().unwrap();
    for entry in walk(&a.state) {
        std::os::unix::fs::lchown(&entry, Some(uid), Some(uid)).unwrap();
    }
    let agent = tmp.path().join("vigie-agent");
    std::fs::copy(bin("vigie-agent"), &agent).unwrap();

    let mut p = spawn(&mut prober(&agent, &a, &["run", "--probe-only"]));
    let mut s = spawn(&mut shipper(&agent, &a, &["run", "--ship-only"]));
    let (pp, sp) = (p.id(), s.id());
    // Started means the agent itself runs: between setpriv's setresuid and its exec of the agent,
    // the process already has the uid but not yet the capabilities it will run with.
    let runs_agent =
        |pid: u32| std::fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|exe| exe == agent);
    wait_for("both halves to start", Duration::from_secs(10), || {
        (runs_agent(pp)
            && runs_agent(sp)
            && status_field(pp, "Uid:").starts_with(UID)
            && status_field(sp, "Uid:").starts_with(UID))
        .then_some(())
    });
    // What each half holds: the prober CAP_DAC_READ_SEARCH only (bit 2), the shipper nothing;
    // the prober lives in another network namespace.
    assert_eq!(status_field(pp, "CapEff:"), "0000000000000004");
    assert_eq!(status_field(sp, "CapEff:"), "0000000000000000");
    assert_eq!(status_field(sp, "CapBnd:"), "0000000000000000");
    let netns = |pid: u32| std::fs::read_link(format!("/proc/{pid}/ns/net")).unwrap();
    assert_ne!(netns(pp), netns(std::process::id()));
    assert_eq!(netns(sp), netns(std::process::id()));

    // Together they deliver: probes (the first cycle runs at start) and heartbeats.
    wait_for(
        "reports from the split agent",
        Duration::from_secs(60),
        || (c.stored_reports() >= 2).then_some(()),
    );
    let findings = c.findings(Some("mairie"));
    assert!(
        findings
            .iter()
            .any(|f| f["check_id"] == "AGT-001" && f["outcome"] == "pass"),
        "the host is alive for the collector: {findings:?}"
    );
    let _ = p.kill();
    let _ = s.kill();
    let _ = p.wait();
    let _ = s.wait();

    // The prober's confinement reaches nothing: doctor run inside it cannot reach the collector.
    let out = run(prober(&agent, &a, &["doctor", "--timeout-secs", "3"]).env("LC_ALL", "C"));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("[FAIL] collector:") && text.contains("unreachable"),
        "{text}"
    );
    // The same check from the shipper's confinement does reach it.
    let out = run(shipper(&agent, &a, &["doctor", "--timeout-secs", "5"]).env("LC_ALL", "C"));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("accepts this host"), "{text}");

    // The shipper's credentials cannot read /etc/shadow; the prober's can (that is its job).
    let mut cmd = Command::new("setpriv");
    let denied = run(shipper_creds(&mut cmd).args(["head", "-c", "1", "/etc/shadow"]));
    assert!(!denied.status.success());
    let mut cmd = Command::new("setpriv");
    let allowed = run(prober_creds(&mut cmd).args(["head", "-c", "1", "/etc/shadow"]));
    assert!(
        allowed.status.success(),
        "{}",
        String::from_utf8_lossy(&allowed.stderr)
    );
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = vec![dir.to_path_buf()];
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                out.extend(walk(&e.path()));
            } else {
                out.push(e.path());
            }
        }
    }
    out
}
