//! Signed compliance snapshots end to end (DESIGN decision 21, issue 8): waivers shown and expiring,
//! two chained snapshots exported and accepted by the stock `minisign` tool and by
//! `snapshot verify`, each kind of tampering refused, and `snapshot diff`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use vigie_collector::snapshot::{document::time_text, key, minisign};

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

fn verify(file: &Path, pubkey: &Path, previous: Option<&Path>) -> Output {
    let mut cmd = Command::new(bin("vigie-collector"));
    cmd.args(["snapshot", "verify"])
        .arg(file)
        .arg("--pubkey")
        .arg(pubkey);
    if let Some(p) = previous {
        cmd.arg("--previous").arg(p);
    }
    run(&mut cmd)
}

fn minisign_verify(file: &Path, pubkey: &Path) -> Output {
    run(Command::new("minisign")
        .arg("-QVm")
        .arg(file)
        .arg("-p")
        .arg(pubkey))
}

fn export(c: &Collector, id: &str, out: &Path) -> serde_json::Value {
    collector_ok(
        &[
            "snapshot",
            "export",
            id,
            "--format",
            "json",
            "--out",
            out.to_str().unwrap(),
        ],
        &c.dir,
    );
    assert!(sig(out).is_file());
    serde_json::from_slice(&std::fs::read(out).unwrap()).unwrap()
}

fn sig(file: &Path) -> PathBuf {
    PathBuf::from(format!("{}.minisig", file.display()))
}

/// Copies a snapshot and its signature to `name`, applying `edit` to the two texts.
fn tampered(src: &Path, name: &str, edit: impl FnOnce(&mut Vec<u8>, &mut String)) -> PathBuf {
    let dst = src.with_file_name(name);
    let mut doc = std::fs::read(src).unwrap();
    let mut minisig = std::fs::read_to_string(sig(src)).unwrap();
    edit(&mut doc, &mut minisig);
    std::fs::write(&dst, doc).unwrap();
    std::fs::write(sig(&dst), minisig).unwrap();
    dst
}

