#!/usr/bin/env bash
# streams-vs-redis.sh: stream speed and memory of rust-keyval against redis-server, side by
# side, in one run (issue 12's targets).
#
# Usage (from the repository root): loadtest/streams-vs-redis.sh [BIN] [ROUNDS]
#   BIN     the rust-keyval binary (default target/release/rust-keyval; build it and
#           `cargo build --release -p loadtest` first)
#   ROUNDS  interleaved rounds (default 3); DURATION seconds per run (default 4)
#
# Speed (target/release/streams, 8 client threads; ratios keyval / redis):
#   xadd1 / xadd16   XADD of a three-field entry, pipeline 1 / 16
#   xrange           XRANGE of 100 entries, pipeline 1
#   consume          XREADGROUP COUNT 10 + XACK loop, entries consumed per second
# Memory (a fresh server of each kind per shape; bytes per entry from used_memory and
# from RSS growth):
#   entries          1M entries of 3 small fields in one stream
#   pel              100 groups x 10k pending entries
# Both servers run pinned to CPU 0, the load to CPU 1; the order alternates per round.
# Stops only the servers it started.
set -euo pipefail
BIN=${1:-target/release/rust-keyval}; ROUNDS=${2:-3}; DURATION=${DURATION:-4}
LOAD=${LOAD:-target/release/streams}
P1=16511; P2=16512
PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null || true' EXIT
start_redis() { taskset -c 0 redis-server --port $P1 --bind 127.0.0.1 --save '' --appendonly no >/dev/null 2>&1 & RPID=$!; PIDS+=($RPID); }
start_keyval() { taskset -c 0 "$BIN" --bind 127.0.0.1:$P2 --metrics-bind off >/dev/null 2>&1 & KPID=$!; PIDS+=($KPID); }
wait_up() { for _ in $(seq 100); do redis-cli -p "$1" ping >/dev/null 2>&1 && return; sleep 0.05; done; }

start_redis; start_keyval; wait_up $P1; wait_up $P2
declare -A R
CASES="xadd1 xadd16 xrange consume"
for round in $(seq "$ROUNDS"); do
  for case in $CASES; do
    case $case in
      xadd1) args=(--scenario xadd --pipe 1) ;;
      xadd16) args=(--scenario xadd --pipe 16) ;;
      xrange) args=(--scenario xrange --pipe 1) ;;
      consume) args=(--scenario consume) ;;
    esac
    order=($P1 $P2); ((round % 2 == 0)) && order=($P2 $P1)
    for p in "${order[@]}"; do
      redis-cli -p "$p" flushall >/dev/null
      v=$(taskset -c 1 "$LOAD" --host 127.0.0.1:$p --duration "$DURATION" "${args[@]}" | awk '{print $2}')
      R[$case,$p]="${R[$case,$p]:-} $v"
    done
  done
done
kill $RPID $KPID; wait $RPID $KPID 2>/dev/null || true
med() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
printf '%-10s %12s %12s %7s\n' case redis keyval ratio
for case in $CASES; do
  r=$(echo "${R[$case,$P1]}" | med); k=$(echo "${R[$case,$P2]}" | med)
  printf '%-10s %12s %12s %7.3f\n' "$case" "$r" "$k" "$(echo "$k / $r" | bc -l)"
done

rss() { awk '/VmRSS/ {print $2 * 1024}' "/proc/$1/status"; }
used() { redis-cli -p "$1" info memory | awk -F: '/^used_memory:/ {print $2+0}'; }
printf '\n%-8s %-7s %16s %16s\n' shape server used_B/entry rss_B/entry
for shape in entries pel; do
  for server in redis keyval; do
    if [ $server = redis ]; then start_redis; pid=$RPID; port=$P1; else start_keyval; pid=$KPID; port=$P2; fi
    wait_up $port
    u0=$(used $port); r0=$(rss $pid)
    taskset -c 1 "$LOAD" --host 127.0.0.1:$port --scenario mem-$shape
    sleep 0.5
    u1=$(used $port); r1=$(rss $pid)
    printf '%-8s %-7s %16.1f %16.1f\n' $shape $server "$(echo "($u1 - $u0) / 1000000" | bc -l)" "$(echo "($r1 - $r0) / 1000000" | bc -l)"
    kill $pid; wait $pid 2>/dev/null || true
  done
done
