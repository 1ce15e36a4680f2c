//! Loading the dataset at start while the server already answers: clients get Redis's
//! `-LOADING` (commands flagged `loading`, such as INFO, still run), as redis-server does
//! while it loads.
//!
//! An RDB file (a snapshot, or an append-only file's base) is parsed on a helper thread,
//! which hands batches of finished keys to the event loop; the loop inserts them for about
//! a millisecond per turn (the keyspace keeps its one owner). The commands of an
//! append-only file run on the loop, a millisecond's worth per turn, through a client of
//! their own, as Redis's loader runs them.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, RecvTimeoutError, sync_channel};
use std::time::{Duration, Instant};

use super::persistence::{Loaded, apply_item};
use super::{Client, Ctx, Shared, table};
use crate::persist::aof::{Read, read_command};
use crate::persist::load::Item;
use crate::resp::{Args, Reply};
use crate::store::Store;

/// Redis's reply to commands that cannot run while the dataset loads.
pub const LOADING_ERROR: &str = "LOADING Redis is loading the dataset in memory";

/// Keys per batch sent by the parser thread.
const BATCH: usize = 512;
/// Batches the parser may run ahead of the loop.
const BATCHES_AHEAD: usize = 16;
/// Loop time per turn.
const STEP: Duration = Duration::from_millis(2);

/// What the parser thread sends.
enum Msg {
    Items(Vec<Item>),
    /// The end of the file: fine (with the commands after the RDB image of an old-style
    /// AOF, if any), or why it could not be read.
    Done(Result<Vec<u8>, String>),
}

/// What a file to load is.
#[derive(Debug, Clone)]
pub struct File {
    /// Its path.
    pub path: PathBuf,
    /// How Redis's messages call it ("RDB", "base", "incr").
    pub kind: &'static str,
}

/// A file of commands being run.
struct Commands {
    data: Vec<u8>,
    pos: usize,
    /// Where `data` starts in the file (after an RDB preamble).
    offset: usize,
    path: PathBuf,
    /// The file's name, for messages.
    name: String,
    last_file: bool,
    client: Client,
    out: Reply,
    valid_up_to: usize,
    before_multi: usize,
}

impl Commands {
    /// The phase that runs `data`, which starts at `offset` in the file at `path`.
    fn start(
        data: Vec<u8>,
        offset: usize,
        path: &std::path::Path,
        last_file: bool,
        now: u64,
    ) -> Phase {
        Phase::Commands(Box::new(Commands {
            data,
            pos: 0,
            offset,
            path: path.to_path_buf(),
            name: file_name(path),
            last_file,
            client: Client::new(0, true, now),
            out: Reply::new(),
            valid_up_to: 0,
            before_multi: 0,
        }))
    }
}

fn file_name(path: &std::path::Path) -> String {
    path.file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
}

enum Phase {
    /// An RDB file being parsed by the helper thread.
    Rdb { rx: Receiver<Msg> },
    /// Commands being run.
    Commands(Box<Commands>),
}

/// The load in progress (INFO's `loading:1` and its `loading_*` fields).
pub struct Loading {
    /// When it started (seconds since the epoch).
    pub start_secs: u64,
    started: Instant,
    /// Size of all its files.
    pub total_bytes: u64,
    /// Size of the files finished, plus the progress of the current one.
    pub loaded_bytes: u64,
    /// The file in progress, and its size.
    current: Option<(File, u64, Instant)>,
    phase: Option<Phase>,
    /// Files still to load, in order.
    files: VecDeque<File>,
    /// Loading an append-only file (it is opened for appending once loaded).
    pub aof: bool,
    /// Keys loaded and skipped so far (RDB parts).
    pub counts: Loaded,
}

impl Loading {
    /// A load of `files`, in order (`aof`: an append-only file's base and incr files).
    pub fn new(files: Vec<File>, aof: bool, now: u64) -> Loading {
        let total_bytes = files
            .iter()
            .map(|f| std::fs::metadata(&f.path).map_or(0, |m| m.len()))
            .sum();
        Loading {
            start_secs: now / 1000,
            started: Instant::now(),
            total_bytes,
            loaded_bytes: 0,
            current: None,
            phase: None,
            files: files.into(),
            aof,
            counts: Loaded::default(),
        }
    }

    /// Seconds since it started.
    pub fn elapsed_secs(&self) -> u64 {
        self.started.elapsed().as_secs()
    }
}

/// Reads a whole file, with Redis's wording for failures.
fn read(path: &PathBuf) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| {
        format!(
            "Fatal error: can't open {} for reading: {}",
            path.display(),
            crate::util::os_error_text(&e)
        )
    })
}

