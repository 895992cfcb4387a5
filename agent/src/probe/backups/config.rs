//! `[probes.backups]`: the backup jobs declared by the operator, parsed strictly and validated once
//! into `Job`s. The config names where each job's secret is read from (a file or a command), never
//! the secret itself. Not here: reading any evidence.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::probe::ConfigError;

/// Jobs in one agent config; each costs one tool run per cycle.
const MAX_JOBS: usize = 64;
const MAX_DESTINATIONS: usize = 16;
const MAX_PATHS: usize = 16;
const MAX_NAME_CHARS: usize = 64;
/// Tool runs (restic, borg, systemctl) are killed after this by default.
const DEFAULT_TIMEOUT_SECS: u64 = 120;

/// `[probes.backups]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct BackupsConfig {
    /// Whether the backups probe runs. It reports nothing but push-record problems when no job is
    /// declared.
    pub enabled: bool,
    /// Each tool run (restic, borg, systemctl) is killed after this many seconds (1 to 3600).
    pub timeout_secs: u64,
    /// Absolute path of restic.
    pub restic_path: PathBuf,
    /// Absolute path of borg.
    pub borg_path: PathBuf,
    /// Absolute path of systemctl.
    pub systemctl_path: PathBuf,
    /// The declared jobs, `[[probes.backups.jobs]]`.
    pub jobs: Vec<JobConfig>,
    /// Not a config key: where a read-only run (`check`) reads push records, normally the agent's
    /// state directory. Set by the CLI.
    #[serde(skip)]
    pub state_read_dir: Option<PathBuf>,
}

impl Default for BackupsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            timeout_secs: DEFAULT_TIMEOUT_SECS,
            restic_path: PathBuf::from("/usr/bin/restic"),
            borg_path: PathBuf::from("/usr/bin/borg"),
            systemctl_path: PathBuf::from("/usr/bin/systemctl"),
            jobs: Vec::new(),
            state_read_dir: None,
        }
    }
}

/// `[[probes.backups.jobs]]`: one backup job.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct JobConfig {
    /// Unique name; `backup-done --job NAME` refers to it. Letters, digits, `.`, `_`, `-`.
    pub name: String,
    /// `restic`, `borg`, `push`, `freshness`, `systemd`, `rsnapshot`, `vzdump` (Proxmox VE task
    /// logs) or `pbs` (Proxmox Backup Server task logs).
    pub tool: String,
    /// restic or borg repository, exactly as the job passes it to the tool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    /// File holding the repository password (restic `RESTIC_PASSWORD_FILE`; borg reads it with
    /// `cat`). Readable by the agent. Exclusive with `password_command`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_file: Option<PathBuf>,
    /// Command printing the password, as an argv list (no shell); the first item is absolute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_command: Option<Vec<String>>,
    /// Expected time between successes, e.g. `1d`, `26h`, `1week`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_period: Option<String>,
    /// Extra time after `expected_period` before the job is down, e.g. `2h`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grace: Option<String>,
    /// Where the backups are kept.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub destinations: Vec<DestinationConfig>,
    /// restic: file where the job keeps the output of `restic backup --json` (its last
    /// `summary` or `exit_error` line dates and sizes the last run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_file: Option<PathBuf>,
    /// freshness: files or directories whose newest mtime is the last success.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub paths: Vec<PathBuf>,
    /// systemd: the service unit running the backup, e.g. `backup.service`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// borg: the security directory of the user who runs the backup (`BORG_SECURITY_DIR`, by
    /// default `~/.config/borg/security`); its `<repository id>/manifest-timestamp` dates the last
    /// write that user's borg saw. Readable by the agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub borg_security_dir: Option<PathBuf>,
    /// borg, keyfile mode (`borg init -e keyfile…`): the keys directory of the user who runs the
    /// backup (`BORG_KEYS_DIR`, by default `~/.config/borg/keys`), where borg finds the repository's
    /// key. Readable by the agent; it must exist (borg would create it otherwise). Not needed for
    /// repokey repositories, whose key is in the repository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub borg_keys_dir: Option<PathBuf>,
    /// borg: borgmatic's check stamps of the user who runs it (borgmatic >= 1.7,
    /// `~/.borgmatic/checks`): `<hash>/repository`, `archives`, `data` date the last integrity check,
    /// `extract` the last extract check (a restore test).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub borgmatic_checks_dir: Option<PathBuf>,
    /// rsnapshot: its log file (`logfile` in rsnapshot.conf), e.g. `/var/log/rsnapshot.log`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_file: Option<PathBuf>,
    /// vzdump, pbs: the task directory, by default `/var/log/pve/tasks` (Proxmox VE) or
    /// `/var/log/proxmox-backup/tasks` (Proxmox Backup Server).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_dir: Option<PathBuf>,
    /// pbs: the datastore whose backup and verification tasks are this job's (required).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datastore: Option<String>,
    /// pbs: only the backups of this group of the datastore, e.g. `vm/100`, `ct/101`, `host/srv`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_group: Option<String>,
}

