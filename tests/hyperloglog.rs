//! HyperLogLog (PFADD, PFCOUNT, PFMERGE, PFDEBUG, PFSELFTEST) against redis-server 7.0:
//! the same commands go to both servers and the raw replies must be equal, the HyperLogLogs'
//! bytes (GET) included, so the sparse and dense representations, the promotion between
//! them, the cached cardinality and the estimate are Redis's to the byte and the digit.
//! Random element sets cross the promotion; merges mix encodings; HyperLogLogs move
//! between the servers (SET, DUMP/RESTORE); corrupted ones (truncated, wrong header, runs
//! past the 16384 registers, random damage) get Redis's errors and leave the same bytes;
//! keyspace events, WATCH, OBJECT ENCODING, the change counter and the append-only file
//! see what Redis's do.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{Client, Rng, Server, start_redis, wait_for};

/// A reply, or any bytes, shown losslessly (binary HyperLogLogs compare exactly).
fn show(raw: &[u8]) -> String {
    raw.escape_ascii().to_string()
}

/// Runs a command and records `command => reply` in the transcript.
fn run(c: &mut Client, log: &mut Vec<String>, args: &[&[u8]]) -> Vec<u8> {
    let reply = c.call(args);
    let shown: Vec<String> = args
        .iter()
        .map(|a| {
            if a.len() > 64 {
                format!("<{} bytes>", a.len())
            } else {
                show(a)
            }
        })
        .collect();
    log.push(format!("{} => {}", shown.join(" "), show(&reply)));
    reply
}

/// [`run`] with text arguments split on spaces.
fn run_line(c: &mut Client, log: &mut Vec<String>, line: &str) -> Vec<u8> {
    let args: Vec<&[u8]> = line.split(' ').map(str::as_bytes).collect();
    run(c, log, &args)
}

/// The bytes of a bulk reply.
fn bulk(reply: &[u8]) -> Vec<u8> {
    let nl = reply
        .iter()
        .position(|&b| b == b'\n')
        .expect("a bulk reply");
    assert_eq!(reply[0], b'$', "not a bulk reply: {}", show(reply));
    reply[nl + 1..reply.len() - 2].to_vec()
}

/// Runs `scenario` on our server (no save points, as the redis-server the tests start) and
/// on redis-server 7.0 when installed; the transcripts must be equal.
fn same(scenario: impl Fn(u16) -> Vec<String>) {
    let ours = Server::start(&["--save", ""]);
    let got = scenario(ours.port);
    let mut c = ours.client();
    assert_eq!(c.cmd("PING"), b"+PONG\r\n", "our server survived");
    let Some(redis) = start_redis() else {
        return;
    };
    let want = scenario(redis.port);
    if got != want {
        let first = got
            .iter()
            .zip(&want)
            .position(|(a, b)| a != b)
            .unwrap_or(got.len().min(want.len()));
        let cut = |s: Option<&String>| {
            s.map(|s| s.chars().take(600).collect::<String>())
                .unwrap_or_default()
        };
        let context: Vec<String> = got[first.saturating_sub(6)..first]
            .iter()
            .map(|l| cut(Some(l)))
            .collect();
        panic!(
            "transcripts differ at line {first}, after\n  {}\n  ours:  {}\n  redis: {}\n(ours has {} lines, redis {})",
            context.join("\n  "),
            cut(got.get(first)),
            cut(want.get(first)),
            got.len(),
            want.len()
        );
    }
}

/// A random element: mostly short binary strings, some long (MurmurHash's 8-byte blocks).
fn element(rng: &mut Rng) -> Vec<u8> {
    let len = match rng.below(10) {
        0 => 0,
        1..=6 => 1 + rng.below(16),
        7 | 8 => 17 + rng.below(40),
        _ => 100 + rng.below(200),
    };
    (0..len).map(|_| rng.below(256) as u8).collect()
}

