//! Snapshots: SAVE, BGSAVE, save points, SHUTDOWN and SIGTERM, loading at start, damaged
//! files, -MISCONF, and files moving between rust-keyval and redis-server 7.0 both ways.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{Client, Server, free_port, have_tool, info_field, text, wait_for};

const PATIENCE: Duration = Duration::from_secs(30);

/// Runs one command given as separate arguments, returning the reply as text.
fn call(c: &mut Client, args: &[&str]) -> String {
    text(c.cmd_args(args))
}

/// Fills the current server with every type in small and large encodings, TTLs, two
/// databases and a function library.
fn fill_every_type(c: &mut Client) {
    for line in [
        "SET s:int 12345",
        "SET s:short hello",
        "SET s:neg -9223372036854775808",
        "RPUSH l:small a b 1 2 -3",
        "HSET h:small f1 v1 f2 2",
        "SADD set:int 1 2 3 -70000 5000000000",
        "SADD set:str a b c",
        "ZADD z:small 1 a 2.5 b -inf c",
        "SET ttl:key v",
        "PEXPIRE ttl:key 500000",
        "XADD st 1-1 f v",
        "XADD st 2-1 f v2 g x",
        "XADD st 3-1 f v3",
        "XDEL st 2-1",
        "XGROUP CREATE st grp 0",
        "XREADGROUP GROUP grp alice COUNT 1 STREAMS st >",
        "SELECT 5",
        "SET db5:key five",
        "SELECT 0",
    ] {
        let r = c.cmd(line);
        assert!(!r.starts_with(b"-"), "{line}: {}", text(r));
    }
    c.cmd_args(&["SET", "s:long", &"compressible ".repeat(100)]);
    let binary: Vec<u8> = (0..=255u8).cycle().take(5000).collect();
    c.call(&[b"SET", b"s:binary", &binary]);
    for i in 0..2000 {
        let (m, v) = (format!("m{i}"), format!("value-{i}"));
        c.cmd_args(&["RPUSH", "l:big", &v]);
        c.cmd_args(&["HSET", "h:big", &m, &v]);
        c.cmd_args(&["SADD", "set:big", &m]);
        c.cmd_args(&["ZADD", "z:big", &i.to_string(), &m]);
        c.cmd_args(&["SADD", "set:bigint", &(i * 7).to_string()]);
    }
    for i in 0..250 {
        c.cmd_args(&["XADD", "st:big", "*", "n", &i.to_string()]);
    }
    let lib = "#!lua name=plib\nredis.register_function('pf', function() return 7 end)";
    assert_eq!(c.cmd_args(&["FUNCTION", "LOAD", lib]), b"$4\r\nplib\r\n");
}

/// Everything a client can read about the dataset, in a fixed order.
fn state(c: &mut Client) -> Vec<String> {
    let mut out = Vec::new();
    for db in [0, 5] {
        c.cmd(&format!("SELECT {db}"));
        let mut keys = common::bulk_strings(&c.cmd("KEYS *"));
        keys.sort();
        for key in keys {
            let k = String::from_utf8_lossy(&key).into_owned();
            let ty = c.cmd_str(&format!("TYPE {k}")).trim().to_string();
            let enc = call(c, &["OBJECT", "ENCODING", &k]);
            let ttl = c.int(&format!("PTTL {k}")) > 0;
            let body = match ty.trim_start_matches('+') {
                "string" => text(c.call(&[b"GET", &key])),
                "list" => call(c, &["LRANGE", &k, "0", "-1"]),
                "hash" => format!("{:?}", common::sorted(&c.cmd_args(&["HGETALL", &k]), true)),
                "set" => format!(
                    "{:?}",
                    common::sorted(&c.cmd_args(&["SMEMBERS", &k]), false)
                ),
                "zset" => call(c, &["ZRANGE", &k, "0", "-1", "WITHSCORES"]),
                "stream" => [
                    call(c, &["XRANGE", &k, "-", "+"]),
                    call(c, &["XINFO", "GROUPS", &k]),
                    call(c, &["XPENDING", &k, "grp"]),
                    call(c, &["XLEN", &k]),
                ]
                .join(" "),
                other => panic!("type {other}"),
            };
            let line = format!("db{db} {k} {ty} {enc} ttl={ttl} {body}");
            out.push(line.replace("\r\n", " "));
        }
    }
    c.cmd("SELECT 0");
    out.push(call(c, &["FCALL", "pf", "0"]));
    out
}

