//! Redis's configuration file (`redis.conf`): one `directive arg ...` per line, quoted as
//! Redis's `sdssplitargs` quotes, `include` of other files (glob patterns too), the later
//! line winning. Every directive is applied to [`Params`] as it is read, through the
//! validation CONFIG SET uses, so a bad value stops the start with Redis's text
//! (config.c's `loadServerConfigFromString`).
//!
//! Names Redis 7.0 knows but that configure something this server does not have are
//! accepted and stored (CONFIG GET shows them), with one warning per name. A few of them
//! change who may run what, or turn the server into something else (ACL users, modules,
//! replication, sentinel): ignoring those would leave the server more open or different
//! from what the file asks for, so they stop the start instead. A name Redis itself does
//! not know stops the start with Redis's error. `rename-command` is checked here as Redis
//! checks it, line by line, and applied to the command table before the server starts.

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};

use super::params::{Params, flags::MULTI_ARG};

/// The Redis version the error banner names (the one this server answers as).
const REDIS_VERSION: &str = "7.0.15";

/// Deepest `include` nesting accepted (Redis has no limit: a loop there recurses until it
/// crashes).
const MAX_INCLUDE_DEPTH: usize = 16;

/// Parameters whose value takes effect here. Every other parameter of Redis's table is
/// stored and shown but changes nothing, so a file setting one gets a warning.
const EFFECTIVE: &[&str] = &[
    "bind",
    "port",
    "databases",
    "timeout",
    "maxclients",
    "requirepass",
    "protected-mode",
    "proto-max-bulk-len",
    "client-query-buffer-limit",
    "client-output-buffer-limit",
    "loglevel",
    "logfile",
    "daemonize",
    "pidfile",
    "supervised",
    "hz",
    "tcp-keepalive",
    "latency-tracking",
    "latency-tracking-info-percentiles",
    "notify-keyspace-events",
    "lazyfree-lazy-eviction",
    "lazyfree-lazy-expire",
    "lazyfree-lazy-server-del",
    "lazyfree-lazy-user-del",
    "lazyfree-lazy-user-flush",
    "dir",
    "dbfilename",
    "save",
    "rdbcompression",
    "rdbchecksum",
    "stop-writes-on-bgsave-error",
    "appendonly",
    "appendfsync",
    "appenddirname",
    "appendfilename",
    "aof-load-truncated",
    "aof-use-rdb-preamble",
    "min-replicas-to-write",
    "min-replicas-max-lag",
    "auto-aof-rewrite-percentage",
    "auto-aof-rewrite-min-size",
    "maxmemory",
    "maxmemory-policy",
    "maxmemory-samples",
    "maxmemory-eviction-tenacity",
    "lfu-log-factor",
    "lfu-decay-time",
    "hash-max-listpack-entries",
    "hash-max-listpack-value",
    "list-max-listpack-size",
    "set-max-intset-entries",
    "zset-max-listpack-entries",
    "zset-max-listpack-value",
    "hll-sparse-max-bytes",
    "stream-node-max-bytes",
    "stream-node-max-entries",
    "tracking-table-max-keys",
    "busy-reply-threshold",
    "slowlog-log-slower-than",
    "slowlog-max-len",
    "latency-monitor-threshold",
    "enable-debug-command",
    "enable-protected-configs",
];

/// Directives Redis 7.0 still accepts and ignores (config.c's `deprecated_configs`), with
/// the one argument each takes.
const DEPRECATED: &[&str] = &[
    "list-max-ziplist-entries",
    "list-max-ziplist-value",
    "lua-replicate-commands",
];

/// Most databases this server allocates (its `--databases` bound; Redis allows INT_MAX).
const MAX_DATABASES: i64 = 1_000_000;

/// A configuration error that stops the start, printed as Redis prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FatalError {
    /// The file being read.
    pub file: PathBuf,
    /// The line number and its text (trimmed), when the error is about a line.
    pub line: Option<(usize, String)>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for FatalError {
    /// Redis's banner, line and message, then the file (Redis does not name it).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f)?;
        writeln!(f, "*** FATAL CONFIG FILE ERROR (Redis {REDIS_VERSION}) ***")?;
        if let Some((n, text)) = &self.line {
            writeln!(f, "Reading the configuration file, at line {n}")?;
            writeln!(f, ">>> '{text}'")?;
        }
        writeln!(f, "{}", self.message)?;
        writeln!(f, "(in {})", self.file.display())
    }
}

