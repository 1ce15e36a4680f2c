//! LATENCY (Redis's latency.c): the latency monitor and the per-command histograms.
//!
//! With `latency-monitor-threshold` set to N ms, every event that keeps the loop busy for
//! at least N ms is sampled under its name (`command`, `fast-command`, `expire-cycle`,
//! `eviction-cycle`, `aof-fsync-always`, ...): one sample per second per event (the
//! highest), the last [`HISTORY_LEN`] kept, and the highest ever. LATENCY HISTOGRAM reads
//! the per-command power-of-two histograms kept beside the command statistics.

use std::collections::HashMap;

use super::flags::{ADMIN, LOADING, NOSCRIPT, STALE};
use super::slowlog::subcommand_syntax_error;
use super::{Command, Ctx, reply_help, subcommand, table};
use crate::metrics::stats::{CommandStats, LOG2_LEVELS};
use crate::resp::{Args, Reply};

/// The family's command table.
#[rustfmt::skip]
pub const COMMANDS: &[Command] = &[
    Command { name: "latency", arity: -2, flags: ADMIN | NOSCRIPT | LOADING | STALE, keys: (0, 0, 0), group: "server", handler: latency },
];

/// LATENCY's subcommands and their arities.
pub const LATENCY_SUBCOMMANDS: &[(&str, i32)] = &[
    ("doctor", 2),
    ("graph", 3),
    ("histogram", -2),
    ("history", 3),
    ("latest", 2),
    ("reset", -2),
    ("help", 2),
];

/// Samples kept per event (Redis's LATENCY_TS_LEN).
const HISTORY_LEN: usize = 160;
/// Width of LATENCY GRAPH.
const GRAPH_COLUMNS: usize = 80;
/// Height of LATENCY GRAPH's bars, in rows.
const GRAPH_ROWS: usize = 4;

/// One second's worst latency of an event.
#[derive(Debug, Clone, Copy, Default)]
struct Sample {
    /// Seconds since the epoch (0 = an unused slot).
    time: u64,
    latency_ms: u64,
}

/// The history of one event: a ring of the last [`HISTORY_LEN`] seconds that had a sample.
#[derive(Debug)]
struct Series {
    /// Where the next sample goes.
    next: usize,
    /// Highest latency ever sampled.
    max: u64,
    samples: Box<[Sample; HISTORY_LEN]>,
}

impl Series {
    fn last(&self) -> Sample {
        self.samples[(self.next + HISTORY_LEN - 1) % HISTORY_LEN]
    }

    /// The samples, oldest first.
    fn in_order(&self) -> impl Iterator<Item = Sample> + '_ {
        (0..HISTORY_LEN)
            .map(move |j| self.samples[(self.next + j) % HISTORY_LEN])
            .filter(|s| s.time != 0)
    }
}

/// The latency monitor's events, by name.
#[derive(Debug, Default)]
pub struct Monitor {
    events: HashMap<&'static str, Series>,
}

impl Monitor {
    /// Samples `event` at `now_s` (seconds since the epoch), as Redis's latencyAddSample.
    pub fn add_sample(&mut self, event: &'static str, latency_ms: u64, now_s: u64) {
        let series = self.events.entry(event).or_insert_with(|| Series {
            next: 0,
            max: 0,
            samples: Box::new([Sample::default(); HISTORY_LEN]),
        });
        series.max = series.max.max(latency_ms);
        let prev = (series.next + HISTORY_LEN - 1) % HISTORY_LEN;
        if series.samples[prev].time == now_s {
            let s = &mut series.samples[prev];
            s.latency_ms = s.latency_ms.max(latency_ms);
            return;
        }
        series.samples[series.next] = Sample {
            time: now_s,
            latency_ms,
        };
        series.next = (series.next + 1) % HISTORY_LEN;
    }

    /// Forgets the events named (case-insensitively), or all with None; how many.
    fn reset(&mut self, event: Option<&[u8]>) -> usize {
        let before = self.events.len();
        match event {
            None => self.events.clear(),
            Some(name) => self
                .events
                .retain(|e, _| !e.as_bytes().eq_ignore_ascii_case(name)),
        }
        before - self.events.len()
    }

