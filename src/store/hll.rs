//! HyperLogLog, Redis's representation byte for byte (hyperloglog.c of Redis 7.0): a string
//! that starts with a 16-byte header (`HYLL`, the encoding, three unused bytes, the cached
//! cardinality in little endian whose top bit says it is stale), followed by 16384 6-bit
//! registers, either *dense* (12288 bytes, least significant bits first) or *sparse*
//! (run-length opcodes: ZERO `00xxxxxx` 1-64 zero registers, XZERO `01xxxxxx yyyyyyyy`
//! 1-16384 zero registers, VAL `1vvvvvxx` 1-4 registers of value 1-32). Elements are hashed
//! with MurmurHash64A (seed `0xadc83b19`); the cardinality is Ertl's estimator over the
//! register histogram, computed with the same floating-point operations as Redis, so that
//! counts agree to the digit.
//!
//! Corrupted inputs (a client can SET any bytes) are read as the reference redis-server
//! reads them, and the same checks detect the same corruptions. The reference is Debian's
//! redis-server 7.0.15, which checks every sparse run against the register count (the fix
//! for CVE-2025-32023, see `walk_sparse`). An XZERO cut short by the end of the string
//! reads its second byte past the end, where Redis's string has its terminator: 0, except
//! that Redis's edit of such an opcode writes one byte of the new sequence there, which
//! later reads see. [`Str::Packed`] keeps that byte (`past_end` below), so even those reads
//! agree.
//!
//! The commands are in `cmd/hyperloglog.rs`; this module knows nothing of the protocol.

use super::thin::ThinBuf;
use super::value::Str;

/// Bytes of the header.
pub const HDR: usize = 16;
/// Register index bits.
const P: u32 = 14;
/// Hash bits left for the run of zeroes.
const Q: usize = 64 - P as usize;
/// Number of registers.
pub const REGISTERS: usize = 1 << P;
/// Size of a dense HyperLogLog.
pub const DENSE_SIZE: usize = HDR + (REGISTERS * 6).div_ceil(8);
/// Encoding byte of the dense form.
pub const DENSE: u8 = 0;
/// Encoding byte of the sparse form.
pub const SPARSE: u8 = 1;
/// Redis's hash seed.
const SEED: u32 = 0xadc8_3b19;
/// Largest register value the sparse form holds.
const VAL_MAX_VALUE: u8 = 32;
/// Longest run of a VAL opcode.
const VAL_MAX_LEN: usize = 4;
/// Longest run of a ZERO opcode.
const ZERO_MAX_LEN: i64 = 64;
/// Longest run of an XZERO opcode.
const XZERO_MAX_LEN: usize = 16384;
/// 0.5 / ln 2.
const ALPHA_INF: f64 = 0.721_347_520_444_481_7;

/// Byte 4: the encoding; byte 15's top bit: the cached cardinality is stale.
const ENCODING_AT: usize = 4;
const CACHE_FLAG_AT: usize = 15;

#[inline]
fn is_zero(b: u8) -> bool {
    b & 0xc0 == 0
}

#[inline]
fn is_xzero(b: u8) -> bool {
    b & 0xc0 == 0x40
}

#[inline]
fn is_val(b: u8) -> bool {
    b & 0x80 != 0
}

#[inline]
fn zero_len(b: u8) -> usize {
    usize::from(b & 0x3f) + 1
}

#[inline]
fn xzero_len(b0: u8, b1: u8) -> usize {
    ((usize::from(b0 & 0x3f) << 8) | usize::from(b1)) + 1
}

#[inline]
fn val_value(b: u8) -> u8 {
    ((b >> 2) & 0x1f) + 1
}

#[inline]
fn val_len(b: u8) -> usize {
    usize::from(b & 3) + 1
}

/// A VAL opcode (value 1..=32, run 1..=4).
#[inline]
fn val_op(value: u8, len: usize) -> u8 {
    ((usize::from(value - 1) << 2) | (len - 1)) as u8 | 0x80
}

/// The byte at `i`, or `past_end` past the end (Redis's string terminator).
#[inline]
fn byte_at(s: &[u8], i: usize, past_end: u8) -> u8 {
    s.get(i).copied().unwrap_or(past_end)
}

