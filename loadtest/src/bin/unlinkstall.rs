//! `unlinkstall`: how long other clients wait while a huge value is UNLINKed (issue 13).
//!
//! For each type (set, zset, hash, list) it builds one key of MEMBERS elements (string
//! members `m:<i>`; hash values `v:<i>`; zset scores `<i>`), then, while a second
//! connection sends PING after PING and times each round trip, UNLINKs the key. Reported:
//!
//! * `unlink_ms`: the UNLINK's own round trip;
//! * `during_ms`: the worst PING round trip that overlapped the UNLINK;
//! * `after_ms`: the worst PING round trip in the AFTER seconds that follow. During that
//!   window a third client stores and reads back a 1 MiB string (a big buffer allocated
//!   and freed, at +0.5 s) and, with `--poll-info`, reads INFO memory every 10 ms until
//!   `lazyfree_pending_objects` is 0 (as a monitoring system would; `freed_ms` is when it
//!   saw 0, `-` when not polled or never seen within AFTER), and the connection
//!   that loaded the key sits idle, so the server's cron releases its big read buffer
//!   (after about 3 s): the moments a deferred cost of the free (allocator consolidation,
//!   trimming) would land on the event loop.
//!
//! stdout: one line per type: `type unlink_ms during_ms after_ms after_at freed_ms pings`,
//! where `after_at` is when (seconds after the UNLINK's reply) the worst later PING was
//! sent.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use clap::Parser;
use loadtest::client::Client;
use loadtest::resp::{Value, encode_command};
use loadtest::settings::{parse_seconds, resolve};

/// Worst PING wait while a big set, zset, hash and list are UNLINKed, and after.
#[derive(Parser, Debug)]
#[command(name = "unlinkstall", version)]
struct Cli {
    /// Server address as host:port.
    #[arg(long, env = "HOST", default_value = "127.0.0.1:6374")]
    host: String,
    /// Elements per key.
    #[arg(long, default_value = "5000000")]
    members: u64,
    /// Comma-separated types to test, in order.
    #[arg(long, default_value = "set,zset,hash,list")]
    types: String,
    /// Seconds to keep measuring after the UNLINK replied.
    #[arg(long, default_value = "4", value_parser = parse_seconds)]
    after: Duration,
    /// Delete with this command instead of UNLINK (DEL shows the synchronous cost).
    #[arg(long, default_value = "UNLINK")]
    command: String,
    /// Also read INFO memory every 10 ms until `lazyfree_pending_objects` is 0, and
    /// report when (`freed_ms`); INFO's own cost then shows in the PING waits.
    #[arg(long)]
    poll_info: bool,
    /// What the measuring client sends: `ping`, or `set` (SET of a 100-byte value to one
    /// of 100,000 keys: traffic that allocates).
    #[arg(long, default_value = "ping")]
    probe: String,
}

/// Elements per loading command, and loading commands in flight.
const PER_COMMAND: u64 = 1000;
const IN_FLIGHT: u64 = 32;

fn connect(addr: SocketAddr) -> Client {
    Client::connect(addr, Duration::from_secs(60)).expect("connect")
}

fn check(v: Value) -> Value {
    if let Value::Error(e) = &v {
        panic!("error reply: {e}");
    }
    v
}

/// One loading command for elements `from..to` of a key of type `kind`.
fn add_command(out: &mut Vec<u8>, kind: &str, key: &[u8], from: u64, to: u64) {
    let mut args: Vec<Vec<u8>> = Vec::with_capacity(2 + 2 * (to - from) as usize);
    let verb: &[u8] = match kind {
        "set" => b"SADD",
        "zset" => b"ZADD",
        "hash" => b"HSET",
        "list" => b"RPUSH",
        other => panic!("unknown type {other}"),
    };
    args.push(verb.to_vec());
    args.push(key.to_vec());
    for i in from..to {
        match kind {
            "zset" => {
                args.push(i.to_string().into_bytes());
                args.push(format!("m:{i}").into_bytes());
            }
            "hash" => {
                args.push(format!("m:{i}").into_bytes());
                args.push(format!("v:{i}").into_bytes());
            }
            _ => args.push(format!("m:{i}").into_bytes()),
        }
    }
    encode_command(out, &args);
}

fn load(c: &mut Client, kind: &str, key: &[u8], members: u64) {
    let mut next = 0;
    while next < members {
        let mut batch = Vec::new();
        let mut n = 0;
        while n < IN_FLIGHT && next < members {
            let to = (next + PER_COMMAND).min(members);
            add_command(&mut batch, kind, key, next, to);
            next = to;
            n += 1;
        }
        c.send(&batch).expect("send");
        for _ in 0..n {
            check(c.read().expect("read"));
        }
    }
    let len: &[u8] = match kind {
        "set" => b"SCARD",
        "zset" => b"ZCARD",
        "hash" => b"HLEN",
        _ => b"LLEN",
    };
    let got = check(c.call(&[len, key]).expect("len"));
    assert_eq!(got, Value::Integer(members as i64), "{kind} size");
}

