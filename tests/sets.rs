//! Sets end to end, against the real binary.
//!
//! Where redis-server is installed (CI installs it), the same checks also run against it,
//! so every expectation here is Redis's own behaviour; and a random command sequence is
//! replayed on both servers and compared reply by reply. Replies whose order is a hash
//! table's (sets of strings, big sets) are compared sorted; all-integer sets of at most 512
//! members are listed in ascending order by both servers and compared byte for byte
//! (tests/golden/sets.txt holds the single-connection cases).

mod common;

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use common::{Client, Resp, Rng, Server, bulk_strings, on_both, parse, sorted, start_redis};

/// The bytes of a bulk string reply.
fn bulk(raw: &[u8]) -> Vec<u8> {
    match parse(raw) {
        Resp::Bulk(Some(b)) => b,
        other => panic!("not a bulk string: {other:?}"),
    }
}

/// The members of an array or set reply, sorted.
fn sorted_members(raw: &[u8]) -> Vec<Vec<u8>> {
    let mut m = bulk_strings(raw);
    m.sort();
    m
}

fn bytes(items: &[&str]) -> Vec<Vec<u8>> {
    items.iter().map(|s| s.as_bytes().to_vec()).collect()
}

#[test]
fn string_sets_in_resp2_and_resp3() {
    on_both(&[], |port| {
        let mut c = Client::connect(port);
        c.cmd("FLUSHALL");
        assert_eq!(c.cmd("SADD a x y z w"), b":4\r\n");
        assert_eq!(c.cmd("SADD b y z v"), b":3\r\n");
        assert_eq!(c.cmd("SADD c z q"), b":2\r\n");
        assert_eq!(
            sorted_members(&c.cmd("SMEMBERS a")),
            bytes(&["w", "x", "y", "z"])
        );
        assert_eq!(sorted_members(&c.cmd("SINTER a b")), bytes(&["y", "z"]));
        assert_eq!(sorted_members(&c.cmd("SINTER a b c")), bytes(&["z"]));
        assert_eq!(
            sorted_members(&c.cmd("SUNION a b c")),
            bytes(&["q", "v", "w", "x", "y", "z"])
        );
        assert_eq!(sorted_members(&c.cmd("SDIFF a b")), bytes(&["w", "x"]));
        assert_eq!(sorted_members(&c.cmd("SDIFF a b c")), bytes(&["w", "x"]));
        assert_eq!(c.cmd("SDIFFSTORE d a c"), b":3\r\n");
        assert_eq!(
            sorted_members(&c.cmd("SMEMBERS d")),
            bytes(&["w", "x", "y"])
        );
        // A mixed set: integers and strings.
        assert_eq!(c.cmd("SADD m 10 2 x"), b":3\r\n");
        assert_eq!(
            sorted_members(&c.cmd("SMEMBERS m")),
            bytes(&["10", "2", "x"])
        );
        assert_eq!(sorted_members(&c.cmd("SINTER m a")), bytes(&["x"]));
        // RESP3: the same replies, typed as sets.
        c.cmd("HELLO 3");
        for cmd in [
            "SMEMBERS a",
            "SINTER a b",
            "SUNION a b",
            "SDIFF a b",
            "SPOP d 5",
        ] {
            let r = c.cmd(cmd);
            assert_eq!(r[0], b'~', "{cmd}: {:?}", String::from_utf8_lossy(&r));
        }
        assert_eq!(c.cmd("EXISTS d"), b":0\r\n");
        let r = c.cmd("SRANDMEMBER a 2");
        assert_eq!(r[0], b'*', "SRANDMEMBER with a count stays an array");
    });
}

