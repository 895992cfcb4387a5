//! Rules over the `FileIntegrity` evidence (the host's status with the collector's view inside):
//! FIM-001 (a complete baseline, checked recently and re-hashed whole regularly), FIM-002 (the
//! sensitive paths watched in real time, and no change that the packages do not explain) and FIM-003
//! (the host's baseline still matches the digests the collector keeps).

use vigie_proto::v1::file_event::Kind;
use vigie_proto::v1::{FileEvent, FileIntegrity};

use super::Verdict;
use crate::maintenance::{covering, MaintenanceWindow};
use crate::text::{duration_fr, host_text, plural};
use crate::thresholds::ThresholdReader;
use crate::vocabulary::Severity;

/// Paths whose watching HYG 40 and BP-028 R73 ask for (`-w /etc/ -p wa`, binaries, boot).
const REQUIRED: &[&str] = &["/etc", "/usr/bin", "/usr/sbin", "/boot"];
/// Changed paths spelled out in a detail before the rest is counted.
const MAX_NAMED: usize = 3;
const HOUR_MS: i64 = 3_600_000;

fn raw(p: &Option<vigie_proto::v1::Path>) -> &[u8] {
    p.as_ref().map_or(&[][..], |p| p.raw.as_slice())
}

/// A path for a detail: bytes that are not UTF-8 as `\xNN`, control characters neutralised.
fn path_text(p: &[u8]) -> String {
    let mut out = String::new();
    for chunk in p.utf8_chunks() {
        out.push_str(chunk.valid());
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    host_text(&out)
}

/// `fim.baseline`: a complete baseline, compared with the disk within `max_check_age_secs` and
/// re-hashed whole within `max_full_rehash_age_secs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Baseline {
    max_check_age_ms: i64,
    max_full_age_ms: i64,
}

impl Baseline {
    pub(crate) fn read(r: &mut ThresholdReader<'_>) -> Self {
        Baseline {
            max_check_age_ms: r.positive_duration_ms("max_check_age_secs"),
            max_full_age_ms: r.positive_duration_ms("max_full_rehash_age_secs"),
        }
    }

    pub(crate) fn judge(&self, s: &FileIntegrity, now_ms: i64) -> Verdict {
        let b = s.baseline.clone().unwrap_or_default();
        match b.state.as_str() {
            "complete" => {}
            "building" => {
                return Verdict::fail(format!(
                    "base de référence en cours de construction ({} déjà)",
                    plural(b.entries as usize, "entrée", "entrées")
                ))
            }
            _ => {
                return Verdict::fail(
                    "aucune base de référence des fichiers surveillés (surveillance d'intégrité inactive)"
                        .to_owned(),
                )
            }
        }
        let checked = s.last_rescan_ms.max(s.last_full_scan_ms);
        let check_age = now_ms.saturating_sub(checked);
        let full_age = now_ms.saturating_sub(s.last_full_scan_ms);
        let unreadable = match b.unreadable {
            0 => String::new(),
            n => format!(", dont {} illisibles", n),
        };
        let base = format!(
            "base de référence de {}{unreadable}",
            plural(b.entries as usize, "entrée", "entrées")
        );
        if checked <= 0 || check_age > self.max_check_age_ms {
            return Verdict::fail(format!(
                "{base} : dernier contrôle il y a {} (seuil {})",
                duration_fr(check_age),
                duration_fr(self.max_check_age_ms)
            ));
        }
        if s.last_full_scan_ms <= 0 || full_age > self.max_full_age_ms {
            return Verdict::fail(format!(
                "{base} : dernière relecture complète il y a {} (seuil {})",
                duration_fr(full_age),
                duration_fr(self.max_full_age_ms)
            ));
        }
        Verdict::Pass(format!(
            "{base}, contrôlée il y a {}, relue entièrement il y a {}",
            duration_fr(check_age),
            duration_fr(full_age)
        ))
    }
}

/// `fim.changes`: /etc, /usr/bin, /usr/sbin and /boot watched (in real time when
/// `require_realtime_flag` is 1), and no change in the last `changes_window_secs` that the package
/// manager does not explain. A change the packages do not explain that was seen inside a maintenance
/// window declared for the host still fails, tagged with the window; when every such change is
/// inside one, the failure is graded low (docs/fim-maintenance.md).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Changes {
    require_realtime: bool,
    window_ms: i64,
}

