//! Lazy free (Redis's lazyfree.c): values with many allocations are dropped on one
//! long-lived background thread, so the event loop only unlinks them.
//!
//! Freeing a 5M-member hash means 5M calls to `free`, seconds of work; UNLINK, FLUSHALL
//! ASYNC and the `lazyfree-lazy-*` options hand such values to the thread instead. As in
//! Redis, a value whose *free effort* (its number of allocations, roughly: elements of a
//! table, nodes of a list; a packed form counts 1) is at most [`THRESHOLD`] is freed inline,
//! where it costs less than the hand-off.
//!
//! The thread only drops what it receives; it never touches the keyspace. Two counters
//! mirror Redis's INFO fields: [`pending`] (`lazyfree_pending_objects`: objects handed over
//! and not yet freed) and [`freed`] (`lazyfreed_objects`, reset by CONFIG RESETSTAT).
//!
//! The thread frees the elements of a big hash, set or sorted set, and the keys of a flushed
//! database, in the order of their addresses ([`drop_in_address_order`]): each block then
//! borders the one freed just before, and glibc merges them into one free run instead of
//! leaving millions of scattered free blocks, which cost a cache miss each to free and
//! which glibc later sorts, 10,000 per call, inside the event loop's next big `malloc`
//! (perf, 5M-field hash: the thread's work fell about tenfold, the loop's `_int_malloc`
//! from 4-6% of its samples to 0.7%).
//!
//! The deletions that happen inside the keyspace (a key found expired, a value overwritten)
//! follow `lazyfree-lazy-expire` and `lazyfree-lazy-server-del`, which the event loop
//! copies here with [`set_options`] whenever the configuration changes; command handlers
//! read their own options (`lazyfree-lazy-user-del`, `-user-flush`, `-eviction`) from the
//! settings and call [`free`] or [`free_if`].

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Mutex, OnceLock};

use hashbrown::HashTable;

use super::db::Entry;
use super::value::Value;

/// Values with a larger free effort go to the thread (Redis's LAZYFREE_THRESHOLD).
pub const THRESHOLD: usize = 64;

static PENDING: AtomicUsize = AtomicUsize::new(0);
static FREED: AtomicUsize = AtomicUsize::new(0);
static LAZY_EXPIRE: AtomicBool = AtomicBool::new(false);
static LAZY_SERVER_DEL: AtomicBool = AtomicBool::new(false);

/// Something for the thread to drop, with the number of objects it counts for.
enum Job {
    /// One value (counts 1, as Redis's lazyfreeFreeObject).
    Value(Value),
    /// The tables of flushed databases (count their keys).
    Tables(Vec<HashTable<Box<Entry>>>, usize),
    /// Anything else, uncounted.
    Other(Box<dyn Send>),
}

/// Starts the thread and prepares the C library's allocator for it (the server calls this
/// once at start; otherwise the first big free starts the thread).
///
/// glibc's malloc does not coalesce small freed blocks (up to 128 bytes: hash fields, set
/// members, keyspace entries) at once: it keeps them in "fastbins" and merges them all at
/// the next request of 1 KiB or more, or the next free of 64 KiB or more, under the arena
/// lock, in whichever thread makes it (`malloc_consolidate`). A 5M-field hash freed on this
/// thread thus left 5M blocks that the event loop then merged in one go, 3.4 s later,
/// when it next allocated a big buffer (measured with perf: `malloc_consolidate` and
/// `unlink_chunk` on the loop thread). Without fastbins (`M_MXFAST` 0) every free
/// coalesces right away, on the thread that frees; the loop's own small allocations are
/// still served by its per-thread cache (tcache).
pub fn start() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes glibc's tuning (after merging the fastbins it has); it
    // may be called at any time from any thread and takes the allocator's own lock.
    unsafe {
        libc::mallopt(libc::M_MXFAST, 0);
    }
    let _ = queue();
}

/// The thread's queue, started on first use. None when the thread could not be started:
/// everything is then freed inline.
fn queue() -> Option<&'static Mutex<Sender<Job>>> {
    static QUEUE: OnceLock<Option<Mutex<Sender<Job>>>> = OnceLock::new();
    QUEUE
        .get_or_init(|| {
            let (tx, rx) = channel();
            match std::thread::Builder::new()
                .name("lazyfree".into())
                .spawn(move || run(rx))
            {
                Ok(_) => Some(Mutex::new(tx)),
                Err(e) => {
                    log::warn!("could not start the lazyfree thread ({e}); freeing inline");
                    None
                }
            }
        })
        .as_ref()
}

