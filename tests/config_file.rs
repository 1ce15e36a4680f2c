//! Configuration files as Redis reads them: `rust-keyval /path/to/redis.conf [--flag value]`.
//! Debian's stock redis.conf starts the server; flags and environment override the file;
//! bad files stop the start with Redis's message; CONFIG REWRITE writes the file back as
//! redis-server does; daemonize, pidfile, logfile and systemd supervision behave as Redis's.

mod common;

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{Client, Server, free_port, fresh_dir, have_tool, server_bin, text, wait_for};

const STOCK: &str = "/etc/redis/redis.conf";

/// Our server binary with none of the environment variables that would override a file.
fn ours() -> Command {
    let mut cmd = Command::new(server_bin());
    for var in [
        "KEYVAL_BIND",
        "METRICS_BIND",
        "KEYVAL_LOG_LEVEL",
        "KEYVAL_SAVE",
        "KEYVAL_DIR",
        "KEYVAL_DBFILENAME",
        "KEYVAL_TIMEOUT",
        "KEYVAL_MAXCLIENTS",
        "KEYVAL_DATABASES",
        "KEYVAL_REQUIREPASS",
    ] {
        cmd.env_remove(var);
    }
    cmd.args(["--metrics-bind", "off"]);
    cmd
}

/// A child process killed (and reaped) when dropped.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Removes a test's directory when dropped.
struct Cleanup(std::path::PathBuf);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Waits until something answers PING on `port`.
fn ping(port: u16) -> Client {
    let up = wait_for(Duration::from_secs(20), || {
        let stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
        let mut c = Client::from_stream(stream);
        (c.cmd_str("PING") == "+PONG\r\n").then_some(c)
    });
    let mut c = up.unwrap_or_else(|| panic!("nothing answers PING on port {port}"));
    c.cmd("PING");
    Client::connect(port)
}

/// CONFIG GET with `pattern`: sorted (name, value) pairs.
fn config_pairs(c: &mut Client, pattern: &str) -> Vec<(String, String)> {
    let reply = c.cmd_args(&["CONFIG", "GET", pattern]);
    let mut pos = 0;
    let common::Resp::Agg(_, Some(items)) = common::decode(&reply, &mut pos) else {
        panic!("CONFIG GET {pattern}: {}", text(&reply));
    };
    let bulk = |r: &common::Resp| match r {
        common::Resp::Bulk(Some(v)) => String::from_utf8_lossy(v).into_owned(),
        other => panic!("CONFIG GET {pattern}: {other:?}"),
    };
    let mut pairs: Vec<(String, String)> = items
        .chunks(2)
        .map(|kv| (bulk(&kv[0]), bulk(&kv[1])))
        .collect();
    pairs.sort();
    pairs
}

/// CONFIG GET of one parameter, as text.
fn config_get(c: &mut Client, name: &str) -> String {
    match config_pairs(c, name).as_slice() {
        [(_, v)] => v.clone(),
        other => panic!("CONFIG GET {name}: {other:?}"),
    }
}

/// CONFIG GET * as sorted (name, value) pairs.
fn config_all(c: &mut Client) -> Vec<(String, String)> {
    config_pairs(c, "*")
}

/// Debian's stock redis.conf with only what a user changes to run it unprivileged: the
/// port, `dir`, `daemonize no`, and the log and pid files moved into `dir` (the stock
/// paths under /var need root). None (skipped) when the file is not installed.
fn stock_conf(dir: &Path, port: u16) -> Option<String> {
    let Ok(stock) = std::fs::read_to_string(STOCK) else {
        assert!(
            !common::tools_required(),
            "{STOCK} is required (KEYVAL_REQUIRE_TOOLS=1): install redis-server"
        );
        eprintln!("SKIPPED: {STOCK} is not installed");
        return None;
    };
    let edited: Vec<String> = stock
        .lines()
        .map(|l| match l.split(' ').next() {
            Some("port") => format!("port {port}"),
            Some("dir") => format!("dir {}", dir.display()),
            Some("daemonize") => "daemonize no".into(),
            Some("logfile") => format!("logfile {}", dir.join("server.log").display()),
            Some("pidfile") => format!("pidfile {}", dir.join("server.pid").display()),
            _ => l.to_string(),
        })
        .collect();
    Some(edited.join("\n") + "\n")
}

