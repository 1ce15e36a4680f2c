//! Snapshots: SAVE, BGSAVE, LASTSAVE, the save points, and the state INFO persistence
//! reports. The snapshot itself is taken by the event loop in steps
//! ([`crate::persist::snapshot`]); this module decides when, and keeps the books.

use std::path::PathBuf;
use std::time::Duration;

use super::flags::{ADMIN, FAST, LOADING, NO_MULTI, NOSCRIPT, STALE};
use super::{Command, Ctx, Shared, err};
use crate::metrics::stats::{bump, set};
use crate::persist::save::Options;
use crate::persist::snapshot::{Markers, Progress, Snapshot, Target};
use crate::resp::Args;
use crate::store::Store;

/// The persistence family's command table.
#[rustfmt::skip]
pub const COMMANDS: &[Command] = &[
    Command { name: "save", arity: 1, flags: ADMIN | NOSCRIPT | NO_MULTI, keys: (0, 0, 0), group: "server", handler: save },
    Command { name: "bgsave", arity: -1, flags: ADMIN | NOSCRIPT, keys: (0, 0, 0), group: "server", handler: bgsave },
    Command { name: "lastsave", arity: 1, flags: LOADING | STALE | FAST, keys: (0, 0, 0), group: "server", handler: lastsave },
];

/// Redis waits this long after a failed background save before a save point may try again
/// (CONFIG_BGSAVE_RETRY_DELAY).
const RETRY_DELAY_MS: u64 = 5_000;
/// Work per event-loop turn while a background save runs.
pub const STEP_BUDGET: Duration = Duration::from_millis(1);

/// Redis's -MISCONF text, for writes after a failed background save.
pub const MISCONF: &str = "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. Commands that may modify the data set are disabled, because this instance is configured to report errors during writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). Please check the Redis logs for details about the RDB error.";

/// Snapshot bookkeeping (Redis's `server.lastsave`, `dirty`, `lastbgsave_status`...).
#[derive(Default)]
pub struct Persistence {
    /// The background save in progress.
    pub bgsave: Option<Snapshot>,
    /// When the last successful save started (seconds since the epoch); the start time
    /// until the first one, as in Redis.
    pub lastsave: u64,
    /// The last background save failed (INFO rdb_last_bgsave_status:err, -MISCONF).
    pub last_bgsave_failed: bool,
    /// When the last background save was attempted (ms): failures wait before retrying.
    pub last_bgsave_try_ms: u64,
    /// The store's change counter at the start of the last successful save.
    pub dirty_at_save: u64,
    /// Duration of the last background save (seconds), -1 before any.
    pub last_bgsave_secs: i64,
    /// Saves done (SAVE and BGSAVE), INFO rdb_saves.
    pub saves: u64,
    /// Keys loaded at start, and keys skipped there because they had expired.
    pub loaded_keys: u64,
    /// Expired keys skipped by the last load.
    pub loaded_expired: u64,
    /// BGSAVE SCHEDULE waits for an AOF rewrite to end.
    pub bgsave_scheduled: bool,
}

impl Persistence {
    /// Fresh books: the start counts as the last save.
    pub fn new(start_secs: u64) -> Persistence {
        Persistence {
            lastsave: start_secs,
            last_bgsave_secs: -1,
            ..Persistence::default()
        }
    }

    /// Changes since the last successful save (INFO rdb_changes_since_last_save).
    pub fn changes_since_save(&self, store: &Store) -> u64 {
        store.dirty().saturating_sub(self.dirty_at_save)
    }

    /// Writes are refused with -MISCONF: the last background save failed, save points
    /// are set and `stop-writes-on-bgsave-error` is on (Redis's
    /// writeCommandsDeniedByDiskError).
    pub fn refuses_writes(&self, shared_rdb: &crate::config::params::RdbSettings) -> bool {
        self.last_bgsave_failed
            && shared_rdb.stop_writes_on_error
            && !shared_rdb.save_points.is_empty()
    }
}

/// Where snapshots go, from the settings in force.
pub fn target(shared: &Shared) -> Target {
    let rdb = &shared.params.settings.rdb;
    Target {
        path: PathBuf::from(&rdb.dbfilename),
        temp: PathBuf::from(format!("temp-{}.rdb", std::process::id())),
        opts: Options {
            compress: rdb.compression,
            resp: false,
        },
        checksum: rdb.checksum,
        markers: {
            let memory = &shared.params.settings.memory;
            if memory.policy.is_lfu() {
                Markers::Lfu {
                    decay_minutes: memory.lfu_decay_time,
                }
            } else if memory.policy.name().ends_with("-lru") {
                Markers::Lru
            } else {
                Markers::None
            }
        },
        aof_base: false,
    }
}

