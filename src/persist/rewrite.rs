//! An append-only file's base in commands (`aof-use-rdb-preamble no`): each key as the
//! RESP commands that rebuild it, as Redis's rewriteAppendOnlyFileRio writes them, so
//! redis-server loads our base and we load its.
//!
//! Strings are one SET; lists, sets, sorted sets and hashes are RPUSH, SADD, ZADD and
//! HMSET of at most 64 elements each (Redis's AOF_REWRITE_ITEMS_PER_CMD); a stream is an
//! XADD per entry (an empty one: XADD MAXLEN 0 then the entry goes), XSETID with its
//! counters, then per group XGROUP CREATE ... ENTRIESREAD, and per consumer its pending
//! entries as XCLAIM ... TIME RETRYCOUNT JUSTID FORCE, or XGROUP CREATECONSUMER when it has
//! none. A key with a TTL is followed by PEXPIREAT.

use crate::resp::format_i64;
use crate::store::stream::{Stream, StreamId};
use crate::store::{Str, Value};

/// Elements per command for the collections (Redis's AOF_REWRITE_ITEMS_PER_CMD).
const ITEMS_PER_COMMAND: usize = 64;

/// Appends a RESP array header.
fn array(out: &mut Vec<u8>, n: usize) {
    out.push(b'*');
    out.extend_from_slice(format_i64(n as i64, &mut [0; 20]));
    out.extend_from_slice(b"\r\n");
}

/// Appends a bulk string.
fn bulk(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'$');
    out.extend_from_slice(format_i64(s.len() as i64, &mut [0; 20]));
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(s);
    out.extend_from_slice(b"\r\n");
}

fn bulk_int(out: &mut Vec<u8>, v: i64) {
    bulk(out, format_i64(v, &mut [0; 20]));
}

fn bulk_id(out: &mut Vec<u8>, id: StreamId) {
    bulk(out, id.to_string().as_bytes());
}

/// A whole command.
fn command(out: &mut Vec<u8>, args: &[&[u8]]) {
    array(out, args.len());
    for a in args {
        bulk(out, a);
    }
}

/// `SELECT db`, before a database's keys.
pub fn select_db(out: &mut Vec<u8>, db: usize) {
    array(out, 2);
    bulk(out, b"SELECT");
    bulk_int(out, db as i64);
}

/// `FUNCTION LOAD code` for one library.
pub fn function_load(out: &mut Vec<u8>, code: &[u8]) {
    command(out, &[b"FUNCTION", b"LOAD", code]);
}

/// The commands that rebuild `key`, then its PEXPIREAT.
pub fn save_key(out: &mut Vec<u8>, key: &[u8], value: &Value, expire_ms: Option<u64>) {
    match value {
        Value::Str(s) => match s {
            Str::Int(v) => command(out, &[b"SET", key, format_i64(*v, &mut [0; 20])]),
            _ => command(out, &[b"SET", key, s.raw_bytes().unwrap_or_default()]),
        },
        Value::List(l) => {
            let mut cmd = Batched::new(b"RPUSH", key, l.len());
            for e in l.iter() {
                e.with_bytes(|b| cmd.push(out, &[b]));
            }
        }
        Value::Set(s) => {
            let mut cmd = Batched::new(b"SADD", key, s.len());
            for m in s.iter() {
                m.with_bytes(|b| cmd.push(out, &[b]));
            }
        }
        Value::ZSet(z) => {
            let mut cmd = Batched::new(b"ZADD", key, z.len());
            for (member, score) in z.iter() {
                cmd.push(out, &[crate::util::fmt_double(score).as_bytes(), member]);
            }
        }
        Value::Hash(h) => {
            let mut cmd = Batched::new(b"HMSET", key, h.len());
            for (f, v) in h.iter() {
                cmd.push(out, &[f, v]);
            }
        }
        Value::Stream(s) => save_stream(out, key, s),
    }
    if let Some(at) = expire_ms {
        array(out, 3);
        bulk(out, b"PEXPIREAT");
        bulk(out, key);
        bulk_int(out, at as i64);
    }
}

/// `name key item...` commands of at most [`ITEMS_PER_COMMAND`] items, for `count` items
/// pushed one at a time (an item is one argument, or a score and member, a field and value).
struct Batched<'a> {
    name: &'a [u8],
    key: &'a [u8],
    /// Items not pushed yet.
    left: usize,
    /// Items the current command still takes.
    in_command: usize,
}

impl<'a> Batched<'a> {
    fn new(name: &'a [u8], key: &'a [u8], count: usize) -> Self {
        Batched {
            name,
            key,
            left: count,
            in_command: 0,
        }
    }

    fn push(&mut self, out: &mut Vec<u8>, item: &[&[u8]]) {
        if self.in_command == 0 {
            self.in_command = self.left.min(ITEMS_PER_COMMAND);
            array(out, 2 + self.in_command * item.len());
            bulk(out, self.name);
            bulk(out, self.key);
        }
        for a in item {
            bulk(out, a);
        }
        self.in_command -= 1;
        self.left -= 1;
    }
}

fn save_stream(out: &mut Vec<u8>, key: &[u8], stream: &Stream) {
    let log = &stream.log;
    if log.length > 0 {
        for node in log.nodes() {
            for entry in node.entries().filter(|e| !e.is_tombstone()) {
                array(out, 3 + 2 * entry.field_count());
                bulk(out, b"XADD");
                bulk(out, key);
                bulk_id(out, entry.id);
                for (f, v) in entry.fields() {
                    bulk(out, f);
                    bulk(out, v);
                }
            }
        }
    } else {
        // An empty stream: add an entry and trim it at once (Redis's MAXLEN 0 trick).
        array(out, 7);
        for a in [&b"XADD"[..], key, b"MAXLEN", b"0", b"0-1", b"x", b"y"] {
            bulk(out, a);
        }
    }
    // The last ID and counters, which deletions may have left ahead of the entries.
    array(out, 7);
    bulk(out, b"XSETID");
    bulk(out, key);
    bulk_id(out, log.last_id);
    bulk(out, b"ENTRIESADDED");
    bulk_int(out, log.entries_added as i64);
    bulk(out, b"MAXDELETEDID");
    bulk_id(out, log.max_deleted_id);
    for (name, group) in &stream.groups {
        array(out, 7);
        for a in [&b"XGROUP"[..], b"CREATE", key, name] {
            bulk(out, a);
        }
        bulk_id(out, group.last_id);
        bulk(out, b"ENTRIESREAD");
        bulk_int(out, group.entries_read);
        for consumer in group.consumers() {
            if consumer.pel.is_empty() {
                command(
                    out,
                    &[b"XGROUP", b"CREATECONSUMER", key, name, &consumer.name],
                );
                continue;
            }
            for (id, ()) in consumer.pel.iter() {
                let Some(nack) = group.pel.get(id) else {
                    continue;
                };
                array(out, 12);
                for a in [&b"XCLAIM"[..], key, name, &consumer.name, b"0"] {
                    bulk(out, a);
                }
                bulk_id(out, id);
                bulk(out, b"TIME");
                bulk_int(out, nack.delivery_time as i64);
                bulk(out, b"RETRYCOUNT");
                bulk_int(out, nack.delivery_count as i64);
                bulk(out, b"JUSTID");
                bulk(out, b"FORCE");
            }
        }
    }
}
