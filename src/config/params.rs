//! Run-time parameters: the values behind CONFIG GET and CONFIG SET, validated as Redis 7.0
//! validates them (config.c), with Redis's error texts.
//!
//! Every parameter of [`super::table::PARAMS`] has a stored value. The ones that drive
//! behaviour here are also kept typed in [`Settings`], recomputed after every change, so
//! the event loop and the handlers read plain fields.

use std::net::IpAddr;

use super::table::{LOGLEVELS, PARAMS, SHUTDOWN_ON_SIG};

/// Parameter flags (Redis's `*_CONFIG` flags that change what CONFIG does).
pub mod flags {
    /// Set only at startup: CONFIG SET refuses it.
    pub const IMMUTABLE: u16 = 1 << 0;
    /// Refused unless `enable-protected-configs` allows it.
    pub const PROTECTED: u16 = 1 << 1;
    /// A secret: never shown in logs.
    pub const SENSITIVE: u16 = 1 << 2;
    /// Left out of CONFIG GET patterns: only an exact name finds it.
    pub const HIDDEN: u16 = 1 << 3;
    /// The value is a space-separated list.
    pub const MULTI_ARG: u16 = 1 << 4;
    /// `activedefrag yes` is refused: it needs Redis's own jemalloc.
    pub const NO_DEFRAG: u16 = 1 << 5;
    /// A non-zero `tls-port` is refused: there is no TLS listener.
    pub const NO_TLS: u16 = 1 << 6;
}
use flags::*;

/// How a numeric parameter is written and read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumFormat {
    /// A plain integer.
    Plain,
    /// Bytes, with Redis's units (`1k` = 1000, `1kb` = 1024, ... `gb`).
    Memory,
    /// Bytes, or a percentage (`10%`, stored negative as Redis does).
    MemoryOrPercent,
    /// An octal number (unixsocketperm).
    Octal,
}

/// Extra validation of a string parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// Any string.
    None,
    /// A file name without a directory (dbfilename).
    DbFilename,
    /// A non-empty file name without a directory (appendfilename).
    AofFilename,
    /// A non-empty directory name without a path (appenddirname).
    AofDirname,
    /// Letters, digits, '-' and '.' (cluster-announce-hostname).
    Hostname,
    /// A template of known `{variables}` that expands to something (proc-title-template).
    ProcTitle,
}

/// Parameters with a syntax of their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Special {
    /// The working directory.
    Dir,
    /// `seconds changes` pairs.
    Save,
    /// `class hard soft seconds` groups.
    ClientOutputBufferLimit,
    /// Three integers.
    OomScoreAdjValues,
    /// Event class letters.
    NotifyKeyspaceEvents,
    /// Listening addresses.
    Bind,
    /// `host port` or `no one`.
    ReplicaOf,
    /// Percentiles for INFO latencystats.
    LatencyPercentiles,
}

/// The type of a parameter, with its default.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// yes / no.
    Bool {
        /// Default.
        default: bool,
    },
    /// An integer within `min..=max`.
    Num {
        /// Lowest value.
        min: i128,
        /// Highest value.
        max: i128,
        /// Default.
        default: i64,
        /// Compared as C's unsigned types are (so -1 is out of range, with `%llu` bounds).
        unsigned: bool,
        /// Units accepted and shown.
        format: NumFormat,
    },
    /// One of a list of names (a set of them when the parameter is MULTI_ARG).
    Enum {
        /// Names and values.
        values: &'static [(&'static str, u32)],
        /// Default value.
        default: u32,
    },
    /// A string.
    Str {
        /// Default.
        default: &'static str,
        /// Validation.
        check: Check,
    },
    /// Its own syntax.
    Special(Special),
}

/// One parameter of the table.
#[derive(Debug, Clone, Copy)]
pub struct Param {
    /// Its name.
    pub name: &'static str,
    /// Its older name, if any (`hash-max-ziplist-entries` for `hash-max-listpack-entries`).
    pub alias: Option<&'static str>,
    /// [`flags`].
    pub flags: u16,
    /// Type and default.
    pub kind: Kind,
}

/// A stored value.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Value {
    Bool(bool),
    Num(i64),
    Enum(u32),
    Str(Vec<u8>),
    Save(Vec<(i64, i64)>),
    Obuf([ObufLimit; 3]),
    Oom([i64; 3]),
    Events(u32),
    Bind(Vec<Vec<u8>>),
    /// Dir is the process's working directory; ReplicaOf is always "no one" here.
    Derived,
    Percentiles(Vec<f64>),
}

/// One class's output buffer limit (Redis's `clientBufferLimitsConfig`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ObufLimit {
    /// Disconnect at once past this many bytes (0 = no limit).
    pub hard: u64,
    /// Disconnect when over this many bytes for `soft_seconds` (0 = no limit).
    pub soft: u64,
    /// How long the soft limit may be exceeded.
    pub soft_seconds: u64,
}

/// Redis's `client-output-buffer-limit` defaults, per class (normal, replica, pubsub).
pub const OBUF_DEFAULTS: [ObufLimit; 3] = [
    ObufLimit {
        hard: 0,
        soft: 0,
        soft_seconds: 0,
    },
    ObufLimit {
        hard: 256 << 20,
        soft: 64 << 20,
        soft_seconds: 60,
    },
    ObufLimit {
        hard: 32 << 20,
        soft: 8 << 20,
        soft_seconds: 60,
    },
];

/// Client classes of client-output-buffer-limit, in Redis's order.
pub const OBUF_CLASSES: [&str; 3] = ["normal", "slave", "pubsub"];
/// Index of normal clients in the limits.
pub const OBUF_NORMAL: usize = 0;
/// Index of pub/sub clients in the limits.
pub const OBUF_PUBSUB: usize = 2;

/// Keyspace event classes (Redis's NOTIFY_* bits).
pub mod notify {
    /// `K`
    pub const KEYSPACE: u32 = 1 << 0;
    /// `E`
    pub const KEYEVENT: u32 = 1 << 1;
    /// `g`
    pub const GENERIC: u32 = 1 << 2;
    /// `$`
    pub const STRING: u32 = 1 << 3;
    /// `l`
    pub const LIST: u32 = 1 << 4;
    /// `s`
    pub const SET: u32 = 1 << 5;
    /// `h`
    pub const HASH: u32 = 1 << 6;
    /// `z`
    pub const ZSET: u32 = 1 << 7;
    /// `x`
    pub const EXPIRED: u32 = 1 << 8;
    /// `e`
    pub const EVICTED: u32 = 1 << 9;
    /// `t`
    pub const STREAM: u32 = 1 << 10;
    /// `m` (not part of `A`)
    pub const KEY_MISS: u32 = 1 << 11;
    /// `d`
    pub const MODULE: u32 = 1 << 13;
    /// `n`
    pub const NEW: u32 = 1 << 14;
    /// `A`
    pub const ALL: u32 =
        GENERIC | STRING | LIST | SET | HASH | ZSET | EXPIRED | EVICTED | STREAM | MODULE;
}

