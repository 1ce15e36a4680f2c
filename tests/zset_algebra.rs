//! Sorted-set algebra (ZUNION ZINTER ZDIFF, their STORE forms, ZINTERCARD), ZRANGESTORE and
//! ZRANDMEMBER end to end, against the real binary.
//!
//! Where redis-server is installed (CI installs it), random commands run on both servers
//! and their replies are compared byte for byte: inputs are sorted sets of every size and
//! encoding and plain sets (intsets, sets of integers past the intset limit, sets of
//! strings), some keys missing or of another type; weights include 0, infinities and
//! values whose products overflow; every AGGREGATE; scores whose sums depend on the order
//! of the additions. After each STORE, the destination's contents, encoding and TTL are
//! compared too. Error paths run as fixed scripts on both servers. ZRANDMEMBER's picks are
//! random, so only its shape is compared (sizes, distinctness, membership, scores); their
//! uniformity is checked in tests/random_picks.rs, and the keyspace events of these
//! commands in tests/notify_sets_zsets.rs.

mod common;

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use common::{
    Client, Resp, Rng, Server, bulk_strings, on_both, parse, same_on_both, start_redis, text,
};

/// A random score: integers (often tied), halves, tenths (whose sums depend on their
/// order), zeros of both signs, infinities, and huge values (whose weighted sums overflow).
fn score(rng: &mut Rng) -> String {
    match rng.below(24) {
        0 => "inf".into(),
        1 => "-inf".into(),
        2 => "-0".into(),
        3 => "0".into(),
        4 => format!("{}e307", rng.below(17) as i64 - 8),
        5..=7 => format!("0.{}", rng.below(10)),
        8 => format!("{}.5", rng.below(20) as i64 - 10),
        9 => "1e-300".into(),
        _ => format!("{}", rng.below(40) as i64 - 20),
    }
}

/// A random member: from a shared pool, so that inputs overlap; integers (which sets hold
/// as integers) match sorted-set members with the same text.
fn member(rng: &mut Rng, long: bool) -> String {
    match rng.below(10) {
        0..=3 => format!("{}", rng.below(300) as i64 - 20),
        4 if long => format!("long{}-{}", rng.below(20), "x".repeat(70)),
        _ => format!("m{}", rng.below(500)),
    }
}

/// Commands that fill the keyspace: sorted sets of every size and encoding, sets of every
/// encoding, a string and a list.
fn setup(rng: &mut Rng) -> Vec<String> {
    let mut cmds = vec!["FLUSHALL".to_string()];
    let zset = |rng: &mut Rng, key: &str, n: usize, long: bool| {
        let mut cmd = format!("ZADD {key}");
        for _ in 0..n {
            cmd += &format!(" {} {}", score(rng), member(rng, long));
        }
        cmd
    };
    cmds.push(zset(rng, "z1", 3, false));
    cmds.push(zset(rng, "z2", 20, false));
    cmds.push(zset(rng, "z3", 140, false));
    cmds.push(zset(rng, "z4", 600, false));
    cmds.push(zset(rng, "z5", 12, true));
    cmds.push(zset(rng, "z6", 200, true));
    // Same-size sets of tenths: sums of three differ with the order of the additions.
    for key in ["t1", "t2", "t3"] {
        let mut cmd = format!("ZADD {key}");
        for i in 0..30 {
            cmd += &format!(" 0.{} m{i}", rng.below(10));
        }
        cmds.push(cmd);
    }
    let mut lex = "ZADD lex".to_string();
    for _ in 0..40 {
        lex += &format!(" 0 {}", member(rng, false));
    }
    cmds.push(lex);
    let set = |rng: &mut Rng, key: &str, n: usize, ints: bool| {
        let mut cmd = format!("SADD {key}");
        for _ in 0..n {
            if ints {
                cmd += &format!(" {}", rng.below(2000) as i64 - 100);
            } else {
                cmd += &format!(" {}", member(rng, true));
            }
        }
        cmd
    };
    cmds.push(set(rng, "s1", 6, true)); // an intset
    cmds.push(set(rng, "s2", 800, true)); // integers past the intset limit
    cmds.push(set(rng, "s3", 40, false)); // strings, some of them integers
    cmds.push("SET str v".into());
    cmds.push("RPUSH list a".into());
    cmds.push("EXPIRE d1 1000".into());
    cmds
}

