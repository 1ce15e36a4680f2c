//! Writing RDB: one value ([`save_object`], also DUMP's payload) and a whole file
//! ([`RdbWriter`]), in the encodings redis-server 7.0 writes, so that it and
//! `redis-check-rdb` read our files and DUMP payloads.
//!
//! Small hashes and sorted sets go out as listpacks, integer sets as intsets and lists as
//! quicklists of listpack nodes, as Redis 7.0 writes them; larger hashes, sets and sorted
//! sets element by element (sorted sets from the highest score down, which is the order
//! Redis's loader inserts fastest). Streams are written as Redis keeps them in memory:
//! one listpack per node, then the groups with their pending entries and consumers.

use super::listpack_writer::ListpackWriter;
use super::rdb::{
    OPCODE_AUX, OPCODE_EOF, OPCODE_EXPIRETIME_MS, OPCODE_FREQ, OPCODE_IDLE, OPCODE_RESIZEDB,
    OPCODE_SELECTDB, TYPE_HASH, TYPE_HASH_LISTPACK, TYPE_LIST_QUICKLIST_2, TYPE_SET,
    TYPE_SET_INTSET, TYPE_STREAM_LISTPACKS_2, TYPE_STRING, TYPE_ZSET_2, TYPE_ZSET_LISTPACK,
};
use super::{crc64, lzf, rdb};
use crate::store::stream::log::NodeView;
use crate::store::stream::{Group, Stream, StreamId};
use crate::store::{Hash, List, Set, Str, Value, ZSet};

/// Quicklist node containers.
const CONTAINER_PACKED: u64 = 2;
/// Redis's default list node size (`list-max-listpack-size -2`): 8 KiB per node. Node
/// boundaries in a file don't matter to readers, so the writer always uses this.
const LIST_NODE_BYTES: usize = 8 * 1024;
/// Largest listpack element count of a node, a safety bound for lists of tiny elements.
const LIST_NODE_MAX_ENTRIES: usize = 65_535;

/// How strings are written.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// LZF-compress strings longer than 20 bytes when that saves space (`rdbcompression`).
    pub compress: bool,
    /// The file is an append-only file's base in commands, not an RDB
    /// (`aof-use-rdb-preamble no`): keys go out as the commands that rebuild them.
    pub resp: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            compress: true,
            resp: false,
        }
    }
}

/// Appends string `s` as RDB does: as an integer when it is one, LZF-compressed when
/// long and compressible (and compression is on), otherwise raw.
pub fn save_string(out: &mut Vec<u8>, s: &[u8], opts: Options) {
    // Redis compresses strings over 20 bytes, into at most `len - 4` bytes.
    if opts.compress
        && s.len() > 20
        && let Some(packed) = lzf::compress(s, s.len() - 4)
    {
        out.push(0xC3);
        rdb::save_len(out, packed.len() as u64);
        rdb::save_len(out, s.len() as u64);
        out.extend_from_slice(&packed);
        return;
    }
    rdb::save_string(out, s);
}

/// Appends the RDB type byte of `value` and the value: the body of a DUMP payload, and of
/// every key in a file.
pub fn save_object(out: &mut Vec<u8>, value: &Value, opts: Options) {
    out.push(object_type(value));
    save_body(out, value, opts);
}

/// The RDB type `value` is written as.
pub fn object_type(value: &Value) -> u8 {
    match value {
        Value::Str(_) => TYPE_STRING,
        Value::List(_) => TYPE_LIST_QUICKLIST_2,
        Value::Hash(h) if h.is_small() => TYPE_HASH_LISTPACK,
        Value::Hash(_) => TYPE_HASH,
        Value::Set(s) if s.is_intset() => TYPE_SET_INTSET,
        Value::Set(_) => TYPE_SET,
        Value::ZSet(z) if z.is_compact() => TYPE_ZSET_LISTPACK,
        Value::ZSet(_) => TYPE_ZSET_2,
        Value::Stream(_) => TYPE_STREAM_LISTPACKS_2,
    }
}

