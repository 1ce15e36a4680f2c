//! Hierarchical timer wheel for key expiry (Varghese & Lauck; the layout tokio uses):
//! 6 levels of 64 slots, 1 ms resolution at level 0, each level 64 times coarser, with an
//! occupancy bitmap per level so the next deadline is found with a few bit operations.
//!
//! The wheel stores only `(deadline, key hash)`. It never owns or deletes keys: when a timer
//! fires, the keyspace checks the key's *current* deadline, so a timer left behind by an
//! overwrite, DEL, PERSIST or a new EXPIRE can never delete a live key (see `db.rs`).
//!
//! Work is bounded: [`TimerWheel::advance`] handles at most `budget` timers per call and
//! reports whether more are due, so a mass expiry is spread over several loop turns.

/// Slots per level.
const SLOTS: usize = 64;
/// Bits of the deadline consumed per level.
const BITS: u32 = 6;
/// Levels in the hierarchy: the wheel spans 64^6 ms (about 2.2 years).
const LEVELS: usize = 6;
/// Furthest a timer can be placed ahead of the wheel's clock; later deadlines are clamped
/// and the keyspace re-files them when they fire.
pub const MAX_SPAN: u64 = (1 << (BITS * LEVELS as u32)) - 1;

/// One scheduled check: at `deadline` (ms), look at the key whose hash is `hash`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timer {
    /// Milliseconds since the Unix epoch at which the timer fires.
    pub deadline: u64,
    /// The key's hash in its database's table.
    pub hash: u64,
}

/// Most timers per chunk of a slot. Slots grow by whole chunks, so filing a million timers
/// into one slot never copies more than one chunk (a growing `Vec` of a million timers
/// would copy megabytes in a single push and stall the loop).
const CHUNK: usize = 4096;

/// The timers of one slot, in chunks of at most [`CHUNK`].
type Chunks = Vec<Vec<Timer>>;

/// Appends a timer to a chunk list.
fn push_chunked(chunks: &mut Chunks, t: Timer) {
    match chunks.last_mut() {
        Some(c) if c.len() < CHUNK => c.push(t),
        _ => {
            // The first chunk of a slot starts small; later ones are full-sized at once.
            let cap = if chunks.is_empty() { 4 } else { CHUNK };
            let mut c = Vec::with_capacity(cap);
            c.push(t);
            chunks.push(c);
        }
    }
}

#[derive(Debug)]
struct Level {
    slots: Vec<Chunks>,
    /// Bit `i` set when `slots[i]` is non-empty.
    occupied: u64,
}

impl Level {
    fn new() -> Level {
        Level {
            slots: (0..SLOTS).map(|_| Vec::new()).collect(),
            occupied: 0,
        }
    }
}

/// The timer wheel of one database.
#[derive(Debug)]
pub struct TimerWheel {
    levels: Vec<Level>,
    /// The wheel's clock (ms). Every timer in a slot has `deadline > elapsed`.
    elapsed: u64,
    /// Chunks of timers taken out of a slot (or due on insert), not yet fired or re-filed.
    pending: Chunks,
    /// The chunk being worked through, and how far.
    current: Vec<Timer>,
    current_pos: usize,
    /// Timers in slots plus unhandled pending ones.
    len: usize,
}

impl TimerWheel {
    /// An empty wheel whose clock starts at `now` (ms).
    pub fn new(now: u64) -> TimerWheel {
        TimerWheel {
            levels: (0..LEVELS).map(|_| Level::new()).collect(),
            elapsed: now,
            pending: Vec::new(),
            current: Vec::new(),
            current_pos: 0,
            len: 0,
        }
    }

    /// Number of scheduled timers (including ones left behind by overwritten keys).
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when no timer is scheduled.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Removes every timer, releasing their memory.
    pub fn clear(&mut self) {
        let now = self.elapsed;
        *self = TimerWheel::new(now);
    }

