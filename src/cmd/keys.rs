//! Keyspace commands (Redis's db.c): DEL, EXISTS, TYPE, RENAME, COPY, MOVE, SWAPDB,
//! DBSIZE, RANDOMKEY, KEYS, SCAN, FLUSHDB, FLUSHALL.

use hashbrown::HashTable;

use super::flags::{FAST, READONLY, WRITE};
use super::notify::{self, GENERIC};
use super::{Command, Ctx, err};
use crate::resp::Args;
use crate::store::{Entry, Ttl, lazyfree};
use crate::util::glob_match;

/// The keyspace family's command table.
#[rustfmt::skip]
pub const COMMANDS: &[Command] = &[
    Command { name: "del", arity: -2, flags: WRITE, keys: (1, -1, 1), group: "generic", handler: del },
    Command { name: "unlink", arity: -2, flags: WRITE | FAST, keys: (1, -1, 1), group: "generic", handler: unlink },
    Command { name: "exists", arity: -2, flags: READONLY | FAST, keys: (1, -1, 1), group: "generic", handler: exists },
    Command { name: "touch", arity: -2, flags: READONLY | FAST, keys: (1, -1, 1), group: "generic", handler: touch },
    Command { name: "type", arity: 2, flags: READONLY | FAST, keys: (1, 1, 1), group: "generic", handler: type_cmd },
    Command { name: "rename", arity: 3, flags: WRITE, keys: (1, 2, 1), group: "generic", handler: rename },
    Command { name: "renamenx", arity: 3, flags: WRITE | FAST, keys: (1, 2, 1), group: "generic", handler: renamenx },
    Command { name: "copy", arity: -3, flags: WRITE, keys: (1, 2, 1), group: "generic", handler: copy },
    Command { name: "move", arity: 3, flags: WRITE | FAST, keys: (1, 1, 1), group: "generic", handler: move_cmd },
    Command { name: "swapdb", arity: 3, flags: WRITE | FAST, keys: (0, 0, 0), group: "server", handler: swapdb },
    Command { name: "dbsize", arity: 1, flags: READONLY | FAST, keys: (0, 0, 0), group: "server", handler: dbsize },
    Command { name: "randomkey", arity: 1, flags: READONLY, keys: (0, 0, 0), group: "generic", handler: randomkey },
    Command { name: "keys", arity: 2, flags: READONLY, keys: (0, 0, 0), group: "generic", handler: keys },
    Command { name: "scan", arity: -2, flags: READONLY, keys: (0, 0, 0), group: "generic", handler: scan },
    Command { name: "flushdb", arity: -1, flags: WRITE, keys: (0, 0, 0), group: "server", handler: flushdb },
    Command { name: "flushall", arity: -1, flags: WRITE, keys: (0, 0, 0), group: "server", handler: flushall },
];

/// DEL: frees inline, unless `lazyfree-lazy-user-del` makes it UNLINK.
fn del(ctx: &mut Ctx, args: Args) {
    let lazy = ctx.shared.params.settings.lazyfree.user_del;
    del_generic(ctx, args, lazy);
}

/// UNLINK: big values are freed on the lazyfree thread.
fn unlink(ctx: &mut Ctx, args: Args) {
    del_generic(ctx, args, true);
}

/// DEL and UNLINK (Redis's delGenericCommand).
fn del_generic(ctx: &mut Ctx, args: Args, lazy: bool) {
    let now = ctx.now;
    let mut n = 0;
    for key in args.iter().skip(1) {
        if let Some(e) = ctx.db().remove(key, now) {
            lazyfree::free_if(lazy, e.value);
            notify::notify(ctx, GENERIC, "del", key);
            n += 1;
        }
    }
    notify::lookup_events(ctx);
    ctx.out.int(n);
}

fn exists(ctx: &mut Ctx, args: Args) {
    let n = args
        .iter()
        .skip(1)
        .filter(|k| ctx.read_no_touch(k).0.is_some())
        .count();
    notify::lookup_events(ctx);
    ctx.out.int(n as i64);
}

/// TOUCH: EXISTS that counts as an access (LRU clock, LFU counter), as Redis's.
fn touch(ctx: &mut Ctx, args: Args) {
    let n = args
        .iter()
        .skip(1)
        .filter(|k| ctx.read(k).0.is_some())
        .count();
    notify::lookup_events(ctx);
    ctx.out.int(n as i64);
}

