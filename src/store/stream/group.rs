//! Consumer groups: the group's last delivered ID and read counter, its pending entries
//! list (PEL: ID -> owner, delivery time and count) and its consumers, each with the IDs
//! it owns (Redis's streamCG, streamConsumer and streamNACK).
//!
//! Redis keeps both PELs as radix trees sharing one allocated NACK per entry. Here both
//! are [`IdMap`]s: sorted runs of up to [`CHUNK`] IDs, each run keyed by a lower bound of
//! its IDs in a `BTreeMap`. Deliveries append in ID order, so runs fill completely and a
//! pending entry costs its 16-byte ID and 24-byte NACK in the group, and its ID again in
//! the owner's list, with no per-entry allocation. The NACK names its owner by a slot
//! number in the group's consumer table.

use std::collections::BTreeMap;

use super::id::StreamId;

/// Most IDs in one run of an [`IdMap`].
pub const CHUNK: usize = 64;

/// An ordered map from stream IDs to `V`, stored as sorted runs (see the module doc).
#[derive(Debug, Clone)]
pub struct IdMap<V> {
    /// Runs keyed by a lower bound of their IDs: every ID of a run is at least its key
    /// and below the next run's key.
    runs: BTreeMap<StreamId, Vec<(StreamId, V)>>,
    len: usize,
}

impl<V> Default for IdMap<V> {
    fn default() -> Self {
        IdMap {
            runs: BTreeMap::new(),
            len: 0,
        }
    }
}

impl<V> IdMap<V> {
    /// Number of IDs.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The run that holds `id` if present (its key).
    fn run_key(&self, id: StreamId) -> Option<StreamId> {
        self.runs.range(..=id).next_back().map(|(k, _)| *k)
    }

    /// The value of `id`.
    pub fn get(&self, id: StreamId) -> Option<&V> {
        let run = self.runs.get(&self.run_key(id)?)?;
        let i = run.binary_search_by_key(&id, |(k, _)| *k).ok()?;
        Some(&run[i].1)
    }

    /// The value of `id`, to change.
    pub fn get_mut(&mut self, id: StreamId) -> Option<&mut V> {
        let key = self.run_key(id)?;
        let run = self.runs.get_mut(&key)?;
        let i = run.binary_search_by_key(&id, |(k, _)| *k).ok()?;
        Some(&mut run[i].1)
    }

    /// True when `id` is present.
    pub fn contains(&self, id: StreamId) -> bool {
        self.get(id).is_some()
    }

    /// Inserts or replaces `id`, returning the old value.
    pub fn insert(&mut self, id: StreamId, value: V) -> Option<V> {
        let key = match self.run_key(id) {
            Some(k) => k,
            None => match self.runs.first_key_value().map(|(k, _)| *k) {
                // Below every run: the first run takes it, under a lower key.
                Some(first) => {
                    let run = self.runs.remove(&first).unwrap_or_default();
                    self.runs.insert(id, run);
                    id
                }
                None => {
                    self.runs.insert(id, Vec::new());
                    id
                }
            },
        };
        let is_last_run = self.runs.last_key_value().is_some_and(|(k, _)| *k == key);
        let run = self.runs.get_mut(&key).expect("run found above");
        let i = match run.binary_search_by_key(&id, |(k, _)| *k) {
            Ok(i) => return Some(std::mem::replace(&mut run[i].1, value)),
            Err(i) => i,
        };
        self.len += 1;
        if run.len() < CHUNK {
            run.insert(i, (id, value));
            return None;
        }
        if i == run.len() && is_last_run {
            // Appending past a full last run (the usual case): a new run.
            let mut fresh = Vec::with_capacity(4);
            fresh.push((id, value));
            self.runs.insert(id, fresh);
            return None;
        }
        let mut upper = run.split_off(CHUNK / 2);
        if i <= CHUNK / 2 {
            run.insert(i, (id, value));
        } else {
            upper.insert(i - CHUNK / 2, (id, value));
        }
        self.runs.insert(upper[0].0, upper);
        None
    }

    /// Removes `id`, returning its value.
    pub fn remove(&mut self, id: StreamId) -> Option<V> {
        let key = self.run_key(id)?;
        let run = self.runs.get_mut(&key)?;
        let i = run.binary_search_by_key(&id, |(k, _)| *k).ok()?;
        let (_, value) = run.remove(i);
        if run.is_empty() {
            self.runs.remove(&key);
        } else if run.len() < run.capacity() / 4 {
            run.shrink_to(run.len() * 2);
        }
        self.len -= 1;
        Some(value)
    }

    /// The smallest ID.
    pub fn first(&self) -> Option<StreamId> {
        self.runs
            .values()
            .next()
            .and_then(|r| r.first())
            .map(|e| e.0)
    }

    /// The largest ID.
    pub fn last(&self) -> Option<StreamId> {
        self.runs
            .values()
            .next_back()
            .and_then(|r| r.last())
            .map(|e| e.0)
    }

