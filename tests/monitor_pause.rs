//! MONITOR and CLIENT PAUSE / UNPAUSE against redis-server 7.0: the same scenario runs on
//! both servers and the transcripts must be equal. MONITOR lines carry a timestamp and the
//! client's port, so those are normalized before comparing; everything else is byte for byte.

mod common;

use std::time::{Duration, Instant};

use common::{Client, info_field, same_on_both, text, wait_for};

/// A MONITOR line with its timestamp and peer address replaced: `+TS [db c1] "set" ...`.
/// The timestamp must look like Redis's (`seconds.micros`); the address is named by the
/// label of the client it belongs to, from `peers` (local port, label).
fn normalized(line: &[u8], peers: &[(u16, &str)]) -> String {
    let line = text(line);
    let rest = line.strip_prefix('+').expect("a status line");
    let (ts, rest) = rest.split_once(' ').expect("timestamp");
    let (secs, micros) = ts.split_once('.').expect("seconds.micros");
    assert!(
        secs.len() >= 10 && secs.bytes().all(|b| b.is_ascii_digit()),
        "{line}"
    );
    assert!(
        micros.len() == 6 && micros.bytes().all(|b| b.is_ascii_digit()),
        "{line}"
    );
    let (origin, args) = rest.split_once("] ").expect("origin");
    let (db, addr) = origin[1..].split_once(' ').expect("db and address");
    let addr = peers
        .iter()
        .find(|(port, _)| addr == format!("127.0.0.1:{port}"))
        .map_or(addr, |(_, label)| label);
    format!("+TS [{db} {addr}] {args}")
}

/// Reads MONITOR lines until (and including) the one showing `ECHO <marker>`.
fn lines_until(m: &mut Client, marker: &str, peers: &[(u16, &str)]) -> Vec<String> {
    let mut lines = Vec::new();
    loop {
        let line = normalized(&m.read_reply(), peers);
        let done = line
            .to_ascii_lowercase()
            .ends_with(&format!("\"echo\" \"{marker}\"\r\n"));
        lines.push(line);
        if done {
            return lines;
        }
    }
}

#[test]
fn monitor_shows_commands_as_redis_does() {
    same_on_both(|port| {
        let mut c = Client::connect(port);
        c.cmd("FLUSHALL");
        let mut m = Client::connect(port);
        let mut t = vec![text(m.cmd("MONITOR"))];
        c.cmd("SET foo bar");
        c.cmd("GET foo");
        // Queued commands are shown when EXEC runs them, between MULTI and EXEC.
        c.cmd("MULTI");
        c.cmd("SET a b");
        c.cmd("EXEC");
        // Refused commands are not shown; an aborted EXEC is.
        c.cmd("MULTI");
        c.cmd("NOSUCHCOMMAND x");
        c.cmd("EXEC");
        c.cmd("SET onlyone");
        // Passwords are redacted; administrative commands never shown.
        c.cmd("AUTH not-real");
        c.cmd("AUTH user not-a-password");
        c.cmd("AUTH a b c");
        c.cmd("HELLO 2 AUTH not-real not-a-password");
        c.cmd("CONFIG GET maxmemory");
        c.cmd("CLIENT SETNAME watcher");
        c.cmd("CLIENT LIST");
        // Arguments are quoted as sdscatrepr; the database is the one after the command.
        c.cmd("SELECT 3");
        c.call(&[b"SET", b"k", b"a\"b\\c\nd\r\t\x07\x08\x00\xff\x7f"]);
        c.cmd("SELECT 0");
        c.cmd("ECHO end");
        t.extend(lines_until(&mut m, "end", &[(c.local_port(), "c")]));
        t
    });
}

