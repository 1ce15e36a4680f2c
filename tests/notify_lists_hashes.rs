//! Keyspace notifications of the list and hash commands against redis-server 7.0: the same
//! script runs on both servers while another connection listens on `__key*@*__:*`, and the
//! events it receives (channel, message, order) must be equal, as must every reply. No-op
//! and failing commands must publish nothing. A RESP3 client subscribed to its own events
//! must see each push exactly where Redis puts it relative to its replies.

mod common;

use std::time::{Duration, Instant};

use common::{Client, bulk_strings, same_on_both, text, wait_for};

/// A listener on every keyspace and keyevent channel, and on `sentinel`, which marks the
/// end of a script's events.
struct Listener(Client);

impl Listener {
    fn new(port: u16) -> Listener {
        let mut sub = Client::connect(port);
        sub.send(&[b"PSUBSCRIBE", b"__key*@*__:*"]);
        sub.read_reply();
        sub.send(&[b"SUBSCRIBE", b"sentinel"]);
        sub.read_reply();
        Listener(sub)
    }

    /// Every message received up to the sentinel (published by `publisher` now), as
    /// `channel message` lines. The read waits at most the client's read timeout.
    fn drain(&mut self, publisher: &mut Client) -> Vec<String> {
        // (Not checking the count: a listener of an earlier run on the same server may not
        // be gone yet.)
        publisher.cmd("PUBLISH sentinel end");
        let mut events = Vec::new();
        loop {
            let parts = bulk_strings(&self.0.read_reply());
            let [.., channel, message] = &parts[..] else {
                panic!("not a message: {parts:?}");
            };
            let line = format!(
                "{} {}",
                String::from_utf8_lossy(channel),
                String::from_utf8_lossy(message)
            );
            if channel == b"sentinel" {
                return events;
            }
            events.push(line);
        }
    }
}

/// Sets `notify-keyspace-events` on a server.
fn set_flags(port: u16, flags: &str) {
    let mut admin = Client::connect(port);
    let set = [
        &b"CONFIG"[..],
        b"SET",
        b"notify-keyspace-events",
        flags.as_bytes(),
    ];
    assert_eq!(admin.call(&set), b"+OK\r\n");
}

/// With `flags` selected, runs `script` (arguments split on spaces) on a fresh connection
/// and returns each command with its reply, then the events a listener received, in order.
fn watch(port: u16, flags: &str, script: &[String]) -> Vec<String> {
    set_flags(port, flags);
    let mut listener = Listener::new(port);
    let mut c = Client::connect(port);
    let mut t: Vec<String> = script
        .iter()
        .map(|line| format!("{line} -> {}", c.cmd_str(line)))
        .collect();
    t.push(format!("events with {flags}:"));
    t.extend(listener.drain(&mut c));
    t
}

/// Every list command: pushes (once per command, not per element), pops with and without
/// a count, LINSERT, LSET, LREM, LTRIM, LMOVE / RPOPLPUSH in all directions and onto
/// themselves, the `del` of a list emptied, and the no-ops and errors that publish nothing.
fn list_script() -> Vec<String> {
    [
        "LPUSH l a b c",
        "LPUSH l d",
        "RPUSH l e f",
        "LPUSHX none x",
        "RPUSHX none x y",
        "LPUSHX l g h",
        "RPUSHX l i",
        "LLEN l",
        "LRANGE l 0 -1",
        "LINDEX l 0",
        "LPOS l a",
        "LLEN none",
        "HSET h f v",
        "LPUSH h x",
        "RPUSHX h x",
        "LPOP l",
        "RPOP l",
        "LPOP l 2",
        "RPOP l 2",
        "LPOP l 0",
        "RPOP l 0",
        "LPOP none",
        "RPOP none 3",
        "LPOP none 0",
        "LPOP l -1",
        "LPOP l x",
        "LPOP l 1 2",
        "LPOP h",
        "RPOP h 1",
        "LRANGE l 0 -1",
        "LINSERT l BEFORE c x",
        "LINSERT l AFTER c y",
        "LINSERT l AFTER nothere y",
        "LINSERT none BEFORE a b",
        "LINSERT l MIDDLE a b",
        "LINSERT h BEFORE a b",
        "LSET l 0 first",
        "LSET l -1 last",
        "LSET l 100 x",
        "LSET l notint x",
        "LSET none 0 x",
        "LSET h 0 x",
        "RPUSH l x x x",
        "LREM l 1 x",
        "LREM l -1 x",
        "LREM l 0 x",
        "LREM l 0 nothere",
        "LREM none 0 x",
        "LREM l notint x",
        "LREM h 0 x",
        "LTRIM l 0 -1",
        "LTRIM l 1 -2",
        "LTRIM none 0 1",
        "LTRIM l x 1",
        "LTRIM h 0 1",
        "LRANGE l 0 -1",
        "LTRIM l 5 1",
        "LLEN l",
        "RPUSH r a a",
        "LREM r 0 a",
        "RPUSH src a b c d",
        "LMOVE src dst LEFT RIGHT",
        "LMOVE src dst RIGHT LEFT",
        "LMOVE src src LEFT RIGHT",
        "LMOVE src src RIGHT LEFT",
        "LMOVE src src LEFT LEFT",
        "RPOPLPUSH src dst",
        "RPOPLPUSH src dst",
        "LLEN src",
        "RPOPLPUSH dst dst",
        "LMOVE dst dst RIGHT RIGHT",
        "LMOVE none dst LEFT LEFT",
        "RPOPLPUSH none dst",
        "LMOVE dst h LEFT LEFT",
        "LMOVE h dst LEFT LEFT",
        "RPOPLPUSH dst h",
        "LMOVE dst x UP LEFT",
        "LMOVE dst x LEFT DOWN",
        "LRANGE dst 0 -1",
        "RPUSH one a",
        "LPOP one 5",
        "RPUSH two a",
        "RPOP two",
        "LPUSH three a",
        "LMOVE three three LEFT RIGHT",
        "LMOVE three four RIGHT LEFT",
        "LPUSH",
        "LSET l",
    ]
    .map(String::from)
    .to_vec()
}

