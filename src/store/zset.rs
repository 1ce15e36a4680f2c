//! The sorted-set type: a hash table member -> score, plus an order-statistic B+tree over
//! `(score, member)` that gives O(log n) inserts, removals, ranks and range starts.
//!
//! Sets that Redis would keep as a listpack (by default at most 128 members of at most 64
//! bytes; see [`Limits`]) are instead one packed buffer of sorted entries, held in the
//! [`Value`](super::Value) itself: one allocation, a few bytes of overhead a member. Past
//! the limits (and past 16 members, see `SMALL_MAX`) they turn, for good, into the big
//! form, laid out as follows (safe Rust, arena indices instead of pointers):
//!
//! * `slots`: one `Slot` per member (its bytes and score), addressed by a `u32` id; freed
//!   ids are reused, and the arena is compacted after mass removals.
//! * `dict`: a hashbrown table of ids hashed by member bytes (ZSCORE, ZADD's lookup).
//! * `tree`: a B+tree whose leaves hold `(score, id)` keys in order and whose inner nodes
//!   hold, for each child, the number of keys below it (ranks, select by rank) and an upper
//!   bound separator (routing). Scores are inline in the leaves, so comparisons touch a
//!   member's bytes only on equal scores. Leaves are linked both ways for range iteration.
//!
//! Redis 7.0 stores small sorted sets (at most 128 members of at most 64 bytes) as a
//! listpack, which shows in two places: ZSCAN returns such a set whole, in order, with scores
//! printed by `d2string`; and a score of -0 is stored as 0. [`ZSet::is_compact`] tracks that
//! encoding (one way, as in Redis) so both behaviours match.

use hashbrown::HashTable;

use super::Limits;
use super::set::Key as MemberBytes;
use super::table::{self, hash_bytes};
use super::thin::ThinBuf;

/// Most members a sorted set holds while Redis would keep it as a listpack, by default
/// (`zset-max-listpack-entries`; CONFIG can change it, see [`Limits`]).
pub const COMPACT_MAX_ENTRIES: usize = 128;
/// Longest member of a listpack-encoded sorted set (`zset-max-listpack-value`).
pub const COMPACT_MAX_VALUE: usize = 64;

/// Index of a member's slot.
type Id = u32;
/// Index of a tree node.
type NodeId = u32;
/// "No node" in leaf links.
const NIL: NodeId = u32::MAX;

// Node capacities. Tests use tiny nodes so that splits, merges, borrows and deep trees
// happen with few keys.
#[cfg(not(test))]
const LEAF_MAX: usize = 64;
#[cfg(not(test))]
const INNER_MAX: usize = 64;
#[cfg(test)]
const LEAF_MAX: usize = 8;
#[cfg(test)]
const INNER_MAX: usize = 8;
/// A non-root leaf with fewer keys borrows from or merges with a sibling.
const LEAF_MIN: usize = LEAF_MAX / 4;
/// A non-root inner node with fewer children borrows from or merges with a sibling.
const INNER_MIN: usize = INNER_MAX / 4;
/// Deepest path the tree can have (inner nodes have at least 2 children).
const MAX_DEPTH: usize = 48;

/// A member and its score.
#[derive(Debug, Clone, Default)]
struct Slot {
    /// Up to 14 bytes inline: most members cost no allocation of their own.
    member: MemberBytes,
    score: f64,
}

/// A leaf entry: the score (inline, for cheap comparisons) and the member's slot.
#[derive(Debug, Clone, Copy)]
struct Key {
    score: f64,
    id: Id,
}

/// An inner node's separator: every key of the child it follows is <= it, every key of the
/// next child is > it. A copy (not an id) so that it stays valid after its member is removed.
#[derive(Debug, Clone)]
struct Sep {
    score: f64,
    member: Box<[u8]>,
}

#[derive(Debug, Clone, Default)]
struct Leaf {
    keys: Vec<Key>,
    prev: NodeId,
    next: NodeId,
}

#[derive(Debug, Clone, Default)]
struct Inner {
    /// `children.len() - 1` separators.
    seps: Vec<Sep>,
    children: Vec<NodeId>,
    /// Keys under each child.
    counts: Vec<usize>,
}

#[derive(Debug, Clone)]
enum Node {
    Leaf(Leaf),
    Inner(Inner),
    /// On the free list.
    Free,
}

/// `(a_score, a_member) < (b_score, b_member)` in the sorted-set order.
#[inline]
fn less(a_score: f64, a_member: &[u8], b_score: f64, b_member: &[u8]) -> bool {
    a_score < b_score || (a_score == b_score && a_member < b_member)
}

/// A monotone predicate over the order: true for a prefix of the keys ("before" some
/// boundary). `member` is only called when the predicate needs the bytes.
trait Probe {
    fn before<'m>(&self, score: f64, member: impl FnOnce() -> &'m [u8]) -> bool;
}

/// Keys strictly less than `(score, member)`.
struct KeyLess<'a> {
    score: f64,
    member: &'a [u8],
}

impl Probe for KeyLess<'_> {
    #[inline]
    fn before<'m>(&self, score: f64, member: impl FnOnce() -> &'m [u8]) -> bool {
        score < self.score || (score == self.score && member() < self.member)
    }
}

/// Keys whose score is below `bound` (or at it, when `or_equal`).
struct ScoreBelow {
    bound: f64,
    or_equal: bool,
}

impl Probe for ScoreBelow {
    #[inline]
    fn before<'m>(&self, score: f64, _member: impl FnOnce() -> &'m [u8]) -> bool {
        score < self.bound || (self.or_equal && score == self.bound)
    }
}

/// Keys whose member is before a lexicographic boundary.
struct LexBelow<'a> {
    bound: LexBound<'a>,
    /// For `Incl`/`Excl` bounds: also count members equal to the bound.
    or_equal: bool,
}

impl Probe for LexBelow<'_> {
    #[inline]
    fn before<'m>(&self, _score: f64, member: impl FnOnce() -> &'m [u8]) -> bool {
        match self.bound {
            LexBound::Min => false,
            LexBound::Max => true,
            LexBound::Incl(b) | LexBound::Excl(b) => {
                let m = member();
                m < b || (self.or_equal && m == b)
            }
        }
    }
}

/// A position in the tree: a leaf and an index into its keys.
#[derive(Debug, Clone, Copy)]
struct Cursor {
    leaf: NodeId,
    pos: usize,
}

/// The order-statistic B+tree. Member bytes live in the caller's slots, passed in where
/// comparisons need them.
#[derive(Debug, Clone)]
struct Tree {
    nodes: Vec<Node>,
    free: Vec<NodeId>,
    root: NodeId,
    /// Inner levels above the leaves (0: the root is a leaf).
    height: usize,
    first: NodeId,
    last: NodeId,
    len: usize,
}

/// The root-to-leaf path of a descent: each inner node and the child index taken.
struct Path {
    steps: [(NodeId, usize); MAX_DEPTH],
    len: usize,
}

impl Path {
    fn new() -> Path {
        Path {
            steps: [(0, 0); MAX_DEPTH],
            len: 0,
        }
    }

    fn push(&mut self, node: NodeId, child: usize) {
        self.steps[self.len] = (node, child);
        self.len += 1;
    }
}

impl Tree {
    fn new() -> Tree {
        Tree {
            nodes: vec![Node::Leaf(Leaf {
                keys: Vec::new(),
                prev: NIL,
                next: NIL,
            })],
            free: Vec::new(),
            root: 0,
            height: 0,
            first: 0,
            last: 0,
            len: 0,
        }
    }

    fn leaf(&self, n: NodeId) -> &Leaf {
        match &self.nodes[n as usize] {
            Node::Leaf(l) => l,
            _ => unreachable!("node {n} is not a leaf"),
        }
    }

    fn leaf_mut(&mut self, n: NodeId) -> &mut Leaf {
        match &mut self.nodes[n as usize] {
            Node::Leaf(l) => l,
            _ => unreachable!("node {n} is not a leaf"),
        }
    }

    fn inner(&self, n: NodeId) -> &Inner {
        match &self.nodes[n as usize] {
            Node::Inner(i) => i,
            _ => unreachable!("node {n} is not an inner node"),
        }
    }

    fn inner_mut(&mut self, n: NodeId) -> &mut Inner {
        match &mut self.nodes[n as usize] {
            Node::Inner(i) => i,
            _ => unreachable!("node {n} is not an inner node"),
        }
    }

    /// Moves a node out (to work on two nodes at once); put it back with [`Tree::put`].
    fn take(&mut self, n: NodeId) -> Node {
        std::mem::replace(&mut self.nodes[n as usize], Node::Free)
    }

    fn put(&mut self, n: NodeId, node: Node) {
        self.nodes[n as usize] = node;
    }

    fn alloc(&mut self, node: Node) -> NodeId {
        match self.free.pop() {
            Some(n) => {
                self.nodes[n as usize] = node;
                n
            }
            None => {
                self.nodes.push(node);
                (self.nodes.len() - 1) as NodeId
            }
        }
    }

