#!/usr/bin/env bash
# eval-vs-redis.sh: EVALSHA speed of rust-keyval against redis-server, side by side, in one run.
#
# Usage (from the repository root): loadtest/eval-vs-redis.sh [BIN] [ROUNDS]
#   BIN     the rust-keyval binary (default target/release/rust-keyval; build it first)
#   ROUNDS  interleaved rounds (default 3); N=requests per run (default 200000)
#
# Scenarios (issue 11's targets), redis-benchmark with 50 clients and random keys:
#   incr1 / incr16  EVALSHA of `return redis.call('INCR', KEYS[1])` at pipeline 1 / 16
#   rl1 / rl16      EVALSHA of a 10-command rate-limiter-like script at pipeline 1 / 16
# Both servers run pinned to CPU 0, the load to CPU 1; the order alternates per round.
# Prints medians and ratios (keyval / redis). Stops only the servers it started.
set -euo pipefail
BIN=${1:-target/release/rust-keyval}; ROUNDS=${2:-3}; N=${N:-200000}
P1=16501; P2=16502
taskset -c 0 redis-server --port $P1 --save '' --appendonly no >/dev/null 2>&1 & RPID=$!
KEYVAL_BIND=127.0.0.1:$P2 METRICS_BIND=127.0.0.1:0 taskset -c 0 "$BIN" >/dev/null 2>&1 & KPID=$!
trap 'kill $RPID $KPID 2>/dev/null' EXIT
sleep 0.5
INCR="return redis.call('INCR', KEYS[1])"
RL=$(cat <<'LUA'
local k = KEYS[1]
redis.call('ZREMRANGEBYSCORE', k, '-inf', ARGV[1] - 60000)
local n = redis.call('ZCARD', k)
redis.call('ZADD', k, ARGV[1], ARGV[2])
redis.call('PEXPIRE', k, 60000)
redis.call('HINCRBY', k .. ':stats', 'calls', 1)
redis.call('HSET', k .. ':stats', 'last', ARGV[1])
redis.call('INCR', k .. ':total')
redis.call('EXPIRE', k .. ':total', 3600)
redis.call('GET', k .. ':total')
redis.call('SET', k .. ':last', ARGV[2])
return n
LUA
)
for p in $P1 $P2; do
  S1=$(redis-cli -p $p script load "$INCR"); S2=$(redis-cli -p $p script load "$RL")
done
rps() { # port pipe script-sha nkeys args...
  local port=$1 pipe=$2; shift 2
  taskset -c 1 redis-benchmark -p "$port" -n "$N" -c 50 -P "$pipe" -r 1000 --csv "$@" 2>/dev/null | tail -1 | cut -d, -f2 | tr -d '"'
}
declare -A R
for round in $(seq "$ROUNDS"); do
  for case in incr1 incr16 rl1 rl16; do
    case $case in
      incr1) args=(1 EVALSHA "$S1" 1 "k:__rand_int__") ;;
      incr16) args=(16 EVALSHA "$S1" 1 "k:__rand_int__") ;;
      rl1) args=(1 EVALSHA "$S2" 1 "rl:__rand_int__" 1700000000000 member) ;;
      rl16) args=(16 EVALSHA "$S2" 1 "rl:__rand_int__" 1700000000000 member) ;;
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
