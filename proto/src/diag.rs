//! What both `doctor` commands share: the output language from the locale, one finding in French
//! and English with its fix, the rendering, and the verdicts on a permission problem, a certificate's
//! expiry and free disk space. The checks themselves live in each binary.

use std::path::Path;

use crate::perms::PermError;

/// The language of the output: French when `LC_ALL`, `LC_MESSAGES` or `LANG` (the first one set and
/// not empty, in that order, as POSIX reads them) starts with `fr`, English otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    Fr,
}

impl Lang {
    pub fn from_env() -> Lang {
        Lang::from_vars(|k| std::env::var(k).ok())
    }

    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Lang {
        let value = ["LC_ALL", "LC_MESSAGES", "LANG"]
            .iter()
            .find_map(|k| get(k).filter(|v| !v.is_empty()));
        match value {
            Some(v) if v.starts_with("fr") => Lang::Fr,
            _ => Lang::En,
        }
    }
}

/// How bad one finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Ok,
    Warn,
    Fail,
}

/// One line of a diagnosis, in both languages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub level: Level,
    /// Stable name of the check (config, permissions, certificate, collector, clock, disk...).
    pub check: &'static str,
    pub en: String,
    pub fr: String,
    /// The command or action that fixes it (English, French), when something is wrong.
    pub fix: Option<(String, String)>,
}

impl Item {
    pub fn new(level: Level, check: &'static str, en: String, fr: String) -> Item {
        Item {
            level,
            check,
            en,
            fr,
            fix: None,
        }
    }

    /// Adds the fix; kept only when the item is not `Ok`.
    pub fn fix(mut self, en: impl Into<String>, fr: impl Into<String>) -> Item {
        if self.level != Level::Ok {
            self.fix = Some((en.into(), fr.into()));
        }
        self
    }
}

/// The diagnosis as text: one line per item, its fix indented below, a count at the end.
pub fn render(items: &[Item], lang: Lang) -> String {
    let mut out = String::new();
    for item in items {
        let tag = match (item.level, lang) {
            (Level::Ok, _) => "OK",
            (Level::Warn, Lang::En) => "WARN",
            (Level::Warn, Lang::Fr) => "ATTENTION",
            (Level::Fail, Lang::En) => "FAIL",
            (Level::Fail, Lang::Fr) => "ÉCHEC",
        };
        let text = if lang == Lang::Fr { &item.fr } else { &item.en };
        out.push_str(&format!("[{tag}] {}: {text}\n", item.check));
        if let Some((en, fr)) = &item.fix {
            let (label, fix) = if lang == Lang::Fr {
                ("correction", fr)
            } else {
                ("fix", en)
            };
            out.push_str(&format!("    {label}: {fix}\n"));
        }
    }
    let fails = items.iter().filter(|i| i.level == Level::Fail).count();
    let warns = items.iter().filter(|i| i.level == Level::Warn).count();
    out.push_str(&match lang {
        Lang::En => format!("{fails} problem(s), {warns} warning(s)\n"),
        Lang::Fr => format!("{fails} problème(s), {warns} avertissement(s)\n"),
    });
    out
}

/// A permission problem, in both languages, with the command that fixes it.
pub fn perm_item(check: &'static str, e: &PermError) -> Item {
    let path = e.path().display().to_string();
    let fr = match e {
        PermError::Io { source, .. } => format!("{path} : {source}"),
        PermError::Writable { mode, .. } => format!(
            "{path} est modifiable par {} (mode {mode:04o}) : n'importe qui là pourrait changer ce que Vigie croit",
            if mode & 0o002 != 0 {
                "tous les utilisateurs"
            } else {
                "son groupe"
            }
        ),
        PermError::Readable { mode, .. } => {
            format!("{path} est une clé lisible par le groupe ou les autres (mode {mode:04o})")
        }
        PermError::Owner { owner, running, .. } => format!(
            "{path} appartient à l'uid {owner}, ni root ni l'utilisateur du service (uid {running})"
        ),
    };
    let item = Item::new(Level::Fail, check, e.to_string(), fr);
    match e.fix() {
        Some(cmd) => item.fix(cmd.clone(), cmd),
        None => item,
    }
}

