//! From parsed settings to the effective ones: OpenSSH 9.2's defaults filled in for the keys the
//! checks read, and cipher, MAC and key-exchange lists written relative to the defaults (`+x`
//! appends, `-x` removes, wildcards allowed, `^x` prepends, as `kex_assemble_names` does) resolved
//! to the list sshd uses. Not here: parsing (`config.rs`).

use std::collections::BTreeMap;

use super::glob::fnmatch;
use super::keywords::{DEFAULTS, DEFAULT_CIPHERS, DEFAULT_KEX, DEFAULT_MACS};

/// Fills defaults into `settings` and resolves algorithm lists; returns the keys defaulted.
pub fn complete(settings: &mut BTreeMap<String, String>) -> Vec<String> {
    let mut defaulted = Vec::new();
    for (key, value) in DEFAULTS {
        if !settings.contains_key(*key) {
            settings.insert((*key).to_owned(), (*value).to_owned());
            defaulted.push((*key).to_owned());
        }
    }
    for (key, defaults) in [
        ("ciphers", DEFAULT_CIPHERS),
        ("macs", DEFAULT_MACS),
        ("kexalgorithms", DEFAULT_KEX),
    ] {
        if let Some(value) = settings.get_mut(key) {
            *value = assemble(value, defaults);
        }
    }
    defaulted
}

/// The list sshd uses for a configured `value` and the default list `defaults`.
pub fn assemble(value: &str, defaults: &str) -> String {
    let split = |s: &str| -> Vec<String> {
        s.split(',')
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let base = split(defaults);
    let mut out: Vec<String> = if let Some(add) = value.strip_prefix('+') {
        let mut out = base;
        out.extend(split(add));
        out
    } else if let Some(remove) = value.strip_prefix('-') {
        let patterns = split(remove);
        base.into_iter()
            .filter(|a| !patterns.iter().any(|p| fnmatch(p.as_bytes(), a.as_bytes())))
            .collect()
    } else if let Some(first) = value.strip_prefix('^') {
        let mut out = split(first);
        out.extend(base);
        out
    } else {
        split(value)
    };
    let mut seen = std::collections::BTreeSet::new();
    out.retain(|a| seen.insert(a.clone()));
    out.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(value: &str, defaults: &str, expect: &str) {
        assert_eq!(assemble(value, defaults), expect);
    }

    #[test]
    fn algorithm_lists() {
        check("aes256-ctr", "a,b", "aes256-ctr");
        check("+aes128-cbc", "a,b", "a,b,aes128-cbc");
        check(
            "-hmac-sha1*",
            "x,hmac-sha1,hmac-sha1-etm@openssh.com,y",
            "x,y",
        );
        check("^z", "a,b", "z,a,b");
        check("+a", "a,b", "a,b");
    }

    #[test]
    fn defaults_fill_only_unset_keys() {
        let mut s = BTreeMap::from([("maxauthtries".to_owned(), "3".to_owned())]);
        let defaulted = complete(&mut s);
        assert_eq!(s.get("maxauthtries").map(String::as_str), Some("3"));
        assert_eq!(
            s.get("permitrootlogin").map(String::as_str),
            Some("prohibit-password")
        );
        assert!(!defaulted.contains(&"maxauthtries".to_owned()));
        assert!(defaulted.contains(&"logingracetime".to_owned()));
    }
}
