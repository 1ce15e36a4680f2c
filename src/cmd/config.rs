//! CONFIG: GET, SET, RESETSTAT, REWRITE and HELP over the server's parameters
//! ([`crate::config::params`], Redis's config.c).

use super::{Command, Ctx, reply_help, subcommand};
use crate::config::params::Params;
use crate::resp::Args;

/// The CONFIG command's table entry.
#[rustfmt::skip]
pub const COMMANDS: &[Command] = &[
    Command { name: "config", arity: -2, flags: 0, keys: (0, 0, 0), group: "server", handler: config },
];

/// Subcommands of CONFIG with their arities (`config|<sub>`), for dispatch and statistics.
pub const CONFIG_SUBCOMMANDS: &[(&str, i32)] = &[
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
            let patterns: Vec<&[u8]> = args.iter().skip(2).collect();
            let found = ctx.shared.params.matching(&patterns);
            ctx.out.map(found.len());
            for (name, value) in found {
                ctx.out.bulk(&name);
                ctx.out.bulk(&value);
            }
        }
        "set" => config_set(ctx, args),
        "resetstat" => {
            ctx.shared.stats.reset();
            crate::store::lazyfree::reset_stats();
            ctx.out.ok();
        }
        "rewrite" => config_rewrite(ctx),
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

/// CONFIG REWRITE: the configuration file the server started from, rewritten with the
/// current values (keeping its comments), as Redis does.
fn config_rewrite(ctx: &mut Ctx) {
    let Some(path) = ctx.shared.params.config_file.clone() else {
        ctx.error("ERR The server is running without a config file");
        return;
    };
    match crate::config::rewrite::rewrite(&ctx.shared.params, &path) {
        Ok(()) => {
            log::info!("CONFIG REWRITE executed with success.");
            ctx.out.ok();
        }
        Err(e) => {
            let text = crate::util::os_error_text(&e);
            log::warn!("CONFIG REWRITE failed: {text}");
            ctx.out
                .error_parts(&[b"ERR Rewriting config file: ", text.as_bytes()]);
        }
    }
}

/// CONFIG SET name value [name value ...]: all or nothing, as in Redis 7.
fn config_set(ctx: &mut Ctx, args: Args) {
    if !args.len().is_multiple_of(2) {
        ctx.error(super::err::SYNTAX);
        return;
    }
    let pairs: Vec<(&[u8], &[u8])> = (2..args.len())
        .step_by(2)
        .map(|i| (args.get(i), args.get(i + 1)))
        .collect();
    let before = ctx.shared.params.settings.loglevel;
    let memory_before = ctx.shared.params.settings.memory;
    let aof_before = ctx.shared.params.settings.aof.enabled;
    match ctx.shared.params.config_set(&pairs, ctx.client.local) {
        Ok(()) => {
            let settings = &ctx.shared.params.settings;
            if settings.loglevel != before {
                log::set_max_level(Params::log_filter(settings.loglevel));
            }
            let classes = super::notify::store_classes(settings.notify_keyspace_events);
            ctx.store.set_event_classes(classes);
            crate::store::lazyfree::set_options(&settings.lazyfree);
            let memory = settings.memory;
            if memory.access_mode() != memory_before.access_mode()
                || memory.policy != memory_before.policy
            {
                ctx.store.set_access_mode(memory.access_mode());
            }
            let aof_on = settings.aof.enabled;
            if aof_on != aof_before {
                if !aof_on {
                    super::aof::turn_off(ctx.store, ctx.shared);
                } else if let Err(e) = super::aof::turn_on(ctx.store, ctx.shared, ctx.now) {
                    let _ = ctx
                        .shared
                        .params
                        .config_set(&[(b"appendonly", b"no")], true);
                    ctx.out.error_parts(&[
                        b"ERR CONFIG SET failed (possibly related to argument 'appendonly') - ",
                        e.as_bytes(),
                    ]);
                    return;
                }
            }
            // A lowered limit is applied at once (Redis's updateMaxmemory).
            if memory.maxmemory != memory_before.maxmemory && memory.maxmemory != 0 {
                super::memory::perform_evictions(ctx);
            }
            ctx.out.ok();
        }
        Err(e) => ctx.out.error_parts(&[&e]),
    }
}