fn finding<'a>(doc: &'a serde_json::Value, host: &str, check: &str) -> &'a serde_json::Value {
    doc["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["id"] == host)
        .and_then(|h| {
            h["findings"]
                .as_array()
                .unwrap()
                .iter()
                .find(|f| f["check_id"] == check)
        })
        .unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn snapshots_are_signed_chained_verifiable_with_minisign_and_tamper_evident() {
    let tmp = tempfile::tempdir().unwrap();
    let c = Collector::start(tmp.path());
    c.admin_ok(&["org", "add", "mairie-test", "--name", "Mairie de Test"]);
    c.admin_ok(&["org", "add", "autre", "--name", "Autre mairie"]);
    let mut a = Agent::new(tmp.path(), "a", 3600, 3600);
    a.enroll(&c, &c.token("mairie-test", "1h"));
    a.start();
    let host = a.host_id();
    // A failing check with evidence behind it, to waive.
    let failing = wait_for(
        "a failing finding with evidence",
        Duration::from_secs(90),
        || {
            c.findings(Some("mairie-test")).into_iter().find_map(|f| {
                (f["host_id"] == host.as_str()
                    && f["outcome"] == "fail"
                    && !f["evidence"].as_array().unwrap().is_empty())
                .then(|| f["check_id"].as_str().unwrap().to_owned())
            })
        },
    );

    // A waiver that expires a few seconds from now.
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let until_ms = now_ms + 8_000;
    let until = time_text(until_ms);
    let waiver = collector_ok(
        &[
            "waiver",
            "add",
            "--org",
            "mairie-test",
            "--check",
            &failing,
            "--host",
            &host,
            "--reason",
            "migration prévue",
            "--owner",
            "dsi@mairie-test.fr",
            "--until",
            &until,
        ],
        &c.dir,
    );
    assert!(waiver.trim().starts_with("w-"), "{waiver}");
    let list = collector_ok(&["waiver", "list", "--org", "mairie-test"], &c.dir);
    assert!(
        list.contains(&failing) && list.contains("in force"),
        "{list}"
    );
    let bad = collector(
        &[
            "waiver",
            "add",
            "--org",
            "mairie-test",
            "--check",
            "NOPE-999",
            "--reason",
            "r",
            "--owner",
            "o",
            "--until",
            "2099-01-01",
        ],
        &c.dir,
    );
    assert!(!bad.status.success());

    // Snapshot 1: the finding is waived, with its owner and expiry.
    let id1 = collector_ok(&["snapshot", "create", "--org", "mairie-test"], &c.dir);
    let id1 = id1.trim().to_owned();
    assert_eq!(id1, "mairie-test-1");
    let snap1 = tmp.path().join("snap1.json");
    let doc1 = export(&c, &id1, &snap1);
    let f1 = finding(&doc1, &host, &failing);
    assert_eq!(f1["outcome"], "waived", "{f1}");
    let detail = f1["detail"].as_str().unwrap();
    assert!(
        detail.contains("dsi@mairie-test.fr") && detail.contains("jusqu'au"),
        "{detail}"
    );
    assert_eq!(doc1["waivers"][0]["expires_at"], until.as_str());
    assert_eq!(doc1["waivers"][0]["owner"], "dsi@mairie-test.fr");
    assert!(!f1["evidence"][0]["signature"].as_str().unwrap().is_empty());
    assert_eq!(doc1["sequence"], "1");
    assert!(doc1["measures"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["measure"] == "HYG 14"));

    // Snapshot 2, after the waiver has expired by itself.
    std::thread::sleep(Duration::from_millis(
        (until_ms - now_ms + 500).try_into().unwrap(),
    ));
    let list = collector_ok(&["waiver", "list", "--org", "mairie-test"], &c.dir);
    assert!(list.contains("expired"), "{list}");
    let id2 = collector_ok(&["snapshot", "create", "--org", "mairie-test"], &c.dir);
    let id2 = id2.trim().to_owned();
    assert_eq!(id2, "mairie-test-2");
    let snap2 = tmp.path().join("snap2.json");
    let doc2 = export(&c, &id2, &snap2);
    assert_eq!(finding(&doc2, &host, &failing)["outcome"], "fail");
    assert_eq!(doc2["waivers"], serde_json::json!([]));
    let prev = vigie_collector::snapshot::verify::parse_canonical(&std::fs::read(&snap1).unwrap());
    assert!(prev.is_ok());
    let listed = collector_ok(&["snapshot", "list", "--org", "mairie-test"], &c.dir);
    assert!(listed.contains(&id1) && listed.contains(&id2), "{listed}");

    // An unrelated snapshot: the first of another organisation.
    let id3 = collector_ok(&["snapshot", "create", "--org", "autre"], &c.dir);
    let other = tmp.path().join("other.json");
    export(&c, id3.trim(), &other);

    // The stock tool accepts both with the published key, and shows the signed trusted comment.
    let pubkey = tmp.path().join("vigie-snapshots.pub");
    let key_text = collector_ok(&["snapshot", "pubkey"], &c.dir);
    assert!(
        key_text.starts_with("untrusted comment: minisign public key "),
        "{key_text}"
    );
    std::fs::write(&pubkey, &key_text).unwrap();
    for (file, seq) in [(&snap1, 1), (&snap2, 2)] {
        let out = minisign_verify(file, &pubkey);
        assert!(out.status.success(), "minisign: {}", stderr(&out));
        let comment = String::from_utf8(out.stdout).unwrap();
        assert!(
            comment.contains(&format!("org=mairie-test seq={seq} ")) && comment.contains("prev="),
            "{comment}"
        );
    }
    let ok1 = verify(&snap1, &pubkey, None);
    assert!(ok1.status.success(), "{}", stderr(&ok1));
    let ok2 = verify(&snap2, &pubkey, Some(&snap1));
    assert!(ok2.status.success(), "{}", stderr(&ok2));
    let report = String::from_utf8(ok2.stdout).unwrap();
    assert!(
        report.contains("chain: ok (follows snapshot 1)"),
        "{report}"
    );
    assert!(
        report.contains("agent signatures: ") && !report.contains("agent signatures: 0 "),
        "{report}"
    );

    // One flipped byte of the document.
    let flipped = tampered(&snap2, "flipped.json", |doc, _| {
        let i = doc.len() / 2;
        doc[i] ^= 0x01;
    });
    assert!(!minisign_verify(&flipped, &pubkey).status.success());
    assert!(!verify(&flipped, &pubkey, Some(&snap1)).status.success());

    // An edited trusted comment.
    let commented = tampered(&snap2, "comment.json", |_, sig| {
        *sig = sig.replace("seq=2 ", "seq=3 ");
    });
    assert!(!minisign_verify(&commented, &pubkey).status.success());
    let out = verify(&commented, &pubkey, Some(&snap1));
    assert!(stderr(&out).contains("trusted comment"), "{}", stderr(&out));

    // An altered agent signature, re-signed with the snapshot key: minisign cannot see it, but
    // `snapshot verify` checks every agent signature against the key history.
    let signing_key = key::load(&c.dir).unwrap();
    let altered = tampered(&snap2, "agent.json", |doc, sig| {
        let mut value: serde_json::Value = serde_json::from_slice(doc).unwrap();
        let hosts = value["hosts"].as_array_mut().unwrap();
        let h = hosts.iter_mut().find(|h| h["id"] == host.as_str()).unwrap();
        let f = h["findings"]
            .as_array_mut()
            .unwrap()
            .iter_mut()
            .find(|f| !f["evidence"].as_array().unwrap().is_empty())
            .unwrap();
        let s = f["evidence"][0]["signature"].as_str().unwrap().to_owned();
        // Change the first base64 character: a different first byte of the signature.
        let first = if s.starts_with('A') { "B" } else { "A" };
        let replaced = format!("{first}{}", s.get(1..).unwrap());
        f["evidence"][0]["signature"] = serde_json::Value::from(replaced);
        *doc = vigie_collector::snapshot::jcs::canonical(&value).unwrap();
        let comment = sig
            .lines()
            .find_map(|l| l.strip_prefix("trusted comment: "))
            .unwrap()
            .to_owned();
        *sig = minisign::sign(&signing_key, doc, "re-signed", &comment).unwrap();
    });
    assert!(minisign_verify(&altered, &pubkey).status.success());
    let out = verify(&altered, &pubkey, Some(&snap1));
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("agent signature of host"),
        "{}",
        stderr(&out)
    );

    // A broken chain: a tampered previous, or an unrelated one.
    let prev_tampered = tampered(&snap1, "prev-tampered.json", |doc, _| {
        let i = doc.len() / 3;
        doc[i] ^= 0x01;
    });
    let out = verify(&snap2, &pubkey, Some(&prev_tampered));
    assert!(stderr(&out).contains("chain broken"), "{}", stderr(&out));
    let out = verify(&snap2, &pubkey, Some(&other));
    assert!(stderr(&out).contains("chain broken"), "{}", stderr(&out));
    // Without --previous a second snapshot is accepted but says its chain was not checked.
    let out = verify(&snap2, &pubkey, None);
    assert!(String::from_utf8_lossy(&out.stdout).contains("chain: not checked"));

    // The diff shows the waiver gone.
    let diff = collector_ok(&["snapshot", "diff", &id1, &id2], &c.dir);
    assert!(
        diff.contains(&format!("{failing}: waived -> fail")) && diff.contains("worse: "),
        "{diff}"
    );
    let files = run(Command::new(bin("vigie-collector"))
        .args(["snapshot", "diff"])
        .arg(&snap1)
        .arg(&snap2));
    assert_eq!(String::from_utf8_lossy(&files.stdout), diff);

    a.stop();
}
