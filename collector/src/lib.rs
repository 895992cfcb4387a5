//! The Vigie collector: enrollment CA, mutual-TLS ingest of signed reports, the durable store, derived
//! state and findings, and the admin commands. `main.rs` only parses the command line.

pub mod admin;
pub mod alerts;
pub mod archive_admin;
pub mod attestation;
pub mod backup;
pub mod clock;
pub mod config;
pub mod contractor_logins;
pub mod datadir;
pub mod derive;
pub mod doctor;
pub mod evaluate;
pub mod fim;
pub mod https;
pub mod maintenance;
pub mod perms;
pub mod ping;
pub mod pki;
pub mod sdnotify;
pub mod server;
pub mod snapshot;
pub mod store;
pub mod tls;
pub mod waiver;
