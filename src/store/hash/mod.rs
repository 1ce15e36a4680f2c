//! The hash type: field -> value, in Redis's two encodings.
//!
//! * **packed** (Redis's listpack): while the hash has at most `hash-max-listpack-entries`
//!   fields and none of its fields or values is longer than `hash-max-listpack-value`
//!   bytes, it is one [`ThinBuf`] of `[len][field][len][value]` entries (lengths as
//!   LEB128 varints, so two bytes of framing per pair for short ones) in insertion order,
//!   searched linearly, plus a count, all inside the [`Value`](super::Value). Keeping Redis's
//!   thresholds and order means HGETALL, HKEYS, HVALS and HSCAN of a small hash answer in the
//!   very order Redis does, and HSCAN returns such a hash whole with cursor 0, as Redis's does.
//! * **table** (Redis's hashtable): past either limit, a hashbrown table of [`Pair`]s, each
//!   a thin pointer to one allocation holding both lengths, the field and the value (a
//!   field and value of ~20 bytes together: a 32-byte chunk plus 8 bytes of slot, where a
//!   slot of two inline strings took 48). Once converted it stays a table, as in Redis.

use std::alloc::{Layout, alloc, dealloc, handle_alloc_error};
use std::ptr::NonNull;

use hashbrown::HashTable;

use super::Limits;
use super::table::{self, hash_bytes};
use super::thin::ThinBuf;

/// Appends `n` as a LEB128 varint.
#[inline]
fn put_varint(out: &mut [u8], mut n: usize) -> usize {
    let mut i = 0;
    while n >= 0x80 {
        out[i] = (n as u8) | 0x80;
        n >>= 7;
        i += 1;
    }
    out[i] = n as u8;
    i + 1
}

/// Bytes of `n` as a varint.
#[inline]
fn varint_len(n: usize) -> usize {
    match n {
        0..0x80 => 1,
        0x80..0x4000 => 2,
        0x4000..0x20_0000 => 3,
        _ => (usize::BITS - n.leading_zeros()).div_ceil(7) as usize,
    }
}

/// Reads a varint at `at`: (value, bytes read).
#[inline]
fn get_varint(b: &[u8], at: usize) -> (usize, usize) {
    let first = b[at];
    if first < 0x80 {
        return (usize::from(first), 1);
    }
    let (mut n, mut shift, mut i) = (0usize, 0, at);
    loop {
        let c = b[i];
        n |= usize::from(c & 0x7F) << shift;
        i += 1;
        if c < 0x80 {
            return (n, i - at);
        }
        shift += 7;
    }
}

/// Reads a varint through a raw pointer: (value, bytes read).
///
/// # Safety
/// `p` must point to a complete varint inside one allocation.
#[inline]
unsafe fn read_varint(p: *const u8) -> (usize, usize) {
    let (mut n, mut shift, mut i) = (0usize, 0, 0);
    loop {
        // SAFETY: the caller guarantees the varint's bytes are readable.
        let c = unsafe { *p.add(i) };
        n |= usize::from(c & 0x7F) << shift;
        i += 1;
        if c < 0x80 {
            return (n, i);
        }
        shift += 7;
    }
}

/// A field and its value in one allocation behind a thin pointer:
/// `[field len][value len][field][value]`, lengths as varints.
pub struct Pair {
    ptr: NonNull<u8>,
}

// SAFETY: a Pair uniquely owns its allocation, like a Box<[u8]>.
unsafe impl Send for Pair {}
// SAFETY: shared access only reads.
unsafe impl Sync for Pair {}

impl Pair {
    fn layout(flen: usize, vlen: usize) -> Layout {
        let size = varint_len(flen) + varint_len(vlen) + flen + vlen;
        Layout::from_size_align(size, 1).expect("pair size overflow")
    }

