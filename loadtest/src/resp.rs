//! RESP2 encoding and decoding for the client side.
//!
//! Two readers live here because the tools have two very different needs:
//! - [`read_value`] decodes one whole reply from a blocking [`BufRead`], reading as much as the
//!   reply needs (a 10 MiB bulk or a 100,000-element array is just more reads). The tester and
//!   the stress test use it.
//! - [`reply_len`] only measures a reply sitting in a byte slice without building it, returning
//!   `Ok(None)` while the reply is incomplete. The non-blocking load generator uses it on its
//!   read buffers, where allocating a [`Value`] per reply would cost more than the server does.

use std::fmt;
use std::io::{self, BufRead, Read};

/// Deepest array nesting accepted from a server, so a hostile reply cannot overflow our stack.
const MAX_DEPTH: usize = 64;

/// One decoded RESP2 reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// `+text`
    Simple(String),
    /// `-text`
    Error(String),
    /// `:n`
    Integer(i64),
    /// `$n` followed by n bytes.
    Bulk(Vec<u8>),
    /// `$-1`
    Nil,
    /// `*n` followed by n values.
    Array(Vec<Value>),
    /// `*-1`
    NilArray,
}

impl fmt::Display for Value {
    /// A compact, unambiguous rendering for mismatch reports, e.g. `bulk "a\r\n"`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Simple(s) => write!(f, "+{s}"),
            Value::Error(s) => write!(f, "-{s}"),
            Value::Integer(n) => write!(f, ":{n}"),
            Value::Bulk(b) => write!(f, "bulk {}", escape(b)),
            Value::Nil => write!(f, "nil"),
            Value::NilArray => write!(f, "nil array"),
            Value::Array(items) => {
                write!(f, "[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{item}")?;
                }
                write!(f, "]")
            }
        }
    }
}

/// Appends `args` to `out` as a RESP multibulk command (`*N\r\n$len\r\narg\r\n...`).
pub fn encode_command<A: AsRef<[u8]>>(out: &mut Vec<u8>, args: &[A]) {
    push_header(out, b'*', args.len());
    for arg in args {
        let arg = arg.as_ref();
        push_header(out, b'$', arg.len());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
}

/// Returns `args` encoded as one RESP multibulk command.
pub fn command<A: AsRef<[u8]>>(args: &[A]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_command(&mut out, args);
    out
}

/// Appends `<prefix><n>\r\n` without going through `format!` (this is on the load generator's
/// hot path).
pub fn push_header(out: &mut Vec<u8>, prefix: u8, n: usize) {
    out.push(prefix);
    push_decimal(out, n as u64);
    out.extend_from_slice(b"\r\n");
}

/// Appends the decimal digits of `n`.
pub fn push_decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

/// Renders bytes as a double-quoted string with `\r`, `\n`, `\"`, `\\` and `\xHH` escapes, the
/// way redis-cli shows binary data, so mismatch reports are readable and unambiguous.
pub fn escape(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() + 2);
    s.push('"');
    for &b in bytes {
        match b {
            b'\\' => s.push_str("\\\\"),
            b'"' => s.push_str("\\\""),
            b'\n' => s.push_str("\\n"),
            b'\r' => s.push_str("\\r"),
            b'\t' => s.push_str("\\t"),
            0x20..=0x7e => s.push(b as char),
            _ => s.push_str(&format!("\\x{b:02x}")),
        }
    }
    s.push('"');
    s
}

/// Like [`escape`], but cuts long inputs so a mismatch on a megabyte value stays readable.
pub fn escape_short(bytes: &[u8]) -> String {
    const MAX: usize = 200;
    if bytes.len() <= MAX {
        escape(bytes)
    } else {
        format!("{}... ({} bytes)", escape(&bytes[..MAX]), bytes.len())
    }
}

fn protocol_error(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

/// Reads one `\r\n`-terminated line and returns it without the terminator.
fn read_line<R: BufRead>(r: &mut R) -> io::Result<Vec<u8>> {
    let mut line = Vec::new();
    r.read_until(b'\n', &mut line)?;
    if line.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "server closed the connection",
        ));
    }
    if !line.ends_with(b"\r\n") {
        return Err(protocol_error(format!(
            "reply line not terminated by CRLF: {}",
            escape_short(&line)
        )));
    }
    line.truncate(line.len() - 2);
    Ok(line)
}