/// PFADDs `n` random elements to `key` in batches of 1..=40, recording each reply.
fn add_random(c: &mut Client, log: &mut Vec<String>, rng: &mut Rng, key: &[u8], n: usize) {
    let mut left = n;
    while left > 0 {
        let batch = (1 + rng.below(40) as usize).min(left);
        left -= batch;
        let elements: Vec<Vec<u8>> = (0..batch).map(|_| element(rng)).collect();
        let mut args: Vec<&[u8]> = vec![b"PFADD", key];
        args.extend(elements.iter().map(|e| &e[..]));
        run(c, log, &args);
        if rng.below(8) == 0 {
            run(c, log, &[b"PFCOUNT", key]);
        }
    }
}

#[test]
fn commands_errors_and_encodings_match_redis() {
    same(|port| {
        let mut c = Client::connect(port);
        let mut log = Vec::new();
        for line in [
            "PFCOUNT h",
            "PFADD h",
            "EXISTS h",
            "GET h",
            "OBJECT ENCODING h",
            "PFCOUNT h",
            "GET h",
            "PFADD h a b c",
            "PFADD h a b c",
            "PFADD h ",
            "GETRANGE h 15 15",
            "PFCOUNT h",
            "GETRANGE h 15 15",
            "PFADD h a",
            "GETRANGE h 15 15",
            "PFADD h 1 2 3",
            "GETRANGE h 15 15",
            "GET h",
            "PFDEBUG ENCODING h",
            "PFDEBUG DECODE h",
            "PFDEBUG decode h",
            "PFDEBUG nosuch h",
            "PFDEBUG ENCODING missing",
            "PFDEBUG nosuch missing",
            "PFDEBUG TODENSE h",
            "PFDEBUG TODENSE h",
            "PFDEBUG ENCODING h",
            "PFDEBUG DECODE h",
            "OBJECT ENCODING h",
            "STRLEN h",
            "PFCOUNT h",
            "PFADD h d e f g",
            "PFCOUNT h",
            "GET h",
            // Arity and types.
            "PFADD",
            "PFCOUNT",
            "PFMERGE",
            "PFDEBUG ENCODING",
            "PFDEBUG ENCODING h extra",
            "PFSELFTEST x",
            "SET s hello",
            "PFADD s a",
            "PFCOUNT s",
            "PFCOUNT h s",
            "PFMERGE h s",
            "PFMERGE s h",
            "PFDEBUG ENCODING s",
            "SET n 12345",
            "PFADD n a",
            "PFCOUNT n",
            "RPUSH l a",
            "PFADD l a",
            "PFCOUNT l",
            "PFCOUNT h l",
            "PFMERGE l h",
            "PFMERGE h l",
            "PFDEBUG GETREG l",
            // Unions and merges.
            "PFADD h1 a b c",
            "PFADD h2 b c d",
            "PFADD h3 c d e",
            "PFCOUNT h1 h2 h3",
            "PFCOUNT h1 h2 h3 missing",
            "PFCOUNT missing1 missing2",
            "PFMERGE dest h1 h2 h3",
            "PFCOUNT dest",
            "GET dest",
            "OBJECT ENCODING dest",
            "PFMERGE empty",
            "GET empty",
            "PFMERGE empty2 missing",
            "GET empty2",
            "PFMERGE dest",
            "GET dest",
            "PFMERGE h1 h",
            "PFDEBUG ENCODING h1",
            "GET h1",
            "PFCOUNT h1",
        ] {
            run_line(&mut c, &mut log, line);
        }
        // An HLL SET whole is embstr until a PF command unshares it, as in Redis.
        let small = bulk(&c.cmd("GET h2"));
        run(&mut c, &mut log, &[b"SET", b"copy", &small]);
        for line in [
            "OBJECT ENCODING copy",
            "PFCOUNT copy",
            "OBJECT ENCODING copy",
            "COPY copy copy2",
            "OBJECT ENCODING copy2",
            "PFADD copy2 zz",
            "OBJECT ENCODING copy2",
        ] {
            run_line(&mut c, &mut log, line);
        }
        // PFCOUNT may write: read-only scripts may not call it (Redis's may-replicate).
        for script in [
            &[
                &b"EVAL"[..],
                b"return redis.call('PFCOUNT', KEYS[1])",
                b"1",
                b"h1",
            ][..],
            &[
                b"EVAL_RO",
                b"return redis.call('PFCOUNT', KEYS[1])",
                b"1",
                b"h1",
            ],
            &[
                b"EVAL_RO",
                b"return redis.call('PFADD', KEYS[1], 'x')",
                b"1",
                b"h1",
            ],
            &[
                b"EVAL",
                b"#!lua flags=no-writes\nreturn redis.call('PFCOUNT', KEYS[1])",
                b"1",
                b"h1",
            ],
            &[
                b"EVAL",
                b"redis.call('PFADD', KEYS[1], 'q'); return redis.call('PFCOUNT', KEYS[1])",
                b"1",
                b"h1",
            ],
        ] {
            run(&mut c, &mut log, script);
        }
        let reply = run_line(&mut c, &mut log, "PFDEBUG GETREG h2");
        assert!(reply.starts_with(b"*16384\r\n"));
        run_line(&mut c, &mut log, "PFDEBUG ENCODING h2");
        // PFSELFTEST answers OK (a second or so of work, as in Redis).
        run_line(&mut c, &mut log, "PFSELFTEST");
        log
    });
}

