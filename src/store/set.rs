//! The set type, with Redis 7.0's two encodings.
//!
//! * **intset**: a set whose members are all canonical 64-bit integers (Redis's
//!   `string2ll` form) and that never grew past [`MAX_INTSET_ENTRIES`] is a sorted `Vec<i64>`:
//!   8 bytes a member, and replies list it in ascending order exactly as Redis's intset does
//!   (so SMEMBERS, SSCAN and SUNION of such sets are deterministic and match Redis byte for
//!   byte).
//! * **table**: anything else is a hashbrown table of byte strings hashed with the
//!   process-wide ahash seed.
//!
//! Conversion is one way (intset -> table), as in Redis: adding a non-integer member or the
//! 513th member converts; removing members never converts back.

use hashbrown::HashTable;

use super::table::{self, hash_bytes};
use crate::resp::{format_i64, parse_i64};

/// Most members an all-integer set keeps in its sorted form (Redis's
/// `set-max-intset-entries` default).
pub const MAX_INTSET_ENTRIES: usize = 512;

/// A set value. Commands live in `cmd/sets.rs`; this holds the data.
#[derive(Debug, Clone)]
pub struct Set {
    repr: Repr,
}

#[derive(Debug, Clone)]
enum Repr {
    /// Sorted, distinct integers.
    Ints(Vec<i64>),
    /// Distinct byte strings, hashed with [`hash_bytes`].
    Table(HashTable<Box<[u8]>>),
}

impl Default for Set {
    fn default() -> Set {
        Set {
            repr: Repr::Ints(Vec::new()),
        }
    }
}

/// One member of a set, borrowed: integers of an intset are not stored as text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Member<'a> {
    /// A member of an intset.
    Int(i64),
    /// A member of a table set.
    Bytes(&'a [u8]),
}

impl Member<'_> {
    /// Calls `f` with the member's bytes (integers are formatted on the stack).
    #[inline]
    pub fn with_bytes<R>(self, f: impl FnOnce(&[u8]) -> R) -> R {
        match self {
            Member::Int(v) => f(format_i64(v, &mut [0; 20])),
            Member::Bytes(b) => f(b),
        }
    }

    /// The member's bytes, copied.
    pub fn to_vec(self) -> Vec<u8> {
        self.with_bytes(<[u8]>::to_vec)
    }
}

/// A member taken out of a set (SPOP): owned, so the caller can reply with it without
/// copying it again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Popped {
    /// From an intset.
    Int(i64),
    /// From a table set: the member's own allocation.
    Bytes(Box<[u8]>),
}

impl Popped {
    /// Borrows it as a [`Member`].
    pub fn as_member(&self) -> Member<'_> {
        match self {
            Popped::Int(v) => Member::Int(*v),
            Popped::Bytes(b) => Member::Bytes(b),
        }
    }
}

/// Iterator over the members of a [`Set`] (intsets in ascending order).
pub enum Iter<'a> {
    /// Over an intset.
    Ints(std::slice::Iter<'a, i64>),
    /// Over a table.
    Table(hashbrown::hash_table::Iter<'a, Box<[u8]>>),
}

impl<'a> Iterator for Iter<'a> {
    type Item = Member<'a>;

    #[inline]
    fn next(&mut self) -> Option<Member<'a>> {
        match self {
            Iter::Ints(it) => it.next().map(|&v| Member::Int(v)),
            Iter::Table(it) => it.next().map(|b| Member::Bytes(b)),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match self {
            Iter::Ints(it) => it.size_hint(),
            Iter::Table(it) => it.size_hint(),
        }
    }
}

impl std::fmt::Debug for Iter<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("set::Iter")
    }
}

/// Equality closure for a table probe.
#[inline]
fn is(member: &[u8]) -> impl Fn(&Box<[u8]>) -> bool + '_ {
    move |m| **m == *member
}

impl Set {
    /// An empty set (an intset until a non-integer member arrives, as Redis's
    /// `createIntsetObject`).
    pub fn new() -> Set {
        Set::default()
    }

