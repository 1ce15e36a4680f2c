//! Sharding behind twemproxy (Debian's `nutcracker`): three rust-keyval servers behind one
//! proxy with `redis: true` and ketama distribution, as README's "Sharding" section and the
//! compose file's "sharded" profile set it up. redis-benchmark and redis-py go through the
//! proxy; every shard must get keys, and the keys must add up.

mod common;

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{Client, Server, free_port, have_tool, wait_for};

/// nutcracker, killed when dropped.
struct Proxy {
    child: Child,
    port: u16,
    log: std::path::PathBuf,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The pool of monitoring/twemproxy/nutcracker.yml with local addresses.
fn config(listen: u16, shards: &[u16]) -> String {
    let mut text = format!(
        "keyval:\n  listen: 127.0.0.1:{listen}\n  hash: fnv1a_64\n  hash_tag: \"{{}}\"\n  \
         distribution: ketama\n  redis: true\n  auto_eject_hosts: false\n  timeout: 2000\n  \
         servers:\n"
    );
    for (i, port) in shards.iter().enumerate() {
        text.push_str(&format!("    - 127.0.0.1:{port}:1 shard{}\n", i + 1));
    }
    text
}

fn start_proxy(shards: &[u16]) -> Proxy {
    let dir = std::env::temp_dir().join(format!("keyval-twemproxy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let port = free_port();
    let conf = dir.join(format!("nutcracker-{port}.yml"));
    std::fs::write(&conf, config(port, shards)).expect("write the config");
    let check = Command::new("nutcracker")
        .arg("-t")
        .arg("-c")
        .arg(&conf)
        .output()
        .expect("run nutcracker -t");
    assert!(
        check.status.success(),
        "nutcracker rejects the config: {}",
        String::from_utf8_lossy(&check.stderr)
    );
    let log = dir.join(format!("nutcracker-{port}.log"));
    let child = Command::new("nutcracker")
        .arg("-c")
        .arg(&conf)
        .args(["-s", &free_port().to_string(), "-a", "127.0.0.1"])
        .arg("-o")
        .arg(&log)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start nutcracker");
    let proxy = Proxy { child, port, log };
    let up = wait_for(Duration::from_secs(10), || {
        let stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
        let mut c = Client::from_stream(stream);
        (c.cmd("PING") == b"+PONG\r\n").then_some(())
    });
    assert!(up.is_some(), "nutcracker did not answer PING on {port}");
    proxy
}

/// DBSIZE of each shard.
fn sizes(shards: &[Server]) -> Vec<i64> {
    shards.iter().map(|s| s.client().int("DBSIZE")).collect()
}

#[test]
fn redis_benchmark_through_twemproxy_reaches_every_shard() {
    if !have_tool("nutcracker") || !have_tool("redis-benchmark") {
        return;
    }
    let shards: Vec<Server> = (0..3).map(|_| Server::start(&[])).collect();
    let ports: Vec<u16> = shards.iter().map(|s| s.port).collect();
    let proxy = start_proxy(&ports);

    // SET and GET of 10k random keys out of 1M, pipelined: twemproxy splits the pipeline
    // by key and reassembles the replies in order.
    let out = Command::new("redis-benchmark")
        .args(["-h", "127.0.0.1", "-p", &proxy.port.to_string()])
        .args([
            "-t", "set,get", "-n", "20000", "-r", "1000000", "-P", "16", "-q",
        ])
        .stdin(Stdio::null())
        .output()
        .expect("run redis-benchmark");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    for test in ["SET", "GET"] {
        assert!(
            stdout
                .split(['\r', '\n'])
                .any(|l| l.starts_with(&format!("{test}: ")) && l.contains("requests per second")),
            "no {test} result in {stdout}"
        );
    }
    assert!(!stdout.to_lowercase().contains("error"), "{stdout}");
    let per_shard = sizes(&shards);
    let total: i64 = per_shard.iter().sum();
    // ~20k random picks of 1M keys: nearly all distinct, and ketama spreads them.
    assert!(total > 19_000, "{per_shard:?}");
    for n in &per_shard {
        assert!(*n > total / 10, "a shard got too few keys: {per_shard:?}");
    }
    // redis-benchmark asks for CONFIG GET save/appendonly first ("Could not fetch server
    // CONFIG", harmless); the benchmark's own commands must all have been forwarded.
    let log = std::fs::read_to_string(&proxy.log).unwrap_or_default();
    let refused: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("unsupported command") && !l.contains("'CONFIG'"))
        .collect();
    assert!(refused.is_empty(), "{log}");
}

/// The redis-py session run through the proxy. twemproxy 0.5 knows neither HELLO nor
/// CLIENT and closes the connection of a client that sends them, so redis-py must be told
/// not to: RESP2 and no CLIENT SETINFO (README, "Sharding").
const REDIS_PY: &str = r#"
import sys, warnings
warnings.simplefilter("ignore")
import redis
r = redis.Redis(port=int(sys.argv[1]), protocol=2, lib_name=None, lib_version=None)
for i in range(600):
    assert r.set(f"user:{i}", i)
assert r.get("user:41") == b"41"
assert r.mget([f"user:{i}" for i in range(0, 600, 7)]) == [str(i).encode() for i in range(0, 600, 7)]
assert r.incr("counter") == 1
p = r.pipeline(transaction=False)
for i in range(50):
    p.incrby(f"hits:{i}", i)
assert p.execute() == list(range(50))
# Keys with one hash tag share a shard, so a multi-key command on them works.
r.set("cart:{7}:a", 1); r.set("cart:{7}:b", 2)
assert r.exists("cart:{7}:a", "cart:{7}:b") == 2
assert r.delete(*[f"user:{i}" for i in range(300, 600)]) == 300
print("checks passed")
"#;

#[test]
fn redis_py_through_twemproxy_spreads_and_reads_back() {
    if !have_tool("nutcracker") || !have_tool("python3") {
        return;
    }
    let py_ok = Command::new("python3")
        .args(["-c", "import redis"])
        .status()
        .is_ok_and(|s| s.success());
    if !py_ok {
        assert!(!common::tools_required(), "redis-py is required");
        eprintln!("SKIPPED: redis-py is not installed");
        return;
    }
    let shards: Vec<Server> = (0..3).map(|_| Server::start(&[])).collect();
    let ports: Vec<u16> = shards.iter().map(|s| s.port).collect();
    let proxy = start_proxy(&ports);
    let mut py = Command::new("python3")
        .args(["-", &proxy.port.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run python3");
    py.stdin
        .take()
        .expect("stdin")
        .write_all(REDIS_PY.as_bytes())
        .expect("send the script");
    let out = py.wait_with_output().expect("python3 ran");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("checks passed"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // 300 users + counter + 50 hits + 2 cart keys, spread over the three shards.
    let per_shard = sizes(&shards);
    assert_eq!(
        per_shard.iter().sum::<i64>(),
        300 + 1 + 50 + 2,
        "{per_shard:?}"
    );
    assert!(per_shard.iter().all(|&n| n > 30), "{per_shard:?}");
    // The tagged keys are together.
    let together = shards
        .iter()
        .filter(|s| s.client().int("EXISTS cart:{7}:a cart:{7}:b") == 2)
        .count();
    assert_eq!(together, 1);
}

#[test]
fn twemproxy_refuses_transactions_as_documented() {
    if !have_tool("nutcracker") {
        return;
    }
    let shards: Vec<Server> = (0..3).map(|_| Server::start(&[])).collect();
    let ports: Vec<u16> = shards.iter().map(|s| s.port).collect();
    let proxy = start_proxy(&ports);
    let mut c = Client::connect(proxy.port);
    c.send(&[b"MULTI"]);
    // twemproxy closes the connection on a command it does not forward.
    assert!(c.read_to_eof().is_empty());
}