#[test]
fn resp3_replies_match_redis() {
    same(|port| {
        let mut c = Client::connect(port);
        let mut log = Vec::new();
        c.cmd("HELLO 3");
        for line in [
            "PFADD h a b c",
            "PFCOUNT h",
            "PFCOUNT h missing",
            "PFDEBUG ENCODING h",
            "PFDEBUG DECODE h",
            "PFDEBUG nosuch h",
            "PFMERGE d h",
            "SET s x",
            "PFCOUNT s",
            "PFADD s 1",
            "PFDEBUG TODENSE h",
            "PFDEBUG DECODE h",
        ] {
            run_line(&mut c, &mut log, line);
        }
        run_line(&mut c, &mut log, "PFDEBUG GETREG h");
        log
    });
}

#[test]
fn random_sets_give_redis_bytes_and_counts_across_the_promotion() {
    same(|port| {
        let mut c = Client::connect(port);
        let mut log = Vec::new();
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for max in ["3000", "0", "90", "500", "12000"] {
            run_line(
                &mut c,
                &mut log,
                &format!("CONFIG SET hll-sparse-max-bytes {max}"),
            );
            for (i, n) in [0usize, 1, 2, 5, 10, 33, 100, 250, 700, 1500, 3000, 6000]
                .into_iter()
                .enumerate()
            {
                let key = format!("hll:{max}:{i}");
                run(&mut c, &mut log, &[b"PFADD", key.as_bytes()]);
                add_random(&mut c, &mut log, &mut rng, key.as_bytes(), n);
                for cmd in ["GET", "PFCOUNT", "PFDEBUG ENCODING", "GET"] {
                    run_line(&mut c, &mut log, &format!("{cmd} {key}"));
                }
            }
        }
        // Much bigger cardinalities, in the dense form (the estimator's large range).
        run_line(&mut c, &mut log, "CONFIG SET hll-sparse-max-bytes 3000");
        for (key, n) in [("big1", 40_000), ("big2", 150_000)] {
            let mut added = 0;
            while added < n {
                let mut args: Vec<Vec<u8>> = vec![b"PFADD".to_vec(), key.as_bytes().to_vec()];
                args.extend((0..500).map(|j| format!("e{}", added + j).into_bytes()));
                added += 500;
                let refs: Vec<&[u8]> = args.iter().map(|a| &a[..]).collect();
                c.call(&refs);
            }
            for cmd in ["GET", "PFCOUNT"] {
                run_line(&mut c, &mut log, &format!("{cmd} {key}"));
            }
        }
        run_line(&mut c, &mut log, "PFCOUNT big1 big2");
        log
    });
}

