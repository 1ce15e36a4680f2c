//! SORT, SORT_RO and LCS end to end, against the real binary.
//!
//! Where redis-server 7.0 is installed (CI installs it), random data and random requests
//! run on both servers and the replies must be equal byte for byte, in RESP2 and RESP3:
//! lists, sets and sorted sets, small and past the compact encodings, numeric and ALPHA
//! sorting, BY patterns over strings and hash fields, GET chains, LIMIT windows, STORE;
//! LCS of random strings with every option; error paths. Where Redis's own order comes
//! from its hash tables (a sorted set or a hash-table set is loaded in dict order, so ties
//! among equal BY values follow it) the replies are compared as multisets, or by length
//! when a LIMIT window cuts through such ties. The hand-written checks run on both servers
//! too.

mod common;

use common::{Client, Resp, Rng, Server, hits_misses, on_both, parse, start_redis, text};

/// How two replies must agree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Byte for byte.
    Exact,
    /// The same elements, in any order.
    Unordered,
    /// Both arrays of the same length (or the same non-array reply).
    Shape,
}

/// A reply reduced as `mode` compares it.
fn normalized(raw: &[u8], mode: Mode) -> String {
    match (mode, parse(raw)) {
        (Mode::Exact, _) => text(raw),
        (Mode::Unordered, Resp::Agg(t, Some(mut items))) => {
            items.sort();
            format!("{:?}", Resp::Agg(t, Some(items)))
        }
        (Mode::Shape, Resp::Agg(t, Some(items))) => format!("{} x{}", t as char, items.len()),
        _ => text(raw),
    }
}

/// Connections to our server and, when installed, to redis-server: every request goes to
/// both and the replies are compared.
struct Pair {
    ours: Client,
    redis: Option<Client>,
    /// Requests sent so far (for failure messages).
    sent: usize,
    /// Compare the keyspace hits and misses each request adds (two INFO calls a server).
    count_hits: bool,
}

impl Pair {
    fn new(ours: &Server, redis: Option<&common::Redis>, resp3: bool) -> Pair {
        let mut p = Pair {
            ours: ours.client(),
            redis: redis.map(|r| Client::connect(r.port)),
            sent: 0,
            count_hits: false,
        };
        if resp3 {
            p.same(&["HELLO", "3"], Mode::Shape);
        }
        p
    }

    /// Sends `args` to both; the replies must agree under `mode`. Returns ours.
    fn check(&mut self, args: &[&[u8]], mode: Mode) -> Vec<u8> {
        self.sent += 1;
        let before = self.count_hits.then(|| self.hits());
        let got = self.ours.call(args);
        if let Some(r) = self.redis.as_mut() {
            let want = r.call(args);
            let (g, w) = (normalized(&got, mode), normalized(&want, mode));
            assert!(
                g == w,
                "request #{} {:?} ({mode:?}):\n  ours:  {}\n  redis: {}",
                self.sent,
                args.iter().map(text).collect::<Vec<_>>(),
                g.chars().take(600).collect::<String>(),
                w.chars().take(600).collect::<String>(),
            );
            // The lookups count as keyspace hits and misses as in Redis (unless a LIMIT
            // window cut through hash-ordered ties and picked other elements).
            if let Some(before) = before.filter(|_| mode != Mode::Shape) {
                let after = self.hits();
                let delta = |i: usize| (after[i].0 - before[i].0, after[i].1 - before[i].1);
                assert_eq!(
                    delta(0),
                    delta(1),
                    "keyspace (hits, misses) of request #{} {:?}: ours, then redis",
                    self.sent,
                    args.iter().map(text).collect::<Vec<_>>(),
                );
            }
        }
        got
    }

    /// `(keyspace_hits, keyspace_misses)` of ours and of redis-server.
    fn hits(&mut self) -> [(i64, i64); 2] {
        let r = self.redis.as_mut().map_or((0, 0), hits_misses);
        [hits_misses(&mut self.ours), r]
    }

