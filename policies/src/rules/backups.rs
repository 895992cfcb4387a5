//! Rules over the `Backups` evidence: BKP-001 (the dead-man's switch over each job's last success),
//! BKP-002 (a failed run not followed by a success), BKP-003 (copies in two distinct places, each
//! fresh), BKP-004 (an offline or immutable copy), BKP-005 (restore tested recently) and BKP-006
//! (encryption and enough restore points).
//!
//! Findings are per check and per host while evidence is per job, so every rule judges each job on
//! its own and [`aggregate`] folds the jobs: the worst job decides the outcome, and the detail names
//! each job that falls short. All times are UTC milliseconds; the agent reports UTC and the collector
//! hands in `now_ms`, so a daily job keeps a 24-hour period across daylight-saving changes (a local
//! 02:30 job is 23 h or 25 h apart in UTC twice a year, which the grace absorbs). Not here: the
//! framing shared by every check (unknown, stale, probe error, waivers), see `evaluate.rs`.

use std::collections::BTreeSet;

use vigie_proto::v1::backup_job::{Encryption, Outcome as RunOutcome};
use vigie_proto::v1::{BackupDestination, BackupJob, Backups};

use super::{RuleKind, Verdict};
use crate::text::{date_fr, duration_fr, host_text, plural, SECOND_MS};
use crate::thresholds::ThresholdReader;
use crate::vocabulary::{Role, Severity};

/// Jobs named in one detail before the rest are only counted, so a detail stays one short line.
const MAX_NAMED_JOBS: usize = 4;

/// The six backup rules, each with the thresholds it read for one profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BackupsRule {
    /// `backups.last_success` (BKP-001).
    LastSuccess(Switch),
    /// `backups.failed_runs` (BKP-002).
    FailedRuns,
    /// `backups.distinct_places` (BKP-003).
    Places {
        min_destinations: u64,
        min_sites: u64,
        max_age_ms: i64,
    },
    /// `backups.offline_copy` (BKP-004).
    OfflineCopy { max_age_ms: i64 },
    /// `backups.restore_test` (BKP-005).
    RestoreTest {
        warn_after_ms: i64,
        fail_after_ms: i64,
    },
    /// `backups.protection` (BKP-006).
    Protection { min_restore_points: u64 },
}

/// The dead-man's switch of BKP-001: a job declares its period and grace, or the profile gives them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Switch {
    default_period_ms: i64,
    default_grace_ms: i64,
}

/// The state of one job's switch at `now_ms` (reference/evidence-sources.md §1.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SwitchState {
    /// Succeeded within its period.
    Up,
    /// Past its period, within its grace: reported, not yet an alert (a late night, a DST change).
    Late,
    /// Past period + grace, or started and not done within grace, or failed since its last success,
    /// or never succeeded.
    Down,
}

/// What one rule concludes about one job.
#[derive(Debug, Clone, PartialEq, Eq)]
enum JobVerdict {
    Pass(String),
    /// `None`: the check's own severity.
    Fail(Option<Severity>, String),
    Unknown(String),
    Error(String),
}

impl BackupsRule {
    pub(crate) fn read(kind: RuleKind, r: &mut ThresholdReader<'_>) -> BackupsRule {
        match kind {
            RuleKind::BackupsLastSuccess => {
                let default_period_ms = r.positive_duration_ms("default_period_hours");
                let default_grace_ms = r.duration_ms("grace_hours");
                BackupsRule::LastSuccess(Switch {
                    default_period_ms,
                    default_grace_ms,
                })
            }
            RuleKind::BackupsFailedRuns => BackupsRule::FailedRuns,
            RuleKind::BackupsDistinctPlaces => {
                let min_destinations = r.number("min_destinations_count");
                let min_sites = r.number("min_sites_count");
                r.require(
                    min_sites <= min_destinations,
                    "min_sites_count",
                    "must not exceed min_destinations_count",
                );
                BackupsRule::Places {
                    min_destinations,
                    min_sites,
                    max_age_ms: r.positive_duration_ms("max_destination_age_days"),
                }
            }
            RuleKind::BackupsOfflineCopy => BackupsRule::OfflineCopy {
                max_age_ms: r.positive_duration_ms("max_offline_age_days"),
            },
            RuleKind::BackupsRestoreTest => {
                let warn_after_ms = r.positive_duration_ms("warn_after_days");
                let fail_after_ms = r.positive_duration_ms("fail_after_days");
                r.require(
                    warn_after_ms <= fail_after_ms,
                    "warn_after_days",
                    "must not exceed fail_after_days",
                );
                BackupsRule::RestoreTest {
                    warn_after_ms,
                    fail_after_ms,
                }
            }
            _ => BackupsRule::Protection {
                min_restore_points: r.number("min_restore_points_count"),
            },
        }
    }

