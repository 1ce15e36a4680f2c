//! Blocking commands (Redis's blocked.c with the blocking parts of t_list.c and t_zset.c):
//! BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP, BZPOPMIN, BZPOPMAX, BZMPOP, and their
//! non-blocking multi-key forms LMPOP and ZMPOP.
//!
//! A blocking command that finds data acts as its non-blocking form. One that finds none
//! records [`Blocked`] in the client and registers it as a waiter of its keys
//! (`Store::block`); `Conn::process` then runs nothing more of that client's input. When a
//! write readies one of the keys, the event loop calls [`serve`] on behalf of the waiters,
//! first come first served (ARCHITECTURE.md, "Holding a client back"). Inside MULTI (and
//! scripts) a blocking command never blocks: it answers as if it had timed out.

use super::flags::{DENYOOM, FAST, NOSCRIPT, WRITE};
use super::notify::{self, LIST, ZSET};
use super::{Command, Ctx, err, finish_served};
use crate::resp::{Args, parse_i64};
use crate::store::{Entry, Value};

/// This family's command table.
#[rustfmt::skip]
pub const COMMANDS: &[Command] = &[
    Command { name: "blpop", arity: -3, flags: WRITE | NOSCRIPT, keys: (1, -2, 1), group: "list", handler: blpop },
    Command { name: "brpop", arity: -3, flags: WRITE | NOSCRIPT, keys: (1, -2, 1), group: "list", handler: brpop },
    Command { name: "blmove", arity: 6, flags: WRITE | DENYOOM | NOSCRIPT, keys: (1, 2, 1), group: "list", handler: blmove },
    Command { name: "brpoplpush", arity: 4, flags: WRITE | DENYOOM | NOSCRIPT, keys: (1, 2, 1), group: "list", handler: brpoplpush },
    Command { name: "blmpop", arity: -5, flags: WRITE, keys: (0, 0, 0), group: "list", handler: blmpop },
    Command { name: "lmpop", arity: -4, flags: WRITE, keys: (0, 0, 0), group: "list", handler: lmpop },
    Command { name: "bzpopmin", arity: -3, flags: WRITE | NOSCRIPT | FAST, keys: (1, -2, 1), group: "sorted-set", handler: bzpopmin },
    Command { name: "bzpopmax", arity: -3, flags: WRITE | NOSCRIPT | FAST, keys: (1, -2, 1), group: "sorted-set", handler: bzpopmax },
    Command { name: "bzmpop", arity: -5, flags: WRITE, keys: (0, 0, 0), group: "sorted-set", handler: bzmpop },
    Command { name: "zmpop", arity: -4, flags: WRITE, keys: (0, 0, 0), group: "sorted-set", handler: zmpop },
    Command { name: "wait", arity: 3, flags: NOSCRIPT, keys: (0, 0, 0), group: "generic", handler: wait },
];

/// What a blocked client waits to do once one of its keys has data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Waiting {
    /// BLPOP / BRPOP (`count` None: one element, `[key, element]`), BLMPOP (`count`: up
    /// to that many, `[key, [elements]]`).
    ListPop {
        /// Pop from the head.
        front: bool,
        /// BLMPOP's COUNT.
        count: Option<usize>,
    },
    /// BLMOVE / BRPOPLPUSH: pop from the key, push onto `target`, reply the element.
    ListMove {
        /// Pop from the head.
        from_front: bool,
        /// Push onto the head.
        to_front: bool,
        /// The destination list.
        target: Box<[u8]>,
    },
    /// BZPOPMIN / BZPOPMAX (`count` None: `[key, member, score]`), BZMPOP (`count`: up to
    /// that many, `[key, [[member, score], ...]]`).
    ZsetPop {
        /// Pop the highest scores.
        max: bool,
        /// BZMPOP's COUNT.
        count: Option<usize>,
    },
    /// XREAD / XREADGROUP with BLOCK: entries past an ID (see `streams::read`).
    Stream(Box<super::streams::read::StreamWait>),
    /// WAIT: acknowledgements from replicas. There are none, so it ends at its timeout
    /// (or CLIENT UNBLOCK) with 0.
    Replicas,
}

