#!/usr/bin/env bash
# Builds the examples and runs the main demo, the chat room: open the printed URL in two
# browser tabs and talk. Ctrl-C stops it.
#
#   bash tools/demo.sh          chat on http://127.0.0.1:8080/ (PORT=... to change)
#   bash tools/demo.sh echo     echo_server and echo_client against each other, then exit
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install-deps.sh >/dev/null
cmake -S . -B build/demo -G Ninja -DCMAKE_BUILD_TYPE=Release -DSLUICE_BUILD_TESTS=OFF >/dev/null
if [ "${1:-chat}" = echo ]; then
  cmake --build build/demo --target echo_server echo_client >/dev/null
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
  exit 0
fi
cmake --build build/demo --target chat >/dev/null
exec build/demo/examples/chat --port "${PORT:-8080}"
