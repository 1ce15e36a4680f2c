#!/usr/bin/env bash
# geo-vs-redis.sh: GEOADD and GEOSEARCH speed of rust-keyval against redis-server, side by
# side, in one run, with redis-benchmark (50 clients, pipeline 1).
#
# Usage (from the repository root): loadtest/geo-vs-redis.sh [BIN] [ROUNDS]
#   BIN     the rust-keyval binary (default target/release/rust-keyval; build it first)
#   ROUNDS  interleaved rounds (default 3); N=requests per run (default 100000);
#           P1, P2: the ports of redis-server and rust-keyval (default 17251, 17252)
#
# Scenarios (ratios keyval / redis):
#   geoadd      GEOADD of one random point (13.x 38.x, 12 random digits each) and member
#               m:<random of 100k> into a set that starts each run with the 100k points
#   search1     GEOSEARCH ... BYRADIUS 1 km around a random point of a 100k-member set
#               (the points spread uniformly over 1 x 1 degree: ~30 results)
#   search5c    the same with BYRADIUS 5 km ASC COUNT 10 (~800 candidates, partial sort)
#   radius1w    GEORADIUS ... 1 km WITHDIST WITHCOORD (distances and coordinates printed)
# Both servers run pinned to CPU 0, redis-benchmark to CPU 1; the order alternates per
# round. Prints medians and ratios. Stops only the servers it started.
set -euo pipefail
BIN=${1:-target/release/rust-keyval}; ROUNDS=${2:-3}; N=${N:-100000}
P1=${P1:-17251}; P2=${P2:-17252}
WORK=$(mktemp -d)
taskset -c 0 redis-server --port "$P1" --bind 127.0.0.1 --save '' --appendonly no >/dev/null 2>&1 & RPID=$!
taskset -c 0 "$BIN" --bind "127.0.0.1:$P2" --metrics-bind off >/dev/null 2>&1 & KPID=$!
trap 'kill $RPID $KPID 2>/dev/null; rm -rf "$WORK"' EXIT
for p in $P1 $P2; do
  for _ in $(seq 50); do redis-cli -p "$p" ping >/dev/null 2>&1 && break; sleep 0.1; done
done

# The 100k-member set: the same points in both servers, 100 per GEOADD.
awk 'BEGIN { srand(7); for (i = 0; i < 100000; i += 100) {
  line = "GEOADD geo:100k"
  for (j = 0; j < 100; j++) line = line sprintf(" %.6f %.6f p%d", 13 + rand(), 38 + rand(), i + j)
  print line } }' >"$WORK/points.txt"
for p in $P1 $P2; do
  redis-cli -p "$p" del geo:100k >/dev/null
  redis-cli -p "$p" --pipe <"$WORK/points.txt" >/dev/null
  [[ $(redis-cli -p "$p" zcard geo:100k) == 100000 ]] || { echo "populating port $p failed" >&2; exit 1; }
done

rps() { # port, command...
  local port=$1; shift
  taskset -c 1 redis-benchmark -p "$port" -n "$N" -r 100000 -c 50 -q "$@" 2>/dev/null |
    tr '\r' '\n' | grep -o '[0-9.]* requests per second' | tail -1 | awk '{print $1}'
}
CASES="geoadd search1 search5c radius1w"
declare -A R
for round in $(seq "$ROUNDS"); do
  for case in $CASES; do
    order=($P1 $P2); ((round % 2 == 0)) && order=($P2 $P1)
    for p in "${order[@]}"; do
      case $case in
        geoadd)
          redis-cli -p "$p" del geo:add >/dev/null
          sed 's/geo:100k/geo:add/' "$WORK/points.txt" | redis-cli -p "$p" --pipe >/dev/null
          v=$(rps "$p" GEOADD geo:add 13.__rand_int__ 38.__rand_int__ m:__rand_int__) ;;
        search1)
          v=$(rps "$p" GEOSEARCH geo:100k FROMLONLAT 13.__rand_int__ 38.__rand_int__ BYRADIUS 1 km) ;;
        search5c)
          v=$(rps "$p" GEOSEARCH geo:100k FROMLONLAT 13.__rand_int__ 38.__rand_int__ BYRADIUS 5 km ASC COUNT 10) ;;
        radius1w)
          v=$(rps "$p" GEORADIUS geo:100k 13.__rand_int__ 38.__rand_int__ 1 km WITHDIST WITHCOORD) ;;
      esac
      R[$case,$p]="${R[$case,$p]:-} $v"
    done
  done
done
med() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
printf '%-9s %12s %12s %7s\n' case redis keyval ratio
for case in $CASES; do
  r=$(echo "${R[$case,$P1]}" | med); k=$(echo "${R[$case,$P2]}" | med)
  printf '%-9s %12s %12s %7.3f\n' "$case" "$r" "$k" "$(echo "$k / $r" | bc -l)"
done