    /// Schedules a check at `deadline`; returns the deadline actually used, which is
    /// clamped to [`MAX_SPAN`] ahead of the wheel's clock.
    pub fn insert(&mut self, deadline: u64, hash: u64) -> u64 {
        let deadline = deadline.min(self.elapsed.saturating_add(MAX_SPAN));
        self.len += 1;
        self.file(Timer { deadline, hash });
        deadline
    }

    /// Puts a timer in its slot, or in `pending` when it is already due.
    fn file(&mut self, t: Timer) {
        if t.deadline <= self.elapsed {
            push_chunked(&mut self.pending, t);
            return;
        }
        // The highest bit in which deadline and clock differ picks the level.
        let masked = (self.elapsed ^ t.deadline) | (SLOTS as u64 - 1);
        let significant = 63 - masked.leading_zeros();
        let level = ((significant / BITS) as usize).min(LEVELS - 1);
        let slot = ((t.deadline >> (BITS * level as u32)) as usize) & (SLOTS - 1);
        let lvl = &mut self.levels[level];
        push_chunked(&mut lvl.slots[slot], t);
        lvl.occupied |= 1 << slot;
    }

    /// The earliest occupied slot: `(level, slot, time at which it must be processed)`.
    fn next_slot(&self) -> Option<(usize, usize, u64)> {
        for (level, lvl) in self.levels.iter().enumerate() {
            if lvl.occupied == 0 {
                continue;
            }
            let slot_range = 1u64 << (BITS * level as u32);
            let level_range = slot_range << BITS;
            let now_slot = ((self.elapsed / slot_range) % SLOTS as u64) as u32;
            let slot =
                (lvl.occupied.rotate_right(now_slot).trailing_zeros() + now_slot) as usize % SLOTS;
            let level_start = self.elapsed & !(level_range - 1);
            let mut at = level_start + slot as u64 * slot_range;
            if at <= self.elapsed && level > 0 {
                // Only clamped far-future timers wrap around the top level.
                at += level_range;
            }
            return Some((level, slot, at.max(self.elapsed)));
        }
        None
    }

    /// Milliseconds until the next timer may fire (0 if some are due now), or `None` when
    /// the wheel is empty. The event loop uses it as its poll timeout.
    pub fn next_deadline(&self) -> Option<u64> {
        if self.has_pending() {
            return Some(self.elapsed);
        }
        self.next_slot().map(|(_, _, at)| at)
    }

    /// Advances the clock to `now`, calling `fire` for each due timer, handling at most
    /// `budget` timers (fired or re-filed). `fire` gets the wheel back so it can schedule
    /// the key again (a key whose deadline moved later). Returns true when due work remains.
    pub fn advance(
        &mut self,
        now: u64,
        budget: usize,
        mut fire: impl FnMut(Timer, &mut TimerWheel),
    ) -> bool {
        let mut work = 0;
        loop {
            while let Some(t) = self.next_pending() {
                work += 1;
                if t.deadline <= now {
                    self.len -= 1;
                    fire(t, self);
                } else {
                    // Cascading from a coarser slot into a finer one.
                    self.file(t);
                }
                if work >= budget {
                    return self.has_pending()
                        || self.next_slot().is_some_and(|(_, _, at)| at <= now);
                }
            }
            match self.next_slot() {
                Some((level, slot, at)) if at <= now => {
                    self.elapsed = at;
                    let lvl = &mut self.levels[level];
                    lvl.occupied &= !(1u64 << slot);
                    // The slot's chunks become the work list; each is freed once handled,
                    // so a mass expiry gives its memory back as it goes.
                    self.pending = std::mem::take(&mut lvl.slots[slot]);
                }
                _ => {
                    self.elapsed = self.elapsed.max(now);
                    self.current = Vec::new();
                    self.current_pos = 0;
                    return false;
                }
            }
        }
    }

    /// True when timers taken out of slots wait to be handled.
    fn has_pending(&self) -> bool {
        self.current_pos < self.current.len() || !self.pending.is_empty()
    }