/// The values that drive behaviour, typed (recomputed after every CONFIG SET).
#[derive(Debug, Clone)]
pub struct Settings {
    /// The port clients connect to (INFO tcp_port).
    pub port: u16,
    /// Close clients idle this many seconds (0 = never).
    pub timeout: u64,
    /// Most clients at once.
    pub maxclients: u64,
    /// AUTH password (None = no password).
    pub requirepass: Option<Vec<u8>>,
    /// Largest bulk argument.
    pub proto_max_bulk_len: u64,
    /// Most unparsed bytes a client may have buffered.
    pub query_buffer_limit: u64,
    /// Output buffer limits per class ([`OBUF_CLASSES`]).
    pub obuf_limits: [ObufLimit; 3],
    /// Refuse non-loopback clients while no password is set.
    pub protected_mode: bool,
    /// Redis's verbosity (0 debug .. 3 warning).
    pub loglevel: u32,
    /// Cron frequency, clamped to 1..=500 as Redis does.
    pub hz: u32,
    /// SO_KEEPALIVE interval for new clients, seconds (0 = off).
    pub tcp_keepalive: u32,
    /// INFO latencystats on or off.
    pub latency_tracking: bool,
    /// `min-replicas-to-write` and `min-replicas-max-lag` are both set: with no replicas
    /// (this server has none) writes are refused with -NOREPLICAS, as Redis's
    /// checkGoodReplicasStatus refuses them.
    pub min_replicas_refuse: bool,
    /// Percentiles INFO latencystats reports.
    pub latency_percentiles: Vec<f64>,
    /// SLOWLOG logs commands that ran at least this long, microseconds (-1 = off).
    pub slowlog_slower_than_us: i64,
    /// Most SLOWLOG entries.
    pub slowlog_max_len: u64,
    /// The latency monitor samples events at least this long, ms (0 = off).
    pub latency_monitor_threshold_ms: u64,
    /// A run at least this long (ns) may concern SLOWLOG or the latency monitor: the
    /// one comparison the command path makes for both (u64::MAX when both are off).
    pub slow_watch_ns: u64,
    /// Keyspace event classes.
    pub notify_keyspace_events: u32,
    /// Most keys the client-side caching table remembers (0 = no limit).
    pub tracking_table_max_keys: u64,
    /// A script running longer (ms) makes the server answer others with -BUSY (0 = never).
    pub busy_reply_threshold_ms: u64,
    /// Largest sparse HyperLogLog, bytes, header included (`hll-sparse-max-bytes`).
    pub hll_sparse_max_bytes: u64,
    /// Stream node limits (`stream-node-max-bytes`, `stream-node-max-entries`).
    pub stream_node_limits: crate::store::stream::NodeLimits,
    /// When collections change encoding (`*-max-listpack-*`, `set-max-intset-entries`).
    pub limits: crate::store::Limits,
    /// Which deletions free big values on the lazyfree thread (`lazyfree-lazy-*`).
    pub lazyfree: crate::store::lazyfree::Options,
    /// maxmemory and eviction.
    pub memory: MemorySettings,
    /// Snapshot settings (`save`, `dbfilename`, `rdb*`, `stop-writes-on-bgsave-error`).
    pub rdb: RdbSettings,
    /// Append-only file settings (`appendonly`, `appendfsync`, `aof-*`...).
    pub aof: AofSettings,
}

/// The shortest run that SLOWLOG (`slowlog-log-slower-than`, -1 = off) or the latency
/// monitor (`latency-monitor-threshold`, 0 = off) may want to see, in nanoseconds.
fn slow_watch_ns(slowlog_us: i64, monitor_ms: u64) -> u64 {
    let slowlog = u64::try_from(slowlog_us).map_or(u64::MAX, |us| us.saturating_mul(1000));
    let monitor = match monitor_ms {
        0 => u64::MAX,
        ms => ms.saturating_mul(1_000_000),
    };
    slowlog.min(monitor)
}

/// When the append-only file is fsynced (`appendfsync`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Fsync {
    /// Never: the kernel writes back when it likes.
    No,
    /// After every write, before the replies go out.
    Always,
    /// About once a second, off the event loop.
    #[default]
    EverySec,
}

/// The append-only file's settings.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AofSettings {
    /// `appendonly`.
    pub enabled: bool,
    /// `appendfsync`.
    pub fsync: Fsync,
    /// `appenddirname`, inside `dir`.
    pub dirname: String,
    /// `appendfilename`: the prefix of the files' names.
    pub filename: String,
    /// `aof-use-rdb-preamble`: the base file is an RDB (else commands).
    pub rdb_preamble: bool,
    /// `aof-load-truncated`: a torn last command is cut off instead of stopping the start.
    pub load_truncated: bool,
    /// `auto-aof-rewrite-percentage` (0 = no automatic rewrite).
    pub auto_rewrite_percentage: u64,
    /// `auto-aof-rewrite-min-size` in bytes.
    pub auto_rewrite_min_size: u64,
}

/// How and when snapshots are written.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RdbSettings {
    /// Save points: (seconds, changes) pairs.
    pub save_points: Vec<(u64, u64)>,
    /// The snapshot's file name, in the working directory (`dir`).
    pub dbfilename: String,
    /// LZF-compress long strings.
    pub compression: bool,
    /// Write (and check) the CRC64 trailer.
    pub checksum: bool,
    /// Refuse writes with -MISCONF after a failed background save.
    pub stop_writes_on_error: bool,
}

/// The memory limit and how it is kept (`maxmemory*`, `lfu-*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemorySettings {
    /// `maxmemory` in bytes (0 = no limit).
    pub maxmemory: u64,
    /// `maxmemory-policy`.
    pub policy: crate::store::evict::Policy,
    /// `maxmemory-samples`.
    pub samples: usize,
    /// `maxmemory-eviction-tenacity` (0..=100).
    pub tenacity: u32,
    /// `lfu-log-factor`.
    pub lfu_log_factor: u32,
    /// `lfu-decay-time` (minutes).
    pub lfu_decay_time: u32,
}

impl MemorySettings {
    /// How the keyspace keeps access metadata under these settings.
    pub fn access_mode(&self) -> crate::store::evict::AccessMode {
        crate::store::evict::AccessMode::new(
            self.policy.is_lfu(),
            self.lfu_log_factor,
            self.lfu_decay_time,
        )
    }

    /// How long one eviction pass may run, in microseconds (Redis's
    /// `evictionTimeLimitUs`: 50 us per step up to tenacity 10, then +15% per step; no
    /// limit at 100).
    pub fn eviction_time_limit_us(&self) -> u64 {
        match self.tenacity {
            t if t <= 10 => 50 * u64::from(t),
            t if t < 100 => (500.0 * 1.15f64.powi(t as i32 - 10)) as u64,
            _ => u64::MAX,
        }
    }
}

impl Settings {
    /// Most reply bytes a normal client may have pending before its hard output limit
    /// closes it (usize::MAX without one): handlers that could build an unbounded reply
    /// (SRANDMEMBER, HRANDFIELD with a huge negative count) stop there.
    pub fn max_pending_reply(&self) -> usize {
        match self.obuf_limits[OBUF_NORMAL].hard {
            0 => usize::MAX,
            hard => (hard as usize).saturating_add(crate::resp::reply::FIXED_BUFFER),
        }
    }
}

