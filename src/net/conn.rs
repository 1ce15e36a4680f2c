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

use crate::cmd::{self, Client, Ctx, ReplyMode, Request, Shared};
use crate::config::Settings;
use crate::config::params::{OBUF_NORMAL, OBUF_PUBSUB};
use crate::metrics::stats::bump;
use crate::resp::{Parser, Reply};
use crate::store::Store;
use crate::store::prefetch::BatchPrefetch;
use crate::tracking::ClientTracking;

/// Initial read buffer size, as Redis's PROTO_IOBUF_LEN.
pub const READ_CHUNK: usize = 16 * 1024;
/// A bulk argument with at least this much still to come is read into a buffer grown to
/// exactly its size, not doubled past it (Redis's PROTO_MBULK_BIG_ARG).
const BIG_ARG: usize = 32 * 1024;
/// Buffers larger than this are trimmed when recent use shows they are mostly empty
/// (Redis's PROTO_RESIZE_THRESHOLD).
const RESIZE_THRESHOLD: usize = 32 * 1024;

use crate::resp::reply::FIXED_BUFFER as REPLY_FIXED_BUFFER;
/// Most reply bytes (beyond the fixed buffer) a client that must AUTH may have pending:
/// one that sends many commands without reading the answers is closed (CVE-2025-21605).
const UNAUTHENTICATED_OUTPUT_LIMIT: u64 = 1024;

/// Redis's `checkClientOutputBufferLimits`: true when `pending` reply bytes put the client
/// over its class's hard limit, or over the soft limit for longer than allowed (which
/// this call starts or stops timing).
pub fn output_limit_reached(
    pending: usize,
    client: &mut Client,
    settings: &Settings,
    now_ms: u64,
) -> bool {
    let used = pending.saturating_sub(REPLY_FIXED_BUFFER) as u64;
    if used == 0 {
        client.obuf_soft_since = 0;
        return false;
    }
    if !client.authenticated && used > UNAUTHENTICATED_OUTPUT_LIMIT {
        return true;
    }
    // Redis's client classes: a client listening to any channel is a pub/sub client.
    let class = if client.pubsub.total() > 0 {
        OBUF_PUBSUB
    } else {
        OBUF_NORMAL
    };
    let limit = settings.obuf_limits[class];
    let hard = limit.hard != 0 && used >= limit.hard;
    let mut soft = limit.soft != 0 && used >= limit.soft;
    let now = now_ms / 1000;
    if soft {
        if client.obuf_soft_since == 0 {
            client.obuf_soft_since = now;
            soft = false;
        } else if now - client.obuf_soft_since.min(now) <= limit.soft_seconds {
            soft = false;
        }
    } else {
        client.obuf_soft_since = 0;
    }
    hard || soft
}

/// True for the first word of an HTTP request line or header that Redis treats as an
/// attack: a browser tricked into posting to the RESP port sends `POST` and `Host:`, and
/// the lines after them would otherwise run as commands (cross-protocol scripting).
fn is_http_request_line(name: &[u8]) -> bool {
    name.eq_ignore_ascii_case(b"post") || name.eq_ignore_ascii_case(b"host:")
}

