//! Collector ingest benchmark (DESIGN §6 "Collector ingest"): pre-signed reports in batches of 64 over
//! many mutual-TLS connections on 127.0.0.1, through the real ingest service (certificate identity,
//! `verify_strict` of the signed header, replay rules, sled store with fsync), against the raw
//! `verify_strict` ceiling of both cores measured in the same run.
//!
//! Run with `cargo bench -p vigie-tests --bench ingest`. Knobs (environment, all optional):
//! `VIGIE_BENCH_CONNS` (1000), `VIGIE_BENCH_BATCHES` (3), `VIGIE_BENCH_BIG_CONNS` (128),
//! `VIGIE_BENCH_BIG_BATCHES` (2), `VIGIE_BENCH_SECS` (25, per-phase send deadline).

// A benchmark is test code: a failed setup step should stop it loudly, and indexing is on known sizes.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use ed25519_dalek::pkcs8::EncodePrivateKey;
use ed25519_dalek::{Signer, SigningKey};
use rand::rngs::OsRng;
use rand::RngCore;
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::task::JoinSet;
use vigie_collector::clock::{Clock, SystemClock};
use vigie_collector::datadir::{self, InitOptions};
use vigie_collector::server;
use vigie_collector::store::sled_store::SledStore;
use vigie_collector::store::{KeyEvent, Org, RedeemOutcome, Redemption, Store, TokenRecord};
use vigie_proto::envelope::{self, HeaderFields};
use vigie_proto::v1::ack::Status as AckStatus;
use vigie_proto::v1::domain_state::State;
use vigie_proto::v1::ingest_client::IngestClient;
use vigie_proto::v1::{
    Disk, Domain, DomainState, Inventory, Path as PbPath, Report, SubmitRequest,
};
use vigie_proto::Message;

const BATCH: usize = 64;
const ORG: &str = "bench";

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A report body of about `target` bytes: one inventory state, padded through `cpu_brand`.
fn body(host: &str, target: usize, now_ms: i64) -> Vec<u8> {
    let disks = (0..8)
        .map(|i| Disk {
            mount_point: Some(PbPath {
                encoding: 1,
                raw: format!("/srv/volume{i}").into_bytes(),
            }),
            file_system: "ext4".into(),
            total_bytes: 500_000_000_000,
            available_bytes: 200_000_000_000,
            removable: false,
        })
        .collect();
    let mut inv = Inventory {
        hostname: host.into(),
        machine_id: host.into(),
        os_id: "debian".into(),
        os_version_id: "12".into(),
        os_pretty_name: "Debian GNU/Linux 12 (bookworm)".into(),
        kernel_version: "6.1.0-18-amd64".into(),
        architecture: "x86_64".into(),
        uptime_secs: 86_400,
        boot_time_ms: now_ms - 86_400_000,
        cpu_count: 4,
        cpu_brand: String::new(),
        memory_total_bytes: 8 << 30,
        memory_available_bytes: 4 << 30,
        disks,
        role: "server".into(),
        os_codename: "bookworm".into(),
    };
    let make = |inv: &Inventory| Report {
        format_version: 1,
        agent_version: "0.1.0-bench".into(),
        collected_at_ms: now_ms,
        domains: vec![DomainState {
            domain: Domain::Inventory as i32,
            probe_id: "inventory".into(),
            collected_at_ms: now_ms,
            state_id: format!("{host}-inv"),
            chunk_index: 0,
            chunk_count: 1,
            state: Some(State::Inventory(inv.clone())),
        }],
        heartbeat: false,
        outbox_dropped: 0,
    };
    let base = make(&inv).encoded_len();
    inv.cpu_brand = "x".repeat(target.saturating_sub(base + 4));
    make(&inv).encode_to_vec()
}

struct Host {
    id: String,
    key: SigningKey,
    cert_der: Vec<u8>,
}

