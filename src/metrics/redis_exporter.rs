//! redis_exporter's metric names (`--metrics-compat redis-exporter`): the families that
//! oliver006/redis_exporter derives from a Redis server's INFO, SLOWLOG, CONFIG and
//! LATENCY HISTOGRAM, with its names, types, label names and units, so that dashboards and
//! alerts built on it (Grafana.com dashboard 763, the redis-mixin, awesome-prometheus-alerts)
//! work against this server scraped directly, with no exporter in between.
//!
//! Read like the rest of `/metrics`: at scrape time, from the reactor's single-writer
//! atomics ([`Stats`]) and what its cron publishes ([`super::published`]). The values are
//! those INFO shows at the same moment, converted as redis_exporter converts them
//! (exporter/info.go, exporter/exporter.go, exporter/slowlog.go, exporter/latency.go):
//!
//! - `cmd` labels are INFO commandstats' names: lower case, subcommands as `config|get`;
//!   `db` labels are INFO keyspace's `db0`, `db1`..., for every database (redis_exporter
//!   fills in the empty ones with 0 by default).
//! - `redis_commands_duration_seconds_total` is commandstats' `usec` (whole microseconds)
//!   divided by 1e6, a counter of seconds; `redis_commands_total` counts runs (`calls`),
//!   refusals are in `redis_commands_rejected_calls_total`.
//! - `redis_latency_percentiles_usec` is a summary of INFO latencystats (quantile labels
//!   `50`, `99`, `99.9` as redis_exporter writes them, values in microseconds; `_sum` in
//!   microseconds, `_count` the calls); `redis_commands_latencies_usec` is the histogram of
//!   LATENCY HISTOGRAM (bounds in microseconds, only its non-empty levels).
//!
//! Not exported: redis_exporter's own `redis_exporter_*` figures (there is no exporter),
//! INFO fields this server only shows as fixed zeros (defrag, replication offsets, fork
//! and copy-on-write sizes, I/O threads...), `redis_db_avg_ttl_seconds` (not tracked) and
//! the per-key, stream and Lua-script families, which redis_exporter only produces when
//! asked for particular keys.

use std::collections::HashMap;
use std::sync::Arc;

use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricType::{self, COUNTER, GAUGE, HISTOGRAM, SUMMARY};
use prometheus::proto::{self, LabelPair, MetricFamily};

use super::exporter::{counter, gauge, histogram_of, labelled};
use super::stats::{CommandStats, LOG2_LEVELS, Stats, get};

/// What a family's series are read from.
#[derive(Clone, Copy)]
enum Source {
    /// One unlabelled series.
    Value(fn(&Stats) -> f64),
    /// One unlabelled series, present only when the function says so (as INFO shows the
    /// AOF sizes only while the AOF is on).
    Optional(fn(&Stats) -> Option<f64>),
    /// One series per command in INFO commandstats, labelled `cmd`.
    PerCommand(fn(&CommandStats) -> f64),
    /// One series per database, labelled `db`: from (keys, expiring). Every database, the
    /// empty ones with 0, as redis_exporter does by default
    /// (`--include-metrics-for-empty-databases`).
    PerDb(fn(u64, u64) -> f64),
    /// One series per error code in INFO errorstats, labelled `err`.
    ErrorCodes,
    /// `redis_instance_info`: a constant 1 with the server's identity as labels.
    InstanceInfo,
    /// INFO latencystats as a summary per command.
    LatencyPercentiles,
    /// LATENCY HISTOGRAM as a histogram per command.
    LatencyHistogram,
}

/// The label names of `redis_instance_info`, in redis_exporter's order.
const INSTANCE_LABELS: [&str; 10] = [
    "role",
    "redis_version",
    "redis_build_id",
    "redis_mode",
    "os",
    "maxmemory_policy",
    "tcp_port",
    "run_id",
    "process_id",
    "master_replid",
];

impl Source {
    fn labels(self) -> Vec<String> {
        let names: &[&str] = match self {
            Source::PerCommand(_) | Source::LatencyPercentiles | Source::LatencyHistogram => {
                &["cmd"]
            }
            Source::PerDb(_) => &["db"],
            Source::ErrorCodes => &["err"],
            Source::InstanceInfo => &INSTANCE_LABELS,
            Source::Value(_) | Source::Optional(_) => &[],
        };
        names.iter().map(|n| n.to_string()).collect()
    }
}

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

