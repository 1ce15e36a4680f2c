//! Keyspace notifications of the set and sorted-set commands, against redis-server 7.0:
//! the same script runs on both servers while another connection listens on every
//! keyspace and keyevent channel, and the messages it receives (and the script's replies)
//! must be equal, in order. Error and no-op cases are in the script too: they must
//! publish nothing. A RESP3 client subscribed to its own events must also see the pushes
//! where Redis puts them relative to its replies (before, after, or inside them).

mod common;

use std::time::Duration;

use common::{Client, Server, encode, start_redis};

/// Raw reply as text, for readable diffs.
fn text(raw: &[u8]) -> String {
    String::from_utf8_lossy(raw).into_owned()
}

/// Sends a command given as a line of space-separated arguments.
fn send_line(c: &mut Client, line: &str) {
    let args: Vec<&[u8]> = line.split(' ').map(str::as_bytes).collect();
    c.send(&args);
}

/// Sets `notify-keyspace-events` (possibly empty, which a line cannot say).
fn set_flags(c: &mut Client, flags: &str) {
    let reply = c.call(&[
        b"CONFIG",
        b"SET",
        b"notify-keyspace-events",
        flags.as_bytes(),
    ]);
    assert_eq!(text(&reply), "+OK\r\n", "flags {flags:?}");
}

/// Turns notifications off.
fn notifications_off(c: &mut Client) {
    set_flags(c, "");
}

/// Keys of other types, created while notifications are off (their own commands' events
/// belong to other families).
const SETUP: &[&str] = &["SET str v", "SET str2 v"];

/// Every set command: effective writes, no-ops, errors, reads. A line starting with `~`
/// has a reply that depends on random picks or on hash-table order, so only its first
/// line (the type and size) is compared.
const SET_SCRIPT: &[&str] = &[
    // SADD: creates (new), adds, adds nothing, wrong type, arity.
    "SADD s a b c",
    "SADD s a",
    "SADD s d a",
    "SADD str x",
    "SADD s",
    // SREM: nothing removed, some removed, the last one removed (srem then del).
    "SREM s zz",
    "SREM s a zz",
    "SREM nokey a",
    "SREM str a",
    "SADD s2 x",
    "SREM s2 x y",
    // Reads publish nothing.
    "~SMEMBERS s",
    "SISMEMBER s b",
    "SMISMEMBER s b zz",
    "SCARD s",
    "~SRANDMEMBER s",
    "~SRANDMEMBER s 2",
    "~SRANDMEMBER s -5",
    "SRANDMEMBER nokey",
    "SRANDMEMBER s x",
    "~SSCAN s 0",
    "SSCAN s x",
    "~SINTER s s",
    "SINTER s nokey",
    "SINTERCARD 1 s",
    "SINTERCARD 0 s",
    "~SUNION s nokey",
    "~SDIFF s nokey",
    "SINTER str",
    // SPOP: missing key, count 0, bad counts, wrong type; then real pops.
    "SPOP nokey",
    "SPOP nokey 2",
    "SPOP s 0",
    "SPOP s -1",
    "SPOP s x",
    "SPOP s 1 2",
    "SPOP str",
    "SPOP str 0",
    "SADD p 1 2 3 4 5 6 7 8 9",
    "~SPOP p",
    "~SPOP p 3",
    "~SPOP p 2",
    // The whole set (spop, the reply, del).
    "~SPOP p 100",
    "SADD q x",
    "SPOP q",
    "SADD q x y",
    "~SPOP q 2",
    "SADD big a b c d e f g h i j k l m n o p q r s t u v w x y z",
    "~SPOP big 2",
    "~SPOP big 20",
    "~SPOP big",
    // SMOVE: missing source, wrong types, same key, missing member, moves.
    "SADD m1 a b",
    "SMOVE nokey m1 a",
    "SMOVE nokey str a",
    "SMOVE m1 str a",
    "SMOVE str m1 a",
    "SMOVE m1 m1 a",
    "SMOVE m1 m1 zz",
    "SMOVE m1 m2 zz",
    // To a new destination: srem, new, sadd.
    "SMOVE m1 m2 a",
    "SADD m3 b",
    // Empties the source, and the destination already has the member: srem, del only.
    "SMOVE m1 m3 b",
    "SMOVE m2 m3 a",
    "SMOVE m3 m4",
    // SINTERSTORE: new destination, overwrite, a missing source (del before the reply),
    // an empty intersection (del after the reply), wrong types.
    "SADD i1 a b c",
    "SADD i2 b c d",
    "SADD i3 x",
    "SINTERSTORE d1 i1 i2",
    "SINTERSTORE d1 i1 i2",
    "SINTERSTORE d1 i1 nokey",
    "SINTERSTORE d1 i1 nokey",
    "SADD d1 z",
    "SINTERSTORE d1 i1 i3",
    "SINTERSTORE d1 i1 i3",
    "SINTERSTORE d1 i1 str",
    "SINTERSTORE str2 i1 i2",
    "SINTERSTORE i1 i1 i2",
    // SUNIONSTORE and SDIFFSTORE.
    "SUNIONSTORE d2 i1 i3",
    "SUNIONSTORE d2 i1 i3",
    "SUNIONSTORE d2 nokey",
    "SUNIONSTORE d2 nokey",
    "SUNIONSTORE d2 str i1",
    "SDIFFSTORE d3 i2 i3",
    "SDIFFSTORE d3 i2 i2",
    "SDIFFSTORE d3 nokey i2",
    "SDIFFSTORE d3 i2 str",
    "SDIFFSTORE d3 i2 nokey",
    // Another database: the channels name it.
    "SELECT 3",
    "SADD s a",
    "SREM s a",
    "SELECT 0",
    // Inside a transaction, in order.
    "MULTI",
    "SADD t a b",
    "SREM t a",
    "SPOP t",
    "SMOVE nokey t a",
    "EXEC",
];