/// A client waiting for data (Redis's `c->bpop`).
#[derive(Debug, Clone)]
pub struct Blocked {
    /// The database of its keys.
    pub db: usize,
    /// The keys it waits for, without repeats, in argument order.
    pub keys: Vec<Box<[u8]>>,
    /// What to do when served.
    pub waiting: Waiting,
    /// When it times out (ms since the epoch; 0 = never).
    pub deadline: u64,
    /// Statistics slot of the command, counted when the client is unblocked, as Redis does.
    pub slot: usize,
    /// Clock ticks ([`crate::clock`]) when the blocking command started: a served client
    /// waited from there (the `keyval_blocked_wait_seconds` histogram).
    pub since: u64,
    /// The command as the client sent it, for SLOWLOG when the client is unblocked
    /// (set once the command has blocked).
    pub args: Vec<Box<[u8]>>,
    /// How long the command ran before it blocked, in nanoseconds: part of its duration in
    /// SLOWLOG, as Redis counts it.
    pub ran_ns: u64,
}

impl Blocked {
    /// The reply a client gets when its wait ends without data (timeout, CLIENT UNBLOCK
    /// TIMEOUT): a null array, for every kind of wait (Redis's replyToBlockedClientTimedOut;
    /// even BLMOVE, which answers a null bulk when it does not block).
    pub fn reply_timeout(&self, out: &mut crate::resp::Reply) {
        match self.waiting {
            // WAIT's reply: the replicas that acknowledged.
            Waiting::Replicas => out.int(0),
            _ => out.null_array(),
        }
    }
}

/// Redis's `getTimeoutFromObjectOrReply` in seconds: a non-negative number of seconds
/// (fractions allowed); 0 means forever. Returns the deadline (0 for none).
fn timeout_arg(ctx: &mut Ctx, arg: &[u8]) -> Option<u64> {
    let Some(secs) = crate::util::parse_f64(arg).filter(|v| v.is_finite()) else {
        ctx.error("ERR timeout is not a float or out of range");
        return None;
    };
    let ms = (secs * 1000.0).ceil();
    if ms < 0.0 {
        ctx.error("ERR timeout is negative");
        return None;
    }
    if ms == 0.0 {
        return Some(0);
    }
    Some(ctx.now.saturating_add(ms as u64))
}

/// Registers the caller as blocked (nothing more of its input runs until it is served,
/// times out or is unblocked).
pub(crate) fn block(ctx: &mut Ctx, keys: &[&[u8]], waiting: Waiting, deadline: u64) {
    let mut unique: Vec<Box<[u8]>> = Vec::with_capacity(keys.len());
    for k in keys {
        if !unique.iter().any(|u| **u == **k) {
            unique.push((*k).into());
        }
    }
    let db = ctx.client.db;
    ctx.store.block(db, &unique, ctx.client.token);
    let slot = ctx.client.last_command.unwrap_or(0);
    ctx.client.blocked = Some(Box::new(Blocked {
        db,
        keys: unique,
        waiting,
        deadline,
        slot,
        since: ctx.shared.last_tick,
        args: Vec::new(),
        ran_ns: 0,
    }));
    ctx.shared.newly_blocked.push(ctx.client.token);
    ctx.shared.loop_work = true;
}

/// True inside EXEC (or a script): a blocking command must not block there.
fn may_block(ctx: &Ctx) -> bool {
    !ctx.shared.in_exec
}

