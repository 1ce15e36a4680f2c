//! The append-only file (Redis 7's multi-part AOF): every type survives a restart through
//! the base and incr files, acknowledged writes survive kill -9, files move between
//! rust-keyval and redis-server 7.0 both ways, torn tails and unfinished transactions are
//! cut off, damaged directories stop the start untouched, commands whose effect depends on
//! time or randomness are written as their deterministic effect, CONFIG SET appendonly,
//! and BGREWRITEAOF behind a BGSAVE.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Client, Resp, Server, free_port, have_tool, info_field, parse, text, wait_for};

const PATIENCE: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------------------
// Starting and stopping servers

/// Starts our server in `dir` with no save points (only the AOF persists) and `flags`.
fn ours_in(dir: PathBuf, flags: &[&str]) -> Server {
    Server::start_in(dir, |cmd| {
        cmd.args(["--save", ""]).args(flags);
    })
}

/// Starts our server with the AOF on in a fresh directory.
fn ours_aof(flags: &[&str]) -> Server {
    let mut all = vec!["--appendonly", "yes"];
    all.extend_from_slice(flags);
    ours_in(common::fresh_dir("aof"), &all)
}

/// Restarts our server with the AOF on in `dir`.
fn restart_aof(dir: PathBuf, flags: &[&str]) -> Server {
    let mut all = vec!["--appendonly", "yes"];
    all.extend_from_slice(flags);
    ours_in(dir, &all)
}

/// Waits for the process to exit by itself, and hands over its directory.
fn wait_exit(mut server: Server) -> (ExitStatus, PathBuf) {
    let status = wait_for(PATIENCE, || server.child.try_wait().ok().flatten())
        .expect("the server did not exit");
    (status, std::mem::take(&mut server.dir))
}

/// SHUTDOWN NOSAVE: the connection closes with no reply and the process exits 0.
fn shutdown_nosave(server: Server) -> PathBuf {
    let mut c = server.client();
    c.send(&[b"SHUTDOWN", b"NOSAVE"]);
    assert!(c.read_to_eof().is_empty(), "SHUTDOWN NOSAVE replied");
    let (status, dir) = wait_exit(server);
    assert!(status.success(), "SHUTDOWN NOSAVE exited with {status}");
    dir
}

/// Sends `sig` and hands over the directory.
fn kill_keeping_dir(mut server: Server, sig: i32) -> PathBuf {
    server.signal_and_wait(sig);
    std::mem::take(&mut server.dir)
}

/// Runs our server in `dir` expecting it to refuse to start: returns its exit status and
/// log. Panics (after killing it) if it reports that it accepts connections.
fn start_fails(dir: &Path, flags: &[&str]) -> (ExitStatus, String) {
    let mut child = Command::new(common::server_bin())
        .current_dir(dir)
        .args([
            "--bind",
            "127.0.0.1:0",
            "--metrics-bind",
            "off",
            "--save",
            "",
        ])
        .args(flags)
        .env_remove("KEYVAL_BIND")
        .env_remove("METRICS_BIND")
        .env_remove("KEYVAL_SAVE")
        .env_remove("KEYVAL_DIR")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the server");
    let log = collect(child.stderr.take().expect("piped stderr"));
    let status = wait_for(PATIENCE, || {
        if log.lock().unwrap().contains("ready to accept connections") {
            return Some(None);
        }
        child.try_wait().ok().flatten().map(Some)
    });
    match status {
        Some(Some(status)) => {
            // The pipe closes at exit; give the reader a moment to take the last lines.
            let _ = wait_for(Duration::from_secs(2), || {
                Arc::strong_count(&log).eq(&1).then_some(())
            });
            (status, log.lock().unwrap().clone())
        }
        _ => {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "the server started (or hung) instead of refusing:\n{}",
                log.lock().unwrap()
            );
        }
    }
}

/// Collects everything `from` produces into a shared string, on a thread (which drops its
/// handle at EOF).
fn collect(mut from: impl std::io::Read + Send + 'static) -> Arc<Mutex<String>> {
    let out = Arc::new(Mutex::new(String::new()));
    let mine = Arc::clone(&out);
    std::thread::spawn(move || {
        let mut chunk = [0u8; 8192];
        loop {
            match from.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => mine
                    .lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&chunk[..n])),
            }
        }
    });
    out
}

/// A redis-server started in a directory of ours (which may hold an appendonlydir to
/// load); killed when dropped, the directory left to its owner.
struct RedisIn {
    child: Child,
    port: u16,
    log: Arc<Mutex<String>>,
}

impl RedisIn {
    /// Starts redis-server in `dir` with `flags`, waiting until it has loaded its data.
    fn start(dir: &Path, flags: &[&str]) -> RedisIn {
        for _ in 0..5 {
            let port = free_port();
            let mut child = Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--save", ""])
                .arg("--dir")
                .arg(dir)
                .args(flags)
                .stdout(Stdio::piped())
                .spawn()
                .expect("start redis-server");
            let log = collect(child.stdout.take().expect("piped stdout"));
            let pid = child.id();
            let mut redis = RedisIn { child, port, log };
            let up = wait_for(PATIENCE, || {
                if !matches!(redis.child.try_wait(), Ok(None)) {
                    return Some(false);
                }
                std::net::TcpStream::connect(("127.0.0.1", port))
                    .ok()
                    .map(|_| true)
            });
            assert_eq!(
                up,
                Some(true),
                "redis-server did not start:\n{}",
                redis.log()
            );
            let mut c = Client::connect(port);
            // -LOADING until the files are read.
            let ready = wait_for(PATIENCE, || (c.cmd("PING") == b"+PONG\r\n").then_some(()));
            assert!(
                ready.is_some(),
                "redis-server never loaded:\n{}",
                redis.log()
            );
            if !c
                .cmd_str("INFO server")
                .contains(&format!("process_id:{pid}\r\n"))
            {
                continue; // another process holds the port
            }
            return redis;
        }
        panic!("could not start redis-server on a free port");
    }

    fn client(&self) -> Client {
        Client::connect(self.port)
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// SHUTDOWN NOSAVE, and waits for the exit.
    fn shutdown(mut self) {
        let mut c = self.client();
        c.send(&[b"SHUTDOWN", b"NOSAVE"]);
        c.read_to_eof();
        let exited = wait_for(PATIENCE, || self.child.try_wait().ok().flatten());
        assert!(exited.is_some_and(|s| s.success()), "{}", self.log());
    }
}

impl Drop for RedisIn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether redis-server is installed and 7.0 (the version whose AOF we write).
fn have_redis_7_0() -> bool {
    if !have_tool("redis-server") {
        return false;
    }
    let out = Command::new("redis-server")
        .arg("--version")
        .output()
        .expect("redis-server --version");
    let version = String::from_utf8_lossy(&out.stdout).into_owned();
    if !version.contains("v=7.0.") {
        assert!(
            !common::tools_required(),
            "redis-server is not 7.0: {version}"
        );
        eprintln!("SKIPPED the Redis half: {version}");
        return false;
    }
    true
}

// ---------------------------------------------------------------------------------------
// The AOF directory

fn aof_dir(dir: &Path) -> PathBuf {
    dir.join("appendonlydir")
}

fn manifest_path(dir: &Path) -> PathBuf {
    aof_dir(dir).join("appendonly.aof.manifest")
}

/// The files the manifest lists as `(name, type)`, in its order.
fn manifest_files(dir: &Path) -> Vec<(String, String)> {
    let manifest = std::fs::read_to_string(manifest_path(dir)).expect("read the manifest");
    manifest
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            let value = |key: &str| {
                let at = words.iter().position(|w| *w == key).expect(key);
                words[at + 1].to_string()
            };
            (value("file"), value("type"))
        })
        .collect()
}

/// Path of the last incr file the manifest lists.
fn last_incr(dir: &Path) -> PathBuf {
    let name = manifest_files(dir)
        .into_iter()
        .filter(|(_, t)| t == "i")
        .map(|(n, _)| n)
        .next_back()
        .expect("an incr file in the manifest");
    aof_dir(dir).join(name)
}

/// Every incr file's contents, concatenated.
fn incr_text(dir: &Path) -> Vec<u8> {
    manifest_files(dir)
        .into_iter()
        .filter(|(_, t)| t == "i")
        .flat_map(|(n, _)| std::fs::read(aof_dir(dir).join(n)).expect("read an incr file"))
        .collect()
}

/// Every file of the AOF directory, by name.
fn files_of(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(aof_dir(dir))
        .expect("list the AOF directory")
        .map(|e| {
            let e = e.expect("entry");
            let name = e.file_name().to_string_lossy().into_owned();
            (name, std::fs::read(e.path()).expect("read"))
        })
        .collect()
}

fn append(path: &Path, bytes: &[u8]) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .expect("open for appending");
    f.write_all(bytes).expect("append");
}

/// Copies `from`'s AOF directory into a fresh directory (for another server to load).
fn copy_aof_dir(from: &Path, tag: &str) -> PathBuf {
    let to = common::fresh_dir(tag);
    std::fs::create_dir_all(aof_dir(&to)).expect("mkdir");
    for (name, bytes) in files_of(from) {
        std::fs::write(aof_dir(&to).join(name), bytes).expect("copy");
    }
    to
}

