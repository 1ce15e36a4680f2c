//! The live console at `http://<metrics-bind>/`: the page and `/console.json` over HTTP,
//! then the page in a real browser (headless Chromium from Debian's packages) against the
//! real server under load, asserting from the DOM it leaves that every chart drew data.

mod common;

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{Client, Server, have_tool, wait_for};
use serde_json::Value;

const PATIENCE: Duration = Duration::from_secs(30);

/// The server with its metrics endpoint (and console) on; killed on drop.
struct Keyval {
    server: Server,
    metrics_port: u16,
}

impl Keyval {
    /// Starts the server with both addresses on port 0 and reads the ports from its log.
    fn start(extra: &[&str]) -> Keyval {
        let (server, metrics_port) = common::start_with_metrics("console", |cmd| {
            cmd.args(["--save", ""]).args(extra);
        });
        Keyval {
            server,
            metrics_port,
        }
    }

    fn client(&self) -> Client {
        self.server.client()
    }

    fn console_json(&self) -> Value {
        let r = http(self.metrics_port, "GET", "/console.json").expect("GET /console.json");
        assert_eq!(r.status, 200, "{}", r.body);
        serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("{e}: {}", r.body))
    }

    /// Reads /console.json until `f` accepts it, or fails the test after [`PATIENCE`].
    fn console_until(&self, what: &str, f: impl Fn(&Value) -> bool) -> Value {
        let mut last = Value::Null;
        let found = wait_for(PATIENCE, || {
            let v = self.console_json();
            if f(&v) {
                return Some(v);
            }
            last = v;
            None
        });
        found.unwrap_or_else(|| panic!("timed out waiting for {what}; last reading: {last}"))
    }
}

struct HttpResponse {
    status: u16,
    head: String,
    body: String,
}

/// One HTTP/1.0 request to `127.0.0.1:port`.
fn http(port: u16, method: &str, path: &str) -> io::Result<HttpResponse> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(PATIENCE))?;
    write!(
        stream,
        "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let bad = || io::Error::new(io::ErrorKind::InvalidData, format!("bad answer {text:?}"));
    let (head, body) = text.split_once("\r\n\r\n").ok_or_else(bad)?;
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(bad)?;
    Ok(HttpResponse {
        status,
        head: head.to_string(),
        body: body.to_string(),
    })
}

/// Sends every request in one write, then reads one reply per request.
fn pipeline(c: &mut Client, requests: &[String]) {
    let mut out = Vec::new();
    for r in requests {
        let args: Vec<&[u8]> = r.split(' ').map(str::as_bytes).collect();
        out.extend_from_slice(&common::encode(&args));
    }
    c.send_raw(&out);
    for _ in requests {
        c.read_reply();
    }
}

#[test]
fn the_page_and_its_figures_are_served() {
    let k = Keyval::start(&["--enable-debug-command", "local", "--maxmemory", "100mb"]);
    let port = k.metrics_port;
    let page = http(port, "GET", "/").expect("GET /");
    assert_eq!(page.status, 200);
    assert!(
        page.head.contains("Content-Type: text/html; charset=utf-8"),
        "{}",
        page.head
    );
    assert!(
        page.body.starts_with("<!doctype html>"),
        "{}",
        &page.body[..40]
    );
    for id in [
        "ops", "latency", "memory", "keys", "clients", "hits", "removals",
    ] {
        assert!(
            page.body.contains(&format!("<canvas id=\"{id}\">")),
            "no chart {id}"
        );
    }
    assert!(page.body.len() < 48 * 1024, "{} bytes", page.body.len());
    let head = http(port, "HEAD", "/").expect("HEAD /");
    assert_eq!((head.status, head.body.as_str()), (200, ""));
    assert_eq!(http(port, "POST", "/").expect("POST /").status, 405);
    assert_eq!(
        http(port, "POST", "/console.json").expect("POST").status,
        405
    );
    for path in ["/console.js", "/index.html", "/..", "/console.json/x"] {
        assert_eq!(http(port, "GET", path).expect("GET").status, 404, "{path}");
    }
    let json = http(port, "GET", "/console.json?since=1").expect("GET with a query");
    assert_eq!(json.status, 200);
    assert!(
        json.head.contains("Content-Type: application/json"),
        "{}",
        json.head
    );
    assert!(
        json.head.contains("Cache-Control: no-store"),
        "{}",
        json.head
    );

    let mut c = k.client();
    let sets: Vec<String> = (0..250).map(|i| format!("SET key:{i} v")).collect();
    pipeline(&mut c, &sets);
    pipeline(
        &mut c,
        &[
            "EXPIRE key:1 100".into(),
            "GET key:2".into(),
            "GET nope".into(),
        ],
    );
    c.cmd("CLIENT SETNAME sleeper");
    assert_eq!(c.cmd_str("DEBUG SLEEP 0.02"), "+OK\r\n");
    let v = k.console_until("the slow log", |v| v["slowlog"]["length"] == 1);
    let commands = v["commands"].as_array().expect("commands");
    let set = commands.iter().find(|c| c["cmd"] == "SET").expect("SET");
    assert_eq!(set["calls"], 250);
    let buckets = set["buckets"].as_array().expect("buckets");
    assert_eq!(
        buckets.len(),
        v["latency_bounds_us"].as_array().map_or(0, |b| b.len() + 1)
    );
    assert_eq!(buckets.iter().filter_map(Value::as_u64).sum::<u64>(), 250);
    assert!(
        commands.iter().any(|c| c["cmd"] == "CLIENT|SETNAME"),
        "{commands:?}"
    );
    assert_eq!(v["keys"]["total"], 250);
    assert_eq!(v["keys"]["expiring"], 1);
    assert_eq!(v["keyspace"]["hits"], 1);
    assert_eq!(v["keyspace"]["misses"], 1);
    assert_eq!(v["memory"]["max"], 100 * 1024 * 1024);
    assert!(v["memory"]["used"].as_u64() > Some(0));
    assert_eq!(v["clients"]["connected"], 1);
    let entry = &v["slowlog"]["entries"][0];
    assert_eq!(entry["args"], serde_json::json!(["DEBUG", "SLEEP", "0.02"]));
    assert_eq!(entry["name"], "sleeper");
    assert!(entry["duration_us"].as_u64() >= Some(20_000), "{entry}");
    assert_eq!(entry["client"], format!("127.0.0.1:{}", c.local_port()));
}