#[test]
fn merges_of_sparse_and_dense_match_redis() {
    same(|port| {
        let mut c = Client::connect(port);
        let mut log = Vec::new();
        let mut rng = Rng(0x1234_5678_9abc_def1);
        // Sources: sparse ones of several sizes, dense ones (converted or grown).
        let sizes = [0usize, 3, 40, 300, 1200, 5000];
        for (i, &n) in sizes.iter().enumerate() {
            let key = format!("s{i}");
            run(&mut c, &mut log, &[b"PFADD", key.as_bytes()]);
            add_random(&mut c, &mut log, &mut rng, key.as_bytes(), n);
            let dense = format!("d{i}");
            run_line(&mut c, &mut log, &format!("COPY {key} {dense}"));
            run_line(&mut c, &mut log, &format!("PFDEBUG TODENSE {dense}"));
            add_random(&mut c, &mut log, &mut rng, dense.as_bytes(), n / 3);
        }
        let keys: Vec<String> = (0..sizes.len())
            .flat_map(|i| [format!("s{i}"), format!("d{i}")])
            .collect();
        for round in 0..40 {
            let picked: Vec<&String> = (0..1 + rng.below(4))
                .map(|_| &keys[rng.below(keys.len() as u64) as usize])
                .collect();
            let dest = match rng.below(3) {
                0 => format!("new{round}"),
                1 => {
                    // An existing sparse or dense destination (a copy, so sources stay).
                    let from = &keys[rng.below(keys.len() as u64) as usize];
                    let dest = format!("into{round}");
                    run_line(&mut c, &mut log, &format!("COPY {from} {dest}"));
                    dest
                }
                _ => format!("missing{round}"),
            };
            let mut line = format!("PFMERGE {dest}");
            for k in &picked {
                line.push(' ');
                line.push_str(k);
            }
            if rng.below(4) == 0 {
                line.push_str(" nosuchkey");
            }
            run_line(&mut c, &mut log, &line);
            for cmd in ["GET", "PFCOUNT", "PFDEBUG ENCODING", "OBJECT ENCODING"] {
                run_line(&mut c, &mut log, &format!("{cmd} {dest}"));
            }
            let mut union = "PFCOUNT".to_string();
            for k in &picked {
                union.push(' ');
                union.push_str(k);
            }
            union.push_str(" nosuchkey");
            run_line(&mut c, &mut log, &union);
        }
        log
    });
}

/// Starts our server and redis-server side by side (None without redis-server 7.0).
fn both() -> Option<(Server, common::Redis)> {
    let ours = Server::start(&["--save", ""]);
    start_redis().map(|r| (ours, r))
}

#[test]
fn hyperloglogs_move_between_the_servers() {
    let Some((ours, redis)) = both() else {
        return;
    };
    let mut a = ours.client();
    let mut b = Client::connect(redis.port);
    let mut rng = Rng(77);
    for n in [1usize, 20, 400, 2500, 9000] {
        let elements: Vec<Vec<u8>> = (0..n).map(|_| element(&mut rng)).collect();
        let more: Vec<Vec<u8>> = (0..n / 2 + 1).map(|_| element(&mut rng)).collect();
        for redis_first in [true, false] {
            let (from, to, tag) = if redis_first {
                (&mut b, &mut a, "redis->ours")
            } else {
                (&mut a, &mut b, "ours->redis")
            };
            let key = format!("x{n}");
            from.call(&[b"DEL", key.as_bytes()]);
            to.call(&[b"DEL", key.as_bytes()]);
            for chunk in elements.chunks(100) {
                let mut args: Vec<&[u8]> = vec![b"PFADD", key.as_bytes()];
                args.extend(chunk.iter().map(|e| &e[..]));
                from.call(&args);
            }
            let written = bulk(&from.call(&[b"GET", key.as_bytes()]));
            assert_eq!(to.call(&[b"SET", key.as_bytes(), &written]), b"+OK\r\n");
            let count = from.call(&[b"PFCOUNT", key.as_bytes()]);
            assert_eq!(to.call(&[b"PFCOUNT", key.as_bytes()]), count, "{tag} n={n}");
            // Both go on from the same bytes to the same bytes.
            let mut args: Vec<&[u8]> = vec![b"PFADD", key.as_bytes()];
            args.extend(more.iter().map(|e| &e[..]));
            assert_eq!(to.call(&args), from.call(&args), "{tag} n={n}");
            assert_eq!(
                show(&to.call(&[b"GET", key.as_bytes()])),
                show(&from.call(&[b"GET", key.as_bytes()])),
                "{tag} n={n}"
            );
            // DUMP payloads (LZF-compressed by redis-server) restore as the same value.
            let dump = bulk(&from.call(&[b"DUMP", key.as_bytes()]));
            let restored = format!("r{n}");
            to.call(&[b"DEL", restored.as_bytes()]);
            assert_eq!(
                to.call(&[b"RESTORE", restored.as_bytes(), b"0", &dump]),
                b"+OK\r\n",
                "{tag} n={n}"
            );
            assert_eq!(
                to.call(&[b"PFCOUNT", restored.as_bytes()]),
                from.call(&[b"PFCOUNT", key.as_bytes()]),
                "{tag} n={n}"
            );
            assert_eq!(
                to.call(&[b"PFCOUNT", restored.as_bytes(), key.as_bytes()]),
                from.call(&[b"PFCOUNT", key.as_bytes(), key.as_bytes()]),
                "{tag} n={n}"
            );
        }
    }
}

