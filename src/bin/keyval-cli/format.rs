//! Turning replies into text, in the styles keyval-cli prints.
//!
//! - **Plain** (one-shot mode, and interactive mode when stdout is not a terminal): the value
//!   itself, as a script wants it. `OK`, `1`, the raw bytes of a string, `NULL` for nil, and an
//!   aggregate one element per line, nested aggregates indented by two spaces per level. RESP3
//!   values as redis-cli's raw output has them: a double as its text, `(true)`, a map one
//!   `key value` pair per line.
//! - **Pretty** (interactive mode on a terminal, or `--no-raw`): exactly redis-cli's style.
//!   `(integer) 1`, `"quoted"` strings with escapes, `(nil)`, `1) ...` numbered array items
//!   with nested arrays aligned under their parent's number, `(error) ...`; RESP3 maps as
//!   `1# "key" => "value"`, sets as `1~ "member"`, `(double) 3.14`, `(true)`, `(big number) N`,
//!   verbatim strings as their text.
//! - **Csv** (`--csv`): redis-cli's CSV line per reply.
//!
//! A few commands whose reply is a report meant to be read as is (INFO, CLIENT LIST, ...) are
//! printed verbatim in every style, as redis-cli does: see [`prints_verbatim`].

use crate::reply::Reply;

/// How replies are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Plain,
    Pretty,
    Csv,
}

impl Style {
    /// Appends `reply`, the answer to `command`, in this style.
    pub fn render_reply_to(self, command: &[Vec<u8>], reply: &Reply, out: &mut Vec<u8>) {
        if prints_verbatim(command) {
            verbatim(reply, out);
        } else {
            self.render(reply, out);
        }
    }

    /// Appends `reply` in this style.
    pub fn render(self, reply: &Reply, out: &mut Vec<u8>) {
        match self {
            Style::Plain => plain(reply, out),
            Style::Pretty => pretty(reply, out),
            Style::Csv => {
                csv(reply, out);
                out.push(b'\n');
            }
        }
    }
}

/// Whether `command`'s reply is a text report printed as is (no quoting, no added newline),
/// as redis-cli prints these commands' replies.
pub fn prints_verbatim(command: &[Vec<u8>]) -> bool {
    let word = |i: usize| {
        command
            .get(i)
            .map(|w| String::from_utf8_lossy(w).to_ascii_lowercase())
            .unwrap_or_default()
    };
    let (name, sub, argc) = (word(0), word(1), command.len());
    match name.as_str() {
        "info" | "lolwut" => true,
        "debug" => {
            argc >= 2 && matches!(sub.as_str(), "htstats" | "htstats-key" | "client-eviction")
        }
        "memory" => argc >= 2 && matches!(sub.as_str(), "malloc-stats" | "doctor"),
        "cluster" => argc == 2 && matches!(sub.as_str(), "nodes" | "info"),
        "client" => argc >= 2 && matches!(sub.as_str(), "list" | "info"),
        "latency" => (argc == 3 && sub == "graph") || (argc == 2 && sub == "doctor"),
        "proxy" => argc >= 2 && sub == "info",
        _ => false,
    }
}

/// The text of a reply that is not an aggregate, in the plain style (`None` for aggregates).
fn plain_scalar(reply: &Reply) -> Option<Vec<u8>> {
    Some(match reply {
        Reply::Status(text) | Reply::Bulk(text) | Reply::Verbatim(text) => text.clone(),
        Reply::Error(text) => [b"(error) ".as_slice(), text].concat(),
        Reply::Integer(n) => n.to_string().into_bytes(),
        Reply::Nil => b"NULL".to_vec(),
        Reply::Double(text) | Reply::BigNumber(text) => text.clone().into_bytes(),
        Reply::Bool(true) => b"(true)".to_vec(),
        Reply::Bool(false) => b"(false)".to_vec(),
        Reply::Array(_) | Reply::Set(_) | Reply::Push(_) | Reply::Map(_) => return None,
    })
}

fn is_aggregate(reply: &Reply) -> bool {
    matches!(
        reply,
        Reply::Array(_) | Reply::Set(_) | Reply::Push(_) | Reply::Map(_)
    )
}

