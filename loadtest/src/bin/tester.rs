//! `tester`: conformance checks against a live RESP2 server.
//!
//! Every check opens its own connection, sends raw RESP bytes and compares the raw reply bytes
//! with what Redis 7 answers, so a check fails on any difference (a missing space in an error
//! message, an integer sent as a bulk string, an extra reply). Checks cover pipelining,
//! fragmentation (byte by byte and random splits with a fixed seed), each supported command, and
//! protocol errors, after which the server must close the connection.
//!
//! The checks only use commands Redis 7 answers the same way (SET GET INCR DEL EXISTS EXPIRE TTL
//! KEYS FLUSHALL MGET APPEND STRLEN PING ECHO), so `HOST=127.0.0.1:6379 tester` against
//! redis-server passes every check. The tester calls FLUSHALL: point it at a scratch server.

use std::collections::{BTreeSet, HashMap};
use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::thread;
use std::time::{Duration, Instant};

use clap::Parser;
use loadtest::client::{Client, is_timeout};
use loadtest::resp::{Value, command, escape_short, reply_len};
use loadtest::rng::Rng;
use loadtest::settings::{self, Defaults, Settings};

/// Conformance checks against a live server; prints PASS/FAIL per check and exits non-zero on
/// any failure. Uses HOST and RT; CLIENTS and OPS size the concurrent-INCR check.
#[derive(Parser, Debug)]
#[command(name = "tester", version)]
struct Cli {
    #[command(flatten)]
    settings: Settings,
    /// Seed of the random-split fragmentation checks (the same seed replays the same splits).
    #[arg(long, env = "SEED", default_value_t = 42)]
    seed: u64,
    /// Run only the checks whose name contains this text.
    #[arg(long)]
    only: Option<String>,
}

const DEFAULTS: Defaults = Defaults {
    clients: "8",
    ops: "200",
    pipe: "100",
    rt_ms: "2000",
    keyspace: "16",
    value_size: "16",
    mix: "get=1",
};

/// What every check gets: where the server is and how long to wait for a reply.
struct Ctx {
    addr: SocketAddr,
    read_timeout: Duration,
    seed: u64,
    clients: u64,
    ops: u64,
}

/// A check's verdict: `Err` carries the reason shown after FAIL.
type Outcome = Result<(), String>;

impl Ctx {
    fn connect(&self) -> Result<Client, String> {
        Client::connect(self.addr, self.read_timeout)
            .map_err(|e| format!("cannot connect to {}: {e}", self.addr))
    }
}

/// Sends `request` and requires exactly `expected` back (reading exactly that many bytes).
fn exchange(c: &mut Client, request: &[u8], expected: &[u8]) -> Outcome {
    c.send(request)
        .map_err(|e| format!("sending {}: {e}", escape_short(request)))?;
    expect_bytes(c, request, expected)
}

/// Reads as many replies as `expected` holds and compares their bytes with `expected`.
fn expect_bytes(c: &mut Client, request: &[u8], expected: &[u8]) -> Outcome {
    let mut got = Vec::new();
    let mut failure = None;
    for _ in 0..count_replies(expected) {
        if let Err(e) = c.read_raw_reply(&mut got) {
            failure = Some(e);
            break;
        }
    }
    if got == expected && failure.is_none() {
        return Ok(());
    }
    // Report the first differing byte: with large payloads the escaped dumps are cut.
    let at = got
        .iter()
        .zip(expected)
        .position(|(a, b)| a != b)
        .unwrap_or(got.len().min(expected.len()));
    let why = failure.map_or(String::new(), |e| format!("\n      then: {e}"));
    Err(format!(
        "request {}\n      expected {}\n      got      {}{why}\n      first difference at byte {at}",
        escape_short(request),
        escape_short(expected),
        escape_short(&got),
    ))
}

/// How many replies the well-formed RESP in `bytes` holds.
fn count_replies(mut bytes: &[u8]) -> usize {
    let mut n = 0;
    while let Ok(Some(info)) = reply_len(bytes) {
        bytes = &bytes[info.len..];
        n += 1;
    }
    n
}

/// `exchange` for a single command given as arguments.
fn call(c: &mut Client, args: &[&[u8]], expected: &[u8]) -> Outcome {
    exchange(c, &command(args), expected)
}

/// Ends a check: a PING must be answered by exactly `+PONG`, which proves the connection is
/// still usable and that no extra reply bytes were left over by the check.
fn sentinel(c: &mut Client) -> Outcome {
    call(c, &[b"PING"], b"+PONG\r\n").map_err(|e| format!("after the check, PING failed: {e}"))
}

fn bulk(data: &[u8]) -> Vec<u8> {
    let mut out = format!("${}\r\n", data.len()).into_bytes();
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
    out
}

