//! `--metrics-compat redis-exporter` end to end: the real server binary exporting
//! oliver006/redis_exporter's metric names beside its own, checked against INFO, against
//! redis_exporter itself (Debian's prometheus-redis-exporter reading this server's INFO:
//! the same families, types, labels and values), by `promtool`, and by a real Prometheus
//! that evaluates every query of the community Redis dashboard (Grafana.com 763, in
//! monitoring/grafana/dashboards/) the way Grafana sends them.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{Client, Server, free_port, have_tool, wait_for};
use serde_json::Value;

/// How long anything is waited for before a test fails.
const PATIENCE: Duration = Duration::from_secs(30);

fn repo_file(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

// ---------------------------------------------------------------------------------------
// The server, HTTP, scrapes (local helpers, as in tests/metrics.rs)
// ---------------------------------------------------------------------------------------

/// The server with its metrics endpoint on; killed on drop (through `common::Server`).
struct Keyval {
    server: Server,
    metrics_port: u16,
}

impl Keyval {
    /// Starts the server with both addresses on port 0 and reads the ports from its log.
    fn start(extra: &[&str]) -> Keyval {
        Keyval::start_with(|cmd| {
            cmd.args(extra);
        })
    }

    /// [`Keyval::start`], letting `configure` add flags or environment variables.
    fn start_with(configure: impl FnOnce(&mut Command)) -> Keyval {
        let (server, metrics_port) = common::start_with_metrics("metrics-compat", |cmd| {
            cmd.args(["--save", ""]);
            configure(cmd);
        });
        Keyval {
            server,
            metrics_port,
        }
    }

    fn client(&self) -> Client {
        self.server.client()
    }

    fn scrape(&self) -> Scrape {
        let (status, body) = http_get(self.metrics_port, "/metrics").expect("scrape /metrics");
        assert_eq!(status, 200, "GET /metrics: {body}");
        Scrape(body)
    }

    /// Scrapes until `f` accepts a scrape (the cron publishes some figures 10 times a
    /// second), or fails the test after [`PATIENCE`].
    fn scrape_until(&self, what: &str, f: impl Fn(&Scrape) -> bool) -> Scrape {
        let mut last = None;
        let found = wait_for(PATIENCE, || {
            let s = self.scrape();
            if f(&s) {
                return Some(s);
            }
            last = Some(s);
            None
        });
        found.unwrap_or_else(|| panic!("timed out waiting for {what}; last scrape:\n{last:?}"))
    }
}

/// One HTTP/1.0 GET to `127.0.0.1:port`: the status and the body.
fn http_get(port: u16, path: &str) -> io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(PATIENCE))?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let bad = || io::Error::new(io::ErrorKind::InvalidData, format!("bad answer {text:?}"));
    let (head, body) = text.split_once("\r\n\r\n").ok_or_else(bad)?;
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(bad)?;
    Ok((status, body.to_string()))
}

/// The text of one scrape.
#[derive(Debug)]
struct Scrape(String);

impl Scrape {
    /// The value of the series written exactly as `series` (name and labels), if present.
    fn get(&self, series: &str) -> Option<f64> {
        self.0.lines().find_map(|line| {
            let value = line.strip_prefix(series)?.strip_prefix(' ')?;
            value.parse().ok()
        })
    }

    fn value(&self, series: &str) -> f64 {
        self.get(series)
            .unwrap_or_else(|| panic!("no series {series} in:\n{}", self.0))
    }

    /// Family name -> (type, label names of its series, without `le` and `quantile`).
    fn families(&self) -> BTreeMap<String, (String, BTreeSet<String>)> {
        let mut out: BTreeMap<String, (String, BTreeSet<String>)> = BTreeMap::new();
        for line in self.0.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').expect("# TYPE name kind");
                out.entry(name.to_string()).or_default().0 = kind.to_string();
            }
        }
        for line in self.0.lines().filter(|l| !l.starts_with('#')) {
            let name_end = line.find(['{', ' ']).unwrap_or(line.len());
            let mut name = &line[..name_end];
            if !out.contains_key(name) {
                for suffix in ["_bucket", "_sum", "_count"] {
                    if let Some(base) = name.strip_suffix(suffix)
                        && out.contains_key(base)
                    {
                        name = base;
                    }
                }
            }
            let Some(family) = out.get_mut(name) else {
                continue;
            };
            if let Some(labels) = line[name_end..].strip_prefix('{') {
                let labels = labels.split('}').next().unwrap_or_default();
                for pair in split_labels(labels) {
                    let label = pair.split('=').next().unwrap_or_default().to_string();
                    if label != "le" && label != "quantile" {
                        family.1.insert(label);
                    }
                }
            }
        }
        out
    }
}

/// Splits `a="x",b="y, z"` at the commas between pairs (not those inside values).
fn split_labels(labels: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let mut escaped = false;
    for c in labels.chars() {
        match c {
            '\\' if quoted && !escaped => escaped = true,
            '"' if !escaped => quoted = !quoted,
            ',' if !quoted => {
                out.push(std::mem::take(&mut current));
                continue;
            }
            _ => escaped = false,
        }
        current.push(c);
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// The fields of an INFO reply.
fn info(c: &mut Client, section: &str) -> BTreeMap<String, String> {
    let raw = c.cmd(&format!("INFO {section}"));
    String::from_utf8_lossy(&raw)
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_string(), v.trim().to_string()))
        .collect()
}

