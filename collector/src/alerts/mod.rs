//! Alerts: the lifecycle driven by finding transitions, their durable queue, and the sinks that deliver them.

pub mod sink;