    /// Judges every declared job. A host that declares no job fails BKP-001 when it is a server or
    /// of unknown role (a silent opt-out must not look green; the ping pseudo-hosts always have a
    /// job), is `not_applicable` on workstations and laptops, whose data belongs on a backed-up file
    /// server; the other checks have nothing to judge and say `unknown`.
    pub(crate) fn judge(&self, s: &Backups, role: Option<Role>, now_ms: i64) -> Verdict {
        if s.jobs.is_empty() {
            let none = "aucune sauvegarde déclarée".to_owned();
            return match (self, role) {
                (_, Some(Role::Workstation | Role::Laptop)) => Verdict::NotApplicable(format!(
                    "{none} sur ce poste (ses données doivent résider sur un serveur sauvegardé)"
                )),
                (BackupsRule::LastSuccess(_), _) => Verdict::fail(format!(
                    "{none} (déclarer les tâches dans la configuration de l'agent, section probes.backups)"
                )),
                _ => Verdict::Unknown(none),
            };
        }
        aggregate(&s.jobs, |job| {
            if let Some(e) = &job.error {
                let unreadable = format!(
                    "illisible : {} : {}",
                    host_text(&e.code),
                    host_text(&e.message)
                );
                // A repository nobody wrote for longer than period + grace had no backup either,
                // even when the agent cannot read it (borg's security directory needs no secret).
                if let BackupsRule::LastSuccess(switch) = self {
                    if let Some(down) = switch.not_written(job, now_ms) {
                        return JobVerdict::Fail(None, format!("{down} ; {unreadable}"));
                    }
                }
                return JobVerdict::Error(unreadable);
            }
            match self {
                BackupsRule::LastSuccess(switch) => switch.judge_job(job, now_ms),
                BackupsRule::FailedRuns => failed_runs(job, now_ms),
                BackupsRule::Places {
                    min_destinations,
                    min_sites,
                    max_age_ms,
                } => places(job, *min_destinations, *min_sites, *max_age_ms, now_ms),
                BackupsRule::OfflineCopy { max_age_ms } => offline_copy(job, *max_age_ms, now_ms),
                BackupsRule::RestoreTest {
                    warn_after_ms,
                    fail_after_ms,
                } => restore_test(job, *warn_after_ms, *fail_after_ms, now_ms),
                BackupsRule::Protection { min_restore_points } => {
                    protection(job, *min_restore_points)
                }
            }
        })
    }
}

impl Switch {
    /// The job's period and grace: declared by the job, else the profile's.
    fn period_and_grace(&self, job: &BackupJob) -> (i64, i64) {
        let ms = |secs: u64| {
            i64::try_from(secs)
                .unwrap_or(i64::MAX)
                .saturating_mul(SECOND_MS)
        };
        let period = match job.expected_period_secs {
            0 => self.default_period_ms,
            secs => ms(secs),
        };
        let grace = match job.grace_secs {
            0 => self.default_grace_ms,
            secs => ms(secs),
        };
        (period, grace)
    }

    /// The switch state of one job and the sentence that explains it. Host times in the future (a
    /// clock ahead of the collector's) count as "now", so they cannot postpone the deadline further.
    pub(crate) fn state(&self, job: &BackupJob, now_ms: i64) -> (SwitchState, String) {
        let (period, grace) = self.period_and_grace(job);
        let schedule = format!(
            "période {}, grâce {}",
            duration_fr(period),
            duration_fr(grace)
        );
        let success = job.last_success_ms.min(now_ms);
        let failure = job.last_failure_ms.min(now_ms);
        let start = job.last_start_ms.min(now_ms);
        if job.last_success_ms <= 0 {
            let failed = if failure > 0 {
                format!(", dernier échec il y a {}", duration_fr(now_ms - failure))
            } else {
                String::new()
            };
            return (
                SwitchState::Down,
                format!("en panne : aucune réussite connue{failed} ({schedule})"),
            );
        }
        let age = now_ms.saturating_sub(success);
        let ago = duration_fr(age);
        let failed_last = failure > success || job.last_outcome() == RunOutcome::Failure;
        if failed_last {
            return (
                SwitchState::Down,
                format!("en panne : dernier passage en échec, dernière réussite il y a {ago}"),
            );
        }
        if start > success && now_ms.saturating_sub(start) > grace {
            return (
                SwitchState::Down,
                format!(
                    "en panne : démarrée il y a {} sans réussite depuis, dernière réussite il y a {ago} ({schedule})",
                    duration_fr(now_ms.saturating_sub(start))
                ),
            );
        }
        if age > period.saturating_add(grace) {
            return (
                SwitchState::Down,
                format!("en panne : dernière réussite il y a {ago} ({schedule})"),
            );
        }
        if age > period {
            return (
                SwitchState::Late,
                format!("en retard, dans le délai de grâce : dernière réussite il y a {ago} ({schedule})"),
            );
        }
        (
            SwitchState::Up,
            format!("à jour : dernière réussite il y a {ago} ({schedule})"),
        )
    }