/// Keys a command may read: every kind, missing ones, and earlier results.
const INPUTS: &[&str] = &[
    "z1", "z2", "z3", "z4", "z5", "z6", "z1", "z2", "z3", "t1", "t2", "t3", "lex", "s1", "s2",
    "s3", "nokey", "d1", "d2", "str", "list",
];

/// A random weight, sometimes not a float.
fn weight(rng: &mut Rng) -> &'static str {
    if rng.below(40) == 0 {
        return rng.pick(&["nan", "abc", " 1", "1x", "", "1e400"]);
    }
    rng.pick(&[
        "1", "2", "-1", "0", "-0", "0.5", "0.1", "3", "inf", "-inf", "+inf", "1e308", "-1e308",
        "1e-320", "0x10",
    ])
}

/// A random ZUNION / ZINTER / ZDIFF / ZINTERCARD or STORE form, mostly valid. Returns it and
/// its destination, if a STORE form.
fn algebra_command(rng: &mut Rng) -> (String, Option<&'static str>) {
    let (name, store, op) = match rng.below(7) {
        0 => ("ZUNION", false, 'u'),
        1 => ("ZINTER", false, 'i'),
        2 => ("ZDIFF", false, 'd'),
        3 => ("ZINTERCARD", false, 'c'),
        4 => ("ZUNIONSTORE", true, 'u'),
        5 => ("ZINTERSTORE", true, 'i'),
        _ => ("ZDIFFSTORE", true, 'd'),
    };
    let dst = rng.pick(&["d1", "d1", "d2", "d2", "z1", "t3", "str"]);
    let mut cmd = name.to_string();
    if store {
        cmd += &format!(" {dst}");
    }
    let n = 1 + rng.below(4) as usize;
    let keys: Vec<&str> = (0..n).map(|_| rng.pick(INPUTS)).collect();
    // Mostly the right key count; sometimes a wrong or bad one.
    let numkeys = match rng.below(30) {
        0 => "0".to_string(),
        1 => "-1".to_string(),
        2 => "x".to_string(),
        3 => (n + 1 + rng.below(3) as usize).to_string(),
        _ => n.to_string(),
    };
    cmd += &format!(" {numkeys} {}", keys.join(" "));
    for _ in 0..rng.below(4) {
        match rng.below(12) {
            0..=3 if op != 'd' && op != 'c' || rng.below(8) == 0 => {
                let count = if rng.below(15) == 0 {
                    n.saturating_sub(1)
                } else {
                    n
                };
                cmd += &format!(" {}", rng.pick(&["WEIGHTS", "weights"]));
                for _ in 0..count {
                    cmd += &format!(" {}", weight(rng));
                }
            }
            4..=6 if op != 'd' && op != 'c' || rng.below(8) == 0 => {
                cmd += &format!(
                    " AGGREGATE {}",
                    rng.pick(&["SUM", "MIN", "MAX", "sum", "min", "max", "AVG"])
                );
            }
            7..=8 if !store && op != 'c' || rng.below(8) == 0 => cmd += " WITHSCORES",
            9..=10 if op == 'c' || rng.below(8) == 0 => {
                cmd += &format!(" LIMIT {}", rng.pick(&["0", "1", "3", "100", "-1", "x"]));
            }
            11 if rng.below(4) == 0 => {
                cmd += rng.pick(&[" foo", " LIMIT", " WEIGHTS", " AGGREGATE"])
            }
            _ => {}
        }
    }
    (cmd, store.then_some(dst))
}

/// A random score range bound.
fn bound(rng: &mut Rng) -> String {
    let ex = if rng.below(3) == 0 { "(" } else { "" };
    match rng.below(10) {
        0 => "-inf".into(),
        1 => "+inf".into(),
        2 => "x".into(),
        _ => format!("{ex}{}", rng.below(44) as i64 - 22),
    }
}

/// A random lexicographic range bound.
fn lex_bound(rng: &mut Rng) -> String {
    match rng.below(9) {
        0 => "-".into(),
        1 => "+".into(),
        2 => "m".into(),
        _ => format!("{}m{}", rng.pick(&["[", "("]), rng.below(500)),
    }
}

