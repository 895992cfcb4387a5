//! ACC-007 (BP-028 R32): idle sessions end or lock within the profile's limit. Text sessions
//! (consoles, SSH) need the shell's `TMOUT` or systemd-logind's `StopIdleSessionSec`; where a
//! display manager is installed, the GNOME screen lock too (GNOME's defaults, 300 s and enabled,
//! count when the system databases leave the keys unset). The strict profile also wants them out
//! of the users' reach: `TMOUT` read-only (or logind, which users cannot change) and the dconf
//! keys locked. Reads the `AuthPolicy.session_lock` facts.

use vigie_proto::v1::AuthPolicy;

use super::Verdict;
use crate::text::{duration_fr, host_text, SECOND_MS};
use crate::thresholds::ThresholdReader;

/// GNOME's defaults for org.gnome.desktop.session idle-delay and screensaver lock-enabled.
const GNOME_IDLE_DEFAULT_SECS: u32 = 300;

/// `auth.session_timeout` with one profile's thresholds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SessionTimeout {
    max_idle_ms: i64,
    require_locked: bool,
}

impl SessionTimeout {
    pub(crate) fn read(r: &mut ThresholdReader<'_>) -> Self {
        let max_idle_ms = r.duration_ms("max_idle_secs");
        r.require(max_idle_ms > 0, "max_idle_secs", "must be more than 0");
        SessionTimeout {
            max_idle_ms,
            require_locked: r.flag("require_locked_flag"),
        }
    }

    pub(crate) fn judge(&self, s: &AuthPolicy) -> Verdict {
        let Some(l) = &s.session_lock else {
            return Verdict::Unknown(
                "l'agent n'a pas relevé les délais d'inactivité (version antérieure)".to_owned(),
            );
        };
        let limit = duration_fr(self.max_idle_ms);
        let within =
            |secs: u32| secs > 0 && i64::from(secs).saturating_mul(SECOND_MS) <= self.max_idle_ms;
        let mut problems = Vec::new();
        let mut done = Vec::new();
        // Text sessions: TMOUT or logind, whichever is within the limit.
        let tmout_ok = l
            .tmout_secs
            .is_some_and(|t| within(t) && (l.tmout_readonly || !self.require_locked));
        let logind_ok = l.stop_idle_session_secs.is_some_and(within);
        if tmout_ok {
            done.push(format!(
                "TMOUT={} ({})",
                l.tmout_secs.unwrap_or_default(),
                host_text(&l.tmout_source)
            ));
        }
        if logind_ok {
            done.push(format!(
                "StopIdleSessionSec={} ({})",
                l.stop_idle_session_secs.unwrap_or_default(),
                host_text(&l.stop_idle_session_source)
            ));
        }
        if !tmout_ok && !logind_ok {
            let mut seen = Vec::new();
            match l.tmout_secs {
                Some(t) if within(t) => seen.push(format!("TMOUT={t} modifiable (pas readonly)")),
                Some(t) => seen.push(format!("TMOUT={t}")),
                None => seen.push("ni TMOUT".to_owned()),
            }
            match l.stop_idle_session_secs {
                Some(t) => seen.push(format!("StopIdleSessionSec={t}")),
                None => seen.push("ni StopIdleSessionSec".to_owned()),
            }
            problems.push(format!(
                "sessions texte sans fin d'inactivité sous {limit} ({})",
                seen.join(", ")
            ));
        }
        if l.graphical {
            let idle = l.gnome_idle_delay_secs.unwrap_or(GNOME_IDLE_DEFAULT_SECS);
            let enabled = l.gnome_lock_enabled.unwrap_or(true);
            let delay = l.gnome_lock_delay_secs.unwrap_or(0);
            let total = idle.saturating_add(delay);
            if !enabled {
                problems
                    .push("verrouillage d'écran GNOME désactivé (lock-enabled=false)".to_owned());
            } else if !within(idle) || !within(total) {
                problems.push(format!(
                    "écran verrouillé après {} (idle-delay {idle} s + lock-delay {delay} s)",
                    if idle == 0 {
                        "jamais".to_owned()
                    } else {
                        duration_fr(i64::from(total).saturating_mul(SECOND_MS))
                    }
                ));
            } else if self.require_locked && !l.gnome_locked {
                problems.push(
                    "verrouillage GNOME modifiable par l'utilisateur (clés dconf non verrouillées)"
                        .to_owned(),
                );
            } else {
                done.push(format!("écran GNOME verrouillé après {total} s"));
            }
        }
        if problems.is_empty() {
            Verdict::Pass(format!("{} (seuil {limit})", done.join(", ")))
        } else {
            Verdict::fail(format!("{} (seuil {limit})", problems.join(" ; ")))
        }
    }
}

