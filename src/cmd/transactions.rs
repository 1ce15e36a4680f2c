//! Transactions (Redis's multi.c): MULTI, EXEC, DISCARD, WATCH, UNWATCH.
//!
//! Between MULTI and EXEC, commands are checked (existence, arity, authentication) and
//! queued with copies of their arguments; a command refused at that point dooms the
//! transaction (EXEC answers EXECABORT). EXEC runs the queue through the normal dispatch,
//! so runtime errors stay per command. WATCH registers the client on keys in the keyspace
//! (`Db::watch`); any change to them (see `Db::signal_modified`), their expiry or a flush
//! makes the next EXEC fail with a null reply.

use super::flags::{FAST, LOADING, NO_MULTI, NOSCRIPT, STALE};
use super::{Client, Command, Ctx, execute};
use crate::resp::Args;
use crate::store::Store;

/// The transaction family's command table.
#[rustfmt::skip]
pub const COMMANDS: &[Command] = &[
    Command { name: "multi", arity: 1, flags: NOSCRIPT | LOADING | STALE | FAST, keys: (0, 0, 0), group: "transactions", handler: multi },
    Command { name: "exec", arity: 1, flags: NOSCRIPT | LOADING | STALE, keys: (0, 0, 0), group: "transactions", handler: exec },
    Command { name: "discard", arity: 1, flags: NOSCRIPT | LOADING | STALE | FAST, keys: (0, 0, 0), group: "transactions", handler: discard },
    Command { name: "watch", arity: -2, flags: NOSCRIPT | LOADING | STALE | FAST | NO_MULTI, keys: (1, -1, 1), group: "transactions", handler: watch },
    Command { name: "unwatch", arity: 1, flags: NOSCRIPT | LOADING | STALE | FAST, keys: (0, 0, 0), group: "transactions", handler: unwatch },
];

/// A queued command: its arguments copied into one buffer, with their `(offset, len)` spans.
type Queued = (Vec<u8>, Vec<(usize, usize)>);

/// A transaction being queued.
#[derive(Debug, Default)]
pub struct Multi {
    /// Queued commands, in order.
    queued: Vec<Queued>,
    /// A command was refused while queueing: EXEC must abort.
    pub failed: bool,
}

impl Multi {
    /// How many commands are queued (CLIENT LIST multi=).
    pub fn len(&self) -> usize {
        self.queued.len()
    }

    /// The union of the queued commands' flags (Redis's `mstate.cmd_flags`): EXEC counts
    /// as a write for CLIENT PAUSE WRITE when any queued command is one.
    pub fn queued_flags(&self) -> u32 {
        let table = super::table();
        self.queued
            .iter()
            .filter_map(|(data, spans)| {
                let args = Args::new(data, spans);
                table.lookup(args.get(0)).map(|id| table.get(id).flags)
            })
            .fold(0, |all, f| all | f)
    }

    /// True when nothing is queued yet.
    pub fn is_empty(&self) -> bool {
        self.queued.is_empty()
    }
}

/// Commands that act on the transaction itself and so run at once inside MULTI.
pub fn runs_inside_multi(cmd: &Command) -> bool {
    matches!(
        cmd.name,
        "exec" | "discard" | "multi" | "watch" | "quit" | "reset"
    )
}

/// Whether a command may be queued. NO_MULTI commands may not, nor those that need the
/// event loop itself (CLIENT LIST/INFO/KILL), whose reply could not be placed inside EXEC's.
pub fn can_queue(cmd: &Command, args: Args) -> bool {
    if cmd.flags & NO_MULTI != 0 {
        return false;
    }
    let loop_sub = |s: &[u8]| {
        [&b"list"[..], b"info", b"kill"]
            .iter()
            .any(|x| s.eq_ignore_ascii_case(x))
    };
    !(cmd.name == "client" && args.len() > 1 && loop_sub(args.get(1)))
}

/// Queues a copy of the request and replies +QUEUED.
pub fn queue(ctx: &mut Ctx, args: Args) {
    let mut data = Vec::with_capacity(args.iter().map(<[u8]>::len).sum());
    let mut spans = Vec::with_capacity(args.len());
    for a in args.iter() {
        spans.push((data.len(), a.len()));
        data.extend_from_slice(a);
    }
    if let Some(m) = ctx.client.multi.as_mut() {
        m.queued.push((data, spans));
    }
    ctx.out.simple("QUEUED");
}