    /// Number of members.
    #[inline]
    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Ints(v) => v.len(),
            Repr::Table(t) => t.len(),
        }
    }

    /// True when the set has no member (such a key is deleted).
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Redis's name of the encoding (OBJECT ENCODING).
    pub fn encoding(&self) -> &'static str {
        if self.is_intset() {
            "intset"
        } else {
            "hashtable"
        }
    }

    /// True while the set uses the sorted integer encoding (OBJECT ENCODING "intset").
    pub fn is_intset(&self) -> bool {
        matches!(self.repr, Repr::Ints(_))
    }

    /// True if `member` is in the set.
    #[inline]
    pub fn contains(&self, member: &[u8]) -> bool {
        match &self.repr {
            // A string that is not a canonical integer cannot be in an intset.
            Repr::Ints(v) => parse_i64(member).is_some_and(|i| v.binary_search(&i).is_ok()),
            Repr::Table(t) => t.find(hash_bytes(member), is(member)).is_some(),
        }
    }

    /// True if `member` (from another set) is in this set.
    #[inline]
    pub fn contains_member(&self, member: Member) -> bool {
        match (&self.repr, member) {
            (Repr::Ints(v), Member::Int(i)) => v.binary_search(&i).is_ok(),
            _ => member.with_bytes(|b| self.contains(b)),
        }
    }

    /// Adds `member`; returns true when it was not there yet.
    pub fn insert(&mut self, member: &[u8]) -> bool {
        if let Repr::Ints(v) = &mut self.repr {
            if let Some(i) = parse_i64(member) {
                return Self::insert_int(v, i) && self.convert_if_too_big();
            }
            self.convert_to_table(1);
        }
        match &mut self.repr {
            Repr::Table(t) => Self::insert_bytes(t, member),
            Repr::Ints(_) => unreachable!("converted above"),
        }
    }

    /// Adds a member of another set; returns true when it was not there yet.
    pub fn insert_member(&mut self, member: Member) -> bool {
        match (&mut self.repr, member) {
            (Repr::Ints(v), Member::Int(i)) => Self::insert_int(v, i) && self.convert_if_too_big(),
            _ => member.with_bytes(|b| self.insert(b)),
        }
    }

    /// Inserts into a sorted vector; true when new. Grows by an eighth rather than
    /// doubling: small sets are many, and each keeps its spare capacity.
    fn insert_int(v: &mut Vec<i64>, i: i64) -> bool {
        match v.binary_search(&i) {
            Ok(_) => false,
            Err(pos) => {
                if v.len() == v.capacity() {
                    v.reserve_exact(1 + v.len() / 8);
                }
                v.insert(pos, i);
                true
            }
        }
    }

    /// Inserts into a table; true when new. Allocates only for a new member.
    fn insert_bytes(t: &mut HashTable<Box<[u8]>>, member: &[u8]) -> bool {
        let h = hash_bytes(member);
        if t.find(h, is(member)).is_some() {
            return false;
        }
        t.insert_unique(h, member.into(), |m| hash_bytes(m));
        true
    }

    /// After an intset insert: converts once past [`MAX_INTSET_ENTRIES`]. Always true (the
    /// insert it follows added a member).
    fn convert_if_too_big(&mut self) -> bool {
        if self.len() > MAX_INTSET_ENTRIES {
            self.convert_to_table(0);
        }
        true
    }

    /// Switches an intset to the table encoding, with room for `extra` more members.
    fn convert_to_table(&mut self, extra: usize) {
        if let Repr::Ints(v) = &self.repr {
            let mut t = HashTable::with_capacity(v.len() + extra);
            let mut buf = [0u8; 20];
            for &i in v {
                let m: Box<[u8]> = format_i64(i, &mut buf).into();
                t.insert_unique(hash_bytes(&m), m, |m| hash_bytes(m));
            }
            self.repr = Repr::Table(t);
        }
    }

    /// Removes `member`; returns true when it was there.
    pub fn remove(&mut self, member: &[u8]) -> bool {
        match &mut self.repr {
            Repr::Ints(v) => match parse_i64(member).map(|i| v.binary_search(&i)) {
                Some(Ok(pos)) => {
                    v.remove(pos);
                    true
                }
                _ => false,
            },
            Repr::Table(t) => match t.find_entry(hash_bytes(member), is(member)) {
                Ok(e) => {
                    e.remove();
                    self.shrink_if_sparse();
                    true
                }
                Err(_) => false,
            },
        }
    }

    /// Gives table memory back once under 10% full (Redis's `htNeedsResize`), so that
    /// random picks, which probe random buckets until one is occupied, stay O(1).
    fn shrink_if_sparse(&mut self) {
        if let Repr::Table(t) = &mut self.repr {
            let buckets = t.num_buckets();
            if buckets > 64 && t.len() * 10 < buckets {
                t.shrink_to(t.len(), |m| hash_bytes(m));
            }
        }
    }

    /// The members: an intset in ascending order, a table in bucket order.
    pub fn iter(&self) -> Iter<'_> {
        match &self.repr {
            Repr::Ints(v) => Iter::Ints(v.iter()),
            Repr::Table(t) => Iter::Table(t.iter()),
        }
    }

    /// A uniformly random member (`rand` supplies the randomness), None when empty.
    pub fn random(&self, rand: u64) -> Option<Member<'_>> {
        match &self.repr {
            Repr::Ints(v) => (!v.is_empty()).then(|| Member::Int(v[table::below(rand, v.len())])),
            Repr::Table(t) => {
                let i = table::random_bucket(t, rand)?;
                t.get_bucket(i).map(|b| Member::Bytes(b))
            }
        }
    }

    /// Removes and returns a random member (SPOP), None when empty.
    pub fn pop_random(&mut self, rand: u64) -> Option<Popped> {
        let popped = match &mut self.repr {
            Repr::Ints(v) => {
                if v.is_empty() {
                    return None;
                }
                Popped::Int(v.remove(table::below(rand, v.len())))
            }
            Repr::Table(t) => {
                let i = table::random_bucket(t, rand)?;
                let (m, _) = t.get_bucket_entry(i).ok()?.remove();
                Popped::Bytes(m)
            }
        };
        self.shrink_if_sparse();
        Some(popped)
    }

    /// One SSCAN step over a table set (see [`table::scan`]); returns the next cursor.
    /// An intset is not scanned incrementally: Redis returns all of it at once, and so do
    /// callers (see [`Set::is_intset`]); here it is visited whole and 0 returned.
    pub fn scan<'a>(&'a self, cursor: u64, count: usize, mut f: impl FnMut(Member<'a>)) -> u64 {
        match &self.repr {
            Repr::Ints(v) => {
                v.iter().for_each(|&i| f(Member::Int(i)));
                0
            }
            Repr::Table(t) => table::scan(
                t,
                |m| hash_bytes(m),
                cursor,
                count,
                |m| {
                    // The scan lends each member only for the call; finding it again borrows
                    // it from the set itself, so callers can keep it.
                    if let Some(kept) = t.find(hash_bytes(m), is(m)) {
                        f(Member::Bytes(kept))
                    }
                },
            ),
        }
    }

    /// Approximate heap bytes used.
    pub fn heap_size(&self) -> usize {
        match &self.repr {
            Repr::Ints(v) => v.capacity() * 8,
            Repr::Table(t) => t.allocation_size() + t.iter().map(|m| m.len()).sum::<usize>(),
        }
    }
}