/// The object without its type byte.
fn save_body(out: &mut Vec<u8>, value: &Value, opts: Options) {
    match value {
        Value::Str(s) => save_str(out, s, opts),
        Value::List(l) => save_list(out, l, opts),
        Value::Hash(h) => save_hash(out, h, opts),
        Value::Set(s) => save_set(out, s, opts),
        Value::ZSet(z) => save_zset(out, z, opts),
        Value::Stream(s) => save_stream(out, s, opts),
    }
}

fn save_str(out: &mut Vec<u8>, s: &Str, opts: Options) {
    match s {
        Str::Int(v) => rdb::save_string(out, crate::resp::format_i64(*v, &mut [0; 20])),
        _ => save_string(out, s.raw_bytes().unwrap_or_default(), opts),
    }
}

fn save_list(out: &mut Vec<u8>, list: &List, opts: Options) {
    let nodes = list_nodes(list);
    rdb::save_len(out, nodes.len() as u64);
    for n in &nodes {
        rdb::save_len(out, CONTAINER_PACKED);
        save_string(out, n, opts);
    }
}

/// A list as the listpack nodes of Redis's quicklist (the RDB form; DEBUG OBJECT's
/// node count and sizes).
pub fn list_nodes(list: &List) -> Vec<Vec<u8>> {
    let mut nodes: Vec<Vec<u8>> = Vec::new();
    let mut node = ListpackWriter::new();
    for elem in list.iter() {
        let len = elem.with_bytes(|b| b.len());
        if !node.is_empty()
            && (node.bytes() + len + 11 > LIST_NODE_BYTES || node.len() >= LIST_NODE_MAX_ENTRIES)
        {
            nodes.push(std::mem::take(&mut node).finish());
        }
        elem.with_bytes(|b| node.push(b));
    }
    if !node.is_empty() {
        nodes.push(node.finish());
    }
    nodes
}

fn save_hash(out: &mut Vec<u8>, hash: &Hash, opts: Options) {
    if hash.is_small() {
        let mut lp = ListpackWriter::new();
        for (f, v) in hash.iter() {
            lp.push(f);
            lp.push(v);
        }
        save_string(out, &lp.finish(), opts);
    } else {
        rdb::save_len(out, hash.len() as u64);
        for (f, v) in hash.iter() {
            save_string(out, f, opts);
            save_string(out, v, opts);
        }
    }
}

fn save_set(out: &mut Vec<u8>, set: &Set, opts: Options) {
    if set.is_intset() {
        let ints: Vec<i64> = set
            .iter()
            .map(|m| match m {
                crate::store::set::Member::Int(v) => v,
                other => other.with_bytes(|b| crate::resp::parse_i64(b).unwrap_or_default()),
            })
            .collect();
        save_string(out, &intset_blob(ints), opts);
    } else {
        rdb::save_len(out, set.len() as u64);
        for m in set.iter() {
            m.with_bytes(|b| save_string(out, b, opts));
        }
    }
}

/// Redis's intset layout: element width (2, 4 or 8 bytes), count, then the sorted
/// integers, all little-endian.
fn intset_blob(mut ints: Vec<i64>) -> Vec<u8> {
    ints.sort_unstable();
    let width: usize = if ints.iter().all(|&v| i16::try_from(v).is_ok()) {
        2
    } else if ints.iter().all(|&v| i32::try_from(v).is_ok()) {
        4
    } else {
        8
    };
    let mut blob = Vec::with_capacity(8 + width * ints.len());
    blob.extend_from_slice(&(width as u32).to_le_bytes());
    blob.extend_from_slice(&(ints.len() as u32).to_le_bytes());
    for v in ints {
        blob.extend_from_slice(&v.to_le_bytes()[..width]);
    }
    blob
}

fn save_zset(out: &mut Vec<u8>, zset: &ZSet, opts: Options) {
    if zset.is_compact() {
        let mut lp = ListpackWriter::new();
        for (member, score) in zset.iter() {
            lp.push(member);
            lp.push(crate::util::fmt_double(score).as_bytes());
        }
        save_string(out, &lp.finish(), opts);
    } else {
        rdb::save_len(out, zset.len() as u64);
        for (member, score) in zset.range(0, zset.len(), true) {
            save_string(out, member, opts);
            out.extend_from_slice(&score.to_le_bytes());
        }
    }
}

