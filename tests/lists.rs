//! Lists end to end, against the real binary.
//!
//! Where redis-server is installed (CI installs it), the same checks also run against it,
//! so every expectation here is Redis's own behaviour, and a random command sequence is
//! replayed on both servers and compared reply by reply, byte for byte.

mod common;

use std::time::Duration;

use common::{Client, Rng, Server, have_tool, hits_misses, on_both, redis_benchmark, start_redis};

/// One random list command over a few keys (one of them a string, for WRONGTYPE) and a
/// few elements (one longer than the inline size).
fn random_list_command(rng: &mut Rng) -> Vec<String> {
    let keys = ["a", "b", "c", "str", "a"];
    let elems = ["x", "y", "z", "", "an element longer than twenty-two bytes"];
    let key = rng.pick(&keys).to_string();
    let elem = |r: &mut Rng| r.pick(&elems).to_string();
    let side = |r: &mut Rng| if r.below(2) == 0 { "LEFT" } else { "RIGHT" }.to_string();
    let mut cmd: Vec<String> = match rng.below(20) {
        0..=3 => {
            let name = ["LPUSH", "RPUSH", "LPUSHX", "RPUSHX"][rng.below(4) as usize];
            let n = 1 + rng.below(4);
            let mut c = vec![name.to_string(), key];
            for _ in 0..n {
                c.push(elem(rng));
            }
            c
        }
        4 | 5 => {
            let name = if rng.below(2) == 0 { "LPOP" } else { "RPOP" };
            let mut c = vec![name.to_string(), key];
            if rng.below(2) == 0 {
                c.push(rng.below(5).to_string());
            }
            c
        }
        6 => vec!["LLEN".into(), key],
        7 | 8 => vec![
            "LRANGE".into(),
            key,
            rng.signed(6).to_string(),
            rng.signed(6).to_string(),
        ],
        9 => vec!["LINDEX".into(), key, rng.signed(6).to_string()],
        10 => vec!["LSET".into(), key, rng.signed(6).to_string(), elem(rng)],
        11 => vec!["LREM".into(), key, rng.signed(3).to_string(), elem(rng)],
        12 => vec![
            "LTRIM".into(),
            key,
            rng.signed(6).to_string(),
            rng.signed(6).to_string(),
        ],
        13 => {
            let at = if rng.below(2) == 0 { "BEFORE" } else { "AFTER" };
            vec!["LINSERT".into(), key, at.into(), elem(rng), elem(rng)]
        }
        14 | 15 => {
            let mut c = vec!["LPOS".into(), key, elem(rng)];
            if rng.below(2) == 0 {
                c.extend(["RANK".into(), rng.signed(3).to_string()]);
            }
            if rng.below(2) == 0 {
                c.extend(["COUNT".into(), rng.below(4).to_string()]);
            }
            if rng.below(3) == 0 {
                c.extend(["MAXLEN".into(), rng.below(5).to_string()]);
            }
            c
        }
        16 | 17 => {
            let dst = rng.pick(&keys).to_string();
            vec!["LMOVE".into(), key, dst, side(rng), side(rng)]
        }
        18 => vec!["RPOPLPUSH".into(), key, rng.pick(&keys).to_string()],
        _ => vec!["EXISTS".into(), key],
    };
    if rng.below(50) == 0 {
        cmd = vec!["SET".into(), "str".into(), "v".into()];
    }
    cmd
}

#[test]
fn random_commands_answer_as_redis_does() {
    let Some(redis) = start_redis() else {
        return;
    };
    let ours = Server::start(&[]);
    let mut theirs = Client::connect(redis.port);
    let mut mine = ours.client();
    for seed in [1u64, 7, 42] {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        for c in [&mut theirs, &mut mine] {
            assert_eq!(c.cmd("FLUSHALL"), b"+OK\r\n");
            assert_eq!(c.cmd("SET str v"), b"+OK\r\n");
        }
        for i in 0..3000 {
            let cmd = random_list_command(&mut rng);
            let args: Vec<&[u8]> = cmd.iter().map(|a| a.as_bytes()).collect();
            let want = theirs.call(&args);
            let got = mine.call(&args);
            assert_eq!(
                String::from_utf8_lossy(&got),
                String::from_utf8_lossy(&want),
                "seed {seed}, command {i}: {cmd:?}"
            );
        }
        // The final states agree too.
        for key in ["a", "b", "c"] {
            let cmd = format!("LRANGE {key} 0 -1");
            assert_eq!(mine.cmd(&cmd), theirs.cmd(&cmd), "{key}");
        }
    }
}

