//! File-integrity first-baseline benchmark (DESIGN §6 "File integrity, first baseline"): the agent's
//! first baseline of a tree (SHA-256 of every byte, `lstat` facts, sled store), polite (one thread,
//! idle I/O) and at full speed, next to the references measured in the same run on the same tree:
//! AIDE's `--init` with SHA-256 only, `sha256sum` over every file, reading every file without hashing,
//! and the hashing limit from `openssl speed sha256` (as `../shared/bench/fim-reference.sh` does).
//!
//! Run with `cargo bench -p vigie-tests --bench fim_baseline [-- TREE]`. Without TREE it builds one in a
//! temporary directory: `VIGIE_BENCH_SMALL` small files (100,000) and `VIGIE_BENCH_LARGE` files of
//! 64 MiB (8). The page cache is warmed before every timing (warm cache, as the budget says). The
//! agent runs `VIGIE_BENCH_RUNS` times (3) in each mode, full speed first; the ratios use the median
//! full-speed run. `VIGIE_BENCH_AGENT_ONLY=1` skips the references (for profiling).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use vigie_agent::fim::config::{FimConfig, WatchPath};
use vigie_agent::fim::scan::{Mode, Scanner, Scope};
use vigie_agent::fim::store::Store;
use vigie_agent::fim::walk::Cover;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// CPU seconds (user + system) of this process so far, from /proc.
fn cpu_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap();
    ticks / 100.0
}

fn build_tree(dir: &Path, small: usize, large: usize) {
    for i in 0..small {
        let d = dir.join(format!("d{:03}", i % 500));
        if i < 500 {
            std::fs::create_dir_all(&d).unwrap();
        }
        std::fs::write(
            d.join(format!("f{i:06}")),
            format!("file {i}\n").repeat(1 + i % 50),
        )
        .unwrap();
    }
    let big = dir.join("large");
    std::fs::create_dir_all(&big).unwrap();
    let chunk: Vec<u8> = (0..1 << 20).map(|i: u32| (i % 251) as u8).collect();
    for j in 0..large {
        let mut f = std::fs::File::create(big.join(format!("l{j}"))).unwrap();
        for k in 0..64 {
            let mut c = chunk.clone();
            c[0] = k as u8;
            c[1] = j as u8;
            f.write_all(&c).unwrap();
        }
    }
}

fn files(tree: &Path) -> (PathBuf, usize, u64) {
    let list = std::env::temp_dir().join(format!("vigie-fim-bench-{}.list", std::process::id()));
    let out = Command::new("find")
        .arg(tree)
        .args(["-xdev", "-type", "f", "-print0"])
        .output()
        .unwrap();
    std::fs::write(&list, &out.stdout).unwrap();
    let mut n = 0;
    let mut bytes = 0;
    for p in out.stdout.split(|&b| b == 0).filter(|p| !p.is_empty()) {
        n += 1;
        bytes += std::fs::symlink_metadata(std::ffi::OsStr::from_bytes(p))
            .map(|m| m.len())
            .unwrap_or(0);
    }
    (list, n, bytes)
}

fn timed_sh(script: &str) -> f64 {
    let t = Instant::now();
    let _ = Command::new("sh")
        .args(["-c", script])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    t.elapsed().as_secs_f64()
}

/// The agent's first baseline of `tree`: (wall seconds, CPU seconds of this process, entries).
fn vigie(tree: &Path, full_speed: bool) -> (f64, f64, u64) {
    let state = tempfile::tempdir().unwrap();
    let cfg = FimConfig {
        paths: vec![WatchPath {
            path: tree.to_path_buf(),
            recursive: true,
            exclude: vec![],
        }],
        ..FimConfig::default()
    };
    let watches = cfg.compile().unwrap();
    let store = Store::open(state.path()).unwrap();
    let cover = Cover::new(Path::new("/"), &watches);
    let stop = AtomicBool::new(false);
    let threads = if full_speed {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        1
    };
    let s = Scanner {
        store: &store,
        cover: &cover,
        threads,
        stop: &stop,
    };
    let cpu0 = cpu_secs();
    let t = Instant::now();
    let run = || {
        s.run(
            Scope::All { after: None },
            Mode::First,
            Some("first"),
            &mut |_| Ok(()),
        )
        .unwrap()
    };
    let st = if full_speed {
        run()
    } else {
        // The agent's polite mode: one thread with idle I/O priority.
        std::thread::scope(|sc| {
            sc.spawn(|| {
                let tid = std::fs::read_link("/proc/thread-self")
                    .ok()
                    .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
                    .unwrap_or_default();
                let _ = Command::new("ionice")
                    .args(["-c", "3", "-p", &tid])
                    .status();
                run()
            })
            .join()
            .unwrap()
        })
    };
    store.flush().unwrap();
    let wall = t.elapsed().as_secs_f64();
    assert!(st.complete);
    (wall, cpu_secs() - cpu0, st.entries)
}

