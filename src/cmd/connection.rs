//! Connection commands: PING, ECHO, QUIT, SELECT, AUTH and CLIENT.
//!
//! HELLO negotiates RESP2 or RESP3 per connection (go-redis, redis-py 5+ and ioredis send it
//! on connect); the reply encoder then uses the RESP3 types where Redis does.

use super::flags::{FAST, LOADING, NO_AUTH, NOSCRIPT, STALE};
use super::{Command, Ctx, KillFilter, Request, arity_error, c_bytes, err, reply_help, subcommand};
use crate::resp::{Args, parse_i64};

/// The connection family's command table.
#[rustfmt::skip]
pub const COMMANDS: &[Command] = &[
    Command { name: "ping", arity: -1, flags: FAST | STALE, keys: (0, 0, 0), group: "connection", handler: ping },
    Command { name: "echo", arity: 2, flags: FAST | LOADING | STALE, keys: (0, 0, 0), group: "connection", handler: echo },
    Command { name: "quit", arity: -1, flags: NO_AUTH | FAST | LOADING | STALE, keys: (0, 0, 0), group: "connection", handler: quit },
    Command { name: "select", arity: 2, flags: FAST | LOADING | STALE, keys: (0, 0, 0), group: "connection", handler: select },
    Command { name: "auth", arity: -2, flags: NO_AUTH | FAST | LOADING | STALE, keys: (0, 0, 0), group: "connection", handler: auth },
    Command { name: "hello", arity: -1, flags: NO_AUTH | FAST | LOADING | STALE, keys: (0, 0, 0), group: "connection", handler: hello },
    Command { name: "client", arity: -2, flags: LOADING | STALE, keys: (0, 0, 0), group: "connection", handler: client },
    Command { name: "reset", arity: 1, flags: NOSCRIPT | LOADING | STALE | FAST | NO_AUTH, keys: (0, 0, 0), group: "connection", handler: reset },
];

fn ping(ctx: &mut Ctx, args: Args) {
    if args.len() > 2 {
        return arity_error(ctx.out, "ping");
    }
    if ctx.client.pubsub.total() > 0 && !ctx.out.is_resp3() {
        // In RESP2 subscribed mode a reply must look like a message: ["pong", payload].
        ctx.out.array(2);
        ctx.out.bulk(b"pong");
        ctx.out
            .bulk(if args.len() == 2 { args.get(1) } else { b"" });
        return;
    }
    match args.len() {
        1 => ctx.out.simple("PONG"),
        _ => ctx.out.bulk(args.get(1)),
    }
}

/// RESET: the connection as new, as Redis's clearClientConnectionState: no transaction or
/// WATCH, database 0, RESP2, not authenticated if a password is set, no subscription,
/// no name.
fn reset(ctx: &mut Ctx, _args: Args) {
    if ctx.client.multi.is_some() {
        ctx.client.multi = None;
    }
    super::transactions::unwatch_all(ctx.store, ctx.client);
    ctx.client.db = 0;
    ctx.out.set_resp3(false);
    ctx.client.authenticated = ctx.shared.params.settings.requirepass.is_none();
    let token = ctx.client.token;
    ctx.shared.pubsub.forget(&mut ctx.client.pubsub, token);
    super::monitor::stop(&mut ctx.shared.monitors, ctx.client);
    super::tracking::disable(ctx.shared, ctx.store, ctx.client.id);
    ctx.client.name.clear();
    ctx.out.simple("RESET");
}

fn echo(ctx: &mut Ctx, args: Args) {
    ctx.out.bulk(args.get(1));
}

fn quit(ctx: &mut Ctx, _args: Args) {
    ctx.out.ok();
    ctx.client.close_after_reply = true;
}

fn select(ctx: &mut Ctx, args: Args) {
    if let Some(db) = ctx.db_index_arg(args.get(1)) {
        ctx.client.db = db;
        ctx.out.ok();
    }
}

