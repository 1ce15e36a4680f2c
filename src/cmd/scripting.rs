//! EVAL, EVALSHA, EVAL_RO, EVALSHA_RO and SCRIPT (Redis's eval.c, script.c). The Lua
//! engine is in [`crate::script`]; this file is the server's side of it: the commands, and
//! the [`Host`] through which a script's `redis.call` runs commands with Redis's checks.

use super::flags::{LOADING, MAY_REPLICATE, NOSCRIPT, STALE, WRITE};
use super::{Client, Command, Ctx, Shared, err, execute, reply_help, subcommand, table};
use crate::resp::{Args, Reply, parse_i64};
use crate::script::{Engine, Host, flags as script_flags};
use crate::store::Store;

#[rustfmt::skip]
pub static COMMANDS: &[Command] = &[
    Command { name: "eval", arity: -3, flags: NOSCRIPT | STALE | MAY_REPLICATE, keys: (0, 0, 0), group: "scripting", handler: eval },
    Command { name: "evalsha", arity: -3, flags: NOSCRIPT | STALE | MAY_REPLICATE, keys: (0, 0, 0), group: "scripting", handler: evalsha },
    Command { name: "eval_ro", arity: -3, flags: NOSCRIPT | STALE | super::flags::READONLY, keys: (0, 0, 0), group: "scripting", handler: eval_ro },
    Command { name: "evalsha_ro", arity: -3, flags: NOSCRIPT | STALE | super::flags::READONLY, keys: (0, 0, 0), group: "scripting", handler: evalsha_ro },
    Command { name: "script", arity: -2, flags: NOSCRIPT | LOADING | STALE, keys: (0, 0, 0), group: "scripting", handler: script },
];

/// SCRIPT's subcommands and arities (`script|load` ...), as Redis's table has them.
pub const SCRIPT_SUBCOMMANDS: &[(&str, i32)] = &[
    ("exists", -3),
    ("flush", -2),
    ("kill", 2),
    ("load", 3),
    ("help", 2),
];

fn eval(ctx: &mut Ctx, args: Args) {
    eval_generic(ctx, args, false, false);
}

fn evalsha(ctx: &mut Ctx, args: Args) {
    eval_generic(ctx, args, true, false);
}

fn eval_ro(ctx: &mut Ctx, args: Args) {
    eval_generic(ctx, args, false, true);
}

fn evalsha_ro(ctx: &mut Ctx, args: Args) {
    eval_generic(ctx, args, true, true);
}

/// EVAL's and EVALSHA's flags as dispatch sees them (Redis's evalGetCommandFlags): a
/// script with a shebang declares whether it writes, replacing the command's WRITE and
/// MAY_REPLICATE; one without keeps the command's.
pub fn effective_flags(shared: &Shared, cmd: &Command, args: Args) -> u32 {
    if cmd.name.starts_with("fcall") {
        return match shared.functions.lookup(args.get(1)) {
            Some((_, f, _)) => flags_of_script(cmd.flags, f),
            None => cmd.flags,
        };
    }
    let by_sha = cmd.name == "evalsha" || cmd.name == "evalsha_ro";
    let script = args.get(1);
    let cached = if by_sha {
        shared.scripts.as_ref().and_then(|e| e.flags(script))
    } else {
        let sha = crate::script::sha1::sha1_hex(script);
        shared
            .scripts
            .as_ref()
            .and_then(|e| e.flags(sha.as_bytes()))
    };
    let script_flags = match cached {
        Some(f) => f,
        None if by_sha => return cmd.flags,
        None => match crate::script::shebang_flags(script) {
            Ok((f, _)) => f,
            Err(_) => return cmd.flags,
        },
    };
    if script_flags & script_flags::EVAL_COMPAT != 0 {
        return cmd.flags;
    }
    flags_of_script(cmd.flags, script_flags)
}

/// A command's flags once its script declared its own (Redis's scriptFlagsToCmdFlags):
/// it writes unless `no-writes`, and it is not MAY_REPLICATE since that is then known.
fn flags_of_script(cmd_flags: u32, script_flags: u32) -> u32 {
    let mut f = cmd_flags & !(WRITE | MAY_REPLICATE | super::flags::DENYOOM | STALE);
    if script_flags & (script_flags::ALLOW_OOM | script_flags::NO_WRITES) == 0 {
        f |= super::flags::DENYOOM;
    }
    if script_flags & script_flags::NO_WRITES == 0 {
        f |= WRITE;
    }
    if script_flags & script_flags::ALLOW_STALE != 0 {
        f |= STALE;
    }
    f
}

