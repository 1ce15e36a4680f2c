//! The metrics endpoint's HTTP/1.1 server: one thread, one mio poll, a bounded number of
//! connections, and deadlines so that no connection stays open for nothing.
//!
//! tiny_http's `Server` cannot be bounded, so it is not used (issue 9): its accept thread
//! hands every connection to an internal task pool that starts a thread whenever none is
//! free, with no limit (1,000 idle connections made about 1,000 threads), and that thread
//! then blocks reading the connection, with no timeout; a failed thread spawn panics the
//! accept thread, and an accept error (EMFILE) ends it, so /metrics was gone for good. Its
//! listener type is a closed enum (TCP or Unix socket) and the part that reads requests
//! from a socket (`ClientConnection`) is private, so there is nothing to plug a bound into.
//! tiny_http still writes every response (`Response::raw_print`: status line, `Date` and
//! `Server` headers, `Content-Length` or chunked, no body for HEAD), and parses methods and
//! header lines, so the answers are the same bytes as before.
//!
//! Here idle connections cost a file descriptor and a few bytes, not a thread: the poll
//! tells which connections have something to read. A request is answered on this thread
//! (a render takes about 0.2 ms) and written without blocking; what the socket does not
//! take is kept and written when it becomes writable.

use std::convert::Infallible;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener as StdListener};
use std::panic::{self, AssertUnwindSafe};
use std::thread;
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use slab::Slab;
use tiny_http::{HTTPVersion, Header, Method, Response, ResponseBox};

/// How many connections the endpoint keeps and for how long.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Most connections open at once. When one more arrives, the connection that has been
    /// quiet longest (and is not being answered) is closed to make room, as nginx does with
    /// idle keep-alive connections: a flood of idle connections cannot lock a scraper out,
    /// and costs at most this many descriptors.
    pub max_connections: usize,
    /// A connection is closed when it has not completed a request for this long: since it
    /// was accepted, or since its last response was written. Bytes of an unfinished request
    /// do not restart the clock, so a client that sends a request slowly is closed too.
    pub idle_timeout: Duration,
}

/// Scrapers need one connection each (Prometheus keeps one per target); 64 leaves room for
/// several Prometheus servers, Grafana agents and curl, and bounds the memory of responses
/// waiting on clients that do not read them.
pub const DEFAULT_MAX_CONNECTIONS: usize = 64;

/// Prometheus scrapes every 5 to 15 s in usual setups (the stack in monitoring/ uses 5 s)
/// and keeps its connection open between scrapes; 30 s keeps those connections open, so a
/// scrape costs no new connection. A longer interval (Prometheus's default is 1 min) finds
/// its connection closed and opens a new one, which Go's HTTP client does by itself (it
/// retries a GET that meets a connection the server closed while idle). Shorter would
/// reconnect for every scrape; longer would keep abandoned connections longer, though the
/// connection bound already caps what they cost.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_connections: DEFAULT_MAX_CONNECTIONS,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
        }
    }
}

/// The longest request head (request line and headers) read; longer ones get 431.
const MAX_HEAD: usize = 8 * 1024;

/// The longest request body read (and thrown away) to keep a connection open; a request
/// with a longer body, a chunked one, or one that expects `100 Continue` is answered, then
/// its connection closed.
const MAX_BODY: usize = 64 * 1024;

/// Connections accepted per loop turn before the others are served.
const ACCEPT_BATCH: usize = 64;

/// The pause before accepting again after an accept error such as EMFILE.
const ACCEPT_RETRY: Duration = Duration::from_millis(100);

/// The pause before serving again after the poll failed or the loop panicked.
const RESTART_PAUSE: Duration = Duration::from_secs(1);

/// Warnings about the same condition (accept errors, the connection bound) are logged at
/// most this often.
const WARN_EVERY: Duration = Duration::from_secs(60);

const LISTENER: Token = Token(usize::MAX);

/// The head of one request.
pub struct Request {
    pub method: Method,
    /// The request target as sent, query string included.
    pub url: String,
    pub version: HTTPVersion,
    pub headers: Vec<Header>,
}

/// What answers a request.
pub type Handler<'a> = &'a dyn Fn(&Request) -> ResponseBox;

