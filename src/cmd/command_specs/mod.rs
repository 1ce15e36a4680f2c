//! What COMMAND reports about each command beyond our table: Redis 7.0's key specs
//! (where the keys of a call are, and how the command uses them), its flags, ACL
//! categories, tips and version. `specs.rs` holds the facts, generated from Redis
//! 7.0.15's command definitions by `generate.py`; this module reads them: COMMAND
//! GETKEYS / GETKEYSANDFLAGS (Redis's getKeysFromCommandWithSpecs) and COMMAND INFO.

mod docs;
mod prose;
mod specs;

pub use docs::reply_docs;

/// Our one-line summary of a command or subcommand (`get`, `client|setinfo`).
pub fn summary(name: &str) -> Option<&'static str> {
    prose::prose(name).map(|p| p.summary)
}

use crate::resp::{Args, Reply};

/// Where a key spec's keys start (Redis's begin_search).
#[derive(Debug)]
pub enum Begin {
    /// At this argument.
    Index(i32),
    /// After this keyword, searched from `startfrom` (from the end when negative).
    Keyword(&'static str, i32),
    /// Only the command knows.
    Unknown,
}

/// Which arguments from there are keys (Redis's find_keys).
#[derive(Debug)]
pub enum Find {
    /// `lastkey` relative to the first (-1 = the last argument, or with `limit` the
    /// 1/limit share of what follows), every `step`.
    Range { lastkey: i32, step: i32, limit: i32 },
    /// The count is the argument at `index` (relative to the start); keys begin at
    /// `first` after the start, every `step`.
    Keynum { index: i32, first: i32, step: i32 },
    /// Only the command knows.
    Unknown,
}

/// One key spec.
#[derive(Debug)]
pub struct KeySpec {
    /// Redis's key flags (`RO`, `RW`, `OW`, `RM`, `ACCESS`, `UPDATE`, `INSERT`, `DELETE`,
    /// `NOT_KEY`, `INCOMPLETE`, `VARIABLE_FLAGS`).
    pub flags: &'static [&'static str],
    pub begin: Begin,
    pub find: Find,
}

/// What Redis 7.0 declares about one command or subcommand.
#[derive(Debug)]
pub struct Spec {
    /// `get`, or `container|sub`.
    pub name: &'static str,
    /// Its COMMAND DOCS group (`string`, `sorted-set`, `server`, ...).
    pub group: &'static str,
    /// The version that introduced it.
    pub since: &'static str,
    pub arity: i32,
    /// Command flags, lower case as Redis's definitions name them.
    pub flags: &'static [&'static str],
    /// Explicit ACL categories (the implicit ones follow from the flags).
    pub acl: &'static [&'static str],
    /// Tips for clients (`nondeterministic_output`, `request_policy:...`).
    pub tips: &'static [&'static str],
    /// Redis has a function that finds the keys where the specs cannot.
    pub getkeys_proc: bool,
    pub key_specs: &'static [KeySpec],
    /// COMMAND DOCS flags (`deprecated`, `syscmd`).
    pub doc_flags: &'static [&'static str],
    /// The version that deprecated it, or empty.
    pub deprecated_since: &'static str,
    /// The versions of its history entries (the notes are ours, in `prose`).
    pub history: &'static [&'static str],
    /// Its arguments, as COMMAND DOCS describes them.
    pub args: &'static [Arg],
}

/// One argument in COMMAND DOCS's argument tree.
#[derive(Debug)]
pub struct Arg {
    pub name: &'static str,
    /// `string`, `integer`, `double`, `key`, `pattern`, `unix-time`, `pure-token`, `oneof`
    /// or `block` (the last two hold `args`).
    pub kind: &'static str,
    /// The key spec that describes this key argument, or -1.
    pub key_spec_index: i32,
    /// The keyword before the value (or the whole argument for `pure-token`), or empty.
    pub token: &'static str,
    /// The version that added it, or empty.
    pub since: &'static str,
    pub deprecated_since: &'static str,
    /// `optional`, `multiple`, `multiple_token`.
    pub flags: &'static [&'static str],
    pub args: &'static [Arg],
}

