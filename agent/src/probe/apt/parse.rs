//! Pure parser of `LC_ALL=C apt-get -s dist-upgrade` output: one `SimulatedUpgrade` per `Inst`
//! line. Total and bounded on any input (it is also a fuzz target), and locale-independent: it
//! reads only the machine-format `Inst` lines, never the translated prose around them. Not here:
//! running apt-get, or deciding anything beyond "is an origin a security suite".

/// Lines longer than this are not apt output; they are skipped whole.
const MAX_LINE_BYTES: usize = 8 * 1024;
/// More pending upgrades than this is not a real host; the rest are dropped.
pub const MAX_UPGRADES: usize = 20_000;
/// Origins kept per candidate (apt prints one per archive carrying the same version).
const MAX_ORIGINS: usize = 16;
/// Longest package name, version or origin kept; longer fields make the line invalid.
const MAX_FIELD_BYTES: usize = 512;

/// One package apt-get would install or upgrade.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimulatedUpgrade {
    pub package: String,
    /// `None` for a package the upgrade newly installs (e.g. a new kernel image).
    pub installed_version: Option<String>,
    pub candidate_version: String,
    /// As apt prints them, e.g. `Debian-Security:12/stable-security`.
    pub origins: Vec<String>,
    /// `amd64`, `all`...; empty when apt printed none.
    pub arch: String,
    /// Some origin is a security suite (`Debian-Security:…`, `…/jammy-security`).
    pub security: bool,
}

/// Parses the whole simulation output. Lines other than well-formed `Inst` lines are ignored:
/// `Conf` repeats `Inst`, `Remv` is a removal, and the rest is translated prose.
pub fn parse_simulation(text: &str) -> Vec<SimulatedUpgrade> {
    text.lines()
        .filter(|line| line.len() <= MAX_LINE_BYTES)
        .filter_map(parse_inst)
        .take(MAX_UPGRADES)
        .collect()
}

/// `Inst <pkg> [<installed>] (<candidate> <origin>[, <origin>…] [<arch>])[ trailing]`.
fn parse_inst(line: &str) -> Option<SimulatedUpgrade> {
    let rest = line.strip_prefix("Inst ")?;
    let (package, rest) = rest.split_once(' ')?;
    if !valid_field(package) {
        return None;
    }
    let mut rest = rest.trim_start();
    let mut installed_version = None;
    if let Some(after) = rest.strip_prefix('[') {
        let (installed, after) = after.split_once(']')?;
        if !valid_field(installed) {
            return None;
        }
        installed_version = Some(installed.to_owned());
        rest = after.trim_start();
    }
    // Versions and origins contain no parentheses, so the first `)` closes the group; what follows
    // (`[]`, `[perl:amd64 ]`: apt's notes on broken dependencies) is not ours.
    let inner = rest.strip_prefix('(')?.split_once(')')?.0;
    let (candidate, origins_part) = inner.split_once(' ').unwrap_or((inner, ""));
    if !valid_field(candidate) {
        return None;
    }
    let (origins_part, arch) = split_arch(origins_part.trim());
    let origins: Vec<String> = origins_part
        .split(", ")
        .map(str::trim)
        .filter(|o| !o.is_empty() && o.len() <= MAX_FIELD_BYTES)
        .take(MAX_ORIGINS)
        .map(str::to_owned)
        .collect();
    let security = origins.iter().any(|o| is_security_origin(o));
    Some(SimulatedUpgrade {
        package: package.to_owned(),
        installed_version,
        candidate_version: candidate.to_owned(),
        origins,
        arch: arch.to_owned(),
        security,
    })
}

/// Splits a trailing ` [arch]` off the origins.
fn split_arch(s: &str) -> (&str, &str) {
    if let Some(body) = s.strip_suffix(']') {
        if let Some((origins, arch)) = body.rsplit_once('[') {
            if !arch.contains(' ') && arch.len() <= 64 {
                return (origins.trim_end(), arch);
            }
        }
    }
    (s, "")
}

/// `Label:Version/Suite`: security when the label or the suite says so, as unattended-upgrades'
/// own origin patterns do (`label=Debian-Security`, `codename=…-security`).
pub fn is_security_origin(origin: &str) -> bool {
    origin.to_ascii_lowercase().contains("-security")
}

