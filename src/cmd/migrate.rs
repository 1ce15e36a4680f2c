//! MIGRATE and RESTORE-ASKING (Redis's cluster.c): moving keys to another server.
//!
//! `MIGRATE host port key|"" db timeout [COPY] [REPLACE] [AUTH pw | AUTH2 user pw]
//! [KEYS key...]` sends the target one RESTORE per key, carrying the key's DUMP payload
//! and remaining TTL, and deletes the keys the target accepted (unless COPY); the AOF gets
//! a DEL of those keys. As in Redis the exchange is synchronous: the event loop waits for
//! the target, each step bounded by `timeout` milliseconds. Connections are kept per
//! host:port for 10 seconds (64 at most), remembering the database last selected, as
//! Redis's migrate socket cache does (INFO `migrate_cached_sockets`).
//!
//! RESTORE-ASKING is RESTORE with the `asking` flag, which only matters in cluster mode;
//! here it is RESTORE.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use super::flags::{DENYOOM, WRITE};
use super::notify::{self, GENERIC};
use super::{Command, Ctx, err};
use crate::persist::aof::append_command;
use crate::persist::save::{self, Options};
use crate::resp::Args;
use crate::store::lazyfree;
use crate::util::atoi;

/// The family's command table.
#[rustfmt::skip]
pub const COMMANDS: &[Command] = &[
    Command { name: "migrate", arity: -6, flags: WRITE, keys: (3, 3, 1), group: "generic", handler: migrate },
    Command { name: "restore-asking", arity: -4, flags: WRITE | DENYOOM, keys: (1, 1, 1), group: "server", handler: super::dump::restore },
];

/// Connections kept at most (MIGRATE_SOCKET_CACHE_ITEMS).
const CACHE_ITEMS: usize = 64;
/// Seconds an unused connection is kept (MIGRATE_SOCKET_CACHE_TTL).
const CACHE_TTL_SECS: u64 = 10;
/// Bytes per write to the target.
const WRITE_CHUNK: usize = 64 * 1024;
/// Longest reply line read from the target (Redis reads into 1024-byte buffers).
const LINE_MAX: usize = 1023;

/// Connections to MIGRATE targets, by `host:port`.
#[derive(Default)]
pub struct SocketCache {
    sockets: HashMap<String, Cached>,
}

struct Cached {
    stream: TcpStream,
    /// The database the target is in on this connection (-1: unknown).
    last_db: i64,
    /// Unix time of the last use, in seconds.
    last_use: u64,
}

impl SocketCache {
    /// Connections kept (INFO `migrate_cached_sockets`).
    pub fn len(&self) -> usize {
        self.sockets.len()
    }

    /// True when no connection is kept.
    pub fn is_empty(&self) -> bool {
        self.sockets.is_empty()
    }

    /// Closes the connections unused for more than 10 seconds (the cron calls this).
    pub fn close_idle(&mut self, now_secs: u64) {
        self.sockets
            .retain(|_, c| now_secs.saturating_sub(c.last_use) <= CACHE_TTL_SECS);
    }

    /// The connection to `host:port`, kept or new (connecting within `timeout`).
    fn get(
        &mut self,
        name: &str,
        host: &str,
        port: u16,
        timeout: Duration,
        now_secs: u64,
    ) -> Result<&mut Cached, ConnectFailure> {
        if !self.sockets.contains_key(name) {
            if self.sockets.len() >= CACHE_ITEMS {
                // Full: drop one (Redis drops a random one; any will do).
                let victim = self.sockets.keys().next().cloned();
                if let Some(victim) = victim {
                    self.sockets.remove(&victim);
                }
            }
            let stream = connect(host, port, timeout)?;
            self.sockets.insert(
                name.to_string(),
                Cached {
                    stream,
                    last_db: -1,
                    last_use: now_secs,
                },
            );
        }
        let cached = self.sockets.get_mut(name).expect("kept or just added");
        cached.last_use = now_secs;
        Ok(cached)
    }

    fn close(&mut self, name: &str) {
        self.sockets.remove(name);
    }
}

