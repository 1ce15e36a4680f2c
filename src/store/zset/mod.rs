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
//!
//! The code is split by concern (the file passed the 1,500-line split rule): this file has
//! the public type, its API and the order both forms share (`less`, the `Probe`
//! predicates); `packed.rs` the small form, `big.rs` the big one (slots and dict),
//! `tree.rs` the order-statistic B+tree under it, and `tests.rs` the tests.

mod big;
mod packed;
mod tree;

use super::Limits;
use super::table::hash_bytes;
use big::Big;
use packed::Packed;
// Only the invariant check (tests) names an entry's type.
#[cfg(test)]
use packed::PackedEntry;
use tree::Cursor;

/// Most members a sorted set holds while Redis would keep it as a listpack, by default
/// (`zset-max-listpack-entries`; CONFIG can change it, see [`Limits`]).
pub const COMPACT_MAX_ENTRIES: usize = 128;
/// Longest member of a listpack-encoded sorted set (`zset-max-listpack-value`).
pub const COMPACT_MAX_VALUE: usize = 64;

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
    /// Frees the set, the members of its big form that have an allocation of their own in
    /// address order (see [`crate::store::lazyfree::drop_in_address_order`]; the lazyfree
    /// thread's way).
    pub fn free_in_address_order(self) {
        if let Repr::Big(mut b) = self.repr {
            let slots = std::mem::take(&mut b.slots);
            drop(b);
            let heap = slots
                .into_iter()
                .map(|s| s.member)
                .filter(|m| m.heap_address().is_some());
            crate::store::lazyfree::drop_in_address_order(heap.collect(), |m| {
                m.heap_address().unwrap_or(0)
            });
        }
    }

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

    /// The sorted set of `items`: distinct members in the sorted-set order (ascending
    /// score, then bytes), no score NaN. For results (ZUNIONSTORE, ZRANGESTORE...), which
    /// Redis encodes as a listpack when they have at most `zset-max-listpack-entries`
    /// members of at most `zset-max-listpack-value` bytes (`limits`), as a skiplist
    /// otherwise. Built in O(n), where adding the members one by one would take O(n log n).
    pub fn from_sorted(items: &[(&[u8], f64)], limits: &Limits) -> ZSet {
        debug_assert!(
            items
                .windows(2)
                .all(|w| less(w[0].1, w[0].0, w[1].1, w[1].0)),
            "from_sorted: members out of order"
        );
        let compact = items.len() <= limits.zset_entries
            && items.iter().all(|(m, _)| m.len() <= limits.zset_value);
        let repr = if compact || items.len() <= SMALL_MAX {
            Repr::Small(Packed::from_sorted(items, compact))
        } else {
            Repr::Big(Box::new(Big::from_sorted(items)))
        };
        ZSet { repr }
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

    /// One ZSCAN step (see [`table::scan`](super::table::scan)): calls `f` with each
    /// visited member and score; returns the next cursor. A small set is visited whole
    /// (cursor 0), as Redis does with its compact encodings.
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

#[cfg(test)]
mod tests;