/// Serves `listener` with `handler` for the life of the process.
///
/// Nothing here ends the endpoint: I/O errors close the connection concerned (accept errors
/// pause accepting for 100 ms), a panic in `handler` answers that request with 500, and if
/// the loop itself fails or panics it is logged and started again on the same listener.
pub fn run(listener: StdListener, limits: Limits, handler: Handler<'_>) -> ! {
    let limits = Limits {
        max_connections: limits.max_connections.max(1),
        ..limits
    };
    loop {
        match panic::catch_unwind(AssertUnwindSafe(|| serve(&listener, limits, handler))) {
            Ok(Err(e)) => log::error!("metrics endpoint failed: {e}; restarting it"),
            Err(_) => log::error!("metrics endpoint panicked; restarting it"),
        }
        thread::sleep(RESTART_PAUSE);
    }
}

/// The event loop; returns only on an error of the poll itself.
fn serve(listener: &StdListener, limits: Limits, handler: Handler<'_>) -> io::Result<Infallible> {
    let poll = Poll::new()?;
    listener.set_nonblocking(true)?;
    let mut listener = TcpListener::from_std(listener.try_clone()?);
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    let mut server = Endpoint {
        poll,
        listener,
        conns: Slab::with_capacity(limits.max_connections),
        limits,
        // Connections may be waiting already (after a restart).
        accept_at: Some(Instant::now()),
        accept_warned: None,
        full_warned: None,
    };
    let mut events = Events::with_capacity(256);
    loop {
        let now = Instant::now();
        let wake = server.conns.iter().map(|(_, c)| c.deadline);
        let timeout = wake
            .chain(server.accept_at)
            .min()
            .map(|at| at.saturating_duration_since(now));
        if let Err(e) = server.poll.poll(&mut events, timeout) {
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        for event in &events {
            match event.token() {
                LISTENER => server.accept_at = Some(Instant::now()),
                Token(key) => {
                    let keep = match server.conns.get_mut(key) {
                        Some(conn) => conn.drive(handler, limits.idle_timeout),
                        None => continue,
                    };
                    if !keep {
                        server.close(key);
                    }
                }
            }
        }
        let now = Instant::now();
        if server.accept_at.is_some_and(|at| at <= now) {
            server.accept();
        }
        server.close_expired(now);
    }
}

/// The state of the event loop.
struct Endpoint {
    poll: Poll,
    listener: TcpListener,
    conns: Slab<Conn>,
    limits: Limits,
    /// When to accept next: set by a readable listener, a full batch, or an accept error.
    accept_at: Option<Instant>,
    /// When an accept error was last logged.
    accept_warned: Option<Instant>,
    /// When reaching the connection bound was last logged.
    full_warned: Option<Instant>,
}

impl Endpoint {
    fn accept(&mut self) {
        self.accept_at = None;
        for _ in 0..ACCEPT_BATCH {
            match self.listener.accept() {
                Ok((stream, addr)) => self.admit(stream, addr),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::Interrupted | io::ErrorKind::ConnectionAborted
                    ) => {}
                Err(e) => {
                    // EMFILE, ENFILE, ENOBUFS...: retry later instead of spinning on a
                    // listener that stays readable, and keep serving the others.
                    if due(&mut self.accept_warned, WARN_EVERY) {
                        log::warn!("metrics endpoint: accept failed: {e}; retrying in 100 ms");
                    }
                    self.accept_at = Some(Instant::now() + ACCEPT_RETRY);
                    return;
                }
            }
        }
        // A full batch: more may be waiting, and no new readiness event will say so.
        self.accept_at = Some(Instant::now());
    }

    /// Takes a new connection, closing the quietest one first if the bound is reached.
    fn admit(&mut self, mut stream: TcpStream, addr: SocketAddr) {
        if self.conns.len() >= self.limits.max_connections {
            if due(&mut self.full_warned, WARN_EVERY) {
                log::warn!(
                    "metrics endpoint: {} connections open; closing the idle ones to admit new ones",
                    self.conns.len()
                );
            }
            let quietest = self
                .conns
                .iter()
                .filter(|(_, c)| !c.answering())
                .min_by_key(|(_, c)| c.deadline)
                .map(|(key, _)| key);
            match quietest {
                Some(key) => {
                    log::debug!("metrics endpoint: closing connection {key} to admit {addr}");
                    self.close(key);
                }
                None => {
                    log::debug!("metrics endpoint: refused {addr}: every connection is busy");
                    return;
                }
            }
        }
        let entry = self.conns.vacant_entry();
        let token = Token(entry.key());
        let interest = Interest::READABLE | Interest::WRITABLE;
        if let Err(e) = self.poll.registry().register(&mut stream, token, interest) {
            log::warn!("metrics endpoint: cannot register {addr}: {e}");
            return;
        }
        entry.insert(Conn::new(stream, Instant::now() + self.limits.idle_timeout));
    }

    fn close(&mut self, key: usize) {
        if let Some(mut conn) = self.conns.try_remove(key) {
            // Closing the socket would remove it from the poll anyway.
            let _ = self.poll.registry().deregister(&mut conn.stream);
        }
    }

    fn close_expired(&mut self, now: Instant) {
        let expired: Vec<usize> = self
            .conns
            .iter()
            .filter(|(_, c)| c.deadline <= now)
            .map(|(key, _)| key)
            .collect();
        for key in expired {
            log::debug!("metrics endpoint: connection {key} timed out");
            self.close(key);
        }
    }
}

