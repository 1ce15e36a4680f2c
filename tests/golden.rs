//! Golden replies: every command of tests/golden/*.txt is sent to the real server over TCP
//! and its raw reply must match byte for byte. The expected replies of `NAME.txt` were
//! recorded from redis-server 7.0.15 with tests/golden/record.py; `NAME.hand.txt` files are
//! written by hand (behaviour newer than Redis 7.0, or chosen on purpose).
//! `goldens_are_redis_behaviour` replays the recorded files against a real redis-server
//! when one is installed (CI installs it), so they cannot drift from Redis.

mod common;

use std::path::Path;

use common::{Client, Server};

/// Splits a golden command line like redis-cli: spaces separate arguments, `"..."` quotes
/// them and allows `\" \\ \r \n \t \xHH` escapes.
fn split_args(line: &str) -> Vec<Vec<u8>> {
    let b = line.as_bytes();
    let (mut args, mut cur, mut have, mut quoted, mut i) =
        (Vec::new(), Vec::new(), false, false, 0);
    while i < b.len() {
        let c = b[i];
        if quoted {
            if c == b'\\' && i + 1 < b.len() {
                match b[i + 1] {
                    b'x' => {
                        let hex = std::str::from_utf8(&b[i + 2..i + 4]).expect("hex escape");
                        cur.push(u8::from_str_radix(hex, 16).expect("hex escape"));
                        i += 4;
                        continue;
                    }
                    b'r' => cur.push(b'\r'),
                    b'n' => cur.push(b'\n'),
                    b't' => cur.push(b'\t'),
                    other => cur.push(other),
                }
                i += 2;
                continue;
            }
            if c == b'"' {
                quoted = false;
            } else {
                cur.push(c);
            }
        } else if c == b' ' {
            if have {
                args.push(std::mem::take(&mut cur));
                have = false;
            }
        } else if c == b'"' {
            quoted = true;
            have = true;
        } else {
            cur.push(c);
            have = true;
        }
        i += 1;
    }
    if have {
        args.push(cur);
    }
    args
}

/// Decodes the `\r \n \\ \xHH` escapes of an expected reply.
fn unescape(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 1 < b.len() {
            match b[i + 1] {
                b'r' => out.push(b'\r'),
                b'n' => out.push(b'\n'),
                b'\\' => out.push(b'\\'),
                b'x' => {
                    let hex = std::str::from_utf8(&b[i + 2..i + 4]).expect("hex");
                    out.push(u8::from_str_radix(hex, 16).expect("hex"));
                    i += 4;
                    continue;
                }
                other => panic!("unknown escape \\{}", other as char),
            }
            i += 2;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

/// (line number, command, expected reply) of a golden file; `None` for `? command` lines,
/// whose reply is not compared (such as `? HELLO 3`, which answers with a connection id).
fn cases(file: &str) -> Vec<(usize, String, Option<Vec<u8>>)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(file);
    let text = std::fs::read_to_string(&path).expect("golden file");
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if line.trim().is_empty() || line.starts_with('#') {
            i += 1;
            continue;
        }
        if let Some(cmd) = line.strip_prefix("? ") {
            out.push((i + 1, cmd.to_string(), None));
            i += 1;
            continue;
        }
        let expected = lines
            .get(i + 1)
            .and_then(|l| l.strip_prefix("=> "))
            .unwrap_or_else(|| panic!("{file}:{}: command without '=> reply' line", i + 1));
        out.push((i + 1, line.to_string(), Some(unescape(expected))));
        i += 2;
    }
    assert!(!out.is_empty(), "{file} has no cases");
    out
}

/// Runs a golden file on one connection (after FLUSHALL); returns the mismatches.
fn run_file(port: u16, file: &str) -> Vec<String> {
    let mut c = Client::connect(port);
    assert_eq!(c.cmd("FLUSHALL"), b"+OK\r\n");
    let mut failures = Vec::new();
    for (line, cmd, want) in cases(file) {
        let args = split_args(&cmd);
        let refs: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
        let got = c.call(&refs);
        let Some(want) = want else {
            continue;
        };
        if got != want {
            failures.push(format!(
                "{file}:{line}: {cmd}\n    want {:?}\n    got  {:?}",
                String::from_utf8_lossy(&want),
                String::from_utf8_lossy(&got)
            ));
        }
    }
    failures
}

/// Golden file names: `(recorded from Redis, written by hand)`.
fn golden_files() -> (Vec<String>, Vec<String>) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("tests/golden")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".txt"))
        .collect();
    names.sort();
    names.into_iter().partition(|n| !n.ends_with(".hand.txt"))
}

#[test]
fn golden_replies_match() {
    // The goldens were recorded from redis-server started with `--save ""`.
    let server = Server::start(&["--save", ""]);
    let (recorded, hand) = golden_files();
    assert!(recorded.len() >= 3 && !hand.is_empty());
    let mut failures = Vec::new();
    for file in recorded.iter().chain(&hand) {
        failures.extend(run_file(server.port, file));
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn goldens_are_redis_behaviour() {
    let Some(redis) = common::start_redis() else {
        return;
    };
    let mut failures = Vec::new();
    for file in golden_files().0 {
        failures.extend(run_file(redis.port, &file));
    }
    assert!(
        failures.is_empty(),
        "goldens differ from redis-server:\n{}",
        failures.join("\n")
    );
}