/// A script with a shebang but neither `allow-oom` nor `no-writes` may not start while
/// memory is over maxmemory (Redis's scriptPrepareForRun). True when refused.
pub(super) fn refuse_for_oom(ctx: &mut Ctx, flags: u32) -> bool {
    if ctx.shared.eviction.pre_command_oom
        && ctx.shared.params.settings.memory.maxmemory != 0
        && flags & (script_flags::ALLOW_OOM | script_flags::NO_WRITES) == 0
    {
        ctx.error(
            "OOM allow-oom flag is not set on the script, can not run it when used memory > 'maxmemory'",
        );
        return true;
    }
    false
}

/// The engine, created by the first script.
fn engine(shared: &mut Shared) -> Result<&mut Engine, String> {
    if shared.scripts.is_none() {
        shared.scripts = Some(Box::new(Engine::new()?));
    }
    Ok(shared.scripts.as_mut().expect("just created"))
}

/// Redis's evalGenericCommand and scriptPrepareForRun.
fn eval_generic(ctx: &mut Ctx, args: Args, by_sha: bool, read_only_cmd: bool) {
    // Shown to monitors before the script's own commands.
    if !ctx.shared.monitors.is_empty() {
        super::monitor::feed_line(ctx, args);
    }
    let Some(numkeys) = parse_i64(args.get(2)) else {
        ctx.error(err::NOT_INTEGER);
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
    let engine = match engine(ctx.shared) {
        Ok(e) => e,
        Err(e) => {
            ctx.error(&format!("ERR Lua engine failed to start: {e}"));
            return;
        }
    };
    let sha = if by_sha {
        let sha = args.get(1);
        match crate::script::sha_key(sha).filter(|k| engine.exists(k)) {
            Some(k) => k,
            None => {
                ctx.error("NOSCRIPT No matching script. Please use EVAL.");
                return;
            }
        }
    } else {
        match engine.load(args.get(1)) {
            Ok(k) => k,
            Err(e) => {
                ctx.error(&e);
                return;
            }
        }
    };
    let flags = engine.flags(&sha).unwrap_or(script_flags::EVAL_COMPAT);
    let compat = flags & script_flags::EVAL_COMPAT != 0;
    if !compat && flags & script_flags::NO_WRITES == 0 && read_only_cmd {
        ctx.error("ERR Can not execute a script with write flag using *_ro command.");
        return;
    }
    if !compat && refuse_for_oom(ctx, flags) {
        return;
    }
    let read_only = read_only_cmd || (!compat && flags & script_flags::NO_WRITES != 0);
    let allow_oom = !compat && flags & script_flags::ALLOW_OOM != 0;
    let n = numkeys as usize;
    let keys = args.tail(3).head(n);
    let argv = args.tail(3 + n);
    let mut engine = ctx.shared.scripts.take().expect("engine created above");
    run_script(ctx, keys, read_only, allow_oom, None, |host, out| {
        engine.run(&sha, keys, argv, host, out)
    });
    crate::metrics::stats::set(&ctx.shared.stats.scripts_cached, engine.len() as u64);
    ctx.shared.scripts = Some(engine);
}

/// Runs a script or a function (`run`, given the host and the caller's reply buffer) as
/// a client of its own, with the caller's id and database (Redis's scriptPrepareForRun
/// and scriptResetRun). `function` names the FCALL being run, for FUNCTION STATS and the
/// busy replies; None for EVAL.
pub(super) fn run_script(
    ctx: &mut Ctx,
    keys: Args,
    read_only: bool,
    allow_oom: bool,
    function: Option<crate::net::busy::RunningFunction>,
    run: impl FnOnce(&mut ScriptHost, &mut Reply) -> bool,
) {
    let mut client = Client::new(ctx.client.id, true, ctx.now);
    client.db = ctx.client.db;
    client.token = ctx.client.token;
    // Blocking commands act as their non-blocking forms, pauses do not apply, and EXEC
    // runs nothing between the script's commands (Redis's CLIENT_DENY_BLOCKING).
    let was_in_exec = std::mem::replace(&mut ctx.shared.in_exec, true);
    let was_in_script = std::mem::replace(&mut ctx.shared.in_script, true);
    if ctx.shared.tracking.active() {
        ctx.shared.script_keys = Some(keys.iter().map(Box::from).collect());
    }
    // The script's time is its command's: its commands' own latencies start where it
    // started.
    let start = ctx.shared.last_tick;
    let last = ctx.client.last_command;
    {
        let mut host = ScriptHost {
            store: ctx.store,
            shared: ctx.shared,
            client,
            out: Reply::new(),
            read_only,
            allow_oom,
            now: ctx.now,
            started: std::time::Instant::now(),
            busy: crate::net::busy::Script {
                function,
                ..Default::default()
            },
        };
        let started = crate::clock::ticks();
        let counted = run(&mut host, ctx.out);
        host.shared.error_counted = counted;
        let stats = &host.shared.stats;
        let ns = crate::clock::nanos_between(started, crate::clock::ticks());
        stats.script_time.record_n(ns, 1);
        crate::metrics::stats::bump(&stats.scripts_run, 1);
    }
    ctx.shared.in_exec = was_in_exec;
    ctx.shared.in_script = was_in_script;
    ctx.shared.script_keys = None;
    ctx.shared.last_tick = start;
    ctx.client.last_command = last;
}

/// The server as a script sees it: its commands run through dispatch as a client of their
/// own (the caller's id and database, RESP2 until `redis.setresp(3)`), after the checks
/// Redis's scriptCall makes.
pub(super) struct ScriptHost<'a> {
    store: &'a mut Store,
    shared: &'a mut Shared,
    client: Client,
    out: Reply,
    read_only: bool,
    /// The script declared `allow-oom`: its writes run even over maxmemory.
    allow_oom: bool,
    now: u64,
    /// When the script started (busy-reply-threshold).
    started: std::time::Instant,
    /// What the busy turns need to know and found (a write done, SCRIPT KILL asked).
    busy: crate::net::busy::Script,
}

