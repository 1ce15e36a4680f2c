//! The hash type: field -> value, in a hashbrown table with the shared ahash seed.

use hashbrown::HashTable;

use super::table::hash_bytes;

/// A field and its value.
pub type Field = (Box<[u8]>, Box<[u8]>);

/// A hash value. Commands live in `cmd/hashes.rs`; this holds the data.
#[derive(Debug, Clone, Default)]
pub struct Hash {
    /// `(field, value)` pairs, hashed by field with [`hash_bytes`].
    pub table: HashTable<Field>,
}

impl Hash {
    /// An empty hash.
    pub fn new() -> Hash {
        Hash::default()
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// True when the hash has no field (such a key is deleted).
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// The value of `field`.
    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        self.table
            .find(hash_bytes(field), |(f, _)| **f == *field)
            .map(|(_, v)| &**v)
    }

    /// Sets `field` to `value`; returns true when the field is new.
    pub fn insert(&mut self, field: &[u8], value: &[u8]) -> bool {
        let h = hash_bytes(field);
        match self.table.find_mut(h, |(f, _)| **f == *field) {
            Some((_, v)) => {
                *v = value.into();
                false
            }
            None => {
                self.table
                    .insert_unique(h, (field.into(), value.into()), |(f, _)| hash_bytes(f));
                true
            }
        }
    }

    /// Removes `field`; returns true when it existed.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        match self
            .table
            .find_entry(hash_bytes(field), |(f, _)| **f == *field)
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
        self.table.allocation_size()
            + self
                .table
                .iter()
                .map(|(f, v)| f.len() + v.len())
                .sum::<usize>()
    }
}