#[test]
fn spop_removes_what_it_returns() {
    on_both(&[], |port| {
        let mut c = Client::connect(port);
        c.cmd("FLUSHALL");
        for (key, n, prefix) in [("strs", 300, "m"), ("ints", 300, ""), ("bigints", 1000, "")] {
            let all: BTreeSet<Vec<u8>> = (0..n)
                .map(|i| format!("{prefix}{i}").into_bytes())
                .collect();
            let args: Vec<&[u8]> = [b"SADD".as_slice(), key.as_bytes()]
                .into_iter()
                .chain(all.iter().map(Vec::as_slice))
                .collect();
            assert_eq!(c.call(&args), format!(":{n}\r\n").into_bytes());
            let mut popped = BTreeSet::new();
            // Counts that take Redis's both strategies (few of many, most of the rest).
            for count in [1usize, 7, 50] {
                let got = bulk_strings(&c.cmd(&format!("SPOP {key} {count}")));
                assert_eq!(got.len(), count);
                for m in got {
                    assert!(all.contains(&m), "{m:?} was never added");
                    assert!(popped.insert(m), "popped twice");
                }
            }
            assert!(popped.insert(bulk(&c.cmd(&format!("SPOP {key}")))));
            let left = n - popped.len();
            assert_eq!(
                c.cmd(&format!("SCARD {key}")),
                format!(":{left}\r\n").into_bytes()
            );
            let rest: BTreeSet<Vec<u8>> = bulk_strings(&c.cmd(&format!("SMEMBERS {key}")))
                .into_iter()
                .collect();
            assert!(rest.is_disjoint(&popped));
            assert_eq!(rest.len() + popped.len(), n);
            // Almost all of what remains, then the rest: the key goes away.
            let most = bulk_strings(&c.cmd(&format!("SPOP {key} {}", left - 3)));
            assert_eq!(most.len(), left - 3);
            let last = bulk_strings(&c.cmd(&format!("SPOP {key} 100")));
            assert_eq!(last.len(), 3);
            assert_eq!(c.cmd(&format!("EXISTS {key}")), b":0\r\n");
        }
    });
}

#[test]
fn srandmember_returns_members_without_removing_them() {
    on_both(&[], |port| {
        let mut c = Client::connect(port);
        c.cmd("FLUSHALL");
        for (key, n, prefix) in [("strs", 100, "m"), ("ints", 100, "")] {
            let all: BTreeSet<Vec<u8>> = (0..n)
                .map(|i| format!("{prefix}{i}").into_bytes())
                .collect();
            let args: Vec<&[u8]> = [b"SADD".as_slice(), key.as_bytes()]
                .into_iter()
                .chain(all.iter().map(Vec::as_slice))
                .collect();
            c.call(&args);
            // Distinct members for positive counts, in each of Redis's strategies.
            for count in [1usize, 10, 40, 90, 100, 150] {
                let got = bulk_strings(&c.cmd(&format!("SRANDMEMBER {key} {count}")));
                assert_eq!(got.len(), count.min(n));
                let distinct: BTreeSet<Vec<u8>> = got.iter().cloned().collect();
                assert_eq!(distinct.len(), got.len(), "repeats in a positive count");
                assert!(distinct.is_subset(&all));
            }
            // Repeats allowed for negative counts; over many draws every member shows up.
            let got = bulk_strings(&c.cmd(&format!("SRANDMEMBER {key} -2000")));
            assert_eq!(got.len(), 2000);
            let seen: BTreeSet<Vec<u8>> = got.into_iter().collect();
            assert!(seen.is_subset(&all));
            assert!(
                seen.len() > n * 9 / 10,
                "only {} of {n} members drawn",
                seen.len()
            );
            let mut one = BTreeSet::new();
            for _ in 0..500 {
                one.insert(bulk(&c.cmd(&format!("SRANDMEMBER {key}"))));
            }
            assert!(one.is_subset(&all) && one.len() > n / 2);
            assert_eq!(
                c.cmd(&format!("SCARD {key}")),
                format!(":{n}\r\n").into_bytes()
            );
        }
    });
}

#[test]
fn sscan_visits_every_member_of_a_big_set() {
    on_both(&[], |port| {
        let mut c = Client::connect(port);
        c.cmd("FLUSHALL");
        let all: BTreeSet<Vec<u8>> = (0..3000)
            .map(|i| format!("member:{i}").into_bytes())
            .collect();
        for chunk in all.iter().collect::<Vec<_>>().chunks(500) {
            let mut args: Vec<&[u8]> = vec![b"SADD", b"big"];
            args.extend(chunk.iter().map(|m| m.as_slice()));
            c.call(&args);
        }
        for (count, pattern) in [("10", None), ("100", Some("member:1*")), ("1", Some("*7"))] {
            let mut seen = BTreeSet::new();
            let mut cursor = b"0".to_vec();
            let mut calls = 0;
            loop {
                let mut args: Vec<&[u8]> =
                    vec![b"SSCAN", b"big", &cursor, b"COUNT", count.as_bytes()];
                if let Some(p) = pattern {
                    args.extend([b"MATCH".as_slice(), p.as_bytes()]);
                }
                let Resp::Agg(_, Some(parts)) = parse(&c.call(&args)) else {
                    panic!("not a scan reply");
                };
                let [Resp::Bulk(Some(next)), Resp::Agg(_, Some(found))] = &parts[..] else {
                    panic!("bad scan reply {parts:?}");
                };
                for f in found {
                    let Resp::Bulk(Some(m)) = f else {
                        panic!("bad member {f:?}")
                    };
                    seen.insert(m.clone());
                }
                cursor = next.clone();
                calls += 1;
                if cursor == b"0" {
                    break;
                }
                assert!(calls < 100_000, "SSCAN does not finish");
            }
            let want: BTreeSet<Vec<u8>> = all
                .iter()
                .filter(|m| match pattern {
                    Some("member:1*") => m.starts_with(b"member:1"),
                    Some("*7") => m.ends_with(b"7"),
                    _ => true,
                })
                .cloned()
                .collect();
            assert_eq!(seen, want, "COUNT {count} MATCH {pattern:?}");
            if count == "10" {
                assert!(calls > 10, "a big set is scanned in steps");
            }
        }
    });
}

