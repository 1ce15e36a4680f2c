//! Splitting an interactive line into arguments with redis-cli's quoting rules (Redis's
//! `sdssplitargs`):
//! - arguments are separated by spaces, tabs, CR or LF;
//! - `"double quotes"` allow spaces and the escapes `\n \r \t \b \a \\ \"` and `\xHH` (a byte
//!   in hex, so `"\x00\xff"` is two binary bytes); any other `\c` is `c`;
//! - `'single quotes'` are literal except `\'`;
//! - a closing quote must be followed by a space or the end of the line, and every quote must
//!   be closed; otherwise the line is invalid (redis-cli prints "Invalid argument(s)").

/// Splits `line` into arguments, or `None` if the quoting is invalid.
pub fn split_args(line: &str) -> Option<Vec<Vec<u8>>> {
    let bytes = line.as_bytes();
    let at = |i: usize| bytes.get(i).copied();
    let is_space = |b: Option<u8>| matches!(b, Some(b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c));
    let mut args = Vec::new();
    let mut i = 0;
    loop {
        while is_space(at(i)) {
            i += 1;
        }
        if i >= bytes.len() {
            return Some(args);
        }
        let mut current = Vec::new();
        let (mut in_double, mut in_single) = (false, false);
        loop {
            let c = at(i);
            if in_double {
                match c {
                    None => return None, // unterminated "
                    Some(b'\\') => match (at(i + 1), at(i + 2), at(i + 3)) {
                        (Some(b'x'), Some(h), Some(l)) if hex(h).is_some() && hex(l).is_some() => {
                            current.push(hex(h)? * 16 + hex(l)?);
                            i += 3;
                        }
                        (Some(e), _, _) => {
                            current.push(match e {
                                b'n' => b'\n',
                                b'r' => b'\r',
                                b't' => b'\t',
                                b'b' => 0x08,
                                b'a' => 0x07,
                                other => other,
                            });
                            i += 1;
                        }
                        (None, _, _) => return None,
                    },
                    Some(b'"') => {
                        if at(i + 1).is_some() && !is_space(at(i + 1)) {
                            return None;
                        }
                        i += 1;
                        break;
                    }
                    Some(other) => current.push(other),
                }
            } else if in_single {
                match c {
                    None => return None, // unterminated '
                    Some(b'\\') if at(i + 1) == Some(b'\'') => {
                        current.push(b'\'');
                        i += 1;
                    }
                    Some(b'\'') => {
                        if at(i + 1).is_some() && !is_space(at(i + 1)) {
                            return None;
                        }
                        i += 1;
                        break;
                    }
                    Some(other) => current.push(other),
                }
            } else {
                match c {
                    None => break,
                    Some(_) if is_space(c) => break,
                    Some(b'"') => in_double = true,
                    Some(b'\'') => in_single = true,
                    Some(other) => current.push(other),
                }
            }
            i += 1;
        }
        args.push(current);
    }
}

fn hex(digit: u8) -> Option<u8> {
    (digit as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(line: &str) -> Vec<Vec<u8>> {
        split_args(line).unwrap_or_else(|| panic!("{line:?} should split"))
    }

    fn strs(args: &[&str]) -> Vec<Vec<u8>> {
        args.iter().map(|a| a.as_bytes().to_vec()).collect()
    }

    #[test]
    fn plain_words() {
        assert_eq!(split("  SET  a\t1 "), strs(&["SET", "a", "1"]));
        assert_eq!(split(""), Vec::<Vec<u8>>::new());
        assert_eq!(split("   "), Vec::<Vec<u8>>::new());
    }

    #[test]
    fn double_quotes_and_escapes() {
        assert_eq!(split(r#"SET "a b" "x\"y""#), strs(&["SET", "a b", "x\"y"]));
        assert_eq!(split(r#""\x41\x7a" "\n\r\t\\""#), strs(&["Az", "\n\r\t\\"]));
        assert_eq!(split(r#""\x00\xff""#), vec![vec![0x00, 0xff]]);
        // Not a valid \xHH: the x is kept literally, as in redis-cli.
        assert_eq!(split(r#""\xzz""#), strs(&["xzz"]));
        assert_eq!(split(r#""""#), strs(&[""]));
    }

    #[test]
    fn single_quotes_are_literal() {
        assert_eq!(
            split(r"'a b' 'it\'s' '\x41\n'"),
            strs(&["a b", "it's", r"\x41\n"])
        );
    }

    #[test]
    fn a_quote_inside_a_word_continues_it() {
        assert_eq!(split(r#"a"b c" d"#), strs(&["ab c", "d"]));
    }

    #[test]
    fn invalid_quoting() {
        assert_eq!(split_args(r#"SET "a"#), None);
        assert_eq!(split_args("SET 'a"), None);
        assert_eq!(split_args(r#"SET "a"b"#), None);
        assert_eq!(split_args("SET 'a'b"), None);
        assert_eq!(split_args(r#"SET "a\"#), None);
    }
}
