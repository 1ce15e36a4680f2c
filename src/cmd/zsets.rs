//! Sorted-set commands (Redis's t_zset.c): ZADD (NX XX GT LT CH INCR) ZINCRBY ZREM ZCARD
//! ZSCORE ZMSCORE ZRANK ZREVRANK ZCOUNT ZLEXCOUNT, the ZRANGE family (BYSCORE BYLEX REV
//! LIMIT WITHSCORES, and the older ZRANGEBYSCORE ZREVRANGEBYSCORE ZRANGEBYLEX
//! ZREVRANGEBYLEX ZREVRANGE, and ZRANGESTORE), ZPOPMIN ZPOPMAX, ZREMRANGEBYRANK
//! ZREMRANGEBYSCORE ZREMRANGEBYLEX, ZRANDMEMBER and ZSCAN. The algebra (ZUNION and its
//! kin) is in `zset_algebra.rs`.
//!
//! Every handler parses its arguments in Redis's order (so that the same bad request gets
//! the same error), then applies. A sorted set that loses its last member is deleted.
//! Scores are doubles: RESP3 `,` replies, RESP2 bulk strings formatted as `%.17g`. With
//! WITHSCORES (and ZPOPMIN/ZPOPMAX with a count), RESP3 nests each member and score in a
//! two-element array, as Redis does.

use super::flags::{DENYOOM, FAST, READONLY, WRITE};
use super::keys::{parse_cursor, parse_scan_args};
use super::notify::{self, notify};
use super::sets::{NOT_POSITIVE, after_removal, delete_result, empty_scan, notify_removal};
use super::{Command, Ctx, err};
use crate::resp::{Args, Reply, format_i64, parse_i64};
use crate::store::zset::{AddFlags, AddOutcome, LexBound, ScoreRange};
use crate::store::{Limits, Ttl, Value, ZSet, next_random};
use crate::util::{fmt_double, glob_match};

/// The family's command table.
#[rustfmt::skip]
pub const COMMANDS: &[Command] = &[
    Command { name: "zadd", arity: -4, flags: WRITE | DENYOOM | FAST, keys: (1, 1, 1), group: "sorted-set", handler: zadd },
    Command { name: "zincrby", arity: 4, flags: WRITE | DENYOOM | FAST, keys: (1, 1, 1), group: "sorted-set", handler: zincrby },
    Command { name: "zrem", arity: -3, flags: WRITE | FAST, keys: (1, 1, 1), group: "sorted-set", handler: zrem },
    Command { name: "zcard", arity: 2, flags: READONLY | FAST, keys: (1, 1, 1), group: "sorted-set", handler: zcard },
    Command { name: "zscore", arity: 3, flags: READONLY | FAST, keys: (1, 1, 1), group: "sorted-set", handler: zscore },
    Command { name: "zmscore", arity: -3, flags: READONLY | FAST, keys: (1, 1, 1), group: "sorted-set", handler: zmscore },
    Command { name: "zrank", arity: 3, flags: READONLY | FAST, keys: (1, 1, 1), group: "sorted-set", handler: zrank },
    Command { name: "zrevrank", arity: 3, flags: READONLY | FAST, keys: (1, 1, 1), group: "sorted-set", handler: zrevrank },
    Command { name: "zcount", arity: 4, flags: READONLY | FAST, keys: (1, 1, 1), group: "sorted-set", handler: zcount },
    Command { name: "zlexcount", arity: 4, flags: READONLY | FAST, keys: (1, 1, 1), group: "sorted-set", handler: zlexcount },
    Command { name: "zrange", arity: -4, flags: READONLY, keys: (1, 1, 1), group: "sorted-set", handler: zrange },
    Command { name: "zrangebyscore", arity: -4, flags: READONLY, keys: (1, 1, 1), group: "sorted-set", handler: zrangebyscore },
    Command { name: "zrevrangebyscore", arity: -4, flags: READONLY, keys: (1, 1, 1), group: "sorted-set", handler: zrevrangebyscore },
    Command { name: "zrangebylex", arity: -4, flags: READONLY, keys: (1, 1, 1), group: "sorted-set", handler: zrangebylex },
    Command { name: "zrevrangebylex", arity: -4, flags: READONLY, keys: (1, 1, 1), group: "sorted-set", handler: zrevrangebylex },
    Command { name: "zrevrange", arity: -4, flags: READONLY, keys: (1, 1, 1), group: "sorted-set", handler: zrevrange },
    Command { name: "zpopmin", arity: -2, flags: WRITE | FAST, keys: (1, 1, 1), group: "sorted-set", handler: zpopmin },
    Command { name: "zpopmax", arity: -2, flags: WRITE | FAST, keys: (1, 1, 1), group: "sorted-set", handler: zpopmax },
    Command { name: "zremrangebyrank", arity: 4, flags: WRITE, keys: (1, 1, 1), group: "sorted-set", handler: zremrangebyrank },
    Command { name: "zremrangebyscore", arity: 4, flags: WRITE, keys: (1, 1, 1), group: "sorted-set", handler: zremrangebyscore },
    Command { name: "zremrangebylex", arity: 4, flags: WRITE, keys: (1, 1, 1), group: "sorted-set", handler: zremrangebylex },
    Command { name: "zrangestore", arity: -5, flags: WRITE | DENYOOM, keys: (1, 2, 1), group: "sorted-set", handler: zrangestore },
    Command { name: "zrandmember", arity: -2, flags: READONLY, keys: (1, 1, 1), group: "sorted-set", handler: zrandmember },
    Command { name: "zscan", arity: -3, flags: READONLY, keys: (1, 1, 1), group: "sorted-set", handler: zscan },
];

/// ZRANGEBYSCORE and friends: a bound that does not parse.
const BAD_SCORE_RANGE: &str = "ERR min or max is not a float";
/// ZRANGEBYLEX and friends: a bound that is not `-`, `+`, `[x` or `(x`.
const BAD_LEX_RANGE: &str = "ERR min or max not valid string range item";
/// ZADD INCR / ZINCRBY reaching `inf + -inf`.
const NAN_RESULT: &str = "ERR resulting score is not a number (NaN)";

/// The sorted set held by `value`, or None (after replying WRONGTYPE) for other types.
#[inline]
fn as_zset<'v>(value: &'v mut Value, out: &mut Reply) -> Option<&'v mut ZSet> {
    match value {
        Value::ZSet(z) => Some(z),
        _ => {
            out.error(err::WRONGTYPE);
            None
        }
    }
}

/// C's `isspace` (strtod skips it; Redis's score parser refuses it in front).
fn is_c_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r')
}

