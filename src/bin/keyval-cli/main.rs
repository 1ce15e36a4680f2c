//! `keyval-cli`: a redis-cli-like command line client for rust-keyval (or any Redis server).
//!
//! One-shot mode runs the command given on the command line and prints the reply as a script
//! wants it (`OK`, `1`, raw strings, `NULL`, one array element per line); an error reply goes to
//! stderr as `(error) ERR ...` with exit status 1. Without a command it starts the interactive
//! mode (see [`repl`]). `--scan`, `--bigkeys`, `--memkeys`, `--pipe`, `--latency`,
//! `--latency-history`, `--stat` and `--eval` are redis-cli's one-shot modes (see [`modes`]).
//!
//! This binary is a standalone RESP client: it talks to the server only over TCP and does not
//! use the server crate's code.

mod conn;
mod docs;
mod format;
mod interrupt;
mod modes;
mod oneshot;
mod repl;
mod reply;
mod split;
mod stream;
mod uri;

use std::ffi::OsString;
use std::io::{self, IsTerminal, Read};
use std::os::unix::ffi::OsStringExt;
use std::process::ExitCode;

use clap::parser::ValueSource;
use clap::{ArgAction, ArgMatches, CommandFactory, FromArgMatches, Parser};

use conn::{Connection, Target, describe};
use format::Style;
use modes::Output;

/// Command line client for rust-keyval, in the style of redis-cli.
///
/// With a command, runs it and prints the reply. Without one, starts an interactive session
/// (line editing, history, hints, `help`, `quit`).
#[derive(Parser, Debug)]
#[command(name = "keyval-cli", version, disable_help_flag = true)]
struct Cli {
    /// Server hostname.
    #[arg(short = 'h', long, default_value = "127.0.0.1")]
    host: String,
    /// Server port.
    #[arg(short = 'p', long, default_value_t = 6374)]
    port: u16,
    /// Password to AUTH with after connecting (or set KEYVALCLI_AUTH to keep it out of `ps`).
    #[arg(
        short = 'a',
        long = "pass",
        visible_alias = "password",
        env = "KEYVALCLI_AUTH",
        hide_env_values = true
    )]
    password: Option<String>,
    /// Username for AUTH (with -a).
    #[arg(long)]
    user: Option<String>,
    /// Server URI: redis://[[user]:password@]host[:port][/db]. Flags given after it win.
    #[arg(short = 'u', value_name = "URI")]
    uri: Option<String>,
    /// Database number to SELECT after connecting.
    #[arg(short = 'n', long = "db", default_value_t = 0)]
    db: i64,
    /// Use RESP2 (the default; HELLO is not sent).
    #[arg(short = '2', conflicts_with = "resp3")]
    resp2: bool,
    /// Switch to RESP3 (HELLO 3) after connecting.
    #[arg(short = '3')]
    resp3: bool,
    /// Read the last argument of the command from stdin.
    #[arg(short = 'x')]
    stdin_arg: bool,
    /// Run the command COUNT times (-1: forever).
    #[arg(
        short = 'r',
        value_name = "COUNT",
        default_value_t = 1,
        allow_negative_numbers = true
    )]
    repeat: i64,
    /// With -r, wait SECONDS between runs (decimals allowed, e.g. 0.1); the pace of --scan,
    /// --bigkeys, --stat and --latency too.
    #[arg(short = 'i', value_name = "SECONDS", default_value_t = 0.0)]
    interval: f64,
    /// Print replies plainly (as in one-shot mode) even in an interactive terminal session.
    #[arg(long, conflicts_with_all = ["no_raw", "csv"])]
    raw: bool,
    /// Print replies redis-cli style (`(integer) 1`, `"quoted"`) even when not on a terminal.
    #[arg(long, conflicts_with = "csv")]
    no_raw: bool,
    /// Print replies as CSV, as redis-cli --csv does.
    #[arg(long)]
    csv: bool,
    /// Show RESP3 push messages (y) or not (n); default: y on a terminal.
    #[arg(long, value_name = "yn")]
    show_pushes: Option<String>,
    /// List every key with SCAN (see --pattern).
    #[arg(long)]
    scan: bool,
    /// With --scan, only keys matching this glob pattern.
    #[arg(long, value_name = "PATTERN")]
    pattern: Option<String>,
    /// Find the biggest key of each type (by length).
    #[arg(long)]
    bigkeys: bool,
    /// Find the biggest key of each type (by MEMORY USAGE).
    #[arg(long)]
    memkeys: bool,
    /// --memkeys, with MEMORY USAGE ... SAMPLES N.
    #[arg(long, value_name = "N")]
    memkeys_samples: Option<u64>,
    /// Measure the round trip of PING continuously.
    #[arg(long)]
    latency: bool,
    /// Like --latency, starting a new line every 15 seconds (or -i).
    #[arg(long)]
    latency_history: bool,
    /// Print a line of server figures (keys, memory, clients, requests) every second.
    #[arg(long)]
    stat: bool,
    /// Mass insertion: send stdin (raw protocol) to the server and count the replies.
    #[arg(long)]
    pipe: bool,
    /// With --pipe, give up after this many seconds without a reply (0: wait forever).
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    pipe_timeout: u64,
    /// Run the Lua script in FILE: keyval-cli --eval FILE key1 key2 , arg1 arg2
    #[arg(long, value_name = "FILE")]
    eval: Option<String>,
    /// Print help.
    #[arg(long, action = ArgAction::Help)]
    help: Option<bool>,
    /// The command and its arguments; none starts an interactive session.
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "COMMAND"
    )]
    command: Vec<OsString>,
}