fn auth(ctx: &mut Ctx, args: Args) {
    if args.len() > 3 {
        ctx.error(err::SYNTAX);
        return;
    }
    let password = ctx.shared.params.settings.requirepass.as_deref();
    let (user, given) = if args.len() == 2 {
        if password.is_none() {
            ctx.error(
                "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?",
            );
            return;
        }
        (&b"default"[..], args.get(1))
    } else {
        (args.get(1), args.get(2))
    };
    // The only user is "default"; with no password configured it accepts any password.
    let ok = user == b"default" && password.is_none_or(|p| constant_time_eq(p, given));
    if ok {
        ctx.client.authenticated = true;
        ctx.out.ok();
    } else {
        ctx.error("WRONGPASS invalid username-password pair or user is disabled.");
    }
}

/// HELLO [protover [AUTH username password] [SETNAME clientname]] (Redis's helloCommand).
fn hello(ctx: &mut Ctx, args: Args) {
    let mut next = 1;
    let mut version = None;
    if args.len() >= 2 {
        let Some(v) = parse_i64(args.get(1)) else {
            ctx.error("ERR Protocol version is not an integer or out of range");
            return;
        };
        if !(2..=3).contains(&v) {
            ctx.error("NOPROTO unsupported protocol version");
            return;
        }
        version = Some(v);
        next = 2;
    }
    let mut credentials = None;
    let mut name = None;
    let mut j = next;
    while j < args.len() {
        let opt = args.get(j);
        let more = args.len() - 1 - j;
        if opt.eq_ignore_ascii_case(b"auth") && more >= 2 {
            credentials = Some((args.get(j + 1), args.get(j + 2)));
            j += 3;
        } else if opt.eq_ignore_ascii_case(b"setname") && more >= 1 {
            let n = args.get(j + 1);
            if !valid_client_text(n) {
                ctx.error(
                    "ERR Client names cannot contain spaces, newlines or special characters.",
                );
                return;
            }
            name = Some(n);
            j += 2;
        } else {
            ctx.out.error_parts(&[
                b"ERR Syntax error in HELLO option '",
                c_bytes(opt, usize::MAX),
                b"'",
            ]);
            return;
        }
    }
    if let Some((user, pass)) = credentials {
        let password = ctx.shared.params.settings.requirepass.as_deref();
        if user == b"default" && password.is_none_or(|p| constant_time_eq(p, pass)) {
            ctx.client.authenticated = true;
        } else {
            ctx.error("WRONGPASS invalid username-password pair or user is disabled.");
            return;
        }
    }
    if !ctx.client.authenticated {
        ctx.error(
            "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time",
        );
        return;
    }
    if let Some(n) = name {
        ctx.client.name = n.to_vec();
    }
    if let Some(v) = version {
        ctx.out.set_resp3(v == 3);
    }
    let out = &mut *ctx.out;
    out.map(7);
    out.bulk(b"server");
    out.bulk(b"redis");
    out.bulk(b"version");
    out.bulk(super::server::REDIS_VERSION.as_bytes());
    out.bulk(b"proto");
    out.int(if out.is_resp3() { 3 } else { 2 });
    out.bulk(b"id");
    out.int(ctx.client.id as i64);
    out.bulk(b"mode");
    out.bulk(b"standalone");
    out.bulk(b"role");
    out.bulk(b"master");
    out.bulk(b"modules");
    out.array(0);
}

/// Compares secrets without an early exit, so timing does not reveal a matching prefix.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for (i, &x) in a.iter().enumerate() {
        diff |= usize::from(x ^ b.get(i).copied().unwrap_or(0));
    }
    diff == 0
}

/// Client names and library attributes: printable ASCII without spaces (CLIENT LIST is
/// split on spaces).
fn valid_client_text(v: &[u8]) -> bool {
    v.iter().all(|&b| (b'!'..=b'~').contains(&b))
}

