//! The order-statistic B+tree of a big sorted set (see the [module docs](super)).
//!
//! Leaves hold `(score, id)` keys in order and are linked both ways for range iteration;
//! inner nodes hold, for each child, the number of keys below it (ranks, select by rank)
//! and an upper-bound separator (routing). The tree does not own the members: their bytes
//! live in the [`Slot`]s of the caller ([`Big`](super::big::Big)), passed in where
//! comparisons need them, so a key stays 16 bytes and scores are compared inline.
//!
//! Its fields and node types are visible to the rest of the sorted-set module because
//! `Big`'s invariant check (tests) walks the nodes directly.

use super::{Probe, less};
use crate::store::set::Key as MemberBytes;

/// Index of a member's slot.
pub(super) type Id = u32;
/// Index of a tree node.
pub(super) type NodeId = u32;
/// "No node" in leaf links.
pub(super) const NIL: NodeId = u32::MAX;

// Node capacities. Tests use tiny nodes so that splits, merges, borrows and deep trees
// happen with few keys.
#[cfg(not(test))]
pub(super) const LEAF_MAX: usize = 64;
#[cfg(not(test))]
pub(super) const INNER_MAX: usize = 64;
#[cfg(test)]
pub(super) const LEAF_MAX: usize = 8;
#[cfg(test)]
pub(super) const INNER_MAX: usize = 8;
/// A non-root leaf with fewer keys borrows from or merges with a sibling.
pub(super) const LEAF_MIN: usize = LEAF_MAX / 4;
/// A non-root inner node with fewer children borrows from or merges with a sibling.
pub(super) const INNER_MIN: usize = INNER_MAX / 4;
/// Deepest path the tree can have (inner nodes have at least 2 children).
const MAX_DEPTH: usize = 48;

/// A member and its score.
#[derive(Debug, Clone, Default)]
pub(super) struct Slot {
    /// Up to 14 bytes inline: most members cost no allocation of their own.
    pub(super) member: MemberBytes,
    pub(super) score: f64,
}

/// A leaf entry: the score (inline, for cheap comparisons) and the member's slot.
#[derive(Debug, Clone, Copy)]
pub(super) struct Key {
    pub(super) score: f64,
    pub(super) id: Id,
}

/// An inner node's separator: every key of the child it follows is <= it, every key of the
/// next child is > it. A copy (not an id) so that it stays valid after its member is removed.
#[derive(Debug, Clone)]
pub(super) struct Sep {
    pub(super) score: f64,
    pub(super) member: Box<[u8]>,
}

#[derive(Debug, Clone, Default)]
pub(super) struct Leaf {
    pub(super) keys: Vec<Key>,
    pub(super) prev: NodeId,
    pub(super) next: NodeId,
}

#[derive(Debug, Clone, Default)]
pub(super) struct Inner {
    /// `children.len() - 1` separators.
    pub(super) seps: Vec<Sep>,
    pub(super) children: Vec<NodeId>,
    /// Keys under each child.
    pub(super) counts: Vec<usize>,
}

#[derive(Debug, Clone)]
pub(super) enum Node {
    Leaf(Leaf),
    Inner(Inner),
    /// On the free list.
    Free,
}

/// A position in the tree: a leaf and an index into its keys.
#[derive(Debug, Clone, Copy)]
pub(super) struct Cursor {
    leaf: NodeId,
    pos: usize,
}