/// The stock file starts the server, its values take effect and show in CONFIG GET, and
/// each directive that has no effect here is logged once.
#[test]
fn debians_stock_redis_conf_starts_the_server() {
    let dir = fresh_dir("conf-stock");
    let _cleanup_dir = Cleanup(dir.clone());
    let port = free_port();
    let Some(conf) = stock_conf(&dir, port) else {
        return;
    };
    let path = dir.join("redis.conf");
    std::fs::write(&path, &conf).unwrap();
    let child = ours()
        .arg(&path)
        .current_dir(std::env::temp_dir())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let child = Running(child);
    let mut c = ping(port);
    assert_eq!(config_get(&mut c, "bind"), "127.0.0.1 -::1");
    assert_eq!(config_get(&mut c, "port"), port.to_string());
    assert_eq!(config_get(&mut c, "dir"), dir.display().to_string());
    assert_eq!(config_get(&mut c, "databases"), "16");
    assert_eq!(config_get(&mut c, "timeout"), "0");
    assert_eq!(config_get(&mut c, "tcp-keepalive"), "300");
    assert_eq!(config_get(&mut c, "save"), "3600 1 300 100 60 10000");
    assert_eq!(config_get(&mut c, "daemonize"), "no");
    assert_eq!(config_get(&mut c, "tcp-backlog"), "511");
    assert_eq!(
        config_get(&mut c, "client-output-buffer-limit"),
        "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60"
    );
    let info = c.cmd_str("INFO server");
    assert!(
        info.contains(&format!("config_file:{}\r\n", path.display())),
        "{info}"
    );
    // pidfile: written by a server that is not daemonized too, as Redis does.
    let pid = std::fs::read_to_string(dir.join("server.pid")).unwrap();
    assert_eq!(pid, format!("{}\n", child.0.id()));
    // logfile: our log goes there, with one warning per directive without effect.
    let log = std::fs::read_to_string(dir.join("server.log")).unwrap();
    let warned = |name: &str| {
        log.matches(&format!(
            "'{name}' is a Redis directive rust-keyval does not support yet"
        ))
        .count()
    };
    for name in [
        "tcp-backlog",
        "repl-diskless-sync",
        "jemalloc-bg-thread",
        "oom-score-adj",
    ] {
        assert_eq!(warned(name), 1, "{name} in:\n{log}");
    }
    // client-output-buffer-limit appears three times, applied, and is not warned about.
    for name in [
        "port",
        "maxclients",
        "save",
        "client-output-buffer-limit",
        "dir",
    ] {
        assert_eq!(warned(name), 0, "{name} in:\n{log}");
    }
    // bind 127.0.0.1 -::1: both, when this host has IPv6 loopback (else ::1 is skipped).
    assert!(
        log.contains(&format!("listening on 127.0.0.1:{port}")),
        "{log}"
    );
    if ipv6_loopback() {
        assert!(log.contains(&format!("listening on [::1]:{port}")), "{log}");
        let v6 = std::net::TcpStream::connect(("::1", port)).expect("connect to [::1]");
        assert_eq!(Client::from_stream(v6).cmd_str("PING"), "+PONG\r\n");
    }
}

fn ipv6_loopback() -> bool {
    std::net::TcpListener::bind("[::1]:0").is_ok()
}

