//! Bitmaps (SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP, BITFIELD, BITFIELD_RO) against
//! redis-server 7.0: the same commands go to both servers, in RESP2 and RESP3, and the raw
//! replies must be equal, error paths and keyspace events included; a randomized run
//! compares many mixed operations.

mod common;

use common::{Client, Rng, same_on_both, text};

fn transcript(c: &mut Client, cmds: &[&[&str]]) -> Vec<String> {
    cmds.iter()
        .map(|args| format!("{args:?} => {}", text(c.cmd_args(args))))
        .collect()
}

const FIXED: &[&[&str]] = &[
    &["SETBIT", "b", "7", "1"],
    &["SETBIT", "b", "7", "1"],
    &["SETBIT", "b", "100", "1"],
    &["GET", "b"],
    &["GETBIT", "b", "7"],
    &["GETBIT", "b", "6"],
    &["GETBIT", "b", "100000"],
    &["GETBIT", "nokey", "3"],
    &["SETBIT", "b", "-1", "1"],
    &["SETBIT", "b", "x", "1"],
    &["SETBIT", "b", "4294967296", "1"],
    &["SETBIT", "b", "1", "2"],
    &["SETBIT", "b", "1", "-1"],
    &["SETBIT", "b", "1", "x"],
    &["GETBIT", "b", "-1"],
    &["LPUSH", "l", "x"],
    &["SETBIT", "l", "1", "1"],
    &["GETBIT", "l", "1"],
    &["BITCOUNT", "l"],
    &["BITPOS", "l", "1"],
    &["SET", "s", "foobar"],
    &["BITCOUNT", "s"],
    &["BITCOUNT", "s", "0", "0"],
    &["BITCOUNT", "s", "1", "1"],
    &["BITCOUNT", "s", "1", "-2"],
    &["BITCOUNT", "s", "-3", "-1", "BYTE"],
    &["BITCOUNT", "s", "5", "30", "BIT"],
    &["BITCOUNT", "s", "-10", "-2", "bit"],
    &["BITCOUNT", "s", "-1", "-3"],
    &["BITCOUNT", "s", "0"],
    &["BITCOUNT", "s", "0", "1", "WORD"],
    &["BITCOUNT", "s", "0", "1", "BIT", "x"],
    &["BITCOUNT", "s", "a", "1"],
    &["BITCOUNT", "nokey", "a", "1"],
    &["BITCOUNT", "s", "100", "200"],
    &["SET", "n", "12345"],
    &["BITCOUNT", "n"],
    &["GETBIT", "n", "3"],
    &["BITPOS", "n", "1"],
    &["SETBIT", "n", "3", "0"],
    &["GET", "n"],
    &["SET", "z", "\u{0}\u{0}\u{1}"],
    &["BITPOS", "z", "1"],
    &["BITPOS", "z", "0"],
    &["SET", "f", "\u{7f}\u{7f}\u{7f}"],
    &["BITPOS", "f", "0"],
    &["BITPOS", "f", "1", "1"],
    &["BITPOS", "f", "1", "2", "-1"],
    &["BITPOS", "f", "0", "0", "-1"],
    &["BITPOS", "f", "0", "1", "1"],
    &["BITPOS", "f", "1", "7", "15", "BIT"],
    &["BITPOS", "f", "0", "9", "14", "BIT"],
    &["BITPOS", "f", "0", "8", "8", "BIT"],
    &["BITPOS", "f", "1", "-5", "-1", "bit"],
    &["BITPOS", "f", "0", "0", "0", "BYTE"],
    &["BITPOS", "f", "2"],
    &["BITPOS", "f", "x"],
    &["BITPOS", "f", "1", "0", "1", "NOPE"],
    &["BITPOS", "f", "1", "a"],
    &["BITPOS", "nokey", "0"],
    &["BITPOS", "nokey", "1"],
    &["BITPOS", "nokey", "1", "x"],
    &["BITPOS", "f", "1", "5", "2"],
    &["SET", "ones", "\u{ff}\u{ff}"],
    &["BITPOS", "ones", "0"],
    &["BITPOS", "ones", "0", "0"],
    &["BITPOS", "ones", "0", "0", "-1"],
    &["BITPOS", "ones", "0", "0", "15", "BIT"],
    &["SET", "k1", "foobar"],
    &["SET", "k2", "abcdef"],
    &["BITOP", "AND", "dest", "k1", "k2"],
    &["GET", "dest"],
    &["BITOP", "or", "dest", "k1", "k2", "nokey"],
    &["GET", "dest"],
    &["BITOP", "XOR", "dest", "k1", "k2"],
    &["GET", "dest"],
    &["BITOP", "NOT", "dest", "k1"],
    &["GET", "dest"],
    &["BITOP", "NOT", "dest", "k1", "k2"],
    &["BITOP", "NAND", "dest", "k1"],
    &["BITOP", "AND", "dest", "k1", "l"],
    &["SET", "short", "ab"],
    &["BITOP", "AND", "dest", "k1", "short"],
    &["GET", "dest"],
    &["EXPIRE", "dest", "100"],
    &["BITOP", "OR", "dest", "nokey", "nokey2"],
    &["EXISTS", "dest"],
    &["BITOP", "OR", "dest", "k1"],
    &["TTL", "dest"],
    &[
        "BITFIELD", "bf", "SET", "i8", "0", "100", "GET", "i8", "0", "INCRBY", "i8", "0", "100",
    ],
    &[
        "BITFIELD", "bf", "OVERFLOW", "SAT", "INCRBY", "i8", "0", "100", "INCRBY", "u4", "#1", "20",
    ],
    &[
        "BITFIELD", "bf", "OVERFLOW", "FAIL", "INCRBY", "i8", "0", "100", "GET", "u8", "0",
    ],
    &[
        "BITFIELD", "bf", "OVERFLOW", "WRAP", "INCRBY", "u2", "100", "1", "INCRBY", "u2", "100",
        "1", "INCRBY", "u2", "100", "1", "INCRBY", "u2", "100", "1",
    ],
    &[
        "BITFIELD",
        "bf",
        "SET",
        "i64",
        "0",
        "-9223372036854775808",
        "INCRBY",
        "i64",
        "0",
        "-1",
    ],
    &[
        "BITFIELD",
        "bf",
        "OVERFLOW",
        "SAT",
        "INCRBY",
        "i64",
        "0",
        "-1",
        "INCRBY",
        "u63",
        "64",
        "9223372036854775807",
    ],
    &[
        "BITFIELD", "bf", "SET", "u8", "#3", "255", "GET", "u8", "24", "GET", "i8", "#3", "GET",
        "u1", "25",
    ],
    &[
        "BITFIELD", "bf", "SET", "u5", "3", "40", "SET", "i5", "3", "-17", "GET", "i5", "3",
    ],
    &["BITFIELD", "bf", "GET", "u64", "0"],
    &["BITFIELD", "bf", "GET", "i65", "0"],
    &["BITFIELD", "bf", "GET", "i0", "0"],
    &["BITFIELD", "bf", "GET", "x8", "0"],
    &["BITFIELD", "bf", "GET", "u8", "-1"],
    &["BITFIELD", "bf", "GET", "u8", "#-1"],
    &["BITFIELD", "bf", "GET", "u8"],
    &["BITFIELD", "bf", "SET", "u8", "0"],
    &["BITFIELD", "bf", "SET", "u8", "0", "x"],
    &["BITFIELD", "bf", "OVERFLOW", "NOPE", "GET", "u8", "0"],
    &["BITFIELD", "bf", "FOO", "u8", "0"],
    &["BITFIELD", "bf"],
    &["BITFIELD", "bf", "SET", "u8", "1048575", "1"],
    &["BITFIELD", "bf", "SET", "u8", "4294967296", "1"],
    &["STRLEN", "bf"],
    &["BITFIELD", "nokey", "GET", "u8", "0", "GET", "i16", "100"],
    &["BITFIELD", "l", "GET", "u8", "0"],
    &["BITFIELD", "l", "SET", "u8", "0", "1"],
    &["BITFIELD_RO", "bf", "GET", "u8", "0", "GET", "i4", "#2"],
    &["BITFIELD_RO", "bf", "SET", "u8", "0", "1"],
    &["BITFIELD_RO", "bf", "INCRBY", "u8", "0", "1"],
    &["BITFIELD_RO", "bf"],
    &["BITFIELD_RO", "nokey", "GET", "u8", "0"],
    &["SET", "numstr", "255"],
    &[
        "BITFIELD", "numstr", "GET", "u8", "0", "SET", "u8", "0", "65",
    ],
    &["GET", "numstr"],
    &["GETRANGE", "bf", "0", "20"],
];

