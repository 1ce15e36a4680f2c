//! maxmemory eviction (Redis's `evict.c`): what each key's 24 bits of access metadata
//! mean, how they change on access, and how victims are chosen.
//!
//! Access metadata lives in the key ([`super::keybytes::KeyBytes::access`], 40 bits), as
//! Redis keeps it in `robj->lru` (24 bits):
//! - LRU (every policy but the LFU ones): the time of the last access in milliseconds,
//!   modulo 2^39 (17 years), and a "referenced" bit: the key was read or written again
//!   after it was created. OBJECT IDLETIME reads the time. Redis's clock counts seconds,
//!   and a busy cache replaces its whole content within one second, where all keys look
//!   equally old: eviction then degrades to random (0.673 hit ratio, against 0.691 for
//!   the same sampling with a fine clock, on `../shared/bench/eviction.py` at 16 MB).
//!   Keys never referenced since created age 16 times faster when victims are chosen:
//!   segmented LRU's probation, which keeps one-hit keys from pushing out keys that are
//!   used again (0.715 in the same simulation; exact LRU: 0.693).
//! - LFU (`*-lfu` policies): 16 bits of time in minutes (modulo 2^16) when the counter last
//!   decayed, then an 8-bit logarithmic access counter (OBJECT FREQ), incremented with
//!   probability `1 / ((counter - 5) * lfu-log-factor + 1)` and decremented by one per
//!   `lfu-decay-time` minutes without access.
//!
//! Victims: every eviction samples `maxmemory-samples` keys of each database (or of its
//! keys with a TTL, for the volatile policies) into a pool of the best [`POOL_SIZE`]
//! candidates so far, then evicts the best one that still exists. The pool outlives the
//! eviction, so each choice draws on many more keys than one sample: Redis's
//! approximation of LRU/LFU, with uniformly random samples (Redis's `dictGetSomeKeys`
//! takes runs of neighbouring buckets).

/// `maxmemory-policy` (CONFIG's enum values are those of `config::table::MAXMEMORY_POLICIES`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Evict the least recently used keys that have a TTL.
    VolatileLru,
    /// Evict the least frequently used keys that have a TTL.
    VolatileLfu,
    /// Evict random keys that have a TTL.
    VolatileRandom,
    /// Evict the keys with the nearest expiry.
    VolatileTtl,
    /// Evict the least recently used keys.
    AllkeysLru,
    /// Evict the least frequently used keys.
    AllkeysLfu,
    /// Evict random keys.
    AllkeysRandom,
    /// Evict nothing: writes fail with -OOM.
    NoEviction,
}

impl Policy {
    /// The policy of a CONFIG enum value.
    pub fn from_index(i: u32) -> Policy {
        match i {
            0 => Policy::VolatileLru,
            1 => Policy::VolatileLfu,
            2 => Policy::VolatileRandom,
            3 => Policy::VolatileTtl,
            4 => Policy::AllkeysLru,
            5 => Policy::AllkeysLfu,
            6 => Policy::AllkeysRandom,
            _ => Policy::NoEviction,
        }
    }

    /// Redis's name of the policy.
    pub fn name(self) -> &'static str {
        match self {
            Policy::VolatileLru => "volatile-lru",
            Policy::VolatileLfu => "volatile-lfu",
            Policy::VolatileRandom => "volatile-random",
            Policy::AllkeysLru => "allkeys-lru",
            Policy::AllkeysLfu => "allkeys-lfu",
            Policy::AllkeysRandom => "allkeys-random",
            Policy::VolatileTtl => "volatile-ttl",
            Policy::NoEviction => "noeviction",
        }
    }

    /// The access metadata holds LFU counters (not LRU clocks).
    pub fn is_lfu(self) -> bool {
        matches!(self, Policy::VolatileLfu | Policy::AllkeysLfu)
    }

    /// Only keys with a TTL may be evicted.
    pub fn volatile_only(self) -> bool {
        matches!(
            self,
            Policy::VolatileLru
                | Policy::VolatileLfu
                | Policy::VolatileRandom
                | Policy::VolatileTtl
        )
    }

    /// Victims are picked at random (no pool).
    pub fn is_random(self) -> bool {
        matches!(self, Policy::VolatileRandom | Policy::AllkeysRandom)
    }
}

/// The LRU clock's bits (milliseconds, modulo 2^39).
const LRU_CLOCK_MASK: u64 = (1 << 39) - 1;

/// LRU metadata: referenced again since the key was created.
const REFERENCED: u64 = 1 << 39;

/// How much faster keys never referenced since created age (a shift: 16 times).
const PROBATION_SHIFT: u32 = 4;

/// A new key's LFU counter (Redis's `LFU_INIT_VAL`): new keys are not the first evicted.
pub const LFU_INIT: u8 = 5;

/// Candidates the eviction pool keeps (Redis's `EVPOOL_SIZE`).
pub const POOL_SIZE: usize = 16;

