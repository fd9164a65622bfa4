#!/usr/bin/env bash
# Rooms (topics) and the send limit of the chat example against real clients: flood.py
# (python3-websockets) and flood.js (node ws), each against a fresh chat server so that
# each measures its own memory growth. See flood.py for what is checked.
#   bash tests/ws_rooms/run.sh CHAT_BINARY [MEGABYTES]
# Only the servers it started are stopped. Set WS_CLIENTS_NO_INSTALL=1 to skip installing
# the clients (tests/ws_clients/install.sh).
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
chat=$1
megabytes=${2:-200}
[ -x "$chat" ] || { echo "run.sh: $chat is missing" >&2; exit 2; }
if [ "${WS_CLIENTS_NO_INSTALL:-0}" != 1 ]; then
    bash "$here/../ws_clients/install.sh" || { echo "run.sh: install failed" >&2; exit 1; }
fi
export NODE_PATH="$here/../ws_clients/node_modules"

server_pid=
stop_server() {
    [ -n "$server_pid" ] || return 0
    kill -TERM "$server_pid" 2>/dev/null
    for _ in $(seq 1 20); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$server_pid" 2>/dev/null
    wait "$server_pid" 2>/dev/null
    server_pid=
}
trap stop_server EXIT

start_server() { # sets port and server_pid
    port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    "$chat" --port "$port" >"$log" 2>&1 &
    server_pid=$!
    for _ in $(seq 1 100); do
        (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
        kill -0 "$server_pid" 2>/dev/null || break
        sleep 0.05
    done
    echo "run.sh: chat did not start listening:"; cat "$log"; return 1
}

log=$(mktemp "${TMPDIR:-/tmp}/sluice-ws-rooms.XXXXXX")
failed=0
for client in "/usr/bin/python3 $here/flood.py" "node $here/flood.js"; do
    echo "== $client"
    start_server || { failed=1; continue; }
    # shellcheck disable=SC2086 # $client is a command and its script
    timeout 300 $client "$port" "$server_pid" "$megabytes" || failed=1
    kill -0 "$server_pid" 2>/dev/null || { echo "FAIL chat died:"; cat "$log"; failed=1; }
    stop_server
done
rm -f "$log"
exit $failed