/// What [`strtod`] read.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Strtod {
    value: f64,
    /// Bytes consumed; 0 when nothing converted (C then points `endptr` at the start).
    len: usize,
    /// C's `errno == ERANGE` with a result of ±HUGE_VAL or zero: overflow, or underflow to 0.
    out_of_range: bool,
}

/// C's `strtod` as glibc implements it, over bytes: leading white space, a sign, then
/// decimal (with optional fraction and exponent), hexadecimal (`0x1.8p3`), `inf`,
/// `infinity` or `nan`. Stops at the first byte that does not fit (a NUL included).
fn strtod(s: &[u8]) -> Strtod {
    let none = Strtod {
        value: 0.0,
        len: 0,
        out_of_range: false,
    };
    let mut i = 0;
    while i < s.len() && is_c_space(s[i]) {
        i += 1;
    }
    let neg = match s.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let sign = |v: f64| if neg { -v } else { v };
    let rest = &s[i..];
    let starts =
        |word: &[u8]| rest.len() >= word.len() && rest[..word.len()].eq_ignore_ascii_case(word);
    if starts(b"infinity") || starts(b"inf") {
        let n = if starts(b"infinity") { 8 } else { 3 };
        return Strtod {
            value: sign(f64::INFINITY),
            len: i + n,
            out_of_range: false,
        };
    }
    if starts(b"nan") {
        return Strtod {
            value: f64::NAN,
            len: i + 3,
            out_of_range: false,
        };
    }
    let digits = |from: usize, hex: bool| {
        s[from..]
            .iter()
            .take_while(|c| {
                if hex {
                    c.is_ascii_hexdigit()
                } else {
                    c.is_ascii_digit()
                }
            })
            .count()
    };
    if starts(b"0x") {
        let (int_len, mut j) = (digits(i + 2, true), i + 2);
        j += int_len;
        let mut frac_len = 0;
        if s.get(j) == Some(&b'.') {
            frac_len = digits(j + 1, true);
        }
        if int_len + frac_len > 0 {
            if frac_len > 0 || s.get(j) == Some(&b'.') {
                j += 1 + frac_len;
            }
            // Up to 15 significant hex digits exactly; further ones only shift the exponent.
            let mut mantissa: u64 = 0;
            let mut exp: i64 = 0;
            let mut significant = 0;
            for (k, &c) in s[i + 2..j].iter().filter(|&&c| c != b'.').enumerate() {
                let d = u64::from((c as char).to_digit(16).unwrap_or(0));
                if significant < 15 {
                    if mantissa != 0 || d != 0 {
                        significant += 1;
                    }
                    mantissa = mantissa * 16 + d;
                    if k >= int_len {
                        exp -= 4;
                    }
                } else if k < int_len {
                    exp += 4;
                }
            }
            if matches!(s.get(j), Some(b'p' | b'P')) {
                let (mut k, mut eneg) = (j + 1, false);
                if let Some(&c @ (b'+' | b'-')) = s.get(k) {
                    eneg = c == b'-';
                    k += 1;
                }
                let n = digits(k, false);
                if n > 0 {
                    let e: i64 = s[k..k + n].iter().fold(0i64, |a, &c| {
                        a.saturating_mul(10).saturating_add(i64::from(c - b'0'))
                    });
                    exp += if eneg { -e } else { e };
                    j = k + n;
                }
            }
            let value = mantissa as f64 * 2f64.powi(exp.clamp(-2000, 2000) as i32);
            return Strtod {
                value: sign(value),
                len: j,
                out_of_range: value.is_infinite() || (value == 0.0 && mantissa != 0),
            };
        }
        // "0x" with no hex digit: strtod reads the "0".
    }
    let int_len = digits(i, false);
    let mut j = i + int_len;
    let mut frac_len = 0;
    if s.get(j) == Some(&b'.') {
        frac_len = digits(j + 1, false);
        if int_len + frac_len > 0 {
            j += 1 + frac_len;
        }
    }
    if int_len + frac_len == 0 {
        return none;
    }
    if matches!(s.get(j), Some(b'e' | b'E')) {
        let mut k = j + 1;
        if matches!(s.get(k), Some(b'+' | b'-')) {
            k += 1;
        }
        let n = digits(k, false);
        if n > 0 {
            j = k + n;
        }
    }
    // The consumed text is ASCII and a valid Rust float literal: parse it (correctly
    // rounded, as glibc's strtod).
    let text = std::str::from_utf8(&s[i..j]).unwrap_or("0");
    let value: f64 = text.parse().unwrap_or(0.0);
    let nonzero_digit = s[i..j]
        .iter()
        .take_while(|c| !matches!(c, b'e' | b'E'))
        .any(|c| matches!(c, b'1'..=b'9'));
    Strtod {
        value: sign(value),
        len: j,
        out_of_range: value.is_infinite() || (value == 0.0 && nonzero_digit),
    }
}

/// A score argument, as Redis's `getDoubleFromObject` reads it: the whole string is a
/// number, with no leading space, no overflow or underflow to zero, and not NaN.
pub(super) fn parse_score(arg: &[u8]) -> Option<f64> {
    if arg.first().is_none_or(|&c| is_c_space(c)) {
        return None;
    }
    let r = strtod(arg);
    (r.len == arg.len() && !r.out_of_range && !r.value.is_nan()).then_some(r.value)
}

/// One bound of a score range (Redis's `zslParseRange`): `(` makes it exclusive; then
/// `strtod` must stop at the end of the string (or at a NUL byte, where C sees the end).
/// Leading spaces, overflow and the empty string (0) are accepted, as in Redis.
fn parse_score_bound(arg: &[u8]) -> Option<(f64, bool)> {
    let (text, exclusive) = match arg.split_first() {
        Some((b'(', rest)) => (rest, true),
        _ => (arg, false),
    };
    let r = strtod(text);
    let stop = text.get(r.len).copied().unwrap_or(0);
    (stop == 0 && !r.value.is_nan()).then_some((r.value, exclusive))
}

/// A score range `min max`, or None (the caller replies [`BAD_SCORE_RANGE`]).
fn parse_score_range(min: &[u8], max: &[u8]) -> Option<ScoreRange> {
    let (min, min_ex) = parse_score_bound(min)?;
    let (max, max_ex) = parse_score_bound(max)?;
    Some(ScoreRange {
        min,
        min_ex,
        max,
        max_ex,
    })
}

/// One bound of a lexicographic range (Redis's `zslParseLexRangeItem`).
fn parse_lex_bound(arg: &[u8]) -> Option<LexBound<'_>> {
    // C sees a NUL byte right after a lone `+` or `-` as the end of the string.
    let alone = || arg.get(1).is_none_or(|&c| c == 0);
    match arg.first() {
        Some(b'+') if alone() => Some(LexBound::Max),
        Some(b'-') if alone() => Some(LexBound::Min),
        Some(b'(') => Some(LexBound::Excl(&arg[1..])),
        Some(b'[') => Some(LexBound::Incl(&arg[1..])),
        _ => None,
    }
}

