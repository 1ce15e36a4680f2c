//! Server robustness over real TCP: graceful shutdown, maxclients, idle timeout, AUTH,
//! accept errors (EMFILE), the output limit, client management, and SCAN's guarantee.

mod common;

use std::collections::HashSet;
use std::io::Read;
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use common::{Client, Server, encode, wait_for};

#[test]
fn sigterm_and_sigint_shut_down_gracefully() {
    for sig in [libc::SIGTERM, libc::SIGINT] {
        let mut server = Server::start(&[]);
        let mut c = server.client();
        assert_eq!(c.cmd("SET k v"), b"+OK\r\n");
        // SAFETY: signalling our own child process.
        unsafe {
            libc::kill(server.child.id() as i32, sig);
        }
        let status = wait_for(Duration::from_secs(10), || {
            server.child.try_wait().ok().flatten()
        })
        .expect("server did not exit");
        assert!(
            status.success(),
            "exit status {status:?} after signal {sig}"
        );
        assert!(c.read_to_eof().is_empty(), "connection closed cleanly");
        assert!(
            TcpStream::connect(("127.0.0.1", server.port)).is_err(),
            "still accepting"
        );
    }
}

#[test]
fn shutdown_flushes_replies_queued_before_it() {
    let mut server = Server::start(&[]);
    let mut c = server.client();
    // A large reply and SHUTDOWN in one write: the reply must arrive in full first.
    let big = vec![b'x'; 4 * 1024 * 1024];
    assert_eq!(c.call(&[b"SET", b"big", &big]), b"+OK\r\n");
    let mut req = encode(&[b"GET", b"big"]);
    req.extend(encode(&[b"SHUTDOWN"]));
    c.send_raw(&req);
    let got = c.read_to_eof();
    let header = format!("${}\r\n", big.len());
    assert!(got.starts_with(header.as_bytes()), "reply missing");
    assert_eq!(got.len(), header.len() + big.len() + 2, "reply cut short");
    let status = wait_for(Duration::from_secs(10), || {
        server.child.try_wait().ok().flatten()
    });
    assert!(status.expect("server did not exit").success());
}

#[test]
fn maxclients_refuses_with_redis_error() {
    let server = Server::start(&["--maxclients", "2"]);
    let mut a = server.client();
    // Wait until the start-up probe connection is gone, so only `a` counts.
    let alone = wait_for(Duration::from_secs(5), || {
        a.cmd_str("INFO clients")
            .contains("connected_clients:1\r\n")
            .then_some(())
    });
    assert!(alone.is_some());
    let mut b = server.client();
    assert_eq!(a.cmd("PING"), b"+PONG\r\n");
    assert_eq!(b.cmd("PING"), b"+PONG\r\n");
    let mut refused = server.client();
    assert_eq!(
        refused.read_to_eof(),
        b"-ERR max number of clients reached\r\n"
    );
    drop(b);
    // Once a slot frees up, a new client is served.
    let ok = wait_for(Duration::from_secs(5), || {
        let mut c = server.client();
        c.send_raw(b"PING\r\n");
        let mut buf = [0u8; 64];
        let n = c.stream.read(&mut buf).ok()?;
        (&buf[..n] == b"+PONG\r\n").then_some(())
    });
    assert!(ok.is_some(), "no new client accepted after one left");
    let info = a.cmd_str("INFO stats");
    assert!(
        info.contains("rejected_connections:1\r\n") || info.contains("rejected_connections:2\r\n"),
        "{info}"
    );
}

#[test]
fn idle_clients_are_closed_after_the_timeout() {
    let server = Server::start(&["--timeout", "1"]);
    let mut idle = server.client();
    assert_eq!(idle.cmd("PING"), b"+PONG\r\n");
    let mut busy = server.client();
    let closed = wait_for(Duration::from_secs(6), || {
        assert_eq!(busy.cmd("PING"), b"+PONG\r\n");
        idle.stream
            .set_read_timeout(Some(Duration::from_millis(100)))
            .ok();
        let mut b = [0u8; 1];
        match idle.stream.read(&mut b) {
            Ok(0) => Some(()),
            _ => None,
        }
    });
    assert!(closed.is_some(), "idle client was not closed");
    assert_eq!(busy.cmd("PING"), b"+PONG\r\n");
}

