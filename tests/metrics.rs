//! The Prometheus endpoint end to end: the real server binary with `--metrics-bind` on a free
//! loopback port, scraped over HTTP, checked against what the clients did, against INFO and
//! DBSIZE, by `promtool`, and by a real Prometheus that also evaluates every query of the
//! provisioned Grafana dashboard. The monitoring/ files are validated offline (no Docker
//! engine runs here): `promtool check config`, `docker-compose config`, the dashboard JSON.

mod common;

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{Client, Server, free_port, have_tool, info_field, wait_for};
use serde_json::Value;

/// How long anything is waited for before a test fails.
const PATIENCE: Duration = Duration::from_secs(30);

/// A file of the repository.
fn repo_file(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

// ---------------------------------------------------------------------------------------
// The server and its endpoint
// ---------------------------------------------------------------------------------------

/// The server with its metrics endpoint on; killed on drop (through `common::Server`).
struct Keyval {
    server: Server,
    metrics_port: u16,
}

impl Keyval {
    /// Starts the server with both its RESP and metrics addresses on port 0, and reads the
    /// ports it got from its log ("metrics at http://ADDR/metrics", then "ready to accept
    /// connections on ADDR"): choosing free ports first would race with other processes.
    fn start(extra: &[&str]) -> Keyval {
        let (server, metrics_port) = common::start_with_metrics("metrics", |cmd| {
            cmd.args(extra);
        });
        Keyval {
            server,
            metrics_port,
        }
    }

    fn client(&self) -> Client {
        self.server.client()
    }

    /// The exposition text of one scrape.
    fn scrape(&self) -> Scrape {
        let r = http_get(self.metrics_port, "/metrics").expect("scrape /metrics");
        assert_eq!(r.status, 200, "GET /metrics: {}", r.body);
        Scrape(r.body)
    }

    /// Scrapes until `f` accepts a scrape, or fails the test after [`PATIENCE`].
    fn scrape_until(&self, what: &str, f: impl Fn(&Scrape) -> bool) -> Scrape {
        let mut last = None;
        let found = wait_for(PATIENCE, || {
            let s = self.scrape();
            if f(&s) {
                return Some(s);
            }
            last = Some(s);
            None
        });
        found.unwrap_or_else(|| panic!("timed out waiting for {what}; last scrape:\n{last:?}"))
    }
}

/// One HTTP answer.
struct HttpResponse {
    status: u16,
    headers: String,
    body: String,
}

/// One HTTP/1.0 request to `127.0.0.1:port` (HTTP/1.0, so the body is never chunked and
/// ends with the connection).
fn http(port: u16, method: &str, path: &str) -> io::Result<HttpResponse> {
    http_with_timeout(port, method, path, PATIENCE)
}

/// [`http`], failing when a read waits longer than `timeout`.
fn http_with_timeout(
    port: u16,
    method: &str,
    path: &str,
    timeout: Duration,
) -> io::Result<HttpResponse> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(timeout))?;
    write!(
        stream,
        "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let bad = || {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("bad HTTP answer {text:?}"),
        )
    };
    let (headers, body) = text.split_once("\r\n\r\n").ok_or_else(bad)?;
    let status = headers
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(bad)?;
    Ok(HttpResponse {
        status,
        headers: headers.to_string(),
        body: body.to_string(),
    })
}

fn http_get(port: u16, path: &str) -> io::Result<HttpResponse> {
    http(port, "GET", path)
}

/// An HTTP/1.1 client that keeps its connection open between requests, as Prometheus does.
struct KeepAlive {
    reader: BufReader<TcpStream>,
}

impl KeepAlive {
    fn connect(port: u16) -> KeepAlive {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        stream
            .set_read_timeout(Some(PATIENCE))
            .expect("read timeout");
        KeepAlive {
            reader: BufReader::new(stream),
        }
    }

    /// GETs `path` on this connection: the status and the body (Content-Length or chunked).
    fn get(&mut self, path: &str) -> (u16, String) {
        write!(
            self.reader.get_mut(),
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        )
        .expect("send the request");
        let mut line = String::new();
        self.reader.read_line(&mut line).expect("status line");
        let status = line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("bad status line {line:?}"));
        let (mut length, mut chunked) = (None, false);
        loop {
            line.clear();
            self.reader.read_line(&mut line).expect("header line");
            let Some((name, value)) = line.trim_end().split_once(':') else {
                break; // the empty line that ends the head
            };
            if name.eq_ignore_ascii_case("Content-Length") {
                length = value.trim().parse().ok();
            } else if name.eq_ignore_ascii_case("Transfer-Encoding") {
                chunked = value.trim().eq_ignore_ascii_case("chunked");
            }
        }
        let mut body = Vec::new();
        if chunked {
            loop {
                line.clear();
                self.reader.read_line(&mut line).expect("chunk size");
                let size = usize::from_str_radix(line.trim(), 16).expect("hex chunk size");
                let mut chunk = vec![0; size + 2]; // the chunk and its CRLF
                self.reader.read_exact(&mut chunk).expect("chunk");
                if size == 0 {
                    break;
                }
                body.extend_from_slice(&chunk[..size]);
            }
        } else {
            body.resize(length.expect("Content-Length or chunked"), 0);
            self.reader.read_exact(&mut body).expect("body");
        }
        (status, String::from_utf8(body).expect("UTF-8 body"))
    }
}

/// The text of one scrape, with lookups by series.
#[derive(Debug)]
struct Scrape(String);

impl Scrape {
    /// The value of the series written exactly as `series` (name and labels), if present.
    fn get(&self, series: &str) -> Option<f64> {
        self.0.lines().find_map(|line| {
            let value = line.strip_prefix(series)?.strip_prefix(' ')?;
            value.parse().ok()
        })
    }

    /// Like [`Scrape::get`], failing the test when the series is missing.
    fn value(&self, series: &str) -> f64 {
        self.get(series)
            .unwrap_or_else(|| panic!("no series {series} in:\n{}", self.0))
    }

    /// Every series line of a metric name (any labels).
    fn series(&self, name: &str) -> Vec<&str> {
        self.0
            .lines()
            .filter(|l| {
                l.strip_prefix(name)
                    .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
            })
            .collect()
    }
}

/// Sends every request in one write, then reads one reply per request: a fast way to send
/// thousands of commands. Returns the replies.
fn pipeline(c: &mut Client, requests: &[Vec<Vec<u8>>]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for r in requests {
        let args: Vec<&[u8]> = r.iter().map(Vec::as_slice).collect();
        out.extend_from_slice(&common::encode(&args));
    }
    c.send_raw(&out);
    requests.iter().map(|_| c.read_reply()).collect()
}

/// A request from space-separated words.
fn req(line: &str) -> Vec<Vec<u8>> {
    line.split(' ').map(|w| w.as_bytes().to_vec()).collect()
}

/// The fields of an INFO reply.
fn info(c: &mut Client, section: &str) -> (Vec<u8>, Vec<(String, String)>) {
    let raw = c.cmd(&format!("INFO {section}"));
    let text = String::from_utf8_lossy(&raw).into_owned();
    let fields = text
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_string(), v.trim().to_string()))
        .collect();
    (raw, fields)
}

