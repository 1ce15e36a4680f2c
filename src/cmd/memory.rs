//! The memory limit (Redis's `evict.c` driver and `processCommand`'s OOM check) and the
//! MEMORY command (`object.c`).
//!
//! Before each command, while `maxmemory` is set and the allocator's figure is over it,
//! keys are evicted under `maxmemory-policy` (victims: `store::evict`) until memory is
//! back under the limit, nothing is left to evict, or the pass has run for
//! `maxmemory-eviction-tenacity`'s time limit (the cron carries on). A command flagged
//! denyoom (a write that may grow memory), or anything but EXEC/DISCARD/QUIT/RESET inside
//! MULTI, is then refused with -OOM if memory could not be freed.

use std::time::Instant;

use super::flags::DENYOOM;
use super::server::ratio;
use super::{Command, Ctx, notify, reply_help, subcommand};
use crate::alloc;
use crate::metrics::stats::bump;
use crate::resp::Args;

/// Redis's OOM error.
pub const OOM: &str = "OOM command not allowed when used memory > 'maxmemory'.";

/// The family's command table.
#[rustfmt::skip]
pub const COMMANDS: &[Command] = &[
    Command { name: "memory", arity: -2, flags: 0, keys: (0, 0, 0), group: "server", handler: memory },
];

/// MEMORY's subcommands and their arities.
pub const MEMORY_SUBCOMMANDS: &[(&str, i32)] = &[
    ("doctor", 2),
    ("malloc-stats", 2),
    ("purge", 2),
    ("stats", 2),
    ("usage", -3),
    ("help", 2),
];

/// Eviction's state between commands.
#[derive(Debug, Default)]
pub struct EvictionState {
    /// Since when used memory has been over the limit (INFO current_eviction_exceeded_time).
    over_since: Option<u64>,
    /// A pass stopped at its time limit with memory still over: the cron goes on.
    pub pending: bool,
    /// Memory could not be freed before the current command (Redis's
    /// `pre_command_oom_state`): scripts refuse denyoom commands then.
    pub pre_command_oom: bool,
}

impl EvictionState {
    /// Milliseconds memory has been over the limit, if it is now.
    pub fn exceeded_ms(&self, now_ticks: u64) -> u64 {
        self.over_since
            .map_or(0, |t| crate::clock::nanos_between(t, now_ticks) / 1_000_000)
    }
}

/// Bytes in use as maxmemory counts them: the allocator's figure.
#[inline]
pub fn used_memory() -> u64 {
    alloc::allocated() as u64
}

/// Evicts keys while used memory is over `maxmemory` (Redis's `performEvictions`).
/// Returns true when memory is over the limit and could not be brought back (no policy,
/// or nothing left to evict): the caller refuses denyoom commands.
pub fn perform_evictions(ctx: &mut Ctx) -> bool {
    let mem = ctx.shared.params.settings.memory;
    if mem.maxmemory == 0 {
        return false;
    }
    if used_memory() <= mem.maxmemory {
        note_back_under(ctx);
        return false;
    }
    if ctx.shared.eviction.over_since.is_none() {
        ctx.shared.eviction.over_since = Some(crate::clock::ticks());
    }
    let started = Instant::now();
    let limit_us = mem.eviction_time_limit_us();
    let mut evicted = 0u64;
    let now = ctx.now;
    while used_memory() > mem.maxmemory {
        let Some((db, key)) = ctx.store.pick_victim(mem.policy, mem.samples, now) else {
            // Nothing (left) to evict: noeviction, or no key qualifies.
            ctx.shared.eviction.pending = false;
            cycle_done(ctx, started);
            return true;
        };
        let del_started = Instant::now();
        evict_key(ctx, db, &key);
        let del_ms = del_started.elapsed().as_millis() as u64;
        super::latency::sample_if_needed(ctx.shared, "eviction-del", del_ms);
        evicted += 1;
        if evicted.is_multiple_of(16) && started.elapsed().as_micros() as u64 > limit_us {
            // Redis's EVICT_RUNNING: not an OOM; the cron goes on.
            ctx.shared.eviction.pending = true;
            cycle_done(ctx, started);
            return false;
        }
    }
    ctx.shared.eviction.pending = false;
    cycle_done(ctx, started);
    note_back_under(ctx);
    false
}

/// The latency monitor's `eviction-cycle` event: how long one eviction pass took.
fn cycle_done(ctx: &mut Ctx, started: Instant) {
    let ms = started.elapsed().as_millis() as u64;
    super::latency::sample_if_needed(ctx.shared, "eviction-cycle", ms);
}