/// The list at `key` for a pop: Ok(None) when absent or empty, Err after replying
/// WRONGTYPE.
fn list_len(ctx: &mut Ctx, key: &[u8]) -> Result<usize, ()> {
    match ctx.write(key) {
        (None, _) => Ok(0),
        (Some(e), out) => match &e.value {
            Value::List(l) => Ok(l.len()),
            _ => {
                out.error(err::WRONGTYPE);
                Err(())
            }
        },
    }
}

/// Pops from the non-empty list at `key` and replies `[key, element]` (count None) or
/// `[key, [elements]]`, with Redis's notifications (`lpop`/`rpop`, then `del` when the
/// list is emptied and removed).
fn pop_and_reply(ctx: &mut Ctx, key: &[u8], front: bool, count: Option<usize>) {
    let (empty, popped) = {
        let (found, out) = ctx.write(key);
        let Some(Entry {
            value: Value::List(list),
            ..
        }) = found
        else {
            return;
        };
        let before = list.len();
        out.array(2);
        out.bulk(key);
        match count {
            None => {
                if let Some(el) = list.pop(front) {
                    out.bulk(&el);
                }
            }
            Some(c) => {
                let n = c.min(list.len());
                out.array(n);
                for _ in 0..n {
                    if let Some(el) = list.pop(front) {
                        out.bulk(&el);
                    }
                }
            }
        }
        (list.is_empty(), count.map(|c| c.min(before)))
    };
    notify::notify(ctx, LIST, if front { "lpop" } else { "rpop" }, key);
    super::lists::after_removal(ctx, key, empty);
    // Written as the pop it was (LPOP key [count]), which never blocks.
    let name: &[u8] = if front { b"LPOP" } else { b"RPOP" };
    propagate_pop(ctx, name, key, popped);
}

/// Writes a pop of `count` elements (None: the single-element form) from `key`.
fn propagate_pop(ctx: &mut Ctx, name: &[u8], key: &[u8], count: Option<usize>) {
    match count {
        None => ctx.propagate_as(&[name, key]),
        Some(n) => {
            let mut digits = [0u8; 20];
            ctx.propagate_as(&[name, key, crate::resp::format_i64(n as i64, &mut digits)]);
        }
    }
}

/// BLPOP / BRPOP / BLMPOP: pops from the first key with data, or blocks.
fn blocking_pop(ctx: &mut Ctx, keys: &[&[u8]], front: bool, count: Option<usize>, deadline: u64) {
    for key in keys {
        match list_len(ctx, key) {
            Err(()) => return,
            Ok(0) => {}
            Ok(_) => return pop_and_reply(ctx, key, front, count),
        }
    }
    if !may_block(ctx) {
        ctx.out.null_array();
        return;
    }
    block(ctx, keys, Waiting::ListPop { front, count }, deadline);
}

fn blpop_generic(ctx: &mut Ctx, args: Args, front: bool) {
    let Some(deadline) = timeout_arg(ctx, args.get(args.len() - 1)) else {
        return;
    };
    let keys: Vec<&[u8]> = (1..args.len() - 1).map(|i| args.get(i)).collect();
    blocking_pop(ctx, &keys, front, None, deadline);
}

fn blpop(ctx: &mut Ctx, args: Args) {
    blpop_generic(ctx, args, true);
}

fn brpop(ctx: &mut Ctx, args: Args) {
    blpop_generic(ctx, args, false);
}

/// BLMOVE / BRPOPLPUSH: LMOVE when the source has data, otherwise block.
fn blmove_generic(ctx: &mut Ctx, args: Args, from_front: bool, to_front: bool, deadline: u64) {
    let (src, dst) = (args.get(1), args.get(2));
    match list_len(ctx, src) {
        Err(()) => {}
        Ok(0) if !may_block(ctx) => ctx.out.null(),
        Ok(0) => block(
            ctx,
            &[src],
            Waiting::ListMove {
                from_front,
                to_front,
                target: dst.into(),
            },
            deadline,
        ),
        Ok(_) => super::lists::lmove_generic(ctx, src, dst, from_front, to_front),
    }
}

