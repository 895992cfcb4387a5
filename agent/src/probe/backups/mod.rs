//! The backups probe (`backups.jobs`): one `BackupJob` per job declared in `[probes.backups]`, read
//! from the tool that made it (restic, borg), the service unit that runs it (systemd), the newest
//! mtime under its paths (freshness), the end of rsnapshot's log (rsnapshot), Proxmox's task lists
//! and logs (vzdump, pbs), the records the job pushed with `vigie-agent backup-done`, and the
//! restore tests `vigie-agent backup-verify` recorded (`verify/`).
//!
//! One job failing gives that job's `error` and never fails the probe or another job (DESIGN
//! decision 19). Secrets stay where the job keeps them: the config names a file or a command, the
//! tool reads it, and no secret reaches evidence, errors or logs. The probe writes only under the
//! agent's state directory (borg's `BORG_BASE_DIR`, pruning superseded push records), and in `check`
//! mode nothing at all but a private temporary directory for borg, removed afterwards.
//! Not here: judging lateness or the number of places (the collector's checks BKP-001..006).

mod borg;
mod borgstate;
mod command;
mod config;
mod error;
mod freshness;
mod proxmox;
mod push;
mod restic;
mod rsnapshot;
mod systemd;
mod tail;
mod timefmt;
mod toolout;
pub mod verify;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use vigie_proto::v1::backup_job::Outcome;
use vigie_proto::v1::domain_state::State;
use vigie_proto::v1::{
    BackupDestination, BackupFactSource, BackupJob, BackupRestoreTest, Backups, Domain, Source,
};

use super::{ConfigError, Probe, ProbeCx, ProbeError};
use config::{Job, Settings, Tool};

pub use config::{BackupsConfig, DestinationConfig, JobConfig};
pub use error::JobError;
pub use push::{
    write as write_push_record, Kind as PushKind, PushError, Record as PushRecord,
    Status as PushStatus, INCOMING_DIR,
};

const PROBE_ID: &str = "backups.jobs";
/// Messages and problems reaching people are cut here (DESIGN §4: "≤ 1 KiB").
pub const MAX_MESSAGE_CHARS: usize = 1024;
const MAX_PROBLEMS: usize = 30;
/// borg's private home under the state directory.
const BORG_DIR: &str = "backups/borg";

