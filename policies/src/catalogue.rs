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
pub const CATALOGUE_VERSION: &str = "2026.11-1";

/// The files compiled into the binary, one per domain, in catalogue order.
const BUILTIN_FILES: &[(&str, &str)] = &[
    ("checks/agent.toml", include_str!("../checks/agent.toml")),
    (
        "checks/patches.toml",
        include_str!("../checks/patches.toml"),
    ),
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
    let rule = RuleKind::from_name(&raw.rule);
    match (rule, domain) {
        (None, _) => {
            let known: Vec<&str> = RuleKind::ALL.iter().map(|k| k.name()).collect();
            p.push(
                Some("rule"),
                format!(
                    "unknown rule {:?}, expected one of: {}",
                    raw.rule,
                    known.join(", ")
                ),
            );
        }
        (Some(rule), Some(domain)) if rule.domain() != domain => {
            p.push(
                Some("rule"),
                format!(
                    "rule {} belongs to domain {}, not {domain}",
                    rule.name(),
                    rule.domain()
                ),
            );
        }
        _ => {}
    }
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
        title_fr: raw.title_fr.trim().to_owned(),
        title_en: raw.title_en.trim().to_owned(),
        remediation_fr: raw.remediation_fr.trim().to_owned(),
        remediation_en: raw.remediation_en.trim().to_owned(),
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