/// Every parameter's value.
#[derive(Debug, Clone)]
pub struct Params {
    values: Vec<Value>,
    /// The configuration file the server started from (absolute), for CONFIG REWRITE.
    pub config_file: Option<std::path::PathBuf>,
    /// Typed copies of the values that drive behaviour.
    pub settings: Settings,
}

/// The parameter called `name` (or with that alias), any case.
fn lookup(name: &[u8]) -> Option<usize> {
    lookup_spelled(name).map(|(id, _)| id)
}

/// The parameter called `name` and the table's spelling of the name that matched (Redis
/// registers an alias as a parameter of its own, so errors name the alias that was used).
fn lookup_spelled(name: &[u8]) -> Option<(usize, &'static str)> {
    PARAMS.iter().enumerate().find_map(|(id, p)| {
        std::iter::once(p.name)
            .chain(p.alias)
            .find(|n| n.as_bytes().eq_ignore_ascii_case(name))
            .map(|n| (id, n))
    })
}

impl Default for Params {
    fn default() -> Params {
        Params::new()
    }
}

impl Params {
    /// Every parameter at Redis's default, except `save` (empty: nothing is saved) and
    /// `bind` (loopback, this server's default).
    pub fn new() -> Params {
        let values: Vec<Value> = PARAMS
            .iter()
            .map(|p| match p.kind {
                Kind::Bool { default } => Value::Bool(default),
                Kind::Num { default, .. } => Value::Num(default),
                Kind::Enum { default, .. } => Value::Enum(default),
                Kind::Str { default, .. } => Value::Str(default.as_bytes().to_vec()),
                Kind::Special(s) => match s {
                    Special::Dir | Special::ReplicaOf => Value::Derived,
                    Special::Save => Value::Save(Vec::new()),
                    Special::ClientOutputBufferLimit => Value::Obuf(OBUF_DEFAULTS),
                    Special::OomScoreAdjValues => Value::Oom([0, 200, 800]),
                    Special::NotifyKeyspaceEvents => Value::Events(0),
                    Special::Bind => Value::Bind(vec![b"127.0.0.1".to_vec()]),
                    Special::LatencyPercentiles => Value::Percentiles(vec![50.0, 99.0, 99.9]),
                },
            })
            .collect();
        let mut params = Params {
            values,
            config_file: None,
            settings: Settings {
                port: 0,
                timeout: 0,
                maxclients: 0,
                requirepass: None,
                proto_max_bulk_len: 0,
                query_buffer_limit: 0,
                obuf_limits: [ObufLimit::default(); 3],
                protected_mode: true,
                loglevel: 2,
                hz: 10,
                tcp_keepalive: 0,
                latency_tracking: true,
                min_replicas_refuse: false,
                latency_percentiles: Vec::new(),
                slowlog_slower_than_us: 10_000,
                slowlog_max_len: 128,
                latency_monitor_threshold_ms: 0,
                slow_watch_ns: 10_000_000,
                notify_keyspace_events: 0,
                tracking_table_max_keys: 1_000_000,
                busy_reply_threshold_ms: 5000,
                hll_sparse_max_bytes: 3000,
                stream_node_limits: Default::default(),
                limits: crate::store::Limits::default(),
                lazyfree: Default::default(),
                rdb: RdbSettings::default(),
                aof: AofSettings::default(),
                memory: MemorySettings {
                    maxmemory: 0,
                    policy: crate::store::evict::Policy::NoEviction,
                    samples: 5,
                    tenacity: 10,
                    lfu_log_factor: 10,
                    lfu_decay_time: 1,
                },
            },
        };
        params.refresh();
        params
    }

    /// Sets a parameter at startup (flags, config file): immutable ones too.
    pub fn set_startup(&mut self, name: &str, value: &[u8]) -> Result<(), String> {
        let id = lookup(name.as_bytes()).ok_or_else(|| format!("unknown parameter {name}"))?;
        self.set_one(id, value, true)
            .map_err(|e| format!("{name}: {e}"))?;
        self.refresh();
        Ok(())
    }

    /// The value CONFIG GET shows for a parameter name (or alias), if it exists.
    pub fn get(&self, name: &str) -> Option<Vec<u8>> {
        lookup(name.as_bytes()).map(|id| self.show(id))
    }

