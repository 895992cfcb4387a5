//! The ClamAV engine: clamd.conf and freshclam.conf, the CVD/CLD headers of the signature databases,
//! freshclam's log and state file, clamd's log (detections), the `clamonacc` process, and on the
//! live host clamd itself over its socket (`zPING`, `zVERSION`). Every failure is a problem line in
//! the evidence, never an error of the probe. Not here: the parsers (`cvd.rs`, `clamd.rs`,
//! `freshclam.rs`, `detections.rs`), and any judgement.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use vigie_proto::v1::{
    AntivirusDaemon, AntivirusEngine, OnAccessScanning, SignatureDatabase, SignatureUpdate, Source,
};

use super::clamd::{self, ClamdConf, Endpoint};
use super::cvd::{self, HEADER_LEN};
use super::freshclam::{self, FreshclamConf};
use super::timetext::ctime_ms;
use super::{cancelled, detections, AvEngine};
use crate::probe::fsutil::{mtime_ms, read_bounded, resolve_in_root, unix_path};
use crate::probe::{ProbeCx, ProbeError};

const MAX_CONF_BYTES: u64 = 256 * 1024;
/// Tail of freshclam's log read: a few weeks of hourly runs.
const MAX_FRESHCLAM_LOG_BYTES: u64 = 1024 * 1024;
/// Tail of clamd's log read for detections.
const MAX_CLAMD_LOG_BYTES: u64 = 4 * 1024 * 1024;
/// Directory entries looked at in the database directory.
const MAX_DB_ENTRIES: usize = 1000;
/// Databases reported.
const MAX_DATABASES: usize = 64;
/// Processes looked at for `clamonacc`.
const MAX_PROCESSES: usize = 100_000;
const MAX_PROBLEMS: usize = 50;
const DEFAULT_DATABASE_DIR: &str = "/var/lib/clamav";
/// Where ClamAV's programs live in Debian, Ubuntu and RHEL packages, and in source builds.
const BINARIES: &[&str] = &[
    "/usr/sbin/clamd",
    "/usr/bin/clamscan",
    "/usr/bin/clamdscan",
    "/usr/local/sbin/clamd",
    "/usr/local/bin/clamscan",
];
/// Database file extensions clamd loads (signatures/signature-database docs), headerless ones included.
const DB_EXTENSIONS: &[&str] = &[
    "cvd", "cld", "cud", "hdb", "hsb", "hdu", "hsu", "mdb", "msb", "mdu", "msu", "ndb", "ndu",
    "ldb", "ldu", "idb", "cdb", "cbc", "pdb", "gdb", "wdb", "fp", "sfp", "ign", "ign2", "ftm",
    "yar", "yara", "cat", "crb", "imp",
];

/// ClamAV as configured in `[probes.antivirus]`.
#[derive(Debug, Clone)]
pub(super) struct ClamAv {
    pub(super) clamd_conf: PathBuf,
    pub(super) freshclam_conf: PathBuf,
    pub(super) database_dir: Option<PathBuf>,
    pub(super) freshclam_log: Option<PathBuf>,
    pub(super) socket_timeout: Duration,
    pub(super) window_ms: i64,
    pub(super) max_detections: usize,
}

#[async_trait]
impl AvEngine for ClamAv {
    fn product(&self) -> &'static str {
        "clamav"
    }

    async fn observe(&self, cx: &ProbeCx) -> Result<Option<AntivirusEngine>, ProbeError> {
        let me = self.clone();
        let files_cx = cx.clone();
        let read = tokio::task::spawn_blocking(move || me.read_files(&files_cx))
            .await
            .map_err(|e| cancelled(&e))?;
        let Some((mut engine, endpoint)) = read else {
            return Ok(None);
        };
        if cx.is_live_root() {
            engine.running_checked = true;
            if let Some(endpoint) = endpoint {
                self.contact(&mut engine, &endpoint).await;
            }
        } else if let Some(d) = engine.daemon.as_mut() {
            d.error = format!(
                "clamd not contacted: the probe reads a mounted tree ({}), not the running host",
                cx.root.display()
            );
        }
        engine.problems.truncate(MAX_PROBLEMS);
        Ok(Some(engine))
    }
}