/// A lexicographic range `min max`, or None (the caller replies [`BAD_LEX_RANGE`]).
fn parse_lex_range<'a>(min: &'a [u8], max: &'a [u8]) -> Option<(LexBound<'a>, LexBound<'a>)> {
    Some((parse_lex_bound(min)?, parse_lex_bound(max)?))
}

/// Formats a score as Redis's `d2string` does when it stores a listpack entry: integral
/// values within ±LLONG_MAX/2 as integers (so -0 becomes 0), the rest as `%.17g`.
fn d2string(v: f64) -> Vec<u8> {
    const LIMIT: f64 = (i64::MAX / 2) as f64;
    if v.is_finite() && (-LIMIT..=LIMIT).contains(&v) && v == (v as i64) as f64 {
        return format_i64(v as i64, &mut [0; 20]).to_vec();
    }
    fmt_double(v).into_bytes()
}

/// Formats `v` as C's `printf("%.17g")` (Redis 7.0's double replies; `inf`, `-inf`, `-0`)
/// into `buf` and returns the text. The same output as `util::fmt_double`, without its heap
/// allocations: scores are formatted once per element of every WITHSCORES reply.
fn fmt_score(v: f64, buf: &mut [u8; 32]) -> &[u8] {
    let put = |buf: &mut [u8; 32], text: &[u8]| -> usize {
        buf[..text.len()].copy_from_slice(text);
        text.len()
    };
    let len = if v.is_nan() {
        put(buf, b"nan")
    } else if v.is_infinite() {
        put(buf, if v > 0.0 { b"inf" } else { b"-inf" })
    } else if v == 0.0 {
        put(buf, if v.is_sign_negative() { b"-0" } else { b"0" })
    } else if v.fract() == 0.0 && v.abs() < 1e17 {
        // An integer of at most 17 digits prints as itself.
        let mut tmp = [0u8; 20];
        let digits = format_i64(v as i64, &mut tmp);
        put(buf, digits)
    } else {
        // 17 significant digits, correctly rounded: [-]d.dddddddddddddddde<exp>.
        let mut sci = crate::util::StackBuf::<48>::new();
        if std::fmt::Write::write_fmt(&mut sci, format_args!("{v:.16e}")).is_err() {
            return &buf[..0];
        }
        let text = &sci.buf[..sci.len];
        let e_at = text.iter().position(|&c| c == b'e').unwrap_or(text.len());
        let exp: i32 = std::str::from_utf8(&text[(e_at + 1).min(text.len())..])
            .ok()
            .and_then(|e| e.parse().ok())
            .unwrap_or(0);
        let mut digits = [0u8; 17];
        let mut nd = 0;
        for &c in text[..e_at].iter().filter(|c| c.is_ascii_digit()) {
            if nd < 17 {
                digits[nd] = c;
                nd += 1;
            }
        }
        let trimmed = |d: &[u8]| d.iter().rposition(|&c| c != b'0').map_or(0, |i| i + 1);
        let mut n = 0;
        let mut push = |buf: &mut [u8; 32], c: u8| {
            buf[n] = c;
            n += 1;
        };
        if v < 0.0 {
            push(buf, b'-');
        }
        if !(-4..17).contains(&exp) {
            push(buf, digits[0]);
            let frac = &digits[1..nd];
            let keep = trimmed(frac);
            if keep > 0 {
                push(buf, b'.');
                frac[..keep].iter().for_each(|&c| push(buf, c));
            }
            push(buf, b'e');
            push(buf, if exp < 0 { b'-' } else { b'+' });
            let mut tmp = [0u8; 20];
            let e = format_i64(i64::from(exp.unsigned_abs()), &mut tmp);
            if e.len() < 2 {
                push(buf, b'0');
            }
            e.iter().for_each(|&c| push(buf, c));
        } else if exp >= 0 {
            let int_len = exp as usize + 1;
            digits[..int_len].iter().for_each(|&c| push(buf, c));
            let frac = &digits[int_len..nd];
            let keep = trimmed(frac);
            if keep > 0 {
                push(buf, b'.');
                frac[..keep].iter().for_each(|&c| push(buf, c));
            }
        } else {
            push(buf, b'0');
            push(buf, b'.');
            (0..(-exp - 1)).for_each(|_| push(buf, b'0'));
            let keep = trimmed(&digits[..nd]);
            digits[..keep].iter().for_each(|&c| push(buf, c));
        }
        n
    };
    &buf[..len]
}

/// Replies with a score: a RESP3 double, or a RESP2 bulk string (Reply::double's
/// encoding, formatted without allocating).
#[inline]
pub(super) fn reply_score(out: &mut Reply, v: f64) {
    let mut buf = [0u8; 32];
    let text = fmt_score(v, &mut buf);
    if out.is_resp3() {
        let mut line = [0u8; 36];
        line[0] = b',';
        line[1..1 + text.len()].copy_from_slice(text);
        line[1 + text.len()..3 + text.len()].copy_from_slice(b"\r\n");
        out.raw(&line[..3 + text.len()]);
    } else {
        out.bulk(text);
    }
}

