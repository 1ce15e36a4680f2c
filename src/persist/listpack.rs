//! Reading Redis listpacks (the packed form of small hashes, sorted sets, list nodes and
//! stream nodes in an RDB file; format of Redis's listpack.c). Decoding only: building
//! listpacks lives with the writer.
//!
//! Layout: a 6-byte header (total size as u32 little-endian, then the entry count as u16,
//! 65535 meaning "count it"), the entries, and a 0xFF end byte. Each entry is an encoding
//! byte (and maybe length bytes), its data, then its own size written backwards (so the
//! list can be walked from the end) in 1 to 5 bytes of 7 bits each:
//!
//! | first byte   | entry                                          |
//! |--------------|------------------------------------------------|
//! | `0xxxxxxx`   | integer 0..=127                                |
//! | `10xxxxxx`   | string of up to 63 bytes                       |
//! | `110xxxxx`   | 13-bit signed integer (one more byte)          |
//! | `1110xxxx`   | string of up to 4095 bytes (one more length byte) |
//! | `0xF0`       | string, 32-bit little-endian length            |
//! | `0xF1..0xF4` | 16, 24, 32, 64-bit little-endian signed integer |
//!
//! Everything is checked against the buffer before it is read: a listpack comes from a
//! file or a RESTORE payload, so any byte may be wrong.

use crate::resp::{format_i64, parse_i64};

/// Header bytes: total size (4) and entry count (2).
const HEADER: usize = 6;
/// The end marker.
const END: u8 = 0xFF;
/// Header count meaning "too many to say; walk the entries".
const COUNT_UNKNOWN: usize = u16::MAX as usize;

/// One entry of a listpack (or a ziplist, which has the same two kinds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry<'a> {
    /// An integer-encoded entry.
    Int(i64),
    /// A string entry.
    Str(&'a [u8]),
}

impl Entry<'_> {
    /// The entry as an integer: integer-encoded, or a string that is the canonical form of
    /// one (Redis's lpGetIntegerIfValid).
    pub fn as_int(&self) -> Option<i64> {
        match *self {
            Entry::Int(v) => Some(v),
            Entry::Str(s) => parse_i64(s),
        }
    }

    /// Calls `f` with the entry's bytes (integers in decimal, formatted on the stack).
    pub fn with_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        match *self {
            Entry::Int(v) => f(format_i64(v, &mut [0; 20])),
            Entry::Str(s) => f(s),
        }
    }

    /// The entry's bytes, copied.
    pub fn to_vec(&self) -> Vec<u8> {
        self.with_bytes(<[u8]>::to_vec)
    }
}

/// Bytes the back-length of an entry of `len` bytes takes (Redis's lpEncodeBacklen sizes).
fn backlen_size(len: usize) -> usize {
    match len {
        0..=127 => 1,
        128..16383 => 2,
        16383..2097151 => 3,
        2097151..268435455 => 4,
        _ => 5,
    }
}