/// `[[probes.backups.jobs.destinations]]`: all declared, none inferred.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DestinationConfig {
    /// Unique within the job.
    pub name: String,
    /// `local_disk`, `removable`, `nas_lan`, `ssh_remote`, `object_storage`, `pbs`, `tape`, `saas`…
    pub kind: String,
    /// Path, host or bucket. Equal to the job's repository (or one of its paths) when the agent
    /// observes this destination itself.
    pub locator: String,
    /// Site, e.g. `mairie`, `datacenter OPSN`, `cloud`.
    pub site: String,
    /// This copy is kept offline (rotated disk, tape).
    #[serde(default)]
    pub offline: bool,
    /// This copy cannot be altered from the host (append-only, object lock).
    #[serde(default)]
    pub immutable: bool,
}

/// The tools a job may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    Restic,
    Borg,
    Push,
    Freshness,
    Systemd,
    Rsnapshot,
    Vzdump,
    Pbs,
}

impl Tool {
    pub fn as_str(self) -> &'static str {
        match self {
            Tool::Restic => "restic",
            Tool::Borg => "borg",
            Tool::Push => "push",
            Tool::Freshness => "freshness",
            Tool::Systemd => "systemd",
            Tool::Rsnapshot => "rsnapshot",
            Tool::Vzdump => "vzdump",
            Tool::Pbs => "pbs",
        }
    }
}

/// Where a job's secret comes from. Never the secret itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Secret {
    File(PathBuf),
    Command(Vec<String>),
}

/// A validated job.
#[derive(Debug, Clone)]
pub struct Job {
    pub name: String,
    pub tool: Tool,
    pub repository: Option<String>,
    pub secret: Option<Secret>,
    pub expected_period_secs: u64,
    pub grace_secs: u64,
    pub destinations: Vec<DestinationConfig>,
    pub status_file: Option<PathBuf>,
    pub paths: Vec<PathBuf>,
    pub unit: Option<String>,
    pub borg_security_dir: Option<PathBuf>,
    pub borg_keys_dir: Option<PathBuf>,
    pub borgmatic_checks_dir: Option<PathBuf>,
    pub log_file: Option<PathBuf>,
    pub task_dir: Option<PathBuf>,
    pub datastore: Option<String>,
    pub backup_group: Option<String>,
}

/// Validated settings of the whole probe.
#[derive(Debug, Clone)]
pub struct Settings {
    pub timeout: Duration,
    pub restic: PathBuf,
    pub borg: PathBuf,
    pub systemctl: PathBuf,
    pub jobs: Vec<Job>,
    pub state_read_dir: Option<PathBuf>,
}

/// Whether `name` is a valid job or destination name (also safe in a file name).
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.chars().count() <= MAX_NAME_CHARS
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        && !name.starts_with('.')
}

