//! `loadtest`: a mixed, pipelined workload from many connections, multiplexed with mio over a
//! few threads (never a thread per client, so 500 clients do not starve a 2-core machine).
//!
//! Each connection runs closed-loop like redis-benchmark's clients: it writes PIPE commands in
//! one write, waits for all their replies, then writes the next batch, until it has sent OPS
//! commands (or DURATION has passed). A command's latency is the time from its batch's write
//! to its reply. A batch not fully answered within RT ms counts its missing replies as
//! timeouts and the connection is replaced; timed-out commands are never counted as done, so
//! the throughput is what the server really answered.
//!
//! stderr gets one progress line a second; stdout gets the summary (total ops, ops/s, latency
//! percentiles from an HDR histogram, errors, timeouts), as JSON with `--json`.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use clap::Parser;
use hdrhistogram::Histogram;
use loadtest::resp::{encode_command, push_decimal, reply_len};
use loadtest::rng::Rng;
use loadtest::settings::{self, Defaults, Mix, Op, Settings};
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

/// Mixed pipelined load from many multiplexed connections; prints throughput and latency
/// percentiles. Uses every setting: HOST, CLIENTS, OPS (per client), PIPE, RT, KEYSPACE,
/// VALUE_SIZE, MIX, DURATION.
#[derive(Parser, Debug)]
#[command(name = "loadtest", version)]
struct Cli {
    #[command(flatten)]
    settings: Settings,
    /// Worker threads sharing the connections [default: half the CPUs, at least 1, leaving the
    /// rest to a server on the same machine].
    #[arg(long, env = "THREADS", value_parser = clap::value_parser!(u64).range(1..=64))]
    threads: Option<u64>,
    /// Print the final summary as JSON on stdout instead of text.
    #[arg(long)]
    json: bool,
}

const DEFAULTS: Defaults = Defaults {
    clients: "50",
    ops: "10000",
    pipe: "16",
    rt_ms: "1000",
    keyspace: "10000",
    value_size: "32",
    mix: "get=60,set=30,incr=10",
};

/// Largest latency the histogram tracks, in microseconds (one minute).
const MAX_LATENCY_US: u64 = 60_000_000;

/// How long a TCP handshake may take. Generous on purpose: when hundreds of clients connect at
/// once and the server's listen backlog overflows, the kernel retransmits the dropped SYNs
/// after 1 s, then 3 s; that is slow, not dead.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How often connections are checked for overdue replies.
const TIMEOUT_SCAN: Duration = Duration::from_millis(10);

/// Counters the workers bump and the progress line reads.
#[derive(Default)]
struct Progress {
    ops: AtomicU64,
    errors: AtomicU64,
    timeouts: AtomicU64,
}

/// Everything a worker needs to know about the workload.
struct Workload {
    addr: SocketAddr,
    pipe: u64,
    ops_per_client: Option<u64>,
    read_timeout: Duration,
    keyspace: u64,
    value: Vec<u8>,
    mix: Mix,
    /// SHA1s of [`loadtest::scripts::INCR`] and [`loadtest::scripts::RATE_LIMIT`] as the
    /// server named them (empty when the mix runs no script).
    script_shas: [Vec<u8>; 2],
}

/// One worker's final tally.
struct WorkerResult {
    histogram: Histogram<u64>,
    ops: u64,
    errors: u64,
    timeouts: u64,
    /// The first connection failure seen, to tell the user why errors happened.
    first_failure: Option<String>,
}

/// One client connection and its batch in flight.
struct Conn {
    stream: TcpStream,
    /// Bytes of the current batch not yet written.
    out: Vec<u8>,
    written: usize,
    /// Read buffer: `inbuf[start..filled]` holds received bytes not yet parsed.
    inbuf: Vec<u8>,
    start: usize,
    filled: usize,
    /// Replies still expected for the batch in flight.
    pending: u64,
    sent_at: Instant,
    /// Commands this client may still send (`u64::MAX` in duration mode).
    remaining: u64,
    rng: Rng,
    key: Vec<u8>,
    done: bool,
}

impl Conn {
    fn new(stream: TcpStream, remaining: u64, seed: u64) -> Conn {
        Conn {
            stream,
            out: Vec::with_capacity(4096),
            written: 0,
            inbuf: vec![0; 16 * 1024],
            start: 0,
            filled: 0,
            pending: 0,
            sent_at: Instant::now(),
            remaining,
            rng: Rng::new(seed),
            key: Vec::with_capacity(32),
            done: false,
        }
    }

