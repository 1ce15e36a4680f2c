//! Blocking list commands against redis-server 7.0: the same scenario runs on both servers
//! and their raw replies must be equal. Waiters are served first come first served, time
//! out on time, and leave nothing behind when they go.

mod common;

use std::time::{Duration, Instant};

use common::{Client, Server, info_field, same_on_both, text, wait_for};

/// Waits until the server counts `n` blocked clients.
fn until_blocked(admin: &mut Client, n: u64) {
    let ok = wait_for(Duration::from_secs(5), || {
        (info_field(admin, "clients", "blocked_clients") == n).then_some(())
    });
    assert!(ok.is_some(), "expected {n} blocked clients");
}

#[test]
fn waiters_are_served_first_come_first_served() {
    same_on_both(|port| {
        let mut admin = Client::connect(port);
        admin.cmd("FLUSHALL");
        let mut waiters: Vec<Client> = (0..3).map(|_| Client::connect(port)).collect();
        for (i, w) in waiters.iter_mut().enumerate() {
            w.send(&[b"BLPOP", b"q", b"other", b"0"]);
            until_blocked(&mut admin, i as u64 + 1);
        }
        // One write wakes the first two waiters; the third stays blocked.
        let mut t = vec![text(admin.cmd("RPUSH q a b"))];
        for w in waiters.iter_mut().take(2) {
            t.push(text(w.read_reply()));
        }
        t.push(text(admin.cmd("LLEN q")));
        until_blocked(&mut admin, 1);
        // A key it also waits for serves it; a pipelined LLEN sees the popped list.
        admin.send_raw(b"RPUSH other x\r\nLLEN other\r\n");
        t.push(text(admin.read_reply()));
        t.push(text(admin.read_reply()));
        t.push(text(waiters[2].read_reply()));
        t.push(text(admin.cmd("EXISTS q other")));
        t
    });
}

#[test]
fn blocked_client_runs_its_pipeline_after_being_served() {
    same_on_both(|port| {
        let mut admin = Client::connect(port);
        admin.cmd("FLUSHALL");
        let mut w = Client::connect(port);
        w.send_raw(b"BRPOP q 0\r\nPING\r\nECHO after\r\n");
        until_blocked(&mut admin, 1);
        let mut t = vec![text(admin.cmd("LPUSH q 1 2 3"))];
        for _ in 0..3 {
            t.push(text(w.read_reply()));
        }
        t.push(text(admin.cmd("LRANGE q 0 -1")));
        t
    });
}

#[test]
fn blmove_brpoplpush_and_blmpop() {
    same_on_both(|port| {
        let mut admin = Client::connect(port);
        admin.cmd("FLUSHALL");
        let mut t = Vec::new();
        let mut w = Client::connect(port);
        w.send(&[b"BLMOVE", b"src", b"dst", b"LEFT", b"RIGHT", b"0"]);
        until_blocked(&mut admin, 1);
        t.push(text(admin.cmd("RPUSH src a b")));
        t.push(text(w.read_reply()));
        t.push(text(admin.cmd("LRANGE dst 0 -1")));
        t.push(text(w.cmd("BRPOPLPUSH src dst 0")));
        t.push(text(w.cmd("LRANGE dst 0 -1")));
        w.send(&[b"BRPOPLPUSH", b"empty", b"dst", b"0"]);
        until_blocked(&mut admin, 1);
        t.push(text(admin.cmd("RPUSH empty z")));
        t.push(text(w.read_reply()));
        w.send(&[
            b"BLMPOP", b"0", b"2", b"m1", b"m2", b"RIGHT", b"COUNT", b"2",
        ]);
        until_blocked(&mut admin, 1);
        t.push(text(admin.cmd("RPUSH m2 1 2 3")));
        t.push(text(w.read_reply()));
        t.push(text(w.cmd("BLMPOP 0 2 m1 m2 LEFT")));
        t.push(text(w.cmd("LMPOP 2 m1 m2 LEFT COUNT 5")));
        t.push(text(w.cmd("LMPOP 2 m1 m2 LEFT")));
        // BLMOVE onto a key of another type: the waiter gets WRONGTYPE.
        admin.cmd("SET str x");
        w.send(&[b"BLMOVE", b"s2", b"str", b"LEFT", b"LEFT", b"0"]);
        until_blocked(&mut admin, 1);
        t.push(text(admin.cmd("RPUSH s2 v")));
        t.push(text(w.read_reply()));
        t.push(text(admin.cmd("LRANGE s2 0 -1")));
        t
    });
}

