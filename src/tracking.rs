//! Client-side caching: who may hold a copy of which key, and the invalidation messages
//! sent when a key changes (Redis's tracking.c). See ARCHITECTURE.md, "one client's command
//! reaching other clients".
//!
//! Two modes, as in Redis:
//! * **default**: after a read-only command of a tracking client, its keys are remembered
//!   with the client's id (the table is global, not per database). When one of them
//!   changes, each remembered client gets one invalidation and the key is forgotten.
//! * **BCAST**: the client names prefixes; every change of a key under a prefix is
//!   collected, and at the end of the loop turn each prefix's clients get one message
//!   listing its changed keys (sorted, as Redis's radix tree lists them).
//!
//! Messages go through the pub/sub outbox. A RESP3 client gets `>2 invalidate [keys]`; a
//! client whose messages are redirected (REDIRECT id) gets them at that client: as a push if
//! it speaks RESP3, or as a `__redis__:invalidate` pub/sub message if it speaks RESP2 and
//! is subscribed to something. A RESP2 client without redirection gets nothing (RESP2 has no
//! way to tell a push from a reply). Clients are named by id, as Redis does, so an entry
//! of a client that has gone simply finds nobody.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::pubsub::{Message, PubSub};
use crate::resp::format_i64;

/// One client's tracking settings (CLIENT TRACKING options, CLIENT CACHING).
#[derive(Debug, Default, Clone)]
pub struct ClientTracking {
    /// Id of the client that gets this one's invalidations (0 = itself).
    pub redirect: u64,
    /// BCAST mode.
    pub bcast: bool,
    /// OPTIN: keys are remembered only after CLIENT CACHING YES.
    pub optin: bool,
    /// OPTOUT: keys are remembered unless CLIENT CACHING NO.
    pub optout: bool,
    /// NOLOOP: no invalidation for the client's own changes.
    pub noloop: bool,
    /// CLIENT CACHING was given for the next command (or transaction).
    pub caching: bool,
    /// The redirection target has gone (CLIENT LIST flag R).
    pub broken_redirect: bool,
    /// BCAST prefixes, sorted.
    pub prefixes: BTreeSet<Box<[u8]>>,
}

/// The state of one BCAST prefix.
#[derive(Debug, Default)]
struct Prefix {
    /// Keys changed since the last broadcast, with the id of the client that changed each
    /// last (0 = none: an expiry), for NOLOOP.
    keys: BTreeMap<Box<[u8]>, u64>,
    /// Ids of the clients listening to this prefix.
    clients: Vec<u64>,
}

/// Where messages go: the id -> slab token directory and the outbox.
pub struct Sink<'a> {
    /// Connected clients by id.
    pub ids: &'a HashMap<u64, usize>,
    /// The outbox.
    pub pubsub: &'a mut PubSub,
}

/// The server's tracking state.
#[derive(Debug, Default)]
pub struct Tracking {
    /// Tracking clients by id.
    clients: HashMap<u64, ClientTracking>,
    /// Key -> ids of the clients that may cache it (Redis's TrackingTable).
    table: HashMap<Box<[u8]>, Vec<u64>>,
    /// Ids in the table, over all keys (INFO tracking_total_items).
    items: usize,
    /// BCAST prefixes (Redis's PrefixTable).
    prefixes: BTreeMap<Box<[u8]>, Prefix>,
    /// Some prefix has changed keys to broadcast at the end of the loop turn.
    bcast_pending: bool,
    /// Times in a row the table limit could not be reached (Redis's effort counter).
    limit_attempts: usize,
}