fn type_cmd(ctx: &mut Ctx, args: Args) {
    let name = ctx
        .read_no_touch(args.get(1))
        .0
        .map_or("none", |e| e.value.type_name());
    notify::lookup_events(ctx);
    ctx.out.simple(name);
}

fn rename(ctx: &mut Ctx, args: Args) {
    rename_generic(ctx, args, false);
}

fn renamenx(ctx: &mut Ctx, args: Args) {
    rename_generic(ctx, args, true);
}

/// RENAME / RENAMENX (Redis's `renameGenericCommand`): the value and its TTL move.
fn rename_generic(ctx: &mut Ctx, args: Args, nx: bool) {
    let (src, dst) = (args.get(1), args.get(2));
    let now = ctx.now;
    if ctx.write(src).0.is_none() {
        notify::lookup_events(ctx);
        ctx.error(err::NO_SUCH_KEY);
        return;
    }
    if src == dst {
        if nx {
            ctx.out.int(0)
        } else {
            ctx.out.ok()
        }
        return;
    }
    let db = ctx.db();
    if nx && db.contains(dst, now) {
        ctx.out.int(0);
        return;
    }
    // Redis deletes the destination and adds it anew: it is a `new` key even when it
    // existed (a destination found expired raises `expired` here).
    if let Some(old) = db.remove(dst, now) {
        lazyfree::free_server_del(old.value);
    }
    if let Some(entry) = db.remove(src, now) {
        db.insert_entry(dst, entry, now);
    }
    notify::notify(ctx, GENERIC, "rename_from", src);
    notify::notify(ctx, GENERIC, "rename_to", dst);
    if nx { ctx.out.int(1) } else { ctx.out.ok() }
}

fn copy(ctx: &mut Ctx, args: Args) {
    let (src, dst) = (args.get(1), args.get(2));
    let mut replace = false;
    let mut target = ctx.client.db;
    let mut j = 3;
    while j < args.len() {
        let opt = args.get(j);
        if opt.eq_ignore_ascii_case(b"replace") {
            replace = true;
        } else if opt.eq_ignore_ascii_case(b"db") && j + 1 < args.len() {
            let Some(id) = ctx.int_arg(args.get(j + 1)) else {
                return;
            };
            if id < 0 || id as u64 >= ctx.store.len() as u64 {
                ctx.error(err::DB_RANGE);
                return;
            }
            target = id as usize;
            j += 1;
        } else {
            ctx.error(err::SYNTAX);
            return;
        }
        j += 1;
    }
    if target == ctx.client.db && src == dst {
        ctx.error(err::SAME_OBJECT);
        return;
    }
    let now = ctx.now;
    let Some((value, ttl)) = ctx.read(src).0.map(|e| {
        let ttl = e.expire_at().map_or(Ttl::Clear, Ttl::At);
        (e.value.clone(), ttl)
    }) else {
        notify::lookup_events(ctx);
        ctx.out.int(0);
        return;
    };
    let dst_db = ctx.store.db(target);
    if dst_db.contains(dst, now) {
        if !replace {
            notify::lookup_events(ctx);
            ctx.out.int(0);
            return;
        }
        // Replaced by deleting and adding anew, as in Redis: a `new` key.
        if let Some(old) = dst_db.remove(dst, now) {
            lazyfree::free_server_del(old.value);
        }
    }
    dst_db.set(dst, value, ttl, now);
    notify::notify_db(ctx, target, GENERIC, "copy_to", dst);
    // The change may be in another database than the client's, which is the one the
    // append-only file's check looks at.
    ctx.force_propagate();
    ctx.out.int(1);
}

fn move_cmd(ctx: &mut Ctx, args: Args) {
    let key = args.get(1);
    let Some(target) = ctx.db_index_arg(args.get(2)) else {
        return;
    };
    let source = ctx.client.db;
    if source == target {
        ctx.error(err::SAME_OBJECT);
        return;
    }
    let now = ctx.now;
    let (src, dst) = ctx.store.two_dbs(source, target);
    if !src.contains(key, now) || dst.contains(key, now) {
        notify::lookup_events(ctx);
        ctx.out.int(0);
        return;
    }
    if let Some(entry) = src.remove(key, now) {
        dst.insert_entry(key, entry, now);
    }
    notify::notify(ctx, GENERIC, "move_from", key);
    notify::notify_db(ctx, target, GENERIC, "move_to", key);
    ctx.out.int(1);
}