/// A random ZRANGESTORE, mostly valid.
fn zrangestore_command(rng: &mut Rng) -> (String, &'static str) {
    let dst = rng.pick(&["d1", "d2", "z2", "str"]);
    let src = rng.pick(&[
        "z1", "z2", "z3", "z4", "z5", "z6", "lex", "nokey", "s1", "str", "d1",
    ]);
    let rev = rng.pick(&["", "", " REV", " rev"]);
    let limit = if rng.below(3) == 0 {
        format!(
            " LIMIT {} {}",
            rng.below(12) as i64 - 1,
            rng.below(150) as i64 - 2
        )
    } else {
        String::new()
    };
    let extra = if rng.below(15) == 0 {
        rng.pick(&[" WITHSCORES", " foo", " BYSCORE BYLEX"])
    } else {
        ""
    };
    let cmd = match rng.below(4) {
        0 | 1 => {
            let (a, b) = (rng.below(40) as i64 - 20, rng.below(300) as i64 - 20);
            let limit = if rng.below(10) == 0 { &limit[..] } else { "" };
            format!("ZRANGESTORE {dst} {src} {a} {b}{rev}{limit}{extra}")
        }
        2 => format!(
            "ZRANGESTORE {dst} {src} {} {} BYSCORE{rev}{limit}{extra}",
            bound(rng),
            bound(rng)
        ),
        // Lex ranges are meant for sets whose scores are all equal.
        _ => format!(
            "ZRANGESTORE {dst} lex {} {} BYLEX{rev}{limit}{extra}",
            lex_bound(rng),
            lex_bound(rng)
        ),
    };
    (cmd, dst)
}

/// Runs random algebra and ZRANGESTORE commands on both servers (after `config`), compared
/// byte for byte, with each STORE's destination read back.
fn replay_against_redis(resp3: bool, config: &[&str], steps: usize, seed: u64) {
    let ours = Server::start(&[]);
    let Some(redis) = start_redis() else {
        return;
    };
    let mut a = Client::connect(ours.port);
    let mut b = Client::connect(redis.port);
    let mut rng = Rng(seed);
    let mut prelude: Vec<String> = config.iter().map(|c| c.to_string()).collect();
    prelude.extend(setup(&mut rng));
    for c in &prelude {
        assert_eq!(text(a.cmd(c)), text(b.cmd(c)), "{c}");
    }
    if resp3 {
        // The servers name themselves differently.
        a.cmd("HELLO 3");
        b.cmd("HELLO 3");
    }
    let (mut stores, mut errors) = (0, 0);
    for step in 0..steps {
        let (cmd, dst) = if rng.below(4) == 0 {
            let (cmd, dst) = zrangestore_command(&mut rng);
            (cmd, Some(dst))
        } else {
            algebra_command(&mut rng)
        };
        let (ra, rb) = (a.cmd(&cmd), b.cmd(&cmd));
        assert_eq!(text(&ra), text(&rb), "step {step}: {cmd}");
        if ra.starts_with(b"-") {
            errors += 1;
            continue;
        }
        if let Some(dst) = dst {
            stores += 1;
            for check in [
                format!("ZRANGE {dst} 0 -1 WITHSCORES"),
                format!("OBJECT ENCODING {dst}"),
                format!("TTL {dst}"),
                format!("TYPE {dst}"),
            ] {
                assert_eq!(
                    text(a.cmd(&check)),
                    text(b.cmd(&check)),
                    "step {step}: {cmd}; then {check}"
                );
            }
        }
        // Now and then, the inputs come back (a store may have overwritten or deleted one).
        if rng.below(150) == 0 {
            for c in setup(&mut rng) {
                assert_eq!(text(a.cmd(&c)), text(b.cmd(&c)), "{c}");
            }
        }
    }
    eprintln!("{steps} commands compared ({stores} stores read back, {errors} errors)");
}

#[test]
fn random_algebra_matches_redis() {
    replay_against_redis(false, &[], 4000, 0x5EED_0001);
}

#[test]
fn random_algebra_in_resp3_matches_redis() {
    replay_against_redis(true, &[], 3000, 0x5EED_0002);
}

#[test]
fn random_algebra_with_other_listpack_limits_matches_redis() {
    // Results cross the listpack limits at other sizes; 0 entries means never a listpack.
    replay_against_redis(
        false,
        &[
            "CONFIG SET zset-max-listpack-entries 16",
            "CONFIG SET zset-max-listpack-value 8",
        ],
        2000,
        0x5EED_0003,
    );
    replay_against_redis(
        true,
        &["CONFIG SET zset-max-listpack-entries 0"],
        1000,
        0x5EED_0004,
    );
}

