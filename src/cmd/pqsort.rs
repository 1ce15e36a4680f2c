//! Redis's pqsort.c: the partial quicksort SORT ... LIMIT and GEO ... COUNT use. Their
//! replies order equal elements as this algorithm leaves them, so it is reproduced
//! operation for operation rather than replaced by a library sort.

use std::cmp::Ordering;

/// Redis's pqsort.c: Bentley and McIlroy's quicksort that skips the partitions lying
/// wholly outside elements `start..=end`. Reproduced operation for operation, so that
/// elements comparing equal end up where Redis puts them. Positions are compared as
/// pqsort compares its byte pointers (an element spans `ES` bytes).
pub fn pqsort<T: Copy>(
    v: &mut [T],
    start: i64,
    end: i64,
    cmp: &mut impl FnMut(&T, &T) -> Ordering,
) {
    const ES: i64 = 16;
    let lrange = start * ES;
    let rrange = (end + 1) * ES - 1;
    let outside = |lo: usize, n: usize| {
        let (l, r) = (lo as i64 * ES, (lo + n) as i64 * ES - 1);
        (lrange < l && rrange < l) || (lrange > r && rrange > r)
    };
    pq(v, 0, v.len(), cmp, &outside);
}

fn pq<T: Copy>(
    v: &mut [T],
    mut a: usize,
    mut n: usize,
    cmp: &mut impl FnMut(&T, &T) -> Ordering,
    outside: &impl Fn(usize, usize) -> bool,
) {
    loop {
        if n < 7 {
            for pm in a + 1..a + n {
                let mut pl = pm;
                while pl > a && cmp(&v[pl - 1], &v[pl]) == Ordering::Greater {
                    v.swap(pl, pl - 1);
                    pl -= 1;
                }
            }
            return;
        }
        let med3 =
            |v: &[T], cmp: &mut dyn FnMut(&T, &T) -> Ordering, x: usize, y: usize, z: usize| {
                if cmp(&v[x], &v[y]) == Ordering::Less {
                    if cmp(&v[y], &v[z]) == Ordering::Less {
                        y
                    } else if cmp(&v[x], &v[z]) == Ordering::Less {
                        z
                    } else {
                        x
                    }
                } else if cmp(&v[y], &v[z]) == Ordering::Greater {
                    y
                } else if cmp(&v[x], &v[z]) == Ordering::Less {
                    x
                } else {
                    z
                }
            };
        let mut pm = a + n / 2;
        if n > 7 {
            let mut pl = a;
            let mut pn = a + n - 1;
            if n > 40 {
                let d = n / 8;
                pl = med3(v, cmp, pl, pl + d, pl + 2 * d);
                pm = med3(v, cmp, pm - d, pm, pm + d);
                pn = med3(v, cmp, pn - 2 * d, pn - d, pn);
            }
            pm = med3(v, cmp, pl, pm, pn);
        }
        v.swap(a, pm);
        let (mut pa, mut pb) = (a + 1, a + 1);
        let (mut pc, mut pd) = (a + n - 1, a + n - 1);
        loop {
            while pb <= pc {
                let r = cmp(&v[pb], &v[a]);
                if r == Ordering::Greater {
                    break;
                }
                if r == Ordering::Equal {
                    v.swap(pa, pb);
                    pa += 1;
                }
                pb += 1;
            }
            while pb <= pc {
                let r = cmp(&v[pc], &v[a]);
                if r == Ordering::Less {
                    break;
                }
                if r == Ordering::Equal {
                    v.swap(pc, pd);
                    pd -= 1;
                }
                pc -= 1;
            }
            if pb > pc {
                break;
            }
            v.swap(pb, pc);
            pb += 1;
            pc -= 1;
        }
        let pn = a + n;
        let r = (pa - a).min(pb - pa);
        vecswap(v, a, pb - r, r);
        let r = (pd - pc).min(pn - pd - 1);
        vecswap(v, pb, pn - r, r);
        let r = pb - pa;
        if r > 1 && !outside(a, r) {
            pq(v, a, r, cmp, outside);
        }
        let r = pd - pc;
        if r > 1 {
            a = pn - r;
            n = r;
            if !outside(a, n) {
                continue;
            }
        }
        return;
    }
}

/// Swaps the `n` elements from `i` with the `n` from `j` (non-overlapping).
fn vecswap<T: Copy>(v: &mut [T], i: usize, j: usize, n: usize) {
    for k in 0..n {
        v.swap(i + k, j + k);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pqsort_sorts_the_range() {
        let mut seed = 7u64;
        for n in [0usize, 1, 5, 7, 8, 40, 41, 100, 1000] {
            for _ in 0..20 {
                let v: Vec<u32> = (0..n)
                    .map(|_| {
                        seed ^= seed << 13;
                        seed ^= seed >> 7;
                        seed ^= seed << 17;
                        (seed % 50) as u32
                    })
                    .collect();
                let mut want = v.clone();
                want.sort();
                if n == 0 {
                    continue;
                }
                let s = (seed % n as u64) as i64;
                let e = (s + (seed >> 20) as i64 % 10).min(n as i64 - 1);
                let mut got = v.clone();
                pqsort(&mut got, s, e, &mut |a: &u32, b: &u32| a.cmp(b));
                assert_eq!(
                    &got[s as usize..=e as usize],
                    &want[s as usize..=e as usize]
                );
            }
        }
    }
}
