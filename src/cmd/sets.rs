//! Set commands (Redis's t_set.c): SADD SREM SMEMBERS SISMEMBER SMISMEMBER SCARD SPOP
//! SRANDMEMBER SMOVE, the algebra SINTER SUNION SDIFF (and their STORE forms, SINTERCARD),
//! and SSCAN.
//!
//! Every handler parses its arguments in Redis's order (so that the same bad request gets
//! the same error), then applies. A set that loses its last member is deleted. Replies
//! that Redis sends as sets (SMEMBERS, SINTER, SUNION, SDIFF, SPOP with a count) use the
//! RESP3 set type; SRANDMEMBER with a count is an array, as in Redis 7.0.

use super::flags::{DENYOOM, FAST, READONLY, WRITE};
use super::keys::{parse_cursor, parse_scan_args};
use super::notify::{self, notify};
use super::{Command, Ctx, err};
use crate::resp::{Args, Reply};
use crate::store::set::{Member, Set};
use crate::store::{Store, Ttl, Value, next_random};
use crate::util::glob_match;

/// The family's command table.
#[rustfmt::skip]
pub const COMMANDS: &[Command] = &[
    Command { name: "sadd", arity: -3, flags: WRITE | DENYOOM | FAST, keys: (1, 1, 1), group: "set", handler: sadd },
    Command { name: "srem", arity: -3, flags: WRITE | FAST, keys: (1, 1, 1), group: "set", handler: srem },
    Command { name: "smembers", arity: 2, flags: READONLY, keys: (1, 1, 1), group: "set", handler: smembers },
    Command { name: "sismember", arity: 3, flags: READONLY | FAST, keys: (1, 1, 1), group: "set", handler: sismember },
    Command { name: "smismember", arity: -3, flags: READONLY | FAST, keys: (1, 1, 1), group: "set", handler: smismember },
    Command { name: "scard", arity: 2, flags: READONLY | FAST, keys: (1, 1, 1), group: "set", handler: scard },
    Command { name: "spop", arity: -2, flags: WRITE | FAST, keys: (1, 1, 1), group: "set", handler: spop },
    Command { name: "srandmember", arity: -2, flags: READONLY, keys: (1, 1, 1), group: "set", handler: srandmember },
    Command { name: "smove", arity: 4, flags: WRITE | FAST, keys: (1, 2, 1), group: "set", handler: smove },
    Command { name: "sinter", arity: -2, flags: READONLY, keys: (1, -1, 1), group: "set", handler: sinter },
    Command { name: "sinterstore", arity: -3, flags: WRITE | DENYOOM, keys: (1, -1, 1), group: "set", handler: sinterstore },
    Command { name: "sintercard", arity: -3, flags: READONLY, keys: (0, 0, 0), group: "set", handler: sintercard },
    Command { name: "sunion", arity: -2, flags: READONLY, keys: (1, -1, 1), group: "set", handler: sunion },
    Command { name: "sunionstore", arity: -3, flags: WRITE | DENYOOM, keys: (1, -1, 1), group: "set", handler: sunionstore },
    Command { name: "sdiff", arity: -2, flags: READONLY, keys: (1, -1, 1), group: "set", handler: sdiff },
    Command { name: "sdiffstore", arity: -3, flags: WRITE | DENYOOM, keys: (1, -1, 1), group: "set", handler: sdiffstore },
    Command { name: "sscan", arity: -3, flags: READONLY, keys: (1, 1, 1), group: "set", handler: sscan },
];

/// Redis's error for a count that is not a non-negative integer (SPOP, ZPOPMIN).
pub(super) const NOT_POSITIVE: &str = "ERR value is out of range, must be positive";

/// The set held by `value`, or None (after replying WRONGTYPE) for other types.
#[inline]
fn as_set<'v>(value: &'v mut Value, out: &mut Reply) -> Option<&'v mut Set> {
    match value {
        Value::Set(s) => Some(s),
        _ => {
            out.error(err::WRONGTYPE);
            None
        }
    }
}

/// Replies with one member as a bulk string.
#[inline]
fn reply_member(out: &mut Reply, m: Member) {
    match m {
        Member::Int(v) => out.bulk_i64(v),
        Member::Bytes(b) => out.bulk(b),
    }
}

/// Replies with a whole set as a (RESP3) set.
fn reply_set(out: &mut Reply, s: &Set) {
    out.set(s.len());
    for m in s.iter() {
        reply_member(out, m);
    }
}

