//! The stream type (Redis's t_stream.c data side): the entry log ([`log`]), consumer
//! groups ([`group`]) and the bookkeeping that relates them (entries-read and lag, as
//! Redis 7.0 keeps them).

pub mod group;
pub mod id;
pub mod log;

use std::collections::BTreeMap;

pub use group::{ENTRIES_READ_UNKNOWN, Group};
pub use id::StreamId;
pub use log::{EntryRef, Log, NodeLimits, TrimTo};

/// A stream: its entries and its consumer groups (by name, in name order).
#[derive(Debug, Clone, Default)]
pub struct Stream {
    /// The entries.
    pub log: Log,
    /// Consumer groups by name.
    pub groups: BTreeMap<Box<[u8]>, Group>,
}

impl Stream {
    /// Heap bytes used (approximate).
    pub fn heap_size(&self) -> usize {
        self.log.heap_size()
            + self
                .groups
                .iter()
                .map(|(name, g)| name.len() + g.heap_size() + 64)
                .sum::<usize>()
    }
}

impl Log {
    /// True when a tombstone may lie in `start..=end` (Redis's streamRangeHasTombstones;
    /// the caller makes sure `start` is below the last ID).
    pub fn range_has_tombstones(&self, start: StreamId, end: StreamId) -> bool {
        if self.length == 0 || self.max_deleted_id.is_zero() {
            return false;
        }
        if self.first_id > self.max_deleted_id {
            return false;
        }
        start <= self.max_deleted_id && self.max_deleted_id <= end
    }

    /// The number of entries added before and including `id`, when it can be known
    /// (Redis's streamEstimateDistanceFromFirstEverEntry); None otherwise.
    pub fn entries_before(&self, id: StreamId) -> Option<u64> {
        if self.entries_added == 0 {
            return Some(0);
        }
        if self.length == 0 && id <= self.last_id {
            return Some(self.entries_added);
        }
        match id.cmp(&self.last_id) {
            std::cmp::Ordering::Equal => return Some(self.entries_added),
            std::cmp::Ordering::Greater => return None,
            std::cmp::Ordering::Less => {}
        }
        if self.max_deleted_id.is_zero() || self.max_deleted_id < self.first_id {
            match id.cmp(&self.first_id) {
                std::cmp::Ordering::Less => return Some(self.entries_added - self.length),
                std::cmp::Ordering::Equal => {
                    return Some(self.entries_added - self.length + 1);
                }
                std::cmp::Ordering::Greater => {}
            }
        }
        None
    }

    /// A group's lag: entries not yet delivered to it, when known (XINFO's `lag`).
    pub fn lag(&self, group: &Group) -> Option<i64> {
        if self.entries_added == 0 {
            return Some(0);
        }
        if group.entries_read != ENTRIES_READ_UNKNOWN
            && !self.range_has_tombstones(group.last_id, StreamId::MAX)
        {
            return Some(self.entries_added as i64 - group.entries_read);
        }
        self.entries_before(group.last_id)
            .map(|read| self.entries_added as i64 - read as i64)
    }
}

impl Group {
    /// Advances the group past `id`, just delivered (XREADGROUP `>`), keeping its read
    /// counter as Redis does: counted while known and no tombstone lies ahead,
    /// re-estimated otherwise.
    pub fn advance(&mut self, log: &Log, id: StreamId) {
        if id <= self.last_id {
            return;
        }
        if self.entries_read != ENTRIES_READ_UNKNOWN && !log.range_has_tombstones(id, StreamId::MAX)
        {
            self.entries_read += 1;
        } else if log.entries_added != 0 {
            self.entries_read = log
                .entries_before(id)
                .map_or(ENTRIES_READ_UNKNOWN, |n| n as i64);
        }
        self.last_id = id;
    }
}
