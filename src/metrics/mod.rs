//! Metrics: counters kept by the reactor ([`stats`]), readable from any thread, and the
//! Prometheus endpoint that serves them ([`exporter`], over the bounded HTTP server in
//! [`http`]).

pub mod exporter;
pub mod http;
pub mod stats;
