//! Command documentation from the server's COMMAND DOCS, for the interactive mode's hints
//! (the arguments still to type, shown in grey after the cursor) and tab completion, built
//! as redis-cli 7 builds them. A server without COMMAND DOCS leaves keyval-cli's own short
//! table in use.

use crate::reply::Reply;
use crate::split::split_args;

/// One command (or subcommand: `CLIENT LIST`) or, for `help @<tab>`, a group (`@string`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// `GET`, `CLIENT LIST`, `@string`.
    pub full: String,
    /// Its argument synopsis: `key [key ...]`.
    pub params: String,
    pub summary: String,
    pub since: Option<String>,
    pub group: Option<String>,
    pub is_group: bool,
}

/// The key/value pairs of a map, or of a RESP2 array holding them flat.
fn pairs(reply: &Reply) -> Vec<(&Reply, &Reply)> {
    match reply {
        Reply::Map(pairs) => pairs.iter().map(|(k, v)| (k, v)).collect(),
        Reply::Array(items) => items.chunks_exact(2).map(|p| (&p[0], &p[1])).collect(),
        _ => Vec::new(),
    }
}

fn text(reply: &Reply) -> Option<String> {
    reply
        .as_bytes()
        .map(|b| String::from_utf8_lossy(b).into_owned())
}

/// The help entries from a COMMAND DOCS reply (None if it is not one), sorted by name.
pub fn from_command_docs(reply: &Reply) -> Option<Vec<Entry>> {
    if !matches!(reply, Reply::Map(_) | Reply::Array(_)) {
        return None;
    }
    let mut entries = Vec::new();
    let mut groups = Vec::new();
    for (name, specs) in pairs(reply) {
        add_command(&text(name)?, specs, &mut entries, &mut groups);
    }
    for group in groups {
        entries.push(Entry {
            full: format!("@{group}"),
            params: String::new(),
            summary: String::new(),
            since: None,
            group: None,
            is_group: true,
        });
    }
    entries.sort_by(|a, b| a.full.cmp(&b.full));
    Some(entries)
}

fn add_command(name: &str, specs: &Reply, entries: &mut Vec<Entry>, groups: &mut Vec<String>) {
    // Subcommands are named `client|list`.
    let full = name.replace('|', " ").to_ascii_uppercase();
    let mut entry = Entry {
        full,
        params: String::new(),
        summary: String::new(),
        since: None,
        group: None,
        is_group: false,
    };
    let mut subcommands = Vec::new();
    for (key, value) in pairs(specs) {
        match text(key).as_deref() {
            Some("summary") => entry.summary = text(value).unwrap_or_default(),
            Some("since") => entry.since = text(value),
            Some("group") => {
                entry.group = text(value);
                if let Some(group) = &entry.group
                    && !groups.contains(group)
                {
                    groups.push(group.clone());
                }
            }
            Some("arguments") => entry.params = join_arguments(value, " "),
            Some("subcommands") => {
                for (sub_name, sub_specs) in pairs(value) {
                    if let Some(sub_name) = text(sub_name) {
                        subcommands.push((sub_name, sub_specs));
                    }
                }
            }
            _ => {}
        }
    }
    entries.push(entry);
    for (sub_name, sub_specs) in subcommands {
        add_command(&sub_name, sub_specs, entries, groups);
    }
}

fn join_arguments(arguments: &Reply, separator: &str) -> String {
    let (Reply::Array(items) | Reply::Set(items)) = arguments else {
        return String::new();
    };
    items
        .iter()
        .map(argument)
        .collect::<Vec<_>>()
        .join(separator)
}

/// `""` stands for an empty name or token, as redis-cli shows it.
fn or_empty(text: &str) -> String {
    if text.is_empty() {
        "\"\"".to_string()
    } else {
        text.to_string()
    }
}

