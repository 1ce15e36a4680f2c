//! Bitmaps (Redis's bitops.c): SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP, BITFIELD and
//! BITFIELD_RO, on string values. Bit 0 is the most significant bit of the first byte, and
//! a bitfield is read and written most significant bit first, as in Redis.

use super::flags::{DENYOOM, READONLY, WRITE};
use super::notify::{self, GENERIC, STRING, lookup_events};
use super::{Command, Ctx, err};
use crate::resp::{Args, Reply, parse_i64};
use crate::store::{Str, Ttl, Value};

#[rustfmt::skip]
pub static COMMANDS: &[Command] = &[
    Command { name: "setbit", arity: 4, flags: WRITE | DENYOOM, keys: (1, 1, 1), group: "bitmap", handler: setbit },
    Command { name: "getbit", arity: 3, flags: READONLY | super::flags::FAST, keys: (1, 1, 1), group: "bitmap", handler: getbit },
    Command { name: "bitcount", arity: -2, flags: READONLY, keys: (1, 1, 1), group: "bitmap", handler: bitcount },
    Command { name: "bitpos", arity: -3, flags: READONLY, keys: (1, 1, 1), group: "bitmap", handler: bitpos },
    Command { name: "bitop", arity: -4, flags: WRITE | DENYOOM, keys: (2, -1, 1), group: "bitmap", handler: bitop },
    Command { name: "bitfield", arity: -2, flags: WRITE | DENYOOM, keys: (1, 1, 1), group: "bitmap", handler: bitfield },
    Command { name: "bitfield_ro", arity: -2, flags: READONLY | super::flags::FAST, keys: (1, 1, 1), group: "bitmap", handler: bitfield_ro },
];

const BAD_OFFSET: &str = "ERR bit offset is not an integer or out of range";
const BAD_BIT: &str = "ERR bit is not an integer or out of range";
const BAD_TYPE: &str = "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.";

/// A bit offset argument (Redis's getBitOffsetFromArgument): non-negative and inside a
/// string of proto-max-bulk-len bytes. With `width` (BITFIELD), `#n` means n fields of that
/// width.
fn bit_offset(ctx: &mut Ctx, arg: &[u8], width: Option<u32>) -> Option<u64> {
    let (digits, hash) = match (arg.first(), width) {
        (Some(b'#'), Some(w)) => (&arg[1..], Some(w)),
        _ => (arg, None),
    };
    let offset = parse_i64(digits).and_then(|v| match hash {
        Some(w) => v.checked_mul(i64::from(w)),
        None => Some(v),
    });
    let limit = ctx.shared.params.settings.proto_max_bulk_len;
    match offset {
        Some(v) if v >= 0 && ((v as u64) >> 3) < limit => Some(v as u64),
        _ => {
            ctx.error(BAD_OFFSET);
            None
        }
    }
}

/// The string at `key` for a bit write, created or zero-padded so that bit `max_bit` exists
/// (Redis's lookupStringForBitCommand). Returns whether it was created or grew, or None
/// after replying WRONGTYPE.
fn string_for_write<'a>(
    ctx: &'a mut Ctx,
    key: &[u8],
    max_bit: u64,
) -> Option<(&'a mut Vec<u8>, bool, bool)> {
    let needed = (max_bit >> 3) as usize + 1;
    let now = ctx.now;
    let exists = match ctx.write(key) {
        (Some(e), out) => {
            if !matches!(e.value, Value::Str(_)) {
                out.error(err::WRONGTYPE);
                return None;
            }
            true
        }
        (None, _) => false,
    };
    if !exists {
        ctx.db().insert_new(
            key,
            Value::Str(Str::from_vec(vec![0; needed])),
            Ttl::Clear,
            now,
        );
    }
    let Some(Value::Str(s)) = ctx.write(key).0.map(|e| &mut e.value) else {
        return None;
    };
    let buf = s.make_raw();
    let grew = buf.len() < needed;
    if grew {
        buf.resize(needed, 0);
    }
    Some((buf, grew || !exists, !exists))
}