#[test]
fn errors_and_non_blocking_cases() {
    same_on_both(|port| {
        let mut c = Client::connect(port);
        c.cmd("FLUSHALL");
        c.cmd("SET str x");
        c.cmd("RPUSH l a");
        [
            "BLPOP l -1",
            "BLPOP l abc",
            "BLPOP l nan",
            "BLPOP str 0",
            "BLPOP none str 0",
            "BLPOP l 0",
            "BLPOP",
            "BLMOVE a b UP LEFT 0",
            "BLMOVE a b LEFT LEFT -2",
            "BRPOPLPUSH a b x",
            "BLMOVE str b LEFT LEFT 0",
            "LMPOP 0 a LEFT",
            "LMPOP -1 a LEFT",
            "LMPOP x a LEFT",
            "LMPOP 2 a LEFT",
            "LMPOP 1 a MIDDLE",
            "LMPOP 1 a LEFT COUNT 0",
            "LMPOP 1 a LEFT COUNT x",
            "LMPOP 1 a LEFT COUNT 1 COUNT 2",
            "LMPOP 1 a LEFT FOO",
            "LMPOP 1 str LEFT",
            "LMPOP 1 a LEFT",
            "BLMPOP 0 0 a LEFT",
            "BLMPOP x 1 a LEFT",
            "BLMPOP 0.01 1 a LEFT",
            "BLPOP a 0.01",
            "BRPOPLPUSH a b 0.01",
            "CLIENT UNBLOCK 999999",
            "CLIENT UNBLOCK x",
            "CLIENT UNBLOCK 1 MAYBE",
            "CLIENT UNBLOCK 1 TIMEOUT x",
        ]
        .iter()
        .map(|cmd| format!("{cmd} -> {}", c.cmd_str(cmd)))
        .collect()
    });
}

#[test]
fn inside_multi_blocking_commands_do_not_block_and_wake_nobody() {
    same_on_both(|port| {
        let mut admin = Client::connect(port);
        admin.cmd("FLUSHALL");
        let mut t = Vec::new();
        let mut tx = Client::connect(port);
        tx.cmd("MULTI");
        tx.cmd("BLPOP empty 0");
        tx.cmd("BLMOVE empty x LEFT LEFT 0");
        tx.cmd("BLMPOP 0 1 empty LEFT");
        t.push(text(tx.cmd("EXEC")));
        // A waiter, then a transaction that pushes and pops the key: nobody wakes.
        let mut w = Client::connect(port);
        w.send(&[b"BLPOP", b"q", b"0"]);
        until_blocked(&mut admin, 1);
        tx.cmd("MULTI");
        tx.cmd("LPUSH q x");
        tx.cmd("LPOP q");
        t.push(text(tx.cmd("EXEC")));
        t.push(info_field(&mut admin, "clients", "blocked_clients").to_string());
        t.push(text(admin.cmd("RPUSH q y")));
        t.push(text(w.read_reply()));
        t
    });
}

#[test]
fn a_key_of_another_type_leaves_the_waiter_blocked() {
    same_on_both(|port| {
        let mut admin = Client::connect(port);
        admin.cmd("FLUSHALL");
        let mut w = Client::connect(port);
        w.send(&[b"BLPOP", b"k", b"0"]);
        until_blocked(&mut admin, 1);
        let mut t = vec![text(admin.cmd("SET k v"))];
        t.push(info_field(&mut admin, "clients", "blocked_clients").to_string());
        admin.cmd("DEL k");
        t.push(text(admin.cmd("RPUSH k v")));
        t.push(text(w.read_reply()));
        t
    });
}