/// The LRU clock at `now` (ms since the epoch).
#[inline]
pub fn lru_clock(now: u64) -> u64 {
    now & LRU_CLOCK_MASK
}

/// Milliseconds since a key with LRU metadata `access` was last used (Redis's
/// `estimateObjectIdleTime`; the clock wraps every 17 years).
pub fn lru_idle_ms(access: u64, now: u64) -> u64 {
    lru_clock(now).wrapping_sub(access) & LRU_CLOCK_MASK
}

/// Minutes since the epoch, 16 bits (Redis's `LFUGetTimeInMinutes`).
#[inline]
fn lfu_minutes(now: u64) -> u64 {
    (now / 60_000) & 0xFFFF
}

/// A new key's LFU metadata.
#[inline]
pub fn lfu_initial(now: u64) -> u64 {
    lfu_with_counter(LFU_INIT, now)
}

/// LFU metadata with this counter, decayed as of `now` (RESTORE FREQ).
pub fn lfu_with_counter(counter: u8, now: u64) -> u64 {
    (lfu_minutes(now) << 8) | u64::from(counter)
}

/// The counter of LFU metadata `access`, decayed by the minutes passed since its last
/// decay (one step per `decay_minutes`; 0 disables decay) (Redis's `LFUDecrAndReturn`).
pub fn lfu_decayed(access: u64, now: u64, decay_minutes: u32) -> u8 {
    let last = (access >> 8) & 0xFFFF;
    let counter = (access & 0xFF) as u8;
    let now_min = lfu_minutes(now);
    let elapsed = if now_min >= last {
        now_min - last
    } else {
        65535 - last + now_min
    };
    let periods = elapsed.checked_div(u64::from(decay_minutes)).unwrap_or(0);
    counter.saturating_sub(periods.min(255) as u8)
}

/// The counter after one access: +1 with probability `1 / ((counter - LFU_INIT) *
/// log_factor + 1)`, so it grows logarithmically; 255 stays (Redis's `LFULogIncr`).
/// `rand` is a uniformly random u64.
pub fn lfu_incremented(counter: u8, log_factor: u32, rand: u64) -> u8 {
    if counter == 255 {
        return 255;
    }
    let r = (rand >> 11) as f64 / (1u64 << 53) as f64;
    let base = f64::from(counter.saturating_sub(LFU_INIT));
    let p = 1.0 / (base * f64::from(log_factor) + 1.0);
    if r < p { counter + 1 } else { counter }
}

/// How the keyspace updates access metadata: the LFU parameters, and a random state for
/// the logarithmic counter.
#[derive(Debug, Clone, Copy)]
pub struct AccessMode {
    /// Keep LFU counters instead of LRU clocks.
    pub lfu: bool,
    /// `lfu-log-factor`.
    pub log_factor: u32,
    /// `lfu-decay-time` (minutes per decrement; 0 = never).
    pub decay_minutes: u32,
    rng: u64,
}

impl Default for AccessMode {
    fn default() -> AccessMode {
        AccessMode {
            lfu: false,
            log_factor: 10,
            decay_minutes: 1,
            rng: 0x9E37_79B9_7F4A_7C15,
        }
    }
}

impl PartialEq for AccessMode {
    /// Same settings (the random state does not count).
    fn eq(&self, other: &AccessMode) -> bool {
        (self.lfu, self.log_factor, self.decay_minutes)
            == (other.lfu, other.log_factor, other.decay_minutes)
    }
}

impl AccessMode {
    /// A mode with these LFU settings.
    pub fn new(lfu: bool, log_factor: u32, decay_minutes: u32) -> AccessMode {
        AccessMode {
            lfu,
            log_factor,
            decay_minutes,
            ..AccessMode::default()
        }
    }

    /// The metadata a new key starts with.
    #[inline]
    pub fn initial(&self, now: u64) -> u64 {
        if self.lfu {
            lfu_initial(now)
        } else {
            lru_clock(now)
        }
    }

    /// The metadata after an access to a key whose metadata was `access` (Redis's
    /// `lookupKey`: `updateLFU`, or the LRU clock).
    #[inline]
    pub fn touched(&mut self, access: u64, now: u64) -> u64 {
        if !self.lfu {
            return REFERENCED | lru_clock(now);
        }
        let counter = lfu_decayed(access, now, self.decay_minutes);
        let counter = lfu_incremented(counter, self.log_factor, super::next_random(&mut self.rng));
        lfu_with_counter(counter, now)
    }
}

/// One eviction candidate: the higher `score`, the better a victim.
#[derive(Debug)]
struct Candidate {
    score: u64,
    db: usize,
    key: Box<[u8]>,
}

/// The best victims seen so far, worst first (Redis's `EvictionPoolLRU`).
#[derive(Debug, Default)]
pub struct Pool {
    items: Vec<Candidate>,
}

