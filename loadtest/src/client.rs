//! A minimal blocking RESP2 connection for the tester and the stress test.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use crate::resp::{self, Value};

/// One TCP connection to the server with buffered reads and a read timeout.
pub struct Client {
    reader: BufReader<TcpStream>,
}

impl Client {
    /// Connects to `addr`. Every later read fails with `WouldBlock`/`TimedOut` if the server
    /// stays silent for `read_timeout`, so a lost reply is reported instead of hanging forever.
    pub fn connect(addr: SocketAddr, read_timeout: Duration) -> io::Result<Client> {
        // A handshake gets 10 s whatever the read timeout: a SYN dropped by a full listen
        // backlog (200 stress clients connecting at once) is retransmitted after 1 s, then 3 s.
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(10))?;
        // Commands are written whole (or deliberately in fragments); Nagle would only add delay.
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(read_timeout))?;
        Ok(Client {
            reader: BufReader::with_capacity(64 * 1024, stream),
        })
    }

    /// The underlying socket, e.g. to write from another thread via `try_clone`.
    pub fn stream(&self) -> &TcpStream {
        self.reader.get_ref()
    }

    /// Writes raw bytes (one or many commands, or a fragment of one).
    pub fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.reader.get_mut().write_all(bytes)
    }

    /// Reads and decodes one reply.
    pub fn read(&mut self) -> io::Result<Value> {
        resp::read_value(&mut self.reader)
    }

    /// Sends one command and reads its reply.
    pub fn call<A: AsRef<[u8]>>(&mut self, args: &[A]) -> io::Result<Value> {
        self.send(&resp::command(args))?;
        self.read()
    }

    /// Reads one reply without decoding it and appends its exact bytes to `raw`, for
    /// byte-for-byte comparisons. On an error (timeout, EOF, garbage) the bytes that did arrive
    /// stay in `raw` so the caller can show them.
    pub fn read_raw_reply(&mut self, raw: &mut Vec<u8>) -> io::Result<()> {
        let start = raw.len();
        self.reader.read_until(b'\n', raw)?;
        let line = &raw[start..];
        if line.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "server closed the connection",
            ));
        }
        if !line.ends_with(b"\r\n") {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "reply line not terminated by CRLF",
            ));
        }
        let count = || -> io::Result<i64> {
            std::str::from_utf8(&line[1..line.len() - 2])
                .ok()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "invalid length"))
        };
        match line[0] {
            b'+' | b'-' | b':' => Ok(()),
            b'$' => {
                let len = count()?;
                if len < 0 {
                    return Ok(());
                }
                let want = len as u64 + 2;
                let got = self.reader.by_ref().take(want).read_to_end(raw)?;
                if (got as u64) < want {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "server closed the connection in the middle of a reply",
                    ));
                }
                Ok(())
            }
            b'*' => {
                for _ in 0..count()?.max(0) {
                    self.read_raw_reply(raw)?;
                }
                Ok(())
            }
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "unknown reply type byte",
            )),
        }
    }

    /// Waits for the server to close the connection. `Ok(extra)` carries any bytes that came
    /// before the EOF (there should be none); an error means the connection stayed open until
    /// the read timeout or failed otherwise.
    pub fn read_until_eof(&mut self) -> io::Result<Vec<u8>> {
        let mut extra = Vec::new();
        loop {
            let chunk = match self.reader.fill_buf() {
                Ok(chunk) => chunk,
                // A reset after the server closed is as good as an EOF for our purposes.
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return Ok(extra),
                Err(e) => return Err(e),
            };
            if chunk.is_empty() {
                return Ok(extra);
            }
            let n = chunk.len();
            extra.extend_from_slice(chunk);
            self.reader.consume(n);
        }
    }
}

/// True if `e` is what a read timeout looks like on this platform.
pub fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}
