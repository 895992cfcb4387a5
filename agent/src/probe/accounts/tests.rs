//! Tests of the accounts probe as a whole, on temporary roots: what it reports, what it never
//! reports (hashes), and how it fails.

use std::path::Path;
use std::time::Duration;

use vigie_proto::v1::{principal, Accounts};

use super::lastlog::tests::{lastlog_bytes, utmp};
use super::*;

const NOW: i64 = 1_800_000_000_000;
const HASH_ROOT: &str = "$y$j9T$Fq3mB0rJ8yQ2nW7kLx5tV/$9tYp2QwErTyUiOpAsDfGhJkLzXcVbNm1234567890aB";
const HASH_ALICE: &str =
    "$6$Xy7Gh2Kl9mNq$Zr1Lp0Oi9Uy8Tr7Ee6Ww5Qq4Aa3Ss2Dd1Ff0Gg9Hh8Jj7Kk6Ll5Mm4Nn3Bb2Vv1Cc0Xx9Zz8";
const HASH_MALFORMED: &str = "$y$j9T$BrokenSaltBroken1234$BrokenHashBrokenHashBrokenHash12345678";

fn write(root: &Path, file: &str, bytes: &[u8]) {
    let path = root.join(file.trim_start_matches('/'));
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

fn cx(root: &Path) -> ProbeCx {
    ProbeCx {
        root: root.to_path_buf(),
        state_dir: None,
        now_ms: NOW,
        role: None,
        command_timeout: Duration::from_secs(10),
    }
}

fn collect(root: &Path, cfg: &AccountsConfig) -> Result<Accounts, ProbeError> {
    observe(&cx(root), cfg)
}

fn sample_root() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(
        root,
        "/etc/passwd",
        b"root:x:0:0:root:/root:/bin/bash\n\
          daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n\
          toor:x:0:0::/root:/bin/sh\n\
          alice:x:1000:1000:Alice:/home/alice:/bin/bash\n\
          presta:x:1001:1001::/home/presta:/bin/bash\n\
          cl\xe9ment:x:1002:1002::/home/c:/bin/bash\n\
          www-data:x:33:33::/var/www:/bin/sh\n",
    );
    write(
        root,
        "/etc/group",
        b"root:x:0:\nsudo:x:27:alice\nadm:x:4:syslog\nalice:x:1000:\nprestataires:x:1001:\n",
    );
    write(
        root,
        "/etc/shadow",
        format!(
            "root:{HASH_ROOT}:19000:0:99999:7:::\n\
             daemon:*:19000:0:99999:7:::\n\
             alice:!{HASH_ALICE}:0:1:90:7:30:20500:\n\
             presta::19000::::::\n\
             broken:{HASH_MALFORMED}:19000\n"
        )
        .as_bytes(),
    );
    write(
        root,
        "/etc/sudoers",
        b"Defaults env_reset\n%sudo ALL=(ALL:ALL) ALL\npresta ALL = NOPASSWD: ALL\n@includedir /etc/sudoers.d\n",
    );
    write(root, "/etc/sudoers.d/broken", b"bob ALL /bin/ls\n");
    write(
        root,
        "/etc/login.defs",
        b"# comment\nSYS_UID_MAX 999\nUID_MAX 60000\n",
    );
    write(
        root,
        "/var/log/lastlog",
        &lastlog_bytes(&[(0, 1_790_000_000), (1000, 1_799_000_000)]),
    );
    let mut wtmp = utmp(7, "presta", 1_799_500_000);
    wtmp.extend(utmp(7, "alice", 1_700_000_000));
    write(root, "/var/log/wtmp", &wtmp);
    write(
        root,
        "/home/presta/.ssh/authorized_keys",
        b"expiry-time=\"20270131\" ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl presta\n",
    );
    dir
}

