//! Backup jobs with no agent, healthchecks-style (DESIGN §4 "Backups"): each job has a URL with its
//! own secret that the job calls with `curl` on success, start or failure; the collector keeps the
//! newest time of each signal and judges the job with the very rules that judge agent-reported jobs
//! (BKP-001 and BKP-002), by building a `vigie.v1.Backups` state for a pseudo-host `ping:<name>`.
//!
//! Not here: the HTTPS listener and its routes (`https.rs`), the storage (`store`), the admin
//! commands (`admin.rs`). Everything a ping carries is hostile: the secret is only ever hashed and
//! looked up, the failure message is sanitized and bounded before it is stored.

use rand::RngCore;
use vigie_policies::{Catalogue, DomainEvidence, HostEvidence, HostFacts, Profile};
use vigie_proto::v1::backup_job::Outcome;
use vigie_proto::v1::{
    domain_state::State, BackupDestination, BackupJob, Backups, Domain, DomainState,
};

use crate::server::enroll::token_hash;
use crate::store::{FindingRecord, PingJob, Store, StoreError};

/// Prefix of ping secrets, so that secret scanners recognise a leaked URL.
pub const SECRET_PREFIX: &str = "vigie_png_";
/// Longest secret looked up; anything longer is refused without hashing.
pub const MAX_SECRET_LEN: usize = 128;
/// Largest `/fail` body read (the failure message); larger requests are refused with 413.
pub const MAX_BODY_BYTES: usize = 10 * 1024;
/// Longest failure message kept, in bytes, as for agent-reported jobs (backups.proto).
pub const MAX_MESSAGE_BYTES: usize = 1024;
/// The checks a ping job is judged by: the others need facts a ping cannot give (destinations,
/// encryption, restore tests).
pub const PING_CHECKS: &[&str] = &["BKP-001", "BKP-002"];

/// A fresh secret: 32 random bytes from the OS, hex, prefixed.
pub fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("{SECRET_PREFIX}{}", hex::encode(bytes))
}

/// SHA-256 of a secret, the only form stored (the same scheme as enrollment tokens).
pub fn secret_hash(secret: &str) -> [u8; 32] {
    token_hash(secret)
}

/// Whether `name` is a valid job name: 1 to 64 ASCII letters, digits, `-`, `_` or `.`.
pub fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// A failure message as stored: lossy UTF-8, control characters (CR, LF, escapes) replaced by `?`,
/// trimmed, at most `MAX_MESSAGE_BYTES` bytes cut on a character boundary.
pub fn sanitize_message(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut out = String::new();
    for c in text.trim().chars() {
        let c = if c.is_control() { '?' } else { c };
        if out.len() + c.len_utf8() > MAX_MESSAGE_BYTES {
            break;
        }
        out.push(c);
    }
    out
}

/// The evidence a ping job stands for at `now_ms`, or `None` for a job that has not signalled yet
/// and is still within its first period and grace (healthchecks' "new" state: judged `unknown`,
/// not down, so that adding a job does not raise an alert before it could have run).
///
/// The state's receive time is `now_ms`, not the time of the newest ping: the collector is itself
/// the observer of a ping job, and its knowledge ("no ping since X") is current. Dating it from the
/// newest ping would turn a job that stopped pinging into `stale` after `stale_after_secs`, hiding
/// the very "down" the dead-man's switch exists to raise.
pub fn evidence(job: &PingJob, now_ms: i64) -> Option<HostEvidence> {
    let secs_ms = |s: u64| i64::try_from(s.saturating_mul(1000)).unwrap_or(i64::MAX);
    let first_deadline = job
        .created_at_ms
        .saturating_add(secs_ms(job.period_secs))
        .saturating_add(secs_ms(job.grace_secs));
    let last_signal = job.last_signal_ms();
    if last_signal == 0 && now_ms <= first_deadline {
        return None;
    }
    let outcome = if last_signal == 0 {
        Outcome::Unspecified
    } else if job.last_failure_ms == last_signal {
        Outcome::Failure
    } else if job.last_success_ms == last_signal {
        Outcome::Success
    } else {
        Outcome::Running
    };
    let destinations = if job.site.is_empty() && !job.offline {
        Vec::new()
    } else {
        vec![BackupDestination {
            kind: "ping".to_owned(),
            name: job.name.clone(),
            site: job.site.clone(),
            offline: job.offline,
            ..Default::default()
        }]
    };
    let backup = BackupJob {
        name: job.name.clone(),
        tool: "ping".to_owned(),
        last_success_ms: job.last_success_ms,
        last_failure_ms: job.last_failure_ms,
        last_failure_message: job.last_failure_message.clone(),
        last_start_ms: job.last_start_ms,
        running: outcome == Outcome::Running,
        last_outcome: outcome as i32,
        expected_period_secs: job.period_secs,
        grace_secs: job.grace_secs,
        destinations,
        ..Default::default()
    };
    let state = DomainState {
        domain: Domain::Backups as i32,
        probe_id: "ping".to_owned(),
        collected_at_ms: now_ms,
        state: Some(State::Backups(Backups {
            jobs: vec![backup],
            problems: Vec::new(),
        })),
        ..Default::default()
    };
    Some(HostEvidence {
        facts: HostFacts {
            host_id: job.pseudo_host(),
            hostname: job.pseudo_host(),
            role: None,
            last_seen_ms: (last_signal > 0).then_some(last_signal),
            cloned_identity: false,
            equivocation: false,
            contractor_policy: None,
            attestations: Vec::new(),
            maintenance: Vec::new(),
        },
        domains: vec![DomainEvidence {
            received_at_ms: now_ms,
            state,
            // No signed report stands behind a ping: (0, receive time of the newest signal).
            evidence_ref: (0, u64::try_from(last_signal).unwrap_or(0)),
        }],
    })
}