fn sadd(ctx: &mut Ctx, args: Args) {
    let max = ctx.limits().set_intset_entries;
    let key = args.get(1);
    let members = args.tail(2);
    let now = ctx.now;
    let added = match ctx.write(key) {
        (Some(e), out) => {
            let Some(s) = as_set(&mut e.value, out) else {
                return;
            };
            let added = members.iter().filter(|m| s.insert(m, max)).count();
            if added > 0 {
                ctx.modified(key);
            }
            added
        }
        (None, _) => {
            let mut s = Set::new();
            let added = members.iter().filter(|m| s.insert(m, max)).count();
            ctx.db().insert_new(key, Value::Set(s), Ttl::Clear, now);
            added
        }
    };
    // Redis publishes before replying (`new`, raised by the insert, comes first).
    if added > 0 {
        notify(ctx, notify::SET, "sadd", key);
    }
    ctx.out.int(added as i64);
}

/// After removing members from the collection at `key`: deletes the key if it is empty,
/// else signals the change (when there was one). Shared with the sorted sets.
pub(super) fn after_removal(ctx: &mut Ctx, key: &[u8], empty: bool, changed: bool) {
    if empty {
        let now = ctx.now;
        ctx.db().remove(key, now);
    } else if changed {
        ctx.modified(key);
    }
}

/// Publishes `event` (of `class`) for members removed from the collection at `key`, then
/// `del` when that emptied it and deleted it: Redis's order in SREM, SMOVE, ZREM and the
/// ZREMRANGE family. Shared with the sorted sets.
pub(super) fn notify_removal(
    ctx: &mut Ctx,
    class: u32,
    event: &'static str,
    key: &[u8],
    deleted: bool,
) {
    notify(ctx, class, event, key);
    if deleted {
        notify(ctx, notify::GENERIC, "del", key);
    }
}

fn srem(ctx: &mut Ctx, args: Args) {
    let key = args.get(1);
    let (found, out) = ctx.write(key);
    let Some(e) = found else {
        out.int(0);
        return;
    };
    let Some(s) = as_set(&mut e.value, out) else {
        return;
    };
    let mut removed = 0;
    for m in args.iter().skip(2) {
        if s.remove(m) {
            removed += 1;
            if s.is_empty() {
                break;
            }
        }
    }
    let empty = s.is_empty();
    after_removal(ctx, key, empty, removed > 0);
    if removed > 0 {
        notify_removal(ctx, notify::SET, "srem", key, empty);
    }
    ctx.out.int(removed);
}

fn smembers(ctx: &mut Ctx, args: Args) {
    match ctx.read(args.get(1)) {
        (None, out) => out.set(0),
        (Some(e), out) => {
            if let Some(s) = as_set(&mut e.value, out) {
                reply_set(out, s);
            }
        }
    }
}

fn sismember(ctx: &mut Ctx, args: Args) {
    match ctx.read(args.get(1)) {
        (None, out) => out.int(0),
        (Some(e), out) => {
            if let Some(s) = as_set(&mut e.value, out) {
                out.int(i64::from(s.contains(args.get(2))));
            }
        }
    }
}

fn smismember(ctx: &mut Ctx, args: Args) {
    let (found, out) = ctx.read(args.get(1));
    let set = match found {
        None => None,
        Some(e) => match as_set(&mut e.value, out) {
            Some(s) => Some(&*s),
            None => return,
        },
    };
    out.array(args.len() - 2);
    for m in args.iter().skip(2) {
        out.int(i64::from(set.is_some_and(|s| s.contains(m))));
    }
}

fn scard(ctx: &mut Ctx, args: Args) {
    match ctx.read(args.get(1)) {
        (None, out) => out.int(0),
        (Some(e), out) => {
            if let Some(s) = as_set(&mut e.value, out) {
                out.int(s.len() as i64);
            }
        }
    }
}