    fn same(&mut self, args: &[&str], mode: Mode) -> Vec<u8> {
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        self.check(&args, mode)
    }

    /// Sends many writes pipelined to both (their replies are not compared, only read).
    fn load(&mut self, cmds: &[Vec<Vec<u8>>]) {
        for chunk in cmds.chunks(500) {
            for c in [Some(&mut self.ours), self.redis.as_mut()]
                .into_iter()
                .flatten()
            {
                for cmd in chunk {
                    let args: Vec<&[u8]> = cmd.iter().map(Vec::as_slice).collect();
                    c.send(&args);
                }
                for _ in chunk {
                    let r = c.read_reply();
                    assert!(r[0] != b'-', "loading failed: {}", text(&r));
                }
            }
        }
    }
}

/// The kind of elements a random key holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Elems {
    /// Numbers in many spellings: decimals, exponents, hex, infinities, leading space.
    Numeric,
    /// Small integers (sets of them are intsets up to 512 members).
    Integer,
    /// Strings, with ties under C collation (`z\0x` and `z\0y`) and non-ASCII bytes.
    Alpha,
}

fn random_elem(rng: &mut Rng, kind: Elems) -> Vec<u8> {
    match kind {
        Elems::Numeric => match rng.below(8) {
            0 => format!("{}.5", rng.signed(50)).into_bytes(),
            1 => rng
                .pick(&["1e3", "-0", "0x1f", " 7", "inf", "-inf", "2.5e-3", "+4"])
                .into(),
            _ => rng.signed(50).to_string().into_bytes(),
        },
        Elems::Integer => rng.signed(300).to_string().into_bytes(),
        Elems::Alpha => match rng.below(10) {
            0 => b"z\0y".to_vec(),
            1 => b"z\0x".to_vec(),
            2 => vec![0xc3, 0xa9],
            3 => vec![0xff, b'a'],
            4 => Vec::new(),
            5 => rng.pick(&["a", "b", "B", "aa", "ab", "10", "9"]).into(),
            _ => format!("x{}", rng.below(40)).into_bytes(),
        },
    }
}

/// One random data set: key `k` (a list, set or sorted set, or missing), weights `w_*`
/// (strings), `h_*` (hashes with field `f`), `g_*` values for GET. Returns whether the
/// key's load order in Redis is its hash table's (a sorted set, or a set that is not an
/// intset), and the number of elements.
fn random_dataset(p: &mut Pair, rng: &mut Rng, big: bool) -> (Kind, Elems, bool, usize) {
    p.same(&["FLUSHALL"], Mode::Exact);
    let kind = [Kind::List, Kind::Set, Kind::ZSet][rng.below(3) as usize];
    let elems = [Elems::Numeric, Elems::Integer, Elems::Alpha][rng.below(3) as usize];
    let n = if big {
        [600, 2000, 5000][rng.below(3) as usize]
    } else {
        [0, 1, 2, 5, 12, 40, 130][rng.below(7) as usize]
    };
    let values: Vec<Vec<u8>> = (0..n).map(|_| random_elem(rng, elems)).collect();
    let mut cmds: Vec<Vec<Vec<u8>>> = Vec::new();
    for v in &values {
        cmds.push(match kind {
            Kind::List => vec![b"RPUSH".to_vec(), b"k".to_vec(), v.clone()],
            Kind::Set => vec![b"SADD".to_vec(), b"k".to_vec(), v.clone()],
            Kind::ZSet => vec![
                b"ZADD".to_vec(),
                b"k".to_vec(),
                rng.below(10).to_string().into_bytes(),
                v.clone(),
            ],
        });
    }
    // Numeric weights only (so that numeric BY sorts), or a mix that makes some fail.
    let numeric_weights = rng.below(2) == 0;
    let mut distinct = values.clone();
    distinct.sort();
    distinct.dedup();
    for v in &distinct {
        let key = |prefix: &[u8]| [prefix, v.as_slice()].concat();
        match rng.below(10) {
            0..=3 => {
                let w = if numeric_weights || rng.below(3) > 0 {
                    rng.below(6).to_string()
                } else {
                    rng.pick(&["x", "y", "0.25", "1e2"]).to_string()
                };
                cmds.push(vec![b"SET".to_vec(), key(b"w_"), w.into_bytes()]);
            }
            4..=6 => {
                let f = if numeric_weights {
                    rng.below(10).to_string()
                } else {
                    rng.pick(&["1", "2", "p", "q"]).to_string()
                };
                cmds.push(vec![
                    b"HSET".to_vec(),
                    key(b"h_"),
                    b"f".to_vec(),
                    f.into_bytes(),
                ]);
            }
            _ => {}
        }
        if rng.below(3) == 0 {
            cmds.push(vec![
                b"SET".to_vec(),
                key(b"g_"),
                [b"G", v.as_slice()].concat(),
            ]);
        }
    }
    cmds.push(vec![b"SET".to_vec(), b"wrong".to_vec(), b"v".to_vec()]);
    cmds.push(vec![
        b"HSET".to_vec(),
        b"hk".to_vec(),
        b"a".to_vec(),
        b"b".to_vec(),
    ]);
    p.load(&cmds);
    let intset = kind == Kind::Set && elems == Elems::Integer && distinct.len() <= 512;
    let hash_order = kind == Kind::ZSet || (kind == Kind::Set && !intset);
    (kind, elems, hash_order, n)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    List,
    Set,
    ZSet,
}