    /// CONFIG GET: every (name, value) matching one of `patterns` (globs, case-insensitive;
    /// an exact name is echoed as given, hidden parameters only by exact name).
    pub fn matching(&self, patterns: &[&[u8]]) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut found: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        let mut seen: Vec<Vec<u8>> = Vec::new();
        let mut add = |shown: &[u8], value: Vec<u8>, found: &mut Vec<(Vec<u8>, Vec<u8>)>| {
            let folded = shown.to_ascii_lowercase();
            if !seen.contains(&folded) {
                seen.push(folded);
                found.push((shown.to_vec(), value));
            }
        };
        for pattern in patterns {
            if !pattern.iter().any(|c| b"[*?".contains(c)) {
                if let Some(id) = lookup(pattern) {
                    add(pattern, self.show(id), &mut found);
                }
                continue;
            }
            for (id, p) in PARAMS.iter().enumerate() {
                if p.flags & HIDDEN != 0 {
                    continue;
                }
                for name in std::iter::once(p.name).chain(p.alias) {
                    if crate::util::glob_match(pattern, name.as_bytes(), true) {
                        add(name.as_bytes(), self.show(id), &mut found);
                    }
                }
            }
        }
        found
    }

    /// CONFIG SET of `(name, value)` pairs: all or nothing, with Redis's errors and its
    /// order of checks. `local` says whether the client is on loopback (for protected
    /// parameters under `enable-protected-configs local`).
    pub fn config_set(&mut self, pairs: &[(&[u8], &[u8])], local: bool) -> Result<(), Vec<u8>> {
        let mut ids: Vec<(usize, &'static str)> = Vec::with_capacity(pairs.len());
        let mut problem: Option<(&[u8], &str)> = None;
        for (name, _) in pairs {
            let Some((id, spelled)) = lookup_spelled(name) else {
                if problem.is_none() {
                    let mut e =
                        b"ERR Unknown option or number of arguments for CONFIG SET - '".to_vec();
                    e.extend_from_slice(name);
                    e.push(b'\'');
                    return Err(e);
                }
                continue;
            };
            if problem.is_some() {
                continue;
            }
            let p = &PARAMS[id];
            if p.flags & IMMUTABLE != 0 {
                problem = Some((name, "can't set immutable config"));
            } else if p.flags & PROTECTED != 0 && !self.protected_allowed(local) {
                problem = Some((name, "can't set protected config"));
            } else if ids.contains(&(id, spelled)) {
                // Only the same spelling: a name and its alias are separate entries in
                // Redis's table, so setting both is not a duplicate.
                problem = Some((name, "duplicate parameter"));
            }
            ids.push((id, spelled));
        }
        if let Some((name, why)) = problem {
            return Err(set_failed(name, why));
        }
        let backup = self.values.clone();
        for (&(id, spelled), (_, value)) in ids.iter().zip(pairs) {
            if let Err(why) = self.set_one(id, value, false) {
                self.values = backup;
                return Err(set_failed(spelled.as_bytes(), &why));
            }
        }
        // Redis's apply functions, run once the values are in.
        for &(id, spelled) in &ids {
            if let Err(why) = self.apply(id) {
                self.values = backup;
                return Err(set_failed(spelled.as_bytes(), &why));
            }
        }
        self.refresh();
        Ok(())
    }

    /// `enable-debug-command` lets this client run DEBUG (Redis's allowProtectedAction).
    pub fn debug_allowed(&self, local: bool) -> bool {
        self.protected_action_allowed("enable-debug-command", local)
    }

    /// `enable-module-command` lets this client run MODULE LOAD, LOADEX and UNLOAD.
    pub fn module_command_allowed(&self, local: bool) -> bool {
        self.protected_action_allowed("enable-module-command", local)
    }

    fn protected_allowed(&self, local: bool) -> bool {
        self.protected_action_allowed("enable-protected-configs", local)
    }

    /// Redis's allowProtectedAction for one of its `no` / `yes` / `local` settings.
    fn protected_action_allowed(&self, setting: &str, local: bool) -> bool {
        match self.enum_value(setting) {
            1 => true,
            2 => local,
            _ => false,
        }
    }

    /// Parses and stores one value (no apply step). `startup` allows what only a config file
    /// or command line may do.
    fn set_one(&mut self, id: usize, value: &[u8], startup: bool) -> Result<(), String> {
        let args: Vec<&[u8]> = if PARAMS[id].flags & MULTI_ARG != 0 {
            split_args(value)
        } else {
            vec![value]
        };
        self.set_args(id, value, &args, startup)
    }

    /// Sets parameter `id` from a configuration file line's arguments (already split as
    /// Redis splits them: one argument, or several for multi-argument parameters), with
    /// Redis's error texts and no apply step, as Redis loads its file.
    pub(super) fn set_from_file(&mut self, id: usize, args: &[&[u8]]) -> Result<(), String> {
        let single = args.first().copied().unwrap_or_default();
        self.set_args(id, single, args, true)?;
        self.refresh();
        Ok(())
    }

    /// Whether `name` is a parameter (or alias) of Redis's table, or one of the directives
    /// that are not parameters (`include`, `rename-command`...), any case.
    pub fn is_directive(name: &[u8]) -> bool {
        lookup(name).is_some()
            || [
                &b"include"[..],
                b"rename-command",
                b"user",
                b"loadmodule",
                b"sentinel",
            ]
            .iter()
            .any(|d| d.eq_ignore_ascii_case(name))
    }

    /// The stored value of parameter `id` (CONFIG REWRITE formats it).
    pub(super) fn value_at(&self, id: usize) -> &Value {
        &self.values[id]
    }

    /// The table index, table entry and primary name of a parameter name or alias.
    pub(super) fn find(name: &[u8]) -> Option<(usize, &'static Param)> {
        lookup(name).map(|id| (id, &PARAMS[id]))
    }

    fn set_args(
        &mut self,
        id: usize,
        value: &[u8],
        args: &[&[u8]],
        startup: bool,
    ) -> Result<(), String> {
        let p = &PARAMS[id];
        let new = match p.kind {
            Kind::Bool { .. } => {
                let v = yes_no(value).ok_or("argument must be 'yes' or 'no'")?;
                if v && p.flags & NO_DEFRAG != 0 {
                    return Err("Active defragmentation cannot be enabled: it requires a Redis server compiled with a modified Jemalloc like the one shipped by default with the Redis source distribution".into());
                }
                Value::Bool(v)
            }
            Kind::Num {
                min,
                max,
                unsigned,
                format,
                ..
            } => {
                let n = parse_num(value, min, max, unsigned, format)?;
                if p.name == "port" && !startup && n != self.num_value("port") {
                    // The listener is bound once, at startup; re-binding at run time is
                    // not done here, so only the current port is accepted.
                    return Err("Unable to listen on this port. Check server logs.".into());
                }
                Value::Num(n)
            }
            Kind::Enum { values, .. } => {
                let v = parse_enum(values, args, p.flags & MULTI_ARG != 0).ok_or_else(|| {
                    let names: Vec<&str> = values.iter().map(|(n, _)| *n).collect();
                    format!(
                        "argument(s) must be one of the following: {}",
                        names.join(", ")
                    )
                })?;
                if std::ptr::eq(values, SHUTDOWN_ON_SIG) && v & 1 != 0 && v & 2 != 0 {
                    return Err(
                        "shutdown options SAVE and NOSAVE can't be used simultaneously".into(),
                    );
                }
                Value::Enum(v)
            }
            Kind::Str { check, .. } => {
                // Redis keeps these as C strings: a NUL ends them (requirepass and
                // masterauth are binary safe).
                let v = if matches!(p.name, "requirepass" | "masterauth") {
                    value
                } else {
                    crate::cmd::c_bytes(value, usize::MAX)
                };
                check_string(check, v)?;
                Value::Str(v.to_vec())
            }
            Kind::Special(s) => self.parse_special(s, args, startup)?,
        };
        self.values[id] = new;
        Ok(())
    }

    fn parse_special(
        &self,
        which: Special,
        args: &[&[u8]],
        startup: bool,
    ) -> Result<Value, String> {
        Ok(match which {
            Special::Dir => {
                if args.len() != 1 {
                    return Err("wrong number of arguments".into());
                }
                let dir = String::from_utf8_lossy(args[0]).into_owned();
                std::env::set_current_dir(&dir).map_err(|e| crate::util::os_error_text(&e))?;
                Value::Derived
            }
            Special::Save => {
                let args: &[&[u8]] = if args.len() == 1 && args[0].is_empty() {
                    &[]
                } else {
                    args
                };
                if !args.len().is_multiple_of(2) {
                    return Err("Invalid save parameters".into());
                }
                let mut pairs = Vec::new();
                for pair in args.chunks(2) {
                    let secs = strtoll_full(pair[0]).filter(|v| *v >= 1);
                    let changes = strtoll_full(pair[1]).filter(|v| *v >= 0);
                    match (secs, changes) {
                        (Some(s), Some(c)) => pairs.push((s, c)),
                        _ => return Err("Invalid save parameters".into()),
                    }
                }
                Value::Save(pairs)
            }
            Special::ClientOutputBufferLimit => {
                if !args.len().is_multiple_of(4) {
                    return Err("Wrong number of arguments in buffer limit configuration.".into());
                }
                let Value::Obuf(mut limits) = self.value_of("client-output-buffer-limit").clone()
                else {
                    unreachable!("client-output-buffer-limit holds limits")
                };
                let mut parsed = Vec::new();
                for group in args.chunks(4) {
                    let class = match group[0].to_ascii_lowercase().as_slice() {
                        b"normal" => 0,
                        b"slave" | b"replica" => 1,
                        b"pubsub" => 2,
                        _ => {
                            return Err(
                                "Invalid client class specified in buffer limit configuration."
                                    .into(),
                            );
                        }
                    };
                    let hard = memtoull(group[1]);
                    let soft = memtoull(group[2]);
                    let secs = strtoll_full(group[3]).filter(|v| *v >= 0);
                    match (hard, soft, secs) {
                        (Some(hard), Some(soft), Some(secs)) => parsed.push((
                            class,
                            ObufLimit {
                                hard,
                                soft,
                                soft_seconds: secs as u64,
                            },
                        )),
                        _ => {
                            return Err("Error in hard, soft or soft_seconds setting in buffer limit configuration.".into());
                        }
                    }
                }
                for (class, limit) in parsed {
                    limits[class] = limit;
                }
                Value::Obuf(limits)
            }
            Special::OomScoreAdjValues => {
                if args.len() != 3 {
                    return Err("wrong number of arguments".into());
                }
                let mut v = [0i64; 3];
                for (slot, a) in v.iter_mut().zip(args) {
                    *slot = strtoll_full(a)
                        .filter(|x| (-2000..=2000).contains(x))
                        .ok_or("Invalid oom-score-adj-values, elements must be between -2000 and 2000.")?;
                }
                Value::Oom(v)
            }
            Special::NotifyKeyspaceEvents => {
                if args.len() != 1 {
                    return Err("wrong number of arguments".into());
                }
                Value::Events(
                    parse_events(args[0])
                        .ok_or("Invalid event class character. Use 'Ag$lshzxeKEtmdn'.")?,
                )
            }
            Special::Bind => {
                if args.len() > 16 {
                    return Err("Too many bind addresses specified.".into());
                }
                let args: &[&[u8]] = if args.len() == 1 && args[0].is_empty() {
                    &[]
                } else {
                    args
                };
                if !startup {
                    // The listener is bound once, at startup; re-binding at run time is
                    // not done here, so only the current setting is accepted.
                    let current = self.value_of("bind");
                    if *current != Value::Bind(args.iter().map(|a| a.to_vec()).collect()) {
                        return Err("Failed to bind to specified addresses.".into());
                    }
                }
                Value::Bind(args.iter().map(|a| a.to_vec()).collect())
            }
            Special::ReplicaOf => return Err("can't set immutable config".into()),
            Special::LatencyPercentiles => {
                let args: &[&[u8]] = if args.len() == 1 && args[0].is_empty() {
                    &[]
                } else {
                    args
                };
                let mut v = Vec::new();
                for a in args {
                    let p = std::str::from_utf8(a)
                        .ok()
                        .and_then(|s| crate::util::parse_f64(s.as_bytes()))
                        .ok_or("Invalid latency-tracking-info-percentiles parameters")?;
                    if !(0.0..=100.0).contains(&p) {
                        return Err("latency-tracking-info-percentiles parameters should sit between [0.0,100.0]".into());
                    }
                    v.push(p);
                }
                Value::Percentiles(v)
            }
        })
    }

    /// Redis's apply step for the parameters that have one (and that can fail or adjust).
    fn apply(&mut self, id: usize) -> Result<(), String> {
        let p = &PARAMS[id];
        match p.name {
            "hz" => {
                // A hint: out-of-range values are clamped, and CONFIG GET shows the clamp.
                if let Value::Num(v) = &mut self.values[id] {
                    *v = (*v).clamp(1, 500);
                }
            }
            _ if p.flags & NO_TLS != 0 && self.values[id] != Value::Num(0) => {
                log::warn!("TLS is not supported: tls-port must stay 0");
                return Err("Unable to update TLS configuration. Check server logs.".into());
            }
            _ => {}
        }
        Ok(())
    }

    fn value_of(&self, name: &str) -> &Value {
        let id = lookup(name.as_bytes()).unwrap_or_else(|| panic!("no parameter {name}"));
        &self.values[id]
    }

    fn num_value(&self, name: &str) -> i64 {
        match self.value_of(name) {
            Value::Num(v) => *v,
            other => panic!("{name} is not numeric: {other:?}"),
        }
    }

    fn enum_value(&self, name: &str) -> u32 {
        match self.value_of(name) {
            Value::Enum(v) => *v,
            other => panic!("{name} is not an enum: {other:?}"),
        }
    }

    fn bool_value(&self, name: &str) -> bool {
        match self.value_of(name) {
            Value::Bool(v) => *v,
            other => panic!("{name} is not a boolean: {other:?}"),
        }
    }

    /// Recomputes [`Settings`] from the stored values.
    fn refresh(&mut self) {
        let pass = match self.value_of("requirepass") {
            Value::Str(s) if !s.is_empty() => Some(s.clone()),
            _ => None,
        };
        let obuf = match self.value_of("client-output-buffer-limit") {
            Value::Obuf(l) => *l,
            _ => unreachable!("client-output-buffer-limit holds limits"),
        };
        let percentiles = match self.value_of("latency-tracking-info-percentiles") {
            Value::Percentiles(p) => p.clone(),
            _ => unreachable!("percentiles"),
        };
        let events = match self.value_of("notify-keyspace-events") {
            Value::Events(e) => *e,
            _ => unreachable!("events"),
        };
        let slowlog_slower_than_us = self.num_value("slowlog-log-slower-than");
        let latency_monitor_threshold_ms =
            self.num_value("latency-monitor-threshold").max(0) as u64;
        self.settings = Settings {
            port: self.num_value("port") as u16,
            timeout: self.num_value("timeout") as u64,
            maxclients: self.num_value("maxclients") as u64,
            requirepass: pass,
            proto_max_bulk_len: self.num_value("proto-max-bulk-len") as u64,
            query_buffer_limit: self.num_value("client-query-buffer-limit") as u64,
            obuf_limits: obuf,
            protected_mode: self.bool_value("protected-mode"),
            loglevel: self.enum_value("loglevel"),
            hz: self.num_value("hz").clamp(1, 500) as u32,
            tcp_keepalive: self
                .num_value("tcp-keepalive")
                .clamp(0, i64::from(u32::MAX)) as u32,
            latency_tracking: self.bool_value("latency-tracking"),
            min_replicas_refuse: self.num_value("min-replicas-to-write") > 0
                && self.num_value("min-replicas-max-lag") > 0,
            latency_percentiles: percentiles,
            slowlog_slower_than_us,
            slowlog_max_len: self.num_value("slowlog-max-len").max(0) as u64,
            latency_monitor_threshold_ms,
            slow_watch_ns: slow_watch_ns(slowlog_slower_than_us, latency_monitor_threshold_ms),
            notify_keyspace_events: events,
            tracking_table_max_keys: self.num_value("tracking-table-max-keys").max(0) as u64,
            busy_reply_threshold_ms: self.num_value("busy-reply-threshold").max(0) as u64,
            hll_sparse_max_bytes: self.num_value("hll-sparse-max-bytes").max(0) as u64,
            stream_node_limits: crate::store::stream::NodeLimits {
                max_bytes: self.num_value("stream-node-max-bytes").max(0) as u64,
                max_entries: self.num_value("stream-node-max-entries").max(0) as u64,
            },
            limits: crate::store::Limits {
                list_fill: self.num_value("list-max-listpack-size"),
                hash_entries: self.num_value("hash-max-listpack-entries").max(0) as usize,
                hash_value: self.num_value("hash-max-listpack-value").max(0) as usize,
                set_intset_entries: self.num_value("set-max-intset-entries").max(0) as usize,
                zset_entries: self.num_value("zset-max-listpack-entries").max(0) as usize,
                zset_value: self.num_value("zset-max-listpack-value").max(0) as usize,
            },
            lazyfree: crate::store::lazyfree::Options {
                eviction: self.bool_value("lazyfree-lazy-eviction"),
                expire: self.bool_value("lazyfree-lazy-expire"),
                server_del: self.bool_value("lazyfree-lazy-server-del"),
                user_del: self.bool_value("lazyfree-lazy-user-del"),
                user_flush: self.bool_value("lazyfree-lazy-user-flush"),
            },
            rdb: RdbSettings {
                save_points: match self.value_of("save") {
                    Value::Save(points) => points
                        .iter()
                        .map(|&(s, c)| (s.max(0) as u64, c.max(0) as u64))
                        .collect(),
                    _ => Vec::new(),
                },
                dbfilename: match self.value_of("dbfilename") {
                    Value::Str(s) => String::from_utf8_lossy(s).into_owned(),
                    _ => "dump.rdb".into(),
                },
                compression: self.bool_value("rdbcompression"),
                checksum: self.bool_value("rdbchecksum"),
                stop_writes_on_error: self.bool_value("stop-writes-on-bgsave-error"),
            },
            aof: AofSettings {
                enabled: self.bool_value("appendonly"),
                fsync: match self.enum_value("appendfsync") {
                    0 => Fsync::No,
                    1 => Fsync::Always,
                    _ => Fsync::EverySec,
                },
                dirname: match self.value_of("appenddirname") {
                    Value::Str(s) => String::from_utf8_lossy(s).into_owned(),
                    _ => "appendonlydir".into(),
                },
                filename: match self.value_of("appendfilename") {
                    Value::Str(s) => String::from_utf8_lossy(s).into_owned(),
                    _ => "appendonly.aof".into(),
                },
                rdb_preamble: self.bool_value("aof-use-rdb-preamble"),
                load_truncated: self.bool_value("aof-load-truncated"),
                auto_rewrite_percentage: self.num_value("auto-aof-rewrite-percentage").max(0)
                    as u64,
                auto_rewrite_min_size: self.num_value("auto-aof-rewrite-min-size").max(0) as u64,
            },
            memory: MemorySettings {
                maxmemory: self.num_value("maxmemory").max(0) as u64,
                policy: crate::store::evict::Policy::from_index(
                    self.enum_value("maxmemory-policy"),
                ),
                samples: self.num_value("maxmemory-samples").max(1) as usize,
                tenacity: self.num_value("maxmemory-eviction-tenacity").clamp(0, 100) as u32,
                lfu_log_factor: self
                    .num_value("lfu-log-factor")
                    .clamp(0, i64::from(u32::MAX)) as u32,
                lfu_decay_time: self
                    .num_value("lfu-decay-time")
                    .clamp(0, i64::from(u32::MAX)) as u32,
            },
        };
    }

    /// The text CONFIG GET shows for parameter `id`.
    fn show(&self, id: usize) -> Vec<u8> {
        let p = &PARAMS[id];
        match (&self.values[id], p.kind) {
            (Value::Bool(b), _) => if *b { "yes" } else { "no" }.into(),
            (
                Value::Num(v),
                Kind::Num {
                    format, unsigned, ..
                },
            ) => match format {
                NumFormat::MemoryOrPercent if *v < 0 => format!("{}%", -v).into_bytes(),
                NumFormat::Memory | NumFormat::MemoryOrPercent => {
                    // Redis prints memory values unsigned.
                    (*v as u64).to_string().into_bytes()
                }
                NumFormat::Octal => format!("{:o}", *v).into_bytes(),
                NumFormat::Plain if unsigned => (*v as u64).to_string().into_bytes(),
                NumFormat::Plain => v.to_string().into_bytes(),
            },
            (Value::Enum(v), Kind::Enum { values, .. }) => {
                enum_name(values, *v, p.flags & MULTI_ARG != 0).into_bytes()
            }
            (Value::Str(s), _) => s.clone(),
            (Value::Save(pairs), _) => pairs
                .iter()
                .map(|(s, c)| format!("{s} {c}"))
                .collect::<Vec<_>>()
                .join(" ")
                .into_bytes(),
            (Value::Obuf(limits), _) => OBUF_CLASSES
                .iter()
                .zip(limits)
                .map(|(class, l)| format!("{class} {} {} {}", l.hard, l.soft, l.soft_seconds))
                .collect::<Vec<_>>()
                .join(" ")
                .into_bytes(),
            (Value::Oom(v), _) => format!("{} {} {}", v[0], v[1], v[2]).into_bytes(),
            (Value::Events(e), _) => events_string(*e).into_bytes(),
            (Value::Bind(addrs), _) => addrs.join(&b' '),
            (Value::Derived, Kind::Special(Special::Dir)) => std::env::current_dir()
                .map(|p| p.display().to_string().into_bytes())
                .unwrap_or_default(),
            (Value::Derived, _) => Vec::new(),
            (Value::Percentiles(v), _) => v
                .iter()
                .map(|p| trim_double(&format!("{p:.6}")))
                .collect::<Vec<_>>()
                .join(" ")
                .into_bytes(),
            (v, k) => unreachable!("value {v:?} for kind {k:?}"),
        }
    }

    /// `log` crate filter for Redis's loglevel.
    pub fn log_filter(loglevel: u32) -> log::LevelFilter {
        match LOGLEVELS
            .iter()
            .find(|(_, v)| *v == loglevel)
            .map(|(n, _)| *n)
        {
            Some("debug") => log::LevelFilter::Trace,
            Some("verbose") => log::LevelFilter::Debug,
            Some("notice") => log::LevelFilter::Info,
            _ => log::LevelFilter::Warn,
        }
    }

    /// Redis's loglevel for a `log` crate filter.
    pub fn loglevel_name(filter: log::LevelFilter) -> &'static str {
        match filter {
            log::LevelFilter::Trace => "debug",
            log::LevelFilter::Debug => "verbose",
            log::LevelFilter::Info => "notice",
            _ => "warning",
        }
    }

    /// Whether a client from `ip` counts as local (Redis's `islocalClient`: exactly
    /// 127.0.0.1 or ::1; Unix sockets too, which this server does not have).
    pub fn is_local(ip: IpAddr) -> bool {
        match ip {
            IpAddr::V4(v4) => v4 == std::net::Ipv4Addr::LOCALHOST,
            IpAddr::V6(v6) => v6 == std::net::Ipv6Addr::LOCALHOST,
        }
    }
}

