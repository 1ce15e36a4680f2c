//! `pubsub`: speed of message delivery, in two scenarios that work against any RESP2 server.
//!
//! - `publish`: S subscriber connections SUBSCRIBE to one channel (the run starts once PUBSUB
//!   NUMSUB counts all of them), then P publisher connections PUBLISH, PIPE commands per
//!   write, closed-loop. The figure that matters is messages DELIVERED per second: every
//!   message a subscriber received, divided by the time from the start to the last delivery.
//!   With S = 100 that is fan-out, where the server writes each message a hundred times.
//! - `queue`: N producers LPUSH jobs onto one list (closed-loop, PIPE per write) and N consumers
//!   loop on BRPOP. Each job carries the time its LPUSH was written, so a consumer knows how
//!   long the hand-off took, up to the moment the BRPOP reply arrived; the percentiles come
//!   from an HDR histogram.
//!
//! Both are bounded: publishing stops after DURATION (or COUNT messages), then the receivers
//! drain for at most DRAIN seconds. Senders also pause while the receivers are more than
//! MAX_BACKLOG messages behind, so a server cannot be buried under a queue it never catches up
//! with (Redis would then drop a subscriber whose output buffer passes its pubsub limit, and
//! the figure would measure memory, not delivery).
//!
//! Every payload names its sender and sequence number, so the counts are checked, not
//! assumed: each subscriber must see each publisher's messages exactly once and in order, and
//! each job must be popped exactly once. Any loss, duplicate or error makes the exit status
//! non-zero.
//!
//! All connections share one mio poll on one thread: the comparison script pins the load to
//! one CPU, where threads would only take turns, and one loop keeps the backlog bound exact.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::{Args, Parser, Subcommand};
use hdrhistogram::Histogram;
use loadtest::client::Client;
use loadtest::resp::{Value, encode_command, escape_short, push_decimal, reply_len};
use loadtest::settings::{self, DEFAULT_HOST, parse_seconds};
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

/// Pub/sub and blocking-queue delivery speed against any RESP2 server; exits non-zero if any
/// message is lost, duplicated or answered with an error.
#[derive(Parser, Debug)]
#[command(name = "pubsub", version)]
struct Cli {
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Subcommand, Debug)]
enum Scenario {
    /// PUBLISH from P publishers to S subscribers of one channel; reports delivered messages/s.
    Publish(PublishArgs),
    /// LPUSH from N producers, BRPOP by N consumers; reports jobs/s and hand-off latency.
    Queue(QueueArgs),
}

/// Settings both scenarios share.
#[derive(Args, Debug, Clone)]
struct Common {
    /// Server address as host:port (a bare host means port 6374).
    #[arg(long, env = "HOST", default_value = DEFAULT_HOST)]
    host: String,
    /// Seconds to keep sending (`5`, `2.5` or `5s`).
    #[arg(long, env = "DURATION", default_value = "5", value_parser = parse_seconds)]
    duration: Duration,
    /// Stop sending after this many messages or jobs in all (whichever of COUNT and DURATION
    /// comes first).
    #[arg(long, env = "COUNT", value_parser = clap::value_parser!(u64).range(1..))]
    count: Option<u64>,
    /// Most messages (per subscriber) or jobs sent but not yet received; senders pause above.
    #[arg(long, env = "MAX_BACKLOG", value_parser = clap::value_parser!(u64).range(1..))]
    max_backlog: Option<u64>,
    /// Seconds the receivers get, once sending stopped, to receive what is still on its way.
    #[arg(long, default_value = "5", value_parser = parse_seconds)]
    drain: Duration,
    /// Read timeout in milliseconds: how long a sent command may wait for its reply.
    #[arg(long = "rt", env = "RT", default_value_t = 5000,
          value_parser = clap::value_parser!(u64).range(1..))]
    rt_ms: u64,
    /// Print the final summary as JSON on stdout instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
struct PublishArgs {
    #[command(flatten)]
    common: Common,
    /// Subscriber connections, all on one channel.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    subscribers: u64,
    /// Publisher connections. With the default pipeline, 512 PUBLISHes are in flight: enough
    /// to keep a server busy, where 64 would mostly measure round trips.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    publishers: u64,
    /// PUBLISH commands per write (pipeline depth) on each publisher connection.
    #[arg(long, env = "PIPE", default_value_t = 64,
          value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pipe: u64,
    /// Message size in bytes; at least 12 (publisher number and sequence number).
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u64).range(12..=1 << 24))]
    payload: u64,
}

#[derive(Args, Debug)]
struct QueueArgs {
    #[command(flatten)]
    common: Common,
    /// Producer connections (LPUSH).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    producers: u64,
    /// Consumer connections (BRPOP), each with one BRPOP waiting at a time.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    consumers: u64,
    /// LPUSH commands per write (pipeline depth) on each producer connection.
    #[arg(long, env = "PIPE", default_value_t = 1,
          value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pipe: u64,
    /// Job size in bytes; at least 20 (producer, sequence number and send time).
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u64).range(20..=1 << 24))]
    payload: u64,
    /// BRPOP's own timeout in seconds; a consumer whose BRPOP times out simply asks again.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=3600))]
    block_timeout: u64,
}

/// Default MAX_BACKLOG of `publish`, in messages per subscriber: at ~50 bytes a message, half
/// a megabyte of output per subscriber, far below Redis's pubsub client limits (8 MB soft,
/// 32 MB hard) yet deep enough that publishers never wait on a healthy server.
const PUBLISH_BACKLOG: u64 = 10_000;

/// Default MAX_BACKLOG of `queue`, in jobs: a list this short keeps the latency a hand-off
/// latency; with a deep list it would mostly measure time spent waiting in the queue.
const QUEUE_BACKLOG: u64 = 100;

/// Largest latency the histogram tracks, in nanoseconds (one minute).
const MAX_LATENCY_NS: u64 = 60_000_000_000;