/// Memory is under the limit again: close the over-the-limit period.
fn note_back_under(ctx: &mut Ctx) {
    if let Some(since) = ctx.shared.eviction.over_since.take() {
        let us = crate::clock::nanos_between(since, crate::clock::ticks()) / 1000;
        bump(&ctx.shared.stats.eviction_exceeded_us, us);
    }
}

/// Removes one victim as Redis does: WATCH and tracking see the change, the `evicted`
/// event is published, and the value is freed (lazily with lazyfree-lazy-eviction).
fn evict_key(ctx: &mut Ctx, db: usize, key: &[u8]) {
    let now = ctx.now;
    let Some(entry) = ctx.store.db(db).remove(key, now) else {
        return;
    };
    bump(&ctx.shared.stats.evicted_keys, 1);
    notify::notify_db(ctx, db, notify::EVICTED, "evicted", key);
    let lazy = ctx.shared.params.settings.lazyfree.eviction;
    super::propagate::deleted(ctx.shared, db, key, lazy);
    crate::store::lazyfree::free_if(lazy, entry.value);
}

/// The OOM check of `execute`, after authentication: evicts, then tells whether the
/// command must be refused. `flags` are the command's (with EXEC's queued commands').
pub fn refuse_for_oom(ctx: &mut Ctx, cmd: &Command, flags: u32) -> bool {
    let out_of_memory = perform_evictions(ctx);
    ctx.shared.eviction.pre_command_oom = out_of_memory;
    if !out_of_memory {
        return false;
    }
    // Queueing inside MULTI may take unbounded memory: only ending it is allowed.
    let in_multi =
        ctx.client.multi.is_some() && !matches!(cmd.name, "exec" | "discard" | "quit" | "reset");
    let refuse = flags & DENYOOM != 0 || in_multi;
    if refuse {
        bump(&ctx.shared.stats.oom_rejections, 1);
    }
    refuse
}

/// The cron's part: carries on a pass that stopped at its time limit, and applies a
/// lowered `maxmemory` without waiting for a write.
pub fn cron(ctx: &mut Ctx) {
    let mem = ctx.shared.params.settings.memory;
    if mem.maxmemory != 0 && (ctx.shared.eviction.pending || used_memory() > mem.maxmemory) {
        perform_evictions(ctx);
    }
}

fn memory(ctx: &mut Ctx, args: Args) {
    let Some(sub) = subcommand(ctx.out, "memory", MEMORY_SUBCOMMANDS, args) else {
        return;
    };
    match sub {
        "help" => reply_help(
            ctx.out,
            &[
                "MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "DOCTOR",
                "    Return memory problems reports.",
                "MALLOC-STATS",
                "    Return internal statistics report from the memory allocator.",
                "PURGE",
                "    Attempt to purge dirty pages for reclamation by the allocator.",
                "STATS",
                "    Return information about the memory usage of the server.",
                "USAGE <key> [SAMPLES <count>]",
                "    Return memory in bytes used by <key> and its value. Nested values are",
                "    sampled up to <count> times (default: 5, 0 means sample all).",
                "HELP",
                "    Prints this help.",
            ],
        ),
        "usage" => usage(ctx, args),
        "stats" => stats(ctx),
        "doctor" => {
            let report = doctor_report(ctx);
            ctx.out.verbatim(report.as_bytes());
        }
        // Redis's answer when it is built without jemalloc, as we are (glibc malloc).
        "malloc-stats" => ctx
            .out
            .bulk(b"Stats not supported for the current allocator"),
        _ => {
            // PURGE: give freed pages back to the system.
            alloc::trim();
            ctx.out.ok();
        }
    }
}

/// MEMORY USAGE key [SAMPLES n]: the bytes the key and its value take. Our sizes are
/// exact (every element is counted), so SAMPLES is checked but changes nothing.
fn usage(ctx: &mut Ctx, args: Args) {
    let mut i = 3;
    while i < args.len() {
        if args.get(i).eq_ignore_ascii_case(b"samples") && i + 1 < args.len() {
            match crate::resp::parse_i64(args.get(i + 1)) {
                Some(n) if n >= 0 => {}
                Some(_) => return ctx.error(super::err::SYNTAX),
                None => return ctx.error(super::err::NOT_INTEGER),
            }
            i += 2;
        } else {
            return ctx.error(super::err::SYNTAX);
        }
    }
    let now = ctx.now;
    let Some(e) = ctx.db().peek(args.get(2), now) else {
        ctx.out.null();
        return;
    };
    let bytes = entry_bytes(e);
    ctx.out.int(bytes as i64);
}