/// `ERR CONFIG SET failed (possibly related to argument 'x') - why`
fn set_failed(name: &[u8], why: &str) -> Vec<u8> {
    let mut e = b"ERR CONFIG SET failed (possibly related to argument '".to_vec();
    e.extend_from_slice(name);
    e.extend_from_slice(b"') - ");
    e.extend_from_slice(why.as_bytes());
    e
}

/// Splits a multi-argument value on single spaces, as Redis's `sdssplitlen(" ")`: an empty
/// value is no argument, and two spaces make an empty argument.
fn split_args(value: &[u8]) -> Vec<&[u8]> {
    if value.is_empty() {
        return Vec::new();
    }
    value.split(|&c| c == b' ').collect()
}

fn yes_no(v: &[u8]) -> Option<bool> {
    if v.eq_ignore_ascii_case(b"yes") {
        Some(true)
    } else if v.eq_ignore_ascii_case(b"no") {
        Some(false)
    } else {
        None
    }
}

/// Redis's `memtoull`: digits then an optional unit (b, k, kb, m, mb, g, gb, any case).
/// An empty number is 0; the product wraps as C's does.
pub fn memtoull(v: &[u8]) -> Option<u64> {
    let digits = v.iter().take_while(|c| c.is_ascii_digit()).count();
    let (num, unit) = v.split_at(digits);
    let mul: u64 = match unit.to_ascii_lowercase().as_slice() {
        b"" | b"b" => 1,
        b"k" => 1000,
        b"kb" => 1024,
        b"m" => 1000 * 1000,
        b"mb" => 1024 * 1024,
        b"g" => 1000 * 1000 * 1000,
        b"gb" => 1024 * 1024 * 1024,
        _ => return None,
    };
    if digits >= 128 {
        return None;
    }
    // strtoull saturates on overflow (ERANGE is not checked by memtoull).
    let mut n: u64 = 0;
    for &d in num {
        n = n
            .checked_mul(10)
            .and_then(|n| n.checked_add(u64::from(d - b'0')))
            .unwrap_or(u64::MAX);
    }
    Some(n.wrapping_mul(mul))
}

