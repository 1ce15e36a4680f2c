//! Client-side caching (CLIENT TRACKING and friends) against redis-server 7.0: the same
//! scenario runs on both servers and the raw transcripts (replies, pushes and redirected
//! pub/sub messages) must be equal.

mod common;

use std::time::Duration;

use common::{Client, info_field, same_on_both, text, wait_for};

/// `s` with the client id `id` hidden where it stands as an integer reply or a CLIENT
/// LIST field (ids differ between the two servers).
fn hide_id(s: String, id: &str) -> String {
    s.replace(&format!(":{id}\r\n"), ":ID\r\n")
        .replace(&format!("redir={id}"), "redir=ID")
}

/// A client subscribed to `__redis__:invalidate`, and its id (for REDIRECT).
fn redirect_target(port: u16) -> (Client, String) {
    let mut c = Client::connect(port);
    let id = text(c.cmd("CLIENT ID"));
    let id = id.trim_start_matches(':').trim_end().to_string();
    c.cmd("SUBSCRIBE __redis__:invalidate");
    (c, id)
}

#[test]
fn redirected_invalidations_reach_a_resp2_subscriber() {
    same_on_both(|port| {
        let mut admin = Client::connect(port);
        admin.cmd("FLUSHALL");
        let (mut redir, id) = redirect_target(port);
        let mut r = Client::connect(port);
        let mut t = vec![text(r.cmd(&format!("CLIENT TRACKING on REDIRECT {id}")))];
        t.push(text(r.cmd("GET a")));
        t.push(text(r.cmd("MGET b c")));
        // A change by another client, then by the tracking client itself.
        t.push(text(admin.cmd("SET a 1")));
        t.push(text(redir.read_reply()));
        t.push(text(r.cmd("SET b 2")));
        t.push(text(redir.read_reply()));
        // Invalidated keys are forgotten: a second change sends nothing, until read again.
        admin.cmd("SET a 2");
        r.cmd("GET c");
        admin.cmd("SET c 1");
        t.push(text(redir.read_reply()));
        t.push(hide_id(text(r.cmd("CLIENT GETREDIR")), &id));
        t.push(text(r.cmd("CLIENT TRACKING off")));
        t.push(text(r.cmd("CLIENT GETREDIR")));
        r.cmd("GET a");
        admin.cmd("SET a 3");
        // Nothing arrived for that last change: the next message is this PING's.
        t.push(text(redir.cmd("PING")));
        t
    });
}

#[test]
fn resp3_pushes_follow_the_reply() {
    same_on_both(|port| {
        let mut admin = Client::connect(port);
        admin.cmd("FLUSHALL");
        let mut r = Client::connect(port);
        r.cmd("HELLO 3");
        let mut t = vec![text(r.cmd("CLIENT TRACKING on"))];
        r.cmd("HSET myhash f 1");
        r.cmd("HGET myhash f");
        // The client's own change: its reply first, then the push.
        t.push(text(r.cmd("HDEL myhash f")));
        t.push(text(r.read_reply()));
        // Inside a transaction: after EXEC's reply.
        r.cmd("MSET a 1 b 2");
        r.cmd("GET a");
        r.cmd("MULTI");
        r.cmd("INCR a");
        r.cmd("GET b");
        t.push(text(r.cmd("EXEC")));
        t.push(text(r.read_reply()));
        // Another client's change, and a flush (every key: a null).
        r.cmd("GET b");
        admin.cmd("SET b 3");
        t.push(text(r.read_reply()));
        t.push(text(r.cmd("FLUSHDB")));
        t.push(text(r.read_reply()));
        admin.cmd("FLUSHALL");
        t.push(text(r.read_reply()));
        t.push(text(r.cmd("CLIENT TRACKINGINFO")));
        t.push(text(r.cmd("CLIENT TRACKING off")));
        t.push(text(r.cmd("CLIENT TRACKINGINFO")));
        t
    });
}

#[test]
fn bcast_prefixes_and_noloop() {
    same_on_both(|port| {
        let mut admin = Client::connect(port);
        admin.cmd("FLUSHALL");
        let (mut redir, id) = redirect_target(port);
        let mut r = Client::connect(port);
        let mut t = vec![text(r.cmd(&format!(
            "CLIENT TRACKING on BCAST REDIRECT {id} PREFIX a: PREFIX b:"
        )))];
        // Keys changed by one command arrive in one message, sorted.
        admin.cmd("MSET b:2 x a:1 x c:3 x a:0 x");
        for _ in 0..2 {
            t.push(text(redir.read_reply()));
        }
        // Enabling again adds prefixes (and sets the redirection anew).
        t.push(text(r.cmd(&format!(
            "CLIENT TRACKING on BCAST REDIRECT {id} PREFIX c:"
        ))));
        admin.cmd("SET c:9 x");
        t.push(text(redir.read_reply()));
        // Errors: overlapping prefixes, switching modes, PREFIX without BCAST.
        for cmd in [
            "CLIENT TRACKING on BCAST PREFIX a:x",
            "CLIENT TRACKING on BCAST PREFIX d: PREFIX d:1",
            "CLIENT TRACKING on",
            "CLIENT TRACKING on BCAST OPTIN",
        ] {
            t.push(text(r.cmd(cmd)));
        }
        t.push(hide_id(text(r.cmd("CLIENT TRACKINGINFO")), &id));
        // NOLOOP: the client's own changes are left out.
        t.push(text(r.cmd("CLIENT TRACKING off")));
        t.push(text(r.cmd(&format!(
            "CLIENT TRACKING on BCAST REDIRECT {id} NOLOOP"
        ))));
        r.cmd("SET mine 1");
        admin.cmd("SET theirs 1");
        t.push(text(redir.read_reply()));
        t.push(text(r.cmd("CLIENT TRACKING off")));
        // Standard mode NOLOOP.
        t.push(text(
            r.cmd(&format!("CLIENT TRACKING on REDIRECT {id} NOLOOP")),
        ));
        r.cmd("MGET k1 k2");
        r.cmd("SET k1 x");
        admin.cmd("SET k2 x");
        t.push(text(redir.read_reply()));
        t
    });
}

