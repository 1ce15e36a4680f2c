//! CONFIG GET / SET against redis-server 7.0: every parameter Redis has, its validation and
//! its error texts, compared reply for reply.

mod common;

use common::{Client, Resp, Server, bulk_strings, parse, sorted, start_redis};

/// Parameters whose value depends on how each server was started (addresses, directories,
/// the command-line flags the tests give each side), not on defaults.
const STARTUP_DEPENDENT: &[&str] = &[
    "bind",
    "port",
    "dir",
    "save",
    "client-output-buffer-limit",
    "appendonly",
    // Ours is loopback-only by default, like Redis's own redis.conf (protected-mode is on
    // in both: but Redis prints the value it was started with).
];

/// CONFIG GET * as (name, value) pairs, sorted by name.
fn all_params(c: &mut Client) -> Vec<(String, String)> {
    let items = bulk_strings(&c.call(&[b"CONFIG", b"GET", b"*"]));
    let mut pairs: Vec<(String, String)> = items
        .chunks(2)
        .map(|p| {
            (
                String::from_utf8_lossy(&p[0]).into_owned(),
                String::from_utf8_lossy(&p[1]).into_owned(),
            )
        })
        .collect();
    pairs.sort();
    pairs
}

#[test]
fn config_get_lists_every_parameter_redis_has_with_its_defaults() {
    let Some(redis) = start_redis() else {
        return;
    };
    let ours = Server::start(&[]);
    let want = all_params(&mut Client::connect(redis.port));
    let got = all_params(&mut ours.client());
    let names = |v: &[(String, String)]| v.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    assert_eq!(names(&got), names(&want));
    for ((name, ours), (_, theirs)) in got.iter().zip(&want) {
        if STARTUP_DEPENDENT.contains(&name.as_str()) {
            continue;
        }
        assert_eq!(ours, theirs, "default of {name}");
    }
}

/// Sends each command to both servers and requires the same raw reply.
fn same_replies(commands: &[&[&str]]) {
    let Some(redis) = start_redis() else {
        return;
    };
    let ours = Server::start(&[]);
    let mut theirs = Client::connect(redis.port);
    let mut mine = ours.client();
    for cmd in commands {
        let args: Vec<&[u8]> = cmd.iter().map(|a| a.as_bytes()).collect();
        let want = theirs.call(&args);
        let got = mine.call(&args);
        if cmd[1] == "GET" {
            // Redis lists what CONFIG GET matched in its dict's order: compare as maps.
            assert_eq!(sorted(&got, true), sorted(&want, true), "{cmd:?}");
        } else {
            assert_eq!(
                String::from_utf8_lossy(&got),
                String::from_utf8_lossy(&want),
                "{cmd:?}"
            );
        }
    }
}

