//! The entries of a stream, stored as Redis stores them: an ordered map from a node's
//! master ID to a packed node of up to `stream-node-max-entries` entries.
//!
//! A node is one byte buffer. It starts with the master fields (the field names of the
//! entry that opened the node); each entry follows as
//!
//! ```text
//! flags  ms-delta  seq-delta  [field-count (field value)... | value...]
//! ```
//!
//! with the ID delta-encoded against the node's master ID (varints; the sequence delta
//! zigzag-encoded, as it is negative when the ms part grew) and the field names left out
//! when they are the master's (flag `SAME_FIELDS`), which is the common case of a stream
//! whose entries share a shape. Lengths are varints too, so a small entry costs a few bytes
//! over its values. Deleting marks the entry's flag; a node whose entries are all deleted
//! is dropped.
//!
//! Node boundaries are visible to clients (approximate trimming removes whole nodes,
//! XINFO reports the node count), so a node is closed exactly where Redis closes its
//! listpack: at `stream-node-max-entries` entries (deleted included) or when its
//! *listpack* size (computed alongside, see [`listpack`]) would pass
//! `stream-node-max-bytes`.

use std::collections::BTreeMap;

use super::id::{StreamId, listpack};

/// Entry flag: deleted (a tombstone, skipped by readers).
const DELETED: u8 = 1;
/// Entry flag: its field names are the node's master fields, and are not stored.
const SAME_FIELDS: u8 = 2;
/// Redis's cap on one entry's total size and on a node (STREAM_LISTPACK_MAX_SIZE).
pub const MAX_NODE_BYTES: u64 = 1 << 30;

/// Appends `v` as a LEB128 varint.
#[inline]
fn put_varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push(v as u8 | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

/// Reads a varint at `*pos`, advancing it.
#[inline]
fn get_varint(buf: &[u8], pos: &mut usize) -> u64 {
    let mut v = 0u64;
    let mut shift = 0;
    loop {
        let b = buf[*pos];
        *pos += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return v;
        }
        shift += 7;
    }
}

#[inline]
fn put_bytes(buf: &mut Vec<u8>, s: &[u8]) {
    put_varint(buf, s.len() as u64);
    buf.extend_from_slice(s);
}

#[inline]
fn get_bytes<'a>(buf: &'a [u8], pos: &mut usize) -> &'a [u8] {
    let len = get_varint(buf, pos) as usize;
    let s = &buf[*pos..*pos + len];
    *pos += len;
    s
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    (v >> 1) as i64 ^ -((v & 1) as i64)
}

/// One node: the master fields and a run of entries, packed.
#[derive(Debug, Clone)]
struct Node {
    buf: Vec<u8>,
    /// Where the first entry starts (after the master fields).
    entries_at: u32,
    /// Where the last entry starts (XREAD and XREADGROUP ask for the last live ID on every
    /// call; this makes the usual answer one decode instead of a pass over the node).
    last_at: u32,
    /// Entries not deleted.
    live: u32,
    /// Entries marked deleted.
    deleted: u32,
    /// Number of master fields.
    master_fields: u32,
    /// Redis's listpack size of this node, without its two counters (whose size varies
    /// with their values, see [`Node::listpack_bytes`]).
    lp_rest: u64,
}

