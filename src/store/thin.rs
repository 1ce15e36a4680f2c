//! [`ThinBuf`]: a growable byte buffer behind one 8-byte pointer, the storage of every
//! packed collection form (list nodes, small hashes, intsets, small sorted sets).
//!
//! A `Vec<u8>` costs 24 bytes plus its allocation and a `Box<[u8]>` 16; a small collection
//! is stored in the 16 bytes a [`Value`](super::Value) has for it, next to a count, so its
//! buffer pointer must be thin. The length lives in the allocation's first 4 bytes (like a
//! listpack's header); the capacity is not stored but derived from the length by
//! [`alloc_size`], so the buffer grows in steps (amortised appends) without a field of its
//! own. Steps follow glibc's chunk sizes for small buffers (no waste the allocator would not
//! add anyway) and a sixteenth of the size for large ones.

use std::alloc::{Layout, alloc, dealloc, handle_alloc_error, realloc};
use std::fmt;
use std::ptr::NonNull;

/// Bytes of the length header.
const HDR: usize = 4;

/// Most bytes a [`ThinBuf`] holds (the header is a `u32`). Callers keep elements above
/// this out of packed forms.
pub const MAX_LEN: usize = u32::MAX as usize - 4096;

/// The allocation holding `len` bytes plus the header. glibc serves `16k + 8` bytes with
/// no slack (an 8-byte chunk header, 16-byte granularity), so small sizes round up to that;
/// from 1 KiB on, sizes round up to a sixteenth of their power of two, so that a buffer
/// growing one entry at a time is moved at most every ~6% of growth.
#[inline]
fn alloc_size(len: usize) -> usize {
    let total = len + HDR;
    if total <= 24 {
        24
    } else if total <= 1024 {
        ((total + 7) | 15) - 7
    } else {
        let step = (total.next_power_of_two() / 32).max(64);
        total.div_ceil(step) * step
    }
}

#[inline]
fn layout(len: usize) -> Layout {
    // Alignment 4 for the header; glibc hands out 16-aligned chunks anyway.
    Layout::from_size_align(alloc_size(len), 4).expect("buffer size overflow")
}

/// A byte buffer with a 4-byte length header, behind a thin pointer (see the module docs).
pub struct ThinBuf {
    ptr: NonNull<u8>,
}

// SAFETY: a ThinBuf uniquely owns its allocation, as a Box<[u8]> does.
unsafe impl Send for ThinBuf {}
// SAFETY: shared access only reads.
unsafe impl Sync for ThinBuf {}

impl ThinBuf {
    /// An empty buffer (one small allocation: collections are never empty for long).
    pub fn new() -> ThinBuf {
        ThinBuf::with_len(0)
    }

    /// A buffer of `len` zero bytes.
    fn with_len(len: usize) -> ThinBuf {
        assert!(len <= MAX_LEN, "packed buffer too large");
        let l = layout(len);
        // SAFETY: the layout has a non-zero size.
        let p = unsafe { alloc(l) };
        let Some(ptr) = NonNull::new(p) else {
            handle_alloc_error(l)
        };
        let mut b = ThinBuf { ptr };
        b.set_len(len);
        b
    }

    /// A copy of `bytes`.
    pub fn from_slice(bytes: &[u8]) -> ThinBuf {
        let mut b = ThinBuf::with_len(bytes.len());
        b.as_mut_slice().copy_from_slice(bytes);
        b
    }

    /// Length in bytes.
    #[inline]
    pub fn len(&self) -> usize {
        // SAFETY: the allocation starts with the 4-aligned header.
        unsafe { self.ptr.cast::<u32>().read() as usize }
    }

    /// True when empty.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    #[inline]
    fn set_len(&mut self, len: usize) {
        // SAFETY: as in `len`; `len` was checked against MAX_LEN.
        unsafe { self.ptr.cast::<u32>().write(len as u32) }
    }

