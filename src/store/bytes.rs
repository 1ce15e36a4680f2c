//! [`SmallBytes`]: a byte string stored inline when short (at most [`INLINE`] bytes), in
//! 24 bytes either way. Keys and elements popped from lists use it, so the common
//! short strings cost no allocation of their own.

use std::fmt;
use std::ops::Deref;

/// Longest byte string a [`SmallBytes`] holds without a heap allocation.
pub const INLINE: usize = 22;

/// A byte string kept inline when it has at most [`INLINE`] bytes, otherwise in one heap
/// allocation. 24 bytes either way (checked by a test), the size of a `Vec` header.
#[derive(Clone)]
pub enum SmallBytes {
    /// Short strings: the bytes live in the value itself.
    Inline {
        /// Number of used bytes of `buf` (at most [`INLINE`]).
        len: u8,
        /// The bytes; those past `len` are zero.
        buf: [u8; INLINE],
    },
    /// Longer strings.
    Heap(Box<[u8]>),
}

impl SmallBytes {
    /// A copy of `bytes`.
    #[inline]
    pub fn new(bytes: &[u8]) -> SmallBytes {
        if bytes.len() <= INLINE {
            let mut buf = [0u8; INLINE];
            buf[..bytes.len()].copy_from_slice(bytes);
            SmallBytes::Inline {
                len: bytes.len() as u8,
                buf,
            }
        } else {
            SmallBytes::Heap(bytes.into())
        }
    }

    /// The bytes.
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            SmallBytes::Inline { len, buf } => &buf[..usize::from(*len)],
            SmallBytes::Heap(b) => b,
        }
    }

    /// Overwrites the value with `bytes`, reusing a heap allocation of the same size
    /// (HSET of a same-length value, LSET) instead of freeing and allocating.
    #[inline]
    pub fn assign(&mut self, bytes: &[u8]) {
        match self {
            SmallBytes::Heap(b) if b.len() == bytes.len() => b.copy_from_slice(bytes),
            _ => *self = SmallBytes::new(bytes),
        }
    }

    /// For an inline string: its whole fixed-size buffer and the used length. Lets an
    /// encoder copy a constant 22 bytes (a few moves) instead of calling `memcpy` for a
    /// variable length (LRANGE's reply; see `cmd/lists.rs`).
    #[inline]
    pub fn inline_parts(&self) -> Option<(&[u8; INLINE], usize)> {
        match self {
            SmallBytes::Inline { len, buf } => Some((buf, usize::from(*len))),
            SmallBytes::Heap(_) => None,
        }
    }

    /// Heap bytes owned (0 for inline strings).
    pub fn heap_size(&self) -> usize {
        match self {
            SmallBytes::Inline { .. } => 0,
            SmallBytes::Heap(b) => b.len(),
        }
    }
}

impl Deref for SmallBytes {
    type Target = [u8];

    #[inline]
    fn deref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl PartialEq for SmallBytes {
    fn eq(&self, other: &SmallBytes) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for SmallBytes {}

impl fmt::Debug for SmallBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self.as_bytes()))
    }
}
