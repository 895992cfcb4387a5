//! Masking of secret-looking values in the text of an allowlisted file before the agent keeps a
//! copy of it or sends a diff of it: every value that looks like a password, key, token or password
//! hash becomes [`MARK`]. Conservative by design: when in doubt a value is masked (a diff with too
//! much masked is a nuisance; a password in the collector's store is a leak).
//!
//! What is masked, line by line:
//! - PEM private key blocks (`-----BEGIN … PRIVATE KEY-----` to its END line, or to the end of the
//!   file when the END line is missing): the whole body becomes one [`MARK`] line;
//! - the value of a secret-looking key, in the forms `key = value`, `key: value`, `key value`
//!   (commented out or not; keys with spaces as in smb.conf), and inline `key=value` or `key:value`
//!   anywhere in a line (fstab's `credentials=`/`password=`/`pass=`, command options, URL queries,
//!   JSON); a key is secret-looking when it holds `pass`, `pwd`, `pw` at its end (`bindpw`,
//!   `rootpw`), `secret`, `token`, `apikey`, `privatekey`, `psk`, `credential`, `community`,
//!   `authkey`, `sharedkey` or `wepkey` (case and `_`, `-`, `.`, spaces ignored);
//! - the word after `password`, `passwd`, `pass`, `passphrase`, `secret`, `token`, `bindpw`,
//!   `rootpw`, `psk` elsewhere in a line (`.netrc`: `machine h login u password p`);
//! - the password of a URL (`scheme://user:password@host`);
//! - crypt(3) hashes (`$1$`, `$2b$`, `$5$`, `$6$`, `$y$`, `$argon2id$`…) and LDAP `{SSHA}`-style
//!   hashes wherever they appear, and the second field of every line of a `shadow`, `gshadow`,
//!   `passwd`, `group` or `opasswd` file unless it is a placeholder (`x`, `*`, `!`…);
//! - HTTP credentials (`Bearer TOKEN`, `Basic BASE64`);
//! - in a postfix `sasl_passwd` map, everything after the first column (the `user:password`).
//!
//! Kept: values that are plain booleans (`yes`, `no`, `true`, `off`…), so that
//! `PasswordAuthentication no` stays readable; plain numbers of policy keys (`PASS_MAX_DAYS 90`);
//! PAM stacks (`/pam.d/`: `password required pam_unix.so` is a module line, not a secret) and
//! nsswitch.conf keep their `key value` and `key: value` lines (their inline `key=value` are
//! still masked).

use std::sync::LazyLock;

use regex::Regex;

/// What replaces every secret-looking value.
pub const MARK: &str = "«masqué»";

/// Values that say yes or no and so cannot be secrets worth keeping.
const BOOLEANS: &[&str] = &[
    "yes", "no", "true", "false", "on", "off", "enabled", "disabled", "enable", "disable", "none",
];
/// Words in a key that make a plain number under it a setting, not a PIN.
const POLICY_WORDS: &[&str] = &[
    "max", "min", "age", "len", "days", "warn", "retry", "retries", "tries", "timeout", "expire",
    "rounds", "size", "count", "lifetime", "interval", "port",
];
/// Placeholders of the second field of shadow-like files (no hash there).
const PLACEHOLDERS: &[&str] = &["", "x", "*", "!", "!!", "!*", "*LK*", "NP"];

/// The patterns, compiled once; `None` if one did not compile (then every line is masked).
struct Patterns {
    /// `key=value` or `key: value` inside a line; group 1 the key, 2 the separator, 3 the value.
    inline: Regex,
    /// A secret word followed by its value after spaces; group 1 the word, 2 the value.
    word_pair: Regex,
    /// The password of a URL's user information.
    url_userinfo: Regex,
    /// crypt(3) and LDAP password hashes.
    hashes: Regex,
    /// HTTP credentials: `Bearer TOKEN`, `Basic BASE64`; group 1 the scheme.
    http_auth: Regex,
}