/// ZADD key [NX|XX] [GT|LT] [CH] [INCR] score member [score member ...], and ZINCRBY
/// (which is ZADD with INCR), as Redis's `zaddGenericCommand`.
fn zadd_generic(ctx: &mut Ctx, args: Args, incr: bool) {
    let key = args.get(1);
    let mut flags = AddFlags {
        incr,
        ..AddFlags::default()
    };
    let mut ch = false;
    let mut at = 2;
    while at < args.len() {
        let opt = args.get(at);
        let is = |name: &[u8]| opt.eq_ignore_ascii_case(name);
        if is(b"nx") {
            flags.nx = true;
        } else if is(b"xx") {
            flags.xx = true;
        } else if is(b"ch") {
            ch = true;
        } else if is(b"incr") {
            flags.incr = true;
        } else if is(b"gt") {
            flags.gt = true;
        } else if is(b"lt") {
            flags.lt = true;
        } else {
            break;
        }
        at += 1;
    }
    let elements = args.len() - at;
    if elements == 0 || !elements.is_multiple_of(2) {
        ctx.error(err::SYNTAX);
        return;
    }
    if flags.nx && flags.xx {
        ctx.error("ERR XX and NX options at the same time are not compatible");
        return;
    }
    if ((flags.gt || flags.lt) && flags.nx) || (flags.gt && flags.lt) {
        ctx.error("ERR GT, LT, and/or NX options at the same time are not compatible");
        return;
    }
    if flags.incr && elements > 2 {
        ctx.error("ERR INCR option supports a single increment-element pair");
        return;
    }
    // All scores are checked before anything changes: the command runs fully or not at all.
    // The first scores are kept (no allocation); later ones are parsed again when applied.
    let pairs = args.tail(at);
    let mut scores = [0f64; 16];
    for pair in 0..pairs.len() / 2 {
        match parse_score(pairs.get(2 * pair)) {
            Some(s) => {
                if let Some(slot) = scores.get_mut(pair) {
                    *slot = s;
                }
            }
            None => {
                ctx.error(err::NOT_FLOAT);
                return;
            }
        }
    }
    let now = ctx.now;
    let limits = ctx.limits();
    let (found, out) = ctx.write(key);
    let mut fresh = None;
    let z = match found {
        Some(e) => match as_zset(&mut e.value, out) {
            Some(z) => z,
            None => return,
        },
        None if flags.xx => {
            if flags.incr {
                out.null();
            } else {
                out.int(0);
            }
            return;
        }
        None => fresh.insert(ZSet::new()),
    };
    let (mut added, mut updated, mut processed) = (0i64, 0i64, 0i64);
    let mut score = 0.0;
    let mut nan = false;
    for pair in 0..pairs.len() / 2 {
        let s = match scores.get(pair) {
            Some(&s) => s,
            None => parse_score(pairs.get(2 * pair)).unwrap_or(0.0),
        };
        match z.add_with(pairs.get(2 * pair + 1), s, flags, &limits) {
            AddOutcome::Added(s) => (added, processed, score) = (added + 1, processed + 1, s),
            AddOutcome::Updated(s) => (updated, processed, score) = (updated + 1, processed + 1, s),
            AddOutcome::Unchanged(s) => (processed, score) = (processed + 1, s),
            AddOutcome::Skipped => {}
            AddOutcome::NotANumber => {
                nan = true;
                break;
            }
        }
    }
    let changed = added + updated > 0;
    match fresh {
        Some(z) if !z.is_empty() => {
            ctx.db().insert_new(key, Value::ZSet(z), Ttl::Clear, now);
            // Redis creates the key (publishing `new`) before it replies.
            notify::flush_store_events(ctx);
        }
        Some(_) => {}
        None if changed => ctx.modified(key),
        None => {}
    }
    let out = &mut *ctx.out;
    if nan {
        out.error(NAN_RESULT);
    } else if flags.incr {
        if processed > 0 {
            reply_score(out, score);
        } else {
            out.null();
        }
    } else {
        out.int(if ch { added + updated } else { added });
    }
    // Unlike most commands, ZADD publishes after its reply.
    if changed {
        let event = if flags.incr { "zincr" } else { "zadd" };
        notify(ctx, notify::ZSET, event, key);
    }
}

fn zadd(ctx: &mut Ctx, args: Args) {
    zadd_generic(ctx, args, false);
}

fn zincrby(ctx: &mut Ctx, args: Args) {
    zadd_generic(ctx, args, true);
}

fn zrem(ctx: &mut Ctx, args: Args) {
    let key = args.get(1);
    let (found, out) = ctx.write(key);
    let Some(e) = found else {
        out.int(0);
        return;
    };
    let Some(z) = as_zset(&mut e.value, out) else {
        return;
    };
    let mut removed = 0;
    for m in args.iter().skip(2) {
        if z.remove(m) {
            removed += 1;
        }
        if z.is_empty() {
            break;
        }
    }
    let empty = z.is_empty();
    after_removal(ctx, key, empty, removed > 0);
    if removed > 0 {
        notify_removal(ctx, notify::ZSET, "zrem", key, empty);
    }
    ctx.out.int(removed);
}

fn zcard(ctx: &mut Ctx, args: Args) {
    match ctx.read(args.get(1)) {
        (None, out) => out.int(0),
        (Some(e), out) => {
            if let Some(z) = as_zset(&mut e.value, out) {
                out.int(z.len() as i64);
            }
        }
    }
}

fn zscore(ctx: &mut Ctx, args: Args) {
    match ctx.read(args.get(1)) {
        (None, out) => out.null(),
        (Some(e), out) => {
            if let Some(z) = as_zset(&mut e.value, out) {
                match z.score(args.get(2)) {
                    Some(s) => reply_score(out, s),
                    None => out.null(),
                }
            }
        }
    }
}

fn zmscore(ctx: &mut Ctx, args: Args) {
    let (found, out) = ctx.read(args.get(1));
    let z = match found {
        None => None,
        Some(e) => match as_zset(&mut e.value, out) {
            Some(z) => Some(&*z),
            None => return,
        },
    };
    out.array(args.len() - 2);
    for m in args.iter().skip(2) {
        match z.and_then(|z| z.score(m)) {
            Some(s) => reply_score(out, s),
            None => out.null(),
        }
    }
}

fn zrank_generic(ctx: &mut Ctx, args: Args, rev: bool) {
    match ctx.read(args.get(1)) {
        (None, out) => out.null(),
        (Some(e), out) => {
            if let Some(z) = as_zset(&mut e.value, out) {
                match z.rank(args.get(2)) {
                    Some(r) if rev => out.int((z.len() - 1 - r) as i64),
                    Some(r) => out.int(r as i64),
                    None => out.null(),
                }
            }
        }
    }
}

fn zrank(ctx: &mut Ctx, args: Args) {
    zrank_generic(ctx, args, false);
}

fn zrevrank(ctx: &mut Ctx, args: Args) {
    zrank_generic(ctx, args, true);
}

/// A parsed range of any kind.
#[derive(Debug, Clone, Copy)]
enum Bounds<'a> {
    /// Ranks, possibly negative (from the end).
    Rank(i64, i64),
    /// Scores.
    Score(ScoreRange),
    /// Members, lexicographically.
    Lex(LexBound<'a>, LexBound<'a>),
}

impl Bounds<'_> {
    /// Parses `min max` as a range of `kind`, replying with Redis's error when invalid.
    fn parse<'a>(ctx: &mut Ctx, kind: By, min: &'a [u8], max: &'a [u8]) -> Option<Bounds<'a>> {
        match kind {
            By::Auto | By::Rank => {
                let start = ctx.int_arg(min)?;
                let end = ctx.int_arg(max)?;
                Some(Bounds::Rank(start, end))
            }
            By::Score => match parse_score_range(min, max) {
                Some(r) => Some(Bounds::Score(r)),
                None => {
                    ctx.error(BAD_SCORE_RANGE);
                    None
                }
            },
            By::Lex => match parse_lex_range(min, max) {
                Some((a, b)) => Some(Bounds::Lex(a, b)),
                None => {
                    ctx.error(BAD_LEX_RANGE);
                    None
                }
            },
        }
    }

    /// The ascending ranks `[start, end)` this range covers in `z`.
    fn ranks(&self, z: &ZSet) -> (usize, usize) {
        match *self {
            Bounds::Rank(start, end) => rank_range(z.len(), start, end),
            Bounds::Score(r) => z.score_range(&r),
            Bounds::Lex(a, b) => z.lex_range(a, b),
        }
    }
}

