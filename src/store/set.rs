//! The set type, with Redis 7.0's two encodings.
//!
//! * **intset**: a set whose members are all canonical 64-bit integers (Redis's
//!   `string2ll` form) and that never grew past `set-max-intset-entries` is one sorted
//!   [`ThinBuf`] of integers, each 2, 4 or 8 bytes wide (the width of the widest member, as
//!   in Redis's intset; a wider member re-encodes them all), held in the
//!   [`Value`](super::Value) itself. Replies list it in ascending order exactly as Redis's
//!   intset does (so SMEMBERS, SSCAN and SUNION of such sets are deterministic and match
//!   Redis byte for byte).
//! * **table**: anything else is a hashbrown table of [`Key`]s (16 bytes: up to 14 bytes
//!   inline, longer members in a thin allocation) hashed with the process-wide ahash seed;
//!   an intset that outgrew its limit first becomes a table of plain `i64`s (8 bytes a
//!   slot), until a member that is not an integer arrives. Both are Redis's `hashtable`.
//!
//! Conversion is one way (intset -> table), as in Redis: adding a non-integer member or one
//! past the limit converts; removing members never converts back.

use hashbrown::HashTable;

use super::lazyfree;
use super::table::{self, hash_bytes};
use super::thin::ThinBuf;
use crate::resp::{format_i64, parse_i64};

/// Redis's `set-max-intset-entries` default.
pub const MAX_INTSET_ENTRIES: usize = 512;

/// Longest member a [`Key`] holds inline.
const KEY_INLINE: usize = 14;

/// A member of a table set: inline when short, else behind a thin pointer. 16 bytes.
#[derive(Clone)]
pub enum Key {
    /// Up to [`KEY_INLINE`] bytes in place.
    Inline {
        /// Used bytes of `buf`.
        len: u8,
        /// The bytes.
        buf: [u8; KEY_INLINE],
    },
    /// Longer members.
    Heap(ThinBuf),
}

impl Key {
    /// A copy of `bytes`.
    pub fn new(bytes: &[u8]) -> Key {
        if bytes.len() <= KEY_INLINE {
            let mut buf = [0u8; KEY_INLINE];
            buf[..bytes.len()].copy_from_slice(bytes);
            Key::Inline {
                len: bytes.len() as u8,
                buf,
            }
        } else {
            Key::Heap(ThinBuf::from_slice(bytes))
        }
    }

    /// The member's bytes.
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Key::Inline { len, buf } => &buf[..usize::from(*len)],
            Key::Heap(b) => b.as_slice(),
        }
    }

    /// Where its own allocation is (None inline): the lazyfree thread frees members in
    /// address order.
    pub fn heap_address(&self) -> Option<usize> {
        match self {
            Key::Inline { .. } => None,
            Key::Heap(b) => Some(b.as_slice().as_ptr() as usize),
        }
    }

    /// Heap bytes owned (0 inline).
    pub fn heap_size(&self) -> usize {
        match self {
            Key::Inline { .. } => 0,
            Key::Heap(b) => b.allocation_size(),
        }
    }
}

impl Default for Key {
    fn default() -> Key {
        Key::new(b"")
    }
}

impl std::ops::Deref for Key {
    type Target = [u8];

    #[inline]
    fn deref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self.as_bytes()))
    }
}

/// A set value. Commands live in `cmd/sets.rs`; this holds the data.
#[derive(Debug, Clone)]
pub struct Set {
    repr: Repr,
}

#[derive(Debug, Clone)]
enum Repr {
    /// Sorted, distinct integers, `width` bytes each, little-endian.
    Ints { buf: ThinBuf, width: u8 },
    /// Distinct integers past the intset limit, hashed with [`int_hash`]: 8 bytes a slot
    /// where a [`Key`] takes 16. Redis's hashtable encoding too (OBJECT ENCODING), until
    /// a member that is not an integer arrives and it becomes a `Table`.
    IntTable(Box<HashTable<i64>>),
    /// Distinct byte strings, hashed with [`hash_bytes`].
    Table(Box<HashTable<Key>>),
}

/// The hash of an integer member of an `IntTable`.
#[inline]
fn int_hash(v: &i64) -> u64 {
    table::hasher().hash_one(*v)
}

impl Default for Set {
    fn default() -> Set {
        Set {
            repr: Repr::Ints {
                buf: ThinBuf::new(),
                width: 2,
            },
        }
    }
}

