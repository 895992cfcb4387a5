//! Tests of the contractor-login cursor through the probe itself (`collect`, then `spooled` as the
//! runner calls it once the report is in the outbox): each login is reported once, across
//! restarts, log rotation and truncation, and again only when its report never reached the
//! spool; with a real journal file built by `systemd-journal-remote` and read by `journalctl`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use vigie_proto::v1::domain_state::State;

use super::*;

/// 2026-11-28T12:00:00Z.
const NOW: i64 = 1_795_867_200_000;
const HOUR_MS: i64 = 3_600_000;

fn write(root: &Path, file: &str, bytes: &[u8]) {
    let path = root.join(file.trim_start_matches('/'));
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

fn append(root: &Path, file: &str, bytes: &[u8]) {
    use std::io::Write as _;
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(root.join(file.trim_start_matches('/')))
        .unwrap();
    f.write_all(bytes).unwrap();
}

/// A root with a contractor `presta` and an ordinary `alice`.
fn root() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "/etc/passwd",
        b"root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/bash\npresta:x:1001:1001::/home/presta:/bin/bash\n",
    );
    write(
        dir.path(),
        "/etc/group",
        b"root:x:0:\nalice:x:1000:\npresta:x:1001:\n",
    );
    dir
}

/// One auth.log line (rsyslog's RFC 3339 format) `hours` before NOW.
fn line(hours: i64, user: &str, port: u16) -> String {
    let at = jiff::Timestamp::from_millisecond(NOW - hours * HOUR_MS).unwrap();
    format!(
        "{} mairie sshd[1]: Accepted publickey for {user} from 192.0.2.9 port {port} ssh2: ED25519 SHA256:k\n",
        at.strftime("%Y-%m-%dT%H:%M:%S%:z")
    )
}

fn probe(cfg: &AccountsConfig) -> Box<dyn Probe> {
    cfg.build().unwrap()
}

fn cx(root: &Path, state: &Path, now_ms: i64) -> ProbeCx {
    ProbeCx {
        root: root.to_path_buf(),
        state_dir: Some(state.to_path_buf()),
        now_ms,
        role: None,
        command_timeout: Duration::from_secs(20),
    }
}

/// One cycle: the ports of the contractor logins reported, most recent first, and the warnings;
/// `spool` says whether the report reached the outbox (the runner then calls `spooled`).
async fn cycle(p: &dyn Probe, cx: &ProbeCx, spool: bool) -> (Vec<String>, Vec<String>) {
    let State::Accounts(a) = p.collect(cx).await.unwrap() else {
        panic!("not accounts");
    };
    if spool {
        p.spooled(cx);
    }
    let text = format!("{:?}", a.contractor_logins);
    assert!(!text.contains("alice"), "alice's login leaked: {text}");
    let logins = a
        .contractor_logins
        .iter()
        .map(|l| format!("{}:{}", l.principal.as_ref().unwrap().name, l.at_ms))
        .collect();
    (logins, a.warnings)
}

fn at(hours: i64) -> String {
    format!("presta:{}", (NOW - hours * HOUR_MS) / 1000 * 1000)
}

