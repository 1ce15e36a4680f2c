//! Commands: the command table (name, arity, flags, handler, as in Redis's `commands.def`),
//! dispatch, and one module per command family.
//!
//! A handler gets a [`Ctx`] (the keyspace, the calling client's state, the reply buffer and
//! server-wide state) and the request's [`Args`], and describes its reply through
//! [`Reply`]. Handlers never touch sockets: anything that needs the event loop (listing or
//! killing other clients, shutting down) is requested through [`Ctx::request`].

pub mod aof;
pub mod bitops;
pub mod blocking;
pub mod cluster;
pub mod command_specs;
pub mod config;
pub mod connection;
pub mod debug;
pub mod dump;
pub mod expire;
pub mod functions;
pub mod geo;
pub mod hashes;
pub mod hyperloglog;
pub mod keys;
pub mod latency;
pub mod lcs;
pub mod lists;
pub mod loading;
pub mod lolwut;
pub mod memory;
pub mod migrate;
pub mod module;
pub mod monitor;
pub mod notify;
pub mod object;
pub mod pause;
pub mod persistence;
pub mod pqsort;
pub mod propagate;
pub mod pubsub;
pub mod scripting;
pub mod server;
pub mod sets;
pub mod slowlog;
pub mod sort;
pub mod streams;
pub mod strings;
pub mod tracking;
pub mod transactions;
pub mod zset_algebra;
pub mod zsets;

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use crate::config::{Config, Params};
use crate::metrics::stats::{Stats, bump};
use crate::resp::{Args, Reply, parse_i64};
use crate::store::{Db, Entry, Store};

/// Redis's exact error texts, shared by several families.
pub mod err {
    /// Bad option combination or unknown option.
    pub const SYNTAX: &str = "ERR syntax error";
    /// An integer argument (or value) that does not parse or is out of range.
    pub const NOT_INTEGER: &str = "ERR value is not an integer or out of range";
    /// A float argument (or value) that does not parse.
    pub const NOT_FLOAT: &str = "ERR value is not a valid float";
    /// The key holds another type.
    pub const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";
    /// RENAME of a missing key.
    pub const NO_SUCH_KEY: &str = "ERR no such key";
    /// SELECT / MOVE / COPY DB outside 0..databases.
    pub const DB_RANGE: &str = "ERR DB index is out of range";
    /// MOVE / COPY onto itself.
    pub const SAME_OBJECT: &str = "ERR source and destination objects are the same";
    /// INCR family overflow.
    pub const OVERFLOW: &str = "ERR increment or decrement would overflow";
    /// A command other than AUTH before authenticating.
    pub const NOAUTH: &str = "NOAUTH Authentication required.";
    /// Strings may not grow past proto-max-bulk-len.
    pub const TOO_BIG: &str = "ERR string exceeds maximum allowed size (proto-max-bulk-len)";
    /// A count of SRANDMEMBER, HRANDFIELD or ZRANDMEMBER that is `i64::MIN` (Redis reads
    /// them within [-LONG_MAX, LONG_MAX]).
    pub const COUNT_RANGE: &str = "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807";
}

/// Command flags (a subset of Redis's), reported by COMMAND INFO.
pub mod flags {
    /// May modify the keyspace.
    pub const WRITE: u32 = 1 << 0;
    /// Only reads.
    pub const READONLY: u32 = 1 << 1;
    /// May grow memory use.
    pub const DENYOOM: u32 = 1 << 2;
    /// Administrative.
    pub const ADMIN: u32 = 1 << 3;
    /// O(1) or O(log n).
    pub const FAST: u32 = 1 << 4;
    /// Allowed before AUTH.
    pub const NO_AUTH: u32 = 1 << 5;
    /// Allowed while loading and on stale replicas (connection commands).
    pub const LOADING: u32 = 1 << 6;
    /// Allowed on a stale replica.
    pub const STALE: u32 = 1 << 7;
    /// Not allowed inside MULTI.
    pub const NO_MULTI: u32 = 1 << 8;
    /// Not allowed from scripts.
    pub const NOSCRIPT: u32 = 1 << 9;
    /// A pub/sub command.
    pub const PUBSUB: u32 = 1 << 10;
    /// Not a write, but replicated (PUBLISH): CLIENT PAUSE WRITE holds it back. Internal:
    /// Redis 7.0's COMMAND INFO does not show it, so it is after the named bits.
    pub const MAY_REPLICATE: u32 = 1 << 11;

    /// Names as COMMAND INFO prints them, in bit order.
    pub const NAMES: [&str; 11] = [
        "write", "readonly", "denyoom", "admin", "fast", "no_auth", "loading", "stale", "no_multi",
        "noscript", "pubsub",
    ];
}

/// A command handler.
pub type Handler = fn(&mut Ctx, Args);

/// One entry of the command table.
#[derive(Debug)]
pub struct Command {
    /// Lower-case name, as Redis reports it.
    pub name: &'static str,
    /// Redis's arity: `n > 0` exactly n arguments (name included), `-n` at least n.
    pub arity: i32,
    /// Bit set of [`flags`].
    pub flags: u32,
    /// Position of the first key argument (0 = none), the last (-1 = last argument), step.
    pub keys: (i32, i32, i32),
    /// ACL category and COMMAND DOCS group (`string`, `generic`, `connection`, `server`, ...).
    pub group: &'static str,
    /// The handler.
    pub handler: Handler,
}

impl std::fmt::Debug for Ctx<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ctx").field("db", &self.client.db).finish()
    }
}

/// The command table: every family's commands, looked up case-insensitively.
///
/// Besides the commands, the table numbers the subcommands of the container commands
/// (CONFIG, CLIENT, COMMAND) for statistics, as Redis counts `config|get` apart from
/// `config|set`: statistics slot `id` is command `id`, and the slots after the last command
/// are the containers' subcommands, in table order.
pub struct Table {
    commands: Vec<&'static Command>,
    by_name: HashMap<&'static [u8], usize, ahash::RandomState>,
    /// Per command id: 0, or 1 + the index of its entry in `containers`.
    container_of: Vec<u8>,
    containers: Vec<Container>,
    /// Lower-case name of every statistics slot (`get`, `config|get`).
    slot_names: Vec<String>,
    /// The ids of the commands that answer to some name (all but those a rename-command
    /// removed), which COMMAND lists and counts.
    reachable: Vec<usize>,
    /// The length of the longest name in `by_name`.
    longest_name: usize,
}

