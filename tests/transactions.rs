//! MULTI / EXEC / WATCH across clients, over real TCP (single-connection replies are in
//! tests/golden/transactions.txt).

mod common;

use std::time::Duration;

use common::{Client, Server, wait_for};

/// WATCH `key` on `c`, let `meddle` run on another client, then run `SET key mine` in a
/// transaction; returns EXEC's raw reply.
fn watched_exec(server: &Server, setup: &str, meddle: &[&str]) -> Vec<u8> {
    let mut c = server.client();
    let mut other = server.client();
    assert_eq!(other.cmd("FLUSHALL"), b"+OK\r\n");
    if !setup.is_empty() {
        assert_eq!(other.cmd(setup), b"+OK\r\n");
    }
    assert_eq!(c.cmd("WATCH k"), b"+OK\r\n");
    for m in meddle {
        other.cmd(m);
    }
    assert_eq!(c.cmd("MULTI"), b"+OK\r\n");
    assert_eq!(c.cmd("SET k mine"), b"+QUEUED\r\n");
    c.cmd("EXEC")
}

const ABORTED: &[u8] = b"*-1\r\n";
const RAN: &[u8] = b"*1\r\n+OK\r\n";

#[test]
fn watch_aborts_exec_when_another_client_modifies_the_key() {
    let server = Server::start(&[]);
    assert_eq!(watched_exec(&server, "", &[]), RAN);
    assert_eq!(watched_exec(&server, "SET k v", &["SET k other"]), ABORTED);
    assert_eq!(watched_exec(&server, "SET k 1", &["INCR k"]), ABORTED);
    assert_eq!(watched_exec(&server, "SET k v", &["APPEND k x"]), ABORTED);
    assert_eq!(watched_exec(&server, "SET k v", &["DEL k"]), ABORTED);
    assert_eq!(watched_exec(&server, "SET k v", &["EXPIRE k 100"]), ABORTED);
    assert_eq!(watched_exec(&server, "SET k v", &["RENAME k j"]), ABORTED);
    assert_eq!(watched_exec(&server, "SET j v", &["RENAME j k"]), ABORTED);
    assert_eq!(watched_exec(&server, "", &["SET k created"]), ABORTED);
    assert_eq!(watched_exec(&server, "SET k v", &["FLUSHALL"]), ABORTED);
    assert_eq!(watched_exec(&server, "SET k v", &["FLUSHDB"]), ABORTED);
    assert_eq!(watched_exec(&server, "SET k v", &["SWAPDB 0 1"]), ABORTED);
}

#[test]
fn watch_ignores_what_does_not_change_the_key() {
    let server = Server::start(&[]);
    // Reads, writes to other keys, deleting or flushing a key that does not exist.
    assert_eq!(
        watched_exec(&server, "SET k v", &["GET k", "SET other 1"]),
        RAN
    );
    assert_eq!(watched_exec(&server, "", &["DEL k"]), RAN);
    assert_eq!(watched_exec(&server, "", &["FLUSHALL"]), RAN);
    assert_eq!(watched_exec(&server, "SET k v", &["SET k x NX"]), RAN);
    assert_eq!(
        watched_exec(&server, "SET k v", &["SELECT 1", "SET k other"]),
        RAN
    );
}

#[test]
fn watched_key_expiring_aborts_exec() {
    let server = Server::start(&[]);
    let mut c = server.client();
    assert_eq!(c.cmd("SET k v PX 50"), b"+OK\r\n");
    assert_eq!(c.cmd("WATCH k"), b"+OK\r\n");
    let mut probe = server.client();
    let gone = wait_for(Duration::from_secs(3), || {
        (probe.cmd("DBSIZE") == b":0\r\n").then_some(())
    });
    assert!(gone.is_some(), "key never expired");
    assert_eq!(c.cmd("MULTI"), b"+OK\r\n");
    assert_eq!(c.cmd("SET k again"), b"+QUEUED\r\n");
    assert_eq!(c.cmd("EXEC"), ABORTED);
    // The same without waiting for the wheel: expired but not yet reclaimed at EXEC.
    assert_eq!(c.cmd("SET j v PX 30"), b"+OK\r\n");
    assert_eq!(c.cmd("WATCH j"), b"+OK\r\n");
    std::thread::sleep(Duration::from_millis(40));
    assert_eq!(c.cmd("MULTI"), b"+OK\r\n");
    assert_eq!(c.cmd("EXEC"), ABORTED);
}

#[test]
fn own_writes_before_multi_abort_but_inside_do_not() {
    let server = Server::start(&[]);
    let mut c = server.client();
    c.cmd("SET k v");
    c.cmd("WATCH k");
    c.cmd("SET k changed");
    c.cmd("MULTI");
    c.cmd("GET k");
    assert_eq!(c.cmd("EXEC"), ABORTED);
    c.cmd("WATCH k");
    c.cmd("MULTI");
    c.cmd("SET k inside");
    c.cmd("GET k");
    assert_eq!(c.cmd("EXEC"), b"*2\r\n+OK\r\n$6\r\ninside\r\n");
    // EXEC unwatched everything: a later change does not affect the next transaction.
    c.cmd("SET k after");
    c.cmd("MULTI");
    assert_eq!(c.cmd("EXEC"), b"*0\r\n");
}

