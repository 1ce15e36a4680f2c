#!/usr/bin/env bash
# hll-vs-redis.sh: HyperLogLog speed and memory of rust-keyval against redis-server, side by
# side, in one run.
#
# Usage (from the repository root): loadtest/hll-vs-redis.sh [BIN] [ROUNDS]
#   BIN     the rust-keyval binary (default target/release/rust-keyval; build it first)
#   ROUNDS  interleaved rounds (default 3); N=requests per run at pipeline 1 (default
#           200000, ten times that at pipeline 16, a twentieth of those for pfcount_union);
#           PORT1/PORT2 the servers' ports
#
# redis-benchmark (50 clients) runs each case at pipeline 1 and 16:
#   pfadd_dense    PFADD hll e:__rand_int__          one dense HyperLogLog (100k elements)
#   pfadd_sparse   PFADD s:__rand_int__ e:__rand_int__  100k small sparse ones, created as it goes
#   pfcount        PFCOUNT hll                        the cached cardinality
#   pfcount_sparse PFCOUNT s:__rand_int__             small sparse ones (computed once, then cached)
#   pfcount_union  PFCOUNT hll hll2                   two dense ones merged and counted each time
# Both servers run pinned to CPU 0, redis-benchmark to CPU 1; the order alternates per round.
# Prints medians of requests/s and their ratio (keyval / redis), and of the server's CPU time
# per request (utime + stime from /proc, which other processes competing for the CPUs disturb
# far less than throughput) with its ratio (redis / keyval: above 1, we spend less); then
# used_memory per HyperLogLog for 20k sparse ones (10 elements each) and 500 dense ones.
# Stops only the servers it started.
set -euo pipefail
BIN=${1:-target/release/rust-keyval}; ROUNDS=${2:-3}; N=${N:-200000}
P1=${PORT1:-17110}; P2=${PORT2:-17111}
WORK=$(mktemp -d)
taskset -c 0 redis-server --port "$P1" --bind 127.0.0.1 --save '' --appendonly no \
  --dir "$WORK" >/dev/null 2>&1 & RPID=$!
KEYVAL_BIND=127.0.0.1:$P2 METRICS_BIND=off taskset -c 0 "$BIN" --save '' >/dev/null 2>&1 & KPID=$!
trap 'kill $RPID $KPID 2>/dev/null; rm -rf "$WORK"' EXIT
for p in $P1 $P2; do
  for _ in $(seq 50); do redis-cli -p "$p" ping >/dev/null 2>&1 && break; sleep 0.1; done
done

# The dense HyperLogLogs: 100k elements each, sent 1,000 per PFADD.
load() { # port
  redis-cli -p "$1" flushall >/dev/null
  for key in hll hll2; do
    for b in $(seq 0 99); do
      seq -f "$key-$b-%g" 1 1000 | xargs redis-cli -p "$1" pfadd "$key" >/dev/null
    done
  done
}
load "$P1"; load "$P2"

ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
HZ=$(getconf CLK_TCK)
rps() { # port pipe command... -> "requests/s cpu-us/request"
  local port=$1 pipe=$2; shift 2
  local n=$N; [[ $pipe == 16 ]] && n=$((N * 10))
  [[ $* == *hll2* ]] && n=$((n / 20))
  local pid=$KPID; [[ $port == "$P1" ]] && pid=$RPID
  local t0 t1 r
  t0=$(ticks "$pid")
  r=$(taskset -c 1 redis-benchmark -h 127.0.0.1 -p "$port" -c 50 -P "$pipe" -n "$n" -r 100000 --csv "$@" \
    2>/dev/null | awk -F, 'NR==2 { gsub(/"/,""); print $2 }')
  t1=$(ticks "$pid")
  echo "$r $(echo "($t1 - $t0) * 1000000 / $HZ / $n" | bc -l)"
}
CASES=(pfadd_dense pfadd_sparse pfcount pfcount_sparse pfcount_union)
cmd_of() {
  case $1 in
    pfadd_dense) echo "PFADD hll e:__rand_int__" ;;
    pfadd_sparse) echo "PFADD s:__rand_int__ e:__rand_int__" ;;
    pfcount) echo "PFCOUNT hll" ;;
    pfcount_sparse) echo "PFCOUNT s:__rand_int__" ;;
    pfcount_union) echo "PFCOUNT hll hll2" ;;
  esac
}
declare -A R C
for round in $(seq "$ROUNDS"); do
  for case in "${CASES[@]}"; do
    for pipe in 1 16; do
      order=("$P1" "$P2"); ((round % 2 == 0)) && order=("$P2" "$P1")
      for p in "${order[@]}"; do
        # shellcheck disable=SC2046
        read -r v c < <(rps "$p" "$pipe" $(cmd_of "$case"))
        R[$case/$pipe,$p]="${R[$case/$pipe,$p]:-} $v"
        C[$case/$pipe,$p]="${C[$case/$pipe,$p]:-} $c"
      done
    done
  done
done
med() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
printf '%-18s %12s %12s %7s %10s %10s %7s\n' case/pipeline redis_rps keyval_rps ratio \
  redis_us keyval_us cpu
for case in "${CASES[@]}"; do
  for pipe in 1 16; do
    r=$(echo "${R[$case/$pipe,$P1]}" | med); k=$(echo "${R[$case/$pipe,$P2]}" | med)
    rc=$(echo "${C[$case/$pipe,$P1]}" | med); kc=$(echo "${C[$case/$pipe,$P2]}" | med)
    printf '%-18s %12s %12s %7.3f %10.3f %10.3f %7.3f\n' "$case/$pipe" "$r" "$k" \
      "$(echo "$k / $r" | bc -l)" "$rc" "$kc" "$(echo "$rc / $kc" | bc -l)"
  done
done

# Memory: used_memory growth per HyperLogLog (the same bytes in both; the allocators differ).
mem() { redis-cli -p "$1" info memory | awk -F: '/^used_memory:/ { print $2+0 }'; }
per_key() { # port kind count
  local port=$1 kind=$2 count=$3 before after
  redis-cli -p "$port" flushall >/dev/null; sleep 0.2
  before=$(mem "$port")
  if [[ $kind == sparse ]]; then
    for i in $(seq 1 "$count"); do echo "PFADD sp:$i a$i b$i c$i d$i e$i f$i g$i h$i i$i j$i"; done \
      | redis-cli -p "$port" >/dev/null
  else
    for i in $(seq 1 "$count"); do echo "PFADD dn:$i x$i"; echo "PFDEBUG TODENSE dn:$i"; done \
      | redis-cli -p "$port" >/dev/null
  fi
  after=$(mem "$port")
  echo $(( (after - before) / count ))
}
printf '%-18s %12s %12s %7s\n' 'memory B/key' redis keyval ratio
for kind in sparse dense; do
  count=20000; [[ $kind == dense ]] && count=500
  r=$(per_key "$P1" "$kind" "$count"); k=$(per_key "$P2" "$kind" "$count")
  printf '%-18s %12s %12s %7.3f\n' "$kind" "$r" "$k" "$(echo "$k / $r" | bc -l)"
done
