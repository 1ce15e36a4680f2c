//! Geo commands (Redis's geo.c): GEOADD, GEODIST, GEOHASH, GEOPOS, GEOSEARCH,
//! GEOSEARCHSTORE, GEORADIUS, GEORADIUSBYMEMBER and their `_RO` forms.
//!
//! A geo set is a sorted set whose scores are 52-bit geohashes (`store::geohash`); these
//! commands use the sorted-set store through its API. A search scans the score ranges of
//! the 9 cells that cover the area, keeps the members inside it, and sorts them by distance
//! with the algorithms Redis's libc and Redis use (a stable merge sort for the whole list,
//! Redis's partial quicksort for COUNT), so that even ties come out in Redis's order.
//!
//! Arguments are checked in Redis's order, with its messages. Numbers are parsed by C's
//! `strtod` (as Redis's `string2d`), coordinates printed as `%.17Lf` less trailing zeros,
//! distances with 4 decimals (`fixedpoint_d2string`).
//!
//! GEOADD is ZADD underneath, as in Redis: it publishes `zadd` and is written to the
//! append-only file as the ZADD it made. GEORADIUS and GEORADIUSBYMEMBER with STORE or
//! STOREDIST, and GEOSEARCHSTORE, write the destination as a sorted set (events
//! `georadiusstore` and `geosearchstore`) and are propagated as sent.

use std::os::raw::c_char;

use super::flags::{DENYOOM, READONLY, WRITE};
use super::notify::{self, notify};
use super::{Command, Ctx, err};
use crate::resp::{Args, Reply, format_i64, parse_i64};
use crate::store::geohash::{self, Shape, ShapeKind};
use crate::store::zset::{AddFlags, AddOutcome, ScoreRange};
use crate::store::{Ttl, Value, ZSet};

/// The family's command table.
#[rustfmt::skip]
pub const COMMANDS: &[Command] = &[
    Command { name: "geoadd", arity: -5, flags: WRITE | DENYOOM, keys: (1, 1, 1), group: "geo", handler: geoadd },
    Command { name: "geodist", arity: -4, flags: READONLY, keys: (1, 1, 1), group: "geo", handler: geodist },
    Command { name: "geohash", arity: -2, flags: READONLY, keys: (1, 1, 1), group: "geo", handler: geohash },
    Command { name: "geopos", arity: -2, flags: READONLY, keys: (1, 1, 1), group: "geo", handler: geopos },
    Command { name: "georadius", arity: -6, flags: WRITE | DENYOOM, keys: (1, 1, 1), group: "geo", handler: georadius },
    Command { name: "georadius_ro", arity: -6, flags: READONLY, keys: (1, 1, 1), group: "geo", handler: georadius_ro },
    Command { name: "georadiusbymember", arity: -5, flags: WRITE | DENYOOM, keys: (1, 1, 1), group: "geo", handler: georadiusbymember },
    Command { name: "georadiusbymember_ro", arity: -5, flags: READONLY, keys: (1, 1, 1), group: "geo", handler: georadiusbymember_ro },
    Command { name: "geosearch", arity: -7, flags: READONLY, keys: (1, 1, 1), group: "geo", handler: geosearch },
    Command { name: "geosearchstore", arity: -8, flags: WRITE | DENYOOM, keys: (1, 2, 1), group: "geo", handler: geosearchstore },
];

/// A member named as a search centre is not in the set.
const NO_MEMBER: &str = "ERR could not decode requested zset member";

/// C's `strcasecmp(arg, name) == 0`: the argument is read up to its first NUL byte.
#[inline]
fn is(arg: &[u8], name: &str) -> bool {
    let end = arg.iter().position(|&b| b == 0).unwrap_or(arg.len());
    arg[..end].eq_ignore_ascii_case(name.as_bytes())
}

/// C's `isspace` in the C locale.
fn is_c_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r')
}

