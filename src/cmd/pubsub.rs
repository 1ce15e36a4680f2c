//! Pub/sub commands: (P|S)SUBSCRIBE, (P|S)UNSUBSCRIBE, PUBLISH, SPUBLISH and PUBSUB
//! (Redis's pubsub.c). The registry and the outbox are in [`crate::pubsub`]; messages for
//! other clients are queued there and copied into their buffers by the event loop right
//! after the command.

use super::flags::{FAST, LOADING, MAY_REPLICATE, NOSCRIPT, PUBSUB, STALE};
use super::{Command, Ctx, reply_help, subcommand};
use crate::pubsub::{Kind, Message};
use crate::resp::Args;

/// The pub/sub family's command table.
#[rustfmt::skip]
pub const COMMANDS: &[Command] = &[
    Command { name: "subscribe", arity: -2, flags: PUBSUB | NOSCRIPT | LOADING | STALE, keys: (0, 0, 0), group: "pubsub", handler: subscribe },
    Command { name: "unsubscribe", arity: -1, flags: PUBSUB | NOSCRIPT | LOADING | STALE, keys: (0, 0, 0), group: "pubsub", handler: unsubscribe },
    Command { name: "psubscribe", arity: -2, flags: PUBSUB | NOSCRIPT | LOADING | STALE, keys: (0, 0, 0), group: "pubsub", handler: psubscribe },
    Command { name: "punsubscribe", arity: -1, flags: PUBSUB | NOSCRIPT | LOADING | STALE, keys: (0, 0, 0), group: "pubsub", handler: punsubscribe },
    Command { name: "ssubscribe", arity: -2, flags: PUBSUB | NOSCRIPT | LOADING | STALE, keys: (1, -1, 1), group: "pubsub", handler: ssubscribe },
    Command { name: "sunsubscribe", arity: -1, flags: PUBSUB | NOSCRIPT | LOADING | STALE, keys: (1, -1, 1), group: "pubsub", handler: sunsubscribe },
    Command { name: "publish", arity: 3, flags: PUBSUB | LOADING | STALE | FAST | MAY_REPLICATE, keys: (0, 0, 0), group: "pubsub", handler: publish },
    Command { name: "spublish", arity: 3, flags: PUBSUB | LOADING | STALE | FAST | MAY_REPLICATE, keys: (1, 1, 1), group: "pubsub", handler: spublish },
    Command { name: "pubsub", arity: -2, flags: 0, keys: (0, 0, 0), group: "pubsub", handler: pubsub },
];

/// The commands a RESP2 client may send while it listens to a channel or pattern.
pub fn allowed_while_subscribed(name: &str) -> bool {
    matches!(
        name,
        "ping"
            | "subscribe"
            | "ssubscribe"
            | "unsubscribe"
            | "sunsubscribe"
            | "psubscribe"
            | "punsubscribe"
            | "quit"
            | "reset"
    )
}

/// `[kind, name, count]` as a push (RESP3) or an array (RESP2); a missing name is a null.
fn confirm(ctx: &mut Ctx, word: &str, name: Option<&[u8]>, count: usize) {
    let start = ctx.out.mark();
    ctx.out.push(3);
    ctx.out.bulk(word.as_bytes());
    match name {
        Some(n) => ctx.out.bulk(n),
        None => ctx.out.null(),
    }
    ctx.out.int(count as i64);
    // A push: it reaches the client even under CLIENT REPLY OFF, as in Redis.
    ctx.out.kept_push(start);
}

fn subscribe_to(ctx: &mut Ctx, kind: Kind, args: Args) {
    let token = ctx.client.token;
    for channel in args.iter().skip(1) {
        if ctx.shared.pubsub.subscribe(kind, channel, token) {
            ctx.client.pubsub.of(kind).push(channel.into());
        }
        let (word, count) = match kind {
            Kind::Classic => ("subscribe", ctx.client.pubsub.count()),
            Kind::Shard => ("ssubscribe", ctx.client.pubsub.shard.len()),
        };
        confirm(ctx, word, Some(channel), count);
    }
}

fn unsubscribe_from(ctx: &mut Ctx, kind: Kind, args: Args) {
    let word = match kind {
        Kind::Classic => "unsubscribe",
        Kind::Shard => "sunsubscribe",
    };
    let count = |ctx: &Ctx| match kind {
        Kind::Classic => ctx.client.pubsub.count(),
        Kind::Shard => ctx.client.pubsub.shard.len(),
    };
    let token = ctx.client.token;
    let named: Vec<Box<[u8]>> = if args.len() > 1 {
        args.iter().skip(1).map(Into::into).collect()
    } else {
        let all = ctx.client.pubsub.of(kind).clone();
        if all.is_empty() {
            // Subscribed to nothing: still one reply, with a null channel.
            let n = count(ctx);
            confirm(ctx, word, None, n);
            return;
        }
        all
    };
    for channel in named {
        if ctx.shared.pubsub.unsubscribe(kind, &channel, token) {
            ctx.client.pubsub.of(kind).retain(|c| *c != channel);
        }
        let n = count(ctx);
        confirm(ctx, word, Some(&channel), n);
    }
}

