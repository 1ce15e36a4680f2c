//! MIGRATE: compared with redis-server 7.0 as the source (the same kind of target for
//! both), between the two servers in both directions, and against targets that misbehave
//! (silent, closing, refusing). Also RESTORE-ASKING, COMMAND GETKEYS and the redaction of
//! AUTH arguments in SLOWLOG.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

use common::{Client, Server, on_both, same_on_both, start_redis, text};

fn transcript(c: &mut Client, cmds: &[Vec<String>]) -> Vec<String> {
    cmds.iter()
        .map(|args| {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            format!("{args:?} => {}", text(c.cmd_args(&args)))
        })
        .collect()
}

fn cmds(lines: &[&str]) -> Vec<Vec<String>> {
    lines
        .iter()
        .map(|l| l.split(' ').map(|w| w.replace('~', "")).collect())
        .collect()
}

/// A port nothing listens on (bound, then released).
fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// The same MIGRATE session from rust-keyval and from redis-server, each to a fresh
/// rust-keyval target: replies, what stays on the source and what reached the target.
#[test]
fn migrate_replies_as_redis_does() {
    let refused = closed_port();
    same_on_both(|port| {
        let target = Server::start(&[]);
        let t = target.port;
        let mut c = Client::connect(port);
        c.cmd("FLUSHALL");
        c.cmd("CONFIG SET appendonly no");
        let source = cmds(&[
            "SET a 1",
            "SET b 2",
            "SET c 3",
            "RPUSH list x y z",
            "SET withttl v PX 100000",
            &format!("MIGRATE 127.0.0.1 {t} a 0 5000"),
            "EXISTS a",
            &format!("MIGRATE 127.0.0.1 {t} nosuch 0 5000"),
            &format!("MIGRATE 127.0.0.1 {t} list 0 5000 COPY"),
            "LLEN list",
            &format!("MIGRATE 127.0.0.1 {t} list 0 5000"),
            &format!("MIGRATE 127.0.0.1 {t} list 0 5000 REPLACE"),
            "EXISTS list",
            &format!("MIGRATE 127.0.0.1 {t} ~ 9 5000 KEYS b c nosuch withttl"),
            "EXISTS b c withttl",
            &format!("MIGRATE 127.0.0.1 {t} b 0 5000 KEYS c"),
            &format!("MIGRATE 127.0.0.1 {t} b 0 5000 BADOPT"),
            &format!("MIGRATE 127.0.0.1 {t} b 0 5000 AUTH"),
            &format!("MIGRATE 127.0.0.1 {t} b 0 5000 AUTH2 user"),
            &format!("MIGRATE 127.0.0.1 {t} b 0 notanumber"),
            &format!("MIGRATE 127.0.0.1 {t} b notanumber 5000"),
            "MIGRATE 127.0.0.1",
            "SET d 4",
            &format!("MIGRATE 127.0.0.1 {t} d 0 5000 AUTH secret"),
            &format!("MIGRATE 127.0.0.1 {t} d 0 5000 AUTH2 someone secret"),
            "EXISTS d",
            &format!("MIGRATE 127.0.0.1 {refused} d 0 1000"),
            "MIGRATE 127.0.0.1 notaport d 0 1000",
            "EXISTS d",
        ]);
        let mut lines: Vec<String> = transcript(&mut c, &source)
            .into_iter()
            .map(|l| {
                l.replace(&t.to_string(), "TARGET")
                    .replace(&refused.to_string(), "REFUSED")
            })
            .collect();
        let mut tc = Client::connect(t);
        let on_target = cmds(&[
            "GET a",
            "LRANGE list 0 -1",
            "SELECT 9",
            "MGET b c nosuch",
            "GET withttl",
            "EXISTS d",
        ]);
        lines.extend(transcript(&mut tc, &on_target));
        let pttl = tc.int("PTTL withttl");
        lines.push(format!(
            "PTTL withttl on the target within 100 s: {}",
            (90_000..=100_000).contains(&pttl)
        ));
        lines
    });
}

