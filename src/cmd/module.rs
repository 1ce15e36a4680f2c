//! MODULE as redis-server 7.0 answers it with no module loaded and its default
//! `enable-module-command no`: LIST is empty, LOAD, LOADEX and UNLOAD are refused with
//! Redis's protected-command error. rust-keyval cannot load Redis modules (they are C
//! libraries written against Redis's internals), so where `enable-module-command` allows
//! the command, LOAD and LOADEX fail as a module that does not load fails in Redis, with
//! the reason in the log, and UNLOAD finds no module of that name.

use super::{Command, Ctx, reply_help, subcommand};
use crate::resp::Args;

/// The family's command table.
#[rustfmt::skip]
pub const COMMANDS: &[Command] = &[
    Command { name: "module", arity: -2, flags: 0, keys: (0, 0, 0), group: "server", handler: module },
];

/// MODULE's subcommands and their arities.
pub const MODULE_SUBCOMMANDS: &[(&str, i32)] = &[
    ("help", 2),
    ("list", 2),
    ("load", -3),
    ("loadex", -3),
    ("unload", 3),
];

fn module(ctx: &mut Ctx, args: Args) {
    let Some(sub) = subcommand(ctx.out, "module", MODULE_SUBCOMMANDS, args) else {
        return;
    };
    match sub {
        "help" => reply_help(
            ctx.out,
            &[
                "MODULE <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "LIST",
                "    Return a list of loaded modules.",
                "LOAD <path> [<arg> ...]",
                "    Load a module library from <path>, passing to it any optional arguments.",
                "LOADEX <path> [[CONFIG NAME VALUE] [CONFIG NAME VALUE]] [ARGS ...]",
                "    Load a module library from <path>, while passing it module configurations and optional arguments.",
                "UNLOAD <name>",
                "    Unload a module.",
                "HELP",
                "    Prints this help.",
            ],
        ),
        "list" => ctx.out.array(0),
        _ if !ctx.shared.params.module_command_allowed(ctx.client.local) => ctx.out.error(
            "ERR MODULE command not allowed. If the enable-module-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.",
        ),
        "unload" => {
            ctx.out.error("ERR Error unloading module: no such module with that name");
        }
        _ => {
            log::warn!(
                "Module {} failed to load: rust-keyval cannot load Redis modules",
                String::from_utf8_lossy(args.get(2))
            );
            ctx.out
                .error("ERR Error loading the extension. Please check the server logs.");
        }
    }
}