impl Node {
    /// Appends entry `id` of this node (master ID `master`) with `flags`: the values only
    /// under SAME_FIELDS, otherwise the field count and the pairs; and counts its listpack
    /// size as Redis would (flags, the two ID deltas, the fields or values, lp-count). The
    /// caller counts it as live or deleted.
    fn push_entry(&mut self, master: StreamId, id: StreamId, pairs: &[&[u8]], flags: u8) {
        let numfields = pairs.len() / 2;
        let ms_delta = id.ms.wrapping_sub(master.ms);
        let seq_delta = id.seq.wrapping_sub(master.seq) as i64;
        let buf = &mut self.buf;
        self.last_at = buf.len() as u32;
        buf.push(flags);
        put_varint(buf, ms_delta);
        put_varint(buf, zigzag(seq_delta));
        let mut lp = listpack::int_size(i64::from(flags))
            + listpack::int_size(ms_delta as i64)
            + listpack::int_size(seq_delta);
        let mut lp_count = numfields as i64 + 3;
        if flags & SAME_FIELDS != 0 {
            for value in pairs.iter().skip(1).step_by(2) {
                put_bytes(buf, value);
                lp += listpack::str_size(value);
            }
        } else {
            put_varint(buf, numfields as u64);
            lp += listpack::int_size(numfields as i64);
            for item in pairs {
                put_bytes(buf, item);
                lp += listpack::str_size(item);
            }
            lp_count += numfields as i64 + 1;
        }
        lp += listpack::int_size(lp_count);
        self.lp_rest += lp;
    }

    /// Redis's `lpBytes` of the node's listpack.
    fn listpack_bytes(&self) -> u64 {
        self.lp_rest
            + listpack::int_size(i64::from(self.live))
            + listpack::int_size(i64::from(self.deleted))
    }

    /// The master field names, in order.
    fn master_fields(&self) -> impl Iterator<Item = &[u8]> {
        let mut pos = 0;
        let n = get_varint(&self.buf, &mut pos);
        let buf = &self.buf[..];
        (0..n).map(move |_| get_bytes(buf, &mut pos))
    }
}

/// An entry read from a node.
#[derive(Debug, Clone, Copy)]
pub struct EntryRef<'a> {
    /// Its ID.
    pub id: StreamId,
    node: &'a Node,
    flags: u8,
    /// Offset of the flags byte.
    at: usize,
    /// Offset of its field count (or first value, with SAME_FIELDS).
    fields_at: usize,
}

impl<'a> EntryRef<'a> {
    /// Number of field-value pairs.
    pub fn field_count(&self) -> usize {
        if self.flags & SAME_FIELDS != 0 {
            self.node.master_fields as usize
        } else {
            get_varint(&self.node.buf, &mut self.fields_at.clone()) as usize
        }
    }

    /// Its field-value pairs, in order.
    pub fn fields(&self) -> impl Iterator<Item = (&'a [u8], &'a [u8])> + 'a {
        let buf = &self.node.buf[..];
        let mut pos = self.fields_at;
        let same = self.flags & SAME_FIELDS != 0;
        let (n, mut master) = if same {
            (
                self.node.master_fields as u64,
                Some(self.node.master_fields()),
            )
        } else {
            (get_varint(buf, &mut pos), None)
        };
        (0..n).map(move |_| {
            let field = match master.as_mut() {
                Some(m) => m.next().unwrap_or_default(),
                None => get_bytes(buf, &mut pos),
            };
            (field, get_bytes(buf, &mut pos))
        })
    }

    fn is_deleted(&self) -> bool {
        self.flags & DELETED != 0
    }
}

/// Decodes the entry at `*pos` of `node` (master ID `master`), moving `*pos` past it.
fn decode_at<'a>(node: &'a Node, master: StreamId, pos: &mut usize) -> EntryRef<'a> {
    let buf = &node.buf;
    let at = *pos;
    let flags = buf[at];
    *pos += 1;
    let ms = master.ms.wrapping_add(get_varint(buf, pos));
    let seq = master
        .seq
        .wrapping_add(unzigzag(get_varint(buf, pos)) as u64);
    let fields_at = *pos;
    let pairs = if flags & SAME_FIELDS != 0 {
        node.master_fields as usize
    } else {
        let n = get_varint(buf, pos) as usize;
        for _ in 0..n {
            let len = get_varint(buf, pos) as usize;
            *pos += len;
        }
        n
    };
    for _ in 0..pairs {
        let len = get_varint(buf, pos) as usize;
        *pos += len;
    }
    EntryRef {
        id: StreamId::new(ms, seq),
        node,
        flags,
        at,
        fields_at,
    }
}