static PATTERNS: LazyLock<Option<Patterns>> = LazyLock::new(|| {
    Some(Patterns {
        // Only secret-looking keys match, so that a harmless `key: value` cannot swallow one.
        inline: Regex::new(concat!(
            r#"(?i)([A-Za-z0-9_.\-]*(?:pass|pwd|secret|token|api[_.\-]?key|private[_.\-]?key|psk|"#,
            r#"credential|community|auth[_.\-]?key|shared[_.\-]?key|wep[_.\-]?key)[A-Za-z0-9_.\-]*"#,
            r#"|[A-Za-z0-9_.\-]*pw)(["']?\s*[=:]\s*["']?)([^\s,;&"'}\]\)]+)"#,
        ))
        .ok()?,
        word_pair: Regex::new(
            r#"(?i)(?:^|[\s"'])(password|passwd|pass|passphrase|secret|token|bindpw|rootpw|psk)["']?\s+([^\s#=:][^\s#]*)"#,
        )
        .ok()?,
        url_userinfo: Regex::new(r"([A-Za-z][A-Za-z0-9+.\-]*://[^/\s:@]*):([^@\s/]*)@").ok()?,
        hashes: Regex::new(
            r"(?i)\$(?:1|2[abxy]?|5|6|7|y|gy|sha1|md5|argon2(?:id|i|d)?|scrypt|pbkdf2[^$\s]*)\$[^\s:,;]+|\{(?:SSHA|SHA|SMD5|MD5|CRYPT|SSHA256|SSHA512|SHA256|SHA512|PBKDF2[^}]*|ARGON2)\}[^\s:,;]+",
        )
        .ok()?,
        http_auth: Regex::new(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=\-]{8,}").ok()?,
    })
});

