//! What sshd decides for one connection (user, groups, client address), from the settings the agent
//! reported: which Match blocks select it, the effective value of a keyword, whether
//! AllowUsers/AllowGroups/DenyUsers/DenyGroups let the user in, and the patterns of OpenSSH's
//! `match.c` and `addrmatch.c` (`*` and `?` wildcards, `!` negation, CIDR lists). Used by ACC-003 to
//! ask "can this contractor log in from an address no rule names?".
//!
//! sshd re-reads its configuration for each connection with only the matching Match lines active,
//! then copies what they set over the global values (`parse_server_match_config`,
//! `copy_set_server_options`): so a keyword's value is the first matching block's, else the global
//! one, and an accumulating list set by matching blocks replaces the global list. Criteria this
//! module cannot evaluate for a hypothetical connection (LocalAddress, LocalPort, RDomain) make the
//! block count as not matching; `Host` is matched against the address text, which is what sshd
//! compares with when `UseDNS no` (its default). Not here: reading sshd_config (the agent).

use std::collections::HashMap;
use std::net::IpAddr;

use vigie_proto::v1::SshServer;

/// A connection to judge.
pub(crate) struct Conn<'a> {
    pub(crate) user: &'a str,
    pub(crate) groups: &'a [String],
    pub(crate) addr: IpAddr,
}

/// OpenSSH's `match_pattern`: `*` any run, `?` one character. Greedy with one backtrack point, so
/// that a hostile pattern of many `*` costs at most length × length steps, never an exponential
/// search.
pub(crate) fn pattern(s: &str, pat: &str) -> bool {
    let s: Vec<char> = s.chars().collect();
    let p: Vec<char> = pat.chars().collect();
    let (mut i, mut j) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while i < s.len() {
        match p.get(j) {
            Some('*') => {
                star = Some((j, i));
                j += 1;
            }
            Some(c) if *c == '?' || Some(c) == s.get(i) => {
                i += 1;
                j += 1;
            }
            _ => match star {
                Some((sj, si)) => {
                    star = Some((sj, si + 1));
                    j = sj + 1;
                    i = si + 1;
                }
                None => return false,
            },
        }
    }
    while p.get(j) == Some(&'*') {
        j += 1;
    }
    j == p.len()
}

/// OpenSSH's `match_pattern_list`: 1 when a positive pattern matches, -1 when a negated one does
/// (a negation wins), 0 otherwise.
pub(crate) fn pattern_list(s: &str, list: &str) -> i8 {
    let mut got = 0;
    for p in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match p.strip_prefix('!') {
            Some(neg) if pattern(s, neg) => return -1,
            Some(_) => {}
            None if pattern(s, p) => got = 1,
            None => {}
        }
    }
    got
}

/// An address or `address/length` network.
pub(crate) fn parse_cidr(s: &str) -> Option<(IpAddr, u8)> {
    let (addr, len) = match s.split_once('/') {
        Some((a, l)) => (a.parse::<IpAddr>().ok()?, Some(l.parse::<u8>().ok()?)),
        None => (s.parse::<IpAddr>().ok()?, None),
    };
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let len = len.unwrap_or(max);
    (len <= max).then_some((addr, len))
}

pub(crate) fn in_network(addr: IpAddr, net: IpAddr, len: u8) -> bool {
    let (a, n, bits): (u128, u128, u32) = match (addr, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => (u32::from(a).into(), u32::from(n).into(), 32),
        (IpAddr::V6(a), IpAddr::V6(n)) => (u128::from(a), u128::from(n), 128),
        _ => return false,
    };
    let len = u32::from(len);
    if len == 0 {
        return true;
    }
    (a >> (bits - len)) == (n >> (bits - len))
}

/// OpenSSH's `addr_match_list`: CIDR entries first, wildcard patterns on the address text else.
pub(crate) fn addr_list(addr: IpAddr, list: &str) -> i8 {
    let text = addr.to_string();
    let mut got = 0;
    for entry in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (neg, p) = match entry.strip_prefix('!') {
            Some(p) => (true, p),
            None => (false, entry),
        };
        let hit = match parse_cidr(p) {
            Some((net, len)) => in_network(addr, net, len),
            None => pattern(&text, p),
        };
        if hit && neg {
            return -1;
        }
        if hit {
            got = 1;
        }
    }
    got
}

