//! The metrics endpoint, served by one thread ([`super::http`]): `GET /metrics` for
//! Prometheus, and the live console (`GET /` and `/console.json`, [`super::console`]).
//!
//! Nothing here touches the reactor. At scrape time [`StatsCollector`] reads the
//! single-writer atomics of [`Stats`] (relaxed loads) and builds the metric families; the
//! registry also carries the prometheus crate's process collector (RSS, CPU, fds...), and
//! with `--metrics-compat redis-exporter` redis_exporter's families
//! ([`super::redis_exporter`]). The only lock is the registry's own, which only this
//! thread takes.

use std::collections::HashMap;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::thread;

use prometheus::core::{Collector, Desc};
use prometheus::process_collector::ProcessCollector;
use prometheus::proto::MetricType::{self, COUNTER, GAUGE, HISTOGRAM};
use prometheus::proto::{self, LabelPair, MetricFamily};
use prometheus::{Encoder, Registry, TEXT_FORMAT, TextEncoder};
use tiny_http::{Method, Response, ResponseBox};

use super::http::{self, Limits, Request, header};
use super::redis_exporter::RedisExporterCollector;
use super::stats::{CommandStats, Histogram, LATENCY_BUCKETS, Stats, get};
use crate::config::MetricsCompat;

/// The path Prometheus scrapes.
const METRICS_PATH: &str = "/metrics";

/// The live console's page and the figures it reads.
const CONSOLE_PATH: &str = "/";
const CONSOLE_JSON_PATH: &str = "/console.json";

/// Binds `addr` and serves the metrics of `stats` (with the names `compat` adds) and the
/// console from a background thread, within `limits` (connections open at once, idle
/// timeout).
///
/// The bind happens before this returns, so a busy or invalid address is reported to
/// the caller (the server refuses to start) instead of being lost in the thread.
/// Returns the bound address (useful with port 0).
pub fn start(
    addr: SocketAddr,
    stats: Arc<Stats>,
    limits: Limits,
    compat: MetricsCompat,
) -> io::Result<SocketAddr> {
    let registry = registry(Arc::clone(&stats), compat).map_err(io::Error::other)?;
    let listener = TcpListener::bind(addr)?;
    let bound = listener.local_addr()?;
    thread::Builder::new()
        .name("metrics".into())
        .spawn(move || {
            http::run(listener, limits, &|request| {
                respond(request, &registry, &stats)
            })
        })?;
    Ok(bound)
}

/// A registry with the process collector and the server's own statistics, and
/// redis_exporter's families when `compat` asks for them.
///
/// Compat mode adds redis_exporter's names to ours rather than replacing them: the names
/// do not collide (`redis_*` beside `keyval_*`), so turning it on breaks nothing that
/// already reads ours (the provisioned dashboard, the README's queries, alerts), and
/// both dashboards can run side by side while dashboards move over.
pub fn registry(stats: Arc<Stats>, compat: MetricsCompat) -> prometheus::Result<Registry> {
    let registry = Registry::new();
    registry.register(Box::new(ProcessMetrics(ProcessCollector::for_self())))?;
    registry.register(Box::new(StatsCollector::new(Arc::clone(&stats))?))?;
    if compat == MetricsCompat::RedisExporter {
        registry.register(Box::new(RedisExporterCollector::new(stats)?))?;
    }
    Ok(registry)
}

/// The prometheus crate's process collector (RSS, CPU, fds, threads, start time), with
/// `process_cpu_seconds_total` made precise.
///
/// The crate reports CPU time in whole seconds, which turns `rate(...[1m]) * 100` into
/// steps of 1.7 %; getrusage gives microseconds, and is what INFO's `used_cpu_*` show.
struct ProcessMetrics(ProcessCollector);

/// The process collector's CPU family.
const CPU_SECONDS: &str = "process_cpu_seconds_total";

impl Collector for ProcessMetrics {
    fn desc(&self) -> Vec<&Desc> {
        self.0.desc()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let mut families = self.0.collect();
        if let Some(cpu) = families.iter_mut().find(|f| f.name() == CPU_SECONDS) {
            let (user, system) = crate::alloc::cpu_seconds();
            cpu.set_metric(vec![counter(user + system)]);
        }
        families
    }
}

/// The text exposition of everything in `registry`.
pub fn render(registry: &Registry) -> prometheus::Result<Vec<u8>> {
    let mut body = Vec::with_capacity(16 * 1024);
    TextEncoder::new().encode(&registry.gather(), &mut body)?;
    Ok(body)
}

