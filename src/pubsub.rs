//! Pub/sub state: who listens to which channel, pattern and shard channel, and the outbox
//! of messages waiting to be copied into their recipients' reply buffers (Redis's
//! pubsub.c). See ARCHITECTURE.md, "one client's command reaching other clients".
//!
//! Clients are named by their slab token. The registry is the server's side of each
//! subscription; the client's side (what it listens to, for replies that count its
//! subscriptions and for unsubscribing it from everything) is [`Subscriptions`], kept in
//! the client.

use std::collections::HashMap;
use std::rc::Rc;

use crate::metrics::stats::{Stats, set};
use crate::resp::{Reply, format_i64};
use crate::util::glob_match;

/// Which of the two channel namespaces: classic channels, or shard channels
/// (SSUBSCRIBE, SPUBLISH), which patterns never match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// SUBSCRIBE / PUBLISH.
    Classic,
    /// SSUBSCRIBE / SPUBLISH.
    Shard,
}

/// A message encoded once, in both protocols; each recipient gets the one it speaks.
#[derive(Debug, Clone)]
pub struct Message {
    /// Empty when RESP2 clients get nothing (a tracking push).
    resp2: Rc<[u8]>,
    resp3: Rc<[u8]>,
    /// A RESP2 client gets it only while it is in pub/sub mode (a redirected invalidation).
    resp2_if_subscribed: bool,
    /// Clock ticks ([`crate::clock`]) when it was published; 0 for a push that is not a
    /// published message, which the pub/sub metrics neither count nor time.
    published: u64,
}

impl Message {
    /// A push of `parts` as bulk strings: `*n` in RESP2, `>n` in RESP3.
    pub fn push(parts: &[&[u8]]) -> Message {
        let mut body = Vec::with_capacity(parts.iter().map(|p| p.len() + 16).sum());
        for p in parts {
            body.push(b'$');
            let mut digits = [0u8; 20];
            body.extend_from_slice(format_i64(p.len() as i64, &mut digits));
            body.extend_from_slice(b"\r\n");
            body.extend_from_slice(p);
            body.extend_from_slice(b"\r\n");
        }
        let frame = |t: u8| -> Rc<[u8]> {
            let mut f = Vec::with_capacity(body.len() + 8);
            f.push(t);
            let mut digits = [0u8; 20];
            f.extend_from_slice(format_i64(parts.len() as i64, &mut digits));
            f.extend_from_slice(b"\r\n");
            f.extend_from_slice(&body);
            f.into()
        };
        Message {
            resp2: frame(b'*'),
            resp3: frame(b'>'),
            resp2_if_subscribed: false,
            published: 0,
        }
    }

    /// Bytes that are the same in both protocols (a MONITOR line).
    pub fn same(bytes: Vec<u8>) -> Message {
        let frame: Rc<[u8]> = bytes.into();
        Message {
            resp2: Rc::clone(&frame),
            resp3: frame,
            resp2_if_subscribed: false,
            published: 0,
        }
    }

    /// A push only RESP3 clients get (RESP2 has no push type).
    pub fn resp3_only(resp3: Vec<u8>) -> Message {
        Message {
            resp2: Rc::from(&[][..]),
            resp3: resp3.into(),
            resp2_if_subscribed: false,
            published: 0,
        }
    }

    /// A redirected invalidation: a push for RESP3, a pub/sub message for a RESP2 client
    /// in pub/sub mode, nothing for other RESP2 clients.
    pub fn invalidation(resp2: Vec<u8>, resp3: Vec<u8>) -> Message {
        Message {
            resp2: resp2.into(),
            resp3: resp3.into(),
            resp2_if_subscribed: true,
            published: 0,
        }
    }

    /// What a recipient gets, by its protocol and whether it is in pub/sub mode (empty:
    /// nothing).
    pub fn for_client(&self, resp3: bool, subscribed: bool) -> &[u8] {
        if resp3 {
            &self.resp3
        } else if self.resp2_if_subscribed && !subscribed {
            &[]
        } else {
            &self.resp2
        }
    }

    /// The encoding for a client speaking RESP3 (`true`) or RESP2.
    pub fn bytes(&self, resp3: bool) -> &[u8] {
        if resp3 { &self.resp3 } else { &self.resp2 }
    }

