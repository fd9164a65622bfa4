#!/usr/bin/env bash
# Real-client conformance tests of sluice's WebSocket server.
#
#   bash tests/ws_clients/run.sh BUILD_DIR [--wss]
#
# Starts BUILD_DIR/examples/ws_echo and BUILD_DIR/examples/chat on free
# loopback ports, runs python_client.py and node_client.js against ws_echo and
# chromium_chat.js against chat; then the deflate pass against a second ws_echo
# started with --deflate on: deflate_bomb.py (against a third, fresh ws_echo
# with a 4 MiB limit, whose peak RSS it measures), the same python and node checks with
# permessage-deflate negotiated (node three ways: context takeover,
# server_no_context_takeover, client_no_context_takeover) and
# chromium_deflate.js. The plain runs check that nothing was negotiated, the
# deflate runs that permessage-deflate was. Prints one summary line per client and a
# closing "ws_clients: N passed, N failed" line (counting the clients' checks),
# and exits non-zero if any client failed or a server died. Only the servers it
# started are stopped. Set WS_CLIENTS_NO_INSTALL=1 to skip install.sh.
#
# --wss (a build with SLUICE_WITH_OPENSSL, as CMake passes it): the wss pass too, with the
# test CA and certificates of tests/tls/make_certs.sh: node_client.js against
# ws_echo --tls-cert/--tls-key trusting that CA, and chromium_chat.js against
# chat --tls-cert/--tls-key (the page over https, the rooms over wss) trusting that
# certificate's key.
set -uo pipefail

