//! Snapshot benchmark (DESIGN §6 "Collector reads": snapshot of 10,000 hosts in < 5 s): builds a
//! store of N hosts, each enrolled with its own Ed25519 key and holding one signed report whose body
//! is a real probe cycle of this machine (`vigie-agent check`), then measures `snapshot create`
//! (gather, judge, canonicalise, sign, store) and the offline `snapshot verify`, next to references
//! taken on the same input in the same run: the stock `minisign -V` on the same file, and a batch of
//! `verify_strict` over the same agent headers on one core. It also times the collector read of
//! DESIGN §6 "findings of 10,000 hosts in < 300 ms": the `findings --org` admin path (the store call,
//! then the table or JSON the CLI prints), median of several runs; and a second snapshot chained to
//! the first (the previous one's metadata only is read), `snapshot list` and the read of a stored
//! snapshot (export's path).
//!
//! Run with `cargo bench -p vigie-tests --bench snapshot` (release profile; measure only there).
//! Knobs: `VIGIE_BENCH_HOSTS` (10000); `VIGIE_BENCH_FINDINGS_ONLY` (set: build the store, time
//! the findings read only); `VIGIE_BENCH_CACHE_MB` (the sled page cache; by default the collector's
//! own default `cache_capacity_bytes`, what a user runs).

// A benchmark is test code: a failed setup step should stop it loudly, and indexing is on known sizes.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use ed25519_dalek::SigningKey;
use rand::rngs::OsRng;
use rand::RngCore;
use tokio::task::JoinSet;
use vigie_collector::clock::{Clock, SystemClock};
use vigie_collector::datadir::{self, InitOptions};
use vigie_collector::snapshot::{self, key, minisign, verify};
use vigie_collector::store::sled_store::SledStore;
use vigie_collector::store::{
    Candidate, KeyEvent, Org, RedeemOutcome, Redemption, Store, TokenRecord,
};
use vigie_policies::{Catalogue, Profile};
use vigie_proto::envelope::{self, HeaderFields};
use vigie_proto::v1::Report;

const ORG: &str = "bench";

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Enrolls host `i` through the store and stores one report signed by its key, then derives its
/// latest states and stores its findings (what ingest and the derivation worker do for a real host).
async fn add_host(
    store: Arc<dyn Store>,
    catalogue: Arc<Catalogue>,
    i: usize,
    report: Arc<Report>,
    now: i64,
) {
    let key = SigningKey::generate(&mut OsRng);
    let public_key = key.verifying_key().to_bytes();
    let mut token_hash = [0u8; 32];
    OsRng.fill_bytes(&mut token_hash);
    store
        .add_token(TokenRecord {
            hash: token_hash,
            org: ORG.into(),
            created_at_ms: now,
            expires_at_ms: now + 3_600_000,
            redeemed_by: None,
        })
        .await
        .unwrap();
    let id = format!("00000000-0000-4000-8000-{i:012x}");
    let outcome = store
        .redeem_token(Redemption {
            token_hash,
            public_key,
            hostname: format!("poste-{i:05}.mairie.local"),
            agent_version: "0.1.0-bench".into(),
            peer_address: "127.0.0.1:1".into(),
            now_ms: now,
            new_host_id: id.clone(),
        })
        .await
        .unwrap();
    assert!(matches!(outcome, RedeemOutcome::Enrolled { .. }));
    store
        .record_key_event(
            &id,
            KeyEvent::Enrolled {
                at_ms: now,
                public_key,
                cert_serial: format!("{i:x}"),
                not_after_ms: now + 60 * 86_400_000,
            },
        )
        .await
        .unwrap();
    let fields = HeaderFields {
        host_id: id.clone(),
        epoch: 1,
        seq: 1,
        created_at_ms: now + 1,
    };
    let signed = envelope::seal_report(&key, &fields, &report);
    let candidate = Candidate {
        epoch: 1,
        seq: 1,
        digest: envelope::report_digest(&signed),
        received_at_ms: now + 2,
        created_at_ms: now + 1,
        signed: vigie_proto::Message::encode_to_vec(&signed),
    };
    store.admit(&id, vec![candidate.clone()]).await.unwrap();
    vigie_collector::derive::apply(store.as_ref(), &id, &[(candidate, (*report).clone())])
        .await
        .unwrap();
    vigie_collector::derive::evaluate_host(
        store.as_ref(),
        &catalogue,
        Profile::Standard,
        &id,
        now + 3,
    )
    .await
    .unwrap();
}

fn machine() -> String {
    let text = std::process::Command::new("lscpu")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let model = text
        .lines()
        .find_map(|l| l.strip_prefix("Model name:"))
        .map(str::trim)
        .unwrap_or("unknown CPU");
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{model}, {cpus} CPUs available")
}

