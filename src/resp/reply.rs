//! Reply encoder: handlers describe replies by type (simple, error, integer, bulk, null,
//! array, map, set, double); this module turns them into RESP bytes.
//!
//! Handlers never write raw protocol bytes, so RESP3 is a flag here rather than a rewrite
//! of every handler. Encoding appends to the connection's output buffer and allocates only
//! when that buffer grows.

use super::format_i64;

/// Reply bytes Redis keeps in each client's fixed buffer, before its list of reply blocks:
/// output limits (and CLIENT LIST's omem) count only what is pending beyond it.
pub const FIXED_BUFFER: usize = 16 * 1024;

/// A connection's output buffer plus the protocol version its replies use.
#[derive(Debug, Default)]
pub struct Reply {
    buf: Vec<u8>,
    /// CLIENT REPLY OFF/SKIP: the current command's replies are dropped, but not its pushes
    /// (pub/sub confirmations and messages), whose byte ranges are kept here.
    muted: Option<Vec<(usize, usize)>>,
    /// Bytes at the front of `buf` already written to the socket.
    sent: usize,
    resp3: bool,
    /// Pub/sub messages appended and not yet completely written (see
    /// [`Reply::delivered`]); `deliveries.count == 0` when there are none.
    deliveries: Deliveries,
}

/// The pub/sub messages of a reply buffer not yet written to the socket, as one batch.
#[derive(Debug, Default, Clone, Copy)]
struct Deliveries {
    /// How many.
    count: u64,
    /// Clock ticks ([`crate::clock`]) when the oldest of them was published.
    oldest: u64,
    /// Where the newest of them ends in `buf`.
    end: usize,
}

impl Reply {
    /// An empty RESP2 reply buffer.
    pub fn new() -> Reply {
        Reply::default()
    }

    /// Switches between RESP2 (`false`) and RESP3 (`true`) encodings.
    pub fn set_resp3(&mut self, on: bool) {
        self.resp3 = on;
    }

    /// True when replies are encoded as RESP3.
    pub fn is_resp3(&self) -> bool {
        self.resp3
    }

    /// Encoded bytes not yet written to the socket.
    pub fn bytes(&self) -> &[u8] {
        &self.buf[self.sent..]
    }

    /// Number of bytes waiting to be written.
    pub fn len(&self) -> usize {
        self.buf.len() - self.sent
    }

    /// True when nothing waits to be written.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops what the current command replies from here on (CLIENT REPLY OFF/SKIP), except
    /// pushes recorded with [`Reply::kept_push`]; [`Reply::unmute`] applies it.
    pub fn mute(&mut self) {
        self.muted = Some(Vec::new());
    }

    /// Ends muting and keeps everything (the command turned replies back on).
    pub fn unmute_keep(&mut self) {
        self.muted = None;
    }

    /// Records that the bytes since `start` are a push, which muting keeps.
    #[inline]
    pub fn kept_push(&mut self, start: usize) {
        if let Some(kept) = &mut self.muted {
            kept.push((start, self.buf.len()));
        }
    }

    /// Ends muting: removes everything written since `mark` except the recorded pushes.
    pub fn unmute(&mut self, mark: usize) {
        let Some(kept) = self.muted.take() else {
            return;
        };
        let mut at = mark;
        for (start, end) in kept {
            if start < mark {
                continue;
            }
            self.buf.copy_within(start..end, at);
            at += end - start;
        }
        self.buf.truncate(at);
        self.deliveries.end = self.deliveries.end.min(at);
    }

    /// Marks the first `n` pending bytes as written. Advancing an offset rather than
    /// shifting the buffer keeps a large reply written in many pieces linear in its size.
    pub fn consume(&mut self, n: usize) {
        self.sent = (self.sent + n).min(self.buf.len());
        if self.sent == self.buf.len() {
            self.buf.clear();
            self.sent = 0;
            self.deliveries.end = 0;
        } else if self.sent > 64 * 1024 && self.sent * 2 > self.buf.len() {
            self.buf.drain(..self.sent);
            self.deliveries.end = self.deliveries.end.saturating_sub(self.sent);
            self.sent = 0;
        }
    }

