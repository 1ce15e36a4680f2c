//! One client connection: its socket, read buffer, incremental parser, reply buffer and
//! the state commands see ([`Client`]).
//!
//! Reading, parsing and writing are plain buffer operations: one `read` per readiness
//! event, every complete request in the buffer executed in order (pipelining), a partial
//! request kept for the next read (fragmentation), and replies appended to one buffer
//! that the reactor writes once per loop turn.

use std::io::{self, Read, Write};
use std::net::SocketAddr;

use mio::net::TcpStream;

use crate::cmd::{self, Client, Ctx, Request, Shared};
use crate::metrics::stats::bump;
use crate::resp::{Parser, Reply};
use crate::store::Store;

/// Initial read buffer size, as Redis's PROTO_IOBUF_LEN.
pub const READ_CHUNK: usize = 16 * 1024;
/// Most bytes a client may have buffered unparsed (Redis's client-query-buffer-limit).
pub const QUERY_BUFFER_LIMIT: usize = 1024 * 1024 * 1024;

/// What a read attempt found.
#[derive(Debug, PartialEq, Eq)]
pub enum ReadResult {
    /// Bytes arrived; `full` means the buffer filled up, so the kernel may hold more.
    Data { full: bool },
    /// Nothing to read now.
    WouldBlock,
    /// The peer closed the connection.
    Closed,
}

/// A client connection.
#[derive(Debug)]
pub struct Conn {
    /// The socket.
    pub stream: TcpStream,
    /// Peer address.
    pub addr: SocketAddr,
    /// Local address.
    pub laddr: SocketAddr,
    /// State visible to commands.
    pub client: Client,
    /// Replies waiting to be written.
    pub out: Reply,
    /// Read buffer; `rbuf[..filled]` holds received bytes. Allocated on first read and
    /// released when idle, so idle connections cost little.
    rbuf: Vec<u8>,
    filled: usize,
    parser: Parser,
    /// WRITABLE interest is registered (only while replies are left over).
    pub writable_armed: bool,
    /// Queued in the reactor's list of connections to flush this turn.
    pub flush_queued: bool,
    /// Close without writing anything more (CLIENT KILL, output limit, I/O error).
    pub kill: bool,
}

impl Conn {
    /// Wraps an accepted socket.
    pub fn new(stream: TcpStream, addr: SocketAddr, client: Client, max_bulk_len: usize) -> Conn {
        let laddr = stream.local_addr().unwrap_or(addr);
        Conn {
            stream,
            addr,
            laddr,
            client,
            out: Reply::new(),
            rbuf: Vec::new(),
            filled: 0,
            parser: Parser::new(max_bulk_len),
            writable_armed: false,
            flush_queued: false,
            kill: false,
        }
    }

