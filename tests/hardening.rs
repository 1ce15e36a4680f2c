//! Hostile clients: output limits enforced inside a pipeline, HTTP sent to the RESP port,
//! clients that have not authenticated, and protected mode. Where redis-server is
//! installed, the same attack is made on it, and both must defend the same way.

mod common;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::time::{Duration, Instant};

use common::{Client, Server, connect_from, peak_rss, start_redis, wait_for};

const MB: usize = 1024 * 1024;

/// Stores a value of `len` bytes at `key`.
fn set_big(c: &mut Client, key: &str, len: usize) {
    let value = vec![b'x'; len];
    assert_eq!(c.call(&[b"SET", key.as_bytes(), &value]), b"+OK\r\n");
}

/// Reads until the server closes the connection (or `limit` bytes arrived); returns the
/// byte count.
fn drain(stream: &mut TcpStream, limit: usize) -> usize {
    let mut total = 0;
    let mut chunk = vec![0u8; 1 << 20];
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    while total < limit {
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => total += n,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            // A stop/continue of the process interrupts reads that have a timeout.
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => panic!("read: {e} after {total} bytes"),
        }
    }
    total
}

/// 200 `GET big` (10 MiB each) in one 4.8 KB write, the replies left unread for a while: the
/// server must stop running that client's commands once its pending replies pass the limit.
fn pipelined_gets_are_cut_off(port: u16) -> usize {
    let mut c = Client::connect(port);
    set_big(&mut c, "big", 10 * MB);
    let pipeline = b"*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n".repeat(200);
    c.send_raw(&pipeline);
    // Give the server time to run what it will before anything is read.
    std::thread::sleep(Duration::from_millis(300));
    let got = drain(&mut c.stream, 200 * (10 * MB + 20));
    // The server is fine, and other clients too.
    let mut other = Client::connect(port);
    assert_eq!(other.cmd("PING"), b"+PONG\r\n");
    got
}

#[test]
fn output_limit_stops_a_pipeline_of_big_replies() {
    let ours = Server::start(&["--client-output-limit", "64mb"]);
    let before = peak_rss(ours.child.id());
    let got = pipelined_gets_are_cut_off(ours.port);
    let growth = peak_rss(ours.child.id()) - before;
    // Closed after about 64 MiB of replies (plus what the socket took), not 2 GB.
    assert!(got < 30 * 10 * MB, "received {got} bytes");
    assert!(growth < 300 * MB as u64, "peak RSS grew by {growth} bytes");

    // The same limit through Redis's syntax, on both servers.
    let ours = Server::start(&[]);
    let mut c = ours.client();
    let limit = [
        "CONFIG",
        "SET",
        "client-output-buffer-limit",
        "normal 64mb 0 0",
    ];
    assert_eq!(c.call(&limit.map(str::as_bytes)), b"+OK\r\n");
    let got = pipelined_gets_are_cut_off(ours.port);
    assert!(got < 30 * 10 * MB, "received {got} bytes");
    if let Some(redis) = start_redis() {
        let mut c = Client::connect(redis.port);
        assert_eq!(c.call(&limit.map(str::as_bytes)), b"+OK\r\n");
        let got = pipelined_gets_are_cut_off(redis.port);
        assert!(got < 30 * 10 * MB, "redis-server sent {got} bytes");
    }
}

#[test]
fn soft_output_limit_closes_a_client_that_stays_over_it() {
    let ours = Server::start(&[]);
    let mut admin = ours.client();
    let limit = [
        "CONFIG",
        "SET",
        "client-output-buffer-limit",
        "normal 0 2mb 1",
    ];
    assert_eq!(admin.call(&limit.map(str::as_bytes)), b"+OK\r\n");
    set_big(&mut admin, "big", MB);
    let mut hog = ours.client();
    let hog_id = hog.cmd_str("CLIENT ID");
    let hog_id = hog_id.trim_start_matches(':').trim();
    let started = Instant::now();
    // Keep asking for 1 MiB replies without reading them: past the kernel's buffers, the
    // pending replies stay over 2 MiB, and after more than a second of that it is closed.
    let closed_after = wait_for(Duration::from_secs(15), || {
        let _ = hog.stream.write_all(b"*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n");
        std::thread::sleep(Duration::from_millis(50));
        let list = admin.cmd_str("CLIENT LIST");
        (!list.contains(&format!("id={hog_id} "))).then(|| started.elapsed())
    })
    .expect("the client over the soft limit was not closed");
    assert!(
        closed_after >= Duration::from_secs(1),
        "closed after {closed_after:?}, before the soft limit's second was up"
    );
}

