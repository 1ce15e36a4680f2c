//! SORT and SORT_RO (Redis's sort.c): sort the elements of a list, set or sorted set,
//! numerically or as strings (ALPHA), by the elements themselves or by values found
//! through a key pattern (`BY weight_*`, `BY obj_*->field`), reply with the elements or
//! with values found through GET patterns (`#` is the element itself), or STORE the result
//! as a list.
//!
//! What decides the order, as in Redis 7.0:
//!
//! * Numeric sorting compares scores (C's `strtod` of the element or BY value; an
//!   unparsable one, an overflow or a NaN makes the reply `-ERR One or more scores can't
//!   be converted into double`; a missing BY value counts as 0), equal scores by the
//!   elements' bytes.
//! * ALPHA compares with the C library's `strcoll` in the server's `LC_COLLATE` locale
//!   (Redis calls `setlocale(LC_COLLATE, "")` at start, so does [`init_collation`]):
//!   strings end at their first NUL byte there. With STORE the comparison is binary
//!   instead. With BY, a missing value sorts first and two missing values are equal.
//! * Elements that compare equal keep their loading order, as glibc's `qsort` (a merge
//!   sort) keeps them; with BY and a LIMIT that does not cover everything Redis uses its
//!   partial quicksort (pqsort.c), which [`super::pqsort`] reproduces step by step, ties
//!   included.
//! * `BY` a pattern without `*` does not sort: lists and sorted sets come in their own
//!   order (DESC reverses it, LIMIT picks the range), sets in their iteration order;
//!   but a set with STORE, or from a script, is sorted ALPHA for determinism.
//!
//! Key patterns: the first `*` is replaced by the element; `->` after it splits the key
//! from a hash field (when a field name follows); a pattern without `*` names nothing
//! (GET gives nil). Patterns are C strings to Redis when it searches them (a NUL byte ends
//! the search for `*` and `->`, and `#\0...` is `#`), but keys and fields keep every byte.

use std::cmp::Ordering;

use super::flags::{DENYOOM, READONLY, WRITE};
use super::notify::{self, lookup_events, notify};
use super::{Command, Ctx, err};
use crate::resp::{Args, Reply};
use crate::store::{List, Ttl, Value};

/// The family's command table.
#[rustfmt::skip]
pub const COMMANDS: &[Command] = &[
    Command { name: "sort", arity: -2, flags: WRITE | DENYOOM, keys: (1, 1, 1), group: "generic", handler: sort },
    Command { name: "sort_ro", arity: -2, flags: READONLY, keys: (1, 1, 1), group: "generic", handler: sort_ro },
];

/// Redis's reply when a score does not parse.
const NOT_DOUBLE: &str = "ERR One or more scores can't be converted into double";

/// Sets the collation locale from the environment, as Redis does at start
/// (`setlocale(LC_COLLATE, "")`): ALPHA sorting (and Lua's string comparison) then
/// collate as redis-server would in the same environment. Call it once, before other
/// threads start.
pub fn init_collation() {
    // SAFETY: setlocale with a valid NUL-terminated string; called at start-up, before the
    // server starts threads that could read the locale concurrently.
    let name = unsafe {
        let p = libc::setlocale(libc::LC_COLLATE, c"".as_ptr());
        if p.is_null() {
            None
        } else {
            Some(std::ffi::CStr::from_ptr(p).to_bytes().to_vec())
        }
    };
    // In these locales glibc's strcoll orders as strcmp: compare the bytes directly.
    let bytewise = match name.as_deref() {
        None => true,
        Some(n) => {
            matches!(n, b"C" | b"POSIX")
                || n.eq_ignore_ascii_case(b"C.UTF-8")
                || n.eq_ignore_ascii_case(b"C.utf8")
        }
    };
    BYTEWISE_COLLATION.store(bytewise, std::sync::atomic::Ordering::Relaxed);
}

/// strcoll is strcmp in the current locale (the C locale until [`init_collation`]).
static BYTEWISE_COLLATION: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

fn sort(ctx: &mut Ctx, args: Args) {
    sort_generic(ctx, args, false);
}

fn sort_ro(ctx: &mut Ctx, args: Args) {
    sort_generic(ctx, args, true);
}

