//! Consumer-group commands (Redis's t_stream.c): XGROUP (CREATE, SETID, DESTROY,
//! CREATECONSUMER, DELCONSUMER, HELP), XACK, XPENDING, XCLAIM and XAUTOCLAIM.

use super::super::notify::{STREAM, notify};
use super::super::{Ctx, err, reply_help};
use super::{as_stream, c_str, id_arg, is_exactly, range_end, range_start, reply_entry, reply_id};
use crate::resp::{Args, Reply, parse_i64};
use crate::store::stream::group::{ConsumerSlot, ENTRIES_READ_UNKNOWN, Nack};
use crate::store::stream::id::parse_id;
use crate::store::stream::{Group, Log, StreamId};
use crate::store::{Ttl, Value};

/// Redis's addReplySubcommandSyntaxError.
pub(super) fn subcommand_syntax_error(out: &mut Reply, args: Args) {
    let container = c_str(args.get(0)).to_ascii_uppercase();
    out.error_parts(&[
        b"ERR unknown subcommand or wrong number of arguments for '",
        super::super::c_bytes(args.get(1), 128),
        b"'. Try ",
        &container,
        b" HELP.",
    ]);
}

/// Redis's `-NOGROUP No such key '<key>' or consumer group '<group>'` (with `suffix`).
fn no_such_key_or_group(out: &mut Reply, key: &[u8], group: &[u8], suffix: &[u8]) {
    out.error_parts(&[
        b"NOGROUP No such key '",
        c_str(key),
        b"' or consumer group '",
        c_str(group),
        b"'",
        suffix,
    ]);
}

/// Parses an integer argument, replying `ERR <msg>` when it is not one (Redis's
/// getLongLongFromObjectOrReply with a message).
fn int_arg_or(ctx: &mut Ctx, arg: &[u8], msg: &str) -> Option<i64> {
    let v = parse_i64(arg);
    if v.is_none() {
        ctx.out.error_parts(&[b"ERR ", msg.as_bytes()]);
    }
    v
}

const XGROUP_HELP: &[&str] = &[
    "XGROUP <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CREATE <key> <groupname> <id|$> [option]",
    "    Create a new consumer group. Options are:",
    "    * MKSTREAM",
    "      Create the empty stream if it does not exist.",
    "    * ENTRIESREAD entries_read",
    "      Set the group's entries_read counter (internal use).",
    "CREATECONSUMER <key> <groupname> <consumer>",
    "    Create a new consumer in the specified group.",
    "DELCONSUMER <key> <groupname> <consumer>",
    "    Remove the specified consumer.",
    "DESTROY <key> <groupname>",
    "    Remove the specified group.",
    "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
    "    Set the current group ID and entries_read counter.",
    "HELP",
    "    Prints this help.",
];