/// The thread: drops each job in turn, then counts it as freed.
fn run(rx: Receiver<Job>) {
    for job in rx {
        let n = match job {
            Job::Value(v) => {
                drop_value(v);
                1
            }
            Job::Tables(tables, n) => {
                for t in tables {
                    let entries: Vec<Box<Entry>> = t.into_iter().collect();
                    drop_in_address_order(entries, |e| &**e as *const Entry as usize);
                }
                n
            }
            Job::Other(b) => {
                drop(b);
                0
            }
        };
        FREED.fetch_add(n, Relaxed);
        PENDING.fetch_sub(n, Relaxed);
    }
}

/// Drops a value, the elements of the big forms in address order.
fn drop_value(v: Value) {
    match v {
        Value::Hash(h) => h.free_in_address_order(),
        Value::Set(s) => s.free_in_address_order(),
        Value::ZSet(z) => z.free_in_address_order(),
        other => drop(other),
    }
}

/// Drops `blocks` in the order of the addresses `address` gives (their own allocations),
/// so that glibc merges each freed block with the one freed before it (see the module doc).
pub fn drop_in_address_order<T>(mut blocks: Vec<T>, address: impl Fn(&T) -> usize) {
    blocks.sort_unstable_by_key(|b| address(b));
    drop(blocks);
}

/// Hands `job` (worth `n` objects) to the thread; drops it here if there is none.
fn send(job: Job, n: usize) {
    let Some(q) = queue() else {
        return; // `job` is dropped inline
    };
    PENDING.fetch_add(n, Relaxed);
    // Only the event loop sends, so the lock is never contended; a poisoned lock still
    // holds a working sender.
    let tx = q.lock().unwrap_or_else(|p| p.into_inner());
    if let Err(back) = tx.send(job) {
        // The thread is gone (it panicked): free inline from now on.
        PENDING.fetch_sub(n, Relaxed);
        drop(back);
    }
}

/// The work of freeing `v`, in allocations (Redis's lazyfreeGetFreeEffort): the elements
/// of a set, hash or sorted set in its big form, the nodes of a list, the nodes of a
/// stream plus its groups times the pending entries of the first one; 1 for strings and
/// packed forms.
pub fn free_effort(v: &Value) -> usize {
    match v {
        Value::Str(_) => 1,
        Value::List(l) => l.node_count(),
        Value::Set(s) if !s.is_intset() => s.len(),
        Value::Hash(h) if !h.is_small() => h.len(),
        Value::ZSet(z) if !z.is_compact() => z.len(),
        Value::Stream(s) => {
            let groups = s.groups.len();
            let first_pel = s.groups.values().next().map_or(0, |g| g.pel.len());
            s.log.node_count() + groups * (1 + first_pel)
        }
        Value::Set(_) | Value::Hash(_) | Value::ZSet(_) => 1,
    }
}

/// Frees `v`: on the thread when its free effort exceeds [`THRESHOLD`], inline otherwise
/// (Redis's freeObjAsync). UNLINK and every `lazyfree-lazy-*` deletion go through here.
pub fn free(v: Value) {
    if free_effort(&v) > THRESHOLD {
        send(Job::Value(v), 1);
    }
}

/// [`free`] when `lazy`, else an inline drop (an option such as `lazyfree-lazy-user-del`).
#[inline]
pub fn free_if(lazy: bool, v: Value) {
    if lazy {
        free(v);
    }
}

/// Frees the old tables of flushed databases on the thread whatever their size, counting
/// their keys as freed objects (FLUSHDB / FLUSHALL ASYNC, as Redis's emptyDbAsync).
pub fn free_tables(tables: Vec<HashTable<Box<Entry>>>) {
    let keys = tables.iter().map(HashTable::len).sum();
    send(Job::Tables(tables, keys), keys);
}

/// Drops `v` on the thread without counting it: housekeeping such as the empty table a
/// shrink leaves behind, whose unmapping takes milliseconds.
pub fn free_uncounted<T: Send + 'static>(v: T) {
    send(Job::Other(Box::new(v)), 0);
}

/// A value removed because its key expired (`lazyfree-lazy-expire`).
#[inline]
pub fn free_expired(v: Value) {
    free_if(LAZY_EXPIRE.load(Relaxed), v);
}

/// A value deleted or replaced by the server itself: overwritten by SET or a STORE
/// command, a RENAME or COPY destination (`lazyfree-lazy-server-del`, Redis's dbDelete
/// and dbOverwrite).
#[inline]
pub fn free_server_del(v: Value) {
    free_if(LAZY_SERVER_DEL.load(Relaxed), v);
}

/// The `lazyfree-lazy-*` parameters (CONFIG; all `no` by default, as in Redis 7.0).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Options {
    /// Keys evicted for maxmemory.
    pub eviction: bool,
    /// Keys removed because their TTL passed.
    pub expire: bool,
    /// Values the server deletes or overwrites itself (SET over a key, RENAME's target).
    pub server_del: bool,
    /// DEL (and GETDEL) behaves as UNLINK.
    pub user_del: bool,
    /// FLUSHDB, FLUSHALL, SCRIPT FLUSH and FUNCTION FLUSH without SYNC or ASYNC are ASYNC.
    pub user_flush: bool,
}