/// One argument's synopsis: `[EX seconds]`, `key [key ...]`, `NX|XX`, ...
fn argument(spec: &Reply) -> String {
    let (mut name, mut kind, mut token) = (String::new(), String::new(), String::new());
    let (mut optional, mut multiple, mut multiple_token) = (false, false, false);
    let mut nested = None;
    for (key, value) in pairs(spec) {
        match text(key).as_deref() {
            Some("name") => name = text(value).unwrap_or_default(),
            Some("type") => kind = text(value).unwrap_or_default(),
            Some("token") => token = or_empty(&text(value).unwrap_or_default()),
            Some("arguments") => nested = Some(value),
            Some("flags") => {
                if let Reply::Array(flags) | Reply::Set(flags) = value {
                    for flag in flags.iter().filter_map(text) {
                        match flag.as_str() {
                            "optional" => optional = true,
                            "multiple" => multiple = true,
                            "multiple_token" => multiple_token = true,
                            _ => {}
                        }
                    }
                }
            }
            _ => {}
        }
    }
    let repeated = match kind.as_str() {
        "oneof" => nested.map_or(String::new(), |n| join_arguments(n, "|")),
        "block" => nested.map_or(String::new(), |n| join_arguments(n, " ")),
        "pure-token" => String::new(),
        _ => or_empty(&name),
    };
    if !token.is_empty() && kind != "pure-token" {
        token.push(' ');
    }
    let mut out = String::new();
    if optional {
        out.push('[');
    }
    out.push_str(&token);
    out.push_str(&repeated);
    if multiple {
        out.push_str(" [");
        if multiple_token {
            out.push_str(&token);
        }
        out.push_str(&repeated);
        out.push_str(" ...]");
    }
    if optional {
        out.push(']');
    }
    out
}

/// The hint for what is typed so far: the arguments of the longest matching command not
/// typed yet, as redis-cli shows them.
pub fn hint(entries: &[Entry], line: &str) -> Option<String> {
    let typed = split_args(line)?;
    if typed.is_empty() {
        return None;
    }
    let typed: Vec<String> = typed
        .iter()
        .map(|w| String::from_utf8_lossy(w).into_owned())
        .collect();
    let mut best: Option<(&Entry, usize)> = None;
    for entry in entries.iter().filter(|e| !e.is_group) {
        let words: Vec<&str> = entry.full.split(' ').collect();
        let matches = words.len() <= typed.len()
            && words
                .iter()
                .zip(&typed)
                .all(|(w, t)| w.eq_ignore_ascii_case(t));
        if matches && best.is_none_or(|(_, n)| words.len() > n) {
            best = Some((entry, words.len()));
        }
    }
    let (entry, matched) = best?;
    // Drop the arguments already typed, up to the first optional one.
    let mut hint = entry.params.as_str();
    let mut to_remove = typed.len() - matched;
    while to_remove > 0 && !hint.is_empty() {
        if hint.starts_with('[') {
            break;
        }
        if hint.starts_with(' ') {
            to_remove -= 1;
        }
        hint = &hint[1..];
    }
    let ends_with_space = line.ends_with(char::is_whitespace);
    Some(if ends_with_space {
        hint.to_string()
    } else {
        format!(" {hint}")
    })
}

/// What `help <topic>` prints, as redis-cli 7 prints it from COMMAND DOCS: every command
/// whose words start with the topic's (`help client` shows CLIENT and its subcommands),
/// or with `@group` every command of the group (without the group line), then a blank
/// line. redis-cli writes `\r\n` and ANSI styles here, on a terminal or not.
pub fn help_text(entries: &[Entry], topic: &[String]) -> String {
    let group = topic.first().and_then(|t| t.strip_prefix('@'));
    let mut out = String::new();
    for entry in entries.iter().filter(|e| !e.is_group) {
        let with_group = match group {
            Some(group) => {
                if !entry
                    .group
                    .as_deref()
                    .is_some_and(|g| g.eq_ignore_ascii_case(group))
                {
                    continue;
                }
                false
            }
            None => {
                let words: Vec<&str> = entry.full.split(' ').collect();
                if topic.len() > words.len()
                    || !topic
                        .iter()
                        .zip(&words)
                        .all(|(t, w)| t.eq_ignore_ascii_case(w))
                {
                    continue;
                }
                true
            }
        };
        out.push_str(&format!(
            "\r\n  \x1b[1m{}\x1b[0m \x1b[90m{}\x1b[0m\r\n",
            entry.full, entry.params
        ));
        out.push_str(&format!("  \x1b[33msummary:\x1b[0m {}\r\n", entry.summary));
        if let Some(since) = &entry.since {
            out.push_str(&format!("  \x1b[33msince:\x1b[0m {since}\r\n"));
        }
        if with_group {
            let group = entry.group.as_deref().unwrap_or("");
            out.push_str(&format!("  \x1b[33mgroup:\x1b[0m {group}\r\n"));
        }
    }
    out.push_str("\r\n");
    out
}

