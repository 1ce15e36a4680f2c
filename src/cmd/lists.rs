//! List commands (Redis's t_list.c): pushes and pops at both ends, ranges, indexes, LREM,
//! LTRIM, LINSERT, LPOS, LMOVE and RPOPLPUSH.
//!
//! Every handler parses its arguments in Redis's order (so that the same bad request gets
//! the same error), then applies. A list that becomes empty is deleted.

use super::flags::{DENYOOM, FAST, READONLY, WRITE};
use super::notify::{self, GENERIC, LIST, notify};
use super::{Command, Ctx, arity_error, err};
use crate::resp::{Args, Reply, format_i64, parse_i64};
use crate::store::list::{Elem, Needle};
use crate::store::{Entry, List, Ttl, Value};

/// The family's command table.
#[rustfmt::skip]
pub const COMMANDS: &[Command] = &[
    Command { name: "lpush", arity: -3, flags: WRITE | DENYOOM | FAST, keys: (1, 1, 1), group: "list", handler: lpush },
    Command { name: "rpush", arity: -3, flags: WRITE | DENYOOM | FAST, keys: (1, 1, 1), group: "list", handler: rpush },
    Command { name: "lpushx", arity: -3, flags: WRITE | DENYOOM | FAST, keys: (1, 1, 1), group: "list", handler: lpushx },
    Command { name: "rpushx", arity: -3, flags: WRITE | DENYOOM | FAST, keys: (1, 1, 1), group: "list", handler: rpushx },
    Command { name: "lpop", arity: -2, flags: WRITE | FAST, keys: (1, 1, 1), group: "list", handler: lpop },
    Command { name: "rpop", arity: -2, flags: WRITE | FAST, keys: (1, 1, 1), group: "list", handler: rpop },
    Command { name: "llen", arity: 2, flags: READONLY | FAST, keys: (1, 1, 1), group: "list", handler: llen },
    Command { name: "lrange", arity: 4, flags: READONLY, keys: (1, 1, 1), group: "list", handler: lrange },
    Command { name: "lindex", arity: 3, flags: READONLY, keys: (1, 1, 1), group: "list", handler: lindex },
    Command { name: "lset", arity: 4, flags: WRITE | DENYOOM, keys: (1, 1, 1), group: "list", handler: lset },
    Command { name: "lrem", arity: 4, flags: WRITE, keys: (1, 1, 1), group: "list", handler: lrem },
    Command { name: "ltrim", arity: 4, flags: WRITE, keys: (1, 1, 1), group: "list", handler: ltrim },
    Command { name: "linsert", arity: 5, flags: WRITE | DENYOOM, keys: (1, 1, 1), group: "list", handler: linsert },
    Command { name: "lpos", arity: -3, flags: READONLY, keys: (1, 1, 1), group: "list", handler: lpos },
    Command { name: "lmove", arity: 5, flags: WRITE | DENYOOM, keys: (1, 2, 1), group: "list", handler: lmove },
    Command { name: "rpoplpush", arity: 3, flags: WRITE | DENYOOM, keys: (1, 2, 1), group: "list", handler: rpoplpush },
];

/// Redis's `outofrangeerr` (LSET past the end).
const INDEX_OUT_OF_RANGE: &str = "ERR index out of range";
/// Redis's `getPositiveLongFromObjectOrReply` error without a custom message.
const MUST_BE_POSITIVE: &str = "ERR value is out of range, must be positive";

/// The list held by `value`, or None (after replying WRONGTYPE) for other types.
#[inline]
fn as_list<'v>(value: &'v mut Value, out: &mut Reply) -> Option<&'v mut List> {
    match value {
        Value::List(l) => Some(l),
        _ => {
            out.error(err::WRONGTYPE);
            None
        }
    }
}

/// After removing elements from the list at `key` (and notifying the command's own
/// event): deletes the key when the list is empty, with Redis's `del` event, otherwise
/// tells WATCH it changed.
pub(super) fn after_removal(ctx: &mut Ctx, key: &[u8], empty: bool) {
    if empty {
        let now = ctx.now;
        ctx.db().remove(key, now);
        notify(ctx, GENERIC, "del", key);
    } else {
        ctx.modified(key);
    }
}