fn render(a: &Accounts) -> String {
    let mut out = Vec::new();
    for acc in &a.accounts {
        let p = acc.principal.as_ref().unwrap();
        let uid = match p.id {
            Some(principal::Id::Uid(u)) => u,
            _ => u32::MAX,
        };
        out.push(format!(
            "{} uid={uid} gid={} {} {} chg={} forced={} days={}/{}/{}/{} exp={} last={} groups={:?} login={} system={} sudo={} nopw_all={} contractor={} keys={}",
            p.name,
            acc.gid,
            acc.password_state,
            acc.hash_scheme,
            acc.password_changed_ms,
            acc.password_change_forced,
            acc.min_days,
            acc.max_days,
            acc.warn_days,
            acc.inactive_days,
            acc.expires_ms,
            acc.last_login_ms,
            acc.privileged_groups,
            acc.login_shell,
            acc.system,
            acc.sudo,
            acc.sudo_nopasswd_all,
            acc.contractor,
            acc.authorized_keys.len(),
        ));
    }
    for g in &a.privileged_groups {
        let members: Vec<&str> = g.members.iter().map(|m| m.name.as_str()).collect();
        out.push(format!(
            "group {} {:?}",
            g.group.as_ref().unwrap().name,
            members
        ));
    }
    for p in &a.problems {
        out.push(format!(
            "problem {}:{} {}",
            String::from_utf8_lossy(&p.file.as_ref().unwrap().raw),
            p.line,
            p.message
        ));
    }
    for w in &a.warnings {
        out.push(format!("warning {w}"));
    }
    out.push(format!(
        "source={} sys_uid_max={} shadow={} sudoers={} rules={} defaults={}",
        a.last_login_source,
        a.sys_uid_max,
        a.shadow_read,
        a.sudoers_read,
        a.sudo_rules.len(),
        a.sudo_defaults.len()
    ));
    out.join("\n")
}

#[track_caller]
fn check(root: &Path, cfg: &AccountsConfig, expect: &str) {
    let accounts = collect(root, cfg).unwrap();
    assert_eq!(render(&accounts), expect);
}

#[test]
fn sample_host() {
    let dir = sample_root();
    let cfg = AccountsConfig {
        contractor_groups: vec!["prestataires".into()],
        ..Default::default()
    };
    check(
        dir.path(),
        &cfg,
        "root uid=0 gid=0 set yescrypt chg=1641600000000 forced=false days=0/99999/7/-1 exp=0 last=1789948800000 groups=[] login=true system=true sudo=false nopw_all=false contractor=false keys=0\n\
         daemon uid=1 gid=1 locked  chg=1641600000000 forced=false days=0/99999/7/-1 exp=0 last=0 groups=[] login=false system=true sudo=false nopw_all=false contractor=false keys=0\n\
         toor uid=0 gid=0 absent  chg=0 forced=false days=-1/-1/-1/-1 exp=0 last=1789948800000 groups=[] login=true system=true sudo=false nopw_all=false contractor=false keys=0\n\
         alice uid=1000 gid=1000 locked sha512 chg=0 forced=true days=1/90/7/30 exp=1771200000000 last=1798934400000 groups=[\"sudo\"] login=true system=false sudo=true nopw_all=false contractor=false keys=0\n\
         presta uid=1001 gid=1001 empty  chg=1641600000000 forced=false days=-1/-1/-1/-1 exp=0 last=1799452800000 groups=[] login=true system=false sudo=true nopw_all=true contractor=true keys=1\n\
         cl\u{fffd}ment uid=1002 gid=1002 absent  chg=0 forced=false days=-1/-1/-1/-1 exp=0 last=0 groups=[] login=true system=false sudo=false nopw_all=false contractor=false keys=0\n\
         www-data uid=33 gid=33 absent  chg=0 forced=false days=-1/-1/-1/-1 exp=0 last=0 groups=[] login=true system=true sudo=false nopw_all=false contractor=false keys=0\n\
         group sudo [\"alice\"]\n\
         group adm [\"syslog\"]\n\
         problem /etc/shadow:5 expected 9 colon-separated fields, found 3\n\
         problem /etc/sudoers.d/broken:1 syntax error: expected `users hosts = commands`\n\
         source=lastlog+wtmp sys_uid_max=999 shadow=true sudoers=true rules=2 defaults=1",
    );
}

#[test]
fn no_hash_or_salt_in_the_evidence() {
    let dir = sample_root();
    let accounts = collect(dir.path(), &AccountsConfig::default()).unwrap();
    let debug = format!("{accounts:?}");
    let json = serde_json::to_string(&accounts).unwrap();
    for hash in [HASH_ROOT, HASH_ALICE, HASH_MALFORMED] {
        let salt = hash.split('$').filter(|s| !s.is_empty()).nth(2).unwrap();
        let tail = hash.rsplit('$').next().unwrap();
        for secret in [hash, salt, tail] {
            assert!(!debug.contains(secret), "{secret} in {debug}");
            assert!(!json.contains(secret), "{secret} in {json}");
        }
    }
}

