//! The list type: a ring buffer of byte strings, each stored inline when short.
//!
//! Redis keeps lists in a quicklist (a linked list of packed listpacks). We use a
//! `VecDeque` of 24-byte [`SmallBytes`] instead: push and pop are O(1) at both ends,
//! LINDEX and LSET are O(1) rather than a walk, LRANGE reads contiguous memory, and an
//! element of up to 22 bytes (ids, short messages, redis-benchmark's 3-byte values) costs
//! no allocation of its own.
//!
//! [`SmallBytes`] (store/bytes.rs) is also what keys, hash fields and values are made of.

use std::collections::VecDeque;

pub use super::bytes::{INLINE, SmallBytes};

/// Capacity below which a list never gives memory back (small lists churn cheaply).
const SHRINK_MIN_CAPACITY: usize = 64;

/// A list value. Commands live in `cmd/lists.rs`; this holds the data.
#[derive(Debug, Clone, Default)]
pub struct List {
    /// The elements, head first.
    items: VecDeque<SmallBytes>,
}

impl List {
    /// An empty list.
    pub fn new() -> List {
        List::default()
    }

    /// An empty list with room for `n` elements (LPUSH of many elements onto a new key).
    pub fn with_capacity(n: usize) -> List {
        List {
            items: VecDeque::with_capacity(n),
        }
    }

    /// Number of elements.
    #[inline]
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// True when the list has no element (such a key is deleted).
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Adds `bytes` at the head.
    #[inline]
    pub fn push_front(&mut self, bytes: &[u8]) {
        self.items.push_front(SmallBytes::new(bytes));
    }

    /// Adds `bytes` at the tail.
    #[inline]
    pub fn push_back(&mut self, bytes: &[u8]) {
        self.items.push_back(SmallBytes::new(bytes));
    }

    /// Adds an element taken from another list at the head or the tail, without copying
    /// it (LMOVE).
    #[inline]
    pub fn push(&mut self, elem: SmallBytes, front: bool) {
        if front {
            self.items.push_front(elem);
        } else {
            self.items.push_back(elem);
        }
    }

    /// Removes and returns the head (`front`) or the tail element.
    #[inline]
    pub fn pop(&mut self, front: bool) -> Option<SmallBytes> {
        let e = if front {
            self.items.pop_front()
        } else {
            self.items.pop_back()
        };
        self.maybe_shrink();
        e
    }

    /// Element `i` (0 = head).
    #[inline]
    pub fn get(&self, i: usize) -> Option<&[u8]> {
        self.items.get(i).map(SmallBytes::as_bytes)
    }

    /// Replaces element `i`; false when `i` is out of range.
    pub fn set(&mut self, i: usize, bytes: &[u8]) -> bool {
        match self.items.get_mut(i) {
            Some(e) => {
                e.assign(bytes);
                true
            }
            None => false,
        }
    }

    /// Inserts `bytes` so that it becomes element `i` (`i <= len`). O(min(i, len - i)).
    pub fn insert(&mut self, i: usize, bytes: &[u8]) {
        self.items.insert(i, SmallBytes::new(bytes));
    }

    /// All elements, head first (reversible for scans from the tail).
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &[u8]> + ExactSizeIterator {
        self.items.iter().map(SmallBytes::as_bytes)
    }

    /// Elements `start..=end` (both in range, `start <= end`), head first.
    pub fn range(&self, start: usize, end: usize) -> impl Iterator<Item = &SmallBytes> {
        self.items.range(start..=end)
    }

    /// Index of the first element equal to `bytes`, from the head.
    pub fn position(&self, bytes: &[u8]) -> Option<usize> {
        self.items.iter().position(|e| e.as_bytes() == bytes)
    }

    /// Drops `head` elements from the head and `tail` from the tail (LTRIM); the caller
    /// ensures `head + tail <= len`.
    pub fn trim(&mut self, head: usize, tail: usize) {
        let keep = self.items.len().saturating_sub(head + tail);
        self.items.drain(..head.min(self.items.len()));
        self.items.truncate(keep);
        self.maybe_shrink();
    }

    /// Removes elements equal to `bytes` (LREM): at most `limit` of them (0 = all), the
    /// first ones from the head, or from the tail when `from_tail`. Returns how many.
    pub fn remove_matching(&mut self, bytes: &[u8], limit: usize, from_tail: bool) -> usize {
        if limit == 0 {
            let before = self.items.len();
            self.items.retain(|e| e.as_bytes() != bytes);
            let removed = before - self.items.len();
            self.maybe_shrink();
            return removed;
        }
        // Find the matches from the right end, stopping at `limit`, so that removing the
        // first match near the head of a long list does not read the whole list.
        let n = self.items.len();
        let mut found: Vec<usize> = Vec::new();
        for i in 0..n {
            let at = if from_tail { n - 1 - i } else { i };
            if self.items[at].as_bytes() == bytes {
                found.push(at);
                if found.len() == limit {
                    break;
                }
            }
        }
        if found.len() <= 8 {
            // Few removals: each shifts the shorter side of the ring, O(min(i, n - i)).
            found.sort_unstable_by(|a, b| b.cmp(a));
            for i in &found {
                self.items.remove(*i);
            }
        } else {
            // Many: one compacting pass, O(n).
            let (lo, hi) = (
                found.iter().copied().min().unwrap_or(0),
                found.iter().copied().max().unwrap_or(0),
            );
            let mut left = found.len();
            let mut i = 0usize;
            self.items.retain(|e| {
                let at = i;
                i += 1;
                let drop = left > 0 && at >= lo && at <= hi && e.as_bytes() == bytes;
                if drop {
                    left -= 1;
                }
                !drop
            });
        }
        self.maybe_shrink();
        found.len()
    }

