//! Serving other clients while a script runs past `busy-reply-threshold` (ARCHITECTURE.md,
//! "long-running scripts"). The script's count hook calls [`turn`]; the reactor, before it
//! runs a client's commands, registers how to run one turn of its loop with [`enter`].
//! Only the commands Redis flags allow-busy run meanwhile: those that stop or describe the
//! script, and the connection and transaction commands that cannot see the data (AUTH,
//! HELLO, MULTI, WATCH...); everything else gets -BUSY.

use std::cell::Cell;

use crate::cmd::Shared;
use crate::store::Store;

/// What the busy turns know of the running script, and what they ask of it.
#[derive(Debug, Default)]
pub struct Script {
    /// It ran a write: SCRIPT KILL answers UNKILLABLE.
    pub wrote: bool,
    /// SCRIPT KILL asked it to stop.
    pub kill: bool,
    /// The slow-script warning was logged.
    pub announced: bool,
    /// The FCALL being run; None for EVAL scripts.
    pub function: Option<RunningFunction>,
}

/// What FUNCTION STATS tells of a running function.
#[derive(Debug)]
pub struct RunningFunction {
    /// The function's name.
    pub name: Vec<u8>,
    /// The FCALL command that runs it.
    pub command: Vec<Vec<u8>>,
    /// When it started.
    pub started: std::time::Instant,
    /// Libraries and functions loaded (FUNCTION STATS's engine figures).
    pub libraries: usize,
    /// See `libraries`.
    pub functions: usize,
}

/// Redis's error for commands refused while an EVAL script is busy.
pub const BUSY_EVAL: &str =
    "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.";
/// The same while a function is busy.
pub const BUSY_FUNCTION: &str =
    "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.";
/// SCRIPT KILL / FUNCTION KILL of a script that wrote.
pub const UNKILLABLE: &str = "UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.";

/// What a busy server does with a request.
#[derive(Debug, PartialEq, Eq)]
pub enum Answer {
    /// Replied (an error, or SCRIPT KILL's OK...).
    Replied,
    /// SHUTDOWN NOSAVE: the script stops and the server with it.
    Shutdown,
    /// An allow-busy command that does not concern the script (AUTH, HELLO, MULTI,
    /// DISCARD, WATCH, UNWATCH, RESET, QUIT): the caller runs it as usual.
    Run,
    /// Refused with this -BUSY error; EXEC also aborts its transaction, and a command
    /// inside MULTI dooms it, as Redis's rejectCommand does.
    Refuse(&'static str),
}

/// Decides about one request while a script is busy (Redis's processCommand then), and
/// answers those that concern the script: SCRIPT KILL, FUNCTION KILL, FUNCTION STATS and
/// SHUTDOWN NOSAVE.
pub fn answer(
    script: &mut Script,
    args: crate::resp::Args,
    out: &mut crate::resp::Reply,
) -> Answer {
    let is = |i: usize, word: &[u8]| args.get(i).eq_ignore_ascii_case(word);
    let pair = |a: &[u8], b: &[u8]| args.len() == 2 && is(0, a) && is(1, b);
    let eval = script.function.is_none();
    let busy = if eval { BUSY_EVAL } else { BUSY_FUNCTION };
    if pair(b"script", b"kill") || pair(b"function", b"kill") {
        let by_script_kill = is(0, b"script");
        if script.wrote {
            out.error(UNKILLABLE);
        } else if by_script_kill != eval {
            // SCRIPT KILL stops scripts, FUNCTION KILL functions.
            out.error(busy);
        } else {
            script.kill = true;
            out.ok();
        }
    } else if pair(b"function", b"stats") {
        match &script.function {
            None => out.error(BUSY_EVAL),
            Some(f) => {
                out.map(2);
                out.bulk(b"running_script");
                out.map(3);
                out.bulk(b"name");
                out.bulk(&f.name);
                out.bulk(b"command");
                out.array(f.command.len());
                for a in &f.command {
                    out.bulk(a);
                }
                out.bulk(b"duration_ms");
                out.int(f.started.elapsed().as_millis() as i64);
                engines_stats(out, f.libraries, f.functions);
            }
        }
    } else if pair(b"shutdown", b"nosave") {
        script.kill = true;
        return Answer::Shutdown;
    } else if [
        "auth", "hello", "quit", "reset", "multi", "discard", "watch", "unwatch",
    ]
    .iter()
    .any(|name| is(0, name.as_bytes()))
    {
        return Answer::Run;
    } else {
        return Answer::Refuse(busy);
    }
    Answer::Replied
}

/// FUNCTION STATS's `engines` entry: the one engine and its figures.
pub fn engines_stats(out: &mut crate::resp::Reply, libraries: usize, functions: usize) {
    out.bulk(b"engines");
    out.map(1);
    out.bulk(b"LUA");
    out.map(2);
    out.bulk(b"libraries_count");
    out.int(libraries as i64);
    out.bulk(b"functions_count");
    out.int(functions as i64);
}

/// One turn of the loop for a busy server: the reactor's state and its function.
pub type TurnFn = unsafe fn(*mut (), &mut Shared, &mut Store, &mut Script);

thread_local! {
    static CURRENT: Cell<Option<(*mut (), TurnFn)>> = const { Cell::new(None) };
}

/// Registers the reactor's busy turn for as long as the guard lives. `state` must stay
/// valid, and untouched by anyone else, until then.
pub fn enter(state: *mut (), f: TurnFn) -> Guard {
    let previous = CURRENT.with(|c| c.replace(Some((state, f))));
    Guard(previous)
}

/// Unregisters the busy turn when dropped.
#[derive(Debug)]
pub struct Guard(Option<(*mut (), TurnFn)>);

impl Drop for Guard {
    fn drop(&mut self) {
        CURRENT.with(|c| c.set(self.0));
    }
}

/// Runs one busy turn, if a reactor registered one (a script run outside the loop, as in
/// unit tests, has none).
pub fn turn(shared: &mut Shared, store: &mut Store, script: &mut Script) {
    if let Some((state, f)) = CURRENT.with(Cell::get) {
        // SAFETY: `enter`'s contract: the state is valid for the guard's lifetime, which
        // covers the command (and so the script) being run.
        unsafe { f(state, shared, store, script) }
    }
}