/// Starts the parser thread of an RDB image.
fn start_parser(
    data: Vec<u8>,
    databases: usize,
    limits: crate::store::Limits,
    keep_tail: bool,
) -> Result<Receiver<Msg>, String> {
    let (tx, rx) = sync_channel::<Msg>(BATCHES_AHEAD);
    std::thread::Builder::new()
        .name("keyval-load".into())
        .spawn(move || {
            let mut batch = Vec::with_capacity(BATCH);
            let result = crate::persist::load::load_rdb(&data, databases, &limits, |item| {
                batch.push(item);
                if batch.len() == BATCH {
                    let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                    // The loop stopped listening: it has given up on the load.
                    tx.send(Msg::Items(full)).map_err(|_| {
                        crate::persist::load::LoadError::Corrupt("loading abandoned".into())
                    })?;
                }
                Ok(())
            });
            if !batch.is_empty() && result.is_ok() {
                let _ = tx.send(Msg::Items(batch));
            }
            let outcome = result
                .map(|end| {
                    if keep_tail {
                        data[end..].to_vec()
                    } else {
                        Vec::new()
                    }
                })
                .map_err(|e| e.to_string());
            let _ = tx.send(Msg::Done(outcome));
        })
        .map_err(|e| format!("Can't start the loading thread: {e}"))?;
    Ok(rx)
}

/// Opens the next file: an RDB image goes to the parser thread, commands to the loop.
fn open_next(loading: &mut Loading, shared: &Shared, now: u64) -> Result<bool, String> {
    let Some(file) = loading.files.pop_front() else {
        return Ok(false);
    };
    let data = read(&file.path)?;
    let size = data.len() as u64;
    let name = file_name(&file.path);
    // A snapshot is an RDB whatever it holds (an empty or foreign file is an error); an
    // AOF file is an RDB when it says so.
    if !loading.aof || data.starts_with(b"REDIS") {
        if loading.aof {
            log::info!("Reading RDB base file on AOF loading...");
        }
        let databases = shared.config.databases as usize;
        // A Redis 6 `appendonly.aof` may go on with commands after its RDB preamble.
        let old_style = loading.aof && name == shared.params.settings.aof.filename;
        let rx = start_parser(data, databases, shared.params.settings.limits, old_style)?;
        loading.phase = Some(Phase::Rdb { rx });
    } else {
        let last_file = loading.files.is_empty();
        loading.phase = Some(Commands::start(data, 0, &file.path, last_file, now));
    }
    loading.current = Some((file, size, Instant::now()));
    Ok(true)
}