    fn release(&mut self, n: NodeId) {
        self.nodes[n as usize] = Node::Free;
        self.free.push(n);
    }

    /// Number of keys for which `probe` is true (they form a prefix of the order).
    fn count_before(&self, slots: &[Slot], probe: &impl Probe) -> usize {
        let mut n = self.root;
        let mut acc = 0;
        for _ in 0..self.height {
            let inner = self.inner(n);
            let i = inner
                .seps
                .partition_point(|s| probe.before(s.score, || &s.member[..]));
            acc += inner.counts[..i].iter().sum::<usize>();
            n = inner.children[i];
        }
        acc + self
            .leaf(n)
            .keys
            .partition_point(|k| probe.before(k.score, || &slots[k.id as usize].member[..]))
    }

    /// The position of the key of rank `rank` (0-based); `rank < len`.
    fn select(&self, mut rank: usize) -> Cursor {
        debug_assert!(rank < self.len);
        let mut n = self.root;
        for _ in 0..self.height {
            let inner = self.inner(n);
            let mut i = 0;
            while i + 1 < inner.counts.len() && rank >= inner.counts[i] {
                rank -= inner.counts[i];
                i += 1;
            }
            n = inner.children[i];
        }
        Cursor { leaf: n, pos: rank }
    }

    fn key_at(&self, c: Cursor) -> Key {
        self.leaf(c.leaf).keys[c.pos]
    }

    fn next(&self, c: Cursor) -> Option<Cursor> {
        let leaf = self.leaf(c.leaf);
        if c.pos + 1 < leaf.keys.len() {
            Some(Cursor {
                leaf: c.leaf,
                pos: c.pos + 1,
            })
        } else if leaf.next != NIL {
            Some(Cursor {
                leaf: leaf.next,
                pos: 0,
            })
        } else {
            None
        }
    }

    fn prev(&self, c: Cursor) -> Option<Cursor> {
        if c.pos > 0 {
            return Some(Cursor {
                leaf: c.leaf,
                pos: c.pos - 1,
            });
        }
        let prev = self.leaf(c.leaf).prev;
        (prev != NIL).then(|| Cursor {
            leaf: prev,
            pos: self.leaf(prev).keys.len() - 1,
        })
    }

    fn first_key(&self) -> Option<Key> {
        self.leaf(self.first).keys.first().copied()
    }

    fn last_key(&self) -> Option<Key> {
        self.leaf(self.last).keys.last().copied()
    }

    /// Descends towards `key`, returning the leaf and the path to it. With `delta`, adds it
    /// to the count of every child taken (an insert or a removal known to succeed).
    fn descend(&mut self, member: &[u8], score: f64, delta: isize, path: &mut Path) -> NodeId {
        let mut n = self.root;
        for _ in 0..self.height {
            let inner = self.inner_mut(n);
            let i = inner
                .seps
                .partition_point(|s| less(s.score, &s.member, score, member));
            inner.counts[i] = inner.counts[i].wrapping_add_signed(delta);
            path.push(n, i);
            n = inner.children[i];
        }
        n
    }

    /// Inserts `key` (whose member is `slots[key.id]`); it must not be in the tree.
    fn insert(&mut self, slots: &[Slot], key: Key) {
        let member = &slots[key.id as usize].member;
        let mut path = Path::new();
        let n = self.descend(member, key.score, 1, &mut path);
        let leaf = self.leaf_mut(n);
        let pos = leaf
            .keys
            .partition_point(|k| less(k.score, &slots[k.id as usize].member, key.score, member));
        leaf.keys.insert(pos, key);
        let overfull = leaf.keys.len() > LEAF_MAX;
        self.len += 1;
        if overfull {
            self.split_leaf(slots, n, &path);
        }
    }

    /// Splits an overfull leaf in two and links the new right half into the parent.
    fn split_leaf(&mut self, slots: &[Slot], n: NodeId, path: &Path) {
        let leaf = self.leaf_mut(n);
        let mid = leaf.keys.len() / 2;
        let right_keys = leaf.keys.split_off(mid);
        let old_next = leaf.next;
        let last = leaf.keys[mid - 1];
        let (left_count, right_count) = (mid, right_keys.len());
        let r = self.alloc(Node::Leaf(Leaf {
            keys: right_keys,
            prev: n,
            next: old_next,
        }));
        self.leaf_mut(n).next = r;
        if old_next == NIL {
            self.last = r;
        } else {
            self.leaf_mut(old_next).prev = r;
        }
        let sep = Sep {
            score: last.score,
            member: slots[last.id as usize].member.as_bytes().into(),
        };
        self.add_child(path, sep, r, left_count, right_count);
    }

    /// After a split at the bottom of `path`: links `right` after the node it was split
    /// from, splitting ancestors that overflow, and growing a new root if needed.
    fn add_child(
        &mut self,
        path: &Path,
        mut sep: Sep,
        mut right: NodeId,
        mut left_count: usize,
        mut right_count: usize,
    ) {
        for &(p, i) in path.steps[..path.len].iter().rev() {
            let inner = self.inner_mut(p);
            inner.seps.insert(i, sep);
            inner.children.insert(i + 1, right);
            inner.counts[i] = left_count;
            inner.counts.insert(i + 1, right_count);
            if inner.children.len() <= INNER_MAX {
                return;
            }
            let mid = inner.children.len() / 2;
            let children = inner.children.split_off(mid);
            let counts = inner.counts.split_off(mid);
            let seps = inner.seps.split_off(mid);
            sep = match inner.seps.pop() {
                Some(s) => s,
                None => unreachable!("an overfull inner node has separators"),
            };
            left_count = inner.counts.iter().sum();
            right_count = counts.iter().sum();
            right = self.alloc(Node::Inner(Inner {
                seps,
                children,
                counts,
            }));
        }
        let old_root = self.root;
        self.root = self.alloc(Node::Inner(Inner {
            seps: vec![sep],
            children: vec![old_root, right],
            counts: vec![left_count, right_count],
        }));
        self.height += 1;
    }

    /// Removes `key` (whose member is `slots[key.id]`). Returns false if it is not there.
    fn remove(&mut self, slots: &[Slot], key: Key) -> bool {
        let member = &slots[key.id as usize].member;
        let mut path = Path::new();
        let n = self.descend(member, key.score, 0, &mut path);
        let leaf = self.leaf_mut(n);
        let pos = leaf
            .keys
            .partition_point(|k| less(k.score, &slots[k.id as usize].member, key.score, member));
        if leaf.keys.get(pos).is_none_or(|k| k.id != key.id) {
            return false;
        }
        leaf.keys.remove(pos);
        self.len -= 1;
        for &(p, i) in &path.steps[..path.len] {
            self.inner_mut(p).counts[i] -= 1;
        }
        self.rebalance(slots, n, &path);
        true
    }

    /// Restores the fill invariants bottom-up after a removal from leaf `n`.
    fn rebalance(&mut self, slots: &[Slot], mut n: NodeId, path: &Path) {
        let mut depth = path.len;
        let mut is_leaf = true;
        while depth > 0 {
            let size = match &self.nodes[n as usize] {
                Node::Leaf(l) => l.keys.len(),
                Node::Inner(i) => i.children.len(),
                Node::Free => unreachable!("free node in a path"),
            };
            if size >= if is_leaf { LEAF_MIN } else { INNER_MIN } {
                return;
            }
            let (p, i) = path.steps[depth - 1];
            let left = if i > 0 { i - 1 } else { i };
            let parent = self.inner(p);
            if left + 1 >= parent.children.len() {
                return; // a lone child: nothing to balance with (only under a root being collapsed)
            }
            let (l, r) = (parent.children[left], parent.children[left + 1]);
            let merged = if is_leaf {
                self.fix_leaves(slots, p, left, l, r)
            } else {
                self.fix_inners(p, left, l, r)
            };
            if !merged {
                return;
            }
            n = p;
            depth -= 1;
            is_leaf = false;
        }
        // At the root: an inner root left with one child is replaced by that child.
        if self.height > 0 && self.inner(self.root).children.len() == 1 {
            let old = self.root;
            self.root = self.inner(old).children[0];
            self.release(old);
            self.height -= 1;
        }
    }