/// The keys of a SORT request, as Redis's `sortGetKeys` finds them (COMMAND GETKEYS): the
/// sorted key, then the last STORE's key. Options are skipped with their arguments (LIMIT
/// two, GET and BY one); a STORE is taken wherever it stands, its key scanned as an option.
pub fn sort_keys<'a>(args: Args<'a>) -> Vec<&'a [u8]> {
    let mut keys = vec![args.get(1)];
    let mut store = None;
    let mut i = 2;
    while i < args.len() {
        let a = args.get(i);
        if a.eq_ignore_ascii_case(b"limit") {
            i += 2;
        } else if a.eq_ignore_ascii_case(b"get") || a.eq_ignore_ascii_case(b"by") {
            i += 1;
        } else if a.eq_ignore_ascii_case(b"store") && i + 1 < args.len() {
            store = Some(args.get(i + 1));
        }
        i += 1;
    }
    keys.extend(store);
    keys
}

/// A BY or GET pattern, searched once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pattern<'a> {
    /// `#`: the element itself.
    Element,
    /// No `*`: names no key (nil).
    Nothing,
    /// `prefix` + element + `suffix` is a key: a string, or with `field` a hash's field.
    Key {
        prefix: &'a [u8],
        suffix: &'a [u8],
        field: Option<&'a [u8]>,
    },
}

impl<'a> Pattern<'a> {
    /// Redis's `lookupKeyByPattern` reading of `p`.
    fn parse(p: &'a [u8]) -> Pattern<'a> {
        // Searches stop at the first NUL, where C sees the end of the string.
        let c = &p[..p.iter().position(|&b| b == 0).unwrap_or(p.len())];
        if c == b"#" {
            return Pattern::Element;
        }
        let Some(star) = c.iter().position(|&b| b == b'*') else {
            return Pattern::Nothing;
        };
        let arrow = c[star + 1..]
            .windows(2)
            .position(|w| w == b"->")
            .map(|i| star + 1 + i)
            // `->` ending the pattern is part of the key name.
            .filter(|&f| f + 2 < c.len());
        match arrow {
            Some(f) => Pattern::Key {
                prefix: &p[..star],
                suffix: &p[star + 1..f],
                field: Some(&p[f + 2..]),
            },
            None => Pattern::Key {
                prefix: &p[..star],
                suffix: &p[star + 1..],
                field: None,
            },
        }
    }
}

/// SORT's options, parsed.
struct Options<'a> {
    desc: bool,
    alpha: bool,
    limit_start: i64,
    limit_count: i64,
    /// BY with a `*` (None also for a constant BY, see `dontsort`).
    by: Option<&'a [u8]>,
    /// BY a constant: no sorting.
    dontsort: bool,
    store: Option<&'a [u8]>,
    gets: Vec<&'a [u8]>,
}

/// Parses the options in Redis's order, replying the first error.
fn parse_options<'a>(ctx: &mut Ctx, args: Args<'a>, readonly: bool) -> Option<Options<'a>> {
    let mut o = Options {
        desc: false,
        alpha: false,
        limit_start: 0,
        limit_count: -1,
        by: None,
        dontsort: false,
        store: None,
        gets: Vec::new(),
    };
    let mut j = 2;
    while j < args.len() {
        let a = args.get(j);
        let left = args.len() - j - 1;
        if a.eq_ignore_ascii_case(b"asc") {
            o.desc = false;
        } else if a.eq_ignore_ascii_case(b"desc") {
            o.desc = true;
        } else if a.eq_ignore_ascii_case(b"alpha") {
            o.alpha = true;
        } else if a.eq_ignore_ascii_case(b"limit") && left >= 2 {
            o.limit_start = ctx.int_arg(args.get(j + 1))?;
            o.limit_count = ctx.int_arg(args.get(j + 2))?;
            j += 2;
        } else if !readonly && a.eq_ignore_ascii_case(b"store") && left >= 1 {
            o.store = Some(args.get(j + 1));
            j += 1;
        } else if a.eq_ignore_ascii_case(b"by") && left >= 1 {
            let p = args.get(j + 1);
            // A pattern without `*` (before any NUL, as strchr sees it) is constant.
            let constant = !p.iter().take_while(|&&b| b != 0).any(|&b| b == b'*');
            o.dontsort = constant;
            o.by = Some(p);
            j += 1;
        } else if a.eq_ignore_ascii_case(b"get") && left >= 1 {
            o.gets.push(args.get(j + 1));
            j += 1;
        } else {
            ctx.error(err::SYNTAX);
            return None;
        }
        j += 1;
    }
    Some(o)
}