#[test]
fn failures_are_errors_without_content() {
    // No passwd at all.
    let dir = tempfile::tempdir().unwrap();
    let err = collect(dir.path(), &AccountsConfig::default()).unwrap_err();
    assert_eq!(err.code(), "AG0105");
    assert!(
        err.to_string().starts_with("reading /etc/passwd: "),
        "{err}"
    );
    // A passwd holding only malformed lines, one of them with a hash: an error that quotes none.
    write(
        dir.path(),
        "/etc/passwd",
        format!("root:{HASH_ROOT}\n\n{HASH_ALICE}\n").as_bytes(),
    );
    let err = collect(dir.path(), &AccountsConfig::default()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "reading /etc/passwd: no valid account line (2 malformed lines, AG0160)"
    );
    // Unreadable shadow (a directory here): a warning, states unknown, no crash.
    write(dir.path(), "/etc/passwd", b"root:x:0:0::/root:/bin/bash\n");
    write(dir.path(), "/etc/group", b"root:x:0:\n");
    std::fs::create_dir_all(dir.path().join("etc/shadow")).unwrap();
    let a = collect(dir.path(), &AccountsConfig::default()).unwrap();
    assert!(!a.shadow_read);
    assert_eq!(a.accounts[0].password_state, "unknown");
    assert_eq!(
        a.warnings,
        ["reading /etc/shadow: Is a directory (os error 21)"]
    );
    assert_eq!(a.last_login_source, "none");
    // A 10 MB shadow line, a truncated lastlog, a wtmpdb database that is not one.
    let mut big = b"root:".to_vec();
    big.extend(std::iter::repeat_n(b'a', 10 * 1024 * 1024));
    big.extend(b":19000:::::: \n");
    std::fs::remove_dir(dir.path().join("etc/shadow")).unwrap();
    write(dir.path(), "/etc/shadow", &big);
    let lastlog = lastlog_bytes(&[(0, 1_790_000_000)]);
    write(dir.path(), "/var/log/lastlog", &lastlog[..100]);
    write(dir.path(), "/var/lib/wtmpdb/wtmp.db", b"SQLite format 3\0");
    let a = collect(dir.path(), &AccountsConfig::default()).unwrap();
    assert_eq!(a.accounts[0].password_state, "absent");
    let text = render(&a);
    assert!(
        text.contains("problem /etc/shadow:1 line longer than 65536 bytes, ignored"),
        "{text}"
    );
    assert!(
        text.contains("/var/log/lastlog: 1 records cut short"),
        "{text}"
    );
    assert!(
        text.contains("warning reading /var/lib/wtmpdb/wtmp.db: "),
        "{text}"
    );
    assert!(text.contains("/etc/shadow larger than 8 MiB"), "{text}");
}

#[test]
fn config_is_validated() {
    let cfg: AccountsConfig =
        toml::from_str("contractors = [\"presta\"]\ncontractor_groups = [\"prestataires\"]\n")
            .unwrap();
    assert!(cfg.build().is_ok());
    let bad = AccountsConfig {
        contractors: vec!["a:b".into()],
        ..Default::default()
    };
    assert_eq!(
        bad.build().err().unwrap().to_string(),
        "probes.accounts.contractors: \"a:b\" is not a user or group name (AG0150)"
    );
    assert!(toml::from_str::<AccountsConfig>("idle_after_days = 3").is_err());
}

