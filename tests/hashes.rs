//! Hashes end to end, against the real binary.
//!
//! Where redis-server is installed (CI installs it), the same checks also run against it,
//! so every expectation here is Redis's own behaviour, and a random command sequence is
//! replayed on both servers and compared reply by reply. Replies whose order Redis leaves
//! to its hash table (a hash past the small encoding) are compared sorted; small hashes
//! keep insertion order on both servers and are compared byte for byte.

mod common;

use std::time::{Duration, Instant};

use common::{
    Client, Resp, Rng, Server, bulk_strings, have_tool, hits_misses, on_both, parse,
    redis_benchmark, sorted, start_redis,
};

/// `(field, value)` pairs of a flat field/value array (HGETALL, HSCAN's second element).
fn pairs(items: Vec<Vec<u8>>) -> Vec<(Vec<u8>, Vec<u8>)> {
    assert!(items.len().is_multiple_of(2), "odd field/value list");
    items
        .chunks(2)
        .map(|p| (p[0].clone(), p[1].clone()))
        .collect()
}

/// Long enough (70 bytes) to move a hash out of the small encoding.
const LONG_VALUE: &str = "a value longer than sixty-four bytes, which Redis keeps in a hash table";

/// One random hash command. Keys `a` and `b` stay small (few fields, short values); `big`
/// gets many fields and long values, so it crosses into the table encoding.
fn random_hash_command(rng: &mut Rng) -> Vec<String> {
    let key = rng.pick(&["a", "b", "big", "big", "str"]).to_string();
    let big = key == "big";
    let field = |r: &mut Rng| {
        if big {
            format!("f{}", r.below(200))
        } else {
            format!("f{}", r.below(8))
        }
    };
    let value = |r: &mut Rng| {
        let v = r.pick(&[
            "v",
            "",
            "10",
            "-3",
            "1.5",
            "abc",
            "9223372036854775807",
            LONG_VALUE,
        ]);
        if v == LONG_VALUE && !big {
            "w".to_string()
        } else {
            v.to_string()
        }
    };
    match rng.below(20) {
        0..=3 => {
            let name = rng.pick(&["HSET", "HSET", "HMSET"]);
            let mut c = vec![name.to_string(), key];
            for _ in 0..1 + rng.below(if big { 6 } else { 3 }) {
                c.push(field(rng));
                c.push(value(rng));
            }
            c
        }
        4 => vec!["HSETNX".into(), key, field(rng), value(rng)],
        5 | 6 => {
            let mut c = vec!["HDEL".into(), key];
            for _ in 0..1 + rng.below(3) {
                c.push(field(rng));
            }
            c
        }
        7 => vec!["HGET".into(), key, field(rng)],
        8 => vec!["HMGET".into(), key, field(rng), field(rng)],
        9 => vec!["HLEN".into(), key],
        10 => vec!["HEXISTS".into(), key, field(rng)],
        11 => vec!["HSTRLEN".into(), key, field(rng)],
        12 => {
            let by = rng.pick(&["1", "-5", "100", "9223372036854775807", "x"]);
            vec!["HINCRBY".into(), key, field(rng), by.into()]
        }
        13 => {
            let by = rng.pick(&["1.5", "-0.25", "1e3", "abc", "3"]);
            vec!["HINCRBYFLOAT".into(), key, field(rng), by.into()]
        }
        14 => vec!["HGETALL".into(), key],
        15 => vec![rng.pick(&["HKEYS", "HVALS"]).into(), key],
        16 => vec!["HSCAN".into(), key, "0".into()],
        17 => {
            let mut c = vec!["HRANDFIELD".into(), key, "1000".into()];
            if rng.below(2) == 0 {
                c.push("WITHVALUES".into());
            }
            c
        }
        18 => vec!["EXISTS".into(), key],
        _ => vec!["SET".into(), "str".into(), "v".into()],
    }
}