    fn new(field: &[u8], value: &[u8]) -> Pair {
        let l = Pair::layout(field.len(), value.len());
        // SAFETY: the layout is at least 2 bytes.
        let p = unsafe { alloc(l) };
        let Some(ptr) = NonNull::new(p) else {
            handle_alloc_error(l)
        };
        // SAFETY: freshly allocated, `l.size()` bytes, written in full below.
        let b = unsafe { std::slice::from_raw_parts_mut(ptr.as_ptr(), l.size()) };
        let mut at = put_varint(b, field.len());
        at += put_varint(&mut b[at..], value.len());
        b[at..at + field.len()].copy_from_slice(field);
        b[at + field.len()..].copy_from_slice(value);
        Pair { ptr }
    }

    /// (field length, value length, header bytes).
    #[inline]
    fn lens(&self) -> (usize, usize, usize) {
        let p = self.ptr.as_ptr();
        // SAFETY: the allocation starts with two complete varints, and each read stops at
        // the last byte of its varint.
        unsafe {
            let (f, a) = read_varint(p);
            let (v, c) = read_varint(p.add(a));
            (f, v, a + c)
        }
    }

    /// The field.
    #[inline]
    pub fn field(&self) -> &[u8] {
        let (f, _, h) = self.lens();
        // SAFETY: the field follows the header within the allocation.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr().add(h), f) }
    }

    /// The value.
    #[inline]
    pub fn value(&self) -> &[u8] {
        let (f, v, h) = self.lens();
        // SAFETY: the value follows the field within the allocation.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr().add(h + f), v) }
    }

    /// Replaces the value, in place when it has the same length.
    fn set_value(&mut self, value: &[u8]) {
        let (f, v, h) = self.lens();
        if v == value.len() {
            // SAFETY: the value's bytes, uniquely borrowed through `&mut self`.
            unsafe {
                std::slice::from_raw_parts_mut(self.ptr.as_ptr().add(h + f), v)
                    .copy_from_slice(value)
            };
        } else {
            *self = Pair::new(self.field(), value);
        }
    }

    /// Bytes allocated.
    fn size(&self) -> usize {
        let (f, v, _) = self.lens();
        Pair::layout(f, v).size()
    }
}

impl Drop for Pair {
    fn drop(&mut self) {
        let (f, v, _) = self.lens();
        // SAFETY: allocated with this layout (the lengths determine it).
        unsafe { dealloc(self.ptr.as_ptr(), Pair::layout(f, v)) }
    }
}

impl Clone for Pair {
    fn clone(&self) -> Pair {
        Pair::new(self.field(), self.value())
    }
}

impl std::fmt::Debug for Pair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:?}={:?}",
            String::from_utf8_lossy(self.field()),
            String::from_utf8_lossy(self.value())
        )
    }
}

/// The two encodings.
#[derive(Debug, Clone)]
enum Repr {
    /// `[len][field][len][value]...` in insertion order (Redis's listpack).
    Packed { buf: ThinBuf, count: u32 },
    /// Hashed by field with [`hash_bytes`] (Redis's hashtable).
    Table(Box<HashTable<Pair>>),
}

/// A hash value. Commands live in `cmd/hashes.rs`; this holds the data.
#[derive(Debug, Clone)]
pub struct Hash {
    repr: Repr,
}

impl Default for Hash {
    fn default() -> Hash {
        Hash {
            repr: Repr::Packed {
                buf: ThinBuf::new(),
                count: 0,
            },
        }
    }
}

/// Where the parts of one packed entry lie.
#[derive(Debug, Clone, Copy)]
struct Spot {
    start: usize,
    field_at: usize,
    field_end: usize,
    value: usize,
    end: usize,
}

/// Decodes the packed entry at `at`.
#[inline]
fn spot(b: &[u8], at: usize) -> Spot {
    let (flen, a) = get_varint(b, at);
    let field_at = at + a;
    let field_end = field_at + flen;
    let (vlen, c) = get_varint(b, field_end);
    let value = field_end + c;
    Spot {
        start: at,
        field_at,
        field_end,
        value,
        end: value + vlen,
    }
}

/// The packed entry whose field is `field`.
#[inline]
fn find_packed(b: &[u8], field: &[u8]) -> Option<Spot> {
    let mut at = 0;
    while at < b.len() {
        let s = spot(b, at);
        if &b[s.field_at..s.field_end] == field {
            return Some(s);
        }
        at = s.end;
    }
    None
}

