//! HyperLogLog commands (Redis's hyperloglog.c): PFADD, PFCOUNT, PFMERGE, PFDEBUG and
//! PFSELFTEST. A HyperLogLog is a string value in Redis's format (`store/hll.rs`), so GET,
//! SET, DUMP and RESTORE move it between the two servers unchanged.
//!
//! What each command changes follows Redis: PFADD signals, notifies `pfadd` and counts one
//! change per register raised; PFCOUNT of one key writes the cardinality it computed into
//! the header, which is a change (WATCH, tracking, the save points and the append-only file
//! see it) although the command is read-only; PFCOUNT of several keys writes nothing;
//! PFMERGE notifies `pfadd`; PFDEBUG GETREG and TODENSE count a change when they convert
//! to dense, without signalling. Every command that edits a HyperLogLog first makes it
//! Redis's `raw` (OBJECT ENCODING), as dbUnshareStringValue does.

use super::flags::{ADMIN, DENYOOM, FAST, MAY_REPLICATE, READONLY, WRITE};
use super::notify::{self, STRING};
use super::{Command, Ctx, c_bytes, err};
use crate::resp::Args;
use crate::store::hll::{self, REGISTERS};
use crate::store::{Str, Ttl, Value};

#[rustfmt::skip]
pub static COMMANDS: &[Command] = &[
    Command { name: "pfadd", arity: -2, flags: WRITE | DENYOOM | FAST, keys: (1, 1, 1), group: "hyperloglog", handler: pfadd },
    Command { name: "pfcount", arity: -2, flags: READONLY | MAY_REPLICATE, keys: (1, -1, 1), group: "hyperloglog", handler: pfcount },
    Command { name: "pfmerge", arity: -2, flags: WRITE | DENYOOM, keys: (1, -1, 1), group: "hyperloglog", handler: pfmerge },
    Command { name: "pfdebug", arity: 3, flags: WRITE | DENYOOM | ADMIN, keys: (2, 2, 1), group: "hyperloglog", handler: pfdebug },
    Command { name: "pfselftest", arity: 1, flags: ADMIN, keys: (0, 0, 0), group: "hyperloglog", handler: pfselftest },
];

/// A string that is not a HyperLogLog.
pub const NOT_HLL: &str = "WRONGTYPE Key is not a valid HyperLogLog string value.";
/// A sparse HyperLogLog whose opcodes do not add up.
pub const CORRUPTED: &str = "INVALIDOBJ Corrupted HLL object detected";

/// Redis's error for a value that is not a HyperLogLog (isHLLObjectOrReply): the usual
/// WRONGTYPE for another type, NOT_HLL for a string that is not one.
fn not_hll(value: &Value) -> Option<&'static str> {
    match value {
        Value::Str(s) if hll::is_hll(s) => None,
        Value::Str(_) => Some(NOT_HLL),
        _ => Some(err::WRONGTYPE),
    }
}

/// The HyperLogLog held by `value`, or None after replying Redis's error.
fn as_hll<'v>(value: &'v mut Value, out: &mut crate::resp::Reply) -> Option<&'v mut Str> {
    if let Some(e) = not_hll(value) {
        out.error(e);
        return None;
    }
    match value {
        Value::Str(s) => Some(s),
        _ => None,
    }
}

/// Merges the HyperLogLogs at `keys` (missing ones are empty) into `max`: whether one of
/// them is dense, or the error to reply (the first key that is not a HyperLogLog, or a
/// corrupted one).
fn merge_keys(ctx: &mut Ctx, keys: Args, max: &mut [u8; REGISTERS]) -> Result<bool, &'static str> {
    let mut dense = false;
    for key in keys.iter() {
        let (Some(e), _) = ctx.read(key) else {
            continue;
        };
        if let Some(error) = not_hll(&e.value) {
            return Err(error);
        }
        let Value::Str(s) = &e.value else {
            continue;
        };
        dense |= hll::is_dense(s.raw_bytes().unwrap_or_default());
        if !hll::merge(max, s) {
            return Err(CORRUPTED);
        }
    }
    Ok(dense)
}

/// `hll-sparse-max-bytes`.
#[inline]
fn sparse_max(ctx: &Ctx) -> u64 {
    ctx.shared.params.settings.hll_sparse_max_bytes
}

fn pfadd(ctx: &mut Ctx, args: Args) {
    let key = args.get(1);
    let max_bytes = sparse_max(ctx);
    let elements = args.tail(2);
    let (updated, created) = match ctx.write(key) {
        (Some(e), out) => {
            let Some(s) = as_hll(&mut e.value, out) else {
                return;
            };
            hll::unshare(s);
            let Ok(n) = hll::add(s, elements.iter(), max_bytes) else {
                out.error(CORRUPTED);
                return;
            };
            if n > 0
                && let Some(b) = s.raw_bytes_mut()
            {
                hll::invalidate_cache(b);
            }
            (n, false)
        }
        (None, _) => {
            notify::lookup_events(ctx);
            let mut s = Str::Packed(hll::empty(), 0);
            // A new HyperLogLog cannot be corrupted.
            let n = hll::add(&mut s, elements.iter(), max_bytes).unwrap_or(0);
            // Created counts as updated: the (zero) cache is marked stale even without
            // elements, as in Redis.
            if let Some(b) = s.raw_bytes_mut() {
                hll::invalidate_cache(b);
            }
            let now = ctx.now;
            ctx.db().insert_new(key, Value::Str(s), Ttl::Clear, now);
            // Creating the key counts as one update, as in Redis.
            (n + 1, true)
        }
    };
    if updated > 0 {
        if !created {
            ctx.modified(key);
        }
        // Redis adds one change per element that raised a register (and one for a new
        // key); signalling (or inserting) counted one.
        ctx.db().count_changes(updated as u64 - 1);
        notify::notify(ctx, STRING, "pfadd", key);
    }
    ctx.out.int(i64::from(updated > 0));
}