/// One random SORT request on `k`, and how its reply (and the stored list) must agree.
fn random_sort(rng: &mut Rng, dataset: (Kind, Elems, bool, usize)) -> (Vec<String>, Mode) {
    let (kind, elems, hash_order, n) = dataset;
    let ro = rng.below(8) == 0;
    let mut a: Vec<String> = vec![if ro { "SORT_RO" } else { "SORT" }.into(), "k".into()];
    let by = match rng.below(20) {
        0..=4 => Some("w_*"),
        5..=8 => Some("h_*->f"),
        9..=11 => Some("nosort"),
        12 => Some("w_*_nothing"),
        _ => None,
    };
    // Option groups, shuffled: Redis reads them in any order.
    let mut groups: Vec<Vec<String>> = Vec::new();
    if let Some(by) = by {
        groups.push(vec!["BY".into(), by.into()]);
    }
    let alpha = rng.below(2) == 0;
    if alpha {
        groups.push(vec!["ALPHA".into()]);
    }
    if rng.below(3) == 0 {
        groups.push(vec![rng.pick(&["ASC", "DESC"]).into()]);
    }
    let limit = rng.below(2) == 0;
    if limit {
        let span = n as i64 + 3;
        groups.push(vec![
            "LIMIT".into(),
            rng.signed(span).to_string(),
            rng.signed(span).to_string(),
        ]);
    }
    for _ in 0..[0, 0, 1, 2, 3][rng.below(5) as usize] {
        let pat = rng.pick(&[
            "#",
            "w_*",
            "h_*->f",
            "g_*",
            "nokey",
            "hk->a",
            "*->",
            "h_*->nofield",
        ]);
        groups.push(vec!["GET".into(), pat.into()]);
    }
    let store = !ro && rng.below(3) == 0;
    if store {
        groups.push(vec!["STORE".into(), "dst".into()]);
    }
    for i in (1..groups.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        groups.swap(i, j);
    }
    a.extend(groups.into_iter().flatten());
    let nosort = by == Some("nosort");
    let mut mode = Mode::Exact;
    if hash_order {
        let sorted_anyway = kind == Kind::Set && nosort && store;
        if kind == Kind::Set && nosort && !store {
            mode = Mode::Unordered;
        } else if sorted_anyway {
            // Sorted ALPHA with binary comparison: no ties among distinct members.
        } else if by.is_some() && !nosort && alpha {
            // Equal (or missing) BY values keep their load order, the hash table's.
            mode = Mode::Unordered;
        } else if by.is_none() && alpha && elems == Elems::Alpha && !store {
            // `z\0x` and `z\0y` collate equal.
            mode = Mode::Unordered;
        }
        if mode == Mode::Unordered && limit {
            mode = Mode::Shape;
        }
    }
    (a, mode)
}

