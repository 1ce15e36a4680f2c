//! Server statistics: written by the reactor thread only, read by INFO and by the metrics
//! thread.
//!
//! Every counter is an `AtomicU64` with exactly one writer (the reactor). The writer
//! updates with a relaxed load and store ([`bump`]), which compiles to plain `mov`s: no
//! lock prefix, no lock, no allocation, no label lookup on the hot path. Readers on
//! other threads always see whole, recent values, so there is nothing to "publish".
//!
//! The cargo feature `bench-no-metrics` turns [`bump`], [`set`] and
//! [`CommandStats::record`] into no-ops. It exists only to measure what recording costs
//! (README, Monitoring); a server built with it reports zeros.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Instant;

/// Upper bounds (seconds) of the command latency histogram: sized for microsecond commands.
/// Most commands take well under 5 us inside the server, so 1 and 2.5 us bounds give their
/// p50/p95 a meaning (with 5 us first, nearly everything lands in one bucket).
pub const LATENCY_BUCKETS: [f64; 19] = [
    0.000_001,
    0.000_002_5,
    0.000_005,
    0.000_01,
    0.000_025,
    0.000_05,
    0.000_1,
    0.000_25,
    0.000_5,
    0.001,
    0.002_5,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
];

/// The same bounds in nanoseconds, for the hot path.
const LATENCY_BUCKETS_NS: [u64; 19] = [
    1_000,
    2_500,
    5_000,
    10_000,
    25_000,
    50_000,
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
];

/// Adds `n` to a single-writer counter. Only the reactor thread may call this.
#[inline(always)]
pub fn bump(counter: &AtomicU64, n: u64) {
    #[cfg(not(feature = "bench-no-metrics"))]
    counter.store(counter.load(Relaxed).wrapping_add(n), Relaxed);
    #[cfg(feature = "bench-no-metrics")]
    let _ = (counter, n);
}

/// Sets a single-writer gauge.
#[inline(always)]
pub fn set(gauge: &AtomicU64, v: u64) {
    #[cfg(not(feature = "bench-no-metrics"))]
    gauge.store(v, Relaxed);
    #[cfg(feature = "bench-no-metrics")]
    let _ = (gauge, v);
}

/// Reads a counter or gauge (any thread).
#[inline(always)]
pub fn get(c: &AtomicU64) -> u64 {
    c.load(Relaxed)
}

/// Calls, errors and latency of one command.
#[derive(Debug, Default)]
pub struct CommandStats {
    /// Times the command ran (or, for the unknown slot, was rejected as unknown).
    pub calls: AtomicU64,
    /// Calls that replied with an error.
    pub errors: AtomicU64,
    /// Total latency in nanoseconds.
    pub latency_ns: AtomicU64,
    /// Non-cumulative histogram counts, one per bound of [`LATENCY_BUCKETS`], plus +Inf.
    pub buckets: [AtomicU64; LATENCY_BUCKETS.len() + 1],
}

impl CommandStats {
    /// Records one call that took `ns` nanoseconds.
    #[inline]
    pub fn record(&self, ns: u64, error: bool) {
        if cfg!(feature = "bench-no-metrics") {
            return;
        }
        bump(&self.calls, 1);
        bump(&self.latency_ns, ns);
        if error {
            bump(&self.errors, 1);
        }
        let i = LATENCY_BUCKETS_NS
            .iter()
            .position(|&b| ns <= b)
            .unwrap_or(LATENCY_BUCKETS_NS.len());
        bump(&self.buckets[i], 1);
    }

    /// A snapshot of the histogram, read bucket by bucket (any thread): the cumulative
    /// count at each bound of [`LATENCY_BUCKETS`], and the total (the +Inf bucket).
    ///
    /// The total is the sum of the buckets rather than `calls`, so the histogram is
    /// consistent in itself even when read while the reactor is recording a call.
    pub fn cumulative_buckets(&self) -> ([u64; LATENCY_BUCKETS.len()], u64) {
        let mut cumulative = [0; LATENCY_BUCKETS.len()];
        let mut total = 0u64;
        for (i, bucket) in self.buckets.iter().enumerate() {
            total = total.wrapping_add(get(bucket));
            if let Some(c) = cumulative.get_mut(i) {
                *c = total;
            }
        }
        (cumulative, total)
    }

    fn reset(&self) {
        set(&self.calls, 0);
        set(&self.errors, 0);
        set(&self.latency_ns, 0);
        for b in &self.buckets {
            set(b, 0);
        }
    }
}