    /// Merges leaves `l` and `r` (children `left`, `left + 1` of `p`) if they fit in one,
    /// else evens them out. Returns true when merged (the parent lost a child).
    fn fix_leaves(&mut self, slots: &[Slot], p: NodeId, left: usize, l: NodeId, r: NodeId) -> bool {
        let (Node::Leaf(mut ln), Node::Leaf(mut rn)) = (self.take(l), self.take(r)) else {
            unreachable!("siblings of a leaf are leaves");
        };
        let merged = ln.keys.len() + rn.keys.len() <= LEAF_MAX;
        if merged {
            ln.keys.append(&mut rn.keys);
            ln.next = rn.next;
            if rn.next == NIL {
                self.last = l;
            } else {
                self.leaf_mut(rn.next).prev = l;
            }
            self.put(l, Node::Leaf(ln));
            self.release(r);
            let parent = self.inner_mut(p);
            parent.seps.remove(left);
            parent.children.remove(left + 1);
            let moved = parent.counts.remove(left + 1);
            parent.counts[left] += moved;
        } else {
            let want = (ln.keys.len() + rn.keys.len()) / 2;
            if ln.keys.len() > want {
                let mut tail = ln.keys.split_off(want);
                tail.append(&mut rn.keys);
                rn.keys = tail;
            } else {
                let k = want - ln.keys.len();
                ln.keys.extend(rn.keys.drain(..k));
            }
            let last = ln.keys[ln.keys.len() - 1];
            let (lc, rc) = (ln.keys.len(), rn.keys.len());
            self.put(l, Node::Leaf(ln));
            self.put(r, Node::Leaf(rn));
            let parent = self.inner_mut(p);
            parent.seps[left] = Sep {
                score: last.score,
                member: slots[last.id as usize].member.as_bytes().into(),
            };
            parent.counts[left] = lc;
            parent.counts[left + 1] = rc;
        }
        merged
    }

    /// [`Tree::fix_leaves`] for inner nodes: the parent's separator moves down into a
    /// merge, or rotates through the parent when children move between siblings.
    fn fix_inners(&mut self, p: NodeId, left: usize, l: NodeId, r: NodeId) -> bool {
        let (Node::Inner(mut ln), Node::Inner(mut rn)) = (self.take(l), self.take(r)) else {
            unreachable!("siblings of an inner node are inner nodes");
        };
        let merged = ln.children.len() + rn.children.len() <= INNER_MAX;
        if merged {
            let parent = self.inner_mut(p);
            let sep = parent.seps.remove(left);
            parent.children.remove(left + 1);
            let moved = parent.counts.remove(left + 1);
            parent.counts[left] += moved;
            ln.seps.push(sep);
            ln.seps.append(&mut rn.seps);
            ln.children.append(&mut rn.children);
            ln.counts.append(&mut rn.counts);
            self.put(l, Node::Inner(ln));
            self.release(r);
        } else {
            let want = (ln.children.len() + rn.children.len()) / 2;
            let parent = self.inner_mut(p);
            if ln.children.len() > want {
                // Left's last children move to the front of right.
                let mut children = ln.children.split_off(want);
                let mut counts = ln.counts.split_off(want);
                let mut seps = ln.seps.split_off(want);
                let up = match ln.seps.pop() {
                    Some(s) => s,
                    None => unreachable!("a node with children to spare has separators"),
                };
                seps.push(std::mem::replace(&mut parent.seps[left], up));
                seps.append(&mut rn.seps);
                children.append(&mut rn.children);
                counts.append(&mut rn.counts);
                (rn.seps, rn.children, rn.counts) = (seps, children, counts);
            } else {
                // Right's first children move to the end of left.
                let k = want - ln.children.len();
                let mut seps: Vec<Sep> = rn.seps.drain(..k).collect();
                let up = match seps.pop() {
                    Some(s) => s,
                    None => unreachable!("k >= 1"),
                };
                ln.seps.push(std::mem::replace(&mut parent.seps[left], up));
                ln.seps.append(&mut seps);
                ln.children.extend(rn.children.drain(..k));
                ln.counts.extend(rn.counts.drain(..k));
            }
            parent.counts[left] = ln.counts.iter().sum();
            parent.counts[left + 1] = rn.counts.iter().sum();
            self.put(l, Node::Inner(ln));
            self.put(r, Node::Inner(rn));
        }
        merged
    }

    /// Changes the score of `key` to `score` without restructuring when the key keeps its
    /// place strictly inside its leaf (ZINCRBY's common case). Returns false otherwise.
    fn update_in_place(&mut self, slots: &[Slot], key: Key, score: f64) -> bool {
        let member = &slots[key.id as usize].member;
        let mut n = self.root;
        for _ in 0..self.height {
            let inner = self.inner(n);
            let i = inner
                .seps
                .partition_point(|s| less(s.score, &s.member, key.score, member));
            n = inner.children[i];
        }
        let leaf = self.leaf_mut(n);
        let pos = leaf
            .keys
            .partition_point(|k| less(k.score, &slots[k.id as usize].member, key.score, member));
        if pos == 0 || pos + 1 >= leaf.keys.len() || leaf.keys[pos].id != key.id {
            return false;
        }
        let (before, after) = (leaf.keys[pos - 1], leaf.keys[pos + 1]);
        let fits = less(
            before.score,
            &slots[before.id as usize].member,
            score,
            member,
        ) && less(score, member, after.score, &slots[after.id as usize].member);
        if fits {
            leaf.keys[pos].score = score;
        }
        fits
    }

    /// Visits every key in order (leaf by leaf), letting `f` change its id (compaction).
    fn for_each_key_mut(&mut self, mut f: impl FnMut(&mut Key)) {
        let mut n = self.first;
        while n != NIL {
            let leaf = self.leaf_mut(n);
            leaf.keys.iter_mut().for_each(&mut f);
            n = leaf.next;
        }
    }

    /// Approximate heap bytes of the nodes.
    fn heap_size(&self) -> usize {
        self.nodes.capacity() * std::mem::size_of::<Node>()
            + self
                .nodes
                .iter()
                .map(|n| match n {
                    Node::Leaf(l) => l.keys.capacity() * std::mem::size_of::<Key>(),
                    Node::Inner(i) => {
                        i.seps.capacity() * std::mem::size_of::<Sep>()
                            + i.seps.iter().map(|s| s.member.len()).sum::<usize>()
                            + i.children.capacity() * 4
                            + i.counts.capacity() * 8
                    }
                    Node::Free => 0,
                })
                .sum::<usize>()
    }
}

/// One end of a lexicographic range (ZRANGEBYLEX's `-`, `+`, `[x`, `(x`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LexBound<'a> {
    /// `-`: before every member.
    Min,
    /// `+`: after every member.
    Max,
    /// `[x`: x included.
    Incl(&'a [u8]),
    /// `(x`: x excluded.
    Excl(&'a [u8]),
}

/// A score range (ZRANGEBYSCORE's `min max`, each possibly exclusive with `(`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScoreRange {
    /// Lower bound.
    pub min: f64,
    /// `(min`: the lower bound is excluded.
    pub min_ex: bool,
    /// Upper bound.
    pub max: f64,
    /// `(max`: the upper bound is excluded.
    pub max_ex: bool,
}

/// ZADD's options.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AddFlags {
    /// Only add new members.
    pub nx: bool,
    /// Only update existing members.
    pub xx: bool,
    /// Only update when the new score is greater.
    pub gt: bool,
    /// Only update when the new score is less.
    pub lt: bool,
    /// The score is an increment.
    pub incr: bool,
}

/// What [`ZSet::add`] did (Redis's `zsetAdd` out flags).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AddOutcome {
    /// A new member, with this score.
    Added(f64),
    /// An existing member got this new score.
    Updated(f64),
    /// An existing member whose score stays this one.
    Unchanged(f64),
    /// Nothing done because of NX, XX, GT or LT.
    Skipped,
    /// The resulting score would be NaN (`inf + -inf`); nothing done.
    NotANumber,
}

/// A sorted set stays packed (one buffer, no dict and no tree: a few bytes of overhead a
/// member instead of about 60) while Redis would keep it as a listpack, so up to
/// `zset-max-listpack-entries` members, with linear lookups as in Redis. One that stopped
/// being listpack-compatible (a member longer than `zset-max-listpack-value`) stays packed
/// up to this many members, where linear scans still cost less than hashing; past that it
/// becomes a [`Big`] for good, as Redis's listpack becomes a skiplist.
const SMALL_MAX: usize = 16;

/// A small sorted set, packed like Redis's listpack: entries back to back in one
/// [`ThinBuf`], sorted by (score, member), each `(member length << 2 | score form)
/// (LEB128) | score | member bytes`. The score takes 2 bytes when it is an integer in
/// i16's range, 4 when an f32 holds it exactly (`1.5`, `100.25`), else 8; a listpack
/// likewise stores integral scores as small integers.
#[derive(Debug, Clone, Default)]
struct Packed {
    buf: ThinBuf,
    len: u32,
    /// Redis would still use a listpack (see the module docs).
    compact: bool,
}

/// One entry of a [`Packed`] set: where it starts and ends in the buffer, and its data.
#[derive(Debug, Clone, Copy)]
struct PackedEntry<'a> {
    start: usize,
    end: usize,
    score: f64,
    member: &'a [u8],
}

/// The score forms of a packed entry.
const SCORE_F64: usize = 0;
const SCORE_F32: usize = 1;
const SCORE_I16: usize = 2;

/// The smallest form that holds `score` exactly, and its size.
#[inline]
fn score_form(score: f64) -> (usize, usize) {
    let i = score as i16;
    if f64::from(i) == score && !(score == 0.0 && score.is_sign_negative()) {
        (SCORE_I16, 2)
    } else if f64::from(score as f32).to_bits() == score.to_bits() {
        (SCORE_F32, 4)
    } else {
        (SCORE_F64, 8)
    }
}