/// `strtoll(s, &end, 10)` that must consume the whole (non-empty) string.
fn strtoll_full(s: &[u8]) -> Option<i64> {
    let text = std::str::from_utf8(s).ok()?;
    let trimmed = text.trim_start();
    if trimmed.is_empty() {
        return None;
    }
    let (neg, digits) = match trimmed.as_bytes()[0] {
        b'-' => (true, &trimmed[1..]),
        b'+' => (false, &trimmed[1..]),
        _ => (false, trimmed),
    };
    if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    // strtoll saturates on overflow.
    let mut n: i128 = 0;
    for d in digits.bytes() {
        n = (n * 10 + i128::from(d - b'0')).min(i128::from(i64::MAX) + 1);
    }
    let n = if neg { -n } else { n };
    Some(n.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64)
}

/// Redis's numeric parameter parsing and bounds check (`numericParseString`,
/// `numericBoundaryCheck`), with its error texts.
fn parse_num(
    v: &[u8],
    min: i128,
    max: i128,
    unsigned: bool,
    format: NumFormat,
) -> Result<i64, String> {
    let parsed: Option<i64> = match format {
        NumFormat::Memory => memtoull(v).map(|n| n as i64),
        NumFormat::MemoryOrPercent => memtoull(v).map(|n| n as i64).or_else(|| {
            let body = v.strip_suffix(b"%").filter(|b| !b.is_empty())?;
            crate::resp::parse_i64(body).filter(|n| *n >= 0).map(|n| -n)
        }),
        NumFormat::Octal => std::str::from_utf8(v)
            .ok()
            .and_then(|s| i64::from_str_radix(s, 8).ok()),
        NumFormat::Plain => crate::resp::parse_i64(v),
    };
    let Some(n) = parsed else {
        return Err(match format {
            NumFormat::MemoryOrPercent => "argument must be a memory or percent value",
            NumFormat::Memory => "argument must be a memory value",
            NumFormat::Octal => "argument couldn't be parsed as an octal number",
            NumFormat::Plain => "argument couldn't be parsed into an integer",
        }
        .into());
    };
    if unsigned {
        let u = i128::from(n as u64);
        if u < min || u > max {
            return Err(if format == NumFormat::Octal {
                format!("argument must be between {min:o} and {max:o} inclusive")
            } else {
                format!("argument must be between {min} and {max} inclusive")
            });
        }
    } else if format == NumFormat::MemoryOrPercent && n < 0 {
        if i128::from(n) < min {
            return Err(format!(
                "percentage argument must be less or equal to {}",
                -min
            ));
        }
    } else if i128::from(n) < min || i128::from(n) > max {
        return Err(format!(
            "argument must be between {min} and {max} inclusive"
        ));
    }
    Ok(n)
}