#[test]
fn http_requests_to_the_resp_port_are_dropped_unrun() {
    let check = |port: u16| {
        for request in [
            "POST / HTTP/1.1\r\nHost: example\r\nContent-Length: 18\r\n\r\nSET xproto pwned\r\n",
            "Host: example\r\nSET xproto pwned\r\n",
            "*1\r\n$4\r\npost\r\n*3\r\n$3\r\nSET\r\n$6\r\nxproto\r\n$5\r\npwned\r\n",
        ] {
            let mut c = Client::connect(port);
            c.send_raw(request.as_bytes());
            assert_eq!(c.read_to_eof(), b"", "reply to {request:?}");
            let mut check = Client::connect(port);
            assert_eq!(check.cmd("EXISTS xproto"), b":0\r\n", "after {request:?}");
        }
        // Inside MULTI too: the check comes before a command is queued.
        let mut c = Client::connect(port);
        c.send_raw(b"MULTI\r\nPOST /\r\nSET xproto pwned\r\nEXEC\r\n");
        // Not even MULTI's +OK: a client closed this way gets nothing more written.
        assert_eq!(c.read_to_eof(), b"");
        let mut check = Client::connect(port);
        assert_eq!(check.cmd("EXISTS xproto"), b":0\r\n");
    };
    common::on_both(&[], check);
}

/// Both servers with a password: ours from the command line, Redis through CONFIG SET.
fn with_password(check: impl Fn(u16)) {
    let ours = Server::start(&["--requirepass", "secret"]);
    check(ours.port);
    if let Some(redis) = start_redis() {
        let mut c = Client::connect(redis.port);
        assert_eq!(c.cmd("CONFIG SET requirepass secret"), b"+OK\r\n");
        check(redis.port);
    }
}

#[test]
fn clients_that_have_not_authenticated_cannot_send_big_requests() {
    with_password(|port| {
        let mut c = Client::connect(port);
        c.send_raw(b"*11\r\n");
        assert_eq!(
            c.read_to_eof(),
            b"-ERR Protocol error: unauthenticated multibulk length\r\n"
        );
        let mut c = Client::connect(port);
        c.send_raw(b"*2\r\n$4\r\nAUTH\r\n$16385\r\n");
        assert_eq!(
            c.read_to_eof(),
            b"-ERR Protocol error: unauthenticated bulk length\r\n"
        );
        // Up to the limits is fine, and so is anything after AUTH.
        let mut c = Client::connect(port);
        let ten: Vec<&[u8]> = std::iter::once(&b"DEL"[..])
            .chain(std::iter::repeat_n(&b"x"[..], 9))
            .collect();
        assert_eq!(c.call(&ten), b"-NOAUTH Authentication required.\r\n");
        assert_eq!(c.cmd("AUTH secret"), b"+OK\r\n");
        let big = vec![b'y'; 100_000];
        let mut many: Vec<&[u8]> = vec![b"DEL"];
        many.extend(std::iter::repeat_n(&big[..], 20));
        assert_eq!(c.call(&many), b":0\r\n");
    });
}