#[test]
fn config_set_validates_and_fails_as_redis_does() {
    same_replies(&[
        &["CONFIG", "SET", "a", "b", "c"],
        &["CONFIG", "SET", "maxclients", "x"],
        &["CONFIG", "SET", "maxclients", "-1"],
        &["CONFIG", "SET", "maxclients", "0"],
        &["CONFIG", "SET", "hz", "abc"],
        &["CONFIG", "SET", "maxmemory", "10x"],
        &["CONFIG", "SET", "maxmemory", "-1"],
        &["CONFIG", "SET", "maxmemory", "1gb"],
        &["CONFIG", "GET", "maxmemory"],
        &["CONFIG", "SET", "maxmemory", ""],
        &["CONFIG", "GET", "maxmemory"],
        &["CONFIG", "SET", "maxmemory-clients", "10%"],
        &["CONFIG", "GET", "maxmemory-clients"],
        &["CONFIG", "SET", "maxmemory-clients", "-10%"],
        &["CONFIG", "SET", "maxmemory-clients", "200%"],
        &["CONFIG", "SET", "maxmemory-clients", "0"],
        &["CONFIG", "SET", "dir", "/tmp"],
        &["CONFIG", "SET", "dbfilename", "x.rdb"],
        &["CONFIG", "SET", "daemonize", "yes"],
        &["CONFIG", "SET", "databases", "3"],
        &["CONFIG", "SET", "unixsocketperm", "700"],
        &["CONFIG", "SET", "loglevel", "foo"],
        &["CONFIG", "SET", "loglevel", "WARNING"],
        &["CONFIG", "GET", "loglevel"],
        &["CONFIG", "SET", "loglevel", "notice"],
        &["CONFIG", "SET", "shutdown-on-sigint", "save nosave"],
        &["CONFIG", "SET", "shutdown-on-sigint", "nosave now"],
        &["CONFIG", "GET", "shutdown-on-sigint"],
        &["CONFIG", "SET", "shutdown-on-sigint", ""],
        &["CONFIG", "SET", "shutdown-on-sigint", "default"],
        &["CONFIG", "SET", "appendfsync", "Always"],
        &["CONFIG", "GET", "appendfsync"],
        &["CONFIG", "SET", "save", "10 x"],
        &["CONFIG", "SET", "save", "100"],
        &["CONFIG", "SET", "save", "0 1"],
        &["CONFIG", "SET", "protected-mode", "maybe"],
        &["CONFIG", "SET", "activedefrag", "yes"],
        &["CONFIG", "SET", "activedefrag", "no"],
        &["CONFIG", "SET", "tls-port", "7777"],
        &["CONFIG", "SET", "cluster-announce-hostname", "a_b"],
        &["CONFIG", "SET", "cluster-announce-hostname", "a-b.c"],
        &["CONFIG", "SET", "proc-title-template", "{foo}"],
        &["CONFIG", "SET", "proc-title-template", "{title"],
        &["CONFIG", "SET", "proc-title-template", "{title} {port}"],
        &["CONFIG", "GET", "proc-title-template"],
        &["CONFIG", "SET", "hz", "1000"],
        &["CONFIG", "GET", "hz"],
        &["CONFIG", "SET", "hz", "0"],
        &["CONFIG", "GET", "hz"],
        &["CONFIG", "SET", "hz", "10"],
        &["CONFIG", "SET", "oom-score-adj-values", "1 2"],
        &["CONFIG", "SET", "oom-score-adj-values", "1 2 x"],
        &["CONFIG", "SET", "oom-score-adj-values", "1 2 3000"],
        &["CONFIG", "SET", "latency-tracking-info-percentiles", "abc"],
        &["CONFIG", "SET", "latency-tracking-info-percentiles", "101"],
        &[
            "CONFIG",
            "SET",
            "latency-tracking-info-percentiles",
            "50 99.9 100.0",
        ],
        &["CONFIG", "GET", "latency-tracking-info-percentiles"],
        &["CONFIG", "SET", "latency-tracking-info-percentiles", ""],
        &["CONFIG", "GET", "latency-tracking-info-percentiles"],
        &["CONFIG", "SET", "notify-keyspace-events", "Q"],
        &["CONFIG", "SET", "notify-keyspace-events", "KEA"],
        &["CONFIG", "GET", "notify-keyspace-events"],
        &["CONFIG", "SET", "notify-keyspace-events", "Kgm$x"],
        &["CONFIG", "GET", "notify-keyspace-events"],
        &["CONFIG", "SET", "notify-keyspace-events", ""],
        &["CONFIG", "SET", "client-output-buffer-limit", "normal 1 2"],
        &[
            "CONFIG",
            "SET",
            "client-output-buffer-limit",
            "master 1 2 3",
        ],
        &[
            "CONFIG",
            "SET",
            "client-output-buffer-limit",
            "replica 1 2 -3",
        ],
        &[
            "CONFIG",
            "SET",
            "client-output-buffer-limit",
            "normal 1x 2 3",
        ],
        &[
            "CONFIG",
            "SET",
            "client-output-buffer-limit",
            "normal 0 0 0 pubsub 1mb 2kb 3",
        ],
        &["CONFIG", "GET", "client-output-buffer-limit"],
        &[
            "CONFIG",
            "SET",
            "list-max-ziplist-size",
            "5",
            "list-max-listpack-size",
            "6",
        ],
        &["CONFIG", "GET", "list-max-ziplist-size"],
        &["CONFIG", "SET", "timeout", "1", "timeout", "2"],
        &["CONFIG", "SET", "nosuch", "1", "timeout", "x"],
        &["CONFIG", "SET", "timeout", "x", "nosuch", "1"],
        &["CONFIG", "SET", "daemonize", "yes", "nosuch", "1"],
        &["CONFIG", "SET", "timeout", "5", "maxclients", "0"],
        &["CONFIG", "GET", "timeout"],
        &[
            "CONFIG",
            "SET",
            "timeout",
            "5",
            "hash-max-ziplist-entries",
            "7",
        ],
        &[
            "CONFIG",
            "GET",
            "timeout",
            "hash-max-listpack-entries",
            "HASH-MAX-ZIPLIST-ENTRIES",
        ],
        &["CONFIG", "GET", "rdb-key-save-delay"],
        &["CONFIG", "GET", "*-key-save-*"],
        &["CONFIG", "GET", "nosuch"],
        &["CONFIG", "GET", "TIMEOUT", "timeout"],
        &["CONFIG", "SET", "requirepass", ""],
        &["CONFIG", "SET", "timeout", "0"],
    ]);
}

