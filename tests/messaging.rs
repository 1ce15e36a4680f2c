//! The loadtest crate's `pubsub` tool, run briefly as users run it, against rust-keyval and
//! (when installed) redis-server: a benchmark whose counts are wrong measures nothing, so every
//! published message must reach each subscriber exactly once, and every job pushed onto the
//! queue must be popped exactly once.
//!
//! These tests live in the root package rather than in loadtest/tests because only the root
//! package's tests know where cargo put the server (`CARGO_BIN_EXE_rust-keyval`) and share
//! tests/common, which starts both servers on free loopback ports. The tool itself is built
//! with `cargo build -p loadtest` by the same cargo that runs the tests (as tests/tools.rs
//! builds tester, stress and loadtest), so the test runs exactly the binary users run.

mod common;

use std::io::Read;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use common::on_both;

/// Path of the `pubsub` binary, built once per test run.
fn pubsub_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let out = Command::new(cargo)
            .args(["build", "--quiet", "-p", "loadtest", "--bin", "pubsub"])
            .arg("--message-format=json")
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stderr(Stdio::inherit())
            .output()
            .expect("run cargo build -p loadtest");
        assert!(out.status.success(), "building pubsub failed");
        // The built binary is announced as `"executable":"/path"` in a JSON message.
        String::from_utf8_lossy(&out.stdout)
            .split("\"executable\":\"")
            .skip(1)
            .filter_map(|rest| rest.split('"').next())
            .map(PathBuf::from)
            .find(|p| p.file_name().is_some_and(|f| f == "pubsub"))
            .expect("cargo announced no pubsub binary")
    })
    .clone()
}

/// Runs `pubsub ARGS --host 127.0.0.1:PORT`, with the setting variables it reads removed so
/// the developer's environment cannot leak in.
fn pubsub(port: u16, args: &[&str]) -> Output {
    let mut cmd = Command::new(pubsub_bin());
    for var in ["HOST", "DURATION", "COUNT", "PIPE", "RT", "MAX_BACKLOG"] {
        cmd.env_remove(var);
    }
    cmd.args(args)
        .arg("--host")
        .arg(format!("127.0.0.1:{port}"))
        .stdin(Stdio::null())
        .output()
        .expect("run pubsub")
}

/// The numeric field `key` of a JSON summary.
fn number(json: &str, key: &str) -> f64 {
    let needle = format!("\"{key}\":");
    let start = json
        .find(&needle)
        .unwrap_or_else(|| panic!("no {key} in {json}"))
        + needle.len();
    let digits: String = json[start..]
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == '-')
        .collect();
    digits
        .parse()
        .unwrap_or_else(|_| panic!("{key} is not a number in {json}"))
}

/// The JSON summary of a run that must have succeeded.
fn summary(out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "pubsub failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn fan_out_delivers_each_message_to_every_subscriber_once() {
    on_both(&[], |port| {
        let json = summary(&pubsub(
            port,
            &[
                "publish",
                "--subscribers",
                "10",
                "--publishers",
                "3",
                "--pipe",
                "8",
                "--count",
                "3000",
                "--duration",
                "30",
                "--json",
            ],
        ));
        assert_eq!(number(&json, "published"), 3000.0, "{json}");
        assert_eq!(number(&json, "delivered"), 30_000.0, "{json}");
        assert_eq!(number(&json, "expected"), 30_000.0, "{json}");
        assert_eq!(number(&json, "missing"), 0.0, "{json}");
        assert_eq!(number(&json, "out_of_order"), 0.0, "{json}");
        assert_eq!(number(&json, "errors"), 0.0, "{json}");
        assert!(number(&json, "delivered_per_sec") > 0.0, "{json}");
    });
}

/// Duration mode, one subscriber, the text summary, and a backlog bound small enough that the
/// publishers keep pausing for the subscriber.
#[test]
fn publish_for_a_duration_with_a_tight_backlog() {
    on_both(&[], |port| {
        let started = Instant::now();
        let out = pubsub(
            port,
            &["publish", "--duration", "0.5", "--max-backlog", "20"],
        );
        let elapsed = started.elapsed();
        let text = summary(&out);
        assert!(elapsed >= Duration::from_millis(500), "{elapsed:?}");
        assert!(
            text.contains("missing 0   out of order 0") && text.contains("errors:     0"),
            "{text}"
        );
        let published = text
            .lines()
            .find_map(|l| l.strip_prefix("published:  "))
            .and_then(|rest| rest.split(' ').next())
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or_else(|| panic!("no published count in:\n{text}"));
        assert!(published > 0, "{text}");
        assert!(
            text.contains(&format!("delivered:  {published} in")),
            "{text}"
        );
    });
}

#[test]
fn queue_pops_each_job_exactly_once() {
    on_both(&[], |port| {
        let json = summary(&pubsub(
            port,
            &[
                "queue",
                "--producers",
                "4",
                "--consumers",
                "4",
                "--pipe",
                "2",
                "--count",
                "5000",
                "--duration",
                "30",
                "--json",
            ],
        ));
        assert_eq!(number(&json, "pushed"), 5000.0, "{json}");
        assert_eq!(number(&json, "popped"), 5000.0, "{json}");
        assert_eq!(number(&json, "missing"), 0.0, "{json}");
        assert_eq!(number(&json, "duplicates"), 0.0, "{json}");
        assert_eq!(number(&json, "left_in_queue"), 0.0, "{json}");
        assert_eq!(number(&json, "errors"), 0.0, "{json}");
        // The default backlog bound (100 jobs) holds the list short.
        assert!(number(&json, "max_queue_len") <= 100.0, "{json}");
        let p50 = number(&json, "p50");
        let p99 = number(&json, "p99");
        assert!(0.0 < p50 && p50 <= p99, "{json}");
    });
}

/// A server that accepts and never answers: the tool must give up after its read timeout and
/// fail, not hang.
#[test]
fn pubsub_gives_up_on_a_silent_server() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            thread::spawn(move || {
                let mut sink = [0u8; 4096];
                while stream.read(&mut sink).is_ok_and(|n| n > 0) {}
            });
        }
    });
    for scenario in ["publish", "queue"] {
        let started = Instant::now();
        let out = pubsub(port, &[scenario, "--rt", "300", "--duration", "1"]);
        assert!(!out.status.success(), "{scenario} passed a silent server");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{scenario} hung"
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("pubsub: "), "{scenario}: {stderr}");
    }
}