/// The spec of a command (`get`) or subcommand (`memory|usage`), by lower-case name.
pub fn spec(name: &str) -> Option<&'static Spec> {
    specs::SPECS
        .binary_search_by(|s| s.name.cmp(name))
        .ok()
        .map(|i| &specs::SPECS[i])
}

/// A key found in a call: its argument index, and the flags of the spec that found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyRef {
    pub pos: usize,
    pub flags: &'static [&'static str],
}

/// The keys of a call (`args` from the command name on), as Redis's
/// getKeysFromCommandWithSpecs finds them: through the key specs when they are reliable,
/// else through the command's own rules. None when the arguments are not valid for it.
pub fn keys_of(spec: &Spec, args: &[&[u8]]) -> Vec<KeyRef> {
    let has_key = spec.key_specs.iter().any(|k| !k.flags.contains(&"NOT_KEY"));
    let variable = spec
        .key_specs
        .iter()
        .any(|k| k.flags.contains(&"VARIABLE_FLAGS"));
    if has_key
        && !variable
        && let Some(keys) = keys_from_specs(spec, args)
    {
        return keys;
    }
    if spec.getkeys_proc {
        return keys_by_rule(spec.name, args);
    }
    Vec::new()
}

/// Redis's getKeysUsingKeySpecs: None when a spec cannot be followed (unknown, out of
/// range, a bad count, or incomplete).
fn keys_from_specs(spec: &Spec, args: &[&[u8]]) -> Option<Vec<KeyRef>> {
    let argc = args.len() as i64;
    let mut keys = Vec::new();
    for ks in spec.key_specs {
        if ks.flags.contains(&"NOT_KEY") {
            continue;
        }
        let mut first: i64 = match ks.begin {
            Begin::Index(pos) => i64::from(pos),
            Begin::Keyword(word, from) => {
                let from = i64::from(from);
                let start = if from > 0 { from } else { argc + from };
                let end = if from > 0 { argc - 1 } else { 1 };
                let mut found = 0;
                let mut i = start;
                while i != end {
                    if i >= argc || i < 1 {
                        break;
                    }
                    if args[i as usize].eq_ignore_ascii_case(word.as_bytes()) {
                        found = i + 1;
                        break;
                    }
                    i += if start <= end { 1 } else { -1 };
                }
                if found == 0 {
                    continue;
                }
                found
            }
            Begin::Unknown => return None,
        };
        let (last, step) = match ks.find {
            Find::Range {
                lastkey,
                step,
                limit,
            } => {
                let lastkey = i64::from(lastkey);
                let last = if lastkey >= 0 {
                    first + lastkey
                } else if limit == 0 {
                    argc + lastkey
                } else {
                    first + ((argc - first) / i64::from(limit) + lastkey)
                };
                (last, i64::from(step))
            }
            Find::Keynum {
                index,
                first: at,
                step,
            } => {
                let idx = first + i64::from(index);
                if i64::from(index) >= argc || idx >= argc {
                    return None;
                }
                let n = crate::resp::parse_i64(args[idx as usize]).filter(|&n| n >= 0)?;
                first += i64::from(at);
                (first + n - 1, i64::from(step))
            }
            Find::Unknown => return None,
        };
        if last >= argc || last < first || first >= argc {
            return None;
        }
        let mut i = first;
        while i <= last {
            keys.push(KeyRef {
                pos: i as usize,
                flags: ks.flags,
            });
            i += step.max(1);
        }
        if ks.flags.contains(&"INCOMPLETE") {
            return None;
        }
    }
    Some(keys)
}

const RO_ACCESS: &[&str] = &["RO", "ACCESS"];
const RW_ACCESS_UPDATE: &[&str] = &["RW", "ACCESS", "UPDATE"];
const OW_UPDATE: &[&str] = &["OW", "UPDATE"];
const RW_ACCESS_DELETE: &[&str] = &["RW", "ACCESS", "DELETE"];