/// Redis's `configEnumGetValue`: one name, or (bit flags) any of them, case-insensitive.
fn parse_enum(values: &[(&str, u32)], args: &[&[u8]], bitflags: bool) -> Option<u32> {
    if args.is_empty() || (!bitflags && args.len() != 1) {
        return None;
    }
    let mut v = 0;
    for a in args {
        let mut matched = false;
        for (name, val) in values {
            if name.as_bytes().eq_ignore_ascii_case(a) {
                v |= val;
                matched = true;
            }
        }
        if !matched {
            return None;
        }
    }
    Some(v)
}

/// Redis's `configEnumGetName`.
pub(super) fn enum_name(values: &[(&str, u32)], v: u32, bitflags: bool) -> String {
    let mut names: Vec<&str> = Vec::new();
    let mut unmatched = v;
    for (name, val) in values {
        if *val == v {
            return (*name).to_string();
        }
        if bitflags && *val != 0 && *val == unmatched & val {
            names.push(name);
            unmatched &= !val;
        }
    }
    if names.is_empty() || unmatched != 0 {
        return "unknown".into();
    }
    names.join(" ")
}

fn check_string(check: Check, v: &[u8]) -> Result<(), String> {
    match check {
        Check::None => Ok(()),
        Check::DbFilename => {
            if v.contains(&b'/') || v.contains(&b'\\') {
                Err("dbfilename can't be a path, just a filename".into())
            } else {
                Ok(())
            }
        }
        Check::AofFilename | Check::AofDirname => {
            let (name, what) = if check == Check::AofFilename {
                ("appendfilename", "filename")
            } else {
                ("appenddirname", "dirname")
            };
            if v.is_empty() {
                Err(format!("{name} can't be empty"))
            } else if v.contains(&b'/') {
                Err(format!("{name} can't be a path, just a {what}"))
            } else {
                Ok(())
            }
        }
        Check::Hostname => {
            if v.len() >= 256 {
                return Err("Hostnames must be less than 256 characters".into());
            }
            if v.iter()
                .all(|c| c.is_ascii_alphanumeric() || *c == b'-' || *c == b'.')
            {
                Ok(())
            } else {
                Err("Hostnames may only contain alphanumeric characters, hyphens or dots".into())
            }
        }
        Check::ProcTitle => {
            if proc_title_ok(v) {
                Ok(())
            } else {
                Err("template format is invalid or contains unknown variables".into())
            }
        }
    }
}

