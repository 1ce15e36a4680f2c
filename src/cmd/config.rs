//! CONFIG: GET, SET, RESETSTAT, REWRITE and HELP over the server's parameters.

use super::{Command, Ctx, arity_error, c_bytes, reply_help, subcommand};
use crate::config::parse_memory;
use crate::resp::{Args, parse_i64};
use crate::util::glob_match;

/// The CONFIG command's table entry.
#[rustfmt::skip]
pub const COMMANDS: &[Command] = &[
    Command { name: "config", arity: -2, flags: 0, keys: (0, 0, 0), group: "server", summary: "A container for server configuration commands.", handler: config },
];

/// The parameters CONFIG GET knows, with their current values.
fn config_params(ctx: &Ctx) -> Vec<(&'static str, String)> {
    let cfg = &ctx.shared.config;
    let dir = std::env::current_dir()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let loglevel = match cfg.log_level {
        log::LevelFilter::Off | log::LevelFilter::Error | log::LevelFilter::Warn => "warning",
        log::LevelFilter::Info => "notice",
        log::LevelFilter::Debug => "verbose",
        log::LevelFilter::Trace => "debug",
    };
    vec![
        ("bind", cfg.bind.ip().to_string()),
        ("port", cfg.bind.port().to_string()),
        ("databases", cfg.databases.to_string()),
        ("maxclients", cfg.maxclients.to_string()),
        ("timeout", cfg.timeout.to_string()),
        ("requirepass", cfg.requirepass.clone()),
        ("proto-max-bulk-len", cfg.proto_max_bulk_len.to_string()),
        (
            "client-output-buffer-limit",
            format!(
                "normal {0} {0} 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60",
                cfg.client_output_limit
            ),
        ),
        ("loglevel", loglevel.to_string()),
        ("save", String::new()),
        ("appendonly", "no".to_string()),
        ("appendfsync", "everysec".to_string()),
        ("maxmemory", "0".to_string()),
        ("maxmemory-policy", "noeviction".to_string()),
        ("dbfilename", "dump.rdb".to_string()),
        ("dir", dir),
        ("daemonize", "no".to_string()),
        ("protected-mode", "no".to_string()),
        ("io-threads", "1".to_string()),
        ("hz", "10".to_string()),
        ("tcp-backlog", "511".to_string()),
        ("tcp-keepalive", "0".to_string()),
        ("cluster-enabled", "no".to_string()),
        ("lazyfree-lazy-user-flush", "no".to_string()),
        ("notify-keyspace-events", String::new()),
    ]
}

/// Subcommands of CONFIG with their arities (`config|<sub>`).
const CONFIG_SUBCOMMANDS: &[(&str, i32)] = &[
    ("get", -3),
    ("set", -4),
    ("resetstat", 2),
    ("rewrite", 2),
    ("help", 2),
];

fn config(ctx: &mut Ctx, args: Args) {
    let Some(name) = subcommand(ctx.out, "config", CONFIG_SUBCOMMANDS, args) else {
        return;
    };
    match name {
        "get" => {
            let params = config_params(ctx);
            let mut found: Vec<(&[u8], &str)> = Vec::new();
            for pattern in args.iter().skip(2) {
                let is_glob = pattern.iter().any(|c| b"*?[\\".contains(c));
                for (name, value) in &params {
                    if !glob_match(pattern, name.as_bytes(), true)
                        || found.iter().any(|(_, v)| std::ptr::eq(*v, value.as_str()))
                    {
                        continue;
                    }
                    // Like Redis 7.0, an exact (non-glob) name is echoed as the client typed it.
                    let shown = if is_glob { name.as_bytes() } else { pattern };
                    found.push((shown, value.as_str()));
                }
            }
            ctx.out.map(found.len());
            for (n, v) in found {
                ctx.out.bulk(n);
                ctx.out.bulk(v.as_bytes());
            }
        }
        "set" => config_set(ctx, args),
        "resetstat" => {
            ctx.shared.stats.reset();
            ctx.out.ok();
        }
        "rewrite" => ctx.error("ERR The server is running without a config file"),
        _ => {
            let lines = [
                "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "GET <pattern>",
                "    Return parameters matching the glob-like <pattern> and their values.",
                "SET <directive> <value>",
                "    Set the configuration <directive> to <value>.",
                "RESETSTAT",
                "    Reset statistics reported by the INFO command.",
                "REWRITE",
                "    Rewrite the configuration file.",
                "HELP",
                "    Print this help.",
            ];
            reply_help(ctx.out, &lines);
        }
    }
}

/// CONFIG SET for the parameters that can change at run time. Parameters describing
/// features we do not have (persistence) accept only the value that matches reality.
fn config_set(ctx: &mut Ctx, args: Args) {
    if !args.len().is_multiple_of(2) {
        arity_error(ctx.out, "config|set");
        return;
    }
    // Validate everything first so the change is all-or-nothing, as in Redis 7.
    let mut new = ctx.shared.config.clone();
    for i in (2..args.len()).step_by(2) {
        let name = args.get(i).to_ascii_lowercase();
        let value = args.get(i + 1);
        let text = String::from_utf8_lossy(value);
        let bad_value = |ctx: &mut Ctx| {
            ctx.out.error_parts(&[
                b"ERR CONFIG SET failed (possibly related to argument '",
                c_bytes(args.get(i), usize::MAX),
                b"') - argument couldn't be parsed into an integer",
            ]);
        };
        match name.as_slice() {
            b"timeout" => match parse_i64(value).filter(|v| *v >= 0) {
                Some(v) => new.timeout = v as u64,
                None => return bad_value(ctx),
            },
            b"maxclients" => match parse_i64(value).filter(|v| *v >= 1 && *v <= u32::MAX as i64) {
                Some(v) => new.maxclients = v as u32,
                None => return bad_value(ctx),
            },
            b"requirepass" => new.requirepass = text.into_owned(),
            b"proto-max-bulk-len" => match parse_memory(&text) {
                Ok(v) if v >= 1024 * 1024 => new.proto_max_bulk_len = v,
                _ => return bad_value(ctx),
            },
            b"save" if value.is_empty() => {}
            b"appendonly" if value.eq_ignore_ascii_case(b"no") => {}
            _ => {
                ctx.out.error_parts(&[
                    b"ERR Unknown option or number of arguments for CONFIG SET - '",
                    c_bytes(args.get(i), usize::MAX),
                    b"'",
                ]);
                return;
            }
        }
    }
    ctx.shared.config = new;
    ctx.out.ok();
}
