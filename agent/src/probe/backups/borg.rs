//! borg jobs: `borg list --json` (restore points, newest archive, encryption) and
//! `borg info --json --last 1` (size and duration of the newest archive), with the job's own
//! passphrase source through `BORG_PASSCOMMAND`, `--bypass-lock` (a read-only user cannot lock, and a
//! stale lock must not blind us) and `BORG_BASE_DIR` in the agent's state directory, or in a private
//! temporary directory for `check`, so that borg writes nothing anywhere else.
//!
//! borg prints local times without a zone; the command runs under `TZ=UTC`, so they are UTC.
//! Relocated or unknown unencrypted repositories are refused (`..._IS_OK=no`) rather than
//! answered with a prompt; the latter is reported as what it is: an unencrypted repository.
//! Checkpoint archives (`.checkpoint`) are interrupted runs: not restore points, not successes.

use std::path::Path;

use serde::Deserialize;
use vigie_proto::v1::backup_job::Encryption;
use vigie_proto::v1::BackupJob;

use super::command::{self, Output};
use super::config::{Job, Secret, Settings};
use super::toolout::{self, stderr_excerpt, version_word, Points};
use super::{borgstate, redact, sanitize, timefmt, JobError};

#[derive(Debug, Deserialize)]
struct RawRepo {
    archives: Vec<RawArchive>,
    #[serde(default)]
    encryption: Option<RawEncryption>,
}

#[derive(Debug, Deserialize)]
struct RawEncryption {
    #[serde(default)]
    mode: String,
}

#[derive(Debug, Deserialize)]
struct RawArchive {
    #[serde(default)]
    name: String,
    #[serde(default)]
    start: String,
    #[serde(default)]
    end: Option<String>,
    #[serde(default)]
    duration: Option<f64>,
    #[serde(default)]
    stats: Option<RawStats>,
}

#[derive(Debug, Deserialize)]
struct RawStats {
    #[serde(default)]
    original_size: Option<u64>,
    #[serde(default)]
    nfiles: Option<u64>,
}

/// What `list --json` or `info --json` says.
#[derive(Debug, Default, PartialEq)]
pub struct Repo {
    /// Complete archives (checkpoints left out).
    pub count: u64,
    pub newest: Option<Archive>,
    /// borg's encryption mode, e.g. `repokey-blake2`; empty when not printed.
    pub mode: String,
    pub problems: Vec<String>,
}

#[derive(Debug, Default, PartialEq)]
pub struct Archive {
    pub name: String,
    pub start_ms: i64,
    pub end_ms: Option<i64>,
    pub duration_ms: Option<u64>,
    pub bytes: Option<u64>,
    pub files: Option<u64>,
}

fn is_checkpoint(name: &str) -> bool {
    name.ends_with(".checkpoint") || name.contains(".checkpoint.")
}

/// Parses `borg list --json` or `borg info --json` (1.2 and 1.4 print the same shape), with the
/// zone-less dates at `offset_secs` from UTC (0 under `TZ=UTC`).
pub fn parse(out: &[u8], offset_secs: i64) -> Result<Repo, String> {
    let raw: RawRepo =
        serde_json::from_slice(out).map_err(|e| format!("not a borg --json document: {e}"))?;
    let mut points: Points<Archive> = Points::default();
    for a in raw.archives {
        if is_checkpoint(&a.name) {
            continue;
        }
        let Some(start_ms) = timefmt::naive_ms(&a.start, offset_secs) else {
            points.undated(|| {
                format!(
                    "archive {}: start {:?} is not a borg date",
                    sanitize(&a.name, 64),
                    sanitize(&a.start, 64)
                )
            });
            continue;
        };
        points.add(start_ms, || Archive {
            name: sanitize(&a.name, 128),
            start_ms,
            end_ms: a
                .end
                .as_deref()
                .and_then(|e| timefmt::naive_ms(e, offset_secs)),
            duration_ms: a
                .duration
                .filter(|d| d.is_finite() && *d >= 0.0)
                .map(|d| (d * 1000.0) as u64),
            bytes: a.stats.as_ref().and_then(|s| s.original_size),
            files: a.stats.as_ref().and_then(|s| s.nfiles),
        });
    }
    Ok(Repo {
        count: points.count,
        newest: points.newest.map(|(_, a)| a),
        mode: sanitize(&raw.encryption.map(|e| e.mode).unwrap_or_default(), 64),
        problems: points.problems,
    })
}