/// Every address of `bind` gets a listening socket on the same port, as Redis does; an
/// optional one (`-`) that is not on this host is skipped, a required one stops the start
/// with Redis's message.
#[test]
fn bind_listens_on_every_address() {
    let dir = fresh_dir("conf-bind");
    let _cleanup_dir = Cleanup(dir.clone());
    let port = free_port();
    let path = dir.join("keyval.conf");
    // 192.0.2.1 is TEST-NET-1: never a local address.
    let v6 = if ipv6_loopback() { " ::1" } else { "" };
    std::fs::write(
        &path,
        format!("bind 127.0.0.1 127.0.0.2{v6} -192.0.2.1\nport {port}\nsave \"\"\n"),
    )
    .unwrap();
    let _child = Running(
        ours()
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    ping(port);
    let mut hosts = vec!["127.0.0.1", "127.0.0.2"];
    if !v6.is_empty() {
        hosts.push("::1");
    }
    for host in hosts {
        let stream = std::net::TcpStream::connect((host, port)).expect(host);
        let mut c = Client::from_stream(stream);
        assert_eq!(c.cmd_str("PING"), "+PONG\r\n", "{host}");
        assert_eq!(
            config_get(&mut c, "bind"),
            format!("127.0.0.1 127.0.0.2{v6} -192.0.2.1")
        );
    }

    let bad = dir.join("bad.conf");
    let port = free_port();
    std::fs::write(
        &bad,
        format!("bind 127.0.0.1 192.0.2.1\nport {port}\nsave \"\"\n"),
    )
    .unwrap();
    let (code, stderr) = failing_start(ours(), &bad);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "Could not create server TCP listening socket 192.0.2.1:{port}"
        )),
        "{stderr}"
    );
}

/// bind, port, requirepass, maxclients, databases and timeout from a file take effect.
#[test]
fn file_settings_take_effect() {
    let dir = fresh_dir("conf-effect");
    let _cleanup_dir = Cleanup(dir.clone());
    let port = free_port();
    let path = dir.join("keyval.conf");
    std::fs::write(
        &path,
        format!(
            "bind 127.0.0.1\nport {port}\nrequirepass \"s3cret pass\"\nmaxclients 2\n\
             databases 4\ntimeout 1\nsave \"\"\n"
        ),
    )
    .unwrap();
    let _child = Running(
        ours()
            .arg(&path)
            .current_dir(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    // maxclients 2: this connection and one more.
    let stream = wait_for(Duration::from_secs(20), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).ok()
    })
    .expect("the server listens on the file's port");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut c = Client::from_stream(stream);
    assert_eq!(
        c.cmd_str("PING"),
        "-NOAUTH Authentication required.\r\n",
        "requirepass"
    );
    assert_eq!(text(c.cmd_args(&["AUTH", "s3cret pass"])), "+OK\r\n");
    assert_eq!(c.cmd_str("SELECT 3"), "+OK\r\n");
    assert_eq!(c.cmd_str("SELECT 4"), "-ERR DB index is out of range\r\n");
    assert_eq!(config_get(&mut c, "timeout"), "1");
    let mut second = Client::connect(port);
    assert!(second.cmd_str("PING").starts_with("-NOAUTH"));
    let mut third = Client::connect(port);
    assert_eq!(
        text(third.read_to_eof()),
        "-ERR max number of clients reached\r\n"
    );
    // timeout 1: an idle client is closed within a couple of seconds.
    let start = std::time::Instant::now();
    assert!(second.read_to_eof().is_empty());
    assert!(start.elapsed() < Duration::from_secs(5));
}

/// Precedence: command-line flags, then environment variables, then the file.
#[test]
fn flags_and_environment_override_the_file() {
    let dir = fresh_dir("conf-override");
    let _cleanup_dir = Cleanup(dir.clone());
    let path = dir.join("keyval.conf");
    std::fs::write(
        &path,
        "port 1\nmaxclients 50\ntimeout 7\ndatabases 8\nhz 20\ndbfilename from-file.rdb\n",
    )
    .unwrap();
    let server = Server::start_in(dir.clone(), |cmd| {
        // Server::start_in passes --bind 127.0.0.1:0: it overrides the file's port.
        cmd.arg(&path)
            .args(["--maxclients", "60"])
            .env("KEYVAL_TIMEOUT", "9")
            .env("KEYVAL_DBFILENAME", "from-env.rdb");
    });
    let mut c = server.client();
    assert_eq!(config_get(&mut c, "port"), server.port.to_string());
    assert_eq!(config_get(&mut c, "maxclients"), "60");
    assert_eq!(config_get(&mut c, "timeout"), "9");
    assert_eq!(config_get(&mut c, "dbfilename"), "from-env.rdb");
    assert_eq!(config_get(&mut c, "databases"), "8");
    assert_eq!(config_get(&mut c, "hz"), "20");
    // A flag beats the same setting from the environment.
    let server = Server::start_in(dir, |cmd| {
        cmd.arg(&path)
            .args(["--timeout", "11"])
            .env("KEYVAL_TIMEOUT", "9");
    });
    assert_eq!(config_get(&mut server.client(), "timeout"), "11");
}