impl Cli {
    /// The connection settings: the flags, with `-u`'s parts where the URI came after them
    /// (redis-cli applies its options in order, so the later one wins).
    fn target(&self, matches: &ArgMatches) -> Result<Target, String> {
        let mut target = Target {
            host: self.host.clone(),
            port: self.port,
            user: self.user.clone(),
            password: self.password.clone(),
            db: self.db,
            resp3: self.resp3,
        };
        let Some(uri) = &self.uri else {
            return Ok(target);
        };
        let parts = uri::parse(uri)?;
        let uri_at = matches.index_of("uri").unwrap_or(0);
        let uri_wins = |id: &str| {
            matches.value_source(id) != Some(ValueSource::CommandLine)
                || matches.index_of(id).is_some_and(|at| at < uri_at)
        };
        if let Some(host) = parts.host.filter(|_| uri_wins("host")) {
            target.host = host;
        }
        if let Some(port) = parts.port.filter(|_| uri_wins("port")) {
            target.port = port;
        }
        if let Some(user) = parts.user.filter(|_| uri_wins("user")) {
            target.user = Some(user);
        }
        if let Some(password) = parts.password.filter(|_| uri_wins("password")) {
            target.password = Some(password);
        }
        if let Some(db) = parts.db.filter(|_| uri_wins("db")) {
            target.db = db;
        }
        Ok(target)
    }

    /// redis-cli's output setting for the modes: flags first, else terminal or not.
    fn output(&self) -> Output {
        if self.csv {
            Output::Csv
        } else if self.raw {
            Output::Raw
        } else if self.no_raw || io::stdout().is_terminal() {
            Output::Standard
        } else {
            Output::Raw
        }
    }
}

fn main() -> ExitCode {
    let matches = Cli::command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    if !cli.interval.is_finite() || cli.interval < 0.0 {
        eprintln!("Invalid -i interval: {}", cli.interval);
        return ExitCode::FAILURE;
    }
    let target = match cli.target(&matches) {
        Ok(target) => target,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::FAILURE;
        }
    };
    let show_pushes = match cli.show_pushes.as_deref().map(str::to_ascii_lowercase) {
        None => io::stdout().is_terminal(),
        Some(v) if v.starts_with('y') => true,
        Some(v) if v.starts_with('n') => false,
        Some(v) => {
            eprintln!("Unknown --show-pushes value '{v}' (valid: '[y]es', '[n]o')");
            return ExitCode::FAILURE;
        }
    };
    let output = cli.output();

    if let Some(code) = run_mode(&cli, &target, output) {
        return code;
    }

    let mut args: Vec<Vec<u8>> = cli
        .command
        .iter()
        .cloned()
        .map(OsString::into_vec)
        .collect();
    if let Some(file) = &cli.eval {
        args = match oneshot::eval_command(file, &args) {
            Ok(command) => command,
            Err(message) => {
                eprintln!("{message}");
                return ExitCode::FAILURE;
            }
        };
    }

    if args.is_empty() {
        if cli.stdin_arg {
            eprintln!("-x needs a command, e.g. keyval-cli -x SET key < file");
            return ExitCode::FAILURE;
        }
        // Like redis-cli: pretty on a terminal, plain when the output goes to a pipe or file.
        let style = match output {
            Output::Csv => Style::Csv,
            Output::Standard => Style::Pretty,
            Output::Raw => Style::Plain,
        };
        return repl::run(target, style, show_pushes.then_some(style));
    }

    if cli.stdin_arg {
        let mut data = Vec::new();
        if let Err(e) = io::stdin().lock().read_to_end(&mut data) {
            eprintln!("Error reading stdin: {}", describe(&e));
            return ExitCode::FAILURE;
        }
        args.push(data);
    }
    // One-shot replies are plain even on a terminal (the original README's outputs), unless
    // --no-raw or --csv asks otherwise.
    let style = if cli.csv {
        Style::Csv
    } else if cli.no_raw {
        Style::Pretty
    } else {
        Style::Plain
    };
    let repeat = oneshot::Repeat {
        count: cli.repeat,
        interval: cli.interval,
    };
    oneshot::run(&target, &expand_shortcuts(args), repeat, style)
}

