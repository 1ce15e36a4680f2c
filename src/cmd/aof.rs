//! The append-only file (Redis 7's multi-part AOF): turning it on and off, writing and
//! fsyncing what [`super::propagate`] records, BGREWRITEAOF without fork, and loading the
//! files at start. The formats are in [`crate::persist::aof`].
//!
//! Writes are appended to the last incr file once per event-loop turn, before any reply
//! of that turn is sent: with `appendfsync always` the file is also fsynced there, so an
//! acknowledged write survives a crash; with `everysec` a helper thread fsyncs about once
//! a second; with `no` the kernel decides.
//!
//! A rewrite opens a new incr file, where writes go from then on, and writes a new base
//! with the same walk as BGSAVE (a point-in-time snapshot, see
//! [`crate::persist::snapshot`]): the new base plus the new incr file hold the dataset.
//! When the base is on disk, the manifest names them and the older files are deleted.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Sender, channel};
use std::time::Instant;

use super::flags::{ADMIN, NOSCRIPT};
use super::{Command, Ctx, Shared, persistence, propagate};
use crate::config::params::Fsync;
use crate::metrics::stats::{bump, set};
use crate::persist::aof::{AofFile, Manifest};
use crate::persist::snapshot::{Progress, Snapshot, Target};
use crate::resp::Args;
use crate::store::Store;

/// The AOF family's command table.
#[rustfmt::skip]
pub const COMMANDS: &[Command] = &[
    Command { name: "bgrewriteaof", arity: 1, flags: ADMIN | NOSCRIPT, keys: (0, 0, 0), group: "server", handler: bgrewriteaof },
];

/// A rewrite in progress.
pub struct Rewrite {
    snapshot: Snapshot,
    plan: Plan,
}

/// What a rewrite does with its files once its base is written.
struct Plan {
    /// The base file it writes.
    base: AofFile,
    /// Sequence number of the incr file opened when it started: that one and later ones
    /// follow the new base.
    first_incr: u64,
    /// Turning the AOF on: writes go to this temporary incr file, which becomes the
    /// first incr file only once the base exists (Redis's AOF_WAIT_REWRITE).
    initial: Option<PathBuf>,
    /// When it started (INFO aof_current_rewrite_time_sec, aof_last_rewrite_time_sec).
    started: Instant,
}

/// The append-only file's state (Redis's `aof_state`, `aof_fd`, `aof_manifest`...).
pub struct Aof {
    /// Writes are appended to the file (`appendonly yes`, and its first base started).
    pub on: bool,
    /// `appendonly yes` is waiting for a background save to end before its rewrite can
    /// start.
    pub waiting_to_start: bool,
    /// The files, as the manifest on disk lists them.
    manifest: Manifest,
    /// The incr file being appended to.
    file: Option<Arc<File>>,
    /// Its size.
    incr_size: u64,
    /// Base plus incr files (INFO aof_current_size).
    pub current_size: u64,
    /// The size after the last rewrite (INFO aof_base_size), the growth reference of the
    /// automatic rewrite.
    pub base_size: u64,
    /// Sends work to the helper thread (None: it could not start, the loop does the work).
    helper: Option<Sender<Job>>,
    /// Something was written since the last fsync.
    unsynced: bool,
    /// When the last fsync was asked for (ms).
    last_fsync_ms: u64,
    /// The rewrite in progress.
    pub rewrite: Option<Rewrite>,
    /// BGREWRITEAOF waits for a background save to end.
    pub rewrite_scheduled: bool,
    /// Rewrites done (INFO aof_rewrites).
    pub rewrites: u64,
    /// Failures since the last success (INFO aof_rewrites_consecutive_failures).
    pub consecutive_failures: u64,
    /// When the last failure happened (ms): an automatic retry waits a little.
    last_failure_ms: u64,
    /// Duration of the last rewrite (seconds), -1 before any.
    pub last_rewrite_secs: i64,
    /// The last rewrite failed (INFO aof_last_bgrewrite_status:err).
    pub last_rewrite_failed: bool,
    /// The last write to the file failed (INFO aof_last_write_status:err, -MISCONF).
    pub last_write_error: Option<String>,
}

