//! Shared helpers for the integration tests: start the real server binary (and redis-server)
//! on a free port, talk raw RESP to it over TCP, decode replies, and draw reproducible random
//! numbers.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Path of the server binary built for these tests.
pub fn server_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_rust-keyval"))
}

/// A free TCP port on loopback (bound, then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free port")
}

/// Polls `f` until it returns Some or `timeout` passes.
pub fn wait_for<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A running server process, killed when dropped.
pub struct Server {
    pub child: Child,
    pub port: u16,
    /// The server's working directory, where its snapshots go: one per server, removed
    /// when it is dropped, so that no test loads another's `dump.rdb`.
    pub dir: PathBuf,
}

/// A fresh, empty directory for one server.
pub fn fresh_dir(tag: &str) -> PathBuf {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("keyval-{tag}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create a server directory");
    dir
}

/// How long [`start_with_metrics`] waits for the server to log its addresses.
const LOG_PATIENCE: Duration = Duration::from_secs(30);

/// Starts the server with its RESP and metrics addresses both on port 0 (in a fresh
/// directory named after `tag`), letting `configure` add flags or environment, and reads
/// the ports it got from its log ("metrics at http://ADDR/metrics", "ready to accept
/// connections on ADDR"): choosing free ports first would race with other processes.
/// Returns the server and its metrics port. stderr is drained for the server's life.
pub fn start_with_metrics(tag: &str, configure: impl FnOnce(&mut Command)) -> (Server, u16) {
    use std::io::{BufRead, BufReader};
    let dir = fresh_dir(tag);
    let mut cmd = Command::new(server_bin());
    cmd.current_dir(&dir)
        .args(["--bind", "127.0.0.1:0", "--metrics-bind", "127.0.0.1:0"])
        .args(["--log-level", "info"])
        .env_remove("KEYVAL_BIND")
        .env_remove("METRICS_BIND")
        .env_remove("METRICS_COMPAT")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    configure(&mut cmd);
    let mut child = cmd.spawn().expect("start rust-keyval");
    let stderr = child.stderr.take().expect("piped stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    // Forward the two addresses, then keep draining stderr so the server never blocks.
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            for marker in ["metrics at http://", "ready to accept connections on "] {
                if let Some(rest) = line.split(marker).nth(1) {
                    let addr = rest.trim().trim_end_matches("/metrics");
                    let port = addr.rsplit(':').next().and_then(|p| p.parse().ok());
                    let _ = tx.send((marker, port));
                }
            }
        }
    });
    let mut server = Server {
        child,
        port: 0,
        dir,
    };
    let mut metrics_port = 0;
    while server.port == 0 || metrics_port == 0 {
        let (marker, port) = rx
            .recv_timeout(LOG_PATIENCE)
            .expect("the server did not log its addresses");
        let port: u16 = port.expect("a port in the log line");
        if marker.starts_with("metrics") {
            metrics_port = port;
        } else {
            server.port = port;
        }
    }
    (server, metrics_port)
}

impl Server {
    /// Starts the server on a free port with extra flags, and waits until it answers PING.
    pub fn start(extra: &[&str]) -> Server {
        Server::start_with(|cmd| {
            cmd.args(extra);
        })
    }

    /// Starts the server, letting `configure` adjust the command (flags, env).
    ///
    /// The server binds port 0 and the test reads the port it got from its "listening on
    /// ADDR" log line: picking a free port first and passing it would race with other
    /// processes taking that port in between.
    pub fn start_with(configure: impl FnOnce(&mut Command)) -> Server {
        Server::start_in(fresh_dir("test"), configure)
    }

    /// [`Server::start_with`] in directory `dir` (a restart that must find the snapshot
    /// an earlier server wrote there); returns once the dataset is loaded (commands get
    /// -LOADING until then, as from redis-server).
    pub fn start_in(dir: PathBuf, configure: impl FnOnce(&mut Command)) -> Server {
        let server = Server::start_loading_in(dir, configure);
        server.wait_loaded();
        server
    }

