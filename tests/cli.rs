//! keyval-cli end to end: the real binary against a real server started on a free port.
//!
//! The server is rust-keyval; `KEYVAL_TEST_SERVER=redis` starts redis-server instead, to check
//! that these tests hold against the reference implementation. A few tests use a small scripted
//! fake server instead, to see exactly what the CLI sends (AUTH, SELECT) or to cut the
//! connection at a chosen moment.

mod common;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use common::{TestServer as Server, free_port};

const CLI: &str = env!("CARGO_BIN_EXE_keyval-cli");

/// keyval-cli run against the test server.
impl Server {
    /// Runs keyval-cli against this server with `args` (after `--host/--port`).
    fn cli(&self, args: &[&str]) -> Output {
        run_cli(self.port(), args, None)
    }

    /// Like [`Server::cli`], feeding `stdin`.
    fn cli_with_stdin(&self, args: &[&str], stdin: &[u8]) -> Output {
        run_cli(self.port(), args, Some(stdin))
    }

    /// Runs a command whose output must be exactly `expected`, with exit status 0.
    fn expect(&self, args: &[&str], expected: &str) {
        let out = self.cli(args);
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            expected,
            "stdout of keyval-cli {args:?} (stderr: {})",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success(),
            "keyval-cli {args:?}: {:?}",
            out.status
        );
    }
}

fn run_cli(port: u16, args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(CLI)
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args(args)
        // Never touch the developer's history file.
        .env("KEYVALCLI_HISTFILE", "/dev/null")
        .env_remove("KEYVALCLI_AUTH")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start keyval-cli");
    if let Some(data) = stdin {
        let mut pipe = child.stdin.take().expect("stdin is piped");
        let data = data.to_vec();
        // Written from a thread: a large input and a large output could otherwise block
        // each other.
        thread::spawn(move || pipe.write_all(&data));
    }
    child.wait_with_output().expect("wait for keyval-cli")
}

fn stdout_text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr_text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The original README's CLI walkthrough, command for command (`cargo run --bin keyval-cli
/// -- --host 127.0.0.1 --port 6374 ...`, on our test port).
#[test]
fn readme_session_verbatim() {
    let server = Server::start();
    // SET / GET
    server.expect(&["SET", "a", "1"], "OK\n");
    server.expect(&["GET", "a"], "1\n");
    // INCR
    server.expect(&["INCR", "ctr"], "1\n");
    server.expect(&["INCR", "ctr"], "2\n");
    // EXISTS / DEL
    server.expect(&["EXISTS", "a"], "1\n");
    server.expect(&["DEL", "a"], "1\n");
    server.expect(&["EXISTS", "a"], "0\n");
    // EXPIRE: the README sleeps 2 s; polling until the key is gone is the same check, faster.
    server.expect(&["SET", "t", "123"], "OK\n");
    server.expect(&["EXPIRE", "t", "1"], "1\n");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let out = server.cli(&["GET", "t"]);
        let text = stdout_text(&out);
        if text == "NULL\n" {
            break;
        }
        assert_eq!(text, "123\n", "GET t before expiry");
        assert!(
            Instant::now() < deadline,
            "t still there 5 s after EXPIRE t 1"
        );
        thread::sleep(Duration::from_millis(50));
    }
    // KEYS / FLUSHALL (the README runs KEYS without a pattern).
    server.expect(&["SET", "a", "1"], "OK\n");
    server.expect(&["SET", "b", "2"], "OK\n");
    let listed = stdout_text(&server.cli(&["KEYS"]));
    let keys: BTreeSet<&str> = listed.lines().collect();
    assert_eq!(
        keys,
        BTreeSet::from(["a", "b", "ctr"]),
        "KEYS printed {listed:?}"
    );
    server.expect(&["FLUSHALL"], "OK\n");
    server.expect(&["KEYS"], "");
}

