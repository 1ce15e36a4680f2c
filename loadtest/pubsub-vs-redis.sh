#!/usr/bin/env bash
# pubsub-vs-redis.sh: pub/sub and blocking-queue delivery speed of rust-keyval against
# redis-server, side by side, in one run (the `pubsub` tool of the loadtest crate).
#
# Usage (from anywhere in the repository):
#   loadtest/pubsub-vs-redis.sh [--rounds N] [--duration SECONDS] [--only publish1,fanout100,queue]
#                               [--bin PATH] [--no-build]
#
# Scenarios, each run for DURATION seconds (default 5):
#   publish1   8 publishers (pipeline 64) PUBLISH to 1 subscriber      -> messages delivered/s
#   fanout100  8 publishers (pipeline 64) PUBLISH to 100 subscribers   -> messages delivered/s
#   queue      10 producers LPUSH (pipeline 1), 10 consumers BRPOP     -> jobs/s, hand-off p50/p99
# (512 PUBLISHes in flight keep the server busy; with 4 x 16 both servers mostly wait for round
# trips and come out nearly equal.) Both servers run pinned to CPU 0 and the load to CPU 1; runs alternate A B A B (redis first
# in even rounds, ours first in odd ones) so that drift on a shared machine hits both alike.
# The table shows medians over the rounds; ratio is keyval/redis, the median of the per-round
# ratios (above 1 is better for rates, worse for latencies). A run that loses or duplicates a
# message is marked FAIL and makes the script exit non-zero.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=3
DURATION=5
ONLY="publish1,fanout100,queue"
BIN=""
BUILD=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --rounds) ROUNDS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --only) ONLY=$2; shift 2 ;;
    --bin) BIN=$2; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done

command -v redis-server >/dev/null || { echo "redis-server is not installed (apt-get install redis-server)" >&2; exit 2; }
command -v taskset >/dev/null || { echo "taskset is not installed (util-linux)" >&2; exit 2; }

TARGET=${CARGO_TARGET_DIR:-target}
if [[ $BUILD == 1 ]]; then
  cargo build --release --quiet -p loadtest
  cargo build --release --quiet --bin rust-keyval
fi
LOAD=$TARGET/release/pubsub
BIN=${BIN:-$TARGET/release/rust-keyval}
[[ -x $LOAD ]] || { echo "no load tool at $LOAD" >&2; exit 2; }
[[ -x $BIN ]] || { echo "no server binary at $BIN" >&2; exit 2; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
RP=$(free_port); KP=$(free_port); MP=$(free_port)
WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

# ping PORT: true if a server on loopback PORT answers PING with +PONG (bash only, no redis-cli).
ping() {
  local reply fd
  { exec {fd}<>"/dev/tcp/127.0.0.1/$1"; } 2>/dev/null || return 1
  # shellcheck disable=SC2016 # the $ is RESP's bulk marker, not an expansion
  printf '*1\r\n$4\r\nPING\r\n' >&"$fd"
  IFS= read -r -t 2 -u "$fd" reply || true
  exec {fd}>&-
  [[ $reply == $'+PONG\r' ]]
}

start_servers() {
  (cd "$WORK" && exec taskset -c 0 redis-server --port "$RP" --bind 127.0.0.1 --save '' --appendonly no \
      --io-threads 1 --logfile "$WORK/redis.log") &
  PIDS+=($!)
  KEYVAL_BIND=127.0.0.1:$KP METRICS_BIND=127.0.0.1:$MP taskset -c 0 "$BIN" >"$WORK/keyval.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 100); do
    if ping "$RP" && ping "$KP"; then return 0; fi
    sleep 0.1
  done
  echo "servers did not answer PING; keyval log:" >&2; cat "$WORK/keyval.log" >&2; exit 1
}

# The pubsub arguments of each scenario.
scenario_args() {
  case "$1" in
    publish1) echo "publish --subscribers 1 --publishers 8 --pipe 64" ;;
    fanout100) echo "publish --subscribers 100 --publishers 8 --pipe 64" ;;
    queue) echo "queue --producers 10 --consumers 10 --pipe 1" ;;
    *) echo "unknown scenario: $1" >&2; exit 2 ;;
  esac
}

# json FILE KEY: the number KEY holds in the JSON summary in FILE.
json() { grep -o "\"$2\":[-0-9.e]*" "$1" | head -1 | cut -d: -f2; }

FAILED=0
# run SCENARIO PORT NAME ROUND: one run; its JSON summary goes to $WORK/SCENARIO.NAME.ROUND.
run() {
  local out=$WORK/$1.$3.$4
  # shellcheck disable=SC2046 # the scenario's arguments are meant to split
  if ! taskset -c 1 "$LOAD" $(scenario_args "$1") --duration "$DURATION" --json \
      --host "127.0.0.1:$2" >"$out" 2>"$out.err"; then
    echo "FAIL: $1 on $3 (round $4):" >&2
    cat "$out" "$out.err" >&2
    FAILED=1
  fi
}

median() { sort -g | awk '{a[NR]=$1} END { if (NR==0) print "nan"; else if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2 }'; }

# row SCENARIO LABEL KEY: one table line from the rounds' summaries.
row() {
  local s=$1 label=$2 key=$3 r k q
  r=$(for ((i = 0; i < ROUNDS; i++)); do json "$WORK/$s.redis.$i" "$key"; done | median)
  k=$(for ((i = 0; i < ROUNDS; i++)); do json "$WORK/$s.keyval.$i" "$key"; done | median)
  q=$(for ((i = 0; i < ROUNDS; i++)); do
        awk -v a="$(json "$WORK/$s.redis.$i" "$key")" -v b="$(json "$WORK/$s.keyval.$i" "$key")" \
          'BEGIN { if (a > 0 && b != "") print b / a; else print "nan" }'
      done | median)
  printf '%-10s %-18s %12.1f %12.1f %8.3f\n' "$s" "$label" "$r" "$k" "$q"
}

start_servers
echo "# redis-server $(redis-server --version | grep -o 'v=[^ ]*') on :$RP, rust-keyval on :$KP;" \
     "$ROUNDS rounds of $DURATION s per scenario" >&2
IFS=',' read -r -a SCENARIOS <<<"$ONLY"
for s in "${SCENARIOS[@]}"; do
  scenario_args "$s" >/dev/null
  for ((i = 0; i < ROUNDS; i++)); do
    echo "# $s round $((i + 1))/$ROUNDS" >&2
    if ((i % 2 == 0)); then
      run "$s" "$RP" redis "$i"; run "$s" "$KP" keyval "$i"
    else
      run "$s" "$KP" keyval "$i"; run "$s" "$RP" redis "$i"
    fi
  done
done

printf '%-10s %-18s %12s %12s %8s\n' scenario metric redis keyval ratio
for s in "${SCENARIOS[@]}"; do
  case "$s" in
    publish1|fanout100)
      row "$s" delivered/s delivered_per_sec
      row "$s" publishes/s publishes_per_sec ;;
    queue)
      row "$s" jobs/s jobs_per_sec
      row "$s" "hand-off p50 us" p50
      row "$s" "hand-off p99 us" p99
      row "$s" "hand-off p99.9 us" p99_9 ;;
  esac
done
if ((FAILED)); then
  echo "some runs failed (lost, duplicated or erroneous messages): see above" >&2
  exit 1
fi