    /// Encodes the next batch into `out`.
    fn fill_batch(&mut self, w: &Workload) {
        let batch = w.pipe.min(self.remaining);
        self.out.clear();
        self.written = 0;
        for _ in 0..batch {
            let op = w.mix.pick(self.rng.next_u64());
            let n = self.rng.below(w.keyspace);
            self.key.clear();
            // Counters get their own keys so INCR never meets a SET value (which would be an
            // error reply and blur the error count).
            self.key.extend_from_slice(match op {
                Op::Incr | Op::EvalIncr => b"ctr:",
                Op::EvalRateLimit => b"rl:",
                _ => b"key:",
            });
            push_decimal(&mut self.key, n);
            let key = self.key.as_slice();
            let value = w.value.as_slice();
            match op {
                Op::Get => encode_command(&mut self.out, &[b"GET", key]),
                Op::Set => encode_command(&mut self.out, &[b"SET", key, value]),
                Op::Incr => encode_command(&mut self.out, &[b"INCR", key]),
                Op::Del => encode_command(&mut self.out, &[b"DEL", key]),
                Op::Exists => encode_command(&mut self.out, &[b"EXISTS", key]),
                Op::Append => encode_command(&mut self.out, &[b"APPEND", key, value]),
                Op::Strlen => encode_command(&mut self.out, &[b"STRLEN", key]),
                Op::Mget => encode_command(&mut self.out, &[b"MGET", key, key]),
                Op::Echo => encode_command(&mut self.out, &[b"ECHO", value]),
                Op::Ping => encode_command(&mut self.out, &[b"PING"]),
                Op::EvalIncr => encode_command(
                    &mut self.out,
                    &[&b"EVALSHA"[..], &w.script_shas[0], b"1", key],
                ),
                Op::EvalRateLimit => encode_command(
                    &mut self.out,
                    &[
                        &b"EVALSHA"[..],
                        &w.script_shas[1],
                        b"1",
                        key,
                        b"1700000000000",
                        value,
                    ],
                ),
            }
        }
        self.remaining -= batch;
        self.pending = batch;
        self.sent_at = Instant::now();
    }

    /// Writes as much of `out` as the socket takes.
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
        Ok(())
    }

    /// Reads everything available (mio is edge-triggered) and consumes complete replies.
    /// Returns (replies, error replies).
    fn read_replies(&mut self) -> io::Result<(u64, u64)> {
        loop {
            if self.filled == self.inbuf.len() {
                if self.start > 0 {
                    self.inbuf.copy_within(self.start..self.filled, 0);
                    self.filled -= self.start;
                    self.start = 0;
                } else {
                    // A reply larger than the buffer (a big GET): grow.
                    self.inbuf.resize(self.inbuf.len() * 2, 0);
                }
            }
            match self.stream.read(&mut self.inbuf[self.filled..]) {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "server closed the connection",
                    ));
                }
                Ok(n) => self.filled += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        let (mut replies, mut errors) = (0, 0);
        while self.pending > 0 {
            match reply_len(&self.inbuf[self.start..self.filled]) {
                Ok(Some(info)) => {
                    self.start += info.len;
                    self.pending -= 1;
                    replies += 1;
                    errors += u64::from(info.is_error);
                }
                Ok(None) => break,
                Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e)),
            }
        }
        if self.pending == 0 && self.start < self.filled {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "server sent more replies than commands",
            ));
        }
        if self.start == self.filled {
            self.start = 0;
            self.filled = 0;
        }
        Ok((replies, errors))
    }
}

/// Opens a non-blocking connection. The handshake itself is blocking: on loopback it is
/// immediate, and it keeps the event loop free of connect states.
fn open(addr: SocketAddr) -> io::Result<TcpStream> {
    let stream = std::net::TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT)?;
    stream.set_nodelay(true)?;
    stream.set_nonblocking(true)?;
    Ok(TcpStream::from_std(stream))
}

