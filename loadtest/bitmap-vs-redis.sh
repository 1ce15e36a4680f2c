#!/usr/bin/env bash
# bitmap-vs-redis.sh: bitmap command speed of rust-keyval against redis-server, side by side,
# in one run.
#
# Usage (from the repository root): loadtest/bitmap-vs-redis.sh [BIN] [ROUNDS]
#   BIN     the rust-keyval binary (default target/release/rust-keyval; build it first)
#   ROUNDS  interleaved rounds (default 3); N=requests per run at pipeline 1 (default
#           200000, ten times that at pipeline 16, a twentieth of those for the 1 MB scans);
#           PORT1/PORT2 the servers' ports
#
# redis-benchmark (50 clients) runs each case at pipeline 1 and 16:
#   setbit        SETBIT bm 4194303 1            a bit in the middle of a 1 MB bitmap
#   getbit        GETBIT bm 4194303              that bit
#   bitcount_1mb  BITCOUNT big                   a whole 1 MB string of random bytes
#   bitpos_1mb    BITPOS zeros 1                 a 1 MB string of zero bytes but the last
#   bitfield      BITFIELD bf INCRBY u8 #4096 1 GET u8 #4096   a counter in a bitfield
# The offsets are fixed: redis-benchmark's __rand_int__ is zero-padded to 12 digits, which
# neither server takes as a bit offset (Redis's string2ll refuses leading zeros).
# Both servers run pinned to CPU 0, redis-benchmark to CPU 1; the order alternates per round.
# Prints medians of requests/s and their ratio (keyval / redis), and of the server's CPU time
# per request (utime + stime from /proc) with its ratio (redis / keyval: above 1, we spend
# less). Stops only the servers it started.
set -euo pipefail
BIN=${1:-target/release/rust-keyval}; ROUNDS=${2:-3}; N=${N:-200000}
P1=${PORT1:-17120}; P2=${PORT2:-17121}
WORK=$(mktemp -d)
taskset -c 0 redis-server --port "$P1" --bind 127.0.0.1 --save '' --appendonly no \
  --dir "$WORK" >/dev/null 2>&1 & RPID=$!
KEYVAL_BIND=127.0.0.1:$P2 METRICS_BIND=off taskset -c 0 "$BIN" --save '' >/dev/null 2>&1 & KPID=$!
trap 'kill $RPID $KPID 2>/dev/null; rm -rf "$WORK"' EXIT
for p in $P1 $P2; do
  for _ in $(seq 50); do redis-cli -p "$p" ping >/dev/null 2>&1 && break; sleep 0.1; done
done

# The 1 MB strings: random bytes, and zero bytes ending in one set bit.
RANDOM_MB="$WORK/random.bin"
head -c 1048576 /dev/urandom > "$RANDOM_MB"
load() { # port
  redis-cli -p "$1" flushall >/dev/null
  redis-cli -p "$1" -x set big < "$RANDOM_MB" >/dev/null
  redis-cli -p "$1" setbit zeros 8388607 1 >/dev/null
  redis-cli -p "$1" setbit bm 8388607 0 >/dev/null
}
load "$P1"; load "$P2"

ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
HZ=$(getconf CLK_TCK)
rps() { # port pipe command... -> "requests/s cpu-us/request"
  local port=$1 pipe=$2; shift 2
  local n=$N; [[ $pipe == 16 ]] && n=$((N * 10))
  [[ $* == *big* || $* == *zeros* ]] && n=$((n / 20))
  local pid=$KPID; [[ $port == "$P1" ]] && pid=$RPID
  local t0 t1 r
  t0=$(ticks "$pid")
  r=$(taskset -c 1 redis-benchmark -h 127.0.0.1 -p "$port" -c 50 -P "$pipe" -n "$n" --csv "$@" \
    2>/dev/null | awk -F, 'NR==2 { gsub(/"/,""); print $2 }')
  t1=$(ticks "$pid")
  echo "$r $(echo "($t1 - $t0) * 1000000 / $HZ / $n" | bc -l)"
}
CASES=(setbit getbit bitcount_1mb bitpos_1mb bitfield)
cmd_of() {
  case $1 in
    setbit) echo "SETBIT bm 4194303 1" ;;
    getbit) echo "GETBIT bm 4194303" ;;
    bitcount_1mb) echo "BITCOUNT big" ;;
    bitpos_1mb) echo "BITPOS zeros 1" ;;
    bitfield) echo "BITFIELD bf INCRBY u8 #4096 1 GET u8 #4096" ;;
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