/// MurmurHash2, 64-bit version, as Redis has it (little-endian words on every machine).
pub fn murmur64a(key: &[u8], seed: u32) -> u64 {
    const M: u64 = 0xc6a4_a793_5bd1_e995;
    const R: u32 = 47;
    let mut h = u64::from(seed) ^ (key.len() as u64).wrapping_mul(M);
    let chunks = key.chunks_exact(8);
    let tail = chunks.remainder();
    for c in chunks {
        let mut k = u64::from_le_bytes(c.try_into().expect("8 bytes"));
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h ^= k;
        h = h.wrapping_mul(M);
    }
    if !tail.is_empty() {
        for (i, &b) in tail.iter().enumerate() {
            h ^= u64::from(b) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> R;
    h = h.wrapping_mul(M);
    h ^= h >> R;
    h
}

/// The register an element goes to and the length of its `000..1` pattern (1..=51),
/// Redis's hllPatLen.
#[inline]
pub fn pattern(element: &[u8]) -> (usize, u8) {
    let hash = murmur64a(element, SEED);
    let index = (hash & (REGISTERS as u64 - 1)) as usize;
    let rest = (hash >> P) | (1u64 << Q);
    (index, rest.trailing_zeros() as u8 + 1)
}

// ---------------------------------------------------------------------------------------
// Dense registers.

/// Register `i` of the dense register bytes `regs` (12288 of them).
#[inline]
pub fn dense_get(regs: &[u8], i: usize) -> u8 {
    let byte = i * 6 / 8;
    let fb = (i * 6) & 7;
    let b0 = u32::from(regs[byte]);
    // A register starting in the first three bits of a byte ends in it; Redis reads the
    // next byte anyway and masks it away.
    let b1 = if fb > 2 { u32::from(regs[byte + 1]) } else { 0 };
    (((b0 >> fb) | (b1 << (8 - fb))) & 63) as u8
}

/// Sets register `i` of `regs` to `v` (0..=63).
#[inline]
pub fn dense_put(regs: &mut [u8], i: usize, v: u8) {
    let byte = i * 6 / 8;
    let fb = (i * 6) & 7;
    let v = u32::from(v);
    regs[byte] = ((u32::from(regs[byte]) & !(63 << fb)) | (v << fb)) as u8;
    if fb > 2 {
        let fb8 = 8 - fb;
        regs[byte + 1] = ((u32::from(regs[byte + 1]) & !(63 >> fb8)) | (v >> fb8)) as u8;
    }
}

/// Raises register `i` to `count` if it is lower; true if it changed (hllDenseSet).
#[inline]
pub fn dense_set(regs: &mut [u8], i: usize, count: u8) -> bool {
    if count > dense_get(regs, i) {
        dense_put(regs, i, count);
        true
    } else {
        false
    }
}

/// The register histogram of dense registers. Four partial histograms, one per register
/// of each 3-byte group, so that neighbouring registers of equal value do not wait on each
/// other's increment.
fn dense_histogram(regs: &[u8], h: &mut [u64; 64]) {
    let mut parts = [[0u32; 64]; 4];
    for c in regs.chunks_exact(3) {
        let (b0, b1, b2) = (usize::from(c[0]), usize::from(c[1]), usize::from(c[2]));
        parts[0][b0 & 63] += 1;
        parts[1][((b0 >> 6) | (b1 << 2)) & 63] += 1;
        parts[2][((b1 >> 4) | (b2 << 4)) & 63] += 1;
        parts[3][b2 >> 2] += 1;
    }
    for (j, slot) in h.iter_mut().enumerate() {
        *slot += u64::from(parts[0][j] + parts[1][j] + parts[2][j] + parts[3][j]);
    }
}

// ---------------------------------------------------------------------------------------
// The sparse form.

/// Walks the sparse opcodes of `hll` (header included), calling `f(first register, run,
/// value)` for each run of registers; true if they cover exactly the 16384 registers.
/// The walk stops at the first run that would pass the last register, whatever its opcode:
/// that is the reference redis-server (Debian's 7.0.15, which carries the fix for
/// CVE-2025-32023) in hllSparseToDense, hllMerge and hllSparseRegHisto, where 7.0.15's
/// source only checked VAL runs and let the index of zero runs wrap around.
#[inline]
fn walk_sparse(hll: &[u8], past_end: u8, mut f: impl FnMut(usize, usize, u8)) -> bool {
    let mut idx = 0usize;
    let mut p = HDR;
    while p < hll.len() {
        let b = hll[p];
        let (run, value, oplen) = if is_zero(b) {
            (zero_len(b), 0, 1)
        } else if is_xzero(b) {
            (xzero_len(b, byte_at(hll, p + 1, past_end)), 0, 2)
        } else {
            (val_len(b), val_value(b), 1)
        };
        if idx + run > REGISTERS {
            return false;
        }
        f(idx, run, value);
        idx += run;
        p += oplen;
    }
    idx == REGISTERS
}

/// The dense form of the sparse HyperLogLog `hll` (its header copied, the encoding
/// changed), or None if the sparse form does not cover exactly 16384 registers
/// (hllSparseToDense).
pub fn sparse_to_dense(hll: &[u8], past_end: u8) -> Option<Box<[u8]>> {
    let mut dense = vec![0u8; DENSE_SIZE].into_boxed_slice();
    dense[..HDR].copy_from_slice(&hll[..HDR]);
    dense[ENCODING_AT] = DENSE;
    let regs = &mut dense[HDR..];
    let valid = walk_sparse(hll, past_end, |first, run, value| {
        if value != 0 {
            for i in first..first + run {
                dense_put(regs, i, value);
            }
        }
    });
    valid.then_some(dense)
}

/// An empty HyperLogLog: the sparse form with one XZERO per 16384 registers
/// (createHLLObject): `HYLL`, sparse, a zero cache, XZERO:16384.
pub fn empty() -> ThinBuf {
    const _: () = assert!(REGISTERS == XZERO_MAX_LEN);
    const EMPTY: [u8; HDR + 2] = *b"HYLL\x01\0\0\0\0\0\0\0\0\0\0\0\x7f\xff";
    ThinBuf::from_slice(&EMPTY)
}

/// The bytes a sparse HyperLogLog is edited in.
pub trait Bytes {
    /// The bytes.
    fn bytes(&self) -> &[u8];
    /// The bytes, writable.
    fn bytes_mut(&mut self) -> &mut [u8];
    /// Replaces `remove` bytes at `at` by `with`.
    fn replace(&mut self, at: usize, remove: usize, with: &[u8]);
}

impl Bytes for ThinBuf {
    #[inline]
    fn bytes(&self) -> &[u8] {
        self.as_slice()
    }
    #[inline]
    fn bytes_mut(&mut self) -> &mut [u8] {
        self.as_mut_slice()
    }
    #[inline]
    fn replace(&mut self, at: usize, remove: usize, with: &[u8]) {
        self.splice(at, remove, with);
    }
}

impl Bytes for Vec<u8> {
    #[inline]
    fn bytes(&self) -> &[u8] {
        self
    }
    #[inline]
    fn bytes_mut(&mut self) -> &mut [u8] {
        self
    }
    #[inline]
    fn replace(&mut self, at: usize, remove: usize, with: &[u8]) {
        self.splice(at..at + remove, with.iter().copied());
    }
}

/// What a register update of the sparse form did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SparseSet {
    /// The register already held as much.
    Unchanged,
    /// The register was raised (and the cached cardinality marked stale).
    Updated,
    /// The value or the grown size does not fit the sparse form: convert to dense first.
    Promote,
    /// The sparse form is corrupted.
    Invalid,
}

/// Raises register `index` of a sparse HyperLogLog to `count` (hllSparseSet): finds the
/// opcode covering it, splits it (at most XZERO-VAL-XZERO), then merges equal neighbouring
/// VALs. `past_end` is the byte after the string (see the module docs), `max_bytes`
/// `hll-sparse-max-bytes`.
pub fn sparse_set<B: Bytes + ?Sized>(
    buf: &mut B,
    past_end: &mut u8,
    index: usize,
    count: u8,
    max_bytes: u64,
) -> SparseSet {
    if count > VAL_MAX_VALUE {
        return SparseSet::Promote;
    }
    let s = buf.bytes();
    let end = s.len();
    let index = index as i64;
    // Step 1: the opcode covering the register.
    let mut p = HDR;
    let mut first: i64 = 0;
    let mut prev: Option<usize> = None;
    let mut span: i64 = 0;
    while p < end {
        let b = s[p];
        let mut oplen = 1;
        if is_zero(b) {
            span = zero_len(b) as i64;
        } else if is_val(b) {
            span = val_len(b) as i64;
        } else {
            span = xzero_len(b, byte_at(s, p + 1, *past_end)) as i64;
            oplen = 2;
        }
        if index < first + span {
            break;
        }
        prev = Some(p);
        p += oplen;
        first += span;
    }
    if span == 0 || p >= end {
        return SparseSet::Invalid;
    }
    let op = s[p];
    let oldlen = if is_xzero(op) { 2 } else { 1 };
    let has_next = p + oldlen < end;
    // Step 2: the trivial cases.
    if is_val(op) {
        if val_value(op) >= count {
            return SparseSet::Unchanged;
        }
        if val_len(op) == 1 {
            buf.bytes_mut()[p] = val_op(count, 1);
            return merge_runs(buf, past_end, prev);
        }
    }
    if is_zero(op) && zero_len(op) == 1 {
        buf.bytes_mut()[p] = val_op(count, 1);
        return merge_runs(buf, past_end, prev);
    }
    // The general case: split the opcode.
    fn zeros(seq: &mut [u8; 5], n: &mut usize, len: i64) {
        let l = (len - 1) as usize;
        if len > ZERO_MAX_LEN {
            // XZERO (a corrupted run may pass 16384: Redis's macro keeps the low bits).
            seq[*n] = (l >> 8) as u8 | 0x40;
            seq[*n + 1] = l as u8;
            *n += 2;
        } else {
            seq[*n] = l as u8;
            *n += 1;
        }
    }
    let mut seq = [0u8; 5];
    let mut n = 0;
    let last = first + span - 1;
    if is_val(op) {
        let cur = val_value(op);
        if index != first {
            seq[n] = val_op(cur, (index - first) as usize);
            n += 1;
        }
        seq[n] = val_op(count, 1);
        n += 1;
        if index != last {
            seq[n] = val_op(cur, (last - index) as usize);
            n += 1;
        }
    } else {
        if index != first {
            zeros(&mut seq, &mut n, index - first);
        }
        seq[n] = val_op(count, 1);
        n += 1;
        if index != last {
            zeros(&mut seq, &mut n, last - index);
        }
    }
    // Step 3: put the new sequence in place of the opcode. Redis resets its terminator
    // (sdsIncrLen) before copying the sequence in.
    let delta = n as i64 - oldlen as i64;
    if delta > 0 && end as u64 + delta as u64 > max_bytes {
        return SparseSet::Promote;
    }
    *past_end = 0;
    if has_next {
        buf.replace(p, oldlen, &seq[..n]);
    } else {
        // The last opcode, maybe an XZERO cut short by the string's end: the length changes
        // by `delta`, and a sequence reaching past the new end leaves its last byte where
        // Redis has its terminator.
        let new_end = (end as i64 + delta) as usize;
        let kept = new_end - p;
        buf.replace(p, end - p, &seq[..kept]);
        if kept < n {
            *past_end = seq[kept];
        }
    }
    merge_runs(buf, past_end, prev)
}

/// Step 4 of hllSparseSet: merges adjacent VALs of equal value, scanning at most five
/// opcodes from `prev`, then marks the cached cardinality stale.
fn merge_runs<B: Bytes + ?Sized>(buf: &mut B, past_end: &mut u8, prev: Option<usize>) -> SparseSet {
    let mut p = prev.unwrap_or(HDR);
    let mut scan = 5;
    while p < buf.bytes().len() && scan > 0 {
        scan -= 1;
        let s = buf.bytes();
        let b = s[p];
        if is_xzero(b) {
            p += 2;
            continue;
        }
        if is_zero(b) {
            p += 1;
            continue;
        }
        if let Some(&next) = s.get(p + 1)
            && is_val(next)
            && val_value(b) == val_value(next)
        {
            let len = val_len(b) + val_len(next);
            if len <= VAL_MAX_LEN {
                buf.bytes_mut()[p + 1] = val_op(val_value(b), len);
                buf.replace(p, 1, &[]);
                *past_end = 0;
                continue;
            }
        }
        p += 1;
    }
    invalidate_cache(buf.bytes_mut());
    SparseSet::Updated
}

// ---------------------------------------------------------------------------------------
// Whole HyperLogLogs.

/// Whether `s` holds a HyperLogLog (Redis's isHLLObjectOrReply, past the type check): not
/// an integer, at least a header, `HYLL`, a known encoding, and a dense one of exactly the
/// dense size.
pub fn is_hll(s: &Str) -> bool {
    let Some(b) = s.raw_bytes() else {
        return false;
    };
    b.len() >= HDR
        && b[..4] == *b"HYLL"
        && b[ENCODING_AT] <= SPARSE
        && (b[ENCODING_AT] != DENSE || b.len() == DENSE_SIZE)
}

/// True for the dense encoding (of a string [`is_hll`] accepted).
#[inline]
pub fn is_dense(hll: &[u8]) -> bool {
    hll[ENCODING_AT] == DENSE
}

/// The cached cardinality, if it is not stale.
#[inline]
pub fn cached(hll: &[u8]) -> Option<u64> {
    (hll[CACHE_FLAG_AT] & 0x80 == 0)
        .then(|| u64::from_le_bytes(hll[8..16].try_into().expect("8 bytes")))
}

/// Stores the cardinality in the header (valid, since PFCOUNT's results never set the top
/// bit except when it overflowed, as in Redis).
#[inline]
pub fn set_cache(hll: &mut [u8], card: u64) {
    hll[8..16].copy_from_slice(&card.to_le_bytes());
}

/// Marks the cached cardinality stale.
#[inline]
pub fn invalidate_cache(hll: &mut [u8]) {
    hll[CACHE_FLAG_AT] |= 0x80;
}

/// A HyperLogLog's bytes and the byte past their end (0 but for [`Str::Packed`]).
#[inline]
fn view(s: &Str) -> (&[u8], u8) {
    match s {
        Str::Packed(b, past_end) => (b.as_slice(), *past_end),
        other => (other.raw_bytes().unwrap_or_default(), 0),
    }
}

/// Makes a HyperLogLog string editable, as Redis's dbUnshareStringValue makes it `raw`: a
/// sparse one becomes [`Str::Packed`] (or a growable buffer if too long for one); a dense
/// one is already in a raw form of its exact size.
pub fn unshare(s: &mut Str) {
    if matches!(s, Str::Packed(..)) {
        return;
    }
    let sparse = s.raw_bytes().is_some_and(|b| !is_dense(b));
    if sparse && s.packed().is_none() {
        s.make_raw();
    }
}

/// The corrupted sparse form was detected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Corrupt;

/// Converts a HyperLogLog to the dense form if it is sparse; true if it was
/// (hllSparseToDense). The string is left as it was if the sparse form is corrupted.
pub fn to_dense(s: &mut Str) -> Result<bool, Corrupt> {
    let (b, past_end) = view(s);
    if b.len() < HDR {
        return Err(Corrupt);
    }
    if is_dense(b) {
        return Ok(false);
    }
    let dense = sparse_to_dense(b, past_end).ok_or(Corrupt)?;
    *s = Str::from_boxed(dense);
    Ok(true)
}

/// Raises register `index` of the HyperLogLog `s` to `count`, in its encoding, promoting a
/// sparse one to dense when needed (hllSparseSet / hllDenseSet). True if the register
/// changed.
pub fn set(s: &mut Str, index: usize, count: u8, max_bytes: u64) -> Result<bool, Corrupt> {
    let outcome = match s {
        Str::Packed(b, past_end) if !is_dense(b.as_slice()) => {
            sparse_set(b, past_end, index, count, max_bytes)
        }
        // Past ThinBuf's size (gigabytes): Redis's terminator is not tracked there.
        Str::Growable(v) if !is_dense(v) => sparse_set(&mut **v, &mut 0, index, count, max_bytes),
        _ => {
            let b = s.raw_bytes_mut().ok_or(Corrupt)?;
            if is_dense(b) {
                return Ok(dense_set(&mut b[HDR..], index, count));
            }
            // A sparse one not yet in an editable form.
            unshare(s);
            return set(s, index, count, max_bytes);
        }
    };
    match outcome {
        SparseSet::Unchanged => Ok(false),
        SparseSet::Updated => Ok(true),
        SparseSet::Invalid => Err(Corrupt),
        SparseSet::Promote => {
            to_dense(s)?;
            let b = s.raw_bytes_mut().ok_or(Corrupt)?;
            Ok(dense_set(&mut b[HDR..], index, count))
        }
    }
}

/// Adds `elements` to the HyperLogLog `s` (PFADD's loop over hllAdd): the number of
/// elements that raised a register, or Corrupt at the first element that met a corrupted
/// sparse form (the registers raised before stay raised, as in Redis).
pub fn add<'e>(
    s: &mut Str,
    elements: impl Iterator<Item = &'e [u8]>,
    max_bytes: u64,
) -> Result<usize, Corrupt> {
    let mut updated = 0;
    for e in elements {
        let (index, count) = pattern(e);
        if set(s, index, count, max_bytes)? {
            updated += 1;
        }
    }
    Ok(updated)
}