    /// Appends the message to a recipient's reply buffer, in the form it gets (see
    /// [`Message::for_client`]; `subscribed`: the recipient is in pub/sub mode). A
    /// published message joins the buffer's batch of deliveries awaiting their write (the
    /// delivery latency); returns true for those, which count as delivered.
    #[inline]
    pub fn append_to(&self, out: &mut Reply, subscribed: bool) -> bool {
        let bytes = self.for_client(out.is_resp3(), subscribed);
        if bytes.is_empty() {
            return false;
        }
        out.raw(bytes);
        if self.published == 0 {
            return false;
        }
        out.delivered(self.published);
        true
    }
}

/// What one client listens to (Redis's `c->pubsub_channels`, `c->pubsub_patterns`,
/// `c->pubsubshard_channels`).
#[derive(Debug, Default)]
pub struct Subscriptions {
    /// Channels, in subscription order.
    pub channels: Vec<Box<[u8]>>,
    /// Patterns, in subscription order.
    pub patterns: Vec<Box<[u8]>>,
    /// Shard channels, in subscription order.
    pub shard: Vec<Box<[u8]>>,
}

impl Subscriptions {
    /// Channels and patterns (what SUBSCRIBE and PSUBSCRIBE replies count).
    pub fn count(&self) -> usize {
        self.channels.len() + self.patterns.len()
    }

    /// Every subscription of any kind: a client with one is in pub/sub mode.
    pub fn total(&self) -> usize {
        self.count() + self.shard.len()
    }

    /// The list of one kind of channel.
    pub fn of(&mut self, kind: Kind) -> &mut Vec<Box<[u8]>> {
        match kind {
            Kind::Classic => &mut self.channels,
            Kind::Shard => &mut self.shard,
        }
    }
}

/// After a write to a client: when it completed the client's batch of pub/sub messages
/// (see [`Reply::delivered`]), records their delivery latency: one observation per message,
/// each with the age of the batch's oldest message (an upper bound for the others; exact
/// for a message alone in its batch). One branch for a client with no message pending.
#[inline]
pub fn record_written(out: &mut Reply, stats: &Stats) {
    if let Some((count, oldest)) = out.take_written_deliveries() {
        let ns = crate::clock::nanos_between(oldest, crate::clock::ticks());
        stats.pubsub_delivery.record_n(ns, count);
    }
}

type Registry = HashMap<Box<[u8]>, Vec<usize>, ahash::RandomState>;

/// The server's side of every subscription, and the messages waiting for delivery.
#[derive(Debug, Default)]
pub struct PubSub {
    channels: Registry,
    shard: Registry,
    /// Pattern -> subscribers, with the patterns in the order they were first subscribed.
    patterns: Vec<(Box<[u8]>, Vec<usize>)>,
    /// Messages to copy into other clients' reply buffers after the current command.
    outbox: Vec<(usize, Message)>,
    /// Subscriptions of each client (channels, patterns and shard channels), by token.
    per_client: Vec<u32>,
    /// Clients with at least one subscription (nonzero entries of `per_client`).
    clients: usize,
    /// Publish operations since the server started (PUBLISH, SPUBLISH, notifications).
    pub published: u64,
    /// Copies of published messages appended to subscribers' reply buffers since the
    /// server started: the publisher's own, counted here, and the outbox's, counted by
    /// the event loop as it appends them (a recipient closing by then gets none).
    pub delivered: u64,
}

impl PubSub {
    fn registry(&mut self, kind: Kind) -> &mut Registry {
        match kind {
            Kind::Classic => &mut self.channels,
            Kind::Shard => &mut self.shard,
        }
    }

    fn registry_ref(&self, kind: Kind) -> &Registry {
        match kind {
            Kind::Classic => &self.channels,
            Kind::Shard => &self.shard,
        }
    }

    /// One more subscription for `token`.
    fn count_subscription(&mut self, token: usize) {
        if token >= self.per_client.len() {
            self.per_client.resize(token + 1, 0);
        }
        self.per_client[token] += 1;
        if self.per_client[token] == 1 {
            self.clients += 1;
        }
    }

    /// One subscription less for `token`.
    fn count_unsubscription(&mut self, token: usize) {
        if let Some(n) = self.per_client.get_mut(token) {
            *n -= 1;
            if *n == 0 {
                self.clients -= 1;
            }
        }
    }