/// Strings copied out of the keyspace (the elements to sort, or their BY values): one
/// buffer, each string followed by a NUL byte (so `strcoll` can read it in place).
#[derive(Default)]
struct Arena {
    bytes: Vec<u8>,
    /// Start, length, and length up to the first NUL (the C string) of each string.
    spans: Vec<(usize, usize, usize)>,
}

impl Arena {
    #[inline]
    fn push(&mut self, b: &[u8]) {
        let c_len = b.iter().position(|&c| c == 0).unwrap_or(b.len());
        self.spans.push((self.bytes.len(), b.len(), c_len));
        self.bytes.extend_from_slice(b);
        self.bytes.push(0);
    }

    #[inline]
    fn push_int(&mut self, v: i64) {
        self.push(crate::resp::format_i64(v, &mut [0; 20]));
    }

    #[inline]
    fn get(&self, i: u32) -> &[u8] {
        let (s, l, _) = self.spans[i as usize];
        &self.bytes[s..s + l]
    }

    /// The string as C sees it: up to its first NUL.
    #[inline]
    fn c_str(&self, i: u32) -> &[u8] {
        let (s, _, c) = self.spans[i as usize];
        &self.bytes[s..s + c]
    }

    /// The string as C sees it, with its terminating NUL.
    #[inline]
    fn c_str_nul(&self, i: u32) -> &[u8] {
        let (s, _, c) = self.spans[i as usize];
        &self.bytes[s..=s + c]
    }

    fn len(&self) -> usize {
        self.spans.len()
    }
}

/// How ALPHA compares strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StrOrder {
    /// Redis's compareStringObjects (with STORE): memcmp, then the shorter first.
    Binary,
    /// strcoll in a locale where it is strcmp: the bytes up to the first NUL.
    CBytes,
    /// strcoll in another locale.
    Locale,
}

impl StrOrder {
    fn current(store: bool) -> StrOrder {
        if store {
            StrOrder::Binary
        } else if BYTEWISE_COLLATION.load(std::sync::atomic::Ordering::Relaxed) {
            StrOrder::CBytes
        } else {
            StrOrder::Locale
        }
    }
}

/// A string to sort by: string `val` of an arena (MISSING: a BY value that is not there,
/// first of all) for element `elem`, with its first 8 compared bytes as a big-endian
/// number, so that most comparisons need not read the arena.
#[derive(Debug, Clone, Copy)]
struct StrKey {
    prefix: u64,
    val: u32,
    elem: u32,
}

impl StrKey {
    const MISSING: u32 = u32::MAX;

    fn new(arena: &Arena, val: Option<u32>, elem: u32, order: StrOrder) -> StrKey {
        let Some(val) = val else {
            return StrKey {
                prefix: 0,
                val: StrKey::MISSING,
                elem,
            };
        };
        let bytes = match order {
            StrOrder::Binary => arena.get(val),
            StrOrder::CBytes => arena.c_str(val),
            StrOrder::Locale => &[],
        };
        // Zero padding orders as a shorter string does: where two padded prefixes differ,
        // the strings differ the same way.
        let mut head = [0u8; 8];
        let n = bytes.len().min(8);
        head[..n].copy_from_slice(&bytes[..n]);
        StrKey {
            prefix: u64::from_be_bytes(head),
            val,
            elem,
        }
    }

    #[inline]
    fn cmp(&self, other: &StrKey, arena: &Arena, order: StrOrder) -> Ordering {
        match (self.val == StrKey::MISSING, other.val == StrKey::MISSING) {
            (true, true) => return Ordering::Equal,
            (true, false) => return Ordering::Less,
            (false, true) => return Ordering::Greater,
            (false, false) => {}
        }
        match order {
            StrOrder::Binary => self
                .prefix
                .cmp(&other.prefix)
                .then_with(|| arena.get(self.val).cmp(arena.get(other.val))),
            StrOrder::CBytes => self
                .prefix
                .cmp(&other.prefix)
                .then_with(|| arena.c_str(self.val).cmp(arena.c_str(other.val))),
            StrOrder::Locale => {
                let (a, b) = (arena.c_str_nul(self.val), arena.c_str_nul(other.val));
                // SAFETY: both slices end with a NUL byte, so strcoll stays inside them.
                let r = unsafe { libc::strcoll(a.as_ptr().cast(), b.as_ptr().cast()) };
                r.cmp(&0)
            }
        }
    }
}