/// Replaces control characters (terminal escapes, CR/LF injected into logs) with `?` and cuts the
/// text to `max` characters.
pub fn sanitize(text: &str, max: usize) -> String {
    text.chars()
        .take(max)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// A repository or locator with any URL password removed: `rest:https://u:pw@h/` → `rest:https://u:***@h/`.
pub fn redact(repo: &str) -> String {
    let Some(scheme_end) = repo.find("://").map(|i| i + 3) else {
        return repo.to_owned();
    };
    let (head, rest) = repo.split_at(scheme_end);
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let Some(at) = rest.get(..authority_end).and_then(|a| a.rfind('@')) else {
        return repo.to_owned();
    };
    let (userinfo, tail) = rest.split_at(at);
    match userinfo.split_once(':') {
        Some((user, _password)) => format!("{head}{user}:***{tail}"),
        None => repo.to_owned(),
    }
}

/// Records that `source` gave `facts` of `job`.
fn add_source(job: &mut BackupJob, kind: &str, locator: &str, facts: &[&str]) {
    job.sources.push(BackupFactSource {
        source: Some(Source {
            kind: kind.to_owned(),
            locator: sanitize(locator, 512),
        }),
        facts: facts.iter().map(|f| (*f).to_owned()).collect(),
    });
}

impl BackupsConfig {
    /// Validates the settings and builds the probe.
    pub fn build(&self) -> Result<Box<dyn Probe>, ConfigError> {
        Ok(Box::new(BackupsProbe {
            settings: Arc::new(self.settings()?),
        }))
    }
}

struct BackupsProbe {
    settings: Arc<Settings>,
}

#[async_trait]
impl Probe for BackupsProbe {
    fn id(&self) -> &'static str {
        PROBE_ID
    }

    fn domain(&self) -> Domain {
        Domain::Backups
    }

    /// Jobs run concurrently; each runs at most three tools one after the other.
    fn timeout(&self, _cx: &ProbeCx) -> Duration {
        self.settings
            .timeout
            .saturating_mul(3)
            .saturating_add(Duration::from_secs(30))
    }

    async fn collect(&self, cx: &ProbeCx) -> Result<State, ProbeError> {
        let s = Arc::clone(&self.settings);
        let (borg_dir, temp) = borg_base_dir(cx, &s);
        let mut set = tokio::task::JoinSet::new();
        for (i, job) in s.jobs.iter().enumerate() {
            let (s, cx, job, borg_dir) =
                (Arc::clone(&s), cx.clone(), job.clone(), borg_dir.clone());
            set.spawn(async move { (i, collect_job(&job, &s, &cx, borg_dir.as_deref()).await) });
        }
        let mut jobs: Vec<Option<BackupJob>> = vec![None; s.jobs.len()];
        while let Some(done) = set.join_next().await {
            if let Ok((i, job)) = done {
                if let Some(slot) = jobs.get_mut(i) {
                    *slot = Some(job);
                }
            }
        }
        if let Some(t) = temp {
            let _ = std::fs::remove_dir_all(t);
        }
        let mut jobs: Vec<BackupJob> = jobs
            .into_iter()
            .zip(s.jobs.iter())
            .map(|(j, cfg)| {
                j.unwrap_or_else(|| {
                    let mut j = skeleton(cfg);
                    j.error = Some(
                        JobError::Unsupported {
                            job: cfg.name.clone(),
                            reason: "its task was lost".into(),
                        }
                        .to_wire(),
                    );
                    j
                })
            })
            .collect();
        // Push records, read after the tools so that a record written meanwhile is not missed twice.
        let s2 = Arc::clone(&s);
        let cx2 = cx.clone();
        let (records, problems) = tokio::task::spawn_blocking(move || read_push(&s2, &cx2))
            .await
            .map_err(|e| ProbeError::Cancelled {
                probe: PROBE_ID.to_owned(),
                message: e.to_string(),
            })?;
        let verify_state = cx.state_dir.clone().or(s.state_read_dir.clone());
        let mut problems = problems;
        for job in &mut jobs {
            merge_push(job, &records);
            if let Some(state) = &verify_state {
                match verify::record::read(state, &job.name, cx.now_ms) {
                    Ok(Some(r)) => merge_restore_test(job, &r),
                    Ok(None) => {}
                    Err(p) => problems.push(sanitize(&p, MAX_MESSAGE_CHARS)),
                }
            }
            finish(job, s.jobs.iter().find(|j| j.name == job.name), cx.now_ms);
        }
        Ok(State::Backups(Backups { jobs, problems }))
    }
}

/// borg's home: `STATE/backups/borg` in run mode; a fresh private directory in `check` mode (whose
/// state directory is read-only), returned second so that it is removed afterwards.
fn borg_base_dir(cx: &ProbeCx, s: &Settings) -> (Option<PathBuf>, Option<PathBuf>) {
    if !s.jobs.iter().any(|j| j.tool == Tool::Borg) {
        return (None, None);
    }
    if let Some(state) = &cx.state_dir {
        let dir = state.join(BORG_DIR);
        return match create_private(&dir, true) {
            Ok(()) => (Some(dir), None),
            Err(_) => (None, None),
        };
    }
    let dir = std::env::temp_dir().join(format!("vigie-borg-{:016x}", rand::random::<u64>()));
    match create_private(&dir, false) {
        Ok(()) => (Some(dir.clone()), Some(dir)),
        Err(_) => (None, None),
    }
}

fn create_private(dir: &Path, recursive: bool) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(recursive)
        .mode(0o700)
        .create(dir)
}

/// The declared part of a job's evidence.
fn skeleton(job: &Job) -> BackupJob {
    BackupJob {
        name: job.name.clone(),
        tool: job.tool.as_str().to_owned(),
        expected_period_secs: job.expected_period_secs,
        grace_secs: job.grace_secs,
        repository: job.repository.as_deref().map(redact).unwrap_or_default(),
        ..BackupJob::default()
    }
}