fn spop(ctx: &mut Ctx, args: Args) {
    if args.len() > 3 {
        ctx.error(err::SYNTAX);
        return;
    }
    if args.len() == 3 {
        spop_count(ctx, args);
        return;
    }
    let key = args.get(1);
    let rand = ctx.store.random();
    let (found, out) = ctx.write(key);
    let Some(e) = found else {
        out.null();
        return;
    };
    let Some(s) = as_set(&mut e.value, out) else {
        return;
    };
    let Some(popped) = s.pop_random(rand) else {
        out.null(); // an empty set is never stored; answer as for a missing key
        return;
    };
    let empty = s.is_empty();
    // Redis's order: `spop`, the reply, then `del` if the set is gone.
    notify(ctx, notify::SET, "spop", key);
    reply_member(ctx.out, popped.as_member());
    // The member drawn, not the draw.
    if ctx.shared.propagation.on {
        popped
            .as_member()
            .with_bytes(|m| ctx.propagate_as(&[b"SREM", key, m]));
    }
    after_removal(ctx, key, empty, true);
    if empty {
        notify(ctx, notify::GENERIC, "del", key);
    }
}

/// SPOP key count (Redis's `spopWithCountCommand`).
fn spop_count(ctx: &mut Ctx, args: Args) {
    let key = args.get(1);
    // Redis's getPositiveLongFromObjectOrReply: one error for "not a number" and "< 0".
    let Some(count) = crate::resp::parse_i64(args.get(2)).filter(|&c| c >= 0) else {
        ctx.error(NOT_POSITIVE);
        return;
    };
    let mut seed = ctx.store.random() | 1;
    let (found, out) = ctx.write(key);
    let Some(e) = found else {
        out.set(0);
        return;
    };
    if as_set(&mut e.value, out).is_none() {
        return;
    }
    if count == 0 {
        out.set(0);
        return;
    }
    // Redis publishes `spop` before any of the reply.
    notify(ctx, notify::SET, "spop", key);
    let mut drawn: Option<Vec<Vec<u8>>> = ctx.shared.propagation.on.then(Vec::new);
    let (found, out) = ctx.write(key);
    let Some(Value::Set(s)) = found.map(|e| &mut e.value) else {
        return; // checked above
    };
    let count = count as u64;
    if count >= s.len() as u64 {
        // The whole set: reply with it, delete the key, then publish `del`.
        reply_set(out, s);
        after_removal(ctx, key, true, true);
        notify(ctx, notify::GENERIC, "del", key);
        ctx.propagate_as(&[b"DEL", key]);
        return;
    }
    out.set(count as usize);
    // The members drawn are written as one SREM.
    for _ in 0..count {
        match s.pop_random(next_random(&mut seed)) {
            Some(p) => {
                reply_member(out, p.as_member());
                if let Some(d) = drawn.as_mut() {
                    p.as_member().with_bytes(|m| d.push(m.to_vec()));
                }
            }
            None => break, // unreachable: count < len
        }
    }
    after_removal(ctx, key, false, true);
    if let Some(members) = drawn {
        let mut argv: Vec<&[u8]> = vec![b"SREM", key];
        argv.extend(members.iter().map(Vec::as_slice));
        ctx.propagate_as(&argv);
    }
}

fn srandmember(ctx: &mut Ctx, args: Args) {
    if args.len() > 3 {
        ctx.error(err::SYNTAX);
        return;
    }
    if args.len() == 3 {
        srandmember_count(ctx, args);
        return;
    }
    let rand = ctx.store.random();
    match ctx.read(args.get(1)) {
        (None, out) => out.null(),
        (Some(e), out) => {
            if let Some(s) = as_set(&mut e.value, out) {
                match s.random(rand) {
                    Some(m) => reply_member(out, m),
                    None => out.null(),
                }
            }
        }
    }
}