/// Every sorted-set command, as [`SET_SCRIPT`].
const ZSET_SCRIPT: &[&str] = &[
    // ZADD: creates (new, zadd after the reply), unchanged, options, errors.
    "ZADD z 1 a 2 b 3 c",
    "ZADD z 1 a",
    "ZADD z NX 5 a",
    "ZADD z XX 5 nomember",
    "ZADD z XX 5 a",
    "ZADD z GT 1 a",
    "ZADD z LT 1 a",
    "ZADD z CH 1 a 9 d",
    "ZADD z CH 1 a 9 d",
    "ZADD z NX 7 e",
    "ZADD nokey XX 1 a",
    "ZADD nokey XX INCR 1 a",
    "ZADD z INCR 2 a",
    "ZADD z NX INCR 1 a",
    "ZADD z XX INCR 1 nomember",
    "ZADD z GT INCR -1 a",
    "ZADD z x a",
    "ZADD z 1",
    "ZADD z 1 a 2",
    "ZADD z NX XX 1 a",
    "ZADD z GT LT 1 a",
    "ZADD z INCR 1 a 2 b",
    "ZADD str 1 a",
    "ZADD z",
    // ZINCRBY: zincr, a zero increment (no change), a new key, errors, NaN.
    "ZINCRBY z 1 b",
    "ZINCRBY z 0 b",
    "ZINCRBY zi 5 m",
    "ZINCRBY z x b",
    "ZINCRBY str 1 a",
    "ZADD zinf inf m",
    "ZINCRBY zinf -inf m",
    "ZADD zinf INCR -inf m",
    // ZREM: nothing, some, the last one (zrem then del), wrong type.
    "ZREM z nomember",
    "ZREM z a nomember",
    "ZREM nokey a",
    "ZREM str a",
    "ZADD zr 1 x",
    "ZREM zr x y",
    // Reads publish nothing.
    "ZCARD z",
    "ZSCORE z b",
    "ZMSCORE z b nomember",
    "ZRANK z b",
    "ZREVRANK z b",
    "ZCOUNT z -inf +inf",
    "ZCOUNT z x y",
    "ZLEXCOUNT z - +",
    "ZRANGE z 0 -1 WITHSCORES",
    "ZRANGE z (1 +inf BYSCORE LIMIT 0 1",
    "ZRANGE z 0 -1 BYLEX",
    "ZRANGEBYSCORE z -inf +inf",
    "ZREVRANGEBYSCORE z +inf -inf WITHSCORES",
    "ZRANGEBYLEX z - +",
    "ZREVRANGEBYLEX z + -",
    "ZREVRANGE z 0 -1",
    "ZSCAN z 0",
    "ZRANGE str 0 -1",
    // ZPOPMIN / ZPOPMAX: missing key, count 0, bad counts, wrong type, pops.
    "ZPOPMIN nokey",
    "ZPOPMIN nokey 3",
    "ZPOPMIN z 0",
    "ZPOPMIN z -1",
    "ZPOPMAX z 1 2",
    "ZPOPMIN str",
    "ZPOPMIN str 0",
    "ZPOPMIN z",
    "ZPOPMAX z 2",
    "ZADD zp 1 a 2 b",
    "ZPOPMAX zp 5",
    "ZADD zp 1 a",
    "ZPOPMIN zp",
    // ZREMRANGEBYRANK / BYSCORE / BYLEX: empty ranges, errors, removals, the last one.
    "ZADD zz 1 a 2 b 3 c 4 d 5 e 6 f",
    "ZREMRANGEBYRANK zz 10 20",
    "ZREMRANGEBYRANK zz 3 1",
    "ZREMRANGEBYRANK zz x 1",
    "ZREMRANGEBYRANK nokey 0 -1",
    "ZREMRANGEBYRANK str 0 -1",
    "ZREMRANGEBYRANK zz 0 0",
    "ZREMRANGEBYSCORE zz 100 200",
    "ZREMRANGEBYSCORE zz x y",
    "ZREMRANGEBYSCORE str 0 1",
    "ZREMRANGEBYSCORE zz (2 3",
    "ZREMRANGEBYLEX zz a b",
    "ZREMRANGEBYLEX zz [x [y",
    "ZREMRANGEBYLEX str - +",
    "ZADD zl 0 a 0 b 0 c",
    "ZREMRANGEBYLEX zl [a [b",
    "ZREMRANGEBYLEX zl - +",
    "ZREMRANGEBYSCORE zz -inf +inf",
    "ZADD zz 1 a",
    "ZREMRANGEBYRANK zz 0 -1",
    // The algebra: new destinations (new, then the command's event), overwrites (another
    // type too), empty results (del when the destination existed), errors, reads.
    "ZADD a1 1 a 2 b 3 c",
    "ZADD a2 1 b 2 c 3 d",
    "SADD as1 a x",
    "ZUNIONSTORE zd 2 a1 a2",
    "ZUNIONSTORE zd 2 a1 as1 WEIGHTS 2 1",
    "ZUNIONSTORE str2 1 a1",
    "ZINTERSTORE zd 2 a1 a2 AGGREGATE MAX",
    "ZINTERSTORE zd 2 a1 nokey",
    "ZINTERSTORE zd 2 a1 nokey",
    "ZDIFFSTORE zd 2 a1 a2",
    "ZDIFFSTORE zd 2 a1 a1",
    "ZDIFFSTORE zd 2 a1 a1",
    "ZUNIONSTORE zd 0 a1",
    "ZUNIONSTORE zd 2 a1 str",
    "ZINTERSTORE zd 2 a1 a2 WITHSCORES",
    "ZUNIONSTORE a1 2 a1 a2",
    "ZUNION 2 a1 a2 WITHSCORES",
    "ZINTER 2 a1 a2",
    "ZDIFF 2 a1 a2",
    "ZINTERCARD 2 a1 a2 LIMIT 1",
    // ZRANGESTORE: a new destination, an overwrite, empty ranges, errors.
    "ZRANGESTORE zr a1 0 1",
    "ZRANGESTORE zr a1 (1 +inf BYSCORE REV LIMIT 0 2",
    "ZRANGESTORE zr a1 5 9",
    "ZRANGESTORE zr a1 5 9",
    "ZRANGESTORE zr nokey 0 -1",
    "ZRANGESTORE zr str 0 -1",
    "ZRANGESTORE zr a1 0 -1 WITHSCORES",
    "ZRANGESTORE zr a1 - + BYLEX",
    // ZRANDMEMBER is a read.
    "~ZRANDMEMBER a1",
    "~ZRANDMEMBER a1 -5 WITHSCORES",
    "ZRANDMEMBER a1 0",
    "ZRANDMEMBER nokey",
    // Another database, and a transaction.
    "SELECT 5",
    "ZADD z 1 a",
    "ZPOPMAX z",
    "SELECT 0",
    "MULTI",
    "ZADD t 1 a 2 b",
    "ZINCRBY t 1 a",
    "ZPOPMIN t",
    "ZREM t b",
    "ZUNIONSTORE t2 1 t",
    "ZRANGESTORE t3 t2 0 -1",
    "EXEC",
];