/// `GET` or `HEAD` of `/metrics` gets the exposition, of `/` the console's page, of
/// `/console.json` its figures; other methods on them 405; any other path 404.
fn respond(request: &Request, registry: &Registry, stats: &Stats) -> ResponseBox {
    // Prometheus may add query parameters (e.g. for federation-style setups): ignore them.
    let path = request.url.split('?').next().unwrap_or_default();
    if ![METRICS_PATH, CONSOLE_PATH, CONSOLE_JSON_PATH].contains(&path) {
        Response::from_string("not found; metrics are at /metrics, the console at /\n")
            .with_status_code(404)
            .boxed()
    } else if !matches!(request.method, Method::Get | Method::Head) {
        Response::empty(405)
            .with_header(header("Allow", "GET, HEAD"))
            .boxed()
    } else if path == CONSOLE_PATH {
        Response::from_string(super::console::PAGE)
            .with_header(header("Content-Type", "text/html; charset=utf-8"))
            .with_header(header("Cache-Control", "no-cache"))
            .boxed()
    } else if path == CONSOLE_JSON_PATH {
        Response::from_string(super::console::json(stats))
            .with_header(header("Content-Type", "application/json"))
            .with_header(header("Cache-Control", "no-store"))
            .boxed()
    } else {
        match render(registry) {
            Ok(body) => {
                let content_type = header("Content-Type", &format!("{TEXT_FORMAT}; charset=utf-8"));
                Response::from_data(body).with_header(content_type).boxed()
            }
            Err(e) => {
                log::error!("cannot encode metrics: {e}");
                Response::from_string(format!("{e}\n"))
                    .with_status_code(500)
                    .boxed()
            }
        }
    }
}

/// Where a family's series come from.
#[derive(Clone, Copy)]
enum Source {
    /// One unlabelled series: the value of an atomic.
    Value(fn(&Stats) -> &AtomicU64),
    /// One unlabelled gauge in seconds, from an atomic holding microseconds.
    Micros(fn(&Stats) -> &AtomicU64),
    /// One unlabelled histogram.
    Histogram(fn(&Stats) -> &Histogram),
    /// Seconds since start.
    Uptime,
    /// A constant 1 labelled with the version.
    BuildInfo,
    /// Per command: requests, run or refused.
    Calls,
    /// Per command: requests answered with an error (failed runs and refusals).
    Errors,
    /// Per command: requests refused before running.
    Rejected,
    /// Per command: the latency histogram of the runs.
    Latency,
    /// Per error code: error replies.
    ErrorCodes,
}

impl Source {
    /// The family's variable label, if it has one.
    fn label(self) -> Option<&'static str> {
        match self {
            Source::Calls | Source::Errors | Source::Rejected | Source::Latency => Some("cmd"),
            Source::ErrorCodes => Some("code"),
            Source::BuildInfo => Some("version"),
            Source::Value(_) | Source::Micros(_) | Source::Histogram(_) | Source::Uptime => None,
        }
    }
}

/// One metric family: name, help, type and where its values come from.
struct Family {
    name: &'static str,
    help: &'static str,
    kind: MetricType,
    source: Source,
}

const fn family(
    name: &'static str,
    help: &'static str,
    kind: MetricType,
    source: Source,
) -> Family {
    Family {
        name,
        help,
        kind,
        source,
    }
}