fn int(n: i64) -> Vec<u8> {
    format!(":{n}\r\n").into_bytes()
}

const NIL: &[u8] = b"$-1\r\n";
const OK: &[u8] = b"+OK\r\n";
const NOT_INTEGER: &[u8] = b"-ERR value is not an integer or out of range\r\n";

fn check_ping(ctx: &Ctx) -> Outcome {
    let mut c = ctx.connect()?;
    call(&mut c, &[b"PING"], b"+PONG\r\n")?;
    call(&mut c, &[b"PING", b"hello"], b"$5\r\nhello\r\n")?;
    call(&mut c, &[b"ping"], b"+PONG\r\n")?;
    sentinel(&mut c)
}

fn check_inline(ctx: &Ctx) -> Outcome {
    let mut c = ctx.connect()?;
    exchange(&mut c, b"PING\r\n", b"+PONG\r\n")?;
    // Redis accepts inline commands terminated by a bare LF (what `nc` or telnet may send).
    exchange(&mut c, b"PING\n", b"+PONG\r\n")?;
    exchange(&mut c, b"SET tester:inline \"a b\"\r\n", OK)?;
    call(&mut c, &[b"GET", b"tester:inline"], b"$3\r\na b\r\n")?;
    sentinel(&mut c)
}

fn check_echo(ctx: &Ctx) -> Outcome {
    let mut c = ctx.connect()?;
    call(
        &mut c,
        &[b"ECHO", b"hello world"],
        b"$11\r\nhello world\r\n",
    )?;
    call(&mut c, &[b"ECHO", b""], b"$0\r\n\r\n")?;
    call(&mut c, &[b"ECHO", b"a\r\nb"], b"$4\r\na\r\nb\r\n")?;
    sentinel(&mut c)
}

fn check_set_get(ctx: &Ctx) -> Outcome {
    let mut c = ctx.connect()?;
    call(&mut c, &[b"SET", b"tester:k", b"v1"], OK)?;
    call(&mut c, &[b"GET", b"tester:k"], b"$2\r\nv1\r\n")?;
    call(&mut c, &[b"SET", b"tester:k", b"value2"], OK)?;
    call(&mut c, &[b"GET", b"tester:k"], b"$6\r\nvalue2\r\n")?;
    call(&mut c, &[b"GET", b"tester:missing"], NIL)?;
    call(&mut c, &[b"set", b"tester:k", b"lower"], OK)?;
    call(&mut c, &[b"gEt", b"tester:k"], b"$5\r\nlower\r\n")?;
    call(&mut c, &[b"SET", b"tester:empty", b""], OK)?;
    call(&mut c, &[b"GET", b"tester:empty"], b"$0\r\n\r\n")?;
    sentinel(&mut c)
}

fn check_binary_safe(ctx: &Ctx) -> Outcome {
    let mut c = ctx.connect()?;
    let value: &[u8] = b"a\r\nb\x00c\xff$3\r\n*1";
    let key: &[u8] = b"tester:bin\r\n\x00key";
    call(&mut c, &[b"SET", key, value], OK)?;
    call(&mut c, &[b"GET", key], &bulk(value))?;
    sentinel(&mut c)
}

fn check_incr(ctx: &Ctx) -> Outcome {
    let mut c = ctx.connect()?;
    call(&mut c, &[b"DEL", b"tester:ctr"], b":0\r\n")?;
    call(&mut c, &[b"INCR", b"tester:ctr"], b":1\r\n")?;
    call(&mut c, &[b"INCR", b"tester:ctr"], b":2\r\n")?;
    call(&mut c, &[b"GET", b"tester:ctr"], b"$1\r\n2\r\n")?;
    call(&mut c, &[b"SET", b"tester:n", b"41"], OK)?;
    call(&mut c, &[b"INCR", b"tester:n"], b":42\r\n")?;
    call(&mut c, &[b"SET", b"tester:n", b"-5"], OK)?;
    call(&mut c, &[b"INCR", b"tester:n"], b":-4\r\n")?;
    call(&mut c, &[b"SET", b"tester:n", b"9223372036854775806"], OK)?;
    call(&mut c, &[b"INCR", b"tester:n"], b":9223372036854775807\r\n")?;
    sentinel(&mut c)
}