/// Redis's rank sanitising (negative from the end, clamped): the ranks `[start, end)`,
/// empty when `start >= end`.
fn rank_range(len: usize, start: i64, end: i64) -> (usize, usize) {
    let len_i = len as i64;
    let start = if start < 0 { start + len_i } else { start }.max(0);
    let end = if end < 0 { end + len_i } else { end };
    if start > end || start >= len_i {
        return (0, 0);
    }
    (start as usize, (end.min(len_i - 1) + 1) as usize)
}

/// What a ZRANGE-style command ranges over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum By {
    /// Not said yet (plain ZRANGE): ranks unless BYSCORE or BYLEX follows.
    Auto,
    Rank,
    Score,
    Lex,
}

/// ZRANGE and its older forms (Redis's `zrangeGenericCommand`): `kind` and `rev` are fixed
/// by the older commands, open (`Auto`, None) for ZRANGE and ZRANGESTORE. ZRANGESTORE
/// passes its arguments from the destination `dst` on, so that the source is `args[1]`.
fn zrange_generic(
    ctx: &mut Ctx,
    args: Args,
    mut kind: By,
    mut rev: Option<bool>,
    dst: Option<&[u8]>,
) {
    let key = args.get(1);
    let (mut withscores, mut offset, mut limit) = (false, 0i64, -1i64);
    let mut j = 4;
    while j < args.len() {
        let opt = args.get(j);
        let is = |name: &[u8]| opt.eq_ignore_ascii_case(name);
        if dst.is_none() && is(b"withscores") {
            withscores = true;
        } else if is(b"limit") && args.len() - j > 2 {
            let Some(o) = ctx.int_arg(args.get(j + 1)) else {
                return;
            };
            let Some(l) = ctx.int_arg(args.get(j + 2)) else {
                return;
            };
            (offset, limit) = (o, l);
            j += 2;
        } else if rev.is_none() && is(b"rev") {
            rev = Some(true);
        } else if kind == By::Auto && is(b"bylex") {
            kind = By::Lex;
        } else if kind == By::Auto && is(b"byscore") {
            kind = By::Score;
        } else {
            ctx.error(err::SYNTAX);
            return;
        }
        j += 1;
    }
    let rev = rev.unwrap_or(false);
    if kind == By::Auto {
        kind = By::Rank;
    }
    if limit != -1 && kind == By::Rank {
        ctx.error(
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        );
        return;
    }
    if withscores && kind == By::Lex {
        ctx.error("ERR syntax error, WITHSCORES not supported in combination with BYLEX");
        return;
    }
    // Reverse score and lex ranges are given as `max min`.
    let (min, max) = if rev && kind != By::Rank {
        (args.get(3), args.get(2))
    } else {
        (args.get(2), args.get(3))
    };
    let Some(bounds) = Bounds::parse(ctx, kind, min, max) else {
        return;
    };
    let limits = ctx.limits();
    let (found, out) = ctx.read(key);
    let Some(e) = found else {
        match dst {
            Some(dst) => store_zset(ctx, dst, ZSet::new(), "zrangestore"),
            None => out.array(0),
        }
        return;
    };
    let Some(z) = as_zset(&mut e.value, out) else {
        return;
    };
    let (start, end) = bounds.ranks(z);
    let (lo, hi) = if kind == By::Rank {
        if rev {
            // Rank r from the top is ascending rank len - 1 - r.
            let len = z.len();
            (len - end.min(len), len - start.min(len))
        } else {
            (start, end)
        }
    } else {
        limit_ranks(start, end, offset, limit, rev)
    };
    match dst {
        None => reply_range(out, z, lo, hi, rev, withscores),
        Some(dst) => {
            let mut items: Vec<(&[u8], f64)> = z.range(lo, hi, false).collect();
            zrangestore_zeros(&mut items, rev, kind == By::Rank, &limits);
            let result = ZSet::from_sorted(&items, &limits);
            store_zset(ctx, dst, result, "zrangestore");
        }
    }
}

/// The scores ZRANGESTORE stores for `items` (ascending; walked descending with `rev`).
/// Redis adds them one by one, in the order it walks them, to a listpack (unless a rank
/// range is known to be too long for one: then to a skiplist), which turns into a skiplist
/// when the next member would not fit. A listpack stores -0 as 0: so do the members added
/// before that point (all of them when it never comes), while the later ones keep -0.
fn zrangestore_zeros(items: &mut [(&[u8], f64)], rev: bool, by_rank: bool, limits: &Limits) {
    let n = items.len();
    let walked = |k: usize| if rev { n - 1 - k } else { k };
    let converted = if by_rank && n > limits.zset_entries {
        0
    } else {
        (0..n)
            .find(|&k| k + 1 > limits.zset_entries || items[walked(k)].0.len() > limits.zset_value)
            .unwrap_or(n)
    };
    for k in 0..converted {
        let score = &mut items[walked(k)].1;
        if *score == 0.0 {
            *score = 0.0;
        }
    }
}

/// Stores a command's result at `dst` (replacing the key and its TTL), replies with its
/// size and publishes `event`; or, when it is empty, replies 0 and deletes `dst`
/// (publishing `del` if it existed). Redis's order: the store's own events (`new`) come
/// before the reply, the command's after it.
pub(super) fn store_zset(ctx: &mut Ctx, dst: &[u8], result: ZSet, event: &'static str) {
    let n = result.len();
    if n == 0 {
        ctx.out.int(0);
        delete_result(ctx, dst);
        return;
    }
    let now = ctx.now;
    ctx.db().set(dst, Value::ZSet(result), Ttl::Clear, now);
    notify::flush_store_events(ctx);
    ctx.out.int(n as i64);
    notify(ctx, notify::ZSET, event, dst);
}

/// Applies `LIMIT offset count` to the ranks `[start, end)` of a score or lex range, walking
/// from the start (or, reversed, from the end) as Redis does: a negative offset yields
/// nothing, a negative count means all. Returns the ranks `[lo, hi)` to emit.
fn limit_ranks(start: usize, end: usize, offset: i64, limit: i64, rev: bool) -> (usize, usize) {
    if offset < 0 || start >= end {
        return (0, 0);
    }
    let skip = usize::try_from(offset).unwrap_or(usize::MAX);
    let take = usize::try_from(limit).unwrap_or(usize::MAX);
    if rev {
        let hi = end.saturating_sub(skip).max(start);
        (hi.saturating_sub(take).max(start), hi)
    } else {
        let lo = start.saturating_add(skip).min(end);
        (lo, lo.saturating_add(take).min(end))
    }
}

