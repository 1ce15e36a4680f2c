//! DUMP and RESTORE against redis-server 7.0, the raw replies compared in RESP2 and RESP3:
//! every RESTORE error path in Redis's order and words (BUSYKEY, TTL checks, footer checks,
//! bodies Redis refuses, option syntax, arity), TTLs already past with and without REPLACE,
//! IDLETIME and FREQ read back through OBJECT. Then values of every type and encoding cross
//! between the two servers both ways, and what each side reads back (and the encoding) must
//! equal the original. Last, hostile payloads (absurd claimed lengths, every truncation of
//! real payloads, an LZF bomb) are refused by rust-keyval, which stays up and small.

mod common;

use common::{Client, Resp, Rng, Server, parse, same_on_both, sorted, text};
use rust_keyval::persist::crc64::crc64;
use rust_keyval::persist::rdb;

/// `body` followed by the footer: RDB version `version` and the CRC64 of all before it.
fn footer_with(mut body: Vec<u8>, version: u16) -> Vec<u8> {
    body.extend_from_slice(&version.to_le_bytes());
    let crc = crc64(0, &body);
    body.extend_from_slice(&crc.to_le_bytes());
    body
}

/// `body` sealed as Redis 7.0 seals a DUMP payload (version 10).
fn seal(body: Vec<u8>) -> Vec<u8> {
    footer_with(body, 10)
}

/// A string value's payload.
fn string_payload(s: &[u8]) -> Vec<u8> {
    let mut body = vec![rdb::TYPE_STRING];
    rdb::save_string(&mut body, s);
    seal(body)
}

/// An RDB length in its encoded form.
fn len(n: u64) -> Vec<u8> {
    let mut out = Vec::new();
    rdb::save_len(&mut out, n);
    out
}

/// The body of a payload (without its 10-byte footer).
fn body_of(payload: &[u8]) -> Vec<u8> {
    payload[..payload.len() - 10].to_vec()
}

/// The bulk string of a reply.
fn bulk(raw: &[u8]) -> Vec<u8> {
    match parse(raw) {
        Resp::Bulk(Some(b)) => b,
        other => panic!("not a bulk string: {other:?}"),
    }
}

/// An integer reply's value.
fn int_of(raw: &[u8]) -> i64 {
    text(raw)
        .strip_prefix(':')
        .and_then(|v| v.trim_end().parse().ok())
        .unwrap_or_else(|| panic!("not an integer: {:?}", text(raw)))
}

/// Sends `args`, and records them (the first two) with the raw reply in `t`.
fn run(c: &mut Client, t: &mut Vec<String>, args: &[&[u8]]) {
    let r = text(c.call(args));
    let head: Vec<String> = args.iter().take(2).map(text).collect();
    t.push(format!("{head:?} => {r}"));
}

