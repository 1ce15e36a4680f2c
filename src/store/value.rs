//! The values a key can hold.
//!
//! Strings that are canonical 64-bit integers are kept as `i64` (Redis's "int" encoding):
//! INCR then needs no parsing or allocation, and GET formats them on the fly.

use super::hash::Hash;
use super::list::List;
use super::set::Set;
use super::stream::Stream;
use super::thin::ThinBuf;
use super::zset::ZSet;
use crate::resp::{format_i64, parse_i64};

/// Longest string kept inside the [`Str`] itself (no allocation).
pub const STR_INLINE: usize = 22;

/// A string value, 24 bytes whatever its form (a test checks it), so that a whole entry
/// (key, value, TTL pointer) fits a 56-byte block of the entry slab.
pub enum Str {
    /// A string that is the canonical decimal form of this integer.
    Int(i64),
    /// Up to [`STR_INLINE`] bytes, in place.
    Inline {
        /// Used bytes of `buf`.
        len: u8,
        /// The bytes (past `len`: zero).
        buf: [u8; STR_INLINE],
    },
    /// A longer string set as a whole (SET): one exact-size allocation.
    Exact(Box<[u8]>),
    /// A string that grows in place (APPEND, SETRANGE): a `Vec` with spare capacity, so
    /// repeated appends are amortised O(1).
    Growable(Box<Vec<u8>>),
    /// A string that a command edits in place in a format of its own, a few bytes at a time
    /// (a HyperLogLog's sparse form): one allocation behind a thin pointer, grown in
    /// [`ThinBuf`]'s steps. Redis's `raw`. The byte is what Redis's string holds right after
    /// its end (its terminator, normally 0), which a HyperLogLog edit can leave non-zero
    /// and a later read of a corrupted HyperLogLog sees (see `store/hll.rs`).
    Packed(ThinBuf, u8),
}

impl Str {
    /// Stores `bytes`, using the integer form when it round-trips exactly.
    #[inline]
    pub fn from_bytes(bytes: &[u8]) -> Str {
        if bytes.len() <= 20
            && let Some(v) = parse_i64(bytes)
        {
            return Str::Int(v);
        }
        Str::raw(bytes)
    }

    /// Stores `bytes` as they are (never the integer form).
    #[inline]
    fn raw(bytes: &[u8]) -> Str {
        if bytes.len() <= STR_INLINE {
            let mut buf = [0u8; STR_INLINE];
            buf[..bytes.len()].copy_from_slice(bytes);
            Str::Inline {
                len: bytes.len() as u8,
                buf,
            }
        } else {
            Str::Exact(bytes.into())
        }
    }

    /// A string owning `bytes` (no copy), never the integer form, held in exactly its size
    /// (a dense HyperLogLog).
    pub fn from_boxed(bytes: Box<[u8]>) -> Str {
        if bytes.len() <= STR_INLINE {
            Str::raw(&bytes)
        } else {
            Str::Exact(bytes)
        }
    }

    /// A string owning `bytes` (no copy), never the integer form.
    pub fn from_vec(bytes: Vec<u8>) -> Str {
        if bytes.len() <= STR_INLINE {
            Str::raw(&bytes)
        } else {
            Str::Growable(Box::new(bytes))
        }
    }

    /// Overwrites this value with `bytes`, reusing the existing allocation when it has the
    /// same size (SET over an existing key allocates nothing).
    #[inline]
    pub fn assign(&mut self, bytes: &[u8]) {
        if bytes.len() <= 20
            && let Some(v) = parse_i64(bytes)
        {
            *self = Str::Int(v);
            return;
        }
        match self {
            Str::Exact(b) if b.len() == bytes.len() => b.copy_from_slice(bytes),
            Str::Growable(v)
                if v.capacity() >= bytes.len() && v.capacity() <= 2 * bytes.len() + 64 =>
            {
                v.clear();
                v.extend_from_slice(bytes);
            }
            _ => *self = Str::raw(bytes),
        }
    }

    /// The string's bytes; integers are formatted into `tmp`.
    #[inline]
    pub fn as_bytes<'a>(&'a self, tmp: &'a mut [u8; 20]) -> &'a [u8] {
        match self {
            Str::Int(v) => format_i64(*v, tmp),
            Str::Inline { len, buf } => &buf[..usize::from(*len)],
            Str::Exact(b) => b,
            Str::Growable(v) => v,
            Str::Packed(b, _) => b.as_slice(),
        }
    }

