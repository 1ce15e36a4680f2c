//! DEBUG (Redis's debug.c), refused unless `enable-debug-command` allows it, as in Redis 7:
//! the subcommands that tests and tools use. DIGEST and DIGEST-VALUE compute Redis's own
//! dataset digest (SHA1 mixes over every key and element), so a dataset here can be
//! compared with redis-server's; RELOAD saves the RDB file and loads it back.

use super::flags::{ADMIN, LOADING, NOSCRIPT, STALE};
use super::slowlog::subcommand_syntax_error;
use super::{Command, Ctx, reply_help};
use crate::resp::Args;
use crate::script::sha1::sha1;
use crate::store::{Entry, Str, Ttl, Value};
use crate::util::atoi;

/// The family's command table.
#[rustfmt::skip]
pub const COMMANDS: &[Command] = &[
    Command { name: "debug", arity: -2, flags: ADMIN | NOSCRIPT | LOADING | STALE, keys: (0, 0, 0), group: "server", handler: debug },
];

const HELP: &[&str] = &[
    "DEBUG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CHANGE-REPL-ID",
    "    Change the replication IDs of the instance.",
    "    Dangerous: should be used only for testing the replication subsystem.",
    "DIGEST",
    "    Output a hex signature representing the current DB content.",
    "DIGEST-VALUE <key> [<key> ...]",
    "    Output a hex signature of the values of all the specified keys.",
    "ERROR <string>",
    "    Return a Redis protocol error with <string> as message. Useful for clients",
    "    unit tests to simulate Redis errors.",
    "LOG <message>",
    "    Write <message> to the server log.",
    "OBJECT <key>",
    "    Show low level info about `key` and associated value.",
    "POPULATE <count> [<prefix>] [<size>]",
    "    Create <count> string keys named key:<num>. If <prefix> is specified then",
    "    it is used instead of the 'key' prefix. These are not propagated to",
    "    replicas. Cluster slots are not respected so keys not belonging to the",
    "    current node can be created in cluster mode.",
    "PROTOCOL <type>",
    "    Reply with a test value of the specified type. <type> can be: string,",
    "    integer, double, bignum, null, array, set, map, attrib, push, verbatim,",
    "    true, false.",
    "RELOAD [option ...]",
    "    Save the RDB on disk and reload it back to memory. Valid <option> values:",
    "    * MERGE: conflicting keys will be loaded from RDB.",
    "    * NOFLUSH: the existing database will not be removed before load, but",
    "      conflicting keys will generate an exception and kill the server.",
    "    * NOSAVE: the database will be loaded from an existing RDB file.",
    "    Examples:",
    "    * DEBUG RELOAD: verify that the server is able to persist, flush and reload",
    "      the database.",
    "    * DEBUG RELOAD NOSAVE: replace the current database with the contents of an",
    "      existing RDB file.",
    "    * DEBUG RELOAD NOSAVE NOFLUSH MERGE: add the contents of an existing RDB",
    "      file to the database.",
    "SET-ACTIVE-EXPIRE <0|1>",
    "    Setting it to 0 disables expiring keys in background when they are not",
    "    accessed (otherwise the Redis behavior). Setting it to 1 reenables back the",
    "    default.",
    "QUICKLIST-PACKED-THRESHOLD <size>",
    "    Sets the threshold for elements to be inserted as plain vs packed nodes",
    "    Default value is 1GB, allows values up to 4GB. Setting to 0 restores to default.",
    "SET-SKIP-CHECKSUM-VALIDATION <0|1>",
    "    Enables or disables checksum checks for RDB files and RESTORE's payload.",
    "SLEEP <seconds>",
    "    Stop the server for <seconds>. Decimals allowed.",
    "STRINGMATCH-TEST",
    "    Run a fuzz tester against the stringmatchlen() function.",
    "LISTPACK <key>",
    "    Show low level info about the listpack encoding of <key>.",
    "QUICKLIST <key> [<0|1>]",
    "    Show low level info about the quicklist encoding of <key>.",
    "    The optional argument (0 by default) sets the level of detail",
    "HELP",
    "    Prints this help.",
];