#[test]
fn random_commands_answer_as_redis_does() {
    let Some(redis) = start_redis() else {
        return;
    };
    let ours = Server::start(&[]);
    let mut theirs = Client::connect(redis.port);
    let mut mine = ours.client();
    for seed in [3u64, 11, 2024] {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        for c in [&mut theirs, &mut mine] {
            assert_eq!(c.cmd("FLUSHALL"), b"+OK\r\n");
        }
        let mut compared_big = 0;
        for i in 0..3000 {
            let cmd = random_hash_command(&mut rng);
            let args: Vec<&[u8]> = cmd.iter().map(|a| a.as_bytes()).collect();
            let want = theirs.call(&args);
            let got = mine.call(&args);
            let name = cmd[0].as_str();
            let unordered = cmd[1] == "big"
                && matches!(name, "HGETALL" | "HKEYS" | "HVALS" | "HRANDFIELD" | "HSCAN");
            if unordered && name == "HSCAN" {
                // A table's HSCAN pages depend on the table: only the shape is common.
                assert_eq!(got.first(), want.first(), "command {i}: {cmd:?}");
                continue;
            }
            if unordered {
                compared_big += 1;
                let pairwise = name == "HGETALL" || cmd.len() == 4;
                assert_eq!(
                    sorted(&got, pairwise),
                    sorted(&want, pairwise),
                    "seed {seed}, command {i}: {cmd:?}"
                );
            } else {
                assert_eq!(
                    String::from_utf8_lossy(&got),
                    String::from_utf8_lossy(&want),
                    "seed {seed}, command {i}: {cmd:?}"
                );
            }
        }
        assert!(
            compared_big > 50,
            "the big hash was read {compared_big} times"
        );
        // The final states agree too, and `big` did cross into the table encoding.
        for key in ["a", "b", "big"] {
            let cmd = format!("HGETALL {key}");
            assert_eq!(
                sorted(&mine.cmd(&cmd), true),
                sorted(&theirs.cmd(&cmd), true)
            );
        }
        assert_eq!(theirs.cmd_str("OBJECT ENCODING big"), "$9\r\nhashtable\r\n");
    }
}

/// HSET of `n` fields `f0..` with values `v0..` on `key`, in batches.
fn fill(c: &mut Client, key: &str, n: usize) {
    for start in (0..n).step_by(500) {
        let mut args: Vec<String> = vec!["HSET".into(), key.into()];
        for i in start..(start + 500).min(n) {
            args.push(format!("f{i}"));
            args.push(format!("v{i}"));
        }
        let refs: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        c.call(&refs);
    }
}

#[test]
fn big_hash_reads_and_full_scans() {
    on_both(&[], |port| {
        let mut c = Client::connect(port);
        assert_eq!(c.cmd("FLUSHALL"), b"+OK\r\n");
        fill(&mut c, "h", 1000);
        assert_eq!(c.int("HLEN h"), 1000);
        let want: Vec<(Vec<u8>, Vec<u8>)> = {
            let mut v: Vec<_> = (0..1000)
                .map(|i| (format!("f{i}").into_bytes(), format!("v{i}").into_bytes()))
                .collect();
            v.sort();
            v
        };
        let mut all = pairs(bulk_strings(&c.cmd("HGETALL h")));
        all.sort();
        assert_eq!(all, want);
        let mut keys = bulk_strings(&c.cmd("HKEYS h"));
        keys.sort();
        assert_eq!(keys, want.iter().map(|p| p.0.clone()).collect::<Vec<_>>());
        let mut vals = bulk_strings(&c.cmd("HVALS h"));
        vals.sort();
        assert_eq!(vals, want.iter().map(|p| p.1.clone()).collect::<Vec<_>>());
        assert_eq!(c.cmd_str("HGET h f777"), "$4\r\nv777\r\n");
        assert_eq!(
            c.cmd_str("HMGET h f1 nope f999"),
            "*3\r\n$2\r\nv1\r\n$-1\r\n$4\r\nv999\r\n"
        );

        // A full HSCAN returns every field with its value; with MATCH only those matching.
        for (pattern, expect) in [(None, 1000), (Some("f1*"), 111), (Some("f?"), 10)] {
            let mut seen = std::collections::BTreeMap::new();
            let mut cursor = "0".to_string();
            let mut calls = 0;
            loop {
                let mut cmd = format!("HSCAN h {cursor} COUNT 25");
                if let Some(p) = pattern {
                    cmd += &format!(" MATCH {p}");
                }
                let Resp::Agg(_, Some(parts)) = parse(&c.cmd(&cmd)) else {
                    panic!("HSCAN reply");
                };
                let Resp::Bulk(Some(next)) = &parts[0] else {
                    panic!("cursor");
                };
                cursor = String::from_utf8(next.clone()).expect("cursor digits");
                let Resp::Agg(_, Some(items)) = &parts[1] else {
                    panic!("items");
                };
                for p in items.chunks(2) {
                    let (Resp::Bulk(Some(f)), Resp::Bulk(Some(v))) = (&p[0], &p[1]) else {
                        panic!("pair");
                    };
                    assert_eq!(v[1..], f[1..], "value of {f:?}");
                    seen.insert(f.clone(), v.clone());
                }
                calls += 1;
                if cursor == "0" {
                    break;
                }
            }
            assert_eq!(seen.len(), expect, "{pattern:?}");
            assert!(calls > 1, "a big hash is scanned in steps");
        }

        // Fields present for the whole scan are returned even if the hash grows meanwhile.
        let mut seen = std::collections::BTreeSet::new();
        let mut cursor = "0".to_string();
        let mut steps = 0;
        loop {
            let Resp::Agg(_, Some(parts)) = parse(&c.cmd(&format!("HSCAN h {cursor} COUNT 10")))
            else {
                panic!("HSCAN reply");
            };
            let (Resp::Bulk(Some(next)), Resp::Agg(_, Some(items))) = (&parts[0], &parts[1]) else {
                panic!("HSCAN parts");
            };
            for p in items.chunks(2) {
                if let Resp::Bulk(Some(f)) = &p[0] {
                    seen.insert(f.clone());
                }
            }
            cursor = String::from_utf8(next.clone()).expect("digits");
            steps += 1;
            if steps == 5 {
                fill(&mut c, "h", 5000);
            }
            if cursor == "0" {
                break;
            }
        }
        for i in 0..1000 {
            assert!(seen.contains(format!("f{i}").as_bytes()), "f{i} missed");
        }
    });
}