/// Runs `count` connections on one mio poll until they have all finished.
fn worker(
    index: u64,
    count: u64,
    w: &Workload,
    progress: &Progress,
    stop: &AtomicBool,
    ready: &Barrier,
) -> Result<WorkerResult, String> {
    let mut result = WorkerResult {
        histogram: Histogram::new_with_bounds(1, MAX_LATENCY_US, 3)
            .map_err(|e| format!("histogram: {e}"))?,
        ops: 0,
        errors: 0,
        timeouts: 0,
        first_failure: None,
    };
    let setup = (|| -> io::Result<(Poll, Vec<Conn>)> {
        let poll = Poll::new()?;
        let mut conns = Vec::new();
        for i in 0..count {
            let mut stream = open(w.addr)?;
            poll.registry().register(
                &mut stream,
                Token(i as usize),
                Interest::READABLE | Interest::WRITABLE,
            )?;
            let seed = (index << 32) ^ i ^ 0x10ad_7e57;
            conns.push(Conn::new(
                stream,
                w.ops_per_client.unwrap_or(u64::MAX),
                seed,
            ));
        }
        Ok((poll, conns))
    })();
    // Every worker reaches the barrier, even on failure, so the main thread never hangs.
    ready.wait();
    let (mut poll, mut conns) = setup.map_err(|e| format!("cannot connect to {}: {e}", w.addr))?;

    let mut events = Events::with_capacity(1024);
    let mut live = conns.len();
    for conn in &mut conns {
        conn.fill_batch(w);
        if let Err(e) = conn.flush() {
            return Err(format!("cannot write to {}: {e}", w.addr));
        }
    }
    let mut next_scan = Instant::now() + TIMEOUT_SCAN;
    while live > 0 {
        let wait = next_scan.saturating_duration_since(Instant::now());
        if let Err(e) = poll.poll(&mut events, Some(wait)) {
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(format!("poll failed: {e}"));
        }
        let now = Instant::now();
        let (mut ops, mut errors) = (0, 0);
        for event in events.iter() {
            let conn = &mut conns[event.token().0];
            if conn.done {
                continue;
            }
            let mut failure = None;
            if event.is_writable()
                && let Err(e) = conn.flush()
            {
                failure = Some(e);
            }
            if failure.is_none() && event.is_readable() {
                match conn.read_replies() {
                    Ok((replies, error_replies)) => {
                        if replies > 0 {
                            let micros = now.duration_since(conn.sent_at).as_micros() as u64;
                            // Every reply of a batch waited the same time, measured from the
                            // batch's write, as redis-benchmark does.
                            result.histogram.saturating_record_n(micros.max(1), replies);
                        }
                        ops += replies;
                        errors += error_replies;
                        if conn.pending == 0 {
                            if conn.remaining == 0 || stop.load(Ordering::Relaxed) {
                                conn.done = true;
                                live -= 1;
                            } else {
                                conn.fill_batch(w);
                                if let Err(e) = conn.flush() {
                                    failure = Some(e);
                                }
                            }
                        }
                    }
                    Err(e) => failure = Some(e),
                }
            }
            if let Some(e) = failure {
                // The batch in flight is lost: count it, then carry on with a new connection.
                errors += conn.pending;
                result.first_failure.get_or_insert_with(|| e.to_string());
                if !replace_connection(&poll, conn, event.token(), w, &mut result) {
                    live -= 1;
                }
            }
        }
        result.ops += ops;
        result.errors += errors;
        progress.ops.fetch_add(ops, Ordering::Relaxed);
        progress.errors.fetch_add(errors, Ordering::Relaxed);

        if now >= next_scan {
            next_scan = now + TIMEOUT_SCAN;
            for (i, conn) in conns.iter_mut().enumerate() {
                if !conn.done && conn.pending > 0 && now - conn.sent_at > w.read_timeout {
                    result.timeouts += conn.pending;
                    progress.timeouts.fetch_add(conn.pending, Ordering::Relaxed);
                    // Replies may still arrive late; a fresh connection cannot confuse them
                    // with the next batch's.
                    if !replace_connection(&poll, conn, Token(i), w, &mut result) {
                        live -= 1;
                    }
                }
            }
        }
        // In duration mode idle connections finish at the next check.
        if stop.load(Ordering::Relaxed) {
            for conn in conns.iter_mut().filter(|c| !c.done && c.pending == 0) {
                conn.done = true;
                live -= 1;
            }
        }
    }
    Ok(result)
}

/// Replaces a failed or stuck connection and starts its next batch. Returns false (and marks
/// the client done) if that is impossible or the client has nothing left to send.
fn replace_connection(
    poll: &Poll,
    conn: &mut Conn,
    token: Token,
    w: &Workload,
    result: &mut WorkerResult,
) -> bool {
    let _ = poll.registry().deregister(&mut conn.stream);
    conn.pending = 0;
    conn.start = 0;
    conn.filled = 0;
    let reopened = open(w.addr).and_then(|mut s| {
        poll.registry()
            .register(&mut s, token, Interest::READABLE | Interest::WRITABLE)?;
        Ok(s)
    });
    match reopened {
        Ok(stream) if conn.remaining > 0 => {
            conn.stream = stream;
            conn.fill_batch(w);
            match conn.flush() {
                Ok(()) => true,
                Err(e) => {
                    result.first_failure.get_or_insert_with(|| e.to_string());
                    conn.done = true;
                    false
                }
            }
        }
        Ok(_) => {
            conn.done = true;
            false
        }
        Err(e) => {
            result.errors += 1;
            result
                .first_failure
                .get_or_insert_with(|| format!("reconnecting: {e}"));
            conn.done = true;
            false
        }
    }
}

