//! Lazy free: UNLINK, FLUSHDB / FLUSHALL [ASYNC|SYNC] and the `lazyfree-lazy-*` options
//! reply as Redis does and count freed objects as Redis does (INFO `lazyfree_pending_objects`,
//! `lazyfreed_objects`), and unlinking a huge value does not stall other clients.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{Client, Server, encode, info_field, on_both, same_on_both, text, wait_for};

/// Adds `n` elements `m:<i>` to `key` (of type `kind`), 1000 per command, pipelined.
fn fill(c: &mut Client, kind: &str, key: &str, n: usize) {
    let verb = match kind {
        "set" => "SADD",
        "zset" => "ZADD",
        "hash" => "HSET",
        "list" => "RPUSH",
        _ => unreachable!("{kind}"),
    };
    let mut batch = Vec::new();
    let mut pending = 0;
    let mut i = 0;
    while i < n {
        let end = (i + 1000).min(n);
        let mut args: Vec<Vec<u8>> = vec![verb.into(), key.into()];
        for j in i..end {
            if kind == "zset" {
                args.push(j.to_string().into_bytes());
            }
            args.push(format!("m:{j}").into_bytes());
            if kind == "hash" {
                args.push(format!("v:{j}").into_bytes());
            }
        }
        let refs: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
        batch.extend(encode(&refs));
        pending += 1;
        i = end;
        if pending == 32 || i == n {
            c.send_raw(&batch);
            batch.clear();
            for _ in 0..pending {
                let r = c.read_reply();
                assert_eq!(r[0], b':', "{}", text(&r));
            }
            pending = 0;
        }
    }
}

/// Polls INFO until `lazyfree_pending_objects` is 0; returns `lazyfreed_objects`.
fn settled(c: &mut Client) -> u64 {
    wait_for(Duration::from_secs(10), || {
        (info_field(c, "memory", "lazyfree_pending_objects") == 0).then_some(())
    })
    .expect("lazyfree_pending_objects never returned to 0");
    info_field(c, "memory", "lazyfreed_objects")
}

#[test]
fn replies_match_redis() {
    same_on_both(|port| {
        let mut c = Client::connect(port);
        let mut t = Vec::new();
        let mut run =
            |c: &mut Client, line: &str| t.push(format!("{line} -> {}", text(c.cmd(line))));
        fill(&mut c, "set", "big", 200);
        for line in [
            "MSET a 1 b 2 c 3",
            "UNLINK a b nosuch",
            "UNLINK big",
            "UNLINK",
            "DEL c c",
            "DEL",
            "EXISTS a b c big",
            "MSET a 1 b 2",
            "FLUSHDB ASYNC",
            "DBSIZE",
            "MSET a 1 b 2",
            "FLUSHDB sync",
            "DBSIZE",
            "FLUSHDB FAST",
            "FLUSHDB ASYNC SYNC",
            "MSET a 1 b 2",
            "SELECT 1",
            "SET c 3",
            "FLUSHALL async",
            "DBSIZE",
            "SELECT 0",
            "DBSIZE",
            "FLUSHALL SYNC",
            "FLUSHALL",
            "FLUSHALL now",
            "FLUSHALL ASYNC extra",
            "CONFIG SET lazyfree-lazy-user-del yes",
            "CONFIG SET lazyfree-lazy-user-flush yes",
            "CONFIG SET lazyfree-lazy-server-del yes",
            "CONFIG SET lazyfree-lazy-expire yes",
            "CONFIG SET lazyfree-lazy-eviction yes",
            "CONFIG GET lazyfree-lazy-user-del",
            "MSET a 1 b 2",
            "DEL a b",
            "SET a 1",
            "GETDEL a",
            "MSET a 1 b 2",
            "FLUSHDB",
            "DBSIZE",
            "CONFIG SET lazyfree-lazy-user-flush maybe",
        ] {
            run(&mut c, line);
        }
        t
    });
}

#[test]
fn info_has_the_fields() {
    on_both(&[], |port| {
        let mut c = Client::connect(port);
        for section in ["memory", "", "all"] {
            let info = c.cmd_str(format!("INFO {section}").trim());
            for field in ["lazyfree_pending_objects:", "lazyfreed_objects:"] {
                assert!(info.contains(field), "no {field} in INFO {section}");
            }
        }
        assert_eq!(info_field(&mut c, "memory", "lazyfree_pending_objects"), 0);
    });
}