/// How long a TCP handshake may take (a full listen backlog retransmits SYNs after 1 s, 3 s).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the subscribers may take to show up in PUBSUB NUMSUB.
const SUBSCRIBE_TIMEOUT: Duration = Duration::from_secs(10);

/// Longest sleep in poll: deadlines, overdue replies and paused senders are checked this often.
const TICK: Duration = Duration::from_millis(10);

/// Initial read buffer per connection; it only grows for a single frame larger than this.
const READ_BUFFER: usize = 256 * 1024;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.scenario {
        Scenario::Publish(args) => run_publish(&args),
        Scenario::Queue(args) => run_queue(&args),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("pubsub: {e}");
            ExitCode::FAILURE
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Connections

/// One non-blocking connection: what is left to write, and received bytes not yet parsed.
struct Conn {
    stream: TcpStream,
    out: Vec<u8>,
    written: usize,
    /// `inbuf[start..filled]` holds received bytes not yet parsed.
    inbuf: Vec<u8>,
    start: usize,
    filled: usize,
    /// Replies still expected for the commands in flight.
    pending: u64,
    /// When the commands in flight were written.
    sent_at: Instant,
}

impl Conn {
    fn new(stream: std::net::TcpStream) -> io::Result<Conn> {
        stream.set_nodelay(true)?;
        stream.set_nonblocking(true)?;
        Ok(Conn {
            stream: TcpStream::from_std(stream),
            out: Vec::with_capacity(4096),
            written: 0,
            inbuf: vec![0; READ_BUFFER],
            start: 0,
            filled: 0,
            pending: 0,
            sent_at: Instant::now(),
        })
    }

    /// Writes as much of `out` as the socket takes; the rest goes on the next WRITABLE event.
    fn flush(&mut self) -> io::Result<()> {
        while self.written < self.out.len() {
            match self.stream.write(&self.out[self.written..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.written += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.out.clear();
        self.written = 0;
        Ok(())
    }

    /// Starts a new batch: `out` is about to be filled with `commands` commands.
    fn begin_batch(&mut self, commands: u64, now: Instant) {
        debug_assert!(self.pending == 0 && self.out.is_empty());
        self.pending = commands;
        self.sent_at = now;
    }

    /// Reads once into the buffer. Ok(false) when nothing is there (mio is edge-triggered, so
    /// the caller reads until then); EOF is an error, since no server closes on us here.
    ///
    /// Parsed bytes are dropped first, so the buffer only grows for a frame that does not fit.
    fn fill(&mut self) -> io::Result<bool> {
        if self.start == self.filled {
            self.start = 0;
            self.filled = 0;
        } else if self.filled == self.inbuf.len() {
            if self.start > 0 {
                self.inbuf.copy_within(self.start..self.filled, 0);
                self.filled -= self.start;
                self.start = 0;
            } else {
                self.inbuf.resize(self.inbuf.len() * 2, 0);
            }
        }
        loop {
            match self.stream.read(&mut self.inbuf[self.filled..]) {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "server closed the connection",
                    ));
                }
                Ok(n) => {
                    self.filled += n;
                    return Ok(true);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    fn unparsed(&self) -> &[u8] {
        &self.inbuf[self.start..self.filled]
    }
}

/// Opens a blocking connection for setup (SUBSCRIBE, PUBSUB NUMSUB, DEL, LLEN).
fn control(addr: SocketAddr, rt: Duration) -> Result<Client, String> {
    Client::connect(addr, rt).map_err(|e| format!("cannot connect to {addr}: {e}"))
}

/// Opens a connection for the event loop. The handshake is blocking: on loopback it is
/// immediate, and it keeps connect states out of the loop.
fn open(addr: SocketAddr) -> Result<Conn, String> {
    std::net::TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT)
        .and_then(Conn::new)
        .map_err(|e| format!("cannot connect to {addr}: {e}"))
}

fn register(poll: &Poll, conn: &mut Conn, token: usize) -> Result<(), String> {
    poll.registry()
        .register(
            &mut conn.stream,
            Token(token),
            Interest::READABLE | Interest::WRITABLE,
        )
        .map_err(|e| format!("poll register: {e}"))
}

/// A name no other run uses (process id and clock), so concurrent runs and leftovers from an
/// earlier run never mix with this one's messages.
fn unique_name(kind: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("loadtest:{kind}:{}:{nanos:x}", std::process::id())
}

/// The integer of a `:n` reply that `reply_len` has measured as `len` bytes long.
fn integer_reply(frame: &[u8]) -> Option<i64> {
    let digits = frame.strip_prefix(b":")?.strip_suffix(b"\r\n")?;
    std::str::from_utf8(digits).ok()?.parse().ok()
}

// ---------------------------------------------------------------------------------------------
// Incremental parsing of the frames that carry messages

/// What the receiving side found at the start of its buffer.
#[derive(Debug, PartialEq, Eq)]
enum Frame {
    /// Not all of the next frame has arrived yet.
    Incomplete,
    /// A frame with the expected shape (a pub/sub message, or a BRPOP reply for our list);
    /// the payload is `buf[payload.0..payload.1]`, the frame `len` bytes long.
    Item { len: usize, payload: (usize, usize) },
    /// BRPOP's `*-1`: it timed out with nothing to pop.
    Nil { len: usize },
    /// Any other reply (an error, a second SUBSCRIBE confirmation, ...), `len` bytes long.
    Other { len: usize },
}

/// Parses the next frame of a stream whose items all start with the same bytes, `prefix`:
/// `*3\r\n$7\r\nmessage\r\n$<n>\r\n<channel>\r\n$` for pub/sub messages and
/// `*2\r\n$<n>\r\n<list>\r\n$` for BRPOP replies, followed by the payload's length, CRLF, the
/// payload and CRLF. Messages arrive by the thousand in one read, so the common shape is
/// matched with one comparison instead of being decoded field by field; anything else goes
/// through the generic [`reply_len`].
fn next_frame(buf: &[u8], prefix: &[u8]) -> Result<Frame, String> {
    let common = prefix.len().min(buf.len());
    if buf[..common] != prefix[..common] {
        if buf.starts_with(b"*-1\r\n") {
            return Ok(Frame::Nil { len: 5 });
        }
        return Ok(match reply_len(buf)? {
            Some(info) => Frame::Other { len: info.len },
            None => Frame::Incomplete,
        });
    }
    if buf.len() < prefix.len() {
        return Ok(Frame::Incomplete);
    }
    let mut at = prefix.len();
    let mut size = 0usize;
    loop {
        match buf.get(at) {
            None => return Ok(Frame::Incomplete),
            Some(&d @ b'0'..=b'9') if at - prefix.len() < 10 => {
                size = size * 10 + usize::from(d - b'0');
                at += 1;
            }
            Some(b'\r') if at > prefix.len() => break,
            Some(_) => {
                let end = buf.len().min(at + 1);
                return Err(format!(
                    "invalid payload length in {}",
                    escape_short(&buf[..end])
                ));
            }
        }
    }
    let start = at + 2;
    let end = start + size;
    if buf.len() < end + 2 {
        return Ok(Frame::Incomplete);
    }
    if buf[at + 1] != b'\n' || &buf[end..end + 2] != b"\r\n" {
        return Err(format!(
            "malformed frame: {}",
            escape_short(&buf[..end + 2])
        ));
    }
    Ok(Frame::Item {
        len: end + 2,
        payload: (start, end),
    })
}

/// The fixed-width little-endian integers at the start of a payload.
fn read_u32(payload: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(
        payload.get(at..at + 4)?.try_into().ok()?,
    ))
}

fn read_u64(payload: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(
        payload.get(at..at + 8)?.try_into().ok()?,
    ))
}

// ---------------------------------------------------------------------------------------------
// publish

/// A subscriber's tally.
struct Subscriber {
    conn: Conn,
    delivered: u64,
    /// The sequence number expected next from each publisher.
    next_seq: Vec<u64>,
}

/// A publisher's state; `seq` numbers its messages from 0.
struct Publisher {
    conn: Conn,
    seq: u64,
    /// Set once it has no more to send and nothing in flight.
    done: bool,
}

/// The publish scenario's results.
#[derive(Default)]
struct PublishReport {
    /// PUBLISH commands answered with an integer (the message went out).
    published: u64,
    publish_elapsed: Duration,
    delivered: u64,
    /// From the start to the last message received.
    deliver_elapsed: Duration,
    /// `published * subscribers`: what exact delivery means.
    expected: u64,
    /// Messages that broke a subscriber's per-publisher sequence (lost, repeated, reordered).
    out_of_order: u64,
    /// Error replies, PUBLISH replies counting fewer receivers than subscribers, and frames a
    /// subscriber did not expect.
    errors: u64,
    /// What stopped the run early, if anything.
    failure: Option<String>,
}

impl PublishReport {
    fn missing(&self) -> i64 {
        self.expected as i64 - self.delivered as i64
    }

    fn ok(&self) -> bool {
        self.failure.is_none()
            && self.errors == 0
            && self.out_of_order == 0
            && self.delivered == self.expected
    }
}

fn per_sec(n: u64, elapsed: Duration) -> f64 {
    n as f64 / elapsed.as_secs_f64().max(1e-9)
}

fn run_publish(args: &PublishArgs) -> Result<bool, String> {
    let c = &args.common;
    let addr = settings::resolve(&c.host)?;
    let rt = Duration::from_millis(c.rt_ms);
    let backlog = c.max_backlog.unwrap_or(PUBLISH_BACKLOG);
    let channel = unique_name("pubsub");
    let amount = match c.count {
        Some(n) => format!("{n} messages or {:.1} s", c.duration.as_secs_f64()),
        None => format!("{:.1} s", c.duration.as_secs_f64()),
    };
    eprintln!(
        "pubsub publish: {addr}, {} subscribers, {} publishers x pipeline {}, payload {} B, \
         {amount}, backlog <= {backlog} per subscriber",
        args.subscribers, args.publishers, args.pipe, args.payload
    );

    // Subscribe with blocking connections, each confirmed, then hand them to the loop.
    let poll = Poll::new().map_err(|e| format!("poll: {e}"))?;
    let mut subs = Vec::with_capacity(args.subscribers as usize);
    for i in 0..args.subscribers as usize {
        let mut client = control(addr, rt)?;
        let reply = client
            .call(&[b"SUBSCRIBE", channel.as_bytes()])
            .map_err(|e| format!("SUBSCRIBE: {e}"))?;
        let want = Value::Array(vec![
            Value::Bulk(b"subscribe".to_vec()),
            Value::Bulk(channel.clone().into_bytes()),
            Value::Integer(1),
        ]);
        if reply != want {
            return Err(format!("SUBSCRIBE answered {reply}, expected {want}"));
        }
        // Nothing is published yet, so the client's buffer holds nothing past the reply.
        let stream = client
            .stream()
            .try_clone()
            .map_err(|e| format!("socket: {e}"))?;
        let mut conn = Conn::new(stream).map_err(|e| format!("socket: {e}"))?;
        register(&poll, &mut conn, i)?;
        subs.push(Subscriber {
            conn,
            delivered: 0,
            next_seq: vec![0; args.publishers as usize],
        });
    }
    let mut ctl = control(addr, rt)?;
    wait_for_subscribers(&mut ctl, &channel, args.subscribers)?;

    let mut pubs = Vec::with_capacity(args.publishers as usize);
    for i in 0..args.publishers as usize {
        let mut conn = open(addr)?;
        register(&poll, &mut conn, subs.len() + i)?;
        pubs.push(Publisher {
            conn,
            seq: 0,
            done: false,
        });
    }

    let report = publish_loop(args, poll, &mut subs, &mut pubs, &channel, backlog);
    if c.json {
        println!("{}", publish_json(args, backlog, &report));
    } else {
        print_publish(&report);
    }
    Ok(report.ok())
}

/// Polls PUBSUB NUMSUB until it counts `want` subscribers of `channel`.
fn wait_for_subscribers(ctl: &mut Client, channel: &str, want: u64) -> Result<(), String> {
    let deadline = Instant::now() + SUBSCRIBE_TIMEOUT;
    loop {
        let reply = ctl
            .call(&[b"PUBSUB" as &[u8], b"NUMSUB", channel.as_bytes()])
            .map_err(|e| format!("PUBSUB NUMSUB: {e}"))?;
        let count = match &reply {
            Value::Array(items) => match items.get(1) {
                Some(Value::Integer(n)) => *n,
                _ => -1,
            },
            _ => -1,
        };
        if count < 0 {
            return Err(format!("PUBSUB NUMSUB answered {reply}"));
        }
        if count as u64 >= want {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "PUBSUB NUMSUB still counts {count} of {want} subscribers after {} s",
                SUBSCRIBE_TIMEOUT.as_secs()
            ));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The publish scenario's event loop: publish until the time or count is up, then let the
/// subscribers drain.
fn publish_loop(
    args: &PublishArgs,
    mut poll: Poll,
    subs: &mut [Subscriber],
    pubs: &mut [Publisher],
    channel: &str,
    backlog: u64,
) -> PublishReport {
    let c = &args.common;
    let rt = Duration::from_millis(c.rt_ms);
    let nsubs = subs.len();
    let prefix = {
        let mut p = b"*3\r\n$7\r\nmessage\r\n".to_vec();
        encode_bulk_header(&mut p, channel.as_bytes());
        p.push(b'$');
        p
    };
    let mut payload = vec![b'x'; args.payload as usize];
    let mut report = PublishReport::default();
    let mut events = Events::with_capacity(1024);
    let started = Instant::now();
    let deadline = started + c.duration;
    let count = c.count.unwrap_or(u64::MAX);
    let mut sent = 0u64;
    let mut sending = true;
    let mut drain_until: Option<Instant> = None;
    let mut last_delivery = started;
    let mut progress = Progress::new(started);

    'run: loop {
        let now = Instant::now();
        if sending && (now >= deadline || sent >= count) {
            sending = false;
        }
        // Start the next batch on every idle publisher, as far as the backlog allows: the
        // slowest subscriber decides, since every message goes to every subscriber.
        let slowest = subs.iter().map(|s| s.delivered).min().unwrap_or(0);
        for (i, p) in pubs.iter_mut().enumerate() {
            if p.done || p.conn.pending > 0 {
                continue;
            }
            let room = backlog.saturating_sub(sent.saturating_sub(slowest));
            let batch = if sending {
                args.pipe.min(count - sent).min(room)
            } else {
                0
            };
            if batch == 0 {
                p.done = !sending;
                continue;
            }
            p.conn.begin_batch(batch, now);
            for _ in 0..batch {
                payload[..4].copy_from_slice(&(i as u32).to_le_bytes());
                payload[4..12].copy_from_slice(&p.seq.to_le_bytes());
                p.seq += 1;
                encode_command(&mut p.conn.out, &[b"PUBLISH", channel.as_bytes(), &payload]);
            }
            sent += batch;
            if let Err(e) = p.conn.flush() {
                report.failure = Some(format!("publisher {i}: {e}"));
                break 'run;
            }
        }
        if pubs.iter().all(|p| p.done) {
            let until = *drain_until.get_or_insert_with(|| {
                report.publish_elapsed = now - started;
                now + c.drain
            });
            if subs.iter().all(|s| s.delivered == report.published) || now >= until {
                break;
            }
        }
        if let Some(i) = pubs
            .iter()
            .position(|p| p.conn.pending > 0 && now - p.conn.sent_at > rt)
        {
            report.failure = Some(format!(
                "publisher {i}: no reply to PUBLISH within {} ms",
                c.rt_ms
            ));
            break;
        }
        progress.tick(now, sent, subs.iter().map(|s| s.delivered).sum());

        if let Err(e) = poll.poll(&mut events, Some(TICK)) {
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            report.failure = Some(format!("poll: {e}"));
            break;
        }
        for event in events.iter() {
            let token = event.token().0;
            let result = if token < nsubs {
                let got = receive_messages(&mut subs[token], &prefix, &mut report);
                if got.as_ref().is_ok_and(|&n| n > 0) {
                    last_delivery = Instant::now();
                }
                got.map(|_| ())
                    .map_err(|e| format!("subscriber {token}: {e}"))
            } else {
                let p = &mut pubs[token - nsubs];
                let mut r = Ok(());
                if event.is_writable() {
                    r = p.conn.flush();
                }
                if r.is_ok() && event.is_readable() {
                    r = read_publish_replies(&mut p.conn, nsubs as i64, &mut report);
                }
                r.map_err(|e| format!("publisher {}: {e}", token - nsubs))
            };
            if let Err(e) = result {
                report.failure = Some(e);
                break 'run;
            }
        }
    }
    if drain_until.is_none() {
        report.publish_elapsed = started.elapsed();
    }
    report.delivered = subs.iter().map(|s| s.delivered).sum();
    report.deliver_elapsed = last_delivery - started;
    report.expected = report.published * nsubs as u64;
    report
}

/// Appends `$<len>\r\n<bytes>\r\n`.
fn encode_bulk_header(out: &mut Vec<u8>, bytes: &[u8]) {
    out.push(b'$');
    push_decimal(out, bytes.len() as u64);
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(bytes);
    out.extend_from_slice(b"\r\n");
}

/// Reads everything a subscriber has been sent and checks each message's sequence number.
/// Returns how many messages arrived.
fn receive_messages(
    sub: &mut Subscriber,
    prefix: &[u8],
    report: &mut PublishReport,
) -> Result<u64, String> {
    let before = sub.delivered;
    while sub.conn.fill().map_err(|e| e.to_string())? {
        loop {
            let buf = sub.conn.unparsed();
            let len = match next_frame(buf, prefix)? {
                Frame::Incomplete => break,
                Frame::Item { len, payload } => {
                    let payload = &buf[payload.0..payload.1];
                    let publisher = read_u32(payload, 0).map(|p| p as usize);
                    let seq = read_u64(payload, 4);
                    match (publisher, seq) {
                        (Some(p), Some(seq)) if p < sub.next_seq.len() => {
                            if seq != sub.next_seq[p] {
                                report.out_of_order += 1;
                            }
                            sub.next_seq[p] = seq + 1;
                            sub.delivered += 1;
                        }
                        _ => report.errors += 1,
                    }
                    len
                }
                Frame::Nil { len } | Frame::Other { len } => {
                    report.errors += 1;
                    len
                }
            };
            sub.conn.start += len;
        }
    }
    Ok(sub.delivered - before)
}

/// Reads a publisher's replies: each must be an integer counting every subscriber.
fn read_publish_replies(
    conn: &mut Conn,
    subscribers: i64,
    report: &mut PublishReport,
) -> io::Result<()> {
    while conn.fill()? {
        while conn.pending > 0 {
            let buf = conn.unparsed();
            let info = match reply_len(buf) {
                Ok(Some(info)) => info,
                Ok(None) => break,
                Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e)),
            };
            match integer_reply(&buf[..info.len]) {
                Some(n) => {
                    report.published += 1;
                    if n != subscribers {
                        report.errors += 1;
                    }
                }
                None => report.errors += 1,
            }
            conn.start += info.len;
            conn.pending -= 1;
        }
        if conn.pending == 0 && !conn.unparsed().is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "server sent more replies than commands",
            ));
        }
    }
    Ok(())
}

