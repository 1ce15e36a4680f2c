//! Server commands: INFO, COMMAND, TIME, ROLE, SHUTDOWN.

use std::fmt::Write as _;

use super::flags::{self, ADMIN, FAST, LOADING, NO_MULTI, NOSCRIPT, STALE};
use super::{Command, Ctx, Request, err, reply_help, subcommand, table};
use crate::metrics::stats::get;
use crate::resp::{Args, Reply};
use crate::util::glob_match;

/// The Redis version we report; clients pick features by it.
pub const REDIS_VERSION: &str = "7.2.0";

/// The server family's command table.
#[rustfmt::skip]
pub const COMMANDS: &[Command] = &[
    Command { name: "info", arity: -1, flags: LOADING | STALE, keys: (0, 0, 0), group: "server", summary: "Returns information and statistics about the server.", handler: info },
    Command { name: "command", arity: -1, flags: LOADING | STALE, keys: (0, 0, 0), group: "server", summary: "Returns detailed information about all commands.", handler: command },
    Command { name: "time", arity: 1, flags: LOADING | STALE | FAST, keys: (0, 0, 0), group: "server", summary: "Returns the server time.", handler: time },
    Command { name: "role", arity: 1, flags: NOSCRIPT | LOADING | STALE | FAST, keys: (0, 0, 0), group: "server", summary: "Returns the replication role.", handler: role },
    Command { name: "shutdown", arity: -1, flags: ADMIN | NOSCRIPT | LOADING | STALE | NO_MULTI, keys: (0, 0, 0), group: "server", summary: "Synchronously saves the database(s) to disk and shuts down the Redis server.", handler: shutdown },
];

fn time(ctx: &mut Ctx, _args: Args) {
    let us = crate::util::now_us();
    ctx.out.array(2);
    ctx.out.bulk((us / 1_000_000).to_string().as_bytes());
    ctx.out.bulk((us % 1_000_000).to_string().as_bytes());
}

fn role(ctx: &mut Ctx, _args: Args) {
    ctx.out.array(3);
    ctx.out.bulk(b"master");
    ctx.out.int(0);
    ctx.out.array(0);
}

fn shutdown(ctx: &mut Ctx, args: Args) {
    for opt in args.iter().skip(1) {
        let o = opt.to_ascii_lowercase();
        match o.as_slice() {
            b"nosave" | b"save" | b"now" | b"force" => {}
            b"abort" => {
                ctx.error("ERR No shutdown in progress.");
                return;
            }
            _ => {
                ctx.error(err::SYNTAX);
                return;
            }
        }
    }
    // No reply: like Redis, the server closes every connection as it exits.
    ctx.request(Request::Shutdown);
}

/// Human-readable byte count as Redis prints it (`1.50M`).
fn human_bytes(n: u64) -> String {
    let n = n as f64;
    let units = [
        (1u64 << 40, "T"),
        (1 << 30, "G"),
        (1 << 20, "M"),
        (1 << 10, "K"),
    ];
    for (size, unit) in units {
        if n >= size as f64 {
            return format!("{:.2}{unit}", n / size as f64);
        }
    }
    format!("{n}B")
}

