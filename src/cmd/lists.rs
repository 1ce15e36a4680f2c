//! List commands (Redis's t_list.c).

use super::Command;

/// The family's command table.
#[rustfmt::skip]
pub const COMMANDS: &[Command] = &[];