    /// Entries with IDs from `start` on, in order.
    pub fn iter_from(&self, start: StreamId) -> impl Iterator<Item = (StreamId, &V)> {
        let from = self.run_key(start).unwrap_or(StreamId::MIN);
        self.runs
            .range(from..)
            .flat_map(|(_, run)| run.iter())
            .skip_while(move |(k, _)| *k < start)
            .map(|(k, v)| (*k, v))
    }

    /// All entries, in order.
    pub fn iter(&self) -> impl Iterator<Item = (StreamId, &V)> {
        self.iter_from(StreamId::MIN)
    }

    /// The first entry at or after `start`, to change.
    pub fn first_from_mut(&mut self, start: StreamId) -> Option<(StreamId, &mut V)> {
        let from = self.run_key(start).unwrap_or(StreamId::MIN);
        self.runs
            .range_mut(from..)
            .flat_map(|(_, run)| run.iter_mut())
            .find(|(k, _)| *k >= start)
            .map(|(k, v)| (*k, v))
    }

    /// Heap bytes used.
    pub fn heap_size(&self) -> usize {
        self.runs
            .values()
            .map(|r| r.capacity() * std::mem::size_of::<(StreamId, V)>() + 48)
            .sum()
    }
}

/// A consumer's slot in its group's table.
pub type ConsumerSlot = u32;

/// A pending entry: delivered and not yet acknowledged (Redis's streamNACK).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Nack {
    /// When it was last delivered (ms since the epoch).
    pub delivery_time: u64,
    /// How many times it was delivered.
    pub delivery_count: u64,
    /// Its owner.
    pub consumer: ConsumerSlot,
}

/// A consumer of a group.
#[derive(Debug, Clone)]
pub struct Consumer {
    /// Its name.
    pub name: Box<[u8]>,
    /// When it last read or claimed (ms since the epoch).
    pub seen_time: u64,
    /// The pending entries it owns.
    pub pel: IdMap<()>,
}

/// Redis's SCG_INVALID_ENTRIES_READ: the group's read counter is unknown.
pub const ENTRIES_READ_UNKNOWN: i64 = -1;

/// A consumer group.
#[derive(Debug, Clone)]
pub struct Group {
    /// The last ID delivered to the group.
    pub last_id: StreamId,
    /// How many entries the group has read, or [`ENTRIES_READ_UNKNOWN`].
    pub entries_read: i64,
    /// The group's pending entries.
    pub pel: IdMap<Nack>,
    /// Consumers by slot (None: a freed slot).
    consumers: Vec<Option<Consumer>>,
    /// Slots by name, in name order (Redis lists consumers in its radix tree's order).
    by_name: BTreeMap<Box<[u8]>, ConsumerSlot>,
}

impl Group {
    /// A group that last delivered `last_id`.
    pub fn new(last_id: StreamId, entries_read: i64) -> Group {
        Group {
            last_id,
            entries_read,
            pel: IdMap::default(),
            consumers: Vec::new(),
            by_name: BTreeMap::new(),
        }
    }

    /// Number of consumers.
    pub fn consumer_count(&self) -> usize {
        self.by_name.len()
    }

    /// The slot of consumer `name`.
    pub fn find_consumer(&self, name: &[u8]) -> Option<ConsumerSlot> {
        self.by_name.get(name).copied()
    }

    /// The consumer in `slot`.
    pub fn consumer(&self, slot: ConsumerSlot) -> &Consumer {
        self.consumers[slot as usize]
            .as_ref()
            .expect("a live consumer slot")
    }

    /// The consumer in `slot`, to change.
    pub fn consumer_mut(&mut self, slot: ConsumerSlot) -> &mut Consumer {
        self.consumers[slot as usize]
            .as_mut()
            .expect("a live consumer slot")
    }

    /// Consumers in name order.
    pub fn consumers(&self) -> impl Iterator<Item = &Consumer> {
        self.by_name.values().map(|&s| self.consumer(s))
    }

    /// Creates consumer `name` (seen now). Returns its slot and whether it is new.
    pub fn create_consumer(&mut self, name: &[u8], now: u64) -> (ConsumerSlot, bool) {
        if let Some(slot) = self.find_consumer(name) {
            return (slot, false);
        }
        let consumer = Consumer {
            name: name.into(),
            seen_time: now,
            pel: IdMap::default(),
        };
        let slot = match self.consumers.iter().position(Option::is_none) {
            Some(free) => {
                self.consumers[free] = Some(consumer);
                free
            }
            None => {
                self.consumers.push(Some(consumer));
                self.consumers.len() - 1
            }
        } as ConsumerSlot;
        self.by_name.insert(name.into(), slot);
        (slot, true)
    }

    /// Deletes consumer `name` and its pending entries. Returns how many it had.
    pub fn delete_consumer(&mut self, name: &[u8]) -> Option<usize> {
        let slot = self.by_name.remove(name)?;
        let consumer = self.consumers[slot as usize].take()?;
        for (id, ()) in consumer.pel.iter() {
            self.pel.remove(id);
        }
        Some(consumer.pel.len())
    }

