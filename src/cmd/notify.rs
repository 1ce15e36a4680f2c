//! Keyspace notifications (Redis's notify.c): commands report what they did to a key, and
//! when `notify-keyspace-events` selects that class of event, it is published on
//! `__keyspace@<db>__:<key>` (the event as message) and/or `__keyevent@<db>__:<event>`
//! (the key as message), through the pub/sub outbox.
//!
//! Call sites follow Redis's `notifyKeyspaceEvent` calls, in the same order relative to
//! the reply, so a RESP3 client subscribed to its own events sees them where Redis puts
//! them. With notifications off (the default) a call is one load and one branch.

use super::Ctx;
use crate::config::params::notify::{EXPIRED, KEYEVENT, KEYSPACE, NEW};
use crate::pubsub::{Kind, PubSub};
use crate::resp::Reply;

pub use crate::config::params::notify::{
    EVICTED, GENERIC, HASH, KEY_MISS, LIST, SET, STREAM, STRING, ZSET,
};

/// Publishes `event` for `key` in the client's database, if the class is selected.
#[inline]
pub fn notify(ctx: &mut Ctx, class: u32, event: &'static str, key: &[u8]) {
    if ctx.shared.params.settings.notify_keyspace_events & class == 0 {
        return;
    }
    publish_slow(ctx, class, event, key);
}

#[cold]
fn publish_slow(ctx: &mut Ctx, class: u32, event: &'static str, key: &[u8]) {
    // Events the store raised during this command (a key found expired, a key created)
    // come first, as Redis publishes them at that point of the command.
    flush_store_events(ctx);
    let db = ctx.client.db;
    publish_event(
        &mut ctx.shared.pubsub,
        ctx.shared.params.settings.notify_keyspace_events,
        db,
        class,
        event,
        key,
        Some((ctx.client.token, &mut *ctx.out)),
    );
    if ctx.shared.pubsub.has_outbox() {
        ctx.shared.loop_work = true;
    }
}

/// Publishes the events the store raised while looking keys up (a key found expired),
/// before the reply: Redis publishes `expired` inside the lookup, so a RESP3 client
/// subscribed to its own events gets the push ahead of the reply. Handlers call it where a
/// lookup came back empty and no other event (which would publish them first) follows.
#[inline]
pub fn lookup_events(ctx: &mut Ctx) {
    if ctx.store.has_events() {
        flush_store_events(ctx);
    }
}

/// [`notify`] for a key of database `db` (MOVE and COPY write to another one).
pub fn notify_db(ctx: &mut Ctx, db: usize, class: u32, event: &'static str, key: &[u8]) {
    let own = std::mem::replace(&mut ctx.client.db, db);
    notify(ctx, class, event, key);
    ctx.client.db = own;
}

/// Publishes the events the store recorded (expired, new) during the current command.
pub fn flush_store_events(ctx: &mut Ctx) {
    if !ctx.store.has_events() {
        return;
    }
    let flags = ctx.shared.params.settings.notify_keyspace_events;
    for (db, class, event, key) in ctx.store.take_events() {
        publish_event(
            &mut ctx.shared.pubsub,
            flags,
            db,
            class,
            event,
            &key,
            Some((ctx.client.token, &mut *ctx.out)),
        );
    }
    if ctx.shared.pubsub.has_outbox() {
        ctx.shared.loop_work = true;
    }
}

/// Publishes one event on the keyspace and/or keyevent channel. `caller` is the client
/// running the command, if any, with its reply buffer: its own copies go there at once.
pub fn publish_event(
    pubsub: &mut PubSub,
    flags: u32,
    db: usize,
    class: u32,
    event: &str,
    key: &[u8],
    caller: Option<(usize, &mut Reply)>,
) {
    if flags & class == 0 {
        return;
    }
    let (token, mut out) = match caller {
        Some((t, out)) => (t, Some(out)),
        None => (usize::MAX, None),
    };
    let mut own = |m: &crate::pubsub::Message| {
        if let Some(out) = out.as_deref_mut() {
            let start = out.mark();
            m.append_to(out, true);
            out.kept_push(start);
        }
    };
    if flags & KEYSPACE != 0 {
        let mut channel = format!("__keyspace@{db}__:").into_bytes();
        channel.extend_from_slice(key);
        pubsub.publish(Kind::Classic, &channel, event.as_bytes(), token, &mut own);
    }
    if flags & KEYEVENT != 0 {
        let channel = format!("__keyevent@{db}__:{event}");
        pubsub.publish(Kind::Classic, channel.as_bytes(), key, token, &mut own);
    }
}

/// The classes the store must record for `flags` (notify-keyspace-events): `expired` and
/// `new` when they are selected and some channel kind (K or E) is on.
pub fn store_classes(flags: u32) -> u32 {
    if flags & (KEYSPACE | KEYEVENT) == 0 {
        return 0;
    }
    flags & (EXPIRED | NEW)
}