/// Sends the probe (PING, or SET) until `stop`, recording (start, round trip) of each.
fn pinger(addr: SocketAddr, stop: Arc<AtomicBool>, set: bool) -> Vec<(Instant, Duration)> {
    let mut c = connect(addr);
    let value = [b'v'; 100];
    let mut samples = Vec::with_capacity(1 << 20);
    let mut i = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let probe = if set {
            i += 1;
            let key = format!("stall:probe:{}", i % 100_000);
            loadtest::resp::command(&[&b"SET"[..], key.as_bytes(), &value])
        } else {
            loadtest::resp::command(&[&b"PING"[..]])
        };
        let t = Instant::now();
        c.send(&probe).expect("probe");
        check(c.read().expect("pong"));
        samples.push((t, t.elapsed()));
    }
    samples
}

/// INFO's `lazyfree_pending_objects`.
fn pending_objects(c: &mut Client) -> Option<u64> {
    let Value::Bulk(info) = check(c.call(&[&b"INFO"[..], b"memory"]).expect("info")) else {
        return None;
    };
    String::from_utf8_lossy(&info)
        .lines()
        .find_map(|l| l.strip_prefix("lazyfree_pending_objects:"))
        .and_then(|v| v.trim().parse().ok())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn run(addr: SocketAddr, cli: &Cli, kind: &str) {
    let key = format!("stall:{kind}").into_bytes();
    let mut loader = connect(addr);
    loader.call(&[&b"DEL"[..], &key]).expect("del");
    load(&mut loader, kind, &key, cli.members);

    let stop = Arc::new(AtomicBool::new(false));
    let pings = {
        let stop = stop.clone();
        let set = cli.probe == "set";
        thread::spawn(move || pinger(addr, stop, set))
    };
    // Let the pinger settle before the UNLINK.
    thread::sleep(Duration::from_millis(200));
    let t0 = Instant::now();
    let n = check(
        loader
            .call(&[cli.command.as_bytes(), &key])
            .expect("unlink"),
    );
    let unlink = t0.elapsed();
    let t1 = Instant::now();
    assert_eq!(n, Value::Integer(1));

    // Another client writes a big buffer half a second after the UNLINK (and with
    // --poll-info watches INFO until the value is freed); the loader stays idle.
    let mut other = connect(addr);
    let big = vec![b'x'; 1 << 20];
    let mut big_done = false;
    let mut freed_at = None;
    while t1.elapsed() < cli.after {
        if !big_done && t1.elapsed() >= Duration::from_millis(500) {
            check(other.call(&[&b"SET"[..], b"stall:buf", &big]).expect("set"));
            check(other.call(&[&b"GET"[..], b"stall:buf"]).expect("get"));
            check(other.call(&[&b"DEL"[..], b"stall:buf"]).expect("del"));
            big_done = true;
        }
        if cli.poll_info && freed_at.is_none() && pending_objects(&mut other) == Some(0) {
            freed_at = Some(t1.elapsed());
        }
        thread::sleep(Duration::from_millis(10));
    }
    stop.store(true, Ordering::Relaxed);
    let samples = pings.join().expect("pinger");

    let end = t1 + cli.after;
    let mut during = Duration::ZERO;
    let (mut after, mut after_at) = (Duration::ZERO, Duration::ZERO);
    for &(start, rtt) in &samples {
        let finish = start + rtt;
        if start <= t1 && finish >= t0 {
            during = during.max(rtt);
        } else if start > t1 && start <= end && rtt > after {
            after = rtt;
            after_at = start - t1;
        }
    }
    let freed = freed_at.map_or("-".to_string(), |d| format!("{:.0}", ms(d)));
    println!(
        "{kind:<5} {:>10.2} {:>10.2} {:>10.2} {:>8.2} {:>8} {:>8}",
        ms(unlink),
        ms(during),
        ms(after),
        after_at.as_secs_f64(),
        freed,
        samples.len()
    );
    drop(loader);
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let addr = match resolve(&cli.host) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("unlinkstall: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "{:<5} {:>10} {:>10} {:>10} {:>8} {:>8} {:>8}",
        "type", "unlink_ms", "during_ms", "after_ms", "after_at", "freed_ms", "pings"
    );
    for kind in cli.types.split(',') {
        run(addr, &cli, kind);
    }
    ExitCode::SUCCESS
}
