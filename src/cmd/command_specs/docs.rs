//! COMMAND DOCS: Redis 7.0's reply (server.c addReplyCommandDocs) built from the facts in
//! `specs.rs` and our texts in `prose.rs`.

use super::prose::prose;
use super::{Arg, Spec};
use crate::resp::Reply;

/// The docs map of `spec`, with `subcommands` (the ones we have) for a container.
pub fn reply_docs(out: &mut Reply, spec: &Spec, subcommands: &[&'static Spec]) {
    let text = prose(spec.name);
    let summary = text.map_or("", |t| t.summary);
    let complexity = text.map_or("", |t| t.complexity);
    let replaced_by = text.map_or("", |t| t.replaced_by);
    let history = text.map_or(&[][..], |t| t.history);
    let fields = 1
        + usize::from(!summary.is_empty())
        + usize::from(!spec.since.is_empty())
        + usize::from(!complexity.is_empty())
        + usize::from(!spec.doc_flags.is_empty())
        + usize::from(!spec.deprecated_since.is_empty())
        + usize::from(!replaced_by.is_empty())
        + usize::from(!history.is_empty())
        + usize::from(!spec.args.is_empty())
        + usize::from(!subcommands.is_empty());
    out.map(fields);
    if !summary.is_empty() {
        out.bulk(b"summary");
        out.bulk(summary.as_bytes());
    }
    if !spec.since.is_empty() {
        out.bulk(b"since");
        out.bulk(spec.since.as_bytes());
    }
    out.bulk(b"group");
    out.bulk(spec.group.as_bytes());
    if !complexity.is_empty() {
        out.bulk(b"complexity");
        out.bulk(complexity.as_bytes());
    }
    if !spec.doc_flags.is_empty() {
        out.bulk(b"doc_flags");
        reply_status_set(out, spec.doc_flags);
    }
    if !spec.deprecated_since.is_empty() {
        out.bulk(b"deprecated_since");
        out.bulk(spec.deprecated_since.as_bytes());
    }
    if !replaced_by.is_empty() {
        out.bulk(b"replaced_by");
        out.bulk(replaced_by.as_bytes());
    }
    if !history.is_empty() {
        out.bulk(b"history");
        out.set(history.len());
        for (version, change) in history {
            out.array(2);
            out.bulk(version.as_bytes());
            out.bulk(change.as_bytes());
        }
    }
    if !spec.args.is_empty() {
        out.bulk(b"arguments");
        reply_args(out, spec.args);
    }
    if !subcommands.is_empty() {
        out.bulk(b"subcommands");
        out.map(subcommands.len());
        for sub in subcommands {
            out.bulk(sub.name.as_bytes());
            reply_docs(out, sub, &[]);
        }
    }
}

/// Flags as Redis replies them: a set of status strings.
fn reply_status_set(out: &mut Reply, flags: &[&str]) {
    out.set(flags.len());
    for f in flags {
        out.simple(f);
    }
}

/// A token as COMMAND DOCS shows it. MIGRATE's empty-string token is `""` in Redis's JSON,
/// which Redis's generator pastes between quotes: C reads `""""` as an empty string, so
/// Redis shows an empty token (present, unlike a missing one).
fn shown_token(token: &str) -> &str {
    if token == "\"\"" { "" } else { token }
}

/// An argument list: one map per argument, nested for `oneof` and `block`.
fn reply_args(out: &mut Reply, args: &[Arg]) {
    out.array(args.len());
    for a in args {
        let nested = matches!(a.kind, "oneof" | "block");
        let fields = 2
            + usize::from(a.key_spec_index != -1)
            + usize::from(!a.token.is_empty())
            + usize::from(!a.since.is_empty())
            + usize::from(!a.deprecated_since.is_empty())
            + usize::from(!a.flags.is_empty())
            + usize::from(nested);
        out.map(fields);
        out.bulk(b"name");
        out.bulk(a.name.as_bytes());
        out.bulk(b"type");
        out.bulk(a.kind.as_bytes());
        if a.key_spec_index != -1 {
            out.bulk(b"key_spec_index");
            out.int(i64::from(a.key_spec_index));
        }
        if !a.token.is_empty() {
            out.bulk(b"token");
            out.bulk(shown_token(a.token).as_bytes());
        }
        if !a.since.is_empty() {
            out.bulk(b"since");
            out.bulk(a.since.as_bytes());
        }
        if !a.deprecated_since.is_empty() {
            out.bulk(b"deprecated_since");
            out.bulk(a.deprecated_since.as_bytes());
        }
        if !a.flags.is_empty() {
            out.bulk(b"flags");
            reply_status_set(out, a.flags);
        }
        if nested {
            out.bulk(b"arguments");
            reply_args(out, a.args);
        }
    }
}