/// Runs a server on a file that must not start; returns its exit code and stderr.
fn failing_start(mut cmd: Command, path: &Path) -> (Option<i32>, String) {
    let out = cmd
        .arg(path)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A bad file stops the start with exit code 1 and Redis's message (file, line and the
/// line's text), byte for byte what redis-server prints for the same file, plus the file.
#[test]
fn a_bad_file_stops_the_start_as_redis() {
    let dir = fresh_dir("conf-bad");
    let _cleanup_dir = Cleanup(dir.clone());
    let cases = [
        (
            "port 7000\nbogus-directive yes\n",
            "Bad directive or wrong number of arguments",
        ),
        ("# c\n\ntimeout 1 2\n", "wrong number of arguments"),
        (
            "maxclients 0\n",
            "argument must be between 1 and 4294967295 inclusive",
        ),
        (
            "  save \"3600 1\n",
            "Unbalanced quotes in configuration line",
        ),
        (
            "maxmemory-policy most\n",
            "argument(s) must be one of the following: volatile-lru, volatile-lfu, volatile-random, volatile-ttl, allkeys-lru, allkeys-lfu, allkeys-random, noeviction",
        ),
        ("appendonly maybe\n", "argument must be 'yes' or 'no'"),
    ];
    let redis = have_tool("redis-server");
    for (i, (conf, message)) in cases.iter().enumerate() {
        let path = dir.join(format!("bad{i}.conf"));
        std::fs::write(&path, conf).unwrap();
        let (code, stderr) = failing_start(ours(), &path);
        assert_eq!(code, Some(1), "{conf:?}: {stderr}");
        let bad_line = conf
            .lines()
            .rfind(|l| !l.trim().is_empty() && !l.starts_with('#'))
            .unwrap();
        let line_no = conf.lines().position(|l| l == bad_line).unwrap() + 1;
        let expected = format!(
            "\n*** FATAL CONFIG FILE ERROR (Redis 7.0.15) ***\n\
             Reading the configuration file, at line {line_no}\n>>> '{}'\n{message}\n",
            bad_line.trim()
        );
        assert_eq!(
            stderr,
            format!("{expected}(in {})\n", path.display()),
            "{conf:?}"
        );
        if redis {
            let mut cmd = Command::new("redis-server");
            cmd.current_dir(&dir);
            let (code, theirs) = failing_start(cmd, &path);
            assert_eq!(code, Some(1), "redis-server on {conf:?}: {theirs}");
            assert_eq!(theirs, expected, "redis-server on {conf:?}");
        }
    }
    // A missing file.
    let (code, stderr) = failing_start(ours(), &dir.join("missing.conf"));
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains("can't open config file") && stderr.contains("No such file or directory"),
        "{stderr}"
    );
}

/// What CONFIG REWRITE wrote, after the scenario's CONFIG SETs, on a server started from
/// a copy of `conf` (with `flags`).
struct Rewritten {
    file: String,
    config: Vec<(String, String)>,
}

const REWRITE_CONF: &str = "# A small configuration.\n\
    # Comments stay where they are.\n\
    timeout 0\n\
    \n\
    \n\
    # maxmemory below\n\
    maxmemory 1mb\n\
    hash-max-ziplist-entries 100\n\
    save 900 1\n\
    save 300 10\n\
    notify-keyspace-events \"\"\n\
    include INCLUDED\n";