/// The register histogram of a HyperLogLog's bytes, None if its sparse form does not cover
/// exactly 16384 registers.
fn histogram(hll: &[u8], past_end: u8) -> Option<[u64; 64]> {
    let mut h = [0u64; 64];
    if is_dense(hll) {
        dense_histogram(&hll[HDR..DENSE_SIZE], &mut h);
        return Some(h);
    }
    let valid = walk_sparse(hll, past_end, |_, run, value| {
        h[usize::from(value)] += run as u64;
    });
    valid.then_some(h)
}

/// The cardinality of a HyperLogLog (hllCount), None for a corrupted sparse form.
pub fn count(s: &Str) -> Option<u64> {
    let (b, past_end) = view(s);
    count_bytes(b, past_end)
}

fn count_bytes(hll: &[u8], past_end: u8) -> Option<u64> {
    histogram(hll, past_end).map(|h| estimate(&h))
}

/// Ertl's estimator over the register histogram (the second half of hllCount), with
/// Redis's operations in Redis's order.
pub fn estimate(h: &[u64; 64]) -> u64 {
    let m = REGISTERS as f64;
    let mut z = m * tau((m - h[Q + 1] as f64) / m);
    for j in (1..=Q).rev() {
        z += h[j] as f64;
        z *= 0.5;
    }
    z += m * sigma(h[0] as f64 / m);
    let e = llround(ALPHA_INF * m * m / z) as f64;
    // C's conversion of the double back to uint64_t, as gcc compiles it on x86-64: the
    // only negative value llroundl gives here is its overflow value, i64::MIN.
    if e < 0.0 { e as i64 as u64 } else { e as u64 }
}