/// Copies the options the keyspace applies by itself ([`free_expired`],
/// [`free_server_del`]); the event loop calls it at start and after CONFIG SET.
pub fn set_options(o: &Options) {
    LAZY_EXPIRE.store(o.expire, Relaxed);
    LAZY_SERVER_DEL.store(o.server_del, Relaxed);
}

/// Objects handed to the thread and not freed yet (INFO `lazyfree_pending_objects`).
pub fn pending() -> usize {
    PENDING.load(Relaxed)
}

/// Objects the thread has freed (INFO `lazyfreed_objects`).
pub fn freed() -> usize {
    FREED.load(Relaxed)
}

/// CONFIG RESETSTAT: the freed count starts again from 0 (pending objects stay pending).
pub fn reset_stats() {
    FREED.store(0, Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Hash, List, Set, Str, ZSet};

    fn big_set(n: usize) -> Value {
        let mut s = Set::new();
        for i in 0..n {
            s.insert(format!("m{i}").as_bytes(), 512);
        }
        Value::Set(s)
    }

    #[test]
    fn effort_counts_allocations_like_redis() {
        assert_eq!(free_effort(&Value::Str(Str::from_bytes(b"x"))), 1);
        assert_eq!(free_effort(&big_set(10)), 10);
        assert_eq!(free_effort(&big_set(1000)), 1000);
        let mut ints = Set::new();
        for i in 0..100 {
            ints.insert(i.to_string().as_bytes(), 512);
        }
        assert!(ints.is_intset());
        assert_eq!(free_effort(&Value::Set(ints)), 1);
        let limits = crate::store::Limits::default();
        let mut h = Hash::new();
        for i in 0..10 {
            h.insert(format!("f{i}").as_bytes(), b"v", &limits);
        }
        assert_eq!(free_effort(&Value::Hash(h.clone())), 1, "listpack");
        for i in 10..1000 {
            h.insert(format!("f{i}").as_bytes(), b"v", &limits);
        }
        assert_eq!(free_effort(&Value::Hash(h)), 1000);
        let mut z = ZSet::new();
        assert_eq!(free_effort(&Value::ZSet(z.clone())), 1);
        for i in 0..1000 {
            z.insert(format!("m{i}").as_bytes(), f64::from(i));
        }
        assert_eq!(free_effort(&Value::ZSet(z)), 1000);
        let mut l = List::new();
        for i in 0..100_000 {
            l.push_back(format!("element-{i}").as_bytes());
        }
        assert_eq!(free_effort(&Value::List(l.clone())), l.node_count());
        assert!(l.node_count() > THRESHOLD);
    }

    #[test]
    fn address_order_frees_everything() {
        let mut h = Hash::new();
        let limits = crate::store::Limits::default();
        for i in 0..2000 {
            h.insert(format!("field-{i}").as_bytes(), b"value", &limits);
        }
        let mut s = Set::new();
        let mut z = ZSet::new();
        for i in 0..2000 {
            let long = format!("a member too long to sit inline {i}");
            s.insert(long.as_bytes(), 512);
            s.insert(format!("m{i}").as_bytes(), 512);
            z.insert(long.as_bytes(), f64::from(i));
            z.insert(format!("m{i}").as_bytes(), f64::from(i));
        }
        // Short members sit inline, long ones are blocks of their own: both kinds go.
        drop_value(Value::Hash(h));
        drop_value(Value::Set(s));
        drop_value(Value::ZSet(z));
        let order = std::cell::RefCell::new(Vec::new());
        struct Block<'a>(usize, &'a std::cell::RefCell<Vec<usize>>);
        impl Drop for Block<'_> {
            fn drop(&mut self) {
                self.1.borrow_mut().push(self.0);
            }
        }
        let blocks = [30, 10, 20].map(|a| Block(a, &order)).into_iter().collect();
        drop_in_address_order(blocks, |b: &Block| b.0);
        assert_eq!(*order.borrow(), [10, 20, 30]);
    }

    #[test]
    fn big_values_are_freed_on_the_thread() {
        // Other tests may use the thread at the same time: count only what this one adds.
        let before = freed();
        free(big_set(10)); // inline
        free(big_set(THRESHOLD + 1));
        let mut db = crate::store::Db::new(0);
        for k in ["a", "b", "c"] {
            db.set(k.as_bytes(), big_set(100), crate::store::Ttl::Clear, 0);
        }
        free_tables(vec![db.clear(), HashTable::new()]);
        free_uncounted(vec![0u8; 16]);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while freed() < before + 4 {
            assert!(
                std::time::Instant::now() < deadline,
                "the thread never freed"
            );
            std::thread::yield_now();
        }
    }
}