#[test]
fn unwatch_and_discard_release_watches() {
    let server = Server::start(&[]);
    let mut c = server.client();
    let mut other = server.client();
    c.cmd("WATCH k");
    c.cmd("UNWATCH");
    other.cmd("SET k x");
    c.cmd("MULTI");
    assert_eq!(c.cmd("EXEC"), b"*0\r\n");
    c.cmd("WATCH k");
    c.cmd("MULTI");
    c.cmd("DISCARD");
    other.cmd("SET k y");
    c.cmd("MULTI");
    assert_eq!(c.cmd("EXEC"), b"*0\r\n");
}

#[test]
fn transactions_are_isolated_per_client_and_disconnects_clean_up() {
    let server = Server::start(&[]);
    let mut a = server.client();
    let mut b = server.client();
    a.cmd("MULTI");
    a.cmd("INCR n");
    // b is not in a transaction and its commands run immediately.
    assert_eq!(b.cmd("INCR n"), b":1\r\n");
    assert_eq!(a.cmd("EXEC"), b"*1\r\n:2\r\n");
    // A client that WATCHes and disconnects leaves nothing behind for a later client id.
    for _ in 0..100 {
        let mut t = Client::connect(server.port);
        t.cmd("WATCH n");
    }
    assert_eq!(b.cmd("INCR n"), b":3\r\n");
    assert_eq!(b.cmd("PING"), b"+PONG\r\n");
}

#[test]
fn runtime_errors_inside_exec_are_per_command() {
    let server = Server::start(&[]);
    let mut c = server.client();
    c.cmd("SET s notanumber");
    c.cmd("MULTI");
    c.cmd("INCR s");
    c.cmd("SET t 1");
    c.cmd("INCR t");
    assert_eq!(
        c.cmd("EXEC"),
        b"*3\r\n-ERR value is not an integer or out of range\r\n+OK\r\n:2\r\n".to_vec()
    );
}

#[test]
fn resp3_exec_and_aborts() {
    let server = Server::start(&[]);
    let mut c = server.client();
    c.cmd("HELLO 3");
    c.cmd("WATCH k");
    server.client().cmd("SET k x");
    c.cmd("MULTI");
    assert_eq!(c.cmd("EXEC"), b"_\r\n");
    c.cmd("MULTI");
    c.cmd("GET missing");
    assert_eq!(c.cmd("EXEC"), b"*1\r\n_\r\n");
}

#[test]
fn event_loop_commands_are_refused_inside_multi() {
    let server = Server::start(&[]);
    let mut c = server.client();
    c.cmd("MULTI");
    assert_eq!(
        c.cmd("CLIENT LIST"),
        b"-ERR Command not allowed inside a transaction\r\n"
    );
    assert_eq!(
        c.cmd("SHUTDOWN"),
        b"-ERR Command not allowed inside a transaction\r\n"
    );
    assert_eq!(c.cmd("CLIENT SETNAME x"), b"+QUEUED\r\n");
    assert_eq!(
        c.cmd("EXEC"),
        b"-EXECABORT Transaction discarded because of previous errors.\r\n"
    );
}

/// min-replicas-to-write without replicas (we never have any): writes are refused with
/// -NOREPLICAS while reads, PING and no-writes scripts run; EXEC of a transaction that
/// writes aborts, also when the setting changed after the commands were queued; a script's
/// first write raises the error. The same transcript as redis-server 7.0.
#[test]
fn min_replicas_to_write_refuses_writes_without_replicas() {
    common::same_on_both(|port| {
        let mut c = Client::connect(port);
        let mut other = Client::connect(port);
        let mut t = Vec::new();
        let mut run = |c: &mut Client, args: &[&str]| t.push(common::text(c.cmd_args(args)));
        run(&mut c, &["SET", "x", "some value"]);
        run(&mut c, &["MULTI"]);
        run(&mut c, &["INCR", "n"]);
        run(&mut other, &["CONFIG", "SET", "min-replicas-to-write", "2"]);
        run(&mut c, &["EXEC"]);
        for args in [
            &["SET", "x", "1"][..],
            &["GET", "x"],
            &["PING"],
            &["INCR", "n"],
            &["MULTI"],
            &["GET", "x"],
            &["EXEC"],
            &["MULTI"],
            &["INCR", "x"],
            &["EXEC"],
            &[
                "EVAL",
                "#!lua flags=no-writes\nreturn redis.call('get','x')",
                "1",
                "x",
            ],
            &["EVAL", "return redis.call('get','x')", "1", "x"],
            &["EVAL", "#!lua\nreturn redis.call('get','x')", "1", "x"],
            &["EVAL", "return redis.call('set','x',1)", "1", "x"],
            &["EVAL", "return redis.pcall('set','x',1)", "1", "x"],
            &["CONFIG", "SET", "min-replicas-max-lag", "0"],
            &["SET", "x", "2"],
            &["CONFIG", "SET", "min-replicas-max-lag", "10"],
            &["SET", "x", "3"],
            &["CONFIG", "SET", "min-replicas-to-write", "0"],
            &["SET", "x", "4"],
            &["GET", "x"],
        ] {
            run(&mut c, args);
        }
        let info = common::text(c.cmd("INFO errorstats"));
        t.push(
            info.lines()
                .filter(|l| {
                    l.starts_with("errorstat_NOREPLICAS") || l.starts_with("errorstat_EXECABORT")
                })
                .collect::<Vec<_>>()
                .join("\n"),
        );
        t
    });
}