fn secs(us: u64) -> f64 {
    us as f64 / 1e6
}

fn rss(_: &Stats) -> f64 {
    crate::alloc::rss_bytes() as f64
}

/// INFO mem_fragmentation_ratio: RSS over used memory, as INFO prints it (2 decimals).
fn fragmentation(s: &Stats) -> f64 {
    let used = get(&s.used_memory);
    if used == 0 {
        return 0.0;
    }
    let ratio = crate::alloc::rss_bytes() as f64 / used as f64;
    (ratio * 100.0).round() / 100.0
}

fn aof_on(s: &Stats) -> bool {
    get(&s.aof_enabled) == 1
}

/// Every family exported in compat mode; the names are redis_exporter's (do not rename).
#[rustfmt::skip]
const FAMILIES: &[Family] = &[
    family("redis_up", "1 while the server answers (it is the server itself that answers).", GAUGE, Source::Value(|_| 1.0)),
    family("redis_instance_info", "Always 1; the labels describe the server as INFO does.", GAUGE, Source::InstanceInfo),
    family("redis_uptime_in_seconds", "INFO uptime_in_seconds.", GAUGE, Source::Value(|s| s.uptime_seconds().floor())),
    family("redis_start_time_seconds", "When the server started, Unix time.", GAUGE, Source::Value(|s| s.start_time as f64)),
    family("redis_process_id", "INFO process_id.", GAUGE, Source::Value(|_| f64::from(std::process::id()))),
    family("redis_connected_clients", "INFO connected_clients.", GAUGE, Source::Value(|s| get(&s.connected_clients) as f64)),
    family("redis_blocked_clients", "INFO blocked_clients: clients blocked on keys, and clients held by CLIENT PAUSE.", GAUGE, Source::Value(|s| (get(&s.blocked_clients) + get(&s.published.paused_clients)) as f64)),
    family("redis_max_clients", "INFO maxclients.", GAUGE, Source::Value(|s| get(&s.published.maxclients) as f64)),
    family("redis_config_maxclients", "CONFIG GET maxclients.", GAUGE, Source::Value(|s| get(&s.published.maxclients) as f64)),
    family("redis_connected_slaves", "INFO connected_slaves (this server has no replicas).", GAUGE, Source::Value(|_| 0.0)),
    family("redis_pubsub_channels", "INFO pubsub_channels.", GAUGE, Source::Value(|s| get(&s.pubsub_channels) as f64)),
    family("redis_pubsub_patterns", "INFO pubsub_patterns.", GAUGE, Source::Value(|s| get(&s.pubsub_patterns) as f64)),
    family("redis_pubsubshard_channels", "INFO pubsubshard_channels.", GAUGE, Source::Value(|s| get(&s.pubsub_shard_channels) as f64)),
    family("redis_memory_used_bytes", "INFO used_memory.", GAUGE, Source::Value(|s| get(&s.used_memory) as f64)),
    family("redis_memory_used_rss_bytes", "INFO used_memory_rss.", GAUGE, Source::Value(rss)),
    family("redis_memory_used_peak_bytes", "INFO used_memory_peak.", GAUGE, Source::Value(|s| get(&s.published.peak_memory).max(get(&s.used_memory)) as f64)),
    family("redis_memory_max_bytes", "INFO maxmemory (0: no limit).", GAUGE, Source::Value(|s| get(&s.published.maxmemory) as f64)),
    family("redis_config_maxmemory", "CONFIG GET maxmemory.", GAUGE, Source::Value(|s| get(&s.published.maxmemory) as f64)),
    family("redis_total_system_memory_bytes", "INFO total_system_memory.", GAUGE, Source::Value(|_| crate::alloc::total_system_memory() as f64)),
    family("redis_mem_fragmentation_ratio", "INFO mem_fragmentation_ratio.", GAUGE, Source::Value(fragmentation)),
    family("redis_number_of_cached_scripts", "INFO number_of_cached_scripts.", GAUGE, Source::Value(|s| get(&s.scripts_cached) as f64)),
    family("redis_loading_dump_file", "INFO loading.", GAUGE, Source::Value(|s| get(&s.published.loading) as f64)),
    family("redis_rdb_changes_since_last_save", "INFO rdb_changes_since_last_save.", GAUGE, Source::Value(|s| get(&s.rdb_changes) as f64)),
    family("redis_rdb_bgsave_in_progress", "INFO rdb_bgsave_in_progress.", GAUGE, Source::Value(|s| get(&s.rdb_bgsave_in_progress) as f64)),
    family("redis_rdb_last_save_timestamp_seconds", "INFO rdb_last_save_time.", GAUGE, Source::Value(|s| get(&s.rdb_last_save_time) as f64)),
    family("redis_rdb_last_bgsave_status", "INFO rdb_last_bgsave_status: 1 ok, 0 err.", GAUGE, Source::Value(|s| get(&s.published.rdb_last_bgsave_ok) as f64)),
    family("redis_rdb_last_bgsave_duration_sec", "INFO rdb_last_bgsave_time_sec (-1 before the first).", GAUGE, Source::Value(|s| s.published.rdb_last_bgsave_secs() as f64)),
    family("redis_rdb_saves_total", "INFO rdb_saves.", GAUGE, Source::Value(|s| get(&s.rdb_saves) as f64)),
    family("redis_aof_enabled", "INFO aof_enabled.", GAUGE, Source::Value(|s| get(&s.aof_enabled) as f64)),
    family("redis_aof_rewrite_in_progress", "INFO aof_rewrite_in_progress.", GAUGE, Source::Value(|s| get(&s.aof_rewrite_in_progress) as f64)),
    family("redis_aof_current_size_bytes", "INFO aof_current_size (while the AOF is on).", GAUGE, Source::Optional(|s| aof_on(s).then(|| get(&s.aof_size) as f64))),
    family("redis_aof_base_size_bytes", "INFO aof_base_size (while the AOF is on).", GAUGE, Source::Optional(|s| aof_on(s).then(|| get(&s.aof_base_size) as f64))),
    family("redis_db_keys", "INFO keyspace keys, by database (0 for an empty one).", GAUGE, Source::PerDb(|keys, _| keys as f64)),
    family("redis_db_keys_expiring", "INFO keyspace expires, by database (0 for an empty one).", GAUGE, Source::PerDb(|_, expires| expires as f64)),
    family("redis_slowlog_length", "SLOWLOG LEN.", GAUGE, Source::Value(|s| get(&s.published.slowlog_len) as f64)),
    family("redis_slowlog_last_id", "ID of the newest SLOWLOG entry (0 when the log is empty).", GAUGE, Source::Value(|s| s.published.slowlog_last_id().unwrap_or(0) as f64)),
    family("redis_last_slow_execution_duration_seconds", "Duration of the newest SLOWLOG entry (0 when the log is empty).", GAUGE, Source::Value(|s| secs(get(&s.published.slowlog_last_us)))),
    family("redis_connections_received_total", "INFO total_connections_received.", COUNTER, Source::Value(|s| get(&s.connections_received) as f64)),
    family("redis_rejected_connections_total", "INFO rejected_connections.", COUNTER, Source::Value(|s| get(&s.rejected_connections) as f64)),
    family("redis_commands_processed_total", "INFO total_commands_processed.", COUNTER, Source::Value(|s| s.commands_processed() as f64)),
    family("redis_net_input_bytes_total", "INFO total_net_input_bytes.", COUNTER, Source::Value(|s| get(&s.net_input_bytes) as f64)),
    family("redis_net_output_bytes_total", "INFO total_net_output_bytes.", COUNTER, Source::Value(|s| get(&s.net_output_bytes) as f64)),
    family("redis_keyspace_hits_total", "INFO keyspace_hits.", COUNTER, Source::Value(|s| get(&s.keyspace_hits) as f64)),
    family("redis_keyspace_misses_total", "INFO keyspace_misses.", COUNTER, Source::Value(|s| get(&s.keyspace_misses) as f64)),
    family("redis_expired_keys_total", "INFO expired_keys.", COUNTER, Source::Value(|s| get(&s.expired_keys).saturating_sub(get(&s.expired_keys_reset)) as f64)),
    family("redis_evicted_keys_total", "INFO evicted_keys.", COUNTER, Source::Value(|s| get(&s.evicted_keys) as f64)),
    family("redis_eviction_exceeded_time_ms_total", "INFO total_eviction_exceeded_time (ms).", COUNTER, Source::Value(|s| (get(&s.eviction_exceeded_us) / 1000) as f64)),
    family("redis_cpu_sys_seconds_total", "INFO used_cpu_sys.", COUNTER, Source::Value(|_| crate::alloc::cpu_seconds().1)),
    family("redis_cpu_user_seconds_total", "INFO used_cpu_user.", COUNTER, Source::Value(|_| crate::alloc::cpu_seconds().0)),
    family("redis_total_error_replies", "INFO total_error_replies.", COUNTER, Source::Value(|s| s.error_replies() as f64)),
    family("redis_errors_total", "INFO errorstats: error replies by error code.", COUNTER, Source::ErrorCodes),
    family("redis_commands_total", "INFO commandstats calls: runs by command.", COUNTER, Source::PerCommand(|c| get(&c.calls) as f64)),
    family("redis_commands_duration_seconds_total", "INFO commandstats usec over 1e6: seconds spent running each command.", COUNTER, Source::PerCommand(|c| (get(&c.latency_ns) / 1000) as f64 / 1e6)),
    family("redis_commands_rejected_calls_total", "INFO commandstats rejected_calls: requests refused before running, by command.", COUNTER, Source::PerCommand(|c| get(&c.rejected) as f64)),
    family("redis_commands_failed_calls_total", "INFO commandstats failed_calls: runs that replied with an error, by command.", COUNTER, Source::PerCommand(|c| get(&c.failed) as f64)),
    family("redis_latency_percentiles_usec", "INFO latencystats: latency percentiles by command, microseconds.", SUMMARY, Source::LatencyPercentiles),
    family("redis_commands_latencies_usec", "LATENCY HISTOGRAM: latencies by command, microseconds.", HISTOGRAM, Source::LatencyHistogram),
];

