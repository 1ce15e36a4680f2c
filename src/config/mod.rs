//! Command-line and environment configuration (clap). Every setting is a flag with an
//! environment variable and a default; `rust-keyval --help` lists them.

pub mod file;
pub mod params;
pub mod process;
pub mod rewrite;
pub mod table;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;

use clap::Parser;

pub use params::{Params, Settings};

/// A Redis-compatible in-memory key-value server (RESP2 over TCP, Prometheus metrics).
#[derive(Debug, Clone, Parser)]
#[command(
    name = "rust-keyval",
    version,
    about,
    after_help = "Precedence: flags on the command line, then environment variables, then the \
configuration file, then the defaults shown. A directive of the file sets the same parameter \
as its flag (`port 7000`, `maxclients 100`...): a flag or environment variable given for it wins."
)]
pub struct Config {
    /// Address for RESP clients.
    #[arg(long, env = "KEYVAL_BIND", default_value = "127.0.0.1:6374")]
    pub bind: SocketAddr,

    /// Address of the Prometheus /metrics endpoint, or "off" to disable it.
    #[arg(long, env = "METRICS_BIND", default_value = "127.0.0.1:9100", value_parser = parse_metrics_bind)]
    pub metrics_bind: MetricsBind,

    /// Close a metrics connection that completes no request for this many milliseconds.
    /// Hidden: the default (30 s, see `metrics::http::DEFAULT_IDLE_TIMEOUT`) suits
    /// Prometheus; tests lower it so that they need not wait.
    #[arg(long, hide = true, default_value_t = 30_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub metrics_idle_timeout_ms: u64,

    /// Most clients connected at once; more are refused with Redis's error.
    #[arg(long, env = "KEYVAL_MAXCLIENTS", default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..))]
    pub maxclients: u32,

    /// Number of databases (SELECT 0 .. databases-1).
    #[arg(long, env = "KEYVAL_DATABASES", default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub databases: u32,

    /// Largest bulk argument a client may send (bytes; suffixes k, kb, m, mb, g, gb).
    #[arg(long, env = "KEYVAL_PROTO_MAX_BULK_LEN", default_value = "512mb", value_parser = parse_memory)]
    pub proto_max_bulk_len: u64,

    /// Close a client idle for this many seconds (0 = never).
    #[arg(long, env = "KEYVAL_TIMEOUT", default_value_t = 0)]
    pub timeout: u64,