/// Every family the server exports. The names are the ones dashboards expect (issue 3 and
/// the original README): do not rename them.
#[rustfmt::skip]
const FAMILIES: &[Family] = &[
    family("keyval_active_connections", "Clients connected now.", GAUGE, Source::Value(|s| &s.connected_clients)),
    family("keyval_cmd_total", "Requests, run or refused, by canonical command name (subcommands as CONFIG|GET; unknown commands and subcommands count as \"unknown\").", COUNTER, Source::Calls),
    family("keyval_cmd_errors_total", "Requests answered with an error (failed runs and refusals), by command name.", COUNTER, Source::Errors),
    family("keyval_cmd_rejected_total", "Requests refused before running (arity, authentication, MULTI, unknown), by command name.", COUNTER, Source::Rejected),
    family("keyval_cmd_latency_seconds", "Time from a command's parse to its reply encoded, for the runs, by command name.", HISTOGRAM, Source::Latency),
    family("keyval_error_replies_total", "Error replies by error code (the first word: ERR, WRONGTYPE...), as INFO errorstats.", COUNTER, Source::ErrorCodes),
    family("keyval_keys_count", "Keys in all databases (the sum of DBSIZE).", GAUGE, Source::Value(|s| &s.keys)),
    family("keyval_keys_with_expiry", "Keys with a TTL in all databases.", GAUGE, Source::Value(|s| &s.keys_with_expiry)),
    family("keyval_expired_keys_total", "Keys removed because their TTL passed.", COUNTER, Source::Value(|s| &s.expired_keys)),
    family("keyval_evicted_keys_total", "Keys removed by maxmemory eviction.", COUNTER, Source::Value(|s| &s.evicted_keys)),
    family("keyval_oom_rejections_total", "Write commands refused with -OOM (used memory over maxmemory and nothing left to evict).", COUNTER, Source::Value(|s| &s.oom_rejections)),
    family("keyval_connections_received_total", "Connections accepted (including those then refused).", COUNTER, Source::Value(|s| &s.connections_received)),
    family("keyval_rejected_connections_total", "Connections refused because maxclients was reached.", COUNTER, Source::Value(|s| &s.rejected_connections)),
    family("keyval_keyspace_hits_total", "Key lookups by read commands that found the key.", COUNTER, Source::Value(|s| &s.keyspace_hits)),
    family("keyval_keyspace_misses_total", "Key lookups by read commands that did not find the key.", COUNTER, Source::Value(|s| &s.keyspace_misses)),
    family("keyval_net_input_bytes_total", "Bytes read from clients.", COUNTER, Source::Value(|s| &s.net_input_bytes)),
    family("keyval_net_output_bytes_total", "Bytes written to clients.", COUNTER, Source::Value(|s| &s.net_output_bytes)),
    family("keyval_protocol_errors_total", "Requests that broke the RESP protocol (the connection is then closed).", COUNTER, Source::Value(|s| &s.protocol_errors)),
    family("keyval_pubsub_clients", "Clients subscribed to at least one channel, pattern or shard channel.", GAUGE, Source::Value(|s| &s.pubsub_clients)),
    family("keyval_pubsub_channels", "Channels with at least one subscriber (INFO pubsub_channels).", GAUGE, Source::Value(|s| &s.pubsub_channels)),
    family("keyval_pubsub_patterns", "Patterns with at least one subscriber (INFO pubsub_patterns).", GAUGE, Source::Value(|s| &s.pubsub_patterns)),
    family("keyval_pubsub_shard_channels", "Shard channels with at least one subscriber (INFO pubsubshard_channels).", GAUGE, Source::Value(|s| &s.pubsub_shard_channels)),
    family("keyval_pubsub_messages_published_total", "Publish operations: PUBLISH and SPUBLISH calls, and keyspace notification messages, whether or not anyone listens.", COUNTER, Source::Value(|s| &s.pubsub_published)),
    family("keyval_pubsub_messages_delivered_total", "Copies of published messages appended to subscribers' reply buffers (one per receiving subscription, as PUBLISH counts receivers).", COUNTER, Source::Value(|s| &s.pubsub_delivered)),
    family("keyval_pubsub_delivery_latency_seconds", "Time from a message's publish to the return of the write that put the last pending message of its subscriber's batch on the socket; one observation per message, each with the age of the oldest message of its batch (an upper bound; exact for a message alone in its batch). Copies lost with a closing client are not observed.", HISTOGRAM, Source::Histogram(|s| &s.pubsub_delivery)),
    family("keyval_blocked_clients", "Clients blocked on keys by BLPOP, BLMOVE, BZPOPMIN... (INFO blocked_clients).", GAUGE, Source::Value(|s| &s.blocked_clients)),
    family("keyval_blocked_wait_seconds", "Time a blocked client waited, from the start of its blocking command to being served data; clients that time out or are unblocked by CLIENT UNBLOCK are not observed.", HISTOGRAM, Source::Histogram(|s| &s.blocked_wait)),
    family("keyval_scripts_run_total", "Lua scripts run (EVAL, EVALSHA and their read-only forms), errors included.", COUNTER, Source::Value(|s| &s.scripts_run)),
    family("keyval_scripts_cached", "Scripts in the script cache (INFO number_of_cached_scripts).", GAUGE, Source::Value(|s| &s.scripts_cached)),
    family("keyval_script_duration_seconds", "Time a Lua script ran, the commands it called included.", HISTOGRAM, Source::Histogram(|s| &s.script_time)),
    family("keyval_rdb_last_save_timestamp_seconds", "When the last successful snapshot started (Unix time; the server's start before any): time() minus this is the last save's age.", GAUGE, Source::Value(|s| &s.rdb_last_save_time)),
    family("keyval_rdb_last_save_duration_seconds", "How long the last snapshot (SAVE, BGSAVE or a save point) took, successful or not.", GAUGE, Source::Micros(|s| &s.rdb_last_save_us)),
    family("keyval_rdb_changes_since_last_save", "Changes since the last successful snapshot (INFO rdb_changes_since_last_save).", GAUGE, Source::Value(|s| &s.rdb_changes)),
    family("keyval_rdb_bgsave_in_progress", "1 while a background snapshot is being written.", GAUGE, Source::Value(|s| &s.rdb_bgsave_in_progress)),
    family("keyval_rdb_saves_total", "Snapshots written successfully.", COUNTER, Source::Value(|s| &s.rdb_saves)),
    family("keyval_rdb_save_failures_total", "Snapshots that failed (the log says why; a failed background save may refuse writes with -MISCONF).", COUNTER, Source::Value(|s| &s.rdb_failures)),
    family("keyval_rdb_last_save_bytes", "Size of the last snapshot file written.", GAUGE, Source::Value(|s| &s.rdb_last_save_bytes)),
    family("keyval_aof_enabled", "1 while the append-only file is on (appendonly yes).", GAUGE, Source::Value(|s| &s.aof_enabled)),
    family("keyval_aof_size_bytes", "Size of the append-only file: its base plus incr files (INFO aof_current_size).", GAUGE, Source::Value(|s| &s.aof_size)),
    family("keyval_aof_base_size_bytes", "Size of the append-only file's base after the last rewrite (INFO aof_base_size).", GAUGE, Source::Value(|s| &s.aof_base_size)),
    family("keyval_aof_rewrite_in_progress", "1 while the append-only file is being rewritten (BGREWRITEAOF).", GAUGE, Source::Value(|s| &s.aof_rewrite_in_progress)),
    family("keyval_aof_rewrites_total", "Rewrites of the append-only file that succeeded.", COUNTER, Source::Value(|s| &s.aof_rewrites)),
    family("keyval_aof_rewrite_failures_total", "Rewrites of the append-only file that failed (the log says why).", COUNTER, Source::Value(|s| &s.aof_rewrite_failures)),
    family("keyval_aof_write_errors_total", "Writes to the append-only file that failed (writes are refused with -MISCONF until one succeeds).", COUNTER, Source::Value(|s| &s.aof_write_errors)),
    family("keyval_aof_last_fsync_duration_seconds", "How long the last fsync of the append-only file took.", GAUGE, Source::Micros(|s| &s.aof_last_fsync_us)),
    family("keyval_build_info", "Always 1; the version label is the server's version.", GAUGE, Source::BuildInfo),
    family("keyval_uptime_seconds", "Seconds since the server started.", GAUGE, Source::Uptime),
];

