//! Point-in-time RDB snapshots taken by the event loop in steps, without fork (see
//! ARCHITECTURE.md, "Design: persistence").
//!
//! [`DbSnapshot`] is the part each database keeps while a snapshot runs: how far the walk
//! over its table got, the keys it must not write again, and the records of keys saved
//! early because they were about to change. [`Snapshot`] drives the walk over all
//! databases and hands the bytes to a writer thread ([`FileWriter`]).

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, TrySendError, sync_channel};
use std::time::{Duration, Instant};

use super::save::{Marker, Options, RdbWriter};
use crate::store::Store;
use crate::store::evict;

/// Bytes gathered before a chunk goes to the writer thread.
const CHUNK: usize = 64 * 1024;
/// Chunks the channel to the writer holds: at most this much output waits in memory.
const CHANNEL_CHUNKS: usize = 16;
/// Table slots walked between checks of the step's time budget.
const STEP_SLOTS: usize = 1024;

/// The snapshot state one database keeps while a snapshot runs.
#[derive(Debug)]
pub struct DbSnapshot {
    /// The next table slot the walk visits.
    pub cursor: usize,
    /// The walk has visited every bucket.
    pub done: bool,
    /// One bit per table slot the walk must skip: its key was saved early, or created
    /// after the snapshot started. Slot numbers hold still while a walk runs (the table
    /// neither grows nor rehashes under it), so a bit is as good as the key's name, and
    /// checking it needs no second hash of the key. Sized by [`DbSnapshot::size_for`].
    handled: Vec<u64>,
    /// Records of keys saved early, waiting to go out in this database's section.
    pub early: Vec<u8>,
    /// How values are written.
    pub opts: Options,
    /// Commands that may write are running: lookups count as changes.
    pub writing: bool,
    /// Which eviction marker goes before each key.
    pub markers: Markers,
}

/// The eviction markers a snapshot writes before keys, as Redis's rdbSaveKeyValuePair: the
/// idle time under an LRU policy, the LFU counter under an LFU policy, nothing otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Markers {
    /// No markers.
    None,
    /// IDLE (seconds since last access).
    Lru,
    /// FREQ (the counter, decayed as of the save).
    Lfu {
        /// `lfu-decay-time`.
        decay_minutes: u32,
    },
}

impl Markers {
    /// The marker for a key with access metadata `access`.
    pub fn marker(self, access: u64, now: u64) -> Marker {
        match self {
            Markers::None => Marker::None,
            Markers::Lru => Marker::IdleSecs(evict::lru_idle_ms(access, now) / 1000),
            Markers::Lfu { decay_minutes } => {
                Marker::Freq(evict::lfu_decayed(access, now, decay_minutes))
            }
        }
    }
}

impl DbSnapshot {
    /// A snapshot of a database that has not been walked yet.
    pub fn new(opts: Options, markers: Markers) -> DbSnapshot {
        DbSnapshot {
            cursor: 0,
            done: false,
            handled: Vec::new(),
            early: Vec::new(),
            opts,
            writing: true,
            markers,
        }
    }

    /// True when the walk has passed table slot `slot`.
    pub fn visited(&self, slot: usize) -> bool {
        self.done || slot < self.cursor
    }

    /// Makes room for a bit per slot of a table of `slots` slots, all clear.
    pub fn size_for(&mut self, slots: usize) {
        self.handled.clear();
        self.handled.resize(slots.div_ceil(64), 0);
    }

    /// True when the walk must skip slot `slot`.
    #[inline]
    pub fn is_handled(&self, slot: usize) -> bool {
        self.handled
            .get(slot / 64)
            .is_some_and(|w| w & (1 << (slot % 64)) != 0)
    }

    /// The walk must skip slot `slot`: its key was saved early, or created since the start.
    #[inline]
    pub fn mark_handled(&mut self, slot: usize) {
        if let Some(w) = self.handled.get_mut(slot / 64) {
            *w |= 1 << (slot % 64);
        }
    }
}

/// Where a snapshot is written and what it says about itself.
#[derive(Debug, Clone)]
pub struct Target {
    /// The file to create (relative to the working directory, which `dir` sets).
    pub path: PathBuf,
    /// The temporary file written first, then renamed.
    pub temp: PathBuf,
    /// String options.
    pub opts: Options,
    /// Write the CRC64 (`rdbchecksum`); otherwise 0.
    pub checksum: bool,
    /// Eviction markers before keys.
    pub markers: Markers,
    /// The file is an append-only file's base (its `aof-base` aux field says so).
    pub aof_base: bool,
}