/// Runs the one-shot mode the flags ask for, if any, in redis-cli's order of precedence.
fn run_mode(cli: &Cli, target: &Target, output: Output) -> Option<ExitCode> {
    let memkeys = cli.memkeys || cli.memkeys_samples.is_some();
    let wanted = cli.latency
        || cli.latency_history
        || cli.pipe
        || cli.bigkeys
        || memkeys
        || cli.stat
        || cli.scan;
    if !wanted {
        return None;
    }
    let mut conn = match Connection::open(target) {
        Ok(conn) => conn,
        Err(message) => {
            eprintln!("{message}");
            return Some(ExitCode::FAILURE);
        }
    };
    let result = if cli.latency || cli.latency_history {
        modes::latency::run(&mut conn, cli.latency_history, cli.interval, output)
    } else if cli.pipe {
        match modes::pipe::run(&mut conn, cli.pipe_timeout) {
            Ok(true) => Ok(()),
            Ok(false) => return Some(ExitCode::FAILURE),
            Err(message) => Err(message),
        }
    } else if cli.bigkeys {
        modes::bigkeys::run(&mut conn, false, 0, cli.interval, output)
    } else if memkeys {
        let samples = cli.memkeys_samples.unwrap_or(0);
        modes::bigkeys::run(&mut conn, true, samples, cli.interval, output)
    } else if cli.stat {
        modes::stat::run(&mut conn, cli.interval, output)
    } else {
        let pattern = cli.pattern.as_deref().map(str::as_bytes);
        modes::scan::run(&mut conn, pattern, cli.interval, output)
    };
    Some(match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    })
}

/// Bare `KEYS` means `KEYS *`: the original README's session lists all keys with a bare
/// `KEYS`, while Redis servers require a pattern.
pub fn expand_shortcuts(mut args: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    if args.len() == 1 && args[0].eq_ignore_ascii_case(b"keys") {
        args.push(b"*".to_vec());
    }
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_keys_lists_everything() {
        assert_eq!(
            expand_shortcuts(vec![b"keys".to_vec()]),
            vec![b"keys".to_vec(), b"*".to_vec()]
        );
        let with_pattern = vec![b"KEYS".to_vec(), b"a*".to_vec()];
        assert_eq!(expand_shortcuts(with_pattern.clone()), with_pattern);
        assert_eq!(
            expand_shortcuts(vec![b"GET".to_vec()]),
            vec![b"GET".to_vec()]
        );
    }

    #[test]
    fn command_line_parses_like_redis_cli() {
        let cli = Cli::try_parse_from([
            "keyval-cli",
            "-h",
            "localhost",
            "-p",
            "7000",
            "-n",
            "2",
            "-r",
            "-1",
            "-i",
            "0.5",
            "SET",
            "k",
            "-5",
        ])
        .unwrap();
        assert_eq!(cli.host, "localhost");
        assert_eq!(cli.port, 7000);
        assert_eq!(cli.db, 2);
        assert_eq!(cli.repeat, -1);
        assert_eq!(cli.interval, 0.5);
        assert_eq!(cli.command, ["SET", "k", "-5"]);

        let cli =
            Cli::try_parse_from(["keyval-cli", "--host", "h", "--port", "1", "GET", "a"]).unwrap();
        assert_eq!((cli.host.as_str(), cli.port), ("h", 1));
        assert!(Cli::try_parse_from(["keyval-cli", "--raw", "--no-raw"]).is_err());
        assert!(Cli::try_parse_from(["keyval-cli", "--csv", "--raw"]).is_err());
        assert!(Cli::try_parse_from(["keyval-cli", "-2", "-3"]).is_err());
    }

    fn target_of(args: &[&str]) -> Result<Target, String> {
        let matches = Cli::command().try_get_matches_from(args).unwrap();
        Cli::from_arg_matches(&matches).unwrap().target(&matches)
    }

    #[test]
    fn uri_and_flags_the_later_wins() {
        let t = target_of(&["keyval-cli", "-u", "redis://me:pw@h:7001/4"]).unwrap();
        assert_eq!(
            (
                t.host.as_str(),
                t.port,
                t.user.as_deref(),
                t.password.as_deref(),
                t.db
            ),
            ("h", 7001, Some("me"), Some("pw"), 4)
        );
        let t = target_of(&["keyval-cli", "-p", "1", "-u", "redis://h:2", "-n", "9"]).unwrap();
        assert_eq!((t.port, t.db), (2, 9));
        let t = target_of(&["keyval-cli", "-u", "redis://h:2", "-p", "3"]).unwrap();
        assert_eq!((t.host.as_str(), t.port), ("h", 3));
        assert_eq!(
            target_of(&["keyval-cli", "-u", "http://h"]).unwrap_err(),
            "Invalid URI scheme"
        );
    }
}
