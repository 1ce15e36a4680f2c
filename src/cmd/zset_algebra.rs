//! Sorted-set algebra (Redis's `zunionInterDiffGenericCommand` in t_zset.c): ZUNION ZINTER
//! ZDIFF, their STORE forms, and ZINTERCARD. Inputs are sorted sets or plain sets (whose
//! members score 1); a missing key is an empty input.
//!
//! Redis's order of checks is kept, so that a bad request gets the same error: `numkeys`,
//! then every key's type, then the options (WEIGHTS, AGGREGATE, WITHSCORES, LIMIT). So is
//! its arithmetic, which decides scores to the last bit: inputs are visited from the
//! smallest to the largest (a stable sort, as glibc's qsort), a weighted score that is NaN
//! (`0 * inf`) counts as 0 in ZUNION and in ZINTER's first input, and a SUM that reaches
//! NaN (`inf + -inf`) becomes 0. ZDIFF ignores weights and keeps the first input's scores.
//!
//! The result is computed as a vector of borrowed members, sorted once, then either sent
//! or built into a sorted set in one pass ([`ZSet::from_sorted`]), encoded as Redis would
//! encode it (a listpack within `zset-max-listpack-*`).

use hashbrown::HashTable;

use super::flags::{DENYOOM, READONLY, WRITE};
use super::zsets::{parse_score, reply_members, store_zset};
use super::{Command, Ctx, err};
use crate::resp::{Args, format_i64, parse_i64};
use crate::store::set::Member;
use crate::store::table::hash_bytes;
use crate::store::{Set, Value, ZSet};

/// The family's command table.
#[rustfmt::skip]
pub const COMMANDS: &[Command] = &[
    Command { name: "zunion", arity: -3, flags: READONLY, keys: (0, 0, 0), group: "sorted-set", handler: zunion },
    Command { name: "zinter", arity: -3, flags: READONLY, keys: (0, 0, 0), group: "sorted-set", handler: zinter },
    Command { name: "zdiff", arity: -3, flags: READONLY, keys: (0, 0, 0), group: "sorted-set", handler: zdiff },
    Command { name: "zintercard", arity: -3, flags: READONLY, keys: (0, 0, 0), group: "sorted-set", handler: zintercard },
    Command { name: "zunionstore", arity: -4, flags: WRITE | DENYOOM, keys: (1, 1, 1), group: "sorted-set", handler: zunionstore },
    Command { name: "zinterstore", arity: -4, flags: WRITE | DENYOOM, keys: (1, 1, 1), group: "sorted-set", handler: zinterstore },
    Command { name: "zdiffstore", arity: -4, flags: WRITE | DENYOOM, keys: (1, 1, 1), group: "sorted-set", handler: zdiffstore },
];

/// The three operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Union,
    Inter,
    Diff,
}

/// What the command does with the result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Output<'a> {
    /// Replies with it (ZUNION, ZINTER, ZDIFF).
    Reply,
    /// Stores it at this key (the STORE forms).
    Store(&'a [u8]),
    /// Replies with its size (ZINTERCARD).
    Count,
}

/// How the scores of a member found in several inputs combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Aggregate {
    Sum,
    Min,
    Max,
}

impl Aggregate {
    /// Redis's `zunionInterAggregate`: `value` folded into `target`. A SUM of `inf` and
    /// `-inf` is 0; MIN and MAX keep `target` when `value` is NaN.
    #[inline]
    fn fold(self, target: &mut f64, value: f64) {
        match self {
            Aggregate::Sum => {
                *target += value;
                if target.is_nan() {
                    *target = 0.0;
                }
            }
            Aggregate::Min => {
                if value < *target {
                    *target = value;
                }
            }
            Aggregate::Max => {
                if value > *target {
                    *target = value;
                }
            }
        }
    }
}

/// One input: what the key holds, with its weight.
#[derive(Clone, Copy)]
struct Input<'a> {
    src: Src<'a>,
    weight: f64,
}

