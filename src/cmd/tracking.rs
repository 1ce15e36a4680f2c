//! CLIENT TRACKING, CACHING, GETREDIR and TRACKINGINFO, and the points where commands meet
//! client-side caching (the state and the messages are in [`crate::tracking`]):
//! after each command, the keys it changed are invalidated and the keys a tracking client
//! read are remembered; flushes invalidate everything.

use super::{Command, Ctx, err, flags};
use crate::resp::{Args, parse_i64};
use crate::store::Store;
use crate::tracking::{ClientTracking, Sink};

use super::Shared;

/// `CLIENT TRACKING ON|OFF [REDIRECT id] [BCAST] [PREFIX p ...] [OPTIN] [OPTOUT] [NOLOOP]`,
/// with Redis 7.0's checks in its order.
pub fn client_tracking(ctx: &mut Ctx, args: Args) {
    let mut opts = ClientTracking::default();
    let mut prefixes: Vec<&[u8]> = Vec::new();
    let mut j = 3;
    while j < args.len() {
        let more = args.len() - 1 - j;
        let opt = args.get(j);
        if opt.eq_ignore_ascii_case(b"redirect") && more > 0 {
            j += 1;
            if opts.redirect != 0 {
                ctx.error("ERR A client can only redirect to a single other client");
                return;
            }
            let Some(id) = parse_i64(args.get(j)) else {
                ctx.error(err::NOT_INTEGER);
                return;
            };
            if id <= 0 || !ctx.shared.clients_by_id.contains_key(&(id as u64)) {
                ctx.error("ERR The client ID you want redirect to does not exist");
                return;
            }
            opts.redirect = id as u64;
        } else if opt.eq_ignore_ascii_case(b"bcast") {
            opts.bcast = true;
        } else if opt.eq_ignore_ascii_case(b"optin") {
            opts.optin = true;
        } else if opt.eq_ignore_ascii_case(b"optout") {
            opts.optout = true;
        } else if opt.eq_ignore_ascii_case(b"noloop") {
            opts.noloop = true;
        } else if opt.eq_ignore_ascii_case(b"prefix") && more > 0 {
            j += 1;
            prefixes.push(args.get(j));
        } else {
            ctx.error(err::SYNTAX);
            return;
        }
        j += 1;
    }
    let id = ctx.client.id;
    let mode = args.get(2);
    if mode.eq_ignore_ascii_case(b"on") {
        if !opts.bcast && !prefixes.is_empty() {
            ctx.error("ERR PREFIX option requires BCAST mode to be enabled");
            return;
        }
        let current = ctx.shared.tracking.client(id).cloned();
        if let Some(cur) = &current
            && cur.bcast != opts.bcast
        {
            ctx.error(
                "ERR You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode.",
            );
            return;
        }
        if opts.bcast && (opts.optin || opts.optout) {
            ctx.error("ERR OPTIN and OPTOUT are not compatible with BCAST");
            return;
        }
        if opts.optin && opts.optout {
            ctx.error("ERR You can't specify both OPTIN mode and OPTOUT mode");
            return;
        }
        if let Some(cur) = &current
            && ((opts.optin && cur.optout) || (opts.optout && cur.optin))
        {
            ctx.error(
                "ERR You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, and then re-enabling it with a different mode.",
            );
            return;
        }
        if opts.bcast && !prefixes_fit(ctx, current.as_ref(), &prefixes) {
            return;
        }
        if current.is_none() && !ctx.shared.tracking.active() {
            ctx.store.set_tracking(true);
        }
        ctx.shared.tracking.enable(id, opts, &prefixes);
    } else if mode.eq_ignore_ascii_case(b"off") {
        disable(ctx.shared, ctx.store, id);
    } else {
        ctx.error(err::SYNTAX);
        return;
    }
    ctx.out.ok();
}

/// True when `prefixes` may be added: none overlaps (one is a prefix of the other) one the
/// client has or another given one (Redis's checkPrefixCollisionsOrReply, which also lets
/// an overlap between two given prefixes other than the first through, after its error).
fn prefixes_fit(ctx: &mut Ctx, current: Option<&ClientTracking>, prefixes: &[&[u8]]) -> bool {
    let overlap = |a: &[u8], b: &[u8]| {
        let n = a.len().min(b.len());
        a[..n] == b[..n]
    };
    for (i, p) in prefixes.iter().enumerate() {
        if let Some(existing) = current.and_then(|c| c.prefixes.iter().find(|e| overlap(e, p))) {
            ctx.out.error_parts(&[
                b"ERR Prefix '",
                super::c_bytes(p, usize::MAX),
                b"' overlaps with an existing prefix '",
                super::c_bytes(existing, usize::MAX),
                b"'. Prefixes for a single client must not overlap.",
            ]);
            return false;
        }
        if let Some(other) = prefixes[i + 1..].iter().find(|o| overlap(p, o)) {
            ctx.out.error_parts(&[
                b"ERR Prefix '",
                super::c_bytes(p, usize::MAX),
                b"' overlaps with another provided prefix '",
                super::c_bytes(other, usize::MAX),
                b"'. Prefixes for a single client must not overlap.",
            ]);
            return i != 0;
        }
    }
    true
}

