//! Connection buffers give memory back: a busy client's oversized read buffer shrinks to
//! its recent use, closed clients' buffers return to the system, and a big value is read
//! into a buffer of its own size.

mod common;

use std::time::Duration;

use common::{Client, Server, peak_rss, rss, wait_for};

const MB: u64 = 1024 * 1024;

/// qbuf + qbuf-free of the client named `name` in CLIENT LIST.
fn query_buffer(admin: &mut Client, name: &str) -> u64 {
    let list = admin.cmd_str("CLIENT LIST");
    let line = list
        .lines()
        .find(|l| l.contains(&format!(" name={name} ")))
        .expect("client listed");
    let field = |key: &str| -> u64 {
        line.split(' ')
            .find_map(|f| f.strip_prefix(key))
            .and_then(|v| v.parse().ok())
            .expect("field")
    };
    field("qbuf=") + field("qbuf-free=")
}

#[test]
fn query_buffer_shrinks_while_the_client_stays_busy() {
    let server = Server::start(&[]);
    let mut admin = server.client();
    let mut c = server.client();
    assert_eq!(c.cmd("CLIENT SETNAME busy"), b"+OK\r\n");
    let fresh = query_buffer(&mut admin, "busy");
    assert!(
        (16384..32768).contains(&fresh),
        "new client's buffer: {fresh}"
    );
    let big = vec![b'A'; 400_000];
    assert_eq!(c.call(&[b"SET", b"x", &big]), b"+OK\r\n");
    let grown = query_buffer(&mut admin, "busy");
    assert!(grown > 32768, "{grown}");
    // Small commands keep it busy (never idle for the 2 s that frees everything).
    let shrunk = wait_for(Duration::from_secs(5), || {
        assert_eq!(c.cmd("SET x small"), b"+OK\r\n");
        std::thread::sleep(Duration::from_millis(10));
        let now = query_buffer(&mut admin, "busy");
        (now < grown).then_some(now)
    })
    .expect("the read buffer never shrank");
    assert!(
        shrunk > 0,
        "the buffer of a busy client is trimmed, not freed"
    );
}

#[test]
fn memory_of_closed_clients_goes_back_to_the_system() {
    let server = Server::start(&[]);
    let pid = server.child.id();
    let mut admin = server.client();
    assert_eq!(admin.cmd("PING"), b"+PONG\r\n");
    let before = rss(pid);
    let mut clients: Vec<Client> = (0..9_990).map(|_| server.client()).collect();
    for c in &mut clients {
        c.send_raw(b"PING\r\n");
    }
    for c in &mut clients {
        assert_eq!(c.read_reply(), b"+PONG\r\n");
    }
    let busy = rss(pid);
    assert!(
        busy > before + 100 * MB,
        "9,990 clients: {before} -> {busy}"
    );
    drop(clients);
    let back = wait_for(Duration::from_secs(10), || {
        let now = rss(pid);
        (now < before + 40 * MB).then_some(now)
    });
    assert!(
        back.is_some(),
        "RSS {} MB after the clients left (was {} MB before, {} MB with them)",
        rss(pid) / MB,
        before / MB,
        busy / MB
    );
}

#[test]
fn a_big_value_is_read_into_a_buffer_of_its_size() {
    let server = Server::start(&[]);
    let pid = server.child.id();
    let mut c = server.client();
    assert_eq!(c.cmd("PING"), b"+PONG\r\n");
    let before = peak_rss(pid);
    let value = vec![b'v'; 64 * MB as usize];
    assert_eq!(c.call(&[b"SET", b"big", &value]), b"+OK\r\n");
    let growth = peak_rss(pid) - before;
    // The value itself, and a read buffer of its size (doubling would make it twice that).
    assert!(
        growth < 64 * MB * 5 / 2,
        "peak RSS grew by {} MB for a 64 MB value",
        growth / MB
    );
    // Once the client idles, only the value stays.
    let settled = wait_for(Duration::from_secs(10), || {
        let now = rss(pid);
        (now < before + 64 * MB * 3 / 2).then_some(now)
    });
    assert!(settled.is_some(), "RSS {} MB", rss(pid) / MB);
}

#[test]
fn client_list_counts_output_as_redis_does() {
    common::on_both(&[], |port| {
        let mut c = Client::connect(port);
        let line = c.cmd_str("CLIENT INFO");
        // Nothing pending: the fixed buffer and the reply list are empty.
        assert!(line.contains(" obl=0 oll=0 omem=0 "), "{line}");
    });
}
