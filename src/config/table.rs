//! Every parameter Redis 7.0 has, with its type, bounds, default and flags, in the order of
//! Redis's `static_configs` (config.c). CONFIG GET and CONFIG SET work over this table;
//! [`super::params::Settings`] is where the ones with behaviour here are read.

use super::params::{Kind, NumFormat, Param, flags::*};

/// Largest values of C's integer types, as Redis's bounds use them.
const INT_MAX: i128 = i32::MAX as i128;
const INT_MIN: i128 = i32::MIN as i128;
const UINT_MAX: i128 = u32::MAX as i128;
const LONG_MAX: i128 = i64::MAX as i128;
const ULLONG_MAX: i128 = u64::MAX as i128;

const fn boolean(
    name: &'static str,
    alias: Option<&'static str>,
    flags: u16,
    default: bool,
) -> Param {
    Param {
        name,
        alias,
        flags,
        kind: Kind::Bool { default },
    }
}

/// A numeric parameter. `unsigned` selects Redis's unsigned boundary check (and error text).
#[allow(clippy::too_many_arguments)]
const fn num(
    name: &'static str,
    alias: Option<&'static str>,
    flags: u16,
    min: i128,
    max: i128,
    default: i64,
    unsigned: bool,
    format: NumFormat,
) -> Param {
    Param {
        name,
        alias,
        flags,
        kind: Kind::Num {
            min,
            max,
            default,
            unsigned,
            format,
        },
    }
}

const fn int(
    name: &'static str,
    alias: Option<&'static str>,
    flags: u16,
    min: i128,
    max: i128,
    default: i64,
) -> Param {
    num(
        name,
        alias,
        flags,
        min,
        max,
        default,
        false,
        NumFormat::Plain,
    )
}

const fn uint(
    name: &'static str,
    alias: Option<&'static str>,
    flags: u16,
    min: i128,
    max: i128,
    default: i64,
) -> Param {
    num(
        name,
        alias,
        flags,
        min,
        max,
        default,
        true,
        NumFormat::Plain,
    )
}

const fn mem(
    name: &'static str,
    alias: Option<&'static str>,
    flags: u16,
    min: i128,
    max: i128,
    default: i64,
    unsigned: bool,
) -> Param {
    num(
        name,
        alias,
        flags,
        min,
        max,
        default,
        unsigned,
        NumFormat::Memory,
    )
}

/// A string parameter; `empty_is_null` is Redis's EMPTY_STRING_IS_NULL (no difference to
/// CONFIG GET, which shows both as "").
const fn string(
    name: &'static str,
    alias: Option<&'static str>,
    flags: u16,
    default: &'static str,
    check: super::params::Check,
) -> Param {
    Param {
        name,
        alias,
        flags,
        kind: Kind::Str { default, check },
    }
}

const fn enumeration(
    name: &'static str,
    alias: Option<&'static str>,
    flags: u16,
    values: &'static [(&'static str, u32)],
    default: u32,
) -> Param {
    Param {
        name,
        alias,
        flags,
        kind: Kind::Enum { values, default },
    }
}

const fn special(
    name: &'static str,
    alias: Option<&'static str>,
    flags: u16,
    which: super::params::Special,
) -> Param {
    Param {
        name,
        alias,
        flags,
        kind: Kind::Special(which),
    }
}

use super::params::Check;
use super::params::Special as S;

pub const MAXMEMORY_POLICIES: &[(&str, u32)] = &[
    ("volatile-lru", 0),
    ("volatile-lfu", 1),
    ("volatile-random", 2),
    ("volatile-ttl", 3),
    ("allkeys-lru", 4),
    ("allkeys-lfu", 5),
    ("allkeys-random", 6),
    ("noeviction", 7),
];
const SYSLOG_FACILITIES: &[(&str, u32)] = &[
    ("user", 8),
    ("local0", 128),
    ("local1", 136),
    ("local2", 144),
    ("local3", 152),
    ("local4", 160),
    ("local5", 168),
    ("local6", 176),
    ("local7", 184),
];
/// Redis's verbosity levels, most verbose first.
pub const LOGLEVELS: &[(&str, u32)] =
    &[("debug", 0), ("verbose", 1), ("notice", 2), ("warning", 3)];
