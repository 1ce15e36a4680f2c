//! The live console: `GET /` is one self-contained page (console.html: inline CSS and
//! JavaScript, hand-drawn canvas charts, no CDN), embedded in the binary; it reads
//! `GET /console.json` once a second.
//!
//! The JSON holds cumulative figures read from the same atomics as `/metrics` (and the
//! cron's published copies, [`super::published`]); the page turns consecutive readings
//! into rates and per-interval latency percentiles, so the server keeps no history and a
//! reading costs what a scrape costs (less: no text encoding of histograms).

use std::fmt::Write;

use super::stats::{LATENCY_BUCKETS, Stats, get};

/// The page, served as is.
pub const PAGE: &str = include_str!("console.html");

/// The figures the page reads, as JSON.
pub fn json(stats: &Stats) -> String {
    let mut j = Json(String::with_capacity(8 * 1024));
    let p = &stats.published;
    j.open('{');
    j.key("version");
    j.string(env!("CARGO_PKG_VERSION"));
    j.key("uptime_us");
    j.num(stats.started.elapsed().as_micros() as u64);
    j.key("processed");
    j.num(stats.commands_processed());
    j.key("latency_bounds_us");
    j.open('[');
    for b in LATENCY_BUCKETS {
        j.item();
        j.float(b * 1e6);
    }
    j.close(']');
    // Commands run at least once: cumulative runs and non-cumulative latency buckets
    // (the last one is +Inf).
    j.key("commands");
    j.open('[');
    let names = stats.command_names.iter();
    for (name, c) in names.zip(stats.commands.iter()) {
        let calls = get(&c.calls);
        if calls == 0 {
            continue;
        }
        j.item();
        j.open('{');
        j.key("cmd");
        j.string(name);
        j.key("calls");
        j.num(calls);
        j.key("buckets");
        j.open('[');
        for b in &c.buckets {
            j.item();
            j.num(get(b));
        }
        j.close(']');
        j.close('}');
    }
    j.close(']');
    let used = get(&stats.used_memory);
    j.object(
        "memory",
        &[
            ("used", used),
            ("peak", get(&p.peak_memory).max(used)),
            ("max", get(&p.maxmemory)),
        ],
    );
    j.key("policy");
    j.string(p.policy());
    j.object(
        "keys",
        &[
            ("total", get(&stats.keys)),
            ("expiring", get(&stats.keys_with_expiry)),
        ],
    );
    j.object(
        "clients",
        &[
            ("connected", get(&stats.connected_clients)),
            (
                "blocked",
                get(&stats.blocked_clients) + get(&p.paused_clients),
            ),
            ("subscribed", get(&stats.pubsub_clients)),
            ("max", get(&p.maxclients)),
        ],
    );
    j.object(
        "keyspace",
        &[
            ("hits", get(&stats.keyspace_hits)),
            ("misses", get(&stats.keyspace_misses)),
            ("evicted", get(&stats.evicted_keys)),
            ("expired", get(&stats.expired_keys)),
        ],
    );
    j.key("slowlog");
    j.open('{');
    j.key("length");
    j.num(get(&p.slowlog_len));
    j.key("entries");
    j.open('[');
    for e in p.slowlog().iter() {
        j.item();
        j.open('{');
        j.key("id");
        j.num(e.id);
        j.key("time");
        j.num(e.time);
        j.key("duration_us");
        j.num(e.duration_us);
        j.key("args");
        j.open('[');
        for a in &e.args {
            j.item();
            j.string(a);
        }
        j.close(']');
        j.key("client");
        j.string(&e.client);
        j.key("name");
        j.string(&e.name);
        j.close('}');
    }
    j.close(']');
    j.close('}');
    j.close('}');
    j.0
}

/// A minimal JSON writer: enough for numbers, strings, arrays and objects.
struct Json(String);

impl Json {
    fn open(&mut self, c: char) {
        self.0.push(c);
    }

    fn close(&mut self, c: char) {
        self.0.push(c);
    }

    /// A separator before an element or a key, unless it is the first of its container.
    fn item(&mut self) {
        if !self.0.ends_with(['{', '[']) {
            self.0.push(',');
        }
    }

    fn key(&mut self, k: &str) {
        self.item();
        self.string(k);
        self.0.push(':');
    }

    fn num(&mut self, n: u64) {
        let _ = write!(self.0, "{n}");
    }

    fn float(&mut self, f: f64) {
        // The bounds are round numbers of microseconds: print them without float noise.
        let rounded = (f * 1000.0).round() / 1000.0;
        let _ = write!(self.0, "{rounded}");
    }

    /// A string, escaped: quotes, backslashes, control characters, and `<`, `>` and `&`
    /// (so that no text from clients, such as slow log arguments, can read as markup).
    fn string(&mut self, s: &str) {
        self.0.push('"');
        for c in s.chars() {
            match c {
                '"' => self.0.push_str("\\\""),
                '\\' => self.0.push_str("\\\\"),
                '\n' => self.0.push_str("\\n"),
                '\r' => self.0.push_str("\\r"),
                '\t' => self.0.push_str("\\t"),
                c if (c as u32) < 0x20
                    || matches!(c, '<' | '>' | '&' | '\u{2028}' | '\u{2029}') =>
                {
                    let _ = write!(self.0, "\\u{:04x}", c as u32);
                }
                c => self.0.push(c),
            }
        }
        self.0.push('"');
    }

    fn object(&mut self, key: &str, fields: &[(&str, u64)]) {
        self.key(key);
        self.open('{');
        for (k, v) in fields {
            self.key(k);
            self.num(*v);
        }
        self.close('}');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::published::SlowEntry;
    use serde_json::Value;

    #[test]
    fn the_page_is_self_contained_and_small() {
        assert!(PAGE.len() < 48 * 1024, "{} bytes", PAGE.len());
        for external in ["http://", "https://", "//cdn", "<link", "src=\""] {
            assert!(!PAGE.contains(external), "the page loads {external}");
        }
        assert!(PAGE.contains("console.json"));
    }

    #[test]
    fn the_json_parses_and_escapes_client_text() {
        let s = Stats::new(vec!["GET".into(), "SET".into()], 2);
        #[cfg(not(feature = "bench-no-metrics"))]
        s.commands[1].record(3_000, false);
        s.published.publish_slowlog((1, 1), || {
            vec![SlowEntry {
                id: 0,
                time: 1_700_000_000,
                duration_us: 12_345,
                args: vec!["SET".into(), "k\"</script>\u{1}".into(), "\u{fffd}".into()],
                client: "127.0.0.1:5000".into(),
                name: "worker".into(),
            }]
        });
        let text = json(&s);
        assert!(!text.contains("</script>"), "{text}");
        let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
        assert_eq!(v["latency_bounds_us"][0], 1.0);
        assert_eq!(v["latency_bounds_us"][1], 2.5);
        assert_eq!(v["latency_bounds_us"].as_array().map(Vec::len), Some(19));
        let entry = &v["slowlog"]["entries"][0];
        assert_eq!(entry["args"][1], "k\"</script>\u{1}");
        assert_eq!(entry["duration_us"], 12_345);
        assert_eq!(entry["name"], "worker");
        assert_eq!(v["policy"], "noeviction");
        #[cfg(not(feature = "bench-no-metrics"))]
        {
            assert_eq!(v["commands"][0]["cmd"], "SET");
            assert_eq!(v["commands"][0]["calls"], 1);
            assert_eq!(
                v["commands"][0]["buckets"].as_array().map(Vec::len),
                Some(20)
            );
            assert_eq!(v["commands"][0]["buckets"][2], 1);
        }
    }
}