impl Pool {
    /// Offers a sampled key. Kept when the pool has room or the key beats its worst
    /// candidate; a key already in the pool gets its new score.
    pub fn offer(&mut self, score: u64, db: usize, key: &[u8]) {
        if let Some(i) = self.items.iter().position(|c| c.db == db && *c.key == *key) {
            self.items.remove(i);
        } else if self.items.len() == POOL_SIZE {
            if score <= self.items[0].score {
                return;
            }
            self.items.remove(0);
        }
        let at = self.items.partition_point(|c| c.score <= score);
        self.items.insert(
            at,
            Candidate {
                score,
                db,
                key: key.into(),
            },
        );
    }

    /// Takes the best candidate out.
    pub fn take_best(&mut self) -> Option<(usize, Box<[u8]>)> {
        self.items.pop().map(|c| (c.db, c.key))
    }

    /// Forgets every candidate (the policy or the databases changed).
    pub fn clear(&mut self) {
        self.items.clear();
    }

    /// Number of candidates held.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// True when no candidate is held.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

/// The eviction score of a key under `policy` (higher: evicted sooner), from its access
/// metadata and expiry (Redis's `evictionPoolPopulate`).
pub fn score(policy: Policy, access: u64, expire_at: Option<u64>, now: u64, decay: u32) -> u64 {
    match policy {
        Policy::VolatileTtl => u64::MAX - expire_at.unwrap_or(u64::MAX),
        p if p.is_lfu() => 255 - u64::from(lfu_decayed(access, now, decay)),
        _ if access & REFERENCED == 0 => lru_idle_ms(access, now) << PROBATION_SHIFT,
        _ => lru_idle_ms(access, now),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// LRU metadata for a key last used `idle_ms` ago.
    pub fn lru_with_idle(idle_ms: u64, now: u64) -> u64 {
        REFERENCED | (lru_clock(now).wrapping_sub(idle_ms) & LRU_CLOCK_MASK)
    }

    #[test]
    fn lru_idle_time_survives_the_clock_wrapping() {
        let now = 1_000_000_000_000u64;
        let access = lru_clock(now - 5_000);
        assert_eq!(lru_idle_ms(access, now), 5_000);
        assert_eq!(lru_idle_ms(lru_with_idle(7_000, now), now), 7_000);
        // A clock that wrapped since the access.
        let wrapped = (1u64 << 39) * 3;
        assert_eq!(lru_idle_ms(lru_clock(wrapped - 3_000), wrapped), 3_000);
        assert_eq!(
            lru_idle_ms(REFERENCED | lru_clock(wrapped - 3), wrapped + 4),
            7
        );
    }

    #[test]
    fn lfu_counter_grows_logarithmically_and_decays_by_the_minute() {
        let mut mode = AccessMode::new(true, 10, 1);
        let now = 1_000_000_000_000u64;
        let mut access = mode.initial(now);
        assert_eq!(access & 0xFF, u64::from(LFU_INIT));
        for _ in 0..1000 {
            access = mode.touched(access, now);
        }
        let after_1000 = access & 0xFF;
        // Redis's table for lfu-log-factor 10: 100 hits ~ 10, 1000 hits ~ 18.
        assert!((14..=22).contains(&after_1000), "{after_1000}");
        // Three minutes idle, decay 1: three steps down.
        assert_eq!(
            u64::from(lfu_decayed(access, now + 180_000, 1)),
            after_1000 - 3
        );
        assert_eq!(u64::from(lfu_decayed(access, now + 180_000, 0)), after_1000);
        assert_eq!(lfu_incremented(255, 10, 0), 255);
    }

    #[test]
    fn keys_never_referenced_again_are_evicted_sooner() {
        let mut mode = AccessMode::default();
        let now = 1_000_000_000_000u64;
        let created = mode.initial(now - 1_000);
        let reused = mode.touched(mode.initial(now - 9_000), now - 9_000);
        let s = |a| score(Policy::AllkeysLru, a, None, now, 1);
        // Idle 1 s but never used again ranks above idle 9 s after a second use.
        assert!(s(created) > s(reused));
        assert_eq!(s(reused), 9_000);
        assert_eq!(
            lru_idle_ms(created, now),
            1_000,
            "IDLETIME is the real idle time"
        );
    }

    #[test]
    fn pool_keeps_the_best_candidates_once_each() {
        let mut pool = Pool::default();
        for i in 0..40u64 {
            pool.offer(i % 20, 0, format!("k{}", i % 20).as_bytes());
        }
        assert_eq!(pool.len(), POOL_SIZE);
        assert_eq!(pool.take_best(), Some((0, b"k19".to_vec().into())));
        assert_eq!(pool.take_best(), Some((0, b"k18".to_vec().into())));
        // A lower score than every candidate of a full pool is not kept.
        let mut full = Pool::default();
        for i in 10..26u64 {
            full.offer(i, 1, format!("k{i}").as_bytes());
        }
        full.offer(3, 1, b"low");
        assert!(full.items.iter().all(|c| &*c.key != b"low"));
    }

    #[test]
    fn policies_follow_configs_order() {
        for &(name, value) in crate::config::table::MAXMEMORY_POLICIES {
            assert_eq!(Policy::from_index(value).name(), name);
        }
    }
}