/// Reads [`Stats`] at scrape time and turns it into metric families.
///
/// Commands never called have no series, so the label set is at most the command table
/// plus "unknown", whatever clients send.
pub struct StatsCollector {
    stats: Arc<Stats>,
    descs: Vec<Desc>,
}

impl StatsCollector {
    /// A collector over `stats`.
    pub fn new(stats: Arc<Stats>) -> prometheus::Result<StatsCollector> {
        let descs = FAMILIES
            .iter()
            .map(|f| {
                let labels = f.source.label().map(str::to_string).into_iter().collect();
                Desc::new(
                    f.name.to_string(),
                    f.help.to_string(),
                    labels,
                    HashMap::new(),
                )
            })
            .collect::<prometheus::Result<Vec<Desc>>>()?;
        Ok(StatsCollector { stats, descs })
    }

    /// The commands called at least once, with their label value.
    fn called(&self) -> impl Iterator<Item = (&str, &CommandStats)> {
        self.stats
            .command_names
            .iter()
            .map(String::as_str)
            .zip(self.stats.commands.iter())
            .filter(|(_, c)| get(&c.calls) + get(&c.rejected) > 0)
    }

    /// The series of one family, read now.
    fn metrics(&self, f: &Family) -> Vec<proto::Metric> {
        let per_command = |value: fn(&CommandStats) -> proto::Metric| {
            self.called()
                .map(|(cmd, c)| labelled("cmd", cmd, value(c)))
                .collect()
        };
        match f.source {
            Source::Value(atomic) => {
                let v = get(atomic(&self.stats)) as f64;
                vec![if f.kind == COUNTER {
                    counter(v)
                } else {
                    gauge(v)
                }]
            }
            Source::Micros(atomic) => vec![gauge(get(atomic(&self.stats)) as f64 / 1e6)],
            Source::Histogram(h) => vec![histogram_metric(h(&self.stats))],
            Source::Uptime => vec![gauge(self.stats.uptime_seconds())],
            Source::BuildInfo => vec![labelled("version", env!("CARGO_PKG_VERSION"), gauge(1.0))],
            Source::Calls => per_command(|c| counter((get(&c.calls) + get(&c.rejected)) as f64)),
            Source::Errors => per_command(|c| counter((get(&c.failed) + get(&c.rejected)) as f64)),
            Source::Rejected => per_command(|c| counter(get(&c.rejected) as f64)),
            Source::Latency => per_command(histogram),
            Source::ErrorCodes => self
                .stats
                .error_counts()
                .iter()
                .map(|(code, n)| {
                    labelled("code", &String::from_utf8_lossy(code), counter(*n as f64))
                })
                .collect(),
        }
    }
}