/// redis-server started with `--appendonly yes` on the AOF directory in `dir` holds the
/// dataset `want` (`dump`'s form, with TTLs when `ttls`).
fn assert_redis_replays(dir: &Path, ttls: bool, want: &[String], what: &str) {
    let redis = RedisIn::start(dir, &["--appendonly", "yes"]);
    assert_same(&dump(&mut redis.client(), ttls), want, what);
}

/// Polls INFO persistence until no rewrite runs.
fn wait_rewrite_done(c: &mut Client) {
    let done = wait_for(PATIENCE, || {
        let info = c.cmd_str("INFO persistence");
        (info.contains("aof_rewrite_in_progress:0") && info.contains("aof_rewrite_scheduled:0"))
            .then_some(())
    });
    assert!(done.is_some(), "the AOF rewrite did not finish");
}

/// BGREWRITEAOF, and waits for it to end successfully.
fn rewrite(c: &mut Client) {
    let before = info_field(c, "persistence", "aof_rewrites");
    let reply = c.cmd_str("BGREWRITEAOF");
    assert!(
        reply.starts_with("+Background append only file rewriting"),
        "{reply}"
    );
    let done = wait_for(PATIENCE, || {
        (info_field(c, "persistence", "aof_rewrites") > before).then_some(())
    });
    assert!(done.is_some(), "the AOF rewrite did not finish");
    wait_rewrite_done(c);
    assert!(
        c.cmd_str("INFO persistence")
            .contains("aof_last_bgrewrite_status:ok")
    );
}

// ---------------------------------------------------------------------------------------
// A logical dump of the whole dataset

fn esc(b: &[u8]) -> String {
    b.escape_ascii().to_string()
}

/// A decoded reply as compact text.
fn show(r: &Resp) -> String {
    match r {
        Resp::Line(l) => esc(l),
        Resp::Bulk(None) => "nil".into(),
        Resp::Bulk(Some(b)) => format!("\"{}\"", esc(b)),
        Resp::Agg(_, None) => "nil[]".into(),
        Resp::Agg(_, Some(items)) => {
            format!("[{}]", items.iter().map(show).collect::<Vec<_>>().join(" "))
        }
    }
}

fn items(r: Resp) -> Vec<Resp> {
    match r {
        Resp::Agg(_, Some(items)) => items,
        other => panic!("not an array: {other:?}"),
    }
}

fn bulk(r: &Resp) -> Vec<u8> {
    match r {
        Resp::Bulk(Some(b)) => b.clone(),
        Resp::Line(l) => l[1..].to_vec(),
        other => panic!("not a string: {other:?}"),
    }
}

/// A flat `key value key value` reply, keeping the keys in `keep`, as text.
fn fields(r: Resp, keep: &[&str]) -> String {
    let items = items(r);
    items
        .chunks(2)
        .filter(|p| keep.contains(&text(bulk(&p[0])).as_str()))
        .map(|p| format!("{}={}", text(bulk(&p[0])), show(&p[1])))
        .collect::<Vec<_>>()
        .join(",")
}

fn q(c: &mut Client, args: &[&[u8]]) -> Resp {
    let raw = c.call(args);
    assert!(
        !raw.starts_with(b"-"),
        "{:?}: {}",
        args_text(args),
        text(&raw)
    );
    parse(&raw)
}

fn args_text(args: &[&[u8]]) -> String {
    args.iter().map(|a| esc(a)).collect::<Vec<_>>().join(" ")
}

/// A stream as text: entries, the metadata that survives a restart, groups with their
/// pending entries (delivery counts, not times) and consumers (pending counts, not idle).
fn show_stream(c: &mut Client, key: &[u8]) -> String {
    let mut out = vec![show(&q(c, &[b"XRANGE", key, b"-", b"+"]))];
    out.push(fields(
        q(c, &[b"XINFO", b"STREAM", key]),
        &[
            "length",
            "last-generated-id",
            "max-deleted-entry-id",
            "entries-added",
            "recorded-first-entry-id",
            "groups",
        ],
    ));
    for group in items(q(c, &[b"XINFO", b"GROUPS", key])) {
        let name = bulk(&items(group.clone())[1]);
        // Not entries-read and lag: Redis 7.0 writes XREADGROUP as XCLAIM ... LASTID,
        // whose replay leaves entries-read unknown (its own restart loses them too).
        out.push(format!(
            "group {}",
            fields(
                group,
                &["name", "consumers", "pending", "last-delivered-id"]
            )
        ));
        for p in items(q(c, &[b"XPENDING", key, &name, b"-", b"+", b"1000000"])) {
            let p = items(p);
            // id, consumer, idle (a time: dropped), deliveries
            out.push(format!(
                "pel {} {} {}",
                show(&p[0]),
                show(&p[1]),
                show(&p[3])
            ));
        }
        for consumer in items(q(c, &[b"XINFO", b"CONSUMERS", key, &name])) {
            out.push(format!(
                "consumer {}",
                fields(consumer, &["name", "pending"])
            ));
        }
    }
    out.join(" | ")
}

/// Every key of every database, read per its type, sorted; the TTL as its presence or,
/// with `exact_ttl`, as PEXPIRETIME; then the function libraries with their code.
fn dump(c: &mut Client, exact_ttl: bool) -> Vec<String> {
    let mut out = Vec::new();
    for db in 0..16 {
        assert_eq!(c.cmd(&format!("SELECT {db}")), b"+OK\r\n");
        let mut keys = Vec::new();
        let mut cursor = b"0".to_vec();
        loop {
            let reply = items(q(c, &[b"SCAN", &cursor, b"COUNT", b"1000"]));
            cursor = bulk(&reply[0]);
            keys.extend(items(reply[1].clone()).iter().map(bulk));
            if cursor == b"0" {
                break;
            }
        }
        keys.sort();
        keys.dedup();
        for key in keys {
            let ty = text(bulk(&q(c, &[b"TYPE", &key])));
            let body = match ty.as_str() {
                "string" => show(&q(c, &[b"GET", &key])),
                "list" => show(&q(c, &[b"LRANGE", &key, b"0", b"-1"])),
                "hash" => {
                    let mut pairs: Vec<String> = items(q(c, &[b"HGETALL", &key]))
                        .chunks(2)
                        .map(|p| format!("{}={}", show(&p[0]), show(&p[1])))
                        .collect();
                    pairs.sort();
                    pairs.join(",")
                }
                "set" => {
                    let mut members: Vec<String> =
                        items(q(c, &[b"SMEMBERS", &key])).iter().map(show).collect();
                    members.sort();
                    members.join(",")
                }
                "zset" => show(&q(c, &[b"ZRANGE", &key, b"0", b"-1", b"WITHSCORES"])),
                "stream" => show_stream(c, &key),
                other => panic!("type {other} of {}", esc(&key)),
            };
            let ttl = if exact_ttl {
                show(&q(c, &[b"PEXPIRETIME", &key]))
            } else {
                let ms = show(&q(c, &[b"PTTL", &key]));
                if ms.starts_with(":-") { "none" } else { "set" }.to_string()
            };
            out.push(format!("db{db} {} {ty} ttl={ttl} {body}", esc(&key)));
        }
    }
    c.cmd("SELECT 0");
    // Libraries come in hash-table order: sorted.
    let mut libraries: Vec<String> = items(q(c, &[b"FUNCTION", b"LIST", b"WITHCODE"]))
        .iter()
        .map(show)
        .collect();
    libraries.sort();
    out.push(format!("functions {}", libraries.join(" ")));
    out
}

/// Compares two dumps line by line, naming the first difference.
fn assert_same(got: &[String], want: &[String], what: &str) {
    let short = |s: &str| s.chars().take(600).collect::<String>();
    for (g, w) in got.iter().zip(want) {
        assert!(g == w, "{what}:\n got: {}\nwant: {}", short(g), short(w));
    }
    let (g, w) = (got.len(), want.len());
    assert!(
        g == w,
        "{what}: {g} lines, want {w}; extra: {:?}",
        if g > w { &got[w..] } else { &want[g..] }
    );
}

fn ok(c: &mut Client, line: &str) {
    let r = c.cmd(line);
    assert!(!r.starts_with(b"-"), "{line}: {}", text(r));
}

fn ok_args(c: &mut Client, args: &[&str]) {
    let r = c.cmd_args(args);
    assert!(!r.starts_with(b"-"), "{args:?}: {}", text(r));
}

/// Sends many commands in one pipeline; every reply must be a success.
fn pipeline(c: &mut Client, cmds: &[Vec<String>]) {
    let mut batch = Vec::new();
    for cmd in cmds {
        let args: Vec<&[u8]> = cmd.iter().map(|a| a.as_bytes()).collect();
        batch.extend(common::encode(&args));
    }
    c.send_raw(&batch);
    for cmd in cmds {
        let r = c.read_reply();
        assert!(!r.starts_with(b"-"), "{cmd:?}: {}", text(r));
    }
}

const LIBRARY: &str = "#!lua name=aoflib\n\
    redis.register_function('aofget', function(keys) return redis.call('GET', keys[1]) end)";