/// Which deletions are lazy, counted as Redis counts them: a value with more than 64
/// allocations counts 1, an ASYNC flush counts its keys, a small value counts nothing.
#[test]
fn lazyfreed_objects_counts_as_redis() {
    on_both(&[], |port| {
        let mut c = Client::connect(port);
        let counted = |c: &mut Client, step: &str, want: u64| {
            assert_eq!(settled(c), want, "{step} (port {port})");
        };
        let ok = |c: &mut Client, line: &str| assert_eq!(c.cmd_str(line), "+OK\r\n", "{line}");
        ok(&mut c, "CONFIG RESETSTAT");
        counted(&mut c, "reset", 0);

        // UNLINK: lazy above 64 elements only.
        fill(&mut c, "set", "small", 64);
        fill(&mut c, "set", "big", 65);
        assert_eq!(c.int("UNLINK small"), 1);
        counted(&mut c, "UNLINK of 64 members", 0);
        assert_eq!(c.int("UNLINK big"), 1);
        counted(&mut c, "UNLINK of 65 members", 1);
        // Past the listpack limits (128 zset members, 512 hash fields); a list counts its
        // nodes of 8 KiB.
        for (kind, n) in [("zset", 200), ("hash", 1000), ("list", 200_000)] {
            fill(&mut c, kind, "k", n);
            assert_eq!(c.int("UNLINK k"), 1);
        }
        counted(&mut c, "UNLINK of a zset, a hash and a list", 4);
        fill(&mut c, "list", "k", 1000);
        assert_eq!(c.int("UNLINK k"), 1);
        counted(&mut c, "UNLINK of a one-node list", 4);

        // DEL: inline unless lazyfree-lazy-user-del; GETDEL follows it too.
        fill(&mut c, "set", "big", 100);
        assert_eq!(c.int("DEL big"), 1);
        counted(&mut c, "DEL", 4);
        ok(&mut c, "CONFIG SET lazyfree-lazy-user-del yes");
        fill(&mut c, "set", "big", 100);
        assert_eq!(c.int("DEL big"), 1);
        counted(&mut c, "DEL with lazyfree-lazy-user-del", 5);

        // FLUSHDB / FLUSHALL: ASYNC counts the keys, whatever their size.
        ok(&mut c, "MSET a 1 b 2 c 3");
        ok(&mut c, "FLUSHDB");
        counted(&mut c, "FLUSHDB", 5);
        ok(&mut c, "MSET a 1 b 2 c 3");
        ok(&mut c, "FLUSHDB ASYNC");
        counted(&mut c, "FLUSHDB ASYNC", 8);
        ok(&mut c, "MSET a 1 b 2");
        ok(&mut c, "SELECT 3");
        ok(&mut c, "MSET a 1 b 2 c 3");
        ok(&mut c, "FLUSHALL ASYNC");
        counted(&mut c, "FLUSHALL ASYNC", 13);
        ok(&mut c, "CONFIG SET lazyfree-lazy-user-flush yes");
        ok(&mut c, "MSET a 1 b 2");
        ok(&mut c, "FLUSHALL");
        counted(&mut c, "FLUSHALL with lazyfree-lazy-user-flush", 15);
        ok(&mut c, "MSET a 1 b 2");
        ok(&mut c, "FLUSHALL SYNC");
        counted(&mut c, "FLUSHALL SYNC", 15);
        ok(&mut c, "SELECT 0");

        // lazyfree-lazy-server-del: a value overwritten by SET or a STORE, a RENAME target.
        fill(&mut c, "set", "big", 100);
        ok(&mut c, "SET big x");
        counted(&mut c, "SET over a big set", 15);
        ok(&mut c, "CONFIG SET lazyfree-lazy-server-del yes");
        assert_eq!(c.int("DEL big"), 1);
        fill(&mut c, "set", "big", 100);
        ok(&mut c, "SET big x");
        counted(&mut c, "SET over a big set, lazyfree-lazy-server-del", 16);
        assert_eq!(c.int("DEL big"), 1);
        fill(&mut c, "set", "big", 100);
        fill(&mut c, "set", "other", 100);
        ok(&mut c, "RENAME other big");
        counted(&mut c, "RENAME onto a big set", 17);
        fill(&mut c, "set", "src", 100);
        assert_eq!(c.int("SINTERSTORE big src"), 100);
        counted(&mut c, "SINTERSTORE over a big set", 18);
        assert_eq!(c.int("SINTERSTORE big nosuch"), 0);
        counted(&mut c, "SINTERSTORE deleting a big set", 19);
        ok(&mut c, "FLUSHALL SYNC");

        // lazyfree-lazy-expire: a big value whose key expired.
        fill(&mut c, "hash", "h", 1000);
        assert_eq!(c.int("EXPIRE h 0"), 1);
        counted(&mut c, "EXPIRE in the past", 19);
        ok(&mut c, "CONFIG SET lazyfree-lazy-expire yes");
        fill(&mut c, "hash", "h", 1000);
        assert_eq!(c.int("EXPIRE h 0"), 1);
        counted(&mut c, "EXPIRE in the past, lazyfree-lazy-expire", 20);
        fill(&mut c, "hash", "h", 1000);
        assert_eq!(c.int("PEXPIRE h 1"), 1);
        wait_for(Duration::from_secs(5), || {
            (c.int("EXISTS h") == 0).then_some(())
        })
        .expect("h expired");
        counted(&mut c, "a big hash expired", 21);

        ok(&mut c, "CONFIG RESETSTAT");
        counted(&mut c, "CONFIG RESETSTAT", 0);
    });
}

