//! Proxmox jobs on task directories assembled from recorded task lists and task logs (PVE 8 and
//! PBS 3 formats): success, failure, a partial vzdump (one guest of three failed), warnings, a run in
//! progress, a rotated PBS archive, garbage and a 10 MB line, a hostile UPID and a symlinked log.

use std::path::Path;

use vigie_proto::v1::BackupJob;

use super::*;
use crate::probe::backups::config::BackupsConfig;

const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/src/probe/backups/fixtures/proxmox"
);

fn fixture(name: &str) -> String {
    std::fs::read_to_string(Path::new(FIXTURES).join(name)).unwrap()
}

/// The index lines whose UPID contains one of `starts` (hex start times), in order.
fn lines(list: &str, starts: &[&str]) -> String {
    fixture(list)
        .lines()
        .filter(|l| starts.iter().any(|s| l.contains(&format!(":{s}:"))))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// Writes task log `log` (a fixture) where Proxmox keeps the log of `upid`.
fn put_log(dir: &Path, upid_text: &str, log: &str) {
    let u = upid::parse(upid_text).unwrap();
    let path = u.log_path(dir);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, fixture(log)).unwrap();
}

fn job(toml_job: &str) -> Job {
    let cfg: BackupsConfig =
        toml::from_str(&format!("[[jobs]]\nname = \"j\"\n{toml_job}")).unwrap();
    cfg.settings().unwrap().jobs.remove(0)
}

fn run(job: &Job) -> Result<BackupJob, JobError> {
    let mut out = BackupJob::default();
    collect(job, Path::new("/"), 1_796_000_000_000, &mut out).map(|()| out)
}

const PVE_OK: &str = "UPID:pve1:000B1C07:03C4D2E5:6B078492:vzdump::root@pam:";
const PVE_PARTIAL: &str = "UPID:pve1:000C0D44:03D6B3A2:6B08D611:vzdump::root@pam:";
const PVE_OFFLINE: &str = "UPID:pve1:000A3F21:03B2C411:6B063312:vzdump::root@pam:";
const PVE_WARNED: &str = "UPID:pve1:000D0F12:03E7C1B9:6B0A2792:vzdump::root@pam:";
const PBS_OK: &str = "UPID:pbs-mairie:000004D2:0001A2F3:00000057:6B0A2792:backup:store1\\x3avm-100:pve-sync@pbs!pve1:";
const PBS_FAILED: &str = "UPID:pbs-mairie:000004D2:0001A2F3:00000041:6B08D624:backup:store1\\x3avm-100:pve-sync@pbs!pve1:";
const PBS_VERIFY: &str = "UPID:pbs-mairie:000004D2:0001A2F3:0000005A:6B0A51C0:verificationjob:store1\\x3av\\x2d3f2a1b9c\\x2d1a2b:root@pam:";

fn pve_dir(index: &str, active: Option<&str>) -> (tempfile::TempDir, Job) {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("index"), index).unwrap();
    if let Some(a) = active {
        std::fs::write(tmp.path().join("active"), a).unwrap();
    }
    for (upid, log) in [
        (PVE_OK, "pve-vzdump-ok.log"),
        (PVE_PARTIAL, "pve-vzdump-partial.log"),
        (PVE_OFFLINE, "pve-vzdump-storage-offline.log"),
        (PVE_WARNED, "pve-vzdump-warnings.log"),
    ] {
        put_log(tmp.path(), upid, log);
    }
    let j = job(&format!(
        "tool = \"vzdump\"\ntask_dir = \"{}\"\n",
        tmp.path().display()
    ));
    (tmp, j)
}

#[test]
fn pve_success_after_a_failed_night() {
    // 25/11 storage offline, 26/11 success, plus a VM start that is not a backup.
    let (_tmp, j) = pve_dir(
        &lines("pve-index", &["6B063312", "6B078492", "6B07E700"]),
        None,
    );
    let out = run(&j).unwrap();
    assert_eq!(out.last_success_ms, 1_795_655_560_000);
    assert_eq!((out.duration_ms, out.duration_known), (758_000, true));
    assert_eq!(out.last_start_ms, 1_795_654_802_000);
    assert_eq!(out.last_failure_ms, 1_795_568_579_000);
    assert_eq!(
        out.last_failure_message,
        "could not activate storage 'nas-mairie': storage 'nas-mairie' is not online"
    );
    assert!(!out.running);
    assert!(out.problems.is_empty(), "{:?}", out.problems);
    let facts = &out.sources[0].facts;
    assert!(facts.contains(&"last_success_ms".to_owned()), "{facts:?}");
}

