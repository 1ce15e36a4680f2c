//! OBJECT (Redis's object.c): how a value is stored. ENCODING names the form in Redis's
//! words (see `Value::encoding`), so clients and Redis's own tests that check encodings work.

use super::flags::READONLY;
use super::{Command, Ctx, reply_help, subcommand};
use crate::resp::Args;

/// The family's command table.
#[rustfmt::skip]
pub const COMMANDS: &[Command] = &[
    Command { name: "object", arity: -2, flags: READONLY, keys: (2, 2, 1), group: "generic", summary: "A container for object introspection commands.", handler: object },
];

/// OBJECT's subcommands and their arities.
pub const OBJECT_SUBCOMMANDS: &[(&str, i32)] = &[("encoding", 3), ("refcount", 3), ("help", 2)];

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
                "REFCOUNT <key>",
                "    Return the number of references of the value associated with the specified",
                "    <key>.",
                "HELP",
                "    Prints this help.",
            ],
        );
        return;
    }
    let (found, out) = ctx.read(args.get(2));
    let Some(e) = found else {
        out.null();
        return;
    };
    match sub {
        "encoding" => out.bulk(e.value.encoding().as_bytes()),
        // Values are never shared here, except that Redis shares the integers 0..9999.
        _ => out.int(match e.value.as_str().and_then(|s| s.as_i64()) {
            Some(0..=9999) if e.value.encoding() == "int" => SHARED_REFCOUNT,
            _ => 1,
        }),
    }
}
