//! Protocol handling over real TCP: pipelining, fragmentation, inline requests, protocol
//! errors (exact reply, then the connection closes, the server and the data survive),
//! and hostile lengths that must not allocate.

mod common;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use common::{Client, Server, encode, on_both};

#[test]
fn ten_thousand_pipelined_commands_in_one_write() {
    let server = Server::start(&[]);
    let mut c = server.client();
    let mut batch = Vec::new();
    for i in 0..5_000 {
        batch.extend(encode(&[
            b"SET",
            format!("k{i}").as_bytes(),
            format!("v{i}").as_bytes(),
        ]));
        batch.extend(encode(&[b"GET", format!("k{i}").as_bytes()]));
    }
    c.send_raw(&batch);
    for i in 0..5_000 {
        assert_eq!(c.read_reply(), b"+OK\r\n");
        let v = format!("v{i}");
        assert_eq!(
            c.read_reply(),
            format!("${}\r\n{v}\r\n", v.len()).as_bytes()
        );
    }
    assert_eq!(c.cmd("DBSIZE"), b":5000\r\n");
}

#[test]
fn pipelined_batches_do_not_wait_for_delayed_acks() {
    // With Nagle's algorithm on the server, each batch of 16 replies written after the
    // first could wait ~40 ms for the client's delayed ACK: 300 rounds would take 12 s.
    let server = Server::start(&[]);
    let mut c = server.client();
    assert_eq!(c.cmd("SET k v"), b"+OK\r\n");
    let batch: Vec<u8> = (0..16).flat_map(|_| encode(&[b"GET", b"k"])).collect();
    let start = Instant::now();
    for _ in 0..300 {
        c.send_raw(&batch);
        for _ in 0..16 {
            assert_eq!(c.read_reply(), b"$1\r\nv\r\n");
        }
    }
    let took = start.elapsed();
    assert!(
        took < Duration::from_secs(3),
        "300 pipelined rounds took {took:?}"
    );
}

/// A mixed request stream and the replies it must produce.
fn mixed_stream() -> (Vec<u8>, Vec<u8>) {
    let mut req = Vec::new();
    req.extend(encode(&[b"SET", b"frag", b"hello\r\nworld"]));
    req.extend(b"PING\r\n");
    req.extend(encode(&[b"GET", b"frag"]));
    req.extend(b"ECHO \"a b\"\n");
    req.extend(encode(&[b"APPEND", b"frag", b"!"]));
    req.extend(encode(&[b"INCR", b"n"]));
    let want = b"+OK\r\n+PONG\r\n$12\r\nhello\r\nworld\r\n$3\r\na b\r\n:13\r\n:1\r\n".to_vec();
    (req, want)
}

#[test]
fn byte_at_a_time_fragmentation() {
    let server = Server::start(&[]);
    let mut c = server.client();
    let (req, want) = mixed_stream();
    for b in &req {
        c.send_raw(std::slice::from_ref(b));
    }
    let mut got = Vec::new();
    while got.len() < want.len() {
        got.extend(c.read_reply());
    }
    assert_eq!(
        String::from_utf8_lossy(&got),
        String::from_utf8_lossy(&want)
    );
}

#[test]
fn random_split_fragmentation() {
    let server = Server::start(&[]);
    let (req, want) = mixed_stream();
    let mut seed: u64 = 0x5eed;
    for round in 0..50 {
        let mut c = server.client();
        c.cmd("DEL frag n");
        let mut at = 0;
        while at < req.len() {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let n = 1 + (seed % 9) as usize;
            let end = (at + n).min(req.len());
            c.send_raw(&req[at..end]);
            at = end;
            if seed.is_multiple_of(3) {
                std::thread::sleep(Duration::from_micros(200));
            }
        }
        let mut got = Vec::new();
        while got.len() < want.len() {
            got.extend(c.read_reply());
        }
        assert_eq!(got, want, "round {round}");
    }
}