const REWRITE_SETS: &[(&str, &str)] = &[
    ("timeout", "30"),
    ("maxmemory", "10mb"),
    ("hash-max-listpack-entries", "64"),
    ("notify-keyspace-events", "KEA"),
    ("save", "100 10"),
    ("maxmemory-policy", "allkeys-lru"),
    ("slowlog-max-len", "5"),
    ("requirepass", "pa ss"),
];

/// The file as written by CONFIG REWRITE, split into the part kept in place and the lines
/// appended after Redis's signature (in the order Redis's hash table gives, so a set).
fn split_rewritten(file: &str) -> (String, Vec<String>) {
    let (kept, appended) = file
        .split_once("# Generated by CONFIG REWRITE\n")
        .unwrap_or((file, ""));
    let mut appended: Vec<String> = appended.lines().map(str::to_string).collect();
    appended.sort();
    (kept.to_string(), appended)
}

fn rewrite_on(port: u16) -> Vec<u8> {
    let mut c = Client::connect(port);
    for (name, value) in REWRITE_SETS {
        assert_eq!(
            text(c.cmd_args(&["CONFIG", "SET", name, value])),
            "+OK\r\n",
            "{name}"
        );
    }
    c.cmd_args(&["AUTH", "pa ss"]);
    c.cmd("CONFIG REWRITE")
}

/// CONFIG REWRITE keeps comments and unknown lines, rewrites in place, appends the rest;
/// a restart from the rewritten file has the same configuration; redis-server rewrites
/// the same file the same way.
#[test]
fn config_rewrite_round_trips_as_redis() {
    let dir = fresh_dir("conf-rewrite");
    let _cleanup_dir = Cleanup(dir.clone());
    // Outside the servers' directories, which go when they stop: redis-server reads it last.
    let include_dir = fresh_dir("conf-rewrite-include");
    let _cleanup_include = Cleanup(include_dir.clone());
    let included = include_dir.join("included.conf");
    std::fs::write(&included, "tcp-keepalive 60\n").unwrap();
    let conf = REWRITE_CONF.replace("INCLUDED", &included.display().to_string());
    let path = dir.join("keyval.conf");
    std::fs::write(&path, &conf).unwrap();

    let first = Server::start_in(dir.clone(), |cmd| {
        cmd.arg(&path);
    });
    assert_eq!(text(rewrite_on(first.port)), "+OK\r\n");
    let mut c = first.client();
    c.cmd_args(&["AUTH", "pa ss"]);
    let ours = Rewritten {
        file: std::fs::read_to_string(&path).unwrap(),
        config: config_all(&mut c),
    };
    drop(c);
    let (_, dir) = first.terminate_keeping_dir();

    // Comments, blank lines and include kept; values rewritten in place.
    let (kept, appended) = split_rewritten(&ours.file);
    assert_eq!(
        kept,
        format!(
            "# A small configuration.\n# Comments stay where they are.\ntimeout 30\n\n\
             # maxmemory below\nmaxmemory 10mb\nhash-max-listpack-entries 64\nsave 100 10\n\n\
             notify-keyspace-events \"AKE\"\ninclude {}\n\n",
            included.display()
        )
    );
    for line in [
        "maxmemory-policy allkeys-lru",
        "slowlog-max-len 5",
        "requirepass \"pa ss\"",
        "tcp-keepalive 60",
    ] {
        assert!(appended.iter().any(|l| l == line), "{line} in {appended:?}");
    }

    // A restart from the file has the same configuration.
    let second = Server::start_in(dir.clone(), |cmd| {
        cmd.arg(&path);
    });
    let mut c = second.client();
    c.cmd_args(&["AUTH", "pa ss"]);
    let again = config_all(&mut c);
    let differs: Vec<_> = ours
        .config
        .iter()
        .zip(&again)
        .filter(|(a, b)| a != b && a.0 != "port")
        .collect();
    assert!(differs.is_empty(), "{differs:?}");
    assert_eq!(ours.config.len(), again.len());
    // Rewriting an unchanged configuration changes nothing.
    assert_eq!(text(c.cmd("CONFIG REWRITE")), "+OK\r\n");
    let unchanged = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        split_rewritten(&unchanged).0,
        kept,
        "a second rewrite moved lines"
    );
    drop(c);
    drop(second);

    // redis-server, from the same file with the same changes, keeps the same lines in
    // place and appends the same lines for what was set.
    if !have_tool("redis-server") {
        return;
    }
    let rdir = fresh_dir("conf-rewrite-redis");
    let _cleanup_rdir = Cleanup(rdir.clone());
    let rpath = rdir.join("redis.conf");
    let rport = free_port();
    std::fs::write(&rpath, format!("{conf}port {rport}\nbind 127.0.0.1\n")).unwrap();
    let _redis = Running(
        Command::new("redis-server")
            .arg(&rpath)
            .current_dir(&rdir)
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    ping(rport);
    assert_eq!(text(rewrite_on(rport)), "+OK\r\n");
    let theirs = std::fs::read_to_string(&rpath).unwrap();
    let (their_kept, their_appended) = split_rewritten(&theirs);
    // Redis's copy also names its own port and bind (ours came from the flags, so they
    // were appended).
    assert_eq!(
        their_kept.replace(&format!("port {rport}\nbind 127.0.0.1\n"), ""),
        kept
    );
    for line in [
        "maxmemory-policy allkeys-lru",
        "slowlog-max-len 5",
        "requirepass \"pa ss\"",
        "tcp-keepalive 60",
    ] {
        assert!(their_appended.iter().any(|l| l == line), "redis: {line}");
    }
}

