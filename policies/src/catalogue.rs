//! The checklist as data: the embedded TOML files under `policies/checks/`, parsed strictly and
//! validated once into a `Catalogue` of `Check`s whose rules are compiled per profile. Loading is
//! the only place a catalogue can be wrong; evaluation never fails.

use std::collections::BTreeSet;
use std::fmt;

use serde::Deserialize;

use crate::rules::{Rule, RuleKind};
use crate::thresholds::Thresholds;
use crate::vocabulary::{CheckDomain, OsFamily, Profile, Role, Severity};

/// Version of the built-in catalogue, recorded in every snapshot (DESIGN decision 21). Bump it
/// whenever a check, a threshold or a text changes.
pub const CATALOGUE_VERSION: &str = "2026.12-1";

/// The files compiled into the binary, one per domain, in catalogue order.
const BUILTIN_FILES: &[(&str, &str)] = &[
    ("checks/agent.toml", include_str!("../checks/agent.toml")),
    (
        "checks/patches.toml",
        include_str!("../checks/patches.toml"),
    ),
    ("checks/ssh.toml", include_str!("../checks/ssh.toml")),
    (
        "checks/accounts.toml",
        include_str!("../checks/accounts.toml"),
    ),
    ("checks/auth.toml", include_str!("../checks/auth.toml")),
    (
        "checks/antivirus.toml",
        include_str!("../checks/antivirus.toml"),
    ),
    (
        "checks/backups.toml",
        include_str!("../checks/backups.toml"),
    ),
    ("checks/fim.toml", include_str!("../checks/fim.toml")),
];

/// The validated set of checks.
#[derive(Debug, Clone)]
pub struct Catalogue {
    checks: Vec<Check>,
}

impl Catalogue {
    /// The catalogue compiled into this build.
    pub fn builtin() -> Result<Catalogue, CatalogueError> {
        Catalogue::from_files(BUILTIN_FILES)
    }

    /// Parses and validates catalogue files given as `(file name, TOML text)`. Every problem in
    /// every file is reported, each naming its file, check id and key where known.
    pub fn from_files(files: &[(&str, &str)]) -> Result<Catalogue, CatalogueError> {
        let mut problems = Vec::new();
        let mut checks: Vec<Check> = Vec::new();
        for (file, text) in files {
            checks.extend(parse_file(file, text, &mut problems));
        }
        let mut seen = BTreeSet::new();
        for check in &checks {
            if !seen.insert(check.id.as_str()) {
                problems.push(CatalogueProblem {
                    file: check.file.clone(),
                    check_id: Some(check.id.clone()),
                    key: Some("id".to_owned()),
                    message: "duplicate check id".to_owned(),
                });
            }
        }
        if !problems.is_empty() {
            return Err(CatalogueError { problems });
        }
        checks.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(Catalogue { checks })
    }

    /// Every check, sorted by id.
    pub fn checks(&self) -> &[Check] {
        &self.checks
    }

    /// The check with this id.
    pub fn get(&self, id: &str) -> Option<&Check> {
        self.checks
            .binary_search_by(|c| c.id.as_str().cmp(id))
            .ok()
            .and_then(|i| self.checks.get(i))
    }

    /// The catalogue version, e.g. `2026.11-1`.
    pub fn version(&self) -> &'static str {
        CATALOGUE_VERSION
    }
}

/// One check of the catalogue (DESIGN decision 18).
#[derive(Debug, Clone)]
pub struct Check {
    id: String,
    file: String,
    domain: CheckDomain,
    severity: Severity,
    references: Vec<String>,
    title_fr: String,
    title_en: String,
    remediation_fr: String,
    remediation_en: String,
    applies_to: AppliesTo,
    rule: RuleKind,
    minimal: ProfileRule,
    standard: ProfileRule,
    strict: ProfileRule,
}

/// One profile's thresholds as written, and the rule compiled from them.
#[derive(Debug, Clone)]
struct ProfileRule {
    thresholds: Thresholds,
    rule: Rule,
}

/// Which hosts a check concerns. A host whose role or OS family is unknown is judged anyway:
/// not knowing is no reason to stay silent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliesTo {
    /// Roles the check concerns; never empty.
    pub roles: Vec<Role>,
    /// OS families the check can judge and explain; never empty.
    pub os_families: Vec<OsFamily>,
}