/// The collector of redis_exporter's families (see the module comment).
pub struct RedisExporterCollector {
    stats: Arc<Stats>,
    /// INFO commandstats' name of each statistics slot (lower case); None for the
    /// "unknown" slot, which INFO does not show.
    names: Vec<Option<String>>,
    descs: Vec<Desc>,
}

impl RedisExporterCollector {
    pub fn new(stats: Arc<Stats>) -> prometheus::Result<RedisExporterCollector> {
        let descs = FAMILIES
            .iter()
            .map(|f| {
                Desc::new(
                    f.name.to_string(),
                    f.help.to_string(),
                    f.source.labels(),
                    HashMap::new(),
                )
            })
            .collect::<prometheus::Result<Vec<Desc>>>()?;
        let last = stats.command_names.len() - 1;
        let names = stats
            .command_names
            .iter()
            .enumerate()
            .map(|(i, n)| (i != last).then(|| n.to_ascii_lowercase()))
            .collect();
        Ok(RedisExporterCollector {
            stats,
            names,
            descs,
        })
    }

    /// The commands INFO commandstats shows (called, failed or refused at least once).
    fn commands(&self) -> impl Iterator<Item = (&str, &CommandStats)> {
        self.names
            .iter()
            .zip(self.stats.commands.iter())
            .filter_map(|(name, c)| Some((name.as_deref()?, c)))
            .filter(|(_, c)| get(&c.calls) + get(&c.failed) + get(&c.rejected) > 0)
    }

