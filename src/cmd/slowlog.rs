//! SLOWLOG (Redis's slowlog.c): the last `slowlog-max-len` commands that took at least
//! `slowlog-log-slower-than` microseconds, newest first.
//!
//! Entries are recorded where a command's run is timed (`cmd::finish`), with the arguments
//! as the client sent them (not as they are propagated), EXEC left out (its commands are
//! logged one by one), secrets replaced by `(redacted)` as MONITOR hides them, and the
//! arguments trimmed as Redis trims them so a huge command cannot make the log huge.

use std::collections::VecDeque;

use super::flags::{ADMIN, LOADING, STALE};
use super::{Client, Command, Ctx, reply_help, subcommand};
use crate::resp::{Args, Reply};

/// The family's command table.
#[rustfmt::skip]
pub const COMMANDS: &[Command] = &[
    Command { name: "slowlog", arity: -2, flags: ADMIN | LOADING | STALE, keys: (0, 0, 0), group: "server", handler: slowlog },
];

/// SLOWLOG's subcommands and their arities.
pub const SLOWLOG_SUBCOMMANDS: &[(&str, i32)] =
    &[("get", -2), ("len", 2), ("reset", 2), ("help", 2)];

/// Most arguments an entry keeps: the last one kept says how many more there were.
const MAX_ARGS: usize = 32;
/// Longest argument an entry keeps whole.
const MAX_ARG_BYTES: usize = 128;

/// One logged command.
#[derive(Debug)]
struct Entry {
    id: u64,
    /// Seconds since the epoch when it was logged.
    time: u64,
    /// How long it ran, in microseconds.
    duration_us: u64,
    /// Its arguments, trimmed and redacted.
    args: Vec<Vec<u8>>,
    /// `ip:port` of the client (`?:0` for a script's or the loader's client).
    peer: String,
    /// The client's name (CLIENT SETNAME), empty when it has none.
    name: Vec<u8>,
}

/// The log, newest entry first.
#[derive(Debug, Default)]
pub struct Slowlog {
    entries: VecDeque<Entry>,
    next_id: u64,
}

impl Slowlog {
    /// Logs a command that ran `duration_us` if it reaches `slower_than_us` (a negative
    /// threshold disables the log), then trims the log to `max_len` entries.
    pub fn push_if_slow(
        &mut self,
        (slower_than_us, max_len): (i64, u64),
        client: &Client,
        args: &[&[u8]],
        redacted: &[usize],
        duration_us: u64,
    ) {
        if slower_than_us < 0 {
            return;
        }
        if duration_us >= slower_than_us as u64 {
            let entry = Entry {
                id: self.next_id,
                time: crate::util::now_us() / 1_000_000,
                duration_us,
                args: logged_args(args, redacted),
                peer: client
                    .addr
                    .map_or_else(|| "?:0".to_string(), |a| a.to_string()),
                name: client.name.clone(),
            };
            self.next_id += 1;
            self.entries.push_front(entry);
        }
        while self.entries.len() as u64 > max_len {
            self.entries.pop_back();
        }
    }

    /// Entries logged.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when nothing is logged.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Changes whenever an entry is added or removed: the next ID and the length (for
    /// the metrics thread's copy, `metrics::published`).
    pub fn change_mark(&self) -> (u64, u64) {
        (self.next_id, self.entries.len() as u64)
    }

    /// The newest entry's ID and duration (microseconds), if any.
    pub fn newest_entry(&self) -> Option<(u64, u64)> {
        self.entries.front().map(|e| (e.id, e.duration_us))
    }

    /// The newest `n` entries, newest first, their bytes made text (for the console).
    pub fn newest(&self, n: usize) -> Vec<crate::metrics::published::SlowEntry> {
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        self.entries
            .iter()
            .take(n)
            .map(|e| crate::metrics::published::SlowEntry {
                id: e.id,
                time: e.time,
                duration_us: e.duration_us,
                args: e.args.iter().map(|a| text(a)).collect(),
                client: e.peer.clone(),
                name: text(&e.name),
            })
            .collect()
    }

    fn reply_newest(&self, out: &mut Reply, count: usize) {
        let n = count.min(self.entries.len());
        out.array(n);
        for e in self.entries.iter().take(n) {
            out.array(6);
            out.int(e.id as i64);
            out.int(e.time as i64);
            out.int(e.duration_us as i64);
            out.array(e.args.len());
            for a in &e.args {
                out.bulk(a);
            }
            out.bulk(e.peer.as_bytes());
            out.bulk(&e.name);
        }
    }
}

/// The arguments an entry keeps (Redis's slowlogCreateEntry): at most [`MAX_ARGS`], the
/// last of them then saying how many were left out; each cut to [`MAX_ARG_BYTES`] with a
/// note of the bytes left out; those at `redacted` replaced.
fn logged_args(args: &[&[u8]], redacted: &[usize]) -> Vec<Vec<u8>> {
    let kept = args.len().min(MAX_ARGS);
    (0..kept)
        .map(|i| {
            if kept != args.len() && i == kept - 1 {
                format!("... ({} more arguments)", args.len() - kept + 1).into_bytes()
            } else if redacted.contains(&i) {
                b"(redacted)".to_vec()
            } else if args[i].len() > MAX_ARG_BYTES {
                let mut a = args[i][..MAX_ARG_BYTES].to_vec();
                a.extend_from_slice(
                    format!("... ({} more bytes)", args[i].len() - MAX_ARG_BYTES).as_bytes(),
                );
                a
            } else {
                args[i].to_vec()
            }
        })
        .collect()
}