/// Appends `reply` in the plain style, ending with a newline (nothing at all for an empty
/// aggregate: zero elements, zero lines).
pub fn plain(reply: &Reply, out: &mut Vec<u8>) {
    plain_at(reply, 0, out);
}

fn plain_at(reply: &Reply, depth: usize, out: &mut Vec<u8>) {
    let indent = |out: &mut Vec<u8>| out.extend(std::iter::repeat_n(b' ', depth * 2));
    match reply {
        Reply::Array(items) | Reply::Set(items) | Reply::Push(items) => {
            for item in items {
                // Elements of a nested aggregate sit one level deeper than the aggregate.
                let child_depth = if is_aggregate(item) { depth + 1 } else { depth };
                plain_at(item, child_depth, out);
            }
        }
        Reply::Map(pairs) => {
            for (key, value) in pairs {
                indent(out);
                match plain_scalar(key) {
                    Some(text) => out.extend_from_slice(&text),
                    None => out.extend_from_slice(b"(aggregate key)"),
                }
                // `key value` on one line, as redis-cli's raw output; an aggregate value
                // follows on the next lines, one level deeper.
                out.push(b' ');
                match plain_scalar(value) {
                    Some(text) => {
                        out.extend_from_slice(&text);
                        out.push(b'\n');
                    }
                    None => {
                        out.push(b'\n');
                        plain_at(value, depth + 1, out);
                    }
                }
            }
        }
        scalar => {
            indent(out);
            out.extend_from_slice(&plain_scalar(scalar).unwrap_or_default());
            out.push(b'\n');
        }
    }
}

/// Appends `reply` in redis-cli's terminal style, ending with a newline.
pub fn pretty(reply: &Reply, out: &mut Vec<u8>) {
    pretty_with_prefix(reply, "", out);
}

/// Whether the pretty form of `reply` takes more than one line (a map value that does starts
/// on a line of its own, aligned under its key).
fn pretty_is_multiline(reply: &Reply) -> bool {
    match reply {
        Reply::Array(items) | Reply::Set(items) | Reply::Push(items) => match items.as_slice() {
            [] => false,
            [only] => pretty_is_multiline(only),
            _ => true,
        },
        Reply::Map(pairs) => match pairs.as_slice() {
            [] => false,
            [(_, value)] => pretty_is_multiline(value),
            _ => true,
        },
        _ => false,
    }
}

/// `prefix` is the indentation of this reply's continuation lines: an item's first line
/// follows its parent's `N) `, the next items are indented by `prefix`.
fn pretty_with_prefix(reply: &Reply, prefix: &str, out: &mut Vec<u8>) {
    match reply {
        Reply::Status(text) | Reply::Verbatim(text) => {
            out.extend_from_slice(text);
            out.push(b'\n');
        }
        Reply::Error(text) => {
            out.extend_from_slice(b"(error) ");
            out.extend_from_slice(text);
            out.push(b'\n');
        }
        Reply::Integer(n) => out.extend_from_slice(format!("(integer) {n}\n").as_bytes()),
        Reply::Double(text) => out.extend_from_slice(format!("(double) {text}\n").as_bytes()),
        Reply::BigNumber(text) => {
            out.extend_from_slice(format!("(big number) {text}\n").as_bytes())
        }
        Reply::Bool(b) => out.extend_from_slice(if *b { b"(true)\n" } else { b"(false)\n" }),
        Reply::Bulk(data) => {
            out.extend_from_slice(quote(data).as_bytes());
            out.push(b'\n');
        }
        Reply::Nil => out.extend_from_slice(b"(nil)\n"),
        Reply::Array(items) if items.is_empty() => out.extend_from_slice(b"(empty array)\n"),
        Reply::Set(items) if items.is_empty() => out.extend_from_slice(b"(empty set)\n"),
        Reply::Push(items) if items.is_empty() => out.extend_from_slice(b"(empty push)\n"),
        Reply::Map(pairs) if pairs.is_empty() => out.extend_from_slice(b"(empty hash)\n"),
        Reply::Array(items) | Reply::Push(items) => pretty_items(items, ')', prefix, out),
        Reply::Set(items) => pretty_items(items, '~', prefix, out),
        Reply::Map(pairs) => {
            let (width, child_prefix) = numbering(pairs.len(), prefix);
            for (i, (key, value)) in pairs.iter().enumerate() {
                if i > 0 {
                    out.extend_from_slice(prefix.as_bytes());
                }
                out.extend_from_slice(format!("{:>width$}# ", i + 1).as_bytes());
                pretty_with_prefix(key, &child_prefix, out);
                // The key's newline gives way to the arrow.
                out.pop();
                out.extend_from_slice(b" => ");
                if pretty_is_multiline(value) {
                    out.push(b'\n');
                    out.extend_from_slice(child_prefix.as_bytes());
                }
                pretty_with_prefix(value, &child_prefix, out);
            }
        }
    }
}

