//! The Vigie wire contract: generated protobuf messages and gRPC stubs for package `vigie.v1`, the size
//! limits both sides enforce, and the signed-report envelope (DESIGN decision 9).
//!
//! This is the only crate that both the agent and the collector depend on. It holds no I/O but the
//! `stat` of the permission checks both binaries share (`perms`, with the client or server feature).

#[cfg(any(feature = "client", feature = "server"))]
pub mod diag;
pub mod envelope;
pub mod json;
pub mod limits;
#[cfg(any(feature = "client", feature = "server"))]
pub mod perms;
#[cfg(any(feature = "client", feature = "server"))]
pub mod pin;
mod wire_compat;

/// Generated types of package `vigie.v1` (prost messages, tonic stubs, pbjson serde impls).
#[allow(
    clippy::all,
    clippy::pedantic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]
#[allow(clippy::indexing_slicing, missing_docs, unreachable_pub)]
pub mod v1 {
    include!(concat!(env!("OUT_DIR"), "/vigie.v1.rs"));
    include!(concat!(env!("OUT_DIR"), "/vigie.v1.serde.rs"));
}

/// The encoded `FileDescriptorSet` of the whole package, for reflection and wire-compatibility tests.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/vigie_descriptor.bin"));

/// Version of the evidence format carried in `Report.format_version` and in `check --json`.
pub const EVIDENCE_FORMAT_VERSION: u32 = 1;

pub use prost::Message;
