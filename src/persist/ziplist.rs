//! Reading the packed forms older RDB files hold: ziplists (Redis's ziplist.c; small
//! hashes, sorted sets and list nodes before Redis 7.0 replaced them with listpacks) and
//! zipmaps (zipmap.c; small hashes before Redis 2.6). Decoding only, for loading.
//!
//! A ziplist is a 10-byte header (total size u32, offset of the last entry u32, entry
//! count u16 with 65535 meaning "count it"; all little-endian), the entries and a 0xFF
//! end byte. Each entry starts with the previous entry's size (1 byte below 254, else
//! 0xFE and a u32), then its encoding:
//!
//! | first byte  | entry                                             |
//! |-------------|---------------------------------------------------|
//! | `00xxxxxx`  | string of up to 63 bytes                          |
//! | `01xxxxxx`  | string, 14-bit big-endian length (one more byte)  |
//! | `10000000`  | string, 32-bit big-endian length (four more bytes) |
//! | `0xC0`, `0xD0`, `0xE0` | 16, 32, 64-bit little-endian signed integer |
//! | `0xF0`      | 24-bit signed integer                             |
//! | `0xFE`      | 8-bit signed integer                              |
//! | `0xF1..=0xFD` | the integer 0..=12 in the low bits (minus one)  |

use super::listpack::Entry;

/// Header bytes: total size, tail offset, count.
const HEADER: usize = 10;
const END: u8 = 0xFF;
/// A previous-entry size this large or larger takes 5 bytes.
const BIG_PREVLEN: u8 = 254;
const COUNT_UNKNOWN: usize = u16::MAX as usize;

fn le_signed(b: &[u8]) -> i64 {
    let n = b.len();
    let mut raw = [0u8; 8];
    raw[..n].copy_from_slice(b);
    let shift = 64 - 8 * n as u32;
    (i64::from_le_bytes(raw) << shift) >> shift
}

/// One decoded entry: its value, the size its header claims for the previous entry, and
/// its own total size.
struct Decoded<'a> {
    entry: Entry<'a>,
    prevlen: usize,
    size: usize,
}

/// Decodes the entry at `at`, which must lie before the end byte at `zl.len() - 1`.
fn decode(zl: &[u8], at: usize) -> Result<Decoded<'_>, &'static str> {
    let body = &zl[at..zl.len() - 1];
    let get = |from: usize, n: usize| -> Result<&[u8], &'static str> {
        from.checked_add(n)
            .and_then(|end| body.get(from..end))
            .ok_or("ziplist entry runs past the end")
    };
    let first = get(0, 1)?[0];
    let (prevlen, mut pos) = if first < BIG_PREVLEN {
        (usize::from(first), 1)
    } else {
        let b = get(1, 4)?;
        (u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize, 5)
    };
    let enc = get(pos, 1)?[0];
    pos += 1;
    let entry = match enc {
        0x00..=0x3F => {
            let len = usize::from(enc & 0x3F);
            let s = get(pos, len)?;
            pos += len;
            Entry::Str(s)
        }
        0x40..=0x7F => {
            let len = (usize::from(enc & 0x3F) << 8) | usize::from(get(pos, 1)?[0]);
            pos += 1;
            let s = get(pos, len)?;
            pos += len;
            Entry::Str(s)
        }
        0x80 => {
            let b = get(pos, 4)?;
            let len = u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize;
            pos += 4;
            let s = get(pos, len)?;
            pos += len;
            Entry::Str(s)
        }
        0xC0 | 0xD0 | 0xE0 | 0xF0 | 0xFE => {
            let n = match enc {
                0xC0 => 2,
                0xD0 => 4,
                0xE0 => 8,
                0xF0 => 3,
                _ => 1,
            };
            let v = le_signed(get(pos, n)?);
            pos += n;
            Entry::Int(v)
        }
        0xF1..=0xFD => Entry::Int(i64::from(enc & 0x0F) - 1),
        _ => return Err("invalid ziplist entry encoding"),
    };
    Ok(Decoded {
        entry,
        prevlen,
        size: pos,
    })
}

