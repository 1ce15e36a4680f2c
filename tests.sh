#!/usr/bin/env bash
# Basic RESP tests for rust-keyval: every command of the original README (SET, GET, INCR, DEL,
# EXISTS, EXPIRE, KEYS, FLUSHALL) plus PING, pipelining, fragmentation and a protocol error,
# sent as raw RESP over bash's /dev/tcp with each raw reply checked byte for byte.
#
# Needs only bash and the project. Without HOST it builds and starts its own server
# (target/debug/rust-keyval, or $KEYVAL_BIN) on a free loopback port and stops it afterwards.
# With HOST=host:port it tests that server instead; it runs FLUSHALL there, so use a scratch one.
#
# Ends with "N passed, M failed"; exits non-zero on any failure.

set -u
# Byte semantics for ${#var} and read -N: the replies are compared as bytes.
export LC_ALL=C
cd "$(dirname "$0")" || exit 1

passed=0
failed=0
server_pid=""
server_log=""
server_dir=""

cleanup() {
    if [[ -n $server_pid ]]; then
        kill "$server_pid" 2>/dev/null
        wait "$server_pid" 2>/dev/null
    fi
    [[ -n $server_log ]] && rm -f "$server_log"
    [[ -n $server_dir ]] && rm -rf "$server_dir"
}
trap cleanup EXIT

# resp VAR ARG...: stores ARG... encoded as one RESP multibulk command in VAR. (Not printed:
# command substitution would strip the final \n.)
resp() {
    local -n resp_out=$1
    shift
    resp_out="*$#"$'\r\n'
    local resp_arg
    for resp_arg in "$@"; do
        resp_out+="\$${#resp_arg}"$'\r\n'"$resp_arg"$'\r\n'
    done
}

# Shows bytes with escapes (\r, \n) so mismatches are readable.
show() {
    printf '%q' "$1"
}

resp PING_REQ PING
PONG=$'+PONG\r\n'

# open_conn: opens a connection on fd $conn, or returns 1.
open_conn() {
    # The group confines the stderr redirection: on `exec` itself it would be permanent.
    { exec {conn}<>"/dev/tcp/$host/$port"; } 2>/dev/null
}

close_conn() {
    exec {conn}>&-
}

# read_exact N: reads N bytes from $conn into $got (stops early on EOF or a 5 s timeout).
read_exact() {
    got=""
    IFS= read -r -d '' -N "$1" -t 5 -u "$conn" got
}

