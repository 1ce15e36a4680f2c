//! rust-keyval: a Redis-compatible in-memory key-value server.
//!
//! The data path, in module order: [`net`] (mio reactor, sockets, buffers) ->
//! [`resp`] (incremental RESP parsing, reply encoding) -> [`cmd`] (command table and one
//! module per command family) -> [`store`] (databases, values, expiry wheel).
//! [`metrics`] sits beside them. See ARCHITECTURE.md for the why.

pub mod alloc;
pub mod clock;
pub mod cmd;
pub mod config;
pub mod logging;
pub mod longdouble;
pub mod metrics;
pub mod net;
pub mod persist;
pub mod pubsub;
pub mod resp;
pub mod script;
pub mod store;
pub mod tracking;
pub mod util;