fn swapdb(ctx: &mut Ctx, args: Args) {
    let mut ids = [0usize; 2];
    for (i, msg) in ["ERR invalid first DB index", "ERR invalid second DB index"]
        .iter()
        .enumerate()
    {
        match crate::resp::parse_i64(args.get(i + 1)).filter(|v| i32::try_from(*v).is_ok()) {
            Some(v) if v >= 0 && (v as usize) < ctx.store.len() => ids[i] = v as usize,
            Some(_) => {
                ctx.error(err::DB_RANGE);
                return;
            }
            None => {
                ctx.error(msg);
                return;
            }
        }
    }
    if ids[0] != ids[1] {
        ctx.store.swap(ids[0], ids[1]);
    }
    // Cached keys are not per database: tracking clients drop everything (as Redis).
    super::tracking::invalidate_all(ctx);
    ctx.force_propagate();
    ctx.out.ok();
}

fn dbsize(ctx: &mut Ctx, _args: Args) {
    let n = ctx.db().len();
    ctx.out.int(n as i64);
}

fn randomkey(ctx: &mut Ctx, _args: Args) {
    let now = ctx.now;
    let mut seed = ctx.store.random() | 1;
    let key = ctx
        .db()
        .random_key(|| crate::store::next_random(&mut seed), now);
    notify::lookup_events(ctx);
    match key {
        Some(k) => ctx.out.bulk(&k),
        None => ctx.out.null(),
    }
}

fn keys(ctx: &mut Ctx, args: Args) {
    let pattern = args.get(1);
    let all = pattern == b"*";
    let now = ctx.now;
    let out = &mut *ctx.out;
    let at = out.begin_deferred();
    let mut n = 0;
    ctx.store.db_ref(ctx.client.db).for_each_live(now, |e| {
        if all || glob_match(pattern, e.key(), false) {
            out.bulk(e.key());
            n += 1;
        }
    });
    out.end_deferred(at, b'*', n);
}

/// Parses a SCAN cursor as Redis does with `strtoul`: digits with an optional sign
/// (a negative value wraps), nothing else.
pub fn parse_cursor(arg: &[u8]) -> Option<u64> {
    let (neg, digits) = match arg.first() {
        Some(b'-') => (true, &arg[1..]),
        Some(b'+') => (false, &arg[1..]),
        _ => (false, arg),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        // strtoul of "" is 0 with nothing consumed: Redis accepts only an empty string.
        return (arg.is_empty()).then_some(0);
    }
    let mut v: u64 = 0;
    for &d in digits {
        v = v.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    Some(if neg { v.wrapping_neg() } else { v })
}

/// Parsed SCAN-family arguments (SCAN, HSCAN, SSCAN, ZSCAN).
#[derive(Debug, Clone, Copy)]
pub struct ScanArgs<'a> {
    /// Where to continue.
    pub cursor: u64,
    /// COUNT hint (default 10).
    pub count: usize,
    /// MATCH pattern; None for no pattern or `*`.
    pub pattern: Option<&'a [u8]>,
    /// TYPE filter (SCAN only).
    pub type_filter: Option<&'a [u8]>,
}

/// Parses `cursor [MATCH pattern] [COUNT count] [TYPE type]` starting at `args[at]` (the
/// cursor), as Redis's `scanGenericCommand` does; TYPE only when `allow_type` (plain SCAN).
/// Replies with the error and returns None on bad input.
pub fn parse_scan_args<'a>(
    ctx: &mut Ctx,
    args: Args<'a>,
    at: usize,
    allow_type: bool,
) -> Option<ScanArgs<'a>> {
    let Some(cursor) = parse_cursor(args.get(at)) else {
        ctx.error("ERR invalid cursor");
        return None;
    };
    let mut parsed = ScanArgs {
        cursor,
        count: 10,
        pattern: None,
        type_filter: None,
    };
    let mut i = at + 1;
    while i < args.len() {
        let opt = args.get(i);
        let has_value = i + 1 < args.len();
        if opt.eq_ignore_ascii_case(b"count") && has_value {
            let c = ctx.int_arg(args.get(i + 1))?;
            if c < 1 {
                ctx.error(err::SYNTAX);
                return None;
            }
            parsed.count = c.min(i64::from(u32::MAX)) as usize;
        } else if opt.eq_ignore_ascii_case(b"match") && has_value {
            let p = args.get(i + 1);
            parsed.pattern = (p != b"*").then_some(p);
        } else if opt.eq_ignore_ascii_case(b"type") && has_value && allow_type {
            parsed.type_filter = Some(args.get(i + 1));
        } else {
            ctx.error(err::SYNTAX);
            return None;
        }
        i += 2;
    }
    Some(parsed)
}

