#!/usr/bin/env python3
"""eviction-bounds.py: the best hit ratios any LFU policy can reach on the workload of
../shared/bench/eviction.py, for caches of a given number of keys.

eviction.py's headline asks for a hit ratio 1.05x Redis's at 16 MB. This computes, on the
very same key stream (same seed, Zipf s=0.99 over 2M keys, 2M GETs, a miss inserts the
key), what the idealised policies score with C keys in the cache:

  lfu        exact LFU over the keys in the cache (counts start again at 1 when a key
             comes back; ties go to the least recently used)
  lfu+hist   exact LFU that remembers every key's count for ever, evicted or not (what a
             perfect frequency sketch would know)
  oracle     an offline bound: the C keys with the most accesses over the whole stream,
             cached from the start, each paying one miss. Keys are drawn independently
             from a fixed distribution, for which keeping the C most likely keys is, in
             expectation, the best any online policy holding C keys can do, whatever its
             tie-breaks or admission rule (Redis's LFU, with new keys at counter 5, beats
             exact LFU here). The oracle knows this sample's own counts: its figure is
             that bound for this stream, up to the luck of a key outside the top C
  lru        exact LRU

Usage: python3 loadtest/eviction-bounds.py C [C ...]   (e.g. 78500 83600: the keys
rust-keyval and redis-server hold at 16 MB with eviction.py's 100-byte values)
Prints one line per C. Takes about 20 s per C.
"""

import bisect
import collections
import heapq
import itertools
import random
import sys
from array import array

# eviction.py's workload, regenerated from its parameters (kept equal by hand; the first
# line printed is a checksum of the stream to compare).
SEED = 20261129
N_KEYS = 2_000_000
N_OPS = 2_000_000
ZIPF_S = 0.99


def stream():
    cw = list(itertools.accumulate(k ** -ZIPF_S for k in range(1, N_KEYS + 1)))
    total = cw[-1]
    rnd = random.Random(SEED).random
    return array("l", ((bisect.bisect(cw, rnd() * total) * 2654435761) % N_KEYS
                       for _ in range(N_OPS)))


def lfu(ids, cap, history):
    counts = collections.Counter() if history else None
    cached = {}  # key -> (count, last access), the heap's current entry for it
    heap = []
    hits = 0
    for t, k in enumerate(ids):
        if k in cached:
            hits += 1
            c = cached[k][0] + 1
        else:
            c = counts[k] + 1 if history else 1
            if len(cached) >= cap:
                while True:  # pop stale heap entries until a current one
                    c0, t0, v = heapq.heappop(heap)
                    if cached.get(v) == (c0, t0):
                        del cached[v]
                        break
        if history:
            counts[k] = c
        cached[k] = (c, t)
        heapq.heappush(heap, (c, t, k))
    return hits / len(ids)


def lru(ids, cap):
    od = collections.OrderedDict()
    hits = 0
    for k in ids:
        if k in od:
            hits += 1
            od.move_to_end(k)
        else:
            od[k] = None
            if len(od) > cap:
                od.popitem(last=False)
    return hits / len(ids)


def oracle(ids, cap):
    top = sorted(collections.Counter(ids).values(), reverse=True)[:cap]
    return sum(n - 1 for n in top) / len(ids)


def main():
    caps = [int(a) for a in sys.argv[1:]]
    if not caps:
        print(__doc__)
        sys.exit(2)
    ids = stream()
    print("stream: %d ops, %d distinct keys, checksum %d" % (
        len(ids), len(set(ids)), sum(ids) % 1_000_003))
    for cap in caps:
        print("C=%d lfu=%.4f lfu+hist=%.4f oracle=%.4f lru=%.4f" % (
            cap, lfu(ids, cap, False), lfu(ids, cap, True), oracle(ids, cap),
            lru(ids, cap)), flush=True)


if __name__ == "__main__":
    main()