/// glibc's llroundl on a double: half away from zero; out of range (or infinite), the x87
/// conversion's "integer indefinite", i64::MIN.
fn llround(v: f64) -> i64 {
    // 2^63: the doubles in [-2^63, 2^63) convert exactly.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    let r = v.round();
    if (-LIMIT..LIMIT).contains(&r) {
        r as i64
    } else {
        i64::MIN
    }
}

/// Ertl's sigma function (hllSigma).
fn sigma(mut x: f64) -> f64 {
    if x == 1.0 {
        return f64::INFINITY;
    }
    let mut y = 1.0;
    let mut z = x;
    loop {
        x *= x;
        let before = z;
        z += x * y;
        y += y;
        if before == z {
            return z;
        }
    }
}

/// Ertl's tau function (hllTau; gcc compiles its `pow(1 - x, 2)` to a multiplication).
fn tau(mut x: f64) -> f64 {
    if x == 0.0 || x == 1.0 {
        return 0.0;
    }
    let mut y = 1.0;
    let mut z = 1.0 - x;
    loop {
        x = x.sqrt();
        let before = z;
        y *= 0.5;
        let d = 1.0 - x;
        z -= d * d * y;
        if before == z {
            return z / 3.0;
        }
    }
}

/// Raises `max[i]` to register `i` of the HyperLogLog `s` for every register (hllMerge);
/// false for a corrupted sparse form (`max` may then be partly merged, as in Redis).
pub fn merge(max: &mut [u8; REGISTERS], s: &Str) -> bool {
    let (hll, past_end) = view(s);
    if is_dense(hll) {
        let regs = &hll[HDR..DENSE_SIZE];
        for (c, m) in regs.chunks_exact(3).zip(max.chunks_exact_mut(4)) {
            let (b0, b1, b2) = (c[0], c[1], c[2]);
            let r = [
                b0 & 63,
                ((b0 >> 6) | (b1 << 2)) & 63,
                ((b1 >> 4) | (b2 << 4)) & 63,
                b2 >> 2,
            ];
            for (m, r) in m.iter_mut().zip(r) {
                *m = (*m).max(r);
            }
        }
        return true;
    }
    walk_sparse(hll, past_end, |first, run, value| {
        if value != 0 {
            for m in &mut max[first..first + run] {
                *m = (*m).max(value);
            }
        }
    })
}