fn setbit(ctx: &mut Ctx, args: Args) {
    let key = args.get(1);
    let Some(offset) = bit_offset(ctx, args.get(2), None) else {
        return;
    };
    let on = match parse_i64(args.get(3)) {
        Some(v @ (0 | 1)) => v == 1,
        _ => {
            ctx.error(BAD_BIT);
            return;
        }
    };
    let Some((buf, dirty, created)) = string_for_write(ctx, key, offset) else {
        return;
    };
    let byte = (offset >> 3) as usize;
    let mask = 1u8 << (7 - (offset & 7));
    let was = buf[byte] & mask != 0;
    if dirty || was != on {
        if on {
            buf[byte] |= mask;
        } else {
            buf[byte] &= !mask;
        }
        // A created key was counted and signalled once by its insertion (Redis counts the
        // command's one change).
        if !created {
            ctx.modified(key);
        }
        notify::notify(ctx, STRING, "setbit", key);
    }
    ctx.out.int(i64::from(was));
}

fn getbit(ctx: &mut Ctx, args: Args) {
    let Some(offset) = bit_offset(ctx, args.get(2), None) else {
        return;
    };
    let found = read_string(ctx, args.get(1), |bytes, out| {
        let bit = bytes
            .get((offset >> 3) as usize)
            .is_some_and(|b| b & (1 << (7 - (offset & 7))) != 0);
        out.int(i64::from(bit));
    });
    if found == Lookup::Missing {
        ctx.out.int(0);
    }
}

/// Parses the `start end [BYTE|BIT]` range of BITCOUNT and BITPOS over a string of `len`
/// bytes (Redis's clamping): the first and last byte, and the masks of the bits of those
/// bytes that lie outside a BIT range. None after replying an error.
struct Range {
    start: i64,
    end: i64,
    first_mask: u8,
    last_mask: u8,
}

fn clamp_range(len: usize, mut start: i64, mut end: i64, bits: bool) -> Range {
    let mut total = len as i64;
    if bits {
        total <<= 3;
    }
    if start < 0 {
        start += total;
    }
    if end < 0 {
        end += total;
    }
    start = start.max(0);
    end = end.max(0);
    if end >= total {
        end = total - 1;
    }
    let (mut first_mask, mut last_mask) = (0, 0);
    if bits && start <= end {
        first_mask = !((1u16 << (8 - (start & 7))) - 1) as u8;
        last_mask = ((1u16 << (7 - (end & 7))) - 1) as u8;
        start >>= 3;
        end >>= 3;
    }
    Range {
        start,
        end,
        first_mask,
        last_mask,
    }
}

/// `BYTE` or `BIT` (None after replying a syntax error).
fn unit_arg(out: &mut Reply, arg: &[u8]) -> Option<bool> {
    if arg.eq_ignore_ascii_case(b"bit") {
        Some(true)
    } else if arg.eq_ignore_ascii_case(b"byte") {
        Some(false)
    } else {
        out.error(err::SYNTAX);
        None
    }
}

/// An integer argument, or None after replying Redis's error.
fn int_arg(out: &mut Reply, arg: &[u8]) -> Option<i64> {
    let v = parse_i64(arg);
    if v.is_none() {
        out.error(err::NOT_INTEGER);
    }
    v
}

/// What [`read_string`] found.
#[derive(PartialEq)]
enum Lookup {
    /// A string: the function ran on it.
    Read,
    /// Another type: WRONGTYPE was replied.
    WrongType,
    /// No key: the caller answers.
    Missing,
}

/// Runs `f` on the bytes of the string at `key`, read in place (BITCOUNT of a 512 MB
/// bitmap copies nothing), with the reply buffer.
fn read_string(ctx: &mut Ctx, key: &[u8], f: impl FnOnce(&[u8], &mut Reply)) -> Lookup {
    let mut tmp = [0u8; 20];
    match ctx.read(key) {
        (Some(e), out) => match &e.value {
            Value::Str(s) => {
                f(s.as_bytes(&mut tmp), out);
                Lookup::Read
            }
            _ => {
                out.error(err::WRONGTYPE);
                Lookup::WrongType
            }
        },
        (None, _) => {
            lookup_events(ctx);
            Lookup::Missing
        }
    }
}

fn bitcount(ctx: &mut Ctx, args: Args) {
    if read_string(ctx, args.get(1), |bytes, out| bitcount_of(bytes, args, out)) == Lookup::Missing
    {
        ctx.out.int(0);
    }
}