fn field(fields: &[(String, String)], name: &str) -> f64 {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or_else(|| panic!("INFO has no numeric {name}: {fields:?}"))
}

/// The sum of DBSIZE over the 16 databases (the client is left on database 0).
fn dbsize_sum(c: &mut Client) -> i64 {
    let mut total = 0;
    for db in 0..16 {
        assert_eq!(c.cmd_str(&format!("SELECT {db}")), "+OK\r\n");
        total += c.int("DBSIZE");
    }
    assert_eq!(c.cmd_str("SELECT 0"), "+OK\r\n");
    total
}

/// Reads until the server closes the connection (a reset counts: the server closes with
/// our unread input after a protocol error).
fn wait_closed(stream: &mut TcpStream) {
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => panic!("waiting for the server to close: {e}"),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Exact values
// ---------------------------------------------------------------------------------------

#[test]
fn known_mix_gives_exact_counts_and_agrees_with_info() {
    let k = Keyval::start(&[]);
    let mut c = k.client();

    let sets: Vec<_> = (0..1000)
        .map(|i| req(&format!("SET key:{i} v{i}")))
        .collect();
    assert!(pipeline(&mut c, &sets).iter().all(|r| r == b"+OK\r\n"));
    let hits: Vec<_> = (0..500).map(|i| req(&format!("GET key:{i}"))).collect();
    let misses: Vec<_> = (0..200).map(|i| req(&format!("GET missing:{i}"))).collect();
    pipeline(&mut c, &hits);
    assert!(pipeline(&mut c, &misses).iter().all(|r| r == b"$-1\r\n"));
    // A wrong arity counts as a GET refused (an error, no run); garbage names all count as
    // "unknown".
    assert!(
        c.cmd_str("GET")
            .starts_with("-ERR wrong number of arguments")
    );
    let garbage: Vec<_> = (0..50).map(|i| req(&format!("NOSUCH{i} x"))).collect();
    assert!(
        pipeline(&mut c, &garbage)
            .iter()
            .all(|r| r.starts_with(b"-ERR unknown command"))
    );
    let keys: Vec<String> = (0..10).map(|i| format!("key:{i}")).collect();
    assert_eq!(c.int(&format!("DEL {}", keys.join(" "))), 10);
    let (info_raw, info) = info(&mut c, "all");

    // Nothing is sent after INFO, so the scrape sees exactly the state INFO saw, plus INFO
    // itself (its call and its reply are recorded after its text was built). The reply's
    // bytes are counted once write() returns, which the client can outrun on a busy
    // machine: scrape until they are in (or the deadline, and the assertion below fails).
    let output_after_info = field(&info, "total_net_output_bytes") + info_raw.len() as f64;
    let mut s = k.scrape();
    wait_for(Duration::from_secs(5), || {
        s = k.scrape();
        (s.value("keyval_net_output_bytes_total") >= output_after_info).then_some(())
    });
    assert_eq!(s.value(r#"keyval_cmd_total{cmd="SET"}"#), 1000.0);
    assert_eq!(s.value(r#"keyval_cmd_errors_total{cmd="SET"}"#), 0.0);
    assert_eq!(
        s.value(r#"keyval_cmd_latency_seconds_count{cmd="SET"}"#),
        1000.0
    );
    assert_eq!(
        s.value(r#"keyval_cmd_latency_seconds_bucket{cmd="SET",le="+Inf"}"#),
        1000.0
    );
    let buckets: Vec<f64> = s
        .series("keyval_cmd_latency_seconds_bucket")
        .iter()
        .filter(|l| l.contains(r#"cmd="SET""#))
        .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
        .collect();
    assert_eq!(buckets.len(), 20, "19 bounds and +Inf");
    assert!(
        buckets.windows(2).all(|w| w[0] <= w[1]),
        "not cumulative: {buckets:?}"
    );
    let sum = s.value(r#"keyval_cmd_latency_seconds_sum{cmd="SET"}"#);
    assert!(sum > 0.0 && sum < 10.0, "SET latency sum {sum}");

    assert_eq!(s.value(r#"keyval_cmd_total{cmd="GET"}"#), 701.0);
    assert_eq!(s.value(r#"keyval_cmd_errors_total{cmd="GET"}"#), 1.0);
    assert_eq!(s.value(r#"keyval_cmd_rejected_total{cmd="GET"}"#), 1.0);
    // The histogram has the runs only.
    assert_eq!(
        s.value(r#"keyval_cmd_latency_seconds_count{cmd="GET"}"#),
        700.0
    );
    assert_eq!(s.value(r#"keyval_cmd_total{cmd="unknown"}"#), 50.0);
    assert_eq!(s.value(r#"keyval_cmd_errors_total{cmd="unknown"}"#), 50.0);
    assert_eq!(s.value(r#"keyval_cmd_total{cmd="DEL"}"#), 1.0);
    assert_eq!(s.value(r#"keyval_cmd_total{cmd="INFO"}"#), 1.0);
    // Only the commands used have series; no garbage name became a label.
    assert_eq!(
        s.series("keyval_cmd_total").len(),
        5,
        "{:#?}",
        s.series("keyval_cmd_total")
    );
    assert!(!s.0.contains("NOSUCH") && !s.0.contains("nosuch"));
    assert!(s.get(r#"keyval_cmd_total{cmd="TIME"}"#).is_none());

    assert_eq!(s.value("keyval_keyspace_hits_total"), 500.0);
    assert_eq!(s.value("keyval_keyspace_misses_total"), 200.0);
    assert_eq!(s.value("keyval_keys_count"), 990.0);
    assert_eq!(s.value("keyval_active_connections"), 1.0);
    assert_eq!(s.value("keyval_connections_received_total"), 1.0);

    // INFO and /metrics read the same counters.
    for (metric, info_field) in [
        ("keyval_keyspace_hits_total", "keyspace_hits"),
        ("keyval_keyspace_misses_total", "keyspace_misses"),
        (
            "keyval_connections_received_total",
            "total_connections_received",
        ),
        ("keyval_rejected_connections_total", "rejected_connections"),
        ("keyval_expired_keys_total", "expired_keys"),
        ("keyval_protocol_errors_total", "keyval_protocol_errors"),
        ("keyval_active_connections", "connected_clients"),
        ("keyval_net_input_bytes_total", "total_net_input_bytes"),
    ] {
        assert_eq!(
            s.value(metric),
            field(&info, info_field),
            "{metric} vs INFO {info_field}"
        );
    }
    assert_eq!(
        s.value("keyval_net_output_bytes_total"),
        output_after_info,
        "output bytes: INFO's figure plus INFO's own reply"
    );
    let known_calls: f64 = s
        .series("keyval_cmd_total")
        .iter()
        .filter(|l| !l.contains("unknown"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    // Requests of known commands: the runs INFO counted, INFO itself, and the refused GET.
    assert_eq!(known_calls, field(&info, "total_commands_processed") + 2.0);
    assert_eq!(
        s.value(r#"keyval_error_replies_total{code="ERR"}"#),
        field(&info, "total_error_replies")
    );
    let uptime = s.value("keyval_uptime_seconds");
    assert!(
        (uptime - field(&info, "uptime_in_seconds")).abs() <= 1.0,
        "uptime {uptime}"
    );
    let cpu = s.value("process_cpu_seconds_total");
    let info_cpu = field(&info, "used_cpu_user") + field(&info, "used_cpu_sys");
    assert!(
        cpu >= info_cpu && cpu > 0.0,
        "process CPU {cpu} vs INFO {info_cpu}"
    );
}

#[test]
fn keys_count_is_the_sum_of_dbsize_through_writes_deletes_and_expiry() {
    let k = Keyval::start(&[]);
    let mut c = k.client();
    let check = |c: &mut Client, expected: i64| {
        assert_eq!(dbsize_sum(c), expected);
        // The gauge is published each loop turn before replies are written, so after the
        // DBSIZE replies the scrape must show the same figure.
        assert_eq!(k.scrape().value("keyval_keys_count"), expected as f64);
    };
    check(&mut c, 0);

    let writes: Vec<_> = (0..100).map(|i| req(&format!("SET a{i} x"))).collect();
    pipeline(&mut c, &writes);
    assert_eq!(c.cmd_str("SELECT 5"), "+OK\r\n");
    let writes: Vec<_> = (0..50).map(|i| req(&format!("SET b{i} x"))).collect();
    pipeline(&mut c, &writes);
    check(&mut c, 150);

    assert_eq!(c.cmd_str("SELECT 5"), "+OK\r\n");
    assert_eq!(c.cmd_str("FLUSHDB"), "+OK\r\n");
    assert_eq!(c.cmd_str("SELECT 0"), "+OK\r\n");
    let dels: Vec<_> = (0..30).map(|i| req(&format!("DEL a{i}"))).collect();
    pipeline(&mut c, &dels);
    check(&mut c, 70);

    // 40 keys get a TTL long enough for the scrape to see them with it...
    let ttls: Vec<_> = (30..70)
        .map(|i| req(&format!("PEXPIRE a{i} 1500")))
        .collect();
    assert!(pipeline(&mut c, &ttls).iter().all(|r| r == b":1\r\n"));
    let s = k.scrape();
    if c.int("PTTL a69") > 0 {
        assert_eq!(s.value("keyval_keys_with_expiry"), 40.0);
        assert_eq!(s.value("keyval_keys_count"), 70.0);
    }
    // ...then they expire on their own (the timer wheel, no client touching them).
    let s = k.scrape_until("the 40 keys to expire", |s| {
        s.get("keyval_keys_count") == Some(30.0)
    });
    assert_eq!(s.value("keyval_keys_with_expiry"), 0.0);
    assert_eq!(s.value("keyval_expired_keys_total"), 40.0);
    check(&mut c, 30);
    let (_, fields) = info(&mut c, "stats");
    assert_eq!(field(&fields, "expired_keys"), 40.0);
}

#[test]
fn active_connections_return_after_disconnects_and_protocol_errors() {
    let k = Keyval::start(&["--maxclients", "12"]);
    assert_eq!(k.scrape().value("keyval_active_connections"), 0.0);

    let mut clients: Vec<Client> = (0..10).map(|_| k.client()).collect();
    for c in &mut clients {
        assert_eq!(c.cmd_str("PING"), "+PONG\r\n");
    }
    // Every client got a reply, so the server has accepted all of them.
    assert_eq!(k.scrape().value("keyval_active_connections"), 10.0);

    clients.truncate(6);
    k.scrape_until("6 connections after 4 clients left", |s| {
        s.get("keyval_active_connections") == Some(6.0)
    });

    // A protocol error: the server replies with the error, then closes the connection.
    let mut bad = clients.pop().expect("a client");
    bad.send_raw(b"*1\r\n$x\r\n");
    let reply = bad.read_reply();
    assert!(reply.starts_with(b"-ERR Protocol error"), "{reply:?}");
    wait_closed(&mut bad.stream);
    let s = k.scrape_until("5 connections after the protocol error", |s| {
        s.get("keyval_active_connections") == Some(5.0)
    });
    assert_eq!(s.value("keyval_protocol_errors_total"), 1.0);

    // Up to maxclients (12), then one refused: it is counted as rejected, neither as
    // connected nor as received (Redis's total_connections_received leaves it out too).
    for _ in 0..7 {
        let mut c = k.client();
        assert_eq!(c.cmd_str("PING"), "+PONG\r\n");
        clients.push(c);
    }
    let mut refused = k.client();
    let reply = refused.read_reply();
    assert_eq!(reply, b"-ERR max number of clients reached\r\n");
    wait_closed(&mut refused.stream);
    let s = k.scrape();
    assert_eq!(s.value("keyval_active_connections"), 12.0);
    assert_eq!(s.value("keyval_rejected_connections_total"), 1.0);
    assert_eq!(s.value("keyval_connections_received_total"), 17.0);

    drop(clients);
    k.scrape_until("0 connections after every client left", |s| {
        s.get("keyval_active_connections") == Some(0.0)
    });
}

/// The pub/sub gauges of a scrape: (clients, channels, patterns, shard channels).
fn pubsub_gauges(s: &Scrape) -> (f64, f64, f64, f64) {
    (
        s.value("keyval_pubsub_clients"),
        s.value("keyval_pubsub_channels"),
        s.value("keyval_pubsub_patterns"),
        s.value("keyval_pubsub_shard_channels"),
    )
}

/// Sends `line` and checks its reply (the reply is the proof the command ran).
fn expect(c: &mut Client, line: &str, reply: &str) {
    assert_eq!(c.cmd_str(line), reply, "{line}");
}

#[test]
fn pubsub_gauges_counters_and_delivery_latency_are_exact() {
    let k = Keyval::start(&[]);
    let s = k.scrape();
    assert_eq!(pubsub_gauges(&s), (0.0, 0.0, 0.0, 0.0));
    assert_eq!(s.value("keyval_pubsub_messages_published_total"), 0.0);
    assert_eq!(s.value("keyval_pubsub_messages_delivered_total"), 0.0);
    assert_eq!(s.value("keyval_pubsub_delivery_latency_seconds_count"), 0.0);

    // Six subscribed clients: three on "news"; one on "news" and the pattern "n*" (two
    // copies of each message on news); one on the shard channel "s1"; one RESP3 client on
    // "own", which it will publish to itself.
    let mut news: Vec<Client> = (0..3).map(|_| k.client()).collect();
    for c in &mut news {
        expect(
            c,
            "SUBSCRIBE news",
            "*3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:1\r\n",
        );
    }
    let mut both = k.client();
    expect(
        &mut both,
        "SUBSCRIBE news",
        "*3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:1\r\n",
    );
    expect(
        &mut both,
        "PSUBSCRIBE n*",
        "*3\r\n$10\r\npsubscribe\r\n$2\r\nn*\r\n:2\r\n",
    );
    let mut shard = k.client();
    expect(
        &mut shard,
        "SSUBSCRIBE s1",
        "*3\r\n$10\r\nssubscribe\r\n$2\r\ns1\r\n:1\r\n",
    );
    let mut own = k.client();
    own.cmd("HELLO 3");
    expect(
        &mut own,
        "SUBSCRIBE own",
        ">3\r\n$9\r\nsubscribe\r\n$3\r\nown\r\n:1\r\n",
    );
    // The gauges are published each loop turn before replies are written: exact now.
    let s = k.scrape();
    assert_eq!(pubsub_gauges(&s), (6.0, 2.0, 1.0, 1.0));
    let mut publ = k.client();
    let (_, fields) = info(&mut publ, "stats");
    for (metric, info_field) in [
        ("keyval_pubsub_channels", "pubsub_channels"),
        ("keyval_pubsub_patterns", "pubsub_patterns"),
        ("keyval_pubsub_shard_channels", "pubsubshard_channels"),
    ] {
        assert_eq!(s.value(metric), field(&fields, info_field), "{metric}");
    }

    // 10 publishes on news reach 5 subscriptions each; 3 on s1 reach 1; 1 reaches nobody.
    let mut publishes: Vec<_> = (0..10)
        .map(|i| req(&format!("PUBLISH news m{i}")))
        .collect();
    publishes.extend((0..3).map(|i| req(&format!("SPUBLISH s1 x{i}"))));
    publishes.push(req("PUBLISH void x"));
    let replies = pipeline(&mut publ, &publishes);
    assert!(replies[..10].iter().all(|r| r == b":5\r\n"), "{replies:?}");
    assert!(
        replies[10..13].iter().all(|r| r == b":1\r\n"),
        "{replies:?}"
    );
    assert_eq!(replies[13], b":0\r\n");
    for c in &mut news {
        for _ in 0..10 {
            assert!(c.read_reply().starts_with(b"*3\r\n$7\r\nmessage\r\n"));
        }
    }
    for _ in 0..20 {
        let m = both.read_reply();
        assert!(m.starts_with(b"*3\r\n$7\r\nmessage") || m.starts_with(b"*4\r\n$8\r\npmessage"));
    }
    for _ in 0..3 {
        assert!(shard.read_reply().starts_with(b"*3\r\n$8\r\nsmessage\r\n"));
    }
    // A RESP3 client's copy of its own publish precedes the reply, in its own buffer.
    own.send(&[b"PUBLISH", b"own", b"me"]);
    assert_eq!(
        own.read_reply(),
        b">3\r\n$7\r\nmessage\r\n$3\r\nown\r\n$2\r\nme\r\n"
    );
    assert_eq!(own.read_reply(), b":1\r\n");
    expect(&mut publ, "PUBLISH own you", ":1\r\n");
    assert_eq!(
        own.read_reply(),
        b">3\r\n$7\r\nmessage\r\n$3\r\nown\r\n$3\r\nyou\r\n"
    );
    // A keyspace notification is a publish too, listened to or not.
    assert_eq!(
        publ.call(&[b"CONFIG", b"SET", b"notify-keyspace-events", b"K$"]),
        b"+OK\r\n"
    );
    expect(&mut publ, "SET k v", "+OK\r\n");
    assert_eq!(
        publ.call(&[b"CONFIG", b"SET", b"notify-keyspace-events", b""]),
        b"+OK\r\n"
    );

    // Every copy has been read, so every write that carried one has returned.
    let s = k.scrape();
    assert_eq!(s.value("keyval_pubsub_messages_published_total"), 17.0);
    assert_eq!(s.value("keyval_pubsub_messages_delivered_total"), 55.0);
    assert_eq!(
        s.value("keyval_pubsub_delivery_latency_seconds_count"),
        55.0
    );
    assert_eq!(
        s.value(r#"keyval_pubsub_delivery_latency_seconds_bucket{le="+Inf"}"#),
        55.0
    );
    let buckets: Vec<f64> = s
        .series("keyval_pubsub_delivery_latency_seconds_bucket")
        .iter()
        .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
        .collect();
    assert_eq!(buckets.len(), 20, "19 bounds and +Inf");
    assert!(buckets.windows(2).all(|w| w[0] <= w[1]), "{buckets:?}");
    let sum = s.value("keyval_pubsub_delivery_latency_seconds_sum");
    assert!(
        sum > 0.0 && sum < 55.0 * PATIENCE.as_secs_f64(),
        "sum {sum}"
    );
    assert_eq!(pubsub_gauges(&s), (6.0, 2.0, 1.0, 1.0));

    // Leaving: UNSUBSCRIBE of the last channel, PUNSUBSCRIBE of a client still on a
    // channel, RESET, and a disconnect.
    expect(
        &mut news[0],
        "UNSUBSCRIBE",
        "*3\r\n$11\r\nunsubscribe\r\n$4\r\nnews\r\n:0\r\n",
    );
    expect(
        &mut both,
        "PUNSUBSCRIBE",
        "*3\r\n$12\r\npunsubscribe\r\n$2\r\nn*\r\n:1\r\n",
    );
    expect(&mut own, "RESET", "+RESET\r\n");
    assert_eq!(pubsub_gauges(&k.scrape()), (4.0, 1.0, 0.0, 1.0));
    drop(shard);
    k.scrape_until("the shard subscriber's disconnect", |s| {
        pubsub_gauges(s) == (3.0, 1.0, 0.0, 0.0)
    });
}

#[test]
fn blocked_clients_gauge_and_wait_histogram() {
    let k = Keyval::start(&[]);
    let mut pusher = k.client();
    let s = k.scrape();
    assert_eq!(s.value("keyval_blocked_clients"), 0.0);
    assert_eq!(s.value("keyval_blocked_wait_seconds_count"), 0.0);

    // Blocked: no reply to wait for, so poll the gauge.
    let mut waiter = k.client();
    waiter.send(&[b"BLPOP", b"q", b"0"]);
    k.scrape_until("one blocked client", |s| {
        s.get("keyval_blocked_clients") == Some(1.0)
    });
    assert_eq!(info_field(&mut pusher, "clients", "blocked_clients"), 1);
    expect(&mut pusher, "RPUSH q a", ":1\r\n");
    assert_eq!(waiter.read_reply(), b"*2\r\n$1\r\nq\r\n$1\r\na\r\n");
    // Served during RPUSH, before that turn's gauges and writes: exact now.
    let s = k.scrape();
    assert_eq!(s.value("keyval_blocked_clients"), 0.0);
    assert_eq!(s.value("keyval_blocked_wait_seconds_count"), 1.0);
    let waited = s.value("keyval_blocked_wait_seconds_sum");
    assert!(waited > 0.0 && waited < PATIENCE.as_secs_f64(), "{waited}");

    // Timed out, or unblocked by CLIENT UNBLOCK: not served, so not observed.
    waiter.send(&[b"BLPOP", b"q", b"0.05"]);
    assert_eq!(waiter.read_reply(), b"*-1\r\n");
    let id = waiter.int("CLIENT ID");
    waiter.send(&[b"BLPOP", b"q", b"0"]);
    k.scrape_until("blocked again", |s| {
        s.get("keyval_blocked_clients") == Some(1.0)
    });
    expect(&mut pusher, &format!("CLIENT UNBLOCK {id}"), ":1\r\n");
    assert_eq!(waiter.read_reply(), b"*-1\r\n");
    let s = k.scrape();
    assert_eq!(s.value("keyval_blocked_clients"), 0.0);
    assert_eq!(s.value("keyval_blocked_wait_seconds_count"), 1.0);
    assert_eq!(info_field(&mut pusher, "clients", "blocked_clients"), 0);
}

// ---------------------------------------------------------------------------------------
// The HTTP endpoint
// ---------------------------------------------------------------------------------------

#[test]
fn endpoint_serves_the_text_format_and_404_elsewhere() {
    let k = Keyval::start(&[]);
    let r = http_get(k.metrics_port, "/metrics").expect("GET /metrics");
    assert_eq!(r.status, 200);
    let content_type = r
        .headers
        .lines()
        .find_map(|l| l.strip_prefix("Content-Type: "))
        .expect("a Content-Type header");
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    for name in [
        "keyval_active_connections",
        "keyval_keys_count",
        "keyval_keys_with_expiry",
        "keyval_expired_keys_total",
        "keyval_connections_received_total",
        "keyval_rejected_connections_total",
        "keyval_keyspace_hits_total",
        "keyval_keyspace_misses_total",
        "keyval_net_input_bytes_total",
        "keyval_net_output_bytes_total",
        "keyval_protocol_errors_total",
        "keyval_uptime_seconds",
        "process_resident_memory_bytes",
        "process_cpu_seconds_total",
        "process_open_fds",
    ] {
        assert!(
            r.body.contains(&format!("\n{name} ")),
            "{name} missing:\n{}",
            r.body
        );
    }
    let build = format!(
        "keyval_build_info{{version=\"{}\"}} 1\n",
        env!("CARGO_PKG_VERSION")
    );
    assert!(r.body.contains(&build), "{}", r.body);
    assert!(Scrape(r.body).value("process_resident_memory_bytes") > 0.0);

    // Query parameters are ignored; other paths are 404; other methods 405.
    assert_eq!(
        http_get(k.metrics_port, "/metrics?x=1")
            .map(|r| r.status)
            .ok(),
        Some(200)
    );
    for path in ["/metric", "/metrics/x", "/favicon.ico"] {
        let r = http_get(k.metrics_port, path).expect("GET");
        assert_eq!(r.status, 404, "{path}");
    }
    // `/` is the live console (tests/console.rs).
    let r = http_get(k.metrics_port, "/").expect("GET /");
    assert_eq!(r.status, 200);
    assert!(
        r.headers.contains("Content-Type: text/html"),
        "{}",
        r.headers
    );
    let r = http(k.metrics_port, "POST", "/metrics").expect("POST");
    assert_eq!(r.status, 405);
    let r = http(k.metrics_port, "HEAD", "/metrics").expect("HEAD");
    assert_eq!((r.status, r.body.as_str()), (200, ""));
}

#[test]
fn scrapes_do_not_disturb_clients() {
    // Scrape in a loop while a client runs requests: every reply must still be right, and
    // the counts exact (the reactor never waits on the metrics thread).
    let k = Keyval::start(&[]);
    let stop = Arc::new(AtomicBool::new(false));
    let scraper = {
        let stop = Arc::clone(&stop);
        let port = k.metrics_port;
        thread::spawn(move || {
            let mut scrapes = 0;
            let deadline = Instant::now() + PATIENCE;
            while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                let r = http_get(port, "/metrics").expect("scrape");
                assert_eq!(r.status, 200);
                scrapes += 1;
            }
            scrapes
        })
    };
    let mut c = k.client();
    for round in 0..20 {
        let batch: Vec<_> = (0..500).map(|i| req(&format!("INCR n{}", i % 7))).collect();
        let replies = pipeline(&mut c, &batch);
        assert!(replies.iter().all(|r| r.starts_with(b":")), "round {round}");
    }
    stop.store(true, Ordering::Relaxed);
    let scrapes = scraper.join().expect("scraper thread");
    assert!(scrapes > 0);
    assert_eq!(
        k.scrape().value(r#"keyval_cmd_total{cmd="INCR"}"#),
        10_000.0
    );
}

#[test]
fn a_busy_metrics_address_stops_the_server() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let busy = taken.local_addr().expect("addr");
    let mut child = Command::new(env!("CARGO_BIN_EXE_rust-keyval"))
        .args(["--bind", "127.0.0.1:0", "--metrics-bind", &busy.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start rust-keyval");
    let status = wait_for(PATIENCE, || child.try_wait().ok().flatten());
    let Some(status) = status else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("the server kept running without its metrics endpoint");
    };
    assert!(!status.success());
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    assert!(err.contains("cannot serve metrics"), "{err}");
}

// ---------------------------------------------------------------------------------------
// A bounded endpoint: idle connections, timeouts (issue 9)
// ---------------------------------------------------------------------------------------

/// How many idle connections the flood tests open.
const IDLE: usize = 1000;

/// Most threads the server may have while [`IDLE`] metrics connections sit open (the
/// endpoint used to start one thread per connection).
const MAX_THREADS: usize = 64;

/// The number of threads of process `pid` now (the `Threads:` line of /proc/PID/status).
fn thread_count(pid: u32) -> usize {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("a Threads: line")
}

/// The number of file descriptors process `pid` has open now.
fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("/proc fd")
        .count()
}

/// Raises this process's soft limit on open files to at least `n` (the servers it starts
/// inherit it): a soft limit of 1,024 is common and would stop the flood at our own end.
fn allow_open_files(n: libc::rlim_t) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid pointer to a local struct.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim), 0);
        if lim.rlim_cur < n {
            assert!(
                lim.rlim_max >= n,
                "the hard limit on open files ({}) is below the {n} this test needs",
                lim.rlim_max
            );
            lim.rlim_cur = n;
            assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &lim), 0);
        }
    }
}

/// `n` connections to the metrics port that send nothing. The server may close some of
/// them at once (it bounds its connections); they stay open at our end.
fn open_idle(port: u16, n: usize) -> Vec<TcpStream> {
    (0..n)
        .map(|i| {
            TcpStream::connect(("127.0.0.1", port))
                .unwrap_or_else(|e| panic!("idle connection {i}: {e}"))
        })
        .collect()
}

/// Scrapes `/metrics` on new connections until one answers 200 with the connections
/// gauge, or fails the test after [`PATIENCE`]. Returns the body.
fn scrape_on_a_new_connection(port: u16) -> String {
    let mut last = None;
    let body = wait_for(PATIENCE, || {
        match http_with_timeout(port, "GET", "/metrics", Duration::from_secs(5)) {
            Ok(r) if r.status == 200 && r.body.contains("keyval_active_connections") => {
                Some(r.body)
            }
            other => {
                last = Some(other.map(|r| (r.status, r.body)));
                None
            }
        }
    });
    body.unwrap_or_else(|| panic!("no scrape succeeded within {PATIENCE:?}; last: {last:?}"))
}

#[test]
fn a_thousand_idle_connections_leave_few_threads_and_a_scrape_works() {
    allow_open_files(4096);
    let k = Keyval::start(&[]);
    let pid = k.server.child.id();
    let idle = open_idle(k.metrics_port, IDLE);
    // The server accepts in order, so once this scrape is answered it has seen all of them.
    scrape_on_a_new_connection(k.metrics_port);
    let threads = thread_count(pid);
    assert!(
        threads <= MAX_THREADS,
        "{threads} threads with {IDLE} idle metrics connections (at most {MAX_THREADS})"
    );
    // The connection bound: most of the idle connections were closed, not kept.
    let fds = open_fds(pid);
    assert!(
        fds < 200,
        "{fds} open descriptors with {IDLE} idle metrics connections"
    );
    drop(idle);
}

#[test]
fn the_endpoint_still_serves_after_a_thousand_connections_close() {
    allow_open_files(4096);
    let k = Keyval::start(&[]);
    let pid = k.server.child.id();
    let idle = open_idle(k.metrics_port, IDLE);
    scrape_on_a_new_connection(k.metrics_port);
    drop(idle);
    for _ in 0..3 {
        scrape_on_a_new_connection(k.metrics_port);
    }
    let mut conn = KeepAlive::connect(k.metrics_port);
    for _ in 0..3 {
        let (status, body) = conn.get("/metrics");
        assert_eq!(status, 200);
        assert!(body.contains("keyval_active_connections"), "{body}");
    }
    assert_eq!(k.scrape().value("keyval_active_connections"), 0.0);
    let threads = thread_count(pid);
    assert!(threads <= MAX_THREADS, "{threads} threads");
}

#[test]
fn idle_metrics_connections_time_out_but_keep_alive_scrapes_go_on() {
    // 1 s instead of the default, so the test need not wait long.
    let timeout = Duration::from_millis(1000);
    let k = Keyval::start(&["--metrics-idle-timeout-ms", "1000"]);

    // A connection that never sends anything is closed once the timeout passes, not before.
    let started = Instant::now();
    let mut silent = TcpStream::connect(("127.0.0.1", k.metrics_port)).expect("connect");
    silent.set_read_timeout(Some(PATIENCE)).expect("timeout");
    wait_closed(&mut silent);
    let waited = started.elapsed();
    assert!(
        waited >= timeout,
        "closed after {waited:?}, before the timeout"
    );

    // So is one that sends half a request head and stops (a slow client cannot hold it).
    let started = Instant::now();
    let mut partial = TcpStream::connect(("127.0.0.1", k.metrics_port)).expect("connect");
    partial.set_read_timeout(Some(PATIENCE)).expect("timeout");
    partial
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .expect("write");
    wait_closed(&mut partial);
    assert!(started.elapsed() >= timeout);

    // A keep-alive scraper asking more often than the timeout keeps its connection: each
    // request restarts the clock (Prometheus scrapes every 5-15 s; the default is 30 s).
    let mut conn = KeepAlive::connect(k.metrics_port);
    for round in 0..4 {
        if round > 0 {
            // Deliberate spacing: 4 scrapes 400 ms apart span more than the timeout.
            thread::sleep(Duration::from_millis(400));
        }
        let (status, body) = conn.get("/metrics");
        assert_eq!(status, 200, "round {round}");
        assert!(body.contains("keyval_active_connections"), "round {round}");
    }
}

// ---------------------------------------------------------------------------------------
// promtool and a real Prometheus
// ---------------------------------------------------------------------------------------

#[test]
fn promtool_check_metrics_reports_only_the_keys_count_suffix() {
    if !have_tool("promtool") {
        return;
    }
    let k = Keyval::start(&[]);
    let mut c = k.client();
    // Every family with series: commands, an error, an unknown command, hits and misses.
    for line in ["SET a 1", "GET a", "GET b", "GET", "NOSUCH", "PEXPIRE a 1"] {
        c.cmd(line);
    }
    let text = k.scrape().0;
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run promtool");
    promtool
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("feed promtool");
    let out = promtool.wait_with_output().expect("promtool output");
    let report =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let findings: Vec<&str> = report.lines().filter(|l| !l.trim().is_empty()).collect();
    // keyval_keys_count keeps the name the original README gives it, hence this one finding.
    assert_eq!(
        findings,
        [
            r#"keyval_keys_count non-histogram and non-summary metrics should not have "_count" suffix"#
        ],
        "promtool check metrics:\n{report}\non:\n{text}"
    );
}

/// A temporary directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let dir = std::env::temp_dir().join(format!("keyval-{tag}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A Prometheus server on a loopback port with its own config and storage; stopped (by
/// PID) on drop. Declared after its `TempDir` in a scope, so it stops first.
struct Prometheus {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Prometheus {
    /// Starts Prometheus scraping `127.0.0.1:metrics_port` every second as job
    /// `rust-keyval`, and waits until it is ready.
    fn start(dir: &Path, metrics_port: u16) -> Prometheus {
        let config = dir.join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
                 scrape_configs:\n  - job_name: rust-keyval\n    static_configs:\n      \
                 - targets: [\"127.0.0.1:{metrics_port}\"]\n"
            ),
        )
        .expect("write prometheus.yml");
        for attempt in 0..3 {
            let port = free_port();
            let log = dir.join(format!("prometheus-{attempt}.log"));
            let log_file = std::fs::File::create(&log).expect("log file");
            let child = Command::new("prometheus")
                .arg(format!("--config.file={}", config.display()))
                .arg(format!(
                    "--storage.tsdb.path={}",
                    dir.join(format!("data-{attempt}")).display()
                ))
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .stdout(Stdio::null())
                .stderr(log_file)
                .spawn()
                .expect("start prometheus");
            let mut p = Prometheus { child, port, log };
            let ready = wait_for(Duration::from_secs(60), || {
                if matches!(p.child.try_wait(), Ok(Some(_))) {
                    return Some(false);
                }
                http_get(port, "/-/ready")
                    .is_ok_and(|r| r.status == 200)
                    .then_some(true)
            });
            if ready == Some(true) {
                return p;
            }
            eprintln!("prometheus did not start:\n{}", p.log_text());
            p.stop();
        }
        panic!("prometheus did not become ready on any of 3 ports");
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM to our own child, then SIGKILL if it has not exited within 10 s.
    fn stop(&mut self) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        // SAFETY: sending a signal to our own child process, by its PID.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let exited = wait_for(Duration::from_secs(10), || {
            self.child.try_wait().ok().flatten()
        });
        if exited.is_none() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }

    /// Runs an instant query; returns the result vector (`data.result`).
    fn query(&self, promql: &str) -> Result<Vec<Value>, String> {
        let r = http_get(
            self.port,
            &format!("/api/v1/query?query={}", url_encode(promql)),
        )
        .map_err(|e| e.to_string())?;
        let json: Value = serde_json::from_str(&r.body).map_err(|e| format!("{e}: {}", r.body))?;
        if json["status"] != "success" {
            return Err(format!("query {promql:?} failed: {}", r.body));
        }
        json["data"]["result"]
            .as_array()
            .cloned()
            .ok_or_else(|| format!("query {promql:?}: no result vector: {}", r.body))
    }

    /// Polls `promql` until `accept` takes its result; fails the test after [`PATIENCE`].
    fn query_until(&self, promql: &str, accept: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let mut last = Ok(Vec::new());
        let found = wait_for(PATIENCE, || {
            last = self.query(promql);
            match &last {
                Ok(result) if accept(result) => Some(result.clone()),
                Err(e) => panic!("{e}"),
                _ => None,
            }
        });
        found.unwrap_or_else(|| {
            panic!(
                "timed out on {promql:?}; last answer {last:?}\nprometheus log:\n{}",
                self.log_text()
            )
        })
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Percent-encodes a query parameter value.
fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The sample values of an instant-query result, parsed (NaN for "NaN").
fn values(result: &[Value]) -> Vec<f64> {
    result
        .iter()
        .filter_map(|r| r["value"][1].as_str()?.parse().ok())
        .collect()
}

/// Every PromQL expression of the provisioned dashboard, with its panel's title.
fn dashboard_queries() -> Vec<(String, String)> {
    let path = repo_file("monitoring/grafana/dashboards/rust-keyval.json");
    let text = std::fs::read_to_string(&path).expect("read the dashboard");
    let json: Value = serde_json::from_str(&text).expect("the dashboard is valid JSON");
    let mut out = Vec::new();
    let mut panels: Vec<&Value> = json["panels"].as_array().expect("panels").iter().collect();
    while let Some(p) = panels.pop() {
        // Rows may nest panels.
        if let Some(inner) = p["panels"].as_array() {
            panels.extend(inner);
        }
        for t in p["targets"].as_array().into_iter().flatten() {
            if let Some(expr) = t["expr"].as_str() {
                let title = p["title"].as_str().unwrap_or_default().to_string();
                out.push((title, expr.to_string()));
            }
        }
    }
    out
}

/// The PromQL examples of the original README's Monitoring section, exactly as written there:
/// users have them in their own dashboards.
const SEED_README_QUERIES: &[&str] = &[
    "sum(rate(keyval_cmd_total[1m]))",
    "sum by (cmd) (rate(keyval_cmd_total[1m]))",
    "histogram_quantile(\n  0.95,\n  sum(rate(keyval_cmd_latency_seconds_bucket[5m])) by (le, cmd)\n)",
    "keyval_keys_count",
    "process_resident_memory_bytes / 1024 / 1024",
    "rate(process_cpu_seconds_total[1m]) * 100",
];

#[test]
fn prometheus_scrapes_the_server_and_every_dashboard_query_returns_data() {
    if !have_tool("prometheus") {
        return;
    }
    let k = Keyval::start(&[]);
    let dir = TempDir::new("prometheus");
    let prom = Prometheus::start(&dir.0, k.metrics_port);
    prom.query_until(r#"up{job="rust-keyval"}"#, |r| values(r) == [1.0]);

    // A known number of SETs, read back through Prometheus.
    let mut c = k.client();
    let sets: Vec<_> = (0..300).map(|i| req(&format!("SET k{i} v"))).collect();
    pipeline(&mut c, &sets);
    prom.query_until(r#"keyval_cmd_total{job="rust-keyval",cmd="SET"}"#, |r| {
        values(r) == [300.0]
    });

    // Steady traffic from here on, so rates, quantiles and the hit ratio have something to
    // show: hits, misses, keys that expire 50 ms after being set, messages for a
    // subscriber, and pushes for a client waiting in BLPOP. Bounded by PATIENCE.
    let stop = Arc::new(AtomicBool::new(false));
    let mut subscriber = k.client();
    assert!(
        subscriber
            .cmd("SUBSCRIBE feed")
            .starts_with(b"*3\r\n$9\r\nsubscribe")
    );
    let deadline = Instant::now() + 3 * PATIENCE;
    let load = {
        let stop = Arc::clone(&stop);
        let mut c = k.client();
        thread::spawn(move || {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                let batch = [
                    req(&format!("SET t{i} v PX 50")),
                    req(&format!("GET t{i}")),
                    req("GET never-set"),
                    req("INCR counter"),
                    req(&format!("PUBLISH feed m{i}")),
                    req("RPUSH jobs j"),
                ];
                pipeline(&mut c, &batch);
                i += 1;
                // Pace the load (a few hundred commands a second); this is not a wait.
                thread::sleep(Duration::from_millis(10));
            }
        })
    };
    // Reads the messages, so the subscriber's buffer stays empty.
    let reader = {
        let stop = Arc::clone(&stop);
        let mut stream = subscriber.stream;
        stream
            .set_read_timeout(Some(Duration::from_millis(100)))
            .expect("read timeout");
        thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                match stream.read(&mut buf) {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(e)
                        if matches!(
                            e.kind(),
                            io::ErrorKind::WouldBlock
                                | io::ErrorKind::TimedOut
                                | io::ErrorKind::Interrupted
                        ) => {}
                    Err(e) => panic!("subscriber read: {e}"),
                }
            }
        })
    };
    // Waits in BLPOP (each served by the next RPUSH, or by jobs already queued).
    let worker = {
        let stop = Arc::clone(&stop);
        let mut c = k.client();
        thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                c.cmd("BLPOP jobs 1");
            }
        })
    };

    let mut queries = dashboard_queries();
    assert!(queries.len() >= 12, "{queries:?}");
    queries.extend(
        SEED_README_QUERIES
            .iter()
            .map(|q| ("README".into(), q.to_string())),
    );
    for (title, expr) in &queries {
        // Data means at least one series with a finite value (a rate over no change, or a
        // quantile of nothing, is NaN).
        prom.query_until(expr, |r| values(r).iter().any(|v| v.is_finite()));
        eprintln!("ok: {title}: {expr}");
    }
    stop.store(true, Ordering::Relaxed);
    load.join().expect("load thread");
    worker.join().expect("BLPOP thread");
    reader.join().expect("subscriber thread");
    drop(prom);
}

// ---------------------------------------------------------------------------------------
// monitoring/ (validated offline: no Docker engine runs here)
// ---------------------------------------------------------------------------------------

#[test]
fn prometheus_config_is_valid_and_scrapes_keyval() {
    let path = repo_file("monitoring/prometheus.yml");
    let text = std::fs::read_to_string(&path).expect("read prometheus.yml");
    assert!(text.contains("job_name: rust-keyval"), "{text}");
    assert!(text.contains(r#"targets: ["keyval:9100"]"#), "{text}");
    if !have_tool("promtool") {
        return;
    }
    let out = Command::new("promtool")
        .args(["check", "config"])
        .arg(&path)
        .output()
        .expect("run promtool");
    assert!(
        out.status.success(),
        "promtool check config: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn compose_file_is_valid() {
    if !have_tool("docker-compose") {
        return;
    }
    let file = repo_file("monitoring/docker-compose.yml");
    let run = |args: &[&str]| {
        let out = Command::new("docker-compose")
            .arg("-f")
            .arg(&file)
            .args(args)
            .output()
            .expect("run docker-compose");
        assert!(
            out.status.success(),
            "docker-compose {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    run(&["config", "-q"]);
    let mut services: Vec<String> = run(&["config", "--services"])
        .lines()
        .map(str::to_string)
        .collect();
    services.sort();
    // docker-compose 1.29 lists the "sharded" profile's services too (`up` starts them
    // only with `--profile sharded`).
    assert_eq!(
        services,
        [
            "grafana",
            "keyval",
            "keyval-1",
            "keyval-2",
            "keyval-3",
            "prometheus",
            "twemproxy"
        ]
    );
    let resolved = run(&["config"]);
    for needle in [
        "KEYVAL_BIND: 0.0.0.0:6374",
        "METRICS_BIND: 0.0.0.0:9100",
        "GF_SECURITY_ADMIN_PASSWORD: admin",
        "dockerfile: monitoring/Dockerfile",
    ] {
        assert!(resolved.contains(needle), "{needle} not in:\n{resolved}");
    }
    for port in ["6374", "9100", "9090", "3000"] {
        assert!(
            resolved.contains(&format!("published: {port}"))
                || resolved.contains(&format!("published: '{port}'"))
                || resolved.contains(&format!(":{port}:{port}")),
            "port {port} not published:\n{resolved}"
        );
    }
}

#[test]
fn dashboard_has_the_panels_and_uses_the_provisioned_datasource() {
    let text = std::fs::read_to_string(repo_file("monitoring/grafana/dashboards/rust-keyval.json"))
        .expect("read the dashboard");
    let json: Value = serde_json::from_str(&text).expect("the dashboard is valid JSON");
    let titles: Vec<&str> = json["panels"]
        .as_array()
        .expect("panels")
        .iter()
        .filter_map(|p| p["title"].as_str())
        .collect();
    for wanted in [
        "Total QPS",
        "QPS by command",
        "Latency by command (p50 / p95 / p99)",
        "Keys count",
        "Keys with expiry",
        "Connections",
        "RSS MB",
        "CPU %",
        "Hit ratio",
        "Expired keys/s",
        "Network bytes/s",
        "Pub/sub clients and channels",
        "Pub/sub messages/s",
        "Pub/sub delivery latency (p50 / p99)",
        "Blocked clients",
        "Blocked wait (p50 / p99)",
    ] {
        assert!(
            titles.contains(&wanted),
            "no panel {wanted:?} in {titles:?}"
        );
    }
    let exprs: Vec<String> = dashboard_queries().into_iter().map(|(_, e)| e).collect();
    for q in ["0.50", "0.95", "0.99"] {
        assert!(
            exprs
                .iter()
                .any(|e| e.starts_with(&format!("histogram_quantile({q},"))),
            "no p{q} query"
        );
    }

    // Every panel and query points at the datasource that provisioning creates.
    let ds = std::fs::read_to_string(repo_file(
        "monitoring/grafana/provisioning/datasources/prometheus.yml",
    ))
    .expect("read the datasource provisioning");
    assert!(ds.contains("url: http://prometheus:9090"), "{ds}");
    assert!(ds.contains("uid: prometheus"), "{ds}");
    for p in json["panels"].as_array().into_iter().flatten() {
        assert_eq!(p["datasource"]["uid"], "prometheus", "{}", p["title"]);
        for t in p["targets"].as_array().into_iter().flatten() {
            assert_eq!(t["datasource"]["uid"], "prometheus", "{}", p["title"]);
        }
    }
    let provider = std::fs::read_to_string(repo_file(
        "monitoring/grafana/provisioning/dashboards/rust-keyval.yml",
    ))
    .expect("read the dashboard provisioning");
    assert!(
        provider.contains("path: /var/lib/grafana/dashboards"),
        "{provider}"
    );
}

#[test]
fn script_runs_time_and_cache_are_exported() {
    let k = Keyval::start(&[]);
    let mut c = k.client();
    assert_eq!(k.scrape().value("keyval_scripts_cached"), 0.0);
    c.cmd_args(&["EVAL", "return 1", "0"]);
    c.cmd_args(&["EVAL", "return redis.call('nosuch')", "0"]);
    c.cmd_args(&["SCRIPT", "LOAD", "return 2"]);
    let s = k.scrape_until("two scripts run and three cached", |s| {
        s.get("keyval_scripts_run_total") == Some(2.0)
            && s.get("keyval_scripts_cached") == Some(3.0)
    });
    // Each run is one observation of the duration histogram, the failing one included.
    assert_eq!(s.value("keyval_script_duration_seconds_count"), 2.0);
    c.cmd("SCRIPT FLUSH");
    k.scrape_until("an empty cache after SCRIPT FLUSH", |s| {
        s.get("keyval_scripts_cached") == Some(0.0)
    });
}

#[test]
fn snapshots_are_exported() {
    let k = Keyval::start(&["--save", ""]);
    let mut c = k.client();
    let s = k.scrape();
    // Before any save, the last save is the start (as INFO's rdb_last_save_time).
    assert!(s.value("keyval_rdb_last_save_timestamp_seconds") > 1.7e9);
    assert_eq!(s.value("keyval_rdb_saves_total"), 0.0);
    assert_eq!(s.value("keyval_rdb_bgsave_in_progress"), 0.0);
    for i in 0..100 {
        c.cmd(&format!("SET k{i} v{i}"));
    }
    k.scrape_until("100 changes since the last save", |s| {
        s.get("keyval_rdb_changes_since_last_save") == Some(100.0)
    });
    assert_eq!(c.cmd("SAVE"), b"+OK\r\n");
    let s = k.scrape_until("one save, no change since", |s| {
        s.get("keyval_rdb_saves_total") == Some(1.0)
            && s.get("keyval_rdb_changes_since_last_save") == Some(0.0)
    });
    assert!(s.value("keyval_rdb_last_save_bytes") > 100.0);
    assert!(s.value("keyval_rdb_last_save_duration_seconds") > 0.0);
    assert_eq!(s.value("keyval_rdb_save_failures_total"), 0.0);
    assert_eq!(c.cmd("BGSAVE"), b"+Background saving started\r\n");
    k.scrape_until("two saves, none running", |s| {
        s.get("keyval_rdb_saves_total") == Some(2.0)
            && s.get("keyval_rdb_bgsave_in_progress") == Some(0.0)
    });
}

#[test]
fn the_append_only_file_is_exported() {
    let k = Keyval::start(&["--save", "", "--appendonly", "yes"]);
    let mut c = k.client();
    let s = k.scrape_until("the AOF on", |s| s.get("keyval_aof_enabled") == Some(1.0));
    let base = s.value("keyval_aof_base_size_bytes");
    assert!(base > 0.0, "a fresh AOF has a base");
    for i in 0..100 {
        c.cmd(&format!("SET k{i} v{i}"));
    }
    k.scrape_until("the file grew by the 100 writes", |s| {
        s.get("keyval_aof_size_bytes")
            .is_some_and(|size| size >= base + 100.0 * 25.0)
    });
    assert_eq!(
        c.cmd("BGREWRITEAOF"),
        b"+Background append only file rewriting started\r\n"
    );
    let s = k.scrape_until("one rewrite, none running", |s| {
        s.get("keyval_aof_rewrites_total") == Some(1.0)
            && s.get("keyval_aof_rewrite_in_progress") == Some(0.0)
    });
    assert!(s.value("keyval_aof_base_size_bytes") > base);
    assert_eq!(s.value("keyval_aof_write_errors_total"), 0.0);
    assert_eq!(s.value("keyval_aof_rewrite_failures_total"), 0.0);
}