/// DESIGN decision 15: only contractor logins leave the host; nothing about anyone else's, and
/// nothing at all is read when no contractor is declared.
#[test]
fn only_contractor_logins_leave_the_host() {
    let dir = sample_root();
    let root = dir.path();
    // NOW is 2027-01-15T08:00:00Z.
    write(
        root,
        "/var/log/auth.log",
        b"2027-01-14T10:00:00.000000+01:00 h sshd[1]: Accepted publickey for presta from 203.0.113.7 port 5 ssh2: ED25519 SHA256:abc\n\
          2027-01-14T10:05:00.000000+01:00 h sshd[2]: Accepted password for alice from 198.51.100.23 port 6 ssh2\n\
          2027-01-14T10:06:00.000000+01:00 h sshd-session[3]: Failed password for invalid user presta2 from 198.51.100.24 port 7 ssh2\n\
          2027-01-14T10:07:00.000000+01:00 h sshd-session[4]: Failed password for presta from 203.0.113.8 port 8 ssh2\n\
          2026-10-01T10:00:00.000000+01:00 h sshd[5]: Accepted password for presta from 203.0.113.9 port 9 ssh2\n",
    );
    let cfg = AccountsConfig {
        contractors: vec!["presta".into()],
        ..Default::default()
    };
    let got = collect(root, &cfg).unwrap();
    assert_eq!(got.contractor_login_sources, "auth.log");
    let seen: Vec<(String, i64, &str, &str, bool)> = got
        .contractor_logins
        .iter()
        .map(|l| {
            (
                l.principal.as_ref().unwrap().name.clone(),
                l.at_ms,
                l.source_address.as_str(),
                l.key_fingerprint.as_str(),
                l.success,
            )
        })
        .collect();
    // Most recent first; the October login is outside the 30-day window.
    assert_eq!(
        seen,
        [
            (
                "presta".to_owned(),
                1_799_917_620_000,
                "203.0.113.8",
                "",
                false
            ),
            (
                "presta".to_owned(),
                1_799_917_200_000,
                "203.0.113.7",
                "SHA256:abc",
                true
            ),
        ]
    );
    let text = format!("{got:?}");
    for leaked in ["198.51.100.23", "198.51.100.24", "presta2"] {
        assert!(!text.contains(leaked), "{leaked} left the host");
    }
    // No contractor declared: no login read, no source named.
    let got = collect(root, &AccountsConfig::default()).unwrap();
    assert!(got.contractor_logins.is_empty());
    assert_eq!(got.contractor_login_sources, "");
}

/// wtmpdb and lastlog2 (Debian 13) are merged with lastlog and wtmp: the newest login wins, a
/// non-UTF-8 user name matches its passwd entry byte for byte, and nothing but times is kept.
#[test]
fn sqlite_login_databases_are_merged() {
    use super::logindb::tests::{lastlog2_file, wtmpdb_file};
    let dir = sample_root();
    let root = dir.path();
    let day = |secs: i64| secs * 1000 / DAY_MS * DAY_MS;
    // lastlog: root 1_790_000_000, alice 1_799_000_000; wtmp: presta 1_799_500_000.
    wtmpdb_file(
        &root.join("var/lib/wtmpdb/wtmp.db"),
        &[
            (3, "alice", 1_799_600_000_000_000),
            (3, "root", 1_780_000_000_000_000),
            (1, "reboot", 1_799_900_000_000_000),
        ],
    );
    lastlog2_file(
        &root.join("var/lib/lastlog/lastlog2.db"),
        &[("www-data", 1_799_800_000), ("presta", 1_799_100_000)],
    );
    let c = rusqlite::Connection::open(root.join("var/lib/lastlog/lastlog2.db")).unwrap();
    c.execute(
        "INSERT INTO Lastlog2 VALUES(CAST(?1 AS TEXT),1799700000,'pts/1','192.0.2.99','sshd')",
        [b"cl\xe9ment".as_slice()],
    )
    .unwrap();
    drop(c);
    let a = collect(root, &AccountsConfig::default()).unwrap();
    assert_eq!(a.last_login_source, "lastlog+wtmp+wtmpdb+lastlog2");
    let last: BTreeMap<String, i64> = a
        .accounts
        .iter()
        .map(|acc| {
            (
                acc.principal.as_ref().unwrap().name.clone(),
                acc.last_login_ms,
            )
        })
        .collect();
    assert_eq!(
        last["root"],
        day(1_790_000_000),
        "lastlog newer than wtmpdb"
    );
    assert_eq!(
        last["alice"],
        day(1_799_600_000),
        "wtmpdb newer than lastlog"
    );
    assert_eq!(
        last["presta"],
        day(1_799_500_000),
        "wtmp newer than lastlog2"
    );
    assert_eq!(last["www-data"], day(1_799_800_000), "only in lastlog2");
    assert_eq!(last["daemon"], 0);
    let clement = a
        .accounts
        .iter()
        .find(|acc| acc.principal.as_ref().unwrap().id == Some(principal::Id::Uid(1002)))
        .unwrap();
    assert_eq!(clement.last_login_ms, day(1_799_700_000));
    assert!(a.warnings.is_empty(), "{:?}", a.warnings);
    let text = format!("{a:?}");
    for leaked in ["192.0.2.44", "192.0.2.45", "192.0.2.99", "pts/1", "sshd"] {
        assert!(!text.contains(leaked), "{leaked} left the host");
    }
}
