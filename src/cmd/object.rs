//! OBJECT (Redis's object.c): how a value is stored. ENCODING names the form in Redis's
//! words (see `Value::encoding`), so clients and Redis's own tests that check encodings work;
//! IDLETIME and FREQ read the access metadata eviction uses (`store::evict`).

use super::flags::READONLY;
use super::{Command, Ctx, reply_help, subcommand};
use crate::resp::Args;
use crate::store::evict;

/// The family's command table.
#[rustfmt::skip]
pub const COMMANDS: &[Command] = &[
    Command { name: "object", arity: -2, flags: READONLY, keys: (2, 2, 1), group: "generic", handler: object },
];

/// OBJECT's subcommands and their arities.
pub const OBJECT_SUBCOMMANDS: &[(&str, i32)] = &[
    ("encoding", 3),
    ("freq", 3),
    ("idletime", 3),
    ("refcount", 3),
    ("help", 2),
];

/// Redis's reference count of shared integers (`OBJ_SHARED_REFCOUNT`).
const SHARED_REFCOUNT: i64 = i32::MAX as i64;

fn object(ctx: &mut Ctx, args: Args) {
    let Some(sub) = subcommand(ctx.out, "object", OBJECT_SUBCOMMANDS, args) else {
        return;
    };
    if sub == "help" {
        reply_help(
            ctx.out,
            &[
                "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "ENCODING <key>",
                "    Return the kind of internal representation used in order to store the value",
                "    associated with a <key>.",
                "FREQ <key>",
                "    Return the access frequency index of the <key>. The returned integer is",
                "    proportional to the logarithm of the recent access frequency of the key.",
                "IDLETIME <key>",
                "    Return the idle time of the <key>, that is the approximated number of",
                "    seconds elapsed since the last access to the key.",
                "REFCOUNT <key>",
                "    Return the number of references of the value associated with the specified",
                "    <key>.",
                "HELP",
                "    Prints this help.",
            ],
        );
        return;
    }
    // Looked up without touching: OBJECT must not change what it reports (Redis's
    // LOOKUP_NOTOUCH), nor delete an expired key.
    let now = ctx.now;
    let memory = ctx.shared.params.settings.memory;
    let Some(e) = ctx.store.db(ctx.client.db).peek(args.get(2), now) else {
        ctx.out.null();
        return;
    };
    let out = &mut *ctx.out;
    match sub {
        "encoding" => out.bulk(e.value.encoding().as_bytes()),
        "idletime" if memory.policy.is_lfu() => out.error(
            "ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.",
        ),
        "idletime" => out.int((evict::lru_idle_ms(e.access(), now) / 1000) as i64),
        "freq" if !memory.policy.is_lfu() => out.error(
            "ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.",
        ),
        "freq" => out.int(i64::from(evict::lfu_decayed(
            e.access(),
            now,
            memory.lfu_decay_time,
        ))),
        // Values are never shared here, except that Redis shares the integers 0..9999.
        _ => out.int(match e.value.as_str().and_then(|s| s.as_i64()) {
            Some(0..=9999) if e.value.encoding() == "int" => SHARED_REFCOUNT,
            _ => 1,
        }),
    }
}
