//! Unit tests of the sorted-set type: ZADD's options and the listpack encoding Redis
//! shows, random operations checked against a simple model, the tree's structure (splits,
//! merges, borrows and deep trees happen early with the tiny node sizes of test builds),
//! the switch from the packed form to the big one, ranges, ZSCAN and packed scores.

use super::*;
use std::collections::{BTreeSet, HashMap};

/// The model: a sorted vector of (score, member) and a map member -> score.
#[derive(Default)]
struct Model {
    scores: HashMap<Vec<u8>, f64>,
}

impl Model {
    fn sorted(&self) -> Vec<(f64, Vec<u8>)> {
        let mut v: Vec<(f64, Vec<u8>)> = self.scores.iter().map(|(m, &s)| (s, m.clone())).collect();
        v.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
        v
    }
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        crate::store::next_random(&mut self.0)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn all(z: &ZSet) -> Vec<(f64, Vec<u8>)> {
    z.iter().map(|(m, s)| (s, m.to_vec())).collect()
}

#[test]
fn empty_set() {
    let z = ZSet::new();
    assert!(z.is_empty());
    assert_eq!(z.score(b"a"), None);
    assert_eq!(z.rank(b"a"), None);
    assert_eq!(z.iter().count(), 0);
    assert_eq!(z.range(0, 10, true).count(), 0);
    let r = ScoreRange {
        min: f64::NEG_INFINITY,
        min_ex: false,
        max: f64::INFINITY,
        max_ex: false,
    };
    assert_eq!(z.score_range(&r), (0, 0));
    z.check();
}

#[test]
fn add_options_follow_redis() {
    let mut z = ZSet::new();
    let f = AddFlags::default();
    assert_eq!(z.add(b"a", 1.0, f), AddOutcome::Added(1.0));
    assert_eq!(z.add(b"a", 1.0, f), AddOutcome::Unchanged(1.0));
    assert_eq!(
        z.add(b"a", 2.0, AddFlags { nx: true, ..f }),
        AddOutcome::Skipped
    );
    assert_eq!(
        z.add(b"b", 2.0, AddFlags { xx: true, ..f }),
        AddOutcome::Skipped
    );
    assert_eq!(
        z.add(b"a", 0.5, AddFlags { gt: true, ..f }),
        AddOutcome::Skipped
    );
    assert_eq!(
        z.add(b"a", 3.0, AddFlags { gt: true, ..f }),
        AddOutcome::Updated(3.0)
    );
    assert_eq!(
        z.add(b"a", 4.0, AddFlags { lt: true, ..f }),
        AddOutcome::Skipped
    );
    assert_eq!(
        z.add(b"a", 2.0, AddFlags { incr: true, ..f }),
        AddOutcome::Updated(5.0)
    );
    assert_eq!(
        z.add(b"a", f64::INFINITY, AddFlags { incr: true, ..f }),
        AddOutcome::Updated(f64::INFINITY)
    );
    assert_eq!(
        z.add(b"a", f64::NEG_INFINITY, AddFlags { incr: true, ..f }),
        AddOutcome::NotANumber
    );
    assert_eq!(z.score(b"a"), Some(f64::INFINITY));
    assert_eq!(z.add(b"n", f64::NAN, f), AddOutcome::NotANumber);
    assert_eq!(z.len(), 1);
    z.check();
}

#[test]
fn compact_encoding_tracks_redis_limits() {
    let mut z = ZSet::new();
    assert!(z.insert(b"m", -0.0));
    assert!(
        z.score(b"m")
            .is_some_and(|s| s == 0.0 && s.is_sign_positive()),
        "listpack stores -0 as 0"
    );
    for i in 0..COMPACT_MAX_ENTRIES - 1 {
        z.insert(format!("k{i}").as_bytes(), 1.0);
    }
    assert!(z.is_compact());
    z.insert(b"one-too-many", 1.0);
    assert!(!z.is_compact());
    z.insert(b"neg", -0.0);
    assert!(
        z.score(b"neg").is_some_and(|s| s.is_sign_negative()),
        "a skiplist keeps -0"
    );
    let mut long = ZSet::new();
    long.insert(&[b'x'; COMPACT_MAX_VALUE], 1.0);
    assert!(long.is_compact());
    long.insert(&[b'y'; COMPACT_MAX_VALUE + 1], 1.0);
    assert!(!long.is_compact());
    // One way: removing members does not convert back.
    long.remove(&[b'y'; COMPACT_MAX_VALUE + 1]);
    assert!(!long.is_compact());
}

/// Random operations checked against the model after every step (full invariant check
/// every few steps): inserts, score updates (in place and moving), removals, pops,
/// rank-range removals, ranks, selects and range queries.
#[test]
fn random_operations_match_a_model() {
    // 12 members stay in the small form, 20 cross into the big one mid-run, 400 spend
    // nearly all the run big.
    for (seed, members) in [(1u64, 400), (7, 400), (12345, 400), (3, 12), (5, 20)] {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let mut z = ZSet::new();
        let mut m = Model::default();
        for step in 0..6000 {
            let member = format!("m{}", rng.below(members)).into_bytes();
            // Few distinct scores, so that ties (ordered by member) are common.
            let score = match rng.below(10) {
                0 => f64::INFINITY,
                1 => f64::NEG_INFINITY,
                _ => rng.below(50) as f64 - 25.0,
            };
            match rng.below(12) {
                0..=4 => {
                    let new = z.insert(&member, score);
                    assert_eq!(new, m.scores.insert(member.clone(), score).is_none());
                }
                5 => {
                    let out = z.add(
                        &member,
                        1.0,
                        AddFlags {
                            incr: true,
                            ..AddFlags::default()
                        },
                    );
                    let s = m.scores.entry(member.clone()).or_insert(0.0);
                    let expect = if out == AddOutcome::Added(1.0) {
                        1.0
                    } else {
                        *s + 1.0
                    };
                    if !expect.is_nan() {
                        *s = expect;
                    }
                }
                6 | 7 => assert_eq!(z.remove(&member), m.scores.remove(&member).is_some()),
                8 => {
                    let max = rng.below(2) == 0;
                    let sorted = m.sorted();
                    let want = if max { sorted.last() } else { sorted.first() };
                    let got = z.pop(max);
                    assert_eq!(got.as_ref().map(|(mm, s)| (*s, mm.to_vec())), want.cloned());
                    if let Some((_, mm)) = want {
                        m.scores.remove(mm);
                    }
                }
                9 if rng.below(8) == 0 => {
                    let n = m.scores.len();
                    let start = rng.below(n as u64 + 1) as usize;
                    let end = start + rng.below(5) as usize;
                    let sorted = m.sorted();
                    let removed = z.remove_range(start, end);
                    assert_eq!(removed, end.min(n).saturating_sub(start));
                    for (_, mm) in sorted.iter().skip(start).take(removed) {
                        m.scores.remove(mm);
                    }
                }
                _ => {
                    // Queries.
                    let sorted = m.sorted();
                    let want_rank = sorted.iter().position(|(_, mm)| *mm == member);
                    assert_eq!(z.rank(&member), want_rank);
                    assert_eq!(z.score(&member), m.scores.get(&member).copied());
                    let (lo, hi) = (rng.below(50) as f64 - 25.0, rng.below(50) as f64 - 25.0);
                    let (min_ex, max_ex) = (rng.below(2) == 0, rng.below(2) == 0);
                    let r = ScoreRange {
                        min: lo,
                        min_ex,
                        max: hi,
                        max_ex,
                    };
                    let inside = |s: f64| {
                        (if min_ex { s > lo } else { s >= lo })
                            && (if max_ex { s < hi } else { s <= hi })
                    };
                    let want: Vec<_> = sorted.iter().filter(|(s, _)| inside(*s)).cloned().collect();
                    let (a, b) = z.score_range(&r);
                    let got: Vec<_> = z
                        .range(a, b, false)
                        .map(|(mm, s)| (s, mm.to_vec()))
                        .collect();
                    assert_eq!(got, want, "score range {r:?}");
                    let mut rev: Vec<_> = z
                        .range(a, b, true)
                        .map(|(mm, s)| (s, mm.to_vec()))
                        .collect();
                    rev.reverse();
                    assert_eq!(rev, want);
                    if !sorted.is_empty() {
                        let i = rng.below(sorted.len() as u64) as usize;
                        let n = rng.below(10) as usize;
                        let got: Vec<_> = z
                            .range(i, i + n, false)
                            .map(|(mm, s)| (s, mm.to_vec()))
                            .collect();
                        assert_eq!(got, sorted[i..(i + n).min(sorted.len())].to_vec());
                    }
                }
            }
            assert_eq!(z.len(), m.scores.len());
            if step % 97 == 0 {
                z.check();
                assert_eq!(all(&z), m.sorted());
            }
        }
        z.check();
        assert_eq!(all(&z), m.sorted());
        // Drain by popping, checking the structure shrinks back to a single leaf.
        while z.pop(false).is_some() {}
        z.check();
        if let Repr::Big(b) = &z.repr {
            assert_eq!(b.tree.height, 0);
        }
    }
}

#[test]
fn large_sets_build_deep_trees_and_ranks_stay_exact() {
    let mut z = ZSet::new();
    let n = 20_000;
    for i in 0..n {
        // Insert in a scrambled order.
        let k = (i * 7919) % n;
        z.insert(format!("{k:06}").as_bytes(), (k / 3) as f64);
    }
    z.check();
    assert!(z.big().tree.height >= 3);
    for k in (0..n).step_by(97) {
        assert_eq!(z.rank(format!("{k:06}").as_bytes()), Some(k));
    }
    // Remove four fifths: the arena is compacted and the dict shrinks.
    for k in 0..n {
        if k % 5 != 0 {
            assert!(z.remove(format!("{k:06}").as_bytes()));
        }
    }
    z.check();
    assert!(z.big().slots.len() < n / 2, "arena compacted");
    for k in (0..n).step_by(5 * 13) {
        assert_eq!(z.rank(format!("{k:06}").as_bytes()), Some(k / 5));
    }
    let r = ScoreRange {
        min: 100.0,
        min_ex: true,
        max: 200.0,
        max_ex: false,
    };
    let (a, b) = z.score_range(&r);
    let got: BTreeSet<usize> = z
        .range(a, b, false)
        .map(|(m, _)| std::str::from_utf8(m).unwrap().parse().unwrap())
        .collect();
    let want: BTreeSet<usize> = (0..n)
        .filter(|k| k % 5 == 0 && k / 3 > 100 && k / 3 <= 200)
        .collect();
    assert_eq!(got, want);
}

/// Trees built in different insertion orders, emptied in different removal orders:
/// exercises every borrow and merge direction at both levels.
#[test]
fn every_build_and_teardown_order_keeps_the_invariants() {
    let n = 3000u64;
    let orders: [fn(u64, u64) -> u64; 3] = [|i, _| i, |i, n| n - 1 - i, |i, n| (i * 7919) % n];
    for build in orders {
        for teardown in 0..5 {
            let mut z = ZSet::new();
            for i in 0..n {
                z.insert(format!("{:05}", build(i, n)).as_bytes(), 0.0);
            }
            z.check();
            let mut rng = Rng(teardown + 99);
            let mut left: Vec<u64> = (0..n).collect();
            let mut step = 0;
            while !left.is_empty() {
                let k = match teardown {
                    0 => left.pop(),
                    1 => Some(left.remove(0)),
                    2 => Some(left.swap_remove(rng.below(left.len() as u64) as usize)),
                    // From the middle outwards.
                    3 => Some(left.remove(left.len() / 2)),
                    // Mostly from the right, sometimes the left.
                    _ => {
                        if rng.below(4) == 0 {
                            Some(left.remove(0))
                        } else {
                            left.pop()
                        }
                    }
                };
                let Some(k) = k else { break };
                assert!(z.remove(format!("{k:05}").as_bytes()));
                step += 1;
                if step % 61 == 0 {
                    z.check();
                }
            }
            z.check();
            assert!(z.is_empty());
        }
    }
}

/// Removing a big rank range triggers the arena compaction; the range's ids must stay
/// valid until all of them are removed.
#[test]
fn big_range_removals_compact_safely() {
    for (start, end) in [(0usize, 900usize), (50, 990), (100, 999), (1, 1000)] {
        let mut z = ZSet::new();
        for i in 0..1000 {
            z.insert(format!("m{i:04}").as_bytes(), (i % 7) as f64);
        }
        let before = all(&z);
        assert_eq!(z.remove_range(start, end), end - start);
        z.check();
        let mut want = before[..start].to_vec();
        want.extend_from_slice(&before[end..]);
        assert_eq!(all(&z), want);
        assert!(z.big().slots.len() < 1000, "the arena was compacted");
    }
}

#[test]
fn small_sets_become_big_past_the_limit_and_keep_their_order() {
    let mut z = ZSet::new();
    for i in (0..COMPACT_MAX_ENTRIES).rev() {
        assert!(z.insert(format!("m{i:03}").as_bytes(), (i % 3) as f64));
    }
    assert!(matches!(z.repr, Repr::Small(_)));
    let before = all(&z);
    assert_eq!(z.rank(b"m000"), Some(0));
    let back: Vec<(f64, Vec<u8>)> = z
        .range(3, 100, true)
        .map(|(m, s)| (s, m.to_vec()))
        .collect();
    let mut want_back = before[3..100].to_vec();
    want_back.reverse();
    assert_eq!(back, want_back);
    assert!(z.insert(b"zz", 1.0));
    assert!(matches!(z.repr, Repr::Big(_)));
    z.check();
    let mut want = before.clone();
    want.push((1.0, b"zz".to_vec()));
    want.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
    assert_eq!(all(&z), want);
    // One way: emptying it does not make it small again.
    while z.pop(true).is_some() {}
    assert!(matches!(z.repr, Repr::Big(_)));
    assert!(z.is_empty());
    z.check();
}

#[test]
fn lex_ranges() {
    let mut z = ZSet::new();
    for m in ["a", "b", "c", "d", "e"] {
        z.insert(m.as_bytes(), 0.0);
    }
    let names = |(a, b): (usize, usize)| -> Vec<String> {
        z.range(a, b, false)
            .map(|(m, _)| String::from_utf8_lossy(m).into_owned())
            .collect()
    };
    assert_eq!(
        names(z.lex_range(LexBound::Min, LexBound::Max)),
        ["a", "b", "c", "d", "e"]
    );
    assert_eq!(
        names(z.lex_range(LexBound::Incl(b"b"), LexBound::Excl(b"d"))),
        ["b", "c"]
    );
    assert_eq!(
        names(z.lex_range(LexBound::Excl(b"b"), LexBound::Incl(b"d"))),
        ["c", "d"]
    );
    assert_eq!(
        names(z.lex_range(LexBound::Excl(b"b"), LexBound::Excl(b"b"))),
        Vec::<String>::new()
    );
    assert_eq!(
        names(z.lex_range(LexBound::Max, LexBound::Min)),
        Vec::<String>::new()
    );
    assert_eq!(
        names(z.lex_range(LexBound::Incl(b"bb"), LexBound::Max)),
        ["c", "d", "e"]
    );
}

#[test]
fn scores_update_in_place_or_move() {
    let mut z = ZSet::new();
    for i in 0..100 {
        z.insert(format!("m{i:03}").as_bytes(), i as f64);
    }
    // Small changes keep the position; big ones move the member.
    z.insert(b"m050", 50.5);
    z.insert(b"m010", 1000.0);
    z.insert(b"m090", -1.0);
    z.check();
    assert_eq!(z.rank(b"m050"), Some(50));
    assert_eq!(z.rank(b"m010"), Some(99));
    assert_eq!(z.rank(b"m090"), Some(0));
}

#[test]
fn scan_sees_every_member() {
    let mut z = ZSet::new();
    for i in 0..500 {
        z.insert(format!("m{i}").as_bytes(), i as f64);
    }
    let mut seen = BTreeSet::new();
    let mut cursor = 0;
    loop {
        cursor = z.scan(cursor, 10, |m, s| {
            assert_eq!(z.score(m), Some(s));
            seen.insert(m.to_vec());
        });
        if cursor == 0 {
            break;
        }
    }
    assert_eq!(seen.len(), 500);
}

#[test]
fn packed_scores_keep_their_exact_value() {
    let scores = [
        0.0,
        -0.0,
        1.0,
        -1.0,
        1.5,
        0.1,
        32767.0,
        32768.0,
        -32768.0,
        -32769.0,
        100.25,
        1e300,
        -1e-300,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::MIN_POSITIVE,
        16_777_217.0,
    ];
    let mut p = Packed::default();
    for (i, &sc) in scores.iter().enumerate() {
        p.insert(sc, format!("m{i}").as_bytes());
    }
    assert_eq!(p.len as usize, scores.len());
    for (i, &sc) in scores.iter().enumerate() {
        let (_, e) = p.find(format!("m{i}").as_bytes()).expect("present");
        assert_eq!(e.score.to_bits(), sc.to_bits(), "{sc}");
    }
    // Sorted by score, then member.
    let order: Vec<f64> = p.entries().map(|e| e.score).collect();
    assert!(order.windows(2).all(|w| w[0] <= w[1]));
    // Long members need multi-byte lengths.
    let long = vec![b'z'; 300];
    p.insert(2.5, &long);
    assert_eq!(p.find(&long).map(|(_, e)| e.score), Some(2.5));
}

#[test]
fn sets_built_from_sorted_members_match_sets_built_one_by_one() {
    let limits = Limits::default();
    let mut rng = Rng(99);
    // Sizes around every boundary: the packed form, the listpack limit, one leaf, one
    // inner node of leaves, several levels (test builds have 8-key nodes).
    for n in [
        0, 1, 2, 7, 8, 9, 16, 17, 63, 64, 65, 127, 128, 129, 300, 511, 512, 513, 4097,
    ] {
        let mut model = Model::default();
        while model.scores.len() < n {
            let m = format!("m{}", rng.below(10 * n as u64 + 10)).into_bytes();
            model.scores.insert(m, (rng.below(50) as f64) - 25.0);
        }
        let sorted = model.sorted();
        let items: Vec<(&[u8], f64)> = sorted.iter().map(|(s, m)| (&m[..], *s)).collect();
        let z = ZSet::from_sorted(&items, &limits);
        z.check();
        let mut one_by_one = ZSet::new();
        for &(m, s) in &items {
            one_by_one.insert(m, s);
        }
        assert_eq!(all(&z), all(&one_by_one), "{n} members");
        assert_eq!(z.encoding(), one_by_one.encoding(), "{n} members");
        assert_eq!(z.len(), n);
        for (rank, (s, m)) in sorted.iter().enumerate() {
            assert_eq!(z.score(m), Some(*s));
            assert_eq!(z.rank(m), Some(rank));
        }
        // It goes on like any other set.
        let mut z = z;
        for i in 0..n / 2 {
            let m = &sorted[(i * 7) % n].1;
            z.remove(m);
            z.insert(format!("new{i}").as_bytes(), i as f64);
        }
        z.check();
    }
}

#[test]
fn sets_built_from_sorted_members_follow_the_listpack_limits() {
    let mut limits = Limits::default();
    let long = [b'x'; 65];
    let z = ZSet::from_sorted(&[(&b"a"[..], -0.0), (&long[..], 1.0)], &limits);
    assert_eq!(z.encoding(), "skiplist");
    // Past the listpack limits -0 stays -0; within them it is stored as 0, as in Redis.
    assert!(z.score(b"a").unwrap().is_sign_negative());
    let z = ZSet::from_sorted(&[(&b"a"[..], -0.0), (&b"b"[..], 1.0)], &limits);
    assert_eq!(z.encoding(), "listpack");
    assert!(z.score(b"a").unwrap().is_sign_positive());
    limits.zset_entries = 1;
    let z = ZSet::from_sorted(&[(&b"a"[..], 0.0), (&b"b"[..], 1.0)], &limits);
    assert_eq!(z.encoding(), "skiplist");
    limits.zset_entries = 0;
    let z = ZSet::from_sorted(&[(&b"a"[..], 0.0)], &limits);
    assert_eq!(z.encoding(), "skiplist");
    z.check();
}

#[test]
fn packed_sets_built_from_sorted_members_store_negative_zero_as_zero() {
    // -0 takes 8 bytes as a double, 0 two as an integer: the buffer is sized for what is
    // stored.
    let items: Vec<(&[u8], f64)> = vec![(b"a", -0.0), (b"b", -0.0), (b"c", 1.5), (b"d", -0.0)];
    let mut sorted = items.clone();
    sorted.sort_by(|a, b| a.1.partial_cmp(&b.1).unwrap().then(a.0.cmp(b.0)));
    let z = ZSet::from_sorted(&sorted, &Limits::default());
    z.check();
    assert_eq!(all(&z).len(), 4);
    assert!(z.iter().all(|(_, s)| s.is_sign_positive()));
}
