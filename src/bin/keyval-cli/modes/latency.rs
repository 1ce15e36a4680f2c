//! `--latency` and `--latency-history`: PING every 10 ms and report the round trip in whole
//! milliseconds (as redis-cli measures it: the difference of two millisecond clock readings).
//!
//! - On a terminal (or `--no-raw`) one line is redrawn in place:
//!   `min: 0, max: 1, avg: 0.21 (1234 samples)`; `--latency-history` starts a new line, with
//!   ` -- 15.01 seconds range`, every 15 seconds (or `-i` seconds).
//! - Otherwise (`--raw`, `--csv`, or output to a pipe) `--latency` samples for one second (or
//!   `-i` seconds) and prints one `min max avg samples` line (`min,max,avg,samples` with
//!   `--csv`); `--latency-history` prints that line after every sample.

use std::io::{self, Write};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::{Output, call};
use crate::conn::Connection;

const SAMPLE_EVERY: Duration = Duration::from_millis(10);
const DEFAULT_HISTORY_MS: u64 = 15_000;
const DEFAULT_RUN_MS: u64 = 1_000;

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The running figures.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
struct Figures {
    min: u64,
    max: u64,
    total: u64,
    count: u64,
}

impl Figures {
    fn add(&mut self, latency: u64) {
        if self.count == 0 {
            (self.min, self.max) = (latency, latency);
        } else {
            self.min = self.min.min(latency);
            self.max = self.max.max(latency);
        }
        self.total += latency;
        self.count += 1;
    }

    fn average(&self) -> f64 {
        self.total as f64 / self.count.max(1) as f64
    }

    fn line(&self, output: Output) -> String {
        let (min, max, avg, count) = (self.min, self.max, self.average(), self.count);
        match output {
            Output::Standard => format!("min: {min}, max: {max}, avg: {avg:.2} ({count} samples)"),
            Output::Csv => format!("{min},{max},{avg:.2},{count}\n"),
            Output::Raw => format!("{min} {max} {avg:.2} {count}\n"),
        }
    }
}

/// Runs the mode (forever, except `--latency` without a terminal); the error is the
/// message to print.
pub fn run(
    conn: &mut Connection,
    history: bool,
    interval: f64,
    output: Output,
) -> Result<(), String> {
    let interval_ms = (interval * 1000.0) as u64;
    let history_ms = if interval_ms > 0 {
        interval_ms
    } else {
        DEFAULT_HISTORY_MS
    };
    let run_ms = if interval_ms > 0 {
        interval_ms
    } else {
        DEFAULT_RUN_MS
    };
    let mut figures = Figures::default();
    let mut range_start = now_ms();
    let mut stdout = io::stdout().lock();
    loop {
        let start = now_ms();
        call(conn, &[b"PING"])?;
        figures.add(now_ms().saturating_sub(start));
        let text = if output == Output::Standard {
            // Clear the line and redraw it.
            format!("\x1b[0G\x1b[2K{}", figures.line(output))
        } else if history {
            figures.line(output)
        } else if now_ms().saturating_sub(range_start) > run_ms {
            let _ = stdout.write_all(figures.line(output).as_bytes());
            let _ = stdout.flush();
            return Ok(());
        } else {
            String::new()
        };
        let mut text = text.into_bytes();
        if history && now_ms().saturating_sub(range_start) > history_ms {
            let seconds = now_ms().saturating_sub(range_start) as f64 / 1000.0;
            text.extend_from_slice(format!(" -- {seconds:.2} seconds range\n").as_bytes());
            range_start = now_ms();
            figures = Figures::default();
        }
        if stdout
            .write_all(&text)
            .and_then(|()| stdout.flush())
            .is_err()
        {
            return Ok(()); // the reader of our output went away
        }
        std::thread::sleep(SAMPLE_EVERY);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_in_each_output() {
        let mut figures = Figures::default();
        for latency in [0, 1, 0, 0] {
            figures.add(latency);
        }
        assert_eq!(
            figures.line(Output::Standard),
            "min: 0, max: 1, avg: 0.25 (4 samples)"
        );
        assert_eq!(figures.line(Output::Raw), "0 1 0.25 4\n");
        assert_eq!(figures.line(Output::Csv), "0,1,0.25,4\n");
    }
}