impl Host for ScriptHost<'_> {
    fn call(&mut self, argv: &[Vec<u8>]) -> Result<&[u8], String> {
        let tbl = table();
        let Some(id) = tbl.lookup(&argv[0]) else {
            self.shared.stats.errors.record(b"ERR");
            return Err("Unknown Redis command called from script".into());
        };
        let cmd = tbl.get(id);
        if !super::arity_ok(cmd.arity, argv.len()) {
            self.rejected(id);
            return Err("Wrong number of args calling Redis command from script".into());
        }
        if not_allowed_from_scripts(cmd.name, argv.get(1).map_or(&[][..], |a| &a[..])) {
            self.rejected(id);
            return Err("This Redis command is not allowed from script".into());
        }
        if self.read_only && cmd.flags & (WRITE | MAY_REPLICATE) != 0 {
            self.rejected(id);
            return Err("Write commands are not allowed from read-only scripts.".into());
        }
        // Over maxmemory when the script started, a command that may grow memory is
        // refused unless the script already wrote: it cannot stop halfway (Redis's
        // scriptVerifyOOM).
        if !self.allow_oom
            && !self.busy.wrote
            && cmd.flags & super::flags::DENYOOM != 0
            && self.shared.eviction.pre_command_oom
            && self.shared.params.settings.memory.maxmemory != 0
        {
            self.shared.stats.errors.record(b"OOM");
            self.shared.stats.commands[id].reject();
            return Err(format!("-{}", super::memory::OOM));
        }
        // A script that has not written yet may still fail cleanly: its first write is
        // refused after a failed save, or while min-replicas-to-write asks for replicas
        // (Redis's scriptVerifyWriteCommandAllow).
        if cmd.flags & WRITE != 0
            && !self.busy.wrote
            && let Some((text, _)) = super::write_denied(self.shared)
        {
            let reply = format!("-{text}");
            self.shared
                .stats
                .errors
                .record(super::error_code(reply.as_bytes()));
            self.shared.stats.commands[id].reject();
            return Err(reply);
        }
        if cmd.flags & WRITE != 0 {
            // From now on SCRIPT KILL cannot stop it (Redis's SCRIPT_WRITE_DIRTY).
            self.busy.wrote = true;
        }
        let mut data = Vec::with_capacity(argv.iter().map(Vec::len).sum());
        let mut spans = Vec::with_capacity(argv.len());
        for a in argv {
            spans.push((data.len(), a.len()));
            data.extend_from_slice(a);
        }
        self.out.truncate(0);
        let mut ctx = Ctx {
            store: self.store,
            client: &mut self.client,
            out: &mut self.out,
            shared: self.shared,
            now: self.now,
        };
        execute(&mut ctx, Args::new(&data, &spans));
        // Handlers that need the event loop (CLIENT LIST...) are not allowed from scripts.
        self.shared.request = None;
        Ok(self.out.bytes())
    }

    fn set_resp3(&mut self, on: bool) {
        self.out.set_resp3(on);
    }

    fn resp3(&self) -> bool {
        self.out.is_resp3()
    }

    fn command_exists(&self, argv: &[Vec<u8>]) -> bool {
        table().lookup(&argv[0]).is_some()
    }

    fn verbosity(&self) -> i32 {
        self.shared.params.settings.loglevel as i32
    }

    fn interrupt(&mut self) -> bool {
        let threshold = self.shared.params.settings.busy_reply_threshold_ms;
        let elapsed = self.started.elapsed();
        if threshold == 0 || elapsed.as_millis() < u128::from(threshold) {
            return false;
        }
        if !self.busy.announced {
            self.busy.announced = true;
            log::warn!(
                "Slow script detected: still in execution after {} milliseconds. You can try killing the script using the SCRIPT KILL command.",
                elapsed.as_millis()
            );
        }
        crate::net::busy::turn(self.shared, self.store, &mut self.busy);
        self.busy.kill
    }
}