/// `verify_strict` of every embedded agent header of `doc`, one core: the raw cost of the
/// signatures that `snapshot verify` must check.
fn verify_batch(doc: &serde_json::Value) -> (usize, f64) {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut items = Vec::new();
    for h in doc["hosts"].as_array().unwrap() {
        let key: [u8; 32] = hex::decode(h["current_key"].as_str().unwrap())
            .unwrap()
            .try_into()
            .unwrap();
        let key = ed25519_dalek::VerifyingKey::from_bytes(&key).unwrap();
        for r in h["reports"].as_array().unwrap() {
            let header = b64.decode(r["header"].as_str().unwrap()).unwrap();
            let sig = b64.decode(r["signature"].as_str().unwrap()).unwrap();
            items.push((key, header, sig));
        }
    }
    let start = Instant::now();
    for (key, header, sig) in &items {
        let msg = envelope::signed_message(envelope::REPORT_CONTEXT, &[header]);
        let sig = ed25519_dalek::Signature::from_slice(sig).unwrap();
        key.verify_strict(std::hint::black_box(&msg), &sig).unwrap();
    }
    (items.len(), start.elapsed().as_secs_f64())
}

/// How many times the findings read is timed; the median is reported.
const FINDINGS_RUNS: usize = 7;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// CPU seconds (user + system, every thread) this process has used so far, from `/proc/self/stat`
/// (clock ticks of 10 ms): on a machine shared with other work, the wall time of a step depends on
/// the load, its CPU time much less.
fn cpu_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    // Fields after the command name (which ends at the last ')'): utime and stime are 12 and 13.
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    ticks as f64 / 100.0
}

/// The `findings --org` admin path (`Request::Findings`): the store call, then the rendering the
/// CLI prints (table, or JSON with `--json`), each timed `FINDINGS_RUNS` times; medians in seconds,
/// the number of findings read, and the mean CPU seconds of one store call (all threads).
async fn findings_read(store: &dyn Store) -> (f64, f64, f64, usize, f64) {
    let (mut read, mut table, mut json) = (Vec::new(), Vec::new(), Vec::new());
    let mut rows = 0;
    let mut cpu = 0.0;
    for _ in 0..FINDINGS_RUNS {
        let start = Instant::now();
        let cpu_start = cpu_secs();
        let findings = store.findings(Some(ORG), None).await.unwrap();
        read.push(start.elapsed().as_secs_f64());
        cpu += cpu_secs() - cpu_start;
        rows = findings.len();
        let start = Instant::now();
        std::hint::black_box(vigie_collector::admin::render_findings(&findings, false));
        table.push(start.elapsed().as_secs_f64());
        let start = Instant::now();
        std::hint::black_box(vigie_collector::admin::render_findings(&findings, true));
        json.push(start.elapsed().as_secs_f64());
    }
    (
        median(read),
        median(table),
        median(json),
        rows,
        cpu / FINDINGS_RUNS as f64,
    )
}

fn time_command(cmd: &mut std::process::Command) -> f64 {
    let start = Instant::now();
    let out = cmd.output().unwrap();
    let secs = start.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    secs
}