impl BackupsConfig {
    /// Validates every setting; the first problem is returned with its full key path.
    pub fn settings(&self) -> Result<Settings, ConfigError> {
        let bad = |key: String, reason: String| ConfigError::InvalidKey {
            key: format!("probes.backups.{key}"),
            reason,
        };
        if !(1..=3600).contains(&self.timeout_secs) {
            return Err(bad(
                "timeout_secs".into(),
                format!("{} is outside 1..=3600", self.timeout_secs),
            ));
        }
        for (key, path) in [
            ("restic_path", &self.restic_path),
            ("borg_path", &self.borg_path),
            ("systemctl_path", &self.systemctl_path),
        ] {
            if !path.is_absolute() {
                return Err(bad(
                    key.into(),
                    format!("{} is not an absolute path", path.display()),
                ));
            }
        }
        if self.jobs.len() > MAX_JOBS {
            return Err(bad(
                "jobs".into(),
                format!("{} jobs declared, at most {MAX_JOBS}", self.jobs.len()),
            ));
        }
        let mut jobs: Vec<Job> = Vec::new();
        for (i, raw) in self.jobs.iter().enumerate() {
            let job = raw
                .validate()
                .map_err(|(key, reason)| bad(format!("jobs[{i}].{key}"), reason))?;
            if jobs.iter().any(|j| j.name == job.name) {
                return Err(bad(
                    format!("jobs[{i}].name"),
                    format!("{:?} is declared twice", job.name),
                ));
            }
            jobs.push(job);
        }
        Ok(Settings {
            timeout: Duration::from_secs(self.timeout_secs),
            restic: self.restic_path.clone(),
            borg: self.borg_path.clone(),
            systemctl: self.systemctl_path.clone(),
            jobs,
            state_read_dir: self.state_read_dir.clone(),
        })
    }
}

type KeyError = (&'static str, String);

fn need<'a, T>(value: &'a Option<T>, key: &'static str, tool: &str) -> Result<&'a T, KeyError> {
    value
        .as_ref()
        .ok_or_else(|| (key, format!("required for tool {tool:?}")))
}

fn refuse<T>(value: &Option<T>, key: &'static str, tool: &str) -> Result<(), KeyError> {
    match value {
        Some(_) => Err((key, format!("not used by tool {tool:?}"))),
        None => Ok(()),
    }
}

fn duration_secs(text: &Option<String>, key: &'static str) -> Result<u64, KeyError> {
    let Some(text) = text else { return Ok(0) };
    let d = humantime::parse_duration(text).map_err(|e| {
        (
            key,
            format!("{text:?} is not a duration such as 1d or 26h: {e}"),
        )
    })?;
    if d.as_secs() == 0 || d.as_secs() > 400 * 86_400 {
        return Err((key, format!("{text:?} is outside 1s..=400d")));
    }
    Ok(d.as_secs())
}

fn absolute(path: &Path, key: &'static str) -> Result<(), KeyError> {
    if path.is_absolute() {
        Ok(())
    } else {
        Err((key, format!("{} is not an absolute path", path.display())))
    }
}

/// A PBS datastore name or backup id (pbs-api-types: `[A-Za-z0-9_][A-Za-z0-9._\-]*`).
fn pbs_name(name: &str) -> bool {
    (1..=128).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        && !name.starts_with(['.', '-'])
}

/// Characters that restic's and borg's command splitters would treat specially.
fn splittable(word: &str) -> bool {
    !word.is_empty()
        && !word
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '\'' | '"' | '\\'))
}

