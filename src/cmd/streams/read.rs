//! XREAD and XREADGROUP (Redis's xreadCommand), and serving their blocked callers when
//! a stream they wait for grows (Redis's serveClientsBlockedOnStreamKey).
//!
//! A caller that finds nothing to read and asked to BLOCK waits on the blocking
//! machinery of [`crate::cmd::blocking`] with a [`StreamWait`]: per key the ID it waits to
//! pass (`$` resolved to the stream's last ID when it blocked), and for XREADGROUP the
//! group and consumer, whose group's last delivered ID is read again when it is served.

use super::super::blocking::{self, Waiting};
use super::super::notify::{STREAM, notify};
use super::super::{Ctx, err};
use super::{INVALID_ID, as_stream, c_str, is_exactly, reply_entry, reply_id};
use crate::resp::{Args, Reply};
use crate::store::stream::group::ConsumerSlot;
use crate::store::stream::id::parse_id;
use crate::store::stream::{Group, Log, Stream, StreamId};
use crate::store::{Entry, Value};

/// How many entries a blocked XREAD without COUNT gets when served (Redis's
/// XREAD_BLOCKED_DEFAULT_COUNT).
const BLOCKED_DEFAULT_COUNT: u64 = 1000;

/// XREADGROUP's group, consumer and NOACK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRead {
    /// The group's name.
    pub group: Box<[u8]>,
    /// The consumer's name.
    pub consumer: Box<[u8]>,
    /// Deliver without adding to the pending lists.
    pub noack: bool,
}

/// What a blocked XREAD / XREADGROUP waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamWait {
    /// Per key (first occurrence), the ID entries must be above.
    pub after: Vec<(Box<[u8]>, StreamId)>,
    /// Most entries to reply with.
    pub count: u64,
    /// XREADGROUP's group (None for XREAD).
    pub group: Option<GroupRead>,
}

/// The marker for XREADGROUP's `>`: entries never delivered to the group.
const NEW_ENTRIES: StreamId = StreamId::MAX;

pub fn xread(ctx: &mut Ctx, args: Args) {
    xread_generic(ctx, args, false);
}

pub fn xreadgroup(ctx: &mut Ctx, args: Args) {
    xread_generic(ctx, args, true);
}

