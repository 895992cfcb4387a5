//! One profile's thresholds of one check, as written in the catalogue (unit-suffixed keys,
//! non-negative integers: durations in `_secs`, `_hours`, `_days`, plain numbers in `_count`,
//! `_bits`, `_chars` or `_flag`), and the reader through which a rule takes the typed values it needs at
//! load time. Not the rules themselves: see `rules/`.

use std::collections::{BTreeMap, BTreeSet};

use crate::text::{DAY_MS, HOUR_MS, SECOND_MS};
use crate::vocabulary::Profile;

/// Largest value accepted for any threshold. With days as the largest unit this keeps every
/// conversion to milliseconds far inside `i64`, and no sane threshold comes near it.
const MAX_VALUE: u64 = 1_000_000_000;

/// Units a threshold key may end with, and what one unit is in milliseconds.
const UNITS: &[(&str, i64)] = &[("_secs", SECOND_MS), ("_hours", HOUR_MS), ("_days", DAY_MS)];

/// Suffixes of plain numbers: a count, a size in bits, a length in characters, or a yes/no choice
/// written 0 or 1 (a profile choosing whether a weaker setting is tolerated, e.g. SSH-001's
/// `prohibit-password`).
const PLAIN: &[&str] = &["_count", "_bits", "_chars", "_flag"];

/// The thresholds of one check for one profile, e.g. `high_after_days = 7`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Thresholds {
    values: BTreeMap<String, u64>,
}

impl Thresholds {
    /// Reads a `[thresholds.<profile>]` table, returning every problem as `(key path, message)`.
    pub(crate) fn from_table(
        profile: Profile,
        table: &toml::Table,
    ) -> Result<Thresholds, Vec<(String, String)>> {
        let mut values = BTreeMap::new();
        let mut problems = Vec::new();
        for (key, value) in table {
            let path = format!("thresholds.{profile}.{key}");
            if unit_ms(key).is_none() && !is_plain(key) {
                let message =
                    "key must end with _secs, _hours, _days, _count, _bits, _chars or _flag";
                problems.push((path, message.to_owned()));
                continue;
            }
            match value.as_integer().and_then(|v| u64::try_from(v).ok()) {
                Some(v) if v <= MAX_VALUE => {
                    values.insert(key.clone(), v);
                }
                _ => problems.push((
                    path,
                    format!("expected an integer from 0 to {MAX_VALUE}, found {value}"),
                )),
            }
        }
        if problems.is_empty() {
            Ok(Thresholds { values })
        } else {
            Err(problems)
        }
    }

    /// The value of `key` in its own unit, if set.
    pub fn get(&self, key: &str) -> Option<u64> {
        self.values.get(key).copied()
    }

    /// Every `(key, value)`, sorted by key, for `checks show`.
    pub fn iter(&self) -> impl Iterator<Item = (&str, u64)> {
        self.values.iter().map(|(k, v)| (k.as_str(), *v))
    }
}

/// Milliseconds in one unit of `key`, from its suffix.
fn unit_ms(key: &str) -> Option<i64> {
    UNITS
        .iter()
        .find(|(suffix, _)| key.ends_with(suffix))
        .map(|(_, ms)| *ms)
}

/// Whether `key` names a plain number rather than a duration.
fn is_plain(key: &str) -> bool {
    PLAIN.iter().any(|suffix| key.ends_with(suffix))
}

/// Hands a rule the thresholds it asks for, converted to milliseconds, and records what went wrong:
/// a key the rule needs and the profile lacks, a key the profile sets and the rule never reads, a
/// constraint between two values. Collecting instead of failing fast lets the catalogue report all
/// problems at once (style rule 14).
pub(crate) struct ThresholdReader<'a> {
    profile: Profile,
    rule: &'static str,
    thresholds: &'a Thresholds,
    read: BTreeSet<&'static str>,
    problems: Vec<(String, String)>,
}

impl<'a> ThresholdReader<'a> {
    pub(crate) fn new(profile: Profile, rule: &'static str, thresholds: &'a Thresholds) -> Self {
        ThresholdReader {
            profile,
            rule,
            thresholds,
            read: BTreeSet::new(),
            problems: Vec::new(),
        }
    }

    /// The duration `key` in milliseconds; a missing key is recorded and reads as 0.
    pub(crate) fn duration_ms(&mut self, key: &'static str) -> i64 {
        self.read.insert(key);
        let value = self.thresholds.get(key).zip(unit_ms(key));
        match value {
            Some((v, unit)) => i64::try_from(v).unwrap_or(i64::MAX).saturating_mul(unit),
            None => {
                let message = format!("missing, rule {} needs it", self.rule);
                self.problems.push((self.path(key), message));
                0
            }
        }
    }