#[test]
fn small_hashes_keep_insertion_order_and_scan_whole() {
    on_both(&[], |port| {
        let mut c = Client::connect(port);
        assert_eq!(c.cmd("FLUSHALL"), b"+OK\r\n");
        // 512 fields (Redis's built-in hash-max-listpack-entries) in a scrambled order:
        // HKEYS answers in that order.
        let order: Vec<String> = (0..512).map(|i| format!("k{}", (i * 37) % 512)).collect();
        for f in &order {
            c.call(&[b"HSET", b"h", f.as_bytes(), b"v"]);
        }
        let keys: Vec<String> = bulk_strings(&c.cmd("HKEYS h"))
            .into_iter()
            .map(|k| String::from_utf8(k).expect("utf8"))
            .collect();
        assert_eq!(keys, order);
        // HSCAN of a small hash returns everything at once, whatever COUNT says.
        let Resp::Agg(_, Some(parts)) = parse(&c.cmd("HSCAN h 0 COUNT 1")) else {
            panic!("HSCAN");
        };
        assert_eq!(parts[0], Resp::Bulk(Some(b"0".to_vec())));
        let Resp::Agg(_, Some(items)) = &parts[1] else {
            panic!("items");
        };
        assert_eq!(items.len(), 1024);
        // The 513th field moves it to a table, scanned in steps.
        c.cmd("HSET h one-more v");
        let Resp::Agg(_, Some(parts)) = parse(&c.cmd("HSCAN h 0 COUNT 1")) else {
            panic!("HSCAN");
        };
        assert_ne!(parts[0], Resp::Bulk(Some(b"0".to_vec())));
        // So does one value longer than 64 bytes.
        c.cmd("HSET g a 1 b 2 c 3");
        c.call(&[b"HSET", b"g", b"d", &[b'x'; 65]]);
        let mut seen = 0;
        let mut cursor = "0".to_string();
        let mut steps = 0;
        loop {
            let Resp::Agg(_, Some(parts)) = parse(&c.cmd(&format!("HSCAN g {cursor} COUNT 1")))
            else {
                panic!("HSCAN");
            };
            let (Resp::Bulk(Some(next)), Resp::Agg(_, Some(items))) = (&parts[0], &parts[1]) else {
                panic!("parts");
            };
            seen += items.len() / 2;
            steps += 1;
            cursor = String::from_utf8(next.clone()).expect("digits");
            if cursor == "0" {
                break;
            }
        }
        assert_eq!(seen, 4);
        assert!(steps > 1, "a table is scanned in steps");
    });
}

