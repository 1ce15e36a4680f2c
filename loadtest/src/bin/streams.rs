//! `streams`: stream workloads against any RESP server, to compare rust-keyval with
//! redis-server (issue 12's speed targets). Each client is a thread running closed-loop for
//! DURATION; the summary is the number of stream operations per second.
//!
//! Scenarios (`--scenario`):
//! * `xadd`: XADD of a three-field entry with `*` IDs, PIPE at a time, each client to its
//!   own stream (MAXLEN ~ 1000000 keeps memory bounded on long runs).
//! * `xrange`: XRANGE of 100 entries (`- + COUNT 100`) from a 1,000-entry stream filled
//!   first, PIPE at a time.
//! * `consume`: the consumer-group loop: XREADGROUP `>` COUNT 10, then XACK of the IDs it
//!   got; a filler client keeps the stream ahead of the consumers. Counts entries consumed.
//!
//! * `mem-entries`, `mem-pel`: no timing; load the memory shapes of issue 12 and exit:
//!   1M entries of three small fields in one stream, or 100 groups each with 10k pending
//!   entries (one 10k-entry stream). The caller measures the server's memory around it.
//!
//! stdout: `scenario ops/s` (with `--json`, one JSON object).

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use clap::Parser;
use loadtest::client::Client;
use loadtest::resp::{Value, encode_command};
use loadtest::settings::{parse_seconds, resolve};

/// Stream workloads: XADD, XRANGE of 100 entries, and an XREADGROUP + XACK consumer loop.
#[derive(Parser, Debug)]
#[command(name = "streams", version)]
struct Cli {
    /// Server address as host:port.
    #[arg(long, env = "HOST", default_value = "127.0.0.1:6374")]
    host: String,
    /// xadd, xrange or consume.
    #[arg(long, env = "SCENARIO")]
    scenario: String,
    /// Client threads.
    #[arg(long, env = "CLIENTS", default_value = "8")]
    clients: u64,
    /// Pipeline depth (xadd, xrange).
    #[arg(long, env = "PIPE", default_value = "1")]
    pipe: u64,
    /// How long to run, in seconds.
    #[arg(long, env = "DURATION", default_value = "5", value_parser = parse_seconds)]
    duration: Duration,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
}

const FIELDS: [&[u8]; 6] = [b"name", b"alice", b"age", b"42", b"city", b"paris"];

fn connect(addr: SocketAddr) -> Client {
    Client::connect(addr, Duration::from_secs(10)).expect("connect")
}

/// Sends `batch` (`n` commands) and reads their replies; panics on an error reply.
fn round_trip(c: &mut Client, batch: &[u8], n: u64) -> Vec<Value> {
    c.send(batch).expect("send");
    (0..n)
        .map(|_| match c.read().expect("read") {
            Value::Error(e) => panic!("error reply: {e}"),
            v => v,
        })
        .collect()
}

/// The entry IDs of an XREADGROUP reply for one stream.
fn ids_of(reply: &Value) -> Vec<Vec<u8>> {
    let Value::Array(streams) = reply else {
        return Vec::new();
    };
    let mut ids = Vec::new();
    for s in streams {
        if let Value::Array(kv) = s
            && let Some(Value::Array(entries)) = kv.get(1)
        {
            for e in entries {
                if let Value::Array(parts) = e
                    && let Some(Value::Bulk(id)) = parts.first()
                {
                    ids.push(id.clone());
                }
            }
        }
    }
    ids
}

fn xadd_client(addr: SocketAddr, id: u64, pipe: u64, stop: &AtomicBool) -> u64 {
    let mut c = connect(addr);
    let key = format!("bench:xadd:{id}");
    let mut batch = Vec::new();
    for _ in 0..pipe {
        let mut args: Vec<&[u8]> = vec![b"XADD", key.as_bytes(), b"MAXLEN", b"~", b"1000000", b"*"];
        args.extend_from_slice(&FIELDS);
        encode_command(&mut batch, &args);
    }
    let mut done = 0;
    while !stop.load(Ordering::Relaxed) {
        round_trip(&mut c, &batch, pipe);
        done += pipe;
    }
    done
}

fn xrange_client(addr: SocketAddr, pipe: u64, stop: &AtomicBool) -> u64 {
    let mut c = connect(addr);
    let mut batch = Vec::new();
    for _ in 0..pipe {
        encode_command(
            &mut batch,
            &[&b"XRANGE"[..], b"bench:range", b"-", b"+", b"COUNT", b"100"],
        );
    }
    let mut done = 0;
    while !stop.load(Ordering::Relaxed) {
        round_trip(&mut c, &batch, pipe);
        done += pipe;
    }
    done
}

fn consume_client(addr: SocketAddr, id: u64, stop: &AtomicBool) -> u64 {
    let mut c = connect(addr);
    let consumer = format!("c{id}");
    let read = loadtest::resp::command(&[
        &b"XREADGROUP"[..],
        b"GROUP",
        b"g",
        consumer.as_bytes(),
        b"COUNT",
        b"10",
        b"STREAMS",
        b"bench:queue",
        b">",
    ]);
    let mut consumed = 0;
    while !stop.load(Ordering::Relaxed) {
        let reply = round_trip(&mut c, &read, 1);
        let ids = ids_of(&reply[0]);
        if ids.is_empty() {
            thread::yield_now();
            continue;
        }
        let mut ack: Vec<&[u8]> = vec![b"XACK", b"bench:queue", b"g"];
        ack.extend(ids.iter().map(Vec::as_slice));
        round_trip(&mut c, &loadtest::resp::command(&ack), 1);
        consumed += ids.len() as u64;
    }
    consumed
}