/// Logs Redis's warning about such a request, at most once a minute.
fn warn_cross_protocol_attack(now_ms: u64) {
    use std::sync::atomic::{AtomicU64, Ordering};
    static LAST_LOGGED_S: AtomicU64 = AtomicU64::new(0);
    let now = now_ms / 1000;
    let last = LAST_LOGGED_S.load(Ordering::Relaxed);
    if last == 0 || now.abs_diff(last) > 60 {
        LAST_LOGGED_S.store(now, Ordering::Relaxed);
        log::warn!(
            "Possible SECURITY ATTACK detected. It looks like somebody is sending POST or Host: commands to Redis. This is likely due to an attacker attempting to use Cross Protocol Scripting to compromise your Redis instance. Connection aborted."
        );
    }
}

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
    /// Most bytes the read buffer held since the cron last looked (Redis's querybuf_peak).
    qbuf_peak: usize,
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
            qbuf_peak: 0,
            parser: Parser::new(max_bulk_len),
            writable_armed: false,
            flush_queued: false,
            kill: false,
        }
    }

    /// Reads once from the socket into the buffer, growing it by doubling when full, or to
    /// exactly the size of a big bulk argument being read (a 512 MiB value then needs a
    /// 512 MiB buffer, not a doubled 1 GiB one).
    pub fn read_once(&mut self, shared: &Shared) -> io::Result<ReadResult> {
        if self.filled == self.rbuf.len() {
            let want = match self.parser.bytes_wanted() {
                Some(wanted) if wanted > self.rbuf.len() && wanted - self.filled >= BIG_ARG => {
                    wanted
                }
                _ => (self.rbuf.len() * 2).max(READ_CHUNK),
            };
            // client-query-buffer-limit: most bytes a client may have buffered unparsed.
            let limit = shared.params.settings.query_buffer_limit as usize;
            if want > limit.saturating_add(READ_CHUNK) {
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
                    self.qbuf_peak = self.qbuf_peak.max(self.filled);
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

    /// Adds the keys of (up to 32 of) the complete requests waiting in the read buffer to
    /// the turn's prefetch (see [`crate::store::prefetch`]).
    pub fn prefetch_keys(&self, store: &Store, batch: &mut BatchPrefetch) {
        let Some(pos) = self.parser.idle_position() else {
            return;
        };
        let db = self.client.db;
        if db < store.len() {
            crate::resp::peek_keys(&self.rbuf[pos..self.filled], 32, |key| {
                batch.add(store, db, key)
            });
        }
    }

    /// Executes every complete request in the read buffer, in order. Stops early and
    /// returns a [`Request`] when a command needs the event loop; call again afterwards
    /// to continue with the rest of the buffer.
    pub fn process(&mut self, store: &mut Store, shared: &mut Shared, now: u64) -> Option<Request> {
        self.parser
            .set_max_bulk_len(shared.params.settings.proto_max_bulk_len as usize);
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
        parser.set_unauthenticated(!client.authenticated);
        let mut over_limit = false;
        let mut attack = false;
        // A blocked client's next commands wait in the buffer until it is served.
        while !client.close_after_reply && client.blocked.is_none() && !client.paused {
            match parser.next(input) {
                Ok(Some(source)) => {
                    client.last_active_ms = now;
                    let args = parser.args(input, source);
                    if is_http_request_line(args.get(0)) {
                        warn_cross_protocol_attack(now);
                        attack = true;
                        break;
                    }
                    let mut ctx = Ctx {
                        store,
                        client,
                        out,
                        shared,
                        now,
                    };
                    // A bug in a handler must not take the whole server down: the client
                    // gets an error and is disconnected, everyone else carries on.
                    // CLIENT REPLY OFF / SKIP: the command runs, its replies are dropped.
                    let mode_before = ctx.client.reply_mode;
                    let skip_this = mode_before == ReplyMode::SkipNext;
                    let muted = ctx.client.reply_mode != ReplyMode::On;
                    let mark = ctx.out.mark();
                    if muted {
                        ctx.out.mute();
                    }
                    let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        cmd::execute(&mut ctx, args)
                    }));
                    if muted {
                        if ctx.client.reply_mode == ReplyMode::On {
                            // CLIENT REPLY ON: its +OK goes out.
                            ctx.out.unmute_keep();
                        } else {
                            ctx.out.unmute(mark);
                        }
                        if skip_this && ctx.client.reply_mode == ReplyMode::SkipNext {
                            ctx.client.reply_mode = ReplyMode::On;
                        }
                    }
                    if client.paused {
                        // CLIENT PAUSE holds this command: it stays in the buffer, to run
                        // from the start when the pause ends (a SKIP still applies to it).
                        client.reply_mode = mode_before;
                        parser.unread();
                        break;
                    }
                    if run.is_err() {
                        log::error!("command {:?} panicked; closing {}", args, self.addr);
                        out.error("ERR internal error");
                        client.close_after_reply = true;
                        break;
                    }
                    // Enforced after every command, so a pipeline of big replies stops
                    // as soon as the client is over its limit, not after the whole batch.
                    if output_limit_reached(out.len(), client, &shared.params.settings, now) {
                        over_limit = true;
                        break;
                    }
                    if let Some(r) = shared.request.take() {
                        request = Some(r);
                        break;
                    }
                    // Messages for others, or blocked clients to serve: the loop does that
                    // before this client's next command runs.
                    if shared.loop_work {
                        request = Some(Request::LoopWork);
                        break;
                    }
                    // AUTH may have just succeeded (or CONFIG SET requirepass changed).
                    parser.set_unauthenticated(!client.authenticated);
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
        if over_limit {
            self.close_for_output_limit(now);
            return None;
        }
        if attack {
            // Closed without a reply, and nothing else it sent is run.
            self.kill = true;
            self.filled = 0;
            self.parser.reset();
            return None;
        }
        if request.is_none() {
            self.compact();
        }
        request
    }

    /// Answers every complete request in the read buffer while a script is busy (Redis's
    /// processCommand during a slow script, see [`crate::net::busy::answer`]); true when
    /// SHUTDOWN NOSAVE asked to stop the server. Nothing touches the keyspace.
    pub fn answer_busy(
        &mut self,
        script: &mut crate::net::busy::Script,
        shared: &mut crate::cmd::Shared,
        store: &mut crate::store::Store,
    ) -> bool {
        use crate::net::busy::{Answer, answer};
        let Conn {
            rbuf,
            filled,
            parser,
            out,
            client,
            ..
        } = self;
        let input = &rbuf[..*filled];
        let mut shutdown = false;
        while !client.close_after_reply {
            match parser.next(input) {
                Ok(Some(source)) => {
                    let args = parser.args(input, source);
                    let outcome = answer(script, args, out);
                    if outcome == Answer::Shutdown {
                        shutdown = true;
                    }
                    if let Answer::Run | Answer::Refuse(_) = outcome {
                        let mut ctx = crate::cmd::Ctx {
                            store: &mut *store,
                            client: &mut *client,
                            out: &mut *out,
                            shared: &mut *shared,
                            now: crate::util::now_ms(),
                        };
                        match outcome {
                            Answer::Refuse(busy) => {
                                crate::cmd::transactions::refuse_while_busy(&mut ctx, args, busy)
                            }
                            _ => crate::cmd::execute(&mut ctx, args),
                        }
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    out.error(&e.message());
                    client.close_after_reply = true;
                }
            }
        }
        self.compact();
        shutdown
    }

    /// Schedules the connection to close without writing more, as Redis does with a
    /// client past its output buffer limits; nothing more of its input is run.
    pub fn close_for_output_limit(&mut self, now: u64) {
        log::warn!(
            "Client {} scheduled to be closed ASAP for overcoming of output buffer limits.",
            self.info_line(now, None)
        );
        self.kill = true;
        self.filled = 0;
        self.parser.reset();
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
                    crate::pubsub::record_written(&mut self.out, &shared.stats);
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

    /// Gives back buffer memory the connection does not use (called by the cron once a
    /// second, as Redis's clientsCronResizeQueryBuffer): all of it once the client has been
    /// idle for more than `idle_secs` 2 seconds; while it is busy, the part of a big read
    /// buffer that its recent peak did not need; and the argument table of a request with
    /// very many arguments. Returns the bytes released.
    pub fn resize_buffers(&mut self, idle_secs: u64) -> usize {
        let before = self.rbuf.len() + self.out.capacity();
        let size = self.rbuf.len();
        if size - self.filled > 4096 {
            if idle_secs > 2 {
                if self.filled == 0 && self.parser.is_idle() {
                    self.rbuf = Vec::new();
                    self.parser.reset();
                }
            } else if size > RESIZE_THRESHOLD && size / 2 > self.qbuf_peak {
                // Not below what it holds, its recent peak, or a bulk being read.
                let keep = self
                    .filled
                    .max(self.qbuf_peak)
                    .max(self.parser.bytes_wanted().unwrap_or(0))
                    .max(READ_CHUNK);
                self.rbuf.truncate(keep);
                self.rbuf.shrink_to_fit();
            }
        }
        self.qbuf_peak = self.filled.max(self.parser.bytes_wanted().unwrap_or(0));
        if idle_secs > 2 || self.out.capacity() > RESIZE_THRESHOLD {
            self.out.shrink_if_idle(READ_CHUNK);
        }
        let args = self.parser.shrink();
        before.saturating_sub(self.rbuf.len() + self.out.capacity()) + args
    }

    /// Memory its buffers hold (freed with it when it closes).
    pub fn buffer_bytes(&self) -> usize {
        self.rbuf.len() + self.out.capacity()
    }

    /// CLIENT LIST's `flags=`, in Redis's order (O monitor, P pub/sub, x MULTI, b blocked, c closing after the
    /// reply, A closing at once), or N for none.
    fn flags(&self, tracking: Option<&ClientTracking>) -> String {
        let c = &self.client;
        let mut f = String::new();
        for (on, letter) in [
            (c.monitor, 'O'),
            (c.pubsub.total() > 0, 'P'),
            (c.multi.is_some(), 'x'),
            (c.blocked.is_some() || c.paused, 'b'),
            (tracking.is_some(), 't'),
            (tracking.is_some_and(|t| t.broken_redirect), 'R'),
            (tracking.is_some_and(|t| t.bcast), 'B'),
            (c.close_after_reply, 'c'),
            (self.kill, 'A'),
            (c.no_evict, 'e'),
        ] {
            if on {
                f.push(letter);
            }
        }
        if f.is_empty() {
            f.push('N');
        }
        f
    }

    /// The CLIENT LIST line of this connection (Redis 7.2's format).
    pub fn info_line(&self, now: u64, tracking: Option<&ClientTracking>) -> String {
        let c = &self.client;
        let last_cmd = cmd::last_command_name(c.last_command);
        let printable = |v: &[u8]| String::from_utf8_lossy(v).into_owned();
        let pending = self.out.len();
        let beyond = pending.saturating_sub(REPLY_FIXED_BUFFER);
        format!(
            "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={} db={} sub={} psub={} ssub={} multi={} qbuf={} qbuf-free={} argv-mem=0 multi-mem=0 rbs={} rbp=0 obl={} oll={} omem={} tot-mem={} events=r{} cmd={} user=default redir={} resp={} lib-name={} lib-ver={}",
            c.id,
            self.addr,
            self.laddr,
            raw_fd(&self.stream),
            printable(&c.name),
            now.saturating_sub(c.created_ms) / 1000,
            now.saturating_sub(c.last_active_ms) / 1000,
            self.flags(tracking),
            c.db,
            c.pubsub.channels.len(),
            c.pubsub.patterns.len(),
            c.pubsub.shard.len(),
            c.multi.as_ref().map_or(-1, |m| m.len() as i64),
            self.filled,
            self.rbuf.len() - self.filled,
            self.rbuf.len(),
            // As Redis counts them: pending replies fill its fixed 16 KiB buffer (obl)
            // first, then a list of 16 KiB blocks (oll) whose bytes are omem.
            pending.min(REPLY_FIXED_BUFFER),
            beyond.div_ceil(REPLY_FIXED_BUFFER),
            beyond,
            self.rbuf.len() + self.out.capacity(),
            if self.writable_armed { "w" } else { "" },
            last_cmd,
            tracking.map_or(-1, |t| t.redirect as i64),
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