/// A double argument as Redis's `string2d` reads it: C's `strtod` must consume the whole
/// argument (an embedded NUL stops it short), with no leading space, no overflow, no
/// underflow to zero, and not NaN. `inf`, hexadecimal and the rest of strtod's syntax are
/// accepted, as in Redis.
fn parse_double(arg: &[u8]) -> Option<f64> {
    if arg.first().is_none_or(|&c| is_c_space(c)) {
        return None;
    }
    let mut stack = [0u8; 64];
    let heap: Vec<u8>;
    let text: &[u8] = if arg.len() < stack.len() {
        stack[..arg.len()].copy_from_slice(arg);
        &stack[..=arg.len()]
    } else {
        heap = [arg, b"\0"].concat();
        &heap
    };
    let mut end: *mut c_char = std::ptr::null_mut();
    // SAFETY: `text` is NUL-terminated and outlives the call; strtod only reads it and
    // stores into `end` a pointer into it. errno is this thread's.
    let (value, errno) = unsafe {
        *libc::__errno_location() = 0;
        let v = libc::strtod(text.as_ptr().cast(), &mut end);
        (v, *libc::__errno_location())
    };
    let consumed = (end as usize).wrapping_sub(text.as_ptr() as usize);
    let out_of_range = errno == libc::ERANGE && (value.is_infinite() || value == 0.0);
    (consumed == arg.len() && !out_of_range && !value.is_nan()).then_some(value)
}

/// Parses a double argument, replying `msg` (or Redis's generic message) when it is not one
/// (`getDoubleFromObjectOrReply`).
fn double_arg(out: &mut Reply, arg: &[u8], msg: Option<&str>) -> Option<f64> {
    let v = parse_double(arg);
    if v.is_none() {
        out.error(msg.unwrap_or(err::NOT_FLOAT));
    }
    v
}

/// A longitude and latitude, checked against Redis's limits (`extractLongLatOrReply`).
fn lon_lat_arg(out: &mut Reply, lon: &[u8], lat: &[u8]) -> Option<[f64; 2]> {
    let lon = double_arg(out, lon, None)?;
    let lat = double_arg(out, lat, None)?;
    if !(geohash::LON_MIN..=geohash::LON_MAX).contains(&lon)
        || !(geohash::LAT_MIN..=geohash::LAT_MAX).contains(&lat)
    {
        // Redis prints them with "%f".
        out.error(&format!(
            "ERR invalid longitude,latitude pair {lon:.6},{lat:.6}"
        ));
        return None;
    }
    Some([lon, lat])
}

/// A unit: meters per unit (`extractUnitOrReply`).
fn unit_arg(out: &mut Reply, arg: &[u8]) -> Option<f64> {
    let meters = if is(arg, "m") {
        1.0
    } else if is(arg, "km") {
        1000.0
    } else if is(arg, "ft") {
        0.3048
    } else if is(arg, "mi") {
        1609.34
    } else {
        out.error("ERR unsupported unit provided. please use M, KM, FT, MI");
        return None;
    };
    Some(meters)
}

/// `radius unit`: the radius and meters per unit (`extractDistanceOrReply`).
fn radius_arg(out: &mut Reply, radius: &[u8], unit: &[u8]) -> Option<(f64, f64)> {
    let r = double_arg(out, radius, Some("ERR need numeric radius"))?;
    if r < 0.0 {
        out.error("ERR radius cannot be negative");
        return None;
    }
    Some((r, unit_arg(out, unit)?))
}

/// `width height unit` (`extractBoxOrReply`).
fn box_arg(out: &mut Reply, args: Args, at: usize) -> Option<(f64, f64, f64)> {
    let w = double_arg(out, args.get(at), Some("ERR need numeric width"))?;
    let h = double_arg(out, args.get(at + 1), Some("ERR need numeric height"))?;
    if h < 0.0 || w < 0.0 {
        out.error("ERR height or width cannot be negative");
        return None;
    }
    Some((w, h, unit_arg(out, args.get(at + 2))?))
}

/// C's `llrint` on x86-64: to nearest, ties to even; i64::MIN for NaN and out of range.
fn llrint(v: f64) -> i64 {
    geohash::c_double_to_i64(v.round_ties_even())
}

/// A distance with 4 decimals, as Redis's `fixedpoint_d2string(.., 4)`.
fn fmt_distance(d: f64, buf: &mut [u8; 32]) -> &[u8] {
    if d == 0.0 {
        buf[..6].copy_from_slice(b"0.0000");
        return &buf[..6];
    }
    let scaled = llrint(d * 10000.0);
    let value = scaled.unsigned_abs();
    let mut n = 0;
    if scaled < 0 {
        buf[0] = b'-';
        n = 1;
    }
    let mut digits = [0u8; 20];
    let int_part = format_i64((value / 10000) as i64, &mut digits);
    // value / 10000 < 2^64 / 10^4 fits an i64.
    buf[n..n + int_part.len()].copy_from_slice(int_part);
    n += int_part.len();
    buf[n] = b'.';
    let frac = value % 10000;
    for (i, div) in [1000, 100, 10, 1].into_iter().enumerate() {
        buf[n + 1 + i] = b'0' + ((frac / div) % 10) as u8;
    }
    &buf[..n + 5]
}

