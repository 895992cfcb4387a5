//! `[probes.fim]`: the watched paths (recursion, per-path exclude globs), schedules, politeness and
//! bounds of file integrity monitoring, with defaults for a Debian server, and their compiled form.
//!
//! A watched path may hold `*`, `?` or `[...]` in its components (e.g. `/home/*/.ssh/authorized_keys`);
//! it is expanded at every scan, so a new home is picked up. Excludes are globs over the whole logical
//! path, matched on its bytes (`*` does not cross `/`; `**` does).

use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use serde::{Deserialize, Serialize};

use crate::probe::ConfigError;

/// One watched path.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WatchPath {
    /// Absolute logical path (as the host sees it), possibly with glob characters in components.
    pub path: PathBuf,
    /// Everything below (true) or the path and, for a directory, its direct entries only.
    #[serde(default = "yes")]
    pub recursive: bool,
    /// Globs of logical paths to leave out, e.g. `/etc/mtab` or `**/*.swp`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<String>,
}

fn yes() -> bool {
    true
}

fn watch(path: &str, recursive: bool, exclude: &[&str]) -> WatchPath {
    WatchPath {
        path: PathBuf::from(path),
        recursive,
        exclude: exclude.iter().map(|s| (*s).to_owned()).collect(),
    }
}

/// `[probes.fim]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct FimConfig {
    /// Whether file integrity monitoring runs (baseline, realtime, rescans, status probe).
    pub enabled: bool,
    /// Watched paths.
    pub paths: Vec<WatchPath>,
    /// Watch changes as they happen (inotify). Off: the periodic rescan alone finds them.
    pub realtime: bool,
    /// Quiet time gathering realtime changes before they are compared (milliseconds, 10 to 10,000).
    pub debounce_ms: u64,
    /// Seconds between metadata rescans of every watched path (60 to 86,400).
    pub rescan_interval_secs: u64,
    /// Seconds between full re-hashes of every watched file (3,600 to 2,678,400).
    pub full_rehash_interval_secs: u64,
    /// Seconds between baseline digest syncs to the collector (60 to 604,800).
    pub digest_sync_interval_secs: u64,
    /// First baseline and full re-hashes on every core at normal priority. Off (the default), they
    /// run on one thread with idle I/O priority and a lower CPU priority.
    pub full_speed: bool,
    /// Most events in one report (1 to 5,000).
    pub max_events_per_report: usize,
    /// FIM reports allowed in the outbox at once; past that, changes wait and coalesce per path
    /// (1 to 64).
    pub max_reports_in_outbox: usize,
    /// Events one path may produce per hour before further changes of it are folded into one, sent
    /// when the hour ends (1 to 3,600).
    pub max_events_per_path_per_hour: u32,
    /// Where dpkg keeps its database, under the root (package-verified changes).
    pub dpkg_admin_dir: PathBuf,
    /// Seconds after dpkg's last database write during which it still counts as busy (0 to 3,600).
    pub dpkg_busy_grace_secs: u64,
    /// Root under which the logical paths live (`/` on a live host; a mounted tree in tests).
    pub root: PathBuf,
    /// Globs of files whose content changes come with a unified diff (opt-in: empty, the default,
    /// diffs nothing). Secret-looking values are masked before any copy is kept or sent; see
    /// `redact.rs`. Globs covering `/etc/shadow` and its kin are refused.
    pub diff_paths: Vec<String>,
    /// Largest file, in bytes, whose content is diffed (1 to 1,048,576).
    pub diff_max_bytes: u64,
    /// `check --state-dir`: where the status probe reads the running agent's status (never writes).
    #[serde(skip)]
    pub status_read_dir: Option<PathBuf>,
}

impl Default for FimConfig {
    fn default() -> Self {
        FimConfig {
            enabled: true,
            paths: vec![
                watch(
                    "/etc",
                    true,
                    &["/etc/mtab", "/etc/adjtime", "/etc/ld.so.cache"],
                ),
                watch("/usr/bin", true, &[]),
                watch("/usr/sbin", true, &[]),
                watch("/usr/local", true, &[]),
                watch("/boot", true, &[]),
                watch("/root/.ssh", true, &[]),
                watch("/home/*/.ssh/authorized_keys", false, &[]),
                watch("/usr/lib/systemd/system", true, &[]),
                watch("/var/spool/cron/crontabs", true, &[]),
            ],
            realtime: true,
            debounce_ms: 200,
            rescan_interval_secs: 3_600,
            full_rehash_interval_secs: 7 * 86_400,
            digest_sync_interval_secs: 3_600,
            full_speed: false,
            max_events_per_report: 2_000,
            max_reports_in_outbox: 4,
            max_events_per_path_per_hour: 60,
            dpkg_admin_dir: PathBuf::from("/var/lib/dpkg"),
            dpkg_busy_grace_secs: 120,
            root: PathBuf::from("/"),
            diff_paths: Vec::new(),
            diff_max_bytes: 64 * 1024,
            status_read_dir: None,
        }
    }
}

/// A watched path, compiled.
#[derive(Debug, Clone)]
pub struct Watch {
    /// Logical path bytes, normalised (no trailing `/`, no `.` or `..`).
    pub path: Vec<u8>,
    pub recursive: bool,
    /// Components that are globs, with their matcher (index into the path's components).
    pub pattern: bool,
    pub exclude: GlobSet,
}