// ---------------------------------------------------------------------------------------
// In headless Chromium
// ---------------------------------------------------------------------------------------

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

/// The opening tag of the element with this id in a serialized DOM.
fn tag_with_id<'a>(dom: &'a str, id: &str) -> &'a str {
    let at = dom
        .find(&format!(" id=\"{id}\""))
        .unwrap_or_else(|| panic!("no element #{id} in:\n{dom}"));
    let start = dom[..at].rfind('<').expect("tag start");
    let end = at + dom[at..].find('>').expect("tag end");
    &dom[start..=end]
}

/// An attribute of a tag, with the HTML escapes of the serializer undone.
fn attr(tag: &str, name: &str) -> Option<String> {
    let at = tag.find(&format!(" {name}=\""))? + name.len() + 3;
    let end = at + tag[at..].find('"')?;
    Some(
        tag[at..end]
            .replace("&quot;", "\"")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&nbsp;", "\u{a0}")
            .replace("&amp;", "&"),
    )
}

/// What one chart drew: its point count, series, last and largest values, changed pixels.
struct Chart {
    points: u64,
    series: Vec<String>,
    last: Value,
    max: Value,
    ink: u64,
}

fn chart(dom: &str, id: &str) -> Chart {
    let tag = tag_with_id(dom, id);
    let number = |name: &str| {
        attr(tag, name)
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("#{id} has no {name}: {tag}"))
    };
    let json = |name: &str| {
        let text = attr(tag, name).unwrap_or_else(|| panic!("#{id} has no {name}: {tag}"));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("#{id} {name}: {e}: {text}"))
    };
    Chart {
        points: number("data-points"),
        series: attr(tag, "data-series")
            .unwrap_or_default()
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
        last: json("data-last"),
        max: json("data-max"),
        ink: number("data-ink"),
    }
}

/// Loads `url` in headless Chromium, lets `budget` of virtual time pass (the page polls
/// once a virtual second; virtual time waits for each fetch to finish), and returns the
/// DOM as the page left it.
fn chromium_dom(url: &str, budget: Duration) -> String {
    let profile = TempDir::new("chromium");
    let out = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
        ])
        .args([
            "--no-first-run",
            "--no-default-browser-check",
            "--mute-audio",
        ])
        .arg(format!("--user-data-dir={}", profile.0.display()))
        .arg("--window-size=1400,1600")
        .arg(format!("--virtual-time-budget={}", budget.as_millis()))
        .arg("--dump-dom")
        .arg(url)
        .env("HOME", &profile.0)
        .stdin(Stdio::null())
        .output()
        .expect("run chromium");
    let dom = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success() && dom.contains("</html>"),
        "chromium failed ({}):\n{}\n{dom}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    dom
}