/// One event-loop turn of the load: about [`STEP`] of work. Returns Ok(true) while it is
/// not finished; an error is fatal (the server must not run with part of its data).
pub fn step(store: &mut Store, shared: &mut Shared, now: u64) -> Result<bool, String> {
    let Some(mut loading) = shared.loading.take() else {
        return Ok(false);
    };
    let result = step_inner(&mut loading, store, shared, now);
    match result {
        Ok(true) => {
            shared.loading = Some(loading);
            Ok(true)
        }
        Ok(false) => {
            finished(&loading, store, shared);
            if loading.aof {
                super::aof::finish_open(store, shared, now)?;
            }
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

fn step_inner(
    loading: &mut Loading,
    store: &mut Store,
    shared: &mut Shared,
    now: u64,
) -> Result<bool, String> {
    let deadline = Instant::now() + STEP;
    loop {
        if loading.phase.is_none() && !open_next(loading, shared, now)? {
            return Ok(false);
        }
        let done = match loading.phase.as_mut().expect("opened above") {
            Phase::Rdb { rx } => {
                let wait = deadline.saturating_duration_since(Instant::now());
                match rx.recv_timeout(wait) {
                    Ok(Msg::Items(items)) => {
                        for item in items {
                            apply_item(store, shared, item, now, &mut loading.counts)?;
                        }
                        false
                    }
                    Ok(Msg::Done(Ok(tail))) if tail.is_empty() => true,
                    Ok(Msg::Done(Ok(tail))) => {
                        log::info!("Reading the remaining AOF tail...");
                        let (file, size, _) = loading.current.as_ref().expect("a file is open");
                        let offset = *size as usize - tail.len();
                        let last_file = loading.files.is_empty();
                        let phase = Commands::start(tail, offset, &file.path, last_file, now);
                        loading.phase = Some(phase);
                        continue;
                    }
                    Ok(Msg::Done(Err(e))) => {
                        let (file, _, _) = loading.current.as_ref().expect("a file is open");
                        let path = file.path.display();
                        return Err(if loading.aof {
                            format!(
                                "Error reading the RDB base file {path}, AOF loading aborted: {e}"
                            )
                        } else {
                            format!(
                                "Error loading {path}: {e}. Refusing to start: the file must be \
                                 repaired (redis-check-rdb) or moved away."
                            )
                        });
                    }
                    Err(RecvTimeoutError::Timeout) => return Ok(true),
                    Err(RecvTimeoutError::Disconnected) => {
                        return Err("the loading thread stopped".into());
                    }
                }
            }
            Phase::Commands(c) => run_commands(c, store, shared, now, deadline)?,
        };
        if done {
            loading.phase = None;
            if let Some((file, size, t0)) = loading.current.take() {
                loading.loaded_bytes += size;
                log::info!(
                    "DB loaded from {} file {}: {:.3} seconds",
                    file.kind,
                    file.path.display(),
                    t0.elapsed().as_secs_f64()
                );
            }
        }
        if Instant::now() >= deadline {
            return Ok(true);
        }
    }
}

/// Runs commands of an AOF file until `deadline`. Returns true when the file is done. A
/// command cut short at the end (a torn write), or a MULTI without its EXEC, is dropped
/// and the file truncated before it when `aof-load-truncated` is on and this is the last
/// file; anything else malformed stops the start (Redis's loadSingleAppendOnlyFile).
fn run_commands(
    c: &mut Commands,
    store: &mut Store,
    shared: &mut Shared,
    now: u64,
    deadline: Instant,
) -> Result<bool, String> {
    let name = c.name.clone();
    let mut n = 0u32;
    let cut = loop {
        n += 1;
        if n.is_multiple_of(64) && Instant::now() >= deadline {
            return Ok(false);
        }
        match read_command(&c.data, c.pos) {
            Err(e) => {
                return Err(format!(
                    "{e} of {name}: make a backup of your AOF file, then use \
                     redis-check-aof --fix <filename.manifest>"
                ));
            }
            Ok(Read::End) => {
                if c.client.multi.is_some() {
                    log::warn!("Revert incomplete MULTI/EXEC transaction in AOF file {name}");
                    break Some(c.before_multi);
                }
                break None;
            }
            Ok(Read::Truncated) => {
                break Some(if c.client.multi.is_some() {
                    c.before_multi
                } else {
                    c.valid_up_to
                });
            }
            Ok(Read::Command(spans, next)) => {
                let args = Args::new(&c.data, &spans);
                let Some(id) = table().lookup(args.get(0)) else {
                    return Err(format!(
                        "Unknown command '{}' reading the append only file {name}",
                        String::from_utf8_lossy(args.get(0))
                    ));
                };
                if table().get(id).name == "multi" {
                    c.before_multi = c.valid_up_to;
                }
                // As EXEC runs its commands: nothing blocks, waits for a pause, or is
                // refused for memory or for the load itself.
                shared.in_exec = true;
                let mut ctx = Ctx {
                    store,
                    client: &mut c.client,
                    out: &mut c.out,
                    shared,
                    now,
                };
                super::execute(&mut ctx, args);
                shared.in_exec = false;
                shared.request = None;
                c.out.truncate(0);
                c.pos = next;
                c.valid_up_to = next;
            }
        }
    };
    let Some(cut) = cut else {
        return Ok(true);
    };
    if !shared.params.settings.aof.load_truncated || !c.last_file {
        let why = if c.last_file {
            "Unexpected end of file reading the append only file"
        } else {
            "Fatal error: the truncated file is not the last file"
        };
        return Err(format!(
            "{why} {name}. You can: 1) Make a backup of your AOF file, then use \
             redis-check-aof --fix <filename.manifest>. 2) Alternatively you can set the \
             'aof-load-truncated' configuration option to yes and restart the server."
        ));
    }
    log::warn!("!!! Warning: short read while loading the AOF file {name}!!!");
    log::warn!(
        "!!! Truncating the AOF {name} at offset {} !!!",
        c.offset + cut
    );
    std::fs::OpenOptions::new()
        .write(true)
        .open(&c.path)
        .and_then(|f| f.set_len((c.offset + cut) as u64))
        .map_err(|e| {
            format!(
                "Error truncating the AOF file {name}: {}",
                crate::util::os_error_text(&e)
            )
        })?;
    log::warn!("AOF {name} loaded anyway because aof-load-truncated is enabled");
    Ok(true)
}

/// The books once everything is loaded.
fn finished(loading: &Loading, store: &mut Store, shared: &mut Shared) {
    let secs = loading.started.elapsed().as_secs_f64();
    let p = &mut shared.persist;
    p.loaded_keys = loading.counts.keys;
    p.loaded_expired = loading.counts.expired;
    if loading.aof {
        log::info!("DB loaded from append only file: {secs:.3} seconds");
    } else {
        log::info!(
            "Done loading RDB, keys loaded: {}, keys expired: {}.",
            loading.counts.keys,
            loading.counts.expired
        );
        log::info!("DB loaded from disk: {secs:.3} seconds");
    }
    // Loading is not a change to save again.
    p.dirty_at_save = store.dirty();
}

/// INFO persistence's loading fields while a load runs (after `loading:1`).
pub fn info_fields(loading: &Loading) -> Vec<(&'static str, String)> {
    let loaded = loading.loaded_bytes.min(loading.total_bytes);
    let perc = if loading.total_bytes == 0 {
        0.0
    } else {
        loaded as f64 * 100.0 / loading.total_bytes as f64
    };
    let elapsed = loading.started.elapsed().as_secs_f64();
    let eta = if loaded == 0 {
        1
    } else {
        ((loading.total_bytes - loaded) as f64 * elapsed / loaded as f64) as u64
    };
    vec![
        ("loading_start_time", loading.start_secs.to_string()),
        ("loading_total_bytes", loading.total_bytes.to_string()),
        ("loading_rdb_used_mem", "0".to_string()),
        ("loading_loaded_bytes", loaded.to_string()),
        ("loading_loaded_perc", format!("{perc:.2}")),
        ("loading_eta_seconds", eta.to_string()),
    ]
}