fn blmove(ctx: &mut Ctx, args: Args) {
    let Some(from_front) = super::lists::parse_side(ctx, args.get(3)) else {
        return;
    };
    let Some(to_front) = super::lists::parse_side(ctx, args.get(4)) else {
        return;
    };
    let Some(deadline) = timeout_arg(ctx, args.get(5)) else {
        return;
    };
    blmove_generic(ctx, args, from_front, to_front, deadline);
}

fn brpoplpush(ctx: &mut Ctx, args: Args) {
    let Some(deadline) = timeout_arg(ctx, args.get(3)) else {
        return;
    };
    blmove_generic(ctx, args, false, true, deadline);
}

/// Redis's `getRangeLongFromObjectOrReply(1, LONG_MAX)` with a custom message (which it
/// gives for a non-number too).
fn positive_arg(ctx: &mut Ctx, arg: &[u8], msg: &str) -> Option<usize> {
    match parse_i64(arg) {
        Some(v) if v >= 1 => Some(v as usize),
        _ => {
            ctx.error(msg);
            None
        }
    }
}

/// LMPOP / BLMPOP / ZMPOP / BZMPOP arguments from `numkeys_at`: (keys, the side as
/// `side` parses it, count).
fn mpop_args<'a>(
    ctx: &mut Ctx,
    args: Args<'a>,
    numkeys_at: usize,
    side: fn(&mut Ctx, &[u8]) -> Option<bool>,
) -> Option<(Vec<&'a [u8]>, bool, usize)> {
    let numkeys = positive_arg(
        ctx,
        args.get(numkeys_at),
        "ERR numkeys should be greater than 0",
    )?;
    let where_at = numkeys_at.checked_add(numkeys)?.checked_add(1)?;
    if where_at >= args.len() {
        ctx.error(err::SYNTAX);
        return None;
    }
    let front = side(ctx, args.get(where_at))?;
    let mut count = None;
    let mut j = where_at + 1;
    while j < args.len() {
        if count.is_none() && args.get(j).eq_ignore_ascii_case(b"count") && j + 1 < args.len() {
            count = Some(positive_arg(
                ctx,
                args.get(j + 1),
                "ERR count should be greater than 0",
            )?);
            j += 2;
        } else {
            ctx.error(err::SYNTAX);
            return None;
        }
    }
    let keys = (numkeys_at + 1..where_at).map(|i| args.get(i)).collect();
    Some((keys, front, count.unwrap_or(1)))
}

fn lmpop(ctx: &mut Ctx, args: Args) {
    let Some((keys, front, count)) = mpop_args(ctx, args, 1, super::lists::parse_side) else {
        return;
    };
    for key in &keys {
        match list_len(ctx, key) {
            Err(()) => return,
            Ok(0) => {}
            Ok(_) => return pop_and_reply(ctx, key, front, Some(count)),
        }
    }
    ctx.out.null_array();
}

fn blmpop(ctx: &mut Ctx, args: Args) {
    let Some(deadline) = timeout_arg(ctx, args.get(1)) else {
        return;
    };
    let Some((keys, front, count)) = mpop_args(ctx, args, 2, super::lists::parse_side) else {
        return;
    };
    blocking_pop(ctx, &keys, front, Some(count), deadline);
}

/// The sorted set at `key` for a pop: Ok(0) when absent, Err after replying WRONGTYPE.
fn zset_len(ctx: &mut Ctx, key: &[u8]) -> Result<usize, ()> {
    match ctx.write(key) {
        (None, _) => Ok(0),
        (Some(e), out) => match &e.value {
            Value::ZSet(z) => Ok(z.len()),
            _ => {
                out.error(err::WRONGTYPE);
                Err(())
            }
        },
    }
}