fn save_id(out: &mut Vec<u8>, id: StreamId) {
    rdb::save_len(out, id.ms);
    rdb::save_len(out, id.seq);
}

/// A stream node as Redis's listpack: the master entry (live count, deleted count, the
/// master fields and a 0), then each entry as flags, ID deltas, fields or values, and its
/// element count.
fn node_listpack(node: &NodeView) -> Vec<u8> {
    let mut lp = ListpackWriter::new();
    lp.push_int(node.live() as i64);
    lp.push_int(node.deleted() as i64);
    let master_fields: Vec<&[u8]> = node.master_fields().collect();
    lp.push_int(master_fields.len() as i64);
    for f in &master_fields {
        lp.push(f);
    }
    lp.push_int(0);
    for entry in node.entries() {
        let same = entry.has_master_fields();
        let flags = i64::from(entry.is_tombstone()) | if same { 2 } else { 0 };
        lp.push_int(flags);
        lp.push_int(entry.id.ms.wrapping_sub(node.master.ms) as i64);
        lp.push_int(entry.id.seq.wrapping_sub(node.master.seq) as i64);
        let n = entry.field_count();
        if !same {
            lp.push_int(n as i64);
        }
        for (f, v) in entry.fields() {
            if !same {
                lp.push(f);
            }
            lp.push(v);
        }
        let elements = 3 + n + if same { 0 } else { n + 1 };
        lp.push_int(elements as i64);
    }
    lp.finish()
}

fn save_stream(out: &mut Vec<u8>, stream: &Stream, opts: Options) {
    let log = &stream.log;
    rdb::save_len(out, log.node_count() as u64);
    for node in log.nodes() {
        let mut key = [0u8; 16];
        key[..8].copy_from_slice(&node.master.ms.to_be_bytes());
        key[8..].copy_from_slice(&node.master.seq.to_be_bytes());
        save_string(out, &key, opts);
        save_string(out, &node_listpack(&node), opts);
    }
    rdb::save_len(out, log.length);
    save_id(out, log.last_id);
    save_id(out, log.first_id);
    save_id(out, log.max_deleted_id);
    rdb::save_len(out, log.entries_added);
    rdb::save_len(out, stream.groups.len() as u64);
    for (name, group) in &stream.groups {
        save_string(out, name, opts);
        save_group(out, group, opts);
    }
}

fn save_raw_id(out: &mut Vec<u8>, id: StreamId) {
    out.extend_from_slice(&id.ms.to_be_bytes());
    out.extend_from_slice(&id.seq.to_be_bytes());
}

fn save_group(out: &mut Vec<u8>, group: &Group, opts: Options) {
    save_id(out, group.last_id);
    // -1 (unknown) goes out as 2^64 - 1, as Redis writes its signed counter.
    rdb::save_len(out, group.entries_read as u64);
    rdb::save_len(out, group.pel.len() as u64);
    for (id, nack) in group.pel.iter() {
        save_raw_id(out, id);
        out.extend_from_slice(&nack.delivery_time.to_le_bytes());
        rdb::save_len(out, nack.delivery_count);
    }
    rdb::save_len(out, group.consumer_count() as u64);
    for consumer in group.consumers() {
        save_string(out, &consumer.name, opts);
        out.extend_from_slice(&consumer.seen_time.to_le_bytes());
        rdb::save_len(out, consumer.pel.len() as u64);
        for (id, ()) in consumer.pel.iter() {
            save_raw_id(out, id);
        }
    }
}

/// Appends one key's record as a file holds it: its expiry (absolute ms), its eviction
/// marker, the value's type, the key, then the value.
pub fn save_key(
    out: &mut Vec<u8>,
    key: &[u8],
    value: &Value,
    expire_ms: Option<u64>,
    marker: Marker,
    opts: Options,
) {
    if opts.resp {
        return super::rewrite::save_key(out, key, value, expire_ms);
    }
    if let Some(at) = expire_ms {
        out.push(OPCODE_EXPIRETIME_MS);
        out.extend_from_slice(&at.to_le_bytes());
    }
    match marker {
        Marker::None => {}
        Marker::IdleSecs(s) => {
            out.push(OPCODE_IDLE);
            rdb::save_len(out, s);
        }
        Marker::Freq(f) => out.extend_from_slice(&[OPCODE_FREQ, f]),
    }
    out.push(object_type(value));
    save_string(out, key, opts);
    save_body(out, value, opts);
}