fn main() {
    let wall = Instant::now();
    let load = || {
        std::fs::read_to_string("/proc/loadavg")
            .map(|l| l.split(' ').take(3).collect::<Vec<_>>().join(" "))
            .unwrap_or_default()
    };
    let load_before = load();
    let n = env_usize("VIGIE_BENCH_HOSTS", 10_000);
    let date = std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let now = SystemClock.now_ms();
    datadir::init(
        &data,
        &InitOptions {
            listen: "127.0.0.1:0".into(),
            enroll_listen: "127.0.0.1:0".into(),
            https_listen: "127.0.0.1:0".into(),
            server_names: vec!["localhost".into()],
        },
        now,
    )
    .unwrap();

    eprintln!("one real probe cycle of this machine (the report every host will sign)...");
    let report = rt
        .block_on(vigie_agent::check::check(
            &vigie_agent::config::AgentConfig::default(),
            Path::new("/"),
            None,
            now,
        ))
        .unwrap();
    let body_bytes = vigie_proto::Message::encoded_len(&report);
    let report = Arc::new(report);

    eprintln!("building a store of {n} hosts...");
    let setup = Instant::now();
    let store_dir = dir.path().join("store");
    // The page cache a user runs with: the collector's configured default, unless the knob says.
    let cache = std::env::var("VIGIE_BENCH_CACHE_MB")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .map_or_else(
            || datadir::load(&data).unwrap().settings.cache_capacity_bytes,
            |mb| mb << 20,
        );
    let sled = SledStore::open(&store_dir, cache).unwrap();
    let store: Arc<dyn Store> = Arc::new(sled);
    let catalogue = Arc::new(Catalogue::builtin().unwrap());
    rt.block_on(async {
        store
            .add_org(Org {
                id: ORG.into(),
                name: "Mairie de Banc-d'Essai".into(),
                created_at_ms: now,
            })
            .await
            .unwrap();
        let mut set = JoinSet::new();
        for i in 0..n {
            if set.len() >= 256 {
                set.join_next().await.unwrap().unwrap();
            }
            set.spawn(add_host(
                store.clone(),
                catalogue.clone(),
                i,
                report.clone(),
                now,
            ));
        }
        while let Some(r) = set.join_next().await {
            r.unwrap();
        }
    });
    let setup_secs = setup.elapsed().as_secs_f64();
    if std::env::var_os("VIGIE_BENCH_FINDINGS_ONLY").is_some() {
        let (read, table, json, rows, cpu) = rt.block_on(findings_read(store.as_ref()));
        println!("load: {load_before} before, {} after", load());
        println!(
            "findings read of {n} hosts ({rows} findings), median of {FINDINGS_RUNS}: store call {:.0} ms (CPU {:.0} ms, all threads), + table {:.0} ms, + JSON {:.0} ms",
            read * 1e3,
            cpu * 1e3,
            (read + table) * 1e3,
            (read + json) * 1e3
        );
        return;
    }

    eprintln!("snapshot create...");
    let start = Instant::now();
    let cpu_start = cpu_secs();
    let (record, phases) = rt
        .block_on(snapshot::create_timed(
            store.as_ref(),
            &data,
            ORG,
            Profile::Standard,
            "uid:0",
            now + 10,
            false,
        ))
        .unwrap();
    let create_secs = start.elapsed().as_secs_f64();
    let create_cpu = cpu_secs() - cpu_start;
    let bytes = record.document.as_bytes();

    eprintln!("second snapshot create (chained to the first), list, stored read...");
    let start = Instant::now();
    let cpu_start = cpu_secs();
    let (second, second_phases) = rt
        .block_on(snapshot::create_timed(
            store.as_ref(),
            &data,
            ORG,
            Profile::Standard,
            "uid:0",
            now + 20,
            false,
        ))
        .unwrap();
    let second_secs = start.elapsed().as_secs_f64();
    let second_cpu = cpu_secs() - cpu_start;
    assert_eq!(second.seq, 2);
    let start = Instant::now();
    let listed = rt.block_on(snapshot::list(store.as_ref(), ORG)).unwrap();
    let list_secs = start.elapsed().as_secs_f64();
    assert_eq!(listed.lines().count(), 3, "header and two snapshots");
    let start = Instant::now();
    let stored = rt
        .block_on(snapshot::get(store.as_ref(), &record.id))
        .unwrap();
    let get_secs = start.elapsed().as_secs_f64();
    assert_eq!(stored, record);
    drop((second, stored));

    eprintln!("findings read ({FINDINGS_RUNS} runs)...");
    let (findings_read, findings_table, findings_json, findings_rows, findings_cpu) =
        rt.block_on(findings_read(store.as_ref()));

    let public = minisign::public_key_file(&key::public(&data).unwrap());
    eprintln!("snapshot verify...");
    let start = Instant::now();
    let verified = verify::verify(bytes, &record.minisig, &public, None).unwrap();
    let verify_secs = start.elapsed().as_secs_f64();
    assert_eq!(verified.hosts, n);

    eprintln!("references: minisign -V, verify_strict batch...");
    let file = dir.path().join("snapshot.json");
    std::fs::write(&file, bytes).unwrap();
    std::fs::write(dir.path().join("snapshot.json.minisig"), &record.minisig).unwrap();
    let pubfile = dir.path().join("vigie-snapshots.pub");
    std::fs::write(&pubfile, &public).unwrap();
    let minisign_secs = time_command(
        std::process::Command::new("minisign")
            .arg("-QVm")
            .arg(&file)
            .arg("-p")
            .arg(&pubfile),
    );
    let sha_secs = time_command(std::process::Command::new("sha256sum").arg(&file));
    let doc: serde_json::Value = serde_json::from_slice(bytes).unwrap();
    let findings: usize = doc["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["findings"].as_array().unwrap().len())
        .sum();
    // The stored findings are those the snapshot judged (same profile, same evidence).
    assert_eq!(findings_rows, findings);
    let (sigs, batch_secs) = verify_batch(&doc);
    assert_eq!(sigs, verified.agent_signatures);

    eprintln!("HTML and CSV renderings...");
    let start = Instant::now();
    let html = snapshot::report::render_verified(
        bytes,
        &record.minisig,
        &public,
        snapshot::report::Format::Html,
        Path::new("/nonexistent"),
    )
    .unwrap();
    let html_secs = start.elapsed().as_secs_f64();
    let start = Instant::now();
    let csv = snapshot::report::render_verified(
        bytes,
        &record.minisig,
        &public,
        snapshot::report::Format::Csv,
        Path::new("/nonexistent"),
    )
    .unwrap();
    let csv_secs = start.elapsed().as_secs_f64();

    let mb = |b: usize| b as f64 / 1e6;
    println!();
    println!("Vigie snapshot benchmark");
    println!("machine:  {}", machine());
    println!("date:     {date}");
    println!(
        "load:     {load_before} before, {} after (1, 5, 15 min)",
        load()
    );
    println!(
        "input:    {n} hosts, one signed report each ({body_bytes} B body, a real probe cycle of this machine), {findings} findings, {} agent signatures",
        verified.agent_signatures
    );
    println!(
        "document: {:.1} MB canonical JSON; store built in {setup_secs:.0} s; sled page cache {} MiB",
        mb(bytes.len()),
        cache >> 20
    );
    println!();
    println!("| step | seconds | note |");
    println!("|---|---|---|");
    println!(
        "| snapshot create | {create_secs:.2} | gather, judge {n} hosts, JCS, sign, store durably; CPU {create_cpu:.2} s (all threads) |"
    );
    println!(
        "| create: gather and judge | {:.2} | store reads, evaluation, embedded reports |",
        phases.gather_ms as f64 / 1e3
    );
    println!(
        "| create: canonical document | {:.2} | RFC 8785 bytes |",
        phases.canonical_ms as f64 / 1e3
    );
    println!(
        "| create: SHA-256 + minisign | {:.2} | |",
        phases.sign_ms as f64 / 1e3
    );
    println!(
        "| create: durable store + audit | {:.2} | |",
        phases.store_ms as f64 / 1e3
    );
    println!(
        "| second snapshot create, chained | {second_secs:.2} | gather {:.2}, canonical {:.2}, sign {:.2}, store {:.2}; CPU {second_cpu:.2} s (all threads) |",
        second_phases.gather_ms as f64 / 1e3,
        second_phases.canonical_ms as f64 / 1e3,
        second_phases.sign_ms as f64 / 1e3,
        second_phases.store_ms as f64 / 1e3
    );
    println!("| snapshot list (two stored) | {list_secs:.3} | metadata only |");
    println!(
        "| stored snapshot read (export path) | {get_secs:.3} | checksum and {:.1} MB document |",
        mb(bytes.len())
    );
    println!(
        "| findings read, store call (median of {FINDINGS_RUNS}) | {findings_read:.3} | {findings_rows} findings of {n} hosts; CPU {findings_cpu:.3} s (all threads, mean) |"
    );
    println!(
        "| findings read + table rendering (median of {FINDINGS_RUNS}) | {:.3} | what `findings --org` prints |",
        findings_read + findings_table
    );
    println!(
        "| findings read + JSON rendering (median of {FINDINGS_RUNS}) | {:.3} | `findings --org --json` |",
        findings_read + findings_json
    );
    println!(
        "| snapshot verify (library) | {verify_secs:.2} | minisign signature, canonical form, {} agent signatures against key histories |",
        verified.agent_signatures
    );
    println!("| reference: `minisign -QV` on the same file | {minisign_secs:.2} | stock tool, prehashed |");
    println!(
        "| reference: `sha256sum` on the same file | {sha_secs:.2} | reading and hashing only |"
    );
    println!(
        "| reference: `verify_strict` of the {sigs} headers, one core | {batch_secs:.2} | raw Ed25519 cost |"
    );
    println!(
        "| HTML rendering (verify + render) | {html_secs:.2} | {:.1} MB |",
        mb(html.len())
    );
    println!(
        "| CSV rendering (verify + render) | {csv_secs:.2} | {:.1} MB |",
        mb(csv.len())
    );
    println!();
    println!(
        "budget (snapshot of {n} hosts < 5 s): {} ({create_secs:.2} s); verify / (minisign + verify_strict batch) = {:.1}",
        if create_secs < 5.0 { "MET" } else { "NOT MET" },
        verify_secs / (minisign_secs + batch_secs)
    );
    println!(
        "budget (findings of {n} hosts < 300 ms, store call): {} ({:.0} ms; with table rendering {:.0} ms)",
        if findings_read < 0.3 { "MET" } else { "NOT MET" },
        findings_read * 1e3,
        (findings_read + findings_table) * 1e3
    );
    println!("wall time: {:.0} s", wall.elapsed().as_secs_f64());
}