/// Keeps the queue stream ahead of the consumers: appends while it holds fewer than
/// 50,000 undelivered entries.
fn fill_queue(addr: SocketAddr, stop: &AtomicBool) {
    let mut c = connect(addr);
    let mut batch = Vec::new();
    for _ in 0..100 {
        let mut args: Vec<&[u8]> = vec![b"XADD", b"bench:queue", b"*"];
        args.extend_from_slice(&FIELDS);
        encode_command(&mut batch, &args);
    }
    while !stop.load(Ordering::Relaxed) {
        let lag = match c.call(&[&b"XINFO"[..], b"GROUPS", b"bench:queue"]) {
            Ok(Value::Array(groups)) => groups
                .first()
                .and_then(|g| match g {
                    Value::Array(kv) => kv
                        .chunks(2)
                        .find(|p| p[0] == Value::Bulk(b"lag".to_vec()))
                        .and_then(|p| match p[1] {
                            Value::Integer(n) => Some(n),
                            _ => None,
                        }),
                    _ => None,
                })
                .unwrap_or(0),
            _ => 0,
        };
        if lag < 50_000 {
            for _ in 0..10 {
                round_trip(&mut c, &batch, 100);
            }
        } else {
            thread::sleep(Duration::from_millis(1));
        }
    }
}

/// Loads one memory shape into key `bench:mem` (see the module doc).
fn load_memory_shape(c: &mut Client, shape: &str) {
    let entries: u64 = if shape == "entries" {
        1_000_000
    } else {
        10_000
    };
    let mut batch = Vec::new();
    let mut n = 0;
    for i in 0..entries {
        let age = (i % 100).to_string();
        let args: [&[u8]; 9] = [
            b"XADD",
            b"bench:mem",
            b"*",
            b"name",
            b"alice",
            b"age",
            age.as_bytes(),
            b"city",
            b"paris",
        ];
        encode_command(&mut batch, &args);
        n += 1;
        if n == 1000 || i + 1 == entries {
            round_trip(c, &batch, n);
            batch.clear();
            n = 0;
        }
    }
    if shape == "pel" {
        for g in 0..100 {
            let group = format!("g{g}");
            let create = [
                &b"XGROUP"[..],
                b"CREATE",
                b"bench:mem",
                group.as_bytes(),
                b"0",
            ];
            c.call(&create).expect("XGROUP CREATE");
            let read = [
                &b"XREADGROUP"[..],
                b"GROUP",
                group.as_bytes(),
                b"c",
                b"COUNT",
                b"10000",
                b"STREAMS",
                b"bench:mem",
                b">",
            ];
            c.call(&read).expect("XREADGROUP");
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let addr = match resolve(&cli.host) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("streams: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut setup = connect(addr);
    if let Some(shape) = cli.scenario.strip_prefix("mem-") {
        load_memory_shape(&mut setup, shape);
        return ExitCode::SUCCESS;
    }
    let _ = setup.call(&[&b"DEL"[..], b"bench:range", b"bench:queue"]);
    match cli.scenario.as_str() {
        "xadd" => {}
        "xrange" => {
            let mut batch = Vec::new();
            for _ in 0..1000 {
                let mut args: Vec<&[u8]> = vec![b"XADD", b"bench:range", b"*"];
                args.extend_from_slice(&FIELDS);
                encode_command(&mut batch, &args);
            }
            round_trip(&mut setup, &batch, 1000);
        }
        "consume" => {
            let _ = setup.call(&[
                &b"XGROUP"[..],
                b"CREATE",
                b"bench:queue",
                b"g",
                b"$",
                b"MKSTREAM",
            ]);
        }
        other => {
            eprintln!("streams: unknown scenario {other} (xadd, xrange, consume)");
            return ExitCode::FAILURE;
        }
    }
    let stop = Arc::new(AtomicBool::new(false));
    let total = Arc::new(AtomicU64::new(0));
    let filler = (cli.scenario == "consume").then(|| {
        let stop = stop.clone();
        thread::spawn(move || fill_queue(addr, &stop))
    });
    if filler.is_some() {
        // Let the filler get ahead before the consumers start.
        thread::sleep(Duration::from_millis(300));
    }
    let started = Instant::now();
    let workers: Vec<_> = (0..cli.clients)
        .map(|id| {
            let (stop, total, scenario, pipe) =
                (stop.clone(), total.clone(), cli.scenario.clone(), cli.pipe);
            thread::spawn(move || {
                let n = match scenario.as_str() {
                    "xadd" => xadd_client(addr, id, pipe, &stop),
                    "xrange" => xrange_client(addr, pipe, &stop),
                    _ => consume_client(addr, id, &stop),
                };
                total.fetch_add(n, Ordering::Relaxed);
            })
        })
        .collect();
    thread::sleep(cli.duration);
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().expect("worker");
    }
    let elapsed = started.elapsed().as_secs_f64();
    if let Some(f) = filler {
        f.join().expect("filler");
    }
    let _ = setup.call(&[&b"DEL"[..], b"bench:range", b"bench:queue"]);
    for id in 0..cli.clients {
        let _ = setup.call(&[b"DEL".to_vec(), format!("bench:xadd:{id}").into_bytes()]);
    }
    let rate = total.load(Ordering::Relaxed) as f64 / elapsed;
    if cli.json {
        println!(
            "{{\"scenario\":\"{}\",\"ops_per_sec\":{rate:.0}}}",
            cli.scenario
        );
    } else {
        println!("{} {rate:.0}", cli.scenario);
    }
    ExitCode::SUCCESS
}
