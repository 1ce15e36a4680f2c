//! Interactive mode: a redis-cli-like read-eval-print loop.
//!
//! - The prompt is `host:port> ` (`host:port[db]> ` after selecting a database other than 0,
//!   `not connected> ` while there is no connection).
//! - On a terminal, lines are read with rustyline: line editing, history kept in
//!   `~/.keyvalcli_history` (or `$KEYVALCLI_HISTFILE`), tab completion of command names.
//!   Without a terminal (input piped in), lines are read plainly with no prompt, so scripts can
//!   feed commands.
//! - Lines are split with redis-cli's quoting rules ([`crate::split`]); a leading number
//!   repeats the command (`3 INCR n`).
//! - `help`, `help <command>`, `quit`/`exit`, `clear` and `connect <host> <port>` are handled
//!   locally.
//! - A lost connection is reported; the next command reconnects (it is not silently re-sent,
//!   since it might not be idempotent).
//! - SUBSCRIBE, PSUBSCRIBE, SSUBSCRIBE and MONITOR print their messages until Ctrl-C, which
//!   returns to the prompt on a fresh connection; Ctrl-C during any other command exits, as in
//!   redis-cli.
//! - `HELLO 3` switches the session to RESP3 (kept across reconnects, as SELECT's database
//!   is); replies are shown with RESP3's types from then on.
//! - On a terminal, hints (the arguments still to type) and tab completion come from the
//!   server's COMMAND DOCS, or from keyval-cli's own table when the server has none.