/// Turns tracking off for client `id`; the store stops recording changes when nobody
/// tracks any more.
pub fn disable(shared: &mut Shared, store: &mut Store, id: u64) {
    shared.tracking.disable(id);
    if !shared.tracking.active() {
        store.set_tracking(false);
        store.take_touched();
    }
}

/// `CLIENT CACHING YES|NO`.
pub fn client_caching(ctx: &mut Ctx, args: Args) {
    let Some(st) = ctx.shared.tracking.client_mut(ctx.client.id) else {
        ctx.error(
            "ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled",
        );
        return;
    };
    let opt = args.get(2);
    if opt.eq_ignore_ascii_case(b"yes") {
        if !st.optin {
            ctx.error(
                "ERR CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.",
            );
            return;
        }
        st.caching = true;
    } else if opt.eq_ignore_ascii_case(b"no") {
        if !st.optout {
            ctx.error(
                "ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.",
            );
            return;
        }
        st.caching = true;
    } else {
        ctx.error(err::SYNTAX);
        return;
    }
    ctx.out.ok();
}

/// `CLIENT GETREDIR`: the redirection id, 0 without one, -1 when not tracking.
pub fn client_getredir(ctx: &mut Ctx) {
    let redir = ctx
        .shared
        .tracking
        .client(ctx.client.id)
        .map_or(-1, |st| st.redirect as i64);
    ctx.out.int(redir);
}

/// `CLIENT TRACKINGINFO`: flags, redirect and prefixes, as Redis 7.0 lists them.
pub fn client_trackinginfo(ctx: &mut Ctx) {
    let st = ctx.shared.tracking.client(ctx.client.id);
    let mut names: Vec<&str> = vec![if st.is_some() { "on" } else { "off" }];
    if let Some(st) = st {
        if st.bcast {
            names.push("bcast");
        }
        if st.optin {
            names.push("optin");
            if st.caching {
                names.push("caching-yes");
            }
        }
        if st.optout {
            names.push("optout");
            if st.caching {
                names.push("caching-no");
            }
        }
        if st.noloop {
            names.push("noloop");
        }
        if st.broken_redirect {
            names.push("broken_redirect");
        }
    }
    let out = &mut *ctx.out;
    out.map(3);
    out.bulk(b"flags");
    out.set(names.len());
    for n in names {
        out.bulk(n.as_bytes());
    }
    out.bulk(b"redirect");
    out.int(st.map_or(-1, |st| st.redirect as i64));
    out.bulk(b"prefixes");
    match st {
        Some(st) => {
            out.array(st.prefixes.len());
            for p in &st.prefixes {
                out.bulk(p);
            }
        }
        None => out.array(0),
    }
}

/// Invalidates the keys the store saw change, on behalf of client `current` (None for
/// changes outside any command, such as the expiry cycle).
pub fn invalidate_touched(shared: &mut Shared, store: &mut Store, current: Option<u64>) {
    let Shared {
        tracking,
        clients_by_id,
        pubsub,
        loop_work,
        ..
    } = shared;
    let mut sink = Sink {
        ids: clients_by_id,
        pubsub,
    };
    for (key, expired) in store.take_touched() {
        let modifier = if expired { None } else { current };
        tracking.invalidate(&mut sink, &key, modifier, current, true);
    }
    if pubsub.has_outbox() {
        *loop_work = true;
    }
}

/// Invalidates the keys evicted before a command runs (Redis's processCommand evicts before
/// call(), while no command is executing): the running client's own messages go into its
/// reply buffer now, ahead of the reply, as Redis sends them at once; the others' are
/// queued as usual.
pub fn invalidate_evicted(ctx: &mut Ctx) {
    let queued_before = ctx.shared.pubsub.outbox_len();
    let id = ctx.client.id;
    invalidate_touched(ctx.shared, ctx.store, Some(id));
    let token = ctx.client.token;
    let subscribed = ctx.client.pubsub.total() > 0;
    for message in ctx.shared.pubsub.take_queued_for(token, queued_before) {
        let start = ctx.out.mark();
        message.append_to(ctx.out, subscribed);
        ctx.out.kept_push(start);
    }
}

