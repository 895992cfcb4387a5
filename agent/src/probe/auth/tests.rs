//! Tests of the whole auth probe: the fixture roots shared with the end-to-end tests
//! (`tests/fixtures/roots/`), a RHEL layout, and hostile trees, each rendered as a short summary of
//! the facts the collector judges.

use std::path::{Path, PathBuf};

use super::gather;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/roots")
        .join(name)
}

/// One fact per line, in a fixed order.
fn summary(root: &Path) -> String {
    let p = gather(root);
    let mut out = Vec::new();
    out.push(format!("stacks: {}", p.pam_stacks.join(" ")));
    match &p.quality {
        Some(q) => out.push(format!(
            "quality: {} in {} ({}) enforced={} minlen={} minclass={} credits={}/{}/{}/{} dictcheck={} usercheck={} root={} {:?}",
            if q.module.is_empty() { "none" } else { &q.module },
            q.stack,
            q.control,
            q.enforced,
            q.minlen,
            q.minclass,
            q.dcredit,
            q.ucredit,
            q.lcredit,
            q.ocredit,
            q.dictcheck,
            q.usercheck,
            q.enforce_for_root,
            q.origins
        )),
        None => out.push("quality: no password stack".to_owned()),
    }
    out.push(format!(
        "history: {} {} hash: {:?}",
        p.password_history, p.password_history_module, p.hash_method
    ));
    match &p.lockout {
        Some(l) => out.push(format!(
            "lockout: enabled={} with={:?} without={:?} deny={} interval={} unlock={} root={} even_deny_root={}",
            l.enabled,
            l.stacks_with,
            l.stacks_without,
            l.deny,
            l.fail_interval_secs,
            l.unlock_time_secs,
            l.root_unlock_time_secs,
            l.even_deny_root
        )),
        None => out.push("lockout: no auth stack".to_owned()),
    }
    let loc = |l: &vigie_proto::v1::PamLocation| {
        let file = l.file.rsplit('/').next().unwrap_or_default();
        format!("{file}:{}@{}", l.line, l.stack)
    };
    out.push(format!(
        "nullok: {} {:?}",
        p.nullok_in_pam,
        p.nullok.iter().map(loc).collect::<Vec<_>>()
    ));
    out.push(format!(
        "unknown: {:?}",
        p.unknown_modules
            .iter()
            .map(|l| format!("{} {}", loc(l), l.module))
            .collect::<Vec<_>>()
    ));
    let d = p.login_defs.unwrap_or_default();
    out.push(format!(
        "login.defs: present={} max={:?} method={:?} umask={:?}",
        d.present, d.pass_max_days, d.encrypt_method, d.umask
    ));
    for problem in &p.problems {
        out.push(format!("problem: {problem}"));
    }
    out.join("\n")
}

#[track_caller]
fn check(root: &Path, expect: &str) {
    let actual = summary(root);
    assert_eq!(actual, expect.trim(), "\n--- actual ---\n{actual}\n");
}

fn tree(files: &[(&str, &[u8])]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (path, content) in files {
        let full = dir.path().join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, content).unwrap();
    }
    dir
}

#[test]
fn debian12_stock() {
    check(
        &fixture("debian12-stock"),
        r#"
stacks: passwd login sshd su other common-auth common-password
quality: none in passwd () enforced=false minlen=0 minclass=0 credits=0/0/0/0 dictcheck=false usercheck=false root=false []
history: 0  hash: "yescrypt"
lockout: enabled=false with=[] without=["login", "sshd"] deny=3 interval=900 unlock=600 root=600 even_deny_root=false
nullok: true ["common-auth:17@login"]
unknown: []
login.defs: present=true max=Some(99999) method="SHA512" umask="022"
"#,
    );
}

