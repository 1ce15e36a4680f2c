//! RESP2 and RESP3 replies: the decoded [`Reply`] type and a blocking reader for it.
//!
//! The reader pulls exactly one reply from a [`BufRead`], issuing as many reads as the reply
//! needs: a reply spread over many TCP segments (a 10 MiB value, KEYS over 100,000 keys) is
//! normal, never an error. RESP3's types (maps, sets, doubles, booleans, big numbers,
//! verbatim strings, pushes, `_` null) are understood whatever protocol the connection
//! negotiated, so `HELLO 3` typed by hand simply works; attributes (`|`) are read and
//! dropped, as redis-cli's hiredis has no way to show them either.

use std::io::{self, BufRead, Read};

/// Deepest aggregate nesting accepted, so a hostile server cannot overflow our stack.
const MAX_DEPTH: usize = 128;

/// One reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `+OK`: a status line.
    Status(Vec<u8>),
    /// `-ERR ...` (or RESP3's blob error `!`): an error.
    Error(Vec<u8>),
    /// `:42`
    Integer(i64),
    /// `$3\r\nfoo`: a binary-safe string.
    Bulk(Vec<u8>),
    /// `$-1`, `*-1` or RESP3's `_`: no value.
    Nil,
    /// `*2\r\n...`: nested replies.
    Array(Vec<Reply>),
    /// RESP3 `,3.14`: kept as the server wrote it (`inf`, `-inf`, `1.5`), as redis-cli shows it.
    Double(String),
    /// RESP3 `#t` / `#f`.
    Bool(bool),
    /// RESP3 `(1234...`: an integer of any size, as its digits.
    BigNumber(String),
    /// RESP3 `=15\r\ntxt:Some string`: the text without its three-letter format prefix.
    Verbatim(Vec<u8>),
    /// RESP3 `%`: key/value pairs in the server's order.
    Map(Vec<(Reply, Reply)>),
    /// RESP3 `~`: a set.
    Set(Vec<Reply>),
    /// RESP3 `>`: an out-of-band message (pub/sub, invalidation, MONITOR is not one).
    Push(Vec<Reply>),
}

impl Reply {
    /// Whether this is an error reply.
    pub fn is_error(&self) -> bool {
        matches!(self, Reply::Error(_))
    }

    /// The text of a string-like reply (bulk, status, verbatim), for the modes that read
    /// specific fields (`SCAN`'s cursor, `INFO`).
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Reply::Bulk(b) | Reply::Status(b) | Reply::Verbatim(b) => Some(b),
            _ => None,
        }
    }
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("Protocol error: {msg}"))
}

fn closed() -> io::Error {
    io::Error::new(io::ErrorKind::UnexpectedEof, "Server closed the connection")
}

/// Reads one CRLF-terminated line, without the CRLF.
fn read_line<R: BufRead>(r: &mut R) -> io::Result<Vec<u8>> {
    let mut line = Vec::new();
    r.read_until(b'\n', &mut line)?;
    if line.is_empty() {
        return Err(closed());
    }
    if !line.ends_with(b"\r\n") {
        return Err(invalid(format!(
            "reply line not terminated by CRLF: {:?}",
            String::from_utf8_lossy(&line)
        )));
    }
    line.truncate(line.len() - 2);
    Ok(line)
}

fn parse_number(digits: &[u8]) -> io::Result<i64> {
    std::str::from_utf8(digits)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| {
            invalid(format!(
                "invalid number {:?}",
                String::from_utf8_lossy(digits)
            ))
        })
}

/// Reads `len` bytes and the CRLF after them.
fn read_blob<R: BufRead>(r: &mut R, len: i64) -> io::Result<Vec<u8>> {
    // Read through `take` so the buffer grows with the data actually received rather than
    // trusting the announced length for one up-front allocation.
    let mut data = Vec::new();
    let want = len as u64 + 2;
    let got = r.by_ref().take(want).read_to_end(&mut data)?;
    if (got as u64) < want {
        return Err(closed());
    }
    if !data.ends_with(b"\r\n") {
        return Err(invalid("bulk string not terminated by CRLF".into()));
    }
    data.truncate(data.len() - 2);
    Ok(data)
}

/// Reads exactly one reply from `r`, blocking until all of it has arrived.
pub fn read_reply<R: BufRead>(r: &mut R) -> io::Result<Reply> {
    read_at_depth(r, 0)
}