/// A sparse HyperLogLog body (after the header) made of `ops`, with a header.
fn sparse(ops: &[u8]) -> Vec<u8> {
    let mut v = b"HYLL\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x80".to_vec();
    v.extend_from_slice(ops);
    v
}

/// The commands run on every corrupted value, each after a fresh SET of it.
const PROBES: &[&[&str]] = &[
    &["PFCOUNT", "k"],
    &["PFCOUNT", "k", "ok"],
    &[
        "PFADD", "k", "a", "b", "c", "foo", "bar", "1", "2", "3", "4", "5",
    ],
    &["PFADD", "k", "zzzzzz"],
    &["PFMERGE", "m", "k"],
    &["PFMERGE", "k", "ok"],
    &["PFMERGE", "k"],
    &["PFDEBUG", "DECODE", "k"],
    &["PFDEBUG", "ENCODING", "k"],
    &["PFDEBUG", "TODENSE", "k"],
    &["PFDEBUG", "GETREG", "k"],
];

/// SETs `value` and runs every probe on it, each followed by GET and PFCOUNT (so the bytes
/// a write left, and what a later read of them finds, are compared too).
fn probe(c: &mut Client, log: &mut Vec<String>, value: &[u8]) {
    for probe in PROBES {
        c.call(&[b"DEL", b"k", b"m"]);
        run(c, log, &[b"SET", b"k", value]);
        let args: Vec<&[u8]> = probe.iter().map(|a| a.as_bytes()).collect();
        run(c, log, &args);
        run(c, log, &[b"GET", b"k"]);
        run(c, log, &[b"PFCOUNT", b"k"]);
        run(c, log, &[b"PFADD", b"k", b"again"]);
        run(c, log, &[b"GET", b"k"]);
        run(c, log, &[b"GET", b"m"]);
    }
}