/// Replies with the members of ranks `[lo, hi)` (descending with `rev`), with their scores
/// when asked.
fn reply_range(out: &mut Reply, z: &ZSet, lo: usize, hi: usize, rev: bool, withscores: bool) {
    reply_members(out, z.range(lo, hi, rev), withscores);
}

/// Replies with `items` in order, with their scores when asked: RESP2 flattens pairs into
/// one array, RESP3 nests each pair.
pub(super) fn reply_members<'a>(
    out: &mut Reply,
    items: impl ExactSizeIterator<Item = (&'a [u8], f64)>,
    withscores: bool,
) {
    let n = items.len();
    let nested = withscores && out.is_resp3();
    out.array(if withscores && !nested { 2 * n } else { n });
    for (m, s) in items {
        if nested {
            out.array(2);
        }
        out.bulk(m);
        if withscores {
            reply_score(out, s);
        }
    }
}

fn zrange(ctx: &mut Ctx, args: Args) {
    zrange_generic(ctx, args, By::Auto, None, None);
}

/// ZRANGESTORE dst src min max [BYSCORE|BYLEX] [REV] [LIMIT offset count]: ZRANGE's
/// parsing (without WITHSCORES), its result stored as a sorted set.
fn zrangestore(ctx: &mut Ctx, args: Args) {
    zrange_generic(ctx, args.tail(1), By::Auto, None, Some(args.get(1)));
}

fn zrevrange(ctx: &mut Ctx, args: Args) {
    zrange_generic(ctx, args, By::Rank, Some(true), None);
}

fn zrangebyscore(ctx: &mut Ctx, args: Args) {
    zrange_generic(ctx, args, By::Score, Some(false), None);
}

fn zrevrangebyscore(ctx: &mut Ctx, args: Args) {
    zrange_generic(ctx, args, By::Score, Some(true), None);
}

fn zrangebylex(ctx: &mut Ctx, args: Args) {
    zrange_generic(ctx, args, By::Lex, Some(false), None);
}

fn zrevrangebylex(ctx: &mut Ctx, args: Args) {
    zrange_generic(ctx, args, By::Lex, Some(true), None);
}

/// ZCOUNT / ZLEXCOUNT: the size of a score or lex range, from two O(log n) rank lookups.
fn count_generic(ctx: &mut Ctx, args: Args, kind: By) {
    let Some(bounds) = Bounds::parse(ctx, kind, args.get(2), args.get(3)) else {
        return;
    };
    match ctx.read(args.get(1)) {
        (None, out) => out.int(0),
        (Some(e), out) => {
            if let Some(z) = as_zset(&mut e.value, out) {
                let (start, end) = bounds.ranks(z);
                out.int(end.saturating_sub(start) as i64);
            }
        }
    }
}

fn zcount(ctx: &mut Ctx, args: Args) {
    count_generic(ctx, args, By::Score);
}

fn zlexcount(ctx: &mut Ctx, args: Args) {
    count_generic(ctx, args, By::Lex);
}

/// ZPOPMIN / ZPOPMAX key [count] (Redis's `zpopMinMaxCommand`).
fn zpop_generic(ctx: &mut Ctx, args: Args, max: bool) {
    if args.len() > 3 {
        ctx.error(err::SYNTAX);
        return;
    }
    let count = if args.len() == 3 {
        match parse_i64(args.get(2)).filter(|&c| c >= 0) {
            Some(c) => Some(c),
            None => {
                ctx.error(NOT_POSITIVE);
                return;
            }
        }
    } else {
        None
    };
    let key = args.get(1);
    let (found, out) = ctx.write(key);
    let Some(e) = found else {
        out.array(0);
        return;
    };
    let Some(z) = as_zset(&mut e.value, out) else {
        return;
    };
    if count == Some(0) {
        out.array(0);
        return;
    }
    let n = usize::try_from(count.unwrap_or(1))
        .unwrap_or(usize::MAX)
        .min(z.len());
    // RESP3 nests [member, score] pairs when a count was given; otherwise one flat array.
    let nested = out.is_resp3() && count.is_some();
    out.array(if nested { n } else { 2 * n });
    let Some(first) = z.pop(max) else {
        return; // unreachable: an empty sorted set is never stored
    };
    let mut empty = z.is_empty();
    // Redis publishes once the first member is popped, between the reply's header and
    // its first element (where a RESP3 client subscribed to its own events sees it).
    let event = if max { "zpopmax" } else { "zpopmin" };
    notify(ctx, notify::ZSET, event, key);
    let reply_pair = |out: &mut Reply, (m, s): (Box<[u8]>, f64)| {
        if nested {
            out.array(2);
        }
        out.bulk(&m);
        reply_score(out, s);
    };
    reply_pair(ctx.out, first);
    if n > 1 {
        let (found, out) = ctx.write(key);
        let Some(Value::ZSet(z)) = found.map(|e| &mut e.value) else {
            return; // unreachable: the key holds the sorted set popped from
        };
        for _ in 1..n {
            let Some(pair) = z.pop(max) else {
                break;
            };
            reply_pair(out, pair);
        }
        empty = z.is_empty();
    }
    after_removal(ctx, key, empty, true);
    if empty {
        notify(ctx, notify::GENERIC, "del", key);
    }
}

fn zpopmin(ctx: &mut Ctx, args: Args) {
    zpop_generic(ctx, args, false);
}

fn zpopmax(ctx: &mut Ctx, args: Args) {
    zpop_generic(ctx, args, true);
}

/// ZREMRANGEBYRANK / BYSCORE / BYLEX (Redis's `zremrangeGenericCommand`).
fn zremrange_generic(ctx: &mut Ctx, args: Args, kind: By) {
    let Some(bounds) = Bounds::parse(ctx, kind, args.get(2), args.get(3)) else {
        return;
    };
    let key = args.get(1);
    let (found, out) = ctx.write(key);
    let Some(e) = found else {
        out.int(0);
        return;
    };
    let Some(z) = as_zset(&mut e.value, out) else {
        return;
    };
    let (start, end) = bounds.ranks(z);
    let removed = z.remove_range(start, end);
    let empty = z.is_empty();
    after_removal(ctx, key, empty, removed > 0);
    if removed > 0 {
        let event = match kind {
            By::Score => "zremrangebyscore",
            By::Lex => "zremrangebylex",
            By::Auto | By::Rank => "zremrangebyrank",
        };
        notify_removal(ctx, notify::ZSET, event, key, empty);
    }
    ctx.out.int(removed as i64);
}

fn zremrangebyrank(ctx: &mut Ctx, args: Args) {
    zremrange_generic(ctx, args, By::Rank);
}