    /// Password clients must give with AUTH before other commands (empty = none).
    #[arg(
        long,
        env = "KEYVAL_REQUIREPASS",
        default_value = "",
        hide_env_values = true
    )]
    pub requirepass: String,

    /// Protected mode (yes or no): while no password is set, refuse clients that do not
    /// connect from the loopback address, as Redis does.
    #[arg(long, env = "KEYVAL_PROTECTED_MODE", default_value = "yes", value_parser = parse_yes_no, action = clap::ArgAction::Set)]
    pub protected_mode: bool,

    /// Disconnect a client whose unsent replies exceed this many bytes (0 = no limit).
    #[arg(long, env = "KEYVAL_CLIENT_OUTPUT_LIMIT", default_value = "1gb", value_parser = parse_memory)]
    pub client_output_limit: u64,

    /// Memory limit (bytes; units as Redis: 100mb, 1gb...; 0 = none). Past it, keys are
    /// evicted by --maxmemory-policy, or writes fail with -OOM.
    #[arg(long, env = "KEYVAL_MAXMEMORY", default_value = "0")]
    pub maxmemory: String,

    /// What to evict past --maxmemory: noeviction, allkeys-lru, allkeys-lfu,
    /// allkeys-random, volatile-lru, volatile-lfu, volatile-random or volatile-ttl.
    #[arg(long, env = "KEYVAL_MAXMEMORY_POLICY", default_value = "noeviction")]
    pub maxmemory_policy: String,

    /// Keys sampled per eviction (more: closer to exact LRU/LFU, slower).
    #[arg(long, env = "KEYVAL_MAXMEMORY_SAMPLES", default_value = "5")]
    pub maxmemory_samples: String,

    /// After a busy loop turn, keep polling without sleeping for this many microseconds
    /// before blocking (0 = always block at once). Trades a little CPU for latency.
    #[arg(long, env = "KEYVAL_BUSY_POLL_US", default_value_t = 50)]
    pub busy_poll_us: u64,

    /// Working directory, where snapshots are written and read (Redis's `dir`; default:
    /// the directory the server starts in).
    #[arg(long, env = "KEYVAL_DIR")]
    pub dir: Option<String>,

    /// Snapshot file name inside --dir.
    #[arg(long, env = "KEYVAL_DBFILENAME", default_value = "dump.rdb")]
    pub dbfilename: String,

    /// Save points, as Redis's `save`: a snapshot is written when, for some pair
    /// "SECONDS CHANGES", that many seconds passed and that many changes were made since the
    /// last one. "" turns snapshots off (pure in-memory). Default: Redis's.
    #[arg(long, env = "KEYVAL_SAVE", default_value = "3600 1 300 100 60 10000")]
    pub save: String,

    /// LZF-compress long strings in snapshots (yes/no).
    #[arg(long, env = "KEYVAL_RDBCOMPRESSION", default_value = "yes", value_parser = parse_yes_no, action = clap::ArgAction::Set)]
    pub rdbcompression: bool,

    /// Write and check the CRC64 at the end of snapshots (yes/no).
    #[arg(long, env = "KEYVAL_RDBCHECKSUM", default_value = "yes", value_parser = parse_yes_no, action = clap::ArgAction::Set)]
    pub rdbchecksum: bool,

    /// Refuse writes with -MISCONF while the last background save has failed (yes/no).
    #[arg(long, env = "KEYVAL_STOP_WRITES_ON_BGSAVE_ERROR", default_value = "yes", value_parser = parse_yes_no, action = clap::ArgAction::Set)]
    pub stop_writes_on_bgsave_error: bool,

    /// Keep an append-only file of every write (yes/no), as Redis's `appendonly`.
    #[arg(long, env = "KEYVAL_APPENDONLY", default_value = "no", value_parser = parse_yes_no, action = clap::ArgAction::Set)]
    pub appendonly: bool,

    /// When the append-only file is fsynced: always, everysec or no.
    #[arg(long, env = "KEYVAL_APPENDFSYNC", default_value = "everysec")]
    pub appendfsync: String,

    /// The append-only file's directory, inside --dir.
    #[arg(long, env = "KEYVAL_APPENDDIRNAME", default_value = "appendonlydir")]
    pub appenddirname: String,

    /// The prefix of the append-only files' names.
    #[arg(long, env = "KEYVAL_APPENDFILENAME", default_value = "appendonly.aof")]
    pub appendfilename: String,

    /// Write the append-only file's base as an RDB (yes/no).
    #[arg(long, env = "KEYVAL_AOF_USE_RDB_PREAMBLE", default_value = "yes", value_parser = parse_yes_no, action = clap::ArgAction::Set)]
    pub aof_use_rdb_preamble: bool,

    /// Load an append-only file whose last command was cut short, dropping that command
    /// (yes/no).
    #[arg(long, env = "KEYVAL_AOF_LOAD_TRUNCATED", default_value = "yes", value_parser = parse_yes_no, action = clap::ArgAction::Set)]
    pub aof_load_truncated: bool,

    /// Allow the DEBUG command: no, yes, or local (loopback clients only), as Redis 7's
    /// `enable-debug-command`.
    #[arg(long, env = "KEYVAL_ENABLE_DEBUG_COMMAND", default_value = "no", value_parser = ["no", "yes", "local"])]
    pub enable_debug_command: String,

    /// Log level: error, warn, info, debug or trace. Logs go to stderr.
    #[arg(long, env = "KEYVAL_LOG_LEVEL", default_value = "info", value_parser = parse_level)]
    pub log_level: log::LevelFilter,

    /// Other metric names to export on /metrics besides ours: none, or redis-exporter
    /// (also the names, labels and units of oliver006/redis_exporter, so that Redis
    /// dashboards and alerts built on it work unchanged).
    #[arg(long, env = "METRICS_COMPAT", default_value = "none", value_enum)]
    pub metrics_compat: MetricsCompat,

    /// A configuration file in Redis's format (redis.conf: `directive arg ...` lines,
    /// quoting, `include`). Flags and environment variables given override it.
    #[arg(value_name = "CONFIG_FILE")]
    pub config_file: Option<PathBuf>,

    /// What [`Config::resolve`] found; not a flag.
    #[arg(skip)]
    pub startup: Startup,
}

