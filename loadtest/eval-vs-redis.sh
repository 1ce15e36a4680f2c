#!/usr/bin/env bash
# eval-vs-redis.sh: EVALSHA speed of rust-keyval against redis-server, side by side, in one run.
#
# Usage (from the repository root): loadtest/eval-vs-redis.sh [BIN] [ROUNDS]
#   BIN     the rust-keyval binary (default target/release/rust-keyval; build it first)
#   ROUNDS  interleaved rounds (default 3); N=requests per run (default 200000)
#
# Scenarios (issue 11's targets), the loadtest crate's `loadtest` tool with 50 clients over
# 1,000 keys (it SCRIPT LOADs the scripts of loadtest/src/scripts.rs, then runs EVALSHA):
#   incr1 / incr16  MIX=evalincr: `return redis.call('INCR', KEYS[1])` at pipeline 1 / 16
#   rl1 / rl16      MIX=evalrl: a 10-command rate-limiter script at pipeline 1 / 16
# Both servers run pinned to CPU 0, the load to CPU 1; the order alternates per round.
# Prints medians and ratios (keyval / redis). Stops only the servers it started.
set -euo pipefail
BIN=${1:-target/release/rust-keyval}; ROUNDS=${2:-3}; N=${N:-200000}
LOADTEST=${LOADTEST:-target/release/loadtest}
[[ -x $LOADTEST ]] || cargo build --release -q -p loadtest
P1=16501; P2=16502
taskset -c 0 redis-server --port $P1 --bind 127.0.0.1 --save '' --appendonly no >/dev/null 2>&1 & RPID=$!
KEYVAL_BIND=127.0.0.1:$P2 METRICS_BIND=127.0.0.1:0 taskset -c 0 "$BIN" >/dev/null 2>&1 & KPID=$!
trap 'kill $RPID $KPID 2>/dev/null' EXIT
for p in $P1 $P2; do
  for _ in $(seq 50); do redis-cli -p $p ping >/dev/null 2>&1 && break; sleep 0.1; done
done
rps() { # port pipe mix
  HOST=127.0.0.1:$1 PIPE=$2 MIX=$3 CLIENTS=50 OPS=$((N / 50)) KEYSPACE=1000 THREADS=1 \
    taskset -c 1 "$LOADTEST" --json 2>/dev/null | sed 's/.*"ops_per_sec":\([0-9.]*\).*/\1/'
}
declare -A R
for round in $(seq "$ROUNDS"); do
  for case in incr1 incr16 rl1 rl16; do
    case $case in
      incr1) args=(1 evalincr=1) ;;
      incr16) args=(16 evalincr=1) ;;
      rl1) args=(1 evalrl=1) ;;
      rl16) args=(16 evalrl=1) ;;
    esac
    order=($P1 $P2); ((round % 2 == 0)) && order=($P2 $P1)
    for p in "${order[@]}"; do
      v=$(rps "$p" "${args[@]}")
      R[$case,$p]="${R[$case,$p]:-} $v"
    done
  done
done
med() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
printf '%-8s %12s %12s %7s\n' case redis keyval ratio
for case in incr1 incr16 rl1 rl16; do
  r=$(echo "${R[$case,$P1]}" | med); k=$(echo "${R[$case,$P2]}" | med)
  printf '%-8s %12s %12s %7.3f\n' "$case" "$r" "$k" "$(echo "$k / $r" | bc -l)"
done