/// `text` (the content of the file at logical path `path`) with secret-looking values masked.
pub fn redact(path: &[u8], text: &str) -> String {
    let name = path
        .rsplit(|&b| b == b'/')
        .next()
        .map(|n| String::from_utf8_lossy(n).to_ascii_lowercase())
        .unwrap_or_default();
    let dir_pam = path.windows(7).any(|w| w == b"/pam.d/");
    let kind = if name.contains("sasl_passwd") {
        Kind::SaslPasswd
    } else if name.contains("shadow")
        || matches!(
            name.as_str(),
            "passwd" | "passwd-" | "group" | "group-" | "opasswd"
        )
    {
        Kind::Shadow
    } else if dir_pam || name == "nsswitch.conf" {
        Kind::NoKeyLines
    } else {
        Kind::Plain
    };
    let Some(pat) = PATTERNS.as_ref() else {
        return text.lines().map(|_| format!("{MARK}\n")).collect();
    };
    let mut out = String::with_capacity(text.len());
    let mut in_key = false;
    for line in text.split_inclusive('\n') {
        let (body, end) = match line.strip_suffix('\n') {
            Some(b) => (b, "\n"),
            None => (line, ""),
        };
        let (body, cr) = match body.strip_suffix('\r') {
            Some(b) => (b, "\r"),
            None => (body, ""),
        };
        if in_key {
            if is_pem_end(body) {
                in_key = false;
                out.push_str(body);
                out.push_str(cr);
                out.push_str(end);
            }
            continue;
        }
        if is_pem_begin(body) {
            in_key = true;
            out.push_str(body);
            out.push_str(cr);
            out.push('\n');
            out.push_str(MARK);
            out.push('\n');
            continue;
        }
        out.push_str(&redact_line(pat, body, kind));
        out.push_str(cr);
        out.push_str(end);
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Plain,
    SaslPasswd,
    Shadow,
    NoKeyLines,
}

fn is_pem_begin(line: &str) -> bool {
    line.contains("-----BEGIN") && line.contains("PRIVATE KEY")
}

fn is_pem_end(line: &str) -> bool {
    line.contains("-----END") && line.contains("PRIVATE KEY")
}

fn redact_line(pat: &Patterns, line: &str, kind: Kind) -> String {
    let mut line = match kind {
        Kind::SaslPasswd => sasl_line(line),
        Kind::Shadow => shadow_line(line),
        Kind::Plain => key_line(line),
        Kind::NoKeyLines => line.to_owned(),
    };
    line = pat
        .url_userinfo
        .replace_all(&line, |c: &regex::Captures<'_>| {
            format!("{}:{MARK}@", c.get(1).map_or("", |m| m.as_str()))
        })
        .into_owned();
    line = pat.hashes.replace_all(&line, MARK).into_owned();
    line = pat
        .http_auth
        .replace_all(&line, |c: &regex::Captures<'_>| {
            format!("{} {MARK}", group(c, 1))
        })
        .into_owned();
    line = pat
        .inline
        .replace_all(&line, |c: &regex::Captures<'_>| {
            let (k, sep, v) = (group(c, 1), group(c, 2), group(c, 3));
            // PAM and nsswitch lines are `key: value` settings; only their `key=value` count.
            let colon_setting = kind == Kind::NoKeyLines && !sep.contains('=');
            if secret_key(k) && !harmless(k, v) && !colon_setting {
                format!("{k}{sep}{MARK}")
            } else {
                group(c, 0).to_owned()
            }
        })
        .into_owned();
    if kind != Kind::NoKeyLines {
        let src = line.clone();
        line = pat
            .word_pair
            .replace_all(&src, |c: &regex::Captures<'_>| {
                let (all, k, v) = (group(c, 0), group(c, 1), group(c, 2));
                // `unix password sync = yes`: the word is part of a longer key, not a value.
                let end = c.get(0).map_or(0, |m| m.end());
                let in_key = src
                    .get(end..)
                    .is_some_and(|rest| rest.trim_start().starts_with(['=', ':']));
                if harmless(k, v) || v == MARK || in_key {
                    all.to_owned()
                } else {
                    let keep = all.len().saturating_sub(v.len());
                    format!("{}{MARK}", all.get(..keep).unwrap_or_default())
                }
            })
            .into_owned();
    }
    line
}

fn group<'a>(c: &regex::Captures<'a>, i: usize) -> &'a str {
    c.get(i).map_or("", |m| m.as_str())
}

/// Whether a key names a secret (case, `_`, `-`, `.`, spaces and quotes ignored).
fn secret_key(key: &str) -> bool {
    let k: String = key
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    [
        "pass",
        "pwd",
        "secret",
        "token",
        "apikey",
        "privatekey",
        "psk",
        "credential",
        "community",
        "authkey",
        "sharedkey",
        "wepkey",
    ]
    .iter()
    .any(|w| k.contains(w))
        || k.ends_with("pw")
}

/// Whether a value under `key` cannot be a secret: a boolean, or a plain number of a policy key.
fn harmless(key: &str, value: &str) -> bool {
    let v = value
        .trim()
        .trim_matches(|c| matches!(c, '"' | '\'' | ',' | ';'))
        .to_ascii_lowercase();
    if v == MARK || BOOLEANS.contains(&v.as_str()) {
        return true;
    }
    let k = key.to_ascii_lowercase();
    let digits = v.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let number = !digits.is_empty()
        && v.len() - digits.len() <= 1
        && digits.chars().all(|c| c.is_ascii_digit());
    number && POLICY_WORDS.iter().any(|w| k.contains(w))
}