/// Iterator over `(field, value)` pairs.
pub struct Iter<'a> {
    inner: IterRepr<'a>,
}

enum IterRepr<'a> {
    Packed {
        buf: &'a [u8],
        at: usize,
        left: usize,
    },
    Table(hashbrown::hash_table::Iter<'a, Pair>),
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a [u8], &'a [u8]);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.inner {
            IterRepr::Packed { buf, at, left } => {
                if *at >= buf.len() {
                    return None;
                }
                let s = spot(buf, *at);
                *at = s.end;
                *left -= 1;
                Some((&buf[s.field_at..s.field_end], &buf[s.value..s.end]))
            }
            IterRepr::Table(i) => i.next().map(|p| (p.field(), p.value())),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match &self.inner {
            IterRepr::Packed { left, .. } => (*left, Some(*left)),
            IterRepr::Table(i) => i.size_hint(),
        }
    }
}

impl ExactSizeIterator for Iter<'_> {}

impl Hash {
    /// Frees the hash, the fields of its big form in address order (see
    /// [`crate::store::lazyfree::drop_in_address_order`]; the lazyfree thread's way).
    pub fn free_in_address_order(self) {
        if let Repr::Table(t) = self.repr {
            crate::store::lazyfree::drop_in_address_order(t.into_iter().collect(), |p: &Pair| {
                p.ptr.as_ptr() as usize
            });
        }
    }

    /// An empty hash.
    pub fn new() -> Hash {
        Hash::default()
    }