/// Without a configuration file CONFIG REWRITE answers Redis's error.
#[test]
fn config_rewrite_without_a_file() {
    let server = Server::start(&[]);
    assert_eq!(
        server.client().cmd_str("CONFIG REWRITE"),
        "-ERR The server is running without a config file\r\n"
    );
    let info = server.client().cmd_str("INFO server");
    assert!(info.contains("\r\nconfig_file:\r\n"));
}

/// daemonize yes: the command returns at once (exit 0), the server runs in the background,
/// writes its pid to pidfile and its log to logfile; SIGTERM stops it and removes the
/// pid file, as Redis does.
#[test]
fn daemonize_pidfile_and_logfile() {
    let dir = fresh_dir("conf-daemon");
    let _cleanup_dir = Cleanup(dir.clone());
    let port = free_port();
    let path = dir.join("keyval.conf");
    let pidfile = dir.join("keyval.pid");
    let logfile = dir.join("keyval.log");
    std::fs::write(
        &path,
        format!(
            "daemonize yes\nport {port}\nbind 127.0.0.1\ndir {}\npidfile {}\nlogfile {}\n\
             save \"\"\n",
            dir.display(),
            pidfile.display(),
            logfile.display()
        ),
    )
    .unwrap();
    let status = ours()
        .arg(&path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "the foreground process exits 0");
    let pid: i32 = wait_for(Duration::from_secs(20), || {
        std::fs::read_to_string(&pidfile).ok()?.trim().parse().ok()
    })
    .expect("the pid file is written");
    // Kill the daemon even if the test fails from here.
    struct Daemon(i32);
    impl Drop for Daemon {
        fn drop(&mut self) {
            // SAFETY: signals the daemon this test started (its pid from its pid file).
            unsafe { libc::kill(self.0, libc::SIGKILL) };
        }
    }
    let daemon = Daemon(pid);
    let mut c = ping(port);
    assert_eq!(config_get(&mut c, "daemonize"), "yes");
    let log = std::fs::read_to_string(&logfile).unwrap();
    assert!(log.contains("ready to accept connections"), "{log}");
    // A new session: the daemon leads it.
    // SAFETY: getsid reads another process's session id.
    assert_eq!(unsafe { libc::getsid(pid) }, pid);
    // SAFETY: as above, our daemon.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let gone = wait_for(Duration::from_secs(20), || {
        // SAFETY: signal 0 only checks that the process exists.
        (!pidfile.exists() && unsafe { libc::kill(pid, 0) } != 0).then_some(())
    });
    assert!(gone.is_some(), "the daemon stops and removes its pid file");
    std::mem::forget(daemon);
}