    /// Adds `token` to a channel's subscribers; false if it was already there.
    pub fn subscribe(&mut self, kind: Kind, channel: &[u8], token: usize) -> bool {
        let subs = self.registry(kind).entry(channel.into()).or_default();
        if subs.contains(&token) {
            return false;
        }
        subs.push(token);
        self.count_subscription(token);
        true
    }

    /// Removes `token` from a channel's subscribers; false if it was not there.
    pub fn unsubscribe(&mut self, kind: Kind, channel: &[u8], token: usize) -> bool {
        let registry = self.registry(kind);
        let Some(subs) = registry.get_mut(channel) else {
            return false;
        };
        let Some(i) = subs.iter().position(|&t| t == token) else {
            return false;
        };
        subs.remove(i);
        if subs.is_empty() {
            // Dropped at once, so that millions of short-lived channels leave nothing.
            registry.remove(channel);
        }
        self.count_unsubscription(token);
        true
    }

    /// Adds `token` to a pattern's subscribers; false if it was already there.
    pub fn psubscribe(&mut self, pattern: &[u8], token: usize) -> bool {
        match self.patterns.iter_mut().find(|(p, _)| **p == *pattern) {
            Some((_, subs)) if subs.contains(&token) => false,
            Some((_, subs)) => {
                subs.push(token);
                self.count_subscription(token);
                true
            }
            None => {
                self.patterns.push((pattern.into(), vec![token]));
                self.count_subscription(token);
                true
            }
        }
    }

    /// Removes `token` from a pattern's subscribers; false if it was not there.
    pub fn punsubscribe(&mut self, pattern: &[u8], token: usize) -> bool {
        let Some(at) = self.patterns.iter().position(|(p, _)| **p == *pattern) else {
            return false;
        };
        let subs = &mut self.patterns[at].1;
        let Some(i) = subs.iter().position(|&t| t == token) else {
            return false;
        };
        subs.remove(i);
        if subs.is_empty() {
            self.patterns.remove(at);
        }
        self.count_unsubscription(token);
        true
    }

    /// Removes a client from everything it listens to, without replying (the client
    /// disconnected, or RESET).
    pub fn forget(&mut self, subs: &mut Subscriptions, token: usize) {
        for c in std::mem::take(&mut subs.channels) {
            self.unsubscribe(Kind::Classic, &c, token);
        }
        for c in std::mem::take(&mut subs.shard) {
            self.unsubscribe(Kind::Shard, &c, token);
        }
        for p in std::mem::take(&mut subs.patterns) {
            self.punsubscribe(&p, token);
        }
    }

    /// Publishes `message` on `channel`: queues it for every subscriber of the channel and
    /// (classic channels only) of every matching pattern, each message encoded once and
    /// stamped with the clock (for the delivery latency). `publisher` (the caller's token)
    /// gets its own copies written through `own` (which should append them with
    /// [`Message::append_to`]), so they precede the command's reply. Returns the number of
    /// receivers.
    pub fn publish(
        &mut self,
        kind: Kind,
        channel: &[u8],
        message: &[u8],
        publisher: usize,
        mut own: impl FnMut(&Message),
    ) -> usize {
        self.published += 1;
        let mut receivers = 0;
        // One clock read per publish that reaches someone.
        let mut tick = 0;
        let mut stamp = |mut m: Message| {
            if tick == 0 {
                tick = crate::clock::ticks().max(1);
            }
            m.published = tick;
            m
        };
        // Disjoint fields: the registry is read while the outbox grows.
        let registry = match kind {
            Kind::Classic => &self.channels,
            Kind::Shard => &self.shard,
        };
        if let Some(subs) = registry.get(channel) {
            let word: &[u8] = match kind {
                Kind::Classic => b"message",
                Kind::Shard => b"smessage",
            };
            let msg = stamp(Message::push(&[word, channel, message]));
            for &t in subs {
                if t == publisher {
                    own(&msg);
                    self.delivered += 1;
                } else {
                    self.outbox.push((t, msg.clone()));
                }
            }
            receivers += subs.len();
        }
        if kind == Kind::Shard {
            return receivers;
        }
        for (pattern, subs) in &self.patterns {
            if !glob_match(pattern, channel, false) {
                continue;
            }
            let msg = stamp(Message::push(&[b"pmessage", pattern, channel, message]));
            for &t in subs {
                if t == publisher {
                    own(&msg);
                    self.delivered += 1;
                } else {
                    self.outbox.push((t, msg.clone()));
                }
            }
            receivers += subs.len();
        }
        receivers
    }