fn pfcount(ctx: &mut Ctx, args: Args) {
    if args.len() > 2 {
        return pfcount_union(ctx, args);
    }
    let key = args.get(1);
    if ctx.shared.persist.bgsave.is_some() {
        // PFCOUNT is read-only but may write the cached cardinality: a snapshot in
        // progress must save the key first.
        ctx.store.set_snapshot_writing(true);
    }
    let changed = match ctx.read(key) {
        (None, _) => {
            notify::lookup_events(ctx);
            ctx.out.int(0);
            false
        }
        (Some(e), out) => {
            let Some(s) = as_hll(&mut e.value, out) else {
                return;
            };
            hll::unshare(s);
            let cached = s.raw_bytes().and_then(hll::cached);
            if let Some(card) = cached {
                out.int(card as i64);
                false
            } else if let Some(card) = hll::count(s) {
                if let Some(b) = s.raw_bytes_mut() {
                    hll::set_cache(b, card);
                }
                out.int(card as i64);
                true
            } else {
                out.error(CORRUPTED);
                return;
            }
        }
    };
    if changed {
        ctx.modified(key);
    }
}

/// PFCOUNT of several keys: the cardinality of their union, nothing written.
fn pfcount_union(ctx: &mut Ctx, args: Args) {
    let mut max = [0u8; REGISTERS];
    let merged = merge_keys(ctx, args.tail(1), &mut max);
    // Keys found expired on the way publish their event before the reply, as in Redis.
    notify::lookup_events(ctx);
    match merged {
        Ok(_) => ctx.out.int(hll::count_raw(&max) as i64),
        Err(e) => ctx.out.error(e),
    }
}

fn pfmerge(ctx: &mut Ctx, args: Args) {
    let dest = args.get(1);
    let mut max = [0u8; REGISTERS];
    // The destination is the first of the sources.
    let merged = merge_keys(ctx, args.tail(1), &mut max);
    notify::lookup_events(ctx);
    let use_dense = match merged {
        Ok(dense) => dense,
        Err(e) => return ctx.out.error(e),
    };
    let max_bytes = sparse_max(ctx);
    let write = |s: &mut Str| -> Result<(), hll::Corrupt> {
        if use_dense {
            hll::to_dense(s)?;
        }
        for (i, &v) in max.iter().enumerate() {
            if v != 0 {
                // As in Redis, a failure here (impossible: every source was checked) is
                // ignored.
                let _ = hll::set(s, i, v, max_bytes);
            }
        }
        if let Some(b) = s.raw_bytes_mut() {
            hll::invalidate_cache(b);
        }
        Ok(())
    };
    match ctx.write(dest) {
        (Some(e), out) => {
            // Checked above, as the first source.
            let Some(s) = as_hll(&mut e.value, out) else {
                return;
            };
            hll::unshare(s);
            if write(s).is_err() {
                out.error(CORRUPTED);
                return;
            }
            ctx.modified(dest);
        }
        (None, _) => {
            let mut s = Str::Packed(hll::empty(), 0);
            let _ = write(&mut s);
            let now = ctx.now;
            ctx.db().insert_new(dest, Value::Str(s), Ttl::Clear, now);
        }
    }
    notify::notify(ctx, STRING, "pfadd", dest);
    ctx.out.ok();
}

fn pfdebug(ctx: &mut Ctx, args: Args) {
    let sub = args.get(1);
    let key = args.get(2);
    let (Some(e), out) = ctx.write(key) else {
        notify::lookup_events(ctx);
        ctx.out.error("ERR The specified key does not exist");
        return;
    };
    let Some(s) = as_hll(&mut e.value, out) else {
        return;
    };
    hll::unshare(s);
    let converted = if sub.eq_ignore_ascii_case(b"getreg") || sub.eq_ignore_ascii_case(b"todense") {
        match hll::to_dense(s) {
            Ok(c) => c,
            Err(hll::Corrupt) => {
                out.error(CORRUPTED);
                return;
            }
        }
    } else {
        false
    };
    let bytes = s.raw_bytes().unwrap_or_default();
    if sub.eq_ignore_ascii_case(b"getreg") {
        out.array(REGISTERS);
        let regs = &bytes[hll::HDR..];
        for i in 0..REGISTERS {
            out.int(i64::from(hll::dense_get(regs, i)));
        }
    } else if sub.eq_ignore_ascii_case(b"decode") {
        if hll::is_dense(bytes) {
            out.error("ERR HLL encoding is not sparse");
        } else {
            out.bulk(&hll::decode(s));
        }
    } else if sub.eq_ignore_ascii_case(b"encoding") {
        out.simple(if hll::is_dense(bytes) {
            "dense"
        } else {
            "sparse"
        });
    } else if sub.eq_ignore_ascii_case(b"todense") {
        out.int(i64::from(converted));
    } else {
        out.error_parts(&[
            b"ERR Unknown PFDEBUG subcommand '",
            c_bytes(sub, usize::MAX),
            b"'",
        ]);
    }
    if converted {
        // Redis forces the propagation of the conversion (server.dirty++) but signals
        // nobody.
        ctx.db().count_changes(1);
    }
}

fn pfselftest(ctx: &mut Ctx, _args: Args) {
    let max_bytes = sparse_max(ctx);
    let store = &mut *ctx.store;
    match hll::self_test(|| (store.random() >> 33) as u32, max_bytes) {
        Ok(()) => ctx.out.ok(),
        Err(text) => ctx.out.error(&format!("ERR {text}")),
    }
}
