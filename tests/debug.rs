//! DEBUG: refused by default as in Redis 7, and with `enable-debug-command yes` the
//! subcommands tests and tools use, against redis-server 7.0 (DIGEST must be Redis's own
//! digest of the same data).

mod common;

use common::{Client, Rng, Server, start_redis_with, text};

const ENABLE: [&str; 2] = ["--enable-debug-command", "yes"];

/// Runs `scenario` on our server and redis-server, both with DEBUG enabled; the
/// transcripts must be equal.
fn same_with_debug(scenario: impl Fn(u16) -> Vec<String>) {
    let ours = Server::start(&ENABLE);
    let got = scenario(ours.port);
    if let Some(redis) = start_redis_with(&ENABLE) {
        let want = scenario(redis.port);
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert_eq!(g, w, "line {i}");
        }
        assert_eq!(got.len(), want.len());
    }
}

#[test]
fn debug_is_refused_unless_enabled() {
    common::same_on_both(|port| {
        let mut c = Client::connect(port);
        vec![text(c.cmd("DEBUG DIGEST")), text(c.cmd("DEBUG HELP"))]
    });
}

/// The same data, written in the same order, gives Redis's digest: strings (raw and
/// integer), lists, sets (int and string members), hashes and zsets in both encodings,
/// streams, TTLs and several databases.
#[test]
fn digest_is_redis_digest() {
    same_with_debug(|port| {
        let mut c = Client::connect(port);
        let mut t = Vec::new();
        t.push(text(c.cmd("DEBUG DIGEST")));
        let mut rng = Rng(7);
        for i in 0..60 {
            let k = format!("k{i}");
            let n = rng.below(300);
            match i % 6 {
                0 => {
                    c.cmd_args(&["SET", &k, &format!("v{n}")]);
                    c.cmd_args(&["SET", &format!("int{i}"), &n.to_string()]);
                }
                1 => {
                    for j in 0..n {
                        c.cmd_args(&["RPUSH", &k, &format!("e{}", j % 17)]);
                    }
                }
                2 => {
                    for j in 0..n {
                        let m = if j % 2 == 0 {
                            j.to_string()
                        } else {
                            format!("m{j}")
                        };
                        c.cmd_args(&["SADD", &k, &m]);
                    }
                    c.cmd_args(&["SADD", &format!("ints{i}"), "1", "2", "300000"]);
                }
                3 => {
                    for j in 0..n {
                        c.cmd_args(&["HSET", &k, &format!("f{j}"), &format!("{}", j * 3)]);
                    }
                }
                4 => {
                    for j in 0..n {
                        let score = format!("{}", (j as f64) / 3.0 - 7.5);
                        c.cmd_args(&["ZADD", &k, &score, &format!("z{j}")]);
                    }
                    c.cmd_args(&[
                        "ZADD",
                        &format!("inf{i}"),
                        "inf",
                        "a",
                        "-inf",
                        "b",
                        "0",
                        "1",
                    ]);
                }
                _ => {
                    for j in 0..n.min(50) {
                        c.cmd_args(&[
                            "XADD",
                            &k,
                            &format!("{}-{}", j + 1, j % 3),
                            "f",
                            "v",
                            "g",
                            &j.to_string(),
                        ]);
                    }
                }
            }
            if i % 7 == 0 {
                c.cmd_args(&["EXPIRE", &k, "1000"]);
            }
        }
        t.push(text(c.cmd("DEBUG DIGEST")));
        c.cmd("SELECT 3");
        c.cmd("SET other db");
        t.push(text(c.cmd("DEBUG DIGEST")));
        t.push(text(c.cmd("DEBUG DIGEST-VALUE other nosuch")));
        c.cmd("SELECT 0");
        let keys: Vec<String> = (0..60).map(|i| format!("k{i}")).collect();
        let mut args = vec!["DEBUG", "DIGEST-VALUE"];
        args.extend(keys.iter().map(String::as_str));
        t.push(text(c.cmd_args(&args)));
        t
    });
}