/// Every hash command: HSET / HMSET (one event whatever the number of new fields), HSETNX,
/// the counters, HDEL and the `del` of a hash emptied, the reads, no-ops and errors.
fn hash_script() -> Vec<String> {
    [
        "HSET h f1 v1 f2 v2",
        "HSET h f1 v1",
        "HSET h f3",
        "HMSET h f4 v4 f5 v5",
        "HMSET h f4",
        "HSETNX h f1 x",
        "HSETNX h f6 v6",
        "HSETNX h2 f v",
        "HGET h f1",
        "HGET none f1",
        "HMGET h f1 nope",
        "HLEN h",
        "HEXISTS h f1",
        "HSTRLEN h f1",
        "HGETALL h2",
        "HKEYS h2",
        "HVALS h2",
        "HRANDFIELD h2",
        "HRANDFIELD h2 -2 WITHVALUES",
        "HSCAN h2 0",
        "HINCRBY h n 5",
        "HINCRBY h n -2",
        "HINCRBY h f1 1",
        "HINCRBY h n x",
        "HINCRBY h n 9223372036854775807",
        "HINCRBY h3 n 1",
        "HINCRBYFLOAT h fl 1.5",
        "HINCRBYFLOAT h n 0.25",
        "HINCRBYFLOAT h f1 1",
        "HINCRBYFLOAT h fl x",
        "HINCRBYFLOAT h fl inf",
        "HINCRBYFLOAT h4 fl 2.5",
        "HDEL h nope",
        "HDEL h f1 nope",
        "HDEL h f2 f3 f4",
        "HDEL none f",
        "HDEL h2 f extra",
        "HLEN h2",
        "HDEL h3 n",
        "RPUSH l a",
        "HSET l f v",
        "HMSET l f v",
        "HSETNX l f v",
        "HDEL l f",
        "HINCRBY l f 1",
        "HINCRBYFLOAT l f 1",
        "HGET l f",
        "HSET",
        "HINCRBY h",
    ]
    .map(String::from)
    .to_vec()
}

#[test]
fn list_commands_publish_what_redis_publishes() {
    same_on_both(|port| watch(port, "KEA", &list_script()));
}

#[test]
fn hash_commands_publish_what_redis_publishes() {
    same_on_both(|port| watch(port, "KEA", &hash_script()));
}

/// A short script touching both families, with its keys prefixed by `p` (so that runs
/// with different flags on one server do not meet), partly in database 5 and in MULTI.
fn mixed_script(p: &str) -> Vec<String> {
    [
        "RPUSH {p}l a b c",
        "LPOP {p}l",
        "LSET {p}l 0 z",
        "LTRIM {p}l 0 0",
        "LREM {p}l 0 z",
        "HSET {p}h f 1",
        "HINCRBY {p}h f 1",
        "HINCRBYFLOAT {p}h f 1",
        "HDEL {p}h f",
        "RPUSH {p}s x",
        "RPOPLPUSH {p}s {p}d",
        "SELECT 5",
        "LPUSH {p}l a",
        "HSETNX {p}h f v",
        "MULTI",
        "RPUSH {p}m a",
        "HSET {p}mh f v",
        "LPOP {p}m",
        "EXEC",
        "SELECT 0",
    ]
    .map(|l| l.replace("{p}", p))
    .to_vec()
}

#[test]
fn classes_and_channel_kinds_filter_the_events() {
    same_on_both(|port| {
        let mut t = Vec::new();
        for (i, flags) in ["Kl", "Eh", "Eg", "Eg$", "KEl", "Klh", "KEAn", "En", "Ks"]
            .iter()
            .enumerate()
        {
            t.extend(watch(port, flags, &mixed_script(&format!("run{i}:"))));
        }
        t
    })
}

