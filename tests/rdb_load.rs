//! The RDB loader against real Redis 7.0 output: a redis-server gets keys of every type in
//! every encoding it writes (listpack and big hashes and sorted sets, intsets and big sets,
//! one- and many-node quicklists with a plain node, integer and LZF-compressed strings,
//! TTLs, two databases, streams with tombstones, several nodes, groups, pending entries and
//! consumers, a function library), SAVEs, and `persist::load::load_rdb` must give back
//! every key, value, TTL and the library. Then each key's DUMP payload goes through
//! `verify_payload` and `load_object`.

mod common;

use std::collections::BTreeMap;

use common::{Client, Resp, parse, start_redis};
use rust_keyval::persist::load::{Item, load_object, load_rdb};
use rust_keyval::persist::rdb::{Reader, verify_payload};
use rust_keyval::store::stream::{NodeLimits, StreamId};
use rust_keyval::store::{Limits, Value};

const LIBRARY: &str = "#!lua name=mylib\n\
    redis.register_function('myfunc', function(keys, args) return args[1] end)";

fn esc(b: &[u8]) -> String {
    b.escape_ascii().to_string()
}

/// A loaded value as text: type, encoding, contents (hashes and sets sorted).
fn show(v: &Value) -> String {
    let body: Vec<String> = match v {
        Value::Str(s) => vec![esc(s.as_bytes(&mut [0; 20]))],
        Value::List(l) => l.iter().map(|e| esc(&e.to_vec())).collect(),
        Value::Hash(h) => {
            let mut v: Vec<String> = h
                .iter()
                .map(|(f, v)| format!("{}={}", esc(f), esc(v)))
                .collect();
            v.sort();
            v
        }
        Value::Set(s) => {
            let mut v: Vec<String> = s.iter().map(|m| esc(&m.to_vec())).collect();
            v.sort();
            v
        }
        Value::ZSet(z) => z.iter().map(|(m, s)| format!("{}:{s}", esc(m))).collect(),
        Value::Stream(s) => s
            .log
            .range(StreamId::MIN, StreamId::MAX, false)
            .map(|e| {
                let f: Vec<String> = e
                    .fields()
                    .map(|(f, v)| format!("{}={}", esc(f), esc(v)))
                    .collect();
                format!("{}[{}]", e.id, f.join(","))
            })
            .collect(),
    };
    format!("{} {} {}", v.type_name(), v.encoding(), body.join(" "))
}

/// What was sent: per (db, key), the expected [`show`] text without the encoding (which
/// is Redis's OBJECT ENCODING, read back), and the expire time when one was set.
#[derive(Default)]
struct Model {
    keys: BTreeMap<(usize, Vec<u8>), (String, String)>,
    ttl: BTreeMap<(usize, Vec<u8>), i64>,
    streams: Vec<Vec<u8>>,
}

fn ok(r: Vec<u8>) {
    assert!(!r.starts_with(b"-"), "{}", String::from_utf8_lossy(&r));
}

impl Model {
    fn add(&mut self, c: &mut Client, db: usize, key: &str, ty: &str, body: Vec<String>) {
        let enc = String::from_utf8(c.cmd(&format!("OBJECT ENCODING {key}"))).unwrap();
        let enc = enc.trim_start_matches('$').split("\r\n").nth(1).unwrap();
        self.keys.insert(
            (db, key.as_bytes().to_vec()),
            (format!("{ty} {enc}"), body.join(" ")),
        );
    }

    fn expected(&self, db: usize, key: &[u8]) -> String {
        let (head, body) = &self.keys[&(db, key.to_vec())];
        format!("{head} {body}")
    }
}

fn call(c: &mut Client, args: &[&[u8]]) {
    ok(c.call(args));
}

