//! Stream commands (Redis's t_stream.c): XADD, XLEN, XRANGE, XREVRANGE, XDEL, XTRIM and
//! XSETID here; XREAD and XREADGROUP (with blocking) in [`read`]; consumer groups (XGROUP,
//! XACK, XPENDING, XCLAIM, XAUTOCLAIM) in [`groups`]; XINFO in [`info`].
//!
//! Handlers parse in Redis's order, so the same bad request gets the same error, and
//! leave the data in [`crate::store::stream`].

pub mod groups;
pub mod info;
pub mod read;

use super::flags::{DENYOOM, FAST, READONLY, WRITE};
use super::notify::{STREAM, notify};
use super::{Command, Ctx, err};
use crate::resp::{Args, Reply};
use crate::store::stream::id::{ParsedId, parse_id};
use crate::store::stream::log::MAX_NODE_BYTES;
use crate::store::stream::{EntryRef, Stream, StreamId, TrimTo};
use crate::store::{Entry, Ttl, Value};

/// This family's command table.
#[rustfmt::skip]
pub const COMMANDS: &[Command] = &[
    Command { name: "xadd", arity: -5, flags: WRITE | DENYOOM | FAST, keys: (1, 1, 1), group: "stream", handler: xadd },
    Command { name: "xlen", arity: 2, flags: READONLY | FAST, keys: (1, 1, 1), group: "stream", handler: xlen },
    Command { name: "xrange", arity: -4, flags: READONLY, keys: (1, 1, 1), group: "stream", handler: xrange },
    Command { name: "xrevrange", arity: -4, flags: READONLY, keys: (1, 1, 1), group: "stream", handler: xrevrange },
    Command { name: "xdel", arity: -3, flags: WRITE | FAST, keys: (1, 1, 1), group: "stream", handler: xdel },
    Command { name: "xtrim", arity: -4, flags: WRITE, keys: (1, 1, 1), group: "stream", handler: xtrim },
    Command { name: "xsetid", arity: -3, flags: WRITE | DENYOOM | FAST, keys: (1, 1, 1), group: "stream", handler: xsetid },
    Command { name: "xread", arity: -4, flags: READONLY, keys: (0, 0, 0), group: "stream", handler: read::xread },
    Command { name: "xreadgroup", arity: -7, flags: WRITE, keys: (0, 0, 0), group: "stream", handler: read::xreadgroup },
    Command { name: "xgroup", arity: -2, flags: 0, keys: (0, 0, 0), group: "stream", handler: groups::xgroup },
    Command { name: "xack", arity: -4, flags: WRITE | FAST, keys: (1, 1, 1), group: "stream", handler: groups::xack },
    Command { name: "xpending", arity: -3, flags: READONLY, keys: (1, 1, 1), group: "stream", handler: groups::xpending },
    Command { name: "xclaim", arity: -6, flags: WRITE | FAST, keys: (1, 1, 1), group: "stream", handler: groups::xclaim },
    Command { name: "xautoclaim", arity: -6, flags: WRITE | FAST, keys: (1, 1, 1), group: "stream", handler: groups::xautoclaim },
    Command { name: "xinfo", arity: -2, flags: 0, keys: (0, 0, 0), group: "stream", handler: info::xinfo },
];

/// XGROUP's subcommands and their arities (resolved by dispatch, as Redis does).
pub const XGROUP_SUBCOMMANDS: &[(&str, i32)] = &[
    ("create", -5),
    ("setid", -5),
    ("destroy", 4),
    ("createconsumer", 5),
    ("delconsumer", 5),
    ("help", 2),
];

/// XINFO's subcommands and their arities.
pub const XINFO_SUBCOMMANDS: &[(&str, i32)] =
    &[("stream", -3), ("groups", 3), ("consumers", 4), ("help", 2)];

/// Any ID argument that does not parse.
pub const INVALID_ID: &str = "ERR Invalid stream ID specified as stream command argument";

/// The stream in a looked-up entry: Ok(None) when the key is missing, Err after replying
/// WRONGTYPE when it holds another type.
fn as_stream<'a>(
    found: Option<&'a mut Entry>,
    out: &mut Reply,
) -> Result<Option<&'a mut Stream>, ()> {
    match found {
        None => Ok(None),
        Some(Entry {
            value: Value::Stream(s),
            ..
        }) => Ok(Some(s)),
        Some(_) => {
            out.error(err::WRONGTYPE);
            Err(())
        }
    }
}