/// The event of a push at the head (`front`) or the tail.
fn push_event(front: bool) -> &'static str {
    if front { "lpush" } else { "rpush" }
}

/// The event of a pop from the head (`front`) or the tail.
fn pop_event(front: bool) -> &'static str {
    if front { "lpop" } else { "rpop" }
}

/// LPUSH, RPUSH, LPUSHX, RPUSHX: pushes every element in argument order at the head
/// (`front`) or the tail; the X forms (`only_existing`) never create the key.
fn push_generic(ctx: &mut Ctx, args: Args, front: bool, only_existing: bool) {
    let key = args.get(1);
    let elements = args.iter().skip(2);
    let now = ctx.now;
    let fill = ctx.limits().list_fill;
    let len = match ctx.write(key) {
        (Some(e), out) => {
            let Some(list) = as_list(&mut e.value, out) else {
                return;
            };
            for el in elements {
                list.push(el, front, fill);
            }
            let n = list.len();
            ctx.modified(key);
            n
        }
        (None, out) if only_existing => {
            out.int(0);
            return;
        }
        (None, _) => {
            let mut list = List::new();
            for el in elements {
                list.push(el, front, fill);
            }
            let n = list.len();
            ctx.db().insert_new(key, Value::List(list), Ttl::Clear, now);
            // `new` goes out where Redis creates the key: before the reply.
            notify::flush_store_events(ctx);
            n
        }
    };
    ctx.out.int(len as i64);
    // One event per command, not per element.
    notify(ctx, LIST, push_event(front), key);
}

fn lpush(ctx: &mut Ctx, args: Args) {
    push_generic(ctx, args, true, false);
}

fn rpush(ctx: &mut Ctx, args: Args) {
    push_generic(ctx, args, false, false);
}

fn lpushx(ctx: &mut Ctx, args: Args) {
    push_generic(ctx, args, true, true);
}

fn rpushx(ctx: &mut Ctx, args: Args) {
    push_generic(ctx, args, false, true);
}

/// LPOP / RPOP key [count] (Redis's `popGenericCommand`).
fn pop_generic(ctx: &mut Ctx, args: Args, front: bool, name: &str) {
    if args.len() > 3 {
        arity_error(ctx.out, name);
        return;
    }
    let count = if args.len() == 3 {
        match parse_i64(args.get(2)) {
            Some(c) if c >= 0 => Some(c as u64),
            _ => {
                ctx.error(MUST_BE_POSITIVE);
                return;
            }
        }
    } else {
        None
    };
    let key = args.get(1);
    let empty = match ctx.write(key) {
        (None, out) => {
            if count.is_some() {
                out.null_array();
            } else {
                out.null();
            }
            return;
        }
        (Some(e), out) => {
            let Some(list) = as_list(&mut e.value, out) else {
                return;
            };
            match count {
                None => {
                    if let Some(el) = list.pop(front) {
                        out.bulk(&el);
                    }
                }
                Some(0) => {
                    out.array(0);
                    return;
                }
                Some(c) => {
                    let n = c.min(list.len() as u64) as usize;
                    out.array(n);
                    for _ in 0..n {
                        if let Some(el) = list.pop(front) {
                            out.bulk(&el);
                        }
                    }
                }
            }
            list.is_empty()
        }
    };
    notify(ctx, LIST, pop_event(front), key);
    after_removal(ctx, key, empty);
}

fn lpop(ctx: &mut Ctx, args: Args) {
    pop_generic(ctx, args, true, "lpop");
}

fn rpop(ctx: &mut Ctx, args: Args) {
    pop_generic(ctx, args, false, "rpop");
}

fn llen(ctx: &mut Ctx, args: Args) {
    match ctx.read(args.get(1)) {
        (None, out) => out.int(0),
        (Some(e), out) => {
            if let Some(list) = as_list(&mut e.value, out) {
                out.int(list.len() as i64);
            }
        }
    }
}

/// Resolves LRANGE-style `start` and `end` (negative counts from the tail) against a list
/// of `len` elements, as Redis's `addListRangeReply` and LTRIM do: None when the range is
/// empty, else in-range `(start, end)` inclusive.
fn clamp_range(start: i64, end: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let start = if start < 0 { len + start } else { start }.max(0);
    let end = if end < 0 { len + end } else { end };
    if start > end || start >= len {
        return None;
    }
    Some((start as usize, end.min(len - 1) as usize))
}