/// Random data sets and requests on both servers, compared.
fn sort_differential(seed: u64, resp3: bool, big: bool, datasets: usize, requests: usize) {
    let ours = Server::start(&[]);
    let redis = start_redis();
    if redis.is_none() {
        eprintln!("SKIPPED the comparison with redis-server: ours runs alone");
    }
    let mut p = Pair::new(&ours, redis.as_ref(), resp3);
    p.count_hits = !big;
    let mut rng = Rng(seed);
    for _ in 0..datasets {
        let ds = random_dataset(&mut p, &mut rng, big);
        for _ in 0..requests {
            let (args, mode) = random_sort(&mut rng, ds);
            let store = args.iter().any(|a| a == "STORE");
            if store {
                p.same(&["DEL", "dst"], Mode::Exact);
            }
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            p.same(&refs, mode);
            if store {
                p.same(&["LRANGE", "dst", "0", "-1"], mode);
                p.same(&["EXISTS", "dst"], Mode::Exact);
            }
        }
    }
}

#[test]
fn sort_random_small_resp2() {
    sort_differential(0x5eed_0001, false, false, 60, 40);
}

#[test]
fn sort_random_small_resp3() {
    sort_differential(0x5eed_0002, true, false, 60, 40);
}

#[test]
fn sort_random_large() {
    sort_differential(0x5eed_0003, false, true, 8, 25);
}

/// Ties broken as Redis breaks them: many equal ALPHA BY values in a list, whole sorts
/// (stable, as glibc's merge sort) and LIMIT windows (Redis's partial quicksort), both
/// directions, small and large.
#[test]
fn sort_ties_in_lists_match_redis() {
    let ours = Server::start(&[]);
    let redis = start_redis();
    let mut p = Pair::new(&ours, redis.as_ref(), false);
    p.count_hits = true;
    let mut rng = Rng(99);
    for n in [6usize, 7, 8, 30, 41, 100, 1000, 4000] {
        p.same(&["FLUSHALL"], Mode::Exact);
        let mut cmds = Vec::new();
        for i in 0..n {
            let e = format!("e{i}").into_bytes();
            cmds.push(vec![b"RPUSH".to_vec(), b"l".to_vec(), e.clone()]);
            if rng.below(5) > 0 {
                let w = rng.pick(&["a", "b", "c"]).as_bytes().to_vec();
                cmds.push(vec![b"SET".to_vec(), [b"w_", e.as_slice()].concat(), w]);
            }
        }
        p.load(&cmds);
        for _ in 0..30 {
            let start = rng.signed(n as i64 / 2 + 2).to_string();
            let count = rng.signed(n as i64 / 2 + 2).to_string();
            let dir = rng.pick(&["ASC", "DESC"]);
            p.same(&["SORT", "l", "BY", "w_*", "ALPHA", dir], Mode::Exact);
            p.same(
                &[
                    "SORT", "l", "BY", "w_*", "ALPHA", dir, "LIMIT", &start, &count,
                ],
                Mode::Exact,
            );
            p.same(
                &[
                    "SORT", "l", "BY", "w_*", "ALPHA", "LIMIT", &start, &count, "STORE", "d",
                ],
                Mode::Exact,
            );
            p.same(&["LRANGE", "d", "0", "-1"], Mode::Exact);
        }
    }
}