/// The width of the largest item number and the prefix of nested items' continuation lines.
fn numbering(count: usize, prefix: &str) -> (usize, String) {
    let width = count.to_string().len();
    (width, format!("{prefix}{}", " ".repeat(width + 2)))
}

fn pretty_items(items: &[Reply], separator: char, prefix: &str, out: &mut Vec<u8>) {
    // Numbers are right-aligned to the width of the largest one, as redis-cli does.
    let (width, child_prefix) = numbering(items.len(), prefix);
    for (i, item) in items.iter().enumerate() {
        // The first item's line already starts after the parent's number.
        if i > 0 {
            out.extend_from_slice(prefix.as_bytes());
        }
        out.extend_from_slice(format!("{:>width$}{separator} ", i + 1).as_bytes());
        pretty_with_prefix(item, &child_prefix, out);
    }
}

/// Appends `reply` as redis-cli's `--csv` does (without the final newline): strings quoted,
/// numbers bare, `NULL`, `true`/`false`, aggregates (maps too) flattened with commas.
pub fn csv(reply: &Reply, out: &mut Vec<u8>) {
    match reply {
        Reply::Error(text) => {
            out.extend_from_slice(b"ERROR,");
            out.extend_from_slice(quote(text).as_bytes());
        }
        Reply::Status(text) | Reply::Bulk(text) | Reply::Verbatim(text) => {
            out.extend_from_slice(quote(text).as_bytes())
        }
        Reply::Integer(n) => out.extend_from_slice(n.to_string().as_bytes()),
        Reply::Double(text) | Reply::BigNumber(text) => out.extend_from_slice(text.as_bytes()),
        Reply::Nil => out.extend_from_slice(b"NULL"),
        Reply::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Reply::Array(items) | Reply::Set(items) | Reply::Push(items) => {
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                csv(item, out);
            }
        }
        Reply::Map(pairs) => {
            for (i, (key, value)) in pairs.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                csv(key, out);
                out.push(b',');
                csv(value, out);
            }
        }
    }
}

/// Appends `reply` as its bare text (redis-cli's raw form with no newline added): how report
/// commands such as INFO are printed in every style.
pub fn verbatim(reply: &Reply, out: &mut Vec<u8>) {
    match reply {
        Reply::Nil => {}
        Reply::Error(text) => {
            out.extend_from_slice(text);
            out.push(b'\n');
        }
        Reply::Array(items) | Reply::Set(items) | Reply::Push(items) => {
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b'\n');
                }
                verbatim(item, out);
            }
        }
        Reply::Map(pairs) => {
            for (i, (key, value)) in pairs.iter().enumerate() {
                if i > 0 {
                    out.push(b'\n');
                }
                verbatim(key, out);
                out.push(b' ');
                verbatim(value, out);
            }
        }
        scalar => out.extend_from_slice(&plain_scalar(scalar).unwrap_or_default()),
    }
}