    /// Polls INFO persistence until `loading:0` (Redis's tests' wait_done_loading).
    pub fn wait_loaded(&self) {
        let mut c = self.client();
        let loaded = wait_for(Duration::from_secs(120), || {
            let info = c.cmd_str("INFO persistence");
            // With a password the test authenticates itself (and loads no data first).
            (info.starts_with("-NOAUTH") || info.contains("\r\nloading:0\r\n")).then_some(())
        });
        assert!(loaded.is_some(), "the server did not finish loading");
    }

    /// [`Server::start_in`] without waiting for the dataset to load: the server answers,
    /// but may still reply -LOADING.
    pub fn start_loading_in(dir: PathBuf, configure: impl FnOnce(&mut Command)) -> Server {
        let mut cmd = Command::new(server_bin());
        cmd.current_dir(&dir);
        cmd.arg("--bind")
            .arg("127.0.0.1:0")
            .arg("--metrics-bind")
            .arg("off")
            .env_remove("KEYVAL_BIND")
            .env_remove("METRICS_BIND")
            .env_remove("KEYVAL_LOG_LEVEL")
            .env_remove("KEYVAL_SAVE")
            .env_remove("KEYVAL_DIR")
            .env_remove("KEYVAL_DBFILENAME")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        configure(&mut cmd);
        let mut child = cmd.spawn().expect("cannot start server");
        let stderr = child.stderr.take().expect("piped stderr");
        let (tx, rx) = std::sync::mpsc::channel();
        // Forward the port, then keep draining stderr so the server never blocks on it.
        std::thread::spawn(move || {
            use std::io::BufRead;
            let mut tx = Some(tx);
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                if let Some(addr) = line.split("listening on ").nth(1)
                    && let Some(tx) = tx.take()
                {
                    let _ = tx.send(addr.trim().to_string());
                }
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("server did not report its address");
        let port = addr
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("port in the ready line");
        Server { child, port, dir }
    }

    /// A new client connection.
    pub fn client(&self) -> Client {
        Client::connect(self.port)
    }

    /// Sends SIGTERM, waits for the exit, and hands over the directory (with whatever the
    /// server saved there) instead of removing it.
    pub fn terminate_keeping_dir(mut self) -> (std::process::ExitStatus, PathBuf) {
        let status = self.signal_and_wait(libc::SIGTERM);
        (status, std::mem::take(&mut self.dir))
    }

    /// Sends `sig` and waits for the exit status.
    pub fn signal_and_wait(&mut self, sig: i32) -> std::process::ExitStatus {
        let pid = self.child.id() as i32;
        // SAFETY: sending a signal to our own child process.
        unsafe {
            libc::kill(pid, sig);
        }
        let status = wait_for(Duration::from_secs(30), || {
            self.child.try_wait().ok().flatten()
        });
        status.expect("server did not exit after the signal")
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id() as i32;
        // SAFETY: sending a signal to our own child process.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
        let status = wait_for(Duration::from_secs(10), || {
            self.child.try_wait().ok().flatten()
        });
        status.expect("server did not exit after SIGTERM")
    }

    /// True while the process runs.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // (Empty when a test took the directory over to restart a server in it.)
        if !self.dir.as_os_str().is_empty() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// A raw RESP client.
pub struct Client {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

/// Encodes a command as a RESP multibulk request.
pub fn encode(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Length of the first complete RESP reply in `buf`, if there is one.
pub fn reply_len(buf: &[u8]) -> Option<usize> {
    fn line(buf: &[u8], from: usize) -> Option<usize> {
        buf[from..]
            .windows(2)
            .position(|w| w == b"\r\n")
            .map(|p| from + p)
    }
    fn one(buf: &[u8], at: usize) -> Option<usize> {
        let t = *buf.get(at)?;
        let end = line(buf, at)?;
        // Only lengths are parsed: a simple string or error line may hold any bytes.
        let head = || std::str::from_utf8(&buf[at + 1..end]).unwrap_or("");
        match t {
            b'+' | b'-' | b':' | b',' | b'#' | b'_' | b'(' => Some(end + 2),
            b'$' | b'=' | b'!' => {
                let n: i64 = head().parse().ok()?;
                if n < 0 {
                    return Some(end + 2);
                }
                let stop = end + 2 + n as usize + 2;
                (buf.len() >= stop).then_some(stop)
            }
            b'|' => {
                // Attributes, then the reply they describe.
                let n: i64 = head().parse().ok()?;
                let mut pos = end + 2;
                for _ in 0..(n * 2).max(0) {
                    pos = one(buf, pos)?;
                }
                one(buf, pos)
            }
            b'*' | b'~' | b'%' | b'>' => {
                let n: i64 = head().parse().ok()?;
                let count = if t == b'%' { n * 2 } else { n };
                let mut pos = end + 2;
                for _ in 0..count.max(0) {
                    pos = one(buf, pos)?;
                }
                Some(pos)
            }
            _ => None,
        }
    }
    one(buf, 0)
}

impl Client {
    /// Connects to the server on `port`.
    pub fn connect(port: u16) -> Client {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .expect("timeout");
        stream.set_nodelay(true).expect("nodelay");
        Client {
            stream,
            buf: Vec::new(),
        }
    }

    /// A client over an already connected stream.
    pub fn from_stream(stream: TcpStream) -> Client {
        Client {
            stream,
            buf: Vec::new(),
        }
    }

    /// The client side's local port (to find the connection in /proc/net/tcp).
    pub fn local_port(&self) -> u16 {
        self.stream.local_addr().expect("local addr").port()
    }

    /// Sends raw bytes.
    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write");
    }

    /// Sends a command given as separate arguments.
    pub fn send(&mut self, args: &[&[u8]]) {
        self.send_raw(&encode(args));
    }

    /// Reads exactly one reply, returned raw.
    pub fn read_reply(&mut self) -> Vec<u8> {
        loop {
            if let Some(n) = reply_len(&self.buf) {
                return self.buf.drain(..n).collect();
            }
            let mut chunk = [0u8; 65536];
            // A signal (the test harness's, a profiler's) may interrupt the read: retry.
            let n = match self.stream.read(&mut chunk) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                r => r.expect("read reply"),
            };
            assert!(
                n > 0,
                "connection closed while waiting for a reply; got so far: {:?}",
                String::from_utf8_lossy(&self.buf)
            );
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Sends a command (arguments split on spaces) and returns its raw reply.
    pub fn cmd(&mut self, line: &str) -> Vec<u8> {
        let args: Vec<&[u8]> = line.split(' ').map(str::as_bytes).collect();
        self.send(&args);
        self.read_reply()
    }

    /// Sends a command given as arguments and returns its raw reply.
    pub fn call(&mut self, args: &[&[u8]]) -> Vec<u8> {
        self.send(args);
        self.read_reply()
    }

    /// Sends a command given as string arguments (which may hold spaces) and returns its
    /// raw reply.
    pub fn cmd_args(&mut self, args: &[&str]) -> Vec<u8> {
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        self.call(&args)
    }

    /// Sends a command and returns the reply as a string (lossy), for readable asserts.
    pub fn cmd_str(&mut self, line: &str) -> String {
        String::from_utf8_lossy(&self.cmd(line)).into_owned()
    }

    /// Reads until the server closes the connection; returns what arrived before. A reset
    /// counts as a close: a server that closes with unread input (as Redis does after a
    /// protocol error) makes the kernel send RST after the reply.
    pub fn read_to_eof(&mut self) -> Vec<u8> {
        let mut all = std::mem::take(&mut self.buf);
        let mut chunk = [0u8; 65536];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => return all,
                Ok(n) => all.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return all,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => panic!("reading until the server closes: {e}; got {all:?}"),
            }
        }
    }

    /// Parses an integer reply.
    pub fn int(&mut self, line: &str) -> i64 {
        let r = self.cmd_str(line);
        r.strip_prefix(':')
            .and_then(|v| v.trim_end().parse().ok())
            .unwrap_or_else(|| panic!("not an integer reply to {line}: {r:?}"))
    }
}

/// True when the test run must not skip tests that need external tools (CI sets it).
pub fn tools_required() -> bool {
    std::env::var("KEYVAL_REQUIRE_TOOLS").is_ok_and(|v| v == "1")
}

/// Whether an external program is on PATH. When missing: panics if tools are required,
/// otherwise prints why the test is skipped and returns false.
pub fn have_tool(name: &str) -> bool {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {name}"))
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        assert!(
            !tools_required(),
            "{name} is required (KEYVAL_REQUIRE_TOOLS=1) but not installed"
        );
        eprintln!("SKIPPED: {name} is not installed");
    }
    found
}

/// A redis-server started for a test (the reference our replies are compared with);
/// killed and its directory removed when dropped.
pub struct Redis {
    pub child: Child,
    pub port: u16,
    dir: PathBuf,
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Starts redis-server when it is installed and is version 7.0 (whose behaviour we copy);
/// None (after printing SKIPPED) otherwise.
pub fn start_redis() -> Option<Redis> {
    start_redis_with(&[])
}

/// As [`start_redis`], with more redis-server flags (`--enable-debug-command yes`).
pub fn start_redis_with(extra: &[&str]) -> Option<Redis> {
    if !have_tool("redis-server") {
        return None;
    }
    let redis = spawn_redis_with(extra);
    let info = Client::connect(redis.port).cmd_str("INFO server");
    if !info.contains("redis_version:7.0.") {
        eprintln!("SKIPPED the Redis half: this redis-server is not 7.0");
        return None;
    }
    Some(redis)
}

/// Starts redis-server, whatever its version, on a free port; panics when it cannot. Other
/// processes pick free ports too, so the server that answers must report the process id
/// started here, or another port is tried.
pub fn spawn_redis() -> Redis {
    spawn_redis_with(&[])
}

/// As [`spawn_redis`], with more redis-server flags.
pub fn spawn_redis_with(extra: &[&str]) -> Redis {
    for _ in 0..5 {
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("keyval-redis-{port}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            // A safety net: a runaway reply (say HRANDFIELD with a huge negative count)
            // must not grow redis-server until the machine runs out of memory.
            .args(["--client-output-buffer-limit", "normal 256mb 256mb 0"])
            .args(extra)
            .current_dir(&dir)
            .stdout(Stdio::null())
            .spawn()
            .expect("start redis-server");
        let pid = child.id();
        let redis = Redis { child, port, dir };
        let up = wait_for(Duration::from_secs(10), || {
            TcpStream::connect(("127.0.0.1", port)).ok()
        });
        if up.is_none() {
            continue;
        }
        if !is_process_on_port(port, pid) {
            continue; // another process holds (or just held) the port
        }
        return redis;
    }
    panic!("could not start redis-server on a free port");
}

/// Runs `scenario` on our server and, when installed, on redis-server; the transcripts
/// (raw replies and messages, as text) must be equal. A difference names its first line.
pub fn same_on_both(scenario: impl Fn(u16) -> Vec<String>) {
    let ours = Server::start(&[]);
    let got = scenario(ours.port);
    if let Some(redis) = start_redis() {
        let want = scenario(redis.port);
        if got != want {
            let first = got
                .iter()
                .zip(&want)
                .position(|(a, b)| a != b)
                .unwrap_or(got.len().min(want.len()));
            panic!(
                "transcripts differ at line {first}:\n  ours:  {:?}\n  redis: {:?}\n\
                 (ours has {} lines, redis {})",
                got.get(first),
                want.get(first),
                got.len(),
                want.len()
            );
        }
    }
}

/// A raw reply as text, for readable transcripts and diffs.
pub fn text(raw: impl AsRef<[u8]>) -> String {
    String::from_utf8_lossy(raw.as_ref()).into_owned()
}

/// Runs `check` on our server (started with the `extra` flags) and, when installed, on
/// redis-server.
pub fn on_both(extra: &[&str], check: impl Fn(u16)) {
    let ours = Server::start(extra);
    check(ours.port);
    if let Some(redis) = start_redis() {
        check(redis.port);
    }
}

/// The server that the tests of client programs (keyval-cli, the loadtest tools) talk to:
/// rust-keyval, or redis-server (any version) when `KEYVAL_TEST_SERVER=redis`, to check that
/// those tests hold against the reference implementation. Stopped when dropped.
pub enum TestServer {
    Ours(Server),
    Redis(Redis),
}

impl TestServer {
    /// Starts the server `KEYVAL_TEST_SERVER` asks for.
    pub fn start() -> TestServer {
        if std::env::var("KEYVAL_TEST_SERVER").is_ok_and(|v| v == "redis") {
            TestServer::Redis(spawn_redis())
        } else {
            TestServer::Ours(Server::start(&[]))
        }
    }

    /// The loopback port it listens on.
    pub fn port(&self) -> u16 {
        match self {
            TestServer::Ours(s) => s.port,
            TestServer::Redis(r) => r.port,
        }
    }
}

/// A decoded reply.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Resp {
    /// `+`, `-`, `:`, `,` or `#` lines, kept with their type byte.
    Line(Vec<u8>),
    /// A bulk string (None: null).
    Bulk(Option<Vec<u8>>),
    /// An array, set or map (flattened), with its type byte (None: null array).
    Agg(u8, Option<Vec<Resp>>),
}

/// Decodes one reply starting at `*pos`.
pub fn decode(buf: &[u8], pos: &mut usize) -> Resp {
    let end = *pos
        + buf[*pos..]
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("reply line");
    let (t, head) = (buf[*pos], &buf[*pos + 1..end]);
    let line = buf[*pos..end].to_vec();
    *pos = end + 2;
    let n = || -> i64 {
        std::str::from_utf8(head)
            .expect("digits")
            .parse()
            .expect("length")
    };
    match t {
        b'$' if n() < 0 => Resp::Bulk(None),
        b'$' => {
            let len = n() as usize;
            let data = buf[*pos..*pos + len].to_vec();
            *pos += len + 2;
            Resp::Bulk(Some(data))
        }
        b'*' | b'~' | b'%' if n() < 0 => Resp::Agg(t, None),
        b'*' | b'~' | b'%' => {
            let count = if t == b'%' { 2 * n() } else { n() };
            Resp::Agg(t, Some((0..count).map(|_| decode(buf, pos)).collect()))
        }
        b'_' => Resp::Bulk(None),
        _ => Resp::Line(line),
    }
}

/// Decodes a whole raw reply.
pub fn parse(raw: &[u8]) -> Resp {
    let mut pos = 0;
    let r = decode(raw, &mut pos);
    assert_eq!(
        pos,
        raw.len(),
        "trailing bytes in {:?}",
        String::from_utf8_lossy(raw)
    );
    r
}

/// The bulk strings of an array, set or map reply, in reply order.
pub fn bulk_strings(raw: &[u8]) -> Vec<Vec<u8>> {
    match parse(raw) {
        Resp::Agg(_, Some(items)) => items
            .into_iter()
            .map(|i| match i {
                Resp::Bulk(Some(b)) => b,
                other => panic!("not a bulk string: {other:?}"),
            })
            .collect(),
        other => panic!("not an array: {other:?}"),
    }
}

/// A reply with its top-level aggregate sorted, for replies whose order is a hash table's;
/// `pairwise` sorts it as (field, value) pairs.
pub fn sorted(raw: &[u8], pairwise: bool) -> Resp {
    match parse(raw) {
        Resp::Agg(t, Some(items)) if pairwise => {
            let mut chunks: Vec<Vec<Resp>> = items.chunks(2).map(<[Resp]>::to_vec).collect();
            chunks.sort();
            Resp::Agg(t, Some(chunks.concat()))
        }
        Resp::Agg(t, Some(mut items)) => {
            items.sort();
            Resp::Agg(t, Some(items))
        }
        other => other,
    }
}

/// xorshift64*: a reproducible random sequence.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// A number in `-span..=span`.
    pub fn signed(&mut self, span: i64) -> i64 {
        self.below(2 * span as u64 + 1) as i64 - span
    }

    /// One of `items`.
    pub fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

/// Runs `redis-benchmark -q -n N -t TESTS` against `port` and checks that it ran clean:
/// exit status 0, no "error" anywhere, and for each of `expect` (names as redis-benchmark
/// prints them, e.g. `"LRANGE_100 (first 100 elements)"`) a line with a throughput above 0.
pub fn redis_benchmark(port: u16, tests: &str, n: u32, expect: &[&str]) {
    let out = Command::new("redis-benchmark")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(["-t", tests, "-n", &n.to_string(), "-q"])
        .stdin(Stdio::null())
        .output()
        .expect("run redis-benchmark");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "redis-benchmark failed: {stderr}");
    // `-q` prints "TEST: N requests per second, p50=..." per test, and errors otherwise.
    for test in expect {
        let line = stdout
            .split(['\r', '\n'])
            .find(|l| l.starts_with(&format!("{test}: ")) && l.contains("requests per second"))
            .unwrap_or_else(|| panic!("no result for {test} in:\n{stdout}"));
        let rps: f64 = line[test.len() + 2..]
            .split_whitespace()
            .next()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
        assert!(rps > 0.0, "{line}");
    }
    assert!(!stdout.to_lowercase().contains("error"), "{stdout}");
    assert!(!stderr.to_lowercase().contains("error"), "{stderr}");
}

/// A numeric field of an INFO section (`INFO stats`, `keyspace_hits`).
pub fn info_field(c: &mut Client, section: &str, field: &str) -> u64 {
    let info = c.cmd_str(&format!("INFO {section}"));
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in INFO {section}"))
}

/// `(keyspace_hits, keyspace_misses)` from INFO stats.
pub fn hits_misses(c: &mut Client) -> (i64, i64) {
    (
        info_field(c, "stats", "keyspace_hits") as i64,
        info_field(c, "stats", "keyspace_misses") as i64,
    )
}

/// A connection to `port` on 127.0.0.1 made from the source address `from` (another
/// loopback address such as 127.0.0.2, which Redis does not count as local).
pub fn connect_from(from: std::net::Ipv4Addr, port: u16) -> TcpStream {
    use std::os::fd::FromRawFd;
    let sockaddr = |ip: std::net::Ipv4Addr, port: u16| libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(ip).to_be(),
        },
        sin_zero: [0; 8],
    };
    let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    let local = sockaddr(from, 0);
    let remote = sockaddr(std::net::Ipv4Addr::LOCALHOST, port);
    // SAFETY: plain socket calls on a descriptor created here; the addresses are valid
    // sockaddr_in values on the stack and `len` is their size. The descriptor is handed to
    // the TcpStream, which closes it, only once connected (or closed here on failure).
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
        assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
        let ok = libc::bind(fd, (&local as *const libc::sockaddr_in).cast(), len) == 0
            && libc::connect(fd, (&remote as *const libc::sockaddr_in).cast(), len) == 0;
        if !ok {
            let e = std::io::Error::last_os_error();
            libc::close(fd);
            panic!("connect from {from} to port {port}: {e}");
        }
        let stream = TcpStream::from_raw_fd(fd);
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .expect("timeout");
        stream
    }
}

