//! Loading RDB data: one value (a DUMP payload's body, or a key's value in a file; Redis's
//! `rdbLoadObject`) and whole files (`rdbLoadRioWithLoadingCtx`), for RESTORE and for
//! loading a snapshot at startup.
//!
//! Values are rebuilt through the store's own constructors with the server's encoding
//! limits, so a loaded key is held exactly as if its commands had been replayed: a packed
//! hash of 1,000 fields from a file written under bigger limits becomes a table here, as
//! Redis converts it. Lists are re-split into nodes by our own rule; stream nodes keep the
//! file's boundaries (clients see them: XINFO's radix-tree-keys, approximate trimming).
//!
//! The input is untrusted (a RESTORE payload is any bytes a client sends; checksums only
//! catch accidents). Every length is checked against the bytes left before anything is
//! allocated for it, loops consume input on every turn, nothing recurses, and every packed
//! structure is checked whole (Redis's "deep sanitization", which Redis itself only does
//! when configured to) because a malformed one must be refused, not crash a later command.
//! The checks that make Redis answer "Bad data format" are mirrored: duplicate hash fields,
//! set or sorted set members, NaN scores, packed headers that disagree with their contents,
//! stream IDs out of order, pending entries with no owner or owned by no group entry.

use std::collections::BTreeMap;
use std::fmt;

use super::crc64;
use super::intset::intset_members;
use super::listpack::{Entry, ListpackIter};
use super::rdb::{self, Reader};
pub use super::rdb::{
    OPCODE_AUX, OPCODE_EOF, OPCODE_EXPIRETIME, OPCODE_EXPIRETIME_MS, OPCODE_FREQ, OPCODE_IDLE,
    OPCODE_MODULE_AUX, OPCODE_RESIZEDB, OPCODE_SELECTDB, TYPE_HASH, TYPE_HASH_LISTPACK,
    TYPE_HASH_ZIPLIST, TYPE_HASH_ZIPMAP, TYPE_LIST, TYPE_LIST_QUICKLIST, TYPE_LIST_QUICKLIST_2,
    TYPE_LIST_ZIPLIST, TYPE_MODULE, TYPE_MODULE_2, TYPE_SET, TYPE_SET_INTSET,
    TYPE_STREAM_LISTPACKS, TYPE_STREAM_LISTPACKS_2, TYPE_STRING, TYPE_ZSET, TYPE_ZSET_2,
    TYPE_ZSET_LISTPACK, TYPE_ZSET_ZIPLIST,
};
use super::ziplist::{ZiplistIter, zipmap_pairs};
use crate::store::set::Member;
use crate::store::stream::group::Nack;
use crate::store::stream::log::Log;
use crate::store::stream::{ENTRIES_READ_UNKNOWN, Group, Stream, StreamId};
use crate::store::zset::{AddFlags, AddOutcome};
use crate::store::{Hash, Limits, List, Set, Str, Value, ZSet};

/// Quicklist node containers (quicklist.h): one big element, or a packed node.
const CONTAINER_PLAIN: u64 = 1;
const CONTAINER_PACKED: u64 = 2;

/// Stream entry flags (stream.h).
const STREAM_DELETED: i64 = 1;
const STREAM_SAME_FIELDS: i64 = 2;

/// Largest stream node accepted (1.5 GiB): our copy of a node takes up to about 2.1 times
/// its listpack's bytes (a 64-bit integer value: 10 bytes there, 21 as text here) and node
/// offsets are 32-bit. Redis closes a node once it passes 1 GiB.
const MAX_STREAM_NODE: usize = 3 << 29;

/// Why a value or a file could not be loaded.
#[derive(Debug)]
pub enum LoadError {
    /// The value decoded to an empty collection (Redis skips such keys when loading a
    /// file, and RESTORE refuses them with "Bad data format").
    EmptyKey,
    /// Anything malformed: the message says what (for the log when a file is refused).
    Corrupt(String),
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::EmptyKey => f.write_str("empty key"),
            LoadError::Corrupt(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for LoadError {}

fn corrupt(msg: impl Into<String>) -> LoadError {
    LoadError::Corrupt(msg.into())
}

fn read_len(r: &mut Reader, what: &str) -> Result<u64, LoadError> {
    r.length()
        .ok_or_else(|| corrupt(format!("short read or bad length reading {what}")))
}

fn read_string(r: &mut Reader, what: &str) -> Result<Vec<u8>, LoadError> {
    r.string()
        .ok_or_else(|| corrupt(format!("short read or bad string reading {what}")))
}

/// Reads one value of RDB object type `ty` (the type byte already read) from `r`.
pub fn load_object(r: &mut Reader, ty: u8, limits: &Limits) -> Result<Value, LoadError> {
    match ty {
        TYPE_STRING => Ok(Value::Str(Str::from_bytes(&read_string(r, "a string")?))),
        TYPE_LIST => {
            let n = read_len(r, "a list's length")?;
            if n == 0 {
                return Err(LoadError::EmptyKey);
            }
            let mut list = List::new();
            for _ in 0..n {
                list.push(&read_string(r, "a list element")?, false, limits.list_fill);
            }
            Ok(Value::List(list))
        }
        TYPE_SET => {
            let n = read_len(r, "a set's length")?;
            if n == 0 {
                return Err(LoadError::EmptyKey);
            }
            let mut set = Set::new();
            for _ in 0..n {
                let member = read_string(r, "a set member")?;
                if !set.insert(&member, limits.set_intset_entries) {
                    return Err(corrupt("Duplicate set members detected"));
                }
            }
            Ok(Value::Set(set))
        }
        TYPE_ZSET | TYPE_ZSET_2 => {
            let n = read_len(r, "a sorted set's length")?;
            if n == 0 {
                return Err(LoadError::EmptyKey);
            }
            let mut zset = ZSet::new();
            for _ in 0..n {
                let member = read_string(r, "a sorted set member")?;
                let score = if ty == TYPE_ZSET_2 {
                    r.binary_double()
                } else {
                    r.text_double()
                }
                .ok_or_else(|| corrupt("short read or bad double reading a score"))?;
                zset_add(&mut zset, &member, score, limits)?;
            }
            Ok(Value::ZSet(zset))
        }
        TYPE_HASH => {
            let n = read_len(r, "a hash's length")?;
            if n == 0 {
                return Err(LoadError::EmptyKey);
            }
            let mut hash = Hash::new();
            for _ in 0..n {
                let field = read_string(r, "a hash field")?;
                let value = read_string(r, "a hash value")?;
                if !hash.insert(&field, &value, limits) {
                    return Err(corrupt("Duplicate hash fields detected"));
                }
            }
            Ok(Value::Hash(hash))
        }
        TYPE_HASH_ZIPMAP => {
            let blob = read_string(r, "a zipmap")?;
            let pairs = zipmap_pairs(&blob).map_err(|e| corrupt(format!("Zipmap: {e}")))?;
            let mut hash = Hash::new();
            for (field, value) in pairs {
                if !hash.insert(field, value, limits) {
                    return Err(corrupt("Hash zipmap with dup elements"));
                }
            }
            Ok(Value::Hash(hash))
        }
        TYPE_LIST_ZIPLIST => {
            let blob = read_string(r, "a ziplist")?;
            let it = ZiplistIter::new(&blob).map_err(|e| corrupt(format!("List ziplist: {e}")))?;
            let mut list = List::new();
            push_all(&mut list, it, limits.list_fill);
            if list.is_empty() {
                return Err(LoadError::EmptyKey);
            }
            Ok(Value::List(list))
        }
        TYPE_SET_INTSET => {
            let blob = read_string(r, "an intset")?;
            let members = intset_members(&blob).map_err(|e| corrupt(format!("Intset: {e}")))?;
            let mut set = Set::new();
            for m in members {
                set.insert_member(Member::Int(m), limits.set_intset_entries);
            }
            Ok(Value::Set(set))
        }
        TYPE_ZSET_ZIPLIST => {
            let blob = read_string(r, "a ziplist")?;
            let it = ZiplistIter::new(&blob).map_err(|e| corrupt(format!("Zset ziplist: {e}")))?;
            zset_from_pairs(it, limits)
        }
        TYPE_ZSET_LISTPACK => {
            let blob = read_string(r, "a listpack")?;
            let it =
                ListpackIter::new(&blob).map_err(|e| corrupt(format!("Zset listpack: {e}")))?;
            zset_from_pairs(it, limits)
        }
        TYPE_HASH_ZIPLIST => {
            let blob = read_string(r, "a ziplist")?;
            let it = ZiplistIter::new(&blob).map_err(|e| corrupt(format!("Hash ziplist: {e}")))?;
            hash_from_pairs(it, limits)
        }
        TYPE_HASH_LISTPACK => {
            let blob = read_string(r, "a listpack")?;
            let it =
                ListpackIter::new(&blob).map_err(|e| corrupt(format!("Hash listpack: {e}")))?;
            hash_from_pairs(it, limits)
        }
        TYPE_LIST_QUICKLIST | TYPE_LIST_QUICKLIST_2 => load_quicklist(r, ty, limits),
        TYPE_STREAM_LISTPACKS | TYPE_STREAM_LISTPACKS_2 => {
            load_stream(r, ty == TYPE_STREAM_LISTPACKS_2).map(|s| Value::Stream(Box::new(s)))
        }
        TYPE_MODULE | TYPE_MODULE_2 => Err(corrupt(
            "The RDB holds a module value: module types are not supported",
        )),
        _ => Err(corrupt(format!("Unknown RDB encoding type {ty}"))),
    }
}

/// Adds a member read from a file: a NaN score or a member seen before is corrupt.
fn zset_add(zset: &mut ZSet, member: &[u8], score: f64, limits: &Limits) -> Result<(), LoadError> {
    if score.is_nan() {
        return Err(corrupt("Zset with NAN score detected"));
    }
    let nx = AddFlags {
        nx: true,
        ..AddFlags::default()
    };
    match zset.add_with(member, score, nx, limits) {
        AddOutcome::Added(_) => Ok(()),
        _ => Err(corrupt("Duplicate zset fields detected")),
    }
}

fn push_all<'a>(list: &mut List, entries: impl Iterator<Item = Entry<'a>>, fill: i64) {
    for e in entries {
        e.with_bytes(|b| list.push(b, false, fill));
    }
}

/// A hash from a packed run of field, value, field, value...
fn hash_from_pairs<'a>(
    mut it: impl ExactSizeIterator<Item = Entry<'a>>,
    limits: &Limits,
) -> Result<Value, LoadError> {
    if !it.len().is_multiple_of(2) {
        return Err(corrupt("Hash packed with an odd number of entries"));
    }
    if it.len() == 0 {
        return Err(LoadError::EmptyKey);
    }
    let mut hash = Hash::new();
    while let (Some(field), Some(value)) = (it.next(), it.next()) {
        if !field.with_bytes(|f| value.with_bytes(|v| hash.insert(f, v, limits))) {
            return Err(corrupt("Hash with dup elements"));
        }
    }
    Ok(Value::Hash(hash))
}