/// Why no connection was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ConnectFailure {
    /// The name did not resolve, or no answer came within the timeout: Redis's "error or
    /// timeout connecting".
    NoAnswer,
    /// The target refused (or reset) the connection. Redis connects without blocking and
    /// only learns this when it writes: "error or timeout writing".
    Refused,
}

/// A blocking connection to the first address of `host` that answers within `timeout`.
fn connect(host: &str, port: u16, timeout: Duration) -> Result<TcpStream, ConnectFailure> {
    let addrs = (host, port)
        .to_socket_addrs()
        .map_err(|_| ConnectFailure::NoAnswer)?;
    let mut failure = ConnectFailure::NoAnswer;
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(stream) => {
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Err(e) if matches!(failure_of(&e), Failure::TimedOut) => {}
            Err(_) => failure = ConnectFailure::Refused,
        }
    }
    Err(failure)
}

/// How a step of the exchange with the target failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failure {
    TimedOut,
    Other,
}

fn failure_of(e: &io::Error) -> Failure {
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => Failure::TimedOut,
        _ => Failure::Other,
    }
}

/// Writes `buf` in 64 KiB chunks, each within `timeout`.
fn write_all(stream: &mut TcpStream, buf: &[u8], timeout: Duration) -> Result<(), Failure> {
    stream
        .set_write_timeout(Some(timeout))
        .map_err(|_| Failure::Other)?;
    for chunk in buf.chunks(WRITE_CHUNK) {
        stream.write_all(chunk).map_err(|e| failure_of(&e))?;
    }
    Ok(())
}

/// Reads one reply line (Redis's syncReadLine: byte by byte, so nothing after the line is
/// taken from the socket), without its CR LF. A line is at most [`LINE_MAX`] bytes: the
/// rest of a longer one stays unread, so a target cannot keep the loop reading.
fn read_line(stream: &mut TcpStream, timeout: Duration) -> Result<Vec<u8>, Failure> {
    stream
        .set_read_timeout(Some(timeout))
        .map_err(|_| Failure::Other)?;
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        match stream.read(&mut byte) {
            Ok(0) => return Err(Failure::Other),
            Ok(_) if byte[0] == b'\n' => break,
            Ok(_) => {
                line.push(byte[0]);
                if line.len() == LINE_MAX {
                    break;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(failure_of(&e)),
        }
    }
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    Ok(line)
}

/// What MIGRATE was asked to do, from its options.
struct MigrateArgs<'a> {
    copy: bool,
    replace: bool,
    user: Option<&'a [u8]>,
    password: Option<&'a [u8]>,
    /// Argument positions of the keys.
    keys: std::ops::Range<usize>,
}

/// MIGRATE's options after the timeout, scanned as migrateCommand scans them: what it was
/// asked to do, or the error to reply; and the positions of AUTH's and AUTH2's values,
/// which Redis redacts (SLOWLOG, MONITOR) as it reaches them, error or not.
fn scan_options<'a>(args: Args<'a>) -> (Result<MigrateArgs<'a>, &'static str>, Vec<usize>) {
    let mut o = MigrateArgs {
        copy: false,
        replace: false,
        user: None,
        password: None,
        keys: 3..4,
    };
    let mut hidden = Vec::new();
    let mut j = 6;
    while j < args.len() {
        let more = args.len() - 1 - j;
        let opt = args.get(j);
        if opt.eq_ignore_ascii_case(b"copy") {
            o.copy = true;
        } else if opt.eq_ignore_ascii_case(b"replace") {
            o.replace = true;
        } else if opt.eq_ignore_ascii_case(b"auth") {
            if more == 0 {
                return (Err(err::SYNTAX), hidden);
            }
            j += 1;
            o.password = Some(args.get(j));
            hidden.push(j);
        } else if opt.eq_ignore_ascii_case(b"auth2") {
            if more < 2 {
                return (Err(err::SYNTAX), hidden);
            }
            o.user = Some(args.get(j + 1));
            o.password = Some(args.get(j + 2));
            hidden.extend([j + 1, j + 2]);
            j += 2;
        } else if opt.eq_ignore_ascii_case(b"keys") {
            if !args.get(3).is_empty() {
                return (
                    Err(
                        "ERR When using MIGRATE KEYS option, the key argument must be set to the empty string",
                    ),
                    hidden,
                );
            }
            o.keys = j + 1..args.len();
            break;
        } else {
            return (Err(err::SYNTAX), hidden);
        }
        j += 1;
    }
    (Ok(o), hidden)
}