/// Discards the transaction because EXEC itself was refused, replying Redis's
/// `EXECABORT Transaction discarded because of: <reason>`.
pub fn abort(ctx: &mut Ctx, reason: &str) {
    ctx.client.multi = None;
    unwatch_all(ctx.store, ctx.client);
    ctx.error(&format!(
        "EXECABORT Transaction discarded because of: {reason}"
    ));
}

/// A request refused with `busy` while a script is busy (Redis's rejectCommand): EXEC
/// aborts its transaction, and inside MULTI the transaction is doomed.
pub fn refuse_while_busy(ctx: &mut Ctx, args: Args, busy: &str) {
    let mark = ctx.out.mark();
    if args.get(0).eq_ignore_ascii_case(b"exec") {
        abort(ctx, busy);
    } else {
        if let Some(multi) = ctx.client.multi.as_mut() {
            multi.failed = true;
        }
        ctx.error(busy);
    }
    let code = super::error_code(ctx.out.since(mark));
    ctx.shared.stats.errors.record(code);
}

fn multi(ctx: &mut Ctx, _args: Args) {
    if ctx.client.multi.is_some() {
        ctx.error("ERR MULTI calls can not be nested");
        return;
    }
    ctx.client.multi = Some(Multi::default());
    ctx.out.ok();
}

fn discard(ctx: &mut Ctx, _args: Args) {
    if ctx.client.multi.take().is_none() {
        ctx.error("ERR DISCARD without MULTI");
        return;
    }
    unwatch_all(ctx.store, ctx.client);
    ctx.out.ok();
}

fn exec(ctx: &mut Ctx, _args: Args) {
    let Some(multi) = ctx.client.multi.take() else {
        ctx.error("ERR EXEC without MULTI");
        return;
    };
    if multi.failed {
        unwatch_all(ctx.store, ctx.client);
        ctx.error("EXECABORT Transaction discarded because of previous errors.");
        return;
    }
    let now = ctx.now;
    let id = ctx.client.id;
    let touched = ctx.client.watched.iter().any(|(db, key)| {
        let db = ctx.store.db_ref(*db);
        db.watch_dirty(id) || db.is_expired_key(key, now)
    });
    // Like Redis, stop watching before running: the transaction's own writes do not count.
    unwatch_all(ctx.store, ctx.client);
    if touched {
        ctx.out.null_array();
        return;
    }
    ctx.out.array(multi.queued.len());
    // Each queued command counts as its own call; as in Redis, EXEC's time includes theirs,
    // and CLIENT LIST shows `cmd=exec` afterwards, not the last queued command.
    let start = ctx.shared.last_tick;
    let last = ctx.client.last_command;
    // Blocking commands act as their non-blocking forms inside a transaction.
    ctx.shared.in_exec = true;
    for (data, spans) in &multi.queued {
        execute(ctx, Args::new(data, spans));
    }
    ctx.shared.in_exec = false;
    ctx.shared.last_tick = start;
    ctx.client.last_command = last;
}

fn watch(ctx: &mut Ctx, args: Args) {
    if ctx.client.multi.is_some() {
        ctx.error("ERR WATCH inside MULTI is not allowed");
        return;
    }
    let (db, id, now) = (ctx.client.db, ctx.client.id, ctx.now);
    for key in args.iter().skip(1) {
        if ctx
            .client
            .watched
            .iter()
            .any(|(d, k)| *d == db && **k == *key)
        {
            continue;
        }
        let store = ctx.store.db(db);
        // A key already expired counts as absent from the start: reclaim it now, so its
        // deletion later is not mistaken for a change.
        store.get_mut(key, now);
        store.watch(key, id);
        ctx.client.watched.push((db, key.into()));
    }
    ctx.out.ok();
}

fn unwatch(ctx: &mut Ctx, _args: Args) {
    unwatch_all(ctx.store, ctx.client);
    ctx.out.ok();
}

/// Drops every WATCH of `client` (after EXEC or DISCARD, on UNWATCH, on disconnect).
pub fn unwatch_all(store: &mut Store, client: &mut Client) {
    for (db, key) in client.watched.drain(..) {
        store.db(db).unwatch(&key, client.id);
    }
}