fn xread_generic(ctx: &mut Ctx, args: Args, xreadgroup: bool) {
    let mut deadline: Option<u64> = None;
    let mut count = 0u64;
    let mut streams_at = 0;
    let mut noack = false;
    let mut group_args: Option<(&[u8], &[u8])> = None;
    let mut i = 1;
    while i < args.len() {
        let more = args.len() - i - 1;
        let opt = args.get(i);
        if opt.eq_ignore_ascii_case(b"block") && more > 0 {
            if ctx.shared.in_script {
                ctx.out.error_parts(&[
                    b"ERR ",
                    c_str(args.get(0)),
                    b" command is not allowed with BLOCK option from scripts",
                ]);
                return;
            }
            i += 1;
            let Some(d) = timeout_ms_arg(ctx, args.get(i)) else {
                return;
            };
            deadline = Some(d);
        } else if opt.eq_ignore_ascii_case(b"count") && more > 0 {
            i += 1;
            let Some(n) = super::count_arg(ctx, args.get(i)) else {
                return;
            };
            count = n;
        } else if opt.eq_ignore_ascii_case(b"streams") && more > 0 {
            streams_at = i + 1;
            if !(args.len() - streams_at).is_multiple_of(2) {
                ctx.error("ERR Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified.");
                return;
            }
            break;
        } else if opt.eq_ignore_ascii_case(b"group") && more >= 2 {
            if !xreadgroup {
                ctx.error("ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead.");
                return;
            }
            group_args = Some((args.get(i + 1), args.get(i + 2)));
            i += 2;
        } else if opt.eq_ignore_ascii_case(b"noack") {
            if !xreadgroup {
                ctx.error("ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead.");
                return;
            }
            noack = true;
        } else {
            ctx.error(err::SYNTAX);
            return;
        }
        i += 1;
    }
    if streams_at == 0 {
        ctx.error(err::SYNTAX);
        return;
    }
    if xreadgroup && group_args.is_none() {
        ctx.error("ERR Missing GROUP option for XREADGROUP");
        return;
    }
    let n = (args.len() - streams_at) / 2;
    let key_of = |k: usize| args.get(streams_at + k);
    let mut after = Vec::with_capacity(n.min(1024));
    for k in 0..n {
        let key = key_of(k);
        let id_arg = args.get(streams_at + n + k);
        let (found, out) = ctx.read(key);
        let Ok(stream) = as_stream(found, out) else {
            return;
        };
        if let Some((group_name, _)) = group_args
            && !stream
                .as_ref()
                .is_some_and(|s| s.groups.contains_key(group_name))
        {
            out.error_parts(&[
                b"NOGROUP No such key '",
                c_str(key),
                b"' or consumer group '",
                c_str(group_name),
                b"' in XREADGROUP with GROUP option",
            ]);
            return;
        }
        let id = if is_exactly(id_arg, b"$") {
            if xreadgroup {
                out.error("ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set.");
                return;
            }
            stream.map_or(StreamId::MIN, |s| s.log.last_id)
        } else if is_exactly(id_arg, b">") {
            if !xreadgroup {
                out.error("ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.");
                return;
            }
            NEW_ENTRIES
        } else {
            match parse_id(id_arg, 0, true, false) {
                Some(p) => p.id,
                None => {
                    out.error(INVALID_ID);
                    return;
                }
            }
        };
        after.push(id);
    }

    let resp3 = ctx.out.is_resp3();
    let mut served = 0;
    let mut top = 0;
    for (k, &requested) in after.iter().enumerate() {
        let key = key_of(k);
        let now = ctx.now;
        let (found, out) = ctx.read(key);
        let Ok(Some(stream)) = as_stream(found, out) else {
            continue;
        };
        let Stream { log, groups } = stream;
        let cg = group_args.and_then(|(name, _)| groups.get_mut(name));
        // Entries above `gt` are served; history reads serve the consumer's own list.
        let mut gt = requested;
        let history = cg.is_some() && requested != NEW_ENTRIES;
        let serve = if history {
            true
        } else if log.length == 0 {
            false
        } else {
            if let Some(g) = &cg {
                gt = g.last_id;
            }
            log.last_live_id().is_some_and(|max| max > gt)
        };
        if !serve {
            continue;
        }
        served += 1;
        if served == 1 {
            top = out.begin_deferred();
        }
        if !resp3 {
            out.array(2);
        }
        out.bulk(key);
        let start = gt.next().unwrap_or(StreamId::MAX);
        let mut created = false;
        let mut delivered = Vec::new();
        let mut group_state = None;
        match (cg, group_args) {
            (Some(g), Some((_, consumer))) => {
                let slot = consumer_for(g, consumer, now, &mut created);
                if history {
                    reply_history(out, log, g, slot, start, count, now);
                } else {
                    reply_new(out, log, g, slot, start, count, noack, now, &mut delivered);
                }
                group_state = Some((g.last_id, g.entries_read));
            }
            _ => reply_entries_after(out, log, start, count),
        }
        if created {
            notify(ctx, STREAM, "xgroup-createconsumer", key);
        }
        if let (Some((group, consumer)), Some(state)) = (group_args, group_state) {
            let read = Delivered {
                key,
                group,
                consumer,
                ids: &delivered,
                state,
                noack,
                created,
            };
            propagate_delivered(ctx, &read, now);
        }
    }
    if served > 0 {
        let kind = if resp3 { b'%' } else { b'*' };
        ctx.out.end_deferred(top, kind, served);
        return;
    }
    let Some(deadline) = deadline else {
        ctx.out.null_array();
        return;
    };
    if ctx.shared.in_exec {
        // Inside MULTI or a script a blocking read answers as if it timed out.
        ctx.out.null_array();
        return;
    }
    let mut waits: Vec<(Box<[u8]>, StreamId)> = Vec::with_capacity(n.min(1024));
    for (k, &id) in after.iter().enumerate() {
        let key = key_of(k);
        if !waits.iter().any(|(w, _)| **w == *key) {
            waits.push((key.into(), id));
        }
    }
    let keys: Vec<&[u8]> = (0..n).map(key_of).collect();
    let wait = StreamWait {
        after: waits,
        count: if count == 0 {
            BLOCKED_DEFAULT_COUNT
        } else {
            count
        },
        group: group_args.map(|(g, c)| GroupRead {
            group: g.into(),
            consumer: c.into(),
            noack,
        }),
    };
    blocking::block(ctx, &keys, Waiting::Stream(Box::new(wait)), deadline);
}