    /// Reads once from the socket into the buffer, growing it by doubling when full.
    pub fn read_once(&mut self, shared: &Shared) -> io::Result<ReadResult> {
        if self.filled == self.rbuf.len() {
            let want = (self.rbuf.len() * 2).max(READ_CHUNK);
            if want > QUERY_BUFFER_LIMIT + READ_CHUNK {
                return Err(io::Error::other("query buffer limit reached"));
            }
            self.rbuf.resize(want, 0);
        }
        loop {
            match self.stream.read(&mut self.rbuf[self.filled..]) {
                Ok(0) => return Ok(ReadResult::Closed),
                Ok(n) => {
                    let full = self.filled + n == self.rbuf.len();
                    self.filled += n;
                    bump(&shared.stats.net_input_bytes, n as u64);
                    return Ok(ReadResult::Data { full });
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return Ok(ReadResult::WouldBlock);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Prefetches the entries of the keys of (up to 32 of) the complete requests waiting in
    /// the read buffer; see [`crate::store::Db::prefetch`].
    pub fn prefetch_keys(&self, store: &Store) {
        let Some(pos) = self.parser.idle_position() else {
            return;
        };
        if self.client.db < store.len() {
            let db = store.db_ref(self.client.db);
            crate::resp::peek_keys(&self.rbuf[pos..self.filled], 32, |key| db.prefetch(key));
        }
    }

    /// Executes every complete request in the read buffer, in order. Stops early and
    /// returns a [`Request`] when a command needs the event loop; call again afterwards
    /// to continue with the rest of the buffer.
    pub fn process(&mut self, store: &mut Store, shared: &mut Shared, now: u64) -> Option<Request> {
        self.parser
            .set_max_bulk_len(shared.config.proto_max_bulk_len as usize);
        let Conn {
            rbuf,
            filled,
            parser,
            client,
            out,
            ..
        } = self;
        let input = &rbuf[..*filled];
        let mut request = None;
        while !client.close_after_reply {
            match parser.next(input) {
                Ok(Some(source)) => {
                    client.last_active_ms = now;
                    let args = parser.args(input, source);
                    let mut ctx = Ctx {
                        store,
                        client,
                        out,
                        shared,
                        now,
                    };
                    // A bug in a handler must not take the whole server down: the client
                    // gets an error and is disconnected, everyone else carries on.
                    let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        cmd::execute(&mut ctx, args)
                    }));
                    if run.is_err() {
                        log::error!("command {:?} panicked; closing {}", args, self.addr);
                        out.error("ERR internal error");
                        client.close_after_reply = true;
                        break;
                    }
                    if let Some(r) = shared.request.take() {
                        request = Some(r);
                        break;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    out.error(&e.message());
                    client.close_after_reply = true;
                    bump(&shared.stats.protocol_errors, 1);
                    log::debug!("protocol error from {}: {}", self.addr, e.message());
                    break;
                }
            }
        }
        if request.is_none() {
            self.compact();
        }
        request
    }

    /// Drops consumed bytes from the front of the read buffer.
    fn compact(&mut self) {
        if self.client.close_after_reply {
            // Nothing more will be parsed: discard the rest of the input.
            self.filled = 0;
            self.parser.reset();
            return;
        }
        let consumed = self.parser.consumed();
        if consumed == 0 {
            return;
        }
        self.rbuf.copy_within(consumed..self.filled, 0);
        self.filled -= consumed;
        self.parser.rebase(consumed);
    }

    /// Writes pending replies with one `write` call. Returns true when everything is out.
    pub fn flush(&mut self, shared: &Shared) -> io::Result<bool> {
        while !self.out.is_empty() {
            match self.stream.write(self.out.bytes()) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.out.consume(n);
                    bump(&shared.stats.net_output_bytes, n as u64);
                    // A short write means the socket buffer is full: stop, wait for WRITABLE.
                    return Ok(self.out.is_empty());
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }

    /// Bytes received and not yet parsed (CLIENT LIST qbuf).
    pub fn query_buffer_len(&self) -> usize {
        self.filled
    }

    /// Read buffer capacity (CLIENT LIST qbuf-free is capacity minus qbuf).
    pub fn query_buffer_capacity(&self) -> usize {
        self.rbuf.len()
    }

    /// Frees buffers of a connection that is idle (called by the cron).
    pub fn release_idle_buffers(&mut self) {
        if self.filled == 0 && self.parser.is_idle() && !self.rbuf.is_empty() {
            self.rbuf = Vec::new();
            self.parser.reset();
        }
        self.out.shrink_if_idle(READ_CHUNK);
    }

    /// The CLIENT LIST line of this connection (Redis 7.2's format).
    pub fn info_line(&self, now: u64) -> String {
        let c = &self.client;
        let last_cmd = c.last_command.full_name();
        let printable = |v: &[u8]| String::from_utf8_lossy(v).into_owned();
        format!(
            "id={} addr={} laddr={} fd={} name={} age={} idle={} flags=N db={} sub=0 psub=0 ssub=0 multi=-1 qbuf={} qbuf-free={} argv-mem=0 multi-mem=0 rbs={} rbp=0 obl=0 oll=0 omem={} tot-mem={} events=r{} cmd={} user=default redir=-1 resp={} lib-name={} lib-ver={}",
            c.id,
            self.addr,
            self.laddr,
            raw_fd(&self.stream),
            printable(&c.name),
            now.saturating_sub(c.created_ms) / 1000,
            now.saturating_sub(c.last_active_ms) / 1000,
            c.db,
            self.filled,
            self.rbuf.len() - self.filled,
            self.rbuf.len(),
            self.out.capacity(),
            self.rbuf.len() + self.out.capacity(),
            if self.writable_armed { "w" } else { "" },
            last_cmd,
            if self.out.is_resp3() { 3 } else { 2 },
            printable(&c.lib_name),
            printable(&c.lib_ver),
        )
    }
}

#[cfg(unix)]
fn raw_fd(s: &TcpStream) -> i32 {
    use std::os::fd::AsRawFd;
    s.as_raw_fd()
}

#[cfg(not(unix))]
fn raw_fd(_: &TcpStream) -> i32 {
    -1
}
