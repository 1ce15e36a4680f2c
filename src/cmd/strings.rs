//! String commands (Redis's t_string.c): SET and its variants, GET and its variants,
//! counters, APPEND, STRLEN, GETRANGE, SETRANGE, MGET, MSET.

use super::flags::{DENYOOM, FAST, READONLY, WRITE};
use super::notify::lookup_events;
use super::notify::{self, GENERIC, STRING};
use super::{Command, Ctx, arity_error, err};
use crate::longdouble::{FloatError, incr_by_float};
use crate::resp::{Args, Reply};
use crate::store::{Str, Ttl, Value};

/// The string family's command table.
#[rustfmt::skip]
pub const COMMANDS: &[Command] = &[
    Command { name: "get", arity: 2, flags: READONLY | FAST, keys: (1, 1, 1), group: "string", handler: get },
    Command { name: "set", arity: -3, flags: WRITE | DENYOOM, keys: (1, 1, 1), group: "string", handler: set },
    Command { name: "setnx", arity: 3, flags: WRITE | DENYOOM | FAST, keys: (1, 1, 1), group: "string", handler: setnx },
    Command { name: "setex", arity: 4, flags: WRITE | DENYOOM, keys: (1, 1, 1), group: "string", handler: setex },
    Command { name: "psetex", arity: 4, flags: WRITE | DENYOOM, keys: (1, 1, 1), group: "string", handler: psetex },
    Command { name: "getset", arity: 3, flags: WRITE | DENYOOM | FAST, keys: (1, 1, 1), group: "string", handler: getset },
    Command { name: "getdel", arity: 2, flags: WRITE | FAST, keys: (1, 1, 1), group: "string", handler: getdel },
    Command { name: "getex", arity: -2, flags: WRITE | FAST, keys: (1, 1, 1), group: "string", handler: getex },
    Command { name: "mget", arity: -2, flags: READONLY | FAST, keys: (1, -1, 1), group: "string", handler: mget },
    Command { name: "mset", arity: -3, flags: WRITE | DENYOOM, keys: (1, -1, 2), group: "string", handler: mset },
    Command { name: "msetnx", arity: -3, flags: WRITE | DENYOOM, keys: (1, -1, 2), group: "string", handler: msetnx },
    Command { name: "incr", arity: 2, flags: WRITE | DENYOOM | FAST, keys: (1, 1, 1), group: "string", handler: incr },
    Command { name: "decr", arity: 2, flags: WRITE | DENYOOM | FAST, keys: (1, 1, 1), group: "string", handler: decr },
    Command { name: "incrby", arity: 3, flags: WRITE | DENYOOM | FAST, keys: (1, 1, 1), group: "string", handler: incrby },
    Command { name: "decrby", arity: 3, flags: WRITE | DENYOOM | FAST, keys: (1, 1, 1), group: "string", handler: decrby },
    Command { name: "incrbyfloat", arity: 3, flags: WRITE | DENYOOM | FAST, keys: (1, 1, 1), group: "string", handler: incrbyfloat },
    Command { name: "append", arity: 3, flags: WRITE | DENYOOM, keys: (1, 1, 1), group: "string", handler: append },
    Command { name: "strlen", arity: 2, flags: READONLY | FAST, keys: (1, 1, 1), group: "string", handler: strlen },
    Command { name: "getrange", arity: 4, flags: READONLY, keys: (1, 1, 1), group: "string", handler: getrange },
    Command { name: "substr", arity: 4, flags: READONLY, keys: (1, 1, 1), group: "string", handler: getrange },
    Command { name: "setrange", arity: 4, flags: WRITE | DENYOOM, keys: (1, 1, 1), group: "string", handler: setrange },
];

/// Replies with a string value as a bulk string.
#[inline]
fn reply_str(out: &mut Reply, s: &Str) {
    match s {
        Str::Int(v) => out.bulk_i64(*v),
        other => out.bulk(other.raw_bytes().unwrap_or_default()),
    }
}

