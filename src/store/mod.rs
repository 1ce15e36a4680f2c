//! The keyspace: `databases` numbered [`Db`]s owned by the reactor thread (no locks).

pub mod bytes;
pub mod db;
pub mod evict;
pub mod geohash;
pub mod hash;
pub mod hll;
pub mod keybytes;
pub mod lazyfree;
pub mod list;
pub mod prefetch;
pub mod set;
pub mod stream;
pub mod table;
pub mod thin;
pub mod value;
pub mod wheel;
pub mod zset;

pub use db::{Db, Entry, Ttl};
pub use hash::Hash;
pub use list::Elem;
pub use list::List;
pub use set::Set;
pub use stream::Stream;
pub use value::{Str, Value};
pub use zset::ZSet;

/// When collections leave their packed encodings: Redis's `list-max-listpack-size`,
/// `hash-max-listpack-entries` / `-value`, `set-max-intset-entries` and
/// `zset-max-listpack-entries` / `-value` (CONFIG), passed to the operations that grow a
/// collection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Node size of lists: negative, a byte size (-2 = 8 KiB); positive, entries.
    pub list_fill: i64,
    /// Most fields of a packed hash.
    pub hash_entries: usize,
    /// Longest field or value of a packed hash.
    pub hash_value: usize,
    /// Most members of an intset.
    pub set_intset_entries: usize,
    /// Most members of a packed sorted set.
    pub zset_entries: usize,
    /// Longest member of a packed sorted set.
    pub zset_value: usize,
}

impl Default for Limits {
    /// Redis's built-in defaults.
    fn default() -> Limits {
        Limits {
            list_fill: list::DEFAULT_FILL,
            hash_entries: 512,
            hash_value: 64,
            set_intset_entries: 512,
            zset_entries: 128,
            zset_value: 64,
        }
    }
}

/// All databases plus keyspace-wide state.
#[derive(Debug)]
pub struct Store {
    dbs: Vec<Db>,
    rng: u64,
    /// Keyspace event classes the databases record (0: none, the usual case).
    event_classes: u32,

    /// Clients blocked on keys, in all databases (0: nothing to serve after a write).
    blocked: usize,
    /// Some client tracks keys: writes record the keys they change.
    tracking: bool,
    /// maxmemory eviction's best candidates so far (see [`evict`]).
    eviction_pool: evict::Pool,
    /// The database the random policies take their next victim from (Redis's `next_db`).
    next_random_db: usize,
}

impl Store {
    /// `n` empty databases whose expiry clocks start at `now` (ms).
    pub fn new(n: usize, now: u64) -> Store {
        Store {
            dbs: (0..n).map(|_| Db::new(now)).collect(),
            // Seeded from the clock; RANDOMKEY and friends need variety, not secrecy.
            rng: now | 1,
            event_classes: 0,
            blocked: 0,
            tracking: false,
            eviction_pool: evict::Pool::default(),
            next_random_db: 0,
        }
    }

    /// How lookups update access metadata in every database (maxmemory-policy, lfu-*).
    pub fn set_access_mode(&mut self, mode: evict::AccessMode) {
        for db in &mut self.dbs {
            db.set_access_mode(mode);
        }
        self.eviction_pool.clear();
    }

    /// The next key to evict under `policy` (Redis's performEvictions' choice): the best
    /// candidate of the pool after sampling `samples` keys of every database, or a random
    /// key for the random policies. None when no key qualifies.
    pub fn pick_victim(
        &mut self,
        policy: evict::Policy,
        samples: usize,
        now: u64,
    ) -> Option<(usize, Box<[u8]>)> {
        if policy == evict::Policy::NoEviction {
            return None;
        }
        if policy.is_random() {
            let n = self.dbs.len();
            for _ in 0..n {
                self.next_random_db = (self.next_random_db + 1) % n;
                let i = self.next_random_db;
                if let Some(key) = self.dbs[i].random_victim(policy.volatile_only(), &mut self.rng)
                {
                    return Some((i, key));
                }
            }
            return None;
        }
        loop {
            let mut any = false;
            for (i, db) in self.dbs.iter().enumerate() {
                any |= db.sample_for_eviction(
                    &mut self.eviction_pool,
                    policy,
                    samples,
                    i,
                    &mut self.rng,
                    now,
                );
            }
            if !any {
                return None;
            }
            // The best candidate that still exists (a ghost was deleted or lost its TTL
            // since it was sampled: try the next).
            while let Some((i, key)) = self.eviction_pool.take_best() {
                let found = self.dbs[i].peek_raw(&key);
                if found.is_some_and(|e| !policy.volatile_only() || e.expire_at().is_some()) {
                    return Some((i, key));
                }
            }
        }
    }