fn lrange(ctx: &mut Ctx, args: Args) {
    let Some(start) = ctx.int_arg(args.get(2)) else {
        return;
    };
    let Some(end) = ctx.int_arg(args.get(3)) else {
        return;
    };
    let (found, out) = ctx.read(args.get(1));
    let Some(e) = found else {
        out.array(0);
        return;
    };
    let Some(list) = as_list(&mut e.value, out) else {
        return;
    };
    match clamp_range(start, end, list.len()) {
        None => out.array(0),
        Some((start, end)) => {
            out.array(end - start + 1);
            reply_elements(out, list.range(start, end));
        }
    }
}

/// Bytes of encoding buffered before handing them to the reply in one copy.
const BATCH: usize = 4096;
/// Longest element encoded through the batch buffer.
const SHORT: usize = 99;
/// Most bytes one short element takes: `$`, two length digits, CRLF, the bytes, CRLF.
const SHORT_MAX_ENCODED: usize = 1 + 2 + 2 + SHORT + 2;

/// One element as a bulk string.
#[inline]
pub(super) fn reply_elem(out: &mut Reply, el: Elem) {
    match el {
        Elem::Int(v) => out.bulk_i64(v),
        Elem::Bytes(b) => out.bulk(b),
    }
}

/// Encodes elements as bulk strings, exactly as [`Reply::bulk`] would. LRANGE spends its
/// time here (perf: per-element `bulk` calls, integer formatting and small `memcpy`s were
/// three quarters of LRANGE_600), so short elements are encoded into a stack buffer and
/// handed over in batches; long ones go through `bulk`.
fn reply_elements<'a>(out: &mut Reply, elements: impl Iterator<Item = Elem<'a>>) {
    let mut buf = [0u8; BATCH + SHORT_MAX_ENCODED];
    let mut n = 0;
    let mut tmp = [0u8; 20];
    for el in elements {
        let bytes = match el {
            Elem::Int(v) => format_i64(v, &mut tmp),
            Elem::Bytes(b) => b,
        };
        let len = bytes.len();
        if len > SHORT {
            out.raw(&buf[..n]);
            n = 0;
            out.bulk(bytes);
            continue;
        }
        buf[n] = b'$';
        if len < 10 {
            buf[n + 1] = b'0' + len as u8;
            n += 2;
        } else {
            buf[n + 1] = b'0' + (len / 10) as u8;
            buf[n + 2] = b'0' + (len % 10) as u8;
            n += 3;
        }
        buf[n..n + 2].copy_from_slice(b"\r\n");
        buf[n + 2..n + 2 + len].copy_from_slice(bytes);
        n += 2 + len;
        buf[n..n + 2].copy_from_slice(b"\r\n");
        n += 2;
        if n >= BATCH {
            out.raw(&buf[..n]);
            n = 0;
        }
    }
    out.raw(&buf[..n]);
}

/// Resolves an LINDEX / LSET index (negative counts from the tail), None when outside.
fn resolve_index(index: i64, len: usize) -> Option<usize> {
    let i = if index < 0 { len as i64 + index } else { index };
    (0..len as i64).contains(&i).then_some(i as usize)
}

fn lindex(ctx: &mut Ctx, args: Args) {
    // Redis looks the key up before parsing the index.
    let (found, out) = ctx.read(args.get(1));
    let Some(e) = found else {
        out.null();
        return;
    };
    let Some(list) = as_list(&mut e.value, out) else {
        return;
    };
    let Some(index) = parse_i64(args.get(2)) else {
        out.error(err::NOT_INTEGER);
        return;
    };
    match resolve_index(index, list.len()).and_then(|i| list.get(i)) {
        Some(el) => reply_elem(out, el),
        None => out.null(),
    }
}

fn lset(ctx: &mut Ctx, args: Args) {
    let key = args.get(1);
    let fill = ctx.limits().list_fill;
    let (found, out) = ctx.write(key);
    let Some(e) = found else {
        out.error(err::NO_SUCH_KEY);
        return;
    };
    let Some(list) = as_list(&mut e.value, out) else {
        return;
    };
    let Some(index) = parse_i64(args.get(2)) else {
        out.error(err::NOT_INTEGER);
        return;
    };
    match resolve_index(index, list.len()) {
        Some(i) if list.set(i, args.get(3), fill) => {
            out.ok();
            ctx.modified(key);
            notify(ctx, LIST, "lset", key);
        }
        _ => out.error(INDEX_OUT_OF_RANGE),
    }
}

