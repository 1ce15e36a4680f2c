//! A minimal stderr logger for the `log` facade: `<time> <LEVEL> <message>`.

use std::io::Write;

use log::{LevelFilter, Log, Metadata, Record};

struct StderrLogger;

impl Log for StderrLogger {
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
        // A failed write to stderr has nowhere better to be reported.
        let _ = std::io::stderr().write_all(line.as_bytes());
    }

    fn flush(&self) {}
}

static LOGGER: StderrLogger = StderrLogger;

/// Installs the stderr logger at `level`. Later calls only change the level.
pub fn init(level: LevelFilter) {
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(level);
}