/// Fills the server; returns what it holds.
fn populate(c: &mut Client) -> Model {
    let mut m = Model::default();
    ok(c.cmd("FLUSHALL"));
    ok(c.cmd_args(&["FUNCTION", "LOAD", LIBRARY]));

    // Strings: integer, short, long and compressible (LZF), binary, with a TTL.
    ok(c.cmd("SET str:int 12345"));
    m.add(c, 0, "str:int", "string", vec!["12345".into()]);
    ok(c.cmd("SET str:neg -9000000000"));
    m.add(c, 0, "str:neg", "string", vec!["-9000000000".into()]);
    ok(c.cmd("SET str:short hello"));
    m.add(c, 0, "str:short", "string", vec!["hello".into()]);
    let long = "abcdefgh".repeat(500);
    ok(c.cmd_args(&["SET", "str:long", &long]));
    m.add(c, 0, "str:long", "string", vec![long]);
    let binary: Vec<u8> = (0..=255u8).chain(0..40).collect();
    call(c, &[b"SET", b"str:bin", &binary]);
    m.add(c, 0, "str:bin", "string", vec![esc(&binary)]);
    ok(c.cmd("SET str:ttl v PX 100000000"));
    m.add(c, 0, "str:ttl", "string", vec!["v".into()]);

    // Hashes: listpack, big (entries), long value.
    ok(c.cmd("HSET hash:small f1 v1 f2 2 f3 -3"));
    m.add(
        c,
        0,
        "hash:small",
        "hash",
        vec!["f1=v1".into(), "f2=2".into(), "f3=-3".into()],
    );
    let mut args: Vec<Vec<u8>> = vec![b"HSET".to_vec(), b"hash:big".to_vec()];
    let mut body = Vec::new();
    for i in 0..1000 {
        args.push(format!("field{i}").into_bytes());
        args.push(format!("value{i}").into_bytes());
        body.push(format!("field{i}=value{i}"));
    }
    body.sort();
    call(c, &args.iter().map(Vec::as_slice).collect::<Vec<_>>());
    m.add(c, 0, "hash:big", "hash", body);
    let wide = "w".repeat(100);
    ok(c.cmd_args(&["HSET", "hash:wide", "a", "1", "b", &wide]));
    m.add(
        c,
        0,
        "hash:wide",
        "hash",
        vec!["a=1".into(), format!("b={wide}")],
    );

    // Sorted sets: listpack and skiplist.
    ok(c.cmd("ZADD zset:small 1.5 b -inf a 3 c 0 d"));
    m.add(
        c,
        0,
        "zset:small",
        "zset",
        vec!["a:-inf".into(), "d:0".into(), "b:1.5".into(), "c:3".into()],
    );
    let mut args: Vec<Vec<u8>> = vec![b"ZADD".to_vec(), b"zset:big".to_vec()];
    let mut body = Vec::new();
    for i in 0..200 {
        let score = f64::from(i) / 4.0 - 10.0;
        args.push(score.to_string().into_bytes());
        args.push(format!("member{i:03}").into_bytes());
        body.push(format!("member{i:03}:{score}"));
    }
    call(c, &args.iter().map(Vec::as_slice).collect::<Vec<_>>());
    m.add(c, 0, "zset:big", "zset", body);

    // Sets: intset, big integers (hashtable), strings.
    ok(c.cmd("SADD set:int 3 1 2 -5 70000 -5000000000"));
    let mut body: Vec<String> = ["3", "1", "2", "-5", "70000", "-5000000000"]
        .map(String::from)
        .to_vec();
    body.sort();
    m.add(c, 0, "set:int", "set", body);
    let mut args: Vec<Vec<u8>> = vec![b"SADD".to_vec(), b"set:bigint".to_vec()];
    let mut body = Vec::new();
    for i in 0..1000 {
        args.push((i * 7).to_string().into_bytes());
        body.push((i * 7).to_string());
    }
    body.sort();
    call(c, &args.iter().map(Vec::as_slice).collect::<Vec<_>>());
    m.add(c, 0, "set:bigint", "set", body);
    ok(c.cmd("SADD set:str apple banana 42"));
    m.add(
        c,
        0,
        "set:str",
        "set",
        vec!["42".into(), "apple".into(), "banana".into()],
    );

    // Lists: one node, many nodes, a plain node for a big element.
    ok(c.cmd("RPUSH list:small a 1 b -2"));
    m.add(
        c,
        0,
        "list:small",
        "list",
        ["a", "1", "b", "-2"].map(String::from).to_vec(),
    );
    let mut args: Vec<Vec<u8>> = vec![b"RPUSH".to_vec(), b"list:big".to_vec()];
    let mut body = Vec::new();
    for i in 0..5000 {
        let e = if i % 3 == 0 {
            i.to_string()
        } else {
            format!("element-{i}")
        };
        args.push(e.clone().into_bytes());
        body.push(e);
    }
    call(c, &args.iter().map(Vec::as_slice).collect::<Vec<_>>());
    m.add(c, 0, "list:big", "list", body);
    let big = "P".repeat(10000);
    ok(c.cmd_args(&["RPUSH", "list:plain", "before", &big, "after"]));
    m.add(
        c,
        0,
        "list:plain",
        "list",
        vec!["before".into(), big, "after".into()],
    );

    // Streams: 250 entries over three nodes, some with other fields, tombstones,
    // two groups, pending entries of two consumers, a consumer with none.
    let mut live = BTreeMap::new();
    for i in 1..=250u64 {
        let (f1, f2) = if i % 7 == 0 {
            ("other", "more")
        } else {
            ("f1", "f2")
        };
        let v2 = format!("v{i}");
        ok(c.cmd_args(&["XADD", "stream", &format!("{i}-1"), f1, "x", f2, &v2]));
        live.insert(i, format!("{i}-1[{f1}=x,{f2}={v2}]"));
    }
    ok(c.cmd("XGROUP CREATE stream g1 0"));
    ok(c.cmd("XREADGROUP GROUP g1 alice COUNT 5 STREAMS stream >"));
    ok(c.cmd("XREADGROUP GROUP g1 bob COUNT 3 STREAMS stream >"));
    ok(c.cmd("XACK stream g1 2-1"));
    ok(c.cmd("XGROUP CREATE stream g2 $"));
    ok(c.cmd("XGROUP CREATECONSUMER stream g2 carol"));
    for i in (10..=250).step_by(10).chain([1, 3]) {
        ok(c.cmd(&format!("XDEL stream {i}-1")));
        live.remove(&i);
    }
    m.add(c, 0, "stream", "stream", live.into_values().collect());
    m.streams.push(b"stream".to_vec());
    ok(c.cmd("XADD stream:empty 5-1 a b"));
    ok(c.cmd("XDEL stream:empty 5-1"));
    m.add(c, 0, "stream:empty", "stream", vec![]);
    m.streams.push(b"stream:empty".to_vec());

    // Database 3, with a TTL in seconds.
    ok(c.cmd("SELECT 3"));
    ok(c.cmd("SET db3:key in-three"));
    m.add(c, 3, "db3:key", "string", vec!["in-three".into()]);
    ok(c.cmd("HSET db3:hash k v"));
    ok(c.cmd("EXPIREAT db3:hash 4000000000"));
    m.add(c, 3, "db3:hash", "hash", vec!["k=v".into()]);
    ok(c.cmd("SELECT 0"));

    for (db, key) in [(0, "str:ttl"), (3, "db3:hash")] {
        ok(c.cmd(&format!("SELECT {db}")));
        let t = c.int(&format!("PEXPIRETIME {key}"));
        m.ttl.insert((db, key.as_bytes().to_vec()), t);
    }
    ok(c.cmd("SELECT 0"));
    m
}