fn check_incr_errors(ctx: &Ctx) -> Outcome {
    let mut c = ctx.connect()?;
    call(&mut c, &[b"SET", b"tester:s", b"abc"], OK)?;
    call(&mut c, &[b"INCR", b"tester:s"], NOT_INTEGER)?;
    call(&mut c, &[b"SET", b"tester:s", b" 1"], OK)?;
    call(&mut c, &[b"INCR", b"tester:s"], NOT_INTEGER)?;
    call(&mut c, &[b"SET", b"tester:s", b"01"], OK)?;
    call(&mut c, &[b"INCR", b"tester:s"], NOT_INTEGER)?;
    // Overflow is an error, never a wrap, and leaves the value alone.
    call(&mut c, &[b"SET", b"tester:s", b"9223372036854775807"], OK)?;
    call(
        &mut c,
        &[b"INCR", b"tester:s"],
        b"-ERR increment or decrement would overflow\r\n",
    )?;
    call(
        &mut c,
        &[b"GET", b"tester:s"],
        b"$19\r\n9223372036854775807\r\n",
    )?;
    sentinel(&mut c)
}

fn check_del_exists(ctx: &Ctx) -> Outcome {
    let mut c = ctx.connect()?;
    call(&mut c, &[b"SET", b"tester:a", b"1"], OK)?;
    call(&mut c, &[b"SET", b"tester:b", b"2"], OK)?;
    call(&mut c, &[b"EXISTS", b"tester:a"], b":1\r\n")?;
    call(
        &mut c,
        &[b"EXISTS", b"tester:a", b"tester:b", b"tester:none"],
        b":2\r\n",
    )?;
    // EXISTS counts a key once per mention.
    call(&mut c, &[b"EXISTS", b"tester:a", b"tester:a"], b":2\r\n")?;
    call(
        &mut c,
        &[b"DEL", b"tester:a", b"tester:b", b"tester:none"],
        b":2\r\n",
    )?;
    call(&mut c, &[b"EXISTS", b"tester:a"], b":0\r\n")?;
    call(&mut c, &[b"DEL", b"tester:a"], b":0\r\n")?;
    call(&mut c, &[b"GET", b"tester:a"], NIL)?;
    sentinel(&mut c)
}

fn check_expire_ttl(ctx: &Ctx) -> Outcome {
    let mut c = ctx.connect()?;
    call(&mut c, &[b"SET", b"tester:e", b"v"], OK)?;
    call(&mut c, &[b"TTL", b"tester:e"], b":-1\r\n")?;
    call(&mut c, &[b"EXPIRE", b"tester:e", b"100"], b":1\r\n")?;
    call(&mut c, &[b"TTL", b"tester:e"], b":100\r\n")?;
    call(&mut c, &[b"EXPIRE", b"tester:none", b"10"], b":0\r\n")?;
    call(&mut c, &[b"TTL", b"tester:none"], b":-2\r\n")?;
    call(&mut c, &[b"EXPIRE", b"tester:e", b"abc"], NOT_INTEGER)?;
    // SET replaces the key and with it the TTL.
    call(&mut c, &[b"SET", b"tester:e", b"v2"], OK)?;
    call(&mut c, &[b"TTL", b"tester:e"], b":-1\r\n")?;
    // A TTL of zero or less deletes the key at once.
    call(&mut c, &[b"EXPIRE", b"tester:e", b"0"], b":1\r\n")?;
    call(&mut c, &[b"GET", b"tester:e"], NIL)?;
    sentinel(&mut c)
}

fn check_expiry_happens(ctx: &Ctx) -> Outcome {
    let mut c = ctx.connect()?;
    call(&mut c, &[b"SET", b"tester:t", b"123"], OK)?;
    call(&mut c, &[b"EXPIRE", b"tester:t", b"1"], b":1\r\n")?;
    call(&mut c, &[b"GET", b"tester:t"], b"$3\r\n123\r\n")?;
    // Poll until the key is gone instead of sleeping a fixed time; 1 s TTL, generous deadline.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let reply = c
            .call(&[b"GET" as &[u8], b"tester:t"])
            .map_err(|e| format!("GET failed: {e}"))?;
        match reply {
            Value::Nil => break,
            Value::Bulk(ref v) if v == b"123" => {}
            other => return Err(format!("GET of an expiring key answered {other}")),
        }
        if Instant::now() > deadline {
            return Err("key with a 1 s TTL still present after 5 s".into());
        }
        thread::sleep(Duration::from_millis(20));
    }
    call(&mut c, &[b"EXISTS", b"tester:t"], b":0\r\n")?;
    call(&mut c, &[b"TTL", b"tester:t"], b":-2\r\n")?;
    sentinel(&mut c)
}

/// KEYS replies in no particular order, so this compares the set of keys, after checking that
/// the reply is an array of bulk strings.
fn keys(c: &mut Client, pattern: &[u8]) -> Result<BTreeSet<Vec<u8>>, String> {
    match c.call(&[b"KEYS" as &[u8], pattern]) {
        Ok(Value::Array(items)) => items
            .into_iter()
            .map(|item| match item {
                Value::Bulk(k) => Ok(k),
                other => Err(format!("KEYS returned a non-bulk element {other}")),
            })
            .collect(),
        Ok(other) => Err(format!("KEYS returned {other}, not an array")),
        Err(e) => Err(format!("KEYS failed: {e}")),
    }
}