/// The argument positions MIGRATE's AUTH and AUTH2 options hide from SLOWLOG and MONITOR.
pub fn redacted(args: Args) -> Vec<usize> {
    scan_options(args).1
}

fn migrate(ctx: &mut Ctx, args: Args) {
    let o = match scan_options(args).0 {
        Ok(o) => o,
        Err(e) => {
            ctx.error(e);
            return;
        }
    };
    let Some(timeout) = ctx.int_arg(args.get(5)) else {
        return;
    };
    let Some(db) = ctx.int_arg(args.get(4)) else {
        return;
    };
    let timeout = Duration::from_millis(if timeout <= 0 { 1000 } else { timeout as u64 });
    // The keys that are here (a read lookup each, as Redis's lookupKeyRead). None: NOKEY,
    // not an error, since a key often just expired.
    let mut keys: Vec<&[u8]> = Vec::new();
    for i in o.keys.clone() {
        if ctx.read(args.get(i)).0.is_some() {
            keys.push(args.get(i));
        }
    }
    notify::lookup_events(ctx);
    if keys.is_empty() {
        ctx.out.simple("NOKEY");
        return;
    }
    let host = String::from_utf8_lossy(args.get(1)).into_owned();
    let port_text = String::from_utf8_lossy(args.get(2)).into_owned();
    let name = format!("{host}:{port_text}");
    let port = u16::try_from(atoi(args.get(2))).unwrap_or(0);
    let mut may_retry = true;
    loop {
        let now_secs = ctx.now / 1000;
        let cached = match ctx
            .shared
            .migrate
            .get(&name, &host, port, timeout, now_secs)
        {
            Ok(cached) => cached,
            Err(ConnectFailure::NoAnswer) => {
                ctx.error("IOERR error or timeout connecting to the client");
                return;
            }
            Err(ConnectFailure::Refused) => {
                ctx.error("IOERR error or timeout writing to target instance");
                return;
            }
        };
        let select = cached.last_db != db;
        // AUTH, SELECT, then one RESTORE per key still alive now.
        let mut buf = Vec::new();
        match (o.user, o.password) {
            (Some(user), Some(pw)) => append_command(&mut buf, &[b"AUTH", user, pw]),
            (None, Some(pw)) => append_command(&mut buf, &[b"AUTH", pw]),
            _ => {}
        }
        if select {
            append_command(&mut buf, &[b"SELECT", db.to_string().as_bytes()]);
        }
        let now = ctx.now as i64;
        let mut sent: Vec<&[u8]> = Vec::new();
        for &key in &keys {
            let Some(e) = ctx.store.db_ref(ctx.client.db).peek_raw(key) else {
                continue;
            };
            let ttl = match e.expire_at() {
                Some(at) if (at as i64) < now => continue,
                Some(at) => (at as i64 - now).max(1),
                None => 0,
            };
            let payload = save::dump_payload(&e.value, Options::default());
            let ttl = ttl.to_string();
            let mut argv: Vec<&[u8]> = vec![b"RESTORE", key, ttl.as_bytes(), &payload];
            if o.replace {
                argv.push(b"REPLACE");
            }
            append_command(&mut buf, &argv);
            sent.push(key);
        }
        let cached = ctx.shared.migrate.sockets.get_mut(&name).expect("just got");
        let stream = &mut cached.stream;
        let result = exchange(
            stream,
            &buf,
            o.password.is_some(),
            select,
            sent.len(),
            timeout,
        );
        let (replies, failed) = match result {
            Ok(r) => r,
            Err((step, why)) => {
                // No RESTORE reply came back: retry once on a fresh connection (a kept one
                // may have been closed by the target), unless it timed out.
                ctx.shared.migrate.close(&name);
                if why != Failure::TimedOut && may_retry {
                    may_retry = false;
                    continue;
                }
                let what = if step == Step::Write {
                    "writing"
                } else {
                    "reading"
                };
                ctx.error(&format!("IOERR error or timeout {what} to target instance"));
                return;
            }
        };
        // The replies: AUTH's and SELECT's errors fail every key.
        let mut target_error: Option<Vec<u8>> = None;
        let mut moved: Vec<&[u8]> = Vec::new();
        for (key, reply) in sent.iter().zip(&replies.restores) {
            let error = [replies.auth.as_ref(), replies.select.as_ref(), Some(reply)]
                .into_iter()
                .flatten()
                .find(|l| l.first() == Some(&b'-'));
            if let Some(line) = error {
                target_error.get_or_insert_with(|| line[1..].to_vec());
            } else if !o.copy {
                moved.push(key);
            }
        }
        if failed.is_some() {
            ctx.shared.migrate.close(&name);
        }
        delete_moved(ctx, &moved);
        if let Some(line) = target_error {
            if let Some(c) = ctx.shared.migrate.sockets.get_mut(&name) {
                c.last_db = -1;
            }
            let mut text = b"ERR Target instance replied with error: ".to_vec();
            text.extend_from_slice(&line);
            ctx.error(&String::from_utf8_lossy(&text));
        } else if failed.is_some() {
            ctx.error("IOERR error or timeout reading to target instance");
        } else {
            if let Some(c) = ctx.shared.migrate.sockets.get_mut(&name) {
                c.last_db = db;
            }
            ctx.out.ok();
        }
        return;
    }
}