/// Which other exporter's metric names /metrics adds to its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum MetricsCompat {
    /// Only this server's names (`keyval_*` and `process_*`).
    None,
    /// Also oliver006/redis_exporter's names (`redis_*`).
    RedisExporter,
}

/// The outcome of resolving flags, environment and configuration file at startup.
#[derive(Debug, Clone, Default)]
pub struct Startup {
    /// Flags (clap ids) given on the command line or in the environment: they win over
    /// the file.
    pub explicit: Vec<String>,
    /// Every parameter's startup value.
    pub params: Option<Params>,
    /// The listening address came from the file's `bind` and `port`.
    pub listen_from_file: bool,
    /// The file's `bind` addresses after the first (which is `bind`'s): more listening
    /// sockets on the same port, each with whether it is optional (`-::1`: skipped when the
    /// address is not available, as Redis does).
    pub more_binds: Vec<(IpAddr, bool)>,
    /// The file's rename-command lines, checked: (command, new name), lower case.
    pub renames: Vec<(String, String)>,
    /// Redis-style options (`--supervised systemd`): directives given on the command line
    /// that are not flags here, each as its name and arguments.
    pub options: Vec<Vec<Vec<u8>>>,
}

/// Why the server cannot start with this configuration.
#[derive(Debug)]
pub enum StartError {
    /// The configuration file is wrong (printed in Redis's format).
    File(file::FatalError),
    /// Anything else.
    Other(String),
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartError::File(e) => e.fmt(f),
            StartError::Other(e) => f.write_str(e),
        }
    }
}

/// Where the metrics endpoint listens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricsBind {
    /// Serve /metrics on this address.
    On(SocketAddr),
    /// No metrics endpoint.
    Off,
}

fn parse_metrics_bind(s: &str) -> Result<MetricsBind, String> {
    if s.eq_ignore_ascii_case("off") || s.is_empty() {
        return Ok(MetricsBind::Off);
    }
    s.parse()
        .map(MetricsBind::On)
        .map_err(|e| format!("{e} (expected HOST:PORT or \"off\")"))
}

fn parse_yes_no(s: &str) -> Result<bool, String> {
    match s.to_ascii_lowercase().as_str() {
        "yes" => Ok(true),
        "no" => Ok(false),
        _ => Err(format!("expected yes or no, got {s:?}")),
    }
}

fn parse_level(s: &str) -> Result<log::LevelFilter, String> {
    s.parse()
        .map_err(|_| format!("unknown log level {s:?} (error, warn, info, debug, trace, off)"))
}

/// Parses a byte count with Redis's memory units: `100`, `1k` (1000), `1kb` (1024), `2mb`, `1gb`.
pub fn parse_memory(s: &str) -> Result<u64, String> {
    let lower = s.trim().to_ascii_lowercase();
    let digits_end = lower
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(lower.len());
    let (num, unit) = lower.split_at(digits_end);
    let n: u64 = num.parse().map_err(|_| format!("invalid size: {s}"))?;
    let mul: u64 = match unit {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1000 * 1000,
        "mb" => 1024 * 1024,
        "g" => 1000 * 1000 * 1000,
        "gb" => 1024 * 1024 * 1024,
        _ => return Err(format!("invalid size unit in {s}")),
    };
    n.checked_mul(mul)
        .ok_or_else(|| format!("size too large: {s}"))
}

