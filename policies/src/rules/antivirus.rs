//! Rules over the `Antivirus` evidence: AV-001 (an engine present and its daemon answering), AV-002
//! (age of the signatures, on disk and loaded), AV-003 (on-access scanning) and AV-004 (recent
//! detections). Each reads its thresholds once at load and judges fresh evidence; no framing here.
//!
//! Engine-neutral: every rule looks at all engines in the evidence (ClamAV today, Defender later)
//! and the best engine decides AV-001 to AV-003, since one working antivirus is what the checklist
//! asks for; AV-004 counts the detections of all of them.

use vigie_proto::v1::{Antivirus, AntivirusEngine};

use super::Verdict;
use crate::text::{duration_fr, host_text, plural, HOUR_MS};
use crate::thresholds::ThresholdReader;
use crate::vocabulary::{Role, Severity};

/// Signature names spelled out in an AV-004 detail before the rest is counted.
const MAX_NAMED_SIGNATURES: usize = 3;
/// A build time further ahead of the collector's clock than this is not believed.
const FUTURE_TOLERANCE_MS: i64 = HOUR_MS;

/// `antivirus.engine_running`: some engine installed and its daemon answering. A host with no
/// engine at all fails, servers included unless the profile sets `require_on_servers_flag = 0`:
/// the agent cannot tell a file server from another server, and a waiver with its reason is the
/// honest way to exempt one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EngineRunning {
    require_on_servers: bool,
}

impl EngineRunning {
    pub(crate) fn read(r: &mut ThresholdReader<'_>) -> Self {
        EngineRunning {
            require_on_servers: r.flag("require_on_servers_flag"),
        }
    }

    pub(crate) fn judge(&self, s: &Antivirus, role: Option<Role>) -> Verdict {
        if s.engines.is_empty() {
            if role == Some(Role::Server) && !self.require_on_servers {
                return Verdict::NotApplicable(
                    "aucun antivirus détecté ; non exigé sur un serveur dans ce profil".to_owned(),
                );
            }
            return Verdict::fail("aucun antivirus détecté sur l'hôte".to_owned());
        }
        if let Some(e) = s.engines.iter().find(|e| e.running) {
            return Verdict::Pass(format!("{} actif{}", name(e), version(e)));
        }
        if let Some(e) = s.engines.iter().find(|e| !e.running_checked) {
            return Verdict::Unknown(format!(
                "{} installé, démon non interrogé (relevé d'une arborescence montée)",
                name(e)
            ));
        }
        let reasons: Vec<String> = s
            .engines
            .iter()
            .map(|e| {
                let error = e.daemon.as_ref().map(|d| d.error.as_str()).unwrap_or("");
                match error {
                    "" => format!("{} installé mais son démon ne répond pas", name(e)),
                    err => format!(
                        "{} installé mais son démon ne répond pas ({})",
                        name(e),
                        host_text(err)
                    ),
                }
            })
            .collect();
        Verdict::fail(reasons.join(" ; "))
    }
}

/// `antivirus.signature_age`: the signatures' build time, from the database headers on disk and,
/// when the daemon says, from what it has loaded (the older of the two protects the host). More
/// than `medium_after_hours` fails medium, `high_after_hours` high, `critical_after_days` critical.
/// With no build time at all, the updater's last success stands in, and the detail says so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SignatureAge {
    medium_after_ms: i64,
    high_after_ms: i64,
    critical_after_ms: i64,
}

impl SignatureAge {
    pub(crate) fn read(r: &mut ThresholdReader<'_>) -> Self {
        let medium_after_ms = r.duration_ms("medium_after_hours");
        let high_after_ms = r.duration_ms("high_after_hours");
        let critical_after_ms = r.duration_ms("critical_after_days");
        r.require(
            medium_after_ms <= high_after_ms,
            "medium_after_hours",
            "must not exceed high_after_hours",
        );
        r.require(
            high_after_ms <= critical_after_ms,
            "high_after_hours",
            "must not exceed critical_after_days",
        );
        SignatureAge {
            medium_after_ms,
            high_after_ms,
            critical_after_ms,
        }
    }

