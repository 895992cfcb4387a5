//! Verdict tests of the backup rules (BKP-001 to BKP-006), every outcome per profile, through the
//! one `check` function; plus the daylight-saving test of the dead-man's switch.

use vigie_proto::v1::backup_job::{Encryption, Outcome as RunOutcome};
use vigie_proto::v1::{
    domain_state::State, BackupDestination, BackupJob, BackupRestoreTest, Backups, Domain,
    DomainState, ProbeError,
};

use crate::testing::{check, Case, DAY_MS, HOUR_MS, MINUTE_MS, NOW};
use crate::{evaluate, Catalogue, DomainEvidence, HostEvidence, HostFacts, Outcome, Profile};

fn dest(name: &str, site: &str, observed_age: Option<i64>) -> BackupDestination {
    BackupDestination {
        name: name.to_owned(),
        kind: "nas_lan".to_owned(),
        site: site.to_owned(),
        observed: observed_age.is_some(),
        last_success_ms: observed_age.map_or(0, |a| NOW - a),
        ..Default::default()
    }
}

/// A healthy restic job: succeeded 3 h ago (start unknown, as restic snapshots give it), a NAS at the town hall (observed) and an immutable cloud
/// copy (declared only), encrypted, 45 restore points, restore tested 30 days ago.
fn healthy(name: &str) -> BackupJob {
    let mut cloud = dest("cloud", "cloud", None);
    cloud.kind = "object_storage".to_owned();
    cloud.immutable = true;
    BackupJob {
        name: name.to_owned(),
        tool: "restic".to_owned(),
        last_success_ms: NOW - 3 * HOUR_MS,
        last_outcome: RunOutcome::Success as i32,
        destinations: vec![dest("nas", "mairie", Some(3 * HOUR_MS)), cloud],
        encryption: Encryption::Encrypted as i32,
        encryption_mode: "repository".to_owned(),
        restore_points: 45,
        restore_points_known: true,
        last_restore_test_ms: NOW - 30 * DAY_MS,
        ..Default::default()
    }
}

fn jobs(jobs: Vec<BackupJob>) -> Case {
    let state = Backups {
        jobs,
        problems: Vec::new(),
    };
    Case::new().state(Domain::Backups, 10 * MINUTE_MS, Some(State::Backups(state)))
}

/// One job `nightly`, healthy but for `edit`.
fn with(edit: impl FnOnce(&mut BackupJob)) -> Case {
    let mut job = healthy("nightly");
    edit(&mut job);
    jobs(vec![job])
}