/// SRANDMEMBER key count (Redis's `srandmemberWithCountCommand`): a negative count may
/// repeat members, a positive one returns distinct members, at most all of them. Always
/// an array (Redis 7.0 does not use the RESP3 set type here).
fn srandmember_count(ctx: &mut Ctx, args: Args) {
    let Some(count) = ctx.int_arg(args.get(2)) else {
        return;
    };
    if count == i64::MIN {
        // Redis parses the count within [-LONG_MAX, LONG_MAX].
        ctx.error(err::COUNT_RANGE);
        return;
    }
    let mut seed = ctx.store.random() | 1;
    let limit = ctx.shared.params.settings.max_pending_reply();
    let (found, out) = ctx.read(args.get(1));
    let Some(e) = found else {
        out.array(0);
        return;
    };
    let Some(s) = as_set(&mut e.value, out) else {
        return;
    };
    let (n, distinct) = (count.unsigned_abs() as usize, count >= 0);
    if n == 0 {
        out.array(0);
        return;
    }
    let size = s.len();
    if !distinct || n == 1 {
        out.array(n);
        for _ in 0..n {
            if let Some(m) = s.random(next_random(&mut seed)) {
                reply_member(out, m);
            }
            // A huge negative count would grow the reply without bound: stop once the
            // client is past its output limit, which disconnects it.
            if out.len() > limit {
                break;
            }
        }
        return;
    }
    if n >= size {
        out.array(size);
        s.iter().for_each(|m| reply_member(out, m));
    } else if n * 3 > size {
        // Many of them: a partial shuffle of all members.
        let mut all: Vec<Member> = s.iter().collect();
        out.array(n);
        for i in 0..n {
            let j = i + (next_random(&mut seed) % (size - i) as u64) as usize;
            all.swap(i, j);
            reply_member(out, all[i]);
        }
    } else {
        // Few of them: random picks, skipping repeats.
        let mut picked = std::collections::HashSet::with_capacity(n);
        out.array(n);
        while picked.len() < n {
            if let Some(m) = s.random(next_random(&mut seed))
                && picked.insert(m)
            {
                reply_member(out, m);
            }
        }
    }
}

fn smove(ctx: &mut Ctx, args: Args) {
    let (src, dst, member) = (args.get(1), args.get(2), args.get(3));
    let now = ctx.now;
    // Redis looks both keys up (expiring them) before checking anything.
    let is_set = |e: Option<&mut crate::store::Entry>| e.map(|e| matches!(e.value, Value::Set(_)));
    let src_kind = is_set(ctx.write(src).0);
    let max = ctx.limits().set_intset_entries;
    let dst_kind = is_set(ctx.write(dst).0);
    match (src_kind, dst_kind) {
        (None, _) => {
            ctx.out.int(0);
            return;
        }
        (Some(false), _) | (_, Some(false)) => {
            ctx.error(err::WRONGTYPE);
            return;
        }
        _ => {}
    }
    let Some(Value::Set(s)) = ctx.write(src).0.map(|e| &mut e.value) else {
        return; // checked above
    };
    if src == dst {
        let present = s.contains(member);
        ctx.out.int(i64::from(present));
        return;
    }
    if !s.remove(member) {
        ctx.out.int(0);
        return;
    }
    let empty = s.is_empty();
    after_removal(ctx, src, empty, true);
    notify_removal(ctx, notify::SET, "srem", src, empty);
    let added = match ctx.write(dst).0.map(|e| &mut e.value) {
        Some(Value::Set(d)) => {
            let added = d.insert(member, max);
            if added {
                ctx.modified(dst);
            }
            added
        }
        _ => {
            let mut d = Set::new();
            d.insert(member, max);
            ctx.db().insert_new(dst, Value::Set(d), Ttl::Clear, now);
            true
        }
    };
    if added {
        notify(ctx, notify::SET, "sadd", dst);
    }
    ctx.out.int(1);
}

/// Looks every key up as Redis's `lookupKeyRead` loop does (counting keyspace hits and
/// misses, deleting expired keys) and checks that each one that exists is a set. Replies
/// WRONGTYPE and returns false at the first that is not.
fn check_sets<'k>(ctx: &mut Ctx, keys: impl Iterator<Item = &'k [u8]>) -> bool {
    for k in keys {
        if let (Some(e), out) = ctx.read(k)
            && !matches!(e.value, Value::Set(_))
        {
            out.error(err::WRONGTYPE);
            return false;
        }
    }
    true
}

/// The sets under `keys` (None for a missing key), borrowed together. Call after
/// [`check_sets`], which deleted the expired ones and checked the types.
fn sets_of<'s, 'k>(
    store: &'s Store,
    db: usize,
    now: u64,
    keys: impl Iterator<Item = &'k [u8]>,
) -> Vec<Option<&'s Set>> {
    let db = store.db_ref(db);
    keys.map(|k| match db.peek(k, now).map(|e| &e.value) {
        Some(Value::Set(s)) => Some(s),
        _ => None,
    })
    .collect()
}

/// The members of the intersection of `sets` (all present), in the order Redis lists them:
/// the smallest set's own order. Stops after `limit` members.
fn intersection<'s>(sets: &[&'s Set], limit: usize) -> Vec<Member<'s>> {
    let mut by_size: Vec<&Set> = sets.to_vec();
    by_size.sort_by_key(|s| s.len());
    let Some((first, rest)) = by_size.split_first() else {
        return Vec::new();
    };
    first
        .iter()
        .filter(|&m| rest.iter().all(|s| s.contains_member(m)))
        .take(limit)
        .collect()
}