fn lrem(ctx: &mut Ctx, args: Args) {
    let Some(count) = ctx.int_arg(args.get(2)) else {
        return;
    };
    let key = args.get(1);
    let fill = ctx.limits().list_fill;
    let (found, out) = ctx.write(key);
    let Some(e) = found else {
        out.int(0);
        return;
    };
    let Some(list) = as_list(&mut e.value, out) else {
        return;
    };
    // count > 0: the first `count` from the head; < 0: from the tail; 0: all. Redis
    // negates i64::MIN into itself, which then never equals the number removed: all go.
    let limit = if count == i64::MIN {
        0
    } else {
        count.unsigned_abs() as usize
    };
    let removed = list.remove_matching(args.get(3), limit, count < 0, fill);
    let empty = list.is_empty();
    // Nothing removed, nothing published; otherwise the events precede the reply.
    if removed > 0 {
        notify(ctx, LIST, "lrem", key);
        after_removal(ctx, key, empty);
    }
    ctx.out.int(removed as i64);
}

fn ltrim(ctx: &mut Ctx, args: Args) {
    let Some(start) = ctx.int_arg(args.get(2)) else {
        return;
    };
    let Some(end) = ctx.int_arg(args.get(3)) else {
        return;
    };
    let key = args.get(1);
    let (found, out) = ctx.write(key);
    let Some(e) = found else {
        out.ok();
        return;
    };
    let Some(list) = as_list(&mut e.value, out) else {
        return;
    };
    let len = list.len();
    match clamp_range(start, end, len) {
        None => list.trim(len, 0),
        Some((start, end)) => list.trim(start, len - end - 1),
    }
    let empty = list.is_empty();
    // Redis signals and notifies the key even when nothing was trimmed, before replying.
    notify(ctx, LIST, "ltrim", key);
    after_removal(ctx, key, empty);
    ctx.out.ok();
}

fn linsert(ctx: &mut Ctx, args: Args) {
    let after = match args.get(2) {
        w if w.eq_ignore_ascii_case(b"after") => true,
        w if w.eq_ignore_ascii_case(b"before") => false,
        _ => {
            ctx.error(err::SYNTAX);
            return;
        }
    };
    let key = args.get(1);
    let fill = ctx.limits().list_fill;
    let (found, out) = ctx.write(key);
    let Some(e) = found else {
        out.int(0);
        return;
    };
    let Some(list) = as_list(&mut e.value, out) else {
        return;
    };
    match list.position(args.get(3)) {
        Some(i) => {
            list.insert(if after { i + 1 } else { i }, args.get(4), fill);
            let len = list.len();
            ctx.modified(key);
            notify(ctx, LIST, "linsert", key);
            ctx.out.int(len as i64);
        }
        None => out.int(-1),
    }
}

/// Options of LPOS.
struct LposOptions {
    /// RANK: which match to start from; negative searches from the tail.
    rank: i64,
    /// COUNT: None when not given (reply is one index or null), Some(0) for all.
    count: Option<i64>,
    /// MAXLEN: how many elements to compare at most (0 = all).
    maxlen: i64,
}

