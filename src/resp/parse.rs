//! Incremental RESP2 request parser: multibulk (`*2\r\n$3\r\nGET\r\n$1\r\nk\r\n`) and inline
//! (`GET k\r\n`, telnet style) requests.
//!
//! The parser keeps its position between calls, so a request split at any byte boundary
//! across reads costs no re-scan: an incomplete frame is simply "not yet" ([`Ok(None)`]).
//! Multibulk arguments are not copied: the parser records `(offset, len)` spans into the
//! caller's buffer, and [`Args`] hands out slices of it. Inline arguments need unescaping,
//! so they are copied once into the parser's own small buffer.
//!
//! Limits and error strings follow Redis 7's `processMultibulkBuffer` / `processInlineBuffer`.
//! No client-supplied count or length ever sizes an allocation up front.

use super::parse_i64;

/// Longest inline request, and longest `*<count>` / `$<len>` header line (Redis: 64 KiB).
pub const INLINE_MAX: usize = 64 * 1024;
/// Largest multibulk count Redis accepts (`INT_MAX`).
pub const MULTIBULK_MAX: i64 = i32::MAX as i64;

/// A protocol violation. The reply is Redis's, and the connection must then be closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// `*` count is not a number, or is above [`MULTIBULK_MAX`].
    InvalidMultibulkLength,
    /// `$` length is not a number, is negative or is above proto-max-bulk-len.
    InvalidBulkLength,
    /// A multibulk argument did not start with `$`; carries the byte found instead.
    ExpectedDollar(u8),
    /// An inline request has an unterminated quote.
    UnbalancedQuotes,
    /// An inline request longer than [`INLINE_MAX`] without a newline.
    TooBigInline,
    /// A `*` header line longer than [`INLINE_MAX`].
    TooBigMultibulkCount,
    /// A `$` header line longer than [`INLINE_MAX`].
    TooBigBulkCount,
    /// A client that must still AUTH sent a `*` count over [`UNAUTHENTICATED_MAX_ARGS`].
    UnauthenticatedMultibulkLength,
    /// A client that must still AUTH sent a `$` length over [`UNAUTHENTICATED_MAX_BULK`].
    UnauthenticatedBulkLength,
}

/// Most arguments a request may have before AUTH (Redis 7, CVE-2021-32675): a client that
/// has not authenticated cannot make the server buffer large requests.
pub const UNAUTHENTICATED_MAX_ARGS: i64 = 10;
/// Longest argument a request may have before AUTH.
pub const UNAUTHENTICATED_MAX_BULK: i64 = 16384;

impl ParseError {
    /// The exact error reply Redis sends, without the leading `-` and trailing CRLF.
    pub fn message(&self) -> String {
        match self {
            ParseError::InvalidMultibulkLength => {
                "ERR Protocol error: invalid multibulk length".into()
            }
            ParseError::InvalidBulkLength => "ERR Protocol error: invalid bulk length".into(),
            ParseError::ExpectedDollar(c) => {
                format!("ERR Protocol error: expected '$', got '{}'", char::from(*c))
            }
            ParseError::UnbalancedQuotes => {
                "ERR Protocol error: unbalanced quotes in request".into()
            }
            ParseError::TooBigInline => "ERR Protocol error: too big inline request".into(),
            ParseError::TooBigMultibulkCount => {
                "ERR Protocol error: too big mbulk count string".into()
            }
            ParseError::TooBigBulkCount => "ERR Protocol error: too big bulk count string".into(),
            ParseError::UnauthenticatedMultibulkLength => {
                "ERR Protocol error: unauthenticated multibulk length".into()
            }
            ParseError::UnauthenticatedBulkLength => {
                "ERR Protocol error: unauthenticated bulk length".into()
            }
        }
    }
}

