//! Stream entry IDs (`<ms>-<seq>`, two unsigned 64-bit numbers, ordered by ms then seq)
//! and their text form, as Redis's `streamID` and `streamGenericParseIDOrReply`.

/// An entry ID. The derived order (ms, then seq) is Redis's `streamCompareID`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct StreamId {
    /// Milliseconds part.
    pub ms: u64,
    /// Sequence part.
    pub seq: u64,
}

impl StreamId {
    /// 0-0: the smallest ID, also "none" for the stream's bookkeeping IDs.
    pub const MIN: StreamId = StreamId { ms: 0, seq: 0 };
    /// The largest ID (`+`).
    pub const MAX: StreamId = StreamId {
        ms: u64::MAX,
        seq: u64::MAX,
    };

    /// An ID from its two parts.
    pub const fn new(ms: u64, seq: u64) -> StreamId {
        StreamId { ms, seq }
    }

    /// True for 0-0.
    pub fn is_zero(&self) -> bool {
        *self == StreamId::MIN
    }

    /// The next ID, or None past the largest (Redis's streamIncrID failing).
    pub fn next(self) -> Option<StreamId> {
        match (self.ms, self.seq) {
            (u64::MAX, u64::MAX) => None,
            (ms, u64::MAX) => Some(StreamId::new(ms + 1, 0)),
            (ms, seq) => Some(StreamId::new(ms, seq + 1)),
        }
    }

    /// The previous ID, or None before 0-0 (Redis's streamDecrID failing).
    pub fn prev(self) -> Option<StreamId> {
        match (self.ms, self.seq) {
            (0, 0) => None,
            (ms, 0) => Some(StreamId::new(ms - 1, u64::MAX)),
            (ms, seq) => Some(StreamId::new(ms, seq - 1)),
        }
    }

    /// `<ms>-<seq>` into `buf` (at most 41 bytes).
    pub fn format(self, buf: &mut [u8; 41]) -> &[u8] {
        let mut pos = 0;
        for (i, part) in [self.ms, self.seq].into_iter().enumerate() {
            if i == 1 {
                buf[pos] = b'-';
                pos += 1;
            }
            let mut digits = [0u8; 20];
            let mut n = part;
            let mut len = 0;
            loop {
                digits[len] = b'0' + (n % 10) as u8;
                len += 1;
                n /= 10;
                if n == 0 {
                    break;
                }
            }
            for d in digits[..len].iter().rev() {
                buf[pos] = *d;
                pos += 1;
            }
        }
        &buf[..pos]
    }
}

impl std::fmt::Display for StreamId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// How an ID argument was written, when it parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParsedId {
    /// The ID (for `<ms>-*`, the sequence is 0).
    pub id: StreamId,
    /// False for the `<ms>-*` form (XADD picks the sequence).
    pub seq_given: bool,
}

/// Parses an ID argument as Redis's streamGenericParseIDOrReply does: `-` and `+` (unless
/// `strict`), `<ms>` (the sequence is `missing_seq`), `<ms>-<seq>`, and `<ms>-*` when
/// `allow_auto_seq`. Numbers follow Redis's `string2ull`. Arguments are C strings there,
/// so anything after a NUL byte is ignored, and arguments over 127 bytes are invalid.
pub fn parse_id(
    arg: &[u8],
    missing_seq: u64,
    strict: bool,
    allow_auto_seq: bool,
) -> Option<ParsedId> {
    if arg.len() > 127 {
        return None;
    }
    let arg = &arg[..arg.iter().position(|&b| b == 0).unwrap_or(arg.len())];
    match arg {
        b"-" | b"+" if strict => return None,
        b"-" => {
            return Some(ParsedId {
                id: StreamId::MIN,
                seq_given: true,
            });
        }
        b"+" => {
            return Some(ParsedId {
                id: StreamId::MAX,
                seq_given: true,
            });
        }
        _ => {}
    }
    let (ms_part, seq_part) = match arg.iter().position(|&b| b == b'-') {
        Some(dash) => (&arg[..dash], Some(&arg[dash + 1..])),
        None => (arg, None),
    };
    let ms = string2ull(ms_part)?;
    let (seq, seq_given) = match seq_part {
        None => (missing_seq, true),
        Some(b"*") if allow_auto_seq => (0, false),
        Some(s) => (string2ull(s)?, true),
    };
    Some(ParsedId {
        id: StreamId::new(ms, seq),
        seq_given,
    })
}