fn zremrangebyscore(ctx: &mut Ctx, args: Args) {
    zremrange_generic(ctx, args, By::Score);
}

fn zremrangebylex(ctx: &mut Ctx, args: Args) {
    zremrange_generic(ctx, args, By::Lex);
}

/// ZRANDMEMBER key [count [WITHSCORES]] (Redis's `zrandmemberCommand`).
fn zrandmember(ctx: &mut Ctx, args: Args) {
    if args.len() >= 3 {
        let Some(count) = ctx.int_arg(args.get(2)) else {
            return;
        };
        if count == i64::MIN {
            // Redis parses the count within [-LONG_MAX, LONG_MAX].
            ctx.error(err::COUNT_RANGE);
            return;
        }
        let withscores = args.len() == 4 && args.get(3).eq_ignore_ascii_case(b"withscores");
        if args.len() > 4 || (args.len() == 4 && !withscores) {
            ctx.error(err::SYNTAX);
            return;
        }
        // Twice the count (member and score) must fit in a long.
        if withscores && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&count) {
            ctx.error("ERR value is out of range");
            return;
        }
        zrandmember_count(ctx, args.get(1), count, withscores);
        return;
    }
    let rand = ctx.store.random();
    match ctx.read(args.get(1)) {
        (None, out) => out.null(),
        (Some(e), out) => {
            if let Some(z) = as_zset(&mut e.value, out) {
                let r = (rand % z.len() as u64) as usize;
                if let Some((m, _)) = z.range(r, r + 1, false).next() {
                    out.bulk(m);
                }
            }
        }
    }
}

/// ZRANDMEMBER with a count (Redis's `zrandmemberWithCountCommand`): a negative count may
/// repeat members, in random order; a positive one gives distinct members, at most all of
/// them (then in descending order). With WITHSCORES, RESP3 nests each member and score in a pair.
fn zrandmember_count(ctx: &mut Ctx, key: &[u8], count: i64, withscores: bool) {
    let mut seed = ctx.store.random() | 1;
    let max_reply = ctx.shared.params.settings.max_pending_reply();
    let (found, out) = ctx.read(key);
    let Some(e) = found else {
        out.array(0);
        return;
    };
    let Some(z) = as_zset(&mut e.value, out) else {
        return;
    };
    let z = &*z;
    let (n, size) = (count.unsigned_abs() as usize, z.len());
    if n == 0 {
        out.array(0);
        return;
    }
    let nested = withscores && out.is_resp3();
    let header =
        |out: &mut Reply, n: usize| out.array(if withscores && !nested { 2 * n } else { n });
    let emit = |out: &mut Reply, (m, s): (&[u8], f64)| {
        if nested {
            out.array(2);
        }
        out.bulk(m);
        if withscores {
            reply_score(out, s);
        }
    };
    let mut below = |bound: usize| (next_random(&mut seed) % bound as u64) as usize;
    let at_rank = |r: usize| z.range(r, r + 1, false).next();
    if count < 0 || n == 1 {
        header(out, n);
        // A packed set is listed once (reading one by rank walks it); a big one is read
        // by rank, in O(log n).
        let listed: Vec<(&[u8], f64)> = if z.is_compact() && n > 1 {
            z.iter().collect()
        } else {
            Vec::new()
        };
        for _ in 0..n {
            let r = below(size);
            if let Some(item) = listed.get(r).copied().or_else(|| at_rank(r)) {
                emit(out, item);
            }
            // A huge count would grow the reply without bound: stop once the client is
            // past its output limit, which disconnects it.
            if out.len() > max_reply {
                break;
            }
        }
        return;
    }
    header(out, n.min(size));
    if n >= size {
        // All of them, from the last (Redis's iterator over a sorted set walks backwards).
        z.range(0, size, true).for_each(|item| emit(out, item));
    } else if n * 3 > size {
        // Most of the members: a partial shuffle of them all.
        let mut all: Vec<(&[u8], f64)> = z.iter().collect();
        for i in 0..n {
            all.swap(i, i + below(size - i));
            emit(out, all[i]);
        }
    } else if z.is_compact() {
        // A few members of a packed set: one pass, each member taken with the probability
        // that leaves the right number for the rest (in order, as Redis's listpack walk).
        let mut need = n;
        for (i, item) in z.iter().enumerate() {
            if below(size - i) < need {
                emit(out, item);
                need -= 1;
                if need == 0 {
                    break;
                }
            }
        }
    } else {
        // A few members of a big set: random ranks, skipping repeats.
        let mut seen = std::collections::HashSet::with_capacity(n);
        while seen.len() < n {
            let r = below(size);
            if seen.insert(r)
                && let Some(item) = at_rank(r)
            {
                emit(out, item);
            }
        }
    }
}

