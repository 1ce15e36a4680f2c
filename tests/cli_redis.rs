//! keyval-cli against redis-cli: the same commands and modes through both clients, against
//! the same server (ours, and redis-server when installed), must print the same thing. Where
//! redis-cli's output depends on timing (--latency, --stat), the shape is checked instead.
//! redis-cli prints its terminal form only on a terminal; `FAKETTY=1` makes it do so into a
//! pipe, the counterpart of our `--no-raw`.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use common::{Client, Server, have_tool, start_redis, wait_for};

const CLI: &str = env!("CARGO_BIN_EXE_keyval-cli");

fn keyval_cli(port: u16, args: &[&str], stdin: Option<&[u8]>) -> Output {
    run(Command::new(CLI), port, args, stdin)
}

fn redis_cli(port: u16, args: &[&str], stdin: Option<&[u8]>, fake_tty: bool) -> Output {
    let mut command = Command::new("redis-cli");
    if fake_tty {
        command.env("FAKETTY", "1");
    }
    run(command, port, args, stdin)
}

fn run(mut command: Command, port: u16, args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = command
        .args(["-p", &port.to_string()])
        .args(args)
        .env("KEYVALCLI_HISTFILE", "/dev/null")
        .env("REDISCLI_HISTFILE", "/dev/null")
        .env_remove("KEYVALCLI_AUTH")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the client");
    if let Some(data) = stdin {
        let mut pipe = child.stdin.take().expect("piped stdin");
        let data = data.to_vec();
        std::thread::spawn(move || pipe.write_all(&data));
    }
    child.wait_with_output().expect("wait for the client")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The ports to compare on: our server's, and redis-server's when installed. None when
/// redis-cli is missing (and allowed to be).
fn servers() -> Option<(Server, Option<common::Redis>)> {
    if !have_tool("redis-cli") {
        return None;
    }
    Some((Server::start(&[]), start_redis()))
}

fn each_port(ours: &Server, redis: &Option<common::Redis>) -> Vec<u16> {
    let mut ports = vec![ours.port];
    ports.extend(redis.iter().map(|r| r.port));
    ports
}

/// Keys of every type, with values whose replies are deterministic.
fn fill(port: u16) {
    let mut c = Client::connect(port);
    for line in [
        "FLUSHALL",
        "HSET h f1 v1 f2 v2",
        "SADD si 3 1 2",
        "ZADD z 1.5 m 2 n",
        "RPUSH l a b c",
        "SET s hello",
        "SET n 12",
        "XADD x 1-1 f v",
    ] {
        c.cmd(line);
    }
}

#[test]
fn replies_render_as_redis_cli_renders_them_in_resp2_and_resp3() {
    let Some((ours, redis)) = servers() else {
        return;
    };
    let commands: &[&[&str]] = &[
        &["HGETALL", "h"],
        &["SMEMBERS", "si"],
        &["ZSCORE", "z", "m"],
        &["ZRANGE", "z", "0", "-1", "WITHSCORES"],
        &["LRANGE", "l", "0", "-1"],
        &["GET", "s"],
        &["GET", "missing"],
        &["STRLEN", "s"],
        &["INCR", "s"],
        &["SISMEMBER", "si", "1"],
        &["CONFIG", "GET", "maxmemory-policy"],
        &["XRANGE", "x", "-", "+"],
        &["COMMAND", "DOCS", "get"],
        &["INFO", "keyspace"],
        &["LPOS", "l", "zz"],
        &["HGETALL", "missing"],
        &["SMEMBERS", "missing"],
    ];
    for port in each_port(&ours, &redis) {
        fill(port);
        for command in commands {
            for protocol in [&[][..], &["-3"][..]] {
                let with = |extra: &[&'static str]| -> Vec<&'static str> {
                    protocol
                        .iter()
                        .chain(extra)
                        .chain(command.iter())
                        .copied()
                        .collect()
                };
                // Terminal form (an error reply goes to our stderr: same text).
                let want = redis_cli(port, &with(&[]), None, true);
                let got = keyval_cli(port, &with(&["--no-raw"]), None);
                assert_eq!(
                    text(&got.stdout) + &text(&got.stderr),
                    text(&want.stdout),
                    "--no-raw {protocol:?} {command:?} on port {port}"
                );
                // CSV.
                let want = redis_cli(port, &with(&["--csv"]), None, false);
                let got = keyval_cli(port, &with(&["--csv"]), None);
                assert_eq!(
                    text(&got.stdout),
                    text(&want.stdout),
                    "--csv {protocol:?} {command:?} on port {port}"
                );
            }
        }
        // Raw output of flat replies is redis-cli's too (nil aside: the original README's
        // `NULL`; nested aggregates are indented).
        for command in [
            &["-3", "HGETALL", "h"][..],
            &["-3", "ZSCORE", "z", "m"],
            &["SMEMBERS", "si"],
        ] {
            let want = redis_cli(port, command, None, false);
            let got = keyval_cli(port, command, None);
            assert_eq!(text(&got.stdout), text(&want.stdout), "{command:?}");
        }
    }
}

#[test]
fn hello_3_typed_in_the_repl_switches_to_resp3() {
    let server = Server::start(&[]);
    fill(server.port);
    let script = b"HELLO 3\nHGETALL h\nZSCORE z m\nSMEMBERS si\nHELLO 2\nZSCORE z m\n";
    let out = keyval_cli(server.port, &["--no-raw"], Some(script));
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        stdout.starts_with("1# \"server\" => \"redis\"\n"),
        "{stdout}"
    );
    assert!(stdout.contains("3# \"proto\" => (integer) 3\n"), "{stdout}");
    let after_hello = stdout
        .split_once("7# \"modules\" => (empty array)\n")
        .expect("HELLO's map")
        .1;
    assert!(
        after_hello.starts_with(concat!(
            "1# \"f1\" => \"v1\"\n",
            "2# \"f2\" => \"v2\"\n",
            "(double) 1.5\n",
            "1~ \"1\"\n",
            "2~ \"2\"\n",
            "3~ \"3\"\n",
            " 1) \"server\"\n",
        )),
        "{after_hello}"
    );
    assert!(
        stdout.ends_with("\"1.5\"\n"),
        "RESP2 again after HELLO 2: {stdout}"
    );
}

#[test]
fn scan_mode_lists_the_keys_redis_cli_lists() {
    let Some((ours, redis)) = servers() else {
        return;
    };
    for port in each_port(&ours, &redis) {
        let mut c = Client::connect(port);
        c.cmd("FLUSHALL");
        for i in 0..300 {
            c.cmd(&format!("SET key:{i} v"));
        }
        c.cmd_args(&["SET", "odd \"key\"\n", "v"]);
        for args in [
            &["--scan"][..],
            &["--scan", "--pattern", "key:1*"],
            &["--no-raw", "--scan", "--pattern", "odd*"],
        ] {
            let sorted = |out: Output| {
                let mut lines: Vec<String> = text(&out.stdout).lines().map(String::from).collect();
                lines.sort();
                lines
            };
            let fake_tty = args.contains(&"--no-raw");
            let redis_args: Vec<&str> =
                args.iter().filter(|a| **a != "--no-raw").copied().collect();
            let want = sorted(redis_cli(port, &redis_args, None, fake_tty));
            let got = sorted(keyval_cli(port, args, None));
            assert!(!want.is_empty());
            assert_eq!(got, want, "{args:?} on port {port}");
        }
    }
}

/// `help <topic>` prints what redis-cli 7.0 prints, byte for byte, built from the server's
/// COMMAND DOCS (synopsis, summary, since, group): for a command, a container and its
/// subcommands, a subcommand and a group, against both servers, one-shot and in the REPL.
#[test]
fn help_prints_what_redis_cli_prints() {
    let Some((ours, redis)) = servers() else {
        return;
    };
    for port in each_port(&ours, &redis) {
        for topic in [
            "get",
            "SET",
            "client",
            "config get",
            "@string",
            "@sorted-set",
            "xadd",
            "geosearch",
            "nosuch",
        ] {
            let args: Vec<&str> = std::iter::once("help").chain(topic.split(' ')).collect();
            let want = redis_cli(port, &args, None, false);
            let got = keyval_cli(port, &args, None);
            assert!(!want.stdout.is_empty());
            assert_eq!(
                text(&got.stdout),
                text(&want.stdout),
                "help {topic} on {port}"
            );
            let line = format!("help {topic}\n");
            let repl = keyval_cli(port, &[], Some(line.as_bytes()));
            assert_eq!(text(&repl.stdout), text(&want.stdout), "REPL help {topic}");
        }
    }
}

#[test]
fn bigkeys_and_memkeys_print_redis_cli_s_report() {
    let Some((ours, redis)) = servers() else {
        return;
    };
    for port in each_port(&ours, &redis) {
        let mut c = Client::connect(port);
        // Empty, one key, then every type: the summary's order differs for each.
        for setup in [
            &["FLUSHALL"][..],
            &["SET k v"],
            &[
                "MSET a 1 bb 22",
                "RPUSH l 1 2 3",
                "SADD s x",
                "HSET h f v",
                "ZADD z 1 m",
                "XADD st 1-1 f v",
            ],
        ] {
            for line in setup {
                c.cmd(line);
            }
            for mode in ["--bigkeys", "--memkeys"] {
                let want = redis_cli(port, &[mode], None, false);
                let got = keyval_cli(port, &[mode], None);
                assert_eq!(
                    text(&got.stdout),
                    text(&want.stdout),
                    "{mode} on port {port}"
                );
                assert!(got.status.success());
            }
        }
    }
}

#[test]
fn pipe_mode_transfers_and_counts_like_redis_cli() {
    let Some((ours, redis)) = servers() else {
        return;
    };
    let mut input = Vec::new();
    for i in 0..5000 {
        let key = format!("k{i}");
        input.extend_from_slice(
            format!("*3\r\n$3\r\nSET\r\n${}\r\n{key}\r\n$1\r\nv\r\n", key.len()).as_bytes(),
        );
    }
    input.extend_from_slice(b"INCR k1\r\nPING\r\n");
    for port in each_port(&ours, &redis) {
        let want = redis_cli(port, &["--pipe"], Some(&input), false);
        Client::connect(port).cmd("FLUSHALL");
        let got = keyval_cli(port, &["--pipe"], Some(&input));
        assert_eq!(
            text(&got.stdout),
            "All data transferred. Waiting for the last reply...\n\
             Last reply received from server.\nerrors: 1, replies: 5002\n"
        );
        assert_eq!(text(&got.stdout), text(&want.stdout));
        assert_eq!(text(&got.stderr), text(&want.stderr));
        assert_eq!(got.status.code(), Some(1));
        assert_eq!(want.status.code(), Some(1));
        assert_eq!(Client::connect(port).cmd_str("DBSIZE"), ":5000\r\n");
    }
    // Without errors the status is 0.
    let got = keyval_cli(ours.port, &["--pipe"], Some(b"SET a 1\r\n"));
    assert!(text(&got.stdout).ends_with("errors: 0, replies: 1\n"));
    assert!(got.status.success());
}

/// `min max avg samples` with integers and a two-decimal average.
fn is_latency_line(line: &str, separator: char) -> bool {
    let fields: Vec<&str> = line.split(separator).collect();
    fields.len() == 4
        && fields[0].parse::<u64>().is_ok()
        && fields[1].parse::<u64>().is_ok()
        && fields[2].split_once('.').is_some_and(|(_, d)| d.len() == 2)
        && fields[3].parse::<u64>().is_ok_and(|n| n > 0)
}

#[test]
fn latency_prints_redis_cli_s_line() {
    let server = Server::start(&[]);
    let out = keyval_cli(server.port, &["--latency", "-i", "0.2"], None);
    let stdout = text(&out.stdout);
    assert!(out.status.success());
    assert!(
        stdout.ends_with('\n') && stdout.lines().count() == 1,
        "{stdout:?}"
    );
    assert!(is_latency_line(stdout.trim_end(), ' '), "{stdout:?}");
    let out = keyval_cli(server.port, &["--csv", "--latency", "-i", "0.1"], None);
    assert!(
        is_latency_line(text(&out.stdout).trim_end(), ','),
        "{:?}",
        out
    );
    if have_tool("redis-cli") {
        let want = redis_cli(server.port, &["--latency", "-i", "0.2"], None, false);
        assert!(is_latency_line(text(&want.stdout).trim_end(), ' '));
    }
    // The terminal form redraws one line.
    let mut child = spawn_streaming(server.port, &["--no-raw", "--latency"]);
    let stdout = child.stdout.take().expect("stdout");
    let mut reader = BufReader::new(stdout);
    let mut seen = Vec::new();
    while seen.len() < 200 {
        let chunk = reader.fill_buf().expect("read").to_vec();
        reader.consume(chunk.len());
        seen.extend_from_slice(&chunk);
    }
    let _ = child.kill();
    let _ = child.wait();
    let seen = text(&seen);
    assert!(seen.starts_with("\x1b[0G\x1b[2Kmin: "), "{seen:?}");
    assert!(seen.contains("(1 samples)\x1b[0G\x1b[2Kmin: "), "{seen:?}");
    assert!(seen.contains(" samples)"), "{seen:?}");
}

fn spawn_streaming(port: u16, args: &[&str]) -> Child {
    Command::new(CLI)
        .args(["-p", &port.to_string()])
        .args(args)
        .env("KEYVALCLI_HISTFILE", "/dev/null")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start keyval-cli")
}

#[test]
fn stat_prints_redis_cli_s_table() {
    let server = Server::start(&[]);
    Client::connect(server.port).cmd("SET a 1");
    let mut child = spawn_streaming(server.port, &["--stat", "-i", "0.05"]);
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut next = || lines.next().expect("a line").expect("text");
    assert_eq!(
        next(),
        "------- data ------ --------------------- load -------------------- - child -"
    );
    assert_eq!(
        next(),
        "keys       mem      clients blocked requests            connections          "
    );
    let first = next();
    let second = next();
    let _ = child.kill();
    let _ = child.wait();
    // keys (11 wide), memory (8), clients, blocked, requests with their increase.
    assert!(first.starts_with("1          "), "{first:?}");
    let memory = first[11..19].trim_end();
    assert!(
        memory.ends_with('K') || memory.ends_with('M') || memory.ends_with('B'),
        "{first:?}"
    );
    assert!(first.contains(" (+0) "), "{first:?}");
    assert!(
        second.contains(" (+1) "),
        "one INFO between lines: {second:?}"
    );
}

#[test]
fn eval_file_keys_comma_arguments() {
    let server = Server::start(&[]);
    let script = std::env::temp_dir().join(format!("keyval-cli-eval-{}.lua", std::process::id()));
    std::fs::write(&script, "return {KEYS[1], KEYS[2], ARGV[1], #ARGV}").expect("script");
    let path = script.to_str().expect("path");
    let out = keyval_cli(
        server.port,
        &["--eval", path, "k1", "k2", ",", "a1", ","],
        None,
    );
    assert_eq!(text(&out.stdout), "k1\nk2\na1\n2\n");
    if have_tool("redis-cli") {
        let want = redis_cli(
            server.port,
            &["--eval", path, "k1", "k2", ",", "a1", ","],
            None,
            false,
        );
        assert_eq!(text(&out.stdout), text(&want.stdout));
    }
    let out = keyval_cli(server.port, &["--eval", "/nonexistent.lua"], None);
    assert_eq!(
        text(&out.stderr),
        "Can't open file '/nonexistent.lua': No such file or directory\n"
    );
    assert_eq!(out.status.code(), Some(1));
    let _ = std::fs::remove_file(script);
}

#[test]
fn uri_database_and_password_flags() {
    let server = Server::start(&["--requirepass", "s3cret"]);
    let port = server.port;
    let uri = format!("redis://:s3cret@127.0.0.1:{port}/2");
    let out = keyval_cli(port, &["-u", &uri, "SET", "k", "in-db-2"], None);
    assert_eq!(text(&out.stdout), "OK\n", "{}", text(&out.stderr));
    let out = keyval_cli(port, &["-a", "s3cret", "-n", "2", "GET", "k"], None);
    assert_eq!(text(&out.stdout), "in-db-2\n");
    let out = keyval_cli(
        port,
        &["--user", "default", "--pass", "s3cret", "GET", "k"],
        None,
    );
    assert_eq!(text(&out.stdout), "NULL\n");
    let out = keyval_cli(port, &["-u", "http://nope", "PING"], None);
    assert_eq!(text(&out.stderr), "Invalid URI scheme\n");
    assert_eq!(out.status.code(), Some(1));
    let out = keyval_cli(port, &["-u", &uri, "-3", "HGETALL", "nokey"], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

/// Waits until `channel` has a subscriber.
fn wait_subscribed(port: u16, channel: &str) {
    let mut c = Client::connect(port);
    wait_for(Duration::from_secs(10), || {
        let reply = c.cmd_str(&format!("PUBSUB NUMSUB {channel}"));
        reply.ends_with(":1\r\n").then_some(())
    })
    .expect("the client subscribed");
}

#[test]
fn one_shot_subscribe_streams_messages() {
    let server = Server::start(&[]);
    for (args, expected) in [
        (
            &["SUBSCRIBE", "ch"][..],
            "subscribe\nch\n1\nmessage\nch\nhello\n",
        ),
        (
            &["--no-raw", "-3", "SUBSCRIBE", "ch"],
            "Reading messages... (press Ctrl-C to quit)\n1) \"subscribe\"\n2) \"ch\"\n3) (integer) 1\n1) \"message\"\n2) \"ch\"\n3) \"hello\"\n",
        ),
    ] {
        let mut child = spawn_streaming(server.port, args);
        wait_subscribed(server.port, "ch");
        Client::connect(server.port).cmd("PUBLISH ch hello");
        let mut reader = BufReader::new(child.stdout.take().expect("stdout"));
        let mut seen = String::new();
        while seen.len() < expected.len() {
            let mut line = String::new();
            if reader.read_line(&mut line).expect("read") == 0 {
                break;
            }
            seen.push_str(&line);
        }
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(seen, expected, "{args:?}");
    }
}

#[test]
fn ctrl_c_ends_a_subscription_in_the_repl_and_the_session_goes_on() {
    let server = Server::start(&[]);
    let mut child = spawn_streaming(server.port, &["--no-raw"]);
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(b"SUBSCRIBE ch\n").expect("write");
    wait_subscribed(server.port, "ch");
    Client::connect(server.port).cmd("PUBLISH ch hello");
    let mut reader = BufReader::new(child.stdout.take().expect("stdout"));
    let mut seen = String::new();
    while !seen.contains("\"hello\"") {
        let mut line = String::new();
        assert!(reader.read_line(&mut line).expect("read") > 0, "{seen}");
        seen.push_str(&line);
    }
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    // Back at the prompt, on a fresh (unsubscribed) connection.
    stdin.write_all(b"PING\n").expect("write");
    drop(stdin);
    let mut rest = String::new();
    for line in reader.lines() {
        rest.push_str(&line.expect("line"));
        rest.push('\n');
    }
    let status = child.wait().expect("wait");
    assert_eq!(rest, "PONG\n");
    assert!(status.success());
}