impl ClamAv {
    /// PING, then VERSION; fills `running`, the daemon, the engine version and the loaded database.
    async fn contact(&self, engine: &mut AntivirusEngine, endpoint: &Endpoint) {
        let mut daemon = engine.daemon.take().unwrap_or_default();
        match clamd::ping(endpoint, self.socket_timeout).await {
            Err(e) => daemon.error = e.to_string(),
            Ok(()) => {
                daemon.ping_answered = true;
                engine.running = true;
                match clamd::query(endpoint, "VERSION", self.socket_timeout).await {
                    Err(e) => daemon.error = e.to_string(),
                    Ok(text) => {
                        daemon.version_text = text.chars().take(200).collect();
                        match clamd::parse_version(&text) {
                            None => {
                                daemon.error = "clamd's VERSION answer is not understood".into()
                            }
                            Some(v) => {
                                engine.engine_version = v.engine;
                                if let Some(version) = v.db_version {
                                    engine.loaded_signature_version = format!("daily {version}");
                                    // The disk header is exact when it is the same database; the
                                    // answer's ctime is local time read as UTC.
                                    let on_disk = engine
                                        .databases
                                        .iter()
                                        .filter(|d| d.name == "daily" && d.version == version)
                                        .map(|d| d.built_ms)
                                        .max();
                                    engine.loaded_signature_built_ms = on_disk
                                        .or_else(|| v.db_time_text.as_deref().and_then(ctime_ms))
                                        .unwrap_or(0);
                                }
                            }
                        }
                    }
                }
            }
        }
        engine.daemon = Some(daemon);
    }

    /// Everything read from files, and where clamd listens. `None` when ClamAV is not installed.
    fn read_files(&self, cx: &ProbeCx) -> Option<(AntivirusEngine, Option<Endpoint>)> {
        let root = &cx.root;
        let mut problems = Vec::new();
        let mut sources = Vec::new();
        let clamd_conf = read_conf(root, &self.clamd_conf, &mut problems, &mut sources)
            .map(|t| ClamdConf::from_text(&t));
        let fresh_conf = read_conf(root, &self.freshclam_conf, &mut problems, &mut sources)
            .map(|t| FreshclamConf::from_text(&t));
        let binary = BINARIES.iter().any(|b| resolve_in_root(root, b).is_file());

        let db_dir = self
            .database_dir
            .as_ref()
            .map(|p| p.to_string_lossy().into_owned())
            .or_else(|| clamd_conf.as_ref().and_then(|c| c.database_dir.clone()))
            .or_else(|| fresh_conf.as_ref().and_then(|c| c.database_dir.clone()))
            .unwrap_or_else(|| DEFAULT_DATABASE_DIR.to_owned());
        let databases = read_databases(root, &db_dir, &mut problems);
        if clamd_conf.is_none() && fresh_conf.is_none() && !binary && databases.is_empty() {
            return None;
        }
        sources.push(file_source(&db_dir));

        let mut engine = AntivirusEngine {
            product: self.product().to_owned(),
            installed: true,
            ..Default::default()
        };
        if let Some(newest) = databases
            .iter()
            .filter(|d| (d.name == "daily" || d.name == "main") && d.built_ms > 0)
            .max_by_key(|d| d.built_ms)
        {
            engine.signature_built_ms = newest.built_ms;
            engine.signature_version = format!("{} {}", newest.name, newest.version);
        } else if !databases.is_empty() {
            problems.push(format!(
                "no daily or main database with a readable header in {db_dir}"
            ));
        }
        engine.databases = databases;

        let mut endpoint = None;
        if let Some(conf) = &clamd_conf {
            problems.extend(conf.problems.iter().cloned());
            if conf.example {
                problems.push(
                    "clamd.conf still holds its `Example` line: clamd refuses to start".to_owned(),
                );
            }
            endpoint = conf.endpoint().map(|e| match e {
                Endpoint::Unix(p) => Endpoint::Unix(resolve_in_root(root, &p.to_string_lossy())),
                tcp => tcp,
            });
            let address = conf.endpoint().map(|e| e.to_string()).unwrap_or_default();
            let error = if address.is_empty() {
                "clamd.conf sets no LocalSocket and no usable TCPSocket".to_owned()
            } else {
                String::new()
            };
            engine.daemon = Some(AntivirusDaemon {
                address,
                error,
                ..Default::default()
            });
        } else {
            engine.daemon = Some(AntivirusDaemon {
                error: format!(
                    "{} is absent: clamd is not set up",
                    self.clamd_conf.display()
                ),
                ..Default::default()
            });
        }

        engine.update = Some(self.update(cx, fresh_conf.as_ref(), &db_dir, &mut problems));
        engine.on_access = Some(on_access(cx, clamd_conf.as_ref(), &mut problems));

        let since = cx.now_ms.saturating_sub(self.window_ms);
        engine.detections_since_ms = since;
        if let Some(log) = clamd_conf.as_ref().and_then(|c| c.log_file.clone()) {
            let path = resolve_in_root(root, &log);
            match read_tail(&path, MAX_CLAMD_LOG_BYTES) {
                Ok((bytes, mtime)) => {
                    let recent = mtime.is_some_and(|m| m >= since);
                    let found = detections::parse_log(&bytes, since, recent, self.max_detections);
                    engine.detections = found.detections;
                    engine.detections_omitted = found.omitted;
                    sources.push(file_source(&log));
                }
                Err(e) => problems.push(format!("reading clamd log {log}: {e}")),
            }
        } else if clamd_conf.is_some() {
            problems.push(
                "clamd.conf sets no LogFile: detections cannot be read (syslog is not read)"
                    .to_owned(),
            );
        }
        problems.truncate(MAX_PROBLEMS);
        engine.problems = problems;
        engine.sources = sources;
        Some((engine, endpoint))
    }