#[test]
fn integer_sets_are_sorted_until_they_grow_past_512() {
    on_both(&[], |port| {
        let mut c = Client::connect(port);
        c.cmd("FLUSHALL");
        // Insert 512 integers in a scrambled order: both servers list them sorted.
        let mut args: Vec<Vec<u8>> = vec![b"SADD".to_vec(), b"i".to_vec()];
        args.extend((0..512i64).map(|k| ((k * 193) % 512 - 256).to_string().into_bytes()));
        let refs: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
        assert_eq!(c.call(&refs), b":512\r\n");
        let want: Vec<Vec<u8>> = (-256..256)
            .map(|k: i64| k.to_string().into_bytes())
            .collect();
        assert_eq!(bulk_strings(&c.cmd("SMEMBERS i")), want);
        assert_eq!(bulk_strings(&c.cmd("SUNION i")), want);
        // The 513th converts the set; the contents stay, the order is the table's.
        assert_eq!(c.cmd("SADD i 1000"), b":1\r\n");
        let mut want_all = want.clone();
        want_all.push(b"1000".to_vec());
        want_all.sort();
        assert_eq!(sorted_members(&c.cmd("SMEMBERS i")), want_all);
        assert_eq!(c.cmd("SISMEMBER i -256"), b":1\r\n");
        assert_eq!(c.cmd("SREM i 1000"), b":1\r\n");
        assert_eq!(sorted_members(&c.cmd("SMEMBERS i")), {
            let mut w = want.clone();
            w.sort();
            w
        });
    });
}

#[test]
fn writes_keep_the_ttl_and_store_commands_replace_it() {
    on_both(&[], |port| {
        let mut c = Client::connect(port);
        c.cmd("FLUSHALL");
        c.cmd("SADD s a b c");
        assert_eq!(c.cmd("EXPIRE s 100"), b":1\r\n");
        for cmd in ["SADD s d", "SREM s a", "SPOP s", "SMOVE s other b"] {
            c.cmd(cmd);
            assert_eq!(c.cmd("TTL s"), b":100\r\n", "after {cmd}");
        }
        c.cmd("SADD src x");
        for cmd in [
            "SUNIONSTORE s src",
            "SINTERSTORE s src src",
            "SDIFFSTORE s src nokey",
        ] {
            assert_eq!(c.cmd("EXPIRE s 100"), b":1\r\n");
            assert_eq!(c.cmd(cmd), b":1\r\n");
            assert_eq!(c.cmd("TTL s"), b":-1\r\n", "after {cmd}");
        }
        // An expired set is gone for every command, and a new one has no TTL.
        assert_eq!(c.cmd("PEXPIRE s 1"), b":1\r\n");
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(c.cmd("SCARD s"), b":0\r\n");
        assert_eq!(c.cmd("SMOVE s src x"), b":0\r\n");
        c.cmd("SADD s fresh");
        assert_eq!(c.cmd("TTL s"), b":-1\r\n");
        // COPY makes an independent set.
        assert_eq!(c.cmd("COPY s s2"), b":1\r\n");
        c.cmd("SADD s2 more");
        assert_eq!(c.cmd("SCARD s"), b":1\r\n");
        assert_eq!(c.cmd("SCARD s2"), b":2\r\n");
        assert_eq!(c.cmd("TYPE s2"), b"+set\r\n");
        assert_eq!(
            c.cmd("SCAN 0 TYPE set COUNT 100")
                .windows(2)
                .filter(|w| w == b"s2")
                .count(),
            1
        );
    });
}