/// The INFO text for the requested sections (Redis's `genRedisInfoString`).
pub fn info_text(ctx: &Ctx, sections: &[Vec<u8>]) -> String {
    let all = sections.is_empty()
        || sections
            .iter()
            .any(|s| matches!(s.as_slice(), b"all" | b"everything" | b"default"));
    let want = |name: &str| all || sections.iter().any(|s| s == name.as_bytes());
    let shared = &*ctx.shared;
    let stats = &shared.stats;
    let cfg = &shared.config;
    let mut s = String::with_capacity(2048);
    let section = |s: &mut String, title: &str| {
        if !s.is_empty() {
            s.push_str("\r\n");
        }
        let _ = write!(s, "# {title}\r\n");
    };
    let uptime = shared.started.elapsed().as_secs();
    if want("server") {
        section(&mut s, "Server");
        let _ = write!(
            s,
            "redis_version:{REDIS_VERSION}\r\nkeyval_version:{}\r\nredis_git_sha1:00000000\r\nredis_git_dirty:0\r\nredis_build_id:0\r\nredis_mode:standalone\r\nos:{} {}\r\narch_bits:64\r\nmultiplexing_api:epoll\r\ngcc_version:0.0.0\r\nprocess_id:{}\r\nrun_id:{}\r\ntcp_port:{}\r\nserver_time_usec:{}\r\nuptime_in_seconds:{uptime}\r\nuptime_in_days:{}\r\nhz:10\r\nconfigured_hz:10\r\nexecutable:{}\r\nconfig_file:\r\n",
            env!("CARGO_PKG_VERSION"),
            std::env::consts::OS,
            std::env::consts::ARCH,
            std::process::id(),
            shared.run_id,
            cfg.bind.port(),
            crate::util::now_us(),
            uptime / 86_400,
            std::env::current_exe()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
        );
    }
    if want("clients") {
        section(&mut s, "Clients");
        let _ = write!(
            s,
            "connected_clients:{}\r\ncluster_connections:0\r\nmaxclients:{}\r\nclient_recent_max_input_buffer:0\r\nclient_recent_max_output_buffer:0\r\nblocked_clients:0\r\ntracking_clients:0\r\nclients_in_timeout_table:0\r\n",
            get(&stats.connected_clients),
            cfg.maxclients
        );
    }
    if want("memory") {
        section(&mut s, "Memory");
        let used = crate::alloc::allocated() as u64;
        let rss = crate::alloc::rss_bytes();
        let dataset: usize = ctx.store.dbs().iter().map(|d| d.approx_memory()).sum();
        let buckets: usize = ctx.store.dbs().iter().map(|d| d.buckets()).sum();
        let _ = write!(
            s,
            "used_memory:{used}\r\nused_memory_human:{}\r\nused_memory_rss:{rss}\r\nused_memory_rss_human:{}\r\nused_memory_peak:{}\r\nused_memory_dataset:{dataset}\r\nmaxmemory:0\r\nmaxmemory_human:0B\r\nmaxmemory_policy:noeviction\r\nmem_fragmentation_ratio:{:.2}\r\nmem_allocator:libc\r\nkeyval_table_buckets:{buckets}\r\nkeyval_allocations:{}\r\n",
            human_bytes(used),
            human_bytes(rss),
            shared.peak_memory.max(used),
            if used > 0 {
                rss as f64 / used as f64
            } else {
                0.0
            },
            crate::alloc::allocations(),
        );
    }
    if want("persistence") {
        section(&mut s, "Persistence");
        let _ = write!(
            s,
            "loading:0\r\nasync_loading:0\r\ncurrent_cow_peak:0\r\nrdb_changes_since_last_save:0\r\nrdb_bgsave_in_progress:0\r\nrdb_last_save_time:{}\r\nrdb_last_bgsave_status:ok\r\naof_enabled:0\r\naof_rewrite_in_progress:0\r\naof_rewrite_scheduled:0\r\naof_last_write_status:ok\r\n",
            stats.start_time
        );
    }
    if want("stats") {
        section(&mut s, "Stats");
        let processed = stats.commands_processed();
        let errors = stats.error_replies();
        let _ = write!(
            s,
            "total_connections_received:{}\r\ntotal_commands_processed:{processed}\r\ninstantaneous_ops_per_sec:{}\r\ntotal_net_input_bytes:{}\r\ntotal_net_output_bytes:{}\r\nrejected_connections:{}\r\nexpired_keys:{}\r\nevicted_keys:0\r\nkeyspace_hits:{}\r\nkeyspace_misses:{}\r\npubsub_channels:0\r\npubsub_patterns:0\r\ntotal_error_replies:{errors}\r\nprotocol_errors:{}\r\n",
            get(&stats.connections_received),
            shared.ops_per_sec,
            get(&stats.net_input_bytes),
            get(&stats.net_output_bytes),
            get(&stats.rejected_connections),
            ctx.store.expired_total(),
            get(&stats.keyspace_hits),
            get(&stats.keyspace_misses),
            get(&stats.protocol_errors),
        );
    }
    if want("replication") {
        section(&mut s, "Replication");
        let _ = write!(
            s,
            "role:master\r\nconnected_slaves:0\r\nmaster_failover_state:no-failover\r\nmaster_replid:{}\r\nmaster_replid2:0000000000000000000000000000000000000000\r\nmaster_repl_offset:0\r\nsecond_repl_offset:-1\r\nrepl_backlog_active:0\r\n",
            shared.run_id
        );
    }
    if want("cpu") {
        section(&mut s, "CPU");
        let (user, sys) = crate::alloc::cpu_seconds();
        let _ = write!(s, "used_cpu_sys:{sys:.6}\r\nused_cpu_user:{user:.6}\r\n");
    }
    if want("keyspace") {
        section(&mut s, "Keyspace");
        for (i, db) in ctx.store.dbs().iter().enumerate() {
            if !db.is_empty() {
                let _ = write!(
                    s,
                    "db{i}:keys={},expires={},avg_ttl=0\r\n",
                    db.len(),
                    db.expires()
                );
            }
        }
    }
    s
}

fn info(ctx: &mut Ctx, args: Args) {
    let sections: Vec<Vec<u8>> = args
        .iter()
        .skip(1)
        .map(<[u8]>::to_ascii_lowercase)
        .collect();
    let text = info_text(ctx, &sections);
    ctx.out.verbatim(text.as_bytes());
}