fn field<'a>(items: &'a [Resp], name: &str) -> &'a Resp {
    items
        .chunks(2)
        .find(|kv| kv[0] == Resp::Bulk(Some(name.as_bytes().to_vec())))
        .map(|kv| &kv[1])
        .unwrap_or_else(|| panic!("no {name}"))
}

fn items(r: &Resp) -> &[Resp] {
    match r {
        Resp::Agg(_, Some(v)) => v,
        other => panic!("not an array: {other:?}"),
    }
}

fn text(r: &Resp) -> String {
    match r {
        Resp::Bulk(Some(b)) => String::from_utf8_lossy(b).into_owned(),
        Resp::Bulk(None) => "nil".into(),
        Resp::Line(l) => String::from_utf8_lossy(&l[1..]).into_owned(),
        other => panic!("not a scalar: {other:?}"),
    }
}

/// Redis's XINFO STREAM FULL as lines (what the loaded stream must reproduce).
fn redis_stream_facts(c: &mut Client, key: &str) -> Vec<String> {
    let info = parse(&c.cmd(&format!("XINFO STREAM {key} FULL COUNT 0")));
    let top = items(&info);
    let mut out = Vec::new();
    for name in [
        "length",
        "radix-tree-keys",
        "last-generated-id",
        "max-deleted-entry-id",
        "entries-added",
        "recorded-first-entry-id",
    ] {
        out.push(format!("{name} {}", text(field(top, name))));
    }
    for g in items(field(top, "groups")) {
        let g = items(g);
        out.push(format!(
            "group {} last {} read {}",
            text(field(g, "name")),
            text(field(g, "last-delivered-id")),
            text(field(g, "entries-read"))
        ));
        for p in items(field(g, "pending")) {
            let p: Vec<String> = items(p).iter().map(text).collect();
            out.push(format!("  pel {}", p.join(" ")));
        }
        for cons in items(field(g, "consumers")) {
            let cons = items(cons);
            let pel: Vec<String> = items(field(cons, "pending"))
                .iter()
                .map(|p| text(&items(p)[0]))
                .collect();
            out.push(format!(
                "  consumer {} seen {} pel [{}]",
                text(field(cons, "name")),
                text(field(cons, "seen-time")),
                pel.join(" ")
            ));
        }
    }
    out
}

