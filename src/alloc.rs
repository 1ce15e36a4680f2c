//! A counting allocator, so INFO's `used_memory` and the maxmemory limit report the bytes
//! the process really holds (Redis asks its allocator the same question with
//! `zmalloc_size`).
//!
//! Blocks of 41 to 56 bytes, among them every key entry, and blocks of up to 16 bytes,
//! among them every key's expiry record, come from [`slab`]: 56 and 16 bytes each, with no
//! header. Everything else comes from glibc's malloc, which would have taken a 64-byte
//! and a 32-byte chunk for them (an 8-byte header, then 16-byte steps, 32 at least): 8
//! bytes of every key, a tenth of a small string key's cost, and 16 more for a key with a
//! TTL. Rust passes `dealloc` and `realloc` the layout it allocated with, so the size
//! alone tells which allocator owns a block.
//!
//! What is counted is the block the allocator carves, not the bytes asked for: a 56-byte
//! key entry counts 56, a 100-byte value 112 (glibc's chunk). Counting requests would let a
//! maxmemory-bound server hold about a tenth more than its limit.
//!
//! (mimalloc was measured on 2026-11-30 as the allocator: RSS grew by 1.2x Redis's over
//! ../shared/bench/collections.py against 0.72x with glibc, because it commits and keeps
//! memory in large spans; and its size classes above 16 bytes step by 16, so a key entry
//! takes 64 bytes there too. See ARCHITECTURE.md, Memory.)
//!
//! The binary installs it with `#[global_allocator]`; library tests do not, and then
//! [`allocated`] reads 0.

pub mod slab;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use slab::{ENTRIES, SMALL};

static ALLOCATED: AtomicUsize = AtomicUsize::new(0);
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

/// The counting allocator: the slabs for key-entry-sized and small blocks, glibc's malloc
/// for the rest.
#[derive(Debug, Default)]
pub struct CountingAlloc;

/// Bytes currently allocated through [`CountingAlloc`].
pub fn allocated() -> usize {
    ALLOCATED.load(Relaxed)
}

/// Which allocator owns blocks of a layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Owner {
    Entries,
    Small,
    Glibc,
}

/// The owner of blocks of `size` bytes aligned to `align` (the slabs' blocks are
/// 8-aligned).
#[inline]
fn owner(size: usize, align: usize) -> Owner {
    if align > 8 {
        Owner::Glibc
    } else if slab::ENTRY_SIZES.contains(&size) {
        Owner::Entries
    } else if slab::SMALL_SIZES.contains(&size) {
        Owner::Small
    } else {
        Owner::Glibc
    }
}

/// The bytes a request of `size` bytes takes: a slab block, or glibc's chunk (the request
/// plus its 8-byte header, rounded up to 16, at least 32; blocks from mmap, 128 KiB and
/// up by default, are whole pages).
#[inline]
pub fn chunk_size(size: usize) -> usize {
    const MMAP_FROM: usize = 128 * 1024;
    match owner(size, 1) {
        Owner::Entries => return slab::ENTRY_BLOCK,
        Owner::Small => return slab::SMALL_BLOCK,
        Owner::Glibc => {}
    }
    if size >= MMAP_FROM {
        return (size + 16 + 4095) & !4095;
    }
    ((size + 8 + 15) & !15).max(32)
}

/// Allocations (including reallocations) made since start: INFO shows it, so a test can
/// check that a hot path (a GET hit, say) allocates nothing.
pub fn allocations() -> usize {
    ALLOCATIONS.load(Relaxed)
}

impl CountingAlloc {
    /// Allocates from the allocator that owns blocks of this layout.
    ///
    /// # Safety
    ///
    /// `layout` has a non-zero size (GlobalAlloc's contract).
    #[inline]
    unsafe fn raw_alloc(layout: Layout, zeroed: bool) -> *mut u8 {
        let slab_block = match owner(layout.size(), layout.align()) {
            Owner::Entries => Some(ENTRIES.alloc()),
            Owner::Small => Some(SMALL.alloc()),
            Owner::Glibc => None,
        };
        if let Some(p) = slab_block {
            if zeroed && !p.is_null() {
                // SAFETY: a fresh block of at least layout.size() bytes.
                unsafe { std::ptr::write_bytes(p, 0, layout.size()) };
            }
            p
        } else if zeroed {
            // SAFETY: forwarded unchanged.
            unsafe { System.alloc_zeroed(layout) }
        } else {
            // SAFETY: forwarded unchanged.
            unsafe { System.alloc(layout) }
        }
    }

