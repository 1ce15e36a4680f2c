//! Metrics: counters kept by the reactor ([`stats`]), readable from any thread, and the
//! Prometheus endpoint that serves them ([`exporter`]).

pub mod exporter;
pub mod stats;
