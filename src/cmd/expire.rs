//! Expiry commands (Redis's expire.c): EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT with
//! NX | XX | GT | LT, TTL, PTTL, EXPIRETIME, PEXPIRETIME, PERSIST.

use super::flags::{FAST, READONLY, WRITE};
use super::notify::lookup_events;
use super::notify::{self, GENERIC};
use super::{Command, Ctx, c_bytes};
use crate::resp::Args;
use crate::store::Ttl;

/// The expiry family's command table.
#[rustfmt::skip]
pub const COMMANDS: &[Command] = &[
    Command { name: "expire", arity: -3, flags: WRITE | FAST, keys: (1, 1, 1), group: "generic", handler: expire },
    Command { name: "pexpire", arity: -3, flags: WRITE | FAST, keys: (1, 1, 1), group: "generic", handler: pexpire },
    Command { name: "expireat", arity: -3, flags: WRITE | FAST, keys: (1, 1, 1), group: "generic", handler: expireat },
    Command { name: "pexpireat", arity: -3, flags: WRITE | FAST, keys: (1, 1, 1), group: "generic", handler: pexpireat },
    Command { name: "ttl", arity: 2, flags: READONLY | FAST, keys: (1, 1, 1), group: "generic", handler: ttl },
    Command { name: "pttl", arity: 2, flags: READONLY | FAST, keys: (1, 1, 1), group: "generic", handler: pttl },
    Command { name: "expiretime", arity: 2, flags: READONLY | FAST, keys: (1, 1, 1), group: "generic", handler: expiretime },
    Command { name: "pexpiretime", arity: 2, flags: READONLY | FAST, keys: (1, 1, 1), group: "generic", handler: pexpiretime },
    Command { name: "persist", arity: 2, flags: WRITE | FAST, keys: (1, 1, 1), group: "generic", handler: persist },
];

fn expire(ctx: &mut Ctx, args: Args) {
    let now = ctx.now;
    expire_generic(ctx, args, now, true, "expire");
}

fn pexpire(ctx: &mut Ctx, args: Args) {
    let now = ctx.now;
    expire_generic(ctx, args, now, false, "pexpire");
}

fn expireat(ctx: &mut Ctx, args: Args) {
    expire_generic(ctx, args, 0, true, "expireat");
}

fn pexpireat(ctx: &mut Ctx, args: Args) {
    expire_generic(ctx, args, 0, false, "pexpireat");
}

/// NX / XX / GT / LT of the EXPIRE family.
#[derive(Debug, Default, Clone, Copy)]
struct Conditions {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
}

/// Redis's `expireGenericCommand`: `base` is added to the (unit-converted) argument.
fn expire_generic(ctx: &mut Ctx, args: Args, base: u64, seconds: bool, cmd: &str) {
    let mut cond = Conditions::default();
    for opt in args.iter().skip(3) {
        match opt.to_ascii_lowercase().as_slice() {
            b"nx" => cond.nx = true,
            b"xx" => cond.xx = true,
            b"gt" => cond.gt = true,
            b"lt" => cond.lt = true,
            _ => {
                ctx.out
                    .error_parts(&[b"ERR Unsupported option ", c_bytes(opt, usize::MAX)]);
                return;
            }
        }
    }
    if cond.nx && (cond.xx || cond.gt || cond.lt) {
        ctx.error("ERR NX and XX, GT or LT options at the same time are not compatible");
        return;
    }
    if cond.gt && cond.lt {
        ctx.error("ERR GT and LT options at the same time are not compatible");
        return;
    }
    let Some(mut when) = ctx.int_arg(args.get(2)) else {
        return;
    };
    let invalid = format!("ERR invalid expire time in '{cmd}' command");
    if seconds {
        if !(i64::MIN / 1000..=i64::MAX / 1000).contains(&when) {
            ctx.error(&invalid);
            return;
        }
        when *= 1000;
    }
    let Some(when) = when.checked_add(base as i64) else {
        ctx.error(&invalid);
        return;
    };
    let key = args.get(1);
    let now = ctx.now;
    let Some(entry) = ctx.write(key).0 else {
        lookup_events(ctx);
        ctx.out.int(0);
        return;
    };
    // A key without TTL counts as an infinite TTL for GT and LT.
    let current = entry.expire_at().map(|at| at as i64);
    let refused = (cond.nx && current.is_some())
        || (cond.xx && current.is_none())
        || (cond.gt && current.is_none_or(|c| when <= c))
        || (cond.lt && current.is_some_and(|c| when >= c));
    if refused {
        ctx.out.int(0);
        return;
    }
    let lazy = ctx.shared.params.settings.lazyfree.expire;
    let db = ctx.db();
    if when <= now as i64 {
        // Already past: the key is deleted right away (not counted as expired), and
        // Redis notifies before replying.
        if let Some(e) = db.remove(key, now) {
            crate::store::lazyfree::free_if(lazy, e.value);
        }
        notify::notify(ctx, GENERIC, "del", key);
        ctx.out.int(1);
        ctx.propagate_as(&[if lazy { b"UNLINK" } else { b"DEL" }, key]);
    } else {
        // Here Redis replies first.
        db.set_ttl(key, Ttl::At(when as u64), now);
        ctx.out.int(1);
        notify::notify(ctx, GENERIC, "expire", key);
        // Written as PEXPIREAT with the absolute time (and the same conditions).
        let mut digits = [0u8; 20];
        let mut argv: Vec<&[u8]> = vec![
            b"PEXPIREAT",
            key,
            crate::resp::format_i64(when, &mut digits),
        ];
        argv.extend((3..args.len()).map(|i| args.get(i)));
        ctx.propagate_as(&argv);
    }
}

/// TTL and friends: -2 for a missing key, -1 without TTL, else the remaining time or the
/// absolute deadline, in seconds (rounded) or milliseconds.
fn ttl_generic(ctx: &mut Ctx, args: Args, ms: bool, absolute: bool) {
    let now = ctx.now;
    let (found, out) = ctx.read_no_touch(args.get(1));
    let Some(entry) = found else {
        lookup_events(ctx);
        ctx.out.int(-2);
        return;
    };
    let Some(at) = entry.expire_at() else {
        out.int(-1);
        return;
    };
    let v = if absolute {
        at as i64
    } else {
        (at as i64 - now as i64).max(0)
    };
    out.int(if ms { v } else { (v + 500) / 1000 });
}

fn ttl(ctx: &mut Ctx, args: Args) {
    ttl_generic(ctx, args, false, false);
}

fn pttl(ctx: &mut Ctx, args: Args) {
    ttl_generic(ctx, args, true, false);
}

fn expiretime(ctx: &mut Ctx, args: Args) {
    ttl_generic(ctx, args, false, true);
}

fn pexpiretime(ctx: &mut Ctx, args: Args) {
    ttl_generic(ctx, args, true, true);
}

fn persist(ctx: &mut Ctx, args: Args) {
    let key = args.get(1);
    let now = ctx.now;
    let had_ttl = ctx.write(key).0.is_some_and(|e| e.expire_at().is_some());
    if had_ttl {
        ctx.db().set_ttl(key, Ttl::Clear, now);
        notify::notify(ctx, GENERIC, "persist", key);
    } else {
        lookup_events(ctx);
    }
    ctx.out.int(i64::from(had_ttl));
}