/// Deletes the keys the target accepted, and writes MIGRATE to the AOF as their DEL.
fn delete_moved(ctx: &mut Ctx, moved: &[&[u8]]) {
    if moved.is_empty() {
        return;
    }
    let now = ctx.now;
    for &key in moved {
        if let Some(old) = ctx.db().remove(key, now) {
            lazyfree::free_server_del(old.value);
        }
        notify::notify(ctx, GENERIC, "del", key);
    }
    let mut argv: Vec<&[u8]> = vec![b"DEL"];
    argv.extend_from_slice(moved);
    ctx.propagate_as(&argv);
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Write,
    Read,
}

/// How an exchange ended: the replies read (and what stopped the RESTORE replies short
/// after the first), or the step that failed before any RESTORE reply.
type Exchange = Result<(Replies, Option<Failure>), (Step, Failure)>;

/// The target's reply lines.
struct Replies {
    auth: Option<Vec<u8>>,
    select: Option<Vec<u8>>,
    restores: Vec<Vec<u8>>,
}

/// Sends `buf` and reads the replies: AUTH's and SELECT's (when sent), then one per
/// RESTORE. Until the first RESTORE reply, a failure fails the whole exchange; after it,
/// the replies read so far are returned with what stopped them.
fn exchange(
    stream: &mut TcpStream,
    buf: &[u8],
    auth: bool,
    select: bool,
    restores: usize,
    timeout: Duration,
) -> Exchange {
    write_all(stream, buf, timeout).map_err(|f| (Step::Write, f))?;
    let auth = match auth {
        true => Some(read_line(stream, timeout).map_err(|f| (Step::Read, f))?),
        false => None,
    };
    let select = match select {
        true => Some(read_line(stream, timeout).map_err(|f| (Step::Read, f))?),
        false => None,
    };
    let mut replies = Replies {
        auth,
        select,
        restores: Vec::new(),
    };
    for _ in 0..restores {
        match read_line(stream, timeout) {
            Ok(line) => replies.restores.push(line),
            Err(f) if replies.restores.is_empty() => return Err((Step::Read, f)),
            Err(f) => return Ok((replies, Some(f))),
        }
    }
    Ok((replies, None))
}
