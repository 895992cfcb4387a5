//! Parser of `passwd(5)`: name, uid, gid, home and shell of every account. The second field is
//! never kept as text: where it still holds a hash (a host without shadow), only the facts derived
//! by `shadow::derive` survive. Not here: shadow, groups, or any judgement.

use super::shadow::{self, PasswordFacts};
use super::{lines, LineProblem};

/// One valid line of /etc/passwd.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswdEntry {
    /// Raw bytes of the name; shown lossily, matched exactly.
    pub name: Vec<u8>,
    pub uid: u32,
    pub gid: u32,
    pub home: Vec<u8>,
    pub shell: Vec<u8>,
    /// Facts from the second field when it is not `x` (no shadow entry is then consulted by
    /// libc either); `None` for the usual `x`.
    pub inline_password: Option<PasswordFacts>,
}

/// Parses passwd bytes. Malformed lines are skipped and reported by line number, never quoted:
/// a line with a missing colon may carry a hash in any position.
pub fn parse(bytes: &[u8], problems: &mut Vec<LineProblem>) -> Vec<PasswdEntry> {
    let mut out = Vec::new();
    for (line_no, line) in lines(bytes, problems) {
        if line.is_empty() || line.first() == Some(&b'#') {
            continue;
        }
        // NIS compatibility entries (`+`, `-name`) are resolved by nsswitch, not by us.
        if matches!(line.first(), Some(b'+') | Some(b'-')) {
            problems.push(LineProblem::new(
                line_no,
                "NIS compatibility entry not resolved",
            ));
            continue;
        }
        let fields: Vec<&[u8]> = line.split(|b| *b == b':').collect();
        let [name, password, uid, gid, _gecos, home, shell] = fields.as_slice() else {
            problems.push(LineProblem::new(
                line_no,
                format!("expected 7 colon-separated fields, found {}", fields.len()),
            ));
            continue;
        };
        let (Some(uid), Some(gid)) = (number(uid), number(gid)) else {
            problems.push(LineProblem::new(line_no, "uid or gid is not a number"));
            continue;
        };
        if name.is_empty() {
            problems.push(LineProblem::new(line_no, "empty account name"));
            continue;
        }
        let inline_password = (*password != b"x").then(|| shadow::derive(password));
        out.push(PasswdEntry {
            name: name.to_vec(),
            uid,
            gid,
            home: home.to_vec(),
            shell: shell.to_vec(),
            inline_password,
        });
    }
    out
}

/// A decimal u32 with no sign or spaces, as libc's parsers accept.
pub(super) fn number(field: &[u8]) -> Option<u32> {
    if field.is_empty() || !field.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(field).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(input: &[u8], expect: &str) {
        let mut problems = Vec::new();
        let entries = parse(input, &mut problems);
        let mut actual: Vec<String> = entries
            .iter()
            .map(|e| {
                format!(
                    "{}:{}:{}:{}:{}:{:?}",
                    String::from_utf8_lossy(&e.name),
                    e.uid,
                    e.gid,
                    String::from_utf8_lossy(&e.home),
                    String::from_utf8_lossy(&e.shell),
                    e.inline_password.as_ref().map(|p| (p.state, p.scheme))
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
    fn passwd_lines() {
        check(
            b"root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n",
            "root:0:0:/root:/bin/bash:None\ndaemon:1:1:/usr/sbin:/usr/sbin/nologin:None",
        );
        // A hash left in passwd is reduced to facts; an empty field is an empty password.
        check(
            b"old:$6$saltsalt$abcdefghijklmnopqrstuvwxyz:1001:1001::/home/old:/bin/sh\nnopw::1002:1002::/:/bin/sh",
            "old:1001:1001:/home/old:/bin/sh:Some((Set, \"sha512\"))\nnopw:1002:1002:/:/bin/sh:Some((Empty, \"\"))",
        );
        // Non-UTF-8 names are kept as bytes.
        check(
            b"cl\xe9ment:x:1005:1005::/home/c:/bin/bash",
            "cl\u{fffd}ment:1005:1005:/home/c:/bin/bash:None",
        );
        // Malformed lines are reported by number only, never quoted.
        check(
            b"root:$y$j9T$secretsalt$secrethash\nx:x:abc:0::/:/bin/sh\n+::::::\n:x:5:5::/:/bin/sh\n# c\n\n",
            "line 1: expected 7 colon-separated fields, found 2\nline 2: uid or gid is not a number\nline 3: NIS compatibility entry not resolved\nline 4: empty account name",
        );
        check(
            b"big:x:99999999999:0::/:/bin/sh",
            "line 1: uid or gid is not a number",
        );
    }
}