/// borg's encryption modes: `none` and `authenticated*` protect integrity only.
pub fn encryption(mode: &str) -> Encryption {
    match mode {
        "" => Encryption::Unspecified,
        "none" => Encryption::NotEncrypted,
        m if m.starts_with("authenticated") => Encryption::NotEncrypted,
        _ => Encryption::Encrypted,
    }
}

/// Why a borg command failed. borg's messages are not localized; legacy exit codes (0 ok, 1
/// warning, 2 error) say little, so stderr decides; borg 1.4's modern codes (only with
/// `BORG_EXIT_CODES=modern`) are understood too.
pub fn classify(job: &Job, out: &Output) -> JobError {
    let repository = redact(job.repository.as_deref().unwrap_or_default());
    let name = job.name.clone();
    let err = out.stderr.as_str();
    if let Some(rest) = err
        .lines()
        .find_map(|l| l.trim().strip_prefix("No key file for repository "))
    {
        // `No key file for repository REPO found in DIR.`
        let keys_dir = rest
            .rsplit_once(" found in ")
            .map(|(_, d)| d.trim_end_matches('.'))
            .unwrap_or_default();
        JobError::KeyFileMissing {
            job: name,
            repository,
            keys_dir: std::path::PathBuf::from(sanitize(keys_dir, 256)),
        }
    } else if err.contains("previously unknown unencrypted repository") {
        JobError::Unencrypted {
            job: name,
            repository,
        }
    } else if err.contains("is incorrect") && err.contains("passphrase") || out.code == Some(52) {
        JobError::WrongPassword {
            job: name,
            repository,
        }
    } else if err.contains("does not exist")
        || err.contains("is not a valid repository")
        || out.code == Some(13)
        || out.code == Some(15)
    {
        JobError::RepositoryMissing {
            job: name,
            repository,
        }
    } else if let Some(detail) = toolout::damage(err, DAMAGE, job.repository.as_deref()) {
        JobError::Damaged {
            job: name,
            tool: "borg",
            repository,
            detail,
        }
    } else if err.contains("Failed to create/acquire the lock") {
        JobError::Locked {
            job: name,
            repository,
        }
    } else {
        JobError::ToolFailed {
            job: name,
            tool: "borg",
            status: out.status.clone(),
            stderr: stderr_excerpt(err, job.repository.as_deref()),
        }
    }
}

/// Single-quotes a word for borg's `shlex.split`; config validation already refused quotes.
fn quote(word: &str) -> String {
    format!("'{word}'")
}

/// borg's environment for `job`: its private home, refusals instead of prompts, the passphrase
/// source and, for keyfile repositories, the backup user's keys directory. That directory must
/// exist: borg creates a missing `BORG_KEYS_DIR`, which would be a write outside the agent's state.
pub(super) fn env(job: &Job, base_dir: &Path) -> Result<Vec<(String, String)>, JobError> {
    let base = base_dir.display().to_string();
    let mut env: Vec<(String, String)> = vec![
        ("BORG_BASE_DIR".into(), base.clone()),
        ("HOME".into(), base),
        ("BORG_RELOCATED_REPO_ACCESS_IS_OK".into(), "no".into()),
        (
            "BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK".into(),
            "no".into(),
        ),
        ("BORG_DISPLAY_PASSPHRASE".into(), "no".into()),
    ];
    match &job.secret {
        Some(Secret::File(f)) => env.push((
            "BORG_PASSCOMMAND".into(),
            format!("cat {}", quote(&f.display().to_string())),
        )),
        Some(Secret::Command(argv)) => env.push((
            "BORG_PASSCOMMAND".into(),
            argv.iter().map(|w| quote(w)).collect::<Vec<_>>().join(" "),
        )),
        None => {}
    }
    if let Some(keys) = &job.borg_keys_dir {
        match std::fs::metadata(keys) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(JobError::Read {
                    job: job.name.clone(),
                    path: keys.clone(),
                    source: std::io::Error::other("borg_keys_dir is not a directory"),
                })
            }
            Err(source) => {
                return Err(JobError::Read {
                    job: job.name.clone(),
                    path: keys.clone(),
                    source,
                })
            }
        }
        env.push(("BORG_KEYS_DIR".into(), keys.display().to_string()));
    }
    Ok(env)
}