/// Every error path, and edge cases with fixed results, in Redis's order of checks.
const SCRIPT: &[&str] = &[
    "ZADD za 1 a 2 b 3 c",
    "ZADD zb 1 b 2 c 3 d",
    "SADD sa a b 1 2",
    "SET str v",
    // numkeys: not a number, out of range, zero or negative (Redis names the command),
    // more than the keys given.
    "ZUNION x za",
    "ZUNION 99999999999999999999 za",
    "ZUNION 0 za",
    "ZUNION -1 za",
    "ZINTER 0 za",
    "ZDIFF 0 za",
    "ZINTERCARD 0 za",
    "ZUNIONSTORE dst 0 za",
    "ZINTERSTORE dst 0 za",
    "ZDIFFSTORE dst 0 za",
    "zunionstore dst 0 za",
    "ZUNION 3 za zb",
    "ZUNIONSTORE dst 2 za",
    "ZINTERCARD 2 za",
    "ZUNION",
    "ZUNIONSTORE dst 1",
    // Wrong types come before bad options, in key order.
    "ZUNION 2 za str WEIGHTS x y",
    "ZUNION 2 str za foo",
    "ZINTERSTORE dst 2 za str",
    "ZDIFF 2 za str",
    "ZINTERCARD 2 str za LIMIT -1",
    "ZINTER 2 nokey str",
    // Weights: not floats, too few (then a syntax error), extra.
    "ZUNION 2 za zb WEIGHTS 1 nan",
    "ZUNION 2 za zb WEIGHTS abc 1",
    "ZUNION 2 za zb WEIGHTS 1 1e400",
    "ZUNION 2 za zb WEIGHTS ' 1' 1",
    "ZUNION 2 za zb WEIGHTS 1",
    "ZUNION 2 za zb WEIGHTS 1 2 3",
    "ZUNION 2 za zb WEIGHTS 1 2 WEIGHTS 3 4 WITHSCORES",
    "ZINTERSTORE dst 2 za zb WEIGHTS nan nan",
    // Aggregates: unknown, missing, repeated (the last wins).
    "ZUNION 2 za zb AGGREGATE AVG",
    "ZUNION 2 za zb AGGREGATE",
    "ZUNION 2 za zb AGGREGATE MIN AGGREGATE max WITHSCORES",
    // WITHSCORES only where a result is returned.
    "ZUNIONSTORE dst 2 za zb WITHSCORES",
    "ZINTERSTORE dst 2 za zb WITHSCORES",
    "ZDIFFSTORE dst 2 za zb WITHSCORES",
    "ZINTERCARD 2 za zb WITHSCORES",
    "ZUNION 1 za WITHSCORES WITHSCORES",
    // ZDIFF takes neither weights nor aggregates; ZINTERCARD only LIMIT.
    "ZDIFF 2 za zb WEIGHTS 1 1",
    "ZDIFF 2 za zb AGGREGATE SUM",
    "ZDIFFSTORE dst 2 za zb WEIGHTS 1 1",
    "ZINTERCARD 2 za zb WEIGHTS 1 1",
    "ZINTERCARD 2 za zb AGGREGATE SUM",
    "ZUNION 2 za zb LIMIT 1",
    "ZINTERCARD 2 za zb LIMIT -1",
    "ZINTERCARD 2 za zb LIMIT x",
    "ZINTERCARD 2 za zb LIMIT",
    "ZINTERCARD 2 za zb LIMIT 1 LIMIT 0",
    "ZINTERCARD 2 za zb LIMIT 1",
    "ZINTERCARD 1 za za",
    // Sets count 1 each; missing keys are empty.
    "ZUNION 3 za sa nokey WITHSCORES",
    "ZINTER 2 sa za WITHSCORES",
    "ZINTER 2 za sa WEIGHTS 2 10 WITHSCORES",
    "ZDIFF 2 sa za WITHSCORES",
    "ZINTER 2 za nokey",
    "ZINTERCARD 2 za nokey",
    "ZDIFF 2 nokey za",
    "ZDIFF 1 za WITHSCORES",
    "ZDIFF 2 za za",
    // The NaN rules: 0 * inf is 0; inf + -inf is 0; MIN/MAX skip ZINTER's NaN products.
    "ZADD zi inf a -inf b 1 c",
    "ZADD zj -inf a -inf b inf c",
    "ZUNION 2 zi zj WITHSCORES",
    "ZUNION 2 zi zj WEIGHTS 0 1 WITHSCORES",
    "ZINTER 2 zi zj WEIGHTS 1 0 WITHSCORES",
    "ZINTER 2 zi zj WEIGHTS 1 0 AGGREGATE MIN WITHSCORES",
    "ZINTER 2 zi zj WEIGHTS 1 0 AGGREGATE MAX WITHSCORES",
    "ZINTER 2 zi zj WEIGHTS 0 1 AGGREGATE MAX WITHSCORES",
    "ZUNION 2 zi zj WEIGHTS inf -inf WITHSCORES",
    "ZUNION 1 za WEIGHTS 1e308 WITHSCORES",
    "ZUNION 2 za za WEIGHTS 1e308 1e308 WITHSCORES",
    // Zeros: -0 from a weight; replied as -0, stored as 0 in a listpack.
    "ZADD z0 0 a 1 b",
    "ZUNION 1 z0 WEIGHTS -1 WITHSCORES",
    "ZUNIONSTORE dz 1 z0 WEIGHTS -1",
    "ZRANGE dz 0 -1 WITHSCORES",
    "OBJECT ENCODING dz",
    // Stores: replace the value and its TTL; an empty result deletes the destination.
    "SET dst x",
    "EXPIRE dst 100",
    "ZUNIONSTORE dst 2 za zb",
    "TTL dst",
    "TYPE dst",
    "ZRANGE dst 0 -1 WITHSCORES",
    "ZINTERSTORE dst 2 za nokey",
    "EXISTS dst",
    "ZINTERSTORE dst 2 za nokey",
    "ZDIFFSTORE za 2 za zb",
    "ZRANGE za 0 -1 WITHSCORES",
    "SET str2 v",
    "ZUNIONSTORE str2 1 zb",
    "TYPE str2",
    // ZRANGESTORE.
    "ZRANGESTORE",
    "ZRANGESTORE d zb 0",
    "ZRANGESTORE d zb 0 -1 WITHSCORES",
    "ZRANGESTORE d zb 0 -1 LIMIT 0 1",
    "ZRANGESTORE d zb (1 +inf BYSCORE BYLEX",
    "ZRANGESTORE d zb x 1",
    "ZRANGESTORE d zb x 1 BYSCORE",
    "ZRANGESTORE d zb a b BYLEX",
    "ZRANGESTORE d zb 0 -1 LIMIT x 1 BYSCORE",
    "ZRANGESTORE d str 0 -1",
    "ZRANGESTORE d zb 0 -1 REV",
    "ZRANGE d 0 -1 WITHSCORES",
    "ZRANGESTORE d zb (1 +inf BYSCORE REV LIMIT 0 1",
    "ZRANGE d 0 -1 WITHSCORES",
    "ZRANGESTORE d zb 5 10",
    "EXISTS d",
    "ZRANGESTORE d zb - + BYLEX LIMIT 1 1",
    "ZRANGE d 0 -1 WITHSCORES",
    "ZRANGESTORE d nokey 0 -1",
    "EXISTS d",
    // ZRANDMEMBER: the count's range, WITHSCORES, missing keys and wrong types.
    "ZRANDMEMBER",
    "ZRANDMEMBER zb x",
    "ZRANDMEMBER zb 1 2",
    "ZRANDMEMBER zb 1 WITHSCORES x",
    "ZRANDMEMBER zb -9223372036854775808",
    "ZRANDMEMBER zb -9223372036854775808 WITHSCORES",
    "ZRANDMEMBER zb 9223372036854775807 WITHSCORES",
    "ZRANDMEMBER zb -4611686018427387904 WITHSCORES",
    "ZRANDMEMBER zb 4611686018427387904 withscores",
    "ZRANDMEMBER zb 9223372036854775808",
    "ZRANDMEMBER nokey",
    "ZRANDMEMBER nokey 5",
    "ZRANDMEMBER nokey -5 WITHSCORES",
    "ZRANDMEMBER nokey x",
    "ZRANDMEMBER str",
    "ZRANDMEMBER str 1",
    "ZRANDMEMBER str x",
    "ZRANDMEMBER zb 0",
    "ZRANDMEMBER zb 0 WITHSCORES",
    "ZRANDMEMBER zb 3",
    "ZRANDMEMBER zb 100 WITHSCORES",
];

