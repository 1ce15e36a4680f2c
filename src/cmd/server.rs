//! Server commands: INFO, COMMAND, TIME, ROLE, SHUTDOWN.

use std::fmt::Write as _;

use super::flags::{self, ADMIN, FAST, LOADING, NO_MULTI, NOSCRIPT, STALE};
use super::{Command, Ctx, Request, command_specs, err, reply_help, subcommand, table};
use crate::alloc::Rusage;
use crate::metrics::stats::get;
use crate::resp::{Args, Reply};
use crate::util::glob_match;

/// The Redis version we report; clients pick features by it.
pub const REDIS_VERSION: &str = "7.2.0";

/// The server family's command table.
#[rustfmt::skip]
pub const COMMANDS: &[Command] = &[
    Command { name: "info", arity: -1, flags: LOADING | STALE, keys: (0, 0, 0), group: "server", handler: info },
    Command { name: "command", arity: -1, flags: LOADING | STALE, keys: (0, 0, 0), group: "server", handler: command },
    Command { name: "time", arity: 1, flags: LOADING | STALE | FAST, keys: (0, 0, 0), group: "server", handler: time },
    Command { name: "role", arity: 1, flags: NOSCRIPT | LOADING | STALE | FAST, keys: (0, 0, 0), group: "server", handler: role },
    Command { name: "shutdown", arity: -1, flags: ADMIN | NOSCRIPT | LOADING | STALE | NO_MULTI, keys: (0, 0, 0), group: "server", handler: shutdown },
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
    let (mut save, mut nosave, mut force, mut abort, mut other) =
        (false, false, false, false, false);
    for opt in args.iter().skip(1) {
        match opt.to_ascii_lowercase().as_slice() {
            b"nosave" => nosave = true,
            b"save" => save = true,
            b"now" => other = true,
            b"force" => force = true,
            b"abort" => abort = true,
            _ => {
                ctx.error(err::SYNTAX);
                return;
            }
        }
    }
    if (abort && (save || nosave || force || other)) || (save && nosave) {
        ctx.error(err::SYNTAX);
        return;
    }
    if abort {
        // There are no replicas to wait for, so a shutdown never stays in progress.
        ctx.error("ERR No shutdown in progress.");
        return;
    }
    // While loading, nothing is saved: the file would lose what is not loaded yet
    // (Redis's shutdownCommand).
    if ctx.shared.loading.is_some() {
        save = false;
        nosave = true;
    }
    // A background save in progress is abandoned (Redis kills its child).
    if let Some(snapshot) = ctx.shared.persist.bgsave.take() {
        let _ = snapshot.abort(ctx.store);
    }
    if !super::aof::prepare_shutdown(ctx.store, ctx.shared, force) {
        log::warn!("Errors trying to shut down the server. Check the logs for more information.");
        ctx.error("ERR Errors trying to SHUTDOWN. Check logs.");
        return;
    }
    // Redis saves a final snapshot when asked to, or when save points are configured and
    // NOSAVE is not given; if that fails it stays up, unless FORCE.
    if save || (!ctx.shared.params.settings.rdb.save_points.is_empty() && !nosave) {
        log::info!("Saving the final RDB snapshot before exiting.");
        if super::persistence::save_now(ctx.store, ctx.shared, ctx.now).is_err() {
            if !force {
                log::warn!("Error trying to save the DB, can't exit.");
                log::warn!(
                    "Errors trying to shut down the server. Check the logs for more information."
                );
                ctx.error("ERR Errors trying to SHUTDOWN. Check logs.");
                return;
            }
            log::warn!("Error trying to save the DB. Exit anyway.");
        }
    }
    // No reply: like Redis, the server closes every connection as it exits.
    ctx.request(Request::Shutdown);
}

/// Human-readable byte count as Redis prints it (`1.50M`, Redis's `bytesToHuman`).
fn human_bytes(n: u64) -> String {
    let units = [
        (1u64 << 60, "E"),
        (1 << 50, "P"),
        (1 << 40, "T"),
        (1 << 30, "G"),
        (1 << 20, "M"),
        (1 << 10, "K"),
    ];
    for (size, unit) in units {
        if n >= size {
            return format!("{:.2}{unit}", n as f64 / size as f64);
        }
    }
    format!("{n}B")
}

/// `a / b` for INFO's ratios, 0 when `b` is 0 (where Redis would print inf or nan).
pub(super) fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

