//! The entry format of a list node: a listpack-like encoding readable in both directions.
//!
//! Most elements are `[header + payload][backlen]`, where the backlen gives the size of the
//! header and payload so that a node can be walked from its end (RPOP, LRANGE with negative
//! indexes). Canonical integers (Redis's `string2ll` form, which is how Redis's listpack
//! decides too) are stored as integers and formatted back on the way out, byte for byte the
//! same text. The header byte:
//!
//! | header | entry |
//! |---|---|
//! | `0xxxxxxx` | an integer 0..=127, the whole entry |
//! | `110xxxxx 110xxxxx` | an integer 128..=1151 (ten bits, five in each byte), the whole entry |
//! | `10llllll` | a string of up to 63 bytes |
//! | `1110vvvv v` | a 12-bit signed integer |
//! | `F0 l l l l` | a longer string (32-bit length) |
//! | `F1`..`F4` | a 16, 24, 32 or 64-bit signed integer, little-endian |
//!
//! The two forms without a backlen are told apart from the end by their last byte (top
//! bit clear, or `110` on top). Any other entry ends with a backlen holding the size S of
//! its header and payload: `10SSSSSS` when S < 64, else a last byte `111SSSSS` (five low
//! bits) preceded by bytes `mSSSSSSS` with the next seven bits each (`m` set on all but
//! the first). Strings under 64 bytes thus cost two bytes of framing, as in a listpack;
//! integers up to 127 one byte and up to 1151 two (a listpack needs two and three).

use crate::resp::{format_i64, parse_i64};

use super::SmallBytes;

/// One element as stored: an integer (formatted on the way out) or bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Elem<'a> {
    /// A canonical integer.
    Int(i64),
    /// Any other string.
    Bytes(&'a [u8]),
}

impl<'a> Elem<'a> {
    /// The form `bytes` is stored in.
    #[inline]
    pub fn of(bytes: &'a [u8]) -> Elem<'a> {
        if bytes.len() <= 20
            && let Some(v) = parse_i64(bytes)
        {
            return Elem::Int(v);
        }
        Elem::Bytes(bytes)
    }

    /// Calls `f` with the element's text (integers formatted on the stack).
    #[inline]
    pub fn with_bytes<R>(self, f: impl FnOnce(&[u8]) -> R) -> R {
        match self {
            Elem::Int(v) => f(format_i64(v, &mut [0; 20])),
            Elem::Bytes(b) => f(b),
        }
    }

    /// The element's text, owned (inline up to 22 bytes).
    #[inline]
    pub fn to_small(self) -> SmallBytes {
        self.with_bytes(SmallBytes::new)
    }

    /// The element's text, copied.
    pub fn to_vec(self) -> Vec<u8> {
        self.with_bytes(<[u8]>::to_vec)
    }

    /// True when the element's text is `needle`'s.
    #[inline]
    pub fn matches(self, needle: &Needle) -> bool {
        match self {
            // Integers are stored only in canonical form, so an integer entry equals a
            // needle exactly when the needle parses to the same value.
            Elem::Int(v) => needle.int == Some(v),
            Elem::Bytes(b) => b == needle.bytes,
        }
    }
}

/// A value searched for (LREM, LPOS, LINSERT's pivot), parsed once.
#[derive(Debug, Clone, Copy)]
pub struct Needle<'a> {
    bytes: &'a [u8],
    int: Option<i64>,
}