/// Every statistic the server keeps.
#[derive(Debug)]
pub struct Stats {
    /// Per command, indexed by command id; the last slot counts unknown commands.
    pub commands: Box<[CommandStats]>,
    /// Canonical upper-case names matching `commands` (the last is "unknown").
    pub command_names: Box<[String]>,
    /// Clients connected now.
    pub connected_clients: AtomicU64,
    /// Connections accepted since start.
    pub connections_received: AtomicU64,
    /// Connections refused (maxclients).
    pub rejected_connections: AtomicU64,
    /// Requests that broke the protocol.
    pub protocol_errors: AtomicU64,
    /// Bytes read from clients.
    pub net_input_bytes: AtomicU64,
    /// Bytes written to clients.
    pub net_output_bytes: AtomicU64,
    /// Successful key lookups by read commands.
    pub keyspace_hits: AtomicU64,
    /// Failed key lookups by read commands.
    pub keyspace_misses: AtomicU64,
    /// Keys removed because their TTL passed (published each loop turn).
    pub expired_keys: AtomicU64,
    /// Keys in all databases (published each loop turn).
    pub keys: AtomicU64,
    /// Keys with a TTL in all databases (published each loop turn).
    pub keys_with_expiry: AtomicU64,
    /// Keys per database, and keys with a TTL per database (for INFO keyspace).
    pub db_keys: Box<[(AtomicU64, AtomicU64)]>,
    /// Bytes allocated by the process, from the counting allocator (0 if not installed).
    pub used_memory: AtomicU64,
    /// Unix time (s) the server started.
    pub start_time: u64,
    /// When the server started, for uptime.
    pub started: Instant,
}

impl Stats {
    /// Statistics for the given command names (canonical upper case) and databases.
    pub fn new(command_names: Vec<String>, databases: usize) -> Stats {
        let mut names = command_names;
        names.push("unknown".to_string());
        Stats {
            commands: names.iter().map(|_| CommandStats::default()).collect(),
            command_names: names.into_boxed_slice(),
            connected_clients: AtomicU64::new(0),
            connections_received: AtomicU64::new(0),
            rejected_connections: AtomicU64::new(0),
            protocol_errors: AtomicU64::new(0),
            net_input_bytes: AtomicU64::new(0),
            net_output_bytes: AtomicU64::new(0),
            keyspace_hits: AtomicU64::new(0),
            keyspace_misses: AtomicU64::new(0),
            expired_keys: AtomicU64::new(0),
            keys: AtomicU64::new(0),
            keys_with_expiry: AtomicU64::new(0),
            db_keys: (0..databases)
                .map(|_| (AtomicU64::new(0), AtomicU64::new(0)))
                .collect(),
            used_memory: AtomicU64::new(0),
            start_time: crate::util::now_ms() / 1000,
            started: Instant::now(),
        }
    }

    /// The slot counting unknown commands.
    pub fn unknown(&self) -> &CommandStats {
        &self.commands[self.commands.len() - 1]
    }

    /// Seconds since the server started.
    pub fn uptime_seconds(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// CONFIG RESETSTAT: zeroes the counters (gauges keep their values).
    pub fn reset(&self) {
        for c in self.commands.iter() {
            c.reset();
        }
        for c in [
            &self.connections_received,
            &self.rejected_connections,
            &self.protocol_errors,
            &self.net_input_bytes,
            &self.net_output_bytes,
            &self.keyspace_hits,
            &self.keyspace_misses,
        ] {
            set(c, 0);
        }
    }
}

// Recording is compiled out with `bench-no-metrics`, so these tests need it on.
#[cfg(all(test, not(feature = "bench-no-metrics")))]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets() {
        let s = CommandStats::default();
        s.record(1_000, false); // <= 1 us
        s.record(5_000, false); // <= 5 us
        s.record(7_000, true); // <= 10 us
        s.record(2_000_000_000, false);
        assert_eq!(get(&s.calls), 4);
        assert_eq!(get(&s.errors), 1);
        assert_eq!(get(&s.buckets[0]), 1);
        assert_eq!(get(&s.buckets[1]), 0);
        assert_eq!(get(&s.buckets[2]), 1);
        assert_eq!(get(&s.buckets[3]), 1);
        assert_eq!(get(&s.buckets[LATENCY_BUCKETS.len()]), 1);
        assert_eq!(get(&s.latency_ns), 2_000_013_000);
    }

    #[test]
    fn cumulative_snapshot() {
        let s = CommandStats::default();
        s.record(1_000, false); // <= 1 us
        s.record(30_000, false); // <= 50 us
        s.record(30_000, false);
        s.record(2_000_000_000, false); // > 1 s: only in +Inf
        let (cumulative, total) = s.cumulative_buckets();
        assert_eq!(total, 4);
        assert_eq!(cumulative[0], 1);
        assert_eq!(cumulative[4], 1); // <= 25 us
        assert_eq!(cumulative[5], 3); // <= 50 us
        assert_eq!(cumulative[LATENCY_BUCKETS.len() - 1], 3); // <= 1 s
        assert!(cumulative.windows(2).all(|w| w[0] <= w[1]));
    }
}