fn read_at_depth<R: BufRead>(r: &mut R, depth: usize) -> io::Result<Reply> {
    if depth >= MAX_DEPTH {
        return Err(invalid("replies nested too deeply".into()));
    }
    let line = read_line(r)?;
    let Some((&kind, rest)) = line.split_first() else {
        return Err(invalid("empty reply line".into()));
    };
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    match kind {
        b'+' => Ok(Reply::Status(rest.to_vec())),
        b'-' => Ok(Reply::Error(rest.to_vec())),
        b':' => Ok(Reply::Integer(parse_number(rest)?)),
        b',' => Ok(Reply::Double(text(rest))),
        b'(' => {
            let digits = rest.strip_prefix(b"-").unwrap_or(rest);
            if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
                return Err(invalid(format!("invalid big number {:?}", text(rest))));
            }
            Ok(Reply::BigNumber(text(rest)))
        }
        b'#' => match rest {
            b"t" => Ok(Reply::Bool(true)),
            b"f" => Ok(Reply::Bool(false)),
            _ => Err(invalid(format!("invalid boolean {:?}", text(rest)))),
        },
        b'_' if rest.is_empty() => Ok(Reply::Nil),
        b'$' | b'!' | b'=' => {
            let len = parse_number(rest)?;
            if len < 0 {
                return if kind == b'$' {
                    Ok(Reply::Nil)
                } else {
                    Err(invalid(format!("negative length {len}")))
                };
            }
            let data = read_blob(r, len)?;
            match kind {
                b'$' => Ok(Reply::Bulk(data)),
                b'!' => Ok(Reply::Error(data)),
                _ => {
                    // `txt:` / `mkd:`: a three-letter format and a colon come first.
                    if data.len() < 4 || data[3] != b':' {
                        return Err(invalid("verbatim string without its format".into()));
                    }
                    Ok(Reply::Verbatim(data[4..].to_vec()))
                }
            }
        }
        b'*' | b'~' | b'>' | b'%' | b'|' => {
            let count = parse_number(rest)?;
            if count < 0 {
                return if kind == b'*' {
                    Ok(Reply::Nil)
                } else {
                    Err(invalid(format!("negative count {count}")))
                };
            }
            if kind == b'%' || kind == b'|' {
                // The count comes from the wire: cap the pre-allocation.
                let mut pairs = Vec::with_capacity((count as usize).min(1024));
                for _ in 0..count {
                    let key = read_at_depth(r, depth + 1)?;
                    let value = read_at_depth(r, depth + 1)?;
                    pairs.push((key, value));
                }
                if kind == b'|' {
                    // An attribute describes the reply that follows it; show that reply.
                    // (One level deeper, so a chain of attributes is bounded too.)
                    return read_at_depth(r, depth + 1);
                }
                return Ok(Reply::Map(pairs));
            }
            let mut items = Vec::with_capacity((count as usize).min(1024));
            for _ in 0..count {
                items.push(read_at_depth(r, depth + 1)?);
            }
            Ok(match kind {
                b'*' => Reply::Array(items),
                b'~' => Reply::Set(items),
                _ => Reply::Push(items),
            })
        }
        other => Err(invalid(format!(
            "unexpected reply type byte {:?}",
            other as char
        ))),
    }
}

