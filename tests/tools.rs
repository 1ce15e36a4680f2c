//! The loadtest crate's binaries (tester, stress, loadtest) run as users run them: built by
//! cargo, configured through environment variables or flags, judged by output and exit status.
//!
//! They run against rust-keyval on a free port (`KEYVAL_TEST_SERVER=redis`: redis-server), and
//! against small fake servers that lie or stall, to prove each tool notices.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use common::{TestServer as Server, free_port};

impl Server {
    /// The `HOST` the tools are given: `127.0.0.1:PORT`.
    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port())
    }
}

/// Paths of the tester, stress and loadtest binaries, built once per test run with the same
/// cargo (and target directory) that runs these tests.
fn tool(name: &str) -> PathBuf {
    static BINARIES: OnceLock<Vec<PathBuf>> = OnceLock::new();
    let binaries = BINARIES.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let out = Command::new(cargo)
            .args(["build", "--quiet", "-p", "loadtest", "--bins"])
            .arg("--message-format=json")
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stderr(Stdio::inherit())
            .output()
            .expect("run cargo build -p loadtest");
        assert!(
            out.status.success(),
            "building the loadtest binaries failed"
        );
        // Each built binary is announced as `"executable":"/path"` in a JSON message.
        String::from_utf8_lossy(&out.stdout)
            .split("\"executable\":\"")
            .skip(1)
            .filter_map(|rest| rest.split('"').next())
            .map(PathBuf::from)
            .collect()
    });
    binaries
        .iter()
        .find(|p| p.file_name().is_some_and(|f| f == name))
        .unwrap_or_else(|| panic!("cargo built no {name} binary: {binaries:?}"))
        .clone()
}

/// Runs a tool with the given settings as environment variables and extra flags, with every
/// other setting variable removed so the developer's environment cannot leak in.
fn run_tool(name: &str, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut cmd = Command::new(tool(name));
    for var in [
        "HOST",
        "CLIENTS",
        "OPS",
        "PIPE",
        "RT",
        "KEYSPACE",
        "VALUE_SIZE",
        "MIX",
        "DURATION",
        "THREADS",
        "SEED",
    ] {
        cmd.env_remove(var);
    }
    cmd.envs(env.iter().copied())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run {name}: {e}"))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The numeric field `key` of the loadtest JSON summary.
fn json_number(json: &str, key: &str) -> f64 {
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

/// What a fake server does with each connection.
#[derive(Clone, Copy)]
enum Fake {
    /// Answers every command with `:1` (wrong for almost everything).
    Liar,
    /// Accepts and reads but never answers.
    Mute,
}

/// Starts a fake server on a free port; it serves until the test process ends.
fn fake_server(kind: Fake) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            thread::spawn(move || serve_fake(kind, stream));
        }
    });
    addr.to_string()
}

fn serve_fake(kind: Fake, stream: TcpStream) {
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    // Skips one command (multibulk or inline); false on EOF or garbage.
    let skip_command = |reader: &mut BufReader<TcpStream>| -> bool {
        let mut line = Vec::new();
        if reader.read_until(b'\n', &mut line).unwrap_or(0) == 0 {
            return false;
        }
        let Some(count) = line.strip_prefix(b"*") else {
            return true; // an inline command: the line was all of it
        };
        let Some(count) = parse_count(count) else {
            return false;
        };
        for _ in 0..count {
            line.clear();
            if reader.read_until(b'\n', &mut line).unwrap_or(0) == 0 {
                return false;
            }
            let Some(len) = line.strip_prefix(b"$").and_then(parse_count) else {
                return false;
            };
            let mut data = vec![0; len + 2];
            if reader.read_exact(&mut data).is_err() {
                return false;
            }
        }
        true
    };
    while skip_command(&mut reader) {
        if let Fake::Liar = kind
            && writer.write_all(b":1\r\n").is_err()
        {
            return;
        }
    }
}