/// All entries of a node (tombstones included), in ID order.
fn node_entries(master: StreamId, node: &Node) -> impl Iterator<Item = EntryRef<'_>> {
    let mut pos = node.entries_at as usize;
    std::iter::from_fn(move || (pos < node.buf.len()).then(|| decode_at(node, master, &mut pos)))
}

/// Node size limits (`stream-node-max-bytes`, `stream-node-max-entries`; 0 = no limit).
#[derive(Debug, Clone, Copy)]
pub struct NodeLimits {
    /// Most listpack bytes per node.
    pub max_bytes: u64,
    /// Most entries (deleted included) per node.
    pub max_entries: u64,
}

impl Default for NodeLimits {
    fn default() -> NodeLimits {
        NodeLimits {
            max_bytes: 4096,
            max_entries: 100,
        }
    }
}

/// A trimming request (XTRIM, XADD's MAXLEN / MINID).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrimTo {
    /// Keep at most this many entries.
    MaxLen(u64),
    /// Remove entries with smaller IDs.
    MinId(StreamId),
}

/// The entries of a stream and the counters Redis keeps with them.
#[derive(Debug, Clone, Default)]
pub struct Log {
    nodes: BTreeMap<StreamId, Node>,
    /// Live entries.
    pub length: u64,
    /// The last ID ever added or set (XSETID); 0-0 for none.
    pub last_id: StreamId,
    /// The first live entry's ID (0-0 when empty).
    pub first_id: StreamId,
    /// The largest ID deleted by XDEL (0-0 for none).
    pub max_deleted_id: StreamId,
    /// Entries ever added.
    pub entries_added: u64,
}

impl Log {
    /// Number of nodes (XINFO's radix-tree-keys).
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// Appends an entry with ID `id` (greater than `last_id`; the caller checked) and the
    /// field-value pairs `pairs` (an even number of arguments).
    pub fn append(&mut self, id: StreamId, pairs: &[&[u8]], limits: NodeLimits) {
        let numfields = pairs.len() / 2;
        let values_len: u64 = pairs.iter().map(|a| a.len() as u64).sum();
        let max_bytes = match limits.max_bytes {
            0 => MAX_NODE_BYTES,
            b => b.min(MAX_NODE_BYTES),
        };
        let needs_new = match self.nodes.last_key_value() {
            None => true,
            Some((_, node)) => {
                node.listpack_bytes() + values_len >= max_bytes
                    || (limits.max_entries != 0
                        && u64::from(node.live + node.deleted) >= limits.max_entries)
            }
        };
        if needs_new {
            if let Some(mut last) = self.nodes.last_entry() {
                // A closed node never grows again: give back the spare capacity.
                last.get_mut().buf.shrink_to_fit();
            }
            let mut buf = Vec::with_capacity(64);
            put_varint(&mut buf, numfields as u64);
            let mut lp_rest =
                listpack::EMPTY + listpack::int_size(numfields as i64) + listpack::int_size(0);
            for field in pairs.iter().step_by(2) {
                put_bytes(&mut buf, field);
                lp_rest += listpack::str_size(field);
            }
            let node = Node {
                entries_at: buf.len() as u32,
                last_at: buf.len() as u32,
                buf,
                live: 0,
                deleted: 0,
                master_fields: numfields as u32,
                lp_rest,
            };
            self.nodes.insert(id, node);
        }
        let Some((&master, node)) = self.nodes.iter_mut().next_back() else {
            unreachable!("a node was just ensured");
        };
        let same = node.master_fields as usize == numfields
            && node
                .master_fields()
                .zip(pairs.iter().step_by(2))
                .all(|(m, f)| m == *f);
        node.push_entry(master, id, pairs, if same { SAME_FIELDS } else { 0 });
        node.live += 1;
        self.length += 1;
        self.entries_added += 1;
        self.last_id = id;
        if self.length == 1 {
            self.first_id = id;
        }
    }