#[tokio::test]
async fn auth_log_logins_are_sent_once_across_restarts_and_rotation() {
    let dir = root();
    let root = dir.path();
    let state = tempfile::tempdir().unwrap();
    let cfg = AccountsConfig {
        contractors: vec!["presta".to_owned()],
        ..AccountsConfig::default()
    };
    write(
        root,
        "/var/log/auth.log",
        format!("{}{}", line(50, "presta", 1), line(49, "alice", 2)).as_bytes(),
    );
    let p = probe(&cfg);
    let c = cx(root, state.path(), NOW);
    // First run: the whole window.
    assert_eq!(cycle(p.as_ref(), &c, true).await.0, [at(50)]);
    // Nothing new: nothing sent.
    assert_eq!(cycle(p.as_ref(), &c, true).await.0, Vec::<String>::new());
    // A new line, and half of another one still being written.
    append(root, "/var/log/auth.log", line(10, "presta", 3).as_bytes());
    let partial = line(9, "presta", 4);
    let (head, tail) = partial.split_at(30);
    append(root, "/var/log/auth.log", head.as_bytes());
    assert_eq!(cycle(p.as_ref(), &c, true).await.0, [at(10)]);
    append(root, "/var/log/auth.log", tail.as_bytes());
    // A report that never reached the outbox: its logins come again in the next one.
    assert_eq!(cycle(p.as_ref(), &c, false).await.0, [at(9)]);
    assert_eq!(cycle(p.as_ref(), &c, true).await.0, [at(9)]);
    // A restart: a new probe reads the stored cursor.
    let p = probe(&cfg);
    assert_eq!(cycle(p.as_ref(), &c, true).await.0, Vec::<String>::new());
    // logrotate: a line lands in the old file after the last read, then the file is renamed
    // and a new one started.
    append(root, "/var/log/auth.log", line(8, "presta", 5).as_bytes());
    std::fs::rename(
        root.join("var/log/auth.log"),
        root.join("var/log/auth.log.1"),
    )
    .unwrap();
    write(root, "/var/log/auth.log", line(7, "presta", 6).as_bytes());
    assert_eq!(cycle(p.as_ref(), &c, true).await.0, [at(7), at(8)]);
    assert_eq!(cycle(p.as_ref(), &c, true).await.0, Vec::<String>::new());
    // copytruncate: same inode, shorter.
    write(root, "/var/log/auth.log", line(6, "presta", 7).as_bytes());
    let (logins, warnings) = cycle(p.as_ref(), &c, true).await;
    assert_eq!(logins, [at(6)]);
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("truncated or replaced in place")),
        "{warnings:?}"
    );
    // Rotated and the old file compressed away: said, not silently lost.
    append(root, "/var/log/auth.log", line(5, "presta", 8).as_bytes());
    std::fs::remove_file(root.join("var/log/auth.log")).unwrap();
    std::fs::remove_file(root.join("var/log/auth.log.1")).unwrap();
    write(root, "/var/log/auth.log", line(4, "presta", 9).as_bytes());
    let (logins, warnings) = cycle(p.as_ref(), &c, true).await;
    assert_eq!(logins, [at(4)]);
    assert!(
        // A new file may reuse the freed inode: then it is seen as replaced in place.
        warnings
            .iter()
            .any(|w| w.contains("was rotated") || w.contains("replaced in place")),
        "{warnings:?}"
    );
    // `check` (no state directory) always shows the whole window and stores nothing.
    let check_cx = ProbeCx {
        state_dir: None,
        ..c.clone()
    };
    let before = std::fs::read(state.path().join(cursor::FILE_NAME)).unwrap();
    assert_eq!(cycle(p.as_ref(), &check_cx, true).await.0, [at(4)]);
    assert_eq!(
        std::fs::read(state.path().join(cursor::FILE_NAME)).unwrap(),
        before
    );
}

#[tokio::test]
async fn a_damaged_cursor_file_restarts_from_the_window_and_says_so() {
    let dir = root();
    let state = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "/var/log/auth.log",
        line(3, "presta", 1).as_bytes(),
    );
    std::fs::write(state.path().join(cursor::FILE_NAME), b"\xff not json").unwrap();
    let cfg = AccountsConfig {
        contractors: vec!["presta".to_owned()],
        ..AccountsConfig::default()
    };
    let (logins, warnings) = cycle(
        probe(&cfg).as_ref(),
        &cx(dir.path(), state.path(), NOW),
        true,
    )
    .await;
    assert_eq!(logins, [at(3)]);
    assert!(
        warnings
            .iter()
            .any(|w| w == "contractor-logins.json: not a cursor file; contractor logins of the whole window are read again"),
        "{warnings:?}"
    );
}