/// Parses an ID argument, replying Redis's error when it does not parse.
fn id_arg(ctx: &mut Ctx, arg: &[u8], missing_seq: u64, strict: bool) -> Option<StreamId> {
    let parsed = parse_id(arg, missing_seq, strict, false);
    if parsed.is_none() {
        ctx.error(INVALID_ID);
    }
    parsed.map(|p| p.id)
}

/// A range bound (XRANGE, XPENDING, XAUTOCLAIM): `-`, `+`, an ID, or `(ID` (exclusive,
/// strict). Returns the ID and whether it was exclusive.
fn interval_arg(ctx: &mut Ctx, arg: &[u8], missing_seq: u64) -> Option<(StreamId, bool)> {
    if arg.len() > 1 && arg[0] == b'(' {
        id_arg(ctx, &arg[1..], missing_seq, true).map(|id| (id, true))
    } else {
        id_arg(ctx, arg, missing_seq, false).map(|id| (id, false))
    }
}

/// A range start: exclusive bounds move up one.
fn range_start(ctx: &mut Ctx, arg: &[u8]) -> Option<StreamId> {
    let (id, exclusive) = interval_arg(ctx, arg, 0)?;
    if !exclusive {
        return Some(id);
    }
    let next = id.next();
    if next.is_none() {
        ctx.error("ERR invalid start ID for the interval");
    }
    next
}

/// A range end: exclusive bounds move down one.
fn range_end(ctx: &mut Ctx, arg: &[u8]) -> Option<StreamId> {
    let (id, exclusive) = interval_arg(ctx, arg, u64::MAX)?;
    if !exclusive {
        return Some(id);
    }
    let prev = id.prev();
    if prev.is_none() {
        ctx.error("ERR invalid end ID for the interval");
    }
    prev
}

/// An ID as a bulk string.
pub fn reply_id(out: &mut Reply, id: StreamId) {
    let mut buf = [0u8; 41];
    out.bulk(id.format(&mut buf));
}

/// An entry as Redis sends it: `[id, [field, value, ...]]`.
pub fn reply_entry(out: &mut Reply, entry: &EntryRef) {
    out.array(2);
    reply_id(out, entry.id);
    out.array(entry.field_count() * 2);
    for (field, value) in entry.fields() {
        out.bulk(field);
        out.bulk(value);
    }
}

/// Replies the entries of `entries` (at most `count`, 0 = all) as an array.
fn reply_entries<'a>(out: &mut Reply, entries: impl Iterator<Item = EntryRef<'a>>, count: u64) {
    let at = out.begin_deferred();
    let mut n = 0u64;
    for e in entries {
        reply_entry(out, &e);
        n += 1;
        if n == count {
            break;
        }
    }
    out.end_deferred(at, b'*', n as usize);
}

/// XADD's and XTRIM's options (Redis's streamAddTrimArgs).
#[derive(Debug, Default)]
struct AddTrimArgs {
    /// XADD's explicit ID (None for `*`).
    id: Option<ParsedId>,
    /// Where XADD's ID argument is.
    id_at: usize,
    no_mkstream: bool,
    trim: Option<TrimTo>,
    approx: bool,
    /// Most entries to trim (0 = no limit).
    limit: u64,
}

const TRIM_CONFLICT: &str =
    "ERR syntax error, MAXLEN and MINID options at the same time are not compatible";