    /// Live entries with IDs in `start..=end`, in ID order or (`rev`) reversed.
    pub fn range(
        &self,
        start: StreamId,
        end: StreamId,
        rev: bool,
    ) -> Box<dyn Iterator<Item = EntryRef<'_>> + '_> {
        if start > end {
            return Box::new(std::iter::empty());
        }
        // The node holding `start` is the last whose master ID is not above it.
        let first_key = self
            .nodes
            .range(..=start)
            .next_back()
            .map_or(start, |(k, _)| *k);
        let nodes = self.nodes.range(first_key..=end);
        let live = move |e: &EntryRef| !e.is_deleted() && e.id >= start && e.id <= end;
        if rev {
            Box::new(nodes.rev().flat_map(move |(&master, node)| {
                let all: Vec<EntryRef> = node_entries(master, node).collect();
                all.into_iter().rev().filter(live)
            }))
        } else {
            Box::new(
                nodes
                    .flat_map(|(&master, node)| node_entries(master, node))
                    .skip_while(move |e| e.id < start)
                    .take_while(move |e| e.id <= end)
                    .filter(live),
            )
        }
    }

    /// The live entry `id`, if present.
    pub fn get(&self, id: StreamId) -> Option<EntryRef<'_>> {
        self.range(id, id, false).next()
    }

    /// The last live entry's ID (Redis's streamLastValidID), if any.
    pub fn last_live_id(&self) -> Option<StreamId> {
        let (&master, node) = self.nodes.last_key_value()?;
        if node.buf.len() > node.entries_at as usize {
            let last = decode_at(node, master, &mut (node.last_at as usize));
            if !last.is_deleted() {
                return Some(last.id);
            }
        }
        self.range(StreamId::MIN, StreamId::MAX, true)
            .next()
            .map(|e| e.id)
    }

    fn refresh_first_id(&mut self) {
        self.first_id = match self.length {
            0 => StreamId::MIN,
            _ => self
                .range(StreamId::MIN, StreamId::MAX, false)
                .next()
                .map_or(StreamId::MIN, |e| e.id),
        };
    }

    /// Deletes the live entry `id` (XDEL). Returns false when there is none.
    pub fn delete(&mut self, id: StreamId) -> bool {
        let Some((&master, node)) = self.nodes.range_mut(..=id).next_back() else {
            return false;
        };
        let Some(at) = node_entries(master, node)
            .find(|e| e.id == id)
            .filter(|e| !e.is_deleted())
            .map(|e| e.at)
        else {
            return false;
        };
        if node.live == 1 {
            self.nodes.remove(&master);
        } else {
            node.buf[at] |= DELETED;
            node.live -= 1;
            node.deleted += 1;
        }
        self.length -= 1;
        if id > self.max_deleted_id {
            self.max_deleted_id = id;
        }
        if id == self.first_id || self.length == 0 {
            self.refresh_first_id();
        }
        true
    }

    /// Trims from the head as Redis's streamTrim: whole nodes while they fit the request,
    /// then (unless `approx`) entries of the next node are marked deleted. `limit` (0 =
    /// none) caps the entries removed, counted in whole nodes. Returns the number removed.
    pub fn trim(&mut self, to: TrimTo, approx: bool, limit: u64) -> u64 {
        let mut removed = 0u64;
        while let Some(mut first) = self.nodes.first_entry() {
            if let TrimTo::MaxLen(max) = to
                && self.length <= max
            {
                break;
            }
            let master = *first.key();
            let node = first.get_mut();
            let entries = u64::from(node.live);
            if limit != 0 && removed + entries > limit {
                break;
            }
            let whole = match to {
                TrimTo::MaxLen(max) => self.length - entries >= max,
                TrimTo::MinId(min) => node_entries(master, node)
                    .last()
                    .is_some_and(|e| e.id < min),
            };
            if whole {
                first.remove();
                self.length -= entries;
                removed += entries;
                continue;
            }
            if approx {
                break;
            }
            let mut marked = Vec::new();
            for e in node_entries(master, node) {
                let stop = match to {
                    TrimTo::MaxLen(max) => self.length - marked.len() as u64 <= max,
                    TrimTo::MinId(min) => e.id >= min,
                };
                if stop {
                    break;
                }
                if !e.is_deleted() {
                    marked.push(e.at);
                }
            }
            for &at in &marked {
                node.buf[at] |= DELETED;
            }
            let n = marked.len() as u32;
            node.live -= n;
            node.deleted += n;
            self.length -= u64::from(n);
            removed += u64::from(n);
            // Redis keeps such a node even when nothing live is left in it.
            break;
        }
        if removed > 0 || self.length == 0 {
            self.refresh_first_id();
        }
        removed
    }

    /// The first entry's ID, tombstones included, or the largest ID when there is none
    /// (Redis's streamGetEdgeID without skipping tombstones).
    pub fn first_id_with_tombstones(&self) -> StreamId {
        self.nodes
            .iter()
            .find_map(|(&m, n)| node_entries(m, n).next().map(|e| e.id))
            .unwrap_or(StreamId::MAX)
    }

    /// Heap bytes used (MEMORY USAGE, INFO).
    pub fn heap_size(&self) -> usize {
        self.nodes
            .values()
            .map(|n| n.buf.capacity() + std::mem::size_of::<Node>() + 16)
            .sum()
    }

    /// Loading a snapshot: opens a node keyed by `master` whose master field names are
    /// `fields`, as the snapshot's node was (its entries follow with
    /// [`Log::load_entry`]). The loader checks that IDs ascend across nodes.
    pub fn load_node(&mut self, master: StreamId, fields: &[&[u8]]) {
        if let Some(mut last) = self.nodes.last_entry() {
            last.get_mut().buf.shrink_to_fit();
        }
        let mut buf = Vec::new();
        put_varint(&mut buf, fields.len() as u64);
        let mut lp_rest =
            listpack::EMPTY + listpack::int_size(fields.len() as i64) + listpack::int_size(0);
        for field in fields {
            put_bytes(&mut buf, field);
            lp_rest += listpack::str_size(field);
        }
        let node = Node {
            entries_at: buf.len() as u32,
            last_at: buf.len() as u32,
            buf,
            live: 0,
            deleted: 0,
            master_fields: fields.len() as u32,
            lp_rest,
        };
        self.nodes.insert(master, node);
    }

    /// Loading a snapshot: appends entry `id` (above every ID in the log; the loader checks)
    /// with the field-value `pairs` to the last node, as a tombstone when `deleted`.
    /// `same_fields` keeps the snapshot's choice of storing it with the node's master
    /// fields (then `pairs`' fields are those). A live entry counts in `length`; the other
    /// counters are the loader's to set. False when there is no node yet.
    pub fn load_entry(
        &mut self,
        id: StreamId,
        pairs: &[&[u8]],
        same_fields: bool,
        deleted: bool,
    ) -> bool {
        let Some((&master, node)) = self.nodes.iter_mut().next_back() else {
            return false;
        };
        let flags = if same_fields { SAME_FIELDS } else { 0 } | if deleted { DELETED } else { 0 };
        node.push_entry(master, id, pairs, flags);
        if deleted {
            node.deleted += 1;
        } else {
            node.live += 1;
            self.length += 1;
        }
        true
    }
}