#[test]
fn bkp_001_dead_mans_switch() {
    let ok = "« nightly » : à jour : dernière réussite il y a";
    check(
        &with(|_| {}),
        "BKP-001",
        &format!("pass: {ok} 3 h (période 1 j, grâce 2 h) [1.1]"),
    );
    // Up to the period, late within the grace (a pass with its own wording), down beyond.
    check(
        &with(|j| j.last_success_ms = NOW - DAY_MS),
        "BKP-001",
        &format!("pass: {ok} 1 j (période 1 j, grâce 2 h) [1.1]"),
    );
    check(
        &with(|j| j.last_success_ms = NOW - DAY_MS - 1),
        "BKP-001",
        "pass: « nightly » : en retard, dans le délai de grâce : dernière réussite il y a 1 j (période 1 j, grâce 2 h) [1.1]",
    );
    check(
        &with(|j| j.last_success_ms = NOW - 26 * HOUR_MS),
        "BKP-001",
        "pass: « nightly » : en retard, dans le délai de grâce : dernière réussite il y a 1 j 2 h (période 1 j, grâce 2 h) [1.1]",
    );
    check(
        &with(|j| j.last_success_ms = NOW - 26 * HOUR_MS - 1),
        "BKP-001",
        "fail/critical: « nightly » : en panne : dernière réussite il y a 1 j 2 h (période 1 j, grâce 2 h) [1.1]",
    );
    // Never succeeded.
    check(
        &with(|j| j.last_success_ms = 0),
        "BKP-001",
        "fail/critical: « nightly » : en panne : aucune réussite connue (période 1 j, grâce 2 h) [1.1]",
    );
    check(
        &with(|j| {
            j.last_success_ms = 0;
            j.last_failure_ms = NOW - 5 * HOUR_MS;
        }),
        "BKP-001",
        "fail/critical: « nightly » : en panne : aucune réussite connue, dernier échec il y a 5 h (période 1 j, grâce 2 h) [1.1]",
    );
    // The newest run failed: down at once, whatever the period.
    check(
        &with(|j| j.last_failure_ms = NOW - HOUR_MS),
        "BKP-001",
        "fail/critical: « nightly » : en panne : dernier passage en échec, dernière réussite il y a 3 h [1.1]",
    );
    check(
        &with(|j| j.last_outcome = RunOutcome::Failure as i32),
        "BKP-001",
        "fail/critical: « nightly » : en panne : dernier passage en échec, dernière réussite il y a 3 h [1.1]",
    );
    // A start with no success within the grace is down (a hung job); within the grace, running.
    check(
        &with(|j| {
            j.last_start_ms = NOW - 2 * HOUR_MS;
            j.running = true;
            j.last_outcome = RunOutcome::Running as i32;
        }),
        "BKP-001",
        &format!("pass: {ok} 3 h (période 1 j, grâce 2 h) [1.1]"),
    );
    check(
        &with(|j| {
            j.last_start_ms = NOW - 2 * HOUR_MS - 1;
            j.running = true;
        }),
        "BKP-001",
        "fail/critical: « nightly » : en panne : démarrée il y a 2 h sans réussite depuis, dernière réussite il y a 3 h (période 1 j, grâce 2 h) [1.1]",
    );
    // The job's own period and grace win over the profile's.
    check(
        &with(|j| {
            j.expected_period_secs = 7 * 86_400;
            j.grace_secs = 86_400;
            j.last_success_ms = NOW - 7 * DAY_MS - 12 * HOUR_MS;
        }),
        "BKP-001",
        "pass: « nightly » : en retard, dans le délai de grâce : dernière réussite il y a 7 j (période 7 j, grâce 1 j) [1.1]",
    );
    check(
        &with(|j| {
            j.expected_period_secs = 3_600;
            j.last_success_ms = NOW - 3 * HOUR_MS - 1;
        }),
        "BKP-001",
        "fail/critical: « nightly » : en panne : dernière réussite il y a 3 h (période 1 h, grâce 2 h) [1.1]",
    );
    // A host clock ahead of the collector's cannot postpone the deadline.
    check(
        &with(|j| j.last_success_ms = NOW + 5 * DAY_MS),
        "BKP-001",
        &format!("pass: {ok} 0 s (période 1 j, grâce 2 h) [1.1]"),
    );
    // Host-supplied names cannot break the line.
    check(
        &jobs(vec![healthy("evil\r\nX-Injected: 1")]),
        "BKP-001",
        "pass: « evil??X-Injected: 1 » : à jour : dernière réussite il y a 3 h (période 1 j, grâce 2 h) [1.1]",
    );
}

#[test]
fn bkp_001_profiles_differ() {
    let at = |age| with(move |j| j.last_success_ms = NOW - age);
    check(
        &at(27 * HOUR_MS).profile(Profile::Minimal),
        "BKP-001",
        "pass: « nightly » : en retard, dans le délai de grâce : dernière réussite il y a 1 j 3 h (période 1 j, grâce 6 h) [1.1]",
    );
    check(
        &at(27 * HOUR_MS).profile(Profile::Standard),
        "BKP-001",
        "fail/critical: « nightly » : en panne : dernière réussite il y a 1 j 3 h (période 1 j, grâce 2 h) [1.1]",
    );
    check(
        &at(25 * HOUR_MS + 30 * MINUTE_MS).profile(Profile::Strict),
        "BKP-001",
        "fail/critical: « nightly » : en panne : dernière réussite il y a 1 j 1 h (période 1 j, grâce 1 h) [1.1]",
    );
    check(
        &at(30 * HOUR_MS + 1).profile(Profile::Minimal),
        "BKP-001",
        "fail/critical: « nightly » : en panne : dernière réussite il y a 1 j 6 h (période 1 j, grâce 6 h) [1.1]",
    );
}