/// A score stored in a packed sorted set: an integer, or a double's text.
fn packed_score(e: Entry) -> Result<f64, LoadError> {
    match e {
        Entry::Int(v) => Ok(v as f64),
        Entry::Str(s) => {
            crate::util::parse_f64(s).ok_or_else(|| corrupt("Zset packed with a bad score"))
        }
    }
}

/// A sorted set from a packed run of member, score, member, score...
fn zset_from_pairs<'a>(
    mut it: impl ExactSizeIterator<Item = Entry<'a>>,
    limits: &Limits,
) -> Result<Value, LoadError> {
    if !it.len().is_multiple_of(2) {
        return Err(corrupt("Zset packed with an odd number of entries"));
    }
    if it.len() == 0 {
        return Err(LoadError::EmptyKey);
    }
    let mut zset = ZSet::new();
    while let (Some(member), Some(score)) = (it.next(), it.next()) {
        let score = packed_score(score)?;
        member.with_bytes(|m| zset_add(&mut zset, m, score, limits))?;
    }
    Ok(Value::ZSet(zset))
}

/// A quicklist: nodes that are ziplists (type 14) or, in type 18, a container kind then
/// a listpack or one plain element. Empty packed nodes are skipped, as Redis does.
fn load_quicklist(r: &mut Reader, ty: u8, limits: &Limits) -> Result<Value, LoadError> {
    let nodes = read_len(r, "a quicklist's node count")?;
    if nodes == 0 {
        return Err(LoadError::EmptyKey);
    }
    let mut list = List::new();
    for _ in 0..nodes {
        let container = if ty == TYPE_LIST_QUICKLIST_2 {
            read_len(r, "a quicklist node's container")?
        } else {
            CONTAINER_PACKED
        };
        if container != CONTAINER_PACKED && container != CONTAINER_PLAIN {
            return Err(corrupt("Quicklist integrity check failed."));
        }
        let data = read_string(r, "a quicklist node")?;
        if data.is_empty() {
            return Err(corrupt("Quicklist node is empty"));
        }
        if container == CONTAINER_PLAIN {
            list.push(&data, false, limits.list_fill);
        } else if ty == TYPE_LIST_QUICKLIST_2 {
            let it = ListpackIter::new(&data)
                .map_err(|e| corrupt(format!("Listpack integrity: {e}")))?;
            push_all(&mut list, it, limits.list_fill);
        } else {
            let it =
                ZiplistIter::new(&data).map_err(|e| corrupt(format!("Ziplist integrity: {e}")))?;
            push_all(&mut list, it, limits.list_fill);
        }
    }
    if list.is_empty() {
        return Err(LoadError::EmptyKey);
    }
    Ok(Value::List(list))
}

/// A stream ID as 16 big-endian bytes (node keys, PEL entries).
fn id_from_be(b: &[u8]) -> Option<StreamId> {
    let b: &[u8; 16] = b.try_into().ok()?;
    let (ms, seq) = b.split_at(8);
    Some(StreamId::new(
        u64::from_be_bytes(ms.try_into().ok()?),
        u64::from_be_bytes(seq.try_into().ok()?),
    ))
}

fn read_raw_id(r: &mut Reader, what: &str) -> Result<StreamId, LoadError> {
    r.take(16)
        .and_then(id_from_be)
        .ok_or_else(|| corrupt(format!("short read reading {what}")))
}

/// A stream ID as two lengths (last ID, first ID, group IDs).
fn read_len_id(r: &mut Reader, what: &str) -> Result<StreamId, LoadError> {
    let ms = read_len(r, what)?;
    let seq = read_len(r, what)?;
    Ok(StreamId::new(ms, seq))
}

fn read_time(r: &mut Reader, what: &str) -> Result<u64, LoadError> {
    r.le_i64()
        .map(|t| t as u64)
        .ok_or_else(|| corrupt(format!("short read reading {what}")))
}

/// Where the stream loader is: the last entry ID seen (across nodes) and the first live.
#[derive(Default)]
struct StreamCursor {
    last: Option<StreamId>,
    first_live: Option<StreamId>,
}

/// The next listpack entry of a stream node as an integer.
fn node_int(it: &mut ListpackIter, what: &str) -> Result<i64, LoadError> {
    it.next().and_then(|e| e.as_int()).ok_or_else(|| {
        corrupt(format!(
            "Stream listpack integrity: {what} missing or not a number"
        ))
    })
}

