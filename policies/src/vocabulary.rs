//! The closed vocabularies of the catalogue (profiles, outcomes, severities, roles, OS families),
//! each with its one stable spelling. Not the checks themselves: see `catalogue.rs`.

use std::fmt;
use std::str::FromStr;

/// A name that is not part of one of the vocabularies below.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} {value:?}, expected one of: {expected}")]
pub struct UnknownName {
    /// Which vocabulary, e.g. `profile`.
    pub kind: &'static str,
    /// The offending text, as given.
    pub value: String,
    /// The accepted spellings, comma-separated.
    pub expected: &'static str,
}

/// Declares a closed enum with one stable lower-case spelling per variant, plus `ALL`, `as_str`,
/// `Display` and `FromStr`. A macro, not a derive crate, because the five enums only need this.
macro_rules! vocabulary {
    (
        $(#[$meta:meta])*
        $name:ident, $kind:literal, $expected:literal {
            $( $(#[$vmeta:meta])* $variant:ident => $text:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$name] = &[ $( $name::$variant, )+ ];

            /// The stable spelling used in TOML, JSON, the store and the CLI.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant => $text, )+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownName;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $( $text => Ok($name::$variant), )+
                    _ => Err(UnknownName { kind: $kind, value: s.to_owned(), expected: $expected }),
                }
            }
        }
    };
}

vocabulary! {
    /// A set of thresholds: every check defines all three (DESIGN decision 18).
    Profile, "profile", "minimal, standard, strict" {
        /// Looser thresholds, for a first deployment.
        Minimal => "minimal",
        /// The thresholds of reference/checklist.md, proposals (P) included.
        Standard => "standard",
        /// Tighter thresholds.
        Strict => "strict",
    }
}

vocabulary! {
    /// What a finding says about one check on one host (DESIGN decision 19). The set is closed:
    /// there is no "warn"; an early warning is a `Fail` with a lower severity.
    Outcome, "outcome", "pass, fail, stale, unknown, error, not_applicable, waived" {
        /// The evidence is fresh and meets the threshold.
        Pass => "pass",
        /// The evidence is fresh and does not meet the threshold.
        Fail => "fail",
        /// The newest evidence was received longer ago than the check's `stale_after_secs`.
        Stale => "stale",
        /// No evidence, or evidence that cannot decide (e.g. an unknown OS release).
        Unknown => "unknown",
        /// The newest evidence is the probe's own error.
        Error => "error",
        /// The check does not apply to this host's role or OS.
        NotApplicable => "not_applicable",
        /// A failure covered by an unexpired waiver.
        Waived => "waived",
    }
}

vocabulary! {
    /// How bad a failure is (reference/checklist.md §6). Ordered: `Low < Medium < High < Critical`.
    Severity, "severity", "low, medium, high, critical" {
        /// Hygiene or information.
        Low => "low",
        /// Weak configuration.
        Medium => "medium",
        /// A core control is missing.
        High => "high",
        /// Direct data-loss or ransomware exposure, or an ANSSI "minimal" item fails.
        Critical => "critical",
    }
}

vocabulary! {
    /// What a host is for, as declared in the agent's configuration.
    Role, "role", "server, workstation, laptop" {
        /// Always on; silence is an alert.
        Server => "server",
        /// Desk machine, usually off at night.
        Workstation => "workstation",
        /// Leaves the building.
        Laptop => "laptop",
    }
}

vocabulary! {
    /// The operating-system family a check knows how to judge and explain.
    OsFamily, "OS family", "linux, windows" {
        /// Any Linux distribution (`os_id` other than `windows`).
        Linux => "linux",
        /// Windows (agent planned).
        Windows => "windows",
    }
}

vocabulary! {
    /// The catalogue domain of a check: one TOML file each under `policies/checks/`.
    CheckDomain, "domain", "patches, agent, ssh, accounts, auth, antivirus, backups, fim" {
        /// Pending updates, automatic updates, reboots, end of life (evidence domain `PATCHES`).
        Patches => "patches",
        /// The agent's own health as the collector sees it (no evidence domain).
        Agent => "agent",
        /// The SSH server's effective settings and host keys (evidence domain `SSH_SERVER`).
        Ssh => "ssh",
        /// Accounts, administrators, sudoers, idle accounts (evidence domain `ACCOUNTS`).
        Accounts => "accounts",
        /// Password quality, lockout, expiry and hash policy (evidence domain `AUTH_POLICY`).
        Auth => "auth",
        /// Antivirus engines, signatures, on-access scanning, detections (evidence domain `ANTIVIRUS`).
        Antivirus => "antivirus",
        /// Backup jobs: last success, failures, places, offline copy, restore tests, protection
        /// (evidence domain `BACKUPS`, also built by the collector from HTTPS pings).
        Backups => "backups",
        /// File integrity: baseline, realtime watching, changes, tamper evidence (evidence domain
        /// `FILE_INTEGRITY`, with the collector's view of events and digests).
        Fim => "fim",
    }
}

impl OsFamily {
    /// The family of an `Inventory.os_id` (`debian`, `ubuntu`, `rhel`, `windows`...), or `None` when
    /// the inventory does not say.
    pub fn from_os_id(os_id: &str) -> Option<OsFamily> {
        match os_id.trim() {
            "" => None,
            "windows" => Some(OsFamily::Windows),
            _ => Some(OsFamily::Linux),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check<T: FromStr<Err = UnknownName> + fmt::Display + Copy>(all: &[T]) {
        for v in all {
            let text = v.to_string();
            let back: T = match text.parse() {
                Ok(back) => back,
                Err(e) => panic!("{text} does not parse back: {e}"),
            };
            assert_eq!(back.to_string(), text);
        }
    }

    #[test]
    fn every_name_round_trips() {
        check(Profile::ALL);
        check(Outcome::ALL);
        check(Severity::ALL);
        check(Role::ALL);
        check(OsFamily::ALL);
        check(CheckDomain::ALL);
    }

    #[test]
    fn outcome_spellings_are_those_of_decision_19() {
        let all: Vec<&str> = Outcome::ALL.iter().map(|o| o.as_str()).collect();
        assert_eq!(
            all,
            [
                "pass",
                "fail",
                "stale",
                "unknown",
                "error",
                "not_applicable",
                "waived"
            ]
        );
    }

    #[test]
    fn unknown_names_are_refused_with_the_accepted_list() {
        let err = "Standard".parse::<Profile>().unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"unknown profile "Standard", expected one of: minimal, standard, strict"#
        );
        assert!(Severity::Low < Severity::Critical);
        assert_eq!(OsFamily::from_os_id("debian"), Some(OsFamily::Linux));
        assert_eq!(OsFamily::from_os_id("windows"), Some(OsFamily::Windows));
        assert_eq!(OsFamily::from_os_id(""), None);
    }
}