impl Packed {
    fn bytes(&self) -> &[u8] {
        self.buf.as_slice()
    }

    /// The entry starting at byte `at` (a valid entry start).
    #[inline]
    fn entry_at(&self, at: usize) -> PackedEntry<'_> {
        let b = self.bytes();
        let (mut head, mut shift, mut i) = (0usize, 0, at);
        loop {
            let c = b[i];
            head |= usize::from(c & 0x7f) << shift;
            i += 1;
            if c & 0x80 == 0 {
                break;
            }
            shift += 7;
        }
        let (score, size) = match head & 3 {
            SCORE_I16 => (f64::from(i16::from_le_bytes([b[i], b[i + 1]])), 2),
            SCORE_F32 => {
                let mut f = [0u8; 4];
                f.copy_from_slice(&b[i..i + 4]);
                (f64::from(f32::from_le_bytes(f)), 4)
            }
            _ => {
                let mut f = [0u8; 8];
                f.copy_from_slice(&b[i..i + 8]);
                (f64::from_le_bytes(f), 8)
            }
        };
        let m = i + size;
        let len = head >> 2;
        PackedEntry {
            start: at,
            end: m + len,
            score,
            member: &b[m..m + len],
        }
    }

    /// The entries in order.
    #[inline]
    fn entries(&self) -> impl Iterator<Item = PackedEntry<'_>> {
        let mut at = 0;
        std::iter::from_fn(move || {
            (at < self.buf.len()).then(|| {
                let e = self.entry_at(at);
                at = e.end;
                e
            })
        })
    }

    /// The rank and entry of `member`.
    #[inline]
    fn find(&self, member: &[u8]) -> Option<(usize, PackedEntry<'_>)> {
        self.entries().enumerate().find(|(_, e)| e.member == member)
    }

    /// Byte offset of the entry of rank `rank` (the buffer's end for `rank == len`).
    fn offset_of(&self, rank: usize) -> usize {
        self.entries().nth(rank).map_or(self.buf.len(), |e| e.start)
    }

    /// Inserts `(score, member)` (absent) in order.
    fn insert(&mut self, score: f64, member: &[u8]) {
        let at = self
            .entries()
            .find(|e| !less(e.score, e.member, score, member))
            .map_or(self.buf.len(), |e| e.start);
        let (form, score_size) = score_form(score);
        let mut head = [0u8; 10];
        let (mut n, mut left) = (0, (member.len() << 2) | form);
        loop {
            let b = (left & 0x7f) as u8;
            left >>= 7;
            head[n] = if left > 0 { b | 0x80 } else { b };
            n += 1;
            if left == 0 {
                break;
            }
        }
        let gap = self.buf.splice_gap(at, 0, n + score_size + member.len());
        gap[..n].copy_from_slice(&head[..n]);
        match form {
            SCORE_I16 => gap[n..n + 2].copy_from_slice(&(score as i16).to_le_bytes()),
            SCORE_F32 => gap[n..n + 4].copy_from_slice(&(score as f32).to_le_bytes()),
            _ => gap[n..n + 8].copy_from_slice(&score.to_le_bytes()),
        }
        gap[n + score_size..].copy_from_slice(member);
        self.len += 1;
    }

    /// Removes the entries of bytes `start..end` (`count` of them).
    fn remove_bytes(&mut self, start: usize, end: usize, count: usize) {
        self.buf.splice_gap(start, end - start, 0);
        self.len -= count as u32;
    }
}

/// The storage of a sorted set.
#[derive(Debug, Clone)]
enum Repr {
    /// At most [`SMALL_MAX`] members, packed.
    Small(Packed),
    /// Dict plus order-statistic tree.
    Big(Box<Big>),
}

/// A sorted set value. Commands live in `cmd/zsets.rs`; this holds the data. 16 bytes, so
/// that a small one lives in the [`Value`](super::Value) itself.
#[derive(Debug, Clone)]
pub struct ZSet {
    repr: Repr,
}

impl Default for ZSet {
    fn default() -> ZSet {
        ZSet::new()
    }
}

/// A big sorted set: the slot arena, the dict and the tree.
#[derive(Debug, Clone)]
struct Big {
    /// Redis would still use a listpack (see the module docs).
    compact: bool,
    slots: Vec<Slot>,
    free: Vec<Id>,
    dict: HashTable<Id>,
    tree: Tree,
}

/// Iterator over a rank range of a [`ZSet`], yielding `(member, score)`.
#[derive(Debug)]
pub struct Range<'a> {
    inner: RangeInner<'a>,
}

#[derive(Debug)]
enum RangeInner<'a> {
    Small {
        set: &'a Packed,
        /// Forward: the offset of the next entry.
        at: usize,
        /// Backward: the entry starts of the range, in ascending order (packed entries
        /// cannot be read from their end).
        starts: Vec<usize>,
        next: usize,
        end: usize,
        rev: bool,
    },
    Big {
        z: &'a Big,
        cursor: Option<Cursor>,
        left: usize,
        rev: bool,
    },
}

impl<'a> Iterator for Range<'a> {
    type Item = (&'a [u8], f64);

    #[inline]
    fn next(&mut self) -> Option<(&'a [u8], f64)> {
        match &mut self.inner {
            RangeInner::Small {
                set,
                at,
                starts,
                next,
                end,
                rev,
            } => {
                if *next >= *end {
                    return None;
                }
                let e = if *rev {
                    *end -= 1;
                    set.entry_at(starts[*end])
                } else {
                    *next += 1;
                    let e = set.entry_at(*at);
                    *at = e.end;
                    e
                };
                Some((e.member, e.score))
            }
            RangeInner::Big {
                z,
                cursor,
                left,
                rev,
            } => {
                if *left == 0 {
                    return None;
                }
                let c = (*cursor)?;
                let k = z.tree.key_at(c);
                *left -= 1;
                *cursor = if *rev { z.tree.prev(c) } else { z.tree.next(c) };
                Some((&z.slots[k.id as usize].member, k.score))
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = match &self.inner {
            RangeInner::Small { next, end, .. } => end - next,
            RangeInner::Big { left, .. } => *left,
        };
        (n, Some(n))
    }
}

impl ExactSizeIterator for Range<'_> {}

/// The score as stored: a listpack-encoded set (`compact`) turns -0 into 0, as Redis's does.
#[inline]
fn stored(compact: bool, score: f64) -> f64 {
    if compact && score == 0.0 { 0.0 } else { score }
}

/// What ZADD does to a member whose score is `current` (None: absent), following its
/// options (the decisions of Redis's `zsetAdd`).
enum Plan {
    /// Add the member.
    Insert,
    /// Give the member this new score.
    Update(f64),
    /// Nothing to change; reply with this.
    Done(AddOutcome),
}

fn plan(current: Option<f64>, score: f64, flags: AddFlags) -> Plan {
    let Some(current) = current else {
        return if flags.xx {
            Plan::Done(AddOutcome::Skipped)
        } else {
            Plan::Insert
        };
    };
    if flags.nx {
        return Plan::Done(AddOutcome::Skipped);
    }
    let mut new = score;
    if flags.incr {
        new += current;
        if new.is_nan() {
            return Plan::Done(AddOutcome::NotANumber);
        }
    }
    if (flags.lt && new >= current) || (flags.gt && new <= current) {
        return Plan::Done(AddOutcome::Skipped);
    }
    if new == current {
        return Plan::Done(AddOutcome::Unchanged(new));
    }
    Plan::Update(new)
}

impl ZSet {
    /// An empty sorted set (small, and listpack-like until it outgrows Redis's limits).
    pub fn new() -> ZSet {
        ZSet {
            repr: Repr::Small(Packed {
                compact: true,
                ..Packed::default()
            }),
        }
    }

    /// Number of members.
    #[inline]
    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Small(v) => v.len as usize,
            Repr::Big(b) => b.dict.len(),
        }
    }

    /// True when the set has no member (such a key is deleted).
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True while Redis 7.0 would keep this set as a listpack (see the module docs).
    pub fn is_compact(&self) -> bool {
        match &self.repr {
            Repr::Small(v) => v.compact,
            Repr::Big(b) => b.compact,
        }
    }

    /// Redis's name of the encoding it would use (OBJECT ENCODING).
    pub fn encoding(&self) -> &'static str {
        if self.is_compact() {
            "listpack"
        } else {
            "skiplist"
        }
    }

    /// The score of `member`.
    #[inline]
    pub fn score(&self, member: &[u8]) -> Option<f64> {
        match &self.repr {
            Repr::Small(v) => v.find(member).map(|(_, e)| e.score),
            Repr::Big(b) => b
                .find(member, hash_bytes(member))
                .map(|id| b.slots[id as usize].score),
        }
    }

