//! The one-shot modes that are not a single command: `--scan`, `--bigkeys`/`--memkeys`,
//! `--pipe`, `--latency`/`--latency-history` and `--stat`, each printing what redis-cli 7.0
//! prints for the same mode.

pub mod bigkeys;
pub mod latency;
pub mod pipe;
pub mod scan;
pub mod stat;

use crate::conn::{Connection, describe};
use crate::reply::Reply;

/// redis-cli's output setting, which these modes follow: the terminal form on a terminal
/// (or with `--no-raw`), raw otherwise (or with `--raw`), or `--csv`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    Standard,
    Raw,
    Csv,
}

/// Sends one command and returns its reply; an I/O failure is the message redis-cli prints
/// for it in these modes.
pub fn call(conn: &mut Connection, args: &[&[u8]]) -> Result<Reply, String> {
    let args: Vec<Vec<u8>> = args.iter().map(|a| a.to_vec()).collect();
    conn.call(&args)
        .map_err(|e| format!("\nI/O error: {}", describe(&e)))
}

/// Sleeps `seconds` (nothing for 0).
pub fn pause(seconds: f64) {
    if seconds > 0.0 {
        std::thread::sleep(std::time::Duration::from_secs_f64(seconds));
    }
}
