//! The checklist as data and the pure evaluator: evidence in, findings out (DESIGN decisions 18 and
//! 19). The checks live in `policies/checks/*.toml`, one file per domain, compiled into the crate;
//! each names a rule implemented in `rules/` and gives it thresholds per profile.
//!
//! This crate does no I/O and reads no clock: the collector and the CLI pass the time in. It knows
//! nothing of tokio, tonic or the store.

mod attestation;
mod catalogue;
mod contractor;
mod evaluate;
mod evidence;
mod maintenance;
mod related;
mod rules;
mod text;
mod thresholds;
mod vocabulary;
mod waiver;

#[cfg(test)]
mod testing;

pub use attestation::{Attestation, MEASURES as ATTESTATION_MEASURES, VPN_MFA};
pub use catalogue::{
    AppliesTo, Catalogue, CatalogueError, CatalogueProblem, Check, CATALOGUE_VERSION,
};
pub use contractor::{CompiledPolicy, ContractorPolicy, LoginVerdict, PolicyError};
pub use evaluate::{evaluate, Finding};
pub use evidence::{DomainEvidence, HostEvidence, HostFacts};
pub use maintenance::MaintenanceWindow;
pub use thresholds::Thresholds;
pub use vocabulary::{CheckDomain, OsFamily, Outcome, Profile, Role, Severity, UnknownName};
pub use waiver::Waiver;

#[cfg(test)]
mod tidy {
    use std::path::Path;

    /// Every `.rs` file of the crate opens with a `//!` line saying what it is for (style rule 3).
    #[test]
    fn every_file_starts_with_a_module_doc() {
        fn walk(dir: &Path, missing: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    walk(&path, missing);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    let text = std::fs::read_to_string(&path).unwrap();
                    if !text.starts_with("//! ") {
                        missing.push(path.display().to_string());
                    }
                }
            }
        }
        let mut missing = Vec::new();
        walk(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
            &mut missing,
        );
        assert_eq!(missing, Vec::<String>::new());
    }
}
