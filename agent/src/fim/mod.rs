//! File integrity monitoring: a baseline of every watched path (SHA-256 of every byte and the
//! `lstat` facts) in the agent's own sled store, a rescan that re-hashes only what moved, a slower
//! full re-hash, realtime changes through inotify, and events that coalesce per path while the outbox
//! is busy. See DESIGN.md §4 (file integrity) and `fim.proto` for the evidence.

pub mod config;
pub mod diff;
mod dpkg;
pub mod events;
pub mod hash;
pub mod merkle;
mod prio;
pub mod probe;
pub mod realtime;
pub mod record;
pub mod redact;
pub mod scan;
pub mod sink;
pub mod store;
#[cfg(test)]
mod tests;
pub mod walk;
mod worker;

pub use config::{FimConfig, WatchPath};
pub use worker::{report, spawn, FimError, FimHandle, STATUS_FILE};
