//! Figures that live in the reactor's own state (settings, the slow log, persistence
//! status), copied out by its cron for the metrics thread: the redis_exporter-compatible
//! families ([`super::redis_exporter`]) and the live console ([`super::console`]) need
//! them, and the metrics thread must never reach into the reactor.
//!
//! The cron runs `hz` times a second (10 by default), off the command path. The numbers
//! are single-writer atomics like [`super::stats`]'s. The slow log's newest entries and
//! the latency percentiles are lists: they sit behind a mutex that the reactor only ever
//! `try_lock`s, and only when they changed, so the reactor never waits for the metrics
//! thread (a busy lock just postpones the copy to the next cron tick).

use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex, OnceLock};

use super::stats::{get, set};

/// Slow log entries the console shows (the newest ones).
pub const SLOWLOG_SHOWN: usize = 16;

/// Redis's `maxmemory-policy` names, indexed by [`Published::maxmemory_policy`].
pub const POLICY_NAMES: [&str; 8] = [
    "volatile-lru",
    "volatile-lfu",
    "volatile-random",
    "volatile-ttl",
    "allkeys-lru",
    "allkeys-lfu",
    "allkeys-random",
    "noeviction",
];

/// One slow log entry as SLOWLOG GET shows it, with its arguments made text.
#[derive(Debug, Clone, PartialEq)]
pub struct SlowEntry {
    pub id: u64,
    /// Unix time (seconds) it was logged.
    pub time: u64,
    pub duration_us: u64,
    /// The arguments as logged (trimmed and redacted as SLOWLOG keeps them), as text.
    pub args: Vec<String>,
    /// `ip:port` of the client.
    pub client: String,
    /// The client's name (CLIENT SETNAME), empty when it has none.
    pub name: String,
}

/// What does not change while the server runs (INFO's server section).
#[derive(Debug, Clone)]
pub struct Identity {
    pub redis_version: &'static str,
    pub os: String,
    pub run_id: String,
    pub tcp_port: u16,
}

/// What the reactor's cron publishes (see the module comment).
#[derive(Debug)]
pub struct Published {
    /// Set once, by the first cron tick.
    pub identity: OnceLock<Identity>,
    /// `maxmemory` in bytes (0 = no limit).
    pub maxmemory: AtomicU64,
    /// Index of `maxmemory-policy` in [`POLICY_NAMES`].
    pub maxmemory_policy: AtomicU64,
    /// `maxclients`.
    pub maxclients: AtomicU64,
    /// Highest used memory seen (INFO used_memory_peak).
    pub peak_memory: AtomicU64,
    /// Clients held by CLIENT PAUSE, which INFO counts as blocked.
    pub paused_clients: AtomicU64,
    /// 1 while a snapshot or AOF is loaded at start.
    pub loading: AtomicU64,
    /// 1 unless the last background save failed (INFO rdb_last_bgsave_status).
    pub rdb_last_bgsave_ok: AtomicU64,
    /// Seconds the last background save took, plus one (0 = none yet, INFO's -1).
    pub rdb_last_bgsave_secs_plus_one: AtomicU64,
    /// 1 while `latency-tracking` is on.
    pub latency_tracking: AtomicU64,
    /// Entries in the slow log.
    pub slowlog_len: AtomicU64,
    /// ID of the newest entry, plus one (0 = empty log).
    pub slowlog_last_id_plus_one: AtomicU64,
    /// Duration of the newest entry, microseconds.
    pub slowlog_last_us: AtomicU64,
    /// The slow log's change mark (next ID, length) when its entries were last copied
    /// (reactor only; plain atomics, not statistics, so `bench-no-metrics` leaves them).
    slowlog_mark: (AtomicU64, AtomicU64),
    /// The newest [`SLOWLOG_SHOWN`] entries, newest first.
    slowlog: Mutex<Arc<[SlowEntry]>>,
    /// `latency-tracking-info-percentiles`.
    percentiles: Mutex<Arc<[f64]>>,
}

impl Default for Published {
    fn default() -> Published {
        Published {
            identity: OnceLock::new(),
            maxmemory: AtomicU64::new(0),
            maxmemory_policy: AtomicU64::new(POLICY_NAMES.len() as u64 - 1),
            maxclients: AtomicU64::new(0),
            peak_memory: AtomicU64::new(0),
            paused_clients: AtomicU64::new(0),
            loading: AtomicU64::new(0),
            rdb_last_bgsave_ok: AtomicU64::new(1),
            rdb_last_bgsave_secs_plus_one: AtomicU64::new(0),
            latency_tracking: AtomicU64::new(1),
            slowlog_len: AtomicU64::new(0),
            slowlog_last_id_plus_one: AtomicU64::new(0),
            slowlog_last_us: AtomicU64::new(0),
            slowlog_mark: (AtomicU64::new(u64::MAX), AtomicU64::new(u64::MAX)),
            slowlog: Mutex::new(Arc::from(Vec::new())),
            percentiles: Mutex::new(Arc::from(vec![50.0, 99.0, 99.9])),
        }
    }
}