use std::borrow::Cow;
use std::io::{self, BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use rustyline::completion::Completer;
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::DefaultHistory;
use rustyline::validate::Validator;
use rustyline::{Context, Editor, Helper};

use crate::conn::{Connection, Target, describe};
use crate::docs::{self, Entry};
use crate::format::Style;
use crate::interrupt;
use crate::reply::Reply;
use crate::split::split_args;
use crate::stream::{self, End};

/// Commands `help` documents and tab completion offers: (name, arguments, summary).
const COMMANDS: &[(&str, &str, &str)] = &[
    ("APPEND", "key value", "Append a value to a key"),
    ("AUTH", "[username] password", "Authenticate to the server"),
    ("DEL", "key [key ...]", "Delete keys"),
    ("ECHO", "message", "Return the given string"),
    (
        "EXISTS",
        "key [key ...]",
        "Count how many of the given keys exist",
    ),
    (
        "EXPIRE",
        "key seconds",
        "Set a key's time to live in seconds",
    ),
    ("FLUSHALL", "", "Remove all keys"),
    ("GET", "key", "Get the value of a key"),
    ("INCR", "key", "Increment the integer value of a key by one"),
    (
        "KEYS",
        "[pattern]",
        "Find all keys matching a glob pattern (default *)",
    ),
    (
        "MGET",
        "key [key ...]",
        "Get the values of all the given keys",
    ),
    ("PING", "[message]", "Ping the server"),
    ("SELECT", "index", "Change the selected database"),
    ("SET", "key value", "Set the string value of a key"),
    (
        "STRLEN",
        "key",
        "Get the length of the value stored in a key",
    ),
    ("TTL", "key", "Get the time to live of a key in seconds"),
];

/// Commands handled by keyval-cli itself.
const LOCAL_COMMANDS: &[&str] = &["help", "quit", "exit", "clear", "connect"];

/// Runs the interactive session until `quit`, end of input or Ctrl-C. `push_style` is how
/// RESP3 push messages that arrive between replies are shown (None: dropped).
pub fn run(target: Target, style: Style, push_style: Option<Style>) -> ExitCode {
    // Ctrl-C while a command runs exits (status 1); while SUBSCRIBE streams, it stops it.
    interrupt::install();
    let mut session = Session {
        conn: None,
        target,
        style,
        push_style,
        failures: 0,
        docs: None,
    };
    // Connect up front so the prompt tells the truth; a failure is reported but the session
    // starts anyway ("not connected>") and the next command tries again, as in redis-cli.
    session.connect();

    let interactive = io::stdin().is_terminal();
    let mut input: Box<dyn Input> = if interactive {
        // Fetched once: hints and completion, and `help` later.
        let docs = session.command_docs();
        session.docs = Some(docs.clone());
        match LineEditor::new(docs) {
            Ok(editor) => Box::new(editor),
            Err(e) => {
                eprintln!("Cannot start line editing ({e}); reading plain lines");
                Box::new(PlainInput)
            }
        }
    } else {
        Box::new(PlainInput)
    };

    loop {
        let prompt = if interactive {
            session.prompt()
        } else {
            String::new()
        };
        let line = match input.read_line(&prompt) {
            Ok(Some(line)) => line,
            Ok(None) => break,
            Err(e) => {
                eprintln!("Error reading input: {e}");
                session.failures += 1;
                break;
            }
        };
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        // Like redis-cli, keep passwords out of the history file.
        if !line.to_ascii_lowercase().starts_with("auth ") {
            input.remember(line);
        }
        if session.handle_line(line) == Flow::Quit {
            break;
        }
    }
    if session.failures > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Whether the loop goes on after a line.
#[derive(Debug, PartialEq, Eq)]
enum Flow {
    Continue,
    Quit,
}

/// The connection state of an interactive session.
struct Session {
    conn: Option<Connection>,
    target: Target,
    style: Style,
    push_style: Option<Style>,
    /// Commands that could not be sent or answered (exit status 1 if any).
    failures: u32,
    /// The server's COMMAND DOCS for `help`, fetched on first use (inner None: the server
    /// has none, keyval-cli's own table serves).
    docs: Option<Option<Vec<Entry>>>,
}

impl Session {
    fn prompt(&self) -> String {
        match (&self.conn, self.target.db) {
            (None, _) => "not connected> ".to_string(),
            (Some(_), 0) => format!("{}> ", self.target.address()),
            (Some(_), db) => format!("{}[{db}]> ", self.target.address()),
        }
    }

    /// (Re)connects; reports failure on stderr.
    fn connect(&mut self) -> bool {
        match Connection::open(&self.target) {
            Ok(mut conn) => {
                conn.push_style = self.push_style;
                self.conn = Some(conn);
                true
            }
            Err(message) => {
                eprintln!("{message}");
                self.conn = None;
                false
            }
        }
    }

    fn handle_line(&mut self, line: &str) -> Flow {
        let Some(mut args) = split_args(line) else {
            println!("Invalid argument(s)");
            return Flow::Continue;
        };
        if args.is_empty() {
            return Flow::Continue;
        }
        // `3 INCR n` runs INCR three times, as in redis-cli.
        let mut times = 1;
        if args.len() > 1
            && let Some(n) = std::str::from_utf8(&args[0])
                .ok()
                .and_then(|s| s.parse::<i64>().ok())
        {
            if n <= 0 {
                println!("Invalid redis-cli repeat command option value.");
                return Flow::Continue;
            }
            times = n as u64;
            args.remove(0);
        }
        let name = String::from_utf8_lossy(&args[0]).to_ascii_lowercase();
        match name.as_str() {
            "quit" | "exit" => return Flow::Quit,
            "help" | "?" => self.help(&args[1..]),
            "clear" => {
                // ANSI: cursor home, clear screen.
                print!("\x1b[H\x1b[2J");
                let _ = io::stdout().flush();
            }
            "connect" => self.reconnect_to(&args[1..]),
            _ => {
                let args = crate::expand_shortcuts(args);
                let started = Instant::now();
                for _ in 0..times {
                    if !self.execute(&args) {
                        break;
                    }
                }
                // redis-cli tells how long a slow command took, on a terminal.
                let elapsed = started.elapsed().as_secs_f64();
                if elapsed >= 0.5 && self.style == Style::Pretty {
                    println!("({elapsed:.2}s)");
                }
            }
        }
        Flow::Continue
    }

    /// `connect [host [port]]`: switch servers.
    fn reconnect_to(&mut self, args: &[Vec<u8>]) {
        if let Some(host) = args.first() {
            self.target.host = String::from_utf8_lossy(host).into_owned();
        }
        if let Some(port) = args.get(1) {
            match String::from_utf8_lossy(port).parse() {
                Ok(port) => self.target.port = port,
                Err(_) => {
                    println!("Invalid port");
                    return;
                }
            }
        }
        self.target.db = 0;
        self.connect();
    }

    /// Sends one command and prints its reply. Returns false if the command could not be
    /// sent or answered (no connection, connection lost).
    fn execute(&mut self, args: &[Vec<u8>]) -> bool {
        if self.conn.is_none() && !self.connect() {
            self.failures += 1;
            return false;
        }
        let Some(conn) = self.conn.as_mut() else {
            return false;
        };
        if let Some(kind) = stream::streaming_kind(args) {
            return self.follow(args, kind);
        }
        let reply = match conn.call(args) {
            Ok(reply) => reply,
            Err(e) => {
                // The connection is unusable now; the next command reconnects.
                eprintln!("Error: {}", describe(&e));
                self.conn = None;
                self.failures += 1;
                return false;
            }
        };
        self.remember_session_state(args, &reply);
        let mut text = Vec::new();
        self.style.render_reply_to(args, &reply, &mut text);
        let mut stdout = io::stdout().lock();
        // A closed stdout (`keyval-cli < cmds | head -1`) leaves nothing useful to do.
        stdout
            .write_all(&text)
            .and_then(|()| stdout.flush())
            .is_ok()
    }

    /// Prints a SUBSCRIBE's or MONITOR's messages until Ctrl-C (then reconnects, as
    /// redis-cli does, since the connection is still subscribed) or the connection ends.
    fn follow(&mut self, args: &[Vec<u8>], kind: stream::Streaming) -> bool {
        let Some(conn) = self.conn.as_mut() else {
            return false;
        };
        let end = {
            let _catching = interrupt::Catching::start();
            stream::follow(conn, args, kind, self.style)
        };
        match end {
            End::Interrupted => {
                self.conn = None;
                self.connect();
                false
            }
            End::ErrorReply(reply) => {
                let mut text = Vec::new();
                self.style.render(&reply, &mut text);
                let _ = io::stdout().write_all(&text);
                let _ = io::stdout().flush();
                true
            }
            End::Lost(e) => {
                eprintln!("Error: {}", describe(&e));
                self.conn = None;
                self.failures += 1;
                false
            }
            End::OutputClosed => false,
        }
    }

    /// `help`: general help, or the server's documentation of a command or `@group` as
    /// redis-cli prints it (keyval-cli's own table when the server has no COMMAND DOCS).
    fn help(&mut self, topic: &[Vec<u8>]) {
        if topic.is_empty() {
            return print_help(topic);
        }
        if self.docs.is_none() {
            self.docs = Some(self.command_docs());
        }
        match self.docs.as_ref().and_then(Option::as_ref) {
            Some(entries) => {
                let topic: Vec<String> = topic
                    .iter()
                    .map(|w| String::from_utf8_lossy(w).into_owned())
                    .collect();
                print!("{}", docs::help_text(entries, &topic));
                let _ = io::stdout().flush();
            }
            None => print_help(topic),
        }
    }

    /// The server's command documentation for hints and completion, if it has COMMAND DOCS.
    fn command_docs(&mut self) -> Option<Vec<Entry>> {
        let conn = self.conn.as_mut()?;
        let reply = conn.call(&[b"COMMAND".to_vec(), b"DOCS".to_vec()]).ok()?;
        docs::from_command_docs(&reply)
    }

    /// Keeps what a reconnect must restore: the database chosen with SELECT, the
    /// credentials accepted by AUTH, the protocol chosen with HELLO (RESET forgets both).
    fn remember_session_state(&mut self, args: &[Vec<u8>], reply: &Reply) {
        if matches!(reply, Reply::Error(_)) {
            return;
        }
        let name = args[0].to_ascii_lowercase();
        if name == b"hello" && args.len() >= 2 {
            match args[1].as_slice() {
                b"3" => self.target.resp3 = true,
                b"2" => self.target.resp3 = false,
                _ => {}
            }
        } else if name == b"reset" && args.len() == 1 {
            self.target.db = 0;
            self.target.resp3 = false;
        } else if name == b"select" && args.len() == 2 {
            if let Ok(db) = String::from_utf8_lossy(&args[1]).parse() {
                self.target.db = db;
            }
        } else if name == b"auth" && (args.len() == 2 || args.len() == 3) {
            let text = |a: &Vec<u8>| String::from_utf8_lossy(a).into_owned();
            self.target.password = args.last().map(text);
            self.target.user = (args.len() == 3).then(|| text(&args[1]));
        }
    }
}

/// Prints general help, or the help of the named command (keyval-cli's own table).
pub fn print_help(topic: &[Vec<u8>]) {
    let Some(name) = topic.first() else {
        println!("keyval-cli {}", env!("CARGO_PKG_VERSION"));
        println!("To get help about a command type:");
        println!("      \"help <command>\" for help on <command>");
        println!("      \"help @<group>\" to get a list of commands in <group>");
        println!("      \"quit\" to exit");
        println!();
        println!("Commands:");
        for (name, arguments, summary) in COMMANDS {
            println!("  {:<34} {summary}", format!("{name} {arguments}"));
        }
        println!();
        println!("Quote arguments with \"double quotes\" (escapes such as \\n and \\xHH work) or");
        println!("'single quotes'. Prefix a command with a number to repeat it: 3 INCR counter");
        return;
    };
    let name = String::from_utf8_lossy(name).to_ascii_uppercase();
    match COMMANDS.iter().find(|(n, _, _)| *n == name) {
        Some((name, arguments, summary)) => {
            println!();
            println!("  {name} {arguments}");
            println!("  summary: {summary}");
            println!();
        }
        None => println!("No help for '{name}'. Type \"help\" for the list of commands."),
    }
}

/// Where lines come from.
trait Input {
    /// The next line; `Ok(None)` at end of input (Ctrl-D, Ctrl-C, EOF).
    fn read_line(&mut self, prompt: &str) -> io::Result<Option<String>>;
    /// Adds a line to the history (no-op without a terminal).
    fn remember(&mut self, _line: &str) {}
}

/// Lines from a pipe or file: no prompt, no editing.
struct PlainInput;

impl Input for PlainInput {
    fn read_line(&mut self, _prompt: &str) -> io::Result<Option<String>> {
        let mut line = Vec::new();
        if io::stdin().lock().read_until(b'\n', &mut line)? == 0 {
            return Ok(None);
        }
        Ok(Some(String::from_utf8_lossy(&line).into_owned()))
    }
}

/// Lines from a terminal through rustyline, with a persistent history.
struct LineEditor {
    editor: Editor<CommandHelper, DefaultHistory>,
    history_file: Option<PathBuf>,
}

impl LineEditor {
    fn new(docs: Option<Vec<Entry>>) -> rustyline::Result<LineEditor> {
        let mut editor = Editor::new()?;
        editor.set_helper(Some(CommandHelper {
            entries: docs.map_or_else(builtin_entries, with_builtin_params),
        }));
        let history_file = history_file();
        if let Some(path) = &history_file {
            // A missing file is the normal first run.
            let _ = editor.load_history(path);
        }
        Ok(LineEditor {
            editor,
            history_file,
        })
    }
}

impl Input for LineEditor {
    fn read_line(&mut self, prompt: &str) -> io::Result<Option<String>> {
        match self.editor.readline(prompt) {
            Ok(line) => Ok(Some(line)),
            // Ctrl-C and Ctrl-D leave, as in redis-cli.
            Err(ReadlineError::Interrupted | ReadlineError::Eof) => Ok(None),
            Err(ReadlineError::Io(e)) => Err(e),
            Err(e) => Err(io::Error::other(e.to_string())),
        }
    }

    fn remember(&mut self, line: &str) {
        let _ = self.editor.add_history_entry(line);
        if let Some(path) = &self.history_file {
            // Saved after every line, like redis-cli, so a killed session keeps its history.
            // History is a convenience: failing to save it must not disturb the session.
            let _ = self.editor.save_history(path);
        }
    }
}

/// `$KEYVALCLI_HISTFILE` (empty or /dev/null: no history file), else `~/.keyvalcli_history`.
fn history_file() -> Option<PathBuf> {
    match std::env::var_os("KEYVALCLI_HISTFILE") {
        Some(path) if path.is_empty() || path == "/dev/null" => None,
        Some(path) => Some(PathBuf::from(path)),
        None => std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".keyvalcli_history")),
    }
}