/// Sends a command given as separate arguments and returns the reply as a string.
fn call(c: &mut Client, args: &[&[u8]]) -> String {
    String::from_utf8_lossy(&c.call(args)).into_owned()
}

/// Elements of an array of bulk strings (RESP2), e.g. LRANGE's reply.
fn bulks(reply: &[u8]) -> Vec<Vec<u8>> {
    let text = reply;
    let mut out = Vec::new();
    let mut pos = text
        .windows(2)
        .position(|w| w == b"\r\n")
        .expect("array header")
        + 2;
    assert_eq!(
        text[0],
        b'*',
        "not an array: {:?}",
        String::from_utf8_lossy(reply)
    );
    while pos < text.len() {
        assert_eq!(text[pos], b'$');
        let end = pos
            + text[pos..]
                .windows(2)
                .position(|w| w == b"\r\n")
                .expect("len");
        let n: usize = std::str::from_utf8(&text[pos + 1..end])
            .expect("digits")
            .parse()
            .expect("length");
        out.push(text[end + 2..end + 2 + n].to_vec());
        pos = end + 2 + n + 2;
    }
    out
}

#[test]
fn big_lists() {
    on_both(&[], |port| {
        let mut c = Client::connect(port);
        assert_eq!(c.cmd("FLUSHALL"), b"+OK\r\n");
        for batch in 0..10 {
            let mut args: Vec<String> = vec!["RPUSH".into(), "big".into()];
            args.extend((batch * 1000..(batch + 1) * 1000).map(|i| i.to_string()));
            let refs: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
            assert_eq!(call(&mut c, &refs), format!(":{}\r\n", (batch + 1) * 1000));
        }
        assert_eq!(c.int("LLEN big"), 10_000);
        assert_eq!(c.cmd_str("LINDEX big 0"), "$1\r\n0\r\n");
        assert_eq!(c.cmd_str("LINDEX big -1"), "$4\r\n9999\r\n");
        assert_eq!(c.cmd_str("LINDEX big 5000"), "$4\r\n5000\r\n");
        assert_eq!(c.cmd_str("LINDEX big -5000"), "$4\r\n5000\r\n");
        let slice = bulks(&c.cmd("LRANGE big 100 199"));
        let want: Vec<Vec<u8>> = (100..200)
            .map(|i: i32| i.to_string().into_bytes())
            .collect();
        assert_eq!(slice, want);
        assert_eq!(bulks(&c.cmd("LRANGE big 0 -1")).len(), 10_000);
        assert_eq!(c.cmd_str("LSET big 7777 seven"), "+OK\r\n");
        assert_eq!(c.cmd_str("LPOS big seven"), ":7777\r\n");
        assert_eq!(c.cmd_str("LPOS big seven MAXLEN 7777"), "$-1\r\n");
        assert_eq!(c.cmd_str("LPOS big 9999 RANK -1 MAXLEN 1"), ":9999\r\n");
        // Pop half from the head in one go, then trim, then remove many equal elements.
        assert_eq!(bulks(&c.cmd("LPOP big 5000")).len(), 5000);
        assert_eq!(c.cmd_str("LINDEX big 0"), "$4\r\n5000\r\n");
        assert_eq!(c.cmd_str("LTRIM big 1000 -1001"), "+OK\r\n");
        assert_eq!(c.int("LLEN big"), 3000);
        assert_eq!(c.cmd_str("LINDEX big 0"), "$4\r\n6000\r\n");
        let mut args: Vec<&[u8]> = vec![b"LPUSH", b"big"];
        args.extend(std::iter::repeat_n(&b"dup"[..], 500));
        assert_eq!(call(&mut c, &args), ":3500\r\n");
        assert_eq!(c.int("LREM big 300 dup"), 300);
        assert_eq!(c.int("LREM big -100 dup"), 100);
        assert_eq!(c.cmd_str("LINDEX big 99"), "$3\r\ndup\r\n");
        assert_eq!(c.cmd_str("LINDEX big 100"), "$4\r\n6000\r\n");
        assert_eq!(c.int("LREM big 0 dup"), 100);
        assert_eq!(c.int("LLEN big"), 3000);
        assert_eq!(c.int("LINSERT big BEFORE 7500 mid"), 3001);
        assert_eq!(c.cmd_str("LINDEX big 1500"), "$3\r\nmid\r\n");
        assert_eq!(c.cmd_str("LTRIM big 1 0"), "+OK\r\n");
        assert_eq!(c.int("EXISTS big"), 0);
    });
}