fn expect_keys(c: &mut Client, pattern: &str, want: &[&str]) -> Outcome {
    let got = keys(c, pattern.as_bytes())?;
    let want: BTreeSet<Vec<u8>> = want.iter().map(|k| k.as_bytes().to_vec()).collect();
    if got == want {
        Ok(())
    } else {
        let show = |s: &BTreeSet<Vec<u8>>| {
            s.iter()
                .map(|k| String::from_utf8_lossy(k).into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        };
        Err(format!(
            "KEYS {pattern}: expected [{}], got [{}]",
            show(&want),
            show(&got)
        ))
    }
}

fn check_keys(ctx: &Ctx) -> Outcome {
    let mut c = ctx.connect()?;
    call(&mut c, &[b"FLUSHALL"], OK)?;
    call(&mut c, &[b"KEYS", b"*"], b"*0\r\n")?;
    for k in [
        "hello", "hallo", "hxllo", "hllo", "heeello", "user:1", "user:2",
    ] {
        call(&mut c, &[b"SET", k.as_bytes(), b"x"], OK)?;
    }
    let all = [
        "hello", "hallo", "hxllo", "hllo", "heeello", "user:1", "user:2",
    ];
    expect_keys(&mut c, "*", &all)?;
    expect_keys(&mut c, "user:*", &["user:1", "user:2"])?;
    expect_keys(&mut c, "h?llo", &["hello", "hallo", "hxllo"])?;
    expect_keys(
        &mut c,
        "h*llo",
        &["hello", "hallo", "hxllo", "hllo", "heeello"],
    )?;
    expect_keys(&mut c, "h[ae]llo", &["hello", "hallo"])?;
    expect_keys(&mut c, "h[^e]llo", &["hallo", "hxllo"])?;
    expect_keys(&mut c, "h[a-b]llo", &["hallo"])?;
    expect_keys(&mut c, "user:\\*", &[])?;
    call(&mut c, &[b"KEYS", b"nomatch*"], b"*0\r\n")?;
    // A single key: the whole reply can be compared byte for byte.
    call(&mut c, &[b"KEYS", b"user:1"], b"*1\r\n$6\r\nuser:1\r\n")?;
    sentinel(&mut c)
}

fn check_flushall(ctx: &Ctx) -> Outcome {
    let mut c = ctx.connect()?;
    call(&mut c, &[b"SET", b"tester:f1", b"1"], OK)?;
    call(&mut c, &[b"SET", b"tester:f2", b"2"], OK)?;
    call(&mut c, &[b"EXPIRE", b"tester:f2", b"100"], b":1\r\n")?;
    call(&mut c, &[b"FLUSHALL"], OK)?;
    call(&mut c, &[b"KEYS", b"*"], b"*0\r\n")?;
    call(&mut c, &[b"GET", b"tester:f1"], NIL)?;
    call(&mut c, &[b"EXISTS", b"tester:f2"], b":0\r\n")?;
    sentinel(&mut c)
}

fn check_mget(ctx: &Ctx) -> Outcome {
    let mut c = ctx.connect()?;
    call(&mut c, &[b"SET", b"tester:m1", b"one"], OK)?;
    call(&mut c, &[b"SET", b"tester:m2", b"two"], OK)?;
    call(&mut c, &[b"DEL", b"tester:m3"], b":0\r\n")?;
    call(
        &mut c,
        &[b"MGET", b"tester:m1", b"tester:m3", b"tester:m2"],
        b"*3\r\n$3\r\none\r\n$-1\r\n$3\r\ntwo\r\n",
    )?;
    call(&mut c, &[b"MGET", b"tester:m3"], b"*1\r\n$-1\r\n")?;
    sentinel(&mut c)
}

fn check_append_strlen(ctx: &Ctx) -> Outcome {
    let mut c = ctx.connect()?;
    call(&mut c, &[b"DEL", b"tester:ap"], b":0\r\n")?;
    call(&mut c, &[b"APPEND", b"tester:ap", b"hello"], b":5\r\n")?;
    call(&mut c, &[b"APPEND", b"tester:ap", b" world"], b":11\r\n")?;
    call(&mut c, &[b"GET", b"tester:ap"], b"$11\r\nhello world\r\n")?;
    call(&mut c, &[b"STRLEN", b"tester:ap"], b":11\r\n")?;
    call(&mut c, &[b"STRLEN", b"tester:none"], b":0\r\n")?;
    // APPEND to a counter keeps it a string that INCR can still parse.
    call(&mut c, &[b"SET", b"tester:ap", b"1"], OK)?;
    call(&mut c, &[b"APPEND", b"tester:ap", b"0"], b":2\r\n")?;
    call(&mut c, &[b"INCR", b"tester:ap"], b":11\r\n")?;
    sentinel(&mut c)
}

fn check_command_errors(ctx: &Ctx) -> Outcome {
    let mut c = ctx.connect()?;
    call(
        &mut c,
        &[b"FOO", b"a", b"b"],
        b"-ERR unknown command 'FOO', with args beginning with: 'a' 'b' \r\n",
    )?;
    call(
        &mut c,
        &[b"nosuchcmd"],
        b"-ERR unknown command 'nosuchcmd', with args beginning with: \r\n",
    )?;
    call(
        &mut c,
        &[b"GET"],
        b"-ERR wrong number of arguments for 'get' command\r\n",
    )?;
    call(
        &mut c,
        &[b"SET", b"k"],
        b"-ERR wrong number of arguments for 'set' command\r\n",
    )?;
    call(
        &mut c,
        &[b"incr", b"a", b"b"],
        b"-ERR wrong number of arguments for 'incr' command\r\n",
    )?;
    call(
        &mut c,
        &[b"EXPIRE", b"k"],
        b"-ERR wrong number of arguments for 'expire' command\r\n",
    )?;
    // Errors do not close the connection.
    sentinel(&mut c)
}

fn check_pipelining(ctx: &Ctx) -> Outcome {
    let mut c = ctx.connect()?;
    call(&mut c, &[b"DEL", b"tester:pc"], b":0\r\n")?;
    let mut request = Vec::new();
    let mut expected = Vec::new();
    for i in 0..100u32 {
        let key = format!("tester:p{i}");
        let value = format!("value-{i}");
        request.extend(command(&[b"SET", key.as_bytes(), value.as_bytes()]));
        expected.extend_from_slice(OK);
        request.extend(command(&[b"GET" as &[u8], key.as_bytes()]));
        expected.extend(bulk(value.as_bytes()));
        request.extend(command(&[b"INCR" as &[u8], b"tester:pc"]));
        expected.extend(int(i64::from(i) + 1));
        // An error in the middle of a pipeline must not disturb the replies after it.
        if i == 50 {
            request.extend(command(&[b"GET" as &[u8]]));
            expected.extend_from_slice(b"-ERR wrong number of arguments for 'get' command\r\n");
        }
    }
    exchange(&mut c, &request, &expected)?;
    sentinel(&mut c)
}

/// Writes `request` from a second thread while this one reads, so a server that stops reading
/// while its replies are unread (back-pressure) cannot deadlock the check.
fn exchange_concurrently(c: &mut Client, request: Vec<u8>, expected: &[u8]) -> Outcome {
    let mut writer = c
        .stream()
        .try_clone()
        .map_err(|e| format!("cannot clone the socket: {e}"))?;
    let sender = thread::spawn(move || writer.write_all(&request));
    let result = expect_bytes(c, b"(large pipeline)", expected);
    match sender.join() {
        Ok(Ok(())) => result,
        Ok(Err(e)) => result.and(Err(format!("writing the pipeline failed: {e}"))),
        Err(_) => Err("writer thread panicked".into()),
    }
}

fn check_large_pipeline(ctx: &Ctx) -> Outcome {
    let mut c = ctx.connect()?;
    call(&mut c, &[b"DEL", b"tester:lp"], b":0\r\n")?;
    let mut request = Vec::new();
    let mut expected = Vec::new();
    for i in 1..=20_000 {
        request.extend(command(&[b"INCR" as &[u8], b"tester:lp"]));
        expected.extend(int(i));
    }
    exchange_concurrently(&mut c, request, &expected)?;
    sentinel(&mut c)
}

fn check_large_value(ctx: &Ctx) -> Outcome {
    let mut c = ctx.connect()?;
    // 4 MiB plus an odd tail, with CRLFs inside so no parser can look for a terminator.
    let value: Vec<u8> = (0..4 * 1024 * 1024 + 7)
        .map(|i: usize| b"abc\r\n\x00xyz"[i % 9])
        .collect();
    exchange_concurrently(
        &mut c,
        command(&[b"SET" as &[u8], b"tester:big", &value]),
        OK,
    )?;
    call(
        &mut c,
        &[b"STRLEN", b"tester:big"],
        &int(value.len() as i64),
    )?;
    call(&mut c, &[b"GET", b"tester:big"], &bulk(&value))?;
    call(&mut c, &[b"DEL", b"tester:big"], b":1\r\n")?;
    sentinel(&mut c)
}

fn check_many_keys(ctx: &Ctx) -> Outcome {
    const N: usize = 20_000;
    let mut c = ctx.connect()?;
    let mut request = Vec::new();
    let mut expected = Vec::new();
    for i in 0..N {
        request.extend(command(&[
            b"SET",
            format!("tester:many:{i}").as_bytes(),
            b"v",
        ]));
        expected.extend_from_slice(OK);
    }
    exchange_concurrently(&mut c, request, &expected)?;
    let got = keys(&mut c, b"tester:many:*")?;
    let missing = (0..N)
        .map(|i| format!("tester:many:{i}").into_bytes())
        .filter(|k| !got.contains(k))
        .count();
    if got.len() != N || missing != 0 {
        return Err(format!(
            "KEYS tester:many:* returned {} keys, {missing} of the {N} set keys missing",
            got.len()
        ));
    }
    let mut del = vec![b"DEL".to_vec()];
    del.extend(got);
    exchange_concurrently(&mut c, command(&del), &int(N as i64))?;
    sentinel(&mut c)
}

fn check_empty_multibulk(ctx: &Ctx) -> Outcome {
    let mut c = ctx.connect()?;
    // Redis silently skips `*0` and `*-1` requests.
    exchange(&mut c, b"*0\r\n*1\r\n$4\r\nPING\r\n", b"+PONG\r\n")?;
    exchange(&mut c, b"*-1\r\n*1\r\n$4\r\nPING\r\n", b"+PONG\r\n")?;
    sentinel(&mut c)
}

/// Sends `payload` in the given chunk sizes, each as its own write with a short pause, so the
/// server really receives it in fragments (without the pause loopback TCP may hand several
/// writes to a single read).
fn send_in_chunks(c: &mut Client, payload: &[u8], sizes: &[usize]) -> Outcome {
    let mut at = 0;
    for &size in sizes {
        let end = (at + size).min(payload.len());
        c.send(&payload[at..end])
            .map_err(|e| format!("sending fragment at byte {at}: {e}"))?;
        at = end;
        thread::sleep(Duration::from_micros(50));
    }
    if at < payload.len() {
        c.send(&payload[at..])
            .map_err(|e| format!("sending the last fragment: {e}"))?;
    }
    Ok(())
}

fn check_byte_by_byte(ctx: &Ctx) -> Outcome {
    let mut c = ctx.connect()?;
    let mut payload = Vec::new();
    let mut expected = Vec::new();
    payload.extend(command(&[b"SET" as &[u8], b"tester:frag", b"a\r\nb\r\n"]));
    expected.extend_from_slice(OK);
    payload.extend(command(&[b"GET" as &[u8], b"tester:frag"]));
    expected.extend(bulk(b"a\r\nb\r\n"));
    payload.extend(command(&[b"ECHO" as &[u8], b""]));
    expected.extend(bulk(b""));
    payload.extend_from_slice(b"PING\r\n");
    expected.extend_from_slice(b"+PONG\r\n");
    payload.extend(command(&[
        b"APPEND" as &[u8],
        b"tester:frag",
        b"12345678901",
    ]));
    expected.extend(int(17));
    send_in_chunks(&mut c, &payload, &vec![1; payload.len()])?;
    expect_bytes(&mut c, b"(byte-by-byte payload)", &expected)?;
    sentinel(&mut c)
}

/// A client-side model of the keys one random-split round touches, to compute each reply.
struct Model {
    strings: HashMap<Vec<u8>, Vec<u8>>,
}

impl Model {
    /// Draws a random command, returning its bytes and the exact reply Redis gives.
    fn random_command(&mut self, rng: &mut Rng, prefix: &str) -> (Vec<u8>, Vec<u8>) {
        let key = format!("{prefix}:{}", rng.below(6)).into_bytes();
        let value = random_value(rng);
        match rng.below(9) {
            0 | 1 => {
                self.strings.insert(key.clone(), value.clone());
                (command(&[b"SET" as &[u8], &key, &value]), OK.to_vec())
            }
            2 | 3 => {
                let reply = self.strings.get(&key).map_or(NIL.to_vec(), |v| bulk(v));
                (command(&[b"GET" as &[u8], &key]), reply)
            }
            4 => {
                let entry = self.strings.entry(key.clone()).or_default();
                entry.extend_from_slice(&value);
                let len = entry.len() as i64;
                (command(&[b"APPEND" as &[u8], &key, &value]), int(len))
            }
            5 => {
                let len = self.strings.get(&key).map_or(0, |v| v.len() as i64);
                (command(&[b"STRLEN" as &[u8], &key]), int(len))
            }
            6 => {
                let existed = self.strings.remove(&key).is_some();
                (command(&[b"DEL" as &[u8], &key]), int(existed.into()))
            }
            7 => {
                // Counters live under their own keys so INCR never meets a non-number.
                let ckey = [&key[..], b":ctr"].concat();
                let entry = self.strings.entry(ckey.clone()).or_insert(b"0".to_vec());
                let next = String::from_utf8_lossy(entry).parse::<i64>().unwrap_or(0) + 1;
                *entry = next.to_string().into_bytes();
                (command(&[b"INCR" as &[u8], &ckey]), int(next))
            }
            _ => (command(&[b"ECHO" as &[u8], &value]), bulk(&value)),
        }
    }
}

/// A value of 0 to 300 bytes drawn from an alphabet rich in RESP-significant bytes.
fn random_value(rng: &mut Rng) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ab$*:+-\r\n\r\n\x000123456789";
    let len = rng.below(301) as usize;
    (0..len)
        .map(|_| ALPHABET[rng.below(ALPHABET.len() as u64) as usize])
        .collect()
}

