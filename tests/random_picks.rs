//! Random picks are uniform: SRANDMEMBER, SPOP, HRANDFIELD, ZRANDMEMBER and RANDOMKEY, with and without
//! a count, on every encoding (intset, small hash, hash table), on our server and on
//! redis-server; and on tables left sparse by deletions, on ours only. (Redis fails those:
//! its "fair" pick samples a window of at most 100 buckets, which in a sparse table favours
//! members with few neighbours, e.g. SPOP scored 387 on the sparse set below; its cron
//! shrinks such tables soon after. Our tables may stay sparse, so ours must not care.)
//!
//! This is Redis's "SRANDMEMBER histogram distribution" test (tests/unit/type/set.tcl) in
//! our terms: draw many picks, count how often each item came up, and compute Pearson's
//! chi-square against equal counts. Unlike Redis's `chi_square_value`, items never picked
//! count too (as zeros).
//!
//! The threshold. For a uniform pick the statistic follows a chi-square distribution with
//! `items - 1` degrees of freedom (every check expects 100 or more picks per item, so the
//! approximation is good). Redis fails above 40 with 10 items, a p-value of 7.6e-6. Here a
//! check fails when the p-value is below 1e-7: with 10 items, a chi-square above 50. The
//! servers seed their generators from the clock, so a correct server fails one of the 64
//! checks of a run (both servers) with a probability below 1e-5. Picks without replacement
//! (positive counts, SPOP) vary less than independent ones, which only lowers the
//! statistic, so the bound stays conservative there. The picks this replaced (a random
//! bucket, then the next occupied one) scored from several hundred to tens of thousands
//! on these checks.

mod common;

use std::collections::HashMap;

use common::{Client, Resp, Server, bulk_strings, encode, on_both, parse};

/// Smallest p-value a check accepts.
const MIN_P: f64 = 1e-7;

/// ln Γ(x) for x > 0 (Lanczos, g = 7, 9 terms: about 15 significant digits).
fn ln_gamma(x: f64) -> f64 {
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    let x = x - 1.0;
    let t = x + 7.5;
    let series: f64 = C[0]
        + C[1..]
            .iter()
            .enumerate()
            .map(|(i, c)| c / (x + i as f64 + 1.0))
            .sum::<f64>();
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + series.ln()
}

/// P(X > x) for X chi-square with `df` degrees of freedom: the regularized upper incomplete
/// gamma function Q(df/2, x/2), by its series below a + 1 and its continued fraction above
/// (Numerical Recipes' gammq).
fn chi_square_p(x: f64, df: usize) -> f64 {
    let (a, x) = (df as f64 / 2.0, x / 2.0);
    if x <= 0.0 {
        return 1.0;
    }
    let front = (-x + a * x.ln() - ln_gamma(a)).exp();
    if x < a + 1.0 {
        let (mut term, mut sum, mut n) = (1.0 / a, 1.0 / a, a);
        while term.abs() > sum.abs() * 1e-15 {
            n += 1.0;
            term *= x / n;
            sum += term;
        }
        return 1.0 - sum * front;
    }
    // Lentz's method.
    let tiny = 1e-300;
    let mut b = x + 1.0 - a;
    let mut c = 1.0 / tiny;
    let mut d = 1.0 / b;
    let mut h = d;
    for i in 1..10_000 {
        let an = -(i as f64) * (i as f64 - a);
        b += 2.0;
        d = an * d + b;
        if d.abs() < tiny {
            d = tiny;
        }
        c = b + an / c;
        if c.abs() < tiny {
            c = tiny;
        }
        d = 1.0 / d;
        let step = d * c;
        h *= step;
        if (step - 1.0).abs() < 1e-15 {
            break;
        }
    }
    front * h
}