/// Replies with a distance: always a bulk string, in RESP3 too (`addReplyDoubleDistance`).
fn reply_distance(out: &mut Reply, d: f64) {
    let mut buf = [0u8; 32];
    out.bulk(fmt_distance(d, &mut buf));
}

/// Replies with a coordinate as Redis's `addReplyHumanLongDouble`: `%.17Lf` without
/// trailing zeros (nor a trailing dot, and `-0` as `0`); a RESP2 bulk string or a RESP3
/// double.
fn reply_coord(out: &mut Reply, v: f64) {
    let mut s = crate::util::StackBuf::<64>::new();
    s.buf[0] = b',';
    s.len = 1;
    if v.is_infinite() {
        let text: &[u8] = if v > 0.0 { b"inf" } else { b"-inf" };
        s.buf[1..1 + text.len()].copy_from_slice(text);
        s.len += text.len();
    } else if std::fmt::Write::write_fmt(&mut s, format_args!("{v:.17}")).is_err() {
        // Wider than the buffer: only for coordinates far out of range, never produced.
        let text = format!("{v:.17}");
        return reply_coord_text(out, text.as_bytes());
    }
    let mut len = s.len;
    if s.buf[1..len].contains(&b'.') {
        while s.buf[len - 1] == b'0' {
            len -= 1;
        }
        if s.buf[len - 1] == b'.' {
            len -= 1;
        }
    }
    if &s.buf[1..len] == b"-0" {
        s.buf[1] = b'0';
        len = 2;
    }
    reply_coord_text(out, &s.buf[1..len]);
}

fn reply_coord_text(out: &mut Reply, text: &[u8]) {
    if out.is_resp3() {
        out.raw(b",");
        out.raw(text);
        out.raw(b"\r\n");
    } else {
        out.bulk(text);
    }
}

/// The sorted set in `value`, or None after replying WRONGTYPE.
fn as_zset<'v>(value: &'v Value, out: &mut Reply) -> Option<&'v ZSet> {
    match value {
        Value::ZSet(z) => Some(z),
        _ => {
            out.error(err::WRONGTYPE);
            None
        }
    }
}

/// GEOADD key [NX|XX] [CH] longitude latitude member [...]: ZADD of the members' geohashes
/// (Redis rewrites the command into a ZADD and runs it).
fn geoadd(ctx: &mut Ctx, args: Args) {
    let key = args.get(1);
    let (mut nx, mut xx, mut ch) = (false, false, false);
    let mut at = 2;
    while at < args.len() {
        let opt = args.get(at);
        if is(opt, "nx") {
            nx = true;
        } else if is(opt, "xx") {
            xx = true;
        } else if is(opt, "ch") {
            ch = true;
        } else {
            break;
        }
        at += 1;
    }
    let rest = args.len() - at;
    // No element at all is ZADD's syntax error.
    if !rest.is_multiple_of(3) || (xx && nx) || rest == 0 {
        ctx.error(err::SYNTAX);
        return;
    }
    // Every position is checked before anything changes. A few scores stay on the stack.
    let (mut inline, mut heap) = ([0u64; 8], Vec::new());
    let scores: &mut [u64] = if rest / 3 <= inline.len() {
        &mut inline[..rest / 3]
    } else {
        heap.resize(rest / 3, 0);
        &mut heap
    };
    for (slot, i) in scores.iter_mut().zip((at..args.len()).step_by(3)) {
        let Some([lon, lat]) = lon_lat_arg(ctx.out, args.get(i), args.get(i + 1)) else {
            return;
        };
        *slot = geohash::encode_score(lon, lat).unwrap_or(0);
    }
    let now = ctx.now;
    let limits = ctx.limits();
    let flags = AddFlags {
        nx,
        xx,
        ..AddFlags::default()
    };
    let (found, out) = ctx.write(key);
    let mut fresh = None;
    let z = match found {
        Some(e) => match &mut e.value {
            Value::ZSet(z) => z,
            _ => {
                out.error(err::WRONGTYPE);
                return;
            }
        },
        None if xx => {
            out.int(0);
            return;
        }
        None => fresh.insert(ZSet::new()),
    };
    let (mut added, mut updated) = (0i64, 0i64);
    for (i, &score) in scores.iter().enumerate() {
        match z.add_with(args.get(at + 3 * i + 2), score as f64, flags, &limits) {
            AddOutcome::Added(_) => added += 1,
            AddOutcome::Updated(_) => updated += 1,
            _ => {}
        }
    }
    let changed = added + updated > 0;
    match fresh {
        Some(z) => {
            ctx.db().insert_new(key, Value::ZSet(z), Ttl::Clear, now);
            // Redis creates the key (publishing `new`) before it replies.
            notify::flush_store_events(ctx);
        }
        None if changed => ctx.modified(key),
        None => {}
    }
    ctx.out.int(if ch { added + updated } else { added });
    if changed {
        notify(ctx, notify::ZSET, "zadd", key);
        if ctx.shared.propagation.on {
            propagate_as_zadd(ctx, args, at, scores);
        }
    }
}