    fn get(&self, name: &[u8]) -> Option<(&'static str, &Series)> {
        self.events
            .iter()
            .find(|(e, _)| e.as_bytes() == name)
            .map(|(e, s)| (*e, s))
    }
}

/// Samples `event` when it took at least `latency-monitor-threshold` ms (Redis's
/// latencyAddSampleIfNeeded; a threshold of 0 turns the monitor off).
pub fn sample_if_needed(shared: &mut super::Shared, event: &'static str, latency_ms: u64) {
    let threshold = shared.params.settings.latency_monitor_threshold_ms;
    if threshold != 0 && latency_ms >= threshold {
        let now_s = crate::util::now_us() / 1_000_000;
        shared.latency.add_sample(event, latency_ms, now_s);
    }
}

fn latency(ctx: &mut Ctx, args: Args) {
    let Some(sub) = subcommand(ctx.out, "latency", LATENCY_SUBCOMMANDS, args) else {
        return;
    };
    match sub {
        "history" => match ctx.shared.latency.get(args.get(2)) {
            None => ctx.out.array(0),
            Some((_, series)) => {
                let samples: Vec<Sample> = series.in_order().collect();
                ctx.out.array(samples.len());
                for s in samples {
                    ctx.out.array(2);
                    ctx.out.int(s.time as i64);
                    ctx.out.int(s.latency_ms as i64);
                }
            }
        },
        "graph" => match ctx.shared.latency.get(args.get(2)) {
            None => {
                let event = String::from_utf8_lossy(args.get(2)).into_owned();
                ctx.out
                    .error(&format!("ERR No samples available for event '{event}'"));
            }
            Some((event, series)) => {
                let now_s = crate::util::now_us() / 1_000_000;
                let text = graph(event, series, now_s);
                ctx.out.verbatim(text.as_bytes());
            }
        },
        "latest" => {
            let m = &ctx.shared.latency;
            ctx.out.array(m.events.len());
            for (event, series) in &m.events {
                let last = series.last();
                ctx.out.array(4);
                ctx.out.bulk(event.as_bytes());
                ctx.out.int(last.time as i64);
                ctx.out.int(last.latency_ms as i64);
                ctx.out.int(series.max as i64);
            }
        }
        "doctor" => {
            let text = doctor(ctx);
            ctx.out.verbatim(text.as_bytes());
        }
        "reset" => {
            let resets = if args.len() == 2 {
                ctx.shared.latency.reset(None)
            } else {
                args.iter()
                    .skip(2)
                    .map(|e| ctx.shared.latency.reset(Some(e)))
                    .sum()
            };
            ctx.out.int(resets as i64);
        }
        "histogram" => histogram(ctx, args),
        "help" => reply_help(
            ctx.out,
            &[
                "LATENCY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "DOCTOR",
                "    Return a human readable latency analysis report.",
                "GRAPH <event>",
                "    Return an ASCII latency graph for the <event> class.",
                "HISTORY <event>",
                "    Return time-latency samples for the <event> class.",
                "LATEST",
                "    Return the latest latency samples for all events.",
                "RESET [<event> ...]",
                "    Reset latency data of one or more <event> classes.",
                "    (default: reset all data for all event classes)",
                "HISTOGRAM [COMMAND ...]",
                "    Return a cumulative distribution of latencies in the format of a histogram for the specified command names.",
                "    If no commands are specified then all histograms are replied.",
                "HELP",
                "    Prints this help.",
            ],
        ),
        _ => subcommand_syntax_error(ctx.out, args),
    }
}

/// LATENCY HISTOGRAM [command ...]: for each command (and subcommand) that ran since the
/// statistics were reset, its calls and the cumulative count at each power-of-two bucket
/// that gained runs, in microseconds (Redis's fillCommandCDF over its HDR histogram with
/// a logarithmic iterator).
fn histogram(ctx: &mut Ctx, args: Args) {
    let tbl = table();
    let stats = &ctx.shared.stats.commands;
    // The statistics slots asked for: every one, or the named commands with their
    // subcommands (unknown names are skipped).
    let mut slots: Vec<usize> = Vec::new();
    if args.len() == 2 {
        slots.extend(tbl.slots_in_info_order());
    } else {
        for name in args.iter().skip(2) {
            let lower = String::from_utf8_lossy(name).to_ascii_lowercase();
            let found = tbl.slots_in_info_order().filter(|&s| {
                let slot_name = tbl.slot_name(s);
                slot_name == lower
                    || slot_name
                        .split_once('|')
                        .is_some_and(|(parent, _)| parent == lower)
            });
            slots.extend(found);
        }
    }
    let with_data: Vec<usize> = slots
        .into_iter()
        .filter(|&s| stats[s].log2_total() > 0)
        .collect();
    ctx.out.map(with_data.len());
    for s in with_data {
        ctx.out.bulk(tbl.slot_name(s).as_bytes());
        reply_cdf(ctx.out, &stats[s]);
    }
}

