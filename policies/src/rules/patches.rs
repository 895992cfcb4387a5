//! Rules over the `Patches` evidence: PAT-001 (age of pending security updates), PAT-002
//! (automatic updates and metadata freshness), PAT-003 (pending reboot) and PAT-004 (OS end of
//! life). Each reads its thresholds once at load and judges fresh evidence; no framing here.

use vigie_proto::v1::Patches;

use super::Verdict;
use crate::text::{date_fr, duration_fr, host_text, plural};
use crate::thresholds::ThresholdReader;
use crate::vocabulary::Severity;

/// Packages named in a reboot detail before the rest is counted.
const MAX_NAMED_PACKAGES: usize = 3;

/// `patches.security_pending_age`: a pending security update first seen more than `high_after_days`
/// ago fails at severity high, more than `critical_after_days` ago at critical.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PendingAge {
    high_after_ms: i64,
    critical_after_ms: i64,
}

impl PendingAge {
    pub(crate) fn read(r: &mut ThresholdReader<'_>) -> Self {
        let high_after_ms = r.duration_ms("high_after_days");
        let critical_after_ms = r.duration_ms("critical_after_days");
        r.require(
            high_after_ms <= critical_after_ms,
            "high_after_days",
            "must not exceed critical_after_days",
        );
        PendingAge {
            high_after_ms,
            critical_after_ms,
        }
    }

    /// Ages come from the agent's `first_seen_ms` (its own clock) compared with the collector's
    /// `now_ms`; an update dated in the future counts as just seen. An update with no first-seen
    /// date cannot be aged: it never passes silently, and makes the verdict unknown unless another
    /// update already fails.
    pub(crate) fn judge(&self, s: &Patches, now_ms: i64) -> Verdict {
        let security: Vec<_> = s.pending.iter().filter(|u| u.security).collect();
        if security.is_empty() {
            let others = s.pending.len();
            return Verdict::Pass(if others == 0 {
                "aucune mise à jour en attente".to_owned()
            } else {
                format!(
                    "aucune mise à jour de sécurité en attente ({})",
                    plural(
                        others,
                        "autre mise à jour en attente",
                        "autres mises à jour en attente"
                    )
                )
            });
        }
        let count = plural(
            security.len(),
            "mise à jour de sécurité en attente",
            "mises à jour de sécurité en attente",
        );
        let undated = security.iter().filter(|u| u.first_seen_ms <= 0).count();
        let oldest = security
            .iter()
            .filter(|u| u.first_seen_ms > 0)
            .min_by_key(|u| u.first_seen_ms);
        let Some(oldest) = oldest else {
            return Verdict::Unknown(format!("{count}, depuis une date inconnue"));
        };
        let age = now_ms.saturating_sub(oldest.first_seen_ms);
        let summary = format!(
            "{count}, la plus ancienne ({}) depuis {}",
            host_text(&oldest.package),
            duration_fr(age)
        );
        if age > self.critical_after_ms {
            let limit = duration_fr(self.critical_after_ms);
            Verdict::fail_as(
                Severity::Critical,
                format!("{summary} (seuil critique {limit})"),
            )
        } else if age > self.high_after_ms {
            let limit = duration_fr(self.high_after_ms);
            Verdict::fail_as(Severity::High, format!("{summary} (seuil {limit})"))
        } else if undated > 0 {
            Verdict::Unknown(format!(
                "{summary} ; {undated} sans date de première détection"
            ))
        } else {
            Verdict::Pass(summary)
        }
    }
}

/// `patches.automatic_updates`: automatic updates on, and package metadata refreshed within
/// `max_metadata_age_hours`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AutomaticUpdates {
    max_metadata_age_ms: i64,
}

impl AutomaticUpdates {
    pub(crate) fn read(r: &mut ThresholdReader<'_>) -> Self {
        AutomaticUpdates {
            max_metadata_age_ms: r.duration_ms("max_metadata_age_hours"),
        }
    }