    fn metrics(&self, f: &Family) -> Vec<proto::Metric> {
        let s = &*self.stats;
        let of_kind = |v: f64| {
            if f.kind == COUNTER {
                counter(v)
            } else {
                gauge(v)
            }
        };
        match f.source {
            Source::Value(read) => vec![of_kind(read(s))],
            Source::Optional(read) => read(s).map(of_kind).into_iter().collect(),
            Source::PerCommand(read) => self
                .commands()
                .map(|(cmd, c)| labelled("cmd", cmd, of_kind(read(c))))
                .collect(),
            Source::PerDb(read) => s
                .db_keys
                .iter()
                .enumerate()
                .map(|(i, (keys, expires))| {
                    labelled(
                        "db",
                        &format!("db{i}"),
                        gauge(read(get(keys), get(expires))),
                    )
                })
                .collect(),
            Source::ErrorCodes => s
                .error_counts()
                .iter()
                .map(|(code, n)| {
                    labelled("err", &String::from_utf8_lossy(code), counter(*n as f64))
                })
                .collect(),
            Source::InstanceInfo => self.instance_info().into_iter().collect(),
            Source::LatencyPercentiles => self.latency_percentiles(),
            Source::LatencyHistogram => self.latency_histograms(),
        }
    }

    /// Known once the reactor's first cron tick has run (a few ms after start).
    fn instance_info(&self) -> Option<proto::Metric> {
        let p = &self.stats.published;
        let id = p.identity.get()?;
        let values = [
            "master",
            id.redis_version,
            "0",
            "standalone",
            &id.os,
            p.policy(),
            &id.tcp_port.to_string(),
            &id.run_id,
            &std::process::id().to_string(),
            &id.run_id,
        ]
        .map(str::to_string);
        let mut m = gauge(1.0);
        m.set_label(
            INSTANCE_LABELS
                .iter()
                .zip(values)
                .map(|(name, value)| label(name, value))
                .collect(),
        );
        Some(m)
    }