/// Every type, small and big encodings, TTLs, databases 0 and 3, a stream with a group
/// and pending entries, a function library: the part written before a rewrite.
fn fill_first_half(c: &mut Client) {
    for line in [
        "SET s:int 12345",
        "SET s:neg -9223372036854775808",
        "SET s:short hello",
        "RPUSH l:small a b 1 2 -3",
        "HSET h:small f1 v1 f2 2",
        "SADD set:int 1 2 3 -70000 5000000000",
        "SADD set:str apple banana 42",
        "ZADD z:small 1 a 2.5 b -inf c",
        "SET ttl:ex v EX 100000",
        "SET ttl:later v",
        "EXPIRE ttl:later 200000",
        "HSET ttl:hash f v",
        "PEXPIRE ttl:hash 300000000",
        "XADD st 1-1 f v",
        "XADD st 2-1 f v2 g x",
        "XADD st 3-1 f v3",
        "XDEL st 2-1",
        "XGROUP CREATE st grp 0",
        "XREADGROUP GROUP grp alice COUNT 1 STREAMS st >",
        "SELECT 3",
        "SET db3:key three",
        "RPUSH db3:list x y z",
        "SELECT 0",
    ] {
        ok(c, line);
    }
    ok_args(c, &["SET", "s:long", &"a long string value ".repeat(10)]);
    let binary: Vec<u8> = (0..=255u8).collect();
    assert_eq!(c.call(&[b"SET", b"s:binary", &binary]), b"+OK\r\n");
    let mut big = Vec::new();
    for i in 0..300 {
        let (m, v) = (format!("m{i}"), format!("value-{i}"));
        big.push(vec!["RPUSH".into(), "l:big".into(), v.clone()]);
        big.push(vec!["HSET".into(), "h:big".into(), m.clone(), v]);
        big.push(vec!["SADD".into(), "set:big".into(), m.clone()]);
        big.push(vec![
            "ZADD".into(),
            "z:big".into(),
            (i as f64 / 3.0).to_string(),
            m,
        ]);
    }
    pipeline(c, &big);
    ok_args(c, &["FUNCTION", "LOAD", LIBRARY]);
}

/// Changes after the rewrite: they land in the new incr file.
fn fill_second_half(c: &mut Client) {
    for line in [
        "APPEND s:short -world",
        "INCRBY s:int 5",
        "LPUSH l:big head",
        "LSET l:small 0 A",
        "HDEL h:big m7",
        "HSET h:small f3 v3",
        "SREM set:big m1 m2",
        "SADD set:int 7",
        "ZINCRBY z:big 10 m5",
        "ZREM z:small c",
        "XADD st 4-1 f v4",
        "XADD st 5-1 f v5",
        "XREADGROUP GROUP grp bob COUNT 2 STREAMS st >",
        "XACK st grp 4-1",
        "XGROUP CREATE st other $",
        "SET ttl:new v PX 400000",
        "PERSIST ttl:later",
        "DEL s:neg",
        "SET tmp x",
        "RENAME tmp renamed",
        "SELECT 3",
        "LPOP db3:list",
        "SADD db3:set only-in-3",
        "SELECT 0",
    ] {
        ok(c, line);
    }
    let mut more = Vec::new();
    for i in 300..400 {
        let m = format!("m{i}");
        more.push(vec!["SADD".into(), "set:big".into(), m.clone()]);
        more.push(vec!["ZADD".into(), "z:big".into(), i.to_string(), m]);
    }
    pipeline(c, &more);
    let lib2 = "#!lua name=second\nredis.register_function('two', function() return 2 end)";
    ok_args(c, &["FUNCTION", "LOAD", lib2]);
}

// ---------------------------------------------------------------------------------------
// 1. Round trip

#[test]
fn every_type_survives_restarts_through_base_and_incr_files() {
    let server = ours_aof(&[]);
    let mut c = server.client();
    fill_first_half(&mut c);
    rewrite(&mut c);
    fill_second_half(&mut c);
    let before = dump(&mut c, false);
    assert!(before.len() > 20, "{before:?}");
    let dir = shutdown_nosave(server);
    // The directory is Redis's: a manifest naming an RDB base and an incr file.
    let files = manifest_files(&dir);
    assert!(
        files
            .iter()
            .any(|(n, t)| t == "b" && n.ends_with(".base.rdb")),
        "{files:?}"
    );
    assert!(
        std::fs::read(aof_dir(&dir).join(&files[0].0))
            .expect("base")
            .starts_with(b"REDIS")
    );
    // Restart 1: the base written by the rewrite, plus the incr file after it.
    let server = restart_aof(dir, &[]);
    let mut c = server.client();
    assert_same(&dump(&mut c, false), &before, "after SHUTDOWN NOSAVE");
    assert_eq!(c.cmd("FCALL aofget 1 s:short"), b"$11\r\nhello-world\r\n");
    // Restart 2: everything in one new base (SIGTERM).
    rewrite(&mut c);
    let (status, dir) = server.terminate_keeping_dir();
    assert!(status.success());
    let server = restart_aof(dir, &[]);
    let mut c = server.client();
    assert_same(
        &dump(&mut c, false),
        &before,
        "after a second rewrite and SIGTERM",
    );
}

// ---------------------------------------------------------------------------------------
// 2. kill -9