/// Stores `result` at `dst` (replacing the key and its TTL) and replies with its size, then
/// publishes `event`; or, when the result is empty, replies 0 and deletes `dst` (publishing
/// `del` if it existed). Redis's order: the store's own events (`new`) come before the
/// reply, the command's after it.
fn store_result(ctx: &mut Ctx, dst: &[u8], result: Set, event: &'static str) {
    let n = result.len();
    let now = ctx.now;
    if n > 0 {
        ctx.db().set(dst, Value::Set(result), Ttl::Clear, now);
        notify::flush_store_events(ctx);
        ctx.out.int(n as i64);
        notify(ctx, notify::SET, event, dst);
    } else {
        ctx.out.int(0);
        delete_result(ctx, dst);
    }
}

/// Deletes the destination of an empty STORE result, publishing `del` if it existed.
pub(super) fn delete_result(ctx: &mut Ctx, dst: &[u8]) {
    let now = ctx.now;
    if let Some(e) = ctx.db().remove(dst, now) {
        crate::store::lazyfree::free_server_del(e.value);
        notify(ctx, notify::GENERIC, "del", dst);
    }
}

fn sinter(ctx: &mut Ctx, args: Args) {
    let keys = args.tail(1);
    if !check_sets(ctx, keys.iter()) {
        return;
    }
    let sets = sets_of(ctx.store, ctx.client.db, ctx.now, keys.iter());
    let out = &mut *ctx.out;
    let Some(sets) = sets.into_iter().collect::<Option<Vec<&Set>>>() else {
        out.set(0); // a missing key is an empty set
        return;
    };
    let members = intersection(&sets, usize::MAX);
    out.set(members.len());
    for m in members {
        reply_member(out, m);
    }
}

fn sinterstore(ctx: &mut Ctx, args: Args) {
    let keys = args.tail(2);
    if !check_sets(ctx, keys.iter()) {
        return;
    }
    let max = ctx.limits().set_intset_entries;
    let sets = sets_of(ctx.store, ctx.client.db, ctx.now, keys.iter());
    let dst = args.get(1);
    let Some(sets) = sets.into_iter().collect::<Option<Vec<&Set>>>() else {
        // A missing key makes the result empty: Redis deletes the destination (and
        // publishes `del`) before replying, unlike an empty intersection of existing sets.
        delete_result(ctx, dst);
        ctx.out.int(0);
        return;
    };
    let mut result = Set::new();
    for m in intersection(&sets, usize::MAX) {
        result.insert_member(m, max);
    }
    store_result(ctx, dst, result, "sinterstore");
}

fn sintercard(ctx: &mut Ctx, args: Args) {
    const BAD_NUMKEYS: &str = "ERR numkeys should be greater than 0";
    let numkeys = match crate::resp::parse_i64(args.get(1)) {
        Some(n) if n >= 1 => n as u64,
        _ => {
            ctx.error(BAD_NUMKEYS);
            return;
        }
    };
    if numkeys > (args.len() - 2) as u64 {
        ctx.error("ERR Number of keys can't be greater than number of args");
        return;
    }
    let numkeys = numkeys as usize;
    let mut limit = 0usize;
    let mut j = 2 + numkeys;
    while j < args.len() {
        if args.get(j).eq_ignore_ascii_case(b"limit") && j + 1 < args.len() {
            match crate::resp::parse_i64(args.get(j + 1)) {
                Some(l) if l >= 0 => limit = l as usize,
                _ => {
                    ctx.error("ERR LIMIT can't be negative");
                    return;
                }
            }
            j += 2;
        } else {
            ctx.error(err::SYNTAX);
            return;
        }
    }
    let keys = args.tail(2);
    let keys = || keys.iter().take(numkeys);
    if !check_sets(ctx, keys()) {
        return;
    }
    let sets = sets_of(ctx.store, ctx.client.db, ctx.now, keys());
    let n = match sets.into_iter().collect::<Option<Vec<&Set>>>() {
        Some(sets) => intersection(&sets, if limit == 0 { usize::MAX } else { limit }).len(),
        None => 0,
    };
    ctx.out.int(n as i64);
}