/// LCS of random strings over small alphabets, every option, RESP2 and RESP3.
#[test]
fn lcs_random_strings_match_redis() {
    let ours = Server::start(&[]);
    let redis = start_redis();
    for resp3 in [false, true] {
        let mut p = Pair::new(&ours, redis.as_ref(), resp3);
        let mut rng = Rng(if resp3 { 31 } else { 17 });
        for round in 0..150 {
            let alphabet: &[u8] =
                [&b"ab"[..], b"abc", b"acgt", b"abcdefghij"][rng.below(4) as usize];
            let len = |rng: &mut Rng| match rng.below(6) {
                0 => 0,
                1 => rng.below(4),
                2 => 300 + rng.below(300),
                _ => rng.below(60),
            } as usize;
            let (la, lb) = (len(&mut rng), len(&mut rng));
            let mut s = |n: usize| -> Vec<u8> {
                (0..n)
                    .map(|_| alphabet[rng.below(alphabet.len() as u64) as usize])
                    .collect()
            };
            let (a, b) = (s(la), s(lb));
            p.check(&[b"SET", b"a", &a], Mode::Exact);
            if round % 7 == 0 {
                p.same(&["DEL", "b"], Mode::Exact);
            } else {
                p.check(&[b"SET", b"b", &b], Mode::Exact);
            }
            for opts in [
                &[][..],
                &["LEN"],
                &["IDX"],
                &["IDX", "WITHMATCHLEN"],
                &["WITHMATCHLEN"],
                &["IDX", "MINMATCHLEN", "2"],
                &["IDX", "MINMATCHLEN", "3", "WITHMATCHLEN"],
                &["MINMATCHLEN", "-5", "IDX", "WITHMATCHLEN"],
                &["LEN", "MINMATCHLEN", "2"],
                &["idx", "len"],
            ] {
                let mut args = vec!["LCS", "a", "b"];
                args.extend_from_slice(opts);
                p.same(&args, Mode::Exact);
                args[1..3].swap(0, 1);
                p.same(&args, Mode::Exact);
            }
        }
    }
}

/// Error replies, byte for byte, and what the failing requests leave behind.
#[test]
fn error_paths_match_redis() {
    let ours = Server::start(&[]);
    let redis = start_redis();
    let mut p = Pair::new(&ours, redis.as_ref(), false);
    for line in [
        "RPUSH l 3 1 2",
        "SET s text",
        "HSET h f v",
        "RPUSH bad 1 2 x",
        "SET w_1 5",
        "SET w_2 nope",
        "RPUSH dst keep",
        "SORT",
        "SORT_RO",
        "SORT s",
        "SORT h",
        "SORT l FOO",
        "SORT l LIMIT 1",
        "SORT l LIMIT a 1",
        "SORT l LIMIT 1 b",
        "SORT l LIMIT 1 99999999999999999999",
        "SORT l BY",
        "SORT l GET",
        "SORT l STORE",
        "SORT_RO l STORE dst",
        "SORT_RO l ALPHA STORE",
        "SORT l ASC BY w_* DESC ALPHA",
        "SORT bad",
        "SORT bad STORE dst",
        "LRANGE dst 0 -1",
        "SORT l BY w_*",
        "SORT l BY w_* STORE dst",
        "LRANGE dst 0 -1",
        "SORT s LIMIT x y",
        "SORT nokey FOO",
        "SORT nokey",
        "SORT nokey STORE dst",
        "EXISTS dst",
        "LCS",
        "LCS a",
        "LCS l s",
        "LCS s l",
        "LCS s h IDX",
        "LCS s nokey",
        "LCS s s LEN IDX",
        "LCS s s IDX LEN",
        "LCS s s FOO",
        "LCS s s MINMATCHLEN",
        "LCS s s MINMATCHLEN x",
        "LCS s s MINMATCHLEN 99999999999999999999",
        "LCS s s MINMATCHLEN 1 IDX WITHMATCHLEN LEN",
        "COMMAND GETKEYS SORT abc STORE def",
        "COMMAND GETKEYS SORT abc STORE invalid STORE stillbad STORE def",
        "COMMAND GETKEYS SORT abc LIMIT 0 1 BY STORE GET x",
        "COMMAND GETKEYS SORT_RO abc",
        "COMMAND GETKEYS LCS k1 k2",
        "COMMAND GETKEYS SORT",
        "COMMAND GETKEYS NOSUCH x",
        "COMMAND GETKEYS PING x",
    ] {
        let args: Vec<&str> = line.split(' ').collect();
        p.same(&args, Mode::Exact);
    }
}

