//! Hash commands (Redis's t_hash.c).

use super::Command;

/// The family's command table.
#[rustfmt::skip]
pub const COMMANDS: &[Command] = &[];