#[test]
fn corrupted_hyperloglogs_get_redis_errors() {
    same(|port| {
        let mut c = Client::connect(port);
        let mut log = Vec::new();
        c.cmd("PFADD ok x y z");
        // Valid ones to damage: sparse (small, and near promotion) and dense.
        c.cmd("PFADD sp a b c d e f g");
        let sp = bulk(&c.cmd("GET sp"));
        let mut rng = Rng(99);
        add_random(&mut c, &mut Vec::new(), &mut rng, b"big", 900);
        let big = bulk(&c.cmd("GET big"));
        c.cmd("PFADD dn a b c");
        c.cmd("PFDEBUG TODENSE dn");
        let dn = bulk(&c.cmd("GET dn"));
        let mut cases: Vec<Vec<u8>> = vec![
            Vec::new(),
            b"HYLL".to_vec(),
            sp[..15].to_vec(),
            sp[..16].to_vec(),
            sp[..sp.len() - 1].to_vec(),
            sp[..sp.len() - 2].to_vec(),
            big[..big.len() - 1].to_vec(),
            big[..big.len() / 2].to_vec(),
            [&sp[..], b"hello"].concat(),
            [&sp[..], b"\x00"].concat(),
            [&sp[..], b"\x40"].concat(),
            [b"HYLX", &sp[4..]].concat(),
            [b"hyll", &sp[4..]].concat(),
            [&sp[..4], b"\x02", &sp[5..]].concat(),
            [&sp[..4], b"\xff", &sp[5..]].concat(),
            [&sp[..4], b"\x00", &sp[5..]].concat(),
            dn[..dn.len() - 1].to_vec(),
            [&dn[..], b"\x00"].concat(),
            [&dn[..4], b"\x01", &dn[5..]].concat(),
            // Header oddities kept through edits: unused bytes, a valid cache.
            [&sp[..5], b"\x07\x08\x09", &sp[8..]].concat(),
            [&sp[..8], b"\x2a\x00\x00\x00\x00\x00\x00\x00", &sp[16..]].concat(),
            [&sp[..8], b"\xff\xff\xff\xff\xff\xff\xff\x7f", &sp[16..]].concat(),
            // Sparse bodies: too few registers, too many, VAL runs past the end, XZERO
            // cut short (its second byte read past the end), all-VAL.
            sparse(b""),
            sparse(b"\x7f\xff\x00"),
            sparse(b"\x7f\xfe"),
            sparse(b"\x7f\xff\x7f\xff"),
            sparse(b"\x7f\xfe\x80"),
            sparse(b"\x7f\xfd\x83"),
            sparse(b"\x7f\xfc\x83"),
            sparse(b"\x7f\xfc\xff"),
            sparse(b"\x40"),
            sparse(b"\x7f"),
            sparse(b"\x7f\xff\x40"),
            sparse(b"\x40\x00\x7f\xfe"),
            sparse(b"\x7f\xbf\x40"),
            sparse(b"\x7f\xbe\x02"),
            // Valid although the last XZERO is cut short (its second byte, past the end,
            // reads 0): an edit there leaves a byte past the end, which later reads see.
            sparse(b"\x40\xfe\x7f"),
            sparse(b"\x7f\xfe\x40"),
            sparse(b"\x80\x40\xfd\x7f"),
            sparse(b"\x3f\x7f\xbe"),
            sparse(&[0xfb; 4096]),
            sparse(&[0xff; 4097]),
            sparse(&[0x3f; 256]),
            sparse(&[0x00; 16384]),
            sparse(&[0x00; 16385]),
        ];
        // Dense ones whose registers are all high: every register at 51 or more makes the
        // estimate overflow (Redis's llroundl), one lower register a huge estimate.
        let mut high = dn.clone();
        high[16..].fill(0xff);
        cases.push(high.clone());
        high[16] = 0xf2; // register 0 = 50
        cases.push(high);
        let mut at51 = dn.clone();
        at51[16..].fill(0);
        for i in 0..16384 {
            let (byte, fb) = (16 + i * 6 / 8, (i * 6) & 7);
            at51[byte] |= (51u16 << fb) as u8;
            if fb > 2 {
                at51[byte + 1] |= (51u16 >> (8 - fb)) as u8;
            }
        }
        cases.push(at51);
        for case in &cases {
            probe(&mut c, &mut log, case);
        }
        // Random damage, as Redis's fuzzing test does, with every probe.
        for i in 0..150 {
            let base = match i % 3 {
                0 => &sp,
                1 => &big,
                _ => &dn,
            };
            let mut v = base.clone();
            for _ in 0..1 + rng.below(4) {
                match rng.below(4) {
                    0 if !v.is_empty() => {
                        let at = rng.below(v.len() as u64) as usize;
                        v[at] = rng.below(256) as u8;
                    }
                    1 => {
                        let at = 16 + rng.below(v.len().saturating_sub(16) as u64 + 1) as usize;
                        v.truncate(at.min(v.len()));
                    }
                    2 => v.push(rng.below(256) as u8),
                    _ if v.len() > 17 => {
                        // Damage the body only.
                        let at = 16 + rng.below(v.len() as u64 - 16) as usize;
                        v[at] ^= 1 << rng.below(8);
                    }
                    _ => {}
                }
            }
            let args: Vec<&[u8]> = vec![b"SET", b"k", &v];
            c.call(&args);
            run(&mut c, &mut log, &[b"PFCOUNT", b"k"]);
            probe(&mut c, &mut log, &v);
        }
        run_line(&mut c, &mut log, "PING");
        log
    });
}

