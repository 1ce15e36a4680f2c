//! Prefetching the keys of a turn's requests, in three passes, so their cache misses
//! overlap instead of each stalling its command in turn.
//!
//! A lookup reads, one after the other: the table's control bytes, the slot (a pointer),
//! the entry, and for names over 18 bytes the name on the heap. Each read needs the one
//! before it, so prefetching a key in one go stalls on the first two. The event loop
//! instead gives every key of the turn to [`BatchPrefetch::add`], which hashes it and asks
//! for its table lines, then calls [`BatchPrefetch::run`], which asks for the entries
//! (their slots have arrived meanwhile) and then for the heap names (their entries have).

use super::db::Entry;
use super::{Db, Store};

/// The keys of one turn between the passes; kept by the event loop so its buffers are
/// reused.
#[derive(Default)]
pub struct BatchPrefetch {
    /// (database, hash) of each key added.
    keys: Vec<(usize, u64)>,
    /// Entries found by the second pass, for the third.
    entries: Vec<*const Entry>,
}

impl BatchPrefetch {
    /// First pass: hashes `key` and asks for the table lines its lookup in database `db`
    /// will read.
    #[inline]
    pub fn add(&mut self, store: &Store, db: usize, key: &[u8]) {
        let d = store.db_ref(db);
        let Some(lines) = d.table_lines() else {
            return; // an empty database: nothing to find
        };
        let hash = d.hash(key);
        lines.prefetch(hash);
        self.keys.push((db, hash));
    }

    /// Second and third passes: asks for the entries of the keys added, then for their
    /// heap names. Leaves the batch empty for the next turn.
    pub fn run(&mut self, store: &Store) {
        self.entries.clear();
        for &(db, hash) in &self.keys {
            if let Some(e) = store.db_ref(db).prefetch_entry(hash) {
                self.entries.push(e);
            }
        }
        for &e in &self.entries {
            // SAFETY: `store` is borrowed immutably since the second pass took these
            // pointers from its tables, so every entry is still alive and unchanged.
            Db::prefetch_name(unsafe { &*e });
        }
        self.keys.clear();
        self.entries.clear();
    }
}
