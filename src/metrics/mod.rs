//! Metrics: counters kept by the reactor ([`stats`]) and what its cron copies out
//! ([`published`]), readable from any thread, and the endpoint that serves them
//! ([`exporter`], over the bounded HTTP server in [`http`]): Prometheus text with our names
//! and optionally redis_exporter's ([`redis_exporter`]), and the live console ([`console`]).

pub mod console;
pub mod exporter;
pub mod http;
pub mod published;
pub mod redis_exporter;
pub mod stats;