    /// The next timer of the work list, releasing chunks as they are finished.
    fn next_pending(&mut self) -> Option<Timer> {
        loop {
            if let Some(&t) = self.current.get(self.current_pos) {
                self.current_pos += 1;
                return Some(t);
            }
            self.current = self.pending.pop()?;
            self.current_pos = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Advances to `now` with an unlimited budget, returning fired (deadline, hash) pairs.
    fn fire_all(w: &mut TimerWheel, now: u64) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        while w.advance(now, usize::MAX, |t, _| out.push((t.deadline, t.hash))) {}
        out
    }

    #[test]
    fn fires_each_timer_once_at_or_after_its_deadline() {
        let start = 1_700_000_000_000;
        let mut w = TimerWheel::new(start);
        // Deadlines spread over every level, including the same deadline twice.
        let deadlines: Vec<u64> = [1, 2, 63, 64, 65, 100, 4095, 4096, 5000, 300_000, 300_000]
            .iter()
            .chain(&[20_000_000, 1_500_000_000])
            .map(|d| start + d)
            .collect();
        for (i, &d) in deadlines.iter().enumerate() {
            w.insert(d, i as u64);
        }
        assert_eq!(w.len(), deadlines.len());
        let mut fired = Vec::new();
        // Step through time in irregular strides; nothing may fire early.
        let mut now = start;
        while fired.len() < deadlines.len() {
            now += 1 + (now % 977);
            for (d, h) in fire_all(&mut w, now) {
                assert!(d <= now, "fired early");
                assert_eq!(deadlines[h as usize], d);
                fired.push(h);
            }
            assert!(now < start + 2_000_000_000, "timers lost");
        }
        fired.sort();
        assert_eq!(fired, (0..deadlines.len() as u64).collect::<Vec<_>>());
        assert!(w.is_empty());
        assert_eq!(w.next_deadline(), None);
    }

    #[test]
    fn fires_within_a_millisecond_when_polled_every_millisecond() {
        let start = 5_000;
        let mut w = TimerWheel::new(start);
        for d in [start + 7, start + 130, start + 70_000] {
            w.insert(d, d);
        }
        for now in start..start + 80_000 {
            for (d, _) in fire_all(&mut w, now) {
                assert_eq!(d, now, "late or early");
            }
        }
        assert!(w.is_empty());
    }

    #[test]
    fn next_deadline_is_the_earliest() {
        let mut w = TimerWheel::new(1000);
        w.insert(1000 + 5000, 1);
        w.insert(1000 + 70, 2);
        let next = w.next_deadline().unwrap();
        assert!(next <= 1070 && next > 1000);
    }

    #[test]
    fn budget_spreads_a_mass_expiry() {
        let mut w = TimerWheel::new(0);
        for i in 0..10_000 {
            w.insert(100, i);
        }
        let mut n = 0;
        let mut turns = 0;
        loop {
            turns += 1;
            let more = w.advance(200, 1000, |_, _| n += 1);
            if !more {
                break;
            }
        }
        assert_eq!(n, 10_000);
        assert!(turns >= 10, "budget not honoured: {turns} turns");
    }

    #[test]
    fn refire_and_far_future_clamp() {
        let mut w = TimerWheel::new(0);
        let used = w.insert(u64::MAX, 9);
        assert_eq!(used, MAX_SPAN);
        // A fired timer can be re-filed for later.
        w.insert(10, 1);
        let mut seen = Vec::new();
        w.advance(10, usize::MAX, |t, w| {
            seen.push(t.deadline);
            if t.hash == 1 && t.deadline == 10 {
                assert_eq!(w.insert(20, 1), 20);
            }
        });
        assert_eq!(seen, vec![10]);
        assert_eq!(fire_all(&mut w, 20), vec![(20, 1)]);
        assert_eq!(fire_all(&mut w, MAX_SPAN), vec![(MAX_SPAN, 9)]);
    }

    #[test]
    fn insert_in_the_past_fires_on_next_advance() {
        let mut w = TimerWheel::new(1000);
        w.insert(10, 3);
        assert_eq!(w.next_deadline(), Some(1000));
        assert_eq!(fire_all(&mut w, 1000), vec![(10, 3)]);
    }
}
