//! What a write adds to the append-only file (Redis's `propagate` and `alsoPropagate`).
//!
//! A command that changed the dataset is written as it was received, unless its handler
//! said otherwise: commands whose effect depends on when or where they run are written as
//! the deterministic command that has the same effect, as Redis does (relative TTLs as
//! `PEXPIREAT` or `SET ... PXAT`, INCRBYFLOAT as `SET ... KEEPTTL`, SPOP as SREM, a served
//! BLPOP as LPOP, XADD `*` with the ID it made...). Keys removed by expiry or eviction are
//! written as DEL (UNLINK with the matching `lazyfree-lazy-*`). The commands EXEC or a
//! script ran are written between MULTI and EXEC, so a reader applies all or none.
//!
//! Everything goes into [`Propagation::buf`], which the event loop writes to the file
//! before it sends any reply (`cmd::aof`).

use super::{Command, Ctx, Shared};
use crate::persist::aof::append_command;
use crate::resp::Args;
use crate::store::Store;

/// One command to write, in the database it ran in.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Op {
    db: usize,
    argv: Vec<Vec<u8>>,
}

/// The propagation state (Redis's `server.also_propagate` and `aof_buf`).
#[derive(Debug, Default)]
pub struct Propagation {
    /// Writes are recorded (the append-only file is on).
    pub on: bool,
    /// RESP commands not yet written to the file.
    pub buf: Vec<u8>,
    /// The database the file's reader will be in after `buf`: SELECT when another is
    /// needed (None: unknown, as at the start of a file).
    selected: Option<usize>,
    /// What the running command is written as, when its handler chose (None: its own
    /// arguments, if it changed something).
    replaced: Option<Vec<Op>>,
    /// Written even if it changed no key (FLUSHALL, FUNCTION LOAD, SWAPDB).
    forced: bool,
    /// Commands of the request being run, in order, until it finishes.
    pending: Vec<Op>,
}

impl Propagation {
    /// Starts a new file: its reader starts in database 0 (as Redis's loader does), but
    /// the first command selects its database anyway.
    pub fn new_file(&mut self) {
        self.selected = None;
    }

    /// Takes the bytes waiting to be written.
    pub fn take_buf(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.buf)
    }

    /// SELECT `db` first if the reader is in another database.
    #[inline]
    fn select(&mut self, db: usize) {
        if self.selected != Some(db) {
            let mut digits = [0u8; 20];
            let n = crate::resp::format_i64(db as i64, &mut digits);
            append_command(&mut self.buf, &[&b"SELECT"[..], n]);
            self.selected = Some(db);
        }
    }

    fn write(&mut self, op: &Op) {
        self.select(op.db);
        append_command(&mut self.buf, &op.argv);
    }

    /// A request's own arguments, as received.
    fn buf_command(&mut self, args: Args) {
        crate::persist::aof::append_args(&mut self.buf, args.len(), |i| args.get(i));
    }

    /// Writes the request's commands, between MULTI and EXEC when there are more than
    /// one (Redis 7.0 wraps whatever one call propagates: EXEC's commands, a script's, the
    /// XCLAIMs of one XREADGROUP, a key's expiry with the command that found it).
    fn flush_pending(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let ops = std::mem::take(&mut self.pending);
        let wrap = ops.len() > 1;
        if wrap {
            append_command(&mut self.buf, &[b"MULTI"]);
        }
        for op in &ops {
            self.write(op);
        }
        if wrap {
            append_command(&mut self.buf, &[b"EXEC"]);
        }
        // Keep the allocation for the next request.
        self.pending = ops;
        self.pending.clear();
    }
}

impl Ctx<'_> {
    /// The running command is written as `argv` (in the client's database) instead of
    /// its own arguments; called more than once, as all of them, in order.
    #[inline]
    pub fn propagate_as(&mut self, argv: &[&[u8]]) {
        if self.shared.propagation.on {
            self.propagate_as_cold(argv);
        }
    }

    #[cold]
    #[inline(never)]
    fn propagate_as_cold(&mut self, argv: &[&[u8]]) {
        let op = Op {
            db: self.client.db,
            argv: argv.iter().map(|a| a.to_vec()).collect(),
        };
        self.shared
            .propagation
            .replaced
            .get_or_insert_with(Vec::new)
            .push(op);
    }

    /// The running command writes nothing of its own (what it did is written otherwise).
    #[inline]
    pub fn propagate_nothing(&mut self) {
        if self.shared.propagation.on {
            self.shared
                .propagation
                .replaced
                .get_or_insert_with(Vec::new);
        }
    }

    /// The running command is written even though no key changed (FLUSHALL on empty
    /// databases, FUNCTION LOAD, SWAPDB), as Redis's forceCommandPropagation.
    #[inline]
    pub fn force_propagate(&mut self) {
        self.shared.propagation.forced = true;
    }
}