/// `key = value`, `key: value` or `key value` as the whole line (after indentation, comment marks
/// and `export`): the value, to the end of the line, is masked when the key is secret-looking.
fn key_line(line: &str) -> String {
    let lead_len = line.len()
        - line
            .trim_start_matches(|c: char| c.is_whitespace() || c == '#' || c == ';')
            .len();
    let (lead, rest) = line.split_at(lead_len);
    let (lead_export, rest) = match rest.strip_prefix("export ") {
        Some(r) => (format!("{lead}export "), r),
        None => (lead.to_owned(), rest),
    };
    let keyish = |c: char| c.is_ascii_alphanumeric() || " _-.\"'[]".contains(c);
    let split = match rest.find(['=', ':']) {
        Some(p)
            if rest
                .get(..p)
                .is_some_and(|k| !k.is_empty() && k.chars().all(keyish)) =>
        {
            Some((p, 1))
        }
        _ => rest.find(char::is_whitespace).map(|p| (p, 0)),
    };
    let Some((p, sep_len)) = split else {
        return line.to_owned();
    };
    let (key, after) = rest.split_at(p);
    let value_start = after
        .char_indices()
        .skip(sep_len)
        .find(|(_, c)| !c.is_whitespace())
        .map_or(after.len(), |(i, _)| i);
    let (sep, value) = after.split_at(value_start);
    if value.is_empty() || !secret_key(key) || harmless(key, value) {
        return line.to_owned();
    }
    format!("{lead_export}{key}{sep}{MARK}")
}

/// A postfix `sasl_passwd` line: the first column (the relay) kept, the rest masked.
fn sasl_line(line: &str) -> String {
    let t = line.trim_start();
    if t.is_empty() || t.starts_with('#') {
        return line.to_owned();
    }
    let indent = line.len() - t.len();
    match t.find(char::is_whitespace) {
        Some(p) => format!(
            "{}{} {MARK}",
            line.get(..indent).unwrap_or_default(),
            t.get(..p).unwrap_or_default()
        ),
        None => line.to_owned(),
    }
}

