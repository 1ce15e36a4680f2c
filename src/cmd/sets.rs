//! Set commands (Redis's t_set.c).

use super::Command;

/// The family's command table.
#[rustfmt::skip]
pub const COMMANDS: &[Command] = &[];