/// Sends every request in one write, then reads one reply per request.
fn pipeline(c: &mut Client, requests: &[String]) {
    let mut out = Vec::new();
    for r in requests {
        let args: Vec<&[u8]> = r.split(' ').map(str::as_bytes).collect();
        out.extend_from_slice(&common::encode(&args));
    }
    c.send_raw(&out);
    for _ in requests {
        c.read_reply();
    }
}

/// The metric names the issue (16) lists, with the types redis_exporter gives them.
const ISSUE_FAMILIES: &[(&str, &str)] = &[
    ("redis_up", "gauge"),
    ("redis_connected_clients", "gauge"),
    ("redis_commands_processed_total", "counter"),
    ("redis_commands_total", "counter"),
    ("redis_commands_duration_seconds_total", "counter"),
    ("redis_memory_used_bytes", "gauge"),
    ("redis_memory_max_bytes", "gauge"),
    ("redis_db_keys", "gauge"),
    ("redis_db_keys_expiring", "gauge"),
    ("redis_keyspace_hits_total", "counter"),
    ("redis_keyspace_misses_total", "counter"),
    ("redis_evicted_keys_total", "counter"),
    ("redis_expired_keys_total", "counter"),
    ("redis_slowlog_length", "gauge"),
    ("redis_last_slow_execution_duration_seconds", "gauge"),
    ("redis_latency_percentiles_usec", "summary"),
];

// ---------------------------------------------------------------------------------------
// The flag
// ---------------------------------------------------------------------------------------

