//! Hash commands (Redis's t_hash.c): HSET and friends, reads of one field, several or all,
//! counters, HRANDFIELD and HSCAN.
//!
//! Every handler parses its arguments in Redis's order (so that the same bad request gets
//! the same error), then applies. A hash that loses its last field is deleted.

use super::flags::{DENYOOM, FAST, READONLY, WRITE};
use super::keys::parse_scan_args;
use super::notify::{self, GENERIC, HASH, notify};
use super::{Command, Ctx, arity_error, err};
use crate::longdouble::{FloatError, incr_by_float};
use crate::resp::{Args, Reply, format_i64, parse_i64};
use crate::store::list::SmallBytes;
use crate::store::{Hash, Ttl, Value, next_random};
use crate::util::glob_match;

/// The family's command table.
#[rustfmt::skip]
pub const COMMANDS: &[Command] = &[
    Command { name: "hset", arity: -4, flags: WRITE | DENYOOM | FAST, keys: (1, 1, 1), group: "hash", handler: hset },
    Command { name: "hsetnx", arity: 4, flags: WRITE | DENYOOM | FAST, keys: (1, 1, 1), group: "hash", handler: hsetnx },
    Command { name: "hmset", arity: -4, flags: WRITE | DENYOOM | FAST, keys: (1, 1, 1), group: "hash", handler: hmset },
    Command { name: "hget", arity: 3, flags: READONLY | FAST, keys: (1, 1, 1), group: "hash", handler: hget },
    Command { name: "hmget", arity: -3, flags: READONLY | FAST, keys: (1, 1, 1), group: "hash", handler: hmget },
    Command { name: "hdel", arity: -3, flags: WRITE | FAST, keys: (1, 1, 1), group: "hash", handler: hdel },
    Command { name: "hlen", arity: 2, flags: READONLY | FAST, keys: (1, 1, 1), group: "hash", handler: hlen },
    Command { name: "hexists", arity: 3, flags: READONLY | FAST, keys: (1, 1, 1), group: "hash", handler: hexists },
    Command { name: "hgetall", arity: 2, flags: READONLY, keys: (1, 1, 1), group: "hash", handler: hgetall },
    Command { name: "hkeys", arity: 2, flags: READONLY, keys: (1, 1, 1), group: "hash", handler: hkeys },
    Command { name: "hvals", arity: 2, flags: READONLY, keys: (1, 1, 1), group: "hash", handler: hvals },
    Command { name: "hincrby", arity: 4, flags: WRITE | DENYOOM | FAST, keys: (1, 1, 1), group: "hash", handler: hincrby },
    Command { name: "hincrbyfloat", arity: 4, flags: WRITE | DENYOOM | FAST, keys: (1, 1, 1), group: "hash", handler: hincrbyfloat },
    Command { name: "hstrlen", arity: 3, flags: READONLY | FAST, keys: (1, 1, 1), group: "hash", handler: hstrlen },
    Command { name: "hrandfield", arity: -2, flags: READONLY, keys: (1, 1, 1), group: "hash", handler: hrandfield },
    Command { name: "hscan", arity: -3, flags: READONLY, keys: (1, 1, 1), group: "hash", handler: hscan },
];

/// The hash held by `value`, or None (after replying WRONGTYPE) for other types.
#[inline]
fn as_hash<'v>(value: &'v mut Value, out: &mut Reply) -> Option<&'v mut Hash> {
    match value {
        Value::Hash(h) => Some(h),
        _ => {
            out.error(err::WRONGTYPE);
            None
        }
    }
}

/// Sets every field/value pair of `args[2..]` on the hash at `key`, creating it if needed.
/// Returns the number of new fields, or None after replying an error.
fn set_pairs(ctx: &mut Ctx, args: Args, name: &str) -> Option<usize> {
    let lim = ctx.limits();
    // HSET key f v [f v ...]: the name, the key and pairs make an even count.
    if !args.len().is_multiple_of(2) {
        arity_error(ctx.out, name);
        return None;
    }
    let key = args.get(1);
    let pairs = (2..args.len())
        .step_by(2)
        .map(|i| (args.get(i), args.get(i + 1)));
    match ctx.write(key) {
        (Some(e), out) => {
            let h = as_hash(&mut e.value, out)?;
            let added = pairs.filter(|&(f, v)| h.insert(f, v, &lim)).count();
            ctx.modified(key);
            Some(added)
        }
        (None, _) => {
            let mut h = Hash::new();
            let added = pairs.filter(|&(f, v)| h.insert(f, v, &lim)).count();
            insert_hash(ctx, key, h);
            Some(added)
        }
    }
}

