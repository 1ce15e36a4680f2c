//! LCS (Redis 7.0's `lcsCommand`, in its t_string.c): the longest common subsequence of
//! two strings, as the string itself, its length (LEN), or the matching ranges (IDX, with
//! MINMATCHLEN and WITHMATCHLEN).
//!
//! Redis fills the whole dynamic-programming table, `(len1 + 1) * (len2 + 1)` 32-bit
//! cells, then walks it back from the end; which of several equally long subsequences it
//! returns, and how the ranges are cut, follow from that walk, so both are reproduced as
//! they are. The table's size is bounded as in Redis: past `proto-max-bulk-len` bytes the
//! command is refused, and an allocation that fails is an error, not an abort.

use super::flags::READONLY;
use super::notify::lookup_events;
use super::{Command, Ctx, err};
use crate::resp::Args;
use crate::store::Value;

/// The family's command table.
#[rustfmt::skip]
pub const COMMANDS: &[Command] = &[
    Command { name: "lcs", arity: -3, flags: READONLY, keys: (1, 2, 1), group: "string", handler: lcs },
];

/// One of the two strings: its bytes, or None for another type.
fn string_at(ctx: &mut Ctx, key: &[u8]) -> Option<Vec<u8>> {
    match ctx.read(key).0 {
        None => Some(Vec::new()),
        Some(e) => match &e.value {
            Value::Str(s) => Some(s.as_bytes(&mut [0; 20]).to_vec()),
            _ => None,
        },
    }
}

fn lcs(ctx: &mut Ctx, args: Args) {
    // Both keys are looked up before the options are read, as in Redis.
    let a = string_at(ctx, args.get(1));
    let b = string_at(ctx, args.get(2));
    lookup_events(ctx);
    let (Some(a), Some(b)) = (a, b) else {
        ctx.error("ERR The specified keys must contain string values");
        return;
    };
    let (mut getlen, mut getidx, mut withmatchlen) = (false, false, false);
    let mut minmatchlen: i64 = 0;
    let mut j = 3;
    while j < args.len() {
        let opt = args.get(j);
        let more = args.len() - 1 - j;
        if opt.eq_ignore_ascii_case(b"idx") {
            getidx = true;
        } else if opt.eq_ignore_ascii_case(b"len") {
            getlen = true;
        } else if opt.eq_ignore_ascii_case(b"withmatchlen") {
            withmatchlen = true;
        } else if opt.eq_ignore_ascii_case(b"minmatchlen") && more > 0 {
            let Some(v) = ctx.int_arg(args.get(j + 1)) else {
                return;
            };
            minmatchlen = v.max(0);
            j += 1;
        } else {
            ctx.error(err::SYNTAX);
            return;
        }
        j += 1;
    }
    if getlen && getidx {
        ctx.error("ERR If you want both the length and indexes, please just use IDX.");
        return;
    }
    if a.len() as u64 >= u64::from(u32::MAX - 1) || b.len() as u64 >= u64::from(u32::MAX - 1) {
        ctx.error("ERR String too long for LCS");
        return;
    }
    let (alen, blen) = (a.len(), b.len());
    let cells = (alen as u64 + 1) * (blen as u64 + 1);
    let bytes = cells.checked_mul(4);
    let max = ctx.shared.params.settings.proto_max_bulk_len;
    if bytes.is_some_and(|n| n > max) {
        ctx.error("ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len");
        return;
    }
    let mut table: Vec<u32> = Vec::new();
    let allocated = bytes.is_some()
        && usize::try_from(cells).is_ok_and(|cells| table.try_reserve_exact(cells).is_ok());
    if !allocated {
        ctx.error("ERR Insufficient memory, failed allocating transient memory for LCS");
        return;
    }
    fill(&mut table, &a, &b);
    let width = blen + 1;
    let at = |i: usize, j: usize| table[j + i * width];
    let total = at(alen, blen);

    if getlen && !getidx {
        ctx.out.int(i64::from(total));
        return;
    }

    // Walk back from the end, building the subsequence backwards and cutting ranges of
    // consecutive matches.
    let mut result = vec![0u8; total as usize];
    let mut idx = total as usize;
    let mut ranges: Vec<[u32; 5]> = Vec::new();
    let unset = alen as u32;
    let (mut a_start, mut a_end, mut b_start, mut b_end) = (unset, 0u32, 0u32, 0u32);
    let (mut i, mut j) = (alen, blen);
    while i > 0 && j > 0 {
        let mut emit = false;
        if a[i - 1] == b[j - 1] {
            result[idx - 1] = a[i - 1];
            if a_start == unset {
                a_start = (i - 1) as u32;
                a_end = (i - 1) as u32;
                b_start = (j - 1) as u32;
                b_end = (j - 1) as u32;
            } else if a_start == i as u32 && b_start == j as u32 {
                // Contiguous with the range so far: extend it backwards.
                a_start -= 1;
                b_start -= 1;
            } else {
                emit = true;
            }
            // Matched the first byte of either string: the walk ends here.
            if a_start == 0 || b_start == 0 {
                emit = true;
            }
            idx -= 1;
            i -= 1;
            j -= 1;
        } else {
            if at(i - 1, j) > at(i, j - 1) {
                i -= 1;
            } else {
                j -= 1;
            }
            if a_start != unset {
                emit = true;
            }
        }
        let match_len = a_end.wrapping_sub(a_start).wrapping_add(1);
        if emit {
            if getidx && (minmatchlen == 0 || i64::from(match_len) >= minmatchlen) {
                ranges.push([a_start, a_end, b_start, b_end, match_len]);
            }
            a_start = unset;
        }
    }

    if !getidx {
        ctx.out.bulk(&result);
        return;
    }
    let out = &mut *ctx.out;
    out.map(2);
    out.bulk(b"matches");
    out.array(ranges.len());
    for r in &ranges {
        out.array(2 + usize::from(withmatchlen));
        out.array(2);
        out.int(i64::from(r[0]));
        out.int(i64::from(r[1]));
        out.array(2);
        out.int(i64::from(r[2]));
        out.int(i64::from(r[3]));
        if withmatchlen {
            out.int(i64::from(r[4]));
        }
    }
    out.bulk(b"len");
    out.int(i64::from(total));
}

/// Fills the table: cell `(i, j)` (row `i`, `len(b) + 1` cells a row) is the length of
/// the LCS of `a[..i]` and `b[..j]`.
fn fill(table: &mut Vec<u32>, a: &[u8], b: &[u8]) {
    let width = b.len() + 1;
    table.resize(width, 0);
    for &ca in a {
        let row = table.len() - width;
        table.push(0);
        for (jj, &cb) in b.iter().enumerate() {
            let up_left = table[row + jj];
            let up = table[row + jj + 1];
            let left = table[table.len() - 1];
            let v = if ca == cb { up_left + 1 } else { up.max(left) };
            table.push(v);
        }
    }
}