async fn collect_job(job: &Job, s: &Settings, cx: &ProbeCx, borg_dir: Option<&Path>) -> BackupJob {
    let mut out = skeleton(job);
    let res = match job.tool {
        Tool::Restic => restic::collect(job, s, cx.now_ms, &mut out).await,
        Tool::Borg => match borg_dir {
            Some(dir) => borg::collect(job, s, dir, cx.now_ms, &mut out).await,
            None => Err(JobError::Unsupported {
                job: job.name.clone(),
                reason: "no private directory could be made for BORG_BASE_DIR".into(),
            }),
        },
        Tool::Systemd => systemd::collect(job, s, cx, cx.now_ms, &mut out).await,
        Tool::Freshness => on_blocking_pool(job, cx, &mut out, freshness::collect).await,
        Tool::Rsnapshot => on_blocking_pool(job, cx, &mut out, rsnapshot::collect).await,
        Tool::Vzdump | Tool::Pbs => on_blocking_pool(job, cx, &mut out, proxmox::collect).await,
        Tool::Push => Ok(()),
    };
    if let Err(e) = res {
        tracing::warn!(probe = PROBE_ID, job = %job.name, code = e.code(), error = %e, "Backup job evidence unreadable.");
        out.error = Some(e.to_wire());
    }
    out
}

/// A source that walks directories or reads files, run on the blocking pool so that it never holds
/// up the runtime's workers.
async fn on_blocking_pool(
    job: &Job,
    cx: &ProbeCx,
    out: &mut BackupJob,
    read: fn(&Job, &Path, i64, &mut BackupJob) -> Result<(), JobError>,
) -> Result<(), JobError> {
    let (job2, root, now) = (job.clone(), cx.root.clone(), cx.now_ms);
    let mut o = std::mem::take(out);
    match tokio::task::spawn_blocking(move || {
        let r = read(&job2, &root, now, &mut o);
        (o, r)
    })
    .await
    {
        Ok((o, r)) => {
            *out = o;
            r
        }
        Err(e) => {
            *out = skeleton(job);
            Err(JobError::Unsupported {
                job: job.name.clone(),
                reason: e.to_string(),
            })
        }
    }
}

/// Every acceptable push record, and the problems of the others; prunes superseded records when
/// the probe owns the state directory.
fn read_push(s: &Settings, cx: &ProbeCx) -> (Vec<push::Received>, Vec<String>) {
    let mut problems = Vec::new();
    let Some(state) = cx.state_dir.as_ref().or(s.state_read_dir.as_ref()) else {
        return (Vec::new(), problems);
    };
    let dir = state.join(INCOMING_DIR);
    let declared: Vec<&str> = s.jobs.iter().map(|j| j.name.as_str()).collect();
    let records = push::read(&dir, &declared, cx.now_ms, &mut problems);
    if cx.state_dir.is_some() {
        for p in push::superseded(&records) {
            let _ = std::fs::remove_file(p);
        }
    }
    (
        records,
        problems
            .into_iter()
            .map(|p| sanitize(&p, MAX_MESSAGE_CHARS))
            .collect(),
    )
}

/// Folds a job's push records into its evidence: the newest success, failure and start of each kind.
fn merge_push(job: &mut BackupJob, records: &[push::Received]) {
    let mine: Vec<&push::Received> = records
        .iter()
        .filter(|r| r.record.job == job.name)
        .collect();
    if mine.is_empty() {
        return;
    }
    let newest = |kind: push::Kind, status: push::Status| {
        mine.iter()
            .filter(|r| r.record.kind == kind && r.record.status == status)
            .max_by(|a, b| (a.at_ms, &a.path).cmp(&(b.at_ms, &b.path)))
            .copied()
    };
    let mut facts = Vec::new();
    if let Some(r) = newest(push::Kind::Backup, push::Status::Ok) {
        if r.at_ms >= job.last_success_ms {
            job.last_success_ms = r.at_ms;
            facts.push("last_success_ms");
            if let Some(size) = r.record.size_bytes {
                job.size_bytes = size;
                job.size_known = true;
                facts.push("size_bytes");
            }
        }
    }
    if let Some(r) = newest(push::Kind::Backup, push::Status::Failed) {
        if r.at_ms >= job.last_failure_ms {
            job.last_failure_ms = r.at_ms;
            job.last_failure_message = r.record.message.clone();
            facts.extend(["last_failure_ms", "last_failure_message"]);
        }
    }
    if let Some(r) = newest(push::Kind::Backup, push::Status::Started) {
        if r.at_ms > job.last_start_ms {
            job.last_start_ms = r.at_ms;
            facts.push("last_start_ms");
        }
    }
    if let Some(r) = newest(push::Kind::IntegrityCheck, push::Status::Ok) {
        job.last_integrity_check_ms = job.last_integrity_check_ms.max(r.at_ms);
        facts.push("last_integrity_check_ms");
    }
    let tests = [
        newest(push::Kind::RestoreTest, push::Status::Ok),
        newest(push::Kind::RestoreTest, push::Status::Failed),
    ];
    if let Some(ok) = tests[0] {
        job.last_restore_test_ms = job.last_restore_test_ms.max(ok.at_ms);
        facts.push("last_restore_test_ms");
    }
    let newest_test = tests.iter().flatten().max_by_key(|r| r.at_ms);
    let known = job.restore_test.as_ref().map_or(0, |t| t.at_ms);
    if let Some(r) = newest_test.filter(|r| r.at_ms >= known) {
        job.restore_test = Some(BackupRestoreTest {
            at_ms: r.at_ms,
            ok: r.record.status == push::Status::Ok,
            message: r.record.message.clone(),
            source: "push:restore-test".to_owned(),
            ..BackupRestoreTest::default()
        });
        facts.push("restore_test");
    }
    add_source(job, "push", INCOMING_DIR, &facts);
}