/// A score as SORT reads it: C's `strtod` of the whole string (a NUL byte ends it), with
/// no ERANGE (overflow, underflow, subnormal) and not NaN. `cbuf` is scratch space.
#[inline]
fn score_of(b: &[u8], cbuf: &mut Vec<u8>) -> Option<f64> {
    // Plain integers of up to 18 digits: exact as i64, and i64 -> f64 rounds to nearest as
    // strtod does.
    let digits = b.strip_prefix(b"-").unwrap_or(b);
    if !digits.is_empty() && digits.len() <= 18 && digits.iter().all(u8::is_ascii_digit) {
        let v: i64 = digits
            .iter()
            .fold(0i64, |a, &c| a * 10 + i64::from(c - b'0'));
        return Some(if digits.len() == b.len() { v } else { -v } as f64);
    }
    cbuf.clear();
    cbuf.extend_from_slice(b);
    cbuf.push(0);
    let mut end: *mut libc::c_char = std::ptr::null_mut();
    // SAFETY: cbuf is NUL-terminated; strtod reads up to that NUL at most and sets `end`
    // inside it. errno is the calling thread's.
    let (v, rest, erange) = unsafe {
        *libc::__errno_location() = 0;
        let v = libc::strtod(cbuf.as_ptr().cast(), &mut end);
        (v, *end, *libc::__errno_location() == libc::ERANGE)
    };
    (rest == 0 && !erange && !v.is_nan()).then_some(v)
}

/// A score (not NaN) as an integer that orders as the scores do, -0 and 0 equal: the
/// sign bit flipped for positive numbers, every bit for negative ones.
#[inline]
fn score_key(v: f64) -> u64 {
    let bits = (v + 0.0).to_bits();
    if bits >> 63 == 1 {
        !bits
    } else {
        bits | 1 << 63
    }
}

/// Finds the value `pat` names for `elem` (Redis's `lookupKeyByPattern`, a read lookup of
/// the key) and hands it to `f` with the reply buffer; None when there is none (no key,
/// wrong type, no field, a pattern without `*`).
#[inline]
fn with_value<R>(
    ctx: &mut Ctx,
    pat: Pattern,
    elem: &[u8],
    keybuf: &mut Vec<u8>,
    f: impl FnOnce(Option<&[u8]>, &mut Reply) -> R,
) -> R {
    let (prefix, suffix, field) = match pat {
        Pattern::Element => return f(Some(elem), ctx.out),
        Pattern::Nothing => return f(None, ctx.out),
        Pattern::Key {
            prefix,
            suffix,
            field,
        } => (prefix, suffix, field),
    };
    keybuf.clear();
    keybuf.extend_from_slice(prefix);
    keybuf.extend_from_slice(elem);
    keybuf.extend_from_slice(suffix);
    let (found, out) = ctx.read(keybuf);
    let Some(e) = found else {
        return f(None, out);
    };
    match (field, &e.value) {
        (Some(field), Value::Hash(h)) => f(h.get(field), out),
        (None, Value::Str(s)) => {
            let mut tmp = [0u8; 20];
            f(Some(s.as_bytes(&mut tmp)), out)
        }
        _ => f(None, out),
    }
}