impl Config {
    /// The configuration built from defaults only (tests, benches).
    pub fn default_for_tests() -> Config {
        Config::parse_from(["rust-keyval"])
    }

    /// Parses the command line (exiting on errors and --help, as clap does) and records
    /// which flags were given explicitly.
    pub fn from_command_line() -> Config {
        use clap::parser::ValueSource;
        use clap::{CommandFactory, FromArgMatches};
        let (args, options) = redis_options(&Config::command(), std::env::args_os().collect());
        let matches = Config::command().get_matches_from(args);
        let mut config = Config::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
        config.startup.options = options;
        config.startup.explicit = matches
            .ids()
            .filter(|id| {
                matches!(
                    matches.value_source(id.as_str()),
                    Some(ValueSource::CommandLine | ValueSource::EnvVariable)
                )
            })
            .map(|id| id.to_string())
            .collect();
        config
    }

    fn explicit(&self, id: &str) -> bool {
        self.startup.explicit.iter().any(|e| e == id)
    }

    /// The parameters the flags set: (clap id, parameter, value).
    fn flag_settings(&self) -> Vec<(&'static str, &'static str, String)> {
        let yes_no = |b: bool| if b { "yes" } else { "no" }.to_string();
        let mut v = vec![
            ("bind", "bind", self.bind.ip().to_string()),
            ("bind", "port", self.bind.port().to_string()),
            ("databases", "databases", self.databases.to_string()),
            ("maxclients", "maxclients", self.maxclients.to_string()),
            ("timeout", "timeout", self.timeout.to_string()),
            (
                "protected_mode",
                "protected-mode",
                yes_no(self.protected_mode),
            ),
            ("requirepass", "requirepass", self.requirepass.clone()),
            (
                "proto_max_bulk_len",
                "proto-max-bulk-len",
                self.proto_max_bulk_len.to_string(),
            ),
            (
                "client_output_limit",
                "client-output-buffer-limit",
                format!("normal {0} 0 0", self.client_output_limit),
            ),
        ];
        if let Some(dir) = &self.dir {
            v.push(("dir", "dir", dir.clone()));
        }
        v.extend([
            ("dbfilename", "dbfilename", self.dbfilename.clone()),
            ("save", "save", self.save.clone()),
            (
                "rdbcompression",
                "rdbcompression",
                yes_no(self.rdbcompression),
            ),
            ("rdbchecksum", "rdbchecksum", yes_no(self.rdbchecksum)),
            (
                "stop_writes_on_bgsave_error",
                "stop-writes-on-bgsave-error",
                yes_no(self.stop_writes_on_bgsave_error),
            ),
            ("appendonly", "appendonly", yes_no(self.appendonly)),
            (
                "enable_debug_command",
                "enable-debug-command",
                self.enable_debug_command.clone(),
            ),
            ("appendfsync", "appendfsync", self.appendfsync.clone()),
            ("appenddirname", "appenddirname", self.appenddirname.clone()),
            (
                "appendfilename",
                "appendfilename",
                self.appendfilename.clone(),
            ),
            (
                "aof_use_rdb_preamble",
                "aof-use-rdb-preamble",
                yes_no(self.aof_use_rdb_preamble),
            ),
            (
                "aof_load_truncated",
                "aof-load-truncated",
                yes_no(self.aof_load_truncated),
            ),
            ("maxmemory", "maxmemory", self.maxmemory.clone()),
            (
                "maxmemory_policy",
                "maxmemory-policy",
                self.maxmemory_policy.clone(),
            ),
            (
                "maxmemory_samples",
                "maxmemory-samples",
                self.maxmemory_samples.clone(),
            ),
            (
                "log_level",
                "loglevel",
                Params::loglevel_name(self.log_level).to_string(),
            ),
        ]);
        v
    }