/// supervised systemd: no fork even with daemonize yes; READY=1 on $NOTIFY_SOCKET once
/// clients are served, STOPPING=1 when stopping.
#[test]
fn supervised_systemd_notifies_readiness() {
    use std::os::unix::net::UnixDatagram;
    let dir = fresh_dir("conf-systemd");
    let _cleanup_dir = Cleanup(dir.clone());
    let socket_path = dir.join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let path = dir.join("keyval.conf");
    std::fs::write(&path, "daemonize yes\nsave \"\"\n").unwrap();
    // As Debian's redis-server.service runs it: Redis-style options after the file.
    let mut server = Server::start_in(dir.clone(), |cmd| {
        cmd.arg(&path)
            .args(["--supervised", "systemd", "--daemonize", "yes"])
            .env("NOTIFY_SOCKET", &socket_path);
    });
    assert!(server.alive(), "no fork under systemd supervision");
    assert_eq!(config_get(&mut server.client(), "supervised"), "systemd");
    let mut messages = Vec::new();
    let mut buf = [0u8; 256];
    while !messages.iter().any(|m: &String| m == "READY=1\n") {
        let n = socket.recv(&mut buf).expect("a notification");
        messages.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    assert_eq!(
        messages,
        [
            "STATUS=Redis is loading...\n",
            "STATUS=Ready to accept connections\n",
            "READY=1\n"
        ]
    );
    assert_eq!(server.client().cmd_str("PING"), "+PONG\r\n");
    assert!(server.terminate().success());
    let n = socket.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"STOPPING=1\n");
}

/// The README's minimal configuration file starts the server as shown.
#[test]
fn readme_minimal_config_starts() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let start = readme
        .find("```conf\n")
        .expect("README has a ```conf block")
        + "```conf\n".len();
    let end = start + readme[start..].find("```").unwrap();
    let dir = fresh_dir("conf-readme");
    let _cleanup_dir = Cleanup(dir.clone());
    let port = free_port();
    let conf = readme[start..end]
        .replace("port 6374", &format!("port {port}"))
        .replace(
            "dir /var/lib/rust-keyval",
            &format!("dir {}", dir.display()),
        );
    let path = dir.join("keyval.conf");
    std::fs::write(&path, conf).unwrap();
    let mut child = Running(
        ours()
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut c = ping(port);
    assert_eq!(config_get(&mut c, "dir"), dir.display().to_string());
    let _ = child.0.kill();
    let mut stderr = String::new();
    child
        .0
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(!stderr.contains("WARN"), "{stderr}");
}