fn subscribe(ctx: &mut Ctx, args: Args) {
    subscribe_to(ctx, Kind::Classic, args);
}

fn ssubscribe(ctx: &mut Ctx, args: Args) {
    subscribe_to(ctx, Kind::Shard, args);
}

fn unsubscribe(ctx: &mut Ctx, args: Args) {
    unsubscribe_from(ctx, Kind::Classic, args);
}

fn sunsubscribe(ctx: &mut Ctx, args: Args) {
    unsubscribe_from(ctx, Kind::Shard, args);
}

fn psubscribe(ctx: &mut Ctx, args: Args) {
    let token = ctx.client.token;
    for pattern in args.iter().skip(1) {
        if ctx.shared.pubsub.psubscribe(pattern, token) {
            ctx.client.pubsub.patterns.push(pattern.into());
        }
        let n = ctx.client.pubsub.count();
        confirm(ctx, "psubscribe", Some(pattern), n);
    }
}

fn punsubscribe(ctx: &mut Ctx, args: Args) {
    let token = ctx.client.token;
    let named: Vec<Box<[u8]>> = if args.len() > 1 {
        args.iter().skip(1).map(Into::into).collect()
    } else if ctx.client.pubsub.patterns.is_empty() {
        let n = ctx.client.pubsub.count();
        confirm(ctx, "punsubscribe", None, n);
        return;
    } else {
        ctx.client.pubsub.patterns.clone()
    };
    for pattern in named {
        if ctx.shared.pubsub.punsubscribe(&pattern, token) {
            ctx.client.pubsub.patterns.retain(|p| *p != pattern);
        }
        let n = ctx.client.pubsub.count();
        confirm(ctx, "punsubscribe", Some(&pattern), n);
    }
}

/// Publishes on a channel and replies with the number of receivers.
fn publish_to(ctx: &mut Ctx, kind: Kind, args: Args) {
    let out = &mut *ctx.out;
    let receivers = ctx.shared.pubsub.publish(
        kind,
        args.get(1),
        args.get(2),
        ctx.client.token,
        |m: &Message| {
            let start = out.mark();
            m.append_to(out, true);
            out.kept_push(start);
        },
    );
    if ctx.shared.pubsub.has_outbox() {
        ctx.shared.loop_work = true;
    }
    ctx.out.int(receivers as i64);
}

fn publish(ctx: &mut Ctx, args: Args) {
    publish_to(ctx, Kind::Classic, args);
}

fn spublish(ctx: &mut Ctx, args: Args) {
    publish_to(ctx, Kind::Shard, args);
}

/// Subcommands of PUBSUB with their arities (`pubsub|<sub>`), for dispatch and statistics.
pub const PUBSUB_SUBCOMMANDS: &[(&str, i32)] = &[
    ("channels", -2),
    ("numsub", -2),
    ("numpat", 2),
    ("shardchannels", -2),
    ("shardnumsub", -2),
    ("help", 2),
];

fn pubsub(ctx: &mut Ctx, args: Args) {
    let Some(name) = subcommand(ctx.out, "pubsub", PUBSUB_SUBCOMMANDS, args) else {
        return;
    };
    match name {
        "channels" | "shardchannels" => {
            if args.len() > 3 {
                return syntax_error(ctx, args);
            }
            let kind = if name == "channels" {
                Kind::Classic
            } else {
                Kind::Shard
            };
            let pattern = (args.len() == 3).then(|| args.get(2));
            let found = ctx.shared.pubsub.channels(kind, pattern);
            ctx.out.array(found.len());
            for c in found {
                ctx.out.bulk(c);
            }
        }
        "numsub" | "shardnumsub" => {
            let kind = if name == "numsub" {
                Kind::Classic
            } else {
                Kind::Shard
            };
            ctx.out.array((args.len() - 2) * 2);
            for channel in args.iter().skip(2) {
                ctx.out.bulk(channel);
                ctx.out.int(ctx.shared.pubsub.numsub(kind, channel) as i64);
            }
        }
        "numpat" => ctx.out.int(ctx.shared.pubsub.numpat() as i64),
        _ => {
            let lines = [
                "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "CHANNELS [<pattern>]",
                "    Return the currently active channels matching a <pattern> (default: '*').",
                "NUMPAT",
                "    Return number of subscriptions to patterns.",
                "NUMSUB [<channel> ...]",
                "    Return the number of subscribers for the specified channels, excluding",
                "    pattern subscriptions(default: no channels).",
                "SHARDCHANNELS [<pattern>]",
                "    Return the currently active shard level channels matching a <pattern> (default: '*').",
                "SHARDNUMSUB [<shardchannel> ...]",
                "    Return the number of subscribers for the specified shard level channel(s)",
                "HELP",
                "    Prints this help.",
            ];
            reply_help(ctx.out, &lines);
        }
    }
}

/// Redis's `addReplySubcommandSyntaxError`.
fn syntax_error(ctx: &mut Ctx, args: Args) {
    let upper = args.get(0).to_ascii_uppercase();
    ctx.out.error_parts(&[
        b"ERR unknown subcommand or wrong number of arguments for '",
        super::c_bytes(args.get(1), 128),
        b"'. Try ",
        &upper,
        b" HELP.",
    ]);
}