#[test]
fn expired_keys_are_reported_before_the_command_recreates_them() {
    same_on_both(|port| {
        // No `g`: PEXPIRE's own `expire` event is not the subject here.
        set_flags(port, "KElhxn");
        let mut listener = Listener::new(port);
        let mut c = Client::connect(port);
        let mut t = Vec::new();
        t.push(c.cmd_str("RPUSH src a b c d e"));
        // One key with a TTL at a time, so whichever expires it (the command's lookup or
        // the server's active expiry) the events come in the same order.
        for (setup, key, command) in [
            ("RPUSH e1 a", "e1", "LPUSH e1 b"),
            ("HSET e2 f v", "e2", "HSET e2 f v"),
            ("RPUSH e3 a", "e3", "LPUSHX e3 x"),
            ("HSET e4 f v", "e4", "HINCRBY e4 f 1"),
            ("HSET e5 f v", "e5", "HDEL e5 f"),
            ("RPUSH e6 a", "e6", "RPOPLPUSH src e6"),
            ("RPUSH e7 a", "e7", "RPOPLPUSH e7 src"),
            ("RPUSH e8 a", "e8", "LMOVE e8 e8 LEFT RIGHT"),
            ("RPUSH e9 a", "e9", "LTRIM e9 0 -1"),
            ("HSET e10 f v", "e10", "HINCRBYFLOAT e10 f 1"),
        ] {
            t.push(c.cmd_str(setup));
            t.push(c.cmd_str(&format!("PEXPIRE {key} 1")));
            let set = Instant::now();
            // Past the deadline (the key counts as expired 1 ms after it, as in Redis).
            wait_for(Duration::from_secs(1), || {
                (set.elapsed() >= Duration::from_millis(3)).then_some(())
            });
            t.push(format!("{command} -> {}", c.cmd_str(command)));
        }
        t.extend(listener.drain(&mut c));
        t
    })
}

/// Runs `script` on a RESP3 connection subscribed to its own events and returns every
/// frame it reads, pushes and replies, in the order they arrive.
fn self_subscribed(port: u16, flags: &str, script: &[&str]) -> Vec<String> {
    set_flags(port, flags);
    let mut c = Client::connect(port);
    c.cmd("HELLO 3");
    let mut t = Vec::new();
    c.send(&[b"PSUBSCRIBE", b"__key*@*__:*"]);
    t.push(text(c.read_reply()));
    // A second listener, in RESP2, sees the same events.
    let mut listener = Listener::new(port);
    for line in script {
        t.push(format!("{line} ->"));
        let args: Vec<&[u8]> = line.split(' ').map(str::as_bytes).collect();
        c.send(&args);
        // Pushes before the reply, the reply; pushes after it come with the next command.
        loop {
            let frame = text(c.read_reply());
            let push = frame.starts_with('>');
            t.push(frame);
            if !push {
                break;
            }
        }
    }
    c.send(&[b"PING"]);
    loop {
        let frame = text(c.read_reply());
        let done = frame == "+PONG\r\n";
        t.push(frame);
        if done {
            break;
        }
    }
    t.push("listener:".into());
    t.extend(listener.drain(&mut c));
    t
}

#[test]
fn a_resp3_client_sees_its_own_events_where_redis_puts_them() {
    let script = [
        "LPUSH l a b c",
        "RPUSH l d",
        "LPUSHX none a",
        "LPOP l",
        "RPOP l 2",
        "LPOP l 0",
        "LSET l 0 z",
        "LSET l 5 z",
        "LINSERT l AFTER z y",
        "LINSERT l AFTER nothere y",
        "LREM l 0 y",
        "LREM l 0 nothere",
        "LTRIM l 0 -1",
        "RPUSH s a b",
        "LMOVE s d LEFT RIGHT",
        "LMOVE d d LEFT RIGHT",
        "RPOPLPUSH s d",
        "LMOVE none d LEFT LEFT",
        "LPOP d 10",
        "RPUSH t a",
        "LTRIM t 1 0",
        "RPUSH u a",
        "LREM u 1 a",
        "HSET h a 1 b 2",
        "HMSET h c 3",
        "HSETNX h a 1",
        "HSETNX h d 4",
        "HSETNX h2 f v",
        "HINCRBY h a 5",
        "HINCRBY h3 a 5",
        "HINCRBY h b x",
        "HINCRBYFLOAT h a 0.5",
        "HINCRBYFLOAT h4 a 0.5",
        "HDEL h a nope",
        "HDEL h nope",
        "HDEL h2 f",
        "HSET l f v",
        "LPUSH h x",
        "HGETALL h4",
    ];
    same_on_both(|port| {
        let mut t = self_subscribed(port, "KEAn", &script);
        // A second round with only the keyevent channels of lists and hashes selected.
        assert_eq!(Client::connect(port).cmd("FLUSHALL"), b"+OK\r\n");
        t.extend(self_subscribed(port, "Elh", &script));
        t
    })
}