impl Default for Aof {
    fn default() -> Aof {
        Aof {
            on: false,
            waiting_to_start: false,
            manifest: Manifest::default(),
            file: None,
            incr_size: 0,
            current_size: 0,
            base_size: 0,
            helper: None,
            unsynced: false,
            last_fsync_ms: 0,
            rewrite: None,
            rewrite_scheduled: false,
            rewrites: 0,
            consecutive_failures: 0,
            last_failure_ms: 0,
            last_rewrite_secs: -1,
            last_rewrite_failed: false,
            last_write_error: None,
        }
    }
}

impl Aof {
    /// The AOF is on, or being turned on (INFO aof_enabled).
    pub fn enabled(&self) -> bool {
        self.on || self.waiting_to_start
    }
}

/// Redis's -MISCONF text after a failed write to the AOF.
pub fn misconf(error: &str) -> String {
    format!("MISCONF Errors writing to the AOF file: {error}")
}

fn dir(shared: &Shared) -> PathBuf {
    PathBuf::from(&shared.params.settings.aof.dirname)
}

fn manifest_path(shared: &Shared) -> PathBuf {
    dir(shared).join(format!("{}.manifest", shared.params.settings.aof.filename))
}

fn io_text(e: &std::io::Error) -> String {
    crate::util::os_error_text(e)
}

/// Creates the AOF directory if it is missing.
fn create_dir(shared: &Shared) -> Result<PathBuf, String> {
    let dir = dir(shared);
    std::fs::create_dir_all(&dir).map_err(|e| {
        format!(
            "Can't open or create append-only dir {}: {}",
            dir.display(),
            io_text(&e)
        )
    })?;
    Ok(dir)
}

/// Writes the manifest: a temporary file, fsynced, renamed over the old one, and the
/// directory fsynced.
fn persist_manifest(shared: &Shared, manifest: &Manifest) -> Result<(), String> {
    let path = manifest_path(shared);
    let temp = dir(shared).join(format!(
        "temp-{}.manifest",
        shared.params.settings.aof.filename
    ));
    let write = || -> std::io::Result<()> {
        let mut f = File::create(&temp)?;
        f.write_all(manifest.render().as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&temp, &path)?;
        File::open(dir(shared))?.sync_all()
    };
    write().map_err(|e| {
        format!(
            "Can't persist the AOF manifest file {}: {}",
            path.display(),
            io_text(&e)
        )
    })
}

fn open_append(path: &Path, truncate: bool) -> Result<File, String> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .truncate(false)
        .open(path)
        .and_then(|f| {
            if truncate {
                f.set_len(0)?;
            }
            Ok(f)
        })
        .map_err(|e| {
            format!(
                "Can't open the append-only file {}: {}",
                path.display(),
                io_text(&e)
            )
        })
}