wss=0
if [ $# -eq 2 ] && [ "$2" = --wss ]; then
    wss=1
elif [ $# -ne 1 ]; then
    echo "usage: run.sh BUILD_DIR [--wss]" >&2
    exit 2
fi
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
build="$(cd "$1" 2>/dev/null && pwd)" || { echo "run.sh: no build directory $1" >&2; exit 2; }
ws_echo="$build/examples/ws_echo"
chat="$build/examples/chat"
for bin in "$ws_echo" "$chat"; do
    [ -x "$bin" ] || { echo "run.sh: $bin is missing (build the examples first)" >&2; exit 2; }
done

if [ "${WS_CLIENTS_NO_INSTALL:-0}" != 1 ]; then
    bash "$here/install.sh" || { echo "run.sh: install.sh failed" >&2; exit 1; }
fi

logs="$(mktemp -d "${TMPDIR:-/tmp}/sluice-ws-clients.XXXXXX")"
pids=()

stop_servers() {
    local pid
    for pid in "${pids[@]}"; do
        kill -TERM "$pid" 2>/dev/null || continue
    done
    for pid in "${pids[@]}"; do
        for _ in $(seq 1 20); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            echo "run.sh: note: server pid $pid did not exit 2 s after SIGTERM; sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null
        fi
        wait "$pid" 2>/dev/null
    done
    pids=()
}
trap 'stop_servers' EXIT
trap 'stop_servers; exit 130' INT
trap 'stop_servers; exit 143' TERM

# Two distinct free loopback ports: bound together, then released *before* they are
# printed (read returns as soon as the line arrives; a server started then must not find
# them still held by this probe).
read -r echo_port chat_port deflate_port bomb_port wss_echo_port wss_chat_port < <(/usr/bin/python3 -c '
import socket
socks = [socket.socket() for _ in range(6)]
for s in socks: s.bind(("127.0.0.1", 0))
ports = [s.getsockname()[1] for s in socks]
for s in socks: s.close()
print(*ports, flush=True)')
[ -n "${wss_chat_port:-}" ] || { echo "run.sh: could not find free ports" >&2; exit 1; }

start_server() { # NAME BIN PORT [ARGS...] -> sets server_pid
    local name=$1 bin=$2 port=$3
    shift 3
    "$bin" --port "$port" "$@" >"$logs/$name.log" 2>&1 &
    server_pid=$!
    pids+=("$server_pid")
}

server_log() { # NAME
    echo "---- $1 output (last 40 lines of $logs/$1.log) ----"
    tail -n 40 "$logs/$1.log"
    echo "---- end of $1 output ----"
}

wait_listening() { # NAME PID PORT
    local name=$1 pid=$2 port=$3
    for _ in $(seq 1 100); do
        if ! kill -0 "$pid" 2>/dev/null; then
            wait "$pid"; local rc=$?
            echo "run.sh: $name exited (status $rc) before accepting connections on port $port"
            server_log "$name"
            return 1
        fi
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    echo "run.sh: $name is not accepting connections on 127.0.0.1:$port after 10 s"
    server_log "$name"
    return 1
}

start_server ws_echo "$ws_echo" "$echo_port"; echo_pid=$server_pid
start_server chat "$chat" "$chat_port"; chat_pid=$server_pid
start_server ws_echo_deflate "$ws_echo" "$deflate_port" --deflate on; deflate_pid=$server_pid
# The zip bomb's own server: fresh (its peak RSS is measured) and with a 4 MiB limit.
bomb_limit=4194304
start_server ws_echo_bomb "$ws_echo" "$bomb_port" --deflate on --max-message "$bomb_limit"; bomb_pid=$server_pid
echo "run.sh: ws_echo pid $echo_pid on port $echo_port, chat pid $chat_pid on port $chat_port," \
     "ws_echo --deflate on pid $deflate_pid on port $deflate_port (and pid $bomb_pid on $bomb_port" \
     "for the zip bomb), logs in $logs"
wait_listening ws_echo "$echo_pid" "$echo_port" || exit 1
wait_listening chat "$chat_pid" "$chat_port" || exit 1
wait_listening ws_echo_deflate "$deflate_pid" "$deflate_port" || exit 1
wait_listening ws_echo_bomb "$bomb_pid" "$bomb_port" || exit 1
if [ "$wss" = 1 ]; then
    certs="$logs/certs"
    bash "$here/../tls/make_certs.sh" "$certs" || { echo "run.sh: make_certs.sh failed" >&2; exit 1; }
    tls_args=(--tls-cert "$certs/localhost.pem" --tls-key "$certs/localhost.key")
    start_server ws_echo_wss "$ws_echo" "$wss_echo_port" "${tls_args[@]}"; wss_echo_pid=$server_pid
    start_server chat_wss "$chat" "$wss_chat_port" "${tls_args[@]}"; wss_chat_pid=$server_pid
    echo "run.sh: ws_echo --tls-cert pid $wss_echo_pid on port $wss_echo_port," \
         "chat --tls-cert pid $wss_chat_pid on port $wss_chat_port"
    wait_listening ws_echo_wss "$wss_echo_pid" "$wss_echo_port" || exit 1
    wait_listening chat_wss "$wss_chat_pid" "$wss_chat_port" || exit 1
fi

summary=()
total_passed=0
total_failed=0
any_failed=0

run_client() { # NAME SERVER SERVER_PID TIMEOUT COMMAND...
    local name=$1 server=$2 server_pid=$3 limit=$4
    shift 4
    echo
    echo "==== $name ===="
    local start=$SECONDS rc
    timeout --kill-after=10 "$limit" "$@" 2>&1 | tee "$logs/$name.out"
    rc=${PIPESTATUS[0]}
    local secs=$((SECONDS - start))
    # The client's own closing line: "NAME: N passed, N failed".
    local counts p=0 f=0
    counts="$(grep -E '^[a-z]+: [0-9]+ passed, [0-9]+ failed$' "$logs/$name.out" | tail -n 1)"
    if [[ $counts =~ ([0-9]+)\ passed,\ ([0-9]+)\ failed ]]; then
        p=${BASH_REMATCH[1]}; f=${BASH_REMATCH[2]}
    fi
    local status=PASS note=""
    if [ "$rc" -ne 0 ]; then
        status=FAIL
        [ "$rc" -eq 124 ] && note=" (timed out after ${limit} s)"
        [ -z "$counts" ] && note="$note (exit status $rc, no result line)"
        [ "$f" -eq 0 ] && f=1
    fi
    if ! kill -0 "$server_pid" 2>/dev/null; then
        local src
        wait "$server_pid"; src=$?
        status=FAIL
        if [ "$src" -gt 128 ]; then
            note="$note ($server died: signal $((src - 128)) $(kill -l $((src - 128)) 2>/dev/null))"
        else
            note="$note ($server exited with status $src)"
        fi
        [ "$f" -eq 0 ] && f=1
    fi
    total_passed=$((total_passed + p))
    total_failed=$((total_failed + f))
    if [ "$status" = FAIL ]; then
        any_failed=1
        server_log "$server"
    fi
    summary+=("$(printf '%-16s %s  %3d passed, %d failed  against %-15s %4d s%s' "$name" "$status" "$p" "$f" "$server" "$secs" "$note")")
}

run_client python ws_echo "$echo_pid" 900 /usr/bin/python3 "$here/python_client.py" "$echo_port"
run_client node ws_echo "$echo_pid" 900 node "$here/node_client.js" "$echo_port"
run_client chromium chat "$chat_pid" 240 node "$here/chromium_chat.js" "$chat_port"
# The deflate pass.
run_client bomb ws_echo_bomb "$bomb_pid" 300 /usr/bin/python3 "$here/deflate_bomb.py" "$bomb_port" "$bomb_pid" "$bomb_limit"
run_client python-deflate ws_echo_deflate "$deflate_pid" 900 /usr/bin/python3 "$here/python_client.py" "$deflate_port" --deflate on
for mode in takeover server-nct client-nct; do
    run_client "node-$mode" ws_echo_deflate "$deflate_pid" 900 node "$here/node_client.js" "$deflate_port" --deflate "$mode"
done
run_client chromium-deflate ws_echo_deflate "$deflate_pid" 300 node "$here/chromium_deflate.js" "$deflate_port"
# The wss pass.
if [ "$wss" = 1 ]; then
    run_client node-wss ws_echo_wss "$wss_echo_pid" 900 node "$here/node_client.js" "$wss_echo_port" --tls-ca "$certs/ca.pem"
    run_client chromium-wss chat_wss "$wss_chat_pid" 240 node "$here/chromium_chat.js" "$wss_chat_port" --tls-cert "$certs/localhost.pem"
else
    echo
    echo "run.sh: no wss pass (no --wss: the build has no TLS)"
fi

stop_servers
echo
for line in "${summary[@]}"; do echo "$line"; done
echo "ws_clients: $total_passed passed, $total_failed failed"
[ "$any_failed" -eq 0 ] && rm -rf "$logs"
exit "$any_failed"