/// A collector with its store, and `n` hosts enrolled directly through the store.
struct Setup {
    _dir: tempfile::TempDir,
    running: server::Running,
    sled: Arc<SledStore>,
    ca_der: Vec<u8>,
    hosts: Vec<Host>,
}

async fn setup(n: usize) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let clock = SystemClock;
    let now = clock.now_ms();
    datadir::init(
        &data,
        &InitOptions {
            listen: "127.0.0.1:0".into(),
            enroll_listen: "127.0.0.1:0".into(),
            https_listen: "127.0.0.1:0".into(),
            server_names: vec!["127.0.0.1".into(), "localhost".into()],
        },
        now,
    )
    .unwrap();
    let loaded = datadir::load(&data).unwrap();
    let ca_der = datadir::ca_cert_der(&data).unwrap();
    let store_dir = dir.path().join("store");
    let cache = loaded.settings.cache_capacity_bytes;
    let sled = Arc::new(
        tokio::task::spawn_blocking(move || SledStore::open(&store_dir, cache))
            .await
            .unwrap()
            .unwrap(),
    );
    let store: Arc<dyn Store> = sled.clone();
    let running = server::start(loaded, store.clone(), Arc::new(SystemClock))
        .await
        .unwrap();
    store
        .add_org(Org {
            id: ORG.into(),
            name: "Benchmark".into(),
            created_at_ms: now,
        })
        .await
        .unwrap();

    // Enroll concurrently so the store's group commit shares the fsyncs.
    let mut set = JoinSet::new();
    for i in 0..n {
        let (store, ctx) = (store.clone(), running.ctx.clone());
        set.spawn(async move {
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
                    hostname: format!("bench-{i}"),
                    agent_version: "0.1.0-bench".into(),
                    peer_address: "127.0.0.1:1".into(),
                    now_ms: now,
                    new_host_id: id.clone(),
                })
                .await
                .unwrap();
            assert!(matches!(outcome, RedeemOutcome::Enrolled { .. }));
            let issued = ctx
                .ca
                .issue_agent(&id, &public_key, now, ctx.cert_validity())
                .unwrap();
            store
                .record_key_event(
                    &id,
                    KeyEvent::Enrolled {
                        at_ms: now,
                        public_key,
                        cert_serial: issued.serial_hex.clone(),
                        not_after_ms: issued.not_after_ms,
                    },
                )
                .await
                .unwrap();
            (
                i,
                Host {
                    id,
                    key,
                    cert_der: issued.der,
                },
            )
        });
    }
    let mut hosts: Vec<(usize, Host)> = set.join_all().await;
    hosts.sort_by_key(|(i, _)| *i);
    Setup {
        _dir: dir,
        running,
        sled,
        ca_der,
        hosts: hosts.into_iter().map(|(_, h)| h).collect(),
    }
}

