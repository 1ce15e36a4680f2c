//! The real redis-benchmark and redis-cli against our server. Mandatory in CI (which installs
//! Debian's redis-tools and sets KEYVAL_REQUIRE_TOOLS=1); skipped elsewhere without them.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::{Server, have_tool, redis_benchmark};

#[test]
fn redis_benchmark_runs_clean() {
    if !have_tool("redis-benchmark") {
        return;
    }
    let server = Server::start(&[]);
    redis_benchmark(
        server.port,
        "ping,set,get,incr,mset",
        100_000,
        &[
            "PING_INLINE",
            "PING_MBULK",
            "SET",
            "GET",
            "INCR",
            "MSET (10 keys)",
        ],
    );
    // Without -r every request hits the same key: INCR ran exactly 100000 times on it.
    let mut c = server.client();
    assert_eq!(c.cmd("GET counter:__rand_int__"), b"$6\r\n100000\r\n");
    assert_eq!(c.cmd("STRLEN key:__rand_int__"), b":3\r\n");
}

/// Every test of redis-benchmark's default suite (7.0's has no XADD test; the stream
/// scenarios are in the loadtest crate).
const DEFAULT_SUITE: &str =
    "ping,set,get,incr,lpush,rpush,lpop,rpop,sadd,hset,spop,zadd,zpopmin,lrange,mset";

#[test]
fn redis_benchmark_default_suite_runs_clean() {
    if !have_tool("redis-benchmark") {
        return;
    }
    let server = Server::start(&[]);
    redis_benchmark(
        server.port,
        DEFAULT_SUITE,
        20000,
        &[
            "PING_INLINE",
            "PING_MBULK",
            "SET",
            "GET",
            "INCR",
            "LPUSH",
            "RPUSH",
            "LPOP",
            "RPOP",
            "SADD",
            "HSET",
            "SPOP",
            "ZADD",
            "ZPOPMIN",
            "LPUSH (needed to benchmark LRANGE)",
            "LRANGE_100 (first 100 elements)",
            "LRANGE_300 (first 300 elements)",
            "LRANGE_500 (first 500 elements)",
            "LRANGE_600 (first 600 elements)",
            "MSET (10 keys)",
        ],
    );
}

#[test]
fn redis_cli_pipe_mass_insert() {
    if !have_tool("redis-cli") {
        return;
    }
    let server = Server::start(&[]);
    let mut input = Vec::new();
    for i in 0..100_000 {
        let (k, v) = (format!("key:{i}"), format!("value:{i}"));
        write!(
            input,
            "*3\r\n$3\r\nSET\r\n${}\r\n{k}\r\n${}\r\n{v}\r\n",
            k.len(),
            v.len()
        )
        .expect("buffer");
    }
    let mut child = Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &server.port.to_string(), "--pipe"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run redis-cli --pipe");
    let mut stdin = child.stdin.take().expect("stdin");
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().expect("redis-cli --pipe");
    writer
        .join()
        .expect("writer thread")
        .expect("write to redis-cli");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "redis-cli --pipe failed: {stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("errors: 0, replies: 100000"), "{stdout}");
    let mut c = server.client();
    assert_eq!(c.cmd("DBSIZE"), b":100000\r\n");
    assert_eq!(c.cmd("GET key:99999"), b"$11\r\nvalue:99999\r\n");
}

#[test]
fn redis_cli_one_shot_and_info() {
    if !have_tool("redis-cli") {
        return;
    }
    let server = Server::start(&[]);
    let cli = |args: &[&str]| {
        let out = Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", &server.port.to_string()])
            .args(args)
            .output()
            .expect("run redis-cli");
        assert!(out.status.success());
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert_eq!(cli(&["SET", "greeting", "hello world"]), "OK\n");
    assert_eq!(cli(&["GET", "greeting"]), "hello world\n");
    assert_eq!(cli(&["--no-raw", "INCR", "n"]), "(integer) 1\n");
    assert_eq!(cli(&["--no-raw", "GET", "missing"]), "(nil)\n");
    assert!(cli(&["INFO", "server"]).contains("redis_version:"));
    assert!(cli(&["--no-raw", "NOSUCH"]).starts_with("(error) ERR unknown command 'NOSUCH'"));
}