fn scan(ctx: &mut Ctx, args: Args) {
    let Some(ScanArgs {
        cursor,
        count,
        pattern,
        type_filter,
    }) = parse_scan_args(ctx, args, 1, true)
    else {
        return;
    };
    let now = ctx.now;
    let db = ctx.db();
    let mut found: Vec<Vec<u8>> = Vec::new();
    let next = db.scan(cursor, count, |e| {
        if pattern.is_none_or(|p| glob_match(p, e.key(), false)) {
            found.push(e.key().to_vec());
        }
    });
    // Expired keys are deleted rather than returned; TYPE filters last, as in Redis.
    found.retain(|k| match db.get_mut(k, now) {
        None => false,
        Some(e) => {
            type_filter.is_none_or(|t| t.eq_ignore_ascii_case(e.value.type_name().as_bytes()))
        }
    });
    notify::lookup_events(ctx);
    ctx.out.array(2);
    ctx.out.bulk(next.to_string().as_bytes());
    ctx.out.array(found.len());
    for k in &found {
        ctx.out.bulk(k);
    }
}

/// Parses the optional ASYNC / SYNC argument of FLUSHDB / FLUSHALL. None after a syntax
/// error reply; Some(true) for ASYNC, and without an argument when
/// `lazyfree-lazy-user-flush` is on.
fn flush_mode(ctx: &mut Ctx, args: Args) -> Option<bool> {
    match args.len() {
        1 => Some(ctx.shared.params.settings.lazyfree.user_flush),
        2 if args.get(1).eq_ignore_ascii_case(b"async") => Some(true),
        2 if args.get(1).eq_ignore_ascii_case(b"sync") => Some(false),
        _ => {
            ctx.error(err::SYNTAX);
            None
        }
    }
}

/// Frees the old tables: on the lazyfree thread for ASYNC, whatever their size (Redis's
/// emptyDbAsync), so the event loop does not stall on millions of frees.
fn release(old: Vec<HashTable<Box<Entry>>>, background: bool) {
    if background {
        lazyfree::free_tables(old);
    } else {
        drop(old);
    }
}

fn flushdb(ctx: &mut Ctx, args: Args) {
    let Some(background) = flush_mode(ctx, args) else {
        return;
    };
    let old = ctx.db().clear();
    release(vec![old], background);
    super::tracking::invalidate_all(ctx);
    ctx.force_propagate();
    ctx.out.ok();
}

fn flushall(ctx: &mut Ctx, args: Args) {
    let Some(background) = flush_mode(ctx, args) else {
        return;
    };
    empty_all(ctx, background);
    ctx.force_propagate();
    ctx.out.ok();
}

/// Empties every database (FLUSHALL, DEBUG RELOAD): the old tables are freed here or on
/// the lazyfree thread, and tracking clients are told everything changed.
pub fn empty_all(ctx: &mut Ctx, background: bool) {
    let old: Vec<_> = (0..ctx.store.len())
        .map(|i| ctx.store.db(i).clear())
        .collect();
    release(old, background);
    super::tracking::invalidate_all(ctx);
}

#[cfg(test)]
mod tests {
    use super::parse_cursor;

    #[test]
    fn cursor_like_strtoul() {
        assert_eq!(parse_cursor(b"0"), Some(0));
        assert_eq!(parse_cursor(b"123"), Some(123));
        assert_eq!(parse_cursor(b"+5"), Some(5));
        assert_eq!(parse_cursor(b"-1"), Some(u64::MAX));
        assert_eq!(parse_cursor(b"abc"), None);
        assert_eq!(parse_cursor(b"1a"), None);
        assert_eq!(parse_cursor(b" 1"), None);
        assert_eq!(parse_cursor(b"99999999999999999999999"), None);
    }
}