/// Bytes an intset needs per member to hold `v`.
#[inline]
fn width_of(v: i64) -> u8 {
    if i16::try_from(v).is_ok() {
        2
    } else if i32::try_from(v).is_ok() {
        4
    } else {
        8
    }
}

/// Integer `i` of a `width`-byte intset buffer.
#[inline]
fn int_at(b: &[u8], width: u8, i: usize) -> i64 {
    let w = usize::from(width);
    let s = &b[i * w..i * w + w];
    match width {
        2 => i64::from(i16::from_le_bytes([s[0], s[1]])),
        4 => i64::from(i32::from_le_bytes([s[0], s[1], s[2], s[3]])),
        _ => i64::from_le_bytes([s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]]),
    }
}

#[inline]
fn put_int(out: &mut [u8], width: u8, v: i64) {
    out.copy_from_slice(&v.to_le_bytes()[..usize::from(width)]);
}

/// Binary search of an intset buffer: Ok(index) when found, Err(insertion point).
#[inline]
fn search(b: &[u8], width: u8, v: i64) -> Result<usize, usize> {
    let n = b.len() / usize::from(width);
    // Values wider than the set cannot be in it.
    if width_of(v) > width {
        return Err(if v < 0 { 0 } else { n });
    }
    let (mut lo, mut hi) = (0, n);
    while lo < hi {
        let mid = (lo + hi) / 2;
        match int_at(b, width, mid).cmp(&v) {
            std::cmp::Ordering::Less => lo = mid + 1,
            std::cmp::Ordering::Greater => hi = mid,
            std::cmp::Ordering::Equal => return Ok(mid),
        }
    }
    Err(lo)
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
    /// From a table set.
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
    /// Over an intset: buffer, width, next index.
    Ints(&'a [u8], u8, usize),
    /// Over a table of integers.
    IntTable(hashbrown::hash_table::Iter<'a, i64>),
    /// Over a table.
    Table(hashbrown::hash_table::Iter<'a, Key>),
}

impl<'a> Iterator for Iter<'a> {
    type Item = Member<'a>;

    #[inline]
    fn next(&mut self) -> Option<Member<'a>> {
        match self {
            Iter::Ints(b, w, i) => {
                if *i * usize::from(*w) >= b.len() {
                    return None;
                }
                *i += 1;
                Some(Member::Int(int_at(b, *w, *i - 1)))
            }
            Iter::IntTable(it) => it.next().map(|&v| Member::Int(v)),
            Iter::Table(it) => it.next().map(|k| Member::Bytes(k.as_bytes())),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match self {
            Iter::Ints(b, w, i) => {
                let n = b.len() / usize::from(*w) - *i;
                (n, Some(n))
            }
            Iter::IntTable(it) => it.size_hint(),
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
fn is(member: &[u8]) -> impl Fn(&Key) -> bool + '_ {
    move |m| m.as_bytes() == member
}

/// The hash of a stored key.
#[inline]
fn key_hash(k: &Key) -> u64 {
    hash_bytes(k.as_bytes())
}

impl Set {
    /// Frees the set, its members that have an allocation of their own in address order
    /// (see [`lazyfree::drop_in_address_order`]; the lazyfree thread's way).
    pub fn free_in_address_order(self) {
        if let Repr::Table(t) = self.repr {
            let heap = t.into_iter().filter(|k| k.heap_address().is_some());
            lazyfree::drop_in_address_order(heap.collect(), |k: &Key| {
                k.heap_address().unwrap_or(0)
            });
        }
    }

    /// An empty set (an intset until a non-integer member arrives, as Redis's
    /// `createIntsetObject`).
    pub fn new() -> Set {
        Set::default()
    }

    /// Number of members.
    #[inline]
    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Ints { buf, width } => buf.len() / usize::from(*width),
            Repr::IntTable(t) => t.len(),
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
        matches!(self.repr, Repr::Ints { .. })
    }

    /// True if `member` is in the set.
    #[inline]
    pub fn contains(&self, member: &[u8]) -> bool {
        match &self.repr {
            // A string that is not a canonical integer cannot be in an intset.
            Repr::Ints { buf, width } => {
                parse_i64(member).is_some_and(|i| search(buf.as_slice(), *width, i).is_ok())
            }
            Repr::IntTable(t) => {
                parse_i64(member).is_some_and(|i| t.find(int_hash(&i), |&x| x == i).is_some())
            }
            Repr::Table(t) => t.find(hash_bytes(member), is(member)).is_some(),
        }
    }

    /// True if `member` (from another set) is in this set.
    #[inline]
    pub fn contains_member(&self, member: Member) -> bool {
        match (&self.repr, member) {
            (Repr::Ints { buf, width }, Member::Int(i)) => {
                search(buf.as_slice(), *width, i).is_ok()
            }
            (Repr::IntTable(t), Member::Int(i)) => t.find(int_hash(&i), |&x| x == i).is_some(),
            _ => member.with_bytes(|b| self.contains(b)),
        }
    }

    /// Adds `member`; returns true when it was not there yet. An intset converts past
    /// `max_intset` members (`set-max-intset-entries`, capped at 2^30 as Redis does).
    pub fn insert(&mut self, member: &[u8], max_intset: usize) -> bool {
        if !matches!(self.repr, Repr::Table(_)) {
            if let Some(i) = parse_i64(member) {
                return self.insert_int(i, max_intset);
            }
            self.convert_to_table(1);
        }
        match &mut self.repr {
            Repr::Table(t) => Self::insert_bytes(t, member),
            _ => unreachable!("converted above"),
        }
    }

    /// Adds a member of another set; returns true when it was not there yet.
    pub fn insert_member(&mut self, member: Member, max_intset: usize) -> bool {
        match (matches!(self.repr, Repr::Table(_)), member) {
            (false, Member::Int(i)) => self.insert_int(i, max_intset),
            _ => member.with_bytes(|b| self.insert(b, max_intset)),
        }
    }

    /// Inserts into an intset (widening it if needed); converts when it passes the limit.
    fn insert_int(&mut self, v: i64, max_intset: usize) -> bool {
        let (buf, width) = match &mut self.repr {
            Repr::Ints { buf, width } => (buf, width),
            Repr::IntTable(t) => {
                let h = int_hash(&v);
                if t.find(h, |&x| x == v).is_some() {
                    return false;
                }
                t.insert_unique(h, v, int_hash);
                return true;
            }
            Repr::Table(_) => unreachable!("not a table of strings"),
        };
        let need = width_of(v);
        if need > *width {
            // Re-encode every member at the new width (Redis's intsetUpgradeAndAdd).
            let old = buf.as_slice();
            let n = old.len() / usize::from(*width);
            let w = usize::from(need);
            let mut wide = ThinBuf::new();
            let gap = wide.splice_gap(0, 0, (n + 1) * w);
            let at = if v < 0 { 1 } else { 0 };
            for i in 0..n {
                put_int(
                    &mut gap[(i + at) * w..(i + at + 1) * w],
                    need,
                    int_at(old, *width, i),
                );
            }
            let pos = if v < 0 { 0 } else { n };
            put_int(&mut gap[pos * w..(pos + 1) * w], need, v);
            *buf = wide;
            *width = need;
        } else {
            match search(buf.as_slice(), *width, v) {
                Ok(_) => return false,
                Err(pos) => {
                    let w = usize::from(*width);
                    put_int(buf.splice_gap(pos * w, 0, w), *width, v);
                }
            }
        }
        if self.len() > max_intset.min(1 << 30) {
            self.convert_to_int_table();
        }
        true
    }

    /// Inserts into a table; true when new. Allocates only for a new long member.
    fn insert_bytes(t: &mut HashTable<Key>, member: &[u8]) -> bool {
        let h = hash_bytes(member);
        if t.find(h, is(member)).is_some() {
            return false;
        }
        t.insert_unique(h, Key::new(member), key_hash);
        true
    }

    /// Switches an intset that outgrew its limit to a table of integers.
    fn convert_to_int_table(&mut self) {
        if let Repr::Ints { buf, width } = &self.repr {
            let n = buf.len() / usize::from(*width);
            let mut t = HashTable::with_capacity(n);
            for i in 0..n {
                let v = int_at(buf.as_slice(), *width, i);
                t.insert_unique(int_hash(&v), v, int_hash);
            }
            self.repr = Repr::IntTable(Box::new(t));
        }
    }

    /// Switches an intset or integer table to the table of strings, with room for `extra`
    /// more members.
    fn convert_to_table(&mut self, extra: usize) {
        let mut t = HashTable::with_capacity(self.len() + extra);
        let mut tmp = [0u8; 20];
        for m in self.iter() {
            let Member::Int(v) = m else {
                return; // already strings
            };
            let k = Key::new(format_i64(v, &mut tmp));
            t.insert_unique(key_hash(&k), k, key_hash);
        }
        self.repr = Repr::Table(Box::new(t));
    }

    /// Removes `member`; returns true when it was there.
    pub fn remove(&mut self, member: &[u8]) -> bool {
        match &mut self.repr {
            Repr::Ints { buf, width } => {
                match parse_i64(member).map(|i| search(buf.as_slice(), *width, i)) {
                    Some(Ok(pos)) => {
                        let w = usize::from(*width);
                        buf.splice_gap(pos * w, w, 0);
                        true
                    }
                    _ => false,
                }
            }
            Repr::IntTable(t) => {
                let Some(i) = parse_i64(member) else {
                    return false;
                };
                match t.find_entry(int_hash(&i), |&x| x == i) {
                    Ok(e) => {
                        e.remove();
                        self.shrink_if_sparse();
                        true
                    }
                    Err(_) => false,
                }
            }
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
        match &mut self.repr {
            Repr::Table(t) if t.num_buckets() > 64 && t.len() * 10 < t.num_buckets() => {
                t.shrink_to(t.len(), key_hash);
            }
            Repr::IntTable(t) if t.num_buckets() > 64 && t.len() * 10 < t.num_buckets() => {
                t.shrink_to(t.len(), int_hash);
            }
            _ => {}
        }
    }

    /// The members: an intset in ascending order, a table in bucket order.
    pub fn iter(&self) -> Iter<'_> {
        match &self.repr {
            Repr::Ints { buf, width } => Iter::Ints(buf.as_slice(), *width, 0),
            Repr::IntTable(t) => Iter::IntTable(t.iter()),
            Repr::Table(t) => Iter::Table(t.iter()),
        }
    }

    /// A uniformly random member (`rand` supplies the randomness), None when empty.
    pub fn random(&self, rand: u64) -> Option<Member<'_>> {
        match &self.repr {
            Repr::Ints { buf, width } => {
                let n = self.len();
                (n > 0).then(|| Member::Int(int_at(buf.as_slice(), *width, table::below(rand, n))))
            }
            Repr::IntTable(t) => {
                let i = table::random_bucket(t, rand)?;
                t.get_bucket(i).map(|&v| Member::Int(v))
            }
            Repr::Table(t) => {
                let i = table::random_bucket(t, rand)?;
                t.get_bucket(i).map(|k| Member::Bytes(k.as_bytes()))
            }
        }
    }

    /// Removes and returns a random member (SPOP), None when empty.
    pub fn pop_random(&mut self, rand: u64) -> Option<Popped> {
        let n = self.len();
        let popped = match &mut self.repr {
            Repr::Ints { buf, width } => {
                if n == 0 {
                    return None;
                }
                let i = table::below(rand, n);
                let v = int_at(buf.as_slice(), *width, i);
                let w = usize::from(*width);
                buf.splice_gap(i * w, w, 0);
                Popped::Int(v)
            }
            Repr::IntTable(t) => {
                let i = table::random_bucket(t, rand)?;
                let (v, _) = t.get_bucket_entry(i).ok()?.remove();
                Popped::Int(v)
            }
            Repr::Table(t) => {
                let i = table::random_bucket(t, rand)?;
                let (m, _) = t.get_bucket_entry(i).ok()?.remove();
                Popped::Bytes(m.as_bytes().into())
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
            Repr::Ints { .. } => {
                self.iter().for_each(f);
                0
            }
            Repr::IntTable(t) => table::scan(t, int_hash, cursor, count, |&v| f(Member::Int(v))),
            Repr::Table(t) => table::scan(t, key_hash, cursor, count, |m| {
                // The scan lends each member only for the call; finding it again borrows
                // it from the set itself, so callers can keep it.
                let b = m.as_bytes();
                if let Some(kept) = t.find(hash_bytes(b), is(b)) {
                    f(Member::Bytes(kept.as_bytes()))
                }
            }),
        }
    }

    /// Approximate heap bytes used.
    pub fn heap_size(&self) -> usize {
        match &self.repr {
            Repr::Ints { buf, .. } => buf.allocation_size(),
            Repr::IntTable(t) => t.allocation_size(),
            Repr::Table(t) => t.allocation_size() + t.iter().map(Key::heap_size).sum::<usize>(),
        }
    }
}

impl FromIterator<Vec<u8>> for Set {
    fn from_iter<I: IntoIterator<Item = Vec<u8>>>(iter: I) -> Set {
        let mut s = Set::new();
        for m in iter {
            s.insert(&m, MAX_INTSET_ENTRIES);
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
            s.insert(m.as_bytes(), MAX_INTSET_ENTRIES);
        }
        assert!(s.is_intset());
        assert_eq!(s.len(), 3);
        let order: Vec<Vec<u8>> = s.iter().map(Member::to_vec).collect();
        assert_eq!(order, vec![b"-3".to_vec(), b"5".to_vec(), b"100".to_vec()]);
        // Not canonical integers: these must not match 5 or 0.
        assert!(!s.contains(b"05"));
        assert!(!s.contains(b"+5"));
        assert!(s.contains(b"5"));
        assert!(s.insert(b"05", MAX_INTSET_ENTRIES));
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
            assert!(s.insert(i.to_string().as_bytes(), MAX_INTSET_ENTRIES));
        }
        assert!(s.is_intset());
        assert!(s.insert(b"-1", MAX_INTSET_ENTRIES));
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
        ints.insert(b"7", MAX_INTSET_ENTRIES);
        let mut strs = Set::new();
        strs.insert(b"x", MAX_INTSET_ENTRIES);
        strs.insert(b"7", MAX_INTSET_ENTRIES);
        assert!(strs.contains_member(Member::Int(7)));
        assert!(ints.contains_member(Member::Bytes(b"7")));
        assert!(!ints.contains_member(Member::Bytes(b"x")));
        assert!(!ints.insert_member(Member::Bytes(b"7"), MAX_INTSET_ENTRIES));
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

    #[test]
    fn intsets_widen_and_match_a_model() {
        for max in [512usize, 3, 0, 5000] {
            let mut seed = 0xABCDEF ^ max as u64;
            let mut s = Set::new();
            let mut model = BTreeSet::new();
            for step in 0..5000 {
                let r = crate::store::next_random(&mut seed);
                let v: i64 = match r % 5 {
                    0 => (r >> 8) as i64 % 100,
                    1 => ((r >> 8) as i64 % 70_000) - 35_000,
                    2 => ((r >> 8) as i64 % 5_000_000_000) - 2_500_000_000,
                    3 => (r >> 3) as i64 * if r & 4 != 0 { -1 } else { 1 },
                    _ => [i64::MIN, i64::MAX, -32769, 32768, -32768, 32767][(r >> 8) as usize % 6],
                };
                let text = if step % 997 == 0 {
                    format!("x{v}")
                } else {
                    v.to_string()
                };
                if (r >> 60).is_multiple_of(3) {
                    assert_eq!(s.remove(text.as_bytes()), model.remove(text.as_bytes()));
                } else {
                    assert_eq!(
                        s.insert(text.as_bytes(), max),
                        model.insert(text.as_bytes().to_vec())
                    );
                }
                assert_eq!(s.len(), model.len());
                assert!(s.contains(text.as_bytes()) == model.contains(text.as_bytes()));
                if s.is_intset() {
                    assert!(s.len() <= max);
                    // Ascending numeric order, as Redis's intset.
                    let got: Vec<i64> = s
                        .iter()
                        .map(|m| match m {
                            Member::Int(i) => i,
                            Member::Bytes(_) => panic!("text in an intset"),
                        })
                        .collect();
                    assert!(got.windows(2).all(|w| w[0] < w[1]));
                }
                if step % 250 == 0 {
                    assert_eq!(members(&s), model.iter().cloned().collect());
                    let mut scanned = BTreeSet::new();
                    let mut cursor = 0;
                    loop {
                        cursor = s.scan(cursor, 7, |m| {
                            scanned.insert(m.to_vec());
                        });
                        if cursor == 0 {
                            break;
                        }
                    }
                    assert_eq!(scanned, model);
                    if !model.is_empty() {
                        let m = s.random(r).expect("non-empty").to_vec();
                        assert!(model.contains(&m));
                    }
                }
            }
        }
        assert_eq!(std::mem::size_of::<Set>(), 16);
        assert_eq!(std::mem::size_of::<Key>(), 16);
    }
}