/// The string held by `value`, or None (after replying WRONGTYPE) for other types.
#[inline]
fn as_str<'v>(value: &'v mut Value, out: &mut Reply) -> Option<&'v mut Str> {
    match value {
        Value::Str(s) => Some(s),
        _ => {
            out.error(err::WRONGTYPE);
            None
        }
    }
}

fn get(ctx: &mut Ctx, args: Args) {
    if let (Some(e), out) = ctx.read(args.get(1)) {
        if let Some(s) = as_str(&mut e.value, out) {
            reply_str(out, s);
        }
        return;
    }
    lookup_events(ctx);
    ctx.out.null();
}

/// GET's half of SET ... GET, GETSET, GETDEL: replies with the old value or null.
/// Returns Err(()) after replying WRONGTYPE, Ok(found) otherwise.
fn reply_old_value(ctx: &mut Ctx, key: &[u8]) -> Result<bool, ()> {
    if let (Some(e), out) = ctx.read(key) {
        return match as_str(&mut e.value, out) {
            Some(s) => {
                reply_str(out, s);
                Ok(true)
            }
            None => Err(()),
        };
    }
    lookup_events(ctx);
    ctx.out.null();
    Ok(false)
}

/// Which expiry argument SET / GETEX got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ExpireKind {
    /// EX seconds (relative)
    Ex,
    /// PX milliseconds (relative)
    Px,
    /// EXAT unix seconds
    ExAt,
    /// PXAT unix milliseconds
    PxAt,
}

/// Options of SET and GETEX, as Redis's `parseExtendedStringArgumentsOrReply` reads them.
#[derive(Debug, Default)]
struct SetOptions<'a> {
    nx: bool,
    xx: bool,
    get: bool,
    keep_ttl: bool,
    persist: bool,
    expire: Option<(ExpireKind, &'a [u8])>,
}

/// Parses options from `args[from..]`. `for_getex` allows PERSIST and refuses NX, XX, GET
/// and KEEPTTL. Err means a syntax error.
fn parse_set_options<'a>(
    args: Args<'a>,
    from: usize,
    for_getex: bool,
) -> Result<SetOptions<'a>, ()> {
    let mut o = SetOptions::default();
    let mut j = from;
    while j < args.len() {
        let opt = args.get(j);
        let next = (j + 1 < args.len()).then(|| args.get(j + 1));
        let is = |name: &str| opt.eq_ignore_ascii_case(name.as_bytes());
        let other_expire = |k: ExpireKind| o.expire.is_some_and(|(x, _)| x != k);
        if is("nx") && !o.xx && !for_getex {
            o.nx = true;
        } else if is("xx") && !o.nx && !for_getex {
            o.xx = true;
        } else if is("get") && !for_getex {
            o.get = true;
        } else if is("keepttl") && !o.persist && o.expire.is_none() && !for_getex {
            o.keep_ttl = true;
        } else if is("persist") && for_getex && o.expire.is_none() && !o.keep_ttl {
            o.persist = true;
        } else if let (Some(kind), Some(value)) = (
            [
                ("ex", ExpireKind::Ex),
                ("px", ExpireKind::Px),
                ("exat", ExpireKind::ExAt),
                ("pxat", ExpireKind::PxAt),
            ]
            .iter()
            .find(|(n, _)| is(n))
            .map(|&(_, k)| k),
            next,
        ) {
            // The same option may repeat (the last wins); two different ones may not.
            if o.keep_ttl || o.persist || other_expire(kind) {
                return Err(());
            }
            o.expire = Some((kind, value));
            j += 1;
        } else {
            return Err(());
        }
        j += 1;
    }
    Ok(o)
}