fn print_publish(r: &PublishReport) {
    println!(
        "published:  {} in {:.2} s ({:.0} publishes/s)",
        r.published,
        r.publish_elapsed.as_secs_f64(),
        per_sec(r.published, r.publish_elapsed)
    );
    println!(
        "delivered:  {} in {:.2} s ({:.0} messages/s)",
        r.delivered,
        r.deliver_elapsed.as_secs_f64(),
        per_sec(r.delivered, r.deliver_elapsed)
    );
    println!(
        "expected:   {}   missing {}   out of order {}",
        r.expected,
        r.missing(),
        r.out_of_order
    );
    println!("errors:     {}", r.errors);
    if let Some(f) = &r.failure {
        println!("failure:    {f}");
    }
}

fn publish_json(args: &PublishArgs, backlog: u64, r: &PublishReport) -> String {
    let c = &args.common;
    format!(
        "{{\"scenario\":\"publish\",\"host\":{},\"subscribers\":{},\"publishers\":{},\"pipe\":{},\
         \"payload\":{},\"max_backlog\":{backlog},\"published\":{},\"publish_elapsed_s\":{:.3},\
         \"publishes_per_sec\":{:.1},\"delivered\":{},\"deliver_elapsed_s\":{:.3},\
         \"delivered_per_sec\":{:.1},\"expected\":{},\"missing\":{},\"out_of_order\":{},\
         \"errors\":{},\"failure\":{}}}",
        json_string(&c.host),
        args.subscribers,
        args.publishers,
        args.pipe,
        args.payload,
        r.published,
        r.publish_elapsed.as_secs_f64(),
        per_sec(r.published, r.publish_elapsed),
        r.delivered,
        r.deliver_elapsed.as_secs_f64(),
        per_sec(r.delivered, r.deliver_elapsed),
        r.expected,
        r.missing(),
        r.out_of_order,
        r.errors,
        r.failure.as_deref().map_or("null".into(), json_string),
    )
}