/// A count from a stream node: not negative and not more than the entries left.
fn node_count(it: &mut ListpackIter, what: &str, per: usize) -> Result<usize, LoadError> {
    let n = node_int(it, what)?;
    usize::try_from(n)
        .ok()
        .filter(|&n| n.saturating_mul(per) <= it.len())
        .ok_or_else(|| corrupt(format!("Stream listpack integrity: bad {what} {n}")))
}

/// Reads one stream node (a listpack, Redis's t_stream.c layout) keyed by `master` into
/// `log`: counters, master fields, then each entry's flags, ID deltas, fields or values
/// and its entry count. Checks what streamValidateListpackIntegrity checks, plus that
/// IDs ascend and the counters match the entries.
fn load_stream_node(
    log: &mut Log,
    master: StreamId,
    lp: &[u8],
    cur: &mut StreamCursor,
) -> Result<(), LoadError> {
    if lp.len() > MAX_STREAM_NODE {
        return Err(corrupt("Stream node too large"));
    }
    if cur.last.is_some_and(|last| master <= last) {
        return Err(corrupt("Stream node keys out of order"));
    }
    let mut it =
        ListpackIter::new(lp).map_err(|e| corrupt(format!("Stream listpack integrity: {e}")))?;
    if it.len() == 0 {
        return Err(corrupt("Empty listpack inside stream"));
    }
    let live = node_count(&mut it, "entry count", 1)?;
    let deleted = node_count(&mut it, "deleted count", 1)?;
    let nfields = node_count(&mut it, "master field count", 1)?;
    let mut master_fields = Vec::with_capacity(nfields);
    for _ in 0..nfields {
        master_fields.push(it.next().map(|e| e.to_vec()).unwrap_or_default());
    }
    if node_int(&mut it, "master terminator")? != 0 {
        return Err(corrupt("Stream listpack integrity: bad master terminator"));
    }
    let field_refs: Vec<&[u8]> = master_fields.iter().map(Vec::as_slice).collect();
    log.load_node(master, &field_refs);
    let total = live + deleted;
    if total == 0 {
        return Err(corrupt("Stream node without entries"));
    }
    let (mut seen_live, mut seen_deleted) = (0usize, 0usize);
    for _ in 0..total {
        let flags = node_int(&mut it, "entry flags")?;
        if flags & !(STREAM_DELETED | STREAM_SAME_FIELDS) != 0 {
            return Err(corrupt("Stream entry with unknown flags"));
        }
        let ms = node_int(&mut it, "entry ID")?;
        let seq = node_int(&mut it, "entry ID")?;
        let id = StreamId::new(
            master.ms.wrapping_add(ms as u64),
            master.seq.wrapping_add(seq as u64),
        );
        if id < master || cur.last.is_some_and(|last| id <= last) {
            return Err(corrupt("Stream entry IDs out of order"));
        }
        let same = flags & STREAM_SAME_FIELDS != 0;
        let n = if same {
            if nfields > it.len() {
                return Err(corrupt(
                    "Stream listpack integrity: entry runs past the end",
                ));
            }
            nfields
        } else {
            node_count(&mut it, "field count", 2)?
        };
        let items: Vec<Vec<u8>> = (0..if same { n } else { 2 * n })
            .map(|_| it.next().map(|e| e.to_vec()).unwrap_or_default())
            .collect();
        let pairs: Vec<&[u8]> = if same {
            field_refs
                .iter()
                .zip(&items)
                .flat_map(|(f, v)| [*f, v.as_slice()])
                .collect()
        } else {
            items.iter().map(Vec::as_slice).collect()
        };
        let expect = n as i64 + 3 + if same { 0 } else { n as i64 + 1 };
        if node_int(&mut it, "entry count")? != expect {
            return Err(corrupt("Stream listpack integrity: bad entry count"));
        }
        let is_deleted = flags & STREAM_DELETED != 0;
        log.load_entry(id, &pairs, same, is_deleted);
        if is_deleted {
            seen_deleted += 1;
        } else {
            seen_live += 1;
            cur.first_live.get_or_insert(id);
        }
        cur.last = Some(id);
    }
    if it.next().is_some() {
        return Err(corrupt("Stream listpack integrity: entries after the last"));
    }
    if seen_live != live || seen_deleted != deleted {
        return Err(corrupt("Stream node counters disagree with its entries"));
    }
    Ok(())
}

/// A stream (types 15 and 19): nodes, counters, then consumer groups with their pending
/// entries lists and consumers.
fn load_stream(r: &mut Reader, v2: bool) -> Result<Stream, LoadError> {
    let mut stream = Stream::default();
    let mut cur = StreamCursor::default();
    let nodes = read_len(r, "a stream's node count")?;
    for _ in 0..nodes {
        let key = read_string(r, "a stream node key")?;
        let master = id_from_be(&key)
            .ok_or_else(|| corrupt("Stream node key entry is not the size of a stream ID"))?;
        let lp = read_string(r, "a stream node")?;
        load_stream_node(&mut stream.log, master, &lp, &mut cur)?;
    }
    let length = read_len(r, "a stream's length")?;
    let last_id = read_len_id(r, "a stream's last ID")?;
    let (first_id, max_deleted_id, entries_added) = if v2 {
        (
            read_len_id(r, "a stream's first ID")?,
            read_len_id(r, "a stream's max deleted ID")?,
            read_len(r, "a stream's entries added")?,
        )
    } else {
        // As Redis migrates an older stream: counted from its length, first ID found.
        (
            cur.first_live.unwrap_or(StreamId::MAX),
            StreamId::MIN,
            length,
        )
    };
    if length != stream.log.length {
        return Err(corrupt("Stream length inconsistent with its entries"));
    }
    if cur.last.is_some_and(|last| last > last_id) {
        return Err(corrupt("Stream last ID below its entries"));
    }
    if entries_added < length || entries_added > i64::MAX as u64 {
        return Err(corrupt("Stream entries-added inconsistent with its length"));
    }
    let log = &mut stream.log;
    log.last_id = last_id;
    log.first_id = first_id;
    log.max_deleted_id = max_deleted_id;
    log.entries_added = entries_added;

    let groups = read_len(r, "a stream's group count")?;
    for _ in 0..groups {
        let name = read_string(r, "a consumer group name")?;
        let last = read_len_id(r, "a consumer group's last ID")?;
        let entries_read = if v2 {
            let v = read_len(r, "a consumer group's entries read")? as i64;
            if v < ENTRIES_READ_UNKNOWN {
                return Err(corrupt("Stream consumer group with bad entries-read"));
            }
            v
        } else {
            stream
                .log
                .entries_before(last)
                .map_or(ENTRIES_READ_UNKNOWN, |n| n as i64)
        };
        let mut group = Group::new(last, entries_read);
        // The group's pending entries come first; their owners with the consumers.
        let mut pending: BTreeMap<StreamId, (u64, u64, bool)> = BTreeMap::new();
        let pel = read_len(r, "a consumer group's PEL size")?;
        for _ in 0..pel {
            let id = read_raw_id(r, "a PEL entry's ID")?;
            let time = read_time(r, "a PEL entry's delivery time")?;
            let count = read_len(r, "a PEL entry's delivery count")?;
            if pending.insert(id, (time, count, false)).is_some() {
                return Err(corrupt(
                    "Duplicated global PEL entry loading stream consumer group",
                ));
            }
        }
        let consumers = read_len(r, "a consumer group's consumer count")?;
        for _ in 0..consumers {
            let cname = read_string(r, "a consumer name")?;
            let seen = read_time(r, "a consumer's seen time")?;
            let slot = group
                .load_consumer(&cname, seen)
                .ok_or_else(|| corrupt("Duplicate stream consumer detected."))?;
            let owned = read_len(r, "a consumer's PEL size")?;
            for _ in 0..owned {
                let id = read_raw_id(r, "a consumer PEL entry's ID")?;
                let entry = pending
                    .get_mut(&id)
                    .ok_or_else(|| corrupt("Consumer entry not found in group global PEL"))?;
                if entry.2 {
                    return Err(corrupt(
                        "Duplicated consumer PEL entry loading a stream consumer group",
                    ));
                }
                entry.2 = true;
                group.pel.insert(
                    id,
                    Nack {
                        delivery_time: entry.0,
                        delivery_count: entry.1,
                        consumer: slot,
                    },
                );
                group.consumer_mut(slot).pel.insert(id, ());
            }
        }
        if pending.values().any(|p| !p.2) {
            return Err(corrupt("Stream CG PEL entry without consumer"));
        }
        if stream.groups.insert(name.into(), group).is_some() {
            return Err(corrupt("Duplicated consumer group name"));
        }
    }
    Ok(stream)
}