#[test]
fn debug_subcommands_as_redis() {
    same_with_debug(|port| {
        let mut c = Client::connect(port);
        let mut t = Vec::new();
        for line in [
            "DEBUG",
            "DEBUG NOSUCH",
            "DEBUG ERROR \"MYERR something\"",
            "DEBUG LOG hello",
            "DEBUG SLEEP 0",
            "DEBUG SLEEP 0.01",
            "DEBUG SET-ACTIVE-EXPIRE 1",
            "DEBUG OBJECT nosuch",
            "DEBUG PROTOCOL string",
            "DEBUG PROTOCOL integer",
            "DEBUG PROTOCOL double",
            "DEBUG PROTOCOL bignum",
            "DEBUG PROTOCOL null",
            "DEBUG PROTOCOL array",
            "DEBUG PROTOCOL set",
            "DEBUG PROTOCOL map",
            "DEBUG PROTOCOL attrib",
            "DEBUG PROTOCOL push",
            "DEBUG PROTOCOL true",
            "DEBUG PROTOCOL verbatim",
            "DEBUG PROTOCOL nosuch",
            "DEBUG RELOAD BADOPTION",
        ] {
            t.push(text(c.cmd(line)));
        }
        c.cmd("HELLO 3");
        for name in [
            "double", "bignum", "null", "set", "map", "attrib", "push", "true", "false", "verbatim",
        ] {
            t.push(text(c.cmd_args(&["DEBUG", "PROTOCOL", name])));
            if name == "push" {
                t.push(text(c.read_reply()));
            }
        }
        t
    });
}

#[test]
fn object_line_has_redis_fields() {
    let ours = Server::start(&ENABLE);
    let mut c = ours.client();
    c.cmd("SET k 12345");
    let line = text(c.cmd("DEBUG OBJECT k"));
    assert!(line.starts_with("+Value at:0x"), "{line}");
    assert!(
        line.contains(" refcount:1 encoding:int serializedlength:"),
        "{line}"
    );
    assert!(line.contains(" lru_seconds_idle:"), "{line}");
    c.cmd("RPUSH big a b c");
    let line = text(c.cmd("DEBUG OBJECT big"));
    // Redis 7.0 reports every list as a quicklist, with its nodes.
    assert!(line.contains("encoding:quicklist"), "{line}");
    assert!(line.ends_with(" ql_nodes:1 ql_avg_node:3.00 ql_listpack_max:-2 ql_compressed:0 ql_uncompressed_size:16\r\n"), "{line}");
}

/// RELOAD saves, empties and loads back: the digest is unchanged; NOSAVE loads the file
/// as it is; a key written meanwhile goes, and MERGE keeps what is not in the file.
#[test]
fn reload_keeps_the_dataset() {
    let dir = common::fresh_dir("debug-reload");
    let ours = Server::start_in(dir, |cmd| {
        cmd.args(ENABLE).args(["--save", ""]);
    });
    let mut c = ours.client();
    c.cmd("SET a 1");
    c.cmd("RPUSH l x y z");
    c.cmd("HSET h f v");
    c.cmd("EXPIRE a 1000");
    let before = c.cmd("DEBUG DIGEST");
    assert_eq!(c.cmd("DEBUG RELOAD"), b"+OK\r\n");
    assert_eq!(c.cmd("DEBUG DIGEST"), before);
    assert!(c.int("TTL a") > 990);
    c.cmd("SET later 1");
    assert_eq!(c.cmd("DEBUG RELOAD NOSAVE"), b"+OK\r\n");
    assert_eq!(c.cmd("EXISTS later"), b":0\r\n");
    assert_eq!(c.cmd("DEBUG DIGEST"), before);
    c.cmd("SET later 1");
    c.cmd("SET a changed");
    assert_eq!(c.cmd("DEBUG RELOAD NOSAVE NOFLUSH MERGE"), b"+OK\r\n");
    assert_eq!(c.cmd("GET a"), b"$1\r\n1\r\n");
    assert_eq!(c.cmd("EXISTS later"), b":1\r\n");
    // Without MERGE, a key in both is a load error, as in Redis.
    assert_eq!(
        text(c.cmd("DEBUG RELOAD NOSAVE NOFLUSH")),
        "-ERR Error trying to load the RDB dump\r\n"
    );
    assert_eq!(c.cmd("PING"), b"+PONG\r\n");
}

#[test]
fn set_active_expire_leaves_keys_until_touched() {
    let ours = Server::start(&ENABLE);
    let mut c = ours.client();
    c.cmd("DEBUG SET-ACTIVE-EXPIRE 0");
    c.cmd("SET k v PX 1");
    c.cmd("SET other v");
    // Without the cycle the expired key stays counted until something looks it up.
    let deadline = std::time::Instant::now() + std::time::Duration::from_millis(200);
    while std::time::Instant::now() < deadline {
        assert_eq!(c.cmd("DBSIZE"), b":2\r\n");
    }
    assert_eq!(c.cmd("GET k"), b"$-1\r\n");
    assert_eq!(c.cmd("DBSIZE"), b":1\r\n");
    c.cmd("DEBUG SET-ACTIVE-EXPIRE 1");
    c.cmd("SET k2 v PX 1");
    let gone = common::wait_for(std::time::Duration::from_secs(5), || {
        (c.cmd("DBSIZE") == b":1\r\n").then_some(())
    });
    assert!(gone.is_some(), "the cycle expires keys again");
}