/// Where the parser is inside the current request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Between requests.
    Start,
    /// Inside a multibulk request; `remaining` arguments still to read.
    Multibulk { remaining: u64 },
    /// A `$len` header was read; waiting for `len` bytes plus CRLF.
    Bulk { remaining: u64, len: usize },
}

/// Which buffer a parsed request's arguments live in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Spans point into the buffer passed to [`Parser::next`].
    Input,
    /// Spans point into the parser's inline buffer ([`Parser::inline_buf`]).
    Inline,
}

/// The incremental request parser of one connection.
#[derive(Debug)]
pub struct Parser {
    state: State,
    /// Offset of the next unread byte in the caller's buffer.
    pos: usize,
    /// Offset where the request being parsed starts.
    frame_start: usize,
    /// Argument spans of the request being parsed / just parsed.
    spans: Vec<(usize, usize)>,
    /// Unescaped inline arguments.
    inline: Vec<u8>,
    max_bulk_len: usize,
    /// The client has not authenticated yet: only small requests are accepted.
    unauthenticated: bool,
}

impl Parser {
    /// A parser that rejects bulk arguments longer than `max_bulk_len` (proto-max-bulk-len).
    pub fn new(max_bulk_len: usize) -> Parser {
        Parser {
            state: State::Start,
            pos: 0,
            frame_start: 0,
            spans: Vec::new(),
            inline: Vec::new(),
            max_bulk_len,
            unauthenticated: false,
        }
    }

    /// Where the next request starts when no request is half-parsed (for [`peek_keys`]).
    pub fn idle_position(&self) -> Option<usize> {
        self.is_idle().then_some(self.pos)
    }

    /// Changes the largest accepted bulk argument (CONFIG SET proto-max-bulk-len).
    #[inline]
    pub fn set_max_bulk_len(&mut self, max: usize) {
        self.max_bulk_len = max;
    }

    /// Applies (or lifts) the limits on requests from a client that has not authenticated.
    #[inline]
    pub fn set_unauthenticated(&mut self, on: bool) {
        self.unauthenticated = on;
    }

    /// Bytes of the caller's buffer fully consumed by complete requests.
    ///
    /// Everything before this offset may be discarded; call [`Parser::rebase`] after doing so.
    pub fn consumed(&self) -> usize {
        match self.state {
            State::Start => self.pos,
            // A half-parsed request must stay in the buffer from its first byte on.
            _ => self.frame_start,
        }
    }

    /// True when no request is half-parsed.
    pub fn is_idle(&self) -> bool {
        self.state == State::Start
    }

    /// How many bytes the buffer must hold (from its start) to finish the current bulk
    /// argument, if one is being read. Used to grow the read buffer by doubling towards it.
    pub fn bytes_wanted(&self) -> Option<usize> {
        match self.state {
            State::Bulk { len, .. } => Some(self.pos + len + 2),
            _ => None,
        }
    }

    /// The caller dropped the first `n` bytes of its buffer (`n <= consumed()`): shift offsets.
    pub fn rebase(&mut self, n: usize) {
        debug_assert!(n <= self.consumed());
        self.pos -= n;
        if self.is_idle() {
            self.frame_start = self.pos;
        } else {
            self.frame_start -= n;
            for span in &mut self.spans {
                span.0 -= n;
            }
        }
    }

    /// Puts the request [`Parser::next`] just returned back: the next call parses it again
    /// (a command postponed by CLIENT PAUSE runs later from its original bytes).
    pub fn unread(&mut self) {
        self.state = State::Start;
        self.pos = self.frame_start;
    }

    /// Frees the argument table a request with very many arguments left (one SADD of 100k
    /// members: 1.6 MB kept by the connection for good), as Redis frees a client's argv
    /// after each command. Only between requests; returns the bytes released.
    pub fn shrink(&mut self) -> usize {
        const KEEP: usize = 1024;
        if !self.is_idle() || self.spans.capacity() <= KEEP {
            return 0;
        }
        let freed = self.spans.capacity() * std::mem::size_of::<(usize, usize)>();
        self.spans = Vec::new();
        freed
    }