#[derive(Clone, Copy)]
enum Src<'a> {
    Missing,
    Zset(&'a ZSet),
    Set(&'a Set),
}

impl Src<'_> {
    fn len(&self) -> usize {
        match self {
            Src::Missing => 0,
            Src::Zset(z) => z.len(),
            Src::Set(s) => s.len(),
        }
    }

    /// The score of `member` here: its score in a sorted set, 1 in a set.
    #[inline]
    fn score(&self, member: &[u8]) -> Option<f64> {
        match self {
            Src::Missing => None,
            Src::Zset(z) => z.score(member),
            Src::Set(s) => s.contains(member).then_some(1.0),
        }
    }
}

/// Calls `f` with each member of an input and its score, as byte strings borrowed from
/// the input or, for a set's integers (which it does not hold as text), from `ints`.
fn for_each_member<'a>(src: Src<'a>, ints: &'a mut Vec<u8>, mut f: impl FnMut(&'a [u8], f64)) {
    match src {
        Src::Missing => {}
        Src::Zset(z) => z.iter().for_each(|(m, s)| f(m, s)),
        Src::Set(s) => {
            // Integers are formatted into `ints` first; the slices are taken once it has
            // stopped growing.
            enum At<'a> {
                Bytes(&'a [u8]),
                Int(usize, usize),
            }
            let at: Vec<At> = s
                .iter()
                .map(|m| match m {
                    Member::Bytes(b) => At::Bytes(b),
                    Member::Int(v) => {
                        let start = ints.len();
                        ints.extend_from_slice(format_i64(v, &mut [0; 20]));
                        At::Int(start, ints.len())
                    }
                })
                .collect();
            let ints: &'a [u8] = ints;
            for a in at {
                match a {
                    At::Bytes(b) => f(b, 1.0),
                    At::Int(start, end) => f(&ints[start..end], 1.0),
                }
            }
        }
    }
}

/// The union of `inputs` (sorted by size), each member with its aggregated score.
fn union<'a>(
    inputs: &[Input<'a>],
    ints: &'a mut [Vec<u8>],
    agg: Aggregate,
) -> Vec<(&'a [u8], f64)> {
    // At least the largest input's members; the index is sized for all of them (a few bytes
    // each) so that it never rehashes.
    let largest = inputs.last().map_or(0, |i| i.src.len());
    let total = inputs.iter().map(|i| i.src.len()).sum();
    let mut items: Vec<(&[u8], f64)> = Vec::with_capacity(largest);
    let mut index: HashTable<u32> = HashTable::with_capacity(total);
    for (input, ints) in inputs.iter().zip(ints) {
        for_each_member(input.src, ints, |m, s| {
            let mut score = input.weight * s;
            if score.is_nan() {
                score = 0.0;
            }
            let hash = hash_bytes(m);
            match index.find(hash, |&i| items[i as usize].0 == m) {
                Some(&i) => agg.fold(&mut items[i as usize].1, score),
                None => {
                    index.insert_unique(hash, items.len() as u32, |&i| {
                        hash_bytes(items[i as usize].0)
                    });
                    items.push((m, score));
                }
            }
        });
    }
    items
}

/// The members of the smallest of `inputs` (sorted by size) found in all the others, with
/// their aggregated scores; at most `limit` of them.
fn inter<'a>(
    inputs: &[Input<'a>],
    ints: &'a mut Vec<u8>,
    agg: Aggregate,
    limit: usize,
) -> Vec<(&'a [u8], f64)> {
    let Some((first, rest)) = inputs.split_first() else {
        return Vec::new();
    };
    let mut items = Vec::new();
    if first.src.len() == 0 {
        return items;
    }
    let mut full = false;
    for_each_member(first.src, ints, |m, s| {
        if full {
            return;
        }
        let mut score = first.weight * s;
        if score.is_nan() {
            score = 0.0;
        }
        for other in rest {
            match other.src.score(m) {
                // Unlike the first input's, these weighted scores may be NaN.
                Some(v) => agg.fold(&mut score, v * other.weight),
                None => return,
            }
        }
        items.push((m, score));
        full = items.len() >= limit;
    });
    items
}