/// GEOADD is written to the append-only file as the ZADD Redis turns it into.
#[cold]
fn propagate_as_zadd(ctx: &mut Ctx, args: Args, at: usize, scores: &[u64]) {
    let texts: Vec<Vec<u8>> = scores.iter().map(|s| s.to_string().into_bytes()).collect();
    let mut argv: Vec<&[u8]> = vec![b"zadd"];
    argv.extend(args.iter().take(at).skip(1));
    for (i, score) in texts.iter().enumerate() {
        argv.push(score);
        argv.push(args.get(at + 3 * i + 2));
    }
    ctx.propagate_as(&argv);
}

/// GEODIST key member1 member2 [unit]
fn geodist(ctx: &mut Ctx, args: Args) {
    let mut to_meter = 1.0;
    if args.len() == 5 {
        match unit_arg(ctx.out, args.get(4)) {
            Some(m) => to_meter = m,
            None => return,
        }
    } else if args.len() > 5 {
        ctx.error(err::SYNTAX);
        return;
    }
    let (found, out) = ctx.read(args.get(1));
    let Some(e) = found else {
        out.null();
        return;
    };
    let Some(z) = as_zset(&e.value, out) else {
        return;
    };
    let (Some(s1), Some(s2)) = (z.score(args.get(2)), z.score(args.get(3))) else {
        out.null();
        return;
    };
    let [lon1, lat1] = geohash::decode_score(s1);
    let [lon2, lat2] = geohash::decode_score(s2);
    reply_distance(out, geohash::distance(lon1, lat1, lon2, lat2) / to_meter);
}

/// GEOHASH key [member ...]: 11-character standard geohashes (null for missing members).
fn geohash(ctx: &mut Ctx, args: Args) {
    let (found, out) = ctx.read(args.get(1));
    let z = match found {
        Some(e) => match as_zset(&e.value, out) {
            Some(z) => Some(z),
            None => return,
        },
        None => None,
    };
    out.array(args.len() - 2);
    for m in args.iter().skip(2) {
        match z.and_then(|z| z.score(m)) {
            Some(score) => out.bulk(&geohash::standard_geohash(score)),
            None => out.null(),
        }
    }
}

/// GEOPOS key [member ...]: `[longitude, latitude]` pairs (a null array for missing ones).
fn geopos(ctx: &mut Ctx, args: Args) {
    let (found, out) = ctx.read(args.get(1));
    let z = match found {
        Some(e) => match as_zset(&e.value, out) {
            Some(z) => Some(z),
            None => return,
        },
        None => None,
    };
    out.array(args.len() - 2);
    for m in args.iter().skip(2) {
        match z.and_then(|z| z.score(m)) {
            Some(score) => {
                let [lon, lat] = geohash::decode_score(score);
                out.array(2);
                reply_coord(out, lon);
                reply_coord(out, lat);
            }
            None => out.null_array(),
        }
    }
}

/// Which command of the search family runs (Redis's `RADIUS_*` and `GEOSEARCH*` flags).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    /// GEORADIUS / GEORADIUS_RO: centre and radius given.
    RadiusCoords,
    /// GEORADIUSBYMEMBER / _RO: centre at a member.
    RadiusMember,
    /// GEOSEARCH.
    Search,
    /// GEOSEARCHSTORE.
    SearchStore,
}

/// Result order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sort {
    None,
    Asc,
    Desc,
}

/// A parsed search (what `georadiusGeneric` gathers before searching).
struct Query<'a> {
    shape: Shape,
    withdist: bool,
    withhash: bool,
    withcoord: bool,
    sort: Sort,
    any: bool,
    /// 0: no limit.
    count: i64,
    /// STORE / STOREDIST key, or GEOSEARCHSTORE's destination.
    store: Option<&'a [u8]>,
    storedist: bool,
}

