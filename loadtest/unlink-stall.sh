#!/usr/bin/env bash
# unlink-stall.sh: the worst PING wait while a 5M-element set, zset, hash and list are
# UNLINKed, and in the seconds after (issue 13: "no PING waits more than 10 ms"), for
# redis-server and rust-keyval side by side.
#
# Usage (from the repository root): loadtest/unlink-stall.sh [BIN] [MEMBERS]
#   BIN      the rust-keyval binary (default target/release/rust-keyval; build it and
#            `cargo build --release -p loadtest` first)
#   MEMBERS  elements per key (default 5000000)
#   AFTER    seconds measured after each UNLINK (default 4: the loading client's read
#            buffer is released by the cron after about 3 s idle)
#   COMMAND  UNLINK (default) or DEL
#   POLL_INFO=1  also read INFO memory every 10 ms until lazyfree_pending_objects is 0
#            (shows when the value was freed, and what INFO costs meanwhile)
#   PROBE    ping (default) or set: the measuring client sends SETs of 100 bytes instead
#            (traffic that allocates)
#
# Columns (ms): unlink = the UNLINK's round trip; during = worst PING round trip that
# overlapped it; after = worst PING round trip in the AFTER seconds that follow (the tool's
# own output also says when it was sent: after_at, seconds after the UNLINK). Each server
# is fresh, runs alone, on loopback; only the servers started here are stopped. Takes
# about 2-4 minutes (building 4 x 5M elements on each server).
set -euo pipefail
BIN=${1:-target/release/rust-keyval}; MEMBERS=${2:-5000000}
AFTER=${AFTER:-4}; COMMAND=${COMMAND:-UNLINK}
LOAD=${LOAD:-target/release/unlinkstall}
P1=16521; P2=16522
PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null || true' EXIT
wait_up() { for _ in $(seq 100); do redis-cli -p "$1" ping >/dev/null 2>&1 && return; sleep 0.05; done; echo "server on $1 did not start" >&2; exit 1; }
measure() {
  timeout 900 "$LOAD" --host 127.0.0.1:"$1" --members "$MEMBERS" --after "$AFTER" --command "$COMMAND" \
    ${POLL_INFO:+--poll-info} --probe "${PROBE:-ping}"
}

redis-server --bind 127.0.0.1 --port $P1 --save '' --appendonly no >/dev/null 2>&1 & RPID=$!; PIDS+=($RPID)
wait_up $P1
echo "redis-server $(redis-server --version | grep -o 'v=[^ ]*') ($COMMAND of $MEMBERS elements)"
measure $P1 | tee /tmp/unlink-stall.redis.$$
kill $RPID; wait $RPID 2>/dev/null || true

"$BIN" --bind 127.0.0.1:$P2 --metrics-bind off >/dev/null 2>&1 & KPID=$!; PIDS+=($KPID)
wait_up $P2
echo "rust-keyval $(git rev-parse --short HEAD 2>/dev/null || echo '?') ($COMMAND of $MEMBERS elements)"
measure $P2 | tee /tmp/unlink-stall.keyval.$$
kill $KPID; wait $KPID 2>/dev/null || true

echo
printf '%-5s %21s %21s %21s\n' "" "unlink_ms" "during_ms" "after_ms"
printf '%-5s %10s %10s %10s %10s %10s %10s\n' type redis keyval redis keyval redis keyval
paste -d' ' <(tail -n +2 /tmp/unlink-stall.redis.$$) <(tail -n +2 /tmp/unlink-stall.keyval.$$) |
  awk '{printf "%-5s %10s %10s %10s %10s %10s %10s\n", $1, $2, $9, $3, $10, $4, $11}'
rm -f /tmp/unlink-stall.redis.$$ /tmp/unlink-stall.keyval.$$