/// Subcommand arities, as `client|<sub>` in Redis's table (dispatch checks them and counts each
/// subcommand apart, see `cmd::Table`).
pub const CLIENT_SUBCOMMANDS: &[(&str, i32)] = &[
    ("id", 2),
    ("setname", 3),
    ("getname", 2),
    ("setinfo", 4),
    ("list", -2),
    ("info", 2),
    ("kill", -3),
    ("unblock", -3),
    ("reply", 3),
    ("pause", -3),
    ("unpause", 2),
    ("no-evict", 3),
    ("tracking", -3),
    ("caching", -3),
    ("getredir", 2),
    ("trackinginfo", 2),
    ("help", 2),
];

fn client(ctx: &mut Ctx, args: Args) {
    let Some(name) = subcommand(ctx.out, "client", CLIENT_SUBCOMMANDS, args) else {
        return;
    };
    match name {
        "id" => ctx.out.int(ctx.client.id as i64),
        "setname" => {
            let n = args.get(2);
            if !valid_client_text(n) {
                ctx.error(
                    "ERR Client names cannot contain spaces, newlines or special characters.",
                );
                return;
            }
            ctx.client.name = n.to_vec();
            ctx.out.ok();
        }
        "getname" => {
            if ctx.client.name.is_empty() {
                ctx.out.null();
            } else {
                ctx.out.bulk(&ctx.client.name);
            }
        }
        "setinfo" => client_setinfo(ctx, args),
        "list" => client_list(ctx, args),
        "info" => ctx.request(Request::ClientInfo),
        "kill" => client_kill(ctx, args),
        "unblock" => client_unblock(ctx, args),
        "pause" if args.len() > 4 => subcommand_syntax_error(ctx, args),
        "pause" => super::pause::client_pause(ctx, args),
        "unpause" => super::pause::client_unpause(ctx),
        "tracking" => super::tracking::client_tracking(ctx, args),
        "caching" => super::tracking::client_caching(ctx, args),
        "getredir" => super::tracking::client_getredir(ctx),
        "trackinginfo" => super::tracking::client_trackinginfo(ctx),
        "no-evict" => {
            let mode = args.get(2);
            if mode.eq_ignore_ascii_case(b"on") {
                ctx.client.no_evict = true;
            } else if mode.eq_ignore_ascii_case(b"off") {
                ctx.client.no_evict = false;
            } else {
                ctx.error(err::SYNTAX);
                return;
            }
            ctx.out.ok();
        }
        "reply" => {
            // ON answers +OK; OFF and SKIP answer nothing (their own reply is the first
            // one dropped), as in Redis.
            let mode = args.get(2);
            if mode.eq_ignore_ascii_case(b"on") {
                ctx.client.reply_mode = super::ReplyMode::On;
                ctx.out.ok();
            } else if mode.eq_ignore_ascii_case(b"off") {
                ctx.client.reply_mode = super::ReplyMode::Off;
            } else if mode.eq_ignore_ascii_case(b"skip") {
                if ctx.client.reply_mode != super::ReplyMode::Off {
                    ctx.client.reply_mode = super::ReplyMode::SkipNext;
                }
            } else {
                ctx.error(err::SYNTAX);
            }
        }
        _ => {
            // Redis 7.0's text, word for word.
            let lines = [
                "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "CACHING (YES|NO)",
                "    Enable/disable tracking of the keys for next command in OPTIN/OPTOUT modes.",
                "GETREDIR",
                "    Return the client ID we are redirecting to when tracking is enabled.",
                "GETNAME",
                "    Return the name of the current connection.",
                "ID",
                "    Return the ID of the current connection.",
                "INFO",
                "    Return information about the current client connection.",
                "KILL <ip:port>",
                "    Kill connection made from <ip:port>.",
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
                "LIST [options ...]",
                "    Return information about client connections. Options:",
                "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
                "      Return clients of specified type.",
                "UNPAUSE",
                "    Stop the current client pause, resuming traffic.",
                "PAUSE <timeout> [WRITE|ALL]",
                "    Suspend all, or just write, clients for <timeout> milliseconds.",
                "REPLY (ON|OFF|SKIP)",
                "    Control the replies sent to the current connection.",
                "SETNAME <name>",
                "    Assign the name <name> to the current connection.",
                "UNBLOCK <clientid> [TIMEOUT|ERROR]",
                "    Unblock the specified blocked client.",
                "TRACKING (ON|OFF) [REDIRECT <id>] [BCAST] [PREFIX <prefix> [...]]",
                "         [OPTIN] [OPTOUT] [NOLOOP]",
                "    Control server assisted client side caching.",
                "TRACKINGINFO",
                "    Report tracking status for the current connection.",
                "NO-EVICT (ON|OFF)",
                "    Protect current client connection from eviction.",
                "HELP",
                "    Prints this help.",
            ];
            reply_help(ctx.out, &lines);
        }
    }
}