/// Parses XADD's (`xadd`) or XTRIM's options as Redis's streamParseAddOrTrimArgsOrReply,
/// replying its errors.
fn parse_add_trim(ctx: &mut Ctx, args: Args, xadd: bool) -> Option<AddTrimArgs> {
    let mut parsed = AddTrimArgs::default();
    let mut limit_given = false;
    let mut i = 2;
    while i < args.len() {
        let more = args.len() - 1 - i;
        let opt = args.get(i);
        if xadd && opt == b"*" {
            break;
        } else if (opt.eq_ignore_ascii_case(b"maxlen") || opt.eq_ignore_ascii_case(b"minid"))
            && more > 0
        {
            if parsed.trim.is_some() {
                ctx.error(TRIM_CONFLICT);
                return None;
            }
            parsed.approx = false;
            let next = args.get(i + 1);
            if more >= 2 && (next == b"~" || next == b"=") {
                parsed.approx = next == b"~";
                i += 1;
            }
            let value = args.get(i + 1);
            if opt.eq_ignore_ascii_case(b"maxlen") {
                let max = ctx.int_arg(value)?;
                if max < 0 {
                    ctx.error("ERR The MAXLEN argument must be >= 0.");
                    return None;
                }
                parsed.trim = Some(TrimTo::MaxLen(max as u64));
            } else {
                parsed.trim = Some(TrimTo::MinId(id_arg(ctx, value, 0, true)?));
            }
            i += 1;
        } else if opt.eq_ignore_ascii_case(b"limit") && more > 0 {
            let limit = ctx.int_arg(args.get(i + 1))?;
            if limit < 0 {
                ctx.error("ERR The LIMIT argument must be >= 0.");
                return None;
            }
            parsed.limit = limit as u64;
            limit_given = true;
            i += 1;
        } else if xadd && opt.eq_ignore_ascii_case(b"nomkstream") {
            parsed.no_mkstream = true;
        } else if xadd {
            let Some(id) = parse_id(opt, 0, true, true) else {
                ctx.error(INVALID_ID);
                return None;
            };
            parsed.id = Some(id);
            break;
        } else {
            ctx.error(err::SYNTAX);
            return None;
        }
        i += 1;
    }
    parsed.id_at = i;
    if parsed.limit != 0 && parsed.trim.is_none() {
        ctx.error("ERR syntax error, LIMIT cannot be used without specifying a trimming strategy");
        return None;
    }
    if !xadd && parsed.trim.is_none() {
        ctx.error("ERR syntax error, XTRIM must be called with a trimming strategy");
        return None;
    }
    if limit_given {
        if !parsed.approx {
            ctx.error("ERR syntax error, LIMIT cannot be used without the special ~ option");
            return None;
        }
    } else if parsed.approx {
        // Redis bounds an approximate trim's work to 100 nodes unless told otherwise.
        let per_node = ctx.shared.params.settings.stream_node_limits.max_entries;
        parsed.limit = match per_node.saturating_mul(100) {
            0 => 10_000,
            n => n.min(1_000_000),
        };
    } else {
        parsed.limit = 0;
    }
    Some(parsed)
}