    pub(crate) fn judge(&self, s: &Antivirus, now_ms: i64) -> Verdict {
        if s.engines.is_empty() {
            return Verdict::Unknown("aucun antivirus détecté (voir AV-001)".to_owned());
        }
        // The freshest engine decides: one up-to-date antivirus is what is asked.
        let judged: Vec<(i64, String)> = s
            .engines
            .iter()
            .filter_map(|e| {
                effective_build(e).map(|(at, what)| (at, format!("{} : {what}", name(e))))
            })
            .collect();
        let Some((built, what)) = judged.into_iter().max_by_key(|(at, _)| *at) else {
            return Verdict::Unknown(
                "date des signatures inconnue (en-têtes illisibles, mise à jour jamais constatée)"
                    .to_owned(),
            );
        };
        if built > now_ms.saturating_add(FUTURE_TOLERANCE_MS) {
            return Verdict::Unknown(format!(
                "{what} datées dans le futur (dans {}) : horloge de l'hôte ou fichier suspect",
                duration_fr(built.saturating_sub(now_ms))
            ));
        }
        let age = now_ms.saturating_sub(built);
        let summary = format!("{what} âgées de {}", duration_fr(age));
        if age > self.critical_after_ms {
            let limit = duration_fr(self.critical_after_ms);
            Verdict::fail_as(
                Severity::Critical,
                format!("{summary} (seuil critique {limit})"),
            )
        } else if age > self.high_after_ms {
            let limit = duration_fr(self.high_after_ms);
            Verdict::fail_as(Severity::High, format!("{summary} (seuil {limit})"))
        } else if age > self.medium_after_ms {
            let limit = duration_fr(self.medium_after_ms);
            Verdict::fail_as(Severity::Medium, format!("{summary} (seuil {limit})"))
        } else {
            Verdict::Pass(summary)
        }
    }
}

/// The build time that protects the host, and how it was known: the older of disk and memory when
/// both are known, else disk, else the updater's last success.
fn effective_build(e: &AntivirusEngine) -> Option<(i64, String)> {
    let disk = (e.signature_built_ms > 0).then_some(e.signature_built_ms);
    let loaded = (e.loaded_signature_built_ms > 0).then_some(e.loaded_signature_built_ms);
    let update = e
        .update
        .as_ref()
        .map(|u| u.last_success_ms)
        .filter(|t| *t > 0);
    let version = host_text(&e.signature_version);
    match (disk, loaded) {
        (Some(d), Some(l)) if l + HOUR_MS < d => Some((
            l,
            format!(
                "signatures chargées en mémoire ({}) plus anciennes que sur disque ({version}) : rechargement échoué ?",
                host_text(&e.loaded_signature_version)
            ),
        )),
        (Some(d), _) => Some((d, format!("signatures {version}"))),
        (None, Some(l)) => Some((
            l,
            format!("signatures chargées {}", host_text(&e.loaded_signature_version)),
        )),
        (None, None) => update.map(|u| {
            (
                u,
                "date de construction inconnue, dernière mise à jour réussie ; signatures".to_owned(),
            )
        }),
    }
}

/// `antivirus.on_access`: real-time scanning on. Servers are exempt unless the profile sets
/// `servers_required_flag = 1` (strict): on-access scanning of a busy file server costs, and the
/// checklist asks for it on workstations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OnAccess {
    servers_required: bool,
}

impl OnAccess {
    pub(crate) fn read(r: &mut ThresholdReader<'_>) -> Self {
        OnAccess {
            servers_required: r.flag("servers_required_flag"),
        }
    }

    pub(crate) fn judge(&self, s: &Antivirus, role: Option<Role>) -> Verdict {
        if role == Some(Role::Server) && !self.servers_required {
            return Verdict::NotApplicable(
                "analyse à l'accès non exigée sur un serveur dans ce profil".to_owned(),
            );
        }
        if s.engines.is_empty() {
            return Verdict::Unknown("aucun antivirus détecté (voir AV-001)".to_owned());
        }
        let states: Vec<(&AntivirusEngine, bool, bool, bool)> = s
            .engines
            .iter()
            .map(|e| {
                let o = e.on_access.clone().unwrap_or_default();
                (
                    e,
                    o.enabled,
                    o.configured,
                    o.process_checked && !o.process_running,
                )
            })
            .collect();
        if let Some((e, ..)) = states.iter().find(|(_, enabled, ..)| *enabled) {
            return Verdict::Pass(format!("analyse à l'accès active ({})", name(e)));
        }
        if let Some((e, ..)) = states
            .iter()
            .find(|(_, _, configured, stopped)| *configured && *stopped)
        {
            return Verdict::fail(format!(
                "analyse à l'accès configurée mais son processus ne tourne pas ({}{})",
                name(e),
                if e.product == "clamav" {
                    " : clamonacc"
                } else {
                    ""
                }
            ));
        }
        Verdict::fail("analyse à l'accès non configurée".to_owned())
    }
}