const SUPERVISED: &[(&str, u32)] = &[("upstart", 1), ("systemd", 2), ("auto", 3), ("no", 0)];
const AOF_FSYNC: &[(&str, u32)] = &[("everysec", 2), ("always", 1), ("no", 0)];
/// Flags of shutdown-on-sigint/sigterm (a bit set: several may be given).
pub const SHUTDOWN_ON_SIG: &[(&str, u32)] = &[
    ("default", 0),
    ("save", 1),
    ("nosave", 2),
    ("now", 4),
    ("force", 8),
];
const REPL_DISKLESS_LOAD: &[(&str, u32)] = &[("disabled", 0), ("on-empty-db", 1), ("swapdb", 2)];
const TLS_AUTH_CLIENTS: &[(&str, u32)] = &[("no", 0), ("yes", 1), ("optional", 2)];
const OOM_SCORE_ADJ: &[(&str, u32)] = &[("no", 0), ("yes", 1), ("relative", 1), ("absolute", 2)];
const ACL_PUBSUB_DEFAULT: &[(&str, u32)] = &[("allchannels", 1), ("resetchannels", 0)];
const SANITIZE_DUMP: &[(&str, u32)] = &[("no", 0), ("yes", 1), ("clients", 2)];
/// enable-protected-configs and friends.
const PROTECTED_ACTION: &[(&str, u32)] = &[("no", 0), ("yes", 1), ("local", 2)];
const ENDPOINT_TYPE: &[(&str, u32)] = &[("ip", 0), ("hostname", 1), ("unknown-endpoint", 2)];
const PROPAGATION_ERROR: &[(&str, u32)] = &[("ignore", 0), ("panic", 1), ("panic-on-replicas", 2)];

const IMM: u16 = IMMUTABLE;
const MOD: u16 = 0;
const MB: i64 = 1024 * 1024;