pub fn xgroup(ctx: &mut Ctx, args: Args) {
    if args.len() < 2 {
        super::super::arity_error(ctx.out, "xgroup");
        return;
    }
    let sub = args.get(1).to_ascii_lowercase();
    if args.len() == 2 && sub == b"help" {
        reply_help(ctx.out, XGROUP_HELP);
        return;
    }
    if args.len() < 4 {
        subcommand_syntax_error(ctx.out, args);
        return;
    }
    let create = sub == b"create";
    let setid = sub == b"setid";
    let mut mkstream = false;
    let mut entries_read = ENTRIES_READ_UNKNOWN;
    let mut i = 5;
    while i < args.len() {
        let opt = args.get(i);
        if create && opt.eq_ignore_ascii_case(b"mkstream") {
            mkstream = true;
            i += 1;
        } else if (create || setid)
            && opt.eq_ignore_ascii_case(b"entriesread")
            && i + 1 < args.len()
        {
            let Some(n) = ctx.int_arg(args.get(i + 1)) else {
                return;
            };
            if n < 0 && n != ENTRIES_READ_UNKNOWN {
                ctx.error("ERR value for ENTRIESREAD must be positive or -1");
                return;
            }
            entries_read = n;
            i += 2;
        } else {
            subcommand_syntax_error(ctx.out, args);
            return;
        }
    }
    let (key, name) = (args.get(2), args.get(3));
    let (exists, has_group, last_id) = {
        let (found, out) = ctx.write(key);
        match as_stream(found, out) {
            Err(()) => return,
            Ok(None) => (false, false, StreamId::MIN),
            Ok(Some(s)) => (true, s.groups.contains_key(name), s.log.last_id),
        }
    };
    if !mkstream {
        if !exists {
            ctx.error("ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.");
            return;
        }
        if !has_group && matches!(&sub[..], b"setid" | b"createconsumer" | b"delconsumer") {
            ctx.out.error_parts(&[
                b"NOGROUP No such consumer group '",
                c_str(name),
                b"' for key name '",
                c_str(key),
                b"'",
            ]);
            return;
        }
    }
    let now = ctx.now;
    match &sub[..] {
        b"create" if (5..=8).contains(&args.len()) => {
            let id = if is_exactly(args.get(4), b"$") {
                last_id
            } else {
                let Some(id) = id_arg(ctx, args.get(4), 0, true) else {
                    return;
                };
                id
            };
            if !exists {
                ctx.db()
                    .insert_new(key, Value::Stream(Box::default()), Ttl::Clear, now);
            }
            let created = with_stream(ctx, key, |s| {
                if s.groups.contains_key(name) {
                    return false;
                }
                s.groups.insert(name.into(), Group::new(id, entries_read));
                true
            });
            if created {
                ctx.out.ok();
                notify(ctx, STREAM, "xgroup-create", key);
                // Group changes are not key changes (WATCH ignores them, as Redis), but
                // they are written.
                ctx.force_propagate();
            } else {
                ctx.error("BUSYGROUP Consumer Group name already exists");
            }
        }
        b"setid" if args.len() == 5 || args.len() == 7 => {
            let id = if is_exactly(args.get(4), b"$") {
                last_id
            } else {
                let Some(id) = id_arg(ctx, args.get(4), 0, false) else {
                    return;
                };
                id
            };
            with_stream(ctx, key, |s| {
                if let Some(g) = s.groups.get_mut(name) {
                    g.last_id = id;
                    g.entries_read = entries_read;
                }
            });
            ctx.out.ok();
            notify(ctx, STREAM, "xgroup-setid", key);
            ctx.force_propagate();
        }
        b"destroy" if args.len() == 4 => {
            if with_stream(ctx, key, |s| s.groups.remove(name).is_some()) {
                ctx.out.int(1);
                notify(ctx, STREAM, "xgroup-destroy", key);
                ctx.force_propagate();
                // Its blocked readers get an error.
                ctx.db().signal_ready(key);
            } else {
                ctx.out.int(0);
            }
        }
        b"createconsumer" if args.len() == 5 => {
            let consumer = args.get(4);
            let created = with_stream(ctx, key, |s| {
                s.groups
                    .get_mut(name)
                    .is_some_and(|g| g.create_consumer(consumer, now).1)
            });
            ctx.out.int(i64::from(created));
            if created {
                notify(ctx, STREAM, "xgroup-createconsumer", key);
                ctx.force_propagate();
            }
        }
        b"delconsumer" if args.len() == 5 => {
            let consumer = args.get(4);
            let pending = with_stream(ctx, key, |s| {
                s.groups
                    .get_mut(name)
                    .and_then(|g| g.delete_consumer(consumer))
            });
            ctx.out.int(pending.unwrap_or(0) as i64);
            if pending.is_some() {
                notify(ctx, STREAM, "xgroup-delconsumer", key);
                ctx.force_propagate();
            }
        }
        _ => subcommand_syntax_error(ctx.out, args),
    }
}

/// Runs `f` on the stream at `key`, known to exist.
fn with_stream<T: Default>(
    ctx: &mut Ctx,
    key: &[u8],
    f: impl FnOnce(&mut crate::store::Stream) -> T,
) -> T {
    let now = ctx.now;
    match ctx.db().get_mut(key, now) {
        Some(crate::store::Entry {
            value: Value::Stream(s),
            ..
        }) => f(s),
        _ => T::default(),
    }
}