/// The commands' own rules, for those whose specs cannot say (Redis's *GetKeys
/// functions): the flags of SET and BITFIELD depend on their options, SORT's STORE can be
/// anywhere. For the commands whose count argument made the specs fail, no keys, as
/// Redis's genericGetKeys finds none for a count it cannot use.
fn keys_by_rule(name: &str, args: &[&[u8]]) -> Vec<KeyRef> {
    let key = |pos, flags| KeyRef { pos, flags };
    let is = |i: usize, w: &str| args[i].eq_ignore_ascii_case(w.as_bytes());
    match name {
        "set" => {
            let get = (3..args.len()).any(|i| is(i, "get"));
            vec![key(1, if get { RW_ACCESS_UPDATE } else { OW_UPDATE })]
        }
        "bitfield" => {
            let mut readonly = true;
            let mut i = 2;
            while i < args.len() {
                let rest = args.len() - i - 1;
                if is(i, "get") && rest >= 2 {
                    i += 3;
                } else if (is(i, "set") || is(i, "incrby")) && rest >= 3 {
                    readonly = false;
                    break;
                } else if is(i, "overflow") && rest >= 1 {
                    i += 2;
                } else {
                    // A syntax error: assume it writes.
                    readonly = false;
                    break;
                }
            }
            vec![key(
                1,
                if readonly {
                    RO_ACCESS
                } else {
                    RW_ACCESS_UPDATE
                },
            )]
        }
        "sort_ro" => vec![key(1, RO_ACCESS)],
        "migrate" => {
            // Redis's migrateGetKeys: the key argument, or what follows KEYS (none when
            // the key argument is not empty then: MIGRATE itself reports that).
            let mut first = 3;
            let mut num = 1;
            let mut i = 6;
            while i < args.len() {
                if is(i, "keys") {
                    if args[3].is_empty() {
                        first = i + 1;
                        num = args.len() - first;
                    } else {
                        num = 0;
                    }
                    break;
                }
                if is(i, "auth") {
                    i += 1;
                } else if is(i, "auth2") {
                    i += 2;
                }
                i += 1;
            }
            (first..(first + num).min(args.len()))
                .map(|p| key(p, RW_ACCESS_DELETE))
                .collect()
        }
        "sort" => {
            let mut keys = vec![key(1, RO_ACCESS)];
            let mut store = None;
            let mut i = 2;
            while i < args.len() {
                if is(i, "limit") {
                    i += 2;
                } else if is(i, "store") && i + 1 < args.len() {
                    // The last STORE counts, as SORT itself reads it.
                    store = Some(i + 1);
                } else if is(i, "get") || is(i, "by") {
                    i += 1;
                }
                i += 1;
            }
            keys.extend(store.map(|p| key(p, OW_UPDATE)));
            keys
        }
        _ => Vec::new(),
    }
}

/// True when the command has keys at all (Redis's doesCommandHaveKeys).
pub fn has_keys(spec: &Spec) -> bool {
    spec.getkeys_proc || spec.key_specs.iter().any(|k| !k.flags.contains(&"NOT_KEY"))
}

/// Writes key flags as Redis names them in replies: the access kind upper case, the rest
/// lower case, in Redis's order.
pub fn reply_key_flags(out: &mut Reply, flags: &[&str]) {
    const ORDER: [&str; 11] = [
        "RO",
        "RW",
        "OW",
        "RM",
        "ACCESS",
        "UPDATE",
        "INSERT",
        "DELETE",
        "NOT_KEY",
        "INCOMPLETE",
        "VARIABLE_FLAGS",
    ];
    let present: Vec<&str> = ORDER
        .iter()
        .copied()
        .filter(|f| flags.contains(f))
        .collect();
    out.set(present.len());
    for f in present {
        if f.len() == 2 {
            out.simple(f);
        } else {
            out.simple(&f.to_ascii_lowercase());
        }
    }
}