    /// Down when the repository's last write (`last_repository_write_ms`, borg's security
    /// directory) is older than period + grace. Only ever a failure: a recent write may be a prune
    /// or an interrupted run, never proof of a success.
    fn not_written(&self, job: &BackupJob, now_ms: i64) -> Option<String> {
        let written = job.last_repository_write_ms.min(now_ms);
        if written <= 0 {
            return None;
        }
        let (period, grace) = self.period_and_grace(job);
        let age = now_ms.saturating_sub(written);
        (age > period.saturating_add(grace)).then(|| {
            format!(
                "en panne : dépôt non modifié depuis {} (période {}, grâce {})",
                duration_fr(age),
                duration_fr(period),
                duration_fr(grace)
            )
        })
    }

    /// Down fails at the check's severity; late passes with its own wording: the checklist's bound
    /// is period + grace (26 h for a daily job), and a late night or a DST change must not alert.
    fn judge_job(&self, job: &BackupJob, now_ms: i64) -> JobVerdict {
        match self.state(job, now_ms) {
            (SwitchState::Down, detail) => JobVerdict::Fail(None, detail),
            (SwitchState::Up | SwitchState::Late, detail) => JobVerdict::Pass(detail),
        }
    }
}

/// BKP-002: the newest failure is newer than the newest success (or the last outcome says failure).
fn failed_runs(job: &BackupJob, now_ms: i64) -> JobVerdict {
    let failure = job.last_failure_ms;
    let success = job.last_success_ms;
    let message = match job.last_failure_message.trim() {
        "" => String::new(),
        m => format!(" : {}", host_text(m)),
    };
    if failure > success || (job.last_outcome() == RunOutcome::Failure && failure <= 0) {
        let when = if failure > 0 {
            format!(
                "le {} (il y a {})",
                date_fr(failure),
                duration_fr(now_ms.saturating_sub(failure))
            )
        } else {
            "à une date inconnue".to_owned()
        };
        let since = if success > 0 {
            format!(
                ", aucune réussite depuis (dernière le {})",
                date_fr(success)
            )
        } else {
            ", aucune réussite connue".to_owned()
        };
        return JobVerdict::Fail(None, format!("échec {when}{since}{message}"));
    }
    match (success > 0, failure > 0) {
        (true, true) => JobVerdict::Pass(format!(
            "dernier échec le {} suivi d'une réussite le {}",
            date_fr(failure),
            date_fr(success)
        )),
        (true, false) => JobVerdict::Pass("aucun échec connu".to_owned()),
        _ => JobVerdict::Unknown("aucun passage connu".to_owned()),
    }
}

/// A destination's name for a detail: its declared name, else its kind.
fn dest_name(d: &BackupDestination) -> String {
    let name = if d.name.trim().is_empty() {
        &d.kind
    } else {
        &d.name
    };
    format!("« {} »", host_text(name.trim()))
}

/// The declared site, normalised so that `Mairie ` and `mairie` are one place; `None` if undeclared.
fn site(d: &BackupDestination) -> Option<String> {
    let s = d.site.trim().to_lowercase();
    (!s.is_empty()).then_some(s)
}

/// Why an observed destination is not fresh, or `None` when it is (or is declared only).
fn not_fresh(d: &BackupDestination, max_age_ms: i64, now_ms: i64) -> Option<String> {
    if !d.observed {
        return None;
    }
    if d.last_success_ms <= 0 {
        return Some(format!("{} : aucune réussite observée", dest_name(d)));
    }
    let age = now_ms.saturating_sub(d.last_success_ms);
    (age > max_age_ms).then(|| {
        format!(
            "{} : dernière réussite il y a {} (seuil {})",
            dest_name(d),
            duration_fr(age),
            duration_fr(max_age_ms)
        )
    })
}