/// The members of the first input found in none of the others, with their scores there.
fn diff<'a>(inputs: &[Input<'a>], ints: &'a mut Vec<u8>) -> Vec<(&'a [u8], f64)> {
    let Some((first, rest)) = inputs.split_first() else {
        return Vec::new();
    };
    let mut items = Vec::new();
    for_each_member(first.src, ints, |m, s| {
        if rest.iter().all(|other| other.src.score(m).is_none()) {
            items.push((m, s));
        }
    });
    items
}

/// The arguments after the keys: `(weights, aggregate, withscores, limit)`, or None after
/// replying with Redis's error. Redis reads them in any order, as many times as given.
fn parse_options(
    ctx: &mut Ctx,
    args: Args,
    mut j: usize,
    numkeys: usize,
    op: Op,
    output: Output,
) -> Option<(Vec<f64>, Aggregate, bool, usize)> {
    let mut weights = vec![1.0; numkeys];
    let (mut agg, mut withscores, mut limit) = (Aggregate::Sum, false, 0usize);
    let count = output == Output::Count;
    while j < args.len() {
        let remaining = args.len() - j;
        let opt = args.get(j);
        let is = |name: &[u8]| opt.eq_ignore_ascii_case(name);
        if op != Op::Diff && !count && remaining > numkeys && is(b"weights") {
            for (i, w) in weights.iter_mut().enumerate() {
                match parse_score(args.get(j + 1 + i)) {
                    Some(v) => *w = v,
                    None => {
                        ctx.error("ERR weight value is not a float");
                        return None;
                    }
                }
            }
            j += numkeys + 1;
        } else if op != Op::Diff && !count && remaining >= 2 && is(b"aggregate") {
            let name = args.get(j + 1);
            agg = if name.eq_ignore_ascii_case(b"sum") {
                Aggregate::Sum
            } else if name.eq_ignore_ascii_case(b"min") {
                Aggregate::Min
            } else if name.eq_ignore_ascii_case(b"max") {
                Aggregate::Max
            } else {
                ctx.error(err::SYNTAX);
                return None;
            };
            j += 2;
        } else if output == Output::Reply && is(b"withscores") {
            withscores = true;
            j += 1;
        } else if count && remaining >= 2 && is(b"limit") {
            // Redis's getPositiveLongFromObjectOrReply with this message for both a
            // negative number and no number at all.
            match parse_i64(args.get(j + 1)) {
                Some(l) if l >= 0 => limit = usize::try_from(l).unwrap_or(usize::MAX),
                _ => {
                    ctx.error("ERR LIMIT can't be negative");
                    return None;
                }
            }
            j += 2;
        } else {
            ctx.error(err::SYNTAX);
            return None;
        }
    }
    Some((weights, agg, withscores, limit))
}

