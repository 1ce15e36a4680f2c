//! XINFO STREAM [FULL [COUNT n]], XINFO GROUPS, XINFO CONSUMERS and XINFO HELP. Replies
//! are maps (RESP3 `%`, RESP2 flat arrays), as Redis sends them.

use super::super::{Ctx, err, reply_help};
use super::groups::subcommand_syntax_error;
use super::{as_stream, c_str, reply_entries, reply_entry, reply_id};
use crate::resp::{Args, Reply};
use crate::store::stream::{Group, Log, Stream, StreamId};

const XINFO_HELP: &[&str] = &[
    "XINFO <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CONSUMERS <key> <groupname>",
    "    Show consumers of <groupname>.",
    "GROUPS <key>",
    "    Show the stream consumer groups.",
    "STREAM <key> [FULL [COUNT <count>]",
    "    Show information about the stream.",
    "HELP",
    "    Prints this help.",
];

pub fn xinfo(ctx: &mut Ctx, args: Args) {
    if args.len() < 2 {
        super::super::arity_error(ctx.out, "xinfo");
        return;
    }
    let sub = args.get(1).to_ascii_lowercase();
    if sub == b"help" {
        if args.len() != 2 {
            subcommand_syntax_error(ctx.out, args);
        } else {
            reply_help(ctx.out, XINFO_HELP);
        }
        return;
    }
    if args.len() < 3 {
        subcommand_syntax_error(ctx.out, args);
        return;
    }
    let key = args.get(2);
    let now = ctx.now;
    let (found, out) = ctx.read(key);
    let stream = match as_stream(found, out) {
        Err(()) => return,
        Ok(None) => return out.error(err::NO_SUCH_KEY),
        Ok(Some(s)) => s,
    };
    match &sub[..] {
        b"consumers" if args.len() == 4 => {
            let name = args.get(3);
            let Some(group) = stream.groups.get(name) else {
                out.error_parts(&[
                    b"NOGROUP No such consumer group '",
                    c_str(name),
                    b"' for key name '",
                    c_str(key),
                    b"'",
                ]);
                return;
            };
            out.array(group.consumer_count());
            for c in group.consumers() {
                out.map(3);
                out.bulk(b"name");
                out.bulk(&c.name);
                out.bulk(b"pending");
                out.int(c.pel.len() as i64);
                out.bulk(b"idle");
                out.int((now as i64).wrapping_sub(c.seen_time as i64).max(0));
            }
        }
        b"groups" if args.len() == 3 => {
            out.array(stream.groups.len());
            for (name, group) in &stream.groups {
                out.map(6);
                out.bulk(b"name");
                out.bulk(name);
                out.bulk(b"consumers");
                out.int(group.consumer_count() as i64);
                out.bulk(b"pending");
                out.int(group.pel.len() as i64);
                out.bulk(b"last-delivered-id");
                reply_id(out, group.last_id);
                reply_read_and_lag(out, &stream.log, group);
            }
        }
        b"stream" => reply_stream(out, stream, args),
        _ => subcommand_syntax_error(out, args),
    }
}

/// `entries-read` and `lag`, null when unknown.
fn reply_read_and_lag(out: &mut Reply, log: &Log, group: &Group) {
    out.bulk(b"entries-read");
    if group.entries_read == crate::store::stream::ENTRIES_READ_UNKNOWN {
        out.null();
    } else {
        out.int(group.entries_read);
    }
    out.bulk(b"lag");
    match log.lag(group) {
        Some(lag) => out.int(lag),
        None => out.null(),
    }
}

/// XINFO STREAM key [FULL [COUNT n]].
fn reply_stream(out: &mut Reply, stream: &Stream, args: Args) {
    let options = args.len() - 3;
    let mut full = false;
    let mut count: i64 = 10;
    if options > 0 {
        if (options != 1 && options != 3) || !args.get(3).eq_ignore_ascii_case(b"full") {
            subcommand_syntax_error(out, args);
            return;
        }
        full = true;
        if options == 3 {
            if !args.get(4).eq_ignore_ascii_case(b"count") {
                subcommand_syntax_error(out, args);
                return;
            }
            let Some(n) = crate::resp::parse_i64(args.get(5)) else {
                out.error(err::NOT_INTEGER);
                return;
            };
            count = if n < 0 { 10 } else { n };
        }
    }
    // COUNT 0 means everything.
    let limit = if count == 0 {
        usize::MAX
    } else {
        count as usize
    };
    let log = &stream.log;
    out.map(if full { 9 } else { 10 });
    out.bulk(b"length");
    out.int(log.length as i64);
    out.bulk(b"radix-tree-keys");
    out.int(log.node_count() as i64);
    // Redis reports its radix tree's inner node count; this store has no radix tree, so
    // this is the count such a tree would have for keys spread like stream IDs, about two
    // per key (an empty tree has its root).
    out.bulk(b"radix-tree-nodes");
    out.int((log.node_count() * 2).max(1) as i64);
    out.bulk(b"last-generated-id");
    reply_id(out, log.last_id);
    out.bulk(b"max-deleted-entry-id");
    reply_id(out, log.max_deleted_id);
    out.bulk(b"entries-added");
    out.int(log.entries_added as i64);
    out.bulk(b"recorded-first-entry-id");
    reply_id(out, log.first_id);
    if !full {
        out.bulk(b"groups");
        out.int(stream.groups.len() as i64);
        for (label, rev) in [(&b"first-entry"[..], false), (b"last-entry", true)] {
            out.bulk(label);
            match log.range(StreamId::MIN, StreamId::MAX, rev).next() {
                Some(entry) => reply_entry(out, &entry),
                None => out.null(),
            }
        }
        return;
    }
    out.bulk(b"entries");
    // reply_entries reads a count of 0 as everything too.
    reply_entries(
        out,
        log.range(StreamId::MIN, StreamId::MAX, false),
        count as u64,
    );
    out.bulk(b"groups");
    out.array(stream.groups.len());
    for (name, group) in &stream.groups {
        out.map(7);
        out.bulk(b"name");
        out.bulk(name);
        out.bulk(b"last-delivered-id");
        reply_id(out, group.last_id);
        reply_read_and_lag(out, log, group);
        out.bulk(b"pel-count");
        out.int(group.pel.len() as i64);
        out.bulk(b"pending");
        let shown = group.pel.len().min(limit);
        out.array(shown);
        for (id, nack) in group.pel.iter().take(shown) {
            out.array(4);
            reply_id(out, id);
            out.bulk(&group.consumer(nack.consumer).name);
            out.int(nack.delivery_time as i64);
            out.int(nack.delivery_count as i64);
        }
        out.bulk(b"consumers");
        out.array(group.consumer_count());
        for c in group.consumers() {
            out.map(4);
            out.bulk(b"name");
            out.bulk(&c.name);
            out.bulk(b"seen-time");
            out.int(c.seen_time as i64);
            out.bulk(b"pel-count");
            out.int(c.pel.len() as i64);
            out.bulk(b"pending");
            let shown = c.pel.len().min(limit);
            out.array(shown);
            for (id, ()) in c.pel.iter().take(shown) {
                let nack = group.pel.get(id);
                out.array(3);
                reply_id(out, id);
                out.int(nack.map_or(0, |n| n.delivery_time as i64));
                out.int(nack.map_or(0, |n| n.delivery_count as i64));
            }
        }
    }
}