/// A checked ziplist's entries, in order.
#[derive(Debug, Clone)]
pub struct ZiplistIter<'a> {
    zl: &'a [u8],
    pos: usize,
    left: usize,
}

impl<'a> ZiplistIter<'a> {
    /// Checks the whole ziplist `zl` as Redis's deep ziplistValidateIntegrity does (sizes,
    /// end byte, each entry's encoding and bounds, each previous-size field, the tail
    /// offset and the count unless 65535), then iterates over it.
    pub fn new(zl: &'a [u8]) -> Result<ZiplistIter<'a>, &'static str> {
        if zl.len() < HEADER + 1 {
            return Err("ziplist shorter than its header");
        }
        let total = u32::from_le_bytes([zl[0], zl[1], zl[2], zl[3]]) as usize;
        if total != zl.len() {
            return Err("ziplist size in the header is not its size");
        }
        if zl[zl.len() - 1] != END {
            return Err("ziplist does not end with its end marker");
        }
        let tail = u32::from_le_bytes([zl[4], zl[5], zl[6], zl[7]]) as usize;
        if tail > zl.len() - 1 {
            return Err("ziplist tail offset past the end");
        }
        let header_count = usize::from(u16::from_le_bytes([zl[8], zl[9]]));
        let mut count = 0usize;
        let mut pos = HEADER;
        let mut prev_size = 0;
        let mut last = None;
        while zl[pos] != END {
            let d = decode(zl, pos)?;
            if d.prevlen != prev_size {
                return Err("ziplist previous-entry size is wrong");
            }
            last = Some(pos);
            prev_size = d.size;
            pos += d.size;
            count += 1;
        }
        if pos != zl.len() - 1 {
            return Err("ziplist end marker inside the entries");
        }
        if last.is_some_and(|l| l != tail) {
            return Err("ziplist tail offset does not point at the last entry");
        }
        if header_count != COUNT_UNKNOWN && header_count != count {
            return Err("ziplist entry count in the header is wrong");
        }
        Ok(ZiplistIter {
            zl,
            pos: HEADER,
            left: count,
        })
    }
}

impl<'a> Iterator for ZiplistIter<'a> {
    type Item = Entry<'a>;

    fn next(&mut self) -> Option<Entry<'a>> {
        if self.left == 0 {
            return None;
        }
        // Checked in `new`: cannot fail.
        let d = decode(self.zl, self.pos).ok()?;
        self.pos += d.size;
        self.left -= 1;
        Some(d.entry)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl ExactSizeIterator for ZiplistIter<'_> {}

/// Zipmap: a count byte (254 or more: unknown), then per pair the field's length, the
/// field, the value's length, a byte of free space size, the value and that free space;
/// a 0xFF end byte. A length is one byte below 254, else 254 and a u32 (little-endian).
const ZIPMAP_BIGLEN: u8 = 254;

/// A zipmap's field and value.
pub type Pair<'a> = (&'a [u8], &'a [u8]);

/// Reads a zipmap length at `at`; returns it and its encoded size.
fn zipmap_len(zm: &[u8], at: usize) -> Result<(usize, usize), &'static str> {
    let first = *zm.get(at).ok_or("zipmap runs past the end")?;
    if first < ZIPMAP_BIGLEN {
        return Ok((usize::from(first), 1));
    }
    if first == END {
        return Err("zipmap ends inside a pair");
    }
    let b = zm.get(at + 1..at + 5).ok_or("zipmap runs past the end")?;
    Ok((u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize, 5))
}