impl Collector for StatsCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        FAMILIES
            .iter()
            .map(|f| {
                let mut family = MetricFamily::default();
                family.set_name(f.name.to_string());
                family.set_help(f.help.to_string());
                family.set_field_type(f.kind);
                family.set_metric(self.metrics(f));
                family
            })
            // The registry rejects an empty family (no command called yet).
            .filter(|f| !f.get_metric().is_empty())
            .collect()
    }
}

pub(super) fn counter(v: f64) -> proto::Metric {
    let mut c = proto::Counter::default();
    c.set_value(v);
    let mut m = proto::Metric::default();
    m.set_counter(c);
    m
}

pub(super) fn gauge(v: f64) -> proto::Metric {
    let mut g = proto::Gauge::default();
    g.set_value(v);
    proto::Metric::from_gauge(g)
}

/// The command's histogram with Prometheus's cumulative buckets (the encoder adds +Inf).
fn histogram(c: &CommandStats) -> proto::Metric {
    let (cumulative, total) = c.cumulative_buckets();
    let sum = get(&c.latency_ns) as f64 / 1e9;
    histogram_of(LATENCY_BUCKETS.iter().copied(), cumulative, total, sum)
}

/// A [`Histogram`] likewise.
fn histogram_metric(h: &Histogram) -> proto::Metric {
    let (cumulative, total) = h.cumulative_buckets();
    let sum = h.sum_ns() as f64 / 1e9;
    histogram_of(h.bounds_seconds(), cumulative, total, sum)
}

/// A histogram metric from its bounds (seconds), cumulative counts, total and sum.
pub(super) fn histogram_of(
    bounds: impl Iterator<Item = f64>,
    cumulative: impl IntoIterator<Item = u64>,
    total: u64,
    sum_seconds: f64,
) -> proto::Metric {
    let buckets = bounds
        .zip(cumulative)
        .map(|(bound, count)| {
            let mut b = proto::Bucket::default();
            b.set_upper_bound(bound);
            b.set_cumulative_count(count);
            b
        })
        .collect();
    let mut h = proto::Histogram::default();
    h.set_bucket(buckets);
    h.set_sample_count(total);
    h.set_sample_sum(sum_seconds);
    let mut m = proto::Metric::default();
    m.set_histogram(h);
    m
}