    /// Automatic updates switched off fail whatever the metadata says. With them on, an unknown
    /// refresh date is `unknown` rather than a failure: the agent may simply lack the stamp file.
    pub(crate) fn judge(&self, s: &Patches, now_ms: i64) -> Verdict {
        let refresh_age = (s.last_metadata_refresh_ms > 0)
            .then(|| now_ms.saturating_sub(s.last_metadata_refresh_ms));
        let refresh = match refresh_age {
            Some(age) => format!("index des paquets rafraîchi il y a {}", duration_fr(age)),
            None => "date du dernier rafraîchissement de l'index des paquets inconnue".to_owned(),
        };
        let limit = duration_fr(self.max_metadata_age_ms);
        match refresh_age {
            _ if !s.automatic_updates_enabled => {
                Verdict::fail(format!("mises à jour automatiques désactivées ; {refresh}"))
            }
            None => Verdict::Unknown(format!(
                "mises à jour automatiques activées, mais {refresh}"
            )),
            Some(age) if age > self.max_metadata_age_ms => Verdict::fail(format!(
                "mises à jour automatiques activées, mais {refresh} (seuil {limit})"
            )),
            Some(_) => Verdict::Pass(format!("mises à jour automatiques activées, {refresh}")),
        }
    }
}

/// `patches.reboot_pending`: a reboot required for more than `fail_after_days` fails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RebootPending {
    fail_after_ms: i64,
}

impl RebootPending {
    pub(crate) fn read(r: &mut ThresholdReader<'_>) -> Self {
        RebootPending {
            fail_after_ms: r.duration_ms("fail_after_days"),
        }
    }

    pub(crate) fn judge(&self, s: &Patches, now_ms: i64) -> Verdict {
        if !s.reboot_required {
            return Verdict::Pass("aucun redémarrage requis".to_owned());
        }
        let packages = named_packages(&s.reboot_required_packages);
        if s.reboot_required_since_ms <= 0 {
            return Verdict::Unknown(format!(
                "redémarrage requis depuis une date inconnue{packages}"
            ));
        }
        let age = now_ms.saturating_sub(s.reboot_required_since_ms);
        let since = format!("redémarrage requis depuis {}{packages}", duration_fr(age));
        let limit = duration_fr(self.fail_after_ms);
        if age > self.fail_after_ms {
            Verdict::fail(format!("{since} (seuil {limit})"))
        } else {
            Verdict::Pass(format!("{since}, dans le délai de {limit}"))
        }
    }
}

/// ` (paquets : a, b, c et 2 autres)`, or nothing when the agent named none.
fn named_packages(packages: &[String]) -> String {
    if packages.is_empty() {
        return String::new();
    }
    let named: Vec<String> = packages
        .iter()
        .take(MAX_NAMED_PACKAGES)
        .map(|p| host_text(p))
        .collect();
    let rest = packages.len().saturating_sub(MAX_NAMED_PACKAGES);
    let more = if rest > 0 {
        format!(" et {}", plural(rest, "autre", "autres"))
    } else {
        String::new()
    };
    format!(" (paquets : {}{more})", named.join(", "))
}

/// `patches.os_end_of_life`: a release past its end of life fails at critical; one within
/// `warn_before_eol_days` of it fails at medium.
///
/// The outcome set has no "warn" (DESIGN decision 19), and a `pass` would keep the approaching date
/// out of alerts, so the early warning is a `fail` graded `medium`: alerting can route it by
/// severity, and the detail says how many days remain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EndOfLife {
    warn_before_ms: i64,
}

impl EndOfLife {
    pub(crate) fn read(r: &mut ThresholdReader<'_>) -> Self {
        EndOfLife {
            warn_before_ms: r.duration_ms("warn_before_eol_days"),
        }
    }