/// What one run produced: the script's replies, then the subscriber's messages.
#[derive(Debug, PartialEq)]
struct Transcript {
    replies: Vec<String>,
    messages: Vec<String>,
}

/// Connects a subscriber to every keyspace and keyevent channel and to `sentinel`.
fn subscriber(port: u16) -> Client {
    let mut sub = Client::connect(port);
    sub.send(&[b"PSUBSCRIBE", b"__key*@*__:*"]);
    sub.read_reply();
    sub.send(&[b"SUBSCRIBE", b"sentinel"]);
    sub.read_reply();
    sub
}

/// Reads the subscriber's messages up to the one on `sentinel` (excluded).
fn messages_until_sentinel(sub: &mut Client) -> Vec<String> {
    let end = text(&encode(&[b"message", b"sentinel", b"end"]));
    let mut got = Vec::new();
    loop {
        let m = text(&sub.read_reply());
        if m == end {
            return got;
        }
        got.push(m);
    }
}

/// Runs `script` with `notify-keyspace-events` set to `flags` on a fresh keyspace, while a
/// subscriber listens; returns the replies and the messages.
fn run(port: u16, flags: &str, script: &[&str]) -> Transcript {
    let mut c = Client::connect(port);
    notifications_off(&mut c);
    assert_eq!(c.cmd("FLUSHALL"), b"+OK\r\n");
    for line in SETUP {
        c.cmd(line);
    }
    let mut sub = subscriber(port);
    set_flags(&mut c, flags);
    let mut replies = Vec::new();
    for line in script {
        let (line, whole) = match line.strip_prefix('~') {
            Some(rest) => (rest, false),
            None => (*line, true),
        };
        let reply = text(&c.cmd(line));
        let shown = if whole {
            reply
        } else {
            reply.lines().next().unwrap_or_default().to_string()
        };
        replies.push(format!("{line} -> {shown}"));
    }
    assert_eq!(c.cmd("PUBLISH sentinel end"), b":1\r\n");
    let messages = messages_until_sentinel(&mut sub);
    notifications_off(&mut c);
    Transcript { replies, messages }
}

