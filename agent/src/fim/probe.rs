//! The `fim.status` probe: with every probe cycle, the state of file integrity monitoring as the
//! monitor's thread last wrote it (watched paths, baseline progress, realtime health, counters). It
//! only reads the status file; it never opens the monitor's store (`check` may run beside the
//! agent). With no status file (the monitor never ran, or `check` without `--state-dir`), it says so
//! and lists which watched paths exist.

use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use vigie_proto::v1::domain_state::State;
use vigie_proto::v1::file_integrity::Part;
use vigie_proto::v1::{BaselineStatus, Domain, FileIntegrity, FimNotice, WatchedPath};
use vigie_proto::Message;

use super::config::FimConfig;
use super::record::wire_path;
use super::walk::Cover;
use super::STATUS_FILE;
use crate::probe::{ConfigError, Probe, ProbeCx, ProbeError};

const PROBE_ID: &str = "fim.status";
/// A status file older than this while the agent runs means the monitor's thread is stuck or gone.
const STALLED_AFTER: Duration = Duration::from_secs(15 * 60);

impl FimConfig {
    /// Validates the settings and builds the status probe.
    pub fn build(&self) -> Result<Box<dyn Probe>, ConfigError> {
        self.compile()?;
        Ok(Box::new(StatusProbe { cfg: self.clone() }))
    }
}

#[derive(Debug)]
struct StatusProbe {
    cfg: FimConfig,
}

#[async_trait]
impl Probe for StatusProbe {
    fn id(&self) -> &'static str {
        PROBE_ID
    }

    fn domain(&self) -> Domain {
        Domain::FileIntegrity
    }

    async fn collect(&self, cx: &ProbeCx) -> Result<State, ProbeError> {
        let live = cx.state_dir.is_some();
        let dir = cx
            .state_dir
            .clone()
            .or_else(|| self.cfg.status_read_dir.clone());
        let root = if self.cfg.root == std::path::Path::new("/") {
            cx.root.clone()
        } else {
            self.cfg.root.clone()
        };
        Ok(State::FileIntegrity(status(
            &self.cfg, &root, dir, live, cx.now_ms,
        )))
    }
}

fn status(
    cfg: &FimConfig,
    root: &std::path::Path,
    dir: Option<PathBuf>,
    live: bool,
    now_ms: i64,
) -> FileIntegrity {
    if let Some(dir) = dir {
        let path = dir.join("fim").join(STATUS_FILE);
        if let Ok(bytes) = std::fs::read(&path) {
            if let Ok(mut fi) = FileIntegrity::decode(bytes.as_slice()) {
                fi.part = Part::Status as i32;
                fi.events.clear();
                fi.baseline_digests.clear();
                fi.collector_view = None;
                let age = std::fs::metadata(&path)
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| SystemTime::now().duration_since(t).ok());
                if live && age.is_some_and(|a| a > STALLED_AFTER) {
                    fi.realtime = false;
                    fi.notices.push(FimNotice {
                        at_ms: now_ms,
                        kind: "monitor-stalled".into(),
                        detail: format!(
                            "the file-integrity monitor has not written its status for {} min",
                            age.map_or(0, |a| a.as_secs() / 60)
                        ),
                    });
                }
                return fi;
            }
        }
    }
    // No monitor state: say which watched paths exist.
    let watched = match cfg.compile() {
        Ok(watches) => {
            let cover = Cover::new(root, &watches);
            cover
                .roots()
                .map(|(p, recursive)| WatchedPath {
                    path: Some(wire_path(p)),
                    recursive,
                    state: if std::fs::symlink_metadata(cover.phys(p)).is_ok() {
                        "present".into()
                    } else {
                        "missing".into()
                    },
                    error: String::new(),
                    entries: 0,
                })
                .collect()
        }
        Err(_) => cfg
            .paths
            .iter()
            .map(|w| WatchedPath {
                path: Some(wire_path(w.path.as_os_str().as_bytes())),
                recursive: w.recursive,
                state: "error".into(),
                error: "invalid configuration".into(),
                entries: 0,
            })
            .collect(),
    };
    FileIntegrity {
        part: Part::Status as i32,
        watched,
        baseline: Some(BaselineStatus {
            state: "absent".into(),
            ..BaselineStatus::default()
        }),
        ..FileIntegrity::default()
    }
}

/// One French line for `vigie-agent check`.
pub fn summary_fr(f: &FileIntegrity) -> String {
    let b = f.baseline.clone().unwrap_or_default();
    let watched = f.watched.len();
    let missing = f.watched.iter().filter(|w| w.state == "missing").count();
    let base = match b.state.as_str() {
        "complete" => format!(
            "base de référence de {} entrées ({} illisibles)",
            b.entries, b.unreadable
        ),
        "building" => format!("base de référence en construction ({} entrées)", b.entries),
        _ => "aucune base de référence (l'agent ne tourne pas ou --state-dir absent)".to_owned(),
    };
    let mut line = format!(
        "{watched} chemins surveillés dont {missing} absents; {base}; temps réel: {}",
        if f.realtime { "oui" } else { "non" }
    );
    if f.pending_events > 0 {
        line.push_str(&format!(
            "; {} changements en attente d'envoi",
            f.pending_events
        ));
    }
    if f.overflows > 0 {
        line.push_str(&format!(
            "; {} débordements de file suivis d'un contrôle complet",
            f.overflows
        ));
    }
    if f.watch_limit_reached {
        line.push_str("; limite inotify atteinte");
    }
    line
}
