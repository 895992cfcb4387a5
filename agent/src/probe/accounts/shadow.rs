//! Parser of `shadow(5)`, reducing each hash field to facts at once: its state (empty, locked,
//! set) and the name of its scheme. The hash, its salt and its parameters are never copied out of
//! the line buffer, never put in an error and never logged (issue 4: no hash leaves the host).
//! Not here: reading the file (see `mod.rs`), or any judgement.

use super::passwd::number;
use super::{lines, LineProblem};

/// What the hash field says about logging in with a password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordState {
    /// No password at all: anyone may log in where PAM allows it.
    Empty,
    /// `!`/`*` prefix or a string that no password can hash to.
    Locked,
    /// A usable hash.
    Set,
}

impl PasswordState {
    pub fn as_str(self) -> &'static str {
        match self {
            PasswordState::Empty => "empty",
            PasswordState::Locked => "locked",
            PasswordState::Set => "set",
        }
    }
}

/// The only facts kept of a hash field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordFacts {
    pub state: PasswordState,
    /// `yescrypt`, `sha512`, ..., `unknown`, or empty when there is no hash.
    pub scheme: &'static str,
}

/// One valid shadow line, hash already reduced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShadowEntry {
    pub name: Vec<u8>,
    pub password: PasswordFacts,
    /// Days since 1970 of the last change; `Some(0)` forces a change at next login.
    pub last_change_days: Option<u32>,
    pub min_days: Option<u32>,
    pub max_days: Option<u32>,
    pub warn_days: Option<u32>,
    pub inactive_days: Option<u32>,
    pub expire_days: Option<u32>,
}

/// crypt(3) scheme prefixes, longest first where one is a prefix of another.
const SCHEMES: &[(&[u8], &str)] = &[
    (b"$y$", "yescrypt"),
    (b"$gy$", "gost-yescrypt"),
    (b"$7$", "scrypt"),
    (b"$6$", "sha512"),
    (b"$5$", "sha256"),
    (b"$2a$", "bcrypt"),
    (b"$2b$", "bcrypt"),
    (b"$2x$", "bcrypt"),
    (b"$2y$", "bcrypt"),
    (b"$sha1$", "sha1"),
    (b"$md5", "sun-md5"),
    (b"$1$", "md5"),
    (b"$3$", "nthash"),
];

/// Reduces a hash field (shadow field 2, or passwd field 2) to facts.
pub fn derive(field: &[u8]) -> PasswordFacts {
    if field.is_empty() {
        return PasswordFacts {
            state: PasswordState::Empty,
            scheme: "",
        };
    }
    let unlocked = field
        .iter()
        .position(|b| *b != b'!' && *b != b'*')
        .and_then(|i| field.get(i..))
        .unwrap_or_default();
    let scheme = scheme_of(unlocked);
    let locked = unlocked.len() != field.len() || scheme.is_empty();
    PasswordFacts {
        state: if locked {
            PasswordState::Locked
        } else {
            PasswordState::Set
        },
        scheme,
    }
}

/// The scheme of an unlocked hash, `unknown` for an unrecognised `$id$`, or empty for a string
/// that is not crypt(3) output at all (`x`, `NP`, `LK`...), which no password matches.
fn scheme_of(hash: &[u8]) -> &'static str {
    if hash.is_empty() {
        return "";
    }
    if let Some((_, name)) = SCHEMES.iter().find(|(p, _)| hash.starts_with(p)) {
        return name;
    }
    let crypt_char = |b: &u8| b.is_ascii_alphanumeric() || *b == b'.' || *b == b'/';
    if hash.first() == Some(&b'$') {
        "unknown"
    } else if hash.len() == 13 && hash.iter().all(crypt_char) {
        "des"
    } else if hash.len() == 20 && hash.first() == Some(&b'_') {
        "bsdi-des"
    } else {
        ""
    }
}

/// Parses shadow bytes. Problems carry a line number and a shape, never a field.
pub fn parse(bytes: &[u8], problems: &mut Vec<LineProblem>) -> Vec<ShadowEntry> {
    let mut out = Vec::new();
    for (line_no, line) in lines(bytes, problems) {
        if line.is_empty() || line.first() == Some(&b'#') {
            continue;
        }
        let fields: Vec<&[u8]> = line.split(|b| *b == b':').collect();
        let [name, hash, lastchg, min, max, warn, inactive, expire, _reserved] = fields.as_slice()
        else {
            problems.push(LineProblem::new(
                line_no,
                format!("expected 9 colon-separated fields, found {}", fields.len()),
            ));
            continue;
        };
        let days = [lastchg, min, max, warn, inactive, expire].map(|f| optional_number(f));
        let [Ok(last_change_days), Ok(min_days), Ok(max_days), Ok(warn_days), Ok(inactive_days), Ok(expire_days)] =
            days
        else {
            problems.push(LineProblem::new(line_no, "an ageing field is not a number"));
            continue;
        };
        if name.is_empty() {
            problems.push(LineProblem::new(line_no, "empty account name"));
            continue;
        }
        out.push(ShadowEntry {
            name: name.to_vec(),
            password: derive(hash),
            last_change_days,
            min_days,
            max_days,
            warn_days,
            inactive_days,
            expire_days,
        });
    }
    out
}