/// Fails with the first difference of two transcripts, readably.
fn assert_same(what: &str, ours: &[String], redis: &[String]) {
    if let Some(i) = (0..ours.len().max(redis.len())).find(|&i| ours.get(i) != redis.get(i)) {
        let from = i.saturating_sub(3);
        panic!(
            "{what} differ at {i}:\n  ours:  {:#?}\n  redis: {:#?}",
            &ours[from.min(ours.len())..(i + 3).min(ours.len())],
            &redis[from.min(redis.len())..(i + 3).min(redis.len())],
        );
    }
}

/// Runs `check` on our server and, when installed, on redis-server; both must agree.
fn same_on_both(what: &str, check: impl Fn(u16) -> Transcript) {
    let ours = Server::start(&[]);
    let got = check(ours.port);
    if let Some(redis) = start_redis() {
        let want = check(redis.port);
        assert_same(&format!("{what}: replies"), &got.replies, &want.replies);
        assert_same(&format!("{what}: messages"), &got.messages, &want.messages);
    }
}

/// The `notify-keyspace-events` values the scripts run under: everything, with `new`,
/// one channel kind with some classes, classes of other families only, and off.
const FLAGS: &[&str] = &["KEA", "KEAn", "Ks", "Kz", "Eg", "En", "Esz", "KE$lh", ""];

#[test]
fn set_commands_publish_as_redis() {
    same_on_both("sets", |port| {
        let mut all = Transcript {
            replies: Vec::new(),
            messages: Vec::new(),
        };
        for flags in FLAGS {
            let t = run(port, flags, SET_SCRIPT);
            all.replies.push(format!("flags {flags:?}"));
            all.replies.extend(t.replies);
            all.messages.push(format!("flags {flags:?}"));
            all.messages.extend(t.messages);
        }
        all
    });
}

