//! RESP2 replies: the decoded [`Reply`] type and a blocking reader for it.
//!
//! The reader pulls exactly one reply from a [`BufRead`], issuing as many reads as the reply
//! needs: a reply spread over many TCP segments (a 10 MiB value, KEYS over 100,000 keys) is
//! normal, never an error.

use std::io::{self, BufRead, Read};

/// Deepest array nesting accepted, so a hostile server cannot overflow our stack.
const MAX_DEPTH: usize = 128;

/// One RESP2 reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `+OK`: a status line.
    Status(Vec<u8>),
    /// `-ERR ...`: an error line.
    Error(Vec<u8>),
    /// `:42`
    Integer(i64),
    /// `$3\r\nfoo`: a binary-safe string.
    Bulk(Vec<u8>),
    /// `$-1` or `*-1`: no value.
    Nil,
    /// `*2\r\n...`: nested replies.
    Array(Vec<Reply>),
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("Protocol error: {msg}"))
}

/// Reads one CRLF-terminated line, without the CRLF.
fn read_line<R: BufRead>(r: &mut R) -> io::Result<Vec<u8>> {
    let mut line = Vec::new();
    r.read_until(b'\n', &mut line)?;
    if line.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "Server closed the connection",
        ));
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

/// Reads exactly one reply from `r`, blocking until all of it has arrived.
pub fn read_reply<R: BufRead>(r: &mut R) -> io::Result<Reply> {
    read_at_depth(r, 0)
}

fn read_at_depth<R: BufRead>(r: &mut R, depth: usize) -> io::Result<Reply> {
    let line = read_line(r)?;
    let Some((&kind, rest)) = line.split_first() else {
        return Err(invalid("empty reply line".into()));
    };
    match kind {
        b'+' => Ok(Reply::Status(rest.to_vec())),
        b'-' => Ok(Reply::Error(rest.to_vec())),
        b':' => Ok(Reply::Integer(parse_number(rest)?)),
        b'$' => {
            let len = parse_number(rest)?;
            if len < 0 {
                return Ok(Reply::Nil);
            }
            // Read through `take` so the buffer grows with the data actually received rather
            // than trusting the announced length for one up-front allocation.
            let mut data = Vec::new();
            let want = len as u64 + 2;
            let got = r.by_ref().take(want).read_to_end(&mut data)?;
            if (got as u64) < want {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "Server closed the connection",
                ));
            }
            if !data.ends_with(b"\r\n") {
                return Err(invalid("bulk string not terminated by CRLF".into()));
            }
            data.truncate(data.len() - 2);
            Ok(Reply::Bulk(data))
        }
        b'*' => {
            let count = parse_number(rest)?;
            if count < 0 {
                return Ok(Reply::Nil);
            }
            if depth >= MAX_DEPTH {
                return Err(invalid("arrays nested too deeply".into()));
            }
            // The count comes from the wire: cap the pre-allocation.
            let mut items = Vec::with_capacity((count as usize).min(1024));
            for _ in 0..count {
                items.push(read_at_depth(r, depth + 1)?);
            }
            Ok(Reply::Array(items))
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

    #[test]
    fn reads_every_reply_type() {
        assert_eq!(read(b"+OK\r\n").unwrap(), Reply::Status(b"OK".to_vec()));
        assert_eq!(
            read(b"-ERR no\r\n").unwrap(),
            Reply::Error(b"ERR no".to_vec())
        );
        assert_eq!(read(b":-7\r\n").unwrap(), Reply::Integer(-7));
        assert_eq!(
            read(b"$3\r\na\nb\r\n").unwrap(),
            Reply::Bulk(b"a\nb".to_vec())
        );
        assert_eq!(read(b"$-1\r\n").unwrap(), Reply::Nil);
        assert_eq!(read(b"*-1\r\n").unwrap(), Reply::Nil);
        assert_eq!(
            read(b"*2\r\n*0\r\n$0\r\n\r\n").unwrap(),
            Reply::Array(vec![Reply::Array(vec![]), Reply::Bulk(vec![])])
        );
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
        assert_eq!(read(b"").unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
        assert_eq!(
            read(b"$5\r\nab").unwrap_err().kind(),
            io::ErrorKind::UnexpectedEof
        );
        assert_eq!(
            read(b"*2\r\n:1\r\n").unwrap_err().kind(),
            io::ErrorKind::UnexpectedEof
        );
        assert_eq!(
            read(b"hello\r\n").unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
        assert_eq!(
            read(b"$1\r\nab\r\n").unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
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