/// Redis's addReplySubcommandSyntaxError: a subcommand given more arguments than any of
/// its forms takes.
fn subcommand_syntax_error(ctx: &mut Ctx, args: Args) {
    let upper = args.get(0).to_ascii_uppercase();
    ctx.out.error_parts(&[
        b"ERR unknown subcommand or wrong number of arguments for '",
        c_bytes(args.get(1), 128),
        b"'. Try ",
        &upper,
        b" HELP.",
    ]);
}

/// CLIENT UNBLOCK id [TIMEOUT|ERROR]: ends another client's blocking command.
fn client_unblock(ctx: &mut Ctx, args: Args) {
    if args.len() > 4 {
        subcommand_syntax_error(ctx, args);
        return;
    }
    let error = match args.len() {
        4 if args.get(3).eq_ignore_ascii_case(b"timeout") => false,
        4 if args.get(3).eq_ignore_ascii_case(b"error") => true,
        4 => {
            ctx.error("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR");
            return;
        }
        _ => false,
    };
    let Some(id) = ctx.int_arg(args.get(2)) else {
        return;
    };
    ctx.request(Request::ClientUnblock { id, error });
}

fn client_setinfo(ctx: &mut Ctx, args: Args) {
    let (attr, value) = (args.get(2), args.get(3));
    let is_name = attr.eq_ignore_ascii_case(b"lib-name");
    if !is_name && !attr.eq_ignore_ascii_case(b"lib-ver") {
        ctx.out.error_parts(&[
            b"ERR Unrecognized option '",
            c_bytes(attr, usize::MAX),
            b"'",
        ]);
        return;
    }
    if !valid_client_text(value) {
        ctx.out.error_parts(&[
            b"ERR ",
            c_bytes(attr, usize::MAX),
            b" cannot contain spaces, newlines or special characters.",
        ]);
        return;
    }
    if is_name {
        ctx.client.lib_name = value.to_vec();
    } else {
        ctx.client.lib_ver = value.to_vec();
    }
    ctx.out.ok();
}

fn client_list(ctx: &mut Ctx, args: Args) {
    if args.len() == 2 {
        ctx.request(Request::ClientList(None));
        return;
    }
    let opt = args.get(2);
    if opt.eq_ignore_ascii_case(b"type") && args.len() == 4 {
        let t = args.get(3).to_ascii_lowercase();
        match t.as_slice() {
            b"normal" => ctx.request(Request::ClientList(None)),
            // No replication and no pub/sub: those lists are empty.
            b"master" | b"replica" | b"slave" | b"pubsub" => {
                ctx.request(Request::ClientList(Some(Vec::new())))
            }
            _ => ctx.out.error_parts(&[
                b"ERR Unknown client type '",
                c_bytes(args.get(3), usize::MAX),
                b"'",
            ]),
        }
    } else if opt.eq_ignore_ascii_case(b"id") && args.len() >= 4 {
        let mut ids = Vec::with_capacity(args.len() - 3);
        for a in args.iter().skip(3) {
            match parse_i64(a) {
                Some(id) if id > 0 => ids.push(id as u64),
                _ => {
                    ctx.error("ERR Invalid client ID");
                    return;
                }
            }
        }
        ctx.request(Request::ClientList(Some(ids)));
    } else {
        ctx.error(err::SYNTAX);
    }
}