/// BKP-003: enough destinations on enough distinct declared sites, each observed one fresh. Sites
/// are declarations: two destinations with the same site, or with none, are one place at most.
fn places(
    job: &BackupJob,
    min_destinations: u64,
    min_sites: u64,
    max_age_ms: i64,
    now_ms: i64,
) -> JobVerdict {
    let dests = &job.destinations;
    let sites: BTreeSet<String> = dests.iter().filter_map(site).collect();
    let site_list: Vec<String> = sites.iter().map(|s| host_text(s)).collect();
    let summary = format!(
        "{} sur {} ({})",
        plural(dests.len(), "destination", "destinations"),
        plural(sites.len(), "site déclaré", "sites déclarés"),
        if site_list.is_empty() {
            "aucun".to_owned()
        } else {
            site_list.join(", ")
        }
    );
    if (dests.len() as u64) < min_destinations {
        return JobVerdict::Fail(None, format!("{summary}, minimum {min_destinations}"));
    }
    if (sites.len() as u64) < min_sites {
        return JobVerdict::Fail(
            None,
            format!("{summary} : pas de copie hors site (minimum {min_sites} sites)"),
        );
    }
    let stale: Vec<String> = dests
        .iter()
        .filter_map(|d| not_fresh(d, max_age_ms, now_ms))
        .collect();
    if !stale.is_empty() {
        return JobVerdict::Fail(
            None,
            format!("{summary}, copie périmée {}", stale.join(", ")),
        );
    }
    JobVerdict::Pass(summary)
}

/// BKP-004: at least one destination declared offline or immutable, fresh when observed.
fn offline_copy(job: &BackupJob, max_age_ms: i64, now_ms: i64) -> JobVerdict {
    let candidates: Vec<&BackupDestination> = job
        .destinations
        .iter()
        .filter(|d| d.offline || d.immutable)
        .collect();
    let what = |d: &BackupDestination| {
        let kind = if d.offline { "hors ligne" } else { "immuable" };
        format!("copie {kind} {}", dest_name(d))
    };
    if candidates.is_empty() {
        return JobVerdict::Fail(
            None,
            "aucune copie hors ligne ou immuable déclarée".to_owned(),
        );
    }
    if let Some(good) = candidates
        .iter()
        .find(|d| not_fresh(d, max_age_ms, now_ms).is_none())
    {
        let how = if good.observed {
            format!(
                "dernière réussite il y a {}",
                duration_fr(now_ms.saturating_sub(good.last_success_ms))
            )
        } else {
            "déclarée, non observée par l'agent".to_owned()
        };
        return JobVerdict::Pass(format!("{} : {how}", what(good)));
    }
    let stale: Vec<String> = candidates
        .iter()
        .filter_map(|d| not_fresh(d, max_age_ms, now_ms))
        .collect();
    JobVerdict::Fail(
        None,
        format!("copie hors ligne ou immuable périmée {}", stale.join(", ")),
    )
}

/// BKP-005: the newest successful restore test within `warn_after` passes, within `fail_after` fails
/// graded medium (the checklist's "warn": the outcome set has none, DESIGN decision 19), beyond it
/// fails at the check's severity. A failed test newer than the last good one fails outright.
fn restore_test(
    job: &BackupJob,
    warn_after_ms: i64,
    fail_after_ms: i64,
    now_ms: i64,
) -> JobVerdict {
    let mut last_ok = job.last_restore_test_ms;
    if let Some(t) = &job.restore_test {
        if t.ok {
            last_ok = last_ok.max(t.at_ms);
        } else if t.at_ms > last_ok {
            let message = match t.message.trim() {
                "" => String::new(),
                m => format!(" : {}", host_text(m)),
            };
            return JobVerdict::Fail(
                None,
                format!(
                    "dernier test de restauration en échec le {} ({} fichiers différents sur {}){message}",
                    date_fr(t.at_ms),
                    t.files_differing,
                    t.files_compared
                ),
            );
        }
    }
    if last_ok <= 0 {
        return JobVerdict::Fail(None, "aucun test de restauration connu".to_owned());
    }
    let age = now_ms.saturating_sub(last_ok);
    let summary = format!(
        "dernier test de restauration réussi le {} (il y a {})",
        date_fr(last_ok),
        duration_fr(age)
    );
    if age > fail_after_ms {
        JobVerdict::Fail(
            None,
            format!("{summary}, seuil {}", duration_fr(fail_after_ms)),
        )
    } else if age > warn_after_ms {
        JobVerdict::Fail(
            Some(Severity::Medium),
            format!(
                "{summary}, à refaire (alerte après {}, échec après {})",
                duration_fr(warn_after_ms),
                duration_fr(fail_after_ms)
            ),
        )
    } else {
        JobVerdict::Pass(summary)
    }
}