/// keyval-cli's own command table as help entries, for servers without COMMAND DOCS.
fn builtin_entries() -> Vec<Entry> {
    COMMANDS
        .iter()
        .map(|(name, params, summary)| Entry {
            full: name.to_string(),
            params: params.to_string(),
            summary: summary.to_string(),
            since: None,
            group: None,
            is_group: false,
        })
        .collect()
}

/// Fills the argument synopsis of documented commands that come without one (a server
/// whose COMMAND DOCS lists no arguments) from keyval-cli's own table, so hints still show.
fn with_builtin_params(mut entries: Vec<Entry>) -> Vec<Entry> {
    let builtin = builtin_entries();
    for e in entries
        .iter_mut()
        .filter(|e| e.params.is_empty() && !e.is_group)
    {
        if let Some(b) = builtin
            .iter()
            .find(|b| b.full.eq_ignore_ascii_case(&e.full))
        {
            e.params = b.params.clone();
        }
    }
    entries
}

/// Hints and tab completion from the command documentation.
struct CommandHelper {
    entries: Vec<Entry>,
}

impl Completer for CommandHelper {
    type Candidate = String;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<String>)> {
        let before = &line[..pos];
        let mut candidates = docs::complete(&self.entries, before);
        if !before.contains(char::is_whitespace) {
            // keyval-cli's own commands, in the case being typed.
            candidates.extend(
                complete_command(before)
                    .into_iter()
                    .filter(|c| LOCAL_COMMANDS.contains(&c.to_ascii_lowercase().as_str())),
            );
        }
        Ok((0, candidates))
    }
}

