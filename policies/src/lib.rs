//! The checklist as data and the pure evaluator: evidence in, findings out (DESIGN decisions 18 and
//! 19). The checks live in `policies/checks/*.toml`, one file per domain, compiled into the crate;
//! each names a rule implemented in `rules/` and gives it thresholds per profile.
//!
//! This crate does no I/O and reads no clock: the collector and the CLI pass the time in. It knows
//! nothing of tokio, tonic or the store.

mod catalogue;
mod evaluate;
mod evidence;
mod rules;
mod text;
mod thresholds;
mod vocabulary;
mod waiver;

#[cfg(test)]
mod testing;

pub use catalogue::{
    AppliesTo, Catalogue, CatalogueError, CatalogueProblem, Check, CATALOGUE_VERSION,
};
pub use evaluate::{evaluate, Finding};
pub use evidence::{DomainEvidence, HostEvidence, HostFacts};
pub use thresholds::Thresholds;
pub use vocabulary::{CheckDomain, OsFamily, Outcome, Profile, Role, Severity, UnknownName};
pub use waiver::Waiver;