#[test]
fn optin_optout_and_caching() {
    same_on_both(|port| {
        let mut admin = Client::connect(port);
        admin.cmd("FLUSHALL");
        let (mut redir, id) = redirect_target(port);
        let mut r = Client::connect(port);
        let mut t = vec![text(r.cmd("CLIENT CACHING yes"))];
        t.push(text(
            r.cmd(&format!("CLIENT TRACKING on OPTIN REDIRECT {id}")),
        ));
        t.push(text(r.cmd("CLIENT CACHING no")));
        t.push(text(r.cmd("CLIENT CACHING maybe")));
        // OPTIN: only the command after CLIENT CACHING yes is tracked.
        r.cmd("GET notcached");
        t.push(text(r.cmd("CLIENT CACHING yes")));
        t.push(hide_id(text(r.cmd("CLIENT TRACKINGINFO")), &id));
        r.cmd("GET cached");
        r.cmd("GET cachedlater");
        admin.cmd("MSET notcached 1 cachedlater 1 cached 1");
        t.push(text(redir.read_reply()));
        t.push(text(r.cmd("CLIENT TRACKING on OPTOUT")));
        t.push(text(r.cmd("CLIENT TRACKING off")));
        // OPTOUT: everything but the command after CLIENT CACHING no.
        t.push(text(
            r.cmd(&format!("CLIENT TRACKING on OPTOUT REDIRECT {id}")),
        ));
        t.push(text(r.cmd("CLIENT CACHING yes")));
        t.push(text(r.cmd("CLIENT CACHING no")));
        r.cmd("GET skipped");
        r.cmd("GET kept");
        admin.cmd("MSET skipped 1 kept 1");
        t.push(text(redir.read_reply()));
        t.push(text(r.cmd("CLIENT TRACKING on OPTIN")));
        t.push(text(r.cmd("CLIENT TRACKING on OPTIN OPTOUT")));
        t
    });
}

#[test]
fn tracking_errors_and_broken_redirection() {
    same_on_both(|port| {
        let mut r = Client::connect(port);
        r.cmd("FLUSHALL");
        let mut t: Vec<String> = [
            "CLIENT TRACKING",
            "CLIENT TRACKING maybe",
            "CLIENT TRACKING on REDIRECT",
            "CLIENT TRACKING on REDIRECT abc",
            "CLIENT TRACKING on REDIRECT 999999",
            "CLIENT TRACKING on REDIRECT 0",
            "CLIENT TRACKING on PREFIX a",
            "CLIENT TRACKING on NOSUCHOPTION",
            "CLIENT TRACKING off BCAST PREFIX x",
            "CLIENT GETREDIR",
            "CLIENT GETREDIR x",
            "CLIENT TRACKINGINFO",
            "CLIENT CACHING",
        ]
        .iter()
        .map(|c| text(r.cmd(c)))
        .collect();
        // A RESP3 client whose redirection target has gone learns it on the next
        // invalidation, and its flags say so.
        let mut target = Client::connect(port);
        let id = text(target.cmd("CLIENT ID"));
        let id = id.trim_start_matches(':').trim_end().to_string();
        t.push(text(r.cmd(&format!("CLIENT TRACKING on REDIRECT {id}"))));
        // A second REDIRECT option.
        t.push(text(r.cmd(&format!(
            "CLIENT TRACKING on REDIRECT {id} REDIRECT {id}"
        ))));
        drop(target);
        let mut admin = Client::connect(port);
        let gone = wait_for(Duration::from_secs(5), || {
            (!text(admin.cmd("CLIENT LIST")).contains(&format!("id={id} "))).then_some(())
        });
        assert!(gone.is_some());
        r.cmd("HELLO 3");
        r.cmd("GET k");
        admin.cmd("SET k v");
        t.push(hide_id(text(r.read_reply()), &id));
        t.push(hide_id(text(r.cmd("CLIENT TRACKINGINFO")), &id));
        let list = text(r.cmd("CLIENT INFO"));
        let flags = list
            .split(' ')
            .find(|f| f.starts_with("flags="))
            .unwrap_or("");
        let redir = list
            .split(' ')
            .find(|f| f.starts_with("redir="))
            .unwrap_or("");
        t.push(hide_id(format!("{flags} {redir}"), &id));
        t
    });
}