/// BITCOUNT's reply for an existing string (its range arguments are read only then, as
/// in Redis).
fn bitcount_of(bytes: &[u8], args: Args, out: &mut Reply) {
    let range = match args.len() {
        2 => Range {
            start: 0,
            end: bytes.len() as i64 - 1,
            first_mask: 0,
            last_mask: 0,
        },
        4 | 5 => {
            let Some(start) = int_arg(out, args.get(2)) else {
                return;
            };
            let Some(end) = int_arg(out, args.get(3)) else {
                return;
            };
            if start < 0 && end < 0 && start > end {
                out.int(0);
                return;
            }
            let bits = if args.len() == 5 {
                match unit_arg(out, args.get(4)) {
                    Some(b) => b,
                    None => return,
                }
            } else {
                false
            };
            clamp_range(bytes.len(), start, end, bits)
        }
        _ => {
            out.error(err::SYNTAX);
            return;
        }
    };
    if range.start > range.end {
        out.int(0);
        return;
    }
    let (s, e) = (range.start as usize, range.end as usize);
    let mut count = popcount(&bytes[s..=e]) as i64;
    if range.first_mask != 0 {
        count -= i64::from((bytes[s] & range.first_mask).count_ones());
    }
    if range.last_mask != 0 {
        count -= i64::from((bytes[e] & range.last_mask).count_ones());
    }
    out.int(count);
}

/// The number of set bits in `bytes`. With the CPU's POPCNT instruction when it has one
/// (checked once at run time: Debian's redis-server is built for the baseline x86-64 and
/// counts with table lookups and bit tricks), eight bytes per instruction.
pub fn popcount(bytes: &[u8]) -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("popcnt") {
            // SAFETY: the CPU supports POPCNT, checked just above.
            return unsafe { popcount_with_popcnt(bytes) };
        }
    }
    popcount_words(bytes)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "popcnt")]
unsafe fn popcount_with_popcnt(bytes: &[u8]) -> u64 {
    popcount_words(bytes)
}

/// Counts eight bytes at a time, in four independent sums so the additions overlap.
#[inline(always)]
fn popcount_words(bytes: &[u8]) -> u64 {
    let word =
        |b: &[u8]| u64::from(u64::from_ne_bytes(b.try_into().expect("8 bytes")).count_ones());
    let mut blocks = bytes.chunks_exact(32);
    let mut sums = [0u64; 4];
    for block in &mut blocks {
        sums[0] += word(&block[0..8]);
        sums[1] += word(&block[8..16]);
        sums[2] += word(&block[16..24]);
        sums[3] += word(&block[24..32]);
    }
    let tail: u64 = blocks
        .remainder()
        .iter()
        .map(|b| u64::from(b.count_ones()))
        .sum();
    sums.iter().sum::<u64>() + tail
}

/// The first bit equal to `bit` in `s` (Redis's redisBitpos): -1 when looking for a 1 that
/// is not there; for a 0 in all ones, the bit just past the end. Runs of bytes that cannot
/// hold it (zeros when looking for a 1, 0xff for a 0) are skipped 32 bytes at a time.
fn first_bit(s: &[u8], bit: bool) -> i64 {
    let skipped_byte = if bit { 0u8 } else { 0xff };
    let skipped_word = u64::from_ne_bytes([skipped_byte; 8]);
    let word = |b: &[u8]| u64::from_ne_bytes(b.try_into().expect("8 bytes"));
    let mut from = 0;
    for block in s.chunks_exact(32) {
        let all_skipped = (word(&block[0..8]) ^ skipped_word)
            | (word(&block[8..16]) ^ skipped_word)
            | (word(&block[16..24]) ^ skipped_word)
            | (word(&block[24..32]) ^ skipped_word)
            == 0;
        if !all_skipped {
            break;
        }
        from += 32;
    }
    for (i, &b) in s.iter().enumerate().skip(from) {
        let v = if bit { b } else { !b };
        if v != 0 {
            return i as i64 * 8 + i64::from(v.leading_zeros());
        }
    }
    if bit { -1 } else { s.len() as i64 * 8 }
}

fn bitpos(ctx: &mut Ctx, args: Args) {
    let bit = match parse_i64(args.get(2)) {
        Some(b @ (0 | 1)) => b == 1,
        Some(_) => {
            ctx.error("ERR The bit argument must be 1 or 0.");
            return;
        }
        None => {
            ctx.error(err::NOT_INTEGER);
            return;
        }
    };
    if read_string(ctx, args.get(1), |bytes, out| {
        bitpos_of(bytes, bit, args, out)
    }) == Lookup::Missing
    {
        ctx.out.int(if bit { -1 } else { 0 });
    }
}