    /// [`ZSet::add_with`] under Redis's default limits.
    pub fn add(&mut self, member: &[u8], score: f64, flags: AddFlags) -> AddOutcome {
        self.add_with(member, score, flags, &Limits::default())
    }

    /// Adds or updates `member` following ZADD's options (Redis's `zsetAdd`). Redis's
    /// `zset-max-listpack-entries` and `-value` (`limits`) decide whether Redis would still
    /// hold the set as a listpack.
    pub fn add_with(
        &mut self,
        member: &[u8],
        score: f64,
        flags: AddFlags,
        limits: &Limits,
    ) -> AddOutcome {
        if score.is_nan() {
            return AddOutcome::NotANumber;
        }
        let len = self.len();
        let outcome = match &mut self.repr {
            Repr::Small(v) => {
                let found = v.find(member).map(|(_, e)| (e.start, e.end, e.score));
                match plan(found.map(|(_, _, s)| s), score, flags) {
                    Plan::Done(o) => return o,
                    Plan::Insert => {
                        if member.len() > limits.zset_value || len + 1 > limits.zset_entries {
                            v.compact = false;
                        }
                        v.insert(stored(v.compact, score), member);
                        AddOutcome::Added(score)
                    }
                    Plan::Update(new) => {
                        if let Some((start, end, _)) = found {
                            v.remove_bytes(start, end, 1);
                        }
                        v.insert(stored(v.compact, new), member);
                        AddOutcome::Updated(new)
                    }
                }
            }
            Repr::Big(b) => {
                let hash = hash_bytes(member);
                let id = b.find(member, hash);
                match plan(id.map(|i| b.slots[i as usize].score), score, flags) {
                    Plan::Done(o) => return o,
                    Plan::Insert => {
                        if member.len() > limits.zset_value || len + 1 > limits.zset_entries {
                            b.compact = false;
                        }
                        let compact = b.compact;
                        b.insert_new(member, stored(compact, score), hash);
                        AddOutcome::Added(score)
                    }
                    Plan::Update(new) => {
                        if let Some(id) = id {
                            let compact = b.compact;
                            b.set_score(id, stored(compact, new));
                        }
                        AddOutcome::Updated(new)
                    }
                }
            }
        };
        if let Repr::Small(v) = &self.repr
            && v.len as usize > SMALL_MAX
            && !v.compact
        {
            self.repr = Repr::Big(Box::new(Big::from_packed(v)));
        }
        outcome
    }

    /// Sets `member`'s score, adding it if needed; true when it is new (ZADD without
    /// options, building result sets).
    pub fn insert(&mut self, member: &[u8], score: f64) -> bool {
        matches!(
            self.add(member, score, AddFlags::default()),
            AddOutcome::Added(_)
        )
    }

    /// Removes `member`; returns true when it was there.
    pub fn remove(&mut self, member: &[u8]) -> bool {
        match &mut self.repr {
            Repr::Small(v) => match v.find(member).map(|(_, e)| (e.start, e.end)) {
                Some((start, end)) => {
                    v.remove_bytes(start, end, 1);
                    true
                }
                None => false,
            },
            Repr::Big(b) => {
                let hash = hash_bytes(member);
                let Some(id) = b.find(member, hash) else {
                    return false;
                };
                b.remove_id(id, hash);
                true
            }
        }
    }

    /// Number of members for which `probe` holds (a prefix of the order).
    fn count_before(&self, probe: &impl Probe) -> usize {
        match &self.repr {
            Repr::Small(v) => v
                .entries()
                .take_while(|e| probe.before(e.score, || e.member))
                .count(),
            Repr::Big(b) => b.tree.count_before(&b.slots, probe),
        }
    }

    /// The 0-based rank of `member` in ascending order.
    pub fn rank(&self, member: &[u8]) -> Option<usize> {
        let score = self.score(member)?;
        match &self.repr {
            // Sorted pairs: the index is the rank.
            Repr::Small(v) => v.find(member).map(|(rank, _)| rank),
            Repr::Big(_) => Some(self.count_before(&KeyLess { score, member })),
        }
    }

    /// The ranks `[start, end)` of the members whose score is in `r` (empty when
    /// `end <= start`).
    pub fn score_range(&self, r: &ScoreRange) -> (usize, usize) {
        let start = self.count_before(&ScoreBelow {
            bound: r.min,
            or_equal: r.min_ex,
        });
        let end = self.count_before(&ScoreBelow {
            bound: r.max,
            or_equal: !r.max_ex,
        });
        (start, end.max(start))
    }

    /// The ranks `[start, end)` of the members between `min` and `max` lexicographically
    /// (meaningful when all scores are equal, as in Redis).
    pub fn lex_range(&self, min: LexBound, max: LexBound) -> (usize, usize) {
        let start = self.count_before(&LexBelow {
            bound: min,
            or_equal: matches!(min, LexBound::Excl(_)),
        });
        let end = self.count_before(&LexBelow {
            bound: max,
            or_equal: matches!(max, LexBound::Incl(_)),
        });
        (start, end.max(start))
    }

    /// The members of ranks `[start, end)` with their scores, ascending; or, with `rev`,
    /// descending from rank `end - 1` down to `start`.
    pub fn range(&self, start: usize, end: usize, rev: bool) -> Range<'_> {
        let end = end.min(self.len());
        let start = start.min(end);
        let inner = match &self.repr {
            Repr::Small(v) => {
                let starts = if rev {
                    v.entries()
                        .skip(start)
                        .take(end - start)
                        .map(|e| e.start)
                        .collect()
                } else {
                    Vec::new()
                };
                RangeInner::Small {
                    set: v,
                    at: if rev { 0 } else { v.offset_of(start) },
                    starts,
                    next: 0,
                    end: end - start,
                    rev,
                }
            }
            Repr::Big(b) => {
                let left = end - start;
                let cursor = (left > 0).then(|| b.tree.select(if rev { end - 1 } else { start }));
                RangeInner::Big {
                    z: b,
                    cursor,
                    left,
                    rev,
                }
            }
        };
        Range { inner }
    }

    /// All members in ascending order.
    pub fn iter(&self) -> Range<'_> {
        self.range(0, self.len(), false)
    }

    /// Removes and returns the member with the lowest score (or the highest, with `max`).
    pub fn pop(&mut self, max: bool) -> Option<(Box<[u8]>, f64)> {
        match &mut self.repr {
            Repr::Small(v) => {
                let e = if max {
                    v.entries().last()
                } else {
                    v.entries().next()
                }?;
                let (start, end, popped) = (e.start, e.end, (e.member.into(), e.score));
                v.remove_bytes(start, end, 1);
                Some(popped)
            }
            Repr::Big(b) => {
                let k = if max {
                    b.tree.last_key()
                } else {
                    b.tree.first_key()
                }?;
                let hash = hash_bytes(&b.slots[k.id as usize].member);
                Some(b.remove_id(k.id, hash))
            }
        }
    }

    /// Removes the members of ranks `[start, end)`; returns how many.
    pub fn remove_range(&mut self, start: usize, end: usize) -> usize {
        let end = end.min(self.len());
        if start >= end {
            return 0;
        }
        match &mut self.repr {
            Repr::Small(v) => {
                let (from, to) = (v.offset_of(start), v.offset_of(end));
                v.remove_bytes(from, to, end - start);
            }
            Repr::Big(b) => b.remove_range(start, end),
        }
        end - start
    }

    /// One ZSCAN step (see [`table::scan`]): calls `f` with each visited member and score;
    /// returns the next cursor. A small set is visited whole (cursor 0), as Redis does
    /// with its compact encodings.
    pub fn scan<'a>(&'a self, cursor: u64, count: usize, mut f: impl FnMut(&'a [u8], f64)) -> u64 {
        match &self.repr {
            Repr::Small(v) => {
                v.entries().for_each(|e| f(e.member, e.score));
                0
            }
            Repr::Big(b) => b.scan(cursor, count, f),
        }
    }

    /// Approximate heap bytes used.
    pub fn heap_size(&self) -> usize {
        match &self.repr {
            Repr::Small(v) => v.buf.allocation_size(),
            Repr::Big(b) => std::mem::size_of::<Big>() + b.heap_size(),
        }
    }

    /// The big form, for tests that look inside it.
    #[cfg(test)]
    fn big(&self) -> &Big {
        match &self.repr {
            Repr::Big(b) => b,
            Repr::Small(_) => panic!("a small set"),
        }
    }

    /// Checks every structural invariant; panics with a description when one fails.
    #[cfg(test)]
    fn check(&self) {
        match &self.repr {
            Repr::Small(v) => {
                assert!(
                    v.len as usize <= SMALL_MAX || v.compact,
                    "an overfull small set"
                );
                let entries: Vec<PackedEntry> = v.entries().collect();
                assert_eq!(entries.len(), v.len as usize, "entry count");
                assert_eq!(entries.last().map_or(0, |e| e.end), v.buf.len());
                for w in entries.windows(2) {
                    assert!(
                        less(w[0].score, w[0].member, w[1].score, w[1].member),
                        "small set out of order"
                    );
                }
            }
            Repr::Big(b) => b.check(),
        }
    }
}

