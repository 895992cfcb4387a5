//! Signed compliance snapshots end to end (DESIGN decision 21, issue 8): waivers shown and expiring,
//! a ping job (a backup with no agent, pinged over real HTTPS) carried with its unsigned evidence,
//! two chained snapshots exported and accepted by the stock `minisign` tool and by
//! `snapshot verify`, each kind of tampering refused, and `snapshot diff`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use vigie_collector::snapshot::document::{time_text, PING_PROVENANCE};
use vigie_collector::snapshot::{key, minisign};

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

/// Declares ping job `name` in `org` (period 1 day, grace 2 hours); returns the path of its URL.
pub(crate) fn add_ping_job(c: &Collector, org: &str, name: &str) -> String {
    let url = c.admin_ok(&[
        "ping", "add", "--org", org, "--name", name, "--period", "1d", "--grace", "2h", "--site",
        "mairie",
    ]);
    let url = url.trim();
    assert!(url.starts_with("https://localhost:"), "{url}");
    format!("/ping/{}", url.split("/ping/").nth(1).unwrap())
}

/// A ping to send to job `name` of `org` at `path` (from [`add_ping_job`], with `/fail` or
/// `/start` appended as needed), and the finding it must give the job (`check` with `outcome`).
pub(crate) struct Ping<'a> {
    pub org: &'a str,
    pub name: &'a str,
    pub path: &'a str,
    pub check: &'a str,
    pub outcome: &'a str,
}

/// Sends `p` over real HTTPS with `curl` (`extra` arguments added), pinning the collector's
/// certificate, and waits until the store holds the finding it gives the job.
pub(crate) fn ping(c: &Collector, p: Ping<'_>, extra: &[&str]) {
    let Ping {
        org,
        name,
        path,
        check,
        outcome,
    } = p;
    let port = c.https.rsplit(':').next().unwrap();
    let out = run(Command::new("curl")
        .args(["-sS", "--max-time", "10", "--cacert"])
        .arg(c.dir.join("https.crt"))
        .args(["--resolve", &format!("localhost:{port}:127.0.0.1")])
        .args(["-w", "%{http_code}"])
        .args(extra)
        .arg(format!("https://localhost:{port}{path}")));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "OK\n200",
        "curl: {}",
        stderr(&out)
    );
    let host = format!("ping:{name}");
    wait_for(
        &format!("{check} {outcome} on {host}"),
        Duration::from_secs(30),
        || {
            c.findings(Some(org))
                .into_iter()
                .any(|f| {
                    f["host_id"] == host.as_str()
                        && f["check_id"] == check
                        && f["outcome"] == outcome
                })
                .then_some(())
        },
    );
}

/// The ping job `id` of a parsed snapshot.
fn ping_job<'a>(doc: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    doc["ping_jobs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["id"] == id)
        .unwrap()
}

/// The finding of `check` of a host or ping job in a parsed snapshot.
fn finding_of<'a>(holder: &'a serde_json::Value, check: &str) -> &'a serde_json::Value {
    holder["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["check_id"] == check)
        .unwrap()
}