#[test]
fn no_declared_job() {
    let none = jobs(Vec::new());
    check(
        &none,
        "BKP-001",
        "fail/critical: aucune sauvegarde déclarée (déclarer les tâches dans la configuration de l'agent, section probes.backups) [1.1]",
    );
    for id in ["BKP-002", "BKP-003", "BKP-004", "BKP-005", "BKP-006"] {
        check(&none, id, "unknown: aucune sauvegarde déclarée [1.1]");
    }
    // A workstation keeps its data on a backed-up server: not applicable, not a failure.
    let workstation = Case::new().inventory("workstation", "debian").state(
        Domain::Backups,
        MINUTE_MS,
        Some(State::Backups(Backups::default())),
    );
    check(
        &workstation,
        "BKP-001",
        "not_applicable: aucune sauvegarde déclarée sur ce poste (ses données doivent résider sur un serveur sauvegardé) [1.2]",
    );
    // No backup evidence at all is unknown, never pass.
    check(
        &Case::new(),
        "BKP-001",
        "unknown: aucun relevé des sauvegardes reçu de cet hôte",
    );
}

#[test]
fn jobs_are_aggregated_worst_first() {
    let mut down = healthy("b");
    down.last_success_ms = NOW - 3 * DAY_MS;
    let mut unreadable = healthy("c");
    unreadable.error = Some(ProbeError {
        code: "AG0301".to_owned(),
        message: "mot de passe refusé\n".to_owned(),
    });
    check(
        &jobs(vec![healthy("a"), down.clone(), unreadable.clone()]),
        "BKP-001",
        "fail/critical: « b » : en panne : dernière réussite il y a 3 j (période 1 j, grâce 2 h) ; 1 autre tâche indécise ; 1 autre tâche conforme [1.1]",
    );
    check(
        &jobs(vec![healthy("a"), unreadable.clone()]),
        "BKP-001",
        "error: « c » : illisible : AG0301 : mot de passe refusé? ; 1 autre tâche lisible [1.1]",
    );
    // An unreadable borg job whose repository nobody wrote for longer than period + grace is down
    // (the security directory needs no passphrase); a recent write proves nothing: still error.
    let mut silent = unreadable.clone();
    silent.last_repository_write_ms = NOW - 3 * DAY_MS;
    check(
        &jobs(vec![silent.clone()]),
        "BKP-001",
        "fail/critical: « c » : en panne : dépôt non modifié depuis 3 j (période 1 j, grâce 2 h) ; illisible : AG0301 : mot de passe refusé? [1.1]",
    );
    silent.last_repository_write_ms = NOW - HOUR_MS;
    check(
        &jobs(vec![silent.clone()]),
        "BKP-001",
        "error: « c » : illisible : AG0301 : mot de passe refusé? [1.1]",
    );
    // Only BKP-001 reads it: the other checks stay in error.
    silent.last_repository_write_ms = NOW - 3 * DAY_MS;
    check(
        &jobs(vec![silent]),
        "BKP-002",
        "error: « c » : illisible : AG0301 : mot de passe refusé? [1.1]",
    );
    check(
        &jobs(vec![healthy("a"), healthy("b")]),
        "BKP-002",
        "pass: « a » : aucun échec connu ; « b » : aucun échec connu [1.1]",
    );
    let many: Vec<BackupJob> = ["j1", "j2", "j3", "j4", "j5"]
        .iter()
        .map(|n| {
            let mut j = healthy(n);
            j.last_failure_ms = NOW - HOUR_MS;
            j
        })
        .collect();
    check(
        &jobs(many),
        "BKP-002",
        "fail/high: « j1 » : échec le 15/01/2027 (il y a 1 h), aucune réussite depuis (dernière le 15/01/2027) ; « j2 » : échec le 15/01/2027 (il y a 1 h), aucune réussite depuis (dernière le 15/01/2027) ; « j3 » : échec le 15/01/2027 (il y a 1 h), aucune réussite depuis (dernière le 15/01/2027) ; « j4 » : échec le 15/01/2027 (il y a 1 h), aucune réussite depuis (dernière le 15/01/2027) ; et 1 autre [1.1]",
    );
    // The worst severity wins: a medium restore-test warning and a high failure give high.
    let mut warned = healthy("w");
    warned.last_restore_test_ms = NOW - 200 * DAY_MS;
    let mut untested = healthy("u");
    untested.last_restore_test_ms = 0;
    check(
        &jobs(vec![warned.clone(), untested]),
        "BKP-005",
        "fail/high: « w » : dernier test de restauration réussi le 29/06/2026 (il y a 200 j), à refaire (alerte après 182 j, échec après 365 j) ; « u » : aucun test de restauration connu [1.1]",
    );
    check(
        &jobs(vec![warned, healthy("a")]),
        "BKP-005",
        "fail/medium: « w » : dernier test de restauration réussi le 29/06/2026 (il y a 200 j), à refaire (alerte après 182 j, échec après 365 j) ; 1 autre tâche conforme [1.1]",
    );
}