fn check_random_splits(ctx: &Ctx, seed: u64) -> Outcome {
    let mut c = ctx.connect()?;
    let mut rng = Rng::new(seed);
    let prefix = format!("tester:split:{seed}");
    let mut model = Model {
        strings: HashMap::new(),
    };
    // Start from known state: the model assumes these keys do not exist.
    let mut clean = vec![b"DEL".to_vec()];
    for i in 0..6 {
        clean.push(format!("{prefix}:{i}").into_bytes());
        clean.push(format!("{prefix}:{i}:ctr").into_bytes());
    }
    c.call(&clean).map_err(|e| format!("DEL failed: {e}"))?;

    let mut payload = Vec::new();
    let mut expected = Vec::new();
    for _ in 0..300 {
        let (cmd, reply) = model.random_command(&mut rng, &prefix);
        payload.extend(cmd);
        expected.extend(reply);
    }
    // Fragment sizes from 1 byte to a little over a typical command, so splits land everywhere:
    // inside headers, between CR and LF, inside bulk data and between commands.
    let max_chunk = 1 + rng.below(40) as usize;
    let mut sizes = Vec::new();
    let mut total = 0;
    while total < payload.len() {
        let size = 1 + rng.below(max_chunk as u64) as usize;
        sizes.push(size);
        total += size;
    }
    send_in_chunks(&mut c, &payload, &sizes)?;
    expect_bytes(&mut c, b"(random-split payload)", &expected)
        .map_err(|e| format!("with seed {seed}: {e}"))?;
    sentinel(&mut c)
}

