//! Sorted sets end to end, against the real binary.
//!
//! Where redis-server is installed (CI installs it), the same checks also run against it,
//! so every expectation here is Redis's own behaviour; and long random command sequences
//! (RESP2 and RESP3, small sets and sets far past Redis's listpack limits) are replayed on
//! both servers and compared byte for byte: sorted-set replies are ordered, so only ZSCAN of
//! a big set (hash-table order) is compared sorted. tests/golden/zsets.txt holds the
//! single-connection cases.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::{Client, Resp, Rng, Server, on_both, parse, start_redis};

/// The bulk strings of an array reply, in order.
fn strings(raw: &[u8]) -> Vec<String> {
    match parse(raw) {
        Resp::Agg(_, Some(items)) => items
            .into_iter()
            .map(|i| match i {
                Resp::Bulk(Some(b)) => String::from_utf8(b).expect("utf-8"),
                other => panic!("not a bulk string: {other:?}"),
            })
            .collect(),
        other => panic!("not an array: {other:?}"),
    }
}

/// One full ZSCAN of `key` with `COUNT count`: member -> score text, and the number of calls.
fn zscan_all(c: &mut Client, key: &str, count: usize) -> (BTreeMap<String, String>, usize) {
    let mut seen = BTreeMap::new();
    let mut cursor = "0".to_string();
    let mut calls = 0;
    loop {
        let Resp::Agg(_, Some(parts)) =
            parse(&c.cmd(&format!("ZSCAN {key} {cursor} COUNT {count}")))
        else {
            panic!("not a scan reply");
        };
        let [Resp::Bulk(Some(next)), Resp::Agg(_, Some(found))] = &parts[..] else {
            panic!("bad scan reply {parts:?}");
        };
        for pair in found.chunks(2) {
            let [Resp::Bulk(Some(m)), Resp::Bulk(Some(s))] = pair else {
                panic!("bad pair {pair:?}");
            };
            seen.insert(
                String::from_utf8(m.clone()).expect("utf-8"),
                String::from_utf8(s.clone()).expect("utf-8"),
            );
        }
        cursor = String::from_utf8(next.clone()).expect("utf-8");
        calls += 1;
        if cursor == "0" {
            return (seen, calls);
        }
        assert!(calls < 1_000_000, "ZSCAN does not finish");
    }
}

/// A random score, often tied with others: small integers, halves, infinities.
fn score(rng: &mut Rng) -> String {
    match rng.below(20) {
        0 => "inf".into(),
        1 => "-inf".into(),
        2 => format!("{}.5", rng.below(20) as i64 - 10),
        3 => format!("{}e-3", rng.below(100)),
        _ => format!("{}", rng.below(40) as i64 - 20),
    }
}

/// A random score range bound.
fn bound(rng: &mut Rng) -> String {
    let ex = if rng.below(3) == 0 { "(" } else { "" };
    match rng.below(10) {
        0 => "-inf".into(),
        1 => "+inf".into(),
        _ => format!("{ex}{}", rng.below(44) as i64 - 22),
    }
}

/// A random lexicographic range bound.
fn lex_bound(rng: &mut Rng) -> String {
    match rng.below(8) {
        0 => "-".into(),
        1 => "+".into(),
        _ => format!(
            "{}m{}",
            if rng.below(2) == 0 { "[" } else { "(" },
            rng.below(400)
        ),
    }
}