#[test]
fn many_unauthenticated_big_headers_hold_no_memory() {
    let ours = Server::start(&["--requirepass", "secret"]);
    let before = peak_rss(ours.child.id());
    let mut conns: Vec<TcpStream> = (0..100)
        .map(|_| {
            let mut s = TcpStream::connect(("127.0.0.1", ours.port)).expect("connect");
            s.write_all(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$100000000\r\n")
                .expect("write");
            s.write_all(&vec![b'z'; 1 << 20]).ok();
            s
        })
        .collect();
    for s in &mut conns {
        // Each is told off and closed; nothing it sent is kept.
        let mut reply = Vec::new();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let _ = s.read_to_end(&mut reply);
        assert!(
            reply.starts_with(b"-ERR Protocol error: unauthenticated bulk length\r\n"),
            "{:?}",
            String::from_utf8_lossy(&reply)
        );
    }
    let growth = peak_rss(ours.child.id()) - before;
    assert!(growth < 64 * MB as u64, "peak RSS grew by {growth} bytes");
}

#[test]
fn unauthenticated_clients_cannot_queue_many_replies() {
    with_password(|port| {
        // 100,000 wrong AUTHs in one write, replies unread: cut off early, as Redis does.
        let mut c = Client::connect(port);
        let wrong = b"*2\r\n$4\r\nAUTH\r\n$5\r\nwrong\r\n".repeat(100_000);
        // The server may close before reading all of it.
        let _ = c.stream.write_all(&wrong);
        let got = drain(&mut c.stream, usize::MAX);
        let one = b"-WRONGPASS invalid username-password pair or user is disabled.\r\n".len();
        assert!(got < 1000 * one, "{} replies arrived", got / one);
        // An authenticated client may pipeline as much as it likes.
        let mut ok = Client::connect(port);
        assert_eq!(ok.cmd("AUTH secret"), b"+OK\r\n");
        ok.send_raw(&b"PING\r\n".repeat(100_000));
        for _ in 0..100_000 {
            assert_eq!(ok.read_reply(), b"+PONG\r\n");
        }
    });
}

const DENIED_START: &[u8] = b"-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user.";

/// Reads what a client from 127.0.0.2 gets from the server on `port` when it sends PING.
fn ping_from_elsewhere(port: u16) -> Vec<u8> {
    let mut c = Client::from_stream(connect_from(Ipv4Addr::new(127, 0, 0, 2), port));
    c.send_raw(b"PING\r\n");
    c.read_to_eof()
}

#[test]
fn protected_mode_refuses_clients_that_are_not_local_until_a_password_is_set() {
    let check = |port: u16| {
        let reply = ping_from_elsewhere(port);
        assert!(
            reply.starts_with(DENIED_START),
            "{}",
            String::from_utf8_lossy(&reply)
        );
        assert!(reply.ends_with(b"accepting connections from the outside.\r\n"));
        // A password lifts it (the client must then AUTH).
        let mut admin = Client::connect(port);
        assert_eq!(admin.cmd("CONFIG SET requirepass secret"), b"+OK\r\n");
        let mut c = Client::from_stream(connect_from(Ipv4Addr::new(127, 0, 0, 2), port));
        assert_eq!(c.cmd("PING"), b"-NOAUTH Authentication required.\r\n");
        assert_eq!(c.cmd("AUTH secret"), b"+OK\r\n");
        assert_eq!(
            c.cmd("CONFIG SET requirepass"),
            b"-ERR wrong number of arguments for 'config|set' command\r\n"
        );
        // So does protected-mode no.
        assert_eq!(c.cmd("CONFIG SET protected-mode no"), b"+OK\r\n");
        assert_eq!(
            c.call(&[b"CONFIG", b"SET", b"requirepass", b""]),
            b"+OK\r\n"
        );
        let mut c = Client::from_stream(connect_from(Ipv4Addr::new(127, 0, 0, 2), port));
        assert_eq!(c.cmd("PING"), b"+PONG\r\n");
    };
    common::on_both(&[], check);

    // The startup flag.
    let open = Server::start(&["--protected-mode", "no"]);
    let mut c = Client::from_stream(connect_from(Ipv4Addr::new(127, 0, 0, 2), open.port));
    assert_eq!(c.cmd("PING"), b"+PONG\r\n");
    assert_eq!(
        open.client().cmd("CONFIG GET protected-mode"),
        b"*2\r\n$14\r\nprotected-mode\r\n$2\r\nno\r\n"
    );
}

#[test]
fn shutdown_that_cannot_save_keeps_running_unless_forced() {
    // Error paths, byte for byte as Redis.
    common::on_both(&[], |port| {
        let mut c = Client::connect(port);
        for (cmd, want) in [
            ("SHUTDOWN maybe", "-ERR syntax error\r\n"),
            ("SHUTDOWN SAVE NOSAVE", "-ERR syntax error\r\n"),
            ("SHUTDOWN ABORT NOW", "-ERR syntax error\r\n"),
            ("SHUTDOWN ABORT", "-ERR No shutdown in progress.\r\n"),
        ] {
            assert_eq!(c.cmd_str(cmd), want, "{cmd}");
        }
    });
    // A server whose directory is gone cannot write its snapshot.
    let mut ours = Server::start(&[]);
    let mut c = ours.client();
    std::fs::remove_dir_all(&ours.dir).expect("remove the server's directory");
    // Asked to save, or save points set: an error, and the server keeps running.
    assert_eq!(
        c.cmd_str("SHUTDOWN SAVE"),
        "-ERR Errors trying to SHUTDOWN. Check logs.\r\n"
    );
    assert_eq!(c.cmd("CONFIG SET save 100 1"), b"-ERR syntax error\r\n");
    assert_eq!(c.call(&[b"CONFIG", b"SET", b"save", b"100 1"]), b"+OK\r\n");
    assert_eq!(
        c.cmd_str("SHUTDOWN"),
        "-ERR Errors trying to SHUTDOWN. Check logs.\r\n"
    );
    assert_eq!(c.cmd("PING"), b"+PONG\r\n");
    // NOSAVE (or FORCE) exits, and successfully.
    c.send_raw(b"SHUTDOWN NOSAVE\r\n");
    assert_eq!(c.read_to_eof(), b"");
    let status = wait_for(Duration::from_secs(10), || {
        ours.child.try_wait().ok().flatten()
    })
    .expect("the server did not exit");
    assert!(status.success(), "{status:?}");
    let mut forced = Server::start(&[]);
    let mut c = forced.client();
    std::fs::remove_dir_all(&forced.dir).expect("remove the server's directory");
    c.send_raw(b"SHUTDOWN SAVE FORCE\r\n");
    assert_eq!(c.read_to_eof(), b"");
    let status = wait_for(Duration::from_secs(10), || {
        forced.child.try_wait().ok().flatten()
    })
    .expect("the server did not exit");
    assert!(status.success(), "{status:?}");
}