    /// The bytes of a string that is not in integer form.
    #[inline]
    pub fn raw_bytes(&self) -> Option<&[u8]> {
        match self {
            Str::Int(_) => None,
            Str::Inline { len, buf } => Some(&buf[..usize::from(*len)]),
            Str::Exact(b) => Some(b),
            Str::Growable(v) => Some(v),
            Str::Packed(b, _) => Some(b.as_slice()),
        }
    }

    /// The bytes of a string that is not in integer form, writable in place (same length).
    pub fn raw_bytes_mut(&mut self) -> Option<&mut [u8]> {
        match self {
            Str::Int(_) => None,
            Str::Inline { len, buf } => Some(&mut buf[..usize::from(*len)]),
            Str::Exact(b) => Some(b),
            Str::Growable(v) => Some(v),
            Str::Packed(b, _) => Some(b.as_mut_slice()),
        }
    }

    /// The string as a [`ThinBuf`] to edit in place (and the byte past its end), converting
    /// other forms once (a copy); None for the integer form and for strings too long for
    /// one ([`super::thin::MAX_LEN`]).
    pub fn packed(&mut self) -> Option<(&mut ThinBuf, &mut u8)> {
        if !matches!(self, Str::Packed(..)) {
            let bytes = self.raw_bytes()?;
            if bytes.len() > super::thin::MAX_LEN {
                return None;
            }
            *self = Str::Packed(ThinBuf::from_slice(bytes), 0);
        }
        match self {
            Str::Packed(b, past_end) => Some((b, past_end)),
            _ => None,
        }
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        match self {
            Str::Int(v) => format_i64(*v, &mut [0; 20]).len(),
            Str::Inline { len, .. } => usize::from(*len),
            Str::Exact(b) => b.len(),
            Str::Growable(v) => v.len(),
            Str::Packed(b, _) => b.len(),
        }
    }

    /// True for the empty string.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The value as an integer, if it is one (INCR and friends).
    #[inline]
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Str::Int(v) => Some(*v),
            other => other.raw_bytes().and_then(parse_i64),
        }
    }

    /// A growable byte buffer holding the string, converting other forms once (APPEND,
    /// SETRANGE).
    pub fn make_raw(&mut self) -> &mut Vec<u8> {
        if !matches!(self, Str::Growable(_)) {
            let mut tmp = [0u8; 20];
            let bytes = self.as_bytes(&mut tmp).to_vec();
            *self = Str::Growable(Box::new(bytes));
        }
        match self {
            Str::Growable(v) => v,
            _ => unreachable!("converted above"),
        }
    }

    /// Redis's encoding name: `int` for the integer form, `embstr` for a string set whole
    /// of up to 44 bytes (what fits Redis's one-allocation form), `raw` for longer ones and
    /// for strings grown in place (APPEND, SETRANGE), which Redis also makes raw.
    pub fn encoding(&self) -> &'static str {
        match self {
            Str::Int(_) => "int",
            Str::Inline { .. } => "embstr",
            Str::Exact(b) if b.len() <= 44 => "embstr",
            Str::Exact(_) | Str::Growable(_) | Str::Packed(..) => "raw",
        }
    }

    /// Approximate heap bytes used (for memory accounting).
    pub fn heap_size(&self) -> usize {
        match self {
            Str::Int(_) | Str::Inline { .. } => 0,
            Str::Exact(b) => b.len(),
            Str::Growable(v) => v.capacity() + std::mem::size_of::<Vec<u8>>(),
            Str::Packed(b, _) => b.allocation_size(),
        }
    }
}

/// A copy is a new string: Redis's copies (COPY's dupStringObject) end in a fresh
/// terminator, so the byte past a packed string's end is not copied.
impl Clone for Str {
    fn clone(&self) -> Str {
        match self {
            Str::Int(v) => Str::Int(*v),
            Str::Inline { len, buf } => Str::Inline {
                len: *len,
                buf: *buf,
            },
            Str::Exact(b) => Str::Exact(b.clone()),
            Str::Growable(v) => Str::Growable(v.clone()),
            Str::Packed(b, _) => Str::Packed(b.clone(), 0),
        }
    }
}

/// Strings compare by content (and integer forms by value), whatever their form.
impl PartialEq for Str {
    fn eq(&self, other: &Str) -> bool {
        let (mut a, mut b) = ([0u8; 20], [0u8; 20]);
        self.as_bytes(&mut a) == other.as_bytes(&mut b)
    }
}

impl Eq for Str {}