    /// Forgets all state, e.g. after the caller cleared its buffer.
    pub fn reset(&mut self) {
        self.state = State::Start;
        self.pos = 0;
        self.frame_start = 0;
        self.spans.clear();
    }

    /// Parses the next complete request from `buf` (which must hold the same bytes as in
    /// earlier calls, plus possibly more at the end).
    ///
    /// Returns `Ok(Some(source))` when a request is complete: its arguments are then
    /// available through [`Parser::args`]. `Ok(None)` means more bytes are needed.
    pub fn next(&mut self, buf: &[u8]) -> Result<Option<Source>, ParseError> {
        loop {
            match self.state {
                State::Start => {
                    if self.pos >= buf.len() {
                        return Ok(None);
                    }
                    self.frame_start = self.pos;
                    if buf[self.pos] != b'*' {
                        return self.parse_inline(buf);
                    }
                    let Some(line_end) = find_header_end(buf, self.pos) else {
                        if buf.len() - self.pos > INLINE_MAX {
                            return Err(ParseError::TooBigMultibulkCount);
                        }
                        return Ok(None);
                    };
                    let count = parse_i64(&buf[self.pos + 1..line_end])
                        .filter(|&n| n <= MULTIBULK_MAX)
                        .ok_or(ParseError::InvalidMultibulkLength)?;
                    if self.unauthenticated && count > UNAUTHENTICATED_MAX_ARGS {
                        return Err(ParseError::UnauthenticatedMultibulkLength);
                    }
                    self.pos = line_end + 2;
                    if count <= 0 {
                        // `*0`, `*-1` and any other count below 1 are empty requests:
                        // Redis skips them silently (processMultibulkBuffer's `ll <= 0`).
                        continue;
                    }
                    self.spans.clear();
                    self.state = State::Multibulk {
                        remaining: count as u64,
                    };
                }
                State::Multibulk { remaining: 0 } => {
                    self.state = State::Start;
                    return Ok(Some(Source::Input));
                }
                State::Multibulk { remaining } => {
                    if self.pos >= buf.len() {
                        return Ok(None);
                    }
                    let Some(line_end) = find_header_end(buf, self.pos) else {
                        if buf.len() - self.pos > INLINE_MAX {
                            return Err(ParseError::TooBigBulkCount);
                        }
                        return Ok(None);
                    };
                    if buf[self.pos] != b'$' {
                        return Err(ParseError::ExpectedDollar(buf[self.pos]));
                    }
                    let len = parse_i64(&buf[self.pos + 1..line_end])
                        .filter(|&n| n >= 0 && n as u64 <= self.max_bulk_len as u64)
                        .ok_or(ParseError::InvalidBulkLength)?;
                    if self.unauthenticated && len > UNAUTHENTICATED_MAX_BULK {
                        return Err(ParseError::UnauthenticatedBulkLength);
                    }
                    self.pos = line_end + 2;
                    self.state = State::Bulk {
                        remaining,
                        len: len as usize,
                    };
                }
                State::Bulk { remaining, len } => {
                    // Like Redis, the two bytes after the payload are skipped, not checked.
                    if buf.len() - self.pos < len + 2 {
                        return Ok(None);
                    }
                    self.spans.push((self.pos, len));
                    self.pos += len + 2;
                    self.state = State::Multibulk {
                        remaining: remaining - 1,
                    };
                }
            }
        }
    }

    /// The arguments of the request [`Parser::next`] just completed.
    pub fn args<'a>(&'a self, buf: &'a [u8], source: Source) -> Args<'a> {
        let buf = match source {
            Source::Input => buf,
            Source::Inline => &self.inline,
        };
        Args {
            buf,
            spans: &self.spans,
        }
    }