/// BLOCK's argument in milliseconds (Redis's getTimeoutFromObjectOrReply with
/// UNIT_MILLISECONDS): the deadline, 0 for none. Redis adds the clock in signed 64-bit
/// arithmetic, so a huge timeout wraps into the past and times out at once; so here.
fn timeout_ms_arg(ctx: &mut Ctx, arg: &[u8]) -> Option<u64> {
    let Some(ms) = crate::resp::parse_i64(arg) else {
        ctx.error("ERR timeout is not an integer or out of range");
        return None;
    };
    if ms < 0 {
        ctx.error("ERR timeout is negative");
        return None;
    }
    if ms == 0 {
        return Some(0);
    }
    let at = (ctx.now as i64).wrapping_add(ms);
    Some(if at <= 0 { 1 } else { at as u64 })
}

/// The consumer `name` of `group`, created if new (`created` is then set), seen now.
fn consumer_for(group: &mut Group, name: &[u8], now: u64, created: &mut bool) -> ConsumerSlot {
    let (slot, new) = group.create_consumer(name, now);
    *created |= new;
    group.consumer_mut(slot).seen_time = now;
    slot
}

/// Plain XREAD: the entries from `start` on.
fn reply_entries_after(out: &mut Reply, log: &Log, start: StreamId, count: u64) {
    super::reply_entries(out, log.range(start, StreamId::MAX, false), count);
}

/// XREADGROUP `>`: entries never delivered to the group, from `start` on; each advances
/// the group and (without NOACK) becomes pending for the consumer.
#[allow(clippy::too_many_arguments)]
fn reply_new(
    out: &mut Reply,
    log: &Log,
    group: &mut Group,
    slot: ConsumerSlot,
    start: StreamId,
    count: u64,
    noack: bool,
    now: u64,
    delivered: &mut Vec<StreamId>,
) {
    let at = out.begin_deferred();
    let mut n = 0u64;
    for entry in log.range(start, StreamId::MAX, false) {
        group.advance(log, entry.id);
        reply_entry(out, &entry);
        if !noack {
            group.deliver(entry.id, slot, now);
        }
        delivered.push(entry.id);
        n += 1;
        if n == count {
            break;
        }
    }
    out.end_deferred(at, b'*', n as usize);
}

/// XREADGROUP with an ID: the consumer's own pending entries from `start` on, each
/// counted as delivered again; an entry deleted meanwhile is `[id, nil]`.
fn reply_history(
    out: &mut Reply,
    log: &Log,
    group: &mut Group,
    slot: ConsumerSlot,
    start: StreamId,
    count: u64,
    now: u64,
) {
    // COUNT 0 is everything; a count past the list is simply the list.
    let limit = usize::try_from(count)
        .ok()
        .filter(|&n| n > 0)
        .unwrap_or(usize::MAX);
    let ids: Vec<StreamId> = group
        .consumer(slot)
        .pel
        .iter_from(start)
        .map(|(id, ())| id)
        .take(limit)
        .collect();
    out.array(ids.len());
    for id in ids {
        match log.get(id) {
            Some(entry) => {
                reply_entry(out, &entry);
                if let Some(nack) = group.pel.get_mut(id) {
                    nack.delivery_time = now;
                    nack.delivery_count += 1;
                }
            }
            None => {
                out.array(2);
                reply_id(out, id);
                out.null_array();
            }
        }
    }
}

