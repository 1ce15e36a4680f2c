//! FUNCTION and FCALL (Redis's functions.c): libraries of Lua functions, loaded with
//! FUNCTION LOAD and called by name. The registry is [`crate::script::functions`]; the
//! functions run through the same host as EVAL scripts ([`super::scripting`]).

use super::flags::{DENYOOM, LOADING, MAY_REPLICATE, NOSCRIPT, READONLY, STALE, WRITE};
use super::{Command, Ctx, reply_help, subcommand};
use crate::net::busy::{RunningFunction, engines_stats};
use crate::persist::rdb;
use crate::resp::{Args, parse_i64};
use crate::script::flags as script_flags;
use crate::script::functions::{LOAD_TIMEOUT, Libraries, parse_dump};

#[rustfmt::skip]
pub static COMMANDS: &[Command] = &[
    Command { name: "fcall", arity: -3, flags: NOSCRIPT | STALE | MAY_REPLICATE, keys: (0, 0, 0), group: "scripting", handler: fcall },
    Command { name: "fcall_ro", arity: -3, flags: NOSCRIPT | STALE | READONLY, keys: (0, 0, 0), group: "scripting", handler: fcall_ro },
    Command { name: "function", arity: -2, flags: 0, keys: (0, 0, 0), group: "scripting", handler: function },
];

/// FUNCTION's subcommands and arities (`function|load` ...), as Redis's table has them.
pub const FUNCTION_SUBCOMMANDS: &[(&str, i32)] = &[
    ("delete", 3),
    ("dump", 2),
    ("flush", -2),
    ("help", 2),
    ("kill", 2),
    ("list", -2),
    ("load", -3),
    ("restore", -3),
    ("stats", 2),
];

/// The flags of FUNCTION's subcommand `sub` (Redis gives each its own): what CLIENT PAUSE
/// and MULTI judge a FUNCTION request by.
pub fn subcommand_flags(sub: &[u8]) -> u32 {
    let is = |name: &str| sub.eq_ignore_ascii_case(name.as_bytes());
    if is("load") || is("restore") {
        NOSCRIPT | WRITE | DENYOOM
    } else if is("delete") || is("flush") {
        NOSCRIPT | WRITE
    } else if is("help") {
        LOADING | STALE
    } else {
        NOSCRIPT
    }
}

fn fcall(ctx: &mut Ctx, args: Args) {
    fcall_generic(ctx, args, false);
}

fn fcall_ro(ctx: &mut Ctx, args: Args) {
    fcall_generic(ctx, args, true);
}

/// Redis's fcallCommandGeneric.
fn fcall_generic(ctx: &mut Ctx, args: Args, read_only_cmd: bool) {
    // Shown to monitors before the function's own commands.
    if !ctx.shared.monitors.is_empty() {
        super::monitor::feed_line(ctx, args);
    }
    let Some((func, flags, name)) = ctx.shared.functions.lookup(args.get(1)) else {
        ctx.error("ERR Function not found");
        return;
    };
    let Some(numkeys) = parse_i64(args.get(2)) else {
        ctx.error("ERR Bad number of keys provided");
        return;
    };
    if numkeys > args.len() as i64 - 3 {
        ctx.error("ERR Number of keys can't be greater than number of args");
        return;
    }
    if numkeys < 0 {
        ctx.error("ERR Number of keys can't be negative");
        return;
    }
    if flags & script_flags::NO_WRITES == 0 && read_only_cmd {
        ctx.error("ERR Can not execute a script with write flag using *_ro command.");
        return;
    }
    if super::scripting::refuse_for_oom(ctx, flags) {
        return;
    }
    let read_only = read_only_cmd || flags & script_flags::NO_WRITES != 0;
    let allow_oom = flags & script_flags::ALLOW_OOM != 0;
    let n = numkeys as usize;
    let keys = args.tail(3).head(n);
    let argv = args.tail(3 + n);
    let Some(mut engine) = ctx.shared.functions.take_engine() else {
        // A function exists, so its engine does.
        ctx.error("ERR Function not found");
        return;
    };
    let libraries = &ctx.shared.functions.libraries;
    let running = RunningFunction {
        name: name.clone(),
        command: args.iter().map(<[u8]>::to_vec).collect(),
        started: std::time::Instant::now(),
        libraries: libraries.len(),
        functions: libraries.function_count(),
    };
    super::scripting::run_script(
        ctx,
        keys,
        read_only,
        allow_oom,
        Some(running),
        |host, out| engine.call_function(func, &name, keys, argv, host, out),
    );
    ctx.shared.functions.put_back(engine);
}

