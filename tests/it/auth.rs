//! The password and authentication policy end to end: the real `vigie-agent check --root` over the
//! fixture trees (stock Debian 12, hardened, weak), judged offline by `vigie-collector evaluate`,
//! and the PWD outcomes the auth slice owns compared per tree.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::{bin, ok};

const OWNED: [&str; 6] = [
    "ACC-007", "PWD-001", "PWD-002", "PWD-003", "PWD-004", "PWD-006",
];

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/roots")
        .join(name)
}

/// `check --json` on `root` (apt disabled: it would simulate against the running host), then
/// `evaluate --format json`; returns the evidence and `(check id, outcome, detail)` for the owned
/// checks.
fn run(root: &Path) -> (serde_json::Value, Vec<(String, String, String)>) {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("agent.toml");
    std::fs::write(&config, "version = 1\n[probes.patches]\nenabled = false\n").unwrap();
    let json = ok(Command::new(bin("vigie-agent"))
        .arg("--config")
        .arg(&config)
        .args(["check", "--json", "--root"])
        .arg(root));
    let evidence: serde_json::Value = serde_json::from_str(&json).unwrap();
    let file = tmp.path().join("ev.json");
    std::fs::write(&file, &json).unwrap();
    let out = ok(Command::new(bin("vigie-collector"))
        .arg("evaluate")
        .arg("--evidence")
        .arg(&file)
        .args(["--format", "json"]));
    let findings: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    let owned = OWNED
        .iter()
        .map(|id| {
            let f = findings
                .iter()
                .find(|f| f["check_id"] == *id)
                .unwrap_or_else(|| panic!("{id} missing: {out}"));
            (
                (*id).to_owned(),
                f["outcome"].as_str().unwrap().to_owned(),
                f["detail"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    (evidence, owned)
}

#[track_caller]
fn check(tree: &str, expect: &[(&str, &str)]) -> serde_json::Value {
    let (evidence, owned) = run(&fixture(tree));
    let actual: Vec<(&str, &str)> = owned
        .iter()
        .map(|(id, o, _)| (id.as_str(), o.as_str()))
        .collect();
    assert_eq!(actual, expect, "{tree}: {owned:#?}");
    evidence
}

#[test]
fn fixture_trees_give_the_expected_password_findings() {
    let stock = check(
        "debian12-stock",
        &[
            // No TMOUT, no StopIdleSessionSec on a stock Debian 12.
            ("ACC-007", "fail"),
            ("PWD-001", "fail"),
            ("PWD-002", "fail"),
            ("PWD-003", "fail"),
            ("PWD-004", "pass"),
            ("PWD-006", "pass"),
        ],
    );
    let domains = stock["domains"].as_array().unwrap();
    let auth = domains
        .iter()
        .find(|d| d["domain"] == "AUTH_POLICY")
        .unwrap();
    assert_eq!(auth["probeId"], "auth.pam");
    // Stock Debian: no pwquality line, `nullok` on pam_unix in common-auth.
    assert_eq!(auth["authPolicy"]["nullokInPam"], true, "{auth}");
    check(
        "hardened",
        &[
            ("ACC-007", "pass"),
            ("PWD-001", "pass"),
            ("PWD-002", "pass"),
            ("PWD-003", "pass"),
            ("PWD-004", "pass"),
            ("PWD-006", "pass"),
        ],
    );
    let weak = check(
        "weak",
        &[
            // TMOUT=3600.
            ("ACC-007", "fail"),
            ("PWD-001", "fail"),
            ("PWD-002", "fail"),
            ("PWD-003", "fail"),
            ("PWD-004", "fail"),
            ("PWD-006", "fail"),
        ],
    );
    // The weak tree's garbage line and unknown module are evidence, not a probe error.
    let text = weak.to_string();
    assert!(text.contains("pam_mystery.so"), "{text}");
    assert!(text.contains("unknown PAM type"), "{text}");
}