/// The RESP of an array of keys (the same in both protocols).
fn keys_array<'k>(keys: impl ExactSizeIterator<Item = &'k [u8]>) -> Vec<u8> {
    let mut out = Vec::new();
    let mut digits = [0u8; 20];
    out.push(b'*');
    out.extend_from_slice(format_i64(keys.len() as i64, &mut digits));
    out.extend_from_slice(b"\r\n");
    for k in keys {
        out.push(b'$');
        out.extend_from_slice(format_i64(k.len() as i64, &mut digits));
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(k);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// What an invalidation says: these keys, or (after a flush) every key.
enum Payload {
    Keys(Vec<u8>),
    All,
}

impl Tracking {
    /// True when at least one client tracks (otherwise nothing here costs anything).
    #[inline]
    pub fn active(&self) -> bool {
        !self.clients.is_empty()
    }

    /// The tracking settings of client `id`, if it tracks.
    pub fn client(&self, id: u64) -> Option<&ClientTracking> {
        self.clients.get(&id)
    }

    /// Mutable settings of client `id`, if it tracks.
    pub fn client_mut(&mut self, id: u64) -> Option<&mut ClientTracking> {
        self.clients.get_mut(&id)
    }

    /// Number of tracking clients (INFO tracking_clients).
    pub fn clients(&self) -> usize {
        self.clients.len()
    }

    /// Keys in the table (INFO tracking_total_keys).
    pub fn total_keys(&self) -> usize {
        self.table.len()
    }

    /// Client ids in the table over all keys (INFO tracking_total_items).
    pub fn total_items(&self) -> usize {
        self.items
    }

    /// BCAST prefixes (INFO tracking_total_prefixes).
    pub fn total_prefixes(&self) -> usize {
        self.prefixes.len()
    }

    /// Turns tracking on for client `id` (Redis's enableTracking): the mode flags are
    /// replaced, BCAST prefixes are added to those it already has.
    pub fn enable(&mut self, id: u64, settings: ClientTracking, new_prefixes: &[&[u8]]) {
        let st = self.clients.entry(id).or_default();
        st.redirect = settings.redirect;
        st.broken_redirect = false;
        st.bcast = settings.bcast;
        st.optin = settings.optin;
        st.optout = settings.optout;
        st.noloop = settings.noloop;
        if settings.bcast {
            let wanted: Vec<&[u8]> = if new_prefixes.is_empty() {
                vec![b""]
            } else {
                new_prefixes.to_vec()
            };
            for p in wanted {
                let prefix = self.prefixes.entry(p.into()).or_default();
                if !prefix.clients.contains(&id) {
                    prefix.clients.push(id);
                    st.prefixes.insert(p.into());
                }
            }
        }
    }

    /// Turns tracking off for client `id` (CLIENT TRACKING OFF, RESET, disconnect). Its
    /// entries in the key table stay, as in Redis, and are skipped when found.
    pub fn disable(&mut self, id: u64) {
        let Some(st) = self.clients.remove(&id) else {
            return;
        };
        for p in &st.prefixes {
            if let Some(prefix) = self.prefixes.get_mut(p) {
                prefix.clients.retain(|&c| c != id);
                if prefix.clients.is_empty() {
                    self.prefixes.remove(p);
                }
            }
        }
    }

    /// Remembers that client `id` may now cache `keys` (after a read-only command).
    pub fn remember<'k>(&mut self, id: u64, keys: impl Iterator<Item = &'k [u8]>) {
        for key in keys {
            let ids = match self.table.get_mut(key) {
                Some(ids) => ids,
                None => self.table.entry(key.into()).or_default(),
            };
            if !ids.contains(&id) {
                ids.push(id);
                self.items += 1;
            }
        }
    }

    /// Key `key` changed (Redis's trackingInvalidateKey): BCAST prefixes collect it (when
    /// `bcast`), and each client that may cache it is told, except a NOLOOP client about its
    /// own change. `modifier` is the client that changed it (None for an expiry), `current`
    /// the client whose command is running (None outside commands).
    pub fn invalidate(
        &mut self,
        sink: &mut Sink,
        key: &[u8],
        modifier: Option<u64>,
        current: Option<u64>,
        bcast: bool,
    ) {
        if bcast && !self.prefixes.is_empty() {
            for (p, prefix) in self.prefixes.iter_mut() {
                if key.starts_with(p) {
                    prefix.keys.insert(key.into(), modifier.unwrap_or(0));
                    self.bcast_pending = true;
                }
            }
        }
        let Some(ids) = self.table.remove(key) else {
            return;
        };
        self.items -= ids.len();
        for id in ids {
            let Some(st) = self.clients.get(&id) else {
                continue;
            };
            if st.bcast || (st.noloop && current == Some(id)) {
                continue;
            }
            let payload = Payload::Keys(keys_array(std::iter::once(key)));
            self.send(sink, id, payload);
        }
    }

    /// Every key is invalid (FLUSHALL, FLUSHDB, SWAPDB): each tracking client is told with a
    /// null, and the table is emptied.
    pub fn invalidate_all(&mut self, sink: &mut Sink) {
        let ids: Vec<u64> = self.clients.keys().copied().collect();
        for id in ids {
            self.send(sink, id, Payload::All);
        }
        self.table.clear();
        self.items = 0;
    }

    /// True when BCAST messages wait for the end of the loop turn.
    #[inline]
    pub fn bcast_pending(&self) -> bool {
        self.bcast_pending
    }

    /// Sends each BCAST prefix's changed keys to its clients, once per loop turn (Redis's
    /// trackingBroadcastInvalidationMessages). A NOLOOP client's list leaves out the keys
    /// it changed itself, and it gets nothing if that leaves none.
    pub fn broadcast(&mut self, sink: &mut Sink) {
        self.bcast_pending = false;
        let mut sends = Vec::new();
        for prefix in self.prefixes.values_mut() {
            if prefix.keys.is_empty() {
                continue;
            }
            let keys = std::mem::take(&mut prefix.keys);
            let all = keys_array(keys.keys().map(|k| &k[..]));
            for &id in &prefix.clients {
                let noloop = self.clients.get(&id).is_some_and(|st| st.noloop);
                if noloop {
                    let mine: Vec<&[u8]> = keys
                        .iter()
                        .filter(|(_, by)| **by != id)
                        .map(|(k, _)| &k[..])
                        .collect();
                    if !mine.is_empty() {
                        sends.push((id, keys_array(mine.into_iter())));
                    }
                } else {
                    sends.push((id, all.clone()));
                }
            }
        }
        for (id, payload) in sends {
            self.send(sink, id, Payload::Keys(payload));
        }
    }

    /// Keeps the key table within `max` keys (tracking-table-max-keys, 0 = no limit): keys
    /// are dropped, their clients told as if the keys had changed. The work per call grows
    /// each time in a row that the limit is still not met (Redis's trackingLimitUsedSlots).
    pub fn limit(&mut self, sink: &mut Sink, max: u64) {
        if max == 0 || self.table.len() as u64 <= max {
            self.limit_attempts = 0;
            return;
        }
        let mut effort = 100 * (self.limit_attempts + 1);
        while effort > 0 && self.table.len() as u64 > max {
            effort -= 1;
            let Some(key) = self.table.keys().next().cloned() else {
                break;
            };
            self.invalidate(sink, &key, None, None, false);
        }
        if self.table.len() as u64 > max {
            self.limit_attempts += 1;
        } else {
            self.limit_attempts = 0;
        }
    }

    /// Sends an invalidation meant for tracking client `id` (Redis's sendTrackingMessage):
    /// to it, or to the client it redirects to. A redirection to a client that has gone
    /// marks it broken and, in RESP3, tells the tracking client.
    fn send(&mut self, sink: &mut Sink, id: u64, payload: Payload) {
        let Some(st) = self.clients.get_mut(&id) else {
            return;
        };
        let Some(&own_token) = sink.ids.get(&id) else {
            return;
        };
        let (token, redirected) = if st.redirect != 0 {
            match sink.ids.get(&st.redirect) {
                Some(&t) => (t, true),
                None => {
                    st.broken_redirect = true;
                    let mut push = b"$21\r\ntracking-redir-broken\r\n:".to_vec();
                    let mut digits = [0u8; 20];
                    push.extend_from_slice(format_i64(st.redirect as i64, &mut digits));
                    push.extend_from_slice(b"\r\n");
                    let mut resp3 = b">2\r\n".to_vec();
                    resp3.extend_from_slice(&push);
                    sink.pubsub.send(own_token, Message::resp3_only(resp3));
                    return;
                }
            }
        } else {
            (own_token, false)
        };
        let (body2, body3): (Vec<u8>, Vec<u8>) = match payload {
            Payload::Keys(keys) => (keys.clone(), keys),
            Payload::All => (b"$-1\r\n".to_vec(), b"_\r\n".to_vec()),
        };
        let mut resp3 = b">2\r\n$10\r\ninvalidate\r\n".to_vec();
        resp3.extend_from_slice(&body3);
        let message = if redirected {
            // A RESP2 target gets it as a message of the __redis__:invalidate channel,
            // provided it is in pub/sub mode.
            let mut resp2 = b"*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n".to_vec();
            resp2.extend_from_slice(&body2);
            Message::invalidation(resp2, resp3)
        } else {
            Message::resp3_only(resp3)
        };
        sink.pubsub.send(token, message);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_forgotten_once_invalidated() {
        let mut t = Tracking::default();
        t.enable(1, ClientTracking::default(), &[]);
        t.remember(1, [&b"a"[..], b"b"].into_iter());
        t.remember(1, [&b"a"[..]].into_iter());
        assert_eq!((t.total_keys(), t.total_items()), (2, 2));
        let ids = HashMap::from([(1, 7)]);
        let mut pubsub = PubSub::default();
        let mut sink = Sink {
            ids: &ids,
            pubsub: &mut pubsub,
        };
        t.invalidate(&mut sink, b"a", Some(2), Some(2), true);
        assert_eq!((t.total_keys(), t.total_items()), (1, 1));
        let out = pubsub.take_outbox();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].0, 7);
        assert_eq!(
            out[0].1.bytes(true),
            b">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\na\r\n"
        );
        // Not redirected: nothing for a RESP2 connection.
        assert!(out[0].1.bytes(false).is_empty());
    }

    #[test]
    fn prefixes_collect_keys_and_noloop_skips_own_changes() {
        let mut t = Tracking::default();
        let bcast = ClientTracking {
            bcast: true,
            noloop: true,
            ..Default::default()
        };
        t.enable(1, bcast, &[b"user:"]);
        let ids = HashMap::from([(1, 7), (2, 8)]);
        let mut pubsub = PubSub::default();
        let mut sink = Sink {
            ids: &ids,
            pubsub: &mut pubsub,
        };
        t.invalidate(&mut sink, b"user:b", Some(2), Some(2), true);
        t.invalidate(&mut sink, b"user:a", Some(1), Some(1), true);
        t.invalidate(&mut sink, b"other", Some(2), Some(2), true);
        assert!(t.bcast_pending());
        t.broadcast(&mut sink);
        let out = pubsub.take_outbox();
        assert_eq!(out.len(), 1);
        assert_eq!(
            out[0].1.bytes(true),
            b">2\r\n$10\r\ninvalidate\r\n*1\r\n$6\r\nuser:b\r\n"
        );
        t.disable(1);
        assert_eq!(t.total_prefixes(), 0);
        assert!(!t.active());
    }
}