/// Sends the BCAST messages collected during this loop turn.
pub fn broadcast(shared: &mut Shared) {
    let Shared {
        tracking,
        clients_by_id,
        pubsub,
        ..
    } = shared;
    tracking.broadcast(&mut Sink {
        ids: clients_by_id,
        pubsub,
    });
}

/// Keeps the key table within tracking-table-max-keys (after commands and from the cron).
pub fn limit(shared: &mut Shared) {
    let max = shared.params.settings.tracking_table_max_keys;
    let Shared {
        tracking,
        clients_by_id,
        pubsub,
        loop_work,
        ..
    } = shared;
    tracking.limit(
        &mut Sink {
            ids: clients_by_id,
            pubsub,
        },
        max,
    );
    if pubsub.has_outbox() {
        *loop_work = true;
    }
}

/// Every key became invalid (FLUSHALL, FLUSHDB, SWAPDB).
pub fn invalidate_all(ctx: &mut Ctx) {
    // Keys remembered for clients that stopped tracking are dropped too.
    if !ctx.shared.tracking.active() && ctx.shared.tracking.total_keys() == 0 {
        return;
    }
    let Shared {
        tracking,
        clients_by_id,
        pubsub,
        ..
    } = &mut *ctx.shared;
    tracking.invalidate_all(&mut Sink {
        ids: clients_by_id,
        pubsub,
    });
    ctx.shared.loop_work = true;
}

/// Runs after every command while some client tracks (Redis's call() and resetClient):
/// the keys it changed are invalidated; the keys a tracking client read with a read-only
/// command are remembered (subject to OPTIN/OPTOUT and CLIENT CACHING); CLIENT CACHING's
/// effect ends after the next command or transaction.
#[cold]
pub fn after_command(ctx: &mut Ctx, cmd: &Command, args: Args) {
    let id = ctx.client.id;
    if ctx.store.has_touched() {
        invalidate_touched(ctx.shared, ctx.store, Some(id));
    }
    let Some(st) = ctx.shared.tracking.client(id) else {
        return;
    };
    // A read-only script command is not remembered itself (its commands are).
    if cmd.flags & flags::READONLY != 0
        && cmd.flags & flags::PUBSUB == 0
        && cmd.group != "scripting"
        && !st.bcast
        && !((st.optin && !st.caching) || (st.optout && st.caching))
    {
        // Inside a script Redis remembers the keys the script declared (the caller's
        // command's keys), whatever keys the read command names.
        if let Some(declared) = ctx.shared.script_keys.take() {
            ctx.shared
                .tracking
                .remember(id, declared.iter().map(|k| &k[..]));
            ctx.shared.script_keys = Some(declared);
            limit(ctx.shared);
        } else {
            let keys = command_keys(cmd, args);
            if !keys.is_empty() {
                ctx.shared.tracking.remember(id, keys.into_iter());
                limit(ctx.shared);
            }
        }
    }
    if ctx.client.multi.is_none()
        && !ctx.shared.in_exec
        && cmd.name != "client"
        && let Some(st) = ctx.shared.tracking.client_mut(id)
    {
        st.caching = false;
    }
}

/// The key arguments of a command, from its key positions (first, last, step), or from
/// its `numkeys` argument for the commands that have one.
fn command_keys<'a>(cmd: &Command, args: Args<'a>) -> Vec<&'a [u8]> {
    if cmd.name == "sort" {
        return super::sort::sort_keys(args);
    }
    if matches!(
        cmd.name,
        "sintercard" | "zintercard" | "zunion" | "zinter" | "zdiff"
    ) {
        let n = parse_i64(args.get(1)).unwrap_or(0).max(0) as usize;
        return args.iter().skip(2).take(n).collect();
    }
    if cmd.name == "xread" || cmd.name == "xreadgroup" {
        // The keys are the first half of what follows STREAMS (Redis's xreadGetKeys).
        let Some(at) = args.iter().position(|a| a.eq_ignore_ascii_case(b"streams")) else {
            return Vec::new();
        };
        let n = (args.len() - at - 1) / 2;
        return args.iter().skip(at + 1).take(n).collect();
    }
    let (first, last, step) = cmd.keys;
    if first <= 0 || step <= 0 {
        return Vec::new();
    }
    let len = args.len() as i32;
    let last = if last < 0 {
        len + last
    } else {
        last.min(len - 1)
    };
    (first..=last)
        .step_by(step as usize)
        .filter(|&i| i < len)
        .map(|i| args.get(i as usize))
        .collect()
}