/// Saves a snapshot now, in the foreground (SAVE, SHUTDOWN, SIGTERM). Returns the error
/// logged on failure.
pub fn save_now(store: &mut Store, shared: &mut Shared, now: u64) -> Result<(), String> {
    // The walk of a rewrite in progress must end first (there is one walk at a time).
    super::aof::finish_rewrite_now(store, shared, now);
    let started = std::time::Instant::now();
    let dirty = store.dirty();
    let result = begin(store, shared, now).and_then(|snapshot| snapshot.run_to_end(store, now));
    record(shared, &result, started);
    match result {
        Ok(_) => {
            log::info!("DB saved on disk");
            succeeded(shared, dirty, now);
            Ok(())
        }
        Err(e) => {
            log::warn!("{e}");
            Err(e)
        }
    }
}

/// Starts a snapshot of the dataset as it is now, to the file the settings name.
fn begin(store: &mut Store, shared: &Shared, now: u64) -> Result<Snapshot, String> {
    start_snapshot(store, shared, &target(shared), now)
}

/// Starts a snapshot of the dataset and the function libraries as they are now, to
/// `target` (the RDB file, or an append-only file's base).
pub fn start_snapshot(
    store: &mut Store,
    shared: &Shared,
    target: &Target,
    now: u64,
) -> Result<Snapshot, String> {
    let functions = if target.opts.resp {
        shared.functions.libraries.load_commands()
    } else {
        shared.functions.libraries.dump()
    };
    let used = crate::alloc::allocated() as u64;
    Snapshot::start(store, target, &functions, now, used)
}

/// The books after a snapshot that started at `start_ms`, when the store had made `dirty`
/// changes, is on disk.
fn succeeded(shared: &mut Shared, dirty: u64, start_ms: u64) {
    let p = &mut shared.persist;
    p.dirty_at_save = dirty;
    p.lastsave = start_ms / 1000;
    p.last_bgsave_failed = false;
    p.saves += 1;
    set(&shared.stats.rdb_last_save_time, start_ms / 1000);
}

/// Counts a finished snapshot in the metrics: its duration, and its size or failure.
fn record(shared: &Shared, result: &Result<u64, String>, started: std::time::Instant) {
    let stats = &shared.stats;
    set(
        &stats.rdb_last_save_us,
        started.elapsed().as_micros() as u64,
    );
    match result {
        Ok(bytes) => {
            bump(&stats.rdb_saves, 1);
            set(&stats.rdb_last_save_bytes, *bytes);
        }
        Err(_) => bump(&stats.rdb_failures, 1),
    }
}

/// Starts a background save. The error is the one logged when it cannot start.
pub fn start_bgsave(store: &mut Store, shared: &mut Shared, now: u64) -> Result<(), String> {
    shared.persist.last_bgsave_try_ms = now;
    match begin(store, shared, now) {
        Ok(s) => {
            log::info!("Background saving started");
            shared.persist.bgsave = Some(s);
            set(&shared.stats.rdb_bgsave_in_progress, 1);
            Ok(())
        }
        Err(e) => {
            log::warn!("{e}");
            log::warn!("Background saving error");
            shared.persist.last_bgsave_failed = true;
            bump(&shared.stats.rdb_failures, 1);
            Err(e)
        }
    }
}

/// One event-loop turn of the background save: about [`STEP_BUDGET`] of work. Returns
/// true while there is more to do right away (the loop should not sleep).
pub fn bgsave_step(store: &mut Store, shared: &mut Shared, now: u64) -> bool {
    let Some(snapshot) = shared.persist.bgsave.as_mut() else {
        return false;
    };
    match snapshot.step(store, STEP_BUDGET, now) {
        Progress::Working => true,
        Progress::Waiting => false,
        Progress::Finished(result) => {
            let snapshot = shared.persist.bgsave.take().expect("checked above");
            record(shared, &result, snapshot.start);
            set(&shared.stats.rdb_bgsave_in_progress, 0);
            shared.persist.last_bgsave_secs = snapshot.start.elapsed().as_secs() as i64;
            match result {
                Ok(bytes) => {
                    log::info!("Background saving terminated with success ({bytes} bytes)");
                    succeeded(shared, snapshot.dirty_at_start, snapshot.start_ms);
                }
                Err(e) => {
                    log::warn!("{e}");
                    log::warn!("Background saving error");
                    shared.persist.last_bgsave_failed = true;
                }
            }
            false
        }
    }
}