/// Parses a search's arguments in Redis's order, replying the first error. `z` is the
/// source set (None: missing), which FROMMEMBER and GEORADIUSBYMEMBER read.
fn parse_query<'a>(
    z: Option<&ZSet>,
    out: &mut Reply,
    args: Args<'a>,
    family: Family,
    nostore: bool,
) -> Option<Query<'a>> {
    let mut q = Query {
        shape: Shape {
            kind: ShapeKind::Circle { radius: 0.0 },
            xy: [0.0, 0.0],
            conversion: 0.0,
        },
        withdist: false,
        withhash: false,
        withcoord: false,
        sort: Sort::None,
        any: false,
        count: 0,
        store: None,
        storedist: false,
    };
    let search = matches!(family, Family::Search | Family::SearchStore);
    let base = match family {
        Family::RadiusCoords => {
            q.shape.xy = lon_lat_arg(out, args.get(2), args.get(3))?;
            let (radius, conversion) = radius_arg(out, args.get(4), args.get(5))?;
            q.shape.kind = ShapeKind::Circle { radius };
            q.shape.conversion = conversion;
            6
        }
        Family::RadiusMember => {
            // Without the set Redis goes on parsing, to know which empty reply to give.
            if let Some(z) = z {
                let Some(score) = z.score(args.get(2)) else {
                    out.error(NO_MEMBER);
                    return None;
                };
                q.shape.xy = geohash::decode_score(score);
                let (radius, conversion) = radius_arg(out, args.get(3), args.get(4))?;
                q.shape.kind = ShapeKind::Circle { radius };
                q.shape.conversion = conversion;
            }
            5
        }
        Family::Search => 2,
        Family::SearchStore => {
            q.store = Some(args.get(1));
            3
        }
    };
    let (mut frommember, mut fromloc, mut byradius, mut bybox) = (false, false, false, false);
    let remaining = args.len().saturating_sub(base);
    let mut i = 0;
    while i < remaining {
        let arg = args.get(base + i);
        let left = |n: usize| i + n < remaining;
        if is(arg, "withdist") {
            q.withdist = true;
        } else if is(arg, "withhash") {
            q.withhash = true;
        } else if is(arg, "withcoord") {
            q.withcoord = true;
        } else if is(arg, "any") {
            q.any = true;
        } else if is(arg, "asc") {
            q.sort = Sort::Asc;
        } else if is(arg, "desc") {
            q.sort = Sort::Desc;
        } else if is(arg, "count") && left(1) {
            let Some(count) = parse_i64(args.get(base + i + 1)) else {
                out.error(err::NOT_INTEGER);
                return None;
            };
            if count <= 0 {
                out.error("ERR COUNT must be > 0");
                return None;
            }
            q.count = count;
            i += 1;
        } else if (is(arg, "store") || is(arg, "storedist")) && left(1) && !nostore && !search {
            q.store = Some(args.get(base + i + 1));
            q.storedist = is(arg, "storedist");
            i += 1;
        } else if is(arg, "storedist") && family == Family::SearchStore {
            q.storedist = true;
        } else if is(arg, "frommember") && left(1) && search && !fromloc {
            // Without the set, the member is not looked up (the error comes later).
            if let Some(z) = z {
                let Some(score) = z.score(args.get(base + i + 1)) else {
                    out.error(NO_MEMBER);
                    return None;
                };
                q.shape.xy = geohash::decode_score(score);
            }
            frommember = true;
            i += 1;
        } else if is(arg, "fromlonlat") && left(2) && search && !frommember {
            q.shape.xy = lon_lat_arg(out, args.get(base + i + 1), args.get(base + i + 2))?;
            fromloc = true;
            i += 2;
        } else if is(arg, "byradius") && left(2) && search && !bybox {
            let (radius, conversion) =
                radius_arg(out, args.get(base + i + 1), args.get(base + i + 2))?;
            q.shape.kind = ShapeKind::Circle { radius };
            q.shape.conversion = conversion;
            byradius = true;
            i += 2;
        } else if is(arg, "bybox") && left(3) && search && !byradius {
            let (width, height, conversion) = box_arg(out, args, base + i + 1)?;
            q.shape.kind = ShapeKind::Box { width, height };
            q.shape.conversion = conversion;
            bybox = true;
            i += 3;
        } else {
            out.error(err::SYNTAX);
            return None;
        }
        i += 1;
    }
    if q.store.is_some() && (q.withdist || q.withhash || q.withcoord) {
        let what: &[u8] = if family == Family::SearchStore {
            b"GEOSEARCHSTORE"
        } else {
            b"STORE option in GEORADIUS"
        };
        out.error_parts(&[
            b"ERR ",
            what,
            b" is not compatible with WITHDIST, WITHHASH and WITHCOORD options",
        ]);
        return None;
    }
    // Redis names the command as the client spelled it.
    let name = super::c_bytes(args.get(0), usize::MAX);
    if search && !(frommember || fromloc) {
        out.error_parts(&[
            b"ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for ",
            name,
        ]);
        return None;
    }
    if search && !(byradius || bybox) {
        out.error_parts(&[
            b"ERR exactly one of BYRADIUS and BYBOX can be specified for ",
            name,
        ]);
        return None;
    }
    if q.any && q.count == 0 {
        out.error("ERR the ANY argument requires COUNT argument");
        return None;
    }
    Some(q)
}

