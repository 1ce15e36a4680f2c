//! Serving other clients while a script runs past `busy-reply-threshold` (ARCHITECTURE.md,
//! "long-running scripts"). The script's count hook calls [`turn`]; the reactor, before it
//! runs a client's commands, registers how to run one turn of its loop with [`enter`].
//! Nothing here touches the keyspace.

use std::cell::Cell;

use crate::cmd::Shared;

/// What the busy turns know of the running script, and what they ask of it.
#[derive(Debug, Default)]
pub struct Script {
    /// It ran a write: SCRIPT KILL answers UNKILLABLE.
    pub wrote: bool,
    /// SCRIPT KILL asked it to stop.
    pub kill: bool,
    /// The slow-script warning was logged.
    pub announced: bool,
}

/// One turn of the loop for a busy server: the reactor's state and its function.
pub type TurnFn = unsafe fn(*mut (), &mut Shared, &mut Script);

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
pub fn turn(shared: &mut Shared, script: &mut Script) {
    if let Some((state, f)) = CURRENT.with(Cell::get) {
        // SAFETY: `enter`'s contract: the state is valid for the guard's lifetime, which
        // covers the command (and so the script) being run.
        unsafe { f(state, shared, script) }
    }
}