/// Pops from the non-empty sorted set at `key` and replies `[key, member, score]` (count
/// None) or `[key, [[member, score], ...]]` (Redis's genericZpopCommand with emitkey),
/// with the `zpopmin`/`zpopmax` event, then `del` when the set is emptied and removed.
fn zpop_and_reply(ctx: &mut Ctx, key: &[u8], max: bool, count: Option<usize>) {
    let (empty, popped) = {
        let (found, out) = ctx.write(key);
        let Some(Entry {
            value: Value::ZSet(z),
            ..
        }) = found
        else {
            return;
        };
        let n = count.unwrap_or(1).min(z.len());
        match count {
            None => {
                out.array(2 * n + 1);
                out.bulk(key);
            }
            Some(_) => {
                out.array(2);
                out.bulk(key);
                out.array(n);
            }
        }
        for _ in 0..n {
            let Some((member, score)) = z.pop(max) else {
                break;
            };
            if count.is_some() {
                out.array(2);
            }
            out.bulk(&member);
            super::zsets::reply_score(out, score);
        }
        (z.is_empty(), count.map(|_| n))
    };
    notify::notify(ctx, ZSET, if max { "zpopmax" } else { "zpopmin" }, key);
    super::lists::after_removal(ctx, key, empty);
    let name: &[u8] = if max { b"ZPOPMAX" } else { b"ZPOPMIN" };
    propagate_pop(ctx, name, key, popped);
}

/// BZPOPMIN / BZPOPMAX / BZMPOP: pops from the first key with members, or blocks.
fn blocking_zpop(ctx: &mut Ctx, keys: &[&[u8]], max: bool, count: Option<usize>, deadline: u64) {
    for key in keys {
        match zset_len(ctx, key) {
            Err(()) => return,
            Ok(0) => {}
            Ok(_) => return zpop_and_reply(ctx, key, max, count),
        }
    }
    if !may_block(ctx) {
        ctx.out.null_array();
        return;
    }
    block(ctx, keys, Waiting::ZsetPop { max, count }, deadline);
}

fn bzpop_generic(ctx: &mut Ctx, args: Args, max: bool) {
    let Some(deadline) = timeout_arg(ctx, args.get(args.len() - 1)) else {
        return;
    };
    let keys: Vec<&[u8]> = (1..args.len() - 1).map(|i| args.get(i)).collect();
    blocking_zpop(ctx, &keys, max, None, deadline);
}

fn bzpopmin(ctx: &mut Ctx, args: Args) {
    bzpop_generic(ctx, args, false);
}

fn bzpopmax(ctx: &mut Ctx, args: Args) {
    bzpop_generic(ctx, args, true);
}

/// Parses ZMPOP's MIN / MAX: true for MAX.
fn parse_min_max(ctx: &mut Ctx, arg: &[u8]) -> Option<bool> {
    if arg.eq_ignore_ascii_case(b"min") {
        Some(false)
    } else if arg.eq_ignore_ascii_case(b"max") {
        Some(true)
    } else {
        ctx.error(err::SYNTAX);
        None
    }
}

fn zmpop(ctx: &mut Ctx, args: Args) {
    let Some((keys, max, count)) = mpop_args(ctx, args, 1, parse_min_max) else {
        return;
    };
    for key in &keys {
        match zset_len(ctx, key) {
            Err(()) => return,
            Ok(0) => {}
            Ok(_) => return zpop_and_reply(ctx, key, max, Some(count)),
        }
    }
    ctx.out.null_array();
}

fn bzmpop(ctx: &mut Ctx, args: Args) {
    let Some(deadline) = timeout_arg(ctx, args.get(1)) else {
        return;
    };
    let Some((keys, max, count)) = mpop_args(ctx, args, 2, parse_min_max) else {
        return;
    };
    blocking_zpop(ctx, &keys, max, Some(count), deadline);
}