    fn update(
        &self,
        cx: &ProbeCx,
        conf: Option<&FreshclamConf>,
        db_dir: &str,
        problems: &mut Vec<String>,
    ) -> SignatureUpdate {
        let mut update = SignatureUpdate {
            tool: "freshclam".to_owned(),
            ..Default::default()
        };
        let dat = format!("{}/freshclam.dat", db_dir.trim_end_matches('/'));
        if let Ok(meta) = std::fs::metadata(resolve_in_root(&cx.root, &dat)) {
            update.state_file_mtime_ms = mtime_ms(&meta).unwrap_or(0);
        }
        let log = self
            .freshclam_log
            .as_ref()
            .map(|p| p.to_string_lossy().into_owned())
            .or_else(|| conf.and_then(|c| c.update_log_file.clone()));
        let Some(log) = log else {
            if conf.is_some() {
                problems.push("freshclam.conf sets no UpdateLogFile: last update unknown".into());
            }
            return update;
        };
        match read_tail(&resolve_in_root(&cx.root, &log), MAX_FRESHCLAM_LOG_BYTES) {
            Ok((bytes, _)) => {
                let parsed = freshclam::parse_log(&String::from_utf8_lossy(&bytes));
                update.last_attempt_ms = parsed.last_attempt_ms;
                update.last_success_ms = parsed.last_success_ms;
                update.last_warning = parsed.last_warning;
                update.last_warning_ms = parsed.last_warning_ms;
                update.source = Some(file_source(&log));
            }
            Err(e) => problems.push(format!("reading freshclam log {log}: {e}")),
        }
        update
    }
}

/// Reads a configuration file; absent is `None` silently (the caller decides what absence means).
fn read_conf(
    root: &Path,
    path: &Path,
    problems: &mut Vec<String>,
    sources: &mut Vec<Source>,
) -> Option<String> {
    let host = path.to_string_lossy();
    match read_bounded(&resolve_in_root(root, &host), MAX_CONF_BYTES) {
        Ok(bytes) => {
            sources.push(file_source(&host));
            Some(String::from_utf8_lossy(&bytes).into_owned())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            problems.push(format!("reading {host}: {e}"));
            None
        }
    }
}