/// Encodes a command as a RESP multibulk request.
pub fn encode_command(args: &[Vec<u8>]) -> Vec<u8> {
    let size: usize = args.iter().map(|a| a.len() + 16).sum();
    let mut out = Vec::with_capacity(size + 16);
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufReader, Cursor};

    fn read(bytes: &[u8]) -> io::Result<Reply> {
        read_reply(&mut Cursor::new(bytes.to_vec()))
    }

    fn bulk(s: &str) -> Reply {
        Reply::Bulk(s.as_bytes().to_vec())
    }

    #[test]
    fn reads_every_resp2_reply_type() {
        assert_eq!(read(b"+OK\r\n").unwrap(), Reply::Status(b"OK".to_vec()));
        assert_eq!(
            read(b"-ERR no\r\n").unwrap(),
            Reply::Error(b"ERR no".to_vec())
        );
        assert_eq!(read(b":-7\r\n").unwrap(), Reply::Integer(-7));
        assert_eq!(read(b"$3\r\na\nb\r\n").unwrap(), bulk("a\nb"));
        assert_eq!(read(b"$-1\r\n").unwrap(), Reply::Nil);
        assert_eq!(read(b"*-1\r\n").unwrap(), Reply::Nil);
        assert_eq!(
            read(b"*2\r\n*0\r\n$0\r\n\r\n").unwrap(),
            Reply::Array(vec![Reply::Array(vec![]), Reply::Bulk(vec![])])
        );
    }

    #[test]
    fn reads_every_resp3_reply_type() {
        assert_eq!(
            read(b"%2\r\n$1\r\na\r\n:1\r\n+b\r\n,2.5\r\n").unwrap(),
            Reply::Map(vec![
                (bulk("a"), Reply::Integer(1)),
                (Reply::Status(b"b".to_vec()), Reply::Double("2.5".into())),
            ])
        );
        assert_eq!(
            read(b"~2\r\n#t\r\n#f\r\n").unwrap(),
            Reply::Set(vec![Reply::Bool(true), Reply::Bool(false)])
        );
        assert_eq!(read(b"_\r\n").unwrap(), Reply::Nil);
        assert_eq!(
            read(b"(-12345678901234567890123\r\n").unwrap(),
            Reply::BigNumber("-12345678901234567890123".into())
        );
        assert_eq!(
            read(b"=8\r\ntxt:a\r\nb\r\n").unwrap(),
            Reply::Verbatim(b"a\r\nb".to_vec())
        );
        assert_eq!(
            read(b"!5\r\nERR x\r\n").unwrap(),
            Reply::Error(b"ERR x".to_vec())
        );
        assert_eq!(
            read(b">2\r\n$7\r\nmessage\r\n:1\r\n").unwrap(),
            Reply::Push(vec![bulk("message"), Reply::Integer(1)])
        );
        // An attribute is skipped: the reply after it is what is shown.
        assert_eq!(read(b"|1\r\n+ttl\r\n:3\r\n$1\r\nv\r\n").unwrap(), bulk("v"));
    }

    #[test]
    fn a_reply_split_over_many_reads_is_fine() {
        // A one-byte buffer forces a separate read for every byte of the reply.
        let value = vec![b'x'; 100_000];
        let mut wire = format!("*2\r\n${}\r\n", value.len()).into_bytes();
        wire.extend_from_slice(&value);
        wire.extend_from_slice(b"\r\n:1\r\n");
        let mut reader = BufReader::with_capacity(1, Cursor::new(wire));
        assert_eq!(
            read_reply(&mut reader).unwrap(),
            Reply::Array(vec![Reply::Bulk(value), Reply::Integer(1)])
        );
    }

    #[test]
    fn truncated_or_garbled_replies_are_errors() {
        let kind = |bytes: &[u8]| read(bytes).unwrap_err().kind();
        assert_eq!(kind(b""), io::ErrorKind::UnexpectedEof);
        assert_eq!(kind(b"$5\r\nab"), io::ErrorKind::UnexpectedEof);
        assert_eq!(kind(b"*2\r\n:1\r\n"), io::ErrorKind::UnexpectedEof);
        assert_eq!(kind(b"%1\r\n:1\r\n"), io::ErrorKind::UnexpectedEof);
        assert_eq!(kind(b"hello\r\n"), io::ErrorKind::InvalidData);
        assert_eq!(kind(b"$1\r\nab\r\n"), io::ErrorKind::InvalidData);
        assert_eq!(kind(b"#x\r\n"), io::ErrorKind::InvalidData);
        assert_eq!(kind(b"(12a\r\n"), io::ErrorKind::InvalidData);
        assert_eq!(kind(b"=2\r\nab\r\n"), io::ErrorKind::InvalidData);
        assert_eq!(kind(b"%-1\r\n"), io::ErrorKind::InvalidData);
        // A hostile nesting depth is refused, not a stack overflow.
        let deep = b"*1\r\n".repeat(10_000);
        assert_eq!(kind(&deep), io::ErrorKind::InvalidData);
        let deep_maps = b"%1\r\n".repeat(10_000);
        assert_eq!(kind(&deep_maps), io::ErrorKind::InvalidData);
        let attributes = b"|0\r\n".repeat(10_000);
        assert_eq!(kind(&attributes), io::ErrorKind::InvalidData);
    }

    #[test]
    fn encodes_multibulk() {
        let args = vec![b"SET".to_vec(), b"k".to_vec(), b"".to_vec()];
        assert_eq!(
            encode_command(&args),
            b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n"
        );
    }
}