/// Completions of the line typed so far: command names (and, after `help `, groups),
/// each the whole line as it would become.
pub fn complete(entries: &[Entry], line: &str) -> Vec<String> {
    let is_help = line.len() >= 5 && line.as_bytes()[..5].eq_ignore_ascii_case(b"help ");
    let (start, groups_too) = if is_help {
        (5 + (line[5..].len() - line[5..].trim_start().len()), true)
    } else {
        (0, false)
    };
    let typed = &line[start..];
    entries
        .iter()
        .filter(|e| groups_too || !e.is_group)
        .filter(|e| {
            e.full.len() >= typed.len()
                && e.full.as_bytes()[..typed.len()].eq_ignore_ascii_case(typed.as_bytes())
        })
        .map(|e| format!("{}{}", &line[..start], e.full))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Reply {
        Reply::Bulk(s.as_bytes().to_vec())
    }

    fn map(pairs: Vec<(&str, Reply)>) -> Reply {
        Reply::Map(pairs.into_iter().map(|(k, v)| (bulk(k), v)).collect())
    }

    fn flags(names: &[&str]) -> Reply {
        Reply::Set(
            names
                .iter()
                .map(|n| Reply::Status(n.as_bytes().to_vec()))
                .collect(),
        )
    }

    /// SET's documentation, shortened.
    fn docs() -> Reply {
        let set = map(vec![
            ("summary", bulk("Set the string value of a key")),
            ("since", bulk("1.0.0")),
            ("group", bulk("string")),
            (
                "arguments",
                Reply::Array(vec![
                    map(vec![("name", bulk("key")), ("type", bulk("key"))]),
                    map(vec![("name", bulk("value")), ("type", bulk("string"))]),
                    map(vec![
                        ("name", bulk("condition")),
                        ("type", bulk("oneof")),
                        ("flags", flags(&["optional"])),
                        (
                            "arguments",
                            Reply::Array(vec![
                                map(vec![
                                    ("name", bulk("nx")),
                                    ("type", bulk("pure-token")),
                                    ("token", bulk("NX")),
                                ]),
                                map(vec![
                                    ("name", bulk("xx")),
                                    ("type", bulk("pure-token")),
                                    ("token", bulk("XX")),
                                ]),
                            ]),
                        ),
                    ]),
                    map(vec![
                        ("name", bulk("seconds")),
                        ("type", bulk("integer")),
                        ("token", bulk("EX")),
                        ("flags", flags(&["optional"])),
                    ]),
                ]),
            ),
        ]);
        let del = map(vec![
            ("summary", bulk("Delete a key")),
            ("group", bulk("generic")),
            (
                "arguments",
                Reply::Array(vec![map(vec![
                    ("name", bulk("key")),
                    ("type", bulk("key")),
                    ("flags", flags(&["multiple"])),
                ])]),
            ),
        ]);
        let client = map(vec![
            ("group", bulk("connection")),
            (
                "subcommands",
                map(vec![("client|id", map(vec![("summary", bulk("id"))]))]),
            ),
        ]);
        Reply::Map(vec![
            (bulk("set"), set),
            (bulk("del"), del),
            (bulk("client"), client),
        ])
    }

    #[test]
    fn synopses_as_redis_cli_builds_them() {
        let entries = from_command_docs(&docs()).unwrap();
        let set = entries.iter().find(|e| e.full == "SET").unwrap();
        assert_eq!(set.params, "key value [NX|XX] [EX seconds]");
        let del = entries.iter().find(|e| e.full == "DEL").unwrap();
        assert_eq!(del.params, "key [key ...]");
        assert!(entries.iter().any(|e| e.full == "CLIENT ID"));
        assert!(entries.iter().any(|e| e.full == "@string" && e.is_group));
        assert!(from_command_docs(&Reply::Error(b"ERR".to_vec())).is_none());
    }

    #[test]
    fn hints_drop_what_is_typed() {
        let entries = from_command_docs(&docs()).unwrap();
        assert_eq!(
            hint(&entries, "set").as_deref(),
            Some(" key value [NX|XX] [EX seconds]")
        );
        assert_eq!(
            hint(&entries, "SET k ").as_deref(),
            Some("value [NX|XX] [EX seconds]")
        );
        assert_eq!(
            hint(&entries, "set k v ").as_deref(),
            Some("[NX|XX] [EX seconds]")
        );
        assert_eq!(hint(&entries, "client id").as_deref(), Some(" "));
        assert_eq!(hint(&entries, "nosuch"), None);
        assert_eq!(hint(&entries, ""), None);
    }

    #[test]
    fn completion_of_commands_and_help_topics() {
        let entries = from_command_docs(&docs()).unwrap();
        assert_eq!(complete(&entries, "se"), ["SET"]);
        assert_eq!(complete(&entries, "cl"), ["CLIENT", "CLIENT ID"]);
        assert_eq!(complete(&entries, "help @s"), ["help @string"]);
        assert!(complete(&entries, "@").is_empty());
    }
}