/// Serves a client blocked by XREAD / XREADGROUP with `key`, which was written (or
/// deleted) since: replies and returns true when the stream now has entries past what it
/// waits for, or when its group or stream is gone (an error); false leaves it blocked.
pub fn serve(ctx: &mut Ctx, key: &[u8], wait: &StreamWait) -> bool {
    let now = ctx.now;
    let resp3 = ctx.out.is_resp3();
    let Some(&(_, requested)) = wait.after.iter().find(|(k, _)| **k == *key) else {
        return false;
    };
    let (stream, out) = match ctx.store.db(ctx.client.db).get_mut(key, now) {
        Some(Entry {
            value: Value::Stream(s),
            ..
        }) => (s, &mut *ctx.out),
        _ => {
            if wait.group.is_none() {
                return false;
            }
            ctx.out.error("UNBLOCKED the stream key no longer exists");
            return true;
        }
    };
    let Stream { log, groups } = &mut **stream;
    let mut gt = requested;
    let mut target = None;
    if let Some(read) = &wait.group {
        let Some(g) = groups.get_mut(&read.group) else {
            out.error("NOGROUP the consumer group this client was blocked on no longer exists");
            return true;
        };
        gt = g.last_id;
        target = Some((g, read));
    }
    if log.last_id <= gt {
        return false;
    }
    let start = gt.next().unwrap_or(StreamId::MAX);
    if resp3 {
        out.map(1);
    } else {
        out.array(1);
        out.array(2);
    }
    out.bulk(key);
    let mut created = false;
    let mut delivered = Vec::new();
    let mut group_state = None;
    match target {
        Some((g, read)) => {
            let slot = consumer_for(g, &read.consumer, now, &mut created);
            reply_new(
                out,
                log,
                g,
                slot,
                start,
                wait.count,
                read.noack,
                now,
                &mut delivered,
            );
            group_state = Some((g.last_id, g.entries_read));
        }
        None => reply_entries_after(out, log, start, wait.count),
    }
    if created {
        notify(ctx, STREAM, "xgroup-createconsumer", key);
    }
    if let (Some(read), Some(state)) = (&wait.group, group_state) {
        let d = Delivered {
            key,
            group: &read.group,
            consumer: &read.consumer,
            ids: &delivered,
            state,
            noack: read.noack,
            created,
        };
        propagate_delivered(ctx, &d, now);
    }
    true
}

/// What one XREADGROUP `>` did to a group, for the append-only file.
struct Delivered<'a> {
    key: &'a [u8],
    group: &'a [u8],
    consumer: &'a [u8],
    /// The entries delivered, in order.
    ids: &'a [StreamId],
    /// The group's last ID and entries-read counter afterwards.
    state: (StreamId, i64),
    noack: bool,
    /// The consumer was created by this read.
    created: bool,
}

/// Writes an XREADGROUP as Redis propagates it: each entry that became pending as an
/// XCLAIM that recreates its pending entry (FORCE JUSTID) and moves the group's last ID
/// (LASTID); with NOACK, the consumer's creation and XGROUP SETID with ENTRIESREAD.
fn propagate_delivered(ctx: &mut Ctx, d: &Delivered, now: u64) {
    if !ctx.shared.propagation.on {
        return;
    }
    let mut time = [0u8; 20];
    let time = crate::resp::format_i64(now as i64, &mut time);
    if d.noack {
        if d.created {
            ctx.propagate_as(&[b"XGROUP", b"CREATECONSUMER", d.key, d.group, d.consumer]);
        }
        if !d.ids.is_empty() {
            let (last, read) = d.state;
            let mut id = [0u8; 41];
            let mut n = [0u8; 20];
            ctx.propagate_as(&[
                b"XGROUP",
                b"SETID",
                d.key,
                d.group,
                last.format(&mut id),
                b"ENTRIESREAD",
                crate::resp::format_i64(read, &mut n),
            ]);
        }
    } else {
        for &entry in d.ids {
            let mut id = [0u8; 41];
            let mut last = [0u8; 41];
            let id = entry.format(&mut id).to_vec();
            // The group's last ID moved to each entry as it was delivered.
            ctx.propagate_as(&[
                b"XCLAIM",
                d.key,
                d.group,
                d.consumer,
                b"0",
                &id,
                b"TIME",
                time,
                b"RETRYCOUNT",
                b"1",
                b"FORCE",
                b"JUSTID",
                b"LASTID",
                entry.format(&mut last),
            ]);
        }
    }
    // Nothing else changes (a history read is not written, as in Redis).
    ctx.propagate_nothing();
}