# exchange NAME REQUEST EXPECTED: sends REQUEST on a fresh connection and requires exactly
# EXPECTED back. A trailing PING must then be answered by exactly +PONG, which proves that no
# extra bytes followed the expected reply and that the connection is still usable.
exchange() {
    local name=$1 request=$2 expected=$3
    if ! open_conn; then
        fail "$name" "cannot connect to $host:$port"
        return
    fi
    printf '%s' "$request$PING_REQ" >&"$conn"
    read_exact $((${#expected} + ${#PONG}))
    close_conn
    if [[ $got == "$expected$PONG" ]]; then
        pass "$name"
    else
        fail "$name" "sent $(show "$request"): expected $(show "$expected"), got $(show "${got%"$PONG"}")"
    fi
}

# check NAME EXPECTED ARG...: exchange for the single command ARG...
check() {
    local name=$1 expected=$2 request
    shift 2
    resp request "$@"
    exchange "$name" "$request" "$expected"
}

pass() {
    passed=$((passed + 1))
    echo "PASS  $1"
}

fail() {
    failed=$((failed + 1))
    echo "FAIL  $1: $2"
}

# port_in_use PORT: true if something accepts connections on PORT.
port_in_use() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# ping_ok: true if the server answers PING with +PONG.
ping_ok() {
    open_conn || return 1
    printf '%s' "$PING_REQ" >&"$conn"
    read_exact ${#PONG}
    close_conn
    [[ $got == "$PONG" ]]
}

start_server() {
    local bin=${KEYVAL_BIN:-}
    if [[ -z $bin ]]; then
        # cargo decides whether the binary is up to date (a no-op when it is).
        cargo build --quiet --bin rust-keyval || { echo "cannot build rust-keyval"; exit 1; }
        bin=${CARGO_TARGET_DIR:-target}/debug/rust-keyval
    fi
    server_log=$(mktemp)
    # Its own working directory: the snapshot it saves on exit goes there, not here.
    server_dir=$(mktemp -d)
    host=127.0.0.1
    local attempt deadline
    for attempt in 1 2 3 4 5 6 7 8 9 10; do
        port=$((20000 + RANDOM % 30000))
        port_in_use "$port" && continue
        "$bin" --bind "$host:$port" --metrics-bind off --dir "$server_dir" >"$server_log" 2>&1 &
        server_pid=$!
        # Poll until the server answers, it dies (port taken meanwhile: try another), or 10 s.
        deadline=$((SECONDS + 10))
        while ((SECONDS < deadline)); do
            ping_ok && return 0
            kill -0 "$server_pid" 2>/dev/null || break
            sleep 0.05
        done
        kill "$server_pid" 2>/dev/null
        wait "$server_pid" 2>/dev/null
        server_pid=""
    done
    echo "could not start $bin; its output:"
    cat "$server_log"
    exit 1
}

if [[ -n ${HOST:-} ]]; then
    host=${HOST%:*}
    port=${HOST##*:}
    [[ $host == "$HOST" ]] && port=6374
    if ! ping_ok; then
        echo "no server answering PING at $host:$port"
        echo "0 passed, 1 failed"
        exit 1
    fi
    echo "testing the server at $host:$port"
else
    start_server
    echo "testing a fresh rust-keyval at $host:$port"
fi

# --- The README's commands, in its order -----------------------------------------------------

check "FLUSHALL (clean start)" $'+OK\r\n' FLUSHALL
check "PING" $'+PONG\r\n' PING
check "SET a 1" $'+OK\r\n' SET a 1
check "GET a" $'$1\r\n1\r\n' GET a
check "GET of a missing key is nil" $'$-1\r\n' GET missing
check "INCR ctr (new key)" $':1\r\n' INCR ctr
check "INCR ctr (again)" $':2\r\n' INCR ctr
check "EXISTS a" $':1\r\n' EXISTS a
check "DEL a" $':1\r\n' DEL a
check "EXISTS a after DEL" $':0\r\n' EXISTS a
check "DEL of a missing key" $':0\r\n' DEL a
check "SET t 123" $'+OK\r\n' SET t 123
check "EXPIRE t 1" $':1\r\n' EXPIRE t 1
check "EXPIRE of a missing key" $':0\r\n' EXPIRE missing 1

# GET t must turn nil once its second is up: poll (bounded) instead of sleeping a fixed time.
expired=""
deadline=$((SECONDS + 5))
while ((SECONDS < deadline)); do
    if open_conn; then
        resp request GET t
        printf '%s' "$request" >&"$conn"
        read_exact 5
        close_conn
        [[ $got == $'$-1\r\n' ]] && expired=yes && break
    fi
    sleep 0.05
done
if [[ -n $expired ]]; then
    pass "GET t is nil after its TTL"
else
    fail "GET t is nil after its TTL" "still $(show "$got") 5 s after EXPIRE t 1"
fi

check "FLUSHALL" $'+OK\r\n' FLUSHALL
check "SET a 1 (for KEYS)" $'+OK\r\n' SET a 1
check "SET b 2 (for KEYS)" $'+OK\r\n' SET b 2
# KEYS has no defined order: accept either.
keys_ab=$'*2\r\n$1\r\na\r\n$1\r\nb\r\n'
keys_ba=$'*2\r\n$1\r\nb\r\n$1\r\na\r\n'
if open_conn; then
    resp request KEYS '*'
    printf '%s' "$request" >&"$conn"
    read_exact ${#keys_ab}
    close_conn
    if [[ $got == "$keys_ab" || $got == "$keys_ba" ]]; then
        pass "KEYS * lists a and b"
    else
        fail "KEYS * lists a and b" "expected $(show "$keys_ab") in any order, got $(show "$got")"
    fi
else
    fail "KEYS * lists a and b" "cannot connect to $host:$port"
fi
check "FLUSHALL empties the keyspace" $'+OK\r\n' FLUSHALL
check "KEYS * after FLUSHALL" $'*0\r\n' KEYS '*'

# --- Protocol mechanics ------------------------------------------------------------------------

resp set_p SET p v
resp get_p GET p
resp incr_pc INCR pc
exchange "pipelined commands in one write" "$set_p$get_p$incr_pc$incr_pc" \
    $'+OK\r\n$1\r\nv\r\n:1\r\n:2\r\n'

exchange "inline command" $'PING\r\n' $'+PONG\r\n'

check "unknown command" \
    $'-ERR unknown command \'FOO\', with args beginning with: \'a\' \r\n' FOO a

check "wrong number of arguments" \
    $'-ERR wrong number of arguments for \'get\' command\r\n' GET

# One command in three writes, split inside the header and inside the value.
name="command fragmented over three writes"
if open_conn; then
    resp request SET frag value
    resp get_frag GET frag
    printf '%s' "${request:0:5}" >&"$conn"
    sleep 0.05
    printf '%s' "${request:5:20}" >&"$conn"
    sleep 0.05
    printf '%s' "${request:25}$get_frag" >&"$conn"
    expected=$'+OK\r\n$5\r\nvalue\r\n'
    read_exact ${#expected}
    close_conn
    if [[ $got == "$expected" ]]; then
        pass "$name"
    else
        fail "$name" "expected $(show "$expected"), got $(show "$got")"
    fi
else
    fail "$name" "cannot connect to $host:$port"
fi

# A protocol error is answered, then the server closes the connection.
name="protocol error, then the connection is closed"
if open_conn; then
    printf '%s' $'*1\r\n$abc\r\n' >&"$conn"
    expected=$'-ERR Protocol error: invalid bulk length\r\n'
    read_exact ${#expected}
    reply=$got
    # After the reply: read returns 1 with nothing on EOF, >128 on timeout.
    IFS= read -r -d '' -N 1 -t 5 -u "$conn" got
    status=$?
    close_conn
    if [[ $reply != "$expected" ]]; then
        fail "$name" "expected $(show "$expected"), got $(show "$reply")"
    elif ((status > 128)); then
        fail "$name" "connection still open 5 s after the protocol error"
    elif [[ -n $got ]]; then
        fail "$name" "extra bytes after the error: $(show "$got")"
    else
        pass "$name"
    fi
else
    fail "$name" "cannot connect to $host:$port"
fi

check "server still answers after a protocol error" $'+PONG\r\n' PING

echo "$passed passed, $failed failed"
((failed == 0))
