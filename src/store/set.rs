//! The set type: distinct byte strings in a hashbrown table with the shared ahash seed.

use hashbrown::HashTable;

use super::table::hash_bytes;

/// A set value. Commands live in `cmd/sets.rs`; this holds the data.
#[derive(Debug, Clone, Default)]
pub struct Set {
    /// The members, hashed with [`hash_bytes`].
    pub table: HashTable<Box<[u8]>>,
}

impl Set {
    /// An empty set.
    pub fn new() -> Set {
        Set::default()
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// True when the set has no member (such a key is deleted).
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// True if `member` is in the set.
    pub fn contains(&self, member: &[u8]) -> bool {
        self.table
            .find(hash_bytes(member), |m| **m == *member)
            .is_some()
    }

    /// Adds `member`; returns true when it was not there yet.
    pub fn insert(&mut self, member: &[u8]) -> bool {
        let h = hash_bytes(member);
        if self.table.find(h, |m| **m == *member).is_some() {
            return false;
        }
        self.table
            .insert_unique(h, member.into(), |m| hash_bytes(m));
        true
    }

    /// Removes `member`; returns true when it was there.
    pub fn remove(&mut self, member: &[u8]) -> bool {
        match self
            .table
            .find_entry(hash_bytes(member), |m| **m == *member)
        {
            Ok(e) => {
                e.remove();
                true
            }
            Err(_) => false,
        }
    }

    /// Approximate heap bytes used.
    pub fn heap_size(&self) -> usize {
        self.table.allocation_size() + self.table.iter().map(|m| m.len()).sum::<usize>()
    }
}
