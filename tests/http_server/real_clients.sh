#!/usr/bin/env bash
# Real clients against http_hello: curl (status, headers, body, keep-alive reuse)
# and wrk (plain and pipelined, depth 16). Builds nothing.
#   tests/http_server/real_clients.sh path/to/http_hello
# Exits 1 on any non-2xx, socket error, wrong body or missing header.
set -u
bin=${1:?usage: real_clients.sh path/to/http_hello}
here=$(cd "$(dirname "$0")" && pwd)
for tool in curl wrk; do
    command -v "$tool" >/dev/null || { echo "real_clients: $tool not installed (apt-get install -y curl wrk)"; exit 1; }
done
work=$(mktemp -d)
pid=
cleanup() {
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null
    fi
    rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "real_clients: FAIL: $*"; exit 1; }

# A free loopback port: try a few random ones until the server starts on one.
for _ in $(seq 20); do
    port=$((20000 + RANDOM % 40000))
    "$bin" --port "$port" >"$work/server.log" 2>&1 &
    pid=$!
    for _ in $(seq 50); do
        grep -q listening "$work/server.log" 2>/dev/null && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    kill -0 "$pid" 2>/dev/null && grep -q listening "$work/server.log" && break
    wait "$pid" 2>/dev/null
    pid=
done
[ -n "$pid" ] || fail "could not start $bin on a free port"
url=http://127.0.0.1:$port
echo "real_clients: $bin on port $port (pid $pid)"

# ---- curl: status, headers, body ----
code=$(curl -s -o "$work/body" -D "$work/headers" -w '%{http_code}' "$url/plaintext") || fail "curl error"
[ "$code" = 200 ] || fail "GET /plaintext: status $code"
[ "$(cat "$work/body")" = "Hello, World!" ] || fail "GET /plaintext: body '$(cat "$work/body")'"
grep -qi '^Content-Type: text/plain' "$work/headers" || fail "no Content-Type: text/plain"
grep -qi '^Server: ' "$work/headers" || fail "no Server header"
grep -qiE '^Date: [A-Z][a-z]{2}, [0-9]{2} [A-Z][a-z]{2} [0-9]{4} [0-9:]{8} GMT' "$work/headers" || fail "no valid Date header"
grep -qi '^Content-Length: 13' "$work/headers" || fail "no Content-Length: 13"
echo "curl: GET /plaintext 200, headers and body ok"

code=$(curl -s -o /dev/null -w '%{http_code}' "$url/nothing-here") || fail "curl error"
[ "$code" = 404 ] || fail "GET /nothing-here: status $code, want 404"
code=$(curl -s -I -o "$work/head" -w '%{http_code}' "$url/plaintext") || fail "curl error"
[ "$code" = 200 ] || fail "HEAD /plaintext: status $code"
echo "curl: 404 elsewhere, HEAD ok"

# keep-alive: two URLs in one invocation must share one connection
curl -sv --http1.1 "$url/plaintext" "$url/plaintext" -o "$work/ka1" -o "$work/ka2" 2>"$work/ka.log" || fail "curl keep-alive error"
grep -q 'Re-using existing connection' "$work/ka.log" || fail "curl did not reuse the connection"
[ "$(cat "$work/ka1")" = "Hello, World!" ] && [ "$(cat "$work/ka2")" = "Hello, World!" ] || fail "keep-alive bodies"
echo "curl: --http1.1 keep-alive reuse of 2 URLs ok"

# ---- wrk: plain and pipelined; the script checks every status and body ----
run_wrk() { # name depth
    wrk -t1 -c16 -d2s -s "$here/pipeline.lua" "$url/plaintext" -- "$2" >"$work/wrk.out" 2>&1 || fail "wrk $1 failed: $(cat "$work/wrk.out")"
    local rps reqs
    rps=$(awk '/Requests\/sec/ {print $2}' "$work/wrk.out")
    reqs=$(awk '/requests in/ {print $1}' "$work/wrk.out")
    grep -q 'Socket errors' "$work/wrk.out" && fail "wrk $1: $(grep 'Socket errors' "$work/wrk.out")"
    grep -q 'Non-2xx' "$work/wrk.out" && fail "wrk $1: $(grep 'Non-2xx' "$work/wrk.out")"
    grep -q 'wrong responses: 0' "$work/wrk.out" || fail "wrk $1: $(grep 'wrong responses' "$work/wrk.out")"
    [ -n "$reqs" ] && [ "$reqs" -gt 0 ] || fail "wrk $1: no requests completed"
    echo "wrk $1: $reqs requests, $rps req/s, 0 errors, 0 wrong responses"
}
run_wrk plain 1
run_wrk "pipelined (depth 16)" 16

kill -0 "$pid" 2>/dev/null || fail "server died"
kill -TERM "$pid"
for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$pid" 2>/dev/null && fail "server did not stop on SIGTERM"
wait "$pid"; rc=$?
pid=
[ "$rc" = 0 ] || fail "server exit status $rc"
echo "real_clients: PASS"
