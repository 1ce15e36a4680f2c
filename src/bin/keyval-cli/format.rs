//! Turning replies into text, in the two styles keyval-cli prints.
//!
//! - **Plain** (one-shot mode, and interactive mode when stdout is not a terminal): the value
//!   itself, as a script wants it. `OK`, `1`, the raw bytes of a string, `NULL` for nil, and an
//!   array one element per line, nested arrays indented by two spaces per level.
//! - **Pretty** (interactive mode on a terminal): exactly redis-cli's style. `(integer) 1`,
//!   `"quoted"` strings with escapes, `(nil)`, `1) ...` numbered array items with nested
//!   arrays aligned under their parent's number, `(error) ...`.

use crate::reply::Reply;

/// Appends `reply` in the plain style, ending with a newline (nothing at all for an empty
/// array: zero elements, zero lines).
pub fn plain(reply: &Reply, out: &mut Vec<u8>) {
    plain_at(reply, 0, out);
}

fn plain_at(reply: &Reply, depth: usize, out: &mut Vec<u8>) {
    let indent = |out: &mut Vec<u8>| out.extend(std::iter::repeat_n(b' ', depth * 2));
    match reply {
        Reply::Array(items) => {
            for item in items {
                // Elements of a nested array sit one level deeper than the array itself.
                let child_depth = if matches!(item, Reply::Array(_)) {
                    depth + 1
                } else {
                    depth
                };
                plain_at(item, child_depth, out);
            }
        }
        Reply::Status(text) => {
            indent(out);
            out.extend_from_slice(text);
            out.push(b'\n');
        }
        Reply::Error(text) => {
            indent(out);
            out.extend_from_slice(b"(error) ");
            out.extend_from_slice(text);
            out.push(b'\n');
        }
        Reply::Integer(n) => {
            indent(out);
            out.extend_from_slice(n.to_string().as_bytes());
            out.push(b'\n');
        }
        Reply::Bulk(data) => {
            indent(out);
            out.extend_from_slice(data);
            out.push(b'\n');
        }
        Reply::Nil => {
            indent(out);
            out.extend_from_slice(b"NULL\n");
        }
    }
}

/// Appends `reply` in redis-cli's terminal style, ending with a newline.
pub fn pretty(reply: &Reply, out: &mut Vec<u8>) {
    pretty_with_prefix(reply, "", out);
}

/// `prefix` is the indentation of this reply's continuation lines: an array item's first line
/// follows its parent's `N) `, the next items are indented by `prefix`.
fn pretty_with_prefix(reply: &Reply, prefix: &str, out: &mut Vec<u8>) {
    match reply {
        Reply::Status(text) => {
            out.extend_from_slice(text);
            out.push(b'\n');
        }
        Reply::Error(text) => {
            out.extend_from_slice(b"(error) ");
            out.extend_from_slice(text);
            out.push(b'\n');
        }
        Reply::Integer(n) => out.extend_from_slice(format!("(integer) {n}\n").as_bytes()),
        Reply::Bulk(data) => {
            out.extend_from_slice(quote(data).as_bytes());
            out.push(b'\n');
        }
        Reply::Nil => out.extend_from_slice(b"(nil)\n"),
        Reply::Array(items) if items.is_empty() => out.extend_from_slice(b"(empty array)\n"),
        Reply::Array(items) => {
            // Numbers are right-aligned to the width of the largest one, as redis-cli does.
            let width = items.len().to_string().len();
            let child_prefix = format!("{prefix}{}", " ".repeat(width + 2));
            for (i, item) in items.iter().enumerate() {
                // The first item's line already starts after the parent's number.
                if i > 0 {
                    out.extend_from_slice(prefix.as_bytes());
                }
                out.extend_from_slice(format!("{:>width$}) ", i + 1).as_bytes());
                pretty_with_prefix(item, &child_prefix, out);
            }
        }
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

    fn plain_text(reply: &Reply) -> String {
        let mut out = Vec::new();
        plain(reply, &mut out);
        String::from_utf8(out).unwrap()
    }

    fn pretty_text(reply: &Reply) -> String {
        let mut out = Vec::new();
        pretty(reply, &mut out);
        String::from_utf8(out).unwrap()
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
    fn quote_escapes_like_redis_cli() {
        assert_eq!(
            quote(b"a\"b\\c\r\n\t\x07\x08\x00\xff"),
            r#""a\"b\\c\r\n\t\a\b\x00\xff""#
        );
    }
}