#[test]
fn without_the_flag_no_redis_exporter_name_is_exported() {
    let k = Keyval::start(&[]);
    k.client().cmd("SET a 1");
    let s = k.scrape_until("SET counted", |s| {
        s.get(r#"keyval_cmd_total{cmd="SET"}"#) == Some(1.0)
    });
    let redis: Vec<&str> = s.0.lines().filter(|l| l.contains("redis_")).collect();
    assert!(redis.is_empty(), "{redis:?}");
}

#[test]
fn a_bad_compat_value_stops_the_server_with_a_clear_error() {
    for (flag, env) in [(Some("redis_exporter"), None), (None, Some("prometheus"))] {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rust-keyval"));
        cmd.args(["--bind", "127.0.0.1:0", "--metrics-bind", "off"])
            .env_remove("METRICS_COMPAT");
        if let Some(v) = flag {
            cmd.args(["--metrics-compat", v]);
        }
        if let Some(v) = env {
            cmd.env("METRICS_COMPAT", v);
        }
        let out = cmd.output().expect("run rust-keyval");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains("invalid value"), "{err}");
        assert!(
            err.contains("[possible values: none, redis-exporter]"),
            "{err}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn the_env_variable_turns_compat_on_and_both_name_sets_are_exported() {
    let k = Keyval::start_with(|cmd| {
        cmd.env("METRICS_COMPAT", "redis-exporter");
    });
    k.client().cmd("SET a 1");
    let s = k.scrape_until("compat names with METRICS_COMPAT=redis-exporter", |s| {
        s.get(r#"redis_commands_total{cmd="set"}"#) == Some(1.0)
    });
    assert_eq!(s.value(r#"keyval_cmd_total{cmd="SET"}"#), 1.0);
    assert_eq!(s.value("redis_up"), 1.0);
}

// ---------------------------------------------------------------------------------------
// Values
// ---------------------------------------------------------------------------------------

#[test]
fn compat_families_have_redis_exporter_types_and_agree_with_info() {
    let k = Keyval::start(&[
        "--metrics-compat",
        "redis-exporter",
        "--maxmemory",
        "64mb",
        "--enable-debug-command",
        "local",
        "--databases",
        "4",
    ]);
    let mut c = k.client();
    let sets: Vec<String> = (0..300).map(|i| format!("SET key:{i} v")).collect();
    pipeline(&mut c, &sets);
    let ttls: Vec<String> = (0..20).map(|i| format!("EXPIRE key:{i} 1000")).collect();
    pipeline(&mut c, &ttls);
    let gets: Vec<String> = (0..150)
        .map(|i| format!("GET key:{}", i * 3 % 400))
        .collect();
    pipeline(&mut c, &gets);
    assert_eq!(c.cmd_str("SELECT 2"), "+OK\r\n");
    c.cmd("SET other 1");
    c.cmd("SELECT 0");
    assert!(c.cmd_str("LPUSH key:1 x").starts_with("-WRONGTYPE"));
    assert!(c.cmd_str("GET").starts_with("-ERR wrong number"));
    c.cmd("CONFIG GET maxmemory");
    assert_eq!(c.cmd_str("DEBUG SLEEP 0.02"), "+OK\r\n");
    let info = info(&mut c, "everything");
    let field = |name: &str| -> f64 {
        info.get(name)
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("INFO has no numeric {name}"))
    };
    let cmdstat = |cmd: &str, part: &str| -> f64 {
        let line = &info[&format!("cmdstat_{cmd}")];
        line.split(',')
            .find_map(|kv| kv.strip_prefix(&format!("{part}=")))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("cmdstat_{cmd} has no {part}: {line}"))
    };
    // The slow log figures come from the cron (10 times a second).
    let s = k.scrape_until("the slow log published", |s| {
        s.get("redis_slowlog_length") == Some(1.0)
    });

    let families = s.families();
    for (name, kind) in ISSUE_FAMILIES {
        let found = families.get(*name).map(|f| f.0.as_str());
        assert_eq!(found, Some(*kind), "{name}");
    }
    for (cmd, calls) in [("set", 301.0), ("get", 150.0), ("expire", 20.0)] {
        let series = format!(r#"redis_commands_total{{cmd="{cmd}"}}"#);
        assert_eq!(s.value(&series), calls, "{cmd}");
        assert_eq!(s.value(&series), cmdstat(cmd, "calls"), "{cmd} vs INFO");
        let usec = cmdstat(cmd, "usec");
        let seconds = s.value(&format!(
            r#"redis_commands_duration_seconds_total{{cmd="{cmd}"}}"#
        ));
        assert!(
            (seconds - usec / 1e6).abs() < 1e-9,
            "{cmd}: {seconds} s vs {usec} us"
        );
    }
    assert_eq!(
        s.value(r#"redis_commands_rejected_calls_total{cmd="get"}"#),
        1.0
    );
    assert_eq!(
        s.value(r#"redis_commands_failed_calls_total{cmd="lpush"}"#),
        1.0
    );
    assert_eq!(s.value(r#"redis_commands_total{cmd="config|get"}"#), 1.0);
    assert_eq!(s.value(r#"redis_errors_total{err="WRONGTYPE"}"#), 1.0);
    assert_eq!(s.value(r#"redis_errors_total{err="ERR"}"#), 1.0);
    assert_eq!(
        s.value("redis_total_error_replies"),
        field("total_error_replies")
    );
    assert_eq!(
        s.value("redis_commands_processed_total"),
        field("total_commands_processed") + 1.0,
        "INFO's own run is counted after its text"
    );
    assert_eq!(s.value(r#"redis_db_keys{db="db0"}"#), 300.0);
    assert_eq!(s.value(r#"redis_db_keys_expiring{db="db0"}"#), 20.0);
    assert_eq!(s.value(r#"redis_db_keys{db="db2"}"#), 1.0);
    assert_eq!(s.value(r#"redis_db_keys_expiring{db="db2"}"#), 0.0);
    // Empty databases too, with 0, as redis_exporter's default does.
    assert_eq!(s.value(r#"redis_db_keys{db="db1"}"#), 0.0);
    assert_eq!(s.value(r#"redis_db_keys{db="db3"}"#), 0.0);
    assert!(
        s.get(r#"redis_db_keys{db="db4"}"#).is_none(),
        "--databases 4"
    );
    assert_eq!(s.value("redis_keyspace_hits_total"), field("keyspace_hits"));
    assert_eq!(
        s.value("redis_keyspace_misses_total"),
        field("keyspace_misses")
    );
    assert_eq!(
        (field("keyspace_hits"), field("keyspace_misses")),
        (116.0, 34.0)
    );
    assert_eq!(s.value("redis_memory_max_bytes"), 64.0 * 1024.0 * 1024.0);
    assert_eq!(s.value("redis_config_maxmemory"), field("maxmemory"));
    assert_eq!(s.value("redis_max_clients"), field("maxclients"));
    let used = s.value("redis_memory_used_bytes");
    assert!(
        used > 0.0 && (used - field("used_memory")).abs() < 4e6,
        "used {used}"
    );
    assert_eq!(s.value("redis_connected_clients"), 1.0);
    assert_eq!(s.value("redis_evicted_keys_total"), 0.0);
    assert_eq!(s.value("redis_expired_keys_total"), field("expired_keys"));
    assert_eq!(s.value("redis_slowlog_last_id"), 0.0);
    let slow = s.value("redis_last_slow_execution_duration_seconds");
    assert!(
        (0.02..1.0).contains(&slow),
        "DEBUG SLEEP 0.02 took {slow} s"
    );
    assert_eq!(s.value("redis_up"), 1.0);
    let uptime = s.value("redis_uptime_in_seconds");
    assert!((uptime - field("uptime_in_seconds")).abs() <= 1.0);
    // INFO latencystats as a summary: redis_exporter's quantile labels, microseconds.
    let p50 = s.value(r#"redis_latency_percentiles_usec{cmd="set",quantile="50"}"#);
    let info_p50: f64 = info["latency_percentiles_usec_set"]
        .split(',')
        .find_map(|kv| kv.strip_prefix("p50="))
        .and_then(|v| v.parse().ok())
        .expect("INFO latencystats p50 of set");
    assert_eq!(p50, info_p50);
    assert_eq!(
        s.value(r#"redis_latency_percentiles_usec_count{cmd="set"}"#),
        301.0
    );
    assert!(s.0.contains(r#"redis_latency_percentiles_usec{cmd="set",quantile="99.9"} "#));
    // LATENCY HISTOGRAM as a histogram.
    assert_eq!(
        s.value(r#"redis_commands_latencies_usec_count{cmd="set"}"#),
        301.0
    );
    assert_eq!(
        s.value(r#"redis_commands_latencies_usec_bucket{cmd="set",le="+Inf"}"#),
        301.0
    );
    let instance =
        s.0.lines()
            .find(|l| l.starts_with("redis_instance_info{"))
            .expect("redis_instance_info");
    for label in [
        "role=\"master\"".to_string(),
        format!("redis_version=\"{}\"", info["redis_version"]),
        format!("run_id=\"{}\"", info["run_id"]),
        format!("tcp_port=\"{}\"", k.server.port),
        "maxmemory_policy=\"noeviction\"".to_string(),
        format!("process_id=\"{}\"", info["process_id"]),
    ] {
        assert!(instance.contains(&label), "{label} not in {instance}");
    }
    // Ours are still there, unchanged.
    assert_eq!(s.value(r#"keyval_cmd_total{cmd="SET"}"#), 301.0);
    assert_eq!(s.value("keyval_keys_count"), 301.0);

    // Settings changed at run time reach the families within a cron tick.
    assert_eq!(
        c.cmd_str("CONFIG SET maxmemory-policy allkeys-lru"),
        "+OK\r\n"
    );
    assert_eq!(c.cmd_str("CONFIG SET maxclients 500"), "+OK\r\n");
    assert_eq!(c.cmd_str("SLOWLOG RESET"), "+OK\r\n");
    k.scrape_until("CONFIG SET and SLOWLOG RESET published", |s| {
        s.get("redis_config_maxclients") == Some(500.0)
            && s.get("redis_slowlog_length") == Some(0.0)
            && s.get("redis_last_slow_execution_duration_seconds") == Some(0.0)
            && s.0.contains("maxmemory_policy=\"allkeys-lru\"")
    });
}

// ---------------------------------------------------------------------------------------
// promtool
// ---------------------------------------------------------------------------------------

/// `promtool check metrics` findings on a scrape.
fn promtool_findings(text: &str) -> Vec<String> {
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run promtool");
    promtool
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("feed promtool");
    let out = promtool.wait_with_output().expect("promtool output");
    let report =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let mut findings: Vec<String> = report
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect();
    findings.sort();
    findings
}

#[test]
fn promtool_accepts_the_compat_names_and_reports_only_redis_exporters_own_quirks() {
    if !have_tool("promtool") {
        return;
    }
    let k = Keyval::start(&["--metrics-compat", "redis-exporter"]);
    let mut c = k.client();
    for line in [
        "SET a 1",
        "GET a",
        "GET b",
        "GET",
        "NOSUCH",
        "PEXPIRE a 100000",
        "LPUSH a x",
    ] {
        c.cmd(line);
    }
    let text = k
        .scrape_until("the identity published", |s| {
            s.0.contains("redis_instance_info{")
        })
        .0;
    let findings = promtool_findings(&text);
    // keyval_keys_count is ours (tests/metrics.rs); the others are redis_exporter's names,
    // kept as they are so that its dashboards and alerts match: a counter without _total,
    // a gauge with it, abbreviated units. Nothing else may be reported.
    assert_eq!(
        findings,
        [
            r#"keyval_keys_count non-histogram and non-summary metrics should not have "_count" suffix"#,
            "redis_eviction_exceeded_time_ms_total metric names should not contain abbreviated units",
            "redis_rdb_last_bgsave_duration_sec metric names should not contain abbreviated units",
            r#"redis_rdb_saves_total non-counter metrics should not have "_total" suffix"#,
            r#"redis_total_error_replies counter metrics should have "_total" suffix"#,
        ],
        "promtool check metrics on:\n{text}"
    );
}

// ---------------------------------------------------------------------------------------
// redis_exporter itself, reading our INFO
// ---------------------------------------------------------------------------------------

/// Families redis_exporter derives from this server's replies that compat mode does not
/// export, and why: its own figures (we are the server, not an exporter), INFO fields this
/// server shows only as constants (no replication, forks, I/O threads, defragmentation,
/// modules...), and figures not tracked (avg_ttl is always 0 in INFO keyspace).
const NOT_EXPORTED: &[&str] = &[
    // redis_exporter about itself.
    "redis_exporter_build_info",
    "redis_exporter_last_scrape_connect_time_seconds",
    "redis_exporter_last_scrape_duration_seconds",
    "redis_exporter_last_scrape_error",
    "redis_exporter_scrape_duration_seconds",
    "redis_exporter_scrapes_total",
    "redis_target_scrape_request_errors_total",
    // Constants of INFO on this single-node server.
    "redis_active_defrag_running",
    "redis_allocator_active_bytes",
    "redis_allocator_allocated_bytes",
    "redis_allocator_frag_bytes",
    "redis_allocator_frag_ratio",
    "redis_allocator_resident_bytes",
    "redis_allocator_rss_bytes",
    "redis_allocator_rss_ratio",
    "redis_aof_base_size_bytes",
    "redis_aof_buffer_length",
    "redis_aof_current_rewrite_duration_sec",
    "redis_aof_current_size_bytes",
    "redis_aof_delayed_fsync",
    "redis_aof_last_bgrewrite_status",
    "redis_aof_last_cow_size_bytes",
    "redis_aof_last_rewrite_duration_sec",
    "redis_aof_last_write_status",
    "redis_aof_pending_bio_fsync",
    "redis_aof_pending_rewrite",
    "redis_aof_rewrite_buffer_length",
    "redis_aof_rewrite_scheduled",
    "redis_async_loading",
    "redis_client_recent_max_input_buffer_bytes",
    "redis_client_recent_max_output_buffer_bytes",
    "redis_clients_in_timeout_table",
    "redis_cluster_enabled",
    "redis_config_io_threads",
    "redis_cpu_sys_children_seconds_total",
    "redis_cpu_sys_main_thread_seconds_total",
    "redis_cpu_user_children_seconds_total",
    "redis_cpu_user_main_thread_seconds_total",
    "redis_current_eviction_exceeded_time_ms",
    "redis_db_avg_ttl_seconds",
    "redis_defrag_hits",
    "redis_defrag_key_hits",
    "redis_defrag_key_misses",
    "redis_defrag_misses",
    "redis_dump_payload_sanitizations",
    "redis_evicted_clients_total",
    "redis_expire_cycle_cpu_time_ms_total",
    "redis_expired_stale_percentage",
    "redis_expired_time_cap_reached_total",
    "redis_io_threaded_reads_processed",
    "redis_io_threaded_writes_processed",
    "redis_io_threads_active",
    "redis_latest_fork_seconds",
    "redis_lazyfree_pending_objects",
    "redis_lazyfreed_objects",
    "redis_master_repl_offset",
    "redis_mem_aof_buffer_bytes",
    "redis_mem_clients_normal",
    "redis_mem_clients_slaves",
    "redis_mem_cluster_links_bytes",
    "redis_mem_fragmentation_bytes",
    "redis_mem_not_counted_for_eviction_bytes",
    "redis_mem_replication_backlog_bytes",
    "redis_mem_total_replication_buffers_bytes",
    "redis_memory_used_dataset_bytes",
    "redis_memory_used_functions_bytes",
    "redis_memory_used_lua_bytes",
    "redis_memory_used_overhead_bytes",
    "redis_memory_used_scripts_bytes",
    "redis_memory_used_scripts_eval_bytes",
    "redis_memory_used_startup_bytes",
    "redis_memory_used_vm_eval_bytes",
    "redis_memory_used_vm_functions_bytes",
    "redis_memory_used_vm_total",
    "redis_migrate_cached_sockets_total",
    "redis_module_fork_in_progress",
    "redis_module_fork_last_cow_size",
    "redis_net_repl_input_bytes_total",
    "redis_net_repl_output_bytes_total",
    "redis_number_of_functions",
    "redis_number_of_libraries",
    "redis_rdb_current_bgsave_duration_sec",
    "redis_rdb_last_cow_size_bytes",
    "redis_rdb_last_load_expired_keys",
    "redis_rdb_last_load_loaded_keys",
    "redis_repl_backlog_first_byte_offset",
    "redis_repl_backlog_history_bytes",
    "redis_repl_backlog_is_active",
    "redis_replica_partial_resync_accepted",
    "redis_replica_partial_resync_denied",
    "redis_replica_resyncs_full",
    "redis_replication_backlog_bytes",
    "redis_reply_buffer_expands_total",
    "redis_reply_buffer_shrinks_total",
    "redis_second_repl_offset",
    "redis_slave_expires_tracked_keys",
    "redis_total_reads_processed",
    "redis_total_writes_processed",
    "redis_tracking_clients",
    "redis_tracking_total_items",
    "redis_tracking_total_keys",
    "redis_tracking_total_prefixes",
    "redis_unexpected_error_replies",
    "redis_configured_hz",
    "redis_hz",
    "redis_aof_rewrites",
    "redis_aof_rewrites_consecutive_failures",
    "redis_acl_access_denied_auth_total",
    "redis_acl_access_denied_channel_total",
    "redis_acl_access_denied_cmd_total",
    "redis_acl_access_denied_key_total",
    "redis_client_output_buffer_limit_disconnections_total",
    "redis_client_query_buffer_limit_disconnections_total",
    "redis_config_client_output_buffer_limit_bytes",
    "redis_config_client_output_buffer_limit_overcome_seconds",
    "redis_config_repl_backlog_size",
    "redis_instantaneous_eventloop_cycles_per_sec",
    "redis_instantaneous_eventloop_duration_usec",
    "redis_eventloop_cycles_total",
    "redis_eventloop_duration_sum_usec_total",
    "redis_eventloop_duration_cmd_sum_usec_total",
    "redis_latency_spike_duration_seconds",
    "redis_latency_spike_last",
    "redis_cluster_connections",
    "redis_last_key_groups_scrape_duration_milliseconds",
];

/// Families compat mode exports that redis_exporter's current source derives from INFO
/// and LATENCY HISTOGRAM (exporter/exporter.go, exporter/latency.go) but Debian bookworm's
/// 1.45 does not know yet; and labels likewise (`master_replid` of redis_instance_info).
const NEWER_THAN_DEBIANS: &[&str] = &[
    "redis_commands_latencies_usec",
    "redis_eviction_exceeded_time_ms_total",
    "redis_max_clients",
    "redis_pubsubshard_channels",
    "redis_rdb_saves_total",
];
const NEWER_LABELS: &[(&str, &str)] = &[("redis_instance_info", "master_replid")];

/// The labels of a series line, as a map.
fn label_map(line: &str) -> BTreeMap<String, String> {
    let inner = line
        .split_once('{')
        .and_then(|(_, rest)| rest.rsplit_once('}'))
        .map_or("", |(labels, _)| labels);
    split_labels(inner)
        .iter()
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_string(), v.trim_matches('"').to_string()))
        .collect()
}

/// Debian's prometheus-redis-exporter scraping `redis_port`; stopped on drop.
struct RedisExporter {
    child: Child,
    port: u16,
}

impl RedisExporter {
    fn start(redis_port: u16) -> RedisExporter {
        for _ in 0..3 {
            let port = free_port();
            let child = Command::new("prometheus-redis-exporter")
                .arg(format!("-redis.addr=redis://127.0.0.1:{redis_port}"))
                .arg("-include-system-metrics")
                .arg(format!("-web.listen-address=127.0.0.1:{port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start prometheus-redis-exporter");
            let mut e = RedisExporter { child, port };
            let up = wait_for(PATIENCE, || {
                if matches!(e.child.try_wait(), Ok(Some(_))) {
                    return Some(false);
                }
                let (status, body) = http_get(port, "/metrics").ok()?;
                (status == 200 && body.contains("\nredis_up 1\n")).then_some(true)
            });
            if up == Some(true) {
                return e;
            }
            let _ = e.child.kill();
            let _ = e.child.wait();
        }
        panic!("prometheus-redis-exporter did not start");
    }

    fn scrape(&self) -> Scrape {
        let (status, body) = http_get(self.port, "/metrics").expect("scrape redis_exporter");
        assert_eq!(status, 200);
        Scrape(body)
    }
}

impl Drop for RedisExporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn redis_exporter_reading_our_info_exports_what_compat_mode_exports() {
    if !have_tool("prometheus-redis-exporter") {
        return;
    }
    let k = Keyval::start(&[
        "--metrics-compat",
        "redis-exporter",
        "--maxmemory",
        "32mb",
        "--enable-debug-command",
        "local",
    ]);
    let mut c = k.client();
    let sets: Vec<String> = (0..200).map(|i| format!("SET key:{i} v")).collect();
    pipeline(&mut c, &sets);
    pipeline(
        &mut c,
        &[
            "EXPIRE key:1 1000".into(),
            "GET key:2".into(),
            "GET nope".into(),
        ],
    );
    assert!(c.cmd_str("LPUSH key:3 x").starts_with("-WRONGTYPE"));
    assert_eq!(c.cmd_str("DEBUG SLEEP 0.02"), "+OK\r\n");
    let exporter = RedisExporter::start(k.server.port);
    // Both read the server at rest: the exporter's own commands (INFO, CONFIG, SLOWLOG,
    // LATENCY...) change only their own counters, compared apart below.
    let ours = k.scrape_until("the slow log published", |s| {
        s.get("redis_slowlog_length") == Some(1.0)
    });
    let theirs = exporter.scrape();
    let (our_families, their_families) = (ours.families(), theirs.families());

    // Everything compat mode exports, redis_exporter exports too, with the same type and
    // label names.
    for (name, (kind, labels)) in our_families.iter().filter(|(n, _)| n.starts_with("redis_")) {
        let Some((their_kind, their_labels)) = their_families.get(name) else {
            assert!(
                NEWER_THAN_DEBIANS.contains(&name.as_str()),
                "redis_exporter has no {name}:\n{}",
                theirs.0
            );
            continue;
        };
        assert_eq!(kind, their_kind, "type of {name}");
        let extra: Vec<&String> = labels
            .difference(their_labels)
            .filter(|l| !NEWER_LABELS.contains(&(name.as_str(), l.as_str())))
            .collect();
        assert!(
            extra.is_empty(),
            "labels of {name}: ours {labels:?}, theirs {their_labels:?}"
        );
        assert!(
            their_labels.is_subset(labels),
            "labels of {name}: ours {labels:?}, theirs {their_labels:?}"
        );
    }
    let info_labels = |s: &Scrape| {
        let line = s.0.lines().find(|l| l.starts_with("redis_instance_info{"));
        label_map(line.expect("redis_instance_info"))
    };
    let (our_info, their_info) = (info_labels(&ours), info_labels(&theirs));
    for (label, value) in &their_info {
        assert_eq!(
            our_info.get(label),
            Some(value),
            "redis_instance_info {label}"
        );
    }
    // What redis_exporter exports beyond that is known and listed, with the reason.
    let missing: Vec<&String> = their_families
        .keys()
        .filter(|n| n.starts_with("redis_") && !our_families.contains_key(*n))
        .filter(|n| !NOT_EXPORTED.contains(&n.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "redis_exporter exports, we do not: {missing:?}"
    );

    // The same values, for the figures the exporter's own connection does not move.
    let mut compared = 0;
    for line in ours.0.lines().filter(|l| l.starts_with("redis_")) {
        let (series, value) = line.rsplit_once(' ').expect("series value");
        let stable = [
            "redis_db_keys",
            "redis_commands_total{cmd=\"set\"}",
            "redis_commands_total{cmd=\"get\"}",
            "redis_commands_duration_seconds_total{cmd=\"set\"}",
            "redis_commands_failed_calls_total{cmd=\"lpush\"}",
            "redis_latency_percentiles_usec{cmd=\"set\"",
            "redis_latency_percentiles_usec_count{cmd=\"set\"}",
            "redis_commands_latencies_usec_bucket{cmd=\"set\"",
            "redis_commands_latencies_usec_sum{cmd=\"set\"}",
            "redis_errors_total{err=\"WRONGTYPE\"}",
            "redis_keyspace_",
            "redis_memory_max_bytes",
            "redis_config_maxmemory",
            "redis_config_maxclients",
            "redis_max_clients",
            "redis_slowlog_length",
            "redis_slowlog_last_id",
            "redis_last_slow_execution_duration_seconds",
            "redis_rdb_",
            "redis_aof_enabled",
            "redis_pubsub",
            "redis_number_of_cached_scripts",
            "redis_evicted_keys_total",
            "redis_expired_keys_total",
            "redis_blocked_clients",
            "redis_connected_slaves",
            "redis_process_id",
            "redis_up",
            "redis_total_system_memory_bytes",
            "redis_loading_dump_file",
        ];
        let family = series.split('{').next().unwrap_or_default();
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suffix| {
                family
                    .strip_suffix(suffix)
                    .filter(|f| our_families.contains_key(*f))
            })
            .unwrap_or(family);
        if !stable.iter().any(|p| series.starts_with(p)) || !their_families.contains_key(family) {
            continue;
        }
        let their = theirs.get(series);
        let ours_value: f64 = value.parse().expect("a number");
        assert_eq!(
            their,
            Some(ours_value),
            "{series}: ours {value}, redis_exporter {their:?}"
        );
        compared += 1;
    }
    assert!(compared >= 30, "only {compared} series compared");
}

// ---------------------------------------------------------------------------------------
// The community dashboard in a real Prometheus
// ---------------------------------------------------------------------------------------

/// A temporary directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let dir = std::env::temp_dir().join(format!("keyval-{tag}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A Prometheus server scraping us every second as job `rust-keyval`; stopped (by PID)
/// on drop.
struct Prometheus {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Prometheus {
    fn start(dir: &Path, metrics_port: u16) -> Prometheus {
        let config = dir.join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
                 scrape_configs:\n  - job_name: rust-keyval\n    static_configs:\n      \
                 - targets: [\"127.0.0.1:{metrics_port}\"]\n"
            ),
        )
        .expect("write prometheus.yml");
        for attempt in 0..3 {
            let port = free_port();
            let log = dir.join(format!("prometheus-{attempt}.log"));
            let log_file = std::fs::File::create(&log).expect("log file");
            let child = Command::new("prometheus")
                .arg(format!("--config.file={}", config.display()))
                .arg(format!(
                    "--storage.tsdb.path={}",
                    dir.join(format!("data-{attempt}")).display()
                ))
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .stdout(Stdio::null())
                .stderr(log_file)
                .spawn()
                .expect("start prometheus");
            let mut p = Prometheus { child, port, log };
            let ready = wait_for(Duration::from_secs(60), || {
                if matches!(p.child.try_wait(), Ok(Some(_))) {
                    return Some(false);
                }
                http_get(port, "/-/ready")
                    .is_ok_and(|(status, _)| status == 200)
                    .then_some(true)
            });
            if ready == Some(true) {
                return p;
            }
            eprintln!("prometheus did not start:\n{}", p.log_text());
            p.stop();
        }
        panic!("prometheus did not become ready on any of 3 ports");
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn stop(&mut self) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        // SAFETY: sending a signal to our own child process, by its PID.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let exited = wait_for(Duration::from_secs(10), || {
            self.child.try_wait().ok().flatten()
        });
        if exited.is_none() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }

    /// A GET on the HTTP API; returns `data`.
    fn api(&self, path: &str) -> Result<Value, String> {
        let (_, body) = http_get(self.port, path).map_err(|e| e.to_string())?;
        let json: Value = serde_json::from_str(&body).map_err(|e| format!("{e}: {body}"))?;
        if json["status"] != "success" {
            return Err(format!("{path} failed: {body}"));
        }
        Ok(json["data"].clone())
    }

    fn query(&self, promql: &str) -> Result<Vec<Value>, String> {
        let data = self.api(&format!("/api/v1/query?query={}", url_encode(promql)))?;
        data["result"]
            .as_array()
            .cloned()
            .ok_or_else(|| format!("query {promql:?}: no result vector: {data}"))
    }

    /// Polls `promql` until `accept` takes its result; fails the test after [`PATIENCE`].
    fn query_until(&self, promql: &str, accept: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let mut last = Ok(Vec::new());
        let found = wait_for(PATIENCE, || {
            last = self.query(promql);
            match &last {
                Ok(result) if accept(result) => Some(result.clone()),
                Err(e) => panic!("{e}"),
                _ => None,
            }
        });
        found.unwrap_or_else(|| {
            panic!(
                "timed out on {promql:?}; last answer {last:?}\nprometheus log:\n{}",
                self.log_text()
            )
        })
    }

    /// Grafana's `label_values(selector, label)`: the label's values over the series the
    /// selector matches (Grafana asks /api/v1/label/<label>/values with match[]).
    fn label_values(&self, selector: &str, label: &str) -> Vec<String> {
        let data = self
            .api(&format!(
                "/api/v1/label/{label}/values?match[]={}",
                url_encode(selector)
            ))
            .unwrap_or_else(|e| panic!("{e}"));
        data.as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        self.stop();
    }
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn values(result: &[Value]) -> Vec<f64> {
    result
        .iter()
        .filter_map(|r| r["value"][1].as_str()?.parse().ok())
        .collect()
}

/// The community dashboard (Grafana.com 763, from redis_exporter's contrib/).
fn community_dashboard() -> Value {
    let path = repo_file("monitoring/grafana/dashboards/redis-exporter-community.json");
    let text = std::fs::read_to_string(&path).expect("read the community dashboard");
    serde_json::from_str(&text).expect("the dashboard is valid JSON")
}

/// Every PromQL expression of a dashboard's panels, with its panel's title.
fn panel_queries(dashboard: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut panels: Vec<&Value> = dashboard["panels"]
        .as_array()
        .expect("panels")
        .iter()
        .collect();
    while let Some(p) = panels.pop() {
        if let Some(inner) = p["panels"].as_array() {
            panels.extend(inner);
        }
        for t in p["targets"].as_array().into_iter().flatten() {
            if let Some(expr) = t["expr"].as_str() {
                let title = p["title"].as_str().unwrap_or_default().to_string();
                out.push((title, expr.to_string()));
            }
        }
    }
    out
}

/// Grafana's Prometheus interpolation of a multi-value variable with one value selected:
/// regex metacharacters escaped with a doubled backslash (the PromQL string then holds
/// `\.`, which the regex reads as a literal dot).
fn grafana_regex_escape(value: &str) -> String {
    let mut out = String::new();
    for c in value.chars() {
        if "\\^$*+?.()|{}[]".contains(c) {
            out.push_str("\\\\");
        }
        out.push(c);
    }
    out
}

/// Runs `f` with steady traffic on the server: hits, misses, keys expiring 50 ms after
/// being set, evictions (a small maxmemory), and a client waiting in BLPOP. The load is
/// paced and bounded by [`PATIENCE`].
fn with_load<T>(k: &Keyval, f: impl FnOnce() -> T) -> T {
    let stop = Arc::new(AtomicBool::new(false));
    let deadline = Instant::now() + 3 * PATIENCE;
    let load = {
        let stop = Arc::clone(&stop);
        let mut c = k.client();
        thread::spawn(move || {
            let mut i = 0u64;
            let payload = "x".repeat(10_000);
            while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                let batch = vec![
                    format!("SET t{i} v PX 50"),
                    format!("GET t{i}"),
                    "GET never-set".to_string(),
                    "INCR counter".to_string(),
                    format!("SET big{i} {payload}"),
                    "RPUSH jobs j".to_string(),
                ];
                pipeline(&mut c, &batch);
                i += 1;
                // Pace the load (a few hundred commands a second); this is not a wait.
                thread::sleep(Duration::from_millis(10));
            }
        })
    };
    let worker = {
        let stop = Arc::clone(&stop);
        let mut c = k.client();
        thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                c.cmd("BLPOP jobs 1");
            }
        })
    };
    let result = f();
    stop.store(true, Ordering::Relaxed);
    load.join().expect("load thread");
    worker.join().expect("BLPOP thread");
    result
}

#[test]
fn prometheus_answers_every_query_of_the_community_dashboard() {
    if !have_tool("prometheus") {
        return;
    }
    // A maxmemory, so that the dashboard's "Memory Usage" (used / max) is a number and
    // the load evicts keys.
    let k = Keyval::start(&[
        "--metrics-compat",
        "redis-exporter",
        "--maxmemory",
        "4mb",
        "--maxmemory-policy",
        "allkeys-lru",
    ]);
    let dir = TempDir::new("prometheus-compat");
    let prom = Prometheus::start(&dir.0, k.metrics_port);
    prom.query_until(r#"redis_up{job="rust-keyval"}"#, |r| values(r) == [1.0]);

    let dashboard = community_dashboard();
    let queries = panel_queries(&dashboard);
    assert!(queries.len() >= 15, "{queries:?}");
    // The dashboard's variables, resolved as Grafana resolves them: `namespace` from
    // label_values(redis_up, namespace) (no such label on a plain scrape, so it is empty
    // and `namespace=~""` matches), `instance` from label_values(redis_up{namespace=~""},
    // instance): our target, found through redis_up.
    let variables = dashboard["templating"]["list"]
        .as_array()
        .expect("variables");
    let names: Vec<&str> = variables
        .iter()
        .filter_map(|v| v["name"].as_str())
        .collect();
    assert_eq!(names, ["DS_PROM", "namespace", "instance"]);
    let namespaces = prom.label_values("redis_up", "namespace");
    assert!(namespaces.is_empty(), "{namespaces:?}");
    let namespace = String::new();
    let instances = prom.label_values(
        &format!(r#"redis_up{{namespace=~"{namespace}"}}"#),
        "instance",
    );
    let target = format!("127.0.0.1:{}", k.metrics_port);
    assert_eq!(instances, std::slice::from_ref(&target));
    let instance = grafana_regex_escape(&target);

    with_load(&k, || {
        for (title, expr) in &queries {
            let promql = expr
                .replace("$namespace", &namespace)
                .replace("$instance", &instance)
                // Grafana's interval for a 24 h dashboard at its panels' resolution.
                .replace("$__interval", "1m");
            assert!(!promql.contains('$'), "uninterpolated variable in {promql}");
            // Data means at least one series with a finite value (a rate over no change,
            // or a ratio of nothing, is NaN).
            prom.query_until(&promql, |r| values(r).iter().any(|v| v.is_finite()));
            eprintln!("ok: {title}: {promql}");
        }
        // Panels that would show a flat zero prove little: these must move.
        for promql in [
            "sum(rate(redis_commands_total[1m])) by (cmd)",
            "rate(redis_evicted_keys_total[1m])",
            "rate(redis_expired_keys_total[1m])",
            "irate(redis_keyspace_misses_total[5m])",
        ] {
            prom.query_until(promql, |r| values(r).iter().any(|v| *v > 0.0));
        }
    });
}

#[test]
fn the_community_dashboard_is_provisioned_unchanged_with_its_licence() {
    let dashboard = community_dashboard();
    assert_eq!(
        dashboard["title"],
        "Redis Dashboard for Prometheus Redis Exporter 1.x"
    );
    // Its datasource is a dashboard variable of type datasource (the default one), so
    // Grafana's file provisioning resolves it without an import step.
    let ds = &dashboard["templating"]["list"][0];
    assert_eq!(
        (ds["name"].as_str(), ds["type"].as_str()),
        (Some("DS_PROM"), Some("datasource"))
    );
    let licence = std::fs::read_to_string(repo_file(
        "monitoring/grafana/dashboards/redis-exporter-community.LICENSE",
    ))
    .expect("the licence notice");
    assert!(licence.contains("MIT License") && licence.contains("Copyright (c) 2016 Oliver"));
    // The stack feeds it: compose turns compat mode on.
    let compose =
        std::fs::read_to_string(repo_file("monitoring/docker-compose.yml")).expect("compose");
    assert!(
        compose.contains("METRICS_COMPAT: redis-exporter"),
        "{compose}"
    );
}