impl Big {
    fn new() -> Big {
        Big {
            compact: false,
            slots: Vec::new(),
            free: Vec::new(),
            dict: HashTable::new(),
            tree: Tree::new(),
        }
    }

    /// A big set holding the members of a small one.
    fn from_packed(small: &Packed) -> Big {
        let mut b = Big::new();
        b.compact = small.compact;
        b.slots.reserve(small.len as usize);
        for e in small.entries() {
            b.insert_new(e.member, e.score, hash_bytes(e.member));
        }
        b
    }

    fn len(&self) -> usize {
        self.dict.len()
    }

    #[inline]
    fn find(&self, member: &[u8], hash: u64) -> Option<Id> {
        let slots = &self.slots;
        self.dict
            .find(hash, |&id| *slots[id as usize].member == *member)
            .copied()
    }

    /// Adds a member known to be absent, with its score as stored.
    fn insert_new(&mut self, member: &[u8], score: f64, hash: u64) {
        let slot = Slot {
            member: MemberBytes::new(member),
            score,
        };
        let id = match self.free.pop() {
            Some(id) => {
                self.slots[id as usize] = slot;
                id
            }
            None => {
                self.slots.push(slot);
                (self.slots.len() - 1) as Id
            }
        };
        let slots = &self.slots;
        self.dict
            .insert_unique(hash, id, |&i| hash_bytes(&slots[i as usize].member));
        self.tree.insert(&self.slots, Key { score, id });
    }

    /// Gives the member in slot `id` a new score (as stored).
    fn set_score(&mut self, id: Id, score: f64) {
        let old = Key {
            score: self.slots[id as usize].score,
            id,
        };
        if !self.tree.update_in_place(&self.slots, old, score) {
            self.tree.remove(&self.slots, old);
            self.tree.insert(&self.slots, Key { score, id });
        }
        self.slots[id as usize].score = score;
    }

    /// Removes the member in slot `id` (its hash is `hash`) and returns its bytes and score.
    fn remove_id(&mut self, id: Id, hash: u64) -> (Box<[u8]>, f64) {
        let removed = self.unlink(id, hash);
        self.shrink_if_sparse();
        removed
    }

    /// [`Big::remove_id`] without the shrinking, which renumbers slots: for batches of
    /// removals by id, followed by one [`Big::shrink_if_sparse`].
    fn unlink(&mut self, id: Id, hash: u64) -> (Box<[u8]>, f64) {
        let score = self.slots[id as usize].score;
        self.tree.remove(&self.slots, Key { score, id });
        if let Ok(e) = self.dict.find_entry(hash, |&i| i == id) {
            e.remove();
        }
        let member = std::mem::take(&mut self.slots[id as usize].member);
        self.free.push(id);
        (member.as_bytes().into(), score)
    }

    /// After removals: compacts the slot arena once it is mostly holes, and gives hash
    /// table memory back once under 10% full (as Redis's `htNeedsResize`).
    fn shrink_if_sparse(&mut self) {
        let len = self.len();
        if len == 0 {
            *self = Big::new();
            return;
        }
        if self.slots.len() > 64 && len * 4 < self.slots.len() {
            self.compact_slots();
        } else if self.dict.num_buckets() > 64 && len * 10 < self.dict.num_buckets() {
            let slots = &self.slots;
            self.dict
                .shrink_to(len, |&i| hash_bytes(&slots[i as usize].member));
        }
    }

    /// Renumbers the members 0..len in order, dropping the arena's holes, and rebuilds the
    /// dict at the right size. O(n), after at least 3n removals.
    fn compact_slots(&mut self) {
        let mut slots = Vec::with_capacity(self.len());
        let old = &mut self.slots;
        self.tree.for_each_key_mut(|k| {
            slots.push(std::mem::take(&mut old[k.id as usize]));
            k.id = (slots.len() - 1) as Id;
        });
        let mut dict = HashTable::with_capacity(slots.len());
        for (i, s) in slots.iter().enumerate() {
            dict.insert_unique(hash_bytes(&s.member), i as Id, |&j| {
                hash_bytes(&slots[j as usize].member)
            });
        }
        self.slots = slots;
        self.free = Vec::new();
        self.dict = dict;
    }

    /// Removes the members of ranks `[start, end)` (within the set).
    fn remove_range(&mut self, start: usize, end: usize) {
        if start == 0 && end == self.len() {
            *self = Big::new();
            return;
        }
        let ids: Vec<Id> = {
            let mut c = Some(self.tree.select(start));
            let mut ids = Vec::with_capacity(end - start);
            while ids.len() < end - start
                && let Some(cur) = c
            {
                ids.push(self.tree.key_at(cur).id);
                c = self.tree.next(cur);
            }
            ids
        };
        // Shrinking renumbers the slots, so it waits until every id here is removed.
        for &id in &ids {
            let hash = hash_bytes(&self.slots[id as usize].member);
            self.unlink(id, hash);
        }
        self.shrink_if_sparse();
    }

    /// One ZSCAN step over the dict.
    fn scan<'a>(&'a self, cursor: u64, count: usize, mut f: impl FnMut(&'a [u8], f64)) -> u64 {
        let slots: &'a [Slot] = &self.slots;
        table::scan(
            &self.dict,
            |&i| hash_bytes(&slots[i as usize].member),
            cursor,
            count,
            |&i| {
                let s = &slots[i as usize];
                f(&s.member, s.score)
            },
        )
    }

    /// Approximate heap bytes used.
    fn heap_size(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<Slot>()
            + self
                .slots
                .iter()
                .map(|s| s.member.heap_size())
                .sum::<usize>()
            + self.free.capacity() * 4
            + self.dict.allocation_size()
            + self.tree.heap_size()
    }