/// The hand-written expectations of the brief, on both servers.
#[test]
fn sort_semantics() {
    on_both(&[], |port| {
        let mut c = Client::connect(port);
        let mut s = |line: &str| text(c.cmd(line));
        // BY nosort keeps a sorted set's order, LIMIT applied to that order.
        s("ZADD z 1 a 5 b 2 c 10 d 3 e");
        assert_eq!(
            s("SORT z BY nosort DESC LIMIT 1 2"),
            "*2\r\n$1\r\nb\r\n$1\r\ne\r\n"
        );
        assert_eq!(
            s("SORT z BY nosort LIMIT -10 2"),
            "*2\r\n$1\r\na\r\n$1\r\nc\r\n"
        );
        assert_eq!(s("SORT z BY nosort LIMIT 5 10"), "*0\r\n");
        // A set with BY nosort and STORE is sorted ALPHA (bytewise).
        s("SADD st b a 10 9 B");
        assert_eq!(s("SORT st BY nosort STORE out"), ":5\r\n");
        assert_eq!(
            s("LRANGE out 0 -1"),
            "*5\r\n$2\r\n10\r\n$1\r\n9\r\n$1\r\nB\r\n$1\r\na\r\n$1\r\nb\r\n"
        );
        // ... and from a script.
        assert_eq!(
            s("EVAL return(redis.call('sort',KEYS[1],'by','nosort')) 1 st"),
            "*5\r\n$2\r\n10\r\n$1\r\n9\r\n$1\r\nB\r\n$1\r\na\r\n$1\r\nb\r\n"
        );
        // Missing keys and fields are nil; in a STORE they are empty strings.
        s("RPUSH l 2 1");
        s("SET w_1 x1");
        s("HSET o_2 f y2");
        assert_eq!(
            s("SORT l GET w_* GET o_*->f GET #"),
            "*6\r\n$2\r\nx1\r\n$-1\r\n$1\r\n1\r\n$-1\r\n$2\r\ny2\r\n$1\r\n2\r\n"
        );
        assert_eq!(s("SORT l GET w_* GET o_*->f STORE out"), ":4\r\n");
        assert_eq!(
            s("LRANGE out 0 -1"),
            "*4\r\n$2\r\nx1\r\n$0\r\n\r\n$0\r\n\r\n$2\r\ny2\r\n"
        );
        // STORE replaces any type and its TTL; an empty result deletes the destination.
        s("SET out v EX 100");
        assert_eq!(s("SORT l STORE out"), ":2\r\n");
        assert_eq!(s("TTL out"), ":-1\r\n");
        assert_eq!(s("TYPE out"), "+list\r\n");
        assert_eq!(s("SORT l LIMIT 0 0 STORE out"), ":0\r\n");
        assert_eq!(s("EXISTS out"), ":0\r\n");
        // The numeric error.
        s("RPUSH n 1 2 abc");
        assert_eq!(
            s("SORT n"),
            "-ERR One or more scores can't be converted into double\r\n"
        );
        assert_eq!(
            s("SORT n ALPHA"),
            "*3\r\n$1\r\n1\r\n$1\r\n2\r\n$3\r\nabc\r\n"
        );
        // SORT is a write, SORT_RO is not.
        assert!(
            s("EVAL_RO return(redis.call('sort',KEYS[1])) 1 l")
                .starts_with("-ERR Write commands are not allowed from read-only scripts"),
        );
        assert_eq!(
            s("EVAL_RO return(redis.call('sort_ro',KEYS[1])) 1 l"),
            "*2\r\n$1\r\n1\r\n$1\r\n2\r\n"
        );
    });
}