fn debug(ctx: &mut Ctx, args: Args) {
    if !ctx.shared.params.debug_allowed(ctx.client.local) {
        ctx.out.error("ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.");
        return;
    }
    let sub = args.get(1).to_ascii_lowercase();
    let n = args.len();
    match (sub.as_slice(), n) {
        (b"help", 2) => reply_help(ctx.out, HELP),
        (b"log", 3) => {
            log::warn!("DEBUG LOG: {}", String::from_utf8_lossy(args.get(2)));
            ctx.out.ok();
        }
        (b"error", 3) => {
            // No newlines in an error line.
            let text: Vec<u8> = args
                .get(2)
                .iter()
                .map(|&b| if b == b'\n' || b == b'\r' { b' ' } else { b })
                .collect();
            ctx.out.error_parts(&[&text]);
        }
        (b"sleep", 3) => {
            let secs = strtod_prefix(args.get(2));
            let us = (secs * 1e6) as i64;
            if us > 0 {
                std::thread::sleep(std::time::Duration::from_micros(us as u64));
            }
            ctx.out.ok();
        }
        (b"set-active-expire", 3) => {
            ctx.shared.active_expire = atoi(args.get(2)) != 0;
            ctx.out.ok();
        }
        (b"change-repl-id", 2) => {
            ctx.shared.run_id = super::random_hex_id();
            log::warn!("Changed replication IDs after receiving DEBUG change-repl-id");
            ctx.out.ok();
        }
        (b"digest", 2) => {
            let d = dataset_digest(ctx);
            ctx.out.simple(&hex(&d));
        }
        (b"digest-value", _) => {
            ctx.out.array(n - 2);
            let db = ctx.client.db;
            for key in args.iter().skip(2) {
                // Logically expired keys count too: a debugging view of what is stored.
                let d = ctx.store.db(db).peek_raw(key).map_or([0; 20], value_digest);
                ctx.out.simple(&hex(&d));
            }
        }
        (b"object", 3) => object(ctx, args.get(2)),
        (b"populate", 3..=5) => populate(ctx, args),
        (b"set-skip-checksum-validation", 3) => {
            let skip = atoi(args.get(2)) != 0;
            crate::persist::rdb::SKIP_CHECKSUM_VALIDATION
                .store(skip, std::sync::atomic::Ordering::Relaxed);
            ctx.out.ok();
        }
        (b"quicklist-packed-threshold", 3) => {
            let set = crate::config::params::memtoull(args.get(2))
                .is_some_and(crate::store::list::set_packed_threshold);
            if set {
                ctx.out.ok();
            } else {
                ctx.out.error(
                    "ERR argument must be a memory value bigger than 1 and smaller than 4gb",
                );
            }
        }
        (b"listpack", 3) => structure(ctx, args.get(2), "listpack"),
        (b"quicklist", 3 | 4) => structure(ctx, args.get(2), "quicklist"),
        (b"stringmatch-test", 2) => {
            stringmatch_fuzz(ctx);
            ctx.out
                .simple("Apparently Redis did not crash: test passed");
        }
        (b"protocol", 3) => protocol(ctx, args.get(2)),
        (b"reload", _) => reload(ctx, args),
        _ => subcommand_syntax_error(ctx.out, args),
    }
}