/// Values move between the two servers, both ways, with their TTLs.
#[test]
fn migrate_moves_keys_between_rust_keyval_and_redis_both_ways() {
    let Some(redis) = start_redis() else {
        return;
    };
    let ours = Server::start(&[]);
    for (from, to) in [(ours.port, redis.port), (redis.port, ours.port)] {
        let mut src = Client::connect(from);
        let mut dst = Client::connect(to);
        src.cmd("FLUSHALL");
        dst.cmd("FLUSHALL");
        src.cmd("HSET h f1 v1 f2 v2");
        src.cmd("ZADD z 1 a 2.5 b");
        src.cmd("SADD s 1 2 3");
        src.cmd("SET str hello EX 500");
        src.cmd("XADD st 1-1 f v");
        let reply = src.cmd_args(&[
            "MIGRATE",
            "127.0.0.1",
            &to.to_string(),
            "",
            "0",
            "5000",
            "KEYS",
            "h",
            "z",
            "s",
            "str",
            "st",
        ]);
        assert_eq!(text(reply), "+OK\r\n", "from {from} to {to}");
        assert_eq!(src.int("DBSIZE"), 0);
        assert_eq!(
            text(dst.cmd("HGETALL h")),
            "*4\r\n$2\r\nf1\r\n$2\r\nv1\r\n$2\r\nf2\r\n$2\r\nv2\r\n"
        );
        assert_eq!(
            text(dst.cmd("ZRANGE z 0 -1 WITHSCORES")),
            "*4\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$3\r\n2.5\r\n"
        );
        assert_eq!(dst.int("SCARD s"), 3);
        assert_eq!(text(dst.cmd("GET str")), "$5\r\nhello\r\n");
        let ttl = dst.int("TTL str");
        assert!((490..=500).contains(&ttl), "TTL {ttl}");
        assert_eq!(dst.int("XLEN st"), 1);
    }
}

/// A target that accepts and never answers: IOERR once the timeout passes, the key stays.
/// One that closes at once: retried once, then IOERR. Garbage instead of replies is the
/// target's error.
#[test]
fn misbehaving_targets_give_ioerr_and_lose_nothing() {
    on_both(&[], |port| {
        let mut c = Client::connect(port);
        c.cmd("FLUSHALL");
        c.cmd("SET k v");

        let silent = TcpListener::bind("127.0.0.1:0").unwrap();
        let sp = silent.local_addr().unwrap().port();
        let t0 = Instant::now();
        let reply = c.cmd_args(&["MIGRATE", "127.0.0.1", &sp.to_string(), "k", "0", "300"]);
        assert_eq!(
            text(reply),
            "-IOERR error or timeout reading to target instance\r\n"
        );
        assert!(
            t0.elapsed() >= Duration::from_millis(250),
            "{:?}",
            t0.elapsed()
        );
        assert_eq!(c.int("EXISTS k"), 1);

        let closing = TcpListener::bind("127.0.0.1:0").unwrap();
        let cp = closing.local_addr().unwrap().port();
        let closer = std::thread::spawn(move || {
            // Two connections: the first attempt and its one retry.
            for _ in 0..2 {
                let (mut s, _) = closing.accept().unwrap();
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf);
            }
        });
        let reply = c.cmd_args(&["MIGRATE", "127.0.0.1", &cp.to_string(), "k", "0", "2000"]);
        assert_eq!(
            text(reply),
            "-IOERR error or timeout reading to target instance\r\n"
        );
        closer.join().unwrap();
        assert_eq!(c.int("EXISTS k"), 1);

        let garbage = TcpListener::bind("127.0.0.1:0").unwrap();
        let gp = garbage.local_addr().unwrap().port();
        let talker = std::thread::spawn(move || {
            let (mut s, _) = garbage.accept().unwrap();
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            // SELECT's reply, then a long error line for the RESTORE.
            let mut reply = b"+OK\r\n-WHAT ".to_vec();
            reply.extend(std::iter::repeat_n(b'x', 5000));
            reply.extend_from_slice(b"\r\n");
            s.write_all(&reply).unwrap();
        });
        let reply = text(c.cmd_args(&["MIGRATE", "127.0.0.1", &gp.to_string(), "k", "0", "2000"]));
        assert!(
            reply.starts_with("-ERR Target instance replied with error: WHAT xxx"),
            "{reply}"
        );
        assert!(reply.len() < 1100, "the line is cut: {}", reply.len());
        assert_eq!(c.int("EXISTS k"), 1);
        drop(c);
        talker.join().unwrap();
    });
}