/// Pre-signs `batches` batches of 64 reports of about `size` bytes per host, on both cores.
fn presign(hosts: &[Host], batches: usize, size: usize) -> Vec<Vec<SubmitRequest>> {
    let now = SystemClock.now_ms();
    let threads = 2;
    let chunk = hosts.len().div_ceil(threads).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = hosts
            .chunks(chunk)
            .map(|part| {
                s.spawn(move || {
                    part.iter()
                        .map(|h| {
                            let b = body(&h.id, size, now);
                            (0..batches)
                                .map(|k| SubmitRequest {
                                    reports: (0..BATCH)
                                        .map(|j| {
                                            let fields = HeaderFields {
                                                host_id: h.id.clone(),
                                                epoch: 1,
                                                seq: (k * BATCH + j + 1) as u64,
                                                created_at_ms: now,
                                            };
                                            envelope::seal(&h.key, &fields, b.clone())
                                        })
                                        .collect(),
                                })
                                .collect()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    })
}

struct PhaseResult {
    conns: usize,
    report_bytes: usize,
    offered: usize,
    stored: u64,
    other: u64,
    errors: u64,
    secs: f64,
    commits: u64,
    jobs: u64,
}

impl PhaseResult {
    fn per_sec(&self) -> f64 {
        self.stored as f64 / self.secs
    }
    fn mb_per_sec(&self) -> f64 {
        self.per_sec() * self.report_bytes as f64 / 1e6
    }
}

async fn phase(conns: usize, batches: usize, size: usize, deadline: Duration) -> PhaseResult {
    let t = Instant::now();
    let s = setup(conns).await;
    eprintln!(
        "  [{size} B] {conns} hosts enrolled in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    let requests = presign(&s.hosts, batches, size);
    let report_bytes = requests[0][0].reports[0].encoded_len();
    let offered = conns * batches * BATCH;
    eprintln!(
        "  [{size} B] {offered} reports of {report_bytes} B pre-signed in {:.1} s",
        t.elapsed().as_secs_f64()
    );

    // One TLS connection (one tonic channel) per host, as agents have; at most 64 handshakes at once.
    let t = Instant::now();
    let url = format!("https://{}", s.running.bound.ingest);
    let mut clients = Vec::with_capacity(conns);
    for group in s.hosts.chunks(64) {
        let mut set = JoinSet::new();
        for (i, h) in group.iter().enumerate() {
            let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
                h.key.to_pkcs8_der().unwrap().as_bytes().to_vec(),
            ));
            let cfg = vigie_agent::tlsclient::ingest_config(&s.ca_der, &h.cert_der, key).unwrap();
            let url = url.clone();
            set.spawn(async move {
                let ch = vigie_agent::tlsclient::connect(&url, cfg, Duration::from_secs(120))
                    .await
                    .unwrap();
                (i, ch)
            });
        }
        let mut got = set.join_all().await;
        got.sort_by_key(|(i, _)| *i);
        clients.extend(got.into_iter().map(|(_, ch)| {
            IngestClient::new(ch)
                .max_encoding_message_size(vigie_proto::limits::MAX_GRPC_MESSAGE_BYTES)
                .max_decoding_message_size(vigie_proto::limits::MAX_GRPC_MESSAGE_BYTES)
        }));
    }
    eprintln!(
        "  [{size} B] {conns} connections up in {:.1} s",
        t.elapsed().as_secs_f64()
    );

    let before = s.sled.commit_stats();
    let start = Instant::now();
    let stop_at = start + deadline;
    let mut set = JoinSet::new();
    for (mut client, batches) in clients.into_iter().zip(requests) {
        set.spawn(async move {
            let (mut stored, mut other, mut errors) = (0u64, 0u64, 0u64);
            // One batch in flight per host, sent one after the other, as the agent's shipper does.
            for req in batches {
                if Instant::now() >= stop_at {
                    break;
                }
                match client.submit(req).await {
                    Ok(resp) => {
                        for ack in resp.into_inner().acks {
                            if ack.status == AckStatus::Stored as i32 {
                                stored += 1;
                            } else {
                                other += 1;
                            }
                        }
                    }
                    Err(status) => {
                        eprintln!("  submit failed: {status}");
                        errors += 1;
                    }
                }
            }
            (stored, other, errors)
        });
    }
    let results = set.join_all().await;
    let secs = start.elapsed().as_secs_f64();
    let after = s.sled.commit_stats();
    let (mut stored, mut other, mut errors) = (0, 0, 0);
    for (a, b, c) in results {
        stored += a;
        other += b;
        errors += c;
    }
    s.running.shutdown().await;
    PhaseResult {
        conns,
        report_bytes,
        offered,
        stored,
        other,
        errors,
        secs,
        commits: after.commits - before.commits,
        jobs: after.jobs - before.jobs,
    }
}

/// Raw `verify_strict` of one fixed signature over a header-like ~100-byte message, on `threads`
/// threads for `secs`; returns verifications per second in total.
fn verify_ceiling(threads: usize, secs: f64) -> f64 {
    let key = SigningKey::generate(&mut OsRng);
    let header = HeaderFields {
        host_id: "00000000-0000-4000-8000-000000000000".into(),
        epoch: 1,
        seq: 1,
        created_at_ms: 1_700_000_000_000,
    };
    let sealed = envelope::seal(&key, &header, vec![0u8; 16]);
    let msg = envelope::signed_message(envelope::REPORT_CONTEXT, &[&sealed.header]);
    let sig = key.sign(&msg);
    let vk = key.verifying_key();
    let total: u64 = std::thread::scope(|s| {
        let hs: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let start = Instant::now();
                    let mut n = 0u64;
                    while start.elapsed().as_secs_f64() < secs {
                        for _ in 0..256 {
                            vk.verify_strict(std::hint::black_box(&msg), &sig).unwrap();
                        }
                        n += 256;
                    }
                    n as f64 / start.elapsed().as_secs_f64()
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap() as u64).sum()
    });
    eprintln!("  verify message: {} B", msg.len());
    total as f64
}

fn machine() -> String {
    let out = std::process::Command::new("lscpu").output();
    let text = out
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

fn main() {
    let wall = Instant::now();
    let conns = env_usize("VIGIE_BENCH_CONNS", 1000);
    let batches = env_usize("VIGIE_BENCH_BATCHES", 3);
    let big_conns = env_usize("VIGIE_BENCH_BIG_CONNS", 128);
    let big_batches = env_usize("VIGIE_BENCH_BIG_BATCHES", 2);
    let deadline = Duration::from_secs(env_usize("VIGIE_BENCH_SECS", 25) as u64);
    let date = std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    let nofile = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("Max open files"))
                .map(|l| l.split_whitespace().nth(3).unwrap_or("?").to_owned())
        })
        .unwrap_or_else(|| "?".into());
    if let Ok(n) = nofile.parse::<usize>() {
        assert!(
            n > conns * 2 + 200,
            "soft NOFILE {n} is too low for {conns} connections: raise it (ulimit -n) or set VIGIE_BENCH_CONNS"
        );
    }

    eprintln!("verify_strict ceiling (2 threads, 3 s)...");
    let verify = verify_ceiling(2, 3.0);

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    eprintln!("ingest, 4 KB reports...");
    let small = rt.block_on(phase(conns, batches, 4096, deadline));
    eprintln!("ingest, 64 KB reports...");
    let big = rt.block_on(phase(big_conns, big_batches, 65_536, deadline));
    drop(rt);

    println!();
    println!("Vigie collector ingest benchmark");
    println!("machine:  {}", machine());
    println!("date:     {date}");
    println!("NOFILE:   {nofile} (soft)");
    println!("verify_strict, both cores: {verify:.0}/s");
    println!();
    println!(
        "| report | conns | offered | stored | other acks | RPC errors | seconds | reports/s | MB/s | fsync rounds | store jobs | ratio to verify ceiling |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    for r in [&small, &big] {
        println!(
            "| {} B | {} | {} | {} | {} | {} | {:.1} | {:.0} | {:.1} | {} | {} | {:.1} % |",
            r.report_bytes,
            r.conns,
            r.offered,
            r.stored,
            r.other,
            r.errors,
            r.secs,
            r.per_sec(),
            r.mb_per_sec(),
            r.commits,
            r.jobs,
            100.0 * r.per_sec() / verify
        );
    }
    let ratio = small.per_sec() / verify;
    println!();
    println!(
        "budget (4 KB reports/s >= 20 % of verify ceiling = {:.0}/s): {} ({:.1} %)",
        0.2 * verify,
        if ratio >= 0.2 { "MET" } else { "NOT MET" },
        100.0 * ratio
    );
    println!("wall time: {:.0} s", wall.elapsed().as_secs_f64());
}