    /// Parses one inline request line starting at `self.pos`, skipping empty lines.
    fn parse_inline(&mut self, buf: &[u8]) -> Result<Option<Source>, ParseError> {
        let start = self.pos;
        let Some(nl) = memchr(b'\n', &buf[start..]).map(|i| start + i) else {
            if buf.len() - start > INLINE_MAX {
                return Err(ParseError::TooBigInline);
            }
            return Ok(None);
        };
        let mut end = nl;
        if end > start && buf[end - 1] == b'\r' {
            end -= 1;
        }
        split_args(&buf[start..end], &mut self.inline, &mut self.spans)?;
        self.pos = nl + 1;
        if self.spans.is_empty() {
            // An empty line is not a request; look at what follows.
            return self.next(buf);
        }
        Ok(Some(Source::Inline))
    }
}

/// Calls `f` with the second argument (for most commands, the key) of each complete
/// multibulk request at the start of `buf`, for at most `max` requests. Stops at anything
/// incomplete, inline or malformed: it is only a hint for prefetching, the real parse
/// comes after and reports errors.
pub fn peek_keys(buf: &[u8], max: usize, mut f: impl FnMut(&[u8])) {
    let mut pos = 0;
    let header = |pos: &mut usize, kind: u8| -> Option<usize> {
        if buf.get(*pos) != Some(&kind) {
            return None;
        }
        let end = find_header_end(buf, *pos)?;
        let n = parse_i64(&buf[*pos + 1..end]).filter(|&n| n >= 0)?;
        *pos = end + 2;
        usize::try_from(n).ok()
    };
    for _ in 0..max {
        let Some(argc) = header(&mut pos, b'*') else {
            return;
        };
        for i in 0..argc {
            let Some(len) = header(&mut pos, b'$') else {
                return;
            };
            let Some(arg) = buf.get(pos..pos.saturating_add(len)) else {
                return;
            };
            if i == 1 {
                f(arg);
            }
            pos = pos.saturating_add(len).saturating_add(2);
        }
    }
}

/// Finds the `\r` that ends a header line starting at `from`, if the line and the byte
/// after the `\r` are in the buffer (Redis checks only that a byte follows, not that it is `\n`).
fn find_header_end(buf: &[u8], from: usize) -> Option<usize> {
    let cr = from + memchr(b'\r', &buf[from..])?;
    (cr + 1 < buf.len()).then_some(cr)
}

/// Position of the first `needle` in `haystack`.
#[inline]
fn memchr(needle: u8, haystack: &[u8]) -> Option<usize> {
    haystack.iter().position(|&b| b == needle)
}

/// Splits `line` into arguments as Redis's `sdssplitargs` does (quotes and escapes); None
/// on unbalanced quotes. For lines other than requests (a library's shebang).
pub fn split_line(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    let mut spans = Vec::new();
    split_args(line, &mut out, &mut spans).ok()?;
    Some(spans.iter().map(|&(s, n)| out[s..s + n].to_vec()).collect())
}