/// The final numbers.
struct Summary {
    ops: u64,
    elapsed: Duration,
    histogram: Histogram<u64>,
    errors: u64,
    timeouts: u64,
}

impl Summary {
    fn ops_per_sec(&self) -> f64 {
        self.ops as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// (label, json key, latency in ms) for each reported percentile.
    fn latencies(&self) -> [(&'static str, &'static str, f64); 5] {
        let ms = |q: f64| self.histogram.value_at_quantile(q) as f64 / 1000.0;
        [
            ("p50", "p50", ms(0.50)),
            ("p95", "p95", ms(0.95)),
            ("p99", "p99", ms(0.99)),
            ("p99.9", "p99_9", ms(0.999)),
            ("max", "max", self.histogram.max() as f64 / 1000.0),
        ]
    }
}

fn main() -> ExitCode {
    let cli: Cli = settings::parse(&DEFAULTS);
    let s = &cli.settings;
    let addr = match s.addr() {
        Ok(addr) => addr,
        Err(e) => {
            eprintln!("loadtest: {e}");
            return ExitCode::FAILURE;
        }
    };
    let script_shas = if s.mix.has_scripts() {
        match load_scripts(addr, s.read_timeout()) {
            Ok(shas) => shas,
            Err(e) => {
                eprintln!("loadtest: cannot load the scripts: {e}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        Default::default()
    };
    let cpus = thread::available_parallelism().map_or(1, |n| n.get() as u64);
    let threads = cli.threads.unwrap_or((cpus / 2).max(1)).min(s.clients);
    let workload = Arc::new(Workload {
        addr,
        pipe: s.pipe,
        ops_per_client: if s.duration.is_some() {
            None
        } else {
            Some(s.ops)
        },
        read_timeout: s.read_timeout(),
        keyspace: s.keyspace,
        value: vec![b'x'; s.value_size],
        mix: s.mix.clone(),
        script_shas,
    });
    let amount = match s.duration {
        Some(d) => format!("for {:.1} s", d.as_secs_f64()),
        None => format!("x {} ops", s.ops),
    };
    eprintln!(
        "loadtest: {addr}, {} clients {amount} on {threads} threads, pipeline {}, mix {}, \
         value {} B, keyspace {}, read timeout {} ms",
        s.clients, s.pipe, s.mix, s.value_size, s.keyspace, s.rt_ms
    );

    let progress = Arc::new(Progress::default());
    let stop = Arc::new(AtomicBool::new(false));
    let ready = Arc::new(Barrier::new(threads as usize + 1));
    let (done_tx, done_rx) = mpsc::channel();
    let mut handles = Vec::new();
    for index in 0..threads {
        // Spread clients evenly: the first `clients % threads` workers take one more.
        let count = s.clients / threads + u64::from(index < s.clients % threads);
        let (w, p, st, r, tx) = (
            Arc::clone(&workload),
            Arc::clone(&progress),
            Arc::clone(&stop),
            Arc::clone(&ready),
            done_tx.clone(),
        );
        handles.push(thread::spawn(move || {
            let result = worker(index, count, &w, &p, &st, &r);
            // The receiver outlives the workers; a send error cannot happen in practice.
            let _ = tx.send(());
            result
        }));
    }
    drop(done_tx);
    ready.wait();
    let started = Instant::now();

    // One progress line a second until every worker has finished.
    let deadline = s.duration.map(|d| started + d);
    let mut next_tick = started + Duration::from_secs(1);
    let mut finished = 0;
    let mut last_ops = 0;
    while finished < threads {
        let now = Instant::now();
        let mut wake = next_tick;
        if let Some(deadline) = deadline.filter(|_| !stop.load(Ordering::Relaxed)) {
            wake = wake.min(deadline);
        }
        match done_rx.recv_timeout(wake.saturating_duration_since(now)) {
            Ok(()) => finished += 1,
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let now = Instant::now();
                if deadline.is_some_and(|d| now >= d) {
                    stop.store(true, Ordering::Relaxed);
                }
                if now >= next_tick {
                    let ops = progress.ops.load(Ordering::Relaxed);
                    eprintln!(
                        "[{:>4} s] {:>9} ops/s   total {:>10}   errors {}   timeouts {}",
                        (now - started).as_secs(),
                        ops - last_ops,
                        ops,
                        progress.errors.load(Ordering::Relaxed),
                        progress.timeouts.load(Ordering::Relaxed),
                    );
                    last_ops = ops;
                    next_tick += Duration::from_secs(1);
                }
            }
        }
    }
    let elapsed = started.elapsed();

    let mut summary = Summary {
        ops: 0,
        elapsed,
        histogram: match Histogram::new_with_bounds(1, MAX_LATENCY_US, 3) {
            Ok(h) => h,
            Err(e) => {
                eprintln!("loadtest: histogram: {e}");
                return ExitCode::FAILURE;
            }
        },
        errors: 0,
        timeouts: 0,
    };
    let mut failures = Vec::new();
    for handle in handles {
        match handle.join() {
            Ok(Ok(r)) => {
                summary.ops += r.ops;
                summary.errors += r.errors;
                summary.timeouts += r.timeouts;
                // Same bounds on both sides, so adding cannot fail.
                let _ = summary.histogram.add(&r.histogram);
                failures.extend(r.first_failure);
            }
            Ok(Err(e)) => failures.push(e),
            Err(_) => failures.push("a worker thread panicked".into()),
        }
    }
    if summary.ops == 0 && !failures.is_empty() {
        eprintln!("loadtest: {}", failures[0]);
        return ExitCode::FAILURE;
    }
    for failure in failures.iter().take(3) {
        eprintln!("loadtest: connection failure: {failure}");
    }

    if cli.json {
        println!("{}", to_json(&cli, threads, &summary));
    } else {
        print_text(&summary);
    }
    if summary.errors == 0 && summary.timeouts == 0 && failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// SCRIPT LOADs the workload's scripts; returns their SHA1s as the server gives them.
fn load_scripts(addr: SocketAddr, timeout: Duration) -> Result<[Vec<u8>; 2], String> {
    use loadtest::resp::Value;
    let mut client = loadtest::client::Client::connect(addr, timeout).map_err(|e| e.to_string())?;
    let mut load = |body: &str| match client.call(&["SCRIPT", "LOAD", body]) {
        Ok(Value::Bulk(sha)) => Ok(sha),
        Ok(other) => Err(format!("SCRIPT LOAD replied {other:?}")),
        Err(e) => Err(e.to_string()),
    };
    Ok([
        load(loadtest::scripts::INCR)?,
        load(loadtest::scripts::RATE_LIMIT)?,
    ])
}

fn print_text(summary: &Summary) {
    println!(
        "total ops:  {} in {:.2} s",
        summary.ops,
        summary.elapsed.as_secs_f64()
    );
    println!("throughput: {:.0} ops/s", summary.ops_per_sec());
    let latencies: Vec<String> = summary
        .latencies()
        .iter()
        .map(|(label, _, ms)| format!("{label} {ms:.3}"))
        .collect();
    println!("latency ms: {}", latencies.join("  "));
    println!("errors:     {}", summary.errors);
    println!("timeouts:   {}", summary.timeouts);
}

/// The summary as one JSON object (hand-written: a flat object of numbers and two strings
/// does not need serde).
fn to_json(cli: &Cli, threads: u64, summary: &Summary) -> String {
    let s = &cli.settings;
    let latency: Vec<String> = summary
        .latencies()
        .iter()
        .map(|(_, key, ms)| format!("\"{key}\":{ms:.3}"))
        .collect();
    // OPS and DURATION are alternatives: the one not in force is null.
    let (ops_per_client, duration) = match s.duration {
        Some(d) => ("null".to_string(), format!("{:.3}", d.as_secs_f64())),
        None => (s.ops.to_string(), "null".to_string()),
    };
    format!(
        "{{\"host\":{},\"clients\":{},\"threads\":{threads},\"pipe\":{},\"ops_per_client\":{ops_per_client},\
         \"duration_s\":{duration},\"mix\":{},\"value_size\":{},\"keyspace\":{},\"rt_ms\":{},\
         \"total_ops\":{},\"elapsed_s\":{:.3},\"ops_per_sec\":{:.1},\"latency_ms\":{{{}}},\
         \"errors\":{},\"timeouts\":{}}}",
        json_string(&s.host),
        s.clients,
        s.pipe,
        json_string(&s.mix.to_string()),
        s.value_size,
        s.keyspace,
        s.rt_ms,
        summary.ops,
        summary.elapsed.as_secs_f64(),
        summary.ops_per_sec(),
        latency.join(","),
        summary.errors,
        summary.timeouts,
    )
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