#[test]
fn inline_requests() {
    let server = Server::start(&[]);
    let mut c = server.client();
    c.send_raw(
        b"SET greeting \"hello world\"\r\nGET greeting\nPING\r\n\r\n  \n'x' \"\\x41\"\r\nECHO\r\n",
    );
    assert_eq!(c.read_reply(), b"+OK\r\n");
    assert_eq!(c.read_reply(), b"$11\r\nhello world\r\n");
    assert_eq!(c.read_reply(), b"+PONG\r\n");
    assert_eq!(
        c.read_reply(),
        b"-ERR unknown command 'x', with args beginning with: 'A' \r\n"
    );
    assert_eq!(
        c.read_reply(),
        b"-ERR wrong number of arguments for 'echo' command\r\n"
    );
}

#[test]
fn a_big_value_in_many_pieces() {
    let server = Server::start(&[]);
    let mut c = server.client();
    let value: Vec<u8> = (0..10 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    let req = encode(&[b"SET", b"big", &value]);
    for chunk in req.chunks(100_003) {
        c.send_raw(chunk);
    }
    assert_eq!(c.read_reply(), b"+OK\r\n");
    let reply = c.call(&[b"GET", b"big"]);
    let header = format!("${}\r\n", value.len());
    assert!(reply.starts_with(header.as_bytes()));
    assert_eq!(&reply[header.len()..reply.len() - 2], &value[..]);
    assert_eq!(
        c.cmd("STRLEN big"),
        format!(":{}\r\n", value.len()).as_bytes()
    );
}

/// Sends `bytes` on a fresh connection and returns everything until the server closes it.
fn reply_then_close(server: &Server, bytes: &[u8]) -> Vec<u8> {
    let mut c = server.client();
    c.send_raw(bytes);
    c.read_to_eof()
}

#[test]
fn protocol_errors_reply_then_close_and_harm_nobody() {
    let server = Server::start(&[]);
    let mut bystander = server.client();
    assert_eq!(bystander.cmd("SET keep me"), b"+OK\r\n");
    let cases: &[(&[u8], &[u8])] = &[
        (
            b"*abc\r\n",
            b"-ERR Protocol error: invalid multibulk length\r\n",
        ),
        (
            b"*-0\r\n",
            b"-ERR Protocol error: invalid multibulk length\r\n",
        ),
        (
            b"*1000000000000\r\n",
            b"-ERR Protocol error: invalid multibulk length\r\n",
        ),
        (
            b"*2147483648\r\n",
            b"-ERR Protocol error: invalid multibulk length\r\n",
        ),
        (
            b"*1\r\n$abc\r\n",
            b"-ERR Protocol error: invalid bulk length\r\n",
        ),
        (
            b"*1\r\n$99999999999\r\n",
            b"-ERR Protocol error: invalid bulk length\r\n",
        ),
        (
            b"*1\r\n$536870913\r\n",
            b"-ERR Protocol error: invalid bulk length\r\n",
        ),
        (
            b"*1\r\nfoo\r\n",
            b"-ERR Protocol error: expected '$', got 'f'\r\n",
        ),
        (
            b"SET \"a b\r\n",
            b"-ERR Protocol error: unbalanced quotes in request\r\n",
        ),
        (
            b"SET 'a\r\n",
            b"-ERR Protocol error: unbalanced quotes in request\r\n",
        ),
        // Replies to the requests before the bad one are still sent, in order.
        (
            b"PING\r\n*1\r\n$4\r\nPING\r\n*x\r\nPING\r\n",
            b"+PONG\r\n+PONG\r\n-ERR Protocol error: invalid multibulk length\r\n",
        ),
    ];
    for (req, want) in cases {
        let got = reply_then_close(&server, req);
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(want),
            "request {:?}",
            String::from_utf8_lossy(req)
        );
        assert_eq!(bystander.cmd("GET keep"), b"$2\r\nme\r\n");
    }
    // Inline request with no newline past 64 KiB.
    let mut c = server.client();
    let mut sent = 0;
    let chunk = vec![b'a'; 8192];
    let got = loop {
        if c.stream.write_all(&chunk).is_err() {
            break c.read_to_eof();
        }
        sent += chunk.len();
        if sent > 128 * 1024 {
            break c.read_to_eof();
        }
    };
    assert_eq!(got, b"-ERR Protocol error: too big inline request\r\n");
    assert_eq!(bystander.cmd("PING"), b"+PONG\r\n");
}