// ---------------------------------------------------------------------------------------------
// queue

/// The queue scenario's results.
struct QueueReport {
    /// LPUSH commands answered with an integer (the job is in the list).
    pushed: u64,
    push_elapsed: Duration,
    /// Jobs popped, duplicates included.
    popped: u64,
    /// From the start to the last job popped.
    pop_elapsed: Duration,
    /// Jobs popped more than once.
    duplicates: u64,
    /// BRPOP replies that were a timeout (nothing to pop).
    empty_pops: u64,
    /// Longest list LPUSH reported.
    max_queue_len: i64,
    /// LLEN of the list after the run (jobs nobody popped).
    left_in_queue: Option<i64>,
    /// Error replies, and replies or jobs that are not what was sent.
    errors: u64,
    /// From the LPUSH write to the BRPOP reply, in nanoseconds.
    latency: Histogram<u64>,
    failure: Option<String>,
}

impl QueueReport {
    fn missing(&self) -> i64 {
        self.pushed as i64 - (self.popped - self.duplicates) as i64
    }

    fn ok(&self) -> bool {
        self.failure.is_none()
            && self.errors == 0
            && self.duplicates == 0
            && self.missing() == 0
            && self.left_in_queue == Some(0)
    }

    /// (label, json key, latency in µs) for each reported percentile.
    fn latencies(&self) -> [(&'static str, &'static str, f64); 4] {
        let us = |q: f64| self.latency.value_at_quantile(q) as f64 / 1000.0;
        [
            ("p50", "p50", us(0.50)),
            ("p99", "p99", us(0.99)),
            ("p99.9", "p99_9", us(0.999)),
            ("max", "max", self.latency.max() as f64 / 1000.0),
        ]
    }
}