#[test]
fn pve_partial_job_is_a_failure_naming_the_guest_then_warnings_then_running() {
    // Up to 27/11: the newest run backed up two guests of three.
    let (_tmp, j) = pve_dir(
        &lines("pve-index", &["6B063312", "6B078492", "6B08D611"]),
        None,
    );
    let out = run(&j).unwrap();
    assert_eq!(out.last_failure_ms, 1_795_742_050_000);
    assert_eq!(
        out.last_failure_message,
        "job errors (1 of 3 guest(s) failed): Backup of VM 101 failed - VM 101 qmp command 'backup' failed - got timeout"
    );
    assert_eq!(out.last_success_ms, 1_795_655_560_000);

    // The whole index (garbage and a path-traversal UPID included) and `active`.
    let (_tmp, j) = pve_dir(&fixture("pve-index"), Some(&fixture("pve-active")));
    let out = run(&j).unwrap();
    // 28/11 ended with a warning: a success, with a problem.
    assert_eq!(out.last_success_ms, 1_795_828_385_000);
    assert_eq!(out.last_failure_ms, 1_795_742_050_000);
    // 29/11 is running.
    assert!(out.running);
    assert_eq!(out.last_start_ms, 1_795_914_003_000);
    assert_eq!(out.problems.len(), 2, "{:?}", out.problems);
    assert!(
        out.problems[0].ends_with("/index: 2 line(s) are not tasks and were ignored"),
        "{:?}",
        out.problems
    );
    assert!(
        out.problems[1].starts_with("the newest successful run ended with 1 warning(s)"),
        "{:?}",
        out.problems
    );
}

#[test]
fn pve_task_without_status_is_a_failure() {
    let index = "UPID:pve1:000B1C07:03C4D2E5:6B078492:vzdump::root@pam: 6B078788 unknown\n";
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("index"), index).unwrap();
    let j = job(&format!(
        "tool = \"vzdump\"\ntask_dir = \"{}\"\n",
        tmp.path().display()
    ));
    let out = run(&j).unwrap();
    assert_eq!(out.last_success_ms, 0);
    assert_eq!(out.last_failure_ms, 1_795_655_560_000);
    assert_eq!(
        out.last_failure_message,
        "the task ended without a status (killed, crash or power loss)"
    );
}

fn pbs_dir() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("archive"), fixture("pbs-archive")).unwrap();
    std::fs::write(tmp.path().join("active"), fixture("pbs-active")).unwrap();
    for (upid, log) in [
        (PBS_OK, "pbs-backup-ok.log"),
        (PBS_FAILED, "pbs-backup-failed.log"),
        (PBS_VERIFY, "pbs-verify-ok.log"),
    ] {
        put_log(tmp.path(), upid, log);
    }
    tmp
}

fn pbs_job(dir: &Path, extra: &str) -> Job {
    job(&format!(
        "tool = \"pbs\"\ndatastore = \"store1\"\ntask_dir = \"{}\"\n{extra}",
        dir.display()
    ))
}

