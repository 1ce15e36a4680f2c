//! A minimal logger for the `log` facade: `<time> <LEVEL> <message>`, to stderr, or
//! appended to Redis's `logfile` when one is set.

use std::io::Write;
use std::path::PathBuf;
use std::sync::RwLock;

use log::{LevelFilter, Log, Metadata, Record};

struct Logger;

/// The log file, when `logfile` names one.
static FILE: RwLock<Option<PathBuf>> = RwLock::new(None);

impl Log for Logger {
    fn enabled(&self, metadata: &Metadata) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let ms = crate::util::now_ms();
        let line = format!(
            "{}.{:03} {:<5} {}\n",
            ms / 1000,
            ms % 1000,
            record.level(),
            record.args()
        );
        let file = FILE.read().unwrap_or_else(|e| e.into_inner());
        match file.as_ref() {
            // Opened for each line, as Redis does, so that a rotated file is followed.
            // A failure has nowhere better to be reported.
            Some(path) => {
                if let Ok(mut f) = std::fs::OpenOptions::new()
                    .append(true)
                    .create(true)
                    .open(path)
                {
                    let _ = f.write_all(line.as_bytes());
                }
            }
            None => {
                let _ = std::io::stderr().write_all(line.as_bytes());
            }
        }
    }

    fn flush(&self) {}
}

static LOGGER: Logger = Logger;

/// Installs the logger at `level`. Later calls only change the level.
pub fn init(level: LevelFilter) {
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(level);
}

/// Logs to the file at `path` from now on (None: back to stderr).
pub fn set_file(path: Option<PathBuf>) {
    *FILE.write().unwrap_or_else(|e| e.into_inner()) = path;
}