fn reply_cdf(out: &mut Reply, stats: &CommandStats) {
    let counts = stats.log2_counts();
    let total: u64 = counts.iter().sum();
    out.map(2);
    out.bulk(b"calls");
    out.int(total as i64);
    out.bulk(b"histogram_usec");
    let mut points = Vec::new();
    let mut cumulative = 0;
    for (level, &n) in counts.iter().enumerate() {
        if n > 0 {
            cumulative += n;
            points.push((LOG2_LEVELS[level].1, cumulative));
        }
    }
    out.map(points.len());
    for (micros, count) in points {
        out.int(micros as i64);
        out.int(count as i64);
    }
}

/// LATENCY GRAPH: a header, a rule, then Redis's sparkline of the samples, oldest first,
/// labelled with how long ago each was taken.
fn graph(event: &str, series: &Series, now_s: u64) -> String {
    let samples: Vec<Sample> = series.in_order().collect();
    let min = samples.iter().map(|s| s.latency_ms).min().unwrap_or(0);
    let max = samples.iter().map(|s| s.latency_ms).max().unwrap_or(0);
    let mut out = format!(
        "{event} - high {max} ms, low {min} ms (all time high {} ms)\n{}\n",
        series.max,
        "-".repeat(GRAPH_COLUMNS)
    );
    let points: Vec<(f64, String)> = samples
        .iter()
        .map(|s| (s.latency_ms as f64, ago(now_s.saturating_sub(s.time))))
        .collect();
    sparkline(&mut out, &points, GRAPH_COLUMNS, GRAPH_ROWS);
    out
}

/// How long ago, as LATENCY GRAPH labels its samples: `13s`, `5m`, `2h`, `3d`.
fn ago(elapsed: u64) -> String {
    match elapsed {
        0..60 => format!("{elapsed}s"),
        60..3600 => format!("{}m", elapsed / 60),
        3600..86400 => format!("{}h", elapsed / 3600),
        _ => format!("{}d", elapsed / 86400),
    }
}

/// Redis's sparkline (sparkline.c, filled style): bars `rows` high drawn with `_o#|`, then
/// each sample's label written vertically under it, after one blank line; `columns`
/// samples per block, blocks separated by a blank line.
fn sparkline(out: &mut String, points: &[(f64, String)], columns: usize, rows: usize) {
    const FILL: [char; 3] = ['_', 'o', '#'];
    let Some(first) = points.first() else {
        return;
    };
    let (mut min, mut max) = (first.0, first.0);
    for &(v, _) in &points[1..] {
        if v < min {
            min = v;
        } else if v > max {
            max = v;
        }
    }
    let relmax = if max - min == 0.0 { 1.0 } else { max - min };
    let steps = (FILL.len() * rows) as i64;
    for (block, chunk) in points.chunks(columns).enumerate() {
        if block != 0 {
            out.push('\n');
        }
        let mut row = 0;
        loop {
            let mut line: Vec<char> = vec![' '; chunk.len()];
            let mut more = false;
            for (j, (value, label)) in chunk.iter().enumerate() {
                let truncated = ((value - min) * steps as f64) as i64;
                let step = ((truncated as f64 / relmax) as i64).clamp(0, steps - 1);
                if row < rows {
                    more = true;
                    let idx = step - ((rows - row - 1) * FILL.len()) as i64;
                    if (0..FILL.len() as i64).contains(&idx) {
                        line[j] = FILL[idx as usize];
                    } else if idx >= FILL.len() as i64 {
                        line[j] = '|';
                    }
                } else if row == rows {
                    // One blank line between the bars and the labels.
                    more = true;
                    break;
                } else if let Some(c) = label.chars().nth(row - rows - 1) {
                    more = true;
                    line[j] = c;
                }
            }
            if !more {
                break;
            }
            row += 1;
            out.extend(line);
            out.push('\n');
        }
    }
}