impl FimConfig {
    /// Checks the settings and compiles the watched paths.
    pub fn compile(&self) -> Result<Vec<Watch>, ConfigError> {
        let invalid = |key: &'static str, reason: String| ConfigError::Invalid {
            probe: "fim",
            key,
            reason,
        };
        let ranges: [(&'static str, u64, u64, u64); 8] = [
            ("debounce_ms", self.debounce_ms, 10, 10_000),
            (
                "rescan_interval_secs",
                self.rescan_interval_secs,
                60,
                86_400,
            ),
            (
                "full_rehash_interval_secs",
                self.full_rehash_interval_secs,
                3_600,
                2_678_400,
            ),
            (
                "digest_sync_interval_secs",
                self.digest_sync_interval_secs,
                60,
                604_800,
            ),
            (
                "max_events_per_report",
                self.max_events_per_report as u64,
                1,
                5_000,
            ),
            (
                "max_reports_in_outbox",
                self.max_reports_in_outbox as u64,
                1,
                64,
            ),
            (
                "max_events_per_path_per_hour",
                u64::from(self.max_events_per_path_per_hour),
                1,
                3_600,
            ),
            ("dpkg_busy_grace_secs", self.dpkg_busy_grace_secs, 0, 3_600),
        ];
        for (key, v, lo, hi) in ranges {
            if !(lo..=hi).contains(&v) {
                return Err(invalid(key, format!("{v} is outside {lo}..={hi}")));
            }
        }
        for (key, p) in [
            ("root", &self.root),
            ("dpkg_admin_dir", &self.dpkg_admin_dir),
        ] {
            if !p.is_absolute() {
                return Err(invalid(key, format!("{} is not absolute", p.display())));
            }
        }
        super::diff::Allowlist::compile(self)?;
        let mut out = Vec::new();
        for w in &self.paths {
            let raw = w.path.as_os_str().as_bytes();
            let Some(path) = normalise(raw) else {
                return Err(invalid(
                    "paths",
                    format!("{} is not an absolute path without `..`", w.path.display()),
                ));
            };
            if path == b"/" {
                return Err(invalid(
                    "paths",
                    "watching / whole is refused (it holds /proc and /sys): name the directories"
                        .to_owned(),
                ));
            }
            let mut set = GlobSetBuilder::new();
            for g in &w.exclude {
                let glob = GlobBuilder::new(g)
                    .literal_separator(true)
                    .backslash_escape(true)
                    .build()
                    .map_err(|e| invalid("paths.exclude", format!("{g}: {e}")))?;
                set.add(glob);
            }
            let exclude = set
                .build()
                .map_err(|e| invalid("paths.exclude", e.to_string()))?;
            let pattern = path.iter().any(|b| matches!(b, b'*' | b'?' | b'['));
            out.push(Watch {
                path,
                recursive: w.recursive,
                pattern,
                exclude,
            });
        }
        Ok(out)
    }
}

/// `/a//b/./c/` → `/a/b/c`; `None` for a relative path or one with `..`.
pub fn normalise(raw: &[u8]) -> Option<Vec<u8>> {
    if raw.first() != Some(&b'/') {
        return None;
    }
    let mut out = Vec::with_capacity(raw.len());
    for comp in raw.split(|&b| b == b'/') {
        match comp {
            b"" | b"." => {}
            b".." => return None,
            c => {
                out.push(b'/');
                out.extend_from_slice(c);
            }
        }
    }
    if out.is_empty() {
        out.push(b'/');
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_compile_and_bad_values_are_named() {
        let watches = FimConfig::default().compile().unwrap();
        assert!(watches.iter().any(|w| w.path == b"/etc"));
        assert!(watches.iter().any(|w| w.pattern && !w.recursive));
        let cfg: FimConfig = toml::from_str(
            "debounce_ms = 5\n[[paths]]\npath = \"/srv\"\nexclude = [\"**/*.tmp\"]\n",
        )
        .unwrap();
        let err = cfg.compile().unwrap_err().to_string();
        assert!(err.contains("fim") && err.contains("debounce_ms"), "{err}");
        let cfg: FimConfig = toml::from_str("[[paths]]\npath = \"srv\"\n").unwrap();
        assert!(cfg.compile().is_err());
        let cfg: FimConfig = toml::from_str("[[paths]]\npath = \"/srv/../etc\"\n").unwrap();
        assert!(cfg.compile().is_err());
        let cfg: FimConfig =
            toml::from_str("[[paths]]\npath = \"/srv\"\nexclude = [\"[\"]\n").unwrap();
        assert!(cfg.compile().is_err());
        assert!(toml::from_str::<FimConfig>("colour = 1\n").is_err());
    }

    #[test]
    fn normalise_cleans_paths() {
        assert_eq!(normalise(b"/a//b/./c/").unwrap(), b"/a/b/c");
        assert_eq!(normalise(b"/").unwrap(), b"/");
        assert_eq!(normalise(b"/a/../b"), None);
        assert_eq!(normalise(b"a"), None);
    }
}