/// Adds the label `name="value"` to a metric.
pub(super) fn labelled(name: &str, value: &str, mut m: proto::Metric) -> proto::Metric {
    let mut pair = LabelPair::default();
    pair.set_name(name.to_string());
    pair.set_value(value.to_string());
    m.set_label(vec![pair]);
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats() -> Arc<Stats> {
        Arc::new(Stats::new(vec!["GET".into(), "SET".into()], 16))
    }

    fn text(stats: &Arc<Stats>) -> String {
        let registry = registry(Arc::clone(stats), MetricsCompat::None).expect("registry");
        String::from_utf8(render(&registry).expect("render")).expect("utf-8")
    }

    #[test]
    fn every_family_is_described() {
        let c = StatsCollector::new(stats()).expect("collector");
        assert_eq!(c.desc().len(), FAMILIES.len());
    }

    #[test]
    fn idle_server_has_no_command_series() {
        let text = text(&stats());
        assert!(!text.contains("keyval_cmd_total"), "{text}");
        assert!(text.contains("keyval_keys_count 0\n"), "{text}");
        assert!(text.contains(&format!(
            "keyval_build_info{{version=\"{}\"}} 1\n",
            env!("CARGO_PKG_VERSION")
        )));
        assert!(text.contains("process_resident_memory_bytes "), "{text}");
    }

    // Recording is compiled out with `bench-no-metrics`.
    #[cfg(not(feature = "bench-no-metrics"))]
    #[test]
    fn histogram_is_cumulative() {
        let s = stats();
        let set = &s.commands[1];
        set.record(3_000, false); // <= 5 us (not <= 2.5 us)
        set.record(40_000, true); // <= 50 us
        set.record(2_000_000_000, false); // > 1 s
        let text = text(&s);
        for line in [
            "keyval_cmd_total{cmd=\"SET\"} 3\n",
            "keyval_cmd_errors_total{cmd=\"SET\"} 1\n",
            "keyval_cmd_latency_seconds_bucket{cmd=\"SET\",le=\"0.0000025\"} 0\n",
            "keyval_cmd_latency_seconds_bucket{cmd=\"SET\",le=\"0.000005\"} 1\n",
            "keyval_cmd_latency_seconds_bucket{cmd=\"SET\",le=\"0.000025\"} 1\n",
            "keyval_cmd_latency_seconds_bucket{cmd=\"SET\",le=\"0.00005\"} 2\n",
            "keyval_cmd_latency_seconds_bucket{cmd=\"SET\",le=\"1\"} 2\n",
            "keyval_cmd_latency_seconds_bucket{cmd=\"SET\",le=\"+Inf\"} 3\n",
            "keyval_cmd_latency_seconds_sum{cmd=\"SET\"} 2.000043\n",
            "keyval_cmd_latency_seconds_count{cmd=\"SET\"} 3\n",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
        // GET was never called: no series at all.
        assert!(!text.contains("cmd=\"GET\""), "{text}");
    }

    #[cfg(not(feature = "bench-no-metrics"))]
    #[test]
    fn pubsub_and_blocking_families() {
        let s = stats();
        crate::metrics::stats::set(&s.pubsub_clients, 3);
        crate::metrics::stats::set(&s.blocked_clients, 1);
        crate::metrics::stats::set(&s.pubsub_delivered, 4);
        s.pubsub_delivery.record_n(20_000, 4); // <= 25 us
        s.blocked_wait.record_n(3_000_000_000, 1); // <= 5 s
        let text = text(&s);
        for line in [
            "keyval_pubsub_clients 3\n",
            "keyval_pubsub_channels 0\n",
            "keyval_blocked_clients 1\n",
            "keyval_pubsub_messages_published_total 0\n",
            "keyval_pubsub_messages_delivered_total 4\n",
            "keyval_pubsub_delivery_latency_seconds_bucket{le=\"0.00001\"} 0\n",
            "keyval_pubsub_delivery_latency_seconds_bucket{le=\"0.000025\"} 4\n",
            "keyval_pubsub_delivery_latency_seconds_bucket{le=\"+Inf\"} 4\n",
            "keyval_pubsub_delivery_latency_seconds_sum 0.00008\n",
            "keyval_pubsub_delivery_latency_seconds_count 4\n",
            "keyval_blocked_wait_seconds_bucket{le=\"2.5\"} 0\n",
            "keyval_blocked_wait_seconds_bucket{le=\"5\"} 1\n",
            "keyval_blocked_wait_seconds_bucket{le=\"300\"} 1\n",
            "keyval_blocked_wait_seconds_count 1\n",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
    }

    #[cfg(not(feature = "bench-no-metrics"))]
    #[test]
    fn refusals_and_error_codes() {
        let s = stats();
        s.commands[0].record(1_000, true);
        s.commands[0].reject();
        s.errors.record(b"WRONGTYPE");
        s.errors.record(b"ERR");
        let text = text(&s);
        for line in [
            "keyval_cmd_total{cmd=\"GET\"} 2\n",
            "keyval_cmd_errors_total{cmd=\"GET\"} 2\n",
            "keyval_cmd_rejected_total{cmd=\"GET\"} 1\n",
            "keyval_cmd_latency_seconds_count{cmd=\"GET\"} 1\n",
            "keyval_error_replies_total{code=\"ERR\"} 1\n",
            "keyval_error_replies_total{code=\"WRONGTYPE\"} 1\n",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
    }
}
