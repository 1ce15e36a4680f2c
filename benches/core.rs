//! Regression guards for the hot path: RESP parsing, command dispatch, keyspace operations
//! and the expiry wheel. Kept short (`cargo bench` runs in well under a minute); compare
//! runs with criterion's saved baselines (`cargo bench -- --save-baseline before`, then
//! `--baseline before`).

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use rust_keyval::cmd::{self, Client, Ctx, Shared};
use rust_keyval::config::Config;
use rust_keyval::resp::{Args, Parser, Reply};
use rust_keyval::store::wheel::TimerWheel;
use rust_keyval::store::{Store, Str, Ttl, Value};

/// `n` pipelined `SET key:<i> value` requests in one buffer.
fn pipeline(n: usize) -> Vec<u8> {
    let mut buf = Vec::new();
    for i in 0..n {
        let key = format!("key:{:012}", i);
        buf.extend_from_slice(
            format!(
                "*3\r\n$3\r\nSET\r\n${}\r\n{key}\r\n$16\r\nxxxxxxxxxxxxxxxx\r\n",
                key.len()
            )
            .as_bytes(),
        );
    }
    buf
}

fn parse(c: &mut Criterion) {
    let mut g = c.benchmark_group("parse");
    for n in [1usize, 16] {
        let buf = pipeline(n);
        g.throughput(Throughput::Elements(n as u64));
        g.bench_function(format!("set_x{n}"), |b| {
            let mut p = Parser::new(512 << 20);
            b.iter(|| {
                let mut count = 0;
                while let Ok(Some(src)) = p.next(black_box(&buf)) {
                    count += p.args(&buf, src).len();
                }
                p.reset();
                count
            })
        });
    }
    g.finish();
}

/// Everything a handler needs, built once.
struct Harness {
    store: Store,
    client: Client,
    out: Reply,
    shared: Shared,
}

impl Harness {
    fn new() -> Harness {
        Harness {
            store: Store::new(16, 1),
            client: Client::new(1, true, 1),
            out: Reply::new(),
            shared: Shared::new(
                Config::default_for_tests(),
                rust_keyval::config::Params::new(),
            ),
        }
    }

    /// Runs one already-encoded command and drops its reply.
    fn run(&mut self, cmd: &Encoded) {
        let mut ctx = Ctx {
            store: &mut self.store,
            client: &mut self.client,
            out: &mut self.out,
            shared: &mut self.shared,
            now: 1,
        };
        cmd::execute(&mut ctx, Args::new(&cmd.0, &cmd.1));
        let n = self.out.len();
        self.out.consume(n);
    }
}

/// A command's arguments in one buffer plus spans, as the parser would hand them over.
struct Encoded(Vec<u8>, Vec<(usize, usize)>);

fn encoded(args: &[&[u8]]) -> Encoded {
    let mut data = Vec::new();
    let mut spans = Vec::new();
    for a in args {
        spans.push((data.len(), a.len()));
        data.extend_from_slice(a);
    }
    Encoded(data, spans)
}

fn dispatch(c: &mut Criterion) {
    let mut g = c.benchmark_group("dispatch");
    let mut h = Harness::new();
    h.run(&encoded(&[
        b"SET",
        b"key:000000000001",
        b"xxxxxxxxxxxxxxxx",
    ]));
    for (name, args) in [
        ("get_hit", &[&b"GET"[..], b"key:000000000001"][..]),
        (
            "set_overwrite",
            &[b"SET", b"key:000000000001", b"yyyyyyyyyyyyyyyy"],
        ),
        ("incr", &[b"INCR", b"counter"]),
        ("ping", &[b"PING"]),
        ("unknown", &[b"NOSUCH", b"x"]),
    ] {
        let cmd = encoded(args);
        g.bench_function(name, |b| b.iter(|| h.run(black_box(&cmd))));
    }
    g.finish();
}

fn keyspace(c: &mut Criterion) {
    let mut g = c.benchmark_group("keyspace");
    let keys: Vec<Vec<u8>> = (0..100_000)
        .map(|i| format!("key:{i:012}").into_bytes())
        .collect();
    let value = || Value::Str(Str::from_bytes(b"xxxxxxxxxxxxxxxx"));
    let mut store = Store::new(1, 1);
    for k in &keys {
        store.db(0).set(k, value(), Ttl::Clear, 1);
    }
    let mut i = 0usize;
    g.bench_function("get_hit_100k", |b| {
        b.iter(|| {
            i = (i + 7919) % keys.len();
            black_box(store.db(0).get_mut(&keys[i], 1).is_some())
        })
    });
    g.bench_function("set_overwrite_100k", |b| {
        b.iter(|| {
            i = (i + 7919) % keys.len();
            store
                .db(0)
                .upsert_with(&keys[i], Ttl::Clear, 1, |old| match old {
                    Some(Value::Str(s)) => {
                        s.assign(b"yyyyyyyyyyyyyyyy");
                        None
                    }
                    _ => Some(value()),
                });
        })
    });
    g.bench_function("set_new_key", |b| {
        b.iter_batched(
            || Store::new(1, 1),
            |mut fresh| {
                for k in &keys[..1000] {
                    fresh.db(0).set(k, value(), Ttl::Clear, 1);
                }
                fresh
            },
            BatchSize::LargeInput,
        )
    });
    g.bench_function("incr", |b| {
        store
            .db(0)
            .set(b"counter", Value::Str(Str::Int(0)), Ttl::Clear, 1);
        b.iter(|| {
            if let Some(e) = store.db(0).get_mut(b"counter", 1)
                && let Value::Str(s) = &mut e.value
                && let Some(v) = s.as_i64()
            {
                *s = Str::Int(v + 1);
            }
        })
    });
    g.finish();
}

fn wheel(c: &mut Criterion) {
    let mut g = c.benchmark_group("wheel");
    g.throughput(Throughput::Elements(10_000));
    g.bench_function("insert_10k", |b| {
        b.iter_batched(
            || TimerWheel::new(0),
            |mut w| {
                for i in 0..10_000u64 {
                    w.insert(1 + (i * 7) % 100_000, i);
                }
                w
            },
            BatchSize::SmallInput,
        )
    });
    g.bench_function("insert_and_fire_10k", |b| {
        b.iter(|| {
            let mut w = TimerWheel::new(0);
            for i in 0..10_000u64 {
                w.insert(1 + (i * 7) % 5_000, i);
            }
            let mut fired = 0u64;
            while w.advance(5_000, usize::MAX, |_, _| fired += 1) {}
            fired
        })
    });
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_millis(800))
        .sample_size(20)
}

criterion_group! {
    name = benches;
    config = config();
    targets = parse, dispatch, keyspace, wheel
}
criterion_main!(benches);