/// `DEBUG POPULATE count [prefix [size]]`: adds `prefix:N` = `value:N` (the default prefix
/// is `key`) for N below `count`, leaving keys that exist alone; with `size`, each value is
/// `size` bytes: `value:N` cut or padded with zero bytes. Not propagated, as in Redis.
fn populate(ctx: &mut Ctx, args: Args) {
    // Redis's getPositiveLongFromObjectOrReply: one error for "not a number" and "negative".
    let positive = |ctx: &mut Ctx, arg: &[u8]| -> Option<u64> {
        match crate::resp::parse_i64(arg) {
            Some(v) if v >= 0 => Some(v as u64),
            _ => {
                ctx.out.error("ERR value is out of range, must be positive");
                None
            }
        }
    };
    let Some(count) = positive(ctx, args.get(2)) else {
        return;
    };
    let prefix = if args.len() >= 4 { args.get(3) } else { b"key" };
    let size = if args.len() == 5 {
        let Some(size) = positive(ctx, args.get(4)) else {
            return;
        };
        size as usize
    } else {
        0
    };
    let now = ctx.now;
    let db = ctx.client.db;
    let mut key = Vec::new();
    for j in 0..count {
        key.clear();
        key.extend_from_slice(prefix);
        key.extend_from_slice(format!(":{j}").as_bytes());
        // Redis formats the key into a 128-byte buffer: a long prefix is cut there.
        key.truncate(127);
        let db = ctx.store.db(db);
        if db.get_mut(&key, now).is_some() {
            continue;
        }
        let text = format!("value:{j}");
        let value = if size == 0 {
            Str::from_bytes(text.as_bytes())
        } else {
            let mut v = vec![0u8; size];
            let n = size.min(text.len());
            v[..n].copy_from_slice(&text.as_bytes()[..n]);
            Str::from_vec(v)
        };
        db.insert_new(&key, Value::Str(value), Ttl::Clear, now);
    }
    ctx.out.ok();
}

/// `DEBUG LISTPACK key` / `DEBUG QUICKLIST key [full]`: writes the value's packed layout to
/// the log (Redis prints it on stdout) when it has that encoding.
fn structure(ctx: &mut Ctx, key: &[u8], encoding: &str) {
    let db = ctx.client.db;
    let Some(e) = ctx.store.db(db).peek_raw(key) else {
        ctx.out.error("ERR no such key");
        return;
    };
    if e.value.encoding() != encoding {
        ctx.out
            .error(&format!("ERR Not a {encoding} encoded object."));
        return;
    }
    let name = String::from_utf8_lossy(key);
    if let Value::List(l) = &e.value {
        let nodes = l.node_layout();
        log::warn!(
            "{{quicklist}} key {name}: {} elements in {} nodes",
            l.len(),
            nodes.len()
        );
        for (i, (bytes, count)) in nodes.iter().enumerate() {
            log::warn!("{{quicklist node {i}}} {count} entries, {bytes} bytes");
        }
        ctx.out.simple("Quicklist structure printed on stdout");
    } else {
        log::warn!(
            "{{listpack}} key {name}: {} ({}), {} bytes",
            e.value.type_name(),
            e.value.encoding(),
            e.value.heap_size()
        );
        ctx.out.simple("Listpack structure printed on stdout");
    }
}

/// `DEBUG STRINGMATCH-TEST`: Redis's fuzz of its glob matcher, on ours: random patterns and
/// strings of up to 31 bytes of 7-bit characters. Passing means not crashing (or hanging:
/// the matcher gives up on exponential patterns as Redis's does).
fn stringmatch_fuzz(ctx: &mut Ctx) {
    let mut matches = 0u64;
    let (mut pattern, mut string) = ([0u8; 32], [0u8; 32]);
    for _ in 0..1_000_000 {
        let r = ctx.store.random();
        let (plen, slen) = ((r % 32) as usize, ((r >> 8) % 32) as usize);
        for b in pattern[..plen].iter_mut().chain(string[..slen].iter_mut()) {
            *b = (ctx.store.random() % 128) as u8;
        }
        matches += u64::from(crate::util::glob_match(
            &pattern[..plen],
            &string[..slen],
            false,
        ));
    }
    log::info!("DEBUG STRINGMATCH-TEST: {matches} matches");
}