/// Pearson's chi-square of the picks against equal counts over `items`. Panics on a pick
/// that is not one of the items.
fn chi_square(items: &[Vec<u8>], picks: &[Vec<u8>]) -> f64 {
    let mut counts: HashMap<&[u8], u64> = items.iter().map(|i| (&i[..], 0)).collect();
    for p in picks {
        *counts
            .get_mut(&p[..])
            .unwrap_or_else(|| panic!("picked {:?}, not an item", String::from_utf8_lossy(p))) += 1;
    }
    let expected = picks.len() as f64 / items.len() as f64;
    counts
        .values()
        .map(|&c| (c as f64 - expected).powi(2) / expected)
        .sum()
}

/// Asserts that `picks` look uniform over `items`.
fn assert_uniform(what: &str, port: u16, items: &[Vec<u8>], picks: &[Vec<u8>]) {
    assert!(
        picks.len() >= 100 * items.len(),
        "{what}: too few picks for the test"
    );
    let x2 = chi_square(items, picks);
    let p = chi_square_p(x2, items.len() - 1);
    eprintln!(
        "port {port}: {what}: {} items, {} picks, chi-square {x2:.1}, p = {p:.2e}",
        items.len(),
        picks.len()
    );
    assert!(
        p >= MIN_P,
        "port {port}: {what}: chi-square {x2:.1} over {} items and {} picks (p = {p:.1e})",
        items.len(),
        picks.len()
    );
}

/// `names` as owned byte strings.
fn items(names: impl IntoIterator<Item = String>) -> Vec<Vec<u8>> {
    names.into_iter().map(String::into_bytes).collect()
}

/// Sends every request in one write and returns the raw replies in order.
fn pipeline(c: &mut Client, requests: &[Vec<Vec<u8>>]) -> Vec<Vec<u8>> {
    let mut bytes = Vec::new();
    for r in requests {
        let args: Vec<&[u8]> = r.iter().map(Vec::as_slice).collect();
        bytes.extend(encode(&args));
    }
    c.send_raw(&bytes);
    requests.iter().map(|_| c.read_reply()).collect()
}

/// A request from space-separated words plus extra arguments.
fn req(words: &str, extra: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut r: Vec<Vec<u8>> = words.split(' ').map(|w| w.as_bytes().to_vec()).collect();
    r.extend(extra.iter().cloned());
    r
}

/// A bulk string reply's payload.
fn bulk(raw: &[u8]) -> Vec<u8> {
    match parse(raw) {
        Resp::Bulk(Some(b)) => b,
        other => panic!("not a bulk string: {other:?}"),
    }
}

/// Runs `make` (requests that build the collection afresh), then `draw`, `rounds` times in
/// one pipeline; returns every member the draws named.
fn rounds(c: &mut Client, rounds: usize, make: &[Vec<Vec<u8>>], draw: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut requests = Vec::new();
    for _ in 0..rounds {
        requests.extend(make.iter().cloned());
        requests.push(draw.to_vec());
    }
    let replies = pipeline(c, &requests);
    replies
        .chunks(make.len() + 1)
        .flat_map(|round| match parse(&round[make.len()]) {
            Resp::Bulk(Some(b)) => vec![b],
            _ => bulk_strings(&round[make.len()]),
        })
        .collect()
}

/// Ten members that make an intset, and ten that make a hash table.
fn ten_ints() -> Vec<Vec<u8>> {
    items((0..10).map(|i| i.to_string()))
}

fn ten_strings() -> Vec<Vec<u8>> {
    items((0..10).map(|i| format!("member:{i}")))
}