fn parse_int(digits: &[u8]) -> io::Result<i64> {
    std::str::from_utf8(digits)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| protocol_error(format!("invalid integer {}", escape_short(digits))))
}

/// Reads exactly one reply, blocking until all of it has arrived.
///
/// EOF before the reply starts is `UnexpectedEof` ("server closed the connection"); malformed
/// input is `InvalidData`.
pub fn read_value<R: BufRead>(r: &mut R) -> io::Result<Value> {
    read_value_at(r, 0)
}

fn read_value_at<R: BufRead>(r: &mut R, depth: usize) -> io::Result<Value> {
    let line = read_line(r)?;
    let Some((&kind, rest)) = line.split_first() else {
        return Err(protocol_error("empty reply line"));
    };
    match kind {
        b'+' => Ok(Value::Simple(String::from_utf8_lossy(rest).into_owned())),
        b'-' => Ok(Value::Error(String::from_utf8_lossy(rest).into_owned())),
        b':' => Ok(Value::Integer(parse_int(rest)?)),
        b'$' => {
            let len = parse_int(rest)?;
            if len == -1 {
                return Ok(Value::Nil);
            }
            let len = usize::try_from(len).map_err(|_| protocol_error("negative bulk length"))?;
            // `take` + `read_to_end` grows the buffer as bytes arrive instead of trusting the
            // announced length for one huge up-front allocation.
            let mut data = Vec::new();
            r.by_ref().take(len as u64 + 2).read_to_end(&mut data)?;
            if data.len() < len + 2 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "server closed the connection in the middle of a reply",
                ));
            }
            if !data.ends_with(b"\r\n") {
                return Err(protocol_error("bulk string not terminated by CRLF"));
            }
            data.truncate(len);
            Ok(Value::Bulk(data))
        }
        b'*' => {
            let n = parse_int(rest)?;
            if n == -1 {
                return Ok(Value::NilArray);
            }
            let n = usize::try_from(n).map_err(|_| protocol_error("negative array length"))?;
            if depth >= MAX_DEPTH {
                return Err(protocol_error("arrays nested too deeply"));
            }
            // Cap the pre-allocation: the count comes from the wire.
            let mut items = Vec::with_capacity(n.min(4096));
            for _ in 0..n {
                items.push(read_value_at(r, depth + 1)?);
            }
            Ok(Value::Array(items))
        }
        other => Err(protocol_error(format!(
            "unknown reply type byte {}",
            escape(&[other])
        ))),
    }
}

/// What [`reply_len`] found at the start of a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplyInfo {
    /// Bytes the whole reply occupies.
    pub len: usize,
    /// Whether the reply is an error (`-...`) at the top level.
    pub is_error: bool,
}

/// Measures the reply at the start of `buf` without decoding it.
///
/// `Ok(None)` means the reply is not complete yet (read more and call again); `Err` means the
/// bytes are not RESP2.
pub fn reply_len(buf: &[u8]) -> Result<Option<ReplyInfo>, String> {
    let is_error = buf.first() == Some(&b'-');
    Ok(skip(buf, 0, 0)?.map(|len| ReplyInfo { len, is_error }))
}

/// Returns the offset just past the reply starting at `pos`, or `None` if incomplete.
fn skip(buf: &[u8], pos: usize, depth: usize) -> Result<Option<usize>, String> {
    let Some(line_end) = find_crlf(buf, pos) else {
        return Ok(None);
    };
    let after_line = line_end + 2;
    let line = &buf[pos..line_end];
    let Some((&kind, rest)) = line.split_first() else {
        return Err("empty reply line".into());
    };
    match kind {
        b'+' | b'-' | b':' => Ok(Some(after_line)),
        b'$' => {
            let len = parse_len(rest)?;
            if len < 0 {
                return Ok(Some(after_line));
            }
            let end = after_line + len as usize + 2;
            Ok((buf.len() >= end).then_some(end))
        }
        b'*' => {
            let n = parse_len(rest)?;
            if depth >= MAX_DEPTH {
                return Err("arrays nested too deeply".into());
            }
            let mut at = after_line;
            for _ in 0..n.max(0) {
                match skip(buf, at, depth + 1)? {
                    Some(next) => at = next,
                    None => return Ok(None),
                }
            }
            Ok(Some(at))
        }
        other => Err(format!("unknown reply type byte {}", escape(&[other]))),
    }
}