/// The published events: `sortstore` for a stored result, `del` when an empty result
/// deletes the destination, nothing when there was nothing to delete.
#[test]
fn sort_store_events() {
    on_both(&[], |port| {
        let mut c = Client::connect(port);
        c.cmd("CONFIG SET notify-keyspace-events KEgl");
        let mut sub = Client::connect(port);
        sub.cmd("PSUBSCRIBE __key*__:*");
        c.cmd("RPUSH src b a");
        let push = |sub: &mut Client| text(sub.read_reply());
        // RPUSH's own two events.
        for _ in 0..2 {
            push(&mut sub);
        }
        assert_eq!(text(c.cmd("SORT src ALPHA STORE dst")), ":2\r\n");
        let events: Vec<String> = (0..2).map(|_| push(&mut sub)).collect();
        assert!(events[0].contains("__keyspace@0__:dst") && events[0].contains("sortstore"));
        assert!(events[1].contains("__keyevent@0__:sortstore"));
        assert_eq!(text(c.cmd("SORT src ALPHA LIMIT 0 0 STORE dst")), ":0\r\n");
        let events: Vec<String> = (0..2).map(|_| push(&mut sub)).collect();
        assert!(events[0].contains("__keyspace@0__:dst") && events[0].contains("\r\ndel\r\n"));
        assert!(events[1].contains("__keyevent@0__:del"));
        // Nothing to delete: no event (the next one seen is this RPUSH's).
        assert_eq!(text(c.cmd("SORT src ALPHA LIMIT 0 0 STORE dst")), ":0\r\n");
        c.cmd("RPUSH marker x");
        assert!(push(&mut sub).contains("marker"));
    });
}

/// LCS's documented examples, the RESP3 map, and the memory guard.
#[test]
fn lcs_semantics() {
    on_both(&[], |port| {
        let mut c = Client::connect(port);
        c.cmd("MSET key1 ohmytext key2 mynewtext");
        assert_eq!(text(c.cmd("LCS key1 key2")), "$6\r\nmytext\r\n");
        assert_eq!(text(c.cmd("LCS key1 key2 LEN")), ":6\r\n");
        assert_eq!(
            text(c.cmd("LCS key1 key2 IDX MINMATCHLEN 4 WITHMATCHLEN")),
            "*4\r\n$7\r\nmatches\r\n*1\r\n*3\r\n*2\r\n:4\r\n:7\r\n*2\r\n:5\r\n:8\r\n:4\r\n$3\r\nlen\r\n:6\r\n"
        );
        c.cmd("HELLO 3");
        assert_eq!(
            text(c.cmd("LCS key1 key2 IDX")),
            "%2\r\n$7\r\nmatches\r\n*2\r\n*2\r\n*2\r\n:4\r\n:7\r\n*2\r\n:5\r\n:8\r\n*2\r\n*2\r\n:2\r\n:3\r\n*2\r\n:0\r\n:1\r\n$3\r\nlen\r\n:6\r\n"
        );
        // The table would be (3001 * 3001) * 4 bytes: over a 1 MB proto-max-bulk-len.
        c.cmd("CONFIG SET proto-max-bulk-len 1048576");
        let long = "x".repeat(3000);
        c.cmd_args(&["MSET", "big1", &long, "big2", &long]);
        assert_eq!(
            text(c.cmd("LCS big1 big2 LEN")),
            "-ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len\r\n"
        );
        // Just under the limit: computed.
        let fits = "y".repeat(510);
        c.cmd_args(&["MSET", "f1", &fits, "f2", &fits]);
        assert_eq!(text(c.cmd("LCS f1 f2 LEN")), ":510\r\n");
    });
}