    /// INFO latencystats as redis_exporter turns it into summaries (only while
    /// `latency-tracking` is on, as INFO shows it).
    fn latency_percentiles(&self) -> Vec<proto::Metric> {
        let p = &self.stats.published;
        if get(&p.latency_tracking) == 0 {
            return Vec::new();
        }
        let percentiles = p.percentiles();
        self.commands()
            .filter_map(|(cmd, c)| {
                let values = c.latency_percentiles_us(&percentiles)?;
                let quantiles = percentiles
                    .iter()
                    .zip(values)
                    .map(|(&q, v)| {
                        let mut quantile = proto::Quantile::default();
                        quantile.set_quantile(q);
                        quantile.set_value(v);
                        quantile
                    })
                    .collect();
                let mut summary = proto::Summary::default();
                summary.set_sample_count(get(&c.calls));
                summary.set_sample_sum((get(&c.latency_ns) / 1000) as f64);
                summary.set_quantile(quantiles);
                let mut m = proto::Metric::default();
                m.set_summary(summary);
                Some(labelled("cmd", cmd, m))
            })
            .collect()
    }

    /// LATENCY HISTOGRAM as redis_exporter turns it into histograms: one bucket per
    /// non-empty level, its bound the level's microseconds, cumulative counts; the sum is
    /// the command's commandstats usec.
    fn latency_histograms(&self) -> Vec<proto::Metric> {
        self.commands()
            .filter(|(_, c)| c.log2_total() > 0)
            .map(|(cmd, c)| {
                let counts = c.log2_counts();
                let mut bounds = Vec::new();
                let mut cumulative = Vec::new();
                let mut total = 0;
                for (level, &n) in counts.iter().enumerate() {
                    if n > 0 {
                        total += n;
                        bounds.push(LOG2_LEVELS[level].1 as f64);
                        cumulative.push(total);
                    }
                }
                let sum = (get(&c.latency_ns) / 1000) as f64;
                let m = histogram_of(bounds.into_iter(), cumulative, total, sum);
                labelled("cmd", cmd, m)
            })
            .collect()
    }
}

fn label(name: &str, value: String) -> LabelPair {
    let mut pair = LabelPair::default();
    pair.set_name(name.to_string());
    pair.set_value(value);
    pair
}

impl Collector for RedisExporterCollector {
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
            .filter(|f| !f.get_metric().is_empty())
            .collect()
    }
}

#[cfg(all(test, not(feature = "bench-no-metrics")))]
mod tests {
    use super::*;
    use crate::metrics::exporter::render;
    use crate::metrics::stats::set;
    use prometheus::Registry;

    fn stats() -> Arc<Stats> {
        Arc::new(Stats::new(vec!["GET".into(), "CONFIG|GET".into()], 4))
    }

    fn text(stats: &Arc<Stats>) -> String {
        let registry = Registry::new();
        let collector = RedisExporterCollector::new(Arc::clone(stats)).expect("collector");
        registry.register(Box::new(collector)).expect("register");
        String::from_utf8(render(&registry).expect("render")).expect("utf-8")
    }

    fn has(text: &str, line: &str) {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }

    #[test]
    fn every_family_is_described_once() {
        let c = RedisExporterCollector::new(stats()).expect("collector");
        assert_eq!(c.desc().len(), FAMILIES.len());
        let mut names: Vec<&str> = FAMILIES.iter().map(|f| f.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), FAMILIES.len());
    }

    #[test]
    fn commands_keyspace_and_errors_use_redis_exporter_names_and_units() {
        let s = stats();
        s.commands[0].record(1_500_000, false); // GET: 1500 us
        s.commands[0].record(2_000, true);
        s.commands[1].reject(); // CONFIG|GET refused: listed, with 0 calls
        s.unknown().reject(); // unknown commands: not in commandstats
        s.errors.record(b"WRONGTYPE");
        set(&s.db_keys[2].0, 5);
        set(&s.db_keys[2].1, 2);
        set(&s.keys, 5);
        let text = text(&s);
        for line in [
            "# TYPE redis_commands_total counter\n",
            "redis_commands_total{cmd=\"get\"} 2\n",
            "redis_commands_total{cmd=\"config|get\"} 0\n",
            "redis_commands_duration_seconds_total{cmd=\"get\"} 0.001502\n",
            "redis_commands_failed_calls_total{cmd=\"get\"} 1\n",
            "redis_commands_rejected_calls_total{cmd=\"config|get\"} 1\n",
            "redis_commands_processed_total 2\n",
            "# TYPE redis_db_keys gauge\n",
            "redis_db_keys{db=\"db2\"} 5\n",
            "redis_db_keys_expiring{db=\"db2\"} 2\n",
            "redis_errors_total{err=\"WRONGTYPE\"} 1\n",
            "redis_up 1\n",
            "# TYPE redis_latency_percentiles_usec summary\n",
            "redis_latency_percentiles_usec{cmd=\"get\",quantile=\"50\"} 2.5\n",
            "redis_latency_percentiles_usec{cmd=\"get\",quantile=\"99.9\"} 2500\n",
            "redis_latency_percentiles_usec_sum{cmd=\"get\"} 1502\n",
            "redis_latency_percentiles_usec_count{cmd=\"get\"} 2\n",
        ] {
            has(&text, line);
        }
        assert!(!text.contains("unknown"), "{text}");
        has(&text, "redis_db_keys{db=\"db0\"} 0\n");
        has(&text, "redis_db_keys_expiring{db=\"db3\"} 0\n");
        // LATENCY HISTOGRAM levels are recorded only with latency-tracking on.
        assert!(!text.contains("redis_commands_latencies_usec"), "{text}");
        s.commands[0].record_level(1_500_000);
        let text = super::tests::text(&s);
        has(&text, "# TYPE redis_commands_latencies_usec histogram\n");
        has(
            &text,
            "redis_commands_latencies_usec_count{cmd=\"get\"} 1\n",
        );
        has(
            &text,
            "redis_commands_latencies_usec_sum{cmd=\"get\"} 1502\n",
        );
    }

    #[test]
    fn published_figures_and_the_aof_sizes() {
        let s = stats();
        let p = &s.published;
        set(&p.maxmemory, 1 << 20);
        set(&p.maxclients, 77);
        set(&p.slowlog_len, 3);
        set(&p.slowlog_last_id_plus_one, 8);
        set(&p.slowlog_last_us, 25_000);
        set(&s.blocked_clients, 2);
        set(&p.paused_clients, 1);
        let text = text(&s);
        for line in [
            "redis_memory_max_bytes 1048576\n",
            "redis_config_maxclients 77\n",
            "redis_max_clients 77\n",
            "redis_blocked_clients 3\n",
            "redis_slowlog_length 3\n",
            "redis_slowlog_last_id 7\n",
            "redis_last_slow_execution_duration_seconds 0.025\n",
            "redis_rdb_last_bgsave_duration_sec -1\n",
            "redis_aof_enabled 0\n",
        ] {
            has(&text, line);
        }
        assert!(!text.contains("redis_aof_current_size_bytes"), "{text}");
        // Before the reactor's first cron tick the identity is unknown.
        assert!(!text.contains("redis_instance_info"), "{text}");
        set(&s.aof_enabled, 1);
        set(&s.aof_size, 123);
        let _ = p.identity.set(crate::metrics::published::Identity {
            redis_version: "7.2.0",
            os: "Linux".into(),
            run_id: "abc".into(),
            tcp_port: 6374,
        });
        let text = super::tests::text(&s);
        has(&text, "redis_aof_current_size_bytes 123\n");
        has(
            &text,
            "redis_instance_info{role=\"master\",redis_version=\"7.2.0\",redis_build_id=\"0\",redis_mode=\"standalone\",os=\"Linux\",maxmemory_policy=\"noeviction\",tcp_port=\"6374\",run_id=\"abc\"",
        );
    }
}