    /// Gives memory back when the list uses under a quarter of its ring buffer, keeping
    /// room to double, so pushes and pops that alternate never reallocate each time. An
    /// empty list is left alone: its key is about to be deleted.
    #[inline]
    fn maybe_shrink(&mut self) {
        let (len, cap) = (self.items.len(), self.items.capacity());
        if cap > SHRINK_MIN_CAPACITY && len < cap / 4 && len > 0 {
            self.items.shrink_to((len * 2).max(SHRINK_MIN_CAPACITY));
        }
    }

    /// Approximate heap bytes used.
    pub fn heap_size(&self) -> usize {
        self.items.capacity() * std::mem::size_of::<SmallBytes>()
            + self.items.iter().map(SmallBytes::heap_size).sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list_of(items: &[&str]) -> List {
        let mut l = List::new();
        for i in items {
            l.push_back(i.as_bytes());
        }
        l
    }

    fn contents(l: &List) -> Vec<String> {
        l.iter()
            .map(|e| String::from_utf8_lossy(e).into_owned())
            .collect()
    }

    #[test]
    fn small_bytes_is_24_bytes_and_round_trips() {
        assert_eq!(std::mem::size_of::<SmallBytes>(), 24);
        for len in [0, 1, INLINE - 1, INLINE, INLINE + 1, 100] {
            let data: Vec<u8> = (0..len as u8).collect();
            let s = SmallBytes::new(&data);
            assert_eq!(&*s, &data[..]);
            assert_eq!(s.heap_size() > 0, len > INLINE);
        }
        let mut s = SmallBytes::new(&[7; 40]);
        s.assign(&[8; 40]);
        assert_eq!(&*s, &[8; 40][..]);
        s.assign(b"short");
        assert_eq!(&*s, b"short");
        assert_eq!(s.heap_size(), 0);
    }

    #[test]
    fn push_pop_both_ends() {
        let mut l = List::new();
        l.push_back(b"b");
        l.push_front(b"a");
        l.push_back(b"c");
        assert_eq!(contents(&l), ["a", "b", "c"]);
        assert_eq!(l.pop(true).as_deref(), Some(&b"a"[..]));
        assert_eq!(l.pop(false).as_deref(), Some(&b"c"[..]));
        assert_eq!(l.len(), 1);
        assert_eq!(l.get(0), Some(&b"b"[..]));
        assert_eq!(l.get(1), None);
    }

    #[test]
    fn remove_matching_from_either_end() {
        let mut l = list_of(&["a", "b", "a", "c", "a"]);
        assert_eq!(l.remove_matching(b"a", 1, true), 1);
        assert_eq!(contents(&l), ["a", "b", "a", "c"]);
        assert_eq!(l.remove_matching(b"a", 1, false), 1);
        assert_eq!(contents(&l), ["b", "a", "c"]);
        assert_eq!(l.remove_matching(b"z", 3, false), 0);
        assert_eq!(l.remove_matching(b"a", 0, false), 1);
        assert_eq!(contents(&l), ["b", "c"]);
    }

    #[test]
    fn remove_many_uses_the_compacting_pass() {
        let items: Vec<String> = (0..100)
            .map(|i| {
                if i % 2 == 0 {
                    "x".into()
                } else {
                    i.to_string()
                }
            })
            .collect();
        let refs: Vec<&str> = items.iter().map(String::as_str).collect();
        // 50 x's: remove the last 20 of them.
        let mut l = list_of(&refs);
        assert_eq!(l.remove_matching(b"x", 20, true), 20);
        let xs: Vec<usize> = l
            .iter()
            .enumerate()
            .filter(|(_, e)| *e == b"x")
            .map(|(i, _)| i)
            .collect();
        assert_eq!(xs.len(), 30);
        // The 30 kept are the first 30, each still followed by its odd number.
        assert_eq!(l.get(xs[29] + 1), Some(&b"59"[..]));
        assert_eq!(l.len(), 80);
        // From the head.
        let mut l = list_of(&refs);
        assert_eq!(l.remove_matching(b"x", 45, false), 45);
        assert_eq!(l.iter().filter(|e| *e == b"x").count(), 5);
        assert_eq!(l.get(0), Some(&b"1"[..]));
    }

    #[test]
    fn trim_and_shrink() {
        let mut l = List::new();
        for i in 0..10_000u32 {
            l.push_back(&i.to_be_bytes());
        }
        l.trim(100, 9_890);
        assert_eq!(l.len(), 10);
        assert_eq!(l.get(0), Some(&100u32.to_be_bytes()[..]));
        assert!(l.items.capacity() < 1000, "memory given back");
        l.trim(10, 0);
        assert!(l.is_empty());
    }

    #[test]
    fn insert_and_position() {
        let mut l = list_of(&["a", "c"]);
        let at = l.position(b"c").expect("found");
        l.insert(at, b"b");
        l.insert(l.len(), b"d");
        assert_eq!(contents(&l), ["a", "b", "c", "d"]);
        assert!(l.set(3, b"e"));
        assert!(!l.set(4, b"f"));
        assert_eq!(contents(&l).concat(), "abce");
        let mid: Vec<&[u8]> = l.range(1, 2).map(|e| e.as_bytes()).collect();
        assert_eq!(mid, [&b"b"[..], b"c"]);
    }
}
