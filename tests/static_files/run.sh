#!/usr/bin/env bash
# Real clients (curl and python3 http.client / raw sockets) against examples/static_server
# on loopback, on a directory this script makes: a 1.5 MiB random file, a name with a
# space and UTF-8, a subdirectory with index.html, a symbolic link leading out of the
# root and one staying inside. Checks bytes (sha256), types, 304s, ranges, 416, HEAD,
# every traversal refused, keep-alive reuse, and a prefix mount. check.py does the
# python half. Exits non-zero on the first failure.
#
# Usage: run.sh path/to/static_server
set -euo pipefail
server=${1:?usage: run.sh path/to/static_server}
here=$(cd "$(dirname "$0")" && pwd)
command -v curl >/dev/null || { echo "static_files test: FAIL: curl is missing (tools/install-deps.sh)"; exit 1; }

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "static_files test: FAIL: $*"; exit 1; }

root=$work/root
mkdir -p "$root/sub" "$root/inner" "$work/outside"
head -c $((1536 * 1024 + 7)) /dev/urandom > "$root/big.bin"
printf 'hello, static\n' > "$root/hello.txt"
printf 'spaces and utf-8\n' > "$root/with space café.txt"
printf '<h1>sub index</h1>\n' > "$root/sub/index.html"
printf 'body{}\n' > "$root/inner/style.css"
printf '{"a":1}\n' > "$root/inner/data.json"
printf 'SECRET outside the root\n' > "$work/outside/secret.txt"
: > "$root/empty.txt"
ln -s "$work/outside/secret.txt" "$root/escape.txt" # leads out: refused
ln -s "$work/outside" "$root/escape_dir"            # a directory out: refused
ln -s inner/style.css "$root/link.css"               # stays inside: served

start() { # start PREFIX -> sets port
  local log=$work/server$1.log
  "$server" --port 0 --root "$root" ${2:+--prefix "$2"} > "$log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 100); do
    grep -q 'listening on port' "$log" 2>/dev/null && break
    sleep 0.05
  done
  port=$(sed -n 's/.*listening on port \([0-9]*\).*/\1/p' "$log")
  [ -n "$port" ] || fail "static_server did not start: $(cat "$log")"
}

start 1
base=http://127.0.0.1:$port
sha() { sha256sum | cut -d' ' -f1; }

# Bytes and types with curl.
[ "$(curl -sf "$base/big.bin" | sha)" = "$(sha < "$root/big.bin")" ] || fail "curl: big.bin bytes differ"
[ "$(curl -sf "$base/with%20space%20caf%C3%A9.txt")" = "spaces and utf-8" ] || fail "curl: UTF-8 name"
[ "$(curl -sf "$base/sub/")" = "<h1>sub index</h1>" ] || fail "curl: sub/ index.html"
[ "$(curl -sf "$base/link.css")" = "body{}" ] || fail "curl: the inside symlink is served"
ctype() { curl -sf -o /dev/null -w '%{content_type}' "$base/$1"; }
[ "$(ctype big.bin)" = "application/octet-stream" ] || fail "curl: type of .bin"
[ "$(ctype inner/style.css)" = "text/css; charset=utf-8" ] || fail "curl: type of .css"
[ "$(ctype inner/data.json)" = "application/json" ] || fail "curl: type of .json"
[ "$(ctype hello.txt)" = "text/plain; charset=utf-8" ] || fail "curl: type of .txt"
# Ranges with curl: -r a-b, a-, -n.
[ "$(curl -sf -r 1000-1999 "$base/big.bin" | sha)" = "$(tail -c +1001 "$root/big.bin" | head -c 1000 | sha)" ] || fail "curl: range a-b"
[ "$(curl -sf -r 1500000- "$base/big.bin" | sha)" = "$(tail -c +1500001 "$root/big.bin" | sha)" ] || fail "curl: range a-"
[ "$(curl -sf -r -4096 "$base/big.bin" | sha)" = "$(tail -c 4096 "$root/big.bin" | sha)" ] || fail "curl: range -n"
code=$(curl -s -o /dev/null -w '%{http_code}' -r 0-9 "$base/big.bin"); [ "$code" = 206 ] || fail "curl: range status $code"
code=$(curl -s -o /dev/null -w '%{http_code}' -r 99999999- "$base/big.bin"); [ "$code" = 416 ] || fail "curl: 416 status $code"
# Conditionals with curl: its own ETag and date sent back.
etag=$(curl -sfI "$base/hello.txt" | tr -d '\r' | sed -n 's/^ETag: //Ip')
[ -n "$etag" ] || fail "curl: no ETag"
code=$(curl -s -o /dev/null -w '%{http_code}' -H "If-None-Match: $etag" "$base/hello.txt"); [ "$code" = 304 ] || fail "curl: If-None-Match gave $code"
lm=$(curl -sfI "$base/hello.txt" | tr -d '\r' | sed -n 's/^Last-Modified: //Ip')
code=$(curl -s -o /dev/null -w '%{http_code}' -H "If-Modified-Since: $lm" "$base/hello.txt"); [ "$code" = 304 ] || fail "curl: If-Modified-Since gave $code"
# HEAD: headers, no body.
[ "$(curl -sI "$base/big.bin" | tr -d '\r' | sed -n 's/^Content-Length: //Ip')" = "$((1536 * 1024 + 7))" ] || fail "curl: HEAD Content-Length"
[ "$(curl -s -X HEAD --max-time 5 "$base/big.bin" | wc -c)" = 0 ] || fail "curl: HEAD sent a body"
# Keep-alive: curl with several URLs on one connection.
n=$(curl -sv "$base/hello.txt" "$base/hello.txt" "$base/big.bin" -o /dev/null -o /dev/null -o /dev/null 2>&1 | grep -c 'Re-using existing connection' || true)
[ "$n" -ge 2 ] || fail "curl: the connection was not reused ($n)"
echo "static_files test: curl checks passed"

python3 "$here/check.py" "$port" "$root"

# Mounted under a prefix: the same files under /assets, nothing outside it.
start 2 /assets
base=http://127.0.0.1:$port
[ "$(curl -sf "$base/assets/big.bin" | sha)" = "$(sha < "$root/big.bin")" ] || fail "prefix: big.bin bytes"
[ "$(curl -sf "$base/assets/sub/")" = "<h1>sub index</h1>" ] || fail "prefix: sub/ index.html"
code=$(curl -s -o /dev/null -w '%{http_code}' "$base/big.bin"); [ "$code" = 404 ] || fail "prefix: /big.bin outside the prefix gave $code"
python3 "$here/check.py" "$port" "$root" --prefix /assets --only-traversal
echo "static_files test: all passed"