/// Compares two [`state`]s line by line, showing the first lines that differ.
fn assert_same(got: &[String], want: &[String], what: &str) {
    let short = |s: &String| s.chars().take(400).collect::<String>();
    for (g, w) in got.iter().zip(want) {
        assert!(g == w, "{what}:\n got: {}\nwant: {}", short(g), short(w));
    }
    assert_eq!(got.len(), want.len(), "{what}: different key counts");
}

/// Starts redis-server 7.0 in `dir` (which may hold a dump.rdb to load).
struct RedisIn {
    child: std::process::Child,
    port: u16,
}

impl RedisIn {
    fn start(dir: &Path) -> RedisIn {
        let port = free_port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(dir)
            .stdout(Stdio::null())
            .spawn()
            .expect("start redis-server");
        let up = wait_for(PATIENCE, || {
            std::net::TcpStream::connect(("127.0.0.1", port))
                .ok()
                .map(|_| ())
        });
        assert!(up.is_some(), "redis-server did not start");
        // Answers PING once the file is loaded.
        let mut c = Client::connect(port);
        let ready = wait_for(PATIENCE, || (c.cmd("PING") == b"+PONG\r\n").then_some(()));
        assert!(ready.is_some());
        RedisIn { child, port }
    }
}

impl Drop for RedisIn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn stop_keeping_dir(mut server: Server, sig: i32) -> PathBuf {
    server.signal_and_wait(sig);
    std::mem::take(&mut server.dir)
}

#[test]
fn save_then_restart_gives_back_every_type() {
    let server = Server::start(&["--save", ""]);
    let mut c = server.client();
    fill_every_type(&mut c);
    let before = state(&mut c);
    assert_eq!(c.cmd("SAVE"), b"+OK\r\n");
    assert_eq!(
        info_field(&mut c, "persistence", "rdb_changes_since_last_save"),
        0
    );
    // kill -9: nothing more is saved; the restart sees what SAVE wrote.
    let dir = stop_keeping_dir(server, libc::SIGKILL);
    let again = Server::start_in(dir, |cmd| {
        cmd.args(["--save", ""]);
    });
    let mut c = again.client();
    assert_same(&state(&mut c), &before, "after a restart");
    let loaded = info_field(&mut c, "persistence", "rdb_last_load_keys_loaded");
    assert_eq!(loaded as usize, before.len() - 1);
}

#[test]
fn sigterm_and_shutdown_save_with_save_points() {
    // Default save points: SIGTERM saves, as Redis does.
    let server = Server::start(&[]);
    let mut c = server.client();
    c.cmd("SET k1 v1");
    let (status, dir) = server.terminate_keeping_dir();
    assert!(status.success());
    assert!(dir.join("dump.rdb").exists());
    // SHUTDOWN (save points set) saves; the connection closes with no reply.
    let server = Server::start_in(dir, |_| {});
    let mut c = server.client();
    assert_eq!(c.cmd("GET k1"), b"$2\r\nv1\r\n");
    c.cmd("SET k2 v2");
    c.send(&[b"SHUTDOWN"]);
    assert!(c.read_to_eof().is_empty());
    let dir = stop_keeping_dir(server, libc::SIGKILL);
    // SHUTDOWN NOSAVE does not save.
    let server = Server::start_in(dir, |_| {});
    let mut c = server.client();
    assert_eq!(c.cmd("GET k2"), b"$2\r\nv2\r\n");
    c.cmd("SET k3 v3");
    c.send(&[b"SHUTDOWN", b"NOSAVE"]);
    assert!(c.read_to_eof().is_empty());
    let dir = stop_keeping_dir(server, libc::SIGKILL);
    // Without save points, SHUTDOWN SAVE still saves.
    let server = Server::start_in(dir, |cmd| {
        cmd.args(["--save", ""]);
    });
    let mut c = server.client();
    assert_eq!(c.cmd("EXISTS k3"), b":0\r\n");
    c.cmd("SET k4 v4");
    c.send(&[b"SHUTDOWN", b"SAVE"]);
    assert!(c.read_to_eof().is_empty());
    let dir = stop_keeping_dir(server, libc::SIGKILL);
    let server = Server::start_in(dir, |cmd| {
        cmd.args(["--save", ""]);
    });
    assert_eq!(server.client().cmd("GET k4"), b"$2\r\nv4\r\n");
}