/// A producer's state; `seq` numbers its jobs from 0.
struct Producer {
    conn: Conn,
    seq: u64,
    done: bool,
}

/// Which jobs have been popped: one bit per (producer, sequence number).
struct Seen(Vec<Vec<u64>>);

impl Seen {
    /// Marks a job popped; false if it already was.
    fn mark(&mut self, producer: usize, seq: u64) -> bool {
        let bits = &mut self.0[producer];
        let (word, bit) = ((seq / 64) as usize, seq % 64);
        if bits.len() <= word {
            bits.resize(word + 1, 0);
        }
        let fresh = bits[word] & (1 << bit) == 0;
        bits[word] |= 1 << bit;
        fresh
    }
}

fn run_queue(args: &QueueArgs) -> Result<bool, String> {
    let c = &args.common;
    let addr = settings::resolve(&c.host)?;
    let rt = Duration::from_millis(c.rt_ms);
    let backlog = c.max_backlog.unwrap_or(QUEUE_BACKLOG);
    let key = unique_name("queue");
    let amount = match c.count {
        Some(n) => format!("{n} jobs or {:.1} s", c.duration.as_secs_f64()),
        None => format!("{:.1} s", c.duration.as_secs_f64()),
    };
    eprintln!(
        "pubsub queue: {addr}, {} producers x pipeline {}, {} consumers (BRPOP timeout {} s), \
         payload {} B, {amount}, backlog <= {backlog} jobs",
        args.producers, args.pipe, args.consumers, args.block_timeout, args.payload
    );
    let mut ctl = control(addr, rt)?;
    ctl.call(&[b"DEL", key.as_bytes()])
        .map_err(|e| format!("DEL: {e}"))?;

    let poll = Poll::new().map_err(|e| format!("poll: {e}"))?;
    let mut consumers = Vec::with_capacity(args.consumers as usize);
    for i in 0..args.consumers as usize {
        let mut conn = open(addr)?;
        register(&poll, &mut conn, i)?;
        consumers.push(conn);
    }
    let mut producers = Vec::with_capacity(args.producers as usize);
    for i in 0..args.producers as usize {
        let mut conn = open(addr)?;
        register(&poll, &mut conn, consumers.len() + i)?;
        producers.push(Producer {
            conn,
            seq: 0,
            done: false,
        });
    }

    let latency =
        Histogram::new_with_bounds(1, MAX_LATENCY_NS, 3).map_err(|e| format!("histogram: {e}"))?;
    let mut report = QueueReport {
        pushed: 0,
        push_elapsed: Duration::ZERO,
        popped: 0,
        pop_elapsed: Duration::ZERO,
        duplicates: 0,
        empty_pops: 0,
        max_queue_len: 0,
        left_in_queue: None,
        errors: 0,
        latency,
        failure: None,
    };
    queue_loop(
        args,
        poll,
        &mut consumers,
        &mut producers,
        &key,
        backlog,
        &mut report,
    );
    // Closing the consumers cancels their BRPOPs, so the list can be checked and cleaned up.
    drop(consumers);
    match ctl.call(&[b"LLEN", key.as_bytes()]) {
        Ok(Value::Integer(n)) => report.left_in_queue = Some(n),
        Ok(other) => {
            report.errors += 1;
            report
                .failure
                .get_or_insert(format!("LLEN answered {other}"));
        }
        Err(e) => {
            report.failure.get_or_insert(format!("LLEN: {e}"));
        }
    }
    let _ = ctl.call(&[b"DEL", key.as_bytes()]);

    if c.json {
        println!("{}", queue_json(args, backlog, &report));
    } else {
        print_queue(&report);
    }
    Ok(report.ok())
}