    /// Works out every parameter's startup value, in layers: the defaults of the flags not
    /// given, then the configuration file (if any), then the flags and environment
    /// variables given. The fields the server reads directly (`bind`, `databases`,
    /// `log_level`) are updated from the result. Returns the warnings to log once logging
    /// is set up.
    pub fn resolve(&mut self) -> Result<Vec<String>, StartError> {
        let settings = self.flag_settings();
        let mut p = Params::new();
        let apply = |p: &mut Params, explicit: bool| -> Result<(), StartError> {
            for (id, name, value) in &settings {
                if self.explicit(id) == explicit {
                    p.set_startup(name, value.as_bytes())
                        .map_err(StartError::Other)?;
                }
            }
            Ok(())
        };
        apply(&mut p, false)?;
        let mut loaded = file::Loaded::default();
        let path =
            match &self.config_file {
                // Kept absolute: the file may change the working directory (`dir`).
                Some(path) => Some(std::path::absolute(path).map_err(|e| {
                    StartError::Other(format!("config file {}: {e}", path.display()))
                })?),
                None => None,
            };
        if path.is_some() || !self.startup.options.is_empty() {
            loaded = file::load_with_options(path.as_deref(), &self.startup.options, &mut p)
                .map_err(StartError::File)?;
            p.config_file = path;
        }
        apply(&mut p, true)?;
        let warnings = loaded.warnings;
        self.startup.renames = loaded.renames;
        if loaded.sets_listener && !self.explicit("bind") {
            let (addr, more) = listen_addresses(&p).map_err(StartError::Other)?;
            self.bind = addr;
            self.startup.listen_from_file = true;
            self.startup.more_binds = more;
        }
        let databases = p.get("databases").unwrap_or_default();
        self.databases = std::str::from_utf8(&databases)
            .ok()
            .and_then(|d| d.parse().ok())
            .unwrap_or(self.databases);
        if (self.config_file.is_some() || !self.startup.options.is_empty())
            && !self.explicit("log_level")
        {
            self.log_level = Params::log_filter(p.settings.loglevel);
        }
        self.startup.params = Some(p);
        Ok(warnings)
    }

    /// The run-time parameters (CONFIG GET shows them), for a server listening on `bound`.
    pub fn params(&self, bound: SocketAddr) -> Result<Params, String> {
        let mut p = match &self.startup.params {
            Some(p) => p.clone(),
            None => {
                let mut resolved = self.clone();
                resolved.resolve().map_err(|e| e.to_string())?;
                resolved.startup.params.unwrap_or_default()
            }
        };
        if !self.startup.listen_from_file {
            p.set_startup("bind", bound.ip().to_string().as_bytes())?;
        }
        p.set_startup("port", bound.port().to_string().as_bytes())?;
        Ok(p)
    }
}

/// Splits Redis-style options out of the command line: `--name value ...` where `name` is
/// a Redis directive and not one of our flags (`--port 7000`, `--supervised systemd`,
/// `--daemonize no`), its values running to the next `--` argument. The rest is for clap.
fn redis_options(
    command: &clap::Command,
    argv: Vec<std::ffi::OsString>,
) -> (Vec<std::ffi::OsString>, Vec<Vec<Vec<u8>>>) {
    use std::os::unix::ffi::OsStrExt;
    let flags: Vec<&str> = command
        .get_arguments()
        .filter_map(|a| a.get_long())
        .chain(["help", "version"])
        .collect();
    let mut rest = Vec::with_capacity(argv.len());
    let mut options: Vec<Vec<Vec<u8>>> = Vec::new();
    let mut in_option = false;
    for (i, arg) in argv.into_iter().enumerate() {
        let bytes = arg.as_bytes();
        let name = bytes.strip_prefix(b"--").filter(|n| !n.is_empty());
        if i > 0
            && let Some(name) = name
            && !name.contains(&b'=')
        {
            let is_flag = flags.iter().any(|f| f.as_bytes() == name);
            in_option = !is_flag && params::Params::is_directive(name);
            if in_option {
                options.push(vec![name.to_vec()]);
                continue;
            }
        } else if in_option && let Some(option) = options.last_mut() {
            option.push(bytes.to_vec());
            continue;
        }
        rest.push(arg);
    }
    (rest, options)
}

