//! End-to-end tests of Vigie: one binary, one module per capability, a shared harness.

// Test code: a failed unwrap is a failed test, which is what we want here.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod accounts;
mod alert_sinks;
mod alerts;
mod antivirus;
mod attestations;
mod audit_groups;
mod auth;
mod backup_verify;
mod backups;
mod backups_e2e;
mod contractors;
mod doctor;
mod durability;
mod fim;
mod fim_diff;
mod fim_faults;
mod fim_host;
mod fim_maintenance;
mod harness;
mod install;
mod limits;
mod packaging;
mod perms;
mod ping;
mod pipeline;
mod privsep;
mod restore;
mod security;
mod snapshot_exports;
mod snapshots;
mod ssh;
mod supply_chain;
mod tidy;
