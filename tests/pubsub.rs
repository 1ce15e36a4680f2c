//! Pub/sub against redis-server 7.0: the same scenario runs on both servers and their raw
//! replies (confirmations, messages, errors, RESP2 and RESP3 framing) must be equal.

mod common;

use std::time::Duration;

use common::{Client, Server, info_field, same_on_both, text, wait_for};

/// Reads `n` replies and returns them sorted (for replies whose order is a hash order).
fn sorted_replies(c: &mut Client, n: usize) -> Vec<String> {
    let mut v: Vec<String> = (0..n).map(|_| text(c.read_reply())).collect();
    v.sort();
    v
}

#[test]
fn subscribe_publish_and_unsubscribe_in_resp2() {
    same_on_both(|port| {
        let mut t = Vec::new();
        let mut sub = Client::connect(port);
        let mut publ = Client::connect(port);
        sub.send(&[b"SUBSCRIBE", b"news", b"sport", b"news"]);
        for _ in 0..3 {
            t.push(text(sub.read_reply()));
        }
        sub.send(&[b"PSUBSCRIBE", b"n*", b"x?z"]);
        for _ in 0..2 {
            t.push(text(sub.read_reply()));
        }
        t.push(text(publ.cmd("PUBLISH news hello")));
        t.push(text(sub.read_reply()));
        t.push(text(sub.read_reply()));
        t.push(text(publ.cmd("PUBLISH nothing x")));
        t.push(text(sub.read_reply()));
        t.push(text(publ.cmd("PUBLISH other x")));
        // Binary-safe channel and payload.
        t.push(text(publ.call(&[b"PUBLISH", b"xyz", b"a\r\n\0b"])));
        t.push(text(sub.read_reply()));
        // Subscribed mode in RESP2: only subscription commands, PING, QUIT and RESET.
        t.push(text(sub.cmd("GET k")));
        t.push(text(
            sub.cmd("CLIENT ID")
                .get(..30)
                .map(<[u8]>::to_vec)
                .unwrap_or_default(),
        ));
        t.push(text(sub.cmd("PING")));
        t.push(text(sub.cmd("PING hi")));
        t.push(text(publ.cmd("PUBSUB NUMSUB news sport none")));
        t.push(text(publ.cmd("PUBSUB NUMPAT")));
        let mut chans = publ.cmd_str("PUBSUB CHANNELS");
        chans = chans
            .lines()
            .filter(|l| !l.starts_with('$'))
            .collect::<Vec<_>>()
            .join(",");
        t.push(
            chans
                .split(',')
                .map(str::to_string)
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect::<Vec<_>>()
                .join(","),
        );
        t.push(text(publ.cmd("PUBSUB CHANNELS s*")));
        // Unsubscribing everything answers once per channel, in the server's hash order:
        // compare the channels named and the count left at the end.
        sub.send(&[b"UNSUBSCRIBE"]);
        let all = sorted_replies(&mut sub, 2);
        let names: Vec<String> = all
            .iter()
            .map(|r| r.split("\r\n").nth(4).unwrap_or_default().to_string())
            .collect();
        t.push(format!("{names:?}"));
        t.push(
            all.iter()
                .map(|r| r.rsplit("\r\n").nth(1).unwrap_or_default().to_string())
                .min()
                .unwrap_or_default(),
        );
        sub.send(&[b"UNSUBSCRIBE"]);
        t.push(text(sub.read_reply()));
        sub.send(&[b"PUNSUBSCRIBE", b"n*"]);
        t.push(text(sub.read_reply()));
        sub.send(&[b"PUNSUBSCRIBE"]);
        t.push(text(sub.read_reply()));
        sub.send(&[b"PUNSUBSCRIBE"]);
        t.push(text(sub.read_reply()));
        // Out of subscribed mode: ordinary commands again.
        t.push(text(sub.cmd("PING")));
        t.push(text(sub.cmd("GET k")));
        t
    });
}

#[test]
fn resp3_subscribers_get_pushes_and_may_run_anything() {
    same_on_both(|port| {
        let mut t = Vec::new();
        let mut sub = Client::connect(port);
        sub.cmd("HELLO 3");
        sub.send(&[b"SUBSCRIBE", b"ch"]);
        t.push(text(sub.read_reply()));
        t.push(text(sub.cmd("SET k v")));
        t.push(text(sub.cmd("GET k")));
        t.push(text(sub.cmd("PING")));
        // Publishing to a channel it listens to: the message comes before the reply.
        sub.send(&[b"PUBLISH", b"ch", b"self"]);
        t.push(text(sub.read_reply()));
        t.push(text(sub.read_reply()));
        let mut publ = Client::connect(port);
        t.push(text(publ.cmd("PUBLISH ch other")));
        t.push(text(sub.read_reply()));
        sub.send(&[b"UNSUBSCRIBE", b"ch", b"never"]);
        t.push(text(sub.read_reply()));
        t.push(text(sub.read_reply()));
        t
    });
}

