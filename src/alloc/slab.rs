//! Slabs of same-size blocks with no per-block header, for the small blocks every key has.
//!
//! glibc's malloc puts an 8-byte header before each chunk, rounds chunks to 16 bytes and
//! gives at least 32: the 56-byte key entry (`store::db::Entry`) takes a 64-byte chunk, and
//! the 16-byte expiry record of a key with a TTL a 32-byte one. Here blocks of one size
//! live side by side in 256 KiB chunks mapped from the system:
//! - [`ENTRIES`]: 56-byte blocks for requests of 41 to 56 bytes, 4,680 per chunk;
//! - [`SMALL`]: 16-byte blocks for requests of 1 to 16 bytes, 16,380 per chunk.
//!
//! (Chunks from glibc's aligned malloc cost a page or two of its own books each: 7 MB more
//! RSS for 1M keys, measured.)
//!
//! A chunk is aligned to its size, so a block's chunk is its address with the low bits
//! cleared. The chunk's first 64 bytes hold its books: the freed blocks (a list threaded
//! through them), how many blocks were ever carved (the rest are carved in order, so a new
//! chunk costs no setup), how many are in use, and its place in the list of chunks that
//! have a free block.
//!
//! A chunk whose last block is freed stays mapped for a moment: keys deleted are often
//! followed by keys created (a cache's churn, a FLUSHALL then a reload), which reuse it
//! without a page fault. The server's cron (10 times a second) unmaps the chunks that were
//! empty at [`IDLE_PASSES`] passes in a row, a few per pass ([`Slab::release_empty`]), as
//! jemalloc, Redis's allocator, returns dirty pages after a decay time: unmapping is paid
//! by the event loop, about 0.1 ms per MB, so a big FLUSHALL ASYNC's chunks go back 2 MB
//! at a time. MEMORY PURGE unmaps them all at once. One chunk with room is always kept.
//!
//! Every thread allocates (the event loop, the lazy-free and snapshot threads free), so
//! one spin lock guards the books. It is held for a few dozen instructions and almost never
//! contended: only the event loop creates keys. A waiter that spins too long yields.

use std::cell::UnsafeCell;
use std::ptr::null_mut;
use std::sync::atomic::{AtomicBool, Ordering};

/// Bytes of an [`ENTRIES`] block.
pub const ENTRY_BLOCK: usize = 56;

/// The slab of key entries: requests of 41 to 56 bytes (alignment up to 8), for which
/// glibc would take a 64-byte chunk.
pub static ENTRIES: Slab<ENTRY_BLOCK> = Slab::new();

/// Requests [`ENTRIES`] serves.
pub const ENTRY_SIZES: std::ops::RangeInclusive<usize> = 41..=ENTRY_BLOCK;

/// Bytes of a [`SMALL`] block.
pub const SMALL_BLOCK: usize = 16;

/// The slab of small records (a key's expiry, short names): requests of 1 to 16 bytes
/// (alignment up to 8), for which glibc would take a 32-byte chunk.
pub static SMALL: Slab<SMALL_BLOCK> = Slab::new();

/// Requests [`SMALL`] serves.
pub const SMALL_SIZES: std::ops::RangeInclusive<usize> = 1..=SMALL_BLOCK;

/// Bytes of a chunk, which is also its alignment.
const CHUNK: usize = 256 * 1024;

/// Most chunks one [`Slab::release_empty`] pass unmaps (2 MB).
const RELEASE_MAX: usize = 8;

/// Passes a chunk must be found empty at before a pass unmaps it (1 s at the cron's 10
/// passes a second).
pub const IDLE_PASSES: u8 = 10;

/// Bytes at the start of a chunk kept for its books.
const HEADER: usize = 64;

/// A freed block, linked to the next freed block of its chunk.
struct FreeBlock {
    next: *mut FreeBlock,
}

/// The books at the start of each chunk.
#[repr(C)]
struct Chunk {
    /// Freed blocks, most recent first.
    free: *mut FreeBlock,
    /// Blocks carved so far (block `i` starts at `HEADER + i * BLOCK`).
    carved: u32,
    /// Blocks in use.
    used: u32,
    /// Neighbours in the list of chunks with a free block (null at the ends).
    prev: *mut Chunk,
    next: *mut Chunk,
    /// [`Slab::release_empty`] passes in a row that found it empty.
    idle: u8,
}

