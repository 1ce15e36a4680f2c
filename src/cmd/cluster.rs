//! CLUSTER, READONLY, READWRITE and ASKING as redis-server 7.0 answers them with
//! `cluster-enabled no`, the only mode we have (`cluster-enabled` is immutable and `no`):
//! a known subcommand with the right arity gets "This instance has cluster support
//! disabled", as in Redis's clusterCommand, readonlyCommand, readwriteCommand and
//! askingCommand. Clients that probe for cluster mode (CLUSTER INFO, CLUSTER SLOTS) get the
//! answer a standalone Redis gives.

use super::flags::{FAST, LOADING, STALE};
use super::{Command, Ctx, subcommand};
use crate::resp::Args;

/// The family's command table.
#[rustfmt::skip]
pub const COMMANDS: &[Command] = &[
    Command { name: "cluster", arity: -2, flags: STALE, keys: (0, 0, 0), group: "cluster", handler: cluster },
    Command { name: "readonly", arity: 1, flags: FAST | LOADING | STALE, keys: (0, 0, 0), group: "cluster", handler: disabled },
    Command { name: "readwrite", arity: 1, flags: FAST | LOADING | STALE, keys: (0, 0, 0), group: "cluster", handler: disabled },
    Command { name: "asking", arity: 1, flags: FAST, keys: (0, 0, 0), group: "cluster", handler: disabled },
];

/// CLUSTER's subcommands in Redis 7.0 and their arities.
pub const CLUSTER_SUBCOMMANDS: &[(&str, i32)] = &[
    ("addslots", -3),
    ("addslotsrange", -4),
    ("bumpepoch", 2),
    ("count-failure-reports", 3),
    ("countkeysinslot", 3),
    ("delslots", -3),
    ("delslotsrange", -4),
    ("failover", -2),
    ("flushslots", 2),
    ("forget", 3),
    ("getkeysinslot", 4),
    ("help", 2),
    ("info", 2),
    ("keyslot", 3),
    ("links", 2),
    ("meet", -4),
    ("myid", 2),
    ("nodes", 2),
    ("replicas", 3),
    ("replicate", 3),
    ("reset", -2),
    ("saveconfig", 2),
    ("set-config-epoch", 3),
    ("setslot", -4),
    ("shards", 2),
    ("slaves", 3),
    ("slots", 2),
];

/// Redis's reply to every cluster command on a server not in cluster mode.
const DISABLED: &str = "ERR This instance has cluster support disabled";

fn cluster(ctx: &mut Ctx, args: Args) {
    if subcommand(ctx.out, "cluster", CLUSTER_SUBCOMMANDS, args).is_some() {
        ctx.out.error(DISABLED);
    }
}

fn disabled(ctx: &mut Ctx, _args: Args) {
    ctx.out.error(DISABLED);
}