/// The order-statistic B+tree. Member bytes live in the caller's slots, passed in where
/// comparisons need them.
#[derive(Debug, Clone)]
pub(super) struct Tree {
    pub(super) nodes: Vec<Node>,
    pub(super) free: Vec<NodeId>,
    pub(super) root: NodeId,
    /// Inner levels above the leaves (0: the root is a leaf).
    pub(super) height: usize,
    pub(super) first: NodeId,
    pub(super) last: NodeId,
    pub(super) len: usize,
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
    pub(super) fn new() -> Tree {
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

    /// The tree of the members `slots`, which are in order: slot `i` is the key of rank `i`.
    /// Built bottom-up in O(n): as few leaves (then inner nodes) as can hold the keys,
    /// filled evenly, so every node is at least half full.
    pub(super) fn from_sorted(slots: &[Slot]) -> Tree {
        let n = slots.len();
        if n == 0 {
            return Tree::new();
        }
        /// `count` items cut into `parts` runs of nearly equal length: the run `i`.
        fn run(count: usize, parts: usize, i: usize) -> std::ops::Range<usize> {
            count * i / parts..count * (i + 1) / parts
        }
        let leaves = n.div_ceil(LEAF_MAX);
        let mut nodes = Vec::with_capacity(leaves + leaves.div_ceil(INNER_MAX / 2) * 2);
        // Each node of the level being built: its id, its number of keys, and the slot of
        // its last key (the separator that follows it in its parent).
        let mut level: Vec<(NodeId, usize, usize)> = Vec::with_capacity(leaves);
        for i in 0..leaves {
            let keys = run(n, leaves, i);
            let id = i as NodeId;
            level.push((id, keys.len(), keys.end - 1));
            nodes.push(Node::Leaf(Leaf {
                keys: keys
                    .map(|k| Key {
                        score: slots[k].score,
                        id: k as Id,
                    })
                    .collect(),
                prev: if i == 0 { NIL } else { id - 1 },
                next: if i + 1 == leaves { NIL } else { id + 1 },
            }));
        }
        let mut height = 0;
        while level.len() > 1 {
            let parents = level.len().div_ceil(INNER_MAX);
            let mut above = Vec::with_capacity(parents);
            for i in 0..parents {
                let children = &level[run(level.len(), parents, i)];
                let Some(&(_, _, last)) = children.last() else {
                    unreachable!("a run of at least INNER_MAX / 2 children");
                };
                let counts: Vec<usize> = children.iter().map(|c| c.1).collect();
                above.push((nodes.len() as NodeId, counts.iter().sum(), last));
                nodes.push(Node::Inner(Inner {
                    seps: children[..children.len() - 1]
                        .iter()
                        .map(|&(_, _, k)| Sep {
                            score: slots[k].score,
                            member: slots[k].member.as_bytes().into(),
                        })
                        .collect(),
                    children: children.iter().map(|c| c.0).collect(),
                    counts,
                }));
            }
            level = above;
            height += 1;
        }
        Tree {
            nodes,
            free: Vec::new(),
            root: level[0].0,
            height,
            first: 0,
            last: (leaves - 1) as NodeId,
            len: n,
        }
    }

    pub(super) fn leaf(&self, n: NodeId) -> &Leaf {
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

    pub(super) fn inner(&self, n: NodeId) -> &Inner {
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
    pub(super) fn count_before(&self, slots: &[Slot], probe: &impl Probe) -> usize {
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
    pub(super) fn select(&self, mut rank: usize) -> Cursor {
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

    pub(super) fn key_at(&self, c: Cursor) -> Key {
        self.leaf(c.leaf).keys[c.pos]
    }

    pub(super) fn next(&self, c: Cursor) -> Option<Cursor> {
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

    pub(super) fn prev(&self, c: Cursor) -> Option<Cursor> {
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

    pub(super) fn first_key(&self) -> Option<Key> {
        self.leaf(self.first).keys.first().copied()
    }

    pub(super) fn last_key(&self) -> Option<Key> {
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
    pub(super) fn insert(&mut self, slots: &[Slot], key: Key) {
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
    pub(super) fn remove(&mut self, slots: &[Slot], key: Key) -> bool {
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
    pub(super) fn update_in_place(&mut self, slots: &[Slot], key: Key, score: f64) -> bool {
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
    pub(super) fn for_each_key_mut(&mut self, mut f: impl FnMut(&mut Key)) {
        let mut n = self.first;
        while n != NIL {
            let leaf = self.leaf_mut(n);
            leaf.keys.iter_mut().for_each(&mut f);
            n = leaf.next;
        }
    }

    /// Approximate heap bytes of the nodes.
    pub(super) fn heap_size(&self) -> usize {
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