/// The save points' check, from the cron (Redis's serverCron): a background save starts
/// when some point's seconds have passed since the last save and its count of changes
/// was reached; after a failure, only once [`RETRY_DELAY_MS`] passed.
pub fn cron(store: &mut Store, shared: &mut Shared, now: u64) {
    set(
        &shared.stats.rdb_changes,
        shared.persist.changes_since_save(store),
    );
    if shared.persist.bgsave.is_some() || shared.aof.rewrite.is_some() {
        return;
    }
    let p = &shared.persist;
    let retry_ok =
        !p.last_bgsave_failed || now.saturating_sub(p.last_bgsave_try_ms) > RETRY_DELAY_MS;
    if p.bgsave_scheduled && retry_ok {
        shared.persist.bgsave_scheduled = false;
        let _ = start_bgsave(store, shared, now);
        return;
    }
    let p = &shared.persist;
    let changes = p.changes_since_save(store);
    let since = (now / 1000).saturating_sub(p.lastsave);
    let retry_ok =
        !p.last_bgsave_failed || now.saturating_sub(p.last_bgsave_try_ms) > RETRY_DELAY_MS;
    let due = shared
        .params
        .settings
        .rdb
        .save_points
        .iter()
        .find(|&&(secs, count)| changes >= count && since > secs && retry_ok)
        .copied();
    if let Some((secs, count)) = due {
        log::info!("{count} changes in {secs} seconds. Saving...");
        let _ = start_bgsave(store, shared, now);
    }
}

fn save(ctx: &mut Ctx, _args: Args) {
    if ctx.shared.persist.bgsave.is_some() {
        ctx.error("ERR Background save already in progress");
        return;
    }
    match save_now(ctx.store, ctx.shared, ctx.now) {
        Ok(()) => ctx.out.ok(),
        Err(_) => ctx.error("ERR"),
    }
}

fn bgsave(ctx: &mut Ctx, args: Args) {
    if args.len() > 1 && !(args.len() == 2 && args.get(1).eq_ignore_ascii_case(b"schedule")) {
        ctx.error(err::SYNTAX);
        return;
    }
    if ctx.shared.persist.bgsave.is_some() {
        ctx.error("ERR Background save already in progress");
        return;
    }
    if ctx.shared.aof.rewrite.is_some() || ctx.shared.in_exec {
        if args.len() == 2 || ctx.shared.in_exec {
            ctx.shared.persist.bgsave_scheduled = true;
            ctx.out.simple("Background saving scheduled");
        } else {
            ctx.error("ERR Another child process is active (AOF?): can't BGSAVE right now. Use BGSAVE SCHEDULE in order to schedule a BGSAVE whenever possible.");
        }
        return;
    }
    // Redis replies before its child writes anything; a save that cannot even start fails
    // the same way a failing child does: logged, and in INFO.
    let _ = start_bgsave(ctx.store, ctx.shared, ctx.now);
    ctx.out.simple("Background saving started");
}

fn lastsave(ctx: &mut Ctx, _args: Args) {
    ctx.out.int(ctx.shared.persist.lastsave as i64);
}

/// What loading found so far.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Loaded {
    /// Keys loaded.
    pub keys: u64,
    /// Keys skipped because their TTL had passed.
    pub expired: u64,
}

/// Applies one item of an RDB file being loaded (a snapshot, or an append-only file's
/// base): a key goes into the store (unless its TTL passed, as a primary's rdbLoad skips
/// it), a function library is created. A key already present is an error, as in Redis.
pub fn apply_item(
    store: &mut Store,
    shared: &mut Shared,
    item: crate::persist::load::Item,
    now: u64,
    loaded: &mut Loaded,
) -> Result<(), String> {
    use crate::persist::load::Item;
    match item {
        Item::Key {
            db,
            key,
            value,
            expire_ms,
            idle_secs,
            freq,
        } => {
            if let Some(at) = expire_ms
                && at < now as i64
            {
                loaded.expired += 1;
                return Ok(());
            }
            let d = store.db(db);
            let ttl = expire_ms.map_or(crate::store::Ttl::Clear, |at| {
                crate::store::Ttl::At(at.max(0) as u64)
            });
            if !d.load_insert(&key, value, ttl, now) {
                return Err(format!(
                    "Duplicate key '{}' found in RDB file",
                    String::from_utf8_lossy(&key)
                ));
            }
            if idle_secs.is_some() || freq.is_some() {
                d.set_loaded_access(&key, idle_secs, freq, now);
            }
            loaded.keys += 1;
            Ok(())
        }
        Item::Function(code) => {
            let (engine, libraries) = shared
                .functions
                .parts()
                .map_err(|e| format!("Lua engine failed to start: {e}"))?;
            libraries
                .create(engine, &code, false, None)
                .map(drop)
                .map_err(|e| format!("Failed loading library: {e}"))
        }
        Item::ResizeDb { db, keys, .. } => {
            // A hint the loader bounds by the file's size.
            let d = store.db(db);
            d.reserve((keys as usize).saturating_sub(d.len()));
            Ok(())
        }
        Item::Aux { .. } => Ok(()),
    }
}
