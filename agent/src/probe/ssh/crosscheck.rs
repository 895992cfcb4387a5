//! The `sshd -T` cross-check: on the live host only, run `LC_ALL=C sshd -T -C
//! user=root,host=localhost,addr=127.0.0.1` with a timeout and compare what it prints with the
//! native parser on the keys the checks read. It needs root-readable host keys and /run/sshd, so
//! under the agent's own user it usually fails: that is recorded as `FAILED` with the reason,
//! never as a probe error (DESIGN decision 4). Not here: parsing sshd_config (`config.rs`).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use vigie_proto::v1::{ssh_cross_check::Status, SshCrossCheck, SshSettingDifference};

use crate::probe::command::{RunError, Tool};

/// `sshd -T` prints about 6 KB.
const MAX_STDOUT_BYTES: u64 = 1024 * 1024;
const MAX_STDERR_BYTES: u64 = 4096;
const MAX_REASON_CHARS: usize = 300;

/// The keys compared: those the checks read.
pub const COMPARED: &[&str] = &[
    "allowgroups",
    "allowtcpforwarding",
    "allowusers",
    "authenticationmethods",
    "ciphers",
    "disableforwarding",
    "kbdinteractiveauthentication",
    "kexalgorithms",
    "logingracetime",
    "macs",
    "maxauthtries",
    "passwordauthentication",
    "permitemptypasswords",
    "permitrootlogin",
    "permituserenvironment",
    "pubkeyauthentication",
    "x11forwarding",
];

/// The arguments after the program, apart from an optional `-f` and `-o` the tests add.
pub const ARGS: &[&str] = &["-T", "-C", "user=root,host=localhost,addr=127.0.0.1"];

/// Runs `sshd` with `args` the agent's one way (`probe::command`: `LC_ALL=C`, stdin closed,
/// bounded output, killed after `timeout`) and returns its output parsed, or why it could not.
pub async fn run(
    sshd: &Path,
    args: &[String],
    timeout: Duration,
) -> Result<BTreeMap<String, String>, String> {
    let out = Tool::new(sshd)
        .args(args.iter().cloned())
        .env_remove("LANGUAGE")
        .max_stdout(MAX_STDOUT_BYTES)
        .max_stderr(MAX_STDERR_BYTES)
        .run(timeout)
        .await
        .map_err(|e| match e {
            RunError::Timeout { .. } => {
                format!("sshd -T did not finish within {} s", timeout.as_secs())
            }
            other => other.to_string(),
        })?;
    if !out.status.success() {
        let text = out.stderr_text();
        let reason: String = text.trim().chars().take(MAX_REASON_CHARS).collect();
        return Err(format!("sshd -T failed ({}): {reason}", out.status));
    }
    Ok(parse_dump(&String::from_utf8_lossy(&out.stdout)))
}

/// `keyword value` lines; a repeated keyword (allowusers, one per line) accumulates with spaces.
pub fn parse_dump(text: &str) -> BTreeMap<String, String> {
    let mut map: BTreeMap<String, String> = BTreeMap::new();
    for line in text.lines() {
        let (key, value) = line.split_once(' ').unwrap_or((line, ""));
        let value = match (key, value) {
            ("permitrootlogin", "without-password") => "prohibit-password",
            _ => value,
        };
        map.entry(key.to_owned())
            .and_modify(|v| {
                v.push(' ');
                v.push_str(value);
            })
            .or_insert_with(|| value.to_owned());
    }
    map
}

/// Compares the native settings with sshd's on `COMPARED`, leaving out keys that a Match block
/// changes (sshd applies the blocks that select root@localhost; the native global settings are
/// those of no block).
pub fn compare(
    native: &BTreeMap<String, String>,
    sshd: &BTreeMap<String, String>,
    changed_by_match: &[&str],
) -> SshCrossCheck {
    let differences: Vec<SshSettingDifference> = COMPARED
        .iter()
        .filter(|k| !changed_by_match.contains(k))
        .filter_map(|k| {
            let n = native.get(*k).map(String::as_str).unwrap_or_default();
            let s = sshd.get(*k).map(String::as_str).unwrap_or_default();
            (n != s).then(|| SshSettingDifference {
                key: (*k).to_owned(),
                native: n.to_owned(),
                sshd: s.to_owned(),
            })
        })
        .collect();
    SshCrossCheck {
        status: if differences.is_empty() {
            Status::Agreed
        } else {
            Status::Disagreed
        } as i32,
        reason: String::new(),
        differences,
    }
}

/// A cross-check that did not produce a comparison.
pub fn not_compared(status: Status, reason: impl Into<String>) -> SshCrossCheck {
    SshCrossCheck {
        status: status as i32,
        reason: reason.into(),
        differences: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dump_accumulates_and_compare_names_differences() {
        let sshd = parse_dump(
            "permitrootlogin without-password\nallowusers alice\nallowusers bob\nmaxauthtries 6\n",
        );
        let mut native = BTreeMap::from([
            ("permitrootlogin".to_owned(), "prohibit-password".to_owned()),
            ("allowusers".to_owned(), "alice bob".to_owned()),
            ("maxauthtries".to_owned(), "3".to_owned()),
        ]);
        let c = compare(&native, &sshd, &[]);
        let diffs: Vec<String> = c
            .differences
            .iter()
            .map(|d| format!("{}:{}/{}", d.key, d.native, d.sshd))
            .collect();
        assert_eq!(diffs, ["maxauthtries:3/6"]);
        assert_eq!(c.status, Status::Disagreed as i32);
        assert_eq!(
            compare(&native, &sshd, &["maxauthtries"]).status,
            Status::Agreed as i32
        );
        native.insert("maxauthtries".to_owned(), "6".to_owned());
        assert_eq!(compare(&native, &sshd, &[]).status, Status::Agreed as i32);
    }

    #[tokio::test]
    async fn missing_binary_is_a_reason_not_a_panic() {
        let err = run(Path::new("/nonexistent/sshd"), &[], Duration::from_secs(1))
            .await
            .unwrap_err();
        assert_eq!(err, "/nonexistent/sshd not found");
    }

    #[tokio::test]
    async fn a_hung_sshd_is_killed_at_the_deadline() {
        // `sleep` stands in for an sshd that never answers; its arguments are the sleep's.
        let started = std::time::Instant::now();
        let err = run(
            Path::new("/bin/sleep"),
            &["30".to_owned()],
            Duration::from_secs(1),
        )
        .await
        .unwrap_err();
        assert_eq!(err, "sshd -T did not finish within 1 s");
        assert!(started.elapsed() < Duration::from_secs(10));
    }
}
