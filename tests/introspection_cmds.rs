//! SLOWLOG, LATENCY and COMMAND GETKEYS / GETKEYSANDFLAGS / INFO / LIST, against
//! redis-server 7.0 where the replies are deterministic, and on their own where they hold
//! times and durations.

mod common;

use common::{Client, Resp, Server, on_both, parse, same_on_both, start_redis, text};

/// The entries of SLOWLOG GET without what differs from run to run (id, time, duration,
/// the client's port): the arguments and the client's name, newest first.
fn slowlog_entries(c: &mut Client, count: &str) -> Vec<(Vec<Vec<u8>>, Vec<u8>)> {
    let Resp::Agg(_, Some(entries)) = parse(&c.cmd_args(&["SLOWLOG", "GET", count])) else {
        panic!("SLOWLOG GET is an array");
    };
    entries
        .into_iter()
        .map(|e| {
            let Resp::Agg(_, Some(fields)) = e else {
                panic!("an entry is an array");
            };
            assert_eq!(fields.len(), 6);
            let Resp::Agg(_, Some(args)) = &fields[3] else {
                panic!("arguments");
            };
            let args = args
                .iter()
                .map(|a| match a {
                    Resp::Bulk(Some(b)) => b.clone(),
                    other => panic!("argument {other:?}"),
                })
                .collect();
            let Resp::Bulk(Some(peer)) = &fields[4] else {
                panic!("peer");
            };
            assert!(text(peer).starts_with("127.0.0.1:"), "{}", text(peer));
            let Resp::Bulk(Some(name)) = &fields[5] else {
                panic!("name");
            };
            (args, name.clone())
        })
        .collect()
}

#[test]
fn slowlog_logs_what_redis_logs() {
    on_both(&[], |port| {
        let mut c = Client::connect(port);
        assert_eq!(c.cmd("CONFIG SET slowlog-log-slower-than 0"), b"+OK\r\n");
        assert_eq!(c.cmd("SLOWLOG RESET"), b"+OK\r\n");
        c.cmd("CLIENT SETNAME logger");
        c.cmd("SET k v");
        let many: Vec<String> = (0..40).map(|i| i.to_string()).collect();
        let mut sadd = vec!["SADD", "s"];
        sadd.extend(many.iter().map(String::as_str));
        c.cmd_args(&sadd);
        let long = "x".repeat(200);
        c.cmd_args(&["SET", "big", &long]);
        c.cmd("AUTH nosuchpassword");
        c.cmd("MULTI");
        c.cmd("INCR n");
        c.cmd("EXEC");
        c.cmd("CONFIG SET requirepass \"\"");
        let entries = slowlog_entries(&mut c, "-1");
        let args: Vec<Vec<String>> = entries
            .iter()
            .map(|(a, _)| a.iter().map(text).collect())
            .collect();
        // Newest first; EXEC itself is not logged, the INCR it ran is.
        assert_eq!(args[0], ["CONFIG", "SET", "requirepass", "(redacted)"]);
        assert_eq!(args[1], ["INCR", "n"]);
        assert_eq!(args[2], ["MULTI"]);
        assert_eq!(args[3], ["AUTH", "(redacted)"]);
        assert_eq!(
            args[4][2],
            format!("{}... (72 more bytes)", "x".repeat(128))
        );
        assert_eq!(args[5].len(), 32);
        assert_eq!(args[5][30], "28");
        assert_eq!(args[5][31], "... (11 more arguments)");
        assert_eq!(args[6], ["SET", "k", "v"]);
        assert!(entries.iter().take(7).all(|(_, name)| name == b"logger"));
        // The newest `count`, -1 for all, and the count's errors.
        assert_eq!(slowlog_entries(&mut c, "2").len(), 2);
        let all = c.int("SLOWLOG LEN");
        assert_eq!(slowlog_entries(&mut c, "-1").len() as i64, all + 1);
        assert_eq!(
            text(c.cmd("SLOWLOG GET -2")),
            "-ERR count should be greater than or equal to -1\r\n"
        );
        assert_eq!(
            text(c.cmd("SLOWLOG GET x")),
            "-ERR count should be greater than or equal to -1\r\n"
        );
        // The log keeps slowlog-max-len entries; -1 turns it off.
        c.cmd("CONFIG SET slowlog-max-len 3");
        for _ in 0..10 {
            c.cmd("PING");
        }
        assert_eq!(c.int("SLOWLOG LEN"), 3);
        c.cmd("CONFIG SET slowlog-log-slower-than -1");
        c.cmd("SLOWLOG RESET");
        c.cmd("PING");
        assert_eq!(c.int("SLOWLOG LEN"), 0);
    });
}