/// Records the deletion of `key` in database `db` by the server itself (eviction), as
/// Redis's propagateDeletion: DEL, or UNLINK when `lazy`.
pub fn deleted(shared: &mut Shared, db: usize, key: &[u8], lazy: bool) {
    if !shared.propagation.on {
        return;
    }
    let name: &[u8] = if lazy { b"UNLINK" } else { b"DEL" };
    shared.propagation.pending.push(Op {
        db,
        argv: vec![name.to_vec(), key.to_vec()],
    });
}

/// Moves the keys the store removed by expiry into the pending commands.
fn collect_expired(store: &mut Store, shared: &mut Shared) {
    if !store.has_expired_keys() {
        return;
    }
    let lazy = shared.params.settings.lazyfree.expire;
    for (db, key) in store.take_expired_keys() {
        deleted(shared, db, &key, lazy);
    }
}

/// Commands that write nothing of their own: what they ran is written instead.
fn runs_others(cmd: &Command) -> bool {
    matches!(
        cmd.name,
        "exec" | "eval" | "evalsha" | "eval_ro" | "evalsha_ro" | "fcall" | "fcall_ro"
    )
}

/// After a command ran (`dirty_before`: the client's database and its change counter
/// before it): records what it writes, and at the end of a request (not inside EXEC or a
/// script) moves it all to the buffer.
#[cold]
#[inline(never)]
pub fn after_command(ctx: &mut Ctx, cmd: &Command, args: Args, dirty_before: (usize, u64)) {
    collect_expired(ctx.store, ctx.shared);
    let (db, before) = dirty_before;
    let changed = ctx.store.db(db).changes() != before;
    let p = &mut ctx.shared.propagation;
    let forced = std::mem::take(&mut p.forced);
    if let Some(ops) = p.replaced.take() {
        p.pending.extend(ops);
    } else if (forced || changed) && !runs_others(cmd) {
        if p.pending.is_empty() && !ctx.shared.in_exec && !ctx.shared.in_script {
            // The common case, a command on its own: straight into the buffer.
            p.select(ctx.client.db);
            p.buf_command(args);
            return;
        }
        let argv = (0..args.len()).map(|i| args.get(i).to_vec()).collect();
        p.pending.push(Op {
            db: ctx.client.db,
            argv,
        });
    }
    if !ctx.shared.in_exec && !ctx.shared.in_script {
        ctx.shared.propagation.flush_pending();
    }
}

/// After the event loop served a blocked client (its pop was written with
/// [`Ctx::propagate_as`]).
pub fn after_served(ctx: &mut Ctx) {
    if !ctx.shared.propagation.on {
        return;
    }
    collect_expired(ctx.store, ctx.shared);
    let p = &mut ctx.shared.propagation;
    if let Some(ops) = p.replaced.take() {
        p.pending.extend(ops);
    }
    p.forced = false;
    p.flush_pending();
}

/// Writes what the server did between requests (the expiry cycle, evictions by the cron).
pub fn after_loop_work(store: &mut Store, shared: &mut Shared) {
    if !shared.propagation.on {
        return;
    }
    collect_expired(store, shared);
    // Each deletion on its own, as Redis's expiry cycle propagates them.
    let p = &mut shared.propagation;
    let ops = std::mem::take(&mut p.pending);
    for op in &ops {
        p.write(op);
    }
    p.pending = ops;
    p.pending.clear();
}

/// Turns recording on or off (the append-only file was opened or closed).
pub fn set_on(store: &mut Store, shared: &mut Shared, on: bool) {
    let p = &mut shared.propagation;
    p.on = on;
    p.selected = None;
    p.replaced = None;
    p.forced = false;
    p.pending.clear();
    if !on {
        p.buf = Vec::new();
    }
    store.set_log_expired(on);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn select_only_when_the_database_changes() {
        let mut p = Propagation {
            on: true,
            ..Default::default()
        };
        for db in [0, 0, 3] {
            p.pending.push(Op {
                db,
                argv: vec![b"DEL".to_vec(), b"k".to_vec()],
            });
        }
        p.flush_pending();
        let text = String::from_utf8(p.take_buf()).unwrap();
        assert_eq!(
            text,
            "*1\r\n$5\r\nMULTI\r\n*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*2\r\n$3\r\nDEL\r\n$1\r\nk\r\n\
             *2\r\n$3\r\nDEL\r\n$1\r\nk\r\n*2\r\n$6\r\nSELECT\r\n$1\r\n3\r\n\
             *2\r\n$3\r\nDEL\r\n$1\r\nk\r\n*1\r\n$4\r\nEXEC\r\n"
        );
    }
}