/// COMMAND GETKEYS / GETKEYSANDFLAGS: `args` are the subcommand's (the command to
/// examine starts at index 2).
pub fn getkeys(
    out: &mut Reply,
    args: Args,
    with_flags: bool,
    lookup: impl Fn(&[&[u8]]) -> Option<&'static Spec>,
) {
    let call: Vec<&[u8]> = args.iter().skip(2).collect();
    let Some(spec) = lookup(&call) else {
        out.error("ERR Invalid command specified");
        return;
    };
    if !has_keys(spec) {
        out.error("ERR The command has no key arguments");
        return;
    }
    let n = call.len() as i32;
    if (spec.arity > 0 && spec.arity != n) || n < -spec.arity {
        out.error("ERR Invalid number of arguments specified for command");
        return;
    }
    let keys = keys_of(spec, &call);
    if keys.is_empty() {
        if spec.flags.contains(&"no_mandatory_keys") {
            out.array(0);
        } else {
            out.error("ERR Invalid arguments specified for command");
        }
        return;
    }
    out.array(keys.len());
    for k in keys {
        if with_flags {
            out.array(2);
            out.bulk(call[k.pos]);
            reply_key_flags(out, k.flags);
        } else {
            out.bulk(call[k.pos]);
        }
    }
}

/// The flags COMMAND INFO shows (Redis's addReplyFlagsForCommand: its order, some
/// flags hidden), `movablekeys` included when the keys are not a plain range.
pub fn info_flags(spec: &Spec) -> Vec<&'static str> {
    const SHOWN: [&str; 21] = [
        "write",
        "readonly",
        "denyoom",
        "module",
        "admin",
        "pubsub",
        "noscript",
        "blocking",
        "loading",
        "stale",
        "skip_monitor",
        "skip_slowlog",
        "asking",
        "fast",
        "no_auth",
        "no_mandatory_keys",
        "no_async_loading",
        "no_multi",
        "movablekeys",
        "allow_busy",
        "",
    ];
    let movable = legacy_range(spec).1;
    SHOWN
        .iter()
        .copied()
        .filter(|f| !f.is_empty())
        .filter(|&f| spec.flags.contains(&f) || (f == "movablekeys" && movable))
        .collect()
}

/// The legacy (first, last, step) of COMMAND INFO, and whether the keys are movable
/// (Redis's populateCommandLegacyRangeSpec).
pub fn legacy_range(spec: &Spec) -> ((i64, i64, i64), bool) {
    let specs = spec.key_specs;
    if specs.is_empty() {
        return ((0, 0, 0), false);
    }
    if let [only] = specs
        && let (Begin::Index(pos), Find::Range { lastkey, step, .. }) = (&only.begin, &only.find)
    {
        let pos = i64::from(*pos);
        let last = i64::from(*lastkey);
        let last = if last >= 0 { last + pos } else { last };
        return (
            (pos, last, i64::from(*step)),
            only.flags.contains(&"INCOMPLETE"),
        );
    }
    let mut movable = false;
    let mut first = i64::MAX;
    let mut last: i64 = 0;
    let mut prev_last: i64 = 0;
    for ks in specs {
        let (Begin::Index(pos), Find::Range { lastkey, step, .. }) = (&ks.begin, &ks.find) else {
            movable = true;
            continue;
        };
        let pos = i64::from(*pos);
        if *step != 1 || (prev_last != 0 && prev_last != pos - 1) {
            movable = true;
            continue;
        }
        if ks.flags.contains(&"INCOMPLETE") {
            movable = true;
        }
        first = first.min(pos);
        let abs = if *lastkey >= 0 {
            i64::from(*lastkey) + pos
        } else {
            i64::from(*lastkey)
        };
        // Compared as unsigned, as Redis does: a negative (from the end) wins.
        last = if (abs as u64) > (last as u64) {
            abs
        } else {
            last
        };
        prev_last = last;
    }
    if first == i64::MAX {
        return ((0, 0, 0), true);
    }
    ((first, last, 1), movable)
}