/// WAIT numreplicas timeout (Redis's waitCommand): this server has no replicas, so none
/// acknowledges. Asking for none (or inside MULTI, where nothing blocks) replies 0 at
/// once; otherwise the client blocks until its timeout in milliseconds (0 = forever), then
/// gets 0, as a primary without replicas answers.
fn wait(ctx: &mut Ctx, args: Args) {
    let Some(wanted) = ctx.int_arg(args.get(1)) else {
        return;
    };
    let Some(ms) = parse_i64(args.get(2)) else {
        ctx.error("ERR timeout is not an integer or out of range");
        return;
    };
    if ms < 0 {
        ctx.error("ERR timeout is negative");
        return;
    }
    if wanted <= 0 || !may_block(ctx) {
        ctx.out.int(0);
        return;
    }
    let deadline = if ms == 0 {
        0
    } else {
        ctx.now.saturating_add(ms as u64)
    };
    block(ctx, &[], Waiting::Replicas, deadline);
}

/// Serves a blocked client (the context's) with `key`, which was written since it
/// blocked: pops for it and writes its reply, if the key now holds data of the type it
/// waits for. Returns false (nothing written) when the key does not serve it, which
/// leaves it blocked, as Redis 7.0 does for a key of another type.
pub fn serve(ctx: &mut Ctx, key: &[u8]) -> bool {
    let Some(blocked) = ctx.client.blocked.clone() else {
        return false;
    };
    if let Waiting::Stream(wait) = &blocked.waiting {
        let mark = ctx.out.mark();
        if !super::streams::read::serve(ctx, key, wait) {
            return false;
        }
        finish_served(ctx, &blocked, mark);
        super::propagate::after_served(ctx);
        let waited = crate::clock::nanos_between(blocked.since, ctx.shared.last_tick);
        ctx.shared.stats.blocked_wait.record_n(waited, 1);
        return true;
    }
    let now = ctx.now;
    let wants_zset = matches!(blocked.waiting, Waiting::ZsetPop { .. });
    let has_data = match ctx.db().get_mut(key, now) {
        Some(Entry {
            value: Value::List(l),
            ..
        }) => !wants_zset && !l.is_empty(),
        Some(Entry {
            value: Value::ZSet(z),
            ..
        }) => wants_zset && !z.is_empty(),
        _ => false,
    };
    if !has_data {
        return false;
    }
    let mark = ctx.out.mark();
    match &blocked.waiting {
        Waiting::ListPop { front, count } => pop_and_reply(ctx, key, *front, *count),
        Waiting::ListMove {
            from_front,
            to_front,
            target,
        } => super::lists::lmove_generic(ctx, key, target, *from_front, *to_front),
        Waiting::ZsetPop { max, count } => zpop_and_reply(ctx, key, *max, *count),
        Waiting::Stream(_) => unreachable!("stream waits are served above"),
        Waiting::Replicas => unreachable!("WAIT waits for no key"),
    }
    finish_served(ctx, &blocked, mark);
    super::propagate::after_served(ctx);
    // finish_served read the clock: the wait ends at the reply.
    let waited = crate::clock::nanos_between(blocked.since, ctx.shared.last_tick);
    ctx.shared.stats.blocked_wait.record_n(waited, 1);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeout_replies_by_kind() {
        let mut out = crate::resp::Reply::new();
        let b = Blocked {
            db: 0,
            keys: vec![],
            waiting: Waiting::ListPop {
                front: true,
                count: None,
            },
            deadline: 0,
            slot: 0,
            since: 0,
            args: Vec::new(),
            ran_ns: 0,
        };
        b.reply_timeout(&mut out);
        assert_eq!(out.bytes(), b"*-1\r\n");
        let mut out = crate::resp::Reply::new();
        let m = Blocked {
            waiting: Waiting::ListMove {
                from_front: true,
                to_front: true,
                target: (&b"t"[..]).into(),
            },
            ..b
        };
        m.reply_timeout(&mut out);
        assert_eq!(out.bytes(), b"*-1\r\n");
    }
}