/// A member found inside the search area.
#[derive(Debug, Clone, Copy)]
struct Point<'a> {
    lon: f64,
    lat: f64,
    /// From the centre, in meters (in the query's unit once returned).
    dist: f64,
    score: f64,
    member: &'a [u8],
}

/// Collects the members of `z` inside `shape` (`membersOfAllNeighbors`): the 9 cells in
/// Redis's order, each in score order, skipping a cell equal to the one scanned just
/// before; with `limit` (ANY), stops once that many are found.
fn members_in_shape<'z>(z: &'z ZSet, shape: &Shape, limit: usize) -> Vec<Point<'z>> {
    let cells = geohash::cells_for(shape).in_order();
    let mut found = Vec::new();
    let full = |found: &Vec<Point>| limit > 0 && found.len() >= limit;
    // As in C, index 0 doubles as "nothing processed yet".
    let mut last = 0;
    for (i, cell) in cells.iter().enumerate() {
        if cell.is_zero() {
            continue;
        }
        if last != 0 && *cell == cells[last] {
            continue;
        }
        if full(&found) {
            break;
        }
        let (min, max) = cell.score_range();
        let (start, end) = z.score_range(&ScoreRange {
            min,
            min_ex: false,
            max,
            max_ex: true,
        });
        for (member, score) in z.range(start, end, false) {
            let xy = geohash::decode_score(score);
            if let Some(dist) = shape.contains(xy) {
                found.push(Point {
                    lon: xy[0],
                    lat: xy[1],
                    dist,
                    score,
                    member,
                });
            }
            if full(&found) {
                break;
            }
        }
        last = i;
    }
    found
}

/// Redis's distance comparator (`sort_gp_asc`, negated for DESC): -1, 0 or 1, where a NaN
/// compares as "less" both ways, as in C.
#[inline]
fn compare(a: &Point, b: &Point, desc: bool) -> i32 {
    let c = if a.dist > b.dist {
        1
    } else if a.dist == b.dist {
        0
    } else {
        -1
    };
    if desc { -c } else { c }
}

/// glibc's `qsort` (a top-down merge sort, stable), which Redis uses to sort a whole result.
fn merge_sort(v: &mut [Point], desc: bool) {
    fn sort<'z>(v: &mut [Point<'z>], tmp: &mut Vec<Point<'z>>, desc: bool) {
        let n = v.len();
        if n <= 1 {
            return;
        }
        let n1 = n / 2;
        sort(&mut v[..n1], tmp, desc);
        sort(&mut v[n1..], tmp, desc);
        tmp.clear();
        let (mut i, mut j) = (0, n1);
        while i < n1 && j < n {
            if compare(&v[i], &v[j], desc) <= 0 {
                tmp.push(v[i]);
                i += 1;
            } else {
                tmp.push(v[j]);
                j += 1;
            }
        }
        // What is left of the second half is already in place.
        tmp.extend_from_slice(&v[i..n1]);
        v[..tmp.len()].copy_from_slice(tmp);
    }
    let mut tmp = Vec::with_capacity(v.len());
    sort(v, &mut tmp, desc);
}

/// Redis's `pqsort` (see [`super::pqsort`]): only the parts holding elements
/// `lrange..=rrange` are sorted. Used for COUNT; its order of equal distances is its own.
fn partial_sort(v: &mut [Point], desc: bool, lrange: usize, rrange: usize) {
    super::pqsort::pqsort(v, lrange as i64, rrange as i64, &mut |a, b| {
        compare(a, b, desc).cmp(&0)
    });
}