/// Splits an inline request line into arguments exactly as Redis's `sdssplitargs`:
/// blanks separate arguments; `"..."` supports `\n \r \t \b \a \\ \" \xHH`; `'...'`
/// supports `\'`; a closing quote must be followed by a blank or the end of the line.
fn split_args(
    line: &[u8],
    out: &mut Vec<u8>,
    spans: &mut Vec<(usize, usize)>,
) -> Result<(), ParseError> {
    out.clear();
    spans.clear();
    // sdssplitargs works on a C string: a NUL byte ends the line.
    let line = match memchr(0, line) {
        Some(i) => &line[..i],
        None => line,
    };
    let at = |i: usize| line.get(i).copied();
    let is_space = |c: u8| matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c);
    let mut i = 0;
    loop {
        while at(i).is_some_and(is_space) {
            i += 1;
        }
        if i >= line.len() {
            return Ok(());
        }
        let arg_start = out.len();
        let (mut in_dq, mut in_sq) = (false, false);
        loop {
            let c = at(i);
            if in_dq {
                match c {
                    None => return Err(ParseError::UnbalancedQuotes),
                    Some(b'\\')
                        if at(i + 1) == Some(b'x')
                            && at(i + 2).is_some_and(|h| h.is_ascii_hexdigit())
                            && at(i + 3).is_some_and(|h| h.is_ascii_hexdigit()) =>
                    {
                        out.push(hex_val(line[i + 2]) * 16 + hex_val(line[i + 3]));
                        i += 4;
                    }
                    Some(b'\\') if at(i + 1).is_some() => {
                        out.push(match line[i + 1] {
                            b'n' => b'\n',
                            b'r' => b'\r',
                            b't' => b'\t',
                            b'b' => 0x08,
                            b'a' => 0x07,
                            other => other,
                        });
                        i += 2;
                    }
                    Some(b'"') => {
                        if at(i + 1).is_some_and(|n| !is_space(n)) {
                            return Err(ParseError::UnbalancedQuotes);
                        }
                        i += 1;
                        break;
                    }
                    Some(other) => {
                        out.push(other);
                        i += 1;
                    }
                }
            } else if in_sq {
                match c {
                    None => return Err(ParseError::UnbalancedQuotes),
                    Some(b'\\') if at(i + 1) == Some(b'\'') => {
                        out.push(b'\'');
                        i += 2;
                    }
                    Some(b'\'') => {
                        if at(i + 1).is_some_and(|n| !is_space(n)) {
                            return Err(ParseError::UnbalancedQuotes);
                        }
                        i += 1;
                        break;
                    }
                    Some(other) => {
                        out.push(other);
                        i += 1;
                    }
                }
            } else {
                match c {
                    None | Some(b' ' | b'\n' | b'\r' | b'\t') => break,
                    Some(b'"') => in_dq = true,
                    Some(b'\'') => in_sq = true,
                    Some(other) => out.push(other),
                }
                i += 1;
            }
        }
        spans.push((arg_start, out.len() - arg_start));
    }
}

fn hex_val(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        _ => c - b'A' + 10,
    }
}

/// The arguments of one request, argument 0 being the command name. Borrowed, not copied.
#[derive(Clone, Copy)]
pub struct Args<'a> {
    buf: &'a [u8],
    spans: &'a [(usize, usize)],
}

impl<'a> Args<'a> {
    /// Arguments over `buf` at the given `(offset, len)` spans.
    pub fn new(buf: &'a [u8], spans: &'a [(usize, usize)]) -> Args<'a> {
        Args { buf, spans }
    }

    /// Number of arguments, including the command name.
    #[inline]
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// True when there are no arguments (never the case for a parsed request).
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// Argument `i`. Panics if out of range: handlers index within the checked arity.
    #[inline]
    pub fn get(&self, i: usize) -> &'a [u8] {
        let (off, len) = self.spans[i];
        &self.buf[off..off + len]
    }

    /// All arguments in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &'a [u8]> + 'a {
        let buf = self.buf;
        self.spans.iter().map(move |&(o, l)| &buf[o..o + l])
    }

    /// The arguments from `from` on.
    pub fn tail(&self, from: usize) -> Args<'a> {
        Args {
            buf: self.buf,
            spans: &self.spans[from.min(self.spans.len())..],
        }
    }

    /// The first `n` arguments (all of them if there are fewer).
    pub fn head(&self, n: usize) -> Args<'a> {
        Args {
            buf: self.buf,
            spans: &self.spans[..n.min(self.spans.len())],
        }
    }
}