impl<'a> Needle<'a> {
    /// Prepares `bytes` for comparisons.
    pub fn new(bytes: &'a [u8]) -> Needle<'a> {
        let int = match Elem::of(bytes) {
            Elem::Int(v) => Some(v),
            Elem::Bytes(_) => None,
        };
        Needle { bytes, int }
    }
}

/// Bytes of the backlen for a header + payload of `s` bytes.
#[inline]
fn backlen_size(s: usize) -> usize {
    match s {
        0..64 => 1,
        64..4096 => 2,
        4096..524_288 => 3,
        524_288..67_108_864 => 4,
        _ => 5,
    }
}

/// The integers stored in two bytes that are recognisable from either end (no backlen).
const MIRRORED: std::ops::RangeInclusive<i64> = 128..=1151;

/// Header + payload size of `e` (for integers in 0..=1151, the whole entry).
#[inline]
fn body_size(e: Elem) -> usize {
    match e {
        Elem::Int(v) => match v {
            0..=127 => 1,
            128..=1151 => 2,
            -2048..=2047 => 2,
            -32768..=32767 => 3,
            -8_388_608..=8_388_607 => 4,
            -2_147_483_648..=2_147_483_647 => 5,
            _ => 9,
        },
        Elem::Bytes(b) => b.len() + if b.len() < 64 { 1 } else { 5 },
    }
}

/// Bytes [`encode`] writes for `e`.
#[inline]
pub fn encoded_len(e: Elem) -> usize {
    if let Elem::Int(0..=1151) = e {
        return body_size(e);
    }
    let s = body_size(e);
    s + backlen_size(s)
}

/// Writes `e` into `out`, which is exactly [`encoded_len`] bytes.
#[inline]
pub fn encode(e: Elem, out: &mut [u8]) {
    let s = match e {
        Elem::Int(v @ 0..=127) => {
            out[0] = v as u8;
            return;
        }
        Elem::Int(v) if MIRRORED.contains(&v) => {
            let u = (v - 128) as u16;
            out[0] = 0xC0 | (u >> 5) as u8;
            out[1] = 0xC0 | (u & 31) as u8;
            return;
        }
        Elem::Int(v) => {
            let le = v.to_le_bytes();
            match body_size(e) {
                2 => {
                    let u = (v as u16) & 0x0FFF;
                    out[0] = 0xE0 | (u >> 8) as u8;
                    out[1] = u as u8;
                }
                n => {
                    out[0] = match n {
                        3 => 0xF1,
                        4 => 0xF2,
                        5 => 0xF3,
                        _ => 0xF4,
                    };
                    out[1..n].copy_from_slice(&le[..n - 1]);
                }
            }
            body_size(e)
        }
        Elem::Bytes(b) => {
            let h = if b.len() < 64 {
                out[0] = 0x80 | b.len() as u8;
                1
            } else {
                out[0] = 0xF0;
                out[1..5].copy_from_slice(&(b.len() as u32).to_le_bytes());
                5
            };
            out[h..h + b.len()].copy_from_slice(b);
            h + b.len()
        }
    };
    let n = backlen_size(s);
    let bl = &mut out[s..s + n];
    if n == 1 {
        bl[0] = 0x80 | s as u8;
        return;
    }
    bl[n - 1] = 0xE0 | (s & 31) as u8;
    let mut rest = s >> 5;
    for k in (0..n - 1).rev() {
        bl[k] = (rest & 127) as u8 | if k > 0 { 0x80 } else { 0 };
        rest >>= 7;
    }
}

/// The entry starting at `at`: the element and the entry's whole size.
#[inline]
pub fn decode(buf: &[u8], at: usize) -> (Elem<'_>, usize) {
    let h = buf[at];
    let (e, s) = match h {
        0..=0x7F => return (Elem::Int(i64::from(h)), 1),
        0x80..=0xBF => {
            let n = usize::from(h & 63);
            (Elem::Bytes(&buf[at + 1..at + 1 + n]), 1 + n)
        }
        0xC0..=0xDF => {
            let u = (i64::from(h & 31) << 5) | i64::from(buf[at + 1] & 31);
            return (Elem::Int(u + 128), 2);
        }
        0xE0..=0xEF => {
            let u = (u16::from(h & 0x0F) << 8) | u16::from(buf[at + 1]);
            // Sign-extend 12 bits.
            (Elem::Int(i64::from(((u << 4) as i16) >> 4)), 2)
        }
        0xF0 => {
            let mut l = [0u8; 4];
            l.copy_from_slice(&buf[at + 1..at + 5]);
            let n = u32::from_le_bytes(l) as usize;
            (Elem::Bytes(&buf[at + 5..at + 5 + n]), 5 + n)
        }
        _ => {
            let n = match h {
                0xF1 => 2,
                0xF2 => 3,
                0xF3 => 4,
                _ => 8,
            };
            let mut le = [0u8; 8];
            le[..n].copy_from_slice(&buf[at + 1..at + 1 + n]);
            // Sign-extend from n bytes.
            let shift = 64 - 8 * n as u32;
            let v = (i64::from_le_bytes(le) << shift) >> shift;
            (Elem::Int(v), 1 + n)
        }
    };
    (e, s + backlen_size(s))
}

/// Start of the entry that ends at `end` (exclusive).
#[inline]
pub fn prev_start(buf: &[u8], end: usize) -> usize {
    let last = buf[end - 1];
    match last {
        0..=0x7F => end - 1,
        0x80..=0xBF => end - 1 - usize::from(last & 63),
        0xC0..=0xDF => end - 2,
        _ => {
            let mut s = usize::from(last & 31);
            let mut i = end - 1;
            let mut shift = 5;
            loop {
                i -= 1;
                let c = buf[i];
                s |= usize::from(c & 127) << shift;
                shift += 7;
                if c & 0x80 == 0 {
                    break;
                }
            }
            i - s
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(e: Elem) {
        let n = encoded_len(e);
        // Pad both sides so offsets are exercised.
        let mut buf = vec![0xAAu8; n + 6];
        encode(e, &mut buf[3..3 + n]);
        let (d, size) = decode(&buf, 3);
        assert_eq!((d, size), (e, n), "{e:?}");
        assert_eq!(prev_start(&buf, 3 + n), 3, "{e:?}");
    }

    #[test]
    fn every_form_round_trips() {
        let ints = [
            0,
            1,
            127,
            128,
            1151,
            1152,
            2047,
            2048,
            -2048,
            -2049,
            -1,
            -4096,
            4095,
            4096,
            -4097,
            32767,
            -32768,
            32768,
            8_388_607,
            -8_388_608,
            8_388_608,
            i32::MAX as i64,
            i32::MIN as i64,
            i32::MAX as i64 + 1,
            i64::MAX,
            i64::MIN,
        ];
        for v in ints {
            round_trip(Elem::Int(v));
        }
        for len in [
            0,
            1,
            62,
            63,
            64,
            65,
            4095,
            4096,
            8190,
            8191,
            8192,
            70_000,
            1 << 20,
        ] {
            let b: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            round_trip(Elem::Bytes(&b));
        }
        let mut seed = 3u64;
        for _ in 0..20_000 {
            let r = crate::store::next_random(&mut seed);
            round_trip(Elem::Int((r as i64) >> (r % 64)));
        }
    }

    #[test]
    fn only_canonical_integers_become_integers() {
        assert_eq!(Elem::of(b"12"), Elem::Int(12));
        assert_eq!(Elem::of(b"-9223372036854775808"), Elem::Int(i64::MIN));
        for s in [
            &b"012"[..],
            b"+1",
            b"1.0",
            b" 1",
            b"",
            b"-0",
            b"9223372036854775808",
        ] {
            assert_eq!(Elem::of(s), Elem::Bytes(s));
        }
        let n = Needle::new(b"12");
        assert!(Elem::Int(12).matches(&n));
        assert!(!Elem::Bytes(b"012").matches(&Needle::new(b"12")));
        assert!(Elem::Bytes(b"012").matches(&Needle::new(b"012")));
        assert_eq!(Elem::Int(-5).to_vec(), b"-5");
    }
}
