//! Shared code of the `tester`, `stress`, `loadtest` and `pubsub` binaries: a RESP2 client
//! ([`resp`], [`client`]), the settings every tool reads from environment variables or flags
//! ([`settings`]), and a small deterministic random generator ([`rng`]).
//!
//! The tools speak to the server only over TCP, so they work against any RESP2 server
//! (rust-keyval or redis-server) and never link the server's code.

pub mod client;
pub mod resp;
pub mod rng;
pub mod scripts;
pub mod settings;