#[test]
fn hrandfield_counts_and_shapes() {
    on_both(&[], |port| {
        let mut c = Client::connect(port);
        assert_eq!(c.cmd("FLUSHALL"), b"+OK\r\n");
        fill(&mut c, "small", 10);
        fill(&mut c, "big", 1000);
        for (key, size) in [("small", 10usize), ("big", 1000)] {
            for count in [1i64, 3, 5, 9, 10, 20, 400, 999, 1000, 5000, -1, -7, -3000] {
                let reply = c.cmd(&format!("HRANDFIELD {key} {count}"));
                let fields = bulk_strings(&reply);
                let n = count.unsigned_abs() as usize;
                if count > 0 {
                    assert_eq!(fields.len(), n.min(size), "{key} {count}");
                    let distinct: std::collections::BTreeSet<_> = fields.iter().collect();
                    assert_eq!(distinct.len(), fields.len(), "{key} {count}: repeats");
                } else {
                    assert_eq!(fields.len(), n, "{key} {count}");
                }
                for f in &fields {
                    let i: usize = std::str::from_utf8(&f[1..])
                        .expect("utf8")
                        .parse()
                        .expect("field number");
                    assert!(f[0] == b'f' && i < size, "{key} {count}: {f:?}");
                }
                // WITHVALUES: the same counts, each field with its own value.
                let reply = c.cmd(&format!("HRANDFIELD {key} {count} WITHVALUES"));
                let got = pairs(bulk_strings(&reply));
                assert_eq!(got.len(), if count > 0 { n.min(size) } else { n });
                for (f, v) in got {
                    assert_eq!(f[1..], v[1..]);
                }
            }
        }
        // Single picks reach every field.
        c.cmd("HSET three a 1 b 2 c 3");
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..300 {
            seen.insert(c.cmd("HRANDFIELD three"));
        }
        assert_eq!(seen.len(), 3);
        // Negative counts repeat fields, positive ones never do.
        let many = bulk_strings(&c.cmd("HRANDFIELD three -100"));
        let distinct: std::collections::BTreeSet<_> = many.iter().collect();
        assert_eq!(distinct.len(), 3);
        // RESP3: WITHVALUES gives [field, value] pairs.
        assert!(c.cmd_str("HELLO 3").starts_with('%'));
        for count in [2i64, -5, 3000] {
            let Resp::Agg(_, Some(items)) =
                parse(&c.cmd(&format!("HRANDFIELD big {count} WITHVALUES")))
            else {
                panic!("array");
            };
            assert_eq!(items.len(), count.unsigned_abs().min(1000) as usize);
            for item in items {
                let Resp::Agg(_, Some(pair)) = item else {
                    panic!("pair");
                };
                let [Resp::Bulk(Some(f)), Resp::Bulk(Some(v))] = &pair[..] else {
                    panic!("pair of bulks");
                };
                assert_eq!(f[1..], v[1..]);
            }
        }
        assert_eq!(c.cmd_str("HRANDFIELD big 0 WITHVALUES"), "*0\r\n");
    });
}

#[test]
fn a_huge_negative_hrandfield_count_stops_at_the_output_limit() {
    // Redis would build this reply until memory runs out; we stop at the client's output
    // limit, which then disconnects that client, and serve everyone else.
    let server = Server::start(&["--client-output-limit", "1mb"]);
    let mut c = server.client();
    assert_eq!(c.int("HSET h f v"), 1);
    let started = Instant::now();
    c.send(&[b"HRANDFIELD", b"h", b"-4611686018427387903"]);
    // Closed without the rest of the reply (what was already written may arrive first).
    let got = c.read_to_eof();
    assert!(got.is_empty() || got.starts_with(b"*4611686018427387903\r\n"));
    assert!(got.len() < 64 << 20, "{} bytes sent", got.len());
    assert!(started.elapsed() < Duration::from_secs(10));
    let mut other = server.client();
    assert_eq!(other.cmd("PING"), b"+PONG\r\n");
    assert_eq!(other.cmd("HLEN h"), b":1\r\n");
}

#[test]
fn writes_keep_the_ttl_and_emptied_hashes_go() {
    on_both(&[], |port| {
        let mut c = Client::connect(port);
        assert_eq!(c.cmd("FLUSHALL"), b"+OK\r\n");
        c.cmd("HSET h a 1 b 2 c x");
        assert_eq!(c.int("EXPIRE h 1000"), 1);
        for cmd in [
            "HSET h d 4",
            "HMSET h e 5",
            "HSETNX h f 6",
            "HDEL h a",
            "HINCRBY h b 5",
            "HINCRBYFLOAT h b 0.5",
            "HINCRBY h c 1",
        ] {
            c.cmd(cmd);
            let ttl = c.int("TTL h");
            assert!((990..=1000).contains(&ttl), "{cmd}: TTL {ttl}");
        }
        assert_eq!(c.int("HDEL h b c d e f"), 5);
        assert_eq!(c.int("EXISTS h"), 0);
        assert_eq!(c.int("TTL h"), -2);
        // A hash created over an expired key starts without TTL.
        c.cmd("HSET gone a 1");
        c.cmd("PEXPIRE gone 1");
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(c.int("HLEN gone"), 0);
        assert_eq!(c.int("HINCRBY gone a 2"), 2);
        assert_eq!(c.int("TTL gone"), -1);
    });
}

