#!/usr/bin/env bash
# Builds the examples and runs the demo: echo_server and echo_client talking to each
# other on loopback (64-byte ping-pong, then 16 KiB messages over 100 connections).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install-deps.sh
cmake -S . -B build/demo -G Ninja -DCMAKE_BUILD_TYPE=Release -DSLUICE_BUILD_TESTS=OFF >/dev/null
cmake --build build/demo --target echo_server echo_client
port=${PORT:-7000}
build/demo/examples/echo_server --port "$port" &
server=$!
trap 'kill "$server" 2>/dev/null || true' EXIT
sleep 0.3
build/demo/examples/echo_client --port "$port" --connections 1 --messages 20000 --size 64
build/demo/examples/echo_client --port "$port" --connections 100 --messages 200 --size 16384
kill -INT "$server"
wait "$server"
trap - EXIT