/// What the writer thread is told.
enum Msg {
    Data(Vec<u8>),
    /// The last bytes: fsync and rename.
    Done,
}

/// The thread that writes a snapshot's bytes to disk: the event loop never waits for the
/// disk while a background save runs.
struct FileWriter {
    tx: SyncSender<Msg>,
    result: Receiver<Result<u64, String>>,
}

impl FileWriter {
    fn start(target: &Target) -> Result<FileWriter, String> {
        let file = File::create(&target.temp).map_err(|e| {
            format!(
                "Failed opening the temp RDB file {} (in server root dir {}) for saving: {}",
                target.temp.display(),
                std::env::current_dir().unwrap_or_default().display(),
                crate::util::os_error_text(&e)
            )
        })?;
        let (tx, rx) = sync_channel::<Msg>(CHANNEL_CHUNKS);
        let (result_tx, result) = sync_channel(1);
        let (temp, path) = (target.temp.clone(), target.path.clone());
        std::thread::Builder::new()
            .name("keyval-rdb".into())
            .spawn(move || {
                let outcome = write_file(file, &rx, &temp, &path);
                if outcome.is_err() {
                    let _ = std::fs::remove_file(&temp);
                }
                let _ = result_tx.send(outcome);
            })
            .map_err(|e| format!("Can't start the RDB writer thread: {e}"))?;
        Ok(FileWriter { tx, result })
    }
}

/// The writer thread's work: append every chunk, then fsync, rename and fsync the
/// directory (so the rename itself survives a crash). Returns the file's size.
fn write_file(mut file: File, rx: &Receiver<Msg>, temp: &Path, path: &Path) -> Result<u64, String> {
    let mut size = 0u64;
    let fail = |e: std::io::Error| {
        format!(
            "Write error saving DB on disk: {}",
            crate::util::os_error_text(&e)
        )
    };
    loop {
        match rx.recv() {
            Ok(Msg::Data(bytes)) => {
                file.write_all(&bytes).map_err(fail)?;
                size += bytes.len() as u64;
            }
            Ok(Msg::Done) => break,
            // The event loop dropped the snapshot (aborted): leave no file behind.
            Err(_) => return Err("Background save aborted".into()),
        }
    }
    file.sync_all().map_err(fail)?;
    drop(file);
    std::fs::rename(temp, path).map_err(|e| {
        format!(
            "Error moving temp DB file {} on the final destination {} (in server root dir {}): {}",
            temp.display(),
            path.display(),
            std::env::current_dir().unwrap_or_default().display(),
            crate::util::os_error_text(&e)
        )
    })?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(size)
}

/// A snapshot in progress.
pub struct Snapshot {
    writer: Option<RdbWriter>,
    file: FileWriter,
    /// Databases to write (non-empty at the start), with their sizes then.
    dbs: Vec<(usize, usize, usize)>,
    /// Index into `dbs` of the one being walked; its header is out once `started`.
    at: usize,
    started: bool,
    /// A chunk the channel had no room for.
    pending: Option<Vec<u8>>,
    /// All bytes were produced (the last may still be `pending`).
    sent_all: bool,
    /// The writer was told to finish.
    done_sent: bool,
    /// Write the CRC64 trailer.
    checksum: bool,
    /// When it started (ms since the epoch) and the store's change count then.
    pub start_ms: u64,
    /// The store's change counter when the snapshot started.
    pub dirty_at_start: u64,
    /// When it started, for its duration.
    pub start: Instant,
}

/// How a step left the snapshot.
#[derive(Debug, PartialEq, Eq)]
pub enum Progress {
    /// More to do now.
    Working,
    /// Waiting for the disk (the channel is full) or for the writer to finish.
    Waiting,
    /// Finished: the file's size, or why it failed.
    Finished(Result<u64, String>),
}