fn kind_fr(e: &FileEvent) -> String {
    match Kind::try_from(e.kind).unwrap_or(Kind::Unspecified) {
        Kind::Created => "créé".to_owned(),
        Kind::Removed => "supprimé".to_owned(),
        Kind::Renamed => format!("renommé depuis {}", path_text(raw(&e.from_path))),
        Kind::Modified | Kind::Metadata | Kind::Unspecified => {
            let fields: Vec<&str> = e
                .changed
                .iter()
                .map(|f| match f.as_str() {
                    "content" => "contenu",
                    "size" => "taille",
                    "mode" => "droits",
                    "uid" => "propriétaire",
                    "gid" => "groupe",
                    "mtime" => "date",
                    "type" => "type",
                    "link_target" => "cible du lien",
                    "inode" => "inode",
                    "readable" => "lisibilité",
                    _ => "autre",
                })
                .collect();
            if fields.is_empty() {
                "modifié".to_owned()
            } else {
                fields.join(", ")
            }
        }
    }
}

impl Changes {
    pub(crate) fn read(r: &mut ThresholdReader<'_>) -> Self {
        Changes {
            require_realtime: r.flag("require_realtime_flag"),
            window_ms: r.positive_duration_ms("changes_window_secs"),
        }
    }

    pub(crate) fn judge(
        &self,
        s: &FileIntegrity,
        windows: &[MaintenanceWindow],
        now_ms: i64,
    ) -> Verdict {
        // Coverage: each required path under a watched path, in the state the profile asks for.
        let mut missing = Vec::new();
        for req in REQUIRED {
            let ok = s.watched.iter().any(|w| {
                let p = raw(&w.path);
                let covers = p == req.as_bytes()
                    || (w.recursive
                        && req.as_bytes().starts_with(p)
                        && req.as_bytes().get(p.len()) == Some(&b'/'));
                let state_ok = match w.state.as_str() {
                    "watched" => true,
                    "scanned" => !self.require_realtime,
                    _ => false,
                };
                covers && state_ok
            });
            if !ok {
                missing.push(*req);
            }
        }
        if !missing.is_empty() {
            let how = if self.require_realtime && !s.realtime {
                " (surveillance en temps réel inactive)"
            } else if s.watch_limit_reached {
                " (limite de surveillances inotify atteinte)"
            } else {
                ""
            };
            return Verdict::fail(format!(
                "non surveillé{} : {}{how}",
                if missing.len() > 1 { "s" } else { "" },
                missing.join(", ")
            ));
        }
        let view = s.collector_view.clone().unwrap_or_default();
        let recent: Vec<&FileEvent> = view
            .recent_events
            .iter()
            .filter(|e| now_ms.saturating_sub(e.at_ms) <= self.window_ms)
            .collect();
        let explained =
            |e: &&FileEvent| matches!(e.attribution.as_str(), "package-verified" | "unwatched");
        // Each unexplained change with the maintenance window its time fell in, if any.
        let unexplained: Vec<(&FileEvent, Option<&MaintenanceWindow>)> = recent
            .iter()
            .filter(|e| !explained(e))
            .map(|e| (*e, covering(windows, e.at_ms)))
            .collect();
        let in_maintenance = unexplained.iter().filter(|(_, w)| w.is_some()).count();
        // Counts come from the collector's hourly tally when it has one (the list is bounded).
        let in_window: Vec<_> = view
            .hourly
            .iter()
            .filter(|c| c.hour_ms + HOUR_MS > now_ms.saturating_sub(self.window_ms))
            .collect();
        let (n_unexplained, verified) = if view.hourly.is_empty() {
            (unexplained.len(), recent.len() - unexplained.len())
        } else {
            (
                in_window.iter().map(|c| c.unexplained as usize).sum(),
                in_window.iter().map(|c| c.explained as usize).sum(),
            )
        };
        let overflow = match view.recent_overflows {
            0 => String::new(),
            n => format!(
                " ; {} de la file d'événements suivi{} d'un contrôle complet",
                plural(n as usize, "débordement", "débordements"),
                if n > 1 { "s" } else { "" }
            ),
        };
        if n_unexplained > 0 {
            // Changes outside any window first, then those inside one; newest first in each.
            let outside = unexplained.iter().rev().filter(|(_, w)| w.is_none());
            let inside = unexplained.iter().rev().filter(|(_, w)| w.is_some());
            let named: Vec<String> = outside
                .chain(inside)
                .take(MAX_NAMED)
                .map(|(e, w)| {
                    let tag = if e.attribution == "unverified" {
                        ", pendant une activité des paquets sans correspondance"
                    } else {
                        ""
                    };
                    let during = w.map_or_else(String::new, |w| {
                        format!(
                            ", pendant la maintenance {} ({}, {})",
                            host_text(&w.id),
                            host_text(&w.reason),
                            host_text(&w.owner)
                        )
                    });
                    format!("{} ({}{tag}{during})", path_text(raw(&e.path)), kind_fr(e))
                })
                .collect();
            let more = n_unexplained.saturating_sub(named.len());
            let more = if more > 0 {
                format!(" et {more} autre{}", if more > 1 { "s" } else { "" })
            } else {
                String::new()
            };
            let head = format!(
                "{} en {}",
                plural(
                    n_unexplained,
                    "modification non expliquée",
                    "modifications non expliquées"
                ),
                duration_fr(self.window_ms)
            );
            // Counted from the bounded list: a change the list no longer holds counts as outside
            // any window, so a window can only ever lower the grade of changes it is seen to cover.
            let outside = n_unexplained.saturating_sub(in_maintenance);
            if outside == 0 {
                let all = if n_unexplained > 1 { "toutes" } else { "faite" };
                return Verdict::fail_as(
                    Severity::Low,
                    format!(
                        "{head}, {all} pendant une maintenance déclarée : {}{more}{overflow}",
                        named.join(", ")
                    ),
                );
            }
            let inside = match in_maintenance {
                0 => String::new(),
                n => format!(" (dont {n} pendant une maintenance déclarée)"),
            };
            return Verdict::fail(format!(
                "{head}{inside} : {}{more}{overflow}",
                named.join(", ")
            ));
        }
        let how = if s.realtime {
            "surveillés en temps réel"
        } else {
            "contrôlés périodiquement"
        };
        let verified = match verified {
            0 => String::new(),
            n => format!(
                " ({} par les paquets)",
                plural(n, "modification vérifiée", "modifications vérifiées")
            ),
        };
        Verdict::Pass(format!(
            "{} {how} ; aucune modification non expliquée en {}{verified}{overflow}",
            REQUIRED.join(", "),
            duration_fr(self.window_ms)
        ))
    }
}

