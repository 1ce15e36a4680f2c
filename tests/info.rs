//! INFO against redis-server 7.0: the sections and field names of `INFO everything`, section
//! selection, and the exact commandstats / errorstats / total_error_replies figures after a
//! scripted run of refused and failing commands, then CONFIG RESETSTAT. Each check runs on
//! our server and, when installed, on redis-server (`common::on_both`), with the same
//! expected values.

mod common;

use std::cell::RefCell;
use std::collections::BTreeMap;

use common::{Client, on_both};

/// Fields we print that Redis does not: each at the end of its section.
const OUR_EXTRA_FIELDS: [&str; 5] = [
    "keyval_version",
    "keyval_table_buckets",
    "keyval_allocations",
    "keyval_protocol_errors",
    "keyval_snapshot_keys_saved_early",
];

/// Every section of Redis 7.0's `INFO everything`, in its order.
const ALL_SECTIONS: [&str; 13] = [
    "Server",
    "Clients",
    "Memory",
    "Persistence",
    "Stats",
    "Replication",
    "CPU",
    "Modules",
    "Commandstats",
    "Errorstats",
    "Latencystats",
    "Cluster",
    "Keyspace",
];

/// The sections of a plain `INFO` (and `INFO default`).
const DEFAULT_SECTIONS: [&str; 11] = [
    "Server",
    "Clients",
    "Memory",
    "Persistence",
    "Stats",
    "Replication",
    "CPU",
    "Modules",
    "Errorstats",
    "Cluster",
    "Keyspace",
];

/// The text of an INFO reply (RESP2 bulk string).
fn info(c: &mut Client, args: &str) -> String {
    let raw = if args.is_empty() {
        c.call(&[b"INFO"])
    } else {
        c.cmd(&format!("INFO {args}"))
    };
    let text = String::from_utf8(raw).expect("INFO is text");
    assert!(text.starts_with('$'), "{text}");
    text.split_once("\r\n").expect("bulk header").1.to_string()
}

/// The section titles of an INFO text, in order.
fn headers(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# "))
        .map(str::to_string)
        .collect()
}

/// The `name:value` lines of each section, in order.
fn sections(text: &str) -> Vec<(String, Vec<(String, String)>)> {
    let mut out: Vec<(String, Vec<(String, String)>)> = Vec::new();
    for line in text.split("\r\n") {
        if let Some(title) = line.strip_prefix("# ") {
            out.push((title.to_string(), Vec::new()));
        } else if let Some((k, v)) = line.split_once(':') {
            let (_, fields) = out.last_mut().expect("a field before any section");
            fields.push((k.to_string(), v.to_string()));
        } else {
            assert!(line.is_empty(), "not a field: {line:?}");
        }
    }
    out
}

/// The fields of one section as a map.
fn section(c: &mut Client, name: &str) -> BTreeMap<String, String> {
    let text = info(c, name);
    sections(&text)
        .into_iter()
        .flat_map(|(_, fields)| fields)
        .collect()
}

/// `calls`, `rejected_calls` and `failed_calls` of each command in INFO commandstats,
/// after checking each line's format.
fn command_counts(c: &mut Client) -> BTreeMap<String, (u64, u64, u64)> {
    section(c, "commandstats")
        .into_iter()
        .map(|(k, v)| {
            let name = k
                .strip_prefix("cmdstat_")
                .expect("cmdstat_ line")
                .to_string();
            let parts: BTreeMap<&str, &str> =
                v.split(',').filter_map(|p| p.split_once('=')).collect();
            let keys: Vec<&str> = v.split(',').filter_map(|p| p.split('=').next()).collect();
            assert_eq!(
                keys,
                [
                    "calls",
                    "usec",
                    "usec_per_call",
                    "rejected_calls",
                    "failed_calls"
                ],
                "{k}:{v}"
            );
            let per_call = parts["usec_per_call"];
            assert!(
                per_call.split_once('.').is_some_and(|(_, d)| d.len() == 2),
                "{k}:{v}"
            );
            let n = |f: &str| parts[f].parse::<u64>().expect("a count");
            n("usec");
            (name, (n("calls"), n("rejected_calls"), n("failed_calls")))
        })
        .collect()
}