/// BITPOS's reply for an existing string.
fn bitpos_of(bytes: &[u8], bit: bool, args: Args, out: &mut Reply) {
    let mut end_given = false;
    let range = match args.len() {
        3 => Range {
            start: 0,
            end: bytes.len() as i64 - 1,
            first_mask: 0,
            last_mask: 0,
        },
        4..=6 => {
            let Some(start) = int_arg(out, args.get(3)) else {
                return;
            };
            let bits = if args.len() == 6 {
                match unit_arg(out, args.get(5)) {
                    Some(b) => b,
                    None => return,
                }
            } else {
                false
            };
            let end = if args.len() >= 5 {
                end_given = true;
                match int_arg(out, args.get(4)) {
                    Some(e) => e,
                    None => return,
                }
            } else if bits {
                ((bytes.len() as i64) << 3) + 7
            } else {
                bytes.len() as i64 - 1
            };
            clamp_range(bytes.len(), start, end, bits)
        }
        _ => {
            out.error(err::SYNTAX);
            return;
        }
    };
    if range.start > range.end {
        out.int(-1);
        return;
    }
    let Range {
        mut start,
        end,
        first_mask,
        last_mask,
    } = range;
    let mut n = end - start + 1;
    // The masked first and last bytes are searched apart, as Redis does.
    let pos = 'search: {
        if first_mask != 0 {
            let b = bytes[start as usize];
            let mut t = if bit { b & !first_mask } else { b | first_mask };
            if last_mask != 0 && n == 1 {
                t = if bit { t & !last_mask } else { t | last_mask };
            }
            let pos = first_bit(&[t], bit);
            if n == 1 || (pos != -1 && pos != 8) {
                break 'search pos;
            }
            start += 1;
            n -= 1;
        }
        let middle = n - i64::from(last_mask != 0);
        if middle > 0 {
            let s = start as usize;
            let pos = first_bit(&bytes[s..s + middle as usize], bit);
            if n == middle || (pos != -1 && pos != middle * 8) {
                break 'search pos;
            }
            start += middle;
            n -= middle;
        }
        let b = bytes[end as usize];
        let t = if bit { b & !last_mask } else { b | last_mask };
        first_bit(&[t], bit)
    };
    // Looking for a 0 in an explicit range: the bits past its end are not zero padding.
    if end_given && !bit && pos == n * 8 {
        out.int(-1);
        return;
    }
    out.int(if pos == -1 { -1 } else { pos + start * 8 });
}

fn bitop(ctx: &mut Ctx, args: Args) {
    #[derive(PartialEq, Clone, Copy)]
    enum Op {
        And,
        Or,
        Xor,
        Not,
    }
    let name = args.get(1);
    let op = if name.eq_ignore_ascii_case(b"and") {
        Op::And
    } else if name.eq_ignore_ascii_case(b"or") {
        Op::Or
    } else if name.eq_ignore_ascii_case(b"xor") {
        Op::Xor
    } else if name.eq_ignore_ascii_case(b"not") {
        Op::Not
    } else {
        ctx.error(err::SYNTAX);
        return;
    };
    if op == Op::Not && args.len() != 4 {
        ctx.error("ERR BITOP NOT must be called with a single source key.");
        return;
    }
    let dest = args.get(2);
    // Each source is folded into the result as it is read (a missing key or a shorter
    // string counts as zero bytes), so no source is copied.
    let mut result: Vec<u8> = Vec::new();
    for (i, key) in args.iter().skip(3).enumerate() {
        let mut fold = |src: &[u8]| {
            if i == 0 {
                result.extend_from_slice(src);
                if op == Op::Not {
                    result.iter_mut().for_each(|b| *b = !*b);
                }
                return;
            }
            if result.len() < src.len() {
                result.resize(src.len(), 0);
            }
            for (j, r) in result.iter_mut().enumerate() {
                let b = src.get(j).copied().unwrap_or(0);
                match op {
                    Op::And => *r &= b,
                    Op::Or => *r |= b,
                    Op::Xor => *r ^= b,
                    Op::Not => {}
                }
            }
        };
        match read_string(ctx, key, |src, _| fold(src)) {
            Lookup::Read => {}
            Lookup::Missing => fold(&[]),
            Lookup::WrongType => return,
        }
    }
    let max_len = result.len();
    let now = ctx.now;
    if max_len > 0 {
        ctx.db()
            .set(dest, Value::Str(Str::from_vec(result)), Ttl::Clear, now);
        notify::notify(ctx, STRING, "set", dest);
    } else {
        lookup_events(ctx);
        if let Some(e) = ctx.db().remove(dest, now) {
            crate::store::lazyfree::free_server_del(e.value);
            notify::notify(ctx, GENERIC, "del", dest);
        }
    }
    ctx.out.int(max_len as i64);
}