#[test]
fn sorted_set_commands_publish_as_redis() {
    same_on_both("sorted sets", |port| {
        let mut all = Transcript {
            replies: Vec::new(),
            messages: Vec::new(),
        };
        for flags in FLAGS {
            let t = run(port, flags, ZSET_SCRIPT);
            all.replies.push(format!("flags {flags:?}"));
            all.replies.extend(t.replies);
            all.messages.push(format!("flags {flags:?}"));
            all.messages.extend(t.messages);
        }
        all
    });
}

#[test]
fn a_few_commands_publish_these_events() {
    // Without a reference server the comparison above checks nothing: pin the events of a
    // few commands here.
    let ours = Server::start(&[]);
    let mut c = ours.client();
    let mut sub = subscriber(ours.port);
    set_flags(&mut c, "Egsz");
    for line in [
        "SADD s a b",
        "SADD s a",
        "SREM s a b",
        "ZADD z 1 a",
        "ZINCRBY z 1 a",
        "ZPOPMIN z",
        "SADD a x",
        "SMOVE a b x",
        "SINTERSTORE d b b",
        "SINTERSTORE d a b",
    ] {
        c.cmd(line);
    }
    c.cmd("PUBLISH sentinel end");
    let got: Vec<String> = messages_until_sentinel(&mut sub)
        .iter()
        .map(|m| {
            let parts: Vec<&str> = m.split("\r\n").collect();
            format!("{} {}", parts[6], parts[8])
        })
        .collect();
    let want = [
        "__keyevent@0__:sadd s",
        "__keyevent@0__:srem s",
        "__keyevent@0__:del s",
        "__keyevent@0__:zadd z",
        "__keyevent@0__:zincr z",
        "__keyevent@0__:zpopmin z",
        "__keyevent@0__:del z",
        "__keyevent@0__:sadd a",
        "__keyevent@0__:srem a",
        "__keyevent@0__:del a",
        "__keyevent@0__:sadd b",
        "__keyevent@0__:sinterstore d",
        "__keyevent@0__:del d",
    ];
    assert_eq!(got, want);
}

/// The commands of the RESP3 scenario: writes whose replies are deterministic, so the raw
/// bytes (replies and pushes together) can be compared.
const RESP3_SCRIPT: &[&str] = &[
    "SADD s a b c",
    "SADD s a",
    "SREM s a",
    "SREM s b c",
    "SADD q x",
    "SPOP q",
    "SADD p 3 1 2",
    "SPOP p 0",
    "SPOP p 5",
    "SADD m1 a b",
    "SMOVE m1 m2 a",
    "SMOVE m1 m2 b",
    "SADD i1 1 2 3",
    "SADD i2 2 3 4",
    "SINTERSTORE d i1 i2",
    "SINTERSTORE d i1 i2",
    "SINTERSTORE d i1 nokey",
    "SADD d 9",
    "SINTERSTORE d i1 m2",
    "SUNIONSTORE d i1 i2",
    "SUNIONSTORE d nokey",
    "SDIFFSTORE d i1 i2",
    "SDIFFSTORE d i1 i1",
    "SMEMBERS i1",
    "ZADD z 1 a 2 b 3 c 4 d",
    "ZADD z 1 a",
    "ZADD z INCR 1 a",
    "ZINCRBY z 1 a",
    "ZINCRBY zi 1 a",
    "ZREM z d",
    "ZPOPMIN z",
    "ZPOPMAX z 1",
    "ZADD z 5 e 6 f",
    "ZPOPMAX z 5",
    "ZADD z 1 a 2 b 3 c",
    "ZREMRANGEBYRANK z 0 0",
    "ZREMRANGEBYSCORE z 2 2",
    "ZREMRANGEBYLEX z - +",
    "ZRANGE zi 0 -1 WITHSCORES",
    "SADD str x",
    "MULTI",
    "SADD t a",
    "ZADD tz 1 a",
    "ZPOPMIN tz 2",
    "SPOP t",
    "EXEC",
];