#[test]
fn errors_and_edge_cases_match_redis() {
    for resp3 in [false, true] {
        same_on_both(|port| {
            let mut c = Client::connect(port);
            c.cmd("FLUSHALL");
            if resp3 {
                c.cmd("HELLO 3");
            }
            SCRIPT
                .iter()
                .map(|line| {
                    // A quoted argument may hold a space.
                    let args: Vec<String> = if line.contains('\'') {
                        line.split('\'')
                            .enumerate()
                            .flat_map(|(i, part)| {
                                if i % 2 == 1 {
                                    vec![part.to_string()]
                                } else {
                                    part.split_whitespace().map(String::from).collect()
                                }
                            })
                            .collect()
                    } else {
                        line.split(' ').map(String::from).collect()
                    };
                    let args: Vec<&str> = args.iter().map(String::as_str).collect();
                    format!("{line} -> {}", text(c.cmd_args(&args)))
                })
                .collect()
        });
    }
}

#[test]
fn fixed_results_of_the_algebra() {
    // Without a reference server the comparisons above check nothing: pin a few results.
    on_both(&[], |port| {
        let mut c = Client::connect(port);
        c.cmd("FLUSHALL");
        c.cmd("ZADD za 1 a 2 b 3 c");
        c.cmd("ZADD zb 1 b 2 c 3 d");
        c.cmd("SADD s a d 7");
        let strings = |c: &mut Client, cmd: &str| {
            bulk_strings(&c.cmd(cmd))
                .into_iter()
                .map(|b| String::from_utf8(b).unwrap())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            strings(&mut c, "ZUNION 2 za zb WEIGHTS 2 3 WITHSCORES"),
            ["a", "2", "b", "7", "d", "9", "c", "12"]
        );
        assert_eq!(
            strings(&mut c, "ZINTER 2 za zb AGGREGATE MIN WITHSCORES"),
            ["b", "1", "c", "2"]
        );
        assert_eq!(strings(&mut c, "ZDIFF 2 za zb WITHSCORES"), ["a", "1"]);
        assert_eq!(
            strings(&mut c, "ZUNION 2 za s WITHSCORES"),
            ["7", "1", "d", "1", "a", "2", "b", "2", "c", "3"]
        );
        assert_eq!(c.int("ZINTERCARD 2 za zb LIMIT 1"), 1);
        assert_eq!(c.int("ZUNIONSTORE d 2 za zb"), 4);
        assert_eq!(
            strings(&mut c, "ZRANGE d 0 -1 WITHSCORES"),
            ["a", "1", "b", "3", "d", "3", "c", "5"]
        );
        assert_eq!(
            text(c.cmd("ZUNION 0 za")),
            "-ERR at least 1 input key is needed for 'zunion' command\r\n"
        );
        assert_eq!(
            text(c.cmd("ZINTER 2 za zb WEIGHTS 1 nan")),
            "-ERR weight value is not a float\r\n"
        );
        assert_eq!(
            text(c.cmd("ZINTERCARD 2 za zb LIMIT -1")),
            "-ERR LIMIT can't be negative\r\n"
        );
        assert_eq!(c.int("ZRANGESTORE r za 0 1 REV"), 2);
        assert_eq!(strings(&mut c, "ZRANGE r 0 -1"), ["b", "c"]);
        assert_eq!(
            text(c.cmd("ZRANDMEMBER za -9223372036854770000 WITHSCORES")),
            "-ERR value is out of range\r\n"
        );
        c.cmd("HELLO 3");
        assert_eq!(
            text(c.cmd("ZINTER 2 za zb WITHSCORES")),
            "*2\r\n*2\r\n$1\r\nb\r\n,3\r\n*2\r\n$1\r\nc\r\n,5\r\n"
        );
    });
}

