//! CLIENT PAUSE and CLIENT UNPAUSE (Redis's `pauseClients` in networking.c).
//!
//! While a pause is on, a command it covers (every command for ALL; writes and commands
//! that replicate, such as PUBLISH, for WRITE) is postponed: it goes back, unparsed, into its
//! client's read buffer, and the client counts as blocked, until the pause ends or relaxes.
//! Then the loop runs the postponed clients again in the order they arrived, and their
//! commands go through dispatch from the start, exactly as if they had just arrived (Redis
//! blocks them with BLOCKED_POSTPONE and reprocesses them). A command already running, such
//! as the rest of an EXEC that issued CLIENT PAUSE, finishes first.
//!
//! While paused, the dataset stays as it is: keys past their TTL read as missing but are
//! not deleted, and the expiry cycle waits, so nothing changes until the pause ends.

use super::{Command, Ctx, Shared, flags};
use crate::resp::{Args, parse_i64};
use crate::store::Store;

/// What is paused, least to most restrictive (the order Redis compares them in).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum PauseKind {
    /// Nothing.
    #[default]
    Off,
    /// Writes and commands that may replicate.
    Write,
    /// Every command.
    All,
}

/// The current pause.
#[derive(Debug, Clone, Copy, Default)]
pub struct Pause {
    /// What it holds back.
    pub kind: PauseKind,
    /// When it ends (ms since the epoch): it is over once the clock passes this.
    pub end_ms: u64,
}

impl Pause {
    /// True while a pause is on (until the clock is checked against its end).
    #[inline]
    pub fn active(&self) -> bool {
        self.kind != PauseKind::Off
    }
}

/// `CLIENT PAUSE timeout [WRITE|ALL]`. A second pause keeps the more restrictive kind and
/// the later end, as Redis's `pauseClients` does.
pub fn client_pause(ctx: &mut Ctx, args: Args) {
    let mut kind = PauseKind::All;
    if args.len() == 4 {
        let mode = args.get(3);
        if mode.eq_ignore_ascii_case(b"write") {
            kind = PauseKind::Write;
        } else if !mode.eq_ignore_ascii_case(b"all") {
            ctx.error("ERR CLIENT PAUSE mode must be WRITE or ALL");
            return;
        }
    }
    let Some(timeout) = parse_i64(args.get(2)) else {
        ctx.error("ERR timeout is not an integer or out of range");
        return;
    };
    if timeout < 0 {
        ctx.error("ERR timeout is negative");
        return;
    }
    // 0 means a pause that is already over (Redis stores end 0).
    let end = if timeout > 0 {
        (timeout as u64).saturating_add(ctx.now)
    } else {
        0
    };
    ctx.store.set_keep_expired(true);
    let pause = &mut ctx.shared.pause;
    if pause.active() {
        pause.kind = pause.kind.max(kind);
        pause.end_ms = pause.end_ms.max(end);
    } else {
        *pause = Pause { kind, end_ms: end };
    }
    ctx.out.ok();
}

/// `CLIENT UNPAUSE`: ends the pause; postponed clients run again.
pub fn client_unpause(ctx: &mut Ctx) {
    end(ctx.shared, ctx.store);
    ctx.out.ok();
}

/// Ends the pause and has the loop run the postponed clients.
pub fn end(shared: &mut Shared, store: &mut Store) {
    store.set_keep_expired(false);
    let was = shared.pause.kind;
    shared.pause = Pause::default();
    if was != PauseKind::Off && !shared.postponed.is_empty() {
        shared.release_postponed = true;
        shared.loop_work = true;
    }
}

/// Ends the pause if the clock has passed its end (Redis: `end < now`). Returns true while
/// clients stay paused.
pub fn check_timeout(shared: &mut Shared, store: &mut Store, now: u64) -> bool {
    if !shared.pause.active() {
        return false;
    }
    if shared.pause.end_ms < now {
        end(shared, store);
        return false;
    }
    true
}

/// True when the pause holds `cmd` back (Redis's processCommand): under ALL every command,
/// under WRITE writes and commands that replicate, and EXEC when it would run one.
#[cold]
pub fn must_wait(ctx: &mut Ctx, cmd: &Command, args: crate::resp::Args) -> bool {
    if !check_timeout(ctx.shared, ctx.store, ctx.now) {
        return false;
    }
    match ctx.shared.pause.kind {
        PauseKind::Off => false,
        PauseKind::All => true,
        PauseKind::Write => {
            let f = super::request_flags(ctx, cmd, args);
            f & (flags::WRITE | flags::MAY_REPLICATE) != 0
        }
    }
}

/// Holds the client's current command until the pause ends: the caller puts the request
/// back into the read buffer.
pub fn postpone(ctx: &mut Ctx) {
    ctx.client.paused = true;
    ctx.shared.postponed.push(ctx.client.token);
    // Not run: nothing to count, and the next command's latency starts now.
    ctx.shared.last_tick = crate::clock::ticks();
}
