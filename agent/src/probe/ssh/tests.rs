//! Tests of the SSH server probe: the native sshd_config parser on small trees written to a
//! temporary root, the fixture roots, and, where sshd is installed, agreement with real `sshd -T`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use vigie_proto::v1::ssh_config_problem::Kind;

use super::config::{self, Parsed};
use super::*;

/// Writes `files` (host path, content) under a fresh root.
fn tree(files: &[(&str, &[u8])]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (path, content) in files {
        let full = dir.path().join(path.trim_start_matches('/'));
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, content).unwrap();
    }
    dir
}

fn parse_tree(files: &[(&str, &[u8])]) -> Parsed {
    let dir = tree(files);
    config::parse(dir.path(), MAIN_CONFIG).unwrap()
}

/// Renders a parse compactly: global settings, blocks, files and problems, one per line.
fn render(p: &Parsed) -> String {
    let mut out = Vec::new();
    for (k, v) in &p.global {
        out.push(format!("{k}={v}"));
    }
    for b in &p.blocks {
        let s: Vec<String> = b.settings.iter().map(|(k, v)| format!("{k}={v}")).collect();
        out.push(format!(
            "[{}] {}:{} {}",
            b.criteria,
            b.file,
            b.line,
            s.join(" ")
        ));
    }
    out.push(format!("files: {}", p.files_read.join(" ")));
    for pr in &p.problems {
        out.push(format!(
            "{:?} {}:{} {}",
            pr.kind, pr.file, pr.line, pr.message
        ));
    }
    out.join("\n")
}

#[track_caller]
fn check(files: &[(&str, &[u8])], expect: &str) {
    assert_eq!(render(&parse_tree(files)), expect.trim());
}

const MAIN: &str = "/etc/ssh/sshd_config";

#[test]
fn first_value_wins_case_insensitive_separators_quotes() {
    check(
        &[(
            MAIN,
            b"# comment\nPERMITROOTLOGIN no\npermitrootlogin yes\nMaxAuthTries=3\nLoginGraceTime = 1m30s\n\
              Banner \"/etc/issue net\"  # trailing comment\nPermitRootLogin = yes\r\n\
              ChallengeResponseAuthentication no\nKbdInteractiveAuthentication yes\n",
        )],
        r#"
banner=/etc/issue net
kbdinteractiveauthentication=no
logingracetime=90
maxauthtries=3
permitrootlogin=no
files: /etc/ssh/sshd_config
"#,
    );
}

#[test]
fn accumulating_keywords() {
    check(
        &[(
            MAIN,
            b"AllowUsers alice bob\nAllowUsers carol\nAllowGroups admins\nPort 22\nPort 2222\n\
              Subsystem sftp /a\nSubsystem sftp /b\nPermitRootLogin without-password\n",
        )],
        r#"
allowgroups=admins
allowusers=alice bob carol
permitrootlogin=prohibit-password
port=22 2222
subsystem=sftp /a
files: /etc/ssh/sshd_config
"#,
    );
}

#[test]
fn include_order_globs_and_relative_paths() {
    check(
        &[
            (
                MAIN,
                b"Include sshd_config.d/*.conf\nPasswordAuthentication yes\nMaxAuthTries 6\n",
            ),
            (
                "/etc/ssh/sshd_config.d/20-b.conf",
                b"MaxAuthTries 4\nPermitRootLogin yes\n",
            ),
            (
                "/etc/ssh/sshd_config.d/10-a.conf",
                b"PasswordAuthentication no\n",
            ),
            (
                "/etc/ssh/sshd_config.d/05-skip.conf.bak",
                b"PermitRootLogin no\n",
            ),
            (
                "/etc/ssh/sshd_config.d/.hidden.conf",
                b"PermitRootLogin no\n",
            ),
        ],
        r#"
maxauthtries=4
passwordauthentication=no
permitrootlogin=yes
files: /etc/ssh/sshd_config /etc/ssh/sshd_config.d/10-a.conf /etc/ssh/sshd_config.d/20-b.conf
"#,
    );
}