    /// Records that the bytes just appended end a pub/sub message published at clock tick
    /// `published`; it joins the batch of messages not yet written.
    #[inline]
    pub fn delivered(&mut self, published: u64) {
        if self.deliveries.count == 0 {
            self.deliveries.oldest = published;
        }
        self.deliveries.count += 1;
        self.deliveries.end = self.buf.len();
    }

    /// After [`Reply::consume`]: when the writes so far reached the end of the newest
    /// pending pub/sub message, the batch is done: returns how many messages it had and
    /// the tick the oldest was published at, and starts a new batch. One branch when no
    /// message is pending.
    #[inline]
    pub fn take_written_deliveries(&mut self) -> Option<(u64, u64)> {
        if self.deliveries.count == 0 || self.sent < self.deliveries.end {
            return None;
        }
        let done = std::mem::take(&mut self.deliveries);
        Some((done.count, done.oldest))
    }

    /// Releases memory kept after a large reply, once the buffer is empty.
    pub fn shrink_if_idle(&mut self, keep: usize) {
        if self.is_empty() && self.buf.capacity() > keep {
            self.buf = Vec::with_capacity(keep);
            self.sent = 0;
        }
    }

    /// The first byte written at or after `mark` (see [`Reply::mark`]), if any: tells
    /// whether a handler replied with an error (`-`).
    pub fn first_byte_since(&self, mark: usize) -> Option<u8> {
        self.buf.get(mark).copied()
    }

    /// Everything written at or after `mark` (see [`Reply::mark`]): the error reply whose
    /// code INFO errorstats counts.
    pub fn since(&self, mark: usize) -> &[u8] {
        self.buf.get(mark..).unwrap_or_default()
    }

    /// Capacity currently held, for memory accounting (CLIENT LIST omem, INFO).
    pub fn capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// Removes everything written since `mark` (see [`Reply::mark`]).
    pub fn truncate(&mut self, mark: usize) {
        self.buf.truncate(mark);
        self.deliveries.end = self.deliveries.end.min(mark);
    }

    /// Current end of the buffer; pass it to [`Reply::truncate`] or a deferred header.
    pub fn mark(&self) -> usize {
        self.buf.len()
    }

