//! Parser of `group(5)`: name, gid and listed members of every group. The password field (a hash
//! in old setups, normally `x`) is ignored. Not here: resolving members to uids (see `mod.rs`).

use super::passwd::number;
use super::{lines, LineProblem};

/// One valid line of /etc/group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupEntry {
    pub name: Vec<u8>,
    pub gid: u32,
    /// Member names as listed (comma-separated in the file), empty items dropped.
    pub members: Vec<Vec<u8>>,
}

/// Parses group bytes; malformed lines are reported by number, never quoted.
pub fn parse(bytes: &[u8], problems: &mut Vec<LineProblem>) -> Vec<GroupEntry> {
    let mut out = Vec::new();
    for (line_no, line) in lines(bytes, problems) {
        if line.is_empty() || line.first() == Some(&b'#') {
            continue;
        }
        if matches!(line.first(), Some(b'+') | Some(b'-')) {
            problems.push(LineProblem::new(
                line_no,
                "NIS compatibility entry not resolved",
            ));
            continue;
        }
        let fields: Vec<&[u8]> = line.split(|b| *b == b':').collect();
        let [name, _password, gid, members] = fields.as_slice() else {
            problems.push(LineProblem::new(
                line_no,
                format!("expected 4 colon-separated fields, found {}", fields.len()),
            ));
            continue;
        };
        let Some(gid) = number(gid) else {
            problems.push(LineProblem::new(line_no, "gid is not a number"));
            continue;
        };
        out.push(GroupEntry {
            name: name.to_vec(),
            gid,
            members: members
                .split(|b| *b == b',')
                .map(<[u8]>::trim_ascii)
                .filter(|m| !m.is_empty())
                .map(<[u8]>::to_vec)
                .collect(),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(input: &[u8], expect: &str) {
        let mut problems = Vec::new();
        let mut actual: Vec<String> = parse(input, &mut problems)
            .iter()
            .map(|g| {
                let members: Vec<String> = g
                    .members
                    .iter()
                    .map(|m| String::from_utf8_lossy(m).into_owned())
                    .collect();
                format!(
                    "{} {} [{}]",
                    String::from_utf8_lossy(&g.name),
                    g.gid,
                    members.join(",")
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
    fn group_lines() {
        check(
            b"root:x:0:\nsudo:x:27:alice,bob\nadm:x:4:syslog, alice,,\n",
            "root 0 []\nsudo 27 [alice,bob]\nadm 4 [syslog,alice]",
        );
        check(b"wheel:x:10:cl\xe9ment", "wheel 10 [cl\u{fffd}ment]");
        check(
            b"bad:x:27\nworse:x:z:a\n+:::\n",
            "line 1: expected 4 colon-separated fields, found 3\nline 2: gid is not a number\nline 3: NIS compatibility entry not resolved",
        );
    }
}