fn sort_generic(ctx: &mut Ctx, args: Args, readonly: bool) {
    let Some(mut o) = parse_options(ctx, args, readonly) else {
        return;
    };
    let key = args.get(1);
    let mut items = Arena::default();
    let in_script = ctx.shared.in_script;
    let (found, out) = ctx.read(key);
    // A missing key sorts as an empty list.
    let (kind, len) = match found.as_ref().map(|e| &e.value) {
        None => (Kind::List, 0),
        Some(Value::List(l)) => (Kind::List, l.len()),
        Some(Value::Set(s)) => (Kind::Set, s.len()),
        Some(Value::ZSet(z)) => (Kind::ZSet, z.len()),
        Some(_) => {
            out.error(err::WRONGTYPE);
            return;
        }
    };
    // A set has no order of its own: with STORE or in a script (whose effects are
    // replicated) it is sorted as strings, whatever BY says.
    if o.dontsort && kind == Kind::Set && (o.store.is_some() || in_script) {
        o.dontsort = false;
        o.alpha = true;
        o.by = None;
    }
    if o.dontsort {
        o.by = None;
    }
    // Redis's LIMIT arithmetic, on signed longs.
    let vlen = len as i64;
    let mut start = o.limit_start.max(0).min(vlen);
    let count = o.limit_count.max(-1).min(vlen);
    let mut end = if count < 0 {
        vlen - 1
    } else {
        start + count - 1
    };
    if start >= vlen {
        start = vlen - 1;
        end = vlen - 2;
    }
    if end >= vlen {
        end = vlen - 1;
    }

    if let Some(e) = found {
        let desc = o.desc;
        match &e.value {
            Value::List(l) if o.dontsort => {
                // Only the range, in list order (reversed for DESC).
                if end >= start {
                    let (s, t) = (start as usize, end as usize);
                    if desc {
                        let n = l.len();
                        for el in l.range(n - 1 - t, n - 1 - s) {
                            el.with_bytes(|b| items.push(b));
                        }
                        items.spans.reverse();
                    } else {
                        for el in l.range(s, t) {
                            el.with_bytes(|b| items.push(b));
                        }
                    }
                }
                end -= start;
                start = 0;
            }
            Value::List(l) => {
                items.spans.reserve(l.len());
                for el in l.iter() {
                    match el {
                        crate::store::Elem::Int(v) => items.push_int(v),
                        crate::store::Elem::Bytes(b) => items.push(b),
                    }
                }
            }
            Value::Set(s) => {
                items.spans.reserve(s.len());
                for m in s.iter() {
                    match m {
                        crate::store::set::Member::Int(v) => items.push_int(v),
                        crate::store::set::Member::Bytes(b) => items.push(b),
                    }
                }
            }
            Value::ZSet(z) if o.dontsort => {
                if end >= start {
                    let (s, t) = (start as usize, end as usize);
                    let n = z.len();
                    let range = if desc {
                        z.range(n - 1 - t, n - s, true)
                    } else {
                        z.range(s, t + 1, false)
                    };
                    for (m, _) in range {
                        items.push(m);
                    }
                }
                end -= start;
                start = 0;
            }
            Value::ZSet(z) => {
                items.spans.reserve(z.len());
                for (m, _) in z.iter() {
                    items.push(m);
                }
            }
            _ => unreachable!("checked above"),
        }
    }
    lookup_events(ctx);

    let n = items.len();
    let mut order: Vec<u32> = (0..n as u32).collect();
    let mut keybuf = Vec::new();
    let mut bad_score = false;
    if !o.dontsort {
        // Redis sorts the whole vector, or with BY and a narrower LIMIT only as far as the
        // range needs.
        let partial =
            (o.by.is_some() && (start != 0 || end != n as i64 - 1)).then_some((start, end));
        let by = o.by.map(Pattern::parse);
        let desc = o.desc;
        let dir = |c: Ordering| if desc { c.reverse() } else { c };
        if o.alpha {
            let sorder = StrOrder::current(o.store.is_some());
            // The elements themselves, or their BY values (copied; None when missing).
            let mut values = Arena::default();
            let mut keyed: Vec<StrKey> = Vec::with_capacity(n);
            for i in 0..n as u32 {
                let k = match by {
                    None => StrKey::new(&items, Some(i), i, sorder),
                    Some(pat) => {
                        let v = with_value(ctx, pat, items.get(i), &mut keybuf, |v, _| {
                            v.map(|v| {
                                values.push(v);
                                values.len() as u32 - 1
                            })
                        });
                        StrKey::new(&values, v, i, sorder)
                    }
                };
                keyed.push(k);
            }
            let arena = if by.is_some() { &values } else { &items };
            arrange(&mut keyed, partial, |a, b| dir(a.cmp(b, arena, sorder)));
            order = keyed.into_iter().map(|k| k.elem).collect();
        } else {
            let mut cbuf = Vec::new();
            // Scores as integers in the same order (see `score_key`), with the element.
            let mut scored: Vec<(u64, u32)> = Vec::with_capacity(n);
            for i in 0..n as u32 {
                let score = match by {
                    None => score_of(items.get(i), &mut cbuf),
                    Some(pat) => with_value(ctx, pat, items.get(i), &mut keybuf, |v, _| {
                        v.map_or(Some(0.0), |v| score_of(v, &mut cbuf))
                    }),
                };
                bad_score |= score.is_none();
                scored.push((score_key(score.unwrap_or(0.0)), i));
            }
            if !bad_score {
                // Equal scores: the elements' bytes decide (Redis's compareStringObjects).
                let cmp = |a: &(u64, u32), b: &(u64, u32)| {
                    dir(a
                        .0
                        .cmp(&b.0)
                        .then_with(|| items.get(a.1).cmp(items.get(b.1))))
                };
                arrange(&mut scored, partial, cmp);
                order = scored.into_iter().map(|(_, i)| i).collect();
            }
        }
        lookup_events(ctx);
    }

    let gets: Vec<Pattern> = o.gets.iter().map(|p| Pattern::parse(p)).collect();
    let picked = if end >= start {
        &order[start as usize..=end as usize]
    } else {
        &order[..0]
    };
    let outputlen = picked.len() * gets.len().max(1);
    if bad_score {
        ctx.error(NOT_DOUBLE);
        return;
    }
    let Some(dst) = o.store else {
        ctx.out.array(outputlen);
        for &i in picked {
            let elem = items.get(i);
            if gets.is_empty() {
                ctx.out.bulk(elem);
            }
            for &pat in &gets {
                with_value(ctx, pat, elem, &mut keybuf, |v, out| match v {
                    Some(v) => out.bulk(v),
                    None => out.null(),
                });
            }
        }
        lookup_events(ctx);
        return;
    };
    let fill = ctx.limits().list_fill;
    let mut list = List::new();
    for &i in picked {
        let elem = items.get(i);
        if gets.is_empty() {
            list.push(elem, false, fill);
        }
        for &pat in &gets {
            with_value(ctx, pat, elem, &mut keybuf, |v, _| {
                list.push(v.unwrap_or(b""), false, fill);
            });
        }
    }
    let now = ctx.now;
    if outputlen > 0 {
        ctx.db().set(dst, Value::List(list), Ttl::Clear, now);
        notify(ctx, notify::LIST, "sortstore", dst);
    } else if let Some(e) = ctx.db().remove(dst, now) {
        crate::store::lazyfree::free_server_del(e.value);
        notify(ctx, notify::GENERIC, "del", dst);
    }
    lookup_events(ctx);
    ctx.out.int(outputlen as i64);
}