    /// Appends already-encoded RESP (e.g. a reply produced elsewhere).
    pub fn raw(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// `+OK`
    #[inline]
    pub fn ok(&mut self) {
        self.buf.extend_from_slice(b"+OK\r\n");
    }

    /// A simple string: `+text`. The text must not contain CR or LF.
    #[inline]
    pub fn simple(&mut self, s: &str) {
        self.buf.push(b'+');
        self.buf.extend_from_slice(s.as_bytes());
        self.buf.extend_from_slice(b"\r\n");
    }

    /// An error reply. `msg` starts with the error code (`ERR ...`, `WRONGTYPE ...`);
    /// CR and LF inside it become spaces, as Redis does, so the reply stays one line.
    pub fn error(&mut self, msg: &str) {
        self.error_parts(&[msg.as_bytes()]);
    }

    /// An error reply made of several pieces, some of them client bytes echoed as they are
    /// (Redis echoes arguments raw, invalid UTF-8 included); CR and LF become spaces.
    pub fn error_parts(&mut self, parts: &[&[u8]]) {
        self.buf.push(b'-');
        for part in parts {
            self.buf.extend(
                part.iter()
                    .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
            );
        }
        self.buf.extend_from_slice(b"\r\n");
    }

    /// An integer reply: `:n`.
    #[inline]
    pub fn int(&mut self, v: i64) {
        self.header(b':', v);
    }

    /// A bulk string: `$len` + bytes.
    #[inline]
    pub fn bulk(&mut self, data: &[u8]) {
        self.header(b'$', data.len() as i64);
        self.buf.extend_from_slice(data);
        self.buf.extend_from_slice(b"\r\n");
    }

    /// An integer sent as a bulk string (GET of an integer-encoded value).
    pub fn bulk_i64(&mut self, v: i64) {
        let mut tmp = [0u8; 20];
        self.bulk(format_i64(v, &mut tmp));
    }

    /// A bulk string of a double formatted as Redis does for bulk replies (`%.17g`).
    pub fn bulk_f64(&mut self, v: f64) {
        let s = crate::util::fmt_double(v);
        self.bulk(s.as_bytes());
    }

    /// A double: RESP3 `,v`; RESP2 sends it as a bulk string.
    pub fn double(&mut self, v: f64) {
        if self.resp3 {
            self.buf.push(b',');
            let s = if v.is_infinite() {
                if v > 0.0 {
                    "inf".to_string()
                } else {
                    "-inf".to_string()
                }
            } else {
                crate::util::fmt_double(v)
            };
            self.buf.extend_from_slice(s.as_bytes());
            self.buf.extend_from_slice(b"\r\n");
        } else {
            self.bulk_f64(v);
        }
    }

    /// A null: RESP2 null bulk string `$-1`, RESP3 `_`.
    #[inline]
    pub fn null(&mut self) {
        let s: &[u8] = if self.resp3 { b"_\r\n" } else { b"$-1\r\n" };
        self.buf.extend_from_slice(s);
    }

    /// A null array: RESP2 `*-1`, RESP3 `_` (EXEC aborted, timeouts).
    pub fn null_array(&mut self) {
        let s: &[u8] = if self.resp3 { b"_\r\n" } else { b"*-1\r\n" };
        self.buf.extend_from_slice(s);
    }

    /// A boolean: RESP3 `#t`/`#f`; RESP2 sends the integer 1/0.
    pub fn boolean(&mut self, v: bool) {
        if self.resp3 {
            self.buf
                .extend_from_slice(if v { b"#t\r\n" } else { b"#f\r\n" });
        } else {
            self.int(i64::from(v));
        }
    }

    /// Header of an array of `n` elements.
    #[inline]
    pub fn array(&mut self, n: usize) {
        self.header(b'*', n as i64);
    }

    /// Header of a push of `n` elements (pub/sub messages and confirmations): RESP3 `>n`,
    /// RESP2 an array.
    pub fn push(&mut self, n: usize) {
        let t = if self.resp3 { b'>' } else { b'*' };
        self.header(t, n as i64);
    }

    /// Header of a map of `n` key/value pairs: RESP3 `%n`, RESP2 an array of `2n`.
    pub fn map(&mut self, n: usize) {
        if self.resp3 {
            self.header(b'%', n as i64);
        } else {
            self.header(b'*', 2 * n as i64);
        }
    }

    /// Header of a set of `n` elements: RESP3 `~n`, RESP2 an array.
    pub fn set(&mut self, n: usize) {
        let t = if self.resp3 { b'~' } else { b'*' };
        self.header(t, n as i64);
    }

    /// A big number (DEBUG PROTOCOL): RESP3 `(digits`, RESP2 a bulk string.
    pub fn big_number(&mut self, digits: &[u8]) {
        if self.resp3 {
            self.buf.push(b'(');
            self.buf.extend_from_slice(digits);
            self.buf.extend_from_slice(b"\r\n");
        } else {
            self.bulk(digits);
        }
    }

    /// Header of RESP3 attributes (`|n`, n key/value pairs) that precede a reply; only for
    /// RESP3 clients.
    pub fn attribute(&mut self, n: usize) {
        self.header(b'|', n as i64);
    }

    /// Verbatim text (INFO, CLIENT LIST): RESP3 `=len\r\ntxt:...`, RESP2 a bulk string.
    pub fn verbatim(&mut self, text: &[u8]) {
        if self.resp3 {
            self.header(b'=', text.len() as i64 + 4);
            self.buf.extend_from_slice(b"txt:");
            self.buf.extend_from_slice(text);
            self.buf.extend_from_slice(b"\r\n");
        } else {
            self.bulk(text);
        }
    }

    /// Starts an aggregate whose length is known only after its elements are written.
    /// Returns a token for [`Reply::end_deferred`].
    pub fn begin_deferred(&mut self) -> usize {
        self.buf.len()
    }

    /// Inserts the header of an aggregate started with [`Reply::begin_deferred`].
    /// `kind` is `b'*'` (array), `b'%'` (map, `n` pairs) or `b'~'` (set).
    pub fn end_deferred(&mut self, at: usize, kind: u8, n: usize) {
        let (t, count) = match kind {
            b'%' if !self.resp3 => (b'*', 2 * n),
            b'~' if !self.resp3 => (b'*', n),
            other => (other, n),
        };
        let mut tmp = [0u8; 20];
        let digits = format_i64(count as i64, &mut tmp);
        let mut header = Vec::with_capacity(digits.len() + 3);
        header.push(t);
        header.extend_from_slice(digits);
        header.extend_from_slice(b"\r\n");
        self.buf.splice(at..at, header);
    }

    /// Writes `<type><n>\r\n`.
    #[inline]
    fn header(&mut self, t: u8, n: i64) {
        let mut tmp = [0u8; 20];
        let digits = format_i64(n, &mut tmp);
        self.buf.push(t);
        self.buf.extend_from_slice(digits);
        self.buf.extend_from_slice(b"\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(f: impl FnOnce(&mut Reply)) -> Vec<u8> {
        let mut r = Reply::new();
        f(&mut r);
        r.bytes().to_vec()
    }

    #[test]
    fn resp2_types() {
        assert_eq!(enc(|r| r.ok()), b"+OK\r\n");
        assert_eq!(enc(|r| r.int(-42)), b":-42\r\n");
        assert_eq!(enc(|r| r.bulk(b"bar")), b"$3\r\nbar\r\n");
        assert_eq!(enc(|r| r.bulk(b"")), b"$0\r\n\r\n");
        assert_eq!(enc(|r| r.null()), b"$-1\r\n");
        assert_eq!(enc(|r| r.null_array()), b"*-1\r\n");
        assert_eq!(enc(|r| r.error("ERR x\r\ny")), b"-ERR x  y\r\n");
        assert_eq!(enc(|r| r.map(2)), b"*4\r\n");
        assert_eq!(enc(|r| r.double(1.5)), b"$3\r\n1.5\r\n");
    }

    #[test]
    fn resp3_types() {
        let enc3 = |f: &dyn Fn(&mut Reply)| {
            let mut r = Reply::new();
            r.set_resp3(true);
            f(&mut r);
            r.bytes().to_vec()
        };
        assert_eq!(enc3(&|r| r.null()), b"_\r\n");
        assert_eq!(enc3(&|r| r.map(2)), b"%2\r\n");
        assert_eq!(enc3(&|r| r.set(3)), b"~3\r\n");
        assert_eq!(enc3(&|r| r.double(1.5)), b",1.5\r\n");
        assert_eq!(enc3(&|r| r.double(f64::INFINITY)), b",inf\r\n");
        assert_eq!(enc3(&|r| r.boolean(true)), b"#t\r\n");
        assert_eq!(enc3(&|r| r.verbatim(b"hi")), b"=6\r\ntxt:hi\r\n");
    }

    #[test]
    fn deferred_header() {
        let got = enc(|r| {
            r.int(1);
            let at = r.begin_deferred();
            r.bulk(b"a");
            r.bulk(b"b");
            r.end_deferred(at, b'*', 2);
        });
        assert_eq!(got, b":1\r\n*2\r\n$1\r\na\r\n$1\r\nb\r\n");
    }

    #[test]
    fn deliveries_are_done_once_written_up_to_the_newest() {
        let mut r = Reply::new();
        assert_eq!(r.take_written_deliveries(), None);
        r.int(1); // 4 bytes of reply before the messages
        r.raw(b"*1\r\n$1\r\na\r\n"); // ends at 15
        r.delivered(100);
        r.raw(b"*1\r\n$1\r\nb\r\n"); // ends at 26
        r.delivered(200);
        r.int(2);
        r.consume(20); // the second message is not all out
        assert_eq!(r.take_written_deliveries(), None);
        r.consume(6);
        assert_eq!(r.take_written_deliveries(), Some((2, 100)));
        assert_eq!(r.take_written_deliveries(), None);
        // A new batch starts with the next message, even before the rest is written.
        r.raw(b"*1\r\n$1\r\nc\r\n");
        r.delivered(300);
        r.consume(r.len());
        assert!(r.is_empty());
        assert_eq!(r.take_written_deliveries(), Some((1, 300)));
    }

    #[test]
    fn deliveries_follow_the_buffer_when_written_bytes_are_dropped() {
        let mut r = Reply::new();
        r.raw(&[b'x'; 70 * 1024]);
        r.raw(b"*1\r\n$1\r\na\r\n");
        r.delivered(7);
        r.raw(&[b'y'; 10]);
        // Writing more than half drops the written front and shifts every offset.
        r.consume(70 * 1024);
        assert_eq!(r.take_written_deliveries(), None);
        r.consume(11);
        assert_eq!(r.take_written_deliveries(), Some((1, 7)));
    }
}
