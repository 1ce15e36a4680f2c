//! RESP, the Redis serialization protocol: request parsing and reply encoding.
//!
//! Parsing ([`parse`]) and encoding ([`reply`]) know nothing about commands or storage, so
//! the same code serves the server, the benches and the tests (Pelikan's split).

pub mod parse;
pub mod reply;

pub use parse::{Args, ParseError, Parser, peek_keys, split_line};
pub use reply::Reply;

/// Parses a signed 64-bit integer exactly as Redis's `string2ll` does: an optional `-`,
/// no `+`, no leading zeros (except "0" itself), no spaces, and no overflow.
///
/// Redis uses this both for protocol lengths and for integer arguments, so `"01"`,
/// `" 1"` and `"-0"` are all rejected.
pub fn parse_i64(s: &[u8]) -> Option<i64> {
    let (neg, digits) = match s {
        [] => return None,
        [b'0'] => return Some(0),
        [b'-', rest @ ..] => (true, rest),
        _ => (false, s),
    };
    match digits {
        [] => return None,
        [first, ..] if !(b'1'..=b'9').contains(first) => return None,
        _ => {}
    }
    if digits.len() > 19 {
        return None;
    }
    let mut v: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    if neg {
        if v > i64::MAX as u64 + 1 {
            return None;
        }
        Some((v as i64).wrapping_neg())
    } else {
        i64::try_from(v).ok()
    }
}

/// Formats `v` in decimal into `buf`, returning the used tail. No allocation.
pub fn format_i64(v: i64, buf: &mut [u8; 20]) -> &[u8] {
    let mut n = v.unsigned_abs();
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if v < 0 {
        i -= 1;
        buf[i] = b'-';
    }
    &buf[i..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_i64_matches_string2ll() {
        assert_eq!(parse_i64(b"0"), Some(0));
        assert_eq!(parse_i64(b"-1"), Some(-1));
        assert_eq!(parse_i64(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        for bad in [
            &b""[..],
            b"-",
            b"01",
            b"-0",
            b"+1",
            b" 1",
            b"1 ",
            b"1a",
            b"9223372036854775808",
            b"-9223372036854775809",
            b"18446744073709551615",
            b"99999999999999999999",
        ] {
            assert_eq!(parse_i64(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn format_i64_round_trips() {
        let mut b = [0u8; 20];
        for v in [0, 1, -1, 10, -10, 1234567890, i64::MAX, i64::MIN] {
            assert_eq!(format_i64(v, &mut b), v.to_string().as_bytes());
        }
    }
}