/// What reading a file found besides the values themselves.
#[derive(Debug, Default, Clone)]
pub struct Loaded {
    /// One line per unsupported directive name (its first occurrence), to be logged.
    pub warnings: Vec<String>,
    /// The file set `bind` or `port`: the listening address comes from the file.
    pub sets_listener: bool,
    /// `rename-command` lines in order: (command, new name), lower case; an empty new name
    /// removes the command.
    pub renames: Vec<(String, String)>,
}

/// What [`FatalError::file`] names for an error in Redis-style command-line options.
pub const OPTIONS: &str = "the command line options";

/// Reads the configuration file `path` (and what it includes) into `params`.
pub fn load(path: &Path, params: &mut Params) -> Result<Loaded, FatalError> {
    load_with_options(Some(path), &[], params)
}

/// Reads the configuration file `path` (if any), then Redis-style command-line options
/// (`--port 7000` is the directive `port 7000`), which Redis treats as lines appended to
/// the file.
pub fn load_with_options(
    path: Option<&Path>,
    options: &[Vec<Vec<u8>>],
    params: &mut Params,
) -> Result<Loaded, FatalError> {
    let mut loader = Loader {
        params,
        loaded: Loaded::default(),
        warned: HashSet::new(),
        save_seen: false,
        open: Vec::new(),
        command_names: None,
    };
    if let Some(path) = path {
        loader.load_path(path)?;
    }
    let from = Path::new(OPTIONS);
    for (i, option) in options.iter().enumerate() {
        let at_line = |message: String| FatalError {
            file: from.to_path_buf(),
            line: Some((
                i + 1,
                String::from_utf8_lossy(&option.join(&b' ')).into_owned(),
            )),
            message,
        };
        let Some((name, args)) = option.split_first() else {
            continue;
        };
        let name = String::from_utf8_lossy(name).to_ascii_lowercase();
        let args: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
        loader
            .directive(&name, &args, from, i + 1)
            .map_err(|e| match e {
                Failure::Line(message) => at_line(message),
                Failure::Include(inner) => inner,
            })?;
    }
    loader.finish(path.unwrap_or(from))?;
    Ok(loader.loaded)
}

struct Loader<'a> {
    params: &'a mut Params,
    loaded: Loaded,
    /// Unsupported names already warned about.
    warned: HashSet<&'static str>,
    /// A `save` line was read: the next ones add save points instead of replacing them,
    /// as Redis reads several `save` lines.
    save_seen: bool,
    /// Files being read (include chain), for the loop guard.
    open: Vec<PathBuf>,
    /// The command names as the renames so far leave them (None until the first rename).
    command_names: Option<HashSet<String>>,
}

