//! `stress`: many concurrent clients, every reply verified.
//!
//! Each client (default 200, one thread each: this tool checks correctness under concurrency,
//! throughput is `loadtest`'s job) runs a random mix of commands on its own keys, pipelined
//! PIPE at a time, and keeps a model of what the server must answer:
//! - read-your-writes: GET/STRLEN/EXISTS/MGET must reflect the client's own SET/APPEND/DEL;
//! - order: ECHO carries a sequence number and the client's own counter must count up by one,
//!   so a lost, duplicated or reordered reply shows up as a mismatch;
//! - atomicity: every INCR of the counter shared by all clients must return more than the
//!   previous one this client saw, and at the end the shared counter must equal the total
//!   number of INCRs sent to it.
//!
//! It prints ops/s and the mismatches (the first few in full) and exits non-zero on any
//! mismatch or error.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::Parser;
use loadtest::client::Client;
use loadtest::resp::{Value, command, encode_command, escape_short};
use loadtest::rng::Rng;
use loadtest::settings::{self, Defaults, Mix, Op, Settings};

/// Many concurrent clients with every reply checked against a model; non-zero exit on any
/// mismatch. Uses HOST, CLIENTS, OPS (per client), PIPE, RT, VALUE_SIZE, MIX and DURATION.
#[derive(Parser, Debug)]
#[command(name = "stress", version)]
struct Cli {
    #[command(flatten)]
    settings: Settings,
}

const DEFAULTS: Defaults = Defaults {
    clients: "200",
    ops: "2000",
    pipe: "4",
    rt_ms: "5000",
    keyspace: "1",
    value_size: "32",
    mix: "set=20,get=25,incr=20,echo=10,append=5,del=5,exists=5,strlen=5,mget=5",
};

/// Mismatches printed in full per client; the rest are only counted.
const MISMATCHES_SHOWN_PER_CLIENT: usize = 3;

/// What a client must see in a reply.
enum Expect {
    /// Exactly this value.
    Exact(Value),
    /// An integer greater than the last one this client got from the shared counter.
    SharedIncr,
}

/// One client's view of its keys, from which every expected reply is computed.
struct Model {
    id: u64,
    key: Vec<u8>,
    counter_key: Vec<u8>,
    shared_key: Vec<u8>,
    value: Option<Vec<u8>>,
    counter: i64,
    last_shared: i64,
    shared_incrs: u64,
    seq: u64,
    value_size: usize,
    /// Calls of the rate-limiter script so far (each adds a new member to its window).
    rate_limited: i64,
}

impl Model {
    /// Appends the command(s) for `op` to `out` and their expected replies to `expect`.
    fn push(&mut self, op: Op, out: &mut Vec<u8>, expect: &mut Vec<Expect>) {
        self.seq += 1;
        let key = self.key.as_slice();
        match op {
            Op::Set => {
                // The value names its writer and sequence, so a reply meant for another
                // client or an older write is recognisable.
                let mut value = format!("{}:{}:", self.id, self.seq).into_bytes();
                value.resize(value.len().max(self.value_size), b'v');
                encode_command(out, &[b"SET", key, &value]);
                expect.push(Expect::Exact(Value::Simple("OK".into())));
                self.value = Some(value);
            }
            Op::Get => {
                encode_command(out, &[b"GET", key]);
                expect.push(Expect::Exact(self.value_reply()));
            }
            Op::Incr => {
                encode_command(out, &[b"INCR" as &[u8], &self.counter_key]);
                self.counter += 1;
                expect.push(Expect::Exact(Value::Integer(self.counter)));
                encode_command(out, &[b"INCR" as &[u8], &self.shared_key]);
                expect.push(Expect::SharedIncr);
                self.shared_incrs += 1;
            }
            Op::Del => {
                encode_command(out, &[b"DEL", key]);
                let existed = self.value.take().is_some();
                expect.push(Expect::Exact(Value::Integer(existed.into())));
            }
            Op::Exists => {
                encode_command(out, &[b"EXISTS", key]);
                expect.push(Expect::Exact(Value::Integer(self.value.is_some().into())));
            }
            Op::Append => {
                let suffix = format!("+{}", self.seq).into_bytes();
                encode_command(out, &[b"APPEND", key, &suffix]);
                let value = self.value.get_or_insert_with(Vec::new);
                value.extend_from_slice(&suffix);
                expect.push(Expect::Exact(Value::Integer(value.len() as i64)));
            }
            Op::Strlen => {
                encode_command(out, &[b"STRLEN", key]);
                let len = self.value.as_ref().map_or(0, Vec::len);
                expect.push(Expect::Exact(Value::Integer(len as i64)));
            }
            Op::Mget => {
                let missing = [key, b":missing"].concat();
                encode_command(out, &[b"MGET", key, &missing]);
                expect.push(Expect::Exact(Value::Array(vec![
                    self.value_reply(),
                    Value::Nil,
                ])));
            }
            Op::Echo => {
                let message = format!("{}:{}", self.id, self.seq).into_bytes();
                encode_command(out, &[b"ECHO" as &[u8], &message]);
                expect.push(Expect::Exact(Value::Bulk(message)));
            }
            Op::Ping => {
                encode_command(out, &[b"PING"]);
                expect.push(Expect::Exact(Value::Simple("PONG".into())));
            }
            Op::EvalIncr => {
                let script = loadtest::scripts::INCR.as_bytes();
                encode_command(out, &[b"EVAL" as &[u8], script, b"1", &self.counter_key]);
                self.counter += 1;
                expect.push(Expect::Exact(Value::Integer(self.counter)));
            }
            Op::EvalRateLimit => {
                // The window never slides (a fixed time), and every call adds a new member:
                // the script returns how many calls came before.
                let script = loadtest::scripts::RATE_LIMIT.as_bytes();
                let rl_key = [key, b":rl"].concat();
                let member = self.seq.to_string().into_bytes();
                encode_command(
                    out,
                    &[
                        b"EVAL" as &[u8],
                        script,
                        b"1",
                        &rl_key,
                        b"1700000000000",
                        &member,
                    ],
                );
                expect.push(Expect::Exact(Value::Integer(self.rate_limited)));
                self.rate_limited += 1;
            }
        }
    }