#[test]
fn shard_channels_are_their_own_namespace() {
    same_on_both(|port| {
        let mut t = Vec::new();
        let mut sub = Client::connect(port);
        let mut publ = Client::connect(port);
        sub.send(&[b"SSUBSCRIBE", b"orders"]);
        t.push(text(sub.read_reply()));
        sub.send(&[b"PSUBSCRIBE", b"*"]);
        t.push(text(sub.read_reply()));
        t.push(text(publ.cmd("SPUBLISH orders one")));
        t.push(text(sub.read_reply()));
        // PUBLISH on the same name reaches only the pattern.
        t.push(text(publ.cmd("PUBLISH orders two")));
        t.push(text(sub.read_reply()));
        t.push(text(publ.cmd("PUBSUB SHARDNUMSUB orders none")));
        t.push(text(publ.cmd("PUBSUB SHARDCHANNELS")));
        t.push(text(publ.cmd("PUBSUB SHARDCHANNELS x*")));
        t.push(text(publ.cmd("PUBSUB NUMSUB orders")));
        sub.send(&[b"SUNSUBSCRIBE"]);
        t.push(text(sub.read_reply()));
        sub.send(&[b"SUNSUBSCRIBE"]);
        t.push(text(sub.read_reply()));
        t
    });
}

#[test]
fn pubsub_errors_and_help_as_redis() {
    same_on_both(|port| {
        let mut c = Client::connect(port);
        [
            "PUBSUB",
            "PUBSUB FOO",
            "PUBSUB NUMPAT x",
            "PUBSUB CHANNELS a b",
            "PUBSUB SHARDCHANNELS a b",
            "PUBSUB NUMSUB",
            "PUBSUB HELP",
            "PUBLISH ch",
            "SUBSCRIBE",
            "PSUBSCRIBE",
            "SSUBSCRIBE",
            "SPUBLISH a",
            "RESET x",
            "UNSUBSCRIBE",
            "SUNSUBSCRIBE",
        ]
        .iter()
        .map(|cmd| format!("{cmd} -> {}", c.cmd_str(cmd)))
        .collect()
    });
}

#[test]
fn reset_leaves_subscribed_mode_and_everything_else() {
    same_on_both(|port| {
        let mut t = Vec::new();
        let mut c = Client::connect(port);
        c.cmd("HELLO 3");
        c.cmd("SELECT 3");
        c.cmd("CLIENT SETNAME someone");
        c.send(&[b"SUBSCRIBE", b"a"]);
        t.push(text(c.read_reply()));
        c.cmd("MULTI");
        t.push(text(c.cmd("RESET")));
        t.push(text(c.cmd("CLIENT GETNAME")));
        t.push(text(c.cmd("GET k")));
        t.push(text(c.cmd("HGETALL nothing")));
        t.push(text(c.cmd("EXEC")));
        let mut other = Client::connect(port);
        t.push(text(other.cmd("PUBSUB NUMSUB a")));
        // With a password, RESET logs the connection out.
        other.cmd("CONFIG SET requirepass pw");
        let mut authed = Client::connect(port);
        t.push(text(authed.cmd("AUTH pw")));
        t.push(text(authed.cmd("RESET")));
        t.push(text(authed.cmd("GET k")));
        t.push(text(authed.cmd("AUTH pw")));
        t.push(text(authed.cmd("CONFIG SET requirepass")));
        authed.call(&[b"CONFIG", b"SET", b"requirepass", b""]);
        t
    });
}