/// What a search leaves to do once the source set is no longer borrowed.
enum Store {
    /// Store these members and scores (or delete the destination if there are none).
    Result(Vec<(Box<[u8]>, f64)>),
    /// The source does not exist: delete the destination.
    NoSource,
}

/// The GEORADIUS family (`georadiusGeneric`): `src_index` is the source key's position.
fn georadius_generic(ctx: &mut Ctx, args: Args, src_index: usize, family: Family, nostore: bool) {
    let (found, out) = ctx.read(args.get(src_index));
    let z = match found {
        Some(e) => match as_zset(&e.value, out) {
            Some(z) => Some(z),
            None => return,
        },
        None => None,
    };
    let Some(q) = parse_query(z, out, args, family, nostore) else {
        return;
    };
    let Some(z) = z else {
        if q.store.is_none() {
            out.array(0);
        } else {
            finish_store(ctx, &q, family, Store::NoSource);
        }
        return;
    };
    let mut sort = q.sort;
    // COUNT without an order sorts ascending (so the nearest come first), except with ANY.
    if q.count != 0 && sort == Sort::None && !q.any {
        sort = Sort::Asc;
    }
    let limit = if q.any { q.count as usize } else { 0 };
    let mut points = members_in_shape(z, &q.shape, limit);
    if points.is_empty() && q.store.is_none() {
        out.array(0);
        return;
    }
    let total = points.len();
    let returned = if q.count == 0 || (total as i64) < q.count {
        total
    } else {
        q.count as usize
    };
    if sort != Sort::None {
        let desc = sort == Sort::Desc;
        if returned == total {
            merge_sort(&mut points, desc);
        } else {
            partial_sort(&mut points, desc, 0, returned - 1);
        }
    }
    let points = &mut points[..returned];
    for p in points.iter_mut() {
        p.dist /= q.shape.conversion;
    }
    if q.store.is_some() {
        let items = points
            .iter()
            .map(|p| {
                let score = if q.storedist { p.dist } else { p.score };
                (Box::from(p.member), score)
            })
            .collect();
        finish_store(ctx, &q, family, Store::Result(items));
        return;
    }
    let options = usize::from(q.withdist) + usize::from(q.withhash) + usize::from(q.withcoord);
    out.array(returned);
    for p in points.iter() {
        if options > 0 {
            out.array(options + 1);
        }
        out.bulk(p.member);
        if q.withdist {
            reply_distance(out, p.dist);
        }
        if q.withhash {
            out.int(geohash::c_double_to_i64(p.score));
        }
        if q.withcoord {
            out.array(2);
            reply_coord(out, p.lon);
            reply_coord(out, p.lat);
        }
    }
}

/// Writes a search's result to its destination and replies with its size: a new sorted
/// set (event `georadiusstore` or `geosearchstore`), or, when empty, the destination
/// deleted (event `del`). Redis publishes before replying.
fn finish_store(ctx: &mut Ctx, q: &Query, family: Family, result: Store) {
    let Some(dst) = q.store else {
        return;
    };
    let now = ctx.now;
    let items = match result {
        Store::Result(items) if !items.is_empty() => items,
        _ => {
            if let Some(e) = ctx.db().remove(dst, now) {
                crate::store::lazyfree::free_server_del(e.value);
                notify(ctx, notify::GENERIC, "del", dst);
            }
            ctx.out.int(0);
            return;
        }
    };
    let limits = ctx.limits();
    let mut z = ZSet::new();
    for (member, score) in &items {
        z.add_with(member, *score, AddFlags::default(), &limits);
    }
    ctx.db().set(dst, Value::ZSet(z), Ttl::Clear, now);
    notify::flush_store_events(ctx);
    let event = if matches!(family, Family::Search | Family::SearchStore) {
        "geosearchstore"
    } else {
        "georadiusstore"
    };
    notify(ctx, notify::ZSET, event, dst);
    ctx.out.int(items.len() as i64);
}

/// GEORADIUS key longitude latitude radius unit [options] [STORE key] [STOREDIST key]
fn georadius(ctx: &mut Ctx, args: Args) {
    georadius_generic(ctx, args, 1, Family::RadiusCoords, false);
}

/// GEORADIUS_RO: GEORADIUS without STORE.
fn georadius_ro(ctx: &mut Ctx, args: Args) {
    georadius_generic(ctx, args, 1, Family::RadiusCoords, true);
}