#[test]
fn timeouts_and_client_unblock() {
    same_on_both(|port| {
        let mut admin = Client::connect(port);
        admin.cmd("FLUSHALL");
        let mut t = Vec::new();
        let mut w = Client::connect(port);
        let started = Instant::now();
        t.push(text(w.cmd("BLPOP nothing 0.2")));
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(200) && took < Duration::from_millis(1500),
            "{took:?}"
        );
        w.cmd("HELLO 3");
        t.push(text(w.cmd("BLPOP nothing 0.05")));
        t.push(text(w.cmd("BLMOVE nothing x LEFT LEFT 0.05")));
        w.cmd("HELLO 2");
        let id = w.cmd_str("CLIENT ID");
        let id = id.trim_start_matches(':').trim().to_string();
        w.send(&[b"BLPOP", b"q", b"0"]);
        until_blocked(&mut admin, 1);
        t.push(admin.cmd_str(&format!("CLIENT UNBLOCK {id}")));
        t.push(text(w.read_reply()));
        w.send(&[b"BRPOPLPUSH", b"q", b"d", b"0"]);
        until_blocked(&mut admin, 1);
        t.push(admin.cmd_str(&format!("CLIENT UNBLOCK {id} ERROR")));
        t.push(text(w.read_reply()));
        t.push(admin.cmd_str(&format!("CLIENT UNBLOCK {id}")));
        let list = admin.cmd_str("CLIENT LIST");
        t.push(format!("{}", list.contains(" flags=b ")));
        t
    });
}

#[test]
fn a_blocked_client_that_disconnects_leaves_nothing_behind() {
    let ours = Server::start(&[]);
    let mut admin = ours.client();
    let mut w = ours.client();
    w.send(&[b"BLPOP", b"q", b"0"]);
    until_blocked(&mut admin, 1);
    let list = admin.cmd_str("CLIENT LIST");
    assert!(list.contains(" flags=b "), "{list}");
    drop(w);
    until_blocked(&mut admin, 0);
    assert_eq!(admin.cmd("RPUSH q x"), b":1\r\n");
    assert_eq!(admin.cmd("LLEN q"), b":1\r\n");
    // Many waiters on one key, most of them gone: the rest are still served in order.
    let mut ws: Vec<Client> = (0..50).map(|_| ours.client()).collect();
    for (i, w) in ws.iter_mut().enumerate() {
        w.send(&[b"BLPOP", b"fifo", b"0"]);
        until_blocked(&mut admin, i as u64 + 1);
    }
    let mut kept: Vec<Client> = ws
        .drain(..)
        .enumerate()
        .filter(|(i, _)| i % 5 == 0)
        .map(|(_, w)| w)
        .collect();
    until_blocked(&mut admin, 10);
    let values: Vec<String> = (0..10).map(|i| format!("v{i}")).collect();
    let mut push = vec!["RPUSH".to_string(), "fifo".to_string()];
    push.extend(values.iter().cloned());
    let args: Vec<&[u8]> = push.iter().map(|s| s.as_bytes()).collect();
    assert_eq!(admin.call(&args), b":10\r\n");
    for (i, w) in kept.iter_mut().enumerate() {
        let want = format!("*2\r\n$4\r\nfifo\r\n$2\r\nv{i}\r\n");
        assert_eq!(String::from_utf8_lossy(&w.read_reply()), want);
    }
}