impl JobConfig {
    fn validate(&self) -> Result<Job, KeyError> {
        if !valid_name(&self.name) {
            return Err((
                "name",
                format!(
                    "{:?} must be 1 to {MAX_NAME_CHARS} letters, digits, '.', '_' or '-', not starting with '.'",
                    self.name
                ),
            ));
        }
        let tool = match self.tool.as_str() {
            "restic" => Tool::Restic,
            "borg" => Tool::Borg,
            "push" => Tool::Push,
            "freshness" => Tool::Freshness,
            "systemd" => Tool::Systemd,
            "rsnapshot" => Tool::Rsnapshot,
            "vzdump" => Tool::Vzdump,
            "pbs" => Tool::Pbs,
            other => {
                return Err((
                    "tool",
                    format!(
                        "{other:?} is not one of restic, borg, push, freshness, systemd, rsnapshot, vzdump, pbs"
                    ),
                ))
            }
        };
        let t = self.tool.as_str();
        let expected_period_secs = duration_secs(&self.expected_period, "expected_period")?;
        let grace_secs = duration_secs(&self.grace, "grace")?;
        let secret = match (&self.password_file, &self.password_command) {
            (Some(_), Some(_)) => {
                return Err((
                    "password_command",
                    "password_file and password_command are exclusive".into(),
                ))
            }
            (Some(f), None) => {
                absolute(f, "password_file")?;
                if !splittable(&f.to_string_lossy()) {
                    return Err((
                        "password_file",
                        "must not contain spaces, quotes or backslashes".into(),
                    ));
                }
                Some(Secret::File(f.clone()))
            }
            (None, Some(argv)) => {
                let first = argv
                    .first()
                    .ok_or(("password_command", "is empty".to_owned()))?;
                absolute(Path::new(first), "password_command")?;
                if argv.len() > 32 || !argv.iter().all(|w| splittable(w)) {
                    return Err((
                        "password_command",
                        "at most 32 words, none empty or with spaces, quotes or backslashes".into(),
                    ));
                }
                Some(Secret::Command(argv.clone()))
            }
            (None, None) => None,
        };
        match tool {
            Tool::Restic | Tool::Borg => {
                let repo = need(&self.repository, "repository", t)?;
                if repo.is_empty() || repo.len() > 1024 || repo.chars().any(char::is_control) {
                    return Err((
                        "repository",
                        "must be 1 to 1024 printable characters".into(),
                    ));
                }
                if secret.is_none() {
                    return Err((
                        "password_file",
                        format!("tool {t:?} needs password_file or password_command"),
                    ));
                }
            }
            Tool::Push
            | Tool::Freshness
            | Tool::Systemd
            | Tool::Rsnapshot
            | Tool::Vzdump
            | Tool::Pbs => {
                refuse(&self.repository, "repository", t)?;
                if secret.is_some() {
                    return Err(("password_file", format!("not used by tool {t:?}")));
                }
            }
        }
        if tool != Tool::Restic {
            refuse(&self.status_file, "status_file", t)?;
        }
        if let Some(f) = &self.status_file {
            absolute(f, "status_file")?;
        }
        if tool == Tool::Freshness {
            if self.paths.is_empty() || self.paths.len() > MAX_PATHS {
                return Err(("paths", format!("1 to {MAX_PATHS} paths are required")));
            }
            for p in &self.paths {
                absolute(p, "paths")?;
            }
        } else if !self.paths.is_empty() {
            return Err(("paths", format!("not used by tool {t:?}")));
        }
        if tool == Tool::Systemd {
            let unit = need(&self.unit, "unit", t)?;
            let ok = unit.len() <= 256
                && (unit.ends_with(".service") || unit.ends_with(".timer"))
                && unit.chars().all(|c| {
                    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@' | ':' | '\\')
                })
                && !unit.starts_with('-');
            if !ok {
                return Err(("unit", format!("{unit:?} is not a .service unit name")));
            }
        } else {
            refuse(&self.unit, "unit", t)?;
        }
        if tool == Tool::Borg {
            for (key, p) in [
                ("borg_security_dir", &self.borg_security_dir),
                ("borg_keys_dir", &self.borg_keys_dir),
                ("borgmatic_checks_dir", &self.borgmatic_checks_dir),
            ] {
                if let Some(p) = p {
                    absolute(p, key)?;
                }
            }
        } else {
            refuse(&self.borg_security_dir, "borg_security_dir", t)?;
            refuse(&self.borg_keys_dir, "borg_keys_dir", t)?;
            refuse(&self.borgmatic_checks_dir, "borgmatic_checks_dir", t)?;
        }
        if tool == Tool::Rsnapshot {
            absolute(need(&self.log_file, "log_file", t)?, "log_file")?;
        } else {
            refuse(&self.log_file, "log_file", t)?;
        }
        if matches!(tool, Tool::Vzdump | Tool::Pbs) {
            if let Some(d) = &self.task_dir {
                absolute(d, "task_dir")?;
            }
        } else {
            refuse(&self.task_dir, "task_dir", t)?;
        }
        if tool == Tool::Pbs {
            let store = need(&self.datastore, "datastore", t)?;
            if !pbs_name(store) {
                return Err((
                    "datastore",
                    format!("{store:?} is not a datastore name (letters, digits, '.', '_', '-')"),
                ));
            }
            if let Some(g) = &self.backup_group {
                let ok = g
                    .split_once('/')
                    .is_some_and(|(ty, id)| matches!(ty, "vm" | "ct" | "host") && pbs_name(id));
                if !ok {
                    return Err((
                        "backup_group",
                        format!("{g:?} is not a backup group such as vm/100, ct/101 or host/srv"),
                    ));
                }
            }
        } else {
            refuse(&self.datastore, "datastore", t)?;
            refuse(&self.backup_group, "backup_group", t)?;
        }
        if self.destinations.len() > MAX_DESTINATIONS {
            return Err(("destinations", format!("at most {MAX_DESTINATIONS}")));
        }
        for (i, d) in self.destinations.iter().enumerate() {
            if !valid_name(&d.name) {
                return Err((
                    "destinations",
                    format!("[{i}].name {:?} is not a valid name", d.name),
                ));
            }
            if self.destinations.iter().take(i).any(|o| o.name == d.name) {
                return Err((
                    "destinations",
                    format!("[{i}].name {:?} is declared twice", d.name),
                ));
            }
            for (k, v) in [
                ("kind", &d.kind),
                ("locator", &d.locator),
                ("site", &d.site),
            ] {
                if v.is_empty() || v.len() > 1024 || v.chars().any(char::is_control) {
                    return Err((
                        "destinations",
                        format!("[{i}].{k} must be 1 to 1024 printable characters"),
                    ));
                }
            }
        }
        Ok(Job {
            name: self.name.clone(),
            tool,
            repository: self.repository.clone(),
            secret,
            expected_period_secs,
            grace_secs,
            destinations: self.destinations.clone(),
            status_file: self.status_file.clone(),
            paths: self.paths.clone(),
            unit: self.unit.clone(),
            borg_security_dir: self.borg_security_dir.clone(),
            borg_keys_dir: self.borg_keys_dir.clone(),
            borgmatic_checks_dir: self.borgmatic_checks_dir.clone(),
            log_file: self.log_file.clone(),
            task_dir: self.task_dir.clone(),
            datastore: self.datastore.clone(),
            backup_group: self.backup_group.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(toml_text: &str, expect: Result<usize, &str>) {
        let cfg: BackupsConfig = toml::from_str(toml_text).unwrap();
        match (cfg.settings(), expect) {
            (Ok(s), Ok(n)) => assert_eq!(s.jobs.len(), n),
            (Err(e), Err(msg)) => assert_eq!(e.to_string(), msg),
            (got, want) => panic!("got {got:?}, want {want:?}"),
        }
    }

    const RESTIC: &str = "[[jobs]]\nname = \"r\"\ntool = \"restic\"\nrepository = \"/srv/r\"\npassword_file = \"/etc/r.pw\"\nexpected_period = \"1d\"\ngrace = \"2h\"\n";

    #[test]
    fn valid_jobs() {
        check("", Ok(0));
        check(RESTIC, Ok(1));
        check(
            "[[jobs]]\nname = \"b\"\ntool = \"borg\"\nrepository = \"ssh://u@h/r\"\npassword_command = [\"/usr/bin/pass\", \"show\", \"borg\"]\n\
             [[jobs.destinations]]\nname = \"nas\"\nkind = \"nas_lan\"\nlocator = \"h\"\nsite = \"mairie\"\noffline = true\n\
             [[jobs]]\nname = \"p\"\ntool = \"push\"\n\
             [[jobs]]\nname = \"f\"\ntool = \"freshness\"\npaths = [\"/srv/dumps\"]\n\
             [[jobs]]\nname = \"s\"\ntool = \"systemd\"\nunit = \"backup.service\"\n\
             [[jobs]]\nname = \"pve\"\ntool = \"vzdump\"\n\
             [[jobs]]\nname = \"pbs\"\ntool = \"pbs\"\ndatastore = \"store1\"\nbackup_group = \"vm/100\"\ntask_dir = \"/srv/tasks\"\n",
            Ok(6),
        );
        let cfg: BackupsConfig = toml::from_str(RESTIC).unwrap();
        let s = cfg.settings().unwrap();
        assert_eq!(s.jobs[0].expected_period_secs, 86_400);
        assert_eq!(s.jobs[0].grace_secs, 7_200);
    }

    #[test]
    fn errors_name_the_key() {
        check(
            &format!(
                "{RESTIC}[[jobs]]\nname = \"r2\"\ntool = \"restic\"\npassword_file = \"/p\"\n"
            ),
            Err("probes.backups.jobs[1].repository: required for tool \"restic\" (AG0150)"),
        );
        check(
            &format!("{RESTIC}{RESTIC}"),
            Err("probes.backups.jobs[1].name: \"r\" is declared twice (AG0150)"),
        );
        check(
            "[[jobs]]\nname = \"r\"\ntool = \"restic\"\nrepository = \"/r\"\n",
            Err("probes.backups.jobs[0].password_file: tool \"restic\" needs password_file or password_command (AG0150)"),
        );
        check(
            "[[jobs]]\nname = \"r\"\ntool = \"restic\"\nrepository = \"/r\"\npassword_command = [\"pass\"]\n",
            Err("probes.backups.jobs[0].password_command: pass is not an absolute path (AG0150)"),
        );
        check(
            "[[jobs]]\nname = \"../x\"\ntool = \"push\"\n",
            Err("probes.backups.jobs[0].name: \"../x\" must be 1 to 64 letters, digits, '.', '_' or '-', not starting with '.' (AG0150)"),
        );
        check(
            "[[jobs]]\nname = \"x\"\ntool = \"tar\"\n",
            Err("probes.backups.jobs[0].tool: \"tar\" is not one of restic, borg, push, freshness, systemd, rsnapshot, vzdump, pbs (AG0150)"),
        );
        check(
            "[[jobs]]\nname = \"x\"\ntool = \"push\"\nexpected_period = \"daily\"\n",
            Err("probes.backups.jobs[0].expected_period: \"daily\" is not a duration such as 1d or 26h: expected number at 0 (AG0150)"),
        );
        check(
            "[[jobs]]\nname = \"x\"\ntool = \"push\"\npassword_file = \"/p\"\n",
            Err("probes.backups.jobs[0].password_file: not used by tool \"push\" (AG0150)"),
        );
        check(
            "[[jobs]]\nname = \"x\"\ntool = \"systemd\"\nunit = \"--all\"\n",
            Err("probes.backups.jobs[0].unit: \"--all\" is not a .service unit name (AG0150)"),
        );
        check(
            "[[jobs]]\nname = \"x\"\ntool = \"restic\"\nrepository = \"/r\"\npassword_file = \"/p\"\nborg_keys_dir = \"/k\"\n",
            Err("probes.backups.jobs[0].borg_keys_dir: not used by tool \"restic\" (AG0150)"),
        );
        check(
            "[[jobs]]\nname = \"x\"\ntool = \"borg\"\nrepository = \"/r\"\npassword_file = \"/p\"\nborg_keys_dir = \"keys\"\n",
            Err("probes.backups.jobs[0].borg_keys_dir: keys is not an absolute path (AG0150)"),
        );
        check(
            "[[jobs]]\nname = \"x\"\ntool = \"pbs\"\n",
            Err("probes.backups.jobs[0].datastore: required for tool \"pbs\" (AG0150)"),
        );
        check(
            "[[jobs]]\nname = \"x\"\ntool = \"pbs\"\ndatastore = \"store1\"\nbackup_group = \"vm/../x\"\n",
            Err("probes.backups.jobs[0].backup_group: \"vm/../x\" is not a backup group such as vm/100, ct/101 or host/srv (AG0150)"),
        );
        check(
            "[[jobs]]\nname = \"x\"\ntool = \"vzdump\"\ndatastore = \"store1\"\n",
            Err("probes.backups.jobs[0].datastore: not used by tool \"vzdump\" (AG0150)"),
        );
        check(
            "[[jobs]]\nname = \"x\"\ntool = \"push\"\ntask_dir = \"/var/log/pve/tasks\"\n",
            Err("probes.backups.jobs[0].task_dir: not used by tool \"push\" (AG0150)"),
        );
        check(
            "timeout_secs = 0\n",
            Err("probes.backups.timeout_secs: 0 is outside 1..=3600 (AG0150)"),
        );
        // Unknown keys, including a tempting `password`, are refused by serde.
        let err = toml::from_str::<BackupsConfig>(
            "[[jobs]]\nname = \"x\"\ntool = \"restic\"\npassword = \"hunter2\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("unknown field `password`"), "{err}");
    }
}