impl Check {
    /// Stable id, e.g. `PAT-001`.
    pub fn id(&self) -> &str {
        &self.id
    }
    /// The catalogue domain.
    pub fn domain(&self) -> CheckDomain {
        self.domain
    }
    /// Severity of a failure, unless the rule grades it (PAT-001, PAT-004).
    pub fn severity(&self) -> Severity {
        self.severity
    }
    /// References such as `HYG 34` or `BP-028 R61 (M)`.
    pub fn references(&self) -> &[String] {
        &self.references
    }
    /// Title in French.
    pub fn title_fr(&self) -> &str {
        &self.title_fr
    }
    /// Title in English.
    pub fn title_en(&self) -> &str {
        &self.title_en
    }
    /// How to fix a failure, in French, for the sysadmin.
    pub fn remediation_fr(&self) -> &str {
        &self.remediation_fr
    }
    /// How to fix a failure, in English.
    pub fn remediation_en(&self) -> &str {
        &self.remediation_en
    }
    /// Roles and OS families concerned.
    pub fn applies_to(&self) -> &AppliesTo {
        &self.applies_to
    }
    /// The name of the rule, e.g. `patches.security_pending_age`.
    pub fn rule_name(&self) -> &'static str {
        self.rule.name()
    }
    /// The thresholds of `profile`, as written in the catalogue.
    pub fn thresholds(&self, profile: Profile) -> &Thresholds {
        &self.profile(profile).thresholds
    }

    pub(crate) fn rule_kind(&self) -> RuleKind {
        self.rule
    }

    pub(crate) fn rule(&self, profile: Profile) -> &Rule {
        &self.profile(profile).rule
    }

    fn profile(&self, profile: Profile) -> &ProfileRule {
        match profile {
            Profile::Minimal => &self.minimal,
            Profile::Standard => &self.standard,
            Profile::Strict => &self.strict,
        }
    }
}

/// A catalogue that cannot be used, with every problem found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid check catalogue: {}", render(.problems))]
pub struct CatalogueError {
    /// Each problem, in file order.
    pub problems: Vec<CatalogueProblem>,
}

fn render(problems: &[CatalogueProblem]) -> String {
    problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// One problem in a catalogue file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogueProblem {
    /// The file, e.g. `checks/patches.toml`.
    pub file: String,
    /// The check concerned, when its id could be read.
    pub check_id: Option<String>,
    /// The key concerned, e.g. `thresholds.strict.high_after_days`.
    pub key: Option<String>,
    /// What is wrong, lowercase.
    pub message: String,
}

impl fmt::Display for CatalogueProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(id) = &self.check_id {
            write!(f, ": check {id}")?;
        }
        if let Some(key) = &self.key {
            write!(f, ": {key}")?;
        }
        write!(f, ": {}", self.message)
    }
}

// ---------------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------------

/// A check exactly as written. Enumerations stay strings here so that a bad value is reported with
/// its key and the accepted spellings, which serde's own enum errors do not name.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCheck {
    id: String,
    domain: String,
    severity: String,
    references: Vec<String>,
    title_fr: String,
    title_en: String,
    remediation_fr: String,
    remediation_en: String,
    applies_to: RawAppliesTo,
    rule: String,
    thresholds: RawThresholds,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAppliesTo {
    roles: Vec<String>,
    os_families: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawThresholds {
    minimal: toml::Table,
    standard: toml::Table,
    strict: toml::Table,
}

/// Collects the problems of one check.
struct Problems<'a> {
    file: &'a str,
    id: Option<&'a str>,
    out: &'a mut Vec<CatalogueProblem>,
}

impl Problems<'_> {
    fn push(&mut self, key: Option<&str>, message: impl Into<String>) {
        self.out.push(CatalogueProblem {
            file: self.file.to_owned(),
            check_id: self.id.map(str::to_owned),
            key: key.map(str::to_owned),
            message: message.into(),
        });
    }
}

