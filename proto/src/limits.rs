//! Size limits of the wire format, fixed here so that the agent, the collector and the fuzz targets
//! agree on them. A report larger than `MAX_REPORT_BODY_BYTES` must be split into chunks by the agent.

/// Largest encoded `Report` body a signed report may carry.
pub const MAX_REPORT_BODY_BYTES: usize = 1024 * 1024;

/// Largest encoded `ReportHeader`.
pub const MAX_HEADER_BYTES: usize = 512;

/// Ed25519 signature length.
pub const SIGNATURE_BYTES: usize = 64;

/// Most reports in one `Submit` batch.
pub const MAX_BATCH_REPORTS: usize = 64;

/// Largest gRPC message either side decodes: a full batch of full reports plus framing.
pub const MAX_GRPC_MESSAGE_BYTES: usize = 8 * 1024 * 1024;

/// Largest enrollment message (token, key, proof, a hostname).
pub const MAX_ENROLL_MESSAGE_BYTES: usize = 16 * 1024;

/// Longest host id accepted in a header (a UUID is 36 characters).
pub const MAX_HOST_ID_BYTES: usize = 64;
