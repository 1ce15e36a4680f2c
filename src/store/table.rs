//! Hash-table helpers shared by the keyspace and the hash and set types: one process-wide
//! ahash seed, Redis's SCAN cursor over `hashbrown::HashTable`, and random picks.

use std::sync::OnceLock;

use ahash::RandomState;
use hashbrown::HashTable;

/// The hasher of every hash and set value. One random seed per process: collections then
/// need not carry their own 32-byte hasher state.
pub fn hasher() -> &'static RandomState {
    static STATE: OnceLock<RandomState> = OnceLock::new();
    STATE.get_or_init(RandomState::new)
}

/// Hash of a byte string with the shared hasher.
#[inline]
pub fn hash_bytes(b: &[u8]) -> u64 {
    hasher().hash_one(b)
}

/// One SCAN step over `table` from `cursor`, calling `f` for the items of each visited home
/// bucket until about `count` were seen. Returns the next cursor (0 when done).
///
/// This is Redis's reverse-binary cursor over home buckets (`hash & mask`), which guarantees
/// that an item present for the whole scan is returned at least once even if the table grows
/// or shrinks in between. hashbrown probes from the home bucket and filters by a 7-bit tag
/// (the hash's top bits), so asking `iter_hash` for every tag with the home bucket's low bits
/// finds exactly the items whose home is that bucket.
pub fn scan<T>(
    table: &HashTable<T>,
    hash_of: impl Fn(&T) -> u64,
    cursor: u64,
    count: usize,
    mut f: impl FnMut(&T),
) -> u64 {
    if table.is_empty() {
        return 0;
    }
    let mask = (table.num_buckets() - 1) as u64;
    let mut v = cursor;
    let mut found = 0;
    let mut buckets_left = count.saturating_mul(10).max(1);
    loop {
        let home = v & mask;
        for tag in 0..128u64 {
            for item in table.iter_hash((tag << 57) | home) {
                if hash_of(item) & mask == home {
                    f(item);
                    found += 1;
                }
            }
        }
        // Increment the reversed cursor over the bits of the mask.
        v |= !mask;
        v = v.reverse_bits().wrapping_add(1).reverse_bits();
        buckets_left -= 1;
        if v == 0 || found >= count || buckets_left == 0 {
            return v;
        }
    }
}

/// A number in `0..n` from the high bits of `rand` (Lemire's multiply-shift: exact for a
/// power of two `n`, and off uniform by at most `n / 2^64` otherwise).
#[inline]
pub fn below(rand: u64, n: usize) -> usize {
    ((u128::from(rand) * n as u128) >> 64) as usize
}

/// One step of splitmix64: a well-mixed sequence from any seed, zero included.
#[inline]
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Most random buckets [`random_bucket`] probes before it counts its way to an item.
const MAX_TRIES: usize = 4096;

/// Index of a uniformly random occupied bucket (`rand` seeds the randomness), or None if
/// the table is empty.
///
/// Rejection sampling: probe random buckets until one is occupied. Each probe is equally
/// likely to land on any bucket, so an accepted bucket is any item with the same chance,
/// whatever the gaps between items. (Walking from a random bucket to the next occupied one
/// would favour items that follow long empty runs, several times over.) A probe costs one
/// control-byte read, and a table at least 7/16 full (hashbrown's load right after it
/// grows) needs about 2 on average. A table left sparse by deletions needs `buckets / len`;
/// the probes are capped at 4 times that (at most [`MAX_TRIES`]), after which the pick is
/// the k-th occupied bucket for a uniform k: a scan of the control bytes (16 per step),
/// exactly uniform too, and rare unless the table is very sparse. So a pick costs
/// O(buckets / len) probes, at most O(buckets / 16) steps of a scan.
pub fn random_bucket<T>(table: &HashTable<T>, rand: u64) -> Option<usize> {
    let len = table.len();
    if len == 0 {
        return None;
    }
    let n = table.num_buckets();
    let mut state = rand;
    let tries = n.div_ceil(len).saturating_mul(4).clamp(32, MAX_TRIES);
    for _ in 0..tries {
        let i = below(splitmix(&mut state), n);
        if table.get_bucket(i).is_some() {
            return Some(i);
        }
    }
    table.iter_buckets().nth(below(splitmix(&mut state), len))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table_of(n: u32) -> HashTable<u32> {
        let mut t = HashTable::new();
        for i in 0..n {
            t.insert_unique(hasher().hash_one(i), i, |x| hasher().hash_one(*x));
        }
        t
    }

    #[test]
    fn full_scan_sees_everything_once_without_resize() {
        let t = table_of(1000);
        let mut seen = vec![0u32; 1000];
        let mut cursor = 0;
        loop {
            cursor = scan(
                &t,
                |x| hasher().hash_one(*x),
                cursor,
                7,
                |&x| seen[x as usize] += 1,
            );
            if cursor == 0 {
                break;
            }
        }
        assert!(seen.iter().all(|&n| n == 1));
    }

    #[test]
    fn random_bucket_finds_items() {
        let t = table_of(3);
        let mut found = std::collections::HashSet::new();
        let mut r = 12345u64;
        for _ in 0..500 {
            r = r
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let i = random_bucket(&t, r >> 7).expect("non-empty");
            found.insert(*t.get_bucket(i).expect("occupied"));
        }
        assert_eq!(found.len(), 3);
        assert_eq!(random_bucket(&HashTable::<u32>::new(), 5), None);
    }

    /// Pearson's chi-square of `counts` against equal expected counts.
    fn chi_square(counts: &[u64]) -> f64 {
        let total: u64 = counts.iter().sum();
        let expected = total as f64 / counts.len() as f64;
        counts
            .iter()
            .map(|&c| (c as f64 - expected).powi(2) / expected)
            .sum()
    }

    /// Draws `draws` picks from `t` (whose items are `0..len`) and returns the counts.
    fn histogram(t: &HashTable<u32>, draws: usize, mut seed: u64) -> Vec<u64> {
        let mut counts = vec![0u64; t.len()];
        for _ in 0..draws {
            let i = random_bucket(t, crate::store::next_random(&mut seed)).expect("non-empty");
            counts[*t.get_bucket(i).expect("occupied") as usize] += 1;
        }
        counts
    }

    #[test]
    fn random_bucket_is_uniform_full_sparse_and_nearly_empty() {
        // 10 items, df = 9: P(chi-square > 40) = 7.6e-6 for a uniform pick, and the seed
        // is fixed, so this passes or fails the same every time. Walking from a random
        // bucket to the next occupied one scored 10,897 on the full table.
        let full = table_of(10);
        // Sparse: the same 10 items in 1024 buckets (rejection sampling, with some picks
        // through the fallback after 4 x 103 misses)...
        let mut sparse = HashTable::with_capacity(800);
        // ... and in 64 Ki buckets, where the probes (at most 4096) nearly always miss
        // and the k-th item is taken.
        let mut empty = HashTable::with_capacity(50_000);
        for i in 0..10u32 {
            for t in [&mut sparse, &mut empty] {
                t.insert_unique(hasher().hash_one(i), i, |x| hasher().hash_one(*x));
            }
        }
        assert_eq!(sparse.num_buckets(), 1024);
        assert_eq!(empty.num_buckets(), 65536);
        for (name, t) in [("full", &full), ("sparse", &sparse), ("empty", &empty)] {
            let counts = histogram(t, 20_000, 0x1234_5678_9abc_def1);
            let x2 = chi_square(&counts);
            assert!(x2 < 40.0, "{name}: chi-square {x2:.1}, counts {counts:?}");
        }
    }
}