/// The command: `name` as Redis names it in errors, `output` where the result goes.
fn generic(ctx: &mut Ctx, args: Args, name: &str, op: Op, output: Output) {
    let numkeys_at = if matches!(output, Output::Store(_)) {
        2
    } else {
        1
    };
    let Some(numkeys) = ctx.int_arg(args.get(numkeys_at)) else {
        return;
    };
    if numkeys < 1 {
        ctx.error(&format!(
            "ERR at least 1 input key is needed for '{name}' command"
        ));
        return;
    }
    let first_key = numkeys_at + 1;
    if numkeys > (args.len() - first_key) as i64 {
        ctx.error(err::SYNTAX);
        return;
    }
    let numkeys = numkeys as usize;
    let keys = args.tail(first_key).head(numkeys);
    // Every key is looked up (expiring it, counting a hit or a miss) and type-checked
    // before the options are read.
    for k in keys.iter() {
        if let (Some(e), out) = ctx.read(k)
            && !matches!(e.value, Value::ZSet(_) | Value::Set(_))
        {
            out.error(err::WRONGTYPE);
            return;
        }
    }
    let Some((weights, agg, withscores, limit)) =
        parse_options(ctx, args, first_key + numkeys, numkeys, op, output)
    else {
        return;
    };
    let limits = ctx.limits();
    let db = ctx.store.db_ref(ctx.client.db);
    let mut inputs: Vec<Input> = keys
        .iter()
        .zip(weights)
        .map(|(k, weight)| Input {
            src: match db.peek(k, ctx.now).map(|e| &e.value) {
                Some(Value::ZSet(z)) => Src::Zset(z),
                Some(Value::Set(s)) => Src::Set(s),
                _ => Src::Missing,
            },
            weight,
        })
        .collect();
    if op != Op::Diff {
        // Smallest first; equal sizes keep their order (glibc's qsort is a merge sort).
        inputs.sort_by_key(|i| i.src.len());
    }
    // Text of the integers of sets: one buffer per input walked (a union walks them all,
    // the others only the first).
    let mut ints = vec![Vec::new(); if op == Op::Union { numkeys } else { 1 }];
    let mut items = match op {
        Op::Union => union(&inputs, &mut ints, agg),
        Op::Inter if output == Output::Count => {
            let limit = if limit == 0 { usize::MAX } else { limit };
            let n = inter(&inputs, &mut ints[0], agg, limit).len();
            ctx.out.int(n as i64);
            return;
        }
        Op::Inter => inter(&inputs, &mut ints[0], agg, usize::MAX),
        Op::Diff => diff(&inputs, &mut ints[0]),
    };
    // The sorted-set order (-0 and 0 are equal scores). No score is NaN, and members are
    // distinct.
    items.sort_unstable_by(|a, b| {
        a.1.partial_cmp(&b.1)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then_with(|| a.0.cmp(b.0))
    });
    match output {
        Output::Store(dst) => {
            let z = ZSet::from_sorted(&items, &limits);
            let event = match op {
                Op::Union => "zunionstore",
                Op::Inter => "zinterstore",
                Op::Diff => "zdiffstore",
            };
            store_zset(ctx, dst, z, event);
        }
        Output::Reply | Output::Count => reply_members(ctx.out, items.into_iter(), withscores),
    }
}

fn zunion(ctx: &mut Ctx, args: Args) {
    generic(ctx, args, "zunion", Op::Union, Output::Reply);
}

fn zinter(ctx: &mut Ctx, args: Args) {
    generic(ctx, args, "zinter", Op::Inter, Output::Reply);
}

fn zdiff(ctx: &mut Ctx, args: Args) {
    generic(ctx, args, "zdiff", Op::Diff, Output::Reply);
}

fn zintercard(ctx: &mut Ctx, args: Args) {
    generic(ctx, args, "zintercard", Op::Inter, Output::Count);
}

fn zunionstore(ctx: &mut Ctx, args: Args) {
    generic(
        ctx,
        args,
        "zunionstore",
        Op::Union,
        Output::Store(args.get(1)),
    );
}

fn zinterstore(ctx: &mut Ctx, args: Args) {
    generic(
        ctx,
        args,
        "zinterstore",
        Op::Inter,
        Output::Store(args.get(1)),
    );
}

fn zdiffstore(ctx: &mut Ctx, args: Args) {
    generic(
        ctx,
        args,
        "zdiffstore",
        Op::Diff,
        Output::Store(args.get(1)),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aggregates_follow_redis() {
        let fold = |agg: Aggregate, a: f64, b: f64| {
            let mut t = a;
            agg.fold(&mut t, b);
            t
        };
        assert_eq!(fold(Aggregate::Sum, 1.5, 2.0), 3.5);
        assert_eq!(fold(Aggregate::Sum, f64::INFINITY, f64::NEG_INFINITY), 0.0);
        assert_eq!(fold(Aggregate::Sum, 5.0, f64::NAN), 0.0);
        assert_eq!(fold(Aggregate::Min, 5.0, f64::NAN), 5.0);
        assert_eq!(fold(Aggregate::Max, 5.0, f64::NAN), 5.0);
        assert_eq!(fold(Aggregate::Min, 5.0, -1.0), -1.0);
        assert_eq!(fold(Aggregate::Max, 5.0, -1.0), 5.0);
        // The first of two equal values stays (0 and -0).
        assert!(fold(Aggregate::Min, -0.0, 0.0).is_sign_negative());
        assert!(fold(Aggregate::Max, 0.0, -0.0).is_sign_positive());
    }
}