/// COMMAND INFO's ACL categories for a command.
fn categories(c: &Command) -> Vec<String> {
    let mut cats = Vec::new();
    let group = match c.group {
        "generic" => "keyspace",
        "sorted-set" => "sortedset",
        g => g,
    };
    cats.push(format!("@{group}"));
    if c.flags & flags::WRITE != 0 {
        cats.push("@write".into());
    }
    if c.flags & flags::READONLY != 0 {
        cats.push("@read".into());
    }
    if c.flags & flags::ADMIN != 0 {
        cats.push("@admin".into());
        cats.push("@dangerous".into());
    }
    cats.push(
        if c.flags & FAST != 0 {
            "@fast"
        } else {
            "@slow"
        }
        .into(),
    );
    cats
}

/// One COMMAND INFO entry (Redis 7's 10-element form).
fn reply_command_info(out: &mut Reply, c: &Command) {
    out.array(10);
    out.bulk(c.name.as_bytes());
    out.int(i64::from(c.arity));
    let names: Vec<&str> = flags::NAMES
        .iter()
        .enumerate()
        .filter(|(bit, _)| c.flags & (1 << bit) != 0)
        .map(|(_, n)| *n)
        .collect();
    out.set(names.len());
    for n in names {
        out.simple(n);
    }
    out.int(i64::from(c.keys.0));
    out.int(i64::from(c.keys.1));
    out.int(i64::from(c.keys.2));
    let cats = categories(c);
    out.set(cats.len());
    for cat in &cats {
        out.simple(cat);
    }
    out.array(0); // tips
    out.array(0); // key specs
    out.array(0); // subcommands
}

/// One COMMAND DOCS entry: name, then a map of summary, since and group.
fn reply_command_docs(out: &mut Reply, c: &Command) {
    out.bulk(c.name.as_bytes());
    out.map(3);
    out.bulk(b"summary");
    out.bulk(c.summary.as_bytes());
    out.bulk(b"since");
    out.bulk(b"1.0.0");
    out.bulk(b"group");
    out.bulk(c.group.as_bytes());
}

/// Subcommands of COMMAND with their arities (`command|<sub>`; dispatch checks them and counts
/// each subcommand apart, see `cmd::Table`).
pub const COMMAND_SUBCOMMANDS: &[(&str, i32)] = &[
    ("count", 2),
    ("info", -2),
    ("docs", -2),
    ("list", -2),
    ("help", 2),
];

fn command(ctx: &mut Ctx, args: Args) {
    let tbl = table();
    if args.len() == 1 {
        ctx.out.array(tbl.len());
        for c in tbl.all() {
            reply_command_info(ctx.out, c);
        }
        return;
    }
    let Some(name) = subcommand(ctx.out, "command", COMMAND_SUBCOMMANDS, args) else {
        return;
    };
    let lookup = |a: &[u8]| tbl.lookup(a).map(|id| tbl.get(id));
    match name {
        "count" => ctx.out.int(tbl.len() as i64),
        "info" if args.len() == 2 => {
            ctx.out.array(tbl.len());
            for c in tbl.all() {
                reply_command_info(ctx.out, c);
            }
        }
        "info" => {
            ctx.out.array(args.len() - 2);
            for a in args.iter().skip(2) {
                match lookup(a) {
                    Some(c) => reply_command_info(ctx.out, c),
                    None => ctx.out.null(),
                }
            }
        }
        "docs" => {
            let found: Vec<&Command> = if args.len() == 2 {
                tbl.all().to_vec()
            } else {
                args.iter().skip(2).filter_map(lookup).collect()
            };
            ctx.out.map(found.len());
            for c in found {
                reply_command_docs(ctx.out, c);
            }
        }
        "list" => {
            if args.len() > 2 {
                // FILTERBY needs module/ACL/pattern filters; only the pattern form exists here.
                let ok = args.len() == 5
                    && args.get(2).eq_ignore_ascii_case(b"filterby")
                    && args.get(3).eq_ignore_ascii_case(b"pattern");
                if !ok {
                    ctx.error(err::SYNTAX);
                    return;
                }
                let pat = args.get(4);
                let names: Vec<&str> = tbl
                    .all()
                    .iter()
                    .map(|c| c.name)
                    .filter(|n| glob_match(pat, n.as_bytes(), true))
                    .collect();
                ctx.out.array(names.len());
                for n in names {
                    ctx.out.bulk(n.as_bytes());
                }
                return;
            }
            ctx.out.array(tbl.len());
            for c in tbl.all() {
                ctx.out.bulk(c.name.as_bytes());
            }
        }
        _ => {
            let lines = [
                "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "(no subcommand)",
                "    Return details about all commands.",
                "COUNT",
                "    Return the total number of commands in this server.",
                "LIST",
                "    Return a list of all commands in this server.",
                "INFO [<command-name> ...]",
                "    Return details about multiple commands.",
                "DOCS [<command-name> ...]",
                "    Return documentation details about multiple commands.",
                "HELP",
                "    Print this help.",
            ];
            reply_help(ctx.out, &lines);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::human_bytes;

    #[test]
    fn human() {
        assert_eq!(human_bytes(512), "512B");
        assert_eq!(human_bytes(1536), "1.50K");
        assert_eq!(human_bytes(3 << 20), "3.00M");
    }
}