/// Command names starting with `prefix` (case-insensitive), in the case the user is typing.
fn complete_command(prefix: &str) -> Vec<String> {
    let lower = prefix
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase());
    let upper = prefix.to_ascii_uppercase();
    COMMANDS
        .iter()
        .map(|(name, _, _)| *name)
        .chain(LOCAL_COMMANDS.iter().copied())
        .map(str::to_ascii_uppercase)
        .filter(|name| name.starts_with(&upper))
        .map(|name| {
            if lower {
                name.to_ascii_lowercase()
            } else {
                name
            }
        })
        .collect()
}

impl Hinter for CommandHelper {
    type Hint = String;

    fn hint(&self, line: &str, pos: usize, _ctx: &Context<'_>) -> Option<String> {
        // Only at the end of the line, as redis-cli's linenoise shows them.
        if pos < line.len() {
            return None;
        }
        docs::hint(&self.entries, line).filter(|h| !h.trim().is_empty())
    }
}

impl Highlighter for CommandHelper {
    fn highlight_prompt<'b, 's: 'b, 'p: 'b>(
        &'s self,
        prompt: &'p str,
        _default: bool,
    ) -> Cow<'b, str> {
        Cow::Borrowed(prompt)
    }

    fn highlight_hint<'h>(&self, hint: &'h str) -> Cow<'h, str> {
        // Dark grey, redis-cli's hint colour.
        Cow::Owned(format!("\x1b[90m{hint}\x1b[0m"))
    }
}