fn zscan(ctx: &mut Ctx, args: Args) {
    // Redis checks the cursor, then the key, then the options.
    let key = args.get(1);
    if parse_cursor(args.get(2)).is_none() {
        ctx.error("ERR invalid cursor");
        return;
    }
    match ctx.read(key) {
        (None, out) => {
            empty_scan(out);
            return;
        }
        (Some(e), out) => {
            if as_zset(&mut e.value, out).is_none() {
                return;
            }
        }
    }
    let Some(scan) = parse_scan_args(ctx, args, 2, false) else {
        return;
    };
    let Some(Value::ZSet(z)) = ctx
        .store
        .db_ref(ctx.client.db)
        .peek(key, ctx.now)
        .map(|e| &e.value)
    else {
        empty_scan(ctx.out);
        return;
    };
    let matches = |m: &[u8]| scan.pattern.is_none_or(|p| glob_match(p, m, false));
    let out = &mut *ctx.out;
    if z.is_compact() {
        // A listpack-encoded set is returned whole, in order, with cursor 0 and the scores
        // as Redis stored them in the listpack.
        let items: Vec<(&[u8], f64)> = z.iter().filter(|(m, _)| matches(m)).collect();
        out.array(2);
        out.bulk(b"0");
        out.array(2 * items.len());
        for (m, s) in items {
            out.bulk(m);
            out.bulk(&d2string(s));
        }
        return;
    }
    let mut items: Vec<(&[u8], f64)> = Vec::new();
    let next = z.scan(scan.cursor, scan.count, |m, s| {
        if matches(m) {
            items.push((m, s));
        }
    });
    out.array(2);
    out.bulk(next.to_string().as_bytes());
    out.array(2 * items.len());
    for (m, s) in items {
        out.bulk(m);
        out.bulk(fmt_score(s, &mut [0; 32]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strtod_like_glibc() {
        let full = |s: &str| {
            let r = strtod(s.as_bytes());
            (r.len == s.len()).then_some(r.value)
        };
        assert_eq!(full("1.5"), Some(1.5));
        assert_eq!(full("-2"), Some(-2.0));
        assert_eq!(full("+.5"), Some(0.5));
        assert_eq!(full("5."), Some(5.0));
        assert_eq!(full("1e3"), Some(1000.0));
        assert_eq!(full("1E-2"), Some(0.01));
        assert_eq!(full("inf"), Some(f64::INFINITY));
        assert_eq!(full("-Infinity"), Some(f64::NEG_INFINITY));
        assert_eq!(full("0x10"), Some(16.0));
        assert_eq!(full("0x1.8p1"), Some(3.0));
        assert_eq!(full("-0x.8"), Some(-0.5));
        assert_eq!(full("  7"), Some(7.0));
        assert_eq!(strtod(b"1e").len, 1);
        assert_eq!(strtod(b"1e+").len, 1);
        assert_eq!(strtod(b"0x").len, 1);
        assert_eq!(strtod(b"infinit").len, 3);
        assert_eq!(strtod(b"abc").len, 0);
        assert_eq!(strtod(b".").len, 0);
        assert_eq!(strtod(b"-").len, 0);
        assert!(strtod(b"nan").value.is_nan());
        assert!(strtod(b"1e400").out_of_range);
        assert!(strtod(b"1e-400").out_of_range);
        assert!(!strtod(b"4.9e-324").out_of_range);
        assert!(!strtod(b"0e-400").out_of_range);
    }

    #[test]
    fn scores_parse_as_redis_reads_them() {
        assert_eq!(parse_score(b"1.5"), Some(1.5));
        assert_eq!(parse_score(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_score(b"0x10"), Some(16.0));
        for bad in [
            &b""[..],
            b" 1",
            b"1 ",
            b"nan",
            b"1e400",
            b"1e-400",
            b"abc",
            b"1\x002",
        ] {
            assert_eq!(parse_score(bad), None, "{bad:?}");
        }
        // Range bounds are laxer: leading space, overflow, empty, and text after a NUL.
        assert_eq!(parse_score_bound(b" 1"), Some((1.0, false)));
        assert_eq!(parse_score_bound(b"(5"), Some((5.0, true)));
        assert_eq!(parse_score_bound(b""), Some((0.0, false)));
        assert_eq!(parse_score_bound(b"("), Some((0.0, true)));
        assert_eq!(parse_score_bound(b"1e400"), Some((f64::INFINITY, false)));
        assert_eq!(parse_score_bound(b"1\x00x"), Some((1.0, false)));
        assert_eq!(parse_score_bound(b"1x"), None);
        assert_eq!(parse_score_bound(b"nan"), None);
        assert_eq!(parse_score_bound(b" "), None);
    }

    #[test]
    fn lex_bounds() {
        assert_eq!(parse_lex_bound(b"-"), Some(LexBound::Min));
        assert_eq!(parse_lex_bound(b"+"), Some(LexBound::Max));
        assert_eq!(parse_lex_bound(b"+\x00a"), Some(LexBound::Max));
        assert_eq!(parse_lex_bound(b"+a"), None);
        assert_eq!(parse_lex_bound(b"[a"), Some(LexBound::Incl(b"a")));
        assert_eq!(parse_lex_bound(b"("), Some(LexBound::Excl(b"")));
        assert_eq!(parse_lex_bound(b"a"), None);
        assert_eq!(parse_lex_bound(b""), None);
    }

    #[test]
    fn score_format_matches_fmt_double() {
        let mut values = vec![
            0.0,
            -0.0,
            1.0,
            -1.0,
            1.5,
            0.1,
            3.0,
            1e16,
            1e17,
            -1e17,
            99999999999999999.0,
            123456789012345678.0,
            1e-4,
            1.5e-5,
            1e-5,
            0.30000000000000004,
            4.9e-324,
            f64::MAX,
            f64::MIN_POSITIVE,
            1e300,
            -2.5e-300,
            1e20,
            f64::INFINITY,
            f64::NEG_INFINITY,
            0.000123,
            12345.678,
            1e15 + 0.5,
        ];
        let mut x = 0x1234_5678_9abc_def0u64;
        for i in 0..20000 {
            x = crate::store::next_random(&mut x);
            let v = f64::from_bits(x);
            if v.is_finite() {
                values.push(v);
            }
            values.push((x % 2_000_000) as f64 / 1000.0 - 1000.0);
            values.push((x % 1000) as f64 * 10f64.powi(i % 40 - 20));
        }
        for v in values {
            let mut buf = [0; 32];
            assert_eq!(
                std::str::from_utf8(fmt_score(v, &mut buf)).unwrap(),
                fmt_double(v),
                "{v:e}"
            );
        }
    }

    #[test]
    fn score_replies_in_both_protocols() {
        let mut r = Reply::new();
        reply_score(&mut r, 1.5);
        reply_score(&mut r, f64::NEG_INFINITY);
        assert_eq!(r.bytes(), b"$3\r\n1.5\r\n$4\r\n-inf\r\n");
        let mut r = Reply::new();
        r.set_resp3(true);
        reply_score(&mut r, -0.0);
        reply_score(&mut r, 1e20);
        reply_score(&mut r, f64::INFINITY);
        assert_eq!(r.bytes(), b",-0\r\n,1e+20\r\n,inf\r\n");
    }

    #[test]
    fn listpack_score_format() {
        assert_eq!(d2string(1e17), b"100000000000000000");
        assert_eq!(d2string(-0.0), b"0");
        assert_eq!(d2string(1.5), b"1.5");
        assert_eq!(d2string(1e20), b"1e+20");
        assert_eq!(d2string(f64::INFINITY), b"inf");
    }

    #[test]
    fn ranks_and_limits() {
        assert_eq!(rank_range(5, 0, -1), (0, 5));
        assert_eq!(rank_range(5, -2, -1), (3, 5));
        assert_eq!(rank_range(5, -100, 1), (0, 2));
        assert_eq!(rank_range(5, 3, 1), (0, 0));
        assert_eq!(rank_range(5, 5, 10), (0, 0));
        assert_eq!(rank_range(0, 0, -1), (0, 0));
        assert_eq!(limit_ranks(2, 8, 1, 2, false), (3, 5));
        assert_eq!(limit_ranks(2, 8, 1, 2, true), (5, 7));
        assert_eq!(limit_ranks(2, 8, 0, -1, true), (2, 8));
        assert_eq!(limit_ranks(2, 8, -1, 5, false), (0, 0));
        assert_eq!(limit_ranks(2, 8, 100, 5, false), (8, 8));
        assert_eq!(limit_ranks(2, 8, 100, 5, true), (2, 2));
        assert_eq!(limit_ranks(2, 8, 1, 0, false), (3, 3));
    }
}