/// SRANDMEMBER, without a count, with a negative count (repeats), with small and large
/// positive counts (distinct members: random picks, or a partial shuffle).
fn check_srandmember(port: u16, c: &mut Client, what: &str, key: &str, members: &[Vec<u8>]) {
    let n = members.len() * 200;
    let picks: Vec<Vec<u8>> = pipeline(c, &vec![req(&format!("SRANDMEMBER {key}"), &[]); n])
        .iter()
        .map(|r| bulk(r))
        .collect();
    assert_uniform(&format!("SRANDMEMBER {what}"), port, members, &picks);
    let picks = bulk_strings(&c.cmd(&format!("SRANDMEMBER {key} -{n}")));
    assert_eq!(picks.len(), n);
    assert_uniform(&format!("SRANDMEMBER -{n} {what}"), port, members, &picks);
    for count in [2, members.len() / 2] {
        let rounds = members.len() * 100 / count;
        let picks: Vec<Vec<u8>> = pipeline(
            c,
            &vec![req(&format!("SRANDMEMBER {key} {count}"), &[]); rounds],
        )
        .iter()
        .flat_map(|r| bulk_strings(r))
        .collect();
        assert_eq!(picks.len(), rounds * count);
        assert_uniform(
            &format!("SRANDMEMBER {count} {what}"),
            port,
            members,
            &picks,
        );
    }
}

#[test]
fn srandmember_is_uniform() {
    on_both(&[], |port| {
        let mut c = Client::connect(port);
        c.cmd("FLUSHALL");
        let ints = ten_ints();
        let mut sadd = vec![b"SADD".to_vec(), b"ints".to_vec()];
        sadd.extend(ints.iter().cloned());
        pipeline(&mut c, &[sadd]);
        check_srandmember(port, &mut c, "intset", "ints", &ints);

        let strings = ten_strings();
        let mut sadd = vec![b"SADD".to_vec(), b"strs".to_vec()];
        sadd.extend(strings.iter().cloned());
        pipeline(&mut c, &[sadd]);
        check_srandmember(port, &mut c, "hashtable", "strs", &strings);
    });
    // Ours only (see the top of the file).
    let ours = Server::start(&[]);
    let port = ours.port;
    let mut c = ours.client();
    {
        // A set left sparse by deletions: 50 members, all but 10 removed, which leaves
        // them in 64 buckets (a set shrinks only past 64 buckets and under 10 % full).
        let all = items((0..50).map(|i| format!("m{i}")));
        let mut sadd = vec![b"SADD".to_vec(), b"few".to_vec()];
        sadd.extend(all.iter().cloned());
        let mut srem = vec![b"SREM".to_vec(), b"few".to_vec()];
        srem.extend(all[10..].iter().cloned());
        let replies = pipeline(&mut c, &[sadd, srem]);
        assert_eq!(replies[1], b":40\r\n");
        check_srandmember(port, &mut c, "sparse hashtable", "few", &all[..10]);

        // A bigger one: 1000 members, then all but 205 removed, which
        // leaves our table at 2048 buckets.
        let all = items((0..1000).map(|i| format!("m{i}")));
        let mut sadd = vec![b"SADD".to_vec(), b"sparse".to_vec()];
        sadd.extend(all.iter().cloned());
        let mut srem = vec![b"SREM".to_vec(), b"sparse".to_vec()];
        srem.extend(all[205..].iter().cloned());
        let replies = pipeline(&mut c, &[sadd, srem]);
        assert_eq!(replies[1], b":795\r\n");
        let left = &all[..205];
        let n = left.len() * 100;
        let picks = bulk_strings(&c.cmd(&format!("SRANDMEMBER sparse -{n}")));
        assert_uniform("SRANDMEMBER negative count, sparse set", port, left, &picks);
        let picks: Vec<Vec<u8>> =
            pipeline(&mut c, &vec![req("SRANDMEMBER sparse 10", &[]); n / 10])
                .iter()
                .flat_map(|r| bulk_strings(r))
                .collect();
        assert_uniform("SRANDMEMBER 10, sparse set", port, left, &picks);
    }
}

