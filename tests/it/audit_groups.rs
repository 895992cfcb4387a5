//! Host groups, group waivers and the audit-trail commands (issue 8): `host group` puts a host in a
//! group, `waiver add --group` waives a check for the group's hosts as they are at each evaluation,
//! `audit list` shows every admin act, and `audit verify` re-walks the hash chain and fails on a
//! store whose audit records were edited — even when the editor re-sealed the store's checksums.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::harness::{bin, run, wait_for, Agent, Collector};

fn collector(args: &[&str], data_dir: &Path) -> Output {
    let (group, rest) = args.split_at(2);
    run(Command::new(bin("vigie-collector"))
        .args(group)
        .arg("--data-dir")
        .arg(data_dir)
        .args(rest))
}

#[track_caller]
fn collector_ok(args: &[&str], data_dir: &Path) -> String {
    let out = collector(args, data_dir);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn outcome(c: &Collector, host: &str, check: &str) -> String {
    c.findings(Some("mairie-test"))
        .into_iter()
        .find(|f| f["host_id"] == host && f["check_id"] == check)
        .map(|f| f["outcome"].as_str().unwrap().to_owned())
        .unwrap_or_default()
}

/// The store's value layout (collector `store::sled_store::codec`): version 1, then
/// SHA-256(version ‖ key length (u64 BE) ‖ key ‖ payload), then the JSON payload.
fn seal(key: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update((key.len() as u64).to_be_bytes());
    h.update(key);
    h.update(payload);
    let mut out = vec![1u8];
    out.extend_from_slice(&h.finalize());
    out.extend_from_slice(payload);
    out
}

#[test]
fn group_waivers_follow_membership_and_the_audit_trail_detects_edits() {
    let tmp = tempfile::tempdir().unwrap();
    let mut c = Collector::start(tmp.path());
    c.admin_ok(&["org", "add", "mairie-test", "--name", "Mairie de Test"]);
    let mut a = Agent::new(tmp.path(), "a", 3600, 3600);
    a.enroll(&c, &c.token("mairie-test", "1h"));
    a.start();
    let host = a.host_id();
    let failing = wait_for("a failing finding", Duration::from_secs(90), || {
        c.findings(Some("mairie-test")).into_iter().find_map(|f| {
            (f["host_id"] == host.as_str() && f["outcome"] == "fail")
                .then(|| f["check_id"].as_str().unwrap().to_owned())
        })
    });
    a.stop();

    // A waiver for the group "serveurs": the host is not in it yet, so nothing changes.
    let waiver = collector_ok(
        &[
            "waiver",
            "add",
            "--org",
            "mairie-test",
            "--check",
            &failing,
            "--group",
            "serveurs",
            "--reason",
            "remplacement prévu",
            "--owner",
            "dsi@mairie-test.fr",
            "--until",
            "2099-12-31",
        ],
        &c.dir,
    );
    let waiver = waiver.trim().to_owned();
    assert_eq!(outcome(&c, &host, &failing), "fail");
    let list = collector_ok(&["waiver", "list", "--org", "mairie-test"], &c.dir);
    assert!(list.contains("group:serveurs"), "{list}");
    // --host and --group together are refused; so is a group name that is not a plain word.
    let both = collector(
        &[
            "waiver",
            "add",
            "--org",
            "mairie-test",
            "--check",
            &failing,
            "--group",
            "serveurs",
            "--host",
            &host,
            "--reason",
            "r",
            "--owner",
            "o",
            "--until",
            "2099-12-31",
        ],
        &c.dir,
    );
    assert!(!both.status.success());
    assert!(!collector(&["host", "group", &host, "a b"], &c.dir)
        .status
        .success());
    assert!(
        !collector(&["host", "group", "no-such-host", "serveurs"], &c.dir)
            .status
            .success()
    );

    // In the group: waived at once, with its owner; out of it: failing again.
    let groups = collector_ok(&["host", "group", &host, "serveurs"], &c.dir);
    assert!(groups.contains("serveurs"), "{groups}");
    assert_eq!(outcome(&c, &host, &failing), "waived");
    let detail = c
        .findings(Some("mairie-test"))
        .into_iter()
        .find(|f| f["host_id"] == host.as_str() && f["check_id"] == failing.as_str())
        .unwrap()["detail"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(detail.contains("dsi@mairie-test.fr"), "{detail}");
    // A snapshot shows the host's groups and the group waiver.
    let id = collector_ok(&["snapshot", "create", "--org", "mairie-test"], &c.dir);
    let out = tmp.path().join("snap.json");
    collector_ok(
        &[
            "snapshot",
            "export",
            id.trim(),
            "--format",
            "json",
            "--out",
            out.to_str().unwrap(),
        ],
        &c.dir,
    );
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(doc["hosts"][0]["groups"], serde_json::json!(["serveurs"]));
    assert_eq!(doc["waivers"][0]["group"], "serveurs");
    collector_ok(&["host", "group", &host, "serveurs", "--remove"], &c.dir);
    assert_eq!(outcome(&c, &host, &failing), "fail");

    // Every act is on the record, and the chain holds.
    let trail = collector_ok(&["audit", "list", "--org", "mairie-test"], &c.dir);
    for action in [
        "org.add",
        "token.create",
        "waiver.add",
        "host.group.add",
        "host.group.remove",
        "snapshot.sign",
    ] {
        assert!(trail.contains(action), "{action} missing from {trail}");
    }
    assert!(trail.contains(&waiver), "{trail}");
    let json = collector_ok(&["audit", "list", "--json"], &c.dir);
    let records: Vec<serde_json::Value> = json
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(records.len() >= 6, "{json}");
    let ok = collector_ok(&["audit", "verify"], &c.dir);
    assert!(ok.starts_with("audit trail: ok"), "{ok}");
    c.stop();
    assert!(collector(&["audit", "verify"], &c.dir).status.success());

    // Someone with write access to the store rewrites the waiver's audit record — its owner —
    // and re-seals the store's own checksum. Only the hash chain can tell.
    let store_dir = c.dir.join("store");
    let target = records
        .iter()
        .find(|r| r["entry"]["action"] == "waiver.add")
        .unwrap()["index"]
        .as_u64()
        .unwrap();
    let key = target.to_be_bytes();
    let original = {
        let db = sled::open(&store_dir).unwrap();
        let tree = db.open_tree("audit").unwrap();
        let value = tree.get(key).unwrap().unwrap().to_vec();
        let mut record: serde_json::Value = serde_json::from_slice(&value[33..]).unwrap();
        let detail = record["entry"]["detail"].as_str().unwrap().to_owned();
        record["entry"]["detail"] = detail.replace("dsi@mairie-test.fr", "stagiaire").into();
        let payload = serde_json::to_vec(&record).unwrap();
        tree.insert(key, seal(&key, &payload)).unwrap();
        db.flush().unwrap();
        value
    };
    let broken = collector(&["audit", "verify"], &c.dir);
    assert!(!broken.status.success());
    let err = String::from_utf8_lossy(&broken.stderr);
    assert!(
        err.contains(&format!("audit record {target} does not match its hash")),
        "{err}"
    );

    // A flipped byte without re-sealing is caught by the store's checksum: still a failure.
    {
        let db = sled::open(&store_dir).unwrap();
        let tree = db.open_tree("audit").unwrap();
        let mut value = original.clone();
        let last = value.len() - 2;
        value[last] ^= 0x01;
        tree.insert(key, value).unwrap();
        db.flush().unwrap();
    }
    let broken = collector(&["audit", "verify"], &c.dir);
    assert!(!broken.status.success());
    assert!(
        String::from_utf8_lossy(&broken.stderr).contains("corrupt"),
        "{}",
        String::from_utf8_lossy(&broken.stderr)
    );

    // Put back as it was: the chain verifies again (the check is of the data, not a latch).
    {
        let db = sled::open(&store_dir).unwrap();
        db.open_tree("audit")
            .unwrap()
            .insert(key, original)
            .unwrap();
        db.flush().unwrap();
    }
    assert!(collector(&["audit", "verify"], &c.dir).status.success());
}