    /// Number of fields.
    #[inline]
    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Packed { count, .. } => *count as usize,
            Repr::Table(t) => t.len(),
        }
    }

    /// True when the hash has no field (such a key is deleted).
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Redis's name of the current encoding (`listpack` or `hashtable`), for OBJECT
    /// ENCODING.
    pub fn encoding(&self) -> &'static str {
        match &self.repr {
            Repr::Packed { .. } => "listpack",
            Repr::Table(_) => "hashtable",
        }
    }

    /// True when the hash is in the small, ordered encoding (HSCAN then returns it whole).
    pub fn is_small(&self) -> bool {
        matches!(self.repr, Repr::Packed { .. })
    }

    /// The value of `field`.
    #[inline]
    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        match &self.repr {
            Repr::Packed { buf, .. } => {
                let b = buf.as_slice();
                find_packed(b, field).map(|s| &b[s.value..s.end])
            }
            Repr::Table(t) => t
                .find(hash_bytes(field), |p| p.field() == field)
                .map(Pair::value),
        }
    }

    /// Sets `field` to `value`; returns true when the field is new. Converts to a table
    /// first when either is longer than `limits.hash_value`, and after adding a field past
    /// `limits.hash_entries`, as Redis does.
    #[inline]
    pub fn insert(&mut self, field: &[u8], value: &[u8], limits: &Limits) -> bool {
        if let Repr::Packed { buf, count } = &mut self.repr {
            if field.len() <= limits.hash_value && value.len() <= limits.hash_value {
                if let Some(s) = find_packed(buf.as_slice(), field) {
                    let new = varint_len(value.len()) + value.len();
                    let gap = buf.splice_gap(s.field_end, s.end - s.field_end, new);
                    let h = put_varint(gap, value.len());
                    gap[h..].copy_from_slice(value);
                    return false;
                }
                let at = buf.len();
                let size =
                    varint_len(field.len()) + field.len() + varint_len(value.len()) + value.len();
                let gap = buf.splice_gap(at, 0, size);
                let mut i = put_varint(gap, field.len());
                gap[i..i + field.len()].copy_from_slice(field);
                i += field.len();
                i += put_varint(&mut gap[i..], value.len());
                gap[i..].copy_from_slice(value);
                *count += 1;
                if *count as usize > limits.hash_entries {
                    self.convert();
                }
                return true;
            }
            // Redis converts before storing a field or value too long for a listpack.
            self.convert();
        }
        let Repr::Table(t) = &mut self.repr else {
            unreachable!("converted above");
        };
        let h = hash_bytes(field);
        match t.find_mut(h, |p| p.field() == field) {
            Some(p) => {
                p.set_value(value);
                false
            }
            None => {
                t.insert_unique(h, Pair::new(field, value), |p| hash_bytes(p.field()));
                true
            }
        }
    }

    /// Moves the fields into a hash table (for good: Redis never converts back).
    fn convert(&mut self) {
        if let Repr::Packed { count, .. } = &self.repr {
            let mut t = HashTable::with_capacity(*count as usize + 1);
            for (f, v) in self.iter() {
                t.insert_unique(hash_bytes(f), Pair::new(f, v), |p| hash_bytes(p.field()));
            }
            self.repr = Repr::Table(Box::new(t));
        }
    }

    /// Removes `field`; returns true when it existed. The packed encoding keeps the order
    /// of the other fields, as a listpack deletion does.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        match &mut self.repr {
            Repr::Packed { buf, count } => match find_packed(buf.as_slice(), field) {
                Some(s) => {
                    buf.splice_gap(s.start, s.end - s.start, 0);
                    *count -= 1;
                    true
                }
                None => false,
            },
            Repr::Table(t) => match t.find_entry(hash_bytes(field), |p| p.field() == field) {
                Ok(e) => {
                    e.remove();
                    // Give memory back after mass deletions, but only while the rehash
                    // that costs stays short (as the keyspace's own shrink does).
                    if t.capacity() > 64 && t.len() * 8 < t.capacity() && t.len() <= 32 * 1024 {
                        t.shrink_to_fit(|p| hash_bytes(p.field()));
                    }
                    true
                }
                Err(_) => false,
            },
        }
    }

    /// All `(field, value)` pairs: insertion order for a packed hash, table order otherwise.
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            inner: match &self.repr {
                Repr::Packed { buf, count } => IterRepr::Packed {
                    buf: buf.as_slice(),
                    at: 0,
                    left: *count as usize,
                },
                Repr::Table(t) => IterRepr::Table(t.iter()),
            },
        }
    }

    /// A random pair (HRANDFIELD), picked uniformly with `rand`, or None when empty.
    pub fn random(&self, rand: u64) -> Option<(&[u8], &[u8])> {
        let i = self.random_slot(rand)?;
        self.slot(i)
    }

    /// A uniformly random occupied slot (see [`Hash::slot`]), or None when empty.
    pub fn random_slot(&self, rand: u64) -> Option<usize> {
        match &self.repr {
            Repr::Packed { count: 0, .. } => None,
            Repr::Packed { count, .. } => Some(table::below(rand, *count as usize)),
            Repr::Table(t) => table::random_bucket(t, rand),
        }
    }

    /// The pair at slot `i` (an entry index, or a table bucket), if it is occupied.
    pub fn slot(&self, i: usize) -> Option<(&[u8], &[u8])> {
        match &self.repr {
            Repr::Packed { .. } => self.iter().nth(i),
            Repr::Table(t) => t.get_bucket(i).map(|p| (p.field(), p.value())),
        }
    }

    /// One HSCAN step from `cursor`: calls `f` for about `count` pairs (all of them for a
    /// packed hash, as Redis does for a listpack) and returns the next cursor (0 when done).
    pub fn scan(&self, cursor: u64, count: usize, mut f: impl FnMut(&[u8], &[u8])) -> u64 {
        match &self.repr {
            Repr::Packed { .. } => {
                for (k, v) in self.iter() {
                    f(k, v);
                }
                0
            }
            Repr::Table(t) => table::scan(
                t,
                |p| hash_bytes(p.field()),
                cursor,
                count,
                |p| f(p.field(), p.value()),
            ),
        }
    }

    /// Approximate heap bytes used.
    pub fn heap_size(&self) -> usize {
        match &self.repr {
            Repr::Packed { buf, .. } => buf.allocation_size(),
            Repr::Table(t) => t.allocation_size() + t.iter().map(Pair::size).sum::<usize>(),
        }
    }
}

#[cfg(test)]
mod tests;