#[test]
fn blocking_sorted_set_pops() {
    same_on_both(|port| {
        let mut admin = Client::connect(port);
        admin.cmd("FLUSHALL");
        let mut t = Vec::new();
        let mut w = Client::connect(port);
        w.send(&[b"BZPOPMIN", b"z1", b"z2", b"0"]);
        until_blocked(&mut admin, 1);
        t.push(text(admin.cmd("ZADD z2 1 a 2 b 3 c")));
        t.push(text(w.read_reply()));
        t.push(text(w.cmd("BZPOPMAX z1 z2 0")));
        w.send(&[b"BZMPOP", b"0", b"2", b"z3", b"z2", b"MIN", b"COUNT", b"5"]);
        t.push(text(w.read_reply()));
        t.push(text(admin.cmd("EXISTS z2")));
        w.send(&[b"BZMPOP", b"0", b"1", b"z3", b"MAX", b"COUNT", b"2"]);
        until_blocked(&mut admin, 1);
        t.push(text(admin.cmd("ZADD z3 1.5 x 2.5 y 3.5 z")));
        t.push(text(w.read_reply()));
        t.push(text(admin.cmd("ZRANGE z3 0 -1 WITHSCORES")));
        // RESP3: scores are doubles.
        w.cmd("HELLO 3");
        t.push(text(w.cmd("BZPOPMIN z3 0")));
        t.push(text(w.cmd("ZMPOP 1 z3 MAX")));
        t.push(text(w.cmd("BZPOPMIN z3 0.01")));
        t.push(text(w.cmd("BZMPOP 0.01 1 z3 MIN")));
        w.cmd("HELLO 2");
        // A list is no sorted set: a BZPOPMIN waiter stays blocked.
        w.send(&[b"BZPOPMIN", b"k", b"0"]);
        until_blocked(&mut admin, 1);
        t.push(text(admin.cmd("RPUSH k v")));
        t.push(info_field(&mut admin, "clients", "blocked_clients").to_string());
        admin.cmd("DEL k");
        t.push(text(admin.cmd("ZADD k 7 m")));
        t.push(text(w.read_reply()));
        for cmd in [
            "ZMPOP 0 a MIN",
            "ZMPOP 1 a MIDDLE",
            "ZMPOP 1 a MIN COUNT 0",
            "ZMPOP 1 a MIN COUNT",
            "ZMPOP 2 a MIN",
            "BZMPOP -1 1 a MIN",
            "BZPOPMIN a -1",
            "BZPOPMAX k k 0.01",
            "ZMPOP 1 a MIN",
        ] {
            t.push(format!("{cmd} -> {}", admin.cmd_str(cmd)));
        }
        admin.cmd("SET str v");
        t.push(admin.cmd_str("BZPOPMIN str 0"));
        t.push(admin.cmd_str("ZMPOP 1 str MIN"));
        t
    });
}

/// WAIT without replicas: errors as Redis's; asking for none, or inside MULTI, replies 0
/// at once; otherwise the client blocks until its timeout (or CLIENT UNBLOCK) and gets 0.
#[test]
fn wait_without_replicas_as_redis() {
    same_on_both(|port| {
        let mut c = Client::connect(port);
        let mut t = Vec::new();
        for line in [
            "WAIT 0 0",
            "WAIT -1 100",
            "WAIT x 0",
            "WAIT 1 x",
            "WAIT 1 -1",
            "WAIT 1",
            "MULTI",
            "WAIT 1 0",
            "EXEC",
        ] {
            t.push(text(c.cmd(line)));
        }
        // Blocks for its timeout: counted as blocked meanwhile, then 0.
        let mut w = Client::connect(port);
        w.send(&[b"WAIT", b"1", b"300"]);
        let blocked = wait_for(Duration::from_secs(5), || {
            (info_field(&mut c, "clients", "blocked_clients") == 1).then_some(())
        });
        t.push(format!("blocked: {}", blocked.is_some()));
        t.push(text(w.read_reply()));
        // Forever, until CLIENT UNBLOCK.
        w.send(&[b"WAIT", b"2", b"0"]);
        wait_for(Duration::from_secs(5), || {
            (info_field(&mut c, "clients", "blocked_clients") == 1).then_some(())
        })
        .expect("blocked");
        let wid = {
            let list = text(c.cmd("CLIENT LIST"));
            list.lines()
                .find(|l| l.contains("cmd=wait"))
                .and_then(|l| l.split(' ').find_map(|f| f.strip_prefix("id=")))
                .unwrap_or("0")
                .to_string()
        };
        t.push(text(c.cmd_args(&["CLIENT", "UNBLOCK", &wid])));
        t.push(text(w.read_reply()));
        t
    });
}