#[test]
fn bkp_002_failed_runs() {
    check(
        &with(|_| {}),
        "BKP-002",
        "pass: « nightly » : aucun échec connu [1.1]",
    );
    check(
        &with(|j| j.last_failure_ms = NOW - 2 * DAY_MS),
        "BKP-002",
        "pass: « nightly » : dernier échec le 13/01/2027 suivi d'une réussite le 15/01/2027 [1.1]",
    );
    let failed = with(|j| {
        j.last_failure_ms = NOW - HOUR_MS;
        j.last_failure_message = "repository is locked\nexit 1".to_owned();
    });
    let detail = "« nightly » : échec le 15/01/2027 (il y a 1 h), aucune réussite depuis (dernière le 15/01/2027) : repository is locked?exit 1 [1.1]";
    for profile in Profile::ALL {
        check(
            &failed.clone().profile(*profile),
            "BKP-002",
            &format!("fail/high: {detail}"),
        );
    }
    check(
        &with(|j| j.last_outcome = RunOutcome::Failure as i32),
        "BKP-002",
        "fail/high: « nightly » : échec à une date inconnue, aucune réussite depuis (dernière le 15/01/2027) [1.1]",
    );
    check(
        &with(|j| {
            j.last_success_ms = 0;
            j.last_failure_ms = NOW - DAY_MS;
        }),
        "BKP-002",
        "fail/high: « nightly » : échec le 14/01/2027 (il y a 1 j), aucune réussite connue [1.1]",
    );
    check(
        &with(|j| j.last_success_ms = 0),
        "BKP-002",
        "unknown: « nightly » : aucun passage connu [1.1]",
    );
}