impl ScriptHost<'_> {
    /// A command refused before running: counted as a rejected call with an ERR error.
    fn rejected(&mut self, id: usize) {
        self.shared.stats.errors.record(b"ERR");
        self.shared.stats.commands[id].reject();
    }
}

/// Commands Redis refuses in scripts (CMD_NOSCRIPT): those that block, wait, change the
/// connection or administer the server, every subcommand of CLIENT, CONFIG, SCRIPT,
/// FUNCTION, ACL and LATENCY, MODULE's but HELP, and CLUSTER RESET.
pub fn not_allowed_from_scripts(name: &str, sub: &[u8]) -> bool {
    match name {
        "cluster" => return sub.eq_ignore_ascii_case(b"reset"),
        "module" => return !sub.eq_ignore_ascii_case(b"help"),
        _ => {}
    }
    matches!(
        name,
        "client"
            | "config"
            | "script"
            | "function"
            | "acl"
            | "latency"
            | "auth"
            | "hello"
            | "quit"
            | "reset"
            | "wait"
            | "blmove"
            | "blpop"
            | "brpop"
            | "brpoplpush"
            | "bzpopmax"
            | "bzpopmin"
            | "psubscribe"
            | "punsubscribe"
            | "ssubscribe"
            | "subscribe"
            | "sunsubscribe"
            | "unsubscribe"
            | "eval"
            | "evalsha"
            | "eval_ro"
            | "evalsha_ro"
            | "fcall"
            | "fcall_ro"
            | "bgrewriteaof"
            | "bgsave"
            | "debug"
            | "failover"
            | "monitor"
            | "psync"
            | "replconf"
            | "replicaof"
            | "role"
            | "save"
            | "shutdown"
            | "slaveof"
            | "sync"
            | "discard"
            | "exec"
            | "multi"
            | "unwatch"
            | "watch"
    )
}

fn script(ctx: &mut Ctx, args: Args) {
    let Some(sub) = subcommand(ctx.out, "script", SCRIPT_SUBCOMMANDS, args) else {
        return;
    };
    match sub {
        "load" => {
            let loaded = match engine(ctx.shared) {
                Ok(e) => e.load(args.get(2)),
                Err(e) => Err(format!("ERR Lua engine failed to start: {e}")),
            };
            let cached = ctx.shared.scripts.as_ref().map_or(0, |e| e.len());
            crate::metrics::stats::set(&ctx.shared.stats.scripts_cached, cached as u64);
            match loaded {
                Ok(sha) => ctx.out.bulk(&sha),
                Err(e) => ctx.error(&e),
            }
        }
        "exists" => {
            let shas: Vec<&[u8]> = args.iter().skip(2).collect();
            ctx.out.array(shas.len());
            for sha in shas {
                let known = ctx.shared.scripts.as_ref().is_some_and(|e| e.exists(sha));
                ctx.out.int(i64::from(known));
            }
        }
        "flush" => {
            let mode_ok = match args.len() {
                2 => true,
                3 => {
                    args.get(2).eq_ignore_ascii_case(b"sync")
                        || args.get(2).eq_ignore_ascii_case(b"async")
                }
                _ => false,
            };
            if !mode_ok {
                ctx.error("ERR SCRIPT FLUSH only support SYNC|ASYNC option");
                return;
            }
            // A new Lua state: every script and everything they left in Lua goes.
            ctx.shared.scripts = None;
            crate::metrics::stats::set(&ctx.shared.stats.scripts_cached, 0);
            ctx.out.ok();
        }
        "kill" => {
            // Scripts run to completion inside one command: none is running while another
            // client's command is served.
            ctx.error("NOTBUSY No scripts in execution right now.");
        }
        _ => reply_help(
            ctx.out,
            &[
                "SCRIPT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "EXISTS <sha1> [<sha1> ...]",
                "    Return information about the existence of the scripts in the script cache.",
                "FLUSH [ASYNC|SYNC]",
                "    Flush the Lua scripts cache. Very dangerous on replicas.",
                "    When called without the optional mode argument, the behavior is determined by the",
                "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
                "    * ASYNC: Asynchronously flush the scripts cache.",
                "    * SYNC: Synchronously flush the scripts cache.",
                "KILL",
                "    Kill the currently executing Lua script.",
                "LOAD <script>",
                "    Load a script into the scripts cache without executing it.",
                "HELP",
                "    Prints this help.",
            ],
        ),
    }
}