#[test]
fn monitor_mode_rules() {
    same_on_both(|port| {
        let mut c = Client::connect(port);
        c.cmd("FLUSHALL");
        let mut m = Client::connect(port);
        let mut t = vec![text(m.cmd("MONITOR"))];
        // A monitor may not touch the keyspace; other commands run. Its own commands are
        // shown to it after their replies.
        t.push(text(m.cmd("GET foo")));
        t.push(text(m.cmd("SET foo bar")));
        t.push(text(m.cmd("PING")));
        let me = [(m.local_port(), "m")];
        t.push(normalized(&m.read_reply(), &me));
        // A second MONITOR gets no reply at all.
        m.send_raw(b"MONITOR\r\nECHO after\r\n");
        t.push(text(m.read_reply()));
        t.push(normalized(&m.read_reply(), &me));
        // CLIENT LIST shows flag O.
        let list = text(c.cmd("CLIENT LIST"));
        t.push(
            list.lines()
                .filter(|l| l.contains("cmd=echo"))
                .map(|l| l.split(' ').find(|f| f.starts_with("flags=")).unwrap_or(""))
                .collect::<Vec<_>>()
                .join(","),
        );
        // MONITOR inside MULTI fails when EXEC runs it.
        t.push(text(c.cmd("MULTI")));
        t.push(text(c.cmd("MONITOR")));
        t.push(text(c.cmd("EXEC")));
        // A blocking command is shown once, when it blocks.
        let mut b = Client::connect(port);
        let peers = [(c.local_port(), "c"), (b.local_port(), "b")];
        b.send_raw(b"BLPOP q 0\r\n");
        let blocked = wait_for(Duration::from_secs(5), || {
            (info_field(&mut c, "clients", "blocked_clients") == 1).then_some(())
        });
        assert!(blocked.is_some());
        c.cmd("LPUSH q x");
        t.push(text(b.read_reply()));
        c.cmd("ECHO end");
        // The INFO polls above are shown too, in a number (and order against BLPOP's line,
        // which comes from another connection) that depends on timing: leave them out.
        t.extend(
            lines_until(&mut m, "end", &peers)
                .into_iter()
                .filter(|l| !l.contains("\"INFO\"")),
        );
        // RESET ends MONITOR mode: the keyspace is open again and nothing more arrives.
        t.push(text(m.cmd("RESET")));
        t.push(text(m.cmd("GET foo")));
        c.cmd("SET foo baz");
        t.push(text(m.cmd("PING")));
        t
    });
}

/// Waits until the server counts `n` blocked clients (paused ones included).
fn until_blocked(admin: &mut Client, n: u64) {
    let ok = wait_for(Duration::from_secs(5), || {
        (info_field(admin, "clients", "blocked_clients") == n).then_some(())
    });
    assert!(ok.is_some(), "expected {n} blocked clients");
}

#[test]
fn pause_write_holds_writes_and_lets_reads_through() {
    same_on_both(|port| {
        let mut admin = Client::connect(port);
        admin.cmd("FLUSHALL");
        admin.cmd("SET foo bar");
        let mut t = vec![text(admin.cmd("CLIENT PAUSE 100000 WRITE"))];
        let mut c = Client::connect(port);
        t.push(text(c.cmd("GET foo")));
        t.push(text(c.cmd("PING")));
        t.push(info_field(&mut admin, "clients", "blocked_clients").to_string());
        // Writes, PUBLISH (which replicates) and a pipeline behind them wait, in order.
        c.send_raw(b"SET foo new\r\nGET foo\r\n");
        let mut p = Client::connect(port);
        p.send_raw(b"PUBLISH ch msg\r\n");
        until_blocked(&mut admin, 2);
        t.push(text(admin.cmd("GET foo")));
        // Errors found before running are answered at once.
        t.push(text(admin.cmd("SET foo")));
        let list = text(admin.cmd("CLIENT LIST"));
        t.push(list.matches("flags=b").count().to_string());
        t.push(text(admin.cmd("CLIENT UNPAUSE")));
        t.push(text(c.read_reply()));
        t.push(text(c.read_reply()));
        t.push(text(p.read_reply()));
        until_blocked(&mut admin, 0);
        t
    });
}

#[test]
fn pause_and_transactions() {
    same_on_both(|port| {
        let mut admin = Client::connect(port);
        admin.cmd("FLUSHALL");
        admin.cmd("SET foo bar");
        // A read-only transaction runs during a write pause; one that writes waits at EXEC.
        let mut w = Client::connect(port);
        let mut t = vec![text(w.cmd("MULTI")), text(w.cmd("SET foo 2"))];
        t.push(text(admin.cmd("CLIENT PAUSE 100000 WRITE")));
        let mut r = Client::connect(port);
        for cmd in ["MULTI", "PING", "GET foo", "EXEC"] {
            t.push(text(r.cmd(cmd)));
        }
        // Queueing a write waits too (the pause comes before MULTI's queue).
        let mut q = Client::connect(port);
        t.push(text(q.cmd("MULTI")));
        q.send_raw(b"SET x 1\r\n");
        w.send_raw(b"EXEC\r\n");
        until_blocked(&mut admin, 2);
        t.push(text(admin.cmd("CLIENT UNPAUSE")));
        t.push(text(q.read_reply()));
        t.push(text(w.read_reply()));
        t.push(text(q.cmd("EXEC")));
        // A pause issued inside a transaction starts after it.
        t.push(text(admin.cmd("MULTI")));
        t.push(text(admin.cmd("SET one 1")));
        t.push(text(admin.cmd("CLIENT PAUSE 100000 WRITE")));
        t.push(text(admin.cmd("SET two 2")));
        t.push(text(admin.cmd("EXEC")));
        let mut late = Client::connect(port);
        late.send_raw(b"SET three 3\r\n");
        until_blocked(&mut admin, 1);
        t.push(text(admin.cmd("MGET one two three")));
        t.push(text(admin.cmd("CLIENT UNPAUSE")));
        t.push(text(late.read_reply()));
        t
    });
}