impl std::fmt::Debug for Args<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.iter().map(String::from_utf8_lossy))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses every complete request in `input`, returning the arguments as strings.
    fn parse_all(input: &[u8]) -> Result<Vec<Vec<Vec<u8>>>, ParseError> {
        let mut p = Parser::new(512 * 1024 * 1024);
        let mut out = Vec::new();
        while let Some(src) = p.next(input)? {
            out.push(p.args(input, src).iter().map(<[u8]>::to_vec).collect());
        }
        Ok(out)
    }

    fn strs(v: &[&str]) -> Vec<Vec<u8>> {
        v.iter().map(|s| s.as_bytes().to_vec()).collect()
    }

    #[test]
    fn multibulk_and_pipeline() {
        let got = parse_all(b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*1\r\n$4\r\nPING\r\n").unwrap();
        assert_eq!(got, vec![strs(&["GET", "k"]), strs(&["PING"])]);
    }

    #[test]
    fn many_arguments_are_given_back_between_requests() {
        let mut input = b"*5001\r\n$4\r\nSADD\r\n".to_vec();
        for _ in 0..5000 {
            input.extend_from_slice(b"$1\r\nm\r\n");
        }
        input.extend_from_slice(b"*1\r\n$4\r\nPING\r\n");
        let mut p = Parser::new(512 * 1024 * 1024);
        let src = p.next(&input).unwrap().expect("SADD");
        assert_eq!(p.args(&input, src).len(), 5001);
        assert!(p.shrink() >= 5001 * 16);
        assert_eq!(p.shrink(), 0);
        let src = p.next(&input).unwrap().expect("PING");
        assert_eq!(p.args(&input, src).iter().next(), Some(&b"PING"[..]));
    }

    #[test]
    fn binary_safe_arguments() {
        let got = parse_all(b"*2\r\n$3\r\nSET\r\n$4\r\n\0\r\n\xff\r\n").unwrap();
        assert_eq!(got[0][1], b"\0\r\n\xff");
    }

    #[test]
    fn empty_multibulk_is_skipped() {
        let got = parse_all(b"*0\r\n*-1\r\n*1\r\n$4\r\nPING\r\n").unwrap();
        assert_eq!(got, vec![strs(&["PING"])]);
        // Any count below 1 is skipped, as Redis does, down to i64::MIN.
        let got = parse_all(b"*-10\r\n*-9223372036854775808\r\nPING\r\n").unwrap();
        assert_eq!(got, vec![strs(&["PING"])]);
        // ...but it must still be a number (string2ll: no "-0", no "+1").
        assert_eq!(
            parse_all(b"*-0\r\n"),
            Err(ParseError::InvalidMultibulkLength)
        );
        assert_eq!(
            parse_all(b"*-9223372036854775809\r\n"),
            Err(ParseError::InvalidMultibulkLength)
        );
    }

    #[test]
    fn every_split_point_gives_the_same_requests() {
        let input: &[u8] =
            b"*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\nPING\r\n*2\r\n$4\r\nECHO\r\n$0\r\n\r\n";
        let want = parse_all(input).unwrap();
        assert_eq!(want.len(), 3);
        // Feed the bytes one at a time through a growing buffer, like a socket would.
        let mut p = Parser::new(1 << 20);
        let mut buf = Vec::new();
        let mut got = Vec::new();
        for &b in input {
            buf.push(b);
            while let Some(src) = p.next(&buf).unwrap() {
                got.push(
                    p.args(&buf, src)
                        .iter()
                        .map(<[u8]>::to_vec)
                        .collect::<Vec<_>>(),
                );
            }
        }
        assert_eq!(got, want);
    }

    #[test]
    fn rebase_keeps_partial_request() {
        let mut p = Parser::new(1 << 20);
        let mut buf = b"*1\r\n$4\r\nPING\r\n*2\r\n$3\r\nGET\r\n$1".to_vec();
        assert!(p.next(&buf).unwrap().is_some());
        assert!(p.next(&buf).unwrap().is_none());
        let n = p.consumed();
        assert_eq!(n, 14);
        buf.drain(..n);
        p.rebase(n);
        buf.extend_from_slice(b"\r\nk\r\n");
        let src = p.next(&buf).unwrap().unwrap();
        let args: Vec<_> = p.args(&buf, src).iter().map(<[u8]>::to_vec).collect();
        assert_eq!(args, strs(&["GET", "k"]));
    }

    #[test]
    fn rebase_after_complete_requests() {
        let mut p = Parser::new(1 << 20);
        let mut buf = b"*1\r\n$4\r\nPING\r\nECHO x\r\n".to_vec();
        assert!(p.next(&buf).unwrap().is_some());
        assert!(p.next(&buf).unwrap().is_some());
        assert!(p.next(&buf).unwrap().is_none());
        let n = p.consumed();
        assert_eq!(n, buf.len());
        buf.clear();
        p.rebase(n);
        buf.extend_from_slice(b"PING\r\n");
        assert_eq!(p.next(&buf), Ok(Some(Source::Inline)));
    }

    /// Everything a parser yields for `input` fed in pieces of the given sizes (cycled):
    /// the requests, then the error if one stops it.
    fn parse_in_pieces(input: &[u8], sizes: &[usize]) -> (Vec<Vec<Vec<u8>>>, Option<ParseError>) {
        let mut p = Parser::new(1 << 20);
        let (mut buf, mut out) = (Vec::new(), Vec::new());
        let mut at = 0;
        for &n in sizes.iter().cycle() {
            if at >= input.len() {
                break;
            }
            let end = (at + n.max(1)).min(input.len());
            buf.extend_from_slice(&input[at..end]);
            at = end;
            loop {
                match p.next(&buf) {
                    Ok(Some(src)) => {
                        out.push(p.args(&buf, src).iter().map(<[u8]>::to_vec).collect())
                    }
                    Ok(None) => break,
                    Err(e) => return (out, Some(e)),
                }
            }
            // Like the connection: drop consumed bytes now and then.
            let done = p.consumed();
            if done > 0 && at % 3 == 0 {
                buf.drain(..done);
                p.rebase(done);
            }
        }
        (out, None)
    }

    #[test]
    fn random_inputs_parse_the_same_in_any_pieces() {
        let pieces: &[&[u8]] = &[
            b"*",
            b"$",
            b"\r\n",
            b"\n",
            b"\r",
            b"-1",
            b"-10",
            b"*-3\r\n",
            b"0",
            b"1",
            b"2",
            b"3",
            b"12",
            b"abc",
            b"\"",
            b"'",
            b"\\x",
            b"\\",
            b" ",
            b"GET",
            b"\0",
            b"\xff",
            b"*2\r\n$3\r\nGET\r\n$1\r\na\r\n",
            b"PING\r\n",
        ];
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut rand = |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        for _ in 0..3000 {
            let len = 1 + rand(30);
            let input: Vec<u8> = (0..len)
                .flat_map(|_| pieces[rand(pieces.len())].to_vec())
                .collect();
            let whole = parse_in_pieces(&input, &[input.len()]);
            for sizes in [&[1usize][..], &[2, 5, 1], &[7, 3]] {
                assert_eq!(
                    parse_in_pieces(&input, sizes),
                    whole,
                    "input {:?} in pieces {sizes:?}",
                    String::from_utf8_lossy(&input)
                );
            }
        }
    }

    #[test]
    fn peek_keys_finds_second_arguments() {
        let buf = b"*2\r\n$3\r\nGET\r\n$1\r\na\r\n*1\r\n$4\r\nPING\r\n*3\r\n$3\r\nSET\r\n$2\r\nbb\r\n$1\r\nv\r\n*2\r\n$3\r\nGET\r\n$5\r\ncut";
        let mut keys = Vec::new();
        peek_keys(buf, 10, |k| keys.push(k.to_vec()));
        assert_eq!(keys, vec![b"a".to_vec(), b"bb".to_vec()]);
        keys.clear();
        peek_keys(buf, 1, |k| keys.push(k.to_vec()));
        assert_eq!(keys, vec![b"a".to_vec()]);
        keys.clear();
        peek_keys(b"GET a\r\n", 10, |k| keys.push(k.to_vec()));
        peek_keys(b"*2\r\n$-1\r\n", 10, |k| keys.push(k.to_vec()));
        peek_keys(b"*2\r\n$99999999999999999999\r\n", 10, |k| {
            keys.push(k.to_vec())
        });
        assert!(keys.is_empty());
    }

    #[test]
    fn protocol_errors() {
        use ParseError::*;
        let cases: &[(&[u8], ParseError)] = &[
            (b"*abc\r\n", InvalidMultibulkLength),
            (b"*1000000000000\r\n", InvalidMultibulkLength),
            (b"*2147483648\r\n", InvalidMultibulkLength),
            (b"*1\r\n$abc\r\n", InvalidBulkLength),
            (b"*1\r\n$-1\r\n", InvalidBulkLength),
            (b"*1\r\n$99999999999\r\n", InvalidBulkLength),
            (b"*1\r\nfoo\r\n", ExpectedDollar(b'f')),
            (b"SET \"a b\r\n", UnbalancedQuotes),
            (b"SET 'a\r\n", UnbalancedQuotes),
            (b"SET \"a\"b\r\n", UnbalancedQuotes),
        ];
        for (input, want) in cases {
            let mut p = Parser::new(512 * 1024 * 1024);
            assert_eq!(
                p.next(input),
                Err(*want),
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
        let mut p = Parser::new(10);
        assert_eq!(p.next(b"*1\r\n$11\r\n"), Err(InvalidBulkLength));
        assert_eq!(
            ExpectedDollar(b'f').message(),
            "ERR Protocol error: expected '$', got 'f'"
        );
    }

    #[test]
    fn huge_counts_do_not_allocate_up_front() {
        // Accepted count, but nothing is reserved for it: only what arrives is stored.
        let mut p = Parser::new(512 * 1024 * 1024);
        assert_eq!(p.next(b"*1073741824\r\n$1\r\na\r\n"), Ok(None));
        assert!(p.spans.capacity() < 1024);
    }

    #[test]
    fn oversized_lines() {
        let long = vec![b'a'; INLINE_MAX + 1];
        assert_eq!(
            Parser::new(1 << 20).next(&long),
            Err(ParseError::TooBigInline)
        );
        let mut star = b"*".to_vec();
        star.extend(std::iter::repeat_n(b'1', INLINE_MAX + 1));
        assert_eq!(
            Parser::new(1 << 20).next(&star),
            Err(ParseError::TooBigMultibulkCount)
        );
    }

    #[test]
    fn inline_requests() {
        let got =
            parse_all(b"PING\r\nSET a b\nGET  a\r\n\r\n\nECHO \"x\\x41\\n\" 'it\\'s'\r\n").unwrap();
        assert_eq!(
            got,
            vec![
                strs(&["PING"]),
                strs(&["SET", "a", "b"]),
                strs(&["GET", "a"]),
                strs(&["ECHO", "xA\n", "it's"]),
            ]
        );
        assert_eq!(
            parse_all(b"SET \"\" x\r\n").unwrap(),
            vec![strs(&["SET", "", "x"])]
        );
        // A quote in the middle of a word starts a quoted section of the same argument.
        assert_eq!(
            parse_all(b"a\"b c\"d\r\n").unwrap_err(),
            ParseError::UnbalancedQuotes
        );
        assert_eq!(parse_all(b"a\"b c\"\r\n").unwrap(), vec![strs(&["ab c"])]);
    }

    #[test]
    fn inline_incomplete_waits() {
        let mut p = Parser::new(1 << 20);
        assert_eq!(p.next(b"PIN"), Ok(None));
        assert_eq!(p.next(b"PING\r\n"), Ok(Some(Source::Inline)));
    }
}
