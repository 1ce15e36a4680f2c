//! The sorted-set type: member -> score, plus an order by (score, member).

use hashbrown::HashTable;

use super::table::hash_bytes;

/// A sorted set value. Commands live in `cmd/zsets.rs`; this holds the data.
#[derive(Debug, Clone, Default)]
pub struct ZSet {
    /// `(member, score)` pairs, hashed by member with [`hash_bytes`].
    pub dict: HashTable<(Box<[u8]>, f64)>,
}

impl ZSet {
    /// An empty sorted set.
    pub fn new() -> ZSet {
        ZSet::default()
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        self.dict.len()
    }

    /// True when the set has no member (such a key is deleted).
    pub fn is_empty(&self) -> bool {
        self.dict.is_empty()
    }

    /// The score of `member`.
    pub fn score(&self, member: &[u8]) -> Option<f64> {
        self.dict
            .find(hash_bytes(member), |(m, _)| **m == *member)
            .map(|(_, s)| *s)
    }

    /// Approximate heap bytes used.
    pub fn heap_size(&self) -> usize {
        self.dict.allocation_size() + self.dict.iter().map(|(m, _)| m.len()).sum::<usize>()
    }
}