    /// Checks every structural invariant; panics with a description when one fails.
    #[cfg(test)]
    fn check(&self) {
        let t = &self.tree;
        assert_eq!(t.len, self.len(), "tree and dict sizes differ");
        // Walk the tree: counts, separators, fill, depth.
        fn walk<'a>(
            z: &'a Big,
            n: NodeId,
            depth: usize,
            lo: Option<(f64, &'a [u8])>,
            hi: Option<(f64, &'a [u8])>,
            leaves: &mut Vec<NodeId>,
        ) -> usize {
            let t = &z.tree;
            let in_bounds = |score: f64, member: &[u8]| {
                lo.is_none_or(|(s, m)| less(s, m, score, member))
                    && hi.is_none_or(|(s, m)| !less(s, m, score, member))
            };
            if depth == t.height {
                let leaf = t.leaf(n);
                if n != t.root {
                    assert!(leaf.keys.len() >= LEAF_MIN, "underfull leaf");
                }
                assert!(leaf.keys.len() <= LEAF_MAX, "overfull leaf");
                for w in leaf.keys.windows(2) {
                    let (a, b) = (w[0], w[1]);
                    assert!(
                        less(
                            a.score,
                            &z.slots[a.id as usize].member,
                            b.score,
                            &z.slots[b.id as usize].member
                        ),
                        "leaf out of order"
                    );
                }
                for k in &leaf.keys {
                    assert!(
                        in_bounds(k.score, &z.slots[k.id as usize].member),
                        "key outside its separators"
                    );
                    assert_eq!(
                        z.slots[k.id as usize].score, k.score,
                        "score differs from the slot's"
                    );
                }
                leaves.push(n);
                return leaf.keys.len();
            }
            let inner = t.inner(n);
            assert_eq!(inner.seps.len() + 1, inner.children.len());
            assert_eq!(inner.counts.len(), inner.children.len());
            assert!(inner.children.len() <= INNER_MAX, "overfull inner node");
            if n != t.root {
                assert!(inner.children.len() >= INNER_MIN, "underfull inner node");
            } else {
                assert!(inner.children.len() >= 2, "inner root with one child");
            }
            let mut total = 0;
            for (i, &c) in inner.children.iter().enumerate() {
                let clo = if i == 0 {
                    lo
                } else {
                    Some((inner.seps[i - 1].score, &*inner.seps[i - 1].member))
                };
                let chi = if i == inner.seps.len() {
                    hi
                } else {
                    Some((inner.seps[i].score, &*inner.seps[i].member))
                };
                let got = walk(z, c, depth + 1, clo, chi, leaves);
                assert_eq!(got, inner.counts[i], "count differs from subtree size");
                total += got;
            }
            total
        }
        let mut leaves = Vec::new();
        let total = walk(self, t.root, 0, None, None, &mut leaves);
        assert_eq!(total, self.len());
        // Leaf links follow the in-order leaves.
        assert_eq!(t.first, leaves[0]);
        assert_eq!(t.last, leaves[leaves.len() - 1]);
        for (i, &l) in leaves.iter().enumerate() {
            let leaf = t.leaf(l);
            assert_eq!(leaf.prev, if i == 0 { NIL } else { leaves[i - 1] });
            assert_eq!(leaf.next, leaves.get(i + 1).copied().unwrap_or(NIL));
        }
        // Every dict entry is findable, and the free list matches the holes.
        for &id in self.dict.iter() {
            let s = &self.slots[id as usize];
            assert_eq!(self.find(&s.member, hash_bytes(&s.member)), Some(id));
        }
        assert_eq!(self.slots.len() - self.free.len(), self.len());
        let live = t.nodes.iter().filter(|n| !matches!(n, Node::Free)).count();
        assert_eq!(
            live + t.free.len(),
            t.nodes.len(),
            "free list and free nodes differ"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeSet, HashMap};

    /// The model: a sorted vector of (score, member) and a map member -> score.
    #[derive(Default)]
    struct Model {
        scores: HashMap<Vec<u8>, f64>,
    }

    impl Model {
        fn sorted(&self) -> Vec<(f64, Vec<u8>)> {
            let mut v: Vec<(f64, Vec<u8>)> =
                self.scores.iter().map(|(m, &s)| (s, m.clone())).collect();
            v.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
            v
        }
    }

    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            crate::store::next_random(&mut self.0)
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    fn all(z: &ZSet) -> Vec<(f64, Vec<u8>)> {
        z.iter().map(|(m, s)| (s, m.to_vec())).collect()
    }

    #[test]
    fn empty_set() {
        let z = ZSet::new();
        assert!(z.is_empty());
        assert_eq!(z.score(b"a"), None);
        assert_eq!(z.rank(b"a"), None);
        assert_eq!(z.iter().count(), 0);
        assert_eq!(z.range(0, 10, true).count(), 0);
        let r = ScoreRange {
            min: f64::NEG_INFINITY,
            min_ex: false,
            max: f64::INFINITY,
            max_ex: false,
        };
        assert_eq!(z.score_range(&r), (0, 0));
        z.check();
    }

    #[test]
    fn add_options_follow_redis() {
        let mut z = ZSet::new();
        let f = AddFlags::default();
        assert_eq!(z.add(b"a", 1.0, f), AddOutcome::Added(1.0));
        assert_eq!(z.add(b"a", 1.0, f), AddOutcome::Unchanged(1.0));
        assert_eq!(
            z.add(b"a", 2.0, AddFlags { nx: true, ..f }),
            AddOutcome::Skipped
        );
        assert_eq!(
            z.add(b"b", 2.0, AddFlags { xx: true, ..f }),
            AddOutcome::Skipped
        );
        assert_eq!(
            z.add(b"a", 0.5, AddFlags { gt: true, ..f }),
            AddOutcome::Skipped
        );
        assert_eq!(
            z.add(b"a", 3.0, AddFlags { gt: true, ..f }),
            AddOutcome::Updated(3.0)
        );
        assert_eq!(
            z.add(b"a", 4.0, AddFlags { lt: true, ..f }),
            AddOutcome::Skipped
        );
        assert_eq!(
            z.add(b"a", 2.0, AddFlags { incr: true, ..f }),
            AddOutcome::Updated(5.0)
        );
        assert_eq!(
            z.add(b"a", f64::INFINITY, AddFlags { incr: true, ..f }),
            AddOutcome::Updated(f64::INFINITY)
        );
        assert_eq!(
            z.add(b"a", f64::NEG_INFINITY, AddFlags { incr: true, ..f }),
            AddOutcome::NotANumber
        );
        assert_eq!(z.score(b"a"), Some(f64::INFINITY));
        assert_eq!(z.add(b"n", f64::NAN, f), AddOutcome::NotANumber);
        assert_eq!(z.len(), 1);
        z.check();
    }

    #[test]
    fn compact_encoding_tracks_redis_limits() {
        let mut z = ZSet::new();
        assert!(z.insert(b"m", -0.0));
        assert!(
            z.score(b"m")
                .is_some_and(|s| s == 0.0 && s.is_sign_positive()),
            "listpack stores -0 as 0"
        );
        for i in 0..COMPACT_MAX_ENTRIES - 1 {
            z.insert(format!("k{i}").as_bytes(), 1.0);
        }
        assert!(z.is_compact());
        z.insert(b"one-too-many", 1.0);
        assert!(!z.is_compact());
        z.insert(b"neg", -0.0);
        assert!(
            z.score(b"neg").is_some_and(|s| s.is_sign_negative()),
            "a skiplist keeps -0"
        );
        let mut long = ZSet::new();
        long.insert(&[b'x'; COMPACT_MAX_VALUE], 1.0);
        assert!(long.is_compact());
        long.insert(&[b'y'; COMPACT_MAX_VALUE + 1], 1.0);
        assert!(!long.is_compact());
        // One way: removing members does not convert back.
        long.remove(&[b'y'; COMPACT_MAX_VALUE + 1]);
        assert!(!long.is_compact());
    }

    /// Random operations checked against the model after every step (full invariant check
    /// every few steps): inserts, score updates (in place and moving), removals, pops,
    /// rank-range removals, ranks, selects and range queries.
    #[test]
    fn random_operations_match_a_model() {
        // 12 members stay in the small form, 20 cross into the big one mid-run, 400 spend
        // nearly all the run big.
        for (seed, members) in [(1u64, 400), (7, 400), (12345, 400), (3, 12), (5, 20)] {
            let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
            let mut z = ZSet::new();
            let mut m = Model::default();
            for step in 0..6000 {
                let member = format!("m{}", rng.below(members)).into_bytes();
                // Few distinct scores, so that ties (ordered by member) are common.
                let score = match rng.below(10) {
                    0 => f64::INFINITY,
                    1 => f64::NEG_INFINITY,
                    _ => rng.below(50) as f64 - 25.0,
                };
                match rng.below(12) {
                    0..=4 => {
                        let new = z.insert(&member, score);
                        assert_eq!(new, m.scores.insert(member.clone(), score).is_none());
                    }
                    5 => {
                        let out = z.add(
                            &member,
                            1.0,
                            AddFlags {
                                incr: true,
                                ..AddFlags::default()
                            },
                        );
                        let s = m.scores.entry(member.clone()).or_insert(0.0);
                        let expect = if out == AddOutcome::Added(1.0) {
                            1.0
                        } else {
                            *s + 1.0
                        };
                        if !expect.is_nan() {
                            *s = expect;
                        }
                    }
                    6 | 7 => assert_eq!(z.remove(&member), m.scores.remove(&member).is_some()),
                    8 => {
                        let max = rng.below(2) == 0;
                        let sorted = m.sorted();
                        let want = if max { sorted.last() } else { sorted.first() };
                        let got = z.pop(max);
                        assert_eq!(got.as_ref().map(|(mm, s)| (*s, mm.to_vec())), want.cloned());
                        if let Some((_, mm)) = want {
                            m.scores.remove(mm);
                        }
                    }
                    9 if rng.below(8) == 0 => {
                        let n = m.scores.len();
                        let start = rng.below(n as u64 + 1) as usize;
                        let end = start + rng.below(5) as usize;
                        let sorted = m.sorted();
                        let removed = z.remove_range(start, end);
                        assert_eq!(removed, end.min(n).saturating_sub(start));
                        for (_, mm) in sorted.iter().skip(start).take(removed) {
                            m.scores.remove(mm);
                        }
                    }
                    _ => {
                        // Queries.
                        let sorted = m.sorted();
                        let want_rank = sorted.iter().position(|(_, mm)| *mm == member);
                        assert_eq!(z.rank(&member), want_rank);
                        assert_eq!(z.score(&member), m.scores.get(&member).copied());
                        let (lo, hi) = (rng.below(50) as f64 - 25.0, rng.below(50) as f64 - 25.0);
                        let (min_ex, max_ex) = (rng.below(2) == 0, rng.below(2) == 0);
                        let r = ScoreRange {
                            min: lo,
                            min_ex,
                            max: hi,
                            max_ex,
                        };
                        let inside = |s: f64| {
                            (if min_ex { s > lo } else { s >= lo })
                                && (if max_ex { s < hi } else { s <= hi })
                        };
                        let want: Vec<_> =
                            sorted.iter().filter(|(s, _)| inside(*s)).cloned().collect();
                        let (a, b) = z.score_range(&r);
                        let got: Vec<_> = z
                            .range(a, b, false)
                            .map(|(mm, s)| (s, mm.to_vec()))
                            .collect();
                        assert_eq!(got, want, "score range {r:?}");
                        let mut rev: Vec<_> = z
                            .range(a, b, true)
                            .map(|(mm, s)| (s, mm.to_vec()))
                            .collect();
                        rev.reverse();
                        assert_eq!(rev, want);
                        if !sorted.is_empty() {
                            let i = rng.below(sorted.len() as u64) as usize;
                            let n = rng.below(10) as usize;
                            let got: Vec<_> = z
                                .range(i, i + n, false)
                                .map(|(mm, s)| (s, mm.to_vec()))
                                .collect();
                            assert_eq!(got, sorted[i..(i + n).min(sorted.len())].to_vec());
                        }
                    }
                }
                assert_eq!(z.len(), m.scores.len());
                if step % 97 == 0 {
                    z.check();
                    assert_eq!(all(&z), m.sorted());
                }
            }
            z.check();
            assert_eq!(all(&z), m.sorted());
            // Drain by popping, checking the structure shrinks back to a single leaf.
            while z.pop(false).is_some() {}
            z.check();
            if let Repr::Big(b) = &z.repr {
                assert_eq!(b.tree.height, 0);
            }
        }
    }

    #[test]
    fn large_sets_build_deep_trees_and_ranks_stay_exact() {
        let mut z = ZSet::new();
        let n = 20_000;
        for i in 0..n {
            // Insert in a scrambled order.
            let k = (i * 7919) % n;
            z.insert(format!("{k:06}").as_bytes(), (k / 3) as f64);
        }
        z.check();
        assert!(z.big().tree.height >= 3);
        for k in (0..n).step_by(97) {
            assert_eq!(z.rank(format!("{k:06}").as_bytes()), Some(k));
        }
        // Remove four fifths: the arena is compacted and the dict shrinks.
        for k in 0..n {
            if k % 5 != 0 {
                assert!(z.remove(format!("{k:06}").as_bytes()));
            }
        }
        z.check();
        assert!(z.big().slots.len() < n / 2, "arena compacted");
        for k in (0..n).step_by(5 * 13) {
            assert_eq!(z.rank(format!("{k:06}").as_bytes()), Some(k / 5));
        }
        let r = ScoreRange {
            min: 100.0,
            min_ex: true,
            max: 200.0,
            max_ex: false,
        };
        let (a, b) = z.score_range(&r);
        let got: BTreeSet<usize> = z
            .range(a, b, false)
            .map(|(m, _)| std::str::from_utf8(m).unwrap().parse().unwrap())
            .collect();
        let want: BTreeSet<usize> = (0..n)
            .filter(|k| k % 5 == 0 && k / 3 > 100 && k / 3 <= 200)
            .collect();
        assert_eq!(got, want);
    }

    /// Trees built in different insertion orders, emptied in different removal orders:
    /// exercises every borrow and merge direction at both levels.
    #[test]
    fn every_build_and_teardown_order_keeps_the_invariants() {
        let n = 3000u64;
        let orders: [fn(u64, u64) -> u64; 3] = [|i, _| i, |i, n| n - 1 - i, |i, n| (i * 7919) % n];
        for build in orders {
            for teardown in 0..5 {
                let mut z = ZSet::new();
                for i in 0..n {
                    z.insert(format!("{:05}", build(i, n)).as_bytes(), 0.0);
                }
                z.check();
                let mut rng = Rng(teardown + 99);
                let mut left: Vec<u64> = (0..n).collect();
                let mut step = 0;
                while !left.is_empty() {
                    let k = match teardown {
                        0 => left.pop(),
                        1 => Some(left.remove(0)),
                        2 => Some(left.swap_remove(rng.below(left.len() as u64) as usize)),
                        // From the middle outwards.
                        3 => Some(left.remove(left.len() / 2)),
                        // Mostly from the right, sometimes the left.
                        _ => {
                            if rng.below(4) == 0 {
                                Some(left.remove(0))
                            } else {
                                left.pop()
                            }
                        }
                    };
                    let Some(k) = k else { break };
                    assert!(z.remove(format!("{k:05}").as_bytes()));
                    step += 1;
                    if step % 61 == 0 {
                        z.check();
                    }
                }
                z.check();
                assert!(z.is_empty());
            }
        }
    }

    /// Removing a big rank range triggers the arena compaction; the range's ids must stay
    /// valid until all of them are removed.
    #[test]
    fn big_range_removals_compact_safely() {
        for (start, end) in [(0usize, 900usize), (50, 990), (100, 999), (1, 1000)] {
            let mut z = ZSet::new();
            for i in 0..1000 {
                z.insert(format!("m{i:04}").as_bytes(), (i % 7) as f64);
            }
            let before = all(&z);
            assert_eq!(z.remove_range(start, end), end - start);
            z.check();
            let mut want = before[..start].to_vec();
            want.extend_from_slice(&before[end..]);
            assert_eq!(all(&z), want);
            assert!(z.big().slots.len() < 1000, "the arena was compacted");
        }
    }

    #[test]
    fn small_sets_become_big_past_the_limit_and_keep_their_order() {
        let mut z = ZSet::new();
        for i in (0..COMPACT_MAX_ENTRIES).rev() {
            assert!(z.insert(format!("m{i:03}").as_bytes(), (i % 3) as f64));
        }
        assert!(matches!(z.repr, Repr::Small(_)));
        let before = all(&z);
        assert_eq!(z.rank(b"m000"), Some(0));
        let back: Vec<(f64, Vec<u8>)> = z
            .range(3, 100, true)
            .map(|(m, s)| (s, m.to_vec()))
            .collect();
        let mut want_back = before[3..100].to_vec();
        want_back.reverse();
        assert_eq!(back, want_back);
        assert!(z.insert(b"zz", 1.0));
        assert!(matches!(z.repr, Repr::Big(_)));
        z.check();
        let mut want = before.clone();
        want.push((1.0, b"zz".to_vec()));
        want.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
        assert_eq!(all(&z), want);
        // One way: emptying it does not make it small again.
        while z.pop(true).is_some() {}
        assert!(matches!(z.repr, Repr::Big(_)));
        assert!(z.is_empty());
        z.check();
    }

    #[test]
    fn lex_ranges() {
        let mut z = ZSet::new();
        for m in ["a", "b", "c", "d", "e"] {
            z.insert(m.as_bytes(), 0.0);
        }
        let names = |(a, b): (usize, usize)| -> Vec<String> {
            z.range(a, b, false)
                .map(|(m, _)| String::from_utf8_lossy(m).into_owned())
                .collect()
        };
        assert_eq!(
            names(z.lex_range(LexBound::Min, LexBound::Max)),
            ["a", "b", "c", "d", "e"]
        );
        assert_eq!(
            names(z.lex_range(LexBound::Incl(b"b"), LexBound::Excl(b"d"))),
            ["b", "c"]
        );
        assert_eq!(
            names(z.lex_range(LexBound::Excl(b"b"), LexBound::Incl(b"d"))),
            ["c", "d"]
        );
        assert_eq!(
            names(z.lex_range(LexBound::Excl(b"b"), LexBound::Excl(b"b"))),
            Vec::<String>::new()
        );
        assert_eq!(
            names(z.lex_range(LexBound::Max, LexBound::Min)),
            Vec::<String>::new()
        );
        assert_eq!(
            names(z.lex_range(LexBound::Incl(b"bb"), LexBound::Max)),
            ["c", "d", "e"]
        );
    }

    #[test]
    fn scores_update_in_place_or_move() {
        let mut z = ZSet::new();
        for i in 0..100 {
            z.insert(format!("m{i:03}").as_bytes(), i as f64);
        }
        // Small changes keep the position; big ones move the member.
        z.insert(b"m050", 50.5);
        z.insert(b"m010", 1000.0);
        z.insert(b"m090", -1.0);
        z.check();
        assert_eq!(z.rank(b"m050"), Some(50));
        assert_eq!(z.rank(b"m010"), Some(99));
        assert_eq!(z.rank(b"m090"), Some(0));
    }

    #[test]
    fn scan_sees_every_member() {
        let mut z = ZSet::new();
        for i in 0..500 {
            z.insert(format!("m{i}").as_bytes(), i as f64);
        }
        let mut seen = BTreeSet::new();
        let mut cursor = 0;
        loop {
            cursor = z.scan(cursor, 10, |m, s| {
                assert_eq!(z.score(m), Some(s));
                seen.insert(m.to_vec());
            });
            if cursor == 0 {
                break;
            }
        }
        assert_eq!(seen.len(), 500);
    }

    #[test]
    fn packed_scores_keep_their_exact_value() {
        let scores = [
            0.0,
            -0.0,
            1.0,
            -1.0,
            1.5,
            0.1,
            32767.0,
            32768.0,
            -32768.0,
            -32769.0,
            100.25,
            1e300,
            -1e-300,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::MIN_POSITIVE,
            16_777_217.0,
        ];
        let mut p = Packed::default();
        for (i, &sc) in scores.iter().enumerate() {
            p.insert(sc, format!("m{i}").as_bytes());
        }
        assert_eq!(p.len as usize, scores.len());
        for (i, &sc) in scores.iter().enumerate() {
            let (_, e) = p.find(format!("m{i}").as_bytes()).expect("present");
            assert_eq!(e.score.to_bits(), sc.to_bits(), "{sc}");
        }
        // Sorted by score, then member.
        let order: Vec<f64> = p.entries().map(|e| e.score).collect();
        assert!(order.windows(2).all(|w| w[0] <= w[1]));
        // Long members need multi-byte lengths.
        let long = vec![b'z'; 300];
        p.insert(2.5, &long);
        assert_eq!(p.find(&long).map(|(_, e)| e.score), Some(2.5));
    }
}