#[test]
fn elements_are_binary_safe_at_every_size() {
    on_both(&[], |port| {
        let mut c = Client::connect(port);
        assert_eq!(c.cmd("FLUSHALL"), b"+OK\r\n");
        let mut elements: Vec<Vec<u8>> = vec![
            b"".to_vec(),
            b"\0".to_vec(),
            b"a\r\nb".to_vec(),
            vec![0xff; 3],
        ];
        for n in [21, 22, 23, 64, 65, 1000, 1 << 20] {
            elements.push((0..n).map(|i| (i % 251) as u8).collect());
        }
        for e in &elements {
            c.call(&[b"RPUSH", b"bin", e]);
        }
        let all = bulks(&c.cmd("LRANGE bin 0 -1"));
        assert_eq!(all, elements);
        for (i, e) in elements.iter().enumerate() {
            let idx = i.to_string();
            let got = c.call(&[b"LINDEX", b"bin", idx.as_bytes()]);
            assert!(got.ends_with(&[&e[..], b"\r\n"].concat()), "element {i}");
            assert_eq!(
                call(&mut c, &[b"LPOS", b"bin", e]),
                format!(":{i}\r\n"),
                "element {i}"
            );
        }
        // LSET across the inline/heap boundary, both ways.
        assert_eq!(
            call(&mut c, &[b"LSET", b"bin", b"0", &elements[8]]),
            "+OK\r\n"
        );
        assert_eq!(call(&mut c, &[b"LSET", b"bin", b"8", b"tiny"]), "+OK\r\n");
        assert_eq!(bulks(&c.cmd("LRANGE bin 0 0"))[0], elements[8]);
        assert_eq!(c.cmd_str("LINDEX bin 8"), "$4\r\ntiny\r\n");
        // LMOVE keeps the bytes.
        let last = elements.last().expect("elements");
        let header = format!("${}\r\n", last.len());
        assert_eq!(
            c.call(&[b"RPOPLPUSH", b"bin", b"other"]),
            [header.as_bytes(), last, b"\r\n"].concat()
        );
        assert_eq!(
            bulks(&c.cmd("LRANGE other 0 -1")),
            std::slice::from_ref(last)
        );
    });
}

#[test]
fn writes_keep_the_ttl_and_emptied_lists_go() {
    on_both(&[], |port| {
        let mut c = Client::connect(port);
        assert_eq!(c.cmd("FLUSHALL"), b"+OK\r\n");
        assert_eq!(c.int("RPUSH l a b c d e f"), 6);
        assert_eq!(c.int("EXPIRE l 1000"), 1);
        for cmd in [
            "RPUSH l g",
            "LPUSH l h",
            "RPUSHX l i",
            "LPOP l",
            "RPOP l 2",
            "LSET l 0 x",
            "LINSERT l BEFORE x w",
            "LREM l 1 w",
            "LTRIM l 0 -2",
            "LMOVE l l LEFT RIGHT",
            "LMOVE l dst LEFT RIGHT",
        ] {
            c.cmd(cmd);
            let ttl = c.int("TTL l");
            assert!((990..=1000).contains(&ttl), "{cmd}: TTL {ttl}");
        }
        // The destination of a move keeps its own TTL.
        assert_eq!(c.int("EXPIRE dst 500"), 1);
        c.cmd("RPOPLPUSH l dst");
        assert!((490..=500).contains(&c.int("TTL dst")));
        // Emptying a list deletes the key, whichever command does it.
        for (fill, empty) in [
            ("RPUSH e a", "LPOP e"),
            ("RPUSH e a b", "RPOP e 5"),
            ("RPUSH e a a", "LREM e 0 a"),
            ("RPUSH e a", "LTRIM e 1 0"),
            ("RPUSH e a", "LMOVE e elsewhere LEFT LEFT"),
            ("RPUSH e a", "RPOPLPUSH e elsewhere"),
        ] {
            c.cmd(fill);
            c.cmd("EXPIRE e 100");
            c.cmd(empty);
            assert_eq!(c.int("EXISTS e"), 0, "{empty}");
            assert_eq!(c.int("TTL e"), -2, "{empty}");
        }
        // A new list has no TTL even if an expired one had the name.
        c.cmd("RPUSH gone a");
        c.cmd("PEXPIRE gone 1");
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(c.int("LPUSHX gone b"), 0);
        assert_eq!(c.cmd_str("LMOVE gone x LEFT LEFT"), "$-1\r\n");
        assert_eq!(c.int("RPUSH gone c"), 1);
        assert_eq!(c.int("TTL gone"), -1);
    });
}