#[test]
fn hardened() {
    check(
        &fixture("hardened"),
        r#"
stacks: passwd login sshd su other common-auth common-password
quality: pam_pwquality in passwd (requisite) enforced=true minlen=15 minclass=4 credits=-1/-1/-1/-1 dictcheck=true usercheck=true root=true ["dcredit=-1 (/etc/security/pwquality.conf:3)", "dictcheck=1 (/etc/security/pwquality.conf:8)", "enforce_for_root=1 (/etc/security/pwquality.conf:11)", "enforcing=1 (/etc/security/pwquality.conf:10)", "lcredit=-1 (/etc/security/pwquality.conf:5)", "minclass=4 (/etc/security/pwquality.conf:7)", "minlen=15 (/etc/security/pwquality.conf:2)", "ocredit=-1 (/etc/security/pwquality.conf:6)", "retry=3 (/etc/pam.d/common-password:2)", "ucredit=-1 (/etc/security/pwquality.conf:4)", "usercheck=1 (/etc/security/pwquality.conf:9)"]
history: 5 pam_pwhistory hash: "yescrypt"
lockout: enabled=true with=["login", "sshd"] without=[] deny=5 interval=900 unlock=900 root=60 even_deny_root=true
nullok: false []
unknown: []
login.defs: present=true max=Some(99999) method="YESCRYPT" umask="027"
"#,
    );
}

#[test]
fn weak() {
    check(
        &fixture("weak"),
        r#"
stacks: passwd login sshd su other common-auth common-password
quality: pam_pwquality in passwd (requisite) enforced=true minlen=8 minclass=3 credits=0/0/0/0 dictcheck=false usercheck=true root=false ["dictcheck=0 (/etc/pam.d/common-password:3)", "minclass=3 (/etc/security/pwquality.conf:3)", "minlen=8 (/etc/pam.d/common-password:3)", "retry=3 (/etc/pam.d/common-password:3)"]
history: 0  hash: "md5"
lockout: enabled=true with=["login", "sshd"] without=[] deny=50 interval=60 unlock=5 root=5 even_deny_root=false
nullok: true ["common-password:4@passwd", "common-auth:3@login"]
unknown: ["common-auth:7@login pam_mystery.so"]
login.defs: present=true max=Some(30) method="MD5" umask="022"
problem: /etc/pam.d/common-auth:8: unknown PAM type "this", line ignored
"#,
    );
}

#[test]
fn rhel_layout_and_control_semantics() {
    let system_auth = b"auth required pam_env.so
auth required pam_faillock.so preauth silent
auth sufficient pam_unix.so
auth [default=die] pam_faillock.so authfail deny=4
auth required pam_deny.so
password requisite pam_pwquality.so local_users_only minlen=14
password required pam_pwhistory.so use_authtok
password sufficient pam_unix.so sha512 shadow use_authtok remember=3
password required pam_deny.so
" as &[u8];
    let dir = tree(&[
        ("etc/pam.d/system-auth", system_auth),
        (
            "etc/pam.d/password-auth",
            b"auth required pam_unix.so\npassword optional pam_pwquality.so\n",
        ),
        (
            "etc/pam.d/passwd",
            b"#%PAM-1.0\nauth include system-auth\npassword substack system-auth\n",
        ),
        (
            "etc/pam.d/sshd",
            b"auth substack password-auth\npassword include password-auth\n",
        ),
        ("etc/pam.d/login", b"auth substack system-auth\n"),
        (
            "etc/security/pwquality.conf.d/10-a.conf",
            b"minlen = 20\nminclass = 2\n",
        ),
        ("etc/security/pwquality.conf.d/20-b.conf", b"minclass = 3\n"),
        ("etc/security/pwquality.conf", b"dcredit = -2\n"),
        ("etc/security/pwhistory.conf", b"remember = 7\n"),
    ]);
    check(
        dir.path(),
        r#"
stacks: passwd login sshd system-auth password-auth
quality: pam_pwquality in passwd (requisite) enforced=true minlen=14 minclass=3 credits=-2/0/0/0 dictcheck=true usercheck=true root=false ["dcredit=-2 (/etc/security/pwquality.conf:1)", "local_users_only=1 (/etc/pam.d/system-auth:6)", "minclass=3 (/etc/security/pwquality.conf.d/20-b.conf:1)", "minlen=14 (/etc/pam.d/system-auth:6)"]
history: 7 pam_pwhistory hash: "sha512"
lockout: enabled=false with=["login"] without=["sshd"] deny=4 interval=900 unlock=600 root=600 even_deny_root=false
nullok: false []
unknown: []
login.defs: present=false max=None method="" umask=""
"#,
    );
}