/// The addresses to listen on for the `bind` and `port` parameters, as Redis listens on
/// every address of `bind`: the first usable one (with the port), then the others (with
/// whether each is optional). An address marked optional (`-`) that cannot be resolved or
/// bound here (no IPv6, say) is skipped, as Redis skips it.
fn listen_addresses(p: &Params) -> Result<(SocketAddr, Vec<(IpAddr, bool)>), String> {
    let port = p.settings.port;
    let list = String::from_utf8_lossy(&p.get("bind").unwrap_or_default()).into_owned();
    let entries: Vec<&str> = list.split(' ').filter(|e| !e.is_empty()).collect();
    if entries.is_empty() {
        return Err(
            "bind \"\" (no TCP listener) is not supported: rust-keyval has no unix socket".into(),
        );
    }
    let mut first = None;
    let mut more = Vec::new();
    for entry in &entries {
        let optional = entry.starts_with('-');
        let host = entry.trim_start_matches('-');
        let ip = match host {
            "*" => Some(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
            "::*" => Some(IpAddr::V6(Ipv6Addr::UNSPECIFIED)),
            _ => host.parse::<IpAddr>().ok().or_else(|| {
                (host, port)
                    .to_socket_addrs()
                    .ok()
                    .and_then(|mut a| a.next())
                    .map(|a| a.ip())
            }),
        };
        let Some(ip) = ip else {
            if optional {
                continue;
            }
            return Err(format!("bind: cannot resolve address {host}"));
        };
        if first.is_some() {
            more.push((ip, optional));
            continue;
        }
        // The first socket gives the port the others share (port 0: one the system picks),
        // so it must be one that can be bound.
        if optional && std::net::TcpListener::bind((ip, 0)).is_err() {
            continue;
        }
        first = Some(SocketAddr::new(ip, port));
    }
    let addr = first.ok_or_else(|| format!("bind: none of the addresses can be used: {list}"))?;
    Ok((addr, more))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_units() {
        assert_eq!(parse_memory("512mb"), Ok(512 * 1024 * 1024));
        assert_eq!(parse_memory("1k"), Ok(1000));
        assert_eq!(parse_memory("1GB"), Ok(1 << 30));
        assert_eq!(parse_memory("42"), Ok(42));
        assert!(parse_memory("x").is_err());
        assert!(parse_memory("1tb").is_err());
    }

    #[test]
    fn defaults() {
        let c = Config::default_for_tests();
        assert_eq!(c.bind.to_string(), "127.0.0.1:6374");
        assert_eq!(
            c.metrics_bind,
            MetricsBind::On("127.0.0.1:9100".parse().unwrap())
        );
        assert_eq!(c.maxclients, 10_000);
        assert_eq!(c.databases, 16);
        assert_eq!(c.proto_max_bulk_len, 512 * 1024 * 1024);
        assert!(c.requirepass.is_empty());
        let off = Config::parse_from(["rust-keyval", "--metrics-bind", "off"]);
        assert_eq!(off.metrics_bind, MetricsBind::Off);
        assert_eq!(c.metrics_compat, MetricsCompat::None);
    }

    #[test]
    fn metrics_compat_values() {
        let c = Config::parse_from(["rust-keyval", "--metrics-compat", "redis-exporter"]);
        assert_eq!(c.metrics_compat, MetricsCompat::RedisExporter);
        let e = Config::try_parse_from(["rust-keyval", "--metrics-compat", "prometheus"])
            .expect_err("an unknown value is refused");
        let text = e.to_string();
        assert!(
            text.contains("possible values: none, redis-exporter"),
            "{text}"
        );
    }
}