#[test]
fn requirepass_gates_commands() {
    let server = Server::start(&["--requirepass", "s3cret"]);
    let mut c = server.client();
    assert_eq!(c.cmd("GET k"), b"-NOAUTH Authentication required.\r\n");
    assert_eq!(c.cmd("PING"), b"-NOAUTH Authentication required.\r\n");
    assert_eq!(
        c.cmd("AUTH wrong"),
        b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"
    );
    assert_eq!(
        c.cmd("AUTH other s3cret"),
        b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"
    );
    assert_eq!(c.cmd("AUTH s3cret"), b"+OK\r\n");
    assert_eq!(c.cmd("PING"), b"+PONG\r\n");
    let mut d = server.client();
    assert_eq!(d.cmd("AUTH default s3cret"), b"+OK\r\n");
    assert_eq!(d.cmd("SET k v"), b"+OK\r\n");
    // Quit works unauthenticated.
    let mut e = server.client();
    e.send_raw(b"QUIT\r\n");
    assert_eq!(e.read_to_eof(), b"+OK\r\n");
}

#[test]
fn running_out_of_file_descriptors_does_not_spin_or_crash() {
    // The server gets 24 descriptors; clients beyond that hit EMFILE in accept.
    let mut server = Server::start_with(|cmd| {
        let bin = cmd.get_program().to_owned();
        let args: Vec<_> = cmd.get_args().map(|a| a.to_owned()).collect();
        // `exec` keeps the shell's process id, so the started-server check still holds.
        *cmd = Command::new("sh");
        cmd.arg("-c")
            .arg("ulimit -n 24 && exec \"$0\" \"$@\"")
            .arg(bin)
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
    });
    let mut first = server.client();
    assert_eq!(first.cmd("PING"), b"+PONG\r\n");
    let flood: Vec<TcpStream> = (0..40)
        .filter_map(|_| TcpStream::connect(("127.0.0.1", server.port)).ok())
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    // Still serving existing clients.
    assert_eq!(first.cmd("PING"), b"+PONG\r\n");
    // CPU must stay low: a spinning accept loop would burn a whole core.
    let before = cpu_ticks(server.child.id());
    std::thread::sleep(Duration::from_millis(1000));
    let used = cpu_ticks(server.child.id()) - before;
    assert!(
        used < 30,
        "server burned {used} ticks in 1 s while out of descriptors"
    );
    drop(flood);
    let served = wait_for(Duration::from_secs(5), || {
        let mut c = Client::connect(server.port);
        c.stream
            .set_read_timeout(Some(Duration::from_millis(500)))
            .ok();
        c.send_raw(b"PING\r\n");
        let mut buf = [0u8; 16];
        let n = c.stream.read(&mut buf).ok()?;
        (&buf[..n] == b"+PONG\r\n").then_some(())
    });
    assert!(
        served.is_some(),
        "no client served after descriptors were freed"
    );
    assert!(server.alive());
}

/// User + system CPU ticks of a process, from /proc.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("proc stat");
    let after_name = &stat[stat.rfind(')').expect("stat format") + 2..];
    let fields: Vec<&str> = after_name.split(' ').collect();
    fields[11].parse::<u64>().unwrap_or(0) + fields[12].parse::<u64>().unwrap_or(0)
}

#[test]
fn output_limit_disconnects_the_client() {
    let server = Server::start(&["--client-output-limit", "1mb"]);
    let mut c = server.client();
    let big = vec![b'v'; 2 * 1024 * 1024];
    assert_eq!(c.call(&[b"SET", b"big", &big]), b"+OK\r\n");
    c.send(&[b"GET", b"big"]);
    let got = c.read_to_eof();
    assert!(
        got.len() < big.len(),
        "a 2 MB reply went out despite a 1 MB limit"
    );
    let mut other = server.client();
    assert_eq!(other.cmd("STRLEN big"), b":2097152\r\n");
}

#[test]
fn client_list_name_and_kill() {
    let server = Server::start(&[]);
    let mut a = server.client();
    let mut b = server.client();
    assert_eq!(a.cmd("CLIENT SETNAME alpha"), b"+OK\r\n");
    let id_b = b.int("CLIENT ID");
    let list = a.cmd_str("CLIENT LIST");
    assert!(list.contains("name=alpha"), "{list}");
    assert!(list.contains(&format!("id={id_b} ")), "{list}");
    assert_eq!(list.matches("\nid=").count(), 2, "{list}");
    let info = a.cmd_str("CLIENT INFO");
    assert!(
        info.contains("name=alpha") && info.contains("cmd=client"),
        "{info}"
    );
    assert_eq!(a.cmd(&format!("CLIENT KILL ID {id_b}")), b":1\r\n");
    assert!(b.read_to_eof().is_empty());
    // SKIPME yes (the default) spares the caller.
    let my_id = a.int("CLIENT ID");
    assert_eq!(a.cmd(&format!("CLIENT KILL ID {my_id}")), b":0\r\n");
    assert_eq!(
        a.cmd(&format!("CLIENT KILL ID {my_id} SKIPME no")),
        b":1\r\n"
    );
    assert!(a.read_to_eof().is_empty());
}