    /// Frees a block to the allocator that owns blocks of its layout.
    ///
    /// # Safety
    ///
    /// `ptr` was allocated with `layout` (GlobalAlloc's contract).
    #[inline]
    unsafe fn raw_dealloc(ptr: *mut u8, layout: Layout) {
        match owner(layout.size(), layout.align()) {
            // SAFETY: a block of this layout came from this slab.
            Owner::Entries => unsafe { ENTRIES.free(ptr) },
            // SAFETY: as above.
            Owner::Small => unsafe { SMALL.free(ptr) },
            Owner::Glibc => {
                if layout.size() >= RELEASE_IN_STEPS_FROM {
                    // SAFETY: the block is ours until the dealloc below.
                    unsafe { release_in_steps(ptr, layout.size()) };
                }
                // SAFETY: a block of this layout came from System.
                unsafe { System.dealloc(ptr, layout) };
            }
        }
    }
}

// SAFETY: every block comes from the slab or glibc's malloc (System), chosen by its
// layout alone, and is returned to the same one: Rust passes dealloc and realloc the
// layout it allocated with. Both allocators are thread-safe and honour the alignments
// routed to them (the slab's blocks are 8-aligned and only take alignments up to 8). The counters only observe sizes and never touch the memory.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's layout, unchanged.
        let p = unsafe { Self::raw_alloc(layout, false) };
        if !p.is_null() {
            ALLOCATED.fetch_add(chunk_size(layout.size()), Relaxed);
            ALLOCATIONS.fetch_add(1, Relaxed);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's layout, unchanged.
        let p = unsafe { Self::raw_alloc(layout, true) };
        if !p.is_null() {
            ALLOCATED.fetch_add(chunk_size(layout.size()), Relaxed);
            ALLOCATIONS.fetch_add(1, Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's block and layout.
        unsafe { Self::raw_dealloc(ptr, layout) };
        ALLOCATED.fetch_sub(chunk_size(layout.size()), Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let align = layout.align();
        let p = match (owner(layout.size(), align), owner(new_size, align)) {
            // SAFETY: forwarded unchanged.
            (Owner::Glibc, Owner::Glibc) => unsafe { System.realloc(ptr, layout, new_size) },
            // Both sizes fit the same slab's block.
            (old, new) if old == new => ptr,
            _ => {
                // To another allocator: the block moves.
                // SAFETY: GlobalAlloc's realloc contract makes (new_size, align) a valid
                // layout with a non-zero size.
                let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, align) };
                // SAFETY: as above.
                let q = unsafe { Self::raw_alloc(new_layout, false) };
                if !q.is_null() {
                    // SAFETY: both blocks are live, distinct, and at least this long.
                    unsafe {
                        std::ptr::copy_nonoverlapping(ptr, q, layout.size().min(new_size));
                        Self::raw_dealloc(ptr, layout);
                    }
                }
                q
            }
        };
        if !p.is_null() {
            ALLOCATIONS.fetch_add(1, Relaxed);
            ALLOCATED.fetch_add(chunk_size(new_size), Relaxed);
            ALLOCATED.fetch_sub(chunk_size(layout.size()), Relaxed);
        }
        p
    }
}

/// Blocks of at least this size give their pages back in steps before they are freed.
const RELEASE_IN_STEPS_FROM: usize = 8 << 20;