#[test]
fn spop_is_uniform() {
    on_both(&[], |port| {
        let mut c = Client::connect(port);
        c.cmd("FLUSHALL");
        for (what, members) in [("intset", ten_ints()), ("hashtable", ten_strings())] {
            let mut sadd = vec![b"SADD".to_vec(), b"s".to_vec()];
            sadd.extend(members.iter().cloned());
            let make = vec![req("DEL s", &[]), sadd];
            let picks = rounds(&mut c, 2000, &make, &req("SPOP s", &[]));
            assert_eq!(picks.len(), 2000);
            assert_uniform(&format!("SPOP {what}"), port, &members, &picks);
            for count in [1, 3] {
                let picks = rounds(&mut c, 1000, &make, &req(&format!("SPOP s {count}"), &[]));
                assert_eq!(picks.len(), 1000 * count);
                assert_uniform(&format!("SPOP {count} {what}"), port, &members, &picks);
            }
        }
    });
    // Ours only (see the top of the file): a set left sparse by deletions (64 buckets
    // holding 10 members).
    let ours = Server::start(&[]);
    let (port, mut c) = (ours.port, ours.client());
    {
        let all = items((0..50).map(|i| format!("m{i}")));
        let mut sadd = vec![b"SADD".to_vec(), b"s".to_vec()];
        sadd.extend(all.iter().cloned());
        let mut srem = vec![b"SREM".to_vec(), b"s".to_vec()];
        srem.extend(all[10..].iter().cloned());
        let make = vec![req("DEL s", &[]), sadd, srem];
        let picks = rounds(&mut c, 2000, &make, &req("SPOP s", &[]));
        assert_uniform("SPOP, sparse set", port, &all[..10], &picks);
        let picks = rounds(&mut c, 1000, &make, &req("SPOP s 2", &[]));
        assert_uniform("SPOP 2, sparse set", port, &all[..10], &picks);
    }
}

/// HRANDFIELD without a count, with a negative count, with small and large positive
/// counts, and WITHVALUES (whose values must belong to the fields).
fn check_hrandfield(port: u16, c: &mut Client, what: &str, key: &str, fields: &[Vec<u8>]) {
    let n = fields.len() * 200;
    let picks: Vec<Vec<u8>> = pipeline(c, &vec![req(&format!("HRANDFIELD {key}"), &[]); n])
        .iter()
        .map(|r| bulk(r))
        .collect();
    assert_uniform(&format!("HRANDFIELD {what}"), port, fields, &picks);
    let picks = bulk_strings(&c.cmd(&format!("HRANDFIELD {key} -{n}")));
    assert_uniform(&format!("HRANDFIELD -{n} {what}"), port, fields, &picks);
    let pairs = bulk_strings(&c.cmd(&format!("HRANDFIELD {key} -{n} WITHVALUES")));
    let picks: Vec<Vec<u8>> = pairs
        .chunks(2)
        .map(|p| {
            let prefix = [b"v:", &p[0][..]].concat();
            assert!(p[1].starts_with(&prefix) && p[1][prefix.len()..].iter().all(|&b| b == b'.'));
            p[0].clone()
        })
        .collect();
    assert_uniform(
        &format!("HRANDFIELD -{n} WITHVALUES {what}"),
        port,
        fields,
        &picks,
    );
    for count in [2, fields.len() / 2] {
        let rounds = fields.len() * 100 / count;
        let picks: Vec<Vec<u8>> = pipeline(
            c,
            &vec![req(&format!("HRANDFIELD {key} {count}"), &[]); rounds],
        )
        .iter()
        .flat_map(|r| bulk_strings(r))
        .collect();
        assert_eq!(picks.len(), rounds * count);
        assert_uniform(&format!("HRANDFIELD {count} {what}"), port, fields, &picks);
    }
}

/// HSET `key` with `fields`, each valued `v:<field>` padded to `value_len` bytes.
fn hset(key: &str, fields: &[Vec<u8>], value_len: usize) -> Vec<Vec<u8>> {
    let mut r = vec![b"HSET".to_vec(), key.as_bytes().to_vec()];
    for f in fields {
        r.push(f.clone());
        let mut v = [b"v:", &f[..]].concat();
        v.resize(value_len.max(v.len()), b'.');
        r.push(v);
    }
    r
}