/// Parses one file: a top-level `[[check]]` array and nothing else. Each check is deserialised on
/// its own so that an error names the check's id, not just a line.
fn parse_file(file: &str, text: &str, out: &mut Vec<CatalogueProblem>) -> Vec<Check> {
    let mut file_problems = Problems {
        file,
        id: None,
        out,
    };
    let mut table: toml::Table = match text.parse() {
        Ok(t) => t,
        Err(e) => {
            let at = e
                .span()
                .map(|s| line_of(text, s.start))
                .map(|l| format!("line {l}: "));
            let message = format!("{}{}", at.unwrap_or_default(), e.message().trim());
            file_problems.push(None, message);
            return Vec::new();
        }
    };
    let entries = match table.remove("check") {
        Some(toml::Value::Array(entries)) => entries,
        Some(_) => {
            file_problems.push(Some("check"), "expected an array of tables ([[check]])");
            Vec::new()
        }
        None => {
            file_problems.push(
                Some("check"),
                "missing, a catalogue file holds [[check]] tables",
            );
            Vec::new()
        }
    };
    for key in table.keys() {
        file_problems.push(Some(key), "unknown top-level key, expected only [[check]]");
    }
    let mut checks = Vec::new();
    for (index, entry) in entries.into_iter().enumerate() {
        let id = entry
            .get("id")
            .and_then(toml::Value::as_str)
            .map(str::to_owned);
        let label = id.clone().unwrap_or_else(|| format!("#{}", index + 1));
        let mut problems = Problems {
            file,
            id: Some(&label),
            out,
        };
        let raw: RawCheck = match entry.try_into() {
            Ok(raw) => raw,
            Err(e) => {
                problems.push(None, e.message().trim());
                continue;
            }
        };
        if let Some(check) = validate(file, raw, &mut problems) {
            checks.push(check);
        }
    }
    checks
}

fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset)
        .map_or(0, |before| before.matches('\n').count())
        + 1
}

/// Turns a raw check into a validated one, or records why it cannot be.
fn validate(file: &str, raw: RawCheck, p: &mut Problems<'_>) -> Option<Check> {
    let before = p.out.len();
    if !is_check_id(&raw.id) {
        p.push(
            Some("id"),
            "expected 2 to 4 capital letters, a dash and 3 digits, e.g. PAT-001",
        );
    }
    let domain = parse_named::<CheckDomain>(p, "domain", &raw.domain);
    let severity = parse_named::<Severity>(p, "severity", &raw.severity);
    // A rule of the wrong domain is reported alone: its threshold complaints would only be noise.
    let rule = match (RuleKind::from_name(&raw.rule), domain) {
        (None, _) => {
            let known: Vec<&str> = RuleKind::ALL.iter().map(|k| k.name()).collect();
            let message = format!(
                "unknown rule {:?}, expected one of: {}",
                raw.rule,
                known.join(", ")
            );
            p.push(Some("rule"), message);
            None
        }
        (Some(rule), Some(domain)) if rule.domain() != domain => {
            let (name, own) = (rule.name(), rule.domain());
            p.push(
                Some("rule"),
                format!("rule {name} belongs to domain {own}, not {domain}"),
            );
            None
        }
        (rule, _) => rule,
    };
    if raw.references.is_empty() || raw.references.iter().any(|r| r.trim().is_empty()) {
        p.push(
            Some("references"),
            "expected at least one non-empty reference",
        );
    }
    for (key, text) in [
        ("title_fr", &raw.title_fr),
        ("title_en", &raw.title_en),
        ("remediation_fr", &raw.remediation_fr),
        ("remediation_en", &raw.remediation_en),
    ] {
        if text.trim().is_empty() {
            p.push(Some(key), "must not be empty");
        }
    }
    let roles = parse_list::<Role>(p, "applies_to.roles", &raw.applies_to.roles);
    let os_families =
        parse_list::<OsFamily>(p, "applies_to.os_families", &raw.applies_to.os_families);
    let mut compiled = Vec::new();
    for (profile, table) in [
        (Profile::Minimal, &raw.thresholds.minimal),
        (Profile::Standard, &raw.thresholds.standard),
        (Profile::Strict, &raw.thresholds.strict),
    ] {
        let thresholds = match Thresholds::from_table(profile, table) {
            Ok(t) => t,
            Err(problems) => {
                problems
                    .into_iter()
                    .for_each(|(key, message)| p.push(Some(&key), message));
                continue;
            }
        };
        let Some(rule) = rule else { continue };
        match rule.compile(profile, &thresholds) {
            Ok(compiled_rule) => compiled.push(ProfileRule {
                thresholds,
                rule: compiled_rule,
            }),
            Err(problems) => {
                problems
                    .into_iter()
                    .for_each(|(key, message)| p.push(Some(&key), message));
            }
        }
    }
    if p.out.len() != before {
        return None;
    }
    let mut compiled = compiled.into_iter();
    Some(Check {
        id: raw.id,
        file: file.to_owned(),
        domain: domain?,
        severity: severity?,
        references: raw.references,
        title_fr: reflow(&raw.title_fr),
        title_en: reflow(&raw.title_en),
        remediation_fr: reflow(&raw.remediation_fr),
        remediation_en: reflow(&raw.remediation_en),
        applies_to: AppliesTo {
            roles: roles?,
            os_families: os_families?,
        },
        rule: rule?,
        minimal: compiled.next()?,
        standard: compiled.next()?,
        strict: compiled.next()?,
    })
}