/// `fim.tamper`: the last complete digest sync matched what the collector held, no mismatch in the
/// last `mismatch_window_secs`, and a sync within `max_sync_age_secs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Tamper {
    window_ms: i64,
    max_sync_age_ms: i64,
}

impl Tamper {
    pub(crate) fn read(r: &mut ThresholdReader<'_>) -> Self {
        Tamper {
            window_ms: r.positive_duration_ms("mismatch_window_secs"),
            max_sync_age_ms: r.positive_duration_ms("max_sync_age_secs"),
        }
    }

    pub(crate) fn judge(&self, s: &FileIntegrity, now_ms: i64) -> Verdict {
        let view = s.collector_view.clone().unwrap_or_default();
        if view.last_mismatch_ms > 0
            && now_ms.saturating_sub(view.last_mismatch_ms) <= self.window_ms
        {
            let dirs: Vec<String> = view
                .mismatched_directories
                .iter()
                .take(MAX_NAMED)
                .map(|p| path_text(&p.raw))
                .collect();
            return Verdict::fail(format!(
                "la base de référence de l'hôte a changé sans événement correspondant il y a {} ({})",
                duration_fr(now_ms.saturating_sub(view.last_mismatch_ms)),
                dirs.join(", ")
            ));
        }
        if view.last_sync_ms <= 0 {
            return Verdict::Unknown(
                "aucune empreinte de la base de référence reçue de cet hôte".to_owned(),
            );
        }
        let age = now_ms.saturating_sub(view.last_sync_ms);
        if age > self.max_sync_age_ms {
            return Verdict::fail(format!(
                "empreintes de la base de référence non comparées depuis {} (seuil {})",
                duration_fr(age),
                duration_fr(self.max_sync_age_ms)
            ));
        }
        match view.last_sync_result.as_str() {
            "unverifiable" => Verdict::Unknown(
                "des rapports de l'hôte ont été perdus : la dernière comparaison des empreintes ne peut pas conclure"
                    .to_owned(),
            ),
            "first" => Verdict::Pass(format!(
                "premières empreintes de la base de référence reçues il y a {}",
                duration_fr(age)
            )),
            _ => Verdict::Pass(format!(
                "empreintes de la base de référence conformes à la copie du collecteur (il y a {})",
                duration_fr(age)
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigie_proto::v1::{BaselineStatus, FimCollectorView, Path, WatchedPath};

    const H: i64 = 3_600_000;
    const NOW: i64 = 1_800_000_000_000;

    fn path(p: &[u8]) -> Option<Path> {
        Some(Path {
            encoding: 1,
            raw: p.to_vec(),
        })
    }

    fn healthy() -> FileIntegrity {
        FileIntegrity {
            baseline: Some(BaselineStatus {
                state: "complete".into(),
                entries: 1234,
                ..BaselineStatus::default()
            }),
            last_rescan_ms: NOW - H,
            last_full_scan_ms: NOW - 48 * H,
            realtime: true,
            watched: ["/etc", "/usr/bin", "/usr/sbin", "/boot"]
                .iter()
                .map(|p| WatchedPath {
                    path: path(p.as_bytes()),
                    recursive: true,
                    state: "watched".into(),
                    ..WatchedPath::default()
                })
                .collect(),
            collector_view: Some(FimCollectorView::default()),
            ..FileIntegrity::default()
        }
    }

    fn ev(p: &[u8], attribution: &str, changed: &[&str]) -> FileEvent {
        FileEvent {
            kind: Kind::Modified as i32,
            path: path(p),
            at_ms: NOW - H,
            attribution: attribution.into(),
            changed: changed.iter().map(|s| (*s).to_owned()).collect(),
            ..FileEvent::default()
        }
    }

    fn changes() -> Changes {
        Changes {
            require_realtime: true,
            window_ms: 24 * H,
        }
    }

    #[test]
    fn baseline_must_be_complete_and_recent() {
        let r = Baseline {
            max_check_age_ms: 24 * H,
            max_full_age_ms: 8 * 24 * H,
        };
        assert_eq!(
            r.judge(&healthy(), NOW),
            Verdict::Pass(
                "base de référence de 1234 entrées, contrôlée il y a 1 h, relue entièrement il y a 2 j"
                    .into()
            )
        );
        let mut s = healthy();
        s.baseline.as_mut().unwrap().state = "building".into();
        assert!(matches!(r.judge(&s, NOW), Verdict::Fail { .. }));
        let mut s = healthy();
        s.last_rescan_ms = NOW - 30 * H;
        s.last_full_scan_ms = NOW - 30 * H;
        assert_eq!(
            r.judge(&s, NOW),
            Verdict::fail(
                "base de référence de 1234 entrées : dernier contrôle il y a 1 j 6 h (seuil 1 j)"
                    .into()
            )
        );
    }

    #[test]
    fn unexplained_changes_fail_and_package_verified_ones_pass() {
        let mut s = healthy();
        s.collector_view.as_mut().unwrap().recent_events = vec![
            ev(b"/usr/bin/ls", "package-verified", &["content"]),
            ev(b"/etc/caf\xe9", "", &["mode"]),
            ev(b"/etc/passwd", "unverified", &["content", "size"]),
        ];
        assert_eq!(
            changes().judge(&s, &[], NOW),
            Verdict::fail(
                "2 modifications non expliquées en 1 j : /etc/passwd (contenu, taille, pendant une activité des paquets sans correspondance), /etc/caf\\xe9 (droits)"
                    .into()
            )
        );
        s.collector_view.as_mut().unwrap().recent_events.truncate(1);
        s.collector_view.as_mut().unwrap().recent_overflows = 1;
        assert_eq!(
            changes().judge(&s, &[], NOW),
            Verdict::Pass("/etc, /usr/bin, /usr/sbin, /boot surveillés en temps réel ; aucune modification non expliquée en 1 j (1 modification vérifiée par les paquets) ; 1 débordement de la file d'événements suivi d'un contrôle complet".into())
        );
        // Counts come from the hourly tally, which covers what the bounded list left out.
        let mut s = healthy();
        let v = s.collector_view.as_mut().unwrap();
        v.recent_events = vec![
            ev(b"/etc/a", "", &["content"]),
            ev(b"/etc/b", "", &["mode"]),
        ];
        v.hourly = vec![
            vigie_proto::v1::FimEventCount {
                hour_ms: NOW - 2 * H,
                unexplained: 9_999,
                explained: 3,
            },
            vigie_proto::v1::FimEventCount {
                hour_ms: NOW - 30 * H,
                unexplained: 500,
                explained: 0,
            },
        ];
        assert_eq!(
            changes().judge(&s, &[], NOW),
            Verdict::fail(
                "9999 modifications non expliquées en 1 j : /etc/b (droits), /etc/a (contenu) et 9997 autres"
                    .into()
            )
        );
        // Old changes leave the window.
        let mut s = healthy();
        let mut old = ev(b"/etc/passwd", "", &["content"]);
        old.at_ms = NOW - 25 * H;
        s.collector_view.as_mut().unwrap().recent_events = vec![old];
        assert!(matches!(changes().judge(&s, &[], NOW), Verdict::Pass(_)));
    }

    fn window(id: &str, from_ms: i64, until_ms: i64) -> MaintenanceWindow {
        MaintenanceWindow {
            id: id.into(),
            reason: "migration du serveur de fichiers".into(),
            owner: "J. Martin".into(),
            from_ms,
            until_ms,
        }
    }

    #[test]
    fn changes_inside_a_maintenance_window_still_fail_but_graded_low_and_named() {
        let at = |mut e: FileEvent, at_ms: i64| {
            e.at_ms = at_ms;
            e
        };
        let windows = [window("m-00000000000000aa", NOW - 3 * H, NOW - H)];
        let mut s = healthy();
        s.collector_view.as_mut().unwrap().recent_events = vec![
            at(
                ev(b"/usr/bin/ls", "package-verified", &["content"]),
                NOW - 2 * H,
            ),
            at(ev(b"/etc/samba/smb.conf", "", &["content"]), NOW - 2 * H),
            at(
                ev(b"/boot/initrd.img", "unverified", &["content"]),
                NOW - 2 * H,
            ),
        ];
        // Every unexplained change inside the window: still a failure, graded low, each one named
        // with the window; the package-verified one stays quiet.
        assert_eq!(
            changes().judge(&s, &windows, NOW),
            Verdict::fail_as(
                Severity::Low,
                "2 modifications non expliquées en 1 j, toutes pendant une maintenance déclarée : /boot/initrd.img (contenu, pendant une activité des paquets sans correspondance, pendant la maintenance m-00000000000000aa (migration du serveur de fichiers, J. Martin)), /etc/samba/smb.conf (contenu, pendant la maintenance m-00000000000000aa (migration du serveur de fichiers, J. Martin))"
                    .into()
            )
        );
        // Without the window the same changes fail at the check's own severity.
        assert!(matches!(
            changes().judge(&s, &[], NOW),
            Verdict::Fail { severity: None, .. }
        ));
        // The end is exclusive: a change at the end instant, or after, is a plain failure, named
        // first; the window's change is still told apart.
        s.collector_view
            .as_mut()
            .unwrap()
            .recent_events
            .push(at(ev(b"/etc/passwd", "", &["content"]), NOW - H));
        assert_eq!(
            changes().judge(&s, &windows, NOW),
            Verdict::fail(
                "3 modifications non expliquées en 1 j (dont 2 pendant une maintenance déclarée) : /etc/passwd (contenu), /boot/initrd.img (contenu, pendant une activité des paquets sans correspondance, pendant la maintenance m-00000000000000aa (migration du serveur de fichiers, J. Martin)), /etc/samba/smb.conf (contenu, pendant la maintenance m-00000000000000aa (migration du serveur de fichiers, J. Martin))"
                    .into()
            )
        );
        // A change before the window started is outside it too.
        let mut s = healthy();
        s.collector_view.as_mut().unwrap().recent_events =
            vec![at(ev(b"/etc/hosts", "", &["content"]), NOW - 3 * H - 1)];
        assert!(matches!(
            changes().judge(&s, &windows, NOW),
            Verdict::Fail { severity: None, .. }
        ));
        // Only package-verified changes inside the window: a pass, as anywhere else.
        s.collector_view.as_mut().unwrap().recent_events = vec![at(
            ev(b"/usr/bin/ls", "package-verified", &["content"]),
            NOW - 2 * H,
        )];
        assert!(matches!(
            changes().judge(&s, &windows, NOW),
            Verdict::Pass(_)
        ));
    }

    #[test]
    fn changes_the_bounded_list_lost_count_as_outside_any_window() {
        let windows = [window("m-00000000000000bb", NOW - 3 * H, NOW)];
        let mut s = healthy();
        let v = s.collector_view.as_mut().unwrap();
        let mut e = ev(b"/etc/a", "", &["content"]);
        e.at_ms = NOW - 2 * H;
        v.recent_events = vec![e];
        v.hourly = vec![vigie_proto::v1::FimEventCount {
            hour_ms: NOW - 2 * H,
            unexplained: 5,
            explained: 0,
        }];
        assert_eq!(
            changes().judge(&s, &windows, NOW),
            Verdict::fail(
                "5 modifications non expliquées en 1 j (dont 1 pendant une maintenance déclarée) : /etc/a (contenu, pendant la maintenance m-00000000000000bb (migration du serveur de fichiers, J. Martin)) et 4 autres"
                    .into()
            )
        );
        // One change, inside: the singular reads right.
        s.collector_view.as_mut().unwrap().hourly.clear();
        assert_eq!(
            changes().judge(&s, &windows, NOW),
            Verdict::fail_as(
                Severity::Low,
                "1 modification non expliquée en 1 j, faite pendant une maintenance déclarée : /etc/a (contenu, pendant la maintenance m-00000000000000bb (migration du serveur de fichiers, J. Martin))"
                    .into()
            )
        );
    }

    #[test]
    fn required_paths_must_be_watched() {
        let mut s = healthy();
        s.watched.retain(|w| raw(&w.path) != b"/boot");
        s.watched[0].state = "scanned".into();
        s.realtime = false;
        assert_eq!(
            changes().judge(&s, &[], NOW),
            Verdict::fail(
                "non surveillés : /etc, /boot (surveillance en temps réel inactive)".into()
            )
        );
        let relaxed = Changes {
            require_realtime: false,
            window_ms: 24 * H,
        };
        let mut s = healthy();
        s.watched = vec![WatchedPath {
            path: path(b"/"),
            recursive: true,
            state: "scanned".into(),
            ..WatchedPath::default()
        }];
        // "/" covers nothing by prefix match of "/" + "/": only real parents count.
        assert!(matches!(relaxed.judge(&s, &[], NOW), Verdict::Fail { .. }));
        s.watched = vec![
            WatchedPath {
                path: path(b"/etc"),
                recursive: true,
                state: "scanned".into(),
                ..WatchedPath::default()
            },
            WatchedPath {
                path: path(b"/usr"),
                recursive: true,
                state: "scanned".into(),
                ..WatchedPath::default()
            },
            WatchedPath {
                path: path(b"/boot"),
                recursive: false,
                state: "scanned".into(),
                ..WatchedPath::default()
            },
        ];
        assert!(matches!(relaxed.judge(&s, &[], NOW), Verdict::Pass(_)));
    }

    #[test]
    fn tamper_is_judged_from_the_collector_view() {
        let r = Tamper {
            window_ms: 30 * 24 * H,
            max_sync_age_ms: 48 * H,
        };
        let mut s = healthy();
        assert!(matches!(r.judge(&s, NOW), Verdict::Unknown(_)));
        let v = s.collector_view.as_mut().unwrap();
        v.last_sync_ms = NOW - H;
        v.last_sync_result = "match".into();
        assert_eq!(
            r.judge(&s, NOW),
            Verdict::Pass(
                "empreintes de la base de référence conformes à la copie du collecteur (il y a 1 h)"
                    .into()
            )
        );
        let v = s.collector_view.as_mut().unwrap();
        v.last_mismatch_ms = NOW - 2 * H;
        v.mismatched_directories = vec![Path {
            encoding: 1,
            raw: b"/usr/bin".to_vec(),
        }];
        assert_eq!(
            r.judge(&s, NOW),
            Verdict::fail("la base de référence de l'hôte a changé sans événement correspondant il y a 2 h (/usr/bin)".into())
        );
        let v = s.collector_view.as_mut().unwrap();
        v.last_mismatch_ms = NOW - 31 * 24 * H;
        v.last_sync_result = "unverifiable".into();
        assert!(matches!(r.judge(&s, NOW), Verdict::Unknown(_)));
        s.collector_view.as_mut().unwrap().last_sync_ms = NOW - 49 * H;
        assert!(matches!(r.judge(&s, NOW), Verdict::Fail { .. }));
    }
}