#[test]
fn pbs_datastore_backups_and_verification() {
    let tmp = pbs_dir();
    let out = run(&pbs_job(tmp.path(), "")).unwrap();
    assert_eq!(out.last_success_ms, 1_795_827_616_000);
    assert_eq!(out.duration_ms, 14_000);
    // store2's failure is another datastore's: not this job's.
    assert_eq!(out.last_failure_ms, 1_795_741_411_000);
    assert_eq!(
        out.last_failure_message,
        "backup ended but finished flag is not set."
    );
    assert_eq!(out.last_integrity_check_ms, 1_795_838_462_000);
    assert!(out.running, "the 29/11 backup is in `active`");
    assert!(out.problems.is_empty(), "{:?}", out.problems);
    // One group: vm/100 has the runs, ct/101 has none (no success known: the collector says so).
    let out = run(&pbs_job(tmp.path(), "backup_group = \"vm/100\"\n")).unwrap();
    assert_eq!(out.last_success_ms, 1_795_827_616_000);
    let out = run(&pbs_job(tmp.path(), "backup_group = \"ct/101\"\n")).unwrap();
    assert_eq!((out.last_success_ms, out.last_failure_ms), (0, 0));
    // A verification job that failed is a problem, not an integrity check.
    let archive = fixture("pbs-archive").replace(
        "6B0A51FE OK",
        "6B0A51FE verification failed - please check the log for details",
    );
    std::fs::write(tmp.path().join("archive"), archive).unwrap();
    let out = run(&pbs_job(tmp.path(), "")).unwrap();
    assert_eq!(out.last_integrity_check_ms, 0);
    assert_eq!(
        out.problems,
        ["the newest verification failed: verification failed - please check the log for details"]
    );
}

#[test]
fn pbs_rotated_archive_is_read_from_the_task_logs() {
    let tmp = pbs_dir();
    // logrotate moved every finished task into archive.1.zst; `archive` is empty.
    std::fs::write(tmp.path().join("archive"), "").unwrap();
    std::fs::write(tmp.path().join("active"), "").unwrap();
    let out = run(&pbs_job(tmp.path(), "")).unwrap();
    // The times come from the logs' own last lines.
    assert_eq!(out.last_success_ms, 1_795_827_616_000);
    assert_eq!(out.last_failure_ms, 1_795_741_411_000);
    assert_eq!(out.last_integrity_check_ms, 1_795_838_462_000);
    assert!(
        out.problems[0]
            .ends_with("no finished run in the task lists (rotated?); read from the task logs"),
        "{:?}",
        out.problems
    );
}

#[test]
fn garbage_huge_lines_hostile_names_and_missing_directories() {
    let tmp = pbs_dir();
    // A 10 MB line, binary garbage, then the real list: the newest tasks are still found, within
    // a bounded read (the list's last MiB).
    let mut archive = vec![b'U'; 10 * 1024 * 1024];
    archive.extend_from_slice(b"\n\x00\x01\xff\xfe garbage\n");
    archive.extend_from_slice(fixture("pbs-archive").as_bytes());
    std::fs::write(tmp.path().join("archive"), archive).unwrap();
    let start = std::time::Instant::now();
    let out = run(&pbs_job(tmp.path(), "")).unwrap();
    assert!(start.elapsed() < std::time::Duration::from_secs(5));
    assert_eq!(out.last_success_ms, 1_795_827_616_000);
    assert!(
        out.problems[0].ends_with("/archive: 1 line(s) are not tasks and were ignored"),
        "{:?}",
        out.problems
    );

    // The failed run's log replaced by a symlink to a secret: not followed, the status stands.
    let log = upid::parse(PBS_FAILED).unwrap().log_path(tmp.path());
    std::fs::remove_file(&log).unwrap();
    let secret = tmp.path().join("secret");
    std::fs::write(
        &secret,
        "ERROR: Backup of VM 1 failed - hunter2\nTASK ERROR: hunter2\n",
    )
    .unwrap();
    std::os::unix::fs::symlink(&secret, &log).unwrap();
    std::fs::write(tmp.path().join("archive"), fixture("pbs-archive")).unwrap();
    let out = run(&pbs_job(tmp.path(), "")).unwrap();
    assert_eq!(
        out.last_failure_message,
        "backup ended but finished flag is not set."
    );

    // No task directory: the job's error, naming it.
    let j = job("tool = \"vzdump\"\ntask_dir = \"/nonexistent/pve/tasks\"\n");
    let err = run(&j).unwrap_err();
    assert_eq!(err.code(), "AG0208");
    assert!(
        err.to_string()
            .starts_with("job j: reading /nonexistent/pve/tasks:"),
        "{err}"
    );
    // A directory with neither list nor log: said, not taken for "no backup".
    let empty = tempfile::tempdir().unwrap();
    let j = job(&format!(
        "tool = \"vzdump\"\ntask_dir = \"{}\"\n",
        empty.path().display()
    ));
    let err = run(&j).unwrap_err();
    assert!(err.to_string().contains("no task list"), "{err}");
}