fn main() {
    let arg = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let tmp = tempfile::tempdir().unwrap();
    let tree = match arg {
        Some(t) => PathBuf::from(t),
        None => {
            let t = tmp.path().join("tree");
            build_tree(
                &t,
                env("VIGIE_BENCH_SMALL", 100_000),
                env("VIGIE_BENCH_LARGE", 8),
            );
            t
        }
    };
    let (list, n, bytes) = files(&tree);
    let l = list.display();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "tree {} files={n} bytes={bytes} cores={cores}",
        tree.display()
    );
    // Warm the page cache, then the references (unless only the agent is measured, for profiling).
    timed_sh(&format!("xargs -0 cat < '{l}'"));
    let agent_only = std::env::var_os("VIGIE_BENCH_AGENT_ONLY").is_some();
    let runs = env("VIGIE_BENCH_RUNS", 3).max(1);
    let mut polite = Vec::new();
    let mut fast = Vec::new();
    let mut entries = 0;
    for _ in 0..runs {
        let (w, c, e) = vigie(&tree, true);
        fast.push((w, c));
        entries = e;
        if !agent_only {
            polite.push(vigie(&tree, false));
        }
    }
    for (w, c) in &fast {
        println!("vigie_full_speed wall={w:.3} cpu={c:.3} entries={entries}");
    }
    for (w, c, _) in &polite {
        println!("vigie_polite wall={w:.3} cpu={c:.3}");
    }
    let mut walls: Vec<f64> = fast.iter().map(|r| r.0).collect();
    walls.sort_by(f64::total_cmp);
    let fast_wall = walls[walls.len() / 2];
    println!("vigie_full_speed_median {fast_wall:.3}");
    if agent_only {
        let _ = std::fs::remove_file(&list);
        return;
    }
    let read_all = timed_sh(&format!("xargs -0 cat < '{l}'"));
    let sha256sum = timed_sh(&format!("xargs -0 sha256sum < '{l}'"));
    let aide = if Command::new("aide").arg("--version").output().is_ok() {
        let w = tempfile::tempdir().unwrap();
        let conf = w.path().join("aide.conf");
        std::fs::write(
            &conf,
            format!(
                "database_out=file:{}/aide.db\ngzip_dbout=no\nH = p+i+n+u+g+s+m+c+sha256\n{} H\n",
                w.path().display(),
                tree.display()
            ),
        )
        .unwrap();
        Some(timed_sh(&format!("aide --init -c '{}'", conf.display())))
    } else {
        None
    };
    let rate_kbps: f64 = Command::new("openssl")
        .args(["speed", "-bytes", "1048576", "-seconds", "2", "sha256"])
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .find(|l| l.starts_with("sha256"))
                .and_then(|l| {
                    l.split_whitespace()
                        .nth(1)
                        .map(|v| v.trim_end_matches('k').to_owned())
                })
        })
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    let hash_limit = if rate_kbps > 0.0 {
        bytes as f64 / (rate_kbps * 1000.0 * cores as f64)
    } else {
        f64::NAN
    };
    let limit = hash_limit.max(read_all / cores as f64);
    println!("read_all_sequential {read_all:.3}");
    println!("sha256sum_sequential {sha256sum:.3}");
    match aide {
        Some(a) => println!("aide_init_sha256 {a:.3}"),
        None => println!("aide_init_sha256 (aide not installed)"),
    }
    println!("openssl_sha256_kBps {rate_kbps:.0}");
    println!("hash_limit_seconds {hash_limit:.3}");
    println!("limit_seconds {limit:.3}   (max(hash limit, read_all / cores))");
    if let Some(a) = aide {
        println!(
            "ratio aide/vigie_full_speed {:.2} (budget ≥ 4)   vigie_full_speed/limit {:.2} (budget ≤ 3)",
            a / fast_wall,
            fast_wall / limit
        );
    }
    let _ = std::fs::remove_file(&list);
}