/// Every error path of RESTORE (and DUMP's nil), in RESP2 and RESP3, the same on both
/// servers.
#[test]
fn restore_errors_and_options_match_redis() {
    let good = string_payload(b"hello");
    let mut bad_crc = good.clone();
    *bad_crc.last_mut().unwrap() ^= 0x5A;
    let mut bad_body_crc = good.clone();
    bad_body_crc[2] ^= 1;
    let version_11 = footer_with(body_of(&good), 11);
    let version_9 = footer_with(body_of(&good), 9);
    let mut trailing = body_of(&good);
    trailing.extend_from_slice(b"extra bytes");
    let trailing = seal(trailing);
    // Valid footers over bodies that are not an object.
    let garbage: Vec<Vec<u8>> = vec![
        seal(Vec::new()),
        seal(vec![200, 1, 2, 3]),
        seal(vec![rdb::TYPE_STRING]),
        seal(vec![rdb::TYPE_STRING, 0x05, b'a']),
        seal(vec![rdb::TYPE_LIST_QUICKLIST_2, 1, 2, 3, 1, 2]),
        seal(vec![
            rdb::TYPE_SET_INTSET,
            0x0C,
            3,
            0,
            0,
            0,
            1,
            0,
            0,
            0,
            1,
            0,
            0,
        ]),
        seal(vec![rdb::TYPE_MODULE_2, 0, 0]),
        seal(b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff".to_vec()),
    ];
    // Empty collections: Redis refuses them ("empty keys").
    let mut empty_intset = vec![rdb::TYPE_SET_INTSET, 8];
    empty_intset.extend_from_slice(&[2, 0, 0, 0, 0, 0, 0, 0]);
    let empty: Vec<Vec<u8>> = vec![
        seal(vec![rdb::TYPE_SET, 0]),
        seal(vec![rdb::TYPE_LIST, 0]),
        seal(vec![rdb::TYPE_LIST_QUICKLIST_2, 0]),
        seal(vec![rdb::TYPE_HASH, 0]),
        seal(vec![rdb::TYPE_ZSET_2, 0]),
        seal(empty_intset),
    ];
    same_on_both(|port| {
        let mut t = Vec::new();
        for proto in ["2", "3"] {
            let mut c = Client::connect(port);
            t.push(
                text(c.cmd(&format!("HELLO {proto}")))
                    .lines()
                    .count()
                    .to_string(),
            );
            c.cmd("FLUSHALL");
            let g: &[u8] = &good;
            run(&mut c, &mut t, &[b"SET", b"k", b"v"]);
            // The key exists: BUSYKEY comes before any other check.
            run(&mut c, &mut t, &[b"RESTORE", b"k", b"0", g]);
            run(&mut c, &mut t, &[b"RESTORE", b"k", b"abc", b"junk"]);
            run(&mut c, &mut t, &[b"RESTORE", b"k", b"0", g, b"BOGUS"]);
            // TTL checks, then the footer.
            run(&mut c, &mut t, &[b"RESTORE", b"n", b"abc", g]);
            run(&mut c, &mut t, &[b"RESTORE", b"n", b"1.5", g]);
            run(&mut c, &mut t, &[b"RESTORE", b"n", b"-1", g]);
            run(&mut c, &mut t, &[b"RESTORE", b"n", b"-1", b"short"]);
            run(&mut c, &mut t, &[b"RESTORE", b"n", b"0", b"short"]);
            run(&mut c, &mut t, &[b"RESTORE", b"n", b"0", b""]);
            run(&mut c, &mut t, &[b"RESTORE", b"n", b"0", &bad_crc]);
            run(&mut c, &mut t, &[b"RESTORE", b"n", b"0", &bad_body_crc]);
            run(&mut c, &mut t, &[b"RESTORE", b"n", b"0", &version_11]);
            for p in garbage.iter().chain(&empty) {
                run(&mut c, &mut t, &[b"RESTORE", b"n", b"0", p]);
                run(&mut c, &mut t, &[b"EXISTS", b"n"]);
                run(&mut c, &mut t, &[b"TYPE", b"n"]);
                run(&mut c, &mut t, &[b"DEL", b"n"]);
            }
            // An older version is read; bytes after the object are ignored, as in Redis.
            run(&mut c, &mut t, &[b"RESTORE", b"n", b"0", &version_9]);
            run(&mut c, &mut t, &[b"GET", b"n"]);
            run(&mut c, &mut t, &[b"RESTORE", b"n2", b"0", &trailing]);
            run(&mut c, &mut t, &[b"GET", b"n2"]);
            run(
                &mut c,
                &mut t,
                &[b"RESTORE", b"n2", b"0", &trailing, b"REPLACE"],
            );
            // Options.
            for opts in [
                &[&b"BOGUS"[..]][..],
                &[b"IDLETIME"],
                &[b"FREQ"],
                &[b"REPLACE", b"IDLETIME"],
                &[b"IDLETIME", b"10", b"FREQ", b"5"],
                &[b"FREQ", b"5", b"IDLETIME", b"10"],
                &[b"FREQ", b"256"],
                &[b"FREQ", b"-1"],
                &[b"FREQ", b"x"],
                &[b"IDLETIME", b"-1"],
                &[b"IDLETIME", b"1.5"],
                &[b"IDLETIME", b"-1", b"BOGUS"],
                &[b"REPLACE", b"ABSTTL", b"BOGUS"],
                &[b"replace", b"absttl", b"idletime", b"5", b"x"],
            ] {
                let mut args: Vec<&[u8]> = vec![b"RESTORE", b"o", b"0", g];
                args.extend_from_slice(opts);
                run(&mut c, &mut t, &args);
            }
            // Option errors come before the TTL's and the payload's.
            run(
                &mut c,
                &mut t,
                &[b"RESTORE", b"o", b"x", b"junk", b"FREQ", b"300"],
            );
            run(&mut c, &mut t, &[b"EXISTS", b"o"]);
            // Arity.
            run(&mut c, &mut t, &[b"RESTORE"]);
            run(&mut c, &mut t, &[b"RESTORE", b"k"]);
            run(&mut c, &mut t, &[b"RESTORE", b"k", b"0"]);
            run(&mut c, &mut t, &[b"DUMP"]);
            run(&mut c, &mut t, &[b"DUMP", b"a", b"b"]);
            // DUMP of a missing key: nil in both protocols.
            run(&mut c, &mut t, &[b"DUMP", b"nosuchkey"]);
            // A TTL already past: OK, and no key; with REPLACE the old key is gone too.
            // A relative TTL that overflows when the time is added is already past.
            let max = i64::MAX.to_string();
            run(&mut c, &mut t, &[b"RESTORE", b"ov", max.as_bytes(), g]);
            run(&mut c, &mut t, &[b"EXISTS", b"ov"]);
            run(
                &mut c,
                &mut t,
                &[b"RESTORE", b"ov", max.as_bytes(), g, b"ABSTTL"],
            );
            run(&mut c, &mut t, &[b"EXISTS", b"ov"]);
            run(&mut c, &mut t, &[b"RESTORE", b"p", b"1", g, b"ABSTTL"]);
            run(&mut c, &mut t, &[b"EXISTS", b"p"]);
            run(&mut c, &mut t, &[b"SET", b"p", b"old"]);
            run(&mut c, &mut t, &[b"RESTORE", b"p", b"1", g, b"ABSTTL"]);
            run(&mut c, &mut t, &[b"GET", b"p"]);
            run(
                &mut c,
                &mut t,
                &[b"RESTORE", b"p", b"1", g, b"ABSTTL", b"REPLACE"],
            );
            run(&mut c, &mut t, &[b"EXISTS", b"p"]);
            // REPLACE over another type.
            run(&mut c, &mut t, &[b"RPUSH", b"l", b"a"]);
            run(&mut c, &mut t, &[b"RESTORE", b"l", b"0", g, b"REPLACE"]);
            run(&mut c, &mut t, &[b"TYPE", b"l"]);
            run(&mut c, &mut t, &[b"TTL", b"l"]);
            // A relative TTL, then an absolute one in the future.
            run(&mut c, &mut t, &[b"RESTORE", b"t", b"5000", g]);
            let pttl = int_of(&c.cmd("PTTL t"));
            t.push(format!("pttl in range: {}", (4000..=5000).contains(&pttl)));
            let now_ms = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis() as u64;
            let at = (now_ms + 100_000).to_string();
            run(
                &mut c,
                &mut t,
                &[b"RESTORE", b"t2", at.as_bytes(), g, b"ABSTTL"],
            );
            let pttl = int_of(&c.cmd("PTTL t2"));
            t.push(format!(
                "abs pttl in range: {}",
                (90_000..=100_000).contains(&pttl)
            ));
            // IDLETIME under the default policy.
            run(
                &mut c,
                &mut t,
                &[b"RESTORE", b"i", b"0", g, b"IDLETIME", b"1000"],
            );
            let idle = int_of(&c.cmd("OBJECT IDLETIME i"));
            t.push(format!("idle in range: {}", (1000..=1002).contains(&idle)));
            run(&mut c, &mut t, &[b"OBJECT", b"FREQ", b"i"]);
            // FREQ under an LFU policy.
            run(
                &mut c,
                &mut t,
                &[b"CONFIG", b"SET", b"maxmemory-policy", b"allkeys-lfu"],
            );
            run(
                &mut c,
                &mut t,
                &[b"RESTORE", b"f", b"0", g, b"FREQ", b"100"],
            );
            run(&mut c, &mut t, &[b"OBJECT", b"FREQ", b"f"]);
            run(
                &mut c,
                &mut t,
                &[b"RESTORE", b"f", b"0", g, b"FREQ", b"0", b"REPLACE"],
            );
            run(&mut c, &mut t, &[b"OBJECT", b"FREQ", b"f"]);
            run(
                &mut c,
                &mut t,
                &[b"RESTORE", b"f2", b"0", g, b"FREQ", b"255"],
            );
            run(&mut c, &mut t, &[b"OBJECT", b"FREQ", b"f2"]);
            run(&mut c, &mut t, &[b"OBJECT", b"IDLETIME", b"f2"]);
            run(
                &mut c,
                &mut t,
                &[b"CONFIG", b"SET", b"maxmemory-policy", b"noeviction"],
            );
            // The restored value reads back, and DUMP of it is a payload RESTORE takes.
            let again = bulk(&c.cmd("DUMP f"));
            run(&mut c, &mut t, &[b"RESTORE", b"f3", b"0", &again]);
            run(&mut c, &mut t, &[b"GET", b"f3"]);
        }
        t
    });
}

/// A value on both servers, built by the same commands.
struct Case {
    name: &'static str,
    setup: Vec<Vec<Vec<u8>>>,
}

fn cmd_of(parts: &[&[u8]]) -> Vec<Vec<u8>> {
    parts.iter().map(|p| p.to_vec()).collect()
}

fn words(line: &str) -> Vec<Vec<u8>> {
    line.split(' ').map(|w| w.as_bytes().to_vec()).collect()
}

/// `head` then `items` as one command.
fn with_items(head: &str, items: impl IntoIterator<Item = Vec<u8>>) -> Vec<Vec<u8>> {
    let mut c = words(head);
    c.extend(items);
    c
}

fn cases() -> Vec<Case> {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut binary: Vec<u8> = (0..600).map(|_| rng.below(256) as u8).collect();
    binary.extend_from_slice(b"\0\r\n\0\r\n$3\r\n");
    let compressible = [vec![b'a'; 1000], vec![b'b'; 100], b"xyz".repeat(50)].concat();
    let big_elem: Vec<u8> = (0..10_240).map(|i| b"0123456789abcdef"[i % 16]).collect();
    let long_value = vec![b'v'; 100];
    let mut cases = vec![
        Case {
            name: "int string",
            setup: vec![words("SET src 12345")],
        },
        Case {
            name: "negative int string",
            setup: vec![words("SET src -9223372036854775808")],
        },
        Case {
            name: "64-bit int string",
            setup: vec![words("SET src 4294967296")],
        },
        Case {
            name: "small int string",
            setup: vec![words("SET src 7")],
        },
        Case {
            name: "int-like string",
            setup: vec![words("SET src 007")],
        },
        Case {
            name: "empty string",
            setup: vec![cmd_of(&[b"SET", b"src", b""])],
        },
        Case {
            name: "short string",
            setup: vec![cmd_of(&[b"SET", b"src", b"hello world"])],
        },
        Case {
            name: "long compressible string",
            setup: vec![cmd_of(&[b"SET", b"src", &compressible])],
        },
        Case {
            name: "binary string",
            setup: vec![cmd_of(&[b"SET", b"src", &binary])],
        },
        Case {
            name: "appended string",
            setup: vec![words("SET src 1"), words("APPEND src 23")],
        },
        Case {
            name: "small list",
            setup: vec![cmd_of(&[
                b"RPUSH",
                b"src",
                b"a",
                b"1",
                b"-3",
                b"",
                &binary[..40],
                b"9223372036854775807",
            ])],
        },
        Case {
            name: "multi-node list",
            setup: vec![
                with_items(
                    "RPUSH src",
                    (0..1500).map(|i| format!("element-{i:06}").into_bytes()),
                ),
                cmd_of(&[b"LINSERT", b"src", b"BEFORE", b"element-000700", &big_elem]),
                with_items("RPUSH src", (0..300).map(|i| i.to_string().into_bytes())),
            ],
        },
        Case {
            name: "listpack hash",
            setup: vec![words("HSET src f1 v1 f2 2 f3 -300000 empty x")],
        },
        Case {
            name: "hashtable hash",
            setup: vec![with_items(
                "HSET src",
                (0..200).flat_map(|i| {
                    [
                        format!("field:{i}").into_bytes(),
                        format!("{}", i * 7919).into_bytes(),
                    ]
                }),
            )],
        },
        Case {
            name: "hash with a long value",
            setup: vec![cmd_of(&[
                b"HSET",
                b"src",
                b"a",
                b"1",
                b"long",
                &long_value,
                b"bin",
                &binary[..80],
            ])],
        },
        Case {
            name: "16-bit intset",
            setup: vec![words("SADD src 1 2 -3 32767 -32768")],
        },
        Case {
            name: "32-bit intset",
            setup: vec![words("SADD src 1 70000 -70000 2147483647")],
        },
        Case {
            name: "64-bit intset",
            setup: vec![words(
                "SADD src 1 5000000000 -9223372036854775808 9223372036854775807",
            )],
        },
        Case {
            name: "big intset",
            setup: vec![with_items(
                "SADD src",
                (0..500).map(|i| (i * 1_000_003 - 250_000_000i64).to_string().into_bytes()),
            )],
        },
        Case {
            name: "integer set past the intset limit",
            setup: vec![with_items(
                "SADD src",
                (0..600).map(|i| (i * 3).to_string().into_bytes()),
            )],
        },
        Case {
            name: "string set",
            setup: vec![cmd_of(&[
                b"SADD",
                b"src",
                b"a",
                b"b",
                b"",
                b"12x",
                &binary[..30],
            ])],
        },
        Case {
            name: "listpack zset",
            setup: vec![words(
                "ZADD src inf a -inf b -0 c 1e-300 d 12345678901234 e 1.5 f 0 g -2.5e10 h 3 i",
            )],
        },
        Case {
            name: "skiplist zset",
            setup: vec![
                words(
                    "ZADD src inf a -inf b -0 c 1e-300 d 12345678901234 e 1.5 f 9007199254740993 g",
                ),
                with_items(
                    "ZADD src",
                    (0..200).flat_map(|i| {
                        [
                            format!("{}", (i as f64) * 0.37 - 20.0).into_bytes(),
                            format!("m{i}").into_bytes(),
                        ]
                    }),
                ),
            ],
        },
        Case {
            name: "zset with a long member",
            setup: vec![cmd_of(&[b"ZADD", b"src", b"1", &long_value, b"2", b"x"])],
        },
    ];
    // Streams: explicit IDs, so both servers hold the same entries.
    let mut small = vec![
        words("XADD src 1-1 a 1 b 2"),
        words("XADD src 1-2 a 3 b 4"),
        words("XADD src 2-0 c 5"),
        words("XADD src 3-0 a 6 b 7"),
        words("XADD src 4-0 a 8 b 9"),
        words("XDEL src 1-2 4-0"),
    ];
    cases.push(Case {
        name: "small stream with deletions",
        setup: small.clone(),
    });
    small.push(words("XGROUP CREATE src g1 0"));
    small.push(words("XGROUP CREATE src g2 $"));
    small.push(words("XREADGROUP GROUP g1 alice COUNT 2 STREAMS src >"));
    small.push(words("XREADGROUP GROUP g1 bob COUNT 1 STREAMS src >"));
    small.push(words("XGROUP CREATECONSUMER src g2 carol"));
    small.push(words("XACK src g1 1-1"));
    cases.push(Case {
        name: "stream with groups",
        setup: small,
    });
    let mut big = vec![];
    for i in 1..=250u64 {
        if i % 3 == 0 {
            big.push(words(&format!("XADD src {i}-0 f {i} g x{i}")));
        } else {
            big.push(words(&format!("XADD src {i}-{i} other {i}")));
        }
    }
    big.push(with_items(
        "XDEL src",
        (1..=250u64).filter(|i| i % 7 == 0).map(|i| {
            let id = if i % 3 == 0 {
                format!("{i}-0")
            } else {
                format!("{i}-{i}")
            };
            id.into_bytes()
        }),
    ));
    big.push(words("XGROUP CREATE src grp 0"));
    big.push(words("XREADGROUP GROUP grp c1 COUNT 30 STREAMS src >"));
    big.push(words("XREADGROUP GROUP grp c2 COUNT 120 STREAMS src >"));
    big.push(words("XACK src grp 1-1 2-2 3-0"));
    big.push(words("XGROUP CREATE src late 200-0"));
    big.push(words("XREADGROUP GROUP late c3 COUNT 5 STREAMS src >"));
    cases.push(Case {
        name: "multi-node stream",
        setup: big,
    });
    cases.push(Case {
        name: "empty stream with a group",
        setup: vec![
            words("XGROUP CREATE src g $ MKSTREAM"),
            words("XADD src 5-5 a b"),
            words("XDEL src 5-5"),
        ],
    });
    cases.push(Case {
        name: "trimmed stream",
        setup: vec![
            with_items(
                "XADD src 10-0",
                (0..20).flat_map(|i| [format!("f{i}").into_bytes(), vec![b'z'; 100]]),
            ),
            words("XADD src 11-0 a 1"),
            words("XADD src 12-0 a 2"),
            words("XTRIM src MAXLEN 1"),
        ],
    });
    cases
}

/// XINFO STREAM FULL without radix-tree-nodes (the count of the radix tree's inner nodes
/// is an artefact of Redis's rax, not of the stream's contents).
fn xinfo_full(c: &mut Client, key: &str) -> Resp {
    let raw = c.cmd(&format!("XINFO STREAM {key} FULL"));
    match parse(&raw) {
        Resp::Agg(t, Some(items)) => {
            let kept: Vec<Resp> = items
                .chunks(2)
                .filter(|kv| kv[0] != Resp::Bulk(Some(b"radix-tree-nodes".to_vec())))
                .flat_map(<[Resp]>::to_vec)
                .collect();
            Resp::Agg(t, Some(kept))
        }
        other => other,
    }
}

/// What `key` holds, read with its type's commands, and its encoding.
fn read_back(c: &mut Client, key: &str) -> Vec<String> {
    let ty = text(c.cmd(&format!("TYPE {key}")));
    let mut out = vec![ty.clone(), text(c.cmd(&format!("OBJECT ENCODING {key}")))];
    let value = match ty.trim_end() {
        "+string" => format!("{:?}", parse(&c.cmd(&format!("GET {key}")))),
        "+list" => format!("{:?}", parse(&c.cmd(&format!("LRANGE {key} 0 -1")))),
        "+hash" => format!("{:?}", sorted(&c.cmd(&format!("HGETALL {key}")), true)),
        "+set" => format!("{:?}", sorted(&c.cmd(&format!("SMEMBERS {key}")), false)),
        "+zset" => format!(
            "{:?}",
            parse(&c.cmd(&format!("ZRANGE {key} 0 -1 WITHSCORES")))
        ),
        "+stream" => {
            out.push(format!("{:?}", parse(&c.cmd(&format!("XRANGE {key} - +")))));
            out.push(format!("{:?}", parse(&c.cmd(&format!("XLEN {key}")))));
            format!("{:?}", xinfo_full(c, key))
        }
        other => panic!("unexpected type {other}"),
    };
    out.push(value);
    out.push(text(c.cmd(&format!("TTL {key}"))));
    out
}

/// A `read_back` without the encoding.
fn without_encoding(v: &[String]) -> Vec<String> {
    let mut v = v.to_vec();
    v.remove(1);
    v
}

/// Every type and encoding crosses between the servers both ways: DUMP on one, RESTORE on
/// the other, and the copy reads back (RESP2 and RESP3) as the original does, with the
/// original's encoding.
#[test]
fn values_cross_between_servers_both_ways() {
    let ours = Server::start(&[]);
    let Some(redis) = common::start_redis() else {
        assert!(!common::tools_required(), "redis-server 7.0 is required");
        return;
    };
    let mut a = ours.client();
    let mut b = Client::connect(redis.port);
    for case in cases() {
        for c in [&mut a, &mut b] {
            c.cmd("FLUSHALL");
            for cmd in &case.setup {
                let args: Vec<&[u8]> = cmd.iter().map(Vec::as_slice).collect();
                let r = c.call(&args);
                assert!(
                    !r.starts_with(b"-"),
                    "{}: setup failed: {}",
                    case.name,
                    text(r)
                );
            }
        }
        let from_ours = bulk(&a.cmd("DUMP src"));
        let from_redis = bulk(&b.cmd("DUMP src"));
        for (c, payload) in [(&mut a, &from_redis), (&mut b, &from_ours)] {
            let r = text(c.call(&[b"RESTORE", b"dst", b"0", payload]));
            assert_eq!(
                r, "+OK\r\n",
                "{}: RESTORE of the other server's payload",
                case.name
            );
            // Each server also takes its own payload back, without and with a TTL.
            let own = bulk(&c.cmd("DUMP src"));
            let r = text(c.call(&[b"RESTORE", b"self", b"0", &own]));
            assert_eq!(r, "+OK\r\n", "{}: RESTORE of its own payload", case.name);
            let r = text(c.call(&[b"RESTORE", b"ttl", b"100000", &own]));
            assert_eq!(r, "+OK\r\n", "{}: RESTORE with a TTL", case.name);
        }
        for proto in ["2", "3"] {
            for c in [&mut a, &mut b] {
                c.cmd(&format!("HELLO {proto}"));
            }
            let what = |dir: &str| format!("{} (RESP{proto}): {dir}", case.name);
            // Redis restoring its own payload: how a restored copy reads, encoding included
            // (RESTORE re-encodes, so a string built by APPEND comes back as an integer).
            let want = read_back(&mut b, "self");
            let original = read_back(&mut b, "src");
            assert_eq!(
                without_encoding(&want),
                without_encoding(&original),
                "{}",
                what("redis's copy")
            );
            assert_eq!(read_back(&mut a, "dst"), want, "{}", what("redis -> ours"));
            // Stream delivery and seen times are each server's own: ours -> redis is compared
            // with ours restoring its own payload, which carries the same times.
            let ours_self = read_back(&mut a, "self");
            assert_eq!(
                read_back(&mut b, "dst"),
                ours_self,
                "{}",
                what("ours -> redis")
            );
            let ours_src = read_back(&mut a, "src");
            assert_eq!(
                without_encoding(&ours_self),
                without_encoding(&ours_src),
                "{}",
                what("ours -> ours")
            );
            if !case.name.contains("group") && !case.name.contains("multi-node stream") {
                assert_eq!(ours_self, want, "{}", what("the copies"));
                assert_eq!(ours_src, original, "{}", what("the originals"));
            }
            for c in [&mut a, &mut b] {
                let ttl = int_of(&c.cmd("PTTL ttl"));
                assert!(
                    (99_000..=100_000).contains(&ttl),
                    "{}: PTTL {ttl}",
                    case.name
                );
            }
        }
        for c in [&mut a, &mut b] {
            c.cmd("HELLO 2");
        }
        // A restored stream takes new entries where the original does.
        if text(b.cmd("TYPE src")) == "+stream\r\n" {
            let want = text(b.cmd("XADD src 1000-0 k v"));
            for c in [&mut a, &mut b] {
                assert_eq!(text(c.cmd("XADD dst 1000-0 k v")), want, "{}", case.name);
            }
        }
    }
}

/// The reply to a hostile RESTORE must be "Bad data format", nothing is created, and the
/// server still answers.
fn refused(c: &mut Client, payload: &[u8], what: &str) {
    let r = text(c.call(&[b"RESTORE", b"h", b"0", payload]));
    assert_eq!(r, "-ERR Bad data format\r\n", "{what}");
    assert_eq!(text(c.cmd("EXISTS h")), ":0\r\n", "{what}");
    assert_eq!(text(c.cmd("PING")), "+PONG\r\n", "{what}");
}

/// Claimed lengths of 2^32 and 2^64 elements (valid CRCs), every truncation of real
/// payloads (with recomputed footers) and a string claiming 1 GB of LZF output: all refused
/// quickly, without the memory their lengths claim, and the server stays up.
#[test]
fn hostile_payloads_are_refused() {
    let mut server = Server::start(&[]);
    let mut c = server.client();
    let before = common::peak_rss(server.child.id());
    let huge = [u64::from(u32::MAX), 1 << 32, u64::MAX >> 1, u64::MAX];
    for n in huge {
        for ty in [
            rdb::TYPE_LIST,
            rdb::TYPE_SET,
            rdb::TYPE_ZSET,
            rdb::TYPE_ZSET_2,
            rdb::TYPE_HASH,
            rdb::TYPE_LIST_QUICKLIST,
            rdb::TYPE_LIST_QUICKLIST_2,
            rdb::TYPE_STREAM_LISTPACKS,
            rdb::TYPE_STREAM_LISTPACKS_2,
        ] {
            let mut body = vec![ty];
            body.extend(len(n));
            body.extend_from_slice(&[0x01, b'a', 0x01, b'b', 0, 0, 0, 0, 0, 0, 0, 0]);
            refused(
                &mut c,
                &seal(body),
                &format!("type {ty} claiming {n} elements"),
            );
        }
        // A string claiming n bytes, and packed blobs claiming n bytes.
        for ty in [
            rdb::TYPE_STRING,
            rdb::TYPE_SET_INTSET,
            rdb::TYPE_HASH_LISTPACK,
            rdb::TYPE_ZSET_LISTPACK,
            rdb::TYPE_HASH_ZIPLIST,
        ] {
            let mut body = vec![ty];
            body.extend(len(n));
            body.extend_from_slice(b"abc");
            refused(
                &mut c,
                &seal(body),
                &format!("type {ty}: a {n}-byte string"),
            );
        }
        // Inside a stream: a group count, a PEL count, a consumer count claiming n.
        for at in 0..3 {
            let mut body = vec![rdb::TYPE_STREAM_LISTPACKS_2, 0];
            body.extend(len(0)); // length
            body.extend([0, 0, 0, 0, 0, 0]); // last, first, max deleted IDs
            body.extend(len(0)); // entries added
            if at == 0 {
                body.extend(len(n));
            } else {
                body.extend(len(1));
                body.extend_from_slice(&[1, b'g', 0, 0, 0]);
                body.extend(len(n));
                if at == 2 {
                    body.truncate(body.len() - len(n).len());
                    body.extend(len(0));
                    body.extend(len(n));
                }
            }
            body.extend_from_slice(&[0; 20]);
            refused(
                &mut c,
                &seal(body),
                &format!("stream count {at} claiming {n}"),
            );
        }
    }
    // An intset header claiming 2^32 - 1 members, and a listpack claiming 65535 elements and
    // 4 GB.
    let mut intset = vec![rdb::TYPE_SET_INTSET, 12, 2, 0, 0, 0, 0xff, 0xff, 0xff, 0xff];
    intset.extend_from_slice(&[1, 0]);
    refused(&mut c, &seal(intset), "intset claiming 2^32 - 1 members");
    let lp = vec![
        rdb::TYPE_HASH_LISTPACK,
        10,
        0xff,
        0xff,
        0xff,
        0xff,
        0xff,
        0xff,
        0x81,
        b'a',
        0x81,
        b'b',
    ];
    refused(&mut c, &seal(lp), "listpack claiming 4 GB");
    // LZF strings claiming 1 GB (and 2^32) of output from a few bytes.
    for claimed in [1u64 << 30, 1 << 32, u64::MAX] {
        for ty in [
            rdb::TYPE_STRING,
            rdb::TYPE_HASH_LISTPACK,
            rdb::TYPE_LIST_QUICKLIST_2,
        ] {
            let mut body = vec![ty];
            if ty == rdb::TYPE_LIST_QUICKLIST_2 {
                body.extend_from_slice(&[1, 2]);
            }
            body.push(0xC3);
            body.extend(len(4));
            body.extend(len(claimed));
            body.extend_from_slice(&[0, b'a', 0xE0, 0xFF]);
            refused(
                &mut c,
                &seal(body),
                &format!("LZF bomb of {claimed} bytes in type {ty}"),
            );
        }
    }
    // Every prefix of real payloads, with valid footers.
    let samples: Vec<(&str, Vec<Vec<Vec<u8>>>)> = vec![
        ("string", vec![cmd_of(&[b"SET", b"v", &[b'x'; 600]])]),
        (
            "list",
            vec![with_items(
                "RPUSH v",
                (0..400).map(|i| format!("e{i}").into_bytes()),
            )],
        ),
        (
            "hash",
            vec![
                words("HSET v a 1 b 2 c 3"),
                with_items(
                    "HSET v",
                    (0..150)
                        .flat_map(|i| [format!("f{i}").into_bytes(), format!("{i}").into_bytes()]),
                ),
            ],
        ),
        ("small hash", vec![words("HSET v a 1 b hello c -3")]),
        ("intset", vec![words("SADD v 1 2 3 70000 -5000000000")]),
        ("set", vec![words("SADD v a b c d e f")]),
        ("zset", vec![words("ZADD v 1 a 2 b inf c -0 d 1.5 e")]),
        (
            "big zset",
            vec![with_items(
                "ZADD v",
                (0..150)
                    .flat_map(|i| [format!("{i}.25").into_bytes(), format!("m{i}").into_bytes()]),
            )],
        ),
        (
            "stream",
            vec![
                words("XADD v 1-1 a 1 b 2"),
                words("XADD v 2-1 a 1 b 2"),
                words("XADD v 3-1 c 1"),
                words("XDEL v 2-1"),
                words("XGROUP CREATE v g 0"),
                words("XREADGROUP GROUP g alice COUNT 1 STREAMS v >"),
                words("XGROUP CREATECONSUMER v g bob"),
            ],
        ),
    ];
    for (name, setup) in samples {
        c.cmd("DEL v");
        for cmd in &setup {
            let args: Vec<&[u8]> = cmd.iter().map(Vec::as_slice).collect();
            c.call(&args);
        }
        let body = body_of(&bulk(&c.cmd("DUMP v")));
        let mut accepted = 0;
        for cut in 0..body.len() {
            let payload = seal(body[..cut].to_vec());
            let what = format!("{name} cut at {cut} of {}", body.len());
            let r = text(c.call(&[b"RESTORE", b"h", b"0", &payload]));
            if r == "+OK\r\n" {
                // The object ended inside the footer, which Redis reads as the object's last
                // bytes: what loaded must be a sound value.
                accepted += 1;
                read_back(&mut c, "h");
                let again = bulk(&c.cmd("DUMP h"));
                let r = text(c.call(&[b"RESTORE", b"h2", b"0", &again]));
                assert_eq!(r, "+OK\r\n", "{what}: DUMP of the accepted value");
                c.cmd("DEL h h2");
            } else {
                assert_eq!(r, "-ERR Bad data format\r\n", "{what}");
                assert_eq!(text(c.cmd("EXISTS h")), ":0\r\n", "{what}");
            }
            assert_eq!(text(c.cmd("PING")), "+PONG\r\n", "{what}");
        }
        // Which cuts are accepted depends on the footer's bytes; most must be refused.
        assert!(
            accepted <= 12 + body.len() / 20,
            "{name}: {accepted} of {} truncations accepted",
            body.len()
        );
        // The whole body still restores.
        assert_eq!(
            text(c.call(&[b"RESTORE", b"h", b"0", &seal(body)])),
            "+OK\r\n",
            "{name}"
        );
        c.cmd("DEL h");
    }
    assert!(server.alive());
    let growth = common::peak_rss(server.child.id()).saturating_sub(before);
    assert!(growth < 256 << 20, "peak memory grew by {growth} bytes");
}
