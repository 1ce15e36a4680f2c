//! Redis 7's append-only file on disk: the manifest of `appendonlydir/` and the RESP
//! commands of its files. What goes into the file, and when, is `cmd::aof`'s business.
//!
//! The directory holds one base file (an RDB, or RESP when `aof-use-rdb-preamble no`) and
//! incr files of commands, listed in `<appendfilename>.manifest`:
//! `file appendonly.aof.1.base.rdb seq 1 type b` then `... .1.incr.aof seq 1 type i`.
//! A rewrite writes a new base and opens a new incr file; the old ones become history
//! (`type h`) until they are deleted.

use std::fmt::Write as _;

/// One line of the manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AofFile {
    /// File name inside the AOF directory (never a path).
    pub name: String,
    /// Sequence number.
    pub seq: u64,
    /// `b` base, `i` incr, `h` history.
    pub kind: u8,
}

/// The manifest: which files make the AOF, in loading order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Manifest {
    /// The base file, if any.
    pub base: Option<AofFile>,
    /// Incr files, by increasing sequence number.
    pub incr: Vec<AofFile>,
    /// Files replaced by a rewrite, still to delete.
    pub history: Vec<AofFile>,
}

/// The longest manifest line Redis reads (MANIFEST_MAX_LINE).
const MAX_LINE: usize = 1024;

impl Manifest {
    /// Parses a manifest as Redis's `aofLoadManifestFromFile` does, with its errors.
    pub fn parse(text: &[u8]) -> Result<Manifest, String> {
        let mut m = Manifest::default();
        let mut max_seq = 0u64;
        if text.is_empty() {
            return Err("Found an empty AOF manifest".into());
        }
        let mut rest = text;
        let mut line_no = 0;
        while !rest.is_empty() {
            line_no += 1;
            let (line, after, complete) = match rest.iter().position(|&b| b == b'\n') {
                Some(i) => (&rest[..i], &rest[i + 1..], true),
                None => (rest, &rest[rest.len()..], false),
            };
            rest = after;
            let at = |err: &str| {
                format!(
                    "{err} (manifest line {line_no}: '{}')",
                    String::from_utf8_lossy(&line[..line.len().min(MAX_LINE)])
                )
            };
            if line.first() == Some(&b'#') {
                continue;
            }
            if !complete || line.len() >= MAX_LINE {
                return Err(at("The AOF manifest file contains too long line"));
            }
            let args = crate::resp::split_line(trim(line))
                .filter(|a| a.len() >= 6 && a.len() % 2 == 0)
                .ok_or_else(|| at("Invalid AOF manifest file format"))?;
            let (mut name, mut seq, mut kind) = (None, 0u64, 0u8);
            for pair in args.chunks(2) {
                let key = pair[0].to_ascii_lowercase();
                match key.as_slice() {
                    b"file" => {
                        let n = String::from_utf8_lossy(&pair[1]).into_owned();
                        if n.contains('/') {
                            return Err(at("File can't be a path, just a filename"));
                        }
                        name = Some(n);
                    }
                    // atoll: leading digits, anything else is 0.
                    b"seq" => seq = leading_number(&pair[1]),
                    b"type" => kind = pair[1].first().copied().unwrap_or(0),
                    _ => {}
                }
            }
            let (Some(name), true, true) = (name, seq != 0, kind != 0) else {
                return Err(at("Invalid AOF manifest file format"));
            };
            let file = AofFile { name, seq, kind };
            match kind {
                b'b' => {
                    if m.base.is_some() {
                        return Err(at("Found duplicate base file information"));
                    }
                    m.base = Some(file);
                }
                b'h' => m.history.push(file),
                b'i' => {
                    if seq <= max_seq {
                        return Err(at("Found a non-monotonic sequence number"));
                    }
                    max_seq = seq;
                    m.incr.push(file);
                }
                _ => return Err(at("Unknown AOF file type")),
            }
        }
        Ok(m)
    }