/// The cardinality of registers held one per byte (PFCOUNT of several keys: hllCount on
/// Redis's internal HLL_RAW encoding).
pub fn count_raw(max: &[u8; REGISTERS]) -> u64 {
    let mut h = [0u64; 64];
    for &r in max {
        h[usize::from(r & 63)] += 1;
    }
    estimate(&h)
}

/// PFDEBUG DECODE's text for a sparse HyperLogLog: `z:LEN`, `Z:LEN`, `v:VALUE,LEN`.
pub fn decode(s: &Str) -> Vec<u8> {
    use std::io::Write;
    let (hll, past_end) = view(s);
    let mut out = Vec::new();
    let mut p = HDR;
    while p < hll.len() {
        let b = hll[p];
        let _ = if is_zero(b) {
            p += 1;
            write!(out, "z:{} ", zero_len(b))
        } else if is_xzero(b) {
            p += 2;
            write!(out, "Z:{} ", xzero_len(b, byte_at(hll, p - 1, past_end)))
        } else {
            p += 1;
            write!(out, "v:{},{} ", val_value(b), val_len(b))
        };
    }
    out.pop();
    out
}

/// PFSELFTEST (pfselftestCommand): register access over many random values, then the
/// estimate's error at 1, 10, ... 10^7 elements added both to a dense and to a sparse
/// HyperLogLog, which must agree. `rand` gives Redis's `rand()` values (31 bits);
/// `max_bytes` is `hll-sparse-max-bytes`. The error text on failure.
pub fn self_test(mut rand: impl FnMut() -> u32, max_bytes: u64) -> Result<(), String> {
    const CYCLES: usize = 1000;
    let mut dense = vec![0u8; DENSE_SIZE];
    dense[..4].copy_from_slice(b"HYLL");
    let mut bytes = [0u8; REGISTERS];
    for _ in 0..CYCLES {
        let regs = &mut dense[HDR..];
        for (i, b) in bytes.iter_mut().enumerate() {
            let r = (rand() & 63) as u8;
            *b = r;
            dense_put(regs, i, r);
        }
        for (i, &b) in bytes.iter().enumerate() {
            let v = dense_get(regs, i);
            if v != b {
                return Err(format!("TESTFAILED Register {i} should be {b} but is {v}"));
            }
        }
    }
    dense[HDR..].fill(0);
    let mut sparse = Str::Packed(empty(), 0);
    let relerr = 1.04 / (REGISTERS as f64).sqrt();
    let mut checkpoint: u64 = 1;
    let seed = u64::from(rand()) | (u64::from(rand()) << 32);
    for j in 1..=10_000_000u64 {
        let ele = (j ^ seed).to_le_bytes();
        let (index, run) = pattern(&ele);
        dense_set(&mut dense[HDR..], index, run);
        let _ = set(&mut sparse, index, run, max_bytes);
        if j != checkpoint {
            continue;
        }
        if j < max_bytes / 2 && is_dense(sparse.raw_bytes().unwrap_or_default()) {
            return Err("TESTFAILED sparse encoding not used".into());
        }
        let card = count_bytes(&dense, 0).unwrap_or(0);
        if count(&sparse) != Some(card) {
            return Err("TESTFAILED dense/sparse disagree".into());
        }
        let abserr = (checkpoint as i64 - card as i64).unsigned_abs();
        let mut maxerr = (relerr * 6.0 * checkpoint as f64).ceil() as u64;
        if j == 10 {
            maxerr = 1;
        }
        if abserr > maxerr {
            return Err(format!(
                "TESTFAILED Too big error. card:{checkpoint} abserr:{abserr}"
            ));
        }
        checkpoint *= 10;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur_matches_redis() {
        // Values from Redis's MurmurHash64A compiled from its C source, with this seed.
        for (key, hash) in [
            (&b""[..], 0xd8df_ea65_85bc_9732u64),
            (b"a", 0x53d2_470a_9b43_b1a7),
            (b"hello", 0x0f65_6f01_eecf_e400),
            (b"12345678", 0x95eb_b863_8913_2953),
            (b"123456789abcdefghij", 0x5094_a046_b139_0f49),
        ] {
            assert_eq!(murmur64a(key, SEED), hash, "{key:?}");
        }
        let (i, c) = pattern(b"a");
        assert_eq!(i, (0x53d2_470a_9b43_b1a7u64 & 0x3fff) as usize);
        assert!((1..=51).contains(&c));
    }

    #[test]
    fn dense_registers_round_trip() {
        let mut regs = vec![0u8; DENSE_SIZE - HDR];
        for i in 0..REGISTERS {
            dense_put(&mut regs, i, (i % 64) as u8);
        }
        for i in 0..REGISTERS {
            assert_eq!(dense_get(&regs, i), (i % 64) as u8, "register {i}");
        }
        let mut h = [0u64; 64];
        dense_histogram(&regs, &mut h);
        assert!(h.iter().all(|&n| n == (REGISTERS / 64) as u64));
    }

    #[test]
    fn empty_is_two_xzeros_and_counts_zero() {
        let e = Str::Packed(empty(), 0);
        let b = e.raw_bytes().unwrap();
        assert_eq!(b.len(), HDR + 2);
        assert_eq!(&b[HDR..], &[0x7f, 0xff]);
        assert_eq!(count(&e), Some(0));
        assert_eq!(decode(&e), b"Z:16384");
    }

    #[test]
    fn sparse_and_dense_agree() {
        let mut sparse = Str::Packed(empty(), 0);
        let mut dense = Str::from_boxed(sparse_to_dense(empty().as_slice(), 0).unwrap());
        for n in 0..5000u32 {
            let e = n.to_string();
            add(&mut sparse, std::iter::once(e.as_bytes()), 3000).unwrap();
            add(&mut dense, std::iter::once(e.as_bytes()), 3000).unwrap();
            if n % 97 == 0 {
                assert_eq!(count(&sparse), count(&dense));
                let s = sparse.raw_bytes().unwrap();
                let d = dense.raw_bytes().unwrap();
                if !is_dense(s) {
                    assert_eq!(&sparse_to_dense(s, 0).unwrap()[HDR..], &d[HDR..]);
                }
            }
        }
        assert!(is_dense(sparse.raw_bytes().unwrap()));
    }

    #[test]
    fn estimator_overflow_is_llround_min() {
        // Every register at 51 or more: z is 0, the estimate infinite.
        let mut h = [0u64; 64];
        h[51] = REGISTERS as u64;
        assert_eq!(estimate(&h), 1 << 63);
        let mut h = [0u64; 64];
        h[0] = REGISTERS as u64;
        assert_eq!(estimate(&h), 0);
    }

    #[test]
    fn self_test_passes() {
        let mut state = 0x1234_5678u64;
        let rand = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 33) as u32
        };
        assert_eq!(self_test(rand, 3000), Ok(()));
    }
}