/// RESTORE-ASKING is RESTORE outside cluster mode; COMMAND GETKEYS follows MIGRATE's
/// KEYS; COMMAND INFO marks it movablekeys; SLOWLOG hides AUTH's values.
#[test]
fn restore_asking_getkeys_and_redaction_as_redis() {
    same_on_both(|port| {
        let mut c = Client::connect(port);
        c.cmd("FLUSHALL");
        c.cmd("SET src v");
        let payload = c.cmd("DUMP src");
        let payload =
            &payload[payload.iter().position(|&b| b == b'\n').unwrap() + 1..payload.len() - 2];
        let mut lines = Vec::new();
        let mut raw = |args: &[&[u8]]| {
            c.send_raw(&common::encode(args));
            text(c.read_reply())
        };
        lines.push(raw(&[b"RESTORE-ASKING", b"copy", b"0", payload]));
        lines.push(raw(&[b"RESTORE-ASKING", b"copy", b"0", payload]));
        lines.push(raw(&[
            b"RESTORE-ASKING",
            b"copy",
            b"0",
            payload,
            b"REPLACE",
        ]));
        lines.push(raw(&[b"GET", b"copy"]));
        let mut c = Client::connect(port);
        let info = cmds(&[
            "COMMAND GETKEYS MIGRATE host 1 key 0 10",
            "COMMAND GETKEYS MIGRATE host 1 ~ 0 10 COPY AUTH pw KEYS k1 k2",
            "COMMAND GETKEYS MIGRATE host 1 ~ 0 10 AUTH2 user pw REPLACE KEYS k1",
            "COMMAND GETKEYSANDFLAGS MIGRATE host 1 key 0 10",
            "COMMAND INFO migrate restore-asking",
            "CONFIG SET slowlog-log-slower-than 0",
            "SLOWLOG RESET",
            "MIGRATE 127.0.0.1 1 nokey 0 10 AUTH secret",
            "MIGRATE 127.0.0.1 1 nokey 0 10 COPY AUTH2 user secret",
            "CONFIG SET slowlog-log-slower-than 10000",
        ]);
        lines.extend(transcript(&mut c, &info));
        let log = text(c.cmd("SLOWLOG GET 3"));
        lines.push(format!(
            "slowlog hides secrets: {}",
            !log.contains("secret")
        ));
        lines.push(format!(
            "redacted three times: {}",
            log.matches("(redacted)").count() == 3
        ));
        lines
    });
}

/// MIGRATE is written to the append-only file as a DEL of the keys that moved.
#[test]
fn the_aof_gets_a_del_of_the_moved_keys() {
    let mut server = Server::start(&[
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
        "--save",
        "",
    ]);
    let target = Server::start(&[]);
    let mut c = Client::connect(server.port);
    c.cmd("SET moved 1");
    c.cmd("SET kept 2");
    let reply = c.cmd_args(&[
        "MIGRATE",
        "127.0.0.1",
        &target.port.to_string(),
        "moved",
        "0",
        "5000",
    ]);
    assert_eq!(text(reply), "+OK\r\n");
    drop(c);
    server.signal_and_wait(libc::SIGKILL);
    let dir = std::mem::take(&mut server.dir);
    let again = Server::start_in(dir, |cmd| {
        cmd.args(["--appendonly", "yes", "--save", ""]);
    });
    let mut c = Client::connect(again.port);
    assert_eq!(c.int("EXISTS moved"), 0);
    assert_eq!(c.int("EXISTS kept"), 1);
}