    /// The manifest's text: base, history, then incr files, as Redis writes it.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let files = self
            .base
            .iter()
            .chain(self.history.iter())
            .chain(self.incr.iter());
        for f in files {
            let name = if f
                .name
                .bytes()
                .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\'' && b != b'\\')
            {
                f.name.clone()
            } else {
                quote(&f.name)
            };
            let _ = writeln!(s, "file {name} seq {} type {}", f.seq, f.kind as char);
        }
        s
    }

    /// True when no file is listed (a fresh directory).
    pub fn is_empty(&self) -> bool {
        self.base.is_none() && self.incr.is_empty()
    }

    /// The sequence number of the last incr file (0 when none).
    pub fn last_incr_seq(&self) -> u64 {
        self.incr.last().map_or(0, |f| f.seq)
    }

    /// Adds the next incr file (`<prefix>.<seq>.incr.aof`) and returns its name.
    pub fn add_incr(&mut self, prefix: &str) -> String {
        let seq = self.last_incr_seq() + 1;
        let name = format!("{prefix}.{seq}.incr.aof");
        self.incr.push(AofFile {
            name: name.clone(),
            seq,
            kind: b'i',
        });
        name
    }

    /// The next base file's name and sequence number (`<prefix>.<seq>.base.rdb`, or
    /// `.base.aof` for a RESP base).
    pub fn next_base(&self, prefix: &str, rdb: bool) -> AofFile {
        let seq = self.base.as_ref().map_or(0, |b| b.seq) + 1;
        let ext = if rdb { "rdb" } else { "aof" };
        AofFile {
            name: format!("{prefix}.{seq}.base.{ext}"),
            seq,
            kind: b'b',
        }
    }

    /// After a rewrite whose new base is `base` and which started writing to the incr file
    /// of sequence `first_incr`: the old base and the incr files before it become history.
    pub fn complete_rewrite(&mut self, base: AofFile, first_incr: u64) {
        if let Some(mut old) = self.base.replace(base) {
            old.kind = b'h';
            self.history.push(old);
        }
        let (old, kept): (Vec<AofFile>, Vec<AofFile>) =
            self.incr.drain(..).partition(|f| f.seq < first_incr);
        self.incr = kept;
        self.history.extend(old.into_iter().map(|mut f| {
            f.kind = b'h';
            f
        }));
    }
}

fn trim(line: &[u8]) -> &[u8] {
    let blank = |b: &u8| matches!(b, b' ' | b'\t' | b'\r' | b'\n');
    let start = line.iter().position(|b| !blank(b)).unwrap_or(line.len());
    let end = line
        .iter()
        .rposition(|b| !blank(b))
        .map_or(start, |i| i + 1);
    &line[start..end]
}

fn leading_number(s: &[u8]) -> u64 {
    s.iter()
        .take_while(|b| b.is_ascii_digit())
        .fold(0u64, |n, &d| {
            n.saturating_mul(10).saturating_add(u64::from(d - b'0'))
        })
}

/// A name in double quotes with C escapes (Redis's sdscatrepr), for names with blanks
/// or quotes.
fn quote(name: &str) -> String {
    let mut s = String::from("\"");
    for b in name.bytes() {
        match b {
            b'\\' => s.push_str("\\\\"),
            b'"' => s.push_str("\\\""),
            b'\n' => s.push_str("\\n"),
            b'\r' => s.push_str("\\r"),
            b'\t' => s.push_str("\\t"),
            0x20..=0x7e => s.push(b as char),
            _ => {
                let _ = write!(s, "\\x{b:02x}");
            }
        }
    }
    s.push('"');
    s
}

/// Appends one command in RESP (`*N`, then `$len` and each argument).
pub fn append_command<A: AsRef<[u8]>>(out: &mut Vec<u8>, argv: &[A]) {
    append_args(out, argv.len(), |i| argv[i].as_ref());
}