/// Runs [`RESP3_SCRIPT`] from a RESP3 client that listens to its own keyspace events:
/// each step is the raw bytes it receives for the command (pushes and reply, in order).
fn run_resp3(port: u16, flags: &str, subscribe: &[&[u8]]) -> Transcript {
    let mut c = Client::connect(port);
    notifications_off(&mut c);
    assert_eq!(c.cmd("FLUSHALL"), b"+OK\r\n");
    for line in SETUP {
        c.cmd(line);
    }
    c.cmd("HELLO 3");
    let mut replies = Vec::new();
    c.send(subscribe);
    for _ in 1..subscribe.len() {
        replies.push(text(&c.read_reply()));
    }
    set_flags(&mut c, flags);
    let mut queuing = false;
    for (i, line) in RESP3_SCRIPT.iter().enumerate() {
        if queuing || *line == "MULTI" {
            // Queued commands answer +QUEUED and run (and publish) inside EXEC's reply.
            queuing = *line != "EXEC";
            if queuing {
                replies.push(format!("{line} -> {}", c.cmd_str(line)));
                continue;
            }
        }
        // The reply to ECHO marks the end of what the command sent: frames are read one by
        // one (a push inside an array reply frames oddly, but the bytes are all there).
        let marker = format!("end of step {i}");
        send_line(&mut c, line);
        c.send(&[b"ECHO", marker.as_bytes()]);
        let end = format!("${}\r\n{marker}\r\n", marker.len());
        let mut got = String::new();
        loop {
            let frame = text(&c.read_reply());
            if frame == end {
                break;
            }
            got.push_str(&frame);
        }
        replies.push(format!("{line} -> {got}"));
    }
    notifications_off(&mut c);
    Transcript {
        replies,
        messages: Vec::new(),
    }
}

#[test]
fn a_resp3_client_sees_its_own_events_where_redis_puts_them() {
    same_on_both("RESP3, pattern", |port| {
        run_resp3(port, "KEAn", &[b"PSUBSCRIBE", b"__key*@*__:*"])
    });
    same_on_both("RESP3, channels", |port| {
        run_resp3(
            port,
            "KEA",
            &[
                b"SUBSCRIBE",
                b"__keyevent@0__:del",
                b"__keyevent@0__:zpopmax",
                b"__keyspace@0__:d",
                b"__keyspace@0__:tz",
            ],
        )
    });
}

#[test]
fn keys_found_expired_publish_expired_before_the_command_events() {
    // Each key gets a short TTL, and the command runs once it has passed: whether active
    // expiry reclaimed the key meanwhile or the command finds it expired, `expired` is
    // published once, after the previous step's events and before the command's own.
    // (The generic class stays off: PEXPIRE's own event belongs to another family.)
    let steps: &[(&str, &str)] = &[
        ("SADD e1 a", "SADD e1 b"),
        ("SADD e2 a", "SREM e2 a"),
        ("SADD e3 a", "SPOP e3"),
        ("SADD e4 a", "SMOVE e4 e5 a"),
        ("SADD e6 a", "SMOVE e7 e6 a"),
        ("SADD e8 a", "SINTERSTORE e8 s s"),
        ("SADD e9 a", "SUNIONSTORE e10 e9 s"),
        ("ZADD e11 1 a", "ZADD e11 2 b"),
        ("ZADD e12 1 a", "ZINCRBY e12 1 a"),
        ("ZADD e13 1 a", "ZPOPMIN e13"),
        ("ZADD e14 1 a", "ZREMRANGEBYRANK e14 0 -1"),
    ];
    same_on_both("expired", |port| {
        let mut c = Client::connect(port);
        notifications_off(&mut c);
        assert_eq!(c.cmd("FLUSHALL"), b"+OK\r\n");
        c.cmd("SADD s a b");
        let mut sub = subscriber(port);
        set_flags(&mut c, "KEszxn");
        let mut replies = Vec::new();
        for (create, command) in steps {
            c.cmd(create);
            let key = create.split(' ').nth(1).unwrap_or_default();
            assert_eq!(c.cmd(&format!("PEXPIRE {key} 20")), b":1\r\n");
            // The TTL was set before the reply, so 25 ms from here it has passed: the wait
            // is a lower bound set by the clock, not a guess at how long something takes.
            std::thread::sleep(Duration::from_millis(25));
            replies.push(format!("{command} -> {}", text(&c.cmd(command))));
        }
        assert_eq!(c.cmd("PUBLISH sentinel end"), b":1\r\n");
        Transcript {
            replies,
            messages: messages_until_sentinel(&mut sub),
        }
    });
}