/// Parses LPOS options as Redis does, replying with its error on bad input.
fn parse_lpos_options(ctx: &mut Ctx, args: Args) -> Option<LposOptions> {
    let mut o = LposOptions {
        rank: 1,
        count: None,
        maxlen: 0,
    };
    let mut j = 3;
    while j < args.len() {
        let opt = args.get(j);
        let has_value = j + 1 < args.len();
        // COUNT and MAXLEN give their own message for anything not a non-negative integer.
        let non_negative = |v: &[u8]| parse_i64(v).filter(|&n| n >= 0);
        if opt.eq_ignore_ascii_case(b"rank") && has_value {
            j += 1;
            o.rank = ctx.int_arg(args.get(j))?;
            if o.rank == 0 {
                ctx.error(
                    "ERR RANK can't be zero: use 1 to start from the first match, 2 from the \
                     second ... or use negative to start from the end of the list",
                );
                return None;
            }
        } else if opt.eq_ignore_ascii_case(b"count") && has_value {
            j += 1;
            let Some(c) = non_negative(args.get(j)) else {
                ctx.error("ERR COUNT can't be negative");
                return None;
            };
            o.count = Some(c);
        } else if opt.eq_ignore_ascii_case(b"maxlen") && has_value {
            j += 1;
            let Some(m) = non_negative(args.get(j)) else {
                ctx.error("ERR MAXLEN can't be negative");
                return None;
            };
            o.maxlen = m;
        } else {
            ctx.error(err::SYNTAX);
            return None;
        }
        j += 1;
    }
    Some(o)
}

fn lpos(ctx: &mut Ctx, args: Args) {
    let Some(LposOptions {
        mut rank,
        count,
        maxlen,
    }) = parse_lpos_options(ctx, args)
    else {
        return;
    };
    // A negative rank searches from the tail. Redis negates with C arithmetic, so
    // RANK i64::MIN stays negative: it then takes the first match from the tail, and the
    // COUNT test below wraps so that every match is returned; wrapping ops keep that.
    let from_tail = rank < 0;
    if from_tail {
        rank = rank.wrapping_neg();
    }
    let (found, out) = ctx.read(args.get(1));
    let Some(e) = found else {
        if count.is_some() {
            out.array(0);
        } else {
            out.null();
        }
        return;
    };
    let Some(list) = as_list(&mut e.value, out) else {
        return;
    };
    let len = list.len();
    let limit = if maxlen == 0 {
        len
    } else {
        len.min(maxlen as usize)
    };
    let needle = Needle::new(args.get(2));
    let mut matches: i64 = 0;
    let deferred = count.map(|_| out.begin_deferred());
    let mut emitted = 0usize;
    let mut single = None;
    // One walk over the packed nodes, from the chosen end.
    let mut forward = list.iter();
    let mut backward = list.iter();
    for i in 0..limit {
        let (index, el) = if from_tail {
            (len - i - 1, backward.next_back())
        } else {
            (i, forward.next())
        };
        if !el.is_some_and(|e| e.matches(&needle)) {
            continue;
        }
        matches += 1;
        if matches < rank {
            continue;
        }
        match count {
            None => {
                single = Some(index);
                break;
            }
            Some(c) => {
                out.int(index as i64);
                emitted += 1;
                if c != 0 && matches.wrapping_sub(rank).wrapping_add(1) >= c {
                    break;
                }
            }
        }
    }
    match deferred {
        Some(at) => out.end_deferred(at, b'*', emitted),
        None => match single {
            Some(i) => out.int(i as i64),
            None => out.null(),
        },
    }
}

/// Parses LMOVE's LEFT / RIGHT: true for LEFT (the head).
pub(super) fn parse_side(ctx: &mut Ctx, arg: &[u8]) -> Option<bool> {
    if arg.eq_ignore_ascii_case(b"left") {
        Some(true)
    } else if arg.eq_ignore_ascii_case(b"right") {
        Some(false)
    } else {
        ctx.error(err::SYNTAX);
        None
    }
}

