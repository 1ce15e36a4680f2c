//! The small form of a sorted set: one packed buffer of sorted entries, like Redis's
//! listpack (see the [module docs](super) for when a set is small and when it turns big).
//!
//! Lookups are linear scans, as in Redis: up to `SMALL_MAX` members (or the listpack
//! limits) they cost less than hashing, and the set takes one allocation and a few bytes
//! a member instead of a slot, a dict entry and a tree key each.

use super::{less, stored};
use crate::store::thin::ThinBuf;

/// A small sorted set, packed like Redis's listpack: entries back to back in one
/// [`ThinBuf`], sorted by (score, member), each `(member length << 2 | score form)
/// (LEB128) | score | member bytes`. The score takes 2 bytes when it is an integer in
/// i16's range, 4 when an f32 holds it exactly (`1.5`, `100.25`), else 8; a listpack
/// likewise stores integral scores as small integers.
#[derive(Debug, Clone, Default)]
pub(super) struct Packed {
    pub(super) buf: ThinBuf,
    pub(super) len: u32,
    /// Redis would still use a listpack (see the [module docs](super)).
    pub(super) compact: bool,
}

/// One entry of a [`Packed`] set: where it starts and ends in the buffer, and its data.
#[derive(Debug, Clone, Copy)]
pub(super) struct PackedEntry<'a> {
    pub(super) start: usize,
    pub(super) end: usize,
    pub(super) score: f64,
    pub(super) member: &'a [u8],
}

/// The score forms of a packed entry.
const SCORE_F64: usize = 0;
const SCORE_F32: usize = 1;
const SCORE_I16: usize = 2;

/// The smallest form that holds `score` exactly, and its size.
#[inline]
fn score_form(score: f64) -> (usize, usize) {
    let i = score as i16;
    if f64::from(i) == score && !(score == 0.0 && score.is_sign_negative()) {
        (SCORE_I16, 2)
    } else if f64::from(score as f32).to_bits() == score.to_bits() {
        (SCORE_F32, 4)
    } else {
        (SCORE_F64, 8)
    }
}

/// The entry header: `(member length << 2 | score form)` in LEB128, and its length.
#[inline]
fn header(form: usize, member_len: usize) -> ([u8; 10], usize) {
    let mut head = [0u8; 10];
    let (mut n, mut left) = (0, (member_len << 2) | form);
    loop {
        let b = (left & 0x7f) as u8;
        left >>= 7;
        head[n] = if left > 0 { b | 0x80 } else { b };
        n += 1;
        if left == 0 {
            return (head, n);
        }
    }
}

/// Bytes the entry `(score, member)` takes.
#[inline]
fn entry_size(score: f64, member: &[u8]) -> usize {
    let (form, score_size) = score_form(score);
    header(form, member.len()).1 + score_size + member.len()
}

/// Writes the entry `(score, member)` into `out`, which is [`entry_size`] bytes long.
#[inline]
fn write_entry(out: &mut [u8], score: f64, member: &[u8]) {
    let (form, score_size) = score_form(score);
    let (head, n) = header(form, member.len());
    out[..n].copy_from_slice(&head[..n]);
    match form {
        SCORE_I16 => out[n..n + 2].copy_from_slice(&(score as i16).to_le_bytes()),
        SCORE_F32 => out[n..n + 4].copy_from_slice(&(score as f32).to_le_bytes()),
        _ => out[n..n + 8].copy_from_slice(&score.to_le_bytes()),
    }
    out[n + score_size..].copy_from_slice(member);
}

impl Packed {
    fn bytes(&self) -> &[u8] {
        self.buf.as_slice()
    }

    /// The entry starting at byte `at` (a valid entry start).
    #[inline]
    pub(super) fn entry_at(&self, at: usize) -> PackedEntry<'_> {
        let b = self.bytes();
        let (mut head, mut shift, mut i) = (0usize, 0, at);
        loop {
            let c = b[i];
            head |= usize::from(c & 0x7f) << shift;
            i += 1;
            if c & 0x80 == 0 {
                break;
            }
            shift += 7;
        }
        let (score, size) = match head & 3 {
            SCORE_I16 => (f64::from(i16::from_le_bytes([b[i], b[i + 1]])), 2),
            SCORE_F32 => {
                let mut f = [0u8; 4];
                f.copy_from_slice(&b[i..i + 4]);
                (f64::from(f32::from_le_bytes(f)), 4)
            }
            _ => {
                let mut f = [0u8; 8];
                f.copy_from_slice(&b[i..i + 8]);
                (f64::from_le_bytes(f), 8)
            }
        };
        let m = i + size;
        let len = head >> 2;
        PackedEntry {
            start: at,
            end: m + len,
            score,
            member: &b[m..m + len],
        }
    }

    /// The entries in order.
    #[inline]
    pub(super) fn entries(&self) -> impl Iterator<Item = PackedEntry<'_>> {
        let mut at = 0;
        std::iter::from_fn(move || {
            (at < self.buf.len()).then(|| {
                let e = self.entry_at(at);
                at = e.end;
                e
            })
        })
    }

    /// The rank and entry of `member`.
    #[inline]
    pub(super) fn find(&self, member: &[u8]) -> Option<(usize, PackedEntry<'_>)> {
        self.entries().enumerate().find(|(_, e)| e.member == member)
    }

    /// Byte offset of the entry of rank `rank` (the buffer's end for `rank == len`).
    pub(super) fn offset_of(&self, rank: usize) -> usize {
        self.entries().nth(rank).map_or(self.buf.len(), |e| e.start)
    }

    /// Inserts `(score, member)` (absent) in order.
    pub(super) fn insert(&mut self, score: f64, member: &[u8]) {
        let at = self
            .entries()
            .find(|e| !less(e.score, e.member, score, member))
            .map_or(self.buf.len(), |e| e.start);
        let gap = self.buf.splice_gap(at, 0, entry_size(score, member));
        write_entry(gap, score, member);
        self.len += 1;
    }

    /// A set of `items`, which are distinct and in order.
    pub(super) fn from_sorted(items: &[(&[u8], f64)], compact: bool) -> Packed {
        let size = items
            .iter()
            .map(|&(m, s)| entry_size(stored(compact, s), m))
            .sum();
        let mut bytes = vec![0u8; size];
        let mut at = 0;
        for &(m, s) in items {
            let s = stored(compact, s);
            let end = at + entry_size(s, m);
            write_entry(&mut bytes[at..end], s, m);
            at = end;
        }
        Packed {
            buf: ThinBuf::from_slice(&bytes),
            len: items.len() as u32,
            compact,
        }
    }

    /// Removes the entries of bytes `start..end` (`count` of them).
    pub(super) fn remove_bytes(&mut self, start: usize, end: usize, count: usize) {
        self.buf.splice_gap(start, end - start, 0);
        self.len -= count as u32;
    }
}