/// True if EXEC after WATCH-ing `key` and running `cmd` from another client aborts.
fn watch_aborts(port: u16, setup: &[&str], key: &str, cmd: &str) -> bool {
    let mut c = Client::connect(port);
    let mut other = Client::connect(port);
    assert_eq!(c.cmd("FLUSHALL"), b"+OK\r\n");
    for s in setup {
        c.cmd(s);
    }
    assert_eq!(c.cmd_str(&format!("WATCH {key}")), "+OK\r\n");
    other.cmd(cmd);
    assert_eq!(c.cmd_str("MULTI"), "+OK\r\n");
    assert_eq!(c.cmd_str("PING"), "+QUEUED\r\n");
    let exec = c.cmd_str("EXEC");
    match exec.as_str() {
        "*-1\r\n" => true,
        "*1\r\n+PONG\r\n" => false,
        other => panic!("unexpected EXEC reply {other:?}"),
    }
}

#[test]
fn watch_sees_every_list_change_and_only_changes() {
    on_both(&[], |port| {
        let list = ["RPUSH l a b c"];
        for (setup, key, cmd, aborts) in [
            (&list[..], "l", "RPUSH l d", true),
            (&[][..], "l", "LPUSH l d", true),
            (&list[..], "l", "LPOP l", true),
            (&list[..], "l", "RPOP l 0", false),
            (&list[..], "l", "LSET l 0 z", true),
            (&list[..], "l", "LINSERT l AFTER b z", true),
            (&list[..], "l", "LINSERT l AFTER nothere z", false),
            (&list[..], "l", "LREM l 0 b", true),
            (&list[..], "l", "LREM l 0 nothere", false),
            // Redis signals LTRIM even when nothing is trimmed.
            (&list[..], "l", "LTRIM l 0 -1", true),
            (&list[..], "l", "LMOVE l l LEFT RIGHT", true),
            (&list[..], "dst", "LMOVE l dst LEFT RIGHT", true),
            (&list[..], "l", "RPOPLPUSH l dst", true),
            (&[][..], "l", "LPUSHX l a", false),
            (&[][..], "l", "LPOP l", false),
            (&list[..], "l", "LRANGE l 0 -1", false),
            (&["RPUSH l a"][..], "l", "LPOP l", true),
        ] {
            assert_eq!(
                watch_aborts(port, setup, key, cmd),
                aborts,
                "{cmd} after {setup:?} watching {key}"
            );
        }
    });
}

#[test]
fn reads_count_keyspace_hits_and_misses() {
    on_both(&[], |port| {
        let mut c = Client::connect(port);
        assert_eq!(c.cmd("FLUSHALL"), b"+OK\r\n");
        c.cmd("RPUSH l a b");
        let (h0, m0) = hits_misses(&mut c);
        for cmd in ["LLEN l", "LRANGE l 0 -1", "LINDEX l 0", "LPOS l a"] {
            c.cmd(cmd);
        }
        for cmd in ["LLEN no", "LRANGE no 0 -1", "LINDEX no 0", "LPOS no a"] {
            c.cmd(cmd);
        }
        let (h1, m1) = hits_misses(&mut c);
        assert_eq!((h1 - h0, m1 - m0), (4, 4));
        // Writes do not count.
        for cmd in ["RPUSH l c", "LPOP no", "LSET no 0 x", "LTRIM l 0 -1"] {
            c.cmd(cmd);
        }
        assert_eq!(hits_misses(&mut c), (h1, m1));
    });
}

#[test]
fn redis_benchmark_list_tests_run_clean() {
    if !have_tool("redis-benchmark") {
        return;
    }
    let server = Server::start(&[]);
    redis_benchmark(
        server.port,
        "lpush,rpush,lpop,rpop,lrange",
        20000,
        &[
            "LPUSH",
            "RPUSH",
            "LPOP",
            "RPOP",
            "LPUSH (needed to benchmark LRANGE)",
            "LRANGE_100 (first 100 elements)",
            "LRANGE_300 (first 300 elements)",
            "LRANGE_500 (first 500 elements)",
            "LRANGE_600 (first 600 elements)",
        ],
    );
    // The LRANGE tests read real elements: the benchmark's list holds its 3-byte values.
    let mut c = server.client();
    assert!(c.cmd_str("LINDEX mylist 0").starts_with("$3\r\n"));
    assert!(c.int("LLEN mylist") >= 600);
}