fn parse_named<T: std::str::FromStr<Err = crate::vocabulary::UnknownName>>(
    p: &mut Problems<'_>,
    key: &str,
    value: &str,
) -> Option<T> {
    match value.parse() {
        Ok(v) => Some(v),
        Err(e) => {
            p.push(Some(key), e.to_string());
            None
        }
    }
}

fn parse_list<T: std::str::FromStr<Err = crate::vocabulary::UnknownName>>(
    p: &mut Problems<'_>,
    key: &str,
    values: &[String],
) -> Option<Vec<T>> {
    if values.is_empty() {
        p.push(Some(key), "must not be empty");
        return None;
    }
    let parsed: Vec<Option<T>> = values.iter().map(|v| parse_named(p, key, v)).collect();
    parsed.into_iter().collect()
}

/// Texts are written wrapped in the TOML file; a page or an e-mail must wrap them itself. Single
/// line breaks become spaces and blank lines stay paragraph breaks.
fn reflow(text: &str) -> String {
    let paragraphs = text
        .split("\n\n")
        .map(|p| p.split_whitespace().collect::<Vec<_>>().join(" "));
    paragraphs
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// `PAT-001`: 2 to 4 ASCII capitals, a dash, 3 ASCII digits.
fn is_check_id(id: &str) -> bool {
    let Some((prefix, number)) = id.split_once('-') else {
        return false;
    };
    (2..=4).contains(&prefix.len())
        && prefix.bytes().all(|b| b.is_ascii_uppercase())
        && number.len() == 3
        && number.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PATCHES: &str = include_str!("../checks/patches.toml");
    const AGENT: &str = include_str!("../checks/agent.toml");

    /// Loads `files` and compares the outcome: `ok: <ids>` or the error, one problem per line.
    #[track_caller]
    fn check(files: &[(&str, &str)], expect: &str) {
        let actual = match Catalogue::from_files(files) {
            Ok(c) => {
                let ids: Vec<&str> = c.checks().iter().map(Check::id).collect();
                format!("ok: {}", ids.join(" "))
            }
            Err(e) => {
                assert!(
                    e.to_string().starts_with("invalid check catalogue: "),
                    "{e}"
                );
                e.problems
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("\n")
            }
        };
        assert_eq!(actual, expect);
    }

    /// The builtin patches file with one textual edit, which must apply.
    fn patched(from: &str, to: &str) -> String {
        assert!(PATCHES.contains(from), "{from:?} not in patches.toml");
        PATCHES.replacen(from, to, 1)
    }

    #[test]
    fn builtin_loads() {
        check(
            BUILTIN_FILES,
            "ok: ACC-001 ACC-002 ACC-003 ACC-004 ACC-005 ACC-006 ACC-007 ACC-008 AGT-001 AGT-002 AGT-003 AV-001 AV-002 AV-003 AV-004 BKP-001 BKP-002 BKP-003 BKP-004 BKP-005 BKP-006 FIM-001 FIM-002 FIM-003 PAT-001 PAT-002 PAT-003 PAT-004 PWD-001 PWD-002 PWD-003 PWD-004 PWD-005 PWD-006 PWD-007 SSH-001 SSH-002 SSH-003 SSH-004 SSH-005 SVC-003",
        );
        let catalogue = Catalogue::builtin().unwrap();
        assert_eq!(catalogue.version(), "2026.12-1");
        let mut seen = BTreeSet::new();
        for c in catalogue.checks() {
            assert!(seen.insert(c.id()), "duplicate {}", c.id());
            for text in [
                c.title_fr(),
                c.title_en(),
                c.remediation_fr(),
                c.remediation_en(),
            ] {
                assert!(
                    text.chars().count() >= 10,
                    "{}: short text {text:?}",
                    c.id()
                );
                assert!(!text.contains('\n'), "{}: unwrapped text {text:?}", c.id());
            }
            assert!(!c.references().is_empty());
            assert_eq!(c.rule_kind().domain(), c.domain());
            assert!(c.id().starts_with(match c.domain() {
                CheckDomain::Patches => "PAT-",
                CheckDomain::Agent => "AGT-",
                // ACC-008 (remote access MFA) is judged on the SSH evidence.
                CheckDomain::Ssh => ["SSH-", "ACC-"]
                    .into_iter()
                    .find(|p| c.id().starts_with(p))
                    .unwrap_or("SSH-"),
                // PWD-005/007 and SVC-003 are judged on account evidence too.
                CheckDomain::Accounts => ["ACC-", "PWD-", "SVC-"]
                    .into_iter()
                    .find(|p| c.id().starts_with(p))
                    .unwrap_or("ACC-"),
                // ACC-007 (idle sessions) is judged on the authentication policy evidence.
                CheckDomain::Auth => ["PWD-", "ACC-"]
                    .into_iter()
                    .find(|p| c.id().starts_with(p))
                    .unwrap_or("PWD-"),
                CheckDomain::Antivirus => "AV-",
                CheckDomain::Backups => "BKP-",
                CheckDomain::Fim => "FIM-",
            }));
            assert_eq!(catalogue.get(c.id()).map(Check::id), Some(c.id()));
        }
        assert!(catalogue.get("PAT-999").is_none());
        let pat1 = catalogue.get("PAT-001").unwrap();
        assert_eq!(pat1.rule_name(), "patches.security_pending_age");
        assert_eq!(pat1.severity(), Severity::Critical);
        assert_eq!(
            pat1.references(),
            ["HYG 34", "BP-028 R61 (M)", "CNIL 9.3", "MAC"]
        );
        let standard: Vec<(&str, u64)> = pat1.thresholds(Profile::Standard).iter().collect();
        assert_eq!(
            standard,
            [
                ("critical_after_days", 30),
                ("high_after_days", 7),
                ("stale_after_secs", 86_400)
            ]
        );
        assert_eq!(
            catalogue.get("AGT-001").unwrap().applies_to().roles,
            [Role::Server]
        );
        // Every rule of the registry is used by some builtin check.
        for kind in RuleKind::ALL {
            assert!(
                catalogue.checks().iter().any(|c| c.rule_kind() == *kind),
                "{}",
                kind.name()
            );
        }
    }

    #[test]
    fn malformed_files_name_file_check_and_key() {
        let f = "checks/patches.toml";
        check(
            &[(f, &patched("title_fr = \"Mises à jour de sécurité", "titel_fr = \"Mises à jour de sécurité"))],
            "checks/patches.toml: check PAT-001: unknown field `titel_fr`, expected one of `id`, `domain`, `severity`, `references`, `title_fr`, `title_en`, `remediation_fr`, `remediation_en`, `applies_to`, `rule`, `thresholds`",
        );
        check(
            &[(f, &patched("high_after_days = 3\n", ""))],
            "checks/patches.toml: check PAT-001: thresholds.strict.high_after_days: missing, rule patches.security_pending_age needs it",
        );
        check(
            &[(f, &patched("high_after_days = 3\n", "high_after_dayz = 3\n"))],
            "checks/patches.toml: check PAT-001: thresholds.strict.high_after_dayz: key must end with _secs, _hours, _days, _count, _bits, _chars or _flag",
        );
        check(
            &[(f, &patched("high_after_days = 3\n", "hihg_after_days = 3\n"))],
            "checks/patches.toml: check PAT-001: thresholds.strict.high_after_days: missing, rule patches.security_pending_age needs it\n\
             checks/patches.toml: check PAT-001: thresholds.strict.hihg_after_days: not used by rule patches.security_pending_age",
        );
        check(
            &[(f, &patched("high_after_days = 3\n", "high_after_days = 60\n"))],
            "checks/patches.toml: check PAT-001: thresholds.strict.high_after_days: must not exceed critical_after_days",
        );
        check(
            &[(f, &patched("fail_after_days = 3\n", "fail_after_days = \"3\"\n"))],
            "checks/patches.toml: check PAT-003: thresholds.strict.fail_after_days: expected an integer from 0 to 1000000000, found \"3\"",
        );
        check(
            &[(f, &patched("warn_before_eol_days = 180\nstale_after_secs = 172800", "warn_before_eol_days = 180\nstale_after_secs = 0"))],
            "checks/patches.toml: check PAT-004: thresholds.strict.stale_after_secs: must be greater than 0",
        );
        check(
            &[(f, &patched("[check.thresholds.strict]\nmax_metadata_age_hours = 24\nstale_after_secs = 21600\n", ""))],
            "checks/patches.toml: check PAT-002: missing field `strict`",
        );
        check(
            &[(f, &patched("rule = \"patches.reboot_pending\"", "rule = \"patches.reboot\""))],
            "checks/patches.toml: check PAT-003: rule: unknown rule \"patches.reboot\", expected one of: patches.security_pending_age, patches.automatic_updates, patches.reboot_pending, patches.os_end_of_life, agent.silent, agent.cloned_identity, agent.equivocation, ssh.root_login, ssh.password_authentication, ssh.authentication_limits, ssh.access_restrictions, ssh.host_keys_and_algorithms, ssh.remote_access_mfa, accounts.privileged_password_age, accounts.empty_or_default_passwords, accounts.uid0_and_administrators, accounts.idle, accounts.workstation_administrators, accounts.sudoers_hygiene, accounts.contractor_expiry, accounts.contractor_logins, accounts.contractor_restrictions, auth.password_quality, auth.password_checks, auth.lockout, auth.password_expiry, auth.hash_method, auth.session_timeout, antivirus.engine_running, antivirus.signature_age, antivirus.on_access, antivirus.detections, backups.last_success, backups.failed_runs, backups.distinct_places, backups.offline_copy, backups.restore_test, backups.protection, fim.baseline, fim.changes, fim.tamper",
        );
        check(
            &[(f, &patched("rule = \"patches.reboot_pending\"", "rule = \"agent.silent\""))],
            "checks/patches.toml: check PAT-003: rule: rule agent.silent belongs to domain agent, not patches",
        );
        check(
            &[(f, &patched("severity = \"medium\"", "severity = \"warn\""))],
            "checks/patches.toml: check PAT-002: severity: unknown severity \"warn\", expected one of: low, medium, high, critical",
        );
        check(
            &[(f, &patched("roles = [\"server\", \"workstation\", \"laptop\"]", "roles = [\"server\", \"desktop\"]"))],
            "checks/patches.toml: check PAT-001: applies_to.roles: unknown role \"desktop\", expected one of: server, workstation, laptop",
        );
        check(
            &[(f, &patched("id = \"PAT-004\"", "id = \"pat-4\""))],
            "checks/patches.toml: check pat-4: id: expected 2 to 4 capital letters, a dash and 3 digits, e.g. PAT-001",
        );
        check(
            &[(f, &patched("references = [\"MAC\"]", "references = []"))],
            "checks/patches.toml: check PAT-003: references: expected at least one non-empty reference",
        );
        check(
            &[(f, &patched("id = \"PAT-004\"", "id = \"PAT-003\""))],
            "checks/patches.toml: check PAT-003: id: duplicate check id",
        );
        check(
            &[
                (f, PATCHES),
                ("checks/agent.toml", AGENT),
                ("checks/again.toml", AGENT),
            ],
            "checks/again.toml: check AGT-001: id: duplicate check id\n\
             checks/again.toml: check AGT-002: id: duplicate check id\n\
             checks/again.toml: check AGT-003: id: duplicate check id",
        );
        check(
            &[(f, "[[check]]\nid = \"PAT-001\"\nid = 2\n")],
            "checks/patches.toml: line 3: duplicate key `id` in table `check`",
        );
        check(&[(f, "version = 1\n")], "checks/patches.toml: check: missing, a catalogue file holds [[check]] tables\nchecks/patches.toml: version: unknown top-level key, expected only [[check]]");
        check(
            &[(f, "[[check]]\ndomain = \"patches\"\n")],
            "checks/patches.toml: check #1: missing field `id`",
        );
    }
}