impl Validator for CommandHelper {}

impl Helper for CommandHelper {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_commands_without_arguments_get_the_builtin_synopsis() {
        let entry = |full: &str, params: &str| Entry {
            full: full.to_string(),
            params: params.to_string(),
            summary: String::new(),
            since: None,
            group: None,
            is_group: false,
        };
        let filled = with_builtin_params(vec![
            entry("GET", ""),
            entry("SET", "key value [NX|XX]"),
            entry("NOSUCH", ""),
        ]);
        assert_eq!(filled[0].params, "key");
        assert_eq!(filled[1].params, "key value [NX|XX]");
        assert_eq!(filled[2].params, "");
    }

    #[test]
    fn completion_follows_the_typed_case() {
        assert_eq!(complete_command("ex"), ["exists", "expire", "exit"]);
        assert_eq!(complete_command("FL"), ["FLUSHALL"]);
        assert!(complete_command("zz").is_empty());
    }

    #[test]
    fn prompt_shows_address_database_and_connection_state() {
        let target = Target {
            host: "127.0.0.1".into(),
            port: 6374,
            user: None,
            password: None,
            db: 0,
            resp3: false,
        };
        let mut session = Session {
            conn: None,
            target,
            style: Style::Pretty,
            push_style: None,
            failures: 0,
            docs: None,
        };
        assert_eq!(session.prompt(), "not connected> ");
        session.target.db = 3;
        assert_eq!(session.prompt(), "not connected> ");
    }
}