/// Sends a malformed request and requires exactly `expected_reply` followed by the server
/// closing the connection (Redis replies with the protocol error, then disconnects).
fn protocol_error(ctx: &Ctx, request: &[u8], expected_reply: &[u8]) -> Outcome {
    let mut c = ctx.connect()?;
    exchange(&mut c, request, expected_reply)?;
    match c.read_until_eof() {
        Ok(extra) if extra.is_empty() => {}
        Ok(extra) => {
            return Err(format!(
                "extra bytes before close: {}",
                escape_short(&extra)
            ));
        }
        Err(e) if is_timeout(&e) => {
            return Err("connection still open after the protocol error".into());
        }
        Err(e) => return Err(format!("reading until close: {e}")),
    }
    // The server itself must be unharmed.
    let mut fresh = ctx.connect()?;
    sentinel(&mut fresh)
}

fn check_protocol_errors(ctx: &Ctx) -> Outcome {
    let cases: [(&[u8], &[u8]); 9] = [
        (
            b"*1\r\n$abc\r\n",
            b"-ERR Protocol error: invalid bulk length\r\n",
        ),
        (
            b"*1\r\nfoo\r\n",
            b"-ERR Protocol error: expected '$', got 'f'\r\n",
        ),
        (
            b"*abc\r\n",
            b"-ERR Protocol error: invalid multibulk length\r\n",
        ),
        (
            b"*1\r\n$-5\r\n",
            b"-ERR Protocol error: invalid bulk length\r\n",
        ),
        // One byte over the 512 MB bulk limit.
        (
            b"*1\r\n$536870913\r\n",
            b"-ERR Protocol error: invalid bulk length\r\n",
        ),
        // Over the multibulk count limit.
        (
            b"*3000000000\r\n",
            b"-ERR Protocol error: invalid multibulk length\r\n",
        ),
        (
            b"SET \"a\r\n",
            b"-ERR Protocol error: unbalanced quotes in request\r\n",
        ),
        // Valid commands before the bad one are answered first.
        (
            b"*1\r\n$4\r\nPING\r\n*2\r\n$4\r\nECHO\r\nx\r\n",
            b"+PONG\r\n-ERR Protocol error: expected '$', got 'x'\r\n",
        ),
        // The error arrives in fragments too.
        (
            b"*2\r\n$3\r\nGET\r\n$1x\r\n",
            b"-ERR Protocol error: invalid bulk length\r\n",
        ),
    ];
    for (request, reply) in cases {
        protocol_error(ctx, request, reply)?;
    }
    Ok(())
}