    /// Queues a message for one client.
    pub fn send(&mut self, token: usize, message: Message) {
        self.outbox.push((token, message));
    }

    /// How many messages are queued.
    pub fn outbox_len(&self) -> usize {
        self.outbox.len()
    }

    /// Takes the messages for `token` queued since the outbox held `since` messages, in
    /// order, leaving the others queued.
    pub fn take_queued_for(&mut self, token: usize, since: usize) -> Vec<Message> {
        let mut taken = Vec::new();
        let mut i = since;
        while i < self.outbox.len() {
            if self.outbox[i].0 == token {
                taken.push(self.outbox.remove(i).1);
            } else {
                i += 1;
            }
        }
        taken
    }

    /// Takes the queued messages, in order.
    pub fn take_outbox(&mut self) -> Vec<(usize, Message)> {
        std::mem::take(&mut self.outbox)
    }

    /// Gives back an emptied outbox, to keep its allocation.
    pub fn return_outbox(&mut self, mut emptied: Vec<(usize, Message)>) {
        if self.outbox.is_empty() {
            emptied.clear();
            self.outbox = emptied;
        }
    }

    /// True when messages wait for delivery.
    pub fn has_outbox(&self) -> bool {
        !self.outbox.is_empty()
    }

    /// Channels of a kind with at least one subscriber, matching `pattern` if given.
    pub fn channels(&self, kind: Kind, pattern: Option<&[u8]>) -> Vec<&[u8]> {
        self.registry_ref(kind)
            .keys()
            .map(|c| &**c)
            .filter(|c| pattern.is_none_or(|p| glob_match(p, c, false)))
            .collect()
    }

    /// Subscribers of a channel.
    pub fn numsub(&self, kind: Kind, channel: &[u8]) -> usize {
        self.registry_ref(kind).get(channel).map_or(0, Vec::len)
    }

    /// Patterns with at least one subscriber (PUBSUB NUMPAT, INFO pubsub_patterns).
    pub fn numpat(&self) -> usize {
        self.patterns.len()
    }

    /// Channels with at least one subscriber (INFO pubsub_channels).
    pub fn numchannels(&self) -> usize {
        self.channels.len()
    }

    /// Shard channels with at least one subscriber (INFO pubsubshard_channels).
    pub fn numshardchannels(&self) -> usize {
        self.shard.len()
    }

    /// Clients subscribed to at least one channel, pattern or shard channel.
    pub fn numclients(&self) -> usize {
        self.clients
    }