#[test]
fn a_served_blocking_command_is_logged_as_sent() {
    on_both(&[], |port| {
        let mut c = Client::connect(port);
        c.cmd("CONFIG SET slowlog-log-slower-than 0");
        let mut waiter = Client::connect(port);
        waiter.send(&[b"BLPOP", b"list", b"0"]);
        common::wait_for(std::time::Duration::from_secs(5), || {
            (common::info_field(&mut c, "clients", "blocked_clients") == 1).then_some(())
        })
        .expect("the client blocks");
        c.cmd("SLOWLOG RESET");
        c.cmd("LPUSH list a");
        assert_eq!(text(waiter.read_reply()), "*2\r\n$4\r\nlist\r\n$1\r\na\r\n");
        let logged: Vec<Vec<String>> = slowlog_entries(&mut c, "-1")
            .into_iter()
            .map(|(a, _)| a.iter().map(text).collect())
            .collect();
        assert!(
            logged.contains(&vec!["BLPOP".into(), "list".into(), "0".into()]),
            "{logged:?}"
        );
    });
}

#[test]
fn slowlog_and_latency_errors_and_help_as_redis() {
    same_on_both(|port| {
        let mut c = Client::connect(port);
        let mut t = Vec::new();
        for line in [
            "SLOWLOG",
            "SLOWLOG NOSUCH",
            "SLOWLOG GET 1 2",
            "SLOWLOG LEN x",
            "SLOWLOG HELP",
            "LATENCY",
            "LATENCY NOSUCH",
            "LATENCY HELP",
            "LATENCY HELP x",
            "LATENCY HISTORY",
            "LATENCY HISTORY nosuch",
            "LATENCY GRAPH nosuch",
            "LATENCY RESET nosuch",
            "LATENCY LATEST",
            "LATENCY HISTOGRAM nosuchcommand",
            "CONFIG SET latency-monitor-threshold 0",
            "LATENCY DOCTOR",
        ] {
            t.push(text(c.cmd(line)));
        }
        c.cmd("HELLO 3");
        t.push(text(c.cmd("SLOWLOG GET 0")));
        t.push(text(c.cmd("LATENCY DOCTOR")));
        t
    });
}