/// What a key costs: its entry's chunk, its name and value's heap blocks, and its slot
/// in the table (8-byte pointer and control byte).
pub fn entry_bytes(e: &crate::store::Entry) -> usize {
    let name = e.key().len();
    let name_block = if name > crate::store::keybytes::INLINE {
        alloc::chunk_size(name)
    } else {
        0
    };
    let expiry = if e.expire_at().is_some() {
        alloc::chunk_size(16)
    } else {
        0
    };
    alloc::chunk_size(std::mem::size_of::<crate::store::Entry>())
        + name_block
        + e.value.heap_size()
        + expiry
        + 9
}

/// The figures MEMORY STATS and MEMORY DOCTOR share (Redis's `getMemoryOverheadData`).
struct Overhead {
    peak: u64,
    total: u64,
    startup: u64,
    clients_normal: u64,
    lua: u64,
    functions: u64,
    dbs: Vec<(usize, u64)>,
    overhead_total: u64,
    keys: u64,
    dataset: u64,
    allocator_allocated: u64,
    allocator_active: u64,
    rss: u64,
    clients: u64,
}

fn overhead(ctx: &Ctx) -> Overhead {
    let total = used_memory();
    let peak = ctx.shared.peak_memory.max(total);
    let startup = ctx.shared.startup_memory;
    let lua = ctx
        .shared
        .scripts
        .as_ref()
        .map_or(0, |e| e.memory().0 as u64);
    let functions = ctx.shared.functions.lua_memory() as u64;
    let dbs: Vec<(usize, u64)> = (0..ctx.store.len())
        .filter(|&i| !ctx.store.db_ref(i).is_empty())
        .map(|i| (i, ctx.store.db_ref(i).approx_memory() as u64))
        .collect();
    let tables: u64 = dbs.iter().map(|d| d.1).sum();
    // Client buffers are not added up yet (INFO mem_clients_normal says 0 too).
    let clients_normal = 0;
    let overhead_total = (startup + tables + clients_normal + lua + functions).min(total);
    let keys: u64 = (0..ctx.store.len())
        .map(|i| ctx.store.db_ref(i).len() as u64)
        .sum();
    let (allocator_allocated, allocator_active) = alloc::allocator_stats();
    Overhead {
        peak,
        total,
        startup,
        clients_normal,
        lua,
        functions,
        dbs,
        overhead_total,
        keys,
        dataset: total - overhead_total,
        allocator_allocated,
        allocator_active,
        rss: alloc::rss_bytes(),
        clients: ctx
            .shared
            .stats
            .connected_clients
            .load(std::sync::atomic::Ordering::Relaxed),
    }
}

/// MEMORY STATS: Redis's map of figures, in its order.
fn stats(ctx: &mut Ctx) {
    let o = overhead(ctx);
    let out = &mut *ctx.out;
    out.map(27 + o.dbs.len());
    let int = |out: &mut crate::resp::Reply, name: &str, v: u64| {
        out.bulk(name.as_bytes());
        out.int(v as i64);
    };
    int(out, "peak.allocated", o.peak);
    int(out, "total.allocated", o.total);
    int(out, "startup.allocated", o.startup);
    int(out, "replication.backlog", 0);
    int(out, "clients.slaves", 0);
    int(out, "clients.normal", o.clients_normal);
    int(out, "cluster.links", 0);
    int(out, "aof.buffer", 0);
    int(out, "lua.caches", o.lua);
    int(out, "functions.caches", o.functions);
    for &(i, table) in &o.dbs {
        out.bulk(format!("db.{i}").as_bytes());
        out.map(3);
        int(out, "overhead.hashtable.main", table);
        int(out, "overhead.hashtable.expires", 0);
        int(out, "overhead.hashtable.slot-to-keys", 0);
    }
    int(out, "overhead.total", o.overhead_total);
    int(out, "keys.count", o.keys);
    let net = o.total.saturating_sub(o.startup);
    int(
        out,
        "keys.bytes-per-key",
        net.checked_div(o.keys).unwrap_or(0),
    );
    int(out, "dataset.bytes", o.dataset);
    out.bulk(b"dataset.percentage");
    out.double(ratio(o.dataset * 100, net.max(1)));
    out.bulk(b"peak.percentage");
    out.double(ratio(o.total * 100, o.peak));
    int(out, "allocator.allocated", o.allocator_allocated);
    int(out, "allocator.active", o.allocator_active);
    int(out, "allocator.resident", o.allocator_active);
    out.bulk(b"allocator-fragmentation.ratio");
    out.double(ratio(o.allocator_active, o.allocator_allocated));
    int(
        out,
        "allocator-fragmentation.bytes",
        o.allocator_active.saturating_sub(o.allocator_allocated),
    );
    out.bulk(b"allocator-rss.ratio");
    out.double(1.0);
    int(out, "allocator-rss.bytes", 0);
    out.bulk(b"rss-overhead.ratio");
    out.double(ratio(o.rss, o.allocator_active));
    int(
        out,
        "rss-overhead.bytes",
        o.rss.saturating_sub(o.allocator_active),
    );
    out.bulk(b"fragmentation");
    out.double(ratio(o.rss, o.total));
    int(out, "fragmentation.bytes", o.rss.saturating_sub(o.total));
}