fn xadd(ctx: &mut Ctx, args: Args) {
    let Some(parsed) = parse_add_trim(ctx, args, true) else {
        return;
    };
    let fields_at = parsed.id_at + 1;
    let nargs = args.len().saturating_sub(fields_at);
    if nargs < 2 || nargs % 2 == 1 {
        super::arity_error(ctx.out, "xadd");
        return;
    }
    if let Some(ParsedId {
        id: StreamId::MIN,
        seq_given: true,
    }) = parsed.id
    {
        ctx.error("ERR The ID specified in XADD must be greater than 0-0");
        return;
    }
    let key = args.get(1);
    let now = ctx.now;
    let (found, out) = ctx.write(key);
    let exists = match as_stream(found, out) {
        Err(()) => return,
        Ok(s) => s.is_some(),
    };
    if !exists {
        if parsed.no_mkstream {
            ctx.out.null();
            return;
        }
        ctx.db()
            .insert_new(key, Value::Stream(Box::default()), Ttl::Clear, now);
    }
    let limits = ctx.shared.params.settings.stream_node_limits;
    let pairs: Vec<&[u8]> = (fields_at..args.len()).map(|i| args.get(i)).collect();
    let (found, out) = ctx.write(key);
    let Ok(Some(stream)) = as_stream(found, out) else {
        return;
    };
    let log = &mut stream.log;
    if log.last_id == StreamId::MAX {
        out.error("ERR The stream has exhausted the last possible ID, unable to add more items");
        return;
    }
    let id = match parsed.id {
        Some(ParsedId {
            id,
            seq_given: true,
        }) => id,
        Some(ParsedId { id, .. }) if id.ms == log.last_id.ms => {
            if log.last_id.seq == u64::MAX {
                // Redis fails here without setting errno and so reports whatever error
                // the stale errno selects, in practice this one.
                out.error("ERR Elements are too large to be stored");
                return;
            }
            StreamId::new(id.ms, log.last_id.seq + 1)
        }
        Some(ParsedId { id, .. }) => id,
        None if now > log.last_id.ms => StreamId::new(now, 0),
        // The clock went back (or many entries in one ms): IDs stay monotonic.
        None => log.last_id.next().unwrap_or(StreamId::MIN),
    };
    if id <= log.last_id {
        out.error(
            "ERR The ID specified in XADD is equal or smaller than the target stream top item",
        );
        return;
    }
    if pairs.iter().map(|p| p.len() as u64).sum::<u64>() > MAX_NODE_BYTES {
        out.error("ERR Elements are too large to be stored");
        return;
    }
    log.append(id, &pairs, limits);
    reply_id(out, id);
    let trimmed = match parsed.trim {
        Some(to) => log.trim(to, parsed.approx, parsed.limit),
        None => 0,
    };
    let length_after = log.length;
    if ctx.shared.propagation.on {
        // Written with the ID it got, and an approximate trim as the exact length it left,
        // so reading the file makes the same stream (Redis rewrites both).
        let mut id_buf = [0u8; 41];
        let mut len_buf = [0u8; 20];
        let mut argv: Vec<&[u8]> = vec![b"XADD", key];
        if parsed.no_mkstream {
            argv.push(b"NOMKSTREAM");
        }
        if parsed.trim.is_some() {
            if parsed.approx {
                argv.extend([
                    &b"MAXLEN"[..],
                    b"=",
                    crate::resp::format_i64(length_after as i64, &mut len_buf),
                ]);
            } else {
                argv.extend(
                    (2..parsed.id_at)
                        .map(|i| args.get(i))
                        .filter(|a| !a.eq_ignore_ascii_case(b"nomkstream")),
                );
            }
        }
        argv.push(id.format(&mut id_buf));
        argv.extend(pairs.iter().copied());
        ctx.propagate_as(&argv);
    }
    if exists {
        ctx.modified(key);
    }
    notify(ctx, STREAM, "xadd", key);
    if trimmed > 0 {
        notify(ctx, STREAM, "xtrim", key);
    }
    ctx.db().signal_ready(key);
}

fn xlen(ctx: &mut Ctx, args: Args) {
    let (found, out) = ctx.read(args.get(1));
    if let Ok(s) = as_stream(found, out) {
        out.int(s.map_or(0, |s| s.log.length as i64));
    }
}

/// XRANGE / XREVRANGE.
fn xrange_generic(ctx: &mut Ctx, args: Args, rev: bool) {
    let (start_arg, end_arg) = if rev {
        (args.get(3), args.get(2))
    } else {
        (args.get(2), args.get(3))
    };
    let Some(start) = range_start(ctx, start_arg) else {
        return;
    };
    let Some(end) = range_end(ctx, end_arg) else {
        return;
    };
    let mut count: Option<u64> = None;
    let mut j = 4;
    while j < args.len() {
        if args.get(j).eq_ignore_ascii_case(b"count") && j + 1 < args.len() {
            let Some(n) = ctx.int_arg(args.get(j + 1)) else {
                return;
            };
            count = Some(n.max(0) as u64);
            j += 2;
        } else {
            ctx.error(err::SYNTAX);
            return;
        }
    }
    let (found, out) = ctx.read(args.get(1));
    match as_stream(found, out) {
        Err(()) => {}
        Ok(None) => out.array(0),
        Ok(Some(_)) if count == Some(0) => out.null_array(),
        Ok(Some(s)) => reply_entries(out, s.log.range(start, end, rev), count.unwrap_or(0)),
    }
}

fn xrange(ctx: &mut Ctx, args: Args) {
    xrange_generic(ctx, args, false);
}

fn xrevrange(ctx: &mut Ctx, args: Args) {
    xrange_generic(ctx, args, true);
}