/// Folds the `backup-verify` record of a job into its evidence; the newer of it and a pushed
/// restore-test record is the job's `restore_test`.
fn merge_restore_test(job: &mut BackupJob, r: &verify::RestoreTestRecord) {
    let mut facts = Vec::new();
    let last_ok = if r.ok { r.at_ms } else { r.last_ok_ms };
    if last_ok > job.last_restore_test_ms {
        job.last_restore_test_ms = last_ok;
        facts.push("last_restore_test_ms");
    }
    if job.restore_test.as_ref().is_none_or(|t| r.at_ms >= t.at_ms) {
        job.restore_test = Some(r.to_wire());
        facts.push("restore_test");
    }
    if !facts.is_empty() {
        let locator = format!("{}/{}.json", verify::RESTORE_TESTS_DIR, job.name);
        add_source(job, "file", &locator, &facts);
    }
}

/// Outcome, destinations and bounds, once every source is in.
fn finish(job: &mut BackupJob, cfg: Option<&Job>, now_ms: i64) {
    // A push job's start newer than any end: running, or died without a word (the collector's
    // grace decides which).
    let started_after_end = job.last_start_ms > job.last_success_ms.max(job.last_failure_ms);
    if started_after_end && job.tool == Tool::Push.as_str() && job.last_start_ms <= now_ms {
        job.running = true;
    }
    job.last_outcome = if job.running {
        Outcome::Running
    } else if job.last_success_ms == 0 && job.last_failure_ms == 0 {
        Outcome::Unspecified
    } else if job.last_failure_ms > job.last_success_ms {
        Outcome::Failure
    } else {
        Outcome::Success
    } as i32;
    if let Some(cfg) = cfg {
        job.destinations = cfg
            .destinations
            .iter()
            .map(|d| {
                let observed = job.error.is_none()
                    && (cfg.repository.as_deref() == Some(d.locator.as_str())
                        || cfg
                            .paths
                            .iter()
                            .any(|p| p.as_os_str() == d.locator.as_str()));
                BackupDestination {
                    name: d.name.clone(),
                    kind: d.kind.clone(),
                    locator: redact(&d.locator),
                    site: d.site.clone(),
                    offline: d.offline,
                    immutable: d.immutable,
                    observed,
                    last_success_ms: if observed { job.last_success_ms } else { 0 },
                    restore_points: if observed { job.restore_points } else { 0 },
                }
            })
            .collect();
    }
    job.last_failure_message = sanitize(&job.last_failure_message, MAX_MESSAGE_CHARS);
    job.problems.truncate(MAX_PROBLEMS);
}