/// Runs the keyval-cli walkthrough of the project's README.md itself, so the README cannot
/// drift from the behaviour: every `cargo run --bin keyval-cli -- ...` line of a ```bash block
/// is run (on the test port), `sleep N` lines are obeyed, and the concatenated output must equal
/// the ```text block that follows, when there is one.
#[test]
fn project_readme_cli_walkthrough() {
    // KEYVAL_TEST_README points the test at another file (e.g. the original README).
    let readme_path = std::env::var_os("KEYVAL_TEST_README").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"),
        PathBuf::from,
    );
    let readme = std::fs::read_to_string(&readme_path)
        .unwrap_or_else(|e| panic!("{} must document keyval-cli: {e}", readme_path.display()));
    let blocks = fenced_blocks(&readme);
    let server = Server::start();
    let mut sessions = 0;
    for (i, (lang, body)) in blocks.iter().enumerate() {
        if lang != "bash" || !body.contains("--bin keyval-cli") {
            continue;
        }
        sessions += 1;
        let mut output = String::new();
        for line in body.lines().map(str::trim).filter(|l| !l.is_empty()) {
            if let Some(secs) = line.strip_prefix("sleep ") {
                let secs: f64 = secs.parse().expect("sleep takes seconds");
                thread::sleep(Duration::from_secs_f64(secs));
                continue;
            }
            if line.starts_with('#') {
                continue;
            }
            let Some((_, rest)) = line.split_once("--bin keyval-cli") else {
                panic!("unexpected line in a keyval-cli block of README.md: {line}");
            };
            // `cargo run --bin keyval-cli -- ARGS`; without `--` there are no arguments.
            let args = rest.trim_start().strip_prefix("--").unwrap_or("");
            let mut words: Vec<&str> = args.split_whitespace().collect();
            // Our server listens on a test port, not 6374.
            let port = server.port().to_string();
            for w in 0..words.len().saturating_sub(1) {
                if words[w] == "--port" || words[w] == "-p" {
                    words[w + 1] = &port;
                }
            }
            let port_given = words.iter().any(|w| *w == "--port" || *w == "-p");
            let mut cmd = Command::new(CLI);
            if !port_given {
                cmd.args(["--port", &port]);
            }
            let out = cmd
                .args(&words)
                .env("KEYVALCLI_HISTFILE", "/dev/null")
                .stdin(Stdio::null())
                .output()
                .expect("run keyval-cli");
            assert!(
                out.status.success(),
                "README line `{line}` failed: {}",
                stderr_text(&out)
            );
            output.push_str(&stdout_text(&out));
        }
        // The expected output is the next fenced block, if it is a text block.
        if let Some((next_lang, expected)) = blocks.get(i + 1)
            && next_lang == "text"
        {
            assert_eq!(output, *expected, "README.md session:\n{body}");
        }
    }
    assert!(sessions > 0, "README.md has no keyval-cli session");
}

/// (language, body) of every ``` fenced block of a markdown text.
fn fenced_blocks(markdown: &str) -> Vec<(String, String)> {
    let mut blocks = Vec::new();
    let mut current: Option<(String, String)> = None;
    for line in markdown.lines() {
        if let Some(fence) = line.trim_start().strip_prefix("```") {
            match current.take() {
                Some(block) => blocks.push(block),
                None => current = Some((fence.trim().to_string(), String::new())),
            }
        } else if let Some((_, body)) = current.as_mut() {
            body.push_str(line);
            body.push('\n');
        }
    }
    blocks
}

#[test]
fn one_shot_output_forms() {
    let server = Server::start();
    server.expect(&["GET", "nope"], "NULL\n");
    server.expect(&["SET", "k", "two\nlines"], "OK\n");
    // Bulk strings are printed raw.
    server.expect(&["GET", "k"], "two\nlines\n");
    server.expect(&["MGET", "k", "nope"], "two\nlines\nNULL\n");
    server.expect(&["PING"], "PONG\n");
    server.expect(&["TTL", "k"], "-1\n");
    // An empty array prints nothing.
    server.expect(&["KEYS", "nomatch*"], "");
    // Arguments may start with a dash once the command has started.
    server.expect(&["SET", "neg", "-5"], "OK\n");
    server.expect(&["INCR", "neg"], "-4\n");
}