/// INFO errorstats as code -> count.
fn error_counts(c: &mut Client) -> BTreeMap<String, u64> {
    section(c, "errorstats")
        .into_iter()
        .map(|(k, v)| {
            let code = k.strip_prefix("errorstat_").expect("errorstat_ line");
            let n = v
                .strip_prefix("count=")
                .expect("count=")
                .parse()
                .expect("n");
            (code.to_string(), n)
        })
        .collect()
}

fn stat(c: &mut Client, name: &str) -> u64 {
    section(c, "stats")[name].parse().expect("a number")
}

/// A section's title and its field names.
type TitledNames = (String, Vec<String>);

#[test]
fn everything_has_redis_sections_and_field_names_in_order() {
    let seen: RefCell<Vec<Vec<TitledNames>>> = RefCell::new(Vec::new());
    on_both(&[], |port| {
        let mut c = Client::connect(port);
        c.cmd("SET k v");
        let text = info(&mut c, "everything");
        assert_eq!(headers(&text), ALL_SECTIONS, "{text}");
        // Sections whose lines depend on the run (commands called, keys) are compared by
        // their title only.
        let variable = ["Commandstats", "Errorstats", "Latencystats", "Keyspace"];
        let names = sections(&text)
            .into_iter()
            .map(|(title, fields)| {
                let names = if variable.contains(&title.as_str()) {
                    Vec::new()
                } else {
                    fields
                        .into_iter()
                        .map(|(k, _)| k)
                        .filter(|k| !OUR_EXTRA_FIELDS.contains(&k.as_str()))
                        .collect()
                };
                (title, names)
            })
            .collect();
        seen.borrow_mut().push(names);
    });
    let seen = seen.into_inner();
    if let [ours, redis] = seen.as_slice() {
        for ((title, ours), (_, redis)) in ours.iter().zip(redis) {
            assert_eq!(ours, redis, "fields of section {title}");
        }
    }
}

#[test]
fn our_extra_fields_close_their_sections() {
    let server = common::Server::start(&[]);
    let mut c = server.client();
    let text = info(&mut c, "everything");
    for (title, fields) in sections(&text) {
        let first_extra = fields.iter().position(|(k, _)| k.starts_with("keyval_"));
        if let Some(i) = first_extra {
            assert!(
                fields[i..]
                    .iter()
                    .all(|(k, _)| OUR_EXTRA_FIELDS.contains(&k.as_str())),
                "section {title}: {fields:?}"
            );
        }
    }
    let memory = section(&mut c, "memory");
    let used: u64 = memory["used_memory"].parse().expect("used_memory");
    assert!(used > 0 && memory["used_memory_rss"].parse::<u64>().expect("rss") > 0);
    let peak: u64 = memory["used_memory_peak"].parse().expect("peak");
    assert!(peak >= used);
    assert!(memory["used_memory_peak_perc"].ends_with('%'));
    let server_fields = section(&mut c, "server");
    assert!(
        server_fields["os"].split(' ').count() >= 3,
        "{server_fields:?}"
    );
}

#[test]
fn section_selection_as_redis() {
    on_both(&[], |port| {
        let mut c = Client::connect(port);
        assert_eq!(headers(&info(&mut c, "")), DEFAULT_SECTIONS);
        assert_eq!(headers(&info(&mut c, "default")), DEFAULT_SECTIONS);
        assert_eq!(headers(&info(&mut c, "all")), ALL_SECTIONS);
        assert_eq!(headers(&info(&mut c, "EVERYTHING")), ALL_SECTIONS);
        // Several names, in any case and order, give Redis's order, each section once.
        assert_eq!(
            headers(&info(&mut c, "keyspace CPU cpu")),
            ["CPU", "Keyspace"]
        );
        assert_eq!(headers(&info(&mut c, "cpu all")), ALL_SECTIONS);
        assert_eq!(headers(&info(&mut c, "cpu default")), DEFAULT_SECTIONS);
        assert_eq!(headers(&info(&mut c, "commandSTATS")), ["Commandstats"]);
        assert_eq!(headers(&info(&mut c, "cpu sentinel")), ["CPU"]);
        assert_eq!(headers(&info(&mut c, "modules")), ["Modules"]);
        assert_eq!(headers(&info(&mut c, "module_list")), ["Modules"]);
        assert_eq!(
            headers(&info(&mut c, "latencystats errorstats")),
            ["Errorstats", "Latencystats"]
        );
        // An unknown section: an empty text.
        assert_eq!(c.cmd("INFO nosuch"), b"$0\r\n\r\n");
        // The default sections leave commandstats out.
        assert!(!info(&mut c, "").contains("rejected_calls"));
        assert!(info(&mut c, "all").contains("rejected_calls"));
        // RESP3: a verbatim string.
        c.cmd("HELLO 3");
        let raw = c.cmd("INFO cpu");
        assert!(raw.starts_with(b"="), "{:?}", String::from_utf8_lossy(&raw));
        assert!(raw.windows(10).any(|w| w == b"txt:# CPU\r"));
    });
}