/// True, and notes the time, if `last` is more than `every` ago (or never).
fn due(last: &mut Option<Instant>, every: Duration) -> bool {
    let now = Instant::now();
    if last.is_some_and(|t| now.duration_since(t) < every) {
        return false;
    }
    *last = Some(now);
    true
}

/// One client connection.
struct Conn {
    stream: TcpStream,
    /// Bytes read and not yet used: the next request head, or a part of it.
    input: Vec<u8>,
    /// The answers not yet written, from `sent` on.
    output: Vec<u8>,
    sent: usize,
    /// Bytes of the last request's body still to read and throw away.
    skip: usize,
    /// The connection is closed at this instant (see [`Limits::idle_timeout`]).
    deadline: Instant,
    /// Close once `output` is written.
    close_after: bool,
    /// The client sent its last byte.
    eof: bool,
}

impl Conn {
    fn new(stream: TcpStream, deadline: Instant) -> Conn {
        Conn {
            stream,
            input: Vec::new(),
            output: Vec::new(),
            sent: 0,
            skip: 0,
            deadline,
            close_after: false,
            eof: false,
        }
    }

    /// A response is being written.
    fn answering(&self) -> bool {
        self.sent < self.output.len()
    }

    /// Writes what is pending, then reads and answers requests one at a time until the
    /// socket would block. Returns false when the connection is to be closed.
    fn drive(&mut self, handler: Handler<'_>, idle_timeout: Duration) -> bool {
        let mut buf = [0u8; 4096];
        loop {
            // 1. Finish the answer in progress; nothing more is read until it is out, so a
            //    client that sends requests without reading answers holds one answer at most.
            while self.answering() {
                match self.stream.write(&self.output[self.sent..]) {
                    Ok(0) => return false,
                    Ok(n) => self.sent += n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        log::debug!("metrics endpoint: write failed: {e}");
                        return false;
                    }
                }
            }
            if !self.output.is_empty() {
                // Answered: idle again. (A large answer's buffer is not kept.)
                self.output = Vec::new();
                self.sent = 0;
                self.deadline = Instant::now() + idle_timeout;
            }
            if self.close_after {
                return false;
            }
            // 2. Throw away the body of the request just answered.
            let n = self.skip.min(self.input.len());
            self.input.drain(..n);
            self.skip -= n;
            // 3. Answer the next request once its head is complete.
            if self.skip == 0 {
                // Empty lines before a request line are ignored (RFC 9112, 2.2).
                let blank = self.input.iter().take_while(|b| matches!(b, b'\r' | b'\n'));
                let blank = blank.count();
                self.input.drain(..blank);
                if let Some(end) = head_end(&self.input) {
                    let answer = answer(&self.input[..end], handler);
                    self.input.drain(..end);
                    self.output = answer.bytes;
                    self.skip = answer.body;
                    self.close_after = answer.close;
                    // The time to write the answer (and read the body).
                    self.deadline = Instant::now() + idle_timeout;
                    continue;
                }
                if self.input.len() >= MAX_HEAD {
                    let refusal = Refusal::new(431, HTTPVersion(1, 1));
                    self.output = refusal.answer().bytes;
                    self.close_after = true;
                    continue;
                }
            }
            if self.eof {
                return false;
            }
            // 4. Read more (while skipping a body, `input` is empty).
            let room = if self.skip > 0 {
                buf.len()
            } else {
                buf.len().min(MAX_HEAD - self.input.len())
            };
            match self.stream.read(&mut buf[..room]) {
                Ok(0) => self.eof = true,
                Ok(n) => self.input.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    log::debug!("metrics endpoint: read failed: {e}");
                    return false;
                }
            }
        }
    }
}