/// `a - b` as a signed figure (Redis's `%zd` byte differences).
fn diff(a: u64, b: u64) -> i128 {
    i128::from(a) - i128::from(b)
}

/// The sections INFO prints without arguments (and for `default`), as Redis 7.0.
const DEFAULT_SECTIONS: [&str; 11] = [
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "module_list",
    "errorstats",
    "cluster",
    "keyspace",
];

/// A percentile as Redis labels it in latencystats: `%f` without its trailing zeros
/// (`50`, `99.9`).
fn percentile_label(p: f64) -> String {
    let text = format!("{p:.6}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Which sections an INFO request asks for (Redis's `genInfoSectionDict`): the default
/// ones without arguments or for `default`; every one for `all` and `everything` (the same
/// here: `everything` adds only modules' own sections); otherwise those named, in any
/// case. An unknown name selects nothing.
struct Sections {
    all: bool,
    names: Vec<Vec<u8>>,
}

impl Sections {
    /// `args`: the arguments after INFO, lower-cased.
    fn parse(args: &[Vec<u8>]) -> Sections {
        let defaults = || DEFAULT_SECTIONS.iter().map(|n| n.as_bytes().to_vec());
        let mut s = Sections {
            all: false,
            names: Vec::new(),
        };
        if args.is_empty() {
            s.names.extend(defaults());
        }
        for a in args {
            match a.as_slice() {
                b"default" => s.names.extend(defaults()),
                b"all" | b"everything" => s.all = true,
                _ => s.names.push(a.clone()),
            }
        }
        s
    }

    fn wants(&self, name: &str) -> bool {
        self.all || self.names.iter().any(|n| n == name.as_bytes())
    }
}

/// Appends INFO lines.
struct Text(String);

impl Text {
    /// A section header, after a blank line unless it is the first.
    fn section(&mut self, title: &str) {
        if !self.0.is_empty() {
            self.0.push_str("\r\n");
        }
        let _ = write!(self.0, "# {title}\r\n");
    }

    /// `name:value`
    fn field(&mut self, name: &str, value: impl std::fmt::Display) {
        let _ = write!(self.0, "{name}:{value}\r\n");
    }

    /// Several fields Redis reports with a constant value here, because the feature
    /// behind them does not exist (the value is Redis's when the feature is idle).
    fn fixed(&mut self, fields: &[(&str, &str)]) {
        for (name, value) in fields {
            self.field(name, value);
        }
    }
}

/// A name as INFO can carry it: Redis's `getSafeInfoString` turns `#`, `:`, CR and LF
/// into `_`.
fn info_safe(name: &[u8]) -> String {
    String::from_utf8_lossy(name)
        .chars()
        .map(|c| {
            if matches!(c, '#' | ':' | '\r' | '\n') {
                '_'
            } else {
                c
            }
        })
        .collect()
}

/// `sysname release machine` from uname(2), as Redis's `os` field (read once).
pub(crate) fn os_name() -> &'static str {
    static OS: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    OS.get_or_init(|| {
        let mut u = std::mem::MaybeUninit::<libc::utsname>::zeroed();
        // SAFETY: `u` points to writable memory of the right type; uname fills it and
        // returns 0, or -1 without touching it (it was zeroed, so it is readable anyway).
        let rc = unsafe { libc::uname(u.as_mut_ptr()) };
        if rc != 0 {
            return format!("{} {}", std::env::consts::OS, std::env::consts::ARCH);
        }
        // SAFETY: zeroed, then filled by uname: an initialised struct.
        let u = unsafe { u.assume_init() };
        let field = |f: &[libc::c_char]| {
            let bytes: Vec<u8> = f
                .iter()
                .take_while(|&&c| c != 0)
                .map(|&c| c as u8)
                .collect();
            String::from_utf8_lossy(&bytes).into_owned()
        };
        format!(
            "{} {} {}",
            field(&u.sysname),
            field(&u.release),
            field(&u.machine)
        )
    })
}

/// CPU time as Redis prints it (`%ld.%06ld`).
fn cpu((secs, micros): (i64, i64)) -> String {
    format!("{secs}.{micros:06}")
}

/// The INFO text for the requested sections (Redis's `genRedisInfoString`): every section
/// and field of Redis 7.0, in its order, then a few of our own (`keyval_*`) at the end of
/// their section.
///
/// Figures we measure are real: clients, memory (from the counting allocator, the C
/// library's malloc and /proc), keyspace hits and misses, expiries, network bytes,
/// commands, errors and their latencies, CPU. Fields of features we do not have
/// (persistence, replication, scripting, pub/sub, cluster, eviction, defragmentation,
/// tracking, I/O threads) have the value Redis shows while the feature is idle or off.
/// A few figures Redis measures and we do not yet are 0: client_recent_max_input_buffer,
/// client_recent_max_output_buffer, mem_clients_normal, rdb_changes_since_last_save,
/// instantaneous_input_kbps, instantaneous_output_kbps, total_reads_processed,
/// total_writes_processed, avg_ttl.
pub fn info_text(ctx: &Ctx, args: &[Vec<u8>]) -> String {
    let want = Sections::parse(args);
    let mut t = Text(String::with_capacity(8192));
    if want.wants("server") {
        server_section(ctx, &mut t);
    }
    if want.wants("clients") {
        clients_section(ctx, &mut t);
    }
    if want.wants("memory") {
        memory_section(ctx, &mut t);
    }
    if want.wants("persistence") {
        persistence_section(ctx, &mut t);
    }
    if want.wants("stats") {
        stats_section(ctx, &mut t);
    }
    if want.wants("replication") {
        replication_section(ctx, &mut t);
    }
    if want.wants("cpu") {
        t.section("CPU");
        let (user, sys) = crate::alloc::cpu_times(Rusage::Process);
        let (child_user, child_sys) = crate::alloc::cpu_times(Rusage::Children);
        // INFO runs on the event-loop thread, the main thread in Redis's sense.
        let (main_user, main_sys) = crate::alloc::cpu_times(Rusage::Thread);
        t.field("used_cpu_sys", cpu(sys));
        t.field("used_cpu_user", cpu(user));
        t.field("used_cpu_sys_children", cpu(child_sys));
        t.field("used_cpu_user_children", cpu(child_user));
        t.field("used_cpu_sys_main_thread", cpu(main_sys));
        t.field("used_cpu_user_main_thread", cpu(main_user));
    }
    if want.wants("module_list") || want.wants("modules") {
        t.section("Modules");
    }
    if want.wants("commandstats") {
        commandstats_section(ctx, &mut t);
    }
    if want.wants("errorstats") {
        t.section("Errorstats");
        for (code, count) in ctx.shared.stats.error_counts() {
            let _ = write!(t.0, "errorstat_{}:count={count}\r\n", info_safe(&code));
        }
    }
    if want.wants("latencystats") {
        latencystats_section(ctx, &mut t);
    }
    if want.wants("cluster") {
        t.section("Cluster");
        t.field("cluster_enabled", 0);
    }
    if want.wants("keyspace") {
        t.section("Keyspace");
        for (i, db) in ctx.store.dbs().iter().enumerate() {
            if !db.is_empty() {
                let _ = write!(
                    t.0,
                    "db{i}:keys={},expires={},avg_ttl=0\r\n",
                    db.len(),
                    db.expires()
                );
            }
        }
    }
    t.0
}

fn server_section(ctx: &Ctx, t: &mut Text) {
    let shared = &*ctx.shared;
    let uptime = shared.started.elapsed().as_secs();
    t.section("Server");
    t.field("redis_version", REDIS_VERSION);
    t.fixed(&[
        ("redis_git_sha1", "00000000"),
        ("redis_git_dirty", "0"),
        ("redis_build_id", "0"),
        ("redis_mode", "standalone"),
    ]);
    t.field("os", os_name());
    t.field("arch_bits", usize::BITS);
    t.field("monotonic_clock", crate::clock::description());
    t.fixed(&[
        ("multiplexing_api", "epoll"),
        ("atomicvar_api", "c11-builtin"),
        ("gcc_version", "0.0.0"),
    ]);
    t.field("process_id", std::process::id());
    t.field("process_supervised", "no");
    t.field("run_id", &shared.run_id);
    t.field("tcp_port", shared.params.settings.port);
    let now_us = crate::util::now_us();
    t.field("server_time_usec", now_us);
    t.field("uptime_in_seconds", uptime);
    t.field("uptime_in_days", uptime / 86_400);
    t.fixed(&[("hz", "10"), ("configured_hz", "10")]);
    // Redis's LRU clock: seconds, in 24 bits.
    t.field("lru_clock", (now_us / 1_000_000) & ((1 << 24) - 1));
    t.field(
        "executable",
        std::env::current_exe()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
    );
    let config_file = ctx.shared.params.config_file.as_ref();
    t.field(
        "config_file",
        config_file
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
    );
    t.fixed(&[("io_threads_active", "0")]);
    t.field("keyval_version", env!("CARGO_PKG_VERSION"));
}

fn clients_section(ctx: &Ctx, t: &mut Text) {
    t.section("Clients");
    t.field(
        "connected_clients",
        get(&ctx.shared.stats.connected_clients),
    );
    t.field("cluster_connections", 0);
    t.field("maxclients", ctx.shared.params.settings.maxclients);
    t.fixed(&[
        ("client_recent_max_input_buffer", "0"),
        ("client_recent_max_output_buffer", "0"),
    ]);
    // Clients held by CLIENT PAUSE count as blocked, as in Redis.
    t.field(
        "blocked_clients",
        ctx.store.blocked_clients() + ctx.shared.postponed.len(),
    );
    t.field("tracking_clients", ctx.shared.tracking.clients());
    t.fixed(&[("clients_in_timeout_table", "0")]);
}

fn memory_section(ctx: &Ctx, t: &mut Text) {
    let shared = &*ctx.shared;
    let used = crate::alloc::allocated() as u64;
    let rss = crate::alloc::rss_bytes();
    let peak = shared.peak_memory.max(used);
    let startup = shared.startup_memory;
    let system = crate::alloc::total_system_memory();
    // Redis's overhead is what the server holds besides the data: its startup memory and
    // the keyspace's hash tables (and buffers, which we do not add up yet); the dataset is
    // the rest.
    let tables: u64 = ctx
        .store
        .dbs()
        .iter()
        .map(|d| d.approx_memory() as u64)
        .sum();
    let overhead = (startup + tables).min(used);
    let dataset = used - overhead;
    let (alloc_allocated, alloc_active) = crate::alloc::allocator_stats();
    // The C library's malloc cannot tell what part of its memory is resident.
    let alloc_resident = alloc_active;
    let buckets: usize = ctx.store.dbs().iter().map(|d| d.buckets()).sum();

    t.section("Memory");
    t.field("used_memory", used);
    t.field("used_memory_human", human_bytes(used));
    t.field("used_memory_rss", rss);
    t.field("used_memory_rss_human", human_bytes(rss));
    t.field("used_memory_peak", peak);
    t.field("used_memory_peak_human", human_bytes(peak));
    t.field(
        "used_memory_peak_perc",
        format!("{:.2}%", ratio(used * 100, peak)),
    );
    t.field("used_memory_overhead", overhead);
    t.field("used_memory_startup", startup);
    t.field("used_memory_dataset", dataset);
    t.field(
        "used_memory_dataset_perc",
        format!(
            "{:.2}%",
            ratio(dataset * 100, used.saturating_sub(startup).max(1))
        ),
    );
    t.field("allocator_allocated", alloc_allocated);
    t.field("allocator_active", alloc_active);
    t.field("allocator_resident", alloc_resident);
    t.field("total_system_memory", system);
    t.field("total_system_memory_human", human_bytes(system));
    // Each Lua engine exists once used (0 before): EVAL's and the functions'.
    let (lua_heap, script_bodies, cached) = ctx
        .shared
        .scripts
        .as_ref()
        .map_or((0, 0, 0), |e| (e.memory().0, e.memory().1, e.len()));
    let functions = &ctx.shared.functions;
    let functions_heap = functions.lua_memory();
    let functions_code = functions.libraries.code_bytes();
    t.field("used_memory_lua", lua_heap);
    t.field("used_memory_vm_eval", lua_heap);
    t.field("used_memory_lua_human", human_bytes(lua_heap as u64));
    t.field("used_memory_scripts_eval", script_bodies);
    t.field("number_of_cached_scripts", cached);
    t.field("number_of_functions", functions.libraries.function_count());
    t.field("number_of_libraries", functions.libraries.len());
    t.field("used_memory_vm_functions", functions_heap);
    t.field("used_memory_vm_total", lua_heap + functions_heap);
    t.field(
        "used_memory_vm_total_human",
        human_bytes((lua_heap + functions_heap) as u64),
    );
    t.field("used_memory_functions", functions_code);
    t.field("used_memory_scripts", script_bodies + functions_code);
    t.field(
        "used_memory_scripts_human",
        human_bytes((script_bodies + functions_code) as u64),
    );
    let mem = ctx.shared.params.settings.memory;
    t.field("maxmemory", mem.maxmemory);
    t.field("maxmemory_human", human_bytes(mem.maxmemory));
    t.field("maxmemory_policy", mem.policy.name());
    t.field(
        "allocator_frag_ratio",
        format!("{:.2}", ratio(alloc_active, alloc_allocated)),
    );
    t.field(
        "allocator_frag_bytes",
        alloc_active.saturating_sub(alloc_allocated),
    );
    t.field(
        "allocator_rss_ratio",
        format!("{:.2}", ratio(alloc_resident, alloc_active)),
    );
    t.field("allocator_rss_bytes", diff(alloc_resident, alloc_active));
    t.field(
        "rss_overhead_ratio",
        format!("{:.2}", ratio(rss, alloc_resident)),
    );
    t.field("rss_overhead_bytes", diff(rss, alloc_resident));
    t.field(
        "mem_fragmentation_ratio",
        format!("{:.2}", ratio(rss, used)),
    );
    t.field("mem_fragmentation_bytes", diff(rss, used));
    t.fixed(&[
        ("mem_not_counted_for_evict", "0"),
        ("mem_replication_backlog", "0"),
        ("mem_total_replication_buffers", "0"),
        ("mem_clients_slaves", "0"),
        ("mem_clients_normal", "0"),
        ("mem_cluster_links", "0"),
        ("mem_aof_buffer", "0"),
        ("mem_allocator", "libc"),
        ("active_defrag_running", "0"),
    ]);
    t.field(
        "lazyfree_pending_objects",
        crate::store::lazyfree::pending(),
    );
    t.field("lazyfreed_objects", crate::store::lazyfree::freed());
    t.field("keyval_table_buckets", buckets);
    t.field("keyval_allocations", crate::alloc::allocations());
}

fn persistence_section(ctx: &Ctx, t: &mut Text) {
    let p = &ctx.shared.persist;
    t.section("Persistence");
    // Snapshots are taken without fork: there is never a copy-on-write figure to show.
    t.field("loading", u8::from(ctx.shared.loading.is_some()));
    t.fixed(&[
        ("async_loading", "0"),
        ("current_cow_peak", "0"),
        ("current_cow_size", "0"),
        ("current_cow_size_age", "0"),
        ("current_fork_perc", "0.00"),
        ("current_save_keys_processed", "0"),
        ("current_save_keys_total", "0"),
    ]);
    t.field(
        "rdb_changes_since_last_save",
        p.changes_since_save(ctx.store),
    );
    t.field("rdb_bgsave_in_progress", u8::from(p.bgsave.is_some()));
    t.field("rdb_last_save_time", p.lastsave);
    t.field(
        "rdb_last_bgsave_status",
        if p.last_bgsave_failed { "err" } else { "ok" },
    );
    t.field("rdb_last_bgsave_time_sec", p.last_bgsave_secs);
    t.field(
        "rdb_current_bgsave_time_sec",
        p.bgsave
            .as_ref()
            .map_or(-1, |s| s.start.elapsed().as_secs() as i64),
    );
    t.field("rdb_saves", p.saves);
    t.fixed(&[("rdb_last_cow_size", "0")]);
    t.field("rdb_last_load_keys_expired", p.loaded_expired);
    t.field("rdb_last_load_keys_loaded", p.loaded_keys);
    for (name, value) in super::aof::info_fields(ctx.shared) {
        t.field(name, value);
    }
    if let Some(loading) = &ctx.shared.loading {
        for (name, value) in super::loading::info_fields(loading) {
            t.field(name, value);
        }
    }
    t.field(
        "keyval_snapshot_keys_saved_early",
        ctx.store.dbs().iter().map(|d| d.saved_early()).sum::<u64>(),
    );
}

fn stats_section(ctx: &Ctx, t: &mut Text) {
    let shared = &*ctx.shared;
    let stats = &shared.stats;
    let expired = ctx
        .store
        .expired_total()
        .saturating_sub(get(&stats.expired_keys_reset));
    t.section("Stats");
    t.field(
        "total_connections_received",
        get(&stats.connections_received),
    );
    t.field("total_commands_processed", stats.commands_processed());
    t.field("instantaneous_ops_per_sec", shared.ops_per_sec);
    t.field("total_net_input_bytes", get(&stats.net_input_bytes));
    t.field("total_net_output_bytes", get(&stats.net_output_bytes));
    t.fixed(&[
        ("total_net_repl_input_bytes", "0"),
        ("total_net_repl_output_bytes", "0"),
        ("instantaneous_input_kbps", "0.00"),
        ("instantaneous_output_kbps", "0.00"),
        ("instantaneous_input_repl_kbps", "0.00"),
        ("instantaneous_output_repl_kbps", "0.00"),
    ]);
    t.field("rejected_connections", get(&stats.rejected_connections));
    t.fixed(&[
        ("sync_full", "0"),
        ("sync_partial_ok", "0"),
        ("sync_partial_err", "0"),
    ]);
    t.field("expired_keys", expired);
    t.fixed(&[
        ("expired_stale_perc", "0.00"),
        ("expired_time_cap_reached_count", "0"),
        ("expire_cycle_cpu_milliseconds", "0"),
    ]);
    t.field("evicted_keys", get(&stats.evicted_keys));
    t.fixed(&[("evicted_clients", "0")]);
    t.field(
        "total_eviction_exceeded_time",
        get(&stats.eviction_exceeded_us) / 1000,
    );
    t.field(
        "current_eviction_exceeded_time",
        shared.eviction.exceeded_ms(crate::clock::ticks()),
    );
    t.field("keyspace_hits", get(&stats.keyspace_hits));
    t.field("keyspace_misses", get(&stats.keyspace_misses));
    let pubsub = &ctx.shared.pubsub;
    t.field("pubsub_channels", pubsub.numchannels());
    t.field("pubsub_patterns", pubsub.numpat());
    t.field("pubsubshard_channels", pubsub.numshardchannels());
    t.fixed(&[("latest_fork_usec", "0"), ("total_forks", "0")]);
    t.field("migrate_cached_sockets", ctx.shared.migrate.len());
    t.fixed(&[
        ("slave_expires_tracked_keys", "0"),
        ("active_defrag_hits", "0"),
        ("active_defrag_misses", "0"),
        ("active_defrag_key_hits", "0"),
        ("active_defrag_key_misses", "0"),
        ("total_active_defrag_time", "0"),
        ("current_active_defrag_time", "0"),
    ]);
    let tracking = &ctx.shared.tracking;
    t.field("tracking_total_keys", tracking.total_keys());
    t.field("tracking_total_items", tracking.total_items());
    t.field("tracking_total_prefixes", tracking.total_prefixes());
    t.fixed(&[("unexpected_error_replies", "0")]);
    t.field("total_error_replies", stats.error_replies());
    t.fixed(&[
        ("dump_payload_sanitizations", "0"),
        ("total_reads_processed", "0"),
        ("total_writes_processed", "0"),
        ("io_threaded_reads_processed", "0"),
        ("io_threaded_writes_processed", "0"),
        ("reply_buffer_shrinks", "0"),
        ("reply_buffer_expands", "0"),
    ]);
    t.field("keyval_protocol_errors", get(&stats.protocol_errors));
}

fn replication_section(ctx: &Ctx, t: &mut Text) {
    t.section("Replication");
    // A master without replicas or backlog; the backlog size is Redis's default setting.
    t.fixed(&[
        ("role", "master"),
        ("connected_slaves", "0"),
        ("master_failover_state", "no-failover"),
    ]);
    t.field("master_replid", &ctx.shared.run_id);
    t.fixed(&[
        ("master_replid2", "0000000000000000000000000000000000000000"),
        ("master_repl_offset", "0"),
        ("second_repl_offset", "-1"),
        ("repl_backlog_active", "0"),
        ("repl_backlog_size", "1048576"),
        ("repl_backlog_first_byte_offset", "0"),
        ("repl_backlog_histlen", "0"),
    ]);
}

fn commandstats_section(ctx: &Ctx, t: &mut Text) {
    let stats = &ctx.shared.stats;
    let tbl = table();
    t.section("Commandstats");
    for slot in tbl.slots_in_info_order() {
        let c = &stats.commands[slot];
        let (calls, failed, rejected) = (get(&c.calls), get(&c.failed), get(&c.rejected));
        if calls == 0 && failed == 0 && rejected == 0 {
            continue;
        }
        let ns = get(&c.latency_ns);
        let per_call = if calls == 0 {
            0.0
        } else {
            ns as f64 / 1000.0 / calls as f64
        };
        let _ = write!(
            t.0,
            "cmdstat_{}:calls={calls},usec={},usec_per_call={per_call:.2},rejected_calls={rejected},failed_calls={failed}\r\n",
            info_safe(tbl.slot_name(slot).as_bytes()),
            ns / 1000,
        );
    }
}

fn latencystats_section(ctx: &Ctx, t: &mut Text) {
    let shared = &*ctx.shared;
    let tbl = table();
    t.section("Latencystats");
    let settings = &shared.params.settings;
    if !settings.latency_tracking {
        return;
    }
    let percentiles = &settings.latency_percentiles;
    for slot in tbl.slots_in_info_order() {
        let Some(values) = shared.stats.commands[slot].latency_percentiles_us(percentiles) else {
            continue;
        };
        let _ = write!(
            t.0,
            "latency_percentiles_usec_{}:",
            info_safe(tbl.slot_name(slot).as_bytes())
        );
        for (i, (&p, v)) in percentiles.iter().zip(values).enumerate() {
            let sep = if i == 0 { "" } else { "," };
            let _ = write!(t.0, "{sep}p{}={v:.3}", percentile_label(p));
        }
        t.0.push_str("\r\n");
    }
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

/// One COMMAND DOCS entry: the full name, then Redis's docs map (the subcommands listed
/// are the ones we have). A command Redis 7.0 does not define gets our summary and its group.
fn reply_command_docs(out: &mut Reply, id: usize, sub: Option<&str>) {
    let tbl = table();
    let c = tbl.get(id);
    let full = match sub {
        Some(sub) => format!("{}|{sub}", c.name),
        None => c.name.to_string(),
    };
    out.bulk(full.as_bytes());
    let Some(spec) = command_specs::spec(&full) else {
        let summary = command_specs::summary(&full);
        out.map(1 + usize::from(summary.is_some()));
        if let Some(summary) = summary {
            out.bulk(b"summary");
            out.bulk(summary.as_bytes());
        }
        out.bulk(b"group");
        out.bulk(c.group.as_bytes());
        return;
    };
    let subs: Vec<&'static command_specs::Spec> = if sub.is_some() {
        Vec::new()
    } else {
        tbl.subcommands(id)
            .iter()
            .filter_map(|(s, _)| command_specs::spec(&format!("{}|{s}", c.name)))
            .collect()
    };
    command_specs::reply_docs(out, spec, &subs);
}

/// Subcommands of COMMAND with their arities (`command|<sub>`; dispatch checks them and counts
/// each subcommand apart, see `cmd::Table`).
pub const COMMAND_SUBCOMMANDS: &[(&str, i32)] = &[
    ("count", 2),
    ("info", -2),
    ("docs", -2),
    ("list", -2),
    ("getkeys", -4),
    ("getkeysandflags", -4),
    ("help", 2),
];

/// COMMAND INFO of one of our commands: Redis's declared facts when it has them (with the
/// subcommands we have), else what our table says.
fn reply_info(out: &mut Reply, id: usize) {
    let tbl = table();
    let c = tbl.get(id);
    let Some(spec) = command_specs::spec(c.name) else {
        return reply_command_info(out, c);
    };
    let subs: Vec<&'static command_specs::Spec> = tbl
        .subcommands(id)
        .iter()
        .filter_map(|(sub, _)| command_specs::spec(&format!("{}|{sub}", c.name)))
        .collect();
    command_specs::reply_info(out, spec, &subs);
}

/// Our command named by `name` (`get`), or by `container|sub` for the subcommands we
/// have: the command's id and the subcommand's name.
fn find_command(name: &[u8]) -> Option<(usize, Option<&'static str>)> {
    let tbl = table();
    let lower = name.to_ascii_lowercase();
    let mut parts = lower.splitn(2, |&b| b == b'|');
    let id = tbl.lookup(parts.next()?)?;
    match parts.next() {
        None => Some((id, None)),
        Some(sub) => tbl
            .subcommands(id)
            .iter()
            .find(|(n, _)| n.as_bytes() == sub)
            .map(|(n, _)| (id, Some(*n))),
    }
}

/// The spec GETKEYS examines for a call: the command's, or its subcommand's for a
/// container (Redis's lookupCommand; an unknown subcommand is an unknown command).
fn spec_of_call(call: &[&[u8]]) -> Option<&'static command_specs::Spec> {
    let tbl = table();
    let id = tbl.lookup(call.first()?)?;
    let name = tbl.get(id).name;
    let subs = tbl.subcommands(id);
    if subs.is_empty() || call.len() < 2 {
        return command_specs::spec(name);
    }
    let sub = subs
        .iter()
        .find(|(n, _)| n.as_bytes().eq_ignore_ascii_case(call[1]))?;
    command_specs::spec(&format!("{name}|{}", sub.0))
}