/// Stores a new hash at `key`, known to be absent, publishing `new` at once: Redis creates
/// the key before replying.
fn insert_hash(ctx: &mut Ctx, key: &[u8], h: Hash) {
    let now = ctx.now;
    ctx.db().insert_new(key, Value::Hash(h), Ttl::Clear, now);
    notify::flush_store_events(ctx);
}

fn hset(ctx: &mut Ctx, args: Args) {
    if let Some(added) = set_pairs(ctx, args, "hset") {
        ctx.out.int(added as i64);
        notify(ctx, HASH, "hset", args.get(1));
    }
}

fn hmset(ctx: &mut Ctx, args: Args) {
    if set_pairs(ctx, args, "hmset").is_some() {
        ctx.out.ok();
        notify(ctx, HASH, "hset", args.get(1));
    }
}

fn hsetnx(ctx: &mut Ctx, args: Args) {
    let lim = ctx.limits();
    let (key, field, value) = (args.get(1), args.get(2), args.get(3));
    match ctx.write(key) {
        (Some(e), out) => {
            let Some(h) = as_hash(&mut e.value, out) else {
                return;
            };
            if h.get(field).is_some() {
                // Nothing set: no event.
                out.int(0);
                return;
            }
            h.insert(field, value, &lim);
            ctx.modified(key);
        }
        (None, _) => {
            let mut h = Hash::new();
            h.insert(field, value, &lim);
            insert_hash(ctx, key, h);
        }
    }
    ctx.out.int(1);
    notify(ctx, HASH, "hset", key);
}

fn hget(ctx: &mut Ctx, args: Args) {
    match ctx.read(args.get(1)) {
        (None, out) => out.null(),
        (Some(e), out) => {
            if let Some(h) = as_hash(&mut e.value, out) {
                match h.get(args.get(2)) {
                    Some(v) => out.bulk(v),
                    None => out.null(),
                }
            }
        }
    }
}

fn hmget(ctx: &mut Ctx, args: Args) {
    let fields = args.iter().skip(2);
    match ctx.read(args.get(1)) {
        (None, out) => {
            out.array(fields.len());
            for _ in fields {
                out.null();
            }
        }
        (Some(e), out) => {
            let Some(h) = as_hash(&mut e.value, out) else {
                return;
            };
            out.array(fields.len());
            for f in fields {
                match h.get(f) {
                    Some(v) => out.bulk(v),
                    None => out.null(),
                }
            }
        }
    }
}

fn hdel(ctx: &mut Ctx, args: Args) {
    let key = args.get(1);
    let (found, out) = ctx.write(key);
    let Some(e) = found else {
        out.int(0);
        return;
    };
    let Some(h) = as_hash(&mut e.value, out) else {
        return;
    };
    let removed = args.iter().skip(2).filter(|f| h.remove(f)).count();
    let empty = h.is_empty();
    // The events precede the reply; nothing removed, nothing published.
    if removed > 0 {
        if empty {
            let now = ctx.now;
            ctx.db().remove(key, now);
        } else {
            ctx.modified(key);
        }
        notify(ctx, HASH, "hdel", key);
        if empty {
            notify(ctx, GENERIC, "del", key);
        }
    }
    ctx.out.int(removed as i64);
}

/// Replies with `f(hash)` as an integer, or `missing` when the key does not exist.
fn int_of(ctx: &mut Ctx, key: &[u8], missing: i64, f: impl FnOnce(&Hash) -> i64) {
    match ctx.read(key) {
        (None, out) => out.int(missing),
        (Some(e), out) => {
            if let Some(h) = as_hash(&mut e.value, out) {
                out.int(f(h));
            }
        }
    }
}

fn hlen(ctx: &mut Ctx, args: Args) {
    int_of(ctx, args.get(1), 0, |h| h.len() as i64);
}

fn hexists(ctx: &mut Ctx, args: Args) {
    let field = args.get(2);
    int_of(ctx, args.get(1), 0, |h| i64::from(h.get(field).is_some()));
}

fn hstrlen(ctx: &mut Ctx, args: Args) {
    let field = args.get(2);
    int_of(ctx, args.get(1), 0, |h| {
        h.get(field).map_or(0, |v| v.len() as i64)
    });
}

/// What HGETALL, HKEYS and HVALS return.
#[derive(Clone, Copy)]
enum Part {
    Both,
    Fields,
    Values,
}