/// One random sorted-set command on `key` (and, for lex commands, `lexkey`, whose members
/// all have score 0, as Redis's lex commands expect).
fn random_command(rng: &mut Rng, key: &str, lexkey: &str, members: u64) -> String {
    let m = |rng: &mut Rng| format!("m{}", rng.below(members));
    let limit = |rng: &mut Rng| {
        if rng.below(3) == 0 {
            format!(
                " LIMIT {} {}",
                rng.below(12) as i64 - 1,
                rng.below(12) as i64 - 2
            )
        } else {
            String::new()
        }
    };
    let ws = |rng: &mut Rng| if rng.below(2) == 0 { " WITHSCORES" } else { "" };
    match rng.below(30) {
        0..=5 => {
            let flags = rng.pick(&[
                "",
                "NX ",
                "XX ",
                "GT ",
                "LT ",
                "CH ",
                "XX GT CH ",
                "NX CH ",
                "LT XX ",
            ]);
            let mut c = format!("ZADD {key} {flags}");
            for _ in 0..=rng.below(4) {
                c += &format!("{} {} ", score(rng), m(rng));
            }
            c
        }
        6 => format!(
            "ZADD {key} {}INCR {} {}",
            rng.pick(&["", "NX ", "XX ", "GT ", "LT "]),
            score(rng),
            m(rng)
        ),
        7 => format!("ZINCRBY {key} {} {}", score(rng), m(rng)),
        8 => format!("ZADD {lexkey} 0 {} 0 {}", m(rng), m(rng)),
        9 => format!("ZREM {key} {} {}", m(rng), m(rng)),
        10 => format!("ZSCORE {key} {}", m(rng)),
        11 => format!("ZMSCORE {key} {} {}", m(rng), m(rng)),
        12 => format!("Z{}RANK {key} {}", rng.pick(&["", "REV"]), m(rng)),
        13 => format!("ZCARD {key}"),
        14 => format!("ZCOUNT {key} {} {}", bound(rng), bound(rng)),
        15 => format!("ZLEXCOUNT {lexkey} {} {}", lex_bound(rng), lex_bound(rng)),
        16 => {
            let (a, b) = (rng.below(30) as i64 - 15, rng.below(30) as i64 - 15);
            format!("ZRANGE {key} {a} {b}{}{}", rng.pick(&["", " REV"]), ws(rng))
        }
        17 => format!(
            "ZRANGE {key} {} {} BYSCORE{}{}{}",
            bound(rng),
            bound(rng),
            rng.pick(&["", " REV"]),
            limit(rng),
            ws(rng)
        ),
        18 => format!(
            "ZRANGE {lexkey} {} {} BYLEX{}{}",
            lex_bound(rng),
            lex_bound(rng),
            rng.pick(&["", " REV"]),
            limit(rng)
        ),
        19 => format!(
            "ZRANGEBYSCORE {key} {} {}{}{}",
            bound(rng),
            bound(rng),
            ws(rng),
            limit(rng)
        ),
        20 => format!(
            "ZREVRANGEBYSCORE {key} {} {}{}{}",
            bound(rng),
            bound(rng),
            ws(rng),
            limit(rng)
        ),
        21 => format!(
            "ZRANGEBYLEX {lexkey} {} {}{}",
            lex_bound(rng),
            lex_bound(rng),
            limit(rng)
        ),
        22 => format!(
            "ZREVRANGEBYLEX {lexkey} {} {}{}",
            lex_bound(rng),
            lex_bound(rng),
            limit(rng)
        ),
        23 => format!(
            "ZREVRANGE {key} {} {}{}",
            rng.below(20) as i64 - 10,
            rng.below(20) as i64 - 5,
            ws(rng)
        ),
        24 => format!(
            "ZPOP{} {key}{}",
            rng.pick(&["MIN", "MAX"]),
            rng.pick(&["", " 0", " 1", " 3"])
        ),
        25 if rng.below(4) == 0 => format!(
            "ZREMRANGEBYRANK {key} {} {}",
            rng.below(10) as i64 - 5,
            rng.below(10) as i64 - 5
        ),
        26 if rng.below(4) == 0 => format!("ZREMRANGEBYSCORE {key} {} {}", bound(rng), bound(rng)),
        27 if rng.below(4) == 0 => format!(
            "ZREMRANGEBYLEX {lexkey} {} {}",
            lex_bound(rng),
            lex_bound(rng)
        ),
        28 => format!("ZSCAN {key} 0"),
        _ => format!("ZRANGE {key} 0 -1 WITHSCORES"),
    }
}

