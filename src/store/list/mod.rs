//! The list type: a quicklist, as in Redis 7.0: a deque of packed nodes.
//!
//! Each node is one [`ThinBuf`] of entries in the [`entry`] format (a listpack-like
//! encoding: small integers in one or two bytes, short strings with two bytes of framing)
//! plus its entry count. A node takes entries until it would pass the size that
//! `list-max-listpack-size` allows (Redis's `_quicklistNodeAllowInsert`: 8 KiB by
//! default); then a new node starts. So a list costs a few bytes per element, not an
//! allocation or a 24-byte slot each (1M small integers: 23 MB as a `VecDeque` of inline
//! strings, under 3 MB packed).
//!
//! Most lists are short and live in one node, kept inline in the [`Value`](super::Value)
//! (no deque, no box); the deque appears with the second node. Index operations walk the
//! nodes by their counts from the nearer end, then the entries of one node.

pub mod entry;

use std::collections::VecDeque;

pub use super::bytes::{INLINE, SmallBytes};
use super::thin::ThinBuf;
pub use entry::{Elem, Needle};

/// Redis's `list-max-listpack-size` default: nodes of at most 8 KiB.
pub const DEFAULT_FILL: i64 = -2;

/// Redis's `packed_threshold` (quicklist.c): elements of at least this many bytes get a
/// node of their own, as Redis's plain nodes. 1 GiB, so only DEBUG
/// QUICKLIST-PACKED-THRESHOLD (which tests use to exercise such nodes) brings it into play.
static PACKED_THRESHOLD: std::sync::atomic::AtomicUsize =
    std::sync::atomic::AtomicUsize::new(DEFAULT_PACKED_THRESHOLD);

/// The packed threshold's default: 1 GiB.
const DEFAULT_PACKED_THRESHOLD: usize = 1 << 30;

#[inline]
fn packed_threshold() -> usize {
    PACKED_THRESHOLD.load(std::sync::atomic::Ordering::Relaxed)
}

/// Sets the packed threshold (0 restores the default); false, changing nothing, for a
/// value above 4 GiB less 1 MiB, as Redis's quicklistisSetPackedThreshold.
pub fn set_packed_threshold(bytes: u64) -> bool {
    if bytes > (1u64 << 32) - (1 << 20) {
        return false;
    }
    let bytes = if bytes == 0 {
        DEFAULT_PACKED_THRESHOLD
    } else {
        bytes as usize
    };
    PACKED_THRESHOLD.store(bytes, std::sync::atomic::Ordering::Relaxed);
    true
}

/// Node limits for one `list-max-listpack-size` value.
#[derive(Debug, Clone, Copy)]
struct Limit {
    bytes: usize,
    count: usize,
}

impl Limit {
    /// As Redis reads `fill`: negative means a byte size (-1 = 4 KiB .. -5 = 64 KiB),
    /// positive a number of entries (within a safety limit of 8 KiB).
    fn of(fill: i64) -> Limit {
        if fill < 0 {
            let level = (fill.unsigned_abs().min(5) - 1) as u32;
            Limit {
                bytes: 4096 << level,
                count: usize::MAX,
            }
        } else {
            Limit {
                bytes: 8192,
                // Redis clamps the count to 2^15 - 1 (quicklistSetFill).
                count: (fill as usize).clamp(1, 32767),
            }
        }
    }

    /// True when a node of `bytes` and `count` entries may take one more entry of `add`
    /// bytes. An empty node takes anything (a huge element gets a node of its own), and
    /// an element of at least the packed threshold is never packed with others.
    #[inline]
    fn allows(self, bytes: usize, count: usize, add: usize) -> bool {
        count == 0
            || (bytes + add + 8 <= self.bytes
                && count < self.count
                && add.max(bytes) < packed_threshold())
    }
}

/// A packed node: entries and their number.
#[derive(Debug, Clone, Default)]
struct Node {
    buf: ThinBuf,
    count: u32,
}

impl Node {
    fn bytes(&self) -> &[u8] {
        self.buf.as_slice()
    }

    /// Byte offset of entry `k` (`k <= count`), walking from the nearer end.
    fn offset_of(&self, k: usize) -> usize {
        let b = self.bytes();
        let count = self.count as usize;
        if k <= count / 2 {
            let mut at = 0;
            for _ in 0..k {
                at += entry::decode(b, at).1;
            }
            at
        } else {
            let mut at = b.len();
            for _ in k..count {
                at = entry::prev_start(b, at);
            }
            at
        }
    }