#[test]
fn served_blmove_invalidates_after_its_reply() {
    same_on_both(|port| {
        let mut admin = Client::connect(port);
        admin.cmd("FLUSHALL");
        admin.cmd("RPUSH list2 a");
        let mut rd = Client::connect(port);
        rd.cmd("HELLO 3");
        let mut t = vec![text(rd.cmd("CLIENT TRACKING on"))];
        t.push(text(rd.cmd("LRANGE list2 0 -1")));
        rd.send(&[b"BLMOVE", b"list1", b"list2", b"left", b"left", b"0"]);
        let blocked = wait_for(Duration::from_secs(5), || {
            (info_field(&mut admin, "clients", "blocked_clients") == 1).then_some(())
        });
        assert!(blocked.is_some());
        admin.cmd("RPUSH list1 foo");
        t.push(text(rd.read_reply()));
        t.push(text(rd.read_reply()));
        t
    });
}

#[test]
fn expiry_and_table_limit_invalidate() {
    same_on_both(|port| {
        let mut admin = Client::connect(port);
        admin.cmd("FLUSHALL");
        let (mut redir, id) = redirect_target(port);
        let mut r = Client::connect(port);
        let mut t = vec![text(r.cmd(&format!("CLIENT TRACKING on REDIRECT {id}")))];
        // A key the expiry cycle removes.
        r.cmd("SET shortlived v PX 50");
        r.cmd("GET shortlived");
        t.push(text(redir.read_reply()));
        // INFO counts tracking clients, keys and items.
        r.cmd("MGET k1 k2 k3");
        t.push(info_field(&mut admin, "clients", "tracking_clients").to_string());
        t.push(info_field(&mut admin, "stats", "tracking_total_keys").to_string());
        t.push(info_field(&mut admin, "stats", "tracking_total_items").to_string());
        // Lowering the table limit evicts keys, each sent as an invalidation.
        admin.cmd("CONFIG SET tracking-table-max-keys 1");
        let mut evicted = Vec::new();
        for _ in 0..2 {
            evicted.push(text(redir.read_reply()));
        }
        evicted.sort();
        t.extend(evicted.iter().map(|m| m.replace(['1', '2', '3'], "N")));
        t.push(info_field(&mut admin, "stats", "tracking_total_keys").to_string());
        admin.cmd("CONFIG SET tracking-table-max-keys 1000000");
        t
    });
}

#[test]
fn scripts_track_their_declared_keys_when_they_read() {
    same_on_both(|port| {
        let mut admin = Client::connect(port);
        admin.cmd("FLUSHALL");
        let mut r = Client::connect(port);
        r.cmd("HELLO 3");
        let mut t = vec![text(r.cmd("CLIENT TRACKING on"))];
        admin.cmd("MSET k1 1 k2 1");
        // A script that only writes tracks nothing.
        t.push(text(r.cmd_args(&[
            "EVAL",
            "redis.call('set', 'k3', 'bar')",
            "2",
            "k1",
            "k2",
        ])));
        admin.cmd("MSET k2 2 k1 2");
        // One that reads tracks every key it declared (not the key it read).
        t.push(text(r.cmd_args(&[
            "EVAL",
            "redis.call('get', 'k3')",
            "2",
            "k1",
            "k2",
        ])));
        admin.cmd("MSET k2 3 k1 3");
        t.push(text(r.read_reply()));
        t.push(text(r.read_reply()));
        // EVAL_RO is not tracked by itself either.
        t.push(text(r.cmd_args(&[
            "EVAL_RO",
            "redis.call('ping')",
            "2",
            "k1",
            "k2",
        ])));
        admin.cmd("MSET k2 4 k1 4");
        t.push(text(r.cmd("PING")));
        t
    });
}

#[test]
fn eviction_invalidations_precede_the_reply() {
    same_on_both(|port| {
        let mut r = Client::connect(port);
        r.cmd("FLUSHALL");
        r.cmd("HELLO 3");
        let mut t = vec![text(r.cmd("CLIENT TRACKING on"))];
        // A limit 100 KB above what is used now; a volatile key the client reads, then a
        // 200 KB bitmap: the next command evicts the volatile key before it runs, so its
        // invalidation comes first, then the command's reply (Redis's processCommand).
        let used = info_field(&mut r, "memory", "used_memory");
        r.cmd(&format!("CONFIG SET maxmemory {}", used + 100 * 1024));
        r.cmd("CONFIG SET maxmemory-policy volatile-random");
        r.cmd("SETEX volatile-key 10000 x");
        r.cmd("GET volatile-key");
        t.push(text(r.cmd("SETBIT big-key 1600000 0")));
        t.push(text(r.cmd("GETBIT big-key 0")));
        t.push(text(r.read_reply()));
        r.cmd("CONFIG SET maxmemory 0");
        t.push(text(r.cmd("EXISTS volatile-key")));
        t
    });
}
