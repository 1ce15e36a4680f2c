//! [`KeyBytes`]: a key's name as the keyspace stores it, with 40 bits of access
//! metadata beside it (Redis keeps 24 in `robj->lru`: an LRU clock in seconds, or an LFU
//! counter and its decay time; our LRU clock counts milliseconds, see `evict`).
//!
//! 24 bytes, like the `SmallBytes` it replaced in the entry, so the whole entry (key,
//! value, TTL pointer) stays 56 bytes, one block of the entry slab (`alloc/slab.rs`);
//! growing the entry to 64 bytes would have cost 24 bytes per key (an 80-byte chunk).
//! The price: names of up to [`INLINE`] bytes (not 22) live inside; longer ones take a
//! heap block.
//!
//! Layout (`repr(C)`): a length byte (the inline length, or [`HEAP`]), 5 bytes of access
//! metadata, then 18 bytes that hold the name inline, or, on the heap, a pointer to it and
//! its length (16 bytes at offset 8).

use std::fmt;
use std::ops::Deref;
use std::ptr::NonNull;

/// Longest key name kept inside the [`KeyBytes`].
pub const INLINE: usize = 18;

/// The length byte of a name on the heap.
const HEAP: u8 = 0xFF;

/// Mask of the access metadata (40 bits).
pub const ACCESS_MASK: u64 = (1 << 40) - 1;

#[repr(C)]
#[derive(Clone, Copy)]
struct HeapName {
    ptr: NonNull<u8>,
    len: usize,
}

#[repr(C)]
union Tail {
    /// Inline: bytes 2..18 of the name.
    inline: [u8; 16],
    /// On the heap: a leaked `Box<[u8]>`, owned by the key.
    heap: HeapName,
}

/// A key name and its access metadata. 24 bytes (a test checks it).
#[repr(C)]
pub struct KeyBytes {
    len: u8,
    access: [u8; 5],
    /// Inline: bytes 0..2 of the name.
    lead: [u8; 2],
    tail: Tail,
}

// SAFETY: a KeyBytes owns its heap name exclusively (like a Box<[u8]>), so moving it to
// or sharing it with another thread is as safe as for a Box<[u8]>.
unsafe impl Send for KeyBytes {}
// SAFETY: as above; `&KeyBytes` only gives out `&[u8]`.
unsafe impl Sync for KeyBytes {}

impl KeyBytes {
    /// A copy of `name`, with access metadata 0.
    #[inline]
    pub fn new(name: &[u8]) -> KeyBytes {
        if name.len() <= INLINE {
            let mut bytes = [0u8; INLINE];
            bytes[..name.len()].copy_from_slice(name);
            let mut inline = [0u8; 16];
            inline.copy_from_slice(&bytes[2..]);
            KeyBytes {
                len: name.len() as u8,
                access: [0; 5],
                lead: [bytes[0], bytes[1]],
                tail: Tail { inline },
            }
        } else {
            let boxed: Box<[u8]> = name.into();
            let len = boxed.len();
            let ptr = NonNull::from(Box::leak(boxed)).cast::<u8>();
            KeyBytes {
                len: HEAP,
                access: [0; 5],
                lead: [0; 2],
                tail: Tail {
                    heap: HeapName { ptr, len },
                },
            }
        }
    }

    #[inline]
    fn on_heap(&self) -> bool {
        self.len == HEAP
    }

    /// The name.
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        if self.on_heap() {
            // SAFETY: the length byte says the heap variant is live; the pointer and
            // length describe the leaked Box<[u8]> this KeyBytes owns, alive until drop.
            unsafe {
                let h = self.tail.heap;
                std::slice::from_raw_parts(h.ptr.as_ptr(), h.len)
            }
        } else {
            // SAFETY: inline, the name's bytes are `lead` then `tail.inline`, contiguous
            // in this repr(C) struct (offsets 6..24, no padding: a test checks the size),
            // all initialised; the length is at most INLINE (only `new` writes it). The
            // pointer is derived from `self`, so it may span both fields.
            unsafe {
                let start = (self as *const KeyBytes).cast::<u8>().add(6);
                std::slice::from_raw_parts(start, usize::from(self.len))
            }
        }
    }

    /// The 40 bits of access metadata.
    #[inline]
    pub fn access(&self) -> u64 {
        let a = self.access;
        u64::from_le_bytes([a[0], a[1], a[2], a[3], a[4], 0, 0, 0])
    }

    /// Stores 40 bits of access metadata (higher bits are dropped).
    #[inline]
    pub fn set_access(&mut self, access: u64) {
        let b = access.to_le_bytes();
        self.access = [b[0], b[1], b[2], b[3], b[4]];
    }

    /// Where a name kept on the heap starts (None for inline names): the event loop
    /// prefetches it before the turn's commands compare it.
    #[inline]
    pub fn heap_start(&self) -> Option<*const u8> {
        if self.on_heap() {
            // SAFETY: the length byte says the heap variant is live.
            Some(unsafe { self.tail.heap.ptr.as_ptr() as *const u8 })
        } else {
            None
        }
    }

    /// Heap bytes owned (0 for inline names).
    pub fn heap_size(&self) -> usize {
        if self.on_heap() {
            self.as_bytes().len()
        } else {
            0
        }
    }
}

impl Drop for KeyBytes {
    fn drop(&mut self) {
        if self.on_heap() {
            // SAFETY: the heap variant is live and owns a Box<[u8]> leaked in `new` with
            // exactly this pointer and length; it is rebuilt and dropped once, here.
            unsafe {
                let h = self.tail.heap;
                let slice = std::ptr::slice_from_raw_parts_mut(h.ptr.as_ptr(), h.len);
                drop(Box::from_raw(slice));
            }
        }
    }
}

impl Clone for KeyBytes {
    fn clone(&self) -> KeyBytes {
        let mut k = KeyBytes::new(self.as_bytes());
        k.set_access(self.access());
        k
    }
}

impl Deref for KeyBytes {
    type Target = [u8];

    #[inline]
    fn deref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl fmt::Debug for KeyBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_24_bytes() {
        assert_eq!(std::mem::size_of::<KeyBytes>(), 24);
    }

    #[test]
    fn names_of_every_length_round_trip_with_their_access_bits() {
        for len in [0, 1, 2, 3, 17, 18, 19, 22, 100, 70_000] {
            let name: Vec<u8> = (0..len).map(|i| (i * 7 + 1) as u8).collect();
            let mut k = KeyBytes::new(&name);
            assert_eq!(k.access(), 0);
            assert_eq!(&*k, &name[..]);
            k.set_access(0xAB_CDEF_0123);
            assert_eq!(k.access(), 0xAB_CDEF_0123);
            assert_eq!(&*k, &name[..], "the access bits leave the name alone");
            k.set_access(u64::MAX);
            assert_eq!(k.access(), ACCESS_MASK);
            let c = k.clone();
            assert_eq!((&*c, c.access()), (&name[..], ACCESS_MASK));
            assert_eq!(k.heap_size(), if len > INLINE { len } else { 0 });
        }
    }
}