#[test]
fn big_unions_and_intersections_match_redis() {
    // Two sets of 100k members, half of them shared, with every score kind.
    let mut rng = Rng(77);
    let mut fill = Vec::new();
    for (key, offset) in [("big1", 0), ("big2", 50_000)] {
        for chunk in 0..100 {
            let mut cmd = format!("ZADD {key}");
            for i in chunk * 1000..(chunk + 1) * 1000 {
                cmd += &format!(" {} m{}", score(&mut rng), i + offset);
            }
            fill.push(cmd);
        }
    }
    let run = |port: u16| -> Vec<String> {
        let mut c = Client::connect(port);
        c.cmd("FLUSHALL");
        for cmd in &fill {
            c.cmd(cmd);
        }
        let mut out = Vec::new();
        for cmd in [
            "ZUNIONSTORE u 2 big1 big2",
            "ZUNIONSTORE u 2 big1 big2 WEIGHTS 0.1 -3 AGGREGATE MAX",
            "ZINTERSTORE i 2 big1 big2 WEIGHTS 1 1e300",
            "ZDIFFSTORE d 2 big1 big2",
            "ZINTERCARD 2 big1 big2 LIMIT 30000",
            "ZRANGESTORE r u 1000 -1000 REV",
            "ZRANGESTORE r2 u (0 1e300 BYSCORE LIMIT 5 100000",
        ] {
            out.push(format!("{cmd} -> {}", text(c.cmd(cmd))));
        }
        for key in ["u", "i", "d", "r", "r2"] {
            let all = c.cmd(&format!("ZRANGE {key} 0 -1 WITHSCORES"));
            out.push(format!("{key}: {} bytes, {:x}", all.len(), fnv(&all)));
            out.push(text(c.cmd(&format!("OBJECT ENCODING {key}"))));
        }
        let all = c.cmd("ZUNION 2 big1 big2 WEIGHTS 1 -1 AGGREGATE MIN WITHSCORES");
        out.push(format!("ZUNION: {} bytes, {:x}", all.len(), fnv(&all)));
        out
    };
    same_on_both(run);
}