fn parse_count(digits: &[u8]) -> Option<usize> {
    std::str::from_utf8(digits).ok()?.trim_end().parse().ok()
}

#[test]
fn tester_passes_every_check() {
    let server = Server::start();
    let out = run_tool("tester", &[("HOST", &server.host())], &[]);
    let stdout = text(&out.stdout);
    assert!(
        out.status.success(),
        "tester failed:\n{stdout}{}",
        text(&out.stderr)
    );
    let last = stdout.lines().last().unwrap_or_default();
    assert!(
        last.ends_with(" passed, 0 failed") && !stdout.contains("FAIL"),
        "{stdout}"
    );
    for check in [
        "pipelining",
        "byte by byte",
        "random splits (seed 42)",
        "protocol errors",
    ] {
        assert!(stdout.contains(check), "no {check:?} check in:\n{stdout}");
    }
}

#[test]
fn tester_reports_failures_and_exits_non_zero() {
    let host = fake_server(Fake::Liar);
    let out = run_tool("tester", &[("HOST", &host), ("RT", "300")], &[]);
    let stdout = text(&out.stdout);
    assert!(
        !out.status.success(),
        "tester passed a lying server:\n{stdout}"
    );
    assert!(stdout.contains("FAIL  set/get"), "{stdout}");
    let last = stdout.lines().last().unwrap_or_default();
    assert!(
        last.contains(" passed, ") && !last.ends_with(" 0 failed"),
        "{stdout}"
    );
}

#[test]
fn tester_takes_flags_as_well_as_env() {
    let server = Server::start();
    // The flag wins over the environment variable (which points nowhere).
    let out = run_tool(
        "tester",
        &[("HOST", "127.0.0.1:1")],
        &["--host", &server.host(), "--only", "ping"],
    );
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert!(lines[0].starts_with("PASS  ping ("), "{stdout}");
    assert_eq!(lines[1], "1 passed, 0 failed");
    assert!(out.status.success());
}

#[test]
fn tools_report_an_unreachable_server() {
    let host = format!("127.0.0.1:{}", free_port());
    for name in ["tester", "stress", "loadtest"] {
        let out = run_tool(name, &[("HOST", &host)], &[]);
        assert!(!out.status.success(), "{name} succeeded without a server");
        let stderr = text(&out.stderr);
        assert!(
            stderr.contains("Connection refused"),
            "{name} stderr: {stderr}"
        );
    }
}

#[test]
fn stress_verifies_every_reply() {
    let server = Server::start();
    let out = run_tool(
        "stress",
        &[("HOST", &server.host()), ("CLIENTS", "20"), ("OPS", "300")],
        &["--pipe", "8"],
    );
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("20 clients x 300 ops, pipeline 8"),
        "{stdout}"
    );
    assert!(
        stdout.contains("mismatches: 0") && stdout.contains("ops/s"),
        "{stdout}"
    );
    assert!(stdout.contains("server agrees"), "{stdout}");
}

/// The script workloads: stress checks every EVAL reply against its model, and loadtest
/// loads the scripts and runs them by SHA without an error.
#[test]
fn script_workloads_run_clean() {
    let server = Server::start();
    let out = run_tool(
        "stress",
        &[
            ("HOST", &server.host()),
            ("CLIENTS", "4"),
            ("OPS", "200"),
            ("MIX", "evalincr=1,evalrl=1,get=1"),
        ],
        &[],
    );
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("mismatches: 0"), "{stdout}");
    let out = run_tool(
        "loadtest",
        &[
            ("HOST", &server.host()),
            ("CLIENTS", "4"),
            ("OPS", "200"),
            ("PIPE", "16"),
            ("MIX", "evalincr=1,evalrl=1"),
        ],
        &["--json", "--threads", "1"],
    );
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert_eq!(json_number(stdout.trim(), "total_ops"), 800.0);
    assert_eq!(json_number(stdout.trim(), "errors"), 0.0);
}