#[test]
fn client_list_and_info_show_subscriptions() {
    let ours = Server::start(&[]);
    let mut sub = ours.client();
    sub.send(&[b"SUBSCRIBE", b"a", b"b"]);
    sub.read_reply();
    sub.read_reply();
    sub.send(&[b"PSUBSCRIBE", b"p*"]);
    sub.read_reply();
    sub.send(&[b"SSUBSCRIBE", b"s"]);
    sub.read_reply();
    let mut admin = ours.client();
    let list = admin.cmd_str("CLIENT LIST");
    assert!(
        list.contains(" flags=P db=0 sub=2 psub=1 ssub=1 multi=-1 "),
        "{list}"
    );
    assert_eq!(info_field(&mut admin, "stats", "pubsub_channels"), 2);
    assert_eq!(info_field(&mut admin, "stats", "pubsub_patterns"), 1);
    assert_eq!(info_field(&mut admin, "stats", "pubsubshard_channels"), 1);
    let mut tx = ours.client();
    tx.cmd("CLIENT SETNAME tx");
    tx.cmd("MULTI");
    tx.cmd("PING");
    tx.cmd("PING");
    let list = admin.cmd_str("CLIENT LIST");
    assert!(
        list.contains(" name=tx ") && list.contains(" flags=x db=0 sub=0 psub=0 ssub=0 multi=2 "),
        "{list}"
    );
    tx.cmd("EXEC");
    // A client that goes away leaves nothing behind.
    drop(sub);
    let gone = wait_for(Duration::from_secs(5), || {
        (admin.cmd_str("PUBSUB NUMSUB a b") == "*4\r\n$1\r\na\r\n:0\r\n$1\r\nb\r\n:0\r\n"
            && admin.cmd_str("PUBSUB NUMPAT") == ":0\r\n")
            .then_some(())
    });
    assert!(gone.is_some(), "subscriptions of a closed client remain");
}

#[test]
fn a_thousand_subscribers_each_get_every_message() {
    let ours = Server::start(&[]);
    let mut subs: Vec<Client> = (0..1000).map(|_| ours.client()).collect();
    for s in &mut subs {
        s.send(&[b"SUBSCRIBE", b"fan"]);
    }
    for s in &mut subs {
        assert_eq!(
            s.read_reply(),
            b"*3\r\n$9\r\nsubscribe\r\n$3\r\nfan\r\n:1\r\n"
        );
    }
    let mut publ = ours.client();
    for i in 0..10 {
        assert_eq!(publ.cmd_str(&format!("PUBLISH fan m{i}")), ":1000\r\n");
    }
    for s in &mut subs {
        for i in 0..10 {
            let want = format!("*3\r\n$7\r\nmessage\r\n$3\r\nfan\r\n$2\r\nm{i}\r\n");
            assert_eq!(String::from_utf8_lossy(&s.read_reply()), want);
        }
    }
}

#[test]
fn a_slow_subscriber_is_cut_off_at_the_pubsub_limit() {
    let ours = Server::start(&[]);
    let mut admin = ours.client();
    let limit = [
        "CONFIG",
        "SET",
        "client-output-buffer-limit",
        "pubsub 1mb 0 0",
    ];
    assert_eq!(admin.call(&limit.map(str::as_bytes)), b"+OK\r\n");
    // A subscriber that never reads.
    let mut slow = ours.client();
    slow.send(&[b"SUBSCRIBE", b"firehose"]);
    slow.read_reply();
    let payload = vec![b'x'; 64 * 1024];
    // 64 MiB of messages: far more than the socket buffers plus the 1 MiB limit.
    let mut cut = false;
    for _ in 0..1024 {
        let reply = admin.call(&[b"PUBLISH", b"firehose", &payload]);
        if reply == b":0\r\n" {
            cut = true;
            break;
        }
        assert_eq!(reply, b":1\r\n");
    }
    assert!(cut, "the slow subscriber was never disconnected");
    assert_eq!(
        admin.cmd("PUBSUB NUMSUB firehose"),
        b"*2\r\n$8\r\nfirehose\r\n:0\r\n"
    );
    let rss_ok = info_field(&mut admin, "memory", "used_memory") < 64 << 20;
    assert!(rss_ok, "the server kept the undelivered messages");
    assert_eq!(admin.cmd("PING"), b"+PONG\r\n");
}

#[test]
fn client_reply_off_and_skip_drop_replies_but_not_pushes() {
    same_on_both(|port| {
        let mut t = Vec::new();
        let mut c = Client::connect(port);
        c.send_raw(b"CLIENT REPLY OFF\r\nSET a 1\r\nGET a\r\nPSUBSCRIBE *\r\n");
        t.push(text(c.read_reply()));
        c.send_raw(b"PUNSUBSCRIBE *\r\nCLIENT REPLY ON\r\nGET a\r\n");
        t.push(text(c.read_reply()));
        t.push(text(c.read_reply()));
        t.push(text(c.read_reply()));
        c.send_raw(b"CLIENT REPLY SKIP\r\nGET a\r\nECHO seen\r\n");
        t.push(text(c.read_reply()));
        c.send_raw(
            b"CLIENT REPLY OFF\r\nCLIENT REPLY SKIP\r\nGET a\r\nCLIENT REPLY ON\r\nECHO back\r\n",
        );
        t.push(text(c.read_reply()));
        t.push(text(c.read_reply()));
        t.push(text(c.cmd("CLIENT REPLY MAYBE")));
        t.push(text(c.cmd("CLIENT REPLY")));
        t
    });
}
