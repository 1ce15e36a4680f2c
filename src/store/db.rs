//! One database of the keyspace: an ahash-keyed hash table of entries plus the timer wheel
//! that expires them.
//!
//! Expiry rules (Redis's): a key is expired once `now > expire_at`. Every access checks
//! that lazily; the wheel removes keys nobody touches. Each key owns at most one live wheel
//! timer, identified by `wheel_at`. When a deadline moves later, the old timer stays and
//! re-files itself when it fires; when it moves earlier, a new timer is added and the old
//! one becomes stale. A stale timer (its key deleted, overwritten, persisted or re-timed)
//! finds `wheel_at` different from its own deadline and does nothing, so it can never
//! delete a live key.

use hashbrown::HashTable;

use super::evict::{self, AccessMode, Policy, Pool};
use super::keybytes::KeyBytes;
use super::lazyfree;
use super::table::{self, hash_bytes};
use super::value::Value;
use super::wheel::TimerWheel;
use crate::persist::save::save_key;
use crate::persist::snapshot::DbSnapshot;

/// A key's expiry: the deadline, and the deadline of the key's own wheel timer.
#[derive(Debug, Clone, Copy)]
struct Expiry {
    /// Absolute expiry in ms since the epoch.
    at: u64,
    /// Deadline of this key's own wheel timer; 0 means none.
    wheel_at: u64,
}

/// A key, its value and its expiry: 56 bytes, kept behind one `Box` per key, so the hash
/// table holds 8-byte pointers (a table sized for 1M keys has 2M buckets: fat slots would
/// cost more than the entries). A key name of up to 18 bytes (with its access metadata)
/// and a string value of up to 22 bytes live inside the entry: such a key costs one
/// 56-byte block of the entry slab in all (`alloc/slab.rs`; glibc would take 64).
#[derive(Debug)]
pub struct Entry {
    key: KeyBytes,
    /// The stored value.
    pub value: Value,
    /// Present once the key had a TTL (kept, zeroed, after PERSIST while a timer is out).
    expiry: Option<Box<Expiry>>,
}

impl Entry {
    /// The key's bytes.
    pub fn key(&self) -> &[u8] {
        &self.key
    }

    /// The key's access metadata: an LRU clock or LFU counter and time (see
    /// [`super::evict`]).
    pub fn access(&self) -> u64 {
        self.key.access()
    }

    /// The absolute expiry (ms since the epoch), if the key has a TTL.
    pub fn expire_at(&self) -> Option<u64> {
        self.expiry.as_ref().map(|e| e.at).filter(|&at| at != 0)
    }

    /// The expiry in ms, 0 for none.
    #[inline]
    fn expire_raw(&self) -> u64 {
        self.expiry.as_ref().map_or(0, |e| e.at)
    }

    /// Deadline of the key's own wheel timer, 0 for none.
    #[inline]
    fn wheel_at(&self) -> u64 {
        self.expiry.as_ref().map_or(0, |e| e.wheel_at)
    }

    #[inline]
    fn is_expired(&self, now: u64) -> bool {
        let at = self.expire_raw();
        at != 0 && now > at
    }

    /// Records a new expiry and wheel deadline; drops the box when both are gone.
    fn set_expiry(&mut self, at: u64, wheel_at: u64) {
        if at == 0 && wheel_at == 0 {
            self.expiry = None;
        } else if let Some(e) = self.expiry.as_mut() {
            e.at = at;
            e.wheel_at = wheel_at;
        } else {
            self.expiry = Some(Box::new(Expiry { at, wheel_at }));
        }
    }
}

/// The memory of a keyspace table, as [`Db::table_lines`] found it: enough to prefetch
/// the control bytes and slots a hash probes first, before the probe reads them.
#[derive(Debug, Clone, Copy)]
pub struct TableLines {
    /// Address of the control bytes (the slots end there).
    ctrl: usize,
    /// Number of slots minus one.
    mask: usize,
}

impl TableLines {
    /// Asks for the lines a lookup of `hash` reads first: the 16 control bytes of its
    /// home group and the slots at the start of that group (slots go downwards in memory).
    #[inline]
    pub fn prefetch(&self, hash: u64) {
        let home = hash as usize & self.mask;
        let ctrl = self.ctrl.wrapping_add(home);
        prefetch_line(ctrl as *const u8);
        prefetch_line(ctrl.wrapping_add(15) as *const u8);
        let slot = self
            .ctrl
            .wrapping_sub((home + 1) * std::mem::size_of::<usize>());
        prefetch_line(slot as *const u8);
        prefetch_line(slot.wrapping_sub(56) as *const u8);
    }
}

/// How many table slots ahead a snapshot's walk prefetches entries.
const WALK_AHEAD: usize = 16;

/// Asks for both cache lines of an entry: a 56-byte slab block sits at any multiple of 8,
/// so it may straddle two, and the key compare would miss on the second.
#[inline(always)]
fn prefetch_entry_lines(e: &Entry) {
    let p = e as *const Entry as *const u8;
    prefetch_line(p);
    prefetch_line(p.wrapping_add(std::mem::size_of::<Entry>() - 1));
}