fn xdel(ctx: &mut Ctx, args: Args) {
    let key = args.get(1);
    let (found, out) = ctx.write(key);
    match as_stream(found, out) {
        Err(()) => return,
        Ok(None) => return out.int(0),
        Ok(Some(_)) => {}
    }
    let mut ids = Vec::with_capacity(args.len() - 2);
    for i in 2..args.len() {
        let Some(id) = id_arg(ctx, args.get(i), 0, true) else {
            return;
        };
        ids.push(id);
    }
    let (found, out) = ctx.write(key);
    let Ok(Some(stream)) = as_stream(found, out) else {
        return;
    };
    let deleted = ids.iter().filter(|&&id| stream.log.delete(id)).count();
    if deleted > 0 {
        ctx.modified(key);
        notify(ctx, STREAM, "xdel", key);
    }
    ctx.out.int(deleted as i64);
}

fn xtrim(ctx: &mut Ctx, args: Args) {
    let Some(parsed) = parse_add_trim(ctx, args, false) else {
        return;
    };
    let key = args.get(1);
    let (found, out) = ctx.write(key);
    let stream = match as_stream(found, out) {
        Err(()) => return,
        Ok(None) => return out.int(0),
        Ok(Some(s)) => s,
    };
    let Some(to) = parsed.trim else {
        return;
    };
    let removed = stream.log.trim(to, parsed.approx, parsed.limit);
    let length_after = stream.log.length;
    if removed > 0 {
        notify(ctx, STREAM, "xtrim", key);
        ctx.modified(key);
        if parsed.approx {
            // What an approximate trim removed depends on the nodes: written as the
            // exact length it left.
            let mut len_buf = [0u8; 20];
            let len = crate::resp::format_i64(length_after as i64, &mut len_buf);
            ctx.propagate_as(&[b"XTRIM", key, b"MAXLEN", b"=", len]);
        }
    }
    ctx.out.int(removed as i64);
}

fn xsetid(ctx: &mut Ctx, args: Args) {
    let Some(id) = id_arg(ctx, args.get(2), 0, true) else {
        return;
    };
    let mut entries_added: Option<u64> = None;
    let mut max_deleted = StreamId::MIN;
    let mut i = 3;
    while i < args.len() {
        let more = args.len() - 1 - i;
        let opt = args.get(i);
        if opt.eq_ignore_ascii_case(b"entriesadded") && more > 0 {
            let Some(n) = ctx.int_arg(args.get(i + 1)) else {
                return;
            };
            if n < 0 {
                ctx.error("ERR entries_added must be positive");
                return;
            }
            entries_added = Some(n as u64);
        } else if opt.eq_ignore_ascii_case(b"maxdeletedid") && more > 0 {
            let Some(m) = id_arg(ctx, args.get(i + 1), 0, true) else {
                return;
            };
            if id < m {
                ctx.error("ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id");
                return;
            }
            max_deleted = m;
        } else {
            ctx.error(err::SYNTAX);
            return;
        }
        i += 2;
    }
    let key = args.get(1);
    let (found, out) = ctx.write(key);
    let stream = match as_stream(found, out) {
        Err(()) => return,
        Ok(None) => return out.error(err::NO_SUCH_KEY),
        Ok(Some(s)) => s,
    };
    let log = &mut stream.log;
    if log.length > 0 {
        if log.last_live_id().is_some_and(|top| id < top) {
            out.error("ERR The ID specified in XSETID is smaller than the target stream top item");
            return;
        }
        if entries_added.is_some_and(|n| log.length > n) {
            out.error("ERR The entries_added specified in XSETID is smaller than the target stream length");
            return;
        }
    }
    log.last_id = id;
    if let Some(n) = entries_added {
        log.entries_added = n;
    }
    if !max_deleted.is_zero() {
        log.max_deleted_id = max_deleted;
    }
    out.ok();
    ctx.modified(key);
    notify(ctx, STREAM, "xsetid", key);
}

/// A COUNT-like argument as Redis reads it with getLongLongFromObjectOrReply, negative
/// meaning 0.
fn count_arg(ctx: &mut Ctx, arg: &[u8]) -> Option<u64> {
    ctx.int_arg(arg).map(|n| n.max(0) as u64)
}

/// Redis's `%s` of a C string argument in an error: cut at the first NUL.
fn c_str(arg: &[u8]) -> &[u8] {
    super::c_bytes(arg, usize::MAX)
}

/// True when the argument is `s` as C's `strcmp` sees it (up to a NUL byte).
fn is_exactly(arg: &[u8], s: &[u8]) -> bool {
    c_str(arg) == s
}
