//! Sorted-set commands (Redis's t_zset.c).

use super::Command;

/// The family's command table.
#[rustfmt::skip]
pub const COMMANDS: &[Command] = &[];