/// C's strtod on a prefix: the longest leading part that is a number, 0 without one.
fn strtod_prefix(s: &[u8]) -> f64 {
    let s = std::str::from_utf8(s).unwrap_or("").trim_start();
    (1..=s.len())
        .rev()
        .find_map(|end| s.get(..end).and_then(|p| p.parse::<f64>().ok()))
        .unwrap_or(0.0)
}

fn hex(d: &[u8; 20]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// Redis's xorDigest: XORs SHA1(data) into `digest` (order-free).
fn xor_digest(digest: &mut [u8; 20], data: &[u8]) {
    for (d, h) in digest.iter_mut().zip(sha1(data)) {
        *d ^= h;
    }
}

/// Redis's mixDigest: `digest = SHA1(digest xor SHA1(data))` (order matters).
fn mix_digest(digest: &mut [u8; 20], data: &[u8]) {
    xor_digest(digest, data);
    *digest = sha1(&digest[..]);
}

/// Redis's type numbers, which the digest mixes in.
fn type_number(v: &Value) -> u32 {
    match v {
        Value::Str(_) => 0,
        Value::List(_) => 1,
        Value::Set(_) => 2,
        Value::ZSet(_) => 3,
        Value::Hash(_) => 4,
        Value::Stream(_) => 6,
    }
}

/// The digest of one key's value (Redis's xorObjectDigest from a zero digest).
fn value_digest(e: &Entry) -> [u8; 20] {
    let mut digest = [0u8; 20];
    object_digest(&mut digest, e);
    digest
}

/// Mixes the value of `e` into `digest`, as Redis's xorObjectDigest: its type, then its
/// elements (mixed in order for strings, lists and streams; each member, field/value
/// pair or member/score pair digested on its own and XORed for sets, hashes and zsets),
/// and a mark when the key has a TTL.
fn object_digest(digest: &mut [u8; 20], e: &Entry) {
    mix_digest(digest, &type_number(&e.value).to_be_bytes());
    match &e.value {
        Value::Str(s) => match s.raw_bytes() {
            Some(b) => mix_digest(digest, b),
            None => {
                let n = s.as_i64().unwrap_or_default();
                mix_digest(digest, n.to_string().as_bytes());
            }
        },
        Value::List(l) => {
            for elem in l.iter() {
                elem.with_bytes(|b| mix_digest(digest, b));
            }
        }
        Value::Set(s) => {
            for m in s.iter() {
                m.with_bytes(|b| xor_digest(digest, b));
            }
        }
        Value::ZSet(z) => {
            for (member, score) in z.iter() {
                let mut element = [0u8; 20];
                mix_digest(&mut element, member);
                mix_digest(&mut element, crate::util::fmt_double(score).as_bytes());
                xor_digest(digest, &element);
            }
        }
        Value::Hash(h) => {
            for (field, value) in h.iter() {
                let mut element = [0u8; 20];
                mix_digest(&mut element, field);
                mix_digest(&mut element, value);
                xor_digest(digest, &element);
            }
        }
        Value::Stream(s) => {
            use crate::store::stream::StreamId;
            for entry in s.log.range(StreamId::MIN, StreamId::MAX, false) {
                mix_digest(
                    digest,
                    format!("{}.{}", entry.id.ms, entry.id.seq).as_bytes(),
                );
                for (field, value) in entry.fields() {
                    mix_digest(digest, field);
                    mix_digest(digest, value);
                }
            }
        }
    }
    if e.expire_at().is_some() {
        xor_digest(digest, b"!!expire!!");
    }
}

/// Redis's computeDatasetDigest: per non-empty database, its number mixed in, then for
/// each key the digest of the key and its value XORed in; all zeros for an empty dataset.
fn dataset_digest(ctx: &mut Ctx) -> [u8; 20] {
    let mut digest = [0u8; 20];
    let now = ctx.now;
    for (i, db) in ctx.store.dbs().iter().enumerate() {
        if db.is_empty() {
            continue;
        }
        mix_digest(&mut digest, &(i as u32).to_be_bytes());
        db.for_each_live(now, |e| {
            let mut key_digest = [0u8; 20];
            mix_digest(&mut key_digest, e.key());
            object_digest(&mut key_digest, e);
            xor_digest(&mut digest, &key_digest);
        });
    }
    digest
}

/// DEBUG OBJECT: Redis's line about a value. The address is the entry's, the reference
/// count as OBJECT REFCOUNT's, the serialized length what the RDB file holds.
fn object(ctx: &mut Ctx, key: &[u8]) {
    let opts = super::persistence::target(ctx.shared).opts;
    let now = ctx.now;
    let lfu = ctx.shared.params.settings.memory.policy.is_lfu();
    let db = ctx.client.db;
    let Some(e) = ctx.store.db(db).peek_raw(key) else {
        ctx.out.error("ERR no such key");
        return;
    };
    let mut body = Vec::new();
    crate::persist::save::save_object(&mut body, &e.value, opts);
    let idle = if lfu {
        0
    } else {
        crate::store::evict::lru_idle_ms(e.access(), now) / 1000
    };
    let mut extra = String::new();
    if let Value::List(l) = &e.value
        && l.encoding() == "quicklist"
    {
        // As Redis's quicklist would hold it: the listpack nodes of the RDB form.
        let nodes = crate::persist::save::list_nodes(l);
        let size: usize = nodes.iter().map(Vec::len).sum();
        extra = format!(
            " ql_nodes:{} ql_avg_node:{:.2} ql_listpack_max:{} ql_compressed:0 ql_uncompressed_size:{size}",
            nodes.len(),
            l.len() as f64 / nodes.len().max(1) as f64,
            ctx.shared.params.settings.limits.list_fill,
        );
    }
    // Redis shares the integers 0..9999 (OBJECT REFCOUNT says the same).
    let refcount = match e.value.as_str().and_then(|s| s.as_i64()) {
        Some(0..=9999) if e.value.encoding() == "int" => i64::from(i32::MAX),
        _ => 1,
    };
    let line = format!(
        "Value at:{:p} refcount:{refcount} encoding:{} serializedlength:{} lru:{} lru_seconds_idle:{idle}{extra}",
        e as *const Entry,
        e.value.encoding(),
        body.len() - 1,
        e.access() & 0xFF_FFFF,
    );
    ctx.out.simple(&line);
}

/// DEBUG PROTOCOL: a sample of each reply type.
fn protocol(ctx: &mut Ctx, name: &[u8]) {
    let out = &mut *ctx.out;
    match name.to_ascii_lowercase().as_slice() {
        b"string" => out.bulk(b"Hello World"),
        b"integer" => out.int(12345),
        // Redis's sample double, not pi.
        #[allow(clippy::approx_constant)]
        b"double" => out.double(3.141),
        b"bignum" => out.big_number(b"1234567999999999999999999999999999999"),
        b"null" => out.null(),
        b"array" => {
            out.array(3);
            for j in 0..3 {
                out.int(j);
            }
        }
        b"set" => {
            out.set(3);
            for j in 0..3 {
                out.int(j);
            }
        }
        b"map" => {
            out.map(3);
            for j in 0..3 {
                out.int(j);
                out.boolean(j == 1);
            }
        }
        b"attrib" => {
            if out.is_resp3() {
                out.attribute(1);
                out.bulk(b"key-popularity");
                out.array(2);
                out.bulk(b"key:123");
                out.int(90);
            }
            out.bulk(b"Some real reply following the attribute");
        }
        b"push" => {
            if !out.is_resp3() {
                out.error("ERR RESP2 is not supported by this command");
                return;
            }
            out.push(2);
            out.bulk(b"server-cpu-usage");
            out.int(42);
            out.bulk(b"Some real reply following the push reply");
        }
        b"true" => out.boolean(true),
        b"false" => out.boolean(false),
        b"verbatim" => out.verbatim(b"This is a verbatim\nstring"),
        _ => out.error("ERR Wrong protocol type name. Please use one of the following: string|integer|double|bignum|null|array|set|map|attrib|push|verbatim|true|false"),
    }
}

/// DEBUG RELOAD [MERGE] [NOFLUSH] [NOSAVE]: saves the RDB file (unless NOSAVE), empties
/// the dataset (unless NOFLUSH), and loads the file back in the foreground; with MERGE a
/// key or library in the file replaces the one in memory instead of failing the load.
fn reload(ctx: &mut Ctx, args: Args) {
    let (mut merge, mut flush, mut save) = (false, true, true);
    for opt in args.iter().skip(2) {
        match opt.to_ascii_lowercase().as_slice() {
            b"merge" => merge = true,
            b"noflush" => flush = false,
            b"nosave" => save = false,
            _ => {
                ctx.out
                    .error("ERR DEBUG RELOAD only supports the MERGE, NOFLUSH and NOSAVE options.");
                return;
            }
        }
    }
    let now = ctx.now;
    if save && super::persistence::save_now(ctx.store, ctx.shared, now).is_err() {
        ctx.out.error("ERR");
        return;
    }
    if flush {
        // Redis's emptyData: in the foreground.
        super::keys::empty_all(ctx, false);
    }
    let path = super::persistence::target(ctx.shared).path;
    let loaded = std::fs::read(&path)
        .map_err(|e| e.to_string())
        .and_then(|data| load_into(ctx, &data, merge, now));
    match loaded {
        Ok(()) => {
            log::warn!("DB reloaded by DEBUG RELOAD");
            ctx.out.ok();
        }
        Err(e) => {
            log::warn!("DEBUG RELOAD: {e}");
            ctx.out.error("ERR Error trying to load the RDB dump");
        }
    }
}

/// Loads an RDB image into the dataset now; `merge` lets the file's keys and libraries
/// replace those present.
fn load_into(ctx: &mut Ctx, data: &[u8], merge: bool, now: u64) -> Result<(), String> {
    use crate::persist::load::Item;
    let databases = ctx.store.len();
    let limits = ctx.shared.params.settings.limits;
    let mut loaded = super::persistence::Loaded::default();
    let (store, shared) = (&mut *ctx.store, &mut *ctx.shared);
    crate::persist::load::load_rdb(data, databases, &limits, |item| {
        let item = match item {
            Item::Key { db, ref key, .. } if merge => {
                store.db(db).remove(key, now);
                item
            }
            Item::Function(code) if merge => {
                let (engine, libraries) = shared
                    .functions
                    .parts()
                    .map_err(|e| crate::persist::load::LoadError::Corrupt(e.to_string()))?;
                return libraries
                    .create(engine, &code, true, None)
                    .map(drop)
                    .map_err(|e| crate::persist::load::LoadError::Corrupt(e.to_string()));
            }
            other => other,
        };
        super::persistence::apply_item(store, shared, item, now, &mut loaded)
            .map_err(crate::persist::load::LoadError::Corrupt)
    })
    .map(drop)
    .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c_number_prefixes() {
        assert_eq!(strtod_prefix(b"0.2"), 0.2);
        assert_eq!(strtod_prefix(b"1.5s"), 1.5);
        assert_eq!(strtod_prefix(b"abc"), 0.0);
    }

    #[test]
    fn mixing_depends_on_order_xoring_does_not() {
        let (mut a, mut b) = ([0u8; 20], [0u8; 20]);
        mix_digest(&mut a, b"x");
        mix_digest(&mut a, b"y");
        mix_digest(&mut b, b"y");
        mix_digest(&mut b, b"x");
        assert_ne!(a, b);
        let (mut a, mut b) = ([0u8; 20], [0u8; 20]);
        xor_digest(&mut a, b"x");
        xor_digest(&mut a, b"y");
        xor_digest(&mut b, b"y");
        xor_digest(&mut b, b"x");
        assert_eq!(a, b);
    }
}