/// Package names and versions are printable ASCII (Debian policy §5.6.1, §5.6.12) and never
/// contain apt's own delimiters; anything else is not a line apt wrote.
fn valid_field(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_FIELD_BYTES
        && s.chars()
            .all(|c| c.is_ascii_graphic() && !matches!(c, '[' | ']' | '(' | ')' | ','))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (package, installed, candidate, origins, arch, security) of every upgrade.
    type Row<'a> = (
        &'a str,
        Option<&'a str>,
        &'a str,
        Vec<&'a str>,
        &'a str,
        bool,
    );

    #[track_caller]
    fn check(text: &str, expect: &[Row<'_>]) {
        let got = parse_simulation(text);
        let got: Vec<Row<'_>> = got
            .iter()
            .map(|u| {
                (
                    u.package.as_str(),
                    u.installed_version.as_deref(),
                    u.candidate_version.as_str(),
                    u.origins.iter().map(String::as_str).collect(),
                    u.arch.as_str(),
                    u.security,
                )
            })
            .collect();
        assert_eq!(got, expect);
    }

    #[test]
    fn debian_12_security_regular_and_multiple_origins() {
        check(
            include_str!("fixtures/debian12-pending.txt"),
            &[
                (
                    "base-files",
                    Some("12.4+deb12u11"),
                    "12.4+deb12u12",
                    vec!["Debian:12.12/stable"],
                    "amd64",
                    false,
                ),
                (
                    "libcups2",
                    Some("2.4.2-3+deb12u8"),
                    "2.4.2-3+deb12u9",
                    vec!["Debian:12.12/stable", "Debian-Security:12/stable-security"],
                    "amd64",
                    true,
                ),
                (
                    "libnghttp2-14",
                    Some("1.52.0-1+deb12u2"),
                    "1.52.0-1+deb12u3",
                    vec!["Debian-Security:12/stable-security"],
                    "amd64",
                    true,
                ),
                (
                    "libpam-modules-bin",
                    Some("1.5.2-6+deb12u1"),
                    "1.5.2-6+deb12u2",
                    vec!["Debian:12.12/stable"],
                    "amd64",
                    false,
                ),
                (
                    "tzdata",
                    Some("2025a-0+deb12u1"),
                    "2025b-0+deb12u1",
                    vec!["Debian:12.12/stable-updates"],
                    "all",
                    false,
                ),
                (
                    "linux-image-6.1.0-40-amd64",
                    None,
                    "6.1.153-1",
                    vec!["Debian-Security:12/stable-security"],
                    "amd64",
                    true,
                ),
            ],
        );
    }

    #[test]
    fn ubuntu_jammy_security_updates_and_phasing() {
        check(
            include_str!("fixtures/ubuntu-jammy-pending.txt"),
            &[
                (
                    "libssl3",
                    Some("3.0.2-0ubuntu1.15"),
                    "3.0.2-0ubuntu1.18",
                    vec!["Ubuntu:22.04/jammy-updates", "Ubuntu:22.04/jammy-security"],
                    "amd64",
                    true,
                ),
                (
                    "openssl",
                    Some("3.0.2-0ubuntu1.15"),
                    "3.0.2-0ubuntu1.18",
                    vec!["Ubuntu:22.04/jammy-updates", "Ubuntu:22.04/jammy-security"],
                    "amd64",
                    true,
                ),
                (
                    "ubuntu-advantage-tools",
                    Some("31.2~22.04"),
                    "32.3.1~22.04",
                    vec!["Ubuntu:22.04/jammy-updates"],
                    "amd64",
                    false,
                ),
            ],
        );
    }

    #[test]
    fn up_to_date_has_no_upgrades() {
        check(include_str!("fixtures/up-to-date.txt"), &[]);
        check("", &[]);
    }

    #[test]
    fn garbage_is_skipped_not_fatal() {
        check(
            &String::from_utf8_lossy(include_bytes!("fixtures/garbage.txt")),
            &[(
                "ok",
                Some("1"),
                "2",
                vec!["Debian-Security:12/stable-security"],
                "amd64",
                true,
            )],
        );
        let long = format!(
            "Inst {} [1] (2 Debian:12/stable [amd64])\n",
            "a".repeat(100_000)
        );
        check(&long, &[]);
        check(
            "Inst\nInst \nInst x\nInst x [\nInst x [1] (\nInst x [1] (2",
            &[],
        );
        check("Inst x (2)", &[("x", None, "2", vec![], "", false)]);
        check("Inst \0 [\0] (\0 \0)\n", &[]);
        let many = "Inst p [1] (2 D:1/s [all])\n".repeat(MAX_UPGRADES + 10);
        assert_eq!(parse_simulation(&many).len(), MAX_UPGRADES);
    }
}