impl FromIterator<Vec<u8>> for Set {
    fn from_iter<I: IntoIterator<Item = Vec<u8>>>(iter: I) -> Set {
        let mut s = Set::new();
        for m in iter {
            s.insert(&m);
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn members(s: &Set) -> BTreeSet<Vec<u8>> {
        s.iter().map(Member::to_vec).collect()
    }

    #[test]
    fn integers_stay_sorted_until_a_string_arrives() {
        let mut s = Set::new();
        for m in ["5", "-3", "100", "5"] {
            s.insert(m.as_bytes());
        }
        assert!(s.is_intset());
        assert_eq!(s.len(), 3);
        let order: Vec<Vec<u8>> = s.iter().map(Member::to_vec).collect();
        assert_eq!(order, vec![b"-3".to_vec(), b"5".to_vec(), b"100".to_vec()]);
        // Not canonical integers: these must not match 5 or 0.
        assert!(!s.contains(b"05"));
        assert!(!s.contains(b"+5"));
        assert!(s.contains(b"5"));
        assert!(s.insert(b"05"));
        assert!(!s.is_intset());
        assert!(s.contains(b"5") && s.contains(b"05") && s.contains(b"-3"));
        assert_eq!(s.len(), 4);
        assert!(s.remove(b"-3"));
        assert!(!s.remove(b"-3"));
        assert_eq!(s.len(), 3);
    }

    #[test]
    fn intset_converts_past_its_limit() {
        let mut s = Set::new();
        for i in 0..MAX_INTSET_ENTRIES {
            assert!(s.insert(i.to_string().as_bytes()));
        }
        assert!(s.is_intset());
        assert!(s.insert(b"-1"));
        assert!(!s.is_intset());
        assert_eq!(s.len(), MAX_INTSET_ENTRIES + 1);
        for i in 0..MAX_INTSET_ENTRIES {
            assert!(s.contains(i.to_string().as_bytes()));
        }
        // Never converts back.
        for i in 0..MAX_INTSET_ENTRIES {
            s.remove(i.to_string().as_bytes());
        }
        assert!(!s.is_intset());
        assert_eq!(members(&s), BTreeSet::from([b"-1".to_vec()]));
    }

    #[test]
    fn members_of_mixed_encodings_compare_by_text() {
        let mut ints = Set::new();
        ints.insert(b"7");
        let mut strs = Set::new();
        strs.insert(b"x");
        strs.insert(b"7");
        assert!(strs.contains_member(Member::Int(7)));
        assert!(ints.contains_member(Member::Bytes(b"7")));
        assert!(!ints.contains_member(Member::Bytes(b"x")));
        assert!(!ints.insert_member(Member::Bytes(b"7")));
        assert!(ints.is_intset());
    }

    #[test]
    fn pop_random_drains_everything_and_shrinks() {
        let mut s: Set = (0..5000).map(|i| format!("m{i}").into_bytes()).collect();
        let mut seen = BTreeSet::new();
        let mut r = 88172645463325252u64;
        while let Some(p) = s.pop_random(crate::store::next_random(&mut r)) {
            let m = p.as_member().to_vec();
            assert!(seen.insert(m), "popped twice");
            if s.len() == 100
                && let Repr::Table(t) = &s.repr
            {
                assert!(t.num_buckets() <= 1024, "the table shrank while emptying");
            }
        }
        assert_eq!(seen.len(), 5000);
        assert!(s.is_empty());

        let mut ints: Set = (0..100).map(|i| i.to_string().into_bytes()).collect();
        let mut n = 0;
        while ints.pop_random(crate::store::next_random(&mut r)).is_some() {
            n += 1;
        }
        assert_eq!(n, 100);
    }

    #[test]
    fn random_finds_every_member() {
        for s in [
            (0..10).map(|i| i.to_string().into_bytes()).collect::<Set>(),
            (0..10)
                .map(|i| format!("k{i}").into_bytes())
                .collect::<Set>(),
        ] {
            let mut seen = BTreeSet::new();
            let mut r = 12345u64;
            for _ in 0..2000 {
                let m = s
                    .random(crate::store::next_random(&mut r))
                    .expect("non-empty");
                seen.insert(m.to_vec());
            }
            assert_eq!(seen, members(&s));
        }
        assert_eq!(Set::new().random(3), None);
    }

    #[test]
    fn scan_visits_all_members() {
        let s: Set = (0..1000).map(|i| format!("k{i}").into_bytes()).collect();
        let mut seen = BTreeSet::new();
        let mut cursor = 0;
        loop {
            cursor = s.scan(cursor, 10, |m| {
                seen.insert(m.to_vec());
            });
            if cursor == 0 {
                break;
            }
        }
        assert_eq!(seen, members(&s));
    }
}