impl Snapshot {
    /// Starts a snapshot of `store`: the header, aux fields and function libraries are
    /// written now; every non-empty database starts tracking changes.
    pub fn start(
        store: &mut Store,
        target: &Target,
        functions: &[u8],
        now_ms: u64,
        used_mem: u64,
    ) -> Result<Snapshot, String> {
        let file = FileWriter::start(target)?;
        let mut writer = RdbWriter::new(target.opts, now_ms / 1000, used_mem, target.aof_base);
        writer.functions(functions);
        let mut dbs = Vec::new();
        for i in 0..store.dbs().len() {
            let db = store.db(i);
            if !db.is_empty() {
                dbs.push((i, db.len(), db.expires()));
                db.start_snapshot(DbSnapshot::new(target.opts, target.markers));
            }
        }
        Ok(Snapshot {
            writer: Some(writer),
            file,
            dbs,
            at: 0,
            started: false,
            pending: None,
            sent_all: false,
            done_sent: false,
            checksum: target.checksum,
            start_ms: now_ms,
            dirty_at_start: store.dirty(),
            start: Instant::now(),
        })
    }

    /// Serializes keys for about `budget`, handing full chunks to the writer thread.
    pub fn step(&mut self, store: &mut Store, budget: Duration, now: u64) -> Progress {
        let t0 = Instant::now();
        loop {
            if let Some(chunk) = self.pending.take()
                && !self.send(chunk)
            {
                return self.poll_result();
            }
            if self.sent_all {
                if !self.done_sent {
                    match self.file.tx.try_send(Msg::Done) {
                        Ok(()) => self.done_sent = true,
                        Err(TrySendError::Full(_)) => return Progress::Waiting,
                        Err(TrySendError::Disconnected(_)) => self.done_sent = true,
                    }
                }
                return self.poll_result();
            }
            let writer = self.writer.as_mut().expect("a writer until all is sent");
            if let Some(&(index, keys, expires)) = self.dbs.get(self.at) {
                if !self.started {
                    writer.select_db(index, keys, expires);
                    self.started = true;
                }
                let db = store.db(index);
                if db.snapshot_step(STEP_SLOTS, &mut writer.buf, now) {
                    db.end_snapshot();
                    self.at += 1;
                    self.started = false;
                }
            } else {
                // Every database is out: the trailer, then the last chunk.
                let tail = self
                    .writer
                    .take()
                    .expect("checked above")
                    .finish(self.checksum);
                self.sent_all = true;
                self.pending = Some(tail);
                continue;
            }
            if writer.buf.len() >= CHUNK {
                let chunk = writer.take();
                self.pending = Some(chunk);
                continue;
            }
            if t0.elapsed() >= budget {
                return Progress::Working;
            }
        }
    }

    /// Offers a chunk to the writer; keeps it for later when the channel is full. False
    /// when it could not go (full, or the writer failed: then nothing more is sent).
    fn send(&mut self, chunk: Vec<u8>) -> bool {
        match self.file.tx.try_send(Msg::Data(chunk)) {
            Ok(()) => true,
            Err(TrySendError::Full(Msg::Data(c))) => {
                self.pending = Some(c);
                false
            }
            Err(_) => {
                self.sent_all = true;
                self.done_sent = true;
                false
            }
        }
    }

    fn poll_result(&mut self) -> Progress {
        match self.file.result.try_recv() {
            Ok(r) => Progress::Finished(r),
            Err(TryRecvError::Empty) => Progress::Waiting,
            Err(TryRecvError::Disconnected) => {
                Progress::Finished(Err("the RDB writer thread stopped".into()))
            }
        }
    }

    /// Runs the snapshot to the end (SAVE, SHUTDOWN): walks everything, waiting for the
    /// disk when it is behind, then for the file to be renamed into place.
    pub fn run_to_end(mut self, store: &mut Store, now: u64) -> Result<u64, String> {
        loop {
            match self.step(store, Duration::from_secs(3600), now) {
                Progress::Finished(r) => return r,
                Progress::Working => {}
                Progress::Waiting => {
                    if let Some(chunk) = self.pending.take() {
                        let _ = self.file.tx.send(Msg::Data(chunk));
                    } else if self.sent_all && !self.done_sent {
                        let _ = self.file.tx.send(Msg::Done);
                        self.done_sent = true;
                    } else if self.done_sent {
                        return self
                            .file
                            .result
                            .recv()
                            .unwrap_or_else(|_| Err("the RDB writer thread stopped".into()));
                    }
                }
            }
        }
    }

    /// Stops tracking changes and drops the writer (which deletes the temporary file).
    pub fn abort(self, store: &mut Store) -> Result<u64, String> {
        for &(i, ..) in &self.dbs {
            store.db(i).end_snapshot();
        }
        Err("Background save aborted".into())
    }
}