/// Every command and subcommand we have, by full name (`get`, `config|get`), with Redis's
/// facts when it has them.
fn all_full_names() -> Vec<(String, Option<&'static command_specs::Spec>)> {
    let tbl = table();
    let mut names = Vec::new();
    for &id in tbl.reachable() {
        let c = tbl.get(id);
        names.push((c.name.to_string(), command_specs::spec(c.name)));
        for (sub, _) in tbl.subcommands(id) {
            let full = format!("{}|{sub}", c.name);
            let spec = command_specs::spec(&full);
            names.push((full, spec));
        }
    }
    names
}

fn command(ctx: &mut Ctx, args: Args) {
    let tbl = table();
    if args.len() == 1 {
        ctx.out.array(tbl.reachable().len());
        for &id in tbl.reachable() {
            reply_info(ctx.out, id);
        }
        return;
    }
    let Some(name) = subcommand(ctx.out, "command", COMMAND_SUBCOMMANDS, args) else {
        return;
    };
    match name {
        "count" => ctx.out.int(tbl.reachable().len() as i64),
        "info" if args.len() == 2 => {
            ctx.out.array(tbl.reachable().len());
            for &id in tbl.reachable() {
                reply_info(ctx.out, id);
            }
        }
        "info" => {
            ctx.out.array(args.len() - 2);
            for a in args.iter().skip(2) {
                match find_command(a) {
                    Some((id, None)) => reply_info(ctx.out, id),
                    Some((id, Some(sub))) => {
                        let full = format!("{}|{sub}", tbl.get(id).name);
                        match command_specs::spec(&full) {
                            Some(spec) => command_specs::reply_info(ctx.out, spec, &[]),
                            None => ctx.out.null(),
                        }
                    }
                    None => ctx.out.null(),
                }
            }
        }
        "getkeys" => command_specs::getkeys(ctx.out, args, false, spec_of_call),
        "getkeysandflags" => command_specs::getkeys(ctx.out, args, true, spec_of_call),
        "docs" => {
            let found: Vec<(usize, Option<&str>)> = if args.len() == 2 {
                tbl.reachable().iter().map(|&id| (id, None)).collect()
            } else {
                args.iter().skip(2).filter_map(find_command).collect()
            };
            ctx.out.map(found.len());
            for (id, sub) in found {
                reply_command_docs(ctx.out, id, sub);
            }
        }
        "list" => {
            // COMMAND LIST [FILTERBY MODULE name | ACLCAT category | PATTERN pattern]:
            // commands and their subcommands by full name; the last filter given counts.
            let mut filter: Option<(Vec<u8>, &[u8])> = None;
            let mut i = 2;
            while i < args.len() {
                let more = args.len() - 1 - i;
                let kind = if more == 2 && args.get(i).eq_ignore_ascii_case(b"filterby") {
                    args.get(i + 1).to_ascii_lowercase()
                } else {
                    Vec::new()
                };
                if !matches!(kind.as_slice(), b"module" | b"aclcat" | b"pattern") {
                    ctx.error(err::SYNTAX);
                    return;
                }
                filter = Some((kind, args.get(i + 2)));
                i += 3;
            }
            let names: Vec<String> = all_full_names()
                .into_iter()
                .filter(|(name, spec)| match &filter {
                    None => true,
                    // No module is loaded: no command belongs to one.
                    Some((kind, _)) if kind == b"module" => false,
                    Some((kind, cat)) if kind == b"aclcat" => spec.is_some_and(|s| {
                        command_specs::info_categories(s)
                            .iter()
                            .any(|c| c.as_bytes().eq_ignore_ascii_case(cat))
                    }),
                    Some((_, pat)) => glob_match(pat, name.as_bytes(), true),
                })
                .map(|(name, _)| name)
                .collect();
            ctx.out.array(names.len());
            for n in names {
                ctx.out.bulk(n.as_bytes());
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
                "    If no command names are given, documentation details for all",
                "    commands are returned.",
                "GETKEYS <full-command>",
                "    Return the keys from a full Redis command.",
                "GETKEYSANDFLAGS <full-command>",
                "    Return the keys and the access flags from a full Redis command.",
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
        assert_eq!(human_bytes(0), "0B");
    }

    #[test]
    fn percentile_labels() {
        assert_eq!(super::percentile_label(50.0), "50");
        assert_eq!(super::percentile_label(99.9), "99.9");
        assert_eq!(super::percentile_label(0.0), "0");
        assert_eq!(super::percentile_label(99.99), "99.99");
    }
}