pub fn xack(ctx: &mut Ctx, args: Args) {
    let (key, name) = (args.get(1), args.get(2));
    {
        let (found, out) = ctx.read(key);
        match as_stream(found, out) {
            Err(()) => return,
            Ok(s) if !s.as_ref().is_some_and(|s| s.groups.contains_key(name)) => return out.int(0),
            Ok(_) => {}
        }
    }
    let mut ids = Vec::with_capacity((args.len() - 3).min(1024));
    for i in 3..args.len() {
        let Some(id) = id_arg(ctx, args.get(i), 0, true) else {
            return;
        };
        ids.push(id);
    }
    let acked = with_stream(ctx, key, |s| {
        s.groups
            .get_mut(name)
            .map_or(0, |g| ids.iter().filter(|&&id| g.ack(id)).count())
    });
    ctx.out.int(acked as i64);
    if acked > 0 {
        ctx.force_propagate();
    }
}

pub fn xpending(ctx: &mut Ctx, args: Args) {
    let argc = args.len();
    let (key, name) = (args.get(1), args.get(2));
    if argc != 3 && !(6..=9).contains(&argc) {
        ctx.error(err::SYNTAX);
        return;
    }
    let mut range = None;
    if argc >= 6 {
        let mut at = 3;
        let mut min_idle = 0i64;
        if args.get(3).eq_ignore_ascii_case(b"idle") {
            let Some(v) = ctx.int_arg(args.get(4)) else {
                return;
            };
            min_idle = v;
            if argc < 8 {
                ctx.error(err::SYNTAX);
                return;
            }
            at += 2;
        }
        let Some(count) = super::count_arg(ctx, args.get(at + 2)) else {
            return;
        };
        let Some(start) = range_start(ctx, args.get(at)) else {
            return;
        };
        let Some(end) = range_end(ctx, args.get(at + 1)) else {
            return;
        };
        let consumer = (at + 3 < argc).then(|| args.get(at + 3));
        range = Some((min_idle, start, end, count, consumer));
    }
    let now = ctx.now as i64;
    let (found, out) = ctx.read(key);
    let stream = match as_stream(found, out) {
        Err(()) => return,
        Ok(s) => s,
    };
    let Some(group) = stream.and_then(|s| s.groups.get(name)) else {
        no_such_key_or_group(out, key, name, b"");
        return;
    };
    let Some((min_idle, start, end, count, consumer)) = range else {
        out.array(4);
        out.int(group.pel.len() as i64);
        match (group.pel.first(), group.pel.last()) {
            (Some(first), Some(last)) => {
                reply_id(out, first);
                reply_id(out, last);
                let at = out.begin_deferred();
                let mut n = 0;
                for c in group.consumers().filter(|c| !c.pel.is_empty()) {
                    out.array(2);
                    out.bulk(&c.name);
                    out.bulk_i64(c.pel.len() as i64);
                    n += 1;
                }
                out.end_deferred(at, b'*', n);
            }
            _ => {
                out.null();
                out.null();
                out.null_array();
            }
        }
        return;
    };
    let owner_pel = match consumer {
        None => None,
        Some(c) => match group.find_consumer(c) {
            Some(slot) => Some(&group.consumer(slot).pel),
            None => return out.array(0),
        },
    };
    let ids: Box<dyn Iterator<Item = StreamId>> = match owner_pel {
        Some(pel) => Box::new(pel.iter_from(start).map(|(id, ())| id)),
        None => Box::new(group.pel.iter_from(start).map(|(id, _)| id)),
    };
    let at = out.begin_deferred();
    let mut n = 0usize;
    let mut left = count;
    for id in ids.take_while(|&id| id <= end) {
        if left == 0 {
            break;
        }
        let Some(nack) = group.pel.get(id) else {
            continue;
        };
        let idle = now.wrapping_sub(nack.delivery_time as i64);
        if min_idle != 0 && idle < min_idle {
            continue;
        }
        n += 1;
        left -= 1;
        out.array(4);
        reply_id(out, id);
        out.bulk(&group.consumer(nack.consumer).name);
        out.int(idle.max(0));
        out.int(nack.delivery_count as i64);
    }
    out.end_deferred(at, b'*', n);
}

