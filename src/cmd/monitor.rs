//! MONITOR: a client that sees every command the server runs, one line each, as Redis's
//! `replicationFeedMonitors` writes them:
//!
//! ```text
//! +1700000000.123456 [0 127.0.0.1:50000] "set" "foo" "bar"
//! ```
//!
//! A line is built once per command, only when someone monitors, and reaches the monitors
//! through the pub/sub outbox (see ARCHITECTURE.md), after the command's own reply. As in
//! Redis, a command is shown once it has run (a blocking command when it blocks, a queued
//! command when EXEC runs it), never when it is refused before running, and administrative
//! commands (CONFIG, CLIENT KILL, DEBUG, ...) are never shown. Passwords given to AUTH and
//! HELLO show as `(redacted)`.

use super::flags::{LOADING, NOSCRIPT, STALE};
use super::{Command, Ctx};
use crate::pubsub::Message;
use crate::resp::Args;

#[rustfmt::skip]
pub static COMMANDS: &[Command] = &[
    Command { name: "monitor", arity: 1, flags: super::flags::ADMIN | NOSCRIPT | LOADING | STALE, keys: (0, 0, 0), group: "server", handler: monitor },
];

fn monitor(ctx: &mut Ctx, _args: Args) {
    // Inside EXEC a client expects one reply per command (Redis's CLIENT_DENY_BLOCKING).
    if ctx.shared.in_exec {
        ctx.error("ERR MONITOR isn't allowed for DENY BLOCKING client");
        return;
    }
    // Already monitoring: Redis ignores the command, without a reply.
    if ctx.client.monitor {
        return;
    }
    ctx.client.monitor = true;
    ctx.shared.monitors.push(ctx.client.token);
    ctx.out.ok();
}

/// Takes the client out of MONITOR mode (RESET, disconnect).
pub fn stop(ctx_monitors: &mut Vec<usize>, client: &mut super::Client) {
    if client.monitor {
        client.monitor = false;
        ctx_monitors.retain(|&t| t != client.token);
    }
}

/// Commands Redis never shows to monitors: the administrative ones (CMD_ADMIN) and the
/// scripting ones (CMD_SKIP_MONITOR; a script's own calls are shown instead). `sub` is the
/// subcommand, for containers whose subcommands differ.
fn hidden(name: &str, sub: &[u8]) -> bool {
    let sub_is = |names: &[&str]| names.iter().any(|n| sub.eq_ignore_ascii_case(n.as_bytes()));
    match name {
        "monitor" | "shutdown" | "save" | "bgsave" | "bgrewriteaof" | "debug" | "sync"
        | "psync" | "replconf" | "replicaof" | "slaveof" | "failover" | "pfdebug"
        | "pfselftest" | "sentinel" | "module" | "eval" | "evalsha" | "eval_ro" | "evalsha_ro"
        | "fcall" | "fcall_ro" => true,
        "client" => sub_is(&["kill", "list", "no-evict", "pause", "unblock", "unpause"]),
        "config" => sub_is(&["get", "set", "resetstat", "rewrite"]),
        "latency" => sub_is(&["doctor", "graph", "histogram", "history", "latest", "reset"]),
        "slowlog" => sub_is(&["get", "len", "reset"]),
        "acl" => sub_is(&[
            "deluser", "dryrun", "getuser", "list", "load", "log", "save", "setuser", "users",
        ]),
        "cluster" => sub_is(&[
            "addslots",
            "addslotsrange",
            "bumpepoch",
            "count-failure-reports",
            "delslots",
            "delslotsrange",
            "failover",
            "flushslots",
            "forget",
            "meet",
            "replicas",
            "replicate",
            "reset",
            "saveconfig",
            "set-config-epoch",
            "setslot",
            "slaves",
        ]),
        _ => false,
    }
}

/// Indexes of the arguments Redis replaces with `(redacted)`: AUTH's password (and user
/// name, in its two-argument form), and the user and password of HELLO's AUTH option.
pub fn redacted(name: &str, args: Args) -> Vec<usize> {
    match name {
        "auth" if args.len() <= 3 => (1..args.len()).collect(),
        "hello" => {
            // As helloCommand scans its options: AUTH's two values are redacted as it
            // reaches them; a bad protocol version or option stops the scan.
            let version_ok =
                args.len() < 2 || matches!(crate::resp::parse_i64(args.get(1)), Some(2 | 3));
            let mut hidden = Vec::new();
            let mut j = 2;
            while version_ok && j < args.len() {
                let more = args.len() - 1 - j;
                let opt = args.get(j);
                if opt.eq_ignore_ascii_case(b"auth") && more >= 2 {
                    hidden.extend([j + 1, j + 2]);
                    j += 3;
                } else if opt.eq_ignore_ascii_case(b"setname") && more >= 1 {
                    j += 2;
                } else {
                    break;
                }
            }
            hidden
        }
        "migrate" => super::migrate::redacted(args),
        _ => Vec::new(),
    }
}

/// Sends the line of a command that just ran to every monitor (called only when there is
/// at least one).
#[cold]
pub fn feed(ctx: &mut Ctx, cmd: &Command, args: Args) {
    if hidden(cmd.name, if args.len() > 1 { args.get(1) } else { b"" }) {
        return;
    }
    feed_line(ctx, args);
}

/// Sends a command's line to every monitor, whatever the command. EVAL and EVALSHA call
/// it themselves before running, so their line comes before their script's commands.
#[cold]
pub fn feed_line(ctx: &mut Ctx, args: Args) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let peer = ctx
        .client
        .addr
        .map_or_else(|| "lua".to_string(), |a| a.to_string());
    let mut line = format!(
        "+{}.{:06} [{} {}] ",
        now.as_secs(),
        now.subsec_micros(),
        ctx.client.db,
        peer
    )
    .into_bytes();
    let name = String::from_utf8_lossy(args.get(0)).to_ascii_lowercase();
    let redact = redacted(&name, args);
    for (i, arg) in args.iter().enumerate() {
        if i > 0 {
            line.push(b' ');
        }
        if redact.contains(&i) {
            line.extend_from_slice(b"\"(redacted)\"");
        } else {
            quote(&mut line, arg);
        }
    }
    line.extend_from_slice(b"\r\n");
    let message = Message::same(line);
    for &token in &ctx.shared.monitors {
        ctx.shared.pubsub.send(token, message.clone());
    }
    ctx.shared.loop_work = true;
}

/// Appends `arg` quoted as Redis's `sdscatrepr` does: `\\`, `\"`, `\n`, `\r`, `\t`, `\a`,
/// `\b` escaped, other bytes outside printable ASCII as `\xhh`.
pub fn quote(out: &mut Vec<u8>, arg: &[u8]) {
    out.push(b'"');
    for &b in arg {
        match b {
            b'\\' | b'"' => out.extend_from_slice(&[b'\\', b]),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x07 => out.extend_from_slice(b"\\a"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x20..=0x7e => out.push(b),
            _ => out.extend_from_slice(format!("\\x{b:02x}").as_bytes()),
        }
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_follows_sdscatrepr() {
        let mut out = Vec::new();
        quote(&mut out, b"a\"b\\c\n\r\t\x07\x08\x00\xff ~");
        assert_eq!(out, b"\"a\\\"b\\\\c\\n\\r\\t\\a\\b\\x00\\xff ~\"");
    }

    #[test]
    fn admin_commands_are_hidden() {
        assert!(hidden("config", b"set"));
        assert!(hidden("client", b"KILL"));
        assert!(!hidden("client", b"setname"));
        assert!(!hidden("get", b"k"));
        assert!(hidden("monitor", b""));
    }
}