/// A command whose first argument names a subcommand.
struct Container {
    name: &'static str,
    /// `(name, arity)` of each subcommand, as the command's handler resolves them.
    subcommands: &'static [(&'static str, i32)],
    /// Statistics slot of the first subcommand.
    first_slot: usize,
}

/// Every family's commands, in table (id) order.
const FAMILIES: &[&[Command]] = &[
    strings::COMMANDS,
    lcs::COMMANDS,
    keys::COMMANDS,
    sort::COMMANDS,
    dump::COMMANDS,
    object::COMMANDS,
    memory::COMMANDS,
    persistence::COMMANDS,
    aof::COMMANDS,
    expire::COMMANDS,
    lists::COMMANDS,
    hashes::COMMANDS,
    sets::COMMANDS,
    zsets::COMMANDS,
    geo::COMMANDS,
    zset_algebra::COMMANDS,
    streams::COMMANDS,
    transactions::COMMANDS,
    connection::COMMANDS,
    server::COMMANDS,
    config::COMMANDS,
    pubsub::COMMANDS,
    blocking::COMMANDS,
    monitor::COMMANDS,
    scripting::COMMANDS,
    functions::COMMANDS,
    bitops::COMMANDS,
    slowlog::COMMANDS,
    latency::COMMANDS,
    debug::COMMANDS,
    hyperloglog::COMMANDS,
    lolwut::COMMANDS,
    cluster::COMMANDS,
    module::COMMANDS,
    migrate::COMMANDS,
];

/// The names of all commands before any rename-command.
pub fn base_command_names() -> Vec<&'static str> {
    FAMILIES
        .iter()
        .flat_map(|f| f.iter())
        .map(|c| c.name)
        .collect()
}

/// The renames the configuration asks for, applied when the table is built.
static RENAMES: OnceLock<Vec<(String, String)>> = OnceLock::new();

/// The process-wide command table, built on first use.
static TABLE: OnceLock<Table> = OnceLock::new();

/// Applies rename-command lines (lower-case (command, new name); empty: removed) to the
/// command table. Must come before the table's first use.
pub fn apply_renames(renames: &[(String, String)]) -> Result<(), String> {
    if renames.is_empty() {
        return Ok(());
    }
    if TABLE.get().is_some() || RENAMES.set(renames.to_vec()).is_err() {
        return Err("rename-command: the command table is already in use".into());
    }
    Ok(())
}

impl Table {
    fn build() -> Table {
        let commands: Vec<&'static Command> = FAMILIES.iter().flat_map(|f| f.iter()).collect();
        let mut by_name = HashMap::with_hasher(ahash::RandomState::new());
        for (id, c) in commands.iter().enumerate() {
            let dup = by_name.insert(c.name.as_bytes(), id);
            assert!(dup.is_none(), "command {} defined twice", c.name);
        }
        let mut slot_names: Vec<String> = commands.iter().map(|c| c.name.to_string()).collect();
        let mut container_of = vec![0u8; commands.len()];
        let mut containers = Vec::new();
        for (name, subcommands) in [
            ("config", config::CONFIG_SUBCOMMANDS),
            ("client", connection::CLIENT_SUBCOMMANDS),
            ("command", server::COMMAND_SUBCOMMANDS),
            ("pubsub", pubsub::PUBSUB_SUBCOMMANDS),
            ("script", scripting::SCRIPT_SUBCOMMANDS),
            ("function", functions::FUNCTION_SUBCOMMANDS),
            ("xgroup", streams::XGROUP_SUBCOMMANDS),
            ("xinfo", streams::XINFO_SUBCOMMANDS),
            ("object", object::OBJECT_SUBCOMMANDS),
            ("memory", memory::MEMORY_SUBCOMMANDS),
            ("slowlog", slowlog::SLOWLOG_SUBCOMMANDS),
            ("latency", latency::LATENCY_SUBCOMMANDS),
            ("cluster", cluster::CLUSTER_SUBCOMMANDS),
            ("module", module::MODULE_SUBCOMMANDS),
        ] {
            let id = by_name[name.as_bytes()];
            containers.push(Container {
                name,
                subcommands,
                first_slot: slot_names.len(),
            });
            container_of[id] = containers.len() as u8;
            slot_names.extend(subcommands.iter().map(|(sub, _)| format!("{name}|{sub}")));
        }
        // rename-command (checked when the configuration was read): the command answers to
        // its new name only, or to none. Statistics and COMMAND keep the original name, as
        // Redis keeps the command's own name.
        for (from, to) in RENAMES.get().map_or(&[][..], Vec::as_slice) {
            if let Some(id) = by_name.remove(from.as_bytes())
                && !to.is_empty()
            {
                let name: &'static [u8] = Box::leak(to.clone().into_bytes().into_boxed_slice());
                by_name.insert(name, id);
            }
        }
        let mut reachable: Vec<usize> = by_name.values().copied().collect();
        reachable.sort_unstable();
        let longest_name = by_name.keys().map(|n| n.len()).max().unwrap_or(0);
        Table {
            commands,
            by_name,
            container_of,
            containers,
            slot_names,
            reachable,
            longest_name,
        }
    }

    /// The id of the command named `name` (any case), if it exists.
    #[inline]
    pub fn lookup(&self, name: &[u8]) -> Option<usize> {
        let mut buf = [0u8; 32];
        let Some(lower) = buf.get_mut(..name.len()) else {
            // Only renamed commands have names this long (`rename-command CONFIG <hash>`);
            // a longer name names nothing and costs no allocation.
            if name.len() > self.longest_name {
                return None;
            }
            return self.by_name.get(&*name.to_ascii_lowercase()).copied();
        };
        for (d, s) in lower.iter_mut().zip(name) {
            *d = s.to_ascii_lowercase();
        }
        self.by_name.get(&*lower).copied()
    }