impl Loader<'_> {
    /// Reads a file, or every file a glob pattern matches (none is fine, as in Redis, so
    /// an empty `conf.d` can be included).
    fn load_path(&mut self, path: &Path) -> Result<(), FatalError> {
        let text = path.to_string_lossy();
        if text.contains(['*', '?', '[']) {
            for matched in glob(&text) {
                self.load_one(&matched)?;
            }
            return Ok(());
        }
        self.load_one(path)
    }

    fn load_one(&mut self, path: &Path) -> Result<(), FatalError> {
        let fatal = |message: String| FatalError {
            file: path.to_path_buf(),
            line: None,
            message,
        };
        let key = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        if self.open.contains(&key) {
            return Err(fatal(format!(
                "include loop: '{}' includes itself",
                path.display()
            )));
        }
        if self.open.len() >= MAX_INCLUDE_DEPTH {
            return Err(fatal(format!(
                "includes nested deeper than {MAX_INCLUDE_DEPTH} files"
            )));
        }
        let bytes = std::fs::read(path).map_err(|e| {
            fatal(format!(
                "Fatal error, can't open config file '{}': {}",
                path.display(),
                crate::util::os_error_text(&e)
            ))
        })?;
        self.open.push(key);
        let result = self.load_text(&bytes, path);
        self.open.pop();
        result
    }

    fn load_text(&mut self, text: &[u8], file: &Path) -> Result<(), FatalError> {
        for (i, raw) in text.split(|&c| c == b'\n').enumerate() {
            let line = trim(raw);
            if line.is_empty() || line[0] == b'#' {
                continue;
            }
            let at_line = |message: String| FatalError {
                file: file.to_path_buf(),
                line: Some((i + 1, String::from_utf8_lossy(line).into_owned())),
                message,
            };
            let Some(args) = crate::resp::split_line(line) else {
                return Err(at_line("Unbalanced quotes in configuration line".into()));
            };
            if args.is_empty() {
                continue;
            }
            let name = String::from_utf8_lossy(&args[0]).to_ascii_lowercase();
            let rest: Vec<&[u8]> = args[1..].iter().map(Vec::as_slice).collect();
            self.directive(&name, &rest, file, i + 1)
                .map_err(|e| match e {
                    Failure::Line(message) => at_line(message),
                    Failure::Include(inner) => inner,
                })?;
        }
        Ok(())
    }

    fn directive(
        &mut self,
        name: &str,
        args: &[&[u8]],
        file: &Path,
        line: usize,
    ) -> Result<(), Failure> {
        if let Some((id, param)) = Params::find(name.as_bytes()) {
            let multi = param.flags & MULTI_ARG != 0;
            if !multi && args.len() != 1 {
                return Err(Failure::Line("wrong number of arguments".into()));
            }
            // A multi-argument value given as one quoted argument is split again (so
            // `save "3600 1 300 100"` works), unless it is empty (`save ""`).
            let resplit;
            let args: Vec<&[u8]> = if multi && args.len() == 1 && !args[0].is_empty() {
                resplit = crate::resp::split_line(args[0])
                    .ok_or("Unbalanced quotes in configuration line")?;
                resplit.iter().map(Vec::as_slice).collect()
            } else {
                args.to_vec()
            };
            self.set(id, param.name, &args)?;
            if matches!(param.name, "bind" | "port") {
                self.loaded.sets_listener = true;
            }
            if !EFFECTIVE.contains(&param.name) && self.warned.insert(param.name) {
                self.loaded.warnings.push(format!(
                    "{}:{line}: '{}' is a Redis directive rust-keyval does not support yet: \
                     its value is kept (CONFIG GET shows it) but has no effect",
                    file.display(),
                    param.name
                ));
            }
            return Ok(());
        }
        if DEPRECATED.contains(&name) && args.len() == 1 {
            return Ok(());
        }
        let refuse = |what: &str| Err(Failure::Line(format!("{what} (rust-keyval)")));
        match name {
            "include" if args.len() == 1 => {
                let target = PathBuf::from(String::from_utf8_lossy(args[0]).into_owned());
                self.load_path(&target).map_err(Failure::Include)
            }
            "rename-command" if args.len() == 2 => self.rename_command(args[0], args[1]),
            "user" if !args.is_empty() => {
                refuse("ACL users are not supported: use requirepass for a password")
            }
            "loadmodule" if !args.is_empty() => refuse("modules are not supported"),
            _ if name.contains('.') => {
                if args.is_empty() {
                    Err(Failure::Line(
                        "Module config specified without value".into(),
                    ))
                } else {
                    refuse("module configs are not supported (there are no modules)")
                }
            }
            "sentinel" => refuse("sentinel mode is not supported"),
            _ => Err(Failure::Line(
                "Bad directive or wrong number of arguments".into(),
            )),
        }
    }

    /// `rename-command NAME NEW-NAME` as Redis's config loader takes it: the command must
    /// exist as the earlier renames left the table, the new name must not; an empty new
    /// name removes the command.
    fn rename_command(&mut self, from: &[u8], to: &[u8]) -> Result<(), Failure> {
        let names = self.command_names.get_or_insert_with(|| {
            crate::cmd::base_command_names()
                .into_iter()
                .map(String::from)
                .collect()
        });
        let from = String::from_utf8_lossy(from).to_ascii_lowercase();
        let to = String::from_utf8_lossy(to).to_ascii_lowercase();
        if !names.remove(&from) {
            return Err(Failure::Line("No such command in rename-command".into()));
        }
        if !to.is_empty() && !names.insert(to.clone()) {
            return Err(Failure::Line("Target command name already exists".into()));
        }
        self.loaded.renames.push((from, to));
        Ok(())
    }

    /// Applies one parameter line.
    fn set(&mut self, id: usize, name: &'static str, args: &[&[u8]]) -> Result<(), Failure> {
        match name {
            "replicaof" => {
                return Err(Failure::Line(
                    "replication is not supported: this server cannot be a replica (rust-keyval)"
                        .into(),
                ));
            }
            "aclfile" if args.first().is_some_and(|a| !a.is_empty()) => {
                return Err(Failure::Line(
                    "ACL files are not supported: use requirepass for a password (rust-keyval)"
                        .into(),
                ));
            }
            "databases" => {
                let n = crate::resp::parse_i64(args[0]).unwrap_or(0);
                if n > MAX_DATABASES {
                    return Err(Failure::Line(format!(
                        "argument must be between 1 and {MAX_DATABASES} inclusive (rust-keyval's limit)"
                    )));
                }
            }
            "save" => {
                // The first `save` line replaces the default points, later ones add
                // theirs; `save ""` clears them (Redis's reading_config_file rule).
                let first = !std::mem::replace(&mut self.save_seen, true);
                let clear = args.len() == 1 && args[0].is_empty();
                if !first && !clear {
                    let current = self.params.get("save").unwrap_or_default();
                    let mut all: Vec<Vec<u8>> =
                        crate::resp::split_line(&current).unwrap_or_default();
                    all.extend(args.iter().map(|a| a.to_vec()));
                    let all: Vec<&[u8]> = all.iter().map(Vec::as_slice).collect();
                    // Check the new points alone first, so the error is about this line.
                    let mut check = Params::new();
                    check.set_from_file(id, args).map_err(Failure::Line)?;
                    return self.params.set_from_file(id, &all).map_err(Failure::Line);
                }
            }
            _ => {}
        }
        self.params.set_from_file(id, args).map_err(Failure::Line)
    }

    /// Checks made once the whole file is read, as Redis makes them.
    fn finish(&mut self, path: &Path) -> Result<(), FatalError> {
        let fatal = |message: String| FatalError {
            file: path.to_path_buf(),
            line: None,
            message,
        };
        let logfile = self.params.get("logfile").unwrap_or_default();
        if !logfile.is_empty() {
            let logfile = PathBuf::from(String::from_utf8_lossy(&logfile).into_owned());
            if let Err(e) = std::fs::OpenOptions::new()
                .append(true)
                .create(true)
                .open(&logfile)
            {
                return Err(fatal(format!(
                    "Can't open the log file: {}",
                    crate::util::os_error_text(&e)
                )));
            }
        }
        // Out-of-range hz values are clamped once the file is read (Redis keeps older
        // files working that way).
        let hz = self
            .params
            .get("hz")
            .and_then(|v| crate::resp::parse_i64(&v))
            .unwrap_or(10);
        if !(1..=500).contains(&hz) {
            let clamped = hz.clamp(1, 500).to_string();
            self.params
                .set_startup("hz", clamped.as_bytes())
                .map_err(fatal)?;
        }
        Ok(())
    }
}