    /// Number of databases.
    pub fn len(&self) -> usize {
        self.dbs.len()
    }

    /// True when configured with no database (never: the config requires at least one).
    pub fn is_empty(&self) -> bool {
        self.dbs.is_empty()
    }

    /// Database `i`. The caller checked `i < len()` (SELECT validates it).
    #[inline]
    pub fn db(&mut self, i: usize) -> &mut Db {
        &mut self.dbs[i]
    }

    /// Read-only view of database `i`.
    pub fn db_ref(&self, i: usize) -> &Db {
        &self.dbs[i]
    }

    /// Two distinct databases at once (MOVE, COPY ... DB).
    pub fn two_dbs(&mut self, a: usize, b: usize) -> (&mut Db, &mut Db) {
        assert_ne!(a, b);
        if a < b {
            let (lo, hi) = self.dbs.split_at_mut(b);
            (&mut lo[a], &mut hi[0])
        } else {
            let (lo, hi) = self.dbs.split_at_mut(a);
            (&mut hi[0], &mut lo[b])
        }
    }

    /// Swaps the contents of two databases (SWAPDB); their watchers see a change.
    pub fn swap(&mut self, a: usize, b: usize) {
        if a == b {
            return;
        }
        let (x, y) = self.two_dbs(a, b);
        Db::swap_data(x, y);
        x.touch_all_watched();
        y.touch_all_watched();
    }

    /// Which keyspace events (expired, new) the databases record for publishing.
    pub fn set_event_classes(&mut self, classes: u32) {
        self.event_classes = classes;
        for db in &mut self.dbs {
            db.set_event_classes(classes);
        }
    }

    /// True when some database recorded keyspace events to publish.
    #[inline]
    pub fn has_events(&self) -> bool {
        self.event_classes != 0 && self.dbs.iter().any(Db::has_events)
    }

    /// Takes every recorded keyspace event as (database, class, event, key).
    pub fn take_events(&mut self) -> Vec<(usize, u32, &'static str, Box<[u8]>)> {
        let mut all = Vec::new();
        for (i, db) in self.dbs.iter_mut().enumerate() {
            if db.has_events() {
                all.extend(db.take_events().into_iter().map(|(c, e, k)| (i, c, e, k)));
            }
        }
        all
    }

    /// Records keys removed by expiry (the append-only file writes their deletion), or
    /// stops.
    pub fn set_log_expired(&mut self, on: bool) {
        for db in &mut self.dbs {
            db.set_log_expired(on);
        }
    }