impl Published {
    /// Index of a policy name in [`POLICY_NAMES`] (noeviction for an unknown name).
    pub fn set_policy(&self, name: &str) {
        let i = POLICY_NAMES.iter().position(|p| *p == name);
        set(
            &self.maxmemory_policy,
            i.unwrap_or(POLICY_NAMES.len() - 1) as u64,
        );
    }

    /// The `maxmemory-policy` name.
    pub fn policy(&self) -> &'static str {
        let i = get(&self.maxmemory_policy) as usize;
        POLICY_NAMES.get(i).copied().unwrap_or("noeviction")
    }

    /// Copies the slow log's newest entries when `mark` (its next ID and its length: one
    /// or the other changes whenever an entry is added or removed) differs from the last
    /// copy's. `newest` is only called then. Reactor only; never waits for the lock.
    pub fn publish_slowlog(&self, mark: (u64, u64), newest: impl FnOnce() -> Vec<SlowEntry>) {
        let last = (
            self.slowlog_mark.0.load(Relaxed),
            self.slowlog_mark.1.load(Relaxed),
        );
        if last == mark {
            return;
        }
        let Ok(mut shown) = self.slowlog.try_lock() else {
            return; // the metrics thread is reading: next tick
        };
        *shown = Arc::from(newest());
        self.slowlog_mark.0.store(mark.0, Relaxed);
        self.slowlog_mark.1.store(mark.1, Relaxed);
    }

    /// The slow log's newest entries, newest first (any thread).
    pub fn slowlog(&self) -> Arc<[SlowEntry]> {
        match self.slowlog.lock() {
            Ok(g) => Arc::clone(&g),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Publishes `latency-tracking-info-percentiles` if it changed. Reactor only; never
    /// waits for the lock.
    pub fn publish_percentiles(&self, percentiles: &[f64]) {
        let Ok(mut current) = self.percentiles.try_lock() else {
            return;
        };
        if **current != *percentiles {
            *current = Arc::from(percentiles);
        }
    }

    /// `latency-tracking-info-percentiles` (any thread).
    pub fn percentiles(&self) -> Arc<[f64]> {
        match self.percentiles.lock() {
            Ok(g) => Arc::clone(&g),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// The newest slow log entry's ID, if the log is not empty.
    pub fn slowlog_last_id(&self) -> Option<u64> {
        get(&self.slowlog_last_id_plus_one).checked_sub(1)
    }

    /// How long the last background save took, seconds (-1 before the first).
    pub fn rdb_last_bgsave_secs(&self) -> i64 {
        get(&self.rdb_last_bgsave_secs_plus_one) as i64 - 1
    }
}

#[cfg(all(test, not(feature = "bench-no-metrics")))]
mod tests {
    use super::*;

    fn entry(id: u64) -> SlowEntry {
        SlowEntry {
            id,
            time: 1,
            duration_us: 20_000,
            args: vec!["DEBUG".into(), "SLEEP".into(), "0.02".into()],
            client: "127.0.0.1:5000".into(),
            name: String::new(),
        }
    }

    #[test]
    fn the_slowlog_is_copied_only_when_its_mark_changes() {
        let p = Published::default();
        assert!(p.slowlog().is_empty());
        p.publish_slowlog((1, 1), || vec![entry(0)]);
        assert_eq!(p.slowlog().len(), 1);
        p.publish_slowlog((1, 1), || panic!("not called for an unchanged mark"));
        p.publish_slowlog((2, 2), || vec![entry(1), entry(0)]);
        assert_eq!(p.slowlog()[0].id, 1);
    }

    #[test]
    fn a_busy_lock_postpones_the_copy() {
        let p = Published::default();
        let held = p.slowlog.lock().unwrap();
        p.publish_slowlog((1, 1), || vec![entry(0)]);
        drop(held);
        assert!(p.slowlog().is_empty());
        p.publish_slowlog((1, 1), || vec![entry(0)]);
        assert_eq!(p.slowlog().len(), 1);
    }

    #[test]
    fn policy_names_round_trip() {
        let p = Published::default();
        assert_eq!(p.policy(), "noeviction");
        p.set_policy("allkeys-lru");
        assert_eq!(p.policy(), "allkeys-lru");
        p.set_policy("nonsense");
        assert_eq!(p.policy(), "noeviction");
        assert_eq!(p.slowlog_last_id(), None);
        assert_eq!(p.rdb_last_bgsave_secs(), -1);
        p.publish_percentiles(&[50.0]);
        assert_eq!(*p.percentiles(), [50.0]);
    }
}