/// Random sorted-set commands replayed on both servers, compared byte for byte; ZSCAN of a
/// set past the listpack limits compares as a set of pairs (its order is a hash table's).
fn replay_against_redis(resp3: bool, members: u64, steps: usize, seed: u64) {
    let ours = Server::start(&[]);
    let Some(redis) = start_redis() else {
        return;
    };
    let mut a = Client::connect(ours.port);
    let mut b = Client::connect(redis.port);
    for c in [&mut a, &mut b] {
        c.cmd("FLUSHALL");
        if resp3 {
            c.cmd("HELLO 3");
        }
        // A few members up front, so ranges have something to find.
        for i in 0..members / 2 {
            c.cmd(&format!("ZADD z {} m{i}", i % 17));
            c.cmd(&format!("ZADD lex 0 m{}", i * 3 % members));
        }
    }
    let mut rng = Rng(seed);
    let mut unordered = 0;
    for step in 0..steps {
        let key = if rng.below(10) == 0 { "nokey" } else { "z" };
        let cmd = random_command(&mut rng, key, "lex", members);
        let (ra, rb) = (a.cmd(&cmd), b.cmd(&cmd));
        if ra != rb && cmd.starts_with("ZSCAN") {
            // A set past the listpack limits is scanned in hash-table order: compare full
            // scans instead of single steps.
            assert_eq!(
                zscan_all(&mut a, key, 10).0,
                zscan_all(&mut b, key, 10).0,
                "step {step}: {cmd}"
            );
            unordered += 1;
            continue;
        }
        assert_eq!(
            String::from_utf8_lossy(&ra),
            String::from_utf8_lossy(&rb),
            "step {step}: {cmd}"
        );
    }
    // The whole sets agree at the end.
    for key in ["z", "lex"] {
        let cmd = format!("ZRANGE {key} 0 -1 WITHSCORES");
        assert_eq!(a.cmd(&cmd), b.cmd(&cmd));
    }
    eprintln!("{steps} commands compared ({unordered} ZSCANs as full scans)");
}

#[test]
fn random_commands_on_small_sets_match_redis() {
    replay_against_redis(false, 60, 6000, 0xC0FFEE);
}

#[test]
fn random_commands_on_big_sets_match_redis() {
    replay_against_redis(false, 400, 8000, 0xBADC0DE);
}

#[test]
fn random_commands_in_resp3_match_redis() {
    replay_against_redis(true, 300, 6000, 0xFEED);
}

#[test]
fn zscan_visits_every_member_of_a_big_set() {
    on_both(&[], |port| {
        let mut c = Client::connect(port);
        c.cmd("FLUSHALL");
        let n = 5000;
        for chunk in (0..n).collect::<Vec<_>>().chunks(500) {
            let mut cmd = "ZADD big".to_string();
            for i in chunk {
                cmd += &format!(" {}.5 member:{i}", i % 100);
            }
            c.cmd(&cmd);
        }
        c.cmd("ZADD big -0 negzero 1e20 huge");
        let (seen, calls) = zscan_all(&mut c, "big", 10);
        assert!(calls > 50, "a big set is scanned in steps ({calls} calls)");
        assert_eq!(seen.len(), n + 2);
        for i in (0..n).step_by(37) {
            assert_eq!(seen[&format!("member:{i}")], format!("{}.5", i % 100));
        }
        // Past the listpack limits, scores print as %.17g and -0 stays -0.
        assert_eq!(seen["negzero"], "-0");
        assert_eq!(seen["huge"], "1e+20");
        // A small set comes back whole, in order, in one call.
        c.cmd("ZADD small 3 c 1 a 2 b");
        let (seen, calls) = zscan_all(&mut c, "small", 1);
        assert_eq!(calls, 1);
        assert_eq!(seen.len(), 3);
    });
}

