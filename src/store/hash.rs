//! The hash type: field -> value, in two encodings as in Redis.
//!
//! A small hash (at most [`SMALL_MAX_FIELDS`] fields, none of its fields or values longer
//! than [`SMALL_MAX_VALUE`] bytes: Redis's `hash-max-listpack-entries` and
//! `hash-max-listpack-value` defaults) is a vector of pairs in insertion order, searched
//! linearly, like Redis's listpack. Beyond that it becomes a hashbrown table with the shared
//! ahash seed, and stays one. Keeping Redis's thresholds and order means HGETALL, HKEYS,
//! HVALS and HSCAN of a small hash answer in the very order Redis does, and HSCAN of a
//! small hash returns everything in one call with cursor 0, as Redis's does; a few dozen
//! fields are also far smaller and faster to search as a vector than as a table.

use hashbrown::HashTable;

use super::list::SmallBytes;
use super::table::{self, hash_bytes};

/// Most fields a hash keeps in the small encoding: Redis's built-in default of
/// `hash-max-listpack-entries` (what `redis-server` uses without a config file; the sample
/// redis.conf sets 128).
pub const SMALL_MAX_FIELDS: usize = 512;

/// Longest field or value the small encoding accepts (Redis's `hash-max-listpack-value`).
pub const SMALL_MAX_VALUE: usize = 64;

/// A field and its value.
#[derive(Debug, Clone)]
pub struct Field {
    /// The field's name.
    pub name: SmallBytes,
    /// Its value.
    pub value: SmallBytes,
}

impl Field {
    fn new(name: &[u8], value: &[u8]) -> Field {
        Field {
            name: SmallBytes::new(name),
            value: SmallBytes::new(value),
        }
    }
}

/// The two encodings.
#[derive(Debug, Clone)]
enum Repr {
    /// Insertion order, linear search (Redis's listpack).
    Small(Vec<Field>),
    /// Hashed by field name with [`hash_bytes`] (Redis's hashtable).
    Table(HashTable<Field>),
}

/// A hash value. Commands live in `cmd/hashes.rs`; this holds the data.
#[derive(Debug, Clone)]
pub struct Hash {
    repr: Repr,
}

impl Default for Hash {
    fn default() -> Hash {
        Hash {
            repr: Repr::Small(Vec::new()),
        }
    }
}

/// Iterator over `(field, value)` pairs.
pub struct Iter<'a> {
    inner: IterRepr<'a>,
}

enum IterRepr<'a> {
    Small(std::slice::Iter<'a, Field>),
    Table(hashbrown::hash_table::Iter<'a, Field>),
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a [u8], &'a [u8]);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        let f = match &mut self.inner {
            IterRepr::Small(i) => i.next(),
            IterRepr::Table(i) => i.next(),
        }?;
        Some((f.name.as_bytes(), f.value.as_bytes()))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match &self.inner {
            IterRepr::Small(i) => i.size_hint(),
            IterRepr::Table(i) => i.size_hint(),
        }
    }
}

impl ExactSizeIterator for Iter<'_> {}

impl Hash {
    /// An empty hash.
    pub fn new() -> Hash {
        Hash::default()
    }