#[test]
fn advisory_controls_and_absent_trees() {
    let dir = tree(&[
        ("etc/pam.d/common-password", b"password optional pam_pwquality.so minlen=16\npassword [success=1 default=ignore] pam_unix.so\n"),
        ("etc/pam.d/common-auth", b"auth [success=1 default=ignore] pam_unix.so nullok_secure\n"),
        ("etc/security/pwquality.conf", b"enforcing = 0\n"),
    ]);
    let p = gather(dir.path());
    let q = p.quality.unwrap();
    assert_eq!((q.minlen, q.enforcing, q.enforced), (16, false, false));
    assert!(p.nullok_in_pam);
    assert_eq!(p.lockout.unwrap().stacks_without, ["common-auth"]);
    // An empty tree: absent facts, no problem, no crash.
    let empty = tempfile::tempdir().unwrap();
    check(
        empty.path(),
        r#"
stacks: 
quality: no password stack
history: 0  hash: ""
lockout: no auth stack
nullok: false []
unknown: []
login.defs: present=false max=None method="" umask=""
"#,
    );
}

#[test]
fn hostile_trees_give_problems_not_crashes() {
    let mut huge = b"password requisite pam_pwquality.so ".to_vec();
    huge.extend(std::iter::repeat_n(b'x', 10 * 1024 * 1024));
    let dir = tree(&[
        ("etc/pam.d/passwd", &huge),
        (
            "etc/pam.d/common-auth",
            b"auth required pam_unix.so \xff\xfe nullok\n-auth optional pam_\xe9t\xe9.so\n",
        ),
        ("etc/login.defs", b"PASS_MAX_DAYS \xff\n"),
    ]);
    let p = gather(dir.path());
    assert!(p.pam_stacks.contains(&"passwd".to_owned()));
    assert!(p.nullok_in_pam);
    assert_eq!(p.unknown_modules.len(), 1);
    let problems = p.problems.join("\n");
    assert!(
        problems.contains("/etc/pam.d/passwd: larger than"),
        "{problems}"
    );
    assert!(
        problems.contains("/etc/login.defs:1: PASS_MAX_DAYS"),
        "{problems}"
    );
    // The probe's evidence never carries a secret-looking argument value.
    let dir = tree(&[(
        "etc/pam.d/common-auth",
        b"auth required pam_ldap.so bindpw=S3cr3t!\n",
    )]);
    let text = format!("{:?}", gather(dir.path()));
    assert!(!text.contains("S3cr3t"), "{text}");
}

#[test]
fn contractor_rules_and_idle_limits_of_the_fixtures() {
    let h = gather(&fixture("hardened"));
    let access: Vec<String> = h
        .access_rules
        .iter()
        .map(|r| {
            format!(
                "{}:{} {} {} {}",
                r.file, r.line, r.permission, r.users, r.origins
            )
        })
        .collect();
    assert_eq!(
        access,
        [
            "/etc/security/access.conf:3 + root LOCAL",
            "/etc/security/access.conf:4 - (prestataires) ALL EXCEPT 192.0.2.0/24"
        ]
    );
    let time: Vec<String> = h
        .time_rules
        .iter()
        .map(|r| {
            format!(
                "{}:{} {};{};{};{}",
                r.file, r.line, r.services, r.ttys, r.users, r.times
            )
        })
        .collect();
    assert_eq!(
        time,
        ["/etc/security/time.conf:2 sshd;*;presta-dupont;Wk0800-1800"]
    );
    let lock = h.session_lock.unwrap();
    assert_eq!(
        (
            lock.tmout_secs,
            lock.tmout_readonly,
            lock.tmout_source.as_str()
        ),
        (Some(600), true, "/etc/profile.d/tmout.sh:2")
    );
    let w = gather(&fixture("weak"));
    assert!(w.access_rules.is_empty() && w.time_rules.is_empty());
    let lock = w.session_lock.unwrap();
    assert_eq!((lock.tmout_secs, lock.tmout_readonly), (Some(3600), false));
    // Stock Debian 12: nothing limits an idle session, and no display manager in the fixture.
    let s = gather(&fixture("debian12-stock")).session_lock.unwrap();
    assert_eq!(
        (s.tmout_secs, s.stop_idle_session_secs, s.graphical),
        (None, None, false)
    );
}