    /// Inserts `e` (of `size` encoded bytes) at byte offset `at`.
    fn insert_at(&mut self, at: usize, e: Elem, size: usize) {
        entry::encode(e, self.buf.splice_gap(at, 0, size));
        self.count += 1;
    }

    /// Removes the entry at byte offset `at`; returns its size.
    fn remove_at(&mut self, at: usize) -> usize {
        let size = entry::decode(self.bytes(), at).1;
        self.buf.splice_gap(at, size, 0);
        self.count -= 1;
        size
    }

    /// Splits off the second half of the entries into a new node.
    fn split(&mut self) -> Node {
        let keep = self.count as usize / 2;
        let at = self.offset_of(keep);
        let tail = self.buf.split_off(at);
        let moved = self.count - keep as u32;
        self.count = keep as u32;
        Node {
            buf: tail,
            count: moved,
        }
    }
}

/// Nodes: one inline, or a deque once there are several.
#[derive(Debug, Clone)]
enum Repr {
    One(Node),
    Many(Box<Many>),
}

#[derive(Debug, Clone, Default)]
struct Many {
    nodes: VecDeque<Node>,
    len: usize,
}

/// A list value. Commands live in `cmd/lists.rs`; this holds the data.
#[derive(Debug, Clone)]
pub struct List {
    repr: Repr,
}

impl Default for List {
    fn default() -> List {
        List {
            repr: Repr::One(Node::default()),
        }
    }
}

/// Nodes seen read-only, whatever the representation.
#[derive(Clone, Copy)]
enum Nodes<'a> {
    One(&'a Node),
    Many(&'a VecDeque<Node>),
}

impl<'a> Nodes<'a> {
    #[inline]
    fn len(self) -> usize {
        match self {
            Nodes::One(_) => 1,
            Nodes::Many(d) => d.len(),
        }
    }

    #[inline]
    fn get(self, i: usize) -> &'a Node {
        match self {
            Nodes::One(n) => n,
            Nodes::Many(d) => &d[i],
        }
    }
}

/// Iterator over elements, from either end.
#[derive(Clone)]
pub struct Iter<'a> {
    nodes: Nodes<'a>,
    /// Node and byte offset of the next element from the front.
    front: (usize, usize),
    /// Node and byte end of the next element from the back.
    back: (usize, usize),
    remaining: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = Elem<'a>;

    #[inline]
    fn next(&mut self) -> Option<Elem<'a>> {
        if self.remaining == 0 {
            return None;
        }
        let (mut n, mut at) = self.front;
        let mut node = self.nodes.get(n);
        while at >= node.buf.len() {
            n += 1;
            at = 0;
            node = self.nodes.get(n);
        }
        let (e, size) = entry::decode(node.buf.as_slice(), at);
        self.front = (n, at + size);
        self.remaining -= 1;
        Some(e)
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl DoubleEndedIterator for Iter<'_> {
    #[inline]
    fn next_back(&mut self) -> Option<Self::Item> {
        if self.remaining == 0 {
            return None;
        }
        let (mut n, mut end) = self.back;
        while end == 0 {
            n -= 1;
            end = self.nodes.get(n).buf.len();
        }
        let b = self.nodes.get(n).buf.as_slice();
        let at = entry::prev_start(b, end);
        self.back = (n, at);
        self.remaining -= 1;
        Some(entry::decode(b, at).0)
    }
}

impl ExactSizeIterator for Iter<'_> {}

impl List {
    /// An empty list.
    pub fn new() -> List {
        List::default()
    }