/// The `cmd=` field of CLIENT LIST and CLIENT INFO names the client's last command as Redis
/// 7.0 does: `container|sub` for a subcommand (whatever its case, even with the wrong
/// arity), the container alone when no subcommand was given, `NULL` after an unknown
/// command or subcommand, and `exec` after a transaction (not its last command).
#[test]
fn client_list_names_the_last_command_as_redis_does() {
    common::on_both(&[], |port| {
        let mut a = Client::connect(port);
        let mut b = Client::connect(port);
        let id = a.int("CLIENT ID");
        let cmd_field = |line: &str| -> String {
            line.split(' ')
                .find_map(|f| f.strip_prefix("cmd="))
                .unwrap_or_else(|| panic!("no cmd= in {line:?}"))
                .trim_end()
                .to_string()
        };
        let cases: &[(&str, &str)] = &[
            ("PING", "ping"),
            ("CLIENT FOO", "NULL"),
            ("GET", "get"),
            ("NOSUCHCOMMAND x", "NULL"),
            ("CLIENT", "client"),
            ("CLIENT KILL", "client|kill"),
            ("client Id", "client|id"),
            ("CLIENT GETNAME", "client|getname"),
            ("CONFIG GET maxclients", "config|get"),
            ("config Get maxclients", "config|get"),
            ("CONFIG", "config"),
            ("CONFIG NOPE", "NULL"),
            ("COMMAND", "command"),
            ("COMMAND COUNT", "command|count"),
            ("COMMAND INFO get", "command|info"),
            ("COMMAND foo", "NULL"),
            ("MULTI", "multi"),
            ("SET a b", "set"),
            ("EXEC", "exec"),
        ];
        for (line, want) in cases {
            a.cmd(line);
            let seen = b.cmd_str(&format!("CLIENT LIST ID {id}"));
            assert_eq!(cmd_field(&seen), *want, "port {port}: after {line}");
        }
        assert_eq!(cmd_field(&a.cmd_str("CLIENT INFO")), "client|info");
        let own = a.cmd_str("CLIENT LIST");
        let own = own
            .lines()
            .find(|l| l.contains(&format!("id={id} ")))
            .expect("own line");
        assert_eq!(cmd_field(own), "client|list", "port {port}");

        // CLIENT HELP describes KILL's options as Redis 7.0 does (which leaves ID out).
        let help = match common::parse(&a.cmd("CLIENT HELP")) {
            common::Resp::Agg(_, Some(lines)) => lines,
            other => panic!("CLIENT HELP: {other:?}"),
        };
        let kill: Vec<String> = help
            .iter()
            .map(|l| match l {
                common::Resp::Line(l) => String::from_utf8_lossy(&l[1..]).into_owned(),
                other => panic!("not a status line: {other:?}"),
            })
            .skip_while(|l| !l.starts_with("KILL <option>"))
            .take_while(|l| l.starts_with("KILL <option>") || l.starts_with(' '))
            .collect();
        assert_eq!(
            kill,
            [
                "KILL <option> <value> [<option> <value> [...]]",
                "    Kill connections. Options are:",
                "    * ADDR (<ip:port>|<unixsocket>:0)",
                "      Kill connections made from the specified address",
                "    * LADDR (<ip:port>|<unixsocket>:0)",
                "      Kill connections made to specified local address",
                "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
                "      Kill connections by type.",
                "    * USER <username>",
                "      Kill connections authenticated by <username>.",
                "    * SKIPME (YES|NO)",
                "      Skip killing current connection (default: yes).",
            ],
            "port {port}"
        );
    });
}

/// Sends `cmd key:<i>` for every i in `range`, pipelined, checking each reply.
fn each_key(c: &mut Client, cmd: &[u8], range: std::ops::Range<u32>, want: &[u8]) {
    let mut batch = Vec::new();
    for i in range.clone() {
        let key = format!("key:{i}");
        if cmd == b"SET" {
            batch.extend(encode(&[cmd, key.as_bytes(), b"v"]));
        } else {
            batch.extend(encode(&[cmd, key.as_bytes()]));
        }
    }
    c.send_raw(&batch);
    for _ in range {
        assert_eq!(c.read_reply(), want);
    }
}