fn journal_remote() -> PathBuf {
    [
        "/lib/systemd/systemd-journal-remote",
        "/usr/lib/systemd/systemd-journal-remote",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
    .expect("systemd-journal-remote is missing: apt-get install -y systemd-journal-remote (scripts/test does)")
}

/// Appends entries (export format) to the journal file `out`, creating it if needed.
fn journal_append(out: &Path, entries: &[(i64, u64, &str)]) {
    let export: String = entries
        .iter()
        .map(|(hours, seq, msg)| {
            format!(
                "__REALTIME_TIMESTAMP={}\n__MONOTONIC_TIMESTAMP={}\n_BOOT_ID=0123456789abcdef0123456789abcdef\n\
                 _HOSTNAME=mairie\nMESSAGE={msg}\nSYSLOG_IDENTIFIER=sshd\n_COMM=sshd-session\n_PID=7\n\n",
                (NOW - hours * HOUR_MS) * 1000,
                seq * 1000
            )
        })
        .collect();
    let mut child = Command::new(journal_remote())
        .arg(format!("--output={}", out.display()))
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(export.as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success());
}

fn accepted(user: &str, port: u16) -> String {
    format!("Accepted publickey for {user} from 192.0.2.9 port {port} ssh2: ED25519 SHA256:k")
}

#[tokio::test]
async fn journal_logins_are_sent_once_with_the_journal_cursor() {
    let dir = root();
    let state = tempfile::tempdir().unwrap();
    let journals = tempfile::tempdir().unwrap();
    let first = journals.path().join("system.journal");
    journal_append(
        &first,
        &[
            (30, 1, &accepted("presta", 1)),
            (29, 2, &accepted("alice", 2)),
        ],
    );
    let cfg = AccountsConfig {
        contractors: vec!["presta".to_owned()],
        journal_dir: Some(journals.path().to_path_buf()),
        ..AccountsConfig::default()
    };
    let c = cx(dir.path(), state.path(), NOW);
    let p = probe(&cfg);
    assert_eq!(cycle(p.as_ref(), &c, true).await.0, [at(30)]);
    assert_eq!(cycle(p.as_ref(), &c, true).await.0, Vec::<String>::new());
    journal_append(&first, &[(20, 3, &accepted("presta", 3))]);
    // Not spooled: sent again.
    let (logins, warnings) = cycle(p.as_ref(), &c, false).await;
    assert_eq!(
        logins,
        [at(20)],
        "{warnings:?} {}",
        std::fs::read_to_string(state.path().join(cursor::FILE_NAME)).unwrap()
    );
    assert_eq!(cycle(p.as_ref(), &c, true).await.0, [at(20)]);
    // journald rotates: the file is archived and a new one started; after a restart the cursor
    // still points into the archived file and only the new entry is read.
    std::fs::rename(&first, journals.path().join("system@0001-0002.journal~")).unwrap();
    journal_append(
        &journals.path().join("system.journal"),
        &[
            (10, 4, &accepted("presta", 4)),
            (9, 5, &accepted("alice", 5)),
        ],
    );
    let p = probe(&cfg);
    let (logins, warnings) = cycle(p.as_ref(), &c, true).await;
    assert_eq!(logins, [at(10)], "{warnings:?}");
    assert_eq!(cycle(p.as_ref(), &c, true).await.0, Vec::<String>::new());
    let stored = std::fs::read_to_string(state.path().join(cursor::FILE_NAME)).unwrap();
    assert!(stored.contains("\"journal\":\"s="), "{stored}");
    assert!(
        !stored.contains("alice") && !stored.contains("192.0.2.9"),
        "{stored}"
    );
}

#[tokio::test]
async fn a_ten_megabyte_line_and_a_non_utf8_contractor_name() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(
        root,
        "/etc/passwd",
        b"root:x:0:0:root:/root:/bin/bash\ncl\xe9ment:x:1007:1007::/home/c:/bin/bash\n",
    );
    write(
        root,
        "/etc/group",
        b"root:x:0:\nprestataires:x:1100:cl\xe9ment\n",
    );
    let mut bytes = line(3, "root", 1).into_bytes();
    bytes.extend(std::iter::repeat_n(b'A', 10 * 1024 * 1024));
    bytes.push(b'\n');
    // sshd writes the name as the account's raw bytes.
    let clement = line(2, "CLEMENT", 2);
    let (head, tail) = clement.split_once("CLEMENT").unwrap();
    bytes.extend_from_slice(head.as_bytes());
    bytes.extend_from_slice(b"cl\xe9ment");
    bytes.extend_from_slice(tail.as_bytes());
    write(root, "/var/log/auth.log", &bytes);
    let state = tempfile::tempdir().unwrap();
    let cfg = AccountsConfig {
        contractor_groups: vec!["prestataires".to_owned()],
        ..AccountsConfig::default()
    };
    let p = probe(&cfg);
    let State::Accounts(a) = p.collect(&cx(root, state.path(), NOW)).await.unwrap() else {
        panic!("not accounts");
    };
    assert_eq!(a.contractor_logins.len(), 1, "{:?}", a.contractor_logins);
    let l = &a.contractor_logins[0];
    let who = l.principal.as_ref().unwrap();
    assert_eq!(
        (who.name.as_str(), who.id.clone()),
        (
            "cl\u{fffd}ment",
            Some(vigie_proto::v1::principal::Id::Uid(1007))
        )
    );
    assert!(
        a.warnings
            .iter()
            .any(|w| w == "/var/log/auth.log: 1 lines longer than 65536 bytes ignored"),
        "{:?}",
        a.warnings
    );
    assert!(a.warnings.iter().all(|w| !w.contains("AAAA")));
}