    /// Acknowledges `id`: it leaves the group's and its owner's lists. False when it was
    /// not pending.
    pub fn ack(&mut self, id: StreamId) -> bool {
        let Some(nack) = self.pel.remove(id) else {
            return false;
        };
        self.consumer_mut(nack.consumer).pel.remove(id);
        true
    }

    /// Records a delivery of `id` to `slot` by XREADGROUP: a new pending entry, or an
    /// existing one (after XGROUP SETID moved the group back) given to this consumer with
    /// its count reset to 1.
    pub fn deliver(&mut self, id: StreamId, slot: ConsumerSlot, now: u64) {
        let fresh = Nack {
            delivery_time: now,
            delivery_count: 1,
            consumer: slot,
        };
        if let Some(old) = self.pel.insert(id, fresh)
            && old.consumer != slot
        {
            self.consumer_mut(old.consumer).pel.remove(id);
        }
        self.consumer_mut(slot).pel.insert(id, ());
    }

    /// Moves the pending entry `id` to consumer `slot` (XCLAIM, XAUTOCLAIM), if another
    /// owns it. `previous` is None for an entry XCLAIM FORCE just created.
    pub fn transfer(&mut self, id: StreamId, previous: Option<ConsumerSlot>, slot: ConsumerSlot) {
        if previous == Some(slot) {
            return;
        }
        if let Some(old) = previous {
            self.consumer_mut(old).pel.remove(id);
        }
        self.consumer_mut(slot).pel.insert(id, ());
        if let Some(nack) = self.pel.get_mut(id) {
            nack.consumer = slot;
        }
    }

    /// Heap bytes used.
    pub fn heap_size(&self) -> usize {
        self.pel.heap_size()
            + self
                .consumers
                .iter()
                .flatten()
                .map(|c| c.pel.heap_size() + c.name.len() * 2 + 96)
                .sum::<usize>()
    }

    /// Loading a snapshot: adds consumer `name`, last seen at `seen_time`, in a new slot (a
    /// loaded group has no freed slot to reuse, so there is none to look for). None when a
    /// consumer of that name exists.
    pub fn load_consumer(&mut self, name: &[u8], seen_time: u64) -> Option<ConsumerSlot> {
        if self.by_name.contains_key(name) {
            return None;
        }
        let slot = ConsumerSlot::try_from(self.consumers.len()).ok()?;
        self.consumers.push(Some(Consumer {
            name: name.into(),
            seen_time,
            pel: IdMap::default(),
        }));
        self.by_name.insert(name.into(), slot);
        Some(slot)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u64) -> StreamId {
        StreamId::new(n, 0)
    }

    #[test]
    fn id_map_keeps_order_through_appends_splits_and_removals() {
        let mut m: IdMap<u64> = IdMap::default();
        let mut model = BTreeMap::new();
        let mut state = 7u64;
        for i in 0..5000u64 {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let k = if i % 3 == 0 { i } else { (state >> 33) % 3000 };
            if state.is_multiple_of(5) {
                assert_eq!(m.remove(id(k)), model.remove(&k));
            } else {
                assert_eq!(m.insert(id(k), i), model.insert(k, i));
            }
        }
        assert_eq!(m.len(), model.len());
        let got: Vec<(u64, u64)> = m.iter().map(|(k, v)| (k.ms, *v)).collect();
        let want: Vec<(u64, u64)> = model.iter().map(|(k, v)| (*k, *v)).collect();
        assert_eq!(got, want);
        let from: Vec<u64> = m.iter_from(id(1500)).map(|(k, _)| k.ms).take(3).collect();
        let want: Vec<u64> = model.range(1500..).map(|(k, _)| *k).take(3).collect();
        assert_eq!(from, want);
        assert_eq!(m.first().map(|k| k.ms), model.keys().next().copied());
        assert_eq!(m.last().map(|k| k.ms), model.keys().next_back().copied());
    }

    #[test]
    fn deliveries_claims_and_acks() {
        let mut g = Group::new(StreamId::MIN, 0);
        let (alice, new) = g.create_consumer(b"alice", 1);
        assert!(new);
        let (bob, _) = g.create_consumer(b"bob", 1);
        assert_eq!(g.create_consumer(b"alice", 2), (alice, false));
        g.deliver(id(1), alice, 10);
        g.deliver(id(2), alice, 10);
        g.deliver(id(1), bob, 20);
        assert_eq!(g.consumer(alice).pel.len(), 1);
        assert_eq!(g.consumer(bob).pel.len(), 1);
        g.transfer(id(2), Some(alice), bob);
        assert_eq!(g.consumer(bob).pel.len(), 2);
        assert!(g.ack(id(1)));
        assert!(!g.ack(id(1)));
        assert_eq!(g.delete_consumer(b"bob"), Some(1));
        assert!(g.pel.is_empty());
        let names: Vec<&[u8]> = g.consumers().map(|c| &c.name[..]).collect();
        assert_eq!(names, [&b"alice"[..]]);
    }
}