/// Converts an expiry argument to an absolute time in ms, replying Redis's error
/// (`invalid expire time in '<cmd>' command`) when it is not positive or overflows.
fn expire_at_ms(ctx: &mut Ctx, kind: ExpireKind, arg: &[u8], cmd: &str) -> Option<u64> {
    let v = ctx.int_arg(arg)?;
    let seconds = matches!(kind, ExpireKind::Ex | ExpireKind::ExAt);
    let ms = if v <= 0 || (seconds && v > i64::MAX / 1000) {
        None
    } else {
        let ms = if seconds { v * 1000 } else { v };
        match kind {
            ExpireKind::Ex | ExpireKind::Px => ms.checked_add(ctx.now as i64),
            ExpireKind::ExAt | ExpireKind::PxAt => Some(ms),
        }
    };
    if ms.is_none() {
        ctx.error(&format!("ERR invalid expire time in '{cmd}' command"));
    }
    ms.map(|m| m as u64)
}

/// SET key value, with the TTL and condition semantics shared by SET, SETNX, SETEX and
/// PSETEX (Redis's `setGenericCommand`). Returns true when the key was written.
fn set_generic(ctx: &mut Ctx, key: &[u8], value: &[u8], o: &SetOptions, cmd: &str) -> Option<bool> {
    let ttl = match o.expire {
        Some((kind, arg)) => Ttl::At(expire_at_ms(ctx, kind, arg, cmd)?),
        None if o.keep_ttl => Ttl::Keep,
        None => Ttl::Clear,
    };
    if o.get && reply_old_value(ctx, key).is_err() {
        return None;
    }
    if o.nx || o.xx {
        let found = ctx.write(key).0.is_some();
        if (o.nx && found) || (o.xx && !found) {
            lookup_events(ctx);
            return Some(false);
        }
    }
    let now = ctx.now;
    ctx.db().upsert_with(key, ttl, now, |old| match old {
        Some(Value::Str(s)) => {
            s.assign(value);
            None
        }
        _ => Some(Value::Str(Str::from_bytes(value))),
    });
    notify::notify(ctx, STRING, "set", key);
    if o.expire.is_some() {
        notify::notify(ctx, GENERIC, "expire", key);
    }
    if let Ttl::At(at) = ttl {
        // Written with the absolute time, as Redis propagates it.
        let mut digits = [0u8; 20];
        let at = crate::resp::format_i64(at as i64, &mut digits);
        ctx.propagate_as(&[b"SET", key, value, b"PXAT", at]);
    }
    Some(true)
}

fn set(ctx: &mut Ctx, args: Args) {
    let Ok(o) = parse_set_options(args, 3, false) else {
        ctx.error(err::SYNTAX);
        return;
    };
    match set_generic(ctx, args.get(1), args.get(2), &o, "set") {
        Some(true) if !o.get => ctx.out.ok(),
        Some(false) if !o.get => ctx.out.null(),
        _ => {}
    }
}

fn setnx(ctx: &mut Ctx, args: Args) {
    let o = SetOptions {
        nx: true,
        ..SetOptions::default()
    };
    if let Some(written) = set_generic(ctx, args.get(1), args.get(2), &o, "setnx") {
        ctx.out.int(i64::from(written));
    }
}

fn setex(ctx: &mut Ctx, args: Args) {
    setex_generic(ctx, args, ExpireKind::Ex, "setex");
}

fn psetex(ctx: &mut Ctx, args: Args) {
    setex_generic(ctx, args, ExpireKind::Px, "psetex");
}

fn setex_generic(ctx: &mut Ctx, args: Args, kind: ExpireKind, cmd: &str) {
    let o = SetOptions {
        expire: Some((kind, args.get(2))),
        ..SetOptions::default()
    };
    if set_generic(ctx, args.get(1), args.get(3), &o, cmd).is_some() {
        ctx.out.ok();
    }
}

fn getset(ctx: &mut Ctx, args: Args) {
    let o = SetOptions {
        get: true,
        ..SetOptions::default()
    };
    set_generic(ctx, args.get(1), args.get(2), &o, "getset");
}