fn file_size(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

/// Work for the AOF's helper thread (Redis's bio jobs).
enum Job {
    /// fsync this file (`everysec`).
    Fsync(Arc<File>),
    /// Delete a file a rewrite replaced (freeing a big file's blocks takes a while).
    Delete(PathBuf),
}

impl Job {
    fn run(self, stats: &crate::metrics::stats::Stats) {
        match self {
            Job::Fsync(file) => {
                let t0 = Instant::now();
                if let Err(e) = file.sync_data() {
                    log::warn!("Error fsyncing the append-only file: {}", io_text(&e));
                }
                set(&stats.aof_last_fsync_us, t0.elapsed().as_micros() as u64);
            }
            Job::Delete(path) => {
                let _ = std::fs::remove_file(path);
            }
        }
    }
}

/// Starts the thread that fsyncs the file for `everysec` and deletes old files, once.
fn start_helper(shared: &mut Shared) {
    if shared.aof.helper.is_some() {
        return;
    }
    let (tx, rx) = channel::<Job>();
    let stats = Arc::clone(&shared.stats);
    let spawned = std::thread::Builder::new()
        .name("keyval-aof-fsync".into())
        .spawn(move || {
            while let Ok(job) = rx.recv() {
                job.run(&stats);
            }
        });
    match spawned {
        Ok(_) => shared.aof.helper = Some(tx),
        Err(e) => {
            log::warn!("Can't start the AOF fsync thread ({e}): fsyncs happen on the event loop");
        }
    }
}

/// Hands `job` to the helper thread, or does it now when there is none.
fn background(shared: &Shared, job: Job) {
    let job = match &shared.aof.helper {
        Some(tx) => match tx.send(job) {
            Ok(()) => return,
            Err(std::sync::mpsc::SendError(job)) => job,
        },
        None => job,
    };
    job.run(&shared.stats);
}

/// Asks for an fsync of the file being written.
fn request_fsync(shared: &Shared) {
    if let Some(file) = &shared.aof.file {
        background(shared, Job::Fsync(Arc::clone(file)));
    }
}

/// Switches writing to `file` (of `size` bytes): the reader of a new file starts without
/// a selected database.
fn use_file(shared: &mut Shared, file: File, size: u64) {
    shared.aof.file = Some(Arc::new(file));
    shared.aof.incr_size = size;
    shared.propagation.new_file();
}

fn publish(shared: &Shared) {
    let a = &shared.aof;
    let s = &shared.stats;
    set(&s.aof_enabled, u64::from(a.enabled()));
    set(&s.aof_size, a.current_size);
    set(&s.aof_base_size, a.base_size);
    set(&s.aof_rewrite_in_progress, u64::from(a.rewrite.is_some()));
}

/// At start, before clients: with `appendonly yes` starts loading the AOF (or nothing,
/// when there is none, as Redis: the RDB is not read then), which is opened for appending
/// once loaded ([`finish_open`]); otherwise starts loading the RDB snapshot, if there is
/// one. The loads run from the event loop ([`super::loading`]).
pub fn open_at_start(store: &mut Store, shared: &mut Shared, now: u64) -> Result<(), String> {
    use super::loading::{File as LoadFile, Loading};
    let manifest_file = manifest_path(shared);
    let manifest = match std::fs::read(&manifest_file) {
        Ok(text) => Manifest::parse(&text).map_err(|e| {
            format!(
                "Fatal error reading the AOF manifest {}: {e}",
                manifest_file.display()
            )
        })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Manifest::default(),
        Err(e) => {
            return Err(format!(
                "Fatal error: can't open the AOF manifest file {} for reading: {}",
                manifest_file.display(),
                io_text(&e)
            ));
        }
    };
    shared.aof.manifest = manifest;
    // Redis counts its start as the last save.
    set(&shared.stats.rdb_last_save_time, shared.persist.lastsave);
    if !shared.params.settings.aof.enabled {
        let path = PathBuf::from(&shared.params.settings.rdb.dbfilename);
        match std::fs::metadata(&path) {
            Ok(_) => {
                let file = LoadFile { path, kind: "RDB" };
                shared.loading = Some(Box::new(Loading::new(vec![file], false, now)));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(format!(
                    "Fatal error loading the DB: {}. Exiting.",
                    io_text(&e)
                ));
            }
        }
        publish(shared);
        return Ok(());
    }
    upgrade_old_file(shared)?;
    if shared.aof.manifest.is_empty() {
        return finish_open(store, shared, now);
    }
    let dir = dir(shared);
    let m = &shared.aof.manifest;
    let mut files = Vec::new();
    for (f, kind) in m
        .base
        .iter()
        .map(|f| (f, "base"))
        .chain(m.incr.iter().map(|f| (f, "incr")))
    {
        let path = dir.join(&f.name);
        if !path.exists() {
            return Err(format!(
                "The AOF file {} listed in the manifest doesn't exist",
                path.display()
            ));
        }
        files.push(LoadFile { path, kind });
    }
    shared.loading = Some(Box::new(Loading::new(files, true, now)));
    Ok(())
}

/// A Redis 6 `appendonly.aof` in the working directory, with no AOF directory of Redis 7
/// (or one a crash left before the move), becomes the base of a new directory, as Redis
/// 7.0's aofUpgradePrepare does: the manifest first, then the file moves in.
fn upgrade_old_file(shared: &mut Shared) -> Result<(), String> {
    let name = shared.params.settings.aof.filename.clone();
    let old = PathBuf::from(&name);
    if !old.is_file() {
        return Ok(());
    }
    let dir = dir(shared);
    let m = &shared.aof.manifest;
    let half_done = m.incr.is_empty()
        && m.base.as_ref().is_some_and(|b| b.name == name)
        && !dir.join(&name).exists();
    if dir.is_dir() && !m.is_empty() && !half_done {
        return Ok(());
    }
    create_dir(shared)?;
    let manifest = Manifest {
        base: Some(AofFile {
            name: name.clone(),
            seq: 1,
            kind: b'b',
        }),
        ..Manifest::default()
    };
    persist_manifest(shared, &manifest)?;
    std::fs::rename(&old, dir.join(&name)).map_err(|e| {
        format!(
            "Error trying to move the old AOF file {name} into dir {}: {}",
            dir.display(),
            io_text(&e)
        )
    })?;
    log::info!(
        "Successfully migrated an old-style AOF file ({name}) into the AOF directory ({}).",
        dir.display()
    );
    shared.aof.manifest = manifest;
    Ok(())
}

/// Opens the AOF for appending once its files are loaded (Redis's
/// aofOpenIfNeededOnServerStart): a new directory gets a base of the dataset first; the
/// last incr file (a new one if there is none) is opened and the manifest written.
pub fn finish_open(store: &mut Store, shared: &mut Shared, now: u64) -> Result<(), String> {
    let dir = create_dir(shared)?;
    let prefix = shared.params.settings.aof.filename.clone();
    if shared.aof.manifest.is_empty() {
        // A new AOF starts with a base of the dataset, written now.
        let base = shared
            .aof
            .manifest
            .next_base(&prefix, shared.params.settings.aof.rdb_preamble);
        let size = write_base_now(store, shared, &base, now)?;
        log::info!("Creating AOF base file {} on server start", base.name);
        shared.aof.manifest.base = Some(base);
        shared.aof.base_size = size;
    }
    let created = shared.aof.manifest.incr.is_empty();
    if created {
        shared.aof.manifest.add_incr(&prefix);
    }
    let name = shared
        .aof
        .manifest
        .incr
        .last()
        .expect("added above")
        .name
        .clone();
    let path = dir.join(&name);
    let file = open_append(&path, false)?;
    persist_manifest(shared, &shared.aof.manifest)?;
    let size = file_size(&path);
    use_file(shared, file, size);
    shared.aof.current_size = total_size(shared);
    if shared.aof.base_size == 0 {
        shared.aof.base_size = shared
            .aof
            .manifest
            .base
            .as_ref()
            .map_or(0, |b| file_size(&dir.join(&b.name)));
    }
    log::info!(
        "{} AOF incr file {name} on server start",
        if created { "Creating" } else { "Opening" }
    );
    shared.aof.on = true;
    start_helper(shared);
    shared.aof.last_fsync_ms = now;
    propagate::set_on(store, shared, true);
    publish(shared);
    Ok(())
}

fn total_size(shared: &Shared) -> u64 {
    let dir = dir(shared);
    let m = &shared.aof.manifest;
    m.base
        .iter()
        .chain(m.incr.iter())
        .map(|f| file_size(&dir.join(&f.name)))
        .sum()
}

/// The target of a base file in the AOF directory.
fn base_target(shared: &Shared, base: &AofFile) -> Target {
    let mut target = persistence::target(shared);
    let dir = dir(shared);
    target.path = dir.join(&base.name);
    target.temp = dir.join(format!("temp-rewriteaof-bg-{}.aof", std::process::id()));
    target.aof_base = true;
    // aof-use-rdb-preamble no: the base is commands (`.base.aof`), as Redis writes it.
    target.opts.resp = !base.name.ends_with(".rdb");
    target
}

/// Writes a base file of the dataset now, in the foreground. Returns its size.
fn write_base_now(
    store: &mut Store,
    shared: &mut Shared,
    base: &AofFile,
    now: u64,
) -> Result<u64, String> {
    persistence::start_snapshot(store, shared, &base_target(shared, base), now)?
        .run_to_end(store, now)
}

/// Writes what the turn recorded to the file, before the turn's replies go out (Redis's
/// flushAppendOnlyFile in beforeSleep); with `appendfsync always`, fsyncs it too.
#[inline]
pub fn write_pending(shared: &mut Shared) {
    if !shared.propagation.buf.is_empty() {
        write_pending_cold(shared);
    }
}

#[cold]
#[inline(never)]
fn write_pending_cold(shared: &mut Shared) {
    let Some(file) = shared.aof.file.clone() else {
        shared.propagation.buf.clear();
        return;
    };
    let buf = &shared.propagation.buf;
    let write_started = Instant::now();
    let written = (&*file).write_all(buf);
    let write_ms = write_started.elapsed().as_millis() as u64;
    // Redis's flushAppendOnlyFile samples the write under its circumstance and as a whole.
    let circumstance = if shared.aof.rewrite.is_some() {
        "aof-write-active-child"
    } else {
        "aof-write-alone"
    };
    super::latency::sample_if_needed(shared, circumstance, write_ms);
    super::latency::sample_if_needed(shared, "aof-write", write_ms);
    let buf = &shared.propagation.buf;
    match written {
        Ok(()) => {
            let n = buf.len() as u64;
            shared.aof.incr_size += n;
            shared.aof.current_size += n;
            shared.propagation.buf.clear();
            if shared.aof.last_write_error.take().is_some() {
                log::warn!("AOF write error looks solved, Redis can write again.");
            }
            if shared.params.settings.aof.fsync == Fsync::Always {
                let t0 = Instant::now();
                if let Err(e) = file.sync_data() {
                    // Redis exits: it cannot promise what it acknowledged.
                    log::error!(
                        "Can't persist the AOF (fsync error: {}) when the AOF fsync policy is 'always'. Exiting...",
                        io_text(&e)
                    );
                    std::process::exit(1);
                }
                let us = t0.elapsed().as_micros() as u64;
                set(&shared.stats.aof_last_fsync_us, us);
                super::latency::sample_if_needed(shared, "aof-fsync-always", us / 1000);
            } else {
                shared.aof.unsynced = true;
            }
        }
        Err(e) => {
            let text = io_text(&e);
            bump(&shared.stats.aof_write_errors, 1);
            if shared.params.settings.aof.fsync == Fsync::Always {
                log::error!(
                    "Can't recover from AOF write error when the AOF fsync policy is 'always'. Exiting..."
                );
                std::process::exit(1);
            }
            if shared.aof.last_write_error.is_none() {
                log::warn!("Error writing to the AOF file: {text}");
            }
            // Cut back what part of the buffer made it: it is written again whole.
            let _ = file.set_len(shared.aof.incr_size);
            shared.aof.last_write_error = Some(text);
        }
    }
}

/// The cron's part (Redis's serverCron and beforeSleep): the `everysec` fsync, retrying
/// a failed write, starting scheduled or automatic rewrites.
pub fn cron(store: &mut Store, shared: &mut Shared, now: u64) {
    if shared.aof.on {
        write_pending(shared);
        if shared.aof.unsynced
            && shared.params.settings.aof.fsync == Fsync::EverySec
            && now.saturating_sub(shared.aof.last_fsync_ms) >= 1000
        {
            request_fsync(shared);
            shared.aof.unsynced = false;
            shared.aof.last_fsync_ms = now;
        }
        // A big command's buffer is not kept for ever.
        if shared.propagation.buf.capacity() > 4 << 20 && shared.propagation.buf.is_empty() {
            shared.propagation.buf = Vec::new();
        }
    }
    if shared.aof.rewrite.is_none() && shared.persist.bgsave.is_none() {
        if shared.aof.waiting_to_start || shared.aof.rewrite_scheduled {
            let _ = start_rewrite(store, shared, now);
        } else if shared.aof.on && auto_rewrite_due(shared, now) {
            let a = &shared.aof;
            let growth = (a.current_size * 100 / a.base_size.max(1)).saturating_sub(100);
            log::info!("Starting automatic rewriting of AOF on {growth}% growth");
            let _ = start_rewrite(store, shared, now);
        }
    }
    publish(shared);
}

/// Redis's automatic rewrite: the file passed `auto-aof-rewrite-min-size` and grew by
/// `auto-aof-rewrite-percentage` over its size after the last rewrite. After a failure it
/// waits (Redis's aofRewriteLimited backs off up to an hour; one minute here).
fn auto_rewrite_due(shared: &Shared, now: u64) -> bool {
    let s = &shared.params.settings.aof;
    let a = &shared.aof;
    if s.auto_rewrite_percentage == 0 || a.current_size <= s.auto_rewrite_min_size {
        return false;
    }
    if a.consecutive_failures > 0 && now.saturating_sub(a.last_failure_ms) < 60_000 {
        return false;
    }
    let base = a.base_size.max(1);
    (a.current_size.saturating_sub(base)) * 100 / base >= s.auto_rewrite_percentage
}

/// Starts a rewrite: opens the next incr file (or, turning the AOF on, a temporary one)
/// and starts writing a new base of the dataset as it is now.
pub fn start_rewrite(store: &mut Store, shared: &mut Shared, now: u64) -> Result<(), String> {
    shared.aof.rewrite_scheduled = false;
    let result = begin_rewrite(store, shared, now);
    match &result {
        Ok(()) => log::info!("Background append only file rewriting started"),
        Err(e) => {
            log::warn!("{e}");
            rewrite_failed(shared, now);
        }
    }
    publish(shared);
    result
}

fn begin_rewrite(store: &mut Store, shared: &mut Shared, now: u64) -> Result<(), String> {
    let dir = create_dir(shared)?;
    let prefix = shared.params.settings.aof.filename.clone();
    let turning_on = shared.aof.waiting_to_start;
    let mut manifest = shared.aof.manifest.clone();
    let (first_incr, initial) = if turning_on {
        // Writes from now on go to a temporary incr file: the manifest must not list it
        // before a base exists under it.
        let temp = dir.join(format!("temp-{prefix}.incr"));
        let file = open_append(&temp, true)?;
        use_file(shared, file, 0);
        (manifest.last_incr_seq() + 1, Some(temp))
    } else if shared.aof.on {
        write_pending(shared);
        let name = manifest.add_incr(&prefix);
        let file = open_append(&dir.join(&name), true)?;
        persist_manifest(shared, &manifest)?;
        // The old file's fsync goes to the helper only now: started before, it made the
        // manifest's fsync on the loop wait behind tens of MB of data (9-14 ms).
        request_fsync(shared);
        log::info!("Creating AOF incr file {name} on background rewrite");
        shared.aof.manifest = manifest.clone();
        use_file(shared, file, 0);
        (manifest.last_incr_seq(), None)
    } else {
        // The AOF is off: only a new base (every incr file becomes history).
        (u64::MAX, None)
    };
    let base = manifest.next_base(&prefix, shared.params.settings.aof.rdb_preamble);
    let target = base_target(shared, &base);
    let snapshot = match persistence::start_snapshot(store, shared, &target, now) {
        Ok(s) => s,
        Err(e) => {
            if let Some(temp) = &initial {
                let _ = std::fs::remove_file(temp);
                shared.aof.file = None;
            }
            return Err(e);
        }
    };
    if turning_on {
        shared.aof.waiting_to_start = false;
        shared.aof.on = true;
        start_helper(shared);
        shared.aof.last_fsync_ms = now;
        propagate::set_on(store, shared, true);
    }
    shared.aof.rewrite = Some(Rewrite {
        snapshot,
        plan: Plan {
            base,
            first_incr,
            initial,
            started: Instant::now(),
        },
    });
    Ok(())
}

fn rewrite_failed(shared: &mut Shared, now: u64) {
    let a = &mut shared.aof;
    a.last_rewrite_failed = true;
    a.consecutive_failures += 1;
    a.last_failure_ms = now;
    bump(&shared.stats.aof_rewrite_failures, 1);
}

/// One event-loop turn of a rewrite (about [`persistence::STEP_BUDGET`] of work). Returns
/// true while there is more to do right away.
pub fn rewrite_step(store: &mut Store, shared: &mut Shared, now: u64) -> bool {
    let Some(rewrite) = shared.aof.rewrite.as_mut() else {
        return false;
    };
    match rewrite.snapshot.step(store, persistence::STEP_BUDGET, now) {
        Progress::Working => true,
        Progress::Waiting => false,
        Progress::Finished(result) => {
            let rewrite = shared.aof.rewrite.take().expect("checked above");
            complete(store, shared, rewrite.plan, result, now);
            false
        }
    }
}

/// Finishes a rewrite in progress now (SAVE, SHUTDOWN need the walk).
pub fn finish_rewrite_now(store: &mut Store, shared: &mut Shared, now: u64) {
    if let Some(Rewrite { snapshot, plan }) = shared.aof.rewrite.take() {
        let result = snapshot.run_to_end(store, now);
        complete(store, shared, plan, result, now);
    }
}

/// The books and the files once a rewrite's base is written (or failed to be).
fn complete(
    store: &mut Store,
    shared: &mut Shared,
    plan: Plan,
    result: Result<u64, String>,
    now: u64,
) {
    let Plan {
        base,
        first_incr,
        initial,
        started,
    } = plan;
    shared.aof.last_rewrite_secs = started.elapsed().as_secs() as i64;
    let outcome = result.and_then(|base_bytes| {
        let dir = dir(shared);
        let mut manifest = shared.aof.manifest.clone();
        let prefix = shared.params.settings.aof.filename.clone();
        if let Some(temp) = &initial {
            // The AOF was being turned on: its temporary incr file becomes the first one.
            let name = manifest.add_incr(&prefix);
            std::fs::rename(temp, dir.join(&name)).map_err(|e| {
                format!(
                    "Error trying to rename the temporary AOF file: {}",
                    io_text(&e)
                )
            })?;
        }
        manifest.complete_rewrite(base, first_incr);
        persist_manifest(shared, &manifest)?;
        let history = std::mem::take(&mut manifest.history);
        persist_manifest(shared, &manifest)?;
        // Deleted once no manifest lists them any more, and after the loop's last fsync:
        // freeing a big file's blocks meanwhile made that fsync wait 4-5 ms.
        for old in history {
            background(shared, Job::Delete(dir.join(&old.name)));
        }
        shared.aof.manifest = manifest;
        Ok(base_bytes)
    });
    match outcome {
        Ok(bytes) => {
            log::info!("Background AOF rewrite terminated with success");
            log::info!("Background AOF rewrite finished successfully");
            let a = &mut shared.aof;
            a.current_size = bytes + a.incr_size;
            a.base_size = a.current_size;
            a.rewrites += 1;
            a.consecutive_failures = 0;
            a.last_rewrite_failed = false;
            bump(&shared.stats.aof_rewrites, 1);
        }
        Err(e) => {
            log::warn!("{e}");
            log::warn!("Background AOF rewrite failed");
            rewrite_failed(shared, now);
            if let Some(temp) = initial {
                // Turning on failed: stop writing, try again from the cron.
                let _ = std::fs::remove_file(temp);
                shared.aof.file = None;
                shared.aof.on = false;
                shared.aof.waiting_to_start = true;
                propagate::set_on(store, shared, false);
            }
        }
    }
    publish(shared);
}

/// `CONFIG SET appendonly yes`: starts the rewrite that creates the AOF (or schedules it
/// behind a background save), as Redis's startAppendOnly.
pub fn turn_on(store: &mut Store, shared: &mut Shared, now: u64) -> Result<(), String> {
    if shared.aof.on || shared.aof.waiting_to_start {
        return Ok(());
    }
    shared.aof.waiting_to_start = true;
    if shared.loading.is_some() {
        // The dataset is not all there yet: the cron starts the rewrite once it is.
        return Ok(());
    }
    if shared.persist.bgsave.is_some() {
        log::warn!(
            "AOF was enabled but there is already another background operation. An AOF background was scheduled to start when possible."
        );
        return Ok(());
    }
    if shared.aof.rewrite.is_some() {
        log::warn!(
            "AOF was enabled but there is already an AOF rewriting in background. Stopping background AOF and starting a rewrite now."
        );
        abort_rewrite(store, shared);
    }
    start_rewrite(store, shared, now).map_err(|_| {
        shared.aof.waiting_to_start = false;
        "Unable to turn on AOF. Check server logs.".to_string()
    })
}

/// `CONFIG SET appendonly no`: writes and fsyncs what is pending, closes the file and
/// stops recording (Redis's stopAppendOnly).
pub fn turn_off(store: &mut Store, shared: &mut Shared) {
    flush_and_sync(shared);
    abort_rewrite(store, shared);
    shared.aof.on = false;
    shared.aof.waiting_to_start = false;
    shared.aof.file = None;
    propagate::set_on(store, shared, false);
    publish(shared);
}

fn abort_rewrite(store: &mut Store, shared: &mut Shared) {
    if let Some(rewrite) = shared.aof.rewrite.take() {
        let _ = rewrite.snapshot.abort(store);
        if let Some(temp) = rewrite.plan.initial {
            let _ = std::fs::remove_file(temp);
            shared.aof.file = None;
            shared.aof.on = false;
            propagate::set_on(store, shared, false);
        }
        log::warn!("Background AOF rewrite aborted");
    }
}

/// Writes what is pending and fsyncs the file, on the event loop (shutdown, turning off).
pub fn flush_and_sync(shared: &mut Shared) {
    write_pending(shared);
    if let Some(file) = &shared.aof.file
        && let Err(e) = file.sync_data()
    {
        log::warn!("Error fsyncing the append-only file: {}", io_text(&e));
    }
}

/// At shutdown: as Redis's prepareForShutdown, an AOF still being created stops the
/// shutdown (unless forced: `force`); a running rewrite is abandoned; the file is flushed
/// and fsynced. Returns false when the shutdown must not happen.
pub fn prepare_shutdown(store: &mut Store, shared: &mut Shared, force: bool) -> bool {
    if shared
        .aof
        .rewrite
        .as_ref()
        .is_some_and(|r| r.plan.initial.is_some())
    {
        if !force {
            log::warn!("Writing initial AOF, can't exit.");
            return false;
        }
        log::warn!("Writing initial AOF. Exit anyway.");
    }
    if shared.aof.rewrite.is_some() {
        log::warn!("There is a child rewriting the AOF. Killing it!");
        abort_rewrite(store, shared);
    }
    if shared.aof.on {
        log::info!("Calling fsync() on the AOF file.");
        flush_and_sync(shared);
    }
    true
}

fn bgrewriteaof(ctx: &mut Ctx, _args: Args) {
    if ctx.shared.aof.rewrite.is_some() {
        ctx.error("ERR Background append only file rewriting already in progress");
    } else if ctx.shared.persist.bgsave.is_some() || ctx.shared.in_exec {
        ctx.shared.aof.rewrite_scheduled = true;
        ctx.shared.aof.consecutive_failures = 0;
        ctx.out
            .simple("Background append only file rewriting scheduled");
    } else if start_rewrite(ctx.store, ctx.shared, ctx.now).is_ok() {
        ctx.out
            .simple("Background append only file rewriting started");
    } else {
        ctx.error("ERR Can't execute an AOF background rewriting. Please check the server logs for more information.");
    }
}

/// INFO persistence's AOF fields, in Redis's order (the ones after
/// `aof_rewrite_in_progress` up to `aof_last_cow_size`, then the size fields when on).
pub fn info_fields(shared: &Shared) -> Vec<(&'static str, String)> {
    let a = &shared.aof;
    let enabled = a.enabled();
    let mut f = vec![
        ("aof_enabled", u8::from(enabled).to_string()),
        (
            "aof_rewrite_in_progress",
            u8::from(a.rewrite.is_some()).to_string(),
        ),
        (
            "aof_rewrite_scheduled",
            u8::from(a.rewrite_scheduled || a.waiting_to_start && a.rewrite.is_none()).to_string(),
        ),
        ("aof_last_rewrite_time_sec", a.last_rewrite_secs.to_string()),
        (
            "aof_current_rewrite_time_sec",
            a.rewrite
                .as_ref()
                .map_or(-1, |r| r.plan.started.elapsed().as_secs() as i64)
                .to_string(),
        ),
        (
            "aof_last_bgrewrite_status",
            if a.last_rewrite_failed { "err" } else { "ok" }.to_string(),
        ),
        ("aof_rewrites", a.rewrites.to_string()),
        (
            "aof_rewrites_consecutive_failures",
            a.consecutive_failures.to_string(),
        ),
        (
            "aof_last_write_status",
            if a.last_write_error.is_some() {
                "err"
            } else {
                "ok"
            }
            .to_string(),
        ),
        ("aof_last_cow_size", "0".to_string()),
        ("module_fork_in_progress", "0".to_string()),
        ("module_fork_last_cow_size", "0".to_string()),
    ];
    if enabled {
        f.extend([
            ("aof_current_size", a.current_size.to_string()),
            ("aof_base_size", a.base_size.to_string()),
            (
                "aof_pending_rewrite",
                u8::from(a.rewrite_scheduled).to_string(),
            ),
            (
                "aof_buffer_length",
                shared.propagation.buf.len().to_string(),
            ),
            ("aof_pending_bio_fsync", "0".to_string()),
            ("aof_delayed_fsync", "0".to_string()),
        ]);
    }
    f
}