#[test]
fn files_move_between_redis_and_us_both_ways() {
    if !have_tool("redis-server") || !have_tool("redis-check-rdb") {
        return;
    }
    // Ours -> redis-check-rdb and redis-server.
    let server = Server::start(&["--save", ""]);
    let mut c = server.client();
    fill_every_type(&mut c);
    let ours = state(&mut c);
    assert_eq!(c.cmd("SAVE"), b"+OK\r\n");
    let file = server.dir.join("dump.rdb");
    let check = Command::new("redis-check-rdb")
        .arg(&file)
        .output()
        .expect("run redis-check-rdb");
    let report = String::from_utf8_lossy(&check.stdout);
    assert!(check.status.success(), "{report}");
    assert!(report.contains("RDB looks OK"), "{report}");
    let redis_dir = common::fresh_dir("redis-load");
    std::fs::copy(&file, redis_dir.join("dump.rdb")).expect("copy");
    let redis = RedisIn::start(&redis_dir);
    let mut r = Client::connect(redis.port);
    assert_same(&state(&mut r), &ours, "redis-server read our file");
    // Redis -> us: redis-server writes the same data in its own encodings.
    assert_eq!(r.cmd("SAVE"), b"+OK\r\n");
    drop(redis);
    let back = Server::start_in(redis_dir, |cmd| {
        cmd.args(["--save", ""]);
    });
    let mut c = back.client();
    assert_eq!(
        state(&mut c),
        ours,
        "we read redis-server's file differently"
    );
}

#[test]
fn bgsave_writes_the_dataset_as_of_its_start_while_writes_go_on() {
    let server = Server::start(&["--save", ""]);
    let mut c = server.client();
    const N: usize = 200_000;
    // Load N keys in big pipelines.
    for start in (0..N).step_by(10_000) {
        let mut batch = Vec::new();
        for i in start..start + 10_000 {
            batch.extend(common::encode(&[
                b"SET",
                format!("key:{i}").as_bytes(),
                b"old",
            ]));
        }
        c.send_raw(&batch);
        for _ in start..start + 10_000 {
            assert_eq!(c.read_reply(), b"+OK\r\n");
        }
    }
    c.cmd("HSET hash f old");
    // BGSAVE, and in the same pipeline right behind it: overwrite every key, delete
    // some, create others, change the hash in place, give TTLs. The walk runs between
    // batches of these, so many writes reach keys it has not passed yet.
    let mut writes = common::encode(&[b"BGSAVE"]);
    for i in 0..N {
        let k = format!("key:{i}");
        let cmd: Vec<&[u8]> = match i % 4 {
            0 => vec![b"SET", k.as_bytes(), b"new"],
            1 => vec![b"DEL", k.as_bytes()],
            2 => vec![b"APPEND", k.as_bytes(), b"-more"],
            _ => vec![b"EXPIRE", k.as_bytes(), b"1"],
        };
        writes.extend(common::encode(&cmd));
        if i % 8 == 1 {
            // Deleted, then created again: the new key is not part of the snapshot.
            writes.extend(common::encode(&[b"SET", k.as_bytes(), b"reborn"]));
        }
        if i % 10 == 0 {
            writes.extend(common::encode(&[
                b"SET",
                format!("created:{i}").as_bytes(),
                b"x",
            ]));
        }
    }
    writes.extend(common::encode(&[
        b"HSET", b"hash", b"f", b"new", b"g", b"added",
    ]));
    c.send_raw(&writes);
    assert_eq!(c.read_reply(), b"+Background saving started\r\n");
    let replies = N + N / 8 + N / 10 + 1;
    for _ in 0..replies {
        c.read_reply();
    }
    let done = wait_for(PATIENCE, || {
        (info_field(&mut c, "persistence", "rdb_bgsave_in_progress") == 0).then_some(())
    });
    assert!(done.is_some(), "BGSAVE did not finish");
    assert!(
        c.cmd_str("INFO persistence")
            .contains("rdb_last_bgsave_status:ok")
    );
    // The walk had not reached many of the keys the writes touched: those were saved
    // before they changed.
    let early = info_field(&mut c, "persistence", "keyval_snapshot_keys_saved_early");
    assert!(early > 0, "no key was saved ahead of a write");
    let dir = stop_keeping_dir(server, libc::SIGKILL);
    let again = Server::start_in(dir, |cmd| {
        cmd.args(["--save", ""]);
    });
    let mut c = again.client();
    assert_eq!(c.int("DBSIZE"), N as i64 + 1);
    assert_eq!(c.int("EXISTS created:0 created:10 created:199990"), 0);
    let mut batch = Vec::new();
    for i in 0..N {
        batch.extend(common::encode(&[b"GET", format!("key:{i}").as_bytes()]));
    }
    c.send_raw(&batch);
    for i in 0..N {
        assert_eq!(c.read_reply(), b"$3\r\nold\r\n", "key:{i}");
    }
    assert_eq!(c.int("PTTL key:3"), -1);
    assert_eq!(
        text(c.cmd("HGETALL hash")),
        text(b"*2\r\n$1\r\nf\r\n$3\r\nold\r\n")
    );
}

