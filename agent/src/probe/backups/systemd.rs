//! systemd jobs: the result and timestamps of the service unit that runs a backup, from
//! `systemctl show -p Result,ExecMainStartTimestamp,ExecMainExitTimestamp,ExecMainStatus,ActiveState`.
//! `parse` is pure and tested on recorded outputs (the test machines have no systemd); the command
//! runs only on the live host (root `/`) and under `TZ=UTC`, so timestamps end in `UTC`.

use std::collections::HashMap;

use vigie_proto::v1::BackupJob;

use super::command;
use super::config::{Job, Settings};
use super::{sanitize, timefmt, JobError};
use crate::probe::ProbeCx;

const PROPERTIES: &str =
    "Result,ExecMainStartTimestamp,ExecMainExitTimestamp,ExecMainStatus,ActiveState";

/// What the unit says of its last run.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct UnitRun {
    pub start_ms: Option<i64>,
    pub exit_ms: Option<i64>,
    pub running: bool,
    /// `Some(true)` success, `Some(false)` failure, `None` never finished.
    pub success: Option<bool>,
    /// e.g. `Result=exit-code, ExecMainStatus=1`.
    pub detail: String,
    pub problems: Vec<String>,
}

/// Parses `systemctl show -p …` output (`Key=Value` lines, any order, unknown keys ignored).
pub fn parse(text: &str) -> UnitRun {
    let props: HashMap<&str, &str> = text.lines().filter_map(|l| l.split_once('=')).collect();
    let get = |k: &str| props.get(k).copied().unwrap_or_default().trim();
    let mut run = UnitRun::default();
    for (key, slot) in [
        ("ExecMainStartTimestamp", &mut run.start_ms),
        ("ExecMainExitTimestamp", &mut run.exit_ms),
    ] {
        let v = get(key);
        if v.is_empty() || v == "n/a" {
            continue;
        }
        *slot = timefmt::systemd_ms(v);
        if slot.is_none() {
            run.problems.push(format!(
                "{key}={} is not a UTC systemd timestamp",
                sanitize(v, 64)
            ));
        }
    }
    let state = get("ActiveState");
    let result = get("Result");
    let status = get("ExecMainStatus");
    run.running = matches!(state, "activating" | "deactivating" | "reloading")
        || (state == "active" && run.start_ms.is_some() && run.exit_ms.is_none());
    if run.exit_ms.is_some() && !run.running {
        run.success = Some(result == "success" && matches!(status, "0" | ""));
    }
    run.detail = sanitize(
        &format!("Result={result}, ExecMainStatus={status}, ActiveState={state}"),
        200,
    );
    run
}

/// Fills `out` for a systemd job.
pub async fn collect(
    job: &Job,
    s: &Settings,
    cx: &ProbeCx,
    now_ms: i64,
    out: &mut BackupJob,
) -> Result<(), JobError> {
    if !cx.is_live_root() {
        return Err(JobError::Unsupported {
            job: job.name.clone(),
            reason: format!(
                "systemd unit results are read on the running host only, not under {}",
                cx.root.display()
            ),
        });
    }
    let unit = job.unit.clone().unwrap_or_default();
    let args: Vec<String> = ["show", "-p", PROPERTIES, "--", &unit]
        .iter()
        .map(|a| (*a).to_owned())
        .collect();
    let res = command::run(&job.name, "systemctl", &s.systemctl, &args, &[], s.timeout).await?;
    if res.code != Some(0) {
        return Err(JobError::ToolFailed {
            job: job.name.clone(),
            tool: "systemctl",
            status: res.status,
            stderr: super::toolout::stderr_excerpt(&res.stderr, None),
        });
    }
    apply(
        &parse(&String::from_utf8_lossy(&res.stdout)),
        &unit,
        now_ms,
        out,
    );
    Ok(())
}

/// Copies a parsed unit run into the job evidence.
pub fn apply(run: &UnitRun, unit: &str, now_ms: i64, out: &mut BackupJob) {
    out.problems.extend(run.problems.iter().cloned());
    out.running = run.running;
    let mut facts = vec!["running"];
    if let Some(s) = run.start_ms {
        out.last_start_ms = s.min(now_ms);
        facts.push("last_start_ms");
    }
    match (run.success, run.exit_ms) {
        (Some(true), Some(end)) => {
            out.last_success_ms = end.min(now_ms);
            if let Some(s) = run.start_ms {
                out.duration_ms = u64::try_from(end.saturating_sub(s)).unwrap_or(0);
                out.duration_known = true;
                facts.push("duration_ms");
            }
            facts.push("last_success_ms");
        }
        (Some(false), Some(end)) => {
            out.last_failure_ms = end.min(now_ms);
            out.last_failure_message = format!("unit {unit}: {}", run.detail);
            facts.extend(["last_failure_ms", "last_failure_message"]);
        }
        _ => {}
    }
    super::add_source(out, "cmd", &format!("systemctl show {unit}"), &facts);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(text: &str, expect: (Option<i64>, Option<i64>, bool, Option<bool>), problems: usize) {
        let r = parse(text);
        assert_eq!(
            (r.start_ms, r.exit_ms, r.running, r.success),
            expect,
            "{r:?}"
        );
        assert_eq!(r.problems.len(), problems, "{r:?}");
    }

    #[test]
    fn recorded_outputs() {
        let start = Some(1_795_831_201_000);
        check(
            include_str!("fixtures/systemctl-show-success.txt"),
            (start, Some(1_795_831_964_000), false, Some(true)),
            0,
        );
        check(
            include_str!("fixtures/systemctl-show-failed.txt"),
            (start, Some(1_795_831_209_000), false, Some(false)),
            0,
        );
        check(
            include_str!("fixtures/systemctl-show-running.txt"),
            (start, None, true, None),
            0,
        );
        check(
            include_str!("fixtures/systemctl-show-never.txt"),
            (None, None, false, None),
            0,
        );
        // A host not under TZ=UTC (a recorded output from a French host): no guess, a problem.
        check(
            "Result=success\nExecMainExitTimestamp=Sat 2026-11-28 03:12:44 CET\n",
            (None, None, false, None),
            1,
        );
        check("", (None, None, false, None), 0);
        check(&"garbage\n".repeat(10_000), (None, None, false, None), 0);
        let mut job = BackupJob::default();
        apply(
            &parse(include_str!("fixtures/systemctl-show-failed.txt")),
            "backup.service",
            i64::MAX,
            &mut job,
        );
        assert_eq!(
            job.last_failure_message,
            "unit backup.service: Result=exit-code, ExecMainStatus=1, ActiveState=failed"
        );
    }
}