#[test]
fn acknowledged_writes_survive_kill_9() {
    for (fsync, n) in [("always", 300), ("everysec", 2000)] {
        let server = ours_aof(&["--appendfsync", fsync]);
        let mut c = server.client();
        for i in 0..n {
            let r = c.cmd_args(&["SET", &format!("key:{i}"), &format!("value:{i}")]);
            assert_eq!(r, b"+OK\r\n", "{fsync}: key:{i}");
            assert_eq!(c.int("INCR counter"), i + 1);
        }
        let dir = kill_keeping_dir(server, libc::SIGKILL);
        let server = restart_aof(dir, &["--appendfsync", fsync]);
        let mut c = server.client();
        assert_eq!(c.int("DBSIZE"), n + 1, "{fsync}");
        assert_eq!(
            c.cmd_str("GET counter"),
            format!("${}\r\n{n}\r\n", n.to_string().len())
        );
        let gets: Vec<Vec<String>> = (0..n)
            .map(|i| vec!["GET".into(), format!("key:{i}")])
            .collect();
        let mut batch = Vec::new();
        for g in &gets {
            let args: Vec<&[u8]> = g.iter().map(|a| a.as_bytes()).collect();
            batch.extend(common::encode(&args));
        }
        c.send_raw(&batch);
        for i in 0..n {
            let v = format!("value:{i}");
            assert_eq!(
                text(c.read_reply()),
                format!("${}\r\n{v}\r\n", v.len()),
                "{fsync}: key:{i}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// 3. Interop with redis-server 7.0

#[test]
fn redis_server_loads_our_aof_and_redis_check_aof_accepts_it() {
    if !have_redis_7_0() || !have_tool("redis-check-aof") {
        return;
    }
    let server = ours_aof(&[]);
    let mut c = server.client();
    fill_first_half(&mut c);
    rewrite(&mut c);
    fill_second_half(&mut c);
    let ours = dump(&mut c, false);
    let dir = shutdown_nosave(server);
    let check = Command::new("redis-check-aof")
        .arg(manifest_path(&dir))
        .output()
        .expect("run redis-check-aof");
    let report = String::from_utf8_lossy(&check.stdout);
    assert!(check.status.success(), "redis-check-aof: {report}");
    assert!(report.contains("is valid"), "{report}");
    let copy = copy_aof_dir(&dir, "aof-to-redis");
    let _ = std::fs::remove_dir_all(&dir);
    assert_redis_replays(&copy, false, &ours, "redis-server read our AOF");
    let _ = std::fs::remove_dir_all(&copy);
}

#[test]
fn we_load_the_aof_redis_server_wrote() {
    if !have_redis_7_0() {
        return;
    }
    let dir = common::fresh_dir("aof-from-redis");
    let redis = RedisIn::start(&dir, &["--appendonly", "yes"]);
    let mut r = redis.client();
    fill_first_half(&mut r);
    rewrite(&mut r);
    fill_second_half(&mut r);
    let want = dump(&mut r, false);
    redis.shutdown();
    let files = manifest_files(&dir);
    assert!(files.iter().any(|(_, t)| t == "i"), "{files:?}");
    let server = restart_aof(dir, &[]);
    let mut c = server.client();
    assert_same(&dump(&mut c, false), &want, "we read redis-server's AOF");
    // And we go on appending to it.
    ok(&mut c, "SET after-load yes");
    let dir = shutdown_nosave(server);
    let server = restart_aof(dir, &[]);
    assert_eq!(server.client().cmd("GET after-load"), b"$3\r\nyes\r\n");
}

/// `aof-use-rdb-preamble no`: the base is commands (`.base.aof`), as Redis writes it:
/// every type, TTLs, databases, functions, an emptied stream with a group and a consumer
/// without pending entries. We read it back, redis-check-aof accepts it, redis-server loads
/// it, and we load the one redis-server writes with the same setting.
#[test]
fn a_base_in_commands_when_the_rdb_preamble_is_off() {
    let flags = ["--aof-use-rdb-preamble", "no"];
    let server = ours_aof(&flags);
    let mut c = server.client();
    fill_first_half(&mut c);
    rewrite(&mut c);
    fill_second_half(&mut c);
    for line in [
        "XADD emptied 1-1 a b",
        "XDEL emptied 1-1",
        "XGROUP CREATE emptied g $",
        "XGROUP CREATECONSUMER emptied g idle",
    ] {
        ok(&mut c, line);
    }
    rewrite(&mut c);
    let before = dump(&mut c, true);
    let dir = shutdown_nosave(server);
    let files = manifest_files(&dir);
    let base = files.iter().find(|(_, t)| t == "b").expect("a base");
    assert!(base.0.ends_with(".base.aof"), "{files:?}");
    let bytes = std::fs::read(aof_dir(&dir).join(&base.0)).expect("base");
    assert!(bytes.starts_with(b"*3\r\n$8\r\nFUNCTION\r\n$4\r\nLOAD\r\n"));
    assert!(bytes.windows(9).any(|w| w == b"PEXPIREAT"));
    let server = restart_aof(dir, &flags);
    let mut c = server.client();
    assert_same(&dump(&mut c, true), &before, "our base in commands");
    let dir = shutdown_nosave(server);
    if !have_redis_7_0() || !have_tool("redis-check-aof") {
        return;
    }
    let check = Command::new("redis-check-aof")
        .arg(manifest_path(&dir))
        .output()
        .expect("run redis-check-aof");
    let report = String::from_utf8_lossy(&check.stdout);
    assert!(
        check.status.success() && report.contains("is valid"),
        "{report}"
    );
    let copy = copy_aof_dir(&dir, "aof-resp-to-redis");
    let _ = std::fs::remove_dir_all(&dir);
    assert_redis_replays(
        &copy,
        true,
        &before,
        "redis-server read our base in commands",
    );
    let _ = std::fs::remove_dir_all(&copy);

    let dir = common::fresh_dir("aof-resp-from-redis");
    let redis = RedisIn::start(
        &dir,
        &["--appendonly", "yes", "--aof-use-rdb-preamble", "no"],
    );
    let mut r = redis.client();
    fill_first_half(&mut r);
    fill_second_half(&mut r);
    rewrite(&mut r);
    let want = dump(&mut r, true);
    redis.shutdown();
    let files = manifest_files(&dir);
    assert!(
        files
            .iter()
            .any(|(n, t)| t == "b" && n.ends_with(".base.aof")),
        "{files:?}"
    );
    let server = restart_aof(dir, &flags);
    assert_same(
        &dump(&mut server.client(), true),
        &want,
        "we read redis-server's base in commands",
    );
}

// ---------------------------------------------------------------------------------------
// 4, 5. Torn tails and unfinished transactions

#[test]
fn a_torn_last_command_is_cut_off() {
    let server = ours_aof(&[]);
    let mut c = server.client();
    ok(&mut c, "SET a 1");
    ok(&mut c, "RPUSH l x y");
    let dir = shutdown_nosave(server);
    let incr = last_incr(&dir);
    let good = std::fs::read(&incr).expect("incr");
    append(&incr, b"*3\r\n$3\r\nSET\r\n$1\r\nk");
    // aof-load-truncated no: the start fails, the file untouched.
    let files = files_of(&dir);
    let (status, log) = start_fails(&dir, &["--appendonly", "yes", "--aof-load-truncated", "no"]);
    assert!(!status.success(), "{log}");
    assert!(log.contains("Unexpected end of file"), "{log}");
    assert_eq!(files_of(&dir), files, "a failed start changed the files");
    // aof-load-truncated yes (the default): starts, cut back to the last whole command.
    let server = restart_aof(dir, &[]);
    let mut c = server.client();
    assert_eq!(c.cmd("GET a"), b"$1\r\n1\r\n");
    assert_eq!(c.int("LLEN l"), 2);
    assert_eq!(c.int("EXISTS k"), 0);
    assert_eq!(std::fs::read(&incr).expect("incr"), good, "not truncated");
    // Writes after the cut are read back by the next start.
    ok(&mut c, "SET after 2");
    let dir = shutdown_nosave(server);
    let server = restart_aof(dir, &[]);
    let mut c = server.client();
    assert_eq!(c.cmd("GET after"), b"$1\r\n2\r\n");
    assert_eq!(c.cmd("GET a"), b"$1\r\n1\r\n");
}

#[test]
fn a_multi_without_exec_at_the_end_is_rolled_back() {
    let server = ours_aof(&[]);
    let mut c = server.client();
    ok(&mut c, "SET a 1");
    let dir = shutdown_nosave(server);
    let incr = last_incr(&dir);
    let good = std::fs::read(&incr).expect("incr");
    let mut tail = common::encode(&[b"MULTI"]);
    tail.extend(common::encode(&[b"SET", b"m", b"1"]));
    tail.extend(common::encode(&[b"INCR", b"a"]));
    append(&incr, &tail);
    let server = restart_aof(dir, &[]);
    let mut c = server.client();
    assert_eq!(c.cmd("GET a"), b"$1\r\n1\r\n");
    assert_eq!(c.int("EXISTS m"), 0);
    assert_eq!(std::fs::read(&incr).expect("incr"), good);
    ok(&mut c, "SET b 2");
    let dir = shutdown_nosave(server);
    let server = restart_aof(dir, &[]);
    let mut c = server.client();
    assert_eq!(c.cmd("MGET a b m"), b"*3\r\n$1\r\n1\r\n$1\r\n2\r\n$-1\r\n");
}

// ---------------------------------------------------------------------------------------
// 6. Damaged directories

/// A directory of ours with two incr files (a rewrite in between) and some keys.
fn damaged_dir_base() -> PathBuf {
    let server = ours_aof(&[]);
    let mut c = server.client();
    ok(&mut c, "SET a 1");
    rewrite(&mut c);
    ok(&mut c, "SET b 2");
    ok(&mut c, "SET c 3");
    shutdown_nosave(server)
}

#[test]
fn damaged_aof_directories_stop_the_start_untouched() {
    type Damage = fn(&Path);
    let cases: [(&str, Damage, &str); 7] = [
        (
            "a damaged base file",
            |dir| {
                let (base, _) = manifest_files(dir)
                    .into_iter()
                    .find(|(_, t)| t == "b")
                    .expect("a base");
                let path = aof_dir(dir).join(base);
                let mut data = std::fs::read(&path).expect("base");
                let at = data.len() - 12;
                data[at] ^= 0x55;
                std::fs::write(&path, data).expect("write");
            },
            "base",
        ),
        (
            "an unknown command in an incr file",
            |dir| append(&last_incr(dir), &common::encode(&[b"NOSUCHCOMMAND", b"x"])),
            "Unknown command",
        ),
        (
            "an empty manifest",
            |dir| std::fs::write(manifest_path(dir), b"").expect("write"),
            "empty",
        ),
        (
            "garbage in the middle of an incr file",
            |dir| {
                let incr = last_incr(dir);
                let data = std::fs::read(&incr).expect("incr");
                // After the first command (SELECT 0): a line that is not a command.
                let second = data[1..].iter().position(|&b| b == b'*').expect("two") + 1;
                let mut bad = data[..second].to_vec();
                bad.extend_from_slice(b"garbage\r\n");
                bad.extend_from_slice(&data[second..]);
                std::fs::write(&incr, bad).expect("write");
            },
            "Bad file format",
        ),
        (
            "a manifest that lists a missing file",
            |dir| {
                append(
                    &manifest_path(dir),
                    b"file appendonly.aof.9.incr.aof seq 9 type i\n",
                )
            },
            "doesn't exist",
        ),
        (
            "a bad manifest line",
            |dir| append(&manifest_path(dir), b"this line is not a manifest line\n"),
            "Invalid AOF manifest file format",
        ),
        (
            "an unknown file type in the manifest",
            |dir| append(&manifest_path(dir), b"file x.aof seq 10 type z\n"),
            "Unknown AOF file type",
        ),
    ];
    for (what, damage, message) in cases {
        let dir = damaged_dir_base();
        damage(&dir);
        let files = files_of(&dir);
        let (status, log) = start_fails(&dir, &["--appendonly", "yes"]);
        assert!(!status.success(), "{what}: exit {status}");
        assert!(log.contains(message), "{what}: {log}");
        assert_eq!(files_of(&dir), files, "{what}: the files changed");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

// ---------------------------------------------------------------------------------------
// 7. Commands whose effect depends on time or randomness

/// Runs commands whose effects depend on the clock, randomness or other clients, on a
/// server with the AOF on; `redis-server` must read the same effects back. Returns the
/// incr files' size right before and after the read-only SRANDMEMBERs.
fn nondeterministic_workload(port: u16, dir: &Path) -> (u64, u64) {
    let mut c = Client::connect(port);
    for line in [
        "SET t:set v EX 100",
        "SET t:expire v",
        "EXPIRE t:expire 200",
        "SETEX t:setex 300 v",
        "PSETEX t:psetex 400000 v",
        "SET t:getex v",
        "GETEX t:getex EX 500",
        "SET t:persist v EX 600",
        "GETEX t:persist PERSIST",
        "SET t:keepttl 1.5 EX 700",
        "INCRBYFLOAT t:keepttl 0.25",
        "SET f 10.5",
        "INCRBYFLOAT f 0.1",
        "INCRBYFLOAT f 3.0e3",
        "HSET hf x 1",
        "HINCRBYFLOAT hf x 2.5",
        "HINCRBYFLOAT hf y 1e-3",
        "SADD sp a b c d e f g h i j k l m n o p",
        "SPOP sp",
        "SPOP sp 3",
        "SPOP sp 1",
        "SADD sr a b c d",
        "RPUSH lm a b c d",
        "LMPOP 1 lm LEFT COUNT 2",
        "RPUSH src 1 2 3",
        "BLMOVE src dst LEFT RIGHT 0",
        "ZADD zp 1 a 2 b 3 c 4 d",
        "ZPOPMIN zp",
        "BZPOPMIN zp 0",
        "XADD xs * f 1",
        "XADD xs * f 2",
        "XADD xs * f 3",
        "XADD xs * f 4",
        "XGROUP CREATE xs g 0",
    ] {
        ok(&mut c, line);
    }
    // SRANDMEMBER reads: nothing goes to the file.
    let incr = last_incr(dir);
    let size = || std::fs::metadata(&incr).expect("incr").len();
    let before_reads = size();
    for line in ["SRANDMEMBER sr", "SRANDMEMBER sr 2", "SRANDMEMBER sr -5"] {
        ok(&mut c, line);
    }
    let after_reads = size();
    // XADD with approximate trimming: what it trims depends on the node layout.
    let mut trimmed = Vec::new();
    for i in 0..300 {
        trimmed.push(
            ["XADD", "xt", "MAXLEN", "~", "50", "*", "n", &i.to_string()]
                .map(String::from)
                .to_vec(),
        );
    }
    pipeline(&mut c, &trimmed);
    // A blocked BLPOP served by another client's RPUSH.
    let mut blocked = Client::connect(port);
    blocked.send(&[b"BLPOP", b"bq", b"0"]);
    let waiting = wait_for(PATIENCE, || {
        (info_field(&mut c, "clients", "blocked_clients") == 1).then_some(())
    });
    assert!(waiting.is_some(), "BLPOP did not block");
    ok(&mut c, "RPUSH bq x y z");
    assert_eq!(
        blocked.read_reply(),
        b"*2\r\n$2\r\nbq\r\n$1\r\nx\r\n",
        "BLPOP"
    );
    // Consumer groups: deliveries, claims.
    let read = items(q(
        &mut c,
        &[
            b"XREADGROUP",
            b"GROUP",
            b"g",
            b"alice",
            b"COUNT",
            b"3",
            b"STREAMS",
            b"xs",
            b">",
        ],
    ));
    let entries = items(items(read[0].clone())[1].clone());
    let first_id = bulk(&items(entries[0].clone())[0]);
    q(&mut c, &[b"XCLAIM", b"xs", b"g", b"bob", b"0", &first_id]);
    q(
        &mut c,
        &[
            b"XAUTOCLAIM",
            b"xs",
            b"g",
            b"carol",
            b"0",
            b"0-0",
            b"COUNT",
            b"1",
        ],
    );
    // A script writing two keys, one of them from TIME; MULTI/EXEC with a relative TTL.
    let script = "redis.call('SET', KEYS[1], redis.call('TIME')[1]) \
                  redis.call('SET', KEYS[2], ARGV[1], 'PX', 800000) return 1";
    ok_args(&mut c, &["EVAL", script, "2", "e1", "e2", "scripted"]);
    ok(&mut c, "MULTI");
    ok(&mut c, "SET m1 1");
    ok(&mut c, "INCR m1");
    ok(&mut c, "SET m2 x EX 900");
    ok(&mut c, "SPOP sp");
    assert!(c.cmd_str("EXEC").starts_with("*4\r\n"));
    // RESTORE with a relative TTL.
    ok(&mut c, "HSET src:hash a 1 b 2");
    let payload = bulk(&q(&mut c, &[b"DUMP", b"src:hash"]));
    q(&mut c, &[b"RESTORE", b"restored", b"1000000", &payload]);
    // A key that expires: its deletion is written.
    ok(&mut c, "SET gone v PX 1");
    let expired = wait_for(PATIENCE, || (c.int("EXISTS gone") == 0).then_some(()));
    assert!(expired.is_some());
    (before_reads, after_reads)
}

#[test]
fn time_and_randomness_dependent_commands_replay_the_same_after_a_restart() {
    let server = ours_aof(&["--appendfsync", "always"]);
    nondeterministic_workload(server.port, &server.dir);
    let before = dump(&mut server.client(), true);
    let dir = shutdown_nosave(server);
    let server = restart_aof(dir, &[]);
    assert_same(
        &dump(&mut server.client(), true),
        &before,
        "after a restart (TTLs as PEXPIRETIME)",
    );
}

#[test]
fn redis_server_replays_our_time_and_randomness_dependent_commands_the_same() {
    if !have_redis_7_0() {
        return;
    }
    let server = ours_aof(&["--appendfsync", "always"]);
    nondeterministic_workload(server.port, &server.dir);
    let before = dump(&mut server.client(), true);
    let dir = shutdown_nosave(server);
    let copy = copy_aof_dir(&dir, "aof-effects-to-redis");
    let _ = std::fs::remove_dir_all(&dir);
    assert_redis_replays(&copy, true, &before, "redis-server replayed our AOF");
    let _ = std::fs::remove_dir_all(&copy);
}

#[test]
fn time_and_randomness_dependent_commands_are_written_as_their_effects() {
    let server = ours_aof(&["--appendfsync", "always"]);
    let (before_reads, after_reads) = nondeterministic_workload(server.port, &server.dir);
    let dir = shutdown_nosave(server);
    let data = String::from_utf8_lossy(&incr_text(&dir)).to_uppercase();
    let _ = std::fs::remove_dir_all(&dir);
    let mut problems = Vec::new();
    if before_reads != after_reads {
        problems.push(format!(
            "SRANDMEMBER wrote {} bytes",
            after_reads - before_reads
        ));
    }
    if !data.contains("PEXPIREAT") && !data.contains("PXAT") {
        problems.push("neither PEXPIREAT nor PXAT is written".into());
    }
    // Arguments that must not be in the file, as RESP bulk strings.
    for word in [
        "EX",
        "EXPIRE",
        "SETEX",
        "PSETEX",
        "GETEX",
        "PX",
        "INCRBYFLOAT",
        "HINCRBYFLOAT",
        "SPOP",
        "SRANDMEMBER",
        "BLPOP",
        "BLMOVE",
        "BZPOPMIN",
        "LMPOP",
        "XREADGROUP",
        "XAUTOCLAIM",
        "EVAL",
        "*",
        "~",
        "RESTORE",
    ] {
        let arg = format!("${}\r\n{word}\r\n", word.len());
        if data.contains(&arg) {
            problems.push(format!("{word:?} is written"));
        }
    }
    // RESTORE is fine with ABSTTL; only a relative one is a problem.
    if let Some(i) = problems.iter().position(|p| p == "\"RESTORE\" is written")
        && data.contains("$6\r\nABSTTL\r\n")
    {
        problems.remove(i);
    }
    assert!(
        problems.is_empty(),
        "the incr file holds non-deterministic commands: {problems:?}\n{}",
        data.replace("\r\n", " ")
            .chars()
            .take(3000)
            .collect::<String>()
    );
}

// ---------------------------------------------------------------------------------------
// 8. CONFIG SET appendonly

#[test]
fn config_set_appendonly_yes_writes_the_dataset_and_no_stops_writing() {
    let server = ours_in(common::fresh_dir("aof-config"), &["--appendonly", "no"]);
    let mut c = server.client();
    fill_first_half(&mut c);
    assert_eq!(info_field(&mut c, "persistence", "aof_enabled"), 0);
    assert!(
        !aof_dir(&server.dir)
            .join("appendonly.aof.manifest")
            .exists()
    );
    assert_eq!(c.cmd("CONFIG SET appendonly yes"), b"+OK\r\n");
    let on = wait_for(PATIENCE, || {
        let info = c.cmd_str("INFO persistence");
        (info.contains("aof_rewrite_in_progress:0")
            && info.contains("aof_enabled:1")
            && info.contains("aof_rewrite_scheduled:0"))
        .then_some(())
    });
    assert!(on.is_some(), "{}", c.cmd_str("INFO persistence"));
    assert!(info_field(&mut c, "persistence", "aof_rewrites") >= 1);
    // Writes after turning it on go to the incr file.
    ok(&mut c, "SET after:on 1");
    let want = dump(&mut c, false);
    let dir = shutdown_nosave(server);
    let server = restart_aof(dir, &[]);
    let mut c = server.client();
    assert_same(
        &dump(&mut c, false),
        &want,
        "after CONFIG SET appendonly yes",
    );
    // CONFIG SET appendonly no: nothing more is written.
    assert_eq!(c.cmd("CONFIG SET appendonly no"), b"+OK\r\n");
    assert_eq!(info_field(&mut c, "persistence", "aof_enabled"), 0);
    let files = files_of(&server.dir);
    ok(&mut c, "SET after:off 1");
    ok(&mut c, "DEL after:on");
    assert_eq!(files_of(&server.dir), files, "written after appendonly no");
    let dir = shutdown_nosave(server);
    let server = restart_aof(dir, &[]);
    let mut c = server.client();
    assert_eq!(c.int("EXISTS after:off"), 0);
    assert_eq!(c.int("EXISTS after:on"), 1);
}

// ---------------------------------------------------------------------------------------
// 9. BGREWRITEAOF behind a BGSAVE

#[test]
fn bgrewriteaof_during_a_bgsave_is_scheduled_and_then_done() {
    let server = ours_aof(&[]);
    let mut c = server.client();
    const N: usize = 200_000;
    for start in (0..N).step_by(10_000) {
        let batch: Vec<Vec<String>> = (start..start + 10_000)
            .map(|i| vec!["SET".into(), format!("key:{i}"), format!("v{i}")])
            .collect();
        pipeline(&mut c, &batch);
    }
    let mut both = common::encode(&[b"BGSAVE"]);
    both.extend(common::encode(&[b"BGREWRITEAOF"]));
    both.extend(common::encode(&[b"BGREWRITEAOF"]));
    c.send_raw(&both);
    assert_eq!(c.read_reply(), b"+Background saving started\r\n");
    let first = text(c.read_reply());
    assert!(
        first == "+Background append only file rewriting scheduled\r\n"
            || first == "+Background append only file rewriting started\r\n",
        "{first}"
    );
    // A second request while one is scheduled or running.
    let second = text(c.read_reply());
    assert!(
        second == "+Background append only file rewriting scheduled\r\n"
            || second == "-ERR Background append only file rewriting already in progress\r\n",
        "{second}"
    );
    let done = wait_for(Duration::from_secs(60), || {
        (info_field(&mut c, "persistence", "aof_rewrites") >= 1
            && info_field(&mut c, "persistence", "rdb_bgsave_in_progress") == 0)
            .then_some(())
    });
    assert!(done.is_some(), "{}", c.cmd_str("INFO persistence"));
    wait_rewrite_done(&mut c);
    let info = c.cmd_str("INFO persistence");
    assert!(info.contains("aof_last_bgrewrite_status:ok"), "{info}");
    assert!(info.contains("rdb_last_bgsave_status:ok"), "{info}");
    ok(&mut c, "SET last 1");
    let (status, dir) = server.terminate_keeping_dir();
    assert!(status.success());
    let server = restart_aof(dir, &[]);
    let mut c = server.client();
    assert_eq!(c.int("DBSIZE"), N as i64 + 1);
    assert_eq!(c.cmd("GET key:199999"), b"$7\r\nv199999\r\n");
}

// ---------------------------------------------------------------------------------------
// Names and base formats

#[test]
fn appenddirname_and_appendfilename_name_the_files() {
    let flags = ["--appenddirname", "mine", "--appendfilename", "data.aof"];
    let mut all = vec!["--appendonly", "yes"];
    all.extend(flags);
    let server = ours_in(common::fresh_dir("aof-names"), &all);
    let mut c = server.client();
    ok(&mut c, "SET k v");
    let dir = shutdown_nosave(server);
    let manifest = std::fs::read_to_string(dir.join("mine").join("data.aof.manifest"))
        .expect("the manifest under its own names");
    assert!(
        manifest.contains("file data.aof.1.base.rdb seq 1 type b"),
        "{manifest}"
    );
    assert!(
        manifest.contains("file data.aof.1.incr.aof seq 1 type i"),
        "{manifest}"
    );
    assert!(!aof_dir(&dir).exists());
    let server = ours_in(dir, &all);
    assert_eq!(server.client().cmd("GET k"), b"$1\r\nv\r\n");
}

/// The commands of an AOF's RESP text, as their arguments.
fn commands_of(data: &[u8]) -> Vec<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    let mut pos = 0;
    let line = |pos: &mut usize| {
        let end = *pos
            + data[*pos..]
                .windows(2)
                .position(|w| w == b"\r\n")
                .expect("a line");
        let l = &data[*pos..end];
        *pos = end + 2;
        l
    };
    let number = |l: &[u8]| -> usize { text(&l[1..]).parse().expect("a length") };
    while pos < data.len() {
        let head = line(&mut pos);
        assert_eq!(head[0], b'*', "not a command at {pos}");
        let argc = number(head);
        let mut argv = Vec::new();
        for _ in 0..argc {
            let len = number(line(&mut pos));
            argv.push(data[pos..pos + len].to_vec());
            pos += len + 2;
        }
        out.push(argv);
    }
    out
}

/// A command's shape: its name, argument count and the arguments that are words (keywords
/// and letter-only key names), upper-cased; numbers, IDs, times and one-letter values
/// (SPOP's random members) left out.
fn shape(argv: &[Vec<u8>]) -> String {
    let mut s = format!("{}/{}", text(&argv[0]).to_uppercase(), argv.len());
    for a in &argv[1..] {
        if a.len() >= 2 && a.iter().all(u8::is_ascii_alphabetic) {
            s.push(' ');
            s.push_str(&text(a).to_uppercase());
        }
    }
    s
}

/// Redis 7.0 writes SPOP with a count as one SREM per member between MULTI and EXEC; one
/// SREM of them all has the same effect.
fn srem_batches_as_one(shapes: Vec<String>) -> Vec<String> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < shapes.len() {
        if shapes[i] == "MULTI/1" {
            let srems = shapes[i + 1..]
                .iter()
                .take_while(|s| s.starts_with("SREM/3 ") && **s == shapes[i + 1])
                .count();
            if srems > 0 && shapes.get(i + 1 + srems).is_some_and(|s| s == "EXEC/1") {
                let key = &shapes[i + 1]["SREM/3 ".len()..];
                out.push(format!("SREM/{} {key}", srems + 2));
                i += srems + 2;
                continue;
            }
        }
        out.push(shapes[i].clone());
        i += 1;
    }
    out
}

#[test]
fn time_and_randomness_dependent_commands_are_written_as_redis_writes_them() {
    if !have_redis_7_0() {
        return;
    }
    let server = ours_aof(&["--appendfsync", "always"]);
    nondeterministic_workload(server.port, &server.dir);
    let dir = shutdown_nosave(server);
    let ours: Vec<String> = commands_of(&incr_text(&dir))
        .iter()
        .map(|a| shape(a))
        .collect();
    let rdir = common::fresh_dir("aof-effects-redis");
    let redis = RedisIn::start(&rdir, &["--appendonly", "yes", "--appendfsync", "always"]);
    nondeterministic_workload(redis.port, &rdir);
    redis.shutdown();
    let theirs: Vec<String> = commands_of(&incr_text(&rdir))
        .iter()
        .map(|a| shape(a))
        .collect();
    let theirs = srem_batches_as_one(theirs);
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&rdir);
    if ours != theirs {
        let first = ours
            .iter()
            .zip(&theirs)
            .position(|(a, b)| a != b)
            .unwrap_or(ours.len().min(theirs.len()));
        let around =
            |v: &[String]| v[first.saturating_sub(3)..(first + 4).min(v.len())].join("\n  ");
        panic!(
            "the incr files differ at command {first} ({} commands, redis-server {}):\nours:\n  {}\nredis-server:\n  {}",
            ours.len(),
            theirs.len(),
            around(&ours),
            around(&theirs)
        );
    }
}

// ---------------------------------------------------------------------------------------
// Writes of every family

/// Writes of every command family, in several databases, including ones that move data
/// between databases and keys.
fn every_family_workload(c: &mut Client) {
    for line in [
        "MSET a 1 b 2 c 3",
        "MSETNX d 4 e 5",
        "SETNX a 9",
        "GETSET b 20",
        "GETDEL c",
        "DECRBY a 3",
        "INCR n",
        "APPEND s hello",
        "SETRANGE s 10 world",
        "SETBIT bits 100 1",
        "BITFIELD bf SET u8 0 200 INCRBY u8 0 100",
        "BITOP XOR bx bits bf",
        "RPUSH l a b c d e f",
        "LPUSHX l z",
        "RPUSHX l y",
        "LINSERT l BEFORE c q",
        "LREM l 1 b",
        "LSET l 0 Z",
        "LTRIM l 0 5",
        "LMOVE l l2 LEFT RIGHT",
        "RPOPLPUSH l l2",
        "RPOP l",
        "HSET h a 1 b 2 c 3",
        "HSETNX h d 4",
        "HINCRBY h a 10",
        "HDEL h b",
        "SADD s1 a b c d",
        "SADD s2 c d e",
        "SMOVE s1 s2 a",
        "SINTERSTORE s3 s1 s2",
        "SUNIONSTORE s4 s1 s2",
        "SDIFFSTORE s5 s2 s1",
        "SREM s4 e",
        "ZADD z 1 a 2 b 3 c 4 d 5 e",
        "ZADD z XX CH 10 a",
        "ZADD z NX 7 f",
        "ZINCRBY z 2 b",
        "ZREM z c",
        "ZREMRANGEBYRANK z 0 0",
        "ZADD zl 0 a 0 b 0 c 0 d",
        "ZREMRANGEBYLEX zl [a [b",
        "ZREMRANGEBYSCORE z 100 200",
        "ZPOPMAX z",
        "XADD x 1-1 a 1",
        "XADD x 2-1 a 2",
        "XADD x 3-1 a 3",
        "XDEL x 2-1",
        "XTRIM x MAXLEN 5",
        "XSETID x 10-1",
        "XGROUP CREATE x g1 0",
        "XGROUP CREATE x g2 $",
        "XGROUP CREATE nostream g 0 MKSTREAM",
        "XGROUP CREATECONSUMER x g1 idle",
        "XREADGROUP GROUP g1 c1 COUNT 1 STREAMS x >",
        "XREADGROUP GROUP g1 c2 NOACK COUNT 1 STREAMS x >",
        "XACK x g1 1-1",
        "XGROUP SETID x g2 0",
        "XGROUP DELCONSUMER x g1 c2",
        "XGROUP DESTROY nostream g",
        "SET ttl v",
        "EXPIREAT ttl 4000000000",
        "SET ttl2 v",
        "PEXPIREAT ttl2 4000000000000",
        "PERSIST ttl2",
        "RENAME ttl renamed",
        "RENAMENX renamed renamed2",
        "COPY h hcopy",
        "COPY h h5 DB 5",
        "MOVE s5 6",
        "UNLINK e",
        "DEL d",
        "SELECT 3",
        "SET three 3",
        "RPUSH l3 a",
        "SELECT 4",
        "SET four 4",
        "SWAPDB 3 4",
        "SELECT 7",
        "SET seven 7",
        "FLUSHDB",
        "SET seven again",
        "SELECT 0",
    ] {
        ok(c, line);
    }
    let gone = "#!lua name=gone\nredis.register_function('g', function() return 1 end)";
    let kept = "#!lua name=kept\nredis.register_function('k', function() return 2 end)";
    ok_args(c, &["FUNCTION", "LOAD", gone]);
    ok_args(c, &["FUNCTION", "LOAD", kept]);
    ok(c, "FUNCTION DELETE gone");
    ok_args(c, &["FUNCTION", "LOAD", "REPLACE", kept]);
    // A blocked pop in database 4, served by a push from database 4.
    let mut blocked = Client::connect(client_port(c));
    ok(&mut blocked, "SELECT 4");
    blocked.send(&[b"BLMPOP", b"0", b"1", b"waitq", b"RIGHT", b"COUNT", b"2"]);
    let waiting = wait_for(PATIENCE, || {
        (info_field(c, "clients", "blocked_clients") == 1).then_some(())
    });
    assert!(waiting.is_some(), "BLMPOP did not block");
    ok(c, "SELECT 4");
    ok(c, "RPUSH waitq a b c");
    assert_eq!(
        text(blocked.read_reply()),
        "*2\r\n$5\r\nwaitq\r\n*2\r\n$1\r\nc\r\n$1\r\nb\r\n"
    );
    ok(c, "SELECT 0");
}

/// The server port a client is connected to.
fn client_port(c: &Client) -> u16 {
    c.stream.peer_addr().expect("peer").port()
}

#[test]
fn writes_of_every_family_replay_the_same() {
    let server = ours_aof(&["--appendfsync", "always"]);
    let mut c = server.client();
    every_family_workload(&mut c);
    let want = dump(&mut c, true);
    let dir = shutdown_nosave(server);
    let copy = copy_aof_dir(&dir, "aof-families");
    let server = restart_aof(dir, &[]);
    assert_same(&dump(&mut server.client(), true), &want, "after a restart");
    if have_redis_7_0() {
        assert_redis_replays(&copy, true, &want, "redis-server read it");
    }
    let _ = std::fs::remove_dir_all(&copy);
}

// ---------------------------------------------------------------------------------------
// Rewrites while writes go on, and a crash during one

/// Loads `n` keys `key:<i>` = `v<i>` in big pipelines.
fn load_keys(c: &mut Client, n: usize) {
    for start in (0..n).step_by(10_000) {
        let batch: Vec<Vec<String>> = (start..(start + 10_000).min(n))
            .map(|i| vec!["SET".into(), format!("key:{i}"), format!("v{i}")])
            .collect();
        pipeline(c, &batch);
    }
}

/// Writes to keys `0..touched` right behind a BGREWRITEAOF, in the same pipeline: the new
/// base is the dataset as of the rewrite's start and the new incr file holds the writes
/// after it, so nothing is lost or applied twice. The pipeline ends with INFO persistence,
/// whose reply is returned.
fn writes_behind_a_rewrite(c: &mut Client, touched: usize) -> String {
    let mut writes = common::encode(&[b"BGREWRITEAOF"]);
    for i in 0..touched {
        let k = format!("key:{i}");
        let cmd: Vec<&[u8]> = match i % 4 {
            0 => vec![b"APPEND", k.as_bytes(), b"+"],
            1 => vec![b"DEL", k.as_bytes()],
            2 => vec![b"APPEND", k.as_bytes(), b"-more"],
            _ => vec![b"PEXPIREAT", k.as_bytes(), b"4000000000000"],
        };
        writes.extend(common::encode(&cmd));
    }
    writes.extend(common::encode(&[b"INCRBY", b"counter", b"7"]));
    writes.extend(common::encode(&[b"INFO", b"persistence"]));
    c.send_raw(&writes);
    assert_eq!(
        text(c.read_reply()),
        "+Background append only file rewriting started\r\n"
    );
    for _ in 0..=touched {
        let r = c.read_reply();
        assert!(!r.starts_with(b"-"), "{}", text(r));
    }
    text(c.read_reply())
}

/// What [`writes_behind_a_rewrite`] leaves in `n` keys, checked key by key.
fn check_after_writes(c: &mut Client, n: usize, touched: usize) {
    assert_eq!(c.cmd("GET counter"), b"$1\r\n7\r\n");
    let mut batch = Vec::new();
    for i in 0..n {
        batch.extend(common::encode(&[b"GET", format!("key:{i}").as_bytes()]));
    }
    c.send_raw(&batch);
    for i in 0..n {
        let want = match i % 4 {
            _ if i >= touched => Some(format!("v{i}")),
            0 => Some(format!("v{i}+")),
            1 => None,
            2 => Some(format!("v{i}-more")),
            _ => Some(format!("v{i}")),
        };
        let want = want.map_or("$-1\r\n".to_string(), |v| {
            format!("${}\r\n{v}\r\n", v.len())
        });
        assert_eq!(text(c.read_reply()), want, "key:{i}");
    }
    assert_eq!(c.cmd("PEXPIRETIME key:3"), b":4000000000000\r\n");
    assert_eq!(c.int("DBSIZE"), (n - touched.div_ceil(4)) as i64 + 1);
}

#[test]
fn a_rewrite_with_writes_going_on_loses_nothing_and_applies_nothing_twice() {
    const N: usize = 100_000;
    let server = ours_aof(&[]);
    let mut c = server.client();
    load_keys(&mut c, N);
    writes_behind_a_rewrite(&mut c, N);
    wait_rewrite_done(&mut c);
    assert!(info_field(&mut c, "persistence", "aof_rewrites") >= 1);
    check_after_writes(&mut c, N, N);
    let dir = kill_keeping_dir(server, libc::SIGKILL);
    let files = manifest_files(&dir);
    assert_eq!(files.len(), 2, "history left in the manifest: {files:?}");
    let server = restart_aof(dir, &[]);
    check_after_writes(&mut server.client(), N, N);
}

#[test]
fn kill_9_during_a_rewrite_keeps_the_old_base_and_every_incr_file() {
    const N: usize = 200_000;
    let server = ours_aof(&[]);
    let mut c = server.client();
    load_keys(&mut c, N);
    // A few writes only: the kill comes while the walk of the 200k keys goes on.
    let info = writes_behind_a_rewrite(&mut c, 1000);
    let dir = kill_keeping_dir(server, libc::SIGKILL);
    assert!(
        info.contains("aof_rewrite_in_progress:1"),
        "the rewrite ended before the kill: {info}"
    );
    // The old base and two incr files: the one before the rewrite and the one after.
    let files = manifest_files(&dir);
    assert_eq!(
        files.iter().filter(|(_, t)| t == "i").count(),
        2,
        "{files:?}"
    );
    let server = restart_aof(dir, &[]);
    let mut c = server.client();
    check_after_writes(&mut c, N, 1000);
    // A torn command in the first incr file, not the last, stops the start.
    let dir = shutdown_nosave(server);
    let first = manifest_files(&dir)
        .into_iter()
        .find(|(_, t)| t == "i")
        .expect("an incr file")
        .0;
    let path = aof_dir(&dir).join(first);
    let len = std::fs::metadata(&path).expect("incr").len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .and_then(|f| f.set_len(len - 3))
        .expect("truncate");
    let before = files_of(&dir);
    let (status, log) = start_fails(&dir, &["--appendonly", "yes"]);
    assert!(!status.success(), "{log}");
    assert!(log.contains("not the last file"), "{log}");
    assert_eq!(files_of(&dir), before);
    let _ = std::fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------------------------------
// Upgrading from Redis 6's single file

#[test]
fn a_redis_6_appendonly_aof_is_loaded_and_moved_into_the_directory() {
    let dir = common::fresh_dir("aof-upgrade");
    let mut old = common::encode(&[b"SELECT", b"0"]);
    old.extend(common::encode(&[b"SET", b"old", b"value"]));
    old.extend(common::encode(&[b"RPUSH", b"list", b"a", b"b"]));
    std::fs::write(dir.join("appendonly.aof"), &old).expect("write");
    let server = restart_aof(dir, &[]);
    let mut c = server.client();
    // Redis 7.0 (aofUpgradePrepare) moves the file into appendonlydir as the base.
    assert_eq!(c.cmd("GET old"), b"$5\r\nvalue\r\n");
    assert_eq!(c.int("LLEN list"), 2);
    assert!(!server.dir.join("appendonly.aof").exists());
    let manifest = std::fs::read_to_string(manifest_path(&server.dir)).expect("manifest");
    assert!(
        manifest.contains("file appendonly.aof seq 1 type b"),
        "{manifest}"
    );
    ok(&mut c, "SET new 1");
    let dir = shutdown_nosave(server);
    let server = restart_aof(dir, &[]);
    assert_eq!(
        server.client().cmd("MGET old new"),
        b"*2\r\n$5\r\nvalue\r\n$1\r\n1\r\n"
    );
}

#[test]
fn a_redis_6_aof_with_an_rdb_preamble_loads_the_preamble_then_its_commands() {
    // Redis 6 with aof-use-rdb-preamble wrote one file: an RDB, then commands after it.
    let src = ours_in(
        common::fresh_dir("aof-preamble-src"),
        &["--appendonly", "no"],
    );
    let mut c = src.client();
    ok(&mut c, "SET from-rdb 1");
    ok(&mut c, "RPUSH list a b");
    assert_eq!(c.cmd("SAVE"), b"+OK\r\n");
    let rdb = std::fs::read(src.dir.join("dump.rdb")).expect("the snapshot");
    let dir = common::fresh_dir("aof-preamble");
    let mut old = rdb.clone();
    old.extend(common::encode(&[b"SELECT", b"0"]));
    old.extend(common::encode(&[b"SET", b"from-tail", b"2"]));
    old.extend(common::encode(&[b"RPUSH", b"list", b"c"]));
    // A torn last command, cut back past the preamble's end.
    let complete = old.len();
    old.extend_from_slice(b"*3\r\n$3\r\nSET\r\n$1\r\nx");
    std::fs::write(dir.join("appendonly.aof"), &old).expect("write");
    let server = restart_aof(dir, &[]);
    let mut c = server.client();
    assert_eq!(
        c.cmd("MGET from-rdb from-tail x"),
        b"*3\r\n$1\r\n1\r\n$1\r\n2\r\n$-1\r\n"
    );
    assert_eq!(c.int("LLEN list"), 3);
    let moved = server.dir.join("appendonlydir").join("appendonly.aof");
    assert_eq!(
        std::fs::metadata(&moved)
            .expect("moved into the directory")
            .len(),
        complete as u64,
        "the torn command is cut off at its offset in the file"
    );
    assert!(rdb.len() < complete);
}

#[test]
fn config_set_appendonly_yes_during_a_bgsave_waits_for_it() {
    const N: usize = 200_000;
    let server = ours_in(
        common::fresh_dir("aof-config-bgsave"),
        &["--appendonly", "no"],
    );
    let mut c = server.client();
    load_keys(&mut c, N);
    let mut batch = common::encode(&[b"BGSAVE"]);
    batch.extend(common::encode(&[b"CONFIG", b"SET", b"appendonly", b"yes"]));
    batch.extend(common::encode(&[b"SET", b"during", b"1"]));
    c.send_raw(&batch);
    assert_eq!(c.read_reply(), b"+Background saving started\r\n");
    assert_eq!(c.read_reply(), b"+OK\r\n");
    assert_eq!(c.read_reply(), b"+OK\r\n");
    let on = wait_for(Duration::from_secs(60), || {
        let info = c.cmd_str("INFO persistence");
        (info.contains("aof_rewrite_in_progress:0")
            && info.contains("aof_enabled:1")
            && info.contains("aof_rewrite_scheduled:0")
            && info.contains("rdb_bgsave_in_progress:0"))
        .then_some(())
    });
    assert!(on.is_some(), "{}", c.cmd_str("INFO persistence"));
    ok(&mut c, "SET after 1");
    let dir = shutdown_nosave(server);
    let server = restart_aof(dir, &[]);
    let mut c = server.client();
    assert_eq!(c.int("DBSIZE"), N as i64 + 2);
    assert_eq!(c.cmd("MGET during after"), b"*2\r\n$1\r\n1\r\n$1\r\n1\r\n");
}

#[test]
fn we_load_the_resp_base_redis_server_writes_without_the_rdb_preamble() {
    if !have_redis_7_0() {
        return;
    }
    let dir = common::fresh_dir("aof-from-redis-resp");
    let flags = ["--appendonly", "yes", "--aof-use-rdb-preamble", "no"];
    let redis = RedisIn::start(&dir, &flags);
    let mut r = redis.client();
    fill_first_half(&mut r);
    fill_second_half(&mut r);
    rewrite(&mut r);
    ok(&mut r, "SET after:rewrite 1");
    let want = dump(&mut r, true);
    redis.shutdown();
    let (base, _) = manifest_files(&dir)
        .into_iter()
        .find(|(_, t)| t == "b")
        .expect("a base");
    let data = std::fs::read(aof_dir(&dir).join(&base)).expect("base");
    assert!(
        data.starts_with(b"*"),
        "redis-server wrote an RDB base {base}"
    );
    let server = restart_aof(dir, &[]);
    assert_same(
        &dump(&mut server.client(), true),
        &want,
        "we read redis-server's RESP base",
    );
}

#[test]
fn a_torn_command_inside_a_transaction_cuts_the_whole_transaction() {
    let server = ours_aof(&[]);
    let mut c = server.client();
    ok(&mut c, "SET a 1");
    let dir = shutdown_nosave(server);
    let incr = last_incr(&dir);
    let good = std::fs::read(&incr).expect("incr");
    let mut tail = common::encode(&[b"MULTI"]);
    tail.extend(common::encode(&[b"SET", b"m", b"1"]));
    tail.extend_from_slice(b"*2\r\n$4\r\nINCR\r\n$1\r\n");
    append(&incr, &tail);
    let server = restart_aof(dir, &[]);
    let mut c = server.client();
    assert_eq!(c.cmd("MGET a m"), b"*2\r\n$1\r\n1\r\n$-1\r\n");
    assert_eq!(std::fs::read(&incr).expect("incr"), good);
}

#[test]
fn kill_9_in_the_middle_of_concurrent_pipelined_writes_keeps_every_acknowledged_one() {
    use std::sync::atomic::{AtomicI64, Ordering};
    for fsync in ["always", "everysec"] {
        let mut server = ours_aof(&["--appendfsync", fsync]);
        let port = server.port;
        let acked: Arc<Vec<AtomicI64>> = Arc::new((0..4).map(|_| AtomicI64::new(-1)).collect());
        let writers: Vec<_> = (0..4)
            .map(|w| {
                let acked = Arc::clone(&acked);
                std::thread::spawn(move || {
                    let mut stream =
                        std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
                    let mut i = 0i64;
                    // Pipelines of 10 RPUSHes (a write that is wrong if replayed twice);
                    // a reply means the write is acknowledged. Stops when the server dies.
                    while i < 1_000_000 {
                        let mut batch = Vec::new();
                        for j in i..i + 10 {
                            batch.extend(common::encode(&[
                                b"RPUSH",
                                format!("list:{w}").as_bytes(),
                                j.to_string().as_bytes(),
                            ]));
                        }
                        if std::io::Write::write_all(&mut stream, &batch).is_err() {
                            return;
                        }
                        let mut c = Client::from_stream(stream.try_clone().expect("clone"));
                        for j in i..i + 10 {
                            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                                c.read_reply()
                            }));
                            match r {
                                Ok(r) => {
                                    assert_eq!(text(&r), format!(":{}\r\n", j + 1));
                                    acked[w].store(j, Ordering::SeqCst);
                                }
                                Err(_) => return,
                            }
                        }
                        i += 10;
                    }
                })
            })
            .collect();
        let busy = wait_for(PATIENCE, || {
            acked
                .iter()
                .all(|a| a.load(Ordering::SeqCst) >= 500)
                .then_some(())
        });
        assert!(busy.is_some(), "{fsync}: the writers did not get going");
        server.signal_and_wait(libc::SIGKILL);
        for w in writers {
            let _ = w.join();
        }
        let dir = std::mem::take(&mut server.dir);
        drop(server);
        let server = restart_aof(dir, &["--appendfsync", fsync]);
        let mut c = server.client();
        for (w, a) in acked.iter().enumerate() {
            let last = a.load(Ordering::SeqCst);
            let items = common::bulk_strings(&c.cmd(&format!("LRANGE list:{w} 0 -1")));
            assert!(
                items.len() as i64 > last,
                "{fsync}: list:{w} has {} items, {} were acknowledged",
                items.len(),
                last + 1
            );
            for (j, item) in items.iter().enumerate() {
                assert_eq!(text(item), j.to_string(), "{fsync}: list:{w}[{j}]");
            }
        }
    }
}

#[test]
fn the_aof_is_rewritten_automatically_when_it_grows() {
    let server = ours_aof(&[]);
    let mut c = server.client();
    ok(&mut c, "CONFIG SET auto-aof-rewrite-min-size 1mb");
    ok(&mut c, "CONFIG SET auto-aof-rewrite-percentage 100");
    assert_eq!(info_field(&mut c, "persistence", "aof_rewrites"), 0);
    // Overwrite a few keys until the incr file passes 1 MB: the rewrite makes it small.
    let value = "x".repeat(1000);
    let batch: Vec<Vec<String>> = (0..1500)
        .map(|i| vec!["SET".into(), format!("k{}", i % 10), value.clone()])
        .collect();
    pipeline(&mut c, &batch);
    let rewritten = wait_for(PATIENCE, || {
        (info_field(&mut c, "persistence", "aof_rewrites") >= 1).then_some(())
    });
    assert!(rewritten.is_some(), "{}", c.cmd_str("INFO persistence"));
    wait_rewrite_done(&mut c);
    let size = info_field(&mut c, "persistence", "aof_current_size");
    assert!(size < 100_000, "aof_current_size {size} after the rewrite");
    // INFO's size is the files' size.
    let on_disk: u64 = manifest_files(&server.dir)
        .iter()
        .map(|(n, _)| {
            std::fs::metadata(aof_dir(&server.dir).join(n))
                .expect("file")
                .len()
        })
        .sum();
    assert_eq!(size, on_disk);
    let dir = shutdown_nosave(server);
    let server = restart_aof(dir, &[]);
    let mut c = server.client();
    assert_eq!(c.int("DBSIZE"), 10);
    assert_eq!(c.int("STRLEN k9"), 1000);
}