/// Resident memory of process `pid` now, in bytes.
pub fn rss(pid: u32) -> u64 {
    let statm = std::fs::read_to_string(format!("/proc/{pid}/statm")).expect("statm");
    let pages: u64 = statm
        .split(' ')
        .nth(1)
        .and_then(|v| v.parse().ok())
        .expect("rss");
    pages * 4096
}

/// Peak resident memory (VmHWM) of process `pid`, in bytes.
pub fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .expect("VmHWM")
        * 1024
}

/// Sends PING on `c` until the answer is -BUSY (a script passed busy-reply-threshold);
/// returns that answer.
pub fn until_busy(c: &mut Client) -> String {
    let busy = wait_for(Duration::from_secs(10), || {
        let r = text(c.cmd("PING"));
        r.starts_with("-BUSY").then_some(r)
    });
    busy.expect("the server never answered -BUSY")
}

/// Whether the server answering on `port` is process `pid` (INFO server's process_id). A
/// connection refused or reset (another test's server that was just stopping) is a no.
fn is_process_on_port(port: u16, pid: u32) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    if s.write_all(b"INFO server\r\n").is_err() {
        return false;
    }
    let want = format!("process_id:{pid}\r\n");
    let mut text = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = s.read(&mut buf) {
        if n == 0 {
            break;
        }
        text.extend_from_slice(&buf[..n]);
        let seen = String::from_utf8_lossy(&text);
        if seen.contains(&want) {
            return true;
        }
        // The whole bulk reply arrived without it.
        if seen.ends_with("\r\n\r\n") || text.len() > 1 << 20 {
            break;
        }
    }
    false
}