/// Redis's `string2ull`: a canonical non-negative 64-bit integer, or else whatever C's
/// `strtoull(s, 10)` accepts as a whole (leading white space, a `+` sign, or a `-` sign,
/// which negates modulo 2^64), failing on overflow.
pub fn string2ull(s: &[u8]) -> Option<u64> {
    if let Some(v) = crate::resp::parse_i64(s) {
        return u64::try_from(v).ok();
    }
    let mut i = 0;
    while i < s.len() && matches!(s[i], b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r') {
        i += 1;
    }
    let mut negative = false;
    if let Some(&sign @ (b'+' | b'-')) = s.get(i) {
        negative = sign == b'-';
        i += 1;
    }
    let digits = &s[i..];
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut v: u64 = 0;
    for &d in digits {
        v = v.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    Some(if negative { v.wrapping_neg() } else { v })
}

/// Sizes of values in a Redis listpack, to split stream nodes exactly where Redis splits
/// them (`stream-node-max-bytes` counts listpack bytes, and approximate trimming removes
/// whole nodes, so node boundaries are visible to clients).
pub mod listpack {
    /// Bytes of a new, empty listpack: header (total bytes, count) and end marker.
    pub const EMPTY: u64 = 7;

    /// Bytes an integer element takes, its back-length included.
    pub fn int_size(v: i64) -> u64 {
        let encoded = match v {
            0..=127 => 1,
            -4096..=4095 => 2,
            -32768..=32767 => 3,
            -8_388_608..=8_388_607 => 4,
            _ if i32::try_from(v).is_ok() => 5,
            _ => 9,
        };
        encoded + backlen_size(encoded)
    }

    /// Bytes a string element takes: listpacks store strings that are canonical integers
    /// as integers.
    pub fn str_size(s: &[u8]) -> u64 {
        if s.len() <= 20
            && let Some(v) = crate::resp::parse_i64(s)
        {
            return int_size(v);
        }
        let len = s.len() as u64;
        let encoded = match len {
            0..=63 => 1 + len,
            64..=4095 => 2 + len,
            _ => 5 + len,
        };
        encoded + backlen_size(encoded)
    }

    fn backlen_size(encoded: u64) -> u64 {
        match encoded {
            0..=127 => 1,
            128..=16382 => 2,
            16383..=2_097_150 => 3,
            2_097_151..=268_435_454 => 4,
            _ => 5,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Option<StreamId> {
        parse_id(s.as_bytes(), 0, false, false).map(|p| p.id)
    }

    #[test]
    fn parses_as_redis() {
        assert_eq!(p("1-2"), Some(StreamId::new(1, 2)));
        assert_eq!(p("5"), Some(StreamId::new(5, 0)));
        assert_eq!(
            parse_id(b"5", u64::MAX, false, false).map(|p| p.id),
            Some(StreamId::new(5, u64::MAX))
        );
        assert_eq!(p("-"), Some(StreamId::MIN));
        assert_eq!(p("+"), Some(StreamId::MAX));
        assert_eq!(parse_id(b"+", 0, true, false), None);
        assert_eq!(
            p("18446744073709551615-18446744073709551615"),
            Some(StreamId::MAX)
        );
        assert_eq!(p("18446744073709551616-0"), None);
        assert_eq!(p("-1"), None);
        assert_eq!(p("1-"), None);
        assert_eq!(p("a-1"), None);
        assert_eq!(p(""), None);
        assert_eq!(p("1-2-3"), None);
        assert_eq!(p("1-*"), None);
        let auto = parse_id(b"7-*", 0, true, true).unwrap();
        assert_eq!((auto.id, auto.seq_given), (StreamId::new(7, 0), false));
        // strtoull's leniencies, which Redis inherits.
        assert_eq!(p("+5-1"), Some(StreamId::new(5, 1)));
        assert_eq!(p(" 5"), Some(StreamId::new(5, 0)));
        assert_eq!(p("1\0junk"), Some(StreamId::new(1, 0)));
        assert_eq!(p(&"1".repeat(128)), None);
    }

    #[test]
    fn next_prev_and_format() {
        assert_eq!(StreamId::new(1, u64::MAX).next(), Some(StreamId::new(2, 0)));
        assert_eq!(StreamId::MAX.next(), None);
        assert_eq!(StreamId::MIN.prev(), None);
        assert_eq!(StreamId::new(2, 0).prev(), Some(StreamId::new(1, u64::MAX)));
        let mut buf = [0; 41];
        assert_eq!(
            StreamId::MAX.format(&mut buf),
            b"18446744073709551615-18446744073709551615"
        );
        assert_eq!(StreamId::new(0, 7).format(&mut buf), b"0-7");
    }

    #[test]
    fn listpack_sizes() {
        assert_eq!(listpack::int_size(5), 2);
        assert_eq!(listpack::int_size(1000), 3);
        assert_eq!(listpack::str_size(b"42"), 2);
        assert_eq!(listpack::str_size(b"value"), 7);
        assert_eq!(listpack::str_size(&[b'x'; 100]), 103);
    }
}