/// Whether a Match line's criteria select `conn`; `None` when they name something a hypothetical
/// connection does not have (local address, port, routing domain) or cannot be read.
pub(crate) fn criteria_match(criteria: &str, conn: &Conn<'_>) -> Option<bool> {
    let words: Vec<&str> = criteria.split_whitespace().collect();
    let mut all = true;
    let mut i = 0;
    while let Some(word) = words.get(i) {
        let key = word.to_ascii_lowercase();
        if key == "all" {
            i += 1;
            continue;
        }
        let value = words.get(i + 1)?;
        let hit = match key.as_str() {
            "user" => pattern_list(conn.user, value) == 1,
            "group" => {
                // `ga_match_pattern_list`: a negated group the user has refuses the whole line.
                let results: Vec<i8> = conn.groups.iter().map(|g| pattern_list(g, value)).collect();
                !results.contains(&-1) && results.contains(&1)
            }
            "address" => addr_list(conn.addr, value) == 1,
            "host" => pattern_list(&conn.addr.to_string(), value) == 1,
            _ => return None,
        };
        all &= hit;
        i += 2;
    }
    Some(all)
}

/// The settings one connection gets.
pub(crate) struct Effective<'s> {
    global: &'s HashMap<String, String>,
    /// Matching blocks in file order, with their criteria.
    blocks: Vec<(&'s str, &'s HashMap<String, String>)>,
}

impl<'s> Effective<'s> {
    pub(crate) fn of(server: &'s SshServer, conn: &Conn<'_>) -> Effective<'s> {
        Effective {
            global: &server.settings,
            blocks: server
                .match_blocks
                .iter()
                .filter(|b| criteria_match(&b.criteria, conn) == Some(true))
                .map(|b| (b.criteria.as_str(), &b.settings))
                .collect(),
        }
    }

    /// The value of a single-valued `key` and the criteria of the block it comes from (`None`:
    /// global). Lists (AllowUsers and the like) go through `words`.
    pub(crate) fn get(&self, key: &str) -> (&'s str, Option<&'s str>) {
        for (criteria, block) in &self.blocks {
            if let Some(v) = block.get(key) {
                return (v.as_str(), Some(criteria));
            }
        }
        (self.global.get(key).map_or("", String::as_str), None)
    }

    /// The words of a list keyword (blocks' lists replacing the global one).
    pub(crate) fn words(&self, key: &str) -> Vec<&'s str> {
        let from_blocks: Vec<&str> = self
            .blocks
            .iter()
            .filter_map(|(_, b)| b.get(key).map(String::as_str))
            .flat_map(str::split_whitespace)
            .collect();
        if !from_blocks.is_empty() {
            return from_blocks;
        }
        self.global
            .get(key)
            .map(|v| v.split_whitespace().collect())
            .unwrap_or_default()
    }

    pub(crate) fn yes(&self, key: &str) -> bool {
        self.get(key).0 == "yes"
    }
}

/// OpenSSH's `match_user` for one AllowUsers/DenyUsers word: `user` or `user@host`.
fn user_word(conn: &Conn<'_>, word: &str) -> bool {
    match word.split_once('@') {
        Some((u, host)) => {
            pattern(conn.user, u)
                && (addr_list(conn.addr, host) == 1
                    || pattern_list(&conn.addr.to_string(), host) == 1)
        }
        None => pattern(conn.user, word),
    }
}