#[test]
fn headless_chromium_draws_every_chart_with_live_data() {
    if !have_tool("chromium") {
        return;
    }
    let k = Keyval::start(&[
        "--enable-debug-command",
        "local",
        "--maxmemory",
        "8mb",
        "--maxmemory-policy",
        "allkeys-lru",
    ]);
    // Clients that stay blocked and subscribed for the whole test (their replies are never
    // read: nothing is pushed to that list or published on that channel).
    let mut blocked = TcpStream::connect(("127.0.0.1", k.server.port)).expect("connect");
    blocked
        .write_all(&common::encode(&[b"BLPOP", b"never-pushed", b"0"]))
        .expect("BLPOP");
    let mut subscriber = TcpStream::connect(("127.0.0.1", k.server.port)).expect("connect");
    subscriber
        .write_all(&common::encode(&[b"SUBSCRIBE", b"quiet"]))
        .expect("SUBSCRIBE");
    let mut c = k.client();
    assert_eq!(c.cmd_str("DEBUG SLEEP 0.02"), "+OK\r\n");
    let ttl: Vec<String> = (0..50).map(|i| format!("SET ttl:{i} v EX 3600")).collect();
    pipeline(&mut c, &ttl);

    // Steady load for as long as the browser runs: hits and misses, keys that expire
    // (read back after their 1 ms, so they expire on access too), and values big enough
    // to keep the 8 MB limit evicting.
    let stop = Arc::new(AtomicBool::new(false));
    let deadline = Instant::now() + 4 * PATIENCE;
    let load = {
        let stop = Arc::clone(&stop);
        let mut c = k.client();
        thread::spawn(move || {
            let payload = "x".repeat(4000);
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                let batch = vec![
                    format!("SET t{i} v PX 1"),
                    format!("GET t{}", i.saturating_sub(20)),
                    format!("GET ttl:{}", i % 50),
                    "GET never-set".to_string(),
                    format!("SET big{i} {payload}"),
                    "INCR counter".to_string(),
                ];
                pipeline(&mut c, &batch);
                i += 1;
                // Pace the load (about 3,000 commands a second); this is not a wait.
                thread::sleep(Duration::from_millis(2));
            }
        })
    };
    k.console_until("evictions, expirations and the blocked clients", |v| {
        v["keyspace"]["evicted"].as_u64() > Some(0)
            && v["keyspace"]["expired"].as_u64() > Some(0)
            && v["clients"]["blocked"] == 1
            && v["clients"]["subscribed"] == 1
            && v["slowlog"]["length"] == 1
    });

    let url = format!("http://127.0.0.1:{}/", k.metrics_port);
    let dom = chromium_dom(&url, Duration::from_secs(12));
    stop.store(true, Ordering::Relaxed);
    load.join().expect("load thread");

    let body_at = dom.find("<body").expect("a body");
    let body = &dom[body_at..body_at + dom[body_at..].find('>').expect("body tag end")];
    let polls: u64 = attr(body, "data-polls")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let errors = attr(body, "data-errors").unwrap_or_default();
    assert!(
        polls >= 5,
        "{polls} readings of console.json, errors {errors}:\n{dom}"
    );
    assert_eq!(errors, "0", "{dom}");
    assert!(
        dom.contains(" · live</span>"),
        "the status says live:\n{dom}"
    );

    for id in [
        "ops", "latency", "memory", "keys", "clients", "hits", "removals",
    ] {
        let c = chart(&dom, id);
        assert!(c.points >= 2, "#{id} drew {} points", c.points);
        assert!(c.ink > 50, "#{id} changed {} pixels", c.ink);
    }
    let ops = chart(&dom, "ops");
    assert_eq!(ops.series[0], "total", "{:?}", ops.series);
    for cmd in ["SET", "GET"] {
        assert!(ops.series.iter().any(|s| s == cmd), "{:?}", ops.series);
        assert!(
            ops.max[cmd].as_f64() > Some(0.0),
            "{cmd} ops/s: {}",
            ops.max
        );
    }
    assert!(ops.last["total"].as_f64() > Some(0.0), "{}", ops.last);
    let latency = chart(&dom, "latency");
    assert_eq!(latency.series, ["p50", "p99", "p99.9"]);
    let q = |name: &str| latency.last[name].as_f64().unwrap_or(f64::NAN);
    assert!(
        q("p50") > 0.0 && q("p50") <= q("p99") && q("p99") <= q("p99.9"),
        "{}",
        latency.last
    );
    let memory = chart(&dom, "memory");
    assert_eq!(memory.last["maxmemory"], 8.0 * 1024.0 * 1024.0);
    assert!(memory.last["used"].as_f64() > Some(1e6), "{}", memory.last);
    let keys = chart(&dom, "keys");
    assert!(
        keys.last["without TTL"].as_f64() > Some(0.0),
        "{}",
        keys.last
    );
    assert!(keys.max["with TTL"].as_f64() > Some(0.0), "{}", keys.max);
    let clients = chart(&dom, "clients");
    assert!(
        clients.last["connected"].as_f64() >= Some(4.0),
        "{}",
        clients.last
    );
    assert_eq!(clients.last["blocked"], 1.0);
    assert_eq!(clients.last["subscribed"], 1.0);
    let hits = chart(&dom, "hits");
    let ratio = hits.last["hit ratio"].as_f64().unwrap_or(-1.0);
    assert!((0.0..=100.0).contains(&ratio), "{}", hits.last);
    let removals = chart(&dom, "removals");
    assert!(
        removals.max["evicted"].as_f64() > Some(0.0),
        "{}",
        removals.max
    );
    assert!(
        removals.max["expired"].as_f64() > Some(0.0),
        "{}",
        removals.max
    );

    let commands = tag_with_id(&dom, "commands");
    assert!(
        attr(commands, "data-rows").and_then(|v| v.parse::<u64>().ok()) >= Some(3),
        "{commands}"
    );
    let slowlog = tag_with_id(&dom, "slowlog");
    assert_eq!(
        attr(slowlog, "data-rows").as_deref(),
        Some("1"),
        "{slowlog}"
    );
    assert!(
        dom.contains("DEBUG SLEEP 0.02"),
        "the slow log table shows the command"
    );
    drop((blocked, subscriber));
}