#[test]
fn error_reply_goes_to_stderr_with_exit_1() {
    let server = Server::start();
    let out = server.cli(&["GET"]);
    assert_eq!(stdout_text(&out), "");
    assert_eq!(
        stderr_text(&out),
        "(error) ERR wrong number of arguments for 'get' command\n"
    );
    assert_eq!(out.status.code(), Some(1));

    let out = server.cli(&["NOSUCHCMD", "x"]);
    assert!(
        stderr_text(&out).starts_with("(error) ERR unknown command 'NOSUCHCMD'"),
        "{}",
        stderr_text(&out)
    );
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn connection_refused_message_and_exit_1() {
    let port = free_port();
    let out = run_cli(port, &["PING"], None);
    assert_eq!(
        stderr_text(&out),
        format!("Could not connect to 127.0.0.1:{port}: Connection refused\n")
    );
    assert_eq!(stdout_text(&out), "");
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn x_reads_the_last_argument_from_stdin_even_10_mib() {
    let server = Server::start();
    let out = server.cli_with_stdin(&["-x", "SET", "small"], b"hello\nworld");
    assert_eq!(stdout_text(&out), "OK\n");
    server.expect(&["GET", "small"], "hello\nworld\n");

    // 10 MiB with CRLFs inside: must travel both ways intact, over many reads.
    let big: Vec<u8> = (0..10 * 1024 * 1024)
        .map(|i: usize| b"0123456789abcdef\r\n"[i % 18])
        .collect();
    let out = server.cli_with_stdin(&["-x", "SET", "big"], &big);
    assert_eq!(stdout_text(&out), "OK\n", "{}", stderr_text(&out));
    server.expect(&["STRLEN", "big"], &format!("{}\n", big.len()));
    let out = server.cli(&["GET", "big"]);
    assert!(out.status.success());
    assert_eq!(out.stdout.len(), big.len() + 1);
    assert!(
        out.stdout[..big.len()] == big[..],
        "10 MiB value came back altered"
    );
}

#[test]
fn keys_over_100000_keys() {
    const N: usize = 100_000;
    let server = Server::start();
    // Create the keys with one pipelined write (the CLI would take minutes one by one),
    // reading the replies concurrently.
    let mut stream = TcpStream::connect(("127.0.0.1", server.port())).expect("connect");
    let mut request = Vec::new();
    for i in 0..N {
        let key = format!("key:{i:06}");
        request.extend_from_slice(
            format!("*3\r\n$3\r\nSET\r\n${}\r\n{key}\r\n$1\r\nv\r\n", key.len()).as_bytes(),
        );
    }
    let mut writer = stream.try_clone().expect("clone socket");
    let sender = thread::spawn(move || writer.write_all(&request));
    let mut replies = vec![0u8; N * 5];
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    stream.read_exact(&mut replies).expect("read N +OK");
    sender.join().expect("writer").expect("write pipeline");
    assert!(replies.chunks(5).all(|r| r == b"+OK\r\n"));

    let out = server.cli(&["KEYS", "*"]);
    assert!(out.status.success(), "{}", stderr_text(&out));
    let text = stdout_text(&out);
    let keys: BTreeSet<&str> = text.lines().collect();
    assert_eq!(keys.len(), N);
    assert!(keys.contains("key:000000") && keys.contains("key:099999"));
}

#[test]
fn repeat_and_interval() {
    let server = Server::start();
    let started = Instant::now();
    server.expect(&["-r", "3", "-i", "0.1", "INCR", "n"], "1\n2\n3\n");
    // Two pauses of 0.1 s between three runs.
    assert!(started.elapsed() >= Duration::from_millis(200));
    server.expect(&["-r", "0", "INCR", "n"], "");
    server.expect(&["GET", "n"], "3\n");
}

#[test]
fn interactive_mode_formats_and_quotes_like_redis_cli() {
    let server = Server::start();
    let script = concat!(
        "SET \"a b\" \"x\\x41y\\n\"\n",
        "GET \"a b\"\n",
        "get 'a b'\n",
        "  \n",
        "MGET \"a b\" nokey\n",
        "INCR counter\n",
        "3 INCR counter\n",
        "GET nokey\n",
        "KEYS nomatch*\n",
        "SET \"unterminated\n",
        "NOSUCHCMD\n",
        "help get\n",
        "quit\n",
        "PING\n",
    );
    // --no-raw: redis-cli formatting although stdout is a pipe here.
    let out = server.cli_with_stdin(&["--no-raw"], script.as_bytes());
    let expected = concat!(
        "OK\n",
        "\"xAy\\n\"\n",
        "\"xAy\\n\"\n",
        "1) \"xAy\\n\"\n",
        "2) (nil)\n",
        "(integer) 1\n",
        "(integer) 2\n",
        "(integer) 3\n",
        "(integer) 4\n",
        "(nil)\n",
        "(empty array)\n",
        "Invalid argument(s)\n",
        "(error) ERR unknown command 'NOSUCHCMD', with args beginning with: \n",
        // help as redis-cli 7 prints it, from our COMMAND DOCS.
        "\r\n  \x1b[1mGET\x1b[0m \x1b[90mkey\x1b[0m\r\n",
        "  \x1b[33msummary:\x1b[0m Returns the string value stored at a key.\r\n",
        "  \x1b[33msince:\x1b[0m 1.0.0\r\n",
        "  \x1b[33mgroup:\x1b[0m string\r\n",
        "\r\n",
    );
    assert_eq!(stdout_text(&out), expected, "stderr: {}", stderr_text(&out));
    assert!(out.status.success());
}

#[test]
fn interactive_mode_without_terminal_prints_plainly() {
    let server = Server::start();
    let out = server.cli_with_stdin(&[], b"SET k v\nGET k\nGET none\nINCR c\n");
    assert_eq!(stdout_text(&out), "OK\nv\nNULL\n1\n");
}

#[test]
fn help_lists_the_commands() {
    let server = Server::start();
    let out = server.cli_with_stdin(&[], b"help\n");
    let text = stdout_text(&out);
    for command in ["SET key value", "GET key", "EXPIRE key seconds", "quit"] {
        assert!(text.contains(command), "help lacks {command:?}:\n{text}");
    }
    // One-shot `keyval-cli help` prints the same, as `redis-cli help` prints its help,
    // without sending it to the server.
    let one_shot = server.cli(&["help"]);
    assert!(one_shot.status.success());
    assert_eq!(stdout_text(&one_shot), text);
}

/// Reads one multibulk command from a fake server's connection.
fn read_command(reader: &mut impl BufRead) -> Option<Vec<String>> {
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let count: usize = line.trim_end().strip_prefix('*')?.parse().ok()?;
    let mut args = Vec::new();
    for _ in 0..count {
        line.clear();
        reader.read_line(&mut line).ok()?;
        let len: usize = line.trim_end().strip_prefix('$')?.parse().ok()?;
        let mut data = vec![0; len + 2];
        reader.read_exact(&mut data).ok()?;
        data.truncate(len);
        args.push(String::from_utf8(data).ok()?);
    }
    Some(args)
}

/// A fake server that answers each command with the next scripted reply and returns the
/// commands it received.
fn scripted_server(replies: Vec<&'static [u8]>) -> (u16, thread::JoinHandle<Vec<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let handle = thread::spawn(move || {
        let (stream, _) = listener.accept().expect("accept");
        let mut writer = stream.try_clone().expect("clone");
        let mut reader = BufReader::new(stream);
        let mut seen = Vec::new();
        for reply in replies {
            let Some(command) = read_command(&mut reader) else {
                break;
            };
            seen.push(command);
            writer.write_all(reply).expect("reply");
        }
        seen
    });
    (port, handle)
}