/// WATCH `key` on a fresh client, run `meddle` on another, then try a transaction.
/// Returns true when EXEC ran (the key was not seen as modified).
fn exec_runs(port: u16, setup: &[&str], key: &str, meddle: &str) -> bool {
    let mut c = Client::connect(port);
    let mut other = Client::connect(port);
    other.cmd("FLUSHALL");
    for s in setup {
        other.cmd(s);
    }
    assert_eq!(c.cmd(&format!("WATCH {key}")), b"+OK\r\n");
    other.cmd(meddle);
    c.cmd("MULTI");
    c.cmd("PING");
    let r = c.cmd("EXEC");
    r != b"*-1\r\n"
}

#[test]
fn watch_sees_every_change_and_only_changes() {
    on_both(&[], |port| {
        let set = &["SADD s a b", "SADD t c"];
        // (setup, watched key, command, EXEC runs?)
        let cases: &[(&[&str], &str, &str, bool)] = &[
            (set, "s", "SADD s z", false),
            (set, "s", "SADD s a", true),
            (set, "s", "SREM s a", false),
            (set, "s", "SREM s nosuch", true),
            (set, "s", "SREM s a b", false),
            (set, "s", "SPOP s", false),
            (set, "s", "SPOP s 1", false),
            (set, "s", "SPOP s 0", true),
            (set, "s", "SMOVE s t a", false),
            (set, "t", "SMOVE s t a", false),
            (&["SADD s a", "SADD t a"], "t", "SMOVE s t a", true),
            (set, "s", "SMOVE s t nosuch", true),
            (set, "n", "SMOVE s n a", false),
            (set, "d", "SUNIONSTORE d s t", false),
            (&["SADD d x"], "d", "SINTERSTORE d nokey", false),
            (set, "d", "SINTERSTORE d nokey", true),
            (set, "s", "SINTER s t", true),
            (set, "s", "SRANDMEMBER s 5", true),
        ];
        for (setup, key, meddle, runs) in cases {
            assert_eq!(
                exec_runs(port, setup, key, meddle),
                *runs,
                "WATCH {key}; {meddle}"
            );
        }
    });
}

/// Random set commands on a few keys, replayed on both servers. Members are integers and
/// short strings, so sets take both encodings; replies whose order is a hash table's are
/// compared sorted, random ones (SPOP, SRANDMEMBER) are left out.
#[test]
fn random_commands_match_redis() {
    let ours = Server::start(&[]);
    let Some(redis) = start_redis() else {
        return;
    };
    let mut a = Client::connect(ours.port);
    let mut b = Client::connect(redis.port);
    a.cmd("FLUSHALL");
    b.cmd("FLUSHALL");
    let keys = ["s1", "s2", "s3", "str"];
    a.cmd("SET str x");
    b.cmd("SET str x");
    let mut rng = Rng(0x5EED_5E75);
    let mut ordered = HashMap::new();
    for step in 0..4000 {
        let key = keys[rng.below(3) as usize];
        let key2 = keys[rng.below(4) as usize];
        let member = |rng: &mut Rng| match rng.below(4) {
            0 => format!("m{}", rng.below(30)),
            1 => format!("{}", rng.below(600)),
            _ => format!("{}", rng.below(40)),
        };
        let (m1, m2) = (member(&mut rng), member(&mut rng));
        let cmd = match rng.below(16) {
            0..=3 => format!("SADD {key} {m1} {m2}"),
            4 => format!("SREM {key} {m1} {m2}"),
            5 => format!("SISMEMBER {key} {m1}"),
            6 => format!("SMISMEMBER {key} {m1} {m2}"),
            7 => format!("SCARD {key}"),
            8 => format!("SMOVE {key} {key2} {m1}"),
            9 => format!("SINTER {key} {key2}"),
            10 => format!("SUNION {key} {key2}"),
            11 => format!("SDIFF {key} {key2}"),
            12 => format!("SINTERSTORE s3 {key} {key2}"),
            13 => format!("SDIFFSTORE s3 {key} {key2}"),
            14 => format!("SINTERCARD 2 {key} {key2} LIMIT {}", rng.below(5)),
            _ => format!("SMEMBERS {key}"),
        };
        let (ra, rb) = (a.cmd(&cmd), b.cmd(&cmd));
        if ra != rb {
            // Same contents in another order is fine for hash-table sets.
            assert_eq!(sorted(&ra, false), sorted(&rb, false), "step {step}: {cmd}");
            *ordered
                .entry(cmd.split(' ').next().unwrap_or("").to_string())
                .or_insert(0) += 1;
        }
    }
    // Both encodings were exercised: some replies differed only in order.
    assert!(!ordered.is_empty(), "no string sets were compared");
}