/// Redis-style options (`--directive value ...`, for directives that are not flags here)
/// are read as lines after the file, as redis-server reads them.
#[test]
fn redis_style_options_follow_the_file() {
    let dir = fresh_dir("conf-options");
    let _cleanup_dir = Cleanup(dir.clone());
    let path = dir.join("keyval.conf");
    let port = free_port();
    std::fs::write(&path, "port 1\ntcp-keepalive 10\nhz 15\nsave \"\"\n").unwrap();
    let _child = Running(
        ours()
            .arg(&path)
            .args([
                "--port",
                &port.to_string(),
                "--hz",
                "20",
                "--maxclients",
                "7",
            ])
            .args(["--client-output-buffer-limit", "pubsub 1mb 1mb 0"])
            .current_dir(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut c = ping(port);
    assert_eq!(config_get(&mut c, "hz"), "20");
    assert_eq!(config_get(&mut c, "tcp-keepalive"), "10");
    assert_eq!(config_get(&mut c, "maxclients"), "7");
    assert_eq!(
        config_get(&mut c, "client-output-buffer-limit"),
        "normal 1073741824 0 0 slave 268435456 67108864 60 pubsub 1048576 1048576 0"
    );
    // Without a file too, and a bad value is reported as Redis reports a bad line.
    let out = ours()
        .args(["--lfu-log-factor", "many"])
        .stdout(Stdio::null())
        .output()
        .unwrap();
    let (code, stderr) = (out.status.code(), text(&out.stderr));
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains(">>> 'lfu-log-factor many'\nargument couldn't be parsed into an integer\n"),
        "{stderr}"
    );
    assert!(
        stderr.ends_with("(in the command line options)\n"),
        "{stderr}"
    );
}

/// rename-command, from the command line as from a file: the command answers to its new
/// name only (any case, long names too), an empty name removes it, in MULTI and scripts
/// too; the same replies as redis-server started with the same renames.
#[test]
fn rename_command_as_redis() {
    let long = "flushall_0123456789abcdef0123456789abcdef";
    let flags = [
        "--rename-command",
        "config",
        "",
        "--rename-command",
        "flushall",
        long,
        "--rename-command",
        "get",
        "fetch",
        "--rename-command",
        "fetch",
        "obtain",
    ];
    let transcript = |port: u16| -> Vec<String> {
        let mut c = Client::connect(port);
        let mut t = Vec::new();
        for args in [
            &["SET", "k", "v"][..],
            &["GET", "k"],
            &["FETCH", "k"],
            &["OBTAIN", "k"],
            &["obtain", "k"],
            &["CONFIG", "GET", "maxmemory"],
            &["FLUSHALL"],
            &["MULTI"],
            &["GET", "k"],
            &["OBTAIN", "k"],
            &["EXEC"],
            &["EVAL", "return redis.pcall('get','k')", "0"],
            &["EVAL", "return redis.call('obtain','k')", "0"],
        ] {
            t.push(text(c.cmd_args(args)));
        }
        t.push(text(c.cmd_args(&[&long.to_ascii_uppercase()])));
        t.push(text(c.cmd("DBSIZE")));
        t
    };
    // COMMAND counts and lists what answers to a name: one command fewer (CONFIG), the
    // renamed ones under their own names (COMMAND INFO of the new name), as Redis does.
    let command_view = |port: u16, renamed: bool| -> (i64, String, String) {
        let mut c = Client::connect(port);
        let count = text(c.cmd("COMMAND COUNT"));
        let count: i64 = count.trim()[1..].parse().unwrap();
        let info_config = text(c.cmd("COMMAND INFO config"));
        let info_get =
            text(c.cmd_args(&["COMMAND", "INFO", if renamed { "obtain" } else { "get" }]));
        (
            count,
            info_config,
            info_get[..info_get.len().min(30)].to_string(),
        )
    };
    let server = Server::start(&flags);
    let plain = Server::start(&[]);
    let (with, without) = (
        command_view(server.port, true),
        command_view(plain.port, false),
    );
    assert_eq!(with.0, without.0 - 1);
    assert_eq!(with.1, "*1\r\n$-1\r\n");
    assert_eq!(with.2, without.2);
    assert!(with.2.contains("$3\r\nget\r\n"), "{}", with.2);
    if let (Some(r1), Some(r2)) = (common::start_redis_with(&flags), common::start_redis()) {
        let (rw, rwo) = (command_view(r1.port, true), command_view(r2.port, false));
        assert_eq!(rw.0, rwo.0 - 1);
        assert_eq!(rw.1, with.1);
        assert_eq!(rw.2, with.2);
    }
    let got = transcript(server.port);
    assert!(got[1].starts_with("-ERR unknown command 'GET'"), "{got:?}");
    assert_eq!(got[3], "$1\r\nv\r\n");
    if let Some(redis) = common::start_redis_with(&flags) {
        assert_eq!(got, transcript(redis.port));
    }
    // Errors, as Redis words them.
    let dir = fresh_dir("conf-rename");
    let _cleanup_dir = Cleanup(dir.clone());
    for (conf, message) in [
        (
            "rename-command nosuch x\n",
            "No such command in rename-command",
        ),
        (
            "rename-command get set\n",
            "Target command name already exists",
        ),
    ] {
        let path = dir.join("bad.conf");
        std::fs::write(&path, conf).unwrap();
        let (code, stderr) = failing_start(ours(), &path);
        assert_eq!(code, Some(1), "{stderr}");
        assert!(stderr.contains(message), "{stderr}");
    }
}