/// The table, in Redis 7.0's order.
#[rustfmt::skip]
pub const PARAMS: &[Param] = &[
    // Booleans.
    boolean("rdbchecksum", None, IMM, true),
    boolean("daemonize", None, IMM, false),
    boolean("io-threads-do-reads", None, IMM, false),
    boolean("always-show-logo", None, IMM, false),
    boolean("protected-mode", None, MOD, true),
    boolean("rdbcompression", None, MOD, true),
    boolean("rdb-del-sync-files", None, MOD, false),
    boolean("activerehashing", None, MOD, true),
    boolean("stop-writes-on-bgsave-error", None, MOD, true),
    boolean("set-proc-title", None, IMM, true),
    boolean("dynamic-hz", None, MOD, true),
    boolean("lazyfree-lazy-eviction", None, MOD, false),
    boolean("lazyfree-lazy-expire", None, MOD, false),
    boolean("lazyfree-lazy-server-del", None, MOD, false),
    boolean("lazyfree-lazy-user-del", None, MOD, false),
    boolean("lazyfree-lazy-user-flush", None, MOD, false),
    boolean("repl-disable-tcp-nodelay", None, MOD, false),
    boolean("repl-diskless-sync", None, MOD, true),
    boolean("aof-rewrite-incremental-fsync", None, MOD, true),
    boolean("no-appendfsync-on-rewrite", None, MOD, false),
    boolean("cluster-require-full-coverage", None, MOD, true),
    boolean("rdb-save-incremental-fsync", None, MOD, true),
    boolean("aof-load-truncated", None, MOD, true),
    boolean("aof-use-rdb-preamble", None, MOD, true),
    boolean("aof-timestamp-enabled", None, MOD, false),
    boolean("cluster-replica-no-failover", Some("cluster-slave-no-failover"), MOD, false),
    boolean("replica-lazy-flush", Some("slave-lazy-flush"), MOD, false),
    boolean("replica-serve-stale-data", Some("slave-serve-stale-data"), MOD, true),
    boolean("replica-read-only", Some("slave-read-only"), MOD, true),
    boolean("replica-ignore-maxmemory", Some("slave-ignore-maxmemory"), MOD, true),
    boolean("jemalloc-bg-thread", None, MOD, true),
    // Redis refuses "yes" unless built with its own jemalloc (Debian's is not); so do we.
    boolean("activedefrag", None, MOD | NO_DEFRAG, false),
    boolean("syslog-enabled", None, IMM, false),
    boolean("cluster-enabled", None, IMM, false),
    boolean("appendonly", None, MOD, false),
    boolean("cluster-allow-reads-when-down", None, MOD, false),
    boolean("cluster-allow-pubsubshard-when-down", None, MOD, true),
    boolean("crash-log-enabled", None, MOD, true),
    boolean("crash-memcheck-enabled", None, MOD, true),
    boolean("use-exit-on-panic", None, MOD | HIDDEN, false),
    boolean("disable-thp", None, IMM, true),
    boolean("cluster-allow-replica-migration", None, MOD, true),
    boolean("replica-announced", None, MOD, true),
    boolean("latency-tracking", None, MOD, true),
    boolean("aof-disable-auto-gc", None, MOD, false),
    boolean("replica-ignore-disk-write-errors", None, MOD, false),

    // Strings.
    string("aclfile", None, IMM, "", Check::None),
    string("unixsocket", None, IMM, "", Check::None),
    string("pidfile", None, IMM, "", Check::None),
    string("replica-announce-ip", Some("slave-announce-ip"), MOD, "", Check::None),
    string("masteruser", None, MOD | SENSITIVE, "", Check::None),
    string("cluster-announce-ip", None, MOD, "", Check::None),
    string("cluster-config-file", None, IMM, "nodes.conf", Check::None),
    string("cluster-announce-hostname", None, MOD, "", Check::Hostname),
    string("syslog-ident", None, IMM, "redis", Check::None),
    string("dbfilename", None, MOD | PROTECTED, "dump.rdb", Check::DbFilename),
    string("appendfilename", None, IMM, "appendonly.aof", Check::AofFilename),
    string("appenddirname", None, IMM, "appendonlydir", Check::AofDirname),
    string("server_cpulist", None, IMM, "", Check::None),
    string("bio_cpulist", None, IMM, "", Check::None),
    string("aof_rewrite_cpulist", None, IMM, "", Check::None),
    string("bgsave_cpulist", None, IMM, "", Check::None),
    string("ignore-warnings", None, MOD, "", Check::None),
    string("proc-title-template", None, MOD, "{title} {listen-addr} {server-mode}", Check::ProcTitle),
    string("bind-source-addr", None, MOD, "", Check::None),
    string("logfile", None, IMM, "", Check::None),
    string("masterauth", None, MOD | SENSITIVE, "", Check::None),
    string("requirepass", None, MOD | SENSITIVE, "", Check::None),

    // Enumerations.
    enumeration("supervised", None, IMM, SUPERVISED, 0),
    enumeration("syslog-facility", None, IMM, SYSLOG_FACILITIES, 128),
    enumeration("repl-diskless-load", None, MOD, REPL_DISKLESS_LOAD, 0),
    enumeration("loglevel", None, MOD, LOGLEVELS, 2),
    enumeration("maxmemory-policy", None, MOD, MAXMEMORY_POLICIES, 7),
    enumeration("appendfsync", None, MOD, AOF_FSYNC, 2),
    enumeration("oom-score-adj", None, MOD, OOM_SCORE_ADJ, 0),
    enumeration("acl-pubsub-default", None, MOD, ACL_PUBSUB_DEFAULT, 0),
    enumeration("sanitize-dump-payload", None, MOD, SANITIZE_DUMP, 0),
    enumeration("enable-protected-configs", None, IMM, PROTECTED_ACTION, 0),
    enumeration("enable-debug-command", None, IMM, PROTECTED_ACTION, 0),
    enumeration("enable-module-command", None, IMM, PROTECTED_ACTION, 0),
    enumeration("cluster-preferred-endpoint-type", None, MOD, ENDPOINT_TYPE, 0),
    enumeration("propagation-error-behavior", None, MOD, PROPAGATION_ERROR, 0),
    enumeration("shutdown-on-sigint", None, MOD | MULTI_ARG, SHUTDOWN_ON_SIG, 0),
    enumeration("shutdown-on-sigterm", None, MOD | MULTI_ARG, SHUTDOWN_ON_SIG, 0),

    // Integers.
    int("databases", None, IMM, 1, INT_MAX, 16),
    int("port", None, MOD, 0, 65535, 6379),
    int("io-threads", None, IMM, 1, 128, 1),
    int("auto-aof-rewrite-percentage", None, MOD, 0, INT_MAX, 100),
    int("cluster-replica-validity-factor", Some("cluster-slave-validity-factor"), MOD, 0, INT_MAX, 10),
    int("list-max-listpack-size", Some("list-max-ziplist-size"), MOD, INT_MIN, INT_MAX, -2),
    int("tcp-keepalive", None, MOD, 0, INT_MAX, 300),
    int("cluster-migration-barrier", None, MOD, 0, INT_MAX, 1),
    int("active-defrag-cycle-min", None, MOD, 1, 99, 1),
    int("active-defrag-cycle-max", None, MOD, 1, 99, 25),
    int("active-defrag-threshold-lower", None, MOD, 0, 1000, 10),
    int("active-defrag-threshold-upper", None, MOD, 0, 1000, 100),
    int("lfu-log-factor", None, MOD, 0, INT_MAX, 10),
    int("lfu-decay-time", None, MOD, 0, INT_MAX, 1),
    int("replica-priority", Some("slave-priority"), MOD, 0, INT_MAX, 100),
    int("repl-diskless-sync-delay", None, MOD, 0, INT_MAX, 5),
    int("maxmemory-samples", None, MOD, 1, INT_MAX, 5),
    int("maxmemory-eviction-tenacity", None, MOD, 0, 100, 10),
    int("timeout", None, MOD, 0, INT_MAX, 0),
    int("replica-announce-port", Some("slave-announce-port"), MOD, 0, 65535, 0),
    int("tcp-backlog", None, IMM, 0, INT_MAX, 511),
    int("cluster-port", None, IMM, 0, 65535, 0),
    int("cluster-announce-bus-port", None, MOD, 0, 65535, 0),
    int("cluster-announce-port", None, MOD, 0, 65535, 0),
    int("cluster-announce-tls-port", None, MOD, 0, 65535, 0),
    int("repl-timeout", None, MOD, 1, INT_MAX, 60),
    int("repl-ping-replica-period", Some("repl-ping-slave-period"), MOD, 1, INT_MAX, 10),
    int("list-compress-depth", None, MOD, 0, INT_MAX, 0),
    int("rdb-key-save-delay", None, MOD | HIDDEN, INT_MIN, INT_MAX, 0),
    int("key-load-delay", None, MOD | HIDDEN, INT_MIN, INT_MAX, 0),
    int("active-expire-effort", None, MOD, 1, 10, 1),
    int("hz", None, MOD, 0, INT_MAX, 10),
    int("min-replicas-to-write", Some("min-slaves-to-write"), MOD, 0, INT_MAX, 0),
    int("min-replicas-max-lag", Some("min-slaves-max-lag"), MOD, 0, INT_MAX, 10),
    int("watchdog-period", None, MOD | HIDDEN, 0, INT_MAX, 0),
    int("shutdown-timeout", None, MOD, 0, INT_MAX, 10),
    int("repl-diskless-sync-max-replicas", None, MOD, 0, INT_MAX, 0),
    uint("maxclients", None, MOD, 1, UINT_MAX, 10000),
    num("unixsocketperm", None, IMM, 0, 0o777, 0, true, NumFormat::Octal),
    uint("socket-mark-id", None, IMM, 0, UINT_MAX, 0),
    uint("active-defrag-max-scan-fields", None, MOD, 1, LONG_MAX, 1000),
    uint("slowlog-max-len", None, MOD, 0, LONG_MAX, 128),
    uint("acllog-max-len", None, MOD, 0, LONG_MAX, 128),
    int("busy-reply-threshold", Some("lua-time-limit"), MOD, 0, LONG_MAX, 5000),
    int("cluster-node-timeout", None, MOD, 0, LONG_MAX, 15000),
    int("slowlog-log-slower-than", None, MOD, -1, LONG_MAX, 10000),
    int("latency-monitor-threshold", None, MOD, 0, LONG_MAX, 0),
    mem("proto-max-bulk-len", None, MOD, 1024 * 1024, LONG_MAX, 512 * MB, false),
    int("stream-node-max-entries", None, MOD, 0, LONG_MAX, 100),
    mem("repl-backlog-size", None, MOD, 1, LONG_MAX, MB, false),
    mem("maxmemory", None, MOD, 0, ULLONG_MAX, 0, true),
    mem("cluster-link-sendbuf-limit", None, MOD, 0, ULLONG_MAX, 0, true),
    uint("hash-max-listpack-entries", Some("hash-max-ziplist-entries"), MOD, 0, LONG_MAX, 512),
    uint("set-max-intset-entries", None, MOD, 0, LONG_MAX, 512),
    uint("zset-max-listpack-entries", Some("zset-max-ziplist-entries"), MOD, 0, LONG_MAX, 128),
    mem("active-defrag-ignore-bytes", None, MOD, 1, LONG_MAX, 100 * MB, true),
    mem("hash-max-listpack-value", Some("hash-max-ziplist-value"), MOD, 0, LONG_MAX, 64, true),
    mem("stream-node-max-bytes", None, MOD, 0, LONG_MAX, 4096, true),
    mem("zset-max-listpack-value", Some("zset-max-ziplist-value"), MOD, 0, LONG_MAX, 64, true),
    mem("hll-sparse-max-bytes", None, MOD, 0, LONG_MAX, 3000, true),
    uint("tracking-table-max-keys", None, MOD, 0, LONG_MAX, 1_000_000),
    mem("client-query-buffer-limit", None, MOD, 1024 * 1024, LONG_MAX, 1024 * MB, true),
    num("maxmemory-clients", None, MOD, -100, LONG_MAX, 0, false, NumFormat::MemoryOrPercent),
    int("repl-backlog-ttl", None, MOD, 0, LONG_MAX, 3600),
    mem("auto-aof-rewrite-min-size", None, MOD, 0, LONG_MAX, 64 * MB, false),
    int("loading-process-events-interval-bytes", None, MOD | HIDDEN, 1024, INT_MAX, 2 * MB),

    // TLS (Debian's redis-server is built with it, so its CONFIG GET * lists these).
    int("tls-port", None, MOD | NO_TLS, 0, 65535, 0),
    int("tls-session-cache-size", None, MOD, 0, INT_MAX, 20 * 1024),
    int("tls-session-cache-timeout", None, MOD, 0, INT_MAX, 300),
    boolean("tls-cluster", None, MOD, false),
    boolean("tls-replication", None, MOD, false),
    enumeration("tls-auth-clients", None, MOD, TLS_AUTH_CLIENTS, 1),
    boolean("tls-prefer-server-ciphers", None, MOD, false),
    boolean("tls-session-caching", None, MOD, true),
    string("tls-cert-file", None, MOD, "", Check::None),
    string("tls-key-file", None, MOD, "", Check::None),
    string("tls-key-file-pass", None, MOD, "", Check::None),
    string("tls-client-cert-file", None, MOD, "", Check::None),
    string("tls-client-key-file", None, MOD, "", Check::None),
    string("tls-client-key-file-pass", None, MOD, "", Check::None),
    string("tls-dh-params-file", None, MOD, "", Check::None),
    string("tls-ca-cert-file", None, MOD, "", Check::None),
    string("tls-ca-cert-dir", None, MOD, "", Check::None),
    string("tls-protocols", None, MOD, "", Check::None),
    string("tls-ciphers", None, MOD, "", Check::None),
    string("tls-ciphersuites", None, MOD, "", Check::None),

    // Parameters with their own syntax.
    special("dir", None, MOD | PROTECTED, S::Dir),
    special("save", None, MOD | MULTI_ARG, S::Save),
    special("client-output-buffer-limit", None, MOD | MULTI_ARG, S::ClientOutputBufferLimit),
    special("oom-score-adj-values", None, MOD | MULTI_ARG, S::OomScoreAdjValues),
    special("notify-keyspace-events", None, MOD, S::NotifyKeyspaceEvents),
    special("bind", None, MOD | MULTI_ARG, S::Bind),
    special("replicaof", Some("slaveof"), IMM | MULTI_ARG, S::ReplicaOf),
    special("latency-tracking-info-percentiles", None, MOD | MULTI_ARG, S::LatencyPercentiles),
];
