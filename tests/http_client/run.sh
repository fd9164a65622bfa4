#!/usr/bin/env bash
# The pooled client (http::client, through tests/http_client/pool_client) against real peers
# on loopback: python3's http.server counts the connections it accepts (sequential and
# concurrent requests must reuse them), then 1 GiB each way against examples/rest_api with
# the client's resident size growing by less than 16 MiB. With --tls (the client was built
# with OpenSSL), the same python server wrapped in python's ssl, with tests/tls's test CA:
# https:// requests reuse one TLS connection, a second client sharing the context resumes.
#
#   run.sh POOL_CLIENT REST_API [--tls]
set -euo pipefail
client=$1
rest_api=$2
with_tls=${3:-}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

wait_for_file() {
    for _ in $(seq 100); do [ -s "$1" ] && return 0; sleep 0.1; done
    fail "$1 never appeared"
}

python3 "$here/counting_server.py" "$work/port" "$work/conns" &
pids+=($!)
wait_for_file "$work/port"
url="http://127.0.0.1:$(cat "$work/port")/x"

# 50 sequential requests: one connection.
: > "$work/conns"
out=$("$client" get "$url" 50 1 4)
echo "sequential: $out"
n=$(wc -l < "$work/conns")
[ "$n" -eq 1 ] || fail "50 sequential requests used $n connections (python side), want 1"

# 200 requests, 16 at a time, at most 4 connections: the python side sees at most 4.
: > "$work/conns"
out=$("$client" get "$url" 200 16 4)
echo "concurrent: $out"
n=$(wc -l < "$work/conns")
[ "$n" -ge 1 ] && [ "$n" -le 4 ] || fail "200 requests with a limit of 4 used $n connections"

if [ "$with_tls" = "--tls" ]; then
    bash "$here/../tls/make_certs.sh" "$work/certs"
    python3 "$here/counting_server.py" "$work/tls_port" "$work/tls_conns" \
        "$work/certs/localhost.pem" "$work/certs/localhost.key" &
    pids+=($!)
    wait_for_file "$work/tls_port"
    tls_url="https://localhost:$(cat "$work/tls_port")/x"

    # 30 sequential https:// requests: one TLS connection.
    : > "$work/tls_conns"
    out=$("$client" get "$tls_url" 30 1 4 "$work/certs/ca.pem")
    echo "https sequential: $out"
    n=$(wc -l < "$work/tls_conns")
    [ "$n" -eq 1 ] || fail "30 sequential https requests used $n connections, want 1"

    # A second client sharing the TLS context: its connection resumes the session.
    : > "$work/tls_conns"
    out=$("$client" resume "$tls_url" "$work/certs/ca.pem")
    echo "https resume: $out $(tr '\n' ' ' < "$work/tls_conns")"
    [ "$(wc -l < "$work/tls_conns")" -eq 2 ] || fail "resume: want 2 connections"
    sed -n 2p "$work/tls_conns" | grep -q "reused=True" || fail "the second connection did not resume"

    # A CA that did not sign the server's certificate: refused.
    if "$client" get "$tls_url" 1 1 1 "$work/certs/self.pem" 2> "$work/refused"; then
        fail "a server the CA did not sign was accepted"
    fi
    grep -q "verification failed" "$work/refused" || fail "refused, but not for the certificate: $(cat "$work/refused")"
else
    echo "https:// part not run: the client was built without OpenSSL (SLUICE_WITH_OPENSSL=OFF)"
fi

# 1 GiB down and up through rest_api, memory bounded.
"$rest_api" --port 0 > "$work/rest.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
    port=$(grep -oE 'port [0-9]+|:[0-9]+' "$work/rest.log" | grep -oE '[0-9]+' | head -1 || true)
    [ -n "$port" ] && break
    sleep 0.1
done
[ -n "$port" ] || fail "rest_api did not print its port: $(cat "$work/rest.log")"
limit_kib=$((16 * 1024))
size=1073741824

out=$("$client" download "http://127.0.0.1:$port/blobs/$size" $size)
echo "download: $out"
echo "$out" | grep -q "downloaded=$size bad=0" || fail "download: $out"
growth=$(echo "$out" | sed -n 's/^rss_growth_kib=//p')
[ "$growth" -lt "$limit_kib" ] || fail "download grew RSS by $growth KiB"

out=$("$client" upload "http://127.0.0.1:$port/blobs" $size)
echo "upload: $out"
echo "$out" | grep -q "\"bytes\":$size" || fail "upload: $out"
growth=$(echo "$out" | sed -n 's/^rss_growth_kib=//p')
[ "$growth" -lt "$limit_kib" ] || fail "upload grew RSS by $growth KiB"
echo "PASS"