/// Counts by command as `(calls, rejected_calls, failed_calls)`.
fn counts(entries: &[(&str, (u64, u64, u64))]) -> BTreeMap<String, (u64, u64, u64)> {
    entries
        .iter()
        .map(|(name, n)| (name.to_string(), *n))
        .collect()
}

#[test]
fn commandstats_and_errorstats_count_refusals_and_failures_as_redis() {
    on_both(&[], |port| {
        let mut c = Client::connect(port);
        let expect = |c: &mut Client, line: &str, reply: &str| {
            let got = c.cmd_str(line);
            assert!(got.starts_with(reply), "{line}: {got:?}, not {reply:?}");
        };
        expect(&mut c, "CONFIG RESETSTAT", "+OK");
        expect(&mut c, "NOSUCHCMD a b", "-ERR unknown command");
        expect(&mut c, "GET", "-ERR wrong number of arguments for 'get'");
        expect(&mut c, "SET k v", "+OK");
        expect(&mut c, "LPUSH k x", "-WRONGTYPE");
        expect(&mut c, "INCR k", "-ERR value is not an integer");
        expect(&mut c, "CONFIG FOO", "-ERR unknown subcommand 'FOO'");
        expect(
            &mut c,
            "CONFIG GET",
            "-ERR wrong number of arguments for 'config|get'",
        );
        expect(&mut c, "CONFIG GET maxmemory", "*2");
        expect(
            &mut c,
            "CONFIG",
            "-ERR wrong number of arguments for 'config'",
        );
        // Refused inside MULTI: the transaction is doomed.
        expect(&mut c, "MULTI", "+OK");
        expect(&mut c, "SET", "-ERR wrong number of arguments for 'set'");
        expect(&mut c, "GET k", "+QUEUED");
        expect(
            &mut c,
            "EXEC",
            "-EXECABORT Transaction discarded because of previous",
        );
        expect(&mut c, "MULTI", "+OK");
        expect(&mut c, "WATCH x", "-ERR WATCH inside MULTI is not allowed");
        expect(&mut c, "CONFIG FOO", "-ERR unknown subcommand");
        expect(&mut c, "DISCARD", "+OK");
        // Failing inside EXEC: the command fails, EXEC does not.
        expect(&mut c, "MULTI", "+OK");
        expect(&mut c, "SET a 1", "+QUEUED");
        expect(&mut c, "INCR k", "+QUEUED");
        expect(&mut c, "EXEC", "*2\r\n+OK\r\n-ERR value is not an integer");
        expect(&mut c, "EXEC", "-ERR EXEC without MULTI");
        expect(
            &mut c,
            "EXEC x",
            "-EXECABORT Transaction discarded because of: wrong number of arguments for 'exec'",
        );
        expect(
            &mut c,
            "CLIENT NOSUCH",
            "-ERR unknown subcommand 'NOSUCH'. Try CLIENT HELP.",
        );
        expect(&mut c, "CLIENT ID", ":");
        expect(&mut c, "COMMAND COUNT", ":");
        expect(&mut c, "CONFIG SET requirepass pw", "+OK");
        // A new connection must authenticate; an unknown subcommand is refused first.
        let mut other = Client::connect(port);
        expect(&mut other, "GET k", "-NOAUTH Authentication required.");
        expect(&mut other, "CONFIG FOO", "-ERR unknown subcommand");
        expect(&mut other, "AUTH wrong", "-WRONGPASS");
        expect(&mut other, "AUTH pw", "+OK");
        let cleared = other.call(&[b"CONFIG", b"SET", b"requirepass", b""]);
        assert_eq!(cleared, b"+OK\r\n");
        // A protocol error is an ERR error reply too.
        let mut broken = Client::connect(port);
        broken.send_raw(b"*1\r\nx\r\n");
        let reply = broken.read_to_eof();
        assert!(reply.starts_with(b"-ERR Protocol error"), "{reply:?}");

        assert_eq!(
            command_counts(&mut c),
            counts(&[
                ("auth", (2, 0, 1)),
                ("client|id", (1, 0, 0)),
                ("command|count", (1, 0, 0)),
                ("config", (0, 1, 0)),
                ("config|get", (1, 1, 0)),
                ("config|resetstat", (1, 0, 0)),
                ("config|set", (2, 0, 0)),
                ("discard", (1, 0, 0)),
                ("exec", (3, 1, 2)),
                ("get", (0, 2, 0)),
                ("incr", (2, 0, 2)),
                ("lpush", (1, 0, 1)),
                ("multi", (3, 0, 0)),
                ("set", (2, 1, 0)),
                ("watch", (1, 0, 1)),
            ])
        );
        let errors: BTreeMap<String, u64> = [
            ("ERR", 14),
            ("EXECABORT", 2),
            ("NOAUTH", 1),
            ("WRONGPASS", 1),
            ("WRONGTYPE", 1),
        ]
        .into_iter()
        .map(|(k, n)| (k.to_string(), n))
        .collect();
        assert_eq!(error_counts(&mut c), errors);
        // Errorstats lists codes in byte order.
        let text = info(&mut c, "errorstats");
        let codes: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("errorstat_"))
            .collect();
        let mut sorted = codes.clone();
        sorted.sort_unstable();
        assert_eq!(codes, sorted);
        // The INFO calls above ran too (commandstats, errorstats, errorstats).
        assert_eq!(stat(&mut c, "total_commands_processed"), 21 + 3);
        assert_eq!(stat(&mut c, "total_error_replies"), 19);

        // Latencies: a line per command that ran, none for one only refused (GET).
        let latency = section(&mut c, "latencystats");
        for name in ["set", "incr", "exec", "config|get", "client|id", "auth"] {
            let line = &latency[&format!("latency_percentiles_usec_{name}")];
            let parts: Vec<(&str, &str)> =
                line.split(',').filter_map(|p| p.split_once('=')).collect();
            assert_eq!(
                parts.iter().map(|(k, _)| *k).collect::<Vec<_>>(),
                ["p50", "p99", "p99.9"],
                "{name}: {line}"
            );
            for (_, v) in parts {
                let (whole, frac) = v.split_once('.').expect("a decimal");
                assert!(
                    whole.parse::<u64>().is_ok() && frac.len() == 3,
                    "{name}: {line}"
                );
            }
        }
        assert!(!latency.contains_key("latency_percentiles_usec_get"));

        // CONFIG RESETSTAT clears them all; it counts itself afterwards.
        expect(&mut c, "CONFIG RESETSTAT", "+OK");
        assert_eq!(
            command_counts(&mut c),
            counts(&[("config|resetstat", (1, 0, 0))])
        );
        assert!(error_counts(&mut c).is_empty());
        assert_eq!(stat(&mut c, "total_error_replies"), 0);
        let latency = section(&mut c, "latencystats");
        let names: Vec<&String> = latency.keys().collect();
        assert_eq!(
            names,
            [
                "latency_percentiles_usec_config|resetstat",
                "latency_percentiles_usec_info"
            ]
        );
    });
}

#[test]
fn config_subcommands_are_counted_apart() {
    // Every CONFIG subcommand Redis 7.0 has: the dispatch table lists them apart from the
    // handler, so this checks they agree.
    on_both(&[], |port| {
        let mut c = Client::connect(port);
        c.cmd("CONFIG RESETSTAT");
        c.cmd("CONFIG GET timeout");
        c.cmd("CONFIG SET timeout 0");
        c.cmd("CONFIG HELP");
        let rewrite = c.cmd_str("CONFIG REWRITE");
        assert!(rewrite.starts_with("-ERR"), "{rewrite}");
        assert_eq!(
            command_counts(&mut c),
            counts(&[
                ("config|get", (1, 0, 0)),
                ("config|help", (1, 0, 0)),
                ("config|resetstat", (1, 0, 0)),
                ("config|rewrite", (1, 0, 1)),
                ("config|set", (1, 0, 0)),
            ])
        );
    });
}