#[test]
fn every_modifiable_parameter_round_trips_and_rejects_garbage_as_redis() {
    let Some(redis) = start_redis() else {
        return;
    };
    let ours = Server::start(&[]);
    let mut theirs = Client::connect(redis.port);
    let mut mine = ours.client();
    let params = all_params(&mut theirs);
    assert!(params.len() > 150, "{}", params.len());
    for (name, value) in params {
        if matches!(
            name.as_str(),
            "bind" | "port" | "dir" | "requirepass" | "masterauth"
        ) {
            continue;
        }
        // Setting a parameter to the value it reads back must work (or fail) alike.
        let set =
            |c: &mut Client, v: &str| c.call(&[b"CONFIG", b"SET", name.as_bytes(), v.as_bytes()]);
        let ours_value = bulk_strings(&mine.call(&[b"CONFIG", b"GET", name.as_bytes()]));
        let want = set(&mut theirs, &value);
        let got = set(&mut mine, &String::from_utf8_lossy(&ours_value[1]));
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(&want),
            "CONFIG SET {name} <its own value>"
        );
        for garbage in ["x?", "-1", "99999999999999999999"] {
            let want = set(&mut theirs, garbage);
            let got = set(&mut mine, garbage);
            assert_eq!(
                String::from_utf8_lossy(&got),
                String::from_utf8_lossy(&want),
                "CONFIG SET {name} {garbage}"
            );
            if want == b"+OK\r\n" {
                // Accepted (a string parameter, or a number in range): read back alike.
                let back = |c: &mut Client| parse(&c.call(&[b"CONFIG", b"GET", name.as_bytes()]));
                assert_eq!(
                    back(&mut mine),
                    back(&mut theirs),
                    "CONFIG GET {name} after {garbage}"
                );
                set(&mut theirs, &value);
                set(&mut mine, &String::from_utf8_lossy(&ours_value[1]));
            }
        }
    }
}

#[test]
fn config_get_answers_a_map_in_resp3() {
    let ours = Server::start(&[]);
    let mut c = ours.client();
    c.cmd("HELLO 3");
    let reply = parse(&c.cmd("CONFIG GET maxmemory"));
    assert_eq!(
        reply,
        Resp::Agg(
            b'%',
            Some(vec![
                Resp::Bulk(Some(b"maxmemory".to_vec())),
                Resp::Bulk(Some(b"0".to_vec()))
            ])
        )
    );
}

