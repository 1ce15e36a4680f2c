//! The values a key can hold.
//!
//! Strings that are canonical 64-bit integers are kept as `i64` (Redis's "int" encoding):
//! INCR then needs no parsing or allocation, and GET formats them on the fly.

use super::hash::Hash;
use super::list::List;
use super::set::Set;
use super::zset::ZSet;
use crate::resp::{format_i64, parse_i64};

/// A string value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Str {
    /// A string that is the canonical decimal form of this integer.
    Int(i64),
    /// Any other bytes.
    Raw(Vec<u8>),
}

impl Str {
    /// Stores `bytes`, using the integer form when it round-trips exactly.
    pub fn from_bytes(bytes: &[u8]) -> Str {
        if bytes.len() <= 20
            && let Some(v) = parse_i64(bytes)
        {
            return Str::Int(v);
        }
        Str::Raw(bytes.to_vec())
    }

    /// Overwrites this value with `bytes`, reusing the existing allocation when it is
    /// large enough (SET over an existing key allocates nothing).
    pub fn assign(&mut self, bytes: &[u8]) {
        if bytes.len() <= 20
            && let Some(v) = parse_i64(bytes)
        {
            *self = Str::Int(v);
            return;
        }
        match self {
            Str::Raw(buf)
                if buf.capacity() >= bytes.len() && buf.capacity() <= 2 * bytes.len() + 64 =>
            {
                buf.clear();
                buf.extend_from_slice(bytes);
            }
            _ => *self = Str::Raw(bytes.to_vec()),
        }
    }

    /// The string's bytes; integers are formatted into `tmp`.
    pub fn as_bytes<'a>(&'a self, tmp: &'a mut [u8; 20]) -> &'a [u8] {
        match self {
            Str::Int(v) => format_i64(*v, tmp),
            Str::Raw(b) => b,
        }
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        match self {
            Str::Int(v) => format_i64(*v, &mut [0; 20]).len(),
            Str::Raw(b) => b.len(),
        }
    }

    /// True for the empty string.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The value as an integer, if it is one (INCR and friends).
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Str::Int(v) => Some(*v),
            Str::Raw(b) => parse_i64(b),
        }
    }

    /// A mutable byte buffer holding the string (converts the integer form).
    pub fn make_raw(&mut self) -> &mut Vec<u8> {
        if let Str::Int(v) = *self {
            *self = Str::Raw(format_i64(v, &mut [0; 20]).to_vec());
        }
        match self {
            Str::Raw(b) => b,
            Str::Int(_) => unreachable!("converted above"),
        }
    }

    /// Approximate heap bytes used (for memory accounting).
    pub fn heap_size(&self) -> usize {
        match self {
            Str::Int(_) => 0,
            Str::Raw(b) => b.capacity(),
        }
    }
}

/// The value stored under a key. Collections are boxed so that every entry stays as small
/// as a string value needs.
#[derive(Debug, Clone)]
pub enum Value {
    /// A string (Redis type `string`).
    Str(Str),
    /// A list (`list`).
    List(Box<List>),
    /// A hash (`hash`).
    Hash(Box<Hash>),
    /// A set (`set`).
    Set(Box<Set>),
    /// A sorted set (`zset`).
    ZSet(Box<ZSet>),
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
    fn integer_encoding_only_when_canonical() {
        assert_eq!(Str::from_bytes(b"123"), Str::Int(123));
        assert_eq!(Str::from_bytes(b"-5"), Str::Int(-5));
        assert_eq!(Str::from_bytes(b"0123"), Str::Raw(b"0123".to_vec()));
        assert_eq!(Str::from_bytes(b"1.0"), Str::Raw(b"1.0".to_vec()));
        assert_eq!(Str::from_bytes(b" 1"), Str::Raw(b" 1".to_vec()));
        let mut tmp = [0; 20];
        assert_eq!(Str::Int(-42).as_bytes(&mut tmp), b"-42");
        assert_eq!(Str::Int(-42).len(), 3);
    }

    #[test]
    fn assign_reuses_buffer() {
        let mut s = Str::from_bytes(b"hello world");
        let ptr = match &s {
            Str::Raw(b) => b.as_ptr(),
            Str::Int(_) => unreachable!(),
        };
        s.assign(b"hello there");
        match &s {
            Str::Raw(b) => {
                assert_eq!(b, b"hello there");
                assert_eq!(b.as_ptr(), ptr);
            }
            Str::Int(_) => panic!("not raw"),
        }
        s.assign(b"7");
        assert_eq!(s, Str::Int(7));
    }
}