    /// Command `id`.
    pub fn get(&self, id: usize) -> &'static Command {
        self.commands[id]
    }

    /// All commands in id order.
    pub fn all(&self) -> &[&'static Command] {
        &self.commands
    }

    /// The ids of the commands COMMAND lists: every one that answers to a name (the
    /// original, or the one rename-command gave it).
    pub fn reachable(&self) -> &[usize] {
        &self.reachable
    }

    /// Number of commands.
    pub fn len(&self) -> usize {
        self.commands.len()
    }

    /// Always false: the table has commands.
    pub fn is_empty(&self) -> bool {
        self.commands.is_empty()
    }

    /// The subcommands of command `id` (`(name, arity)`), empty unless it is a container.
    pub fn subcommands(&self, id: usize) -> &'static [(&'static str, i32)] {
        self.container(id).map_or(&[], |c| c.subcommands)
    }

    /// The container entry of command `id`, if its first argument names a subcommand.
    #[inline]
    fn container(&self, id: usize) -> Option<&Container> {
        match self.container_of[id] {
            0 => None,
            n => self.containers.get(usize::from(n) - 1),
        }
    }

    /// Number of statistics slots: commands and subcommands (the unknown slot comes after).
    pub fn slots(&self) -> usize {
        self.slot_names.len()
    }

    /// Lower-case name of statistics slot `slot` (`get`, `config|get`), as INFO prints it.
    pub fn slot_name(&self, slot: usize) -> &str {
        &self.slot_names[slot]
    }

    /// Statistics slots in Redis's INFO order: each command followed by its subcommands.
    pub fn slots_in_info_order(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.commands.len()).flat_map(move |id| {
            let subs = self
                .container(id)
                .map_or(0..0, |c| c.first_slot..c.first_slot + c.subcommands.len());
            std::iter::once(id).chain(subs)
        })
    }
}

/// The process-wide command table.
pub fn table() -> &'static Table {
    TABLE.get_or_init(Table::build)
}

/// Canonical upper-case names of all statistics slots, in slot order (metrics labels):
/// the commands in id order (`GET`), then the subcommands (`CONFIG|GET`).
pub fn command_names() -> Vec<String> {
    let tbl = table();
    (0..tbl.slots())
        .map(|slot| tbl.slot_name(slot).to_ascii_uppercase())
        .collect()
}

/// The state of one client connection that commands see and change.
#[derive(Debug)]
pub struct Client {
    /// Unique, increasing id (CLIENT ID).
    pub id: u64,
    /// The connection's slab token: how registries (pub/sub, waiters) name this client.
    pub token: usize,
    /// Selected database.
    pub db: usize,
    /// CLIENT SETNAME.
    pub name: Vec<u8>,
    /// CLIENT SETINFO LIB-NAME.
    pub lib_name: Vec<u8>,
    /// CLIENT SETINFO LIB-VER.
    pub lib_ver: Vec<u8>,
    /// AUTH succeeded (or no password is configured).
    pub authenticated: bool,
    /// Connected over loopback (protected mode, protected parameters).
    pub local: bool,
    /// Close the connection once the pending replies are written (QUIT, protocol error).
    pub close_after_reply: bool,
    /// Statistics slot of the last command run (its subcommand's for CONFIG, CLIENT and
    /// COMMAND), for CLIENT LIST; None after an unknown command or subcommand.
    pub last_command: Option<usize>,
    /// When the client connected (ms since the epoch).
    pub created_ms: u64,
    /// Last time it sent a request (ms since the epoch), for idle timeouts and CLIENT LIST.
    pub last_active_ms: u64,
    /// Commands queued since MULTI (None outside a transaction).
    pub multi: Option<transactions::Multi>,
    /// Keys this client WATCHes, as (database, key).
    pub watched: Vec<(usize, Box<[u8]>)>,
    /// When (seconds since the epoch) its output first stayed over the soft limit
    /// (0 = it is not over it).
    pub obuf_soft_since: u64,
    /// Channels, patterns and shard channels it listens to.
    pub pubsub: crate::pubsub::Subscriptions,
    /// Waiting in a blocking command (BLPOP...): its input is not processed meanwhile.
    pub blocked: Option<Box<blocking::Blocked>>,
    /// CLIENT REPLY: which of its commands' replies it gets.
    pub reply_mode: ReplyMode,
    /// The peer's address (MONITOR lines name it); None for internal clients.
    pub addr: Option<std::net::SocketAddr>,
    /// In MONITOR mode: sees every command, may not touch the keyspace.
    pub monitor: bool,
    /// Held back by CLIENT PAUSE: its current command waits, unparsed, in its buffer.
    pub paused: bool,
    /// CLIENT NO-EVICT ON: exempt from client eviction (CLIENT LIST flag `e`).
    pub no_evict: bool,
}

/// CLIENT REPLY's state (Redis's CLIENT_REPLY_OFF, _SKIP_NEXT and _SKIP flags).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReplyMode {
    /// Every reply.
    #[default]
    On,
    /// No reply until CLIENT REPLY ON.
    Off,
    /// No reply for the next command (set by CLIENT REPLY SKIP).
    SkipNext,
}

impl Client {
    /// A new client; `authenticated` is true when no password is required.
    pub fn new(id: u64, authenticated: bool, now: u64) -> Client {
        Client {
            id,
            token: usize::MAX,
            db: 0,
            name: Vec::new(),
            lib_name: Vec::new(),
            lib_ver: Vec::new(),
            authenticated,
            local: true,
            close_after_reply: false,
            last_command: None,
            created_ms: now,
            last_active_ms: now,
            multi: None,
            watched: Vec::new(),
            obuf_soft_since: 0,
            pubsub: Default::default(),
            blocked: None,
            reply_mode: ReplyMode::On,
            addr: None,
            monitor: false,
            paused: false,
            no_evict: false,
        }
    }
}

/// CLIENT LIST's `cmd=` for a client's last command (Redis's `lastcmd->fullname`): the name
/// of its statistics slot (`get`, `client|list`), or `NULL` when it named no command (an
/// unknown command or subcommand).
pub fn last_command_name(slot: Option<usize>) -> &'static str {
    slot.map_or("NULL", |slot| table().slot_name(slot))
}