/// Asks the CPU to load the cache line at `p`.
#[inline(always)]
fn prefetch_line(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: PREFETCHT0 is only a hint: it never faults and has no architectural effect,
    // whatever the address.
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(p.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// Most keys a table shrink may rehash in one go (see [`Db::maybe_shrink`]).
const SHRINK_MAX_KEYS: usize = 32 * 1024;

/// What a write does to the key's TTL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ttl {
    /// Remove any TTL (plain SET).
    Clear,
    /// Keep the current TTL (SET KEEPTTL, and value updates such as INCR or APPEND).
    Keep,
    /// Expire at this absolute time (ms since the epoch).
    At(u64),
}

/// One numbered database.
#[derive(Debug)]
pub struct Db {
    table: HashTable<Box<Entry>>,
    /// Keys that have a TTL.
    expires: usize,
    wheel: TimerWheel,
    /// Keys removed because their TTL passed, lazily or by the wheel.
    expired: u64,
    /// Clients WATCHing keys of this database (empty almost always: one branch per write).
    watch: Watchers,
    /// Keyspace events the store itself causes (a key expiring, a key created), kept for
    /// the event loop to publish when notify-keyspace-events asks for them.
    events: KeyEvents,
    /// Clients blocked on keys of this database (Redis's `db->blocking_keys`) and the keys
    /// written since that have waiters (`ready_keys`).
    blocking: Waiters,
    /// CLIENT PAUSE is on: keys past their TTL read as missing but are not deleted, so the
    /// dataset does not change while paused (Redis's expireIfNeeded).
    keep_expired: bool,
    /// How lookups update the keys' access metadata (LRU clock or LFU counter).
    access: AccessMode,
    /// A snapshot being taken of this database (see [`crate::persist::snapshot`]): keys
    /// about to change are saved first.
    snapshot: Option<Box<DbSnapshot>>,
    /// Changes made (Redis's `dirty` counter: save points and INFO's
    /// rdb_changes_since_last_save count them).
    changes: u64,
    /// Keys snapshots saved ahead of their walk because they were about to change (INFO
    /// keyval_snapshot_keys_saved_early: shows the copy-before-write at work).
    saved_early: u64,
    /// Where the table's slots were found last ([`Db::table_lines`]), for the table of
    /// that many slots; cleared when the table is replaced.
    lines: std::cell::Cell<Option<TableLines>>,
}

/// Who waits for which key (blocking pops), in the order they started waiting, and which
/// of those keys were written since the event loop last served them.
#[derive(Debug, Default)]
pub struct Waiters {
    by_key:
        std::collections::HashMap<Box<[u8]>, std::collections::VecDeque<usize>, ahash::RandomState>,
    ready: Vec<Box<[u8]>>,
}

impl Waiters {
    /// Marks `key` ready if someone waits for it (empty almost always: one branch).
    #[inline]
    fn signal(&mut self, key: &[u8]) {
        if self.by_key.is_empty() {
            return;
        }
        if self.by_key.contains_key(key) && !self.ready.iter().any(|k| **k == *key) {
            self.ready.push(key.into());
        }
    }
}

/// Some database logged an expired key since [`super::Store::take_expired_keys`] (one
/// flag to look at after each command instead of every database; the keyspace has one
/// thread, so relaxed accesses suffice).
pub(super) static EXPIRED_LOGGED: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// Keyspace events raised below the command level: Redis publishes `expired` when a key
/// is found expired or the expiry cycle removes it, and `new` when a key is created. They
/// are only recorded for the classes [`KeyEvents::classes`] selects (none by default: one
/// branch per event site).
#[derive(Debug, Default)]
pub struct KeyEvents {
    /// Event classes to record (`crate::config::params::notify` bits).
    pub classes: u32,
    /// Recorded events, oldest first: (class, event name, key).
    pub log: Vec<(u32, &'static str, Box<[u8]>)>,
    /// Expired keys are recorded in `expired_keys` (the append-only file writes their
    /// deletion, as Redis propagates one).
    pub log_expired: bool,
    /// Keys removed because their TTL passed, oldest first, while `log_expired`.
    pub expired_keys: Vec<Box<[u8]>>,
}

impl KeyEvents {
    #[inline]
    fn record(&mut self, class: u32, event: &'static str, key: &[u8]) {
        if self.classes & class != 0 {
            self.log.push((class, event, key.into()));
        }
    }

    #[inline]
    fn expired(&mut self, key: &[u8]) {
        self.record(crate::config::params::notify::EXPIRED, "expired", key);
        if self.log_expired {
            self.expired_keys.push(key.into());
            EXPIRED_LOGGED.store(true, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

/// WATCH bookkeeping of one database: who watches which key, and which watchers saw a
/// watched key change (their EXEC will fail).
#[derive(Debug, Default)]
pub struct Watchers {
    by_key: std::collections::HashMap<Box<[u8]>, Vec<u64>, ahash::RandomState>,
    dirty: std::collections::HashSet<u64, ahash::RandomState>,
    /// Some client tracks keys (client-side caching): changed keys are recorded.
    track: bool,
    /// Keys changed since the tracking code last looked, and whether by expiry.
    touched: Vec<(Box<[u8]>, bool)>,
}

impl Watchers {
    /// A command changed `key`: its watchers are marked dirty, and tracking is told.
    #[inline]
    fn touch(&mut self, key: &[u8]) {
        if self.track {
            self.touched.push((key.into(), false));
        }
        self.touch_watchers(key);
    }

    /// `key` expired: as [`Watchers::touch`], but tracking sees no client behind it.
    #[inline]
    fn touch_expired(&mut self, key: &[u8]) {
        if self.track {
            self.touched.push((key.into(), true));
        }
        self.touch_watchers(key);
    }

    /// Marks the watchers of `key` dirty.
    #[inline]
    fn touch_watchers(&mut self, key: &[u8]) {
        if self.by_key.is_empty() {
            return;
        }
        if let Some(ids) = self.by_key.get(key) {
            self.dirty.extend(ids.iter().copied());
        }
    }
}

/// Updates an entry's TTL, the TTL count and the wheel. A free function so callers can
/// hold the entry and the wheel at once (disjoint fields of [`Db`]).
fn apply_ttl(wheel: &mut TimerWheel, expires: &mut usize, e: &mut Entry, hash: u64, ttl: Ttl) {
    let at = match ttl {
        Ttl::Keep => return,
        Ttl::Clear => 0,
        Ttl::At(at) => at.max(1),
    };
    let old = e.expire_raw();
    match (old != 0, at != 0) {
        (false, true) => *expires += 1,
        (true, false) => *expires -= 1,
        _ => {}
    }
    let mut wheel_at = e.wheel_at();
    if at != 0 {
        // The key is expired from at + 1 on; that is when its timer should fire.
        let fire_at = at.saturating_add(1);
        if wheel_at == 0 || wheel_at > fire_at {
            wheel_at = wheel.insert(fire_at, hash);
        }
    }
    e.set_expiry(at, wheel_at);
}

impl Db {
    /// An empty database whose expiry clock starts at `now` (ms).
    pub fn new(now: u64) -> Db {
        Db {
            table: HashTable::new(),
            lines: std::cell::Cell::new(None),
            expires: 0,
            wheel: TimerWheel::new(now),
            expired: 0,
            watch: Watchers::default(),
            events: KeyEvents::default(),
            blocking: Waiters::default(),
            keep_expired: false,
            access: AccessMode::default(),
            snapshot: None,
            changes: 0,
            saved_early: 0,
        }
    }

    /// How lookups update access metadata from now on (maxmemory-policy, lfu-* settings).
    /// Switching between LRU and LFU leaves the old metadata, which reads as nonsense in
    /// the new mode until keys are accessed again, as in Redis.
    pub fn set_access_mode(&mut self, mode: AccessMode) {
        self.access = mode;
    }

    /// Which keyspace events this database records (see [`KeyEvents`]).
    pub fn set_event_classes(&mut self, classes: u32) {
        self.events.classes = classes;
    }

    /// Records keys removed by expiry for [`Db::take_expired_keys`], or stops.
    pub fn set_log_expired(&mut self, on: bool) {
        self.events.log_expired = on;
        if !on {
            self.events.expired_keys = Vec::new();
        }
    }

    /// Takes the keys removed by expiry since the last call (while logging them).
    pub fn take_expired_keys(&mut self) -> Vec<Box<[u8]>> {
        std::mem::take(&mut self.events.expired_keys)
    }

    /// True when expired keys wait in [`Db::take_expired_keys`].
    #[inline]
    pub fn has_expired_keys(&self) -> bool {
        !self.events.expired_keys.is_empty()
    }

    /// Takes the recorded keyspace events, oldest first.
    pub fn take_events(&mut self) -> Vec<(u32, &'static str, Box<[u8]>)> {
        std::mem::take(&mut self.events.log)
    }

    /// True when keyspace events wait to be published.
    #[inline]
    pub fn has_events(&self) -> bool {
        !self.events.log.is_empty()
    }

    /// Number of keys (including expired ones not yet reclaimed, as Redis's DBSIZE).
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// True when the database holds no key.
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// Number of keys with a TTL.
    pub fn expires(&self) -> usize {
        self.expires
    }

    /// Keys removed so far because their TTL passed.
    pub fn expired_total(&self) -> u64 {
        self.expired
    }

    /// Timers in the expiry wheel (live and stale).
    pub fn timers(&self) -> usize {
        self.wheel.len()
    }

    /// The hash the table files `key` under.
    #[inline]
    pub fn hash(&self, key: &[u8]) -> u64 {
        hash_bytes(key)
    }

    /// Looks a key up for reading or writing, deleting it first if it has expired; the
    /// access counts for eviction (LRU clock, LFU counter).
    #[inline]
    pub fn get_mut(&mut self, key: &[u8], now: u64) -> Option<&mut Entry> {
        self.lookup(key, now, true)
    }

    /// [`Db::get_mut`] that leaves the access metadata alone (TTL, TYPE, EXISTS: Redis's
    /// LOOKUP_NOTOUCH).
    #[inline]
    pub fn get_mut_no_touch(&mut self, key: &[u8], now: u64) -> Option<&mut Entry> {
        self.lookup(key, now, false)
    }

    #[inline]
    fn lookup(&mut self, key: &[u8], now: u64, touch: bool) -> Option<&mut Entry> {
        let hash = self.hash(key);
        if self.snapshot.as_ref().is_some_and(|s| s.writing) {
            self.save_before_change(key, hash, now);
        }
        match self.table.find_entry(hash, |e| *e.key == *key) {
            Ok(occ) if occ.get().is_expired(now) => {
                if self.keep_expired {
                    return None;
                }
                lazyfree::free_expired(occ.remove().0.value);
                self.expires -= 1;
                self.expired += 1;
                self.watch.touch_expired(key);
                self.events.expired(key);
                None
            }
            Ok(occ) => {
                let e = &mut **occ.into_mut();
                if touch {
                    e.key.set_access(self.access.touched(e.key.access(), now));
                }
                Some(e)
            }
            Err(_) => None,
        }
    }

    /// While on, expired keys are not deleted on lookup (CLIENT PAUSE).
    pub fn set_keep_expired(&mut self, on: bool) {
        self.keep_expired = on;
    }

    /// Where the table's slots lie in memory, for prefetching them; `None` when empty.
    ///
    /// hashbrown keeps its slots just below its control bytes, slot `i` at
    /// `ctrl - (i + 1) * size_of::<slot>()`, so one occupied slot's address gives them all.
    /// Only prefetches use the result: a prefetch never faults, so were that layout to
    /// change, lookups would only lose speed, never correctness.
    pub fn table_lines(&self) -> Option<TableLines> {
        if self.table.is_empty() {
            return None;
        }
        let mask = self.table.num_buckets() - 1;
        if let Some(lines) = self.lines.get()
            && lines.mask == mask
        {
            // hashbrown moves its slots only when it grows (the slot count changes); a
            // replaced table clears the cache.
            return Some(lines);
        }
        // Finding an occupied slot scans control bytes: once per table, not per turn, as
        // a sparse table could take a while.
        let index = self.table.iter_buckets().next()?;
        let slot = self.table.get_bucket(index)? as *const Box<Entry> as usize;
        let lines = TableLines {
            ctrl: slot + (index + 1) * std::mem::size_of::<Box<Entry>>(),
            mask,
        };
        self.lines.set(Some(lines));
        Some(lines)
    }

    /// Starts loading the entry filed under `hash` into the CPU cache, without waiting for
    /// it, and returns it (for [`Db::prefetch_name`]).
    ///
    /// It takes the first slot whose 7-bit tag matches (almost always the key's own) and
    /// never reads the entry itself. The table lines it reads should have been asked for
    /// first with [`TableLines::prefetch`] (see [`crate::store::prefetch`]).
    #[inline]
    pub fn prefetch_entry(&self, hash: u64) -> Option<&Entry> {
        let e = self.table.find(hash, |_| true)?;
        prefetch_entry_lines(e);
        Some(e)
    }

    /// Prefetches the name of `entry` when it lives on the heap (names over 18 bytes):
    /// the key compare reads it. Called once the entries of a batch were prefetched, so
    /// reading the entry's pointer finds it arrived or on its way.
    #[inline]
    pub fn prefetch_name(entry: &Entry) {
        if let Some(p) = entry.key.heap_start() {
            prefetch_line(p);
        }
    }

    /// Looks a key up without deleting it; an expired key reads as absent.
    pub fn peek(&self, key: &[u8], now: u64) -> Option<&Entry> {
        self.table
            .find(self.hash(key), |e| *e.key == *key)
            .map(|e| &**e)
            .filter(|e| !e.is_expired(now))
    }

    /// Looks a key up as stored, expired or not, touching nothing.
    pub fn peek_raw(&self, key: &[u8]) -> Option<&Entry> {
        self.table
            .find(self.hash(key), |e| *e.key == *key)
            .map(|e| &**e)
    }

    /// True if the key is still stored but its TTL has passed (WATCH treats that as a change).
    pub fn is_expired_key(&self, key: &[u8], now: u64) -> bool {
        self.table
            .find(self.hash(key), |e| *e.key == *key)
            .is_some_and(|e| e.is_expired(now))
    }

    /// True if the key exists (and has not expired).
    pub fn contains(&mut self, key: &[u8], now: u64) -> bool {
        self.get_mut(key, now).is_some()
    }

    /// Stores `value` under `key`, replacing any old value, and applies `ttl`.
    /// Returns the entry, for callers that want to keep working on it.
    pub fn set(&mut self, key: &[u8], value: Value, ttl: Ttl, now: u64) -> &mut Entry {
        self.upsert_with(key, ttl, now, move |_| Some(value))
    }

    /// Writes a key in place: `update` gets `Some(&mut old value)` when the key exists
    /// (so a string can be overwritten without allocating), or `None` when it does not,
    /// and must then return the new value. Applies `ttl` afterwards (`Keep` on a new key
    /// means no TTL).
    pub fn upsert_with(
        &mut self,
        key: &[u8],
        ttl: Ttl,
        now: u64,
        update: impl FnOnce(Option<&mut Value>) -> Option<Value>,
    ) -> &mut Entry {
        let hash = self.hash(key);
        if self.snapshot.is_some() {
            self.save_before_change(key, hash, now);
            // The walk follows slot numbers: the table must not grow (and move every
            // entry) under it. A full table finishes the walk at once instead.
            if self.table.len() >= self.table.capacity() {
                self.finish_snapshot_walk();
            }
        }
        self.changes += 1;
        self.watch.touch(key);
        // A created or replaced key may be what a blocked client waits for (Redis signals
        // in dbAdd and dbOverwrite); the loop checks its type and contents when serving.
        self.blocking.signal(key);
        let Db {
            table,
            expires,
            wheel,
            expired,
            events,
            access,
            snapshot,
            ..
        } = self;
        let entry = match table.find_entry(hash, |e| *e.key == *key) {
            Ok(occ) => {
                let e: &mut Entry = occ.into_mut();
                e.key.set_access(access.touched(e.key.access(), now));
                if e.is_expired(now) {
                    // Redis deletes the expired key before writing the new one.
                    *expired += 1;
                    events.expired(key);
                    events.record(crate::config::params::notify::NEW, "new", key);
                    apply_ttl(wheel, expires, e, hash, Ttl::Clear);
                    let new = update(None).expect("update must create a value for a new key");
                    lazyfree::free_expired(std::mem::replace(&mut e.value, new));
                } else if let Some(v) = update(Some(&mut e.value)) {
                    // Overwritten (Redis's dbOverwrite).
                    lazyfree::free_server_del(std::mem::replace(&mut e.value, v));
                }
                e
            }
            Err(absent) => {
                events.record(crate::config::params::notify::NEW, "new", key);
                let value = update(None).expect("update must create a value for a new key");
                let mut name = KeyBytes::new(key);
                name.set_access(access.initial(now));
                let entry = Box::new(Entry {
                    key: name,
                    value,
                    expiry: None,
                });
                let created = absent
                    .into_table()
                    .insert_unique(hash, entry, |e| hash_bytes(&e.key));
                Db::mark_created(snapshot, created.bucket_index());
                &mut **created.into_mut()
            }
        };
        apply_ttl(wheel, expires, entry, hash, ttl);
        entry
    }

    /// Inserts a key known to be absent (checked by the caller with [`Db::get_mut`]).
    pub fn insert_new(&mut self, key: &[u8], value: Value, ttl: Ttl, now: u64) {
        self.upsert_with(key, ttl, now, |old| {
            debug_assert!(old.is_none(), "insert_new over an existing key");
            Some(value)
        });
    }

    /// Adds a key read from a file at start: one lookup, which also says whether the key
    /// was already there (false: nothing stored, the file is bad).
    pub fn load_insert(&mut self, key: &[u8], value: Value, ttl: Ttl, now: u64) -> bool {
        let hash = self.hash(key);
        if self.table.find(hash, |e| *e.key == *key).is_some() {
            return false;
        }
        if self.snapshot.is_some() && self.table.len() >= self.table.capacity() {
            self.finish_snapshot_walk(); // as in upsert_with: no growth under a walk
        }
        self.changes += 1;
        let mut name = KeyBytes::new(key);
        name.set_access(self.access.initial(now));
        let entry = Box::new(Entry {
            key: name,
            value,
            expiry: None,
        });
        let created = self
            .table
            .insert_unique(hash, entry, |e| hash_bytes(&e.key));
        Db::mark_created(&mut self.snapshot, created.bucket_index());
        let entry = created.into_mut();
        apply_ttl(&mut self.wheel, &mut self.expires, entry, hash, ttl);
        true
    }

    /// Makes room for `additional` more keys at once (a file's RESIZEDB hint), instead of
    /// growing step by step while loading.
    pub fn reserve(&mut self, additional: usize) {
        if self.snapshot.is_none() {
            self.table.reserve(additional, |e| hash_bytes(&e.key));
        }
    }

    /// Removes a key, returning its entry (None if absent or expired).
    pub fn remove(&mut self, key: &[u8], now: u64) -> Option<Entry> {
        let hash = self.hash(key);
        if self.snapshot.is_some() {
            self.save_before_change(key, hash, now);
        }
        let Ok(occ) = self.table.find_entry(hash, |e| *e.key == *key) else {
            return None;
        };
        let (e, _) = occ.remove();
        self.watch.touch(key);
        // XREADGROUP waiters of a deleted stream get an error (Redis's dbGenericDelete).
        if matches!(e.value, Value::Stream(_)) {
            self.blocking.signal(key);
        }
        if e.expire_raw() != 0 {
            self.expires -= 1;
        }
        if e.is_expired(now) {
            self.expired += 1;
            self.events.expired(key);
            lazyfree::free_expired(e.value);
            return None;
        }
        self.changes += 1;
        Some(*e)
    }

    /// Re-inserts an entry taken out with [`Db::remove`] (RENAME, MOVE) under `new_key`,
    /// replacing any existing key, keeping its value and TTL.
    pub fn insert_entry(&mut self, new_key: &[u8], entry: Entry, now: u64) {
        let ttl = entry.expire_at().map_or(Ttl::Clear, Ttl::At);
        let value = entry.value;
        self.set(new_key, value, ttl, now);
    }

    /// Sets the key's TTL. Returns false when the key does not exist.
    pub fn set_ttl(&mut self, key: &[u8], ttl: Ttl, now: u64) -> bool {
        let hash = self.hash(key);
        if self.snapshot.is_some() {
            self.save_before_change(key, hash, now);
        }
        let Db {
            table,
            expires,
            wheel,
            expired,
            watch,
            events,
            ..
        } = self;
        match table.find_entry(hash, |e| *e.key == *key) {
            Ok(occ) if occ.get().is_expired(now) => {
                let (e, _) = occ.remove();
                debug_assert!(e.expire_raw() != 0);
                lazyfree::free_expired(e.value);
                *expires -= 1;
                *expired += 1;
                watch.touch_expired(key);
                events.expired(key);
                false
            }
            Ok(occ) => {
                apply_ttl(wheel, expires, occ.into_mut(), hash, ttl);
                watch.touch(key);
                self.changes += 1;
                true
            }
            Err(_) => false,
        }
    }

    /// Runs the wheel up to `now`, removing keys whose TTL passed, doing at most `budget`
    /// timers. Returns true when due timers remain (call again soon).
    pub fn expire_due(&mut self, now: u64, budget: usize) -> bool {
        let Db {
            table,
            expires,
            wheel,
            expired,
            watch,
            events,
            ..
        } = self;
        wheel.advance(now, budget, |timer, wheel| {
            let Ok(occ) = table.find_entry(timer.hash, |e| hash_bytes(&e.key) == timer.hash) else {
                return; // the key is gone: a stale timer
            };
            if occ.get().is_expired(now) {
                let (e, _) = occ.remove();
                *expires -= 1;
                *expired += 1;
                watch.touch_expired(&e.key);
                events.expired(&e.key);
                lazyfree::free_expired(e.value);
                return;
            }
            let e = occ.into_mut();
            if e.wheel_at() != timer.deadline {
                return; // not this key's own timer: stale
            }
            // The deadline moved later (or was removed) since this timer was set.
            let at = e.expire_raw();
            let wheel_at = match at {
                0 => 0,
                at => wheel.insert(at.saturating_add(1), timer.hash),
            };
            e.set_expiry(at, wheel_at);
        })
    }

    /// When the wheel next needs attention (ms since the epoch), if ever.
    pub fn next_timer(&self) -> Option<u64> {
        self.wheel.next_deadline()
    }

    /// Visits every live key (KEYS). Expired keys are skipped, not deleted.
    pub fn for_each_live(&self, now: u64, mut f: impl FnMut(&Entry)) {
        for e in self.table.iter() {
            if !e.is_expired(now) {
                f(e);
            }
        }
    }

    /// One SCAN step from `cursor` (see [`table::scan`]): calls `f` for the keys of each
    /// visited home bucket until about `count` were seen. Returns the next cursor.
    pub fn scan(&self, cursor: u64, count: usize, mut f: impl FnMut(&Entry)) -> u64 {
        table::scan(&self.table, |e| hash_bytes(&e.key), cursor, count, |e| f(e))
    }

    /// Offers `samples` random keys of this database (`db` is its number) to the eviction
    /// pool, scored for `policy`; volatile policies only consider keys with a TTL (drawn
    /// from the whole table: up to 16 draws per sample when few keys have one). Returns
    /// false when no key qualifies.
    pub fn sample_for_eviction(
        &self,
        pool: &mut Pool,
        policy: Policy,
        samples: usize,
        db: usize,
        rand: &mut u64,
        now: u64,
    ) -> bool {
        let volatile = policy.volatile_only();
        if self.table.is_empty() || (volatile && self.expires == 0) {
            return false;
        }
        let mut offered = 0;
        let mut draws = samples.saturating_mul(16);
        while offered < samples && draws > 0 {
            draws -= 1;
            let Some(i) = table::random_bucket(&self.table, super::next_random(rand)) else {
                break;
            };
            let Some(e) = self.table.get_bucket(i) else {
                continue;
            };
            let expire_at = e.expire_at();
            if volatile && expire_at.is_none() {
                continue;
            }
            offered += 1;
            let score = evict::score(
                policy,
                e.key.access(),
                expire_at,
                now,
                self.access.decay_minutes,
            );
            pool.offer(score, db, &e.key);
        }
        true
    }

    /// A random key (with a TTL when `volatile`) for the random policies.
    pub fn random_victim(&self, volatile: bool, rand: &mut u64) -> Option<Box<[u8]>> {
        if self.table.is_empty() || (volatile && self.expires == 0) {
            return None;
        }
        for _ in 0..1024 {
            let i = table::random_bucket(&self.table, super::next_random(rand))?;
            let e = self.table.get_bucket(i)?;
            if !volatile || e.expire_raw() != 0 {
                return Some((*e.key).into());
            }
        }
        None
    }

    /// A random live key, deleting expired keys met on the way (RANDOMKEY).
    pub fn random_key(&mut self, mut rand: impl FnMut() -> u64, now: u64) -> Option<Vec<u8>> {
        // Give up after many expired hits, as Redis does when nearly all keys are expired.
        for _ in 0..100 {
            let i = table::random_bucket(&self.table, rand())?;
            let e = self.table.get_bucket(i)?;
            if !e.is_expired(now) {
                return Some(e.key.to_vec());
            }
            let key = e.key.to_vec();
            self.remove(&key, now);
        }
        None
    }

    /// Removes every key and timer, releasing the memory. Returns the old table so the
    /// caller may drop it elsewhere (FLUSHALL ASYNC).
    pub fn clear(&mut self) -> HashTable<Box<Entry>> {
        self.finish_snapshot_walk();
        self.changes += self.table.len() as u64;
        // Watchers of keys that existed see them change (Redis's touchAllWatchedKeysInDb).
        let existing: Vec<Box<[u8]>> = self
            .watch
            .by_key
            .keys()
            .filter(|k| self.table.find(hash_bytes(k), |e| *e.key == ***k).is_some())
            .cloned()
            .collect();
        // (Tracking clients are told of a flush as a whole, not key by key.)
        for k in existing {
            self.watch.touch_watchers(&k);
        }
        // XREADGROUP waiters of the streams going away get an error (Redis's
        // scanDatabaseForDeletedStreams).
        for k in self.waited_stream_keys() {
            self.blocking.signal(&k);
        }
        self.expires = 0;
        self.wheel.clear();
        self.lines.set(None);
        std::mem::take(&mut self.table)
    }

    /// Gives memory back after many deletions (called from the periodic cron).
    ///
    /// hashbrown shrinks by rehashing every remaining key at once, which stalls the event
    /// loop for as long as that takes; so it only happens once few keys remain (at most
    /// [`SHRINK_MAX_KEYS`], well under a millisecond of work) and they use under 1/8 of the
    /// table. The keys move to a right-sized table; the old, now empty, allocation is
    /// returned so the caller can free it off the event loop (unmapping a table of millions
    /// of buckets takes several milliseconds).
    pub fn maybe_shrink(&mut self) -> Option<HashTable<Box<Entry>>> {
        let (len, cap) = (self.table.len(), self.table.capacity());
        // A snapshot's cursor survives tables growing, not shrinking.
        if self.snapshot.is_some() || cap <= 64 || len * 8 >= cap || len > SHRINK_MAX_KEYS {
            return None;
        }
        let mut fresh = HashTable::with_capacity(len * 2);
        for e in self.table.drain() {
            fresh.insert_unique(hash_bytes(&e.key), e, |e| hash_bytes(&e.key));
        }
        self.lines.set(None);
        Some(std::mem::replace(&mut self.table, fresh))
    }

    /// Tells blocked clients that `key` has new data (XADD appends to an existing stream
    /// in place; Redis's signalKeyAsReady).
    #[inline]
    pub fn signal_ready(&mut self, key: &[u8]) {
        self.blocking.signal(key);
    }

    /// Tells WATCH that `key` was modified in place (INCR, APPEND, a push onto an existing
    /// list...). Writes through [`Db::upsert_with`], [`Db::remove`], [`Db::set_ttl`] and
    /// [`Db::clear`], and expiry, signal on their own.
    #[inline]
    pub fn signal_modified(&mut self, key: &[u8]) {
        self.changes += 1;
        self.watch.touch(key);
    }

    /// Counts `n` changes that signal nobody (Redis's `server.dirty += n` without
    /// signalModifiedKey: PFADD's extra registers, PFDEBUG's conversions): the save points
    /// and the append-only file see them.
    #[inline]
    pub fn count_changes(&mut self, n: u64) {
        self.changes += n;
    }

    /// Records changed keys for client-side caching, or stops.
    pub fn set_tracking(&mut self, on: bool) {
        self.watch.track = on;
        if !on {
            self.watch.touched = Vec::new();
        }
    }

    /// True when changed keys wait for the tracking code.
    #[inline]
    pub fn has_touched(&self) -> bool {
        !self.watch.touched.is_empty()
    }

    /// Takes the changed keys, each with whether it expired.
    pub fn take_touched(&mut self) -> Vec<(Box<[u8]>, bool)> {
        std::mem::take(&mut self.watch.touched)
    }

    /// Client `id` watches `key` from now on.
    pub fn watch(&mut self, key: &[u8], id: u64) {
        let ids = self.watch.by_key.entry(key.into()).or_default();
        if !ids.contains(&id) {
            ids.push(id);
        }
    }

    /// Client `id` stops watching `key`, and forgets whether it saw a change here.
    pub fn unwatch(&mut self, key: &[u8], id: u64) {
        if let Some(ids) = self.watch.by_key.get_mut(key) {
            ids.retain(|&x| x != id);
            if ids.is_empty() {
                self.watch.by_key.remove(key);
            }
        }
        self.watch.dirty.remove(&id);
    }

    /// True if a key client `id` watches here changed since it started watching.
    pub fn watch_dirty(&self, id: u64) -> bool {
        self.watch.dirty.contains(&id)
    }

    /// Marks every watcher of this database dirty (SWAPDB).
    pub fn touch_all_watched(&mut self) {
        let Watchers { by_key, dirty, .. } = &mut self.watch;
        for ids in by_key.values() {
            dirty.extend(ids.iter().copied());
        }
    }

    /// Exchanges the data of two databases, leaving each one's watchers in place: clients
    /// watch a database number, not its contents (SWAPDB).
    pub fn swap_data(a: &mut Db, b: &mut Db) {
        let (a_streams, b_streams) = (a.waited_stream_keys(), b.waited_stream_keys());
        // A snapshot writes each database number's data as of its start: finish both
        // walks, and keep each number's snapshot state with the number.
        a.finish_snapshot_walk();
        b.finish_snapshot_walk();
        std::mem::swap(a, b);
        std::mem::swap(&mut a.snapshot, &mut b.snapshot);
        std::mem::swap(&mut a.changes, &mut b.changes);
        std::mem::swap(&mut a.saved_early, &mut b.saved_early);
        std::mem::swap(&mut a.watch, &mut b.watch);
        // Blocked clients wait on a database number, not on its data.
        std::mem::swap(&mut a.blocking, &mut b.blocking);
        a.signal_existing_waited_keys();
        b.signal_existing_waited_keys();
        // A waited stream swapped away readies its key too (its XREADGROUP waiters fail).
        for k in a_streams {
            a.blocking.signal(&k);
        }
        for k in b_streams {
            b.blocking.signal(&k);
        }
    }

    /// The waited-for keys that hold streams.
    fn waited_stream_keys(&self) -> Vec<Box<[u8]>> {
        self.blocking
            .by_key
            .keys()
            .filter(|k| {
                self.table
                    .find(hash_bytes(k), |e| *e.key == ***k)
                    .is_some_and(|e| matches!(e.value, Value::Stream(_)))
            })
            .cloned()
            .collect()
    }

    /// Marks ready every waited-for key that exists (Redis's scanDatabaseForReadyKeys,
    /// after SWAPDB brought in other data).
    fn signal_existing_waited_keys(&mut self) {
        let keys: Vec<Box<[u8]>> = self.blocking.by_key.keys().cloned().collect();
        for key in keys {
            if self.peek_any(&key) {
                self.blocking.signal(&key);
            }
        }
    }

    fn peek_any(&self, key: &[u8]) -> bool {
        self.table
            .find(self.hash(key), |e| *e.key == *key)
            .is_some()
    }

    /// Adds `token` at the end of the waiters of each of `keys`.
    pub fn add_waiter(&mut self, keys: &[Box<[u8]>], token: usize) {
        for key in keys {
            self.blocking
                .by_key
                .entry(key.clone())
                .or_default()
                .push_back(token);
        }
    }

    /// Removes `token` from the waiters of each of `keys` (served, timed out, or gone).
    pub fn remove_waiter(&mut self, keys: &[Box<[u8]>], token: usize) {
        for key in keys {
            if let Some(q) = self.blocking.by_key.get_mut(key) {
                if let Some(i) = q.iter().position(|&t| t == token) {
                    q.remove(i);
                }
                if q.is_empty() {
                    self.blocking.by_key.remove(key);
                }
            }
        }
    }

    /// The clients waiting for `key`, first come first.
    pub fn waiters(&self, key: &[u8]) -> Vec<usize> {
        self.blocking
            .by_key
            .get(key)
            .map(|q| q.iter().copied().collect())
            .unwrap_or_default()
    }

    /// Takes the keys written since the last call that have waiters, in order.
    pub fn take_ready(&mut self) -> Vec<Box<[u8]>> {
        std::mem::take(&mut self.blocking.ready)
    }

    /// True when some waited-for key was written.
    #[inline]
    pub fn has_ready(&self) -> bool {
        !self.blocking.ready.is_empty()
    }

    /// Sets `key`'s access metadata from RESTORE's IDLETIME / FREQ or a file's IDLE / FREQ
    /// markers, for the policy in force (Redis's objectSetLRUOrLFU): the counter under an
    /// LFU policy, the idle time under any other.
    pub fn set_loaded_access(
        &mut self,
        key: &[u8],
        idle_secs: Option<u64>,
        freq: Option<u8>,
        now: u64,
    ) {
        let lfu = self.access.lfu;
        let hash = self.hash(key);
        let Some(e) = self.table.find_mut(hash, |e| *e.key == *key) else {
            return;
        };
        match (lfu, idle_secs, freq) {
            (true, _, Some(f)) => e.key.set_access(evict::lfu_with_counter(f, now)),
            (false, Some(idle), _) => e.key.set_access(evict::lru_clock(
                now.saturating_sub(idle.saturating_mul(1000)),
            )),
            _ => {}
        }
    }

    /// Changes made since the server started (Redis's `dirty`).
    pub fn changes(&self) -> u64 {
        self.changes
    }

    /// Keys snapshots saved early, before a change, since the server started.
    pub fn saved_early(&self) -> u64 {
        self.saved_early
    }

    /// Starts saving keys before they change: a snapshot of this database begins.
    pub fn start_snapshot(&mut self, mut snapshot: DbSnapshot) {
        snapshot.size_for(self.table.num_buckets());
        self.snapshot = Some(Box::new(snapshot));
    }

    /// The snapshot is over (written or abandoned).
    pub fn end_snapshot(&mut self) {
        self.snapshot = None;
    }

    /// Whether lookups now come from commands that may write (the dispatcher says so).
    #[inline]
    pub fn set_snapshot_writing(&mut self, writing: bool) {
        if let Some(s) = self.snapshot.as_deref_mut() {
            s.writing = writing;
        }
    }

    /// Saves `key`'s value into the snapshot before it changes, if the walk has not passed
    /// it and it was not saved already. A key that does not exist yet needs nothing here:
    /// its slot is marked when it is created ([`Db::mark_created`]).
    #[cold]
    fn save_before_change(&mut self, key: &[u8], hash: u64, now: u64) {
        let Some(snap) = self.snapshot.as_deref_mut() else {
            return;
        };
        let Some(slot) = self.table.find_bucket_index(hash, |e| *e.key == *key) else {
            return;
        };
        if snap.visited(slot) || snap.is_handled(slot) {
            return;
        }
        if let Some(e) = self.table.get_bucket(slot)
            && !e.is_expired(now)
        {
            let marker = snap.markers.marker(e.access(), now);
            save_key(
                &mut snap.early,
                key,
                &e.value,
                e.expire_at(),
                marker,
                snap.opts,
            );
            self.saved_early += 1;
        }
        snap.mark_handled(slot);
    }

    /// A key was just created in table slot `slot`: a snapshot running must not write it
    /// when its walk gets there.
    #[inline]
    fn mark_created(snapshot: &mut Option<Box<DbSnapshot>>, slot: usize) {
        if let Some(snap) = snapshot.as_deref_mut()
            && !snap.visited(slot)
        {
            snap.mark_handled(slot);
        }
    }

    /// One step of the snapshot's walk: writes the keys saved early, then the keys in the
    /// next `budget` slots of the table (skipping those saved early or created since), to
    /// `out`. Returns true when the walk is done.
    pub fn snapshot_step(&mut self, budget: usize, out: &mut Vec<u8>, now: u64) -> bool {
        let Db {
            table, snapshot, ..
        } = self;
        let Some(snap) = snapshot.as_deref_mut() else {
            return true;
        };
        out.append(&mut snap.early);
        if snap.done {
            return true;
        }
        // Slots in index order: hashbrown moves entries only when the table grows or
        // rehashes, which `upsert_with` keeps from happening during a walk.
        let end = snap.cursor.saturating_add(budget).min(table.num_buckets());
        for i in snap.cursor..end {
            // Slots are in hash order, entries in allocation order: each entry is a cache
            // miss, and a heap name a second one. Ask for the entries WALK_AHEAD slots on,
            // and for the names of those half way there (whose entries have arrived).
            if let Some(ahead) = table.get_bucket(i + WALK_AHEAD) {
                prefetch_entry_lines(ahead);
            }
            if let Some(ahead) = table.get_bucket(i + WALK_AHEAD / 2) {
                Db::prefetch_name(ahead);
            }
            let Some(e) = table.get_bucket(i) else {
                continue;
            };
            if snap.is_handled(i) {
                continue;
            }
            if !e.is_expired(now) {
                let marker = snap.markers.marker(e.access(), now);
                save_key(out, &e.key, &e.value, e.expire_at(), marker, snap.opts);
            }
        }
        snap.cursor = end;
        if end >= table.num_buckets() {
            snap.done = true;
        }
        snap.done
    }

    /// Walks the rest of the table into the snapshot's early records at once: the data is
    /// about to go (FLUSHDB) or move (SWAPDB).
    fn finish_snapshot_walk(&mut self) {
        if self.snapshot.as_ref().is_none_or(|s| s.done) {
            return;
        }
        let mut buf = Vec::new();
        let now = crate::util::now_ms();
        while !self.snapshot_step(1 << 16, &mut buf, now) {}
        if let Some(s) = self.snapshot.as_deref_mut() {
            s.early = buf;
        }
    }

    /// Bytes of the hash table's own allocation (INFO used_memory_dataset counts them).
    pub fn approx_memory(&self) -> usize {
        self.table.allocation_size()
    }

    /// Buckets in the hash table (INFO keyval_table_buckets: shows resizes).
    pub fn buckets(&self) -> usize {
        if self.table.capacity() == 0 {
            0
        } else {
            self.table.num_buckets()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::value::Str;

    fn s(v: &str) -> Value {
        Value::Str(Str::from_bytes(v.as_bytes()))
    }

    #[test]
    fn set_get_remove() {
        let mut db = Db::new(0);
        db.set(b"a", s("1"), Ttl::Clear, 0);
        assert_eq!(
            db.get_mut(b"a", 0).unwrap().value.as_str(),
            Some(&Str::Int(1))
        );
        assert!(db.remove(b"a", 0).is_some());
        assert!(db.get_mut(b"a", 0).is_none());
        assert_eq!(db.len(), 0);
    }

    #[test]
    fn lazy_expiry() {
        let mut db = Db::new(0);
        db.set(b"a", s("x"), Ttl::At(100), 0);
        assert_eq!(db.expires(), 1);
        assert!(db.get_mut(b"a", 100).is_some(), "alive at its deadline");
        assert!(db.get_mut(b"a", 101).is_none());
        assert_eq!(db.len(), 0);
        assert_eq!(db.expires(), 0);
        assert_eq!(db.expired_total(), 1);
    }

    #[test]
    fn wheel_expires_untouched_keys() {
        let mut db = Db::new(0);
        for i in 0..1000u32 {
            db.set(
                &i.to_be_bytes(),
                s("v"),
                Ttl::At(50 + u64::from(i % 100)),
                0,
            );
        }
        db.set(b"forever", s("v"), Ttl::Clear, 0);
        while db.expire_due(200, 64) {}
        assert_eq!(db.len(), 1);
        assert_eq!(db.expires(), 0);
        assert_eq!(db.expired_total(), 1000);
    }

    #[test]
    fn stale_timer_never_deletes_a_live_key() {
        let mut db = Db::new(0);
        db.set(b"k", s("v"), Ttl::At(1000), 0);
        // Overwrite without TTL: the old timer must not delete the new value.
        db.set(b"k", s("v2"), Ttl::Clear, 10);
        while db.expire_due(5000, 1000) {}
        assert_eq!(
            db.get_mut(b"k", 5000).unwrap().value.as_str(),
            Some(&Str::from_bytes(b"v2"))
        );

        // Delete and recreate with a later TTL.
        db.set(b"j", s("v"), Ttl::At(6000), 5000);
        db.remove(b"j", 5000);
        db.set(b"j", s("w"), Ttl::At(9000), 5000);
        while db.expire_due(8000, 1000) {}
        assert!(db.get_mut(b"j", 8000).is_some());
        while db.expire_due(9001, 1000) {}
        assert!(db.peek(b"j", 9001).is_none());
        assert_eq!(db.len(), 1);
    }

    #[test]
    fn moved_deadlines() {
        let mut db = Db::new(0);
        db.set(b"later", s("v"), Ttl::At(100), 0);
        assert!(db.set_ttl(b"later", Ttl::At(300), 0));
        db.set(b"sooner", s("v"), Ttl::At(300), 0);
        assert!(db.set_ttl(b"sooner", Ttl::At(100), 0));
        db.set(b"persisted", s("v"), Ttl::At(100), 0);
        assert!(db.set_ttl(b"persisted", Ttl::Clear, 0));
        while db.expire_due(150, 1000) {}
        assert!(db.peek(b"later", 150).is_some());
        assert!(db.peek(b"persisted", 150).is_some());
        assert_eq!(db.len(), 2, "sooner expired by the wheel");
        while db.expire_due(301, 1000) {}
        assert_eq!(db.len(), 1);
        assert_eq!(db.expires(), 0);
        // Every timer has fired or been dropped.
        assert_eq!(db.timers(), 0);
    }

    /// Scans `db` with COUNT 10, calling `resize` after the third step; returns every key seen.
    fn scan_across(
        db: &mut Db,
        resize: impl FnOnce(&mut Db),
    ) -> std::collections::HashSet<Vec<u8>> {
        let mut seen = std::collections::HashSet::new();
        let mut resize = Some(resize);
        let (mut cursor, mut steps) = (0, 0);
        loop {
            cursor = db.scan(cursor, 10, |e| {
                seen.insert(e.key().to_vec());
            });
            steps += 1;
            if steps == 3
                && let Some(f) = resize.take()
            {
                f(db);
            }
            if cursor == 0 {
                return seen;
            }
        }
    }

    #[test]
    fn scan_survives_growth() {
        let mut db = Db::new(0);
        for i in 0..100u32 {
            db.set(format!("k{i}").as_bytes(), s("v"), Ttl::Clear, 0);
        }
        let seen = scan_across(&mut db, |db| {
            // Grow the table several times in the middle of the scan.
            for i in 100..5000u32 {
                db.set(format!("k{i}").as_bytes(), s("v"), Ttl::Clear, 0);
            }
        });
        for i in 0..100u32 {
            assert!(seen.contains(format!("k{i}").as_bytes()), "k{i} missed");
        }
    }

    #[test]
    fn scan_survives_shrink() {
        let mut db = Db::new(0);
        for i in 0..5000u32 {
            db.set(format!("k{i}").as_bytes(), s("v"), Ttl::Clear, 0);
        }
        let seen = scan_across(&mut db, |db| {
            for i in 100..5000u32 {
                db.remove(format!("k{i}").as_bytes(), 0);
            }
            let old = db.maybe_shrink().expect("table shrinks");
            assert!(old.is_empty());
        });
        for i in 0..100u32 {
            assert!(seen.contains(format!("k{i}").as_bytes()), "k{i} missed");
        }
    }

    #[test]
    fn prefetch_is_harmless() {
        let mut db = Db::new(0);
        assert!(db.table_lines().is_none());
        assert!(db.prefetch_entry(db.hash(b"absent")).is_none());
        db.set(b"k", s("v"), Ttl::Clear, 0);
        let lines = db.table_lines().expect("a table with a key");
        for key in [&b"k"[..], b"other"] {
            lines.prefetch(db.hash(key));
        }
        let found = db.prefetch_entry(db.hash(b"k")).expect("k is found");
        assert_eq!(&*found.key, b"k");
        Db::prefetch_name(found);
        assert_eq!(db.len(), 1);
        assert!(db.get_mut(b"k", 0).is_some());
    }

    /// The prefetch computes slot addresses from hashbrown's layout; a hashbrown that
    /// changed it would only make the prefetch useless, and this test says so.
    #[test]
    fn table_lines_match_where_hashbrown_keeps_the_slots() {
        let mut db = Db::new(0);
        for i in 0..5000u32 {
            db.set(format!("key:{i}").as_bytes(), s("v"), Ttl::Clear, 0);
        }
        let first = db.table_lines().expect("a table with keys");
        // The table is replaced (FLUSHDB) and filled again to the same size: the cached
        // lines must not outlive the old allocation.
        let old = db.clear(); // kept alive, so the new table gets another address
        assert!(db.table_lines().is_none());
        for i in 0..5000u32 {
            db.set(format!("key:{i}").as_bytes(), s("v"), Ttl::Clear, 0);
        }
        let lines = db.table_lines().expect("a table with keys");
        assert_eq!(lines.mask, first.mask);
        assert_eq!(lines.mask, db.table.num_buckets() - 1);
        for i in 0..5000u32 {
            let key = format!("key:{i}");
            let hash = db.hash(key.as_bytes());
            let index = db
                .table
                .find_bucket_index(hash, |e| *e.key == *key.as_bytes())
                .expect("key is stored");
            let slot = db.table.get_bucket(index).unwrap() as *const Box<Entry> as usize;
            assert_eq!(
                slot,
                lines.ctrl - (index + 1) * std::mem::size_of::<usize>()
            );
        }
        drop(old);
    }

    #[test]
    fn random_key_finds_live_keys() {
        let mut db = Db::new(0);
        assert_eq!(db.random_key(|| 7, 0), None);
        db.set(b"only", s("v"), Ttl::Clear, 0);
        let mut x = 1u64;
        for _ in 0..20 {
            let k = db.random_key(
                || {
                    x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
                    x
                },
                0,
            );
            assert_eq!(k.as_deref(), Some(&b"only"[..]));
        }
    }
}