    /// Number of fields.
    #[inline]
    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Small(v) => v.len(),
            Repr::Table(t) => t.len(),
        }
    }

    /// True when the hash has no field (such a key is deleted).
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Redis's name of the current encoding (`listpack` or `hashtable`), for OBJECT
    /// ENCODING.
    pub fn encoding(&self) -> &'static str {
        match &self.repr {
            Repr::Small(_) => "listpack",
            Repr::Table(_) => "hashtable",
        }
    }

    /// True when the hash is in the small, ordered encoding (HSCAN then returns it whole).
    pub fn is_small(&self) -> bool {
        matches!(self.repr, Repr::Small(_))
    }

    /// The value of `field`.
    #[inline]
    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        let f = match &self.repr {
            Repr::Small(v) => v.iter().find(|f| f.name.as_bytes() == field),
            Repr::Table(t) => t.find(hash_bytes(field), |f| f.name.as_bytes() == field),
        };
        f.map(|f| f.value.as_bytes())
    }

    /// Sets `field` to `value`; returns true when the field is new.
    #[inline]
    pub fn insert(&mut self, field: &[u8], value: &[u8]) -> bool {
        if let Repr::Small(v) = &mut self.repr {
            if field.len() <= SMALL_MAX_VALUE && value.len() <= SMALL_MAX_VALUE {
                if let Some(f) = v.iter_mut().find(|f| f.name.as_bytes() == field) {
                    f.value.assign(value);
                    return false;
                }
                v.push(Field::new(field, value));
                if v.len() > SMALL_MAX_FIELDS {
                    self.convert();
                }
                return true;
            }
            // Redis converts before storing a field or value too long for a listpack.
            self.convert();
        }
        let Repr::Table(t) = &mut self.repr else {
            unreachable!("converted above");
        };
        let h = hash_bytes(field);
        match t.find_mut(h, |f| f.name.as_bytes() == field) {
            Some(f) => {
                f.value.assign(value);
                false
            }
            None => {
                t.insert_unique(h, Field::new(field, value), |f| hash_bytes(&f.name));
                true
            }
        }
    }

    /// Moves the fields into a hash table (for good: Redis never converts back).
    fn convert(&mut self) {
        if let Repr::Small(v) = &mut self.repr {
            let mut t = HashTable::with_capacity(v.len());
            for f in v.drain(..) {
                t.insert_unique(hash_bytes(&f.name), f, |f| hash_bytes(&f.name));
            }
            self.repr = Repr::Table(t);
        }
    }

    /// Removes `field`; returns true when it existed. The small encoding keeps the order
    /// of the other fields, as a listpack deletion does.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        match &mut self.repr {
            Repr::Small(v) => match v.iter().position(|f| f.name.as_bytes() == field) {
                Some(i) => {
                    v.remove(i);
                    true
                }
                None => false,
            },
            Repr::Table(t) => match t.find_entry(hash_bytes(field), |f| f.name.as_bytes() == field)
            {
                Ok(e) => {
                    e.remove();
                    // Give memory back after mass deletions, but only while the rehash
                    // that costs stays short (as the keyspace's own shrink does).
                    if t.capacity() > 64 && t.len() * 8 < t.capacity() && t.len() <= 32 * 1024 {
                        t.shrink_to_fit(|f| hash_bytes(&f.name));
                    }
                    true
                }
                Err(_) => false,
            },
        }
    }

    /// All `(field, value)` pairs: insertion order for a small hash, table order otherwise.
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            inner: match &self.repr {
                Repr::Small(v) => IterRepr::Small(v.iter()),
                Repr::Table(t) => IterRepr::Table(t.iter()),
            },
        }
    }

    /// A random pair (HRANDFIELD), picked uniformly with `rand`, or None when empty.
    pub fn random(&self, rand: u64) -> Option<(&[u8], &[u8])> {
        let i = self.random_slot(rand)?;
        self.slot(i)
    }

    /// A uniformly random occupied slot (see [`Hash::slot`]), or None when empty.
    pub fn random_slot(&self, rand: u64) -> Option<usize> {
        match &self.repr {
            Repr::Small(v) if v.is_empty() => None,
            Repr::Small(v) => Some(table::below(rand, v.len())),
            Repr::Table(t) => table::random_bucket(t, rand),
        }
    }

    /// The pair at slot `i` (a vector index, or a table bucket), if it is occupied.
    pub fn slot(&self, i: usize) -> Option<(&[u8], &[u8])> {
        let f = match &self.repr {
            Repr::Small(v) => v.get(i),
            Repr::Table(t) => t.get_bucket(i),
        }?;
        Some((f.name.as_bytes(), f.value.as_bytes()))
    }

    /// One HSCAN step from `cursor`: calls `f` for about `count` pairs (all of them for a
    /// small hash, as Redis does for a listpack) and returns the next cursor (0 when done).
    pub fn scan(&self, cursor: u64, count: usize, mut f: impl FnMut(&[u8], &[u8])) -> u64 {
        match &self.repr {
            Repr::Small(v) => {
                for p in v {
                    f(&p.name, &p.value);
                }
                0
            }
            Repr::Table(t) => table::scan(
                t,
                |p| hash_bytes(&p.name),
                cursor,
                count,
                |p| f(&p.name, &p.value),
            ),
        }
    }

    /// Approximate heap bytes used.
    pub fn heap_size(&self) -> usize {
        let own = match &self.repr {
            Repr::Small(v) => v.capacity() * std::mem::size_of::<Field>(),
            Repr::Table(t) => t.allocation_size(),
        };
        own + self
            .iter()
            .map(|(f, v)| {
                let size = |b: &[u8]| {
                    if b.len() > super::list::INLINE {
                        b.len()
                    } else {
                        0
                    }
                };
                size(f) + size(v)
            })
            .sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(h: &Hash) -> Vec<String> {
        h.iter()
            .map(|(f, _)| String::from_utf8_lossy(f).into_owned())
            .collect()
    }

    #[test]
    fn small_keeps_insertion_order() {
        let mut h = Hash::new();
        assert!(h.insert(b"b", b"1"));
        assert!(h.insert(b"a", b"2"));
        assert!(h.insert(b"c", b"3"));
        assert!(!h.insert(b"a", b"22"));
        assert_eq!(fields(&h), ["b", "a", "c"]);
        assert!(h.remove(b"b"));
        assert!(!h.remove(b"b"));
        assert_eq!(fields(&h), ["a", "c"]);
        assert_eq!(h.get(b"a"), Some(&b"22"[..]));
        assert_eq!(h.encoding(), "listpack");
        let mut seen = Vec::new();
        assert_eq!(h.scan(12345, 1, |f, _| seen.push(f.to_vec())), 0);
        assert_eq!(seen.len(), 2);
    }

    #[test]
    fn converts_at_redis_thresholds() {
        let mut h = Hash::new();
        for i in 0..SMALL_MAX_FIELDS {
            h.insert(format!("f{i}").as_bytes(), b"v");
        }
        assert!(h.is_small());
        h.insert(b"one more", b"v");
        assert_eq!(h.encoding(), "hashtable");
        assert_eq!(h.len(), SMALL_MAX_FIELDS + 1);
        for i in 0..SMALL_MAX_FIELDS {
            assert_eq!(h.get(format!("f{i}").as_bytes()), Some(&b"v"[..]));
        }

        let mut h = Hash::new();
        h.insert(b"f", &[b'x'; SMALL_MAX_VALUE]);
        assert!(h.is_small());
        h.insert(b"g", &[b'x'; SMALL_MAX_VALUE + 1]);
        assert!(!h.is_small());
        // Never back, even when it shrinks.
        h.remove(b"g");
        assert!(!h.is_small());
        assert_eq!(h.get(b"f").map(<[u8]>::len), Some(SMALL_MAX_VALUE));
    }

    #[test]
    fn table_operations_and_random() {
        let mut h = Hash::new();
        for i in 0..1000u32 {
            assert!(h.insert(&i.to_be_bytes(), &i.to_le_bytes()));
        }
        assert!(!h.insert(&7u32.to_be_bytes(), b"seven"));
        assert_eq!(h.get(&7u32.to_be_bytes()), Some(&b"seven"[..]));
        assert_eq!(h.iter().count(), 1000);
        let mut seed = 99u64;
        for _ in 0..100 {
            assert!(h.random(crate::store::next_random(&mut seed)).is_some());
        }
        for i in 0..1000u32 {
            assert!(h.remove(&i.to_be_bytes()));
        }
        assert!(h.is_empty());
        assert_eq!(h.random(5), None);
        assert_eq!(h.scan(0, 10, |_, _| panic!("empty")), 0);
    }
}