fn find_crlf(buf: &[u8], from: usize) -> Option<usize> {
    buf.get(from..)?
        .windows(2)
        .position(|w| w == b"\r\n")
        .map(|i| from + i)
}

fn parse_len(digits: &[u8]) -> Result<i64, String> {
    std::str::from_utf8(digits)
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .filter(|&n| n >= -1)
        .ok_or_else(|| format!("invalid length {}", escape_short(digits)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn decode(bytes: &[u8]) -> io::Result<Value> {
        read_value(&mut Cursor::new(bytes.to_vec()))
    }

    #[test]
    fn encodes_commands_as_multibulk() {
        assert_eq!(
            command(&["SET", "foo", "bar"]),
            b"*3\r\n$3\r\nSET\r\n$3\r\nfoo\r\n$3\r\nbar\r\n"
        );
        assert_eq!(command(&[b"" as &[u8]]), b"*1\r\n$0\r\n\r\n");
    }

    #[test]
    fn decimal_digits() {
        for n in [0u64, 7, 10, 12345, u64::MAX] {
            let mut out = Vec::new();
            push_decimal(&mut out, n);
            assert_eq!(out, n.to_string().as_bytes());
        }
    }

    #[test]
    fn decodes_every_type() {
        assert_eq!(decode(b"+OK\r\n").unwrap(), Value::Simple("OK".into()));
        assert_eq!(decode(b"-ERR x\r\n").unwrap(), Value::Error("ERR x".into()));
        assert_eq!(decode(b":-42\r\n").unwrap(), Value::Integer(-42));
        assert_eq!(
            decode(b"$4\r\na\r\nb\r\n").unwrap(),
            Value::Bulk(b"a\r\nb".to_vec())
        );
        assert_eq!(decode(b"$-1\r\n").unwrap(), Value::Nil);
        assert_eq!(decode(b"*-1\r\n").unwrap(), Value::NilArray);
        assert_eq!(
            decode(b"*2\r\n*1\r\n:1\r\n$0\r\n\r\n").unwrap(),
            Value::Array(vec![
                Value::Array(vec![Value::Integer(1)]),
                Value::Bulk(vec![])
            ])
        );
    }

    #[test]
    fn truncated_and_malformed_replies_are_errors() {
        assert_eq!(
            decode(b"").unwrap_err().kind(),
            io::ErrorKind::UnexpectedEof
        );
        assert_eq!(
            decode(b"$5\r\nab").unwrap_err().kind(),
            io::ErrorKind::UnexpectedEof
        );
        assert_eq!(
            decode(b"?x\r\n").unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
        assert_eq!(
            decode(b"$2\r\nabcd").unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
        assert_eq!(
            decode(b":1\n").unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
    }

    #[test]
    fn reply_len_waits_for_whole_reply() {
        let full = b"*3\r\n$3\r\nfoo\r\n$-1\r\n:7\r\n+OK\r\n";
        let first = full.len() - 5;
        for cut in 0..first {
            assert_eq!(reply_len(&full[..cut]).unwrap(), None, "cut at {cut}");
        }
        assert_eq!(
            reply_len(full).unwrap(),
            Some(ReplyInfo {
                len: first,
                is_error: false
            })
        );
        assert_eq!(
            reply_len(b"-ERR no\r\n").unwrap(),
            Some(ReplyInfo {
                len: 9,
                is_error: true
            })
        );
        assert!(reply_len(b"!x\r\n").is_err());
    }

    #[test]
    fn escape_shows_binary() {
        assert_eq!(escape(b"a\"b\\\r\n\x00\xff"), r#""a\"b\\\r\n\x00\xff""#);
    }
}