const _: () = assert!(std::mem::size_of::<Chunk>() <= HEADER);

/// The slab's state: the chunks that have a free block.
struct Books {
    /// Head of the list of chunks with room (a chunk leaves it when full).
    with_room: *mut Chunk,
    /// Chunks held, full or not.
    chunks: usize,
}

/// A slab of `BLOCK`-byte blocks (a multiple of 8, at least 8).
pub struct Slab<const BLOCK: usize> {
    lock: AtomicBool,
    books: UnsafeCell<Books>,
}

impl<const BLOCK: usize> Default for Slab<BLOCK> {
    fn default() -> Slab<BLOCK> {
        Slab::new()
    }
}

// SAFETY: `books` is only reached between `lock()` and `unlock()`, which serialise every
// access across threads (acquire on taking the lock, release on leaving it).
unsafe impl<const BLOCK: usize> Sync for Slab<BLOCK> {}

/// Maps a fresh CHUNK-aligned chunk (zero pages, resident only once written), or null.
fn map_chunk() -> *mut Chunk {
    let len = 2 * CHUNK;
    // SAFETY: an anonymous private mapping has no preconditions; the parts outside the
    // aligned chunk are unmapped again, and only ranges of this mapping are.
    unsafe {
        let p = libc::mmap(
            null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        if p == libc::MAP_FAILED {
            return null_mut();
        }
        let start = p as usize;
        let aligned = (start + CHUNK - 1) & !(CHUNK - 1);
        if aligned > start {
            libc::munmap(p, aligned - start);
        }
        let tail = start + len - (aligned + CHUNK);
        if tail > 0 {
            libc::munmap((aligned + CHUNK) as *mut libc::c_void, tail);
        }
        aligned as *mut Chunk
    }
}

/// Unmaps a chunk from [`map_chunk`].
///
/// # Safety
///
/// Nothing in the chunk is used any more.
unsafe fn unmap_chunk(c: *mut Chunk) {
    // SAFETY: the caller's promise; the range is exactly one mapped chunk.
    unsafe { libc::munmap(c.cast(), CHUNK) };
}

/// The chunk holding `block`.
#[inline]
fn chunk_of(block: *mut u8) -> *mut Chunk {
    ((block as usize) & !(CHUNK - 1)) as *mut Chunk
}

impl<const BLOCK: usize> Slab<BLOCK> {
    /// Blocks per chunk.
    const BLOCKS: u32 = {
        assert!(BLOCK >= 8 && BLOCK.is_multiple_of(8));
        ((CHUNK - HEADER) / BLOCK) as u32
    };

    /// An empty slab (chunks are mapped on first use).
    pub const fn new() -> Slab<BLOCK> {
        Slab {
            lock: AtomicBool::new(false),
            books: UnsafeCell::new(Books {
                with_room: null_mut(),
                chunks: 0,
            }),
        }
    }

    /// Takes the lock. A waiter spins briefly, then yields its CPU: the holder may be a
    /// thread preempted on the same CPU (servers are often pinned to one), which only
    /// gets to finish if the waiter steps aside.
    #[inline]
    fn lock(&self) {
        let mut spins = 0u32;
        while self
            .lock
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            while self.lock.load(Ordering::Relaxed) {
                spins += 1;
                if spins < 100 {
                    std::hint::spin_loop();
                } else {
                    std::thread::yield_now();
                }
            }
        }
    }

    #[inline]
    fn unlock(&self) {
        self.lock.store(false, Ordering::Release);
    }

    /// A block of `BLOCK` bytes, 8-aligned, or null when no chunk can be mapped.
    pub fn alloc(&self) -> *mut u8 {
        self.lock();
        // SAFETY: the lock is held, so the books and every chunk header are ours; a chunk
        // in `with_room` is live and has a free or uncarved block.
        let block = unsafe {
            let books = &mut *self.books.get();
            let mut c = books.with_room;
            if c.is_null() {
                c = map_chunk();
                if c.is_null() {
                    self.unlock();
                    return null_mut();
                }
                c.write(Chunk {
                    free: null_mut(),
                    carved: 0,
                    used: 0,
                    prev: null_mut(),
                    next: null_mut(),
                    idle: 0,
                });
                books.with_room = c;
                books.chunks += 1;
            }
            let chunk = &mut *c;
            let block = if chunk.free.is_null() {
                let b = c.cast::<u8>().add(HEADER + chunk.carved as usize * BLOCK);
                chunk.carved += 1;
                b
            } else {
                let b = chunk.free;
                chunk.free = (*b).next;
                b.cast::<u8>()
            };
            chunk.used += 1;
            chunk.idle = 0;
            if chunk.used == Self::BLOCKS {
                // Full: out of the list (it is the head).
                books.with_room = chunk.next;
                if !chunk.next.is_null() {
                    (*chunk.next).prev = null_mut();
                }
                chunk.next = null_mut();
            }
            block
        };
        self.unlock();
        block
    }

    /// Frees a block.
    ///
    /// # Safety
    ///
    /// `block` came from [`Slab::alloc`] of this slab and is not used again.
    pub unsafe fn free(&self, block: *mut u8) {
        let c = chunk_of(block);
        self.lock();
        // SAFETY: the lock is held; `c` is the live chunk `block` was carved from (chunks
        // are CHUNK-aligned and only unmapped once all their blocks are free).
        unsafe {
            let books = &mut *self.books.get();
            let chunk = &mut *c;
            let f = block.cast::<FreeBlock>();
            (*f).next = chunk.free;
            chunk.free = f;
            if chunk.used == Self::BLOCKS {
                // Room again: to the head of the list.
                chunk.prev = null_mut();
                chunk.next = books.with_room;
                if !books.with_room.is_null() {
                    (*books.with_room).prev = c;
                }
                books.with_room = c;
            }
            chunk.used -= 1;
        }
        self.unlock();
    }

    /// One release pass: unmaps at most [`RELEASE_MAX`] empty chunks that earlier passes
    /// found empty [`IDLE_PASSES`] times in a row (or, `at_once`, any empty chunk); one
    /// chunk with room is kept. Returns the number unmapped.
    pub fn release_empty(&self, at_once: bool) -> usize {
        let mut doomed = [null_mut::<Chunk>(); RELEASE_MAX];
        let mut n = 0;
        self.lock();
        // SAFETY: the lock is held; every chunk in the list is live.
        unsafe {
            let books = &mut *self.books.get();
            let mut c = books.with_room;
            while !c.is_null() && n < RELEASE_MAX {
                let chunk = &mut *c;
                let next = chunk.next;
                let only_one = chunk.prev.is_null() && next.is_null();
                if chunk.used == 0 && !only_one {
                    if at_once || chunk.idle >= IDLE_PASSES {
                        if chunk.prev.is_null() {
                            books.with_room = next;
                        } else {
                            (*chunk.prev).next = next;
                        }
                        if !next.is_null() {
                            (*next).prev = chunk.prev;
                        }
                        books.chunks -= 1;
                        doomed[n] = c;
                        n += 1;
                    } else {
                        chunk.idle += 1;
                    }
                }
                c = next;
            }
        }
        self.unlock();
        for &c in &doomed[..n] {
            // SAFETY: no block of the chunk is in use and it is listed nowhere any more.
            unsafe { unmap_chunk(c) };
        }
        n
    }

    /// Bytes of chunks held (blocks in use, free blocks and books): the slab's share of
    /// the process's heap.
    pub fn held_bytes(&self) -> usize {
        self.lock();
        // SAFETY: the lock is held.
        let chunks = unsafe { (*self.books.get()).chunks };
        self.unlock();
        chunks * CHUNK
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_distinct_aligned_and_chunks_come_back() {
        const BLOCK: usize = 56;
        let slab = Slab::<BLOCK>::new();
        let blocks_per_chunk = Slab::<BLOCK>::BLOCKS as usize;
        let n = blocks_per_chunk * 3 + 17;
        let mut blocks: Vec<*mut u8> = (0..n).map(|_| slab.alloc()).collect();
        assert_eq!(slab.held_bytes(), 4 * CHUNK);
        let mut sorted = blocks.clone();
        sorted.sort();
        for w in sorted.windows(2) {
            assert!(w[1] as usize - w[0] as usize >= BLOCK, "blocks overlap");
        }
        for (i, &b) in blocks.iter().enumerate() {
            assert_eq!(b as usize % 8, 0);
            // SAFETY: each block is live and BLOCK bytes long.
            unsafe { std::ptr::write_bytes(b, i as u8, BLOCK) };
        }
        for (i, &b) in blocks.iter().enumerate() {
            // SAFETY: as above.
            assert!((0..BLOCK).all(|k| unsafe { *b.add(k) } == i as u8));
        }
        // Free every other block, then allocate them again: freed blocks are reused.
        for b in blocks.iter().step_by(2) {
            // SAFETY: each block is freed once.
            unsafe { slab.free(*b) };
        }
        assert_eq!(slab.held_bytes(), 4 * CHUNK);
        for b in blocks.iter_mut().step_by(2) {
            *b = slab.alloc();
        }
        assert_eq!(slab.held_bytes(), 4 * CHUNK);
        // Free everything: the chunks stay until a release pass.
        for b in blocks {
            // SAFETY: each block is freed once.
            unsafe { slab.free(b) };
        }
        assert_eq!(slab.held_bytes(), 4 * CHUNK);
        // The first passes only count them; the next unmaps all but one.
        for _ in 0..IDLE_PASSES {
            assert_eq!(slab.release_empty(false), 0);
        }
        assert_eq!(slab.release_empty(false), 3);
        assert_eq!(slab.held_bytes(), CHUNK);
        // A chunk used again between two passes is not released.
        let kept: Vec<*mut u8> = (0..blocks_per_chunk + 1).map(|_| slab.alloc()).collect();
        assert_eq!(slab.held_bytes(), 2 * CHUNK);
        for &b in &kept {
            // SAFETY: each block is freed once.
            unsafe { slab.free(b) };
        }
        for _ in 0..IDLE_PASSES {
            assert_eq!(slab.release_empty(false), 0);
        }
        // The head chunk is used again: only the other one goes.
        let again = slab.alloc();
        assert_eq!(slab.release_empty(false), 1);
        assert_eq!(slab.held_bytes(), CHUNK);
        // SAFETY: freed once.
        unsafe { slab.free(again) };
        assert_eq!(
            slab.release_empty(true),
            0,
            "the last chunk with room stays"
        );
        assert_eq!(slab.held_bytes(), CHUNK);
    }

    #[test]
    fn threads_allocating_and_freeing_at_once_keep_their_blocks() {
        fn slab_alloc(size: usize) -> *mut u8 {
            if size == 16 {
                SMALL.alloc()
            } else {
                ENTRIES.alloc()
            }
        }
        /// # Safety
        /// `b` came from `slab_alloc(size)`.
        unsafe fn slab_free(size: usize, b: *mut u8) {
            // SAFETY: the caller's promise.
            unsafe {
                if size == 16 {
                    SMALL.free(b)
                } else {
                    ENTRIES.free(b)
                }
            }
        }
        let threads: Vec<_> = (0..4u8)
            .map(|t| {
                // Two threads on each slab.
                let size = if t % 2 == 0 { 16 } else { 56 };
                std::thread::spawn(move || {
                    let mut live: Vec<usize> = Vec::new();
                    for round in 0..20_000usize {
                        if round % 3 == 2 {
                            if let Some(b) = live.pop() {
                                let b = b as *mut u8;
                                // SAFETY: our own live block, checked then freed once.
                                unsafe {
                                    assert!((0..size).all(|k| *b.add(k) == t));
                                    slab_free(size, b);
                                }
                            }
                        } else {
                            let b = slab_alloc(size);
                            assert!(!b.is_null());
                            // SAFETY: a fresh block of `size` bytes.
                            unsafe { std::ptr::write_bytes(b, t, size) };
                            live.push(b as usize);
                        }
                    }
                    for b in live {
                        let b = b as *mut u8;
                        // SAFETY: as above.
                        unsafe {
                            assert!((0..size).all(|k| *b.add(k) == t));
                            slab_free(size, b);
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("thread");
        }
    }
}