#[test]
fn populate_as_redis() {
    same_with_debug(|port| {
        let mut c = Client::connect(port);
        let mut t = Vec::new();
        c.cmd("SET key:2 mine");
        for line in [
            "DEBUG POPULATE 5",
            "DEBUG POPULATE 3 p",
            "DEBUG POPULATE 4 sized 3",
            "DEBUG POPULATE 2 long 12",
            "DEBUG POPULATE 0",
            "DEBUG POPULATE -1",
            "DEBUG POPULATE x",
            "DEBUG POPULATE 2 q -3",
            "DEBUG POPULATE 2 q y",
            "DEBUG POPULATE 1 a b c",
        ] {
            t.push(format!("{line} -> {}", text(c.cmd(line))));
        }
        for key in [
            "key:0", "key:2", "key:4", "key:5", "p:2", "sized:0", "sized:3", "long:1",
        ] {
            t.push(format!("{key} = {}", text(c.cmd(&format!("GET {key}")))));
        }
        t.push(text(c.cmd("DBSIZE")));
        // The key name is cut where Redis's 128-byte buffer ends.
        let prefix = "x".repeat(200);
        t.push(text(c.cmd_args(&["DEBUG", "POPULATE", "1", &prefix])));
        t.push(text(c.cmd_args(&["KEYS", "xxx*"])));
        t
    });
}

#[test]
fn skip_checksum_validation_lets_restore_take_a_bad_crc() {
    same_with_debug(|port| {
        let mut c = Client::connect(port);
        let mut t = Vec::new();
        c.cmd("RPUSH l a b c");
        let dump = match common::parse(&c.cmd("DUMP l")) {
            common::Resp::Bulk(Some(d)) => d,
            other => panic!("DUMP: {other:?}"),
        };
        let mut bad = dump.clone();
        let last = bad.len() - 1;
        bad[last] ^= 0xff;
        t.push(text(c.call(&[b"RESTORE", b"l2", b"0", &bad])));
        t.push(text(c.cmd("DEBUG SET-SKIP-CHECKSUM-VALIDATION 1")));
        t.push(text(c.call(&[b"RESTORE", b"l2", b"0", &bad])));
        t.push(text(c.cmd("LRANGE l2 0 -1")));
        t.push(text(c.cmd("DEBUG SET-SKIP-CHECKSUM-VALIDATION 0")));
        t.push(text(c.call(&[b"RESTORE", b"l3", b"0", &bad])));
        t
    });
}

#[test]
fn lists_work_with_every_element_in_its_own_node() {
    same_with_debug(|port| {
        let mut c = Client::connect(port);
        let mut t = Vec::new();
        for line in [
            "DEBUG QUICKLIST-PACKED-THRESHOLD 5gb",
            "DEBUG QUICKLIST-PACKED-THRESHOLD 1x",
            "DEBUG QUICKLIST-PACKED-THRESHOLD 1b",
        ] {
            t.push(text(c.cmd(line)));
        }
        let mut rng = Rng(7);
        for i in 0..300 {
            let v = format!("v{}", rng.below(20));
            let line = match rng.below(8) {
                0 => format!("LPUSH l {v} {i}"),
                1 => format!("RPUSH l {v}"),
                2 => format!("LINSERT l BEFORE v{} x{i}", rng.below(20)),
                3 => format!("LSET l {} s{i}", rng.signed(10)),
                4 => format!("LREM l {} {v}", rng.signed(2)),
                5 => format!("LPOS l {v} RANK -1"),
                6 => "RPOP l".to_string(),
                _ => format!("LRANGE l {} {}", rng.signed(5), rng.signed(5)),
            };
            t.push(text(c.cmd(&line)));
        }
        t.push(text(c.cmd("LRANGE l 0 -1")));
        t.push(text(c.cmd("DEBUG QUICKLIST-PACKED-THRESHOLD 0")));
        t
    });
}

#[test]
fn structure_subcommands_check_the_encoding() {
    same_with_debug(|port| {
        let mut c = Client::connect(port);
        c.cmd("RPUSH l a b");
        c.cmd("HSET h f v");
        c.cmd("SET s v");
        [
            "DEBUG LISTPACK h",
            "DEBUG LISTPACK l",
            "DEBUG LISTPACK nosuch",
            "DEBUG QUICKLIST l",
            "DEBUG QUICKLIST l 1",
            "DEBUG QUICKLIST h",
            "DEBUG QUICKLIST s",
            "DEBUG STRINGMATCH-TEST",
        ]
        .iter()
        .map(|line| format!("{line} -> {}", text(c.cmd(line))))
        .collect()
    });
}