/// Something a handler needs the event loop to do, right after the handler returns
/// (so its reply stays in order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// CLIENT LIST (optionally only these ids): reply with the client list.
    ClientList(Option<Vec<u64>>),
    /// CLIENT INFO: reply with the caller's line.
    ClientInfo,
    /// CLIENT KILL: close the matching clients, reply with the count (or OK / error).
    ClientKill(KillFilter),
    /// SHUTDOWN: stop the server gracefully.
    Shutdown,
    /// Nothing but [`Shared::loop_work`]: the loop delivers, then resumes the pipeline.
    LoopWork,
    /// CLIENT UNBLOCK: end client `id`'s blocking command with its timeout reply, or an
    /// UNBLOCKED error; reply 1 or 0.
    ClientUnblock {
        /// The blocked client.
        id: i64,
        /// Reply -UNBLOCKED instead of the timeout reply.
        error: bool,
    },
}

/// Which clients CLIENT KILL closes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KillFilter {
    /// Old form `CLIENT KILL addr:port`: reply OK or an error.
    LegacyAddr(String),
    /// New form: any of these (ANDed), reply with the number killed.
    Filters {
        /// `ID id`
        id: Option<u64>,
        /// `ADDR ip:port`
        addr: Option<String>,
        /// `LADDR ip:port`
        laddr: Option<String>,
        /// `SKIPME yes|no` (default yes)
        skip_me: bool,
    },
}

/// Server-wide state shared by all commands (not per client).
pub struct Shared {
    /// The command line the server started with.
    pub config: Config,
    /// Run-time parameters (CONFIG GET / SET); read typed through `params.settings`.
    pub params: Params,
    /// Counters and gauges, also read by the metrics thread.
    pub stats: Arc<Stats>,
    /// When the server started.
    pub started: Instant,
    /// Clock ticks ([`crate::clock`]) at the end of the previous command, or when this batch
    /// of requests started: a command's latency runs from there to its reply being encoded.
    pub last_tick: u64,
    /// A request for the event loop, set by a handler.
    pub request: Option<Request>,
    /// Random 40-hex-digit id of this server run (INFO run_id).
    pub run_id: String,
    /// Commands per second over the last sampling period (INFO), updated by the cron.
    pub ops_per_sec: u64,
    /// Highest `used_memory` seen (INFO used_memory_peak), updated by the cron.
    pub peak_memory: u64,
    /// `used_memory` when the server started (INFO used_memory_startup).
    pub startup_memory: u64,
    /// Subscriptions and the outbox of messages for other clients.
    pub pubsub: crate::pubsub::PubSub,
    /// The last command left work for the event loop (messages to deliver, blocked
    /// clients to serve): `Conn::process` hands control back before the next command.
    pub loop_work: bool,
    /// Clients that blocked since the loop last looked (their timeouts to schedule).
    pub newly_blocked: Vec<usize>,
    /// EXEC is running its queued commands: blocking commands must not block.
    pub in_exec: bool,
    /// A script is running its commands (XREAD BLOCK is refused there, not just made
    /// non-blocking, as Redis does for CLIENT_SCRIPT).
    pub in_script: bool,
    /// Clients in MONITOR mode, in the order they started.
    pub monitors: Vec<usize>,
    /// CLIENT PAUSE: what is paused and until when.
    pub pause: pause::Pause,
    /// Clients whose command waits for the pause to end, in arrival order.
    pub postponed: Vec<usize>,
    /// The pause ended or relaxed: the loop must run the postponed clients again.
    pub release_postponed: bool,
    /// Client-side caching: tracking clients, the keys they may cache, BCAST prefixes.
    pub tracking: crate::tracking::Tracking,
    /// Connected clients' slab tokens by client id (tracking redirections name ids).
    pub clients_by_id: HashMap<u64, usize>,
    /// The Lua engine and its script cache (created by the first script).
    pub scripts: Option<Box<crate::script::Engine>>,
    /// FUNCTION libraries and their engine.
    pub functions: crate::script::functions::Functions,
    /// While a script runs: the keys it declared (EVAL's KEYS), which tracking remembers
    /// when the script reads, as Redis does.
    pub script_keys: Option<Vec<Box<[u8]>>>,
    /// The error the command just replied was already counted in errorstats (a script
    /// returning a command's error, Redis's ERR_REPLY_FLAG_NO_STATS_UPDATE).
    pub error_counted: bool,
    /// maxmemory eviction's state between commands.
    pub eviction: memory::EvictionState,
    /// Snapshot state and bookkeeping (SAVE, BGSAVE, save points, INFO persistence).
    pub persist: persistence::Persistence,
    /// Writes on their way to the append-only file.
    pub propagation: propagate::Propagation,
    /// The append-only file (appendonly, BGREWRITEAOF, INFO persistence).
    pub aof: aof::Aof,
    /// The dataset is being loaded: commands not flagged `loading` get -LOADING.
    pub loading: Option<Box<loading::Loading>>,
    /// The expiry cycle runs (DEBUG SET-ACTIVE-EXPIRE 0 leaves expired keys to be found).
    pub active_expire: bool,
    /// SLOWLOG's entries.
    pub slowlog: slowlog::Slowlog,
    /// The latency monitor's events (LATENCY).
    pub latency: latency::Monitor,
    /// MIGRATE's connections to its targets.
    pub migrate: migrate::SocketCache,
}

impl Shared {
    /// Shared state for a server with this command line and these parameters.
    pub fn new(config: Config, params: Params) -> Shared {
        let stats = Arc::new(Stats::new(command_names(), config.databases as usize));
        Shared {
            config,
            params,
            stats,
            started: Instant::now(),
            last_tick: crate::clock::ticks(),
            request: None,
            run_id: random_hex_id(),
            ops_per_sec: 0,
            peak_memory: 0,
            startup_memory: crate::alloc::allocated() as u64,
            pubsub: Default::default(),
            loop_work: false,
            newly_blocked: Vec::new(),
            in_exec: false,
            in_script: false,
            monitors: Vec::new(),
            pause: Default::default(),
            postponed: Vec::new(),
            release_postponed: false,
            tracking: Default::default(),
            clients_by_id: HashMap::new(),
            scripts: None,
            functions: Default::default(),
            error_counted: false,
            script_keys: None,
            eviction: Default::default(),
            persist: persistence::Persistence::new(crate::util::now_us() / 1_000_000),
            propagation: Default::default(),
            aof: Default::default(),
            loading: None,
            active_expire: true,
            slowlog: Default::default(),
            latency: Default::default(),
            migrate: Default::default(),
        }
    }
}