#[cfg(test)]
mod tests {
    use vigie_proto::v1::{domain_state::State, AuthPolicy, Domain, SessionLock};

    use crate::testing::{check, Case, MINUTE_MS};
    use crate::Profile;

    fn case(lock: Option<SessionLock>) -> Case {
        let auth = AuthPolicy {
            session_lock: lock,
            ..Default::default()
        };
        Case::new().state(
            Domain::AuthPolicy,
            10 * MINUTE_MS,
            Some(State::AuthPolicy(auth)),
        )
    }

    fn tmout(secs: u32, readonly: bool) -> SessionLock {
        SessionLock {
            tmout_secs: Some(secs),
            tmout_readonly: readonly,
            tmout_source: "/etc/profile.d/tmout.sh:1".to_owned(),
            ..Default::default()
        }
    }

    #[test]
    fn text_sessions() {
        check(
            &case(Some(tmout(600, true))),
            "ACC-007",
            "pass: TMOUT=600 (/etc/profile.d/tmout.sh:1) (seuil 15 min) [1.1]",
        );
        check(
            &case(Some(tmout(3600, false))),
            "ACC-007",
            "fail/low: sessions texte sans fin d'inactivité sous 15 min (TMOUT=3600, ni StopIdleSessionSec) (seuil 15 min) [1.1]",
        );
        check(
            &case(Some(tmout(3600, false))).profile(Profile::Minimal),
            "ACC-007",
            "fail/low: sessions texte sans fin d'inactivité sous 30 min (TMOUT=3600, ni StopIdleSessionSec) (seuil 30 min) [1.1]",
        );
        // TMOUT=0 disables the limit.
        check(
            &case(Some(tmout(0, true))),
            "ACC-007",
            "fail/low: sessions texte sans fin d'inactivité sous 15 min (TMOUT=0, ni StopIdleSessionSec) (seuil 15 min) [1.1]",
        );
        // Strict wants it read-only; logind alone is out of the users' reach.
        check(
            &case(Some(tmout(600, false))).profile(Profile::Strict),
            "ACC-007",
            "fail/low: sessions texte sans fin d'inactivité sous 10 min (TMOUT=600 modifiable (pas readonly), ni StopIdleSessionSec) (seuil 10 min) [1.1]",
        );
        let logind = SessionLock {
            stop_idle_session_secs: Some(600),
            stop_idle_session_source: "/etc/systemd/logind.conf.d/idle.conf:2".to_owned(),
            ..Default::default()
        };
        check(
            &case(Some(logind)).profile(Profile::Strict),
            "ACC-007",
            "pass: StopIdleSessionSec=600 (/etc/systemd/logind.conf.d/idle.conf:2) (seuil 10 min) [1.1]",
        );
        check(
            &case(Some(SessionLock::default())),
            "ACC-007",
            "fail/low: sessions texte sans fin d'inactivité sous 15 min (ni TMOUT, ni StopIdleSessionSec) (seuil 15 min) [1.1]",
        );
        check(
            &case(None),
            "ACC-007",
            "unknown: l'agent n'a pas relevé les délais d'inactivité (version antérieure) [1.1]",
        );
    }

    #[test]
    fn graphical_sessions() {
        let gui = |edit: &dyn Fn(&mut SessionLock)| {
            let mut l = tmout(600, true);
            l.graphical = true;
            edit(&mut l);
            case(Some(l))
        };
        // GNOME's defaults: 300 s, enabled.
        check(
            &gui(&|_| {}),
            "ACC-007",
            "pass: TMOUT=600 (/etc/profile.d/tmout.sh:1), écran GNOME verrouillé après 300 s (seuil 15 min) [1.1]",
        );
        check(
            &gui(&|l| l.gnome_lock_enabled = Some(false)),
            "ACC-007",
            "fail/low: verrouillage d'écran GNOME désactivé (lock-enabled=false) (seuil 15 min) [1.1]",
        );
        check(
            &gui(&|l| {
                l.gnome_idle_delay_secs = Some(600);
                l.gnome_lock_delay_secs = Some(600);
            }),
            "ACC-007",
            "fail/low: écran verrouillé après 20 min (idle-delay 600 s + lock-delay 600 s) (seuil 15 min) [1.1]",
        );
        check(
            &gui(&|l| l.gnome_idle_delay_secs = Some(0)),
            "ACC-007",
            "fail/low: écran verrouillé après jamais (idle-delay 0 s + lock-delay 0 s) (seuil 15 min) [1.1]",
        );
        check(
            &gui(&|_| {}).profile(Profile::Strict),
            "ACC-007",
            "fail/low: verrouillage GNOME modifiable par l'utilisateur (clés dconf non verrouillées) (seuil 10 min) [1.1]",
        );
    }
}