/// Why a directive failed: about its own line, or inside a file it included (already
/// located there).
enum Failure {
    Line(String),
    Include(FatalError),
}

impl From<&str> for Failure {
    fn from(s: &str) -> Failure {
        Failure::Line(s.into())
    }
}

/// Redis's `sdstrim(line, " \t\r\n")` (CONFIG REWRITE reads lines the same way).
pub(super) fn trim(mut s: &[u8]) -> &[u8] {
    let blank = |c: &u8| matches!(c, b' ' | b'\t' | b'\r' | b'\n');
    while s.first().is_some_and(blank) {
        s = &s[1..];
    }
    while s.last().is_some_and(blank) {
        s = &s[..s.len() - 1];
    }
    s
}

/// The files a glob pattern matches, sorted, as glob(3) returns them.
fn glob(pattern: &str) -> Vec<PathBuf> {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c_pattern) = std::ffi::CString::new(pattern) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    // SAFETY: glob_t is plain data that glob(3) fills; it is read only after success and
    // freed with globfree.
    unsafe {
        let mut g: libc::glob_t = std::mem::zeroed();
        if libc::glob(c_pattern.as_ptr(), 0, None, &mut g) == 0 {
            for i in 0..g.gl_pathc {
                let p = *g.gl_pathv.add(i);
                let bytes = std::ffi::CStr::from_ptr(p).to_bytes();
                found.push(PathBuf::from(std::ffi::OsStr::from_bytes(bytes)));
            }
        }
        libc::globfree(&mut g);
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes `files` (name, text) into a fresh directory and loads the first one.
    fn load_files(files: &[(&str, &str)]) -> (Result<Loaded, FatalError>, Params, PathBuf) {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("keyval-conf-unit-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for (name, text) in files {
            let text = text.replace("$DIR", &dir.display().to_string());
            std::fs::write(dir.join(name), text).unwrap();
        }
        let mut params = Params::new();
        let r = load(&dir.join(files[0].0), &mut params);
        (r, params, dir)
    }

    fn get(p: &Params, name: &str) -> String {
        String::from_utf8(p.get(name).unwrap()).unwrap()
    }

    fn error_of(text: &str) -> String {
        let (r, _, dir) = load_files(&[("a.conf", text)]);
        let e = r.unwrap_err();
        assert_eq!(e.file, dir.join("a.conf"));
        e.to_string()
    }

    #[test]
    fn directives_quoting_and_later_wins() {
        let (r, p, _) = load_files(&[(
            "a.conf",
            "# comment\n\n   \ntimeout 5\r\n  MAXCLIENTS   77  \nrequirepass \"a b\\x41\\n\"\n\
             timeout 9\nnotify-keyspace-events 'Kx' \nsave 60 1\nsave \"30 2\"\n",
        )]);
        let loaded = r.unwrap();
        assert_eq!(get(&p, "timeout"), "9");
        assert_eq!(get(&p, "maxclients"), "77");
        assert_eq!(p.get("requirepass").unwrap(), b"a bA\n");
        assert_eq!(get(&p, "save"), "60 1 30 2");
        assert_eq!(get(&p, "notify-keyspace-events"), "xK");
        assert!(loaded.warnings.is_empty());
        assert!(!loaded.sets_listener);
        // `'K\'E'` is K'E: a quote is not an event class.
        assert!(
            error_of("notify-keyspace-events 'K\\'E'\n")
                .contains("\nInvalid event class character. Use 'Ag$lshzxeKEtmdn'.\n")
        );
    }

    #[test]
    fn save_lines_accumulate_and_empty_clears() {
        let (r, p, _) = load_files(&[("a.conf", "save 900 1\nsave 300 10\nsave \"\"\n")]);
        r.unwrap();
        assert_eq!(get(&p, "save"), "");
        let (r, p, _) = load_files(&[("a.conf", "save \"\"\nsave 10 1\n")]);
        r.unwrap();
        assert_eq!(get(&p, "save"), "10 1");
    }

    #[test]
    fn errors_name_file_line_and_text_as_redis() {
        let (r, _, dir) = load_files(&[("a.conf", "port 7000\nbogus-directive 1 2\n")]);
        assert_eq!(
            r.unwrap_err().to_string(),
            format!(
                "\n*** FATAL CONFIG FILE ERROR (Redis 7.0.15) ***\n\
                 Reading the configuration file, at line 2\n\
                 >>> 'bogus-directive 1 2'\n\
                 Bad directive or wrong number of arguments\n(in {})\n",
                dir.join("a.conf").display()
            )
        );
        let e = error_of("\n\n  timeout \"5\n");
        assert!(
            e.contains("at line 3\n>>> 'timeout \"5'\nUnbalanced quotes in configuration line\n")
        );
        let e = error_of("timeout 1 2\n");
        assert!(e.contains(">>> 'timeout 1 2'\nwrong number of arguments\n"));
        let e = error_of("maxclients 0\n");
        assert!(e.contains("argument must be between 1 and 4294967295 inclusive\n"));
        let e = error_of("protected-mode maybe\n");
        assert!(e.contains("argument must be 'yes' or 'no'\n"));
        let e = error_of("maxmemory-policy lots\n");
        assert!(e.contains("argument(s) must be one of the following: volatile-lru,"));
        let e = error_of("save 0 1\n");
        assert!(e.contains("Invalid save parameters\n"));
        let e = error_of("timeout \"5\"x\n");
        assert!(e.contains("Unbalanced quotes"));
        let e = error_of("include\n");
        assert!(e.contains("Bad directive or wrong number of arguments"));
        let e = error_of("rename-command NOSUCH x\n");
        assert!(e.contains("No such command in rename-command\n"));
        let e = error_of("rename-command config|get x\n");
        assert!(e.contains("No such command in rename-command\n"));
        let e = error_of("rename-command get SET\n");
        assert!(e.contains("Target command name already exists\n"));
        let e = error_of("rename-command get \"\"\nrename-command get x\n");
        assert!(e.contains(">>> 'rename-command get x'\nNo such command"));
        let e = error_of("replicaof 10.0.0.1 6379\n");
        assert!(e.contains("replication is not supported"));
        let e = error_of("mymodule.option\n");
        assert!(e.contains("Module config specified without value"));
        let e = error_of("logfile /nonexistent-dir/x.log\n");
        assert!(e.contains("\nCan't open the log file: No such file or directory\n"));
        assert!(!e.contains("Reading the configuration file"));
    }

    #[test]
    fn include_reads_in_place_and_globs() {
        let (r, p, _) = load_files(&[
            (
                "main.conf",
                "timeout 1\ninclude $DIR/inc.conf\nmaxclients 5\ninclude $DIR/d/*.conf\n",
            ),
            ("inc.conf", "timeout 2\nmaxclients 6\n"),
        ]);
        r.unwrap();
        assert_eq!(get(&p, "timeout"), "2");
        assert_eq!(get(&p, "maxclients"), "5");
        // An error inside an included file names that file and its line.
        let (r, _, dir) = load_files(&[
            ("main.conf", "timeout 1\ninclude $DIR/bad.conf\n"),
            ("bad.conf", "\nnope 1\n"),
        ]);
        let e = r.unwrap_err();
        assert_eq!(e.file, dir.join("bad.conf"));
        assert_eq!(e.line, Some((2, "nope 1".into())));
        // A file including itself is stopped, not followed forever.
        let (r, _, _) = load_files(&[("main.conf", "include $DIR/main.conf\n")]);
        assert!(r.unwrap_err().message.contains("include loop"));
        // A missing file (no pattern) is an error, as in Redis.
        let (r, _, _) = load_files(&[("main.conf", "include $DIR/missing.conf\n")]);
        assert!(r.unwrap_err().message.contains("can't open config file"));
    }

    #[test]
    fn unsupported_directives_warn_once_and_are_stored() {
        let (r, p, _) = load_files(&[(
            "a.conf",
            "tcp-backlog 100\ntcp-backlog 200\nslave-read-only no\nlist-max-ziplist-entries 5\nport 7001\n",
        )]);
        let loaded = r.unwrap();
        assert_eq!(loaded.warnings.len(), 2, "{:?}", loaded.warnings);
        assert!(loaded.warnings[0].contains(":1: 'tcp-backlog'"));
        assert!(loaded.warnings[1].contains(":3: 'replica-read-only'"));
        assert_eq!(get(&p, "tcp-backlog"), "200");
        assert_eq!(get(&p, "replica-read-only"), "no");
        assert!(loaded.sets_listener);
    }

    #[test]
    fn the_stock_redis_conf_loads() {
        let Ok(stock) = std::fs::read_to_string("/etc/redis/redis.conf") else {
            eprintln!("SKIPPED: no /etc/redis/redis.conf");
            return;
        };
        let edited: String = stock
            .lines()
            .map(|l| {
                if l.starts_with("logfile ") {
                    "logfile \"\"".to_string()
                } else if l.starts_with("dir ") {
                    // The directory is changed to at once, as Redis does: stay here.
                    "dir .".to_string()
                } else {
                    l.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        let (r, p, _) = load_files(&[("redis.conf", &edited)]);
        let loaded = r.unwrap();
        assert_eq!(get(&p, "bind"), "127.0.0.1 -::1");
        assert_eq!(get(&p, "port"), "6379");
        assert_eq!(get(&p, "daemonize"), "yes");
        // Its save lines are comments: the points stay the ones set before the file.
        assert_eq!(get(&p, "save"), "");
        assert_eq!(
            get(&p, "client-output-buffer-limit"),
            "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60"
        );
        let warned: Vec<&str> = loaded
            .warnings
            .iter()
            .map(|w| w.split('\'').nth(1).unwrap())
            .collect();
        assert!(warned.contains(&"tcp-backlog"));
        assert!(warned.contains(&"repl-diskless-sync"));
        assert!(!warned.contains(&"maxclients"));
        assert!(!warned.contains(&"save"));
        let mut unique = warned.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), warned.len());
    }
}
