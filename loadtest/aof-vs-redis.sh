#!/usr/bin/env bash
# aof-vs-redis.sh: throughput with the append-only file on, from ../shared/bench/vs-redis.sh.
#
#   loadtest/aof-vs-redis.sh redis [--fsync everysec|always|no] [vs-redis.sh options]
#       rust-keyval with the AOF against redis-server with the AOF (same appendfsync)
#   loadtest/aof-vs-redis.sh own [--fsync ...] [vs-redis.sh options]
#       rust-keyval with the AOF against rust-keyval without it (the "redis" column is ours
#       without the AOF, so the ratio is what the AOF costs us)
#
# It runs a copy of vs-redis.sh whose server command lines are changed accordingly (the
# copy is checked: a pattern that no longer matches stops it). Both servers keep their
# files in the run's temporary directory. Run from the project root, after
# `cargo build --release`. The memory part is skipped (--no-memory is added).
set -euo pipefail
MODE=${1:-}
shift || true
FSYNC=everysec
if [[ "${1:-}" == "--fsync" ]]; then FSYNC=$2; shift 2; fi
case "$MODE" in redis|own) ;; *) sed -n '2,14p' "$0"; exit 2 ;; esac
HERE=$(cd "$(dirname "$0")/.." && pwd)
SRC="$HERE/../shared/bench/vs-redis.sh"
COPY=$(mktemp --suffix=.sh)
trap 'rm -f "$COPY"' EXIT
OURS='KEYVAL_BIND=127.0.0.1:$KP METRICS_BIND=127.0.0.1:$MP taskset -c 0 "$BIN"'
REDIS='(cd "$WORK" \&\& exec taskset -c 0 redis-server --port "$RP" --bind 127.0.0.1 --save '"''"' --appendonly no'
grep -qF 'KEYVAL_BIND=127.0.0.1:$KP METRICS_BIND=127.0.0.1:$MP taskset -c 0 "$BIN"' "$SRC" || { echo "vs-redis.sh changed: keyval command line not found" >&2; exit 1; }
grep -qF -- "--save '' --appendonly no" "$SRC" || { echo "vs-redis.sh changed: redis command line not found" >&2; exit 1; }
AOF_ENV='mkdir -p "$WORK/kv"; KEYVAL_SAVE= KEYVAL_DIR="$WORK/kv" KEYVAL_APPENDONLY=yes KEYVAL_APPENDFSYNC='"$FSYNC"
sed -e "s|KEYVAL_BIND=127.0.0.1:\$KP METRICS_BIND=127.0.0.1:\$MP taskset -c 0 \"\$BIN\"|$AOF_ENV KEYVAL_BIND=127.0.0.1:\$KP METRICS_BIND=127.0.0.1:\$MP taskset -c 0 \"\$BIN\"|" "$SRC" >"$COPY"
if [[ $MODE == redis ]]; then
  sed -i -e "s|--save '' --appendonly no|--save '' --appendonly yes --appendfsync $FSYNC|" "$COPY"
else
  # The "redis" server becomes rust-keyval without the AOF, on redis's port.
  sed -i -e "s|(cd \"\$WORK\" \&\& exec taskset -c 0 redis-server --port \"\$RP\" --bind 127.0.0.1 --save '' --appendonly no \\\\|(cd \"\$WORK\" \&\& KEYVAL_SAVE= KEYVAL_BIND=127.0.0.1:\$RP METRICS_BIND=off exec taskset -c 0 \"\$BIN\" \\\\|" \
      -e "s|^      --io-threads 1 --logfile \"\$WORK/redis.log\") \&|      >\"\$WORK/redis.log\" 2>\&1) \&|" "$COPY"
  grep -q 'METRICS_BIND=off exec' "$COPY" || { echo "could not rewrite the redis command line" >&2; exit 1; }
fi
grep -q 'KEYVAL_APPENDONLY=yes' "$COPY" || { echo "could not rewrite the keyval command line" >&2; exit 1; }
cd "$HERE"
if [[ -n "${AOF_BENCH_SHOW:-}" ]]; then grep -n 'KEYVAL_APPENDONLY\|redis-server --port\|METRICS_BIND=off\|redis.log' "$COPY"; exit 0; fi
# The copy starts one server from inside its temporary directory: the binary's path must
# be absolute.
BIN_ARGS=()
if [[ " $* " != *" --bin "* ]]; then
  cargo build --release --quiet --bin rust-keyval
  BIN_ARGS=(--bin "$HERE/target/release/rust-keyval")
fi
bash "$COPY" --no-memory "${BIN_ARGS[@]}" "$@"
