//! Ctrl-C (SIGINT) as redis-cli treats it.
//!
//! Without [`install`], SIGINT kills keyval-cli as it kills any program (one-shot commands,
//! including a one-shot SUBSCRIBE, end that way in redis-cli too). Once installed, Ctrl-C
//! ends the program with status 1, except inside a [`Catching`] section, where it only
//! raises a flag: a streaming SUBSCRIBE/MONITOR in the interactive mode returns to the
//! prompt, `--scan` stops, `--bigkeys` prints its summary of what it saw.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

struct Flags {
    /// Raised by every SIGINT; cleared when a [`Catching`] section starts.
    interrupted: Arc<AtomicBool>,
    /// While true, SIGINT ends the process.
    exit_on_interrupt: Arc<AtomicBool>,
}

static FLAGS: OnceLock<Flags> = OnceLock::new();

/// Installs the SIGINT handling described above (once; later calls do nothing).
pub fn install() {
    FLAGS.get_or_init(|| {
        let flags = Flags {
            interrupted: Arc::new(AtomicBool::new(false)),
            exit_on_interrupt: Arc::new(AtomicBool::new(true)),
        };
        // Without the handlers Ctrl-C keeps its default action, which is still an exit.
        let _ = signal_hook::flag::register_conditional_shutdown(
            signal_hook::consts::SIGINT,
            1,
            Arc::clone(&flags.exit_on_interrupt),
        );
        let _ = signal_hook::flag::register(
            signal_hook::consts::SIGINT,
            Arc::clone(&flags.interrupted),
        );
        flags
    });
}

/// Whether Ctrl-C was pressed since the current [`Catching`] section began.
pub fn interrupted() -> bool {
    FLAGS
        .get()
        .is_some_and(|f| f.interrupted.load(Ordering::SeqCst))
}

/// While alive, Ctrl-C raises [`interrupted`] instead of ending the program.
pub struct Catching;

impl Catching {
    pub fn start() -> Catching {
        install();
        if let Some(flags) = FLAGS.get() {
            flags.interrupted.store(false, Ordering::SeqCst);
            flags.exit_on_interrupt.store(false, Ordering::SeqCst);
        }
        Catching
    }
}

impl Drop for Catching {
    fn drop(&mut self) {
        if let Some(flags) = FLAGS.get() {
            flags.exit_on_interrupt.store(true, Ordering::SeqCst);
        }
    }
}