/// The type of the sorted key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    List,
    Set,
    ZSet,
}

/// Sorts `v`: all of it with a stable sort (glibc's qsort, which Redis calls, is a merge
/// sort), or with `partial = (start, end)` as Redis's pqsort does.
fn arrange<T: Copy>(
    v: &mut [T],
    partial: Option<(i64, i64)>,
    mut cmp: impl FnMut(&T, &T) -> Ordering,
) {
    match partial {
        None => v.sort_by(cmp),
        Some((start, end)) => super::pqsort::pqsort(v, start, end, &mut cmp),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_as_redis_reads_them() {
        assert_eq!(Pattern::parse(b"#"), Pattern::Element);
        assert_eq!(Pattern::parse(b"#\0x*"), Pattern::Element);
        assert_eq!(Pattern::parse(b"nosort"), Pattern::Nothing);
        assert_eq!(Pattern::parse(b"a\0*"), Pattern::Nothing);
        assert_eq!(
            Pattern::parse(b"w_*"),
            Pattern::Key {
                prefix: b"w_",
                suffix: b"",
                field: None
            }
        );
        assert_eq!(
            Pattern::parse(b"o_*_x->f->g"),
            Pattern::Key {
                prefix: b"o_",
                suffix: b"_x",
                field: Some(b"f->g")
            }
        );
        // `->` at the end is part of the key; before the `*` it is not an arrow.
        assert_eq!(
            Pattern::parse(b"x:*->"),
            Pattern::Key {
                prefix: b"x:",
                suffix: b"->",
                field: None
            }
        );
        assert_eq!(
            Pattern::parse(b"a->b*c"),
            Pattern::Key {
                prefix: b"a->b",
                suffix: b"c",
                field: None
            }
        );
        // Only the first `*` is replaced.
        assert_eq!(
            Pattern::parse(b"*-*"),
            Pattern::Key {
                prefix: b"",
                suffix: b"-*",
                field: None
            }
        );
        // The field keeps bytes past a NUL; `->\0` is not an arrow with a field.
        assert_eq!(
            Pattern::parse(b"k*->f\0g"),
            Pattern::Key {
                prefix: b"k",
                suffix: b"",
                field: Some(b"f\0g")
            }
        );
        assert_eq!(
            Pattern::parse(b"k*->\0g"),
            Pattern::Key {
                prefix: b"k",
                suffix: b"->\0g",
                field: None
            }
        );
    }

    #[test]
    fn scores_as_strtod() {
        let mut b = Vec::new();
        for (s, v) in [
            (&b"1"[..], Some(1.0)),
            (b"-12", Some(-12.0)),
            (b" 1.5", Some(1.5)),
            (b"", Some(0.0)),
            (b"1\0abc", Some(1.0)),
            (b"0x10", Some(16.0)),
            (b"inf", Some(f64::INFINITY)),
            (b"1.5 ", None),
            (b"nan", None),
            (b"1e400", None),
            (b"1e-310", None),
            (b"abc", None),
            (b"-", None),
            (
                b"123456789012345678901234",
                Some(123456789012345678901234.0),
            ),
        ] {
            assert_eq!(score_of(s, &mut b), v, "{:?}", String::from_utf8_lossy(s));
        }
    }

    #[test]
    fn score_keys_order_as_scores() {
        let v = [
            f64::NEG_INFINITY,
            -1e300,
            -2.5,
            -1.0,
            -f64::MIN_POSITIVE,
            -0.0,
            0.0,
            f64::MIN_POSITIVE,
            1.0,
            2.5,
            1e300,
            f64::INFINITY,
        ];
        for a in v {
            for b in v {
                assert_eq!(
                    score_key(a).cmp(&score_key(b)),
                    a.partial_cmp(&b).unwrap(),
                    "{a} {b}"
                );
            }
        }
    }

    #[test]
    fn sort_keys_like_redis() {
        let check = |s: &str, want: &[&str]| {
            let mut spans = Vec::new();
            let mut at = 0;
            for a in s.split(' ') {
                spans.push((at, a.len()));
                at += a.len() + 1;
            }
            let args = Args::new(s.as_bytes(), &spans);
            let got: Vec<String> = sort_keys(args)
                .into_iter()
                .map(|k| String::from_utf8_lossy(k).into_owned())
                .collect();
            assert_eq!(got, want, "{s}");
        };
        check("sort abc store def", &["abc", "def"]);
        check(
            "sort abc store invalid store stillbad store def",
            &["abc", "def"],
        );
        check("sort abc by store", &["abc"]);
        check("sort abc limit 0 1 store x get y", &["abc", "x"]);
        check("sort abc store", &["abc"]);
    }

    #[test]
    fn string_keys_order_as_their_comparisons() {
        let mut seed = 11u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut arena = Arena::default();
        for _ in 0..300 {
            let n = (next() % 12) as usize;
            let s: Vec<u8> = (0..n)
                .map(|_| [0u8, 1, b'a', b'b', 0xff][(next() % 5) as usize])
                .collect();
            arena.push(&s);
        }
        let cut = |s: &[u8]| s[..s.iter().position(|&c| c == 0).unwrap_or(s.len())].to_vec();
        for order in [StrOrder::Binary, StrOrder::CBytes] {
            let keys: Vec<StrKey> = (0..arena.len() as u32)
                .map(|i| StrKey::new(&arena, Some(i), i, order))
                .collect();
            for a in &keys {
                for b in &keys {
                    let (x, y) = (arena.get(a.val), arena.get(b.val));
                    let want = match order {
                        StrOrder::Binary => x.cmp(y),
                        _ => cut(x).cmp(&cut(y)),
                    };
                    assert_eq!(a.cmp(b, &arena, order), want, "{x:?} {y:?} {order:?}");
                }
            }
        }
        let missing = StrKey::new(&arena, None, 0, StrOrder::Binary);
        let present = StrKey::new(&arena, Some(0), 0, StrOrder::Binary);
        assert_eq!(
            missing.cmp(&missing, &arena, StrOrder::Binary),
            Ordering::Equal
        );
        assert_eq!(
            missing.cmp(&present, &arena, StrOrder::Binary),
            Ordering::Less
        );
    }
}