/// The queue scenario's event loop: produce until the time or count is up, then let the
/// consumers drain the list.
fn queue_loop(
    args: &QueueArgs,
    mut poll: Poll,
    consumers: &mut [Conn],
    producers: &mut [Producer],
    key: &str,
    backlog: u64,
    report: &mut QueueReport,
) {
    let c = &args.common;
    let rt = Duration::from_millis(c.rt_ms);
    let ncons = consumers.len();
    let prefix = {
        let mut p = b"*2\r\n".to_vec();
        encode_bulk_header(&mut p, key.as_bytes());
        p.push(b'$');
        p
    };
    let mut brpop = Vec::new();
    encode_command(
        &mut brpop,
        &[
            b"BRPOP" as &[u8],
            key.as_bytes(),
            args.block_timeout.to_string().as_bytes(),
        ],
    );
    // A consumer's BRPOP may rightly wait for its own timeout; only past that is it overdue.
    let brpop_rt = rt + Duration::from_secs(args.block_timeout);
    let mut payload = vec![b'x'; args.payload as usize];
    let mut seen = Seen(vec![Vec::new(); producers.len()]);
    let mut events = Events::with_capacity(1024);
    let started = Instant::now();
    let deadline = started + c.duration;
    let count = c.count.unwrap_or(u64::MAX);
    let mut sent = 0u64;
    let mut sending = true;
    let mut drain_until: Option<Instant> = None;
    let mut last_pop = started;
    let mut progress = Progress::new(started);

    for (i, conn) in consumers.iter_mut().enumerate() {
        conn.begin_batch(1, started);
        conn.out.extend_from_slice(&brpop);
        if let Err(e) = conn.flush() {
            report.failure = Some(format!("consumer {i}: {e}"));
            return;
        }
    }
    'run: loop {
        let now = Instant::now();
        if sending && (now >= deadline || sent >= count) {
            sending = false;
        }
        for (i, p) in producers.iter_mut().enumerate() {
            if p.done || p.conn.pending > 0 {
                continue;
            }
            let room = backlog.saturating_sub(sent.saturating_sub(report.popped));
            let batch = if sending {
                args.pipe.min(count - sent).min(room)
            } else {
                0
            };
            if batch == 0 {
                p.done = !sending;
                continue;
            }
            p.conn.begin_batch(batch, now);
            // The send time is taken as late as possible: just before the write.
            let sent_ns = Instant::now().duration_since(started).as_nanos() as u64;
            for _ in 0..batch {
                payload[..4].copy_from_slice(&(i as u32).to_le_bytes());
                payload[4..12].copy_from_slice(&p.seq.to_le_bytes());
                payload[12..20].copy_from_slice(&sent_ns.to_le_bytes());
                p.seq += 1;
                encode_command(&mut p.conn.out, &[b"LPUSH", key.as_bytes(), &payload]);
            }
            sent += batch;
            if let Err(e) = p.conn.flush() {
                report.failure = Some(format!("producer {i}: {e}"));
                break 'run;
            }
        }
        if producers.iter().all(|p| p.done) {
            let until = *drain_until.get_or_insert_with(|| {
                report.push_elapsed = now - started;
                now + c.drain
            });
            if report.popped - report.duplicates >= report.pushed || now >= until {
                break;
            }
        }
        let overdue = producers
            .iter()
            .position(|p| p.conn.pending > 0 && now - p.conn.sent_at > rt)
            .map(|i| format!("producer {i}: no reply to LPUSH within {} ms", c.rt_ms))
            .or_else(|| {
                consumers
                    .iter()
                    .position(|conn| conn.pending > 0 && now - conn.sent_at > brpop_rt)
                    .map(|i| format!("consumer {i}: no reply to BRPOP within {brpop_rt:?}"))
            });
        if let Some(e) = overdue {
            report.failure = Some(e);
            break;
        }
        progress.tick(now, sent, report.popped);

        if let Err(e) = poll.poll(&mut events, Some(TICK)) {
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            report.failure = Some(format!("poll: {e}"));
            break;
        }
        for event in events.iter() {
            let token = event.token().0;
            let result = if token < ncons {
                let conn = &mut consumers[token];
                let before = report.popped;
                let mut r = Ok(());
                if event.is_writable() {
                    r = conn.flush().map_err(|e| e.to_string());
                }
                if r.is_ok() && event.is_readable() {
                    r = receive_jobs(conn, &prefix, &brpop, started, &mut seen, report);
                }
                if report.popped > before {
                    last_pop = Instant::now();
                }
                r.map_err(|e| format!("consumer {token}: {e}"))
            } else {
                let p = &mut producers[token - ncons];
                let mut r = Ok(());
                if event.is_writable() {
                    r = p.conn.flush();
                }
                if r.is_ok() && event.is_readable() {
                    r = read_push_replies(&mut p.conn, report);
                }
                r.map_err(|e| format!("producer {}: {e}", token - ncons))
            };
            if let Err(e) = result {
                report.failure = Some(e);
                break 'run;
            }
        }
    }
    if drain_until.is_none() {
        report.push_elapsed = started.elapsed();
    }
    report.pop_elapsed = last_pop - started;
}