/// Redis's template check: `{{` is a literal brace, `{name}` must be a known variable, and
/// the expansion (with an empty title) must not be blank.
fn proc_title_ok(t: &[u8]) -> bool {
    const VARS: [&[u8]; 7] = [
        b"title",
        b"listen-addr",
        b"server-mode",
        b"config-file",
        b"port",
        b"tls-port",
        b"unixsocket",
    ];
    let mut out_nonblank = false;
    let mut i = 0;
    while i < t.len() {
        if t[i] != b'{' {
            out_nonblank |= t[i] != b' ';
            i += 1;
            continue;
        }
        i += 1;
        match t.get(i) {
            None => return false,
            Some(b'{') => {
                out_nonblank = true;
                i += 1;
            }
            Some(_) => {
                let Some(len) = t[i..].iter().position(|&c| c == b'}') else {
                    return false;
                };
                let var = &t[i..i + len];
                if !VARS.contains(&var) {
                    return false;
                }
                // listen-addr, port, tls-port and config-file always expand to text.
                out_nonblank |=
                    matches!(var, b"listen-addr" | b"port" | b"tls-port" | b"config-file");
                i += len + 1;
            }
        }
    }
    out_nonblank
}

/// Redis's `keyspaceEventsStringToFlags`.
fn parse_events(s: &[u8]) -> Option<u32> {
    use notify::*;
    let mut f = 0;
    for c in s {
        f |= match c {
            b'A' => ALL,
            b'g' => GENERIC,
            b'$' => STRING,
            b'l' => LIST,
            b's' => SET,
            b'h' => HASH,
            b'z' => ZSET,
            b'x' => EXPIRED,
            b'e' => EVICTED,
            b'K' => KEYSPACE,
            b'E' => KEYEVENT,
            b't' => STREAM,
            b'm' => KEY_MISS,
            b'd' => MODULE,
            b'n' => NEW,
            _ => return None,
        };
    }
    Some(f)
}

/// Redis's `keyspaceEventsFlagsToString`.
pub(super) fn events_string(f: u32) -> String {
    use notify::*;
    let mut s = String::new();
    if f & ALL == ALL {
        s.push('A');
    } else {
        for (bit, c) in [
            (GENERIC, 'g'),
            (STRING, '$'),
            (LIST, 'l'),
            (SET, 's'),
            (HASH, 'h'),
            (ZSET, 'z'),
            (EXPIRED, 'x'),
            (EVICTED, 'e'),
            (STREAM, 't'),
            (MODULE, 'd'),
            (NEW, 'n'),
        ] {
            if f & bit != 0 {
                s.push(c);
            }
        }
    }
    for (bit, c) in [(KEYSPACE, 'K'), (KEYEVENT, 'E'), (KEY_MISS, 'm')] {
        if f & bit != 0 {
            s.push(c);
        }
    }
    s
}

/// Redis's `trimDoubleString` on a `%f` text: drop trailing zeros and a trailing dot.
pub(super) fn trim_double(s: &str) -> String {
    if !s.contains('.') {
        return s.to_string();
    }
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_is_unique() {
        let mut names: Vec<&str> = PARAMS
            .iter()
            .flat_map(|p| std::iter::once(p.name).chain(p.alias))
            .collect();
        let n = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), n);
    }

    #[test]
    fn defaults_read_as_redis_shows_them() {
        let p = Params::new();
        assert_eq!(p.get("maxmemory").unwrap(), b"0");
        assert_eq!(p.get("proto-max-bulk-len").unwrap(), b"536870912");
        assert_eq!(
            p.get("client-output-buffer-limit").unwrap(),
            b"normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60"
        );
        assert_eq!(
            p.get("latency-tracking-info-percentiles").unwrap(),
            b"50 99 99.9"
        );
        assert_eq!(p.get("hash-max-ziplist-entries").unwrap(), b"512");
        assert_eq!(p.get("shutdown-on-sigint").unwrap(), b"default");
        assert_eq!(p.get("oom-score-adj-values").unwrap(), b"0 200 800");
        assert_eq!(p.get("unixsocketperm").unwrap(), b"0");
        assert_eq!(p.get("syslog-facility").unwrap(), b"local0");
    }

    #[test]
    fn numbers_parse_and_check_bounds_as_redis() {
        assert_eq!(memtoull(b"1kb"), Some(1024));
        assert_eq!(memtoull(b"1K"), Some(1000));
        assert_eq!(memtoull(b""), Some(0));
        assert_eq!(memtoull(b"-1"), None);
        assert_eq!(memtoull(b"1x"), None);
        let mut p = Params::new();
        let err = |p: &mut Params, n: &str, v: &str| {
            String::from_utf8(
                p.config_set(&[(n.as_bytes(), v.as_bytes())], true)
                    .unwrap_err(),
            )
            .unwrap()
        };
        assert!(
            err(&mut p, "maxclients", "-1")
                .ends_with("argument must be between 1 and 4294967295 inclusive")
        );
        assert!(
            err(&mut p, "maxmemory-clients", "200%")
                .ends_with("percentage argument must be less or equal to 100")
        );
        assert!(
            err(&mut p, "hash-max-ziplist-entries", "-1")
                .ends_with("argument must be between 0 and 9223372036854775807 inclusive")
        );
        p.config_set(&[(b"maxmemory-clients", b"10%")], true)
            .unwrap();
        assert_eq!(p.get("maxmemory-clients").unwrap(), b"10%");
        p.config_set(&[(b"hz", b"100000")], true).unwrap();
        assert_eq!(p.get("hz").unwrap(), b"500");
        assert_eq!(p.settings.hz, 500);
    }

    #[test]
    fn enums_and_flags() {
        let mut p = Params::new();
        p.config_set(&[(b"shutdown-on-sigint", b"nosave now")], true)
            .unwrap();
        assert_eq!(p.get("shutdown-on-sigint").unwrap(), b"nosave now");
        p.config_set(&[(b"notify-keyspace-events", b"KEA")], true)
            .unwrap();
        assert_eq!(p.get("notify-keyspace-events").unwrap(), b"AKE");
        assert_eq!(enum_name(SHUTDOWN_ON_SIG, 16, true), "unknown");
    }

    #[test]
    fn a_failed_set_changes_nothing() {
        let mut p = Params::new();
        let before = p.get("timeout").unwrap();
        assert!(
            p.config_set(&[(b"timeout", b"5"), (b"maxclients", b"0")], true)
                .is_err()
        );
        assert_eq!(p.get("timeout").unwrap(), before);
        assert_eq!(p.settings.timeout, 0);
    }

    #[test]
    fn proc_title_templates() {
        assert!(proc_title_ok(b"{title} {listen-addr} {server-mode}"));
        assert!(!proc_title_ok(b"{foo}"));
        assert!(!proc_title_ok(b"{title"));
        assert!(!proc_title_ok(b"{title}"));
        assert!(!proc_title_ok(b"   "));
        assert!(proc_title_ok(b"x{{"));
    }
}