    fn nodes(&self) -> Nodes<'_> {
        match &self.repr {
            Repr::One(n) => Nodes::One(n),
            Repr::Many(m) => Nodes::Many(&m.nodes),
        }
    }

    /// Each node's size in bytes and entry count, head first (DEBUG QUICKLIST).
    pub fn node_layout(&self) -> Vec<(usize, u32)> {
        match &self.repr {
            Repr::One(n) => vec![(n.buf.len(), n.count)],
            Repr::Many(m) => m.nodes.iter().map(|n| (n.buf.len(), n.count)).collect(),
        }
    }

    /// Number of elements.
    #[inline]
    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::One(n) => n.count as usize,
            Repr::Many(m) => m.len,
        }
    }

    /// True when the list has no element (such a key is deleted).
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Redis's name of the encoding (OBJECT ENCODING): Redis 7.0 keeps every list in a
    /// quicklist.
    pub fn encoding(&self) -> &'static str {
        "quicklist"
    }

    /// Number of nodes (tests and memory figures).
    pub fn node_count(&self) -> usize {
        self.nodes().len()
    }

    /// The deque of nodes, created from the single node when a second one is needed.
    fn many(&mut self) -> &mut Many {
        if let Repr::One(n) = &mut self.repr {
            let node = std::mem::take(n);
            let len = node.count as usize;
            let mut nodes = VecDeque::with_capacity(2);
            nodes.push_back(node);
            self.repr = Repr::Many(Box::new(Many { nodes, len }));
        }
        match &mut self.repr {
            Repr::Many(m) => m,
            Repr::One(_) => unreachable!("converted above"),
        }
    }

    /// Back to the inline form once a single node is left.
    fn normalize(&mut self) {
        if let Repr::Many(m) = &mut self.repr {
            m.nodes.retain(|n| n.count > 0);
            if m.nodes.len() <= 1 {
                let node = m.nodes.pop_front().unwrap_or_default();
                self.repr = Repr::One(node);
            }
        }
    }

    /// Adds `bytes` at the head (`front`) or the tail, with nodes limited by `fill`
    /// (`list-max-listpack-size`).
    #[inline]
    pub fn push(&mut self, bytes: &[u8], front: bool, fill: i64) {
        let e = Elem::of(bytes);
        let size = entry::encoded_len(e);
        let limit = Limit::of(fill);
        if let Repr::One(n) = &mut self.repr
            && limit.allows(n.buf.len(), n.count as usize, size)
        {
            let at = if front { 0 } else { n.buf.len() };
            n.insert_at(at, e, size);
            return;
        }
        let m = self.many();
        m.len += 1;
        let end = if front {
            m.nodes.front_mut()
        } else {
            m.nodes.back_mut()
        };
        if let Some(n) = end
            && limit.allows(n.buf.len(), n.count as usize, size)
        {
            let at = if front { 0 } else { n.buf.len() };
            n.insert_at(at, e, size);
            return;
        }
        let mut n = Node::default();
        n.insert_at(0, e, size);
        if front {
            m.nodes.push_front(n);
        } else {
            m.nodes.push_back(n);
        }
    }

    /// Adds `bytes` at the head with the default node size.
    pub fn push_front(&mut self, bytes: &[u8]) {
        self.push(bytes, true, DEFAULT_FILL);
    }

    /// Adds `bytes` at the tail with the default node size.
    pub fn push_back(&mut self, bytes: &[u8]) {
        self.push(bytes, false, DEFAULT_FILL);
    }

    /// Removes and returns the head (`front`) or the tail element.
    #[inline]
    pub fn pop(&mut self, front: bool) -> Option<SmallBytes> {
        let node = match &mut self.repr {
            Repr::One(n) => n,
            Repr::Many(m) => {
                m.len -= 1;
                if front {
                    m.nodes.front_mut()?
                } else {
                    m.nodes.back_mut()?
                }
            }
        };
        if node.count == 0 {
            return None;
        }
        let at = if front {
            0
        } else {
            entry::prev_start(node.bytes(), node.buf.len())
        };
        let el = entry::decode(node.bytes(), at).0.to_small();
        node.remove_at(at);
        if node.count == 0 {
            self.normalize();
        }
        Some(el)
    }

    /// Node index and entry index within it of element `i` (`i < len`), walking from the
    /// nearer end. `i == len` gives the position after the last entry.
    fn locate(&self, i: usize) -> (usize, usize) {
        match &self.repr {
            Repr::One(_) => (0, i),
            Repr::Many(m) => {
                if i <= m.len / 2 {
                    let mut left = i;
                    for (n, node) in m.nodes.iter().enumerate() {
                        let c = node.count as usize;
                        if left < c {
                            return (n, left);
                        }
                        left -= c;
                    }
                    let last = m.nodes.len() - 1;
                    (last, m.nodes[last].count as usize)
                } else {
                    let mut right = m.len - i;
                    for (n, node) in m.nodes.iter().enumerate().rev() {
                        let c = node.count as usize;
                        if right <= c {
                            return (n, c - right);
                        }
                        right -= c;
                    }
                    (0, 0)
                }
            }
        }
    }

    /// Element `i` (0 = head).
    #[inline]
    pub fn get(&self, i: usize) -> Option<Elem<'_>> {
        if i >= self.len() {
            return None;
        }
        let (n, k) = self.locate(i);
        let node = self.nodes().get(n);
        Some(entry::decode(node.bytes(), node.offset_of(k)).0)
    }

    fn node_mut(&mut self, n: usize) -> &mut Node {
        match &mut self.repr {
            Repr::One(node) => node,
            Repr::Many(m) => &mut m.nodes[n],
        }
    }

    /// Splits node `n` in two while it is over the limit (after an insert or a
    /// replacement in the middle).
    fn split_if_over(&mut self, n: usize, limit: Limit) {
        let node = self.node_mut(n);
        let len = node.buf.len();
        let over = node.count > 1
            && (len > limit.bytes
                || node.count as usize > limit.count
                || len >= packed_threshold());
        if over {
            let m = self.many();
            let tail = m.nodes[n].split();
            m.nodes.insert(n + 1, tail);
        }
    }

    /// Replaces element `i`; false when `i` is out of range.
    pub fn set(&mut self, i: usize, bytes: &[u8], fill: i64) -> bool {
        if i >= self.len() {
            return false;
        }
        let (n, k) = self.locate(i);
        let node = self.node_mut(n);
        let at = node.offset_of(k);
        let old = entry::decode(node.bytes(), at).1;
        let e = Elem::of(bytes);
        let size = entry::encoded_len(e);
        entry::encode(e, node.buf.splice_gap(at, old, size));
        self.split_if_over(n, Limit::of(fill));
        true
    }

    /// Inserts `bytes` so that it becomes element `i` (`i <= len`).
    pub fn insert(&mut self, i: usize, bytes: &[u8], fill: i64) {
        if i == 0 || i >= self.len() {
            self.push(bytes, i == 0, fill);
            return;
        }
        let (n, k) = self.locate(i);
        let e = Elem::of(bytes);
        let size = entry::encoded_len(e);
        let node = self.node_mut(n);
        let at = node.offset_of(k);
        node.insert_at(at, e, size);
        if let Repr::Many(m) = &mut self.repr {
            m.len += 1;
        }
        self.split_if_over(n, Limit::of(fill));
    }

    /// All elements, head first (reversible for scans from the tail).
    pub fn iter(&self) -> Iter<'_> {
        let nodes = self.nodes();
        let last = nodes.len() - 1;
        Iter {
            nodes,
            front: (0, 0),
            back: (last, nodes.get(last).buf.len()),
            remaining: self.len(),
        }
    }

    /// Elements `start..=end` (both in range, `start <= end`), head first.
    pub fn range(&self, start: usize, end: usize) -> impl Iterator<Item = Elem<'_>> {
        let mut it = self.iter();
        let (n, k) = self.locate(start);
        it.front = (n, self.nodes().get(n).offset_of(k));
        it.remaining = end + 1 - start;
        it
    }

    /// Index of the first element equal to `bytes`, from the head.
    pub fn position(&self, bytes: &[u8]) -> Option<usize> {
        let needle = Needle::new(bytes);
        self.iter().position(|e| e.matches(&needle))
    }

    /// Drops `head` elements from the head and `tail` from the tail (LTRIM); the caller
    /// ensures `head + tail <= len`.
    pub fn trim(&mut self, head: usize, tail: usize) {
        let len = self.len();
        if head + tail >= len {
            *self = List::new();
            return;
        }
        self.trim_end(head, true);
        self.trim_end(tail, false);
        self.normalize();
    }

    /// Drops `k` elements from one end: whole nodes first, then entries of the last one.
    fn trim_end(&mut self, mut k: usize, front: bool) {
        if k == 0 {
            return;
        }
        if let Repr::Many(m) = &mut self.repr {
            m.len -= k;
            loop {
                let end = if front {
                    m.nodes.front()
                } else {
                    m.nodes.back()
                };
                match end {
                    Some(n) if (n.count as usize) <= k => {
                        k -= n.count as usize;
                        if front {
                            m.nodes.pop_front();
                        } else {
                            m.nodes.pop_back();
                        }
                    }
                    _ => break,
                }
            }
        }
        if k == 0 {
            return;
        }
        let node = match &mut self.repr {
            Repr::One(n) => n,
            Repr::Many(m) => if front {
                m.nodes.front_mut()
            } else {
                m.nodes.back_mut()
            }
            .expect("elements left"),
        };
        let keep = node.count as usize - k;
        if front {
            let at = node.offset_of(k);
            node.buf.splice_gap(0, at, 0);
        } else {
            let at = node.offset_of(keep);
            let len = node.buf.len();
            node.buf.splice_gap(at, len - at, 0);
        }
        node.count = keep as u32;
    }

    /// Removes elements equal to `bytes` (LREM): at most `limit` of them (0 = all), the
    /// first ones from the head, or from the tail when `from_tail`. Returns how many.
    ///
    /// Only nodes holding a match are rewritten (one pass each); small neighbours are
    /// merged afterwards so that mass removals do not leave a trail of tiny nodes.
    pub fn remove_matching(
        &mut self,
        bytes: &[u8],
        limit: usize,
        from_tail: bool,
        fill: i64,
    ) -> usize {
        let needle = Needle::new(bytes);
        let mut left = if limit == 0 { usize::MAX } else { limit };
        let count = self.nodes().len();
        let mut removed = 0;
        for step in 0..count {
            if left == 0 {
                break;
            }
            let n = if from_tail { count - 1 - step } else { step };
            let node = self.node_mut(n);
            let gone = remove_in_node(node, &needle, left, from_tail);
            left -= gone;
            removed += gone;
        }
        if removed > 0 {
            if let Repr::Many(m) = &mut self.repr {
                m.len -= removed;
            }
            self.merge_small(Limit::of(fill));
            self.normalize();
        }
        removed
    }

    /// Merges adjacent nodes that are both under half full and fit together.
    fn merge_small(&mut self, limit: Limit) {
        let Repr::Many(m) = &mut self.repr else {
            return;
        };
        let mut i = 0;
        while i + 1 < m.nodes.len() {
            let (a, b) = (&m.nodes[i], &m.nodes[i + 1]);
            let bytes = a.buf.len() + b.buf.len();
            let count = (a.count + b.count) as usize;
            let fits =
                bytes + 8 <= limit.bytes && count <= limit.count && bytes < packed_threshold();
            if a.count == 0 || b.count == 0 || fits {
                let b = m.nodes.remove(i + 1).expect("in range");
                let a = &mut m.nodes[i];
                a.buf.extend(b.bytes());
                a.count += b.count;
            } else {
                i += 1;
            }
        }
    }

    /// Approximate heap bytes used.
    pub fn heap_size(&self) -> usize {
        match &self.repr {
            Repr::One(n) => n.buf.allocation_size(),
            Repr::Many(m) => {
                std::mem::size_of::<Many>()
                    + m.nodes.capacity() * std::mem::size_of::<Node>()
                    + m.nodes
                        .iter()
                        .map(|n| n.buf.allocation_size())
                        .sum::<usize>()
            }
        }
    }
}

/// Removes up to `left` entries matching `needle` from one node (the last ones first when
/// `from_tail`), rewriting the node once. Returns how many went.
fn remove_in_node(node: &mut Node, needle: &Needle, left: usize, from_tail: bool) -> usize {
    let b = node.bytes();
    // Entry offsets of the matches, in the order they are taken.
    let mut hits: Vec<(usize, usize)> = Vec::new();
    let mut at = 0;
    while at < b.len() {
        let (e, size) = entry::decode(b, at);
        if e.matches(needle) {
            hits.push((at, size));
        }
        at += size;
    }
    if hits.is_empty() {
        return 0;
    }
    if hits.len() > left {
        if from_tail {
            hits.drain(..hits.len() - left);
        } else {
            hits.truncate(left);
        }
    }
    let mut out = Vec::with_capacity(b.len());
    let mut from = 0;
    for &(at, size) in &hits {
        out.extend_from_slice(&b[from..at]);
        from = at + size;
    }
    out.extend_from_slice(&b[from..]);
    node.buf = ThinBuf::from_slice(&out);
    node.count -= hits.len() as u32;
    hits.len()
}

#[cfg(test)]
mod tests;
