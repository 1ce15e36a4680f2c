//! Networking: the mio event loop ([`reactor`]) and per-connection buffers ([`conn`]).

pub mod conn;
pub mod reactor;

pub use reactor::Server;