/// 40 random hex digits, seeded from the clock and the process id.
fn random_hex_id() -> String {
    let mut state = crate::util::now_us() ^ (u64::from(std::process::id()) << 32) | 1;
    (0..40)
        .map(|_| {
            let d = (crate::store::next_random(&mut state) >> 60) as u32;
            char::from_digit(d, 16).unwrap_or('0')
        })
        .collect()
}

/// Everything a handler works with.
pub struct Ctx<'a> {
    /// All databases.
    pub store: &'a mut Store,
    /// The calling client.
    pub client: &'a mut Client,
    /// Where the reply goes.
    pub out: &'a mut Reply,
    /// Server-wide state.
    pub shared: &'a mut Shared,
    /// The command's clock (ms since the epoch), read once per batch of requests.
    pub now: u64,
}

impl<'a> Ctx<'a> {
    /// The selected database.
    #[inline]
    pub fn db(&mut self) -> &mut Db {
        self.store.db(self.client.db)
    }

    /// Looks a key up for a read command (deleting it if expired), counting a keyspace
    /// hit or miss. Returns the reply buffer too, so the handler can use both at once.
    #[inline]
    pub fn read(&mut self, key: &[u8]) -> (Option<&mut Entry>, &mut Reply) {
        self.read_counted(key, true)
    }

    /// [`Ctx::read`] that does not count as an access for eviction (TTL, TYPE, EXISTS, as
    /// Redis's LOOKUP_NOTOUCH).
    pub fn read_no_touch(&mut self, key: &[u8]) -> (Option<&mut Entry>, &mut Reply) {
        self.read_counted(key, false)
    }

    #[inline]
    fn read_counted(&mut self, key: &[u8], touch: bool) -> (Option<&mut Entry>, &mut Reply) {
        let db = self.store.db(self.client.db);
        let found = if touch {
            db.get_mut(key, self.now)
        } else {
            db.get_mut_no_touch(key, self.now)
        };
        let stats = &self.shared.stats;
        bump(
            if found.is_some() {
                &stats.keyspace_hits
            } else {
                &stats.keyspace_misses
            },
            1,
        );
        (found, self.out)
    }

    /// Looks a key up for a write command (deleting it if expired); no hit/miss accounting.
    #[inline]
    pub fn write(&mut self, key: &[u8]) -> (Option<&mut Entry>, &mut Reply) {
        (
            self.store.db(self.client.db).get_mut(key, self.now),
            self.out,
        )
    }

    /// Tells WATCH that `key` (in the selected database) was modified in place. Call it
    /// after changing an existing value through [`Ctx::write`] / [`Db::get_mut`]; the
    /// `Db` methods that insert, replace, remove or re-time keys signal by themselves.
    #[inline]
    pub fn modified(&mut self, key: &[u8]) {
        self.store.db(self.client.db).signal_modified(key);
    }

    /// Asks the event loop to do something right after this handler.
    pub fn request(&mut self, r: Request) {
        self.shared.request = Some(r);
    }

    /// Replies with an error.
    pub fn error(&mut self, msg: &str) {
        self.out.error(msg);
    }

    /// The collection encoding thresholds in force (CONFIG).
    #[inline]
    pub fn limits(&self) -> crate::store::Limits {
        self.shared.params.settings.limits
    }

    /// Parses an integer argument, replying with Redis's error if it is not one.
    pub fn int_arg(&mut self, arg: &[u8]) -> Option<i64> {
        let v = parse_i64(arg);
        if v.is_none() {
            self.out.error(err::NOT_INTEGER);
        }
        v
    }

    /// Parses a database index argument as SELECT / MOVE do, replying with the error.
    pub fn db_index_arg(&mut self, arg: &[u8]) -> Option<usize> {
        let id = self.int32_arg(arg)?;
        if id < 0 || id as usize >= self.store.len() {
            self.out.error(err::DB_RANGE);
            return None;
        }
        Some(id as usize)
    }

    /// Parses a 32-bit integer argument (Redis's `getIntFromObjectOrReply`).
    pub fn int32_arg(&mut self, arg: &[u8]) -> Option<i32> {
        let v = self.int_arg(arg)?;
        let id = i32::try_from(v).ok();
        if id.is_none() {
            self.out
                .error("ERR value is out of range, value must between -2147483648 and 2147483647");
        }
        id
    }
}

/// True when `n` arguments (name included) satisfy `arity`.
#[inline]
pub fn arity_ok(arity: i32, n: usize) -> bool {
    if arity >= 0 {
        n == arity as usize
    } else {
        n >= arity.unsigned_abs() as usize
    }
}

/// Redis's "wrong number of arguments" error for `name` (`config|get` for subcommands).
pub fn arity_error(out: &mut Reply, name: &str) {
    out.error(&format!(
        "ERR wrong number of arguments for '{name}' command"
    ));
}

/// An argument as Redis's `%.*s` prints it inside an error: cut at the first NUL byte and
/// at `max` bytes, otherwise the raw bytes.
pub fn c_bytes(arg: &[u8], max: usize) -> &[u8] {
    let end = arg
        .iter()
        .position(|&b| b == 0)
        .unwrap_or(arg.len())
        .min(max);
    &arg[..end]
}

/// Redis's unknown-command error: `unknown command 'X', with args beginning with: 'a' 'b' `.
pub fn unknown_command(out: &mut Reply, args: Args) {
    let mut parts: Vec<&[u8]> = vec![
        b"ERR unknown command '",
        c_bytes(args.get(0), 128),
        b"', with args beginning with: ",
    ];
    // Redis appends `'arg' ` while the list is shorter than 128 bytes, each cut to fit.
    let mut listed = 0;
    for a in args.iter().skip(1) {
        if listed >= 128 {
            break;
        }
        let shown = c_bytes(a, 128 - listed);
        parts.extend_from_slice(&[b"'", shown, b"' "]);
        listed += shown.len() + 3;
    }
    out.error_parts(&parts);
}