/// A multibulk count below 1 is an empty request, which Redis skips before reading on:
/// any such count, `*-10` as well as `*0` and `*-1`, whole or split across reads. The count
/// must still be a number (string2ll: no `-0`, no `+1`, no overflow).
#[test]
fn multibulk_counts_below_one_are_skipped_like_redis() {
    let skipped: &[(&[u8], &[u8])] = &[
        (b"*-10\r\nPING\r\n", b"+PONG\r\n"),
        (b"*0\r\n*-1\r\n*1\r\n$4\r\nPING\r\n", b"+PONG\r\n"),
        (
            b"*-5\r\n*-2147483649\r\n*-9223372036854775808\r\n*2\r\n$4\r\nECHO\r\n$2\r\nok\r\n",
            b"$2\r\nok\r\n",
        ),
    ];
    let invalid: &[u8] = b"-ERR Protocol error: invalid multibulk length\r\n";
    let errors: &[&[u8]] = &[
        b"*-0\r\n",
        b"*-\r\n",
        b"*+1\r\n",
        b"*-1x\r\n",
        b"*-9223372036854775809\r\n",
    ];
    on_both(&[], |port| {
        for (input, want) in skipped {
            let shown = String::from_utf8_lossy(input);
            // In one write, then one byte per write (TCP_NODELAY: one segment each).
            for bytewise in [false, true] {
                let mut c = Client::connect(port);
                if bytewise {
                    input.iter().for_each(|b| c.send_raw(&[*b]));
                } else {
                    c.send_raw(input);
                }
                assert_eq!(c.read_reply(), *want, "port {port}: {shown:?}");
                assert_eq!(c.cmd("PING"), b"+PONG\r\n", "port {port}: {shown:?}");
            }
        }
        for input in errors {
            let mut c = Client::connect(port);
            c.send_raw(input);
            assert_eq!(
                c.read_to_eof(),
                invalid,
                "port {port}: {:?}",
                String::from_utf8_lossy(input)
            );
        }
    });
}

#[test]
fn client_supplied_lengths_do_not_size_allocations() {
    let server = Server::start(&[]);
    let mut probe = server.client();
    let rss = |c: &mut Client| -> u64 {
        let info = c.cmd_str("INFO memory");
        info.lines()
            .find_map(|l| l.strip_prefix("used_memory_rss:"))
            .and_then(|v| v.trim().parse().ok())
            .expect("used_memory_rss")
    };
    let before = rss(&mut probe);
    // Announce a billion arguments and a 512 MB bulk, then send almost nothing.
    let mut hogs = Vec::new();
    for req in [
        &b"*1073741824\r\n$3\r\nSET\r\n"[..],
        b"*2\r\n$3\r\nGET\r\n$536870912\r\nabc",
    ] {
        let mut c = server.client();
        c.send_raw(req);
        hogs.push(c);
    }
    assert_eq!(probe.cmd("PING"), b"+PONG\r\n");
    let after = rss(&mut probe);
    assert!(
        after < before + 64 * 1024 * 1024,
        "RSS grew from {before} to {after} bytes"
    );
    drop(hogs);
    assert_eq!(probe.cmd("PING"), b"+PONG\r\n");
}

#[test]
fn quit_replies_then_closes() {
    let server = Server::start(&[]);
    let mut c = server.client();
    c.send_raw(b"*1\r\n$4\r\nQUIT\r\n*1\r\n$4\r\nPING\r\n");
    assert_eq!(c.read_to_eof(), b"+OK\r\n");
}

#[test]
fn peer_closing_mid_request_is_harmless() {
    let server = Server::start(&[]);
    for partial in [
        &b"*3\r\n$3\r\nSET\r\n$1\r\nk"[..],
        b"SET a",
        b"*2\r\n$3\r\nGET\r\n$100000\r\nxx",
    ] {
        let mut c = server.client();
        c.send_raw(partial);
        c.stream.shutdown(std::net::Shutdown::Both).ok();
    }
    let mut c = server.client();
    assert_eq!(c.cmd("PING"), b"+PONG\r\n");
    assert_eq!(c.cmd("DBSIZE"), b":0\r\n");
    let mut buf = [0u8; 1];
    c.stream
        .set_read_timeout(Some(Duration::from_millis(50)))
        .ok();
    assert!(c.stream.read(&mut buf).is_err(), "no stray reply");
}