#[test]
fn hrandfield_is_uniform() {
    on_both(&[], |port| {
        let mut c = Client::connect(port);
        c.cmd("FLUSHALL");
        let fields = items((0..10).map(|i| format!("field:{i}")));
        pipeline(&mut c, &[hset("small", &fields, 0)]);
        check_hrandfield(port, &mut c, "listpack", "small", &fields);
        // Values past 64 bytes make a hash table in both servers.
        pipeline(&mut c, &[hset("big", &fields, 100)]);
        check_hrandfield(port, &mut c, "hashtable", "big", &fields);
    });
    // Ours only (see the top of the file): 1000 fields, then all but 224 deleted, which
    // leaves them in 2048 buckets (a hash shrinks once under 1/8 of its capacity).
    let ours = Server::start(&[]);
    let (port, mut c) = (ours.port, ours.client());
    let all = items((0..1000).map(|i| format!("field:{i}")));
    let mut hdel = vec![b"HDEL".to_vec(), b"sparse".to_vec()];
    hdel.extend(all[224..].iter().cloned());
    let replies = pipeline(&mut c, &[hset("sparse", &all, 100), hdel]);
    assert_eq!(replies[1], b":776\r\n");
    check_hrandfield(port, &mut c, "sparse hashtable", "sparse", &all[..224]);
}

/// ZRANDMEMBER without a count, with a negative count (also WITHSCORES, whose scores must
/// be the members'), and with positive counts: small ones (random picks, or on a listpack
/// one ordered pass) and large ones (a partial shuffle).
fn check_zrandmember(port: u16, c: &mut Client, what: &str, key: &str, members: &[Vec<u8>]) {
    let n = members.len() * 200;
    let picks: Vec<Vec<u8>> = pipeline(c, &vec![req(&format!("ZRANDMEMBER {key}"), &[]); n])
        .iter()
        .map(|r| bulk(r))
        .collect();
    assert_uniform(&format!("ZRANDMEMBER {what}"), port, members, &picks);
    let picks = bulk_strings(&c.cmd(&format!("ZRANDMEMBER {key} -{n}")));
    assert_eq!(picks.len(), n);
    assert_uniform(&format!("ZRANDMEMBER -{n} {what}"), port, members, &picks);
    let pairs = bulk_strings(&c.cmd(&format!("ZRANDMEMBER {key} -{n} WITHSCORES")));
    let picks: Vec<Vec<u8>> = pairs
        .chunks(2)
        .map(|p| {
            // Member i scores i.
            let i = members.iter().position(|m| *m == p[0]).expect("a member");
            assert_eq!(p[1], i.to_string().into_bytes());
            p[0].clone()
        })
        .collect();
    assert_uniform(
        &format!("ZRANDMEMBER -{n} WITHSCORES {what}"),
        port,
        members,
        &picks,
    );
    for count in [2, members.len() / 5, members.len() / 2] {
        let rounds = members.len() * 100 / count;
        let picks: Vec<Vec<u8>> = pipeline(
            c,
            &vec![req(&format!("ZRANDMEMBER {key} {count}"), &[]); rounds],
        )
        .iter()
        .flat_map(|r| bulk_strings(r))
        .collect();
        assert_eq!(picks.len(), rounds * count);
        assert_uniform(
            &format!("ZRANDMEMBER {count} {what}"),
            port,
            members,
            &picks,
        );
    }
}

/// ZADD `key` with `members`, member i scoring i.
fn zadd(key: &str, members: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut r = vec![b"ZADD".to_vec(), key.as_bytes().to_vec()];
    for (i, m) in members.iter().enumerate() {
        r.push(i.to_string().into_bytes());
        r.push(m.clone());
    }
    r
}