/// A node as the RDB writer sees it: Redis saves a stream as its listpacks, one per node,
/// so the writer rebuilds each node's listpack from these parts.
#[derive(Debug, Clone, Copy)]
pub struct NodeView<'a> {
    /// The node's master ID (its first entry's ID, as when the node was opened).
    pub master: StreamId,
    node: &'a Node,
}

impl<'a> NodeView<'a> {
    /// Entries not deleted.
    pub fn live(&self) -> u64 {
        u64::from(self.node.live)
    }

    /// Entries marked deleted.
    pub fn deleted(&self) -> u64 {
        u64::from(self.node.deleted)
    }

    /// The master field names.
    pub fn master_fields(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.node.master_fields()
    }

    /// Every entry, tombstones included, in ID order.
    pub fn entries(&self) -> impl Iterator<Item = EntryRef<'a>> + 'a {
        node_entries(self.master, self.node)
    }
}

impl EntryRef<'_> {
    /// True for a deleted entry (a tombstone kept in its node).
    pub fn is_tombstone(&self) -> bool {
        self.is_deleted()
    }

    /// True when the entry's field names are its node's master fields (and are not stored
    /// with it): Redis's SAMEFIELDS flag.
    pub fn has_master_fields(&self) -> bool {
        self.flags & SAME_FIELDS != 0
    }
}