#[test]
fn missing_include_is_a_problem_not_fatal_and_empty_globs_are_normal() {
    check(
        &[(
            MAIN,
            b"Include /etc/ssh/sshd_config.d/*.conf /etc/ssh/extra.conf\nX11Forwarding yes\n",
        )],
        r#"
x11forwarding=yes
files: /etc/ssh/sshd_config
MissingInclude /etc/ssh/sshd_config:1 Include /etc/ssh/extra.conf: no such file
"#,
    );
}

#[test]
fn include_loop_and_depth_are_reported_not_followed() {
    check(
        &[
            (MAIN, b"Include /etc/ssh/a.conf\nMaxAuthTries 5\n"),
            ("/etc/ssh/a.conf", b"Include /etc/ssh/b.conf\n"),
            (
                "/etc/ssh/b.conf",
                b"Include /etc/ssh/a.conf /etc/ssh/sshd_config\nMaxSessions 2\n",
            ),
        ],
        r#"
maxauthtries=5
maxsessions=2
files: /etc/ssh/sshd_config /etc/ssh/a.conf /etc/ssh/b.conf
IncludeLoop /etc/ssh/b.conf:1 Include loop: /etc/ssh/a.conf is already being read
IncludeLoop /etc/ssh/b.conf:1 Include loop: /etc/ssh/sshd_config is already being read
"#,
    );
    // A chain of 20 distinct files: sshd stops at 16 levels.
    let mut files: Vec<(String, Vec<u8>)> =
        vec![(MAIN.to_owned(), b"Include /etc/ssh/d1.conf\n".to_vec())];
    for i in 1..20 {
        let body = format!("Include /etc/ssh/d{}.conf\n", i + 1).into_bytes();
        files.push((format!("/etc/ssh/d{i}.conf"), body));
    }
    let borrowed: Vec<(&str, &[u8])> = files.iter().map(|(p, c)| (p.as_str(), &c[..])).collect();
    let parsed = parse_tree(&borrowed);
    assert_eq!(parsed.files_read.len(), 17);
    let depth: Vec<_> = parsed.problems.iter().map(|p| p.kind).collect();
    assert_eq!(depth, [Kind::DepthLimit]);
}

#[test]
fn match_blocks_are_data_and_include_inside_match_applies_within() {
    check(
        &[
            (
                MAIN,
                b"PasswordAuthentication no\nMatch Group prestataires Address 192.0.2.0/24\n\
                  \tAuthenticationMethods publickey,keyboard-interactive\n\tPasswordAuthentication yes\n\
                  \tInclude /etc/ssh/contractors.conf\n\tAllowTcpForwarding no\n\
                  Match User backup\n  PermitRootLogin yes\n  Ciphers aes128-cbc\nMatch all\nMaxAuthTries 3\n",
            ),
            (
                "/etc/ssh/contractors.conf",
                b"X11Forwarding no\nMatch LocalPort 2222\nForceCommand /bin/false\n",
            ),
        ],
        r#"
maxauthtries=3
passwordauthentication=no
[Group prestataires Address 192.0.2.0/24] /etc/ssh/sshd_config:2 allowtcpforwarding=no authenticationmethods=publickey,keyboard-interactive passwordauthentication=yes x11forwarding=no
[Group prestataires Address 192.0.2.0/24 LocalPort 2222] /etc/ssh/contractors.conf:2 forcecommand=/bin/false
[User backup] /etc/ssh/sshd_config:7 permitrootlogin=yes
files: /etc/ssh/sshd_config /etc/ssh/contractors.conf
NotAllowedInMatch /etc/ssh/sshd_config:9 Ciphers is not allowed inside a Match block
"#,
    );
}

