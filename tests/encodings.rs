//! OBJECT ENCODING against redis-server: every type converts at Redis's thresholds, with
//! the defaults and after CONFIG SET, and never converts back where Redis does not.

mod common;

use common::{Client, same_on_both, text};

/// Runs `lines` (space-separated commands) and records each reply.
fn run(c: &mut Client, lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .map(|l| format!("{l} -> {}", text(c.cmd(l))))
        .collect()
}

/// `CMD key` followed by `n` generated arguments, as one command line.
fn many(cmd: &str, key: &str, n: usize, arg: impl Fn(usize) -> String) -> String {
    let mut s = format!("{cmd} {key}");
    for i in 0..n {
        s.push(' ');
        s.push_str(&arg(i));
    }
    s
}

#[test]
fn strings_report_int_embstr_and_raw() {
    same_on_both(|port| {
        let mut c = Client::connect(port);
        let long = "x".repeat(45);
        let lines: Vec<String> = vec![
            "FLUSHALL".into(),
            "SET a 123".into(),
            "OBJECT ENCODING a".into(),
            "SET a -9223372036854775808".into(),
            "OBJECT ENCODING a".into(),
            "SET a 9223372036854775808".into(),
            "OBJECT ENCODING a".into(),
            "SET a 0123".into(),
            "OBJECT ENCODING a".into(),
            format!("SET a {}", &long[..44]),
            "OBJECT ENCODING a".into(),
            format!("SET a {long}"),
            "OBJECT ENCODING a".into(),
            "SET a hello".into(),
            "APPEND a x".into(),
            "OBJECT ENCODING a".into(),
            "INCR n".into(),
            "OBJECT ENCODING n".into(),
            "OBJECT ENCODING missing".into(),
            "OBJECT FOO a".into(),
            "OBJECT ENCODING".into(),
        ];
        run(&mut c, &lines)
    });
}

#[test]
fn lists_are_quicklists() {
    same_on_both(|port| {
        let mut c = Client::connect(port);
        let mut lines: Vec<String> = vec!["FLUSHALL".into(), "RPUSH l a".into()];
        lines.push("OBJECT ENCODING l".into());
        lines.push(many("RPUSH", "l", 2000, |i| format!("{i}")));
        lines.push("OBJECT ENCODING l".into());
        lines.push("LRANGE l 0 5".into());
        lines.push("LRANGE l -3 -1".into());
        run(&mut c, &lines)
    });
}

#[test]
fn hashes_convert_at_the_thresholds_and_after_config_set() {
    same_on_both(|port| {
        let mut c = Client::connect(port);
        let mut lines: Vec<String> = vec!["FLUSHALL".into()];
        // Entries: 512 stay packed, the 513th converts.
        lines.push(many("HSET", "h", 1024, |i| {
            if i % 2 == 0 {
                format!("f{}", i / 2)
            } else {
                "v".into()
            }
        }));
        lines.push("OBJECT ENCODING h".into());
        lines.push("HSET h one more".into());
        lines.push("OBJECT ENCODING h".into());
        lines.push("HDEL h one".into());
        lines.push("OBJECT ENCODING h".into());
        // Value length: 64 stays, 65 converts; a long field too.
        lines.push(format!("HSET v f {}", "x".repeat(64)));
        lines.push("OBJECT ENCODING v".into());
        lines.push(format!("HSET v g {}", "x".repeat(65)));
        lines.push("OBJECT ENCODING v".into());
        lines.push(format!("HSET w {} 1", "k".repeat(65)));
        lines.push("OBJECT ENCODING w".into());
        lines.push("HINCRBY i n 5".into());
        lines.push("OBJECT ENCODING i".into());
        lines.push("HINCRBYFLOAT i x 1.5".into());
        lines.push("OBJECT ENCODING i".into());
        lines.push("HGETALL i".into());
        // CONFIG SET takes effect for later writes.
        lines.push("CONFIG SET hash-max-listpack-entries 3".into());
        lines.push("CONFIG SET hash-max-listpack-value 4".into());
        lines.push("HSET s a 1 b 2 c 3".into());
        lines.push("OBJECT ENCODING s".into());
        lines.push("HSET s d 4".into());
        lines.push("OBJECT ENCODING s".into());
        lines.push("HSET t a 12345".into());
        lines.push("OBJECT ENCODING t".into());
        lines.push("HSET u abcd 1234".into());
        lines.push("OBJECT ENCODING u".into());
        lines.push("CONFIG SET hash-max-listpack-entries 0".into());
        lines.push("HSET z a 1".into());
        lines.push("OBJECT ENCODING z".into());
        lines.push("HGETALL u".into());
        lines.push("CONFIG SET hash-max-listpack-entries 512".into());
        lines.push("CONFIG SET hash-max-listpack-value 64".into());
        run(&mut c, &lines)
    });
}