/// LATENCY DOCTOR: Redis's report, one paragraph per event with its statistics, then the
/// advice that the events call for.
fn doctor(ctx: &Ctx) -> String {
    let settings = &ctx.shared.params.settings;
    let monitor = &ctx.shared.latency;
    if monitor.events.is_empty() && settings.latency_monitor_threshold_ms == 0 {
        return "I'm sorry, Dave, I can't do that. Latency monitoring is disabled in this Redis instance. You may use \"CONFIG SET latency-monitor-threshold <milliseconds>.\" in order to enable it. If we weren't in a deep space mission I'd suggest to take a look at https://redis.io/topics/latency-monitor.\n".to_string();
    }
    let now_s = crate::util::now_us() / 1_000_000;
    let mut report = String::new();
    let mut advice = Advice::default();
    for (n, (event, series)) in monitor.events.iter().enumerate() {
        if n == 0 {
            report.push_str("Dave, I have observed latency spikes in this Redis instance. You don't mind talking about it, do you Dave?\n\n");
        }
        let samples: Vec<u64> = series.in_order().map(|s| s.latency_ms).collect();
        let count = samples.len() as u64;
        let oldest = series.in_order().map(|s| s.time).min().unwrap_or(now_s);
        let avg = samples.iter().sum::<u64>() / count.max(1);
        let mad = samples.iter().map(|&l| avg.abs_diff(l)).sum::<u64>() / count.max(1);
        let period = now_s.saturating_sub(oldest).max(1);
        report.push_str(&format!(
            "{}. {event}: {count} latency spikes (average {avg}ms, mean deviation {mad}ms, period {:.2} sec). Worst all time event {}ms.\n",
            n + 1,
            period as f64 / count.max(1) as f64,
            series.max
        ));
        advice.note(event, settings);
    }
    if monitor.events.is_empty() && advice.count == 0 {
        report.push_str("Dave, no latency spike was observed during the lifetime of this Redis instance, not in the slightest bit. I honestly think you ought to sit down calmly, take a stress pill, and think things over.\n");
    } else if advice.count == 0 {
        report.push_str("\nWhile there are latency events logged, I'm not able to suggest any easy fix. Please use the Redis community to get some help, providing this report in your help request.\n");
    } else {
        advice.write(&mut report, settings);
    }
    report
}

/// The advice LATENCY DOCTOR gives, collected over the events seen.
#[derive(Default)]
struct Advice {
    count: usize,
    slowlog_enabled: bool,
    slowlog_tuning: bool,
    slowlog_inspect: bool,
    scheduler: bool,
    relax_fsync: bool,
    hz: bool,
    large_objects: bool,
    mass_eviction: bool,
    disk: bool,
}

impl Advice {
    fn note(&mut self, event: &str, settings: &crate::config::params::Settings) {
        match event {
            "command" => {
                if settings.slowlog_slower_than_us < 0 {
                    self.slowlog_enabled = true;
                    self.count += 1;
                } else if settings.slowlog_slower_than_us as u64 / 1000
                    > settings.latency_monitor_threshold_ms
                {
                    self.slowlog_tuning = true;
                    self.count += 1;
                }
                self.slowlog_inspect = true;
                self.large_objects = true;
                self.count += 2;
            }
            "fast-command" => {
                self.scheduler = true;
                self.count += 1;
            }
            "aof-fsync-always" => {
                self.relax_fsync = true;
                self.count += 1;
            }
            "aof-write" | "rdb-unlink-temp-file" => {
                self.disk = true;
                self.count += 1;
            }
            "expire-cycle" => {
                self.hz = true;
                self.large_objects = true;
                self.count += 2;
            }
            "eviction-del" => {
                self.large_objects = true;
                self.count += 1;
            }
            "eviction-cycle" => {
                self.mass_eviction = true;
                self.count += 1;
            }
            _ => {}
        }
    }

