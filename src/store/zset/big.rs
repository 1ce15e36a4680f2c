//! The big form of a sorted set: a slot arena of members and scores, a hash table of
//! slot ids (ZSCORE, ZADD's lookup) and the order-statistic [`Tree`] over `(score, id)`
//! (ranks and ranges). A set becomes big for good once it outgrows the packed form (see
//! the [module docs](super)), as Redis's listpack becomes a skiplist.

use hashbrown::HashTable;

use super::packed::Packed;
use super::tree::{Id, Key, Slot, Tree};
use crate::store::set::Key as MemberBytes;
use crate::store::table::{self, hash_bytes};
// The invariant check walks the tree's nodes itself.
#[cfg(test)]
use super::less;
#[cfg(test)]
use super::tree::{INNER_MAX, INNER_MIN, LEAF_MAX, LEAF_MIN, NIL, Node, NodeId};

/// A big sorted set: the slot arena, the dict and the tree.
#[derive(Debug, Clone)]
pub(super) struct Big {
    /// Redis would still use a listpack (see the [module docs](super)).
    pub(super) compact: bool,
    pub(super) slots: Vec<Slot>,
    free: Vec<Id>,
    pub(super) dict: HashTable<Id>,
    pub(super) tree: Tree,
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
    pub(super) fn from_packed(small: &Packed) -> Big {
        let mut b = Big::new();
        b.compact = small.compact;
        b.slots.reserve(small.len as usize);
        for e in small.entries() {
            b.insert_new(e.member, e.score, hash_bytes(e.member));
        }
        b
    }

    /// A big set of `items`, which are distinct and in order (scores as stored).
    pub(super) fn from_sorted(items: &[(&[u8], f64)]) -> Big {
        let slots: Vec<Slot> = items
            .iter()
            .map(|&(m, score)| Slot {
                member: MemberBytes::new(m),
                score,
            })
            .collect();
        let mut dict = HashTable::with_capacity(items.len());
        for (id, &(m, _)) in items.iter().enumerate() {
            dict.insert_unique(hash_bytes(m), id as Id, |&i| {
                hash_bytes(&slots[i as usize].member)
            });
        }
        let tree = Tree::from_sorted(&slots);
        Big {
            compact: false,
            slots,
            free: Vec::new(),
            dict,
            tree,
        }
    }

    fn len(&self) -> usize {
        self.dict.len()
    }

    #[inline]
    pub(super) fn find(&self, member: &[u8], hash: u64) -> Option<Id> {
        let slots = &self.slots;
        self.dict
            .find(hash, |&id| *slots[id as usize].member == *member)
            .copied()
    }

    /// Adds a member known to be absent, with its score as stored.
    pub(super) fn insert_new(&mut self, member: &[u8], score: f64, hash: u64) {
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
    pub(super) fn set_score(&mut self, id: Id, score: f64) {
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
    pub(super) fn remove_id(&mut self, id: Id, hash: u64) -> (Box<[u8]>, f64) {
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
    pub(super) fn remove_range(&mut self, start: usize, end: usize) {
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
    pub(super) fn scan<'a>(
        &'a self,
        cursor: u64,
        count: usize,
        mut f: impl FnMut(&'a [u8], f64),
    ) -> u64 {
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
    pub(super) fn heap_size(&self) -> usize {
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
    pub(super) fn check(&self) {
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