/// FNV-1a of a reply: big replies compare by size and hash.
fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// The members (and scores) a ZRANDMEMBER reply names, checked against `set` (member ->
/// score text): every member belongs, with its own score.
fn picks(raw: &[u8], withscores: bool, set: &HashMap<String, String>) -> Vec<String> {
    let items = match parse(raw) {
        Resp::Agg(_, Some(items)) => items,
        other => panic!("not an array: {other:?}"),
    };
    let flat: Vec<Resp> = items
        .into_iter()
        .flat_map(|i| match i {
            // RESP3 pairs.
            Resp::Agg(_, Some(pair)) => {
                assert_eq!(pair.len(), 2, "a pair");
                pair
            }
            other => vec![other],
        })
        .collect();
    let word = |r: &Resp| match r {
        Resp::Bulk(Some(b)) => String::from_utf8(b.clone()).unwrap(),
        Resp::Line(line) => String::from_utf8(line[1..].to_vec()).unwrap(),
        other => panic!("not a member or score: {other:?}"),
    };
    if !withscores {
        let names: Vec<String> = flat.iter().map(word).collect();
        for n in &names {
            assert!(set.contains_key(n), "{n} is not a member");
        }
        return names;
    }
    flat.chunks(2)
        .map(|pair| {
            let (m, s) = (word(&pair[0]), word(&pair[1]));
            assert_eq!(set.get(&m), Some(&s), "{m}'s score");
            m
        })
        .collect()
}

#[test]
fn zrandmember_replies_have_redis_shape() {
    on_both(&[], |port| {
        for resp3 in [false, true] {
            let mut c = Client::connect(port);
            c.cmd("FLUSHALL");
            if resp3 {
                c.cmd("HELLO 3");
            }
            // A listpack, a small skiplist (a long member) and a big skiplist.
            c.cmd("ZADD small 1 a 2 b 3 c 4 d 5 e -0 f 1.5 g inf h 7 i 8 j");
            c.cmd(&format!("ZADD long 1 a 2 b 3 c 4 {}", "x".repeat(80)));
            let mut cmd = "ZADD big".to_string();
            for i in 0..1000 {
                cmd += &format!(" {}.25 m{i}", i % 37);
            }
            c.cmd(&cmd);
            for key in ["small", "long", "big"] {
                // Scores as RESP2 shows them (RESP3 doubles read the same).
                let set = to_map(&bulk_strings(
                    &Client::connect(port).cmd(&format!("ZRANGE {key} 0 -1 WITHSCORES")),
                ));
                let size = set.len();
                let ordered: Vec<String> = bulk_strings(&c.cmd(&format!("ZRANGE {key} 0 -1")))
                    .into_iter()
                    .map(|b| String::from_utf8(b).unwrap())
                    .collect();
                for withscores in [false, true] {
                    let ws = if withscores { " WITHSCORES" } else { "" };
                    // A negative count repeats members: exactly that many.
                    for count in [1, 5, size, 3 * size] {
                        let got = picks(
                            &c.cmd(&format!("ZRANDMEMBER {key} -{count}{ws}")),
                            withscores,
                            &set,
                        );
                        assert_eq!(got.len(), count);
                    }
                    // A positive count: distinct members, at most all of them, and all of
                    // them in descending order when asking for as many or more.
                    for count in [1, 2, size / 3, size / 2, size - 1, size, size + 5] {
                        let got = picks(
                            &c.cmd(&format!("ZRANDMEMBER {key} {count}{ws}")),
                            withscores,
                            &set,
                        );
                        assert_eq!(got.len(), count.min(size), "{key} {count}");
                        let distinct: HashSet<&String> = got.iter().collect();
                        assert_eq!(distinct.len(), got.len(), "{key} {count}: repeats");
                        if count >= size {
                            // Redis walks the set from its end.
                            let descending: Vec<String> = ordered.iter().rev().cloned().collect();
                            assert_eq!(got, descending, "{key} {count}");
                        }
                    }
                }
                let one = c.cmd(&format!("ZRANDMEMBER {key}"));
                match parse(&one) {
                    Resp::Bulk(Some(m)) => {
                        assert!(set.contains_key(&String::from_utf8(m).unwrap()))
                    }
                    other => panic!("not a member: {other:?}"),
                }
            }
        }
    });
}