#[test]
fn pause_keeps_expired_keys_until_it_ends() {
    same_on_both(|port| {
        let mut admin = Client::connect(port);
        admin.cmd("FLUSHALL");
        let expired = info_field(&mut admin, "stats", "expired_keys");
        let mut t = vec![text(admin.cmd("MULTI"))];
        t.push(text(admin.cmd("SET foo bar PX 10")));
        t.push(text(admin.cmd("SET bar foo PX 10")));
        t.push(text(admin.cmd("CLIENT PAUSE 50000 WRITE")));
        t.push(text(admin.cmd("EXEC")));
        let gone = wait_for(Duration::from_secs(5), || {
            (admin.cmd("GET foo") == b"$-1\r\n" && admin.cmd("GET bar") == b"$-1\r\n").then_some(())
        });
        assert!(gone.is_some(), "keys never read as expired");
        // Logically expired, but neither the cycle nor the lookups deleted them.
        t.push((info_field(&mut admin, "stats", "expired_keys") - expired).to_string());
        t.push(text(admin.cmd("CLIENT UNPAUSE")));
        admin.cmd("GET foo");
        admin.cmd("GET bar");
        t.push((info_field(&mut admin, "stats", "expired_keys") - expired).to_string());
        t
    });
}

#[test]
fn pause_all_holds_everything_until_its_timeout() {
    same_on_both(|port| {
        let mut admin = Client::connect(port);
        let mut c = Client::connect(port);
        let start = Instant::now();
        let mut t = vec![text(admin.cmd("CLIENT PAUSE 300 ALL"))];
        // Even PING waits (and CLIENT UNPAUSE would too); the pause ends by itself.
        t.push(text(c.cmd("PING")));
        let waited = start.elapsed();
        assert!(
            waited >= Duration::from_millis(290),
            "PING answered after {waited:?}"
        );
        assert!(
            waited < Duration::from_secs(3),
            "PING answered after {waited:?}"
        );
        // A second, weaker and shorter pause keeps the stronger kind and the later end.
        let start = Instant::now();
        for cmd in [
            "MULTI",
            "CLIENT PAUSE 400 ALL",
            "CLIENT PAUSE 10 WRITE",
            "EXEC",
        ] {
            t.push(text(admin.cmd(cmd)));
        }
        t.push(text(c.cmd("PING")));
        let waited = start.elapsed();
        assert!(
            waited >= Duration::from_millis(390),
            "PING answered after {waited:?}"
        );
        t
    });
}

#[test]
fn pause_errors() {
    same_on_both(|port| {
        let mut c = Client::connect(port);
        [
            "CLIENT PAUSE",
            "CLIENT PAUSE 10 write extra",
            "CLIENT PAUSE -1",
            "CLIENT PAUSE abc",
            "CLIENT PAUSE 10 foo",
            "CLIENT PAUSE abc foo",
            "CLIENT PAUSE 0",
            "CLIENT UNPAUSE x",
            "CLIENT UNPAUSE",
            "CLIENT NO-EVICT maybe",
            "CLIENT NO-EVICT on",
            "CLIENT NO-EVICT OFF",
            "MONITOR x",
            "CLIENT HELP",
        ]
        .iter()
        .map(|cmd| text(c.cmd(cmd)))
        .collect()
    });
}

#[test]
fn a_paused_client_that_disconnects_leaves_nothing_behind() {
    same_on_both(|port| {
        let mut admin = Client::connect(port);
        admin.cmd("FLUSHALL");
        let mut t = vec![text(admin.cmd("CLIENT PAUSE 100000 WRITE"))];
        {
            let mut gone = Client::connect(port);
            gone.send_raw(b"SET k v\r\n");
            until_blocked(&mut admin, 1);
        }
        until_blocked(&mut admin, 0);
        let mut c = Client::connect(port);
        c.send_raw(b"SET k2 v2\r\n");
        until_blocked(&mut admin, 1);
        t.push(text(admin.cmd("CLIENT UNPAUSE")));
        t.push(text(c.read_reply()));
        t.push(text(admin.cmd("EXISTS k k2")));
        t
    });
}