/// Gives the pending entry `id` (whose NACK is `nack`, None for one XCLAIM FORCE creates)
/// to consumer `name` (created if needed): the shared step of XCLAIM and XAUTOCLAIM.
/// Returns the consumer's slot.
fn claim_for(
    group: &mut Group,
    name: &[u8],
    claimer: &mut Option<ConsumerSlot>,
    created: &mut bool,
    now: u64,
) -> ConsumerSlot {
    if let Some(slot) = *claimer {
        return slot;
    }
    let (slot, new) = group.create_consumer(name, now);
    group.consumer_mut(slot).seen_time = now;
    *created |= new;
    *claimer = Some(slot);
    slot
}

pub fn xclaim(ctx: &mut Ctx, args: Args) {
    let (key, name, consumer) = (args.get(1), args.get(2), args.get(3));
    {
        let (found, out) = ctx.read(key);
        match as_stream(found, out) {
            Err(()) => return,
            Ok(s) if !s.as_ref().is_some_and(|s| s.groups.contains_key(name)) => {
                return no_such_key_or_group(out, key, name, b"");
            }
            Ok(_) => {}
        }
    }
    let Some(min_idle) = int_arg_or(
        ctx,
        args.get(4),
        "Invalid min-idle-time argument for XCLAIM",
    ) else {
        return;
    };
    let min_idle = min_idle.max(0);
    let mut ids = Vec::new();
    let mut j = 5;
    while j < args.len() {
        match parse_id(args.get(j), 0, true, false) {
            Some(p) => ids.push(p.id),
            None => break,
        }
        j += 1;
    }
    let now = ctx.now as i64;
    let (mut force, mut justid) = (false, false);
    let mut delivery_time: Option<i64> = None;
    let mut retry_count: Option<i64> = None;
    let mut last_id = StreamId::MIN;
    while j < args.len() {
        let more = args.len() - 1 - j;
        let opt = args.get(j);
        if opt.eq_ignore_ascii_case(b"force") {
            force = true;
        } else if opt.eq_ignore_ascii_case(b"justid") {
            justid = true;
        } else if opt.eq_ignore_ascii_case(b"idle") && more > 0 {
            j += 1;
            let Some(idle) =
                int_arg_or(ctx, args.get(j), "Invalid IDLE option argument for XCLAIM")
            else {
                return;
            };
            delivery_time = Some(now.wrapping_sub(idle));
        } else if opt.eq_ignore_ascii_case(b"time") && more > 0 {
            j += 1;
            let Some(t) = int_arg_or(ctx, args.get(j), "Invalid TIME option argument for XCLAIM")
            else {
                return;
            };
            delivery_time = Some(t);
        } else if opt.eq_ignore_ascii_case(b"retrycount") && more > 0 {
            j += 1;
            let Some(n) = int_arg_or(
                ctx,
                args.get(j),
                "Invalid RETRYCOUNT option argument for XCLAIM",
            ) else {
                return;
            };
            retry_count = Some(n);
        } else if opt.eq_ignore_ascii_case(b"lastid") && more > 0 {
            j += 1;
            let Some(id) = id_arg(ctx, args.get(j), 0, true) else {
                return;
            };
            last_id = id;
        } else {
            ctx.out
                .error_parts(&[b"ERR Unrecognized XCLAIM option '", c_str(opt), b"'"]);
            return;
        }
        j += 1;
    }
    // A bogus delivery time (negative, or in the future) is taken as now, as Redis does.
    let delivery_time = match delivery_time {
        Some(t) if (0..=now).contains(&t) => t as u64,
        _ => now as u64,
    };
    let now = now as u64;
    let mut created = false;
    let mut effects = Claimed::default();
    {
        let (found, out) = ctx.read(key);
        let Ok(Some(stream)) = as_stream(found, out) else {
            return;
        };
        let crate::store::Stream { log, groups } = stream;
        let Some(group) = groups.get_mut(name) else {
            return;
        };
        if last_id > group.last_id {
            group.last_id = last_id;
            effects.moved_last_id = true;
        }
        let mut claimer = None;
        let at = out.begin_deferred();
        let mut n = 0;
        for id in ids {
            let pending = group.pel.get(id).copied();
            if log.get(id).is_none() {
                // The entry is gone: its pending record goes too.
                if pending.is_some() {
                    group.ack(id);
                    effects.acked.push(id);
                }
                continue;
            }
            let forced = force && pending.is_none();
            let Some(nack) = pending.or(forced.then_some(Nack {
                delivery_time: now,
                delivery_count: 1,
                consumer: ConsumerSlot::MAX,
            })) else {
                continue;
            };
            if !forced
                && min_idle != 0
                && (now as i64).wrapping_sub(nack.delivery_time as i64) < min_idle
            {
                continue;
            }
            let slot = claim_for(group, consumer, &mut claimer, &mut created, now);
            let count = match retry_count {
                Some(r) if r >= 0 => r as u64,
                _ if !justid => nack.delivery_count.wrapping_add(1),
                _ => nack.delivery_count,
            };
            group.pel.insert(
                id,
                Nack {
                    delivery_time,
                    delivery_count: count,
                    consumer: nack.consumer,
                },
            );
            group.transfer(id, (!forced).then_some(nack.consumer), slot);
            reply_claimed(out, log, id, justid);
            effects.claimed.push((id, delivery_time, count));
            n += 1;
        }
        out.end_deferred(at, b'*', n);
        effects.group_state = (group.last_id, group.entries_read);
    }
    if created {
        notify(ctx, STREAM, "xgroup-createconsumer", key);
    }
    propagate_claims(ctx, key, name, consumer, &effects);
}