/// Expiry of the certificate `der` read from `path`: expired (or unreadable) is a failure, fewer
/// than `warn_days` left a warning. The caller adds the fix that fits the certificate.
#[cfg(any(feature = "client", feature = "server"))]
pub fn cert_item(path: &Path, der: &[u8], now_ms: i64, warn_days: i64) -> Item {
    let shown = path.display();
    let not_after = match x509_parser::parse_x509_certificate(der) {
        Ok((_, c)) => c.validity().not_after,
        Err(e) => {
            return Item::new(
                Level::Fail,
                "certificate",
                format!("{shown}: unreadable certificate: {e}"),
                format!("{shown} : certificat illisible : {e}"),
            )
        }
    };
    let at_ms = not_after.timestamp().saturating_mul(1000);
    let date = not_after.to_string();
    let days = at_ms.saturating_sub(now_ms).div_euclid(86_400_000);
    if at_ms <= now_ms {
        Item::new(
            Level::Fail,
            "certificate",
            format!("{shown} expired on {date}"),
            format!("{shown} a expiré le {date}"),
        )
    } else if days < warn_days {
        Item::new(
            Level::Warn,
            "certificate",
            format!("{shown} expires on {date}, in {days} day(s)"),
            format!("{shown} expire le {date}, dans {days} jour(s)"),
        )
    } else {
        Item::new(
            Level::Ok,
            "certificate",
            format!("{shown} valid until {date}"),
            format!("{shown} valide jusqu'au {date}"),
        )
    }
}

/// Below this, the disk holding a state or data directory is a failure.
pub const MIN_FREE_BYTES: u64 = 100 * 1024 * 1024;

/// Below this, the disk is worth a warning whatever its size.
pub const WARN_FREE_BYTES: u64 = 1024 * 1024 * 1024;

/// Above this, a low percentage alone is no warning: 4 % of a 300 GB disk is room for years of
/// reports, and a doctor that warns on every large server teaches its reader to ignore it.
pub const ROOMY_FREE_BYTES: u64 = 4 * 1024 * 1024 * 1024;

/// The verdict on `available` bytes free of `total` on the file system mounted at `mount`.
pub fn disk_judgement(mount: &str, available: u64, total: u64) -> Item {
    let mib = available / (1024 * 1024);
    let percent = available
        .saturating_mul(100)
        .checked_div(total)
        .unwrap_or(100);
    let level = if available < MIN_FREE_BYTES {
        Level::Fail
    } else if available < WARN_FREE_BYTES || (percent < 5 && available < ROOMY_FREE_BYTES) {
        Level::Warn
    } else {
        Level::Ok
    };
    Item::new(
        level,
        "disk",
        format!("{mount}: {mib} MiB free ({percent} %)"),
        format!("{mount} : {mib} Mio libres ({percent} %)"),
    )
    .fix(
        format!("free space on {mount} (journalctl --vacuum-size=200M, apt-get clean)"),
        format!("libérer de la place sur {mount} (journalctl --vacuum-size=200M, apt-get clean)"),
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn locale_precedence() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        assert_eq!(Lang::from_vars(env(&[("LANG", "fr_FR.UTF-8")])), Lang::Fr);
        assert_eq!(
            Lang::from_vars(env(&[("LANG", "fr_FR.UTF-8"), ("LC_ALL", "C")])),
            Lang::En
        );
        assert_eq!(
            Lang::from_vars(env(&[("LANG", "en_GB"), ("LC_MESSAGES", "fr_BE")])),
            Lang::Fr
        );
        assert_eq!(
            Lang::from_vars(env(&[("LC_ALL", ""), ("LANG", "fr")])),
            Lang::Fr
        );
        assert_eq!(Lang::from_vars(env(&[])), Lang::En);
    }

    #[test]
    fn disk_thresholds() {
        let gib = 1024 * 1024 * 1024;
        let ok = disk_judgement("/", 50 * gib, 100 * gib);
        assert_eq!((ok.level, ok.fix), (Level::Ok, None));
        assert_eq!(disk_judgement("/", 2 * gib, 100 * gib).level, Level::Warn);
        // A large disk with little percentage left but gigabytes free is fine.
        assert_eq!(disk_judgement("/", 9 * gib, 300 * gib).level, Level::Ok);
        // A small disk with a fair share free but under a gigabyte is not.
        assert_eq!(disk_judgement("/", gib / 2, 5 * gib).level, Level::Warn);
        let full = disk_judgement("/var", 10 * 1024 * 1024, 100 * gib);
        assert_eq!(full.level, Level::Fail);
        assert!(full.fix.unwrap().1.contains("libérer de la place sur /var"));
    }

    #[test]
    fn rendering_follows_the_language() {
        let items = vec![
            Item::new(Level::Ok, "config", "fine".into(), "bon".into()).fix("x", "y"),
            Item::new(Level::Fail, "disk", "full".into(), "plein".into()).fix("free", "libérer"),
        ];
        let fr = render(&items, Lang::Fr);
        assert!(
            fr.contains("[ÉCHEC] disk: plein\n    correction: libérer\n"),
            "{fr}"
        );
        assert!(fr.contains("1 problème(s), 0 avertissement(s)"), "{fr}");
        assert!(
            !fr.contains("[OK] config: bon\n    "),
            "no fix on an OK line: {fr}"
        );
        let en = render(&items, Lang::En);
        assert!(en.contains("[FAIL] disk: full\n    fix: free\n"), "{en}");
    }
}