#[test]
fn events_watch_and_changes_follow_redis() {
    same(|port| {
        let mut c = Client::connect(port);
        let mut other = Client::connect(port);
        let mut sub = Client::connect(port);
        let mut log = Vec::new();
        c.cmd("CONFIG SET notify-keyspace-events KEA");
        sub.cmd("PSUBSCRIBE __key*@0__:*");
        sub.cmd("SUBSCRIBE end");
        let changes = |c: &mut Client| {
            let info = c.cmd_str("INFO persistence");
            info.lines()
                .find(|l| l.starts_with("rdb_changes_since_last_save:"))
                .unwrap_or_default()
                .to_string()
        };
        log.push(changes(&mut c));
        for line in [
            "PFADD h a b c",
            "PFADD h a b c",
            "PFADD h a b c d e f g h i j",
            "PFADD h",
            "PFCOUNT h",
            "PFCOUNT h",
            "PFCOUNT h h2",
            "PFMERGE h2 h",
            "PFMERGE h2",
            "PFDEBUG ENCODING h",
            "PFDEBUG TODENSE h",
            "PFDEBUG TODENSE h",
            "PFDEBUG GETREG h2",
            "PFADD new",
        ] {
            run_line(&mut c, &mut log, line);
            log.push(changes(&mut c));
        }
        // WATCH: PFCOUNT writing the cache touches the key; a cached PFCOUNT, PFDEBUG's
        // conversion and an unchanged PFADD do not.
        for (setup, touch) in [
            ("PFADD w a", "PFCOUNT w"),
            ("PFADD w2 a", "PFADD w2 a"),
            ("PFADD w3 a", "PFDEBUG TODENSE w3"),
            ("PFADD w4 a", "PFADD w4 b c d"),
        ] {
            let key = setup.split(' ').nth(1).unwrap_or_default();
            c.cmd(setup);
            other.cmd(&format!("PFCOUNT {key}"));
            if touch.starts_with("PFCOUNT") {
                c.cmd(&format!("PFADD {key} zz"));
            }
            run_line(&mut c, &mut log, &format!("WATCH {key}"));
            run_line(&mut other, &mut log, touch);
            run_line(&mut c, &mut log, "MULTI");
            run_line(&mut c, &mut log, "PING");
            run_line(&mut c, &mut log, "EXEC");
        }
        c.cmd("PUBLISH end done");
        loop {
            let m = sub.read_reply();
            log.push(show(&m));
            if m.windows(4).any(|w| w == b"done") {
                break;
            }
        }
        log
    });
}

/// Our server or redis-server with the append-only file on, in `dir`.
enum AofServer {
    Ours(Server),
    Redis(Child, u16),
}