/// What XCLAIM or XAUTOCLAIM changed, for the append-only file.
#[derive(Default)]
struct Claimed {
    /// Entries claimed: ID, delivery time, delivery count.
    claimed: Vec<(StreamId, u64, u64)>,
    /// Pending entries dropped because their entry was deleted.
    acked: Vec<StreamId>,
    /// LASTID moved the group's last ID.
    moved_last_id: bool,
    /// The group's last ID and entries-read counter afterwards.
    group_state: (StreamId, i64),
}

/// Writes a claim as Redis propagates it: one XCLAIM per claimed entry with its exact
/// delivery time and count (FORCE JUSTID, and the group's last ID); a pending entry
/// dropped for a deleted entry as XACK; a moved last ID alone as XGROUP SETID.
fn propagate_claims(ctx: &mut Ctx, key: &[u8], group: &[u8], consumer: &[u8], c: &Claimed) {
    if !ctx.shared.propagation.on {
        return;
    }
    let (last_id, entries_read) = c.group_state;
    let mut last = [0u8; 41];
    let last = last_id.format(&mut last).to_vec();
    for &id in &c.acked {
        let mut buf = [0u8; 41];
        ctx.propagate_as(&[b"XACK", key, group, id.format(&mut buf)]);
    }
    for &(id, time, count) in &c.claimed {
        let (mut i, mut t, mut n) = ([0u8; 41], [0u8; 20], [0u8; 20]);
        ctx.propagate_as(&[
            b"XCLAIM",
            key,
            group,
            consumer,
            b"0",
            id.format(&mut i),
            b"TIME",
            crate::resp::format_i64(time as i64, &mut t),
            b"RETRYCOUNT",
            crate::resp::format_i64(count as i64, &mut n),
            b"FORCE",
            b"JUSTID",
            b"LASTID",
            &last,
        ]);
    }
    if c.moved_last_id && c.claimed.is_empty() {
        let mut n = [0u8; 20];
        ctx.propagate_as(&[
            b"XGROUP",
            b"SETID",
            key,
            group,
            &last,
            b"ENTRIESREAD",
            crate::resp::format_i64(entries_read, &mut n),
        ]);
    }
    ctx.propagate_nothing();
}

/// A claimed entry: its ID (JUSTID) or the entry itself.
fn reply_claimed(out: &mut Reply, log: &Log, id: StreamId, justid: bool) {
    match log.get(id) {
        Some(entry) if !justid => reply_entry(out, &entry),
        _ => reply_id(out, id),
    }
}