/// What an overflowing BITFIELD write does.
#[derive(Clone, Copy, PartialEq)]
enum Overflow {
    Wrap,
    Sat,
    Fail,
}

/// One BITFIELD operation.
struct FieldOp {
    kind: FieldKind,
    signed: bool,
    bits: u32,
    offset: u64,
    /// SET's value or INCRBY's increment.
    value: i64,
    overflow: Overflow,
}

#[derive(PartialEq)]
enum FieldKind {
    Get,
    Set,
    IncrBy,
}

/// `i1`..`i64` or `u1`..`u63`.
fn field_type(ctx: &mut Ctx, arg: &[u8]) -> Option<(bool, u32)> {
    let signed = match arg.first() {
        Some(b'i') => true,
        Some(b'u') => false,
        _ => {
            ctx.error(BAD_TYPE);
            return None;
        }
    };
    // Redis reads the digits as a C string: a NUL byte ends them.
    let digits = super::c_bytes(&arg[1..], usize::MAX);
    match parse_i64(digits) {
        Some(b) if b >= 1 && b <= if signed { 64 } else { 63 } => Some((signed, b as u32)),
        _ => {
            ctx.error(BAD_TYPE);
            None
        }
    }
}

fn read_field(buf: &[u8], offset: u64, bits: u32) -> u64 {
    let mut v = 0u64;
    for i in 0..u64::from(bits) {
        let o = offset + i;
        let b = buf.get((o >> 3) as usize).copied().unwrap_or(0);
        v = (v << 1) | u64::from((b >> (7 - (o & 7))) & 1);
    }
    v
}

fn write_field(buf: &mut [u8], offset: u64, bits: u32, value: u64) {
    for i in 0..u64::from(bits) {
        let o = offset + i;
        let bit = (value >> (u64::from(bits) - 1 - i)) & 1;
        let byte = &mut buf[(o >> 3) as usize];
        let mask = 1u8 << (7 - (o & 7));
        if bit == 1 {
            *byte |= mask;
        } else {
            *byte &= !mask;
        }
    }
}

fn sign_extend(v: u64, bits: u32) -> i64 {
    if bits < 64 && v & (1 << (bits - 1)) != 0 {
        (v | (u64::MAX << bits)) as i64
    } else {
        v as i64
    }
}

/// `value + incr` in an unsigned field of `bits` bits (Redis's
/// checkUnsignedBitfieldOverflow): None when it fits; otherwise the wrapped or saturated
/// result (unused for FAIL).
fn unsigned_overflow(value: u64, incr: i64, bits: u32, overflow: Overflow) -> Option<u64> {
    let max = if bits == 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    };
    let max_incr = max.wrapping_sub(value) as i64;
    let min_incr = (value as i64).wrapping_neg();
    let wrapped = || value.wrapping_add(incr as u64) & max;
    if value > max || (incr > 0 && incr > max_incr) {
        Some(if overflow == Overflow::Sat {
            max
        } else {
            wrapped()
        })
    } else if incr < 0 && incr < min_incr {
        Some(if overflow == Overflow::Sat {
            0
        } else {
            wrapped()
        })
    } else {
        None
    }
}

/// The signed counterpart of [`unsigned_overflow`].
fn signed_overflow(value: i64, incr: i64, bits: u32, overflow: Overflow) -> Option<i64> {
    let max = if bits == 64 {
        i64::MAX
    } else {
        (1i64 << (bits - 1)) - 1
    };
    let min = -max - 1;
    let max_incr = (max as u64).wrapping_sub(value as u64) as i64;
    let min_incr = min.wrapping_sub(value);
    let wrapped = || {
        let c = (value as u64).wrapping_add(incr as u64);
        sign_extend(
            if bits < 64 {
                c & ((1u64 << bits) - 1)
            } else {
                c
            },
            bits,
        )
    };
    if value > max || (bits != 64 && incr > max_incr) || (value >= 0 && incr > 0 && incr > max_incr)
    {
        Some(if overflow == Overflow::Sat {
            max
        } else {
            wrapped()
        })
    } else if value < min
        || (bits != 64 && incr < min_incr)
        || (value < 0 && incr < 0 && incr < min_incr)
    {
        Some(if overflow == Overflow::Sat {
            min
        } else {
            wrapped()
        })
    } else {
        None
    }
}

