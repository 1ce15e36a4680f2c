//! DUMP and RESTORE (Redis's cluster.c): a key's value as an RDB payload (the object,
//! the RDB version and a CRC64), so values move between rust-keyval and redis-server.

use super::flags::{DENYOOM, READONLY, WRITE};
use super::notify::{self, GENERIC};
use super::{Command, Ctx, err};
use crate::persist::load::{LoadError, load_object};
use crate::persist::rdb::{self, Reader};
use crate::persist::save::{self, Options};
use crate::resp::Args;
use crate::store::{Ttl, lazyfree};

/// DUMP and RESTORE.
#[rustfmt::skip]
pub const COMMANDS: &[Command] = &[
    Command { name: "dump", arity: 2, flags: READONLY, keys: (1, 1, 1), group: "generic", handler: dump },
    Command { name: "restore", arity: -4, flags: WRITE | DENYOOM, keys: (1, 1, 1), group: "generic", handler: restore },
];

fn dump(ctx: &mut Ctx, args: Args) {
    // Payloads are always compressed where that helps, as Redis's createDumpPayload.
    let opts = Options::default();
    let payload = match ctx.read(args.get(1)) {
        (Some(e), _) => save::dump_payload(&e.value, opts),
        (None, out) => {
            out.null();
            notify::lookup_events(ctx);
            return;
        }
    };
    ctx.out.bulk(&payload);
}

/// `RESTORE key ttl payload [REPLACE] [ABSTTL] [IDLETIME seconds] [FREQ frequency]`, with
/// Redis's checks in Redis's order.
pub(super) fn restore(ctx: &mut Ctx, args: Args) {
    let key = args.get(1);
    let (mut replace, mut absttl) = (false, false);
    let (mut idle, mut freq): (Option<u64>, Option<u8>) = (None, None);
    let mut j = 4;
    while j < args.len() {
        let opt = args.get(j);
        let more = j + 1 < args.len();
        if opt.eq_ignore_ascii_case(b"replace") {
            replace = true;
        } else if opt.eq_ignore_ascii_case(b"absttl") {
            absttl = true;
        } else if opt.eq_ignore_ascii_case(b"idletime") && more && freq.is_none() {
            let Some(v) = ctx.int_arg(args.get(j + 1)) else {
                return;
            };
            if v < 0 {
                ctx.error("ERR Invalid IDLETIME value, must be >= 0");
                return;
            }
            idle = Some(v as u64);
            j += 1;
        } else if opt.eq_ignore_ascii_case(b"freq") && more && idle.is_none() {
            let Some(v) = ctx.int_arg(args.get(j + 1)) else {
                return;
            };
            let Ok(v) = u8::try_from(v) else {
                ctx.error("ERR Invalid FREQ value, must be >= 0 and <= 255");
                return;
            };
            freq = Some(v);
            j += 1;
        } else {
            ctx.error(err::SYNTAX);
            return;
        }
        j += 1;
    }
    let exists = ctx.write(key).0.is_some();
    notify::lookup_events(ctx);
    if !replace && exists {
        ctx.error("BUSYKEY Target key name already exists.");
        return;
    }
    let Some(ttl) = ctx.int_arg(args.get(2)) else {
        return;
    };
    if ttl < 0 {
        ctx.error("ERR Invalid TTL value, must be >= 0");
        return;
    }
    if rdb::verify_payload(args.get(3)).is_none() {
        ctx.error("ERR DUMP payload version or checksum are wrong");
        return;
    }
    let limits = ctx.limits();
    // Redis reads the object from the whole payload, footer included: a body a few bytes
    // short borrows them from the footer (and bytes past the object are ignored).
    let mut r = Reader::new(args.get(3));
    let value = match r.byte().map(|ty| load_object(&mut r, ty, &limits)) {
        Some(Ok(v)) => v,
        Some(Err(LoadError::EmptyKey | LoadError::Corrupt(_))) | None => {
            ctx.error("ERR Bad data format");
            return;
        }
    };
    let now = ctx.now;
    let mut deleted = false;
    if replace && let Some(old) = ctx.db().remove(key, now) {
        lazyfree::free_server_del(old.value);
        deleted = true;
    }
    // Redis adds the time to a relative TTL in a signed 64-bit integer, which wraps: a TTL
    // that overflows is already past, and the key is not created.
    let at = match ttl {
        0 => None,
        _ if absttl => Some(ttl),
        _ => Some(ttl.wrapping_add(now as i64)),
    };
    if let Some(at) = at
        && at <= now as i64
    {
        // Already expired: the key is not created (a replaced one is gone, as a DEL).
        drop(value);
        if deleted {
            notify::notify(ctx, GENERIC, "del", key);
            ctx.propagate_as(&[b"DEL", key]);
        }
        ctx.out.ok();
        return;
    }
    let db = ctx.db();
    db.insert_new(
        key,
        value,
        at.map_or(Ttl::Clear, |at| Ttl::At(at as u64)),
        now,
    );
    if idle.is_some() || freq.is_some() {
        db.set_loaded_access(key, idle, freq, now);
    }
    notify::notify(ctx, GENERIC, "restore", key);
    if let Some(at) = at.filter(|_| !absttl) {
        // Written with the absolute time (the same arguments, then ABSTTL), as Redis does.
        let mut digits = [0u8; 20];
        let mut argv: Vec<&[u8]> = (0..args.len()).map(|i| args.get(i)).collect();
        argv[2] = crate::resp::format_i64(at, &mut digits);
        argv.push(b"ABSTTL");
        ctx.propagate_as(&argv);
    }
    ctx.out.ok();
}