#[test]
fn zrandmember_is_uniform() {
    on_both(&[], |port| {
        let mut c = Client::connect(port);
        c.cmd("FLUSHALL");
        let members = items((0..20).map(|i| format!("member:{i}")));
        pipeline(&mut c, &[zadd("small", &members)]);
        check_zrandmember(port, &mut c, "listpack", "small", &members);
    });
    // Ours only: Redis's "fair" pick from a skiplist's dict scored from 50 to 100 on 20
    // members, and over 2000 on 300 (its sampling window favours members with few
    // neighbours; see the top of the file).
    let ours = Server::start(&[]);
    let (port, mut c) = (ours.port, ours.client());
    // Members past 64 bytes make a skiplist in Redis (our big form past 16 members).
    let long = items((0..20).map(|i| format!("member:{i}:{}", "x".repeat(64))));
    pipeline(&mut c, &[zadd("long", &long)]);
    check_zrandmember(port, &mut c, "skiplist", "long", &long);
    let many = items((0..300).map(|i| format!("m{i}")));
    pipeline(&mut c, &[zadd("big", &many)]);
    check_zrandmember(port, &mut c, "big skiplist", "big", &many);
}

/// MSET of `keys`, each to "v".
fn mset(keys: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut r = vec![b"MSET".to_vec()];
    for k in keys {
        r.push(k.clone());
        r.push(b"v".to_vec());
    }
    r
}

/// 5000 RANDOMKEYs, pipelined.
fn randomkeys(c: &mut Client) -> Vec<Vec<u8>> {
    pipeline(c, &vec![req("RANDOMKEY", &[]); 5000])
        .iter()
        .map(|r| bulk(r))
        .collect()
}

#[test]
fn randomkey_is_uniform_even_in_a_sparse_table() {
    on_both(&[], |port| {
        let mut c = Client::connect(port);
        c.cmd("FLUSHALL");
        let keys = items((0..10).map(|i| format!("key:{i}")));
        pipeline(&mut c, &[mset(&keys)]);
        let picks = randomkeys(&mut c);
        assert_uniform("RANDOMKEY", port, &keys, &picks);
    });
    // Ours only (see the top of the file): 5000 keys of which all but 10 are deleted. The
    // table keeps its 8192 buckets until the cron shrinks it, once a second: the picks
    // take a few milliseconds, so nearly always before that (and after it they must be
    // uniform all the same).
    let ours = Server::start(&[]);
    let (port, mut c) = (ours.port, ours.client());
    let all = items((0..5000).map(|i| format!("k{i}")));
    let mut del = vec![b"DEL".to_vec()];
    del.extend(all[10..].iter().cloned());
    let replies = pipeline(&mut c, &[mset(&all), del]);
    assert_eq!(replies[1], b":4990\r\n");
    let picks = randomkeys(&mut c);
    assert_uniform("RANDOMKEY, sparse table", port, &all[..10], &picks);
}

#[test]
fn chi_square_p_values() {
    // Reference values: for an odd df the tail has a closed form with erfc (df = 1:
    // erfc(sqrt(x/2)); df = 9: erfc(sqrt(x/2)) + sqrt(2x/pi) e^(-x/2) (1 + x/3 + x^2/15 +
    // x^3/105)); the df = 204 ones from Python's math.lgamma with the same expansions.
    let close = |got: f64, want: f64| (got - want).abs() <= want * 1e-6;
    assert!(close(chi_square_p(40.0, 9), 7.598_525e-6));
    assert!(close(chi_square_p(50.0, 9), 1.077_238e-7));
    assert!(close(chi_square_p(9.0, 9), 0.437_274_4));
    assert!(close(chi_square_p(350.0, 204), 8.655_644e-10));
    assert!(close(chi_square_p(204.0, 204), 0.486_832_2));
    assert!(close(chi_square_p(2.0, 1), 0.157_299_2));
}