/// CLIENT KILL, as Redis's clientCommand parses it: `CLIENT KILL addr:port` (the old form,
/// which may kill the caller), or option/value pairs, checked left to right, the first bad
/// one answering its error. Redis compares option names, TYPE and SKIPME values and
/// addresses as C strings, so each is cut at a NUL byte (see [`c_bytes`]).
fn client_kill(ctx: &mut Ctx, args: Args) {
    let text = |arg: &[u8]| String::from_utf8_lossy(c_bytes(arg, usize::MAX)).into_owned();
    if args.len() == 3 {
        let addr = text(args.get(2));
        ctx.request(Request::ClientKill(KillFilter::LegacyAddr(addr)));
        return;
    }
    let (mut id, mut addr, mut laddr, mut skip_me) = (None, None, None, true);
    // TYPE other than normal (no replicas, masters or pub/sub clients here) matches nobody.
    let mut matches_nobody = false;
    let mut i = 2;
    while i < args.len() {
        let opt = c_bytes(args.get(i), usize::MAX).to_ascii_lowercase();
        // An option without a value is a syntax error, whatever the option.
        let Some(value) = (i + 1 < args.len()).then(|| args.get(i + 1)) else {
            ctx.error(err::SYNTAX);
            return;
        };
        match opt.as_slice() {
            // getRangeLongFromObjectOrReply(1, LONG_MAX) with a message: one error for
            // "not a number" and "out of range" alike.
            b"id" => match parse_i64(value) {
                Some(v) if v > 0 => id = Some(v as u64),
                _ => {
                    ctx.error("ERR client-id should be greater than 0");
                    return;
                }
            },
            b"type" => match c_bytes(value, usize::MAX).to_ascii_lowercase().as_slice() {
                b"normal" => {}
                b"master" | b"replica" | b"slave" | b"pubsub" => matches_nobody = true,
                _ => {
                    ctx.out.error_parts(&[
                        b"ERR Unknown client type '",
                        c_bytes(value, usize::MAX),
                        b"'",
                    ]);
                    return;
                }
            },
            // Every client is the default user's (there are no ACL users); the name is
            // case-sensitive, as ACLGetUserByName's lookup.
            b"user" => {
                if value != b"default" {
                    ctx.out
                        .error_parts(&[b"ERR No such user '", c_bytes(value, usize::MAX), b"'"]);
                    return;
                }
            }
            b"addr" => addr = Some(text(value)),
            b"laddr" => laddr = Some(text(value)),
            b"skipme" => {
                let value = c_bytes(value, usize::MAX);
                if value.eq_ignore_ascii_case(b"yes") {
                    skip_me = true;
                } else if value.eq_ignore_ascii_case(b"no") {
                    skip_me = false;
                } else {
                    ctx.error(err::SYNTAX);
                    return;
                }
            }
            _ => {
                ctx.error(err::SYNTAX);
                return;
            }
        }
        i += 2;
    }
    if matches_nobody {
        ctx.out.int(0);
        return;
    }
    ctx.request(Request::ClientKill(KillFilter::Filters {
        id,
        addr,
        laddr,
        skip_me,
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_compare() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(!constant_time_eq(b"", b"a"));
    }

    #[test]
    fn client_text() {
        assert!(valid_client_text(b"redis-py"));
        assert!(!valid_client_text(b"a b"));
        assert!(!valid_client_text(b"a\n"));
        assert!(!valid_client_text("é".as_bytes()));
    }
}