/// `antivirus.detections`: any detection within `window_days` fails, naming the signatures.
/// Undated detections (a log without times) were already limited to the agent's window and count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Detections {
    window_ms: i64,
}

impl Detections {
    pub(crate) fn read(r: &mut ThresholdReader<'_>) -> Self {
        Detections {
            window_ms: r.duration_ms("window_days"),
        }
    }

    pub(crate) fn judge(&self, s: &Antivirus, now_ms: i64) -> Verdict {
        let window = duration_fr(self.window_ms);
        if s.engines.is_empty() {
            return Verdict::Unknown("aucun antivirus détecté (voir AV-001)".to_owned());
        }
        let since = now_ms.saturating_sub(self.window_ms);
        let recent: Vec<&str> = s
            .engines
            .iter()
            .flat_map(|e| &e.detections)
            .filter(|d| d.at_ms <= 0 || d.at_ms >= since)
            .map(|d| d.signature.as_str())
            .collect();
        if recent.is_empty() {
            return Verdict::Pass(format!("aucune détection sur les {window} écoulés"));
        }
        let mut names: Vec<String> = Vec::new();
        for sig in &recent {
            let sig = host_text(sig);
            if !names.contains(&sig) {
                names.push(sig);
            }
        }
        let distinct = names.len();
        names.truncate(MAX_NAMED_SIGNATURES);
        let rest = distinct.saturating_sub(MAX_NAMED_SIGNATURES);
        let more = if rest > 0 {
            format!(" et {}", plural(rest, "autre", "autres"))
        } else {
            String::new()
        };
        let omitted: u64 = s
            .engines
            .iter()
            .map(|e| u64::from(e.detections_omitted))
            .sum();
        let omitted = if omitted > 0 {
            format!(" ; {omitted} de plus non transmises")
        } else {
            String::new()
        };
        Verdict::fail(format!(
            "{} sur les {window} écoulés ({}{more}){omitted}",
            plural(recent.len(), "détection", "détections"),
            names.join(", ")
        ))
    }
}

fn name(e: &AntivirusEngine) -> String {
    match e.product.as_str() {
        "clamav" => "ClamAV".to_owned(),
        "" => "antivirus".to_owned(),
        other => host_text(other),
    }
}