fn function(ctx: &mut Ctx, args: Args) {
    let Some(sub) = subcommand(ctx.out, "function", FUNCTION_SUBCOMMANDS, args) else {
        return;
    };
    match sub {
        "load" => load(ctx, args),
        "delete" => {
            let deleted = match ctx.shared.functions.parts() {
                Ok((engine, libraries)) => libraries.delete(engine, args.get(2)),
                Err(_) => false,
            };
            if deleted {
                ctx.force_propagate();
                ctx.out.ok();
            } else {
                ctx.error("ERR Library not found");
            }
        }
        "flush" => {
            let mode_ok = match args.len() {
                2 => true,
                3 => {
                    args.get(2).eq_ignore_ascii_case(b"sync")
                        || args.get(2).eq_ignore_ascii_case(b"async")
                }
                _ => {
                    syntax_error(ctx, args);
                    return;
                }
            };
            if !mode_ok {
                ctx.error("ERR FUNCTION FLUSH only supports SYNC|ASYNC option");
                return;
            }
            if let Ok((engine, libraries)) = ctx.shared.functions.parts() {
                libraries.clear(engine);
            }
            ctx.force_propagate();
            ctx.out.ok();
        }
        "list" => list(ctx, args),
        "dump" => {
            let mut payload = ctx.shared.functions.libraries.dump();
            rdb::seal_payload(&mut payload);
            ctx.out.bulk(&payload);
        }
        "restore" => restore(ctx, args),
        "stats" => {
            let libraries = &ctx.shared.functions.libraries;
            let (n_libs, n_funcs) = (libraries.len(), libraries.function_count());
            ctx.out.map(2);
            ctx.out.bulk(b"running_script");
            // A function runs to the end inside one command: none is running while
            // another client's command is served (the busy turns answer STATS then).
            ctx.out.null();
            engines_stats(ctx.out, n_libs, n_funcs);
        }
        "kill" => ctx.error("NOTBUSY No scripts in execution right now."),
        _ => reply_help(ctx.out, HELP),
    }
}

/// `FUNCTION LOAD [REPLACE] code`
fn load(ctx: &mut Ctx, args: Args) {
    let mut replace = false;
    let mut pos = 2;
    while pos < args.len() - 1 {
        let opt = args.get(pos);
        pos += 1;
        if opt.eq_ignore_ascii_case(b"replace") {
            replace = true;
            continue;
        }
        ctx.out.error_parts(&[
            b"ERR Unknown option given: ",
            super::c_bytes(opt, usize::MAX),
        ]);
        return;
    }
    let created = ctx
        .shared
        .functions
        .parts()
        .and_then(|(engine, libraries)| {
            libraries.create(engine, args.get(pos), replace, Some(LOAD_TIMEOUT))
        });
    match created {
        Ok(name) => {
            ctx.force_propagate();
            ctx.out.bulk(&name);
        }
        Err(e) => ctx.error(&format!("ERR {e}")),
    }
}

/// `FUNCTION LIST [LIBRARYNAME pattern] [WITHCODE]`
fn list(ctx: &mut Ctx, args: Args) {
    let mut with_code = false;
    let mut pattern: Option<&[u8]> = None;
    let mut i = 2;
    while i < args.len() {
        let a = args.get(i);
        if !with_code && a.eq_ignore_ascii_case(b"withcode") {
            with_code = true;
        } else if pattern.is_none() && a.eq_ignore_ascii_case(b"libraryname") {
            if i >= args.len() - 1 {
                ctx.error("ERR library name argument was not given");
                return;
            }
            i += 1;
            pattern = Some(args.get(i));
        } else {
            ctx.out
                .error_parts(&[b"ERR Unknown argument ", super::c_bytes(a, usize::MAX)]);
            return;
        }
        i += 1;
    }
    let libraries = &ctx.shared.functions.libraries;
    let shown: Vec<_> = libraries
        .iter()
        .filter(|lib| pattern.is_none_or(|p| crate::util::glob_match(p, &lib.name, true)))
        .collect();
    let out = &mut *ctx.out;
    out.array(shown.len());
    for lib in shown {
        out.map(if with_code { 4 } else { 3 });
        out.bulk(b"library_name");
        out.bulk(&lib.name);
        out.bulk(b"engine");
        out.bulk(b"LUA");
        out.bulk(b"functions");
        out.array(lib.functions.len());
        for f in &lib.functions {
            out.map(3);
            out.bulk(b"name");
            out.bulk(&f.name);
            out.bulk(b"description");
            match &f.desc {
                Some(d) => out.bulk(d),
                None => out.null(),
            }
            out.bulk(b"flags");
            let names: Vec<&str> = script_flags::NAMES
                .iter()
                .filter(|(_, bit)| f.flags & bit != 0)
                .map(|(n, _)| *n)
                .collect();
            out.set(names.len());
            for n in names {
                out.simple(n);
            }
        }
        if with_code {
            out.bulk(b"library_code");
            out.bulk(&lib.code);
        }
    }
}