impl std::fmt::Debug for Str {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut tmp = [0u8; 20];
        let kind = match self {
            Str::Int(_) => "Int",
            Str::Inline { .. } => "Inline",
            Str::Exact(_) => "Exact",
            Str::Growable(_) => "Growable",
            Str::Packed(..) => "Packed",
        };
        write!(
            f,
            "{kind}({:?})",
            String::from_utf8_lossy(self.as_bytes(&mut tmp))
        )
    }
}

/// The value stored under a key. A collection takes the 16 bytes a string leaves beside
/// the tag: a small one is a packed buffer and a count right here (no box, so a short list
/// or hash costs one allocation), a large one a pointer to its tables.
#[derive(Debug, Clone)]
pub enum Value {
    /// A string (Redis type `string`).
    Str(Str),
    /// A list (`list`).
    List(List),
    /// A hash (`hash`).
    Hash(Hash),
    /// A set (`set`).
    Set(Set),
    /// A sorted set (`zset`).
    ZSet(ZSet),
    /// A stream (`stream`).
    Stream(Box<Stream>),
}

impl Value {
    /// The type name TYPE reports.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
            Value::List(_) => "list",
            Value::Hash(_) => "hash",
            Value::Set(_) => "set",
            Value::ZSet(_) => "zset",
            Value::Stream(_) => "stream",
        }
    }

    /// Redis's name for the equivalent encoding (OBJECT ENCODING).
    pub fn encoding(&self) -> &'static str {
        match self {
            Value::Str(s) => s.encoding(),
            Value::List(l) => l.encoding(),
            Value::Hash(h) => h.encoding(),
            Value::Set(s) => s.encoding(),
            Value::ZSet(z) => z.encoding(),
            Value::Stream(_) => "stream",
        }
    }

    /// Approximate heap bytes used (for memory accounting).
    pub fn heap_size(&self) -> usize {
        match self {
            Value::Str(s) => s.heap_size(),
            Value::List(l) => l.heap_size(),
            Value::Hash(h) => h.heap_size(),
            Value::Set(s) => s.heap_size(),
            Value::ZSet(z) => z.heap_size(),
            Value::Stream(s) => s.heap_size(),
        }
    }

    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&Str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_stay_small() {
        assert_eq!(std::mem::size_of::<Str>(), 24);
        assert_eq!(std::mem::size_of::<Value>(), 24);
        // Collections live in the value itself (a packed buffer and a count), not in a box.
        assert_eq!(std::mem::size_of::<List>(), 16);
        assert_eq!(std::mem::size_of::<Hash>(), 16);
        assert_eq!(std::mem::size_of::<Set>(), 16);
        assert_eq!(std::mem::size_of::<ZSet>(), 16);
    }

    #[test]
    fn integer_encoding_only_when_canonical() {
        assert!(matches!(Str::from_bytes(b"123"), Str::Int(123)));
        assert!(matches!(Str::from_bytes(b"-5"), Str::Int(-5)));
        for raw in [&b"0123"[..], b"1.0", b" 1", b"99999999999999999999"] {
            let s = Str::from_bytes(raw);
            assert!(matches!(s, Str::Inline { .. }), "{raw:?}");
            assert_eq!(s.raw_bytes(), Some(raw));
        }
        let mut tmp = [0; 20];
        assert_eq!(Str::Int(-42).as_bytes(&mut tmp), b"-42");
        assert_eq!(Str::Int(-42).len(), 3);
        assert_eq!(Str::from_bytes(b"42"), Str::from_vec(b"42".to_vec()));
    }

    #[test]
    fn forms_by_length_and_use() {
        let short = [b'a'; STR_INLINE];
        let long = [b'b'; STR_INLINE + 1];
        assert!(matches!(Str::from_bytes(&short), Str::Inline { .. }));
        let mut s = Str::from_bytes(&long);
        assert!(matches!(s, Str::Exact(_)));
        // Same-size overwrite keeps the allocation.
        let ptr = s.raw_bytes().map(<[u8]>::as_ptr);
        s.assign(&[b'c'; STR_INLINE + 1]);
        assert_eq!(s.raw_bytes().map(<[u8]>::as_ptr), ptr);
        // Appending converts once to a growable buffer.
        s.make_raw().extend_from_slice(b"xyz");
        assert!(matches!(s, Str::Growable(_)));
        assert_eq!(s.len(), STR_INLINE + 4);
        s.assign(b"7");
        assert!(matches!(s, Str::Int(7)));
        let mut n = Str::Int(-12);
        n.make_raw().push(b'3');
        assert_eq!(n.raw_bytes(), Some(&b"-123"[..]));
    }
}