#[test]
fn bitmaps_reply_as_redis_in_resp2() {
    same_on_both(|port| {
        let mut c = Client::connect(port);
        c.cmd("FLUSHALL");
        transcript(&mut c, FIXED)
    });
}

#[test]
fn bitmaps_reply_as_redis_in_resp3() {
    same_on_both(|port| {
        let mut c = Client::connect(port);
        c.cmd("FLUSHALL");
        c.cmd("HELLO 3");
        transcript(&mut c, FIXED)
    });
}

/// Keyspace events: setbit only when something changed, BITOP's set or del, BITFIELD's
/// setbit only when a write changed the value.
#[test]
fn bitmap_events_as_redis() {
    same_on_both(|port| {
        let mut c = Client::connect(port);
        c.cmd("FLUSHALL");
        c.cmd("CONFIG SET notify-keyspace-events KEA");
        let mut sub = Client::connect(port);
        sub.cmd("PSUBSCRIBE __keyevent@0__:*");
        for cmd in [
            "SETBIT k 1 1",
            "SETBIT k 1 1",
            "SETBIT k 1 0",
            "BITFIELD k GET u8 0",
            "BITFIELD k SET u8 0 0",
            "BITFIELD k SET u8 0 7",
            "BITFIELD k SET u8 16 0",
            "BITOP NOT d k",
            "BITOP AND d nokey",
            "SET end 1",
        ] {
            c.cmd(cmd);
        }
        c.cmd("CONFIG SET notify-keyspace-events ''");
        let mut t = Vec::new();
        loop {
            let msg = text(sub.read_reply());
            let done = msg.contains("end");
            t.push(msg);
            if done {
                break;
            }
        }
        t
    });
}