fn version(e: &AntivirusEngine) -> String {
    match e.engine_version.trim() {
        "" => String::new(),
        v => format!(" (version {})", host_text(v)),
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::{check, Case, DAY_MS, HOUR_MS, MINUTE_MS, NOW};
    use crate::Profile;
    use vigie_proto::v1::Antivirus;
    use vigie_proto::v1::{
        domain_state::State, AntivirusDaemon, AntivirusEngine, Detection, Domain, OnAccessScanning,
        SignatureUpdate,
    };

    /// A healthy ClamAV: clamd answering, daily built 3 h ago, on-access on, no detection.
    fn healthy() -> AntivirusEngine {
        AntivirusEngine {
            product: "clamav".to_owned(),
            engine_version: "1.4.6".to_owned(),
            installed: true,
            running: true,
            running_checked: true,
            signature_built_ms: NOW - 3 * HOUR_MS,
            signature_version: "daily 27471".to_owned(),
            loaded_signature_built_ms: NOW - 3 * HOUR_MS,
            loaded_signature_version: "daily 27471".to_owned(),
            daemon: Some(AntivirusDaemon {
                address: "unix:/run/clamav/clamd.ctl".to_owned(),
                ping_answered: true,
                ..Default::default()
            }),
            update: Some(SignatureUpdate {
                tool: "freshclam".to_owned(),
                last_success_ms: NOW - HOUR_MS,
                ..Default::default()
            }),
            on_access: Some(OnAccessScanning {
                enabled: true,
                configured: true,
                process_running: true,
                process_checked: true,
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn case(engines: Vec<AntivirusEngine>) -> Case {
        Case::new().state(
            Domain::Antivirus,
            10 * MINUTE_MS,
            Some(State::Antivirus(Antivirus { engines })),
        )
    }

    fn with(edit: impl FnOnce(&mut AntivirusEngine)) -> Case {
        let mut e = healthy();
        edit(&mut e);
        case(vec![e])
    }

    fn on(role: &str, c: Case) -> Case {
        c.facts(|f| f.role = Some(role.to_owned()))
    }

    #[test]
    fn av_001_engine_running() {
        check(
            &with(|_| {}),
            "AV-001",
            "pass: ClamAV actif (version 1.4.6) [1.1]",
        );
        check(
            &case(vec![]),
            "AV-001",
            "fail/critical: aucun antivirus détecté sur l'hôte [1.1]",
        );
        check(
            &on("server", case(vec![])),
            "AV-001",
            "fail/critical: aucun antivirus détecté sur l'hôte [1.1]",
        );
        check(
            &on("server", case(vec![])).profile(Profile::Minimal),
            "AV-001",
            "not_applicable: aucun antivirus détecté ; non exigé sur un serveur dans ce profil [1.1]",
        );
        check(
            &on("workstation", case(vec![])).profile(Profile::Minimal),
            "AV-001",
            "fail/critical: aucun antivirus détecté sur l'hôte [1.1]",
        );
        check(
            &with(|e| {
                e.running = false;
                e.engine_version.clear();
                e.daemon = Some(AntivirusDaemon {
                    error: "clamd at unix:/x did not answer within 3000 ms\r\nX".to_owned(),
                    ..Default::default()
                });
            }),
            "AV-001",
            "fail/critical: ClamAV installé mais son démon ne répond pas (clamd at unix:/x did not answer within 3000 ms??X) [1.1]",
        );
        check(
            &with(|e| {
                e.running = false;
                e.running_checked = false;
            }),
            "AV-001",
            "unknown: ClamAV installé, démon non interrogé (relevé d'une arborescence montée) [1.1]",
        );
    }

    #[test]
    fn av_002_signature_age() {
        let built = |age: i64| {
            with(move |e| {
                e.signature_built_ms = NOW - age;
                e.loaded_signature_built_ms = 0;
            })
        };
        check(
            &with(|_| {}),
            "AV-002",
            "pass: ClamAV : signatures daily 27471 âgées de 3 h [1.1]",
        );
        check(
            &built(24 * HOUR_MS),
            "AV-002",
            "pass: ClamAV : signatures daily 27471 âgées de 1 j [1.1]",
        );
        check(
            &built(24 * HOUR_MS + 1),
            "AV-002",
            "fail/medium: ClamAV : signatures daily 27471 âgées de 1 j (seuil 1 j) [1.1]",
        );
        check(
            &built(48 * HOUR_MS + 1),
            "AV-002",
            "fail/high: ClamAV : signatures daily 27471 âgées de 2 j (seuil 2 j) [1.1]",
        );
        check(
            &built(7 * DAY_MS + 1),
            "AV-002",
            "fail/critical: ClamAV : signatures daily 27471 âgées de 7 j (seuil critique 7 j) [1.1]",
        );
        // Profiles: 30 h is fine in minimal, medium in standard, high in strict.
        let thirty = built(30 * HOUR_MS);
        check(
            &thirty.clone().profile(Profile::Minimal),
            "AV-002",
            "pass: ClamAV : signatures daily 27471 âgées de 1 j 6 h [1.1]",
        );
        check(
            &thirty.profile(Profile::Strict),
            "AV-002",
            "fail/high: ClamAV : signatures daily 27471 âgées de 1 j 6 h (seuil 1 j) [1.1]",
        );
        // clamd kept old signatures in memory: the older decides.
        check(
            &with(|e| {
                e.loaded_signature_built_ms = NOW - 5 * DAY_MS;
                e.loaded_signature_version = "daily 27400".to_owned();
            }),
            "AV-002",
            "fail/high: ClamAV : signatures chargées en mémoire (daily 27400) plus anciennes que sur disque (daily 27471) : rechargement échoué ? âgées de 5 j (seuil 2 j) [1.1]",
        );
        // Future-dated headers are not believed.
        check(
            &built(-3 * DAY_MS),
            "AV-002",
            "unknown: ClamAV : signatures daily 27471 datées dans le futur (dans 3 j) : horloge de l'hôte ou fichier suspect [1.1]",
        );
        check(
            &built(-30 * MINUTE_MS),
            "AV-002",
            "pass: ClamAV : signatures daily 27471 âgées de 0 s [1.1]",
        );
        // No header: freshclam's last success stands in; with nothing at all, unknown.
        check(
            &with(|e| {
                e.signature_built_ms = 0;
                e.loaded_signature_built_ms = 0;
            }),
            "AV-002",
            "pass: ClamAV : date de construction inconnue, dernière mise à jour réussie ; signatures âgées de 1 h [1.1]",
        );
        check(
            &with(|e| {
                e.signature_built_ms = 0;
                e.loaded_signature_built_ms = 0;
                e.update = None;
            }),
            "AV-002",
            "unknown: date des signatures inconnue (en-têtes illisibles, mise à jour jamais constatée) [1.1]",
        );
        check(
            &case(vec![]),
            "AV-002",
            "unknown: aucun antivirus détecté (voir AV-001) [1.1]",
        );
    }

    #[test]
    fn av_003_on_access() {
        check(
            &with(|_| {}),
            "AV-003",
            "pass: analyse à l'accès active (ClamAV) [1.1]",
        );
        let off = |configured: bool| {
            with(move |e| {
                e.on_access = Some(OnAccessScanning {
                    configured,
                    process_checked: true,
                    ..Default::default()
                });
            })
        };
        check(
            &off(true),
            "AV-003",
            "fail/high: analyse à l'accès configurée mais son processus ne tourne pas (ClamAV : clamonacc) [1.1]",
        );
        check(
            &off(false),
            "AV-003",
            "fail/high: analyse à l'accès non configurée [1.1]",
        );
        check(
            &on("laptop", off(false)),
            "AV-003",
            "fail/high: analyse à l'accès non configurée [1.1]",
        );
        // Servers: exempt unless strict.
        check(
            &on("server", off(false)),
            "AV-003",
            "not_applicable: analyse à l'accès non exigée sur un serveur dans ce profil [1.1]",
        );
        check(
            &on("server", off(false)).profile(Profile::Strict),
            "AV-003",
            "fail/high: analyse à l'accès non configurée [1.1]",
        );
    }

    #[test]
    fn av_004_detections() {
        let found = |list: &[(&str, Option<i64>)], omitted: u32| {
            let detections: Vec<Detection> = list
                .iter()
                .map(|(sig, age)| Detection {
                    at_ms: age.map_or(0, |a| NOW - a),
                    signature: (*sig).to_owned(),
                    action: "found".to_owned(),
                    ..Default::default()
                })
                .collect();
            with(move |e| {
                e.detections = detections;
                e.detections_omitted = omitted;
            })
        };
        check(
            &with(|_| {}),
            "AV-004",
            "pass: aucune détection sur les 7 j écoulés [1.1]",
        );
        check(
            &found(&[("Eicar-Test-Signature", Some(DAY_MS))], 0),
            "AV-004",
            "fail/high: 1 détection sur les 7 j écoulés (Eicar-Test-Signature) [1.1]",
        );
        check(
            &found(&[("Old", Some(7 * DAY_MS + 1))], 0),
            "AV-004",
            "pass: aucune détection sur les 7 j écoulés [1.1]",
        );
        check(
            &found(&[("Old", Some(10 * DAY_MS))], 0).profile(Profile::Strict),
            "AV-004",
            "fail/high: 1 détection sur les 14 j écoulés (Old) [1.1]",
        );
        check(
            &found(
                &[
                    ("A", Some(HOUR_MS)),
                    ("B\r\n<script>", None),
                    ("A", Some(2 * HOUR_MS)),
                    ("C", Some(HOUR_MS)),
                    ("D", Some(HOUR_MS)),
                    ("E", Some(HOUR_MS)),
                ],
                4,
            ),
            "AV-004",
            "fail/high: 6 détections sur les 7 j écoulés (A, B??<script>, C et 2 autres) ; 4 de plus non transmises [1.1]",
        );
    }
}