/// Member -> score of a flat WITHSCORES reply.
fn to_map(pairs: &[Vec<u8>]) -> HashMap<String, String> {
    pairs
        .chunks(2)
        .map(|p| {
            (
                String::from_utf8(p[0].clone()).unwrap(),
                String::from_utf8(p[1].clone()).unwrap(),
            )
        })
        .collect()
}

#[test]
fn a_huge_negative_zrandmember_count_stops_at_the_output_limit() {
    // Redis would build this reply until memory runs out; we stop at the client's output
    // limit, which then disconnects that client, and serve everyone else.
    let server = Server::start(&["--client-output-limit", "1mb"]);
    let mut c = server.client();
    assert_eq!(c.int("ZADD z 1 a 2 b"), 2);
    for (args, header) in [
        (
            &[&b"ZRANDMEMBER"[..], b"z", b"-9223372036854775807"][..],
            &b"*9223372036854775807\r\n"[..],
        ),
        (
            &[
                &b"ZRANDMEMBER"[..],
                b"z",
                b"-4611686018427387903",
                b"WITHSCORES",
            ][..],
            &b"*9223372036854775806\r\n"[..],
        ),
    ] {
        let mut c = server.client();
        let started = Instant::now();
        c.send(args);
        // Closed without the rest of the reply (what was already written may arrive first).
        let got = c.read_to_eof();
        assert!(
            got.is_empty() || got.starts_with(header),
            "{}",
            text(&got[..got.len().min(40)])
        );
        assert!(got.len() < 64 << 20, "{} bytes sent", got.len());
        assert!(started.elapsed() < Duration::from_secs(10));
    }
    // The same on a set past the listpack limits.
    let mut cmd = "ZADD big".to_string();
    for i in 0..300 {
        cmd += &format!(" {i} m{i}");
    }
    c.cmd(&cmd);
    let mut big = server.client();
    big.send(&[b"ZRANDMEMBER", b"big", b"-9223372036854775807"]);
    let got = big.read_to_eof();
    assert!(got.len() < 64 << 20, "{} bytes sent", got.len());
    assert_eq!(c.cmd("PING"), b"+PONG\r\n");
    assert_eq!(c.cmd("ZCARD z"), b":2\r\n");
}

#[test]
fn stores_are_watched_and_keep_no_ttl() {
    on_both(&[], |port| {
        let mut c = Client::connect(port);
        let mut other = Client::connect(port);
        c.cmd("FLUSHALL");
        c.cmd("ZADD za 1 a 2 b");
        // A store to a watched key, including one that deletes it, aborts the transaction;
        // one that finds nothing to delete does not.
        for (setup, meddle, runs) in [
            ("ZADD dst 1 x", "ZUNIONSTORE dst 1 za", false),
            ("ZADD dst 1 x", "ZINTERSTORE dst 2 za nokey", false),
            ("DEL dst", "ZINTERSTORE dst 2 za nokey", true),
            ("ZADD dst 1 x", "ZRANGESTORE dst za 0 0", false),
            ("ZADD dst 1 x", "ZRANGESTORE dst za 5 9", false),
            ("DEL dst", "ZRANGESTORE dst za 5 9", true),
            ("ZADD dst 1 x", "ZUNION 1 dst", true),
            ("ZADD dst 1 x", "ZRANDMEMBER dst 5", true),
        ] {
            c.cmd(setup);
            assert_eq!(c.cmd("WATCH dst"), b"+OK\r\n");
            other.cmd(meddle);
            c.cmd("MULTI");
            c.cmd("PING");
            let ran = c.cmd("EXEC") != b"*-1\r\n";
            assert_eq!(ran, runs, "WATCH dst; {setup}; {meddle}");
        }
    });
}