/// Appends one command of `n` arguments, `arg(i)` each.
pub fn append_args<'a>(out: &mut Vec<u8>, n: usize, arg: impl Fn(usize) -> &'a [u8]) {
    push_header(out, b'*', n);
    for i in 0..n {
        let a = arg(i);
        push_header(out, b'$', a.len());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

#[inline]
fn push_header(out: &mut Vec<u8>, kind: u8, n: usize) {
    // Most counts and lengths have one or two digits: no general formatting for them.
    if n < 10 {
        out.extend_from_slice(&[kind, b'0' + n as u8, b'\r', b'\n']);
    } else if n < 100 {
        out.extend_from_slice(&[
            kind,
            b'0' + (n / 10) as u8,
            b'0' + (n % 10) as u8,
            b'\r',
            b'\n',
        ]);
    } else {
        let mut digits = [0u8; 20];
        out.push(kind);
        out.extend_from_slice(crate::resp::format_i64(n as i64, &mut digits));
        out.extend_from_slice(b"\r\n");
    }
}

/// What reading one command of an AOF found.
#[derive(Debug, PartialEq, Eq)]
pub enum Read {
    /// A command: its arguments as (offset, length) spans into the data, and the offset
    /// after it.
    Command(Vec<(usize, usize)>, usize),
    /// The data ended inside a command (a torn write): it starts at this offset.
    Truncated,
    /// The end of the data.
    End,
}

/// Reads the command at `pos` of an AOF's RESP text, as Redis's loader does: `#` lines
/// are annotations, anything but `*` is a format error. Lengths are checked against the
/// bytes left, so hostile input never makes it allocate more than the file's size.
pub fn read_command(data: &[u8], mut pos: usize) -> Result<Read, String> {
    loop {
        if pos >= data.len() {
            return Ok(Read::End);
        }
        if data[pos] != b'#' {
            break;
        }
        match find_byte(b'\n', &data[pos..]) {
            Some(i) => pos += i + 1,
            None => return Ok(Read::End),
        }
    }
    let bad = |pos: usize| {
        Err(format!(
            "Bad file format reading the append only file at offset {pos}"
        ))
    };
    if data[pos] != b'*' {
        return bad(pos);
    }
    let start = pos;
    let Some((argc, next)) = read_number(data, pos + 1) else {
        return if line_complete(data, pos) {
            bad(start)
        } else {
            Ok(Read::Truncated)
        };
    };
    if argc < 1 {
        return bad(start);
    }
    // Every argument takes at least 6 bytes ("$0\r\n\r\n"): a count the rest of the
    // data cannot hold ends in the middle of the command, as Redis's reads would.
    if (argc as u64).saturating_mul(6) > (data.len() - next) as u64 {
        return if is_prefix_ok(data, next) {
            Ok(Read::Truncated)
        } else {
            bad(start)
        };
    }
    pos = next;
    let mut spans = Vec::with_capacity(argc as usize);
    for _ in 0..argc {
        if pos >= data.len() {
            return Ok(Read::Truncated);
        }
        if data[pos] != b'$' {
            return bad(pos);
        }
        let Some((len, next)) = read_number(data, pos + 1) else {
            return if line_complete(data, pos) {
                bad(pos)
            } else {
                Ok(Read::Truncated)
            };
        };
        if len < 0 {
            return bad(pos);
        }
        let len = len as usize;
        if data.len() - next < len + 2 {
            return Ok(Read::Truncated);
        }
        spans.push((next, len));
        // Redis discards the two bytes after the argument without looking at them.
        pos = next + len + 2;
    }
    Ok(Read::Command(spans, pos))
}

/// A decimal number ending in CRLF at `pos`; None when the line is incomplete or bad.
fn read_number(data: &[u8], pos: usize) -> Option<(i64, usize)> {
    let end = find_byte(b'\n', data.get(pos..)?)? + pos;
    let line = data[pos..end].strip_suffix(b"\r")?;
    // strtol/atoi: leading digits (and a sign); we require the whole line to be a number.
    let n = crate::resp::parse_i64(line)?;
    Some((n, end + 1))
}

fn find_byte(needle: u8, haystack: &[u8]) -> Option<usize> {
    haystack.iter().position(|&b| b == needle)
}

fn line_complete(data: &[u8], pos: usize) -> bool {
    find_byte(b'\n', &data[pos..]).is_some()
}

fn is_prefix_ok(data: &[u8], pos: usize) -> bool {
    data.get(pos).is_none_or(|&b| b == b'$')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_round_trip() {
        let text = b"file appendonly.aof.1.base.rdb seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\n";
        let m = Manifest::parse(text).unwrap();
        assert_eq!(m.base.as_ref().unwrap().name, "appendonly.aof.1.base.rdb");
        assert_eq!(m.incr.len(), 1);
        assert_eq!(m.render().as_bytes(), text);
    }

    #[test]
    fn manifest_errors_as_redis() {
        let cases: &[(&[u8], &str)] = &[
            (b"", "Found an empty AOF manifest"),
            (b"file a seq 1\n", "Invalid AOF manifest file format"),
            (
                b"file a seq 1 type b\nfile b seq 2 type b\n",
                "duplicate base",
            ),
            (
                b"file a seq 2 type i\nfile b seq 2 type i\n",
                "non-monotonic",
            ),
            (b"file a seq 1 type x\n", "Unknown AOF file type"),
            (b"file ../a seq 1 type b\n", "can't be a path"),
            (b"file a seq 1 type b", "too long line"),
            (b"file a seq 0 type b\n", "Invalid AOF manifest"),
        ];
        for (text, want) in cases {
            let err = Manifest::parse(text).unwrap_err();
            assert!(
                err.contains(want),
                "{err} for {:?}",
                String::from_utf8_lossy(text)
            );
        }
    }

    #[test]
    fn rewrite_moves_old_files_to_history() {
        let mut m = Manifest::default();
        m.base = Some(m.next_base("appendonly.aof", true));
        m.add_incr("appendonly.aof");
        let second = m.add_incr("appendonly.aof");
        assert_eq!(second, "appendonly.aof.2.incr.aof");
        let base = m.next_base("appendonly.aof", true);
        assert_eq!(base.name, "appendonly.aof.2.base.rdb");
        m.complete_rewrite(base, 2);
        assert_eq!(m.incr.len(), 1);
        assert_eq!(m.history.len(), 2);
        assert!(
            m.render()
                .contains("file appendonly.aof.1.incr.aof seq 1 type h")
        );
    }

    #[test]
    fn commands_and_torn_tails() {
        let mut data = Vec::new();
        append_command(&mut data, &[&b"SET"[..], b"k", b"v"]);
        let Read::Command(spans, next) = read_command(&data, 0).unwrap() else {
            panic!()
        };
        assert_eq!(next, data.len());
        assert_eq!(&data[spans[2].0..spans[2].0 + 1], b"v");
        assert_eq!(read_command(&data, next).unwrap(), Read::End);
        for cut in 1..data.len() {
            assert_eq!(
                read_command(&data[..cut], 0).unwrap(),
                Read::Truncated,
                "cut {cut}"
            );
        }
        assert!(read_command(b"SET k v\r\n", 0).is_err());
        assert!(read_command(b"*1\r\n+OK\r\n", 0).is_err());
        assert!(read_command(b"*-1\r\n", 0).is_err());
        // A huge count or length is not allocated: it is a truncation or an error.
        assert!(matches!(
            read_command(b"*99999999999\r\n$1\r\n", 0),
            Ok(Read::Truncated) | Err(_)
        ));
        assert_eq!(
            read_command(b"*1\r\n$999999999\r\nab", 0).unwrap(),
            Read::Truncated
        );
        assert_eq!(read_command(b"# note\n", 0).unwrap(), Read::End);
    }
}
