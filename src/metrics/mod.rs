//! Metrics: counters kept by the reactor ([`stats`]), readable from any thread.

pub mod stats;