/// Pings from its own connection, timing each round trip, until `unlinked` is set and the
/// lazyfree thread is done, then 200 more. It reads INFO memory itself, every 50 PINGs, so
/// the cost of INFO (which asks glibc for its statistics: a walk over every free block,
/// long while millions are being freed) delays its next PING instead of being counted as
/// a PING's wait. Returns the worst round trip and the number of PINGs.
fn pinger(port: u16, unlinked: Arc<AtomicBool>) -> std::thread::JoinHandle<(Duration, u64)> {
    std::thread::spawn(move || {
        let mut c = Client::connect(port);
        let deadline = Instant::now() + Duration::from_secs(60);
        let (mut worst, mut n, mut last) = (Duration::ZERO, 0, None);
        while last.is_none_or(|end| n < end) {
            let t = Instant::now();
            assert_eq!(c.cmd("PING"), b"+PONG\r\n");
            worst = worst.max(t.elapsed());
            n += 1;
            if last.is_none() && n % 50 == 0 && unlinked.load(Ordering::Relaxed) {
                assert!(Instant::now() < deadline, "the value was never freed");
                if info_field(&mut c, "memory", "lazyfree_pending_objects") == 0 {
                    last = Some(n + 200);
                }
            }
        }
        (worst, n)
    })
}

/// One client UNLINKs a 1M-element set, sorted set, hash and list while another pings,
/// until the lazyfree thread has freed it; meanwhile a third client writes and reads back
/// a 1 MiB value (a big allocation, which is where a deferred cost of the frees would land
/// on the event loop).
#[test]
fn unlink_of_huge_values_does_not_stall_ping() {
    const N: usize = 1_000_000;
    let server = Server::start(&[]);
    let mut c = server.client();
    let mut other = server.client();
    let big = vec![b'x'; 1 << 20];
    for kind in ["set", "zset", "hash", "list"] {
        fill(&mut c, kind, "huge", N);
        let unlinked = Arc::new(AtomicBool::new(false));
        let pings = pinger(server.port, unlinked.clone());
        let t = Instant::now();
        assert_eq!(c.int("UNLINK huge"), 1);
        let unlink = t.elapsed();
        unlinked.store(true, Ordering::Relaxed);
        assert_eq!(other.call(&[b"SET", b"buf", &big]), b"+OK\r\n");
        assert_eq!(other.call(&[b"GET", b"buf"]).len(), big.len() + 12);
        assert_eq!(other.cmd("DEL buf"), b":1\r\n");
        let (worst, n) = pings.join().expect("pinger");
        eprintln!("{kind}: UNLINK {unlink:?}, worst of {n} PINGs {worst:?}");
        // Freed inline, a 1M-element hash takes about half a second in this build; the
        // bound leaves room for a loaded machine (release builds stay near 10 ms with
        // 5M elements: loadtest/unlink-stall.sh).
        assert!(
            worst < Duration::from_millis(50),
            "{kind}: PING waited {worst:?}"
        );
        assert!(
            unlink < Duration::from_millis(50),
            "{kind}: UNLINK took {unlink:?}"
        );
    }
}

/// `lazyfree-lazy-eviction`: a big value evicted for maxmemory goes to the lazyfree thread.
#[test]
fn eviction_frees_lazily_when_asked() {
    on_both(&[], |port| {
        let mut c = Client::connect(port);
        for line in [
            "CONFIG RESETSTAT",
            "CONFIG SET maxmemory-policy allkeys-random",
            "CONFIG SET lazyfree-lazy-eviction yes",
        ] {
            assert_eq!(c.cmd_str(line), "+OK\r\n", "{line}");
        }
        fill(&mut c, "set", "big", 1000);
        // A limit below what the server uses: everything evictable goes at once.
        assert_eq!(c.cmd_str("CONFIG SET maxmemory 1"), "+OK\r\n");
        assert_eq!(c.int("DBSIZE"), 0);
        assert_eq!(settled(&mut c), 1, "port {port}");
        assert_eq!(c.cmd_str("CONFIG SET maxmemory 0"), "+OK\r\n");
    });
}