fn get_all(ctx: &mut Ctx, key: &[u8], part: Part) {
    let (found, out) = ctx.read(key);
    let h = match found {
        None => None,
        Some(e) => match as_hash(&mut e.value, out) {
            Some(h) => Some(h),
            None => return,
        },
    };
    let n = h.as_ref().map_or(0, |h| h.len());
    match part {
        // A map in RESP3; an empty one when the key is missing.
        Part::Both => out.map(n),
        Part::Fields | Part::Values => out.array(n),
    }
    for (f, v) in h.iter().flat_map(|h| h.iter()) {
        match part {
            Part::Both => {
                out.bulk(f);
                out.bulk(v);
            }
            Part::Fields => out.bulk(f),
            Part::Values => out.bulk(v),
        }
    }
}

fn hgetall(ctx: &mut Ctx, args: Args) {
    get_all(ctx, args.get(1), Part::Both);
}

fn hkeys(ctx: &mut Ctx, args: Args) {
    get_all(ctx, args.get(1), Part::Fields);
}

fn hvals(ctx: &mut Ctx, args: Args) {
    get_all(ctx, args.get(1), Part::Values);
}

/// Stores a fresh hash holding one field (the counters on a missing key).
fn create_with(ctx: &mut Ctx, key: &[u8], field: &[u8], value: &[u8]) {
    let lim = ctx.limits();
    let mut h = Hash::new();
    h.insert(field, value, &lim);
    insert_hash(ctx, key, h);
}

fn hincrby(ctx: &mut Ctx, args: Args) {
    let lim = ctx.limits();
    let Some(incr) = ctx.int_arg(args.get(3)) else {
        return;
    };
    let (key, field) = (args.get(1), args.get(2));
    let mut tmp = [0u8; 20];
    match ctx.write(key) {
        (Some(e), out) => {
            let Some(h) = as_hash(&mut e.value, out) else {
                return;
            };
            let old = match h.get(field) {
                None => 0,
                Some(v) => match parse_i64(v) {
                    Some(n) => n,
                    None => {
                        out.error("ERR hash value is not an integer");
                        return;
                    }
                },
            };
            let Some(new) = old.checked_add(incr) else {
                out.error(err::OVERFLOW);
                return;
            };
            h.insert(field, format_i64(new, &mut tmp), &lim);
            out.int(new);
            ctx.modified(key);
        }
        (None, _) => {
            create_with(ctx, key, field, format_i64(incr, &mut tmp));
            ctx.out.int(incr);
        }
    }
    notify(ctx, HASH, "hincrby", key);
}

fn hincrbyfloat(ctx: &mut Ctx, args: Args) {
    let lim = ctx.limits();
    let (key, field, incr) = (args.get(1), args.get(2), args.get(3));
    // Redis validates the increment before looking at the key: 0 + incr tells whether it
    // parses as a long double and whether it is finite.
    match incr_by_float(None, incr) {
        Ok(_) => {}
        Err(FloatError::NotFloat) => return ctx.error(err::NOT_FLOAT),
        Err(FloatError::NanOrInfinity) => return ctx.error("ERR value is NaN or Infinity"),
    }
    let (found, out) = ctx.write(key);
    let Some(e) = found else {
        if let Ok(text) = incr_by_float(None, incr) {
            create_with(ctx, key, field, &text);
            ctx.out.bulk(&text);
            notify(ctx, HASH, "hincrbyfloat", key);
            ctx.propagate_as(&[b"HSET", key, field, &text]);
        }
        return;
    };
    let Some(h) = as_hash(&mut e.value, out) else {
        return;
    };
    // The increment is known to be good, so a parse failure is the stored value's.
    match incr_by_float(h.get(field), incr) {
        Ok(text) => {
            h.insert(field, &text, &lim);
            out.bulk(&text);
            ctx.modified(key);
            notify(ctx, HASH, "hincrbyfloat", key);
            // The result, not the increment, as Redis writes it.
            ctx.propagate_as(&[b"HSET", key, field, &text]);
        }
        Err(FloatError::NotFloat) => out.error("ERR hash value is not a float"),
        Err(FloatError::NanOrInfinity) => {
            out.error("ERR increment would produce NaN or Infinity");
        }
    }
}

fn hrandfield(ctx: &mut Ctx, args: Args) {
    let key = args.get(1);
    if args.len() >= 3 {
        // Redis reads the count in [-i64::MAX, i64::MAX].
        let count = match parse_i64(args.get(2)) {
            None => return ctx.error(err::NOT_INTEGER),
            Some(i64::MIN) => return ctx.error(err::COUNT_RANGE),
            Some(c) => c,
        };
        if args.len() > 4 || (args.len() == 4 && !args.get(3).eq_ignore_ascii_case(b"withvalues")) {
            return ctx.error(err::SYNTAX);
        }
        let with_values = args.len() == 4;
        // Twice the count must fit the reply's length.
        if with_values && !(-i64::MAX / 2..=i64::MAX / 2).contains(&count) {
            return ctx.error("ERR value is out of range");
        }
        random_fields(ctx, key, count, with_values);
        return;
    }
    let mut seed = ctx.store.random() | 1;
    match ctx.read(key) {
        (None, out) => out.null(),
        (Some(e), out) => {
            if let Some(h) = as_hash(&mut e.value, out) {
                match h.random(next_random(&mut seed)) {
                    Some((f, _)) => out.bulk(f),
                    None => out.null(),
                }
            }
        }
    }
}