/// Reads a consumer's BRPOP replies; for each, records the job's hand-off latency, checks it
/// was not popped before, and sends the next BRPOP.
fn receive_jobs(
    conn: &mut Conn,
    prefix: &[u8],
    brpop: &[u8],
    started: Instant,
    seen: &mut Seen,
    report: &mut QueueReport,
) -> Result<(), String> {
    while conn.fill().map_err(|e| e.to_string())? {
        while conn.pending > 0 {
            let buf = &conn.inbuf[conn.start..conn.filled];
            let len = match next_frame(buf, prefix)? {
                Frame::Incomplete => break,
                Frame::Item { len, payload } => {
                    let now_ns = started.elapsed().as_nanos() as u64;
                    let payload = &buf[payload.0..payload.1];
                    let producer = read_u32(payload, 0).map(|p| p as usize);
                    let seq = read_u64(payload, 4);
                    let sent_ns = read_u64(payload, 12);
                    match (producer, seq, sent_ns) {
                        (Some(p), Some(seq), Some(sent_ns)) if p < seen.0.len() => {
                            report.popped += 1;
                            if !seen.mark(p, seq) {
                                report.duplicates += 1;
                            }
                            report
                                .latency
                                .saturating_record(now_ns.saturating_sub(sent_ns).max(1));
                        }
                        _ => report.errors += 1,
                    }
                    len
                }
                Frame::Nil { len } => {
                    report.empty_pops += 1;
                    len
                }
                Frame::Other { len } => {
                    report.errors += 1;
                    len
                }
            };
            conn.start += len;
            conn.pending -= 1;
        }
        if conn.pending == 0 {
            if !conn.unparsed().is_empty() {
                return Err("server sent more replies than commands".into());
            }
            conn.begin_batch(1, Instant::now());
            conn.out.extend_from_slice(brpop);
            conn.flush().map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

/// Reads a producer's LPUSH replies: each must be an integer (the list's new length).
fn read_push_replies(conn: &mut Conn, report: &mut QueueReport) -> io::Result<()> {
    while conn.fill()? {
        while conn.pending > 0 {
            let buf = conn.unparsed();
            let info = match reply_len(buf) {
                Ok(Some(info)) => info,
                Ok(None) => break,
                Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e)),
            };
            match integer_reply(&buf[..info.len]) {
                Some(n) => {
                    report.pushed += 1;
                    report.max_queue_len = report.max_queue_len.max(n);
                }
                None => report.errors += 1,
            }
            conn.start += info.len;
            conn.pending -= 1;
        }
        if conn.pending == 0 && !conn.unparsed().is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "server sent more replies than commands",
            ));
        }
    }
    Ok(())
}

fn print_queue(r: &QueueReport) {
    println!(
        "pushed:     {} in {:.2} s ({:.0} jobs/s)",
        r.pushed,
        r.push_elapsed.as_secs_f64(),
        per_sec(r.pushed, r.push_elapsed)
    );
    println!(
        "popped:     {} in {:.2} s ({:.0} jobs/s)",
        r.popped,
        r.pop_elapsed.as_secs_f64(),
        per_sec(r.popped, r.pop_elapsed)
    );
    let latencies: Vec<String> = r
        .latencies()
        .iter()
        .map(|(label, _, us)| format!("{label} {us:.1}"))
        .collect();
    println!("hand-off us: {}", latencies.join("  "));
    println!(
        "missing:    {}   duplicates {}   left in queue {}   empty pops {}   longest queue {}",
        r.missing(),
        r.duplicates,
        r.left_in_queue.map_or("?".into(), |n| n.to_string()),
        r.empty_pops,
        r.max_queue_len
    );
    println!("errors:     {}", r.errors);
    if let Some(f) = &r.failure {
        println!("failure:    {f}");
    }
}