    fn value_reply(&self) -> Value {
        self.value.clone().map_or(Value::Nil, Value::Bulk)
    }

    /// Checks one reply; `Err` describes a mismatch.
    fn check(&mut self, expect: &Expect, got: Value) -> Result<(), String> {
        match (expect, got) {
            (Expect::Exact(want), got) if *want == got => Ok(()),
            (Expect::Exact(want), got) => Err(format!("expected {want}, got {got}")),
            (Expect::SharedIncr, Value::Integer(n)) if n > self.last_shared => {
                self.last_shared = n;
                Ok(())
            }
            (Expect::SharedIncr, got) => Err(format!(
                "shared INCR: expected an integer above {}, got {got}",
                self.last_shared
            )),
        }
    }
}

/// What one client thread reports.
#[derive(Default)]
struct ClientReport {
    commands: u64,
    shared_incrs: u64,
    mismatches: u64,
    /// Mismatch and error descriptions, at most a few per client.
    notes: Vec<String>,
    /// I/O failures (lost connection, reply timeout): the client stopped early.
    errors: u64,
}

impl ClientReport {
    fn note(&mut self, text: String) {
        if self.notes.len() < MISMATCHES_SHOWN_PER_CLIENT {
            self.notes.push(text);
        }
    }
}

/// When a client stops sending.
#[derive(Clone, Copy)]
enum Budget {
    Ops(u64),
    Until(Instant),
}

struct Plan {
    addr: SocketAddr,
    read_timeout: Duration,
    pipe: u64,
    mix: Mix,
    budget: Budget,
    prefix: String,
    value_size: usize,
}

fn run_client(id: u64, plan: &Plan, abort: &AtomicBool) -> ClientReport {
    let mut report = ClientReport::default();
    let mut client = match Client::connect(plan.addr, plan.read_timeout) {
        Ok(c) => c,
        Err(e) => {
            report.errors += 1;
            report.note(format!("client {id}: cannot connect: {e}"));
            return report;
        }
    };
    let mut model = Model {
        id,
        key: format!("{}:{id}:k", plan.prefix).into_bytes(),
        counter_key: format!("{}:{id}:ctr", plan.prefix).into_bytes(),
        shared_key: format!("{}:shared", plan.prefix).into_bytes(),
        value: None,
        counter: 0,
        last_shared: 0,
        shared_incrs: 0,
        seq: 0,
        value_size: plan.value_size,
        rate_limited: 0,
    };
    let mut rng = Rng::new(id.wrapping_mul(0x9E37_79B9) ^ 0x5eed);
    let mut sent_ops = 0u64;
    let mut request = Vec::new();
    let mut expect = Vec::new();
    loop {
        let batch = match plan.budget {
            Budget::Ops(total) => plan.pipe.min(total - sent_ops),
            Budget::Until(deadline) if Instant::now() < deadline => plan.pipe,
            Budget::Until(_) => 0,
        };
        if batch == 0 || abort.load(Ordering::Relaxed) {
            break;
        }
        request.clear();
        expect.clear();
        for _ in 0..batch {
            model.push(plan.mix.pick(rng.next_u64()), &mut request, &mut expect);
        }
        sent_ops += batch;
        if let Err(e) = client.send(&request) {
            report.errors += 1;
            report.note(format!("client {id}: sending failed: {e}"));
            break;
        }
        for (i, want) in expect.iter().enumerate() {
            match client.read() {
                Ok(got) => {
                    report.commands += 1;
                    if let Err(why) = model.check(want, got) {
                        report.mismatches += 1;
                        report.note(format!("client {id}, reply {i} of a pipeline: {why}"));
                    }
                }
                Err(e) => {
                    report.errors += 1;
                    report.note(format!(
                        "client {id}: reply {i} of {} lost: {e}",
                        expect.len()
                    ));
                    return report;
                }
            }
        }
    }
    report.shared_incrs = model.shared_incrs;
    // The final state must match the model too, then the client cleans up after itself.
    let final_checks = [
        (
            command(&[b"GET" as &[u8], &model.counter_key]),
            if model.counter == 0 {
                Value::Nil
            } else {
                Value::Bulk(model.counter.to_string().into_bytes())
            },
        ),
        (command(&[b"GET" as &[u8], &model.key]), model.value_reply()),
    ];
    for (request, want) in final_checks {
        match client.send(&request).and_then(|()| client.read()) {
            Ok(got) if got == want => {}
            Ok(got) => {
                report.mismatches += 1;
                report.note(format!(
                    "client {id}: final {}: expected {want}, got {got}",
                    escape_short(&request)
                ));
            }
            Err(e) => {
                report.errors += 1;
                report.note(format!("client {id}: final check failed: {e}"));
            }
        }
    }
    if let Err(e) = client.call(&[b"DEL" as &[u8], &model.key, &model.counter_key]) {
        report.errors += 1;
        report.note(format!("client {id}: cleanup failed: {e}"));
    }
    report
}