#[test]
fn bad_lines_are_problems_with_file_and_line() {
    check(
        &[(
            MAIN,
            b"PermitRootLogin maybe\nFrobnicate yes\nMaxAuthTries lots\nBanner \"unterminated\nLoginGraceTime 2x\n\
              Protocol 2\nPasswordAuthentication\n",
        )],
        r#"
files: /etc/ssh/sshd_config
BadValue /etc/ssh/sshd_config:1 PermitRootLogin: bad value "maybe", expected one of: yes, no, prohibit-password, forced-commands-only
UnknownKeyword /etc/ssh/sshd_config:2 unknown keyword "Frobnicate": sshd refuses to start
BadValue /etc/ssh/sshd_config:3 MaxAuthTries: bad integer "lots"
BadValue /etc/ssh/sshd_config:4 Banner: unterminated quoted argument
BadValue /etc/ssh/sshd_config:5 LoginGraceTime: bad time "2x"
BadValue /etc/ssh/sshd_config:7 PasswordAuthentication: missing argument
"#,
    );
}

#[test]
fn huge_lines_files_and_non_utf8_are_bounded_and_tolerated() {
    // A 10 MB line: the file is cut at 1 MiB, the partial line dropped, what came before kept.
    let mut big = b"PermitRootLogin no\nBanner ".to_vec();
    big.resize(10 * 1024 * 1024, b'a');
    big.extend_from_slice(b"\nPermitRootLogin yes\n");
    let parsed = parse_tree(&[(MAIN, &big)]);
    assert_eq!(parsed.global.get("permitrootlogin").unwrap(), "no");
    let kinds: Vec<_> = parsed.problems.iter().map(|p| (p.kind, p.line)).collect();
    assert_eq!(kinds, [(Kind::Truncated, 0)]);
    // A long line inside the bound is skipped alone.
    let mut long = vec![b'#'; 0];
    long.extend_from_slice(b"Banner ");
    long.resize(100 * 1024, b'b');
    long.extend_from_slice(b"\nMaxAuthTries 2\n");
    let parsed = parse_tree(&[(MAIN, &long)]);
    assert_eq!(parsed.global.get("maxauthtries").unwrap(), "2");
    assert_eq!(
        parsed.problems.first().map(|p| (p.kind, p.line)),
        Some((Kind::Truncated, 1))
    );
    // Latin-1 bytes in a value and in an included file's name.
    check(
        &[
            (MAIN, b"AllowUsers jos\xe9 alice\nInclude /etc/ssh/d/*\n"),
            ("/etc/ssh/d/café.conf", b"MaxAuthTries 2\n"),
        ],
        "allowusers=jos\u{fffd} alice\nmaxauthtries=2\nfiles: /etc/ssh/sshd_config /etc/ssh/d/café.conf",
    );
}

#[test]
fn gather_reports_not_installed_defaults_and_keys() {
    let empty = tempfile::tempdir().unwrap();
    let s = gather(empty.path(), Path::new("/usr/sbin/sshd"));
    assert!(!s.installed);
    assert!(s.settings.is_empty());
    // Binary only: installed, defaults unknown because no config was read.
    let bin_only = tree(&[("/usr/sbin/sshd", b"")]);
    assert!(gather(bin_only.path(), Path::new("/usr/sbin/sshd")).installed);

    let s = gather(&fixture("debian12-stock"), Path::new("/usr/sbin/sshd"));
    assert!(s.installed);
    let get = |k: &str| s.settings.get(k).map(String::as_str).unwrap_or("-");
    assert_eq!(get("permitrootlogin"), "prohibit-password");
    assert_eq!(get("kbdinteractiveauthentication"), "no");
    assert_eq!(get("x11forwarding"), "yes");
    assert_eq!(get("usepam"), "yes");
    assert_eq!(get("maxauthtries"), "6");
    assert!(s.defaulted_keys.contains(&"maxauthtries".to_owned()));
    assert!(!s.defaulted_keys.contains(&"x11forwarding".to_owned()));
    let keys: Vec<String> = s
        .host_keys
        .iter()
        .map(|k| format!("{} {} {}", k.key_type, k.bits, k.in_use))
        .collect();
    assert_eq!(
        keys,
        [
            "ecdsa-sha2-nistp256 256 true",
            "ssh-ed25519 256 true",
            "ssh-rsa 3072 true"
        ]
    );
    assert!(s.problems.is_empty(), "{:?}", s.problems);

    let weak = gather(&fixture("weak"), Path::new("/usr/sbin/sshd"));
    let get = |k: &str| weak.settings.get(k).map(String::as_str).unwrap_or("-");
    assert_eq!(get("passwordauthentication"), "yes");
    assert_eq!(get("logingracetime"), "300");
    assert!(
        get("ciphers").ends_with(",aes128-cbc,3des-cbc"),
        "{}",
        get("ciphers")
    );
    assert_eq!(weak.problems.len(), 1, "{:?}", weak.problems);
    let dsa = weak
        .host_keys
        .iter()
        .find(|k| k.key_type == "ssh-dss")
        .unwrap();
    assert!(dsa.in_use && dsa.bits == 1024);
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/roots")
        .join(name)
}