/// Why sshd's allow and deny lists refuse `conn` (`allowed_user` in `auth.c`), or `None`.
pub(crate) fn refused_by_lists(eff: &Effective<'_>, conn: &Conn<'_>) -> Option<String> {
    if eff.words("denyusers").iter().any(|w| user_word(conn, w)) {
        return Some("DenyUsers".to_owned());
    }
    let allow = eff.words("allowusers");
    if !allow.is_empty() && !allow.iter().any(|w| user_word(conn, w)) {
        return Some(format!("AllowUsers {}", allow.join(" ")));
    }
    let group_hit = |w: &&str| conn.groups.iter().any(|g| pattern(g, w));
    if eff.words("denygroups").iter().any(group_hit) {
        return Some("DenyGroups".to_owned());
    }
    let allow = eff.words("allowgroups");
    if !allow.is_empty() && !allow.iter().any(group_hit) {
        return Some(format!("AllowGroups {}", allow.join(" ")));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn<'a>(user: &'a str, groups: &'a [String], addr: &str) -> Conn<'a> {
        Conn {
            user,
            groups,
            addr: addr.parse().unwrap(),
        }
    }

    #[test]
    fn patterns_and_lists() {
        assert!(pattern("presta-dupont", "presta-*"));
        assert!(pattern("ab", "a?"));
        assert!(!pattern("abc", "a?"));
        assert!(pattern("", "*"));
        assert!(pattern("presta-dupont", "*-*t"));
        assert!(!pattern("presta", "presta?"));
        // A hostile pattern stays cheap.
        let hostile = format!("{}x", "*".repeat(5000));
        assert!(!pattern(&"a".repeat(5000), &hostile));
        assert_eq!(pattern_list("bob", "alice,b*"), 1);
        assert_eq!(pattern_list("bob", "*,!bob"), -1);
        assert_eq!(pattern_list("carol", "alice,bob"), 0);
        let a: IpAddr = "192.0.2.7".parse().unwrap();
        assert_eq!(addr_list(a, "192.0.2.0/24"), 1);
        assert_eq!(addr_list(a, "*,!192.0.2.0/24"), -1);
        assert_eq!(addr_list(a, "198.51.100.0/24,192.0.2.*"), 1);
        assert_eq!(addr_list(a, "10.0.0.0/8"), 0);
        assert_eq!(
            addr_list("2001:db8::1".parse().unwrap(), "2001:db8::/32"),
            1
        );
    }

    #[test]
    fn criteria() {
        let groups = vec!["prestataires".to_owned(), "users".to_owned()];
        let c = conn("presta-dupont", &groups, "203.0.113.9");
        assert_eq!(criteria_match("Group prestataires", &c), Some(true));
        assert_eq!(
            criteria_match("Group prestataires Address 192.0.2.0/24", &c),
            Some(false)
        );
        assert_eq!(
            criteria_match("Group prestataires Address *,!192.0.2.0/24", &c),
            Some(true)
        );
        assert_eq!(
            criteria_match("User presta-* Host 203.0.113.*", &c),
            Some(true)
        );
        assert_eq!(criteria_match("Group !prestataires,*", &c), Some(false));
        assert_eq!(criteria_match("All", &c), Some(true));
        assert_eq!(criteria_match("LocalPort 2222", &c), None);
        assert_eq!(criteria_match("User", &c), None);
    }

    #[test]
    fn effective_values_and_lists() {
        let server = SshServer {
            installed: true,
            settings: [
                ("passwordauthentication", "no"),
                ("allowgroups", "ssh-users prestataires"),
            ]
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
            match_blocks: vec![
                vigie_proto::v1::SshMatchBlock {
                    criteria: "Group prestataires".to_owned(),
                    settings: [("allowusers".to_owned(), "*@192.0.2.0/24".to_owned())].into(),
                    ..Default::default()
                },
                vigie_proto::v1::SshMatchBlock {
                    criteria: "Address 203.0.113.0/24".to_owned(),
                    settings: [("passwordauthentication".to_owned(), "yes".to_owned())].into(),
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        let groups = vec!["prestataires".to_owned()];
        let outside = conn("presta", &groups, "203.0.113.9");
        let eff = Effective::of(&server, &outside);
        assert_eq!(
            eff.get("passwordauthentication"),
            ("yes", Some("Address 203.0.113.0/24"))
        );
        assert_eq!(
            refused_by_lists(&eff, &outside).as_deref(),
            Some("AllowUsers *@192.0.2.0/24")
        );
        let inside = conn("presta", &groups, "192.0.2.9");
        let eff = Effective::of(&server, &inside);
        assert_eq!(eff.get("passwordauthentication"), ("no", None));
        assert_eq!(refused_by_lists(&eff, &inside), None);
        let other = vec!["users".to_owned()];
        let stranger = conn("bob", &other, "192.0.2.9");
        assert_eq!(
            refused_by_lists(&Effective::of(&server, &stranger), &stranger).as_deref(),
            Some("AllowGroups ssh-users prestataires")
        );
    }
}