/// Reads the back-length that ends just before `end` (walking backwards), as Redis's
/// lpDecodeBacklen: at most 5 bytes, the first written one without the high bit.
fn read_backlen(lp: &[u8], end: usize) -> Option<usize> {
    let mut v = 0usize;
    let mut at = end;
    for i in 0..5 {
        at = at.checked_sub(1)?;
        let b = *lp.get(at)?;
        v |= usize::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// Little-endian integer of `n` bytes at `at`, sign-extended (`n` in 2..=8).
fn le_signed(b: &[u8], n: usize) -> i64 {
    let mut raw = [0u8; 8];
    raw[..n].copy_from_slice(&b[..n]);
    let shift = 64 - 8 * n as u32;
    (i64::from_le_bytes(raw) << shift) >> shift
}

/// Decodes the entry at `at` (before the end byte, which the caller checked is last).
/// Returns it and where the next entry starts. The entry and its back-length must lie
/// inside `lp` before the end byte, and the back-length must state the entry's size.
fn decode(lp: &[u8], at: usize) -> Result<(Entry<'_>, usize), &'static str> {
    // Entries live in lp[HEADER..limit]; lp[limit] is the end byte.
    let limit = lp.len() - 1;
    let rest = &lp[at..limit];
    let first = *rest.first().ok_or("listpack entry past the end")?;
    let need = |n: usize| -> Result<&[u8], &'static str> {
        rest.get(..n).ok_or("listpack entry runs past the end")
    };
    let (entry, size) = match first {
        0x00..=0x7F => (Entry::Int(i64::from(first)), 1),
        0x80..=0xBF => {
            let len = usize::from(first & 0x3F);
            let b = need(1 + len)?;
            (Entry::Str(&b[1..]), 1 + len)
        }
        0xC0..=0xDF => {
            let b = need(2)?;
            let raw = (u16::from(first & 0x1F) << 8) | u16::from(b[1]);
            // 13-bit two's complement.
            let v = i64::from(raw) - if raw >= 1 << 12 { 1 << 13 } else { 0 };
            (Entry::Int(v), 2)
        }
        0xE0..=0xEF => {
            let h = need(2)?;
            let len = (usize::from(first & 0x0F) << 8) | usize::from(h[1]);
            let b = need(2 + len)?;
            (Entry::Str(&b[2..]), 2 + len)
        }
        0xF0 => {
            let h = need(5)?;
            let len = u32::from_le_bytes([h[1], h[2], h[3], h[4]]) as usize;
            let total = len.checked_add(5).ok_or("listpack string too long")?;
            let b = need(total)?;
            (Entry::Str(&b[5..]), total)
        }
        0xF1..=0xF4 => {
            let n = match first {
                0xF1 => 2,
                0xF2 => 3,
                0xF3 => 4,
                _ => 8,
            };
            let b = need(1 + n)?;
            (Entry::Int(le_signed(&b[1..], n)), 1 + n)
        }
        0xF5..=0xFE => return Err("invalid listpack entry encoding"),
        END => return Err("listpack end marker inside the entries"),
    };
    let next = at + size + backlen_size(size);
    if next > limit {
        return Err("listpack entry runs past the end");
    }
    if read_backlen(lp, next) != Some(size) {
        return Err("listpack entry back-length is wrong");
    }
    Ok((entry, next))
}

/// A checked listpack's entries, in order.
#[derive(Debug, Clone)]
pub struct ListpackIter<'a> {
    lp: &'a [u8],
    pos: usize,
    left: usize,
}

impl<'a> ListpackIter<'a> {
    /// Checks the whole listpack `lp` (Redis's deep lpValidateIntegrity: the header's size
    /// is the buffer's, the end byte is last, every entry is well formed and fits, and the
    /// header's count, unless 65535, is the number of entries), then iterates over it.
    pub fn new(lp: &'a [u8]) -> Result<ListpackIter<'a>, &'static str> {
        if lp.len() < HEADER + 1 {
            return Err("listpack shorter than its header");
        }
        let total = u32::from_le_bytes([lp[0], lp[1], lp[2], lp[3]]) as usize;
        if total != lp.len() {
            return Err("listpack size in the header is not its size");
        }
        if lp[lp.len() - 1] != END {
            return Err("listpack does not end with its end marker");
        }
        let header_count = usize::from(u16::from_le_bytes([lp[4], lp[5]]));
        let mut count = 0usize;
        let mut pos = HEADER;
        while pos < lp.len() - 1 {
            pos = decode(lp, pos)?.1;
            count += 1;
        }
        if header_count != COUNT_UNKNOWN && header_count != count {
            return Err("listpack entry count in the header is wrong");
        }
        Ok(ListpackIter {
            lp,
            pos: HEADER,
            left: count,
        })
    }
}

impl<'a> Iterator for ListpackIter<'a> {
    type Item = Entry<'a>;

    fn next(&mut self) -> Option<Entry<'a>> {
        if self.left == 0 {
            return None;
        }
        // Checked in `new`: decoding again cannot fail.
        let (e, next) = decode(self.lp, self.pos).ok()?;
        self.pos = next;
        self.left -= 1;
        Some(e)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl ExactSizeIterator for ListpackIter<'_> {}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Builds a listpack of `entries` the way Redis encodes them (for tests only: the
    /// real encoder lives with the RDB writer).
    pub(crate) fn build(entries: &[Entry]) -> Vec<u8> {
        let mut body = Vec::new();
        for e in entries {
            let mut enc = Vec::new();
            match *e {
                Entry::Int(v) => match v {
                    0..=127 => enc.push(v as u8),
                    -4096..=4095 => {
                        let u = (v as u16) & 0x1FFF;
                        enc.extend_from_slice(&[0xC0 | (u >> 8) as u8, u as u8]);
                    }
                    _ if i16::try_from(v).is_ok() => {
                        enc.push(0xF1);
                        enc.extend_from_slice(&(v as i16).to_le_bytes());
                    }
                    -8_388_608..=8_388_607 => {
                        enc.push(0xF2);
                        enc.extend_from_slice(&(v as i32).to_le_bytes()[..3]);
                    }
                    _ if i32::try_from(v).is_ok() => {
                        enc.push(0xF3);
                        enc.extend_from_slice(&(v as i32).to_le_bytes());
                    }
                    _ => {
                        enc.push(0xF4);
                        enc.extend_from_slice(&v.to_le_bytes());
                    }
                },
                Entry::Str(s) => {
                    if s.len() < 64 {
                        enc.push(0x80 | s.len() as u8);
                    } else if s.len() < 4096 {
                        enc.extend_from_slice(&[0xE0 | (s.len() >> 8) as u8, s.len() as u8]);
                    } else {
                        enc.push(0xF0);
                        enc.extend_from_slice(&(s.len() as u32).to_le_bytes());
                    }
                    enc.extend_from_slice(s);
                }
            }
            let l = enc.len();
            body.extend_from_slice(&enc);
            // Back-length: most significant group first, all but that one flagged.
            let n = backlen_size(l);
            for i in (0..n).rev() {
                let group = ((l >> (7 * i)) & 0x7F) as u8;
                body.push(if i == n - 1 { group } else { group | 0x80 });
            }
        }
        let mut lp = Vec::new();
        let total = (HEADER + body.len() + 1) as u32;
        lp.extend_from_slice(&total.to_le_bytes());
        lp.extend_from_slice(&(entries.len().min(COUNT_UNKNOWN) as u16).to_le_bytes());
        lp.extend_from_slice(&body);
        lp.push(END);
        lp
    }

    fn sample() -> Vec<Entry<'static>> {
        static LONG: [u8; 300] = [b'x'; 300];
        static HUGE: [u8; 5000] = [b'y'; 5000];
        vec![
            Entry::Int(0),
            Entry::Int(127),
            Entry::Int(128),
            Entry::Int(-1),
            Entry::Int(-4096),
            Entry::Int(4095),
            Entry::Int(-32768),
            Entry::Int(32767),
            Entry::Int(-8_388_608),
            Entry::Int(8_388_607),
            Entry::Int(i64::from(i32::MIN)),
            Entry::Int(i64::from(i32::MAX)),
            Entry::Int(i64::MIN),
            Entry::Int(i64::MAX),
            Entry::Str(b""),
            Entry::Str(b"hello"),
            Entry::Str(&LONG),
            Entry::Str(&HUGE),
        ]
    }

    #[test]
    fn decodes_every_encoding() {
        let entries = sample();
        let lp = build(&entries);
        let got: Vec<Entry> = ListpackIter::new(&lp).unwrap().collect();
        assert_eq!(got, entries);
        assert_eq!(Entry::Int(-5).to_vec(), b"-5");
        assert_eq!(Entry::Str(b"12").as_int(), Some(12));
        assert_eq!(Entry::Str(b"012").as_int(), None);
    }

    #[test]
    fn a_hand_encoded_listpack() {
        // HSET h a 1 b hello as Redis 7.0 would hold it, encoded by hand from listpack.c.
        let lp = [
            0x16, 0, 0, 0, 4, 0, 0x81, b'a', 2, 0x01, 1, 0x81, b'b', 2, 0x85, b'h', b'e', b'l',
            b'l', b'o', 6, 0xFF,
        ];
        let got: Vec<Entry> = ListpackIter::new(&lp).unwrap().collect();
        assert_eq!(
            got,
            [
                Entry::Str(b"a"),
                Entry::Int(1),
                Entry::Str(b"b"),
                Entry::Str(b"hello")
            ]
        );
    }

    #[test]
    fn unknown_count_is_walked() {
        let entries: Vec<Entry> = (0..70000).map(|i| Entry::Int(i % 100)).collect();
        let lp = build(&entries);
        assert_eq!(&lp[4..6], &[0xFF, 0xFF]);
        assert_eq!(ListpackIter::new(&lp).unwrap().len(), 70000);
    }

    #[test]
    fn every_truncation_and_flipped_byte_is_refused_or_decodes() {
        let lp = build(&sample()[..16]);
        for cut in 0..lp.len() {
            assert!(ListpackIter::new(&lp[..cut]).is_err(), "cut at {cut}");
        }
        for at in 0..lp.len() {
            for bit in 0..8 {
                let mut bad = lp.clone();
                bad[at] ^= 1 << bit;
                // Must not panic; what decodes must be consistent.
                if let Ok(it) = ListpackIter::new(&bad) {
                    let n = it.len();
                    assert_eq!(it.count(), n);
                }
            }
        }
    }

    #[test]
    fn header_disagreements_are_refused() {
        let mut lp = build(&[Entry::Int(1), Entry::Str(b"ab")]);
        lp[4] = 3;
        assert!(ListpackIter::new(&lp).is_err(), "wrong count");
        let mut lp = build(&[Entry::Int(1)]);
        lp[0] += 1;
        assert!(ListpackIter::new(&lp).is_err(), "wrong size");
        let mut lp = build(&[Entry::Int(1)]);
        lp.push(END);
        assert!(ListpackIter::new(&lp).is_err(), "trailing byte");
        // A huge string length in a small buffer.
        let lp = [12, 0, 0, 0, 1, 0, 0xF0, 0xFF, 0xFF, 0xFF, 0xFF, END];
        assert!(ListpackIter::new(&lp).is_err());
        // Back-length of the wrong value.
        let mut lp = build(&[Entry::Str(b"abc")]);
        let n = lp.len();
        lp[n - 2] = 3;
        assert!(ListpackIter::new(&lp).is_err());
        assert!(ListpackIter::new(&build(&[])).unwrap().next().is_none());
    }
}