/// BKP-006: encrypted at rest, and at least `min_restore_points` restore points.
fn protection(job: &BackupJob, min_restore_points: u64) -> JobVerdict {
    let mode = match job.encryption_mode.trim() {
        "" => String::new(),
        m => format!(" ({})", host_text(m)),
    };
    let mut fails = Vec::new();
    let mut unknowns = Vec::new();
    let mut fine = Vec::new();
    match job.encryption() {
        Encryption::Encrypted => fine.push(format!("chiffrée{mode}")),
        Encryption::NotEncrypted => fails.push(format!("non chiffrée{mode}")),
        Encryption::Unspecified => unknowns.push("chiffrement inconnu".to_owned()),
    }
    let points = plural(
        usize::try_from(job.restore_points).unwrap_or(usize::MAX),
        "point de restauration",
        "points de restauration",
    );
    if !job.restore_points_known {
        unknowns.push("nombre de points de restauration inconnu".to_owned());
    } else if job.restore_points < min_restore_points {
        fails.push(format!("{points} (minimum {min_restore_points})"));
    } else {
        fine.push(points);
    }
    let all = |parts: &[Vec<String>]| parts.concat().join(", ");
    if !fails.is_empty() {
        JobVerdict::Fail(None, all(&[fails, unknowns, fine]))
    } else if !unknowns.is_empty() {
        JobVerdict::Unknown(all(&[unknowns, fine]))
    } else {
        JobVerdict::Pass(all(&[fine]))
    }
}

/// How bad a job failure is, for "the worst job decides": the check's own severity (`None`) ranks
/// above any grade a rule gives, since rules only ever grade failures down.
fn rank(severity: Option<Severity>) -> usize {
    match severity {
        None => Severity::ALL.len(),
        Some(s) => Severity::ALL.iter().position(|x| *x == s).unwrap_or(0),
    }
}

/// Folds the per-job verdicts: any failure fails (at the worst job's severity), else any error is an
/// error, else any unknown is unknown, else pass. The detail lists the jobs that decided it, by name.
fn aggregate(jobs: &[BackupJob], judge: impl Fn(&BackupJob) -> JobVerdict) -> Verdict {
    let mut fails = Vec::new();
    let mut errors = Vec::new();
    let mut unknowns = Vec::new();
    let mut passes = Vec::new();
    let mut worst: Option<Option<Severity>> = None;
    for job in jobs {
        let name = format!("« {} »", host_text(job.name.trim()));
        match judge(job) {
            JobVerdict::Fail(severity, d) => {
                if worst.is_none_or(|w| rank(severity) > rank(w)) {
                    worst = Some(severity);
                }
                fails.push(format!("{name} : {d}"));
            }
            JobVerdict::Error(d) => errors.push(format!("{name} : {d}")),
            JobVerdict::Unknown(d) => unknowns.push(format!("{name} : {d}")),
            JobVerdict::Pass(d) => passes.push(format!("{name} : {d}")),
        }
    }
    let others = |n: usize, what: &str| -> String {
        if n == 0 {
            String::new()
        } else {
            format!(" ; {} {what}", plural(n, "autre tâche", "autres tâches"))
        }
    };
    if let Some(severity) = worst {
        let rest = format!(
            "{}{}",
            others(errors.len() + unknowns.len(), "indécise"),
            others(passes.len(), "conforme")
        );
        let detail = format!("{}{rest}", named(&fails));
        return match severity {
            None => Verdict::fail(detail),
            Some(s) => Verdict::fail_as(s, detail),
        };
    }
    if !errors.is_empty() {
        return Verdict::Error(format!(
            "{}{}",
            named(&errors),
            others(passes.len() + unknowns.len(), "lisible")
        ));
    }
    if !unknowns.is_empty() {
        return Verdict::Unknown(format!(
            "{}{}",
            named(&unknowns),
            others(passes.len(), "conforme")
        ));
    }
    Verdict::Pass(named(&passes))
}

/// The first `MAX_NAMED_JOBS` items joined, then how many more.
fn named(items: &[String]) -> String {
    let mut out: Vec<String> = items.iter().take(MAX_NAMED_JOBS).cloned().collect();
    let rest = items.len().saturating_sub(MAX_NAMED_JOBS);
    if rest > 0 {
        out.push(format!("et {}", plural(rest, "autre", "autres")));
    }
    out.join(" ; ")
}

#[cfg(test)]
mod tests;
