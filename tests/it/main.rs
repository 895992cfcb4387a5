//! End-to-end tests of Vigie: one binary, one module per capability, a shared harness.

// Test code: a failed unwrap is a failed test, which is what we want here.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod accounts;
mod antivirus;
mod auth;
mod backup_verify;
mod backups;
mod contractors;
mod durability;
mod harness;
mod limits;
mod packaging;
mod ping;
mod pipeline;
mod security;
mod snapshots;
mod ssh;
mod supply_chain;
mod tidy;