#[test]
fn ranks_and_ranges_on_a_large_set() {
    on_both(&[], |port| {
        let mut c = Client::connect(port);
        c.cmd("FLUSHALL");
        let n = 50_000u64;
        // Scores repeat (ties are ordered by member); inserted in a scrambled order.
        let mut cmd = String::new();
        for k in 0..n {
            let i = (k * 7919) % n;
            if cmd.is_empty() {
                cmd = "ZADD big".into();
            }
            cmd += &format!(" {} m{i:06}", i / 10);
            if k % 1000 == 999 {
                c.cmd(&cmd);
                cmd.clear();
            }
        }
        assert_eq!(c.cmd("ZCARD big"), format!(":{n}\r\n").into_bytes());
        for i in [0u64, 1, 9, 10, 12345, 49_999] {
            assert_eq!(
                c.cmd(&format!("ZRANK big m{i:06}")),
                format!(":{i}\r\n").into_bytes()
            );
            assert_eq!(
                c.cmd(&format!("ZREVRANK big m{i:06}")),
                format!(":{}\r\n", n - 1 - i).into_bytes()
            );
        }
        assert_eq!(
            strings(&c.cmd("ZRANGE big 25000 25002")),
            ["m025000", "m025001", "m025002"]
        );
        assert_eq!(
            strings(&c.cmd("ZRANGE big 0 1 REV")),
            ["m049999", "m049998"]
        );
        assert_eq!(
            strings(&c.cmd("ZRANGE big 2500 2500 BYSCORE LIMIT 3 2 WITHSCORES")),
            ["m025003", "2500", "m025004", "2500"]
        );
        assert_eq!(c.cmd("ZCOUNT big 100 (200"), b":1000\r\n");
        assert_eq!(c.cmd("ZREMRANGEBYRANK big 10000 19999"), b":10000\r\n");
        assert_eq!(c.cmd("ZRANK big m020000"), b":10000\r\n");
        assert_eq!(c.cmd("ZREMRANGEBYSCORE big -inf (3000"), b":20000\r\n");
        assert_eq!(
            strings(&c.cmd("ZRANGE big 0 0 WITHSCORES")),
            ["m030000", "3000"]
        );
        assert_eq!(
            strings(&c.cmd("ZPOPMAX big 2")),
            ["m049999", "4999", "m049998", "4999"]
        );
        assert_eq!(c.cmd("ZCARD big"), b":19998\r\n");
    });
}

#[test]
fn rank_lookups_are_logarithmic() {
    // 200k members; a rank or range start deep in the set must not cost a walk from the
    // front. Compared with the same lookups near the front, not with wall-clock limits.
    let server = Server::start(&[]);
    let mut c = server.client();
    let n = 200_000u64;
    for chunk in 0..n / 2000 {
        let mut cmd = "ZADD big".to_string();
        for i in chunk * 2000..(chunk + 1) * 2000 {
            cmd += &format!(" {i} m{i}");
        }
        c.cmd(&cmd);
    }
    let time = |c: &mut Client, make: &dyn Fn(u64) -> String| {
        let start = Instant::now();
        for i in 0..2000u64 {
            c.cmd(&make(i));
        }
        start.elapsed()
    };
    let front = time(&mut c, &|i| format!("ZRANGE big {} {}", i % 10, i % 10));
    let deep = time(&mut c, &|i| {
        format!("ZRANGE big {} {}", 150_000 + i, 150_000 + i)
    });
    let rank = time(&mut c, &|i| format!("ZRANK big m{}", 190_000 + i));
    let by_score = time(&mut c, &|i| {
        format!("ZRANGEBYSCORE big {} +inf LIMIT 0 1", 180_000 + i)
    });
    for (what, t) in [
        ("deep ZRANGE", deep),
        ("ZRANK", rank),
        ("ZRANGEBYSCORE", by_score),
    ] {
        assert!(
            t < front * 5 + Duration::from_millis(200),
            "{what}: {t:?} vs {front:?} at the front"
        );
    }
}