#[test]
fn stress_detects_wrong_replies() {
    let host = fake_server(Fake::Liar);
    let out = run_tool(
        "stress",
        &[("HOST", &host), ("CLIENTS", "4"), ("OPS", "50")],
        &[],
    );
    let stdout = text(&out.stdout);
    assert!(
        !out.status.success(),
        "stress passed a lying server:\n{stdout}"
    );
    assert!(!stdout.contains("mismatches: 0"), "{stdout}");
    assert!(stdout.contains("expected"), "no mismatch shown:\n{stdout}");
}

#[test]
fn loadtest_json_summary() {
    let server = Server::start();
    let out = run_tool(
        "loadtest",
        &[
            ("HOST", &server.host()),
            ("CLIENTS", "20"),
            ("OPS", "500"),
            ("PIPE", "10"),
            ("MIX", "get=50,set=30,incr=10,mget=5,append=5"),
        ],
        &["--json", "--threads", "2"],
    );
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    let json = stdout.trim();
    assert!(json.starts_with('{') && json.ends_with('}'), "{json}");
    assert_eq!(json_number(json, "total_ops"), 10_000.0);
    assert_eq!(json_number(json, "errors"), 0.0);
    assert_eq!(json_number(json, "timeouts"), 0.0);
    assert!(json_number(json, "ops_per_sec") > 0.0);
    let p50 = json_number(json, "p50");
    let p99 = json_number(json, "p99");
    let max = json_number(json, "max");
    assert!(0.0 < p50 && p50 <= p99 && p99 <= max, "{json}");
}

#[test]
fn loadtest_duration_mode_prints_progress_each_second() {
    let server = Server::start();
    let started = Instant::now();
    let out = run_tool(
        "loadtest",
        &[
            ("HOST", &server.host()),
            ("CLIENTS", "10"),
            ("PIPE", "4"),
            ("DURATION", "1.5"),
        ],
        &[],
    );
    let elapsed = started.elapsed();
    let stdout = text(&out.stdout);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(elapsed >= Duration::from_millis(1500), "{elapsed:?}");
    assert!(
        stderr
            .lines()
            .any(|l| l.starts_with("[   1 s]") && l.contains("ops/s")),
        "no progress line:\n{stderr}"
    );
    for field in [
        "total ops:",
        "throughput:",
        "p99.9",
        "errors:     0",
        "timeouts:   0",
    ] {
        assert!(stdout.contains(field), "no {field:?} in:\n{stdout}");
    }
}

/// A server that never answers: every command must end up a timeout and none may count as
/// throughput.
#[test]
fn loadtest_counts_timeouts_not_throughput() {
    let host = fake_server(Fake::Mute);
    let out = run_tool(
        "loadtest",
        &[
            ("HOST", &host),
            ("CLIENTS", "2"),
            ("OPS", "10"),
            ("PIPE", "5"),
            ("RT", "100"),
        ],
        &["--json"],
    );
    let json = text(&out.stdout);
    assert!(!out.status.success(), "a mute server passed:\n{json}");
    assert_eq!(json_number(&json, "total_ops"), 0.0, "{json}");
    assert_eq!(json_number(&json, "timeouts"), 20.0, "{json}");
    assert_eq!(json_number(&json, "ops_per_sec"), 0.0, "{json}");
}

/// `./tests.sh`, the README's basic RESP tests, run as a user runs them (bash only), against
/// the server binary built for these tests.
#[test]
fn tests_sh_passes() {
    let out = std::process::Command::new("bash")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests.sh"))
        .env("KEYVAL_BIN", env!("CARGO_BIN_EXE_rust-keyval"))
        .env_remove("HOST")
        .output()
        .expect("run tests.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "tests.sh failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary = stdout.lines().last().unwrap_or_default();
    assert!(summary.ends_with(" passed, 0 failed"), "{summary}");
    let passed: u32 = summary
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(passed >= 20, "only {passed} checks ran:\n{stdout}");
}