    /// True when keys removed by expiry wait in [`Store::take_expired_keys`].
    #[inline]
    pub fn has_expired_keys(&self) -> bool {
        db::EXPIRED_LOGGED.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Takes the keys removed by expiry since the last call, as (database, key).
    pub fn take_expired_keys(&mut self) -> Vec<(usize, Box<[u8]>)> {
        db::EXPIRED_LOGGED.store(false, std::sync::atomic::Ordering::Relaxed);
        let mut all = Vec::new();
        for (i, db) in self.dbs.iter_mut().enumerate() {
            if db.has_expired_keys() {
                all.extend(db.take_expired_keys().into_iter().map(|k| (i, k)));
            }
        }
        all
    }

    /// Records changed keys for client-side caching (while any client tracks), or stops.
    pub fn set_tracking(&mut self, on: bool) {
        self.tracking = on;
        for db in &mut self.dbs {
            db.set_tracking(on);
        }
    }

    /// True when changed keys wait for the tracking code (one load when nobody tracks).
    #[inline]
    pub fn has_touched(&self) -> bool {
        self.tracking && self.dbs.iter().any(Db::has_touched)
    }

    /// Takes the changed keys of every database (tracking is not per database), each with
    /// whether it expired.
    pub fn take_touched(&mut self) -> Vec<(Box<[u8]>, bool)> {
        let mut all = Vec::new();
        for db in &mut self.dbs {
            if db.has_touched() {
                all.extend(db.take_touched());
            }
        }
        all
    }

    /// Keeps expired keys in place (while CLIENT PAUSE is on) or not.
    pub fn set_keep_expired(&mut self, on: bool) {
        for db in &mut self.dbs {
            db.set_keep_expired(on);
        }
    }

    /// Registers a client as waiting for `keys` of database `db`.
    pub fn block(&mut self, db: usize, keys: &[Box<[u8]>], token: usize) {
        self.dbs[db].add_waiter(keys, token);
        self.blocked += 1;
    }

    /// Removes a client from the waiters of `keys` of database `db`.
    pub fn unblock(&mut self, db: usize, keys: &[Box<[u8]>], token: usize) {
        self.dbs[db].remove_waiter(keys, token);
        self.blocked -= 1;
    }

    /// Clients blocked on keys (INFO blocked_clients).
    pub fn blocked_clients(&self) -> usize {
        self.blocked
    }

    /// True when a write readied a key that clients wait for (one load when nobody waits).
    #[inline]
    pub fn has_ready(&self) -> bool {
        self.blocked != 0 && self.dbs.iter().any(Db::has_ready)
    }

    /// Takes the readied keys as (database, key), in order.
    pub fn take_ready(&mut self) -> Vec<(usize, Box<[u8]>)> {
        let mut all = Vec::new();
        for (i, db) in self.dbs.iter_mut().enumerate() {
            if db.has_ready() {
                all.extend(db.take_ready().into_iter().map(|k| (i, k)));
            }
        }
        all
    }

    /// All databases, for INFO keyspace and metrics.
    pub fn dbs(&self) -> &[Db] {
        &self.dbs
    }

    /// Changes made to all databases since the start (Redis's `dirty`).
    pub fn dirty(&self) -> u64 {
        self.dbs.iter().map(Db::changes).sum()
    }

    /// Tells the databases under a snapshot whether the running command may write (its
    /// lookups then save keys first).
    pub fn set_snapshot_writing(&mut self, writing: bool) {
        for db in &mut self.dbs {
            db.set_snapshot_writing(writing);
        }
    }

    /// Keys in all databases.
    pub fn total_keys(&self) -> usize {
        self.dbs.iter().map(Db::len).sum()
    }

    /// Keys with a TTL in all databases.
    pub fn total_expires(&self) -> usize {
        self.dbs.iter().map(Db::expires).sum()
    }

    /// Keys removed because their TTL passed, in all databases, since start.
    pub fn expired_total(&self) -> u64 {
        self.dbs.iter().map(Db::expired_total).sum()
    }

    /// A pseudo-random number (xorshift64*).
    pub fn random(&mut self) -> u64 {
        next_random(&mut self.rng)
    }

    /// Active expiry: runs every database's wheel up to `now` until no timer is due or
    /// `until` passes (checked every few hundred timers). Returns true when due timers
    /// remain, so the event loop comes back without sleeping.
    pub fn expire_due(&mut self, now: u64, until: std::time::Instant) -> bool {
        const CHUNK: usize = 256;
        loop {
            let mut more = false;
            for db in &mut self.dbs {
                if db.timers() != 0 {
                    more |= db.expire_due(now, CHUNK);
                }
            }
            if !more {
                return false;
            }
            if std::time::Instant::now() >= until {
                return true;
            }
        }
    }

    /// The earliest wheel deadline of any database (ms since the epoch).
    pub fn next_timer(&self) -> Option<u64> {
        self.dbs
            .iter()
            .filter(|db| db.timers() != 0)
            .filter_map(Db::next_timer)
            .min()
    }

    /// Periodic housekeeping: give memory back after mass deletions.
    pub fn cron(&mut self) {
        let old: Vec<_> = self.dbs.iter_mut().filter_map(Db::maybe_shrink).collect();
        if !old.is_empty() {
            // Unmapping a table of millions of buckets takes milliseconds.
            lazyfree::free_uncounted(old);
        }
    }
}

/// One step of xorshift64*; `state` must be non-zero.
pub fn next_random(state: &mut u64) -> u64 {
    let mut x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    x.wrapping_mul(0x2545_F491_4F6C_DD1D)
}