    /// Like `duration_ms`, but 0 is refused: a zero stale or silence threshold would make every
    /// finding stale, or every host silent.
    pub(crate) fn positive_duration_ms(&mut self, key: &'static str) -> i64 {
        let present = self.thresholds.get(key).is_some();
        let ms = self.duration_ms(key);
        if present && ms == 0 {
            self.problems
                .push((self.path(key), "must be greater than 0".to_owned()));
        }
        ms
    }

    /// The plain number `key` (a `_count`, `_bits` or `_chars` key); a missing key is recorded and
    /// reads 0.
    pub(crate) fn number(&mut self, key: &'static str) -> u64 {
        self.read.insert(key);
        match self.thresholds.get(key) {
            Some(v) => v,
            None => {
                let message = format!("missing, rule {} needs it", self.rule);
                self.problems.push((self.path(key), message));
                0
            }
        }
    }

    /// The yes/no choice `key` (a `_flag` key, 0 or 1).
    pub(crate) fn flag(&mut self, key: &'static str) -> bool {
        let v = self.number(key);
        if v > 1 {
            self.problems
                .push((self.path(key), "must be 0 or 1".to_owned()));
        }
        v == 1
    }

    /// Records `message` against `key` unless `ok`.
    pub(crate) fn require(&mut self, ok: bool, key: &'static str, message: &str) {
        if !ok {
            self.problems.push((self.path(key), message.to_owned()));
        }
    }

    /// Ends the reading: the problems found, including keys the rule did not read.
    pub(crate) fn finish(mut self) -> Vec<(String, String)> {
        for key in self.thresholds.values.keys() {
            if !self.read.contains(key.as_str()) {
                let message = format!("not used by rule {}", self.rule);
                self.problems.push((self.path(key), message));
            }
        }
        self.problems
    }

    fn path(&self, key: &str) -> String {
        format!("thresholds.{}.{key}", self.profile)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(toml_text: &str, read: &[&'static str], expect: &str) {
        let table: toml::Table = toml_text.parse().unwrap();
        let actual = match Thresholds::from_table(Profile::Strict, &table) {
            Err(problems) => format!("{problems:?}"),
            Ok(t) => {
                let mut reader = ThresholdReader::new(Profile::Strict, "test.rule", &t);
                let values: Vec<i64> = read.iter().map(|k| reader.duration_ms(k)).collect();
                format!("{values:?} {:?}", reader.finish())
            }
        };
        assert_eq!(actual, expect);
    }

    #[test]
    fn plain_numbers() {
        let table: toml::Table = "min_length_chars = 12\nmax_deny_count = 10"
            .parse()
            .unwrap();
        let t = Thresholds::from_table(Profile::Strict, &table).unwrap();
        let mut reader = ThresholdReader::new(Profile::Strict, "test.rule", &t);
        assert_eq!(reader.number("min_length_chars"), 12);
        assert_eq!(reader.number("max_deny_count"), 10);
        assert_eq!(reader.number("other_count"), 0);
        assert_eq!(
            reader.finish(),
            [(
                "thresholds.strict.other_count".to_owned(),
                "missing, rule test.rule needs it".to_owned()
            )]
        );
    }

    #[test]
    fn units_and_problems() {
        check(
            "a_secs = 2\nb_hours = 1\nc_days = 1",
            &["a_secs", "b_hours", "c_days"],
            "[2000, 3600000, 86400000] []",
        );
        check(
            "a_secs = 2",
            &["a_secs", "b_days"],
            r#"[2000, 0] [("thresholds.strict.b_days", "missing, rule test.rule needs it")]"#,
        );
        check(
            "a_secs = 2\nz_days = 3",
            &["a_secs"],
            r#"[2000] [("thresholds.strict.z_days", "not used by rule test.rule")]"#,
        );
        check(
            "a_minutes = 2",
            &[],
            r#"[("thresholds.strict.a_minutes", "key must end with _secs, _hours, _days, _count, _bits, _chars or _flag")]"#,
        );
        check(
            "a_secs = -1\nb_secs = \"7\"",
            &[],
            r#"[("thresholds.strict.a_secs", "expected an integer from 0 to 1000000000, found -1"), ("thresholds.strict.b_secs", "expected an integer from 0 to 1000000000, found \"7\"")]"#,
        );
    }
}