#[test]
fn settings_that_exist_take_effect() {
    let ours = Server::start(&[]);
    let mut c = ours.client();
    // maxclients: the next connection over the limit is refused.
    assert_eq!(c.cmd("CONFIG SET maxclients 1"), b"+OK\r\n");
    let mut other = ours.client();
    assert_eq!(
        other.read_reply(),
        b"-ERR max number of clients reached\r\n".to_vec()
    );
    assert_eq!(c.cmd("CONFIG SET maxclients 10000"), b"+OK\r\n");
    // proto-max-bulk-len: a longer argument is a protocol error.
    assert_eq!(c.cmd("CONFIG SET proto-max-bulk-len 1mb"), b"+OK\r\n");
    let mut big = ours.client();
    big.send_raw(b"*2\r\n$4\r\nECHO\r\n$2000000\r\n");
    assert_eq!(
        big.read_reply(),
        b"-ERR Protocol error: invalid bulk length\r\n".to_vec()
    );
    // requirepass: new connections must AUTH.
    assert_eq!(c.cmd("CONFIG SET requirepass s3cret"), b"+OK\r\n");
    let mut fresh = ours.client();
    assert_eq!(
        fresh.cmd("GET a"),
        b"-NOAUTH Authentication required.\r\n".to_vec()
    );
    assert_eq!(fresh.cmd("AUTH s3cret"), b"+OK\r\n");
    // loglevel follows through to the log filter (debug logs a closed client).
    assert_eq!(fresh.cmd("CONFIG SET loglevel warning"), b"+OK\r\n");
    assert_eq!(
        fresh.cmd("CONFIG GET loglevel"),
        b"*2\r\n$8\r\nloglevel\r\n$7\r\nwarning\r\n"
    );
}

/// The timer column ("tr") of the server's side of a loopback connection in /proc/net/tcp:
/// 2 while a keepalive timer is armed, 0 when no timer is.
fn server_side_timer(server_port: u16, client_port: u16) -> Option<u32> {
    let table = std::fs::read_to_string("/proc/net/tcp").ok()?;
    table.lines().skip(1).find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        let port = |addr: &str| u16::from_str_radix(addr.rsplit(':').next()?, 16).ok();
        if port(f[1])? == server_port && port(f[2])? == client_port {
            u32::from_str_radix(f[5].split(':').next()?, 16).ok()
        } else {
            None
        }
    })
}

#[test]
fn tcp_keepalive_arms_probes_on_new_clients() {
    let ours = Server::start(&[]);
    let mut c = ours.client();
    assert_eq!(c.cmd("PING"), b"+PONG\r\n");
    let client_port = c.local_port();
    assert_eq!(
        server_side_timer(ours.port, client_port),
        Some(2),
        "keepalive 300 (default)"
    );
    assert_eq!(c.cmd("CONFIG SET tcp-keepalive 0"), b"+OK\r\n");
    let mut plain = ours.client();
    assert_eq!(plain.cmd("PING"), b"+PONG\r\n");
    assert_eq!(
        server_side_timer(ours.port, plain.local_port()),
        Some(0),
        "keepalive off"
    );
}

#[test]
fn latency_tracking_parameters_shape_info_latencystats() {
    common::on_both(&[], |port| {
        let mut c = Client::connect(port);
        assert_eq!(c.cmd("PING"), b"+PONG\r\n");
        let ping_line = |c: &mut Client| {
            c.cmd_str("INFO latencystats")
                .lines()
                .find(|l| l.starts_with("latency_percentiles_usec_ping:"))
                .map(|l| {
                    // Keep the percentile names, not the measured values.
                    l.split([':', ','])
                        .skip(1)
                        .map(|kv| kv.split('=').next().unwrap_or_default().to_string())
                        .collect::<Vec<_>>()
                })
        };
        assert_eq!(
            ping_line(&mut c),
            Some(vec!["p50".into(), "p99".into(), "p99.9".into()])
        );
        let set = [
            b"CONFIG".as_slice(),
            b"SET",
            b"latency-tracking-info-percentiles",
            b"0 50 100.0",
        ];
        assert_eq!(c.call(&set), b"+OK\r\n");
        assert_eq!(
            ping_line(&mut c),
            Some(vec!["p0".into(), "p50".into(), "p100".into()])
        );
        assert_eq!(c.cmd("CONFIG SET latency-tracking no"), b"+OK\r\n");
        assert_eq!(ping_line(&mut c), None);
    });
}