    pub(crate) fn judge(&self, s: &Patches, now_ms: i64) -> Verdict {
        if !s.os_release_known {
            return Verdict::Unknown(
                "version du système absente de la table des fins de support de l'agent".to_owned(),
            );
        }
        let eol = s.os_end_of_life_ms;
        if eol <= 0 {
            return Verdict::Unknown("date de fin de support de cette version inconnue".to_owned());
        }
        let date = date_fr(eol);
        if now_ms >= eol {
            let ago = duration_fr(now_ms.saturating_sub(eol));
            return Verdict::fail_as(
                Severity::Critical,
                format!("fin de support dépassée depuis le {date} (il y a {ago})"),
            );
        }
        let remaining = eol.saturating_sub(now_ms);
        if remaining <= self.warn_before_ms {
            let limit = duration_fr(self.warn_before_ms);
            Verdict::fail_as(
                Severity::Medium,
                format!(
                    "fin de support le {date}, dans {} (alerte {limit} avant)",
                    duration_fr(remaining)
                ),
            )
        } else {
            Verdict::Pass(format!(
                "supportée jusqu'au {date} (dans {})",
                duration_fr(remaining)
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::{check, healthy_patches, pending, Case, DAY_MS, HOUR_MS, NOW};
    use crate::Profile;
    use vigie_proto::v1::Patches;

    fn with(edit: impl FnOnce(&mut Patches)) -> Case {
        let mut p = healthy_patches();
        edit(&mut p);
        Case::new().patches(p)
    }

    fn security(ages_days: &[(&str, Option<i64>)]) -> Case {
        with(|p| {
            p.pending = ages_days
                .iter()
                .map(|(pkg, age)| pending(pkg, true, *age))
                .collect();
        })
    }

    #[test]
    fn pat_001_security_pending_age() {
        check(
            &with(|_| {}),
            "PAT-001",
            "pass: aucune mise à jour en attente [1.1]",
        );
        check(
            &with(|p| p.pending = vec![pending("vim", false, Some(90 * DAY_MS)), pending("git", false, None)]),
            "PAT-001",
            "pass: aucune mise à jour de sécurité en attente (2 autres mises à jour en attente) [1.1]",
        );
        check(
            &security(&[("openssl", Some(2 * DAY_MS))]),
            "PAT-001",
            "pass: 1 mise à jour de sécurité en attente, la plus ancienne (openssl) depuis 2 j [1.1]",
        );
        // Boundaries: "more than 7 days" fails, exactly 7 days does not.
        check(
            &security(&[("openssl", Some(7 * DAY_MS))]),
            "PAT-001",
            "pass: 1 mise à jour de sécurité en attente, la plus ancienne (openssl) depuis 7 j [1.1]",
        );
        check(
            &security(&[("openssl", Some(7 * DAY_MS + 1))]),
            "PAT-001",
            "fail/high: 1 mise à jour de sécurité en attente, la plus ancienne (openssl) depuis 7 j (seuil 7 j) [1.1]",
        );
        check(
            &security(&[("libc6", Some(3 * DAY_MS)), ("openssl", Some(12 * DAY_MS)), ("curl", Some(HOUR_MS))]),
            "PAT-001",
            "fail/high: 3 mises à jour de sécurité en attente, la plus ancienne (openssl) depuis 12 j (seuil 7 j) [1.1]",
        );
        check(
            &security(&[("openssl", Some(30 * DAY_MS))]),
            "PAT-001",
            "fail/high: 1 mise à jour de sécurité en attente, la plus ancienne (openssl) depuis 30 j (seuil 7 j) [1.1]",
        );
        check(
            &security(&[("openssl", Some(30 * DAY_MS + 1))]),
            "PAT-001",
            "fail/critical: 1 mise à jour de sécurité en attente, la plus ancienne (openssl) depuis 30 j (seuil critique 30 j) [1.1]",
        );
        // Updates the agent never dated: not a pass, unless another one already fails.
        check(
            &security(&[("openssl", None)]),
            "PAT-001",
            "unknown: 1 mise à jour de sécurité en attente, depuis une date inconnue [1.1]",
        );
        check(
            &security(&[("openssl", None), ("curl", Some(DAY_MS))]),
            "PAT-001",
            "unknown: 2 mises à jour de sécurité en attente, la plus ancienne (curl) depuis 1 j ; 1 sans date de première détection [1.1]",
        );
        check(
            &security(&[("openssl", None), ("curl", Some(9 * DAY_MS))]),
            "PAT-001",
            "fail/high: 2 mises à jour de sécurité en attente, la plus ancienne (curl) depuis 9 j (seuil 7 j) [1.1]",
        );
        // A host clock ahead of the collector's dates an update in the future: just seen.
        check(
            &security(&[("openssl", Some(-HOUR_MS))]),
            "PAT-001",
            "pass: 1 mise à jour de sécurité en attente, la plus ancienne (openssl) depuis 0 s [1.1]",
        );
        // Host-supplied names cannot break the detail line.
        check(
            &security(&[("evil\r\nX-Injected: 1", Some(9 * DAY_MS))]),
            "PAT-001",
            "fail/high: 1 mise à jour de sécurité en attente, la plus ancienne (evil??X-Injected: 1) depuis 9 j (seuil 7 j) [1.1]",
        );
    }

    #[test]
    fn pat_001_profiles_differ() {
        let ten_days = security(&[("openssl", Some(10 * DAY_MS))]);
        let detail = "1 mise à jour de sécurité en attente, la plus ancienne (openssl) depuis 10 j";
        check(
            &ten_days.clone().profile(Profile::Minimal),
            "PAT-001",
            &format!("pass: {detail} [1.1]"),
        );
        check(
            &ten_days.clone().profile(Profile::Standard),
            "PAT-001",
            &format!("fail/high: {detail} (seuil 7 j) [1.1]"),
        );
        check(
            &ten_days.profile(Profile::Strict),
            "PAT-001",
            &format!("fail/high: {detail} (seuil 3 j) [1.1]"),
        );
        let twenty_days = security(&[("openssl", Some(20 * DAY_MS))]).profile(Profile::Strict);
        check(
            &twenty_days,
            "PAT-001",
            "fail/critical: 1 mise à jour de sécurité en attente, la plus ancienne (openssl) depuis 20 j (seuil critique 14 j) [1.1]",
        );
    }

    #[test]
    fn pat_002_automatic_updates() {
        check(&with(|_| {}), "PAT-002", "pass: mises à jour automatiques activées, index des paquets rafraîchi il y a 1 h [1.1]");
        check(
            &with(|p| p.automatic_updates_enabled = false),
            "PAT-002",
            "fail/medium: mises à jour automatiques désactivées ; index des paquets rafraîchi il y a 1 h [1.1]",
        );
        check(
            &with(|p| {
                p.automatic_updates_enabled = false;
                p.last_metadata_refresh_ms = 0;
            }),
            "PAT-002",
            "fail/medium: mises à jour automatiques désactivées ; date du dernier rafraîchissement de l'index des paquets inconnue [1.1]",
        );
        check(
            &with(|p| p.last_metadata_refresh_ms = 0),
            "PAT-002",
            "unknown: mises à jour automatiques activées, mais date du dernier rafraîchissement de l'index des paquets inconnue [1.1]",
        );
        check(
            &with(|p| p.last_metadata_refresh_ms = NOW - 48 * HOUR_MS),
            "PAT-002",
            "pass: mises à jour automatiques activées, index des paquets rafraîchi il y a 2 j [1.1]",
        );
        check(
            &with(|p| p.last_metadata_refresh_ms = NOW - 48 * HOUR_MS - 1),
            "PAT-002",
            "fail/medium: mises à jour automatiques activées, mais index des paquets rafraîchi il y a 2 j (seuil 2 j) [1.1]",
        );
        let thirty_hours = with(|p| p.last_metadata_refresh_ms = NOW - 30 * HOUR_MS);
        check(
            &thirty_hours.clone().profile(Profile::Standard),
            "PAT-002",
            "pass: mises à jour automatiques activées, index des paquets rafraîchi il y a 1 j 6 h [1.1]",
        );
        check(
            &thirty_hours.profile(Profile::Strict),
            "PAT-002",
            "fail/medium: mises à jour automatiques activées, mais index des paquets rafraîchi il y a 1 j 6 h (seuil 1 j) [1.1]",
        );
    }

    #[test]
    fn pat_003_reboot_pending() {
        let reboot = |age: i64, packages: &[&str]| {
            with(|p| {
                p.reboot_required = true;
                p.reboot_required_since_ms = if age < 0 { 0 } else { NOW - age };
                p.reboot_required_packages = packages.iter().map(|s| s.to_string()).collect();
            })
        };
        check(
            &with(|_| {}),
            "PAT-003",
            "pass: aucun redémarrage requis [1.1]",
        );
        check(
            &reboot(2 * DAY_MS, &["linux-image-amd64", "libc6"]),
            "PAT-003",
            "pass: redémarrage requis depuis 2 j (paquets : linux-image-amd64, libc6), dans le délai de 7 j [1.1]",
        );
        check(
            &reboot(7 * DAY_MS, &[]),
            "PAT-003",
            "pass: redémarrage requis depuis 7 j, dans le délai de 7 j [1.1]",
        );
        check(
            &reboot(7 * DAY_MS + 1, &["a", "b", "c", "d", "e"]),
            "PAT-003",
            "fail/medium: redémarrage requis depuis 7 j (paquets : a, b, c et 2 autres) (seuil 7 j) [1.1]",
        );
        check(
            &reboot(-1, &["linux-image-amd64"]),
            "PAT-003",
            "unknown: redémarrage requis depuis une date inconnue (paquets : linux-image-amd64) [1.1]",
        );
        check(
            &reboot(5 * DAY_MS, &[]).profile(Profile::Minimal),
            "PAT-003",
            "pass: redémarrage requis depuis 5 j, dans le délai de 14 j [1.1]",
        );
        check(
            &reboot(5 * DAY_MS, &[]).profile(Profile::Strict),
            "PAT-003",
            "fail/medium: redémarrage requis depuis 5 j (seuil 3 j) [1.1]",
        );
    }

    #[test]
    fn pat_004_os_end_of_life() {
        let eol = |at: i64| with(|p| p.os_end_of_life_ms = at);
        check(
            &eol(NOW + 730 * DAY_MS),
            "PAT-004",
            "pass: supportée jusqu'au 14/01/2029 (dans 730 j) [1.1]",
        );
        check(
            &with(|p| {
                p.os_release_known = false;
                p.os_end_of_life_ms = 0;
            }),
            "PAT-004",
            "unknown: version du système absente de la table des fins de support de l'agent [1.1]",
        );
        check(
            &eol(0),
            "PAT-004",
            "unknown: date de fin de support de cette version inconnue [1.1]",
        );
        check(
            &eol(NOW - 10 * DAY_MS),
            "PAT-004",
            "fail/critical: fin de support dépassée depuis le 05/01/2027 (il y a 10 j) [1.1]",
        );
        check(
            &eol(NOW),
            "PAT-004",
            "fail/critical: fin de support dépassée depuis le 15/01/2027 (il y a 0 s) [1.1]",
        );
        // The early warning: a fail graded medium, inclusive of the 90th day.
        check(
            &eol(NOW + 90 * DAY_MS),
            "PAT-004",
            "fail/medium: fin de support le 15/04/2027, dans 90 j (alerte 90 j avant) [1.1]",
        );
        check(
            &eol(NOW + 90 * DAY_MS + 1),
            "PAT-004",
            "pass: supportée jusqu'au 15/04/2027 (dans 90 j) [1.1]",
        );
        check(
            &eol(NOW + 45 * DAY_MS).profile(Profile::Minimal),
            "PAT-004",
            "pass: supportée jusqu'au 01/03/2027 (dans 45 j) [1.1]",
        );
        check(
            &eol(NOW + 120 * DAY_MS).profile(Profile::Strict),
            "PAT-004",
            "fail/medium: fin de support le 15/05/2027, dans 120 j (alerte 180 j avant) [1.1]",
        );
    }
}