/// Pops from `src` (head when `from_front`) and pushes onto `dst` (head when `to_front`),
/// replying with the element (Redis's `lmoveGenericCommand`).
///
/// Events as Redis orders them: `new` (dst created) and the push on `dst`, the reply, then
/// the pop on `src` and its `del` when it became empty.
pub(super) fn lmove_generic(
    ctx: &mut Ctx,
    src: &[u8],
    dst: &[u8],
    from_front: bool,
    to_front: bool,
) {
    let now = ctx.now;
    let fill = ctx.limits().list_fill;
    match ctx.write(src) {
        (None, out) => {
            out.null();
            return;
        }
        (Some(e), out) => {
            let Some(list) = as_list(&mut e.value, out) else {
                return;
            };
            if src == dst {
                // Rotation within one list: never empty.
                let Some(el) = list.pop(from_front) else {
                    out.null();
                    return;
                };
                list.push(&el, to_front, fill);
                ctx.modified(src);
                notify(ctx, LIST, push_event(to_front), dst);
                ctx.out.bulk(&el);
                notify(ctx, LIST, pop_event(from_front), src);
                propagate_lmove(ctx, src, dst, from_front, to_front);
                return;
            }
        }
    }
    // The destination's type is checked before anything is popped.
    if let (Some(e), out) = ctx.write(dst)
        && !matches!(e.value, Value::List(_))
    {
        out.error(err::WRONGTYPE);
        return;
    }
    let (el, empty) = match ctx.write(src).0 {
        Some(Entry {
            value: Value::List(list),
            ..
        }) => match list.pop(from_front) {
            Some(el) => (el, list.is_empty()),
            None => return,
        },
        _ => return,
    };
    match ctx.write(dst).0 {
        Some(Entry {
            value: Value::List(list),
            ..
        }) => {
            list.push(&el, to_front, fill);
            ctx.modified(dst);
        }
        _ => {
            let mut list = List::new();
            list.push(&el, to_front, fill);
            ctx.db().insert_new(dst, Value::List(list), Ttl::Clear, now);
        }
    }
    notify(ctx, LIST, push_event(to_front), dst);
    ctx.out.bulk(&el);
    notify(ctx, LIST, pop_event(from_front), src);
    after_removal(ctx, src, empty);
    propagate_lmove(ctx, src, dst, from_front, to_front);
}

/// A move is written as LMOVE (BLMOVE and BRPOPLPUSH served later must not block when
/// the file is read).
fn propagate_lmove(ctx: &mut Ctx, src: &[u8], dst: &[u8], from_front: bool, to_front: bool) {
    let side = |front: bool| -> &'static [u8] { if front { b"LEFT" } else { b"RIGHT" } };
    ctx.propagate_as(&[b"LMOVE", src, dst, side(from_front), side(to_front)]);
}

fn lmove(ctx: &mut Ctx, args: Args) {
    let Some(from_front) = parse_side(ctx, args.get(3)) else {
        return;
    };
    let Some(to_front) = parse_side(ctx, args.get(4)) else {
        return;
    };
    lmove_generic(ctx, args.get(1), args.get(2), from_front, to_front);
}

fn rpoplpush(ctx: &mut Ctx, args: Args) {
    lmove_generic(ctx, args.get(1), args.get(2), false, true);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_clamp_like_redis() {
        assert_eq!(clamp_range(0, -1, 3), Some((0, 2)));
        assert_eq!(clamp_range(-100, 100, 3), Some((0, 2)));
        assert_eq!(clamp_range(1, 0, 3), None);
        assert_eq!(clamp_range(3, 5, 3), None);
        assert_eq!(clamp_range(0, -4, 3), None);
        assert_eq!(clamp_range(i64::MIN, i64::MAX, 3), Some((0, 2)));
        assert_eq!(clamp_range(0, 0, 0), None);
    }

    #[test]
    fn batched_encoding_matches_bulk() {
        let texts: Vec<Vec<u8>> = [0usize, 1, 9, 10, 21, 22, 23, 99, 100, 1000]
            .iter()
            .map(|&len| vec![b'x'; len])
            .collect();
        let mut elements: Vec<Elem> = texts.iter().map(|t| Elem::Bytes(t)).collect();
        elements.extend([Elem::Int(0), Elem::Int(-17), Elem::Int(i64::MIN)]);
        // Enough to cross several batches, with long elements in between.
        let many: Vec<Elem> = elements.iter().copied().cycle().take(5000).collect();
        let mut fast = Reply::new();
        reply_elements(&mut fast, many.iter().copied());
        let mut slow = Reply::new();
        for e in &many {
            e.with_bytes(|b| slow.bulk(b));
        }
        assert_eq!(fast.bytes(), slow.bytes());
    }

    #[test]
    fn indexes_resolve_from_either_end() {
        assert_eq!(resolve_index(0, 3), Some(0));
        assert_eq!(resolve_index(-1, 3), Some(2));
        assert_eq!(resolve_index(-3, 3), Some(0));
        assert_eq!(resolve_index(-4, 3), None);
        assert_eq!(resolve_index(3, 3), None);
        assert_eq!(resolve_index(i64::MIN, 3), None);
        assert_eq!(resolve_index(i64::MAX, 3), None);
    }
}