fn check_concurrent_incr(ctx: &Ctx) -> Outcome {
    let mut c = ctx.connect()?;
    call(&mut c, &[b"DEL", b"tester:conc"], b":0\r\n")?;
    let clients = ctx.clients.min(64);
    let per_client = ctx.ops;
    let workers: Vec<_> = (0..clients)
        .map(|_| {
            let client = ctx.connect();
            thread::spawn(move || -> Outcome {
                let mut client = client?;
                let mut last = 0;
                for _ in 0..per_client {
                    match client.call(&[b"INCR" as &[u8], b"tester:conc"]) {
                        // Each client sees its own INCRs return strictly increasing values.
                        Ok(Value::Integer(n)) if n > last => last = n,
                        Ok(other) => return Err(format!("INCR returned {other} after {last}")),
                        Err(e) => return Err(format!("INCR failed: {e}")),
                    }
                }
                Ok(())
            })
        })
        .collect();
    for worker in workers {
        worker
            .join()
            .map_err(|_| "client thread panicked".to_string())??;
    }
    let total = (clients * per_client) as i64;
    call(
        &mut c,
        &[b"GET", b"tester:conc"],
        &bulk(total.to_string().as_bytes()),
    )?;
    sentinel(&mut c)
}

fn main() -> ExitCode {
    let cli: Cli = settings::parse(&DEFAULTS);
    let addr = match cli.settings.addr() {
        Ok(addr) => addr,
        Err(e) => {
            eprintln!("tester: {e}");
            return ExitCode::FAILURE;
        }
    };
    let ctx = Ctx {
        addr,
        read_timeout: cli.settings.read_timeout(),
        seed: cli.seed,
        clients: cli.settings.clients,
        ops: cli.settings.ops,
    };
    // One early probe so an unreachable server gives one clear line, not thirty failures.
    if let Err(e) = ctx.connect() {
        eprintln!("tester: {e}");
        println!("0 passed, 1 failed");
        return ExitCode::FAILURE;
    }

    type Check = Box<dyn Fn(&Ctx) -> Outcome>;
    let mut checks: Vec<(String, Check)> = vec![
        ("ping".into(), Box::new(check_ping)),
        ("inline commands".into(), Box::new(check_inline)),
        ("echo".into(), Box::new(check_echo)),
        ("set/get".into(), Box::new(check_set_get)),
        (
            "binary-safe keys and values".into(),
            Box::new(check_binary_safe),
        ),
        ("incr".into(), Box::new(check_incr)),
        (
            "incr errors and overflow".into(),
            Box::new(check_incr_errors),
        ),
        ("del/exists".into(), Box::new(check_del_exists)),
        ("expire/ttl".into(), Box::new(check_expire_ttl)),
        (
            "expired key disappears".into(),
            Box::new(check_expiry_happens),
        ),
        ("keys patterns".into(), Box::new(check_keys)),
        ("flushall".into(), Box::new(check_flushall)),
        ("mget".into(), Box::new(check_mget)),
        ("append/strlen".into(), Box::new(check_append_strlen)),
        ("command errors".into(), Box::new(check_command_errors)),
        (
            "empty multibulk ignored".into(),
            Box::new(check_empty_multibulk),
        ),
        ("pipelining".into(), Box::new(check_pipelining)),
        (
            "large pipeline (20000 INCR)".into(),
            Box::new(check_large_pipeline),
        ),
        ("large value (4 MiB)".into(), Box::new(check_large_value)),
        ("many keys (20000)".into(), Box::new(check_many_keys)),
        (
            "fragmentation byte by byte".into(),
            Box::new(check_byte_by_byte),
        ),
    ];
    for round in 0..4 {
        let seed = ctx.seed.wrapping_add(round);
        checks.push((
            format!("fragmentation random splits (seed {seed})"),
            Box::new(move |ctx: &Ctx| check_random_splits(ctx, seed)),
        ));
    }
    checks.push((
        "protocol errors close the connection".into(),
        Box::new(check_protocol_errors),
    ));
    checks.push((
        format!(
            "concurrent incr ({} clients x {})",
            ctx.clients.min(64),
            ctx.ops
        ),
        Box::new(check_concurrent_incr),
    ));

    let (mut passed, mut failed) = (0, 0);
    for (name, check) in &checks {
        if cli
            .only
            .as_ref()
            .is_some_and(|only| !name.contains(only.as_str()))
        {
            continue;
        }
        let started = Instant::now();
        match check(&ctx) {
            Ok(()) => {
                passed += 1;
                println!("PASS  {name} ({} ms)", started.elapsed().as_millis());
            }
            Err(why) => {
                failed += 1;
                println!("FAIL  {name}: {why}");
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    if failed == 0 && passed > 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
