//! End-to-end tests of Vigie: one binary, modules per capability, a shared harness.