fn bitfield(ctx: &mut Ctx, args: Args) {
    bitfield_generic(ctx, args, false);
}

fn bitfield_ro(ctx: &mut Ctx, args: Args) {
    bitfield_generic(ctx, args, true);
}

fn bitfield_generic(ctx: &mut Ctx, args: Args, read_only_cmd: bool) {
    let key = args.get(1);
    let mut ops = Vec::new();
    let mut overflow = Overflow::Wrap;
    let mut highest_write: Option<u64> = None;
    let mut j = 2;
    while j < args.len() {
        let remaining = args.len() - j - 1;
        let sub = args.get(j);
        let kind = if sub.eq_ignore_ascii_case(b"get") && remaining >= 2 {
            FieldKind::Get
        } else if sub.eq_ignore_ascii_case(b"set") && remaining >= 3 {
            FieldKind::Set
        } else if sub.eq_ignore_ascii_case(b"incrby") && remaining >= 3 {
            FieldKind::IncrBy
        } else if sub.eq_ignore_ascii_case(b"overflow") && remaining >= 1 {
            let name = args.get(j + 1);
            overflow = if name.eq_ignore_ascii_case(b"wrap") {
                Overflow::Wrap
            } else if name.eq_ignore_ascii_case(b"sat") {
                Overflow::Sat
            } else if name.eq_ignore_ascii_case(b"fail") {
                Overflow::Fail
            } else {
                ctx.error("ERR Invalid OVERFLOW type specified");
                return;
            };
            j += 2;
            continue;
        } else {
            ctx.error(err::SYNTAX);
            return;
        };
        let Some((signed, bits)) = field_type(ctx, args.get(j + 1)) else {
            return;
        };
        let Some(offset) = bit_offset(ctx, args.get(j + 2), Some(bits)) else {
            return;
        };
        let mut value = 0;
        if kind != FieldKind::Get {
            let last = offset + u64::from(bits) - 1;
            highest_write = Some(highest_write.map_or(last, |h| h.max(last)));
            match ctx.int_arg(args.get(j + 3)) {
                Some(v) => value = v,
                None => return,
            }
        }
        j += if kind == FieldKind::Get { 3 } else { 4 };
        ops.push(FieldOp {
            kind,
            signed,
            bits,
            offset,
            value,
            overflow,
        });
    }
    let Some(max_bit) = highest_write else {
        // Only GETs: a missing key reads as zeros.
        let reply_fields = |bytes: &[u8], out: &mut Reply| {
            out.array(ops.len());
            for op in &ops {
                let v = read_field(bytes, op.offset, op.bits);
                out.int(if op.signed {
                    sign_extend(v, op.bits)
                } else {
                    v as i64
                });
            }
        };
        if read_string(ctx, key, reply_fields) == Lookup::Missing {
            reply_fields(&[], ctx.out);
        }
        return;
    };
    if read_only_cmd {
        ctx.error("ERR BITFIELD_RO only supports the GET subcommand");
        return;
    }
    let mut replies: Vec<Option<i64>> = Vec::with_capacity(ops.len());
    let mut changes = 0;
    let created;
    {
        let Some((buf, dirty, was_created)) = string_for_write(ctx, key, max_bit) else {
            return;
        };
        created = was_created;
        for op in &ops {
            let old = read_field(buf, op.offset, op.bits);
            if op.kind == FieldKind::Get {
                replies.push(Some(if op.signed {
                    sign_extend(old, op.bits)
                } else {
                    old as i64
                }));
                continue;
            }
            let (new, reply, overflowed) = if op.signed {
                let old = sign_extend(old, op.bits);
                let (candidate, incr) = match op.kind {
                    FieldKind::IncrBy => (old, op.value),
                    _ => (op.value, 0),
                };
                let over = signed_overflow(candidate, incr, op.bits, op.overflow);
                let new = over.unwrap_or(candidate.wrapping_add(incr));
                let reply = if op.kind == FieldKind::IncrBy {
                    new
                } else {
                    old
                };
                (new as u64, reply, over.is_some())
            } else {
                let (candidate, incr) = match op.kind {
                    FieldKind::IncrBy => (old, op.value),
                    _ => (op.value as u64, 0),
                };
                let over = unsigned_overflow(candidate, incr, op.bits, op.overflow);
                let new = over.unwrap_or(candidate.wrapping_add(incr as u64));
                let reply = if op.kind == FieldKind::IncrBy {
                    new
                } else {
                    old
                };
                (new, reply as i64, over.is_some())
            };
            if overflowed && op.overflow == Overflow::Fail {
                replies.push(None);
                continue;
            }
            replies.push(Some(reply));
            let mask = if op.bits == 64 {
                u64::MAX
            } else {
                (1u64 << op.bits) - 1
            };
            let new = new & mask;
            write_field(buf, op.offset, op.bits, new);
            if dirty || new != old {
                changes += 1;
            }
        }
    }
    if changes > 0 {
        // Redis adds one change per field written (dirty += changes); a created key's
        // insertion already counted (and signalled) one.
        if created {
            ctx.db().count_changes(changes - 1);
        } else {
            ctx.modified(key);
            ctx.db().count_changes(changes - 1);
        }
        notify::notify(ctx, STRING, "setbit", key);
    }
    ctx.out.array(replies.len());
    for r in replies {
        match r {
            Some(v) => ctx.out.int(v),
            None => ctx.out.null(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_round_trip_msb_first() {
        let mut buf = vec![0u8; 4];
        write_field(&mut buf, 3, 5, 0b10110);
        assert_eq!(buf[0], 0b0001_0110);
        assert_eq!(read_field(&buf, 3, 5), 0b10110);
        write_field(&mut buf, 6, 10, 0x3ff);
        assert_eq!(read_field(&buf, 6, 10), 0x3ff);
        assert_eq!(sign_extend(0b11111, 5), -1);
        assert_eq!(sign_extend(0b01111, 5), 15);
    }

    #[test]
    fn overflow_rules_as_redis() {
        assert_eq!(unsigned_overflow(250, 10, 8, Overflow::Wrap), Some(4));
        assert_eq!(unsigned_overflow(250, 10, 8, Overflow::Sat), Some(255));
        assert_eq!(unsigned_overflow(5, -10, 8, Overflow::Sat), Some(0));
        assert_eq!(unsigned_overflow(5, -10, 8, Overflow::Wrap), Some(251));
        assert_eq!(unsigned_overflow(5, 10, 8, Overflow::Wrap), None);
        assert_eq!(signed_overflow(120, 10, 8, Overflow::Wrap), Some(-126));
        assert_eq!(signed_overflow(120, 10, 8, Overflow::Sat), Some(127));
        assert_eq!(signed_overflow(-120, -10, 8, Overflow::Sat), Some(-128));
        assert_eq!(
            signed_overflow(i64::MAX, 1, 64, Overflow::Wrap),
            Some(i64::MIN)
        );
        assert_eq!(signed_overflow(1, 1, 64, Overflow::Wrap), None);
    }

    #[test]
    fn word_wise_scans_match_byte_by_byte() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for len in 0..200usize {
            for fill in [0u8, 0xff, 0x5a] {
                let mut bytes = vec![fill; len];
                // One odd byte somewhere (or none when len is 0).
                if len > 0 {
                    let at = (crate::store::next_random(&mut state) as usize) % len;
                    bytes[at] = crate::store::next_random(&mut state) as u8;
                }
                let naive_count: u64 = bytes.iter().map(|b| u64::from(b.count_ones())).sum();
                assert_eq!(popcount(&bytes), naive_count, "{bytes:?}");
                for bit in [false, true] {
                    let naive = bytes
                        .iter()
                        .enumerate()
                        .find_map(|(i, &b)| {
                            let v = if bit { b } else { !b };
                            (v != 0).then(|| i as i64 * 8 + i64::from(v.leading_zeros()))
                        })
                        .unwrap_or(if bit { -1 } else { len as i64 * 8 });
                    assert_eq!(first_bit(&bytes, bit), naive, "{bit} in {bytes:?}");
                }
            }
        }
    }

    #[test]
    fn first_bit_positions() {
        assert_eq!(first_bit(&[0, 0x10], true), 11);
        assert_eq!(first_bit(&[0, 0], true), -1);
        assert_eq!(first_bit(&[0xff, 0xfe], false), 15);
        assert_eq!(first_bit(&[0xff], false), 8);
    }
}