fn getdel(ctx: &mut Ctx, args: Args) {
    let key = args.get(1);
    if let Ok(true) = reply_old_value(ctx, key) {
        let now = ctx.now;
        let lazy = ctx.shared.params.settings.lazyfree.user_del;
        if let Some(e) = ctx.db().remove(key, now) {
            crate::store::lazyfree::free_if(lazy, e.value);
            notify::notify(ctx, GENERIC, "del", key);
            ctx.propagate_as(&[if lazy { b"UNLINK" } else { b"DEL" }, key]);
        }
    }
}

fn getex(ctx: &mut Ctx, args: Args) {
    let Ok(o) = parse_set_options(args, 2, true) else {
        ctx.error(err::SYNTAX);
        return;
    };
    let key = args.get(1);
    match ctx.read(key) {
        (None, _) => {
            lookup_events(ctx);
            ctx.out.null();
            return;
        }
        (Some(e), out) => {
            if as_str(&mut e.value, out).is_none() {
                return;
            }
        }
    }
    let ttl = match o.expire {
        Some((kind, arg)) => Ttl::At(match expire_at_ms(ctx, kind, arg, "getex") {
            Some(at) => at,
            None => return,
        }),
        None if o.persist => Ttl::Clear,
        None => Ttl::Keep,
    };
    let now = ctx.now;
    let (found, out) = ctx.write(key);
    let mut had_ttl = false;
    if let Some(e) = found
        && let Value::Str(s) = &e.value
    {
        reply_str(out, s);
        had_ttl = e.expire_at().is_some();
    }
    // Redis replies first, then changes the TTL and notifies.
    match (o.expire, ttl) {
        // An absolute time already past deletes the key (Redis's checkAlreadyExpired).
        (Some((ExpireKind::ExAt | ExpireKind::PxAt, _)), Ttl::At(at)) if at <= now => {
            let lazy = ctx.shared.params.settings.lazyfree.expire;
            if let Some(e) = ctx.db().remove(key, now) {
                crate::store::lazyfree::free_if(lazy, e.value);
            }
            notify::notify(ctx, GENERIC, "del", key);
            ctx.propagate_as(&[if lazy { b"UNLINK" } else { b"DEL" }, key]);
        }
        (_, Ttl::Keep) => {}
        (_, Ttl::Clear) => {
            // PERSIST: an event only when there was a TTL to remove.
            if had_ttl {
                ctx.db().set_ttl(key, Ttl::Clear, now);
                notify::notify(ctx, GENERIC, "persist", key);
                ctx.propagate_as(&[b"PERSIST", key]);
            }
        }
        (_, ttl) => {
            ctx.db().set_ttl(key, ttl, now);
            notify::notify(ctx, GENERIC, "expire", key);
            if let Ttl::At(at) = ttl {
                let mut digits = [0u8; 20];
                let at = crate::resp::format_i64(at as i64, &mut digits);
                ctx.propagate_as(&[b"PEXPIREAT", key, at]);
            }
        }
    }
}

fn mget(ctx: &mut Ctx, args: Args) {
    ctx.out.array(args.len() - 1);
    for key in args.iter().skip(1) {
        match ctx.read(key) {
            (Some(e), out) => match &e.value {
                Value::Str(s) => reply_str(out, s),
                _ => out.null(),
            },
            (None, out) => out.null(),
        }
    }
}

/// Stores every key/value pair of MSET / MSETNX, with a `set` event for each.
fn set_pairs(ctx: &mut Ctx, args: Args) {
    let now = ctx.now;
    for i in (1..args.len()).step_by(2) {
        let (key, value) = (args.get(i), args.get(i + 1));
        ctx.db().upsert_with(key, Ttl::Clear, now, |old| match old {
            Some(Value::Str(s)) => {
                s.assign(value);
                None
            }
            _ => Some(Value::Str(Str::from_bytes(value))),
        });
        notify::notify(ctx, STRING, "set", key);
    }
}

