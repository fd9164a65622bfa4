#!/usr/bin/env bash
# wss:// from ws_echo --tls-cert/--tls-key against python3-websockets (tests/tls/wss_check.py).
#   tests/tls/wss.sh path/to/ws_echo
set -euo pipefail
bin=$1
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
server_pid=
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
bash "$here/make_certs.sh" "$work/c"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$bin" --port "$port" --tls-cert "$work/c/localhost.pem" --tls-key "$work/c/localhost.key" \
  >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 100); do grep -q listening "$work/server.log" 2>/dev/null && break; sleep 0.1; done
grep -q "wss://" "$work/server.log" || { echo "FAIL: ws_echo did not start with TLS: $(cat "$work/server.log")"; exit 1; }
/usr/bin/python3 "$here/wss_check.py" "$port" "$work/c/ca.pem"
kill -0 "$server_pid" || { echo "FAIL: ws_echo died"; exit 1; }
echo "tls/wss.sh: all passed"