/// A DUMP payload of `value`: the object, the RDB version and a CRC64.
pub fn dump_payload(value: &Value, opts: Options) -> Vec<u8> {
    let mut out = Vec::new();
    save_object(&mut out, value, opts);
    rdb::seal_payload(&mut out);
    out
}

/// Writes an RDB file in pieces through `sink`, keeping the running CRC64: the header and
/// aux fields, then databases and keys as the caller hands them over, then the trailer.
/// With `opts.resp`, an append-only file's base in commands instead: no header, SELECT
/// before each database, no trailer.
#[derive(Debug)]
pub struct RdbWriter {
    /// Bytes not yet handed to the sink.
    pub buf: Vec<u8>,
    crc: u64,
    /// Options for every string.
    pub opts: Options,
}

impl RdbWriter {
    /// Starts a file: magic, version and Redis's aux fields (`redis-ver` is the version
    /// INFO reports).
    pub fn new(opts: Options, ctime: u64, used_mem: u64, aof_base: bool) -> RdbWriter {
        let mut w = RdbWriter {
            buf: Vec::with_capacity(64 * 1024),
            crc: 0,
            opts,
        };
        if opts.resp {
            return w;
        }
        w.buf
            .extend_from_slice(format!("REDIS{:04}", rdb::RDB_VERSION).as_bytes());
        w.aux(b"redis-ver", crate::cmd::server::REDIS_VERSION.as_bytes());
        w.aux(b"redis-bits", b"64");
        w.aux(b"ctime", ctime.to_string().as_bytes());
        w.aux(b"used-mem", used_mem.to_string().as_bytes());
        w.aux(b"aof-base", if aof_base { b"1" } else { b"0" });
        w
    }

    /// An auxiliary field.
    pub fn aux(&mut self, key: &[u8], value: &[u8]) {
        self.buf.push(OPCODE_AUX);
        rdb::save_string(&mut self.buf, key);
        rdb::save_string(&mut self.buf, value);
    }

    /// Function libraries, as FUNCTION DUMP writes them (opcode and code per library).
    pub fn functions(&mut self, dumped: &[u8]) {
        self.buf.extend_from_slice(dumped);
    }

    /// Starts database `db` with its table sizes.
    pub fn select_db(&mut self, db: usize, keys: usize, expires: usize) {
        if self.opts.resp {
            return super::rewrite::select_db(&mut self.buf, db);
        }
        self.buf.push(OPCODE_SELECTDB);
        rdb::save_len(&mut self.buf, db as u64);
        self.buf.push(OPCODE_RESIZEDB);
        rdb::save_len(&mut self.buf, keys as u64);
        rdb::save_len(&mut self.buf, expires as u64);
    }

    /// One key (see [`save_key`]).
    pub fn key(&mut self, key: &[u8], value: &Value, expire_ms: Option<u64>, marker: Marker) {
        save_key(&mut self.buf, key, value, expire_ms, marker, self.opts);
    }

    /// Takes the buffered bytes (to write them out), folding them into the checksum.
    pub fn take(&mut self) -> Vec<u8> {
        self.crc = crc64::crc64(self.crc, &self.buf);
        std::mem::replace(&mut self.buf, Vec::with_capacity(64 * 1024))
    }

    /// Ends the file: EOF and the checksum. Returns the last bytes to write.
    pub fn finish(mut self, checksum: bool) -> Vec<u8> {
        if self.opts.resp {
            return self.buf;
        }
        self.buf.push(OPCODE_EOF);
        let crc = crc64::crc64(self.crc, &self.buf);
        self.buf
            .extend_from_slice(&if checksum { crc } else { 0 }.to_le_bytes());
        self.buf
    }
}

/// What a file says about a key's use before the key, under an LRU or LFU policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marker {
    /// Nothing (other policies).
    None,
    /// Seconds since last access (LRU policies).
    IdleSecs(u64),
    /// The LFU counter.
    Freq(u8),
}