fn mset(ctx: &mut Ctx, args: Args) {
    if args.len().is_multiple_of(2) {
        arity_error(ctx.out, "mset");
        return;
    }
    set_pairs(ctx, args);
    ctx.out.ok();
}

fn msetnx(ctx: &mut Ctx, args: Args) {
    if args.len().is_multiple_of(2) {
        arity_error(ctx.out, "msetnx");
        return;
    }
    let now = ctx.now;
    let db = ctx.db();
    if (1..args.len())
        .step_by(2)
        .any(|i| db.contains(args.get(i), now))
    {
        lookup_events(ctx);
        ctx.out.int(0);
        return;
    }
    set_pairs(ctx, args);
    ctx.out.int(1);
}

/// INCR, DECR, INCRBY, DECRBY: adds `by` to the integer at `key` (0 if missing), keeping
/// the TTL; overflow is an error, never a wrap.
fn incr_generic(ctx: &mut Ctx, key: &[u8], by: i64) {
    let now = ctx.now;
    let (found, out) = ctx.write(key);
    let new = match found {
        Some(e) => {
            let Some(s) = as_str(&mut e.value, out) else {
                return;
            };
            let Some(old) = s.as_i64() else {
                out.error(err::NOT_INTEGER);
                return;
            };
            let Some(new) = old.checked_add(by) else {
                out.error(err::OVERFLOW);
                return;
            };
            *s = Str::Int(new);
            ctx.modified(key);
            new
        }
        None => {
            ctx.db()
                .insert_new(key, Value::Str(Str::Int(by)), Ttl::Clear, now);
            by
        }
    };
    notify::notify(ctx, STRING, "incrby", key);
    ctx.out.int(new);
}

fn incr(ctx: &mut Ctx, args: Args) {
    incr_generic(ctx, args.get(1), 1);
}

fn decr(ctx: &mut Ctx, args: Args) {
    incr_generic(ctx, args.get(1), -1);
}

fn incrby(ctx: &mut Ctx, args: Args) {
    if let Some(by) = ctx.int_arg(args.get(2)) {
        incr_generic(ctx, args.get(1), by);
    }
}

fn decrby(ctx: &mut Ctx, args: Args) {
    let Some(by) = ctx.int_arg(args.get(2)) else {
        return;
    };
    if by == i64::MIN {
        ctx.error("ERR decrement would overflow");
        return;
    }
    incr_generic(ctx, args.get(1), -by);
}

fn incrbyfloat(ctx: &mut Ctx, args: Args) {
    let key = args.get(1);
    let now = ctx.now;
    let (found, out) = ctx.write(key);
    let mut tmp = [0u8; 20];
    let current = match found {
        Some(e) => match as_str(&mut e.value, out) {
            Some(s) => Some(s.as_bytes(&mut tmp).to_vec()),
            None => return,
        },
        None => None,
    };
    match incr_by_float(current.as_deref(), args.get(2)) {
        Ok(text) => {
            // Keep the TTL, as Redis's dbReplaceValue does.
            ctx.db().upsert_with(key, Ttl::Keep, now, |old| match old {
                Some(Value::Str(s)) => {
                    s.assign(&text);
                    None
                }
                _ => Some(Value::Str(Str::from_bytes(&text))),
            });
            notify::notify(ctx, STRING, "incrbyfloat", key);
            // The result, not the increment: float arithmetic must not run twice.
            ctx.propagate_as(&[b"SET", key, &text, b"KEEPTTL"]);
            ctx.out.bulk(&text);
        }
        Err(FloatError::NotFloat) => ctx.error(err::NOT_FLOAT),
        Err(FloatError::NanOrInfinity) => ctx.error("ERR increment would produce NaN or Infinity"),
    }
}

/// Redis's `checkStringLength`: a string may not grow past proto-max-bulk-len.
fn check_length(ctx: &mut Ctx, size: u64, append: u64) -> bool {
    match size.checked_add(append) {
        Some(total) if total <= ctx.shared.params.settings.proto_max_bulk_len => true,
        _ => {
            ctx.error(err::TOO_BIG);
            false
        }
    }
}