#[test]
fn damaged_files_stop_the_start() {
    // A valid file to damage.
    let server = Server::start(&["--save", ""]);
    let mut c = server.client();
    for i in 0..100 {
        c.cmd_args(&["SET", &format!("k{i}"), &"v".repeat(i)]);
    }
    c.cmd("SAVE");
    let good = std::fs::read(server.dir.join("dump.rdb")).expect("read dump.rdb");
    drop(server);
    let mut flipped = good.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0x55;
    let mut newer = good.clone();
    newer[5..9].copy_from_slice(b"0011");
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty", Vec::new(), "Unexpected EOF"),
        (
            "garbage",
            b"this is not an RDB file at all".to_vec(),
            "Wrong signature",
        ),
        (
            "truncated",
            good[..good.len() - 20].to_vec(),
            "Refusing to start",
        ),
        ("flipped byte", flipped, "dump.rdb"),
        ("newer version", newer, "Can't handle RDB format version 11"),
    ];
    for (what, bytes, message) in cases {
        let dir = common::fresh_dir("damaged");
        std::fs::write(dir.join("dump.rdb"), &bytes).expect("write");
        let out = Command::new(common::server_bin())
            .current_dir(&dir)
            .args([
                "--bind",
                "127.0.0.1:0",
                "--metrics-bind",
                "off",
                "--save",
                "",
            ])
            .env_remove("KEYVAL_BIND")
            .output()
            .expect("run the server");
        let log = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{what}: the server started");
        assert!(log.contains(message), "{what}: {log}");
        // The file is left as it was, for repair.
        assert_eq!(std::fs::read(dir.join("dump.rdb")).expect("read"), bytes);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn a_failed_background_save_refuses_writes_with_misconf() {
    let server = Server::start(&[]);
    let mut c = server.client();
    c.cmd("SET before 1");
    // Remove the server's working directory: the snapshot cannot be created.
    std::fs::remove_dir_all(&server.dir).expect("remove the directory");
    assert_eq!(c.cmd("BGSAVE"), b"+Background saving started\r\n");
    let failed = wait_for(PATIENCE, || {
        c.cmd_str("INFO persistence")
            .contains("rdb_last_bgsave_status:err")
            .then_some(())
    });
    assert!(failed.is_some());
    let misconf = "-MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. Commands that may modify the data set are disabled, because this instance is configured to report errors during writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). Please check the Redis logs for details about the RDB error.\r\n";
    assert_eq!(text(c.cmd("SET k v")), text(misconf));
    assert_eq!(text(c.cmd("PING")), text(misconf));
    assert_eq!(c.cmd("GET before"), b"$1\r\n1\r\n");
    // A transaction with a write is aborted at EXEC.
    assert_eq!(c.cmd("MULTI"), b"+OK\r\n");
    assert!(c.cmd("INCR before").starts_with(b"-MISCONF"));
    assert!(c.cmd("EXEC").starts_with(b"-EXECABORT"));
    // With the option off, writes go through.
    c.cmd("CONFIG SET stop-writes-on-bgsave-error no");
    assert_eq!(c.cmd("SET k v"), b"+OK\r\n");
    // A save that works clears the error.
    c.cmd("CONFIG SET stop-writes-on-bgsave-error yes");
    std::fs::create_dir_all(&server.dir).expect("recreate the directory");
    assert_eq!(c.cmd("SAVE"), b"-ERR\r\n");
}

#[test]
fn save_points_start_background_saves() {
    let server = Server::start(&["--save", "1 1"]);
    let mut c = server.client();
    let first = c.int("LASTSAVE");
    assert_eq!(info_field(&mut c, "persistence", "rdb_saves"), 0);
    c.cmd("SET k v");
    assert_eq!(
        info_field(&mut c, "persistence", "rdb_changes_since_last_save"),
        1
    );
    let saved = wait_for(PATIENCE, || {
        (info_field(&mut c, "persistence", "rdb_saves") >= 1).then_some(())
    });
    assert!(saved.is_some(), "the save point did not fire");
    assert_eq!(
        info_field(&mut c, "persistence", "rdb_changes_since_last_save"),
        0
    );
    assert!(c.int("LASTSAVE") > first);
    assert!(server.dir.join("dump.rdb").exists());
    // BGSAVE while one runs, and its syntax.
    assert_eq!(text(c.cmd("BGSAVE now")), text(b"-ERR syntax error\r\n"));
}

#[test]
fn eviction_markers_survive_a_restart() {
    for (policy, option, value, read) in [
        ("allkeys-lfu", "FREQ", "100", "OBJECT FREQ k"),
        ("allkeys-lru", "IDLETIME", "5000", "OBJECT IDLETIME k"),
    ] {
        let flags = ["--save", "", "--maxmemory-policy", policy];
        let server = Server::start(&flags);
        let mut c = server.client();
        c.cmd("SET k v");
        let payload = c.cmd("DUMP k");
        let payload = &payload
            [payload.iter().position(|&b| b == b'\n').expect("bulk") + 1..payload.len() - 2];
        let restored = c.call(&[
            b"RESTORE",
            b"k",
            b"0",
            payload,
            b"REPLACE",
            option.as_bytes(),
            value.as_bytes(),
        ]);
        assert_eq!(restored, b"+OK\r\n");
        assert_eq!(c.cmd("SAVE"), b"+OK\r\n");
        let dir = stop_keeping_dir(server, libc::SIGKILL);
        let again = Server::start_in(dir, |cmd| {
            cmd.args(flags);
        });
        let got = again.client().int(read);
        let want: i64 = value.parse().expect("number");
        // The idle time grows by the seconds the restart took.
        assert!((want..want + 30).contains(&got), "{policy}: {read} = {got}");
    }
}

/// An RDB file of `n` string keys `key:<i>` = `v`, written directly (CRC64 0: "not
/// computed", which loaders accept).
fn big_rdb(n: usize) -> Vec<u8> {
    let mut f = b"REDIS0010".to_vec();
    f.extend_from_slice(&[0xFE, 0]);
    for i in 0..n {
        let key = format!("key:{i:09}");
        f.push(0); // string
        f.push(key.len() as u8);
        f.extend_from_slice(key.as_bytes());
        f.extend_from_slice(&[1, b'v']);
    }
    f.push(0xFF);
    f.extend_from_slice(&[0; 8]);
    f
}

#[test]
fn commands_get_loading_until_the_dataset_is_loaded() {
    const N: usize = 2_000_000;
    let dir = common::fresh_dir("loading");
    std::fs::write(dir.join("dump.rdb"), big_rdb(N)).expect("write the file");
    let server = Server::start_loading_in(dir, |cmd| {
        cmd.args(["--save", ""]);
    });
    let mut c = server.client();
    // The server answers at once; data commands get Redis's -LOADING until the load ends,
    // INFO (flagged loading) runs and reports the progress.
    let first = c.cmd_str("DBSIZE");
    assert_eq!(
        first, "-LOADING Redis is loading the dataset in memory\r\n",
        "{N} keys loaded before the first command"
    );
    // (The load of 2M keys takes seconds; this follows the -LOADING at once.)
    let info = c.cmd_str("INFO persistence");
    assert!(info.contains("\r\nloading:1\r\n"), "{info}");
    assert!(info.contains("loading_total_bytes:"), "{info}");
    assert!(info.contains("loading_start_time:"), "{info}");
    server.wait_loaded();
    assert_eq!(c.int("DBSIZE"), N as i64);
    assert_eq!(c.cmd_str("GET key:001234567"), "$1\r\nv\r\n");
    let loaded = info_field(&mut c, "persistence", "rdb_last_load_keys_loaded");
    assert_eq!(loaded, N as u64);
}