/// Resolves the subcommand of a container command (CONFIG, CLIENT, COMMAND) against its
/// `(name, arity)` table. Replies Redis's unknown-subcommand error, or the arity error
/// naming `container|sub`, and returns None when the request does not fit.
pub fn subcommand(
    out: &mut Reply,
    container: &str,
    subcommands: &[(&'static str, i32)],
    args: Args,
) -> Option<&'static str> {
    let sub = args.get(1);
    let Some(&(name, arity)) = subcommands
        .iter()
        .find(|(n, _)| n.as_bytes().eq_ignore_ascii_case(sub))
    else {
        unknown_subcommand(out, container, sub);
        return None;
    };
    if !arity_ok(arity, args.len()) {
        arity_error(out, &format!("{container}|{name}"));
        return None;
    }
    Some(name)
}

/// A HELP reply: one simple string per line.
pub fn reply_help(out: &mut Reply, lines: &[&str]) {
    out.array(lines.len());
    for l in lines {
        out.simple(l);
    }
}

/// Redis's unknown-subcommand error: `unknown subcommand 'x'. Try CONFIG HELP.`
pub fn unknown_subcommand(out: &mut Reply, container: &str, sub: &[u8]) {
    let upper = container.to_ascii_uppercase();
    out.error_parts(&[
        b"ERR unknown subcommand '",
        c_bytes(sub, 128),
        b"'. Try ",
        upper.as_bytes(),
        b" HELP.",
    ]);
}

/// Runs one request: looks the command up (the subcommand too, for CONFIG, CLIENT and
/// COMMAND), checks arity and authentication, calls the handler, and records the call's
/// statistics.
///
/// As in Redis, a request refused before running (unknown command or subcommand, wrong
/// arity, not authenticated, not allowed inside MULTI) counts as a rejected call of its
/// command, one that ran and replied with an error as a failed call, and every error
/// reply counts under its code (INFO commandstats and errorstats).
pub fn execute(ctx: &mut Ctx, args: Args) {
    let tbl = table();
    let mark = ctx.out.mark();
    let Some(id) = tbl.lookup(args.get(0)) else {
        ctx.client.last_command = None;
        unknown_command(ctx.out, args);
        reject(ctx, ctx.shared.stats.commands.len() - 1, mark);
        return;
    };
    let cmd = tbl.get(id);
    ctx.client.last_command = Some(id);
    if !arity_ok(cmd.arity, args.len()) {
        if cmd.name == "exec" {
            // Redis's execCommandAbort: a malformed EXEC ends the transaction, even outside one.
            transactions::abort(ctx, "wrong number of arguments for 'exec' command");
            // Redis's execCommandAbort shows the EXEC to monitors, closing the MULTI.
            if !ctx.shared.monitors.is_empty() {
                monitor::feed(ctx, cmd, args);
            }
        } else {
            arity_error(ctx.out, cmd.name);
        }
        reject(ctx, id, mark);
        return;
    }
    let slot = match tbl.container(id) {
        None => id,
        Some(container) => match resolve_subcommand(ctx, container, id, args, mark) {
            Some(slot) => slot,
            None => return,
        },
    };
    if !ctx.client.authenticated && cmd.flags & flags::NO_AUTH == 0 {
        ctx.out.error(err::NOAUTH);
        reject(ctx, slot, mark);
        return;
    }
    // While the dataset loads, only commands flagged `loading` run (Redis's
    // processCommand); the loader's own commands run as EXEC's do.
    if ctx.shared.loading.is_some() && cmd.flags & flags::LOADING == 0 && !ctx.shared.in_exec {
        ctx.out.error(loading::LOADING_ERROR);
        reject(ctx, slot, mark);
        return;
    }
    // Evictions and OOM refusals are for the request as a whole: not again for the
    // commands EXEC or a script runs (Redis checks in processCommand only).
    if ctx.shared.params.settings.memory.maxmemory != 0
        && !ctx.shared.in_exec
        && !ctx.shared.in_script
        && oom_refused(ctx, cmd, args)
    {
        if cmd.name == "exec" && ctx.client.multi.is_some() {
            // Redis's rejectCommand on EXEC: execCommandAbort, the transaction ends.
            transactions::abort(ctx, memory::OOM);
        } else {
            ctx.out.error(memory::OOM);
        }
        reject(ctx, slot, mark);
        return;
    }
    // After a failed background save, writes (and PING) are refused (Redis's
    // writeCommandsDeniedByDiskError), for the request as a whole as the OOM check is; so
    // are writes while min-replicas-to-write asks for replicas we do not have.
    if (ctx.shared.persist.last_bgsave_failed
        || ctx.shared.aof.last_write_error.is_some()
        || ctx.shared.params.settings.min_replicas_refuse)
        && !ctx.shared.in_exec
        && !ctx.shared.in_script
        && let Some(text) = write_refused(ctx, cmd, args)
    {
        if cmd.name == "exec" && ctx.client.multi.is_some() {
            transactions::abort(ctx, &text);
        } else {
            ctx.out.error(&text);
        }
        reject(ctx, slot, mark);
        return;
    }
    if ctx.client.pubsub.total() > 0
        && !ctx.out.is_resp3()
        && !pubsub::allowed_while_subscribed(cmd.name)
    {
        // RESP2 has no way to tell a reply from a message: a subscribed client may only
        // manage its subscriptions (RESP3 clients may run anything).
        #[cold]
        fn refuse(ctx: &mut Ctx, slot: usize, mark: usize) {
            ctx.out.error_parts(&[
                b"ERR Can't execute '",
                table().slot_name(slot).as_bytes(),
                b"': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
            ]);
            reject(ctx, slot, mark);
        }
        return refuse(ctx, slot, mark);
    }
    if (ctx.client.monitor || ctx.shared.pause.active()) && held_back(ctx, cmd, args, slot, mark) {
        return;
    }
    if ctx.client.multi.is_some() && !transactions::runs_inside_multi(cmd) {
        if !transactions::can_queue(cmd, args) {
            ctx.out
                .error("ERR Command not allowed inside a transaction");
            reject(ctx, slot, mark);
            return;
        }
        transactions::queue(ctx, args);
        // Queued, not run: EXEC counts it when it runs.
        ctx.shared.last_tick = crate::clock::ticks();
        return;
    }
    if ctx.shared.persist.bgsave.is_some() {
        // Lookups by commands that may write save the key into the snapshot first.
        ctx.store
            .set_snapshot_writing(cmd.flags & flags::READONLY == 0);
    }
    // The client's database's changes: a command that changes another one (SWAPDB,
    // FLUSHALL, COPY ... DB) forces its propagation.
    let dirty_before = if ctx.shared.propagation.on {
        (ctx.client.db, ctx.db().changes())
    } else {
        (0, 0)
    };
    (cmd.handler)(ctx, args);
    if ctx.shared.propagation.on {
        propagate::after_command(ctx, cmd, args, dirty_before);
    }
    if ctx.store.has_events() {
        notify::flush_store_events(ctx);
    }
    if !ctx.shared.monitors.is_empty() {
        monitor::feed(ctx, cmd, args);
    }
    if ctx.shared.tracking.active() {
        tracking::after_command(ctx, cmd, args);
    }
    if let Some(blocked) = ctx.client.blocked.as_mut() {
        // Counted when it is unblocked, as Redis does.
        let now = crate::clock::ticks();
        blocked.ran_ns = crate::clock::nanos_between(ctx.shared.last_tick, now);
        blocked.args = args.iter().map(Box::from).collect();
        ctx.shared.last_tick = now;
        return;
    }
    if ctx.store.has_ready() {
        ctx.shared.loop_work = true;
    }
    let failed = ctx.out.first_byte_since(mark) == Some(b'-');
    let ns = finish(ctx, slot, failed, mark);
    if ns >= ctx.shared.params.settings.slow_watch_ns {
        slow_run(ctx, cmd, args, ns);
    }
}

/// A run long enough to concern SLOWLOG or the latency monitor (Redis's call(): the
/// `command` or `fast-command` event, then the slow log).
#[cold]
#[inline(never)]
fn slow_run(ctx: &mut Ctx, cmd: &Command, args: Args, ns: u64) {
    let event = if cmd.flags & flags::FAST != 0 {
        "fast-command"
    } else {
        "command"
    };
    latency::sample_if_needed(ctx.shared, event, ns / 1_000_000);
    slowlog::record(ctx, cmd.name, args, ns / 1000);
}

/// Evicts under maxmemory, then tells whether the command must be refused with -OOM
/// (Redis's processCommand: denyoom commands, EXEC of a queue holding one, scripts whose
/// flags deny it, and anything queued into MULTI).
#[cold]
#[inline(never)]
fn oom_refused(ctx: &mut Ctx, cmd: &Command, args: Args) -> bool {
    let f = request_flags(ctx, cmd, args);
    let refused = memory::refuse_for_oom(ctx, cmd, f);
    if ctx.store.has_touched() {
        tracking::invalidate_evicted(ctx);
    }
    refused
}

/// The error refusing a write now, if any: -MISCONF after a failed background save or a
/// failed write to the append-only file (Redis's writeCommandsDeniedByDiskError), else
/// -NOREPLICAS while min-replicas-to-write is set (Redis's checkGoodReplicasStatus: we
/// have no replicas).
pub fn write_denied(shared: &Shared) -> Option<(String, bool)> {
    if shared.persist.refuses_writes(&shared.params.settings.rdb) {
        Some((persistence::MISCONF.to_string(), true))
    } else if let Some(e) = shared
        .aof
        .last_write_error
        .as_ref()
        .filter(|_| shared.aof.on)
    {
        Some((aof::misconf(e), true))
    } else if shared.params.settings.min_replicas_refuse {
        Some((NOREPLICAS.to_string(), false))
    } else {
        None
    }
}

/// Redis's -NOREPLICAS error.
pub const NOREPLICAS: &str = "NOREPLICAS Not enough good replicas to write.";

/// The error refusing this request, if it writes (or, for -MISCONF, is PING) while
/// [`write_denied`] says writes are refused.
#[cold]
#[inline(never)]
fn write_refused(ctx: &Ctx, cmd: &Command, args: Args) -> Option<String> {
    let (text, refuses_ping) = write_denied(ctx.shared)?;
    let refused =
        (refuses_ping && cmd.name == "ping") || request_flags(ctx, cmd, args) & flags::WRITE != 0;
    refused.then_some(text)
}

/// A request's flags as Redis's getCommandFlags sees them: a script's own (its shebang or
/// its function's flags), FUNCTION's subcommand's, EXEC's with its queued commands'.
pub fn request_flags(ctx: &Ctx, cmd: &Command, args: Args) -> u32 {
    if cmd.name.starts_with("eval") || cmd.name.starts_with("fcall") {
        scripting::effective_flags(ctx.shared, cmd, args)
    } else if cmd.name == "function" && args.len() > 1 {
        functions::subcommand_flags(args.get(1))
    } else if cmd.name == "xgroup" && args.len() > 1 {
        // Redis gives XGROUP's subcommands their own flags: those that create may grow
        // memory.
        let sub = args.get(1);
        if sub.eq_ignore_ascii_case(b"create") || sub.eq_ignore_ascii_case(b"createconsumer") {
            flags::WRITE | flags::DENYOOM
        } else if sub.eq_ignore_ascii_case(b"help") {
            flags::STALE
        } else {
            flags::WRITE
        }
    } else {
        with_queued_flags(ctx, cmd)
    }
}

/// The checks that concern only monitors and paused servers, in Redis's order: a client in
/// MONITOR mode may not touch the keyspace, and CLIENT PAUSE postpones the commands it
/// covers (not those EXEC is running). True when the command must not run now.
#[cold]
#[inline(never)]
fn held_back(ctx: &mut Ctx, cmd: &Command, args: Args, slot: usize, mark: usize) -> bool {
    if ctx.client.monitor {
        let f = with_queued_flags(ctx, cmd);
        if f & (flags::WRITE | flags::READONLY | flags::MAY_REPLICATE) != 0 {
            ctx.out
                .error("ERR Replica can't interact with the keyspace");
            reject(ctx, slot, mark);
            return true;
        }
    }
    if ctx.shared.pause.active() && !ctx.shared.in_exec && pause::must_wait(ctx, cmd, args) {
        pause::postpone(ctx);
        return true;
    }
    false
}

/// A command's flags, with those of the queued commands for EXEC (Redis's mstate.cmd_flags):
/// what the monitor and pause checks judge a request by.
pub fn with_queued_flags(ctx: &Ctx, cmd: &Command) -> u32 {
    match &ctx.client.multi {
        Some(multi) if cmd.name == "exec" => cmd.flags | multi.queued_flags(),
        _ => cmd.flags,
    }
}

/// The statistics slot of a container command's request (Redis looks subcommands up with
/// the command): the subcommand's, or the container's own when it has no argument. An
/// unknown subcommand or a wrong arity for the subcommand is refused here, before the
/// handler, with Redis's errors; None then.
#[inline(never)]
fn resolve_subcommand(
    ctx: &mut Ctx,
    container: &Container,
    id: usize,
    args: Args,
    mark: usize,
) -> Option<usize> {
    if args.len() < 2 {
        return Some(id);
    }
    let sub = args.get(1);
    let Some(i) = container
        .subcommands
        .iter()
        .position(|(n, _)| n.as_bytes().eq_ignore_ascii_case(sub))
    else {
        ctx.client.last_command = None;
        unknown_subcommand(ctx.out, container.name, sub);
        reject(ctx, ctx.shared.stats.commands.len() - 1, mark);
        return None;
    };
    let (name, arity) = container.subcommands[i];
    let slot = container.first_slot + i;
    ctx.client.last_command = Some(slot);
    if !arity_ok(arity, args.len()) {
        arity_error(ctx.out, &format!("{}|{name}", container.name));
        reject(ctx, slot, mark);
        return None;
    }
    Some(slot)
}

/// A request refused before running, its error reply written since `mark`: counts a
/// rejected call of `slot` and the error; inside MULTI this also dooms the transaction, as
/// Redis's `flagTransaction` does.
#[cold]
fn reject(ctx: &mut Ctx, slot: usize, mark: usize) {
    if let Some(multi) = ctx.client.multi.as_mut() {
        multi.failed = true;
    }
    // Not a run, so no latency; the next command's starts here.
    ctx.shared.last_tick = crate::clock::ticks();
    count_error(ctx, mark);
    ctx.shared.stats.commands[slot].reject();
}

/// Records the call of a blocked client that was just served (its reply written since
/// `mark`), as Redis's updateStatsOnUnblock.
fn finish_served(ctx: &mut Ctx, blocked: &blocking::Blocked, mark: usize) {
    let failed = ctx.out.first_byte_since(mark) == Some(b'-');
    let ns = finish(ctx, blocked.slot, failed, mark) + blocked.ran_ns;
    slowlog::record_unblocked(ctx.shared, ctx.client, blocked, ns);
}

/// Records a finished run: one clock read, shared with the next command's start. Returns
/// how long it ran, in nanoseconds.
#[inline]
fn finish(ctx: &mut Ctx, slot: usize, failed: bool, mark: usize) -> u64 {
    let now = crate::clock::ticks();
    let ns = crate::clock::nanos_between(ctx.shared.last_tick, now);
    ctx.shared.last_tick = now;
    if ctx.shared.params.settings.latency_tracking {
        ctx.shared.stats.commands[slot].record_level(ns);
    }
    if failed {
        // A script's error that a command of the script already replied (and counted).
        if ctx.shared.error_counted {
            ctx.shared.error_counted = false;
            bump(&ctx.shared.stats.errors_counted_twice, 1);
        } else {
            count_error(ctx, mark);
        }
    }
    ctx.shared.stats.commands[slot].record(ns, failed);
    ns
}

/// Counts the error reply written at `mark` under its code (INFO errorstats).
#[cold]
fn count_error(ctx: &mut Ctx, mark: usize) {
    let code = error_code(ctx.out.since(mark));
    ctx.shared.stats.errors.record(code);
}

/// The code of an error reply (`-WRONGTYPE Operation ...` gives `WRONGTYPE`), as Redis's
/// `afterErrorReply` finds it: the bytes after the `-` up to a space within the reply's
/// first 32 bytes, or `ERR` when there is no such space.
pub fn error_code(reply: &[u8]) -> &[u8] {
    let head = &reply[..reply.len().min(32)];
    match head.iter().position(|&b| b == b' ') {
        Some(space) if head.first() == Some(&b'-') => &head[1..space],
        _ => b"ERR",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_consistent() {
        let t = table();
        assert!(t.len() > 40);
        for (id, c) in t.all().iter().enumerate() {
            assert_eq!(t.lookup(c.name.as_bytes()), Some(id));
            assert_eq!(t.lookup(c.name.to_ascii_uppercase().as_bytes()), Some(id));
            assert_eq!(c.name, c.name.to_ascii_lowercase());
            assert!(c.arity != 0, "{}", c.name);
        }
        assert_eq!(t.lookup(b"nosuchcommand"), None);
        assert_eq!(t.lookup(&[b'a'; 100]), None);
    }

    #[test]
    fn subcommand_slots_follow_the_commands() {
        let t = table();
        let config = t.lookup(b"config").unwrap();
        let slots: Vec<&str> = t
            .slots_in_info_order()
            .skip_while(|&s| s != config)
            .take(3)
            .map(|s| t.slot_name(s))
            .collect();
        assert_eq!(slots, ["config", "config|get", "config|set"]);
        assert_eq!(t.slots_in_info_order().count(), t.slots());
        assert!(t.slot_name(t.len()).contains('|'));
        let names = command_names();
        assert_eq!(names.len(), t.slots());
        assert!(names.iter().any(|n| n == "CLIENT|LIST"));
    }

    #[test]
    fn error_codes_as_redis_finds_them() {
        assert_eq!(
            error_code(b"-WRONGTYPE Operation against\r\n"),
            b"WRONGTYPE"
        );
        assert_eq!(error_code(b"-ERR unknown command\r\n"), b"ERR");
        assert_eq!(
            error_code(b"-NOAUTH Authentication required.\r\n"),
            b"NOAUTH"
        );
        // No space within the first 32 bytes: ERR.
        let long = format!("-{} x\r\n", "X".repeat(31));
        assert_eq!(error_code(long.as_bytes()), b"ERR");
        let fits = format!("-{} x\r\n", "X".repeat(30));
        assert_eq!(error_code(fits.as_bytes()), "X".repeat(30).as_bytes());
        assert_eq!(error_code(b"-ERR\r\n"), b"ERR");
    }

    #[test]
    fn arity_rules() {
        assert!(arity_ok(2, 2));
        assert!(!arity_ok(2, 3));
        assert!(arity_ok(-2, 2));
        assert!(arity_ok(-2, 5));
        assert!(!arity_ok(-2, 1));
    }
}