/// A shadow-like line: the second colon-separated field masked unless it is a placeholder.
fn shadow_line(line: &str) -> String {
    let mut fields: Vec<&str> = line.split(':').collect();
    match fields.get_mut(1) {
        Some(f) if !PLACEHOLDERS.contains(f) => *f = MARK,
        _ => {}
    }
    fields.join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_compile() {
        assert!(PATTERNS.is_some());
    }

    #[test]
    fn common_forms_are_masked_and_settings_kept() {
        let cases: &[(&str, &str, &str)] = &[
            ("/etc/x.conf", "password = hunter2", "password = «masqué»"),
            (
                "/etc/x.conf",
                "  DB_PASSWORD=hunter2",
                "  DB_PASSWORD=«masqué»",
            ),
            (
                "/etc/x.conf",
                "export API_KEY=abc123",
                "export API_KEY=«masqué»",
            ),
            ("/etc/x.yaml", "  secret: s3cr3t", "  secret: «masqué»"),
            ("/etc/nslcd.conf", "bindpw Tr0ub4dor&3", "bindpw «masqué»"),
            ("/etc/nslcd.conf", "#bindpw Tr0ub4dor&3", "#bindpw «masqué»"),
            (
                "/etc/fstab",
                "//srv/p /mnt cifs credentials=/root/.c,password=pa55,uid=0 0 0",
                "//srv/p /mnt cifs credentials=«masqué»,password=«masqué»,uid=0 0 0",
            ),
            (
                "/etc/ssh/sshd_config",
                "PasswordAuthentication no",
                "PasswordAuthentication no",
            ),
            ("/etc/login.defs", "PASS_MAX_DAYS\t90", "PASS_MAX_DAYS\t90"),
            ("/etc/x.conf", "pin_pass 1234", "pin_pass «masqué»"),
            (
                "/root/.netrc",
                "machine h login u password p4ss",
                "machine h login u password «masqué»",
            ),
            (
                "/etc/x.conf",
                "url = https://bob:pw@h.example/x",
                "url = https://bob:«masqué»@h.example/x",
            ),
            (
                "/etc/postfix/sasl_passwd",
                "[smtp.example.fr]:587 user:pw",
                "[smtp.example.fr]:587 «masqué»",
            ),
            (
                "/etc/shadow.bak",
                "root:$6$salt$hash:19000:0:99999:7:::",
                "root:«masqué»:19000:0:99999:7:::",
            ),
            (
                "/etc/passwd",
                "root:x:0:0:root:/root:/bin/bash",
                "root:x:0:0:root:/root:/bin/bash",
            ),
            (
                "/etc/pam.d/common-password",
                "password [success=1 default=ignore] pam_unix.so obscure yescrypt",
                "password [success=1 default=ignore] pam_unix.so obscure yescrypt",
            ),
            (
                "/etc/nsswitch.conf",
                "passwd:  files systemd",
                "passwd:  files systemd",
            ),
            ("/etc/x.conf", "PermitRootLogin no", "PermitRootLogin no"),
        ];
        for (path, line, want) in cases {
            assert_eq!(redact(path.as_bytes(), line), *want, "{path}: {line}");
        }
    }

    /// The corpus of `agent/tests/redaction-corpus` (see its README): no listed secret survives,
    /// every listed line does, and both lists are really in their samples.
    #[test]
    fn corpus() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/redaction-corpus");
        let mut stack = vec![root.clone()];
        let mut samples = 0;
        let mut secrets = 0;
        while let Some(dir) = stack.pop() {
            for e in std::fs::read_dir(&dir).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                    continue;
                }
                let name = p.file_name().unwrap().to_string_lossy().into_owned();
                if name.ends_with(".secrets") || name.ends_with(".keep") || name == "README.md" {
                    continue;
                }
                let logical = format!("/{}", p.strip_prefix(&root).unwrap().display());
                let text = std::fs::read_to_string(&p).unwrap();
                let out = redact(logical.as_bytes(), &text);
                let list = |ext: &str| -> Vec<String> {
                    std::fs::read_to_string(format!("{}.{ext}", p.display()))
                        .unwrap_or_else(|e| panic!("{logical}.{ext}: {e}"))
                        .lines()
                        .filter(|l| !l.is_empty())
                        .map(str::to_owned)
                        .collect()
                };
                for s in list("secrets") {
                    assert!(
                        text.contains(&s),
                        "{logical}: secret {s:?} is not in the sample"
                    );
                    assert!(
                        !out.contains(&s),
                        "{logical}: secret {s:?} survived:\n{out}"
                    );
                    secrets += 1;
                }
                for k in list("keep") {
                    assert!(
                        text.lines().any(|l| l == k),
                        "{logical}: {k:?} is not in the sample"
                    );
                    assert!(
                        out.lines().any(|l| l == k),
                        "{logical}: {k:?} was lost:\n{out}"
                    );
                }
                assert!(
                    out.contains(MARK) || list("secrets").is_empty(),
                    "{logical}"
                );
                samples += 1;
            }
        }
        assert!(
            samples >= 15 && secrets >= 30,
            "{samples} samples, {secrets} secrets"
        );
    }

    #[test]
    fn pem_blocks_go_whole_and_line_ends_stay() {
        let t = "a=1\r\n-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\nBBBB\n-----END OPENSSH PRIVATE KEY-----\nb=2\n";
        assert_eq!(
            redact(b"/etc/k", t),
            "a=1\r\n-----BEGIN OPENSSH PRIVATE KEY-----\n«masqué»\n-----END OPENSSH PRIVATE KEY-----\nb=2\n"
        );
        let cut = "-----BEGIN RSA PRIVATE KEY-----\nAAAA\nBBBB";
        assert_eq!(
            redact(b"/etc/k", cut),
            "-----BEGIN RSA PRIVATE KEY-----\n«masqué»\n"
        );
        // Idempotent: masking a masked text changes nothing.
        let once = redact(b"/etc/x", "password = a\ntoken: b\n");
        assert_eq!(redact(b"/etc/x", &once), once);
    }
}
