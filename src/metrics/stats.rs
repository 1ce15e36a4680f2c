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

use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, fence};
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

/// Upper bounds (nanoseconds) of [`Stats::blocked_wait`]: a blocked client may wait from
/// microseconds (the push came right after) to minutes, so the bounds run from 100 us to
/// 5 min.
pub const BLOCKED_WAIT_BUCKETS_NS: [u64; 19] = [
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
    2_500_000_000,
    5_000_000_000,
    10_000_000_000,
    30_000_000_000,
    60_000_000_000,
    300_000_000_000,
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

/// Calls, failures, refusals and latency of one command or subcommand (Redis's
/// `commandstats`).
#[derive(Debug, Default)]
pub struct CommandStats {
    /// Times the command ran (Redis's `calls`).
    pub calls: AtomicU64,
    /// Runs that replied with an error (Redis's `failed_calls`).
    pub failed: AtomicU64,
    /// Requests refused before running: wrong arity, not authenticated, not allowed inside
    /// MULTI; for the unknown slot, unknown commands and subcommands (Redis's
    /// `rejected_calls`).
    pub rejected: AtomicU64,
    /// Total latency of the runs, in nanoseconds.
    pub latency_ns: AtomicU64,
    /// Non-cumulative histogram counts of the runs, one per bound of [`LATENCY_BUCKETS`],
    /// plus +Inf.
    pub buckets: [AtomicU64; LATENCY_BUCKETS.len() + 1],
    /// Non-cumulative counts per power-of-two level of [`LOG2_LEVELS`] (LATENCY HISTOGRAM).
    pub log2: [AtomicU64; LOG2_LEVELS.len()],
}

/// The levels of LATENCY HISTOGRAM, as Redis reads its HDR histogram (nanoseconds, two
/// significant digits) with a logarithmic iterator from 1024 ns, base 2: level `k` counts
/// the runs up to the highest value equivalent to `1024 << k` ns (that value plus its
/// sub-bucket's width, 1/128 of it, minus one), and is labelled with that bound in whole
/// microseconds. Runs are clamped to 1 ns..1 s as Redis records them. `(bound_ns, label_us)`.
pub const LOG2_LEVELS: [(u64, u64); 21] = {
    let mut levels = [(0, 0); 21];
    let mut k = 0;
    while k < levels.len() {
        let level = 1024u64 << k;
        let bound = level + level / 128 - 1;
        levels[k] = (bound, bound / 1000);
        k += 1;
    }
    levels
};

/// The level of [`LOG2_LEVELS`] a run of `ns` nanoseconds counts in.
#[inline]
pub fn log2_level(ns: u64) -> usize {
    let v = ns.clamp(1, 1_000_000_000);
    if v <= LOG2_LEVELS[0].0 {
        return 0;
    }
    let k = 63 - (v >> 10).leading_zeros() as usize;
    if v <= LOG2_LEVELS[k].0 { k } else { k + 1 }
}

impl CommandStats {
    /// Records one run that took `ns` nanoseconds; `failed` when it replied with an error.
    #[inline]
    pub fn record(&self, ns: u64, failed: bool) {
        if cfg!(feature = "bench-no-metrics") {
            return;
        }
        bump(&self.calls, 1);
        bump(&self.latency_ns, ns);
        if failed {
            bump(&self.failed, 1);
        }
        let i = LATENCY_BUCKETS_NS
            .iter()
            .position(|&b| ns <= b)
            .unwrap_or(LATENCY_BUCKETS_NS.len());
        bump(&self.buckets[i], 1);
    }

    /// Records a run in the LATENCY HISTOGRAM levels (only with `latency-tracking yes`).
    #[inline]
    pub fn record_level(&self, ns: u64) {
        bump(&self.log2[log2_level(ns)], 1);
    }

    /// The LATENCY HISTOGRAM counts per level of [`LOG2_LEVELS`] (not cumulative).
    pub fn log2_counts(&self) -> [u64; LOG2_LEVELS.len()] {
        std::array::from_fn(|i| get(&self.log2[i]))
    }

    /// Runs in the LATENCY HISTOGRAM levels.
    pub fn log2_total(&self) -> u64 {
        self.log2.iter().map(get).sum()
    }

    /// Records a request refused before running (no run, so no latency).
    #[inline]
    pub fn reject(&self) {
        bump(&self.rejected, 1);
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

    /// Latency percentiles in microseconds (INFO latencystats), None before the first run.
    ///
    /// An approximation: Redis reads an HDR histogram with two significant digits, we
    /// have the coarse buckets of [`LATENCY_BUCKETS`]. The value reported for a
    /// percentile is the upper bound of the bucket that holds it (as HDR reports the
    /// highest value of its sub-bucket), so it may overstate the latency by up to the
    /// bucket's width (2.5x at most); runs over 1 s report 1 s, where Redis's histogram
    /// stops too. The rank is HDR's: `percentile / 100 * count`, rounded, at least 1.
    pub fn latency_percentiles_us(&self, percentiles: &[f64]) -> Option<Vec<f64>> {
        let (cumulative, total) = self.cumulative_buckets();
        if total == 0 {
            return None;
        }
        let value = |p: f64| {
            let rank = ((p / 100.0 * total as f64 + 0.5) as u64).clamp(1, total);
            cumulative
                .iter()
                .position(|&c| c >= rank)
                .map_or(1e6, |i| LATENCY_BUCKETS[i] * 1e6)
        };
        Some(percentiles.iter().map(|&p| value(p)).collect())
    }

    fn reset(&self) {
        for c in [&self.calls, &self.failed, &self.rejected, &self.latency_ns] {
            set(c, 0);
        }
        for b in self.buckets.iter().chain(&self.log2) {
            set(b, 0);
        }
    }
}

/// A latency histogram outside the per-command statistics (pub/sub delivery, blocked
/// waits): non-cumulative counts per bound plus +Inf, and the sum, single-writer like the
/// rest.
#[derive(Debug)]
pub struct Histogram {
    /// Upper bounds in nanoseconds, ascending.
    bounds_ns: &'static [u64],
    /// Total of the observations, in nanoseconds.
    sum_ns: AtomicU64,
    /// One count per bound, then +Inf.
    buckets: Box<[AtomicU64]>,
}

impl Histogram {
    /// An empty histogram with these upper bounds (nanoseconds, ascending).
    pub fn new(bounds_ns: &'static [u64]) -> Histogram {
        Histogram {
            bounds_ns,
            sum_ns: AtomicU64::new(0),
            buckets: (0..=bounds_ns.len()).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// Records `n` observations of `ns` nanoseconds each. Only the reactor thread may call
    /// this.
    #[inline]
    pub fn record_n(&self, ns: u64, n: u64) {
        if cfg!(feature = "bench-no-metrics") {
            return;
        }
        let i = self
            .bounds_ns
            .iter()
            .position(|&b| ns <= b)
            .unwrap_or(self.bounds_ns.len());
        bump(&self.buckets[i], n);
        bump(&self.sum_ns, ns.saturating_mul(n));
    }

    /// The upper bounds in seconds, as Prometheus writes them.
    pub fn bounds_seconds(&self) -> impl Iterator<Item = f64> + '_ {
        self.bounds_ns.iter().map(|&b| b as f64 / 1e9)
    }

    /// The cumulative count at each bound, and the total (the +Inf bucket), read bucket
    /// by bucket (any thread): as for [`CommandStats::cumulative_buckets`], the total is
    /// the sum of the buckets, so the snapshot is consistent in itself.
    pub fn cumulative_buckets(&self) -> (Vec<u64>, u64) {
        let mut cumulative = Vec::with_capacity(self.bounds_ns.len());
        let mut total = 0u64;
        for (i, bucket) in self.buckets.iter().enumerate() {
            total = total.wrapping_add(get(bucket));
            if i < self.bounds_ns.len() {
                cumulative.push(total);
            }
        }
        (cumulative, total)
    }

    /// Total of the observations, in nanoseconds.
    pub fn sum_ns(&self) -> u64 {
        get(&self.sum_ns)
    }
}

/// At most this many distinct error codes are counted (Redis's `ERROR_STATS_NUMBER`).
pub const ERROR_CODES_MAX: usize = 128;

/// The one code left once more than [`ERROR_CODES_MAX`] were seen.
pub const ERRORSTATS_DISABLED: &[u8] = b"ERRORSTATS_DISABLED";

/// Longest code kept: Redis looks for the space ending the code within an error's first
/// 32 bytes, the leading `-` included, so a code has at most 30 bytes.
const CODE_MAX: usize = 32;

/// One error code and its count.
#[derive(Debug, Default)]
struct ErrorSlot {
    /// The code's bytes, little-endian in four words.
    name: [AtomicU64; CODE_MAX / 8],
    len: AtomicU64,
    count: AtomicU64,
}

impl ErrorSlot {
    fn is(&self, words: &[u64; CODE_MAX / 8], len: usize) -> bool {
        get(&self.len) == len as u64 && self.name.iter().zip(words).all(|(a, &w)| get(a) == w)
    }

    fn name(&self) -> Vec<u8> {
        let mut bytes: Vec<u8> = self
            .name
            .iter()
            .flat_map(|w| get(w).to_le_bytes())
            .collect();
        bytes.truncate((get(&self.len) as usize).min(CODE_MAX));
        bytes
    }
}

fn pack(code: &[u8]) -> [u64; CODE_MAX / 8] {
    let mut words = [0u64; CODE_MAX / 8];
    for (i, chunk) in code.chunks(8).enumerate().take(words.len()) {
        let mut w = [0u8; 8];
        w[..chunk.len()].copy_from_slice(chunk);
        words[i] = u64::from_le_bytes(w);
    }
    words
}

/// Error replies counted by error code, the first word of the error (`ERR`, `WRONGTYPE`),
/// as Redis's `errorstats` keeps them.
///
/// The reactor is the only writer, and it writes only when it sends an error reply.
/// Lock-free like the other statistics: a code is written into a free slot before the
/// slot count is published (release/acquire). Slots are reused only after a clear (CONFIG
/// RESETSTAT, or the flood below), which bumps a sequence number, so a reader on another
/// thread retries instead of seeing a half-written code.
///
/// Redis 7.0 keeps any number of codes. Redis 7.2 caps them at 128: one more clears them
/// all, leaves the single code `ERRORSTATS_DISABLED` with count 1, and counts nothing more
/// by code until CONFIG RESETSTAT (`total_error_replies` goes on). We take 7.2's cap, so
/// the table is bounded; our own error codes are a few dozen at most, so it is reached only
/// through codes chosen by clients.
#[derive(Debug)]
pub struct ErrorCounts {
    /// Odd while a clear is under way; changes with every clear.
    seq: AtomicU64,
    used: AtomicUsize,
    disabled: AtomicBool,
    slots: Box<[ErrorSlot]>,
}

impl Default for ErrorCounts {
    fn default() -> ErrorCounts {
        ErrorCounts {
            seq: AtomicU64::new(0),
            used: AtomicUsize::new(0),
            disabled: AtomicBool::new(false),
            slots: (0..ERROR_CODES_MAX).map(|_| ErrorSlot::default()).collect(),
        }
    }
}

impl ErrorCounts {
    /// Counts one error reply with this code. Only the reactor thread may call this.
    pub fn record(&self, code: &[u8]) {
        if cfg!(feature = "bench-no-metrics") || self.disabled.load(Relaxed) {
            return;
        }
        let code = &code[..code.len().min(CODE_MAX)];
        let words = pack(code);
        let used = self.used.load(Relaxed);
        if let Some(slot) = self.slots[..used].iter().find(|s| s.is(&words, code.len())) {
            bump(&slot.count, 1);
            return;
        }
        if used == ERROR_CODES_MAX {
            let codes: Vec<String> = self
                .snapshot()
                .iter()
                .map(|(c, n)| format!("{}={n}", String::from_utf8_lossy(c)))
                .collect();
            log::warn!(
                "errorstats stopped counting error codes: more than {ERROR_CODES_MAX} different codes; until CONFIG RESETSTAT INFO shows only ERRORSTATS_DISABLED. The codes were: {}",
                codes.join(" ")
            );
            self.clear();
            self.disabled.store(true, Relaxed);
            self.push(&pack(ERRORSTATS_DISABLED), ERRORSTATS_DISABLED.len());
            return;
        }
        self.push(&words, code.len());
    }

    fn push(&self, words: &[u64; CODE_MAX / 8], len: usize) {
        let i = self.used.load(Relaxed);
        let slot = &self.slots[i];
        for (a, &w) in slot.name.iter().zip(words) {
            set(a, w);
        }
        set(&slot.len, len as u64);
        set(&slot.count, 1);
        self.used.store(i + 1, Release);
    }

    /// Forgets every code (CONFIG RESETSTAT). Only the reactor thread may call this.
    pub fn clear(&self) {
        let seq = self.seq.load(Relaxed);
        self.seq.store(seq + 1, Relaxed);
        // Slots rewritten after this fence are seen by a reader only together with the
        // odd sequence number, so the reader retries.
        fence(Release);
        self.used.store(0, Relaxed);
        self.disabled.store(false, Relaxed);
        self.seq.store(seq + 2, Release);
    }

    /// True once the codes overflowed (until the next clear).
    pub fn disabled(&self) -> bool {
        self.disabled.load(Relaxed)
    }

    /// The codes and their counts, in byte order (Redis keeps them in a radix tree), from
    /// any thread.
    pub fn snapshot(&self) -> Vec<(Vec<u8>, u64)> {
        loop {
            let seq = self.seq.load(Acquire);
            let used = self.used.load(Acquire).min(ERROR_CODES_MAX);
            let mut codes: Vec<(Vec<u8>, u64)> = self.slots[..used]
                .iter()
                .map(|s| (s.name(), get(&s.count)))
                .collect();
            fence(Acquire);
            if seq.is_multiple_of(2) && self.seq.load(Relaxed) == seq {
                codes.sort();
                return codes;
            }
            std::hint::spin_loop();
        }
    }
}

/// Every statistic the server keeps.
#[derive(Debug)]
pub struct Stats {
    /// Per command, indexed by command id, then per subcommand of the container commands
    /// (CONFIG, CLIENT, COMMAND: see `cmd::Table`); the last slot counts unknown commands
    /// and subcommands.
    pub commands: Box<[CommandStats]>,
    /// Canonical upper-case names matching `commands` (`GET`, `CONFIG|GET`; the last is
    /// "unknown").
    pub command_names: Box<[String]>,
    /// Error replies by error code (INFO errorstats).
    pub errors: ErrorCounts,
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
    /// `expired_keys` as it was at the last CONFIG RESETSTAT: INFO reports the keys
    /// expired since (the count itself belongs to the keyspace).
    pub expired_keys_reset: AtomicU64,
    /// Keys removed by maxmemory eviction.
    pub evicted_keys: AtomicU64,
    /// Microseconds spent over maxmemory (INFO total_eviction_exceeded_time, in ms).
    pub eviction_exceeded_us: AtomicU64,
    /// Writes refused with -OOM.
    pub oom_rejections: AtomicU64,
    /// When the last successful snapshot started (Unix seconds).
    pub rdb_last_save_time: AtomicU64,
    /// How long the last snapshot took (microseconds).
    pub rdb_last_save_us: AtomicU64,
    /// Changes since the last successful snapshot (published by the cron).
    pub rdb_changes: AtomicU64,
    /// 1 while a background snapshot runs.
    pub rdb_bgsave_in_progress: AtomicU64,
    /// Snapshots written.
    pub rdb_saves: AtomicU64,
    /// Snapshots that failed.
    pub rdb_failures: AtomicU64,
    /// Bytes of the last snapshot written.
    pub rdb_last_save_bytes: AtomicU64,
    /// The append-only file is on (1) or off (0).
    pub aof_enabled: AtomicU64,
    /// Size of the append-only file: base plus incr files (INFO aof_current_size).
    pub aof_size: AtomicU64,
    /// Size of the base file after the last rewrite (INFO aof_base_size).
    pub aof_base_size: AtomicU64,
    /// 1 while a rewrite of the append-only file runs.
    pub aof_rewrite_in_progress: AtomicU64,
    /// Rewrites finished successfully.
    pub aof_rewrites: AtomicU64,
    /// Rewrites that failed.
    pub aof_rewrite_failures: AtomicU64,
    /// Failed writes to the append-only file.
    pub aof_write_errors: AtomicU64,
    /// Duration of the last fsync of the append-only file (microseconds).
    pub aof_last_fsync_us: AtomicU64,
    /// Failed calls whose error reply repeated one already counted (a script's error
    /// raised by a command it called): total_error_replies counts such an error once.
    pub errors_counted_twice: AtomicU64,
    /// Keys in all databases (published each loop turn).
    pub keys: AtomicU64,
    /// Keys with a TTL in all databases (published each loop turn).
    pub keys_with_expiry: AtomicU64,
    /// Keys per database, and keys with a TTL per database (for INFO keyspace).
    pub db_keys: Box<[(AtomicU64, AtomicU64)]>,
    /// Clients subscribed to at least one channel, pattern or shard channel (published
    /// each loop turn).
    pub pubsub_clients: AtomicU64,
    /// Channels with at least one subscriber (INFO pubsub_channels; each loop turn).
    pub pubsub_channels: AtomicU64,
    /// Patterns with at least one subscriber (INFO pubsub_patterns; each loop turn).
    pub pubsub_patterns: AtomicU64,
    /// Shard channels with at least one subscriber (INFO pubsubshard_channels; each loop
    /// turn).
    pub pubsub_shard_channels: AtomicU64,
    /// Publish operations since start: PUBLISH, SPUBLISH, and each keyspace notification
    /// message (published each loop turn from `PubSub`).
    pub pubsub_published: AtomicU64,
    /// Scripts run (EVAL, EVALSHA and their read-only forms), whatever their outcome.
    pub scripts_run: AtomicU64,
    /// Scripts in the script cache (INFO number_of_cached_scripts).
    pub scripts_cached: AtomicU64,
    /// Time each script ran, its commands included.
    pub script_time: Histogram,
    /// Copies of published messages appended to subscribers' reply buffers since start
    /// (published each loop turn from `PubSub`).
    pub pubsub_delivered: AtomicU64,
    /// Delivery latency of those copies, observed once each when the write that ends its
    /// batch returns (see `resp::Reply::delivered`).
    pub pubsub_delivery: Histogram,
    /// Clients blocked on keys (INFO blocked_clients; each loop turn).
    pub blocked_clients: AtomicU64,
    /// How long served blocked clients waited (timeouts and CLIENT UNBLOCK not included).
    pub blocked_wait: Histogram,
    /// Bytes allocated by the process, from the counting allocator (0 if not installed).
    pub used_memory: AtomicU64,
    /// Settings and reactor state copied out by the cron (maxmemory, the slow log...).
    pub published: super::published::Published,
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
            errors: ErrorCounts::default(),
            connected_clients: AtomicU64::new(0),
            connections_received: AtomicU64::new(0),
            rejected_connections: AtomicU64::new(0),
            protocol_errors: AtomicU64::new(0),
            net_input_bytes: AtomicU64::new(0),
            net_output_bytes: AtomicU64::new(0),
            keyspace_hits: AtomicU64::new(0),
            keyspace_misses: AtomicU64::new(0),
            expired_keys: AtomicU64::new(0),
            expired_keys_reset: AtomicU64::new(0),
            evicted_keys: AtomicU64::new(0),
            eviction_exceeded_us: AtomicU64::new(0),
            oom_rejections: AtomicU64::new(0),
            rdb_last_save_time: AtomicU64::new(0),
            rdb_last_save_us: AtomicU64::new(0),
            rdb_changes: AtomicU64::new(0),
            rdb_bgsave_in_progress: AtomicU64::new(0),
            rdb_saves: AtomicU64::new(0),
            rdb_failures: AtomicU64::new(0),
            rdb_last_save_bytes: AtomicU64::new(0),
            aof_enabled: AtomicU64::new(0),
            aof_size: AtomicU64::new(0),
            aof_base_size: AtomicU64::new(0),
            aof_rewrite_in_progress: AtomicU64::new(0),
            aof_rewrites: AtomicU64::new(0),
            aof_rewrite_failures: AtomicU64::new(0),
            aof_write_errors: AtomicU64::new(0),
            aof_last_fsync_us: AtomicU64::new(0),
            errors_counted_twice: AtomicU64::new(0),
            keys: AtomicU64::new(0),
            keys_with_expiry: AtomicU64::new(0),
            db_keys: (0..databases)
                .map(|_| (AtomicU64::new(0), AtomicU64::new(0)))
                .collect(),
            pubsub_clients: AtomicU64::new(0),
            pubsub_channels: AtomicU64::new(0),
            pubsub_patterns: AtomicU64::new(0),
            pubsub_shard_channels: AtomicU64::new(0),
            pubsub_published: AtomicU64::new(0),
            scripts_run: AtomicU64::new(0),
            scripts_cached: AtomicU64::new(0),
            script_time: Histogram::new(&LATENCY_BUCKETS_NS),
            pubsub_delivered: AtomicU64::new(0),
            pubsub_delivery: Histogram::new(&LATENCY_BUCKETS_NS),
            blocked_clients: AtomicU64::new(0),
            blocked_wait: Histogram::new(&BLOCKED_WAIT_BUCKETS_NS),
            used_memory: AtomicU64::new(0),
            published: Default::default(),
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

    /// Commands run, over every command and subcommand (INFO total_commands_processed).
    pub fn commands_processed(&self) -> u64 {
        self.commands.iter().map(|c| get(&c.calls)).sum()
    }

    /// Error replies sent (INFO total_error_replies): failed and refused commands, and
    /// protocol errors, as Redis counts every error reply it sends.
    pub fn error_replies(&self) -> u64 {
        let commands: u64 = self
            .commands
            .iter()
            .map(|c| get(&c.failed) + get(&c.rejected))
            .sum();
        (commands + get(&self.protocol_errors)).saturating_sub(get(&self.errors_counted_twice))
    }

    /// Error replies by code, in byte order (INFO errorstats). Protocol errors are counted
    /// apart (by the connection) and are all `ERR` errors, so they are added to `ERR` here.
    pub fn error_counts(&self) -> Vec<(Vec<u8>, u64)> {
        let mut codes = self.errors.snapshot();
        let protocol = get(&self.protocol_errors);
        if protocol > 0 && !self.errors.disabled() {
            match codes.binary_search_by(|(c, _)| c.as_slice().cmp(b"ERR")) {
                Ok(i) => codes[i].1 += protocol,
                Err(i) => codes.insert(i, (b"ERR".to_vec(), protocol)),
            }
        }
        codes
    }

    /// CONFIG RESETSTAT: zeroes the counters (gauges keep their values). The pub/sub and
    /// blocking figures, which INFO's stats do not show, count from start like
    /// `expired_keys`, so their histograms stay consistent with their counters.
    pub fn reset(&self) {
        for c in self.commands.iter() {
            c.reset();
        }
        self.errors.clear();
        set(&self.expired_keys_reset, get(&self.expired_keys));
        for c in [
            &self.errors_counted_twice,
            &self.evicted_keys,
            &self.eviction_exceeded_us,
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
        assert_eq!(get(&s.failed), 1);
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

    #[test]
    fn rejections_are_not_runs() {
        let s = CommandStats::default();
        s.reject();
        assert_eq!(get(&s.rejected), 1);
        assert_eq!(get(&s.calls), 0);
        assert_eq!(s.cumulative_buckets().1, 0);
        assert_eq!(s.latency_percentiles_us(&[50.0]), None);
    }

    #[test]
    fn percentiles_are_bucket_upper_bounds() {
        let s = CommandStats::default();
        for _ in 0..98 {
            s.record(800, false); // <= 1 us
        }
        s.record(20_000, false); // <= 25 us
        s.record(3_000_000_000, false); // > 1 s
        assert_eq!(
            s.latency_percentiles_us(&[50.0, 99.0, 99.9, 100.0]),
            Some(vec![1.0, 25.0, 1e6, 1e6])
        );
        let one = CommandStats::default();
        one.record(3_000, false); // <= 5 us
        assert_eq!(
            one.latency_percentiles_us(&[0.0, 50.0]),
            Some(vec![5.0, 5.0])
        );
    }

    #[test]
    fn histogram_records_n_at_once() {
        let h = Histogram::new(&BLOCKED_WAIT_BUCKETS_NS);
        h.record_n(50_000, 3); // <= 100 us
        h.record_n(2_000_000_000, 1); // <= 2.5 s
        h.record_n(400_000_000_000, 2); // > 5 min: only in +Inf
        let (cumulative, total) = h.cumulative_buckets();
        assert_eq!(total, 6);
        assert_eq!(cumulative.len(), BLOCKED_WAIT_BUCKETS_NS.len());
        assert_eq!(cumulative[0], 3);
        assert_eq!(cumulative[12], 3); // <= 1 s
        assert_eq!(cumulative[13], 4); // <= 2.5 s
        assert_eq!(cumulative[18], 4); // <= 5 min
        assert_eq!(h.sum_ns(), 150_000 + 2_000_000_000 + 800_000_000_000);
        let bounds: Vec<f64> = h.bounds_seconds().collect();
        assert_eq!(bounds[0], 0.0001);
        assert_eq!(bounds[18], 300.0);
    }

    #[test]
    fn error_codes_in_byte_order_and_cleared() {
        let e = ErrorCounts::default();
        for code in ["WRONGTYPE", "ERR", "NOAUTH", "ERR", "EXECABORT"] {
            e.record(code.as_bytes());
        }
        let codes: Vec<(String, u64)> = e
            .snapshot()
            .into_iter()
            .map(|(c, n)| (String::from_utf8(c).unwrap(), n))
            .collect();
        let expect = [
            ("ERR", 2),
            ("EXECABORT", 1),
            ("NOAUTH", 1),
            ("WRONGTYPE", 1),
        ];
        assert_eq!(codes, expect.map(|(c, n)| (c.to_string(), n)));
        let long = [b'X'; 40];
        e.record(&long); // kept to 32 bytes
        assert!(e.snapshot().iter().any(|(c, _)| c.len() == 32));
        e.clear();
        assert!(e.snapshot().is_empty());
        e.record(b"ERR");
        assert_eq!(e.snapshot(), vec![(b"ERR".to_vec(), 1)]);
    }

    #[test]
    fn error_codes_flood_leaves_only_disabled() {
        let e = ErrorCounts::default();
        for i in 0..ERROR_CODES_MAX {
            e.record(format!("C{i}").as_bytes());
        }
        e.record(b"C0");
        assert_eq!(e.snapshot().len(), ERROR_CODES_MAX);
        assert!(!e.disabled());
        e.record(b"ONE-MORE");
        assert_eq!(e.snapshot(), vec![(ERRORSTATS_DISABLED.to_vec(), 1)]);
        e.record(b"ERR");
        e.record(ERRORSTATS_DISABLED);
        assert_eq!(e.snapshot(), vec![(ERRORSTATS_DISABLED.to_vec(), 1)]);
        e.clear();
        e.record(b"ERR");
        assert_eq!(e.snapshot(), vec![(b"ERR".to_vec(), 1)]);
    }

    #[test]
    fn protocol_errors_count_as_err_and_reset_clears_all() {
        let s = Stats::new(vec!["GET".into()], 1);
        s.commands[0].record(1_000, true);
        s.errors.record(b"WRONGTYPE");
        s.unknown().reject();
        s.errors.record(b"ERR");
        bump(&s.protocol_errors, 2);
        assert_eq!(s.error_replies(), 4);
        assert_eq!(
            s.error_counts(),
            vec![(b"ERR".to_vec(), 3), (b"WRONGTYPE".to_vec(), 1)]
        );
        assert_eq!(s.commands_processed(), 1);
        s.reset();
        assert_eq!(s.error_replies(), 0);
        assert!(s.error_counts().is_empty());
        assert_eq!(s.commands_processed(), 0);
    }
}