/// An empty field is `None`; anything else must be a number. Some tools write `-1` for "none".
fn optional_number(field: &[u8]) -> Result<Option<u32>, ()> {
    match field {
        b"" | b"-1" => Ok(None),
        f => number(f).map(Some).ok_or(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check_field(field: &[u8], expect: &str) {
        let f = derive(field);
        assert_eq!(format!("{} {}", f.state.as_str(), f.scheme), expect);
    }

    #[test]
    fn hash_fields() {
        check_field(b"", "empty ");
        check_field(
            b"$y$j9T$PaV0TeHrMBdVxsxt1cdrb1$V7pJ3pbUNiT1UgUvwVDbc0ld26hsTeRw3bPGrVn2dP7",
            "set yescrypt",
        );
        check_field(
            b"!$y$j9T$PaV0TeHrMBdVxsxt1cdrb1$V7pJ3pbUNiT1UgUvwVDbc0ld26hsTeRw3bPGrVn2dP7",
            "locked yescrypt",
        );
        check_field(b"$6$rounds=5000$abc$def", "set sha512");
        check_field(b"$5$abc$def", "set sha256");
        check_field(b"$1$abcdefgh$0123456789abcdefghijkl", "set md5");
        check_field(b"$2b$10$abcdefghijklmnopqrstuv", "set bcrypt");
        check_field(b"$gy$j9T$a$b", "set gost-yescrypt");
        check_field(b"$9$whatever", "set unknown");
        check_field(b"abJnggxhB/yWI", "set des");
        check_field(b"!", "locked ");
        check_field(b"*", "locked ");
        check_field(b"!*", "locked ");
        check_field(b"!!", "locked ");
        check_field(b"x", "locked ");
        check_field(b"NP", "locked ");
    }

    #[track_caller]
    fn check(input: &[u8], expect: &str) {
        let mut problems = Vec::new();
        let entries = parse(input, &mut problems);
        let mut actual: Vec<String> = entries
            .iter()
            .map(|e| {
                format!(
                    "{} {} {} {:?} {:?}/{:?}/{:?}/{:?} {:?}",
                    String::from_utf8_lossy(&e.name),
                    e.password.state.as_str(),
                    e.password.scheme,
                    e.last_change_days,
                    e.min_days,
                    e.max_days,
                    e.warn_days,
                    e.inactive_days,
                    e.expire_days
                )
            })
            .collect();
        actual.extend(
            problems
                .iter()
                .map(|p| format!("line {}: {}", p.line, p.message)),
        );
        assert_eq!(actual.join("\n"), expect);
    }

    #[test]
    fn shadow_lines() {
        check(
            b"root:$y$j9T$PaV0TeHrMBdVxsxt1cdrb1$V7pJ3pbUNiT1UgUvwVDbc0ld26hsTeRw3bPGrVn2dP7:19500:0:99999:7:::\ndaemon:*:19500:0:99999:7:::\nguest::19000::::::\n",
            "root set yescrypt Some(19500) Some(0)/Some(99999)/Some(7)/None None\ndaemon locked  Some(19500) Some(0)/Some(99999)/Some(7)/None None\nguest empty  Some(19000) None/None/None/None None",
        );
        check(
            b"ex:!:0:::::20000:",
            "ex locked  Some(0) None/None/None/None Some(20000)",
        );
        // Malformed lines: the hash they hold never reaches the problem text.
        let bad = b"broken:$6$s3cr3tSalt$H4shH4shH4sh:19000\nweird:$y$j9T$salt$hash:abc:0:99999:7:::\n:$y$a$b$c:1::::::\n";
        let mut problems = Vec::new();
        assert!(parse(bad, &mut problems).is_empty());
        let text: String = problems
            .iter()
            .map(|p| format!("{} {}\n", p.line, p.message))
            .collect();
        assert_eq!(
            text,
            "1 expected 9 colon-separated fields, found 3\n2 an ageing field is not a number\n3 empty account name\n"
        );
        for secret in ["s3cr3t", "H4sh", "salt", "hash", "$y$", "$6$"] {
            assert!(!text.contains(secret), "{text}");
        }
    }
}