/// What borg says of a repository it cannot trust (segments, index, config or manifest damaged).
const DAMAGE: &[&str] = &[
    "Inconsistency detected",
    "IntegrityError",
    "Data integrity error",
    "MissingSectionHeaderError",
    "ObjectNotFound",
    "Segment entry checksum mismatch",
];

/// A repository written this long after its newest archive without a new one is worth a word.
const LATE_WRITE_MS: i64 = 6 * 3600 * 1000;

/// borgmatic's check stamps and borg's security directory of the user who runs the backup.
fn read_state(job: &Job, id: &str, newest_start: Option<i64>, out: &mut BackupJob) {
    if let Some(dir) = &job.borgmatic_checks_dir {
        let checks = borgstate::borgmatic_checks(dir, id);
        let mut facts = Vec::new();
        if let Some(t) = checks.integrity_ms {
            out.last_integrity_check_ms = out.last_integrity_check_ms.max(t);
            facts.push("last_integrity_check_ms");
        }
        if let Some(t) = checks.extract_ms {
            out.last_restore_test_ms = out.last_restore_test_ms.max(t);
            facts.extend(["last_restore_test_ms", "restore_test"]);
            out.restore_test = Some(vigie_proto::v1::BackupRestoreTest {
                at_ms: t,
                ok: true,
                message: "borgmatic extract check (the newest archive extracted without error)"
                    .to_owned(),
                source: "borgmatic:extract".to_owned(),
                ..Default::default()
            });
        }
        super::add_source(out, "file", &dir.display().to_string(), &facts);
    }
    if let Some(dir) = &job.borg_security_dir {
        let written = borgstate::manifest_timestamp(dir, id);
        if let Some(m) = written {
            out.last_repository_write_ms = m;
            super::add_source(
                out,
                "file",
                &security_locator(dir),
                &["last_repository_write_ms"],
            );
        }
        match (written, newest_start) {
            (None, _) => out.problems.push(format!(
                "no manifest-timestamp for repository {id} in {}: borg_security_dir is not the backup user's",
                sanitize(&dir.display().to_string(), 200)
            )),
            (Some(m), Some(start)) if m > start.saturating_add(LATE_WRITE_MS) => {
                out.problems.push(format!(
                    "repository last written {} h after its newest archive (prune, delete or an interrupted run)",
                    (m - start) / 3_600_000
                ))
            }
            (Some(m), Some(start)) if m < start => out.problems.push(
                "the security directory's manifest-timestamp is older than the newest archive: another user's borg writes this repository".to_owned(),
            ),
            _ => {}
        }
    }
}

fn security_locator(dir: &Path) -> String {
    format!("{}/<repository id>/manifest-timestamp", dir.display())
}

/// Fills `out` for a borg job; `base_dir` is borg's private home for this run. Whatever borg says,
/// the security directory (when declared) dates the repository's last write without the
/// passphrase: found by the repository id when borg answered, else by its `location`.
pub async fn collect(
    job: &Job,
    s: &Settings,
    base_dir: &Path,
    now_ms: i64,
    out: &mut BackupJob,
) -> Result<(), JobError> {
    let res = collect_repository(job, s, base_dir, now_ms, out).await;
    if let (Some(dir), 0) = (&job.borg_security_dir, out.last_repository_write_ms) {
        let repo = job.repository.as_deref().unwrap_or_default();
        if let Some(m) = borgstate::manifest_timestamp_by_location(dir, repo) {
            out.last_repository_write_ms = m;
            super::add_source(
                out,
                "file",
                &security_locator(dir),
                &["last_repository_write_ms"],
            );
        }
    }
    res
}