/// The union of `sets`, built as Redis builds it (an intset while it can be one, so that
/// all-integer unions come out sorted as in Redis).
fn union(sets: &[Option<&Set>], max: usize) -> Set {
    let mut result = Set::new();
    for s in sets.iter().flatten() {
        for m in s.iter() {
            result.insert_member(m, max);
        }
    }
    result
}

/// The members of the first set that are in none of the others. Uses the algorithm Redis
/// picks for these sizes, since it decides the result's encoding and thereby its order.
fn difference(sets: &[Option<&Set>], max: usize) -> Set {
    let mut result = Set::new();
    let Some((Some(first), rest)) = sets.split_first() else {
        return result;
    };
    let present: Vec<&Set> = rest.iter().flatten().copied().collect();
    let one_work = first.len() * (present.len() + 1) / 2;
    let two_work = first.len() + present.iter().map(|s| s.len()).sum::<usize>();
    if one_work <= two_work {
        // Algorithm 1: each member of the first set not found in the others.
        for m in first.iter() {
            if !present.iter().any(|s| s.contains_member(m)) {
                result.insert_member(m, max);
            }
        }
    } else {
        // Algorithm 2: all of the first set, minus each of the others.
        for m in first.iter() {
            result.insert_member(m, max);
        }
        for s in &present {
            for m in s.iter() {
                m.with_bytes(|b| result.remove(b));
            }
            if result.is_empty() {
                break;
            }
        }
    }
    result
}

/// SUNION / SDIFF and their STORE forms (Redis's `sunionDiffGenericCommand`).
fn union_or_diff(ctx: &mut Ctx, keys: Args, dst: Option<&[u8]>, diff: bool) {
    let max = ctx.limits().set_intset_entries;
    if !check_sets(ctx, keys.iter()) {
        return;
    }
    let sets = sets_of(ctx.store, ctx.client.db, ctx.now, keys.iter());
    let result = if diff {
        difference(&sets, max)
    } else {
        union(&sets, max)
    };
    match dst {
        Some(dst) => store_result(
            ctx,
            dst,
            result,
            if diff { "sdiffstore" } else { "sunionstore" },
        ),
        None => reply_set(ctx.out, &result),
    }
}

fn sunion(ctx: &mut Ctx, args: Args) {
    union_or_diff(ctx, args.tail(1), None, false);
}

fn sunionstore(ctx: &mut Ctx, args: Args) {
    union_or_diff(ctx, args.tail(2), Some(args.get(1)), false);
}

fn sdiff(ctx: &mut Ctx, args: Args) {
    union_or_diff(ctx, args.tail(1), None, true);
}

fn sdiffstore(ctx: &mut Ctx, args: Args) {
    union_or_diff(ctx, args.tail(2), Some(args.get(1)), true);
}

/// The reply to a SCAN-family command on a missing key: cursor 0, no elements.
pub(super) fn empty_scan(out: &mut Reply) {
    out.array(2);
    out.bulk(b"0");
    out.array(0);
}

fn sscan(ctx: &mut Ctx, args: Args) {
    // Redis checks the cursor, then the key, then the options.
    let key = args.get(1);
    if parse_cursor(args.get(2)).is_none() {
        ctx.error("ERR invalid cursor");
        return;
    }
    match ctx.read(key) {
        (None, out) => {
            empty_scan(out);
            return;
        }
        (Some(e), out) => {
            if as_set(&mut e.value, out).is_none() {
                return;
            }
        }
    }
    let Some(scan) = parse_scan_args(ctx, args, 2, false) else {
        return;
    };
    let sets = sets_of(ctx.store, ctx.client.db, ctx.now, std::iter::once(key));
    let Some(Some(s)) = sets.first() else {
        empty_scan(ctx.out);
        return;
    };
    // An intset is returned whole, in order, with cursor 0 (as Redis does for its compact
    // encodings); a table is scanned with Redis's reverse-binary cursor.
    let mut found: Vec<Member> = Vec::new();
    let next = s.scan(scan.cursor, scan.count, |m| found.push(m));
    if let Some(p) = scan.pattern {
        found.retain(|m| m.with_bytes(|b| glob_match(p, b, false)));
    }
    let out = &mut *ctx.out;
    out.array(2);
    out.bulk(next.to_string().as_bytes());
    out.array(found.len());
    for m in found {
        reply_member(out, m);
    }
}
