#!/usr/bin/env bash
# mio-vs-redis.sh: throughput against redis-server, driven by our own `loadtest` client
# instead of redis-benchmark.
#
#   loadtest/mio-vs-redis.sh [--aof always|everysec|no] [--rounds N] [--duration S]
#                            [--pipe P] [--mix set=100] [--bin PATH]
#
# Why a second client: at pipeline 1, redis-benchmark spends about 11 us of its one core per
# request (85% of it in the kernel: a send, two epoll_ctl calls and a read per request),
# so on a 2-core machine it saturates near 100k requests/s whichever server it drives, and
# the ratio it reports says more about the client than about the servers. `loadtest`
# registers each socket with epoll once (mio), so it costs less per request and the
# servers are closer to being what limits the rate.
#
# Both servers run pinned to CPU 0 (with the AOF when --aof is given, else with no
# persistence at all), the client alone on CPU 1 with one thread and 50 connections over
# 100,000 keys. Runs alternate between the servers. Each line shows the median ops/s and,
# for each server, the client's CPU use during its runs: near 100% means the client was
# the limit, so the ratio understates the faster server. Only loopback; only the servers
# started here are stopped (by PID).
set -euo pipefail
AOF=""; ROUNDS=5; DURATION=4; PIPE=1; MIX="set=100"; BIN=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --aof) AOF=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --pipe) PIPE=$2; shift 2 ;;
    --mix) MIX=$2; shift 2 ;;
    --bin) BIN=$2; shift 2 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
HERE=$(cd "$(dirname "$0")/.." && pwd)
cd "$HERE"
if [[ -z $BIN ]]; then
  cargo build --release --quiet --bin rust-keyval
  BIN=$HERE/target/release/rust-keyval
fi
cargo build --release --quiet -p loadtest --bin loadtest
CLIENT=$HERE/target/release/loadtest
[[ -x $BIN ]] || { echo "no server binary at $BIN" >&2; exit 2; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
RP=$(free_port); KP=$(free_port)
WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

mkdir -p "$WORK/redis" "$WORK/kv"
if [[ -n $AOF ]]; then
  REDIS_AOF=(--appendonly yes --appendfsync "$AOF"); KV_AOF=(KEYVAL_APPENDONLY=yes "KEYVAL_APPENDFSYNC=$AOF")
else
  REDIS_AOF=(--appendonly no); KV_AOF=()
fi
(cd "$WORK/redis" && exec taskset -c 0 redis-server --port "$RP" --bind 127.0.0.1 --save '' \
    "${REDIS_AOF[@]}" --io-threads 1 --logfile "$WORK/redis.log") &
PIDS+=($!)
(cd "$WORK/kv" && exec env KEYVAL_SAVE= "${KV_AOF[@]}" KEYVAL_BIND=127.0.0.1:$KP METRICS_BIND=off \
    taskset -c 0 "$BIN" >"$WORK/keyval.log" 2>&1) &
PIDS+=($!)
for _ in $(seq 100); do
  if redis-cli -p "$RP" ping >/dev/null 2>&1 && redis-cli -p "$KP" ping >/dev/null 2>&1; then break; fi
  sleep 0.1
done
redis-cli -p "$KP" ping >/dev/null || { echo "rust-keyval did not start:" >&2; cat "$WORK/keyval.log" >&2; exit 1; }

# one run: prints "ops_per_sec client_cpu_percent"
run() { # port
  local out
  out=$( { /usr/bin/time -f 'CPU %U %S %e' env HOST=127.0.0.1:$1 THREADS=1 CLIENTS=50 PIPE=$PIPE \
      MIX=$MIX KEYSPACE=100000 VALUE_SIZE=3 DURATION=$DURATION \
      taskset -c 1 "$CLIENT" --json 2>&1 >&3 | grep '^CPU' ; } 3>&1)
  python3 -c '
import json, sys
lines = sys.argv[1].splitlines()
summary = json.loads([l for l in lines if l.startswith("{")][0])
_, user, system, wall = [l for l in lines if l.startswith("CPU")][0].split()
if summary["errors"] or summary["timeouts"]:
    sys.exit("errors or timeouts: %s" % summary)
print("%.0f %.0f" % (summary["ops_per_sec"], 100 * (float(user) + float(system)) / float(wall)))
' "$out"
}
median() { sort -g | awk '{a[NR]=$1} END { if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2 }'; }

: >"$WORK/r"; : >"$WORK/k"; : >"$WORK/q"
for ((i = 0; i < ROUNDS; i++)); do
  if ((i % 2 == 0)); then r=$(run "$RP"); k=$(run "$KP"); else k=$(run "$KP"); r=$(run "$RP"); fi
  echo "$r" >>"$WORK/r"; echo "$k" >>"$WORK/k"
  awk -v a="${r%% *}" -v b="${k%% *}" 'BEGIN { print b / a }' >>"$WORK/q"
done
rr=$(awk '{print $1}' "$WORK/r" | median); kr=$(awk '{print $1}' "$WORK/k" | median)
rc=$(awk '{print $2}' "$WORK/r" | median); kc=$(awk '{print $2}' "$WORK/k" | median)
printf 'mix %s, pipeline %s, aof %s, %s rounds of %s s\n' "$MIX" "$PIPE" "${AOF:-off}" "$ROUNDS" "$DURATION"
printf '%12s %12s %8s %14s %14s\n' redis_ops keyval_ops ratio client_cpu_r client_cpu_k
printf '%12.0f %12.0f %8.3f %13s%% %13s%%\n' "$rr" "$kr" "$(median <"$WORK/q")" "$rc" "$kc"