#[test]
fn snapshots_are_signed_chained_verifiable_with_minisign_and_tamper_evident() {
    let tmp = tempfile::tempdir().unwrap();
    let c = Collector::start(tmp.path());
    c.admin_ok(&["org", "add", "mairie-test", "--name", "Mairie de Test"]);
    c.admin_ok(&["org", "add", "autre", "--name", "Autre mairie"]);
    // A backup with no agent, whose job reported a success over HTTPS.
    let nas = add_ping_job(&c, "mairie-test", "nas");
    ping(
        &c,
        Ping {
            org: "mairie-test",
            name: "nas",
            path: &nas,
            check: "BKP-001",
            outcome: "pass",
        },
        &[],
    );
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
    let evidence = &f1["evidence"][0];
    let embedded = doc1["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["id"] == host.as_str())
        .unwrap()["reports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["epoch"] == evidence["epoch"] && r["seq"] == evidence["seq"])
        .unwrap();
    assert!(!embedded["signature"].as_str().unwrap().is_empty());
    assert!(!embedded["received_at"].as_str().unwrap().is_empty());
    assert_eq!(doc1["sequence"], "1");
    assert!(doc1["measures"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["measure"] == "HYG 14"));
    // The ping job is in, judged at snapshot time, its evidence the ping received, said unsigned.
    let job1 = ping_job(&doc1, "ping:nas");
    assert_eq!(job1["provenance"], PING_PROVENANCE);
    assert_eq!(job1["name"], "nas");
    assert_eq!(job1["period_secs"], "86400");
    assert_eq!(job1["site"], "mairie");
    let pings1 = job1["pings"].as_array().unwrap();
    assert_eq!(pings1.len(), 1, "{job1}");
    assert_eq!(pings1[0]["kind"], "success");
    assert!(pings1[0].get("signature").is_none() && job1.get("reports").is_none());
    let bkp1 = finding_of(job1, "BKP-001");
    assert_eq!(bkp1["outcome"], "pass", "{bkp1}");
    assert_eq!(
        bkp1["evidence"],
        serde_json::json!([{"kind": "success", "received_at": pings1[0]["received_at"]}])
    );
    assert_eq!(finding_of(job1, "BKP-002")["outcome"], "pass");
    // Its findings count in the roll-up.
    let bkp_measure = doc1["measures"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| {
            m["checks"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c == "BKP-001")
        })
        .unwrap();
    assert_ne!(bkp_measure["pass"], "0", "{bkp_measure}");
    assert_ne!(bkp_measure["status"], "needs_attestation", "{bkp_measure}");
    assert!(doc1["checks"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["id"] == "BKP-002"));

    // Snapshot 2, after the waiver has expired by itself.
    std::thread::sleep(Duration::from_millis(
        (until_ms - now_ms + 500).try_into().unwrap(),
    ));
    let list = collector_ok(&["waiver", "list", "--org", "mairie-test"], &c.dir);
    assert!(list.contains("expired"), "{list}");
    // The backup with no agent now fails.
    ping(
        &c,
        Ping {
            org: "mairie-test",
            name: "nas",
            path: &format!("{nas}/fail"),
            check: "BKP-002",
            outcome: "fail",
        },
        &["--data-binary", "disque plein"],
    );
    let id2 = collector_ok(&["snapshot", "create", "--org", "mairie-test"], &c.dir);
    let id2 = id2.trim().to_owned();
    assert_eq!(id2, "mairie-test-2");
    let snap2 = tmp.path().join("snap2.json");
    let doc2 = export(&c, &id2, &snap2);
    assert_eq!(finding(&doc2, &host, &failing)["outcome"], "fail");
    let job2 = ping_job(&doc2, "ping:nas");
    assert_eq!(job2["pings"].as_array().unwrap().len(), 2, "{job2}");
    assert_eq!(job2["pings"][1]["kind"], "failure");
    assert_eq!(job2["pings"][1]["message"], "disque plein");
    assert_eq!(finding_of(job2, "BKP-001")["outcome"], "fail");
    let bkp2 = finding_of(job2, "BKP-002");
    assert_eq!(bkp2["outcome"], "fail");
    assert!(bkp2["detail"].as_str().unwrap().contains("disque plein"));
    assert_eq!(bkp2["evidence"][0]["kind"], "failure");
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
    assert!(
        String::from_utf8_lossy(&ok1.stdout).contains("ping jobs: 1, with 1 pings unsigned"),
        "{}",
        String::from_utf8_lossy(&ok1.stdout)
    );
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
    assert!(
        report.contains("ping jobs: 1, with 2 pings unsigned (received by the collector over HTTPS, covered by the snapshot signature only)"),
        "{report}"
    );

    // The pings carry no agent signature, so only the document's signature protects them: one
    // changed byte in a ping's time is refused by minisign and by `snapshot verify`.
    let received = job2["pings"][1]["received_at"].as_str().unwrap().to_owned();
    let moved = tampered(&snap2, "ping-moved.json", |doc, _| {
        let text = String::from_utf8(doc.clone()).unwrap();
        let i = text.find(&received).unwrap() + 3;
        doc[i] = if doc[i] == b'0' { b'1' } else { b'0' };
    });
    assert!(!minisign_verify(&moved, &pubkey).status.success());
    let out = verify(&moved, &pubkey, Some(&snap1));
    assert!(stderr(&out).contains("minisign"), "{}", stderr(&out));
    // Re-signed with the snapshot key: a ping job claiming signed evidence is refused, and so is a
    // finding resting on a ping the job does not record.
    let claimed = resigned(&c, &snap2, "ping-claimed.json", |doc| {
        doc["ping_jobs"][0]["provenance"] = serde_json::Value::from("signed by the agent");
    });
    let out = verify(&claimed, &pubkey, Some(&snap1));
    assert!(
        stderr(&out).contains("ping job \"nas\" does not say that its evidence is unsigned"),
        "{}",
        stderr(&out)
    );
    let unrecorded = resigned(&c, &snap2, "ping-unrecorded.json", |doc| {
        doc["ping_jobs"][0]["pings"][1]["received_at"] =
            serde_json::Value::from("2001-01-01T00:00:00.000Z");
    });
    assert!(minisign_verify(&unrecorded, &pubkey).status.success());
    let out = verify(&unrecorded, &pubkey, Some(&snap1));
    assert!(
        stderr(&out).contains("which the job does not record"),
        "{}",
        stderr(&out)
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
        let r = &mut h["reports"][0];
        let s = r["signature"].as_str().unwrap().to_owned();
        // Change the first base64 character: a different first byte of the signature.
        let first = if s.starts_with('A') { "B" } else { "A" };
        let replaced = format!("{first}{}", s.get(1..).unwrap());
        r["signature"] = serde_json::Value::from(replaced);
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
    // The ping job went from success to failure: worse, not new.
    let worse = diff
        .split("worse: ")
        .nth(1)
        .unwrap()
        .split("changed: ")
        .next()
        .unwrap();
    assert!(
        worse.contains("  ping:nas BKP-001: pass -> fail\n")
            && worse.contains("  ping:nas BKP-002: pass -> fail\n"),
        "{diff}"
    );
    assert!(
        diff.contains("new ping jobs: 0\ngone ping jobs: 0\n"),
        "{diff}"
    );
    let files = run(Command::new(bin("vigie-collector"))
        .args(["snapshot", "diff"])
        .arg(&snap1)
        .arg(&snap2));
    assert_eq!(String::from_utf8_lossy(&files.stdout), diff);

    a.stop();
}

/// Copies a signed snapshot to `name` after `edit` changed its JSON, re-canonicalised and re-signed
/// with the collector's own snapshot key under the same trusted comment: what only someone holding
/// that key could do, and what `snapshot verify` must still catch when the agents' evidence is wrong.
fn resigned(
    c: &Collector,
    src: &Path,
    name: &str,
    edit: impl FnOnce(&mut serde_json::Value),
) -> PathBuf {
    let signing_key = key::load(&c.dir).unwrap();
    tampered(src, name, |doc, sig| {
        let mut value: serde_json::Value = serde_json::from_slice(doc).unwrap();
        edit(&mut value);
        *doc = vigie_collector::snapshot::jcs::canonical(&value).unwrap();
        let comment = sig
            .lines()
            .find_map(|l| l.strip_prefix("trusted comment: "))
            .unwrap()
            .to_owned();
        *sig = minisign::sign(&signing_key, doc, "re-signed", &comment).unwrap();
    })
}

fn host_mut<'a>(doc: &'a mut serde_json::Value, id: &str) -> &'a mut serde_json::Value {
    doc["hosts"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|h| h["id"] == id)
        .unwrap()
}

/// The `at` of the host's first key event of `kind` in a parsed snapshot.
fn key_event_at(doc: &serde_json::Value, host: &str, kind: &str) -> String {
    doc["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["id"] == host)
        .unwrap()["key_history"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event"] == kind)
        .unwrap()["at"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Renews the agent's certificate for a brand-new key, proving possession of it, and saves the new
/// identity in the agent's state directory.
async fn rotate_key(state: &Path) {
    use ed25519_dalek::Signer;
    use vigie_proto::envelope::{signed_message, RENEW_CONTEXT};
    let id = vigie_agent::identity::load(state).unwrap();
    let new_key = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
    let config =
        vigie_agent::tlsclient::ingest_config(&id.ca_der, &id.cert_der, id.tls_key().unwrap())
            .unwrap();
    let channel =
        vigie_agent::tlsclient::connect(&id.enrollment.collector, config, Duration::from_secs(20))
            .await
            .unwrap();
    let public_key = new_key.verifying_key().to_bytes();
    let proof = new_key.sign(&signed_message(
        RENEW_CONTEXT,
        &[id.enrollment.host_id.as_bytes(), &public_key],
    ));
    let reply = vigie_proto::v1::ingest_client::IngestClient::new(channel)
        .renew(vigie_proto::v1::RenewRequest {
            public_key: public_key.to_vec(),
            proof: proof.to_bytes().to_vec(),
        })
        .await
        .unwrap()
        .into_inner();
    let mut renewed = id.clone();
    renewed.key = new_key;
    renewed.cert_der = reply.certificate_der;
    renewed.enrollment.not_after_ms = reply.not_after_ms;
    vigie_agent::identity::save(state, &renewed).unwrap();
}

/// Issue 8: every embedded agent signature must verify under the key the host held when the
/// collector received that report, per the key history — not under any key the host ever had.
#[test]
fn snapshot_verify_holds_each_report_to_the_key_valid_when_it_was_received() {
    let tmp = tempfile::tempdir().unwrap();
    let c = Collector::start(tmp.path());
    c.admin_ok(&["org", "add", "mairie-test", "--name", "Mairie de Test"]);
    let mut a = Agent::new(tmp.path(), "a", 3600, 3600);
    a.enroll(&c, &c.token("mairie-test", "1h"));
    let host = a.host_id();
    let evidenced = |c: &Collector| -> Vec<serde_json::Value> {
        c.findings(Some("mairie-test"))
            .into_iter()
            .filter(|f| f["host_id"] == host.as_str())
            .flat_map(|f| f["evidence"].as_array().unwrap().clone())
            .collect()
    };
    a.start();
    let old_evidence = wait_for(
        "findings resting on a report",
        Duration::from_secs(90),
        || {
            let e = evidenced(&c);
            (!e.is_empty()).then_some(e)
        },
    );
    a.stop();
    let id1 = collector_ok(&["snapshot", "create", "--org", "mairie-test"], &c.dir);
    let snap1 = tmp.path().join("snap1.json");
    export(&c, id1.trim(), &snap1);

    // Rotate the host's key through the renewal RPC (today's agent re-certifies the same key, but
    // the protocol and the key history allow a new one), then let it report under the new key.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(rotate_key(&a.state));
    a.start();
    wait_for(
        "findings resting on a newer report",
        Duration::from_secs(90),
        || {
            evidenced(&c)
                .iter()
                .any(|e| !old_evidence.contains(e))
                .then_some(())
        },
    );
    a.stop();
    let id2 = collector_ok(&["snapshot", "create", "--org", "mairie-test"], &c.dir);
    let snap2 = tmp.path().join("snap2.json");
    let doc2 = export(&c, id2.trim(), &snap2);
    let pubkey = tmp.path().join("vigie-snapshots.pub");
    std::fs::write(&pubkey, collector_ok(&["snapshot", "pubkey"], &c.dir)).unwrap();
    assert!(verify(&snap2, &pubkey, Some(&snap1)).status.success());

    let renewed_at = key_event_at(&doc2, &host, "renewed");
    let enrolled_at = key_event_at(&doc2, &host, "enrolled");
    let history2 = doc2["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["id"] == host.as_str())
        .unwrap()["key_history"]
        .clone();
    assert_eq!(history2.as_array().unwrap().len(), 2, "{history2}");
    assert_ne!(history2[0]["public_key"], history2[1]["public_key"]);

    // Snapshot 1 given the later key history (with the renewal): its reports were received before
    // the renewal, under the old key, so it still verifies.
    let later_history = resigned(&c, &snap1, "history.json", |doc| {
        host_mut(doc, &host)["key_history"] = history2.clone();
    });
    let out = verify(&later_history, &pubkey, None);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(minisign_verify(&later_history, &pubkey).status.success());

    // The same old-key reports claimed to be received after the renewal: refused, although the
    // old key is still in the history.
    let old_after = resigned(&c, &snap1, "old-after.json", |doc| {
        let h = host_mut(doc, &host);
        h["key_history"] = history2.clone();
        for r in h["reports"].as_array_mut().unwrap() {
            r["received_at"] = serde_json::Value::from(renewed_at.clone());
        }
    });
    assert!(minisign_verify(&old_after, &pubkey).status.success());
    let out = verify(&old_after, &pubkey, None);
    assert!(!out.status.success());
    assert!(
        stderr(&out)
            .contains("does not verify against the key the host held when the report was received"),
        "{}",
        stderr(&out)
    );

    // New-key reports of snapshot 2 claimed to be received before the renewal: refused.
    let new_before = resigned(&c, &snap2, "new-before.json", |doc| {
        for r in host_mut(doc, &host)["reports"].as_array_mut().unwrap() {
            r["received_at"] = serde_json::Value::from(enrolled_at.clone());
        }
    });
    let out = verify(&new_before, &pubkey, Some(&snap1));
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("agent signature of host"),
        "{}",
        stderr(&out)
    );

    // And a report received before the host was enrolled rests on no key at all.
    let before_enrollment = resigned(&c, &snap1, "pre-enrollment.json", |doc| {
        for r in host_mut(doc, &host)["reports"].as_array_mut().unwrap() {
            r["received_at"] = serde_json::Value::from("2001-01-01T00:00:00.000Z");
        }
    });
    let out = verify(&before_enrollment, &pubkey, None);
    assert!(
        stderr(&out).contains("when the host had no valid key"),
        "{}",
        stderr(&out)
    );
}

/// Issue 8: `serve` makes the scheduled snapshots of `[[snapshot_schedule]]` and keeps only the
/// newest `keep` scheduled ones; a snapshot made by hand is never pruned, and what remains chains.
#[test]
fn scheduled_snapshots_are_made_by_serve_and_pruned_to_their_retention() {
    let tmp = tempfile::tempdir().unwrap();
    let mut c = Collector::init(tmp.path());
    let config = c.dir.join("collector.toml");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str("\n[[snapshot_schedule]]\norg = \"mairie-test\"\nevery = \"1s\"\nkeep = 2\n");
    std::fs::write(&config, text).unwrap();
    c.serve(&[]);
    c.admin_ok(&["org", "add", "mairie-test", "--name", "Mairie de Test"]);
    let manual = collector_ok(&["snapshot", "create", "--org", "mairie-test"], &c.dir);
    let manual = manual.trim().to_owned();
    let seq_of = |id: &str| id.rsplit('-').next().unwrap().parse::<u64>().unwrap();
    wait_for("five snapshots made", Duration::from_secs(60), || {
        let list = collector_ok(&["snapshot", "list", "--org", "mairie-test"], &c.dir);
        list.contains("mairie-test-5 ").then_some(())
    });
    c.stop();

    let list = collector_ok(&["snapshot", "list", "--org", "mairie-test"], &c.dir);
    let rows: Vec<&str> = list.lines().skip(1).collect();
    let scheduled: Vec<&str> = rows
        .iter()
        .copied()
        .filter(|r| r.contains("scheduled"))
        .collect();
    assert_eq!(scheduled.len(), 2, "{list}");
    assert!(
        rows.iter()
            .any(|r| r.starts_with(&format!("{manual} ")) && r.contains("manual")),
        "the manual snapshot {manual} was pruned: {list}"
    );
    let audit = collector_ok(&["audit", "list", "--org", "mairie-test"], &c.dir);
    assert!(audit.contains("snapshot.prune"), "{audit}");
    assert!(audit.contains("system:schedule"), "{audit}");

    // The two newest remaining snapshots still chain and verify.
    let ids: Vec<String> = rows
        .iter()
        .map(|r| r.split_whitespace().next().unwrap().to_owned())
        .collect();
    let newest = ids.last().unwrap();
    let previous = format!("mairie-test-{}", seq_of(newest) - 1);
    assert!(ids.contains(&previous), "{list}");
    let (a, b) = (tmp.path().join("a.json"), tmp.path().join("b.json"));
    export(&c, &previous, &a);
    export(&c, newest, &b);
    let pubkey = tmp.path().join("vigie-snapshots.pub");
    std::fs::write(&pubkey, collector_ok(&["snapshot", "pubkey"], &c.dir)).unwrap();
    let out = verify(&b, &pubkey, Some(&a));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(minisign_verify(&b, &pubkey).status.success());
}