/// HRANDFIELD key count [WITHVALUES] (Redis's `hrandfieldWithCountCommand`): a negative
/// count may repeat fields, a positive one returns distinct fields, at most all of them.
fn random_fields(ctx: &mut Ctx, key: &[u8], count: i64, with_values: bool) {
    let mut seed = ctx.store.random() | 1;
    let limit = ctx.shared.params.settings.max_pending_reply();
    let (found, out) = ctx.read(key);
    let Some(e) = found else {
        out.array(0);
        return;
    };
    let Some(h) = as_hash(&mut e.value, out) else {
        return;
    };
    let resp3 = out.is_resp3();
    let (n, distinct) = (count.unsigned_abs() as usize, count >= 0);
    if n == 0 {
        out.array(0);
        return;
    }
    // RESP2 flattens pairs into one array; RESP3 nests each pair in its own.
    let header = |out: &mut Reply, len: usize| {
        out.array(if with_values && !resp3 { len * 2 } else { len });
    };
    let emit = |out: &mut Reply, (f, v): (&[u8], &[u8])| {
        if with_values && resp3 {
            out.array(2);
        }
        out.bulk(f);
        if with_values {
            out.bulk(v);
        }
    };
    let size = h.len();
    if !distinct || n == 1 {
        header(out, n);
        for _ in 0..n {
            if let Some(pair) = h.random(next_random(&mut seed)) {
                emit(out, pair);
            }
            // A huge negative count would grow the reply without bound: stop once the
            // client is past its output limit, which disconnects it (Redis stops when the
            // client is marked to close).
            if out.len() > limit {
                break;
            }
        }
        return;
    }
    header(out, n.min(size));
    if n >= size {
        for pair in h.iter() {
            emit(out, pair);
        }
    } else if n * 3 > size {
        // Many of them: a partial shuffle of all pairs.
        let mut all: Vec<(&[u8], &[u8])> = h.iter().collect();
        for i in 0..n {
            let j = i + (next_random(&mut seed) % (size - i) as u64) as usize;
            all.swap(i, j);
            emit(out, all[i]);
        }
    } else {
        // Few of them: random picks, skipping repeats.
        let mut picked = std::collections::HashSet::with_capacity(n);
        while picked.len() < n {
            if let Some(slot) = h.random_slot(next_random(&mut seed))
                && picked.insert(slot)
                && let Some(pair) = h.slot(slot)
            {
                emit(out, pair);
            }
        }
    }
}

fn hscan(ctx: &mut Ctx, args: Args) {
    // Redis checks the cursor, then the key, then the options: an option error is held
    // back until the key turns out to exist and be a hash.
    let mark = ctx.out.mark();
    let parsed = parse_scan_args(ctx, args, 2, false);
    let held_error = if parsed.is_none() {
        let written = ctx.out.mark() - mark;
        let bytes = ctx.out.bytes();
        let error = bytes[bytes.len() - written..].to_vec();
        if error.starts_with(b"-ERR invalid cursor") {
            return;
        }
        ctx.out.truncate(mark);
        Some(error)
    } else {
        None
    };
    let (found, out) = ctx.read(args.get(1));
    let Some(e) = found else {
        out.array(2);
        out.bulk(b"0");
        out.array(0);
        return;
    };
    let Some(h) = as_hash(&mut e.value, out) else {
        return;
    };
    let (Some(scan), None) = (parsed, held_error.as_ref()) else {
        out.raw(held_error.as_deref().unwrap_or(b"-ERR syntax error\r\n"));
        return;
    };
    let mut found: Vec<(SmallBytes, SmallBytes)> = Vec::new();
    let next = h.scan(scan.cursor, scan.count, |f, v| {
        if scan.pattern.is_none_or(|p| glob_match(p, f, false)) {
            found.push((SmallBytes::new(f), SmallBytes::new(v)));
        }
    });
    out.array(2);
    out.bulk(next.to_string().as_bytes());
    out.array(found.len() * 2);
    for (f, v) in &found {
        out.bulk(f);
        out.bulk(v);
    }
}
