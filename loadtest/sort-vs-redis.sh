#!/usr/bin/env bash
# sort-vs-redis.sh: SORT of a 10k-element list, rust-keyval against redis-server, side by
# side, in one run.
#
# Usage (from the repository root): loadtest/sort-vs-redis.sh [BIN] [ROUNDS]
#   BIN     the rust-keyval binary (default target/release/rust-keyval; build it first)
#   ROUNDS  interleaved rounds (default 3); N=requests per run (default 2000);
#           PORT1/PORT2 the servers' ports (default 17140, 17141)
#
# redis-benchmark (10 clients, pipeline 1) runs each case; every one sorts all 10,000
# elements and returns the first 10 (LIMIT keeps the reply out of the measure):
#   numbers   SORT nums LIMIT 0 10                 random integers
#   alpha     SORT words ALPHA LIMIT 0 10          random 8-letter words (strcoll, C locale)
#   by_key    SORT ids BY w_* LIMIT 0 10           weights in 10k string keys
#   by_hash   SORT ids BY h_*->w LIMIT 0 10        weights in 10k hash fields
# Both servers run pinned to CPU 0, redis-benchmark to CPU 1; the order alternates per round.
# Prints medians of requests/s and their ratio (keyval / redis), and of the server's CPU time
# per request (utime + stime from /proc) with its ratio (redis / keyval: above 1, we spend
# less). Stops only the servers it started.
set -euo pipefail
BIN=${1:-target/release/rust-keyval}; ROUNDS=${2:-3}; N=${N:-2000}
P1=${PORT1:-17140}; P2=${PORT2:-17141}
WORK=$(mktemp -d)
taskset -c 0 redis-server --port "$P1" --bind 127.0.0.1 --save '' --appendonly no \
  --dir "$WORK" >/dev/null 2>&1 & RPID=$!
KEYVAL_BIND=127.0.0.1:$P2 METRICS_BIND=off taskset -c 0 "$BIN" --save '' >/dev/null 2>&1 & KPID=$!
trap 'kill $RPID $KPID 2>/dev/null; rm -rf "$WORK"' EXIT
for p in $P1 $P2; do
  for _ in $(seq 50); do redis-cli -p "$p" ping >/dev/null 2>&1 && break; sleep 0.1; done
done

# The same data in both: one command file, generated once.
python3 - "$WORK/load.txt" <<'PY'
import random, sys
random.seed(7)
with open(sys.argv[1], "w") as f:
    for i in range(10000):
        f.write(f"RPUSH nums {random.randint(-10**9, 10**9)}\n")
        word = "".join(random.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(8))
        f.write(f"RPUSH words {word}\n")
        f.write(f"RPUSH ids {i}\n")
        f.write(f"SET w_{i} {random.random()}\n")
        f.write(f"HSET h_{i} w {random.randint(0, 10**6)}\n")
PY
for p in $P1 $P2; do redis-cli -p "$p" < "$WORK/load.txt" >/dev/null; done

ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
HZ=$(getconf CLK_TCK)
rps() { # port command... -> "requests/s cpu-us/request"
  local port=$1; shift
  local pid=$KPID; [[ $port == "$P1" ]] && pid=$RPID
  local t0 t1 r
  t0=$(ticks "$pid")
  r=$(taskset -c 1 redis-benchmark -h 127.0.0.1 -p "$port" -c 10 -n "$N" --csv "$@" \
    2>/dev/null | awk -F, 'NR==2 { gsub(/"/,""); print $2 }')
  t1=$(ticks "$pid")
  echo "$r $(echo "($t1 - $t0) * 1000000 / $HZ / $N" | bc -l)"
}
CASES=(numbers alpha by_key by_hash)
cmd_of() {
  case $1 in
    numbers) echo "SORT nums LIMIT 0 10" ;;
    alpha) echo "SORT words ALPHA LIMIT 0 10" ;;
    by_key) echo "SORT ids BY w_* LIMIT 0 10" ;;
    by_hash) echo "SORT ids BY h_*->w LIMIT 0 10" ;;
  esac
}
declare -A R C
for round in $(seq "$ROUNDS"); do
  for case in "${CASES[@]}"; do
    order=("$P1" "$P2"); ((round % 2 == 0)) && order=("$P2" "$P1")
    for p in "${order[@]}"; do
      # shellcheck disable=SC2046
      read -r v c < <(rps "$p" $(cmd_of "$case"))
      R[$case,$p]="${R[$case,$p]:-} $v"
      C[$case,$p]="${C[$case,$p]:-} $c"
    done
  done
done
med() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
printf '%-10s %12s %12s %7s %10s %10s %7s\n' case redis_rps keyval_rps ratio redis_us keyval_us cpu
for case in "${CASES[@]}"; do
  r=$(echo "${R[$case,$P1]}" | med); k=$(echo "${R[$case,$P2]}" | med)
  rc=$(echo "${C[$case,$P1]}" | med); kc=$(echo "${C[$case,$P2]}" | med)
  printf '%-10s %12s %12s %7.3f %10.1f %10.1f %7.3f\n' "$case" "$r" "$k" \
    "$(echo "$k / $r" | bc -l)" "$rc" "$kc" "$(echo "$rc / $kc" | bc -l)"
done