/// The same facts from a loaded stream.
fn our_stream_facts(v: &Value) -> Vec<String> {
    let Value::Stream(s) = v else {
        panic!("not a stream")
    };
    let log = &s.log;
    let mut out = vec![
        format!("length {}", log.length),
        format!("radix-tree-keys {}", log.node_count()),
        format!("last-generated-id {}", log.last_id),
        format!("max-deleted-entry-id {}", log.max_deleted_id),
        format!("entries-added {}", log.entries_added),
        format!("recorded-first-entry-id {}", log.first_id),
    ];
    for (name, g) in &s.groups {
        let read = if g.entries_read < 0 {
            "nil".to_string()
        } else {
            g.entries_read.to_string()
        };
        out.push(format!(
            "group {} last {} read {read}",
            String::from_utf8_lossy(name),
            g.last_id
        ));
        for (id, n) in g.pel.iter() {
            out.push(format!(
                "  pel {id} {} {} {}",
                String::from_utf8_lossy(&g.consumer(n.consumer).name),
                n.delivery_time,
                n.delivery_count
            ));
        }
        for cons in g.consumers() {
            let pel: Vec<String> = cons.pel.iter().map(|(id, ())| id.to_string()).collect();
            out.push(format!(
                "  consumer {} seen {} pel [{}]",
                String::from_utf8_lossy(&cons.name),
                cons.seen_time,
                pel.join(" ")
            ));
        }
    }
    out
}