/// The field-value pairs of the zipmap `zm`, checked as Redis's deep
/// zipmapValidateIntegrity does (bounds, end byte, not empty, count unless 254+).
pub fn zipmap_pairs(zm: &[u8]) -> Result<Vec<Pair<'_>>, &'static str> {
    if zm.len() < 2 {
        return Err("zipmap shorter than its header");
    }
    let end = zm.len() - 1;
    if zm[end] != END {
        return Err("zipmap does not end with its end marker");
    }
    // Every slice taken must end at or before the end byte.
    let slice = |from: usize, n: usize| -> Result<&[u8], &'static str> {
        from.checked_add(n)
            .filter(|&e| e <= end)
            .map(|e| &zm[from..e])
            .ok_or("zipmap runs past the end")
    };
    let mut pairs = Vec::new();
    let mut pos = 1;
    while pos < end {
        let (flen, s) = zipmap_len(&zm[..end], pos)?;
        pos += s;
        let field = slice(pos, flen)?;
        pos += flen;
        let (vlen, s) = zipmap_len(&zm[..end], pos)?;
        pos += s;
        let free = usize::from(slice(pos, 1)?[0]);
        pos += 1;
        let value = slice(pos, vlen)?;
        pos = pos + vlen + free;
        if pos > end {
            return Err("zipmap runs past the end");
        }
        pairs.push((field, value));
    }
    if pairs.is_empty() {
        return Err("empty zipmap");
    }
    if zm[0] < ZIPMAP_BIGLEN && usize::from(zm[0]) != pairs.len() {
        return Err("zipmap count in the header is wrong");
    }
    Ok(pairs)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Builds a ziplist the way Redis encodes entries (tests only).
    pub(crate) fn build(entries: &[Entry]) -> Vec<u8> {
        let mut body = Vec::new();
        let mut prev = 0usize;
        let mut tail = HEADER;
        for e in entries {
            let mut enc = Vec::new();
            if prev < 254 {
                enc.push(prev as u8);
            } else {
                enc.push(0xFE);
                enc.extend_from_slice(&(prev as u32).to_le_bytes());
            }
            match *e {
                Entry::Int(v @ 0..=12) => enc.push(0xF1 + v as u8),
                Entry::Int(v) if i8::try_from(v).is_ok() => enc.extend_from_slice(&[0xFE, v as u8]),
                Entry::Int(v) if i16::try_from(v).is_ok() => {
                    enc.push(0xC0);
                    enc.extend_from_slice(&(v as i16).to_le_bytes());
                }
                Entry::Int(v @ -8_388_608..=8_388_607) => {
                    enc.push(0xF0);
                    enc.extend_from_slice(&(v as i32).to_le_bytes()[..3]);
                }
                Entry::Int(v) if i32::try_from(v).is_ok() => {
                    enc.push(0xD0);
                    enc.extend_from_slice(&(v as i32).to_le_bytes());
                }
                Entry::Int(v) => {
                    enc.push(0xE0);
                    enc.extend_from_slice(&v.to_le_bytes());
                }
                Entry::Str(s) => {
                    if s.len() < 64 {
                        enc.push(s.len() as u8);
                    } else if s.len() < 16384 {
                        enc.extend_from_slice(&[0x40 | (s.len() >> 8) as u8, s.len() as u8]);
                    } else {
                        enc.push(0x80);
                        enc.extend_from_slice(&(s.len() as u32).to_be_bytes());
                    }
                    enc.extend_from_slice(s);
                }
            }
            tail = HEADER + body.len();
            prev = enc.len();
            body.extend_from_slice(&enc);
        }
        let mut zl = Vec::new();
        zl.extend_from_slice(&((HEADER + body.len() + 1) as u32).to_le_bytes());
        zl.extend_from_slice(&(tail as u32).to_le_bytes());
        zl.extend_from_slice(&(entries.len().min(COUNT_UNKNOWN) as u16).to_le_bytes());
        zl.extend_from_slice(&body);
        zl.push(END);
        zl
    }

    fn sample() -> Vec<Entry<'static>> {
        static LONG: [u8; 300] = [b'x'; 300];
        static HUGE: [u8; 17000] = [b'y'; 17000];
        vec![
            Entry::Int(0),
            Entry::Int(12),
            Entry::Int(13),
            Entry::Int(-128),
            Entry::Int(-32768),
            Entry::Int(8_388_607),
            Entry::Int(-8_388_608),
            Entry::Int(i64::from(i32::MIN)),
            Entry::Int(i64::MAX),
            Entry::Str(b""),
            Entry::Str(b"field"),
            Entry::Str(&LONG),
            Entry::Str(&HUGE),
        ]
    }

    #[test]
    fn decodes_every_encoding() {
        let entries = sample();
        let zl = build(&entries);
        let got: Vec<Entry> = ZiplistIter::new(&zl).unwrap().collect();
        assert_eq!(got, entries);
        assert_eq!(ZiplistIter::new(&build(&[])).unwrap().len(), 0);
    }

    #[test]
    fn every_truncation_and_flipped_byte_is_refused_or_decodes() {
        let zl = build(&sample()[..12]);
        for cut in 0..zl.len() {
            assert!(ZiplistIter::new(&zl[..cut]).is_err(), "cut at {cut}");
        }
        for at in 0..zl.len() {
            for bit in 0..8 {
                let mut bad = zl.clone();
                bad[at] ^= 1 << bit;
                if let Ok(it) = ZiplistIter::new(&bad) {
                    let n = it.len();
                    assert_eq!(it.count(), n);
                }
            }
        }
    }

    #[test]
    fn header_disagreements_are_refused() {
        let good = build(&[Entry::Int(1), Entry::Str(b"ab")]);
        let mut zl = good.clone();
        zl[8] = 3;
        assert!(ZiplistIter::new(&zl).is_err(), "count");
        let mut zl = good.clone();
        zl[4] = 10;
        assert!(ZiplistIter::new(&zl).is_err(), "tail");
        let mut zl = good.clone();
        zl[12] = 1; // second entry's previous size
        assert!(ZiplistIter::new(&zl).is_err(), "prevlen");
        // A 32-bit string length far past the data.
        let mut zl = build(&[Entry::Str(b"abc")]);
        zl[11] = 0x80;
        assert!(ZiplistIter::new(&zl).is_err());
    }

    fn zipmap(pairs: &[(&[u8], &[u8])], free: u8) -> Vec<u8> {
        let mut zm = vec![pairs.len() as u8];
        let len = |zm: &mut Vec<u8>, n: usize| {
            if n < 254 {
                zm.push(n as u8);
            } else {
                zm.push(254);
                zm.extend_from_slice(&(n as u32).to_le_bytes());
            }
        };
        for (f, v) in pairs {
            len(&mut zm, f.len());
            zm.extend_from_slice(f);
            len(&mut zm, v.len());
            zm.push(free);
            zm.extend_from_slice(v);
            zm.extend(std::iter::repeat_n(0, usize::from(free)));
        }
        zm.push(END);
        zm
    }

    #[test]
    fn zipmaps() {
        let big = [b'v'; 300];
        let zm = zipmap(&[(b"a", b"1"), (b"bb", &big)], 2);
        assert_eq!(
            zipmap_pairs(&zm).unwrap(),
            [(&b"a"[..], &b"1"[..]), (b"bb", &big[..])]
        );
        assert!(zipmap_pairs(&[0, END]).is_err(), "empty");
        let mut wrong = zm.clone();
        wrong[0] = 3;
        assert!(zipmap_pairs(&wrong).is_err());
        for cut in 0..zm.len() {
            assert!(zipmap_pairs(&zm[..cut]).is_err(), "cut at {cut}");
        }
        for at in 0..zm.len() {
            let mut bad = zm.clone();
            bad[at] ^= 0x81;
            let _ = zipmap_pairs(&bad);
        }
    }
}