/// `FUNCTION RESTORE payload [FLUSH|APPEND|REPLACE]`
fn restore(ctx: &mut Ctx, args: Args) {
    #[derive(PartialEq)]
    enum Policy {
        Flush,
        Append,
        Replace,
    }
    if args.len() > 4 {
        syntax_error(ctx, args);
        return;
    }
    let mut policy = Policy::Append;
    if args.len() == 4 {
        let p = args.get(3);
        policy = if p.eq_ignore_ascii_case(b"append") {
            Policy::Append
        } else if p.eq_ignore_ascii_case(b"replace") {
            Policy::Replace
        } else if p.eq_ignore_ascii_case(b"flush") {
            Policy::Flush
        } else {
            ctx.error(
                "ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.",
            );
            return;
        };
    }
    if rdb::verify_payload(args.get(2)).is_none() {
        ctx.error("ERR DUMP payload version or checksum are wrong");
        return;
    }
    let (engine, current) = match ctx.shared.functions.parts() {
        Ok(parts) => parts,
        Err(e) => {
            ctx.error(&format!("ERR Lua engine failed to start: {e}"));
            return;
        }
    };
    // Every library is loaded apart first; only a payload that loads entirely is applied.
    let mut restored = Libraries::default();
    let loaded = parse_dump(args.get(2)).and_then(|payloads| {
        payloads
            .iter()
            .try_for_each(|p| restored.create(engine, p, false, None).map(drop))
    });
    let outcome = match loaded {
        Err(e) => Err((e, restored)),
        Ok(()) if policy == Policy::Flush => {
            current.clear(engine);
            current.join(engine, restored, false)
        }
        Ok(()) => current.join(engine, restored, policy == Policy::Replace),
    };
    match outcome {
        Ok(()) => {
            ctx.force_propagate();
            ctx.out.ok();
        }
        Err((e, mut rest)) => {
            rest.clear(engine);
            ctx.error(&format!("ERR {e}"));
        }
    }
}

/// Redis's addReplySubcommandSyntaxError.
fn syntax_error(ctx: &mut Ctx, args: Args) {
    ctx.out.error_parts(&[
        b"ERR unknown subcommand or wrong number of arguments for '",
        super::c_bytes(args.get(1), 128),
        b"'. Try FUNCTION HELP.",
    ]);
}

const HELP: &[&str] = &[
    "FUNCTION <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "LOAD [REPLACE] <FUNCTION CODE>",
    "    Create a new library with the given library name and code.",
    "DELETE <LIBRARY NAME>",
    "    Delete the given library.",
    "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
    "    Return general information on all the libraries:",
    "    * Library name",
    "    * The engine used to run the Library",
    "    * Library description",
    "    * Functions list",
    "    * Library code (if WITHCODE is given)",
    "    It also possible to get only function that matches a pattern using LIBRARYNAME argument.",
    "STATS",
    "    Return information about the current function running:",
    "    * Function name",
    "    * Command used to run the function",
    "    * Duration in MS that the function is running",
    "    If no function is running, return nil",
    "    In addition, returns a list of available engines.",
    "KILL",
    "    Kill the current running function.",
    "FLUSH [ASYNC|SYNC]",
    "    Delete all the libraries.",
    "    When called without the optional mode argument, the behavior is determined by the",
    "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
    "    * ASYNC: Asynchronously flush the libraries.",
    "    * SYNC: Synchronously flush the libraries.",
    "DUMP",
    "    Return a serialized payload representing the current libraries, can be restored using FUNCTION RESTORE command",
    "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
    "    Restore the libraries represented by the given payload, it is possible to give a restore policy to",
    "    control how to handle existing libraries (default APPEND):",
    "    * FLUSH: delete all existing libraries.",
    "    * APPEND: appends the restored libraries to the existing libraries. On collision, abort.",
    "    * REPLACE: appends the restored libraries to the existing libraries, On collision, replace the old",
    "      libraries with the new libraries (notice that even on this option there is a chance of failure",
    "      in case of functions name collision with another library).",
    "HELP",
    "    Prints this help.",
];