#[test]
fn sets_convert_at_the_thresholds_and_after_config_set() {
    same_on_both(|port| {
        let mut c = Client::connect(port);
        let mut lines: Vec<String> = vec!["FLUSHALL".into()];
        lines.push(many("SADD", "s", 512, |i| {
            format!("{}", i as i64 * 7919 - 100_000)
        }));
        lines.push("OBJECT ENCODING s".into());
        lines.push("SADD s 99999999999".into());
        lines.push("OBJECT ENCODING s".into());
        lines.push("SADD t 1 2 3".into());
        lines.push("OBJECT ENCODING t".into());
        lines.push("SADD t 9223372036854775807 -9223372036854775808".into());
        lines.push("OBJECT ENCODING t".into());
        lines.push("SMEMBERS t".into());
        lines.push("SADD t 01".into());
        lines.push("OBJECT ENCODING t".into());
        lines.push("SREM t 01".into());
        lines.push("OBJECT ENCODING t".into());
        lines.push("SADD u a".into());
        lines.push("OBJECT ENCODING u".into());
        lines.push("CONFIG SET set-max-intset-entries 2".into());
        lines.push("SADD v 1 2".into());
        lines.push("OBJECT ENCODING v".into());
        lines.push("SADD v 3".into());
        lines.push("OBJECT ENCODING v".into());
        lines.push("SINTERSTORE w t t".into());
        lines.push("OBJECT ENCODING w".into());
        lines.push("CONFIG SET set-max-intset-entries 512".into());
        run(&mut c, &lines)
    });
}

#[test]
fn zsets_convert_at_the_thresholds_and_after_config_set() {
    same_on_both(|port| {
        let mut c = Client::connect(port);
        let mut lines: Vec<String> = vec!["FLUSHALL".into()];
        lines.push(many("ZADD", "z", 256, |i| {
            if i % 2 == 0 {
                format!("{}", i / 2)
            } else {
                format!("m{}", i / 2)
            }
        }));
        lines.push("OBJECT ENCODING z".into());
        lines.push("ZADD z 1.5 one-more".into());
        lines.push("OBJECT ENCODING z".into());
        lines.push("ZREM z one-more".into());
        lines.push("OBJECT ENCODING z".into());
        lines.push(format!("ZADD y 1 {}", "x".repeat(64)));
        lines.push("OBJECT ENCODING y".into());
        lines.push(format!("ZADD y 2 {}", "x".repeat(65)));
        lines.push("OBJECT ENCODING y".into());
        lines.push("CONFIG SET zset-max-listpack-entries 2".into());
        lines.push("ZADD x 1 a 2 b".into());
        lines.push("OBJECT ENCODING x".into());
        lines.push("ZADD x 3 c".into());
        lines.push("OBJECT ENCODING x".into());
        lines.push("CONFIG SET zset-max-listpack-entries 0".into());
        lines.push("ZADD w 1 a".into());
        lines.push("OBJECT ENCODING w".into());
        lines.push("CONFIG SET zset-max-listpack-entries 128".into());
        lines.push("CONFIG SET zset-max-listpack-value 3".into());
        lines.push("ZADD v 1 abc".into());
        lines.push("OBJECT ENCODING v".into());
        lines.push("ZADD u 1 abcd".into());
        lines.push("OBJECT ENCODING u".into());
        lines.push("CONFIG SET zset-max-listpack-value 64".into());
        run(&mut c, &lines)
    });
}