#[test]
fn bkp_003_distinct_places() {
    check(
        &with(|_| {}),
        "BKP-003",
        "pass: « nightly » : 2 destinations sur 2 sites déclarés (cloud, mairie) [1.1]",
    );
    check(
        &with(|j| j.destinations.truncate(1)),
        "BKP-003",
        "fail/critical: « nightly » : 1 destination sur 1 site déclaré (mairie), minimum 2 [1.1]",
    );
    // Two destinations on one site are one place; an undeclared site is no place.
    check(
        &with(|j| j.destinations[1].site = " Mairie ".to_owned()),
        "BKP-003",
        "fail/critical: « nightly » : 2 destinations sur 1 site déclaré (mairie) : pas de copie hors site (minimum 2 sites) [1.1]",
    );
    check(
        &with(|j| {
            j.destinations[0].site = String::new();
            j.destinations[1].site = String::new();
        }),
        "BKP-003",
        "fail/critical: « nightly » : 2 destinations sur 0 site déclaré (aucun) : pas de copie hors site (minimum 2 sites) [1.1]",
    );
    // Each observed copy must be fresh; a declared-only copy cannot be aged.
    check(
        &with(|j| j.destinations[0].last_success_ms = NOW - 7 * DAY_MS),
        "BKP-003",
        "pass: « nightly » : 2 destinations sur 2 sites déclarés (cloud, mairie) [1.1]",
    );
    let stale_nas = with(|j| j.destinations[0].last_success_ms = NOW - 7 * DAY_MS - 1);
    check(
        &stale_nas,
        "BKP-003",
        "fail/critical: « nightly » : 2 destinations sur 2 sites déclarés (cloud, mairie), copie périmée « nas » : dernière réussite il y a 7 j (seuil 7 j) [1.1]",
    );
    check(
        &with(|j| j.destinations[0].last_success_ms = 0),
        "BKP-003",
        "fail/critical: « nightly » : 2 destinations sur 2 sites déclarés (cloud, mairie), copie périmée « nas » : aucune réussite observée [1.1]",
    );
    check(
        &stale_nas.clone().profile(Profile::Minimal),
        "BKP-003",
        "pass: « nightly » : 2 destinations sur 2 sites déclarés (cloud, mairie) [1.1]",
    );
    check(
        &with(|_| {}).profile(Profile::Strict),
        "BKP-003",
        "fail/critical: « nightly » : 2 destinations sur 2 sites déclarés (cloud, mairie), minimum 3 [1.1]",
    );
    check(
        &with(|j| j.destinations.push(dest("usb", "coffre", None))).profile(Profile::Strict),
        "BKP-003",
        "pass: « nightly » : 3 destinations sur 3 sites déclarés (cloud, coffre, mairie) [1.1]",
    );
}

#[test]
fn bkp_004_offline_copy() {
    check(
        &with(|_| {}),
        "BKP-004",
        "pass: « nightly » : copie immuable « cloud » : déclarée, non observée par l'agent [1.1]",
    );
    check(
        &with(|j| j.destinations[1].immutable = false),
        "BKP-004",
        "fail/high: « nightly » : aucune copie hors ligne ou immuable déclarée [1.1]",
    );
    let usb = |age: i64| {
        with(move |j| {
            j.destinations[1].immutable = false;
            let mut usb = dest("", "coffre", Some(age));
            usb.kind = "removable".to_owned();
            usb.offline = true;
            j.destinations.push(usb);
        })
    };
    check(
        &usb(3 * DAY_MS),
        "BKP-004",
        "pass: « nightly » : copie hors ligne « removable » : dernière réussite il y a 3 j [1.1]",
    );
    check(
        &usb(12 * DAY_MS),
        "BKP-004",
        "fail/high: « nightly » : copie hors ligne ou immuable périmée « removable » : dernière réussite il y a 12 j (seuil 7 j) [1.1]",
    );
    check(
        &usb(12 * DAY_MS).profile(Profile::Minimal),
        "BKP-004",
        "pass: « nightly » : copie hors ligne « removable » : dernière réussite il y a 12 j [1.1]",
    );
    check(
        &usb(8 * DAY_MS).profile(Profile::Strict),
        "BKP-004",
        "fail/high: « nightly » : copie hors ligne ou immuable périmée « removable » : dernière réussite il y a 8 j (seuil 7 j) [1.1]",
    );
}