/// Quotes bytes the way redis-cli shows strings: `"..."` with `\\`, `\"`, `\n`, `\r`, `\t`,
/// `\a`, `\b` and `\xHH` for any other non-printable byte.
pub fn quote(data: &[u8]) -> String {
    let mut s = String::with_capacity(data.len() + 2);
    s.push('"');
    for &b in data {
        match b {
            b'\\' => s.push_str("\\\\"),
            b'"' => s.push_str("\\\""),
            b'\n' => s.push_str("\\n"),
            b'\r' => s.push_str("\\r"),
            b'\t' => s.push_str("\\t"),
            0x07 => s.push_str("\\a"),
            0x08 => s.push_str("\\b"),
            0x20..=0x7e => s.push(b as char),
            _ => s.push_str(&format!("\\x{b:02x}")),
        }
    }
    s.push('"');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Reply {
        Reply::Bulk(s.as_bytes().to_vec())
    }

    fn text_of(style: Style, reply: &Reply) -> String {
        let mut out = Vec::new();
        style.render(reply, &mut out);
        String::from_utf8(out).unwrap()
    }

    fn plain_text(reply: &Reply) -> String {
        text_of(Style::Plain, reply)
    }

    fn pretty_text(reply: &Reply) -> String {
        text_of(Style::Pretty, reply)
    }

    fn csv_text(reply: &Reply) -> String {
        text_of(Style::Csv, reply)
    }

    #[test]
    fn plain_scalars_match_the_readme() {
        assert_eq!(plain_text(&Reply::Status(b"OK".to_vec())), "OK\n");
        assert_eq!(plain_text(&Reply::Integer(1)), "1\n");
        assert_eq!(plain_text(&bulk("1")), "1\n");
        assert_eq!(plain_text(&bulk("two\nlines")), "two\nlines\n");
        assert_eq!(plain_text(&Reply::Nil), "NULL\n");
    }

    #[test]
    fn plain_arrays_one_per_line_nested_indented() {
        let reply = Reply::Array(vec![
            bulk("a"),
            Reply::Array(vec![
                bulk("b"),
                Reply::Array(vec![Reply::Integer(3)]),
                Reply::Nil,
            ]),
            bulk("c"),
        ]);
        assert_eq!(plain_text(&reply), "a\n  b\n    3\n  NULL\nc\n");
        assert_eq!(plain_text(&Reply::Array(vec![])), "");
    }

    #[test]
    fn plain_resp3_like_redis_cli_raw() {
        let map = Reply::Map(vec![
            (bulk("f1"), bulk("v1")),
            (bulk("proto"), Reply::Integer(3)),
            (bulk("modules"), Reply::Array(vec![])),
            (bulk("list"), Reply::Array(vec![bulk("x"), bulk("y")])),
        ]);
        assert_eq!(
            plain_text(&map),
            "f1 v1\nproto 3\nmodules \nlist \n  x\n  y\n"
        );
        assert_eq!(plain_text(&Reply::Double("1.5".into())), "1.5\n");
        assert_eq!(plain_text(&Reply::Bool(true)), "(true)\n");
        assert_eq!(plain_text(&Reply::BigNumber("123".into())), "123\n");
        assert_eq!(
            plain_text(&Reply::Verbatim(b"# Server".to_vec())),
            "# Server\n"
        );
        assert_eq!(
            plain_text(&Reply::Set(vec![bulk("b"), bulk("a")])),
            "b\na\n"
        );
    }

    #[test]
    fn pretty_scalars_like_redis_cli() {
        assert_eq!(pretty_text(&Reply::Status(b"OK".to_vec())), "OK\n");
        assert_eq!(pretty_text(&Reply::Integer(-2)), "(integer) -2\n");
        assert_eq!(pretty_text(&bulk("bar")), "\"bar\"\n");
        assert_eq!(pretty_text(&Reply::Nil), "(nil)\n");
        assert_eq!(
            pretty_text(&Reply::Error(b"ERR unknown command".to_vec())),
            "(error) ERR unknown command\n"
        );
        assert_eq!(pretty_text(&Reply::Array(vec![])), "(empty array)\n");
        assert_eq!(
            pretty_text(&Reply::Double("3.14".into())),
            "(double) 3.14\n"
        );
        assert_eq!(pretty_text(&Reply::Bool(false)), "(false)\n");
        assert_eq!(
            pretty_text(&Reply::BigNumber("1".into())),
            "(big number) 1\n"
        );
        assert_eq!(pretty_text(&Reply::Verbatim(b"a\"b".to_vec())), "a\"b\n");
        assert_eq!(pretty_text(&Reply::Set(vec![])), "(empty set)\n");
        assert_eq!(pretty_text(&Reply::Map(vec![])), "(empty hash)\n");
        assert_eq!(pretty_text(&Reply::Push(vec![])), "(empty push)\n");
    }

    #[test]
    fn pretty_arrays_like_redis_cli() {
        let reply = Reply::Array(vec![bulk("a"), Reply::Nil, Reply::Integer(3)]);
        assert_eq!(pretty_text(&reply), "1) \"a\"\n2) (nil)\n3) (integer) 3\n");

        // Nested arrays align under their parent's number (checked against redis-cli 7).
        let nested = Reply::Array(vec![
            Reply::Array(vec![bulk("x"), Reply::Array(vec![bulk("y"), bulk("z")])]),
            bulk("w"),
        ]);
        assert_eq!(
            pretty_text(&nested),
            "1) 1) \"x\"\n   2) 1) \"y\"\n      2) \"z\"\n2) \"w\"\n"
        );

        // Ten items or more: numbers right-aligned.
        let ten = Reply::Array((1..=10).map(Reply::Integer).collect());
        let text = pretty_text(&ten);
        assert!(text.starts_with(" 1) (integer) 1\n"), "{text}");
        assert!(text.ends_with("10) (integer) 10\n"), "{text}");
    }

    #[test]
    fn pretty_maps_and_sets_like_redis_cli() {
        let hello = Reply::Map(vec![
            (bulk("proto"), Reply::Integer(3)),
            (bulk("modules"), Reply::Array(vec![])),
            (bulk("one"), Reply::Array(vec![bulk("x")])),
            (bulk("two"), Reply::Array(vec![bulk("x"), bulk("y")])),
        ]);
        assert_eq!(
            pretty_text(&hello),
            concat!(
                "1# \"proto\" => (integer) 3\n",
                "2# \"modules\" => (empty array)\n",
                "3# \"one\" => 1) \"x\"\n",
                "4# \"two\" => \n",
                "   1) \"x\"\n",
                "   2) \"y\"\n",
            )
        );
        let set = Reply::Set(vec![bulk("b"), bulk("a")]);
        assert_eq!(pretty_text(&set), "1~ \"b\"\n2~ \"a\"\n");
    }

    #[test]
    fn csv_like_redis_cli() {
        let map = Reply::Map(vec![
            (bulk("a"), Reply::Integer(1)),
            (bulk("m"), Reply::Array(vec![])),
        ]);
        assert_eq!(csv_text(&map), "\"a\",1,\"m\",\n");
        assert_eq!(
            csv_text(&Reply::Array(vec![
                bulk("x\n"),
                Reply::Nil,
                Reply::Double("2".into())
            ])),
            "\"x\\n\",NULL,2\n"
        );
        assert_eq!(
            csv_text(&Reply::Error(b"ERR no".to_vec())),
            "ERROR,\"ERR no\"\n"
        );
        assert_eq!(csv_text(&Reply::Bool(true)), "true\n");
    }

    #[test]
    fn report_commands_print_verbatim() {
        let info = Reply::Bulk(b"# Server\r\nx:1\r\n".to_vec());
        for style in [Style::Plain, Style::Pretty, Style::Csv] {
            let mut out = Vec::new();
            style.render_reply_to(&[b"INFO".to_vec()], &info, &mut out);
            assert_eq!(out, b"# Server\r\nx:1\r\n");
        }
        assert!(prints_verbatim(&[b"client".to_vec(), b"LIST".to_vec()]));
        assert!(!prints_verbatim(&[b"client".to_vec()]));
        assert!(!prints_verbatim(&[b"latency".to_vec(), b"graph".to_vec()]));
    }

    #[test]
    fn quote_escapes_like_redis_cli() {
        assert_eq!(
            quote(b"a\"b\\c\r\n\t\x07\x08\x00\xff"),
            r#""a\"b\\c\r\n\t\a\b\x00\xff""#
        );
    }
}