/// True if EXEC after WATCH-ing `h` and running `cmd` from another client aborts.
fn watch_aborts(port: u16, setup: &str, cmd: &str) -> bool {
    let mut c = Client::connect(port);
    let mut other = Client::connect(port);
    assert_eq!(c.cmd("FLUSHALL"), b"+OK\r\n");
    if !setup.is_empty() {
        c.cmd(setup);
    }
    assert_eq!(c.cmd_str("WATCH h"), "+OK\r\n");
    other.cmd(cmd);
    assert_eq!(c.cmd_str("MULTI"), "+OK\r\n");
    assert_eq!(c.cmd_str("PING"), "+QUEUED\r\n");
    match c.cmd_str("EXEC").as_str() {
        "*-1\r\n" => true,
        "*1\r\n+PONG\r\n" => false,
        other => panic!("unexpected EXEC reply {other:?}"),
    }
}

#[test]
fn watch_sees_every_hash_change_and_only_changes() {
    on_both(&[], |port| {
        let hash = "HSET h a 1 s x";
        for (setup, cmd, aborts) in [
            (hash, "HSET h a 2", true),
            ("", "HSET h a 2", true),
            (hash, "HMSET h b 2", true),
            (hash, "HSETNX h a 2", false),
            (hash, "HSETNX h b 2", true),
            ("", "HSETNX h b 2", true),
            (hash, "HDEL h nothere", false),
            (hash, "HDEL h a", true),
            (hash, "HDEL h a s", true),
            (hash, "HINCRBY h a 1", true),
            (hash, "HINCRBY h s 1", false),
            (hash, "HINCRBYFLOAT h a 1.5", true),
            (hash, "HINCRBYFLOAT h s 1.5", false),
            (hash, "HGETALL h", false),
            (hash, "HRANDFIELD h -3", false),
        ] {
            assert_eq!(
                watch_aborts(port, setup, cmd),
                aborts,
                "{cmd} after {setup:?}"
            );
        }
    });
}

#[test]
fn reads_count_keyspace_hits_and_misses() {
    on_both(&[], |port| {
        let mut c = Client::connect(port);
        assert_eq!(c.cmd("FLUSHALL"), b"+OK\r\n");
        c.cmd("HSET h a 1");
        let reads = [
            "HGET {} a",
            "HMGET {} a b",
            "HLEN {}",
            "HEXISTS {} a",
            "HSTRLEN {} a",
            "HGETALL {}",
            "HKEYS {}",
            "HVALS {}",
            "HRANDFIELD {}",
            "HRANDFIELD {} 2",
            "HSCAN {} 0",
        ];
        let (h0, m0) = hits_misses(&mut c);
        for r in reads {
            c.cmd(&r.replace("{}", "h"));
            c.cmd(&r.replace("{}", "nokey"));
        }
        let (h1, m1) = hits_misses(&mut c);
        assert_eq!((h1 - h0, m1 - m0), (reads.len() as i64, reads.len() as i64));
        // Writes do not count.
        for cmd in [
            "HSET h b 2",
            "HDEL nokey a",
            "HINCRBY h n 1",
            "HSETNX h a 1",
        ] {
            c.cmd(cmd);
        }
        assert_eq!(hits_misses(&mut c), (h1, m1));
    });
}

#[test]
fn redis_benchmark_hset_runs_clean() {
    if !have_tool("redis-benchmark") {
        return;
    }
    let server = Server::start(&[]);
    redis_benchmark(server.port, "hset", 20000, &["HSET"]);
    // Without -r every request sets the same field.
    let mut c = server.client();
    assert_eq!(c.cmd("HLEN myhash"), b":1\r\n");
    assert!(
        c.cmd_str("HGET myhash element:__rand_int__")
            .starts_with("$3\r\n")
    );
}