pub fn xautoclaim(ctx: &mut Ctx, args: Args) {
    let (key, name, consumer) = (args.get(1), args.get(2), args.get(3));
    let Some(min_idle) = int_arg_or(
        ctx,
        args.get(4),
        "Invalid min-idle-time argument for XAUTOCLAIM",
    ) else {
        return;
    };
    let min_idle = min_idle.max(0);
    let Some(start) = range_start(ctx, args.get(5)) else {
        return;
    };
    // Redis bounds COUNT so that its scratch array (16 bytes per ID) and the attempts
    // (10 per ID) cannot overflow; nothing is allocated from it here.
    const MAX_COUNT: i64 = i64::MAX / 16;
    let mut count = 100u64;
    let mut justid = false;
    let mut j = 6;
    while j < args.len() {
        let more = args.len() - 1 - j;
        let opt = args.get(j);
        if opt.eq_ignore_ascii_case(b"count") && more > 0 {
            match parse_i64(args.get(j + 1)) {
                Some(n) if (1..=MAX_COUNT).contains(&n) => count = n as u64,
                _ => {
                    ctx.error("ERR COUNT must be > 0");
                    return;
                }
            }
            j += 1;
        } else if opt.eq_ignore_ascii_case(b"justid") {
            justid = true;
        } else {
            ctx.error(err::SYNTAX);
            return;
        }
        j += 1;
    }
    let now = ctx.now;
    let mut created = false;
    let mut effects = Claimed::default();
    {
        let (found, out) = ctx.read(key);
        let stream = match as_stream(found, out) {
            Err(()) => return,
            Ok(s) => s,
        };
        let Some(stream) = stream.filter(|s| s.groups.contains_key(name)) else {
            no_such_key_or_group(out, key, name, b"");
            return;
        };
        // Redis allocates 16 bytes per COUNT up front and answers this error when that
        // fails; nothing is allocated from COUNT here, but a request no allocator could
        // ever satisfy (past the 47-bit address space) gets Redis's answer.
        if count.saturating_mul(16) > 1 << 47 {
            out.error(
                "ERR Insufficient memory, failed allocating transient memory, COUNT too high.",
            );
            return;
        }
        let crate::store::Stream { log, groups } = stream;
        let Some(group) = groups.get_mut(name) else {
            return;
        };
        let mut attempts = count.saturating_mul(10);
        let mut claimer = None;
        let mut deleted = Vec::new();
        // Claim first, then reply: the cursor comes first in the reply.
        let mut claimed = Vec::new();
        let mut pos = Some(start);
        while attempts > 0 && count > 0 {
            attempts -= 1;
            let Some(from) = pos else {
                break;
            };
            let Some((id, nack)) = group.pel.first_from_mut(from) else {
                pos = None;
                break;
            };
            pos = id.next();
            if log.get(id).is_none() {
                group.ack(id);
                deleted.push(id);
                effects.acked.push(id);
                count -= 1;
                continue;
            }
            if min_idle != 0 && (now as i64).wrapping_sub(nack.delivery_time as i64) < min_idle {
                continue;
            }
            let previous = nack.consumer;
            nack.delivery_time = now;
            if !justid {
                nack.delivery_count = nack.delivery_count.wrapping_add(1);
            }
            let count_now = nack.delivery_count;
            let slot = claim_for(group, consumer, &mut claimer, &mut created, now);
            group.transfer(id, Some(previous), slot);
            claimed.push(id);
            effects.claimed.push((id, now, count_now));
            count -= 1;
        }
        effects.group_state = (group.last_id, group.entries_read);
        // The cursor: the next pending entry after the last one looked at.
        let next = pos
            .and_then(|p| group.pel.iter_from(p).next())
            .map_or(StreamId::MIN, |(id, _)| id);
        out.array(3);
        reply_id(out, next);
        out.array(claimed.len());
        for id in claimed {
            reply_claimed(out, log, id, justid);
        }
        out.array(deleted.len());
        for id in deleted {
            reply_id(out, id);
        }
    }
    if created {
        notify(ctx, STREAM, "xgroup-createconsumer", key);
    }
    propagate_claims(ctx, key, name, consumer, &effects);
}