    /// Publishes the pub/sub gauges and counters for the metrics thread (a few stores,
    /// each loop turn).
    pub fn publish_stats(&self, stats: &Stats) {
        set(&stats.pubsub_clients, self.clients as u64);
        set(&stats.pubsub_channels, self.channels.len() as u64);
        set(&stats.pubsub_patterns, self.patterns.len() as u64);
        set(&stats.pubsub_shard_channels, self.shard.len() as u64);
        set(&stats.pubsub_published, self.published);
        set(&stats.pubsub_delivered, self.delivered);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_encoded_in_both_protocols() {
        let m = Message::push(&[b"message", b"ch", b"hi"]);
        assert_eq!(
            m.bytes(false),
            b"*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n"
        );
        assert_eq!(
            m.bytes(true),
            b">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n"
        );
    }

    #[test]
    fn publish_reaches_channels_and_matching_patterns() {
        let mut ps = PubSub::default();
        assert!(ps.subscribe(Kind::Classic, b"news", 1));
        assert!(!ps.subscribe(Kind::Classic, b"news", 1));
        assert!(ps.subscribe(Kind::Classic, b"news", 2));
        assert!(ps.psubscribe(b"n*", 2));
        assert!(ps.psubscribe(b"x*", 3));
        let mut own = 0;
        assert_eq!(
            ps.publish(Kind::Classic, b"news", b"hi", 1, |_| own += 1),
            3
        );
        assert_eq!(own, 1);
        let out = ps.take_outbox();
        assert_eq!(out.iter().map(|(t, _)| *t).collect::<Vec<_>>(), [2, 2]);
        assert!(
            out[1]
                .1
                .bytes(false)
                .starts_with(b"*4\r\n$8\r\npmessage\r\n$2\r\nn*\r\n")
        );
        // Shard channels are another namespace, and patterns do not see them.
        assert_eq!(ps.publish(Kind::Shard, b"news", b"hi", 9, |_| ()), 0);
        assert!(ps.unsubscribe(Kind::Classic, b"news", 1));
        assert!(ps.unsubscribe(Kind::Classic, b"news", 2));
        assert_eq!(ps.numchannels(), 0);
        assert!(ps.punsubscribe(b"n*", 2));
        assert_eq!(ps.numpat(), 1);
    }

    #[test]
    fn clients_count_once_whatever_they_listen_to() {
        let mut ps = PubSub::default();
        ps.subscribe(Kind::Classic, b"a", 4);
        ps.subscribe(Kind::Classic, b"b", 4);
        ps.psubscribe(b"*", 4);
        ps.subscribe(Kind::Shard, b"s", 9);
        assert!(!ps.subscribe(Kind::Classic, b"a", 4));
        assert_eq!(ps.numclients(), 2);
        assert_eq!(ps.numshardchannels(), 1);
        ps.unsubscribe(Kind::Classic, b"a", 4);
        ps.punsubscribe(b"*", 4);
        assert!(!ps.unsubscribe(Kind::Classic, b"a", 4));
        assert_eq!(ps.numclients(), 2);
        ps.unsubscribe(Kind::Classic, b"b", 4);
        assert_eq!(ps.numclients(), 1);
        ps.unsubscribe(Kind::Shard, b"s", 9);
        assert_eq!(ps.numclients(), 0);
    }

    // Recording is compiled out with `bench-no-metrics`.
    #[cfg(not(feature = "bench-no-metrics"))]
    #[test]
    fn published_messages_are_stamped_counted_and_batched() {
        crate::clock::init();
        let mut ps = PubSub::default();
        ps.subscribe(Kind::Classic, b"ch", 1);
        ps.subscribe(Kind::Classic, b"ch", 2);
        ps.psubscribe(b"c*", 2);
        let mut own = Reply::new();
        assert_eq!(
            ps.publish(Kind::Classic, b"ch", b"hi", 1, |m| {
                assert!(m.append_to(&mut own, true));
            }),
            3
        );
        assert_eq!(ps.publish(Kind::Classic, b"nobody", b"hi", 1, |_| ()), 0);
        assert_eq!(ps.published, 2);
        // The publisher's own copy is counted at once; the event loop counts the others.
        assert_eq!(ps.delivered, 1);
        let mut out = Reply::new();
        for (_, m) in ps.take_outbox() {
            assert!(m.append_to(&mut out, true));
        }
        // A push that is not a published message is neither counted nor timed.
        assert!(!Message::push(&[b"x"]).append_to(&mut out, true));
        let stats = Stats::new(vec![], 1);
        out.consume(out.len());
        record_written(&mut out, &stats);
        let (_, total) = stats.pubsub_delivery.cumulative_buckets();
        assert_eq!(total, 2, "one observation per message of the batch");
        record_written(&mut out, &stats);
        assert_eq!(stats.pubsub_delivery.cumulative_buckets().1, 2);
    }

    #[test]
    fn forget_removes_every_subscription() {
        let mut ps = PubSub::default();
        let mut subs = Subscriptions::default();
        for c in [&b"a"[..], b"b"] {
            ps.subscribe(Kind::Classic, c, 7);
            subs.channels.push(c.into());
        }
        ps.subscribe(Kind::Shard, b"s", 7);
        subs.shard.push((&b"s"[..]).into());
        ps.psubscribe(b"*", 7);
        subs.patterns.push((&b"*"[..]).into());
        ps.forget(&mut subs, 7);
        assert_eq!(subs.total(), 0);
        assert_eq!(ps.numchannels() + ps.numpat(), 0);
        assert_eq!(ps.numsub(Kind::Shard, b"s"), 0);
    }
}