/// Logs the command that just ran for the context's client if it was slow enough (EXEC is
/// never logged: the commands it ran were).
pub fn record(ctx: &mut Ctx, name: &str, args: Args, duration_us: u64) {
    if name == "exec" {
        return;
    }
    let limits = slowlog_limits(ctx);
    if limits.0 < 0 || duration_us < limits.0 as u64 {
        return;
    }
    let all: Vec<&[u8]> = args.iter().collect();
    let mut redacted = super::monitor::redacted(name, args);
    if name == "config" && args.len() > 3 && args.get(1).eq_ignore_ascii_case(b"set") {
        // CONFIG SET's values of the secret parameters (Redis's SENSITIVE_CONFIG).
        for i in (2..args.len() - 1).step_by(2) {
            let param = args.get(i);
            if [&b"requirepass"[..], b"masterauth", b"masteruser"]
                .iter()
                .any(|p| p.eq_ignore_ascii_case(param))
            {
                redacted.push(i + 1);
            }
        }
    }
    ctx.shared
        .slowlog
        .push_if_slow(limits, ctx.client, &all, &redacted, duration_us);
}

/// Redis's addReplySubcommandSyntaxError: the subcommand as typed, the command upper-cased.
pub fn subcommand_syntax_error(out: &mut Reply, args: Args) {
    let command = String::from_utf8_lossy(args.get(0)).to_ascii_uppercase();
    out.error_parts(&[
        b"ERR unknown subcommand or wrong number of arguments for '",
        super::c_bytes(args.get(1), 128),
        b"'. Try ",
        command.as_bytes(),
        b" HELP.",
    ]);
}

/// Logs a blocking command whose wait just ended (served, timed out or unblocked), if its
/// runs took long enough: `ns` counts its first run and the one that served it, not the
/// wait (Redis's updateStatsOnUnblock).
pub fn record_unblocked(
    shared: &mut super::Shared,
    client: &Client,
    blocked: &super::blocking::Blocked,
    ns: u64,
) {
    let s = &shared.params.settings;
    let limits = (s.slowlog_slower_than_us, s.slowlog_max_len);
    if limits.0 < 0 || ns / 1000 < limits.0 as u64 {
        return;
    }
    let args: Vec<&[u8]> = blocked.args.iter().map(|a| &a[..]).collect();
    shared
        .slowlog
        .push_if_slow(limits, client, &args, &[], ns / 1000);
}

/// `slowlog-log-slower-than` and `slowlog-max-len`.
fn slowlog_limits(ctx: &Ctx) -> (i64, u64) {
    let s = &ctx.shared.params.settings;
    (s.slowlog_slower_than_us, s.slowlog_max_len)
}

fn slowlog(ctx: &mut Ctx, args: Args) {
    let Some(sub) = subcommand(ctx.out, "slowlog", SLOWLOG_SUBCOMMANDS, args) else {
        return;
    };
    match sub {
        "help" => reply_help(
            ctx.out,
            &[
                "SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "GET [<count>]",
                "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
                "    Entries are made of:",
                "    id, timestamp, time in microseconds, arguments array, client IP and port,",
                "    client name",
                "LEN",
                "    Return the length of the slowlog.",
                "RESET",
                "    Reset the slowlog.",
                "HELP",
                "    Prints this help.",
            ],
        ),
        "reset" => {
            ctx.shared.slowlog.entries.clear();
            ctx.out.simple("OK");
        }
        "len" => ctx.out.int(ctx.shared.slowlog.len() as i64),
        "get" if args.len() > 3 => subcommand_syntax_error(ctx.out, args),
        _ => {
            let count = if args.len() == 3 {
                match crate::resp::parse_i64(args.get(2)) {
                    Some(-1) => usize::MAX,
                    Some(n) if n >= 0 => n as usize,
                    // Not a number, or below -1: the same error (Redis's
                    // getRangeLongFromObjectOrReply with a message).
                    _ => {
                        ctx.out
                            .error("ERR count should be greater than or equal to -1");
                        return;
                    }
                }
            } else {
                10
            };
            ctx.shared.slowlog.reply_newest(ctx.out, count);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_commands_are_trimmed_as_redis_trims_them() {
        let many: Vec<Vec<u8>> = (0..35).map(|i| i.to_string().into_bytes()).collect();
        let refs: Vec<&[u8]> = many.iter().map(|a| a.as_slice()).collect();
        let kept = logged_args(&refs, &[]);
        assert_eq!(kept.len(), 32);
        assert_eq!(kept[30], b"30");
        assert_eq!(kept[31], b"... (4 more arguments)");
        let long = vec![b'A'; 129];
        let kept = logged_args(&[b"sadd", &long], &[]);
        assert_eq!(kept[1].len(), 128 + "... (1 more bytes)".len());
        assert!(kept[1].ends_with(b"A... (1 more bytes)"));
        let kept = logged_args(&[b"auth", b"secret"], &[1]);
        assert_eq!(kept, [b"auth".to_vec(), b"(redacted)".to_vec()]);
    }

    #[test]
    fn the_log_keeps_the_newest_entries() {
        let client = Client::new(1, true, 0);
        let mut log = Slowlog::default();
        for i in 0..20u64 {
            log.push_if_slow((5, 10), &client, &[b"ping"], &[], i);
        }
        // 0..5 were too fast; 15 logged, the 10 newest kept.
        assert_eq!(log.len(), 10);
        assert_eq!(log.entries[0].duration_us, 19);
        assert_eq!(log.entries[0].id, 14);
        assert_eq!(log.entries[0].peer, "?:0");
        log.push_if_slow((-1, 10), &client, &[b"ping"], &[], 100);
        assert_eq!(log.len(), 10);
    }
}
