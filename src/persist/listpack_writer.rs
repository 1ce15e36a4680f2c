//! Building Redis listpacks (listpack.c's format), the packed form RDB files and DUMP
//! payloads carry for small hashes and sorted sets, list nodes and stream nodes.
//!
//! A listpack is a 4-byte total size and a 2-byte element count (both little-endian; the
//! count saturates at 65535, meaning "count them"), the elements, and an end byte 0xFF.
//! Each element is its encoding (an integer in 1 to 9 bytes, or a string with a 1, 2 or
//! 5-byte length) followed by that encoding's size written backwards in 7-bit groups, so
//! that the list can be walked from either end.

/// The count a listpack header gives when it holds 65535 elements or more.
const COUNT_UNKNOWN: u16 = u16::MAX;
/// Header bytes: total size and element count.
const HEADER: usize = 6;
/// The end marker.
const END: u8 = 0xFF;

/// A listpack under construction.
#[derive(Debug)]
pub struct ListpackWriter {
    buf: Vec<u8>,
    count: usize,
}

impl Default for ListpackWriter {
    fn default() -> Self {
        ListpackWriter::new()
    }
}

impl ListpackWriter {
    /// An empty listpack.
    pub fn new() -> ListpackWriter {
        ListpackWriter {
            buf: vec![0; HEADER],
            count: 0,
        }
    }

    /// Elements appended so far.
    pub fn len(&self) -> usize {
        self.count
    }

    /// True when nothing was appended.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The size the listpack would have if finished now.
    pub fn bytes(&self) -> usize {
        self.buf.len() + 1
    }

    /// Appends an integer element in its smallest encoding.
    pub fn push_int(&mut self, v: i64) {
        let start = self.buf.len();
        match v {
            0..=127 => self.buf.push(v as u8),
            -4096..=4095 => {
                let u = (v as u64) & 0x1fff;
                self.buf
                    .extend_from_slice(&[0xC0 | (u >> 8) as u8, u as u8]);
            }
            -32768..=32767 => {
                self.buf.push(0xF1);
                self.buf.extend_from_slice(&(v as i16).to_le_bytes());
            }
            -8_388_608..=8_388_607 => {
                self.buf.push(0xF2);
                self.buf.extend_from_slice(&(v as i32).to_le_bytes()[..3]);
            }
            _ if i32::try_from(v).is_ok() => {
                self.buf.push(0xF3);
                self.buf.extend_from_slice(&(v as i32).to_le_bytes());
            }
            _ => {
                self.buf.push(0xF4);
                self.buf.extend_from_slice(&v.to_le_bytes());
            }
        }
        self.finish_element(start);
    }

    /// Appends a string element; one that is the canonical form of a 64-bit integer is
    /// stored as that integer, as Redis's `lpAppend` does.
    pub fn push(&mut self, s: &[u8]) {
        if s.len() <= 20
            && let Some(v) = crate::resp::parse_i64(s)
        {
            self.push_int(v);
            return;
        }
        let start = self.buf.len();
        let len = s.len();
        if len < 64 {
            self.buf.push(0x80 | len as u8);
        } else if len < 4096 {
            self.buf
                .extend_from_slice(&[0xE0 | (len >> 8) as u8, len as u8]);
        } else {
            self.buf.push(0xF0);
            self.buf.extend_from_slice(&(len as u32).to_le_bytes());
        }
        self.buf.extend_from_slice(s);
        self.finish_element(start);
    }

    /// Writes the back-length of the element that starts at `start`.
    fn finish_element(&mut self, start: usize) {
        let l = (self.buf.len() - start) as u64;
        let groups = match l {
            0..=127 => 1,
            128..=16382 => 2,
            16383..=2_097_150 => 3,
            2_097_151..=268_435_454 => 4,
            _ => 5,
        };
        // Most significant group first; every group but the first has its top bit set,
        // which is what a reader walking backwards stops on.
        for g in (0..groups).rev() {
            let bits = ((l >> (7 * g)) & 127) as u8;
            self.buf
                .push(if g == groups - 1 { bits } else { bits | 128 });
        }
        self.count += 1;
    }

    /// The finished listpack.
    pub fn finish(mut self) -> Vec<u8> {
        self.buf.push(END);
        let total = self.buf.len() as u32;
        self.buf[..4].copy_from_slice(&total.to_le_bytes());
        let count = u16::try_from(self.count).unwrap_or(COUNT_UNKNOWN);
        self.buf[4..6].copy_from_slice(&count.to_le_bytes());
        self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_redis_bytes() {
        // `DEBUG LISTPACK` / DUMP of a small hash {a: 1} on redis-server 7.0.15: a string
        // "a", the integer 1.
        let mut lp = ListpackWriter::new();
        lp.push(b"a");
        lp.push(b"1");
        assert_eq!(lp.finish(), [12, 0, 0, 0, 2, 0, 0x81, b'a', 2, 1, 1, 0xFF]);
        // 13-bit integers, negative ones in two's complement.
        let mut lp = ListpackWriter::new();
        lp.push(b"-1");
        lp.push(b"200");
        let bytes = lp.finish();
        assert_eq!(&bytes[6..12], [0xDF, 0xFF, 2, 0xC0, 200, 2]);
    }

    #[test]
    fn back_lengths_of_long_elements() {
        let mut lp = ListpackWriter::new();
        lp.push(&[b'x'; 200]);
        let bytes = lp.finish();
        // 2-byte length header + 200 bytes = 202: two back-length groups.
        assert_eq!(&bytes[6..8], [0xE0, 200]);
        assert_eq!(&bytes[208..210], [1, 0x80 | (202 - 128) as u8]);
        assert_eq!(bytes.len(), 6 + 202 + 2 + 1);
    }

    #[test]
    fn count_saturates() {
        let mut lp = ListpackWriter::new();
        for _ in 0..70_000 {
            lp.push_int(1);
        }
        let bytes = lp.finish();
        assert_eq!(&bytes[4..6], [0xFF, 0xFF]);
    }
}
