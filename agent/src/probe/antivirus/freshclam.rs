//! freshclam, ClamAV's signature updater: where its configuration puts its log and databases, and
//! what its log says about the last update run, the last successful one and the last warning. Pure
//! parsing over text; the probe reads the files. Not here: running freshclam (it would write).

use super::clamd::parse_conf;
use super::timetext::ctime_ms;

/// Longest warning text kept.
const MAX_WARNING_CHARS: usize = 200;

/// What the probe needs from `freshclam.conf`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FreshclamConf {
    pub update_log_file: Option<String>,
    pub database_dir: Option<String>,
}

impl FreshclamConf {
    pub fn from_text(text: &str) -> FreshclamConf {
        let mut conf = FreshclamConf::default();
        for (key, value) in parse_conf(text) {
            match key.as_str() {
                "UpdateLogFile" => conf.update_log_file = Some(value),
                "DatabaseDirectory" => conf.database_dir = Some(value),
                _ => {}
            }
        }
        conf
    }
}

/// What the log says; times in UTC milliseconds (log times are local, read as UTC), 0 when unknown.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FreshclamLog {
    pub last_attempt_ms: i64,
    pub last_success_ms: i64,
    pub last_warning: String,
    pub last_warning_ms: i64,
}

/// Splits `Thu Nov 28 10:00:01 2024 -> message` (clamd and freshclam with `LogTime yes`) into its time
/// and message; a line without the prefix has no time.
pub fn split_log_time(line: &str) -> (Option<i64>, &str) {
    match line.split_once(" -> ") {
        Some((time, message)) => match ctime_ms(time) {
            Some(ms) => (Some(ms), message),
            None => (None, line),
        },
        None => (None, line),
    }
}

/// Reads a freshclam log from oldest to newest line. A line's time is its own `LogTime` prefix, else
/// the start time of the run it belongs to (`ClamAV update process started at <ctime>`).
pub fn parse_log(text: &str) -> FreshclamLog {
    let mut log = FreshclamLog::default();
    let mut run_start: Option<i64> = None;
    for raw in text.lines() {
        let (stamp, message) = split_log_time(raw.trim_end());
        let message = message.trim();
        if let Some(started) = message.strip_prefix("ClamAV update process started at ") {
            run_start = ctime_ms(started).or(stamp);
            log.last_attempt_ms = run_start.unwrap_or(log.last_attempt_ms);
            continue;
        }
        let at = stamp.or(run_start).unwrap_or(0);
        if is_success(message) {
            log.last_success_ms = log.last_success_ms.max(at);
        } else if let Some(warning) = warning_text(message) {
            log.last_warning = warning
                .chars()
                .take(MAX_WARNING_CHARS)
                .map(|c| if c.is_control() { '?' } else { c })
                .collect();
            log.last_warning_ms = at;
        }
    }
    log
}

/// `daily.cld database is up-to-date (version: …)`, `daily.cvd updated (version: …)` and
/// `Database updated (N signatures) from …` all mean the run left the databases current.
fn is_success(message: &str) -> bool {
    message.contains("database is up-to-date")
        || message.contains("database is up to date")
        || message.contains(" updated (version:")
        || message.starts_with("Database updated")
}

/// Warnings and errors, as freshclam writes them to its log (`WARNING:`/`ERROR:`, or the `^`/`!`
/// markers of older versions).
fn warning_text(message: &str) -> Option<&str> {
    for prefix in ["WARNING:", "ERROR:", "^", "!"] {
        if let Some(rest) = message.strip_prefix(prefix) {
            let rest = rest.trim();
            return (!rest.is_empty()).then_some(message);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(text: &str, expect: &str) {
        let log = parse_log(text);
        let actual = format!(
            "attempt {} success {} warning {} {:?}",
            log.last_attempt_ms, log.last_success_ms, log.last_warning_ms, log.last_warning
        );
        assert_eq!(actual, expect);
    }

    // 2024-11-28T08:16:02Z
    const T0: i64 = 1_732_781_762_000;

    #[test]
    fn freshclam_logs() {
        check(
            "Thu Nov 28 08:16:02 2024 -> --------------------------------------\n\
             Thu Nov 28 08:16:02 2024 -> ClamAV update process started at Thu Nov 28 08:16:02 2024\n\
             Thu Nov 28 08:16:03 2024 -> daily.cld database is up-to-date (version: 27471, sigs: 2070099, f-level: 90, builder: raynman)\n\
             Thu Nov 28 08:16:03 2024 -> main.cvd database is up-to-date (version: 62, sigs: 6647427, f-level: 90, builder: sigmgr)\n",
            &format!("attempt {T0} success {} warning 0 \"\"", T0 + 1000),
        );
        // A later failing run: the attempt moves, the success does not, the warning is kept.
        check(
            "Thu Nov 28 08:16:02 2024 -> ClamAV update process started at Thu Nov 28 08:16:02 2024\n\
             Thu Nov 28 08:16:03 2024 -> daily.cvd updated (version: 27471, sigs: 2070099, f-level: 90, builder: raynman)\n\
             Thu Nov 28 10:16:02 2024 -> ClamAV update process started at Thu Nov 28 10:16:02 2024\n\
             Thu Nov 28 10:16:03 2024 -> WARNING: FreshClam received error code 429 from the ClamAV Content Delivery Network (CDN).\n\
             Thu Nov 28 10:16:03 2024 -> ^Your ClamAV installation is OUTDATED!\n",
            &format!(
                "attempt {} success {} warning {} \"^Your ClamAV installation is OUTDATED!\"",
                T0 + 7_200_000,
                T0 + 1000,
                T0 + 7_201_000
            ),
        );
        // No LogTime: lines take their run's start time.
        check(
            "ClamAV update process started at Thu Nov 28 08:16:02 2024\n\
             ERROR: Can't download daily.cvd from database.clamav.net\n\
             ClamAV update process started at Thu Nov 28 09:16:02 2024\n\
             Database updated (8717526 signatures) from database.clamav.net (IP: 104.16.218.84)\n",
            &format!(
                "attempt {} success {} warning {T0} \"ERROR: Can't download daily.cvd from database.clamav.net\"",
                T0 + 3_600_000,
                T0 + 3_600_000
            ),
        );
        check("", "attempt 0 success 0 warning 0 \"\"");
        check(
            "garbage \u{1b}[31m\n\0\0\0\n-> -> ->\nWARNING:\n",
            "attempt 0 success 0 warning 0 \"\"",
        );
        check(
            "WARNING: bad\u{1b}[31m line",
            "attempt 0 success 0 warning 0 \"WARNING: bad?[31m line\"",
        );
    }

    #[test]
    fn freshclam_conf() {
        let conf = FreshclamConf::from_text(
            "DatabaseOwner clamav\nUpdateLogFile /var/log/clamav/freshclam.log\nDatabaseDirectory /var/lib/clamav\n",
        );
        assert_eq!(
            conf.update_log_file.as_deref(),
            Some("/var/log/clamav/freshclam.log")
        );
        assert_eq!(conf.database_dir.as_deref(), Some("/var/lib/clamav"));
    }
}