fn table_buckets(c: &mut Client) -> u64 {
    common::info_field(c, "memory", "keyval_table_buckets")
}

/// Runs a full SCAN (COUNT 20), calling `resize` once after 300 calls; returns the keys seen.
fn scan_all(c: &mut Client, mut resize: impl FnMut(&mut Client)) -> HashSet<String> {
    let mut seen = HashSet::new();
    let mut cursor = "0".to_string();
    let mut calls = 0;
    loop {
        let reply = c.cmd_str(&format!("SCAN {cursor} COUNT 20"));
        let lines: Vec<&str> = reply.split("\r\n").collect();
        assert!(lines.len() >= 4, "SCAN {cursor} replied {reply:?}");
        cursor = lines[2].to_string();
        for pair in lines[4..].chunks(2) {
            if pair.len() == 2 {
                seen.insert(pair[1].to_string());
            }
        }
        calls += 1;
        if calls == 300 {
            resize(c);
        }
        if cursor == "0" {
            break;
        }
        assert!(calls < 1_000_000, "SCAN never finished");
    }
    assert!(
        calls > 300,
        "the scan ended before the resize ({calls} calls)"
    );
    seen
}

#[test]
fn scan_returns_every_key_present_throughout_despite_resizes() {
    let server = Server::start(&[]);
    let mut c = server.client();
    // key:0..999 live through both scans; the others come and go around them.
    each_key(&mut c, b"SET", 0..40_000, b"+OK\r\n");
    let big = table_buckets(&mut c);
    let seen = scan_all(&mut c, |c| {
        // Shrink: delete the others and wait for the cron to give the table back.
        each_key(c, b"UNLINK", 1000..40_000, b":1\r\n");
        let shrunk = wait_for(Duration::from_secs(5), || {
            (table_buckets(c) < big / 8).then_some(())
        });
        assert!(shrunk.is_some(), "table did not shrink");
    });
    for i in 0..1000 {
        assert!(
            seen.contains(&format!("key:{i}")),
            "key:{i} missed across a shrink"
        );
    }
    let small = table_buckets(&mut c);
    each_key(&mut c, b"SET", 1000..12_000, b"+OK\r\n");
    let seen = scan_all(&mut c, |c| {
        each_key(c, b"SET", 12_000..80_000, b"+OK\r\n");
        assert!(table_buckets(c) > small * 4, "table did not grow");
    });
    for i in 0..12_000 {
        assert!(
            seen.contains(&format!("key:{i}")),
            "key:{i} missed across a growth"
        );
    }
}

#[test]
fn keys_and_randomkey_cover_the_keyspace() {
    let server = Server::start(&[]);
    let mut c = server.client();
    for k in ["alpha", "beta", "gamma", "delta"] {
        c.cmd(&format!("SET {k} 1"));
    }
    let reply = c.cmd_str("KEYS *a");
    let mut keys: Vec<&str> = reply
        .split("\r\n")
        .filter(|l| !l.starts_with(['*', '$']) && !l.is_empty())
        .collect();
    keys.sort();
    assert_eq!(keys, ["alpha", "beta", "delta", "gamma"]);
    let mut random = HashSet::new();
    for _ in 0..200 {
        let r = c.cmd_str("RANDOMKEY");
        random.insert(r.split("\r\n").nth(1).unwrap_or_default().to_string());
    }
    assert_eq!(random.len(), 4, "RANDOMKEY returned only {random:?}");
}

#[test]
fn info_reports_real_figures() {
    let server = Server::start(&[]);
    let mut c = server.client();
    c.cmd("SET a 1");
    c.cmd("SET b 2 EX 100");
    c.cmd("GET a");
    c.cmd("GET a");
    c.cmd("GET nope");
    c.cmd("SELECT 3");
    c.cmd("SET x y");
    let info = c.cmd_str("INFO");
    for want in [
        "redis_version:",
        "connected_clients:1\r\n",
        "keyspace_hits:2\r\n",
        "keyspace_misses:1\r\n",
        "db0:keys=2,expires=1,avg_ttl=0\r\n",
        "db3:keys=1,expires=0,avg_ttl=0\r\n",
        "loading:0\r\n",
        "role:master\r\n",
    ] {
        assert!(info.contains(want), "INFO lacks {want:?}:\n{info}");
    }
    let used: u64 = info
        .lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("used_memory");
    assert!(used > 100_000, "used_memory {used}");
    assert!(info.starts_with("$"), "INFO is a bulk string");
}