#[test]
fn latency_histogram_counts_the_calls() {
    on_both(&[], |port| {
        let mut c = Client::connect(port);
        c.cmd("CONFIG RESETSTAT");
        c.cmd("SET a b");
        c.cmd("SET c d");
        c.cmd("CLIENT ID");
        c.cmd("CLIENT ID");
        c.cmd("GET a");
        let raw = c.cmd("LATENCY HISTOGRAM set client get nosuch");
        let Resp::Agg(_, Some(items)) = parse(&raw) else {
            panic!("a map: {}", text(raw));
        };
        let names: Vec<String> = items
            .chunks(2)
            .map(|kv| match &kv[0] {
                Resp::Bulk(Some(n)) => text(n),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(names, ["set", "client|id", "get"]);
        for (kv, calls) in items.chunks(2).zip([2, 2, 1]) {
            let Resp::Agg(_, Some(h)) = &kv[1] else {
                panic!("a map");
            };
            assert_eq!(h[0], Resp::Bulk(Some(b"calls".to_vec())));
            assert_eq!(h[1], Resp::Line(format!(":{calls}").into_bytes()));
            assert_eq!(h[2], Resp::Bulk(Some(b"histogram_usec".to_vec())));
            // Cumulative counts at power-of-two buckets, ending at the calls.
            let Resp::Agg(_, Some(buckets)) = &h[3] else {
                panic!("buckets");
            };
            let last = buckets.last().expect("a bucket");
            assert_eq!(*last, Resp::Line(format!(":{calls}").into_bytes()));
        }
    });
}

#[test]
fn the_latency_monitor_samples_slow_commands() {
    let ours = Server::start(&[]);
    let mut c = ours.client();
    c.cmd("CONFIG SET latency-monitor-threshold 1");
    // A script busy for a few milliseconds is a `command` latency event.
    let busy = "local i = 0 while i < 3000000 do i = i + 1 end return i";
    assert_eq!(c.cmd_args(&["EVAL", busy, "0"]), b":3000000\r\n");
    let latest = text(c.cmd("LATENCY LATEST"));
    assert!(latest.contains("$7\r\ncommand\r\n"), "{latest}");
    let Resp::Agg(_, Some(history)) = parse(&c.cmd("LATENCY HISTORY command")) else {
        panic!("history");
    };
    assert_eq!(history.len(), 1);
    let graph = text(c.cmd("LATENCY GRAPH command"));
    assert!(graph.contains("command - high "), "{graph}");
    assert!(graph.contains(&"-".repeat(80)), "{graph}");
    let doctor = text(c.cmd("LATENCY DOCTOR"));
    assert!(doctor.contains("1. command: 1 latency spikes"), "{doctor}");
    assert!(doctor.contains("Check your Slow Log"), "{doctor}");
    assert_eq!(c.cmd("LATENCY RESET"), b":1\r\n");
    assert_eq!(c.cmd("LATENCY LATEST"), b"*0\r\n");
    // Off: nothing is sampled.
    c.cmd("CONFIG SET latency-monitor-threshold 0");
    c.cmd_args(&["EVAL", busy, "0"]);
    assert_eq!(c.cmd("LATENCY LATEST"), b"*0\r\n");
}

#[test]
fn getkeys_as_redis() {
    same_on_both(|port| {
        let mut c = Client::connect(port);
        let calls: &[&[&str]] = &[
            &["get", "key"],
            &["set", "k1", "v1"],
            &["set", "k1", "v1", "get"],
            &["mset", "k1", "v1", "k2", "v2"],
            &["lmove", "k1", "k2", "left", "right"],
            &["memory", "usage", "key"],
            &["xgroup", "create", "key", "groupname", "$"],
            &["eval", "return 1", "1", "key"],
            &["eval", "return 1", "0"],
            &["eval", "return 1", "x"],
            &["xread", "count", "2", "streams", "a", "b", "0", "0"],
            &["xreadgroup", "group", "g", "c", "streams", "a", "0"],
            &["blmpop", "0", "2", "a", "b", "left"],
            &["lmpop", "3", "a", "b", "left"],
            &["sintercard", "2", "a", "b", "limit", "1"],
            &["bitfield", "k", "get", "u8", "0"],
            &["bitfield", "k", "incrby", "u8", "0", "1"],
            &["object", "encoding", "k"],
            &["rename", "a", "b"],
            &["del", "a", "b", "c"],
            &["ping"],
            &["nosuchcommand", "a"],
            &["get"],
            &["memory", "nosuch", "k"],
            &["fcall", "f", "1", "k", "a"],
            &["restore", "k", "0", "payload"],
            &["copy", "a", "b"],
            &["bzpopmin", "a", "b", "0"],
        ];
        let mut t = Vec::new();
        for call in calls {
            for sub in ["GETKEYS", "GETKEYSANDFLAGS"] {
                let mut args = vec!["COMMAND", sub];
                args.extend_from_slice(call);
                t.push(format!("{call:?} {sub}: {}", text(c.cmd_args(&args))));
            }
        }
        c.cmd("HELLO 3");
        t.push(text(c.cmd("COMMAND GETKEYSANDFLAGS lmove a b left left")));
        t
    });
}

/// COMMAND INFO of every command we have, as Redis reports it: name, arity, flags, key
/// positions, ACL categories, tips and key specs (without Redis's notes on them), for
/// every command and subcommand COMMAND LIST names.
#[test]
fn command_info_as_redis_for_every_command() {
    let ours = Server::start(&[]);
    let Some(redis) = start_redis() else {
        return;
    };
    let mut a = ours.client();
    let mut b = Client::connect(redis.port);
    let Resp::Agg(_, Some(names)) = parse(&a.cmd("COMMAND LIST")) else {
        panic!("COMMAND LIST");
    };
    let mut compared = 0;
    for name in names {
        let Resp::Bulk(Some(name)) = name else {
            panic!("a name");
        };
        let name = text(name);
        let info = |c: &mut Client| match parse(&c.cmd_args(&["COMMAND", "INFO", &name])) {
            Resp::Agg(_, Some(mut v)) => v.remove(0),
            other => panic!("{other:?}"),
        };
        if name == "client|setinfo" {
            // CLIENT SETINFO came with Redis 7.2 (clients send it and ignore an error):
            // 7.0 declares nothing about it.
            continue;
        }
        let (mine, theirs) = (info(&mut a), info(&mut b));
        let (Resp::Agg(_, Some(mine)), Resp::Agg(_, Some(theirs))) = (mine, theirs) else {
            panic!("{name}: COMMAND INFO is null on one side");
        };
        assert_eq!(mine[..8], theirs[..8], "COMMAND INFO {name}");
        assert_eq!(
            without_notes(&mine[8]),
            without_notes(&theirs[8]),
            "key specs of {name}"
        );
        // Our subcommands are a subset of Redis's (each compared above by name).
        assert!(
            sub_count(&mine[9]) <= sub_count(&theirs[9]),
            "subcommands of {name}"
        );
        compared += 1;
    }
    assert!(compared > 150, "{compared}");
}

fn without_notes(specs: &Resp) -> Resp {
    match specs {
        Resp::Agg(t, Some(items)) => {
            let items = items
                .iter()
                .map(|spec| match spec {
                    Resp::Agg(t, Some(kv)) => {
                        let kept: Vec<Resp> = kv
                            .chunks(2)
                            .filter(|p| p[0] != Resp::Bulk(Some(b"notes".to_vec())))
                            .flat_map(|p| p.to_vec())
                            .collect();
                        Resp::Agg(*t, Some(kept))
                    }
                    other => other.clone(),
                })
                .collect();
            Resp::Agg(*t, Some(items))
        }
        other => other.clone(),
    }
}

fn sub_count(subs: &Resp) -> usize {
    match subs {
        Resp::Agg(_, Some(v)) => v.len(),
        _ => 0,
    }
}

#[test]
fn command_list_filters_as_redis() {
    on_both(&[], |port| {
        let mut c = Client::connect(port);
        let list = |c: &mut Client, args: &[&str]| -> Vec<String> {
            let mut all = vec!["COMMAND", "LIST"];
            all.extend_from_slice(args);
            match parse(&c.cmd_args(&all)) {
                Resp::Agg(_, Some(v)) => v
                    .into_iter()
                    .map(|n| match n {
                        Resp::Bulk(Some(n)) => text(n),
                        other => panic!("{other:?}"),
                    })
                    .collect(),
                other => panic!("{other:?}"),
            }
        };
        let all = list(&mut c, &[]);
        assert!(all.contains(&"set".to_string()) && all.contains(&"client|list".to_string()));
        assert_eq!(list(&mut c, &["FILTERBY", "PATTERN", "set"]), ["set"]);
        let config = list(&mut c, &["FILTERBY", "PATTERN", "config|*re*"]);
        assert!(
            config.contains(&"config|resetstat".to_string()),
            "{config:?}"
        );
        let scripting = list(&mut c, &["FILTERBY", "ACLCAT", "scripting"]);
        assert!(scripting.contains(&"eval".to_string()));
        assert!(scripting.contains(&"script|kill".to_string()));
        assert!(!scripting.contains(&"set".to_string()));
        assert!(list(&mut c, &["FILTERBY", "ACLCAT", "nosuch"]).is_empty());
        assert!(list(&mut c, &["FILTERBY", "MODULE", "nosuch"]).is_empty());
        for bad in [
            "COMMAND LIST bad",
            "COMMAND LIST FILTERBY bad",
            "COMMAND LIST FILTERBY bad x",
        ] {
            assert_eq!(text(c.cmd(bad)), "-ERR syntax error\r\n", "{bad}");
        }
        assert_eq!(c.cmd("COMMAND INFO get|key"), b"*1\r\n$-1\r\n");
        assert_eq!(c.cmd("COMMAND INFO config|get|key"), b"*1\r\n$-1\r\n");
    });
}

/// A COMMAND DOCS map with its texts (summary, complexity, replaced_by and the history
/// notes) put aside, and without its subcommands: what must equal Redis's. Returns the
/// texts apart, and the subcommands' names.
fn docs_facts(docs: &Resp) -> (Resp, Vec<(String, String)>, Vec<String>) {
    let Resp::Agg(t, Some(kv)) = docs else {
        panic!("a docs map: {docs:?}");
    };
    let mut facts = Vec::new();
    let mut texts = Vec::new();
    let mut subs = Vec::new();
    for pair in kv.chunks(2) {
        let Resp::Bulk(Some(key)) = &pair[0] else {
            panic!("a field name: {pair:?}");
        };
        let key = text(key);
        match (key.as_str(), &pair[1]) {
            ("summary" | "complexity" | "replaced_by", Resp::Bulk(Some(v))) => {
                assert!(!v.is_empty(), "{key} is empty");
                texts.push((key.clone(), text(v)));
                facts.push(pair[0].clone());
                facts.push(Resp::Bulk(Some(b"<text>".to_vec())));
            }
            ("history", Resp::Agg(ht, Some(entries))) => {
                let masked = entries
                    .iter()
                    .map(|e| match e {
                        Resp::Agg(et, Some(ve)) if ve.len() == 2 => {
                            let Resp::Bulk(Some(note)) = &ve[1] else {
                                panic!("a history note: {e:?}");
                            };
                            texts.push((format!("history {:?}", ve[0]), text(note)));
                            Resp::Agg(
                                *et,
                                Some(vec![ve[0].clone(), Resp::Bulk(Some(b"<text>".to_vec()))]),
                            )
                        }
                        other => panic!("a history entry: {other:?}"),
                    })
                    .collect();
                facts.push(pair[0].clone());
                facts.push(Resp::Agg(*ht, Some(masked)));
            }
            ("subcommands", Resp::Agg(_, Some(entries))) => {
                for e in entries.chunks(2) {
                    let Resp::Bulk(Some(name)) = &e[0] else {
                        panic!("a subcommand name");
                    };
                    subs.push(text(name));
                }
            }
            _ => facts.extend_from_slice(pair),
        }
    }
    (Resp::Agg(*t, Some(facts)), texts, subs)
}

/// COMMAND DOCS of every command and subcommand we have, in RESP2 and RESP3: the same
/// fields, argument trees (names, types, tokens, key spec indexes, flags, versions), doc
/// flags and history versions as redis-server 7.0's, with texts of our own in the same
/// places (each must differ from Redis's wording, bare big-O bounds aside). Subcommands are
/// compared one by one; a container lists a subset of Redis's.
#[test]
fn command_docs_as_redis_for_every_command() {
    let ours = Server::start(&[]);
    let Some(redis) = start_redis() else {
        return;
    };
    for proto in ["2", "3"] {
        let mut a = ours.client();
        let mut b = Client::connect(redis.port);
        a.cmd_args(&["HELLO", proto]);
        b.cmd_args(&["HELLO", proto]);
        let Resp::Agg(_, Some(names)) = parse(&a.cmd("COMMAND LIST")) else {
            panic!("COMMAND LIST");
        };
        let mut compared = 0;
        let mut texts = 0;
        for name in names {
            let Resp::Bulk(Some(name)) = name else {
                panic!("a name");
            };
            let name = text(name);
            if name == "client|setinfo" {
                // Redis 7.2's (see command_info_as_redis_for_every_command).
                continue;
            }
            let docs = |c: &mut Client| match parse(&c.cmd_args(&["COMMAND", "DOCS", &name])) {
                Resp::Agg(_, Some(v)) if v.len() == 2 => {
                    assert_eq!(v[0], Resp::Bulk(Some(name.as_bytes().to_vec())));
                    v[1].clone()
                }
                other => panic!("COMMAND DOCS {name}: {other:?}"),
            };
            let (mine, my_texts, my_subs) = docs_facts(&docs(&mut a));
            let (theirs, their_texts, their_subs) = docs_facts(&docs(&mut b));
            assert_eq!(mine, theirs, "COMMAND DOCS {name} (RESP{proto})");
            for sub in &my_subs {
                assert!(their_subs.contains(sub), "{name}: subcommand {sub}");
            }
            for ((field, mine), (_, theirs)) in my_texts.iter().zip(&their_texts) {
                let bare_bound = theirs.starts_with("O(") && !theirs.contains(' ');
                assert!(
                    mine != theirs || bare_bound,
                    "{name}: our {field} repeats Redis's words: {mine:?}"
                );
                texts += 1;
            }
            compared += 1;
        }
        assert!(compared > 300, "{compared}");
        assert!(texts > 600, "{texts}");
    }
}

/// COMMAND DOCS without names lists every command, each once; unknown names are skipped;
/// `container|sub` names a subcommand.
#[test]
fn command_docs_lists_and_skips() {
    on_both(&[], |port| {
        let mut c = Client::connect(port);
        let count = match parse(&c.cmd("COMMAND COUNT")) {
            Resp::Line(l) => text(&l[1..]).parse::<usize>().expect("a count"),
            other => panic!("{other:?}"),
        };
        let Resp::Agg(_, Some(all)) = parse(&c.cmd("COMMAND DOCS")) else {
            panic!("COMMAND DOCS");
        };
        assert_eq!(all.len(), 2 * count);
        let mut names: Vec<&Resp> = all.iter().step_by(2).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), count);
        assert_eq!(c.cmd("COMMAND DOCS nosuch"), b"*0\r\n");
        assert_eq!(c.cmd("COMMAND DOCS get|x config|nosuch"), b"*0\r\n");
        let Resp::Agg(_, Some(v)) = parse(&c.cmd("COMMAND DOCS nosuch CONFIG|GET get")) else {
            panic!("COMMAND DOCS");
        };
        assert_eq!(v.len(), 4);
        assert_eq!(v[0], Resp::Bulk(Some(b"config|get".to_vec())));
        assert_eq!(v[2], Resp::Bulk(Some(b"get".to_vec())));
    });
}