fn main() -> ExitCode {
    let cli: Cli = settings::parse(&DEFAULTS);
    let s = &cli.settings;
    let addr = match s.addr() {
        Ok(addr) => addr,
        Err(e) => {
            eprintln!("stress: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Probe once so an unreachable server gives one clear line rather than 200.
    let mut control = match Client::connect(addr, s.read_timeout()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("stress: cannot connect to {addr}: {e}");
            return ExitCode::FAILURE;
        }
    };
    // A fresh key prefix per run, so runs never see each other's keys.
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let prefix = format!("stress:{}:{nanos:x}", std::process::id());
    let budget = match s.duration {
        Some(d) => Budget::Until(Instant::now() + d),
        None => Budget::Ops(s.ops),
    };
    let plan = Arc::new(Plan {
        addr,
        read_timeout: s.read_timeout(),
        pipe: s.pipe,
        mix: s.mix.clone(),
        budget,
        prefix: prefix.clone(),
        value_size: s.value_size,
    });
    let amount = match s.duration {
        Some(d) => format!("for {:.1} s", d.as_secs_f64()),
        None => format!("x {} ops", s.ops),
    };
    println!(
        "stress: {} clients {amount}, pipeline {}, mix {}, against {addr}",
        s.clients, s.pipe, s.mix
    );

    let abort = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut handles = Vec::new();
    for id in 0..s.clients {
        let plan = Arc::clone(&plan);
        let thread_abort = Arc::clone(&abort);
        let spawned = thread::Builder::new()
            .name(format!("client-{id}"))
            .stack_size(256 * 1024)
            .spawn(move || run_client(id, &plan, &thread_abort));
        match spawned {
            Ok(handle) => handles.push(handle),
            Err(e) => {
                eprintln!("stress: cannot start client thread {id}: {e}");
                abort.store(true, Ordering::Relaxed);
                break;
            }
        }
    }
    let mut total = ClientReport::default();
    let mut notes = Vec::new();
    for handle in handles {
        match handle.join() {
            Ok(report) => {
                total.commands += report.commands;
                total.shared_incrs += report.shared_incrs;
                total.mismatches += report.mismatches;
                total.errors += report.errors;
                notes.extend(report.notes);
            }
            Err(_) => {
                total.errors += 1;
                notes.push("a client thread panicked".into());
            }
        }
    }
    let elapsed = started.elapsed();

    // Atomicity: the shared counter saw every INCR exactly once.
    let shared_key = format!("{prefix}:shared");
    let want = if total.shared_incrs == 0 {
        Value::Nil
    } else {
        Value::Bulk(total.shared_incrs.to_string().into_bytes())
    };
    match control.call(&[b"GET", shared_key.as_bytes()]) {
        Ok(got) if got == want => println!(
            "shared counter: {} INCRs, server agrees",
            total.shared_incrs
        ),
        Ok(got) => {
            total.mismatches += 1;
            notes.push(format!(
                "shared counter: {} INCRs sent, server holds {got}",
                total.shared_incrs
            ));
        }
        Err(e) => {
            total.errors += 1;
            notes.push(format!("reading the shared counter failed: {e}"));
        }
    }
    if let Err(e) = control.call(&[b"DEL", shared_key.as_bytes()]) {
        notes.push(format!("cleanup of {shared_key} failed: {e}"));
    }

    for note in &notes {
        println!("  {note}");
    }
    let secs = elapsed.as_secs_f64();
    println!(
        "commands: {} in {secs:.2} s ({:.0} ops/s)",
        total.commands,
        total.commands as f64 / secs.max(1e-9)
    );
    println!("mismatches: {}", total.mismatches);
    println!("errors: {}", total.errors);
    if total.mismatches == 0 && total.errors == 0 {
        println!("OK");
        ExitCode::SUCCESS
    } else {
        println!("FAILED");
        ExitCode::FAILURE
    }
}