#[test]
fn writes_keep_the_ttl() {
    on_both(&[], |port| {
        let mut c = Client::connect(port);
        c.cmd("FLUSHALL");
        c.cmd("ZADD z 1 a 2 b 3 c 4 d 5 e");
        assert_eq!(c.cmd("EXPIRE z 100"), b":1\r\n");
        for cmd in [
            "ZADD z 6 f",
            "ZINCRBY z 1 a",
            "ZREM z b",
            "ZPOPMIN z",
            "ZREMRANGEBYRANK z 0 0",
            "ZREMRANGEBYSCORE z 100 200",
        ] {
            c.cmd(cmd);
            assert_eq!(c.cmd("TTL z"), b":100\r\n", "after {cmd}");
        }
        assert_eq!(c.cmd("PEXPIRE z 1"), b":1\r\n");
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(c.cmd("ZCARD z"), b":0\r\n");
        assert_eq!(c.cmd("ZADD z XX 1 a"), b":0\r\n");
        assert_eq!(c.cmd("ZADD z 1 a"), b":1\r\n");
        assert_eq!(c.cmd("TTL z"), b":-1\r\n");
        // COPY, TYPE and SCAN TYPE see sorted sets.
        assert_eq!(c.cmd("COPY z z2"), b":1\r\n");
        c.cmd("ZADD z2 2 b");
        assert_eq!(c.cmd("ZCARD z"), b":1\r\n");
        assert_eq!(c.cmd("ZCARD z2"), b":2\r\n");
        assert_eq!(c.cmd("TYPE z2"), b"+zset\r\n");
        assert_eq!(strings(&c.cmd("ZRANGE z2 0 -1")), ["a", "b"]);
        let scan = c.cmd("SCAN 0 TYPE zset COUNT 100");
        assert_eq!(scan.windows(2).filter(|w| w == b"z2").count(), 1);
    });
}

/// WATCH `key` on a fresh client, run `meddle` on another, then try a transaction.
/// Returns true when EXEC ran (the key was not seen as modified).
fn exec_runs(port: u16, setup: &str, key: &str, meddle: &str) -> bool {
    let mut c = Client::connect(port);
    let mut other = Client::connect(port);
    other.cmd("FLUSHALL");
    other.cmd(setup);
    assert_eq!(c.cmd(&format!("WATCH {key}")), b"+OK\r\n");
    other.cmd(meddle);
    c.cmd("MULTI");
    c.cmd("PING");
    c.cmd("EXEC") != b"*-1\r\n"
}

#[test]
fn watch_sees_every_change_and_only_changes() {
    on_both(&[], |port| {
        let setup = "ZADD z 1 a 2 b 3 c";
        let cases: &[(&str, &str, bool)] = &[
            ("z", "ZADD z 4 d", false),
            ("z", "ZADD z 5 a", false),
            ("z", "ZADD z 1 a", true),
            ("z", "ZADD z NX 9 a", true),
            ("z", "ZADD z XX 9 nosuch", true),
            ("z", "ZADD z GT 0 a", true),
            ("z", "ZINCRBY z 1 a", false),
            ("z", "ZINCRBY z 0 a", true),
            ("z", "ZINCRBY z -inf a", false),
            ("z", "ZREM z a", false),
            ("z", "ZREM z nosuch", true),
            ("z", "ZPOPMIN z", false),
            ("z", "ZPOPMAX z 0", true),
            ("z", "ZREMRANGEBYRANK z 0 0", false),
            ("z", "ZREMRANGEBYRANK z 5 9", true),
            ("z", "ZREMRANGEBYSCORE z 2 2", false),
            ("z", "ZREMRANGEBYSCORE z 7 9", true),
            ("z", "ZREMRANGEBYLEX z [a [a", false),
            ("z", "ZRANGE z 0 -1", true),
            ("n", "ZADD n 1 a", false),
            ("n", "ZADD n XX 1 a", true),
        ];
        for (key, meddle, runs) in cases {
            assert_eq!(
                exec_runs(port, setup, key, meddle),
                *runs,
                "WATCH {key}; {meddle}"
            );
        }
    });
}