async fn collect_repository(
    job: &Job,
    s: &Settings,
    base_dir: &Path,
    now_ms: i64,
    out: &mut BackupJob,
) -> Result<(), JobError> {
    let v = command::run(
        &job.name,
        "borg",
        &s.borg,
        &["--version".to_owned()],
        &[],
        s.timeout,
    )
    .await?;
    out.tool_version = version_word(&String::from_utf8_lossy(&v.stdout)).unwrap_or_default();
    let repo = job.repository.clone().unwrap_or_default();
    let env = env(job, base_dir)?;
    let list_args: Vec<String> = ["list", "--json", "--bypass-lock", &repo]
        .iter()
        .map(|a| (*a).to_owned())
        .collect();
    let res = command::run(&job.name, "borg", &s.borg, &list_args, &env, s.timeout).await?;
    // Exit 1 is a warning: the output is still the answer.
    if !matches!(res.code, Some(0 | 1)) {
        let err = classify(job, &res);
        if matches!(err, JobError::Unencrypted { .. }) {
            out.encryption = Encryption::NotEncrypted as i32;
            out.encryption_mode = "none".to_owned();
        }
        return Err(err);
    }
    let list = parse(&res.stdout, 0).map_err(|reason| JobError::Output {
        job: job.name.clone(),
        tool: "borg",
        reason,
    })?;
    out.problems.extend(list.problems);
    let newest_start = list.newest.as_ref().map(|a| a.start_ms);
    if let Some(id) = borgstate::repository_id(&res.stdout) {
        read_state(job, &id, newest_start, out);
    }
    out.encryption = encryption(&list.mode) as i32;
    out.encryption_mode = list.mode;
    out.restore_points = list.count;
    out.restore_points_known = true;
    let mut facts = vec!["restore_points", "encryption"];
    let Some(newest) = list.newest else {
        super::add_source(out, "cmd", "borg list --json --bypass-lock", &facts);
        return Ok(());
    };
    out.last_success_ms = newest.start_ms.min(now_ms);
    out.last_start_ms = newest.start_ms;
    out.last_snapshot_id = newest.name;
    facts.extend(["last_success_ms", "last_start_ms", "last_snapshot_id"]);
    super::add_source(out, "cmd", "borg list --json --bypass-lock", &facts);
    // The size and end of the newest archive. A failure here leaves what `list` said standing.
    let info_args: Vec<String> = ["info", "--json", "--bypass-lock", "--last", "1", &repo]
        .iter()
        .map(|a| (*a).to_owned())
        .collect();
    let res = command::run(&job.name, "borg", &s.borg, &info_args, &env, s.timeout).await?;
    if !matches!(res.code, Some(0 | 1)) {
        out.problems
            .push(format!("borg info: {}", classify(job, &res)));
        return Ok(());
    }
    match parse(&res.stdout, 0) {
        Ok(info) => {
            if let Some(a) = info.newest {
                let mut facts = Vec::new();
                if let Some(end) = a.end_ms {
                    out.last_success_ms = end.min(now_ms);
                    facts.push("last_success_ms");
                }
                if let Some(d) = a.duration_ms {
                    out.duration_ms = d;
                    out.duration_known = true;
                    facts.push("duration_ms");
                }
                if let Some(b) = a.bytes {
                    out.size_bytes = b;
                    out.files = a.files.unwrap_or(0);
                    out.size_known = true;
                    facts.extend(["size_bytes", "files"]);
                }
                super::add_source(
                    out,
                    "cmd",
                    "borg info --json --bypass-lock --last 1",
                    &facts,
                );
            }
        }
        Err(reason) => out.problems.push(format!("borg info: {reason}")),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(input: &[u8], expect: Result<(u64, &str, Option<Archive>), &str>) {
        match (parse(input, 0), expect) {
            (Ok(r), Ok((count, mode, newest))) => {
                assert_eq!((r.count, r.mode.as_str(), r.newest), (count, mode, newest));
            }
            (Err(e), Err(want)) => assert!(e.contains(want), "{e}"),
            (got, want) => panic!("got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn list_and_info_per_version() {
        check(
            include_bytes!("fixtures/borg-1.2-list.json"),
            Ok((
                2,
                "repokey-blake2",
                Some(Archive {
                    name: "second".into(),
                    start_ms: 1_795_881_910_000,
                    ..Archive::default()
                }),
            )),
        );
        check(
            include_bytes!("fixtures/borg-1.2-info.json"),
            Ok((
                1,
                "repokey-blake2",
                Some(Archive {
                    name: "second".into(),
                    start_ms: 1_795_881_910_000,
                    end_ms: Some(1_795_881_910_000),
                    duration_ms: Some(2),
                    bytes: Some(12),
                    files: Some(2),
                }),
            )),
        );
        // 1.4: the checkpoint of an interrupted run is neither a restore point nor the newest.
        check(
            include_bytes!("fixtures/borg-1.4-list.json"),
            Ok((
                2,
                "keyfile-blake2",
                Some(Archive {
                    name: "srv-2026-11-27T02:00:01".into(),
                    start_ms: 1_795_741_201_250,
                    ..Archive::default()
                }),
            )),
        );
        check(
            include_bytes!("fixtures/borg-1.4-info.json"),
            Ok((
                1,
                "keyfile-blake2",
                Some(Archive {
                    name: "srv-2026-11-27T02:00:01".into(),
                    start_ms: 1_795_741_201_250,
                    end_ms: Some(1_795_741_813_750),
                    duration_ms: Some(612_500),
                    bytes: Some(53_687_095_296),
                    files: Some(40_229),
                }),
            )),
        );
        check(br#"{"archives": []}"#, Ok((0, "", None)));
        check(b"{}", Err("missing field `archives`"));
        check(b"[]", Err("not a borg --json document"));
        check(&[0u8; 10_000], Err("not a borg --json document"));
        // A local offset is applied when given (a host not run under TZ=UTC).
        let r = parse(
            br#"{"archives":[{"name":"a","start":"2026-11-28T03:00:01.000000"}]}"#,
            3600,
        )
        .unwrap();
        assert_eq!(r.newest.unwrap().start_ms, 1_795_831_201_000);
        let r = parse(br#"{"archives":[{"name":"a","start":"tomorrow"}]}"#, 0).unwrap();
        assert_eq!((r.count, r.problems.len()), (0, 1));
    }

    #[test]
    fn encryption_modes() {
        assert_eq!(encryption("repokey-blake2"), Encryption::Encrypted);
        assert_eq!(encryption("keyfile"), Encryption::Encrypted);
        assert_eq!(encryption("authenticated-blake2"), Encryption::NotEncrypted);
        assert_eq!(encryption("none"), Encryption::NotEncrypted);
        assert_eq!(encryption(""), Encryption::Unspecified);
    }

    #[track_caller]
    fn check_classify(code: i32, stderr: &str, expect: &str) {
        let job = Job {
            name: "b".into(),
            tool: super::super::config::Tool::Borg,
            repository: Some("/srv/borg".into()),
            secret: Some(Secret::File("/etc/pw".into())),
            expected_period_secs: 0,
            grace_secs: 0,
            destinations: Vec::new(),
            status_file: None,
            paths: Vec::new(),
            unit: None,
            borg_security_dir: None,
            borg_keys_dir: None,
            borgmatic_checks_dir: None,
            log_file: None,
            task_dir: None,
            datastore: None,
            backup_group: None,
        };
        let out = Output {
            code: Some(code),
            status: format!("exit status: {code}"),
            stdout: Vec::new(),
            stderr: stderr.into(),
        };
        assert_eq!(classify(&job, &out).to_string(), expect);
        let env = env(&job, Path::new("/var/lib/vigie-agent/backups/borg")).unwrap();
        assert!(env.contains(&("BORG_PASSCOMMAND".to_owned(), "cat '/etc/pw'".to_owned())));
    }

    #[test]
    fn failures() {
        check_classify(2, "passphrase supplied in BORG_PASSPHRASE, by BORG_PASSCOMMAND or via BORG_PASSPHRASE_FD is incorrect.\n",
            "job b: wrong password for repository /srv/borg (or no key found)");
        check_classify(
            2,
            "Repository /srv/borg does not exist.\n",
            "job b: repository /srv/borg does not exist or is unreachable",
        );
        check_classify(2, "Warning: Attempting to access a previously unknown unencrypted repository!\nDo you want to continue? [yN] no\nAborting.\n",
            "job b: repository /srv/borg is not encrypted (borg refuses an unknown unencrypted repository)");
        check_classify(
            2,
            "",
            "job b: borg failed (exit status: 2): no diagnostic on stderr",
        );
        check_classify(
            2,
            "Inconsistency detected. Please run \"borg check /srv/borg\" - although likely this is \"beyond repair\".\nTraceback (most recent call last):\n  File \"x.py\", line 1, in main\nborg.repository.Repository.CheckNeeded: Inconsistency detected. Please run \"borg check /srv/borg\" - although likely this is \"beyond repair\".\n",
            "job b: repository /srv/borg is damaged, run `borg check`: borg.repository.Repository.CheckNeeded: Inconsistency detected. Please run \"borg check /srv/borg\" - although likely this is \"beyond repair\".",
        );
        check_classify(
            2,
            "No key file for repository /srv/borg found in /var/lib/vigie-agent/backups/borg/.config/borg/keys.\n",
            "job b: no borg key file for repository /srv/borg in /var/lib/vigie-agent/backups/borg/.config/borg/keys (keyfile mode: set borg_keys_dir to the backup user's keys directory)",
        );
    }
}