    fn write(&self, report: &mut String, settings: &crate::config::params::Settings) {
        let threshold_us = settings.latency_monitor_threshold_ms * 1000;
        report.push_str("\nI have a few advices for you:\n\n");
        if self.slowlog_enabled {
            report.push_str(&format!("- There are latency issues with potentially slow commands you are using. Try to enable the Slow Log Redis feature using the command 'CONFIG SET slowlog-log-slower-than {threshold_us}'. If the Slow log is disabled Redis is not able to log slow commands execution for you.\n"));
        }
        if self.slowlog_tuning {
            report.push_str(&format!("- Your current Slow Log configuration only logs events that are slower than your configured latency monitor threshold. Please use 'CONFIG SET slowlog-log-slower-than {threshold_us}'.\n"));
        }
        if self.slowlog_inspect {
            report.push_str("- Check your Slow Log to understand what are the commands you are running which are too slow to execute. Please check https://redis.io/commands/slowlog for more information.\n");
        }
        if self.scheduler {
            report.push_str("- The system is slow to execute Redis code paths not containing system calls. This usually means the system does not provide Redis CPU time to run for long periods. You should try to:\n  1) Lower the system load.\n  2) Use a computer / VM just for Redis if you are running other software in the same system.\n  3) Check if you have a \"noisy neighbour\" problem.\n");
        }
        if self.disk {
            report.push_str("- It is strongly advised to use local disks for persistence, especially if you are using AOF. Remote disks provided by platform-as-a-service providers are known to be slow.\n- Try to lower the disk contention. This is often caused by other disk intensive processes running in the same computer (including other Redis instances).\n");
        }
        if self.relax_fsync && settings.aof.fsync == crate::config::params::Fsync::Always {
            report.push_str("- Your fsync policy is set to 'always'. It is very hard to get good performances with such a setup, if possible try to relax the fsync policy to 'onesec'.\n");
        }
        if self.hz && settings.hz < 100 {
            report.push_str("- In order to make the Redis keys expiring process more incremental, try to set the 'hz' configuration parameter to 100 using 'CONFIG SET hz 100'.\n");
        }
        if self.large_objects {
            report.push_str("- Deleting, expiring or evicting (because of maxmemory policy) large objects is a blocking operation. If you have very large objects that are often deleted, expired, or evicted, try to fragment those objects into multiple smaller objects.\n");
        }
        if self.mass_eviction {
            report.push_str("- Sudden changes to the 'maxmemory' setting via 'CONFIG SET', or allocation of large objects via sets or sorted sets intersections, STORE option of SORT, Redis Cluster large keys migrations (RESTORE command), may create sudden memory pressure forcing the server to block trying to evict keys. \n");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_sample_per_second_the_highest() {
        let mut m = Monitor::default();
        m.add_sample("command", 10, 100);
        m.add_sample("command", 30, 100);
        m.add_sample("command", 20, 100);
        m.add_sample("command", 5, 101);
        let (_, s) = m.get(b"command").unwrap();
        let samples: Vec<(u64, u64)> = s.in_order().map(|s| (s.time, s.latency_ms)).collect();
        assert_eq!(samples, [(100, 30), (101, 5)]);
        assert_eq!(s.max, 30);
        assert_eq!(s.last().latency_ms, 5);
        for t in 0..200 {
            m.add_sample("command", t, 1000 + t);
        }
        let (_, s) = m.get(b"command").unwrap();
        assert_eq!(s.in_order().count(), HISTORY_LEN);
        assert_eq!(s.in_order().next().unwrap().time, 1040);
        assert_eq!(m.reset(Some(b"COMMAND")), 1);
        assert_eq!(m.reset(None), 0);
    }

    #[test]
    fn the_graph_is_redis_sparkline() {
        let mut m = Monitor::default();
        m.add_sample("command", 300, 1000);
        m.add_sample("command", 400, 1002);
        m.add_sample("command", 500, 1004);
        let (event, s) = m.get(b"command").unwrap();
        let g = graph(event, s, 1005);
        let expected = format!(
            "command - high 500 ms, low 300 ms (all time high 500 ms)\n{}\n  #\n _|\n ||\n_||\n   \n531\nsss\n",
            "-".repeat(80)
        );
        assert_eq!(g, expected);
    }
}