#[test]
fn auth_and_select_are_sent_before_the_command() {
    let (port, server) = scripted_server(vec![
        b"+OK\r\n",
        b"+OK\r\n",
        // A nested array, to see the one-shot indentation end to end.
        b"*3\r\n$1\r\na\r\n*2\r\n:1\r\n$-1\r\n$1\r\nb\r\n",
    ]);
    let out = run_cli(
        port,
        &["-a", "secret", "--user", "me", "-n", "2", "GET", "k"],
        None,
    );
    assert_eq!(
        stdout_text(&out),
        "a\n  1\n  NULL\nb\n",
        "{}",
        stderr_text(&out)
    );
    assert!(out.status.success());
    let seen = server.join().expect("fake server");
    assert_eq!(
        seen,
        vec![
            vec!["AUTH", "me", "secret"],
            vec!["SELECT", "2"],
            vec!["GET", "k"]
        ]
    );
}

#[test]
fn failed_auth_is_reported_with_exit_1() {
    let (port, server) = scripted_server(vec![b"-WRONGPASS invalid username-password pair\r\n"]);
    let out = run_cli(port, &["-a", "bad", "GET", "k"], None);
    assert_eq!(
        stderr_text(&out),
        "AUTH failed: WRONGPASS invalid username-password pair\n"
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        server.join().expect("fake server"),
        vec![vec!["AUTH", "bad"]]
    );
}

#[test]
fn interactive_mode_reconnects_after_a_lost_connection() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let server = thread::spawn(move || {
        // First connection: answer one command, then hang up.
        let (stream, _) = listener.accept().expect("accept 1");
        let mut writer = stream.try_clone().expect("clone");
        let mut reader = BufReader::new(stream);
        read_command(&mut reader).expect("first command");
        writer.write_all(b"+FIRST\r\n").expect("reply");
        drop((reader, writer));
        // Second connection (the reconnect): answer until the client leaves.
        let (stream, _) = listener.accept().expect("accept 2");
        let mut writer = stream.try_clone().expect("clone");
        let mut reader = BufReader::new(stream);
        while read_command(&mut reader).is_some() {
            writer.write_all(b"+SECOND\r\n").expect("reply");
        }
    });
    let out = run_cli(port, &[], Some(b"PING\nPING\nPING\nPING\n"));
    server.join().expect("fake server");
    // The second PING meets the closed connection and is reported, not retried; the third
    // reconnects.
    assert_eq!(stdout_text(&out), "FIRST\nSECOND\nSECOND\n");
    assert!(
        stderr_text(&out).starts_with("Error: "),
        "stderr: {}",
        stderr_text(&out)
    );
}
