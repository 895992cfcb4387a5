//! Shared harness helpers live in `it/harness.rs`; this library is intentionally empty.