fn queue_json(args: &QueueArgs, backlog: u64, r: &QueueReport) -> String {
    let c = &args.common;
    let latency: Vec<String> = r
        .latencies()
        .iter()
        .map(|(_, key, us)| format!("\"{key}\":{us:.1}"))
        .collect();
    format!(
        "{{\"scenario\":\"queue\",\"host\":{},\"producers\":{},\"consumers\":{},\"pipe\":{},\
         \"payload\":{},\"max_backlog\":{backlog},\"pushed\":{},\"push_elapsed_s\":{:.3},\
         \"pushes_per_sec\":{:.1},\"popped\":{},\"pop_elapsed_s\":{:.3},\"jobs_per_sec\":{:.1},\
         \"latency_us\":{{{}}},\"missing\":{},\"duplicates\":{},\"left_in_queue\":{},\
         \"empty_pops\":{},\"max_queue_len\":{},\"errors\":{},\"failure\":{}}}",
        json_string(&c.host),
        args.producers,
        args.consumers,
        args.pipe,
        args.payload,
        r.pushed,
        r.push_elapsed.as_secs_f64(),
        per_sec(r.pushed, r.push_elapsed),
        r.popped,
        r.pop_elapsed.as_secs_f64(),
        per_sec(r.popped, r.pop_elapsed),
        latency.join(","),
        r.missing(),
        r.duplicates,
        r.left_in_queue.map_or("null".into(), |n| n.to_string()),
        r.empty_pops,
        r.max_queue_len,
        r.errors,
        r.failure.as_deref().map_or("null".into(), json_string),
    )
}

// ---------------------------------------------------------------------------------------------
// Shared output

/// One progress line a second on stderr: how many were sent and received in that second.
struct Progress {
    started: Instant,
    next: Instant,
    last: (u64, u64),
}

impl Progress {
    fn new(started: Instant) -> Progress {
        Progress {
            started,
            next: started + Duration::from_secs(1),
            last: (0, 0),
        }
    }

    fn tick(&mut self, now: Instant, sent: u64, received: u64) {
        if now < self.next {
            return;
        }
        eprintln!(
            "[{:>4} s] sent {:>9}/s   received {:>10}/s   total received {}",
            (now - self.started).as_secs(),
            sent - self.last.0,
            received - self.last.1,
            received
        );
        self.last = (sent, received);
        self.next += Duration::from_secs(1);
    }
}

/// A JSON string literal.
fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSG: &[u8] = b"*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$";

    #[test]
    fn message_frames_parse_at_any_cut() {
        let mut stream = Vec::new();
        for payload in [&b"hello"[..], b"a\r\nb", b""] {
            stream.extend_from_slice(MSG);
            push_decimal(&mut stream, payload.len() as u64);
            stream.extend_from_slice(b"\r\n");
            stream.extend_from_slice(payload);
            stream.extend_from_slice(b"\r\n");
        }
        let first = MSG.len() + "5\r\nhello\r\n".len();
        for cut in 0..first {
            assert_eq!(
                next_frame(&stream[..cut], MSG).unwrap(),
                Frame::Incomplete,
                "cut at {cut}"
            );
        }
        let Frame::Item { len, payload } = next_frame(&stream, MSG).unwrap() else {
            panic!("not a message");
        };
        assert_eq!(len, first);
        assert_eq!(&stream[payload.0..payload.1], b"hello");
        let rest = &stream[first..];
        let Frame::Item { len, payload } = next_frame(rest, MSG).unwrap() else {
            panic!("not a message");
        };
        assert_eq!(&rest[payload.0..payload.1], b"a\r\nb");
        let Frame::Item { payload, .. } = next_frame(&rest[len..], MSG).unwrap() else {
            panic!("not a message");
        };
        assert_eq!(payload.0, payload.1);
    }

    #[test]
    fn other_replies_are_measured_not_mistaken() {
        let other = b"*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n";
        assert_eq!(
            next_frame(other, MSG).unwrap(),
            Frame::Other { len: other.len() }
        );
        assert_eq!(
            next_frame(b"-ERR x\r\n", MSG).unwrap(),
            Frame::Other { len: 8 }
        );
        assert_eq!(
            next_frame(b"*-1\r\n", b"*2\r\n$1\r\nq\r\n$").unwrap(),
            Frame::Nil { len: 5 }
        );
        // A message for another channel is not ours: a whole frame of another shape.
        let elsewhere = b"*3\r\n$7\r\nmessage\r\n$2\r\nxy\r\n$1\r\na\r\n";
        assert_eq!(
            next_frame(elsewhere, MSG).unwrap(),
            Frame::Other {
                len: elsewhere.len()
            }
        );
        assert!(next_frame(b"*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$x\r\n", MSG).is_err());
        assert!(next_frame(b"*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$1\r\nab\r\n", MSG).is_err());
    }

    #[test]
    fn seen_finds_duplicates() {
        let mut seen = Seen(vec![Vec::new(); 2]);
        assert!(seen.mark(0, 0));
        assert!(seen.mark(1, 0));
        assert!(seen.mark(0, 1000));
        assert!(!seen.mark(0, 1000));
        assert!(!seen.mark(0, 0));
        assert!(seen.mark(0, 63));
        assert!(seen.mark(0, 64));
    }

    #[test]
    fn integer_replies() {
        assert_eq!(integer_reply(b":42\r\n"), Some(42));
        assert_eq!(integer_reply(b":-1\r\n"), Some(-1));
        assert_eq!(integer_reply(b"+OK\r\n"), None);
    }
}