#[test]
fn bkp_005_restore_test() {
    let tested = |age: i64| with(move |j| j.last_restore_test_ms = NOW - age);
    check(
        &tested(30 * DAY_MS),
        "BKP-005",
        "pass: « nightly » : dernier test de restauration réussi le 16/12/2026 (il y a 30 j) [1.1]",
    );
    check(
        &tested(182 * DAY_MS),
        "BKP-005",
        "pass: « nightly » : dernier test de restauration réussi le 17/07/2026 (il y a 182 j) [1.1]",
    );
    check(
        &tested(182 * DAY_MS + 1),
        "BKP-005",
        "fail/medium: « nightly » : dernier test de restauration réussi le 17/07/2026 (il y a 182 j), à refaire (alerte après 182 j, échec après 365 j) [1.1]",
    );
    check(
        &tested(365 * DAY_MS + 1),
        "BKP-005",
        "fail/high: « nightly » : dernier test de restauration réussi le 15/01/2026 (il y a 365 j), seuil 365 j [1.1]",
    );
    check(
        &tested(100 * DAY_MS).profile(Profile::Strict),
        "BKP-005",
        "fail/medium: « nightly » : dernier test de restauration réussi le 07/10/2026 (il y a 100 j), à refaire (alerte après 91 j, échec après 182 j) [1.1]",
    );
    check(
        &tested(300 * DAY_MS).profile(Profile::Minimal),
        "BKP-005",
        "fail/medium: « nightly » : dernier test de restauration réussi le 21/03/2026 (il y a 300 j), à refaire (alerte après 270 j, échec après 365 j) [1.1]",
    );
    check(
        &tested(200 * DAY_MS).profile(Profile::Minimal),
        "BKP-005",
        "pass: « nightly » : dernier test de restauration réussi le 29/06/2026 (il y a 200 j) [1.1]",
    );
    check(
        &with(|j| j.last_restore_test_ms = 0),
        "BKP-005",
        "fail/high: « nightly » : aucun test de restauration connu [1.1]",
    );
    // The newest record, good or bad, is taken into account.
    check(
        &with(|j| {
            j.restore_test = Some(BackupRestoreTest {
                at_ms: NOW - DAY_MS,
                ok: false,
                files_compared: 20,
                files_differing: 3,
                message: "sha256 mismatch\u{1b}[31m".to_owned(),
                ..Default::default()
            })
        }),
        "BKP-005",
        "fail/high: « nightly » : dernier test de restauration en échec le 14/01/2027 (3 fichiers différents sur 20) : sha256 mismatch?[31m [1.1]",
    );
    check(
        &with(|j| {
            j.last_restore_test_ms = 0;
            j.restore_test = Some(BackupRestoreTest {
                at_ms: NOW - 2 * DAY_MS,
                ok: true,
                ..Default::default()
            })
        }),
        "BKP-005",
        "pass: « nightly » : dernier test de restauration réussi le 13/01/2027 (il y a 2 j) [1.1]",
    );
}

#[test]
fn bkp_006_protection() {
    check(
        &with(|_| {}),
        "BKP-006",
        "pass: « nightly » : chiffrée (repository), 45 points de restauration [1.1]",
    );
    check(
        &with(|j| {
            j.encryption = Encryption::NotEncrypted as i32;
            j.encryption_mode = "none".to_owned();
            j.restore_points = 10;
        }),
        "BKP-006",
        "fail/medium: « nightly » : non chiffrée (none), 10 points de restauration (minimum 30) [1.1]",
    );
    check(
        &with(|j| j.restore_points = 29),
        "BKP-006",
        "fail/medium: « nightly » : 29 points de restauration (minimum 30), chiffrée (repository) [1.1]",
    );
    check(
        &with(|j| {
            j.encryption = Encryption::Unspecified as i32;
            j.encryption_mode = String::new();
            j.restore_points_known = false;
        }),
        "BKP-006",
        "unknown: « nightly » : chiffrement inconnu, nombre de points de restauration inconnu [1.1]",
    );
    check(
        &with(|j| j.restore_points = 20).profile(Profile::Minimal),
        "BKP-006",
        "pass: « nightly » : chiffrée (repository), 20 points de restauration [1.1]",
    );
    check(
        &with(|_| {}).profile(Profile::Strict),
        "BKP-006",
        "fail/medium: « nightly » : 45 points de restauration (minimum 60), chiffrée (repository) [1.1]",
    );
}