/// SAVEs and reads the file redis-server wrote.
fn save_and_read(c: &mut Client) -> Vec<u8> {
    ok(c.cmd("SAVE"));
    let dir = common::bulk_strings(&c.cmd("CONFIG GET dir"));
    let file = common::bulk_strings(&c.cmd("CONFIG GET dbfilename"));
    let path = std::path::Path::new(std::str::from_utf8(&dir[1]).unwrap())
        .join(std::str::from_utf8(&file[1]).unwrap());
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// A loaded key: value, expire time, idle time, frequency.
type LoadedKey = (Value, Option<i64>, Option<u64>, Option<u8>);

struct Loaded {
    keys: BTreeMap<(usize, Vec<u8>), LoadedKey>,
    functions: Vec<Vec<u8>>,
    aux: BTreeMap<Vec<u8>, Vec<u8>>,
}

fn load_file(data: &[u8]) -> Loaded {
    let mut l = Loaded {
        keys: BTreeMap::new(),
        functions: Vec::new(),
        aux: BTreeMap::new(),
    };
    load_rdb(data, 16, &Limits::default(), |item| {
        match item {
            Item::Aux { key, value } => {
                l.aux.insert(key, value);
            }
            Item::ResizeDb { .. } => {}
            Item::Function(code) => l.functions.push(code),
            Item::Key {
                db,
                key,
                value,
                expire_ms,
                idle_secs,
                freq,
            } => {
                let old = l
                    .keys
                    .insert((db, key), (value, expire_ms, idle_secs, freq));
                assert!(old.is_none(), "a key came twice");
            }
        }
        Ok(())
    })
    .unwrap_or_else(|e| panic!("loading Redis's dump.rdb: {e}"));
    l
}

#[test]
fn a_redis_snapshot_loads_every_key() {
    let Some(redis) = start_redis() else {
        return;
    };
    let mut c = Client::connect(redis.port);
    let model = populate(&mut c);
    // With an LRU policy Redis writes each key's idle time; with LFU its frequency.
    ok(c.cmd("CONFIG SET maxmemory-policy allkeys-lru"));
    let loaded = load_file(&save_and_read(&mut c));

    assert_eq!(
        loaded.aux.get(&b"redis-ver"[..]).map(Vec::as_slice),
        Some(&b"7.0.15"[..])
    );
    assert_eq!(loaded.functions, [LIBRARY.as_bytes()]);
    let got: Vec<&(usize, Vec<u8>)> = loaded.keys.keys().collect();
    let want: Vec<&(usize, Vec<u8>)> = model.keys.keys().collect();
    assert_eq!(got, want, "the keys");
    for ((db, key), (value, expire, idle, _)) in &loaded.keys {
        assert_eq!(
            show(value),
            model.expected(*db, key),
            "db {db} key {}",
            esc(key)
        );
        assert_eq!(
            *expire,
            model.ttl.get(&(*db, key.clone())).copied(),
            "TTL of {}",
            esc(key)
        );
        assert!(idle.is_some_and(|s| s < 1000), "idle time of {}", esc(key));
    }
    for key in &model.streams {
        let k = std::str::from_utf8(key).unwrap();
        let (v, ..) = &loaded.keys[&(0, key.clone())];
        assert_eq!(our_stream_facts(v), redis_stream_facts(&mut c, k), "{k}");
    }

    ok(c.cmd("CONFIG SET maxmemory-policy allkeys-lfu"));
    let loaded = load_file(&save_and_read(&mut c));
    assert_eq!(loaded.keys.len(), model.keys.len());
    for ((_, key), (_, _, idle, freq)) in &loaded.keys {
        assert!(idle.is_none() && freq.is_some(), "LFU data of {}", esc(key));
    }
}

#[test]
fn redis_dump_payloads_load() {
    let Some(redis) = start_redis() else {
        return;
    };
    let mut c = Client::connect(redis.port);
    let model = populate(&mut c);
    let mut types = std::collections::BTreeSet::new();
    for (db, key) in model.keys.keys() {
        ok(c.cmd(&format!("SELECT {db}")));
        let dump = match parse(&c.call(&[b"DUMP", key])) {
            Resp::Bulk(Some(d)) => d,
            other => panic!("DUMP {}: {other:?}", esc(key)),
        };
        let body = verify_payload(&dump).expect("a sealed payload");
        let mut r = Reader::new(body);
        let ty = r.byte().unwrap();
        types.insert(ty);
        let value = load_object(&mut r, ty, &Limits::default())
            .unwrap_or_else(|e| panic!("DUMP of {}: {e}", esc(key)));
        assert_eq!(r.remaining(), 0, "{}", esc(key));
        assert_eq!(show(&value), model.expected(*db, key), "{}", esc(key));
        if model.streams.contains(key) {
            let k = std::str::from_utf8(key).unwrap();
            assert_eq!(
                our_stream_facts(&value),
                redis_stream_facts(&mut c, k),
                "{k}"
            );
        }
    }
    // Every type Redis 7.0 writes: string, set, hash, zset_2, intset, hash and zset
    // listpacks, quicklist 2, stream 2.
    assert_eq!(
        types.into_iter().collect::<Vec<u8>>(),
        [0, 2, 4, 5, 11, 16, 17, 18, 19]
    );
}

/// Field-value pairs of the byte-limited stream's entry `i`: a mix of the node's master
/// fields and others, of text and integers, about 100 bytes, so that nodes close on
/// `stream-node-max-bytes` (4096) before `stream-node-max-entries` (100).
fn wide_entry(i: u64) -> Vec<Vec<u8>> {
    let mut pairs = vec![b"name".to_vec(), format!("{i:0>90}").into_bytes()];
    if i.is_multiple_of(4) {
        pairs.extend([b"extra".to_vec(), (i * 1_000_003).to_string().into_bytes()]);
    } else {
        pairs.extend([b"n".to_vec(), (-(i as i64)).to_string().into_bytes()]);
    }
    pairs
}

/// A loaded stream's last node must be as full as Redis's: XADDs after loading split
/// nodes where Redis splits them (this checks the listpack size accounting of loaded
/// nodes, which decides that split).
#[test]
fn loaded_stream_nodes_split_where_redis_splits() {
    let Some(redis) = start_redis() else {
        return;
    };
    let mut c = Client::connect(redis.port);
    let xadd = |c: &mut Client, i: u64| {
        let id = format!("{i}-0");
        let mut args: Vec<Vec<u8>> = vec![b"XADD".to_vec(), b"wide".to_vec(), id.into_bytes()];
        args.extend(wide_entry(i));
        call(c, &args.iter().map(Vec::as_slice).collect::<Vec<_>>());
    };
    for i in 1..=100 {
        xadd(&mut c, i);
    }
    ok(c.cmd("XDEL wide 99-0"));
    let dump = match parse(&c.cmd("DUMP wide")) {
        Resp::Bulk(Some(d)) => d,
        other => panic!("DUMP: {other:?}"),
    };
    let mut r = Reader::new(verify_payload(&dump).unwrap());
    let ty = r.byte().unwrap();
    let Value::Stream(mut ours) = load_object(&mut r, ty, &Limits::default()).unwrap() else {
        panic!("not a stream")
    };
    let nodes = |c: &mut Client| {
        let info = parse(&c.cmd("XINFO STREAM wide"));
        text(field(items(&info), "radix-tree-keys"))
    };
    assert_eq!(ours.log.node_count().to_string(), nodes(&mut c));
    for i in 101..=200 {
        xadd(&mut c, i);
        let pairs = wide_entry(i);
        let pairs: Vec<&[u8]> = pairs.iter().map(Vec::as_slice).collect();
        ours.log
            .append(StreamId::new(i, 0), &pairs, NodeLimits::default());
        assert_eq!(
            ours.log.node_count().to_string(),
            nodes(&mut c),
            "after {i}"
        );
    }
}
