//! End-to-end tests of Vigie: one binary, one module per capability, a shared harness.

mod harness;
mod pipeline;
mod supply_chain;