/// Every database file of `dir`, sorted by file name, with its header when it has one.
fn read_databases(root: &Path, dir: &str, problems: &mut Vec<String>) -> Vec<SignatureDatabase> {
    let resolved = resolve_in_root(root, dir);
    let entries = match std::fs::read_dir(&resolved) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Vec::new(),
        Err(e) => {
            problems.push(format!("listing {dir}: {e}"));
            return Vec::new();
        }
    };
    let mut files: Vec<PathBuf> = entries
        .take(MAX_DB_ENTRIES)
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| DB_EXTENSIONS.contains(&e))
        })
        .collect();
    files.sort();
    files.truncate(MAX_DATABASES);
    files.iter().map(|p| database(p)).collect()
}

fn database(path: &Path) -> SignatureDatabase {
    let format = path
        .extension()
        .map(|e| e.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut db = SignatureDatabase {
        name: path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default(),
        file: Some(unix_path(path)),
        format: format.clone(),
        ..Default::default()
    };
    if format != "cvd" && format != "cld" {
        return db;
    }
    let header = read_bounded(path, HEADER_LEN as u64)
        .map_err(|e| e.to_string())
        .and_then(|bytes| cvd::parse_header(&bytes).map_err(|e| e.to_string()));
    match header {
        Ok(h) => {
            db.version = h.version;
            db.signatures = h.signatures;
            db.functionality_level = h.functionality_level;
            db.built_ms = h.built_ms;
            db.builder = h.builder;
        }
        Err(e) => db.error = e,
    }
    db
}

fn on_access(
    cx: &ProbeCx,
    conf: Option<&ClamdConf>,
    problems: &mut Vec<String>,
) -> OnAccessScanning {
    let mut scanning = OnAccessScanning::default();
    if let Some(conf) = conf {
        scanning.configured =
            !conf.on_access_include.is_empty() || !conf.on_access_mount.is_empty();
        scanning.include_paths = conf
            .on_access_include
            .iter()
            .chain(&conf.on_access_mount)
            .map(|p| unix_path(Path::new(p)))
            .collect();
    }
    if cx.is_live_root() {
        match process_running("clamonacc") {
            Ok(running) => {
                scanning.process_checked = true;
                scanning.process_running = running;
            }
            Err(e) => problems.push(format!("listing /proc: {e}")),
        }
        scanning.enabled = scanning.configured && scanning.process_running;
    } else {
        // A mounted tree runs no process: the configuration is all there is to go on.
        scanning.enabled = scanning.configured;
    }
    scanning
}

/// Whether a process whose `comm` is `name` runs on this host (`/proc/<pid>/comm`, readable by all).
fn process_running(name: &str) -> std::io::Result<bool> {
    for entry in std::fs::read_dir("/proc")?.take(MAX_PROCESSES).flatten() {
        let file_name = entry.file_name();
        if !file_name.as_encoded_bytes().iter().all(u8::is_ascii_digit) {
            continue;
        }
        if let Ok(comm) = read_bounded(&entry.path().join("comm"), 64) {
            if comm.strip_suffix(b"\n").unwrap_or(&comm) == name.as_bytes() {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// The last `max` bytes of a log (from its first whole line) and its mtime.
fn read_tail(path: &Path, max: u64) -> std::io::Result<(Vec<u8>, Option<i64>)> {
    let mut file = std::fs::File::open(path)?;
    let meta = file.metadata()?;
    let len = meta.len();
    let start = len.saturating_sub(max);
    file.seek(SeekFrom::Start(start))?;
    let mut buf = Vec::new();
    file.take(max).read_to_end(&mut buf)?;
    if start > 0 {
        // Drop the partial first line.
        let cut = buf
            .iter()
            .position(|b| *b == b'\n')
            .map_or(buf.len(), |i| i + 1);
        buf.drain(..cut);
    }
    Ok((buf, mtime_ms(&meta)))
}

fn file_source(host_path: &str) -> Source {
    Source {
        kind: "file".to_owned(),
        locator: host_path.to_owned(),
    }
}