impl Log {
    /// The nodes in ID order.
    pub fn nodes(&self) -> impl Iterator<Item = NodeView<'_>> {
        self.nodes
            .iter()
            .map(|(&master, node)| NodeView { master, node })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn add(log: &mut Log, ms: u64, pairs: &[&str]) {
        let id = StreamId::new(ms, 0);
        let pairs: Vec<&[u8]> = pairs.iter().map(|s| s.as_bytes()).collect();
        log.append(id, &pairs, NodeLimits::default());
    }

    fn ids(log: &Log, rev: bool) -> Vec<u64> {
        log.range(StreamId::MIN, StreamId::MAX, rev)
            .map(|e| e.id.ms)
            .collect()
    }

    #[test]
    fn append_read_and_delete() {
        let mut log = Log::default();
        for ms in 1..=250u64 {
            if ms.is_multiple_of(3) {
                add(&mut log, ms, &["other", "x", "more", "y"]);
            } else {
                add(&mut log, ms, &["a", "1", "b", &ms.to_string()]);
            }
        }
        assert_eq!(log.node_count(), 3);
        assert_eq!(ids(&log, false), (1..=250).collect::<Vec<_>>());
        assert_eq!(ids(&log, true), (1..=250).rev().collect::<Vec<_>>());
        let e = log.get(StreamId::new(7, 0)).unwrap();
        let fields: Vec<(&[u8], &[u8])> = e.fields().collect();
        assert_eq!(fields, [(&b"a"[..], &b"1"[..]), (b"b", b"7")]);
        let e = log.get(StreamId::new(9, 0)).unwrap();
        assert_eq!(e.field_count(), 2);
        assert_eq!(e.fields().next(), Some((&b"other"[..], &b"x"[..])));
        assert_eq!(log.last_live_id(), Some(StreamId::new(250, 0)));
        assert!(log.delete(StreamId::new(250, 0)));
        assert_eq!(log.last_live_id(), Some(StreamId::new(249, 0)));
        assert!(log.delete(StreamId::new(1, 0)));
        assert!(!log.delete(StreamId::new(1, 0)));
        assert_eq!(log.first_id, StreamId::new(2, 0));
        assert_eq!(log.length, 248);
        let some: Vec<u64> = log
            .range(StreamId::new(99, 0), StreamId::new(102, 0), true)
            .map(|e| e.id.ms)
            .collect();
        assert_eq!(some, [102, 101, 100, 99]);
    }

    #[test]
    fn trims_like_redis() {
        let mut log = Log::default();
        for ms in 1..=250 {
            add(&mut log, ms, &["f", "v"]);
        }
        // Approximate: only whole nodes of 100 go.
        assert_eq!(log.trim(TrimTo::MaxLen(120), true, 0), 100);
        assert_eq!(log.length, 150);
        assert_eq!(log.trim(TrimTo::MaxLen(120), false, 0), 30);
        assert_eq!(log.first_id, StreamId::new(131, 0));
        assert_eq!(log.trim(TrimTo::MinId(StreamId::new(200, 0)), false, 0), 69);
        assert_eq!(log.first_id, StreamId::new(200, 0));
        assert_eq!(log.trim(TrimTo::MaxLen(0), false, 0), 51);
        assert_eq!(log.length, 0);
        assert_eq!(log.node_count(), 0);
    }
}