    /// The bytes.
    #[inline]
    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: the allocation holds HDR + len initialised bytes.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr().add(HDR), self.len()) }
    }

    /// The bytes, writable.
    #[inline]
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: as in `as_slice`, and `&mut self` makes the access unique.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr().add(HDR), self.len()) }
    }

    /// Changes the length to `new_len` (new bytes are unspecified until written),
    /// reallocating only when the size class changes.
    fn resize(&mut self, new_len: usize) {
        assert!(new_len <= MAX_LEN, "packed buffer too large");
        let old = layout(self.len());
        let new = layout(new_len);
        if old.size() != new.size() {
            // SAFETY: `ptr` was allocated with `old`; the new size is non-zero.
            let p = unsafe { realloc(self.ptr.as_ptr(), old, new.size()) };
            self.ptr = match NonNull::new(p) {
                Some(p) => p,
                None => handle_alloc_error(new),
            };
        }
        self.set_len(new_len);
    }

    /// Replaces `remove` bytes at `at` by a gap of `insert` bytes, returns the gap for the
    /// caller to fill. The bytes after the range move (one `memmove`).
    pub fn splice_gap(&mut self, at: usize, remove: usize, insert: usize) -> &mut [u8] {
        let len = self.len();
        assert!(at + remove <= len);
        let tail = len - at - remove;
        if insert > remove {
            self.resize(len - remove + insert);
        }
        let s = self.ptr.as_ptr();
        // SAFETY: both ranges lie within the (possibly grown) allocation; `copy` handles
        // the overlap.
        unsafe {
            std::ptr::copy(s.add(HDR + at + remove), s.add(HDR + at + insert), tail);
        }
        if insert < remove {
            self.resize(len - remove + insert);
        }
        &mut self.as_mut_slice()[at..at + insert]
    }

    /// Replaces `remove` bytes at `at` by `bytes`.
    pub fn splice(&mut self, at: usize, remove: usize, bytes: &[u8]) {
        self.splice_gap(at, remove, bytes.len())
            .copy_from_slice(bytes);
    }

    /// Appends `bytes`.
    pub fn extend(&mut self, bytes: &[u8]) {
        let len = self.len();
        self.splice(len, 0, bytes);
    }

    /// Cuts the buffer into `..at` (kept) and `at..` (returned).
    pub fn split_off(&mut self, at: usize) -> ThinBuf {
        let tail = ThinBuf::from_slice(&self.as_slice()[at..]);
        self.resize(at);
        tail
    }

    /// Bytes allocated (for memory accounting).
    pub fn allocation_size(&self) -> usize {
        alloc_size(self.len())
    }
}

impl Default for ThinBuf {
    fn default() -> ThinBuf {
        ThinBuf::new()
    }
}

impl Drop for ThinBuf {
    fn drop(&mut self) {
        // SAFETY: allocated with this layout (the length determines it).
        unsafe { dealloc(self.ptr.as_ptr(), layout(self.len())) }
    }
}

impl Clone for ThinBuf {
    fn clone(&self) -> ThinBuf {
        ThinBuf::from_slice(self.as_slice())
    }
}

impl fmt::Debug for ThinBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ThinBuf({} bytes)", self.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_follow_glibc_chunks_then_sixteenths() {
        assert_eq!(alloc_size(0), 24);
        assert_eq!(alloc_size(20), 24);
        assert_eq!(alloc_size(21), 40);
        assert_eq!(alloc_size(36), 40);
        assert_eq!(alloc_size(37), 56);
        for len in 0..100_000 {
            let s = alloc_size(len);
            assert!(s >= len + HDR);
            if len > 2048 {
                assert!(s - (len + HDR) <= (len + HDR) / 8, "{len}: {s}");
            }
        }
    }

    #[test]
    fn splices_grow_and_shrink() {
        let mut b = ThinBuf::new();
        let mut model: Vec<u8> = Vec::new();
        let mut seed = 7u64;
        for round in 0..3000 {
            let r = crate::store::next_random(&mut seed);
            let at = (r as usize) % (model.len() + 1);
            let remove = ((r >> 20) as usize % 40).min(model.len() - at);
            let n = (r >> 32) as usize % if round % 100 == 0 { 5000 } else { 50 };
            let bytes: Vec<u8> = (0..n).map(|i| (i + round) as u8).collect();
            b.splice(at, remove, &bytes);
            model.splice(at..at + remove, bytes);
            assert_eq!(b.as_slice(), &model[..]);
        }
        let tail = b.split_off(model.len() / 2);
        assert_eq!(tail.as_slice(), &model[model.len() / 2..]);
        assert_eq!(b.as_slice(), &model[..model.len() / 2]);
        assert_eq!(b.clone().as_slice(), b.as_slice());
        assert_eq!(std::mem::size_of::<ThinBuf>(), 8);
        assert_eq!(std::mem::size_of::<Option<ThinBuf>>(), 8);
    }
}