/// COMMAND INFO's ACL categories: the explicit ones and those the flags imply, in Redis's
/// category order.
pub fn info_categories(spec: &Spec) -> Vec<&'static str> {
    const ORDER: [&str; 21] = [
        "keyspace",
        "read",
        "write",
        "set",
        "sortedset",
        "list",
        "hash",
        "string",
        "bitmap",
        "hyperloglog",
        "geo",
        "stream",
        "pubsub",
        "admin",
        "fast",
        "slow",
        "blocking",
        "dangerous",
        "connection",
        "transaction",
        "scripting",
    ];
    let has = |f: &str| spec.flags.contains(&f);
    let explicit = |c: &str| spec.acl.contains(&c);
    let implied = |c: &str| match c {
        "write" => has("write"),
        "read" => has("readonly") && !explicit("scripting"),
        "admin" | "dangerous" => has("admin"),
        "pubsub" => has("pubsub"),
        "fast" => has("fast"),
        "blocking" => has("blocking"),
        "slow" => !has("fast") && !explicit("fast"),
        _ => false,
    };
    ORDER
        .iter()
        .copied()
        .filter(|c| explicit(c) || implied(c))
        .collect()
}

/// One COMMAND INFO entry for `spec`, naming it `name`, with the subcommands given.
pub fn reply_info(out: &mut Reply, spec: &Spec, subcommands: &[&'static Spec]) {
    out.array(10);
    out.bulk(spec.name.as_bytes());
    out.int(i64::from(spec.arity));
    let flags = info_flags(spec);
    out.set(flags.len());
    for f in flags {
        out.simple(f);
    }
    let ((first, last, step), _) = legacy_range(spec);
    out.int(first);
    out.int(last);
    out.int(step);
    let cats = info_categories(spec);
    out.set(cats.len());
    for c in cats {
        out.simple(&format!("@{c}"));
    }
    out.set(spec.tips.len());
    for t in spec.tips {
        out.bulk(t.as_bytes());
    }
    out.set(spec.key_specs.len());
    for ks in spec.key_specs {
        reply_key_spec(out, ks);
    }
    if subcommands.is_empty() {
        out.set(0);
    } else {
        out.array(subcommands.len());
        for sub in subcommands {
            reply_info(out, sub, &[]);
        }
    }
}

fn reply_key_spec(out: &mut Reply, ks: &KeySpec) {
    out.map(3);
    out.bulk(b"flags");
    reply_key_flags(out, ks.flags);
    out.bulk(b"begin_search");
    out.map(2);
    out.bulk(b"type");
    match ks.begin {
        Begin::Index(pos) => {
            out.bulk(b"index");
            out.bulk(b"spec");
            out.map(1);
            out.bulk(b"index");
            out.int(i64::from(pos));
        }
        Begin::Keyword(word, from) => {
            out.bulk(b"keyword");
            out.bulk(b"spec");
            out.map(2);
            out.bulk(b"keyword");
            out.bulk(word.as_bytes());
            out.bulk(b"startfrom");
            out.int(i64::from(from));
        }
        Begin::Unknown => {
            out.bulk(b"unknown");
            out.bulk(b"spec");
            out.map(0);
        }
    }
    out.bulk(b"find_keys");
    out.map(2);
    out.bulk(b"type");
    match ks.find {
        Find::Range {
            lastkey,
            step,
            limit,
        } => {
            out.bulk(b"range");
            out.bulk(b"spec");
            out.map(3);
            out.bulk(b"lastkey");
            out.int(i64::from(lastkey));
            out.bulk(b"keystep");
            out.int(i64::from(step));
            out.bulk(b"limit");
            out.int(i64::from(limit));
        }
        Find::Keynum { index, first, step } => {
            out.bulk(b"keynum");
            out.bulk(b"spec");
            out.map(3);
            out.bulk(b"keynumidx");
            out.int(i64::from(index));
            out.bulk(b"firstkey");
            out.int(i64::from(first));
            out.bulk(b"keystep");
            out.int(i64::from(step));
        }
        Find::Unknown => {
            out.bulk(b"unknown");
            out.bulk(b"spec");
            out.map(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(call: &[&str]) -> Vec<(String, Vec<&'static str>)> {
        let args: Vec<&[u8]> = call.iter().map(|a| a.as_bytes()).collect();
        let s = spec(&call[0].to_ascii_lowercase()).unwrap();
        keys_of(s, &args)
            .into_iter()
            .map(|k| (call[k.pos].to_string(), k.flags.to_vec()))
            .collect()
    }

    #[test]
    fn the_table_is_sorted_and_complete() {
        assert!(specs::SPECS.windows(2).all(|w| w[0].name < w[1].name));
        assert!(spec("get").is_some());
        assert!(spec("memory|usage").is_some());
        assert!(spec("nosuch").is_none());
    }

    #[test]
    fn keys_as_redis_finds_them() {
        assert_eq!(
            keys(&["set", "k1", "v1"]),
            [("k1".into(), vec!["OW", "UPDATE"])]
        );
        assert_eq!(
            keys(&["set", "k1", "v1", "GET"])[0].1,
            ["RW", "ACCESS", "UPDATE"]
        );
        assert_eq!(
            keys(&["mset", "k1", "v1", "k2", "v2"])
                .iter()
                .map(|k| k.0.as_str())
                .collect::<Vec<_>>(),
            ["k1", "k2"]
        );
        let sort = keys(&["sort", "k1", "limit", "0", "1", "store", "k2"]);
        assert_eq!(sort[1], ("k2".into(), vec!["OW", "UPDATE"]));
        let z = keys(&["zunionstore", "t", "2", "a", "b", "weights", "1", "2"]);
        assert_eq!(
            z.iter().map(|k| k.0.as_str()).collect::<Vec<_>>(),
            ["t", "a", "b"]
        );
        assert!(keys(&["zunionstore", "t", "5", "a"]).is_empty());
        let x = keys(&["xread", "count", "1", "streams", "s1", "s2", "0", "0"]);
        assert_eq!(
            x.iter().map(|k| k.0.as_str()).collect::<Vec<_>>(),
            ["s1", "s2"]
        );
        assert!(keys(&["eval", "return 1", "0"]).is_empty());
        assert_eq!(
            keys(&["bitfield", "k", "get", "u8", "0"])[0].1,
            ["RO", "ACCESS"]
        );
    }

    #[test]
    fn legacy_ranges() {
        assert_eq!(legacy_range(spec("mset").unwrap()), ((1, -1, 2), false));
        assert_eq!(legacy_range(spec("get").unwrap()), ((1, 1, 1), false));
        assert!(legacy_range(spec("zunionstore").unwrap()).1);
        assert_eq!(legacy_range(spec("smove").unwrap()), ((1, 2, 1), false));
    }

    /// Every command Redis 7.0 defines has our texts, with history notes for exactly the
    /// versions its history lists; the parts are sorted and each name appears once.
    #[test]
    fn every_spec_has_our_texts() {
        let all: Vec<&prose::Prose> = prose::all().collect();
        assert!(all.windows(2).all(|w| w[0].name < w[1].name));
        for spec in specs::SPECS {
            let text = prose::prose(spec.name).unwrap_or_else(|| panic!("{}", spec.name));
            assert!(!text.summary.is_empty(), "{}", spec.name);
            let versions: Vec<&str> = text.history.iter().map(|(v, _)| *v).collect();
            assert_eq!(versions, spec.history, "history of {}", spec.name);
            assert!(text.history.iter().all(|(_, note)| !note.is_empty()));
            assert_eq!(
                text.replaced_by.is_empty(),
                spec.deprecated_since.is_empty(),
                "{}",
                spec.name
            );
        }
        // Texts for what Redis 7.0 does not define: our commands beyond it.
        for extra in all.iter().filter(|p| spec(p.name).is_none()) {
            assert!(
                crate::cmd::table()
                    .lookup(extra.name.split('|').next().unwrap().as_bytes())
                    .is_some(),
                "{} is neither Redis's nor ours",
                extra.name
            );
        }
    }

    /// Every command and subcommand we have is documented: Redis's facts, or (for the few
    /// Redis 7.0 lacks) at least our summary.
    #[test]
    fn every_command_we_have_is_documented() {
        let tbl = crate::cmd::table();
        for (id, c) in tbl.all().iter().enumerate() {
            assert!(spec(c.name).is_some(), "{}", c.name);
            for (sub, _) in tbl.subcommands(id) {
                let full = format!("{}|{sub}", c.name);
                assert!(summary(&full).is_some(), "{full}");
            }
        }
    }
}
