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

/// Index of a random occupied bucket (`rand` supplies randomness), or None if empty.
/// Picks a random bucket and walks forward to the next occupied one, as Redis's
/// `dictGetRandomKey` does within a bucket chain: close to uniform at hashbrown's loads.
pub fn random_bucket<T>(table: &HashTable<T>, rand: u64) -> Option<usize> {
    if table.is_empty() {
        return None;
    }
    let n = table.num_buckets();
    let start = (rand as usize) & (n - 1);
    (0..n)
        .map(|i| (start + i) & (n - 1))
        .find(|&i| table.get_bucket(i).is_some())
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
}