fn append(ctx: &mut Ctx, args: Args) {
    let (key, tail) = (args.get(1), args.get(2));
    let now = ctx.now;
    let max = ctx.shared.params.settings.proto_max_bulk_len;
    let (found, out) = ctx.write(key);
    let len = match found {
        Some(e) => {
            let Some(s) = as_str(&mut e.value, out) else {
                return;
            };
            if (s.len() as u64).saturating_add(tail.len() as u64) > max {
                out.error(err::TOO_BIG);
                return;
            }
            let buf = s.make_raw();
            buf.extend_from_slice(tail);
            let n = buf.len();
            ctx.modified(key);
            n
        }
        None => {
            ctx.db()
                .insert_new(key, Value::Str(Str::from_bytes(tail)), Ttl::Clear, now);
            tail.len()
        }
    };
    notify::notify(ctx, STRING, "append", key);
    ctx.out.int(len as i64);
}

fn strlen(ctx: &mut Ctx, args: Args) {
    if let (Some(e), out) = ctx.read(args.get(1)) {
        if let Some(s) = as_str(&mut e.value, out) {
            out.int(s.len() as i64);
        }
        return;
    }
    lookup_events(ctx);
    ctx.out.int(0);
}

fn getrange(ctx: &mut Ctx, args: Args) {
    let Some(start) = ctx.int_arg(args.get(2)) else {
        return;
    };
    let Some(end) = ctx.int_arg(args.get(3)) else {
        return;
    };
    let (found, out) = ctx.read(args.get(1));
    let Some(e) = found else {
        lookup_events(ctx);
        ctx.out.bulk(b"");
        return;
    };
    let Some(s) = as_str(&mut e.value, out) else {
        return;
    };
    let mut tmp = [0u8; 20];
    let bytes = s.as_bytes(&mut tmp);
    let len = bytes.len() as i64;
    if start < 0 && end < 0 && start > end {
        out.bulk(b"");
        return;
    }
    let start = if start < 0 { len + start } else { start }.max(0);
    let end = if end < 0 { len + end } else { end }.max(0).min(len - 1);
    if start > end || len == 0 {
        out.bulk(b"");
    } else {
        out.bulk(&bytes[start as usize..=end as usize]);
    }
}

fn setrange(ctx: &mut Ctx, args: Args) {
    let (key, value) = (args.get(1), args.get(3));
    let Some(offset) = ctx.int_arg(args.get(2)) else {
        return;
    };
    if offset < 0 {
        ctx.error("ERR offset is out of range");
        return;
    }
    let offset = offset as u64;
    let now = ctx.now;
    let old_len = match ctx.write(key) {
        (None, _) => {
            lookup_events(ctx);
            None
        }
        (Some(e), out) => match as_str(&mut e.value, out) {
            Some(s) => Some(s.len()),
            None => return,
        },
    };
    if value.is_empty() {
        ctx.out.int(old_len.unwrap_or(0) as i64);
        return;
    }
    if !check_length(ctx, offset, value.len() as u64) {
        return;
    }
    let offset = offset as usize;
    let apply = |buf: &mut Vec<u8>| {
        if buf.len() < offset + value.len() {
            buf.resize(offset + value.len(), 0);
        }
        buf[offset..offset + value.len()].copy_from_slice(value);
        buf.len()
    };
    let new_len = match ctx.write(key).0 {
        Some(e) => match &mut e.value {
            Value::Str(s) => {
                let n = apply(s.make_raw());
                ctx.modified(key);
                n
            }
            _ => return,
        },
        None => {
            let mut buf = Vec::new();
            let n = apply(&mut buf);
            ctx.db()
                .insert_new(key, Value::Str(Str::from_vec(buf)), Ttl::Clear, now);
            n
        }
    };
    notify::notify(ctx, STRING, "setrange", key);
    ctx.out.int(new_len as i64);
}