/// A UTC time for people, `2026-11-28 02:00 UTC`.
fn when(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.strftime("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|_| format!("{ms} ms"))
}

/// One job for `check`: its tool, then what is known of its last runs, or why it is unreadable.
fn job_fr(j: &BackupJob) -> String {
    let tool = match j.tool_version.as_str() {
        "" => j.tool.clone(),
        v => format!("{} {v}", j.tool),
    };
    if let Some(e) = &j.error {
        return format!(
            "{} ({tool}) : illisible, {} : {}",
            j.name,
            e.code,
            sanitize(&e.message, 160)
        );
    }
    let mut parts = vec![if j.last_success_ms > 0 {
        format!("dernière réussite {}", when(j.last_success_ms))
    } else {
        "aucune réussite connue".to_owned()
    }];
    if j.running {
        parts.push(format!("en cours depuis {}", when(j.last_start_ms)));
    }
    if j.last_failure_ms > j.last_success_ms {
        parts.push(format!(
            "en échec le {} : {}",
            when(j.last_failure_ms),
            sanitize(&j.last_failure_message, 120)
        ));
    }
    if j.restore_points_known {
        parts.push(format!("{} point(s) de restauration", j.restore_points));
    }
    if !j.problems.is_empty() {
        parts.push(format!("{} problème(s)", j.problems.len()));
    }
    format!("{} ({tool}) : {}", j.name, parts.join(", "))
}

/// One French line for `check`: how many jobs, how many unreadable or failed, then each job.
pub fn summary_fr(b: &Backups) -> String {
    if b.jobs.is_empty() {
        return "aucune tâche de sauvegarde déclarée".to_owned();
    }
    let errors = b.jobs.iter().filter(|j| j.error.is_some()).count();
    let failed = b
        .jobs
        .iter()
        .filter(|j| j.last_outcome == Outcome::Failure as i32)
        .count();
    let jobs: Vec<String> = b.jobs.iter().map(job_fr).collect();
    format!(
        "{} tâche(s) de sauvegarde, {} en erreur, {} en échec; {}{}",
        b.jobs.len(),
        errors,
        failed,
        jobs.join(" ; "),
        if b.problems.is_empty() {
            String::new()
        } else {
            format!(
                "; {} problème(s) d'enregistrements poussés",
                b.problems.len()
            )
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(repo: &str, expect: &str) {
        assert_eq!(redact(repo), expect);
    }

    #[test]
    fn redaction() {
        check("/srv/restic", "/srv/restic");
        check("sftp:backup@nas:/srv/restic", "sftp:backup@nas:/srv/restic");
        check("rest:https://u:pw@h:8000/r", "rest:https://u:***@h:8000/r");
        check("rest:https://u@h/r", "rest:https://u@h/r");
        check("s3:https://h/bucket/a@b", "s3:https://h/bucket/a@b");
        check("ssh://borg:p:w@nas/./srv", "ssh://borg:***@nas/./srv");
        assert_eq!(sanitize("a\r\nb\u{1b}c", 4), "a??b");
    }

    fn received(
        job: &str,
        kind: push::Kind,
        status: push::Status,
        at_ms: i64,
        message: &str,
    ) -> push::Received {
        push::Received {
            record: push::Record {
                v: 1,
                job: job.into(),
                kind,
                status,
                message: message.into(),
                size_bytes: Some(7),
            },
            at_ms,
            path: PathBuf::from(format!("{at_ms}.json")),
        }
    }

    #[track_caller]
    fn check_push(records: &[push::Received], expect: (i64, i64, &str, Outcome, bool)) {
        let mut job = BackupJob {
            name: "p".into(),
            tool: "push".into(),
            ..BackupJob::default()
        };
        merge_push(&mut job, records);
        finish(&mut job, None, 1_000);
        assert_eq!(
            (
                job.last_success_ms,
                job.last_failure_ms,
                job.last_failure_message.as_str(),
                Outcome::try_from(job.last_outcome).unwrap(),
                job.running
            ),
            expect
        );
    }

    #[test]
    fn push_records_fold_into_the_job() {
        use push::{Kind::*, Status::*};
        check_push(&[], (0, 0, "", Outcome::Unspecified, false));
        check_push(
            &[
                received("p", Backup, Ok, 10, ""),
                received("other", Backup, Failed, 50, "x"),
            ],
            (10, 0, "", Outcome::Success, false),
        );
        check_push(
            &[
                received("p", Backup, Ok, 10, ""),
                received("p", Backup, Failed, 20, "disk full"),
                received("p", Backup, Ok, 5, ""),
            ],
            (10, 20, "disk full", Outcome::Failure, false),
        );
        check_push(
            &[
                received("p", Backup, Ok, 10, ""),
                received("p", Backup, Started, 30, ""),
            ],
            (10, 0, "", Outcome::Running, true),
        );
        let mut job = BackupJob {
            name: "p".into(),
            ..BackupJob::default()
        };
        merge_push(
            &mut job,
            &[
                received("p", RestoreTest, Failed, 40, "3 files differ"),
                received("p", RestoreTest, Ok, 30, ""),
                received("p", IntegrityCheck, Ok, 20, ""),
            ],
        );
        assert_eq!(
            (job.last_restore_test_ms, job.last_integrity_check_ms),
            (30, 20)
        );
        let t = job.restore_test.unwrap();
        assert_eq!(
            (t.at_ms, t.ok, t.message.as_str()),
            (40, false, "3 files differ")
        );
    }

    #[test]
    fn summary_names_each_job_and_its_state() {
        let b = Backups {
            jobs: vec![
                BackupJob {
                    name: "restic-nas".into(),
                    tool: "restic".into(),
                    tool_version: "0.14.0".into(),
                    last_success_ms: 1_795_831_201_000,
                    restore_points: 2,
                    restore_points_known: true,
                    ..BackupJob::default()
                },
                BackupJob {
                    name: "pve".into(),
                    tool: "vzdump".into(),
                    last_success_ms: 1_795_655_560_000,
                    last_failure_ms: 1_795_742_050_000,
                    last_failure_message: "job errors\n".into(),
                    last_outcome: Outcome::Failure as i32,
                    ..BackupJob::default()
                },
                BackupJob {
                    name: "borg".into(),
                    tool: "borg".into(),
                    error: Some(vigie_proto::v1::ProbeError {
                        code: "AG0202".into(),
                        message: "job borg: wrong password".into(),
                    }),
                    ..BackupJob::default()
                },
            ],
            problems: Vec::new(),
        };
        assert_eq!(
            summary_fr(&b),
            "3 tâche(s) de sauvegarde, 1 en erreur, 1 en échec; \
             restic-nas (restic 0.14.0) : dernière réussite 2026-11-28 02:00 UTC, 2 point(s) de restauration ; \
             pve (vzdump) : dernière réussite 2026-11-26 01:12 UTC, en échec le 2026-11-27 01:14 UTC : job errors? ; \
             borg (borg) : illisible, AG0202 : job borg: wrong password"
        );
    }

    #[tokio::test]
    async fn run_mode_reads_push_records_and_prunes_superseded_ones() {
        let dir = tempfile::tempdir().unwrap();
        let cfg: BackupsConfig = toml::from_str(
            "[[jobs]]\nname = \"p\"\ntool = \"push\"\n[[jobs]]\nname = \"f\"\ntool = \"freshness\"\npaths = [\"/nonexistent/x\"]\n",
        )
        .unwrap();
        let probe = cfg.build().unwrap();
        for (at, status) in [
            (1, push::Status::Ok),
            (2, push::Status::Ok),
            (3, push::Status::Failed),
        ] {
            let rec = push::Record {
                v: 1,
                job: "p".into(),
                kind: push::Kind::Backup,
                status,
                message: "m".into(),
                size_bytes: None,
            };
            let path = push::write(dir.path(), rec, at).unwrap();
            let f = std::fs::File::options().append(true).open(path).unwrap();
            let mtime =
                std::time::UNIX_EPOCH + Duration::from_secs(1_000 + u64::try_from(at).unwrap());
            f.set_modified(mtime).unwrap();
        }
        let cx = ProbeCx {
            root: PathBuf::from("/"),
            state_dir: Some(dir.path().to_path_buf()),
            now_ms: i64::MAX,
            role: None,
            command_timeout: Duration::from_secs(5),
        };
        let Ok(State::Backups(b)) = probe.collect(&cx).await else {
            panic!("no backups state")
        };
        assert_eq!(b.jobs.len(), 2);
        let p = &b.jobs[0];
        assert!(
            p.error.is_none() && p.last_success_ms > 0 && p.last_failure_ms > 0,
            "{p:?}"
        );
        // One job failing does not fail the other, nor the probe.
        assert_eq!(b.jobs[1].error.as_ref().unwrap().code, "AG0208");
        // The older of the two `ok` records was pruned; the newest ok and failed remain.
        let left = std::fs::read_dir(dir.path().join(INCOMING_DIR))
            .unwrap()
            .count();
        assert_eq!(left, 2);
        assert!(
            summary_fr(&b).starts_with("2 tâche(s) de sauvegarde, 1 en erreur, 1 en échec"),
            "{}",
            summary_fr(&b)
        );
    }
}