/// MEMORY DOCTOR: Redis's checks (peak, fragmentation, client buffers, scripts) and its
/// report's wording.
fn doctor_report(ctx: &Ctx) -> String {
    let o = overhead(ctx);
    if o.total < 5 << 20 {
        return "Hi Sam, this instance is empty or is using very little memory, my issues \
                detector can't be used in these conditions. Please, leave for your mission \
                on Earth and fill it with some data. The new Sam and I will be back to our \
                programming as soon as I finished rebooting.\n"
            .into();
    }
    let mut issues = Vec::new();
    if ratio(o.peak, o.total) > 1.5 {
        issues.push(
            " * Peak memory: In the past this instance used more than 150% the memory that is \
             currently using. The allocator is normally not able to release memory after a \
             peak, so you can expect to see a big fragmentation ratio, however this is \
             actually harmless and is only due to the memory peak, and if the Redis instance \
             Resident Set Size (RSS) is currently bigger than expected, the memory will be \
             used as soon as you fill the Redis instance with more data. If the memory peak \
             was only occasional and you want to try to reclaim memory, please try the \
             MEMORY PURGE command, otherwise the only other option is to shutdown and \
             restart the instance.\n\n"
                .to_string(),
        );
    }
    if ratio(o.rss, o.total) > 1.4 && o.rss.saturating_sub(o.total) > 10 << 20 {
        issues.push(format!(
            " * High total RSS: This instance has a memory fragmentation and RSS overhead \
             greater than 1.4 (this means that the Resident Set Size of the Redis process is \
             much larger than the sum of the logical allocations Redis performed). This \
             problem is usually due either to a large peak memory (check if there is a peak \
             memory entry above in the report) or may result from a workload that causes the \
             allocator to fragment memory a lot. If the problem is a large peak memory, then \
             there is no issue. Otherwise, make sure you are using the Jemalloc allocator and \
             not the default libc malloc. Note: The currently used allocator is \"{}\".\n\n",
            "libc"
        ));
    }
    if o.clients > 0 && o.clients_normal / o.clients > 200 * 1024 {
        issues.push(
            " * Big client buffers: The clients output buffers in this instance are greater \
             than 200K per client (on average). This may result from different causes, like \
             Pub/Sub clients subscribed to channels bot not receiving data fast enough, so \
             that data piles on the Redis instance output buffer, or clients sending commands \
             with large replies or very large sequences of commands in the same pipeline. \
             Please use the CLIENT LIST command in order to investigate the issue if it \
             causes problems in your instance, or to understand better why certain clients \
             are using a big amount of memory.\n\n"
                .to_string(),
        );
    }
    let cached = ctx.shared.scripts.as_ref().map_or(0, |e| e.len());
    if cached > 1000 {
        issues.push(
            " * Many scripts: There seem to be many cached scripts in this instance (more \
             than 1000). This may be because scripts are generated and `EVAL`ed, instead of \
             being parameterized (with KEYS and ARGV), `SCRIPT LOAD`ed and `EVALSHA`ed. \
             Unless `SCRIPT FLUSH` is called periodically, the scripts' caches may end up \
             consuming most of your memory.\n\n"
                .to_string(),
        );
    }
    if issues.is_empty() {
        return "Hi Sam, I can't find any memory issue in your instance. I can only account \
                for what occurs on this base.\n"
            .into();
    }
    let mut s =
        String::from("Sam, I detected a few issues in this Redis instance memory implants:\n\n");
    for i in issues {
        s.push_str(&i);
    }
    s.push_str("I'm here to keep you safe, Sam. I want to help you.\n");
    s
}