/// The length of the request head at the start of `input` (through its empty line), if
/// all of it is there.
fn head_end(input: &[u8]) -> Option<usize> {
    input
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| i + 4)
}

/// The bytes that answer one request, and what happens to the connection after them.
struct Answer {
    bytes: Vec<u8>,
    /// Body bytes that follow the head and are to be thrown away.
    body: usize,
    /// Close the connection once the answer is written.
    close: bool,
}

/// Answers the request whose head is `head` (which ends with its empty line).
fn answer(head: &[u8], handler: Handler<'_>) -> Answer {
    let request = match parse(head) {
        Ok(r) => r,
        Err(refusal) => return refusal.answer(),
    };
    let find = |name: &'static str| {
        let header = request.headers.iter().find(|h| h.field.equiv(name));
        header.map(|h| h.value.as_str())
    };
    let length = match find("Content-Length").map(|v| v.trim().parse::<usize>()) {
        None => 0,
        Some(Ok(n)) => n,
        Some(Err(_)) => return Refusal::new(400, request.version).answer(),
    };
    let mut close = !keep_alive(&request);
    let mut body = length;
    if find("Transfer-Encoding").is_some() || find("Expect").is_some() || length > MAX_BODY {
        // Nothing here needs a body: answer, and close rather than read it.
        close = true;
        body = 0;
    }
    let response = match panic::catch_unwind(AssertUnwindSafe(|| handler(&request))) {
        Ok(r) => r,
        Err(_) => {
            log::error!("metrics endpoint: panic answering {}", request.url);
            Response::from_string("internal error\n")
                .with_status_code(500)
                .boxed()
        }
    };
    let head_only = request.method == Method::Head;
    Answer {
        bytes: print(response, request.version, &request.headers, head_only),
        body,
        close,
    }
}

/// tiny_http's rule (`ClientConnection`): HTTP/1.1 keeps the connection unless the client
/// says `Connection: close`; HTTP/1.0 closes it unless the client says `keep-alive`.
fn keep_alive(request: &Request) -> bool {
    let connection = request
        .headers
        .iter()
        .find(|h| h.field.equiv("Connection"))
        .map(|h| h.value.as_str().to_ascii_lowercase());
    let old = request.version == HTTPVersion(1, 0);
    match connection {
        Some(v) if v.contains("close") || v.contains("upgrade") => false,
        Some(v) => !old || v.contains("keep-alive"),
        None => !old,
    }
}

/// The bytes of `response` to a request of `version` with `request_headers`.
fn print(
    response: ResponseBox,
    version: HTTPVersion,
    request_headers: &[Header],
    head_only: bool,
) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(256 + response.data_length().unwrap_or(0));
    // Writing to a Vec from an in-memory body cannot fail.
    if let Err(e) = response.raw_print(&mut bytes, version, request_headers, head_only, None) {
        log::error!("metrics endpoint: cannot encode a response: {e}");
    }
    bytes
}

/// A request refused before it reaches the handler; the connection is closed after it.
///
/// Like every answer here it has no `Connection: close` header: tiny_http's `Response`
/// does not let one be set, and it never sent one before either (closing is allowed
/// without it; clients retry a GET that meets a closed connection).
struct Refusal {
    status: u16,
    version: HTTPVersion,
}

impl Refusal {
    fn new(status: u16, version: HTTPVersion) -> Refusal {
        Refusal { status, version }
    }

    fn answer(self) -> Answer {
        let response = if self.status == 505 {
            Response::from_string("This server only supports HTTP versions 1.0 and 1.1")
                .with_status_code(505)
                .boxed()
        } else {
            Response::empty(self.status).boxed()
        };
        Answer {
            bytes: print(response, self.version, &[], false),
            body: 0,
            close: true,
        }
    }
}

/// Parses a request head as tiny_http does: `METHOD TARGET VERSION`, then header lines.
fn parse(head: &[u8]) -> Result<Request, Refusal> {
    let bad_line = || Refusal::new(400, HTTPVersion(1, 1));
    let text = std::str::from_utf8(head).map_err(|_| bad_line())?;
    if !text.is_ascii() {
        return Err(bad_line());
    }
    let mut lines = text.split("\r\n");
    let mut parts = lines.next().unwrap_or_default().trim().split(' ');
    let method = parts.next().and_then(|m| m.parse::<Method>().ok());
    let url = parts.next();
    let version = parts.next().and_then(version);
    let (Some(method), Some(url), Some(version)) = (method, url, version) else {
        return Err(bad_line());
    };
    let mut headers = Vec::new();
    for line in lines.take_while(|l| !l.is_empty()) {
        let header = line.trim().parse::<Header>();
        headers.push(header.map_err(|()| Refusal::new(400, version.clone()))?);
    }
    if version > (1, 1) {
        return Err(Refusal::new(505, HTTPVersion(1, 1)));
    }
    Ok(Request {
        method,
        url: url.to_string(),
        version,
        headers,
    })
}