impl Drop for AofServer {
    fn drop(&mut self) {
        if let AofServer::Redis(child, _) = self {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn start_redis_aof(dir: &Path) -> AofServer {
    for _ in 0..5 {
        let port = common::free_port();
        let mut child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
            ])
            .args(["--appendonly", "yes", "--appendfsync", "always"])
            .arg("--dir")
            .arg(dir)
            .stdout(Stdio::null())
            .spawn()
            .expect("start redis-server");
        let up = wait_for(Duration::from_secs(10), || {
            let mut c =
                Client::from_stream(std::net::TcpStream::connect(("127.0.0.1", port)).ok()?);
            c.stream
                .set_read_timeout(Some(Duration::from_secs(5)))
                .ok()?;
            let info = c.cmd_str("INFO server");
            Some(info.contains(&format!("process_id:{}\r\n", child.id())))
        });
        if up == Some(true) {
            return AofServer::Redis(child, port);
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    panic!("could not start redis-server");
}

/// The concatenated incr files the manifest in `dir` lists.
fn incr_files(dir: &Path) -> Vec<u8> {
    let aof = dir.join("appendonlydir");
    let manifest = std::fs::read_to_string(aof.join("appendonly.aof.manifest")).expect("manifest");
    manifest
        .lines()
        .filter(|l| l.ends_with("type i"))
        .filter_map(|l| l.split_whitespace().nth(1))
        .flat_map(|name| std::fs::read(aof.join(name)).expect("incr file"))
        .collect()
}

#[test]
fn the_append_only_file_gets_what_redis_propagates() {
    if !common::have_tool("redis-server") {
        return;
    }
    let workload = |port: u16| {
        let mut c = Client::connect(port);
        for line in [
            "PFADD h a b c",
            "PFCOUNT h",
            "PFCOUNT h",
            "PFADD h a",
            "PFADD h d",
            "PFCOUNT h",
            "PFCOUNT h missing",
            "PFCOUNT missing",
            "PFMERGE m h",
            "PFDEBUG ENCODING m",
            "PFDEBUG TODENSE m",
            "PFDEBUG TODENSE m",
            "PFDEBUG GETREG h",
            "PFDEBUG GETREG h",
            "SET s x",
            "PFCOUNT s",
            "PFADD new",
            "PFCOUNT new",
        ] {
            c.cmd(line);
        }
    };
    let ours_dir = common::fresh_dir("hll-aof");
    let ours = AofServer::Ours(Server::start_in(ours_dir.clone(), |cmd| {
        cmd.args([
            "--save",
            "",
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
        ]);
    }));
    let port = match &ours {
        AofServer::Ours(s) => s.port,
        AofServer::Redis(_, p) => *p,
    };
    workload(port);
    let got = incr_files(&ours_dir);
    let redis_dir: PathBuf = common::fresh_dir("hll-aof-redis");
    let redis = start_redis_aof(&redis_dir);
    let AofServer::Redis(_, rport) = &redis else {
        unreachable!()
    };
    workload(*rport);
    let want = incr_files(&redis_dir);
    drop(redis);
    let _ = std::fs::remove_dir_all(&redis_dir);
    assert_eq!(show(&got), show(&want));
}

#[test]
fn a_pfcount_during_bgsave_leaves_the_snapshot_as_of_its_start() {
    let server = Server::start(&["--save", ""]);
    let mut c = server.client();
    // Enough keys for the snapshot's walk to take many loop turns.
    const N: usize = 200_000;
    for start in (0..N).step_by(10_000) {
        let mut batch = Vec::new();
        for i in start..start + 10_000 {
            batch.extend(common::encode(&[
                b"SET",
                format!("key:{i}").as_bytes(),
                b"v",
            ]));
        }
        c.send_raw(&batch);
        for _ in start..start + 10_000 {
            c.read_reply();
        }
    }
    // HyperLogLogs whose cached cardinality is stale: PFCOUNT will write it.
    const H: usize = 300;
    let mut before = Vec::new();
    for i in 0..H {
        let key = format!("hll:{i}");
        c.cmd(&format!("PFADD {key} a{i} b{i} c{i}"));
        before.push(bulk(&c.cmd(&format!("GET {key}"))));
        assert_eq!(before[i][15] & 0x80, 0x80, "stale cache");
    }
    let mut pipeline = common::encode(&[b"BGSAVE"]);
    for i in 0..H {
        pipeline.extend(common::encode(&[b"PFCOUNT", format!("hll:{i}").as_bytes()]));
    }
    c.send_raw(&pipeline);
    assert_eq!(c.read_reply(), b"+Background saving started\r\n");
    for _ in 0..H {
        assert_eq!(c.read_reply(), b":3\r\n");
    }
    let done = wait_for(Duration::from_secs(120), || {
        let info = c.cmd_str("INFO persistence");
        info.contains("rdb_bgsave_in_progress:0\r\n")
            .then_some(info)
    })
    .expect("BGSAVE did not finish");
    assert!(done.contains("rdb_last_bgsave_status:ok"), "{done}");
    let early: u64 = done
        .lines()
        .find_map(|l| l.strip_prefix("keyval_snapshot_keys_saved_early:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("keyval_snapshot_keys_saved_early");
    assert!(early > 0, "no HyperLogLog was saved ahead of its PFCOUNT");
    // The cache written after the BGSAVE began is not in the snapshot.
    let mut server = server;
    server.signal_and_wait(libc::SIGKILL);
    let dir = std::mem::take(&mut server.dir);
    let again = Server::start_in(dir, |cmd| {
        cmd.args(["--save", ""]);
    });
    let mut c = again.client();
    for (i, want) in before.iter().enumerate() {
        let got = bulk(&c.cmd(&format!("GET hll:{i}")));
        assert_eq!(show(&got), show(want), "hll:{i}");
    }
}