/// The native parser against real `sshd -T -f` for each fixture. The fixture's absolute paths are
/// rewritten into a temporary copy so that sshd reads the fixture, not this host's /etc/ssh, and
/// sshd runs in a private mount namespace with its own /run/sshd, so the test changes nothing on
/// the machine. Host keys are not compared (the test supplies its own, sshd needs private keys).
#[tokio::test]
async fn native_parser_agrees_with_real_sshd() {
    let sshd = Path::new("/usr/sbin/sshd");
    if !sshd.exists() {
        eprintln!("SKIPPED: /usr/sbin/sshd is absent (Debian package openssh-server); scripts/test installs it");
        return;
    }
    let unshare = Path::new("/usr/bin/unshare");
    for name in ["debian12-stock", "hardened", "weak"] {
        let root = fixture(name);
        let tmp = tempfile::tempdir().unwrap();
        let etc = tmp.path().join("etc/ssh");
        copy_rewritten(&root.join("etc/ssh"), &etc, &format!("{}/", etc.display()));
        let key = tmp.path().join("hostkey");
        let out = std::process::Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(&key)
            .output()
            .unwrap();
        assert!(out.status.success());
        let script = format!(
            "mount -t tmpfs tmpfs /run && mkdir /run/sshd && exec {} -f {} -o HostKey={} {}",
            sshd.display(),
            etc.join("sshd_config").display(),
            key.display(),
            crosscheck::ARGS.join(" "),
        );
        let args = vec!["-m".to_owned(), "sh".to_owned(), "-c".to_owned(), script];
        let dump = match crosscheck::run(unshare, &args, Duration::from_secs(20)).await {
            Ok(dump) => dump,
            Err(e) if e.contains("unshare failed") || e.contains("Operation not permitted") => {
                eprintln!("SKIPPED: no private mount namespace for sshd -T here: {e}");
                return;
            }
            Err(e) => panic!("{name}: {e}"),
        };
        let parsed = gather(&root, sshd);
        let native: BTreeMap<String, String> = parsed.settings.clone().into_iter().collect();
        let changed: Vec<&str> = parsed
            .match_blocks
            .iter()
            .flat_map(|b| b.settings.keys().map(String::as_str))
            .collect();
        let c = crosscheck::compare(&native, &dump, &changed);
        assert_eq!(c.differences, [], "{name}");
    }
}

/// Copies `from` to `to`, replacing `/etc/ssh/` by `prefix` in every file.
fn copy_rewritten(from: &Path, to: &Path, prefix: &str) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let dest = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_rewritten(&entry.path(), &dest, prefix);
        } else {
            let text = std::fs::read_to_string(entry.path()).unwrap();
            // HostKey lines name keys whose private halves the fixtures do not hold.
            let text: String = text
                .lines()
                .filter(|l| !l.trim_start().to_ascii_lowercase().starts_with("hostkey"))
                .map(|l| format!("{}\n", l.replace("/etc/ssh/", prefix)))
                .collect();
            std::fs::write(dest, text).unwrap();
        }
    }
}