fn version(s: &str) -> Option<HTTPVersion> {
    let (major, minor) = match s {
        "HTTP/0.9" => (0, 9),
        "HTTP/1.0" => (1, 0),
        "HTTP/1.1" => (1, 1),
        "HTTP/2.0" => (2, 0),
        "HTTP/3.0" => (3, 0),
        _ => return None,
    };
    Some(HTTPVersion(major, minor))
}

/// A header from constant ASCII text (cannot fail for the values used here).
pub fn header(name: &str, value: &str) -> Header {
    Header::from_bytes(name, value).unwrap_or_else(|()| panic!("invalid header {name}: {value}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Answers every request with its method and target.
    fn echo(request: &Request) -> ResponseBox {
        Response::from_string(format!("{} {}", request.method, request.url)).boxed()
    }

    fn text(a: &Answer) -> String {
        String::from_utf8(a.bytes.clone()).expect("ASCII answer")
    }

    #[test]
    fn a_request_is_answered_by_the_handler_and_keeps_the_connection() {
        let a = answer(b"GET /metrics?x=1 HTTP/1.1\r\nHost: h\r\n\r\n", &echo);
        let t = text(&a);
        assert!(t.starts_with("HTTP/1.1 200 OK\r\n"), "{t}");
        assert!(t.contains("\r\nContent-Length: 16\r\n"), "{t}");
        assert!(t.ends_with("\r\n\r\nGET /metrics?x=1"), "{t}");
        assert!(!a.close);
        assert_eq!(a.body, 0);
    }

    #[test]
    fn head_gets_the_headers_only() {
        let a = answer(b"HEAD /metrics HTTP/1.1\r\n\r\n", &echo);
        let t = text(&a);
        assert!(t.contains("\r\nContent-Length: 13\r\n"), "{t}");
        assert!(t.ends_with("\r\n\r\n"), "{t}");
    }

    #[test]
    fn keep_alive_follows_the_version_and_the_connection_header() {
        for (head, close) in [
            (&b"GET / HTTP/1.1\r\n\r\n"[..], false),
            (b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n", true),
            (b"GET / HTTP/1.0\r\n\r\n", true),
            (b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", false),
        ] {
            let a = answer(head, &echo);
            assert_eq!(a.close, close, "{}", String::from_utf8_lossy(head));
        }
    }

    #[test]
    fn a_small_body_is_skipped_and_others_close_the_connection() {
        let a = answer(b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\n", &echo);
        assert_eq!((a.body, a.close), (5, false));
        let a = answer(b"POST / HTTP/1.1\r\nContent-Length: 999999\r\n\r\n", &echo);
        assert_eq!((a.body, a.close), (0, true));
        let a = answer(
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
            &echo,
        );
        assert_eq!((a.body, a.close), (0, true));
        let a = answer(b"POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n", &echo);
        assert!(text(&a).starts_with("HTTP/1.1 400 "));
    }

    #[test]
    fn malformed_requests_get_400_or_505_and_a_close() {
        for (head, status) in [
            (&b"GET\r\n\r\n"[..], "400"),
            (b"GET / HTTP/9.9\r\n\r\n", "400"),
            (b"GET / HTTP/1.1\r\nno colon\r\n\r\n", "400"),
            (b"GET /\xff HTTP/1.1\r\n\r\n", "400"),
            (b"GET / HTTP/2.0\r\n\r\n", "505"),
        ] {
            let a = answer(head, &echo);
            let t = text(&a);
            assert!(t.starts_with(&format!("HTTP/1.1 {status} ")), "{t}");
            assert!(a.close);
        }
    }

    #[test]
    fn a_panicking_handler_gives_500() {
        let a = answer(b"GET / HTTP/1.1\r\n\r\n", &|_| panic!("boom"));
        assert!(text(&a).starts_with("HTTP/1.1 500 "), "{}", text(&a));
    }

    #[test]
    fn the_head_ends_at_the_first_empty_line() {
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nA: b\r\n\r\nGET"), Some(24));
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nA: b\r\n"), None);
    }
}