/// 2026-03-29 and 2026-10-25, 00:00 UTC, as days since the epoch: Europe/Paris leaves CET (UTC+1)
/// for CEST (UTC+2) at 01:00 UTC on the first and comes back at 01:00 UTC on the second.
const DST_START_DAY: i64 = 20_541;
const DST_END_DAY: i64 = 20_751;

fn paris_in_dst(utc_ms: i64) -> bool {
    (DST_START_DAY * DAY_MS + HOUR_MS..DST_END_DAY * DAY_MS + HOUR_MS).contains(&utc_ms)
}

/// UTC start of a job scheduled at 02:30 Paris time on `day` (days since the epoch), the way
/// systemd and cron resolve it: the skipped 02:30 of the spring change runs just after the gap (at
/// 03:30 CEST, the instant 02:30 CET would have been), the doubled 02:30 of the autumn change runs
/// once, at its first occurrence (CEST).
fn paris_0230(day: i64) -> i64 {
    let local = day * DAY_MS + 2 * HOUR_MS + 30 * MINUTE_MS;
    let summer = local - 2 * HOUR_MS;
    if paris_in_dst(summer) {
        summer
    } else {
        local - HOUR_MS
    }
}

/// The agent reports UTC, and the switch works in UTC: a daily job at 02:30 Paris time, 20 minutes
/// long, stays `pass` at every 10-minute sample across both 2026 changes with the standard profile
/// (period 24 h, grace 2 h). The runs are 23 h apart in spring; in autumn 25 h apart, which shows as
/// "late" within the grace for an hour, never as down.
#[test]
fn daily_job_at_0230_paris_survives_both_dst_changes() {
    let catalogue = Catalogue::builtin().unwrap();
    for (change, expect_late) in [(DST_START_DAY, false), (DST_END_DAY, true)] {
        let starts: Vec<i64> = (change - 5..change + 5).map(paris_0230).collect();
        let gaps: Vec<i64> = starts.windows(2).map(|w| (w[1] - w[0]) / HOUR_MS).collect();
        assert!(
            gaps.contains(&if expect_late { 25 } else { 23 }),
            "{gaps:?}"
        );
        let mut late_seen = false;
        let mut now = starts[1];
        while now < starts[starts.len() - 1] {
            let last_start = starts.iter().copied().filter(|s| *s <= now).max().unwrap();
            let success = starts
                .iter()
                .map(|s| s + 20 * MINUTE_MS)
                .filter(|s| *s <= now)
                .max()
                .unwrap();
            let job = BackupJob {
                name: "nightly".to_owned(),
                last_success_ms: success,
                last_start_ms: last_start,
                running: last_start > success,
                ..Default::default()
            };
            let host = HostEvidence {
                facts: HostFacts {
                    host_id: "h1".to_owned(),
                    last_seen_ms: Some(now),
                    ..Default::default()
                },
                domains: vec![DomainEvidence {
                    received_at_ms: now - MINUTE_MS,
                    state: DomainState {
                        domain: Domain::Backups as i32,
                        state: Some(State::Backups(Backups {
                            jobs: vec![job],
                            problems: Vec::new(),
                        })),
                        ..Default::default()
                    },
                    evidence_ref: (1, 1),
                }],
            };
            let findings = evaluate(&catalogue, Profile::Standard, &host, &[], now);
            let f = findings.iter().find(|f| f.check_id == "BKP-001").unwrap();
            assert_eq!(f.outcome, Outcome::Pass, "at {now}: {}", f.detail);
            late_seen |= f.detail.contains("en retard");
            now += 10 * MINUTE_MS;
        }
        assert_eq!(late_seen, expect_late, "change on day {change}");
    }
}