/// The findings of one ping job at `now_ms`: BKP-001 and BKP-002 only, with `waivers` (its
/// organisation's) applied: those for the whole organisation and those naming its pseudo-host
/// `ping:<name>` (a ping job is in no group).
pub fn findings(
    catalogue: &Catalogue,
    profile: Profile,
    job: &PingJob,
    waivers: &[crate::store::WaiverRecord],
    now_ms: i64,
) -> Vec<FindingRecord> {
    let host = job.pseudo_host();
    let waivers: Vec<vigie_policies::Waiver> = waivers
        .iter()
        .filter(|w| w.org == job.org)
        .filter_map(|w| w.for_host(&host, &[], now_ms))
        .collect();
    let evidence = evidence(job, now_ms).unwrap_or_else(|| HostEvidence {
        facts: HostFacts {
            host_id: host.clone(),
            hostname: host.clone(),
            ..Default::default()
        },
        domains: Vec::new(),
    });
    vigie_policies::evaluate(catalogue, profile, &evidence, &waivers, now_ms)
        .into_iter()
        .filter(|f| PING_CHECKS.contains(&f.check_id.as_str()))
        .map(|f| FindingRecord::from_finding(&job.org, &host, &host, f, now_ms))
        .collect()
}

/// Judges every ping job of every organisation and stores the findings; returns how many jobs.
pub async fn evaluate_all(
    store: &dyn Store,
    catalogue: &Catalogue,
    profile: Profile,
    now_ms: i64,
) -> Result<usize, StoreError> {
    let jobs = store.ping_jobs(None).await?;
    let mut waivers: std::collections::HashMap<String, Vec<crate::store::WaiverRecord>> =
        std::collections::HashMap::new();
    for job in &jobs {
        if !waivers.contains_key(&job.org) {
            waivers.insert(job.org.clone(), store.waivers(&job.org).await?);
        }
        let org_waivers = waivers.get(&job.org).map_or(&[][..], Vec::as_slice);
        let found = findings(catalogue, profile, job, org_waivers, now_ms);
        store
            .put_ping_findings(&job.org, &job.pseudo_host(), found)
            .await?;
    }
    Ok(jobs.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_800_000_000_000;

    fn job() -> PingJob {
        PingJob {
            org: "o".into(),
            name: "nas".into(),
            secret_hash: [0; 32],
            period_secs: 86_400,
            grace_secs: 7_200,
            site: String::new(),
            offline: false,
            created_at_ms: T0,
            last_start_ms: 0,
            last_success_ms: 0,
            last_failure_ms: 0,
            last_failure_message: String::new(),
        }
    }

    #[track_caller]
    fn check(job: &PingJob, now_ms: i64, expect: &[&str]) {
        let catalogue = Catalogue::builtin().unwrap();
        let found: Vec<String> = findings(&catalogue, Profile::Standard, job, &[], now_ms)
            .iter()
            .map(|f| format!("{} {} {}: {}", f.host_id, f.check_id, f.outcome, f.detail))
            .collect();
        assert_eq!(found, expect);
    }

    #[test]
    fn a_ping_job_is_judged_like_a_backup_job() {
        let mut j = job();
        // New and silent within its first period + grace: unknown, not down.
        check(
            &j,
            T0 + 3_600_000,
            &[
                "ping:nas BKP-001 unknown: aucun relevé des sauvegardes reçu de cet hôte",
                "ping:nas BKP-002 unknown: aucun relevé des sauvegardes reçu de cet hôte",
            ],
        );
        check(
            &j,
            T0 + 26 * 3_600_000 + 1,
            &[
                "ping:nas BKP-001 fail: « nas » : en panne : aucune réussite connue (période 1 j, grâce 2 h)",
                "ping:nas BKP-002 unknown: « nas » : aucun passage connu",
            ],
        );
        j.last_success_ms = T0 + 1_000;
        check(
            &j,
            T0 + 3_600_000,
            &[
                "ping:nas BKP-001 pass: « nas » : à jour : dernière réussite il y a 59 min (période 1 j, grâce 2 h)",
                "ping:nas BKP-002 pass: « nas » : aucun échec connu",
            ],
        );
        j.last_failure_ms = T0 + 2_000;
        j.last_failure_message = sanitize_message(b"disk full\r\nInjected: yes");
        check(
            &j,
            T0 + 3_600_000,
            &[
                "ping:nas BKP-001 fail: « nas » : en panne : dernier passage en échec, dernière réussite il y a 59 min",
                "ping:nas BKP-002 fail: « nas » : échec le 15/01/2027 (il y a 59 min), aucune réussite depuis (dernière le 15/01/2027) : disk full??Injected: yes",
            ],
        );
    }

    #[test]
    fn waivers_of_the_pseudo_host_and_of_the_organisation_apply_and_others_do_not() {
        let catalogue = Catalogue::builtin().unwrap();
        let now = T0 + 26 * 3_600_000 + 1; // BKP-001 fails: no success known.
        let waiver = |org: &str, host: Option<&str>, group: Option<&str>, expires: i64| {
            crate::store::WaiverRecord {
                id: "w-1".into(),
                org: org.into(),
                check_id: "BKP-001".into(),
                host_id: host.map(Into::into),
                group: group.map(Into::into),
                reason: "NAS remplacé".into(),
                owner: "DGS".into(),
                created_at_ms: T0,
                created_by: "uid:0".into(),
                expires_at_ms: expires,
                revoked: None,
            }
        };
        let outcome = |waivers: &[crate::store::WaiverRecord]| {
            findings(&catalogue, Profile::Standard, &job(), waivers, now)
                .into_iter()
                .find(|f| &*f.check_id == "BKP-001")
                .map(|f| f.outcome.to_string())
                .unwrap()
        };
        assert_eq!(outcome(&[]), "fail");
        assert_eq!(
            outcome(&[waiver("o", Some("ping:nas"), None, now + 1)]),
            "waived"
        );
        assert_eq!(outcome(&[waiver("o", None, None, now + 1)]), "waived");
        // Another job, another organisation, a group (ping jobs are in none), an expired waiver.
        assert_eq!(
            outcome(&[waiver("o", Some("ping:nas2"), None, now + 1)]),
            "fail"
        );
        assert_eq!(outcome(&[waiver("p", None, None, now + 1)]), "fail");
        assert_eq!(
            outcome(&[waiver("o", None, Some("serveurs"), now + 1)]),
            "fail"
        );
        assert_eq!(outcome(&[waiver("o", Some("ping:nas"), None, now)]), "fail");
    }

    #[test]
    fn names_secrets_and_messages() {
        assert!(valid_name("veeam-srv1.daily_2"));
        for bad in ["", "a b", "é", "a/b", &"x".repeat(65)] {
            assert!(!valid_name(bad), "{bad:?}");
        }
        let s = new_secret();
        assert!(s.starts_with(SECRET_PREFIX) && s.len() == SECRET_PREFIX.len() + 64);
        assert_ne!(new_secret(), s);
        assert_eq!(sanitize_message(b"  a\x1b[31mb\n"), "a?[31mb");
        let long = "é".repeat(1000);
        let cut = sanitize_message(long.as_bytes());
        assert_eq!(cut.len(), 1024);
        assert_eq!(sanitize_message(&[0xff, b'o', b'k']), "\u{fffd}ok");
    }
}