/// Gives the whole pages of a block about to be freed back to the system, 2 MiB at a time
/// (`madvise(MADV_DONTNEED)`), so the `munmap` that frees it has nothing left to release.
///
/// munmap releases a region's pages while it keeps every other mmap and munmap of the
/// process waiting: the lazyfree thread unmapping a 5M-member sorted set's 200 MB array
/// took 47 ms (perf trace), and a 1 MiB allocation by the event loop meanwhile (glibc
/// mmaps blocks that big) waited that long. madvise holds the address space only shared,
/// and one step of 2 MiB takes well under a millisecond. Only whole pages strictly inside
/// the block are released: glibc's own headers, before the block and after its end, stay.
///
/// # Safety
///
/// `ptr` must point to `size` bytes that the caller owns and will not read again.
unsafe fn release_in_steps(ptr: *mut u8, size: usize) {
    #[cfg(target_os = "linux")]
    {
        const STEP: usize = 2 << 20;
        let page = page_size() as usize;
        let start = (ptr as usize).next_multiple_of(page);
        let end = (ptr as usize + size) / page * page;
        let mut at = start;
        while at < end {
            let n = (end - at).min(STEP);
            // SAFETY: [at, at + n) is whole pages inside the caller's block, which nobody
            // reads again (the caller's contract); DONTNEED only drops their contents.
            unsafe { libc::madvise(at as *mut libc::c_void, n, libc::MADV_DONTNEED) };
            at += n;
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (ptr, size);
}

/// One release pass of the slabs (the cron's, 10 a second): chunks empty for a second go
/// back to the system, a few per pass.
pub fn release_idle() {
    ENTRIES.release_empty(false);
    SMALL.release_empty(false);
}

/// Returns free heap memory to the system: the slabs' empty chunks, and glibc's free
/// pages (`malloc_trim`, with glibc only).
pub fn trim() {
    while ENTRIES.release_empty(true) + SMALL.release_empty(true) > 0 {}
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases pages of free chunks; it may be called at any time
    // from any thread and takes the allocator's own locks.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Resident set size of this process in bytes, from /proc (0 where unavailable).
pub fn rss_bytes() -> u64 {
    let Ok(statm) = std::fs::read_to_string("/proc/self/statm") else {
        return 0;
    };
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    pages * page_size()
}

fn page_size() -> u64 {
    // SAFETY: sysconf has no preconditions; it returns -1 on error, handled below.
    let v = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if v > 0 { v as u64 } else { 4096 }
}

/// User and system CPU seconds used by this process (getrusage).
pub fn cpu_seconds() -> (f64, f64) {
    let (user, sys) = cpu_times(Rusage::Process);
    let secs = |(s, us): (i64, i64)| s as f64 + us as f64 / 1e6;
    (secs(user), secs(sys))
}

/// Whose CPU time [`cpu_times`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rusage {
    /// The whole process.
    Process,
    /// Terminated child processes (we have none).
    Children,
    /// The calling thread.
    Thread,
}

/// User and system CPU time as getrusage reports them, each as (seconds, microseconds);
/// zeros where unavailable.
pub fn cpu_times(who: Rusage) -> ((i64, i64), (i64, i64)) {
    let who = match who {
        Rusage::Process => libc::RUSAGE_SELF,
        Rusage::Children => libc::RUSAGE_CHILDREN,
        Rusage::Thread => libc::RUSAGE_THREAD,
    };
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: `usage` points to writable memory of the right type; getrusage fills it and
    // returns 0, or returns -1 without a meaningful value, which we check before reading.
    let rc = unsafe { libc::getrusage(who, usage.as_mut_ptr()) };
    if rc != 0 {
        return ((0, 0), (0, 0));
    }
    // SAFETY: getrusage returned 0, so the struct is initialised (it was zeroed anyway).
    let u = unsafe { usage.assume_init() };
    // time_t and suseconds_t are i64 on 64-bit Linux, narrower elsewhere.
    #[allow(clippy::unnecessary_cast)]
    let pair = |t: libc::timeval| (t.tv_sec as i64, t.tv_usec as i64);
    (pair(u.ru_utime), pair(u.ru_stime))
}

/// Physical memory of the machine in bytes (0 where unavailable), as Redis reads it.
pub fn total_system_memory() -> u64 {
    // SAFETY: sysconf has no preconditions; it returns -1 on error, handled below.
    let pages = unsafe { libc::sysconf(libc::_SC_PHYS_PAGES) };
    if pages > 0 {
        pages as u64 * page_size()
    } else {
        0
    }
}

/// What the allocator holds: bytes handed out (the chunk counter, [`allocated`]) and bytes
/// it keeps from the operating system, taken as the process's resident set. glibc could
/// tell the second more exactly (`mallinfo2`), but that walks every free block under the
/// allocator's lock: 70 ms per INFO after deleting half of 1M keys, 330 ms while a big
/// value was being freed, stalling the loop and the lazyfree thread alike. Where the
/// counting allocator is not installed (library tests), the resident set stands for both.
pub fn allocator_stats() -> (u64, u64) {
    let rss = rss_bytes();
    let used = allocated() as u64;
    if used == 0 {
        return (rss, rss);
    }
    (used, rss.max(used))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_size_is_what_the_owning_allocator_takes() {
        // Large requests: glibc's chunk (library tests allocate with System).
        for size in [17usize, 24, 25, 40, 57, 100, 1000, 4000, 100_000] {
            // glibc hands out a free chunk a little bigger than asked whole when the rest
            // would be too small to split off (other tests free blocks meanwhile), so the
            // smallest of a few live blocks is the chunk size proper.
            let blocks: Vec<Vec<u8>> = (0..8).map(|_| vec![0u8; size]).collect();
            let usable = blocks
                .iter()
                // SAFETY: each block is a live allocation from the system allocator
                // (library tests do not install CountingAlloc); malloc_usable_size only
                // reads its header.
                .map(|b| unsafe { libc::malloc_usable_size(b.as_ptr() as *mut _) })
                .min()
                .expect("blocks");
            assert_eq!(chunk_size(size), usable + 8, "request of {size} bytes");
        }
        // The slabs' sizes: one block each.
        for size in slab::ENTRY_SIZES {
            assert_eq!(chunk_size(size), 56);
        }
        for size in slab::SMALL_SIZES {
            assert_eq!(chunk_size(size), 16);
        }
        assert_eq!(chunk_size(40), 48);
        assert_eq!(chunk_size(57), 80);
    }

    #[test]
    fn blocks_go_back_to_their_own_allocator_and_move_across_on_realloc() {
        let a = CountingAlloc;
        let before = allocated();
        // SAFETY: every block is allocated, written, read back and freed with the layout
        // it has at that moment, as GlobalAlloc's contract asks.
        unsafe {
            let small = Layout::from_size_align(56, 8).expect("layout");
            let p = a.alloc(small);
            assert!(!p.is_null());
            std::ptr::write_bytes(p, 0xAB, 56);
            assert_eq!(allocated() - before, 56, "a 56-byte block counts 56");
            // Within the slab's sizes: the same block.
            assert_eq!(a.realloc(p, small, 48), p);
            let small = Layout::from_size_align(48, 8).expect("layout");
            // Out of the slab: moved to glibc, contents kept.
            let q = a.realloc(p, small, 300);
            assert!(!q.is_null());
            assert!((0..48).all(|i| *q.add(i) == 0xAB));
            assert_eq!(allocated() - before, chunk_size(300));
            // Back into the slab.
            let big = Layout::from_size_align(300, 8).expect("layout");
            let r = a.realloc(q, big, 50);
            assert!((0..48).all(|i| *r.add(i) == 0xAB));
            assert_eq!(allocated() - before, 56);
            a.dealloc(r, Layout::from_size_align(50, 8).expect("layout"));
            // Small blocks: 16 bytes each, and they move between the two slabs.
            let tiny = Layout::from_size_align(12, 8).expect("layout");
            let t = a.alloc(tiny);
            std::ptr::write_bytes(t, 0xCD, 12);
            assert_eq!(allocated() - before, 16);
            let u = a.realloc(t, tiny, 16);
            assert_eq!(u, t, "12 and 16 bytes share a block");
            let v = a.realloc(u, Layout::from_size_align(16, 8).expect("layout"), 44);
            assert!((0..12).all(|i| *v.add(i) == 0xCD));
            assert_eq!(allocated() - before, 56);
            a.dealloc(v, Layout::from_size_align(44, 8).expect("layout"));
            // Zeroed slab blocks are zero; over-aligned ones stay with glibc.
            let z = a.alloc_zeroed(small);
            assert!((0..48).all(|i| *z.add(i) == 0));
            a.dealloc(z, small);
            let aligned = Layout::from_size_align(48, 64).expect("layout");
            let z = a.alloc_zeroed(aligned);
            assert_eq!(z as usize % 64, 0);
            assert!((0..48).all(|i| *z.add(i) == 0));
            a.dealloc(z, aligned);
        }
        assert_eq!(allocated(), before);
    }

    #[test]
    fn trim_gives_freed_memory_back() {
        // Many small blocks (below mmap's threshold, so they live in the heap), freed
        // while one block after them keeps the heap from shrinking by itself.
        let blocks: Vec<Vec<u8>> = (0..8192).map(|_| vec![1u8; 16 * 1024]).collect();
        let pin = Box::new([2u8; 64]);
        let before = rss_bytes();
        drop(blocks);
        trim();
        let after = rss_bytes();
        assert!(
            before.saturating_sub(after) > 64 << 20,
            "RSS {before} -> {after}"
        );
        assert_eq!(pin[0], 2);
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn big_blocks_give_their_pages_back_before_the_free() {
        let layout = Layout::from_size_align(RELEASE_IN_STEPS_FROM + 12345, 8).expect("layout");
        // SAFETY: a fresh block of `layout`, written, released, read back (still ours) and
        // freed with the same layout.
        unsafe {
            let p = System.alloc(layout);
            assert!(!p.is_null());
            std::ptr::write_bytes(p, 7, layout.size());
            release_in_steps(p, layout.size());
            // Whole pages inside read as zero now; partial pages at the ends keep their
            // bytes (glibc's headers live next to them).
            assert_eq!(*p.add(layout.size() / 2), 0);
            let page = page_size() as usize;
            if !(p as usize).is_multiple_of(page) {
                assert_eq!(*p, 7);
            }
            if !(p as usize + layout.size()).is_multiple_of(page) {
                assert_eq!(*p.add(layout.size() - 1), 7);
            }
            System.dealloc(p, layout);
        }
    }

    #[test]
    fn process_figures_are_plausible() {
        assert!(rss_bytes() > 0);
        let burn: u64 = (0..2_000_000u64).map(|x| x.wrapping_mul(x)).sum();
        assert!(burn > 0);
        let (user, sys) = cpu_seconds();
        assert!(user + sys > 0.0);
        let ((_, user_us), _) = cpu_times(Rusage::Thread);
        assert!((0..1_000_000).contains(&user_us));
        assert!(total_system_memory() > 1 << 20);
        let (handed_out, held) = allocator_stats();
        assert!(held >= handed_out && handed_out > 0);
    }
}