/// What a file holds, in order.
#[derive(Debug)]
pub enum Item {
    /// An auxiliary field (redis-ver, ctime, used-mem, ...).
    Aux { key: Vec<u8>, value: Vec<u8> },
    /// The size hint of the database being loaded.
    ResizeDb { db: usize, keys: u64, expires: u64 },
    /// A function library's code (FUNCTION2 opcode; also accept the older FUNCTION opcode as Redis 7.0 does).
    Function(Vec<u8>),
    /// A key and its value, with what the opcodes before it said about it.
    Key {
        db: usize,
        key: Vec<u8>,
        value: Value,
        /// Absolute expire time, in ms since the epoch.
        expire_ms: Option<i64>,
        /// LRU idle time, in seconds.
        idle_secs: Option<u64>,
        /// LFU frequency counter.
        freq: Option<u8>,
    },
}

/// Redis's atoi on the version digits: leading digits only, 0 for none.
fn version_of(digits: &[u8]) -> u64 {
    digits
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .fold(0, |v, &b| v * 10 + u64::from(b - b'0'))
}

fn eof() -> LoadError {
    corrupt("Unexpected EOF reading RDB file")
}

/// Parses a whole RDB file image: "REDIS" + 4-digit version (1..=10; a newer one is refused
/// with Redis's wording "Can't handle RDB format version N"), the opcodes (AUX, SELECTDB,
/// RESIZEDB, EXPIRETIME (seconds) and EXPIRETIME_MS, IDLE, FREQ, FUNCTION2, FUNCTION,
/// MODULE_AUX -> refused), objects, EOF, then the CRC64 when version >= 5 (a stored checksum of 0
/// means "not computed" and is accepted; otherwise it must match). `databases` bounds SELECTDB.
/// Calls `f` per item; an EmptyKey value is skipped (not passed to f), as Redis does. Errors
/// from `f` stop the load. Returns the length of the RDB image (an old-style AOF continues
/// with commands after it).
pub fn load_rdb(
    data: &[u8],
    databases: usize,
    limits: &Limits,
    mut f: impl FnMut(Item) -> Result<(), LoadError>,
) -> Result<usize, LoadError> {
    let mut r = Reader::new(data);
    let header = r.take(9).ok_or_else(eof)?;
    if &header[..5] != b"REDIS" {
        return Err(corrupt("Wrong signature trying to load DB from file"));
    }
    let version = version_of(&header[5..]);
    if !(1..=u64::from(rdb::RDB_VERSION)).contains(&version) {
        return Err(corrupt(format!(
            "Can't handle RDB format version {version}"
        )));
    }
    let mut db = 0usize;
    let mut expire_ms = None;
    let mut idle_secs = None;
    let mut freq = None;
    loop {
        let ty = r.byte().ok_or_else(eof)?;
        match ty {
            OPCODE_EXPIRETIME => {
                expire_ms = Some(i64::from(r.le_i32().ok_or_else(eof)?) * 1000);
            }
            OPCODE_EXPIRETIME_MS => expire_ms = Some(r.le_i64().ok_or_else(eof)?),
            OPCODE_FREQ => freq = Some(r.byte().ok_or_else(eof)?),
            OPCODE_IDLE => idle_secs = Some(read_len(&mut r, "an idle time")?),
            OPCODE_EOF => break,
            OPCODE_SELECTDB => {
                let n = read_len(&mut r, "a database number")?;
                db = usize::try_from(n)
                    .ok()
                    .filter(|&n| n < databases)
                    .ok_or_else(|| {
                        corrupt(format!(
                            "Data file was created with a Redis server configured to handle \
                             more than {databases} databases (it selects db {n})"
                        ))
                    })?;
            }
            OPCODE_RESIZEDB => {
                let keys = read_len(&mut r, "a database size")?;
                let expires = read_len(&mut r, "a database expires size")?;
                // Only a hint, which callers may allocate for: no more keys than the rest of
                // the file can hold (at least 4 bytes each).
                let fit = (r.remaining() / 4) as u64;
                f(Item::ResizeDb {
                    db,
                    keys: keys.min(fit),
                    expires: expires.min(fit),
                })?;
            }
            OPCODE_AUX => {
                let key = read_string(&mut r, "an aux field")?;
                let value = read_string(&mut r, "an aux value")?;
                f(Item::Aux { key, value })?;
            }
            OPCODE_MODULE_AUX => {
                return Err(corrupt(
                    "The RDB file contains AUX module data: modules are not supported",
                ));
            }
            rdb::OPCODE_FUNCTION2 => {
                let code = read_string(&mut r, "a library payload")?;
                f(Item::Function(code))?;
            }
            rdb::OPCODE_FUNCTION => {
                let code = crate::script::functions::read_old_function(&mut r).map_err(corrupt)?;
                f(Item::Function(code))?;
            }
            _ => {
                let key = read_string(&mut r, "a key")?;
                match load_object(&mut r, ty, limits) {
                    Ok(value) => f(Item::Key {
                        db,
                        key,
                        value,
                        expire_ms,
                        idle_secs,
                        freq,
                    })?,
                    Err(LoadError::EmptyKey) => {}
                    Err(LoadError::Corrupt(m)) => {
                        return Err(corrupt(format!(
                            "{m} (key '{}' in db {db})",
                            String::from_utf8_lossy(&key)
                        )));
                    }
                }
                expire_ms = None;
                idle_secs = None;
                freq = None;
            }
        }
    }
    if version >= 5 {
        let expected = crc64::crc64(0, &data[..r.position()]);
        let stored = r.take(8).ok_or_else(eof)?;
        let stored = u64::from_le_bytes(stored.try_into().map_err(|_| eof())?);
        let skip = super::rdb::SKIP_CHECKSUM_VALIDATION.load(std::sync::atomic::Ordering::Relaxed);
        if stored != 0 && stored != expected && !skip {
            return Err(corrupt(format!(
                "Wrong RDB checksum expected: ({expected:x}) but got ({stored:x})"
            )));
        }
    }
    Ok(r.position())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::persist::intset::tests::build as intset;
    use crate::persist::listpack::tests::build as listpack;
    use crate::persist::rdb::{save_len, save_string};
    use crate::persist::ziplist::tests::build as ziplist;

    /// A value rendered as text, for comparisons: type, encoding, then its contents
    /// (hashes and sets sorted).
    fn show(v: &Value) -> String {
        let enc = v.encoding();
        let body: Vec<String> = match v {
            Value::Str(s) => vec![String::from_utf8_lossy(s.as_bytes(&mut [0; 20])).into()],
            Value::List(l) => l
                .iter()
                .map(|e| String::from_utf8_lossy(&e.to_vec()).into_owned())
                .collect(),
            Value::Hash(h) => {
                let mut v: Vec<String> = h
                    .iter()
                    .map(|(f, v)| {
                        format!(
                            "{}={}",
                            String::from_utf8_lossy(f),
                            String::from_utf8_lossy(v)
                        )
                    })
                    .collect();
                v.sort();
                v
            }
            Value::Set(s) => {
                let mut v: Vec<String> = s
                    .iter()
                    .map(|m| String::from_utf8_lossy(&m.to_vec()).into_owned())
                    .collect();
                v.sort();
                v
            }
            Value::ZSet(z) => z
                .iter()
                .map(|(m, s)| format!("{}:{s}", String::from_utf8_lossy(m)))
                .collect(),
            Value::Stream(s) => s
                .log
                .range(StreamId::MIN, StreamId::MAX, false)
                .map(|e| {
                    let f: Vec<String> = e
                        .fields()
                        .map(|(f, v)| {
                            format!(
                                "{}={}",
                                String::from_utf8_lossy(f),
                                String::from_utf8_lossy(v)
                            )
                        })
                        .collect();
                    format!("{}[{}]", e.id, f.join(","))
                })
                .collect(),
        };
        format!("{} {enc} {}", v.type_name(), body.join(" "))
    }

    fn load(ty: u8, body: &[u8]) -> Result<Value, LoadError> {
        let mut r = Reader::new(body);
        let v = load_object(&mut r, ty, &Limits::default())?;
        assert_eq!(r.remaining(), 0, "type {ty}: bytes left over");
        Ok(v)
    }

    fn loads(ty: u8, body: &[u8]) -> String {
        match load(ty, body) {
            Ok(v) => show(&v),
            Err(e) => panic!("type {ty}: {e}"),
        }
    }

    fn is_corrupt(r: Result<Value, LoadError>) -> bool {
        matches!(r, Err(LoadError::Corrupt(_)))
    }

    fn strings(items: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        save_len(&mut out, items.len() as u64);
        for i in items {
            save_string(&mut out, i);
        }
        out
    }

    fn blob(b: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        save_string(&mut out, b);
        out
    }

    fn s(b: &'static [u8]) -> Entry<'static> {
        Entry::Str(b)
    }

    #[test]
    fn plain_types() {
        assert_eq!(loads(TYPE_STRING, &blob(b"hello")), "string embstr hello");
        assert_eq!(loads(TYPE_STRING, &blob(b"-42")), "string int -42");
        assert_eq!(
            loads(TYPE_LIST, &strings(&[b"a", b"7", b"c"])),
            "list quicklist a 7 c"
        );
        assert_eq!(
            loads(TYPE_SET, &strings(&[b"3", b"1", b"2"])),
            "set intset 1 2 3"
        );
        assert_eq!(
            loads(TYPE_SET, &strings(&[b"3", b"x"])),
            "set hashtable 3 x"
        );
        assert!(is_corrupt(load(TYPE_SET, &strings(&[b"1", b"1"]))));
        assert!(is_corrupt(load(TYPE_SET, &strings(&[b"a", b"a"]))));
        assert!(matches!(load(TYPE_SET, &[0]), Err(LoadError::EmptyKey)));
        assert!(matches!(load(TYPE_LIST, &[0]), Err(LoadError::EmptyKey)));
        assert!(matches!(load(TYPE_HASH, &[0]), Err(LoadError::EmptyKey)));
        assert!(matches!(load(TYPE_ZSET_2, &[0]), Err(LoadError::EmptyKey)));

        let hash = strings(&[b"f", b"v", b"g", b"w"]);
        let mut h = vec![2];
        h.extend_from_slice(&hash[1..]);
        assert_eq!(loads(TYPE_HASH, &h), "hash listpack f=v g=w");
        let dup = strings(&[b"f", b"v", b"f", b"w"]);
        let mut d = vec![2];
        d.extend_from_slice(&dup[1..]);
        assert!(is_corrupt(load(TYPE_HASH, &d)));

        // A big hash becomes a table, as under HSET.
        let mut big = Vec::new();
        save_len(&mut big, 1000);
        for i in 0..1000 {
            save_string(&mut big, format!("f{i}").as_bytes());
            save_string(&mut big, b"v");
        }
        assert!(loads(TYPE_HASH, &big).starts_with("hash hashtable "));
    }

    #[test]
    fn sorted_sets_with_both_double_forms() {
        let mut z = vec![3];
        save_string(&mut z, b"b");
        z.extend_from_slice(&2.5f64.to_le_bytes());
        save_string(&mut z, b"a");
        z.extend_from_slice(&f64::INFINITY.to_le_bytes());
        save_string(&mut z, b"c");
        z.extend_from_slice(&(-1f64).to_le_bytes());
        assert_eq!(loads(TYPE_ZSET_2, &z), "zset listpack c:-1 b:2.5 a:inf");

        let mut old = vec![3];
        save_string(&mut old, b"x");
        old.extend_from_slice(&[3, b'1', b'.', b'5']);
        save_string(&mut old, b"y");
        old.push(255);
        save_string(&mut old, b"z");
        old.push(254);
        assert_eq!(loads(TYPE_ZSET, &old), "zset listpack y:-inf x:1.5 z:inf");

        let mut nan = vec![1];
        save_string(&mut nan, b"x");
        nan.push(253);
        assert!(is_corrupt(load(TYPE_ZSET, &nan)));
        let mut nan2 = vec![1];
        save_string(&mut nan2, b"x");
        nan2.extend_from_slice(&f64::NAN.to_le_bytes());
        assert!(is_corrupt(load(TYPE_ZSET_2, &nan2)));
        let mut dup = vec![2];
        for _ in 0..2 {
            save_string(&mut dup, b"m");
            dup.extend_from_slice(&1f64.to_le_bytes());
        }
        assert!(is_corrupt(load(TYPE_ZSET_2, &dup)));

        let mut big = Vec::new();
        save_len(&mut big, 200);
        for i in 0..200 {
            save_string(&mut big, format!("m{i}").as_bytes());
            big.extend_from_slice(&f64::from(i).to_le_bytes());
        }
        assert!(loads(TYPE_ZSET_2, &big).starts_with("zset skiplist m0:0 m1:1 "));
    }

    #[test]
    fn packed_types() {
        let lp = listpack(&[s(b"f"), Entry::Int(1), s(b"g"), s(b"two")]);
        assert_eq!(
            loads(TYPE_HASH_LISTPACK, &blob(&lp)),
            "hash listpack f=1 g=two"
        );
        let zl = ziplist(&[s(b"f"), Entry::Int(1), s(b"g"), s(b"two")]);
        assert_eq!(
            loads(TYPE_HASH_ZIPLIST, &blob(&zl)),
            "hash listpack f=1 g=two"
        );
        let dup = listpack(&[s(b"f"), Entry::Int(1), s(b"f"), Entry::Int(2)]);
        assert!(is_corrupt(load(TYPE_HASH_LISTPACK, &blob(&dup))));
        let odd = listpack(&[s(b"f"), Entry::Int(1), s(b"g")]);
        assert!(is_corrupt(load(TYPE_HASH_LISTPACK, &blob(&odd))));
        let empty = listpack(&[]);
        assert!(matches!(
            load(TYPE_HASH_LISTPACK, &blob(&empty)),
            Err(LoadError::EmptyKey)
        ));
        assert!(matches!(
            load(TYPE_ZSET_LISTPACK, &blob(&empty)),
            Err(LoadError::EmptyKey)
        ));

        let z = listpack(&[
            s(b"a"),
            Entry::Int(1),
            s(b"b"),
            s(b"1.5"),
            s(b"c"),
            s(b"-inf"),
        ]);
        assert_eq!(
            loads(TYPE_ZSET_LISTPACK, &blob(&z)),
            "zset listpack c:-inf a:1 b:1.5"
        );
        let z = ziplist(&[s(b"a"), Entry::Int(1), s(b"b"), s(b"1.5")]);
        assert_eq!(
            loads(TYPE_ZSET_ZIPLIST, &blob(&z)),
            "zset listpack a:1 b:1.5"
        );
        let bad = listpack(&[s(b"a"), s(b"nan")]);
        assert!(is_corrupt(load(TYPE_ZSET_LISTPACK, &blob(&bad))));
        let bad = listpack(&[s(b"a"), s(b"x1")]);
        assert!(is_corrupt(load(TYPE_ZSET_LISTPACK, &blob(&bad))));
        let dup = listpack(&[s(b"a"), Entry::Int(1), s(b"a"), Entry::Int(2)]);
        assert!(is_corrupt(load(TYPE_ZSET_LISTPACK, &blob(&dup))));

        let l = ziplist(&[s(b"x"), Entry::Int(-3), Entry::Int(1 << 40)]);
        assert_eq!(
            loads(TYPE_LIST_ZIPLIST, &blob(&l)),
            "list quicklist x -3 1099511627776"
        );
        assert!(matches!(
            load(TYPE_LIST_ZIPLIST, &blob(&ziplist(&[]))),
            Err(LoadError::EmptyKey)
        ));

        assert_eq!(
            loads(TYPE_SET_INTSET, &blob(&intset(2, &[-1, 5]))),
            "set intset -1 5"
        );
        let many: Vec<i64> = (0..600).collect();
        assert!(loads(TYPE_SET_INTSET, &blob(&intset(2, &many))).starts_with("set hashtable"));
        assert!(is_corrupt(load(
            TYPE_SET_INTSET,
            &blob(&intset(2, &[5, 1]))
        )));
        assert!(is_corrupt(load(TYPE_SET_INTSET, &blob(&intset(2, &[])))));

        let mut zm = vec![
            2, 1, b'a', 1, 0, b'1', 2, b'b', b'b', 3, 1, b'x', b'y', b'z', 0,
        ];
        zm.push(0xFF);
        assert_eq!(
            loads(TYPE_HASH_ZIPMAP, &blob(&zm)),
            "hash listpack a=1 bb=xyz"
        );
        let dup = [2, 1, b'a', 1, 0, b'1', 1, b'a', 1, 0, b'2', 0xFF];
        assert!(is_corrupt(load(TYPE_HASH_ZIPMAP, &blob(&dup))));
    }

    #[test]
    fn quicklists() {
        // Type 14: ziplist nodes, an empty one skipped.
        let mut q = vec![3];
        q.extend(blob(&ziplist(&[s(b"a"), Entry::Int(2)])));
        q.extend(blob(&ziplist(&[])));
        q.extend(blob(&ziplist(&[s(b"c")])));
        assert_eq!(loads(TYPE_LIST_QUICKLIST, &q), "list quicklist a 2 c");
        // Type 18: packed and plain nodes.
        let big = vec![b'z'; 10000];
        let mut q = vec![3, 2];
        q.extend(blob(&listpack(&[s(b"a"), Entry::Int(2)])));
        q.push(1);
        q.extend(blob(&big));
        q.push(2);
        q.extend(blob(&listpack(&[s(b"c")])));
        let v = load(TYPE_LIST_QUICKLIST_2, &q).unwrap();
        let Value::List(l) = &v else { panic!() };
        assert_eq!(l.len(), 4);
        assert_eq!(l.get(2).unwrap().to_vec(), big);
        assert_eq!(v.encoding(), "quicklist");
        // All nodes empty: an empty key.
        let mut q = vec![1, 2];
        q.extend(blob(&listpack(&[])));
        assert!(matches!(
            load(TYPE_LIST_QUICKLIST_2, &q),
            Err(LoadError::EmptyKey)
        ));
        // Bad container, empty node data.
        assert!(is_corrupt(load(TYPE_LIST_QUICKLIST_2, &[1, 3, 1, b'x'])));
        assert!(is_corrupt(load(TYPE_LIST_QUICKLIST_2, &[1, 1, 0])));
    }

    /// A test stream entry: ID delta (ms), flags, its own fields (None: the master's),
    /// values.
    type TestEntry<'a> = (i64, i64, Option<&'a [&'static [u8]]>, &'a [&'static [u8]]);

    /// A stream node listpack.
    fn node(master_fields: &[&'static [u8]], entries: &[TestEntry]) -> Vec<u8> {
        let live = entries.iter().filter(|e| e.1 & 1 == 0).count() as i64;
        let mut lp = vec![
            Entry::Int(live),
            Entry::Int(entries.len() as i64 - live),
            Entry::Int(master_fields.len() as i64),
        ];
        lp.extend(master_fields.iter().map(|f| Entry::Str(f)));
        lp.push(Entry::Int(0));
        for &(ms, flags, fields, values) in entries {
            lp.extend([Entry::Int(flags), Entry::Int(ms), Entry::Int(0)]);
            let n = values.len() as i64;
            match fields {
                Some(fields) => {
                    lp.push(Entry::Int(n));
                    for (f, v) in fields.iter().zip(values) {
                        lp.extend([Entry::Str(f), Entry::Str(v)]);
                    }
                    lp.push(Entry::Int(2 * n + 4));
                }
                None => {
                    lp.extend(values.iter().map(|v| Entry::Str(v)));
                    lp.push(Entry::Int(n + 3));
                }
            }
        }
        listpack(&lp)
    }

    fn id_be(ms: u64, seq: u64) -> Vec<u8> {
        let mut k = ms.to_be_bytes().to_vec();
        k.extend_from_slice(&seq.to_be_bytes());
        k
    }

    /// A type-19 stream: two nodes (one tombstone), one group with two pending entries
    /// owned by two consumers. `consumer_pel` lets tests break the ownership.
    fn stream_payload(consumer_pel: &[(u64, &[u64])]) -> Vec<u8> {
        let mut p = vec![2];
        save_string(&mut p, &id_be(1, 0));
        save_string(
            &mut p,
            &node(
                &[b"f1", b"f2"],
                &[
                    (0, 2, None, &[b"a", b"b"]),
                    (1, 3, None, &[b"c", b"d"]),
                    (2, 0, Some(&[b"g"]), &[b"7"]),
                ],
            ),
        );
        save_string(&mut p, &id_be(10, 0));
        save_string(&mut p, &node(&[b"x"], &[(0, 2, None, &[b"y"])]));
        p.extend([3, 10, 0]); // length, last ID
        p.extend([1, 0, 2, 0, 4]); // first ID, max deleted ID, entries added
        p.push(1);
        save_string(&mut p, b"grp");
        p.extend([10, 0, 3]); // last ID, entries read
        p.push(2);
        for (ms, time) in [(1u64, 1000i64), (3, 2000)] {
            p.extend(id_be(ms, 0));
            p.extend(time.to_le_bytes());
            p.push(2); // delivery count
        }
        p.push(consumer_pel.len() as u8);
        for (i, (seen, ids)) in consumer_pel.iter().enumerate() {
            save_string(&mut p, format!("c{i}").as_bytes());
            p.extend((*seen as i64).to_le_bytes());
            p.push(ids.len() as u8);
            for &ms in *ids {
                p.extend(id_be(ms, 0));
            }
        }
        p
    }

    #[test]
    fn streams() {
        let p = stream_payload(&[(5, &[1]), (6, &[3])]);
        let v = load(TYPE_STREAM_LISTPACKS_2, &p).unwrap();
        assert_eq!(show(&v), "stream stream 1-0[f1=a,f2=b] 3-0[g=7] 10-0[x=y]");
        let Value::Stream(st) = &v else { panic!() };
        assert_eq!(st.log.length, 3);
        assert_eq!(st.log.node_count(), 2);
        assert_eq!(st.log.last_id, StreamId::new(10, 0));
        assert_eq!(st.log.first_id, StreamId::new(1, 0));
        assert_eq!(st.log.max_deleted_id, StreamId::new(2, 0));
        assert_eq!(st.log.entries_added, 4);
        assert_eq!(st.log.first_id_with_tombstones(), StreamId::new(1, 0));
        let g = &st.groups[&b"grp"[..]];
        assert_eq!(g.entries_read, 3);
        assert_eq!(g.pel.len(), 2);
        let n = g.pel.get(StreamId::new(3, 0)).unwrap();
        assert_eq!((n.delivery_time, n.delivery_count), (2000, 2));
        assert_eq!(&g.consumer(n.consumer).name[..], b"c1");
        let names: Vec<(&[u8], u64, usize)> = g
            .consumers()
            .map(|c| (&c.name[..], c.seen_time, c.pel.len()))
            .collect();
        assert_eq!(names, [(&b"c0"[..], 5, 1), (&b"c1"[..], 6, 1)]);

        // Ownership broken three ways.
        for pels in [
            &[(5, &[1u64][..]), (6, &[1])][..],
            &[(5, &[1]), (6, &[4])],
            &[(5, &[1])],
        ] {
            assert!(is_corrupt(load(
                TYPE_STREAM_LISTPACKS_2,
                &stream_payload(pels)
            )));
        }
        // Duplicate consumer names.
        let mut dup = stream_payload(&[(5, &[1]), (6, &[3])]);
        let at = dup.windows(2).rposition(|w| w == b"c1").unwrap();
        dup[at + 1] = b'0';
        assert!(is_corrupt(load(TYPE_STREAM_LISTPACKS_2, &dup)));
    }

    #[test]
    fn stream_v1_and_stream_checks() {
        let mut p = vec![1];
        save_string(&mut p, &id_be(5, 0));
        save_string(
            &mut p,
            &node(&[b"f"], &[(0, 3, None, &[b"a"]), (1, 2, None, &[b"b"])]),
        );
        p.extend([1, 6, 0]); // length, last ID
        p.push(1);
        save_string(&mut p, b"g");
        p.extend([6, 0]);
        p.extend([0, 0]); // no PEL, no consumer
        let v = load(TYPE_STREAM_LISTPACKS, &p).unwrap();
        let Value::Stream(st) = &v else { panic!() };
        assert_eq!(st.log.first_id, StreamId::new(6, 0));
        assert_eq!(st.log.entries_added, 1);
        // The group is at the last entry: it has read what was added.
        assert_eq!(st.groups[&b"g"[..]].entries_read, 1);

        // An empty stream is kept.
        let v = load(TYPE_STREAM_LISTPACKS_2, &[0, 0, 7, 0, 0, 0, 0, 0, 3, 0]).unwrap();
        let Value::Stream(st) = &v else { panic!() };
        assert_eq!((st.log.length, st.log.last_id), (0, StreamId::new(7, 0)));

        // Entries out of order inside a node, and across nodes.
        let bad_node = node(&[b"f"], &[(1, 2, None, &[b"a"]), (0, 2, None, &[b"b"])]);
        let mut p = vec![1];
        save_string(&mut p, &id_be(5, 0));
        save_string(&mut p, &bad_node);
        p.extend([2, 9, 0, 0]);
        assert!(is_corrupt(load(TYPE_STREAM_LISTPACKS, &p)));
        let one = node(&[b"f"], &[(0, 2, None, &[b"a"])]);
        let mut p = vec![2];
        for ms in [5, 5] {
            save_string(&mut p, &id_be(ms, 0));
            save_string(&mut p, &one);
        }
        p.extend([2, 9, 0, 0]);
        assert!(is_corrupt(load(TYPE_STREAM_LISTPACKS, &p)));
        // A length that disagrees; a last ID below the entries; a bad node key.
        let mut p = vec![1];
        save_string(&mut p, &id_be(5, 0));
        save_string(&mut p, &one);
        let good = p.clone();
        p.extend([2, 9, 0, 0]);
        assert!(is_corrupt(load(TYPE_STREAM_LISTPACKS, &p)));
        let mut p = good.clone();
        p.extend([1, 4, 0, 0]);
        assert!(is_corrupt(load(TYPE_STREAM_LISTPACKS, &p)));
        let mut p = good;
        p.extend([1, 5, 0, 0]);
        assert!(load(TYPE_STREAM_LISTPACKS, &p).is_ok());
        let mut p = vec![1];
        save_string(&mut p, b"short");
        save_string(&mut p, &one);
        p.extend([1, 5, 0, 0]);
        assert!(is_corrupt(load(TYPE_STREAM_LISTPACKS, &p)));
        // A node whose entry count disagrees with its entries.
        let mut lying = node(&[b"f"], &[(0, 2, None, &[b"a"])]);
        lying[6] = 2; // the live count entry (a 7-bit integer)
        let mut p = vec![1];
        save_string(&mut p, &id_be(5, 0));
        save_string(&mut p, &lying);
        p.extend([1, 5, 0, 0]);
        assert!(is_corrupt(load(TYPE_STREAM_LISTPACKS, &p)));
    }

    /// Valid payloads of each kind, for the truncation and bit-flip sweeps.
    fn samples() -> Vec<(u8, Vec<u8>)> {
        let mut z = vec![2];
        save_string(&mut z, b"b");
        z.extend_from_slice(&2.5f64.to_le_bytes());
        save_string(&mut z, b"a");
        z.extend_from_slice(&1f64.to_le_bytes());
        let mut q = vec![2, 2];
        q.extend(blob(&listpack(&[s(b"a"), Entry::Int(2)])));
        q.push(1);
        q.extend(blob(b"plain"));
        vec![
            (TYPE_STRING, blob(b"hello")),
            (TYPE_SET, strings(&[b"1", b"x"])),
            (TYPE_ZSET_2, z),
            (
                TYPE_HASH_LISTPACK,
                blob(&listpack(&[s(b"f"), Entry::Int(1), s(b"g"), s(b"v")])),
            ),
            (
                TYPE_ZSET_ZIPLIST,
                blob(&ziplist(&[s(b"m"), Entry::Int(1), s(b"n"), s(b"2.5")])),
            ),
            (TYPE_SET_INTSET, blob(&intset(4, &[1, 2, 70000]))),
            (TYPE_LIST_QUICKLIST_2, q),
            (
                TYPE_STREAM_LISTPACKS_2,
                stream_payload(&[(5, &[1]), (6, &[3])]),
            ),
        ]
    }

    #[test]
    fn every_truncation_fails_cleanly() {
        for (ty, p) in samples() {
            assert!(load(ty, &p).is_ok(), "type {ty}");
            for cut in 0..p.len() {
                let mut r = Reader::new(&p[..cut]);
                assert!(
                    load_object(&mut r, ty, &Limits::default()).is_err(),
                    "type {ty} cut at {cut}"
                );
            }
        }
    }

    #[test]
    fn flipped_bytes_never_panic() {
        for (ty, p) in samples() {
            for at in 0..p.len() {
                for x in [1u8, 0x80, 0xFF, 0x40] {
                    let mut bad = p.clone();
                    bad[at] ^= x;
                    let mut r = Reader::new(&bad);
                    if let Ok(v) = load_object(&mut r, ty, &Limits::default()) {
                        let _ = show(&v);
                    }
                }
            }
        }
    }

    #[test]
    fn huge_claimed_counts_fail_fast() {
        let mut huge = vec![0x81];
        huge.extend_from_slice(&u64::MAX.to_be_bytes());
        for ty in [
            TYPE_LIST,
            TYPE_SET,
            TYPE_ZSET,
            TYPE_ZSET_2,
            TYPE_HASH,
            TYPE_LIST_QUICKLIST,
            TYPE_LIST_QUICKLIST_2,
            TYPE_STREAM_LISTPACKS,
            TYPE_STREAM_LISTPACKS_2,
        ] {
            let mut p = huge.clone();
            p.extend_from_slice(&[1, b'x', 1, b'y']);
            assert!(is_corrupt(load(ty, &p)), "type {ty}");
        }
        // A stream node claiming 2^62 master fields, and a group claiming a huge PEL.
        let lp = listpack(&[
            Entry::Int(1),
            Entry::Int(0),
            Entry::Int(1 << 62),
            Entry::Int(0),
        ]);
        let mut p = vec![1];
        save_string(&mut p, &id_be(1, 0));
        save_string(&mut p, &lp);
        assert!(is_corrupt(load(TYPE_STREAM_LISTPACKS, &p)));
        let mut p = vec![0, 0, 1, 0, 1];
        save_string(&mut p, b"g");
        p.extend([0, 0]);
        p.extend(&huge);
        assert!(is_corrupt(load(TYPE_STREAM_LISTPACKS, &p)));
        // Strings claiming more than is there.
        assert!(is_corrupt(load(TYPE_STRING, &huge)));
        assert!(is_corrupt(load(TYPE_HASH_LISTPACK, &huge)));
    }

    #[test]
    fn refused_types() {
        assert!(is_corrupt(load(TYPE_MODULE_2, &[1, 2, 3])));
        assert!(is_corrupt(load(8, &[0])));
        assert!(is_corrupt(load(20, &[0])));
        assert!(is_corrupt(load(244, &[0])));
    }

    /// A file image: header, `body`, EOF and a checksum (when `crc`).
    fn file(version: &str, body: &[u8], crc: bool) -> Vec<u8> {
        let mut f = format!("REDIS{version}").into_bytes();
        f.extend_from_slice(body);
        f.push(OPCODE_EOF);
        if crc {
            let c = crc64::crc64(0, &f);
            f.extend_from_slice(&c.to_le_bytes());
        } else {
            f.extend_from_slice(&[0; 8]);
        }
        f
    }

    fn sample_body() -> Vec<u8> {
        let mut b = vec![OPCODE_AUX];
        save_string(&mut b, b"redis-ver");
        save_string(&mut b, b"7.0.15");
        b.push(rdb::OPCODE_FUNCTION2);
        save_string(
            &mut b,
            b"#!lua name=lib\nredis.register_function('f', function() end)",
        );
        b.push(rdb::OPCODE_FUNCTION);
        for part in [&b"old"[..], b"lua"] {
            save_string(&mut b, part);
        }
        b.push(1);
        save_string(&mut b, b"a description");
        save_string(&mut b, b"return 1");
        b.extend([OPCODE_SELECTDB, 0, OPCODE_RESIZEDB, 2, 1]);
        b.push(OPCODE_EXPIRETIME_MS);
        b.extend_from_slice(&1_900_000_000_000i64.to_le_bytes());
        b.push(TYPE_STRING);
        save_string(&mut b, b"k1");
        save_string(&mut b, b"v1");
        b.push(TYPE_LIST); // an empty list: skipped
        save_string(&mut b, b"empty");
        b.push(0);
        b.extend([OPCODE_SELECTDB, 3, OPCODE_IDLE, 5, OPCODE_FREQ, 9]);
        b.push(OPCODE_EXPIRETIME);
        b.extend_from_slice(&1_900_000_000i32.to_le_bytes());
        b.push(TYPE_SET);
        save_string(&mut b, b"k2");
        b.extend(strings(&[b"1", b"2"]));
        b.push(TYPE_STRING);
        save_string(&mut b, b"k3");
        save_string(&mut b, b"12345");
        b
    }

    fn collect(data: &[u8]) -> Result<Vec<String>, LoadError> {
        let mut items = Vec::new();
        load_rdb(data, 16, &Limits::default(), |item| {
            items.push(match item {
                Item::Aux { key, value } => format!(
                    "aux {}={}",
                    String::from_utf8_lossy(&key),
                    String::from_utf8_lossy(&value)
                ),
                Item::ResizeDb { db, keys, expires } => format!("resize {db} {keys} {expires}"),
                Item::Function(code) => format!("function {}", String::from_utf8_lossy(&code)),
                Item::Key {
                    db,
                    key,
                    value,
                    expire_ms,
                    idle_secs,
                    freq,
                } => format!(
                    "key {db} {} {} {expire_ms:?} {idle_secs:?} {freq:?}",
                    String::from_utf8_lossy(&key),
                    show(&value)
                ),
            });
            Ok(())
        })?;
        Ok(items)
    }

    #[test]
    fn whole_files() {
        let want = [
            "aux redis-ver=7.0.15",
            "function #!lua name=lib\nredis.register_function('f', function() end)",
            "function #!lua name=old\nreturn 1",
            "resize 0 2 1",
            "key 0 k1 string embstr v1 Some(1900000000000) None None",
            "key 3 k2 set intset 1 2 Some(1900000000000) Some(5) Some(9)",
            "key 3 k3 string int 12345 None None None",
        ];
        let f = file("0010", &sample_body(), true);
        assert_eq!(collect(&f).unwrap(), want);
        // A zero checksum is "not computed"; an older version has none at all.
        assert_eq!(collect(&file("0010", &sample_body(), false)).unwrap(), want);
        let mut v4 = file("0004", &sample_body(), false);
        v4.truncate(v4.len() - 8);
        assert_eq!(collect(&v4).unwrap(), want);

        let mut bad = f.clone();
        let n = bad.len();
        bad[n - 1] ^= 1;
        assert!(collect(&bad).unwrap_err().to_string().contains("checksum"));
        let e = collect(&file("0011", &sample_body(), true)).unwrap_err();
        assert_eq!(e.to_string(), "Can't handle RDB format version 11");
        assert!(collect(b"RODIS0010\xff").is_err());
        let mut far = vec![OPCODE_SELECTDB, 16];
        far.extend(sample_body());
        assert!(collect(&file("0010", &far, true)).is_err());
        let module_aux = [OPCODE_MODULE_AUX, 1, 2, 2];
        assert!(collect(&file("0010", &module_aux, true)).is_err());
        // A corrupt value names its key.
        let mut b = vec![TYPE_SET];
        save_string(&mut b, b"dupset");
        b.extend(strings(&[b"1", b"1"]));
        let e = collect(&file("0010", &b, true)).unwrap_err().to_string();
        assert!(e.contains("dupset"), "{e}");
        // Errors from the callback stop the load.
        let mut seen = 0;
        let r = load_rdb(&f, 16, &Limits::default(), |_| {
            seen += 1;
            Err(LoadError::Corrupt("stop".into()))
        });
        assert!(r.is_err());
        assert_eq!(seen, 1);

        for cut in 0..f.len() {
            assert!(collect(&f[..cut]).is_err(), "cut at {cut}");
        }
        for at in 0..f.len() {
            let mut bad = f.clone();
            bad[at] ^= 0x21;
            // The checksum catches single flips; this only checks nothing panics.
            let _ = collect(&bad);
        }
    }
}