/// GEORADIUSBYMEMBER key member radius unit [options] [STORE key] [STOREDIST key]
fn georadiusbymember(ctx: &mut Ctx, args: Args) {
    georadius_generic(ctx, args, 1, Family::RadiusMember, false);
}

/// GEORADIUSBYMEMBER_RO: GEORADIUSBYMEMBER without STORE.
fn georadiusbymember_ro(ctx: &mut Ctx, args: Args) {
    georadius_generic(ctx, args, 1, Family::RadiusMember, true);
}

/// GEOSEARCH key FROMMEMBER m | FROMLONLAT lon lat BYRADIUS r unit | BYBOX w h unit
/// [ASC|DESC] [COUNT n [ANY]] [WITHCOORD] [WITHDIST] [WITHHASH]
fn geosearch(ctx: &mut Ctx, args: Args) {
    georadius_generic(ctx, args, 1, Family::Search, false);
}

/// GEOSEARCHSTORE dst src ... [STOREDIST]
fn geosearchstore(ctx: &mut Ctx, args: Args) {
    georadius_generic(ctx, args, 2, Family::SearchStore, false);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_parse_as_string2d() {
        assert_eq!(parse_double(b"1.5"), Some(1.5));
        assert_eq!(parse_double(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_double(b"0x10"), Some(16.0));
        assert_eq!(parse_double(b"1e400"), None);
        assert_eq!(parse_double(b"1e-400"), None);
        assert_eq!(parse_double(b"nan"), None);
        assert_eq!(parse_double(b" 1"), None);
        assert_eq!(parse_double(b"1 "), None);
        assert_eq!(parse_double(b"1\x002"), None);
        assert_eq!(parse_double(b""), None);
        let long = format!("{}1", "0".repeat(100));
        assert_eq!(parse_double(long.as_bytes()), Some(1.0));
    }

    #[test]
    fn distances_with_four_decimals() {
        let f = |d: f64| {
            let mut buf = [0u8; 32];
            String::from_utf8(fmt_distance(d, &mut buf).to_vec()).unwrap()
        };
        assert_eq!(f(0.0), "0.0000");
        assert_eq!(f(0.00005), "0.0000");
        assert_eq!(f(0.00015), "0.0001"); // 1.4999999999999998 ten-thousandths
        assert_eq!(f(0.000151), "0.0002");
        assert_eq!(f(166274.15156960033), "166274.1516");
        assert_eq!(f(5.0), "5.0000");
        assert_eq!(f(f64::NAN), "-922337203685477.5808");
        assert_eq!(f(1e300), "-922337203685477.5808");
    }

    fn points(dists: &[f64]) -> Vec<Point<'static>> {
        const NAMES: [&[u8]; 8] = [b"a", b"b", b"c", b"d", b"e", b"f", b"g", b"h"];
        dists
            .iter()
            .enumerate()
            .map(|(i, &dist)| Point {
                lon: 0.0,
                lat: 0.0,
                dist,
                score: i as f64,
                member: NAMES[i % 8],
            })
            .collect()
    }

    #[test]
    fn merge_sort_is_stable() {
        let mut v = points(&[3.0, 1.0, 3.0, 2.0, 1.0]);
        merge_sort(&mut v, false);
        let order: Vec<f64> = v.iter().map(|p| p.score).collect();
        assert_eq!(order, [1.0, 4.0, 3.0, 0.0, 2.0]);
        merge_sort(&mut v, true);
        let order: Vec<f64> = v.iter().map(|p| p.score).collect();
        assert_eq!(order, [0.0, 2.0, 3.0, 1.0, 4.0]);
    }

    #[test]
    fn partial_sort_sorts_the_wanted_prefix() {
        let mut rng = 0x1234_5678u64;
        for n in [1usize, 5, 7, 8, 30, 41, 100, 1000] {
            for k in [1usize, 2, 10, 50] {
                if k > n {
                    continue;
                }
                let dists: Vec<f64> = (0..n)
                    .map(|_| {
                        rng ^= rng << 13;
                        rng ^= rng >> 7;
                        rng ^= rng << 17;
                        (rng % 50) as f64
                    })
                    .collect();
                let mut v = points(&dists);
                partial_sort(&mut v, false, 0, k - 1);
                let mut want = dists.clone();
                want.sort_by(f64::total_cmp);
                let got: Vec<f64> = v[..k].iter().map(|p| p.dist).collect();
                assert_eq!(got, want[..k], "n={n} k={k}");
            }
        }
    }
}
