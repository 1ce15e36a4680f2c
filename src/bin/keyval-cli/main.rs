//! `keyval-cli`: a redis-cli-like command line client for rust-keyval (or any RESP2 server).
//!
//! One-shot mode runs the command given on the command line and prints the reply as a script
//! wants it (`OK`, `1`, raw strings, `NULL`, one array element per line); an error reply goes to
//! stderr as `(error) ERR ...` with exit status 1. Without a command it starts the interactive
//! mode (see [`repl`]).
//!
//! This binary is a standalone RESP client: it talks to the server only over TCP and does not
//! use the server crate's code.

mod conn;
mod format;
mod repl;
mod reply;
mod split;

use std::ffi::OsString;
use std::io::{self, IsTerminal, Read, Write};
use std::os::unix::ffi::OsStringExt;
use std::process::ExitCode;
use std::thread;
use std::time::Duration;

use clap::{ArgAction, Parser};

use conn::{Connection, Target, describe};
use reply::Reply;

/// Command line client for rust-keyval, in the style of redis-cli.
///
/// With a command, runs it and prints the reply. Without one, starts an interactive session
/// (line editing, history, `help`, `quit`).
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
    /// Database number to SELECT after connecting.
    #[arg(short = 'n', long = "db", default_value_t = 0)]
    db: i64,
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
    /// With -r, wait SECONDS between runs (decimals allowed, e.g. 0.1).
    #[arg(short = 'i', value_name = "SECONDS", default_value_t = 0.0)]
    interval: f64,
    /// Print replies plainly (as in one-shot mode) even in an interactive terminal session.
    #[arg(long, conflicts_with = "no_raw")]
    raw: bool,
    /// Print replies redis-cli style (`(integer) 1`, `"quoted"`) even when not on a terminal.
    #[arg(long)]
    no_raw: bool,
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

/// How replies are printed; see [`format`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Plain,
    Pretty,
}

impl Style {
    /// Appends `reply` in this style.
    pub fn render(self, reply: &Reply, out: &mut Vec<u8>) {
        match self {
            Style::Plain => format::plain(reply, out),
            Style::Pretty => format::pretty(reply, out),
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if !cli.interval.is_finite() || cli.interval < 0.0 {
        eprintln!("Invalid -i interval: {}", cli.interval);
        return ExitCode::FAILURE;
    }
    let target = Target {
        host: cli.host,
        port: cli.port,
        user: cli.user,
        password: cli.password,
        db: cli.db,
    };
    let mut args: Vec<Vec<u8>> = cli.command.into_iter().map(OsString::into_vec).collect();

    if args.is_empty() {
        if cli.stdin_arg {
            eprintln!("-x needs a command, e.g. keyval-cli -x SET key < file");
            return ExitCode::FAILURE;
        }
        // Like redis-cli: pretty on a terminal, plain when the output goes to a pipe or file.
        let style = if cli.no_raw || (!cli.raw && io::stdout().is_terminal()) {
            Style::Pretty
        } else {
            Style::Plain
        };
        return repl::run(target, style);
    }

    if cli.stdin_arg {
        let mut data = Vec::new();
        if let Err(e) = io::stdin().lock().read_to_end(&mut data) {
            eprintln!("Error reading stdin: {}", describe(&e));
            return ExitCode::FAILURE;
        }
        args.push(data);
    }
    let style = if cli.no_raw {
        Style::Pretty
    } else {
        Style::Plain
    };
    one_shot(
        &target,
        &expand_shortcuts(args),
        cli.repeat,
        cli.interval,
        style,
    )
}

/// Bare `KEYS` means `KEYS *`: the original README's session lists all keys with a bare
/// `KEYS`, while Redis servers require a pattern.
pub fn expand_shortcuts(mut args: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    if args.len() == 1 && args[0].eq_ignore_ascii_case(b"keys") {
        args.push(b"*".to_vec());
    }
    args
}

/// Runs one command `repeat` times (forever if negative) and prints each reply.
fn one_shot(
    target: &Target,
    args: &[Vec<u8>],
    repeat: i64,
    interval: f64,
    style: Style,
) -> ExitCode {
    let mut conn = match Connection::open(target) {
        Ok(conn) => conn,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::FAILURE;
        }
    };
    let mut any_error = false;
    let mut done = 0;
    while repeat < 0 || done < repeat {
        if done > 0 && interval > 0.0 {
            thread::sleep(Duration::from_secs_f64(interval));
        }
        done += 1;
        let reply = match conn.call(args) {
            Ok(reply) => reply,
            Err(e) => {
                eprintln!("Error: {}", describe(&e));
                return ExitCode::FAILURE;
            }
        };
        let mut text = Vec::new();
        let written = if let Reply::Error(message) = &reply {
            any_error = true;
            text.extend_from_slice(b"(error) ");
            text.extend_from_slice(message);
            text.push(b'\n');
            io::stderr().write_all(&text)
        } else {
            style.render(&reply, &mut text);
            let mut stdout = io::stdout().lock();
            stdout.write_all(&text).and_then(|()| stdout.flush())
        };
        match written {
            Ok(()) => {}
            // The reader went away (`keyval-cli KEYS | head`): nothing left to do.
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => break,
            Err(e) => {
                eprintln!("Error writing output: {}", describe(&e));
                return ExitCode::FAILURE;
            }
        }
    }
    if any_error {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
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
    }
}
