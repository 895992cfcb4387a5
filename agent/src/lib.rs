//! The Vigie agent: read-only probes, signed reports, the durable outbox and the gRPC shipper.
//! It dials out and never listens; the collector can only acknowledge (DESIGN decisions 1 and 2).

pub mod check;
pub mod config;
pub mod doctor;
pub mod enroll;
pub mod fim;
pub mod identity;
pub mod memory;
pub mod perms;
pub mod probe;
pub mod run;
pub mod ship;
pub mod spool;
pub mod tlsclient;

/// The system clock in milliseconds since the Unix epoch (UTC). Library code below `run` takes time
/// as an argument; this is the one place that reads it.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