/// Random SETBIT / BITFIELD / BITCOUNT / BITPOS / BITOP on a few short keys: every reply
/// equal to Redis's.
#[test]
fn random_bitmap_operations_match_redis() {
    same_on_both(|port| {
        let mut c = Client::connect(port);
        c.cmd("FLUSHALL");
        let mut rng = Rng(0x5eed_b175);
        let keys = ["a", "b", "c"];
        let mut t = Vec::new();
        for _ in 0..600 {
            let key = rng.pick(&keys);
            let off = rng.below(80).to_string();
            let a = rng.signed(12).to_string();
            let b = rng.signed(12).to_string();
            let width = (rng.below(16) + 1).to_string();
            let ty = format!("{}{width}", rng.pick(&["i", "u"]));
            let value = rng.signed(70000).to_string();
            let overflow = rng.pick(&["WRAP", "SAT", "FAIL"]);
            let unit = rng.pick(&["BIT", "BYTE"]);
            let bit = rng.pick(&["0", "1"]);
            let args: Vec<&str> = match rng.below(8) {
                0 => vec!["SETBIT", key, &off, bit],
                1 => vec!["GETBIT", key, &off],
                2 => vec!["BITCOUNT", key, &a, &b, unit],
                3 => vec!["BITPOS", key, bit, &a, &b, unit],
                4 => vec!["BITPOS", key, bit, &a],
                5 => vec![
                    "BITFIELD", key, "OVERFLOW", overflow, "INCRBY", &ty, &off, &value,
                ],
                6 => vec!["BITFIELD", key, "SET", &ty, &off, &value, "GET", &ty, &off],
                _ => vec!["BITOP", rng.pick(&["AND", "OR", "XOR"]), key, "a", "b", "c"],
            };
            t.push(format!("{args:?} => {}", text(c.cmd_args(&args))));
        }
        for k in keys {
            t.push(text(c.cmd_args(&["GET", k])));
        }
        t
    });
}

#[test]
fn setbit_and_bitfield_count_changes_as_redis() {
    common::same_on_both(|port| {
        let mut c = Client::connect(port);
        c.cmd("FLUSHALL");
        let mut t = Vec::new();
        let mut last = common::info_field(&mut c, "persistence", "rdb_changes_since_last_save");
        for line in [
            "SETBIT foo 0 0",
            "BITFIELD foo2 SET i5 0 0",
            "SETBIT foo 0 0",
            "BITFIELD foo2 SET i5 0 0",
            "SETBIT foo 0 1",
            "SETBIT foo 100 0",
            "BITFIELD foo2 SET i5 0 1 SET i5 5 1 INCRBY u4 20 1",
            "BITFIELD foo3 SET u8 0 1 SET u8 8 2",
            "BITFIELD foo3 SET u8 0 1 SET u8 8 3",
            "BITFIELD foo3 GET u8 0",
        ] {
            c.cmd(line);
            let now = common::info_field(&mut c, "persistence", "rdb_changes_since_last_save");
            t.push(format!("{line}: +{}", now - last));
            last = now;
        }
        t
    });
}
