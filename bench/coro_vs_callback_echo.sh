#!/bin/sh
# Throughput of the coroutine echo server against the callback one, measured in the
# same run with the same client, alternating servers over several rounds.
#   bench/coro_vs_callback_echo.sh [connections=50] [messages=20000] [size=64] [rounds=3]
set -eu
cd "$(dirname "$0")/.."
C=${1:-50}; M=${2:-20000}; S=${3:-64}; R=${4:-3}
OUT=${BENCH_DIR:-/tmp/sluice-coro-bench}
mkdir -p "$OUT"
CXX=${CXX:-g++}
for p in echo_server echo_server_coro echo_client; do
    $CXX -std=c++20 -O2 -DNDEBUG -pthread -Iinclude "examples/$p.cpp" -o "$OUT/$p"
done
run() { # server port -> msg/s
    "$OUT/$1" --port "$2" >/dev/null & pid=$!
    sleep 0.3
    "$OUT/echo_client" --port "$2" --connections "$C" --messages "$M" --size "$S" |
        grep -Eo '[0-9.]+ msg/s' | grep -Eo '^[0-9.]+'
    kill -INT $pid; wait $pid 2>/dev/null || true
}
cb=0; co=0; port=17300
for i in $(seq 1 "$R"); do
    a=$(run echo_server $port); port=$((port + 1))
    b=$(run echo_server_coro $port); port=$((port + 1))
    echo "round $i: callback $a msg/s, coroutine $b msg/s"
    cb=$(echo "$cb + $a" | bc -l); co=$(echo "$co + $b" | bc -l)
done
echo "mean: callback $(echo "$cb / $R" | bc) msg/s, coroutine $(echo "$co / $R" | bc) msg/s," \
     "coroutine/callback = $(echo "scale=3; $co / $cb" | bc)"
